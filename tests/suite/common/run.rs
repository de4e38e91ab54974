//! doorstep on its embedded broker in a directory of its own, for end-to-end
//! tests: a site of counters, the run's metrics and its tables.

use super::fleet::Workdir;
use super::{free_port, http_get, wait_for};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// One site of `n` rooms, each with a counter `dNN` reporting every 10 s.
pub fn registry(n: usize) -> String {
    let mut s = String::from("[[site]]\nid = \"fd\"\nname = \"前门社区\"\ncity = \"测试市\"\n\n");
    for i in 0..n {
        s += &format!(
            "[[site.room]]\nid = \"r{i:02}\"\nname = \"活动室{i}\"\ncapacity = 30\narea_m2 = 40\n\n\
             [[site.device]]\nid = \"d{i:02}\"\nroom = \"r{i:02}\"\nkind = \"count\"\ninterval_s = 10\n\n"
        );
    }
    s
}

/// A doorstep on the embedded broker in its own directory.
pub struct Run {
    pub dir: Workdir,
    pub mqtt: u16,
    pub web: SocketAddr,
    pub child: Option<Child>,
    pub starts: usize,
}

impl Run {
    pub fn new(devices: usize, mqtt: Option<u16>) -> Run {
        Run::with(devices, mqtt, "")
    }

    /// As [`Run::new`], with `extra` lines at the end of the config.
    pub fn with(devices: usize, mqtt: Option<u16>, extra: &str) -> Run {
        Run::with_registry(&registry(devices), mqtt, extra)
    }

    /// A doorstep with this registry (TOML) and `extra` lines at the end of the config.
    pub fn with_registry(registry_toml: &str, mqtt: Option<u16>, extra: &str) -> Run {
        let dir = Workdir(Some(tempfile::tempdir().expect("tempdir")));
        let web: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let mqtt_port = free_port();
        let broker = match mqtt {
            Some(port) => format!("broker = \"mqtt://127.0.0.1:{port}\"\n"),
            None => format!("listen = \"127.0.0.1:{mqtt_port}\"\n"),
        };
        std::fs::write(dir.path().join("registry.toml"), registry_toml).expect("registry");
        std::fs::write(
            dir.path().join("doorstep.toml"),
            format!(
                "registry = \"registry.toml\"\ndata_dir = \"data\"\n[mqtt]\n{broker}\
                 [web]\nlisten = \"{web}\"\n[store]\nflush_s = 1\n{extra}"
            ),
        )
        .expect("config");
        let mut run = Run {
            dir,
            mqtt: mqtt.unwrap_or(mqtt_port),
            web,
            child: None,
            starts: 0,
        };
        run.start(&[]);
        run
    }

    pub fn start(&mut self, env: &[(&str, &str)]) {
        self.starts += 1;
        let log = std::fs::File::create(
            self.dir
                .path()
                .join(format!("doorstep-{}.log", self.starts)),
        )
        .expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_doorstep"))
            .args(["run", "--config"])
            .arg(self.dir.path().join("doorstep.toml"))
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("doorstep");
        self.child = Some(child);
    }

    pub fn ready(&self) {
        wait_for(Duration::from_secs(30), "/readyz", || {
            http_get(self.web, "/readyz").filter(|(s, _)| *s == 200)
        });
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A counter of `/metrics` (summed over its labels matching `labels`).
    pub fn metric(&self, name: &str, labels: &str) -> f64 {
        let Some((200, body)) = http_get(self.web, "/metrics") else {
            return 0.0;
        };
        body.lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| l.split([' ', '{']).next() == Some(name) && l.contains(labels))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    pub fn store(&self, devices: usize) -> analytics::Store {
        let registry = devices::Registry::from_toml(&registry(devices), Path::new("registry.toml"))
            .expect("registry");
        analytics::Store::open(&self.dir.path().join("data"), Arc::new(registry)).expect("store")
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// (device id, seq) of every row of `raw_events` around today.
pub fn raw_events(store: &analytics::Store) -> Vec<(String, u64)> {
    let today = chrono::Utc::now().date_naive();
    let dates: Vec<_> = (-2..=1)
        .map(|d| today + chrono::Duration::days(d))
        .collect();
    let registry = store.registry();
    store
        .read_raw_events(&dates)
        .expect("raw_events")
        .iter()
        .map(|r| {
            (
                registry.device(r.device).id.clone(),
                r.seq.unwrap_or(u64::MAX),
            )
        })
        .collect()
}

pub fn count_payload(seq: u64, ts_ms: i64) -> String {
    format!(
        r#"{{"type":"count","ts":{ts_ms},"seq":{seq},"count":{}}}"#,
        seq % 9
    )
}
