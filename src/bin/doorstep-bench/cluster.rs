//! Two processes against one: the national load through Mosquitto (a cluster
//! needs an external broker with shared subscriptions) into one `doorstep run`
//! with 2 workers, then into a two-process timely cluster with 1 worker each,
//! on the same machine. Latency is timed on process 0's live push, which in the
//! cluster also carries the rooms process 1 owns (exchanged over TCP).

use crate::national::{self, free_port};
use std::path::Path;

/// One setup's figures.
struct Figures {
    name: &'static str,
    probes: usize,
    p50: f64,
    p99: f64,
    peak_mb: u64,
    cpu_s: f64,
}

pub fn run(seconds: u64, rate: usize) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("doorstep-bench-cluster-{}", std::process::id()));
    national::prepare(&dir)?;
    let one = single(&dir.join("one"), seconds, rate)?;
    let two = pair(&dir.join("two"), seconds, rate)?;
    let _ = std::fs::remove_dir_all(&dir);

    println!("## Two processes\n");
    println!(
        "The national registry and load ({rate} messages a second for {seconds} s, probes as in National load) through \
         Mosquitto, into one `doorstep run` with 2 dataflow workers, then into a timely cluster of two `doorstep run` \
         processes with 1 worker each (`[cluster]`, shared subscription `$share/doorstep/doorstep/v1/#`), on this one \
         machine. Latency on process 0's `/api/live/events`; memory and CPU time summed over the processes. Measured \
         by `doorstep-bench cluster --seconds {seconds} --rate {rate}`.\n"
    );
    println!("| setup | probes seen | latency p50 | latency p99 | peak RSS | CPU time |");
    println!("|---|---:|---:|---:|---:|---:|");
    for f in [one, two] {
        println!(
            "| {} | {} | {:.1} ms | {:.1} ms | {} MB | {:.0} s |",
            f.name, f.probes, f.p50, f.p99, f.peak_mb, f.cpu_s
        );
    }
    println!();
    Ok(())
}

fn config(dir: &Path, name: &str, broker: u16, web: u16, extra: &str) -> anyhow::Result<()> {
    std::fs::write(
        dir.join(name),
        format!(
            "registry = \"../registry.json\"\ndata_dir = \"data\"\n[mqtt]\n\
             broker = \"mqtt://127.0.0.1:{broker}\"\nclient_id = \"bench\"\n\
             [web]\nlisten = \"127.0.0.1:{web}\"\n{extra}"
        ),
    )?;
    Ok(())
}

fn single(dir: &Path, seconds: u64, rate: usize) -> anyhow::Result<Figures> {
    std::fs::create_dir_all(dir)?;
    let broker = crate::broker::mosquitto(dir)?;
    let web = free_port()?;
    config(dir, "one.toml", broker.1, web, "[stream]\nworkers = 2\n")?;
    let child = national::spawn(&dir.join("one.toml"), &dir.join("one.log"), &[])?;
    national::wait_web(web)?;
    let pids = [child.id()];
    let load = national::load(broker.1, web, &pids, seconds, rate)?;
    let (peak_mb, cpu_s) = usage(&pids);
    national::stop(&mut [child]);
    Ok(Figures {
        name: "1 process x 2 workers",
        probes: load.latencies.len(),
        p50: load.percentile(0.5),
        p99: load.percentile(0.99),
        peak_mb,
        cpu_s,
    })
}

fn pair(dir: &Path, seconds: u64, rate: usize) -> anyhow::Result<Figures> {
    std::fs::create_dir_all(dir)?;
    let broker = crate::broker::mosquitto(dir)?;
    std::fs::write(
        dir.join("hosts"),
        format!("127.0.0.1:{}\n127.0.0.1:{}\n", free_port()?, free_port()?),
    )?;
    let webs = [free_port()?, free_port()?];
    let mut children = Vec::new();
    for (p, web) in webs.iter().enumerate() {
        let name = format!("p{p}.toml");
        let extra =
            format!("[stream]\nworkers = 1\n[cluster]\nprocess = {p}\nhosts_file = \"hosts\"\n");
        config(dir, &name, broker.1, *web, &extra)?;
        children.push(national::spawn(
            &dir.join(&name),
            &dir.join(format!("p{p}.log")),
            &[],
        )?);
    }
    for web in webs {
        national::wait_web(web)?;
    }
    let pids: Vec<u32> = children.iter().map(std::process::Child::id).collect();
    let load = national::load(broker.1, webs[0], &pids, seconds, rate)?;
    let (peak_mb, cpu_s) = usage(&pids);
    national::stop(&mut children);
    Ok(Figures {
        name: "2 processes x 1 worker",
        probes: load.latencies.len(),
        p50: load.percentile(0.5),
        p99: load.percentile(0.99),
        peak_mb,
        cpu_s,
    })
}

/// Peak RSS (MB) and CPU time (user + system, s), summed over the processes.
fn usage(pids: &[u32]) -> (u64, f64) {
    let tick = 100.0; // USER_HZ on Linux
    let mut peak_kib = 0;
    let mut cpu = 0.0;
    for pid in pids {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        peak_kib += status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .unwrap_or(0);
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // After the command name (in parentheses) come state (field 3) ... utime (14), stime (15).
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        let field = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
        cpu += (field(11) + field(12)) / tick;
    }
    (peak_kib / 1024, cpu)
}
