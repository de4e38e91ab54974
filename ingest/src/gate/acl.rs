//! Mosquitto's ACL file, and MQTT topic matching.
//!
//! ```text
//! # doorstep reads everything
//! user doorstep
//! topic read doorstep/v1/#
//!
//! # a device writes only under its own id
//! pattern write doorstep/v1/+/%u
//! ```
//!
//! As in Mosquitto 2: `topic [read|write|readwrite|deny] FILTER` belongs to the
//! last `user` line above it (to anonymous clients before any), `pattern` lines
//! apply to everyone with `%u` replaced by the username and `%c` by the client
//! id; no access word means `readwrite`. A client's own `topic` lines are
//! checked before the patterns, `deny` lines first within each.

use crate::Error;
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

/// What a client wants to do with a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Receive messages (subscribe).
    Read,
    /// Publish messages.
    Write,
}

const READ: u8 = 1;
const WRITE: u8 = 2;
const DENY: u8 = 0;

#[derive(Debug, Clone)]
struct Rule {
    access: u8,
    filter: String,
}

impl Rule {
    fn grants(&self, access: Access) -> bool {
        self.access
            & match access {
                Access::Read => READ,
                Access::Write => WRITE,
            }
            != 0
    }
}

/// The rules of a Mosquitto ACL file.
#[derive(Debug, Clone, Default)]
pub struct Acl {
    anonymous: Vec<Rule>,
    users: HashMap<String, Vec<Rule>>,
    patterns: Vec<Rule>,
}

/// What a rule list says about a request.
enum Verdict {
    Allowed,
    Denied,
    Silent,
}

impl Acl {
    /// Reads an ACL file.
    pub fn load(path: &Path) -> Result<Acl, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ReadAuthFile {
            file: path.to_owned(),
            source,
        })?;
        Acl::parse(&text, path)
    }

    /// Parses the text of an ACL file; `file` names it in errors.
    pub fn parse(text: &str, file: &Path) -> Result<Acl, Error> {
        let mut acl = Acl::default();
        let mut user: Option<String> = None;
        for (n, line) in text.lines().enumerate() {
            let bad = |message: String| Error::AuthFile {
                file: file.to_owned(),
                line: n + 1,
                message,
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (word, rest) = line
                .split_once(char::is_whitespace)
                .map_or((line, ""), |(w, r)| (w, r.trim()));
            match word {
                "user" => {
                    if rest.is_empty() {
                        return Err(bad("user without a name".into()));
                    }
                    user = Some(rest.to_owned());
                }
                "topic" | "pattern" => {
                    let (access, filter) = match rest.split_once(char::is_whitespace) {
                        Some((access, filter)) => {
                            let access = match access {
                                "read" => READ,
                                "write" => WRITE,
                                "readwrite" => READ | WRITE,
                                "deny" => DENY,
                                other => {
                                    return Err(bad(format!(
                                        "unknown access {other:?}; expected read, write, readwrite or deny"
                                    )));
                                }
                            };
                            (access, filter.trim())
                        }
                        None => (READ | WRITE, rest),
                    };
                    if !valid_filter(filter) {
                        return Err(bad(format!("{filter:?} is not a valid MQTT topic filter")));
                    }
                    let rule = Rule {
                        access,
                        filter: filter.to_owned(),
                    };
                    if word == "pattern" {
                        acl.patterns.push(rule);
                    } else {
                        match &user {
                            Some(u) => acl.users.entry(u.clone()).or_default().push(rule),
                            None => acl.anonymous.push(rule),
                        }
                    }
                }
                other => {
                    return Err(bad(format!(
                        "unknown directive {other:?}; expected user, topic or pattern"
                    )));
                }
            }
        }
        Ok(acl)
    }

    /// Whether a client may publish to (`Write`) or receive from (`Read`) `topic`.
    pub fn allows(&self, user: Option<&str>, client_id: &str, topic: &str, access: Access) -> bool {
        self.check(
            user,
            client_id,
            |rule, filter| rule.grants(access) && matches(filter, topic),
            |filter| matches(filter, topic),
        )
    }

    /// Whether a client may subscribe to `filter`: every topic it can match must be
    /// readable, and no `deny` rule may touch it (the gate does not filter what
    /// the broker delivers).
    pub fn allows_subscribe(&self, user: Option<&str>, client_id: &str, filter: &str) -> bool {
        let filter = unshare(filter);
        self.check(
            user,
            client_id,
            |rule, acl| rule.grants(Access::Read) && within(filter, acl),
            |acl| overlaps(filter, acl),
        )
    }

    /// Mosquitto's order: the client's own rules, then the patterns; in each, a
    /// matching `deny` first, then any rule granting the access.
    fn check(
        &self,
        user: Option<&str>,
        client_id: &str,
        grants: impl Fn(&Rule, &str) -> bool,
        denied_by: impl Fn(&str) -> bool,
    ) -> bool {
        let judge = |rules: &[(&Rule, Cow<'_, str>)]| {
            if rules.iter().any(|(r, f)| r.access == DENY && denied_by(f)) {
                Verdict::Denied
            } else if rules.iter().any(|(r, f)| grants(r, f)) {
                Verdict::Allowed
            } else {
                Verdict::Silent
            }
        };
        // A username or client id with wildcards could widen a pattern: Mosquitto
        // refuses such clients everything, and so does the gate.
        let wild = |s: &str| s.contains(['+', '#']);
        if user.is_some_and(wild) || wild(client_id) {
            return false;
        }
        let own = match user {
            Some(u) => self.users.get(u).map(Vec::as_slice).unwrap_or_default(),
            None => &self.anonymous,
        };
        let own: Vec<_> = own
            .iter()
            .map(|r| (r, Cow::Borrowed(r.filter.as_str())))
            .collect();
        match judge(&own) {
            Verdict::Allowed => return true,
            Verdict::Denied => return false,
            Verdict::Silent => {}
        }
        let expanded: Vec<_> = self
            .patterns
            .iter()
            .filter(|r| user.is_some() || !r.filter.contains("%u"))
            .map(|r| (r, Cow::Owned(expand(&r.filter, user, client_id))))
            .collect();
        matches!(judge(&expanded), Verdict::Allowed)
    }
}

/// `%u` and `%c` of a pattern replaced.
fn expand(pattern: &str, user: Option<&str>, client_id: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek(), user) {
            ('%', Some('c'), _) => {
                chars.next();
                out.push_str(client_id);
            }
            ('%', Some('u'), Some(u)) => {
                chars.next();
                out.push_str(u);
            }
            _ => out.push(c),
        }
    }
    out
}

/// A shared subscription (`$share/group/filter`) is checked as its filter.
fn unshare(filter: &str) -> &str {
    filter
        .strip_prefix("$share/")
        .and_then(|rest| rest.split_once('/'))
        .map_or(filter, |(_, f)| f)
}

/// A topic filter as MQTT allows it: `+` and `#` fill a whole level, `#` only the last.
pub fn valid_filter(filter: &str) -> bool {
    if filter.is_empty() || filter.contains('\0') {
        return false;
    }
    let levels: Vec<&str> = filter.split('/').collect();
    levels.iter().enumerate().all(|(i, level)| match *level {
        "+" => true,
        "#" => i == levels.len() - 1,
        l => !l.contains(['+', '#']),
    })
}

/// A topic name a client may publish to: no wildcards.
pub fn valid_topic(topic: &str) -> bool {
    !topic.is_empty() && !topic.contains(['+', '#', '\0'])
}

/// Whether `topic` matches `filter`; wildcards in the first level do not match `$` topics.
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && filter.starts_with(['+', '#']) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Whether every topic that `inner` matches is matched by `outer` as well.
fn within(inner: &str, outer: &str) -> bool {
    // Literal `$` topics in `inner` escape a first-level wildcard of `outer`.
    if inner.starts_with('$') && outer.starts_with(['+', '#']) {
        return false;
    }
    let mut i = inner.split('/');
    let mut o = outer.split('/');
    loop {
        match (i.next(), o.next()) {
            (_, Some("#")) => return true,
            (Some("#"), _) => return false,
            (Some(_), Some("+")) => {}
            (Some("+"), Some(_)) => return false,
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Whether some topic is matched by both filters.
fn overlaps(a: &str, b: &str) -> bool {
    let dollar = |f: &str| f.starts_with('$');
    let wild = |f: &str| f.starts_with(['+', '#']);
    if (dollar(a) && wild(b)) || (dollar(b) && wild(a)) {
        return false;
    }
    let mut x = a.split('/');
    let mut y = b.split('/');
    loop {
        match (x.next(), y.next()) {
            (Some("#"), _) | (_, Some("#")) => return true,
            (Some("+"), Some(_)) | (Some(_), Some("+")) => {}
            (Some(p), Some(q)) if p == q => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/SECURITY.md's ACL.
    const SECURITY_MD: &str =
        "user doorstep\ntopic read doorstep/v1/#\n\npattern write doorstep/v1/+/%u\n";

    fn parse(text: &str) -> Acl {
        Acl::parse(text, Path::new("acl")).expect(text)
    }

    #[test]
    fn topic_matching_follows_the_spec() {
        for (filter, topic, expected) in [
            ("a/b", "a/b", true),
            ("a/b", "a/c", false),
            ("a/+", "a/b", true),
            ("a/+", "a/b/c", false),
            ("a/+", "a/", true),
            ("+/+", "/x", true),
            ("a/#", "a", true),
            ("a/#", "a/b/c", true),
            ("#", "a/b", true),
            ("#", "$SYS/x", false),
            ("+/x", "$SYS/x", false),
            ("$SYS/#", "$SYS/x", true),
            ("a/b", "a/b/c", false),
            ("a/b/c", "a/b", false),
            ("doorstep/v1/+/c1", "doorstep/v1/s1/c1", true),
            ("doorstep/v1/+/c1", "doorstep/v1/s1/c2", false),
        ] {
            assert_eq!(matches(filter, topic), expected, "{filter} vs {topic}");
        }
    }

    #[test]
    fn filters_and_topics_are_validated() {
        for ok in ["a", "a/b", "+", "#", "a/+/b", "a/#", "/", "+/+/#", "$SYS/#"] {
            assert!(valid_filter(ok), "{ok}");
        }
        for bad in ["", "a/#/b", "a+", "a/b#", "#/a", "a/+b"] {
            assert!(!valid_filter(bad), "{bad}");
        }
        assert!(valid_topic("doorstep/v1/s1/c1"));
        assert!(!valid_topic("doorstep/v1/+/c1"));
        assert!(!valid_topic("doorstep/#"));
        assert!(!valid_topic(""));
    }

    #[test]
    fn subscription_containment() {
        for (inner, outer, expected) in [
            ("doorstep/v1/#", "doorstep/v1/#", true),
            ("doorstep/v1/s1/c1", "doorstep/v1/#", true),
            ("doorstep/v1/+/c1", "doorstep/v1/#", true),
            ("doorstep/#", "doorstep/v1/#", false),
            ("#", "doorstep/v1/#", false),
            ("a/+", "a/b", false),
            ("a/b", "a/+", true),
            ("a/+", "a/+", true),
            ("a/#", "a/+", false),
            ("$SYS/x", "#", false),
            ("+/x", "#", true),
        ] {
            assert_eq!(within(inner, outer), expected, "{inner} within {outer}");
        }
        assert!(overlaps("a/+", "a/b"));
        assert!(overlaps("#", "x/y"));
        assert!(!overlaps("a/b", "a/c"));
        assert!(!overlaps("$SYS/a", "#"));
    }

    #[test]
    fn devices_write_only_under_their_own_id() {
        let acl = parse(SECURITY_MD);
        let w = |user: &str, topic: &str| acl.allows(Some(user), user, topic, Access::Write);
        assert!(w("c1", "doorstep/v1/s1/c1"));
        assert!(w("c1", "doorstep/v1/other-site/c1"));
        assert!(!w("c1", "doorstep/v1/s1/c2"));
        assert!(!w("c1", "doorstep/v1/s1/c1/extra"));
        assert!(!w("c1", "doorstep/v2/s1/c1"));
        // Write does not give read.
        assert!(!acl.allows(Some("c1"), "c1", "doorstep/v1/s1/c1", Access::Read));
        assert!(!acl.allows_subscribe(Some("c1"), "c1", "doorstep/v1/s1/c1"));
        // doorstep reads all, writes nothing (its own rules come first; the pattern still applies).
        assert!(acl.allows(
            Some("doorstep"),
            "doorstep",
            "doorstep/v1/s1/c1",
            Access::Read
        ));
        assert!(acl.allows_subscribe(Some("doorstep"), "x", "doorstep/v1/#"));
        assert!(acl.allows_subscribe(Some("doorstep"), "x", "doorstep/v1/+/c1"));
        assert!(acl.allows_subscribe(Some("doorstep"), "x", "$share/g/doorstep/v1/#"));
        assert!(!acl.allows_subscribe(Some("doorstep"), "x", "#"));
        assert!(!acl.allows_subscribe(Some("doorstep"), "x", "doorstep/#"));
        assert!(!acl.allows(
            Some("doorstep"),
            "doorstep",
            "doorstep/v1/s1/c1",
            Access::Write
        ));
        // No username: neither the user's rules nor %u patterns apply.
        assert!(!acl.allows(None, "c1", "doorstep/v1/s1/c1", Access::Write));
        // Wildcards in a username would widen the pattern: refused.
        assert!(!acl.allows(Some("+"), "x", "doorstep/v1/s1/+", Access::Write));
        assert!(!acl.allows(Some("#"), "x", "doorstep/v1/s1/#", Access::Write));
    }

    #[test]
    fn client_id_patterns_anonymous_rules_and_deny() {
        let acl = parse(
            "# comment\n\
             topic read public/#\n\
             \n\
             user alice\n\
             topic readwrite alice/#\n\
             topic deny alice/secret\n\
             topic  bob/inbox\n\
             pattern readwrite devices/%c/state\n\
             pattern read   users/%u/%c\n",
        );
        // Anonymous rules (before any user line) apply only without a username.
        assert!(acl.allows(None, "x", "public/a", Access::Read));
        assert!(!acl.allows(None, "x", "public/a", Access::Write));
        assert!(!acl.allows(Some("alice"), "x", "public/a", Access::Read));
        // Own rules: readwrite, deny first, no access word means readwrite.
        assert!(acl.allows(Some("alice"), "x", "alice/a/b", Access::Write));
        assert!(acl.allows(Some("alice"), "x", "alice/a/b", Access::Read));
        assert!(!acl.allows(Some("alice"), "x", "alice/secret", Access::Read));
        assert!(!acl.allows_subscribe(Some("alice"), "x", "alice/#"));
        assert!(acl.allows_subscribe(Some("alice"), "x", "alice/a/#"));
        assert!(acl.allows(Some("alice"), "x", "bob/inbox", Access::Write));
        // %c, and %u with %c.
        assert!(acl.allows(Some("carol"), "dev-9", "devices/dev-9/state", Access::Write));
        assert!(!acl.allows(Some("carol"), "dev-9", "devices/dev-8/state", Access::Write));
        assert!(acl.allows(None, "dev-9", "devices/dev-9/state", Access::Read));
        assert!(acl.allows(Some("carol"), "dev-9", "users/carol/dev-9", Access::Read));
        assert!(!acl.allows(Some("carol"), "dev-9", "users/carol/dev-9", Access::Write));
        assert!(!acl.allows(None, "dev-9", "users/%u/dev-9", Access::Read));
        assert!(!acl.allows(Some("carol"), "dev+", "devices/dev+/state", Access::Write));
        // ... and such clients get nothing, not even through their own rules.
        assert!(!acl.allows(Some("alice"), "dev#", "alice/a", Access::Write));
    }

    #[test]
    fn pattern_expansion() {
        assert_eq!(expand("a/%u/%c/%x%", Some("u1"), "c1"), "a/u1/c1/%x%");
        assert_eq!(expand("a/%u/%c", None, "c1"), "a/%u/c1");
    }

    #[test]
    fn errors_name_the_line() {
        let err = |text: &str| {
            Acl::parse(text, Path::new("doorstep.acl"))
                .expect_err(text)
                .to_string()
        };
        let e = err("user a\ntopic read a/#\nallow all\n");
        assert!(
            e.starts_with("doorstep.acl:3: ") && e.contains("unknown directive \"allow\""),
            "{e}"
        );
        let e = err("topic rw a/#\n");
        assert!(
            e.starts_with("doorstep.acl:1: ") && e.contains("unknown access"),
            "{e}"
        );
        let e = err("\n\npattern write a/#/b\n");
        assert!(
            e.starts_with("doorstep.acl:3: ") && e.contains("not a valid"),
            "{e}"
        );
        let e = err("user\n");
        assert!(e.contains("without a name"), "{e}");
    }
}
