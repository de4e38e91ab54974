//! One client connection through the gate: its CONNECT is checked and passed
//! on with the gate's internal account; then every PUBLISH and SUBSCRIBE on the
//! way in is checked against the ACL, and what the broker sends back is
//! copied packet by packet.

use super::acl::{Access, valid_filter, valid_topic};
use super::hello::{Refusal, connack, parse_connect};
use super::{MAX_PACKET, Shared, Version};
use bytes::BytesMut;
use rumqttc::mqttbytes::v4;
use rumqttc::v5::mqttbytes::v5;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::Mutex;

/// What the broker passes on may carry a few more properties.
const MAX_PACKET_OUT: usize = MAX_PACKET + 4 * 1024;
/// A client that sends no CONNECT within this is dropped.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Reaching the broker, or telling a client why it is dropped, takes no longer.
const SHORT_TIMEOUT: Duration = Duration::from_secs(5);
/// Topics a client may keep behind MQTT 5 topic aliases, in bytes.
const MAX_ALIAS_BYTES: usize = 256 * 1024;
/// The broker's limit on topic aliases (rumqttd's `TOPIC_ALIAS_MAX`).
const MAX_ALIAS: u16 = 4096;
/// Client ids as the broker sees them, apart from doorstep's own subscriber.
const ID_PREFIX: &str = "gate:";

/// Serves one client until either side closes.
pub(super) async fn serve(
    shared: Arc<Shared>,
    client: TcpStream,
    peer: SocketAddr,
    upstream: SocketAddr,
    version: Version,
) {
    if let Err(e) = run(&shared, client, peer, upstream, version).await {
        tracing::debug!(%peer, error = %e, "MQTT gate: connection ended");
    }
}

/// Why an established connection is closed.
#[derive(Debug)]
enum Violation {
    Publish(String),
    Subscribe(String),
    Protocol(String),
    TooLarge,
}

async fn run(
    shared: &Arc<Shared>,
    client: TcpStream,
    peer: SocketAddr,
    upstream: SocketAddr,
    version: Version,
) -> io::Result<()> {
    client.set_nodelay(true)?;
    let (mut client_r, client_w) = client.into_split();
    let client_w = Mutex::new(client_w);
    let mut buf = BytesMut::with_capacity(4096);
    let frame = tokio::time::timeout(CONNECT_TIMEOUT, async {
        loop {
            if let Some(n) = frame_len(&buf, MAX_PACKET).map_err(|v| protocol(&v))? {
                return Ok(buf.split_to(n));
            }
            if !read_more(&mut client_r, &mut buf).await? {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed before CONNECT",
                ));
            }
        }
    })
    .await
    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no CONNECT in time"))??;

    let hello = match parse_connect(frame, version) {
        Ok(h) => h,
        Err((Some((answer_in, refusal)), why)) => {
            tracing::warn!(%peer, reason = %why, "MQTT connection refused");
            return refuse(&client_w, answer_in, refusal).await;
        }
        Err((None, why)) => return Err(io::Error::new(io::ErrorKind::InvalidData, why)),
    };
    let client_id = hello.client_id().to_owned();
    let login = match hello.login() {
        Some((user, password)) => Some((user.to_owned(), password.to_owned())),
        None if shared.open => Some((String::new(), String::new())),
        None => None,
    };
    let Some((user, password)) = login else {
        tracing::warn!(%peer, client_id = ?client_id, "MQTT connection refused: no username");
        return refuse(&client_w, version, Refusal::NotAuthorized).await;
    };
    let verified = shared.open || {
        // PBKDF2 takes a while with many iterations: off the connection tasks.
        let (shared, user, password) = (Arc::clone(shared), user.clone(), password.clone());
        tokio::task::spawn_blocking(move || shared.passwd.verify(&user, password.as_bytes()))
            .await
            .unwrap_or(false)
    };
    if !verified {
        tracing::warn!(%peer, user = ?user, client_id = ?client_id, "MQTT connection refused: wrong username or password");
        return refuse(&client_w, version, Refusal::BadLogin).await;
    }
    let client_id = if client_id.is_empty() {
        if version == Version::V4 && !hello.clean() {
            tracing::warn!(%peer, user = ?user, "MQTT connection refused: empty client id with a persistent session");
            return refuse(&client_w, version, Refusal::BadClientId).await;
        }
        format!("auto-{}", super::random_hex(8).map_err(io::Error::other)?)
    } else {
        client_id
    };
    if let Some(will) = hello.will_topic() {
        let allowed = will.as_ref().is_ok_and(|t| {
            valid_topic(t)
                && (shared.open || shared.acl.allows(Some(&user), &client_id, t, Access::Write))
        });
        if !allowed {
            tracing::warn!(%peer, user = ?user, client_id = ?client_id, will_topic = ?will.unwrap_or_default(), "MQTT connection refused: the will's topic is not allowed for this user");
            return refuse(&client_w, version, Refusal::NotAuthorized).await;
        }
    }
    let connect = hello
        .rewrite(format!("{ID_PREFIX}{client_id}"), shared)
        .map_err(io::Error::other)?;

    let broker = tokio::time::timeout(SHORT_TIMEOUT, TcpStream::connect(upstream))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the broker did not answer"))?
        .inspect_err(|e| {
            tracing::error!(error = %e, "MQTT gate: cannot reach the embedded broker");
        })?;
    broker.set_nodelay(true)?;
    let (mut broker_r, mut broker_w) = broker.into_split();
    broker_w.write_all(&connect).await?;
    tracing::debug!(%peer, user = ?user, client_id = ?client_id, "MQTT client passed the gate");

    let mut inbound = Inbound {
        shared,
        version,
        user,
        client_id,
        peer,
        aliases: HashMap::new(),
        alias_bytes: 0,
    };
    tokio::select! {
        r = inbound.pump(&mut client_r, &mut broker_w, buf, &client_w) => r,
        r = outbound(&mut broker_r, &client_w) => r,
    }
}

/// The client -> broker direction of an established connection.
struct Inbound<'a> {
    shared: &'a Shared,
    version: Version,
    user: String,
    client_id: String,
    peer: SocketAddr,
    aliases: HashMap<u16, String>,
    alias_bytes: usize,
}

impl Inbound<'_> {
    /// Passes allowed packets on until the client closes or breaks a rule.
    async fn pump(
        &mut self,
        client_r: &mut OwnedReadHalf,
        broker_w: &mut OwnedWriteHalf,
        mut buf: BytesMut,
        client_w: &Mutex<OwnedWriteHalf>,
    ) -> io::Result<()> {
        let mut out = BytesMut::new();
        loop {
            let mut violation = None;
            loop {
                match frame_len(&buf, MAX_PACKET) {
                    Ok(Some(n)) => match self.inspect(buf.split_to(n)) {
                        Ok(frame) => out.extend_from_slice(&frame),
                        Err(v) => {
                            violation = Some(v);
                            break;
                        }
                    },
                    Ok(None) => break,
                    Err(v) => {
                        violation = Some(v);
                        break;
                    }
                }
            }
            if !out.is_empty() {
                broker_w.write_all(&out).await?;
                out.clear();
            }
            if let Some(v) = violation {
                self.refuse(v, client_w).await;
                return Ok(());
            }
            if !read_more(client_r, &mut buf).await? {
                return Ok(());
            }
        }
    }

    /// One whole packet from the client: what to pass on, or why not.
    fn inspect(&mut self, mut frame: BytesMut) -> Result<BytesMut, Violation> {
        let parse_error = |e: &dyn std::fmt::Debug| Violation::Protocol(format!("{e:?}"));
        let mut out = BytesMut::new();
        match (frame[0] >> 4, self.version) {
            (1, _) => return Err(Violation::Protocol("a second CONNECT".into())),
            // What was checked is what is sent: PUBLISH and SUBSCRIBE are written anew.
            (3, Version::V4) => {
                let Ok(v4::Packet::Publish(p)) = v4::Packet::read(&mut frame, MAX_PACKET) else {
                    return Err(Violation::Protocol("malformed PUBLISH".into()));
                };
                self.may_write(&p.topic)?;
                p.write(&mut out).map_err(|e| parse_error(&e))?;
            }
            (3, Version::V5) => {
                let Ok(v5::Packet::Publish(mut p)) =
                    v5::Packet::read(&mut frame, Some(MAX_PACKET as u32))
                else {
                    return Err(Violation::Protocol("malformed PUBLISH".into()));
                };
                let topic = self.resolve_alias(&p)?;
                self.may_write(&topic)?;
                // The alias is resolved here, and the properties go: rumqttd 0.20 panics
                // delivering a PUBLISH with properties to an MQTT 3.1.1 subscriber such as
                // doorstep's own.
                p.topic = topic.into_bytes().into();
                p.properties = None;
                p.write(&mut out).map_err(|e| parse_error(&e))?;
            }
            (8, Version::V4) => {
                let Ok(v4::Packet::Subscribe(s)) = v4::Packet::read(&mut frame, MAX_PACKET) else {
                    return Err(Violation::Protocol("malformed SUBSCRIBE".into()));
                };
                for f in &s.filters {
                    self.may_read(&f.path)?;
                }
                s.write(&mut out).map_err(|e| parse_error(&e))?;
            }
            (8, Version::V5) => {
                let Ok(v5::Packet::Subscribe(s)) =
                    v5::Packet::read(&mut frame, Some(MAX_PACKET as u32))
                else {
                    return Err(Violation::Protocol("malformed SUBSCRIBE".into()));
                };
                for f in &s.filters {
                    self.may_read(&f.path)?;
                }
                s.write(&mut out).map_err(|e| parse_error(&e))?;
            }
            _ => return Ok(frame),
        }
        Ok(out)
    }

    fn may_write(&self, topic: &str) -> Result<(), Violation> {
        let ok = valid_topic(topic)
            && (self.shared.open
                || self
                    .shared
                    .acl
                    .allows(Some(&self.user), &self.client_id, topic, Access::Write));
        if ok {
            Ok(())
        } else {
            Err(Violation::Publish(topic.to_owned()))
        }
    }

    fn may_read(&self, filter: &str) -> Result<(), Violation> {
        let ok = valid_filter(filter)
            && (self.shared.open
                || self
                    .shared
                    .acl
                    .allows_subscribe(Some(&self.user), &self.client_id, filter));
        if ok {
            Ok(())
        } else {
            Err(Violation::Subscribe(filter.to_owned()))
        }
    }

    /// The topic of an MQTT 5 PUBLISH, through its topic alias if it has one
    /// (the broker then gets the topic itself).
    fn resolve_alias(&mut self, p: &v5::Publish) -> Result<String, Violation> {
        let topic = std::str::from_utf8(&p.topic)
            .map_err(|_| Violation::Protocol("a topic that is not UTF-8".into()))?
            .to_owned();
        let Some(alias) = p.properties.as_ref().and_then(|p| p.topic_alias) else {
            return Ok(topic);
        };
        if alias == 0 || alias > MAX_ALIAS {
            return Err(Violation::Protocol(format!("topic alias {alias}")));
        }
        if topic.is_empty() {
            return self
                .aliases
                .get(&alias)
                .cloned()
                .ok_or_else(|| Violation::Protocol(format!("unknown topic alias {alias}")));
        }
        // Only a topic this client may write gets an alias.
        self.may_write(&topic)?;
        self.alias_bytes += topic.len();
        if let Some(old) = self.aliases.insert(alias, topic.clone()) {
            self.alias_bytes -= old.len();
        }
        if self.alias_bytes > MAX_ALIAS_BYTES {
            return Err(Violation::Protocol("too many topic aliases".into()));
        }
        Ok(topic)
    }

    /// Logs why the client is dropped and, in MQTT 5, tells it.
    async fn refuse(&self, v: Violation, client_w: &Mutex<OwnedWriteHalf>) {
        let (peer, user, client_id) = (self.peer, &self.user, &self.client_id);
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
        if self.version == Version::V5 {
            let mut out = BytesMut::new();
            if v5::Disconnect::new(reason).write(&mut out).is_ok() {
                send_and_close(client_w, &out).await;
            }
        }
    }
}

/// The broker -> client direction: whole packets, so that a DISCONNECT from the
/// gate never lands inside one.
async fn outbound(
    broker_r: &mut OwnedReadHalf,
    client_w: &Mutex<OwnedWriteHalf>,
) -> io::Result<()> {
    let mut buf = BytesMut::with_capacity(8192);
    loop {
        if !read_more(broker_r, &mut buf).await? {
            return Ok(());
        }
        let mut whole = 0;
        while let Some(n) = frame_len(&buf[whole..], MAX_PACKET_OUT).map_err(|v| protocol(&v))? {
            whole += n;
        }
        if whole > 0 {
            let packets = buf.split_to(whole);
            client_w.lock().await.write_all(&packets).await?;
        }
    }
}

async fn refuse(
    client_w: &Mutex<OwnedWriteHalf>,
    version: Version,
    refusal: Refusal,
) -> io::Result<()> {
    send_and_close(client_w, &connack(version, refusal)).await;
    Ok(())
}

/// Sends a last packet and closes, giving up on a client that does not read.
async fn send_and_close(client_w: &Mutex<OwnedWriteHalf>, packet: &[u8]) {
    let _ = tokio::time::timeout(SHORT_TIMEOUT, async {
        let mut w = client_w.lock().await;
        w.write_all(packet).await?;
        w.shutdown().await
    })
    .await;
}

async fn read_more(r: &mut (impl AsyncRead + Unpin), buf: &mut BytesMut) -> io::Result<bool> {
    buf.reserve(8192);
    Ok(r.read_buf(buf).await? > 0)
}

fn protocol(v: &Violation) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{v:?}"))
}

/// Length of the first whole packet in `buf`, `None` while more bytes are needed.
fn frame_len(buf: &[u8], max: usize) -> Result<Option<usize>, Violation> {
    let mut remaining = 0usize;
    for i in 0..4 {
        let Some(&b) = buf.get(1 + i) else {
            return Ok(None);
        };
        remaining |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            if remaining > max {
                return Err(Violation::TooLarge);
            }
            let total = 1 + (i + 1) + remaining;
            return Ok((buf.len() >= total).then_some(total));
        }
    }
    Err(Violation::Protocol("malformed remaining length".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_cut_by_their_remaining_length() {
        assert!(matches!(frame_len(&[], 10), Ok(None)));
        assert!(matches!(frame_len(&[0xc0], 10), Ok(None)));
        assert!(matches!(frame_len(&[0xc0, 0x00], 10), Ok(Some(2))));
        assert!(matches!(frame_len(&[0x30, 0x02, 1], 10), Ok(None)));
        assert!(matches!(frame_len(&[0x30, 0x02, 1, 2, 3], 10), Ok(Some(4))));
        // 200 = 0xc8 0x01
        let mut big = vec![0x30, 0xc8, 0x01];
        big.resize(3 + 200, 0);
        assert!(matches!(frame_len(&big, 1000), Ok(Some(203))));
        assert!(matches!(frame_len(&big, 199), Err(Violation::TooLarge)));
        assert!(matches!(
            frame_len(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x01], usize::MAX),
            Err(Violation::Protocol(_))
        ));
    }
}
