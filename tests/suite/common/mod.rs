//! Shared helpers of the end-to-end tests: free ports, child processes that
//! stop themselves, an HTTP client and a Parquet reader.
#![allow(dead_code)]

pub mod fleet;
pub mod http;
pub mod mqtt;
pub mod run;

pub use http::http_get;

use arrow::array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

/// The turns of the heavy and busy tests (see [`heavy`] and [`busy`]).
static TURN: RwLock<()> = RwLock::new(());

/// Waits until no other heavy test and no busy test runs, and keeps them out
/// until the guard drops.
///
/// The tests of all modules share one process and run in parallel (three at
/// a time in `scripts/test`). A test that keeps both cores busy (a
/// two-process cluster, a burst of half a million messages) or asserts on
/// timing (SIGKILLs at chosen moments, a latency bound) takes this turn, so
/// that it neither starves nor is starved by another one; light tests run
/// beside it. A test that failed while holding a turn does not block the
/// others (the lock's poison is ignored).
pub fn heavy() -> RwLockWriteGuard<'static, ()> {
    TURN.write().unwrap_or_else(PoisonError::into_inner)
}

/// Waits until no [`heavy`] test runs, and keeps them out until the guard
/// drops; other busy tests may run at the same time.
///
/// For tests that keep up to a core busy for a minute or more: a fleet paced
/// at hundreds or thousands of messages a second (killed at chosen moments of
/// it), a CPU-bound property test. Busy tests side by side only slow each
/// other down; beside a heavy test they would take the cores it counts on.
pub fn busy() -> RwLockReadGuard<'static, ()> {
    TURN.read().unwrap_or_else(PoisonError::into_inner)
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Fails with a clear message when a peer program is missing.
pub fn require(program: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "{program} is not installed; run scripts/test, which installs the test peers (apt-get install mosquitto mosquitto-clients)"
    );
}

/// Whether the tests run as root (Mosquitto then drops to its own user unless told `user root`).
pub fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A child process killed when dropped.
pub struct Proc {
    pub child: Child,
    pub name: String,
}

impl Proc {
    pub fn spawn(name: &str, cmd: &mut Command) -> Proc {
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc {
            child,
            name: name.to_owned(),
        }
    }

    /// Waits until `web` answers `path` with 200; when the process ends first,
    /// fails with what it printed.
    pub fn serving(&mut self, web: std::net::SocketAddr, path: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if http_get(web, path).is_some_and(|(s, _)| s == 200) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                panic!(
                    "{} ended ({status}) before serving {path}:\n{err}",
                    self.name
                );
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {} to serve {path}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGTERM and waits; returns the exit status and everything it printed.
    pub fn terminate(mut self) -> (std::process::ExitStatus, String, String) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let status = self.child.wait().expect("exit status");
        let mut out = String::new();
        let mut err = String::new();
        if let Some(mut o) = self.child.stdout.take() {
            let _ = o.read_to_string(&mut out);
        }
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        (status, out, err)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Mosquitto broker on a free loopback port, stopped when dropped.
pub struct Mosquitto {
    pub port: u16,
    _proc: Proc,
    _dir: tempfile::TempDir,
}

impl Mosquitto {
    pub fn start() -> Mosquitto {
        Mosquitto::start_with("")
    }

    /// As [`Mosquitto::start`], with `extra` lines at the end of its config.
    pub fn start_with(extra: &str) -> Mosquitto {
        require("mosquitto");
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let conf = dir.path().join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n{extra}"),
        )
        .expect("write mosquitto.conf");
        let proc = Proc::spawn("mosquitto", Command::new("mosquitto").arg("-c").arg(&conf));
        wait_for(Duration::from_secs(10), "mosquitto to listen", || {
            TcpStream::connect(("127.0.0.1", port))
                .is_ok()
                .then_some(())
        });
        Mosquitto {
            port,
            _proc: proc,
            _dir: dir,
        }
    }
}

/// Polls `f` until it gives a value or `limit` passes.
pub fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Publishes one message with QoS 1 through `mosquitto_pub`.
pub fn mosquitto_pub(port: u16, topic: &str, payload: &str) {
    let status = Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-q",
            "1",
            "-t",
            topic,
            "-m",
            payload,
        ])
        .status()
        .expect("run mosquitto_pub");
    assert!(
        status.success(),
        "mosquitto_pub failed for {topic} {payload}"
    );
}

/// Every `.parquet` file of a table, sorted.
pub fn table_files(data: &Path, table: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(parts) = std::fs::read_dir(data.join(table)) else {
        return files;
    };
    for part in parts.flatten() {
        if let Ok(entries) = std::fs::read_dir(part.path()) {
            for f in entries.flatten() {
                if f.path().extension().is_some_and(|e| e == "parquet") {
                    files.push(f.path());
                }
            }
        }
    }
    files.sort();
    files
}

/// All record batches of a table.
pub fn read_table(data: &Path, table: &str) -> Vec<RecordBatch> {
    let mut batches = Vec::new();
    for f in table_files(data, table) {
        let file = std::fs::File::open(&f).expect("open parquet");
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .expect("parquet footer")
            .build()
            .expect("parquet reader");
        for b in reader {
            batches.push(b.expect("record batch"));
        }
    }
    batches
}

/// A cell as JSON, for compact comparisons.
pub fn cell(batch: &RecordBatch, column: &str, row: usize) -> serde_json::Value {
    use arrow::array::*;
    use arrow::datatypes::DataType;
    let col = batch
        .column_by_name(column)
        .unwrap_or_else(|| panic!("no column {column}"));
    if col.is_null(row) {
        return serde_json::Value::Null;
    }
    let any = col.as_any();
    match col.data_type() {
        DataType::Utf8 => any
            .downcast_ref::<StringArray>()
            .map(|a| a.value(row).into()),
        DataType::Binary => any.downcast_ref::<BinaryArray>().map(|a| {
            a.value(row)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
                .into()
        }),
        DataType::UInt8 => any
            .downcast_ref::<UInt8Array>()
            .map(|a| a.value(row).into()),
        DataType::UInt16 => any
            .downcast_ref::<UInt16Array>()
            .map(|a| a.value(row).into()),
        DataType::UInt32 => any
            .downcast_ref::<UInt32Array>()
            .map(|a| a.value(row).into()),
        DataType::UInt64 => any
            .downcast_ref::<UInt64Array>()
            .map(|a| a.value(row).into()),
        DataType::Int16 => any
            .downcast_ref::<Int16Array>()
            .map(|a| a.value(row).into()),
        DataType::Float64 => any
            .downcast_ref::<Float64Array>()
            .map(|a| a.value(row).into()),
        DataType::Boolean => any
            .downcast_ref::<BooleanArray>()
            .map(|a| a.value(row).into()),
        DataType::Date32 => any
            .downcast_ref::<Date32Array>()
            .map(|a| a.value(row).into()),
        DataType::Timestamp(arrow::datatypes::TimeUnit::Millisecond, _) => any
            .downcast_ref::<TimestampMillisecondArray>()
            .map(|a| a.value(row).into()),
        DataType::Timestamp(arrow::datatypes::TimeUnit::Second, _) => any
            .downcast_ref::<TimestampSecondArray>()
            .map(|a| a.value(row).into()),
        other => panic!("column {column}: type {other} not handled in tests"),
    }
    .unwrap_or_else(|| panic!("column {column}: unexpected array type"))
}

/// Every row of a table as a JSON object.
pub fn rows(data: &Path, table: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let mut out = Vec::new();
    for b in read_table(data, table) {
        for row in 0..b.num_rows() {
            let mut m = serde_json::Map::new();
            for field in b.schema().fields() {
                m.insert(field.name().clone(), cell(&b, field.name(), row));
            }
            out.push(m);
        }
    }
    out
}
