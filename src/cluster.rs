//! `[cluster]`: doorstep as one process of a timely cluster (docs/DEPLOY.md).
//!
//! Every process runs the same binary with the same registry and `data_dir`
//! (a shared folder), its own `process` index, and the same hosts file (timely's:
//! `host:port` of each process, one a line, in process order). Each subscribes
//! to `$share/<group>/doorstep/v1/#`, so the broker spreads the messages over
//! the processes; timely exchanges each reading to the worker that owns its
//! room, and every live change to process 0, which serves the live view.

use anyhow::Context;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// `[cluster]` as written in the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSection {
    /// Index of this process, from 0 (`--process` overrides it). Process 0 serves
    /// the live view of the whole cluster and runs compaction and retention.
    #[serde(default)]
    pub process: usize,
    /// timely's hosts file, relative to the config file: where each process listens
    /// for the others, `host:port` one a line, in process order.
    pub hosts_file: PathBuf,
    /// The shared-subscription group (`$share/<group>/doorstep/v1/#`).
    #[serde(default = "default_group")]
    pub share_group: String,
}

fn default_group() -> String {
    "doorstep".into()
}

/// A cluster process, as the pipeline uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSpec {
    /// Index of this process.
    pub process: usize,
    /// `host:port` of every process.
    pub addresses: Vec<String>,
    /// The shared-subscription group.
    pub share_group: String,
}

impl ClusterSection {
    /// Makes the hosts file relative to `base` (the config file's folder).
    pub fn rebase(&mut self, base: &Path) {
        self.hosts_file = base.join(&self.hosts_file);
    }

    /// Reads the hosts file; `process` overrides the configured index.
    pub fn spec(&self, process: Option<usize>) -> anyhow::Result<ClusterSpec> {
        let text = std::fs::read_to_string(&self.hosts_file).with_context(|| {
            format!(
                "cannot read the cluster's hosts file {}",
                self.hosts_file.display()
            )
        })?;
        let addresses = parse_hosts(&text)
            .with_context(|| format!("hosts file {}", self.hosts_file.display()))?;
        let process = process.unwrap_or(self.process);
        anyhow::ensure!(
            process < addresses.len(),
            "process {process} is not in the hosts file {} ({} processes, numbered from 0)",
            self.hosts_file.display(),
            addresses.len()
        );
        anyhow::ensure!(
            !self.share_group.is_empty()
                && !self.share_group.contains(['/', '+', '#', ' '].as_slice()),
            "[cluster] share_group must be a plain name (no / + # or spaces)"
        );
        Ok(ClusterSpec {
            process,
            addresses,
            share_group: self.share_group.clone(),
        })
    }
}

impl ClusterSpec {
    /// How many processes.
    pub fn processes(&self) -> usize {
        self.addresses.len()
    }

    /// The subscription that shares the devices' topics among the processes.
    pub fn topic_filter(&self) -> String {
        format!("$share/{}/{}", self.share_group, ingest::TOPIC_FILTER)
    }

    /// What the stream needs.
    pub fn stream(&self) -> stream::Cluster {
        stream::Cluster {
            process: self.process,
            addresses: self.addresses.clone(),
        }
    }
}

/// `host:port` lines; blank lines and `#` comments are skipped.
fn parse_hosts(text: &str) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let ok = line
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        anyhow::ensure!(ok, "line {}: {line:?} is not host:port", n + 1);
        out.push(line.to_owned());
    }
    anyhow::ensure!(!out.is_empty(), "no host:port lines");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_file_lines_comments_and_errors() {
        let hosts = parse_hosts("# the cluster\n10.0.0.1:2101\n\n10.0.0.2:2101  # second\n")
            .expect("hosts");
        assert_eq!(hosts, ["10.0.0.1:2101", "10.0.0.2:2101"]);
        let e = parse_hosts("10.0.0.1\n").expect_err("no port").to_string();
        assert!(e.contains("line 1"), "{e}");
        assert!(parse_hosts("# nothing\n").is_err());
    }

    #[test]
    fn a_process_outside_the_hosts_file_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("hosts"), "127.0.0.1:1\n127.0.0.1:2\n").expect("write");
        let section = ClusterSection {
            process: 0,
            hosts_file: dir.path().join("hosts"),
            share_group: "doorstep".into(),
        };
        let spec = section.spec(Some(1)).expect("spec");
        assert_eq!(spec.processes(), 2);
        assert_eq!(spec.topic_filter(), "$share/doorstep/doorstep/v1/#");
        let e = section.spec(Some(2)).expect_err("out").to_string();
        assert!(e.contains("process 2"), "{e}");
    }
}
