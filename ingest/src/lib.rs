//! MQTT ingest for doorstep: the embedded broker with its gate (device accounts,
//! topic ACLs, connection limits, and the door that hands device messages to
//! doorstep's journal, [`gate`]), the subscriber for external brokers, both
//! validating device messages against the registry, and a publisher for
//! simulated devices.
//!
//! ```no_run
//! # async fn run(validator: devices::Validator) -> Result<(), ingest::Error> {
//! use std::sync::Arc;
//! let stats = Arc::new(ingest::IngestStats::default());
//! let (tx, mut rx) = tokio::sync::mpsc::channel(10_000);
//! // The embedded broker hands device messages straight to `tx`.
//! let door = ingest::Door::new(tx, validator, devices::Clock::wall(), Arc::clone(&stats));
//! let gate = ingest::GateConfig::open()?;
//! let _broker = ingest::EmbeddedBroker::start(
//!     "127.0.0.1:1883".parse().unwrap(), None, gate, ingest::BrokerLimits::default(), door)?;
//! let acker = ingest::Acker::door();
//! while let Some(incoming) = rx.recv().await {
//!     match &incoming.item {
//!         Ok(reading) => println!("{:?}", reading.value),
//!         Err(rejected) => println!("rejected: {}", rejected.reason.as_str()),
//!     }
//!     // Once the message is durable (journaled), the device gets its PUBACK.
//!     acker.ack(incoming.pending).await?;
//! }
//! # Ok(()) }
//! ```

mod broker;
mod budget;
mod flood;
pub mod gate;
pub mod intake;
pub mod journal;
mod limits;
mod publisher;
mod redeliveries;
mod subscriber;
mod topics;
mod url;

pub use broker::EmbeddedBroker;
pub use budget::{Keep, QuarantineBudget, QuarantineCounts, QuarantineLimits};
pub use flood::{FloodGuard, SavedFlood};
pub use gate::{Access, Acl, Door, GateConfig, Passwd};
pub use intake::{
    BoxError, Downstream, Intake, IntakeError, IntakeState, SavedIntake, open_journal,
};
pub use journal::{Entry, Journal, JournalError, Leftover};
pub use limits::BrokerLimits;
pub use publisher::Publisher;
pub use redeliveries::Redeliveries;
pub use subscriber::{Acker, CLIENT_MAX_PACKET, Incoming, Pending, Subscriber, TOPIC_FILTER};
pub use topics::{ALERTS_PREFIX, DEVICE_PREFIX, is_device_topic};
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
    /// Messages delivered again (by the broker after a restart, or resent by a
    /// device) and taken in once: not in `accepted`.
    pub redelivered: AtomicU64,
    /// The stream's state is being rebuilt from `raw_events` (at start): not ready yet.
    pub replaying: AtomicBool,
    /// Readings replayed to rebuild the stream's state at the last start.
    pub replayed: AtomicU64,
    /// How long that took, milliseconds.
    pub replay_ms: AtomicU64,
    /// From the start of the pipeline to the end of that replay (serving live data
    /// again), milliseconds.
    pub restart_ms: AtomicU64,
    /// Rejected messages stored only as a sample (payload cut), over their quarantine budget.
    pub quarantine_sampled: AtomicU64,
    /// Rejected messages only counted, over their quarantine budget.
    pub quarantine_counted_only: AtomicU64,
    /// The embedded broker's door.
    pub gate: GateStats,
}

/// Counters of the embedded broker's door (all zero with an external broker).
#[derive(Debug, Default)]
pub struct GateStats {
    /// Client connections open now (after CONNECT).
    pub open: AtomicU64,
    /// Sockets waiting for their CONNECT now.
    pub waiting: AtomicU64,
    /// Connections refused because a limit was reached (total, per address, per account).
    pub refused_busy: AtomicU64,
    /// Sockets without a CONNECT closed to make room for new ones.
    pub evicted: AtomicU64,
    /// Sockets closed for sending no CONNECT in time, or nothing within their keep-alive.
    pub timed_out: AtomicU64,
    /// Times a connection was paused for going over its rate (messages or bytes a second).
    pub throttled: AtomicU64,
    /// Messages over the size limit (skipped, their first bytes quarantined).
    pub oversize: AtomicU64,
}

/// Errors of the ingest stage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The embedded broker's port is taken.
    #[error(
        "cannot listen for MQTT on {addr} ({source}); is another broker running? Choose another address ([mqtt] listen in the config for doorstep run, --mqtt-listen for doorstep demo), or use that broker (broker = mqtt://HOST:PORT in [mqtt], or --broker)"
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
        "cannot reach the MQTT broker at {url}: {cause}; is it running? Check [mqtt] broker in the config (or --broker)"
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
    /// The embedded broker without accounts on an address others can reach.
    #[error(
        "the embedded MQTT broker has no device accounts, so it listens on loopback only, not {addr}; set [mqtt] passwd_file and acl_file (docs/SECURITY.md) to listen there"
    )]
    OpenBroker {
        /// The address.
        addr: SocketAddr,
    },
    /// No randomness for the internal accounts of the embedded broker.
    #[error("cannot generate the embedded broker's internal secrets: {0}")]
    Random(String),
}
