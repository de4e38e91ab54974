//! Who may see what: bearer tokens with a role and a scope, read from a file.
//!
//! Without a token file everything is open (the loopback demo); with one,
//! every view and API needs a token, given as `Authorization: Bearer TOKEN`
//! or, for browsers, as the HttpOnly cookie that `POST /login` sets.
//!
//! The file is either TOML (`[[token]]` tables with `token`, `role`, `name`,
//! `sites`, `districts`) or one token per line: `TOKEN ROLE [SCOPE,...]`,
//! where each scope item is a site id or a district name (`*` or nothing: all
//! sites). `#` starts a comment.

use crate::{Error, Result};
use axum::http::HeaderMap;
use axum::http::header;
use devices::{Registry, Site};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::Path;
use subtle::ConstantTimeEq;

/// The cookie that carries a browser's token.
pub const COOKIE: &str = "doorstep_token";

/// The cookie that logs a browser in.
pub(crate) fn login_cookie(token: &str) -> String {
    format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=2592000")
}

/// What a token holder does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Watches live occupancy and acknowledges alerts of their sites.
    Operator,
    /// Looks for idle rooms and hours in their sites or districts.
    Manager,
    /// Compares every site; reads everything, changes nothing.
    Evaluator,
    /// Everything.
    Admin,
}

impl Role {
    fn parse(text: &str) -> Option<Role> {
        Some(match text {
            "operator" => Role::Operator,
            "manager" => Role::Manager,
            "evaluator" => Role::Evaluator,
            "admin" => Role::Admin,
            _ => return None,
        })
    }
}

/// A caller: a token's holder, or anyone when access is open.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    /// A label for logs and acknowledgements (the token file's `name`, else the role).
    pub name: String,
    /// The role.
    pub role: Role,
    /// Site ids the user may see (with `districts`); both empty: every site.
    pub sites: Vec<String>,
    /// District names the user may see.
    pub districts: Vec<String>,
}

impl User {
    /// The caller when no token file is configured: an admin.
    pub fn open() -> User {
        User {
            name: "anonymous".into(),
            role: Role::Admin,
            sites: Vec::new(),
            districts: Vec::new(),
        }
    }

    /// Whether the user may see `site`.
    pub fn sees(&self, site: &Site) -> bool {
        matches!(self.role, Role::Admin | Role::Evaluator)
            || (self.sites.is_empty() && self.districts.is_empty())
            || self.sites.contains(&site.id)
            || self.districts.contains(&site.district)
    }

    /// Whether the user may change state (acknowledge alerts).
    pub fn may_act(&self) -> bool {
        matches!(self.role, Role::Operator | Role::Manager | Role::Admin)
    }

    /// Whether the user may open the manager view.
    pub fn may_manage(&self) -> bool {
        self.role != Role::Operator
    }

    /// Whether the user may open the evaluator view (all sites compared).
    pub fn may_evaluate(&self) -> bool {
        matches!(self.role, Role::Evaluator | Role::Admin)
    }
}

/// The configured tokens, or open access.
#[derive(Debug, Clone, Default)]
pub struct Access {
    tokens: Option<Vec<(String, User)>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenFile {
    #[serde(default)]
    token: Vec<TokenEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    token: String,
    role: String,
    name: Option<String>,
    #[serde(default)]
    sites: Vec<String>,
    #[serde(default)]
    districts: Vec<String>,
}

impl Access {
    /// Everything open: no token needed (only for loopback addresses).
    pub fn open() -> Access {
        Access { tokens: None }
    }

    /// Whether tokens are required.
    pub fn is_open(&self) -> bool {
        self.tokens.is_none()
    }

    /// Reads a token file; scope items are sorted into site ids and district
    /// names with the registry (an item that is neither is an error).
    pub fn load(path: &Path, registry: &Registry) -> Result<Access> {
        let bad = |line: usize, message: String| Error::Tokens {
            path: path.to_owned(),
            line,
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(0, e.to_string()))?;
        let mut tokens = Vec::new();
        if text.lines().any(|l| l.trim() == "[[token]]") {
            let file: TokenFile = toml::from_str(&text)
                .map_err(|e| bad(0, e.to_string().trim_end().replace('\n', " ")))?;
            for (i, e) in file.token.into_iter().enumerate() {
                let role = Role::parse(&e.role)
                    .ok_or_else(|| bad(0, format!("token {}: unknown role {:?}", i + 1, e.role)))?;
                let mut scope = e.sites;
                scope.extend(e.districts);
                let user = user(e.name, role, &scope, registry).map_err(|m| bad(0, m))?;
                tokens.push((e.token, user));
            }
        } else {
            for (n, line) in text.lines().enumerate() {
                let line = line.split('#').next().unwrap_or("").trim();
                if line.is_empty() {
                    continue;
                }
                let mut words = line.split_whitespace();
                let (Some(token), Some(role)) = (words.next(), words.next()) else {
                    return Err(bad(n + 1, "expected: TOKEN ROLE [SCOPE,...]".into()));
                };
                let role = Role::parse(role).ok_or_else(|| {
                    bad(
                        n + 1,
                        format!("unknown role {role:?}; operator, manager, evaluator or admin"),
                    )
                })?;
                let scope: Vec<String> = words
                    .flat_map(|w| w.split(','))
                    .filter(|w| !w.is_empty() && *w != "*")
                    .map(str::to_owned)
                    .collect();
                let user = user(None, role, &scope, registry).map_err(|m| bad(n + 1, m))?;
                tokens.push((token.to_owned(), user));
            }
        }
        if let Some((token, _)) = tokens.iter().find(|(t, _)| t.len() < 16) {
            let shown: String = token.chars().take(4).collect();
            return Err(bad(
                0,
                format!("token {shown}… is shorter than 16 characters; use long random tokens"),
            ));
        }
        if tokens.iter().any(|(t, _)| {
            !t.bytes()
                .all(|b| b.is_ascii_graphic() && !b";,\"\\".contains(&b))
        }) {
            // The token also travels as a cookie value.
            return Err(bad(
                0,
                "tokens are printable ASCII without ; , \" or \\".into(),
            ));
        }
        if tokens.is_empty() {
            return Err(bad(0, "no tokens".into()));
        }
        Ok(Access {
            tokens: Some(tokens),
        })
    }

    /// Refuses to serve an address other machines can reach without tokens.
    pub fn check_listen(&self, addr: SocketAddr) -> Result<()> {
        if self.is_open() && !addr.ip().is_loopback() {
            return Err(Error::OpenOnNetwork(addr));
        }
        Ok(())
    }

    /// The user holding `token`.
    pub fn user(&self, token: &str) -> Option<&User> {
        let tokens = self.tokens.as_ref()?;
        // Compare every token in constant time, so timing tells nothing.
        let mut found = None;
        for (t, u) in tokens {
            if bool::from(t.as_bytes().ct_eq(token.as_bytes())) {
                found = Some(u);
            }
        }
        found
    }

    /// The caller of a request: `None` means no (valid) token was given.
    pub fn caller(&self, headers: &HeaderMap) -> Option<User> {
        if self.is_open() {
            return Some(User::open());
        }
        let token = bearer(headers).or_else(|| cookie(headers, COOKIE))?;
        self.user(token).cloned()
    }

    /// The caller named by an `Authorization: Bearer` header alone, never by
    /// the cookie: what a page of another site cannot make a browser send.
    /// With open access any bearer token names the open user.
    pub fn bearer_caller(&self, headers: &HeaderMap) -> Option<User> {
        let token = bearer(headers).filter(|t| !t.is_empty())?;
        if self.is_open() {
            return Some(User::open());
        }
        self.user(token).cloned()
    }
}

fn user(
    name: Option<String>,
    role: Role,
    scope: &[String],
    registry: &Registry,
) -> std::result::Result<User, String> {
    let mut u = User {
        name: name.unwrap_or_else(|| format!("{role:?}").to_lowercase()),
        role,
        sites: Vec::new(),
        districts: Vec::new(),
    };
    for item in scope {
        if registry.sites.iter().any(|s| &s.id == item) {
            u.sites.push(item.clone());
        } else if registry.sites.iter().any(|s| &s.district == item) {
            u.districts.push(item.clone());
        } else {
            return Err(format!(
                "{item:?} is neither a site id nor a district of the registry"
            ));
        }
    }
    if matches!(role, Role::Operator | Role::Manager) && scope.is_empty() {
        tracing::info!(user = %u.name, "a {role:?} token without scope sees every site");
    }
    Ok(u)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The value of cookie `name`.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> Registry {
        Registry::from_toml(
            r#"
            [[site]]
            id = "s1"
            name = "一"
            district = "徐汇区"
            [[site]]
            id = "s2"
            name = "二"
            district = "朝阳区"
            "#,
            Path::new("t.toml"),
        )
        .expect("registry")
    }

    fn write(text: &str) -> (std::path::PathBuf, Registry) {
        let path = std::env::temp_dir().join(format!(
            "doorstep-tokens-{}-{}",
            std::process::id(),
            text.len()
        ));
        std::fs::write(&path, text).expect("write");
        (path, registry())
    }

    #[test]
    fn line_format_scopes_by_site_or_district() {
        let (path, reg) = write(
            "# comment\nop-token-0123456789 operator s1\nmgr-token-0123456789 manager 朝阳区\nev-token-0123456789 evaluator\n",
        );
        let a = Access::load(&path, &reg).expect("tokens");
        let op = a.user("op-token-0123456789").expect("operator");
        assert!(op.sees(&reg.sites[0]) && !op.sees(&reg.sites[1]));
        let mgr = a.user("mgr-token-0123456789").expect("manager");
        assert!(!mgr.sees(&reg.sites[0]) && mgr.sees(&reg.sites[1]));
        let ev = a.user("ev-token-0123456789").expect("evaluator");
        assert!(ev.sees(&reg.sites[0]) && !ev.may_act());
        assert!(a.user("nope").is_none());
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn toml_format_and_errors() {
        let (path, reg) = write(
            "[[token]]\ntoken = \"admin-token-0123456789\"\nrole = \"admin\"\nname = \"王工\"\n",
        );
        let a = Access::load(&path, &reg).expect("tokens");
        assert_eq!(
            a.user("admin-token-0123456789").expect("admin").name,
            "王工"
        );
        let (path2, reg) = write("short operator s1\n");
        let e = Access::load(&path2, &reg).expect_err("short").to_string();
        assert!(e.contains("shorter than 16"), "{e}");
        let (path3, reg) = write("a-long-enough-token-1 operator nowhere\n");
        let e = Access::load(&path3, &reg).expect_err("scope").to_string();
        assert!(e.contains(":1:") && e.contains("neither a site id"), "{e}");
        for p in [path, path2, path3] {
            let _ = std::fs::remove_file(p);
        }
    }

    #[test]
    fn open_access_only_on_loopback() {
        let open = Access::open();
        assert!(
            open.check_listen("127.0.0.1:8080".parse().expect("addr"))
                .is_ok()
        );
        let e = open
            .check_listen("0.0.0.0:8080".parse().expect("addr"))
            .expect_err("refused")
            .to_string();
        assert!(e.contains("tokens_file"), "{e}");
    }
}
