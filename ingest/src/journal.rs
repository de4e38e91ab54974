//! The durable raw log: every message doorstep takes in is appended here and
//! synced to disk before the broker is told it arrived (the MQTT acknowledgement).
//!
//! The journal is a folder of segments, one JSON line per message. Every few
//! seconds what came in is written to Parquet (`raw_events`, `quarantine`) in
//! files named after the segment, and a new segment begins; the old one is
//! then removed. After a crash, the segments left are written to Parquet again
//! under the same names, which replaces anything half done: nothing is lost
//! and nothing is written twice.

use devices::{Reading, Rejection};
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// One message as journaled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Entry {
    /// Accepted, bound to its room.
    Accepted(Reading),
    /// Rejected, with its reason and payload.
    Rejected(Rejection),
}

/// Errors of the journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The disk refused.
    #[error("journal {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Another process holds the journal.
    #[error("another doorstep is using {path}; stop it, or give this one its own data_dir")]
    Locked {
        /// The journal folder.
        path: PathBuf,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A segment of the journal found at start-up, not yet in Parquet.
#[derive(Debug)]
pub struct Leftover {
    /// Its name, the tag of its Parquet files.
    pub tag: String,
    /// What it holds, in the order it was written (a torn last line is dropped).
    pub entries: Vec<Entry>,
    path: PathBuf,
}

/// The journal, appending to its current segment.
#[derive(Debug)]
pub struct Journal {
    /// Held while the journal is open, so two processes never share it.
    lock: File,
    dir: PathBuf,
    /// Put in every segment's tag (and so in its Parquet files' names): in a cluster, the process.
    label: String,
    tag: String,
    file: File,
    line: Vec<u8>,
    /// Sync after each append (always, but in a benchmark measuring its cost).
    sync: bool,
}

fn segments(dir: &Path) -> Result<Vec<(String, PathBuf)>, JournalError> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        if path.extension().is_some_and(|e| e == "jsonl")
            && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
        {
            found.push((stem.to_owned(), path.clone()));
        }
    }
    found.sort();
    Ok(found)
}

fn read_segment(path: &Path) -> Result<Vec<Entry>, JournalError> {
    let file = File::open(path).map_err(io(path))?;
    let mut entries = Vec::new();
    for line in BufReader::new(file).split(b'\n') {
        let line = line.map_err(io(path))?;
        match serde_json::from_slice(&line) {
            Ok(e) => entries.push(e),
            // A line cut short by a crash: its message was never acknowledged.
            Err(_) => tracing::warn!(segment = %path.display(), "dropping a torn journal line"),
        }
    }
    Ok(entries)
}

impl Journal {
    /// Opens the journal in `dir` and returns the segments a crash left behind.
    pub fn open(dir: &Path) -> Result<(Journal, Vec<Leftover>), JournalError> {
        Journal::open_labelled(dir, "")
    }

    /// Takes the lock of the journal in `dir` without opening it, so that no doorstep
    /// runs on it while the returned file is held.
    pub fn hold(dir: &Path) -> Result<File, JournalError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let lock_path = dir.join(".lock");
        let lock = File::create(&lock_path).map_err(io(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => Ok(lock),
            Err(std::fs::TryLockError::WouldBlock) => Err(JournalError::Locked {
                path: dir.to_owned(),
            }),
            Err(std::fs::TryLockError::Error(e)) => Err(io(&lock_path)(e)),
        }
    }

    /// As [`Journal::open`]; segment tags read `j<ms>-<n>-<label>-<pid>` (`label`
    /// names the process of a cluster, so each one's Parquet files say who wrote them).
    pub fn open_labelled(
        dir: &Path,
        label: &str,
    ) -> Result<(Journal, Vec<Leftover>), JournalError> {
        let lock = Journal::hold(dir)?;
        let mut leftovers = Vec::new();
        for (tag, path) in segments(dir)? {
            let entries = read_segment(&path)?;
            leftovers.push(Leftover { tag, entries, path });
        }
        let label = if label.is_empty() {
            String::new()
        } else {
            format!("{label}-")
        };
        let journal = Journal::start(dir, lock, label)?;
        Ok((journal, leftovers))
    }

    fn start(dir: &Path, lock: File, label: String) -> Result<Journal, JournalError> {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let now = chrono_like_now_ms();
        let tag = format!("j{now:013}-{n:06}-{label}{}", std::process::id());
        let path = dir.join(format!("{tag}.jsonl"));
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        sync_dir(dir)?;
        Ok(Journal {
            lock,
            dir: dir.to_owned(),
            label,
            tag,
            file,
            line: Vec::with_capacity(512),
            sync: true,
        })
    }

    /// For benchmarks only: `false` leaves out the sync after each append, to
    /// measure what it costs; a crash may then lose acknowledged messages.
    pub fn set_sync(&mut self, sync: bool) {
        self.sync = sync;
    }

    /// The tag of the current segment (its Parquet files are named after it).
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// Appends entries and syncs them to disk; once this returns they survive a crash.
    pub fn append(&mut self, entries: &[Entry]) -> Result<(), JournalError> {
        if entries.is_empty() {
            return Ok(());
        }
        let path = self.dir.join(format!("{}.jsonl", self.tag));
        self.line.clear();
        for e in entries {
            serde_json::to_writer(&mut self.line, e).map_err(|e| JournalError::Io {
                path: path.clone(),
                source: e.into(),
            })?;
            self.line.push(b'\n');
        }
        crash_point(&mut self.file, &self.line);
        self.file.write_all(&self.line).map_err(io(&path))?;
        if !self.sync {
            return Ok(());
        }
        self.file.sync_data().map_err(io(&path))
    }

    /// The current segment is in Parquet: start a new one and remove it.
    pub fn rotate(&mut self) -> Result<(), JournalError> {
        let old = self.dir.join(format!("{}.jsonl", self.tag));
        let lock = self.lock.try_clone().map_err(io(&self.dir))?;
        *self = Journal::start(&self.dir, lock, self.label.clone())?;
        fs::remove_file(&old).map_err(io(&old))?;
        sync_dir(&self.dir)
    }

    /// A leftover segment is in Parquet: remove it.
    pub fn done(&self, leftover: Leftover) -> Result<(), JournalError> {
        fs::remove_file(&leftover.path).map_err(io(&leftover.path))?;
        sync_dir(&self.dir)
    }
}

/// For crash tests: `DOORSTEP_CRASH_IN_JOURNAL=N` aborts the process halfway
/// through the N-th append's write (its last line torn, nothing synced).
fn crash_point(file: &mut File, bytes: &[u8]) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static APPENDS: AtomicU64 = AtomicU64::new(0);
    let Some(n) = std::env::var_os("DOORSTEP_CRASH_IN_JOURNAL") else {
        return;
    };
    let count = APPENDS.fetch_add(1, Ordering::Relaxed) + 1;
    if n.to_str().and_then(|n| n.parse().ok()) == Some(count) {
        let _ = file.write_all(&bytes[..bytes.len() / 2]);
        eprintln!("DOORSTEP_CRASH_IN_JOURNAL: aborting halfway through journal write {count}");
        std::process::abort();
    }
}

fn chrono_like_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use devices::{DeviceIdx, Reason, RoomIdx, Value};

    fn reading(n: u32) -> Entry {
        Entry::Accepted(Reading {
            device: DeviceIdx(0),
            room: RoomIdx(0),
            time_ms: 1_795_396_500_000 + i64::from(n),
            received_ms: 1_795_396_500_000,
            seq: Some(u64::from(n)),
            clock_skew: false,
            value: Value::Count(n),
        })
    }

    #[test]
    fn what_was_appended_survives_until_rotated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut j, left) = Journal::open(dir.path()).expect("open");
        assert!(left.is_empty());
        let bad = Entry::Rejected(Rejection {
            reason: Reason::MalformedJson,
            detail: "x".into(),
            topic: "doorstep/v1/s/d".into(),
            payload: vec![0xff, b'{'],
            received_ms: 1,
        });
        j.append(&[reading(1), bad.clone()]).expect("append");
        j.append(&[reading(2)]).expect("append");
        drop(j); // a crash: nothing rotated
        let (mut j, left) = Journal::open(dir.path()).expect("reopen");
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].entries, [reading(1), bad, reading(2)]);
        for l in left {
            j.done(l).expect("done");
        }
        j.append(&[reading(3)]).expect("append");
        j.rotate().expect("rotate");
        drop(j);
        let (_, left) = Journal::open(dir.path()).expect("reopen");
        // The rotated segment is gone; only the (empty) segment after it is left.
        assert!(left.iter().all(|l| l.entries.is_empty()), "{left:?}");
    }

    #[test]
    fn one_process_at_a_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (first, _) = Journal::open(dir.path()).expect("open");
        let err = Journal::open(dir.path()).expect_err("locked");
        assert!(
            err.to_string().contains("another doorstep is using"),
            "{err}"
        );
        drop(first);
        assert!(Journal::open(dir.path()).is_ok(), "free again");
    }

    #[test]
    fn a_torn_last_line_is_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut j, _) = Journal::open(dir.path()).expect("open");
        j.append(&[reading(1)]).expect("append");
        let path = dir.path().join(format!("{}.jsonl", j.tag()));
        let mut f = OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("segment");
        f.write_all(br#"{"Accepted":{"device":0,"#).expect("torn");
        drop(j);
        let (_, left) = Journal::open(dir.path()).expect("reopen");
        let all: Vec<Entry> = left.into_iter().flat_map(|l| l.entries).collect();
        assert_eq!(all, [reading(1)]);
    }
}
