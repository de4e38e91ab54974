//! The registry a running doorstep works with now, shared by its stages and
//! switched in place when a new version is applied.
//!
//! Versions merged by [`crate::timeline::merge`] only append rooms and
//! devices: an index keeps its meaning, so a stage that reads the registry
//! through a [`Current`] may meet a reading or a row made under the version
//! before or the one after, and resolves both.

use crate::{Registry, RoomIdx};
use std::sync::{Arc, RwLock};

/// A shared, switchable registry; clones see the same one.
#[derive(Debug, Clone)]
pub struct Current(Arc<RwLock<Arc<Registry>>>);

impl Current {
    /// Starts with `registry`.
    pub fn new(registry: Arc<Registry>) -> Current {
        Current(Arc::new(RwLock::new(registry)))
    }

    /// The registry of now.
    pub fn get(&self) -> Arc<Registry> {
        // A writer never panics while holding the lock (it only swaps an Arc).
        Arc::clone(&self.0.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Switches every holder to `registry`.
    pub fn set(&self, registry: Arc<Registry>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = registry;
    }
}

impl From<Arc<Registry>> for Current {
    fn from(registry: Arc<Registry>) -> Current {
        Current::new(registry)
    }
}

impl From<Registry> for Current {
    fn from(registry: Registry) -> Current {
        Current::new(Arc::new(registry))
    }
}

/// The rooms whose registry entry differs between `old` and `new` (a later
/// version of the registry of all time): rooms added, rooms changed
/// (schedule, capacity, area, devices, removal, ...) and the rooms of every
/// device added, moved or changed, before and after. Ascending.
pub fn changed_rooms(old: &Registry, new: &Registry) -> Vec<RoomIdx> {
    let mut out: Vec<RoomIdx> = new
        .rooms
        .iter()
        .enumerate()
        .filter(|(i, r)| old.rooms.get(*i) != Some(*r))
        .map(|(i, _)| RoomIdx(i as u32))
        .collect();
    for (i, d) in new.devices.iter().enumerate() {
        if old.devices.get(i) == Some(d) {
            continue;
        }
        out.push(d.room);
        out.extend(d.earlier.iter().filter_map(|b| b.room));
        if let Some(was) = old.devices.get(i) {
            out.push(was.room);
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The rooms whose schedule or capacity `new` changes from `from_ms` (a
/// version merged into `old`), with that time in Unix seconds.
pub fn changed_eras(old: &Registry, new: &Registry, from_ms: i64) -> Vec<(RoomIdx, i64)> {
    new.rooms
        .iter()
        .enumerate()
        .filter(|(i, r)| {
            let before = old.rooms.get(*i).map_or(0, |o| o.earlier.len());
            r.earlier.len() > before
        })
        .map(|(i, _)| (RoomIdx(i as u32), from_ms.div_euclid(1000)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = r#"
[[site]]
id = "s"
name = "社区"
[[site.room]]
id = "a"
name = "甲"
capacity = 10
area_m2 = 20
schedule = ["daily 08:00-18:00 culture"]
[[site.room]]
id = "b"
name = "乙"
capacity = 10
area_m2 = 20
schedule = ["daily 08:00-18:00 culture"]
[[site.room]]
id = "c"
name = "丙"
capacity = 10
area_m2 = 20
schedule = ["daily 08:00-18:00 culture"]
[[site.device]]
id = "p1"
room = "a"
kind = "presence"
[[site.device]]
id = "p2"
room = "c"
kind = "presence"
"#;

    fn reg(text: &str) -> Registry {
        Registry::from_toml(text, std::path::Path::new("r.toml")).expect("registry")
    }

    #[test]
    fn a_moved_device_changes_both_its_rooms_and_a_new_room_is_changed() {
        let old = reg(OLD);
        let text = OLD.replacen("room = \"a\"", "room = \"b\"", 1).replace(
            "[[site.device]]\nid = \"p1\"",
            "[[site.room]]\nid = \"d\"\nname = \"丁\"\ncapacity = 5\narea_m2 = 9\n[[site.device]]\nid = \"p1\"",
        );
        let next = reg(&text);
        let all = crate::timeline::merge(&old, &next, 1_000).expect("merge");
        let names: Vec<&str> = changed_rooms(&old, &all)
            .into_iter()
            .map(|r| all.room(r).id.as_str())
            .collect();
        assert_eq!(names, ["a", "b", "d"]);
        assert!(changed_rooms(&all, &all).is_empty());
    }

    #[test]
    fn clones_see_a_switch() {
        let a = Current::from(reg(OLD));
        let b = a.clone();
        let mut next = (*a.get()).clone();
        next.since_ms = 7;
        b.set(Arc::new(next));
        assert_eq!(a.get().since_ms, 7);
    }
}
