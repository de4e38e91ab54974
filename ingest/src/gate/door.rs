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
use tokio::sync::mpsc;

/// Where device messages go: doorstep's intake.
#[derive(Debug, Clone)]
pub struct Door {
    pub(crate) tx: mpsc::Sender<Incoming>,
    pub(crate) validator: Validator,
    pub(crate) clock: Clock,
    pub(crate) stats: Arc<IngestStats>,
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
            tx,
            validator,
            clock,
            stats,
        }
    }

    /// Whether `client_id` names a registered device (open broker: such
    /// clients get the known devices' share of the connections).
    pub(crate) fn knows(&self, client_id: &str) -> bool {
        self.validator.registry().device_by_id(client_id).is_some()
    }

    /// Checks a message and hands it on; waits while the intake is full.
    /// `false` when the intake has stopped.
    pub(crate) async fn deliver(&self, message: Message) -> bool {
        self.stats.received.fetch_add(1, Ordering::Relaxed);
        let received_ms = self.clock.now_ms();
        let item = match message.oversize {
            None => self
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
        let pending = Pending::door(message.topic, message.payload, message.peer, message.ticket);
        if let Err(mpsc::error::TrySendError::Full(incoming)) =
            self.tx.try_send(Incoming { item, pending })
        {
            self.stats.backpressure.fetch_add(1, Ordering::Relaxed);
            return self.tx.send(incoming).await.is_ok();
        }
        !self.tx.is_closed()
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
