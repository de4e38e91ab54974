//! `POST /login` sends the browser on to `next` only when it is a local path.

use super::app::{OPERATOR, with_tokens};
use crate::support::{get, request_with};

/// Regression: `next=/%09/evil.example` redirected off-site (a browser drops
/// the tab and reads `//evil.example`, another host).
#[tokio::test]
async fn login_redirects_only_to_local_paths() -> anyhow::Result<()> {
    let app = with_tokens().await?;
    let origin = app.origin();
    for (next, to) in [
        ("%2Fmanager%3Fsite%3D-1", "/manager?site=-1"),
        ("/%09/evil.example", "/"),
        ("/%0A/evil.example", "/"),
        ("/%5Cevil.example", "/"),
        ("//evil.example", "/"),
        ("/%2509/evil.example", "/"),
        ("/%252F/evil.example", "/"),
        ("%2F+%2Fevil.example", "/"),
        ("https://evil.example", "/"),
    ] {
        let resp = request_with(
            app.addr,
            "POST",
            "/login",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Origin", &origin),
            ],
            &format!("token={OPERATOR}&next={next}"),
        )
        .await?;
        assert_eq!(resp.status, 303, "next={next}");
        assert_eq!(resp.header("location"), Some(to), "next={next}");
        assert!(
            resp.header("set-cookie")
                .is_some_and(|c| c.starts_with("doorstep_token=")),
            "still logged in"
        );
    }
    // The form does not carry a bad `next` either.
    let page = get(app.addr, "/login?next=/%09/evil.example").await?;
    assert!(
        page.text()?.contains(r#"name="next" value="/">"#),
        "{}",
        page.text()?
    );
    Ok(())
}
