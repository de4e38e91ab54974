//! What an import did, for the person who ran it: counts, rejections per reason
//! with their first examples, and what was written.

use super::recompute::Recomputed;
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
    /// The batch's name.
    name: String,
    /// Batches this import replaced.
    replaced: Vec<String>,
    /// A warning that the times look shifted.
    timezone_warning: Option<String>,
    accepted: u64,
    door_in: u64,
    door_out: u64,
    first_ms: Option<i64>,
    last_ms: Option<i64>,
    rejected: BTreeMap<Reason, (u64, Vec<Example>)>,
    recomputed: Option<(Recomputed, String)>,
}

/// Unix milliseconds as RFC 3339 (UTC, seconds).
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

pub(crate) fn thousands(n: u64) -> String {
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
    pub fn new(format: &str, site: &str, reg: &Registry, device: DeviceIdx, name: &str) -> Summary {
        let d = reg.device(device);
        Summary {
            format: format.to_owned(),
            binding: format!(
                "site {site}, room {}, {} device {}",
                reg.room(d.room).id,
                d.kind.as_str(),
                d.id
            ),
            name: name.to_owned(),
            replaced: Vec::new(),
            timezone_warning: None,
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

    /// Notes that the batch `name` was replaced.
    pub fn replaced(&mut self, name: &str) {
        if !self.replaced.iter().any(|n| n == name) {
            self.replaced.push(name.to_owned());
        }
    }

    /// Messages rejected.
    fn rejected_total(&self) -> u64 {
        self.rejected.values().map(|(n, _)| n).sum()
    }

    /// Why the import writes nothing: more than `max` of the rows rejected.
    pub fn refused(&self, max: f64) -> Option<String> {
        let rejected = self.rejected_total();
        let total = rejected + self.accepted;
        let share = if total == 0 {
            0.0
        } else {
            rejected as f64 / total as f64
        };
        (share > max).then(|| {
            format!(
                "{} of {} rows rejected ({:.1} %, more than --max-rejected {:.1} %): nothing was written; check the mapping and the reasons above, or pass --max-rejected 1 to import what was accepted",
                thousands(rejected),
                thousands(total),
                share * 100.0,
                max * 100.0
            )
        })
    }

    /// Warns when the times look shifted: most readings with people in them
    /// fall outside the room's opening hours (and a shift of whole hours would
    /// put them inside), or, for a room open around the clock, between 00:00
    /// and 05:00. `parse_tz` is the timezone the times were read in.
    pub fn check_timezone(
        &mut self,
        readings: &[Reading],
        schedule: &devices::Schedule,
        site_tz: chrono_tz::Tz,
        parse_tz: chrono_tz::Tz,
    ) {
        use chrono::Timelike;
        let active: Vec<i64> = readings
            .iter()
            .filter(|r| match r.value {
                Value::Count(n) => n > 0,
                Value::Presence(p) => p,
                Value::Door { inn, .. } => inn > 0,
                _ => false,
            })
            .map(Reading::time_s)
            .collect();
        let (Some(&first), Some(&last)) = (active.iter().min(), active.iter().max()) else {
            return;
        };
        if active.len() < 20 {
            return;
        }
        let spans = schedule.open_spans(site_tz, first - 15 * 3600, last + 15 * 3600);
        let inside = |t: i64| {
            let i = spans.partition_point(|s| s.end <= t);
            spans.get(i).is_some_and(|s| s.start <= t)
        };
        let share = |hours: i64| {
            let n = active.iter().filter(|t| inside(*t + hours * 3600)).count();
            n as f64 / active.len() as f64
        };
        let now = share(0);
        let pct = |x: f64| format!("{:.0} %", x * 100.0);
        if now < 0.5 {
            let best = (-14..=14)
                .filter(|h| *h != 0)
                .map(|h| (h, share(h)))
                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.abs().cmp(&a.0.abs())));
            if let Some((h, s)) = best.filter(|(_, s)| *s >= 0.8 && *s >= now + 0.3) {
                self.timezone_warning = Some(format!(
                    "warning: only {} of the readings with people in them fall inside the room's opening hours; shifted by {h:+} h, {} would. If the times were not written in {}, import again with --timezone (the batch is replaced)",
                    pct(now),
                    pct(s),
                    parse_tz.name()
                ));
                return;
            }
        }
        let night = active
            .iter()
            .filter(|t| {
                chrono::DateTime::from_timestamp(**t, 0)
                    .is_some_and(|d| d.with_timezone(&site_tz).hour() < 5)
            })
            .count();
        if night * 2 >= active.len() {
            self.timezone_warning = Some(format!(
                "warning: {} of {} readings with people in them fall between 00:00 and 05:00 in {}; if the times were not written in {}, import again with --timezone (the batch is replaced)",
                thousands(night as u64),
                thousands(active.len() as u64),
                site_tz.name(),
                parse_tz.name()
            ));
        }
    }

    /// Records what the recomputation wrote.
    pub fn recomputed(&mut self, r: Recomputed, raw_tag: &str) {
        self.recomputed = Some((r, raw_tag.to_owned()));
    }

    /// The report, several lines.
    pub fn render(&self, files: &[PathBuf]) -> String {
        let mut s = String::new();
        let rejected = self.rejected_total();
        let _ = writeln!(
            s,
            "batch {:?}: {} file(s) as {} into {}",
            self.name,
            files.len(),
            self.format,
            self.binding
        );
        for old in &self.replaced {
            let _ = writeln!(s, "replaced the earlier batch {old:?}");
        }
        let _ = writeln!(
            s,
            "messages: {} accepted, {} rejected",
            thousands(self.accepted),
            thousands(rejected)
        );
        if let (Some(a), Some(b)) = (self.first_ms, self.last_ms) {
            let _ = writeln!(s, "event times: {} to {}", rfc3339(a), rfc3339(b));
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
                    // An unreadable row's detail names its line already.
                    let detail = detail
                        .strip_prefix(&format!("line {line}: "))
                        .unwrap_or(detail);
                    let _ = writeln!(s, "      {}:{line}: {detail}", name.unwrap_or_default());
                }
            }
        }
        if let Some(w) = &self.timezone_warning {
            let _ = writeln!(s, "{w}");
        }
        if let Some((r, raw_tag)) = &self.recomputed {
            let span = r
                .span
                .map(|(a, b)| format!(", {a} to {b}"))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "raw_events and quarantine: part-{raw_tag}.parquet (doorstep import list shows the batch; importing the same files again replaces it, doorstep import remove takes it out)"
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
