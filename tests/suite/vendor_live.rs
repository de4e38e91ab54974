//! Vendor payloads on live MQTT: devices whose registry `codec` is a Milesight
//! one publish their own JSON on their v1 topic through a real broker (the
//! embedded one, from `mosquitto_pub`), and doorstep decodes it before
//! validation, as DEVICES.md asks.

use crate::common::run::Run;
use crate::common::{http_get, mosquitto_pub, wait_for};
use std::time::Duration;

const REGISTRY: &str = r#"
[[site]]
id = "ms"
name = "厂商社区"
city = "测试市"

[[site.room]]
id = "gate-room"
name = "阅览室"
capacity = 60
area_m2 = 80

[[site.device]]
id = "vs133"
room = "gate-room"
kind = "door"
codec = "milesight-vs13x"
interval_s = 60

[[site.room]]
id = "cam-room"
name = "活动室"
capacity = 30
area_m2 = 50

[[site.device]]
id = "vs121"
room = "cam-room"
kind = "count"
codec = "milesight-vs121"
interval_s = 60
"#;

/// Occupancy of each room on `/api/live`, by room id.
fn live(run: &Run) -> Option<Vec<(String, Option<u64>)>> {
    let (200, body) = http_get(run.web, "/api/live")? else {
        return None;
    };
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    let mut rooms: Vec<(String, Option<u64>)> = v["sites"][0]["rooms"]
        .as_array()?
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap_or_default().to_owned(),
                r["occupancy"].as_u64(),
            )
        })
        .collect();
    rooms.sort();
    Some(rooms)
}

/// Local wall-clock time in Shanghai `secs_ago` seconds ago, as VS121 writes it.
fn shanghai(secs_ago: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::seconds(secs_ago))
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y/%m/%d %H:%M:%S")
        .to_string()
}

#[test]
fn milesight_devices_publish_their_own_json_live() {
    let run = Run::with_registry(REGISTRY, None, "");
    run.ready();
    let now = |ago: i64| (chrono::Utc::now() - chrono::Duration::seconds(ago)).to_rfc3339();
    // The door counter: cumulative line totals, first the baseline, then 7 in and 2 out.
    mosquitto_pub(
        run.mqtt,
        "doorstep/v1/ms/vs133",
        &format!(
            r#"{{"line_total_data":[{{"line_uuid":"a","total":{{"in_counted":100,"out_counted":90}}}}],"time":"{}"}}"#,
            now(20)
        ),
    );
    mosquitto_pub(
        run.mqtt,
        "doorstep/v1/ms/vs133",
        &format!(
            r#"{{"line_total_data":[{{"line_uuid":"a","total":{{"in_counted":104,"out_counted":91}}}},{{"line_uuid":"b","total":{{"in_counted":3,"out_counted":1}}}}],"time":"{}"}}"#,
            now(10)
        ),
    );
    // The region counter: 4 people, in local time with its zone.
    mosquitto_pub(
        run.mqtt,
        "doorstep/v1/ms/vs121",
        &format!(
            r#"{{"event":"Region People Counting","report_type":"interval","time_info":{{"timezone":"UTC+8:00","dst_status":false,"end_time":"{}"}},"current_total":4,"current_counted":[3,1]}}"#,
            shanghai(5)
        ),
    );
    // A native message to a vendor device is not what it speaks: rejected, counted.
    mosquitto_pub(
        run.mqtt,
        "doorstep/v1/ms/vs121",
        r#"{"type":"count","count":9}"#,
    );
    let rooms = wait_for(Duration::from_secs(20), "both rooms live", || {
        live(&run).filter(|r| r.iter().all(|(_, n)| n.is_some()))
    });
    // The lines of the door counter are summed: the baseline 100 in / 90 out, then
    // 107 (104 + 3) / 92 (91 + 1): 7 in, 2 out, 5 people in the room.
    assert_eq!(
        rooms,
        [
            ("cam-room".to_owned(), Some(4)),
            ("gate-room".to_owned(), Some(5)),
        ]
    );
    wait_for(
        Duration::from_secs(20),
        "the rejected message counted",
        || (run.metric("doorstep_ingest_rejected_total", "") >= 1.0).then_some(()),
    );
}
