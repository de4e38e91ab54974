//! National load: 150,000 devices in 75,000 rooms of 5,000 sites sending 5,000
//! messages a second through the embedded broker into `doorstep run`; end-to-end
//! latency from publish to the live push (server-sent events) and memory.

use anyhow::Context;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SITES: usize = 5_000;
const ROOMS_PER_SITE: usize = 15;
const PROBES: usize = 100;

/// 5,000 sites of 15 rooms with a counter and a presence sensor each, and a probe
/// site of 100 rooms with a counter each.
fn registry() -> String {
    let mut s = String::with_capacity(40 << 20);
    for site in 0..SITES {
        s += &format!(
            "[[site]]\nid = \"s{site}\"\nname = \"社区{site}\"\ncity = \"城市{}\"\n",
            site % 50
        );
        for room in 0..ROOMS_PER_SITE {
            s += &format!(
                "[[site.room]]\nid = \"r{room}\"\nname = \"房间{room}\"\ncapacity = 30\narea_m2 = 40\n\
                 schedule = [\"daily 00:00-23:59 culture\"]\n"
            );
        }
        for room in 0..ROOMS_PER_SITE {
            for (d, kind) in ["count", "presence"].into_iter().enumerate() {
                s += &format!(
                    "[[site.device]]\nid = \"s{site}-r{room}-{d}\"\nroom = \"r{room}\"\nkind = \"{kind}\"\ninterval_s = 30\n"
                );
            }
        }
    }
    s += "[[site]]\nid = \"probe\"\nname = \"探针社区\"\n";
    for p in 0..PROBES {
        s += &format!(
            "[[site.room]]\nid = \"p{p}\"\nname = \"探针{p}\"\ncapacity = 1000\narea_m2 = 10\n\
             schedule = [\"daily 00:00-23:59 culture\"]\n"
        );
    }
    for p in 0..PROBES {
        s += &format!(
            "[[site.device]]\nid = \"probe-{p}\"\nroom = \"p{p}\"\nkind = \"count\"\ninterval_s = 1\n"
        );
    }
    s
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// (probe room, count) -> when it was published.
type Sent = Arc<Mutex<HashMap<(usize, u32), Instant>>>;

/// Reads the live push stream and turns probe events into latencies; connects
/// again when the stream ends (a registry switch restarts the web server).
fn listen(web: u16, sent: Sent, latencies: Arc<Mutex<Vec<(Instant, Duration)>>>) {
    // Until the load is over (its copy of `sent` dropped).
    while Arc::strong_count(&sent) > 1 {
        let _ = listen_once(web, &sent, &latencies);
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn listen_once(
    web: u16,
    sent: &Sent,
    latencies: &Mutex<Vec<(Instant, Duration)>>,
) -> anyhow::Result<()> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", web))?;
    write!(
        s,
        "GET /api/live/events HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n"
    )?;
    let reader = BufReader::new(s);
    for line in reader.lines() {
        let line = line?;
        let Some(data) = line.strip_prefix("data:") else {
            continue;
        };
        if !data.contains("\"probe\"") {
            continue;
        }
        let now = Instant::now();
        let Ok(v) = serde_json::from_str::<serde_json::Value>(data.trim()) else {
            continue;
        };
        let room = v["id"].as_str().unwrap_or("");
        let (Some(p), Some(n)) = (
            room.strip_prefix('p').and_then(|p| p.parse::<usize>().ok()),
            v["occupancy"].as_u64(),
        ) else {
            continue;
        };
        if let Some(t) = sent
            .lock()
            .map_err(|_| anyhow::anyhow!("lock"))?
            .remove(&(p, n as u32))
        {
            latencies
                .lock()
                .map_err(|_| anyhow::anyhow!("lock"))?
                .push((t, now - t));
        }
    }
    Ok(())
}

/// Days of history written into the tables before a run: the flags' lookback.
pub const HISTORY_DAYS: i64 = 28;

/// A national run's folder: the registry, `HISTORY_DAYS` of history in the tables,
/// and a config with free ports. Returns (mqtt port, web port, history rows).
pub fn setup(dir: &std::path::Path) -> anyhow::Result<(u16, u16, u64)> {
    prepare(dir)?;
    let registry = std::sync::Arc::new(devices::Registry::load(&dir.join("registry.json"))?);
    eprintln!(
        "writing {HISTORY_DAYS} days of history for {} rooms",
        registry.rooms.len()
    );
    let rows = crate::history::write(&dir.join("data"), &registry, HISTORY_DAYS)?;
    let (mqtt, web) = (free_port()?, free_port()?);
    std::fs::write(
        dir.join("doorstep.toml"),
        format!(
            "registry = \"registry.json\"\ndata_dir = \"data\"\n[mqtt]\nlisten = \"127.0.0.1:{mqtt}\"\n\
             [web]\nlisten = \"127.0.0.1:{web}\"\n[stream]\nworkers = 2\n"
        ),
    )?;
    Ok((mqtt, web, rows))
}

/// A gauge or counter from `/metrics` on `web`.
pub fn metric(web: u16, name: &str) -> Option<f64> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", web)).ok()?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut body = String::new();
    std::io::Read::read_to_string(&mut s, &mut body).ok()?;
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

pub fn run(seconds: u64, rate: usize) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("doorstep-bench-national-{}", std::process::id()));
    let (mqtt, web, history_rows) = setup(&dir)?;
    let began = Instant::now();
    let child = spawn(&dir.join("doorstep.toml"), &dir.join("doorstep.log"), &[])?;
    let pid = child.id();
    wait_web(web)?;
    let started_s = began.elapsed().as_secs_f64();
    let idle_rss = rss_kib(pid, "VmRSS:");
    let load = load(mqtt, web, &[pid], seconds, rate)?;
    let peak = rss_kib(pid, "VmHWM:");
    let checkpoints = metric(web, "doorstep_checkpoints_written_total").unwrap_or(0.0);
    let ck_bytes = metric(web, "doorstep_checkpoint_bytes").unwrap_or(0.0);
    let ck_secs = metric(web, "doorstep_checkpoint_write_seconds").unwrap_or(0.0);
    stop(&mut [child]);
    let history_mb = dir_bytes(&dir.join("data").join("stream-history")) as f64 / 1e6;
    let _ = std::fs::remove_dir_all(&dir);
    let (published, pct) = (load.published, |q| load.percentile(q));
    let lat = &load.latencies;
    let rss_samples = &load.rss;
    // RSS at each whole minute of load: where it levels off.
    let by_minute: Vec<(u64, u64)> = match rss_samples.first() {
        Some(&(t0, _)) => (1..=seconds / 60)
            .filter_map(|m| {
                rss_samples
                    .iter()
                    .rev()
                    .find(|(t, _)| t.duration_since(t0) <= Duration::from_secs(m * 60))
                    .map(|&(_, kib)| (m, kib / 1024))
            })
            .collect(),
        None => Vec::new(),
    };
    println!("## National load\n");
    println!(
        "`doorstep run` (release, 2 dataflow workers, embedded broker) with a registry of {SITES} sites, {} rooms and {} devices, \
         fed {rate} messages a second for {seconds} s ({published} messages) by one MQTT client, plus a probe message every \
         20 ms to one of {PROBES} probe rooms; latency from handing the probe to the MQTT client to its change arriving \
         on `/api/live/events`. The tables hold {HISTORY_DAYS} days of history before the start ({history_rows} rows of \
         `room_hour`, `room_day` and `device_day`, written by the bench), so the rooms' flag and idle-slot lookback \
         starts full. Memory from `/proc`. Measured by `doorstep-bench national --seconds {seconds} --rate {rate}`.\n",
        SITES * ROOMS_PER_SITE + PROBES,
        SITES * ROOMS_PER_SITE * 2 + PROBES
    );
    println!("| figure | value |");
    println!("|---|---:|");
    println!(
        "| start-up (registry of {} devices) | {started_s:.1} s |",
        SITES * ROOMS_PER_SITE * 2 + PROBES
    );
    println!("| probes seen | {} |", lat.len());
    println!("| latency p50 | {:.1} ms |", pct(0.5));
    println!("| latency p99 | **{:.1} ms** |", pct(0.99));
    println!("| RSS after start-up | {} MB |", idle_rss / 1024);
    println!("| peak RSS (VmHWM) | **{} MB** |", peak / 1024);
    for (m, mb) in by_minute {
        println!("| RSS after {m} min of load | {mb} MB |");
    }
    println!("| correction history on disk at the end | {history_mb:.0} MB |");
    println!("| checkpoints written (every 300 s) | {checkpoints} |");
    println!("| last checkpoint: size | {:.0} MB |", ck_bytes / 1e6);
    println!("| last checkpoint: asked to committed | {ck_secs:.1} s |\n");
    Ok(())
}

/// A fresh folder holding the national registry (JSON, as a national registry
/// would be: TOML of this size takes about 800 MB to parse).
pub fn prepare(dir: &std::path::Path) -> anyhow::Result<()> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    let file: devices::RegistryFile = toml::from_str(&registry())?;
    std::fs::write(dir.join("registry.json"), serde_json::to_vec(&file)?)?;
    Ok(())
}

/// `doorstep run --config config ARGS` from next to this binary, its log in `log`.
pub fn spawn(
    config: &std::path::Path,
    log: &std::path::Path,
    args: &[&str],
) -> anyhow::Result<std::process::Child> {
    let exe = std::env::current_exe()?
        .parent()
        .context("bench binary directory")?
        .join("doorstep");
    Command::new(exe)
        .args(["run", "--config"])
        .arg(config)
        .args(args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log)?)
        .spawn()
        .context("cannot start doorstep (cargo build --release)")
}

/// Waits until the web page answers.
pub fn wait_web(web: u16) -> anyhow::Result<()> {
    let began = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", web)).is_err() {
        anyhow::ensure!(
            began.elapsed() < Duration::from_secs(120),
            "doorstep did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// SIGTERM to all, then waits for each.
pub fn stop(children: &mut [std::process::Child]) {
    for c in children.iter() {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
    }
    for c in children.iter_mut() {
        let _ = c.wait();
    }
}

/// What a run of national load gave.
pub struct Load {
    /// Messages published.
    pub published: usize,
    /// Probe latencies, sorted.
    pub latencies: Vec<Duration>,
    /// Each probe seen: when it was published, and its latency.
    pub probes: Vec<(Instant, Duration)>,
    /// (when, RSS in KiB summed over the processes).
    pub rss: Vec<(Instant, u64)>,
}

impl Load {
    /// The longest latency of the probes published from `from` to `to`, ms,
    /// and how many there were.
    pub fn worst_between(&self, from: Instant, to: Instant) -> (f64, usize) {
        let within: Vec<_> = self
            .probes
            .iter()
            .filter(|(t, _)| *t >= from && *t <= to)
            .collect();
        let worst = within.iter().map(|p| p.1).max().unwrap_or_default();
        (worst.as_secs_f64() * 1000.0, within.len())
    }

    /// The `q` quantile of the latencies, ms.
    pub fn percentile(&self, q: f64) -> f64 {
        let lat = &self.latencies;
        lat.get(((lat.len() as f64 * q) as usize).min(lat.len().saturating_sub(1)))
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    }
}

/// Publishes national load to the broker on `mqtt` for `seconds`, with probes whose
/// changes are timed on `web`'s live push; samples the RSS of `pids`.
pub fn load(mqtt: u16, web: u16, pids: &[u32], seconds: u64, rate: usize) -> anyhow::Result<Load> {
    let sent: Sent = Arc::default();
    let latencies: Arc<Mutex<Vec<(Instant, Duration)>>> = Arc::default();
    {
        let (sent, latencies) = (Arc::clone(&sent), Arc::clone(&latencies));
        std::thread::spawn(move || listen(web, sent, latencies));
    }
    std::thread::sleep(Duration::from_millis(500));
    let rss_now = || pids.iter().map(|p| rss_kib(*p, "VmRSS:")).sum::<u64>();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut rss_samples = Vec::new();
    let published = rt.block_on(async {
        let url: ingest::BrokerUrl = format!("mqtt://127.0.0.1:{mqtt}")
            .parse()
            .map_err(|e: String| anyhow::anyhow!(e))?;
        let session = ingest::Session {
            client_id: "bench-national".into(),
            credentials: None,
            ca_pem: None,
        };
        let publisher = ingest::Publisher::connect(&url, &session).await?;
        let devices = SITES * ROOMS_PER_SITE * 2;
        let tick = Duration::from_millis(10);
        let per_tick = (rate / 100).max(1);
        let mut next = tokio::time::Instant::now();
        let (mut n, mut probe_n) = (0usize, 0u32);
        let end = Instant::now() + Duration::from_secs(seconds);
        while Instant::now() < end {
            let ts = chrono::Utc::now().timestamp_millis();
            for _ in 0..per_tick {
                let d = n % devices;
                let (site, room, k) = (d / (ROOMS_PER_SITE * 2), (d / 2) % ROOMS_PER_SITE, d % 2);
                let payload = if k == 0 {
                    format!(
                        r#"{{"type":"count","ts":{ts},"count":{}}}"#,
                        (n / devices + d) % 12
                    )
                } else {
                    format!(
                        r#"{{"type":"presence","ts":{ts},"present":{}}}"#,
                        !(n / devices + d).is_multiple_of(3)
                    )
                };
                publisher
                    .publish(
                        format!("doorstep/v1/s{site}/s{site}-r{room}-{k}"),
                        payload.into_bytes(),
                    )
                    .await?;
                n += 1;
            }
            // A probe every 20 ms, each a count its room did not have before.
            if n % (2 * per_tick) < per_tick {
                probe_n += 1;
                let p = probe_n as usize % PROBES;
                // Within the room's capacity (far larger counts are rejected), unique per probe for 1,000 rounds.
                let count = (probe_n as usize / PROBES) % 1000 + 1;
                sent.lock()
                    .map_err(|_| anyhow::anyhow!("lock"))?
                    .insert((p, count as u32), Instant::now());
                let payload = format!(r#"{{"type":"count","ts":{ts},"count":{count}}}"#);
                publisher
                    .publish(format!("doorstep/v1/probe/probe-{p}"), payload.into_bytes())
                    .await?;
            }
            if n % (per_tick * 100) == 0 {
                rss_samples.push((Instant::now(), rss_now()));
            }
            next += tick;
            tokio::time::sleep_until(next).await;
        }
        publisher.close().await;
        anyhow::Ok(n)
    })?;
    std::thread::sleep(Duration::from_secs(3));
    let mut probes = latencies
        .lock()
        .map_err(|_| anyhow::anyhow!("lock"))?
        .clone();
    probes.sort();
    let mut latencies: Vec<Duration> = probes.iter().map(|p| p.1).collect();
    latencies.sort();
    Ok(Load {
        published,
        latencies,
        probes,
        rss: rss_samples,
    })
}

/// Bytes in the files under `dir`.
fn dir_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            _ => e.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}
