//! Tests of the CSV registry import.
use super::*;
use crate::model::Registry;
use std::collections::HashSet;

const ROOMS: &str = "\u{feff}site_id,site_name,city,district,timezone,room_id,room_name,floor,capacity,area_m2,schedule,open_on_holidays\r\n\
    bj-cy-jinsong,劲松街道社区嵌入式服务综合体,北京市,朝阳区,,kids-hall,儿童活动大厅（错时共享）,1,40,150,mon-fri 08:30-11:30 infant_care cap=20; mon-fri 14:00-17:00 elderly_care; mon-fri 18:00-20:30 child_care,\r\n\
    bj-cy-jinsong,劲松街道社区嵌入式服务综合体,北京市,朝阳区,,gym,社区健身房,-1,20,80.5,daily 06:30-09:00 fitness;daily 17:30-21:30 fitness,true\r\n\
    \"hz-gs-hemu\",\"和睦社区, 长者服务中心\",杭州市,拱墅区,Asia/Shanghai,canteen,长者食堂,,60,135,daily 10:30-13:00 meal_aid; daily 16:30-18:30 meal_aid,yes\r\n";

const DEVICES: &str = "site_id,device_id,room_id,kind,interval_s\r\n\
    bj-cy-jinsong,js-hall-count,kids-hall,count,\r\n\
    bj-cy-jinsong,js-gym-presence,gym,presence,30\r\n\
    hz-gs-hemu,hm-door-east,canteen,door,30\r\n\
    hz-gs-hemu,hm-door-west,canteen,Door,30\r\n";

fn files(rooms: &str, devices: &str) -> (tempdir::Dir, PathBuf, PathBuf) {
    let dir = tempdir::Dir::new();
    let (r, d) = (dir.0.join("rooms.csv"), dir.0.join("devices.csv"));
    std::fs::write(&r, rooms).expect("write rooms");
    std::fs::write(&d, devices).expect("write devices");
    (dir, r, d)
}

/// A directory removed on drop, without a dev-dependency.
pub(super) mod tempdir {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU32, Ordering};

    pub struct Dir(pub PathBuf);

    impl Dir {
        pub fn new() -> Dir {
            static N: AtomicU32 = AtomicU32::new(0);
            let path = std::env::temp_dir().join(format!(
                "doorstep-csv-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&path).expect("temp dir");
            Dir(path)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn error(rooms: &str, devices: &str) -> (String, RegistryError) {
    let (_dir, r, d) = files(rooms, devices);
    let e = registry_from_csv(&r, &d).expect_err("should be refused");
    (e.to_string(), e)
}

#[test]
fn csv_round_trips_through_toml() {
    let (_dir, r, d) = files(ROOMS, DEVICES);
    let file = registry_from_csv(&r, &d).expect("valid CSV");
    let built = file.build(&r).expect("a valid registry");
    let text = file.to_toml();
    let reg = Registry::from_toml(&text, Path::new("out.toml")).expect("reads back");
    assert_eq!(reg.sites.len(), 2);
    assert_eq!(reg.rooms.len(), 3);
    assert_eq!(reg.devices.len(), 4);
    assert_eq!(reg.sites[0].name, "劲松街道社区嵌入式服务综合体");
    assert_eq!(reg.sites[1].name, "和睦社区, 长者服务中心");
    assert_eq!(reg.sites[1].district, "拱墅区");
    let hall = reg.room(reg.room_by_ids("bj-cy-jinsong", "kids-hall").expect("hall"));
    assert_eq!(hall.name, "儿童活动大厅（错时共享）");
    assert_eq!(hall.schedule.openings.len(), 3);
    assert_eq!(hall.schedule.openings[0].capacity, Some(20));
    assert_eq!(hall.floor, Some(1));
    assert!(!hall.schedule.open_on_holidays);
    let gym = reg.room(reg.room_by_ids("bj-cy-jinsong", "gym").expect("gym"));
    assert_eq!((gym.floor, gym.area_m2), (Some(-1), 80.5));
    assert!(gym.sensors.presence_only());
    let canteen = reg.room(reg.room_by_ids("hz-gs-hemu", "canteen").expect("canteen"));
    assert_eq!(canteen.floor, None);
    assert!(canteen.schedule.open_on_holidays);
    assert_eq!(canteen.devices.len(), 2);
    let count = reg.device(reg.device_by_id("js-hall-count").expect("device"));
    assert_eq!(count.interval_s, 60);
    for (a, b) in built.rooms.iter().zip(&reg.rooms) {
        assert_eq!((&a.id, &a.name, &a.schedule), (&b.id, &b.name, &b.schedule));
    }
    // Written and read again, the text is stable.
    let again: RegistryFile = toml::from_str(&text).expect("parses");
    assert_eq!(again.to_toml(), text);
}

#[test]
fn a_retired_device_stays_in_the_registry_marked() {
    let devices = "site_id,device_id,room_id,kind,interval_s,retired\r\n\
        bj-cy-jinsong,js-hall-count,kids-hall,count,,是\r\n\
        bj-cy-jinsong,js-gym-presence,gym,presence,30,\r\n";
    let (_dir, r, d) = files(ROOMS, devices);
    let file = registry_from_csv(&r, &d).expect("valid CSV");
    let reg = Registry::from_toml(&file.to_toml(), Path::new("out.toml")).expect("reads back");
    let retired: Vec<(&str, bool)> = reg
        .devices
        .iter()
        .map(|d| (d.id.as_str(), d.retired))
        .collect();
    assert_eq!(
        retired,
        [("js-hall-count", true), ("js-gym-presence", false)]
    );
    let bad = devices.replace(",是", ",maybe");
    let (err, _) = error(ROOMS, &bad);
    assert!(err.contains("row 2") && err.contains("retired"), "{err}");
}

#[test]
fn errors_name_file_row_and_column() {
    let bad = ROOMS.replace(",80.5,", ",many,");
    let (text, e) = error(&bad, DEVICES);
    match e {
        RegistryError::Invalid { file, entry, .. } => {
            assert!(file.ends_with("rooms.csv"), "{}", file.display());
            assert_eq!(entry, "row 3 column \"area_m2\"");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        text.contains("rooms.csv: row 3 column \"area_m2\": \"many\""),
        "{text}"
    );
    let (text, _) = error(&bad.replace("\r\n", "\n"), DEVICES);
    assert!(
        text.contains("rooms.csv: row 3 column \"area_m2\""),
        "{text}"
    );

    let bad = ROOMS.replace("daily 06:30-09:00 fitness", "daily 06:30-09:00 gym");
    let (text, _) = error(&bad, DEVICES);
    assert!(
        text.contains("row 3 column \"schedule\": opening 1:"),
        "{text}"
    );

    let bad = ROOMS.replace(",北京市,朝阳区,,gym", ",北京市,东城区,,gym");
    let (text, _) = error(&bad, DEVICES);
    assert!(text.contains("row 3 column \"district\""), "{text}");
    assert!(text.contains("on row 2"), "{text}");

    let (text, _) = error(ROOMS, &DEVICES.replace(",gym,", ",attic,"));
    assert!(
        text.contains("devices.csv: row 3 column \"room_id\""),
        "{text}"
    );
    let (text, _) = error(ROOMS, &DEVICES.replace("presence,30", "presence,0"));
    assert!(text.contains("row 3 column \"interval_s\""), "{text}");
    let (text, _) = error(ROOMS, &DEVICES.replace("presence", "camera"));
    assert!(text.contains("row 3 column \"kind\""), "{text}");
    let (text, _) = error(ROOMS, &DEVICES.replace("hm-door-west", "hm-door-east"));
    assert!(text.contains("row 5 column \"device_id\": "), "{text}");
    assert!(text.contains("also on row 4"), "{text}");
    let (text, _) = error(
        ROOMS,
        &DEVICES.replace("js-gym-presence,gym,presence", "js-x,kids-hall,count"),
    );
    assert!(text.contains("already has a count device"), "{text}");
    let (text, _) = error(&ROOMS.replace("area_m2", "area"), DEVICES);
    assert!(
        text.contains("row 1") && text.contains("\"area\""),
        "{text}"
    );
    let (text, _) = error(ROOMS, &format!("{DEVICES}x,y\r\n"));
    assert!(text.contains("devices.csv: row 6"), "{text}");

    let missing = Path::new("/nonexistent/rooms.csv");
    let e = registry_from_csv(missing, missing).expect_err("no file");
    assert!(matches!(e, RegistryError::Io { .. }), "{e:?}");
}

#[test]
fn gbk_files_are_refused_with_a_hint() {
    let mut bytes = ROOMS.as_bytes().to_vec();
    bytes.extend_from_slice(&[0xb3, 0xa4]);
    let (_dir, r, d) = files("", DEVICES);
    std::fs::write(&r, bytes).expect("write");
    let text = registry_from_csv(&r, &d)
        .expect_err("not UTF-8")
        .to_string();
    assert!(text.contains("CSV UTF-8"), "{text}");
}

#[test]
fn the_sample_registry_has_what_the_demo_shows() {
    let text = include_str!("../../../config/registry.toml");
    let reg = Registry::from_toml(text, Path::new("config/registry.toml")).expect("valid");
    assert!(reg.sites.len() >= 5);
    assert!((15..=25).contains(&reg.rooms.len()), "{}", reg.rooms.len());
    let time_shared = reg.rooms.iter().any(|r| {
        let cats: HashSet<_> = r.schedule.openings.iter().map(|o| o.category).collect();
        cats.len() >= 3
    });
    assert!(time_shared, "no room hosts 3 categories");
    assert!(reg.rooms.iter().any(|r| r.sensors.presence_only()));
    let doors = |r: &crate::model::Room| {
        r.devices
            .iter()
            .filter(|d| reg.device(**d).kind == DeviceKind::Door)
            .count()
    };
    assert!(reg.rooms.iter().any(|r| doors(r) >= 2));
    assert!(reg.rooms.iter().any(|r| r.sim.popularity < 0.1));
    assert!(reg.rooms.iter().all(|r| !r.devices.is_empty()));
    assert!(reg.sites.iter().all(|s| !s.name.is_ascii()));
}
