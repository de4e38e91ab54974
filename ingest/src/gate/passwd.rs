//! Mosquitto's password file (`mosquitto_passwd`): one `user:hash` a line.
//!
//! Mosquitto 2 writes `$7$<iterations>$<salt>$<hash>` (PBKDF2-HMAC-SHA512,
//! base64 salt and 64-byte hash); Mosquitto 1.6 and `-H sha512` write
//! `$6$<salt>$<hash>` (SHA-512 of the password followed by the salt).

use crate::Error;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha512};
use std::collections::HashMap;
use std::path::Path;
use subtle::ConstantTimeEq;

/// Beyond this, a single login would hold the gate for seconds.
const MAX_ITERATIONS: u32 = 10_000_000;

/// The accounts of a Mosquitto password file.
#[derive(Clone)]
pub struct Passwd {
    users: HashMap<String, Hash>,
}

#[derive(Clone)]
enum Hash {
    Pbkdf2Sha512 {
        iterations: u32,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
    Sha512 {
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
}

impl std::fmt::Debug for Passwd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Passwd({} accounts)", self.users.len())
    }
}

impl Passwd {
    /// Reads a password file.
    pub fn load(path: &Path) -> Result<Passwd, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ReadAuthFile {
            file: path.to_owned(),
            source,
        })?;
        Passwd::parse(&text, path)
    }

    /// Parses the text of a password file; `file` names it in errors.
    pub fn parse(text: &str, file: &Path) -> Result<Passwd, Error> {
        let mut users = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let bad = |message: String| Error::AuthFile {
                file: file.to_owned(),
                line: n + 1,
                message,
            };
            // Mosquitto skips comments and lines without a colon.
            if line.starts_with('#') {
                continue;
            }
            let Some((user, rest)) = line.split_once(':') else {
                if line.trim().is_empty() {
                    continue;
                }
                return Err(bad(
                    "expected user:hash, as written by mosquitto_passwd".into()
                ));
            };
            let user = user.trim();
            let hash = rest.split(':').next().unwrap_or_default().trim();
            if user.is_empty() {
                return Err(bad("empty user name".into()));
            }
            let hash = Hash::parse(hash).map_err(|m| bad(format!("user {user:?}: {m}")))?;
            if users.insert(user.to_owned(), hash).is_some() {
                return Err(bad(format!("user {user:?} appears twice")));
            }
        }
        Ok(Passwd { users })
    }

    /// Whether `user` exists and `password` is theirs. Takes as long for an
    /// unknown user as for a known one, so logins do not reveal who exists.
    pub fn verify(&self, user: &str, password: &[u8]) -> bool {
        match self.users.get(user) {
            Some(hash) => hash.verify(password),
            None => {
                let dummy = Hash::Pbkdf2Sha512 {
                    iterations: 101,
                    salt: vec![0; 12],
                    hash: vec![0; 64],
                };
                let _ = dummy.verify(password);
                false
            }
        }
    }

    /// How many accounts the file holds.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether the file holds no account.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

impl Hash {
    fn parse(text: &str) -> Result<Hash, String> {
        let b64 = |what: &str, s: &str| {
            STANDARD
                .decode(s)
                .map_err(|e| format!("the {what} is not base64 ({e})"))
        };
        let parts: Vec<&str> = text.split('$').collect();
        match parts.as_slice() {
            ["", "7", iterations, salt, hash] => {
                let iterations: u32 = iterations
                    .parse()
                    .ok()
                    .filter(|i| (1..=MAX_ITERATIONS).contains(i))
                    .ok_or_else(|| format!("bad iteration count {iterations:?}"))?;
                let salt = b64("salt", salt)?;
                let hash = b64("hash", hash)?;
                if hash.len() != 64 {
                    return Err("the hash is not 64 bytes long".into());
                }
                Ok(Hash::Pbkdf2Sha512 {
                    iterations,
                    salt,
                    hash,
                })
            }
            ["", "6", salt, hash] => {
                let salt = b64("salt", salt)?;
                let hash = b64("hash", hash)?;
                if hash.len() != 64 {
                    return Err("the hash is not 64 bytes long".into());
                }
                Ok(Hash::Sha512 { salt, hash })
            }
            _ => Err(
                "not a $7$ (sha512-pbkdf2) or $6$ (sha512) hash; plain-text passwords are not accepted, hash them with mosquitto_passwd -U".into(),
            ),
        }
    }

    fn verify(&self, password: &[u8]) -> bool {
        let (computed, expected) = match self {
            Hash::Pbkdf2Sha512 {
                iterations,
                salt,
                hash,
            } => {
                let mut out = [0u8; 64];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, *iterations, &mut out);
                (out, hash)
            }
            Hash::Sha512 { salt, hash } => {
                let mut digest = Sha512::new();
                digest.update(password);
                digest.update(salt);
                (digest.finalize().into(), hash)
            }
        };
        computed.ct_eq(expected.as_slice()).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Written by `mosquitto_passwd -b` (Mosquitto 2.0.11): alice/s3cret with the
    /// default sha512-pbkdf2, bob/hunter2 with `-H sha512`.
    const VECTORS: &str = "\
alice:$7$101$mZ3DojJFDV3TKDCX$uP6PzAoDuCQryphSMibi56dHIpZw+UJoPj2NiahRsqyp1OxPxfkqjTi09ce39AnGMGQ9qllakD5JlG9ZPjiRew==
bob:$6$JvV7w5eW44qIP17w$GMoZdAxnsdWsMGTRTSsLcGGxIhClhMoaWmmh3mT50FOeea/DF1X3cn2GogrzVWZV2cW3XGJfXUHK71hrZ3H5DQ==
";

    fn parse(text: &str) -> Result<Passwd, Error> {
        Passwd::parse(text, Path::new("passwd"))
    }

    #[test]
    fn checked_in_vectors_verify() {
        let p = parse(VECTORS).expect("vectors");
        assert_eq!(p.len(), 2);
        assert!(p.verify("alice", b"s3cret"));
        assert!(!p.verify("alice", b"s3cret "));
        assert!(!p.verify("alice", b"hunter2"));
        assert!(p.verify("bob", b"hunter2"));
        assert!(!p.verify("bob", b"s3cret"));
        assert!(!p.verify("carol", b"s3cret"));
        assert!(!p.verify("", b""));
    }

    #[test]
    fn fresh_mosquitto_passwd_files_verify() {
        let found = Command::new("sh")
            .args(["-c", "command -v mosquitto_passwd"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            eprintln!(
                "skipped: mosquitto_passwd is not installed (apt-get install mosquitto); the checked-in vectors still ran"
            );
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("passwd");
        std::fs::write(&file, "").expect("write");
        for (args, user, password) in [
            (&[][..], "dev-1", "pa ss:wörd"),
            (&["-H", "sha512"][..], "dev-2", "other"),
            (&["-H", "sha512-pbkdf2"][..], "user with space", "x"),
        ] {
            let status = Command::new("mosquitto_passwd")
                .args(args)
                .arg("-b")
                .arg(&file)
                .args([user, password])
                .status()
                .expect("mosquitto_passwd");
            assert!(status.success());
        }
        let p = Passwd::load(&file).expect("load");
        assert!(p.verify("dev-1", "pa ss:wörd".as_bytes()));
        assert!(!p.verify("dev-1", b"pa ss:word"));
        assert!(p.verify("dev-2", b"other"));
        assert!(!p.verify("dev-2", b"pa ss:w\xc3\xb6rd"));
        assert!(p.verify("user with space", b"x"));
    }

    #[test]
    fn comments_blank_lines_and_errors() {
        let p = parse("# accounts\n\nalice:$6$JvV7w5eW44qIP17w$GMoZdAxnsdWsMGTRTSsLcGGxIhClhMoaWmmh3mT50FOeea/DF1X3cn2GogrzVWZV2cW3XGJfXUHK71hrZ3H5DQ==\n")
            .expect("parse");
        assert!(p.verify("alice", b"hunter2"));

        let err = |text: &str| parse(text).expect_err(text).to_string();
        let e = err("a:$6$AAAA$AAAA\n");
        assert!(e.starts_with("passwd:1: ") && e.contains("64 bytes"), "{e}");
        let e = err("\n\nplain:secret\n");
        assert!(
            e.starts_with("passwd:3: ") && e.contains("mosquitto_passwd -U"),
            "{e}"
        );
        let e = err("no colon here\n");
        assert!(e.contains("user:hash"), "{e}");
        let e = err("a:$7$0$AAAA$AAAA\n");
        assert!(e.contains("iteration"), "{e}");
        let e = err("a:$7$101$!!$AAAA\n");
        assert!(e.contains("base64"), "{e}");
        let twice = format!(
            "{VECTORS}alice:$6$JvV7w5eW44qIP17w$GMoZdAxnsdWsMGTRTSsLcGGxIhClhMoaWmmh3mT50FOeea/DF1X3cn2GogrzVWZV2cW3XGJfXUHK71hrZ3H5DQ==\n"
        );
        assert!(err(&twice).contains("twice"));
        // The hashes never show in debug output.
        let p = parse(VECTORS).expect("vectors");
        assert_eq!(format!("{p:?}"), "Passwd(2 accounts)");
    }
}
