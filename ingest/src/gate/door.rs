//! The door: where the gate hands device messages straight to doorstep's
//! intake instead of the broker's in-memory router, and how the PUBACK finds
//! its way back to the device once the message is in the journal on disk.
//!
//! Each message holds one of its connection's in-flight permits until it is
//! journaled; a connection with all its permits out is not read from, so a
//! device that bursts slows itself down at its own socket and never takes the
//! others' place (nothing is dropped to make room).

use super::ticket::Ticket;
use crate::IngestStats;
use crate::subscriber::{Incoming, Pending};
use bytes::Bytes;
use devices::{Clock, Reason, Rejection, Validator};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::{mpsc, watch};

/// Where device messages go: doorstep's intake.
#[derive(Debug, Clone)]
pub struct Door {
    /// The intake and the validator of now; `None` while doorstep switches to
    /// another registry (messages wait at the door, nothing is refused).
    route: Arc<watch::Sender<Option<Route>>>,
    pub(crate) clock: Clock,
    pub(crate) stats: Arc<IngestStats>,
}

/// One intake and the validator in front of it.
#[derive(Debug, Clone)]
struct Route {
    tx: mpsc::Sender<Incoming>,
    validator: Validator,
}

impl Door {
    /// A door that hands messages to `tx` after checking them with `validator`
    /// at `clock`'s time, counting them in `stats`.
    pub fn new(
        tx: mpsc::Sender<Incoming>,
        validator: Validator,
        clock: Clock,
        stats: Arc<IngestStats>,
    ) -> Door {
        Door {
            route: Arc::new(watch::Sender::new(Some(Route { tx, validator }))),
            clock,
            stats,
        }
    }

    /// The counters it counts in.
    pub fn stats(&self) -> &Arc<IngestStats> {
        &self.stats
    }

    /// Holds messages at the door (from now until [`Door::repoint`]), while the
    /// intake behind it stops and another starts.
    pub fn hold(&self) {
        self.route.send_replace(None);
    }

    /// Hands messages to another intake, checked by another validator (a
    /// registry switch); messages held or refused by the old intake as it
    /// stopped go there.
    pub fn repoint(&self, tx: mpsc::Sender<Incoming>, validator: Validator) {
        self.route.send_replace(Some(Route { tx, validator }));
    }

    /// The route of now, waiting while the door is held; `None` when the door is gone.
    async fn route(&self) -> Option<Route> {
        if let Some(r) = self.route.borrow().as_ref() {
            return Some(r.clone());
        }
        let mut rx = self.route.subscribe();
        rx.wait_for(Option::is_some).await.ok()?.clone()
    }

    /// Whether `client_id` names a registered device (open broker: such
    /// clients get the known devices' share of the connections).
    pub(crate) fn knows(&self, client_id: &str) -> bool {
        self.route
            .borrow()
            .as_ref()
            .is_none_or(|r| r.validator.registry().device_by_id(client_id).is_some())
    }

    /// Checks a message and hands it on; waits while the intake is full or the
    /// door is held. `false` when the intake has stopped for good.
    pub(crate) async fn deliver(&self, message: Message) -> bool {
        self.stats.received.fetch_add(1, Ordering::Relaxed);
        let received_ms = self.clock.now_ms();
        let Some(mut route) = self.route().await else {
            return false;
        };
        let item = match message.oversize {
            None => route
                .validator
                .check(&message.topic, &message.payload, received_ms),
            Some(size) => Err(Rejection {
                reason: Reason::Oversize,
                detail: format!(
                    "a message of {size} bytes, over the broker's limit; its first {} bytes are kept",
                    message.payload.len()
                ),
                topic: message.topic.clone(),
                payload: message.payload.to_vec(),
                received_ms,
            }),
        };
        match &item {
            Ok(_) => self.stats.accepted.fetch_add(1, Ordering::Relaxed),
            Err(r) => self.stats.rejected[r.reason as usize].fetch_add(1, Ordering::Relaxed),
        };
        let oversize = message.oversize.is_some();
        let pending = Pending::door(message.topic, message.payload, message.peer, message.ticket);
        let mut incoming = Incoming { item, pending };
        loop {
            incoming = match route.tx.try_send(incoming) {
                Ok(()) => return true,
                Err(mpsc::error::TrySendError::Full(incoming)) => {
                    self.stats.backpressure.fetch_add(1, Ordering::Relaxed);
                    match route.tx.send(incoming).await {
                        Ok(()) => return true,
                        Err(mpsc::error::SendError(incoming)) => incoming,
                    }
                }
                Err(mpsc::error::TrySendError::Closed(incoming)) => incoming,
            };
            // The intake stopped. When doorstep switches registries the door is
            // held first and then handed to the next intake: wait for it, and
            // check the message again under the new registry. Not held: doorstep
            // is stopping.
            let stopping = self
                .route
                .borrow()
                .as_ref()
                .is_some_and(|r| r.tx.same_channel(&route.tx));
            if stopping {
                return false;
            }
            let next = tokio::time::timeout(std::time::Duration::from_secs(120), async {
                let mut rx = self.route.subscribe();
                rx.wait_for(|r| r.as_ref().is_some_and(|r| !r.tx.same_channel(&route.tx)))
                    .await
                    .ok()
                    .and_then(|r| r.clone())
            })
            .await;
            let Ok(Some(next)) = next else {
                return false;
            };
            route = next;
            if !oversize {
                let p = &incoming.pending;
                incoming.item = route.validator.check(p.topic(), p.payload(), received_ms);
            }
        }
    }
}

impl Door {
    /// Hands in a message that came without a connection (a recorded feed
    /// replayed, a benchmark): checked, journaled and taken in exactly as one
    /// from a device, with nothing owed back. Waits while the intake is full;
    /// `false` when the intake has stopped.
    pub async fn hand(&self, topic: String, payload: Vec<u8>) -> bool {
        self.deliver(Message {
            topic,
            payload: Bytes::from(payload),
            oversize: None,
            peer: SocketAddr::from(([127, 0, 0, 1], 0)),
            ticket: None,
        })
        .await
    }
}

/// A device message read by the gate.
pub(crate) struct Message {
    pub topic: String,
    /// The payload, or its first bytes when it was over the limit.
    pub payload: Bytes,
    /// The full size of a message over the limit.
    pub oversize: Option<usize>,
    pub peer: SocketAddr,
    pub ticket: Option<Ticket>,
}
