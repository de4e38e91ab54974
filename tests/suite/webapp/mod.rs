//! The web app's test bed: `doorstep run` on free ports with a simulated
//! clock, three weeks of tables written beforehand (so the manager and
//! evaluator views have data), and optionally a token file with one token
//! per role.
#![allow(dead_code)]

use crate::common::*;
use analytics::Store;
use chrono::TimeZone;
use devices::{
    Category, Flag, FlagKind, IdleSlot, Registry, RoomWindow, SiteDay, SiteIdx, VisitsMethod,
    WindowKind,
};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

pub const REGISTRY: &str = r#"
[[site]]
id = "sh-a"
name = "天平社区"
city = "上海市"
district = "徐汇区"
[[site.room]]
id = "hall"
name = "多功能厅"
capacity = 20
area_m2 = 80
schedule = ["daily 08:00-20:00 culture"]
[[site.room]]
id = "nursery"
name = "托育室"
capacity = 10
area_m2 = 40
schedule = ["daily 08:00-12:00 infant_care", "daily 14:00-20:00 elderly_care"]
[[site.device]]
id = "sh-a-hall"
room = "hall"
kind = "count"
[[site.device]]
id = "sh-a-nursery"
room = "nursery"
kind = "count"

[[site]]
id = "cd-b"
name = "玉林社区"
city = "成都市"
district = "武侯区"
[[site.room]]
id = "gym"
name = "健身房"
capacity = 25
area_m2 = 100
schedule = ["daily 08:00-20:00 fitness"]
[[site.device]]
id = "cd-b-gym"
room = "gym"
kind = "count"
"#;

/// Tokens of the test: one per role and scope.
pub const ADMIN: &str = "admin-token-0000000001";
pub const OPERATOR_A: &str = "operator-token-sh-a-01";
pub const MANAGER_WUHOU: &str = "manager-token-wuhou-01";
pub const EVALUATOR: &str = "evaluator-token-000001";

/// The simulated clock starts here: Monday 2026-11-23 10:00 in Shanghai.
pub const START: &str = "2026-11-23T10:00:00+08:00";

fn midnight(day: u32) -> i64 {
    chrono::FixedOffset::east_opt(8 * 3600)
        .and_then(|tz| tz.with_ymd_and_hms(2026, 11, day, 0, 0, 0).single())
        .expect("date")
        .timestamp()
}

fn window(kind: WindowKind, room: devices::RoomIdx, start: i64, secs: u32, occ: u32) -> RoomWindow {
    RoomWindow {
        kind,
        room,
        start,
        end: start
            + i64::from(if kind == WindowKind::Hour {
                3600
            } else {
                86_400
            }),
        open_seconds: secs,
        measured_seconds: secs,
        occupied_seconds: occ,
        person_seconds: u64::from(occ) * 3,
        peak_occupancy: Some(5),
        visits: u64::from(occ / 600),
        visits_method: VisitsMethod::Transitions,
        longest_idle_seconds: 0,
        after_hours_occupied_seconds: 0,
        over_capacity_seconds: 0,
        capacity: Some(20),
        door_residual: None,
        revision: 0,
    }
}

/// Three weeks (2026-11-01 .. 11-22) of tables: the hall busy half of the
/// time, the nursery barely used (flagged, with an idle block), the gym at 60 %.
pub fn seed(data: &Path, registry: Arc<Registry>) {
    let store = Store::open(data, Arc::clone(&registry)).expect("store");
    let room = |s: &str, r: &str| registry.room_by_ids(s, r).expect("room");
    let rooms = [
        (room("sh-a", "hall"), 1800u32, Category::Culture),
        (room("sh-a", "nursery"), 120, Category::InfantCare),
        (room("cd-b", "gym"), 2160, Category::Fitness),
    ];
    let mut windows = Vec::new();
    let mut sites = Vec::new();
    for day in 1..=22 {
        let m = midnight(day);
        for &(r, per_hour, cat) in &rooms {
            for h in 8..20 {
                windows.push(window(WindowKind::Hour, r, m + h * 3600, 3600, per_hour));
            }
            windows.push(window(WindowKind::Day, r, m, 43_200, per_hour * 12));
            windows.push(window(
                WindowKind::SlotDay(cat),
                r,
                m,
                43_200,
                per_hour * 12,
            ));
        }
        for (site, rooms_in, occ) in [(0u32, 2u32, (1800 + 120) * 12), (1, 1, 2160 * 12)] {
            let open = 43_200 * u64::from(rooms_in);
            sites.push(SiteDay {
                site: SiteIdx(site),
                start: m,
                end: m + 86_400,
                rooms: rooms_in,
                open_seconds: open,
                measured_seconds: open,
                occupied_seconds: occ,
                person_seconds: occ * 3,
                capacity_person_seconds: occ * 3,
                capacity_seconds: open * 20,
                visits: occ / 600,
                area_m2: if site == 0 { 120.0 } else { 100.0 },
                rooms_covered: rooms_in,
                rooms_underused: u32::from(site == 0),
                functions_in_use: vec![],
                revision: 0,
            });
        }
    }
    store.write_windows(&windows).expect("windows");
    store.write_site_days(&sites).expect("site days");
    let nursery = room("sh-a", "nursery");
    store
        .write_flags(&[Flag {
            room: nursery,
            day: midnight(22),
            kind: FlagKind::Underused,
            lookback_days: 28,
            coverage: Some(1.0),
            time_utilization: Some(0.033),
            idle_days: None,
            worst_seconds: None,
            worst_day: None,
            reason_en: "time utilization 3.3% below 25% over 28 days".into(),
            reason_zh: "28 天时间利用率 3.3%，低于 25%".into(),
            revision: 0,
        }])
        .expect("flags");
    store
        .write_idle_slots(&[IdleSlot {
            room: nursery,
            day: midnight(22),
            weekday: 7,
            start_hour: 8,
            end_hour: 12,
            lookback_days: 28,
            open_seconds: 14_400 * 3,
            measured_seconds: 14_400 * 3,
            occupied_seconds: 1_440,
            revision: 0,
        }])
        .expect("idle slots");
}

/// A running `doorstep run`.
pub struct App {
    pub web: SocketAddr,
    pub mqtt: u16,
    pub proc: Proc,
    pub dir: tempfile::TempDir,
}

/// Starts doorstep on free ports, with tokens when `tokens` is true, and waits for /readyz.
pub fn start(tokens: bool) -> App {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let reg_file = d.join("registry.toml");
    std::fs::write(&reg_file, REGISTRY).expect("registry");
    let registry = Arc::new(Registry::from_toml(REGISTRY, &reg_file).expect("registry"));
    seed(&d.join("data"), registry);
    let (web, mqtt) = (free_port(), free_port());
    let mut config = format!(
        "registry = \"registry.toml\"\ndata_dir = \"data\"\n[mqtt]\nlisten = \"127.0.0.1:{mqtt}\"\n\
[web]\nlisten = \"127.0.0.1:{web}\"\n"
    );
    if tokens {
        let file = d.join("web-tokens");
        std::fs::write(
            &file,
            format!(
                "# token role scope\n{ADMIN} admin\n{OPERATOR_A} operator sh-a\n{MANAGER_WUHOU} manager 武侯区\n{EVALUATOR} evaluator\n"
            ),
        )
        .expect("tokens");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        config.push_str("tokens_file = \"web-tokens\"\n");
    }
    // The default lateness (120 s): live values show as messages arrive, not when
    // the watermark passes them.
    config.push_str(&format!("[clock]\nstart = \"{START}\"\nspeed = 1.0\n"));
    let config_file = d.join("doorstep.toml");
    std::fs::write(&config_file, config).expect("config");
    let proc = Proc::spawn(
        "doorstep run",
        Command::new(env!("CARGO_BIN_EXE_doorstep"))
            .arg("run")
            .arg("--config")
            .arg(&config_file),
    );
    let web: SocketAddr = format!("127.0.0.1:{web}").parse().expect("addr");
    wait_for(Duration::from_secs(60), "/readyz", || {
        http_get(web, "/readyz")
            .filter(|(s, _)| *s == 200)
            .map(|_| ())
    });
    App {
        web,
        mqtt,
        proc,
        dir,
    }
}

impl App {
    /// The simulated clock now, Unix ms (from the app's own answer).
    pub fn now_ms(&self) -> i64 {
        let (_, _, body) = request(self.web, "GET", "/api/live", Some(ADMIN), &[], "");
        let v: serde_json::Value = serde_json::from_str(&body).expect("live JSON");
        let now = v["now"].as_str().expect("now");
        chrono::DateTime::parse_from_rfc3339(now)
            .expect("RFC 3339")
            .timestamp_millis()
    }

    /// Publishes a status (battery, signal, firmware) for a device, timestamped with the app's clock.
    pub fn status(&self, site: &str, device: &str, battery_pct: u8) {
        let payload = format!(
            r#"{{"type":"status","ts":{},"battery_pct":{battery_pct},"rssi_dbm":-97,"fw":"2.1.0","interval_s":60}}"#,
            self.now_ms()
        );
        mosquitto_pub(self.mqtt, &format!("doorstep/v1/{site}/{device}"), &payload);
    }

    /// Publishes `payload` as device `device` of site `site`, whatever it is.
    pub fn raw(&self, site: &str, device: &str, payload: &str) {
        mosquitto_pub(self.mqtt, &format!("doorstep/v1/{site}/{device}"), payload);
    }

    /// Publishes a count for a device, timestamped with the app's clock.
    pub fn count(&self, site: &str, device: &str, seq: u64, count: u32) {
        let payload = format!(
            r#"{{"type":"count","ts":{},"seq":{seq},"count":{count}}}"#,
            self.now_ms()
        );
        mosquitto_pub(self.mqtt, &format!("doorstep/v1/{site}/{device}"), &payload);
    }
}

/// A request with an optional bearer token and body; returns (status, header lines, body).
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    extra: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut headers: Vec<(&str, &str)> = extra.to_vec();
    if let Some(b) = &bearer {
        headers.push(("Authorization", b));
    }
    let a = crate::common::http::send(addr, method, path, &headers, body, Duration::from_secs(30))
        .unwrap_or_else(|| panic!("{method} {path}: no answer"));
    (a.status, a.head, a.body)
}
