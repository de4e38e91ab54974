//! `doorstep-bench`: measures doorstep on this machine and prints Markdown
//! sections for `BENCHMARKS.md` (`scripts/bench` writes the file).

mod broker;
mod cluster;
mod door;
mod door_client;
mod fleet;
mod history;
mod import;
mod national;
mod replay;
mod reports;
mod restart;
mod storage;
mod switch;

use clap::Parser;

/// Measures doorstep and prints the figures as Markdown.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Which figure to measure.
    #[command(subcommand)]
    figure: Figure,
}

#[derive(Debug, clap::Subcommand)]
enum Figure {
    /// Bytes per event in `raw_events` and per room-day in the metric tables,
    /// for a simulated fleet (100 sites, 30 days by default).
    Storage {
        /// Sites in the simulated fleet (copies of the sample registry's five).
        #[arg(long, default_value_t = 100)]
        sites: usize,
        /// Days simulated, from 2026-11-01.
        #[arg(long, default_value_t = 30)]
        days: i64,
    },
    /// Delivery rate of one Mosquitto to doorstep against `mosquitto_sub`.
    Broker {
        /// Messages queued and drained.
        #[arg(long, default_value_t = 200_000)]
        messages: usize,
    },
    /// QoS 1 PUBACK rate of the embedded broker (acknowledging after the
    /// journal's fsync) against Mosquitto's, many publishers at once.
    Door {
        /// Messages of the simulated fleet published.
        #[arg(long, default_value_t = 200_000)]
        messages: usize,
        /// Client connections publishing at once (the messages split by device).
        #[arg(long, default_value_t = 20)]
        clients: usize,
    },
    /// `report compare` and `report underuse` over a simulated year.
    Reports {
        /// Sites (copies of the sample's five).
        #[arg(long, default_value_t = 5000)]
        sites: usize,
        /// Days from 2026-01-01.
        #[arg(long, default_value_t = 365)]
        days: i64,
    },
    /// National load through `doorstep run`: latency to the live push, memory.
    National {
        /// Seconds of load (long enough for the memory to level off).
        #[arg(long, default_value_t = 300)]
        seconds: u64,
        /// Messages a second.
        #[arg(long, default_value_t = 5000)]
        rate: usize,
    },
    /// National load for a while, SIGKILL, restart: the time until doorstep serves
    /// live data again, memory while it restarts, the checkpoint it restarts from.
    Restart {
        /// Seconds of load before the kill.
        #[arg(long, default_value_t = 600)]
        seconds: u64,
        /// Messages a second.
        #[arg(long, default_value_t = 5000)]
        rate: usize,
    },
    /// National load with a registry change applied halfway: how long `registry
    /// apply` takes and how long the running doorstep holds messages while it switches.
    Switch {
        /// Seconds of load (the change comes at half, once the state has grown).
        #[arg(long, default_value_t = 600)]
        seconds: u64,
        /// Messages a second.
        #[arg(long, default_value_t = 5000)]
        rate: usize,
    },
    /// The national load through Mosquitto into one process with 2 workers, then
    /// into a two-process timely cluster with 1 worker each.
    Cluster {
        /// Seconds of load for each.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Messages a second.
        #[arg(long, default_value_t = 5000)]
        rate: usize,
    },
    /// `doorstep import` of a year of one-minute counts of one room: rows a
    /// second, peak memory, files written.
    Import {
        /// Days of one-minute rows, from 2025-01-01.
        #[arg(long, default_value_t = 365)]
        days: i64,
    },
    /// Events a second through decode, validation, the journal, the dataflow
    /// and the Parquet sinks: through `doorstep run`'s own pipeline (journal
    /// synced and not), and each stage alone.
    Replay {
        /// Sites in the simulated fleet.
        #[arg(long, default_value_t = 100)]
        sites: usize,
        /// Days simulated (at most 6: older readings than 7 days are refused).
        #[arg(long, default_value_t = 6)]
        days: i64,
        /// Dataflow worker threads.
        #[arg(long, default_value_t = 2)]
        workers: usize,
    },
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Args::parse().figure {
        Figure::Storage { sites, days } => storage::run(sites, days),
        Figure::Broker { messages } => broker::run(messages),
        Figure::Door { messages, clients } => door::run(messages, clients),
        Figure::National { seconds, rate } => national::run(seconds, rate),
        Figure::Cluster { seconds, rate } => cluster::run(seconds, rate),
        Figure::Restart { seconds, rate } => restart::run(seconds, rate),
        Figure::Switch { seconds, rate } => switch::run(seconds, rate),
        Figure::Reports { sites, days } => reports::run(sites, days),
        Figure::Import { days } => import::run(days),
        Figure::Replay {
            sites,
            days,
            workers,
        } => replay::run(sites, days, workers),
    }
}
