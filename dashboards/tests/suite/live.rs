//! The web app over real HTTP: snapshot JSON, staleness, pushed events, the page.
//! Its hardening (Host, Origin, headers, CSV, login redirects): `hardening/`.

use crate::support::{EventStream, get, request_with};
use anyhow::Context;
use dashboards::LiveBoard;
use devices::{Clock, LiveRoom, Registry, RoomIdx};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Monday 2026-11-23 10:00 in Shanghai.
const MONDAY_10H_MS: i64 = 1_795_399_200_000;

const REGISTRY: &str = r#"
[[site]]
id = "sh-xh-tianping"
name = "天平街道社区综合体"
city = "上海市"
district = "徐汇区"

[[site.room]]
id = "canteen"
name = "长者食堂"
floor = 1
capacity = 40
area_m2 = 135
schedule = ["daily 09:30-13:00 meal_aid", "daily 16:30-18:30 meal_aid"]

[[site.room]]
id = "nursery"
name = "托育室"
floor = 2
capacity = 15
area_m2 = 90
schedule = ["mon-fri 08:00-12:00 infant_care", "mon-fri 14:00-17:00 elderly_care"]

[[site.device]]
id = "tp-canteen-door"
room = "canteen"
kind = "door"

[[site.device]]
id = "tp-nursery-count"
room = "nursery"
kind = "count"

[[site]]
id = "bj-cy-wangjing"
name = "望京街道社区"
city = "北京市"
district = "朝阳区"

[[site.room]]
id = "hall"
name = "多功能厅"
capacity = 30
area_m2 = 80
schedule = ["sat,sun 09:00-17:00 culture"]

[[site.device]]
id = "wj-hall-count"
room = "hall"
kind = "count"
"#;

struct Server {
    addr: SocketAddr,
    board: Arc<LiveBoard>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<dashboards::Result<()>>,
}

async fn start(clock: Clock) -> anyhow::Result<Server> {
    let registry = Registry::from_toml(REGISTRY, Path::new("t.toml"))?;
    let board = LiveBoard::new(Arc::new(registry), clock);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(dashboards::serve(
        listener,
        dashboards::Web::new(board.clone()),
        async move {
            let _ = stopped.await;
        },
    ));
    Ok(Server {
        addr,
        board,
        stop: Some(stop),
        task,
    })
}

/// Updates the board from a plain thread, as the timely workers do: no runtime there.
fn update_from_thread(board: &Arc<LiveBoard>, live: LiveRoom) {
    let board = board.clone();
    std::thread::spawn(move || board.update(live))
        .join()
        .expect("update thread");
}

fn room<'a>(snapshot: &'a Value, site: &str, room: &str) -> anyhow::Result<&'a Value> {
    snapshot["sites"]
        .as_array()
        .context("sites")?
        .iter()
        .find(|s| s["id"] == site)
        .and_then(|s| s["rooms"].as_array()?.iter().find(|r| r["id"] == room))
        .with_context(|| format!("{site}/{room} not in {snapshot}"))
}

async fn live(addr: SocketAddr) -> anyhow::Result<Value> {
    let resp = get(addr, "/api/live").await?;
    assert_eq!(resp.status, 200);
    assert!(
        resp.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{:?}",
        resp.header("content-type")
    );
    // Chinese is sent as UTF-8, not as \u escapes.
    let text = resp.text()?;
    assert!(text.contains("长者食堂") && !text.contains("\\u"), "{text}");
    resp.json()
}

#[tokio::test]
async fn snapshot_shows_nothing_before_updates_and_the_value_after() -> anyhow::Result<()> {
    let server = start(Clock::simulated(MONDAY_10H_MS, 1.0)).await?;
    let snap = live(server.addr).await?;
    let now = snap["now"].as_str().context("now")?;
    assert!(now.starts_with("2026-11-23T02:00:0"), "{now}");
    let site = &snap["sites"][0];
    assert_eq!(
        (&site["id"], &site["name"], &site["city"], &site["district"]),
        (
            &json!("sh-xh-tianping"),
            &json!("天平街道社区综合体"),
            &json!("上海市"),
            &json!("徐汇区")
        )
    );
    let canteen = room(&snap, "sh-xh-tianping", "canteen")?;
    assert_eq!(
        canteen,
        &json!({
            "id": "canteen", "name": "长者食堂", "floor": 1, "capacity": 40, "area_m2": 135.0,
            "occupancy": null, "last_occupancy": null, "updated": null, "valid_until": null,
            "idle_since": null, "over_capacity_since": null,
            "stale": true, "load": null, "open_now": true, "presence_only": false,
            "category_now": "meal_aid", "category_now_zh": "社区助餐",
            "health": "never",
            "devices": [{"id": "tp-canteen-door", "kind": "door", "interval_s": 60}]
        })
    );
    let nursery = room(&snap, "sh-xh-tianping", "nursery")?;
    assert_eq!(nursery["category_now_zh"], "托育");
    let hall = room(&snap, "bj-cy-wangjing", "hall")?;
    assert_eq!(
        (
            &hall["open_now"],
            &hall["category_now"],
            &hall["category_now_zh"]
        ),
        (&json!(false), &Value::Null, &Value::Null)
    );

    update_from_thread(
        &server.board,
        LiveRoom {
            room: RoomIdx(0),
            occupancy: Some(12),
            updated_ms: MONDAY_10H_MS - 10_000,
            valid_until: Some(MONDAY_10H_MS / 1000 + 900),
            idle_since_ms: None,
            over_capacity_since_ms: None,
        },
    );
    let snap = live(server.addr).await?;
    let canteen = room(&snap, "sh-xh-tianping", "canteen")?;
    assert_eq!(canteen["occupancy"], 12);
    assert_eq!(canteen["load"], 0.3);
    assert_eq!(canteen["stale"], false);
    assert_eq!(canteen["updated"], "2026-11-23T01:59:50Z");
    assert_eq!(canteen["valid_until"], "2026-11-23T02:15:00Z");
    // The other rooms are untouched.
    assert_eq!(
        room(&snap, "sh-xh-tianping", "nursery")?["occupancy"],
        Value::Null
    );
    Ok(())
}

#[tokio::test]
async fn a_room_goes_stale_after_valid_until() -> anyhow::Result<()> {
    // A minute of clock time per real second.
    let clock = Clock::simulated(MONDAY_10H_MS, 60.0);
    let server = start(clock).await?;
    let now_s = clock.now_ms() / 1000;
    update_from_thread(
        &server.board,
        LiveRoom {
            room: RoomIdx(1),
            occupancy: Some(9),
            updated_ms: now_s * 1000,
            valid_until: Some(now_s + 60),
            idle_since_ms: None,
            over_capacity_since_ms: None,
        },
    );
    // Already expired when it arrives (a late backlog, say).
    update_from_thread(
        &server.board,
        LiveRoom {
            room: RoomIdx(2),
            occupancy: Some(4),
            updated_ms: MONDAY_10H_MS - 600_000,
            valid_until: Some(MONDAY_10H_MS / 1000 - 300),
            idle_since_ms: None,
            over_capacity_since_ms: None,
        },
    );
    let snap = live(server.addr).await?;
    let nursery = room(&snap, "sh-xh-tianping", "nursery")?;
    assert_eq!(
        (&nursery["stale"], &nursery["occupancy"]),
        (&json!(false), &json!(9))
    );
    let hall = room(&snap, "bj-cy-wangjing", "hall")?;
    assert_eq!(
        (&hall["stale"], &hall["occupancy"], &hall["last_occupancy"]),
        (&json!(true), &Value::Null, &json!(4))
    );

    // Until the clock has passed the nursery's valid_until (about a second).
    while clock.now_ms() / 1000 <= now_s + 60 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let snap = live(server.addr).await?;
    let nursery = room(&snap, "sh-xh-tianping", "nursery")?;
    assert_eq!(nursery["stale"], true);
    assert_eq!(nursery["occupancy"], Value::Null);
    assert_eq!(nursery["load"], Value::Null);
    assert_eq!(nursery["last_occupancy"], 9);
    Ok(())
}

#[tokio::test]
async fn an_update_arrives_as_an_event_within_a_second() -> anyhow::Result<()> {
    let server = start(Clock::simulated(MONDAY_10H_MS, 1.0)).await?;
    let mut events = EventStream::open(server.addr, "/api/live/events").await?;
    assert_eq!(events.header("x-accel-buffering"), Some("no"));
    // The headers are out, so the handler has subscribed.
    let started = std::time::Instant::now();
    update_from_thread(
        &server.board,
        LiveRoom {
            room: RoomIdx(1),
            occupancy: Some(7),
            updated_ms: MONDAY_10H_MS,
            valid_until: Some(MONDAY_10H_MS / 1000 + 900),
            idle_since_ms: None,
            over_capacity_since_ms: None,
        },
    );
    let ev = events
        .next(Duration::from_secs(1))
        .await?
        .context("stream ended")?;
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(ev.event, None, "a plain message event");
    let room: Value = serde_json::from_str(&ev.data)?;
    assert_eq!(room["site_id"], "sh-xh-tianping");
    assert_eq!(room["id"], "nursery");
    assert_eq!(room["name"], "托育室");
    assert_eq!(room["occupancy"], 7);
    assert_eq!(room["stale"], false);
    assert_eq!(room["category_now_zh"], "托育");
    assert!(
        ev.data.contains("托育室"),
        "UTF-8, not escaped: {}",
        ev.data
    );

    // A second update, a second event.
    update_from_thread(
        &server.board,
        LiveRoom {
            room: RoomIdx(0),
            occupancy: Some(41),
            updated_ms: MONDAY_10H_MS,
            valid_until: Some(MONDAY_10H_MS / 1000 + 900),
            idle_since_ms: None,
            over_capacity_since_ms: None,
        },
    );
    let ev = events
        .next(Duration::from_secs(1))
        .await?
        .context("stream ended")?;
    let room: Value = serde_json::from_str(&ev.data)?;
    assert_eq!(
        (&room["id"], &room["occupancy"]),
        (&json!("canteen"), &json!(41))
    );
    assert!(room["load"].as_f64().is_some_and(|l| l > 1.0));
    Ok(())
}

#[tokio::test]
async fn shutdown_ends_open_event_streams() -> anyhow::Result<()> {
    let mut server = start(Clock::simulated(MONDAY_10H_MS, 1.0)).await?;
    let mut events = EventStream::open(server.addr, "/api/live/events").await?;
    if let Some(stop) = server.stop.take() {
        let _ = stop.send(());
    }
    // Without ending the stream, graceful shutdown would wait forever.
    tokio::time::timeout(Duration::from_secs(3), &mut server.task)
        .await
        .context("serve did not return")???;
    assert!(events.next(Duration::from_secs(1)).await?.is_none());
    Ok(())
}

#[tokio::test]
async fn the_page_is_chinese_and_self_contained() -> anyhow::Result<()> {
    let server = start(Clock::simulated(MONDAY_10H_MS, 1.0)).await?;
    let resp = get(server.addr, "/").await?;
    assert_eq!(resp.status, 200);
    assert!(
        resp.header("content-type")
            .is_some_and(|c| c.starts_with("text/html") && c.contains("utf-8")),
        "{:?}",
        resp.header("content-type")
    );
    let html = resp.text()?;
    assert!(html.contains("<title>家门口服务设施 · 实时使用情况</title>"));
    assert!(html.contains(r#"<html lang="zh-CN">"#));
    // Its style sheet and script come from the app itself (no inline code, for the CSP).
    assert!(html.contains(r#"<link rel="stylesheet" href="/assets/live.css">"#));
    assert!(html.contains(r#"<script src="/assets/live.js"></script>"#));
    let css = get(server.addr, "/assets/live.css").await?;
    let js = get(server.addr, "/assets/live.js").await?;
    assert_eq!((css.status, js.status), (200, 200));
    let (css, js) = (css.text()?, js.text()?);
    assert!(js.contains("EventSource('/api/live/events')"));
    assert!(css.contains(
        "\"PingFang SC\", \"Hiragino Sans GB\", \"Microsoft YaHei\", \"Noto Sans CJK SC\""
    ));
    // Offline intranets: nothing from other hosts, no web fonts, no protocol-relative URLs.
    for banned in [
        "http://",
        "https://",
        "src=\"//",
        "href=\"//",
        "url(",
        "@import",
        "@font-face",
    ] {
        for (name, text) in [("page", html), ("style sheet", css), ("script", js)] {
            assert!(!text.contains(banned), "the {name} contains {banned:?}");
        }
    }
    assert_eq!(html.matches("<link").count(), 1);
    assert_eq!(html.matches("<script").count(), 1);
    Ok(())
}

#[tokio::test]
async fn health_and_unknown_paths() -> anyhow::Result<()> {
    let server = start(Clock::simulated(MONDAY_10H_MS, 1.0)).await?;
    let resp = get(server.addr, "/healthz").await?;
    assert_eq!((resp.status, resp.text()?), (200, "ok"));

    assert_eq!(get(server.addr, "/favicon.ico").await?.status, 204);

    let resp = get(server.addr, "/api/nope?x=1").await?;
    assert_eq!(resp.status, 404);
    assert_eq!(
        resp.json()?,
        json!({ "error": "not found", "path": "/api/nope" })
    );

    // From the app's own page (else the guard refuses it first, 403).
    let origin = format!("http://{}", server.addr);
    let resp = request_with(server.addr, "POST", "/api/live", &[("Origin", &origin)], "").await?;
    assert_eq!(resp.status, 405);
    assert_eq!(resp.json()?["error"], "method not allowed");
    Ok(())
}

/// The same routes work when embedded with `router()` in another server.
#[tokio::test]
async fn router_serves_the_api() -> anyhow::Result<()> {
    let registry = Registry::from_toml(REGISTRY, Path::new("t.toml"))?;
    let board = LiveBoard::new(Arc::new(registry), Clock::simulated(MONDAY_10H_MS, 1.0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = dashboards::router(dashboards::Web::new(board.clone()));
    let task = tokio::spawn(async move { axum::serve(listener, app).await });
    let mut events = EventStream::open(addr, "/api/live/events").await?;
    update_from_thread(
        &board,
        LiveRoom {
            room: RoomIdx(2),
            occupancy: Some(3),
            updated_ms: MONDAY_10H_MS,
            valid_until: Some(MONDAY_10H_MS / 1000 + 900),
            idle_since_ms: None,
            over_capacity_since_ms: None,
        },
    );
    let ev = events
        .next(Duration::from_secs(1))
        .await?
        .context("ended")?;
    assert!(
        ev.data.contains(r#""site_id":"bj-cy-wangjing""#),
        "{}",
        ev.data
    );
    assert_eq!(
        room(&live(addr).await?, "bj-cy-wangjing", "hall")?["occupancy"],
        3
    );
    task.abort();
    Ok(())
}
