//! Bad messages mixed with good ones through a real broker: each bad one lands
//! in `quarantine` with the right reason, every good one is counted, and the
//! process stays healthy.

use crate::common::*;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

const REGISTRY: &str = r#"
[[site]]
id = "q1"
name = "质检社区"
[[site.room]]
id = "hall"
name = "活动厅"
capacity = 10
area_m2 = 60
schedule = ["daily 08:00-20:00 culture"]
[[site.device]]
id = "c1"
room = "hall"
kind = "count"
[[site]]
id = "other"
name = "另一社区"
"#;

/// (topic, payload, reason code); the clock stands at 2026-11-23 12:30 +08:00.
fn corpus() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let c1 = "doorstep/v1/q1/c1";
    let text = |s: &str| s.as_bytes().to_vec();
    vec![
        (
            "doorstep/v1/q1",
            text(r#"{"type":"count","count":1}"#),
            "bad_topic",
        ),
        (
            c1,
            text(&format!(
                r#"{{"type":"count","count":1,"pad":"{}"}}"#,
                "x".repeat(5000)
            )),
            "oversize",
        ),
        (
            c1,
            b"{\"type\":\"count\",\"count\":1,\"x\":\"\xff\xfe\"}".to_vec(),
            "invalid_utf8",
        ),
        (c1, text(r#"{"type":"count","#), "malformed_json"),
        (c1, text(r#"{"type":"count","count":"3"}"#), "wrong_type"),
        (c1, text(r#"{"type":"count"}"#), "missing_field"),
        (c1, text(r#"{"type":"smell","count":1}"#), "unknown_type"),
        (c1, text(r#"{"type":"count","count":-1}"#), "negative_count"),
        (c1, text(r#"{"type":"count","count":5000}"#), "absurd_count"),
        (
            c1,
            text(r#"{"type":"count","count":1,"ts":"yesterday"}"#),
            "bad_timestamp",
        ),
        (
            c1,
            text(r#"{"type":"count","count":1,"ts":"2026-11-25T12:30:00+08:00"}"#),
            "future_timestamp",
        ),
        (
            c1,
            text(r#"{"type":"count","count":1,"ts":"2026-11-10T12:00:00+08:00"}"#),
            "too_old",
        ),
        (
            "doorstep/v1/q1/ghost",
            text(r#"{"type":"count","count":1}"#),
            "unknown_device",
        ),
        (
            "doorstep/v1/other/c1",
            text(r#"{"type":"count","count":1}"#),
            "site_mismatch",
        ),
    ]
}

#[test]
fn bad_messages_are_quarantined_with_their_reason() {
    require("mosquitto_pub");
    let dir = tempfile::tempdir().expect("tempdir");
    let web: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let mqtt = free_port();
    std::fs::write(dir.path().join("registry.toml"), REGISTRY).expect("registry");
    let config = dir.path().join("doorstep.toml");
    std::fs::write(
        &config,
        format!(
            "registry = \"registry.toml\"\ndata_dir = \"data\"\n[mqtt]\nlisten = \"127.0.0.1:{mqtt}\"\n\
             [web]\nlisten = \"{web}\"\n[store]\nflush_s = 1\n[clock]\nstart = \"2026-11-23T12:30:00+08:00\"\n"
        ),
    )
    .expect("config");
    let doorstep = Proc::spawn(
        "doorstep",
        Command::new(env!("CARGO_BIN_EXE_doorstep"))
            .args(["run", "--config"])
            .arg(&config),
    );
    wait_for(Duration::from_secs(30), "doorstep", || {
        http_get(web, "/healthz").filter(|(s, _)| *s == 200)
    });

    let bad = corpus();
    for (i, (topic, payload, _)) in bad.iter().enumerate() {
        let file = dir.path().join(format!("payload-{i}"));
        std::fs::write(&file, payload).expect("payload file");
        let status = Command::new("mosquitto_pub")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &mqtt.to_string(),
                "-q",
                "1",
                "-t",
                topic,
                "-f",
            ])
            .arg(&file)
            .status()
            .expect("mosquitto_pub");
        assert!(status.success());
        // A good message after each bad one.
        let good = format!(
            r#"{{"type":"count","count":{},"seq":{i},"ts":"2026-11-23T12:{:02}:00+08:00"}}"#,
            i % 4,
            10 + i
        );
        mosquitto_pub(mqtt, "doorstep/v1/q1/c1", &good);
    }

    // Then c1 floods: 30 readings in the same second, far above its 60 s interval. It may
    // send 10 x its rate (in event time) with bursts of 20; the bucket refilled during the
    // minutes since its last reading, so 20 pass and 10 are limited.
    const FLOOD: usize = 30;
    for i in 0..FLOOD {
        let good = format!(
            r#"{{"type":"count","count":1,"seq":{},"ts":"2026-11-23T12:29:00+08:00"}}"#,
            100 + i
        );
        mosquitto_pub(mqtt, "doorstep/v1/q1/c1", &good);
    }

    let data = dir.path().join("data");
    let raw_rows = |data: &std::path::Path| -> usize {
        read_table(data, "raw_events")
            .iter()
            .map(|b| b.num_rows())
            .sum()
    };
    let quarantined = wait_for(
        Duration::from_secs(30),
        "every message in raw_events or quarantine",
        || {
            let rows = rows(&data, "quarantine");
            (rows.len() + raw_rows(&data) >= 2 * bad.len() + FLOOD).then_some(rows)
        },
    );
    let accepted = raw_rows(&data);
    assert_eq!(
        http_get(web, "/healthz").map(|(s, _)| s),
        Some(200),
        "still healthy"
    );
    let (status, _out, err) = doorstep.terminate();
    assert!(status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let flooding = quarantined
        .iter()
        .filter(|r| r["reason"] == "flooding")
        .count();
    assert_eq!(flooding, 10, "the flood is limited");
    assert_eq!(
        accepted + flooding,
        bad.len() + FLOOD,
        "nothing lost: every good message is counted or kept"
    );
    assert_eq!(quarantined.len() - flooding, bad.len(), "{quarantined:#?}");
    for (topic, payload, reason) in &bad {
        let hex: String = payload.iter().map(|b| format!("{b:02x}")).collect();
        let hex = &hex[..hex.len().min(2 * 4097)];
        let row = quarantined
            .iter()
            .find(|r| r["reason"] == *reason)
            .unwrap_or_else(|| panic!("no quarantine row for {reason}"));
        assert_eq!(row["topic"], *topic, "{reason}");
        assert_eq!(
            row["payload"], hex,
            "{reason}: the payload is kept as received"
        );
        assert!(
            !row["detail"].as_str().unwrap_or_default().is_empty(),
            "{reason}"
        );
    }
    let site_mismatch = quarantined
        .iter()
        .find(|r| r["reason"] == "site_mismatch")
        .expect("row");
    assert_eq!(
        (&site_mismatch["site_id"], &site_mismatch["device_id"]),
        (&"other".into(), &"c1".into())
    );
}
