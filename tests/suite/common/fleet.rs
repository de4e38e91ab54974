//! A simulated fleet through a real Mosquitto: a broker with persistence that
//! can be killed and restarted, a publisher that counts the broker's
//! acknowledgements and resends after reconnecting (as store-and-forward
//! devices do), doorstep processes with their logs in files, and readers of
//! the tables the tests compare. Used by `tests/suite/chaos.rs` and
//! `tests/suite/cluster.rs`.

use super::*;
use devices::sim::Publish;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the devices send again after a reconnect: longer than Mosquitto's autosave period.
pub const RESEND: Duration = Duration::from_secs(5);
/// Messages a second (the broker and doorstep both keep up; the kills are what hurts).
pub const RATE: usize = 4_000;

/// `sites` sites named `<name><n>号` with ids `<prefix><n>`, of three rooms (one with
/// a time-shared schedule) watched by a counter, two door counters and a presence
/// sensor reporting every `interval_s`.
pub fn registry_toml(prefix: &str, name: &str, sites: usize, interval_s: u32) -> String {
    let mut s = String::new();
    for site in 0..sites {
        let id = format!("{prefix}{site}");
        s += &format!(
            "[[site]]\nid = \"{id}\"\nname = \"{name}{site}号\"\ncity = \"测试市\"\n\n\
             [[site.room]]\nid = \"hall\"\nname = \"活动厅\"\ncapacity = 40\narea_m2 = 80\n\
             schedule = [\"daily 08:00-20:00 culture\"]\n\n\
             [[site.room]]\nid = \"care\"\nname = \"日间照料\"\ncapacity = 20\narea_m2 = 60\n\
             schedule = [\"mon-fri 08:00-12:00 infant_care\", \"mon-fri 13:00-17:00 elderly_care\"]\n\n\
             [[site.room]]\nid = \"gym\"\nname = \"健身房\"\ncapacity = 12\narea_m2 = 50\n\
             schedule = [\"daily 06:00-22:00 fitness\"]\n\n"
        );
        for (dev, room, kind) in [
            ("hall-c", "hall", "count"),
            ("care-d1", "care", "door"),
            ("care-d2", "care", "door"),
            ("gym-p", "gym", "presence"),
        ] {
            s += &format!(
                "[[site.device]]\nid = \"{id}-{dev}\"\nroom = \"{room}\"\nkind = \"{kind}\"\ninterval_s = {interval_s}\n\n"
            );
        }
    }
    s
}

/// A Mosquitto with persistence on, killed and restarted on the same port and store.
pub struct Broker {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Broker {
    pub fn start(dir: &Path) -> Broker {
        require("mosquitto");
        let port = free_port();
        std::fs::create_dir_all(dir.join("db")).expect("broker dir");
        // Unbounded queues for offline sessions (the default 1000 drops messages while
        // doorstep restarts), room for doorstep's batches in flight, saved every second.
        std::fs::write(
            dir.join("mosquitto.conf"),
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n\
                 persistence_location {}/\nautosave_interval 1\nmax_queued_messages 0\n\
                 max_inflight_messages 1000\n{}",
                dir.join("db").display(),
                // As root Mosquitto would switch to its own user, who cannot write here.
                if running_as_root() { "user root\n" } else { "" }
            ),
        )
        .expect("mosquitto.conf");
        let mut b = Broker {
            port,
            dir: dir.to_owned(),
            child: None,
        };
        b.restart();
        b
    }

    pub fn restart(&mut self) {
        let log = File::create(self.dir.join("mosquitto.log")).expect("log");
        self.child = Some(
            Command::new("mosquitto")
                .arg("-c")
                .arg(self.dir.join("mosquitto.conf"))
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("mosquitto"),
        );
        let port = self.port;
        wait_for(Duration::from_secs(10), "mosquitto to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", port))
                .is_ok()
                .then_some(())
        });
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("SIGKILL mosquitto");
            c.wait().expect("reaped");
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// doorstep with its log in a file (a pipe nobody reads would stall it); killed when dropped.
pub struct Doorstep(pub Child);

impl Doorstep {
    pub fn start(dir: &Path, n: usize) -> Doorstep {
        Doorstep::spawn(
            &dir.join("doorstep.toml"),
            &dir.join(format!("doorstep-{n}.log")),
            &[],
        )
    }

    /// `doorstep run --config config ARGS`, its log in `log`.
    pub fn spawn(config: &Path, log: &Path, args: &[&str]) -> Doorstep {
        let log = File::create(log).expect("log");
        Doorstep(
            Command::new(env!("CARGO_BIN_EXE_doorstep"))
                .args(["run", "--config"])
                .arg(config)
                .args(args)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("doorstep"),
        )
    }
}

impl Drop for Doorstep {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Where the publisher is, shared with the test.
#[derive(Default)]
pub struct Progress {
    pub published: AtomicUsize,
    pub resent: AtomicUsize,
    pub done: AtomicBool,
}

/// Publishes every message with QoS 1 at about `RATE` a second; after each
/// reconnect, goes back `RESEND` and sends from there again.
pub fn publish_all(port: u16, messages: Arc<Vec<Publish>>, progress: Arc<Progress>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let mut options = rumqttc::MqttOptions::new("chaos-fleet", "127.0.0.1", port);
        options
            .set_keep_alive(Duration::from_secs(5))
            .set_inflight(200);
        let (client, mut events) = rumqttc::AsyncClient::new(options, 1000);
        let connects = Arc::new(AtomicUsize::new(0));
        let lost_at: Arc<Mutex<Option<Instant>>> = Arc::default();
        let all_acked = Arc::new(AtomicBool::new(false));
        let task = {
            let (connects, lost_at, all_acked) =
                (connects.clone(), lost_at.clone(), all_acked.clone());
            tokio::spawn(async move {
                loop {
                    match events.poll().await {
                        Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(_))) => {
                            connects.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(_) => {}
                        Err(rumqttc::ConnectionError::RequestsDone) => return,
                        Err(_) => {
                            lost_at
                                .lock()
                                .expect("lock")
                                .get_or_insert_with(Instant::now);
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                    all_acked.store(events.state.inflight() == 0, Ordering::SeqCst);
                }
            })
        };
        let n = messages.len();
        let mut sent_at = vec![Instant::now(); n];
        let (mut i, mut seen_connects) = (0, 1);
        let began = Instant::now();
        while i < n {
            let c = connects.load(Ordering::SeqCst);
            if c > seen_connects {
                seen_connects = c;
                let lost = lost_at
                    .lock()
                    .expect("lock")
                    .take()
                    .unwrap_or_else(Instant::now);
                let from = sent_at[..i].partition_point(|t| *t + RESEND < lost);
                progress.resent.fetch_add(i - from, Ordering::SeqCst);
                i = from;
            }
            let m = &messages[i];
            client
                .publish(
                    m.topic.clone(),
                    rumqttc::QoS::AtLeastOnce,
                    false,
                    m.payload.clone(),
                )
                .await
                .expect("queue the message");
            sent_at[i] = Instant::now();
            i += 1;
            progress.published.fetch_max(i, Ordering::SeqCst);
            if i % 100 == 0 {
                let due = began + Duration::from_secs_f64(i as f64 / RATE as f64);
                tokio::time::sleep_until(due.max(Instant::now()).into()).await;
            }
        }
        // Everything handed over and acknowledged by the broker.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let deadline = Instant::now() + Duration::from_secs(60);
        while !all_acked.load(Ordering::SeqCst) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = client.disconnect().await;
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        progress.done.store(true, Ordering::SeqCst);
    });
}

/// The (device, seq, time) of every row of `raw_events`.
pub fn raw_keys(store: &analytics::Store) -> Vec<(u32, Option<u64>, i64)> {
    let dates: Vec<_> = (0..4)
        .map(|d| chrono::NaiveDate::from_ymd_opt(2026, 11, 22 + d).expect("date"))
        .collect();
    store
        .read_raw_events(&dates)
        .expect("raw_events readable")
        .iter()
        .map(|r| (r.device.0, r.seq, r.time_ms))
        .collect()
}

/// Waits (up to 3 minutes) until `raw_events` holds `n` rows.
pub fn wait_raw_events(store: &analytics::Store, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let have = raw_keys(store).len();
        if have >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{have} of {n} messages in raw_events"
        );
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// `room_day` rows keyed by (room, day), the highest revision of each, without `revision`.
pub fn room_days(data: &Path) -> BTreeMap<String, serde_json::Map<String, serde_json::Value>> {
    let mut out: BTreeMap<String, serde_json::Map<String, serde_json::Value>> = BTreeMap::new();
    for mut r in rows(data, "room_day") {
        let key = format!("{}/{}/{}", r["site_id"], r["room_id"], r["day_start"]);
        let newer = out
            .get(&key)
            .is_none_or(|o| o["revision"].as_u64() < r["revision"].as_u64());
        if newer {
            out.insert(key, r.clone());
        }
        r.clear();
    }
    for r in out.values_mut() {
        r.remove("revision");
    }
    out
}

/// The test's directory, kept (and named) when the test fails.
pub struct Workdir(pub Option<tempfile::TempDir>);

impl Workdir {
    pub fn path(&self) -> &Path {
        self.0.as_ref().expect("dir").path()
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(d) = self.0.take()
        {
            eprintln!("logs and tables kept in {}", d.keep().display());
        }
    }
}
