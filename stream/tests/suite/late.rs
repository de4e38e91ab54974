//! The correction path: readings later than the allowed lateness rewrite the
//! affected rows to the values a run that had them on time produces.

use crate::common;
use crate::common::START_MS;
use devices::{Reading, Registry};
use std::path::Path;
use std::sync::Arc;
use stream::{Replayed, StreamConfig};

fn setup() -> (Arc<Registry>, Vec<Reading>) {
    common::fleet(11, START_MS + 2 * 86_400_000)
}

/// A replay with `workers` workers; the correction history on disk under `history`, else in memory.
fn run_with(
    registry: &Arc<Registry>,
    readings: Vec<Reading>,
    workers: usize,
    history: Option<&Path>,
) -> Replayed {
    let config = StreamConfig {
        workers,
        history_dir: history.map(Path::to_owned),
        ..StreamConfig::default()
    };
    stream::replay(
        Arc::clone(registry),
        &config,
        readings,
        32,
        START_MS / 1000 + 2 * 86_400,
    )
    .expect("replay")
}

fn run(registry: &Arc<Registry>, readings: Vec<Reading>, workers: usize) -> Replayed {
    run_with(registry, readings, workers, None)
}

fn assert_same_tables(got: &Replayed, want: &Replayed) {
    assert_eq!(got.windows.len(), want.windows.len());
    for (g, w) in got.windows.iter().zip(&want.windows) {
        let mut g = g.clone();
        g.revision = 0;
        assert_eq!(&g, w, "window of room {} at {}", w.room.0, w.start);
    }
    let strip_flags = |r: &Replayed| {
        r.flags
            .iter()
            .cloned()
            .map(|mut f| {
                f.revision = 0;
                f
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip_flags(got), strip_flags(want));
    let strip_sites = |r: &Replayed| {
        r.site_days
            .iter()
            .cloned()
            .map(|mut d| {
                d.revision = 0;
                d
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip_sites(got), strip_sites(want));
    let strip_devices = |r: &Replayed| {
        r.device_days
            .iter()
            .cloned()
            .map(|mut d| {
                d.revision = 0;
                d
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip_devices(got), strip_devices(want));
    let strip_slots = |r: &Replayed| {
        r.idle_slots
            .iter()
            .cloned()
            .map(|mut s| {
                s.revision = 0;
                s
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip_slots(got), strip_slots(want));
}

#[test]
fn late_readings_rewrite_rows_to_the_on_time_values() {
    let (registry, readings) = setup();
    let on_time = run(&registry, readings.clone(), 1);
    assert_eq!(on_time.revised, 0);

    // Every 37th message arrives 400 messages later: about 20 minutes, far beyond
    // the 120 s of allowed lateness. The first message stays first.
    let mut delayed: Vec<(usize, Reading)> = readings
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, r)| {
            let at = if i > 0 && i % 37 == 0 { i + 400 } else { i };
            (at, r)
        })
        .collect();
    delayed.sort_by_key(|(at, _)| *at);
    let arrival: Vec<Reading> = delayed.into_iter().map(|(_, r)| r).collect();

    let disk = tempfile::tempdir().expect("tempdir");
    for (workers, history) in [
        (1, None),
        (2, None),
        (1, Some(disk.path())),
        (2, Some(disk.path())),
    ] {
        let corrected = run_with(&registry, arrival.clone(), workers, history);
        assert!(
            corrected.late.is_empty(),
            "every late reading was corrected"
        );
        assert!(corrected.revised > 0, "rows were rewritten");
        assert_same_tables(&corrected, &on_time);
    }
    // On disk: a folder per worker, a folder per UTC day inside, files by room.
    let worker = disk.path().join("worker-1");
    let days = std::fs::read_dir(&worker).expect("worker folder").count();
    assert!(days >= 1, "{days} day folders in {}", worker.display());
}

#[test]
fn readings_older_than_the_kept_days_stay_uncorrected() {
    let (registry, readings) = setup();
    // One reading from the first morning arrives at the very end, two days later:
    // with 2 kept days it is too old to correct, and is reported as such.
    let mut arrival = readings.clone();
    let old = arrival.remove(1000);
    arrival.push(old.clone());
    let out = run(&registry, arrival.clone(), 1);
    assert_eq!(out.late, std::slice::from_ref(&old));
    let disk = tempfile::tempdir().expect("tempdir");
    let out = run_with(&registry, arrival, 1, Some(disk.path()));
    assert_eq!(out.late, [old]);
}

/// `n` heartbeats of the first device at `at_ms`.
fn heartbeats(registry: &Registry, n: u64, at_ms: i64) -> Vec<Reading> {
    let device = devices::DeviceIdx(0);
    (0..n)
        .map(|i| Reading {
            device,
            room: registry.device(device).room,
            time_ms: at_ms,
            received_ms: at_ms,
            seq: Some(1_000_000 + (at_ms / 1000) as u64 * 100 + i),
            clock_skew: false,
            value: devices::Value::Status(devices::Status::default()),
        })
        .collect()
}

#[test]
fn a_backlog_after_the_rooms_started_counts_as_if_on_time() {
    let (registry, readings) = setup();
    let end = START_MS + 2 * 86_400_000;
    // The run starts at the end of the data and its rooms start there (the frontier
    // passes two heartbeat batches); then two days of history arrive as a backlog.
    let mut arrival = heartbeats(&registry, 32, end);
    arrival.extend(heartbeats(&registry, 32, end + 200_000));
    arrival.extend(readings);
    let mut on_time = arrival.clone();
    on_time.sort_by_key(|r| r.time_ms);
    // Three kept days: the horizon reaches the start of the data.
    let config = StreamConfig {
        correction_days: 3,
        ..StreamConfig::default()
    };
    let until = (end + 400_000) / 1000;
    let want = stream::replay(Arc::clone(&registry), &config, on_time, 32, until).expect("on time");
    for workers in [1, 2] {
        let config = StreamConfig {
            workers,
            ..config.clone()
        };
        let got = stream::replay(Arc::clone(&registry), &config, arrival.clone(), 32, until)
            .expect("backlog");
        assert!(got.late.is_empty(), "{} readings too old", got.late.len());
        assert!(got.revised > 0);
        let latest = |r: &Replayed| {
            let mut rows: std::collections::BTreeMap<_, devices::RoomWindow> = Default::default();
            for w in &r.windows {
                let key = (w.room, w.start, format!("{:?}", w.kind));
                if rows.get(&key).is_none_or(|o| o.revision <= w.revision) {
                    rows.insert(key, w.clone());
                }
            }
            rows.into_values()
                .map(|mut w| {
                    w.revision = 0;
                    w
                })
                .collect::<Vec<_>>()
        };
        let (got_rows, want_rows) = (latest(&got), latest(&want));
        assert_eq!(got_rows.len(), want_rows.len(), "{workers} workers");
        for (g, w) in got_rows.iter().zip(&want_rows) {
            assert_eq!(g, w, "{workers} workers: room {} at {}", w.room.0, w.start);
        }
    }
}

#[test]
fn a_device_whose_clock_runs_ahead_sends_no_one_else_through_the_correction_path() {
    let (registry, mut readings) = setup();
    // One device of 21 (about 5 %) stamps its readings 4 minutes ahead; they arrive
    // in the order sent.
    let ahead = readings[0].device;
    for r in &mut readings {
        if r.device == ahead {
            r.time_ms += 240_000;
        }
    }
    let mut on_time = readings.clone();
    on_time.sort_by_key(|r| r.time_ms);
    let want = run(&registry, on_time, 1);
    let got = run(&registry, readings.clone(), 1);
    assert!(got.late.is_empty());
    let share = got.corrected as f64 / readings.len() as f64;
    assert!(share < 0.05, "{:.1} % of readings corrected", share * 100.0);
    assert_same_tables(&got, &want);
}

/// A run that stops right after a checkpoint, then resumes from it with the
/// rest of the readings (some of them late, for days the checkpoint holds
/// snapshots of), gives the tables of one uninterrupted run.
#[test]
fn a_run_resumed_from_its_checkpoint_gives_the_tables_of_one_run() {
    let (registry, mut readings) = setup();
    let cut = readings.len() * 3 / 5;
    // 300 readings from the six hours before the cut arrive after it, late.
    let late_from = readings[..cut]
        .iter()
        .rposition(|r| r.time_ms < readings[cut].time_ms - 6 * 3_600_000)
        .expect("six hours before");
    let late: Vec<Reading> = readings.drain(late_from..late_from + 300).collect();
    let cut = cut - 300;
    readings.splice(cut + 100..cut + 100, late);
    let dir = tempfile::tempdir().expect("dir");
    let until = START_MS / 1000 + 2 * 86_400;
    let config = |history: &str| StreamConfig {
        workers: 2,
        history_dir: Some(dir.path().join(history)),
        ..StreamConfig::default()
    };
    let want = stream::replay(
        Arc::clone(&registry),
        &config("h0"),
        readings.clone(),
        32,
        until,
    )
    .expect("uninterrupted");
    let mut first = config("h1");
    first.checkpoints.dir = Some(dir.path().join("ck"));
    let before = stream::replay(
        Arc::clone(&registry),
        &first,
        readings[..cut].to_vec(),
        32,
        until,
    )
    .expect("up to the checkpoint");
    let mut second = config("h1");
    second.checkpoints.resume = Some(dir.path().join("ck").join(format!("{:013}", 1)));
    let after = stream::replay(
        Arc::clone(&registry),
        &second,
        readings[cut..].to_vec(),
        32,
        until,
    )
    .expect("resumed");
    assert!(
        after.corrected >= 300,
        "the late readings took the correction path"
    );
    assert!(!before.windows.is_empty() && !after.windows.is_empty());
    // Both runs revised rows; the values must agree, whatever the revision.
    let mut want = want;
    for w in &mut want.windows {
        w.revision = 0;
    }
    assert_same_tables(&before.then(after), &want);
}
