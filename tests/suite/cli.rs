//! The binary's errors and help: one line that says what to do, a non-zero exit, never a panic.

use crate::common::*;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

const REGISTRY: &str = r#"
[[site]]
id = "s1"
name = "测试社区"
[[site.room]]
id = "hall"
name = "活动厅"
capacity = 20
area_m2 = 80
schedule = ["daily 09:00-17:00 culture"]
[[site.device]]
id = "c1"
room = "hall"
kind = "count"
"#;

fn doorstep(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_doorstep"))
        .args(args)
        .output()
        .expect("run doorstep")
}

/// Asserts a failed run with exactly one `error:` line containing every `needle`.
fn assert_one_line_error(out: &Output, needles: &[&str]) -> String {
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "should fail: {err}");
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one error line expected: {err}");
    for n in needles {
        assert!(errors[0].contains(n), "{n:?} not in {:?}", errors[0]);
    }
    errors[0].to_owned()
}

fn config(dir: &Path, registry: &str, mqtt: &str, web_port: u16) -> String {
    std::fs::write(dir.join("registry.toml"), registry).expect("registry");
    let path = dir.join("doorstep.toml");
    std::fs::write(
        &path,
        format!(
            "registry = \"registry.toml\"\ndata_dir = \"data\"\n[mqtt]\n{mqtt}\n[web]\nlisten = \"127.0.0.1:{web_port}\"\n"
        ),
    )
    .expect("config");
    path.to_string_lossy().into_owned()
}

fn embedded() -> String {
    format!("listen = \"127.0.0.1:{}\"", free_port())
}

#[test]
fn registry_errors_name_file_entry_and_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = REGISTRY.replace("room = \"hall\"", "room = \"attic\"");
    let cfg = config(dir.path(), &bad, &embedded(), free_port());
    let out = doorstep(&["run", "--config", &cfg]);
    assert_one_line_error(
        &out,
        &[
            "registry.toml",
            "site \"s1\" device \"c1\"",
            "room \"attic\" is not a room",
        ],
    );

    let bad = REGISTRY.replace("09:00-17:00", "9 to 5");
    let cfg = config(dir.path(), &bad, &embedded(), free_port());
    let out = doorstep(&["run", "--config", &cfg]);
    assert_one_line_error(&out, &["registry.toml", "room \"hall\"", "schedule line 1"]);

    let cfg = config(dir.path(), "[[site]\nid=", &embedded(), free_port());
    let out = doorstep(&["run", "--config", &cfg]);
    assert_one_line_error(&out, &["registry.toml", "line 1"]);
}

#[test]
fn missing_config_file_is_named() {
    let out = doorstep(&["run", "--config", "/nonexistent/doorstep.toml"]);
    assert_one_line_error(&out, &["/nonexistent/doorstep.toml"]);
}

#[test]
fn unreachable_broker_says_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let cfg = config(
        dir.path(),
        REGISTRY,
        &format!("broker = \"mqtt://127.0.0.1:{port}\""),
        free_port(),
    );
    let out = doorstep(&["run", "--config", &cfg]);
    assert_one_line_error(
        &out,
        &[
            &format!("mqtt://127.0.0.1:{port}"),
            "is it running",
            "--broker",
        ],
    );

    let registry = dir.path().join("registry.toml");
    let out = doorstep(&[
        "simulate",
        "--broker",
        &format!("mqtt://127.0.0.1:{port}"),
        "--registry",
        &registry.to_string_lossy(),
    ]);
    assert_one_line_error(&out, &["cannot reach the MQTT broker"]);

    let out = doorstep(&["run", "--config", &cfg, "--broker", "tcp://nowhere"]);
    assert_one_line_error(&out, &["mqtt://host:port"]);
}

#[test]
fn ports_in_use_say_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();

    let cfg = config(dir.path(), REGISTRY, &embedded(), port);
    let out = doorstep(&["run", "--config", &cfg]);
    // `run` has no --web: the hint names the config key first.
    assert_one_line_error(
        &out,
        &[
            &format!("127.0.0.1:{port}"),
            "web",
            "[web] listen in the config for doorstep run",
        ],
    );

    let cfg = config(
        dir.path(),
        REGISTRY,
        &format!("listen = \"127.0.0.1:{port}\""),
        free_port(),
    );
    let out = doorstep(&["run", "--config", &cfg]);
    assert_one_line_error(
        &out,
        &[
            &format!("127.0.0.1:{port}"),
            "MQTT",
            "[mqtt] listen in the config for doorstep run",
        ],
    );
}

#[test]
fn help_explains_every_command() {
    let out = doorstep(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for cmd in ["demo", "run", "simulate", "init"] {
        assert!(help.contains(cmd), "{help}");
    }
    let out = doorstep(&["demo", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("--speed") && help.contains("--data-dir"),
        "{help}"
    );
}

#[test]
fn init_writes_a_config_and_registry_that_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("site");
    let out = doorstep(&["init", &target.to_string_lossy()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let registry = std::fs::read_to_string(target.join("registry.toml")).expect("registry written");
    assert!(
        registry.contains("社区"),
        "Chinese names in the sample registry"
    );
    assert!(target.join("doorstep.toml").exists());

    let again = doorstep(&["init", &target.to_string_lossy()]);
    assert_one_line_error(&again, &["exists already", "--force"]);
    let forced = doorstep(&["init", "--force", &target.to_string_lossy()]);
    assert!(forced.status.success());
}

#[test]
fn registry_from_spreadsheets_then_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rooms = dir.path().join("rooms.csv");
    let devices = dir.path().join("devices.csv");
    std::fs::write(
        &rooms,
        "\u{feff}site_id,site_name,city,district,timezone,room_id,room_name,floor,capacity,area_m2,schedule,open_on_holidays\r\n\
         gz-th-01,天河区示范社区,广州市,天河区,,canteen,长者饭堂,1,40,135,daily 10:30-13:00 meal_aid; daily 16:30-18:30 meal_aid,true\r\n\
         gz-th-01,天河区示范社区,广州市,天河区,,hall,多功能厅,2,60,200,mon-fri 08:30-11:30 infant_care; daily 14:00-17:00 elderly_care,\r\n",
    )
    .expect("rooms.csv");
    std::fs::write(
        &devices,
        "site_id,device_id,room_id,kind,interval_s\r\ngz-th-01,th-door-a,canteen,door,30\r\ngz-th-01,th-hall,hall,count,\r\n",
    )
    .expect("devices.csv");
    let out = dir.path().join("registry.toml");
    let built = doorstep(&[
        "registry",
        "csv",
        &rooms.to_string_lossy(),
        &devices.to_string_lossy(),
        "-o",
        &out.to_string_lossy(),
    ]);
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let text = std::fs::read_to_string(&out).expect("registry written");
    assert!(
        text.contains("长者饭堂") && text.contains("16:30-18:30 meal_aid"),
        "{text}"
    );
    let checked = doorstep(&["registry", "check", &out.to_string_lossy()]);
    let summary = String::from_utf8_lossy(&checked.stdout);
    assert!(
        summary.contains("1 sites, 2 rooms, 2 devices (1 count, 0 presence, 1 door): ok"),
        "{summary}"
    );

    std::fs::write(
        &devices,
        "site_id,device_id,room_id,kind,interval_s\ngz-th-01,x,attic,door,30\n",
    )
    .expect("csv");
    let bad = doorstep(&[
        "registry",
        "csv",
        &rooms.to_string_lossy(),
        &devices.to_string_lossy(),
    ]);
    assert_one_line_error(&bad, &["devices.csv", "row 2", "attic"]);

    // A change from the spreadsheet: the door counter moves to the hall, a new
    // one counts the canteen; `registry diff` says so, one line each.
    std::fs::write(
        &devices,
        "site_id,device_id,room_id,kind,interval_s\ngz-th-01,th-door-a,hall,door,30\n\
         gz-th-01,th-hall,hall,count,\ngz-th-01,th-door-b,canteen,door,60\n",
    )
    .expect("csv");
    let moved = dir.path().join("registry-2.toml");
    let built = doorstep(&[
        "registry",
        "csv",
        &rooms.to_string_lossy(),
        &devices.to_string_lossy(),
        "-o",
        &moved.to_string_lossy(),
    ]);
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let d = doorstep(&[
        "registry",
        "diff",
        &out.to_string_lossy(),
        &moved.to_string_lossy(),
    ]);
    assert!(d.status.success(), "{}", String::from_utf8_lossy(&d.stderr));
    assert_eq!(
        String::from_utf8_lossy(&d.stdout),
        "> device th-door-a moved from gz-th-01/canteen to gz-th-01/hall\n\
         + device th-door-b in gz-th-01/canteen\n"
    );

    // The history a run records, listed and compared by version.
    let data = dir.path().join("data");
    for (file, at) in [(&out, 1_000), (&moved, 86_400_000)] {
        let text = std::fs::read_to_string(file).expect("registry");
        let reg = devices::Registry::load(file).expect("load");
        doorstep::registry_history::record(&data, &text, &reg, at, at, "test")
            .expect("record")
            .expect("a new version");
    }
    let h = doorstep(&["registry", "history", "--data", &data.to_string_lossy()]);
    let listed = String::from_utf8_lossy(&h.stdout);
    assert!(
        listed.contains("v1  from 1970-01-01T00:00:01Z")
            && listed.contains("v2  from 1970-01-02T00:00:00Z")
            && listed
                .contains("    > device th-door-a moved from gz-th-01/canteen to gz-th-01/hall"),
        "{listed}"
    );
    let d = doorstep(&[
        "registry",
        "diff",
        "v1",
        "v2",
        "--data",
        &data.to_string_lossy(),
    ]);
    assert_eq!(String::from_utf8_lossy(&d.stdout).lines().count(), 2);
    let missing = doorstep(&[
        "registry",
        "diff",
        "v1",
        "v9",
        "--data",
        &data.to_string_lossy(),
    ]);
    assert_one_line_error(&missing, &["no version 9"]);
}

#[test]
fn registry_apply_checks_shows_and_writes_or_refuses_in_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let old = "[[site]]\nid = \"s1\"\nname = \"一\"\n\
        [[site.room]]\nid = \"hall\"\nname = \"厅\"\ncapacity = 10\narea_m2 = 40\n\
        [[site.room]]\nid = \"gym\"\nname = \"健身房\"\ncapacity = 10\narea_m2 = 40\n\
        [[site.device]]\nid = \"c1\"\nroom = \"hall\"\nkind = \"count\"\n";
    std::fs::write(d.join("registry.toml"), old).expect("registry");
    std::fs::write(
        d.join("doorstep.toml"),
        "registry = \"registry.toml\"\ndata_dir = \"data\"\n",
    )
    .expect("config");
    let config = d.join("doorstep.toml");
    let apply = |file: &str, extra: &[&str]| {
        let path = d.join(file);
        let mut args = vec![
            "registry",
            "apply",
            path.to_str().expect("path"),
            "--config",
        ];
        args.push(config.to_str().expect("path"));
        args.extend(extra);
        doorstep(&args)
    };
    // Refused: an unknown room, a duplicate id. One line each; nothing written.
    std::fs::write(
        d.join("bad-room.toml"),
        old.replace("room = \"hall\"", "room = \"attic\""),
    )
    .expect("bad");
    assert_one_line_error(&apply("bad-room.toml", &[]), &["bad-room.toml", "attic"]);
    let twice = format!("{old}[[site.device]]\nid = \"c1\"\nroom = \"gym\"\nkind = \"count\"\n");
    std::fs::write(d.join("bad-dup.toml"), twice).expect("bad");
    assert_one_line_error(&apply("bad-dup.toml", &[]), &["bad-dup.toml", "c1"]);
    assert_eq!(
        std::fs::read_to_string(d.join("registry.toml")).expect("kept"),
        old
    );
    // A move: shown, then written.
    let moved = old.replace("room = \"hall\"\nkind", "room = \"gym\"\nkind");
    std::fs::write(d.join("moved.toml"), &moved).expect("moved");
    let dry = apply("moved.toml", &["--dry-run"]);
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&dry.stdout),
        "> device c1 moved from s1/hall to s1/gym\n1 changes; nothing written (--dry-run)\n"
    );
    assert_eq!(
        std::fs::read_to_string(d.join("registry.toml")).expect("kept"),
        old
    );
    let done = apply("moved.toml", &[]);
    let said = String::from_utf8_lossy(&done.stdout);
    assert!(
        said.contains("1 changes; written to") && said.contains("takes it when it starts"),
        "{said}"
    );
    assert_eq!(
        std::fs::read_to_string(d.join("registry.toml")).expect("written"),
        moved
    );
    let again = apply("moved.toml", &[]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing to apply"));
    // The history has both versions, the second holding from when it was applied.
    let history = std::fs::read_to_string(d.join("data/registry/history.jsonl")).expect("history");
    assert_eq!(history.lines().count(), 2, "{history}");
    // Refused against the history: a time before the latest version's, a device
    // that changes kind. One line each; nothing written.
    let back = moved.replace(
        "capacity = 10\narea_m2 = 40\n[[site.room]]\nid = \"gym\"",
        "capacity = 12\narea_m2 = 40\n[[site.room]]\nid = \"gym\"",
    );
    std::fs::write(d.join("back.toml"), &back).expect("back");
    assert_one_line_error(
        &apply("back.toml", &["--effective", "2020-01-01"]),
        &["back.toml", "before the latest version"],
    );
    assert_one_line_error(
        &apply("back.toml", &["--effective", "next tuesday"]),
        &["--effective", "next tuesday"],
    );
    std::fs::write(
        d.join("kind.toml"),
        moved.replace("kind = \"count\"", "kind = \"presence\""),
    )
    .expect("kind");
    assert_one_line_error(
        &apply("kind.toml", &[]),
        &["kind.toml", "\"c1\" changes kind"],
    );
    assert_eq!(
        std::fs::read_to_string(d.join("registry.toml")).expect("kept"),
        moved
    );
    // A change from a spreadsheet: only the rows that change.
    let sheet = |name: &str, text: &str| {
        std::fs::write(d.join(name), text).expect("sheet");
        d.join(name).to_str().expect("path").to_owned()
    };
    let head = "site_id,device_id,room_id,kind,interval_s,action\n";
    let bad = sheet("bad.csv", &format!("{head}s1,c1,attic,count,,\n"));
    let config_arg = config.to_str().expect("path");
    assert_one_line_error(
        &doorstep(&[
            "registry",
            "apply",
            "--devices",
            &bad,
            "--config",
            config_arg,
        ]),
        &["bad.csv", "row 2", "attic"],
    );
    let moves = sheet(
        "moves.csv",
        &format!("{head}s1,c1,hall,count,60,\ns1,p9,gym,presence,30,add\n"),
    );
    let done = doorstep(&[
        "registry",
        "apply",
        "--devices",
        &moves,
        "--config",
        config_arg,
    ]);
    let said = String::from_utf8_lossy(&done.stdout);
    assert!(
        said.contains("> device c1 moved from s1/gym to s1/hall")
            && said.contains("+ device p9")
            && said.contains("2 changes; written to"),
        "{said}{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let now = devices::Registry::load(&d.join("registry.toml")).expect("valid registry");
    assert_eq!(now.devices.len(), 2);
    assert_eq!(
        std::fs::read_to_string(d.join("data/registry/history.jsonl"))
            .expect("history")
            .lines()
            .count(),
        3
    );
}

#[test]
fn run_finds_the_config_in_its_folder_and_reports_find_the_demo_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let web = free_port();
    let mqtt = free_port();
    config(
        dir.path(),
        REGISTRY,
        &format!("listen = \"127.0.0.1:{mqtt}\""),
        web,
    );
    // Without a config here or given: one line that says what to do.
    let empty = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_doorstep"))
        .arg("run")
        .current_dir(empty.path())
        .output()
        .expect("run doorstep");
    assert_one_line_error(&out, &["--config", "doorstep init"]);
    // With ./doorstep.toml: it starts on it, and a client that connects and
    // leaves is no error.
    let log = std::fs::File::create(dir.path().join("run.log")).expect("log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_doorstep"))
        .arg("run")
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start doorstep");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{web}").parse().expect("addr");
    wait_for(std::time::Duration::from_secs(30), "/readyz", || {
        http_get(addr, "/readyz").filter(|(s, _)| *s == 200)
    });
    mosquitto_pub(mqtt, "doorstep/v1/s1/c1", r#"{"type":"count","count":2}"#);
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(dir.path().join("run.log")).expect("log");
    assert!(!log.contains("ERROR"), "{log}");

    // A report in a folder holding the demo's doorstep-data, without --data.
    let demo = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(demo.path().join("doorstep-data")).expect("data dir");
    let out = Command::new(env!("CARGO_BIN_EXE_doorstep"))
        .args(["report", "underuse"])
        .current_dir(demo.path())
        .output()
        .expect("report");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("reading doorstep-data/"), "{err}");
    assert!(!err.contains("which data?"), "{err}");
    // The registry the demo ran with comes from the data's history: a report
    // that needs the schedules works without --registry.
    let text = std::fs::read_to_string(dir.path().join("registry.toml")).expect("registry");
    let reg = devices::Registry::from_toml(&text, std::path::Path::new("registry.toml"))
        .expect("registry");
    doorstep::registry_history::record(
        &demo.path().join("doorstep-data"),
        &text,
        &reg,
        0,
        0,
        "test",
    )
    .expect("record");
    let out = Command::new(env!("CARGO_BIN_EXE_doorstep"))
        .args([
            "report",
            "free-hours",
            "--site",
            &reg.sites[0].id,
            "--format",
            "csv",
        ])
        .current_dir(demo.path())
        .output()
        .expect("report");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("using the registries the data was taken with"),
        "{err}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("outside_opening"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
