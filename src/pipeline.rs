//! Wires the stages: MQTT ingest -> raw_events + stream -> room_hour + live page.

use anyhow::Context;
use dashboards::LiveBoard;
use devices::{Clock, Registry};
use ingest::{BrokerUrl, EmbeddedBroker, IngestStats, Subscriber};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use stream::{Stream, StreamConfig, StreamStats};

/// Which broker to use.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant, reason = "one per process")]
pub enum Broker {
    /// Start the embedded broker on this address (MQTT 3.1.1) and, optionally, one for MQTT 5;
    /// with device accounts and a topic ACL behind its auth gate, when given; within its limits.
    Embedded(
        SocketAddr,
        Option<SocketAddr>,
        Option<ingest::GateConfig>,
        ingest::BrokerLimits,
    ),
    /// Connect to an external broker.
    External(BrokerUrl),
    /// The embedded broker a pipeline stopped before in this process left
    /// running (a registry switch): its door is handed to this pipeline.
    Handover(BrokerUrl, ingest::Door),
}

/// Everything the pipeline needs to start.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Sites, rooms and devices.
    pub registry: Arc<Registry>,
    /// Where the tables, journal, checkpoints and spools go.
    pub data_dir: PathBuf,
    /// The embedded broker or an external one.
    pub broker: Broker,
    /// doorstep's own MQTT session with an external broker.
    pub session: ingest::Session,
    /// Where the web app listens.
    pub web: SocketAddr,
    /// `[web] tokens_file`: tokens and roles of the web app; `None` leaves it open (loopback only).
    pub web_tokens: Option<PathBuf>,
    /// The stream's settings.
    pub stream: StreamConfig,
    /// Real time, or a simulated clock.
    pub clock: Clock,
    /// How often the journal and the tables are written.
    pub flush: Duration,
    /// The InfluxDB sink's settings and token, when `[influx]` is configured.
    pub influx: Option<(analytics::influx::InfluxConfig, Option<ingest::Secret>)>,
    /// Compaction and retention of the tables.
    pub upkeep: crate::upkeep::Upkeep,
    /// How much of the rejected messages is kept whole (`[quarantine]`).
    pub quarantine: ingest::QuarantineLimits,
    /// This process's place in a cluster (`[cluster]`); `None` runs alone.
    pub cluster: Option<crate::cluster::ClusterSpec>,
    /// Sync the journal before acknowledging: always in `doorstep run`; off only
    /// in a benchmark measuring what the sync costs.
    pub journal_sync: bool,
    /// `[alerts]`: when they are raised and where they are sent.
    pub alerts: crate::alerts::AlertsConfig,
    /// The hours of a day the manager's free-hours list covers.
    pub service_day: analytics::report::free_hours::ServiceDay,
    /// The pipeline before this one in the process stopped just now with a
    /// checkpoint (a registry switch): resuming from it with nothing after it
    /// to replay, no row is written again, so the tables' keys are not read.
    pub switching: bool,
}

/// Where device messages come from.
enum Source {
    /// The embedded broker's door.
    Door(ingest::Door),
    /// An external broker, to subscribe to.
    External(tokio::sync::mpsc::Sender<ingest::Incoming>),
    /// The door of an embedded broker already running, repointed once this pipeline is up.
    Handover(ingest::Door, tokio::sync::mpsc::Sender<ingest::Incoming>),
}

/// A running pipeline.
pub struct Running {
    /// The broker devices publish to.
    pub broker_url: BrokerUrl,
    /// Where the web app listens.
    pub web_addr: SocketAddr,
    /// The data directory.
    pub data_dir: PathBuf,
    /// Ingest's counters.
    pub ingest_stats: Arc<IngestStats>,
    /// The stream's counters.
    pub stream_stats: Arc<StreamStats>,
    web_stop: Option<tokio::sync::oneshot::Sender<()>>,
    web_task: tokio::task::JoinHandle<Result<(), dashboards::Error>>,
    /// With an external broker.
    subscriber: Option<tokio::task::JoinHandle<()>>,
    /// With the embedded broker: its door, for messages handed in without a connection.
    door: Option<ingest::Door>,
    /// Tells the intake to take what is queued and stop.
    intake_stop: Arc<std::sync::atomic::AtomicBool>,
    ingest: JoinHandle<anyhow::Result<()>>,
    sinks: crate::sinks::Sinks,
    influx: Option<crate::sinks::influx::InfluxSink>,
    upkeep: Option<(std::sync::mpsc::Sender<()>, JoinHandle<()>)>,
    alerts: Option<crate::alerts::Running>,
    /// Switches the registry without stopping.
    pub(crate) in_place: crate::in_place::InPlace,
}

/// Starts every stage; errors say what to do.
pub async fn start(spec: Spec) -> anyhow::Result<Running> {
    let access = match &spec.web_tokens {
        Some(path) => dashboards::Access::load(path, &spec.registry)?,
        None => dashboards::Access::open(),
    };
    access.check_listen(spec.web)?;
    let web = tokio::net::TcpListener::bind(spec.web).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot serve the web page on {} ({e}); is doorstep already running? Choose another address: [web] listen in the config for doorstep run, --web for doorstep demo",
            spec.web
        )
    })?;
    let web_addr = web.local_addr()?;
    if let (Some(_), Broker::Embedded(..)) = (&spec.cluster, &spec.broker) {
        anyhow::bail!(
            "a cluster needs an external broker with shared subscriptions (Mosquitto 2, EMQX): set [mqtt] broker = \"mqtt://host:port\" (docs/DEPLOY.md)"
        );
    }
    // Counters go on across a registry switch (the door counts in them).
    let ingest_stats = match &spec.broker {
        Broker::Handover(_, door) => Arc::clone(door.stats()),
        _ => Arc::new(IngestStats::default()),
    };
    // The registry of now for every stage after the intake; the validator and the
    // flood guard have their own, switched last (`crate::in_place::InPlace`).
    let current = devices::Current::new(Arc::clone(&spec.registry));
    let validator = devices::Validator::new(Arc::clone(&spec.registry), devices::Limits::default());
    // The validator a handed-over door checks messages with (the subscriber takes `validator`).
    let door_validator = validator.clone();
    // Device messages come through the embedded broker's door, or from the external broker.
    let (in_tx, in_rx) = tokio::sync::mpsc::channel(16_384);
    let (broker_url, source) = match &spec.broker {
        Broker::Embedded(addr, v5, gate, limits) => {
            let door = ingest::Door::new(
                in_tx,
                validator.clone(),
                spec.clock,
                Arc::clone(&ingest_stats),
            );
            let gate = match gate {
                Some(g) => g.clone(),
                None => ingest::GateConfig::open()?,
            };
            let b = EmbeddedBroker::start(*addr, *v5, gate, *limits, door.clone())?;
            ingest_stats.connected.store(true, Ordering::Relaxed);
            (b.url(), Source::Door(door))
        }
        Broker::External(url) => (url.clone(), Source::External(in_tx)),
        Broker::Handover(url, door) => (url.clone(), Source::Handover(door.clone(), in_tx)),
    };
    let mut session = spec.session.clone();
    let store = Arc::new(
        analytics::Store::open(&spec.data_dir, current.clone()).with_context(|| {
            format!("cannot use the data directory {}", spec.data_dir.display())
        })?,
    );
    // Each process of a cluster: its own broker session and journal; process 0 tidies.
    let (journal_dir, label, tidy_age, filter) = match &spec.cluster {
        Some(c) => {
            session.client_id = format!("{}-p{}", session.client_id, c.process);
            (
                format!("journal-p{}", c.process),
                format!("p{}", c.process),
                (c.process == 0).then_some(Duration::from_secs(600)),
                c.topic_filter(),
            )
        }
        None => (
            "journal".to_owned(),
            String::new(),
            Some(Duration::ZERO),
            ingest::TOPIC_FILTER.to_owned(),
        ),
    };
    let alerts = crate::alerts::Prepared::open(
        &spec.data_dir,
        &label,
        spec.cluster.as_ref().map_or(0, |c| c.process),
        &current,
        &spec.alerts,
        spec.clock.now_ms(),
    );
    let started = Instant::now();
    let (mut journal, recent) =
        crate::intake::open_journal(&spec.data_dir.join(journal_dir), &label, &store)?;
    journal.set_sync(spec.journal_sync);
    // The device page after a restart: today's rejects and the devices waiting for
    // registration, from the quarantine (by UTC date: a local day spans two).
    let utc_today = chrono::DateTime::from_timestamp_millis(spec.clock.now_ms())
        .map_or_else(|| chrono::Utc::now().date_naive(), |t| t.date_naive());
    match store.read_quarantine(&[utc_today - chrono::Duration::days(1), utc_today]) {
        Ok(rejected) => alerts.watch.note_rejections(&rejected),
        Err(e) => tracing::warn!(error = %e, "cannot read the quarantine for the device page"),
    }
    // The journal's lock is held: no other writer of this process is at work in the
    // tables (in a cluster, others may be: their `.tmp` files are left while young).
    if let Some(age) = tidy_age {
        store.tidy_older_than(age)?;
    }
    // Each process of a cluster rebuilds the rooms its own workers own, from what
    // every process wrote.
    let threads = spec.stream.workers.max(1);
    let owns = |room| {
        spec.cluster
            .as_ref()
            .is_none_or(|c| stream::Cluster::owns(c.process, c.processes(), threads, room))
    };
    let place = crate::checkpoint::Place::new(&spec.data_dir, spec.cluster.as_ref(), threads)
        .for_registry(&current);
    let checkpointing = spec.stream.checkpoint_interval_s > 0;
    let resume = if checkpointing { place.choose() } else { None };
    let keep_file: Box<dyn Fn(&str) -> bool> = match &resume {
        Some(r) => Box::new(crate::checkpoint::after_covers(&r.commit.covers)),
        None => Box::new(|_: &str| true),
    };
    let recover = recent_raw_events(
        &store,
        spec.clock.now_ms(),
        spec.stream.correction_days,
        &*keep_file,
    )?;
    // Resumed from the checkpoint the pipeline before wrote as it stopped, with
    // nothing after it to replay: no row comes again.
    let already = if spec.switching && resume.is_some() && recover.is_empty() {
        crate::restart::AlreadyWritten::none()
    } else {
        crate::restart::AlreadyWritten::read(&store, spec.clock.now_ms(), resume.is_some())?
    };
    // Every message this process's tables hold since the cover, whatever room it is
    // for, is known to the redelivery filter (below); the stream gets its own rooms'.
    let (recover, others): (Vec<_>, Vec<_>) = recover.into_iter().partition(|r| owns(r.room));
    // Resuming, the rooms hold their lookback; otherwise the tables give it.
    let lookback = match &resume {
        Some(_) => None,
        None => crate::restart::stored_lookback(
            &store,
            &recover,
            spec.clock.now_ms(),
            &spec.stream.flags,
            owns,
        )?,
    };
    let (resume_dir, saved_intake, resumed_epoch) = match resume {
        Some(r) => (Some(r.dir), Some(r.intake), r.commit.epoch),
        None => (None, None, 0),
    };
    // Resuming, the filters continue from the checkpoint (the replay adds what came after).
    let (mut recent, saved_flood) = match saved_intake {
        Some(saved) => (saved.recent, Some(saved.flood)),
        None => (recent, None),
    };
    // A message taken in but not acknowledged before a crash comes again, to any
    // process of a cluster: the filter knows it though its room is another's.
    for r in &others {
        recent.is_new(r);
    }
    drop(others);
    let (acker, subscriber, door) = match source {
        Source::External(in_tx) => {
            let subscriber = Subscriber::connect_to(
                &broker_url,
                &session,
                &filter,
                validator,
                spec.clock,
                Arc::clone(&ingest_stats),
            )
            .await?;
            let acker = subscriber.acker();
            (acker, Some(tokio::spawn(subscriber.run(in_tx))), None)
        }
        Source::Door(door) => (ingest::Acker::door(), None, Some((door, None))),
        Source::Handover(door, in_tx) => (ingest::Acker::door(), None, Some((door, Some(in_tx)))),
    };
    // A handed-over door takes this pipeline's intake at the end, when all is up.
    let (door, handover_tx) = match door {
        Some((door, tx)) => (Some(door), tx),
        None => (None, None),
    };

    let board = LiveBoard::new(current.clone(), spec.clock);
    // Bounded: when the tables writer falls behind, the dataflow and then ingest wait
    // (the broker holds the messages); the other sinks never hold anything back.
    let (out_tx, out_rx) = std::sync::mpsc::sync_channel(65_536);
    let stream_config = StreamConfig {
        history_dir: Some(spec.data_dir.join("stream-history")),
        cluster: spec
            .cluster
            .as_ref()
            .map(crate::cluster::ClusterSpec::stream),
        lookback,
        checkpoints: stream::Checkpoints {
            dir: checkpointing.then(|| place.dir()),
            resume: resume_dir,
        },
        ..spec.stream.clone()
    };
    let stream = Stream::start(current.clone(), spec.clock, &stream_config, out_tx)?;
    let stream_stats = stream.stats();
    let in_place = crate::in_place::InPlace {
        current: current.clone(),
        validator: door_validator.current().clone(),
        switcher: stream.switcher(),
        cluster: spec.cluster.is_some(),
        clock: spec.clock,
    };
    stream_stats
        .resumed_from
        .store(resumed_epoch, Ordering::Relaxed);
    let rt = tokio::runtime::Handle::current();
    let flush = spec.flush;
    // Not ready until the stream's state is rebuilt (the intake clears this).
    ingest_stats
        .replaying
        .store(!recover.is_empty(), Ordering::Relaxed);
    let intake_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ingest = {
        let store = Arc::clone(&store);
        let stop = Arc::clone(&intake_stop);
        let mut flood = ingest::FloodGuard::new(door_validator.current().clone(), 10.0, 20);
        if let Some(saved) = saved_flood {
            flood.resume(saved);
        }
        let every = Duration::from_secs(spec.stream.checkpoint_interval_s.into());
        let checkpoints =
            checkpointing.then(|| (place.clone(), spec.cluster.is_some().then_some(every)));
        let quarantine = spec.quarantine;
        let stats = Arc::clone(&ingest_stats);
        let watch = Arc::clone(&alerts.watch);
        std::thread::Builder::new()
            .name("ingest".into())
            .spawn(move || {
                let intake = ingest::Intake {
                    rx: in_rx,
                    acker,
                    downstream: crate::intake::Sinks {
                        stream,
                        store,
                        checkpoints,
                        watch,
                    },
                    journal,
                    recover,
                    recent,
                    flood,
                    budget: ingest::QuarantineBudget::new(quarantine),
                    stats,
                    flush,
                    stop,
                    checkpoint_every: checkpointing.then_some(every),
                    started,
                };
                intake.run(&rt).map_err(anyhow::Error::from)
            })?
    };
    let (influx, feed) = match &spec.influx {
        Some((config, token)) => {
            let token = token.as_ref().map(ingest::Secret::expose);
            let (sink, feed) =
                crate::sinks::influx::start(config, token, &spec.data_dir, current.clone())?;
            (Some(sink), Some(feed))
        }
        None => (None, None),
    };
    let sinks = crate::sinks::Sinks::start(
        out_rx,
        crate::sinks::Parts {
            store: Arc::clone(&store),
            board: Arc::clone(&board),
            flush,
            already,
            influx: feed,
            committer: crate::checkpoint::Committer::new(place, Arc::clone(&stream_stats)),
            alert_flags: alerts.flags.clone(),
        },
    )?;
    let book = Arc::clone(&alerts.book);
    let ledger = Arc::clone(&alerts.watch);
    let cluster = spec.cluster.clone();
    let alerts = alerts.start(crate::alerts::Parts {
        board: Arc::clone(&board),
        ingest: Arc::clone(&ingest_stats),
        clock: spec.clock,
        store: Arc::clone(&store),
        owns: Box::new(move |room| {
            cluster
                .as_ref()
                .is_none_or(|c| stream::Cluster::owns(c.process, c.processes(), threads, room))
        }),
        broker: (broker_url.clone(), session.clone()),
    })?;
    // After the tables were read for recovery: compaction may merge their files from now on.
    // In a cluster only process 0 compacts and expires.
    let upkeep = if spec.cluster.as_ref().is_none_or(|c| c.process == 0) {
        let (stop, stopped) = std::sync::mpsc::channel();
        let (upkeep, clock) = (spec.upkeep.clone(), spec.clock);
        let thread = std::thread::Builder::new()
            .name("upkeep".into())
            .spawn(move || upkeep.run(&store, clock, Duration::from_secs(3600), &stopped))?;
        Some((stop, thread))
    } else {
        None
    };
    let (web_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let ready = dashboards::Readiness::new();
    let web_app = dashboards::Web {
        board,
        access,
        data_dir: Some(spec.data_dir.clone()),
        status: Some(crate::status::source(
            &ingest_stats,
            &stream_stats,
            influx.as_ref().map(crate::sinks::influx::InfluxSink::stats),
            spec.clock,
        )),
        ready: ready.clone(),
        alerts: book,
        ledger,
        service_day: spec.service_day,
    };
    let web_task = tokio::spawn(dashboards::serve(web, web_app, async {
        let _ = stopped.await;
    }));
    if let (Some(door), Some(tx)) = (&door, handover_tx) {
        door.repoint(tx, door_validator);
    }
    // The subscription is made and the stream runs; /readyz also waits for the broker connection.
    ready.set_ready();
    Ok(Running {
        broker_url,
        web_addr,
        data_dir: spec.data_dir,
        ingest_stats,
        stream_stats,
        web_stop: Some(web_stop),
        web_task,
        subscriber,
        door,
        intake_stop,
        ingest,
        sinks,
        influx,
        upkeep,
        alerts: Some(alerts),
        in_place,
    })
}

impl Running {
    /// The embedded broker's door: messages handed to it are taken in as the
    /// gate takes a device's (`doorstep-bench replay`). `None` with an external broker.
    pub fn door(&self) -> Option<&ingest::Door> {
        self.door.as_ref()
    }

    /// The broker for the next pipeline of this process (a registry switch):
    /// the embedded one stays up and hands over its door; an external one is
    /// connected to again (its session keeps the messages meanwhile).
    pub fn handover(&self) -> Broker {
        match &self.door {
            Some(door) => Broker::Handover(self.broker_url.clone(), door.clone()),
            None => Broker::External(self.broker_url.clone()),
        }
    }

    /// Whether a stage has stopped on its own (an error): the process should end.
    pub fn failed(&self) -> bool {
        self.ingest.is_finished() || self.sinks.is_finished()
    }

    /// A one-line summary of the counters.
    pub fn status(&self) -> String {
        let i = &self.ingest_stats;
        let rejected: u64 = i.rejected.iter().map(|c| c.load(Ordering::Relaxed)).sum();
        let wm = self.stream_stats.watermark.load(Ordering::Relaxed);
        let wm = chrono::DateTime::from_timestamp(wm, 0)
            .filter(|_| wm > 0)
            .map(|t| {
                t.with_timezone(&chrono_tz::Asia::Shanghai)
                    .format("%m-%d %H:%M")
                    .to_string()
            })
            .unwrap_or_else(|| "none yet".into());
        let influx = match &self.influx {
            Some(sink) => {
                let s = sink.stats();
                format!(
                    " influx written {} spooled {} dropped {}",
                    s.written.load(Ordering::Relaxed),
                    s.spooled.load(Ordering::Relaxed),
                    s.dropped.load(Ordering::Relaxed),
                )
            }
            None => String::new(),
        };
        let received = i.received.load(Ordering::Relaxed);
        let hint = if received == 0 {
            " (no message yet: devices publish to doorstep/v1/SITE_ID/DEVICE_ID on the broker)"
        } else {
            ""
        };
        format!(
            "received {} accepted {} rejected {} duplicates {} late {} watermark {wm}{influx}{hint}",
            received,
            i.accepted.load(Ordering::Relaxed),
            rejected,
            self.stream_stats.duplicates.load(Ordering::Relaxed),
            self.stream_stats.late.load(Ordering::Relaxed),
        )
    }

    /// Stops taking messages, writes what is buffered, and stops the web server.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some((stop, thread)) = self.upkeep.take() {
            drop(stop);
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        if let Some(subscriber) = self.subscriber.take() {
            subscriber.abort();
            let _ = subscriber.await;
        }
        self.intake_stop.store(true, Ordering::Relaxed);
        let ingest = self.ingest;
        let sinks = self.sinks;
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            ingest
                .join()
                .map_err(|_| anyhow::anyhow!("the ingest thread panicked"))??;
            sinks.join()
        })
        .await??;
        // Every flag has reached the engine; it saves its state as it stops.
        if let Some(alerts) = self.alerts.take() {
            alerts.stop().await;
        }
        // The sinks have ended, so nothing feeds the InfluxDB writer any more.
        if let Some(influx) = self.influx.take() {
            influx.stop().await?;
        }
        if let Some(stop) = self.web_stop.take() {
            let _ = stop.send(());
        }
        self.web_task.await??;
        Ok(())
    }
}

/// The readings of the last days in `raw_events`, from which a restart rebuilds the
/// stream's state: the local days the correction path still reaches, and the one before.
fn recent_raw_events(
    store: &analytics::Store,
    now_ms: i64,
    correction_days: usize,
    keep_file: &dyn Fn(&str) -> bool,
) -> anyhow::Result<Vec<devices::Reading>> {
    let days = correction_days as i64 + 1;
    let from_ms = now_ms - days * 86_400_000;
    let today = chrono::DateTime::from_timestamp_millis(now_ms)
        .unwrap_or_default()
        .date_naive();
    // Local dates differ from UTC ones by up to a day either way.
    let dates: Vec<_> = (-(days + 1)..=1)
        .map(|d| today + chrono::Duration::days(d))
        .collect();
    let mut readings = store.read_raw_events_where(&dates, keep_file)?;
    readings.retain(|r| r.time_ms >= from_ms && r.time_ms <= now_ms + 86_400_000);
    Ok(readings)
}
