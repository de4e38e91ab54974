//! The readings a worker applied over the days the correction path reaches.
//!
//! A late reading rebuilds its room from the snapshot of its day, so the
//! readings applied since then must be at hand. Kept in memory they grow with
//! the message rate (two days of a national fleet are about 860 million
//! readings), so a live run keeps them on disk instead: one folder per UTC
//! day of event time, each split into [`BUCKETS`] append-only files by room,
//! so a correction reads one file per day and not the whole day's readings.
//! Records are the room (4 bytes, to skip others without decoding), the
//! length (2 bytes) and the reading in bincode.
//!
//! The files are a cache of `raw_events`: they are cleared when a worker
//! starts without a checkpoint, and a restart's replay of `raw_events` writes
//! them again. A checkpoint records each file's length; resuming from it cuts
//! the files back to those lengths, and the replay of what came after the
//! checkpoint appends the rest.

use devices::{Reading, RoomIdx};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Files per day; a correction reads one of them.
const BUCKETS: u32 = 256;
/// A bucket's buffer is appended to its file once it holds this many bytes.
const BUFFER: usize = 8 * 1024;
/// Record header: room (u32) and length (u16), little-endian.
const HEADER: usize = 6;

/// Where a worker keeps its applied readings.
pub(crate) enum History {
    /// Per room, in memory: replays and tests, where the run is short.
    Memory(HashMap<RoomIdx, Vec<Reading>>),
    /// On disk under a folder of the worker's own.
    Disk(DiskHistory),
}

/// What a checkpoint keeps of a worker's history.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) enum SavedHistory {
    /// The readings themselves (in memory: replays and tests).
    Memory(Vec<Reading>),
    /// The length of each file, by (day, bucket).
    Disk(Vec<(i64, u32, u64)>),
}

impl History {
    /// What a checkpoint keeps: every buffer is written out first.
    pub(crate) fn save(&mut self) -> SavedHistory {
        match self {
            History::Memory(m) => SavedHistory::Memory(m.values().flatten().cloned().collect()),
            History::Disk(d) => SavedHistory::Disk(d.lengths()),
        }
    }

    /// The history a checkpoint kept, under `dir` when given.
    pub(crate) fn resume(dir: Option<&Path>, saved: SavedHistory) -> History {
        match (dir, saved) {
            (None, SavedHistory::Memory(readings)) => {
                let mut m: HashMap<RoomIdx, Vec<Reading>> = HashMap::new();
                for r in readings {
                    m.entry(r.room).or_default().push(r);
                }
                History::Memory(m)
            }
            (Some(d), SavedHistory::Disk(lengths)) => {
                History::Disk(DiskHistory::resume(d, &lengths))
            }
            (dir, _) => {
                tracing::warn!(
                    "the checkpoint's correction history is of another kind; late readings before the restart are corrected from part of it"
                );
                History::open(dir)
            }
        }
    }

    /// On disk under `dir` when given (cleared first), else in memory.
    pub(crate) fn open(dir: Option<&Path>) -> History {
        match dir {
            None => History::Memory(HashMap::new()),
            Some(d) => History::Disk(DiskHistory::open(d)),
        }
    }

    /// Keeps a reading the room just applied.
    pub(crate) fn record(&mut self, r: Reading) {
        match self {
            History::Memory(m) => m.entry(r.room).or_default().push(r),
            History::Disk(d) => d.append(&r),
        }
    }

    /// The readings of `room` from `start` (Unix s) with the `late` ones, in the order
    /// they apply, each once; the history then holds them as the ones applied.
    pub(crate) fn rebuild(
        &mut self,
        room: RoomIdx,
        start: i64,
        late: Vec<Reading>,
    ) -> Vec<Reading> {
        let mut again: Vec<Reading> = match self {
            History::Memory(m) => {
                let kept = m.entry(room).or_default();
                let again = kept
                    .iter()
                    .filter(|r| r.time_s() >= start)
                    .cloned()
                    .collect();
                kept.retain(|r| r.time_s() < start);
                again
            }
            History::Disk(d) => {
                let again = d.read(room, start);
                for r in &late {
                    d.append(r);
                }
                again
            }
        };
        again.extend(late);
        // Stable: among equal keys the first applied (or first to arrive) is kept.
        again.sort_by_key(Reading::order_key);
        again.dedup_by(|b, a| a.same_message(b));
        if let History::Memory(m) = self {
            m.entry(room).or_default().extend(again.iter().cloned());
        }
        again
    }

    /// Drops what came before `oldest` (Unix s): no correction reaches it any more.
    pub(crate) fn forget(&mut self, room: RoomIdx, oldest: i64) {
        match self {
            History::Memory(m) => {
                if let Some(kept) = m.get_mut(&room) {
                    kept.retain(|r| r.time_s() >= oldest);
                }
            }
            // Rooms cross midnight at their own local times: see `forget_all_before`.
            History::Disk(_) => {}
        }
    }

    /// Drops what came before `oldest` (Unix s) for every room: the earliest
    /// snapshot any room of the worker still holds.
    pub(crate) fn forget_all_before(&mut self, oldest: i64) {
        if let History::Disk(d) = self {
            d.forget_days_before(oldest.div_euclid(86_400));
        }
    }
}

/// The on-disk form: `dir/<day>/<bucket>`, day counted from 1970-01-01 (UTC).
pub(crate) struct DiskHistory {
    dir: PathBuf,
    /// (day, bucket) -> bytes not yet appended to the file.
    buffers: HashMap<(i64, u32), Vec<u8>>,
    /// Days before this one have been deleted.
    kept_from: i64,
    failed: bool,
}

impl DiskHistory {
    fn open(dir: &Path) -> DiskHistory {
        let mut h = DiskHistory {
            dir: dir.to_owned(),
            buffers: HashMap::new(),
            kept_from: i64::MIN,
            failed: false,
        };
        if dir.exists()
            && let Err(e) = std::fs::remove_dir_all(dir)
        {
            h.fail("clear", dir, &e);
        }
        h
    }

    /// The files as a checkpoint found them: cut back to `lengths`, the others removed.
    fn resume(dir: &Path, lengths: &[(i64, u32, u64)]) -> DiskHistory {
        let mut h = DiskHistory {
            dir: dir.to_owned(),
            buffers: HashMap::new(),
            kept_from: i64::MIN,
            failed: false,
        };
        let keep: HashMap<(i64, u32), u64> =
            lengths.iter().map(|(d, b, l)| ((*d, *b), *l)).collect();
        for (day, bucket, path) in h.files() {
            let cut = match keep.get(&(day, bucket)) {
                Some(len) => std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|f| {
                        if f.metadata()?.len() < *len {
                            return Err(std::io::Error::other("shorter than the checkpoint says"));
                        }
                        f.set_len(*len)
                    }),
                None => std::fs::remove_file(&path),
            };
            if let Err(e) = cut {
                h.fail("cut back", &path, &e);
            }
        }
        let missing = keep
            .iter()
            .filter(|((d, b), l)| **l > 0 && !h.file(*d, *b).exists())
            .count();
        if missing > 0 {
            h.fail(
                "find",
                dir,
                &format!("{missing} files of the checkpoint are gone"),
            );
        }
        h
    }

    /// Every file: (day, bucket, path).
    fn files(&self) -> Vec<(i64, u32, PathBuf)> {
        let mut out = Vec::new();
        let Ok(days) = std::fs::read_dir(&self.dir) else {
            return out;
        };
        for day in days.flatten() {
            let Some(d) = day.file_name().to_str().and_then(|n| n.parse::<i64>().ok()) else {
                continue;
            };
            let Ok(buckets) = std::fs::read_dir(day.path()) else {
                continue;
            };
            for b in buckets.flatten() {
                if let Some(bucket) = b.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) {
                    out.push((d, bucket, b.path()));
                }
            }
        }
        out
    }

    /// Writes every buffer out; returns each file's length.
    fn lengths(&mut self) -> Vec<(i64, u32, u64)> {
        let keys: Vec<(i64, u32)> = self.buffers.keys().copied().collect();
        for k in keys {
            self.write_out(k);
        }
        // Synced: the checkpoint may outlive a power cut, and so must what it counts on.
        self.files()
            .into_iter()
            .filter_map(|(d, b, p)| {
                let f = std::fs::File::open(&p).ok()?;
                if let Err(e) = f.sync_data() {
                    self.fail("sync", &p, &e);
                }
                Some((d, b, f.metadata().ok()?.len()))
            })
            .collect()
    }

    /// Logs the first failure; corrections after it may miss readings.
    fn fail(&mut self, what: &str, path: &Path, e: &dyn std::fmt::Display) {
        if !self.failed {
            tracing::error!(path = %path.display(), error = %e,
                "cannot {what} the correction history; late readings may be corrected from part of it");
        }
        self.failed = true;
    }

    fn file(&self, day: i64, bucket: u32) -> PathBuf {
        self.dir.join(day.to_string()).join(format!("{bucket:03}"))
    }

    fn append(&mut self, r: &Reading) {
        let key = (r.time_s().div_euclid(86_400), r.room.0 % BUCKETS);
        let bytes = match bincode::serialize(r) {
            Ok(b) if b.len() <= usize::from(u16::MAX) => b,
            Ok(_) => return self.fail("encode", &self.dir.clone(), &"record too long"),
            Err(e) => return self.fail("encode", &self.dir.clone(), &e),
        };
        let buf = self.buffers.entry(key).or_default();
        buf.extend_from_slice(&r.room.0.to_le_bytes());
        buf.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
        buf.extend_from_slice(&bytes);
        if buf.len() >= BUFFER {
            self.write_out(key);
        }
    }

    /// Appends a bucket's buffer to its file.
    fn write_out(&mut self, key: (i64, u32)) {
        let Some(buf) = self.buffers.remove(&key) else {
            return;
        };
        let path = self.file(key.0, key.1);
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
            })
            .and_then(|mut f| f.write_all(&buf));
        if let Err(e) = written {
            self.fail("write", &path, &e);
        }
    }

    /// The readings of `room` at or after `start`, in the order appended.
    fn read(&mut self, room: RoomIdx, start: i64) -> Vec<Reading> {
        let bucket = room.0 % BUCKETS;
        let mut days: Vec<i64> = self
            .buffers
            .keys()
            .filter(|(d, b)| *b == bucket && *d >= start.div_euclid(86_400))
            .map(|(d, _)| *d)
            .collect();
        days.sort_unstable();
        for d in days {
            self.write_out((d, bucket));
        }
        let mut out = Vec::new();
        let mut day = start.div_euclid(86_400);
        let last = self.last_day();
        while day <= last {
            let path = self.file(day, bucket);
            match std::fs::read(&path) {
                Ok(bytes) => self.decode(&bytes, room, start, &mut out, &path),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => self.fail("read", &path, &e),
            }
            day += 1;
        }
        out
    }

    /// The latest day with a folder.
    fn last_day(&self) -> i64 {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return i64::MIN;
        };
        entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i64>().ok())
            .max()
            .unwrap_or(i64::MIN)
    }

    fn decode(
        &mut self,
        mut bytes: &[u8],
        room: RoomIdx,
        start: i64,
        out: &mut Vec<Reading>,
        path: &Path,
    ) {
        let mut header = [0u8; HEADER];
        while bytes.read_exact(&mut header).is_ok() {
            let rec_room = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
            let len = usize::from(u16::from_le_bytes([header[4], header[5]]));
            if bytes.len() < len {
                return self.fail("read", path, &"torn record");
            }
            let (rec, rest) = bytes.split_at(len);
            bytes = rest;
            if rec_room != room.0 {
                continue;
            }
            match bincode::deserialize::<Reading>(rec) {
                Ok(r) if r.time_s() >= start => out.push(r),
                Ok(_) => {}
                Err(e) => self.fail("decode", path, &e),
            }
        }
    }

    /// Deletes the folders of days before `day`.
    fn forget_days_before(&mut self, day: i64) {
        if day <= self.kept_from {
            return;
        }
        self.kept_from = day;
        self.buffers.retain(|(d, _), _| *d >= day);
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for e in entries.flatten() {
            let old = e
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<i64>().ok())
                .is_some_and(|d| d < day);
            if old && let Err(err) = std::fs::remove_dir_all(e.path()) {
                self.fail("delete", &e.path(), &err);
            }
        }
    }
}
