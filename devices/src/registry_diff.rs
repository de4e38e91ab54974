//! What changed between two registries: sites, rooms and devices added,
//! removed or changed, devices moved between rooms or retired, each change on
//! one line (`doorstep registry diff`, and the registry's history).
//!
//! Rooms are matched by (site id, room id), devices by device id (unique
//! across a registry), sites by id. Simulator hints are not compared.

use crate::model::{Device, Registry, Room};
use crate::schedule::fmt_opening;
use std::collections::HashMap;
use std::fmt;

/// One change from the old registry to the new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A site that was not there.
    SiteAdded {
        /// Site id.
        site: String,
        /// Its name.
        name: String,
    },
    /// A site no longer there (with its rooms and devices).
    SiteRemoved {
        /// Site id.
        site: String,
    },
    /// A room that was not there.
    RoomAdded {
        /// `site/room`.
        room: String,
        /// Its name.
        name: String,
    },
    /// A room no longer there.
    RoomRemoved {
        /// `site/room`.
        room: String,
    },
    /// A device that was not there.
    DeviceAdded {
        /// Device id.
        device: String,
        /// `site/room` it is bound to.
        room: String,
    },
    /// A device no longer there.
    DeviceRemoved {
        /// Device id.
        device: String,
        /// `site/room` it was bound to.
        room: String,
    },
    /// A device bound to another room.
    DeviceMoved {
        /// Device id.
        device: String,
        /// `site/room` before.
        from: String,
        /// `site/room` after.
        to: String,
    },
    /// A field of a site, room or device changed.
    Field {
        /// `site S`, `room S/R` or `device D`.
        of: String,
        /// The field.
        field: &'static str,
        /// Before.
        old: String,
        /// After.
        new: String,
    },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::SiteAdded { site, name } => write!(f, "+ site {site} {name}"),
            Change::SiteRemoved { site } => write!(f, "- site {site}"),
            Change::RoomAdded { room, name } => write!(f, "+ room {room} {name}"),
            Change::RoomRemoved { room } => write!(f, "- room {room}"),
            Change::DeviceAdded { device, room } => write!(f, "+ device {device} in {room}"),
            Change::DeviceRemoved { device, room } => {
                write!(f, "- device {device} (was in {room})")
            }
            Change::DeviceMoved { device, from, to } => {
                write!(f, "> device {device} moved from {from} to {to}")
            }
            Change::Field {
                of,
                field,
                old,
                new,
            } => write!(f, "~ {of} {field}: {old} -> {new}"),
        }
    }
}

fn room_key(reg: &Registry, r: &Room) -> String {
    format!("{}/{}", reg.site(r.site).id, r.id)
}

fn field(out: &mut Vec<Change>, of: &str, name: &'static str, old: String, new: String) {
    if old != new {
        out.push(Change::Field {
            of: of.to_owned(),
            field: name,
            old,
            new,
        });
    }
}

fn schedule_text(r: &Room) -> String {
    let lines: Vec<String> = r.schedule.openings.iter().map(fmt_opening).collect();
    format!("[{}]", lines.join("; "))
}

fn overrides_text(r: &Room) -> String {
    let lines: Vec<String> = r
        .schedule
        .overrides
        .iter()
        .map(|(day, openings)| match openings.as_slice() {
            [] => format!("{day} closed"),
            o => {
                let o: Vec<String> = o.iter().map(fmt_opening).collect();
                format!("{day} {}", o.join(", "))
            }
        })
        .collect();
    format!("[{}]", lines.join("; "))
}

fn room_fields(out: &mut Vec<Change>, of: &str, a: &Room, b: &Room) {
    field(out, of, "name", a.name.clone(), b.name.clone());
    field(
        out,
        of,
        "floor",
        format!("{:?}", a.floor),
        format!("{:?}", b.floor),
    );
    field(
        out,
        of,
        "capacity",
        a.capacity.to_string(),
        b.capacity.to_string(),
    );
    field(
        out,
        of,
        "area_m2",
        a.area_m2.to_string(),
        b.area_m2.to_string(),
    );
    field(out, of, "schedule", schedule_text(a), schedule_text(b));
    field(
        out,
        of,
        "open_on_holidays",
        a.schedule.open_on_holidays.to_string(),
        b.schedule.open_on_holidays.to_string(),
    );
    field(out, of, "overrides", overrides_text(a), overrides_text(b));
}

fn device_fields(out: &mut Vec<Change>, a: &Device, b: &Device) {
    let of = format!("device {}", b.id);
    field(
        out,
        &of,
        "kind",
        a.kind.as_str().into(),
        b.kind.as_str().into(),
    );
    field(
        out,
        &of,
        "interval_s",
        a.interval_s.to_string(),
        b.interval_s.to_string(),
    );
    field(
        out,
        &of,
        "codec",
        format!("{:?}", a.codec),
        format!("{:?}", b.codec),
    );
    field(
        out,
        &of,
        "direction",
        format!("{:?}", a.direction),
        format!("{:?}", b.direction),
    );
    field(
        out,
        &of,
        "rollover",
        format!("{:?}", a.rollover),
        format!("{:?}", b.rollover),
    );
    field(
        out,
        &of,
        "max_per_minute",
        a.max_per_minute.to_string(),
        b.max_per_minute.to_string(),
    );
    field(
        out,
        &of,
        "retired",
        a.retired.to_string(),
        b.retired.to_string(),
    );
}

/// The changes from `a` to `b`, sites first, then rooms, then devices, each in
/// the order of `b` (removals in the order of `a`). Linear in the registries'
/// size (a national registry has tens of thousands of rooms).
pub fn diff(a: &Registry, b: &Registry) -> Vec<Change> {
    let mut out = Vec::new();
    let sites = |r: &Registry| -> HashMap<String, usize> {
        r.sites
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.clone(), i))
            .collect()
    };
    let rooms = |r: &Registry| -> HashMap<String, usize> {
        r.rooms
            .iter()
            .enumerate()
            .map(|(i, x)| (room_key(r, x), i))
            .collect()
    };
    let (a_sites, b_sites) = (sites(a), sites(b));
    let (a_rooms, b_rooms) = (rooms(a), rooms(b));
    for s in &b.sites {
        match a_sites.get(&s.id).map(|&i| &a.sites[i]) {
            None => out.push(Change::SiteAdded {
                site: s.id.clone(),
                name: s.name.clone(),
            }),
            Some(old) => {
                let of = format!("site {}", s.id);
                field(&mut out, &of, "name", old.name.clone(), s.name.clone());
                field(&mut out, &of, "city", old.city.clone(), s.city.clone());
                field(
                    &mut out,
                    &of,
                    "district",
                    old.district.clone(),
                    s.district.clone(),
                );
                field(
                    &mut out,
                    &of,
                    "timezone",
                    old.timezone.to_string(),
                    s.timezone.to_string(),
                );
                field(
                    &mut out,
                    &of,
                    "calendar",
                    old.calendar.as_str().into(),
                    s.calendar.as_str().into(),
                );
            }
        }
    }
    for s in &a.sites {
        if !b_sites.contains_key(&s.id) {
            out.push(Change::SiteRemoved { site: s.id.clone() });
        }
    }
    for r in &b.rooms {
        let key = room_key(b, r);
        match a_rooms.get(&key).map(|&i| &a.rooms[i]) {
            None => out.push(Change::RoomAdded {
                room: key,
                name: r.name.clone(),
            }),
            Some(old) => room_fields(&mut out, &format!("room {key}"), old, r),
        }
    }
    for r in &a.rooms {
        let key = room_key(a, r);
        if !b_rooms.contains_key(&key) {
            out.push(Change::RoomRemoved { room: key });
        }
    }
    for d in &b.devices {
        let room = room_key(b, b.room(d.room));
        match a.device_by_id(&d.id).map(|i| a.device(i)) {
            None => out.push(Change::DeviceAdded {
                device: d.id.clone(),
                room,
            }),
            Some(old) => {
                let was = room_key(a, a.room(old.room));
                if was != room {
                    out.push(Change::DeviceMoved {
                        device: d.id.clone(),
                        from: was,
                        to: room,
                    });
                }
                device_fields(&mut out, old, d);
            }
        }
    }
    for d in &a.devices {
        if b.device_by_id(&d.id).is_none() {
            out.push(Change::DeviceRemoved {
                device: d.id.clone(),
                room: room_key(a, a.room(d.room)),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const OLD: &str = r#"
        [[site]]
        id = "s1"
        name = "一"
        [[site.room]]
        id = "canteen"
        name = "食堂"
        capacity = 30
        area_m2 = 60
        schedule = ["mon-fri 11:00-13:00 meal_aid"]
        [[site.room]]
        id = "reading"
        name = "阅览室"
        capacity = 20
        area_m2 = 40
        schedule = ["daily 09:00-17:00 culture"]
        [[site.device]]
        id = "d1"
        room = "canteen"
        kind = "count"
        [[site.device]]
        id = "d2"
        room = "reading"
        kind = "presence"
    "#;

    #[test]
    fn moves_additions_removals_and_fields_each_on_a_line() {
        let new = OLD
            .replace("room = \"canteen\"\n        kind = \"count\"", "room = \"reading\"\n        kind = \"count\"")
            .replace("daily 09:00-17:00 culture", "daily 08:00-17:00 culture")
            .replace(
                "kind = \"presence\"",
                "kind = \"presence\"\n        retired = true\n        [[site.device]]\n        id = \"d3\"\n        room = \"canteen\"\n        kind = \"count\"\n        interval_s = 300",
            );
        let new = format!(
            "{new}\n[[site]]\nid = \"s2\"\nname = \"二\"\n[[site.room]]\nid = \"gym\"\nname = \"健身房\"\ncapacity = 10\narea_m2 = 50\n"
        );
        let a = Registry::from_toml(OLD, Path::new("a.toml")).expect("old");
        let b = Registry::from_toml(&new, Path::new("b.toml")).expect("new");
        let lines: Vec<String> = diff(&a, &b).iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "+ site s2 二",
                "~ room s1/reading schedule: [daily 09:00-17:00 culture] -> [daily 08:00-17:00 culture]",
                "+ room s2/gym 健身房",
                "> device d1 moved from s1/canteen to s1/reading",
                "~ device d2 retired: false -> true",
                "+ device d3 in s1/canteen",
            ]
        );
        let back: Vec<String> = diff(&b, &a).iter().map(ToString::to_string).collect();
        assert!(back.contains(&"- site s2".to_owned()), "{back:?}");
        assert!(
            back.contains(&"- device d3 (was in s1/canteen)".to_owned()),
            "{back:?}"
        );
        assert!(diff(&a, &a).is_empty());
    }
}
