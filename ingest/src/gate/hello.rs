//! The CONNECT of a client through the gate: reading it in the client's protocol
//! version, rewriting it for the broker with the gate's account, and the
//! CONNACK that refuses it.

use super::{MAX_PACKET, Shared, Version};
use bytes::BytesMut;
use rumqttc::mqttbytes::v4;
use rumqttc::v5::mqttbytes::v5;

/// Why a connection is refused at CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    BadLogin,
    NotAuthorized,
    BadClientId,
    BadVersion,
    Busy,
}

/// The CONNECT a client sent.
#[allow(
    clippy::large_enum_variant,
    reason = "one per connection, for its first packet"
)]
pub(super) enum Hello {
    V4(v4::Connect),
    V5(v5::Connect, Option<v5::LastWill>, Option<v5::Login>),
}

impl Hello {
    pub(super) fn client_id(&self) -> &str {
        match self {
            Hello::V4(c) => &c.client_id,
            Hello::V5(c, ..) => &c.client_id,
        }
    }

    /// The keep-alive the client asked for, seconds (0: none).
    pub(super) fn keep_alive(&self) -> u16 {
        match self {
            Hello::V4(c) => c.keep_alive,
            Hello::V5(c, ..) => c.keep_alive,
        }
    }

    pub(super) fn clean(&self) -> bool {
        match self {
            Hello::V4(c) => c.clean_session,
            Hello::V5(c, ..) => c.clean_start,
        }
    }

    /// Username and password, when a username was given.
    pub(super) fn login(&self) -> Option<(&str, &str)> {
        let (user, password) = match self {
            Hello::V4(c) => c.login.as_ref().map(|l| (&l.username, &l.password))?,
            Hello::V5(_, _, l) => l.as_ref().map(|l| (&l.username, &l.password))?,
        };
        (!user.is_empty()).then_some((user.as_str(), password.as_str()))
    }

    /// The topic of the last will, if any (`Err` when it is not UTF-8).
    pub(super) fn will_topic(&self) -> Option<Result<String, ()>> {
        match self {
            Hello::V4(c) => c.last_will.as_ref().map(|w| Ok(w.topic.clone())),
            Hello::V5(_, w, _) => w.as_ref().map(|w| {
                std::str::from_utf8(&w.topic)
                    .map(str::to_owned)
                    .map_err(|_| ())
            }),
        }
    }

    /// The CONNECT to pass on: the broker's client id and the gate's account.
    pub(super) fn rewrite(
        self,
        client_id: String,
        keep_alive: u16,
        shared: &Shared,
    ) -> Result<BytesMut, String> {
        let (user, password) = (&shared.account.0, shared.account.1.expose());
        let mut out = BytesMut::new();
        match self {
            Hello::V4(mut c) => {
                c.client_id = client_id;
                c.keep_alive = keep_alive;
                c.login = Some(v4::Login::new(user, password));
                c.write(&mut out).map_err(|e| format!("{e:?}"))?;
            }
            Hello::V5(mut c, mut will, _) => {
                c.client_id = client_id;
                c.keep_alive = keep_alive;
                // As for PUBLISH: a will with properties would reach doorstep's
                // MQTT 3.1.1 subscriber with them.
                if let Some(w) = will.as_mut() {
                    w.properties = None;
                }
                let login = Some(v5::Login::new(user, password));
                c.write(&will, &login, &mut out)
                    .map_err(|e| format!("{e:?}"))?;
            }
        }
        Ok(out)
    }
}

/// Reads the CONNECT; `Err` carries the CONNACK to send back (in the client's
/// own protocol version), if any, and why.
#[allow(clippy::type_complexity)]
pub(super) fn parse_connect(
    mut frame: BytesMut,
    version: Version,
) -> Result<Hello, (Option<(Version, Refusal)>, String)> {
    if frame[0] != 0x10 {
        return Err((None, "the first packet is not CONNECT".into()));
    }
    let level = protocol_level(&frame);
    match (level, version) {
        // Only the parser's error is shown: a packet would show the password.
        (Some(4), Version::V4) => match v4::Packet::read(&mut frame, MAX_PACKET) {
            Ok(v4::Packet::Connect(c)) => Ok(Hello::V4(c)),
            Ok(_) => Err((None, "malformed CONNECT".into())),
            Err(e) => Err((None, format!("malformed CONNECT ({e:?})"))),
        },
        (Some(5), Version::V5) => match v5::Packet::read(&mut frame, Some(MAX_PACKET as u32)) {
            Ok(v5::Packet::Connect(c, will, login)) => Ok(Hello::V5(c, will, login)),
            Ok(_) => Err((None, "malformed CONNECT".into())),
            Err(e) => Err((None, format!("malformed CONNECT ({e:?})"))),
        },
        (Some(l), _) => Err((
            Some((
                if l == 5 { Version::V5 } else { Version::V4 },
                Refusal::BadVersion,
            )),
            format!("MQTT protocol level {l} on a listener for {version:?}"),
        )),
        (None, _) => Err((None, "malformed CONNECT".into())),
    }
}

/// The protocol level byte of a CONNECT frame.
fn protocol_level(frame: &[u8]) -> Option<u8> {
    let header = 1 + frame[1..].iter().take(4).position(|b| b & 0x80 == 0)? + 1;
    let name_len = u16::from_be_bytes([*frame.get(header)?, *frame.get(header + 1)?]) as usize;
    frame.get(header + 2 + name_len).copied()
}

/// The CONNACK refusing a connection.
pub(super) fn connack(version: Version, refusal: Refusal) -> BytesMut {
    let mut out = BytesMut::new();
    let written = match version {
        Version::V4 => {
            let code = match refusal {
                Refusal::BadLogin => v4::ConnectReturnCode::BadUserNamePassword,
                Refusal::NotAuthorized => v4::ConnectReturnCode::NotAuthorized,
                Refusal::BadClientId => v4::ConnectReturnCode::BadClientId,
                Refusal::BadVersion => v4::ConnectReturnCode::RefusedProtocolVersion,
                Refusal::Busy => v4::ConnectReturnCode::ServiceUnavailable,
            };
            v4::ConnAck::new(code, false).write(&mut out).is_ok()
        }
        Version::V5 => {
            let code = match refusal {
                Refusal::BadLogin => v5::ConnectReturnCode::BadUserNamePassword,
                Refusal::NotAuthorized => v5::ConnectReturnCode::NotAuthorized,
                Refusal::BadClientId => v5::ConnectReturnCode::ClientIdentifierNotValid,
                Refusal::BadVersion => v5::ConnectReturnCode::UnsupportedProtocolVersion,
                Refusal::Busy => v5::ConnectReturnCode::ServerBusy,
            };
            v5::ConnAck {
                session_present: false,
                code,
                properties: None,
            }
            .write(&mut out)
            .is_ok()
        }
    };
    if !written {
        out.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connacks_carry_the_right_codes() {
        assert_eq!(
            &connack(Version::V4, Refusal::BadLogin)[..],
            &[0x20, 0x02, 0x00, 0x04]
        );
        assert_eq!(
            &connack(Version::V4, Refusal::NotAuthorized)[..],
            &[0x20, 0x02, 0x00, 0x05]
        );
        assert_eq!(
            &connack(Version::V5, Refusal::BadLogin)[..],
            &[0x20, 0x03, 0x00, 0x86, 0x00]
        );
        assert_eq!(
            &connack(Version::V5, Refusal::NotAuthorized)[..],
            &[0x20, 0x03, 0x00, 0x87, 0x00]
        );
        assert_eq!(
            &connack(Version::V5, Refusal::BadVersion)[..],
            &[0x20, 0x03, 0x00, 0x84, 0x00]
        );
    }

    #[test]
    fn protocol_level_of_a_connect() {
        let mut out = BytesMut::new();
        v4::Connect::new("c1").write(&mut out).expect("write");
        assert_eq!(protocol_level(&out), Some(4));
        out.clear();
        v5::Connect {
            keep_alive: 10,
            client_id: "c1".into(),
            clean_start: true,
            properties: None,
        }
        .write(&None, &None, &mut out)
        .expect("write");
        assert_eq!(protocol_level(&out), Some(5));
        assert_eq!(protocol_level(&[0x10, 0x01]), None);
    }
}
