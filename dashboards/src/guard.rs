//! Which requests reach the handlers at all (axum middleware, before routing):
//!
//! - **Host** (open access only): without tokens the app serves loopback
//!   alone, and a page of another site could still reach it by DNS rebinding
//!   (its name, resolved again to 127.0.0.1). So the `Host` must be
//!   `localhost`, `127.0.0.1` or `[::1]` (any port) or the listen address;
//!   anything else is answered 421. With tokens any `Host` is served: a
//!   rebound name carries no login cookie.
//! - **Origin** (every method but GET, HEAD and OPTIONS): browsers send the
//!   cookie along with requests from other pages of the same site (another
//!   port of the same host is the same site, so SameSite=Strict does not stop
//!   them), and with open access there is no cookie to stop anything. So a
//!   state-changing request must name its page with an `Origin`, or without
//!   one a `Referer`, whose scheme (`http` or `https`), host and port are
//!   this request's `Host` (a `Host` without a port: the scheme's default).
//!   A request with neither is not from a browser's page; it passes only with
//!   an `Authorization: Bearer` token that is valid (with open access, any),
//!   which other pages cannot send without a CORS preflight this app never
//!   grants. Everything else is answered 403 with the reason.

use crate::auth::Access;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::Arc;

/// What the checks need to know.
#[derive(Debug)]
pub(crate) struct Guard {
    access: Arc<Access>,
    /// The listen address, when known (`serve`; not `router`).
    listen: Option<SocketAddr>,
}

impl Guard {
    pub(crate) fn new(access: Arc<Access>, listen: Option<SocketAddr>) -> Guard {
        Guard { access, listen }
    }

    fn admit(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Result<(), Refusal> {
        let host = host(uri, headers);
        if self.access.is_open() && !host.is_some_and(|h| self.loopback_host(h)) {
            return Err(Refusal::Host);
        }
        if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            return Ok(());
        }
        let host = host.ok_or(Refusal::Forbidden("request refused: no usable Host header"))?;
        if let Some(origin) = single(headers, header::ORIGIN)? {
            return if same_origin(origin, host, false) {
                Ok(())
            } else {
                Err(Refusal::Forbidden(
                    "cross-site request refused: the Origin is not this host",
                ))
            };
        }
        if let Some(referer) = single(headers, header::REFERER)? {
            return if same_origin(referer, host, true) {
                Ok(())
            } else {
                Err(Refusal::Forbidden(
                    "cross-site request refused: the Referer is not this host",
                ))
            };
        }
        if self.access.bearer_caller(headers).is_some() {
            return Ok(());
        }
        Err(Refusal::Forbidden(
            "request refused: a change needs an Origin or Referer of this host, or a valid Authorization: Bearer token",
        ))
    }

    /// `localhost`, `127.0.0.1`, `[::1]` with any port, or the listen address.
    fn loopback_host(&self, host: &str) -> bool {
        let Some((name, port)) = split_host_port(host) else {
            return false;
        };
        ["localhost", "127.0.0.1", "[::1]"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n))
            || self.listen.is_some_and(|l| {
                let ip = match l {
                    SocketAddr::V4(a) => a.ip().to_string(),
                    SocketAddr::V6(a) => format!("[{}]", a.ip()),
                };
                name.eq_ignore_ascii_case(&ip) && port.unwrap_or(80) == l.port()
            })
    }
}

/// Why a request is refused.
enum Refusal {
    /// Open access and a `Host` that is not loopback.
    Host,
    /// A state-changing request not shown to come from this app's pages.
    Forbidden(&'static str),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Host => (
                StatusCode::MISDIRECTED_REQUEST,
                "unknown Host: without access tokens this app answers only to localhost, 127.0.0.1, [::1] or its listen address",
            )
                .into_response(),
            Refusal::Forbidden(reason) => (StatusCode::FORBIDDEN, reason).into_response(),
        }
    }
}

/// The middleware.
pub(crate) async fn check(
    State(guard): State<Arc<Guard>>,
    request: Request,
    next: Next,
) -> Response {
    match guard.admit(request.method(), request.uri(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refusal) => {
            tracing::info!(
                method = %request.method(),
                path = request.uri().path(),
                host = ?request.headers().get(header::HOST),
                origin = ?request.headers().get(header::ORIGIN),
                referer = ?request.headers().get(header::REFERER),
                "request refused"
            );
            refusal.into_response()
        }
    }
}

/// The request's host: the `Host` header, which must agree with the target's
/// authority when the request line carries one (absolute form).
fn host<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> Option<&'a str> {
    let header = headers.get(header::HOST)?.to_str().ok()?;
    match uri.authority() {
        Some(a) if !a.as_str().eq_ignore_ascii_case(header) => None,
        _ => Some(header),
    }
}

/// The header's value if it is there once; two of them are refused.
fn single(headers: &HeaderMap, name: header::HeaderName) -> Result<Option<&str>, Refusal> {
    let mut values = headers.get_all(&name).iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(v), None) => v.to_str().map(Some).map_err(|_| {
            Refusal::Forbidden("request refused: an Origin or Referer that is not ASCII")
        }),
        (Some(_), Some(_)) => Err(Refusal::Forbidden(
            "request refused: more than one Origin or Referer",
        )),
    }
}

/// Whether `url` (an origin, or with `path` a whole URL) has `host`'s host
/// and port, over `http` or `https`. `null` and other schemes never match.
fn same_origin(url: &str, host: &str, path: bool) -> bool {
    let Some((scheme, rest)) = url.split_once("://") else {
        return false;
    };
    let default_port = if scheme.eq_ignore_ascii_case("http") {
        80
    } else if scheme.eq_ignore_ascii_case("https") {
        443
    } else {
        return false;
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if (!path && !tail.is_empty()) || authority.contains('@') {
        return false;
    }
    let (Some((their_name, their_port)), Some((our_name, our_port))) =
        (split_host_port(authority), split_host_port(host))
    else {
        return false;
    };
    their_name.eq_ignore_ascii_case(our_name)
        && their_port.unwrap_or(default_port) == our_port.unwrap_or(default_port)
}

/// `name[:port]` or `[v6][:port]`; `None` when it is neither.
fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let (name, port) = if authority.starts_with('[') {
        let close = authority.find(']')?;
        let (name, rest) = authority.split_at(close + 1);
        match rest {
            "" => (name, None),
            r => (name, Some(r.strip_prefix(':')?)),
        }
    } else {
        match authority.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (authority, None),
        }
    };
    if name.is_empty() {
        return None;
    }
    let port = match port {
        None | Some("") => None,
        Some(p) => Some(p.parse().ok()?),
    };
    Some((name, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_match_host_and_port() {
        let host = "127.0.0.1:8080";
        assert!(same_origin("http://127.0.0.1:8080", host, false));
        assert!(same_origin("https://127.0.0.1:8080", host, false));
        assert!(same_origin("http://127.0.0.1:8080/manager?x=1", host, true));
        for other in [
            "http://127.0.0.1:8081",
            "http://127.0.0.1",
            "http://localhost:8080",
            "http://evil.example",
            "null",
            "file://127.0.0.1:8080",
            "http://user@127.0.0.1:8080",
            "http://127.0.0.1:8080.evil.example",
            "127.0.0.1:8080",
        ] {
            assert!(!same_origin(other, host, true), "{other}");
        }
        // An origin has no path.
        assert!(!same_origin("http://127.0.0.1:8080/", host, false));
        // A Host without a port is the scheme's default port.
        assert!(same_origin(
            "https://doorstep.example",
            "doorstep.example",
            false
        ));
        assert!(same_origin(
            "http://doorstep.example:80",
            "doorstep.example",
            false
        ));
        assert!(!same_origin(
            "http://doorstep.example:8080",
            "doorstep.example",
            false
        ));
        assert!(same_origin("http://[::1]:8080", "[::1]:8080", false));
    }

    #[test]
    fn loopback_names_and_the_listen_address() {
        let guard = Guard::new(Arc::new(Access::open()), "127.0.0.2:9000".parse().ok());
        for ok in [
            "localhost",
            "LOCALHOST:8080",
            "127.0.0.1:1",
            "[::1]:8080",
            "[::1]",
            "127.0.0.2:9000",
        ] {
            assert!(guard.loopback_host(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "127.0.0.2:9001",
            "127.0.0.2",
            "localhost.evil.example",
            "localhost:x",
            "[::1]x",
            "::1",
            "",
        ] {
            assert!(!guard.loopback_host(bad), "{bad}");
        }
    }
}
