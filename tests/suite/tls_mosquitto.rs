//! TLS towards an external broker: doorstep connects to Mosquitto over
//! `mqtts://` trusting a given CA, and refuses a broker whose certificate does
//! not chain to it.

use crate::common::*;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const REGISTRY: &str = r#"
[[site]]
id = "t1"
name = "加密社区"
[[site.room]]
id = "hall"
name = "活动厅"
capacity = 10
area_m2 = 60
[[site.device]]
id = "c1"
room = "hall"
kind = "count"
"#;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA named `name` in `dir`: `name.key`, `name.pem`.
fn ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-subj",
            &format!("/CN=doorstep test {name}"),
        ],
    );
}

#[test]
fn doorstep_speaks_tls_to_a_broker_it_trusts_and_only_to_one() {
    require("mosquitto");
    require("openssl");
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    ca(d, "ca");
    ca(d, "other-ca");
    openssl(
        d,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(d.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").expect("ext");
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
    let port = free_port();
    std::fs::write(
        d.join("mosquitto.conf"),
        format!(
            "listener {port} 127.0.0.1\ncafile {0}/ca.pem\ncertfile {0}/server.pem\nkeyfile {0}/server.key\n\
             allow_anonymous true\npersistence false\n{1}",
            d.display(),
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
    let web: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let config = d.join("doorstep.toml");
    let write_config = |ca: &str| {
        std::fs::write(
            &config,
            format!(
                "registry = \"registry.toml\"\ndata_dir = \"data\"\n[mqtt]\nbroker = \"mqtts://127.0.0.1:{port}\"\n\
                 ca_file = \"{ca}\"\n[web]\nlisten = \"{web}\"\n[store]\nflush_s = 1\n\
                 [clock]\nstart = \"2026-11-23T12:30:00+08:00\"\n"
            ),
        )
        .expect("config");
    };

    // A broker whose certificate does not chain to the trusted CA: refused, in one line.
    write_config("other-ca.pem");
    let out = Command::new(env!("CARGO_BIN_EXE_doorstep"))
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{err}"
    );
    assert!(
        err.contains("mqtts://127.0.0.1") && err.to_lowercase().contains("certificate"),
        "{err}"
    );

    write_config("ca.pem");
    let doorstep = Proc::spawn(
        "doorstep",
        Command::new(env!("CARGO_BIN_EXE_doorstep"))
            .args(["run", "--config"])
            .arg(&config),
    );
    wait_for(Duration::from_secs(30), "doorstep", || {
        http_get(web, "/healthz").filter(|(s, _)| *s == 200)
    });
    let status = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "--cafile"])
        .arg(d.join("ca.pem"))
        .args([
            "-q",
            "1",
            "-t",
            "doorstep/v1/t1/c1",
            "-m",
            r#"{"type":"count","count":4,"ts":"2026-11-23T12:20:00+08:00"}"#,
        ])
        .status()
        .expect("mosquitto_pub");
    assert!(status.success());
    let data = d.join("data");
    wait_for(Duration::from_secs(30), "the reading over TLS", || {
        (rows(&data, "raw_events").len() == 1).then_some(())
    });
    let (status, _out, err) = doorstep.terminate();
    assert!(status.success(), "{err}");
    assert_eq!(rows(&data, "raw_events")[0]["count"], 4);
}
