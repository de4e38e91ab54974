//! The sinks cannot stall each other: with an InfluxDB that takes connections
//! and never answers, and with every Parquet flush made slow, the live page
//! still shows each new count within a second or two.

use crate::common::mqtt::Device;
use crate::common::run::*;
use crate::common::*;
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// A server that accepts every connection and never reads or answers.
fn hanging_server() -> (u16, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let thread = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            match stream {
                Ok(s) => held.push(s),
                Err(_) => return,
            }
        }
    });
    (port, thread)
}

/// The occupancy `/api/live` shows for room `r00`.
fn live_occupancy(run: &Run) -> Option<u64> {
    let (200, body) = http_get(run.web, "/api/live")? else {
        return None;
    };
    let live: serde_json::Value = serde_json::from_str(&body).ok()?;
    live["sites"][0]["rooms"]
        .as_array()?
        .iter()
        .find(|r| r["id"] == "r00")?["occupancy"]
        .as_u64()
}

#[test]
fn the_live_page_keeps_updating_while_influxdb_hangs_and_parquet_is_slow() {
    // A latency bound (2 s to the live page): not beside a heavy or busy test.
    let _turn = heavy();
    let (influx_port, _server) = hanging_server();
    // The writer waits "forever" on its first request and holds 16 points at most:
    // a sink that waited for it would stop everything after 16 points.
    let extra = format!(
        "[influx]\nurl = \"http://127.0.0.1:{influx_port}\"\norg = \"o\"\nbucket = \"b\"\n\
         timeout_ms = 600000\nqueue_points = 16\n"
    );
    let mut run = Run::with(2, None, &extra);
    run.kill();
    // Devices that report every second: five messages a second each are within the flood guard.
    let registry = registry(2).replace("interval_s = 10", "interval_s = 1");
    std::fs::write(run.dir.path().join("registry.toml"), registry).expect("registry");
    // Every flush of the tables (each second) takes three seconds longer.
    run.start(&[("DOORSTEP_SLOW_TABLES_MS", "3000")]);
    run.ready();

    let mut device = Device::connect(run.mqtt, "d00", None).expect("connect");
    // Room r01 gets a backlog from eight hours ago, five minutes a message: its
    // hours close one after another and give the tables rows to write.
    let mut backlog = Device::connect(run.mqtt, "d01", None).expect("connect");
    let backlog_from = now_ms() - 8 * 3_600_000;
    let began = Instant::now();
    let mut worst = Duration::ZERO;
    let mut seq = 0;
    // Fifteen seconds: several slow flushes, and far more points than InfluxDB's queue holds.
    while began.elapsed() < Duration::from_secs(15) {
        seq += 1;
        let count = 1 + seq % 20;
        let payload = format!(
            r#"{{"type":"count","ts":{},"seq":{seq},"count":{count}}}"#,
            now_ms()
        );
        backlog
            .publish_acked(
                "doorstep/v1/fd/d01",
                count_payload(seq, backlog_from + seq as i64 * 300_000).as_bytes(),
            )
            .expect("publish the backlog");
        let sent = Instant::now();
        device
            .publish_acked("doorstep/v1/fd/d00", payload.as_bytes())
            .expect("publish");
        wait_for(
            Duration::from_secs(20),
            &format!("count {count} on the live page"),
            || (live_occupancy(&run) == Some(count)).then_some(()),
        );
        worst = worst.max(sent.elapsed());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(seq >= 30, "only {seq} counts went through in 15 s");
    assert!(
        worst < Duration::from_secs(2),
        "a count took {worst:?} to reach the live page"
    );
    // The tables still got their rows (slowly), and InfluxDB's points were counted, not waited for.
    assert!(run.metric("doorstep_influx_points_overflowed_total", "") > 0.0);
    let log = std::fs::read_to_string(run.dir.path().join("doorstep-2.log")).expect("log");
    assert!(
        log.contains("room windows written"),
        "the tables wrote (slowly) while the live page moved:\n{log}"
    );
    assert!(
        !log.contains("ERROR"),
        "no error while the sinks were slow:\n{log}"
    );
}
