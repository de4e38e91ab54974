//! HTTP from the tests, through `ureq`: statuses are returned, not turned
//! into errors, and redirects are not followed, so a test sees exactly what
//! the server answered.

use std::net::SocketAddr;
use std::time::Duration;
use ureq::http;

/// An answer: status, header lines (`name: value`, names in lower case) and body.
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: String,
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .allow_non_standard_methods(true)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

/// Sends one request to `http://{addr}{path}`; `None` when nothing answers.
pub fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
    timeout: Duration,
) -> Option<Answer> {
    let mut request = http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let agent = agent(timeout);
    let response = if body.is_empty() {
        agent.run(request.body(()).ok()?)
    } else {
        agent.run(request.body(body).ok()?)
    };
    let mut response = response.ok()?;
    let status = response.status().as_u16();
    let mut head = String::new();
    for (name, value) in response.headers() {
        head.push_str(&format!(
            "{name}: {}\r\n",
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    let body = response
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_string()
        .ok()?;
    Some(Answer { status, head, body })
}

/// GET; returns (status, body), or `None` when nothing answers within 5 s.
pub fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let a = send(addr, "GET", path, &[], "", Duration::from_secs(5))?;
    Some((a.status, a.body))
}
