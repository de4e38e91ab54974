//! `doorstep report ...`: finds the data directory and registry, runs a report
//! of `analytics::report` and writes it where asked.

use crate::cli::{ReportArgs, ReportCommand, ReportFormat, ReportLang};
use crate::config::Config;
use analytics::report::{self, Format, Lang, Window, compare, free_hours, slots, underuse};
use anyhow::{Context, bail};
use devices::Registry;
use std::path::{Path, PathBuf};

/// Runs one report.
pub fn run(cmd: &ReportCommand) -> anyhow::Result<()> {
    let common = match cmd {
        ReportCommand::Underuse { common, .. }
        | ReportCommand::Slots { common, .. }
        | ReportCommand::Compare { common, .. }
        | ReportCommand::FreeHours { common, .. } => common,
    };
    let (data, registry) = sources(common)?;
    let registry = registry.as_ref();
    let window = Window {
        from: common.from,
        to: common.to,
    };
    let lang = match common.lang {
        ReportLang::Zh => Lang::Zh,
        ReportLang::En => Lang::En,
    };
    let output = match cmd {
        ReportCommand::Underuse { site, city, .. } => {
            let filter = underuse::Filter {
                site: site.clone(),
                city: city.clone(),
            };
            underuse::run(&data, registry, &window, &filter, lang)?
        }
        ReportCommand::Slots {
            site, room, svg, ..
        } => {
            let slots = slots::run(&data, registry, &window, site, room, lang)?;
            if let Some(svg) = svg {
                slots.write_svg(svg, lang)?;
                eprintln!("wrote {}", svg.display());
            }
            slots.output
        }
        ReportCommand::FreeHours {
            site, service_day, ..
        } => {
            let Some(registry) = registry else {
                bail!(
                    "free-hours needs the registry for the rooms' schedules: give --registry FILE or --config FILE"
                );
            };
            let day = match service_day {
                Some(d) => *d,
                None => Config::find(common.config.as_deref())?
                    .map(|c| c.web.service_day)
                    .unwrap_or_default(),
            };
            free_hours::run(Some(&data), registry, &window, site, day, lang)?
        }
        ReportCommand::Compare {
            city,
            district,
            category,
            rank_by,
            ..
        } => {
            let rank_by = compare::RankBy::parse(rank_by).ok_or_else(|| {
                anyhow::anyhow!(
                    "--rank-by {rank_by:?} is not a choice: time_utilization, capacity_utilization, visits_per_day or visits_per_100m2_day"
                )
            })?;
            let category = category
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(anyhow::Error::msg)?;
            let filter = compare::Filter {
                city: city.clone(),
                district: district.clone(),
                category,
                rank_by,
            };
            compare::run(&data, registry, &window, &filter, lang)?
        }
    };
    let format = match common.format {
        ReportFormat::Table => Format::Table,
        ReportFormat::Csv => Format::Csv,
        ReportFormat::Json => Format::Json,
        ReportFormat::Parquet => Format::Parquet,
    };
    for file in report::render::write(&output, format, common.output.as_deref(), lang)? {
        eprintln!("wrote {}", file.display());
    }
    Ok(())
}

/// Where `doorstep demo` writes by default: reports read it when nothing else is given.
const DEMO_DATA: &str = "doorstep-data";

/// The data directory and, when one is known, the registry.
fn sources(args: &ReportArgs) -> anyhow::Result<(PathBuf, Option<Registry>)> {
    let config = Config::find(args.config.as_deref())?;
    let demo = Path::new(DEMO_DATA);
    let Some(data) = args
        .data
        .clone()
        .or_else(|| config.as_ref().map(|c| c.data_dir.clone()))
        .or_else(|| demo.is_dir().then(|| demo.to_owned()))
    else {
        bail!(
            "which data? give --data DIR (the pipeline's data_dir) or --config FILE (see doorstep report --help)"
        );
    };
    if args.data.is_none() && config.is_none() {
        eprintln!("reading {DEMO_DATA}/ (the demo's data; --data DIR for another)");
    }
    if !data.is_dir() {
        bail!(
            "the data directory {} does not exist (give the pipeline's data_dir with --data)",
            data.display()
        );
    }
    let now = devices::Clock::wall().now_ms();
    let registry = match (&args.registry, config) {
        // Given: as it is.
        (Some(p), _) => {
            Some(Registry::load(p).with_context(|| format!("cannot load {}", p.display()))?)
        }
        // The config's, with the data's history: rooms and devices since
        // removed keep their names and schedules for the days they had them.
        (None, Some(c)) => {
            let text = std::fs::read_to_string(&c.registry)
                .with_context(|| format!("cannot read {}", c.registry.display()))?;
            let current = Registry::parse(&text, &c.registry)
                .with_context(|| format!("cannot load {}", c.registry.display()))?;
            Some(crate::registry_history::all_time(
                &data, &current, &text, now,
            )?)
        }
        // None: the ones the data was taken with (the registry's history).
        (None, None) => match crate::registry_history::list(&data)?.last() {
            Some(v) => {
                eprintln!(
                    "using the registries the data was taken with ({}, up to v{}; --registry FILE for another)",
                    crate::registry_history::dir(&data).display(),
                    v.version
                );
                let path = crate::registry_history::dir(&data).join(&v.file);
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let latest = crate::registry_history::load(&data, v)?;
                Some(crate::registry_history::all_time(
                    &data, &latest, &text, now,
                )?)
            }
            None => None,
        },
    };
    Ok((data, registry))
}
