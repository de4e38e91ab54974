//! The auth gate: device accounts and a per-device topic ACL for the embedded
//! broker, which has neither (rumqttd checks a username and password, but has
//! no per-client ACL).
//!
//! Devices connect to the gate; rumqttd listens on an internal loopback port
//! and knows only two accounts with random secrets made at start: the gate's
//! and doorstep's own subscriber's. For each client the gate
//!
//! - reads its CONNECT and checks the username and password against a
//!   Mosquitto password file, and its last will's topic against the ACL;
//!   refuses with a CONNACK otherwise;
//! - passes the CONNECT on with the gate's internal account (and the client id
//!   prefixed, so no device can take over doorstep's own session);
//! - checks every PUBLISH (`write`) and SUBSCRIBE (`read`) against a Mosquitto
//!   ACL file, and closes the connection on the first one that is not allowed
//!   (MQTT 5: after a DISCONNECT with reason 0x87, not authorized); MQTT 5
//!   topic aliases are resolved and publish properties dropped on the way, as
//!   rumqttd 0.20 panics passing properties on to an MQTT 3.1.1 subscriber;
//! - takes every PUBLISH on a device topic (`doorstep/v1/...`) itself and hands
//!   it to doorstep's journal through the [`Door`], answering PUBACK only once
//!   the journal is synced; the broker never sees device messages;
//! - limits sockets, connections, in-flight messages, rates and sizes
//!   ([`crate::BrokerLimits`]);
//! - copies what the broker sends back.
//!
//! The same two files serve Mosquitto (docs/SECURITY.md).
//!
//! Without accounts ([`GateConfig::open`]) the gate lets everyone in and checks
//! nothing; it still stands in front of an MQTT 5 listener for the properties.
//!
//! ```
//! use std::path::Path;
//! let acl = ingest::Acl::parse("user doorstep\ntopic read doorstep/v1/#\npattern write doorstep/v1/+/%u\n", Path::new("acl"))?;
//! assert!(acl.allows(Some("c1"), "c1", "doorstep/v1/s1/c1", ingest::Access::Write));
//! assert!(!acl.allows(Some("c1"), "c1", "doorstep/v1/s1/c2", ingest::Access::Write));
//! # Ok::<(), ingest::Error>(())
//! ```

mod acl;
mod admit;
mod conn;
mod door;
mod frame;
mod hello;
mod passwd;
mod ticket;
mod violation;
mod wire;

pub use acl::{Access, Acl};
pub use door::Door;
pub use passwd::Passwd;
pub use ticket::Ticket;

use crate::{Error, Secret};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Device accounts and topic rules for the embedded broker.
#[derive(Debug, Clone)]
pub struct GateConfig {
    /// Who may connect (a Mosquitto password file).
    pub passwd: Passwd,
    /// What each may publish and subscribe to (a Mosquitto ACL file).
    pub acl: Acl,
    /// No accounts and no ACL: anyone may connect, publish and subscribe.
    pub open: bool,
}

impl GateConfig {
    /// Reads a Mosquitto password file and ACL file.
    pub fn load(passwd_file: &Path, acl_file: &Path) -> Result<GateConfig, Error> {
        Ok(GateConfig {
            passwd: Passwd::load(passwd_file)?,
            acl: Acl::load(acl_file)?,
            open: false,
        })
    }

    /// A gate that checks nothing: for an MQTT 5 listener without accounts, so
    /// that publish properties are dropped before rumqttd 0.20 (which panics
    /// passing them on to doorstep's MQTT 3.1.1 subscriber) sees them.
    pub fn open() -> Result<GateConfig, Error> {
        Ok(GateConfig {
            passwd: Passwd::parse("", Path::new("(none)"))?,
            acl: Acl::parse("", Path::new("(none)"))?,
            open: true,
        })
    }
}

/// Largest packet a client may send (the broker's `max_payload_size`).
pub(crate) const MAX_PACKET: usize = 64 * 1024;

/// The MQTT version a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    /// MQTT 3.1.1 (protocol level 4).
    V4,
    /// MQTT 5.
    V5,
}

/// What every connection of the gate reads.
pub(crate) struct Shared {
    pub passwd: Passwd,
    pub acl: Acl,
    /// Checks nothing (see [`GateConfig::open`]).
    pub open: bool,
    /// The gate's own account on the internal broker.
    pub account: (String, Secret),
    /// Where device messages go.
    pub door: Door,
    /// Limits per connection, address and account.
    pub limits: crate::BrokerLimits,
    /// Who holds a connection now.
    pub admission: Arc<admit::Admission>,
}

/// A public listener of the gate and the internal broker port it leads to.
pub(crate) struct Route {
    pub listener: std::net::TcpListener,
    pub upstream: SocketAddr,
    pub version: Version,
}

/// Runs the gate on its own thread for the life of the process.
pub(crate) fn spawn(
    config: GateConfig,
    account: (String, Secret),
    routes: Vec<Route>,
    door: Door,
    limits: crate::BrokerLimits,
) -> Result<(), Error> {
    for r in &routes {
        r.listener.set_nonblocking(true).map_err(Error::Gate)?;
    }
    let shared = Arc::new(Shared {
        passwd: config.passwd,
        acl: config.acl,
        open: config.open,
        account,
        door,
        limits,
        admission: admit::Admission::new(limits),
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Gate)?;
    std::thread::Builder::new()
        .name("mqtt-gate".into())
        .spawn(move || {
            runtime.block_on(async move {
                let mut tasks = tokio::task::JoinSet::new();
                for route in routes {
                    let shared = Arc::clone(&shared);
                    match tokio::net::TcpListener::from_std(route.listener) {
                        Ok(listener) => {
                            tasks.spawn(accept(listener, shared, route.upstream, route.version));
                        }
                        Err(e) => tracing::error!(error = %e, "MQTT gate: cannot listen"),
                    }
                }
                while tasks.join_next().await.is_some() {}
                tracing::error!("MQTT gate stopped");
            });
        })
        .map_err(Error::Thread)?;
    Ok(())
}

async fn accept(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    upstream: SocketAddr,
    version: Version,
) {
    loop {
        match listener.accept().await {
            Ok((client, peer)) => {
                tokio::spawn(conn::serve(
                    Arc::clone(&shared),
                    client,
                    peer,
                    upstream,
                    version,
                ));
            }
            Err(e) => {
                // Out of file descriptors, typically: wait rather than spin.
                tracing::warn!(error = %e, "MQTT gate: cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// `bytes` random bytes from the operating system, in hex.
pub(crate) fn random_hex(bytes: usize) -> Result<String, Error> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| Error::Random(e.to_string()))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests;
