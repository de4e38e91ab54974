//! The writer's batching, retries, spool bound and queue bound.
use super::*;
use std::io::Write;

/// Log lines written by tracing, for checking what was reported.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn line(i: usize) -> Point {
    Point::from_line(format!("m,t=x v={i:03}i {}\n", 1_700_000_000_000 + i))
}

#[test]
fn drops_are_reported_at_most_once_a_minute() {
    let t0 = Instant::now();
    let mut d = DropLog::default();
    assert_eq!(d.take(t0), None);
    d.pending = 5;
    assert!(d.due().is_some());
    assert_eq!(d.take(t0), Some(5));
    d.pending = 3;
    assert_eq!(d.take(t0 + Duration::from_secs(59)), None);
    assert_eq!(d.due(), Some(t0 + DROP_REPORT_EVERY));
    assert_eq!(d.take(t0 + DROP_REPORT_EVERY), Some(3));
    assert_eq!(d.due(), None);
}

#[test]
fn statuses_that_cannot_succeed_are_refused_the_others_retried() {
    assert!(refused(400));
    assert!(refused(413));
    for s in [401, 403, 404, 408, 429, 500, 503] {
        assert!(!refused(s), "{s}");
    }
}

/// Regression: a full spool must count every dropped point and say so once, not per batch.
#[test]
fn a_full_spool_counts_drops_and_logs_one_error() {
    let captured = Captured::default();
    let logs = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || logs.clone())
        .finish();
    let dir = tempfile::tempdir().expect("tempdir");
    // Nobody listens on a port just freed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let mut config = InfluxConfig::new(&format!("http://127.0.0.1:{port}"), "o", "b");
    config.batch_points = 10;
    config.flush_ms = 5;
    config.max_backoff_ms = 50;
    let line_len = line(0).len() as u64;
    config.max_spool_bytes = line_len * 25;
    let stats = tracing::subscriber::with_default(subscriber, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let w = InfluxWriter::start(&config, Some("secret-token"), dir.path()).expect("start");
            for i in 0..100 {
                assert!(w.send(line(i)).expect("send"), "the queue has room");
                if i % 10 == 9 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            let stats = w.stats();
            w.shutdown().await.expect("shutdown");
            stats
        })
    });
    let spooled = stats.spooled.load(Relaxed);
    let dropped = stats.dropped.load(Relaxed);
    assert_eq!(spooled, 25, "the spool holds exactly its bound");
    assert_eq!(
        spooled + dropped,
        100,
        "every point is spooled or counted as dropped"
    );
    assert_eq!(stats.written.load(Relaxed), 0);
    assert!(stats.retries.load(Relaxed) >= 1);
    assert_eq!(stats.spool_bytes.load(Relaxed), line_len * 25);
    let text = String::from_utf8(captured.0.lock().expect("logs").clone()).expect("utf8");
    let full: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("ERROR") && l.contains("spool is full"))
        .collect();
    assert_eq!(full.len(), 1, "one error for the whole minute:\n{text}");
    assert!(!text.contains("secret-token"), "the token is never logged");
    // The spool is still there for the next run, and only up to its bound.
    let reopened = Spool::open(dir.path(), config.max_spool_bytes).expect("reopen");
    assert_eq!(reopened.bytes(), line_len * 25);
}

#[test]
fn a_full_queue_drops_and_counts_without_waiting() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A server that takes the connection and never answers.
    let hang = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let url = format!("http://{}", hang.local_addr().expect("addr"));
    let mut config = InfluxConfig::new(&url, "o", "b");
    config.queue_points = 3;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let stats = rt.block_on(async {
        let w = InfluxWriter::start(&config, None, dir.path()).expect("start");
        // The writer task cannot run between these sends: the queue only fills.
        let kept: Vec<bool> = (0..5)
            .map(|i| w.sender().send(line(i)).expect("send"))
            .collect();
        assert_eq!(kept, [true, true, true, false, false]);
        let stats = w.stats();
        assert_eq!(stats.overflowed.load(Relaxed), 2);
        // Once the writer took them, there is room again.
        let refused = tokio::time::timeout(Duration::from_secs(10), async {
            let mut refused = 0;
            while !w.send(line(5)).expect("send") {
                refused += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            refused
        })
        .await
        .expect("the writer empties its queue while the server hangs");
        drop(w);
        (stats, refused)
    });
    let (stats, refused) = stats;
    assert_eq!(stats.overflowed.load(Relaxed), 2 + refused);
    drop(hang);
}
