//! A registry changed while doorstep runs or between two runs: a room added
//! before the others, a device moved between rooms. What was taken before the
//! change stays in the rooms it was taken in (live, in the tables, after a
//! restart, a checkpoint or a crash's journal), and the registry's history has
//! both versions.

use crate::common::run::{Run, now_ms};
use crate::common::*;
use serde_json::Value;
use std::time::Duration;

/// Rooms `ids` of site `fd`, each with a counter `d-<room>` reporting every 5 minutes.
fn registry(ids: &[&str]) -> String {
    let mut s = String::from("[[site]]\nid = \"fd\"\nname = \"前门社区\"\ncity = \"测试市\"\n\n");
    for id in ids {
        s += &format!(
            "[[site.room]]\nid = \"{id}\"\nname = \"活动室 {id}\"\ncapacity = 30\narea_m2 = 40\n\n\
             [[site.device]]\nid = \"d-{id}\"\nroom = \"{id}\"\nkind = \"count\"\ninterval_s = 300\n\n"
        );
    }
    s
}

/// Each room's live occupancy (null when unknown), by room id.
fn live(run: &Run) -> Vec<(String, Value)> {
    let Some((200, body)) = http_get(run.web, "/api/live") else {
        return Vec::new();
    };
    let v: Value = serde_json::from_str(&body).expect("live JSON");
    v["sites"][0]["rooms"]
        .as_array()
        .map(|rooms| {
            rooms
                .iter()
                .map(|r| {
                    (
                        r["id"].as_str().unwrap_or("").to_owned(),
                        r["occupancy"].clone(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn publish_counts(run: &Run) {
    for (device, count) in [("d-a", 5), ("d-b", 7)] {
        mosquitto_pub(
            run.mqtt,
            &format!("doorstep/v1/fd/{device}"),
            &format!(
                r#"{{"type":"count","ts":{},"seq":1,"count":{count}}}"#,
                now_ms()
            ),
        );
    }
}

fn stop_gracefully(run: &mut Run) {
    let mut child = run.child.take().expect("running");
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let status = child.wait().expect("exit");
    assert!(status.success(), "{status}");
}

fn log(run: &Run, start: usize) -> String {
    std::fs::read_to_string(run.dir.path().join(format!("doorstep-{start}.log")))
        .unwrap_or_default()
}

/// `doorstep registry apply FILE ARGS` with the run's config.
fn apply(run: &Run, file: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_doorstep"))
        .args(["registry", "apply"])
        .args(args)
        .arg(file)
        .arg("--config")
        .arg(run.dir.path().join("doorstep.toml"))
        .output()
        .expect("apply")
}

/// `doorstep registry history` of the data directory `data`.
fn history(data: &std::path::Path) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_doorstep"))
        .args(["registry", "history", "--data"])
        .arg(data)
        .output()
        .expect("history");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Rooms new, a and b, the new one reading `new`.
fn expect_rooms_after_the_change(run: &Run, new: Value) {
    let want = vec![
        ("new".to_owned(), new),
        ("a".to_owned(), Value::from(5)),
        ("b".to_owned(), Value::from(7)),
    ];
    wait_for(Duration::from_secs(30), "each room's own count", || {
        (live(run) == want).then_some(())
    });
    let text = history(&run.dir.path().join("data"));
    assert!(
        text.contains("v1 ") && text.contains("v2 ") && text.contains("+ room fd/new 活动室 new"),
        "{text}"
    );
}

#[test]
fn a_checkpoint_of_another_registry_is_not_laid_on_the_wrong_rooms() {
    let _busy = busy();
    let mut run = Run::with_registry(&registry(&["a", "b"]), None, "");
    run.ready();
    publish_counts(&run);
    wait_for(Duration::from_secs(30), "the counts", || {
        (live(&run) == [("a".into(), Value::from(5)), ("b".into(), Value::from(7))]).then_some(())
    });
    // A sensor installed before it is registered, and a registered one's bad message.
    mosquitto_pub(
        run.mqtt,
        "doorstep/v1/fd/d-later",
        r#"{"type":"count","count":2}"#,
    );
    mosquitto_pub(run.mqtt, "doorstep/v1/fd/d-a", "{oops");
    // The new room's counter, heard before the change registers it.
    mosquitto_pub(
        run.mqtt,
        "doorstep/v1/fd/d-new",
        r#"{"type":"count","count":1}"#,
    );
    // The new registry, applied while doorstep runs: it switches to it.
    let new = run.dir.path().join("registry-new.toml");
    std::fs::write(&new, registry(&["new", "a", "b"])).expect("registry");
    let applied = apply(&run, &new, &[]);
    let said = String::from_utf8_lossy(&applied.stdout);
    assert!(
        said.starts_with("+ room fd/new 活动室 new\n")
            && said.contains("doorstep run is running")
            && said.contains("the change holds from"),
        "{said}{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    expect_rooms_after_the_change(&run, Value::Null);
    // A bad registry written straight into the file: refused in one line of
    // the log, the running registry stays; the good one back, nothing to do.
    let path = run.dir.path().join("registry.toml");
    let good = std::fs::read_to_string(&path).expect("registry");
    std::fs::write(&path, good.replace("room = \"a\"", "room = \"attic\"")).expect("bad");
    let refused = wait_for(Duration::from_secs(30), "the refusal", || {
        log(&run, 1)
            .lines()
            .find(|l| l.contains("registry change refused"))
            .map(str::to_owned)
    });
    assert!(refused.contains("attic"), "{refused}");
    std::fs::write(&path, &good).expect("good again");
    mosquitto_pub(
        run.mqtt,
        "doorstep/v1/fd/d-a",
        &format!(r#"{{"type":"count","ts":{},"seq":2,"count":6}}"#, now_ms()),
    );
    wait_for(Duration::from_secs(30), "a's new count", || {
        (live(&run).get(1) == Some(&("a".to_owned(), Value::from(6)))).then_some(())
    });
    mosquitto_pub(
        run.mqtt,
        "doorstep/v1/fd/d-a",
        &format!(r#"{{"type":"count","ts":{},"seq":3,"count":5}}"#, now_ms()),
    );
    expect_rooms_after_the_change(&run, Value::Null);
    assert_eq!(
        log(&run, 1).matches("registry switched in place").count(),
        1
    );
    // SIGHUP (systemctl reload) reads the file again at once; doorstep runs on.
    let pid = run.child.as_ref().expect("running").id().to_string();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill");
    assert!(hup.success());
    wait_for(Duration::from_secs(30), "SIGHUP taken", || {
        log(&run, 1)
            .contains("SIGHUP: reading the registry file again")
            .then_some(())
    });
    expect_rooms_after_the_change(&run, Value::Null);
    // The new room's counter, registered by the change, is taken at once.
    mosquitto_pub(
        run.mqtt,
        "doorstep/v1/fd/d-new",
        &format!(r#"{{"type":"count","ts":{},"seq":1,"count":4}}"#, now_ms()),
    );
    expect_rooms_after_the_change(&run, Value::from(4));
    // A graceful stop; the checkpoint, by index, fits the registry of all time
    // (the new room has an index of its own after the others).
    stop_gracefully(&mut run);
    run.start(&[]);
    run.ready();
    expect_rooms_after_the_change(&run, Value::from(4));
    assert!(
        log(&run, 2).contains("resuming from checkpoint"),
        "{}",
        log(&run, 2)
    );
    // The device page knows, after the restart, what the quarantine kept of today.
    let (_, body) = http_get(run.web, "/api/devices?site=fd").expect("devices");
    let v: Value = serde_json::from_str(&body).expect("JSON");
    // d-new, registered by the change, waits no more.
    let waiting = v["waiting"].as_array().expect("waiting");
    assert_eq!(waiting.len(), 1, "{body}");
    assert_eq!(waiting[0]["device_id"], "d-later", "{body}");
    let a = v["devices"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["device_id"] == "d-a"))
        .expect("d-a");
    assert_eq!(a["rejected_today"], 1, "{body}");
}

#[test]
fn readings_a_crash_left_in_the_journal_follow_their_devices() {
    let _busy = busy();
    // Nothing reaches raw_events before the crash: the readings are in the journal only.
    let mut run = Run::with_registry(&registry(&["a", "b"]), None, "");
    let config = run.dir.path().join("doorstep.toml");
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, text.replace("flush_s = 1", "flush_s = 3600")).expect("config");
    run.kill();
    run.start(&[]);
    run.ready();
    publish_counts(&run);
    wait_for(Duration::from_secs(30), "the counts", || {
        (live(&run).len() == 2 && live(&run).iter().all(|(_, v)| !v.is_null())).then_some(())
    });
    run.kill();
    std::fs::write(
        run.dir.path().join("registry.toml"),
        registry(&["new", "a", "b"]),
    )
    .expect("registry");
    run.start(&[]);
    run.ready();
    expect_rooms_after_the_change(&run, Value::Null);
    let data = run.dir.path().join("data");
    let devices: Vec<String> = rows(&data, "raw_events")
        .iter()
        .map(|r| {
            format!(
                "{}/{}",
                r["device_id"].as_str().unwrap_or(""),
                r["room_id"].as_str().unwrap_or("")
            )
        })
        .collect();
    let mut devices = devices;
    devices.sort();
    assert_eq!(devices, ["d-a/a", "d-b/b"]);
}

/// 2026-11-23 00:00 in Shanghai, Unix seconds.
const DAY: i64 = 1_795_363_200;

/// Local time `h:m` of 2026-11-23, Unix ms.
fn at(h: i64, m: i64) -> i64 {
    (DAY + h * 3600 + m * 60) * 1000
}

/// Rooms a and c; counter d-a, reporting hourly, in `room`.
fn moving(room: &str) -> String {
    format!(
        "[[site]]\nid = \"fd\"\nname = \"前门社区\"\ncity = \"测试市\"\n\n\
         [[site.room]]\nid = \"a\"\nname = \"活动室\"\ncapacity = 30\narea_m2 = 40\nschedule = [\"daily 08:00-20:00 culture\"]\n\n\
         [[site.room]]\nid = \"c\"\nname = \"阅览室\"\ncapacity = 30\narea_m2 = 40\nschedule = [\"daily 08:00-20:00 culture\"]\n\n\
         [[site.device]]\nid = \"d-a\"\nroom = \"{room}\"\nkind = \"count\"\ninterval_s = 3600\n"
    )
}

/// The latest `room_hour` row of `room` for the hour starting at `start_ms`:
/// (revision, measured seconds, person-seconds).
fn hour(data: &std::path::Path, room: &str, start_ms: i64) -> Option<(u64, u64, u64)> {
    rows(data, "room_hour")
        .iter()
        .filter(|r| r["room_id"] == room && r["hour_start"].as_i64() == Some(start_ms))
        .map(|r| {
            let n = |c: &str| r[c].as_u64().unwrap_or(0);
            (n("revision"), n("measured_seconds"), n("person_seconds"))
        })
        .max()
}

#[test]
fn a_device_moved_with_apply_while_running_counts_in_each_room_while_bound_to_it() {
    let _busy = busy();
    // 4 minutes of the clock a second: the noon move and the hours' ends come within seconds.
    let clock = "[clock]\nstart = \"2026-11-23T11:40:00+08:00\"\nspeed = 240\n";
    let mut run = Run::with_registry(&moving("a"), None, clock);
    let spawned = std::time::Instant::now();
    // The clock is behind this estimate by the process's start-up only.
    let clock_ms = move || at(11, 40) + spawned.elapsed().as_millis() as i64 * 240;
    let publish = |run: &Run, ts: i64, count: u32| {
        wait_for(Duration::from_secs(60), "the clock", || {
            (clock_ms() > ts + 120_000).then_some(())
        });
        mosquitto_pub(
            run.mqtt,
            "doorstep/v1/fd/d-a",
            &format!(
                r#"{{"type":"count","ts":{ts},"seq":{},"count":{count}}}"#,
                ts / 1000
            ),
        );
    };
    run.ready();
    publish(&run, at(11, 45), 5);
    wait_for(Duration::from_secs(30), "a's count", || {
        (live(&run) == [("a".into(), Value::from(5)), ("c".into(), Value::Null)]).then_some(())
    });
    // The counter is moved to c from noon, while doorstep runs.
    let new = run.dir.path().join("registry-moved.toml");
    std::fs::write(&new, moving("c")).expect("registry");
    let applied = apply(&run, &new, &["--effective", "2026-11-23T12:00:00+08:00"]);
    let said = String::from_utf8_lossy(&applied.stdout);
    assert!(
        said.contains("> device d-a moved from fd/a to fd/c")
            && said.contains("switches to the new registry"),
        "{said}{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    wait_for(Duration::from_secs(30), "the switch", || {
        log(&run, 1)
            .contains("registry switched in place")
            .then_some(())
    });
    publish(&run, at(12, 1), 9);
    // Live: c has the counter now; a has no device left.
    wait_for(Duration::from_secs(30), "c's count", || {
        (live(&run) == [("a".into(), Value::Null), ("c".into(), Value::from(9))]).then_some(())
    });
    let data = run.dir.path().join("data");
    // Tables: 11:45-12:00 in a (the 11:45 count would hold past noon, but the
    // counter left a at noon); 12:01-13:00 in c; nothing of it in c before noon.
    let a11 = wait_for(Duration::from_secs(60), "a's 11:00 hour", || {
        hour(&data, "a", at(11, 0))
    });
    assert_eq!(a11, (0, 900, 5 * 900));
    let c12 = wait_for(Duration::from_secs(90), "c's 12:00 hour", || {
        hour(&data, "c", at(12, 0))
    });
    assert_eq!(c12, (0, 3540, 9 * 3540));
    assert_eq!(hour(&data, "a", at(12, 0)).map(|h| h.1), Some(0));
    assert!(hour(&data, "c", at(11, 0)).is_none_or(|h| h.1 == 0));
    // A late reading from before the move corrects a's hour, not c's.
    publish(&run, at(11, 50), 6);
    let a11 = wait_for(Duration::from_secs(60), "a's 11:00 hour again", || {
        hour(&data, "a", at(11, 0)).filter(|h| h.0 > 0)
    });
    assert_eq!((a11.1, a11.2), (900, 5 * 300 + 6 * 600));
    assert_eq!(hour(&data, "c", at(12, 0)).map(|h| h.0), Some(0));
    // After a restart (later the same day), the past stays where it was taken
    // and new readings go to c.
    stop_gracefully(&mut run);
    // The clock goes on from a little after where it stood (it ran fast).
    let later = clock_ms() + 600_000;
    let start = chrono::DateTime::from_timestamp_millis(later)
        .expect("time")
        .to_rfc3339();
    let config = run.dir.path().join("doorstep.toml");
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        text.replace("2026-11-23T11:40:00+08:00", &start)
            .replace("speed = 240", "speed = 1"),
    )
    .expect("config");
    run.start(&[]);
    run.ready();
    mosquitto_pub(
        run.mqtt,
        "doorstep/v1/fd/d-a",
        &format!(r#"{{"type":"count","ts":{later},"seq":99,"count":4}}"#),
    );
    wait_for(
        Duration::from_secs(30),
        "c's count after the restart",
        || (live(&run) == [("a".into(), Value::Null), ("c".into(), Value::from(4))]).then_some(()),
    );
    let taken = || {
        let mut t: Vec<String> = rows(&data, "raw_events")
            .iter()
            .map(|r| format!("{}@{}", r["room_id"].as_str().unwrap_or(""), r["count"]))
            .collect();
        t.sort();
        t
    };
    wait_for(Duration::from_secs(30), "the reading in raw_events", || {
        (taken().len() == 4).then_some(())
    });
    assert_eq!(taken(), ["a@5", "a@6", "c@4", "c@9"]);
    assert_eq!(
        hour(&data, "a", at(11, 0)).map(|h| h.2),
        Some(5 * 300 + 6 * 600)
    );
    assert_eq!(hour(&data, "c", at(12, 0)).map(|h| h.2), Some(9 * 3540));
    let text = history(&data);
    assert!(
        text.contains("2026-11-23T04:00:00Z"),
        "v2 holds from noon: {text}"
    );
}

/// Room a open `hours` daily from 08:00, with a counter that reports once a day.
fn timetable(hours: &str) -> String {
    format!(
        "[[site]]\nid = \"fd\"\nname = \"前门社区\"\ncity = \"测试市\"\n\n\
         [[site.room]]\nid = \"a\"\nname = \"活动室\"\ncapacity = 30\narea_m2 = 40\nschedule = [\"daily {hours} culture\"]\n\n\
         [[site.device]]\nid = \"d-a\"\nroom = \"a\"\nkind = \"count\"\ninterval_s = 86400\n"
    )
}

/// Room a's `room_day` rows by local day of November: (day, revision, open seconds).
fn days(data: &std::path::Path) -> Vec<(i64, u64, u64)> {
    let mut d: Vec<(i64, u64, u64)> = rows(data, "room_day")
        .iter()
        .filter(|r| r["room_id"] == "a")
        .map(|r| {
            let start = r["day_start"].as_i64().unwrap_or(0);
            (
                23 + (start / 1000 - DAY) / 86_400,
                r["revision"].as_u64().unwrap_or(0),
                r["open_seconds"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    d.sort();
    d
}

#[test]
fn a_timetable_dated_two_days_back_recomputes_those_days_only() {
    let _busy = busy();
    // 11-26 05:00; the counter's reports of the three mornings before come in first.
    let clock = "[clock]\nstart = \"2026-11-26T05:00:00+08:00\"\n";
    let run = Run::with_registry(&timetable("08:00-18:00"), None, clock);
    run.ready();
    for day in 0..3 {
        let ts = at(7, 30) + day * 86_400_000;
        mosquitto_pub(
            run.mqtt,
            "doorstep/v1/fd/d-a",
            &format!(r#"{{"type":"count","ts":{ts},"seq":{day},"count":3}}"#),
        );
    }
    // 11-25 closes once the clock moves the frontier past 11-26 04:00 (the reset).
    let data = run.dir.path().join("data");
    wait_for(Duration::from_secs(60), "three days closed", || {
        (days(&data).len() == 3).then_some(())
    });
    assert_eq!(
        days(&data),
        [(23, 0, 36_000), (24, 0, 36_000), (25, 0, 36_000)]
    );
    // A new timetable holding from 11-25: that day is computed again (a higher
    // revision), the days before keep their numbers and revision.
    let new = run.dir.path().join("registry-term.toml");
    std::fs::write(&new, timetable("08:00-12:00")).expect("registry");
    let applied = apply(&run, &new, &["--effective", "2026-11-25"]);
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    wait_for(Duration::from_secs(60), "11-25 again", || {
        (days(&data).len() == 4).then_some(())
    });
    assert_eq!(
        days(&data),
        [
            (23, 0, 36_000),
            (24, 0, 36_000),
            (25, 0, 36_000),
            (25, 1, 14_400)
        ]
    );
    // Recomputed by the running stream, which never stopped.
    assert!(log(&run, 1).contains("registry switched in place"));
}
