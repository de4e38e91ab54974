//! `/metrics` of the running binary passes `promtool check metrics` (Debian's
//! `prometheus` package) and carries the pipeline's counters.

use crate::common::*;
use crate::webapp;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

fn have(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn metrics_pass_promtool() {
    if !have("promtool") {
        assert!(
            std::env::var_os("CI").is_none(),
            "promtool is missing on CI: apt-get install prometheus"
        );
        eprintln!(
            "\n*** SKIPPED metrics_pass_promtool: promtool is not installed (apt-get install prometheus) ***\n"
        );
        return;
    }
    let app = webapp::start(false);
    app.count("sh-a", "sh-a-hall", 1, 4);
    // A message that is rejected (unknown device) shows under its reason.
    mosquitto_pub(
        app.mqtt,
        "doorstep/v1/sh-a/nobody",
        &format!(
            r#"{{"type":"count","ts":{},"seq":1,"count":1}}"#,
            app.now_ms()
        ),
    );
    let body = wait_for(Duration::from_secs(30), "counters", || {
        let (s, body) = http_get(app.web, "/metrics")?;
        (s == 200
            && body.contains("doorstep_ingest_accepted_total 1")
            && body.contains("doorstep_ingest_received_total 2"))
        .then_some(body)
    });
    for name in [
        "doorstep_ingest_rejected_total{reason=\"unknown_device\"} 1",
        "doorstep_stream_watermark_seconds ",
        "doorstep_stream_lag_seconds ",
        "doorstep_stream_duplicates_total ",
        "doorstep_ingest_backpressure_total 0",
        "doorstep_ready 1",
    ] {
        assert!(body.contains(name), "{name} in\n{body}");
    }
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("promtool output");
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}{}\n{body}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
