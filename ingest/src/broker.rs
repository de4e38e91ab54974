//! The embedded MQTT broker (rumqttd), the default when no external broker is named.

use crate::Error;
use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

/// A running embedded broker. It lives as long as the process.
#[derive(Debug)]
pub struct EmbeddedBroker {
    addr: SocketAddr,
}

impl EmbeddedBroker {
    /// Starts rumqttd on `listen` (MQTT 3.1.1) and, when given, `listen_v5` (MQTT 5),
    /// and waits until it accepts connections.
    pub fn start(
        listen: SocketAddr,
        listen_v5: Option<SocketAddr>,
    ) -> Result<EmbeddedBroker, Error> {
        let addrs: Vec<SocketAddr> = std::iter::once(listen).chain(listen_v5).collect();
        // rumqttd only logs a failed bind from its own thread; check first so the user gets a clear error.
        for addr in &addrs {
            drop(TcpListener::bind(addr).map_err(|source| Error::PortInUse {
                addr: *addr,
                source,
            })?);
        }
        let server = |name: &str, listen| rumqttd::ServerSettings {
            name: name.into(),
            listen,
            tls: None,
            next_connection_delay_ms: 1,
            connections: rumqttd::ConnectionSettings {
                connection_timeout_ms: 60_000,
                max_payload_size: 64 * 1024,
                max_inflight_count: 500,
                auth: None,
                external_auth: None,
                dynamic_filters: true,
            },
        };
        let config = rumqttd::Config {
            id: 0,
            router: rumqttd::RouterConfig {
                max_connections: 200_000,
                max_outgoing_packet_count: 1000,
                max_segment_size: 16 * 1024 * 1024,
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
        tracing::info!(%listen, v5 = ?listen_v5, "embedded MQTT broker listening");
        Ok(EmbeddedBroker { addr: listen })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its address as a URL.
    pub fn url(&self) -> crate::BrokerUrl {
        crate::BrokerUrl {
            host: self.addr.ip().to_string(),
            port: self.addr.port(),
            tls: false,
        }
    }
}
