//! State changes (every method but GET, HEAD and OPTIONS) need an Origin, or
//! else a Referer, of the app's own host; without either, a valid bearer token.

use super::app::{OPERATOR, open, with_tokens};
use crate::support::{Response, request_with};
use std::net::SocketAddr;

async fn ack(addr: SocketAddr, id: u64, headers: &[(&str, &str)]) -> anyhow::Result<Response> {
    request_with(addr, "POST", &format!("/api/alerts/{id}/ack"), headers, "").await
}

fn refused(resp: &Response, why: &str) -> anyhow::Result<()> {
    assert_eq!(resp.status, 403, "{}", resp.text()?);
    assert!(
        resp.header("content-type")
            .is_some_and(|c| c.starts_with("text/plain")),
        "a plain reason: {:?}",
        resp.header("content-type")
    );
    assert!(resp.text()?.contains(why), "{}", resp.text()?);
    Ok(())
}

/// Regression: with open access any page the browser showed could
/// acknowledge alerts (a cross-site form POST to 127.0.0.1).
#[tokio::test]
async fn an_open_app_refuses_changes_from_other_sites() -> anyhow::Result<()> {
    let app = open().await?;
    let id = app.over_capacity_alert().await?;
    for headers in [
        [("Origin", "http://evil.example")],
        [("Origin", "null")],
        // Another port of the same host is another origin (but the same site).
        [("Origin", "http://127.0.0.1:1")],
        [("Referer", "http://evil.example/page")],
    ] {
        refused(&ack(app.addr, id, &headers).await?, "not this host")?;
    }
    // Neither Origin nor Referer, no bearer token: not shown to come from a page of the app.
    refused(&ack(app.addr, id, &[]).await?, "Origin or Referer")?;
    let alerts = crate::support::get(app.addr, "/api/alerts").await?.json()?;
    assert_eq!(alerts["alerts"][0]["acked_by"], serde_json::Value::Null);

    // The app's own page.
    let origin = app.origin();
    let resp = ack(app.addr, id, &[("Origin", &origin)]).await?;
    assert_eq!(resp.status, 200, "{}", resp.text()?);
    assert_eq!(resp.json()?["acked_by"], "anonymous");
    let referer = format!("{origin}/?lang=en");
    assert_eq!(
        ack(app.addr, id, &[("Referer", &referer)]).await?.status,
        200
    );
    // A client that is not a browser: any bearer token with open access.
    let resp = ack(app.addr, id, &[("Authorization", "Bearer curl")]).await?;
    assert_eq!(resp.status, 200, "{}", resp.text()?);
    Ok(())
}

/// Regression: the login cookie alone authorised a change, whatever page
/// sent it (SameSite=Strict does not separate ports of one host).
#[tokio::test]
async fn cookie_changes_need_this_origin_bearer_ones_do_not() -> anyhow::Result<()> {
    let app = with_tokens().await?;
    let id = app.over_capacity_alert().await?;
    let cookie = format!("doorstep_token={OPERATOR}");
    let bearer = format!("Bearer {OPERATOR}");
    refused(
        &ack(app.addr, id, &[("Cookie", &cookie)]).await?,
        "Origin or Referer",
    )?;
    refused(
        &ack(
            app.addr,
            id,
            &[("Cookie", &cookie), ("Origin", "http://127.0.0.1:1")],
        )
        .await?,
        "not this host",
    )?;
    refused(
        &ack(
            app.addr,
            id,
            &[("Cookie", &cookie), ("Referer", "http://evil.example/")],
        )
        .await?,
        "not this host",
    )?;
    // A wrong bearer token proves nothing; a right one with another page's Origin neither.
    refused(
        &ack(
            app.addr,
            id,
            &[("Authorization", "Bearer wrong-token-0000000")],
        )
        .await?,
        "Origin or Referer",
    )?;
    refused(
        &ack(
            app.addr,
            id,
            &[
                ("Authorization", &bearer),
                ("Origin", "http://evil.example"),
            ],
        )
        .await?,
        "not this host",
    )?;

    let origin = app.origin();
    let resp = ack(app.addr, id, &[("Cookie", &cookie), ("Origin", &origin)]).await?;
    assert_eq!(resp.status, 200, "{}", resp.text()?);
    let referer = format!("{origin}/");
    let resp = ack(app.addr, id, &[("Cookie", &cookie), ("Referer", &referer)]).await?;
    assert_eq!(resp.status, 200, "{}", resp.text()?);
    let resp = ack(app.addr, id, &[("Authorization", &bearer)]).await?;
    assert_eq!(resp.status, 200, "{}", resp.text()?);
    // Past the guard, the handler still decides.
    let resp = ack(app.addr, 99_999, &[("Authorization", &bearer)]).await?;
    assert_eq!(resp.status, 404);
    Ok(())
}

/// Regression: another site could log a browser in (with the attacker's
/// token) or out: both change state.
#[tokio::test]
async fn login_and_logout_need_this_origin() -> anyhow::Result<()> {
    let app = with_tokens().await?;
    let form = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Origin", "http://evil.example"),
    ];
    let body = format!("token={OPERATOR}&next=%2F");
    let resp = request_with(app.addr, "POST", "/login", &form, &body).await?;
    refused(&resp, "not this host")?;
    assert_eq!(resp.header("set-cookie"), None);
    let resp = request_with(app.addr, "POST", "/logout", &form[1..], "").await?;
    refused(&resp, "not this host")?;
    assert_eq!(resp.header("set-cookie"), None);

    let origin = app.origin();
    let resp = request_with(app.addr, "POST", "/logout", &[("Origin", &origin)], "").await?;
    assert_eq!(resp.status, 303);
    assert!(
        resp.header("set-cookie")
            .is_some_and(|c| c.contains("Max-Age=0")),
        "{:?}",
        resp.header("set-cookie")
    );
    // GET /logout only shows the button.
    let resp = request_with(app.addr, "GET", "/logout", &[], "").await?;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("set-cookie"), None);
    assert!(
        resp.text()?
            .contains(r#"<form method="post" action="/logout""#)
    );
    Ok(())
}
