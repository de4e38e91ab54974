//! A tiny HTTP/1.1 client over `TcpStream`, enough for GET and Server-Sent Events.
//!
//! It uses `readable`/`try_read` rather than `AsyncReadExt`, which needs a
//! tokio feature (`io-util`) the workspace does not enable.

use anyhow::{Context, bail};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::timeout;

/// A whole response.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A header value by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> anyhow::Result<&str> {
        std::str::from_utf8(&self.body).context("body is not UTF-8")
    }

    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_slice(&self.body).context("body is not JSON")
    }
}

/// Sends `method path` and reads the response until the server closes.
pub async fn request(addr: SocketAddr, method: &str, path: &str) -> anyhow::Result<Response> {
    request_with(addr, method, path, &[], "").await
}

/// Sends `method path` with extra `headers` (a `Host` among them replaces
/// the default, the server's address) and `body`, and reads the response.
pub async fn request_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> anyhow::Result<Response> {
    let stream = TcpStream::connect(addr).await?;
    let mut req = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    req.push_str(&format!(
        "Connection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    write_all(&stream, req.as_bytes()).await?;
    let mut raw = Vec::new();
    timeout(Duration::from_secs(5), read_to_end(&stream, &mut raw))
        .await
        .context("response timed out")??;
    let head_end = find(&raw, b"\r\n\r\n").context("no end of headers")?;
    let (status, headers) = parse_head(&raw[..head_end])?;
    let rest = raw[head_end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        let mut d = Dechunker::default();
        d.push(&rest)?;
        d.body
    } else {
        rest
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

pub async fn get(addr: SocketAddr, path: &str) -> anyhow::Result<Response> {
    request(addr, "GET", path).await
}

async fn write_all(stream: &TcpStream, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        stream.writable().await?;
        match stream.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads some bytes; 0 means the peer closed.
async fn read(stream: &TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        stream.readable().await?;
        match stream.try_read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}

async fn read_to_end(stream: &TcpStream, out: &mut Vec<u8>) -> std::io::Result<()> {
    let mut buf = [0u8; 8192];
    loop {
        match read(stream, &mut buf).await? {
            0 => return Ok(()),
            n => out.extend_from_slice(&buf[..n]),
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_head(head: &[u8]) -> anyhow::Result<(u16, Vec<(String, String)>)> {
    let head = std::str::from_utf8(head)?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().context("no status line")?;
    let status = status_line
        .split(' ')
        .nth(1)
        .context("no status code")?
        .parse()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Ok((status, headers))
}

/// Decodes `Transfer-Encoding: chunked` incrementally.
#[derive(Default)]
struct Dechunker {
    raw: Vec<u8>,
    body: Vec<u8>,
    done: bool,
}

impl Dechunker {
    fn push(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.raw.extend_from_slice(bytes);
        while !self.done {
            let Some(line_end) = find(&self.raw, b"\r\n") else {
                break;
            };
            let size_text = std::str::from_utf8(&self.raw[..line_end])?;
            let size_text = size_text.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16)
                .with_context(|| format!("bad chunk size {size_text:?}"))?;
            if size == 0 {
                self.done = true;
                break;
            }
            let need = line_end + 2 + size + 2;
            if self.raw.len() < need {
                break;
            }
            self.body
                .extend_from_slice(&self.raw[line_end + 2..line_end + 2 + size]);
            self.raw.drain(..need);
        }
        Ok(())
    }
}

/// One Server-Sent Event with data.
#[derive(Debug)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
}

/// An open `text/event-stream` response.
pub struct EventStream {
    headers: Vec<(String, String)>,
    stream: TcpStream,
    chunks: Dechunker,
    /// Decoded body not yet parsed into events.
    pending: String,
}

impl EventStream {
    /// Opens `path` and reads the response headers.
    pub async fn open(addr: SocketAddr, path: &str) -> anyhow::Result<EventStream> {
        let stream = TcpStream::connect(addr).await?;
        let req =
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n");
        write_all(&stream, req.as_bytes()).await?;
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        let head_end = loop {
            if let Some(i) = find(&raw, b"\r\n\r\n") {
                break i;
            }
            let n = timeout(Duration::from_secs(5), read(&stream, &mut buf))
                .await
                .context("no response headers")??;
            if n == 0 {
                bail!("closed before headers");
            }
            raw.extend_from_slice(&buf[..n]);
        };
        let (status, headers) = parse_head(&raw[..head_end])?;
        if status != 200 {
            bail!("status {status}");
        }
        let ctype = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        if !ctype.starts_with("text/event-stream") {
            bail!("content-type {ctype:?}");
        }
        let mut chunks = Dechunker::default();
        chunks.push(&raw[head_end + 4..])?;
        Ok(EventStream {
            headers,
            stream,
            chunks,
            pending: String::new(),
        })
    }

    /// A response header value by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The next event with data, or `None` when the server ended the stream.
    pub async fn next(&mut self, within: Duration) -> anyhow::Result<Option<SseEvent>> {
        let deadline = tokio::time::Instant::now() + within;
        let mut buf = [0u8; 4096];
        loop {
            self.pending
                .push_str(std::str::from_utf8(&self.chunks.body).context("event not UTF-8")?);
            self.chunks.body.clear();
            while let Some(i) = self.pending.find("\n\n") {
                let block: String = self.pending.drain(..i + 2).collect();
                if let Some(ev) = parse_event(&block) {
                    return Ok(Some(ev));
                }
            }
            if self.chunks.done {
                return Ok(None);
            }
            let n = tokio::time::timeout_at(deadline, read(&self.stream, &mut buf))
                .await
                .context("no event in time")??;
            if n == 0 {
                return Ok(None);
            }
            self.chunks.push(&buf[..n])?;
        }
    }
}

fn parse_event(block: &str) -> Option<SseEvent> {
    let mut event = None;
    let mut data: Option<String> = None;
    for line in block.lines() {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => event = Some(value.to_string()),
            "data" => match &mut data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => data = Some(value.to_string()),
            },
            _ => {}
        }
    }
    data.map(|data| SseEvent { event, data })
}
