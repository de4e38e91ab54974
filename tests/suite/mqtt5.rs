//! Devices speaking MQTT 5: through the embedded broker's MQTT 5 listener and
//! through Mosquitto, their readings are counted like MQTT 3.1.1 ones.

use crate::common::*;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

const REGISTRY: &str = r#"
[[site]]
id = "m5"
name = "五号社区"
[[site.room]]
id = "hall"
name = "活动厅"
capacity = 10
area_m2 = 60
[[site.device]]
id = "c1"
room = "hall"
kind = "count"
"#;

fn publish_v5(port: u16, count: u32, minute: u32) {
    publish_v5_with(port, count, minute, &[]);
}

/// With extra `mosquitto_pub` arguments, e.g. MQTT 5 properties.
fn publish_v5_with(port: u16, count: u32, minute: u32, extra: &[&str]) {
    let payload = format!(
        r#"{{"type":"count","count":{count},"seq":{minute},"ts":"2026-11-23T12:{minute:02}:00+08:00"}}"#
    );
    let status = Command::new("mosquitto_pub")
        .args([
            "-V",
            "mqttv5",
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-q",
            "1",
        ])
        .args(["-t", "doorstep/v1/m5/c1", "-m", &payload])
        .args(extra)
        .status()
        .expect("mosquitto_pub");
    assert!(status.success(), "an MQTT 5 client publishes");
}

fn run_with(mqtt: &str, publish_port: u16, dir: &std::path::Path) {
    std::fs::write(dir.join("registry.toml"), REGISTRY).expect("registry");
    let web: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let config = dir.join("doorstep.toml");
    std::fs::write(
        &config,
        format!(
            "registry = \"registry.toml\"\ndata_dir = \"data\"\n[mqtt]\n{mqtt}\n[web]\nlisten = \"{web}\"\n\
             [store]\nflush_s = 1\n[clock]\nstart = \"2026-11-23T12:30:00+08:00\"\n"
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
    // Properties, as MQTT 5 devices often send them; the next message must still arrive.
    publish_v5_with(
        publish_port,
        2,
        10,
        &[
            "-D",
            "publish",
            "user-property",
            "fw",
            "1.2",
            "-D",
            "publish",
            "message-expiry-interval",
            "3600",
        ],
    );
    publish_v5(publish_port, 5, 11);
    let data = dir.join("data");
    wait_for(Duration::from_secs(30), "both readings", || {
        (rows(&data, "raw_events").len() == 2).then_some(())
    });
    let (status, _out, err) = doorstep.terminate();
    assert!(status.success(), "{err}");
    let mut counts: Vec<_> = rows(&data, "raw_events")
        .iter()
        .map(|r| r["count"].clone())
        .collect();
    counts.sort_by_key(|c| c.as_u64());
    assert_eq!(counts, [2, 5]);
}

#[test]
fn mqtt5_devices_through_the_embedded_broker() {
    require("mosquitto_pub");
    let dir = tempfile::tempdir().expect("tempdir");
    let (v4, v5) = (free_port(), free_port());
    run_with(
        &format!("listen = \"127.0.0.1:{v4}\"\nlisten_v5 = \"127.0.0.1:{v5}\""),
        v5,
        dir.path(),
    );
}

#[test]
fn mqtt5_devices_through_mosquitto() {
    require("mosquitto_pub");
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().expect("tempdir");
    run_with(
        &format!("broker = \"mqtt://127.0.0.1:{}\"", broker.port),
        broker.port,
        dir.path(),
    );
}
