//! Command-line interface.

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// doorstep: are the community service rooms we built actually used?
///
/// Occupancy sensors and door counters publish over MQTT; doorstep computes
/// live occupancy and hourly usage per room (METRICS.md), writes them as
/// Parquet under a data directory and shows them on a web page.
#[derive(Debug, Parser)]
#[command(name = "doorstep", version, propagate_version = true)]
pub struct Cli {
    /// More log output (-v debug, -vv trace); DOORSTEP_LOG=filter overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Everything on this machine: embedded broker, simulated pilot communities,
    /// pipeline, Parquet and the web page. Stops cleanly on Ctrl-C.
    Demo(DemoArgs),
    /// Run the pipeline as configured in a config file (see `doorstep init`).
    Run(RunArgs),
    /// Publish a simulated device fleet to an MQTT broker.
    Simulate(SimulateArgs),
    /// Write a commented sample config and registry to start from.
    Init(InitArgs),
    /// Check a registry, or build one from spreadsheets (CSV).
    #[command(subcommand)]
    Registry(RegistryCommand),
}

/// `doorstep registry ...`.
#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Check a registry file and summarise it.
    Check {
        /// The registry (TOML).
        file: PathBuf,
    },
    /// Build a registry from rooms.csv (one row per room) and devices.csv (one row per device).
    ///
    /// rooms.csv columns: site_id, site_name, city, district, timezone, room_id, room_name,
    /// floor, capacity, area_m2, schedule (openings separated by ';', e.g.
    /// "mon-fri 08:30-11:30 infant_care; daily 14:00-17:00 elderly_care"), open_on_holidays.
    /// devices.csv columns: site_id, device_id, room_id, kind (count|presence|door), interval_s.
    Csv {
        /// The rooms sheet saved as CSV (UTF-8).
        rooms: PathBuf,
        /// The devices sheet saved as CSV (UTF-8).
        devices: PathBuf,
        /// Write the registry here instead of standard output.
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
}

/// A simulated clock.
#[derive(Debug, Clone, Args)]
pub struct ClockArgs {
    /// Start the clock at this time (RFC 3339, e.g. 2026-11-23T08:00:00+08:00) instead of now.
    #[arg(long, value_name = "TIME")]
    pub start: Option<String>,
    /// Run the clock this many times faster than real time (60 = an hour a minute).
    #[arg(long, value_name = "FACTOR")]
    pub speed: Option<f64>,
}

/// `doorstep demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the Parquet tables go.
    #[arg(long, default_value = "doorstep-data", value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Address of the web page and API.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub web: SocketAddr,
    /// Address of the embedded MQTT broker.
    #[arg(long, default_value = "127.0.0.1:1883", value_name = "ADDR")]
    pub mqtt_listen: SocketAddr,
    /// Registry of sites, rooms and devices (default: the bundled sample communities).
    #[arg(long, value_name = "FILE")]
    pub registry: Option<PathBuf>,
    /// Seed of the simulated fleet.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// Start the clock at this time (RFC 3339); default: today 07:55 in Shanghai.
    #[arg(long, value_name = "TIME")]
    pub start: Option<String>,
    /// Run the clock this many times faster than real time.
    #[arg(long, default_value_t = 60.0, value_name = "FACTOR")]
    pub speed: f64,
}

/// `doorstep run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The config file (TOML); `doorstep init` writes a commented one.
    #[arg(long, short, value_name = "FILE")]
    pub config: PathBuf,
    /// Use this broker (mqtt://host:port) instead of the config's.
    #[arg(long, value_name = "URL")]
    pub broker: Option<String>,
    #[command(flatten)]
    pub clock: ClockArgs,
}

/// `doorstep simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The broker to publish to, mqtt://host:port.
    #[arg(long, value_name = "URL")]
    pub broker: String,
    /// Registry of the devices to simulate.
    #[arg(long, value_name = "FILE")]
    pub registry: PathBuf,
    /// Seed of the simulated fleet.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// Stop after this many simulated hours (default: run until Ctrl-C).
    #[arg(long, value_name = "HOURS")]
    pub hours: Option<f64>,
    #[command(flatten)]
    pub clock: ClockArgs,
}

/// `doorstep init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Folder to write doorstep.toml and registry.toml into.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
}
