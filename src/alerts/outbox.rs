//! Deliveries waiting to be made: kept in memory, saved with the alert state
//! (so a restart still sends them), taken by each channel's worker in order.

use dashboards::{Alert, ChangeKind};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

/// One message for one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// The channel's name.
    pub channel: String,
    /// `opened` or `ended`.
    pub event: ChangeKind,
    /// The alert as it was at the change.
    pub alert: Alert,
    /// Tries so far.
    pub attempts: u32,
    /// When it was queued, Unix ms (real time).
    pub queued_ms: i64,
    /// Not before this, Unix ms (real time): the next retry.
    pub next_try_ms: i64,
    /// Not before this, Unix ms of the pipeline's clock: the end of quiet hours.
    pub hold_until_ms: Option<i64>,
    /// Why the last try failed.
    pub last_error: Option<String>,
}

/// The queue of every channel.
#[derive(Debug, Default)]
pub struct Outbox {
    jobs: Mutex<Vec<Job>>,
    changed: AtomicBool,
    /// Wakes the workers when a job is queued.
    pub wake: tokio::sync::Notify,
}

impl Outbox {
    /// An outbox holding `jobs` (saved before a restart).
    pub fn with(jobs: Vec<Job>) -> Outbox {
        Outbox {
            jobs: Mutex::new(jobs),
            ..Outbox::default()
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Job>> {
        self.jobs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `job`.
    pub fn push(&self, job: Job) {
        self.lock().push(job);
        self.changed.store(true, Ordering::Relaxed);
        self.wake.notify_waiters();
    }

    /// The first job of `channel`, in the order queued.
    pub fn first(&self, channel: &str) -> Option<Job> {
        self.lock().iter().find(|j| j.channel == channel).cloned()
    }

    /// Replaces `old` (delivered, or given up: `new` is `None`; failed: the updated job).
    pub fn settle(&self, old: &Job, new: Option<Job>) {
        let mut jobs = self.lock();
        if let Some(i) = jobs.iter().position(|j| j == old) {
            match new {
                Some(job) => jobs[i] = job,
                None => {
                    jobs.remove(i);
                }
            }
        }
        self.changed.store(true, Ordering::Relaxed);
    }

    /// Every job, when they changed since the last call (to save them).
    pub fn take_if_changed(&self) -> Option<Vec<Job>> {
        self.changed
            .swap(false, Ordering::Relaxed)
            .then(|| self.lock().clone())
    }

    /// Every job now.
    pub fn all(&self) -> Vec<Job> {
        self.lock().clone()
    }
}
