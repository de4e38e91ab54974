//! The subcommands.

use crate::cli::{
    Cli, ClockArgs, Command, DemoArgs, InitArgs, RegistryCommand, RunArgs, SimulateArgs,
};
use crate::config::{Config, SAMPLE_CONFIG, SAMPLE_REGISTRY};
use crate::pipeline::{self, Broker, Spec};
use anyhow::{Context, bail};
use chrono::TimeZone;
use devices::{Clock, Registry};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Runs the chosen subcommand.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Init(args) => return init(args),
        Command::Report(cmd) => return crate::report::run(cmd),
        Command::Import(args) => return crate::import::run(args),
        Command::Registry(cmd) => return registry(cmd),
        _ => {}
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        match cli.command {
            Command::Demo(args) => demo(args).await,
            Command::Run(args) => run_config(args).await,
            Command::Simulate(args) => simulate(args).await,
            Command::Init(_) | Command::Registry(_) | Command::Report(_) | Command::Import(_) => {
                Ok(())
            }
        }
    })
}

fn parse_time_ms(text: &str) -> anyhow::Result<i64> {
    devices::codec::parse_rfc3339_ms(text).with_context(|| {
        format!("{text:?} is not an RFC 3339 time such as 2026-11-23T08:00:00+08:00")
    })
}

fn ms_to_rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&chrono_tz::Asia::Shanghai).to_rfc3339())
        .unwrap_or_default()
}

fn clock_from(start: Option<&str>, speed: Option<f64>) -> anyhow::Result<Clock> {
    let speed = speed.unwrap_or(1.0);
    if !(speed.is_finite() && speed > 0.0) {
        bail!("--speed must be a positive number, not {speed}");
    }
    Ok(match start {
        Some(s) => Clock::simulated(parse_time_ms(s)?, speed),
        None => Clock::simulated(Clock::wall().now_ms(), speed),
    })
}

fn clock_args(args: &ClockArgs, config: &crate::config::ClockSection) -> anyhow::Result<Clock> {
    let start = args.start.as_deref().or(config.start.as_deref());
    clock_from(start, args.speed.or(config.speed))
}

fn load_registry(path: &Path) -> anyhow::Result<Arc<Registry>> {
    Ok(Arc::new(Registry::load(path)?))
}

/// Until Ctrl-C or SIGTERM, or until a stage stops on its own (then `stop` returns its error).
async fn wait_for_stop(running: &pipeline::Running, stop: impl std::future::Future<Output = ()>) {
    let mut status = tokio::time::interval(Duration::from_secs(10));
    status.tick().await;
    let mut check = tokio::time::interval(Duration::from_secs(1));
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = status.tick() => tracing::info!("{}", running.status()),
            _ = check.tick() => if running.failed() {
                tracing::error!("a stage of the pipeline stopped; shutting down");
                return;
            },
        }
    }
}

/// Ctrl-C or SIGTERM. The handlers are installed when this is called, so a
/// stop asked for as soon as the pipeline serves is not missed.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        if let (Some(mut term), Some(mut int)) = signals {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Records `registry` (its file's `text`) in the history of `data_dir` when it
/// changed: the tables' readings are bound by it from now on.
fn record_registry(
    data_dir: &Path,
    text: &str,
    registry: &Registry,
    clock: Clock,
    by: &str,
) -> anyhow::Result<()> {
    let now = clock.now_ms();
    if let Some(v) = crate::registry_history::record(data_dir, text, registry, now, now, by)? {
        tracing::info!(
            version = v.version,
            changes = v.changes.len(),
            "registry version recorded"
        );
    }
    Ok(())
}

async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let (registry, registry_text) = match &args.registry {
        Some(path) => (
            load_registry(path)?,
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?,
        ),
        None => (
            Arc::new(Registry::from_toml(
                SAMPLE_REGISTRY,
                Path::new("config/registry.toml (bundled)"),
            )?),
            SAMPLE_REGISTRY.to_owned(),
        ),
    };
    let start_ms = match &args.start {
        Some(s) => parse_time_ms(s)?,
        None => {
            let tz = chrono_tz::Asia::Shanghai;
            let today = chrono::Utc::now().with_timezone(&tz).date_naive();
            let at = today.and_hms_opt(7, 55, 0).unwrap_or_default();
            tz.from_local_datetime(&at)
                .earliest()
                .map_or(0, |t| t.timestamp_millis())
        }
    };
    let clock = clock_from(Some(&ms_to_rfc3339(start_ms)), Some(args.speed))?;
    // History only for a new data directory; the fleet starts where it does.
    let history = args.history_days > 0 && crate::demo_history::fresh(&args.data_dir);
    let history_ms = if history {
        i64::from(args.history_days) * 86_400_000
    } else {
        0
    };
    let mut fleet =
        devices::sim::Fleet::new(Arc::clone(&registry), args.seed, start_ms - history_ms);
    if history {
        println!(
            "doorstep demo: simulating the {} days before the start through the pipeline ...",
            args.history_days
        );
        let began = std::time::Instant::now();
        let h = crate::demo_history::fill(
            &registry,
            &args.data_dir,
            &mut fleet,
            start_ms,
            &stream::StreamConfig::default(),
        )?;
        println!(
            "  history       {} messages, {} room days, in {:.1} s",
            h.messages,
            h.room_days,
            began.elapsed().as_secs_f64()
        );
    }
    let spec = Spec {
        registry: Arc::clone(&registry),
        data_dir: args.data_dir.clone(),
        broker: Broker::Embedded(
            args.mqtt_listen,
            None,
            None,
            ingest::BrokerLimits::default(),
        ),
        session: ingest::Session {
            client_id: "doorstep".into(),
            credentials: None,
            ca_pem: None,
        },
        web: args.web,
        web_tokens: None,
        stream: stream::StreamConfig::default(),
        clock,
        flush: Duration::from_secs(5),
        influx: None,
        upkeep: crate::upkeep::Upkeep::default(),
        quarantine: ingest::QuarantineLimits::default(),
        cluster: None,
        journal_sync: true,
        alerts: crate::alerts::AlertsConfig::default(),
        service_day: Default::default(),
        switching: false,
    };
    record_registry(
        &args.data_dir,
        &registry_text,
        &registry,
        clock,
        "doorstep demo",
    )?;
    let stop = shutdown_signal();
    let running = pipeline::start(spec).await?;
    let simulator = ingest::Session {
        client_id: "doorstep-simulator".into(),
        credentials: None,
        ca_pem: None,
    };
    let publisher = ingest::Publisher::connect(&running.broker_url, &simulator).await?;
    let sim = tokio::spawn(async move {
        let result = crate::sim::publish_fleet(&publisher, fleet, clock, None).await;
        publisher.close().await;
        result
    });
    let rooms = registry.rooms.len();
    let devices = registry.devices.len();
    println!(
        "doorstep demo: {} sites, {rooms} rooms, {devices} simulated devices",
        registry.sites.len()
    );
    println!("  live page     http://{}/  (operators)", running.web_addr);
    println!(
        "  devices       http://{}/devices  (each device's last report, battery, rejects)",
        running.web_addr
    );
    println!(
        "  managers      http://{}/manager  (idle rooms and hours; fills as days close)",
        running.web_addr
    );
    println!(
        "  evaluators    http://{}/evaluator  (sites compared)",
        running.web_addr
    );
    println!("  live API      http://{}/api/live", running.web_addr);
    println!(
        "  MQTT broker   {} (topic doorstep/v1/{{site_id}}/{{device_id}})",
        running.broker_url
    );
    println!(
        "  Parquet data  {}/ (raw_events, room_hour, room_day, ...; doorstep report reads it)",
        running.data_dir.display()
    );
    println!(
        "  clock         starts {} and runs {}x real time",
        ms_to_rfc3339(start_ms),
        args.speed
    );
    println!("Press Ctrl-C to stop.");
    wait_for_stop(&running, stop).await;
    println!("stopping: writing what is buffered ...");
    sim.abort();
    let _ = sim.await;
    running.stop().await?;
    println!("stopped.");
    Ok(())
}

async fn run_config(args: RunArgs) -> anyhow::Result<()> {
    let Some(config) = Config::find(args.config.as_deref())? else {
        anyhow::bail!(
            "no config: give --config FILE, or run `doorstep init` to write ./doorstep.toml here"
        );
    };
    let registry_text = std::fs::read_to_string(&config.registry)
        .with_context(|| format!("cannot read {}", config.registry.display()))?;
    let registry = Arc::new(Registry::parse(&registry_text, &config.registry)?);
    let broker_text = args.broker.as_deref().unwrap_or(&config.mqtt.broker);
    let broker = if broker_text == "embedded" {
        Broker::Embedded(
            config.mqtt.listen,
            config.mqtt.listen_v5,
            config.gate()?,
            config.mqtt.limits(),
        )
    } else {
        Broker::External(broker_text.parse().map_err(anyhow::Error::msg)?)
    };
    let clock = clock_args(&args.clock, &config.clock)?;
    config.alerts.check(&registry).map_err(anyhow::Error::msg)?;
    // The registry this run takes its data with, in the history (one process of a cluster).
    let records = config.cluster.as_ref().is_none_or(|c| c.process == 0);
    if records {
        record_registry(
            &config.data_dir,
            &registry_text,
            &registry,
            clock,
            "doorstep run",
        )?;
    }
    // Every version of the history merged: a moved device's past stays where it was.
    let all = Arc::new(crate::registry_history::all_time(
        &config.data_dir,
        &registry,
        &registry_text,
        clock.now_ms(),
    )?);
    let mut spec = Spec {
        registry: Arc::clone(&all),
        data_dir: config.data_dir.clone(),
        broker,
        session: config.session()?,
        web: config.web.listen,
        web_tokens: config.web.tokens_file.clone(),
        stream: config.stream.clone(),
        clock,
        flush: Duration::from_secs(config.store.flush_s.max(1).into()),
        influx: config.influx()?,
        upkeep: config.store.upkeep()?,
        quarantine: config.quarantine,
        cluster: match &config.cluster {
            Some(c) => Some(c.spec(args.process)?),
            None => {
                anyhow::ensure!(
                    args.process.is_none(),
                    "--process needs a [cluster] section in the config (docs/DEPLOY.md)"
                );
                None
            }
        },
        journal_sync: true,
        alerts: config.alerts.clone(),
        service_day: config.web.service_day,
        switching: false,
    };
    let stop = shutdown_signal();
    let running = pipeline::start(spec.clone()).await?;
    tracing::info!(
        web = %format!("http://{}/", running.web_addr),
        broker = %running.broker_url,
        data = %running.data_dir.display(),
        "doorstep is running"
    );
    let watch =
        crate::reload::Watch::new(&config.registry, &config.data_dir, records, registry_text);
    // A process of a cluster does not switch alone: its dataflow restarting
    // would stop the others' (docs/DEPLOY.md).
    let running = crate::reload::run(running, &mut spec, all, watch, stop).await?;
    tracing::info!("stopping");
    running.stop().await?;
    tracing::info!("stopped");
    Ok(())
}

async fn simulate(args: SimulateArgs) -> anyhow::Result<()> {
    let registry = load_registry(&args.registry)?;
    let url: ingest::BrokerUrl = args.broker.parse().map_err(anyhow::Error::msg)?;
    let clock = clock_from(args.clock.start.as_deref(), args.clock.speed)?;
    let session = ingest::Session {
        client_id: format!("doorstep-sim-{}", std::process::id()),
        credentials: None,
        ca_pem: None,
    };
    let publisher = ingest::Publisher::connect(&url, &session).await?;
    let fleet = devices::sim::Fleet::new(Arc::clone(&registry), args.seed, clock.now_ms());
    let until = args
        .hours
        .map(|h| clock.now_ms() + (h * 3_600_000.0) as i64);
    tracing::info!(broker = %url, devices = registry.devices.len(), speed = clock.speed(), "simulating");
    let sent = tokio::select! {
        r = crate::sim::publish_fleet(&publisher, fleet, clock, until) => Some(r?),
        _ = shutdown_signal() => None,
    };
    publisher.close().await;
    if let Some(n) = sent {
        tracing::info!(messages = n, "simulation done");
    }
    Ok(())
}

fn init(args: &InitArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    for (name, text) in [
        ("doorstep.toml", SAMPLE_CONFIG),
        ("registry.toml", SAMPLE_REGISTRY),
    ] {
        let path = args.dir.join(name);
        if path.exists() && !args.force {
            bail!(
                "{} exists already; use --force to overwrite it",
                path.display()
            );
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    println!(
        "next: edit registry.toml for your sites, then run: doorstep run --config {}",
        args.dir.join("doorstep.toml").display()
    );
    Ok(())
}

/// The data directory whose registry history is meant: `--data`, else the
/// config's data_dir, else ./doorstep-data when it exists.
fn history_dir(data: Option<&Path>, config: Option<&Path>) -> anyhow::Result<Option<PathBuf>> {
    if let Some(d) = data {
        return Ok(Some(d.to_owned()));
    }
    if let Some(c) = Config::find(config)? {
        return Ok(Some(c.data_dir));
    }
    let demo = Path::new("doorstep-data");
    Ok(demo.is_dir().then(|| demo.to_owned()))
}

fn registry(cmd: &RegistryCommand) -> anyhow::Result<()> {
    match cmd {
        RegistryCommand::Check { file } => {
            let reg = Registry::load(file)?;
            let count = |k| reg.devices.iter().filter(|d| d.kind == k).count();
            println!(
                "{}: {} sites, {} rooms, {} devices ({} count, {} presence, {} door): ok",
                file.display(),
                reg.sites.len(),
                reg.rooms.len(),
                reg.devices.len(),
                count(devices::DeviceKind::Count),
                count(devices::DeviceKind::Presence),
                count(devices::DeviceKind::Door),
            );
            for room in reg.rooms.iter().filter(|r| r.devices.is_empty()) {
                println!(
                    "  note: room {:?} of site {:?} has no device",
                    room.id,
                    reg.site(room.site).id
                );
            }
            Ok(())
        }
        RegistryCommand::Diff {
            old,
            new,
            data,
            config,
        } => {
            let data = history_dir(data.as_deref(), config.as_deref())?;
            let a = crate::registry_history::resolve(old, data.as_deref())?;
            let b = crate::registry_history::resolve(new, data.as_deref())?;
            let changes = devices::registry_diff::diff(&a, &b);
            for c in &changes {
                println!("{c}");
            }
            eprintln!("{} changes", changes.len());
            Ok(())
        }
        RegistryCommand::Apply {
            file,
            config,
            dry_run,
            effective,
            rooms,
            devices,
        } => {
            let Some(config) = Config::find(config.as_deref())? else {
                bail!(
                    "which registry? give --config FILE (its registry is replaced), or run in the folder of doorstep.toml"
                );
            };
            use crate::registry_apply::{Applied, apply, running};
            let now = Clock::wall().now_ms();
            let source = match file {
                Some(f) => crate::registry_apply::Source::File(f),
                None => crate::registry_apply::Source::Sheets {
                    rooms: rooms.as_deref(),
                    devices: devices.as_deref(),
                },
            };
            match apply(source, &config, *dry_run, effective.as_deref(), now)? {
                Applied::Unchanged => println!(
                    "{} is the same as {}: nothing to apply",
                    file.as_deref()
                        .map_or_else(|| "the change".to_owned(), |f| f.display().to_string()),
                    config.registry.display()
                ),
                Applied::Checked(changes) => {
                    for c in &changes {
                        println!("{c}");
                    }
                    println!("{} changes; nothing written (--dry-run)", changes.len());
                }
                Applied::Installed(changes, version, effective_ms) => {
                    for c in &changes {
                        println!("{c}");
                    }
                    let version = version
                        .map(|v| format!(" (registry version {v})"))
                        .unwrap_or_default();
                    println!(
                        "{} changes; written to {}{version}",
                        changes.len(),
                        config.registry.display()
                    );
                    if running(&config.data_dir) {
                        println!(
                            "doorstep run is running on {}: it switches to the new registry within seconds (its log says when); the change holds from {}",
                            config.data_dir.display(),
                            devices::timeline::rfc3339(effective_ms)
                        );
                    } else {
                        println!("doorstep run takes it when it starts");
                    }
                }
            }
            Ok(())
        }
        RegistryCommand::History { data, config } => {
            let Some(data) = history_dir(data.as_deref(), config.as_deref())? else {
                anyhow::bail!(
                    "which data? give --data DIR (the pipeline's data_dir) or --config FILE"
                );
            };
            let versions = crate::registry_history::list(&data)?;
            if versions.is_empty() {
                println!(
                    "no registry version recorded under {} (doorstep run records one at start)",
                    crate::registry_history::dir(&data).display()
                );
            }
            for v in &versions {
                println!(
                    "v{}  from {}  recorded {} by {}  {} sites, {} rooms, {} devices  {}",
                    v.version,
                    v.effective_from,
                    v.recorded_at,
                    v.by,
                    v.sites,
                    v.rooms,
                    v.devices,
                    match v.changes.len() {
                        0 => "(first)".to_owned(),
                        n => format!("{n} changes"),
                    }
                );
                for c in &v.changes {
                    println!("    {c}");
                }
            }
            Ok(())
        }
        RegistryCommand::Csv {
            rooms,
            devices,
            out,
        } => {
            let file = devices::registry_from_csv(rooms, devices)?;
            let name = out.clone().unwrap_or_else(|| "registry.toml".into());
            let reg = file.build(&name)?;
            let text = file.to_toml();
            match out {
                Some(path) => {
                    std::fs::write(path, &text)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    eprintln!(
                        "wrote {}: {} sites, {} rooms, {} devices",
                        path.display(),
                        reg.sites.len(),
                        reg.rooms.len(),
                        reg.devices.len()
                    );
                }
                None => print!("{text}"),
            }
            Ok(())
        }
    }
}
