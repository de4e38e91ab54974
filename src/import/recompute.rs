//! After an import or a removal, a site's tables are recomputed from every
//! reading of the dates imports reach (imported and live alike) with
//! [`stream::replay`], and written under a name made from the site.

use anyhow::Context;
use devices::{Reading, Registry, SiteIdx};
use std::sync::Arc;

/// What the recomputation wrote.
#[derive(Debug, Default)]
pub struct Recomputed {
    /// Readings replayed (every import into the site).
    pub readings: usize,
    /// Day windows (`room_day` rows) of the site.
    pub days: usize,
    /// Hour windows of the site.
    pub hours: usize,
    /// First and last local date with a day row.
    pub span: Option<(chrono::NaiveDate, chrono::NaiveDate)>,
    /// The tag of the window files.
    pub tag: String,
}

pub(super) fn recompute(
    store: &analytics::Store,
    reg: &Arc<Registry>,
    site: SiteIdx,
    config: &stream::StreamConfig,
) -> anyhow::Result<Recomputed> {
    let dates = store.tagged_raw_dates("import-")?;
    let mine = |r: &Reading| reg.device(r.device).site == site;
    let mut readings: Vec<Reading> = store
        .read_raw_events(&dates)?
        .into_iter()
        .filter(mine)
        .collect();
    // The dates between the first and the last imported reading that hold no
    // imported file still hold the site's live readings: the recomputation
    // replaces those days too, so it replays them as well.
    let tz = reg.site(site).timezone;
    if let (Some(first), Some(last)) = (
        readings.iter().map(Reading::time_s).min(),
        readings.iter().map(Reading::time_s).max(),
    ) {
        let (a, b) = (
            devices::schedule::local_date(tz, first),
            devices::schedule::local_date(tz, last),
        );
        let gaps: Vec<_> = store
            .raw_dates_between(a, b)?
            .into_iter()
            .filter(|d| !dates.contains(d))
            .collect();
        readings.extend(store.read_raw_events(&gaps)?.into_iter().filter(mine));
    }
    readings.sort_by_key(Reading::order_key);
    tracing::info!(
        readings = readings.len(),
        "import: read the site's imported readings back"
    );
    let tag = format!("import-site-{}", reg.site(site).id);
    let Some(last) = readings.last().map(Reading::time_s) else {
        store.write_imported(analytics::imported::ImportedRows::default(), &tag)?;
        return Ok(Recomputed {
            tag,
            ..Recomputed::default()
        });
    };
    // The day of the last reading is released at the next morning's reset.
    let last_day = devices::schedule::local_date(tz, last);
    let data_end = devices::schedule::local_to_utc(
        tz,
        (last_day + chrono::Duration::days(1))
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default(),
    );
    let reset_hour = config.door_reset_hour;
    let until = stream::local_time::next_local_hour(tz, reset_hour, data_end) + 1;
    let n = readings.len();
    let out = stream::replay(Arc::clone(reg), config, readings, 4096, until)
        .context("the dataflow failed")?;
    tracing::info!("import: replayed through the dataflow");
    let in_site = |room: devices::RoomIdx| reg.room(room).site == site;
    // Hours after the last day are beyond the data (closed only to release that day).
    let windows: Vec<_> = out
        .windows
        .into_iter()
        .filter(|w| in_site(w.room) && w.start < data_end)
        .collect();
    let flags: Vec<_> = out.flags.into_iter().filter(|f| in_site(f.room)).collect();
    let idle: Vec<_> = out
        .idle_slots
        .into_iter()
        .filter(|s| in_site(s.room))
        .collect();
    let device_days: Vec<_> = out
        .device_days
        .into_iter()
        .filter(|d| reg.device(d.device).site == site)
        .collect();
    let site_days: Vec<_> = out
        .site_days
        .into_iter()
        .filter(|d| d.site == site)
        .collect();
    store.write_imported(
        analytics::imported::ImportedRows {
            windows: &windows,
            flags: &flags,
            idle_slots: &idle,
            device_days: &device_days,
            site_days: &site_days,
        },
        &tag,
    )?;
    let days: Vec<_> = windows
        .iter()
        .filter(|w| w.kind == devices::WindowKind::Day)
        .map(|w| devices::schedule::local_date(tz, w.start))
        .collect();
    Ok(Recomputed {
        readings: n,
        days: days.len(),
        hours: windows
            .iter()
            .filter(|w| w.kind == devices::WindowKind::Hour)
            .count(),
        span: days.first().copied().zip(days.last().copied()),
        tag,
    })
}
