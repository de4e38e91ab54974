//! The config file of `doorstep run` (TOML). `doorstep init` writes a commented one.

use anyhow::Context;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The whole config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The registry of sites, rooms and devices; relative to the config file.
    pub registry: PathBuf,
    /// Where the Parquet tables go; relative to the config file.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// MQTT.
    #[serde(default)]
    pub mqtt: MqttSection,
    /// The web page and API.
    #[serde(default)]
    pub web: WebSection,
    /// The stream stage.
    #[serde(default)]
    pub stream: stream::StreamConfig,
    /// Parquet output.
    #[serde(default)]
    pub store: StoreSection,
    /// A simulated clock, for replays and demos.
    #[serde(default)]
    pub clock: ClockSection,
    /// The InfluxDB sink (docs/INFLUX.md); off when absent.
    #[serde(default)]
    pub influx: Option<analytics::influx::InfluxConfig>,
    /// One process of a timely cluster (docs/DEPLOY.md); alone when absent.
    #[serde(default)]
    pub cluster: Option<crate::cluster::ClusterSection>,
    /// How much of the rejected messages is stored whole (docs/SECURITY.md).
    #[serde(default)]
    pub quarantine: ingest::QuarantineLimits,
    /// Alerts and where they are sent (docs/ALERTS.md).
    #[serde(default)]
    pub alerts: crate::alerts::AlertsConfig,
}

/// `[mqtt]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttSection {
    /// `"embedded"` for the built-in broker, or `mqtt://host:port` of an external one.
    #[serde(default = "default_broker")]
    pub broker: String,
    /// Address of the embedded broker (MQTT 3.1.1).
    #[serde(default = "default_mqtt_listen")]
    pub listen: SocketAddr,
    /// Address of the embedded broker for devices speaking MQTT 5 (off by default).
    pub listen_v5: Option<SocketAddr>,
    /// Client id of doorstep's subscriber (fixed, so the broker keeps its session).
    #[serde(default = "default_client_id")]
    pub client_id: String,
    /// Username towards an external broker that asks for one.
    pub username: Option<String>,
    /// File holding the password (first line), relative to the config file; it must not be readable by others.
    pub password_file: Option<PathBuf>,
    /// The password itself; only allowed when the config file is not readable by others.
    pub password: Option<String>,
    /// For `mqtts://` brokers: CA certificates (PEM) to trust, relative to the config file
    /// (default: the system's roots).
    pub ca_file: Option<PathBuf>,
    /// Embedded broker only: the devices' accounts, a Mosquitto password file
    /// (`mosquitto_passwd`), relative to the config file; it must not be readable by
    /// others. Goes with `acl_file`; without both, anyone may connect.
    pub passwd_file: Option<PathBuf>,
    /// Embedded broker only: what each account may publish and subscribe to, a
    /// Mosquitto ACL file, relative to the config file. Goes with `passwd_file`.
    pub acl_file: Option<PathBuf>,
    /// Embedded broker only: clients connected at once (default 10,000); the
    /// same as `[mqtt.limits] max_connections`.
    pub max_connections: Option<usize>,
    /// Embedded broker only: MiB rumqttd keeps for subscribers of other topics
    /// than the devices'; the same as `[mqtt.limits] buffer_mib`.
    pub buffer_mib: Option<usize>,
    /// Embedded broker only: limits per socket, address, account and
    /// connection (docs/SECURITY.md lists each with its default).
    #[serde(default)]
    pub limits: ingest::BrokerLimits,
}

impl MqttSection {
    /// The embedded broker's limits.
    pub fn limits(&self) -> ingest::BrokerLimits {
        let mut limits = self.limits;
        if let Some(n) = self.max_connections {
            limits.max_connections = n;
        }
        if let Some(n) = self.buffer_mib {
            limits.buffer_mib = n;
        }
        limits
    }
}

/// `[web]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSection {
    /// Address of the web page and API.
    #[serde(default = "default_web_listen")]
    pub listen: SocketAddr,
    /// Access tokens with roles (docs/WEB.md), relative to the config file; must be
    /// `chmod 600`. Without it the web app is open and must listen on a loopback address.
    pub tokens_file: Option<PathBuf>,
    /// The hours of a day that the manager's free-hours list covers, HH:MM-HH:MM
    /// (default 07:00-21:00): outside a room's opening hours but inside these, the
    /// room is offered to another service.
    #[serde(default)]
    pub service_day: analytics::report::free_hours::ServiceDay,
}

/// `[store]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// Seconds between Parquet flushes.
    #[serde(default = "default_flush_s")]
    pub flush_s: u32,
    /// Date partitions at least this many days old have their files compacted.
    #[serde(default = "default_compact_after_days")]
    pub compact_after_days: u32,
    /// Rows per compacted file, at most.
    #[serde(default = "default_compact_rows")]
    pub compact_rows: usize,
    /// Days each table keeps (`[store.retention_days]`, e.g. `raw_events = 400`).
    #[serde(default)]
    pub retention_days: std::collections::BTreeMap<String, u32>,
}

impl StoreSection {
    /// The upkeep settings; unknown table names are an error.
    pub fn upkeep(&self) -> anyhow::Result<crate::upkeep::Upkeep> {
        for table in self.retention_days.keys() {
            anyhow::ensure!(
                analytics::TABLES.contains(&table.as_str()),
                "[store.retention_days] names {table:?}, which is not a table (tables: {})",
                analytics::TABLES.join(", ")
            );
        }
        Ok(crate::upkeep::Upkeep {
            compact_after_days: self.compact_after_days,
            compact_rows: self.compact_rows.max(1),
            retention_days: self.retention_days.clone(),
        })
    }
}

fn default_compact_after_days() -> u32 {
    2
}
fn default_compact_rows() -> usize {
    1_000_000
}

/// `[clock]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockSection {
    /// Start the clock at this RFC 3339 time instead of now.
    pub start: Option<String>,
    /// Times faster than real time.
    pub speed: Option<f64>,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("doorstep-data")
}
fn default_broker() -> String {
    "embedded".into()
}
fn default_mqtt_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 1883))
}
fn default_client_id() -> String {
    "doorstep".into()
}
fn default_web_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_flush_s() -> u32 {
    5
}

impl Default for MqttSection {
    fn default() -> Self {
        MqttSection {
            broker: default_broker(),
            listen: default_mqtt_listen(),
            listen_v5: None,
            client_id: default_client_id(),
            username: None,
            password_file: None,
            password: None,
            ca_file: None,
            passwd_file: None,
            acl_file: None,
            max_connections: None,
            buffer_mib: None,
            limits: ingest::BrokerLimits::default(),
        }
    }
}

impl Default for WebSection {
    fn default() -> Self {
        WebSection {
            listen: default_web_listen(),
            tokens_file: None,
            service_day: Default::default(),
        }
    }
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection {
            flush_s: default_flush_s(),
            compact_after_days: default_compact_after_days(),
            compact_rows: default_compact_rows(),
            retention_days: Default::default(),
        }
    }
}

impl Config {
    /// The config file given, else `./doorstep.toml` when there is one (for
    /// commands that read the tables: `import`, `report`).
    pub fn find(given: Option<&Path>) -> anyhow::Result<Option<Config>> {
        let default = Path::new("doorstep.toml");
        match given {
            Some(path) => Config::load(path).map(Some),
            None if default.is_file() => Config::load(default).map(Some),
            None => Ok(None),
        }
    }

    /// Reads a config file; relative paths in it are taken from its folder.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the config file {}", path.display()))?;
        let mut config: Config = toml::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "{}: {}",
                path.display(),
                e.to_string().trim_end().replace('\n', " ")
            )
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.registry = base.join(&config.registry);
        config.data_dir = base.join(&config.data_dir);
        if let Some(f) = &config.mqtt.password_file {
            config.mqtt.password_file = Some(base.join(f));
        }
        if let Some(f) = config.influx.as_mut().and_then(|i| i.token_file.as_mut()) {
            *f = base.join(&*f);
        }
        if let Some(f) = &config.web.tokens_file {
            let f = base.join(f);
            private(&f, "holds the web app's access tokens")?;
            config.web.tokens_file = Some(f);
        }
        if let Some(f) = &config.mqtt.ca_file {
            config.mqtt.ca_file = Some(base.join(f));
        }
        if let Some(c) = config.cluster.as_mut() {
            c.rebase(base);
        }
        let m = &mut config.mqtt;
        match (&m.passwd_file, &m.acl_file) {
            (Some(passwd), Some(acl)) => {
                if m.broker != "embedded" {
                    anyhow::bail!(
                        "{}: [mqtt] passwd_file and acl_file are for the embedded broker, not {}; give them to that broker instead (docs/SECURITY.md)",
                        path.display(),
                        m.broker
                    );
                }
                (m.passwd_file, m.acl_file) = (Some(base.join(passwd)), Some(base.join(acl)));
            }
            (Some(_), None) | (None, Some(_)) => anyhow::bail!(
                "{}: [mqtt] passwd_file and acl_file go together (the devices' accounts, and what each may publish); set both or neither",
                path.display()
            ),
            (None, None) => {}
        }
        if config.mqtt.password.is_some() {
            private(path, "holds [mqtt] password")?;
        }
        Ok(config)
    }

    /// The MQTT session: client id and, when configured, username and password.
    pub fn session(&self) -> anyhow::Result<ingest::Session> {
        let m = &self.mqtt;
        let password = match (&m.password_file, &m.password) {
            (Some(_), Some(_)) => {
                anyhow::bail!("[mqtt] has both password and password_file; keep one")
            }
            (Some(file), None) => {
                private(file, "is the MQTT password file")?;
                let text = std::fs::read_to_string(file).with_context(|| {
                    format!("cannot read the MQTT password file {}", file.display())
                })?;
                Some(text.lines().next().unwrap_or_default().to_owned())
            }
            (None, password) => password.clone(),
        };
        let credentials = match (&m.username, password) {
            (Some(user), Some(password)) => Some((user.clone(), ingest::Secret::new(password))),
            (Some(user), None) => Some((user.clone(), ingest::Secret::new(""))),
            (None, Some(_)) => anyhow::bail!("[mqtt] has a password but no username"),
            (None, None) => None,
        };
        let ca_pem = match &m.ca_file {
            Some(f) => Some(
                std::fs::read(f)
                    .with_context(|| format!("cannot read the CA file {}", f.display()))?,
            ),
            None => None,
        };
        Ok(ingest::Session {
            client_id: m.client_id.clone(),
            credentials,
            ca_pem,
        })
    }

    /// The embedded broker's device accounts and topic ACL, when `passwd_file` and
    /// `acl_file` are set; an open gate (no accounts) in front of an MQTT 5
    /// listener otherwise.
    pub fn gate(&self) -> anyhow::Result<Option<ingest::GateConfig>> {
        let (Some(passwd), Some(acl)) = (&self.mqtt.passwd_file, &self.mqtt.acl_file) else {
            // No accounts, but MQTT 5 devices: an open gate drops their publish
            // properties, which rumqttd 0.20 cannot pass on to doorstep's subscriber.
            return Ok(match self.mqtt.listen_v5 {
                Some(_) => Some(ingest::GateConfig::open()?),
                None => None,
            });
        };
        private(passwd, "is the embedded broker's password file")?;
        Ok(Some(ingest::GateConfig::load(passwd, acl)?))
    }
}

/// Refuses a file holding a secret that users other than its owner can read.
impl Config {
    /// The `[influx]` settings and the token read from `token_file` (which must be private).
    pub fn influx(
        &self,
    ) -> anyhow::Result<Option<(analytics::influx::InfluxConfig, Option<ingest::Secret>)>> {
        let Some(influx) = &self.influx else {
            return Ok(None);
        };
        let token = match &influx.token_file {
            Some(file) => {
                private(file, "is the InfluxDB token file")?;
                let text = std::fs::read_to_string(file).with_context(|| {
                    format!("cannot read the InfluxDB token file {}", file.display())
                })?;
                Some(ingest::Secret::new(
                    text.lines().next().unwrap_or_default().trim(),
                ))
            }
            None => None,
        };
        Ok(Some((influx.clone(), token)))
    }
}

fn private(path: &Path, what: &str) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            anyhow::bail!(
                "{} {what} but others can read it (mode {:o}); run: chmod 600 {}",
                path.display(),
                mode & 0o777,
                path.display()
            );
        }
    }
    Ok(())
}

/// The sample config written by `doorstep init`.
pub const SAMPLE_CONFIG: &str = include_str!("../config/doorstep.toml");
/// The sample registry written by `doorstep init` and used by the demo.
pub const SAMPLE_REGISTRY: &str = include_str!("../config/registry.toml");

#[cfg(test)]
mod tests {
    use super::*;

    /// A config file in a fresh folder, with a password and ACL file beside it.
    fn with_gate(mqtt: &str) -> (tempfile::TempDir, anyhow::Result<Config>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::write(
            d.join("passwd"),
            "c1:$6$JvV7w5eW44qIP17w$GMoZdAxnsdWsMGTRTSsLcGGxIhClhMoaWmmh3mT50FOeea/DF1X3cn2GogrzVWZV2cW3XGJfXUHK71hrZ3H5DQ==\n",
        )
        .expect("passwd");
        std::fs::write(d.join("acl"), "pattern write doorstep/v1/+/%u\n").expect("acl");
        std::fs::write(
            d.join("doorstep.toml"),
            format!("registry = \"registry.toml\"\n[mqtt]\n{mqtt}\n"),
        )
        .expect("config");
        let config = Config::load(&d.join("doorstep.toml"));
        (dir, config)
    }

    #[test]
    fn passwd_and_acl_files_go_together_with_the_embedded_broker() {
        let (_d, c) = with_gate("passwd_file = \"passwd\"");
        let e = c.expect_err("passwd_file alone").to_string();
        assert!(e.contains("set both or neither"), "{e}");
        let (_d, c) = with_gate("acl_file = \"acl\"");
        assert!(c.is_err());
        let (_d, c) = with_gate(
            "broker = \"mqtt://10.0.0.5:1883\"\npasswd_file = \"passwd\"\nacl_file = \"acl\"",
        );
        let e = c.expect_err("external broker").to_string();
        assert!(e.contains("for the embedded broker"), "{e}");
        let (_d, c) = with_gate("");
        assert!(c.expect("no gate").gate().expect("no gate").is_none());
    }

    #[cfg(unix)]
    #[test]
    fn the_passwd_file_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, c) = with_gate("passwd_file = \"passwd\"\nacl_file = \"acl\"");
        let c = c.expect("config");
        let passwd = dir.path().join("passwd");
        std::fs::set_permissions(&passwd, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let e = c.gate().expect_err("readable by others").to_string();
        assert!(e.contains("chmod 600"), "{e}");
        std::fs::set_permissions(&passwd, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let gate = c.gate().expect("gate").expect("configured");
        assert!(gate.passwd.verify("c1", b"hunter2"));
        assert!(
            gate.acl
                .allows(Some("c1"), "c1", "doorstep/v1/s1/c1", ingest::Access::Write)
        );
        // A broken ACL line is named with its file and line.
        std::fs::write(dir.path().join("acl"), "\nallow all\n").expect("acl");
        let e = c.gate().expect_err("bad acl").to_string();
        assert!(
            e.ends_with("acl:2: unknown directive \"allow\"; expected user, topic or pattern"),
            "{e}"
        );
    }

    #[test]
    fn sample_config_parses() {
        let c: Config = toml::from_str(SAMPLE_CONFIG).expect("sample config");
        assert_eq!(c.mqtt.broker, "embedded");
        assert_eq!(c.stream.allowed_lateness_s, 120);
    }
}
