//! End-to-end tests of the `doorstep` binary, one module per concern, in one
//! test binary (one link of the dependency tree instead of one per file).
//!
//! Run one module with its path as the filter, e.g.
//! `cargo test --test suite checkpoint::`. Tests of different modules run in
//! parallel; the heavy ones (many processes, timing-sensitive kills, thousands
//! of sockets) take turns through [`common::heavy`].

mod common;
mod reference;
mod webapp;

mod alerts;
mod auth_embedded;
mod auth_mosquitto;
mod backfill;
mod backlog;
mod browser;
mod chaos;
mod checkpoint;
mod cli;
mod cluster;
mod crash;
mod demo;
mod determinism;
mod e2e_mqtt;
mod front_door;
mod import;
mod import_traps;
mod influx;
mod interop;
mod metrics;
mod metrics_reference;
mod mqtt5;
mod quarantine;
mod registry_change;
mod report;
mod restart_lookback;
mod sinks;
mod tls_mosquitto;
mod vendor_live;
mod web_api;
