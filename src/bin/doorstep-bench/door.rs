//! The embedded broker's front door under QoS 1: how fast concurrent publishers
//! get their PUBACKs from `doorstep run`, which acknowledges a message only once
//! it is in the journal on disk (fsync, in groups), against Mosquitto, which
//! acknowledges on receipt: once with nobody subscribed, once with a
//! `mosquitto_sub -q 1` subscriber (doorstep consumes what it acknowledges).
//!
//! The publishers are a small MQTT 3.1.1 client written here, the same for every
//! broker: each connection keeps at most [`WINDOW`] messages unacknowledged,
//! writes a batch whenever PUBACKs free room, and times each message from the
//! write of its PUBLISH to its PUBACK (by packet id). All connections run on one
//! thread, so the client takes at most one of the machine's cores.

use crate::door_client::{Packet, WINDOW, connect, drive, publish_packet};
use crate::fleet;
use crate::national::{free_port, spawn, stop};
use anyhow::Context;
use devices::sim::{Fleet, Publish};
use devices::{Registry, Value};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// 2026-11-02 (Monday) 00:00 in Shanghai, Unix ms (as in the broker ratio).
const START_MS: i64 = 1_793_548_800_000;
/// Sites of the simulated fleet (the sample registry copied, as in the broker ratio).
const SITES: usize = 100;
/// How long one broker may take for all messages.
const TIMEOUT: Duration = Duration::from_secs(600);

/// What one broker gave.
struct Figure {
    /// When the publishers started, all connected.
    began: Instant,
    /// From the first PUBLISH written to the last PUBACK read, seconds.
    seconds: f64,
    /// PUBLISH to PUBACK, microseconds, sorted.
    latencies_us: Vec<u32>,
    /// CPU time the broker's process took meanwhile, seconds.
    broker_cpu_s: f64,
    /// CPU time the publishers took meanwhile, seconds.
    client_cpu_s: f64,
}

impl Figure {
    fn rate(&self, n: usize) -> f64 {
        n as f64 / self.seconds
    }

    /// The `q` quantile of the latencies, ms.
    fn percentile(&self, q: f64) -> f64 {
        let l = &self.latencies_us;
        l.get(((l.len() as f64 * q) as usize).min(l.len().saturating_sub(1)))
            .map_or(f64::NAN, |us| f64::from(*us) / 1000.0)
    }
}

/// A child process killed when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// CPU time (user and system, all threads) process `pid` has taken, seconds.
fn cpu_s(pid: u32) -> f64 {
    // Fields 14 and 15 of /proc/PID/stat, after the command in parentheses; in clock
    // ticks, 100 a second on Linux.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let fields: Vec<u64> = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .skip(11)
                .take(2)
                .map(|f| f.parse().ok())
                .collect::<Option<_>>()?;
            Some(fields.iter().sum::<u64>() as f64 / 100.0)
        })
        .unwrap_or(f64::NAN)
}

/// Publishes each client's messages on its own connection to `port` (the broker is
/// process `broker`), all at once.
fn publish_all(
    port: u16,
    broker: u32,
    label: &str,
    per_client: &[Vec<Packet>],
) -> anyhow::Result<Figure> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut clients = Vec::with_capacity(per_client.len());
        for (c, packets) in per_client.iter().enumerate() {
            let id = format!("bench-door-{label}-{c}");
            let packets: Vec<Packet> = packets
                .iter()
                .map(|p| Packet {
                    bytes: p.bytes.clone(),
                    pkid_at: p.pkid_at,
                })
                .collect();
            clients.push((connect(port, &id).await?, id, packets));
        }
        let cpu = (cpu_s(broker), cpu_s(std::process::id()));
        let began = Instant::now();
        let tasks: Vec<_> = clients
            .into_iter()
            .map(|(s, id, packets)| tokio::spawn(drive(s, id, packets)))
            .collect();
        let all = async {
            let (mut end, mut latencies_us) = (began, Vec::new());
            for t in tasks {
                let (last, l) = t.await??;
                end = end.max(last);
                latencies_us.extend(l);
            }
            anyhow::Ok((end, latencies_us))
        };
        let (end, mut latencies_us) = tokio::time::timeout(TIMEOUT, all)
            .await
            .map_err(|_| anyhow::anyhow!("{label}: not every PUBACK within {TIMEOUT:?}"))??;
        let (broker_cpu_s, client_cpu_s) =
            (cpu_s(broker) - cpu.0, cpu_s(std::process::id()) - cpu.1);
        latencies_us.sort_unstable();
        Ok(Figure {
            began,
            seconds: end.duration_since(began).as_secs_f64(),
            latencies_us,
            broker_cpu_s,
            client_cpu_s,
        })
    })
}

/// A GET on the web port: status code and body.
fn get(web: u16, path: &str) -> anyhow::Result<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", web))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    Ok((code, body))
}

/// Waits until `/readyz` answers 200.
fn wait_ready(web: u16, child: &mut Child) -> anyhow::Result<()> {
    let began = Instant::now();
    loop {
        if let Ok((200, _)) = get(web, "/readyz") {
            return Ok(());
        }
        anyhow::ensure!(
            child.try_wait()?.is_none(),
            "doorstep exited while starting"
        );
        anyhow::ensure!(
            began.elapsed() < Duration::from_secs(120),
            "doorstep was not ready within 120 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The Prometheus counters, summed over their labels.
fn metrics(web: u16) -> anyhow::Result<HashMap<String, f64>> {
    let (code, body) = get(web, "/metrics")?;
    anyhow::ensure!(code == 200, "/metrics answered {code}");
    let mut out = HashMap::new();
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        let Some((name, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let name = name.split('{').next().unwrap_or(name);
        if let Ok(v) = value.parse::<f64>() {
            *out.entry(name.to_owned()).or_default() += v;
        }
    }
    Ok(out)
}

/// What doorstep holds on disk after the run, against what was sent.
struct Held {
    raw_events: usize,
    /// Sent messages not found in `raw_events`.
    missing: usize,
    quarantine_files: usize,
    counters: HashMap<String, f64>,
}

/// A message's identity in `raw_events`: device, event time and whether it is a heartbeat.
type Key = (usize, i64, bool);

fn key_of(registry: &Registry, m: &Publish) -> Option<Key> {
    let device = registry.device_by_id(m.topic.rsplit('/').next()?)?;
    let heartbeat = br#""type":"status""#;
    let status = m.payload.windows(heartbeat.len()).any(|w| w == heartbeat);
    Some((device.ix(), m.time_ms, status))
}

fn parquet_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => parquet_files(&e.path()),
            _ => usize::from(e.path().extension().is_some_and(|x| x == "parquet")),
        })
        .sum()
}

/// Publishes to a starting `doorstep run`; the figure and its counters at the last PUBACK.
fn measure_doorstep(
    child: &mut Child,
    mqtt: u16,
    web: u16,
    per_client: &[Vec<Packet>],
) -> anyhow::Result<(Figure, HashMap<String, f64>)> {
    wait_ready(web, child)?;
    eprintln!("door: doorstep ready; publishing");
    let figure = publish_all(mqtt, child.id(), "doorstep", per_client)?;
    Ok((figure, metrics(web)?))
}

/// `doorstep run` on its embedded broker: publishes, then kills it at the last
/// PUBACK (SIGKILL: only what is on disk counts), starts it once more so that it
/// writes its journal to Parquet, stops it and reads `raw_events` back.
fn doorstep(
    dir: &Path,
    registry: &Arc<Registry>,
    messages: &[Publish],
    per_client: &[Vec<Packet>],
    end_ms: i64,
) -> anyhow::Result<(Figure, Held)> {
    let (mqtt, web) = (free_port()?, free_port()?);
    let start = chrono::DateTime::from_timestamp_millis(end_ms)
        .context("clock start")?
        .to_rfc3339();
    // The clock stands at the end of the simulated span, so every message is recent.
    std::fs::write(
        dir.join("doorstep.toml"),
        format!(
            "registry = \"registry.toml\"\ndata_dir = \"data\"\n[mqtt]\nlisten = \"127.0.0.1:{mqtt}\"\n\
             [web]\nlisten = \"127.0.0.1:{web}\"\n[clock]\nstart = \"{start}\"\n"
        ),
    )?;
    let config = dir.join("doorstep.toml");
    let mut child = spawn(&config, &dir.join("doorstep.log"), &[])?;
    let run = measure_doorstep(&mut child, mqtt, web, per_client);
    let _ = child.kill();
    let _ = child.wait();
    let (figure, counters) = run?;

    eprintln!("door: doorstep killed at the last PUBACK; restarting it to write its journal");
    let mut again = spawn(&config, &dir.join("doorstep-restart.log"), &[])?;
    let ready = wait_ready(web, &mut again);
    stop(std::slice::from_mut(&mut again));
    ready?;

    let data = dir.join("data");
    let store = analytics::Store::open(&data, Arc::clone(registry))?;
    let day = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).map(|t| t.date_naive());
    let (first, last) = (
        day(START_MS - 86_400_000).context("date")?,
        day(end_ms + 86_400_000).context("date")?,
    );
    let dates: Vec<_> = first.iter_days().take_while(|d| *d <= last).collect();
    let readings = store.read_raw_events(&dates)?;
    let mut expected: HashMap<Key, u32> = HashMap::new();
    for m in messages {
        if let Some(k) = key_of(registry, m) {
            *expected.entry(k).or_default() += 1;
        }
    }
    for r in &readings {
        let k = (
            r.device.ix(),
            r.time_ms,
            matches!(r.value, Value::Status(_)),
        );
        if let Some(c) = expected.get_mut(&k)
            && *c > 0
        {
            *c -= 1;
        }
    }
    let unkeyed = messages
        .iter()
        .filter(|m| key_of(registry, m).is_none())
        .count();
    Ok((
        figure,
        Held {
            raw_events: readings.len(),
            missing: expected.values().map(|c| *c as usize).sum::<usize>() + unkeyed,
            quarantine_files: parquet_files(&data.join(analytics::quarantine::TABLE)),
            counters,
        },
    ))
}

/// How long appending 64 KiB to a file in `dir` and syncing it (`fdatasync`, as the
/// journal does) takes here: p50 and p99, ms.
fn sync_ms(dir: &Path) -> anyhow::Result<(f64, f64)> {
    let path = dir.join("sync-probe");
    let mut f = std::fs::File::create(&path)?;
    let block = vec![b'x'; 64 << 10];
    let mut took = Vec::with_capacity(200);
    for _ in 0..200 {
        f.write_all(&block)?;
        let t = Instant::now();
        f.sync_data()?;
        took.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    drop(f);
    std::fs::remove_file(&path)?;
    took.sort_by(f64::total_cmp);
    Ok((took[100], took[198]))
}

/// A Mosquitto on a free port as the broker ratio starts it, but with the
/// clients' window: `persistence false`, `max_inflight_messages 100`; nothing
/// dropped for a subscriber that is behind (`max_queued_messages 0`).
fn mosquitto(dir: &Path, name: &str) -> anyhow::Result<(Guard, u16)> {
    let port = free_port()?;
    let conf = dir.join(format!("{name}.conf"));
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
             max_inflight_messages {WINDOW}\nmax_queued_messages 0\nlog_dest stderr\n\
             log_type error\nlog_type warning\nlog_type notice\nlog_type subscribe\n"
        ),
    )?;
    let child = Command::new("mosquitto")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(format!("{name}.log")))?)
        .spawn()
        .context("cannot start mosquitto (apt-get install mosquitto)")?;
    let guard = Guard(child);
    let began = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        anyhow::ensure!(
            began.elapsed() < Duration::from_secs(10),
            "mosquitto did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((guard, port))
}

/// Mosquitto with nobody subscribed.
fn mosquitto_alone(dir: &Path, per_client: &[Vec<Packet>]) -> anyhow::Result<Figure> {
    let (broker, port) = mosquitto(dir, "mosquitto-alone")?;
    publish_all(port, broker.0.id(), "alone", per_client)
}

/// Mosquitto with `mosquitto_sub -q 1` taking every message to /dev/null; also
/// how long until the subscriber had them all, seconds from the first PUBLISH.
fn mosquitto_with_sub(
    dir: &Path,
    per_client: &[Vec<Packet>],
    n: usize,
) -> anyhow::Result<(Figure, f64)> {
    let (broker, port) = mosquitto(dir, "mosquitto-sub")?;
    let mut sub = Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1"])
        .args(["-i", "bench-door-sub", "-t", "doorstep/v1/#"])
        .args(["-C", &n.to_string(), "-W", &TIMEOUT.as_secs().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot run mosquitto_sub (apt-get install mosquitto-clients)")?;
    // Subscribed once Mosquitto logs the subscription.
    let log = dir.join("mosquitto-sub.log");
    let began = Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .any(|l| l.contains("bench-door-sub") && l.contains("doorstep/v1/#"))
    {
        if began.elapsed() > Duration::from_secs(10) {
            let _ = sub.kill();
            let _ = sub.wait();
            anyhow::bail!("mosquitto_sub did not subscribe");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let pid = sub.id().to_string();
    let exited = std::thread::spawn(move || (sub.wait(), Instant::now()));
    let figure = match publish_all(port, broker.0.id(), "sub", per_client) {
        Ok(f) => f,
        Err(e) => {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            return Err(e);
        }
    };
    let (status, at) = exited
        .join()
        .map_err(|_| anyhow::anyhow!("the thread waiting for mosquitto_sub"))?;
    anyhow::ensure!(
        status?.success(),
        "mosquitto_sub did not receive all {n} messages"
    );
    let drained = at.duration_since(figure.began).as_secs_f64();
    Ok((figure, drained))
}

pub fn run(n: usize, clients: usize) -> anyhow::Result<()> {
    anyhow::ensure!(clients > 0, "--clients must be at least 1");
    let registry = fleet::registry(SITES)?;
    let per_day = registry.devices.len() * 1440;
    let days = (n / per_day.max(1) + 1) as i64;
    let end_ms = START_MS + days * 86_400_000;
    let mut messages = Fleet::new(Arc::clone(&registry), 5, START_MS).step(end_ms);
    messages.truncate(n);
    let n = messages.len();
    let span_h = messages
        .last()
        .map_or(0.0, |m| (m.time_ms - START_MS) as f64 / 3_600_000.0);
    // Split by device, as gateways would: a device's messages stay in order on one connection.
    let mut per_client: Vec<Vec<Packet>> = (0..clients).map(|_| Vec::new()).collect();
    for m in &messages {
        let c = key_of(&registry, m).map_or(0, |k| k.0 % clients);
        per_client[c].push(publish_packet(m));
    }
    let dir = std::env::temp_dir().join(format!("doorstep-bench-door-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("registry.toml"), fleet::registry_toml(SITES)?)?;

    eprintln!("door: {n} messages over {clients} connections: Mosquitto, nobody subscribed");
    let alone = mosquitto_alone(&dir, &per_client)?;
    eprintln!("door: Mosquitto with mosquitto_sub -q 1");
    let (with_sub, drained_s) = mosquitto_with_sub(&dir, &per_client, n)?;
    eprintln!("door: doorstep run, embedded broker");
    let (ours, held) = doorstep(&dir, &registry, &messages, &per_client, end_ms)?;
    let (sync_p50, sync_p99) = sync_ms(&dir)?;
    if std::env::var_os("DOORSTEP_BENCH_KEEP").is_some() {
        eprintln!("door: kept {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let version = Command::new("mosquitto")
        .arg("-h")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("mosquitto version "))
                .map(|v| format!(" {}", v.trim()))
        })
        .unwrap_or_default();
    let counter = |name: &str| held.counters.get(name).copied().unwrap_or(0.0) as u64;

    println!("## Embedded broker: QoS 1 with acknowledgement after the journal\n");
    println!(
        "{n} QoS 1 messages of the simulated fleet ({} sites, {} devices: counts, presence, door deltas and \
         totals, heartbeats; the first {span_h:.1} hours of {} from 2026-11-02), split by device over {clients} \
         connections (MQTT 3.1.1, clean session), all publishing at once, each keeping {WINDOW} messages \
         unacknowledged. Timed from the first PUBLISH to the last PUBACK; latency from writing a PUBLISH to \
         reading its PUBACK. doorstep: `doorstep run` (release, default settings: embedded broker, 1 dataflow \
         worker, Parquet every 5 s) sends PUBACK once the message is in its journal (fsync, in groups). \
         Mosquitto{version} (`persistence false`, `max_inflight_messages {WINDOW}`, `max_queued_messages 0`) \
         sends it on receipt; once with nobody subscribed, once with `mosquitto_sub -q 1` writing to /dev/null \
         (doorstep consumes what it takes in itself). The client is the bench's own (one thread for all \
         connections, the same for every broker) and shares the machine's cores with the broker. CPU: user and \
         system time over the run, of the broker's process (doorstep's includes its dataflow; Mosquitto's \
         leaves out `mosquitto_sub`'s) and of the publishers. Measured by `doorstep-bench door --messages {n} --clients {clients}`.\n",
        registry.sites.len(),
        registry.devices.len(),
        if days == 1 {
            "a day".to_owned()
        } else {
            format!("{days} days")
        },
    );
    println!(
        "| broker | seconds | messages per second | PUBACK p50 | PUBACK p99 | broker CPU | client CPU |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let row = |name: &str, f: &Figure| {
        println!(
            "| {name} | {:.2} | {:.0} | {:.1} ms | {:.1} ms | {:.2} s | {:.2} s |",
            f.seconds,
            f.rate(n),
            f.percentile(0.5),
            f.percentile(0.99),
            f.broker_cpu_s,
            f.client_cpu_s,
        );
    };
    row("doorstep (PUBACK after the journal's fsync)", &ours);
    row("Mosquitto, nobody subscribed", &alone);
    row("Mosquitto, `mosquitto_sub -q 1` subscribed", &with_sub);
    println!(
        "| **doorstep / Mosquitto with subscriber** | | **{:.2}** | | | | |",
        ours.rate(n) / with_sub.rate(n)
    );
    println!(
        "| doorstep / Mosquitto alone | | {:.2} | | | | |\n",
        ours.rate(n) / alone.rate(n)
    );
    println!(
        "With the subscriber, `mosquitto_sub` had all {n} messages {drained_s:.2} s after the first PUBLISH. \
         doorstep's counters at the last PUBACK: {} received, {} accepted, {} rejected, {} taken as \
         redelivered, {} times a connection slowed to its rate limit, {} times the door waited for the \
         intake. doorstep was then killed (SIGKILL) and started once more to write its journal to Parquet: \
         `raw_events` holds {} rows, {} of the messages sent are not among them{}.\n",
        counter("doorstep_ingest_received_total"),
        counter("doorstep_ingest_accepted_total"),
        counter("doorstep_ingest_rejected_total"),
        counter("doorstep_ingest_redelivered_total"),
        counter("doorstep_gate_throttled_total"),
        counter("doorstep_ingest_backpressure_total"),
        held.raw_events,
        held.missing,
        if held.quarantine_files == 0 {
            ", `quarantine` is empty".to_owned()
        } else {
            format!(
                ", `quarantine` has {} files (the rejected ones)",
                held.quarantine_files
            )
        },
    );
    let ratio = ours.rate(n) / with_sub.rate(n);
    println!(
        "The ratio is doorstep's rate over Mosquitto's with a subscriber (both then take every message off \
         the wire and hand it on). {} Syncing a 64 KiB append here takes {sync_p50:.2} ms (p99 \
         {sync_p99:.2} ms); one sync covers every message that arrived while the one before it ran, up to \
         the {} the publishers keep in flight. PUBACK latency under this load is mostly the wait in that \
         window (in flight / rate), not the sync.\n",
        if ratio >= 1.0 {
            "Above 1: although each PUBACK waits for the journal's sync, devices get theirs faster from \
             doorstep, whose gate, intake and dataflow use every core, while Mosquitto runs on one thread \
             (compare the CPU columns)."
        } else {
            "Below 1: waiting for the journal's sync (and validating, journaling and consuming every \
             message) costs doorstep more than Mosquitto spends on receiving and forwarding."
        },
        clients * WINDOW,
    );
    anyhow::ensure!(
        held.missing as u64 <= counter("doorstep_ingest_rejected_total"),
        "doorstep acknowledged {} messages that are neither in raw_events nor rejected",
        held.missing
    );
    Ok(())
}
