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
}

/// `[web]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSection {
    /// Address of the web page and API.
    #[serde(default = "default_web_listen")]
    pub listen: SocketAddr,
}

/// `[store]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// Seconds between Parquet flushes.
    #[serde(default = "default_flush_s")]
    pub flush_s: u32,
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
        }
    }
}

impl Default for WebSection {
    fn default() -> Self {
        WebSection {
            listen: default_web_listen(),
        }
    }
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection {
            flush_s: default_flush_s(),
        }
    }
}

impl Config {
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
        if let Some(f) = &config.mqtt.ca_file {
            config.mqtt.ca_file = Some(base.join(f));
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
}

/// Refuses a file holding a secret that users other than its owner can read.
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

    #[test]
    fn sample_config_parses() {
        let c: Config = toml::from_str(SAMPLE_CONFIG).expect("sample config");
        assert_eq!(c.mqtt.broker, "embedded");
        assert_eq!(c.stream.allowed_lateness_s, 120);
    }
}
