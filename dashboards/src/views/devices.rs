//! The device page of a site (`/devices?site=`, JSON at `/api/devices`): every
//! registered device with its last word (when, battery, signal, firmware,
//! report interval), its messages and rejects today with the reasons, and its
//! state: reporting, offline, never heard, battery low, retired; then the
//! devices that publish under the site without being registered, with their
//! first messages, so onboarding is: install, see it appear, register it.

use crate::api::error::error_json;
use crate::api::state::AppState;
use crate::auth::User;
use crate::i18n::{self, Lang, t};
use crate::ledger::{Life, Waiting};
use crate::local_path::url_encode;
use crate::views::table::HtmlTable;
use crate::views::{forbidden, frame::frame, table_json};
use analytics::report::{Column, Kind, Table, Value};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::TimeZone;
use chrono_tz::Tz;
use devices::{Reason, Registry, Site};
use maud::{Markup, html};
use serde::Deserialize;

/// A battery below this percentage is shown as low (the alerts' default too).
pub const LOW_BATTERY_PCT: u8 = 20;

/// `?site=&lang=`.
#[derive(Deserialize, Default)]
pub(crate) struct DevicesQuery {
    site: Option<String>,
    lang: Option<String>,
}

/// The site asked for, else the first the user sees; 403 for one not seen.
fn site_of<'a>(
    registry: &'a Registry,
    user: &User,
    q: &DevicesQuery,
) -> Result<Option<&'a Site>, Response> {
    match q.site.as_deref().filter(|s| !s.is_empty()) {
        Some(id) => match registry.sites.iter().find(|s| s.id == id) {
            Some(s) if user.sees(s) => Ok(Some(s)),
            Some(_) => Err(forbidden("not allowed to see this site")),
            None => Err(error_json(StatusCode::NOT_FOUND, "no such site", "")),
        },
        None => Ok(registry.sites.iter().find(|s| user.sees(s))),
    }
}

/// Local `MM-DD HH:MM` of Unix ms at `tz`.
fn local(ms: i64, tz: Tz) -> String {
    tz.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.format("%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// A device's state at `now_ms`: `removed` (from the registry), `retired`,
/// `never`, `offline`, `low_battery` or `ok`.
fn state_of(d: &devices::Device, life: &Life, now_ms: i64) -> &'static str {
    let interval = life.interval_s.unwrap_or(d.interval_s);
    match life.seen {
        _ if d.gone_from_ms.is_some() => "removed",
        _ if d.retired => "retired",
        None => "never",
        Some(s) if now_ms >= s.heard_ms + devices::reading::stale_after(interval) * 1000 => {
            "offline"
        }
        Some(s) if s.battery.is_some_and(|(b, _)| b < LOW_BATTERY_PCT) => "low_battery",
        Some(_) => "ok",
    }
}

fn state_label(lang: Lang, state: &str) -> &'static str {
    match state {
        "removed" => lang.pick("已移出登记", "removed from the registry"),
        "retired" => lang.pick("已停用", "retired"),
        "never" => lang.pick("从未上报", "never reported"),
        "offline" => lang.pick("离线", "offline"),
        "low_battery" => lang.pick("电量低", "battery low"),
        _ => lang.pick("正常", "reporting"),
    }
}

/// The reasons of `rejected` (code → count) in `lang`, e.g. `不是有效的 JSON ×3`.
fn reasons_text(lang: Lang, rejected: &std::collections::BTreeMap<&'static str, u32>) -> String {
    rejected
        .iter()
        .map(|(code, n)| {
            let name = Reason::parse(code).map_or(*code, |r| lang.pick(r.zh(), r.en()));
            format!("{name} ×{n}")
        })
        .collect::<Vec<_>>()
        .join(lang.pick("；", "; "))
}

/// The site's devices as a table (the page shows it, the API returns it).
fn devices_table(state: &AppState, site: &Site, lang: Lang) -> Table {
    let registry = state.board.registry();
    let now_ms = state.board.clock().now_ms();
    let lives = state.ledger.lives();
    let mut rows = Vec::new();
    for &r in &site.rooms {
        let room = registry.room(r);
        for &d in &room.devices {
            let device = registry.device(d);
            let life = lives.get(d.ix()).cloned().unwrap_or_default();
            // Counters of an earlier day are not today's.
            let today = life.day.is_some() && life.day == state.ledger.local_day(d, now_ms);
            let (messages, rejected) = if today {
                (life.messages, life.rejected.values().sum::<u32>())
            } else {
                (0, 0)
            };
            let reasons = if today {
                reasons_text(lang, &life.rejected)
            } else {
                String::new()
            };
            let int = |v: Option<i64>| v.map_or(Value::Null, Value::Int);
            rows.push(vec![
                device.id.as_str().into(),
                room.name.as_str().into(),
                device.kind.as_str().into(),
                state_of(device, &life, now_ms).into(),
                life.seen
                    .map_or(String::new(), |s| local(s.heard_ms, site.timezone))
                    .into(),
                int(life.seen.and_then(|s| s.battery).map(|(b, _)| i64::from(b))),
                int(life.rssi_dbm.map(i64::from)),
                life.fw.clone().unwrap_or_default().into(),
                Value::Int(life.interval_s.unwrap_or(device.interval_s).into()),
                Value::Int(messages.into()),
                Value::Int(rejected.into()),
                reasons.into(),
            ]);
        }
    }
    let col = Column::new;
    Table {
        name: "devices",
        title: "设备".into(),
        columns: vec![
            col("device_id", "设备", Kind::Text),
            col("room_name", "房间", Kind::Text),
            col("kind", "类型", Kind::Text),
            col("state", "状态", Kind::Text),
            col("last_heard", "最后上报", Kind::Text),
            col("battery", "电量", Kind::Int),
            col("signal", "信号", Kind::Int),
            col("firmware", "固件", Kind::Text),
            col("report_interval", "上报间隔", Kind::Int),
            col("messages_today", "今日消息", Kind::Int),
            col("rejected_today", "今日拒收", Kind::Int),
            col("reject_reasons", "拒收原因", Kind::Text),
        ],
        rows,
    }
}

/// The registry entry that would register `w`, to paste into the site's
/// registry: its kind from its first message's `type`, its room left to choose
/// among the site's rooms.
fn entry_for(w: &Waiting, rooms: &[&str]) -> String {
    let kind = w
        .samples
        .first()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
        .and_then(|v| match v["type"].as_str()? {
            "count" => Some("count"),
            "presence" => Some("presence"),
            "door" | "door_total" => Some("door"),
            _ => None,
        });
    let kind = match kind {
        Some(k) => format!("kind = \"{k}\""),
        None => "kind = \"count\" # count, presence or door".to_owned(),
    };
    format!(
        "[[site.device]]\nid = \"{}\"\nroom = \"\" # {}\n{kind}",
        w.device_id,
        rooms.join(" | ")
    )
}

/// The devices waiting for registration as a table.
fn waiting_table(list: &[Waiting], tz: Tz, rooms: &[&str]) -> Table {
    let col = Column::new;
    Table {
        name: "waiting",
        title: "等待登记".into(),
        columns: vec![
            col("device_id", "设备", Kind::Text),
            col("first_heard", "首次收到", Kind::Text),
            col("last_heard", "最后收到", Kind::Text),
            col("messages_today", "消息", Kind::Int),
            col("first_messages", "最初的消息", Kind::Text),
            col("registry_entry", "登记条目", Kind::Text),
        ],
        rows: list
            .iter()
            .map(|w| {
                vec![
                    w.device_id.as_str().into(),
                    local(w.first_ms, tz).into(),
                    local(w.last_ms, tz).into(),
                    Value::Int(w.messages.try_into().unwrap_or(i64::MAX)),
                    w.samples.join("\n").into(),
                    entry_for(w, rooms).into(),
                ]
            })
            .collect(),
    }
}

/// `GET /api/devices?site=`.
pub(crate) async fn api(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<DevicesQuery>,
) -> Response {
    let user = match state.api_user(&headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let lang = i18n::negotiate(q.lang.as_deref(), &headers);
    let registry = state.board.registry();
    let site = match site_of(&registry, &user, &q) {
        Ok(Some(s)) => s,
        Ok(None) => return error_json(StatusCode::NOT_FOUND, "no site to show", ""),
        Err(r) => return r,
    };
    let (waiting, more) = state.ledger.waiting(&site.id);
    Json(serde_json::json!({
        "site_id": site.id,
        "devices": table_json(&devices_table(&state, site, lang)),
        "waiting": waiting,
        "more_waiting_elsewhere": more,
    }))
    .into_response()
}

/// `GET /devices?site=`.
pub(crate) async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<DevicesQuery>,
) -> Response {
    let user = match state.page_user(&headers, &uri) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let lang = i18n::negotiate(q.lang.as_deref(), &headers);
    let registry = state.board.registry();
    let site = match site_of(&registry, &user, &q) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let sites: Vec<&Site> = registry.sites.iter().filter(|s| user.sees(s)).collect();
    let body = match site {
        None => html! { section.card { p.muted #no-data { (t(lang, "no_sites")) } } },
        Some(site) => body(&state, lang, &sites, site),
    };
    let query = format!("site={}", url_encode(site.map_or("", |s| s.id.as_str())));
    frame(
        &state,
        &user,
        lang,
        t(lang, "devices_title"),
        "/devices",
        &query,
        body,
    )
}

fn body(state: &AppState, lang: Lang, sites: &[&Site], site: &Site) -> Markup {
    let table = devices_table(state, site, lang);
    let (waiting, more) = state.ledger.waiting(&site.id);
    let registry = state.board.registry();
    let room_ids: Vec<&str> = site
        .rooms
        .iter()
        .map(|r| registry.room(*r).id.as_str())
        .collect();
    let waiting = waiting_table(&waiting, site.timezone, &room_ids);
    let devices = HtmlTable::new(&table, lang).cells(|r, c| {
        let row = table.rows.get(r)?;
        let text = match table.index(&c.name).and_then(|i| row.get(i)) {
            Some(Value::Text(s)) => s.as_str(),
            _ => return None,
        };
        match c.name.as_str() {
            "state" => Some(html! {
                span class={ "state " (text) } { (state_label(lang, text)) }
            }),
            "kind" => Some(html! { (kind_label(lang, text)) }),
            _ => None,
        }
    });
    let waiting_html = HtmlTable::new(&waiting, lang).cells(|r, c| {
        let row = waiting.rows.get(r)?;
        match (
            c.name.as_str(),
            waiting.index(&c.name).and_then(|i| row.get(i)),
        ) {
            ("first_messages" | "registry_entry", Some(Value::Text(s))) => {
                Some(html! { pre.sample { (s) } })
            }
            _ => None,
        }
    });
    html! {
        section.card {
            form.filters method="get" action="/devices" {
                input type="hidden" name="lang" value=(lang.pick("zh", "en"));
                label {
                    (t(lang, "site"))
                    select name="site" {
                        @for s in sites {
                            option value=(s.id) selected[s.id == site.id] { (s.name) }
                        }
                    }
                }
                button type="submit" { (t(lang, "filter")) }
            }
        }
        section.card #devices {
            h2 { (site.name) " · " (t(lang, "devices_title")) }
            p.muted { (t(lang, "devices_note")) }
            (devices)
        }
        section.card #waiting {
            h2 { (t(lang, "waiting_title")) }
            p.muted { (t(lang, "waiting_note")) }
            @if waiting.rows.is_empty() {
                p.muted { (t(lang, "none_waiting")) }
            } @else {
                (waiting_html)
            }
            @if more > 0 {
                p.muted { (t(lang, "more_waiting")) " " (more) }
            }
        }
    }
}

fn kind_label(lang: Lang, kind: &str) -> &'static str {
    match kind {
        "count" => lang.pick("人数计数", "people count"),
        "presence" => lang.pick("有人/无人", "presence"),
        "door" => lang.pick("门禁计数", "door counter"),
        _ => lang.pick("其他", "other"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Seen;

    #[test]
    fn states_and_reasons_read_in_the_page_language() {
        let reg = Registry::from_toml(
            r#"
            [[site]]
            id = "s1"
            name = "一"
            [[site.room]]
            id = "hall"
            name = "厅"
            capacity = 10
            area_m2 = 40
            schedule = ["daily 08:00-20:00 culture"]
            [[site.device]]
            id = "a"
            room = "hall"
            kind = "count"
            interval_s = 60
            [[site.device]]
            id = "b"
            room = "hall"
            kind = "presence"
            retired = true
            "#,
            std::path::Path::new("r.toml"),
        )
        .expect("registry");
        let (a, b) = (&reg.devices[0], &reg.devices[1]);
        let heard = |ms, battery| Life {
            seen: Some(Seen {
                heard_ms: ms,
                battery,
            }),
            ..Life::default()
        };
        let now = 1_000_000_000;
        assert_eq!(state_of(a, &Life::default(), now), "never");
        assert_eq!(state_of(b, &Life::default(), now), "retired");
        assert_eq!(state_of(a, &heard(now - 100_000, None), now), "ok");
        // 60 s reports stay valid 180 s.
        assert_eq!(state_of(a, &heard(now - 180_000, None), now), "offline");
        assert_eq!(state_of(a, &heard(now, Some((8, now))), now), "low_battery");
        assert_eq!(state_label(Lang::Zh, "never"), "从未上报");
        let mut rejected = std::collections::BTreeMap::new();
        rejected.insert("malformed_json", 3);
        rejected.insert("flooding", 1);
        assert_eq!(
            reasons_text(Lang::Zh, &rejected),
            "发送过于频繁 ×1；不是有效的 JSON ×3"
        );
        assert_eq!(
            reasons_text(Lang::En, &rejected),
            "sends too often ×1; not JSON ×3"
        );
        let w = Waiting {
            site_id: "s1".into(),
            device_id: "new-1".into(),
            first_ms: 0,
            last_ms: 0,
            messages: 1,
            samples: vec![r#"{"type":"door","ts":1,"in":2,"out":0}"#.into()],
        };
        assert_eq!(
            entry_for(&w, &["hall", "gym"]),
            "[[site.device]]\nid = \"new-1\"\nroom = \"\" # hall | gym\nkind = \"door\""
        );
    }
}
