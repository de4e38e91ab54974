//! The web app for the three kinds of users: operators (live occupancy and
//! alerts), managers (idle rooms and idle hours) and evaluators (sites
//! compared), with a JSON API behind every view, token access with roles,
//! `/healthz`, `/readyz` and Prometheus `/metrics`. docs/WEB.md lists every
//! route; `/api/openapi.json` describes the API.
//!
//! The pipeline writes each live change of a room into a [`LiveBoard`]; the
//! manager and evaluator views read the Parquet tables through
//! `analytics::report`. Every page is Chinese first (English with `?lang=en`
//! or an English `Accept-Language`) and every asset is inside the binary,
//! since deployments sit on offline intranets.
//!
//! ```no_run
//! use dashboards::LiveBoard;
//! use devices::{Clock, LiveRoom, Registry, RoomIdx};
//! use std::{path::Path, sync::Arc};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let registry = Registry::from_toml(r#"
//!     [[site]]
//!     id = "s1"
//!     name = "示例社区"
//!     [[site.room]]
//!     id = "hall"
//!     name = "多功能厅"
//!     capacity = 30
//!     area_m2 = 80
//!     schedule = ["mon-fri 09:00-17:00 culture"]
//! "#, Path::new("example.toml"))?;
//! let board = LiveBoard::new(Arc::new(registry), Clock::wall());
//! // From any thread, with or without a runtime:
//! board.update(LiveRoom { room: RoomIdx(0), occupancy: Some(4), updated_ms: 0, valid_until: None, idle_since_ms: None, over_capacity_since_ms: None });
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let web = dashboards::Web::new(board); // open access, no tables, ready at once
//! dashboards::serve(listener, web, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(())
//! # }
//! ```

// Handlers pass early answers (401, 403) up as `Result<_, Response>`; boxing them buys nothing.
#![allow(clippy::result_large_err)]

mod alerts;
mod api;
mod assets;
pub mod auth;
mod board;
mod csv;
mod guard;
mod i18n;
pub mod ledger;
mod local_path;
mod metrics;
mod openapi;
mod secure_headers;
mod time;
mod views;

pub use alerts::{
    AckError, Alert, AlertKind, Alerts, Change, ChangeKind, Condition, Saved, board_conditions,
};
pub use auth::{Access, Role, User};
pub use board::{DeviceView, LiveBoard, LiveSnapshot, Push, RoomEvent, RoomView, SiteView};
pub use metrics::{Family, Kind, Readiness, Sample, StatusSource, Value};
pub use views::operator::LIVE_HTML;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::watch;

/// What can go wrong while starting or serving.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server stopped on an I/O error of its listener.
    #[error("web server failed: {0}")]
    Serve(#[source] std::io::Error),
    /// The token file cannot be used.
    #[error("{}{}: {message}", path.display(), if *line > 0 { format!(":{line}") } else { String::new() })]
    Tokens {
        /// The file.
        path: PathBuf,
        /// The line (0: the whole file).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// Open access on an address other machines can reach.
    #[error(
        "refusing to serve the web app on {0} without access tokens: set [web] tokens_file (docs/WEB.md) or listen on 127.0.0.1"
    )]
    OpenOnNetwork(SocketAddr),
}

/// This crate's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the web app serves from.
#[derive(Debug, Clone)]
pub struct Web {
    /// Live occupancy.
    pub board: Arc<LiveBoard>,
    /// Tokens and roles, or open access.
    pub access: Access,
    /// The data directory with the Parquet tables (manager and evaluator views);
    /// `None`: those views say there is no data.
    pub data_dir: Option<PathBuf>,
    /// The pipeline's counters for `/metrics` and its say in `/readyz`;
    /// `None`: a web app without a pipeline.
    pub status: Option<Arc<dyn StatusSource>>,
    /// `/readyz` answers 200 once this is set (and `status` says ready).
    pub ready: Readiness,
    /// The alert book; the pipeline applies the conditions, the app lists and acknowledges.
    pub alerts: Arc<Alerts>,
    /// Every device's recent life and the unregistered devices (the device page);
    /// the pipeline's intake notes it.
    pub ledger: Arc<ledger::DeviceLedger>,
    /// The hours of a day the manager's free-hours list covers (default 07:00-21:00).
    pub service_day: analytics::report::free_hours::ServiceDay,
}

impl Web {
    /// Open access, no tables, no pipeline counters, ready at once.
    pub fn new(board: Arc<LiveBoard>) -> Web {
        let ready = Readiness::new();
        ready.set_ready();
        let ledger = Arc::new(ledger::DeviceLedger::new(board.current()));
        Web {
            board,
            access: Access::open(),
            data_dir: None,
            status: None,
            ready,
            alerts: Arc::new(Alerts::default()),
            ledger,
            service_day: Default::default(),
        }
    }
}

/// Serves the web app on `listener` until `shutdown` resolves, then lets
/// open requests finish; event streams end at once.
pub async fn serve(
    listener: tokio::net::TcpListener,
    web: Web,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let (stop_tx, stop) = watch::channel(false);
    let listen = listener.local_addr().ok();
    if let Some(addr) = listen {
        web.access.check_listen(addr)?;
        tracing::info!(%addr, open = web.access.is_open(), "dashboard listening");
    }
    let app = api::routes(api::AppState::new(web, stop), listen);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            stop_tx.send_replace(true);
        })
        .await
        .map_err(Error::Serve)
}

/// The web app's routes, for embedding in another server. Event streams of
/// this router end only when their clients leave; [`serve`] ends them on
/// shutdown. The listen address is unknown here, so with open access only
/// the `Host` names `localhost`, `127.0.0.1` and `[::1]` are served
/// (docs/WEB.md, Hardening).
pub fn router(web: Web) -> axum::Router {
    // A dropped sender: the stop signal never fires.
    let (_, stop) = watch::channel(false);
    api::routes(api::AppState::new(web, stop), None)
}
