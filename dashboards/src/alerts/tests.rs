use super::*;
use crate::board::{LiveSnapshot, RoomView, SiteView};

fn room(n: u32, over: bool) -> RoomView {
    RoomView {
        id: "hall".into(),
        name: "多功能厅".into(),
        floor: None,
        capacity: 10,
        area_m2: 50.0,
        occupancy: Some(n),
        last_occupancy: Some(n),
        updated: Some("2026-11-23T02:00:00Z".into()),
        valid_until: Some("2026-11-23T02:03:00Z".into()),
        stale: false,
        load: Some(f64::from(n) / 10.0),
        open_now: true,
        presence_only: false,
        category_now: None,
        category_now_zh: None,
        health: "ok",
        devices: Vec::new(),
        idle_since: None,
        over_capacity_since: over.then(|| "2026-11-23T01:50:00Z".into()),
    }
}

fn snap(over: bool) -> LiveSnapshot {
    LiveSnapshot {
        now: String::new(),
        clock_speed: 1.0,
        sites: vec![SiteView {
            id: "s1".into(),
            name: "一".into(),
            city: String::new(),
            district: String::new(),
            rooms: vec![room(if over { 12 } else { 3 }, over)],
        }],
    }
}

const MIN: i64 = 60_000;

#[test]
fn opened_kept_acknowledged_ended_and_reopened_within_the_cooldown() {
    let alerts = Alerts::default();
    alerts.apply(board_conditions(&snap(true)), 0, 10 * MIN);
    let list = alerts.list(|_| true);
    assert_eq!(list.len(), 1);
    let id = list[0].id;
    assert_eq!(list[0].kind, AlertKind::OverCapacity);
    assert_eq!(list[0].since, "2026-11-23T01:50:00Z");
    // The same condition keeps its id.
    alerts.apply(board_conditions(&snap(true)), MIN, 10 * MIN);
    assert_eq!(alerts.list(|_| true)[0].id, id);
    assert_eq!(
        alerts.ack(id, "op", 2, |_| false).err(),
        Some(AckError::Forbidden)
    );
    let acked = alerts.ack(id, "op", 2, |_| true).expect("ack");
    assert_eq!(acked.acked_by.as_deref(), Some("op"));
    assert_eq!(
        alerts.ack(999, "op", 2, |_| true).err(),
        Some(AckError::NotFound)
    );
    // Cleared: ended; back 5 minutes later: the same alert again, acknowledged.
    alerts.apply(board_conditions(&snap(false)), 2 * MIN, 10 * MIN);
    assert!(alerts.list(|_| true)[0].ended.is_some());
    alerts.apply(board_conditions(&snap(true)), 7 * MIN, 10 * MIN);
    let again = &alerts.list(|_| true)[0];
    assert_eq!((again.id, again.reopened), (id, 1));
    assert!(again.ended.is_none() && again.acked_by.is_some());
    // Cleared and back after the cooldown: a new alert.
    alerts.apply(Vec::new(), 8 * MIN, 10 * MIN);
    alerts.apply(board_conditions(&snap(true)), 30 * MIN, 10 * MIN);
    assert_ne!(alerts.list(|_| true)[0].id, id);
    let what: Vec<ChangeKind> = alerts.take_changes().iter().map(|c| c.what).collect();
    assert_eq!(
        what,
        [
            ChangeKind::Opened,
            ChangeKind::Acknowledged,
            ChangeKind::Ended,
            ChangeKind::Reopened,
            ChangeKind::Ended,
            ChangeKind::Opened
        ]
    );
    assert!(alerts.take_changes().is_empty());
    assert!(alerts.list(|s| s != "s1").is_empty());
}

#[test]
fn a_restored_book_keeps_ids_and_acknowledgements() {
    let alerts = Alerts::default();
    alerts.apply(board_conditions(&snap(true)), 0, MIN);
    let id = alerts.list(|_| true)[0].id;
    alerts.ack(id, "op", 1, |_| true).expect("ack");
    let saved = serde_json::to_string(&alerts.save()).expect("save");
    let back = Alerts::restore(serde_json::from_str(&saved).expect("restore"));
    back.apply(board_conditions(&snap(true)), 2, MIN);
    assert!(
        back.take_changes().is_empty(),
        "nothing new after a restart"
    );
    let a = &back.list(|_| true)[0];
    assert_eq!((a.id, a.acked_by.as_deref()), (id, Some("op")));
    // A new alert gets a new id.
    back.apply(
        vec![Condition {
            kind: AlertKind::IngestStalled,
            site_id: String::new(),
            site_name: String::new(),
            room_id: String::new(),
            room_name: String::new(),
            device_id: None,
            since_ms: 0,
            detail_zh: String::new(),
            detail_en: String::new(),
        }],
        3,
        MIN,
    );
    let list = back.list(|_| false);
    assert_eq!(list.len(), 1, "an installation alert is seen by all");
    assert_eq!(list[0].id, id + 1);
}

#[test]
fn a_stale_room_raises_nothing_from_the_board() {
    let mut s = snap(true);
    s.sites[0].rooms[0].stale = true;
    assert!(board_conditions(&s).is_empty());
    let mut s = snap(false);
    s.sites[0].rooms[0].open_now = false;
    let c = board_conditions(&s);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].kind, AlertKind::AfterHours);
}
