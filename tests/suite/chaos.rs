//! Chaos: a simulated fleet publishes over 200,000 QoS 1 messages through a real
//! Mosquitto with persistence on, while the test kills the broker (SIGKILL) and
//! restarts it three times and kills doorstep (SIGKILL) and restarts it three
//! times. Afterwards `raw_events` holds every message exactly once and
//! `room_day` equals an undisturbed run of the same input.
//!
//! Mosquitto acknowledges a QoS 1 PUBLISH as soon as it has it in memory and
//! saves its queues only every `autosave_interval`: a SIGKILL loses what it
//! acknowledged since the last save and had not yet handed to doorstep. The
//! simulated devices therefore do what devices with store-and-forward do: after
//! reconnecting they send their last seconds of messages again. doorstep takes
//! each of them in once (same device, seq and time).

use crate::common::fleet::*;
use crate::common::*;
use devices::sim::{Fleet, Publish};
use devices::{Limits, Reading, Registry, Validator};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// 2026-11-23 (Monday) 06:00 in Shanghai, Unix ms.
const START_MS: i64 = 1_795_384_800_000;
/// Two days of messages, so that the first day's `room_day` closes.
const END_MS: i64 = START_MS + 2 * 86_400_000;

#[test]
fn broker_and_doorstep_killed_three_times_each_lose_and_double_nothing() {
    require("mosquitto");
    // A fleet paced at 4,000 messages a second, killed at chosen moments of it.
    let _turn = busy();
    let dir = Workdir(Some(tempfile::tempdir().expect("tempdir")));
    // Six sites of three rooms, one or two devices a room, every 20 s.
    let registry_text = registry_toml("s", "混沌社区", 6, 20);
    std::fs::write(dir.path().join("registry.toml"), &registry_text).expect("registry");
    let registry = Arc::new(
        Registry::from_toml(&registry_text, Path::new("registry.toml")).expect("registry"),
    );
    let messages: Vec<Publish> = Fleet::new(Arc::clone(&registry), 11, START_MS).step(END_MS);
    let n = messages.len();
    assert!(n >= 200_000, "{n} messages");

    let mut broker = Broker::start(&dir.path().join("broker"));
    let web = format!("127.0.0.1:{}", free_port());
    // The clock stands after the last message; windows close by event time only.
    std::fs::write(
        dir.path().join("doorstep.toml"),
        format!(
            "registry = \"registry.toml\"\ndata_dir = \"data\"\n[mqtt]\n\
             broker = \"mqtt://127.0.0.1:{}\"\nclient_id = \"doorstep-chaos\"\n[web]\nlisten = \"{web}\"\n\
             [stream]\nidle_after_s = 86400\n[store]\nflush_s = 1\n\
             [clock]\nstart = \"2026-11-25T06:10:00+08:00\"\n",
            broker.port
        ),
    )
    .expect("config");
    let web: std::net::SocketAddr = web.parse().expect("addr");
    let data = dir.path().join("data");
    let healthy = || {
        wait_for(Duration::from_secs(60), "doorstep /healthz", || {
            http_get(web, "/healthz").filter(|(s, _)| *s == 200)
        });
    };
    let mut runs = 0;
    let mut ours = Doorstep::start(dir.path(), runs);
    healthy();

    let messages = Arc::new(messages);
    let progress = Arc::new(Progress::default());
    let publisher = {
        let (messages, progress, port) = (messages.clone(), progress.clone(), broker.port);
        std::thread::spawn(move || publish_all(port, messages, progress))
    };
    // Kill one or the other at these shares of the input.
    for (i, share) in [0.12, 0.26, 0.40, 0.54, 0.68, 0.82].into_iter().enumerate() {
        let at = (n as f64 * share) as usize;
        wait_for(Duration::from_secs(300), "the publisher to get on", || {
            (progress.published.load(Ordering::SeqCst) >= at).then_some(())
        });
        if i % 2 == 0 {
            broker.kill();
            std::thread::sleep(Duration::from_millis(1500));
            broker.restart();
        } else {
            ours.0.kill().expect("SIGKILL doorstep");
            ours.0.wait().expect("reaped");
            std::thread::sleep(Duration::from_millis(1500));
            runs += 1;
            ours = Doorstep::start(dir.path(), runs);
            healthy();
        }
    }
    publisher.join().expect("publisher");
    assert!(progress.done.load(Ordering::SeqCst));
    assert!(
        progress.resent.load(Ordering::SeqCst) > 0,
        "the broker kills made the devices send again"
    );

    let store = analytics::Store::open(&data, Arc::clone(&registry)).expect("store");
    let validator = Validator::new(Arc::clone(&registry), Limits::default());
    let now_ms = END_MS + 600_000;
    let readings: Vec<Reading> = messages
        .iter()
        .map(|p| {
            validator
                .check(&p.topic, &p.payload, now_ms)
                .expect("simulated messages are valid")
        })
        .collect();
    let mut want: Vec<_> = readings
        .iter()
        .map(|r| (r.device.0, r.seq, r.time_ms))
        .collect();
    want.sort_unstable();
    wait_raw_events(&store, n);
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(ours.0.id().to_string())
        .status()
        .expect("kill");
    assert!(status.success());
    assert!(ours.0.wait().expect("exit").success(), "clean exit");

    let mut got = raw_keys(&store);
    got.sort_unstable();
    assert_eq!(got.len(), n, "no message twice");
    assert!(got == want, "every message exactly once");

    // The undisturbed run: the same messages once, in order, through the same dataflow.
    let config = stream::StreamConfig {
        idle_after_s: 86_400,
        ..stream::StreamConfig::default()
    };
    let calm = tempfile::tempdir().expect("tempdir");
    let out = stream::replay(Arc::clone(&registry), &config, readings, 256, END_MS / 1000)
        .expect("replay");
    analytics::Store::open(calm.path(), Arc::clone(&registry))
        .expect("store")
        .write_windows(&out.windows)
        .expect("windows");
    let (live, reference) = (room_days(&data), room_days(calm.path()));
    assert!(reference.len() >= 18 * 2, "{} room days", reference.len());
    assert_eq!(
        live.keys().collect::<Vec<_>>(),
        reference.keys().collect::<Vec<_>>()
    );
    for (key, want) in &reference {
        assert_eq!(&live[key], want, "room_day {key}");
    }
}
