//! The gate's side of the sockets: acknowledging the door's messages, copying
//! the broker's packets back, last words to a client, and the per-connection
//! rate.

use super::frame::frame_len;
use super::hello::{Refusal, connack};
use super::violation::Violation;
use super::{MAX_PACKET, Version};
use bytes::BytesMut;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Mutex, mpsc};
use tokio::time::Instant;

/// What the broker passes on may carry a few more properties.
const MAX_PACKET_OUT: usize = MAX_PACKET + 4 * 1024;
/// Telling a client why it is dropped takes no longer.
const SHORT_TIMEOUT: Duration = Duration::from_secs(5);

/// Messages and bytes a second, as token buckets.
pub(super) struct Rate {
    messages: (f64, f64),
    bytes: (f64, f64),
    at: Instant,
}

impl Rate {
    pub(super) fn new(messages: u32, bytes: u32) -> Rate {
        let (m, b) = (f64::from(messages.max(1)), f64::from(bytes.max(1)));
        Rate {
            messages: (m, m),
            bytes: (b, b),
            at: Instant::now(),
        }
    }

    /// How long to wait before a message of `size` bytes may pass (then taken).
    pub(super) fn take(&mut self, size: usize) -> Option<Duration> {
        let now = Instant::now();
        let dt = now.duration_since(self.at).as_secs_f64();
        self.at = now;
        let (m_rate, b_rate) = (self.messages.1, self.bytes.1);
        self.messages.0 = (self.messages.0 + dt * m_rate).min(m_rate);
        self.bytes.0 = (self.bytes.0 + dt * b_rate).min(b_rate);
        // A message larger than a second's bytes waits for a full bucket and passes.
        let size = (size as f64).min(b_rate);
        self.messages.0 -= 1.0;
        self.bytes.0 -= size;
        let wait = (-self.messages.0 / m_rate).max(-self.bytes.0 / b_rate);
        (wait > 0.0).then(|| Duration::from_secs_f64(wait))
    }
}

/// Acknowledges the door's messages to the client as they become durable, in
/// the order they arrived: PUBACK for QoS 1, PUBREC for QoS 2.
pub(super) async fn acknowledge(
    mut acks: mpsc::UnboundedReceiver<(u16, u8)>,
    client_w: &Mutex<OwnedWriteHalf>,
) -> io::Result<()> {
    let mut batch = Vec::new();
    let mut out = Vec::new();
    loop {
        if acks.recv_many(&mut batch, 256).await == 0 {
            // Never: the connection holds a sender.
            std::future::pending::<()>().await;
        }
        out.clear();
        for (pkid, qos) in batch.drain(..) {
            let [hi, lo] = pkid.to_be_bytes();
            out.extend_from_slice(&[if qos == 2 { 0x50 } else { 0x40 }, 0x02, hi, lo]);
        }
        client_w.lock().await.write_all(&out).await?;
    }
}

/// The broker -> client direction: whole packets, so that a DISCONNECT from the
/// gate never lands inside one; the answers to the gate's own pings are dropped.
pub(super) async fn outbound(
    broker_r: &mut OwnedReadHalf,
    client_w: &Mutex<OwnedWriteHalf>,
    owed_pings: &AtomicU32,
) -> io::Result<()> {
    let mut buf = BytesMut::with_capacity(8192);
    loop {
        if !read_more(broker_r, &mut buf).await? {
            return Ok(());
        }
        let mut out = BytesMut::new();
        while let Some(n) = frame_len(&buf, MAX_PACKET_OUT).map_err(|v| protocol(&v))? {
            let packet = buf.split_to(n);
            let ours = packet[0] == 0xd0
                && owed_pings
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                    .is_ok();
            if !ours {
                out.extend_from_slice(&packet);
            }
        }
        if !out.is_empty() {
            client_w.lock().await.write_all(&out).await?;
        }
    }
}

pub(super) async fn refuse(
    client_w: &Mutex<OwnedWriteHalf>,
    version: Version,
    refusal: Refusal,
) -> io::Result<()> {
    send_and_close(client_w, &connack(version, refusal)).await;
    Ok(())
}

pub(super) async fn send(client_w: &Mutex<OwnedWriteHalf>, packet: &[u8]) -> io::Result<()> {
    client_w.lock().await.write_all(packet).await
}

/// Sends a last packet and closes, giving up on a client that does not read.
pub(super) async fn send_and_close(client_w: &Mutex<OwnedWriteHalf>, packet: &[u8]) {
    let _ = tokio::time::timeout(SHORT_TIMEOUT, async {
        let mut w = client_w.lock().await;
        w.write_all(packet).await?;
        w.shutdown().await
    })
    .await;
}

pub(super) async fn read_more(
    r: &mut (impl AsyncRead + Unpin),
    buf: &mut BytesMut,
) -> io::Result<bool> {
    buf.reserve(8192);
    Ok(r.read_buf(buf).await? > 0)
}

pub(super) fn protocol(v: &Violation) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{v:?}"))
}

/// Logs why an established client is dropped and, in MQTT 5, tells it.
pub(super) async fn drop_for(
    v: Violation,
    version: Version,
    (peer, user, client_id): (std::net::SocketAddr, &str, &str),
    client_w: &Mutex<OwnedWriteHalf>,
) {
    use rumqttc::v5::mqttbytes::v5;
    let reason = match &v {
        Violation::Publish(topic) => {
            tracing::warn!(%peer, user = ?user, client_id = ?client_id, topic = ?topic, "MQTT publish refused: topic not allowed for this user; connection closed");
            v5::DisconnectReasonCode::NotAuthorized
        }
        Violation::Subscribe(filter) => {
            tracing::warn!(%peer, user = ?user, client_id = ?client_id, filter = ?filter, "MQTT subscribe refused: filter not allowed for this user; connection closed");
            v5::DisconnectReasonCode::NotAuthorized
        }
        Violation::Protocol(why) => {
            tracing::warn!(%peer, user = ?user, client_id = ?client_id, reason = %why, "MQTT connection closed: protocol error");
            v5::DisconnectReasonCode::ProtocolError
        }
        Violation::TooLarge => {
            tracing::warn!(%peer, user = ?user, client_id = ?client_id, max = MAX_PACKET, "MQTT connection closed: packet too large");
            v5::DisconnectReasonCode::PacketTooLarge
        }
    };
    if version == Version::V5 {
        let mut out = BytesMut::new();
        if v5::Disconnect::new(reason).write(&mut out).is_ok() {
            send_and_close(client_w, &out).await;
        }
    }
}
