//! `doorstep registry apply FILE`: checks a new registry, shows what it
//! changes, records it in the registry's history with the time from which it
//! holds, and puts it in place of the config's registry file; or refuses it in
//! one line and leaves everything as it was.
//!
//! A running `doorstep run` sees the file change and switches to it
//! ([`crate::reload`]); otherwise it takes it when it starts.

use crate::config::Config;
use anyhow::Context;
use devices::Registry;
use devices::registry_diff::diff;
use std::path::Path;

/// What [`apply`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    /// The new registry is the same as the one in place.
    Unchanged,
    /// Only checked and compared (`--dry-run`).
    Checked(Vec<String>),
    /// Written in place of the config's registry, as this version of the
    /// history, holding from this time (Unix ms).
    Installed(Vec<String>, Option<u32>, i64),
}

/// How far ahead of now a change without `--effective` holds while a
/// `doorstep run` is running: by then it has switched to it (within a second
/// or two, a few for a national registry), so a moved device's readings are
/// bound to its old room up to that time and to its new one after, never
/// fall between the two.
pub const LEAD_MS: i64 = 10_000;

/// The time `text` names: RFC 3339, or a date (`YYYY-MM-DD`: its first
/// second in the registry's timezone, which all its sites must share).
pub fn parse_effective(text: &str, registry: &Registry) -> anyhow::Result<i64> {
    if let Some(ms) = devices::codec::parse_rfc3339_ms(text) {
        return Ok(ms);
    }
    let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        anyhow::anyhow!(
            "--effective {text:?} is neither a date (2026-12-01) nor an RFC 3339 time (2026-12-01T08:00:00+08:00)"
        )
    })?;
    let mut zones = registry.sites.iter().map(|s| s.timezone);
    let tz = zones.next().unwrap_or(chrono_tz::Asia::Shanghai);
    anyhow::ensure!(
        zones.all(|z| z == tz),
        "the registry's sites are in several timezones: give --effective as an RFC 3339 time with its offset"
    );
    Ok(devices::schedule::local_to_utc(tz, date.and_time(chrono::NaiveTime::MIN)) * 1000)
}

/// What to apply.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// A whole registry file.
    File(&'a Path),
    /// A change from spreadsheets (`devices::registry_csv::change`): only the
    /// rooms and devices that change, put onto the config's registry.
    Sheets {
        /// Room rows to add, update or remove.
        rooms: Option<&'a Path>,
        /// Device rows to add, update (move) or remove.
        devices: Option<&'a Path>,
    },
}

/// The new registry's text and the name its errors go under.
fn new_text(source: Source, config: &Config) -> anyhow::Result<(String, std::path::PathBuf)> {
    use devices::registry::{RegistryFile, is_json};
    match source {
        Source::File(file) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            anyhow::ensure!(
                is_json(file) == is_json(&config.registry),
                "{} is {}, the config's registry {} is {}: give the new registry in the same format",
                file.display(),
                if is_json(file) { "JSON" } else { "TOML" },
                config.registry.display(),
                if is_json(&config.registry) {
                    "JSON"
                } else {
                    "TOML"
                },
            );
            Ok((text, file.to_owned()))
        }
        Source::Sheets { rooms, devices } => {
            let path = &config.registry;
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let onto = RegistryFile::parse(&text, path)?;
            let (changed, _) =
                devices::registry_csv::change::change_from_csv(&onto, rooms, devices)?;
            let name = [rooms, devices]
                .into_iter()
                .flatten()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" + ");
            Ok((
                changed.to_text(path),
                format!("{} with {name}", path.display()).into(),
            ))
        }
    }
}

/// Checks the registry `source` gives against the registry of `config` and,
/// unless `dry_run`, records it in the history as holding from `effective`
/// (none: `now_ms`, [`LEAD_MS`] later while doorstep runs) and writes it in its place (to a temporary name, then
/// renamed). From sheets, the registry file is written anew (without its
/// comments).
pub fn apply(
    source: Source,
    config: &Config,
    dry_run: bool,
    effective: Option<&str>,
    now_ms: i64,
) -> anyhow::Result<Applied> {
    let (text, name) = new_text(source, config)?;
    let file = name.as_path();
    // The same one-line errors as `registry check`; nothing is written.
    let new = Registry::parse(&text, file)?;
    let old = Registry::load(&config.registry).with_context(|| {
        format!(
            "the registry in place, {}, does not load; fix or replace it by hand",
            config.registry.display()
        )
    })?;
    let changes: Vec<String> = diff(&old, &new).iter().map(ToString::to_string).collect();
    if changes.is_empty() {
        return Ok(Applied::Unchanged);
    }
    let data = &config.data_dir;
    let effective_ms = match effective {
        Some(t) => parse_effective(t, &new)?,
        None if running(data) => now_ms + LEAD_MS,
        None => now_ms,
    };
    // It must be able to follow the versions before: not before the latest's
    // time, no device that changes kind.
    let versions = crate::registry_history::list(data)?;
    // The first version holds for all time before the second.
    let since = match versions.as_slice() {
        [_, .., v] => crate::registry_history::effective_ms(v)?,
        _ => i64::MIN,
    };
    let latest = versions.last();
    let mut before = old;
    before.since_ms = since;
    devices::timeline::merge(&before, &new, effective_ms)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    if dry_run {
        return Ok(Applied::Checked(changes));
    }
    // The version first (a running doorstep finds its time there), then the file.
    let by = "doorstep registry apply";
    if latest.is_none() {
        // The config's registry was never recorded (no run yet): it is the first version.
        let first = std::fs::read_to_string(&config.registry)
            .with_context(|| format!("cannot read {}", config.registry.display()))?;
        let at = now_ms.min(effective_ms);
        crate::registry_history::record(data, &first, &before, at, now_ms, by)?;
    }
    let version = crate::registry_history::record(data, &text, &new, effective_ms, now_ms, by)?;
    let target = &config.registry;
    let mut tmp = target.clone().into_os_string();
    tmp.push(".applying");
    let tmp = std::path::PathBuf::from(tmp);
    std::fs::write(&tmp, &text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, target)
        .with_context(|| format!("cannot replace {}", target.display()))?;
    Ok(Applied::Installed(
        changes,
        version.map(|v| v.version),
        effective_ms,
    ))
}

/// Whether a `doorstep run` holds a journal of `data_dir` now (`journal`, or
/// `journal-pN` of a cluster's process N).
pub fn running(data_dir: &Path) -> bool {
    let held = |dir: &Path| {
        matches!(
            ingest::Journal::hold(dir),
            Err(ingest::JournalError::Locked { .. })
        )
    };
    let single = data_dir.join("journal");
    if single.is_dir() && held(&single) {
        return true;
    }
    std::fs::read_dir(data_dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with("journal-p"))
                && held(&e.path())
        })
}
