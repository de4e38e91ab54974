//! The writer task: points come in through a bounded channel, leave in batches
//! (`batch_points` or `flush_ms`, whichever comes first) through the v2 write
//! API, and go to the disk spool when the server does not take them.
//!
//! Order is kept: while the spool holds anything, new batches are appended to
//! it, and the spool is sent oldest first, so the server receives points in
//! the order they were sent. A failed write is tried again after a wait that
//! starts at 500 ms and doubles up to `max_backoff_ms`. The task does not wait
//! on the server for more than one request (`timeout_ms`) at a time, so the
//! channel keeps moving while the server is down.

use super::point::Point;
use super::spool::Spool;
use super::{Error, InfluxConfig, InfluxStats, Result};
use influxdb2::RequestError;
use influxdb2::api::write::TimestampPrecision;
use std::path::Path;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};

/// The first wait after a failed write.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// At most one "spool is full" error per this long.
const DROP_REPORT_EVERY: Duration = Duration::from_secs(60);

/// A running writer: send it points, then [`InfluxWriter::shutdown`].
#[derive(Debug)]
pub struct InfluxWriter {
    sender: PointSender,
    task: JoinHandle<()>,
    stats: Arc<InfluxStats>,
}

/// Sends points to a running writer; cheap to clone, one per producer.
///
/// Sending never waits: the queue is unbounded as a channel and bounded by a
/// count (`queue_points`), so a writer stuck on a server that does not
/// answer holds back no producer. Points beyond the bound are dropped and
/// counted ([`InfluxStats::overflowed`]); the writer itself never stays away
/// from its queue for longer than one request (`timeout_ms`), so the bound is
/// reached only when points come faster than they can be spooled.
#[derive(Debug, Clone)]
pub struct PointSender {
    tx: mpsc::UnboundedSender<Point>,
    queued: Arc<AtomicUsize>,
    bound: usize,
    stats: Arc<InfluxStats>,
}

impl PointSender {
    /// Queues a point without waiting. `Ok(false)`: the queue was full and the
    /// point was dropped (and counted); `Err`: the writer has stopped.
    pub fn send(&self, point: Point) -> Result<bool> {
        if self.queued.fetch_add(1, Relaxed) >= self.bound {
            self.queued.fetch_sub(1, Relaxed);
            self.stats.overflowed.fetch_add(1, Relaxed);
            return Ok(false);
        }
        self.tx.send(point).map_err(|_| {
            self.queued.fetch_sub(1, Relaxed);
            Error::Stopped
        })?;
        Ok(true)
    }
}

impl InfluxWriter {
    /// Opens the spool in `spool_dir` (what an earlier run left there is sent
    /// first) and starts the writer task on the current tokio runtime.
    ///
    /// `token` goes into the `Authorization` header and nowhere else.
    pub fn start(config: &InfluxConfig, token: Option<&str>, spool_dir: &Path) -> Result<Self> {
        let url = url::Url::parse(&config.url)
            .map_err(|e| Error::Config(format!("url {:?}: {e}", config.url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::Config(format!(
                "url {:?} must start with http:// or https://",
                config.url
            )));
        }
        for (name, value) in [
            ("batch_points", config.batch_points),
            ("queue_points", config.queue_points),
        ] {
            if value == 0 {
                return Err(Error::Config(format!("{name} must be at least 1")));
            }
        }
        let client = influxdb2::ClientBuilder::new(&config.url, &config.org, token.unwrap_or(""))
            .build()
            .map_err(|e| Error::Config(format!("cannot make an HTTP client: {e}")))?;
        let spool = Spool::open(spool_dir, config.max_spool_bytes)?;
        let stats = Arc::new(InfluxStats::default());
        stats.spool_bytes.store(spool.bytes(), Relaxed);
        if !spool.is_empty() {
            tracing::info!(
                bytes = spool.bytes(),
                segments = spool.segments(),
                spool = %spool_dir.display(),
                "the InfluxDB spool holds points from an earlier run; sending them first"
            );
        }
        let max_backoff = Duration::from_millis(config.max_backoff_ms.max(1));
        let task = Task {
            client,
            org: config.org.clone(),
            bucket: config.bucket.clone(),
            spool: Arc::new(Mutex::new(spool)),
            stats: Arc::clone(&stats),
            batch_points: config.batch_points,
            flush: Duration::from_millis(config.flush_ms),
            timeout: Duration::from_millis(config.timeout_ms.max(1)),
            max_backoff,
            max_spool_bytes: config.max_spool_bytes,
            backoff: FIRST_BACKOFF.min(max_backoff),
            retry_at: Instant::now(),
            down: false,
            drops: DropLog::default(),
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let sender = PointSender {
            tx,
            queued: Arc::clone(&queued),
            bound: config.queue_points,
            stats: Arc::clone(&stats),
        };
        let task = tokio::spawn(task.run(rx, queued));
        Ok(InfluxWriter {
            sender,
            task,
            stats,
        })
    }

    /// A sender for another producer.
    pub fn sender(&self) -> PointSender {
        self.sender.clone()
    }

    /// Queues a point without waiting (see [`PointSender::send`]).
    pub fn send(&self, point: Point) -> Result<bool> {
        self.sender.send(point)
    }

    /// The counters.
    pub fn stats(&self) -> Arc<InfluxStats> {
        Arc::clone(&self.stats)
    }

    /// Stops once every [`PointSender`] is dropped: the points still in memory
    /// are written, or spooled when the server does not take them (the spool
    /// is drained at the next start).
    pub async fn shutdown(self) -> Result<()> {
        drop(self.sender);
        self.task.await.map_err(|_| Error::Stopped)
    }
}

/// What one write request came to.
enum Outcome {
    /// The server took the points.
    Written,
    /// The server refused them as they are: trying again cannot help.
    Refused(String),
    /// Not reached, timed out, or a server error: try again later.
    Failed(String),
}

struct Task {
    client: influxdb2::Client,
    org: String,
    bucket: String,
    spool: Arc<Mutex<Spool>>,
    stats: Arc<InfluxStats>,
    batch_points: usize,
    flush: Duration,
    timeout: Duration,
    max_backoff: Duration,
    max_spool_bytes: u64,
    /// The wait after the next failure.
    backoff: Duration,
    /// No request goes to the server before this.
    retry_at: Instant,
    /// The last request failed.
    down: bool,
    drops: DropLog,
}

impl Task {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Point>, queued: Arc<AtomicUsize>) {
        let mut batch: Vec<Point> = Vec::with_capacity(self.batch_points);
        let mut batch_due = Instant::now();
        loop {
            let waiting = !self.spool_is_empty();
            let report_due = self.drops.due();
            // A full batch is flushed at once, so there is always room: 0 would read as closed.
            let room = self.batch_points - batch.len();
            debug_assert!(room > 0);
            tokio::select! {
                n = rx.recv_many(&mut batch, room) => {
                    if n == 0 {
                        break;
                    }
                    queued.fetch_sub(n, Relaxed);
                    if batch.len() == n {
                        batch_due = Instant::now() + self.flush;
                    }
                    if batch.len() >= self.batch_points {
                        self.flush(&mut batch).await;
                    }
                }
                _ = sleep_until(batch_due), if !batch.is_empty() => self.flush(&mut batch).await,
                _ = sleep_until(self.retry_at), if waiting => self.drain_one().await,
                _ = sleep_until(report_due.unwrap_or(batch_due)), if report_due.is_some() => {
                    self.report_drops(Instant::now());
                }
            }
        }
        if !batch.is_empty() {
            self.flush(&mut batch).await;
        }
        let s = &self.stats;
        let dropped = s.dropped.load(Relaxed);
        let (written, spooled) = (s.written.load(Relaxed), s.spooled.load(Relaxed));
        let spool_bytes = s.spool_bytes.load(Relaxed);
        if dropped > 0 {
            tracing::warn!(
                written,
                spooled,
                dropped,
                spool_bytes,
                "InfluxDB writer stopped; points were dropped for a full spool"
            );
        } else {
            tracing::info!(written, spooled, spool_bytes, "InfluxDB writer stopped");
        }
    }

    fn spool_is_empty(&self) -> bool {
        self.spool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    }

    /// Runs spool file work off the async threads.
    async fn on_spool<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Spool) -> T + Send + 'static,
    ) -> T {
        let spool = Arc::clone(&self.spool);
        let stats = Arc::clone(&self.stats);
        let work = move || {
            let mut s = spool.lock().unwrap_or_else(PoisonError::into_inner);
            let out = f(&mut s);
            stats.spool_bytes.store(s.bytes(), Relaxed);
            out
        };
        match tokio::task::spawn_blocking(work).await {
            Ok(out) => out,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    /// Sends a batch, straight to the server when nothing is spooled and the
    /// server is not known to be down; else to the end of the spool.
    async fn flush(&mut self, batch: &mut Vec<Point>) {
        let points = std::mem::replace(batch, Vec::with_capacity(self.batch_points));
        if !self.spool_is_empty() || Instant::now() < self.retry_at {
            return self.spool(points).await;
        }
        let mut body = Vec::with_capacity(points.iter().map(Point::len).sum());
        for p in &points {
            body.extend_from_slice(p.as_str().as_bytes());
        }
        match self.write(body).await {
            Outcome::Written => {
                self.stats.written.fetch_add(points.len() as u64, Relaxed);
                self.succeeded();
            }
            Outcome::Refused(e) => self.refused(points.len(), &e),
            Outcome::Failed(e) => {
                self.failed(&e);
                self.spool(points).await;
            }
        }
    }

    /// Appends to the spool what fits under its bound; counts the rest as dropped.
    async fn spool(&mut self, points: Vec<Point>) {
        let n = points.len();
        match self.on_spool(move |s| s.append(&points)).await {
            Ok(a) => {
                self.stats.spooled.fetch_add(a.kept as u64, Relaxed);
                self.dropped(a.dropped);
            }
            Err(e) => {
                tracing::error!(error = %e, points = n, "cannot write the InfluxDB spool; points dropped");
                self.dropped(n);
            }
        }
    }

    /// Sends the oldest spooled segments (up to about a batch), deleting them once written.
    async fn drain_one(&mut self) {
        let max = self.batch_points;
        let mut oldest = match self.on_spool(move |s| s.oldest(max)).await {
            Ok(Some(o)) => o,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the InfluxDB spool; trying again later");
                return self.wait();
            }
        };
        let body = std::mem::take(&mut oldest.body);
        let points = oldest.points;
        match self.write(body).await {
            Outcome::Written => {
                self.stats.written.fetch_add(points as u64, Relaxed);
                self.succeeded();
            }
            Outcome::Refused(e) => self.refused(points, &e),
            Outcome::Failed(e) => return self.failed(&e),
        }
        if let Err(e) = self.on_spool(move |s| s.remove(&oldest)).await {
            // Kept on disk, so sent again later: at least once.
            tracing::error!(error = %e, "cannot delete a sent InfluxDB spool segment");
            self.wait();
        }
    }

    async fn write(&self, body: Vec<u8>) -> Outcome {
        let request = self.client.write_line_protocol_with_precision(
            &self.org,
            &self.bucket,
            body,
            TimestampPrecision::Milliseconds,
        );
        match tokio::time::timeout(self.timeout, request).await {
            Err(_) => Outcome::Failed(format!("no answer within {:?}", self.timeout)),
            Ok(Ok(())) => Outcome::Written,
            Ok(Err(RequestError::Http { status, text })) => {
                let text = short(&text);
                if refused(status.as_u16()) {
                    Outcome::Refused(format!("HTTP {status}: {text}"))
                } else {
                    Outcome::Failed(format!("HTTP {status}: {text}"))
                }
            }
            Ok(Err(e)) => Outcome::Failed(short(&e.to_string())),
        }
    }

    fn succeeded(&mut self) {
        if self.down {
            tracing::info!("InfluxDB takes points again");
        }
        self.down = false;
        self.backoff = FIRST_BACKOFF.min(self.max_backoff);
        self.retry_at = Instant::now();
    }

    fn failed(&mut self, error: &str) {
        self.stats.retries.fetch_add(1, Relaxed);
        if self.down {
            tracing::debug!(error, retry_in = ?self.backoff, "InfluxDB write failed again");
        } else {
            tracing::warn!(
                error,
                url = %self.client.base,
                "InfluxDB write failed; keeping points in the disk spool and trying again"
            );
        }
        self.down = true;
        self.wait();
    }

    /// No request before the current backoff has passed; the next one waits longer.
    fn wait(&mut self) {
        self.retry_at = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(self.max_backoff);
    }

    fn refused(&mut self, points: usize, error: &str) {
        self.stats.rejected.fetch_add(points as u64, Relaxed);
        tracing::error!(error, points, "InfluxDB refused a batch of points; dropped");
    }

    fn dropped(&mut self, points: usize) {
        if points == 0 {
            return;
        }
        self.stats.dropped.fetch_add(points as u64, Relaxed);
        self.drops.pending += points as u64;
        self.report_drops(Instant::now());
    }

    fn report_drops(&mut self, now: Instant) {
        if let Some(points) = self.drops.take(now) {
            tracing::error!(
                dropped = points,
                dropped_total = self.stats.dropped.load(Relaxed),
                max_spool_bytes = self.max_spool_bytes,
                "InfluxDB spool is full (max_spool_bytes): {points} points dropped that will never reach InfluxDB"
            );
        }
    }
}

/// HTTP statuses that say the batch itself is wrong. Not among them: 401/403
/// (a token to fix), 404 (a bucket to create), 408 and 429 (busy).
fn refused(status: u16) -> bool {
    (400..500).contains(&status) && !matches!(status, 401 | 403 | 404 | 408 | 429)
}

fn short(text: &str) -> String {
    const MAX: usize = 300;
    match text.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

/// Drops waiting to be reported, at most once per [`DROP_REPORT_EVERY`].
#[derive(Debug, Default)]
struct DropLog {
    pending: u64,
    last: Option<Instant>,
}

impl DropLog {
    /// The drops to report now, if any are waiting and the last report is old enough.
    fn take(&mut self, now: Instant) -> Option<u64> {
        if self.pending == 0 || self.last.is_some_and(|l| now < l + DROP_REPORT_EVERY) {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.pending))
    }

    /// When waiting drops can next be reported.
    fn due(&self) -> Option<Instant> {
        (self.pending > 0).then(|| {
            self.last
                .map_or_else(Instant::now, |l| l + DROP_REPORT_EVERY)
        })
    }
}

#[cfg(test)]
mod tests;
