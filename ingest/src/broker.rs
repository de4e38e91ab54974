//! The embedded MQTT broker (rumqttd), the default when no external broker is named;
//! behind the auth gate when device accounts are configured.

use crate::gate::{self, GateConfig, MAX_PACKET, Route, Version, random_hex};
use crate::{Error, Secret, Session};
use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

/// A running embedded broker. It lives as long as the process.
#[derive(Debug)]
pub struct EmbeddedBroker {
    addr: SocketAddr,
    /// With the auth gate: where doorstep's subscriber connects, and its account.
    internal: Option<(SocketAddr, (String, Secret))>,
}

impl EmbeddedBroker {
    /// Starts rumqttd on `listen` (MQTT 3.1.1) and, when given, `listen_v5` (MQTT 5),
    /// and waits until it accepts connections. Anyone may connect.
    pub fn start(
        listen: SocketAddr,
        listen_v5: Option<SocketAddr>,
    ) -> Result<EmbeddedBroker, Error> {
        EmbeddedBroker::start_with_auth(listen, listen_v5, None, BrokerLimits::default())
    }

    /// As [`EmbeddedBroker::start`]; with a [`GateConfig`], devices connect through
    /// the auth gate ([`crate::gate`]) on `listen` and `listen_v5`, and rumqttd
    /// itself listens on internal loopback ports that only the gate and doorstep's
    /// subscriber can log in to ([`EmbeddedBroker::subscriber_url`],
    /// [`EmbeddedBroker::subscriber_session`]).
    pub fn start_with_auth(
        listen: SocketAddr,
        listen_v5: Option<SocketAddr>,
        gate: Option<GateConfig>,
        limits: BrokerLimits,
    ) -> Result<EmbeddedBroker, Error> {
        let addrs: Vec<SocketAddr> = std::iter::once(listen).chain(listen_v5).collect();
        let bind = |addr: &SocketAddr| {
            TcpListener::bind(addr).map_err(|source| Error::PortInUse {
                addr: *addr,
                source,
            })
        };
        let Some(gate) = gate else {
            // rumqttd only logs a failed bind from its own thread; check first so the user gets a clear error.
            for addr in &addrs {
                drop(bind(addr)?);
            }
            start_rumqttd(listen, listen_v5, None, limits)?;
            tracing::info!(%listen, v5 = ?listen_v5, "embedded MQTT broker listening");
            return Ok(EmbeddedBroker {
                addr: listen,
                internal: None,
            });
        };
        // The gate holds the public addresses from here on; rumqttd gets free loopback ports.
        let public: Vec<TcpListener> = addrs.iter().map(bind).collect::<Result<_, _>>()?;
        let addr = public[0].local_addr().map_err(Error::Gate)?;
        let internal = || -> Result<SocketAddr, Error> {
            let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
            bind(&loopback)?.local_addr().map_err(Error::Gate)
        };
        let inner_v4 = internal()?;
        let inner_v5 = listen_v5.map(|_| internal()).transpose()?;
        let gate_account = ("doorstep-gate".to_owned(), Secret::new(random_hex(32)?));
        let subscriber = ("doorstep".to_owned(), Secret::new(random_hex(32)?));
        let accounts = HashMap::from([
            (gate_account.0.clone(), gate_account.1.expose().to_owned()),
            (subscriber.0.clone(), subscriber.1.expose().to_owned()),
        ]);
        start_rumqttd(inner_v4, inner_v5, Some(accounts), limits)?;
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
        gate::spawn(gate, gate_account, routes)?;
        tracing::info!(%listen, v5 = ?listen_v5, "embedded MQTT broker listening, devices log in (passwd_file, acl_file)");
        Ok(EmbeddedBroker {
            addr,
            internal: Some((inner_v4, subscriber)),
        })
    }

    /// Where devices connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where devices connect, as a URL.
    pub fn url(&self) -> crate::BrokerUrl {
        url_of(self.addr)
    }

    /// Where doorstep's own subscriber connects: [`EmbeddedBroker::url`], or the
    /// internal port behind the auth gate.
    pub fn subscriber_url(&self) -> crate::BrokerUrl {
        url_of(self.internal.as_ref().map_or(self.addr, |(a, _)| *a))
    }

    /// doorstep's subscriber session for this broker: `configured`, with the
    /// internal account behind the auth gate (whatever credentials it had).
    pub fn subscriber_session(&self, configured: &Session) -> Session {
        let mut session = configured.clone();
        if let Some((_, account)) = &self.internal {
            session.credentials = Some(account.clone());
        }
        session
    }
}

fn url_of(addr: SocketAddr) -> crate::BrokerUrl {
    crate::BrokerUrl {
        host: addr.ip().to_string(),
        port: addr.port(),
        tls: false,
    }
}

/// What the embedded broker sets aside; rumqttd reserves memory for both up front.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokerLimits {
    /// Clients connected at once (each slot costs about 1.5 KB, reserved at start).
    pub max_connections: usize,
    /// Messages held for subscribers that are behind, MiB of payload: rumqttd
    /// keeps this much of the latest messages in memory whether or not they were
    /// read (about 3 times the size in RSS), and a subscriber further behind loses
    /// the oldest. 16 MiB is about 150,000 small messages: half a minute at
    /// national load, an hour for a city.
    pub buffer_mib: usize,
}

impl Default for BrokerLimits {
    fn default() -> Self {
        BrokerLimits {
            max_connections: 10_000,
            buffer_mib: 16,
        }
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
