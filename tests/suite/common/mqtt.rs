//! A tiny blocking MQTT 3.1.1 device written byte by byte, for tests that must
//! know exactly what was sent and what was acknowledged (no client library
//! resending on its own after a reconnect).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// The remaining-length encoding of MQTT.
fn remaining(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let b = (n % 128) as u8;
        n /= 128;
        out.push(if n > 0 { b | 0x80 } else { b });
        if n == 0 {
            return;
        }
    }
}

fn string(s: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s);
}

/// A CONNECT packet (clean session, keep-alive 30 s).
pub fn connect_packet(client_id: &str, login: Option<(&str, &str)>) -> Vec<u8> {
    let mut body = Vec::new();
    string(b"MQTT", &mut body);
    body.push(4);
    body.push(0x02 | if login.is_some() { 0xc0 } else { 0 });
    body.extend_from_slice(&30u16.to_be_bytes());
    string(client_id.as_bytes(), &mut body);
    if let Some((user, password)) = login {
        string(user.as_bytes(), &mut body);
        string(password.as_bytes(), &mut body);
    }
    let mut out = vec![0x10];
    remaining(body.len(), &mut out);
    out.extend(body);
    out
}

/// A PUBLISH packet.
pub fn publish_packet(topic: &str, payload: &[u8], qos: u8, pkid: u16) -> Vec<u8> {
    let mut body = Vec::with_capacity(payload.len() + topic.len() + 4);
    string(topic.as_bytes(), &mut body);
    if qos > 0 {
        body.extend_from_slice(&pkid.to_be_bytes());
    }
    body.extend_from_slice(payload);
    let mut out = vec![0x30 | (qos << 1)];
    remaining(body.len(), &mut out);
    out.extend(body);
    out
}

/// One device connection.
pub struct Device {
    pub stream: TcpStream,
    buf: Vec<u8>,
    next_pkid: u16,
}

impl Device {
    /// Connects and waits for a CONNACK that accepts.
    pub fn connect(port: u16, client_id: &str, login: Option<(&str, &str)>) -> io::Result<Device> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut d = Device {
            stream,
            buf: Vec::new(),
            next_pkid: 0,
        };
        d.stream.write_all(&connect_packet(client_id, login))?;
        let ack = d.packet()?;
        if ack.len() == 4 && ack[0] == 0x20 && ack[3] == 0 {
            Ok(d)
        } else {
            Err(io::Error::other(format!("refused: {ack:?}")))
        }
    }

    /// Sends a PUBLISH; returns its packet id.
    pub fn publish(&mut self, topic: &str, payload: &[u8], qos: u8) -> io::Result<u16> {
        self.next_pkid = self.next_pkid % u16::MAX + 1;
        self.stream
            .write_all(&publish_packet(topic, payload, qos, self.next_pkid))?;
        Ok(self.next_pkid)
    }

    /// The next whole packet from the broker.
    pub fn packet(&mut self) -> io::Result<Vec<u8>> {
        loop {
            let mut len = 0usize;
            for i in 1..self.buf.len().min(5) {
                len |= usize::from(self.buf[i] & 0x7f) << (7 * (i - 1));
                if self.buf[i] & 0x80 == 0 {
                    if self.buf.len() > i + len {
                        return Ok(self.buf.drain(..i + 1 + len).collect());
                    }
                    break;
                }
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed"));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Publishes with QoS 1 and waits for its PUBACK: `Ok` only when acknowledged.
    pub fn publish_acked(&mut self, topic: &str, payload: &[u8]) -> io::Result<()> {
        let pkid = self.publish(topic, payload, 1)?;
        loop {
            let p = self.packet()?;
            if p[0] == 0x40 && p.len() == 4 && u16::from_be_bytes([p[2], p[3]]) == pkid {
                return Ok(());
            }
        }
    }
}
