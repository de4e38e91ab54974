use super::*;
use std::path::Path;

const V1: &str = r#"
[[site]]
id = "s1"
name = "一社区"
[[site.room]]
id = "canteen"
name = "食堂"
capacity = 40
area_m2 = 80
schedule = ["daily 11:00-13:00 meal_aid"]
[[site.room]]
id = "reading"
name = "阅览室"
capacity = 20
area_m2 = 40
schedule = ["daily 09:00-17:00 culture"]
[[site.device]]
id = "c1"
room = "canteen"
kind = "count"
[[site.device]]
id = "p1"
room = "reading"
kind = "presence"
"#;

fn reg(text: &str) -> Registry {
    Registry::from_toml(text, Path::new("r.toml")).expect("registry")
}

const DEC1: i64 = 1_796_083_200_000; // 2026-12-01T00:00:00Z

#[test]
fn a_moved_device_keeps_its_old_room_before_the_move() {
    let v1 = reg(V1);
    let v2 = reg(&V1.replacen(
        "room = \"canteen\"\nkind = \"count\"",
        "room = \"reading\"\nkind = \"count\"",
        1,
    ));
    let all = merge(&v1, &v2, DEC1).expect("merge");
    // Indices are kept: the merged registry reads like v1 for anything before the move.
    assert_eq!(all.rooms.len(), 2);
    let c1 = all.device_by_id("c1").expect("c1");
    let canteen = all.room_by_ids("s1", "canteen").expect("canteen");
    let reading = all.room_by_ids("s1", "reading").expect("reading");
    assert_eq!(all.room_at(c1, DEC1 - 1), Some(canteen));
    assert_eq!(all.room_at(c1, DEC1), Some(reading));
    assert_eq!(all.room_at(c1, i64::MIN), Some(canteen));
    // The reading room lists both devices; the canteen keeps c1 for its past.
    assert!(all.room(reading).devices.contains(&c1));
    assert!(all.room(canteen).devices.contains(&c1));
    assert!(all.room(reading).sensors.count && all.room(reading).sensors.presence);
}

#[test]
fn added_and_removed_things_hold_only_from_the_change() {
    let v1 = reg(V1);
    let mut text = V1.replace(
        "[[site.device]]\nid = \"p1\"\nroom = \"reading\"\nkind = \"presence\"\n",
        "",
    );
    text.push_str(
        "[[site.room]]\nid = \"gym\"\nname = \"健身房\"\ncapacity = 10\narea_m2 = 30\nschedule = [\"daily 06:00-22:00 fitness\"]\n[[site.device]]\nid = \"g1\"\nroom = \"gym\"\nkind = \"count\"\n",
    );
    let all = merge(&v1, &reg(&text), DEC1).expect("merge");
    let p1 = all.device_by_id("p1").expect("p1 stays known");
    let g1 = all.device_by_id("g1").expect("g1");
    let gym = all.room_by_ids("s1", "gym").expect("gym");
    assert_eq!(gym, RoomIdx(2), "new rooms are appended");
    assert_eq!(all.room_at(p1, DEC1 - 1), all.room_by_ids("s1", "reading"));
    assert_eq!(all.room_at(p1, DEC1), None);
    assert_eq!(all.device(p1).gone_from_ms, Some(DEC1));
    // A new device's first room holds before it was registered too (its backlog, imports).
    assert_eq!(all.room_at(g1, DEC1 - 1), Some(gym));
    assert_eq!(all.room_at(g1, DEC1 + 5), Some(gym));
    assert!(all.site(all.room(gym).site).rooms.contains(&gym));
    // Back again later, in another room: each era keeps its room.
    let dec3 = DEC1 + 2 * 86_400_000;
    let back = merge(&all, &reg(V1), dec3).expect("back");
    let reading = back.room_by_ids("s1", "reading");
    assert_eq!(back.room_at(p1, DEC1 - 1), reading);
    assert_eq!(back.room_at(p1, DEC1 + 1), None);
    assert_eq!(back.room_at(p1, dec3), reading);
    assert_eq!(back.room(gym).gone_from_ms, Some(dec3));
    assert_eq!(back.room_at(g1, dec3), None);
}

#[test]
fn a_new_timetable_leaves_the_old_one_for_earlier_days() {
    let v1 = reg(V1);
    let v2 = reg(&V1
        .replace("daily 11:00-13:00 meal_aid", "daily 10:30-13:30 meal_aid")
        .replace("capacity = 40", "capacity = 50"));
    let all = merge(&v1, &v2, DEC1).expect("merge");
    let canteen = all.room_by_ids("s1", "canteen").expect("canteen");
    let (before, cap_before) = all.room_era(canteen, DEC1 - 1);
    let (after, cap_after) = all.room_era(canteen, DEC1);
    assert_eq!(before, &v1.room(canteen).schedule);
    assert_eq!(after, &v2.room(canteen).schedule);
    assert_eq!((cap_before, cap_after), (40, 50));
    // The same registry again changes nothing.
    let again = merge(&all, &v2, DEC1 + 1).expect("again");
    assert_eq!(again.room(canteen).earlier.len(), 1);
    assert_eq!(again.layout_fingerprint(), all.layout_fingerprint());
}

#[test]
fn refuses_a_backdated_version_and_a_device_that_changes_kind() {
    let v1 = reg(V1);
    let all = merge(&v1, &v1, DEC1).expect("merge");
    let err = merge(&all, &v1, DEC1 - 1)
        .expect_err("backdated")
        .to_string();
    assert!(
        err.contains("2026-11-30T23:59:59Z") && err.contains("2026-12-01T00:00:00Z"),
        "{err}"
    );
    let kind = V1
        .replace("kind = \"presence\"", "kind = \"count\"\n")
        .replace(
            "id = \"c1\"\nroom = \"canteen\"\nkind = \"count\"",
            "id = \"c2\"\nroom = \"canteen\"\nkind = \"presence\"",
        );
    let err = merge(&v1, &reg(&kind), DEC1).expect_err("kind").to_string();
    assert!(
        err.contains("\"p1\" changes kind from presence to count"),
        "{err}"
    );
}

#[test]
fn bound_spans_follow_the_moves() {
    let v1 = reg(V1);
    let moved = V1.replacen(
        "room = \"canteen\"\nkind = \"count\"",
        "room = \"reading\"\nkind = \"count\"",
        1,
    );
    let all = merge(&v1, &reg(&moved), DEC1).expect("merge");
    let back = merge(&all, &v1, DEC1 + 10).expect("back");
    let c1 = back.device_by_id("c1").expect("c1");
    let canteen = back.room_by_ids("s1", "canteen").expect("canteen");
    let reading = back.room_by_ids("s1", "reading").expect("reading");
    assert_eq!(
        back.bound_spans(c1, canteen),
        [(i64::MIN, DEC1), (DEC1 + 10, i64::MAX)]
    );
    assert_eq!(back.bound_spans(c1, reading), [(DEC1, DEC1 + 10)]);
    assert_eq!(v1.bound_spans(c1, canteen), [(i64::MIN, i64::MAX)]);
    assert!(v1.bound_spans(c1, reading).is_empty());
}

#[test]
fn state_saved_under_a_version_fits_the_later_ones() {
    let v1 = reg(V1);
    let mut text = V1.replace("room = \"canteen\"\nkind", "room = \"reading\"\nkind");
    text.push_str("[[site.device]]\nid = \"c9\"\nroom = \"canteen\"\nkind = \"count\"\n");
    let all = merge(&v1, &reg(&text), DEC1).expect("merge");
    let saved = Layout::of(&v1);
    assert!(saved.fits(&v1) && saved.fits(&all));
    assert!(
        !Layout::of(&all).fits(&v1),
        "a later layout does not fit an earlier registry"
    );
    // A registry written anew (not merged) with another order does not fit.
    let reordered = reg(&V1.replace("id = \"c1\"", "id = \"c0\""));
    assert!(!saved.fits(&reordered));
    assert_eq!(Layout::from_line(&saved.to_line()), Some(saved));
    assert_eq!(Layout::from_line("00ff00ff00ff00ff"), None);
}

#[test]
fn a_site_lists_its_rooms_as_the_latest_version_does() {
    let v1 = reg(V1);
    let mut text = String::from(
        "[[site]]\nid = \"s1\"\nname = \"一社区\"\n[[site.room]]\nid = \"gym\"\nname = \"健身房\"\ncapacity = 10\narea_m2 = 30\n",
    );
    text.push_str(&V1[V1.find("[[site.room]]").expect("room")..]);
    let all = merge(&v1, &reg(&text), DEC1).expect("merge");
    let ids: Vec<&str> = all.sites[0]
        .rooms
        .iter()
        .map(|r| all.room(*r).id.as_str())
        .collect();
    assert_eq!(ids, ["gym", "canteen", "reading"]);
    assert_eq!(
        all.room_by_ids("s1", "gym"),
        Some(RoomIdx(2)),
        "indices are appended"
    );
}

#[test]
fn a_site_whose_rooms_are_all_removed_is_not_current() {
    let v1 = reg(V1);
    let other = V1.replace(
        "id = \"s1\"\nname = \"一社区\"",
        "id = \"s2\"\nname = \"二社区\"",
    );
    let all = merge(&v1, &reg(&other), DEC1).expect("merge");
    assert_eq!(all.sites.len(), 2);
    assert!(!all.site_is_current(crate::SiteIdx(0)));
    assert!(all.site_is_current(crate::SiteIdx(1)));
    // The same device ids now in s2: moved across sites, bound by time.
    let c1 = all.device_by_id("c1").expect("c1");
    assert_eq!(all.room_at(c1, DEC1 - 1), all.room_by_ids("s1", "canteen"));
    assert_eq!(all.room_at(c1, DEC1), all.room_by_ids("s2", "canteen"));
    assert_eq!(all.site(all.device(c1).site).id, "s2");
}
