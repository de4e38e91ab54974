//! Authentication with the embedded broker, from the same password and ACL
//! files as Mosquitto (docs/SECURITY.md): a device that publishes under
//! another device's topic, or with a wrong password, is refused by doorstep's
//! auth gate and never reaches the numbers; the password file stays private.

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

/// The ACL of docs/SECURITY.md, unchanged: doorstep reads everything, a device writes only under its own id.
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

fn publish(
    port: u16,
    version: &str,
    user: &str,
    password: &str,
    topic: &str,
    payload: &str,
) -> Output {
    Command::new("mosquitto_pub")
        .args([
            "-V",
            version,
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
    require("mosquitto_passwd");
    require("mosquitto_pub");
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pw = d.join("passwd");
    std::fs::write(&pw, "").expect("passwd");
    passwd(&pw, "doorstep", "reader-secret");
    passwd(&pw, "c1", "c1-secret");
    passwd(&pw, "c2", "c2-secret");
    std::fs::write(d.join("acl"), ACL).expect("acl");
    std::fs::write(d.join("registry.toml"), REGISTRY).expect("registry");

    let port = free_port();
    let port_v5 = free_port();
    let web: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let config = d.join("doorstep.toml");
    let write_config = |files: &str| {
        std::fs::write(
            &config,
            format!(
                "registry = \"registry.toml\"\ndata_dir = \"data\"\n[mqtt]\nbroker = \"embedded\"\n\
                 listen = \"127.0.0.1:{port}\"\nlisten_v5 = \"127.0.0.1:{port_v5}\"\n{files}\n\
                 [web]\nlisten = \"{web}\"\n[store]\nflush_s = 1\n\
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

    // One file without the other: refused, with what to do.
    write_config("passwd_file = \"passwd\"");
    let out = run();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("set both or neither"),
        "{err}"
    );
    // A password file readable by others: refused, with what to do.
    write_config("passwd_file = \"passwd\"\nacl_file = \"acl\"");
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = run();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("chmod 600"), "{err}");
    private(&pw);

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
    let own = publish(
        port,
        "mqttv311",
        "c1",
        "c1-secret",
        "doorstep/v1/s1/c1",
        &msg(3, 20),
    );
    assert!(own.status.success(), "{own:?}");
    // c1 speaking for c2: the gate closes the connection before anything is acknowledged.
    let forged = publish(
        port,
        "mqttv311",
        "c1",
        "c1-secret",
        "doorstep/v1/s1/c2",
        &msg(9, 21),
    );
    assert!(
        !forged.status.success(),
        "another device's topic is refused"
    );
    // The same over MQTT 5, where the client is told why (not authorized).
    let forged = publish(
        port_v5,
        "mqttv5",
        "c1",
        "c1-secret",
        "doorstep/v1/s1/c2",
        &msg(9, 22),
    );
    assert!(
        !forged.status.success(),
        "another device's topic is refused"
    );
    // c2 with a wrong password: refused at connect.
    let refused = publish(
        port,
        "mqttv311",
        "c2",
        "not-c2",
        "doorstep/v1/s1/c2",
        &msg(9, 23),
    );
    assert!(!refused.status.success(), "a wrong password is refused");
    let refused = publish(
        port_v5,
        "mqttv5",
        "c2",
        "not-c2",
        "doorstep/v1/s1/c2",
        &msg(9, 24),
    );
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
            &msg(9, 25),
        ])
        .output()
        .expect("mosquitto_pub");
    assert!(
        !anonymous.status.success(),
        "anonymous publishers are refused"
    );
    // c2 on its own topic, over MQTT 5: accepted; it is also the marker that everything before was handled.
    let own = publish(
        port_v5,
        "mqttv5",
        "c2",
        "c2-secret",
        "doorstep/v1/s1/c2",
        &msg(1, 26),
    );
    assert!(own.status.success(), "{own:?}");

    let data = d.join("data");
    wait_for(Duration::from_secs(30), "the two genuine readings", || {
        (rows(&data, "raw_events").len() >= 2).then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    let (status, _out, err) = doorstep.terminate();
    assert!(status.success(), "{err}");
    // Anything the gate had let through would be here by now.
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
    // Each refusal is one warning naming the user and client, never a password.
    assert!(
        err.contains("MQTT publish refused") && err.contains("\"c1\""),
        "{err}"
    );
    assert!(err.contains("wrong username or password"), "{err}");
    assert!(err.contains("no username"), "{err}");
    for secret in ["c1-secret", "c2-secret", "not-c2", "reader-secret"] {
        assert!(!err.contains(secret), "a password reached the log: {err}");
    }
}
