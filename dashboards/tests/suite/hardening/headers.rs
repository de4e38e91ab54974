//! The security headers on every answer, and pages that keep to the
//! Content-Security-Policy (nothing inline that it would block).

use super::app::{MONDAY_10H_MS, open};
use crate::support::{EventStream, get, request_with};
use anyhow::Context;
use devices::{LiveRoom, RoomIdx};
use std::time::Duration;

fn check(what: &str, header: impl Fn(&str) -> Option<String>) {
    assert_eq!(header("x-frame-options").as_deref(), Some("DENY"), "{what}");
    assert_eq!(
        header("x-content-type-options").as_deref(),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(
        header("referrer-policy").as_deref(),
        Some("same-origin"),
        "{what}"
    );
    let csp = header("content-security-policy").unwrap_or_default();
    let directives: Vec<&str> = csp.split(';').map(str::trim).collect();
    for needed in ["default-src 'self'", "frame-ancestors 'none'"] {
        assert!(directives.contains(&needed), "{what}: {csp:?}");
    }
    assert!(
        !csp.contains("unsafe") && !csp.contains('*') && !csp.contains("http"),
        "{what}: {csp:?}"
    );
}

/// Regression: answers had no X-Frame-Options, X-Content-Type-Options,
/// Referrer-Policy or Content-Security-Policy (clickjacking, sniffing).
#[tokio::test]
async fn every_answer_carries_the_security_headers() -> anyhow::Result<()> {
    let app = open().await?;
    for (method, path, host) in [
        ("GET", "/", None),
        ("GET", "/manager", None),
        ("GET", "/evaluator", None),
        ("GET", "/login", None),
        ("GET", "/logout", None),
        ("GET", "/api/live", None),
        ("GET", "/api/alerts", None),
        ("GET", "/api/manager/rooms?format=csv", None),
        ("GET", "/api/openapi.json", None),
        ("GET", "/assets/live.js", None),
        ("GET", "/healthz", None),
        ("GET", "/metrics", None),
        ("GET", "/api/nope", None),
        ("POST", "/api/live", None),
        // The guard's refusals.
        ("POST", "/api/alerts/1/ack", None),
        ("GET", "/api/live", Some("evil.example")),
    ] {
        let headers: Vec<(&str, &str)> = host.map(|h| ("Host", h)).into_iter().collect();
        let resp = request_with(app.addr, method, path, &headers, "").await?;
        check(&format!("{method} {path} ({})", resp.status), |n| {
            resp.header(n).map(str::to_owned)
        });
    }
    // The event stream too, and it still streams.
    let mut events = EventStream::open(app.addr, "/api/live/events").await?;
    check("the event stream", |n| events.header(n).map(str::to_owned));
    app.board.update(LiveRoom {
        room: RoomIdx(0),
        occupancy: Some(3),
        updated_ms: MONDAY_10H_MS,
        valid_until: Some(MONDAY_10H_MS / 1000 + 900),
        idle_since_ms: None,
        over_capacity_since_ms: None,
    });
    let ev = events
        .next(Duration::from_secs(2))
        .await?
        .context("stream ended")?;
    assert_eq!(ev.event, None);
    assert!(ev.data.contains(r#""occupancy":3"#), "{}", ev.data);
    Ok(())
}

/// Every `src` and stylesheet `href` of a page: same-origin paths.
fn resources(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attr in ["src=\"", "<link rel=\"stylesheet\" href=\""] {
        for (i, _) in html.match_indices(attr) {
            let rest = &html[i + attr.len()..];
            found.push(rest[..rest.find('"').unwrap_or(0)].to_owned());
        }
    }
    found
}

/// Regression: pages had inline `<style>`, `<script>` and `style`
/// attributes, which a policy of `'self'` blocks (so the policy could not
/// be set without breaking them).
#[tokio::test]
async fn pages_have_nothing_inline_that_the_policy_blocks() -> anyhow::Result<()> {
    let app = open().await?;
    for path in ["/", "/manager", "/evaluator", "/login", "/logout"] {
        let resp = get(app.addr, path).await?;
        assert_eq!(resp.status, 200, "{path}");
        let html = resp.text()?;
        for inline in ["<style", "<script>", " style=\"", "javascript:"] {
            assert!(!html.contains(inline), "{path} has {inline:?}");
        }
        // No event handler attributes (onclick=, onload=, ...).
        assert!(
            !html
                .split(|c: char| c.is_whitespace())
                .any(|w| w.starts_with("on") && w.contains('=')),
            "{path} has an event handler attribute"
        );
        for url in resources(html) {
            assert!(
                url.starts_with('/') && !url.starts_with("//"),
                "{path}: {url}"
            );
            let asset = get(app.addr, &url).await?;
            assert_eq!(asset.status, 200, "{path}: {url}");
            let kind = asset.header("content-type").unwrap_or_default();
            assert!(
                kind.starts_with("text/css") || kind.starts_with("text/javascript"),
                "{url}: {kind}"
            );
        }
    }
    Ok(())
}
