//! Checkpoints of the stream's state (docs/DESIGN.md, "Checkpoints").
//!
//! A checkpoint is a folder `<checkpoints>/<epoch>` of part files, one per
//! stage that holds state (each worker's rooms and sites, the feeder's
//! watermark, the intake's filters), and a `COMMIT` file written last by the
//! caller once every part is on disk and every row the parts' state has
//! produced is in the tables. A folder without `COMMIT` is unfinished.
//!
//! A part file is a header (magic, format version, payload length, FNV-1a
//! checksum of the payload) and the payload in bincode; it is written to a
//! temporary name, synced and renamed, so a crash leaves either nothing or a
//! whole file.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The format of the part files; a checkpoint of another format is not used.
pub const FORMAT: u32 = 1;
const MAGIC: &[u8; 8] = b"DSCKPT\0\0";
const HEADER: usize = 8 + 4 + 8 + 8;

/// A marker that travels with the readings: the state reached once every
/// input's marker of `epoch` has arrived is checkpoint `epoch`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Mark {
    /// Names the checkpoint (Unix ms, or the interval's slot in a cluster).
    pub epoch: i64,
    /// Wall time the checkpoint was asked for, Unix ms.
    pub at_ms: i64,
    /// Per input (the process of a cluster that took the readings in): the
    /// last journal segment whose readings the state holds.
    pub covers: Vec<(String, String)>,
}

/// Errors reading or writing a checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The disk refused.
    #[error("checkpoint {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a whole part of this format.
    #[error("checkpoint {path}: {why}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes `value` as the part `name` of the checkpoint folder `dir`; returns its
/// size. The value is encoded straight into the file (a national worker's rooms
/// are hundreds of MB: no second copy in memory).
pub fn write_part<T: Serialize>(dir: &Path, name: &str, value: &T) -> Result<u64, CheckpointError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let path = dir.join(name);
    let invalid = |e: bincode::Error| CheckpointError::Invalid {
        path: path.clone(),
        why: e.to_string(),
    };
    let len = bincode::serialized_size(value).map_err(invalid)?;
    let tmp = dir.join(format!("{name}.tmp"));
    let file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    let mut out = Hashing {
        inner: std::io::BufWriter::with_capacity(1 << 20, file),
        hash: FNV_OFFSET,
        written: 0,
        abort_at: crash_armed().then_some(len / 2),
    };
    let mut header = Vec::with_capacity(HEADER);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&FORMAT.to_le_bytes());
    header.extend_from_slice(&len.to_le_bytes());
    // The checksum, once the payload is written.
    header.extend_from_slice(&0u64.to_le_bytes());
    out.inner.write_all(&header).map_err(io(&tmp))?;
    bincode::serialize_into(&mut out, value).map_err(invalid)?;
    let sum = out.hash;
    let mut file = out
        .inner
        .into_inner()
        .map_err(|e| io(&tmp)(e.into_error()))?;
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start((HEADER - 8) as u64))
        .map_err(io(&tmp))?;
    file.write_all(&sum.to_le_bytes()).map_err(io(&tmp))?;
    file.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    Ok(HEADER as u64 + len)
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// Passes bytes on and keeps their checksum.
struct Hashing<W> {
    inner: W,
    hash: u64,
    written: u64,
    /// `DOORSTEP_CRASH_IN_CHECKPOINT`: abort once this much is written.
    abort_at: Option<u64>,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        for b in &buf[..n] {
            self.hash ^= u64::from(*b);
            self.hash = self.hash.wrapping_mul(0x0100_0000_01b3);
        }
        self.written += n as u64;
        if self.abort_at.is_some_and(|at| self.written >= at) {
            let _ = self.inner.flush();
            eprintln!("DOORSTEP_CRASH_IN_CHECKPOINT: aborting mid-write");
            std::process::abort();
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Checks that the part `name` in `dir` is whole and of this format, reading it
/// a block at a time.
pub fn check_part(dir: &Path, name: &str) -> Result<(), CheckpointError> {
    use std::io::Read;
    let path = dir.join(name);
    let invalid = |why: &str| CheckpointError::Invalid {
        path: path.clone(),
        why: why.to_owned(),
    };
    let mut file = std::fs::File::open(&path).map_err(io(&path))?;
    let mut header = [0u8; HEADER];
    if file.read_exact(&mut header).is_err() || &header[..8] != MAGIC {
        return Err(invalid("not a doorstep checkpoint part"));
    }
    let word = |at: usize| -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&header[at..at + 8]);
        u64::from_le_bytes(w)
    };
    let mut v = [0u8; 4];
    v.copy_from_slice(&header[8..12]);
    let version = u32::from_le_bytes(v);
    if version != FORMAT {
        return Err(invalid(&format!(
            "format {version}, this doorstep reads format {FORMAT}"
        )));
    }
    let (len, sum) = (word(12), word(20));
    let (mut hash, mut seen) = (FNV_OFFSET, 0u64);
    let mut block = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut block).map_err(io(&path))?;
        if n == 0 {
            break;
        }
        for b in &block[..n] {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        seen += n as u64;
    }
    if seen != len || hash != sum {
        return Err(invalid("cut short or damaged"));
    }
    Ok(())
}

/// Reads the part `name` of the checkpoint folder `dir`, checked first.
pub fn read_part<T: DeserializeOwned>(dir: &Path, name: &str) -> Result<T, CheckpointError> {
    use std::io::{Seek, SeekFrom};
    check_part(dir, name)?;
    let path = dir.join(name);
    let mut file = std::fs::File::open(&path).map_err(io(&path))?;
    file.seek(SeekFrom::Start(HEADER as u64))
        .map_err(io(&path))?;
    bincode::deserialize_from(std::io::BufReader::with_capacity(1 << 20, file)).map_err(|e| {
        CheckpointError::Invalid {
            path: path.clone(),
            why: e.to_string(),
        }
    })
}

/// The part of worker `index`'s rooms.
pub fn rooms_part(index: usize) -> String {
    format!("rooms-{index}")
}

/// The part of worker `index`'s sites.
pub fn sites_part(index: usize) -> String {
    format!("sites-{index}")
}

/// The part of the watermark (the worker that feeds this process's input).
pub const FEEDER_PART: &str = "feeder";

/// `DOORSTEP_CRASH_IN_CHECKPOINT=N`: the process aborts halfway through writing
/// its Nth checkpoint part (crash tests only).
fn crash_armed() -> bool {
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let Some(n) = std::env::var("DOORSTEP_CRASH_IN_CHECKPOINT")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return false;
    };
    WRITES.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 == n
}

/// Values shared by several trackers of a room (its lookback days, shared with
/// the correction path's snapshots), written once and referred to by index.
#[derive(Debug)]
pub(crate) struct Pool<T: ?Sized> {
    items: Vec<Arc<T>>,
    index: HashMap<usize, u32>,
}

impl<T: ?Sized> Default for Pool<T> {
    fn default() -> Self {
        Pool {
            items: Vec::new(),
            index: HashMap::new(),
        }
    }
}

impl<T: ?Sized> Pool<T> {
    /// The index of `item`, adding it the first time.
    pub(crate) fn put(&mut self, item: &Arc<T>) -> u32 {
        let key = Arc::as_ptr(item).cast::<u8>() as usize;
        let next = self.items.len() as u32;
        *self.index.entry(key).or_insert_with(|| {
            self.items.push(Arc::clone(item));
            next
        })
    }

    /// The items, in index order.
    pub(crate) fn into_items(self) -> Vec<Arc<T>> {
        self.items
    }
}

/// Looks up indices in a pool read back (an index out of range is left out).
pub(crate) fn take<T: ?Sized>(items: &[Arc<T>], indices: &[u32]) -> Vec<Arc<T>> {
    indices
        .iter()
        .filter_map(|i| items.get(*i as usize).map(Arc::clone))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_reads_back_and_a_damaged_one_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let value = (vec![1u32, 2, 3], "二楼".to_owned());
        let size = write_part(dir.path(), "x", &value).expect("written");
        assert!(size > HEADER as u64);
        let back: (Vec<u32>, String) = read_part(dir.path(), "x").expect("read");
        assert_eq!(back, value);
        let path = dir.path().join("x");
        let mut bytes = std::fs::read(&path).expect("bytes");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).expect("damaged");
        assert!(read_part::<(Vec<u32>, String)>(dir.path(), "x").is_err());
        std::fs::write(&path, &bytes[..HEADER + 2]).expect("cut");
        assert!(check_part(dir.path(), "x").is_err());
        bytes[8] = 9;
        std::fs::write(&path, &bytes).expect("other format");
        let err = check_part(dir.path(), "x").expect_err("refused");
        assert!(err.to_string().contains("format 9"), "{err}");
    }
}
