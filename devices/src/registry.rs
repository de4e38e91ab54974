//! The registry file (TOML): sites, rooms with schedules, devices bound to rooms.
//!
//! ```toml
//! [[site]]
//! id = "sh-xh-tianping"
//! name = "天平街道社区综合体"
//! city = "上海市"
//! district = "徐汇区"
//!
//! [[site.room]]
//! id = "canteen"
//! name = "长者食堂"
//! capacity = 40
//! area_m2 = 135
//! schedule = ["daily 10:30-13:00 meal_aid", "daily 16:30-18:30 meal_aid"]
//!
//! [[site.device]]
//! id = "tp-canteen-door"
//! room = "canteen"
//! kind = "door"
//! interval_s = 60
//! ```
//!
//! A site may set `calendar = "none"` (default `"cn"`); a door device may set
//! `direction = "in"`, `rollover` and `max_per_minute` (METRICS.md v2).

use crate::calendar::Calendar;
use crate::model::{
    Codec, DEFAULT_MAX_PER_MINUTE, Device, DeviceIdx, DeviceKind, Direction, Registry, Room,
    RoomIdx, Sensors, SimHints, Site, SiteIdx,
};
use crate::schedule::{Opening, Schedule};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// A registry that cannot be used, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The file could not be read.
    #[error("{file}: cannot read the registry: {source}")]
    Io {
        /// The file.
        file: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has fields of the wrong shape.
    #[error("{file}: {message}")]
    Syntax {
        /// The file.
        file: PathBuf,
        /// What the parser said, with line and column.
        message: String,
    },
    /// An entry breaks a rule.
    #[error("{file}: {entry}: {problem}")]
    Invalid {
        /// The file.
        file: PathBuf,
        /// Which entry, e.g. `site "a" room "b"`.
        entry: String,
        /// What is wrong and how to mend it.
        problem: String,
    },
}

/// The registry file as written; [`RegistryFile::build`] checks it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryFile {
    /// The sites.
    #[serde(default)]
    pub site: Vec<SiteEntry>,
}

/// One `[[site]]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteEntry {
    /// Site id, `[A-Za-z0-9_-]{1,64}`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// City.
    #[serde(default)]
    pub city: String,
    /// District.
    #[serde(default)]
    pub district: String,
    /// IANA timezone name.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Holiday calendar: `cn` (the default) or `none`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub calendar: Calendar,
    /// Rooms of the site.
    #[serde(default)]
    pub room: Vec<RoomEntry>,
    /// Devices of the site.
    #[serde(default)]
    pub device: Vec<DeviceEntry>,
}

/// One `[[site.room]]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomEntry {
    /// Room id, unique within the site.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Floor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor: Option<i32>,
    /// Persons.
    pub capacity: u32,
    /// Square metres.
    pub area_m2: f64,
    /// Opening lines, `DAYS HH:MM-HH:MM CATEGORY [cap=N]`.
    #[serde(default)]
    pub schedule: Vec<String>,
    /// Opens on public holidays.
    #[serde(default)]
    pub open_on_holidays: bool,
    /// Per-date exceptions: `YYYY-MM-DD closed` or `YYYY-MM-DD HH:MM-HH:MM CATEGORY [cap=N]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<String>,
    /// Simulator hints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sim: Option<SimHints>,
}

/// One `[[site.device]]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceEntry {
    /// Device id, unique in the registry.
    pub id: String,
    /// Id of the room in this site.
    pub room: String,
    /// `count`, `presence` or `door`.
    pub kind: DeviceKind,
    /// Report interval in seconds.
    #[serde(default = "default_interval")]
    pub interval_s: u32,
    /// Payload codec.
    #[serde(default)]
    pub codec: Codec,
    /// Door devices: `both` (the default) or `in` (entries only).
    #[serde(default, skip_serializing_if = "is_default")]
    pub direction: Direction,
    /// Door devices: the value at which cumulative counters wrap to 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollover: Option<u64>,
    /// Door devices: the most crossings the entrance passes in a minute (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_minute: Option<u32>,
    /// Taken out of service: it raises no offline or battery alert and is
    /// listed as retired; its history stays (and a message it still sends counts).
    #[serde(default, skip_serializing_if = "is_default")]
    pub retired: bool,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

fn default_timezone() -> String {
    "Asia/Shanghai".to_owned()
}

fn default_interval() -> u32 {
    60
}

/// Whether `id` can appear in an MQTT topic of DEVICES.md.
pub fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Registry {
    /// Reads and checks a registry file: TOML, or JSON with the same fields when
    /// the name ends in `.json` (a national registry parses in a tenth of the
    /// memory: TOML keeps the whole document before it is read into its types).
    pub fn load(path: &Path) -> Result<Registry, RegistryError> {
        let text = std::fs::read_to_string(path).map_err(|source| RegistryError::Io {
            file: path.to_owned(),
            source,
        })?;
        Registry::parse(&text, path)
    }

    /// Parses and checks registry text of the file `path` names: JSON when the
    /// name ends in `.json`, else TOML.
    pub fn parse(text: &str, path: &Path) -> Result<Registry, RegistryError> {
        RegistryFile::parse(text, path)?.build(path)
    }

    /// Parses and checks registry JSON (the TOML file's fields); `file` names it in errors.
    pub fn from_json(text: &str, file: &Path) -> Result<Registry, RegistryError> {
        let parsed: RegistryFile =
            serde_json::from_str(text).map_err(|e| RegistryError::Syntax {
                file: file.to_owned(),
                message: e.to_string(),
            })?;
        parsed.build(file)
    }

    /// Parses and checks registry text; `file` names it in errors.
    pub fn from_toml(text: &str, file: &Path) -> Result<Registry, RegistryError> {
        let parsed: RegistryFile = toml::from_str(text).map_err(|e| RegistryError::Syntax {
            file: file.to_owned(),
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
        parsed.build(file)
    }
}

impl RegistryFile {
    /// Parses registry text (unchecked) of the file `path` names: JSON when the
    /// name ends in `.json`, else TOML.
    pub fn parse(text: &str, path: &Path) -> Result<RegistryFile, RegistryError> {
        let syntax = |message: String| RegistryError::Syntax {
            file: path.to_owned(),
            message,
        };
        if is_json(path) {
            serde_json::from_str(text).map_err(|e| syntax(e.to_string()))
        } else {
            toml::from_str(text).map_err(|e| syntax(e.to_string().trim_end().replace('\n', " ")))
        }
    }

    /// The registry as text for the file `path` names: JSON or pretty TOML.
    pub fn to_text(&self, path: &Path) -> String {
        if is_json(path) {
            // Plain data: strings, numbers, booleans, lists and tables.
            serde_json::to_string_pretty(self).expect("a registry file is plain JSON data")
        } else {
            self.to_toml()
        }
    }

    /// Checks every rule and builds the indexed [`Registry`].
    pub fn build(&self, file: &Path) -> Result<Registry, RegistryError> {
        let invalid = |entry: String, problem: String| RegistryError::Invalid {
            file: file.to_owned(),
            entry,
            problem,
        };
        if self.site.is_empty() {
            return Err(invalid("registry".into(), "has no [[site]] entries".into()));
        }
        let mut reg = Registry {
            since_ms: i64::MIN,
            ..Registry::default()
        };
        let mut site_ids = HashSet::new();
        for s in &self.site {
            let entry = format!("site {:?}", s.id);
            if !valid_id(&s.id) {
                return Err(invalid(entry, "id must be 1-64 of A-Z a-z 0-9 _ -".into()));
            }
            if !site_ids.insert(s.id.as_str()) {
                return Err(invalid(
                    entry,
                    "appears twice; site ids must be unique".into(),
                ));
            }
            if s.name.trim().is_empty() {
                return Err(invalid(entry, "name is empty".into()));
            }
            let timezone = s.timezone.parse().map_err(|_| {
                invalid(
                    entry.clone(),
                    format!(
                        "timezone {:?} is not an IANA name such as Asia/Shanghai",
                        s.timezone
                    ),
                )
            })?;
            let site_idx = SiteIdx(reg.sites.len() as u32);
            let mut rooms_here: HashMap<&str, RoomIdx> = HashMap::new();
            for r in &s.room {
                let entry = format!("site {:?} room {:?}", s.id, r.id);
                let room =
                    build_room(r, site_idx, s.calendar).map_err(|p| invalid(entry.clone(), p))?;
                let idx = RoomIdx(reg.rooms.len() as u32);
                if rooms_here.insert(r.id.as_str(), idx).is_some() {
                    return Err(invalid(entry, "appears twice in this site".into()));
                }
                reg.rooms.push(room);
            }
            for d in &s.device {
                let entry = format!("site {:?} device {:?}", s.id, d.id);
                if !valid_id(&d.id) {
                    return Err(invalid(entry, "id must be 1-64 of A-Z a-z 0-9 _ -".into()));
                }
                let room = *rooms_here.get(d.room.as_str()).ok_or_else(|| {
                    invalid(
                        entry.clone(),
                        format!("room {:?} is not a room of this site", d.room),
                    )
                })?;
                if !(1..=86_400).contains(&d.interval_s) {
                    return Err(invalid(
                        entry,
                        "interval_s must be 1 to 86400 seconds".into(),
                    ));
                }
                check_door_fields(d).map_err(|p| invalid(entry.clone(), p))?;
                let idx = DeviceIdx(reg.devices.len() as u32);
                if reg.device_ids.insert(d.id.clone(), idx).is_some() {
                    return Err(invalid(
                        entry,
                        "device ids must be unique in the whole registry".into(),
                    ));
                }
                let room_ref = &mut reg.rooms[room.ix()];
                let sensors = &mut room_ref.sensors;
                let twice = match d.kind {
                    DeviceKind::Count => std::mem::replace(&mut sensors.count, true),
                    DeviceKind::Presence => std::mem::replace(&mut sensors.presence, true),
                    DeviceKind::Door => {
                        sensors.door = true;
                        sensors.door_both |= d.direction == Direction::Both;
                        false
                    }
                };
                if twice {
                    return Err(invalid(
                        entry,
                        format!(
                            "room {:?} already has a {} device; a room takes one count and one presence device (any number of door devices)",
                            d.room,
                            d.kind.as_str()
                        ),
                    ));
                }
                room_ref.devices.push(idx);
                reg.devices.push(Device {
                    id: d.id.clone(),
                    site: site_idx,
                    room,
                    kind: d.kind,
                    interval_s: d.interval_s,
                    codec: d.codec,
                    direction: d.direction,
                    rollover: d.rollover,
                    max_per_minute: d.max_per_minute.unwrap_or(DEFAULT_MAX_PER_MINUTE),
                    retired: d.retired,
                    earlier: Vec::new(),
                    gone_from_ms: None,
                });
            }
            let mut rooms: Vec<RoomIdx> = rooms_here.into_values().collect();
            rooms.sort();
            reg.sites.push(Site {
                id: s.id.clone(),
                name: s.name.clone(),
                city: s.city.clone(),
                district: s.district.clone(),
                timezone,
                calendar: s.calendar,
                rooms,
            });
        }
        Ok(reg)
    }
}

/// Whether `path` names a JSON registry.
pub fn is_json(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
}

/// The door-only fields make sense on door devices, with sensible values.
fn check_door_fields(d: &DeviceEntry) -> Result<(), String> {
    let door_only =
        d.direction != Direction::Both || d.rollover.is_some() || d.max_per_minute.is_some();
    if d.kind != DeviceKind::Door && door_only {
        return Err(format!(
            "direction, rollover and max_per_minute are for door devices; this one is {}",
            d.kind.as_str()
        ));
    }
    if d.rollover.is_some_and(|r| r < 2) {
        return Err(
            "rollover must be at least 2 (the value at which the counters wrap to 0)".into(),
        );
    }
    if d.max_per_minute == Some(0) {
        return Err("max_per_minute must be at least 1 crossing a minute".into());
    }
    let fits = match d.codec {
        Codec::NativeV1 => true,
        Codec::MilesightVs13x => matches!(d.kind, DeviceKind::Door | DeviceKind::Count),
        Codec::MilesightVs121 => d.kind == DeviceKind::Count,
    };
    if !fits {
        return Err(format!(
            "codec {} does not give {} readings (milesight-vs13x: door or count; milesight-vs121: count)",
            d.codec.as_str(),
            d.kind.as_str()
        ));
    }
    Ok(())
}

fn build_room(r: &RoomEntry, site: SiteIdx, calendar: Calendar) -> Result<Room, String> {
    if !valid_id(&r.id) {
        return Err("id must be 1-64 of A-Z a-z 0-9 _ -".into());
    }
    if r.name.trim().is_empty() {
        return Err("name is empty".into());
    }
    if r.capacity == 0 {
        return Err("capacity must be at least 1 person".into());
    }
    if !(r.area_m2.is_finite() && r.area_m2 > 0.0) {
        return Err("area_m2 must be a positive number of square metres".into());
    }
    let mut openings = Vec::with_capacity(r.schedule.len());
    for (i, line) in r.schedule.iter().enumerate() {
        let o = Opening::parse(line).map_err(|e| format!("schedule line {}: {e}", i + 1))?;
        openings.push(o);
    }
    let mut schedule = Schedule {
        openings,
        open_on_holidays: r.open_on_holidays,
        overrides: Default::default(),
        calendar,
    };
    schedule.add_overrides(&r.overrides)?;
    schedule
        .check_overlaps()
        .map_err(|e| format!("schedule: {e}"))?;
    Ok(Room {
        id: r.id.clone(),
        name: r.name.clone(),
        site,
        floor: r.floor,
        capacity: r.capacity,
        area_m2: r.area_m2,
        schedule,
        devices: Vec::new(),
        sensors: Sensors::default(),
        sim: r.sim.unwrap_or_default(),
        earlier: Vec::new(),
        gone_from_ms: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[site]]
id = "s1"
name = "测试社区"
city = "上海市"
district = "徐汇区"

[[site.room]]
id = "hall"
name = "活动厅"
capacity = 30
area_m2 = 120
schedule = ["mon-fri 08:30-11:30 infant_care", "daily 14:00-17:00 elderly_care"]

[[site.device]]
id = "d1"
room = "hall"
kind = "count"
"#;

    fn err(text: &str) -> String {
        Registry::from_toml(text, Path::new("reg.toml"))
            .expect_err("should be refused")
            .to_string()
    }

    #[test]
    fn json_with_the_same_fields_builds_the_same_registry() {
        let file: RegistryFile = toml::from_str(GOOD).expect("toml");
        let json = serde_json::to_string(&file).expect("json");
        let from_toml = Registry::from_toml(GOOD, Path::new("reg.toml")).expect("toml");
        let from_json = Registry::from_json(&json, Path::new("reg.json")).expect("json");
        assert_eq!(format!("{from_toml:?}"), format!("{from_json:?}"));
        let dir = std::env::temp_dir().join(format!("doorstep-reg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("registry.JSON");
        std::fs::write(&path, &json).expect("write");
        let loaded = Registry::load(&path).expect("load");
        std::fs::remove_dir_all(&dir).expect("clean");
        assert_eq!(format!("{loaded:?}"), format!("{from_toml:?}"));
        let bad = Registry::from_json("{\"site\": [{\"idx\": 1}]}", Path::new("reg.json"))
            .expect_err("unknown field");
        assert!(bad.to_string().contains("idx"), "{bad}");
    }

    #[test]
    fn loads_a_good_registry() {
        let reg = Registry::from_toml(GOOD, Path::new("reg.toml")).expect("valid");
        assert_eq!(reg.sites[0].name, "测试社区");
        assert_eq!(reg.rooms[0].schedule.openings.len(), 2);
        let d = reg.device_by_id("d1").expect("known");
        assert_eq!(reg.device(d).interval_s, 60);
        assert!(reg.rooms[0].sensors.count);
        assert_eq!(reg.room_by_ids("s1", "hall"), Some(RoomIdx(0)));
    }

    #[test]
    fn errors_name_file_entry_and_problem() {
        let e = err(&GOOD.replace("room = \"hall\"", "room = \"attic\""));
        assert_eq!(
            e,
            "reg.toml: site \"s1\" device \"d1\": room \"attic\" is not a room of this site"
        );
        let e = err(&GOOD.replace("08:30-11:30", "08:30-11:70"));
        assert!(
            e.starts_with("reg.toml: site \"s1\" room \"hall\": schedule line 1:"),
            "{e}"
        );
        let e = err(&GOOD.replace("capacity = 30", "capacity = 0"));
        assert!(e.contains("capacity must be at least 1"), "{e}");
        let e = err(&GOOD.replace("id = \"s1\"", "id = \"s 1\""));
        assert!(e.contains("site \"s 1\": id must be"), "{e}");
        let e = err(&GOOD.replace("kind = \"count\"", "kind = \"camera\""));
        assert!(e.starts_with("reg.toml: "), "{e}");
        assert!(e.contains("camera"), "{e}");
        let e = err(&format!("{GOOD}\ncolour = \"red\"\n"));
        assert!(e.contains("colour"), "{e}");
    }

    #[test]
    fn overrides_are_checked() {
        let good = GOOD.replace(
            "schedule = [",
            "overrides = [\"2026-12-24 closed\", \"2026-12-26 09:00-12:00 culture\"]\nschedule = [",
        );
        let reg = Registry::from_toml(&good, Path::new("reg.toml")).expect("valid");
        assert_eq!(reg.rooms[0].schedule.overrides.len(), 2);
        let bad = GOOD.replace(
            "schedule = [",
            "overrides = [\"24.12.2026 closed\"]\nschedule = [",
        );
        let e = err(&bad);
        assert!(
            e.starts_with("reg.toml: site \"s1\" room \"hall\": override line 1:"),
            "{e}"
        );
    }

    #[test]
    fn calendar_and_door_fields() {
        let text = GOOD.replace(
            "district = \"徐汇区\"",
            "district = \"徐汇区\"\ncalendar = \"none\"",
        ) + "\n[[site.device]]\nid = \"d2\"\nroom = \"hall\"\nkind = \"door\"\ndirection = \"in\"\nrollover = 1000000\nmax_per_minute = 30\n";
        let reg = Registry::from_toml(&text, Path::new("reg.toml")).expect("valid");
        assert_eq!(reg.sites[0].calendar, Calendar::None);
        assert_eq!(reg.rooms[0].schedule.calendar, Calendar::None);
        let d = reg.device(reg.device_by_id("d2").expect("d2"));
        assert_eq!(
            (d.direction, d.rollover, d.max_per_minute),
            (Direction::In, Some(1_000_000), 30)
        );
        assert!(reg.rooms[0].sensors.door && !reg.rooms[0].sensors.door_both);
        let plain = Registry::from_toml(GOOD, Path::new("reg.toml")).expect("valid");
        assert_eq!(plain.sites[0].calendar, Calendar::Cn);
        let e = err(&GOOD.replace("kind = \"count\"", "kind = \"count\"\nrollover = 65536"));
        assert!(e.contains("are for door devices"), "{e}");
        let e = err(&text.replace("max_per_minute = 30", "max_per_minute = 0"));
        assert!(e.contains("max_per_minute must be at least 1"), "{e}");
        let e = err(&GOOD.replace(
            "district = \"徐汇区\"",
            "district = \"徐汇区\"\ncalendar = \"us\"",
        ));
        assert!(e.contains("us"), "{e}");
    }

    #[test]
    fn a_second_count_device_is_refused() {
        let text =
            format!("{GOOD}\n[[site.device]]\nid = \"d2\"\nroom = \"hall\"\nkind = \"count\"\n");
        assert!(err(&text).contains("already has a count device"));
    }
}
