//! The embedded MQTT broker, the default when no external broker is named: the
//! gate in front (device accounts, limits, and the door that journals device
//! messages before they are acknowledged), rumqttd behind it for other traffic.

use crate::gate::{self, Door, GateConfig, MAX_PACKET, Route, Version, random_hex};
use crate::limits::BrokerLimits;
use crate::{Error, Secret};
use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

/// A running embedded broker. It lives as long as the process.
#[derive(Debug)]
pub struct EmbeddedBroker {
    addr: SocketAddr,
}

impl EmbeddedBroker {
    /// Starts the embedded broker: the gate ([`crate::gate`]) listens on `listen`
    /// (MQTT 3.1.1) and, when given, `listen_v5` (MQTT 5), and hands device
    /// messages to the `door`; rumqttd listens on an internal loopback port that
    /// only the gate can log in to, for any other traffic the ACL allows.
    ///
    /// Without accounts ([`GateConfig::open`]) it listens on loopback addresses
    /// only: anyone who can reach it could publish as any device.
    pub fn start(
        listen: SocketAddr,
        listen_v5: Option<SocketAddr>,
        gate: GateConfig,
        limits: BrokerLimits,
        door: Door,
    ) -> Result<EmbeddedBroker, Error> {
        let addrs: Vec<SocketAddr> = std::iter::once(listen).chain(listen_v5).collect();
        if gate.open
            && let Some(addr) = addrs.iter().find(|a| !a.ip().is_loopback())
        {
            return Err(Error::OpenBroker { addr: *addr });
        }
        let bind = |addr: &SocketAddr| {
            TcpListener::bind(addr).map_err(|source| Error::PortInUse {
                addr: *addr,
                source,
            })
        };
        // The gate holds the public addresses; rumqttd gets free loopback ports.
        let public: Vec<TcpListener> = addrs.iter().map(bind).collect::<Result<_, _>>()?;
        let addr = public[0].local_addr().map_err(Error::Gate)?;
        let internal = || -> Result<SocketAddr, Error> {
            let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
            bind(&loopback)?.local_addr().map_err(Error::Gate)
        };
        let gate_account = ("doorstep-gate".to_owned(), Secret::new(random_hex(32)?));
        let accounts =
            HashMap::from([(gate_account.0.clone(), gate_account.1.expose().to_owned())]);
        // A free port may be taken by someone else before rumqttd binds it: then
        // rumqttd never listens, and it is tried again on other ports.
        let mut tries = 0;
        let (inner_v4, inner_v5) = loop {
            let inner_v4 = internal()?;
            let inner_v5 = listen_v5.map(|_| internal()).transpose()?;
            match start_rumqttd(inner_v4, inner_v5, Some(accounts.clone()), limits) {
                Ok(()) => break (inner_v4, inner_v5),
                Err(Error::BrokerDidNotStart { addr }) if tries < 2 => {
                    tries += 1;
                    tracing::warn!(%addr, "the embedded broker did not listen on its internal port; trying another");
                }
                Err(e) => return Err(e),
            }
        };
        let mut routes = Vec::new();
        for (listener, (upstream, version)) in public
            .into_iter()
            .zip(std::iter::once((inner_v4, Version::V4)).chain(inner_v5.map(|a| (a, Version::V5))))
        {
            routes.push(Route {
                listener,
                upstream,
                version,
            });
        }
        let open = gate.open;
        gate::spawn(gate, gate_account, routes, door, limits)?;
        if open {
            tracing::info!(%listen, v5 = ?listen_v5, "embedded MQTT broker listening (no accounts: loopback only)");
        } else {
            tracing::info!(%listen, v5 = ?listen_v5, "embedded MQTT broker listening, devices log in (passwd_file, acl_file)");
        }
        Ok(EmbeddedBroker { addr })
    }

    /// Where devices connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where devices connect, as a URL.
    pub fn url(&self) -> crate::BrokerUrl {
        url_of(self.addr)
    }
}

fn url_of(addr: SocketAddr) -> crate::BrokerUrl {
    crate::BrokerUrl {
        host: addr.ip().to_string(),
        port: addr.port(),
        tls: false,
    }
}

/// Starts rumqttd on its own thread and waits until it listens.
fn start_rumqttd(
    listen: SocketAddr,
    listen_v5: Option<SocketAddr>,
    auth: Option<HashMap<String, String>>,
    limits: BrokerLimits,
) -> Result<(), Error> {
    let addrs: Vec<SocketAddr> = std::iter::once(listen).chain(listen_v5).collect();
    let server = |name: &str, listen| rumqttd::ServerSettings {
        name: name.into(),
        listen,
        tls: None,
        next_connection_delay_ms: 1,
        connections: rumqttd::ConnectionSettings {
            connection_timeout_ms: 60_000,
            max_payload_size: MAX_PACKET,
            max_inflight_count: 500,
            auth: auth.clone(),
            external_auth: None,
            dynamic_filters: true,
        },
    };
    let config = rumqttd::Config {
        id: 0,
        router: rumqttd::RouterConfig {
            max_connections: limits.max_connections.max(16),
            max_outgoing_packet_count: 1000,
            max_segment_size: limits.buffer_mib.max(8) * 1024 * 1024 / 8,
            max_segment_count: 8,
            ..Default::default()
        },
        v4: Some(HashMap::from([(
            "1".to_owned(),
            server("doorstep-v4", listen),
        )])),
        v5: listen_v5.map(|a| HashMap::from([("1".to_owned(), server("doorstep-v5", a))])),
        ..Default::default()
    };
    let mut broker = rumqttd::Broker::new(config);
    std::thread::Builder::new()
        .name("mqtt-broker".into())
        .spawn(move || {
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "embedded MQTT broker stopped");
            } else {
                tracing::error!("embedded MQTT broker stopped");
            }
        })
        .map_err(Error::Thread)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    // Listening once the address can no longer be bound (a probe connection would make rumqttd log an error).
    for addr in &addrs {
        while TcpListener::bind(addr).is_ok() {
            if Instant::now() > deadline {
                return Err(Error::BrokerDidNotStart { addr: *addr });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Ok(())
}
