//! The registry's versions under `<data_dir>/registry/`: each version a copy of
//! the registry file as it was (`v0001.toml`, ..., or `.json` for a JSON registry) and a line of
//! `history.jsonl` saying when it was recorded, the time from which it holds,
//! its size and what changed from the version before (docs/SCHEMA.md).
//!
//! `doorstep run` records the registry it starts with when it differs from the
//! latest version, so the history shows every registry the data was taken
//! with. A copy is written (to a temporary name, then renamed) before its line
//! is appended: a crash between the two leaves a file no line names, which the
//! next version overwrites.

use anyhow::Context;
use devices::Registry;
use devices::registry_diff::diff;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// One version of the registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// 1, 2, ...
    pub version: u32,
    /// When it was recorded (RFC 3339, the pipeline's clock).
    pub recorded_at: String,
    /// The time from which it holds (RFC 3339).
    pub effective_from: String,
    /// Its copy, relative to the history's folder.
    pub file: String,
    /// Sites, rooms and devices in it.
    pub sites: usize,
    /// See `sites`.
    pub rooms: usize,
    /// See `sites`.
    pub devices: usize,
    /// What changed from the version before, one line each (`registry diff`).
    pub changes: Vec<String>,
    /// Who recorded it, e.g. `doorstep run`.
    pub by: String,
}

/// The history's folder under `data_dir`.
pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("registry")
}

/// Every recorded version, oldest first (none when nothing was recorded).
pub fn list(data_dir: &Path) -> anyhow::Result<Vec<Version>> {
    let path = dir(data_dir).join("history.jsonl");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .with_context(|| format!("{} line {}: not a version", path.display(), i + 1))
        })
        .collect()
}

/// The registry of version `v`.
pub fn load(data_dir: &Path, v: &Version) -> anyhow::Result<Registry> {
    let path = dir(data_dir).join(&v.file);
    Registry::load(&path).with_context(|| format!("version {} ({})", v.version, path.display()))
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// Records `registry` (read from `text`) as a new version holding from
/// `effective_ms`, unless it is the same as the latest; returns the new version.
pub fn record(
    data_dir: &Path,
    text: &str,
    registry: &Registry,
    effective_ms: i64,
    now_ms: i64,
    by: &str,
) -> anyhow::Result<Option<Version>> {
    let versions = list(data_dir)?;
    let changes = match versions.last() {
        // The same file as the latest version's: nothing to parse or compare.
        Some(last)
            if std::fs::read_to_string(dir(data_dir).join(&last.file)).is_ok_and(|t| t == text) =>
        {
            return Ok(None);
        }
        Some(last) => {
            let changes: Vec<String> = diff(&load(data_dir, last)?, registry)
                .iter()
                .map(ToString::to_string)
                .collect();
            if changes.is_empty() {
                return Ok(None);
            }
            changes
        }
        None => Vec::new(),
    };
    let n = versions.last().map_or(1, |v| v.version + 1);
    let folder = dir(data_dir);
    std::fs::create_dir_all(&folder)
        .with_context(|| format!("cannot create {}", folder.display()))?;
    // A registry kept as JSON (national registries) stays JSON.
    let ext = if text.trim_start().starts_with('{') {
        "json"
    } else {
        "toml"
    };
    let file = format!("v{n:04}.{ext}");
    let tmp = folder.join(format!("{file}.tmp"));
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, folder.join(&file))
        .with_context(|| format!("cannot write {}", folder.join(&file).display()))?;
    let version = Version {
        version: n,
        recorded_at: rfc3339(now_ms),
        effective_from: rfc3339(effective_ms),
        file,
        sites: registry.sites.len(),
        rooms: registry.rooms.len(),
        devices: registry.devices.len(),
        changes,
        by: by.to_owned(),
    };
    let path = folder.join("history.jsonl");
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    writeln!(out, "{}", serde_json::to_string(&version)?)
        .and_then(|()| out.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(Some(version))
}

/// The time a version holds from, Unix ms.
pub fn effective_ms(v: &Version) -> anyhow::Result<i64> {
    devices::codec::parse_rfc3339_ms(&v.effective_from).with_context(|| {
        format!(
            "version {}: effective_from {:?} is not an RFC 3339 time",
            v.version, v.effective_from
        )
    })
}

/// The latest version whose copy is `text`, if any.
pub fn version_of(data_dir: &Path, text: &str) -> anyhow::Result<Option<Version>> {
    Ok(list(data_dir)?
        .into_iter()
        .rev()
        .find(|v| std::fs::read_to_string(dir(data_dir).join(&v.file)).is_ok_and(|t| t == text)))
}

/// The registry of all time ([`devices::timeline`]): every recorded version
/// merged in order, each from its effective time, then `current` (the config's
/// registry, `text` its file) from `now_ms` when it is not the latest version.
/// A version that cannot follow the ones before (a history of an older
/// doorstep) starts the timeline anew, with a warning.
pub fn all_time(
    data_dir: &Path,
    current: &Registry,
    text: &str,
    now_ms: i64,
) -> anyhow::Result<Registry> {
    let versions = list(data_dir)?;
    let mut all: Option<Registry> = None;
    for v in &versions {
        let reg = load(data_dir, v)?;
        let from = effective_ms(v)?;
        all = Some(match all {
            None => reg,
            Some(before) => devices::timeline::merge(&before, &reg, from).unwrap_or_else(|e| {
                tracing::warn!(version = v.version, error = %e, "the registry's timeline starts anew at this version");
                reg
            }),
        });
    }
    let latest_is_current = versions.last().is_some_and(|v| {
        std::fs::read_to_string(dir(data_dir).join(&v.file)).is_ok_and(|t| t == text)
    });
    Ok(match all {
        None => current.clone(),
        Some(all) if latest_is_current => all,
        Some(all) => devices::timeline::merge(&all, current, now_ms.max(all.since_ms))?,
    })
}

/// The registry `spec` names: a file, or `vN` for version N of the history.
pub fn resolve(spec: &str, data_dir: Option<&Path>) -> anyhow::Result<Registry> {
    let number = spec
        .strip_prefix('v')
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|_| !Path::new(spec).exists());
    match number {
        None => Registry::load(Path::new(spec)).with_context(|| format!("cannot load {spec}")),
        Some(n) => {
            let Some(data) = data_dir else {
                anyhow::bail!(
                    "{spec} is a version of the history: give --data DIR (the pipeline's data_dir) or --config FILE"
                );
            };
            let versions = list(data)?;
            let v = versions.iter().find(|v| v.version == n).ok_or_else(|| {
                anyhow::anyhow!(
                    "no version {n} under {} ({} recorded; doorstep registry history lists them)",
                    dir(data).display(),
                    versions.len()
                )
            })?;
            load(data, v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = r#"
[[site]]
id = "s1"
name = "一"
[[site.room]]
id = "hall"
name = "厅"
capacity = 10
area_m2 = 40
schedule = ["daily 08:00-20:00 culture"]
[[site.device]]
id = "d1"
room = "hall"
kind = "count"
"#;

    fn reg(text: &str) -> Registry {
        Registry::from_toml(text, Path::new("r.toml")).expect("registry")
    }

    #[test]
    fn versions_are_recorded_when_they_change_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path();
        assert!(list(data).expect("empty").is_empty());
        let v1 = record(data, ONE, &reg(ONE), 1_000, 2_000, "doorstep run").expect("record");
        assert_eq!(v1.as_ref().map(|v| v.version), Some(1));
        // The same registry again: no new version.
        assert_eq!(
            record(data, ONE, &reg(ONE), 5_000, 5_000, "doorstep run").expect("same"),
            None
        );
        let two = ONE.replace("capacity = 10", "capacity = 12");
        let v2 = record(
            data,
            &two,
            &reg(&two),
            86_400_000,
            90_000_000,
            "doorstep run",
        )
        .expect("record")
        .expect("a new version");
        assert_eq!(v2.changes, ["~ room s1/hall capacity: 10 -> 12"]);
        assert_eq!(v2.effective_from, "1970-01-02T00:00:00Z");
        let all = list(data).expect("list");
        assert_eq!(all.len(), 2);
        assert_eq!(resolve("v2", Some(data)).expect("v2").rooms[0].capacity, 12);
        assert_eq!(resolve("v1", Some(data)).expect("v1").rooms[0].capacity, 10);
        let err = resolve("v7", Some(data)).expect_err("no v7").to_string();
        assert!(err.contains("no version 7"), "{err}");
    }
}
