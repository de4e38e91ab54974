//! An open app answers only to loopback names (DNS rebinding); with tokens
//! any Host is served, and the Origin must still be that Host.

use super::app::{OPERATOR, open, with_tokens};
use crate::support::request_with;

/// Regression: an open app answered any Host, so a page whose name was
/// rebound to 127.0.0.1 could read it as its own origin.
#[tokio::test]
async fn an_open_app_answers_only_loopback_names() -> anyhow::Result<()> {
    let app = open().await?;
    let port = app.addr.port();
    for host in [
        "evil.example".to_owned(),
        format!("evil.example:{port}"),
        format!("localhost.evil.example:{port}"),
        format!("10.0.0.1:{port}"),
    ] {
        for path in ["/api/live", "/", "/metrics"] {
            let resp = request_with(app.addr, "GET", path, &[("Host", &host)], "").await?;
            assert_eq!(resp.status, 421, "{host} {path}");
            assert!(resp.text()?.contains("localhost"), "{}", resp.text()?);
        }
    }
    for host in [
        format!("localhost:{port}"),
        format!("LocalHost:{port}"),
        "127.0.0.1".to_owned(),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
    ] {
        let resp = request_with(app.addr, "GET", "/api/live", &[("Host", &host)], "").await?;
        assert_eq!(resp.status, 200, "{host}");
    }
    Ok(())
}

#[tokio::test]
async fn with_tokens_any_host_but_the_origin_must_be_it() -> anyhow::Result<()> {
    let app = with_tokens().await?;
    let bearer = format!("Bearer {OPERATOR}");
    let cookie = format!("doorstep_token={OPERATOR}");
    let host = ("Host", "doorstep.example");
    let resp = request_with(
        app.addr,
        "GET",
        "/api/live",
        &[host, ("Authorization", &bearer)],
        "",
    )
    .await?;
    assert_eq!(resp.status, 200);
    // Behind a TLS proxy: https and the default port.
    let resp = request_with(
        app.addr,
        "POST",
        "/api/alerts/99999/ack",
        &[
            host,
            ("Cookie", &cookie),
            ("Origin", "https://doorstep.example"),
        ],
        "",
    )
    .await?;
    assert_eq!(resp.status, 404, "past the guard: {}", resp.text()?);
    let resp = request_with(
        app.addr,
        "POST",
        "/api/alerts/99999/ack",
        &[host, ("Cookie", &cookie), ("Origin", &app.origin())],
        "",
    )
    .await?;
    assert_eq!(resp.status, 403, "{}", resp.text()?);
    Ok(())
}
