//! The InfluxDB sink against a real VictoriaMetrics (Debian's
//! `victoria-metrics`, which takes the InfluxDB v2 write API): points are
//! written, the server is stopped, writing goes on (into the disk spool, across
//! a restart of the writer), the server comes back, and every point is read
//! back through VictoriaMetrics' export API, exactly once, with its values,
//! its timestamp and its Chinese names (spaces, commas, equals signs and a
//! backslash in them) as written.

use analytics::influx::{Feed, InfluxConfig, InfluxStats, InfluxWriter, SPOOL_DIR, point};
use devices::{Category, LiveRoom, Registry, RoomIdx, RoomWindow, SiteDay, SiteIdx};
use devices::{VisitsMethod, WindowKind};
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use stream::Output;

const REGISTRY: &str = r#"
[[site]]
id = "pd-tangqiao"
name = "浦东新区 塘桥社区,综合体=一期"
city = "上海市"
district = "浦东 新区"
[[site.room]]
id = "hall"
name = "多功能 活动厅\\二楼"
capacity = 30
area_m2 = 80
schedule = ["daily 08:00-12:00 infant_care", "daily 13:00-20:00 elderly_care"]
[[site.room]]
id = "office"
name = "家政 服务,办公室"
capacity = 4
area_m2 = 20
schedule = ["mon-fri 09:00-17:00 housekeeping"]
[[site.device]]
id = "hall-count"
room = "hall"
kind = "count"
[[site.device]]
id = "office-presence"
room = "office"
kind = "presence"

[[site]]
id = "ja-caojiadu"
name = "静安区 曹家渡社区"
city = "上海市"
district = "静安区"
[[site.room]]
id = "canteen"
name = "长者 食堂"
capacity = 60
area_m2 = 150
schedule = ["daily 10:30-13:30 meal_aid", "daily 16:30-18:30 meal_aid"]
[[site.device]]
id = "canteen-door"
room = "canteen"
kind = "door"
"#;

/// How many outputs the test sends, and where the server's outage begins and ends.
const TOTAL: usize = 1_000;
const DOWN_FROM: usize = 300;
const SECOND_WRITER_FROM: usize = 600;
const UP_FROM: usize = 800;

/// A metric name and its labels: one series.
type SeriesKey = (String, BTreeMap<String, String>);
/// Samples of each series as written, by timestamp (ms).
type Samples = BTreeMap<SeriesKey, Vec<(i64, Value)>>;
/// Samples of each series as VictoriaMetrics exports them.
type Exported = BTreeMap<SeriesKey, Vec<(i64, f64)>>;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Value {
    Int(i64),
    Float(f64),
}

impl Value {
    fn matches(self, got: f64) -> bool {
        match self {
            Value::Int(i) => got == i as f64,
            // VictoriaMetrics keeps about 12 significant digits of a float.
            Value::Float(f) => (f - got).abs() <= 1e-10 * f.abs().max(1.0),
        }
    }
}

#[test]
fn points_written_while_victoria_metrics_is_down_arrive_when_it_is_back() {
    if !victoria_metrics_installed() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("doorstep-data");
    let vm_data = dir.path().join("victoria");
    let port = free_port();
    let registry =
        Arc::new(Registry::from_toml(REGISTRY, Path::new("registry.toml")).expect("registry"));
    let outputs = outputs(&registry);
    let mut config = InfluxConfig::new(&format!("http://127.0.0.1:{port}"), "pilot", "doorstep");
    config.batch_points = 64;
    config.flush_ms = 50;
    config.max_backoff_ms = 300;
    config.timeout_ms = 3_000;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let start = |rt: &tokio::runtime::Runtime| {
        let writer = rt
            .block_on(async { InfluxWriter::start(&config, None, &data_dir.join(SPOOL_DIR)) })
            .expect("start the InfluxDB writer");
        let feed = Feed::new(writer.sender(), Arc::clone(&registry), config.names);
        (writer, feed)
    };

    // Up: points go straight to the server.
    let mut vm = Victoria::start(port, &vm_data);
    let (sink, feed) = start(&rt);
    let stats = sink.stats();
    for o in &outputs[..DOWN_FROM] {
        offer(&feed, o);
    }
    wait_until("the first points to be written", || {
        stats.written.load(Relaxed) == DOWN_FROM as u64
    });
    assert_eq!(stats.spooled.load(Relaxed), 0);

    // Down: the writer keeps taking points and spools them on disk.
    vm.stop();
    for o in &outputs[DOWN_FROM..SECOND_WRITER_FROM] {
        offer(&feed, o);
    }
    wait_until("the points to be spooled", || {
        stats.spooled.load(Relaxed) == (SECOND_WRITER_FROM - DOWN_FROM) as u64
    });
    assert!(stats.retries.load(Relaxed) >= 1, "{}", counters(&stats));
    // doorstep stops too: the spool stays on disk.
    drop(feed);
    rt.block_on(sink.shutdown()).expect("stop the first writer");
    assert_eq!(stats.written.load(Relaxed), DOWN_FROM as u64);
    let spool = data_dir.join(SPOOL_DIR);
    assert!(
        std::fs::read_dir(&spool).expect("spool").count() > 0,
        "the spool holds the points"
    );

    // doorstep starts again while the server is still down: new points queue behind the spool.
    let (sink, feed) = start(&rt);
    let stats = sink.stats();
    for o in &outputs[SECOND_WRITER_FROM..UP_FROM] {
        offer(&feed, o);
    }
    wait_until("the new points to be spooled", || {
        stats.spooled.load(Relaxed) == (UP_FROM - SECOND_WRITER_FROM) as u64
    });

    // Back: the spool is drained, oldest first, then new points go straight on.
    let vm = Victoria::start(port, &vm_data);
    wait_until("the spool to be drained", || {
        stats.written.load(Relaxed) == (UP_FROM - DOWN_FROM) as u64
    });
    for o in &outputs[UP_FROM..] {
        offer(&feed, o);
    }
    wait_until("the last points to be written", || {
        stats.written.load(Relaxed) == (TOTAL - DOWN_FROM) as u64
    });
    drop(feed);
    rt.block_on(sink.shutdown())
        .expect("stop the second writer");
    assert_eq!(stats.spool_bytes.load(Relaxed), 0, "{}", counters(&stats));
    assert_eq!(stats.dropped.load(Relaxed), 0);
    assert_eq!(stats.overflowed.load(Relaxed), 0);
    assert_eq!(stats.rejected.load(Relaxed), 0);
    assert_eq!(std::fs::read_dir(&spool).expect("spool").count(), 0);

    // Every point is in VictoriaMetrics, exactly once, as it was written.
    let lines: Vec<point::Point> = outputs
        .iter()
        .filter_map(|o| to_point(&registry, o))
        .collect();
    assert_eq!(lines.len(), TOTAL);
    let expected = expected(&lines);
    let got = vm.export();
    let missing: Vec<_> = expected
        .keys()
        .filter(|k| !got.contains_key(*k))
        .take(3)
        .collect();
    assert!(
        missing.is_empty(),
        "series missing in VictoriaMetrics: {missing:?}"
    );
    let extra: Vec<_> = got
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .take(3)
        .collect();
    assert!(
        extra.is_empty(),
        "series VictoriaMetrics should not have: {extra:?}"
    );
    let mut samples = 0;
    for (key, want) in &expected {
        let have = &got[key];
        let times: Vec<i64> = have.iter().map(|(t, _)| *t).collect();
        let want_times: Vec<i64> = want.iter().map(|(t, _)| *t).collect();
        assert_eq!(
            times, want_times,
            "timestamps of {key:?} (each exactly once)"
        );
        for ((t, w), (_, h)) in want.iter().zip(have) {
            assert!(w.matches(*h), "{key:?} at {t}: wrote {w:?}, read {h}");
        }
        samples += want.len();
    }
    assert!(samples > 10 * TOTAL, "{samples} samples checked");

    // The Chinese names came through whole, escaping and all.
    let labels = |name: &str| -> Vec<String> {
        let mut v: Vec<String> = got
            .keys()
            .filter_map(|(_, l)| l.get(name).cloned())
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let mut sites: Vec<String> = registry.sites.iter().map(|s| s.name.clone()).collect();
    sites.sort();
    assert_eq!(labels("site_name"), sites);
    let mut rooms: Vec<String> = registry.rooms.iter().map(|r| r.name.clone()).collect();
    rooms.sort();
    assert_eq!(labels("room_name"), rooms);
    assert!(rooms.contains(&"多功能 活动厅\\二楼".to_owned()));
    assert_eq!(labels("district"), ["浦东 新区", "静安区"]);
}

fn to_point(registry: &Registry, o: &Output) -> Option<point::Point> {
    match o {
        Output::Live(l) => point::live(registry, l, true).ok(),
        Output::Window(w) => point::window(registry, w, true).ok(),
        Output::SiteDay(d) => point::site_day(registry, d, true).ok(),
        _ => None,
    }
}

/// `TOTAL` outputs, each with its own timestamp, every 10 minutes over the
/// last week (VictoriaMetrics keeps a month by default): live changes, hours,
/// days, slot days and site days of every room and site.
fn outputs(registry: &Registry) -> Vec<Output> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let base = (now - 8 * 86_400) / 600 * 600;
    let rooms = registry.rooms.len();
    (0..TOTAL)
        .map(|i| {
            let t = base + i as i64 * 600;
            let room = RoomIdx((i % rooms) as u32);
            let r = registry.room(room);
            let presence_only = r.sensors.presence_only();
            let door = r.sensors.door;
            let n = (i * 7 % 23) as u32;
            let measured = 3_600 - (i % 7) as u32 * 100;
            let occupied = (i * 37) as u32 % (measured + 1);
            let window = |kind, end| RoomWindow {
                kind,
                room,
                start: t,
                end,
                open_seconds: 3_600,
                measured_seconds: measured,
                occupied_seconds: occupied,
                person_seconds: u64::from(occupied) * (i % 5 + 1) as u64,
                peak_occupancy: (occupied > 0).then_some(n),
                visits: (i % 11) as u64,
                visits_method: if door {
                    VisitsMethod::Door
                } else {
                    VisitsMethod::Transitions
                },
                longest_idle_seconds: measured - occupied,
                after_hours_occupied_seconds: (i % 3) as u32 * 60,
                over_capacity_seconds: (i % 4) as u32,
                capacity: (!presence_only).then_some(r.capacity),
                door_residual: (door && kind == WindowKind::Day).then_some((i % 3) as u32),
                revision: (i % 9 == 0) as u16,
            };
            match i % 6 {
                0 | 1 => Output::Live(LiveRoom {
                    room,
                    occupancy: (i % 13 != 0).then_some(if presence_only { n.min(1) } else { n }),
                    updated_ms: t * 1000 + (i % 1000) as i64,
                    valid_until: Some(t + 180),
                    idle_since_ms: None,
                    over_capacity_since_ms: (n > r.capacity).then_some(t * 1000),
                }),
                2 => Output::Window(window(WindowKind::Hour, t + 3_600)),
                3 => Output::Window(window(WindowKind::Day, t + 86_400)),
                4 => {
                    let c = if i % 12 == 4 {
                        Category::InfantCare
                    } else {
                        Category::ElderlyCare
                    };
                    Output::Window(window(WindowKind::SlotDay(c), t + 86_400))
                }
                _ => Output::SiteDay(SiteDay {
                    site: SiteIdx((i / 6 % registry.sites.len()) as u32),
                    start: t,
                    end: t + 86_400,
                    rooms: 2,
                    open_seconds: 40_000,
                    measured_seconds: 36_000 + i as u64,
                    occupied_seconds: 12_000 + i as u64,
                    person_seconds: 50_000 + 3 * i as u64,
                    capacity_person_seconds: 40_000 + i as u64,
                    capacity_seconds: 1_000_000,
                    visits: 100 + i as u64,
                    area_m2: 100.5,
                    rooms_covered: (i % 3) as u32,
                    rooms_underused: (i % 2) as u32,
                    functions_in_use: vec![
                        Category::ElderlyCare,
                        Category::MealAid,
                        Category::Culture,
                    ][..i % 4]
                        .to_vec(),
                    revision: 0,
                }),
            }
        })
        .collect()
}

/// What VictoriaMetrics should hold for these lines: one series per
/// measurement, field and tag set (`{measurement}_{field}`), read from the
/// lines themselves.
fn expected(points: &[point::Point]) -> Samples {
    let mut out = Samples::new();
    for p in points {
        let line = p.as_str().trim_end_matches('\n');
        let parts = split_unescaped(line, ' ');
        assert_eq!(parts.len(), 3, "{line}");
        let mut series = split_unescaped(&parts[0], ',').into_iter();
        let measurement = series.next().expect("measurement");
        let tags: BTreeMap<String, String> = series
            .map(|t| {
                let kv = split_unescaped(&t, '=');
                assert_eq!(kv.len(), 2, "{t}");
                (unescape(&kv[0]), unescape(&kv[1]))
            })
            .collect();
        let ts: i64 = parts[2].parse().expect("timestamp");
        for field in parts[1].split(',') {
            let (k, v) = field.split_once('=').expect("field");
            let value = match v {
                "t" => Value::Int(1),
                "f" => Value::Int(0),
                v if v.ends_with('i') => Value::Int(v.trim_end_matches('i').parse().expect("int")),
                v => Value::Float(v.parse().expect("float")),
            };
            out.entry((format!("{measurement}_{k}"), tags.clone()))
                .or_default()
                .push((ts, value));
        }
    }
    for samples in out.values_mut() {
        samples.sort_by_key(|(t, _)| *t);
    }
    out
}

/// Splits at `sep` where it is not escaped with a backslash.
fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        let last = parts.last_mut().expect("a part");
        if c == '\\' {
            last.push(c);
            if let Some(n) = chars.next() {
                last.push(n);
            }
        } else if c == sep {
            parts.push(String::new());
        } else {
            last.push(c);
        }
    }
    parts
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.extend(chars.next());
        } else {
            out.push(c);
        }
    }
    out
}

/// Skips (with a loud message) when VictoriaMetrics is not installed, except on CI, where it fails.
fn victoria_metrics_installed() -> bool {
    let found = Command::new("sh")
        .args(["-c", "command -v victoria-metrics"])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "victoria-metrics is not installed; scripts/test installs it (apt-get install victoria-metrics)"
        );
        eprintln!(
            "\n\n*** SKIPPED: victoria-metrics is not installed, so the InfluxDB sink was NOT tested.\n*** Install it: apt-get install victoria-metrics (scripts/test does)\n"
        );
    }
    found
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The point of an output, as `doorstep run` sends it.
fn offer(feed: &Feed, o: &Output) {
    match o {
        Output::Live(l) => feed.live(l),
        Output::Window(w) => feed.window(w),
        Output::SiteDay(d) => feed.site_day(d),
        _ => panic!("the test sends live states, windows and site days only"),
    }
}

fn counters(s: &InfluxStats) -> String {
    format!(
        "written {} spooled {} dropped {} rejected {} retries {} spool bytes {}",
        s.written.load(Relaxed),
        s.spooled.load(Relaxed),
        s.dropped.load(Relaxed),
        s.rejected.load(Relaxed),
        s.retries.load(Relaxed),
        s.spool_bytes.load(Relaxed),
    )
}

/// A VictoriaMetrics server on a loopback port, stopped when dropped.
struct Victoria {
    port: u16,
    child: Option<Child>,
    log: PathBuf,
}

impl Victoria {
    fn start(port: u16, data: &Path) -> Victoria {
        let log = data.with_extension("log");
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let child = Command::new("victoria-metrics")
            .arg(format!("-storageDataPath={}", data.display()))
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            // Fresh points show at once (with /internal/force_flush).
            .arg("-search.latencyOffset=0s")
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .expect("start victoria-metrics");
        let vm = Victoria {
            port,
            child: Some(child),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while vm.get("/health").is_none_or(|(status, _)| status != 200) {
            assert!(
                Instant::now() < deadline,
                "victoria-metrics did not start:\n{}",
                std::fs::read_to_string(&vm.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        vm
    }

    /// SIGTERM, as a service manager stops it, and waits until it is gone.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            self.get("/health").is_none(),
            "victoria-metrics still answers"
        );
    }

    /// Every series of the doorstep measurements, through `/api/v1/export`.
    fn export(&self) -> Exported {
        let (status, _) = self.get("/internal/force_flush").expect("force_flush");
        assert_eq!(status, 200);
        let selector = r#"{__name__=~"(room_live|room_hour|room_day|room_slot_day|site_day)_.+"}"#;
        let (status, body) = self
            .get(&format!("/api/v1/export?match[]={}", percent(selector)))
            .expect("export");
        assert_eq!(status, 200, "{body}");
        let mut out = Exported::new();
        for line in body.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("export line");
            let mut labels: BTreeMap<String, String> = v["metric"]
                .as_object()
                .expect("metric")
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect();
            let name = labels.remove("__name__").expect("metric name");
            labels.remove("db");
            let values = v["values"].as_array().expect("values");
            let times = v["timestamps"].as_array().expect("timestamps");
            assert_eq!(values.len(), times.len());
            let samples = out.entry((name, labels)).or_default();
            for (t, v) in times.iter().zip(values) {
                let t = t.as_i64().expect("timestamp");
                samples.push((t, v.as_f64().expect("value")));
            }
        }
        for samples in out.values_mut() {
            samples.sort_by_key(|(t, _)| *t);
        }
        out
    }

    /// GET; `None` when nothing answers.
    fn get(&self, path: &str) -> Option<(u16, String)> {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        let a = crate::common::http::send(addr, "GET", path, &[], "", Duration::from_secs(30))?;
        Some((a.status, a.body))
    }
}

impl Drop for Victoria {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn percent(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
