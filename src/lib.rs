//! The parts of the `doorstep` CLI: the command line, the commands, and the
//! pipeline they start (ingest, stream, sinks, web). `src/main.rs` is the
//! binary; `doorstep-bench` drives the same pipeline to measure it.

pub mod alerts;
pub mod checkpoint;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod config;
mod demo_history;
mod import;
pub mod in_place;
pub mod intake;
pub mod pipeline;
pub mod registry_apply;
pub mod registry_history;
pub mod reload;
mod report;
pub mod restart;
mod sim;
pub mod sinks;
pub mod status;
pub mod upkeep;
