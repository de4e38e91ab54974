//! The pipeline's checkpoints (docs/DESIGN.md, "Checkpoints"): which one a
//! start resumes from, which `raw_events` files it replays after it, and the
//! `COMMIT` that makes one usable once the tables hold every row its state
//! produced.
//!
//! Layout: `<data_dir>/checkpoints/<name>/<epoch>/`, `<name>` being `main`, or
//! `p<process>` in a cluster; in it one part per stage (`rooms-<worker>`,
//! `sites-<worker>`, `feeder`, `intake`) and `COMMIT` (JSON), written last.

use crate::cluster::ClusterSpec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use stream::checkpoint::{self as parts, FORMAT, Mark};

/// The intake's part.
pub const INTAKE_PART: &str = "intake";
/// Committed checkpoints kept; older ones are removed.
const KEEP: usize = 2;

/// Where this process's checkpoints are, and which parts make one.
#[derive(Debug, Clone)]
pub struct Place {
    root: PathBuf,
    name: String,
    /// The other processes' names (a cluster resumes from an epoch all committed).
    others: Vec<String>,
    /// This process's workers (global indices).
    workers: std::ops::Range<usize>,
    /// The registry's layout ([`devices::Registry::layout_fingerprint`]), for
    /// checkpoints that record only that.
    registry: u64,
    /// The registry (of all time, of now: a registry switch reaches it): the
    /// state is saved by room and device index, valid under a registry that
    /// gives each index the same meaning.
    layout: Option<devices::Current>,
}

/// What `COMMIT` says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Commit {
    /// Format of the parts.
    pub format: u32,
    /// The checkpoint's name.
    pub epoch: i64,
    /// When it was asked for and committed, Unix ms.
    pub asked_ms: i64,
    /// When every part was on disk and the tables held their rows, Unix ms.
    pub committed_ms: i64,
    /// Per input (label of the journal, empty for a single process): the first
    /// journal segment not in the state.
    pub covers: Vec<(String, String)>,
    /// Total size of this process's parts, bytes.
    pub bytes: u64,
    /// The layout of the registry the state was taken under (none in
    /// checkpoints written before it was recorded: taken as the same).
    #[serde(default)]
    pub registry: Option<u64>,
    /// The ids of its rooms and devices by index: the state is valid under any
    /// later version of the registry of all time (none in older checkpoints,
    /// which `registry` decides).
    #[serde(default)]
    pub layout: Option<devices::timeline::Layout>,
}

/// A checkpoint chosen at start.
pub struct Resume {
    /// Its folder.
    pub dir: PathBuf,
    /// Its `COMMIT`.
    pub commit: Commit,
    /// The intake's part.
    pub intake: ingest::SavedIntake,
}

impl Place {
    /// This process's place under `data_dir`.
    pub fn new(data_dir: &Path, cluster: Option<&ClusterSpec>, threads: usize) -> Place {
        let root = data_dir.join("checkpoints");
        let threads = threads.max(1);
        match cluster {
            Some(c) => Place {
                root,
                name: format!("p{}", c.process),
                others: (0..c.addresses.len())
                    .filter(|p| *p != c.process)
                    .map(|p| format!("p{p}"))
                    .collect(),
                workers: c.process * threads..(c.process + 1) * threads,
                registry: 0,
                layout: None,
            },
            None => Place {
                root,
                name: "main".into(),
                others: Vec::new(),
                workers: 0..threads,
                registry: 0,
                layout: None,
            },
        }
    }

    /// The place for state taken under `registry`.
    pub fn for_registry(mut self, registry: &devices::Current) -> Place {
        self.registry = registry.get().layout_fingerprint();
        self.layout = Some(registry.clone());
        self
    }

    /// Whether state saved as `commit` says fits the registry of now.
    fn fits(&self, commit: &Commit) -> bool {
        match (&commit.layout, &self.layout, commit.registry) {
            (Some(saved), Some(now), _) => saved.fits(&now.get()),
            (_, _, Some(fingerprint)) => fingerprint == self.registry,
            _ => true,
        }
    }

    /// The folder under which this process's checkpoints go.
    pub fn dir(&self) -> PathBuf {
        self.root.join(&self.name)
    }

    /// The folder of checkpoint `epoch`.
    pub fn epoch_dir(&self, epoch: i64) -> PathBuf {
        self.dir().join(format!("{epoch:013}"))
    }

    fn parts(&self) -> Vec<String> {
        let mut p: Vec<String> = self
            .workers
            .clone()
            .flat_map(|w| [parts::rooms_part(w), parts::sites_part(w)])
            .collect();
        p.push(parts::FEEDER_PART.into());
        p.push(INTAKE_PART.into());
        p
    }

    /// Committed epochs under `name`, newest first.
    fn committed(&self, name: &str) -> Vec<i64> {
        let Ok(entries) = std::fs::read_dir(self.root.join(name)) else {
            return Vec::new();
        };
        let mut epochs: Vec<i64> = entries
            .flatten()
            .filter(|e| e.path().join("COMMIT").is_file())
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect();
        epochs.sort_unstable_by(|a, b| b.cmp(a));
        epochs
    }

    /// The newest checkpoint every part of which is whole (in a cluster, one that
    /// every process committed). Says in one log line which, or why none.
    pub fn choose(&self) -> Option<Resume> {
        let mut epochs = self.committed(&self.name);
        for other in &self.others {
            let theirs = self.committed(other);
            epochs.retain(|e| theirs.contains(e));
        }
        let mut why = if self.committed(&self.name).is_empty() {
            "none written yet".to_owned()
        } else {
            "no checkpoint committed by every process of the cluster".to_owned()
        };
        for epoch in epochs {
            match self.check(epoch) {
                Ok(r) => {
                    tracing::info!(
                        checkpoint = %r.dir.display(),
                        bytes = r.commit.bytes,
                        age_s = (now_ms() - r.commit.committed_ms) / 1000,
                        "resuming from checkpoint; replaying only what came after it"
                    );
                    return Some(r);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "checkpoint not usable, trying an older one");
                    why = e;
                }
            }
        }
        tracing::info!(
            reason = %why,
            "no usable checkpoint; rebuilding the stream's state from raw_events"
        );
        None
    }

    fn check(&self, epoch: i64) -> Result<Resume, String> {
        let dir = self.epoch_dir(epoch);
        let commit_path = dir.join("COMMIT");
        let commit: Commit = std::fs::read(&commit_path)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
            .map_err(|e| format!("{}: {e}", commit_path.display()))?;
        if !self.fits(&commit) {
            return Err(format!(
                "{}: taken under another registry (not a version of the registry history this one follows); its state is by index and would land in the wrong rooms",
                dir.display()
            ));
        }
        if commit.format != FORMAT {
            return Err(format!(
                "{}: format {}, this doorstep reads format {FORMAT}",
                dir.display(),
                commit.format
            ));
        }
        for part in self.parts() {
            parts::check_part(&dir, &part).map_err(|e| e.to_string())?;
        }
        let intake = parts::read_part(&dir, INTAKE_PART).map_err(|e| e.to_string())?;
        Ok(Resume {
            dir,
            commit,
            intake,
        })
    }
}

/// Unix ms now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A journal segment's position: (ms, counter) from its tag `j<ms>-<n>-[label-]<pid>`,
/// with its label.
fn segment(tag: &str) -> Option<(String, (i64, u64))> {
    let rest = tag.strip_prefix('j')?;
    let mut it = rest.split('-');
    let ms = it.next()?.parse().ok()?;
    let n = it.next()?.parse().ok()?;
    let mut tail: Vec<&str> = it.collect();
    tail.pop()?; // the pid
    Some((tail.join("-"), (ms, n)))
}

/// Which `raw_events` files hold readings a resume must replay: those of the
/// journal segments at or after the checkpoint's cover of their input. Files
/// of no segment (merged by compaction, imported) are older than any cover.
pub fn after_covers(covers: &[(String, String)]) -> impl Fn(&str) -> bool + use<> {
    let covers: BTreeMap<String, (i64, u64)> =
        covers.iter().filter_map(|(_, tag)| segment(tag)).collect();
    move |file: &str| {
        let Some(tag) = file
            .strip_prefix("part-")
            .and_then(|f| f.strip_suffix(".parquet"))
        else {
            return false;
        };
        match segment(tag) {
            Some((label, at)) => covers.get(&label).is_none_or(|c| at >= *c),
            None => false,
        }
    }
}

/// The `raw_events` files compaction leaves alone: those a restart from a
/// checkpoint kept under `data_dir` would replay.
pub fn spare_from(data_dir: &Path) -> impl Fn(&str) -> bool + use<> {
    let from = oldest_cover_ms(data_dir);
    move |file: &str| {
        let Some(from) = from else { return false };
        file.strip_prefix("part-")
            .and_then(|f| f.strip_suffix(".parquet"))
            .and_then(segment)
            .is_some_and(|(_, (ms, _))| ms >= from)
    }
}

/// The earliest journal position any kept checkpoint still needs replayed, Unix
/// ms: compaction leaves the files from it on.
fn oldest_cover_ms(data_dir: &Path) -> Option<i64> {
    let root = data_dir.join("checkpoints");
    let mut oldest: Option<i64> = None;
    for entry in std::fs::read_dir(&root).ok()?.flatten() {
        let mut epochs: Vec<PathBuf> = std::fs::read_dir(entry.path())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.join("COMMIT").is_file())
            .collect();
        epochs.sort();
        // The oldest kept: a start may fall back to it.
        let Some(first) = epochs.first() else {
            continue;
        };
        let commit: Option<Commit> = std::fs::read(first.join("COMMIT"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        for (_, tag) in commit.map(|c| c.covers).unwrap_or_default() {
            if let Some((_, (ms, _))) = segment(&tag) {
                oldest = Some(oldest.map_or(ms, |o| o.min(ms)));
            }
        }
    }
    oldest
}

/// Commits checkpoints once every local worker's marker has reached the tables' writer.
pub struct Committer {
    place: Place,
    stats: Arc<stream::StreamStats>,
    gathering: Option<(Mark, usize)>,
}

impl Committer {
    /// Commits `place`'s checkpoints, counting them in `stats`.
    pub fn new(place: Place, stats: Arc<stream::StreamStats>) -> Committer {
        Committer {
            place,
            stats,
            gathering: None,
        }
    }

    /// A worker's marker: returns the checkpoint once every local worker's has come
    /// (the caller then writes the tables, and [`Committer::commit`]s).
    pub fn on_mark(&mut self, mark: Mark) -> Option<Mark> {
        let n = match self.gathering.take() {
            Some((m, n)) if m.epoch == mark.epoch => n + 1,
            Some(newer) if newer.0.epoch > mark.epoch => {
                self.gathering = Some(newer);
                return None;
            }
            _ => 1,
        };
        if n < self.place.workers.len() {
            self.gathering = Some((mark, n));
            return None;
        }
        Some(mark)
    }

    /// Writes `COMMIT` for `mark` (its rows are in the tables) and removes older checkpoints.
    pub fn commit(&self, mark: &Mark) -> anyhow::Result<()> {
        let dir = self.place.epoch_dir(mark.epoch);
        let mut bytes = 0;
        for part in self.place.parts() {
            let path = dir.join(&part);
            let meta = std::fs::metadata(&path)
                .map_err(|e| anyhow::anyhow!("checkpoint {} lacks {part}: {e}", dir.display()))?;
            bytes += meta.len();
        }
        let committed_ms = now_ms();
        let commit = Commit {
            format: FORMAT,
            epoch: mark.epoch,
            asked_ms: mark.at_ms,
            committed_ms,
            covers: mark.covers.clone(),
            bytes,
            registry: Some(
                self.place
                    .layout
                    .as_ref()
                    .map_or(self.place.registry, |r| r.get().layout_fingerprint()),
            ),
            layout: self
                .place
                .layout
                .as_ref()
                .map(|r| devices::timeline::Layout::of(&r.get())),
        };
        let tmp = dir.join("COMMIT.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&commit)?)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, dir.join("COMMIT"))?;
        std::fs::File::open(&dir)?.sync_all()?;
        let s = &self.stats;
        s.checkpoints.fetch_add(1, Ordering::Relaxed);
        s.checkpoint_bytes.store(bytes, Ordering::Relaxed);
        s.checkpoint_write_ms
            .store((committed_ms - mark.at_ms).max(0) as u64, Ordering::Relaxed);
        s.checkpoint_at_ms.store(committed_ms, Ordering::Relaxed);
        tracing::debug!(epoch = mark.epoch, bytes, "checkpoint committed");
        self.prune(mark.epoch);
        Ok(())
    }

    /// Keeps the newest committed checkpoints; removes older ones and unfinished
    /// ones older than the newest.
    fn prune(&self, newest: i64) {
        let committed = self.place.committed(&self.place.name);
        let keep: Vec<i64> = committed.iter().take(KEEP).copied().collect();
        let Ok(entries) = std::fs::read_dir(self.place.dir()) else {
            return;
        };
        for e in entries.flatten() {
            let Some(epoch) = e.file_name().to_str().and_then(|n| n.parse::<i64>().ok()) else {
                continue;
            };
            if epoch < newest
                && !keep.contains(&epoch)
                && let Err(err) = std::fs::remove_dir_all(e.path())
            {
                tracing::warn!(path = %e.path().display(), error = %err, "cannot remove an old checkpoint");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_after_the_cover_are_replayed() {
        let covers = vec![(String::new(), "j1764900000000-000042-4711".to_owned())];
        let keep = after_covers(&covers);
        assert!(
            keep("part-j1764900000000-000042-4711.parquet"),
            "the cover itself"
        );
        assert!(keep("part-j1764900000000-000043-4711.parquet"));
        assert!(keep("part-j1764900000001-000001-9.parquet"), "a later run");
        assert!(!keep("part-j1764900000000-000041-4711.parquet"));
        assert!(!keep("part-j1764899999999-999999-4711.parquet"));
        assert!(!keep("part-7f3a.parquet"), "merged by compaction");
        assert!(!keep("part-import-x.parquet"));
        // In a cluster each input has its own cover; an input without one is replayed.
        let covers = vec![
            ("p0".into(), "j1000-000005-p0-1".into()),
            ("p1".into(), "j2000-000001-p1-2".into()),
        ];
        let keep = after_covers(&covers);
        assert!(keep("part-j1500-000000-p0-1.parquet"));
        assert!(!keep("part-j1500-000000-p1-2.parquet"));
        assert!(keep("part-j1-000000-p2-3.parquet"));
    }
}
