//! The tables written and read back, one module per table or concern, in one
//! test binary. Run one module with its path as the filter, e.g.
//! `cargo test -p doorstep-analytics --test suite store::`.

mod common;

mod device_day;
mod flags;
mod idle_slots;
mod maintain;
mod raw_read;
mod room_days;
mod site_days;
mod store;
