//! The flags of one local day as stored (the highest revision of each), for
//! what must know them again after a restart (the alerts of closed days).

use super::Result;
use super::read::{self, latest, strings};
use chrono::NaiveDate;
use std::path::Path;

/// One stored flag of a room on a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayFlag {
    /// Site id.
    pub site_id: String,
    /// Room id.
    pub room_id: String,
    /// The flag, e.g. `IDLE`.
    pub flag: String,
    /// Its reason in English.
    pub reason_en: String,
    /// Its reason in Chinese.
    pub reason_zh: String,
}

/// The flags named in `kinds` stored in partition `date` of `flags` under `root`.
pub fn flags_on(root: &Path, date: NaiveDate, kinds: &[&str]) -> Result<Vec<DayFlag>> {
    let cols = [
        "site_id",
        "room_id",
        "flag",
        "reason_en",
        "reason_zh",
        "revision",
    ];
    let part = read::partition(root, "flags", date, &cols, None)?;
    let keep = latest(&part, &["site_id", "room_id", "flag"])?;
    let mut out = Vec::new();
    for ((path, b), rows) in part.batches.iter().zip(keep) {
        let t = "flags";
        let (sites, rooms) = (
            strings(path, t, b, "site_id")?,
            strings(path, t, b, "room_id")?,
        );
        let flags = strings(path, t, b, "flag")?;
        let (en, zh) = (
            strings(path, t, b, "reason_en")?,
            strings(path, t, b, "reason_zh")?,
        );
        for i in rows.iter() {
            if !kinds.contains(&flags.value(i)) {
                continue;
            }
            let f = DayFlag {
                site_id: sites.value(i).to_owned(),
                room_id: rooms.value(i).to_owned(),
                flag: flags.value(i).to_owned(),
                reason_en: en.value(i).to_owned(),
                reason_zh: zh.value(i).to_owned(),
            };
            if !out.contains(&f) {
                out.push(f);
            }
        }
    }
    Ok(out)
}
