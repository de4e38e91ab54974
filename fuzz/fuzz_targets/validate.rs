//! Any topic and payload against a small registry: a reading or a rejection
//! with the payload kept, never a panic.
#![no_main]

use devices::{Limits, Registry, Validator};
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use std::sync::{Arc, LazyLock};

static VALIDATOR: LazyLock<Validator> = LazyLock::new(|| {
    let registry = Registry::from_toml(
        r#"
        [[site]]
        id = "s1"
        name = "社区"
        [[site.room]]
        id = "hall"
        name = "厅"
        capacity = 10
        area_m2 = 50
        schedule = ["daily 08:00-20:00 culture"]
        [[site.device]]
        id = "c1"
        room = "hall"
        kind = "count"
        [[site.device]]
        id = "d1"
        room = "hall"
        kind = "door"
        "#,
        Path::new("fuzz.toml"),
    )
    .expect("registry");
    Validator::new(Arc::new(registry), Limits::default())
});

fuzz_target!(|data: &[u8]| {
    // First line: the topic; the rest: the payload.
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let topic = String::from_utf8_lossy(&data[..split]);
    let payload = data.get(split + 1..).unwrap_or_default();
    let now = 1_795_396_500_000;
    match VALIDATOR.check(&topic, payload, now) {
        Ok(r) => {
            assert!(r.time_ms <= now + 24 * 3_600_000);
            assert!(r.time_ms >= now - 7 * 24 * 3_600_000);
        }
        Err(rej) => assert!(rej.payload.len() <= devices::codec::MAX_PAYLOAD + 1),
    }
});
