//! A change to a registry from the same two sheets: only the rooms and
//! devices that change, each row with an optional `action` column.
//!
//! A row without `action` (or `add`, `update`) puts its room or device in the
//! registry, replacing the one with the same id: a device row naming another
//! room moves the device there. `remove` takes the room (by `site_id` and
//! `room_id`) or the device (by `device_id`) out; the other cells of such a
//! row may be empty. A room row of a site not in the registry adds the site
//! with the row's site fields; for a site that is, the row's site fields
//! replace its own. The result is checked as a whole when it is built
//! ([`RegistryFile::build`]): a removed room must have no devices left, a room
//! still takes one count and one presence device.

use super::{
    DEVICE_COLUMNS, DEVICE_OPTIONAL, ROOM_COLUMNS, ROOM_OPTIONAL, Row, Table, device_row, room_row,
};
use crate::registry::{RegistryError, RegistryFile, SiteEntry};
use std::path::Path;

/// What a row does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Put,
    Remove,
}

fn action(row: &Row) -> Result<Action, RegistryError> {
    match row.get("action").to_ascii_lowercase().as_str() {
        "" | "add" | "update" | "put" | "新增" | "修改" => Ok(Action::Put),
        "remove" | "delete" | "删除" => Ok(Action::Remove),
        other => Err(row.invalid(
            "action",
            format!("{other:?} is not an action (add, update or remove; empty: add or update)"),
        )),
    }
}

/// What a change did, for the user.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Rows {
    /// Room rows read.
    pub rooms: usize,
    /// Device rows read.
    pub devices: usize,
}

/// `onto` with the rows of the sheets `rooms` and `devices` (either may be
/// absent) put in or taken out, rooms first.
pub fn change_from_csv(
    onto: &RegistryFile,
    rooms: Option<&Path>,
    devices: Option<&Path>,
) -> Result<(RegistryFile, Rows), RegistryError> {
    let mut out = onto.clone();
    let mut rows = Rows::default();
    if let Some(path) = rooms {
        let optional: Vec<&'static str> = ROOM_OPTIONAL.iter().copied().chain(["action"]).collect();
        let table = Table::read(path, &ROOM_COLUMNS, &optional)?;
        for row in table.rows() {
            rows.rooms += 1;
            change_room(&mut out, &row)?;
        }
    }
    if let Some(path) = devices {
        let optional: Vec<&'static str> =
            DEVICE_OPTIONAL.iter().copied().chain(["action"]).collect();
        let table = Table::read(path, &DEVICE_COLUMNS, &optional)?;
        for row in table.rows() {
            rows.devices += 1;
            change_device(&mut out, &row)?;
        }
    }
    Ok((out, rows))
}

fn change_room(out: &mut RegistryFile, row: &Row) -> Result<(), RegistryError> {
    if action(row)? == Action::Remove {
        let (site_id, room_id) = (row.id("site_id")?, row.id("room_id")?);
        let site = out.site.iter_mut().find(|s| s.id == site_id);
        let Some(at) = site
            .as_ref()
            .and_then(|s| s.room.iter().position(|r| r.id == room_id))
        else {
            return Err(row.invalid(
                "room_id",
                format!("room {room_id:?} of site {site_id:?} is not in the registry"),
            ));
        };
        if let Some(site) = site {
            site.room.remove(at);
        }
        return Ok(());
    }
    let (site, room) = room_row(row)?;
    let at = match out.site.iter().position(|s| s.id == site.id) {
        Some(at) => {
            let known = &mut out.site[at];
            known.name = site.name;
            known.city = site.city;
            known.district = site.district;
            known.timezone = site.timezone;
            known.calendar = site.calendar;
            at
        }
        None => {
            out.site.push(SiteEntry {
                room: Vec::new(),
                device: Vec::new(),
                ..site
            });
            out.site.len() - 1
        }
    };
    let rooms = &mut out.site[at].room;
    match rooms.iter_mut().find(|r| r.id == room.id) {
        Some(known) => *known = room,
        None => rooms.push(room),
    }
    Ok(())
}

fn change_device(out: &mut RegistryFile, row: &Row) -> Result<(), RegistryError> {
    let device_id = row.id("device_id")?;
    let mut found = false;
    let mut place = None;
    for (s, site) in out.site.iter_mut().enumerate() {
        if let Some(at) = site.device.iter().position(|d| d.id == device_id) {
            site.device.remove(at);
            found = true;
            place = Some((s, at));
        }
    }
    if action(row)? == Action::Remove {
        if !found {
            return Err(row.invalid(
                "device_id",
                format!("device {device_id:?} is not in the registry"),
            ));
        }
        return Ok(());
    }
    let (site_id, room_id) = (row.id("site_id")?, row.id("room_id")?);
    let Some(s) = out.site.iter().position(|s| s.id == site_id) else {
        return Err(row.invalid(
            "site_id",
            format!(
                "site {site_id:?} is not in the registry (add it with a row of the rooms sheet)"
            ),
        ));
    };
    if !out.site[s].room.iter().any(|r| r.id == room_id) {
        return Err(row.invalid(
            "room_id",
            format!("room {room_id:?} is not a room of site {site_id:?}"),
        ));
    }
    let entry = device_row(row, room_id)?;
    // In its old place when it stays in its site, so the file reads as before.
    match place.filter(|(at_site, _)| *at_site == s) {
        Some((_, at)) => out.site[s].device.insert(at, entry),
        None => out.site[s].device.push(entry),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;

    const REG: &str = r#"
[[site]]
id = "s1"
name = "一社区"
[[site.room]]
id = "canteen"
name = "食堂"
capacity = 40
area_m2 = 80
[[site.room]]
id = "reading"
name = "阅览室"
capacity = 20
area_m2 = 40
[[site.device]]
id = "c1"
room = "canteen"
kind = "count"
[[site.device]]
id = "p1"
room = "canteen"
kind = "presence"
"#;

    fn sheet(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("sheet");
        p
    }

    #[test]
    fn moves_adds_and_removes_from_sheets() {
        let dir = crate::registry_csv::tests::tempdir::Dir::new();
        let onto: RegistryFile = toml::from_str(REG).expect("file");
        let rooms = sheet(
            &dir.0,
            "rooms.csv",
            "site_id,site_name,city,district,timezone,room_id,room_name,floor,capacity,area_m2,schedule,open_on_holidays,action\n\
             s1,一社区,,,,gym,健身房,,10,30,daily 06:00-22:00 fitness,,\n\
             s2,二社区,上海市,,,hall,大厅,,50,100,,,add\n",
        );
        let devices = sheet(
            &dir.0,
            "devices.csv",
            "site_id,device_id,room_id,kind,interval_s,action\n\
             s1,p1,reading,presence,30,\n\
             s2,h1,hall,door,,\n\
             ,c1,,,,remove\n",
        );
        let (file, rows) = change_from_csv(&onto, Some(&rooms), Some(&devices)).expect("change");
        assert_eq!(
            rows,
            Rows {
                rooms: 2,
                devices: 3
            }
        );
        let reg = file.build(Path::new("changed")).expect("valid");
        let p1 = reg.device(reg.device_by_id("p1").expect("p1"));
        assert_eq!(reg.room(p1.room).id, "reading");
        assert_eq!(p1.interval_s, 30);
        assert!(reg.device_by_id("c1").is_none());
        assert!(reg.room_by_ids("s1", "gym").is_some());
        assert_eq!(reg.sites[1].city, "上海市");
        // What the change says, shown as a registry diff would.
        let before = Registry::from_toml(REG, Path::new("r.toml")).expect("before");
        let lines: Vec<String> = crate::registry_diff::diff(&before, &reg)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(lines.iter().any(|l| l.contains("p1 moved")), "{lines:?}");
    }

    #[test]
    fn says_which_row_is_wrong() {
        let dir = crate::registry_csv::tests::tempdir::Dir::new();
        let onto: RegistryFile = toml::from_str(REG).expect("file");
        let bad = |text: &str| {
            let devices = sheet(&dir.0, "d.csv", text);
            change_from_csv(&onto, None, Some(&devices))
                .expect_err("refused")
                .to_string()
        };
        let head = "site_id,device_id,room_id,kind,interval_s,action\n";
        let e = bad(&format!("{head}s1,p1,attic,presence,,\n"));
        assert!(e.contains("row 2") && e.contains("attic"), "{e}");
        let e = bad(&format!("{head},zz,,,,remove\n"));
        assert!(
            e.contains("row 2") && e.contains("\"zz\" is not in the registry"),
            "{e}"
        );
        let e = bad(&format!("{head}s1,p1,reading,presence,,move\n"));
        assert!(e.contains("\"move\" is not an action"), "{e}");
        let e = bad(&format!("{head}s9,p1,reading,presence,,\n"));
        assert!(e.contains("site \"s9\" is not in the registry"), "{e}");
    }
}
