//! A registry changed between two runs (a room added before the others, so
//! every index moves): what the first run left, a checkpoint or readings in
//! the journal after a crash, lands in the right rooms of the second, and the
//! registry's history has both versions.

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

fn expect_rooms_after_the_change(run: &Run) {
    let want = vec![
        ("new".to_owned(), Value::Null),
        ("a".to_owned(), Value::from(5)),
        ("b".to_owned(), Value::from(7)),
    ];
    wait_for(Duration::from_secs(30), "each room's own count", || {
        (live(run) == want).then_some(())
    });
    let history = std::process::Command::new(env!("CARGO_BIN_EXE_doorstep"))
        .args(["registry", "history", "--data"])
        .arg(run.dir.path().join("data"))
        .output()
        .expect("history");
    let text = String::from_utf8_lossy(&history.stdout);
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
    // The new registry, applied while doorstep runs: written, for its next start.
    let new = run.dir.path().join("registry-new.toml");
    std::fs::write(&new, registry(&["new", "a", "b"])).expect("registry");
    let applied = std::process::Command::new(env!("CARGO_BIN_EXE_doorstep"))
        .args(["registry", "apply"])
        .arg(&new)
        .arg("--config")
        .arg(run.dir.path().join("doorstep.toml"))
        .output()
        .expect("apply");
    let said = String::from_utf8_lossy(&applied.stdout);
    assert!(
        said.starts_with("+ room fd/new 活动室 new\n") && said.contains("doorstep run is running"),
        "{said}{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    // A graceful stop writes a checkpoint of the rooms' state, by room index.
    stop_gracefully(&mut run);
    run.start(&[]);
    run.ready();
    expect_rooms_after_the_change(&run);
    assert!(
        log(&run, 2).contains("taken under another registry"),
        "{}",
        log(&run, 2)
    );
    // The device page knows, after the restart, what the quarantine kept of today.
    let (_, body) = http_get(run.web, "/api/devices?site=fd").expect("devices");
    let v: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v["waiting"][0]["device_id"], "d-later", "{body}");
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
    expect_rooms_after_the_change(&run);
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
