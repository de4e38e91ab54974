//! doorstep as a two-process timely cluster on localhost, behind a real
//! Mosquitto with a shared subscription (`$share/doorstep/doorstep/v1/#`): the
//! broker spreads the messages over the processes, timely exchanges each
//! reading to the worker that owns its room, and both write their own part
//! files into one table layout. The tables must equal one process's run of
//! the same input (the undisturbed replay through the same dataflow), also
//! when a process is killed mid-run and the cluster restarted, and process 0's
//! API must show every room.

use crate::common::fleet::*;
use crate::common::*;
use devices::sim::{Fleet, Publish};
use devices::{Limits, Reading, Registry, Validator};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// 2026-11-23 (Monday) 06:00 in Shanghai, Unix ms.
const START_MS: i64 = 1_795_384_800_000;
/// Two days, so that the first day's `room_day` closes.
const END_MS: i64 = START_MS + 2 * 86_400_000;

/// Two doorstep processes sharing one data directory.
struct Cluster {
    dir: std::path::PathBuf,
    web: [SocketAddr; 2],
    procs: [Option<Doorstep>; 2],
    runs: usize,
}

impl Cluster {
    /// Writes a config for each process and the hosts file.
    fn configure(dir: &Path, broker_port: u16) -> Cluster {
        let hosts = format!(
            "# timely: where each process listens for the others\n127.0.0.1:{}\n127.0.0.1:{}\n",
            free_port(),
            free_port()
        );
        std::fs::write(dir.join("hosts"), hosts).expect("hosts");
        let web: [SocketAddr; 2] =
            [0, 1].map(|_| format!("127.0.0.1:{}", free_port()).parse().expect("addr"));
        for (p, web) in web.iter().enumerate() {
            // The clock stands after the last message; windows close by event time only.
            std::fs::write(
                dir.join(format!("doorstep-p{p}.toml")),
                format!(
                    "registry = \"registry.toml\"\ndata_dir = \"data\"\n[mqtt]\n\
                     broker = \"mqtt://127.0.0.1:{broker_port}\"\nclient_id = \"doorstep-cluster\"\n\
                     [web]\nlisten = \"{web}\"\n[stream]\nidle_after_s = 86400\ncheckpoint_interval_s = 1\n\
                     [store]\nflush_s = 1\n\
                     [clock]\nstart = \"2026-11-25T06:10:00+08:00\"\n\
                     [cluster]\nprocess = {p}\nhosts_file = \"hosts\"\n"
                ),
            )
            .expect("config");
        }
        Cluster {
            dir: dir.to_owned(),
            web,
            procs: [None, None],
            runs: 0,
        }
    }

    /// Starts process `p` and waits until the cluster serves (both must be up for that).
    fn start(&mut self, p: usize) {
        self.procs[p] = Some(Doorstep::spawn(
            &self.dir.join(format!("doorstep-p{p}.toml")),
            &self.dir.join(format!("doorstep-p{p}-{}.log", self.runs)),
            &[],
        ));
    }

    fn start_all(&mut self) {
        self.start(0);
        self.start(1);
        for web in self.web {
            wait_for(Duration::from_secs(90), "the cluster's /readyz", || {
                http_get(web, "/readyz").filter(|(s, _)| *s == 200)
            });
        }
    }

    /// SIGTERM to both (a process's dataflow ends only when every process's input
    /// has closed: a cluster stops as a whole); each must exit cleanly.
    fn stop(&mut self) {
        let procs: Vec<Doorstep> = self.procs.iter_mut().filter_map(Option::take).collect();
        for d in &procs {
            let status = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(d.0.id().to_string())
                .status()
                .expect("kill");
            assert!(status.success());
        }
        for (p, mut d) in procs.into_iter().enumerate() {
            assert!(
                d.0.wait().expect("exit").success(),
                "process {p} exits cleanly"
            );
        }
    }
}

/// The fleet's messages, and the same as readings.
fn fleet(registry: &Arc<Registry>) -> (Vec<Publish>, Vec<Reading>) {
    let messages = Fleet::new(Arc::clone(registry), 23, START_MS).step(END_MS);
    let validator = Validator::new(Arc::clone(registry), Limits::default());
    let readings = messages
        .iter()
        .map(|p| {
            validator
                .check(&p.topic, &p.payload, END_MS + 600_000)
                .expect("simulated messages are valid")
        })
        .collect();
    (messages, readings)
}

/// A test's directory, registry, input, broker and running cluster.
struct Setup {
    dir: Workdir,
    registry: Arc<Registry>,
    messages: Vec<Publish>,
    readings: Vec<Reading>,
    broker: Broker,
    cluster: Cluster,
}

/// Eight sites of three rooms, every device each minute, two days; the cluster up.
fn setup() -> Setup {
    let dir = Workdir(Some(tempfile::tempdir().expect("tempdir")));
    let text = registry_toml("c", "集群社区", 8, 60);
    std::fs::write(dir.path().join("registry.toml"), &text).expect("registry");
    let registry =
        Arc::new(Registry::from_toml(&text, Path::new("registry.toml")).expect("registry"));
    let (messages, readings) = fleet(&registry);
    let broker = Broker::start(&dir.path().join("broker"));
    let mut cluster = Cluster::configure(dir.path(), broker.port);
    cluster.start_all();
    Setup {
        dir,
        registry,
        messages,
        readings,
        broker,
        cluster,
    }
}

/// Waits until `raw_events` holds `n` rows.
/// An epoch both processes committed (`checkpoints/p<process>/<epoch>/COMMIT`).
fn common_checkpoint(data: &Path) -> Option<()> {
    let committed = |p: usize| -> Vec<String> {
        std::fs::read_dir(data.join("checkpoints").join(format!("p{p}")))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().join("COMMIT").is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    };
    let theirs = committed(1);
    committed(0)
        .iter()
        .any(|e| theirs.contains(e))
        .then_some(())
}

fn wait_raw(data: &Path, registry: &Arc<Registry>, n: usize) {
    wait_raw_events(
        &analytics::Store::open(data, Arc::clone(registry)).expect("store"),
        n,
    );
}

/// Every message once in `raw_events`, `room_day` equal to the undisturbed
/// single-process replay, and rows written by both processes.
fn assert_like_one_process(data: &Path, registry: &Arc<Registry>, readings: Vec<Reading>) {
    let store = analytics::Store::open(data, Arc::clone(registry)).expect("store");
    let mut want: Vec<_> = readings
        .iter()
        .map(|r| (r.device.0, r.seq, r.time_ms))
        .collect();
    want.sort_unstable();
    let mut got = raw_keys(&store);
    got.sort_unstable();
    assert_eq!(got.len(), want.len(), "no message twice");
    assert!(got == want, "every message exactly once");

    let config = stream::StreamConfig {
        idle_after_s: 86_400,
        ..stream::StreamConfig::default()
    };
    let calm = tempfile::tempdir().expect("tempdir");
    let out = stream::replay(Arc::clone(registry), &config, readings, 256, END_MS / 1000)
        .expect("replay");
    analytics::Store::open(calm.path(), Arc::clone(registry))
        .expect("store")
        .write_windows(&out.windows)
        .expect("windows");
    let (cluster, reference) = (room_days(data), room_days(calm.path()));
    assert!(reference.len() >= 24, "{} room days", reference.len());
    assert_eq!(
        cluster.keys().collect::<Vec<_>>(),
        reference.keys().collect::<Vec<_>>()
    );
    for (key, want) in &reference {
        assert_eq!(&cluster[key], want, "room_day {key}");
    }
    // Both processes wrote raw events (the broker shared the devices' messages).
    let writers: std::collections::BTreeSet<String> = table_files(data, "raw_events")
        .iter()
        .filter_map(|f| {
            let name = f.file_name()?.to_str()?.to_owned();
            // part-j<ms>-<n>-p<process>-<pid>.parquet
            name.split('-')
                .find(|s| s.starts_with('p') && s[1..].parse::<u32>().is_ok())
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(
        writers.into_iter().collect::<Vec<_>>(),
        ["p0", "p1"],
        "raw_events parts from both processes"
    );
}

/// Process 0's `/api/live` shows every room of the registry with a value and a
/// reading of the last ten minutes of input. The processes drain the broker apart in
/// time, so the live view gets readings out of order (`stream/tests/suite/live.rs`).
fn assert_api_shows_every_room(web: SocketAddr, registry: &Registry) {
    let recent = |r: &serde_json::Value| {
        r["updated"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .is_some_and(|t| t.timestamp_millis() >= END_MS - 600_000)
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let rooms: Vec<serde_json::Value> = http_get(web, "/api/live")
            .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok())
            .and_then(|v| v["sites"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .flat_map(|s| s["rooms"].as_array().cloned().unwrap_or_default())
            .collect();
        let silent: Vec<&serde_json::Value> = rooms
            .iter()
            .filter(|r| !recent(r) || r["last_occupancy"].is_null())
            .map(|r| &r["id"])
            .collect();
        if rooms.len() == registry.rooms.len() && silent.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} rooms in /api/live of {}; without a recent value: {silent:?}",
            rooms.len(),
            registry.rooms.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn two_processes_give_the_tables_of_one_and_the_api_shows_every_room() {
    require("mosquitto");
    // A cluster keeps both cores busy (two at once on a 2-core machine are slow
    // enough to time out): not beside another heavy or a busy test.
    let _turn = heavy();
    let Setup {
        dir,
        registry,
        messages,
        readings,
        broker,
        mut cluster,
    } = setup();
    let n = messages.len();
    let progress = Arc::new(Progress::default());
    publish_all(broker.port, Arc::new(messages), Arc::clone(&progress));
    assert!(progress.done.load(Ordering::SeqCst));

    let data = dir.path().join("data");
    wait_raw(&data, &registry, n);
    assert_api_shows_every_room(cluster.web[0], &registry);
    cluster.stop();
    assert_like_one_process(&data, &registry, readings);
}

#[test]
fn a_process_killed_mid_run_and_the_cluster_restarted_lose_and_double_nothing() {
    require("mosquitto");
    // A cluster keeps both cores busy (two at once on a 2-core machine are slow
    // enough to time out): not beside another heavy or a busy test.
    let _turn = heavy();
    let Setup {
        dir,
        registry,
        messages,
        readings,
        broker,
        mut cluster,
    } = setup();
    let n = messages.len();
    let progress = Arc::new(Progress::default());
    let publisher = {
        let (messages, progress, port) = (Arc::new(messages), Arc::clone(&progress), broker.port);
        std::thread::spawn(move || publish_all(port, messages, progress))
    };
    wait_for(
        Duration::from_secs(120),
        "the publisher to get halfway",
        || (progress.published.load(Ordering::SeqCst) >= n / 2).then_some(()),
    );
    // Both processes have committed a checkpoint (each its own rooms) before the kill.
    let data = dir.path().join("data");
    wait_for(
        Duration::from_secs(60),
        "a checkpoint of both processes",
        || common_checkpoint(&data),
    );
    // SIGKILL process 1. timely cannot go on without it: process 0 stops by itself,
    // with an error, and a supervisor (systemd, here the test) starts both again.
    let mut killed = cluster.procs[1].take().expect("process 1");
    killed.0.kill().expect("SIGKILL");
    killed.0.wait().expect("reaped");
    let mut survivor = cluster.procs[0].take().expect("process 0");
    let status = wait_for(
        Duration::from_secs(60),
        "process 0 to stop by itself",
        || survivor.0.try_wait().expect("try_wait"),
    );
    assert!(!status.success(), "process 0 reports the failure: {status}");
    cluster.runs += 1;
    cluster.start_all();
    // Each process took its rooms from the newest checkpoint both had committed.
    for p in 0..2 {
        let log =
            std::fs::read_to_string(dir.path().join(format!("doorstep-p{p}-1.log"))).expect("log");
        assert!(
            log.contains("resuming from checkpoint"),
            "process {p} did not resume from a checkpoint:\n{log}"
        );
    }
    publisher.join().expect("publisher");
    assert!(progress.done.load(Ordering::SeqCst));

    wait_raw(&data, &registry, n);
    assert_api_shows_every_room(cluster.web[0], &registry);
    cluster.stop();
    assert_like_one_process(&data, &registry, readings);
}

/// Process `p`'s log of the cluster's first run.
fn log_of(cluster: &Cluster, p: usize) -> String {
    std::fs::read_to_string(cluster.dir.join(format!("doorstep-p{p}-0.log"))).unwrap_or_default()
}

/// `room`'s live occupancy at site `site` on process 0's `/api/live`.
fn live_occupancy(web: SocketAddr, site: &str, room: &str) -> Option<serde_json::Value> {
    let (_, body) = http_get(web, "/api/live")?;
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    v["sites"].as_array()?.iter().find(|s| s["id"] == site)?["rooms"]
        .as_array()?
        .iter()
        .find(|r| r["id"] == room)
        .map(|r| r["occupancy"].clone())
}

#[test]
fn both_processes_take_a_registry_change_without_a_restart() {
    require("mosquitto");
    let _turn = heavy();
    let dir = Workdir(Some(tempfile::tempdir().expect("tempdir")));
    let text = registry_toml("c", "集群社区", 4, 60);
    let path = dir.path().join("registry.toml");
    std::fs::write(&path, &text).expect("registry");
    let broker = Broker::start(&dir.path().join("broker"));
    let mut cluster = Cluster::configure(dir.path(), broker.port);
    // Windows follow the clock when devices are quiet: the epochs move on, and
    // the readings a process hands to the other's workers go with them.
    for p in 0..2 {
        let config = dir.path().join(format!("doorstep-p{p}.toml"));
        let text = std::fs::read_to_string(&config).expect("config");
        std::fs::write(
            &config,
            text.replace("idle_after_s = 86400", "idle_after_s = 1"),
        )
        .expect("config");
    }
    // The processes' clocks start at `[clock] start` as they start.
    let clock_start = chrono::DateTime::parse_from_rfc3339("2026-11-25T06:10:00+08:00")
        .expect("time")
        .timestamp_millis();
    let began = Instant::now();
    cluster.start_all();
    // A room and its counter added at the last site, from 20 s on (their clocks, ahead
    // of ours by the moments they took to start, are at most behind this).
    let effective_ms = clock_start + began.elapsed().as_millis() as i64 + 20_000;
    let effective = chrono::DateTime::from_timestamp_millis(effective_ms)
        .expect("time")
        .to_rfc3339();
    let added = dir.path().join("registry-new.toml");
    std::fs::write(
        &added,
        format!(
            "{text}[[site.room]]\nid = \"new\"\nname = \"新活动室\"\ncapacity = 30\narea_m2 = 40\n\n\
             [[site.device]]\nid = \"c3-new-c\"\nroom = \"new\"\nkind = \"count\"\ninterval_s = 60\n"
        ),
    )
    .expect("registry");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_doorstep"))
        .args(["registry", "apply", "--effective", &effective])
        .arg(&added)
        .arg("--config")
        .arg(dir.path().join("doorstep-p0.toml"))
        .output()
        .expect("apply");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("doorstep run is running"),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for p in 0..2 {
        wait_for(Duration::from_secs(30), "the switch", || {
            log_of(&cluster, p)
                .contains("registry switched in place")
                .then_some(())
        });
    }
    // Each process checks messages under the new registry from the effective time.
    for p in 0..2 {
        wait_for(Duration::from_secs(60), "the effective time", || {
            log_of(&cluster, p)
                .contains("messages are now checked under the new registry")
                .then_some(())
        });
    }
    // The new counter, whichever process the broker gives its messages to, and
    // an old one beside it.
    let ts = effective_ms + 1_000;
    for (n, device) in [(3, "c3-new-c"), (5, "c3-hall-c")] {
        for seq in 0..4 {
            mosquitto_pub(
                broker.port,
                &format!("doorstep/v1/c3/{device}"),
                &format!(
                    r#"{{"type":"count","ts":{},"seq":{seq},"count":{n}}}"#,
                    ts + seq
                ),
            );
        }
    }
    for (room, n) in [("new", 3), ("hall", 5)] {
        wait_for(Duration::from_secs(30), "the live counts", || {
            (live_occupancy(cluster.web[0], "c3", room) == Some(serde_json::Value::from(n)))
                .then_some(())
        });
    }
    cluster.stop();
    for p in 0..2 {
        let log = log_of(&cluster, p);
        assert!(
            !log.contains("does not have") && !log.contains("ERROR"),
            "process {p}: {log}"
        );
    }
    // In raw_events under the new room.
    let raw = rows(&dir.path().join("data"), "raw_events");
    let new: Vec<_> = raw
        .iter()
        .filter(|r| r["device_id"] == "c3-new-c")
        .map(|r| r["room_id"].clone())
        .collect();
    assert_eq!(new, vec![serde_json::Value::from("new"); 4]);
}
