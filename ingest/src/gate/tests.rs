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

/// The broker behind the gate, and the gate's MQTT 5 address when asked for.
fn start(v5: bool) -> (EmbeddedBroker, Option<SocketAddr>) {
    let config = GateConfig {
        passwd: Passwd::parse(PASSWD, Path::new("passwd")).expect("passwd"),
        acl: Acl::parse(ACL, Path::new("acl")).expect("acl"),
        open: false,
    };
    let listen_v5 = v5.then(free_addr);
    let broker = EmbeddedBroker::start_with_auth(
        free_addr(),
        listen_v5,
        Some(config),
        crate::BrokerLimits::default(),
    )
    .expect("broker");
    (broker, listen_v5)
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
    packet.write(&mut out, 1 << 20).expect("encode");
    s.send(&out).await;
}

fn publish(topic: &str, payload: &str, pkid: u16) -> v4::Packet {
    let mut p = v4::Publish::new(topic, rumqttc::QoS::AtLeastOnce, payload);
    p.pkid = pkid;
    v4::Packet::Publish(p)
}

/// The topic and payload of a PUBLISH packet.
fn published(mut frame: BytesMut) -> (String, String) {
    match v4::Packet::read(&mut frame, 1 << 20) {
        Ok(v4::Packet::Publish(p)) => (p.topic, String::from_utf8_lossy(&p.payload).into_owned()),
        other => panic!("expected PUBLISH, got {other:?}"),
    }
}

/// doorstep's own subscriber, on the internal port, reading everything at QoS 0.
async fn subscriber(broker: &EmbeddedBroker) -> Peer {
    let url = broker.subscriber_url();
    let session = broker.subscriber_session(&crate::Session {
        client_id: "doorstep".into(),
        credentials: Some(("configured".into(), Secret::new("ignored"))),
        ca_pem: None,
    });
    let (user, password) = session.credentials.expect("internal account");
    assert_ne!(user, "configured");
    let addr: SocketAddr = format!("{}:{}", url.host, url.port).parse().expect("addr");
    assert_ne!(addr, broker.addr(), "the subscriber skips the gate");
    let (mut s, ack) = connect_v4(addr, "doorstep", Some((&user, password.expose())), None).await;
    assert_eq!(ack.as_deref(), Some(&[0x20, 2, 0, 0][..]));
    let sub = v4::Subscribe::new("doorstep/v1/#", rumqttc::QoS::AtMostOnce);
    send(&mut s, v4::Packet::Subscribe(sub)).await;
    let suback = s.next().await.expect("SUBACK");
    assert_eq!(suback[0], 0x90);
    s
}

#[tokio::test]
async fn mqtt311_devices_log_in_and_write_only_their_own_topic() {
    let (broker, _) = start(false);
    let gate = broker.addr();
    let mut sub = subscriber(&broker).await;

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
    // Straight to the internal port: without the internal account rumqttd just hangs up.
    let internal = broker.subscriber_url();
    let internal: SocketAddr = format!("{}:{}", internal.host, internal.port)
        .parse()
        .expect("addr");
    let (_, ack) = connect_v4(internal, "c1", Some(("c1", "c1-secret")), None).await;
    assert!(ack.is_none(), "{ack:?}");
    let (_, ack) = connect_v4(internal, "c1", None, None).await;
    assert!(ack.is_none(), "{ack:?}");

    // The right password, its own topic: through. A device taking doorstep's client id
    // does not take over doorstep's session (the subscriber keeps receiving below).
    let (mut c1, ack) = connect_v4(gate, "doorstep", Some(("c1", "c1-secret")), None).await;
    assert_eq!(ack.as_deref(), Some(&[0x20, 2, 0, 0][..]));
    send(&mut c1, publish("doorstep/v1/s1/c1", "one", 1)).await;
    assert_eq!(
        c1.next().await.as_deref(),
        Some(&[0x40, 2, 0, 1][..]),
        "PUBACK"
    );
    assert_eq!(
        published(sub.next().await.expect("delivered")),
        ("doorstep/v1/s1/c1".into(), "one".into())
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
    assert_eq!(c2.next().await.as_deref(), Some(&[0x40, 2, 0, 1][..]));
    assert_eq!(
        published(sub.next().await.expect("delivered")),
        ("doorstep/v1/s1/c2".into(), "two".into()),
        "nothing refused reached the subscriber"
    );
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
    let (broker, gate_v5) = start(true);
    let gate_v5 = gate_v5.expect("MQTT 5 listener");
    let mut sub = subscriber(&broker).await;

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
    assert_eq!(c1.next().await.expect("PUBACK")[0], 0x40);
    send_v5(&mut c1, "", Some(7), "two", 2).await;
    assert_eq!(c1.next().await.expect("PUBACK")[0], 0x40);
    for payload in ["one", "two"] {
        assert_eq!(
            published(sub.next().await.expect("delivered")),
            ("doorstep/v1/s1/c1".into(), payload.into())
        );
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
    assert_eq!(c2.next().await.expect("PUBACK")[0], 0x40);
    assert_eq!(
        published(sub.next().await.expect("delivered")),
        ("doorstep/v1/s1/c2".into(), "marker".into()),
        "nothing refused reached the subscriber"
    );
}
