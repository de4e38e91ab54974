//! The web API per role against the running binary: no token is refused
//! (401), a scoped user is refused another site's data (403), the evaluator
//! reads every site but changes nothing, the admin does everything; every
//! path of the OpenAPI document answers; an open web app refuses a
//! non-loopback address.

use crate::common::*;
use crate::webapp::*;
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

fn get(app: &App, path: &str, token: Option<&str>) -> (u16, String) {
    let (status, _, body) = request(app.web, "GET", path, token, &[], "");
    (status, body)
}

fn site_ids(live: &Value) -> Vec<String> {
    live["sites"]
        .as_array()
        .expect("sites")
        .iter()
        .map(|s| s["id"].as_str().expect("id").to_owned())
        .collect()
}

#[test]
fn roles_and_scopes() {
    let app = start(true);
    // The gym goes over capacity: an alert in 武侯区.
    app.count("cd-b", "cd-b-gym", 1, 30);
    app.count("sh-a", "sh-a-hall", 1, 7);
    wait_for(Duration::from_secs(30), "live values", || {
        let (_, body) = get(&app, "/api/live", Some(ADMIN));
        (body.contains("\"occupancy\":30") && body.contains("\"occupancy\":7")).then_some(())
    });

    // No token: 401 on every API, the login page for browsers.
    for path in [
        "/api/live",
        "/api/alerts",
        "/api/manager/rooms",
        "/api/evaluator/sites",
        "/api/me",
    ] {
        assert_eq!(get(&app, path, None).0, 401, "{path} without a token");
        assert_eq!(
            get(&app, path, Some("wrong-token-000000000")).0,
            401,
            "{path}"
        );
    }
    let (status, head, _) = request(app.web, "GET", "/manager", None, &[], "");
    assert_eq!(status, 303, "pages send browsers to the login form");
    assert!(head.contains("location: /login?next=/manager"), "{head}");
    // Health, readiness, metrics and the API description stay open.
    for path in ["/healthz", "/readyz", "/metrics", "/api/openapi.json"] {
        assert_eq!(get(&app, path, None).0, 200, "{path}");
    }

    // Operator of sh-a: only sh-a, live and alerts; no manager or evaluator view.
    let (status, body) = get(&app, "/api/live", Some(OPERATOR_A));
    assert_eq!(status, 200);
    assert_eq!(site_ids(&json(&body)), ["sh-a"]);
    let (_, body) = get(&app, "/api/alerts", Some(OPERATOR_A));
    assert!(!body.contains("cd-b"), "no alert of another site: {body}");
    assert_eq!(
        get(&app, "/api/manager/rooms?site=cd-b", Some(OPERATOR_A)).0,
        403
    );
    assert_eq!(get(&app, "/api/evaluator/sites", Some(OPERATOR_A)).0, 403);
    // Its own site's devices, not another's; no monthly report.
    let (status, body) = get(&app, "/api/devices", Some(OPERATOR_A));
    assert_eq!(
        (status, json(&body)["site_id"].clone()),
        (200, "sh-a".into()),
        "{body}"
    );
    for path in [
        "/api/devices?site=cd-b",
        "/devices?site=cd-b",
        "/evaluator/monthly",
        "/evaluator/monthly?site=sh-a",
    ] {
        assert_eq!(get(&app, path, Some(OPERATOR_A)).0, 403, "{path}");
    }
    assert_eq!(
        get(&app, "/api/devices?site=nowhere", Some(OPERATOR_A)).0,
        404
    );

    // Manager of 武侯区: cd-b only; another site's rooms and heatmap are 403.
    let (status, body) = get(&app, "/api/manager/rooms", Some(MANAGER_WUHOU));
    assert_eq!(status, 200, "{body}");
    let rooms = json(&body);
    let rooms = rooms["rooms"].as_array().expect("rooms");
    assert!(
        !rooms.is_empty() && rooms.iter().all(|r| r["site_id"] == "cd-b"),
        "{body}"
    );
    let gym = &rooms[0];
    assert!(
        (gym["time_utilization_28d"].as_f64().expect("tu") - 0.6).abs() < 1e-9,
        "{gym}"
    );
    for path in [
        "/api/manager/rooms?site=sh-a",
        "/api/manager/room?site=sh-a&room=hall",
        "/manager/heatmap.svg?site=sh-a&room=hall",
        "/manager?site=sh-a",
        "/api/manager/free_hours?site=sh-a",
        "/manager/free-hours?site=sh-a",
    ] {
        assert_eq!(get(&app, path, Some(MANAGER_WUHOU)).0, 403, "{path}");
    }
    let (_, body) = get(&app, "/api/live", Some(MANAGER_WUHOU));
    assert_eq!(site_ids(&json(&body)), ["cd-b"]);
    // A manager's own site's monthly report, not another's nor a city's.
    assert_eq!(
        get(&app, "/evaluator/monthly?site=cd-b", Some(MANAGER_WUHOU)).0,
        200
    );
    for path in [
        "/evaluator/monthly?site=sh-a",
        "/evaluator/monthly?city=成都市",
    ] {
        assert_eq!(get(&app, path, Some(MANAGER_WUHOU)).0, 403, "{path}");
    }
    assert_eq!(get(&app, "/evaluator/monthly", Some(EVALUATOR)).0, 200);

    // The gym's over-capacity alert: the sh-a operator may not acknowledge it, the manager may.
    // The pipeline evaluates the alerts once a second.
    let alert = wait_for(Duration::from_secs(10), "an over-capacity alert", || {
        let (_, body) = get(&app, "/api/alerts", Some(MANAGER_WUHOU));
        json(&body)["alerts"]
            .as_array()?
            .iter()
            .find(|a| a["kind"] == "over_capacity" && a["site_id"] == "cd-b")
            .cloned()
    });
    let (_, body) = get(&app, "/api/alerts", Some(OPERATOR_A));
    assert!(
        !body.contains("cd-b"),
        "the sh-a operator sees no alert of cd-b: {body}"
    );
    let ack = format!("/api/alerts/{}/ack", alert["id"]);
    // A state change without a token, or from another site's page, is refused.
    let origin = format!("http://{}", app.web);
    assert_eq!(
        request(app.web, "POST", &ack, None, &[("Origin", &origin)], "").0,
        401
    );
    assert_eq!(request(app.web, "POST", &ack, None, &[], "").0, 403);
    assert_eq!(
        request(app.web, "POST", &ack, Some(OPERATOR_A), &[], "").0,
        403
    );
    // Evaluators read everything and change nothing.
    assert_eq!(
        request(app.web, "POST", &ack, Some(EVALUATOR), &[], "").0,
        403
    );
    let (status, _, body) = request(app.web, "POST", &ack, Some(MANAGER_WUHOU), &[], "");
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["acked_by"], "manager");
    assert_eq!(
        request(
            app.web,
            "POST",
            "/api/alerts/99999/ack",
            Some(ADMIN),
            &[],
            ""
        )
        .0,
        404
    );

    // Evaluator: every site, read-only, the comparison and its CSV.
    let (_, body) = get(&app, "/api/live", Some(EVALUATOR));
    assert_eq!(site_ids(&json(&body)), ["sh-a", "cd-b"]);
    let (status, body) = get(&app, "/api/evaluator/sites", Some(EVALUATOR));
    assert_eq!(status, 200, "{body}");
    let sites = json(&body);
    let ranked: Vec<&str> = sites["sites"]
        .as_array()
        .expect("sites")
        .iter()
        .map(|s| s["site_id"].as_str().expect("id"))
        .collect();
    assert_eq!(ranked, ["cd-b", "sh-a"], "cd-b 60 % before sh-a 27 %");
    let (status, head, csv) = request(
        app.web,
        "GET",
        "/api/evaluator/sites?format=csv",
        Some(EVALUATOR),
        &[],
        "",
    );
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase().contains("content-type: text/csv"),
        "{head}"
    );
    assert!(
        csv.trim_start_matches('\u{feff}')
            .starts_with("national_rank,"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 3, "header and two sites: {csv}");
    assert_eq!(
        get(
            &app,
            "/api/manager/room?site=sh-a&room=nursery",
            Some(EVALUATOR)
        )
        .0,
        200
    );

    // Admin: everything, including the room detail with its idle block and trend.
    let (status, body) = get(
        &app,
        "/api/manager/room?site=sh-a&room=nursery",
        Some(ADMIN),
    );
    assert_eq!(status, 200, "{body}");
    let room = json(&body);
    assert_eq!(
        room["idle_blocks"].as_array().map(Vec::len),
        Some(1),
        "{body}"
    );
    assert_eq!(
        room["trend"].as_array().map(Vec::len),
        Some(28),
        "28 days, unknown before 11-01"
    );
    // Capacity use beside time use: the hall holds 3 people of 20 while used half
    // the time, 5,400 person-seconds an hour of 20 x 3,600 capacity-seconds.
    let (status, body) = get(&app, "/api/manager/rooms", Some(ADMIN));
    assert_eq!(status, 200, "{body}");
    let rooms = json(&body);
    let hall = rooms["rooms"]
        .as_array()
        .expect("rooms")
        .iter()
        .find(|r| r["room_id"] == "hall" && r["site_id"] == "sh-a")
        .expect("hall")
        .clone();
    assert_eq!(hall["time_utilization_28d"], 0.5, "{hall}");
    let cu = hall["capacity_utilization_28d"]
        .as_f64()
        .expect("capacity use");
    assert!((cu - 0.075).abs() < 1e-9, "{hall}");
    let (status, body) = get(&app, "/api/manager/rooms?format=csv", Some(ADMIN));
    assert_eq!(status, 200);
    assert!(
        body.contains("UNDERUSED") && body.lines().count() == 4,
        "{body}"
    );
    // The free hours a manager hands on: the nursery's Sunday morning block
    // (8-12, 3.3 % used) cut to its opening, the service day's hours outside
    // both rooms' openings, equal stretches of the week in one row.
    let (status, body) = get(
        &app,
        "/api/manager/free_hours?site=sh-a&format=csv&lang=en",
        Some(ADMIN),
    );
    assert_eq!(status, 200, "{body}");
    let rows: Vec<String> = body
        .lines()
        .skip(1)
        .map(|l| l.split(',').skip(3).collect::<Vec<_>>().join(","))
        .collect();
    assert_eq!(
        rows,
        [
            "多功能厅,20,Mon-Sun,7,07:00,08:00,1,outside_opening,,",
            "多功能厅,20,Mon-Sun,7,20:00,21:00,1,outside_opening,,",
            "托育室,10,Mon-Sun,7,07:00,08:00,1,outside_opening,,",
            "托育室,10,Mon-Sun,7,12:00,14:00,2,outside_opening,,",
            "托育室,10,Mon-Sun,7,20:00,21:00,1,outside_opening,,",
            "托育室,10,Sun,1,08:00,12:00,4,idle_while_open,infant_care,0.0333",
        ],
        "{body}"
    );
    let (_, body) = get(&app, "/api/manager/free_hours?site=sh-a", Some(ADMIN));
    let free = json(&body);
    assert_eq!(free["facts"]["free_hours_per_week"], "46.0", "{body}");
    assert_eq!(free["facts"]["service_day"], "07:00-21:00", "{body}");
    assert_eq!(
        get(&app, "/api/manager/free_hours", Some(ADMIN)).0,
        400,
        "a site is needed"
    );
    let (_, body) = get(&app, "/api/me", Some(ADMIN));
    assert_eq!(json(&body)["user"]["role"], "admin");

    // Browser login: the form sets an HttpOnly cookie that opens the pages.
    let (status, head, _) = request(
        app.web,
        "POST",
        "/login",
        None,
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Origin", &origin),
        ],
        &format!("token={OPERATOR_A}&next=%2F"),
    );
    assert_eq!(status, 303, "{head}");
    assert!(
        head.contains("HttpOnly") && head.contains("SameSite=Strict"),
        "{head}"
    );
    let cookie = format!("doorstep_token={OPERATOR_A}");
    let (status, _, page) = request(app.web, "GET", "/", None, &[("Cookie", &cookie)], "");
    assert_eq!(status, 200);
    assert!(page.contains("data-can-ack=\"true\""));
    let (status, _, _) = request(
        app.web,
        "GET",
        "/evaluator",
        None,
        &[("Cookie", &cookie)],
        "",
    );
    assert_eq!(status, 403, "an operator has no evaluator view");
    let (status, _, _) = request(
        app.web,
        "POST",
        "/login",
        None,
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Origin", &origin),
        ],
        "token=nope",
    );
    assert_eq!(status, 401);
}

#[test]
fn every_documented_path_answers() {
    let app = start(false);
    let (status, body) = get(&app, "/api/openapi.json", None);
    assert_eq!(status, 200);
    let doc = json(&body);
    assert_eq!(doc["openapi"], "3.0.3");
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 15, "{}", paths.len());
    for (path, item) in paths {
        for method in item.as_object().expect("methods").keys() {
            let concrete = match path.as_str() {
                "/manager/heatmap.svg" | "/api/manager/room" => {
                    format!("{path}?site=sh-a&room=hall")
                }
                p => p.replace("{id}", "1"),
            };
            if path == "/api/live/events" {
                continue; // an endless stream; tests/suite/browser.rs reads it
            }
            let (status, _, body) =
                request(app.web, &method.to_uppercase(), &concrete, None, &[], "");
            assert!(
                status != 0 && status != 405 && (status != 404 || path.contains("{id}")),
                "{method} {concrete}: {status} {body}"
            );
            assert!(status < 500, "{method} {concrete}: {status} {body}");
        }
    }
    // Open access (no tokens, loopback): no login needed.
    assert_eq!(get(&app, "/manager", None).0, 200);
}

#[test]
fn open_web_app_refuses_a_network_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(d.join("registry.toml"), REGISTRY).expect("registry");
    std::fs::write(
        d.join("doorstep.toml"),
        format!(
            "registry = \"registry.toml\"\n[mqtt]\nlisten = \"127.0.0.1:{}\"\n[web]\nlisten = \"0.0.0.0:{}\"\n",
            free_port(),
            free_port()
        ),
    )
    .expect("config");
    let out = Command::new(env!("CARGO_BIN_EXE_doorstep"))
        .args(["run", "--config"])
        .arg(d.join("doorstep.toml"))
        .output()
        .expect("run doorstep");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.contains("without access tokens") && last.contains("tokens_file"),
        "{err}"
    );
}
