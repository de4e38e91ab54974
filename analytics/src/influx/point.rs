//! Rows as InfluxDB points: one line of line protocol each, millisecond
//! timestamps, ids as tags (optionally the Chinese names too), the numbers of
//! the Parquet tables as fields. Fields that are null in Parquet are left out.
//!
//! The line is encoded by `influxdb2`'s `DataPoint`, which escapes spaces,
//! commas and equals signs in tags; what it does not handle is cleaned first
//! (see [`tag_value`]).

use super::{Error, Result};
use devices::{Category, LiveRoom, Registry, Room, RoomWindow, Site, SiteDay, WindowKind};
use influxdb2::models::data_point::DataPointBuilder;
use influxdb2::models::{DataPoint, WriteDataPoint};

/// Measurement of live occupancy, one point per change.
pub const ROOM_LIVE: &str = "room_live";
/// Measurement of closed local hours (the `room_hour` table).
pub const ROOM_HOUR: &str = "room_hour";
/// Measurement of closed local days (the `room_day` table).
pub const ROOM_DAY: &str = "room_day";
/// Measurement of closed service-category slots of a day (the `room_slot_day` table).
pub const ROOM_SLOT_DAY: &str = "room_slot_day";
/// Measurement of site days (the `site_day` table).
pub const SITE_DAY: &str = "site_day";

/// One point: a `\n`-terminated line of InfluxDB line protocol with a
/// millisecond timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Point(String);

impl Point {
    /// The line, ending in `\n`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Bytes of the line.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never true for a built point; here for completeness.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A point from a line made elsewhere (tests).
    #[cfg(test)]
    pub(crate) fn from_line(line: String) -> Point {
        Point(line)
    }
}

/// A tag value as it can go into line protocol: control characters (a line
/// break would end the line) become spaces, and backslashes are doubled so
/// that a name ending in `\` does not escape the separator after it (line
/// protocol reads `\\` as one backslash). `None` when nothing is left: line
/// protocol has no empty tag values, so the tag is left out.
///
/// Spaces, commas and equals signs are escaped by `influxdb2` afterwards.
pub fn tag_value(value: &str) -> Option<String> {
    if value.trim().is_empty() {
        return None;
    }
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    Some(out)
}

/// Builds one line; fields that are `None` or not finite are skipped.
struct Line {
    b: DataPointBuilder,
    fields: usize,
}

impl Line {
    fn new(measurement: &str) -> Line {
        Line {
            b: DataPoint::builder(measurement),
            fields: 0,
        }
    }

    fn tag(mut self, key: &str, value: &str) -> Line {
        if let Some(v) = tag_value(value) {
            self.b = self.b.tag(key, v);
        }
        self
    }

    fn names(self, on: bool, names: &[(&str, &str)]) -> Line {
        if !on {
            return self;
        }
        names.iter().fold(self, |l, (k, v)| l.tag(k, v))
    }

    fn int(mut self, key: &str, value: impl Into<u64>) -> Line {
        let v = i64::try_from(value.into()).unwrap_or(i64::MAX);
        self.b = self.b.field(key, v);
        self.fields += 1;
        self
    }

    fn opt_int(self, key: &str, value: Option<impl Into<u64>>) -> Line {
        match value {
            Some(v) => self.int(key, v),
            None => self,
        }
    }

    fn float(mut self, key: &str, value: Option<f64>) -> Line {
        if let Some(v) = value.filter(|v| v.is_finite()) {
            self.b = self.b.field(key, v);
            self.fields += 1;
        }
        self
    }

    fn boolean(mut self, key: &str, value: bool) -> Line {
        self.b = self.b.field(key, value);
        self.fields += 1;
        self
    }

    fn at_ms(self, ms: i64) -> Point {
        debug_assert!(self.fields > 0, "every point has a field");
        let point = self
            .b
            .timestamp(ms)
            .build()
            .expect("every point has at least one field");
        let mut line = Vec::with_capacity(256);
        point
            .write_data_point_to(&mut line)
            .expect("writing to a Vec does not fail");
        // DataPoint writes only the UTF-8 of its strings and ASCII.
        Point(String::from_utf8(line).expect("line protocol of UTF-8 strings"))
    }
}

fn room_of(registry: &Registry, idx: devices::RoomIdx) -> Result<(&Room, &Site)> {
    let room = registry.rooms.get(idx.ix()).ok_or(Error::NotInRegistry {
        what: "room",
        index: idx.0,
    })?;
    let site = registry
        .sites
        .get(room.site.ix())
        .ok_or(Error::NotInRegistry {
            what: "site",
            index: room.site.0,
        })?;
    Ok((room, site))
}

/// The one service category the room hosts in `[from, to)`, if exactly one.
fn hosted(room: &Room, site: &Site, from: i64, to: i64) -> Option<Category> {
    let spans = room.schedule.open_spans(site.timezone, from, to);
    let first = spans.first()?.category;
    spans.iter().all(|s| s.category == first).then_some(first)
}

/// A live occupancy point (`room_live`) at the event time of the reading that changed it.
///
/// Fields: `occupancy` (people now, left out when unknown), `known`,
/// `over_capacity`, `capacity` (not for presence-only rooms). Tags: `site_id`,
/// `room_id`, `category` (the service the schedule hosts at that instant,
/// when open), and with `names` `site_name`, `room_name`.
pub fn live(registry: &Registry, live: &LiveRoom, names: bool) -> Result<Point> {
    let (room, site) = room_of(registry, live.room)?;
    let t = live.updated_ms.div_euclid(1000);
    let category = hosted(room, site, t, t + 1);
    let capacity = (!room.sensors.presence_only()).then_some(room.capacity);
    Ok(Line::new(ROOM_LIVE)
        .tag("site_id", &site.id)
        .tag("room_id", &room.id)
        .tag("category", category.map(Category::as_str).unwrap_or(""))
        .names(
            names,
            &[("site_name", &site.name), ("room_name", &room.name)],
        )
        .opt_int("occupancy", live.occupancy)
        .boolean("known", live.occupancy.is_some())
        .boolean("over_capacity", live.over_capacity_since_ms.is_some())
        .opt_int("capacity", capacity)
        .at_ms(live.updated_ms))
}

/// The measurement of a window kind.
pub fn measurement(kind: WindowKind) -> &'static str {
    match kind {
        WindowKind::Hour => ROOM_HOUR,
        WindowKind::Day => ROOM_DAY,
        WindowKind::SlotDay(_) => ROOM_SLOT_DAY,
    }
}

/// A closed room window (`room_hour`, `room_day` or `room_slot_day`) at its start.
///
/// Fields: the metric columns of the Parquet table of the same name
/// (docs/SCHEMA.md) that are not null, `door_residual` for door rooms' days
/// and `revision`. Tags: `site_id`, `room_id`, `visits_method`, `category`
/// (a slot's category; for hours and days the service hosted, when the
/// window's opening time hosts exactly one), and with `names` `site_name`,
/// `room_name`.
pub fn window(registry: &Registry, w: &RoomWindow, names: bool) -> Result<Point> {
    let (room, site) = room_of(registry, w.room)?;
    let category = match w.kind {
        WindowKind::SlotDay(c) => Some(c),
        WindowKind::Hour | WindowKind::Day => hosted(room, site, w.start, w.end),
    };
    let after_hours = match w.kind {
        WindowKind::Hour | WindowKind::Day => Some(w.after_hours_occupied_seconds),
        WindowKind::SlotDay(_) => None,
    };
    Ok(Line::new(measurement(w.kind))
        .tag("site_id", &site.id)
        .tag("room_id", &room.id)
        .tag("category", category.map(Category::as_str).unwrap_or(""))
        .tag("visits_method", w.visits_method.as_str())
        .names(
            names,
            &[("site_name", &site.name), ("room_name", &room.name)],
        )
        .int("open_seconds", w.open_seconds)
        .int("measured_seconds", w.measured_seconds)
        .float("coverage", w.coverage())
        .int("occupied_seconds", w.occupied_seconds)
        .float("time_utilization", w.time_utilization())
        .float("mean_occupancy", w.mean_occupancy())
        .float("capacity_utilization", w.capacity_utilization())
        .float("mean_occupancy_when_used", w.mean_occupancy_when_used())
        .opt_int("peak_occupancy", w.peak_occupancy)
        .float("peak_utilization", w.peak_utilization())
        .int("visits", w.visits)
        .float("mean_dwell_seconds", w.mean_dwell_seconds())
        .int("longest_idle_seconds", w.longest_idle_seconds)
        .opt_int("after_hours_occupied_seconds", after_hours)
        .opt_int("over_capacity_seconds", w.over_capacity())
        .int("person_seconds", w.person_seconds)
        .opt_int("capacity", w.capacity)
        .opt_int("door_residual", w.door_residual)
        .int("revision", w.revision)
        .at_ms(w.start.saturating_mul(1000)))
}

/// A site day (`site_day`) at the day's start.
///
/// Fields: the numeric columns of the `site_day` table that are not null,
/// `meets_function_mix` as a boolean, and `revision`. Tags: `site_id`, and with
/// `names` `site_name`, `city`, `district`.
pub fn site_day(registry: &Registry, d: &SiteDay, names: bool) -> Result<Point> {
    let site = registry
        .sites
        .get(d.site.ix())
        .ok_or(Error::NotInRegistry {
            what: "site",
            index: d.site.0,
        })?;
    Ok(Line::new(SITE_DAY)
        .tag("site_id", &site.id)
        .names(
            names,
            &[
                ("site_name", &site.name),
                ("city", &site.city),
                ("district", &site.district),
            ],
        )
        .int("rooms", d.rooms)
        .int("open_seconds", d.open_seconds)
        .int("measured_seconds", d.measured_seconds)
        .int("occupied_seconds", d.occupied_seconds)
        .int("person_seconds", d.person_seconds)
        .int("capacity_person_seconds", d.capacity_person_seconds)
        .int("capacity_seconds", d.capacity_seconds)
        .float("coverage", d.coverage())
        .float("time_utilization", d.time_utilization())
        .float("capacity_utilization", d.capacity_utilization())
        .int("visits", d.visits)
        .float("visits_per_day", Some(d.visits_per_day()))
        .float("visits_per_100m2_day", d.visits_per_100m2_day())
        .float("area_m2", Some(d.area_m2))
        .int("rooms_covered", d.rooms_covered)
        .int("rooms_underused", d.rooms_underused)
        .float("share_rooms_underused", d.share_rooms_underused())
        .int("functions_in_use", d.functions_in_use.len() as u64)
        .boolean("meets_function_mix", d.meets_function_mix())
        .int("revision", d.revision)
        .at_ms(d.start.saturating_mul(1000)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use devices::{RoomIdx, VisitsMethod};
    use std::path::Path;

    fn registry(site_name: &str, room_name: &str) -> Registry {
        let toml = format!(
            r#"
            [[site]]
            id = "s1"
            name = {site_name:?}
            city = "上海市"
            [[site.room]]
            id = "hall"
            name = {room_name:?}
            capacity = 30
            area_m2 = 80
            schedule = ["daily 09:00-12:00 infant_care", "daily 14:00-17:00 elderly_care"]
            [[site.device]]
            id = "c1"
            room = "hall"
            kind = "count"
            "#
        );
        Registry::from_toml(&toml, Path::new("test.toml")).expect("registry")
    }

    fn hour(start: i64) -> RoomWindow {
        RoomWindow {
            kind: WindowKind::Hour,
            room: RoomIdx(0),
            start,
            end: start + 3600,
            open_seconds: 3600,
            measured_seconds: 3600,
            occupied_seconds: 1200,
            person_seconds: 3600,
            peak_occupancy: Some(4),
            visits: 3,
            visits_method: VisitsMethod::Transitions,
            longest_idle_seconds: 1800,
            after_hours_occupied_seconds: 0,
            over_capacity_seconds: 0,
            capacity: Some(30),
            door_residual: None,
            revision: 0,
        }
    }

    #[test]
    fn chinese_names_with_spaces_commas_and_equals_are_escaped() {
        let r = registry("浦东 塘桥,社区=综合体", "多功能 活动厅,一楼");
        // 2026-11-10 01:00 UTC = 09:00 Shanghai: the infant care hours.
        let p = window(&r, &hour(1_794_272_400), true).expect("point");
        let line = p.as_str();
        assert!(line.ends_with(" 1794272400000\n"), "{line}");
        assert!(
            line.starts_with(
                r"room_hour,category=infant_care,room_id=hall,room_name=多功能\ 活动厅\,一楼,site_id=s1,site_name=浦东\ 塘桥\,社区\=综合体,visits_method=transitions "
            ),
            "{line}"
        );
        assert!(line.contains(",capacity=30i,"), "{line}");
        assert!(
            line.contains(",time_utilization=0.3333333333333333,"),
            "{line}"
        );
        // No mean_dwell_seconds (transitions) and no door_residual (hour).
        assert!(!line.contains("mean_dwell"), "{line}");
        assert!(!line.contains("door_residual"), "{line}");
        assert_eq!(line.matches('\n').count(), 1);
    }

    #[test]
    fn line_breaks_and_backslashes_in_names_cannot_break_the_line() {
        let r = registry("社区\\", "活动\n厅\t");
        let p = window(&r, &hour(1_794_272_400), true).expect("point");
        let line = p.as_str();
        assert_eq!(line.matches('\n').count(), 1, "{line}");
        assert!(line.contains(r"room_name=活动\ 厅\ ,"), "{line}");
        assert!(line.contains(r"site_name=社区\\,"), "{line}");
        assert_eq!(tag_value(" \n "), None);
        assert_eq!(tag_value("a\\,b").as_deref(), Some("a\\\\,b"));
    }

    #[test]
    fn hours_hosting_two_services_or_none_have_no_category() {
        let r = registry("社区", "厅");
        // 11:30-12:30 Shanghai: infant care then closed: one category.
        let p = window(&r, &hour(1_794_281_400), false).expect("point");
        assert!(
            p.as_str().contains("category=infant_care"),
            "{}",
            p.as_str()
        );
        // A whole day hosts two services: no category tag.
        let mut day = hour(1_794_240_000);
        day.kind = WindowKind::Day;
        day.end = day.start + 86_400;
        day.door_residual = Some(1);
        let p = window(&r, &day, false).expect("point");
        assert!(p.as_str().starts_with("room_day,room_id=hall,site_id=s1,"));
        assert!(p.as_str().contains(",door_residual=1i,"), "{}", p.as_str());
        // A slot carries its own category.
        day.kind = WindowKind::SlotDay(Category::ElderlyCare);
        let p = window(&r, &day, false).expect("point");
        assert!(
            p.as_str()
                .starts_with("room_slot_day,category=elderly_care,")
        );
        assert!(!p.as_str().contains("after_hours"));
    }

    #[test]
    fn live_points_leave_out_unknown_occupancy() {
        let r = registry("社区", "厅");
        let mut l = LiveRoom {
            room: RoomIdx(0),
            occupancy: Some(31),
            updated_ms: 1_794_272_400_123,
            valid_until: None,
            idle_since_ms: None,
            over_capacity_since_ms: Some(1_794_272_400_000),
        };
        let p = live(&r, &l, false).expect("point");
        assert_eq!(
            p.as_str(),
            "room_live,category=infant_care,room_id=hall,site_id=s1 capacity=30i,known=t,occupancy=31i,over_capacity=t 1794272400123\n"
        );
        l.occupancy = None;
        l.over_capacity_since_ms = None;
        l.updated_ms = 1_794_200_000_000; // night: closed, no category
        let p = live(&r, &l, false).expect("point");
        assert_eq!(
            p.as_str(),
            "room_live,room_id=hall,site_id=s1 capacity=30i,known=f,over_capacity=f 1794200000000\n"
        );
    }

    #[test]
    fn rows_of_another_registry_are_refused() {
        let r = registry("社区", "厅");
        let mut h = hour(0);
        h.room = RoomIdx(7);
        assert!(matches!(
            window(&r, &h, false),
            Err(Error::NotInRegistry { what: "room", .. })
        ));
    }
}
