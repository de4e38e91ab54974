//! One worker per channel takes its jobs from the outbox in order and sends
//! them: retries with a doubling wait while the receiver fails, holds them
//! through quiet hours, and writes those it gives up on to the dead-letter file.

use super::config::{ChannelConfig, ChannelKind};
use super::outbox::{Job, Outbox};
use super::payload;
use dashboards::{Alerts, ChangeKind};
use devices::Clock;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// What every worker shares.
pub struct Delivery {
    /// The queue.
    pub outbox: Arc<Outbox>,
    /// The book, to drop a held alert that ended meanwhile.
    pub alerts: Arc<Alerts>,
    /// For the sites' time zones (of now).
    pub registry: devices::Current,
    /// The pipeline's clock (quiet hours are in its time).
    pub clock: Clock,
    /// First wait between tries.
    pub retry_first: Duration,
    /// Longest wait between tries.
    pub retry_max: Duration,
    /// Give up after this long.
    pub give_up: Duration,
    /// `<data>/alerts/dead-letter.jsonl`.
    pub dead_letter: PathBuf,
    /// The broker for MQTT channels without a url, and the session to use there.
    pub broker: (ingest::BrokerUrl, ingest::Session),
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Starts one worker per channel; they end when `stop` turns true.
pub fn spawn(
    channels: &[ChannelConfig],
    delivery: &Arc<Delivery>,
    stop: &watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    channels
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let worker = Worker {
                name: c.name(i),
                config: c.clone(),
                d: Arc::clone(delivery),
                http: reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .unwrap_or_default(),
                mqtt: None,
            };
            tokio::spawn(worker.run(stop.clone()))
        })
        .collect()
}

struct Worker {
    name: String,
    config: ChannelConfig,
    d: Arc<Delivery>,
    http: reqwest::Client,
    mqtt: Option<ingest::Publisher>,
}

impl Worker {
    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                break;
            }
            let wait = match self.d.outbox.first(&self.name) {
                None => Duration::from_secs(1),
                Some(job) => match self.step(job).await {
                    Some(wait) => wait,
                    None => continue,
                },
            };
            tokio::select! {
                _ = stop.changed() => {}
                _ = self.d.outbox.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
        if let Some(p) = self.mqtt.take() {
            p.close().await;
        }
    }

    /// Tries `job` if it is due; `Some(wait)` when it is not (or failed).
    async fn step(&mut self, job: Job) -> Option<Duration> {
        let d = Arc::clone(&self.d);
        if let Some(hold) = job.hold_until_ms {
            let now = d.clock.now_ms();
            if now < hold {
                let real = (hold - now) as f64 / d.clock.speed();
                return Some(Duration::from_millis(real.clamp(1.0, 1000.0) as u64));
            }
            if job.event == ChangeKind::Opened && !d.alerts.is_active(job.alert.id) {
                tracing::info!(channel = %self.name, id = job.alert.id, "alert ended during quiet hours; not sent");
                d.outbox.settle(&job, None);
                return None;
            }
        }
        let now = wall_ms();
        if now < job.next_try_ms {
            return Some(Duration::from_millis(
                (job.next_try_ms - now).clamp(1, 1000) as u64,
            ));
        }
        match self.send(&job).await {
            Ok(()) => {
                tracing::info!(channel = %self.name, id = job.alert.id, kind = job.alert.kind.as_str(), event = job.event.as_str(), "alert delivered");
                d.outbox.settle(&job, None);
                None
            }
            Err(error) => {
                let now = wall_ms();
                let attempts = job.attempts + 1;
                let give_up = self
                    .config
                    .give_up_after_s
                    .map_or(d.give_up, Duration::from_secs);
                if now - job.queued_ms >= give_up.as_millis() as i64 {
                    tracing::error!(channel = %self.name, id = job.alert.id, attempts, %error, "alert not delivered; written to the dead-letter file");
                    self.dead(&job, &error);
                    d.outbox.settle(&job, None);
                    return None;
                }
                let wait = d
                    .retry_first
                    .saturating_mul(1 << (attempts - 1).min(20))
                    .min(d.retry_max);
                tracing::warn!(channel = %self.name, id = job.alert.id, attempts, %error, retry_in_s = wait.as_secs_f64(), "alert delivery failed; will retry");
                let next = Job {
                    attempts,
                    next_try_ms: now + wait.as_millis() as i64,
                    last_error: Some(error),
                    ..job.clone()
                };
                d.outbox.settle(&job, Some(next));
                Some(wait.min(Duration::from_secs(1)))
            }
        }
    }

    fn dead(&self, job: &Job, error: &str) {
        let line = serde_json::json!({
            "channel": self.name,
            "dead_at_ms": wall_ms(),
            "error": error,
            "job": job,
        });
        let path = &self.d.dead_letter;
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| {
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?;
                writeln!(f, "{line}")?;
                f.sync_data()
            });
        if let Err(e) = written {
            tracing::error!(file = %path.display(), error = %e, "cannot write the dead-letter file; the alert is only in the log: {line}");
        }
    }

    async fn send(&mut self, job: &Job) -> Result<(), String> {
        let tz = self
            .d
            .registry
            .get()
            .sites
            .iter()
            .find(|s| s.id == job.alert.site_id)
            .map_or(chrono_tz::Asia::Shanghai, |s| s.timezone);
        let url = self.config.url.clone().unwrap_or_default();
        match self.config.kind {
            ChannelKind::Webhook => {
                let body = serde_json::to_vec(&payload::document(job.event, &job.alert))
                    .map_err(|e| e.to_string())?;
                let mut req = self
                    .http
                    .post(&url)
                    .header("content-type", "application/json");
                if let Some(secret) = &self.config.secret {
                    req = req.header(
                        "x-doorstep-signature",
                        payload::webhook_signature(secret, &body),
                    );
                }
                let resp = req.body(body).send().await.map_err(|e| e.to_string())?;
                let status = resp.status();
                status
                    .is_success()
                    .then_some(())
                    .ok_or_else(|| format!("HTTP {status}"))
            }
            ChannelKind::Wecom | ChannelKind::Dingtalk => {
                let (url, body) = if self.config.kind == ChannelKind::Wecom {
                    (url, payload::wecom(job.event, &job.alert, tz))
                } else {
                    let url = match &self.config.secret {
                        Some(s) => payload::dingtalk_signed_url(&url, s, wall_ms()),
                        None => url,
                    };
                    (url, payload::dingtalk(job.event, &job.alert, tz))
                };
                let resp = self
                    .http
                    .post(&url)
                    .json(&body)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let status = resp.status();
                let text = resp.text().await.map_err(|e| e.to_string())?;
                if !status.is_success() {
                    return Err(format!("HTTP {status}"));
                }
                payload::robot_accepted(&text)
            }
            ChannelKind::Mqtt => self.publish(job).await,
        }
    }

    async fn publish(&mut self, job: &Job) -> Result<(), String> {
        if self.mqtt.is_none() {
            let (default, session) = &self.d.broker;
            let url = match &self.config.url {
                Some(u) => u.parse()?,
                None => default.clone(),
            };
            let session = ingest::Session {
                client_id: format!("{}-alerts-{}", session.client_id, self.name),
                ..session.clone()
            };
            let p = ingest::Publisher::connect(&url, &session)
                .await
                .map_err(|e| e.to_string())?;
            self.mqtt = Some(p);
        }
        let site = match job.alert.site_id.as_str() {
            "" => "_all",
            s => s,
        };
        let topic = format!("{}{site}", ingest::ALERTS_PREFIX);
        let body = serde_json::to_vec(&payload::document(job.event, &job.alert))
            .map_err(|e| e.to_string())?;
        let Some(p) = &self.mqtt else {
            return Err("no MQTT connection".into());
        };
        if let Err(e) = p.publish(topic, body).await {
            self.mqtt = None;
            return Err(e.to_string());
        }
        Ok(())
    }
}
