//! CSV cells that a spreadsheet would run as formulas get a leading `'`.

use super::app::open;
use crate::support::get;
use analytics::Store;
use devices::{Registry, SiteDay, SiteIdx};
use std::path::Path;
use std::sync::Arc;

/// Sunday 2026-11-22 00:00 in Shanghai.
const SUNDAY: i64 = 1_795_276_800;

fn lines(csv: &str) -> Vec<&str> {
    csv.trim_start_matches('\u{feff}').lines().collect()
}

/// Regression: names such as `=HYPERLINK(...)` from the registry went into
/// CSV downloads as they were, and ran as formulas in a spreadsheet.
#[tokio::test]
async fn cells_a_spreadsheet_would_run_are_neutralised() -> anyhow::Result<()> {
    let app = open().await?;
    let registry = Arc::new(Registry::from_toml(
        super::app::REGISTRY,
        Path::new("t.toml"),
    )?);
    // One day of the site, 10 % measured: left out of the comparison.
    Store::open(&app.dir.join("data"), registry)?.write_site_days(&[SiteDay {
        site: SiteIdx(0),
        start: SUNDAY,
        end: SUNDAY + 86_400,
        rooms: 1,
        open_seconds: 36_000,
        measured_seconds: 3_600,
        occupied_seconds: 0,
        person_seconds: 0,
        capacity_person_seconds: 0,
        capacity_seconds: 0,
        visits: 0,
        area_m2: 50.0,
        rooms_covered: 0,
        rooms_underused: 0,
        functions_in_use: Vec::new(),
        revision: 0,
    }])?;

    let resp = get(app.addr, "/api/evaluator/left_out?format=csv&lang=en").await?;
    assert_eq!(resp.status, 200, "{}", resp.text()?);
    let csv = lines(resp.text()?);
    assert_eq!(
        csv,
        [
            "site_id,site_name,city,district,days,open_seconds,measured_seconds,coverage,reason_code,reason",
            r#"'-1,"'=HYPERLINK(""http://evil.example"",""点我"")",'+上海市,'@徐汇区,1,36000,3600,0.1,low_coverage,coverage 10.0% below 80%"#,
        ]
    );

    let resp = get(app.addr, "/api/manager/rooms?format=csv").await?;
    assert_eq!(resp.status, 200, "{}", resp.text()?);
    let csv = lines(resp.text()?);
    assert_eq!(csv.len(), 2, "{csv:?}");
    assert!(
        csv[1].starts_with(r#"'-1,"'=HYPERLINK(""http://evil.example"",""点我"")",hall,'-2+3,10,"#),
        "{}",
        csv[1]
    );
    Ok(())
}
