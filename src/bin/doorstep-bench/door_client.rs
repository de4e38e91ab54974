//! The door bench's MQTT 3.1.1 publisher, byte by byte: clean session, QoS 1,
//! at most [`WINDOW`] PUBLISHes unacknowledged per connection, each PUBACK timed.

use devices::sim::Publish;
use std::sync::Mutex;
use std::time::Instant;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// PUBLISHes a connection keeps unacknowledged.
pub const WINDOW: usize = 100;
/// Keep-alive the clients ask for, seconds.
const KEEP_ALIVE_S: u16 = 60;

/// One PUBLISH (QoS 1), encoded; its packet id is written in at `pkid_at` when sent.
pub struct Packet {
    pub bytes: Vec<u8>,
    pub pkid_at: usize,
}

fn push_length(buf: &mut Vec<u8>, mut n: usize) {
    loop {
        let byte = (n % 128) as u8;
        n /= 128;
        if n == 0 {
            buf.push(byte);
            return;
        }
        buf.push(byte | 0x80);
    }
}

fn push_str(buf: &mut Vec<u8>, s: &[u8]) {
    buf.extend_from_slice(&(s.len() as u16).to_be_bytes());
    buf.extend_from_slice(s);
}

/// CONNECT, MQTT 3.1.1, clean session, no login.
fn connect_packet(client_id: &str) -> Vec<u8> {
    let mut body = Vec::new();
    push_str(&mut body, b"MQTT");
    body.push(4);
    body.push(0x02);
    body.extend_from_slice(&KEEP_ALIVE_S.to_be_bytes());
    push_str(&mut body, client_id.as_bytes());
    let mut p = vec![0x10];
    push_length(&mut p, body.len());
    p.extend_from_slice(&body);
    p
}

/// PUBLISH with QoS 1, packet id 0 until sent.
pub fn publish_packet(m: &Publish) -> Packet {
    let rest = 2 + m.topic.len() + 2 + m.payload.len();
    let mut bytes = Vec::with_capacity(rest + 5);
    bytes.push(0x32);
    push_length(&mut bytes, rest);
    push_str(&mut bytes, m.topic.as_bytes());
    let pkid_at = bytes.len();
    bytes.extend_from_slice(&[0, 0]);
    bytes.extend_from_slice(&m.payload);
    Packet { bytes, pkid_at }
}

/// The type byte, header length and whole length of the packet at the start of `buf`,
/// once all of it is there.
fn frame(buf: &[u8]) -> anyhow::Result<Option<(u8, usize, usize)>> {
    let (mut len, mut shift) = (0usize, 0);
    for (i, b) in buf.iter().enumerate().skip(1).take(4) {
        len += usize::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            let total = i + 1 + len;
            return Ok((buf.len() >= total).then_some((buf[0], i + 1, total)));
        }
    }
    anyhow::ensure!(buf.len() < 5, "a malformed packet length from the broker");
    Ok(None)
}

async fn write_all(s: &TcpStream, mut buf: &[u8]) -> std::io::Result<()> {
    while !buf.is_empty() {
        s.writable().await?;
        match s.try_write(buf) {
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads what is there into `buf`; 0 at the end of the stream.
async fn read_more(s: &TcpStream, buf: &mut Vec<u8>, chunk: &mut [u8]) -> std::io::Result<usize> {
    loop {
        s.readable().await?;
        match s.try_read(chunk) {
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(n);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}

/// Connects as `client_id` and waits for the CONNACK.
pub async fn connect(port: u16, client_id: &str) -> anyhow::Result<TcpStream> {
    let s = TcpStream::connect(("127.0.0.1", port)).await?;
    s.set_nodelay(true)?;
    write_all(&s, &connect_packet(client_id)).await?;
    let (mut buf, mut chunk) = (Vec::new(), vec![0; 64]);
    while buf.len() < 4 {
        anyhow::ensure!(
            read_more(&s, &mut buf, &mut chunk).await? > 0,
            "{client_id}: the broker closed the connection before its CONNACK"
        );
    }
    anyhow::ensure!(
        buf[0] == 0x20 && buf[3] == 0,
        "{client_id}: the broker refused the connection (CONNACK {:02x?})",
        &buf[..4]
    );
    Ok(s)
}

/// Publishes `packets` on `s` with at most [`WINDOW`] unacknowledged; returns when
/// every one has its PUBACK: when that was, and each one's latency in µs.
pub async fn drive(
    s: TcpStream,
    client_id: String,
    mut packets: Vec<Packet>,
) -> anyhow::Result<(Instant, Vec<u32>)> {
    let n = packets.len();
    let window = Semaphore::new(WINDOW);
    // By packet id: when its PUBLISH was written.
    let sent_at: Mutex<Vec<Option<Instant>>> = Mutex::new(vec![None; 1 << 16]);
    let lock = || sent_at.lock().map_err(|_| anyhow::anyhow!("lock"));
    let writer = async {
        let mut buf = Vec::with_capacity(WINDOW * 256);
        let mut next = 0;
        while next < n {
            window.acquire().await?.forget();
            let mut k = 1;
            while k < WINDOW && next + k < n {
                match window.try_acquire() {
                    Ok(p) => p.forget(),
                    Err(_) => break,
                }
                k += 1;
            }
            buf.clear();
            let now = Instant::now();
            {
                let mut sent_at = lock()?;
                for (j, p) in packets[next..next + k].iter_mut().enumerate() {
                    // 1..=65535; with 100 in flight an id comes round again long after its PUBACK.
                    let pkid = ((next + j) % 65_535 + 1) as u16;
                    p.bytes[p.pkid_at..p.pkid_at + 2].copy_from_slice(&pkid.to_be_bytes());
                    buf.extend_from_slice(&p.bytes);
                    sent_at[usize::from(pkid)] = Some(now);
                }
            }
            write_all(&s, &buf).await?;
            next += k;
        }
        anyhow::Ok(())
    };
    let reader = async {
        let (mut buf, mut chunk) = (Vec::with_capacity(1 << 16), vec![0; 1 << 16]);
        let mut latencies = Vec::with_capacity(n);
        let mut last = Instant::now();
        while latencies.len() < n {
            anyhow::ensure!(
                read_more(&s, &mut buf, &mut chunk).await? > 0,
                "{client_id}: the broker closed the connection after {} of {n} PUBACKs",
                latencies.len()
            );
            let now = Instant::now();
            let mut at = 0;
            while let Some((kind, head, total)) = frame(&buf[at..])? {
                if kind == 0x40 {
                    anyhow::ensure!(total - head == 2, "{client_id}: a malformed PUBACK");
                    let pkid = u16::from_be_bytes([buf[at + head], buf[at + head + 1]]);
                    let Some(t) = lock()?[usize::from(pkid)].take() else {
                        anyhow::bail!("{client_id}: a PUBACK for packet id {pkid}, not in flight");
                    };
                    latencies.push(u32::try_from(now.duration_since(t).as_micros())?);
                    last = now;
                    window.add_permits(1);
                }
                at += total;
            }
            buf.drain(..at);
        }
        anyhow::Ok((last, latencies))
    };
    let ((), done) = tokio::try_join!(writer, reader)?;
    write_all(&s, &[0xe0, 0x00]).await?;
    Ok(done)
}
