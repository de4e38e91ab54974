//! Where the login form may send a browser afterwards: a path of this app,
//! never another host; and query values (such as that path) percent-encoded.
//!
//! Browsers forgive a lot in a `Location`: they drop tabs and line breaks and
//! read `\` as `/`, so `/\t/evil.example` and `/\evil.example` both become
//! `//evil.example`, another host. Only a plain local path is accepted, as
//! given and once more percent-decoded (in case something on the way decodes
//! it again).

use std::fmt::Write;

/// Percent-encodes a query value.
pub(crate) fn url_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// `next` if it is a local path, else `/`.
pub(crate) fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if is_local(n) && is_local(&percent_decode(n)) => n,
        _ => "/",
    }
}

/// A single `/`, then anything but `/` or `\`; no control characters or
/// whitespace anywhere.
fn is_local(path: &str) -> bool {
    let mut chars = path.chars();
    chars.next() == Some('/')
        && !matches!(chars.next(), Some('/' | '\\'))
        && !path.chars().any(|c| c.is_control() || c.is_whitespace())
}

/// `%XX` decoded (invalid escapes kept as they are; bytes that are not UTF-8
/// become U+FFFD).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let hex = |b: &u8| char::from(*b).to_digit(16);
    while i < bytes.len() {
        let escape = (bytes[i] == b'%')
            .then(|| Some(hex(bytes.get(i + 1)?)? * 16 + hex(bytes.get(i + 2)?)?))
            .flatten();
        match escape {
            Some(byte) => {
                out.push(byte as u8);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_pass() {
        for p in [
            "/",
            "/manager",
            "/manager?site=s1&lang=en",
            "/evaluator?district=%E5%BE%90%E6%B1%87%E5%8C%BA",
            "/a/b//c",
        ] {
            assert_eq!(safe_next(Some(p)), p, "{p}");
        }
    }

    #[test]
    fn other_hosts_and_odd_characters_do_not() {
        for p in [
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/%09/evil.example",
            "/%2F/evil.example",
            "/%5cevil.example",
            "/\n/evil.example",
            "/%0a/x",
            "/ /x",
            "/x y",
            "/\u{3000}x",
            "/x\u{7f}",
            "https://evil.example",
            "evil.example",
            "",
        ] {
            assert_eq!(safe_next(Some(p)), "/", "{p:?}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn decoding_keeps_bad_escapes() {
        assert_eq!(percent_decode("/a%2Fb%zz%4"), "/a/b%zz%4");
        assert_eq!(percent_decode("%E5%BE%90"), "徐");
    }
}
