//! doorstep killed with SIGKILL: what it had acknowledged is in its journal and
//! reaches `raw_events` on the next start; what devices sent while it was down
//! waits at the broker (persistent session, QoS 1) and arrives then. Every
//! message is in `raw_events` exactly once.

use crate::common;
use crate::common::*;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const REGISTRY: &str = r#"
[[site]]
id = "k1"
name = "断电社区"
[[site.room]]
id = "hall"
name = "活动厅"
capacity = 100
area_m2 = 60
[[site.device]]
id = "c1"
room = "hall"
kind = "count"
"#;

/// Publishes `count: seq % 7` for each seq, one message per line through one `mosquitto_pub -l`.
fn publish_lines(port: u16, seqs: std::ops::Range<u32>) {
    let mut child = Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-q",
            "1",
            "-t",
            "doorstep/v1/k1/c1",
            "-l",
        ])
        .stdin(Stdio::piped())
        .spawn()
        .expect("mosquitto_pub");
    let mut stdin = child.stdin.take().expect("stdin");
    for seq in seqs {
        // A minute apart (the device's interval) from 11:00: before the clock, never in the future.
        let (h, m) = (11 + seq / 60, seq % 60);
        writeln!(
            stdin,
            r#"{{"type":"count","count":{},"seq":{seq},"ts":"2026-11-23T{h:02}:{m:02}:00+08:00"}}"#,
            seq % 7
        )
        .expect("line");
    }
    drop(stdin);
    assert!(child.wait().expect("wait").success());
}

fn journaled(data: &Path) -> usize {
    std::fs::read_dir(data.join("journal"))
        .map(|d| {
            d.flatten()
                .map(|f| {
                    std::fs::read_to_string(f.path())
                        .unwrap_or_default()
                        .lines()
                        .count()
                })
                .sum()
        })
        .unwrap_or(0)
}

fn doorstep(config: &Path) -> Proc {
    Proc::spawn(
        "doorstep",
        Command::new(env!("CARGO_BIN_EXE_doorstep"))
            .args(["run", "--config"])
            .arg(config),
    )
}

#[test]
fn a_killed_doorstep_loses_nothing_and_counts_nothing_twice() {
    require("mosquitto_pub");
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("registry.toml"), REGISTRY).expect("registry");
    let web: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let config = dir.path().join("doorstep.toml");
    // A flush only every hour: whatever was taken in before the kill is only in the journal.
    std::fs::write(
        &config,
        format!(
            "registry = \"registry.toml\"\ndata_dir = \"data\"\n[mqtt]\nbroker = \"mqtt://127.0.0.1:{}\"\n\
             client_id = \"doorstep-crash\"\n[web]\nlisten = \"{web}\"\n[store]\nflush_s = 3600\n\
             [clock]\nstart = \"2026-11-23T13:00:00+08:00\"\n",
            broker.port
        ),
    )
    .expect("config");
    let data = dir.path().join("data");

    let mut first = doorstep(&config);
    wait_for(Duration::from_secs(30), "doorstep", || {
        http_get(web, "/healthz").filter(|(s, _)| *s == 200)
    });
    publish_lines(broker.port, 1..51);
    wait_for(Duration::from_secs(30), "50 messages journaled", || {
        (journaled(&data) >= 50).then_some(())
    });
    first.child.kill().expect("SIGKILL");
    first.child.wait().expect("reaped");
    assert!(
        common::table_files(&data, "raw_events").is_empty(),
        "nothing reached Parquet before the kill"
    );

    // Devices go on while doorstep is down: the broker keeps the messages for its session.
    publish_lines(broker.port, 51..81);

    let second = doorstep(&config);
    wait_for(Duration::from_secs(30), "doorstep again", || {
        http_get(web, "/healthz").filter(|(s, _)| *s == 200)
    });
    wait_for(
        Duration::from_secs(30),
        "the 30 queued messages journaled",
        || (journaled(&data) >= 30).then_some(()),
    );
    let (status, _out, err) = second.terminate();
    assert!(status.success(), "{err}");
    assert!(err.contains("recovered messages from the journal"), "{err}");

    let mut seqs: Vec<u64> = rows(&data, "raw_events")
        .iter()
        .map(|r| r["seq"].as_u64().expect("seq"))
        .collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..81).collect::<Vec<u64>>(),
        "every message exactly once"
    );
}

/// After a restart without a checkpoint (none written yet, or turned off as here)
/// the stream starts empty and closes some hours again, partially. The complete
/// rows written before the restart stay the only ones: no key appears twice at
/// the same revision.
#[test]
fn rows_written_before_a_restart_are_not_written_again() {
    require("mosquitto_pub");
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("registry.toml"), REGISTRY).expect("registry");
    let web: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let config = dir.path().join("doorstep.toml");
    // Quiet after 2 s: hours close by the clock (13:00 minus 120 s).
    std::fs::write(
        &config,
        format!(
            "registry = \"registry.toml\"\ndata_dir = \"data\"\n[mqtt]\nbroker = \"mqtt://127.0.0.1:{}\"\n\
             client_id = \"doorstep-restart\"\n[web]\nlisten = \"{web}\"\n[stream]\nidle_after_s = 2\n\
             checkpoint_interval_s = 0\n\
             [store]\nflush_s = 1\n[clock]\nstart = \"2026-11-23T13:00:00+08:00\"\n",
            broker.port
        ),
    )
    .expect("config");
    let data = dir.path().join("data");
    let key_counts = |data: &Path| {
        let mut keys = std::collections::BTreeMap::new();
        for r in rows(data, "room_hour") {
            *keys
                .entry((
                    r["room_id"].to_string(),
                    r["hour_start"].to_string(),
                    r["revision"].to_string(),
                ))
                .or_insert(0) += 1;
        }
        keys
    };

    let first = doorstep(&config);
    wait_for(Duration::from_secs(30), "doorstep", || {
        http_get(web, "/healthz").filter(|(s, _)| *s == 200)
    });
    publish_lines(broker.port, 1..40);
    // 11:01 to 11:39; the hour 11:00 closes once the clock takes over (12:58).
    wait_for(Duration::from_secs(30), "room_hour for 11:00", || {
        (!key_counts(&data).is_empty()).then_some(())
    });
    let (status, _, err) = first.terminate();
    assert!(status.success(), "{err}");
    let before = key_counts(&data);

    let second = doorstep(&config);
    wait_for(Duration::from_secs(30), "doorstep again", || {
        http_get(web, "/healthz").filter(|(s, _)| *s == 200)
    });
    publish_lines(broker.port, 40..50);
    std::thread::sleep(Duration::from_secs(5));
    let (status, _, err) = second.terminate();
    assert!(status.success(), "{err}");
    let after = key_counts(&data);
    assert!(
        after.values().all(|n| *n == 1),
        "a key written twice: {after:?}"
    );
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after
            .keys()
            .filter(|k| before.contains_key(*k))
            .collect::<Vec<_>>()
    );
    assert!(
        err.contains("rows written before the restart are kept"),
        "{err}"
    );
}

const REGISTRY_OPEN: &str = r#"
[[site]]
id = "k1"
name = "断电社区"
[[site.room]]
id = "hall"
name = "活动厅"
capacity = 5
area_m2 = 60
schedule = ["daily 08:00-20:00 culture"]
[[site.device]]
id = "c1"
room = "hall"
kind = "count"
"#;

fn config_in(dir: &Path, port: u16, client: &str) -> (std::path::PathBuf, SocketAddr) {
    std::fs::write(dir.join("registry.toml"), REGISTRY_OPEN).expect("registry");
    let web: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let config = dir.join("doorstep.toml");
    // Hours close by event time only (a closing reading at 13:00), never by the clock.
    std::fs::write(
        &config,
        format!(
            "registry = \"registry.toml\"\ndata_dir = \"data\"\n[mqtt]\nbroker = \"mqtt://127.0.0.1:{port}\"\n\
             client_id = \"{client}\"\n[web]\nlisten = \"{web}\"\n[stream]\nidle_after_s = 600\n\
             [store]\nflush_s = 1\n[clock]\nstart = \"2026-11-23T13:00:00+08:00\"\n"
        ),
    )
    .expect("config");
    (config, web)
}

fn hour_11(data: &Path) -> Option<serde_json::Map<String, serde_json::Value>> {
    rows(data, "room_hour")
        .into_iter()
        .find(|r| r["hour_start"] == 1_795_402_800_000_i64)
}

/// The 11:00 row of an undisturbed run: 11:01 to 12:00, then a reading at 13:00 closes 11:00-12:00.
fn undisturbed_hour_11(broker: &Mosquitto) -> serde_json::Map<String, serde_json::Value> {
    let calm = tempfile::tempdir().expect("tempdir");
    let (config, web) = config_in(calm.path(), broker.port, "doorstep-calm");
    let run = doorstep(&config);
    wait_for(Duration::from_secs(30), "doorstep", || {
        http_get(web, "/healthz").filter(|(s, _)| *s == 200)
    });
    publish_lines(broker.port, 1..61);
    publish_lines(broker.port, 120..121);
    let want = wait_for(Duration::from_secs(30), "the 11:00 row", || {
        hour_11(&calm.path().join("data"))
    });
    let (status, _, err) = run.terminate();
    assert!(status.success(), "{err}");
    want
}

/// SIGKILL in the middle of an hour: the restarted doorstep rebuilds its state from
/// `raw_events` and closes that hour with exactly the values of an undisturbed run.
#[test]
fn a_restart_mid_hour_gives_the_rows_of_an_undisturbed_run() {
    require("mosquitto_pub");
    let broker = Mosquitto::start();
    let want = undisturbed_hour_11(&broker);

    // Disturbed: killed after 11:30, restarted, the rest of the hour arrives after.
    let hit = tempfile::tempdir().expect("tempdir");
    let data = hit.path().join("data");
    let (config, web) = config_in(hit.path(), broker.port, "doorstep-hit");
    let mut first = doorstep(&config);
    wait_for(Duration::from_secs(30), "doorstep", || {
        http_get(web, "/healthz").filter(|(s, _)| *s == 200)
    });
    publish_lines(broker.port, 1..31);
    wait_for(Duration::from_secs(30), "30 readings in raw_events", || {
        (rows(&data, "raw_events").len() == 30).then_some(())
    });
    first.child.kill().expect("SIGKILL");
    first.child.wait().expect("reaped");
    let second = doorstep(&config);
    wait_for(Duration::from_secs(30), "doorstep again", || {
        http_get(web, "/healthz").filter(|(s, _)| *s == 200)
    });
    publish_lines(broker.port, 31..61);
    publish_lines(broker.port, 120..121);
    let got = wait_for(Duration::from_secs(30), "the 11:00 row", || hour_11(&data));
    let (status, _, err) = second.terminate();
    assert!(status.success(), "{err}");
    assert!(
        err.contains("stream state rebuilt from raw_events"),
        "{err}"
    );
    assert_eq!(got, want, "the hour as if nothing had happened");
    assert!(
        got["measured_seconds"].as_u64() > Some(3000),
        "a well-measured hour: {got:?}"
    );
}

/// A crash while a flush is writing its files: the half-written file is invisible,
/// every table stays readable, and the next start writes the rows that were lost.
#[test]
fn a_crash_mid_flush_leaves_every_table_readable_and_the_next_start_completes_it() {
    require("mosquitto_pub");
    let broker = Mosquitto::start();
    let want = undisturbed_hour_11(&broker);

    let hit = tempfile::tempdir().expect("tempdir");
    let data = hit.path().join("data");
    let (config, web) = config_in(hit.path(), broker.port, "doorstep-midflush");
    // Aborts once the room_hour file is written under its temporary name, before the rename.
    let mut first = Proc::spawn(
        "doorstep",
        Command::new(env!("CARGO_BIN_EXE_doorstep"))
            .args(["run", "--config"])
            .arg(&config)
            .env("DOORSTEP_CRASH_BEFORE_COMMIT", "room_hour"),
    );
    wait_for(Duration::from_secs(30), "doorstep", || {
        http_get(web, "/healthz").filter(|(s, _)| *s == 200)
    });
    publish_lines(broker.port, 1..61);
    publish_lines(broker.port, 120..121);
    let status = wait_for(Duration::from_secs(30), "the crash", || {
        first.child.try_wait().expect("status")
    });
    assert!(!status.success(), "aborted");
    let tmp: Vec<_> = std::fs::read_dir(data.join("room_hour"))
        .expect("room_hour")
        .flatten()
        .flat_map(|p| std::fs::read_dir(p.path()).expect("partition").flatten())
        .filter(|f| f.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert_eq!(tmp.len(), 1, "the room_hour file was left half-done");
    for table in analytics::TABLES {
        // Panics on a file that cannot be read.
        let _ = read_table(&data, table);
    }
    assert!(hour_11(&data).is_none(), "the row never landed");

    let second = doorstep(&config);
    let got = wait_for(Duration::from_secs(30), "the 11:00 row", || hour_11(&data));
    let (status, _, err) = second.terminate();
    assert!(status.success(), "{err}");
    assert!(err.contains("finished what a crash interrupted"), "{err}");
    assert_eq!(got, want, "the hour as if nothing had happened");
    let left = std::fs::read_dir(data.join("room_hour"))
        .expect("room_hour")
        .flatten()
        .flat_map(|p| std::fs::read_dir(p.path()).expect("partition").flatten())
        .filter(|f| f.file_name().to_string_lossy().ends_with(".tmp"))
        .count();
    assert_eq!(left, 0, "the half-written file is gone");
}
