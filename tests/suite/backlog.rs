//! A backlog far larger than any in-flight window: 100,000 QoS 1 messages wait
//! in Mosquitto for doorstep's session, and doorstep takes every one of them in
//! when it starts. (Mosquitto resends a queue this size at once; acknowledging
//! used to wait on the MQTT client and stalled ingest around 70,000.)

use crate::common::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const N: u32 = 100_000;

const REGISTRY: &str = r#"
[[site]]
id = "b1"
name = "积压社区"
[[site.room]]
id = "hall"
name = "大厅"
capacity = 100
area_m2 = 60
[[site.device]]
id = "c1"
room = "hall"
kind = "count"
interval_s = 1
"#;

/// Journal lines written so far (flushes are an hour apart, so all of them).
fn journaled(data: &Path) -> usize {
    std::fs::read_dir(data.join("journal"))
        .map(|d| {
            d.flatten()
                .map(|f| {
                    std::fs::read(f.path())
                        .map(|b| b.iter().filter(|c| **c == b'\n').count())
                        .unwrap_or(0)
                })
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn a_queue_of_100000_messages_is_taken_in_whole() {
    require("mosquitto_pub");
    // Alone: beside the browser and alert tests on two cores, a healthy ingest
    // could pause long enough to look stalled.
    let _turn = heavy();
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let user = if running_as_root() { "user root\n" } else { "" };
    std::fs::write(
        dir.path().join("mosquitto.conf"),
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
             max_queued_messages 0\nmax_inflight_messages 1000\n{user}"
        ),
    )
    .expect("conf");
    let _broker = Proc::spawn(
        "mosquitto",
        Command::new("mosquitto")
            .arg("-c")
            .arg(dir.path().join("mosquitto.conf")),
    );
    wait_for(Duration::from_secs(10), "mosquitto", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });
    std::fs::write(dir.path().join("registry.toml"), REGISTRY).expect("registry");
    let web = free_port();
    let config = dir.path().join("doorstep.toml");
    std::fs::write(
        &config,
        format!(
            "registry = \"registry.toml\"\ndata_dir = \"data\"\n[mqtt]\nbroker = \"mqtt://127.0.0.1:{port}\"\n\
             client_id = \"doorstep-backlog\"\n[web]\nlisten = \"127.0.0.1:{web}\"\n[stream]\nidle_after_s = 86400\n\
             [store]\nflush_s = 3600\n[clock]\nstart = \"2026-11-25T06:00:00+08:00\"\n"
        ),
    )
    .expect("config");
    let data = dir.path().join("data");
    // Logs to a file: a pipe nobody reads would stall doorstep once full.
    let start = |name: &str| {
        let log = std::fs::File::create(dir.path().join(format!("{name}.log"))).expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_doorstep"))
            .args(["run", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("doorstep");
        Proc {
            child,
            name: name.to_owned(),
        }
    };
    // The first start makes the persistent session; then doorstep is away.
    let first = start("doorstep");
    wait_for(Duration::from_secs(30), "doorstep", || {
        http_get(
            format!("127.0.0.1:{web}").parse().expect("addr"),
            "/healthz",
        )
        .filter(|(s, _)| *s == 200)
    });
    let (status, _, err) = first.terminate();
    assert!(status.success(), "{err}");
    std::fs::remove_dir_all(&data).expect("fresh data dir");

    // One reading a second for 100,000 s before the clock: all valid, none late.
    // (rumqttc, counting the broker's PUBACKs: `mosquitto_pub -l` exits before its
    // QoS 1 messages are all through.)
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut options = rumqttc::MqttOptions::new("backlog-device", "127.0.0.1", port);
        options.set_inflight(500);
        let (client, mut events) = rumqttc::AsyncClient::new(options, 1000);
        let acks = tokio::spawn(async move {
            let mut acked = 0;
            while acked < N {
                if let rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_)) =
                    events.poll().await.expect("broker")
                {
                    acked += 1;
                }
            }
        });
        let first_s: i64 = 1_795_557_600 - i64::from(N); // 2026-11-25 06:00 +08 minus N s
        for seq in 0..N {
            let payload = format!(
                r#"{{"type":"count","count":{},"seq":{seq},"ts":{}}}"#,
                seq % 5,
                (first_s + i64::from(seq)) * 1000
            );
            client
                .publish(
                    "doorstep/v1/b1/c1",
                    rumqttc::QoS::AtLeastOnce,
                    false,
                    payload,
                )
                .await
                .expect("publish");
        }
        tokio::time::timeout(Duration::from_secs(120), acks)
            .await
            .expect("every message acknowledged by the broker")
            .expect("ack task");
    });

    let _second = start("doorstep again");
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut last = (0, Instant::now());
    loop {
        let n = journaled(&data);
        if n >= N as usize {
            break;
        }
        if n != last.0 {
            last = (n, Instant::now());
        }
        assert!(
            last.1.elapsed() < Duration::from_secs(45) && Instant::now() < deadline,
            "ingest stalled at {n} of {N} messages"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
