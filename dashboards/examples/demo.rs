//! Serves the live page with made-up occupancy, to look at it in a browser.
//!
//! `cargo run -p doorstep-dashboards --example demo -- 127.0.0.1:8088 60`
//! serves on that address for 60 seconds (default: 127.0.0.1:8088, 300 s).

use dashboards::LiveBoard;
use devices::{Clock, LiveRoom, Registry, RoomIdx};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const REGISTRY: &str = r#"
[[site]]
id = "sh-xh-tianping"
name = "天平街道社区综合体"
city = "上海市"
district = "徐汇区"
[[site.room]]
id = "canteen"
name = "长者食堂"
floor = 1
capacity = 40
area_m2 = 135
schedule = ["daily 00:00-24:00 meal_aid"]
[[site.room]]
id = "nursery"
name = "托育室"
floor = 2
capacity = 15
area_m2 = 90
schedule = ["daily 00:00-12:00 infant_care", "daily 12:00-24:00 elderly_care"]
[[site.room]]
id = "study"
name = "四点半课堂"
floor = 2
capacity = 20
area_m2 = 60
schedule = ["daily 00:00-24:00 child_care"]
[[site.room]]
id = "gym"
name = "健身房"
floor = -1
capacity = 12
area_m2 = 70
schedule = ["sat,sun 09:00-17:00 fitness"]
[[site.device]]
id = "tp-canteen-door"
room = "canteen"
kind = "door"
[[site.device]]
id = "tp-nursery"
room = "nursery"
kind = "count"
[[site.device]]
id = "tp-study"
room = "study"
kind = "count"
[[site.device]]
id = "tp-gym"
room = "gym"
kind = "presence"

[[site]]
id = "bj-cy-wangjing"
name = "望京街道社区"
city = "北京市"
district = "朝阳区"
[[site.room]]
id = "hall"
name = "多功能厅"
capacity = 30
area_m2 = 80
schedule = ["daily 00:00-24:00 culture"]
[[site.room]]
id = "clinic"
name = "健康小屋"
capacity = 6
area_m2 = 25
schedule = ["daily 00:00-24:00 health"]
[[site.device]]
id = "wj-hall"
room = "hall"
kind = "count"
[[site.device]]
id = "wj-clinic"
room = "clinic"
kind = "count"
"#;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8088".into());
    let seconds: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(300);
    let registry = Arc::new(Registry::from_toml(REGISTRY, Path::new("demo.toml"))?);
    let clock = Clock::wall();
    let board = LiveBoard::new(registry.clone(), clock);

    // A plain thread, as the pipeline's workers are.
    let feeder = board.clone();
    let rooms = registry.rooms.len() as u32;
    std::thread::spawn(move || feed(&feeder, clock, rooms));

    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("serving http://{addr}/ for {seconds} s");
    dashboards::serve(
        listener,
        dashboards::Web::new(board),
        tokio::time::sleep(Duration::from_secs(seconds)),
    )
    .await?;
    Ok(())
}

/// Made-up occupancy: room 0 near capacity, room 4 over it, the last room offline.
/// Nothing for the first seconds, so a page opened early shows pushed updates arrive.
fn feed(board: &LiveBoard, clock: Clock, rooms: u32) {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |m: u32| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % u64::from(m.max(1))) as u32
    };
    let base = [34, 6, 0, 1, 33, 2];
    // Rooms come online a few seconds after start: a page opened before then
    // shows them filling in through the event stream alone.
    std::thread::sleep(Duration::from_secs(4));
    loop {
        let now = clock.now_ms();
        for r in 0..rooms.saturating_sub(1) {
            let b = base.get(r as usize).copied().unwrap_or(3);
            let n = if b <= 1 { b } else { b - 2 + next(5) };
            board.update(LiveRoom {
                room: RoomIdx(r),
                occupancy: Some(n),
                updated_ms: now - i64::from(next(20)) * 1000,
                valid_until: Some(now / 1000 + 120),
                idle_since_ms: None,
                over_capacity_since_ms: None,
            });
        }
        board.update(LiveRoom {
            room: RoomIdx(rooms - 1),
            occupancy: Some(3),
            updated_ms: now - 900_000,
            valid_until: Some(now / 1000 - 300),
            idle_since_ms: None,
            over_capacity_since_ms: None,
        });
        std::thread::sleep(Duration::from_secs(2));
    }
}
