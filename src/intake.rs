//! The intake's downstream: the stream and the tables, for `ingest::Intake`.

use std::sync::Arc;
use stream::Stream;

/// The stream and the `raw_events` / `quarantine` tables.
pub struct Sinks {
    /// The running stream.
    pub stream: Stream,
    /// The tables (`raw_events`, `quarantine`).
    pub store: Arc<analytics::Store>,
    /// Where checkpoints go, and the interval's length in a cluster (its processes
    /// name a checkpoint by the interval's slot, so that all ask for the same one).
    pub checkpoints: Option<(crate::checkpoint::Place, Option<std::time::Duration>)>,
    /// Each device's last word, for the alerts.
    pub watch: Arc<crate::alerts::DeviceLedger>,
}

impl ingest::Downstream for Sinks {
    fn readings(&mut self, batch: Vec<devices::Reading>) -> Result<(), ingest::BoxError> {
        self.watch.note(&batch);
        Ok(self.stream.send(batch)?)
    }

    fn store(
        &self,
        readings: &[devices::Reading],
        rejected: &[devices::Rejection],
        tag: &str,
    ) -> Result<(), ingest::BoxError> {
        self.watch.note_rejections(rejected);
        self.store.write_ingested(readings, rejected, tag)?;
        Ok(())
    }

    fn checkpoint(
        &mut self,
        cover: &str,
        state: ingest::IntakeState<'_>,
    ) -> Result<(), ingest::BoxError> {
        let Some((place, slot)) = &self.checkpoints else {
            return Ok(());
        };
        let at_ms = crate::checkpoint::now_ms();
        let epoch = match slot {
            Some(every) => {
                let every = every.as_millis().max(1) as i64;
                at_ms / every * every
            }
            None => at_ms,
        };
        let dir = place.epoch_dir(epoch);
        // In a cluster the stop's extra checkpoint may fall in a slot already asked for.
        if dir.exists() {
            return Ok(());
        }
        stream::checkpoint::write_part(&dir, crate::checkpoint::INTAKE_PART, &state)?;
        self.stream.checkpoint(stream::checkpoint::Mark {
            epoch,
            at_ms,
            covers: vec![(String::new(), cover.to_owned())],
        })?;
        Ok(())
    }

    fn failed(&self) -> bool {
        self.stream.failed()
    }

    fn finish(self) -> Result<(), ingest::BoxError> {
        Ok(self.stream.shutdown()?)
    }
}

/// The file in a journal folder naming the layout of the registry its
/// readings were taken under ([`devices::timeline::Layout`] as a line; a
/// journal of an older doorstep: [`devices::Registry::layout_fingerprint`], hex).
const LAYOUT_FILE: &str = "registry-layout";

/// How the journal's leftover readings, held by index, find their device under
/// the registry of now: by id, through the registry they were taken under (a
/// version of the registry's history with the journal's layout).
enum Rebind {
    /// The indices mean the same (or a journal older than the layout file).
    Same,
    /// Another layout: each old device index to the device of now.
    Map(Vec<Option<devices::DeviceIdx>>),
    /// Another layout that no recorded version has: leftovers cannot be placed.
    Unknown,
}

fn rebind_for(dir: &std::path::Path, now: &devices::Registry) -> Rebind {
    let Ok(text) = std::fs::read_to_string(dir.join(LAYOUT_FILE)) else {
        return Rebind::Same;
    };
    if devices::timeline::Layout::from_line(&text).is_some_and(|l| l.fits(now)) {
        return Rebind::Same;
    }
    let Ok(was) = u64::from_str_radix(text.trim(), 16) else {
        return Rebind::Unknown;
    };
    if was == now.layout_fingerprint() {
        return Rebind::Same;
    }
    let data = dir.parent().unwrap_or(dir);
    let old = crate::registry_history::list(data)
        .unwrap_or_default()
        .iter()
        .rev()
        .filter_map(|v| crate::registry_history::load(data, v).ok())
        .find(|r| r.layout_fingerprint() == was);
    match old {
        Some(old) => Rebind::Map(
            old.devices
                .iter()
                .map(|d| now.device_by_id(&d.id))
                .collect(),
        ),
        None => Rebind::Unknown,
    }
}

/// Opens the journal folder `dir`, writing what a crash left in it to the tables
/// (its readings bound to the registry of now, whatever registry took them).
pub fn open_journal(
    dir: &std::path::Path,
    label: &str,
    store: &analytics::Store,
) -> anyhow::Result<(ingest::Journal, ingest::Redeliveries)> {
    let registry = store.registry();
    let rebind = rebind_for(dir, &registry);
    let lost = std::sync::atomic::AtomicUsize::new(0);
    let opened = ingest::open_journal(
        dir,
        label,
        |r| {
            let moved = match &rebind {
                Rebind::Same => Some((r.device, r.room)),
                Rebind::Map(map) => map
                    .get(r.device.ix())
                    .copied()
                    .flatten()
                    .and_then(|d| Some((d, registry.room_at(d, r.time_ms)?))),
                Rebind::Unknown => None,
            };
            let Some((device, room)) = moved else {
                lost.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return None;
            };
            Some(devices::Reading {
                device,
                room,
                ..r.clone()
            })
        },
        |readings, rejected, tag| {
            store.write_ingested(readings, rejected, tag)?;
            Ok(())
        },
    )
    .map_err(|e| anyhow::anyhow!("cannot open the journal in {}: {e}", dir.display()))?;
    let lost = lost.into_inner();
    if lost > 0 {
        tracing::error!(
            readings = lost,
            journal = %dir.display(),
            "readings left by a crash under another registry whose devices are gone (or whose registry is not in the history) were not written"
        );
    }
    let tmp = dir.join(format!("{LAYOUT_FILE}.tmp"));
    let layout = devices::timeline::Layout::of(&registry);
    std::fs::write(&tmp, format!("{}\n", layout.to_line()))
        .and_then(|()| std::fs::rename(&tmp, dir.join(LAYOUT_FILE)))
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", dir.join(LAYOUT_FILE).display()))?;
    Ok(opened)
}
