//! Authentication with Mosquitto, as docs/SECURITY.md sets it up: a password
//! file and a per-device topic ACL. A device that publishes under another
//! device's topic, or with a wrong password, is refused by the broker and
//! never reaches the numbers; secrets stay private.

use crate::common::*;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

const REGISTRY: &str = r#"
[[site]]
id = "s1"
name = "安全社区"
[[site.room]]
id = "hall"
name = "活动厅"
capacity = 10
area_m2 = 60
[[site.room]]
id = "gym"
name = "健身房"
capacity = 10
area_m2 = 60
[[site.device]]
id = "c1"
room = "hall"
kind = "count"
[[site.device]]
id = "c2"
room = "gym"
kind = "count"
"#;

/// The ACL of docs/SECURITY.md: doorstep reads everything, a device writes only under its own id.
const ACL: &str = "user doorstep\ntopic read doorstep/v1/#\n\npattern write doorstep/v1/+/%u\n";

fn passwd(file: &Path, user: &str, password: &str) {
    let status = Command::new("mosquitto_passwd")
        .arg("-b")
        .arg(file)
        .args([user, password])
        .status()
        .expect("mosquitto_passwd");
    assert!(status.success());
}

fn publish(port: u16, user: &str, password: &str, topic: &str, payload: &str) -> Output {
    Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-q",
            "1",
            "-i",
            user,
        ])
        .args(["-u", user, "-P", password, "-t", topic, "-m", payload])
        .output()
        .expect("mosquitto_pub")
}

fn private(path: &Path) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

#[test]
fn devices_write_only_their_own_topic_and_need_their_password() {
    require("mosquitto");
    require("mosquitto_passwd");
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pw = d.join("passwd");
    std::fs::write(&pw, "").expect("passwd");
    passwd(&pw, "doorstep", "reader-secret");
    passwd(&pw, "c1", "c1-secret");
    passwd(&pw, "c2", "c2-secret");
    std::fs::write(d.join("acl"), ACL).expect("acl");
    private(&pw);
    let port = free_port();
    std::fs::write(
        d.join("mosquitto.conf"),
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {}\nacl_file {}\npersistence false\n{}",
            pw.display(),
            d.join("acl").display(),
            // Started as root, Mosquitto drops to its own user, which cannot read our 0600 files.
            if running_as_root() { "user root\n" } else { "" }
        ),
    )
    .expect("conf");
    let _broker = Proc::spawn(
        "mosquitto",
        Command::new("mosquitto")
            .arg("-c")
            .arg(d.join("mosquitto.conf")),
    );
    wait_for(Duration::from_secs(10), "mosquitto", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });

    std::fs::write(d.join("registry.toml"), REGISTRY).expect("registry");
    std::fs::write(d.join("mqtt.pass"), "reader-secret\n").expect("password file");
    let web: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let config = d.join("doorstep.toml");
    let write_config = |password: &str| {
        std::fs::write(
            &config,
            format!(
                "registry = \"registry.toml\"\ndata_dir = \"data\"\n[mqtt]\nbroker = \"mqtt://127.0.0.1:{port}\"\n\
                 username = \"doorstep\"\n{password}\n[web]\nlisten = \"{web}\"\n[store]\nflush_s = 1\n\
                 [clock]\nstart = \"2026-11-23T12:30:00+08:00\"\n"
            ),
        )
        .expect("config");
    };
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_doorstep"))
            .args(["run", "--config"])
            .arg(&config)
            .output()
            .expect("run")
    };

    // Secrets readable by others are refused, with what to do.
    write_config("password_file = \"mqtt.pass\"");
    std::fs::set_permissions(d.join("mqtt.pass"), std::fs::Permissions::from_mode(0o644))
        .expect("chmod");
    let out = run();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("chmod 600"), "{err}");
    private(&d.join("mqtt.pass"));
    write_config("password = \"reader-secret\"");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = run();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("chmod 600"), "{err}");
    // A wrong password for doorstep itself: one line saying so, and the secret never printed.
    write_config("password = \"wrong-secret\"");
    private(&config);
    let out = run();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("refused doorstep's credentials"),
        "{err}"
    );
    assert!(!err.contains("wrong-secret"), "{err}");

    write_config("password_file = \"mqtt.pass\"");
    let mut doorstep = Proc::spawn(
        "doorstep",
        Command::new(env!("CARGO_BIN_EXE_doorstep"))
            .args(["run", "--config"])
            .arg(&config),
    );
    doorstep.serving(web, "/healthz");

    let msg = |n: u32, min: u32| {
        format!(r#"{{"type":"count","count":{n},"ts":"2026-11-23T12:{min:02}:00+08:00"}}"#)
    };
    // c1 on its own topic: accepted.
    assert!(
        publish(port, "c1", "c1-secret", "doorstep/v1/s1/c1", &msg(3, 20))
            .status
            .success()
    );
    // c1 speaking for c2: the broker's ACL drops it.
    publish(port, "c1", "c1-secret", "doorstep/v1/s1/c2", &msg(9, 21));
    // c2 with a wrong password: refused at connect.
    let refused = publish(port, "c2", "not-c2", "doorstep/v1/s1/c2", &msg(9, 22));
    assert!(!refused.status.success(), "a wrong password is refused");
    // No credentials at all: refused.
    let anonymous = Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-q",
            "1",
            "-t",
            "doorstep/v1/s1/c2",
            "-m",
            &msg(9, 23),
        ])
        .status()
        .expect("mosquitto_pub");
    assert!(!anonymous.success(), "anonymous publishers are refused");
    // c2 on its own topic: accepted; it is also the marker that everything before was handled.
    assert!(
        publish(port, "c2", "c2-secret", "doorstep/v1/s1/c2", &msg(1, 24))
            .status
            .success()
    );

    let data = d.join("data");
    wait_for(Duration::from_secs(30), "the two genuine readings", || {
        (rows(&data, "raw_events").len() >= 2).then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    let (status, _out, err) = doorstep.terminate();
    assert!(status.success(), "{err}");
    assert!(
        !err.contains("reader-secret"),
        "the password never reaches the log"
    );
    // Anything the broker had let through would be here by now.
    let raw = rows(&data, "raw_events");
    let seen: Vec<(String, serde_json::Value)> = raw
        .iter()
        .map(|r| {
            (
                r["device_id"].as_str().unwrap_or_default().to_owned(),
                r["count"].clone(),
            )
        })
        .collect();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(
        seen.contains(&("c1".into(), 3.into())) && seen.contains(&("c2".into(), 1.into())),
        "{seen:?}"
    );
    assert!(
        rows(&data, "quarantine").is_empty(),
        "the refused messages never reached doorstep"
    );
}
