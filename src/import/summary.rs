//! What an import did, for the person who ran it: counts, rejections per reason
//! with their first examples, and what was written.

use super::Recomputed;
use devices::{DeviceIdx, Reading, Reason, Registry, Rejection, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

/// Examples kept per reason.
const EXAMPLES: usize = 3;

/// A rejected message: file index, line, detail.
type Example = (usize, u64, String);

/// Counts of one import.
#[derive(Debug)]
pub struct Summary {
    format: String,
    binding: String,
    accepted: u64,
    door_in: u64,
    door_out: u64,
    first_ms: Option<i64>,
    last_ms: Option<i64>,
    rejected: BTreeMap<Reason, (u64, Vec<Example>)>,
    recomputed: Option<(Recomputed, String)>,
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl Summary {
    /// An empty summary of a `format` import into `device`.
    pub fn new(format: &str, site: &str, reg: &Registry, device: DeviceIdx) -> Summary {
        let d = reg.device(device);
        Summary {
            format: format.to_owned(),
            binding: format!(
                "site {site}, room {}, {} device {}",
                reg.room(d.room).id,
                d.kind.as_str(),
                d.id
            ),
            accepted: 0,
            door_in: 0,
            door_out: 0,
            first_ms: None,
            last_ms: None,
            rejected: BTreeMap::new(),
            recomputed: None,
        }
    }

    /// Counts an accepted reading.
    pub fn accepted(&mut self, r: &Reading) {
        self.accepted += 1;
        if let Value::Door { inn, out } = r.value {
            self.door_in += u64::from(inn);
            self.door_out += u64::from(out);
        }
        self.first_ms = Some(self.first_ms.map_or(r.time_ms, |f| f.min(r.time_ms)));
        self.last_ms = Some(self.last_ms.map_or(r.time_ms, |l| l.max(r.time_ms)));
    }

    /// Counts a rejected message from `file` at `line`.
    pub fn rejected(&mut self, r: &Rejection, file: usize, line: u64) {
        let e = self.rejected.entry(r.reason).or_default();
        e.0 += 1;
        if e.1.len() < EXAMPLES {
            e.1.push((file, line, r.detail.clone()));
        }
        tracing::debug!(reason = r.reason.as_str(), line, detail = %r.detail, "rejected imported row");
    }

    /// Records what the recomputation wrote.
    pub fn recomputed(&mut self, r: Recomputed, raw_tag: &str) {
        self.recomputed = Some((r, raw_tag.to_owned()));
    }

    /// The report, several lines.
    pub fn render(&self, files: &[PathBuf]) -> String {
        let mut s = String::new();
        let rejected: u64 = self.rejected.values().map(|(n, _)| n).sum();
        let _ = writeln!(
            s,
            "imported {} file(s) as {} into {}",
            files.len(),
            self.format,
            self.binding
        );
        let _ = writeln!(
            s,
            "messages: {} accepted, {} rejected",
            thousands(self.accepted),
            thousands(rejected)
        );
        if let (Some(a), Some(b)) = (self.first_ms, self.last_ms) {
            let fmt = |ms| {
                chrono::DateTime::from_timestamp_millis(ms)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                    .unwrap_or_default()
            };
            let _ = writeln!(s, "event times: {} to {}", fmt(a), fmt(b));
        }
        if self.door_in + self.door_out > 0 {
            let _ = writeln!(
                s,
                "door crossings accepted: {} in, {} out",
                thousands(self.door_in),
                thousands(self.door_out)
            );
        }
        if rejected > 0 {
            let _ = writeln!(s, "rejected, by reason (kept in quarantine):");
            for (reason, (n, examples)) in &self.rejected {
                let _ = writeln!(s, "  {:<18} {:>8}", reason.as_str(), thousands(*n));
                for (file, line, detail) in examples {
                    let name = files.get(*file).map(|f| f.display().to_string());
                    let _ = writeln!(s, "      {}:{line}: {detail}", name.unwrap_or_default());
                }
            }
        }
        if let Some((r, raw_tag)) = &self.recomputed {
            let span = r
                .span
                .map(|(a, b)| format!(", {a} to {b}"))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "raw_events and quarantine: part-{raw_tag}.parquet (importing the same input again replaces them)"
            );
            let _ = writeln!(
                s,
                "recomputed the site from {} imported readings: {} room days{span}, {} room hours (part-{}.parquet)",
                thousands(r.readings as u64),
                thousands(r.days as u64),
                thousands(r.hours as u64),
                r.tag
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(19_597), "19,597");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
