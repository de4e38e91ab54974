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

    /// What to do.
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
    /// Reports from the stored tables: flagged rooms, a room's idle hours, sites compared.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Import history (counter exports, public datasets) into a room of the registry,
    /// through the same validation and dataflow as live messages.
    Import(Box<crate::import::ImportArgs>),
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
    /// Optional: calendar (cn|none) in rooms.csv; direction (both|in), rollover and
    /// max_per_minute for door devices, and retired (true for a device taken out of
    /// service), in devices.csv.
    Csv {
        /// The rooms sheet saved as CSV (UTF-8).
        rooms: PathBuf,
        /// The devices sheet saved as CSV (UTF-8).
        devices: PathBuf,
        /// Write the registry here instead of standard output.
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// What changed between two registries, one line per change: sites, rooms and
    /// devices added (+), removed (-) or changed (~), devices moved (>).
    /// Each side is a file or vN, version N of the history (registry history).
    #[command(after_help = "Examples:\n  \
        doorstep registry diff registry.toml registry-new.toml\n  \
        doorstep registry diff v1 v2 --data doorstep-data\n  \
        doorstep registry diff v3 registry-new.toml --config doorstep.toml")]
    Diff {
        /// The old registry: a file or vN.
        old: String,
        /// The new registry: a file or vN.
        new: String,
        /// The data directory whose history vN refers to (default: the config's data_dir).
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
        /// The config file (default: ./doorstep.toml when there is one).
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Check a new registry, show what it changes, and put it in place of the
    /// config's registry file; a refused one (an unknown room, a duplicate id, ...)
    /// is named in one line and nothing is written. The change takes effect when
    /// doorstep run next starts (a switch without a restart is not built yet).
    #[command(after_help = "Examples:\n  \
        doorstep registry apply registry-new.toml --dry-run\n  \
        doorstep registry apply timetable-spring.toml --effective 2027-03-01\n  \
        doorstep registry apply --devices moves.csv --dry-run\n  \
        doorstep registry apply registry-new.toml --config /etc/doorstep/doorstep.toml")]
    Apply {
        /// The new registry (TOML, or JSON when the config's is); or give the
        /// change as sheets with --rooms and --devices instead.
        #[arg(required_unless_present_any = ["rooms", "devices"], conflicts_with_all = ["rooms", "devices"])]
        file: Option<PathBuf>,
        /// A change from a spreadsheet: room rows (the columns of `registry csv`,
        /// and an optional `action`: add, update or remove) put onto the config's
        /// registry.
        #[arg(long, value_name = "CSV")]
        rooms: Option<PathBuf>,
        /// A change from a spreadsheet: device rows (the columns of `registry
        /// csv`, and an optional `action`); a row naming another room moves the
        /// device there.
        #[arg(long, value_name = "CSV")]
        devices: Option<PathBuf>,
        /// The config whose registry it replaces (default: ./doorstep.toml).
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Only check and show the changes.
        #[arg(long)]
        dry_run: bool,
        /// From when the change holds: a date (its midnight in the sites'
        /// timezone, e.g. the first day of term) or an RFC 3339 time; default now.
        /// Readings before it keep the registry before; not before the latest
        /// version's time.
        #[arg(long, value_name = "TIME")]
        effective: Option<String>,
    },
    /// The registry's versions recorded under <data_dir>/registry/: when each was
    /// recorded, from when it holds, its size and what changed.
    History {
        /// The data directory (default: the config's data_dir, else ./doorstep-data).
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
        /// The config file (default: ./doorstep.toml when there is one).
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
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
    /// Days of history simulated before the start when the data directory is
    /// new, so the manager and evaluator pages have data at once (0: none).
    #[arg(long, default_value_t = 28, value_name = "DAYS")]
    pub history_days: u32,
}

/// `doorstep run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The config file (TOML; default: ./doorstep.toml); `doorstep init` writes a commented one.
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Use this broker (mqtt://host:port) instead of the config's.
    #[arg(long, value_name = "URL")]
    pub broker: Option<String>,
    /// In a cluster (`[cluster]`): the index of this process, instead of the config's.
    #[arg(long, value_name = "N")]
    pub process: Option<usize>,
    /// The clock: real time, or simulated from a date at a speed.
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
    /// The clock: real time, or simulated from a date at a speed.
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

/// `doorstep report ...`: read the Parquet tables under the data directory (docs/REPORTS.md).
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Rooms with flags (IDLE 建而不用, UNDERUSED, LOW_COVERAGE, DOOR_DRIFT,
    /// OVERCROWDED, AFTER_HOURS_USE): one row per room and flag, from each room's latest day
    /// in the window, with the reason and the numbers behind it.
    #[command(after_help = "Examples:\n  \
        doorstep report underuse --config doorstep.toml\n  \
        doorstep report underuse --data doorstep-data --city 上海市 --lang en\n  \
        doorstep report underuse --data doorstep-data --site sh-xh-tianping --format csv --output flags.csv")]
    Underuse {
        /// Which sites and days.
        #[command(flatten)]
        common: ReportArgs,
        /// Only this site (its id), e.g. --site sh-xh-tianping.
        #[arg(long, value_name = "ID")]
        site: Option<String>,
        /// Only sites of this city, as written in the registry, e.g. --city 上海市.
        #[arg(long, value_name = "NAME")]
        city: Option<String>,
    },
    /// A room's use by weekday and hour over the window (time utilization and
    /// coverage of each open cell) and its idle blocks, candidates to host another
    /// service (错时使用).
    #[command(after_help = "Examples:\n  \
        doorstep report slots --data doorstep-data --site sh-xh-tianping --room f3-activity\n  \
        doorstep report slots --config doorstep.toml --site sh-xh-tianping --room f3-activity --svg f3.svg\n  \
        doorstep report slots --data doorstep-data --site sh-xh-tianping --room f3-activity --format json")]
    Slots {
        /// Which sites and days.
        #[command(flatten)]
        common: ReportArgs,
        /// The site (its id), e.g. --site sh-xh-tianping.
        #[arg(long, value_name = "ID")]
        site: String,
        /// The room (its id within the site), e.g. --room f3-activity.
        #[arg(long, value_name = "ID")]
        room: String,
        /// Also draw the grid as an SVG heatmap into this file, e.g. --svg room.svg
        /// (SVG only: no PNG, open the SVG in a browser).
        #[arg(long, value_name = "FILE")]
        svg: Option<PathBuf>,
    },
    /// A site's free hours each week, to the minute, for another service (错时使用):
    /// each room's idle blocks cut to its opening times, and the hours of the
    /// service day it is not scheduled open. Needs the registry (the schedules).
    #[command(after_help = "Examples:\n  \
        doorstep report free-hours --site sh-xh-tianping\n  \
        doorstep report free-hours --config doorstep.toml --site sh-xh-tianping --service-day 06:30-21:30\n  \
        doorstep report free-hours --data doorstep-data --registry registry.toml --site sh-xh-tianping --format csv --output free.csv")]
    FreeHours {
        /// Which sites and days.
        #[command(flatten)]
        common: ReportArgs,
        /// The site (its id), e.g. --site sh-xh-tianping.
        #[arg(long, value_name = "ID")]
        site: String,
        /// The hours of a day rooms may be offered in, HH:MM-HH:MM
        /// (default: the config's [web] service_day, else 07:00-21:00).
        #[arg(long, value_name = "HH:MM-HH:MM")]
        service_day: Option<analytics::report::free_hours::ServiceDay>,
    },
    /// Sites compared for evaluators: METRICS.md site metrics over the window,
    /// rank within the city and nationally by time utilization or --rank-by (ties by site id),
    /// national percentile, and the sites left out for coverage below 0.8.
    #[command(after_help = "Examples:\n  \
        doorstep report compare --config doorstep.toml\n  \
        doorstep report compare --data doorstep-data --city 成都市 --from 2026-11-01 --to 2026-11-28\n  \
        doorstep report compare --data doorstep-data --category infant_care --format csv --output sites.csv")]
    Compare {
        /// Which sites and days.
        #[command(flatten)]
        common: ReportArgs,
        /// Only sites of this city, e.g. --city 成都市 (ranks stay national and per city).
        #[arg(long, value_name = "NAME")]
        city: Option<String>,
        /// Only sites of this district, e.g. --district 武侯区.
        #[arg(long, value_name = "NAME")]
        district: Option<String>,
        /// Only sites hosting this service category in the window, e.g. --category infant_care
        /// (elderly_care, infant_care, child_care, meal_aid, housekeeping, health, fitness,
        /// culture, children_play, shared_space, other).
        #[arg(long, value_name = "CATEGORY")]
        category: Option<String>,
        /// What sites are ranked by: time_utilization (default), capacity_utilization,
        /// visits_per_day or visits_per_100m2_day (visits are comparable only between
        /// sites with the same visits_method).
        #[arg(long, value_name = "COLUMN", default_value = "time_utilization")]
        rank_by: String,
    },
}

/// Options every report takes.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The config file: its data_dir and registry are used, e.g. --config doorstep.toml
    /// (default: ./doorstep.toml when there is one).
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The data directory holding the tables, e.g. --data doorstep-data (default: the config's data_dir).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// The registry, for site names, cities, districts and services the tables lack,
    /// e.g. --registry registry.toml (default: the config's, else the one the data was
    /// last taken with, from <data>/registry/).
    #[arg(long, value_name = "FILE")]
    pub registry: Option<PathBuf>,
    /// First local date of the window, e.g. --from 2026-11-01 (default: 27 days before --to).
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub from: Option<chrono::NaiveDate>,
    /// Last local date of the window, e.g. --to 2026-11-28 (default: the latest day in the tables).
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub to: Option<chrono::NaiveDate>,
    /// Output: table (aligned text), csv, json, or parquet (needs --output), e.g. --format csv.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table, value_name = "FORMAT")]
    pub format: ReportFormat,
    /// Write to this file instead of standard output, e.g. --output sites.csv; with csv and
    /// parquet a report's further tables go beside it (sites.left_out.csv).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Language of reasons, weekday names and table headers, e.g. --lang en.
    #[arg(long, value_enum, default_value_t = ReportLang::Zh, value_name = "LANG")]
    pub lang: ReportLang,
}

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// Aligned text for people.
    Table,
    /// Comma-separated values.
    Csv,
    /// One JSON object.
    Json,
    /// Parquet file(s).
    Parquet,
}

/// `--lang`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportLang {
    /// Chinese.
    Zh,
    /// English.
    En,
}

fn parse_date(text: &str) -> Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| format!("{text:?} is not a date YYYY-MM-DD such as 2026-11-28"))
}
