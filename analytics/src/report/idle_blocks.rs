//! The stored idle blocks (`idle_slots`) of a site's rooms: for each room, the
//! blocks of its latest evaluated day in the window, at that day's highest
//! revision (a room's idle blocks are a judgement over its lookback, so the
//! latest one is the current one).

use super::Result;
use super::grid::Block;
use super::read::{self, get, prim, strings};
use super::underuse::date32;
use arrow::datatypes::{Date32Type, UInt8Type, UInt16Type, UInt64Type};
use chrono::NaiveDate;
use std::collections::BTreeMap;
use std::path::Path;

/// Each room's latest evaluated day and revision in the window (`room_day`).
fn latest_days(
    root: &Path,
    from: NaiveDate,
    to: NaiveDate,
    site: &str,
) -> Result<BTreeMap<String, (NaiveDate, u16)>> {
    let mut latest: BTreeMap<String, (NaiveDate, u16)> = BTreeMap::new();
    let t = "room_day";
    for date in read::dates_in(root, t, from, to)? {
        let cols = ["site_id", "room_id", "revision"];
        let part = read::partition(root, t, date, &cols, Some(site))?;
        for (path, b) in &part.batches {
            let (s, r) = (
                strings(path, t, b, "site_id")?,
                strings(path, t, b, "room_id")?,
            );
            let rev = prim::<UInt16Type>(path, t, b, "revision")?;
            for i in 0..b.num_rows() {
                if s.value(i) != site {
                    continue;
                }
                let at = (date, rev.value(i));
                let e = latest.entry(r.value(i).to_owned()).or_insert(at);
                *e = (*e).max(at);
            }
        }
    }
    Ok(latest)
}

/// The idle blocks of every room of `site` with blocks in the window, by room
/// id, each sorted by weekday and start.
pub(crate) fn of_site(
    root: &Path,
    from: NaiveDate,
    to: NaiveDate,
    site: &str,
) -> Result<BTreeMap<String, Vec<Block>>> {
    let mut latest = latest_days(root, from, to, site)?;
    let mut out: BTreeMap<String, Vec<Block>> = BTreeMap::new();
    let cols = [
        "site_id",
        "room_id",
        "day",
        "weekday",
        "start_hour",
        "end_hour",
        "lookback_days",
        "open_seconds",
        "measured_seconds",
        "occupied_seconds",
        "revision",
    ];
    let t = "idle_slots";
    for date in read::dates_in(root, t, from, to)? {
        let part = read::partition(root, t, date, &cols, Some(site))?;
        for (path, b) in &part.batches {
            let (s, r) = (
                strings(path, t, b, "site_id")?,
                strings(path, t, b, "room_id")?,
            );
            let rev = prim::<UInt16Type>(path, t, b, "revision")?;
            let u8s = |c| prim::<UInt8Type>(path, t, b, c);
            let u64s = |c| prim::<UInt64Type>(path, t, b, c);
            let (weekday, start, end) = (u8s("weekday")?, u8s("start_hour")?, u8s("end_hour")?);
            let lookback = prim::<UInt16Type>(path, t, b, "lookback_days")?;
            let (open, measured) = (u64s("open_seconds")?, u64s("measured_seconds")?);
            let occupied = u64s("occupied_seconds")?;
            let day = prim::<Date32Type>(path, t, b, "day")?;
            for i in 0..b.num_rows() {
                if s.value(i) != site {
                    continue;
                }
                let room = r.value(i);
                let at = (date, rev.value(i));
                // A block of a day the room_day table does not (yet) show still
                // counts when it is the latest.
                let newest = latest.entry(room.to_owned()).or_insert(at);
                if at > *newest {
                    *newest = at;
                    out.remove(room);
                } else if at < *newest {
                    continue;
                }
                out.entry(room.to_owned()).or_default().push(Block {
                    day: get(day, i).map_or(date, date32),
                    weekday: weekday.value(i),
                    start_hour: start.value(i),
                    end_hour: end.value(i),
                    lookback_days: lookback.value(i),
                    open: open.value(i),
                    measured: measured.value(i),
                    occupied: occupied.value(i),
                });
            }
        }
    }
    for blocks in out.values_mut() {
        blocks.sort_by_key(|b| (b.weekday, b.start_hour));
        blocks.dedup();
    }
    Ok(out)
}
