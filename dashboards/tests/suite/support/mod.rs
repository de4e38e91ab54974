//! HTTP from the tests through `reqwest` (already in the tree through the
//! InfluxDB client): whole responses, and Server-Sent Events read chunk by chunk.

use anyhow::{Context, bail};
use reqwest::header::HeaderMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::timeout;

/// A whole response.
pub struct Response {
    pub status: u16,
    headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    /// A header value by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn text(&self) -> anyhow::Result<&str> {
        std::str::from_utf8(&self.body).context("body is not UTF-8")
    }

    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_slice(&self.body).context("body is not JSON")
    }
}

fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()?)
}

/// Sends `method path` with extra `headers` and `body`, and reads the whole response.
pub async fn request_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> anyhow::Result<Response> {
    let method = reqwest::Method::from_bytes(method.as_bytes())?;
    let mut req = client()?
        .request(method, format!("http://{addr}{path}"))
        .timeout(Duration::from_secs(5));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    if !body.is_empty() {
        req = req.body(body.to_owned());
    }
    let resp = req.send().await.context("request")?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.context("response body")?.to_vec();
    Ok(Response {
        status,
        headers,
        body,
    })
}

pub async fn get(addr: SocketAddr, path: &str) -> anyhow::Result<Response> {
    request_with(addr, "GET", path, &[], "").await
}

/// One Server-Sent Event with data.
#[derive(Debug)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
}

/// An open `text/event-stream` response.
pub struct EventStream {
    response: reqwest::Response,
    /// Body received and not yet parsed into events.
    pending: String,
    ended: bool,
}

impl EventStream {
    /// Opens `path` and checks the status and content type.
    pub async fn open(addr: SocketAddr, path: &str) -> anyhow::Result<EventStream> {
        let response = timeout(
            Duration::from_secs(5),
            client()?
                .get(format!("http://{addr}{path}"))
                .header("Accept", "text/event-stream")
                .send(),
        )
        .await
        .context("no response headers")??;
        if response.status() != 200 {
            bail!("status {}", response.status());
        }
        let ctype = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !ctype.starts_with("text/event-stream") {
            bail!("content-type {ctype:?}");
        }
        Ok(EventStream {
            response,
            pending: String::new(),
            ended: false,
        })
    }

    /// A response header value by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
    }

    /// The next event with data, or `None` when the server ended the stream.
    pub async fn next(&mut self, within: Duration) -> anyhow::Result<Option<SseEvent>> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            while let Some(i) = self.pending.find("\n\n") {
                let block: String = self.pending.drain(..i + 2).collect();
                if let Some(ev) = parse_event(&block) {
                    return Ok(Some(ev));
                }
            }
            if self.ended {
                return Ok(None);
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .context("no event in time")??;
            match chunk {
                Some(bytes) => self
                    .pending
                    .push_str(std::str::from_utf8(&bytes).context("event not UTF-8")?),
                None => self.ended = true,
            }
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
