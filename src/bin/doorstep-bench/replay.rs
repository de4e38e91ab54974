//! Replay throughput: events a second through decode, validation, the dataflow
//! and the Parquet sinks, without a broker.

use crate::fleet;
use analytics::Store;
use devices::sim::Fleet;
use devices::{Limits, Validator};
use doorstep::pipeline::{self, Broker, Spec};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// 2026-11-02 (Monday) 00:00 in Shanghai, Unix ms.
const START_MS: i64 = 1_793_548_800_000;

pub fn run(sites: usize, days: i64, workers: usize) -> anyhow::Result<()> {
    let registry = fleet::registry(sites)?;
    eprintln!(
        "replay: simulating {days} days of {} devices",
        registry.devices.len()
    );
    let mut fleet = Fleet::new(Arc::clone(&registry), 3, START_MS);
    let messages = fleet.step(START_MS + days * 86_400_000);
    let n = messages.len();
    let dir = std::env::temp_dir().join(format!("doorstep-bench-replay-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(&dir, Arc::clone(&registry))?;
    let validator = Validator::new(Arc::clone(&registry), Limits::default());
    eprintln!("replay: {n} messages");

    let began = Instant::now();
    let mut readings = Vec::with_capacity(n);
    for p in &messages {
        let r = validator.check(&p.topic, &p.payload, p.time_ms + 500);
        readings.push(r.map_err(|e| anyhow::anyhow!("simulated message rejected: {e:?}"))?);
    }
    let decoded = began.elapsed();
    for chunk in readings.chunks(200_000) {
        store.write_raw_events(chunk)?;
    }
    let raw_written = began.elapsed();
    let config = stream::StreamConfig {
        workers,
        ..stream::StreamConfig::default()
    };
    let until = START_MS / 1000 + days * 86_400;
    let out = stream::replay(Arc::clone(&registry), &config, readings, 4096, until)?;
    let streamed = began.elapsed();
    store.write_windows(&out.windows)?;
    store.write_flags(&out.flags)?;
    store.write_site_days(&out.site_days)?;
    store.write_idle_slots(&out.idle_slots)?;
    store.write_device_days(&out.device_days)?;
    let total = began.elapsed();
    let _ = std::fs::remove_dir_all(&dir);

    let synced = through_doorstep(&registry, &messages, workers, days, true)?;
    let unsynced = through_doorstep(&registry, &messages, workers, days, false)?;
    let rate = |d: std::time::Duration| n as f64 / d.as_secs_f64();
    println!("## Replay throughput\n");
    println!(
        "{n} messages of a simulated fleet ({} sites, {} devices, {days} days), held in memory as MQTT payloads, \
         then decoded and validated, written to `raw_events`, run through the timely dataflow ({workers} worker{}) \
         and its tables written. Measured by `doorstep-bench replay --sites {sites} --days {days} --workers {workers}`.\n",
        registry.sites.len(),
        registry.devices.len(),
        if workers == 1 { "" } else { "s" }
    );
    println!(
        "Through `doorstep run`'s own pipeline (the embedded broker's door, the intake with its journal, \
         redelivery filter and flood guard, `raw_events` every 5 s, the dataflow, the sinks writing the tables; \
         messages handed to the door in time order by one feeder, no sockets), timed until every table is written:\n"
    );
    println!("| journal | seconds | events per second | accepted | rejected |");
    println!("|---|---:|---:|---:|---:|");
    for (name, t) in [
        ("synced (as `doorstep run`)", &synced),
        ("not synced", &unsynced),
    ] {
        println!(
            "| {name} | {:.2} | **{:.0}** | {} | {} |",
            t.took.as_secs_f64(),
            rate(t.took),
            t.accepted,
            t.rejected
        );
    }
    println!("\nEach stage alone, one after the other:\n");
    println!("| stage | seconds | events per second |");
    println!("|---|---:|---:|");
    println!(
        "| decode + validate | {:.2} | {:.0} |",
        decoded.as_secs_f64(),
        rate(decoded)
    );
    println!(
        "| `raw_events` Parquet | {:.2} | {:.0} |",
        (raw_written - decoded).as_secs_f64(),
        rate(raw_written - decoded)
    );
    println!(
        "| dataflow | {:.2} | {:.0} |",
        (streamed - raw_written).as_secs_f64(),
        rate(streamed - raw_written)
    );
    println!(
        "| metric tables | {:.2} | |",
        (total - streamed).as_secs_f64()
    );
    println!(
        "| **all** | {:.2} | **{:.0}** |\n",
        total.as_secs_f64(),
        rate(total)
    );
    Ok(())
}

/// Through `doorstep run`'s own pipeline (`doorstep::pipeline`, embedded
/// broker): each message handed to the broker's door is checked as the gate
/// checks a device's, journaled (synced or not), filtered for redeliveries and
/// floods, written to `raw_events` every flush and fed to the dataflow, whose
/// outputs the sinks write to the tables. One feeder in time order, as a
/// gateway forwarding the fleet would (feeders apart in event time would put
/// the slower one's devices behind the watermark, onto the correction path).
/// Timed from the first message handed in until the pipeline has stopped with
/// every table written.
fn through_doorstep(
    registry: &Arc<devices::Registry>,
    messages: &[devices::sim::Publish],
    workers: usize,
    days: i64,
    journal_sync: bool,
) -> anyhow::Result<Through> {
    let dir = std::env::temp_dir().join(format!(
        "doorstep-bench-through-{}-{journal_sync}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let end_ms = START_MS + days * 86_400_000;
    let spec = Spec {
        registry: Arc::clone(registry),
        data_dir: dir.clone(),
        broker: Broker::Embedded(
            "127.0.0.1:0".parse()?,
            None,
            None,
            ingest::BrokerLimits::default(),
        ),
        session: ingest::Session {
            client_id: "doorstep".into(),
            credentials: None,
            ca_pem: None,
        },
        web: "127.0.0.1:0".parse()?,
        web_tokens: None,
        stream: stream::StreamConfig {
            workers,
            // The whole replay counts in its windows.
            correction_days: days as usize + 1,
            ..stream::StreamConfig::default()
        },
        clock: devices::Clock::simulated(end_ms + 60_000, 1.0),
        flush: Duration::from_secs(5),
        influx: None,
        upkeep: doorstep::upkeep::Upkeep::default(),
        quarantine: ingest::QuarantineLimits::default(),
        cluster: None,
        journal_sync,
        alerts: doorstep::alerts::AlertsConfig::default(),
        service_day: Default::default(),
        switching: false,
    };
    let feed: Vec<(String, Vec<u8>)> = messages
        .iter()
        .map(|p| (p.topic.clone(), p.payload.clone()))
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let through = rt.block_on(async move {
        let running = pipeline::start(spec).await?;
        let door = running
            .door()
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no door on the embedded broker"))?;
        let stats = Arc::clone(&running.ingest_stats);
        let began = Instant::now();
        for (topic, payload) in feed {
            if !door.hand(topic, payload).await {
                anyhow::bail!("the intake stopped while the replay was handed in");
            }
        }
        drop(door);
        running.stop().await?;
        let took = began.elapsed();
        let rejected = stats
            .rejected
            .iter()
            .map(|c| c.load(std::sync::atomic::Ordering::Relaxed))
            .sum();
        anyhow::Ok(Through {
            took,
            accepted: stats.accepted.load(std::sync::atomic::Ordering::Relaxed),
            rejected,
        })
    })?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(through)
}

/// One run through doorstep's pipeline.
struct Through {
    took: Duration,
    accepted: u64,
    rejected: u64,
}
