//! An import holds the data directory's journal locks, so that it never
//! writes beside a `doorstep run` (or a process of a cluster).

use anyhow::Context;
use std::path::{Path, PathBuf};

/// The data directory, locked against a `doorstep run` (and a cluster's
/// processes) for as long as this lives.
pub(super) struct Locked {
    journal: Option<ingest::Journal>,
    segment: PathBuf,
    _cluster: Vec<std::fs::File>,
}

impl Locked {
    pub(super) fn take(data: &Path, store: &analytics::Store) -> anyhow::Result<Locked> {
        let in_use = || {
            format!(
                "doorstep import writes to {} only while no doorstep run uses it",
                data.display()
            )
        };
        let (journal, _) =
            crate::intake::open_journal(&data.join("journal"), "", store).with_context(in_use)?;
        // Nor a process of a cluster (each journals into `journal-p<N>`).
        let cluster = hold_cluster_journals(data).with_context(in_use)?;
        let segment = data
            .join("journal")
            .join(format!("{}.jsonl", journal.tag()));
        Ok(Locked {
            journal: Some(journal),
            segment,
            _cluster: cluster,
        })
    }
}

impl Drop for Locked {
    fn drop(&mut self) {
        // The journal segment opened for the lock stays empty: remove it.
        if std::fs::metadata(&self.segment).is_ok_and(|m| m.len() == 0) {
            let _ = std::fs::remove_file(&self.segment);
        }
        drop(self.journal.take());
    }
}

/// Takes the journal locks of a cluster's processes in `data` (`journal-p<N>`).
fn hold_cluster_journals(data: &Path) -> anyhow::Result<Vec<std::fs::File>> {
    let mut held = Vec::new();
    let Ok(entries) = std::fs::read_dir(data) else {
        return Ok(held);
    };
    for e in entries.flatten() {
        let cluster = e
            .file_name()
            .to_str()
            .and_then(|n| n.strip_prefix("journal-p"))
            .is_some_and(|n| n.parse::<u32>().is_ok());
        if cluster && e.path().is_dir() {
            held.push(ingest::Journal::hold(&e.path())?);
        }
    }
    Ok(held)
}
