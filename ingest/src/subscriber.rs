//! The subscriber: receives device messages from the broker, validates them
//! against the registry and hands readings and rejections on.

use crate::{BrokerUrl, Error, IngestStats, Session};
use devices::{Clock, Reading, Rejection, Validator};
use rumqttc::{AsyncClient, ConnectionError, Event, EventLoop, Packet, QoS};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::mpsc;

/// The topic filter doorstep subscribes to.
pub const TOPIC_FILTER: &str = "doorstep/v1/#";

/// The largest packet doorstep's subscriber takes from an external broker: far
/// above any broker's message size limit that docs/SECURITY.md suggests, so that
/// no message the broker passes on can throw the subscriber off.
pub const CLIENT_MAX_PACKET: usize = 4 * 1024 * 1024;

/// A received message, to be acknowledged once it is durable.
#[derive(Debug)]
pub struct Pending(Source);

#[derive(Debug)]
enum Source {
    /// From a broker doorstep subscribes to: acknowledged through the client.
    Broker(rumqttc::Publish),
    /// From the embedded broker's door: acknowledged to the device itself.
    Door {
        topic: String,
        payload: bytes::Bytes,
        peer: std::net::SocketAddr,
        /// What the connection owes the device; none for a message handed in
        /// without a connection ([`crate::Door::hand`]).
        ticket: Option<crate::gate::Ticket>,
    },
}

impl Pending {
    pub(crate) fn door(
        topic: String,
        payload: bytes::Bytes,
        peer: std::net::SocketAddr,
        ticket: Option<crate::gate::Ticket>,
    ) -> Pending {
        Pending(Source::Door {
            topic,
            payload,
            peer,
            ticket,
        })
    }

    /// The message's topic.
    pub fn topic(&self) -> &str {
        match &self.0 {
            Source::Broker(p) => &p.topic,
            Source::Door { topic, .. } => topic,
        }
    }

    /// The message's payload, as received (its first bytes when it was over the size limit).
    pub fn payload(&self) -> &[u8] {
        match &self.0 {
            Source::Broker(p) => &p.payload,
            Source::Door { payload, .. } => payload,
        }
    }

    /// The sender's address, when doorstep's own broker took the message in.
    pub fn peer(&self) -> Option<std::net::IpAddr> {
        match &self.0 {
            Source::Broker(_) => None,
            Source::Door { peer, .. } => Some(peer.ip()),
        }
    }
}

/// What the subscriber hands on for each message.
#[derive(Debug)]
pub struct Incoming {
    /// The reading, or why the message was rejected.
    pub item: Result<Reading, Rejection>,
    /// The acknowledgement owed to the broker.
    pub pending: Pending,
}

/// Acknowledges messages once they are durable: to the broker (manual acks),
/// or, for the embedded broker's door, to the device itself.
#[derive(Debug, Clone)]
pub struct Acker(Option<AsyncClient>);

impl Acker {
    /// For messages from the embedded broker's door only.
    pub fn door() -> Acker {
        Acker(None)
    }

    /// Tells the sender the message is safe; until then it will deliver it again.
    pub async fn ack(&self, pending: Pending) -> Result<(), Error> {
        match (pending.0, &self.0) {
            (Source::Broker(p), _) if p.qos == QoS::AtMostOnce => Ok(()),
            (Source::Broker(p), Some(client)) => client
                .ack(&p)
                .await
                .map_err(|e| Error::Client(e.to_string())),
            (Source::Broker(_), None) => Err(Error::Client(
                "a broker message reached the door's acknowledger".into(),
            )),
            (Source::Door { ticket, .. }, _) => {
                if let Some(ticket) = ticket {
                    ticket.complete();
                }
                Ok(())
            }
        }
    }

    /// Like [`Acker::ack`] but never waits: when the client's queue is full (its
    /// event loop is waiting for the intake) the message comes back, to be
    /// acknowledged later.
    pub fn try_ack(&self, pending: Pending) -> Result<(), Pending> {
        match (pending.0, &self.0) {
            (Source::Broker(p), _) if p.qos == QoS::AtMostOnce => Ok(()),
            (Source::Broker(p), Some(client)) => {
                client.try_ack(&p).map_err(|_| Pending(Source::Broker(p)))
            }
            // Not ours to acknowledge: the broker delivers it again.
            (Source::Broker(_), None) => Ok(()),
            (Source::Door { ticket, .. }, _) => {
                if let Some(ticket) = ticket {
                    ticket.complete();
                }
                Ok(())
            }
        }
    }
}

/// A subscriber connected to its broker.
pub struct Subscriber {
    client: AsyncClient,
    events: EventLoop,
    url: BrokerUrl,
    validator: Validator,
    clock: Clock,
    stats: Arc<IngestStats>,
    filter: String,
}

impl Subscriber {
    /// Connects to `url` as `client_id` and subscribes to [`TOPIC_FILTER`]; fails if the broker cannot be reached.
    pub async fn connect(
        url: &BrokerUrl,
        session: &Session,
        validator: Validator,
        clock: Clock,
        stats: Arc<IngestStats>,
    ) -> Result<Subscriber, Error> {
        Subscriber::connect_to(url, session, TOPIC_FILTER, validator, clock, stats).await
    }

    /// As [`Subscriber::connect`], subscribing to `filter`: in a cluster, the
    /// shared subscription `$share/<group>/doorstep/v1/#`.
    pub async fn connect_to(
        url: &BrokerUrl,
        session: &Session,
        filter: &str,
        validator: Validator,
        clock: Clock,
        stats: Arc<IngestStats>,
    ) -> Result<Subscriber, Error> {
        let mut options = session.options(url);
        options
            .set_keep_alive(Duration::from_secs(30))
            .set_clean_session(false)
            .set_max_packet_size(CLIENT_MAX_PACKET, 64 * 1024)
            // Acknowledge only once the message is in the journal.
            .set_manual_acks(true);
        // Room for many acknowledgements; the intake never waits on a full queue
        // (`Acker::try_ack`): the event loop may itself be waiting for the intake
        // while the pipeline is behind, and a broker that resends a whole queue
        // after a reconnect does not keep to its in-flight window.
        let (client, mut events) = AsyncClient::new(options, 65_536);
        let first = tokio::time::timeout(Duration::from_secs(10), events.poll()).await;
        match first {
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {}
            Ok(Ok(other)) => {
                return Err(Error::Unreachable {
                    url: url.to_string(),
                    cause: format!("unexpected first packet {other:?}"),
                });
            }
            Ok(Err(ConnectionError::ConnectionRefused(code))) => {
                return Err(Error::Refused {
                    url: url.to_string(),
                    cause: format!("{code:?}"),
                });
            }
            Ok(Err(e)) => {
                return Err(Error::Unreachable {
                    url: url.to_string(),
                    cause: describe(&e),
                });
            }
            Err(_) => {
                return Err(Error::Unreachable {
                    url: url.to_string(),
                    cause: "no answer within 10 s".into(),
                });
            }
        }
        client
            .try_subscribe(filter, QoS::AtLeastOnce)
            .map_err(|e| Error::Client(e.to_string()))?;
        stats.connected.store(true, Ordering::Relaxed);
        tracing::info!(broker = %url, filter, "subscribed");
        Ok(Subscriber {
            client,
            events,
            url: url.clone(),
            validator,
            clock,
            stats,
            filter: filter.to_owned(),
        })
    }

    /// The handle that acknowledges messages once they are durable.
    pub fn acker(&self) -> Acker {
        Acker(Some(self.client.clone()))
    }

    /// Receives until `out` is closed. Reconnects with capped exponential backoff
    /// and subscribes again on every reconnection.
    pub async fn run(mut self, out: mpsc::Sender<Incoming>) {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.events.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    backoff = Duration::from_millis(100);
                    // doorstep's own alerts come back on the device filter: not a device message.
                    if !crate::topics::is_device_topic(&p.topic) {
                        // Never wait here: this task drives the client's event loop.
                        if p.qos != QoS::AtMostOnce
                            && let Err(e) = self.client.try_ack(&p)
                        {
                            tracing::warn!(error = %e, "cannot acknowledge an alert message");
                        }
                        continue;
                    }
                    self.stats.received.fetch_add(1, Ordering::Relaxed);
                    let item = self
                        .validator
                        .check(&p.topic, &p.payload, self.clock.now_ms());
                    let pending = Pending(Source::Broker(p));
                    match &item {
                        Ok(_) => self.stats.accepted.fetch_add(1, Ordering::Relaxed),
                        Err(r) => {
                            self.stats.rejected[r.reason as usize].fetch_add(1, Ordering::Relaxed)
                        }
                    };
                    // When the pipeline is behind, stop reading: the broker holds the messages.
                    let item = match out.try_send(Incoming { item, pending }) {
                        Ok(()) => continue,
                        Err(mpsc::error::TrySendError::Closed(_)) => return,
                        Err(mpsc::error::TrySendError::Full(item)) => item,
                    };
                    if self
                        .stats
                        .backpressure
                        .fetch_add(1, Ordering::Relaxed)
                        .is_multiple_of(1000)
                    {
                        tracing::warn!(
                            "the pipeline is behind: ingest paused, the broker holds the messages"
                        );
                    }
                    if out.send(item).await.is_err() {
                        return;
                    }
                }
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    self.stats.connected.store(true, Ordering::Relaxed);
                    tracing::info!(broker = %self.url, "reconnected; subscribing again");
                    if let Err(e) = self.client.try_subscribe(&self.filter, QoS::AtLeastOnce) {
                        tracing::error!(error = %e, "cannot subscribe");
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    if out.is_closed() {
                        return;
                    }
                    if self.stats.connected.swap(false, Ordering::Relaxed) {
                        tracing::warn!(broker = %self.url, error = %describe(&e), "lost the broker; reconnecting");
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }
}

fn describe(e: &ConnectionError) -> String {
    match e {
        ConnectionError::Io(io) => io.to_string(),
        ConnectionError::ConnectionRefused(code) => {
            format!("the broker refused the connection ({code:?})")
        }
        other => other.to_string(),
    }
}
