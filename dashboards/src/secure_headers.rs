//! Headers on every answer (pages, JSON, event streams, errors, refusals)
//! that tell browsers to keep the app's pages to themselves: no framing by
//! other sites, no guessing of content types, no full URLs in the `Referer`
//! sent to other sites, and a Content-Security-Policy that loads scripts,
//! styles, images and connections from this origin only, nothing inline.
//! The pages keep to it: their style sheets and script are files under
//! `/assets/` (`crate::assets`), and no element has a `style` attribute or
//! an event handler attribute.

use axum::http::{HeaderValue, header};
use axum::response::Response;

/// The Content-Security-Policy.
pub(crate) const CSP: &str = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'";

/// Adds the headers (a middleware for `axum::middleware::map_response`).
pub(crate) async fn add(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::CONTENT_SECURITY_POLICY, CSP),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}
