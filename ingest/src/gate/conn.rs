//! One client connection through the gate: its CONNECT is checked and passed
//! on with the gate's internal account; then every packet on the way in is
//! checked. Device messages (`doorstep/v1/...`) go through the door to
//! doorstep's journal and are acknowledged from here once they are on disk;
//! other packets allowed by the ACL go on to the broker, and what the broker
//! sends back is copied packet by packet.

use super::door::{Door, Message};
use super::frame::{Head, frame_len, publish_head};
use super::hello::{Refusal, parse_connect};
use super::ticket::Ticket;
use super::violation::Violation;
use super::wire::{Rate, acknowledge, drop_for, outbound, protocol, read_more, refuse, send};
use super::{MAX_PACKET, Shared, Version};
use crate::topics::is_device_topic;
use bytes::{Buf, Bytes, BytesMut};
use rumqttc::mqttbytes::v4;
use rumqttc::v5::mqttbytes::v5;
use std::collections::{HashMap, HashSet};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Mutex, Semaphore, mpsc};
use tokio::time::Instant;

/// Reaching the broker takes no longer.
const SHORT_TIMEOUT: Duration = Duration::from_secs(5);
/// Topics a client may keep behind MQTT 5 topic aliases, in bytes.
const MAX_ALIAS_BYTES: usize = 256 * 1024;
/// The broker's limit on topic aliases (rumqttd's `TOPIC_ALIAS_MAX`).
const MAX_ALIAS: u16 = 4096;
/// Client ids as the broker sees them, apart from doorstep's own subscriber.
const ID_PREFIX: &str = "gate:";
/// The keep-alive the broker is told: the gate watches the client's own, and
/// pings the broker while the client's traffic goes to the door.
const UPSTREAM_KEEP_ALIVE: u16 = 600;
/// Of a message over the size limit, this many first bytes are kept.
const OVERSIZE_KEPT: usize = 1024;
/// A PUBLISH up to the size limit and this much more (topic, properties) is read whole.
const HEADROOM: usize = 70 * 1024;

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
    let stats = &shared.door.stats.gate;
    let limits = shared.limits;
    let (waiting, mut evicted) = shared.admission.wait(peer.ip(), &shared.door.stats);
    let read_connect = async {
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
    };
    let frame = tokio::select! {
        r = tokio::time::timeout(Duration::from_secs(limits.connect_timeout_s), read_connect) => match r {
            Ok(frame) => frame?,
            Err(_) => {
                stats.timed_out.fetch_add(1, Ordering::Relaxed);
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no CONNECT in time"));
            }
        },
        _ = &mut evicted => {
            return Err(io::Error::other("closed to make room for newer sockets"));
        }
    };
    drop(waiting);

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
    // With accounts every client is a known one; without, a client whose id is a
    // registered device's.
    let known = !shared.open || shared.door.knows(&client_id);
    let account = (!shared.open).then_some(user.as_str());
    let _open = match shared.admission.open(peer.ip(), known, account) {
        Ok(open) => open,
        Err(busy) => {
            stats.refused_busy.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%peer, user = ?user, client_id = ?client_id, limit = ?busy, "MQTT connection refused: too many connections");
            return refuse(&client_w, version, Refusal::Busy).await;
        }
    };
    let keep_alive = hello.keep_alive();
    let connect = hello
        .rewrite(
            format!("{ID_PREFIX}{client_id}"),
            UPSTREAM_KEEP_ALIVE,
            shared,
        )
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
    stats
        .open
        .store(shared.admission.open_now() as u64, Ordering::Relaxed);
    tracing::debug!(%peer, user = ?user, client_id = ?client_id, "MQTT client passed the gate");

    let (acks_tx, acks_rx) = mpsc::unbounded_channel();
    let owed_pings = AtomicU32::new(0);
    let mut inbound = Inbound {
        shared,
        door: &shared.door,
        version,
        user,
        client_id,
        peer,
        aliases: HashMap::new(),
        alias_bytes: 0,
        permits: Arc::new(Semaphore::new(limits.max_inflight.max(1))),
        acks: acks_tx,
        ours_qos2: HashSet::new(),
        rate: Rate::new(limits.rate_messages, limits.rate_bytes),
        owed_pings: &owed_pings,
        idle: (keep_alive > 0).then(|| Duration::from_millis(u64::from(keep_alive) * 1500)),
        skip: 0,
    };
    let result = tokio::select! {
        r = inbound.pump(&mut client_r, &mut broker_w, buf, &client_w) => r,
        r = outbound(&mut broker_r, &client_w, &owed_pings) => r,
        r = acknowledge(acks_rx, &client_w) => r,
    };
    drop(_open);
    stats
        .open
        .store(shared.admission.open_now() as u64, Ordering::Relaxed);
    result
}

use super::acl::{Access, valid_filter, valid_topic};

/// The client -> broker direction of an established connection.
struct Inbound<'a> {
    shared: &'a Shared,
    door: &'a Door,
    version: Version,
    user: String,
    client_id: String,
    peer: SocketAddr,
    aliases: HashMap<u16, String>,
    alias_bytes: usize,
    /// The connection's in-flight messages (not yet journaled).
    permits: Arc<Semaphore>,
    acks: mpsc::UnboundedSender<(u16, u8)>,
    /// QoS 2 packet ids the door took (their PUBREL is answered here).
    ours_qos2: HashSet<u16>,
    rate: Rate,
    /// PINGRESPs the broker owes the gate (not to be passed on).
    owed_pings: &'a AtomicU32,
    /// The client's keep-alive, one and a half times.
    idle: Option<Duration>,
    /// Bytes of an oversized message still to be skipped.
    skip: usize,
}

/// What one packet from the client becomes.
enum Step {
    /// Bytes for the broker.
    Forward(BytesMut),
    /// A device message for the door.
    Door(Message),
    /// Nothing further (answered here).
    Done,
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
        let mut last_upstream = Instant::now();
        let max_whole = self.shared.limits.max_message_bytes + HEADROOM;
        loop {
            let mut violation = None;
            loop {
                if self.skip > 0 {
                    let n = self.skip.min(buf.len());
                    buf.advance(n);
                    self.skip -= n;
                    if self.skip > 0 {
                        break;
                    }
                }
                let step = match frame_len(&buf, max_whole.max(MAX_PACKET)) {
                    Ok(Some(n)) => self.inspect(buf.split_to(n), client_w).await,
                    Ok(None) => break,
                    Err(Violation::TooLarge) if buf[0] >> 4 == 3 => {
                        match publish_head(&buf, self.version, OVERSIZE_KEPT) {
                            Ok(Some(head)) => {
                                let available = head.total.min(buf.len());
                                buf.advance(available);
                                self.skip = head.total - available;
                                self.oversize(head).await
                            }
                            Ok(None) => break,
                            Err(v) => Err(v),
                        }
                    }
                    Err(v) => Err(v),
                };
                match step {
                    Ok(Step::Forward(frame)) => out.extend_from_slice(&frame),
                    Ok(Step::Door(message)) => {
                        if !out.is_empty() {
                            broker_w.write_all(&out).await?;
                            out.clear();
                            last_upstream = Instant::now();
                        }
                        if !self.door.deliver(message).await {
                            return Ok(());
                        }
                    }
                    Ok(Step::Done) => {}
                    Err(v) => {
                        violation = Some(v);
                        break;
                    }
                }
            }
            if !out.is_empty() {
                broker_w.write_all(&out).await?;
                out.clear();
                last_upstream = Instant::now();
            } else if last_upstream.elapsed()
                > Duration::from_secs(u64::from(UPSTREAM_KEEP_ALIVE) / 2)
            {
                // The client's messages go to the door: keep its broker session alive.
                self.owed_pings.fetch_add(1, Ordering::Relaxed);
                broker_w.write_all(&[0xc0, 0x00]).await?;
                last_upstream = Instant::now();
            }
            if let Some(v) = violation {
                let who = (self.peer, self.user.as_str(), self.client_id.as_str());
                drop_for(v, self.version, who, client_w).await;
                return Ok(());
            }
            let more = match self.idle {
                Some(idle) => match tokio::time::timeout(idle, read_more(client_r, &mut buf)).await
                {
                    Ok(r) => r?,
                    Err(_) => {
                        self.door
                            .stats
                            .gate
                            .timed_out
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(peer = %self.peer, client_id = ?self.client_id, "MQTT client silent past its keep-alive; closed");
                        return Ok(());
                    }
                },
                None => read_more(client_r, &mut buf).await?,
            };
            if !more {
                return Ok(());
            }
        }
    }

    /// One whole packet from the client: what to do with it, or why not.
    async fn inspect(
        &mut self,
        mut frame: BytesMut,
        client_w: &Mutex<OwnedWriteHalf>,
    ) -> Result<Step, Violation> {
        let parse_error = |e: &dyn std::fmt::Debug| Violation::Protocol(format!("{e:?}"));
        let max = self.shared.limits.max_message_bytes + HEADROOM;
        let mut out = BytesMut::new();
        match (frame[0] >> 4, self.version) {
            (1, _) => return Err(Violation::Protocol("a second CONNECT".into())),
            // What was checked is what is sent: PUBLISH and SUBSCRIBE are written anew.
            (3, Version::V4) => {
                let Ok(v4::Packet::Publish(p)) = v4::Packet::read(&mut frame, max) else {
                    return Err(Violation::Protocol("malformed PUBLISH".into()));
                };
                self.may_write(&p.topic)?;
                if is_device_topic(&p.topic) {
                    return self
                        .hand_to_door(p.topic, p.payload, p.qos as u8, p.pkid)
                        .await;
                }
                self.within_broker_limit(p.payload.len())?;
                p.write(&mut out).map_err(|e| parse_error(&e))?;
            }
            (3, Version::V5) => {
                let Ok(v5::Packet::Publish(mut p)) = v5::Packet::read(&mut frame, Some(max as u32))
                else {
                    return Err(Violation::Protocol("malformed PUBLISH".into()));
                };
                let topic = self.resolve_alias(&p)?;
                self.may_write(&topic)?;
                if is_device_topic(&topic) {
                    return self
                        .hand_to_door(topic, p.payload, p.qos as u8, p.pkid)
                        .await;
                }
                self.within_broker_limit(p.payload.len())?;
                // The alias is resolved here, and the properties go: rumqttd 0.20 panics
                // delivering a PUBLISH with properties to an MQTT 3.1.1 subscriber.
                p.topic = topic.into_bytes().into();
                p.properties = None;
                p.write(&mut out).map_err(|e| parse_error(&e))?;
            }
            // PUBREL of a QoS 2 message the door took: PUBCOMP from here.
            (6, _) if frame.len() >= 4 => {
                let pkid = u16::from_be_bytes([frame[2], frame[3]]);
                if self.ours_qos2.remove(&pkid) {
                    let [hi, lo] = pkid.to_be_bytes();
                    send(client_w, &[0x70, 0x02, hi, lo])
                        .await
                        .map_err(|e| Violation::Protocol(e.to_string()))?;
                    return Ok(Step::Done);
                }
                return Ok(Step::Forward(frame));
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
            _ if frame.len() > MAX_PACKET => return Err(Violation::TooLarge),
            _ => return Ok(Step::Forward(frame)),
        }
        Ok(Step::Forward(out))
    }

    fn within_broker_limit(&self, payload: usize) -> Result<(), Violation> {
        if payload > MAX_PACKET - 1024 {
            return Err(Violation::TooLarge);
        }
        Ok(())
    }

    /// A device message: waits for the connection's rate and an in-flight
    /// place, then goes to the door (cut to its first bytes when over the limit).
    async fn hand_to_door(
        &mut self,
        topic: String,
        payload: Bytes,
        qos: u8,
        pkid: u16,
    ) -> Result<Step, Violation> {
        let max = self.shared.limits.max_message_bytes;
        let (payload, oversize) = if payload.len() > max {
            self.door
                .stats
                .gate
                .oversize
                .fetch_add(1, Ordering::Relaxed);
            (payload.slice(..OVERSIZE_KEPT), Some(payload.len()))
        } else {
            (payload, None)
        };
        let ticket = self.ticket(qos, pkid, payload.len()).await?;
        Ok(Step::Door(Message {
            topic,
            payload,
            oversize,
            peer: self.peer,
            ticket: Some(ticket),
        }))
    }

    /// A PUBLISH over the size limit, of which only its head was read.
    async fn oversize(&mut self, head: Head) -> Result<Step, Violation> {
        self.door
            .stats
            .gate
            .oversize
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(peer = %self.peer, client_id = ?self.client_id, topic = ?head.topic, bytes = head.payload_len, max = self.shared.limits.max_message_bytes, "MQTT message over the size limit: skipped, its first bytes quarantined");
        let topic = if head.topic.is_empty() {
            head.alias
                .and_then(|a| self.aliases.get(&a).cloned())
                .unwrap_or_default()
        } else {
            head.topic
        };
        if !topic.is_empty() {
            self.may_write(&topic)?;
        }
        let ticket = self.ticket(head.qos, head.pkid, head.payload_len).await?;
        Ok(Step::Door(Message {
            topic,
            payload: head.first_bytes,
            oversize: Some(head.payload_len),
            peer: self.peer,
            ticket: Some(ticket),
        }))
    }

    async fn ticket(&mut self, qos: u8, pkid: u16, size: usize) -> Result<Ticket, Violation> {
        if let Some(wait) = self.rate.take(size) {
            self.door
                .stats
                .gate
                .throttled
                .fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(wait).await;
        }
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| Violation::Protocol("the connection is closing".into()))?;
        if qos == 2 {
            if self.ours_qos2.len() > u16::MAX as usize / 2 {
                return Err(Violation::Protocol(
                    "too many QoS 2 messages unreleased".into(),
                ));
            }
            self.ours_qos2.insert(pkid);
        }
        Ok(Ticket {
            pkid,
            qos,
            acks: self.acks.clone(),
            _permit: permit,
        })
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
}
