//! The same input gives byte-identical tables with 1, 2 and 4 workers, and
//! when its messages arrive in another order (within the allowed lateness).

use devices::{Limits, Reading, Registry, Validator};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use stream::StreamConfig;

/// 2026-11-23 (Monday) 06:00 in Shanghai, Unix ms.
const START_MS: i64 = 1_795_384_800_000;

fn fleet_readings(registry: &Arc<Registry>) -> Vec<Reading> {
    let mut fleet = devices::sim::Fleet::new(Arc::clone(registry), 7, START_MS);
    let validator = Validator::new(Arc::clone(registry), Limits::default());
    fleet
        .step(START_MS + 2 * 86_400_000)
        .into_iter()
        .map(|p| {
            validator
                .check(&p.topic, &p.payload, p.time_ms)
                .expect("simulated messages are valid")
        })
        .collect()
}

/// Every file of every table under `root`, by table and partition, as bytes.
fn tables(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for table in std::fs::read_dir(root).expect("data dir").flatten() {
        for part in std::fs::read_dir(table.path()).expect("table").flatten() {
            let files: Vec<_> = std::fs::read_dir(part.path())
                .expect("partition")
                .flatten()
                .collect();
            assert_eq!(files.len(), 1, "one write, one file per partition");
            let key = format!(
                "{}/{}",
                table.file_name().to_string_lossy(),
                part.file_name().to_string_lossy()
            );
            out.insert(key, std::fs::read(files[0].path()).expect("file"));
        }
    }
    out
}

fn run(
    registry: &Arc<Registry>,
    readings: Vec<Reading>,
    workers: usize,
) -> BTreeMap<String, Vec<u8>> {
    let config = StreamConfig {
        workers,
        ..StreamConfig::default()
    };
    let until = START_MS / 1000 + 2 * 86_400;
    let out = stream::replay(Arc::clone(registry), &config, readings, 64, until).expect("replay");
    assert!(
        out.late.is_empty(),
        "nothing arrives later than the allowed lateness"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let store = analytics::Store::open(dir.path(), Arc::clone(registry)).expect("store");
    store.write_windows(&out.windows).expect("windows");
    store.write_flags(&out.flags).expect("flags");
    store.write_site_days(&out.site_days).expect("site days");
    store.write_idle_slots(&out.idle_slots).expect("idle slots");
    store
        .write_device_days(&out.device_days)
        .expect("device days");
    tables(dir.path())
}

#[test]
fn byte_identical_tables_for_any_worker_count_and_arrival_order() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/registry.toml"))
            .expect("sample registry");
    let registry =
        Arc::new(Registry::from_toml(&text, Path::new("config/registry.toml")).expect("registry"));
    let readings = fleet_readings(&registry);
    assert!(readings.len() > 10_000, "{}", readings.len());

    let reference = run(&registry, readings.clone(), 1);
    for table in [
        "room_hour",
        "room_day",
        "room_slot_day",
        "site_day",
        "device_day",
        "idle_slots",
    ] {
        assert!(
            reference.keys().any(|k| k.starts_with(table)),
            "{table} written"
        );
    }
    assert_eq!(run(&registry, readings.clone(), 2), reference, "2 workers");
    assert_eq!(run(&registry, readings.clone(), 4), reference, "4 workers");

    // Another arrival order: each run of 40 messages (well under a minute of event time,
    // inside the 120 s of allowed lateness) arrives backwards.
    let mut shuffled = Vec::with_capacity(readings.len());
    for chunk in readings.chunks(40) {
        shuffled.extend(chunk.iter().rev().cloned());
    }
    // The first message to arrive must still be the earliest: it fixes where the windows start.
    let earliest = shuffled
        .iter()
        .enumerate()
        .min_by_key(|(_, r)| r.time_ms)
        .map(|(i, _)| i)
        .unwrap_or(0);
    shuffled.swap(0, earliest);
    assert_ne!(shuffled, readings);
    assert_eq!(
        run(&registry, shuffled, 2),
        reference,
        "another arrival order"
    );
}
