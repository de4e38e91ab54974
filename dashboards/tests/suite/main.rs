//! The web app over real HTTP, in one test binary: the live board
//! (`live`) and its hardening (`hardening`). Run one module with its path as
//! the filter, e.g. `cargo test -p doorstep-dashboards --test suite hardening::`.

mod support;

mod hardening;
mod live;
