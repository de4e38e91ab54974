//! `doorstep demo`: the page and API come up, counts change, Parquet files appear,
//! and Ctrl-C (SIGTERM here) stops it cleanly.

use crate::common::*;
use serde_json::Value;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

fn occupancies(web: SocketAddr) -> Option<Vec<(String, Value, Value)>> {
    let (status, body) = http_get(web, "/api/live")?;
    if status != 200 {
        return None;
    }
    let v: Value = serde_json::from_str(&body).ok()?;
    let mut out = Vec::new();
    for site in v["sites"].as_array()? {
        for room in site["rooms"].as_array()? {
            let id = format!("{}/{}", site["id"].as_str()?, room["id"].as_str()?);
            out.push((id, room["last_occupancy"].clone(), room["updated"].clone()));
        }
    }
    Some(out)
}

#[test]
fn demo_serves_live_counts_and_writes_parquet() {
    // A time bound (data on every view within 60 s) and Chromium: not beside a heavy test.
    let _turn = busy();
    let began = std::time::Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let web: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let mqtt = format!("127.0.0.1:{}", free_port());
    let data = dir.path().join("data");
    let demo = Proc::spawn(
        "doorstep demo",
        Command::new(env!("CARGO_BIN_EXE_doorstep"))
            .args([
                "demo",
                "--speed",
                "600",
                "--start",
                "2026-11-23T07:55:00+08:00",
                // Three days of history (28 by default; fewer keep a debug build quick).
                "--history-days",
                "3",
            ])
            .args(["--web", &web.to_string(), "--mqtt-listen", &mqtt])
            .arg("--data-dir")
            .arg(&data),
    );

    // The history is in the tables before the live part starts: the evaluator
    // and manager views have days at once.
    wait_for(Duration::from_secs(60), "the web server", || {
        http_get(web, "/readyz").filter(|(s, _)| *s == 200)
    });
    let (status, body) = http_get(web, "/api/evaluator/sites").expect("evaluator API");
    assert_eq!(status, 200, "{body}");
    let sites: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        sites["sites"].as_array().map(Vec::len),
        Some(5),
        "every sample site compared from the history: {body}"
    );
    assert_eq!(sites["facts"]["to"], "2026-11-22", "{body}");
    // In a browser: each of the three views shows data, within a minute of the start.
    if let Some((_browser, mut page)) = crate::browser::chromium() {
        for (path, what, ready) in [
            (
                "/evaluator",
                "five compared sites",
                "document.querySelectorAll('#sites tbody tr').length === 5",
            ),
            (
                "/manager",
                "rooms with their use",
                "document.querySelectorAll('#rooms tr[data-room]').length > 0 && /\\d%/.test(document.querySelector('#rooms tbody').textContent)",
            ),
            (
                "/",
                "tiles with counts",
                "[...document.querySelectorAll('.tile .occ')].some(e => /\\d/.test(e.textContent))",
            ),
        ] {
            page.goto(&format!("http://{web}{path}"));
            page.wait(what, ready);
            page.screenshot(&format!("demo{}", path.replace('/', "-")));
        }
        let took = began.elapsed();
        assert!(
            took < Duration::from_secs(60),
            "the views had data after {took:?}"
        );
    }
    let first = wait_for(Duration::from_secs(60), "the live API with values", || {
        occupancies(web).filter(|rooms| rooms.iter().any(|(_, n, _)| !n.is_null()))
    });
    assert_eq!(first.len(), 19, "every room of the sample registry");
    wait_for(Duration::from_secs(60), "a live value to change", || {
        let now = occupancies(web)?;
        (now != first).then_some(())
    });
    let (status, page) = http_get(web, "/").expect("the page");
    assert_eq!(status, 200);
    assert!(page.contains("zh-CN"), "a Chinese page");

    wait_for(
        Duration::from_secs(60),
        "raw_events and room_hour files",
        || {
            (!table_files(&data, "raw_events").is_empty()
                && !table_files(&data, "room_hour").is_empty())
            .then_some(())
        },
    );
    let (status, out, err) = demo.terminate();
    assert!(status.success(), "demo exited with {status}: {err}");
    assert!(out.contains("http://") && out.contains("stopped."), "{out}");
    assert!(out.contains("history"), "{out}");
    // The banner names the three views.
    for view in ["/  (operators)", "/manager", "/evaluator"] {
        assert!(
            out.contains(&format!("http://{web}{view}")),
            "{view}: {out}"
        );
    }
    assert!(!err.contains("panicked") && !err.contains("ERROR"), "{err}");
    // Everything buffered was written on the way out: the files read back whole.
    assert!(
        read_table(&data, "raw_events")
            .iter()
            .map(|b| b.num_rows())
            .sum::<usize>()
            > 0
    );
    assert!(
        read_table(&data, "room_hour")
            .iter()
            .map(|b| b.num_rows())
            .sum::<usize>()
            >= 19
    );
}
