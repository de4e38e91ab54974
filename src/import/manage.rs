//! `doorstep import list` and `doorstep import remove`: the batches of a data
//! directory, and taking one out again.

use super::batch::{self, Record};
use super::lock::Locked;
use super::recompute::recompute;
use super::summary::thousands;
use super::{DataArgs, target};
use anyhow::{Context, bail};
use devices::SiteIdx;
use std::sync::Arc;

/// Prints the batches, oldest first.
pub fn list(at: &DataArgs) -> anyhow::Result<()> {
    let data = data_dir(at)?;
    let records = batch::list(&data)?;
    if records.is_empty() {
        println!("no import batches in {}", data.display());
        return Ok(());
    }
    println!(
        "{} import batch(es) in {} (oldest first):",
        records.len(),
        data.display()
    );
    for r in &records {
        print!("{}", describe(r));
    }
    Ok(())
}

/// The data directory of `at`, without the registry (listing needs none).
fn data_dir(at: &DataArgs) -> anyhow::Result<std::path::PathBuf> {
    if let Some(d) = &at.data {
        return Ok(d.clone());
    }
    match crate::config::Config::find(at.config.as_deref())? {
        Some(c) => Ok(c.data_dir),
        None => bail!("which data directory? give --data DIR or --config FILE"),
    }
}

fn describe(r: &Record) -> String {
    let files: Vec<&str> = r.files.iter().map(|f| f.path.as_str()).collect();
    let span = match (&r.first, &r.last) {
        (Some(a), Some(b)) => format!("{a} to {b}"),
        _ => "no readings".into(),
    };
    format!(
        "\n  {}\n    imported {} as {} into site {} device {} (times in {})\n    files: {}\n    rows: {} accepted, {} rejected; {span}\n",
        r.name,
        r.imported_at,
        r.format,
        r.site,
        r.device,
        r.timezone,
        files.join(", "),
        thousands(r.accepted),
        thousands(r.rejected),
    )
}

/// Removes the batch `name` and recomputes its site without it.
pub fn remove(name: &str, at: &DataArgs) -> anyhow::Result<()> {
    let t = target(at)?;
    let Some(record) = batch::find(&t.data, name)? else {
        let known: Vec<String> = batch::list(&t.data)?.into_iter().map(|r| r.name).collect();
        if known.is_empty() {
            bail!("no import batch {name:?}: {} has none", t.data.display());
        }
        bail!(
            "no import batch {name:?}; the batches are: {}",
            known.join(", ")
        );
    };
    let reg = Arc::clone(&t.registry);
    let store = analytics::Store::open(&t.data, Arc::clone(&reg))
        .with_context(|| format!("cannot use the data directory {}", t.data.display()))?;
    let lock = Locked::take(&t.data, &store)?;
    let files = store.remove_ingested(&record.tag)?;
    batch::forget(&t.data, &record.tag)?;
    let site = reg
        .sites
        .iter()
        .position(|s| s.id == record.site)
        .map(|i| SiteIdx(i as u32));
    let recomputed = match site {
        Some(site) => Some(recompute(&store, &reg, site, &t.stream)?),
        None => None,
    };
    drop(lock);
    println!(
        "removed batch {:?}: {} file(s) of raw_events and quarantine",
        record.name, files
    );
    match recomputed {
        Some(r) => println!(
            "recomputed site {} from the {} readings imported into it that remain: {} room days",
            record.site,
            thousands(r.readings as u64),
            thousands(r.days as u64)
        ),
        None => println!(
            "site {} is no longer in the registry: its imported tables were left as they are",
            record.site
        ),
    }
    Ok(())
}
