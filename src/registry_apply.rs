//! `doorstep registry apply FILE`: checks a new registry, shows what it
//! changes, and puts it in place of the config's registry file, or refuses it
//! in one line and leaves the file as it was.
//!
//! The change takes effect when `doorstep run` next starts (it then records it
//! in the registry's history); a running one keeps its registry until then. A
//! switch without a restart is not built yet (issue 19).

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
    /// Written in place of the config's registry.
    Installed(Vec<String>),
}

/// Checks `file` against the registry of `config` and, unless `dry_run`,
/// writes it in its place (to a temporary name, then renamed).
pub fn apply(file: &Path, config: &Config, dry_run: bool) -> anyhow::Result<Applied> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    // The same one-line errors as `registry check`; nothing is written.
    let new = Registry::from_toml(&text, file)?;
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
    if dry_run {
        return Ok(Applied::Checked(changes));
    }
    let target = &config.registry;
    let tmp = target.with_extension("toml.applying");
    std::fs::write(&tmp, &text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, target)
        .with_context(|| format!("cannot replace {}", target.display()))?;
    Ok(Applied::Installed(changes))
}

/// Whether a `doorstep run` holds the journal of `data_dir` now.
pub fn running(data_dir: &Path) -> bool {
    matches!(
        ingest::Journal::hold(&data_dir.join("journal")),
        Err(ingest::JournalError::Locked { .. })
    )
}
