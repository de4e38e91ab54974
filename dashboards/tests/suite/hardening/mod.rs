//! The web app against the findings of a security review, over real HTTP:
//! where the login form may redirect, which state changes need an Origin or
//! Referer of the app's host, which Host names an open app answers, the
//! security headers on every answer, and CSV cells a spreadsheet would run.

mod app;
mod csv_cells;
mod headers;
mod host;
mod login_next;
mod origin;
