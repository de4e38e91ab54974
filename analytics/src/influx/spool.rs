//! The disk spool: batches of points the server did not take, kept as segment
//! files of line protocol until it takes them, up to a byte bound.
//!
//! A segment is one appended batch, `<seq:020>.lp` in the spool folder, written
//! to `.lp.tmp`, synced, renamed and the folder synced: a segment is either
//! whole or absent after a crash (leftover `.tmp` files are removed at open).
//! Segments are sent oldest first and deleted only after the server took them,
//! so a crash between the two sends one segment again (at least once).

use super::point::Point;
use super::{Result, io};
use std::collections::VecDeque;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Segments of line protocol on disk, oldest first.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    segments: VecDeque<Segment>,
    bytes: u64,
    next: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Segment {
    seq: u64,
    bytes: u64,
}

/// What [`Spool::append`] did with a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Appended {
    /// Points now in the spool.
    pub kept: usize,
    /// Points that did not fit under the bound, newest first to go.
    pub dropped: usize,
}

/// The oldest segments, read for sending.
#[derive(Debug)]
pub struct Oldest {
    /// Their lines, in order.
    pub body: Vec<u8>,
    /// Points (lines) in `body`.
    pub points: usize,
    seqs: Vec<u64>,
}

impl Spool {
    /// Opens (creating if needed) the spool in `dir`, keeping the segments a
    /// previous run left, and removing half-written ones.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Spool> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let mut segments = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let entry = entry.map_err(io(dir))?;
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".tmp") {
                std::fs::remove_file(&path).map_err(io(&path))?;
                continue;
            }
            let Some(seq) = name.strip_suffix(".lp").and_then(|s| s.parse().ok()) else {
                continue;
            };
            let bytes = entry.metadata().map_err(io(&path))?.len();
            segments.push(Segment { seq, bytes });
        }
        segments.sort_by_key(|s| s.seq);
        let next = segments.last().map_or(0, |s| s.seq + 1);
        let bytes = segments.iter().map(|s| s.bytes).sum();
        Ok(Spool {
            dir: dir.to_owned(),
            max_bytes,
            segments: segments.into(),
            bytes,
            next,
        })
    }

    /// Nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// Bytes waiting.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Segment files waiting.
    pub fn segments(&self) -> usize {
        self.segments.len()
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}.lp"))
    }

    /// Appends the points that fit under the bound, in order, as one synced
    /// segment; the rest are dropped (and reported, not written).
    pub fn append(&mut self, points: &[Point]) -> Result<Appended> {
        let room = self.max_bytes.saturating_sub(self.bytes);
        let mut size = 0u64;
        let kept = points
            .iter()
            .take_while(|p| {
                size += p.len() as u64;
                size <= room
            })
            .count();
        let done = Appended {
            kept,
            dropped: points.len() - kept,
        };
        if kept == 0 {
            return Ok(done);
        }
        let seq = self.next;
        let path = self.path(seq);
        let tmp = path.with_extension("lp.tmp");
        let mut body = Vec::new();
        for p in &points[..kept] {
            body.extend_from_slice(p.as_str().as_bytes());
        }
        let written = (|| {
            let mut f = File::create(&tmp)?;
            f.write_all(&body)?;
            f.sync_all()
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(io(&tmp)(e));
        }
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        sync_dir(&self.dir)?;
        self.next += 1;
        self.bytes += body.len() as u64;
        self.segments.push_back(Segment {
            seq,
            bytes: body.len() as u64,
        });
        Ok(done)
    }

    /// Reads the oldest segments, whole, until they hold at least `max_points`
    /// points or none is left (always at least one segment); `None` when empty.
    pub fn oldest(&self, max_points: usize) -> Result<Option<Oldest>> {
        let mut out = Oldest {
            body: Vec::new(),
            points: 0,
            seqs: Vec::new(),
        };
        for s in &self.segments {
            if !out.seqs.is_empty() && out.points >= max_points {
                break;
            }
            let path = self.path(s.seq);
            let mut bytes = std::fs::read(&path).map_err(io(&path))?;
            if bytes.last().is_some_and(|b| *b != b'\n') {
                bytes.push(b'\n');
            }
            out.points += bytes.iter().filter(|b| **b == b'\n').count();
            out.body.extend_from_slice(&bytes);
            out.seqs.push(s.seq);
        }
        Ok((!out.seqs.is_empty()).then_some(out))
    }

    /// Deletes the segments `oldest` read, once the server has them.
    pub fn remove(&mut self, oldest: &Oldest) -> Result<()> {
        for seq in &oldest.seqs {
            let Some(front) = self.segments.front().copied() else {
                break;
            };
            if front.seq != *seq {
                // Not ours (cannot happen with one writer): keep it.
                break;
            }
            let path = self.path(front.seq);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&path)(e)),
            }
            self.segments.pop_front();
            self.bytes -= front.bytes;
        }
        Ok(())
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(from: usize, n: usize) -> Vec<Point> {
        (from..from + n)
            .map(|i| Point::from_line(format!("m,t=x v={i}i {i}\n")))
            .collect()
    }

    fn body(ps: &[Point]) -> Vec<u8> {
        ps.iter().flat_map(|p| p.as_str().bytes()).collect()
    }

    #[test]
    fn segments_come_back_in_order_after_a_restart_and_go_when_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Spool::open(dir.path(), 1 << 20).expect("open");
        assert!(s.is_empty());
        assert_eq!(s.append(&points(0, 3)).expect("append").kept, 3);
        assert_eq!(s.append(&points(3, 2)).expect("append").kept, 2);
        std::fs::write(dir.path().join("00000000000000000009.lp.tmp"), "half").expect("tmp");
        drop(s);

        let mut s = Spool::open(dir.path(), 1 << 20).expect("reopen");
        assert_eq!(s.segments(), 2);
        assert!(!dir.path().join("00000000000000000009.lp.tmp").exists());
        let first = s.oldest(1).expect("read").expect("some");
        assert_eq!(first.points, 3);
        assert_eq!(first.body, body(&points(0, 3)));
        s.remove(&first).expect("remove");
        assert_eq!(s.append(&points(5, 1)).expect("append").kept, 1);
        let rest = s.oldest(100).expect("read").expect("some");
        assert_eq!(rest.points, 3);
        assert_eq!(rest.body, body(&points(3, 3)));
        s.remove(&rest).expect("remove");
        assert!(s.is_empty());
        assert_eq!(s.bytes(), 0);
        assert!(s.oldest(10).expect("read").is_none());
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
    }

    #[test]
    fn what_does_not_fit_under_the_bound_is_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ps = points(0, 10);
        let line = ps[0].len() as u64;
        let mut s = Spool::open(dir.path(), line * 4 + 3).expect("open");
        let a = s.append(&ps[..3]).expect("append");
        assert_eq!((a.kept, a.dropped), (3, 0));
        let a = s.append(&ps[3..]).expect("append");
        assert_eq!((a.kept, a.dropped), (1, 6));
        let a = s.append(&ps[..1]).expect("append");
        assert_eq!((a.kept, a.dropped), (0, 1));
        assert_eq!(s.segments(), 2);
        assert_eq!(s.bytes(), line * 4);
    }
}
