//! Broker ratio: how fast the same Mosquitto delivers N queued QoS 1 messages
//! to doorstep, against how fast it delivers them to `mosquitto_sub`.

use crate::fleet;
use anyhow::Context;
use devices::sim::Fleet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// 2026-11-02 (Monday) 00:00 in Shanghai, Unix ms.
const START_MS: i64 = 1_793_548_800_000;

/// A Mosquitto on a free port, killed when dropped.
pub struct Mosquitto(Child, pub u16);

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub fn mosquitto(dir: &Path) -> anyhow::Result<Mosquitto> {
    let port = free_port()?;
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
             max_queued_messages 0\nmax_inflight_messages 1000\n"
        ),
    )?;
    let log = std::fs::File::create(dir.join("mosquitto.log"))?;
    let child = Command::new("mosquitto")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("cannot start mosquitto (apt-get install mosquitto)")?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        anyhow::ensure!(Instant::now() < deadline, "mosquitto did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(Mosquitto(child, port))
}

/// Publishes the messages with QoS 1 and waits until the broker has them all.
fn publish(port: u16, messages: &[devices::sim::Publish]) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let url: ingest::BrokerUrl = format!("mqtt://127.0.0.1:{port}")
            .parse()
            .map_err(|e: String| anyhow::anyhow!(e))?;
        let session = ingest::Session {
            client_id: "bench-fleet".into(),
            credentials: None,
            ca_pem: None,
        };
        let publisher = ingest::Publisher::connect(&url, &session).await?;
        for m in messages {
            publisher
                .publish(m.topic.clone(), m.payload.clone())
                .await?;
        }
        publisher.close().await;
        anyhow::Ok(())
    })
}

/// Journal lines doorstep has written so far.
fn journaled(data: &Path) -> usize {
    std::fs::read_dir(data.join("journal"))
        .map(|d| {
            d.flatten()
                .map(|f| std::fs::read(f.path()).map(|b| bytecount(&b)).unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}

fn bytecount(b: &[u8]) -> usize {
    b.iter().filter(|c| **c == b'\n').count()
}

fn doorstep(dir: &Path) -> anyhow::Result<Child> {
    let exe = std::env::current_exe()?
        .parent()
        .context("bench binary directory")?
        .join("doorstep");
    Command::new(exe)
        .args(["run", "--config"])
        .arg(dir.join("doorstep.toml"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start doorstep (build it: cargo build --release)")
}

pub fn run(n: usize) -> anyhow::Result<()> {
    let sites = 100;
    let registry = fleet::registry(sites)?;
    let per_day = registry.devices.len() * 1440;
    let days = (n / per_day.max(1) + 1) as i64;
    let mut messages =
        Fleet::new(Arc::clone(&registry), 5, START_MS).step(START_MS + days * 86_400_000);
    messages.truncate(n);
    let n = messages.len();
    let dir = std::env::temp_dir().join(format!("doorstep-bench-broker-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("registry.toml"), fleet::registry_toml(sites)?)?;
    let broker = mosquitto(&dir)?;
    let port = broker.1.to_string();

    // mosquitto_sub: a persistent session, the messages queued for it, then drained.
    let sub = |count: &str| {
        Command::new("mosquitto_sub")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-q",
                "1",
                "-c",
                "-i",
                "bench-sub",
            ])
            .args(["-t", "doorstep/v1/#", "-C", count, "-W", "600"])
            .stdout(Stdio::null())
            .status()
    };
    // Create the session: -C 1 with nothing to receive would wait; -W 1 ends it.
    let _ = Command::new("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-q",
            "1",
            "-c",
            "-i",
            "bench-sub",
        ])
        .args(["-t", "doorstep/v1/#", "-W", "1"])
        .stdout(Stdio::null())
        .status()
        .context("cannot run mosquitto_sub (apt-get install mosquitto-clients)")?;
    eprintln!("broker: {n} messages queued for mosquitto_sub");
    publish(broker.1, &messages)?;
    let began = Instant::now();
    anyhow::ensure!(sub(&n.to_string())?.success(), "mosquitto_sub failed");
    let sub_s = began.elapsed().as_secs_f64();

    // doorstep: its session created by a first start, the messages queued, then drained.
    let web = free_port()?;
    std::fs::write(
        dir.join("doorstep.toml"),
        format!(
            "registry = \"registry.toml\"\ndata_dir = \"data\"\n[mqtt]\nbroker = \"mqtt://127.0.0.1:{port}\"\n\
             client_id = \"bench-doorstep\"\n[web]\nlisten = \"127.0.0.1:{web}\"\n[stream]\nidle_after_s = 86400\n\
             [store]\nflush_s = 3600\n[clock]\nstart = \"2026-11-20T00:00:00+08:00\"\n"
        ),
    )?;
    let mut first = doorstep(&dir)?;
    std::thread::sleep(Duration::from_secs(3));
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(first.id().to_string())
        .status();
    first.wait()?;
    let _ = std::fs::remove_dir_all(dir.join("data"));
    eprintln!("broker: {n} messages queued for doorstep");
    publish(broker.1, &messages)?;
    let began = Instant::now();
    let mut second = doorstep(&dir)?;
    let data = dir.join("data");
    while journaled(&data) < n {
        anyhow::ensure!(
            began.elapsed() < Duration::from_secs(600),
            "doorstep did not take them all in"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let doorstep_s = began.elapsed().as_secs_f64();
    let _ = second.kill();
    let _ = second.wait();
    drop(broker);
    if std::env::var_os("DOORSTEP_BENCH_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }

    let (sub_rate, ours) = (n as f64 / sub_s, n as f64 / doorstep_s);
    println!("## Broker ratio\n");
    println!(
        "{n} QoS 1 messages of the simulated fleet queued in one Mosquitto (`max_inflight_messages 1000`, \
         `max_queued_messages 0`) for a persistent session, then drained once by `mosquitto_sub -q 1` and once \
         by `doorstep run` (journaled and acknowledged; timed from process start to the last message in its \
         journal). Measured by `doorstep-bench broker --messages {n}`.\n"
    );
    println!("| subscriber | seconds | messages per second |");
    println!("|---|---:|---:|");
    println!("| `mosquitto_sub` | {sub_s:.2} | {sub_rate:.0} |");
    println!("| doorstep | {doorstep_s:.2} | {ours:.0} |");
    println!("| **ratio** | | **{:.2}** |\n", ours / sub_rate);
    Ok(())
}
