//! Stream-state checkpoints (`[stream] checkpoint_interval_s`): a simulated fleet
//! of three sites publishes 30 hours of readings through Mosquitto while the test
//! kills `doorstep run` with SIGKILL seven times at seeded random moments (one
//! while a checkpoint directory is being written, one right after a start was
//! ready, usually before the new process committed a checkpoint of its own) and
//! makes it abort once in the middle of writing a checkpoint part file
//! (`DOORSTEP_CRASH_IN_CHECKPOINT=1`).
//! A second doorstep, without checkpoints, takes the same messages from the same
//! broker and is never disturbed: the uninterrupted run.
//!
//! - The first start logs `no usable checkpoint`; every later start logs
//!   `resuming from checkpoint`, shows `doorstep_restart_from_checkpoint 1`, and
//!   replayed (`doorstep_restart_replayed_readings`) at most the readings that
//!   came after a checkpoint known to be committed: before each kill the test
//!   counts `raw_events` (C rows), notes the wall clock T, then waits for a
//!   checkpoint named after a later instant (`<epoch_ms>` > T: taken after the
//!   count) to be committed, so a restart that finds R rows in `raw_events` may
//!   replay at most R - C of them. A restart that replayed everything (R) fails.
//! - After a graceful stop (which writes a checkpoint) a start replays nothing.
//! - At the end every table (`room_hour`, `room_day`, `room_slot_day`, `flags`,
//!   `idle_slots`, `device_day`, `site_day`) as a reader sees it (the latest
//!   revision of each key; the flags and idle slots of a room day's latest
//!   revision) equals the uninterrupted run's, row for row and column for column
//!   (`revision` included); `raw_events` holds every message exactly once; and no
//!   (table, key, revision) was written twice.

use crate::common::fleet::{Progress, Workdir, registry_toml};
use crate::common::run::now_ms;
use crate::common::*;
use devices::sim::{Fleet, Publish};
use devices::{Limits, Registry, Validator};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Sites of the fleet (three rooms, four devices each: count, two doors, presence).
const SITES: usize = 3;
/// Report interval of every device, seconds.
const INTERVAL_S: u32 = 60;
/// Hours of event time the fleet publishes, ending ten minutes ago.
const HOURS: i64 = 30;
/// Messages a second the fleet publishes: slow enough that every kill falls
/// while messages still flow (about 24,000 messages over about 48 s).
const RATE: usize = 500;
/// Seeds the fleet, and the moments of the kills unless `CHECKPOINT_TEST_SEED` is set.
const SEED: u64 = 20_261_123;
const CHECKPOINT_INTERVAL_S: u32 = 1;

/// The tables compared, with the columns of their key (docs/SCHEMA.md, "Revisions").
const TABLES: [(&str, &[&str]); 7] = [
    ("room_hour", &["site_id", "room_id", "hour_start"]),
    ("room_day", &["site_id", "room_id", "day_start"]),
    (
        "room_slot_day",
        &["site_id", "room_id", "day_start", "category"],
    ),
    ("device_day", &["site_id", "device_id", "day_start"]),
    ("site_day", &["site_id", "day_start"]),
    ("flags", &["site_id", "room_id", "day", "flag"]),
    (
        "idle_slots",
        &["site_id", "room_id", "day", "weekday", "start_hour"],
    ),
];

type Row = Map<String, Value>;

/// How a run of the disturbed doorstep ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// SIGKILL at a random moment after a checkpoint taken after the count was committed.
    Kill,
    /// SIGKILL as soon as a new checkpoint directory appears without its COMMIT.
    KillInCheckpoint,
    /// SIGKILL at a random moment, then a start with `DOORSTEP_CRASH_IN_CHECKPOINT=1`
    /// that aborts itself halfway through its first checkpoint.
    KillThenCrashInCheckpoint,
    /// SIGKILL right after the start was ready (usually before it committed a checkpoint).
    KillAtStart,
}

const PLAN: [End; 7] = [
    End::Kill,
    End::KillInCheckpoint,
    End::Kill,
    End::KillThenCrashInCheckpoint,
    End::KillAtStart,
    End::Kill,
    End::KillInCheckpoint,
];

/// One `doorstep run` in a directory of its own, external broker, logs in files.
struct Node {
    dir: PathBuf,
    web: SocketAddr,
    child: Option<Child>,
    /// Starts so far; the log of start `k` is `doorstep-k.log`.
    starts: usize,
}

impl Node {
    fn new(dir: &Path, registry: &str, broker: u16, client: &str, checkpoint_s: u32) -> Node {
        std::fs::create_dir_all(dir).expect("node dir");
        std::fs::write(dir.join("registry.toml"), registry).expect("registry");
        let web: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        // Windows close by event time only (never by the clock), so both runs close
        // the same ones; no compaction, so every file written stays as it was.
        std::fs::write(
            dir.join("doorstep.toml"),
            format!(
                "registry = \"registry.toml\"\ndata_dir = \"data\"\n[mqtt]\n\
                 broker = \"mqtt://127.0.0.1:{broker}\"\nclient_id = \"{client}\"\n\
                 [web]\nlisten = \"{web}\"\n\
                 [stream]\nidle_after_s = 86400\ncheckpoint_interval_s = {checkpoint_s}\n\
                 [stream.flags]\nunderused_below = 0.95\nidle_slot_below = 0.5\n\
                 [store]\nflush_s = 1\ncompact_after_days = 30\n"
            ),
        )
        .expect("config");
        Node {
            dir: dir.to_owned(),
            web,
            child: None,
            starts: 0,
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The log of the latest start.
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join(format!("doorstep-{}.log", self.starts)))
            .unwrap_or_default()
    }

    /// The last lines of the latest start's log, for failure messages.
    fn tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        format!(
            "--- {} (start {}), last lines:\n{}",
            self.dir.display(),
            self.starts,
            lines[lines.len().saturating_sub(40)..].join("\n")
        )
    }

    fn start(&mut self, env: &[(&str, &str)]) {
        assert!(self.child.is_none(), "already running");
        self.starts += 1;
        let log = std::fs::File::create(self.dir.join(format!("doorstep-{}.log", self.starts)))
            .expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_doorstep"))
            .args(["run", "--config"])
            .arg(self.dir.join("doorstep.toml"))
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("doorstep");
        self.child = Some(child);
    }

    /// Waits for `/readyz` (the stream's state rebuilt, the broker connected).
    fn ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().expect("try_wait"))
            {
                panic!(
                    "doorstep exited ({status}) before it was ready\n{}",
                    self.tail()
                );
            }
            if http_get(self.web, "/readyz").is_some_and(|(s, _)| s == 200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "doorstep not ready after 60 s\n{}",
                self.tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn sigkill(&mut self) {
        let mut c = self.child.take().expect("running");
        c.kill().expect("SIGKILL doorstep");
        c.wait().expect("reaped");
    }

    /// Waits for the process to end by itself.
    fn exited(&mut self, limit: Duration, what: &str) -> ExitStatus {
        let c = self.child.as_mut().expect("running");
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = c.try_wait().expect("try_wait") {
                self.child = None;
                return status;
            }
            if Instant::now() > deadline {
                let tail = self.tail();
                panic!("{what}: still running after {limit:?}\n{tail}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM; a clean exit within a minute.
    fn stop(&mut self) {
        let pid = self.child.as_ref().expect("running").id();
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .expect("kill");
        assert!(status.success());
        let status = self.exited(Duration::from_secs(60), "doorstep after SIGTERM");
        assert!(status.success(), "unclean exit {status}\n{}", self.tail());
    }

    fn metrics(&self) -> String {
        match http_get(self.web, "/metrics") {
            Some((200, body)) => body,
            other => panic!("/metrics: {other:?}\n{}", self.tail()),
        }
    }

    /// Waits until the start has logged how it found its checkpoints; returns the log.
    fn start_line(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let log = self.log();
            if log.contains("resuming from checkpoint") || log.contains("no usable checkpoint") {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "start {} logged neither `resuming from checkpoint` nor `no usable checkpoint`\n{}",
                self.starts,
                self.tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The value of a sample of `/metrics` (summed over its labels), if there is one.
fn metric(body: &str, name: &str) -> Option<f64> {
    let mut found = None;
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        if line.split([' ', '{']).next() == Some(name) {
            let v: f64 = line.rsplit(' ').next()?.parse().ok()?;
            *found.get_or_insert(0.0) += v;
        }
    }
    found
}

/// Whether `/metrics` has a sample named `name` (or `name_sum`, `name_bucket`, ...).
fn has_metric(body: &str, name: &str) -> bool {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split([' ', '{']).next())
        .any(|n| n == name || n.strip_prefix(name).is_some_and(|s| s.starts_with('_')))
}

/// The checkpoint directories of the single process: (committed, unfinished).
fn checkpoints(data: &Path) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut done, mut unfinished) = (BTreeSet::new(), BTreeSet::new());
    let Ok(entries) = std::fs::read_dir(data.join("checkpoints").join("main")) else {
        return (done, unfinished);
    };
    for e in entries.flatten() {
        if !e.path().is_dir() {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        if e.path().join("COMMIT").is_file() {
            done.insert(name);
        } else {
            unfinished.insert(name);
        }
    }
    (done, unfinished)
}

/// Waits until a checkpoint taken after `after_ms` (wall clock) is committed: one
/// whose name, its epoch in ms, is later. The name may be the start of the
/// interval's slot, never later than the moment the checkpoint was taken.
fn wait_commit_after(node: &Node, after_ms: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (done, _) = checkpoints(&node.data());
        if done
            .iter()
            .any(|name| name.parse::<i64>().is_ok_and(|epoch| epoch > after_ms))
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no checkpoint taken after {after_ms} committed within 30 s (every \
             {CHECKPOINT_INTERVAL_S} s configured, messages flowing); committed: {done:?}\n{}",
            node.tail()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGKILL as soon as a new checkpoint directory without COMMIT shows; whether the
/// kill left it unfinished (a checkpoint write may be too quick to catch).
fn kill_in_checkpoint(node: &mut Node) -> bool {
    let (_, before) = checkpoints(&node.data());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, unfinished) = checkpoints(&node.data());
        if unfinished.difference(&before).next().is_some() || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    node.sigkill();
    let (_, after) = checkpoints(&node.data());
    after.difference(&before).next().is_some()
}

/// Rows of `raw_events` on the dates around the fleet's span.
fn raw_count(store: &analytics::Store, dates: &[chrono::NaiveDate]) -> usize {
    store.read_raw_events(dates).expect("raw_events").len()
}

/// A restart after a committed checkpoint: it says it resumed, and it replayed at
/// most the readings that came after the checkpoint (`covered` were in
/// `raw_events` before it). Returns the readings it replayed.
fn check_resumed(
    node: &Node,
    store: &analytics::Store,
    dates: &[chrono::NaiveDate],
    covered: usize,
) -> f64 {
    let log = node.start_line();
    assert!(
        log.contains("resuming from checkpoint") && !log.contains("no usable checkpoint"),
        "start {}: committed checkpoints exist, the start must resume from one\n{}",
        node.starts,
        node.tail()
    );
    let body = node.metrics();
    assert_eq!(
        metric(&body, "doorstep_restart_from_checkpoint"),
        Some(1.0),
        "start {}: doorstep_restart_from_checkpoint",
        node.starts
    );
    assert!(
        has_metric(&body, "doorstep_restart_seconds"),
        "doorstep_restart_seconds in /metrics"
    );
    let replayed = metric(&body, "doorstep_restart_replayed_readings")
        .expect("doorstep_restart_replayed_readings in /metrics");
    // Read after the start: holds at least what the start found.
    let rows = raw_count(store, dates);
    assert!(
        covered > 0 && replayed + covered as f64 <= rows as f64,
        "start {}: replayed {replayed} readings, but of the {rows} in raw_events {covered} were \
         there before a committed checkpoint: only the {} after it may be replayed\n{}",
        node.starts,
        rows.saturating_sub(covered),
        node.tail()
    );
    eprintln!(
        "start {}: resumed from a checkpoint, replayed {replayed} of {rows} readings",
        node.starts
    );
    replayed
}

/// Publishes every message with QoS 1 at `RATE` a second, then waits for the
/// broker's acknowledgements. The broker is never killed: no resending needed.
fn publish_paced(port: u16, messages: Arc<Vec<Publish>>, progress: Arc<Progress>) -> usize {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let mut options = rumqttc::MqttOptions::new("checkpoint-fleet", "127.0.0.1", port);
        options
            .set_keep_alive(Duration::from_secs(5))
            .set_inflight(200);
        let (client, mut events) = rumqttc::AsyncClient::new(options, 1000);
        let errors = Arc::new(AtomicUsize::new(0));
        let acked = Arc::new(AtomicUsize::new(0));
        // Errors after the DISCONNECT (the broker closing the socket) do not count.
        let leaving = Arc::new(AtomicBool::new(false));
        let task = {
            let (errors, acked, leaving) = (errors.clone(), acked.clone(), leaving.clone());
            tokio::spawn(async move {
                loop {
                    match events.poll().await {
                        Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) => {
                            acked.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(_) => {}
                        Err(rumqttc::ConnectionError::RequestsDone) => return,
                        Err(_) if leaving.load(Ordering::SeqCst) => return,
                        Err(_) => {
                            errors.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
            })
        };
        let began = Instant::now();
        for (i, m) in messages.iter().enumerate() {
            client
                .publish(
                    m.topic.clone(),
                    rumqttc::QoS::AtLeastOnce,
                    false,
                    m.payload.clone(),
                )
                .await
                .expect("queue the message");
            progress.published.store(i + 1, Ordering::SeqCst);
            if (i + 1) % 25 == 0 {
                let due = began + Duration::from_secs_f64((i + 1) as f64 / RATE as f64);
                tokio::time::sleep_until(due.max(Instant::now()).into()).await;
            }
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while acked.load(Ordering::SeqCst) < messages.len() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        leaving.store(true, Ordering::SeqCst);
        let _ = client.disconnect().await;
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        progress.done.store(true, Ordering::SeqCst);
        errors.load(Ordering::SeqCst)
    })
}

/// The local date (days since 1970-01-01) of an instant at the fleet's sites
/// (Asia/Shanghai, the registry's default: no daylight saving).
fn local_day(v: &Value) -> i64 {
    let v = v.as_i64().expect("a timestamp");
    let ms = if v > 100_000_000_000 { v } else { v * 1000 };
    (ms + 8 * 3_600_000).div_euclid(86_400_000)
}

fn key_of(r: &Row, cols: &[&str]) -> String {
    cols.iter()
        .map(|c| {
            r.get(*c)
                .unwrap_or_else(|| panic!("no column {c} in {r:?}"))
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn revision(r: &Row) -> u64 {
    r["revision"].as_u64().expect("revision")
}

/// Every compared table as a reader sees it (docs/SCHEMA.md, "Revisions"), by
/// `table/key`: the latest revision of each key, and the flags and idle slots of
/// the latest revision of their room's day in `room_day`.
fn in_force(data: &Path) -> BTreeMap<String, Row> {
    let all: BTreeMap<&str, Vec<Row>> = TABLES.iter().map(|(t, _)| (*t, rows(data, t))).collect();
    let mut day_revision: BTreeMap<String, u64> = BTreeMap::new();
    for r in &all["room_day"] {
        let day = format!(
            "{}/{}/{}",
            r["site_id"],
            r["room_id"],
            local_day(&r["day_start"])
        );
        let e = day_revision.entry(day).or_insert(0);
        *e = (*e).max(revision(r));
    }
    let mut out: BTreeMap<String, Row> = BTreeMap::new();
    for (table, cols) in TABLES {
        for r in &all[table] {
            let key = format!("{table}/{}", key_of(r, cols));
            if table == "flags" || table == "idle_slots" {
                let day = format!("{}/{}/{}", r["site_id"], r["room_id"], r["day"]);
                match day_revision.get(&day) {
                    Some(rev) if *rev == revision(r) => {
                        out.insert(key, r.clone());
                    }
                    Some(_) => {}
                    // A room day's rows without the room day: kept, to show in the comparison.
                    None => {
                        out.insert(
                            format!("{key} (no room_day, revision {})", revision(r)),
                            r.clone(),
                        );
                    }
                }
            } else if out.get(&key).is_none_or(|o| revision(o) < revision(r)) {
                out.insert(key, r.clone());
            }
        }
    }
    out
}

/// Every (table, key, revision) written more than once, with how often.
fn written_twice(data: &Path) -> Vec<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (table, cols) in TABLES {
        for r in rows(data, table) {
            *seen
                .entry(format!(
                    "{table}/{} revision {}",
                    key_of(&r, cols),
                    revision(&r)
                ))
                .or_insert(0) += 1;
        }
    }
    seen.into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(k, n)| format!("{k}: {n} times"))
        .collect()
}

/// Fails with the first differences between two sets of rows.
fn assert_same_tables(got: &BTreeMap<String, Row>, want: &BTreeMap<String, Row>) {
    let missing: Vec<&String> = want.keys().filter(|k| !got.contains_key(*k)).collect();
    let extra: Vec<&String> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    let differ: Vec<String> = want
        .iter()
        .filter_map(|(k, w)| {
            let g = got.get(k)?;
            (g != w).then(|| {
                let cols: Vec<String> = w
                    .iter()
                    .filter(|(c, v)| g.get(*c) != Some(*v))
                    .map(|(c, v)| {
                        format!("{c}: want {v}, got {}", g.get(c).unwrap_or(&Value::Null))
                    })
                    .collect();
                format!("{k}: {}", cols.join("; "))
            })
        })
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty() && differ.is_empty(),
        "the tables differ from the uninterrupted run's ({} rows there):\n\
         {} missing, e.g. {:?}\n{} extra, e.g. {:?}\n{} different, e.g.\n{}",
        want.len(),
        missing.len(),
        &missing[..missing.len().min(10)],
        extra.len(),
        &extra[..extra.len().min(10)],
        differ.len(),
        differ[..differ.len().min(10)].join("\n")
    );
}

/// Rows per table, for the log and to see that the comparison is not empty.
fn per_table(rows: &BTreeMap<String, Row>) -> BTreeMap<&str, usize> {
    let mut n = BTreeMap::new();
    for k in rows.keys() {
        *n.entry(k.split('/').next().unwrap_or_default())
            .or_insert(0) += 1;
    }
    n
}

#[test]
fn killed_at_random_doorstep_resumes_from_checkpoints_with_the_tables_of_an_uninterrupted_run() {
    require("mosquitto");
    // Seven kills at chosen moments of a paced fleet.
    let _turn = busy();
    let began = Instant::now();
    let dir = Workdir(Some(tempfile::tempdir().expect("tempdir")));
    let text = registry_toml("cp", "检查点社区", SITES, INTERVAL_S);
    let registry =
        Arc::new(Registry::from_toml(&text, Path::new("registry.toml")).expect("registry"));
    // Thirty hours up to ten minutes ago: at least one local day closes (its next 04:00 passes).
    let end_ms = (now_ms() - 10 * 60_000) / 60_000 * 60_000;
    let start_ms = end_ms - HOURS * 3_600_000;
    let messages: Vec<Publish> = Fleet::new(Arc::clone(&registry), SEED, start_ms).step(end_ms);
    let n = messages.len();
    assert!(n >= 20_000, "{n} messages");
    let day = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .expect("instant")
            .date_naive()
    };
    let dates: Vec<chrono::NaiveDate> = (-1..=((end_ms - start_ms) / 86_400_000 + 2))
        .map(|d| day(start_ms) + chrono::Duration::days(d))
        .collect();

    // Every message waits at the broker for a session whose doorstep is down.
    let broker = Mosquitto::start_with("max_queued_messages 0\nmax_inflight_messages 1000\n");
    let mut calm = Node::new(
        &dir.path().join("calm"),
        &text,
        broker.port,
        "doorstep-calm",
        0,
    );
    let mut hit = Node::new(
        &dir.path().join("hit"),
        &text,
        broker.port,
        "doorstep-hit",
        CHECKPOINT_INTERVAL_S,
    );
    calm.start(&[]);
    calm.ready();
    hit.start(&[]);
    hit.ready();
    let log = hit.start_line();
    assert!(
        log.contains("no usable checkpoint") && !log.contains("resuming from checkpoint"),
        "the first start has no checkpoint\n{}",
        hit.tail()
    );
    assert_eq!(
        metric(&hit.metrics(), "doorstep_restart_from_checkpoint"),
        Some(0.0),
        "doorstep_restart_from_checkpoint at the first start"
    );
    let store = analytics::Store::open(&hit.data(), Arc::clone(&registry)).expect("store");
    let calm_store = analytics::Store::open(&calm.data(), Arc::clone(&registry)).expect("store");

    let messages = Arc::new(messages);
    let progress = Arc::new(Progress::default());
    let publisher = {
        let (messages, progress, port) = (messages.clone(), progress.clone(), broker.port);
        std::thread::spawn(move || publish_paced(port, messages, progress))
    };

    let seed = std::env::var("CHECKPOINT_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEED);
    eprintln!("kills seeded with {seed} (CHECKPOINT_TEST_SEED)");
    let mut rng = StdRng::seed_from_u64(seed);
    // Rows of raw_events known to be inside a committed checkpoint.
    let mut covered = 0;
    let mut replayed = Vec::new();
    let mut caught_in_checkpoint = 0;
    let mut first_commit_checked = false;
    for (i, end) in PLAN.into_iter().enumerate() {
        let share = (i + 1) as f64 / 10.0 + rng.random_range(-0.03..0.03);
        let at = (share * n as f64) as usize;
        wait_for(Duration::from_secs(120), "the fleet to get on", || {
            (progress.published.load(Ordering::SeqCst) >= at).then_some(())
        });
        if end != End::KillAtStart {
            // Every row counted was sent to the stream before `after`.
            let rows = raw_count(&store, &dates);
            let after = now_ms();
            wait_commit_after(&hit, after);
            covered = covered.max(rows);
        }
        if !first_commit_checked {
            first_commit_checked = true;
            let (done, _) = checkpoints(&hit.data());
            let name = done.iter().next_back().expect("a committed checkpoint");
            assert!(
                name.len() == 13 && name.bytes().all(|b| b.is_ascii_digit()),
                "checkpoint directory {name:?}: 13 digits of epoch ms"
            );
            let commit = hit
                .data()
                .join("checkpoints/main")
                .join(name)
                .join("COMMIT");
            let text = std::fs::read_to_string(&commit).expect("COMMIT");
            serde_json::from_str::<Value>(&text)
                .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {text}", commit.display()));
            let body = hit.metrics();
            assert!(
                metric(&body, "doorstep_checkpoints_written_total").is_some_and(|v| v >= 1.0),
                "doorstep_checkpoints_written_total after a committed checkpoint"
            );
            assert!(
                metric(&body, "doorstep_checkpoint_bytes").is_some_and(|v| v > 0.0),
                "doorstep_checkpoint_bytes"
            );
            for name in [
                "doorstep_checkpoint_write_seconds",
                "doorstep_checkpoint_age_seconds",
            ] {
                assert!(has_metric(&body, name), "{name} in /metrics");
            }
        }
        let pause = Duration::from_millis(rng.random_range(0..1_500));
        match end {
            End::Kill | End::KillThenCrashInCheckpoint => {
                std::thread::sleep(pause);
                hit.sigkill();
            }
            End::KillInCheckpoint => {
                if kill_in_checkpoint(&mut hit) {
                    caught_in_checkpoint += 1;
                }
            }
            End::KillAtStart => hit.sigkill(),
        }
        eprintln!(
            "kill {} ({end:?}) at {} of {n} messages published, {covered} readings checkpointed",
            i + 1,
            progress.published.load(Ordering::SeqCst)
        );
        if end == End::KillThenCrashInCheckpoint {
            let (done, unfinished) = checkpoints(&hit.data());
            let before: BTreeSet<String> = done.union(&unfinished).cloned().collect();
            hit.start(&[("DOORSTEP_CRASH_IN_CHECKPOINT", "1")]);
            let status = hit.exited(
                Duration::from_secs(60),
                "DOORSTEP_CRASH_IN_CHECKPOINT=1 (an abort in the first checkpoint)",
            );
            assert!(!status.success(), "aborted: {status}\n{}", hit.tail());
            let log = hit.log();
            assert!(
                log.contains("resuming from checkpoint"),
                "the start that crashed had resumed from a checkpoint\n{}",
                hit.tail()
            );
            let (_, unfinished) = checkpoints(&hit.data());
            assert!(
                unfinished.difference(&before).next().is_some(),
                "the crash left its checkpoint directory without COMMIT\n{}",
                hit.tail()
            );
        }
        hit.start(&[]);
        hit.ready();
        replayed.push(check_resumed(&hit, &store, &dates, covered));
    }
    let errors = publisher.join().expect("publisher");
    assert_eq!(errors, 0, "the fleet's connection to Mosquitto dropped");
    eprintln!(
        "all {n} messages published after {:.0?}; {caught_in_checkpoint} of 2 kills caught a \
         checkpoint being written",
        began.elapsed()
    );
    assert!(
        replayed.iter().sum::<f64>() > 0.0,
        "some restart replayed the readings after its checkpoint: {replayed:?}"
    );

    for (node, store) in [(&hit, &store), (&calm, &calm_store)] {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let have = raw_count(store, &dates);
            if have >= n {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{have} of {n} messages in raw_events\n{}",
                node.tail()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    let body = hit.metrics();
    assert!(
        metric(&body, "doorstep_checkpoint_age_seconds").is_some_and(|v| v >= 0.0),
        "doorstep_checkpoint_age_seconds"
    );
    hit.stop();
    calm.stop();

    // A start after a graceful stop (which checkpoints) has nothing to replay.
    hit.start(&[]);
    hit.ready();
    let log = hit.start_line();
    assert!(
        log.contains("resuming from checkpoint"),
        "after a graceful stop\n{}",
        hit.tail()
    );
    let body = hit.metrics();
    assert_eq!(metric(&body, "doorstep_restart_from_checkpoint"), Some(1.0));
    assert_eq!(
        metric(&body, "doorstep_restart_replayed_readings"),
        Some(0.0),
        "the checkpoint of the graceful stop holds every reading\n{}",
        hit.tail()
    );
    // `doorstep run` installs its SIGTERM handler before it serves /readyz
    // (src/commands.rs, `shutdown_signal`): a SIGTERM right now is a clean stop.
    hit.stop();

    // raw_events: every message exactly once, in both runs.
    let validator = Validator::new(Arc::clone(&registry), Limits::default());
    let now = now_ms();
    let mut want: Vec<_> = messages
        .iter()
        .map(|p| {
            let r = validator
                .check(&p.topic, &p.payload, now)
                .expect("simulated messages are valid");
            (r.device.0, r.seq, r.time_ms)
        })
        .collect();
    want.sort_unstable();
    for store in [&store, &calm_store] {
        let mut got: Vec<_> = store
            .read_raw_events(&dates)
            .expect("raw_events")
            .iter()
            .map(|r| (r.device.0, r.seq, r.time_ms))
            .collect();
        got.sort_unstable();
        assert_eq!(got.len(), n, "{}: no message twice", store.root().display());
        assert!(
            got == want,
            "{}: every message exactly once",
            store.root().display()
        );
    }

    for node in [&hit, &calm] {
        let twice = written_twice(&node.data());
        assert!(
            twice.is_empty(),
            "{}: {} keys written twice at one revision, e.g. {:?}",
            node.dir.display(),
            twice.len(),
            &twice[..twice.len().min(10)]
        );
    }
    let want = in_force(&calm.data());
    let got = in_force(&hit.data());
    let counts = per_table(&want);
    eprintln!("uninterrupted run: {counts:?}");
    let rooms = registry.rooms.len();
    for (table, least) in [
        ("room_hour", rooms * 20),
        ("room_day", rooms),
        ("device_day", SITES * 4),
        ("site_day", SITES),
    ] {
        assert!(
            counts.get(table).copied().unwrap_or(0) >= least,
            "{table}: the uninterrupted run wrote {counts:?}"
        );
    }
    assert_same_tables(&got, &want);
    eprintln!(
        "{} kills, every table equal to the uninterrupted run's, in {:.0?}",
        PLAN.len(),
        began.elapsed()
    );
}
