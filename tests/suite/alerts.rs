//! Alerts end to end: doorstep on Mosquitto with a simulated clock (120x, from
//! 23:55, so that a day closes and is released at 01:00 during the test), devices published with
//! `mosquitto_pub`, and real receivers: a JSON webhook that is down when the
//! first alerts are raised, a WeCom-shaped robot, an MQTT subscriber, and a
//! channel nobody listens on (its alerts go to the dead-letter file).

use crate::common::http::send;
use crate::common::run::Run;
use crate::common::{Mosquitto, Proc, free_port, http_get, mosquitto_pub, rows, wait_for};
use axum::Router;
use axum::extract::{Json, State};
use axum::http::{HeaderMap, Uri};
use axum::routing::post;
use serde_json::Value;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const REGISTRY: &str = r#"
[[site]]
id = "s1"
name = "玉林社区"
city = "成都市"
district = "武侯区"

[[site.room]]
id = "hall"
name = "多功能厅"
capacity = 2
area_m2 = 40
schedule = ["daily 00:00-24:00 culture"]

[[site.room]]
id = "quiet"
name = "阅览室"
capacity = 10
area_m2 = 30
schedule = ["daily 23:57-23:59 culture"]

[[site.room]]
id = "store"
name = "储藏室"
capacity = 4
area_m2 = 10
schedule = ["daily 08:00-09:00 culture"]

[[site.device]]
id = "c-hall"
room = "hall"
kind = "count"
# stale after 15 min of the clock: 7.5 s of wall time at 120x, longer than a restart under load
interval_s = 300

[[site.device]]
id = "c-quiet"
room = "quiet"
kind = "count"
interval_s = 60

[[site.device]]
id = "c-gone"
room = "store"
kind = "count"
interval_s = 60

[[site.device]]
id = "p-never"
room = "store"
kind = "presence"
interval_s = 60
"#;

/// What a receiver got: the request's path and query, one header, and the body.
type Got = Arc<Mutex<Vec<(String, String, Value)>>>;

/// A webhook (`/hook`) and a WeCom-shaped robot (`/cgi-bin/webhook/send`) on their ports.
fn receivers(rt: &tokio::runtime::Runtime, hook: u16, wecom: u16, hook_up: Arc<AtomicBool>) -> Got {
    let got: Got = Arc::default();
    async fn hook_handler(
        State(got): State<Got>,
        uri: Uri,
        headers: HeaderMap,
        Json(body): Json<Value>,
    ) -> &'static str {
        let signature = headers
            .get("x-doorstep-signature")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        got.lock()
            .expect("receiver log")
            .push((uri.to_string(), signature, body));
        "ok"
    }
    async fn wecom_handler(
        State(got): State<Got>,
        uri: Uri,
        Json(body): Json<Value>,
    ) -> Json<Value> {
        // The robot's documented answer; a body it cannot take is refused the same way.
        let fine = body["msgtype"] == "markdown" && body["markdown"]["content"].is_string();
        got.lock()
            .expect("receiver log")
            .push((uri.to_string(), String::new(), body));
        Json(if fine {
            serde_json::json!({"errcode": 0, "errmsg": "ok"})
        } else {
            serde_json::json!({"errcode": 40008, "errmsg": "invalid message type"})
        })
    }
    let wecom_app = Router::new()
        .route("/cgi-bin/webhook/send", post(wecom_handler))
        .with_state(Arc::clone(&got));
    let hook_app = Router::new()
        .route("/hook", post(hook_handler))
        .with_state(Arc::clone(&got));
    rt.spawn(async move {
        let l = tokio::net::TcpListener::bind(("127.0.0.1", wecom))
            .await
            .expect("receiver");
        axum::serve(l, wecom_app).await.expect("receiver");
    });
    // The webhook's server comes up only when the test says so.
    rt.spawn(async move {
        while !hook_up.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let l = tokio::net::TcpListener::bind(("127.0.0.1", hook))
            .await
            .expect("receiver");
        axum::serve(l, hook_app).await.expect("receiver");
    });
    got
}

fn alerts(run: &Run) -> Vec<Value> {
    http_get(run.web, "/api/alerts")
        .and_then(|(s, body)| (s == 200).then_some(body))
        .and_then(|b| serde_json::from_str::<Value>(&b).ok())
        .and_then(|v| v["alerts"].as_array().cloned())
        .unwrap_or_default()
}

fn find<'a>(list: &'a [Value], kind: &str, device: Option<&str>) -> Option<&'a Value> {
    list.iter()
        .find(|a| a["kind"] == kind && device.is_none_or(|d| a["device_id"] == d))
}

/// Stops doorstep with SIGTERM, as a service manager does, and waits.
fn stop(run: &mut Run) {
    if let Some(child) = run.child.take() {
        let id = child.id();
        let mut p = Proc {
            child,
            name: "doorstep".into(),
        };
        let _ = Command::new("kill")
            .args(["-TERM", &id.to_string()])
            .status();
        let status = p.child.wait().expect("doorstep exit");
        assert!(status.success(), "doorstep stopped cleanly: {status}");
    }
}

#[test]
fn alerts_are_raised_in_event_time_delivered_once_to_each_channel_and_survive_a_restart() {
    crate::common::require("mosquitto_sub");
    let broker = Mosquitto::start();
    let (hook, wecom, nowhere) = (free_port(), free_port(), free_port());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let hook_up = Arc::new(AtomicBool::new(false));
    let got = receivers(&rt, hook, wecom, Arc::clone(&hook_up));
    // The MQTT channel's subscriber.
    let sub_out = tempfile::NamedTempFile::new().expect("tmp");
    let _sub = Proc {
        child: Command::new("mosquitto_sub")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &broker.port.to_string(),
                "-q",
                "1",
                "-v",
            ])
            .args(["-t", "doorstep/v1/alerts/#"])
            .stdout(sub_out.reopen().expect("reopen"))
            .spawn()
            .expect("mosquitto_sub"),
        name: "mosquitto_sub".into(),
    };
    let config = |start: &str| {
        format!(
            r#"[clock]
start = "{start}"
speed = 120
[stream]
allowed_lateness_s = 5
idle_after_s = 5
door_reset_hour = 1
[stream.flags.site.s1]
lookback_days = 1
idle_days = 1
[alerts]
retry_first_s = 0.3
retry_max_s = 0.5
[[alerts.channel]]
name = "hook"
kind = "webhook"
url = "http://127.0.0.1:{hook}/hook"
secret = "s3cret"
[[alerts.channel]]
name = "wecom"
kind = "wecom"
url = "http://127.0.0.1:{wecom}/cgi-bin/webhook/send?key=k"
districts = ["武侯区"]
[[alerts.channel]]
name = "mqtt"
kind = "mqtt"
[[alerts.channel]]
name = "nowhere"
kind = "webhook"
url = "http://127.0.0.1:{nowhere}/x"
kinds = ["low_battery"]
give_up_after_s = 2
"#
        )
    };
    let mut run = Run::with_registry(
        REGISTRY,
        Some(broker.port),
        &config("2026-11-23T23:55:00+08:00"),
    );
    run.ready();

    // The devices: the hall over its capacity of 2 (with a low battery), the
    // reading room empty, c-gone heard once, p-never never.
    let hall = Arc::new(AtomicU32::new(5));
    let publishing = Arc::new(AtomicBool::new(true));
    let port = broker.port;
    mosquitto_pub(
        port,
        "doorstep/v1/s1/c-gone",
        r#"{"type":"count","count":0}"#,
    );
    mosquitto_pub(
        port,
        "doorstep/v1/s1/c-hall",
        r#"{"type":"status","battery_pct":9,"interval_s":300}"#,
    );
    let devices = {
        let (hall, publishing) = (Arc::clone(&hall), Arc::clone(&publishing));
        std::thread::spawn(move || {
            while publishing.load(Ordering::Relaxed) {
                let n = hall.load(Ordering::Relaxed);
                mosquitto_pub(
                    port,
                    "doorstep/v1/s1/c-hall",
                    &format!(r#"{{"type":"count","count":{n}}}"#),
                );
                mosquitto_pub(
                    port,
                    "doorstep/v1/s1/c-quiet",
                    r#"{"type":"count","count":0}"#,
                );
                std::thread::sleep(Duration::from_millis(400));
            }
        })
    };

    // Raised in the pipeline, without anyone asking for the list: the state file shows them.
    let state = run.dir.path().join("data/alerts/state.json");
    wait_for(
        Duration::from_secs(60),
        "four alerts in the state file",
        || {
            let text = std::fs::read_to_string(&state).ok()?;
            let v: Value = serde_json::from_str(&text).ok()?;
            (v["book"]["active"].as_array()?.len() >= 4).then_some(())
        },
    );
    // The webhook comes up only now: it gets what it missed.
    hook_up.store(true, Ordering::Relaxed);

    // The flapping hall: clear, then over capacity again within the cooldown.
    let over = wait_for(Duration::from_secs(30), "the over-capacity alert", || {
        find(&alerts(&run), "over_capacity", None).cloned()
    });
    hall.store(1, Ordering::Relaxed);
    wait_for(
        Duration::from_secs(30),
        "the over-capacity alert to end",
        || {
            find(&alerts(&run), "over_capacity", None)
                .filter(|a| !a["ended"].is_null())
                .map(|_| ())
        },
    );
    hall.store(5, Ordering::Relaxed);
    wait_for(Duration::from_secs(30), "the same alert back", || {
        find(&alerts(&run), "over_capacity", None)
            .filter(|a| a["ended"].is_null() && a["reopened"] == 1 && a["id"] == over["id"])
            .map(|_| ())
    });

    // Every kind is in the list once: offline (heard once, and never heard),
    // low battery, over capacity, and IDLE once the day closed.
    let list = wait_for(Duration::from_secs(60), "the IDLE alert", || {
        let list = alerts(&run);
        find(&list, "idle", None).is_some().then_some(list)
    });
    let idle = find(&list, "idle", None).expect("idle");
    assert_eq!(idle["room_id"], "quiet");
    assert!(
        idle["detail_zh"]
            .as_str()
            .unwrap_or_default()
            .contains("建而不用"),
        "{idle}"
    );
    let never = find(&list, "device_offline", Some("p-never")).expect("p-never offline");
    assert!(
        never["detail_zh"]
            .as_str()
            .unwrap_or_default()
            .contains("从未上报"),
        "{never}"
    );
    find(&list, "device_offline", Some("c-gone")).expect("c-gone offline");
    let battery = find(&list, "low_battery", Some("c-hall")).expect("low battery");
    assert!(
        battery["detail_zh"]
            .as_str()
            .unwrap_or_default()
            .contains("9%"),
        "{battery}"
    );
    assert!(
        find(&list, "device_offline", Some("c-hall")).is_none(),
        "c-hall reports: {list:?}"
    );

    // Each delivered once to each channel: the webhook (which was down), WeCom and MQTT.
    let wanted = [
        ("over_capacity", None),
        ("device_offline", Some("p-never")),
        ("device_offline", Some("c-gone")),
        ("low_battery", Some("c-hall")),
        ("idle", None),
    ];
    let delivered = |kind: &str, device: Option<&str>| {
        let got = got.lock().expect("receiver log");
        let hooks = got
            .iter()
            .filter(|(path, _, b)| {
                path.starts_with("/hook")
                    && b["alert"]["kind"] == kind
                    && device.is_none_or(|d| b["alert"]["device_id"] == d)
            })
            .count();
        let wecoms = got
            .iter()
            .filter(|(path, _, b)| {
                let text = b["markdown"]["content"].as_str().unwrap_or_default();
                path.starts_with("/cgi-bin/webhook/send?key=k")
                    && device.is_none_or(|d| text.contains(&format!("设备 {d}")))
                    && text.contains(match kind {
                        "over_capacity" => "超员",
                        "device_offline" => "设备离线",
                        "low_battery" => "电量低",
                        _ => "建而不用",
                    })
            })
            .count();
        let text = std::fs::read_to_string(sub_out.path()).unwrap_or_default();
        let mqtt = text
            .lines()
            .filter_map(|l| l.split_once(' '))
            .filter(|(topic, _)| *topic == "doorstep/v1/alerts/s1")
            .filter_map(|(_, body)| serde_json::from_str::<Value>(body).ok())
            .filter(|b| {
                b["alert"]["kind"] == kind && device.is_none_or(|d| b["alert"]["device_id"] == d)
            })
            .count();
        (hooks, wecoms, mqtt)
    };
    for (kind, device) in wanted {
        wait_for(
            Duration::from_secs(30),
            &format!("{kind} {device:?} delivered"),
            || (delivered(kind, device) == (1, 1, 1)).then_some(()),
        );
    }
    // The webhook's body is signed with its secret.
    let signed = got
        .lock()
        .expect("receiver log")
        .iter()
        .find(|(p, _, _)| p.starts_with("/hook"))
        .cloned();
    assert!(signed.expect("a webhook call").1.starts_with("sha256="));

    // The channel nobody listens on gave up: its alert is in the dead-letter file.
    let dead = run.dir.path().join("data/alerts/dead-letter.jsonl");
    let line = wait_for(Duration::from_secs(20), "the dead letter", || {
        std::fs::read_to_string(&dead)
            .ok()
            .filter(|t| !t.is_empty())
    });
    let dead: Value =
        serde_json::from_str(line.lines().next().unwrap_or_default()).expect("json line");
    assert_eq!(
        (
            dead["channel"].as_str(),
            dead["job"]["alert"]["kind"].as_str()
        ),
        (Some("nowhere"), Some("low_battery"))
    );

    // Acknowledge the offline device, then restart doorstep: the alert is still
    // open, still acknowledged, and nobody is paged again.
    let id = never["id"].as_u64().expect("id");
    let origin = format!("http://{}", run.web);
    let ack = send(
        run.web,
        "POST",
        &format!("/api/alerts/{id}/ack"),
        &[("Origin", &origin)],
        "",
        Duration::from_secs(5),
    )
    .expect("ack");
    assert_eq!(ack.status, 200, "{}", ack.body);
    wait_for(Duration::from_secs(10), "the acknowledgement saved", || {
        let text = std::fs::read_to_string(&state).ok()?;
        let v: Value = serde_json::from_str(&text).ok()?;
        v["book"]["active"]
            .as_array()?
            .iter()
            .any(|a| a["id"] == id && a["acked_by"].is_string())
            .then_some(())
    });
    let now = http_get(run.web, "/api/live")
        .and_then(|(_, b)| serde_json::from_str::<Value>(&b).ok())
        .and_then(|v| v["now"].as_str().map(str::to_owned))
        .expect("the clock");
    stop(&mut run);
    std::fs::write(
        run.dir.path().join("doorstep.toml"),
        std::fs::read_to_string(run.dir.path().join("doorstep.toml"))
            .expect("config")
            .replace("2026-11-23T23:55:00+08:00", &now),
    )
    .expect("config");
    run.start(&[]);
    run.ready();
    let back = wait_for(
        Duration::from_secs(30),
        "the alert after the restart",
        || find(&alerts(&run), "device_offline", Some("p-never")).cloned(),
    );
    assert_eq!(back["id"], id);
    assert!(back["ended"].is_null(), "{back}");
    assert!(back["acked_by"].is_string(), "{back}");
    std::thread::sleep(Duration::from_secs(3));
    for (kind, device) in wanted {
        assert_eq!(
            delivered(kind, device),
            (1, 1, 1),
            "{kind} {device:?} once, also after the restart"
        );
    }
    publishing.store(false, Ordering::Relaxed);
    devices.join().expect("devices");

    // The alerts table holds the history: opened, reopened, acknowledged.
    stop(&mut run);
    let rows = rows(&run.dir.path().join("data"), "alerts");
    let events = |e: &str| rows.iter().filter(|r| r["event"] == e).count();
    assert!(events("opened") >= 5, "{rows:?}");
    assert!(
        events("reopened") >= 1 && events("acknowledged") == 1,
        "{rows:?}"
    );
}
