//! `doorstep run` takes a changed registry without a restart of the process.
//!
//! It looks at the config's registry file every second (and at once on
//! SIGHUP). A changed file is checked as `registry check` would; refused, the
//! running registry stays and the reason is logged in one line. Accepted, it
//! is merged into the registry of all time from its effective time (the one
//! `doorstep registry apply --effective` recorded for it in the history, else
//! now) and the pipeline switches to it in place ([`crate::in_place::InPlace`]): the stages
//! after the intake take it first, then the stream's workers (each before its
//! next reading), then the validator; messages keep flowing throughout.
//!
//! Should that fail, the pipeline restarts inside the process under the new
//! registry: messages wait at the embedded broker's door (an external broker
//! keeps them in the session), the pipeline writes what it holds and stops,
//! and starts again from its checkpoint, the broker and its connections
//! staying up.

use crate::pipeline::{self, Running, Spec};
use devices::Registry;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The registry file as last seen.
pub struct Watch {
    path: PathBuf,
    data_dir: PathBuf,
    /// Process 0 (or alone): records a change made by hand in the history.
    records: bool,
    /// The file's text when last looked at.
    seen: String,
    /// The text of the registry running.
    running: String,
    /// The file's modification time and length when last read.
    stamp: Option<(std::time::SystemTime, u64)>,
}

/// When a file was last changed, and its length.
fn stamp(path: &Path) -> Option<(std::time::SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// A registry to switch to.
#[derive(Debug)]
pub struct Change {
    /// The registry of all time with the change merged in.
    pub registry: Registry,
    /// The version of the history it is.
    pub version: Option<u32>,
    /// From when it holds, Unix ms.
    pub effective_ms: i64,
}

impl Watch {
    /// Watches `path`, whose text the pipeline was started with.
    pub fn new(path: &Path, data_dir: &Path, records: bool, text: String) -> Watch {
        Watch {
            path: path.to_owned(),
            data_dir: data_dir.to_owned(),
            records,
            seen: text.clone(),
            running: text,
            // Read at the first look: the file may have changed since `text` was read.
            stamp: None,
        }
    }

    /// As [`Watch::poll`], reading the file only when its time or length
    /// changed since it was last read, or when `force`d (SIGHUP).
    pub fn poll_if_changed(
        &mut self,
        all: &Registry,
        now_ms: i64,
        force: bool,
    ) -> Result<Option<Change>, String> {
        let now = stamp(&self.path);
        if !force && now.is_some() && now == self.stamp {
            return Ok(None);
        }
        self.stamp = now;
        self.poll(all, now_ms)
    }

    /// A change of the file, checked and merged into `all`; `Ok(None)` when the
    /// file is as it was; `Err` (one line) when the change is refused, and it
    /// is not looked at again until the file changes once more.
    pub fn poll(&mut self, all: &Registry, now_ms: i64) -> Result<Option<Change>, String> {
        let Ok(text) = std::fs::read_to_string(&self.path) else {
            // Being replaced, or gone for a moment: the running registry stays.
            return Ok(None);
        };
        if text == self.seen {
            return Ok(None);
        }
        self.seen.clone_from(&text);
        // Back to the registry running (a refused change undone): nothing to do.
        if text == self.running {
            tracing::info!("the registry file is back to the registry running");
            return Ok(None);
        }
        let next = Registry::parse(&text, &self.path).map_err(|e| e.to_string())?;
        let version = crate::registry_history::version_of(&self.data_dir, &text)
            .map_err(|e| format!("{e:#}"))?;
        let (version, effective_ms) = match version {
            Some(v) => {
                let at = crate::registry_history::effective_ms(&v).map_err(|e| format!("{e:#}"))?;
                (Some(v.version), at)
            }
            None if self.records => {
                let v = crate::registry_history::record(
                    &self.data_dir,
                    &text,
                    &next,
                    now_ms,
                    now_ms,
                    "doorstep run (file changed)",
                )
                .map_err(|e| format!("{e:#}"))?;
                (v.map(|v| v.version), now_ms)
            }
            None => (None, now_ms),
        };
        let effective_ms = effective_ms.max(all.since_ms);
        let registry =
            devices::timeline::merge(all, &next, effective_ms).map_err(|e| e.to_string())?;
        self.running = text;
        Ok(Some(Change {
            registry,
            version,
            effective_ms,
        }))
    }
}

/// What a switch took.
#[derive(Debug, Clone, Copy)]
pub struct Switched {
    /// Messages held at the door: from holding it to the new pipeline taking
    /// messages (zero when switched in place).
    pub held: Duration,
    /// Switched in place: from the switch to every stream worker having taken it.
    pub in_place: Option<Duration>,
}

/// Stops `running` and starts the pipeline of `spec` under `registry`, the
/// broker staying up. When the new one does not start, the old registry is
/// started again; the error is returned only when that fails too. A change
/// dated before now (`effective_ms`) has the windows of the rooms whose
/// schedule or capacity it changes computed again from its time, as far back
/// as the stream's corrections reach (`[stream] correction_days`).
pub async fn switch(
    running: Running,
    spec: &mut Spec,
    registry: Arc<Registry>,
    effective_ms: i64,
) -> anyhow::Result<(Running, Result<Switched, anyhow::Error>)> {
    let now_ms = spec.clock.now_ms();
    let recompute = if effective_ms < now_ms {
        devices::current::changed_eras(&spec.registry, &registry, effective_ms)
    } else {
        Vec::new()
    };
    if !recompute.is_empty() {
        tracing::info!(
            rooms = recompute.len(),
            from = %devices::timeline::rfc3339(effective_ms),
            "the change holds from the past: those rooms' windows are computed again from then"
        );
    }
    let old = Arc::clone(&spec.registry);
    let in_place = running
        .in_place
        .apply(old, Arc::clone(&registry), recompute.clone(), effective_ms)
        .await;
    match in_place {
        Ok(taken) => {
            spec.registry = registry;
            let s = Switched {
                held: Duration::ZERO,
                in_place: Some(taken),
            };
            return Ok((running, Ok(s)));
        }
        // A process of a cluster cannot restart its dataflow alone. Its stages
        // run on the new registry already; its workers take it when they can.
        Err(e) if spec.cluster.is_some() => {
            spec.registry = registry;
            return Ok((
                running,
                Err(e.context("the stream's workers did not take the new registry in time (the other stages did); if the log does not say they did, restart the cluster's processes")),
            ));
        }
        Err(e) => tracing::warn!(
            "the registry could not be switched in place ({e:#}); the pipeline restarts under it"
        ),
    }
    spec.stream.recompute = recompute;
    // Once the state is rebuilt: the frontier near the clock again.
    spec.stream.recompute_after = now_ms / 1000 - i64::from(spec.stream.allowed_lateness_s) - 300;
    let began = Instant::now();
    if let Some(door) = running.door() {
        door.hold();
    }
    let broker = running.handover();
    let web = running.web_addr;
    running.stop().await?;
    spec.broker = broker;
    spec.web = web;
    let old = std::mem::replace(&mut spec.registry, registry);
    spec.switching = true;
    let started = pipeline::start(spec.clone()).await;
    spec.stream.recompute.clear();
    match started {
        Ok(r) => Ok((
            r,
            Ok(Switched {
                held: began.elapsed(),
                in_place: None,
            }),
        )),
        Err(e) => {
            spec.registry = old;
            let r = pipeline::start(spec.clone()).await?;
            Ok((
                r,
                Err(e.context(
                    "the pipeline did not start under the new registry; it runs on the one before",
                )),
            ))
        }
    }
}

/// Runs until Ctrl-C or SIGTERM (or a stage stops), switching to the registry file's new version when it
/// changes (looked at every second, or at once on SIGHUP); in a cluster,
/// every process switches on its own, from the effective time the history
/// records.
pub async fn run(
    mut running: Running,
    spec: &mut Spec,
    mut all: Arc<Registry>,
    mut watch: Watch,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<Running> {
    let mut status = tokio::time::interval(Duration::from_secs(10));
    status.tick().await;
    let mut check = tokio::time::interval(Duration::from_secs(1));
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    tokio::pin!(stop);
    loop {
        #[cfg(unix)]
        let hangup = async {
            match hup.as_mut() {
                Some(h) => {
                    h.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let hangup = std::future::pending::<()>();
        let force = tokio::select! {
            _ = &mut stop => return Ok(running),
            _ = status.tick() => {
                tracing::info!("{}", running.status());
                continue;
            }
            _ = check.tick() => if running.failed() {
                tracing::error!("a stage of the pipeline stopped; shutting down");
                return Ok(running);
            } else {
                false
            },
            _ = hangup => {
                tracing::info!("SIGHUP: reading the registry file again");
                true
            }
        };
        // Reading, checking and merging a national registry takes seconds: off
        // the runtime that carries the messages.
        let (back, polled) = {
            let (all, now_ms) = (Arc::clone(&all), spec.clock.now_ms());
            tokio::task::spawn_blocking(move || {
                let polled = watch.poll_if_changed(&all, now_ms, force);
                (watch, polled)
            })
            .await?
        };
        watch = back;
        let change = match polled {
            Ok(Some(change)) => change,
            Ok(None) => continue,
            Err(why) => {
                tracing::error!("registry change refused, the running registry stays: {why}");
                continue;
            }
        };
        let next = Arc::new(change.registry);
        let (r, outcome) = switch(running, spec, next, change.effective_ms).await?;
        running = r;
        // What the stages run on now (the one before when nothing switched).
        all = Arc::clone(&spec.registry);
        match outcome {
            Ok(s) => match s.in_place {
                Some(taken) => tracing::info!(
                    version = change.version,
                    effective_from = %devices::timeline::rfc3339(change.effective_ms),
                    taken_ms = taken.as_millis() as u64,
                    "registry switched in place; messages kept flowing"
                ),
                None => tracing::info!(
                    version = change.version,
                    effective_from = %devices::timeline::rfc3339(change.effective_ms),
                    held_ms = s.held.as_millis() as u64,
                    "registry switched; messages were held at the door meanwhile"
                ),
            },
            Err(e) => {
                tracing::error!("the registry was not switched, running on the one before: {e:#}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = "[[site]]\nid = \"s1\"\nname = \"一\"\n\
        [[site.room]]\nid = \"hall\"\nname = \"厅\"\ncapacity = 10\narea_m2 = 40\n\
        [[site.room]]\nid = \"gym\"\nname = \"健身房\"\ncapacity = 10\narea_m2 = 40\n\
        [[site.device]]\nid = \"c1\"\nroom = \"hall\"\nkind = \"count\"\n";

    #[test]
    fn a_change_made_while_doorstep_was_starting_is_seen_at_the_first_look() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("registry.toml");
        let data = dir.path().join("data");
        let all = Registry::from_toml(ONE, &path).expect("registry");
        // doorstep read ONE; the file changed before the watch began.
        let moved = ONE.replace("room = \"hall\"\nkind", "room = \"gym\"\nkind");
        std::fs::write(&path, &moved).expect("write");
        let mut watch = Watch::new(&path, &data, true, ONE.to_owned());
        let change = watch
            .poll_if_changed(&all, 1_000, false)
            .expect("valid")
            .expect("a change");
        let c1 = change.registry.device_by_id("c1").expect("c1");
        assert_eq!(change.registry.room_at(c1, 999).map(|r| r.0), Some(0));
        assert_eq!(change.registry.room_at(c1, 1_000).map(|r| r.0), Some(1));
        assert_eq!(change.version, Some(1), "recorded in the history");
        // Nothing new: nothing to do; a bad file: one line, then the same file again: quiet.
        assert!(
            watch
                .poll_if_changed(&all, 2_000, false)
                .expect("same")
                .is_none()
        );
        std::fs::write(&path, moved.replace("room = \"gym\"", "room = \"attic\"")).expect("bad");
        let why = watch
            .poll_if_changed(&all, 3_000, true)
            .expect_err("refused");
        assert!(why.contains("attic") && !why.contains('\n'), "{why}");
        assert!(
            watch
                .poll_if_changed(&all, 4_000, true)
                .expect("seen")
                .is_none()
        );
    }
}
