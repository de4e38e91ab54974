//! Cutting the client's byte stream into MQTT packets, and reading just the
//! head of a PUBLISH too large to hold (its topic, packet id and first bytes),
//! so that the rest can be skipped as it arrives.

use super::Version;
use super::violation::Violation;
use bytes::Bytes;

/// Length of the first whole packet in `buf`, `None` while more bytes are needed.
pub(super) fn frame_len(buf: &[u8], max: usize) -> Result<Option<usize>, Violation> {
    match remaining_length(buf)? {
        None => Ok(None),
        Some((remaining, _)) if remaining > max => Err(Violation::TooLarge),
        Some((remaining, header)) => {
            let total = header + remaining;
            Ok((buf.len() >= total).then_some(total))
        }
    }
}

/// The remaining length and the size of the fixed header.
fn remaining_length(buf: &[u8]) -> Result<Option<(usize, usize)>, Violation> {
    let mut remaining = 0usize;
    for i in 0..4 {
        let Some(&b) = buf.get(1 + i) else {
            return Ok(None);
        };
        remaining |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(Some((remaining, 2 + i)));
        }
    }
    Err(Violation::Protocol("malformed remaining length".into()))
}

/// The head of a PUBLISH.
#[derive(Debug)]
pub(super) struct Head {
    pub topic: String,
    /// MQTT 5 topic alias.
    pub alias: Option<u16>,
    pub qos: u8,
    pub pkid: u16,
    pub payload_len: usize,
    /// The payload's first bytes.
    pub first_bytes: Bytes,
    /// The whole packet's length.
    pub total: usize,
}

/// Reads the head of the PUBLISH at the start of `buf` and up to `keep` bytes of
/// its payload; `None` while more bytes are needed for that.
pub(super) fn publish_head(
    buf: &[u8],
    version: Version,
    keep: usize,
) -> Result<Option<Head>, Violation> {
    let bad = |what: &str| Violation::Protocol(format!("malformed PUBLISH ({what})"));
    let Some((remaining, header)) = remaining_length(buf)? else {
        return Ok(None);
    };
    let qos = (buf[0] >> 1) & 3;
    if qos == 3 {
        return Err(bad("QoS 3"));
    }
    let total = header + remaining;
    let mut at = header;
    let Some(topic_len) = be16(buf, at) else {
        return Ok(None);
    };
    at += 2;
    let Some(topic) = buf.get(at..at + usize::from(topic_len)) else {
        return Ok(None);
    };
    let topic = std::str::from_utf8(topic)
        .map_err(|_| bad("topic not UTF-8"))?
        .to_owned();
    at += usize::from(topic_len);
    let pkid = if qos > 0 {
        let Some(p) = be16(buf, at) else {
            return Ok(None);
        };
        at += 2;
        p
    } else {
        0
    };
    let mut alias = None;
    if version == Version::V5 {
        let Some((len, used)) = varint(&buf[at.min(buf.len())..])? else {
            return Ok(None);
        };
        at += used;
        let Some(props) = buf.get(at..at + len) else {
            return Ok(None);
        };
        alias = topic_alias(props).ok_or_else(|| bad("properties"))?;
        at += len;
    }
    if at > total {
        return Err(bad("header longer than the packet"));
    }
    let payload_len = total - at;
    let kept = payload_len.min(keep);
    let Some(first) = buf.get(at..at + kept) else {
        return Ok(None);
    };
    Ok(Some(Head {
        topic,
        alias,
        qos,
        pkid,
        payload_len,
        first_bytes: Bytes::copy_from_slice(first),
        total,
    }))
}

fn be16(buf: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*buf.get(at)?, *buf.get(at + 1)?]))
}

/// A variable byte integer and how many bytes it took.
fn varint(buf: &[u8]) -> Result<Option<(usize, usize)>, Violation> {
    let mut value = 0usize;
    for i in 0..4 {
        let Some(&b) = buf.get(i) else {
            return Ok(None);
        };
        value |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(Some((value, i + 1)));
        }
    }
    Err(Violation::Protocol("malformed variable integer".into()))
}

/// The topic alias among a PUBLISH's properties (`None` when they cannot be read).
fn topic_alias(mut props: &[u8]) -> Option<Option<u16>> {
    let mut alias = None;
    while let Some((&id, rest)) = props.split_first() {
        props = rest;
        let skip = match id {
            0x01 => 1, // payload format
            0x02 => 4, // message expiry
            0x23 => {
                alias = Some(be16(props, 0)?);
                2
            }
            0x03 | 0x08 | 0x09 => 2 + usize::from(be16(props, 0)?), // content type, response topic, correlation
            0x26 => {
                let k = 2 + usize::from(be16(props, 0)?);
                k + 2 + usize::from(be16(props, k)?)
            }
            0x0b => varint(props).ok()??.1, // subscription identifier
            _ => return None,
        };
        props = props.get(skip..)?;
    }
    Some(alias)
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

    fn publish(qos: u8, topic: &str, payload_len: usize, v5_props: Option<&[u8]>) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&(topic.len() as u16).to_be_bytes());
        body.extend_from_slice(topic.as_bytes());
        if qos > 0 {
            body.extend_from_slice(&7u16.to_be_bytes());
        }
        if let Some(p) = v5_props {
            body.push(p.len() as u8);
            body.extend_from_slice(p);
        }
        body.extend((0..payload_len).map(|i| (i % 251) as u8));
        let mut out = vec![0x30 | (qos << 1)];
        let mut n = body.len();
        loop {
            let b = (n % 128) as u8;
            n /= 128;
            out.push(if n > 0 { b | 0x80 } else { b });
            if n == 0 {
                break;
            }
        }
        out.extend(body);
        out
    }

    #[test]
    fn the_head_of_a_large_publish_is_read_from_its_first_bytes() {
        let p = publish(1, "doorstep/v1/s/d", 200_000, None);
        let head = publish_head(&p[..2_000], Version::V4, 1024)
            .expect("valid")
            .expect("enough bytes");
        assert_eq!(head.topic, "doorstep/v1/s/d");
        assert_eq!((head.qos, head.pkid), (1, 7));
        assert_eq!(head.payload_len, 200_000);
        assert_eq!(head.first_bytes.len(), 1024);
        assert_eq!(head.total, p.len());
        assert!(
            publish_head(&p[..500], Version::V4, 1024)
                .expect("valid")
                .is_none()
        );
        // MQTT 5 with a topic alias and a user property, empty topic.
        let props = [0x23, 0x00, 0x05, 0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v'];
        let p = publish(0, "", 100, Some(&props));
        let head = publish_head(&p, Version::V5, 1024)
            .expect("valid")
            .expect("whole");
        assert_eq!(
            (head.alias, head.payload_len, head.first_bytes.len()),
            (Some(5), 100, 100)
        );
    }
}
