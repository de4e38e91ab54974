//! A server to attack: open, or with a token file; optionally with tables.

use anyhow::Context;
use dashboards::{Access, Alerts, LiveBoard, Web};
use devices::{Clock, LiveRoom, Registry, RoomIdx};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::sync::oneshot;

/// Monday 2026-11-23 10:00 in Shanghai.
pub const MONDAY_10H_MS: i64 = 1_795_399_200_000;

/// Names a spreadsheet would run as formulas, and an id that looks like a number.
pub const REGISTRY: &str = r#"
[[site]]
id = "-1"
name = "=HYPERLINK(\"http://evil.example\",\"点我\")"
city = "+上海市"
district = "@徐汇区"

[[site.room]]
id = "hall"
name = "-2+3"
capacity = 10
area_m2 = 50
schedule = ["daily 00:00-24:00 culture"]

[[site.device]]
id = "hall-count"
room = "hall"
kind = "count"
"#;

pub const OPERATOR: &str = "operator-token-0123456789";

/// A running app; stops and removes its files when dropped.
pub struct App {
    pub addr: SocketAddr,
    pub board: Arc<LiveBoard>,
    pub alerts: Arc<Alerts>,
    pub dir: PathBuf,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl App {
    /// `http://ADDR`, as a browser on the app's page would send it.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The hall over capacity, and the id of its alert.
    pub async fn over_capacity_alert(&self) -> anyhow::Result<u64> {
        self.board.update(LiveRoom {
            room: RoomIdx(0),
            occupancy: Some(12),
            updated_ms: MONDAY_10H_MS,
            valid_until: Some(MONDAY_10H_MS / 1000 + 900),
            idle_since_ms: None,
            over_capacity_since_ms: Some(MONDAY_10H_MS - 60_000),
        });
        // What the pipeline's alert engine does each tick.
        self.alerts.apply(
            dashboards::board_conditions(&self.board.snapshot()),
            MONDAY_10H_MS,
            0,
        );
        let resp = crate::support::request_with(
            self.addr,
            "GET",
            "/api/alerts",
            &[("Authorization", &format!("Bearer {OPERATOR}"))],
            "",
        )
        .await?;
        let alerts = resp.json()?;
        alerts["alerts"]
            .as_array()
            .and_then(|a| a.first())
            .and_then(|a| a["id"].as_u64())
            .with_context(|| format!("an over-capacity alert: {alerts}"))
    }
}

/// Open access (no token file), like the demo.
pub async fn open() -> anyhow::Result<App> {
    start(false).await
}

/// With a token file (one operator seeing every site).
pub async fn with_tokens() -> anyhow::Result<App> {
    start(true).await
}

async fn start(tokens: bool) -> anyhow::Result<App> {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "doorstep-hardening-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir)?;
    let registry = Arc::new(Registry::from_toml(REGISTRY, Path::new("t.toml"))?);
    let board = LiveBoard::new(Arc::clone(&registry), Clock::simulated(MONDAY_10H_MS, 1.0));
    let mut web = Web::new(Arc::clone(&board));
    web.data_dir = Some(dir.join("data"));
    if tokens {
        let path = dir.join("tokens");
        std::fs::write(&path, format!("{OPERATOR} operator\n"))?;
        web.access = Access::load(&path, &registry)?;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let alerts = Arc::clone(&web.alerts);
    tokio::spawn(dashboards::serve(listener, web, async move {
        let _ = stopped.await;
    }));
    Ok(App {
        addr,
        board,
        alerts,
        dir,
        stop: Some(stop),
    })
}
