//! What a connection owes a device for a message handed to the door: the
//! PUBACK (or PUBREC) sent once the message is journaled, and the in-flight
//! permit held until then.

use tokio::sync::{OwnedSemaphorePermit, mpsc};

/// What the connection owes the device once its message is journaled.
#[derive(Debug)]
pub struct Ticket {
    pub(crate) pkid: u16,
    pub(crate) qos: u8,
    pub(crate) acks: mpsc::UnboundedSender<(u16, u8)>,
    /// Released when the message is journaled (or dropped).
    pub(crate) _permit: OwnedSemaphorePermit,
}

impl Ticket {
    /// The message is durable: the connection sends PUBACK (QoS 1) or PUBREC (QoS 2).
    pub(crate) fn complete(self) {
        if self.qos > 0 {
            // A closed connection cannot be told; the device sends the message again.
            let _ = self.acks.send((self.pkid, self.qos));
        }
    }
}
