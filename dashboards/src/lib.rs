//! The web dashboard: a live page showing how full every service room is now.
//!
//! The pipeline writes each live change of a room into a [`LiveBoard`]; the
//! web server reads it. Routes:
//!
//! - `GET /`: the live page (zh-CN, `?lang=en` for English), one file with no
//!   external requests, since deployments sit on offline intranets;
//! - `GET /api/live`: a [`LiveSnapshot`] of every site and room as JSON;
//! - `GET /api/live/events`: Server-Sent Events, one per room change (the
//!   room's JSON plus `site_id`); a `resync` event when a slow client skipped
//!   changes;
//! - `GET /healthz`: `ok`.
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
//! dashboards::serve(listener, board, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(())
//! # }
//! ```

mod api;
mod board;
mod time;

pub use api::LIVE_HTML;
pub use board::{LiveBoard, LiveSnapshot, Push, RoomEvent, RoomView, SiteView};

use std::future::Future;
use std::sync::Arc;
use tokio::sync::watch;

/// What can go wrong while serving.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server stopped on an I/O error of its listener.
    #[error("web server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// This crate's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Serves the web app on `listener` until `shutdown` resolves, then lets
/// open requests finish; event streams end at once.
pub async fn serve(
    listener: tokio::net::TcpListener,
    board: Arc<LiveBoard>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let (stop_tx, stop) = watch::channel(false);
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "dashboard listening");
    }
    let app = api::routes(api::AppState { board, stop });
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
/// shutdown.
pub fn router(board: Arc<LiveBoard>) -> axum::Router {
    // A dropped sender: the stop signal never fires.
    let (_, stop) = watch::channel(false);
    api::routes(api::AppState { board, stop })
}
