//! The stream's dataflow end to end, one module per concern, in one test
//! binary. Run one module with its path as the filter, e.g.
//! `cargo test -p doorstep-stream --test suite late::`.

mod common;

mod days;
mod flags;
mod hours;
mod late;
mod live;
mod lookback;
mod moves;
mod slots;
