//! `doorstep import`: history from files, through the same validation and the
//! same dataflow as live messages.
//!
//! 1. The files are read into device messages (native v1 payloads; vendor lines
//!    through their codec), bound to one device of the registry, and sorted by
//!    event time. A file that cannot be read stops the import with its file and
//!    line, before anything is written.
//! 2. Each message is checked by [`devices::Validator`] as if it had arrived
//!    one second after its time (imports take any past date: no `max_age`), and
//!    rejected as `future_timestamp` when more than a day ahead of the import.
//!    The flood guard, there for live devices, does not apply: history comes
//!    in bursts by nature. Rows that cannot be read are rejected with their line.
//! 3. Readings and rejections go to `raw_events` and `quarantine` in files
//!    tagged with the batch ([`batch`]): named after the input's contents, so the
//!    same input imported again (with any options) replaces them, wherever its
//!    dates fell before. A record of the batch goes to `<data_dir>/imports/`.
//! 4. The site's windows, flags, idle slots, device days and site days are
//!    recomputed from all its imported `raw_events` with [`stream::replay`] (the
//!    live dataflow, fed in event-time order) and written under a name made from
//!    the site (`analytics::Store::write_imported`), replacing the previous
//!    import's files: importing again changes nothing, importing another file of
//!    the same room recomputes the days both touch.
//!
//! The journal locks (`journal`, and a cluster's `journal-p<N>`) are held
//! throughout: an import never runs beside a `doorstep run` on the same data
//! directory.

mod args;
pub mod batch;
mod formats;
mod lock;
mod manage;
mod read;
mod recompute;
mod rows;
mod summary;
mod time;

pub use args::{DataArgs, ImportAction, ImportArgs};

use crate::config::Config;
use anyhow::{Context, bail};
use devices::{DeviceIdx, DeviceKind, Limits, Reading, Registry, Rejection, SiteIdx, Validator};
use indicatif::{ProgressBar, ProgressStyle};
use lock::Locked;
use recompute::recompute;
use rows::{Body, Row};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use summary::Summary;

/// Where an import writes and what it binds to.
pub(crate) struct Target {
    data: PathBuf,
    registry: Arc<Registry>,
    stream: stream::StreamConfig,
}

pub(crate) fn target(args: &DataArgs) -> anyhow::Result<Target> {
    let config = Config::find(args.config.as_deref())?;
    let Some(data) = args
        .data
        .clone()
        .or_else(|| config.as_ref().map(|c| c.data_dir.clone()))
    else {
        bail!("where to? give --data DIR (a data directory) or --config FILE");
    };
    let Some(registry_path) = args
        .registry
        .clone()
        .or_else(|| config.as_ref().map(|c| c.registry.clone()))
    else {
        bail!(
            "which registry? give --registry FILE or --config FILE (config/datasets.toml has the public datasets' rooms)"
        );
    };
    let text = std::fs::read_to_string(&registry_path)
        .with_context(|| format!("cannot read {}", registry_path.display()))?;
    let registry = Registry::parse(&text, &registry_path)
        .with_context(|| format!("cannot load {}", registry_path.display()))?;
    // With the registry's history of the data directory: readings bound to the
    // room their device had at their time.
    let registry = crate::registry_history::all_time(
        &data,
        &registry,
        &text,
        devices::Clock::wall().now_ms(),
    )?;
    let mut stream = config.map(|c| c.stream).unwrap_or_default();
    stream.workers = 1;
    Ok(Target {
        data,
        registry: Arc::new(registry),
        stream,
    })
}

/// The kinds of device the format's messages come from, in order of preference.
fn kinds(args: &ImportArgs, mapping: Option<&read::Mapping>) -> Vec<DeviceKind> {
    match (args.format(), mapping) {
        (args::Format::Calit2, _) => vec![DeviceKind::Door],
        (args::Format::MilesightVs13x, _) => vec![DeviceKind::Door, DeviceKind::Count],
        (args::Format::MilesightVs121, _) => vec![DeviceKind::Count],
        (_, Some(m)) => vec![m.value.kind()],
        (_, None) => Vec::new(),
    }
}

fn kind_names(kinds: &[DeviceKind]) -> String {
    kinds
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(" or ")
}

/// The device the data is bound to.
fn bind(reg: &Registry, args: &ImportArgs, kinds: &[DeviceKind]) -> anyhow::Result<DeviceIdx> {
    if let Some(id) = &args.device {
        let Some(d) = reg.device_by_id(id) else {
            bail!("device {id:?} is not in the registry");
        };
        let kind = reg.device(d).kind;
        if !kinds.contains(&kind) {
            bail!(
                "device {id:?} is a {} device; {} data needs a {} device",
                kind.as_str(),
                args.format().name(),
                kind_names(kinds)
            );
        }
        return Ok(d);
    }
    let (Some(site), Some(room)) = (&args.site, &args.room) else {
        bail!("bind the data to a room: --site ID --room ID, or to a device: --device ID");
    };
    let Some(r) = reg.room_by_ids(site, room) else {
        bail!("room {room:?} of site {site:?} is not in the registry");
    };
    for kind in kinds {
        let found: Vec<DeviceIdx> = reg
            .room(r)
            .devices
            .iter()
            .copied()
            .filter(|d| reg.device(*d).kind == *kind)
            .collect();
        match found.as_slice() {
            [] => continue,
            [one] => return Ok(*one),
            many => bail!(
                "room {room:?} has {} {} devices ({}); choose one with --device",
                many.len(),
                kind.as_str(),
                many.iter()
                    .map(|d| reg.device(*d).id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
    bail!(
        "room {room:?} of site {site:?} has no {} device in the registry for {} data; add one",
        kind_names(kinds),
        args.format().name()
    )
}

fn delimiter(args: &ImportArgs) -> anyhow::Result<u8> {
    match args.delimiter.as_deref() {
        None => Ok(b','),
        Some("\\t" | "tab") => Ok(b'\t'),
        Some(d) if d.len() == 1 => Ok(d.as_bytes()[0]),
        Some(d) => bail!("--delimiter {d:?} is not one character"),
    }
}

fn bar(len: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{msg:>12} [{bar:40}] {human_pos}/{human_len} {eta}")
    {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(what.to_owned());
    pb
}

fn spinner(what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new_spinner();
    pb.set_message(what.to_owned());
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}

/// Runs `doorstep import` (or `import list`, `import remove`).
pub fn run(args: &ImportArgs) -> anyhow::Result<()> {
    match &args.action {
        Some(ImportAction::List { at }) => manage::list(at),
        Some(ImportAction::Remove { name, at }) => manage::remove(name, at),
        None => import_files(args),
    }
}

fn import_files(args: &ImportArgs) -> anyhow::Result<()> {
    if args.format.is_none() || args.files.is_empty() {
        bail!(
            "doorstep import needs --format FORMAT and the files to import (see doorstep import --help)"
        );
    }
    if !(0.0..=1.0).contains(&args.max_rejected) {
        bail!(
            "--max-rejected {} is not a share from 0 to 1 (0.05 = 5 %)",
            args.max_rejected
        );
    }
    let t = target(&args.at)?;
    let reg = Arc::clone(&t.registry);
    let mapping = read::mapping(args)?;
    let kinds = kinds(args, mapping.as_ref());
    let device = bind(&reg, args, &kinds)?;
    let dev = reg.device(device);
    let site = dev.site;
    let tz = match &args.timezone {
        Some(name) => name.parse::<chrono_tz::Tz>().map_err(|_| {
            anyhow::anyhow!("--timezone {name:?} is not an IANA timezone such as Europe/Brussels")
        })?,
        None => reg.site(site).timezone,
    };
    let delim = delimiter(args)?;

    // Before anything is written: the data directory must not be in use.
    let store = analytics::Store::open(&t.data, Arc::clone(&reg))
        .with_context(|| format!("cannot use the data directory {}", t.data.display()))?;
    let lock = Locked::take(&t.data, &store)?;
    let done = import(args, &t, &store, device, tz, delim, mapping.as_ref());
    drop(lock);
    let summary = done?;
    print!("{}", summary.render(&args.files));
    if let Some(refused) = summary.refused(args.max_rejected) {
        bail!(refused);
    }
    Ok(())
}

fn import(
    args: &ImportArgs,
    t: &Target,
    store: &analytics::Store,
    device: DeviceIdx,
    tz: chrono_tz::Tz,
    delim: u8,
    mapping: Option<&read::Mapping>,
) -> anyhow::Result<Summary> {
    let reg = &t.registry;
    let dev = reg.device(device);
    let site_id = reg.site(dev.site).id.clone();

    // 1. Read every file; with --strict a bad row stops the import before anything is written.
    let total_bytes: u64 = args
        .files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let started = std::time::Instant::now();
    let pb = bar(total_bytes, "reading");
    let mut rows: Vec<Row> = Vec::new();
    let mut inputs = Vec::with_capacity(args.files.len());
    let options = read::ReadOptions {
        format: args.format(),
        mapping,
        tz,
        delimiter: delim,
        strict: args.strict,
    };
    for (i, path) in args.files.iter().enumerate() {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        inputs.push(batch::InputFile {
            path: path.display().to_string(),
            bytes: bytes.len() as u64,
            sha256: batch::sha256_hex(&bytes),
        });
        rows.extend(read::read_file(i, path, &bytes, &options)?);
        pb.inc(bytes.len() as u64);
    }
    pb.finish_and_clear();
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "import: read"
    );
    let name = match &args.name {
        Some(n) if n.trim().is_empty() => bail!("--name must not be empty"),
        Some(n) => n.trim().to_owned(),
        None => batch::default_name(&inputs),
    };
    let raw_tag = batch::tag_of(&name);
    let replaced = match &args.replace {
        Some(old) => Some(batch::find(&t.data, old)?.ok_or_else(|| {
            anyhow::anyhow!(
                "--replace {old:?}: no such import batch (doorstep import list shows them)"
            )
        })?),
        None => None,
    };
    let earlier = batch::find(&t.data, &name)?;
    if rows.is_empty() {
        bail!(
            "no rows in {}",
            args.files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    // Rows whose time could not be read (rejected vendor lines) are filed at the
    // time of the row before them in the file, so that quarantine keeps them near.
    let mut last = rows.iter().find_map(|r| r.time_ms).unwrap_or(0);
    for r in rows.iter_mut() {
        match r.time_ms {
            Some(t) => last = t,
            None => r.time_ms = Some(last),
        }
    }
    rows.sort_by_key(|r| (r.time_ms, r.file, r.line));

    // 2. The same validation as live messages, one second after each message's time.
    let limits = Limits {
        max_age_ms: None,
        ..Limits::default()
    };
    let validator = Validator::new(Arc::clone(reg), limits);
    let future_after = chrono::Utc::now().timestamp_millis() + FUTURE_MS;
    let topic = format!("doorstep/v1/{site_id}/{}", dev.id);
    let mut readings: Vec<Reading> = Vec::with_capacity(rows.len());
    let mut rejected: Vec<Rejection> = Vec::new();
    let mut summary = Summary::new(args.format().name(), &site_id, reg, device, &name);
    let pb = bar(rows.len() as u64, "validating");
    // Each row is dropped once validated: the messages are not kept twice.
    for (seq, row) in std::mem::take(&mut rows).into_iter().enumerate() {
        let time_ms = row.time_ms.unwrap_or_default();
        let received_ms = time_ms + 1000;
        let result = match row.body {
            Body::Native(mut m) => {
                m.insert("ts".into(), time_ms.into());
                m.insert("seq".into(), (seq as u64).into());
                let payload = serde_json::to_vec(&m).context("cannot encode a message")?;
                if time_ms > future_after {
                    Err(Rejection {
                        reason: devices::Reason::FutureTimestamp,
                        detail: format!(
                            "{} is more than a day after the import",
                            summary::rfc3339(time_ms)
                        ),
                        topic: topic.clone(),
                        payload,
                        received_ms,
                    })
                } else {
                    validator.check(&topic, &payload, received_ms)
                }
            }
            Body::Rejected {
                reason,
                detail,
                payload,
            } => Err(Rejection {
                reason,
                detail,
                topic: topic.clone(),
                payload,
                received_ms,
            }),
        };
        match result {
            Ok(r) => {
                summary.accepted(&r);
                readings.push(r);
            }
            Err(rej) => {
                summary.rejected(&rej, row.file, row.line);
                rejected.push(rej);
            }
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "import: validated"
    );
    summary.check_timezone(
        &readings,
        &reg.room(dev.room).schedule,
        reg.site(dev.site).timezone,
        tz,
    );
    if summary.refused(args.max_rejected).is_some() {
        return Ok(summary);
    }

    // 3. raw_events and quarantine, under the batch's tag; what the batch (and
    // a batch it replaces) wrote before goes first, wherever its dates fell.
    let pb = spinner("writing raw_events");
    let mut sites = vec![dev.site];
    for old in replaced.iter().chain(&earlier) {
        store.remove_ingested(&old.tag)?;
        batch::forget(&t.data, &old.tag)?;
        if let Some(s) = reg.sites.iter().position(|s| s.id == old.site) {
            sites.push(SiteIdx(s as u32));
        }
        summary.replaced(&old.name);
    }
    store
        .write_ingested(&readings, &rejected, &raw_tag)
        .context("cannot write raw_events and quarantine")?;
    batch::save(
        &t.data,
        &batch::Record {
            name: name.clone(),
            tag: raw_tag.clone(),
            imported_at: summary::rfc3339(chrono::Utc::now().timestamp_millis()),
            files: inputs,
            format: args.format().name().to_owned(),
            site: site_id.clone(),
            device: dev.id.clone(),
            timezone: tz.name().to_owned(),
            accepted: readings.len() as u64,
            rejected: rejected.len() as u64,
            first: readings
                .iter()
                .map(|r| r.time_ms)
                .min()
                .map(summary::rfc3339),
            last: readings
                .iter()
                .map(|r| r.time_ms)
                .max()
                .map(summary::rfc3339),
        },
    )?;
    pb.finish_and_clear();
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "import: wrote raw_events"
    );

    // 4. The sites' tables, recomputed from everything imported into them.
    let pb = spinner("recomputing");
    sites.sort();
    sites.dedup();
    for site in sites {
        let recomputed = recompute(store, reg, site, &t.stream)?;
        if site == dev.site {
            summary.recomputed(recomputed, &raw_tag);
        }
    }
    pb.finish_and_clear();
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "import: recomputed"
    );
    Ok(summary)
}

/// How far ahead of the import a row may be before it is `future_timestamp`.
const FUTURE_MS: i64 = 86_400_000;
