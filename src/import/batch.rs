//! Import batches: each `doorstep import` is a named batch with a record in
//! `<data_dir>/imports/`, so that it can be listed, replaced and removed.
//!
//! A batch is named by the user (`--name`) or after its input: the first
//! file's name and a hash of the files' contents. Importing the same input
//! again, whatever the options (a corrected timezone, another column), keeps
//! the name and so replaces the batch instead of adding to it. The batch's
//! `raw_events` and `quarantine` files carry a tag made from the name.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::path::{Path, PathBuf};

/// The directory of the batch records under the data directory.
pub const DIR: &str = "imports";

/// One input file of a batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InputFile {
    /// The path as given on the command line.
    pub path: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// SHA-256 of its contents, hex.
    pub sha256: String,
}

/// What one batch imported (`<data_dir>/imports/<tag>.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// The batch's name.
    pub name: String,
    /// The tag of its `raw_events` and `quarantine` files (`part-<tag>.parquet`).
    pub tag: String,
    /// When it was imported (RFC 3339, UTC).
    pub imported_at: String,
    /// The input files.
    pub files: Vec<InputFile>,
    /// `--format`.
    pub format: String,
    /// The site and device it is bound to.
    pub site: String,
    /// The device.
    pub device: String,
    /// The timezone of times written without an offset.
    pub timezone: String,
    /// Messages accepted and rejected.
    pub accepted: u64,
    /// Messages rejected (in quarantine).
    pub rejected: u64,
    /// First and last event time accepted (RFC 3339).
    pub first: Option<String>,
    /// See `first`.
    pub last: Option<String>,
}

/// The hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&sha2::Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The default name of a batch: the first file's name, `+N` for N more files,
/// and the first 8 hex digits of a hash of all the files' contents.
pub fn default_name(files: &[InputFile]) -> String {
    let stem = files
        .first()
        .and_then(|f| Path::new(&f.path).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "import".into());
    let more = match files.len() {
        0 | 1 => String::new(),
        n => format!("+{}", n - 1),
    };
    let mut h = sha2::Sha256::new();
    for f in files {
        h.update(f.sha256.as_bytes());
    }
    let digest = hex(&h.finalize());
    format!("{stem}{more}-{}", &digest[..8])
}

/// The file tag of a batch named `name`.
pub fn tag_of(name: &str) -> String {
    format!("import-{}", &sha256_hex(name.as_bytes())[..16])
}

fn dir(data: &Path) -> PathBuf {
    data.join(DIR)
}

fn path_of(data: &Path, tag: &str) -> PathBuf {
    dir(data).join(format!("{tag}.json"))
}

/// Every batch record, oldest first.
pub fn list(data: &Path) -> anyhow::Result<Vec<Record>> {
    let d = dir(data);
    let entries = match std::fs::read_dir(&d) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", d.display())),
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let text =
            std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?;
        let r: Record = serde_json::from_str(&text)
            .with_context(|| format!("{} is not an import record", p.display()))?;
        out.push(r);
    }
    out.sort_by(|a, b| (&a.imported_at, &a.name).cmp(&(&b.imported_at, &b.name)));
    Ok(out)
}

/// The record of the batch called `name` (or whose tag is `name`).
pub fn find(data: &Path, name: &str) -> anyhow::Result<Option<Record>> {
    Ok(list(data)?
        .into_iter()
        .find(|r| r.name == name || r.tag == name))
}

/// Writes a batch's record (atomically: a temporary file renamed).
pub fn save(data: &Path, r: &Record) -> anyhow::Result<()> {
    let d = dir(data);
    std::fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))?;
    let path = path_of(data, &r.tag);
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(r).context("cannot encode the import record")?;
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Removes a batch's record.
pub fn forget(data: &Path, tag: &str) -> anyhow::Result<()> {
    let path = path_of(data, tag);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, body: &[u8]) -> InputFile {
        InputFile {
            path: path.into(),
            bytes: body.len() as u64,
            sha256: sha256_hex(body),
        }
    }

    #[test]
    fn the_default_name_follows_the_contents_not_the_options() {
        let a = file("exports/门禁.csv", b"t,in\n1,2\n");
        let name = default_name(std::slice::from_ref(&a));
        assert!(name.starts_with("门禁.csv-"), "{name}");
        assert_eq!(
            name,
            default_name(&[file("elsewhere/门禁.csv", b"t,in\n1,2\n")])
        );
        assert_ne!(
            name,
            default_name(&[file("exports/门禁.csv", b"t,in\n1,3\n")])
        );
        let two = default_name(&[a.clone(), file("b.csv", b"x")]);
        assert!(two.starts_with("门禁.csv+1-"), "{two}");
        assert_eq!(tag_of(&name), tag_of(&name));
        assert!(tag_of(&name).starts_with("import-") && tag_of(&name).len() == 23);
    }

    #[test]
    fn records_are_saved_listed_found_and_forgotten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = Record {
            name: "a.csv-12345678".into(),
            tag: tag_of("a.csv-12345678"),
            imported_at: "2026-12-07T05:00:00Z".into(),
            files: vec![file("a.csv", b"x")],
            format: "csv".into(),
            site: "s".into(),
            device: "d".into(),
            timezone: "Asia/Shanghai".into(),
            accepted: 1,
            rejected: 0,
            first: None,
            last: None,
        };
        save(dir.path(), &r).expect("save");
        assert_eq!(list(dir.path()).expect("list").len(), 1);
        assert!(find(dir.path(), "a.csv-12345678").expect("find").is_some());
        assert!(find(dir.path(), &r.tag).expect("find").is_some());
        forget(dir.path(), &r.tag).expect("forget");
        assert!(list(dir.path()).expect("list").is_empty());
    }
}
