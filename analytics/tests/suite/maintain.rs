//! Upkeep of the tables: compaction merges and sorts a partition's files without
//! losing or doubling a row; an interrupted compaction or write is finished by
//! `tidy`; retention deletes old partitions only.

use crate::common::*;
use analytics::Store;
use devices::{Reading, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn reading(device: &str, utc: &str, seq: u64) -> Reading {
    let reg = registry();
    let d = reg.device_by_id(device).expect("device");
    Reading {
        device: d,
        room: reg.device(d).room,
        time_ms: secs(utc) * 1000,
        received_ms: secs(utc) * 1000 + 500,
        seq: Some(seq),
        clock_skew: false,
        value: Value::Count(seq as u32 % 9),
    }
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("partition")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn partition(root: &Path, date: &str) -> PathBuf {
    root.join("raw_events").join(format!("date={date}"))
}

fn date(s: &str) -> chrono::NaiveDate {
    s.parse().expect("date")
}

/// Three flushes of a day, each holding both devices, newest first in time.
fn three_flushes(store: &Store) -> Vec<Reading> {
    let mut all = Vec::new();
    for (i, hour) in ["05", "03", "01"].into_iter().enumerate() {
        let batch = vec![
            reading(
                "sh-hall-counter",
                &format!("2026-11-10T{hour}:00:00"),
                10 + i as u64,
            ),
            reading(
                "sh-nap-pir",
                &format!("2026-11-10T{hour}:00:30"),
                20 + i as u64,
            ),
        ];
        store.write_raw_events(&batch).expect("write");
        all.extend(batch);
    }
    all
}

#[test]
fn compaction_merges_sorts_and_keeps_every_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), registry()).expect("store");
    let written = three_flushes(&store);
    let part = partition(dir.path(), "2026-11-10");
    assert_eq!(files(&part).len(), 3);

    // Today's partitions are left alone.
    let done = store.compact(date("2026-11-10"), 1_000).expect("compact");
    assert_eq!((done.merged, done.written), (0, 0));

    let done = store.compact(date("2026-11-11"), 1_000).expect("compact");
    assert_eq!((done.merged, done.written), (3, 1));
    assert_eq!(files(&part).len(), 1, "{:?}", files(&part));
    let back = store.read_raw_events(&[date("2026-11-10")]).expect("read");
    let key = |r: &Reading| (r.device, r.time_ms, r.seq, format!("{:?}", r.value));
    let mut want: Vec<_> = written.iter().map(key).collect();
    want.sort();
    let got: Vec<_> = back.iter().map(key).collect();
    assert_eq!(got, want, "every row once, in (device, time) order");

    // Again: nothing left to merge.
    let done = store.compact(date("2026-11-11"), 1_000).expect("compact");
    assert_eq!(done.merged, 0);
}

#[test]
fn compaction_keeps_files_to_the_row_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), registry()).expect("store");
    three_flushes(&store);
    // Two rows a file, at most four a merged file: the first two merge, the third stays.
    let done = store.compact(date("2026-11-11"), 4).expect("compact");
    assert_eq!((done.merged, done.written), (2, 1));
    assert_eq!(files(&partition(dir.path(), "2026-11-10")).len(), 2);
    let back = store.read_raw_events(&[date("2026-11-10")]).expect("read");
    assert_eq!(back.len(), 6);
}

#[test]
fn tidy_finishes_an_interrupted_compaction_and_removes_half_written_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), registry()).expect("store");
    three_flushes(&store);
    let part = partition(dir.path(), "2026-11-10");
    let inputs = files(&part);
    // A crash after the merged file was renamed into place, before its inputs were deleted.
    store.compact(date("2026-11-11"), 1_000).expect("compact");
    let merged = files(&part).remove(0);
    let scratch = tempfile::tempdir().expect("tempdir");
    let again = Store::open(scratch.path(), registry()).expect("store");
    three_flushes(&again);
    let scratch_part = partition(scratch.path(), "2026-11-10");
    for (input, original) in inputs.iter().zip(files(&scratch_part)) {
        std::fs::copy(scratch_part.join(original), part.join(input)).expect("copy");
    }
    std::fs::write(
        part.join(format!("compact-{merged}.inputs")),
        inputs.join("\n") + "\n",
    )
    .expect("intent");
    // And a file whose write never finished, and an intent whose merge never landed.
    std::fs::write(part.join("part-x.parquet.tmp"), b"PAR1 half").expect("tmp");
    std::fs::write(part.join("compact-part-gone.parquet.inputs"), &inputs[0]).expect("intent");
    assert_eq!(
        store
            .read_raw_events(&[date("2026-11-10")])
            .expect("read")
            .len(),
        12
    );

    let done = store.tidy().expect("tidy");
    assert_eq!((done.temporaries, done.intents), (1, 2));
    assert_eq!(files(&part), vec![merged], "only the merged file is left");
    assert_eq!(
        store
            .read_raw_events(&[date("2026-11-10")])
            .expect("read")
            .len(),
        6
    );
}

#[test]
fn retention_deletes_old_partitions_of_the_tables_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), registry()).expect("store");
    for day in ["2026-11-01", "2026-11-08", "2026-11-09", "2026-11-10"] {
        store
            .write_raw_events(&[reading("sh-hall-counter", &format!("{day}T03:00:00"), 1)])
            .expect("write");
    }
    let keep = BTreeMap::from([("raw_events".to_owned(), 2), ("quarantine".to_owned(), 1)]);
    let done = store.expire(&keep, date("2026-11-10")).expect("expire");
    assert_eq!(done.expired, 2, "11-01 and 11-08 are 2 or more days old");
    let left: Vec<_> = files(&dir.path().join("raw_events"));
    assert_eq!(left, vec!["date=2026-11-09", "date=2026-11-10"]);
}
