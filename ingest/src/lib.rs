//! MQTT ingest for doorstep: the embedded broker (rumqttd) with its auth gate
//! for device accounts and topic ACLs ([`gate`]), the subscriber that validates
//! device messages against the registry, and a publisher for simulated devices.
//!
//! ```no_run
//! # async fn run(validator: devices::Validator) -> Result<(), ingest::Error> {
//! let broker = ingest::EmbeddedBroker::start("127.0.0.1:1883".parse().unwrap(), None)?;
//! let stats = std::sync::Arc::new(ingest::IngestStats::default());
//! let session = ingest::Session { client_id: "doorstep".into(), credentials: None, ca_pem: None };
//! let sub = ingest::Subscriber::connect(&broker.url(), &session, validator, devices::Clock::wall(), stats).await?;
//! let acker = sub.acker();
//! let (tx, mut rx) = tokio::sync::mpsc::channel(10_000);
//! tokio::spawn(sub.run(tx));
//! while let Some(incoming) = rx.recv().await {
//!     match &incoming.item {
//!         Ok(reading) => println!("{:?}", reading.value),
//!         Err(rejected) => println!("rejected: {}", rejected.reason.as_str()),
//!     }
//!     // Once the message is durable (journaled), tell the broker.
//!     acker.ack(incoming.pending).await?;
//! }
//! # Ok(()) }
//! ```

mod broker;
mod flood;
pub mod gate;
pub mod journal;
mod publisher;
mod subscriber;
mod url;

pub use broker::{BrokerLimits, EmbeddedBroker};
pub use flood::FloodGuard;
pub use gate::{Access, Acl, GateConfig, Passwd};
pub use journal::{Entry, Journal, JournalError, Leftover};
pub use publisher::Publisher;
pub use subscriber::{Acker, Incoming, Pending, Subscriber, TOPIC_FILTER};
pub use url::BrokerUrl;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64};

/// A password that never shows in logs or debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(text: impl Into<String>) -> Secret {
        Secret(text.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How doorstep identifies itself to a broker.
#[derive(Debug, Clone)]
pub struct Session {
    /// Fixed client id, so the broker keeps the session.
    pub client_id: String,
    /// Username and password, when the broker asks for them.
    pub credentials: Option<(String, Secret)>,
    /// For `mqtts://`: the CA certificates (PEM) the broker's certificate must chain to;
    /// `None` trusts the system's roots.
    pub ca_pem: Option<Vec<u8>>,
}

impl Session {
    fn options(&self, url: &BrokerUrl) -> rumqttc::MqttOptions {
        let mut options = rumqttc::MqttOptions::new(&self.client_id, url.host.clone(), url.port);
        if let Some((user, password)) = &self.credentials {
            options.set_credentials(user.clone(), password.expose());
        }
        if url.tls {
            // rustls with ring; installing it twice is harmless.
            let _ = rustls::crypto::ring::default_provider().install_default();
            options.set_transport(match &self.ca_pem {
                Some(ca) => {
                    rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Simple {
                        ca: ca.clone(),
                        alpn: None,
                        client_auth: None,
                    })
                }
                None => rumqttc::Transport::tls_with_default_config(),
            });
        }
        options
    }
}

/// Counters of the ingest stage.
#[derive(Debug, Default)]
pub struct IngestStats {
    /// Messages received from the broker.
    pub received: AtomicU64,
    /// Messages accepted.
    pub accepted: AtomicU64,
    /// Messages rejected, per [`devices::Reason`] (indexed by `reason as usize`).
    pub rejected: [AtomicU64; devices::Reason::ALL.len()],
    /// Connected to the broker now.
    pub connected: AtomicBool,
    /// Times ingest stopped reading because the pipeline was behind (backpressure).
    pub backpressure: AtomicU64,
}

/// Errors of the ingest stage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The embedded broker's port is taken.
    #[error(
        "cannot listen for MQTT on {addr} ({source}); is another broker running? Choose another address with --mqtt-listen, or use it with --broker mqtt://HOST:PORT"
    )]
    PortInUse {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The embedded broker did not come up.
    #[error("the embedded MQTT broker did not start listening on {addr}")]
    BrokerDidNotStart {
        /// The address.
        addr: SocketAddr,
    },
    /// The broker refused the username or password.
    #[error(
        "the MQTT broker at {url} refused doorstep's credentials ({cause}); check [mqtt] username and password_file"
    )]
    Refused {
        /// The broker URL.
        url: String,
        /// The broker's answer.
        cause: String,
    },
    /// The broker cannot be reached.
    #[error(
        "cannot reach the MQTT broker at {url}: {cause}; is it running? Check --broker (or [mqtt] broker in the config)"
    )]
    Unreachable {
        /// The broker URL.
        url: String,
        /// Why.
        cause: String,
    },
    /// The MQTT client refused a request.
    #[error("MQTT client: {0}")]
    Client(String),
    /// A thread could not be started.
    #[error("cannot start a thread: {0}")]
    Thread(std::io::Error),
    /// The auth gate of the embedded broker could not start.
    #[error("the MQTT auth gate cannot start: {0}")]
    Gate(std::io::Error),
    /// A password or ACL file cannot be read.
    #[error("cannot read {}: {source}", file.display())]
    ReadAuthFile {
        /// The file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line of a password or ACL file is wrong.
    #[error("{}:{line}: {message}", file.display())]
    AuthFile {
        /// The file.
        file: PathBuf,
        /// Its line, from 1.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// No randomness for the internal accounts of the embedded broker.
    #[error("cannot generate the embedded broker's internal secrets: {0}")]
    Random(String),
}
