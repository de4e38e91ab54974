//! The gate in front of a real rumqttd, spoken to byte by byte.

use super::*;
use crate::EmbeddedBroker;
use bytes::BytesMut;
use rumqttc::mqttbytes::v4;
use rumqttc::v5::mqttbytes::v5;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `mosquitto_passwd -b`: c1/c1-secret (sha512-pbkdf2), c2/c2-secret (`-H sha512`).
const PASSWD: &str = "\
c1:$7$101$pqvfy0inBOBKLeVO$n1DBPxC34yIeyz17NK43UOI4xKgwSp9R6yULya43a62lqHnbGngwitIKqhCG8uQ2sW6LoBQ+oXISUTFBrW8s+Q==
c2:$6$XRPYx6LlISwr5XYC$QiMNC/oMwdIawqHvLpplCmfBaO8Y1dHwA0yoc/ujKaEAjvNBEvCdFLc2SBGEp2xIgXVAhZjsV4uLZfX49PSR0A==
";
const ACL: &str = "user doorstep\ntopic read doorstep/v1/#\n\npattern write doorstep/v1/+/%u\n";

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

/// The registry behind the door's validator: devices c1 and c2 of site s1.
fn registry() -> std::sync::Arc<devices::Registry> {
    let toml = "[[site]]\nid = \"s1\"\nname = \"社区\"\n[[site.room]]\nid = \"r\"\nname = \"厅\"\ncapacity = 5\narea_m2 = 20\n\
        [[site.device]]\nid = \"c1\"\nroom = \"r\"\nkind = \"count\"\ninterval_s = 60\n\
        [[site.device]]\nid = \"c2\"\nroom = \"r\"\nkind = \"presence\"\ninterval_s = 60\n";
    std::sync::Arc::new(devices::Registry::from_toml(toml, Path::new("t.toml")).expect("registry"))
}

/// What reached the door, as the intake sees it.
struct Intake {
    rx: tokio::sync::mpsc::Receiver<crate::Incoming>,
    stats: Arc<crate::IngestStats>,
}

impl Intake {
    /// The next message at the door, not yet acknowledged.
    async fn next(&mut self) -> crate::Incoming {
        tokio::time::timeout(Duration::from_secs(10), self.rx.recv())
            .await
            .expect("a message within 10 s")
            .expect("the door is open")
    }

    /// The next message's topic and payload, acknowledged (as once journaled).
    async fn take(&mut self) -> (String, String) {
        let incoming = self.next().await;
        let got = (
            incoming.pending.topic().to_owned(),
            String::from_utf8_lossy(incoming.pending.payload()).into_owned(),
        );
        crate::Acker::door()
            .ack(incoming.pending)
            .await
            .expect("ack");
        got
    }
}

/// The broker behind the gate, the gate's MQTT 5 address when asked for, and its door.
fn start_with(
    config: GateConfig,
    v5: bool,
    limits: crate::BrokerLimits,
) -> (EmbeddedBroker, Option<SocketAddr>, Intake) {
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    let stats = Arc::new(crate::IngestStats::default());
    let validator = devices::Validator::new(registry(), devices::Limits::default());
    let door = crate::Door::new(tx, validator, devices::Clock::wall(), Arc::clone(&stats));
    let listen_v5 = v5.then(free_addr);
    let broker =
        EmbeddedBroker::start(free_addr(), listen_v5, config, limits, door).expect("broker");
    (broker, listen_v5, Intake { rx, stats })
}

fn accounts() -> GateConfig {
    GateConfig {
        passwd: Passwd::parse(PASSWD, Path::new("passwd")).expect("passwd"),
        acl: Acl::parse(ACL, Path::new("acl")).expect("acl"),
        open: false,
    }
}

fn start(v5: bool) -> (EmbeddedBroker, Option<SocketAddr>, Intake) {
    start_with(accounts(), v5, crate::BrokerLimits::default())
}

/// A raw MQTT connection.
struct Peer {
    s: TcpStream,
    buf: BytesMut,
}

impl Peer {
    async fn connect(addr: SocketAddr) -> Peer {
        Peer {
            s: TcpStream::connect(addr).await.expect("connect"),
            buf: BytesMut::new(),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).await.expect("send");
    }

    /// The next whole packet, or `None` once the other side has closed.
    async fn next(&mut self) -> Option<BytesMut> {
        tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let mut len = 0usize;
                for i in 1..self.buf.len().min(5) {
                    len |= usize::from(self.buf[i] & 0x7f) << (7 * (i - 1));
                    if self.buf[i] & 0x80 == 0 {
                        if self.buf.len() > i + len {
                            return Some(self.buf.split_to(i + 1 + len));
                        }
                        break;
                    }
                }
                match self.s.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                }
            }
        })
        .await
        .expect("an answer within 5 s")
    }
}

async fn connect_v4(
    addr: SocketAddr,
    id: &str,
    login: Option<(&str, &str)>,
    will: Option<&str>,
) -> (Peer, Option<BytesMut>) {
    let mut s = Peer::connect(addr).await;
    let mut c = v4::Connect::new(id);
    c.keep_alive = 30;
    if let Some((u, p)) = login {
        c.set_login(u, p);
    }
    c.last_will = will.map(|t| v4::LastWill::new(t, "gone", rumqttc::QoS::AtMostOnce, false));
    let mut out = BytesMut::new();
    c.write(&mut out).expect("encode");
    s.send(&out).await;
    let ack = s.next().await;
    (s, ack)
}

async fn send(s: &mut Peer, packet: v4::Packet) {
    let mut out = BytesMut::new();
    packet.write(&mut out, 1 << 26).expect("encode");
    s.send(&out).await;
}

fn publish(topic: &str, payload: &str, pkid: u16) -> v4::Packet {
    let mut p = v4::Publish::new(topic, rumqttc::QoS::AtLeastOnce, payload);
    p.pkid = pkid;
    v4::Packet::Publish(p)
}

#[tokio::test]
async fn mqtt311_devices_log_in_and_write_only_their_own_topic() {
    let (broker, _, mut sub) = start(false);
    let gate = broker.addr();

    // Wrong password, unknown user, no username: CONNACK refusals, then closed.
    let (mut s, ack) = connect_v4(gate, "c2", Some(("c2", "wrong")), None).await;
    assert_eq!(
        ack.as_deref(),
        Some(&[0x20, 2, 0, 4][..]),
        "bad username or password"
    );
    assert!(s.next().await.is_none());
    let (_, ack) = connect_v4(gate, "c9", Some(("c9", "c2-secret")), None).await;
    assert_eq!(ack.as_deref(), Some(&[0x20, 2, 0, 4][..]));
    let (_, ack) = connect_v4(gate, "c2", None, None).await;
    assert_eq!(ack.as_deref(), Some(&[0x20, 2, 0, 5][..]), "not authorized");
    // A last will under another device's topic: not authorized.
    let (_, ack) = connect_v4(
        gate,
        "c1",
        Some(("c1", "c1-secret")),
        Some("doorstep/v1/s1/c2"),
    )
    .await;
    assert_eq!(ack.as_deref(), Some(&[0x20, 2, 0, 5][..]));
    // The right password, its own topic: through. A device taking doorstep's client id
    // takes nothing over (device messages never pass the broker's router).
    let (mut c1, ack) = connect_v4(gate, "doorstep", Some(("c1", "c1-secret")), None).await;
    assert_eq!(ack.as_deref(), Some(&[0x20, 2, 0, 0][..]));
    send(&mut c1, publish("doorstep/v1/s1/c1", "one", 1)).await;
    assert_eq!(sub.take().await, ("doorstep/v1/s1/c1".into(), "one".into()));
    assert_eq!(
        c1.next().await.as_deref(),
        Some(&[0x40, 2, 0, 1][..]),
        "PUBACK"
    );
    // Another device's topic: the connection is closed, nothing acknowledged.
    send(&mut c1, publish("doorstep/v1/s1/c2", "forged", 2)).await;
    assert!(c1.next().await.is_none(), "closed");
    // Subscribing without read access: closed too.
    let (mut c1, _) = connect_v4(gate, "c1", Some(("c1", "c1-secret")), None).await;
    let sub_all = v4::Subscribe::new("doorstep/v1/#", rumqttc::QoS::AtMostOnce);
    send(&mut c1, v4::Packet::Subscribe(sub_all)).await;
    assert!(c1.next().await.is_none(), "closed");
    // A wildcard in a topic name is no topic.
    let (mut c1, _) = connect_v4(gate, "c1", Some(("c1", "c1-secret")), None).await;
    send(&mut c1, publish("doorstep/v1/+/c1", "wild", 3)).await;
    assert!(c1.next().await.is_none(), "closed");

    // The $6$ account, and the marker that everything before has been handled.
    let (mut c2, ack) = connect_v4(gate, "c2", Some(("c2", "c2-secret")), None).await;
    assert_eq!(ack.as_deref(), Some(&[0x20, 2, 0, 0][..]));
    send(&mut c2, publish("doorstep/v1/s1/c2", "two", 1)).await;
    assert_eq!(
        sub.take().await,
        ("doorstep/v1/s1/c2".into(), "two".into()),
        "nothing refused reached the door"
    );
    assert_eq!(c2.next().await.as_deref(), Some(&[0x40, 2, 0, 1][..]));
}

async fn connect_v5(addr: SocketAddr, id: &str, login: (&str, &str)) -> (Peer, Option<BytesMut>) {
    let mut s = Peer::connect(addr).await;
    let c = v5::Connect {
        keep_alive: 30,
        client_id: id.into(),
        clean_start: true,
        properties: None,
    };
    let mut out = BytesMut::new();
    c.write(&None, &Some(v5::Login::new(login.0, login.1)), &mut out)
        .expect("encode");
    s.send(&out).await;
    let ack = s.next().await;
    (s, ack)
}

async fn send_v5(s: &mut Peer, topic: &str, alias: Option<u16>, payload: &str, pkid: u16) {
    let mut p = v5::Publish::new(
        topic,
        rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
        payload.to_owned(),
        None,
    );
    p.pkid = pkid;
    p.properties = alias.map(|a| v5::PublishProperties {
        topic_alias: Some(a),
        ..Default::default()
    });
    let mut out = BytesMut::new();
    p.write(&mut out).expect("encode");
    s.send(&out).await;
}

#[tokio::test]
async fn mqtt5_devices_are_told_why_they_are_dropped() {
    let (_broker, gate_v5, mut sub) = start(true);
    let gate_v5 = gate_v5.expect("MQTT 5 listener");

    let (_, ack) = connect_v5(gate_v5, "c1", ("c1", "wrong")).await;
    assert_eq!(
        ack.as_deref(),
        Some(&[0x20, 3, 0, 0x86, 0][..]),
        "bad username or password"
    );
    // A 3.1.1 client on the MQTT 5 listener is told, in 3.1.1.
    let (_, ack) = connect_v4(gate_v5, "c1", Some(("c1", "c1-secret")), None).await;
    assert_eq!(ack.as_deref(), Some(&[0x20, 2, 0, 1][..]));

    let (mut c1, ack) = connect_v5(gate_v5, "c1", ("c1", "c1-secret")).await;
    assert_eq!(ack.expect("CONNACK")[..4], [0x20, 0x06, 0, 0], "accepted");
    // Topic aliases: set with the topic, then used alone; checked on both. Regression:
    // rumqttd 0.20 panicked passing a PUBLISH with properties (here the alias) on to
    // doorstep's MQTT 3.1.1 subscriber, which then received nothing more.
    send_v5(&mut c1, "doorstep/v1/s1/c1", Some(7), "one", 1).await;
    send_v5(&mut c1, "", Some(7), "two", 2).await;
    for payload in ["one", "two"] {
        assert_eq!(
            sub.take().await,
            ("doorstep/v1/s1/c1".into(), payload.into())
        );
        assert_eq!(c1.next().await.expect("PUBACK")[0], 0x40);
    }
    // An alias never set, then another device's topic: DISCONNECT 0x87 (not authorized).
    send_v5(&mut c1, "", Some(8), "x", 3).await;
    assert_eq!(
        c1.next().await.as_deref(),
        Some(&[0xe0, 1, 0x82][..]),
        "protocol error"
    );
    let (mut c1, _) = connect_v5(gate_v5, "c1", ("c1", "c1-secret")).await;
    send_v5(&mut c1, "doorstep/v1/s1/c2", None, "forged", 1).await;
    assert_eq!(c1.next().await.as_deref(), Some(&[0xe0, 1, 0x87][..]));
    assert!(c1.next().await.is_none(), "then closed");

    let (mut c2, _) = connect_v5(gate_v5, "c2", ("c2", "c2-secret")).await;
    send_v5(&mut c2, "doorstep/v1/s1/c2", None, "marker", 1).await;
    assert_eq!(
        sub.take().await,
        ("doorstep/v1/s1/c2".into(), "marker".into()),
        "nothing refused reached the door"
    );
    assert_eq!(c2.next().await.expect("PUBACK")[0], 0x40);
}

#[tokio::test]
async fn a_device_gets_its_puback_only_once_the_message_is_journaled() {
    let (broker, _, mut intake) = start(false);
    let (mut c1, _) = connect_v4(broker.addr(), "c1", Some(("c1", "c1-secret")), None).await;
    send(&mut c1, publish("doorstep/v1/s1/c1", "one", 9)).await;
    let incoming = intake.next().await;
    assert_eq!(
        incoming.pending.peer(),
        Some(std::net::Ipv4Addr::LOCALHOST.into())
    );
    // Not durable yet: no PUBACK.
    let early = tokio::time::timeout(Duration::from_millis(300), c1.next()).await;
    assert!(early.is_err(), "a PUBACK before the journal: {early:?}");
    crate::Acker::door()
        .ack(incoming.pending)
        .await
        .expect("ack");
    assert_eq!(c1.next().await.as_deref(), Some(&[0x40, 2, 0, 9][..]));
    // QoS 2: PUBREC once durable, PUBCOMP for the PUBREL from the gate.
    let mut p = v4::Publish::new("doorstep/v1/s1/c1", rumqttc::QoS::ExactlyOnce, "two");
    p.pkid = 10;
    send(&mut c1, v4::Packet::Publish(p)).await;
    intake.take().await;
    assert_eq!(
        c1.next().await.as_deref(),
        Some(&[0x50, 2, 0, 10][..]),
        "PUBREC"
    );
    send(&mut c1, v4::Packet::PubRel(v4::PubRel::new(10))).await;
    assert_eq!(
        c1.next().await.as_deref(),
        Some(&[0x70, 2, 0, 10][..]),
        "PUBCOMP"
    );
    // Pings still reach the broker and come back.
    c1.send(&[0xc0, 0]).await;
    assert_eq!(c1.next().await.as_deref(), Some(&[0xd0, 0][..]), "PINGRESP");
}

#[tokio::test]
async fn a_message_over_the_limit_is_skipped_and_the_next_ones_go_on() {
    let limits = crate::BrokerLimits {
        max_message_bytes: 65_535,
        ..crate::BrokerLimits::default()
    };
    let (broker, _, mut intake) = start_with(accounts(), false, limits);
    let (mut c1, _) = connect_v4(broker.addr(), "c1", Some(("c1", "c1-secret")), None).await;
    let ok = r#"{"type":"count","ts":1,"seq":1,"count":1}"#;
    for (i, size) in [65_535usize, 65_536, 10 * 1024 * 1024]
        .into_iter()
        .enumerate()
    {
        let pkid = 2 * i as u16 + 1;
        send(
            &mut c1,
            publish("doorstep/v1/s1/c1", &"x".repeat(size), pkid),
        )
        .await;
        send(&mut c1, publish("doorstep/v1/s1/c1", ok, pkid + 1)).await;
        let big = intake.next().await;
        let rejected = big.item.as_ref().expect_err("rejected");
        assert_eq!(rejected.reason, devices::Reason::Oversize, "{size} bytes");
        assert!(big.pending.payload().len() <= 65_535);
        crate::Acker::door().ack(big.pending).await.expect("ack");
        assert_eq!(
            intake.take().await.1,
            ok,
            "the next message after {size} bytes"
        );
        for id in [pkid, pkid + 1] {
            let [hi, lo] = id.to_be_bytes();
            assert_eq!(c1.next().await.as_deref(), Some(&[0x40, 2, hi, lo][..]));
        }
    }
    let skipped = intake
        .stats
        .gate
        .oversize
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(skipped, 2, "65,536 bytes and 10 MB are over the limit");
}

#[tokio::test]
async fn silent_sockets_cannot_hold_the_door_shut() {
    let limits = crate::BrokerLimits {
        waiting_per_address: 8,
        max_waiting: 16,
        ..crate::BrokerLimits::default()
    };
    let (broker, _, mut intake) = start_with(accounts(), false, limits);
    let mut silent = Vec::new();
    for _ in 0..200 {
        silent.push(TcpStream::connect(broker.addr()).await.expect("connect"));
    }
    let (mut c1, ack) = connect_v4(broker.addr(), "c1", Some(("c1", "c1-secret")), None).await;
    assert_eq!(
        ack.as_deref(),
        Some(&[0x20, 2, 0, 0][..]),
        "a device still gets in"
    );
    send(&mut c1, publish("doorstep/v1/s1/c1", "hello", 1)).await;
    assert_eq!(intake.take().await.1, "hello");
    let evicted = intake
        .stats
        .gate
        .evicted
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(evicted >= 192, "evicted {evicted}");
}

#[test]
fn an_open_broker_listens_on_loopback_only() {
    let (tx, _rx) = tokio::sync::mpsc::channel(1);
    let door = crate::Door::new(
        tx,
        devices::Validator::new(registry(), devices::Limits::default()),
        devices::Clock::wall(),
        Arc::default(),
    );
    let open = GateConfig::open().expect("open");
    let err = EmbeddedBroker::start(
        "0.0.0.0:0".parse().expect("addr"),
        None,
        open,
        crate::BrokerLimits::default(),
        door,
    )
    .expect_err("refused");
    assert!(err.to_string().contains("passwd_file"), "{err}");
}
