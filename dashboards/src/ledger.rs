//! Every device's recent life, for the operators' device page and the alerts:
//! when it last spoke, its battery, signal, firmware and report interval, its
//! messages and rejects of the current local day with their reasons; and the
//! devices that publish without being registered ("waiting for
//! registration"), with their first messages.
//!
//! The intake notes accepted readings (live, and replayed after a restart, so
//! a restart knows when each device last spoke) and rejected messages. The
//! list of unregistered devices is bounded: a hostile client inventing ids
//! fills [`MAX_WAITING`] entries and is then only counted.

use chrono::NaiveDate;
use devices::{DeviceIdx, Reading, Reason, Rejection, Value};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

/// Most unregistered devices listed; further ones are only counted.
pub const MAX_WAITING: usize = 200;
/// First messages kept per unregistered device.
pub const SAMPLES: usize = 3;
/// Characters kept of each of those messages.
pub const SAMPLE_CHARS: usize = 300;

/// The last word of one device, as the alerts need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Seen {
    /// The later of its last event time and when doorstep received it, Unix ms:
    /// a device with a slow clock that still reports is not offline.
    pub heard_ms: i64,
    /// The battery of its last status message that had one, and that message's event time.
    pub battery: Option<(u8, i64)>,
}

/// One registered device's recent life.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Life {
    /// Its last word; `None`: never heard since doorstep started (nor in the replay).
    #[serde(skip)]
    pub seen: Option<Seen>,
    /// Radio signal of its last status message, dBm.
    pub rssi_dbm: Option<i16>,
    /// Firmware of its last status message.
    pub fw: Option<String>,
    /// Report interval its last status message announced, seconds.
    pub interval_s: Option<u32>,
    /// The local day the counters below are of.
    pub day: Option<NaiveDate>,
    /// That day as Unix ms `[start, end)`: a message inside it needs no time-zone arithmetic.
    #[serde(skip)]
    pub(crate) day_ms: (i64, i64),
    /// Messages accepted that day.
    pub messages: u32,
    /// Messages rejected that day, by reason code.
    pub rejected: BTreeMap<&'static str, u32>,
    /// The last rejection: reason code, what was wrong, when (Unix ms).
    pub last_reject: Option<(&'static str, String, i64)>,
}

/// A device that publishes but is not in the registry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Waiting {
    /// The site its topic names.
    pub site_id: String,
    /// The device id its topic names.
    pub device_id: String,
    /// First and last message received, Unix ms.
    pub first_ms: i64,
    /// See `first_ms`.
    pub last_ms: i64,
    /// Messages received.
    pub messages: u64,
    /// Its first messages, as text (cut to [`SAMPLE_CHARS`] characters).
    pub samples: Vec<String>,
}

#[derive(Debug, Default)]
struct Inner {
    lives: Vec<Life>,
    waiting: BTreeMap<(String, String), Waiting>,
    /// Unregistered devices beyond [`MAX_WAITING`].
    more_waiting: u64,
}

/// Every device's [`Life`] and the unregistered devices.
#[derive(Debug)]
pub struct DeviceLedger {
    /// The registry of now (a registry switch adds devices).
    registry: devices::Current,
    inner: Mutex<Inner>,
}

impl DeviceLedger {
    /// Nothing heard yet of the devices of `registry`.
    pub fn new(registry: impl Into<devices::Current>) -> DeviceLedger {
        let registry: devices::Current = registry.into();
        let inner = Inner {
            lives: vec![Life::default(); registry.get().devices.len()],
            ..Inner::default()
        };
        DeviceLedger {
            registry,
            inner: Mutex::new(inner),
        }
    }

    /// The local date of `ms` at device `d`'s site.
    pub fn local_day(&self, d: DeviceIdx, ms: i64) -> Option<NaiveDate> {
        let registry = self.registry.get();
        let device = registry.devices.get(d.ix())?;
        let tz = registry.sites.get(device.site.0 as usize)?.timezone;
        Some(devices::schedule::local_date(tz, ms.div_euclid(1000)))
    }

    /// Local day `day` at device `d`'s site as Unix ms `[start, end)`; empty when unknown.
    fn day_ms(&self, d: DeviceIdx, day: Option<NaiveDate>) -> (i64, i64) {
        let registry = self.registry.get();
        let tz = registry
            .devices
            .get(d.ix())
            .and_then(|dev| registry.sites.get(dev.site.0 as usize))
            .map(|s| s.timezone);
        match (tz, day) {
            (Some(tz), Some(day)) => {
                let at = |d: NaiveDate| {
                    devices::schedule::local_to_utc(tz, d.and_time(chrono::NaiveTime::MIN)) * 1000
                };
                (at(day), day.succ_opt().map_or(i64::MIN, at))
            }
            _ => (0, 0),
        }
    }

    /// The ledger, with a place for every device of the registry of now.
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let devices = self.registry.get().devices.len();
        if inner.lives.len() < devices {
            inner.lives.resize(devices, Life::default());
        }
        inner
    }

    /// The counters of `life` for the day of `ms`, started afresh on a new day;
    /// none for a day before the one counted (a replayed or re-read message).
    fn day_of<'a>(&self, life: &'a mut Life, d: DeviceIdx, ms: i64) -> Option<&'a mut Life> {
        if (life.day_ms.0..life.day_ms.1).contains(&ms) {
            return Some(life);
        }
        let day = self.local_day(d, ms);
        if day < life.day {
            return None;
        }
        if life.day != day {
            life.day = day;
            life.messages = 0;
            life.rejected.clear();
            life.day_ms = self.day_ms(d, day);
        }
        Some(life)
    }

    /// Notes a batch of accepted readings (one lock for the batch).
    pub fn note(&self, readings: &[Reading]) {
        let mut inner = self.lock();
        for r in readings {
            let Some(life) = inner.lives.get_mut(r.device.ix()) else {
                continue;
            };
            let s = life.seen.get_or_insert_with(Seen::default);
            s.heard_ms = s.heard_ms.max(r.time_ms.max(r.received_ms));
            if let Value::Status(st) = &r.value {
                let newest = s.battery.is_none_or(|(_, t)| t <= r.time_ms);
                if let (Some(b), true) = (st.battery_pct, newest) {
                    s.battery = Some((b, r.time_ms));
                }
                if newest {
                    life.rssi_dbm = st.rssi_dbm.or(life.rssi_dbm);
                    life.fw = st.fw.clone().or(life.fw.take());
                    life.interval_s = st.interval_s.or(life.interval_s);
                }
            }
            if let Some(life) = self.day_of(life, r.device, r.received_ms) {
                life.messages += 1;
            }
        }
    }

    /// Notes rejected messages: a registered device's count of its reason, an
    /// unregistered one in the waiting list.
    pub fn note_rejections(&self, rejected: &[Rejection]) {
        let mut inner = self.lock();
        for j in rejected {
            let Some((site, device)) = devices::validate::device_topic(&j.topic) else {
                continue;
            };
            match self.registry.get().device_by_id(device) {
                Some(d) => {
                    let Some(life) = inner.lives.get_mut(d.ix()) else {
                        continue;
                    };
                    if let Some(life) = self.day_of(life, d, j.received_ms) {
                        *life.rejected.entry(j.reason.as_str()).or_default() += 1;
                        life.last_reject =
                            Some((j.reason.as_str(), j.detail.clone(), j.received_ms));
                    }
                }
                None if j.reason == Reason::UnknownDevice => {
                    let key = (site.to_owned(), device.to_owned());
                    let full = inner.waiting.len() >= MAX_WAITING;
                    match inner.waiting.get_mut(&key) {
                        Some(w) => {
                            w.last_ms = w.last_ms.max(j.received_ms);
                            w.messages += 1;
                            if w.samples.len() < SAMPLES {
                                w.samples.push(sample(&j.payload));
                            }
                        }
                        None if full => inner.more_waiting += 1,
                        None => {
                            inner.waiting.insert(
                                key,
                                Waiting {
                                    site_id: site.to_owned(),
                                    device_id: device.to_owned(),
                                    first_ms: j.received_ms,
                                    last_ms: j.received_ms,
                                    messages: 1,
                                    samples: vec![sample(&j.payload)],
                                },
                            );
                        }
                    }
                }
                None => {}
            }
        }
    }

    /// Every device's last word, by device index (for the alerts).
    pub fn seen(&self) -> Vec<Option<Seen>> {
        self.lock().lives.iter().map(|l| l.seen).collect()
    }

    /// Every device's life, by device index.
    pub fn lives(&self) -> Vec<Life> {
        self.lock().lives.clone()
    }

    /// The unregistered devices naming site `site` in their topic, first heard
    /// first, and how many more were only counted (of every site).
    pub fn waiting(&self, site: &str) -> (Vec<Waiting>, u64) {
        let inner = self.lock();
        let registry = self.registry.get();
        let mut list: Vec<Waiting> = inner
            .waiting
            .iter()
            // Registered since (a registry switch): no longer waiting.
            .filter(|((_, id), _)| registry.device_by_id(id).is_none())
            .map(|(_, w)| w)
            .filter(|w| w.site_id == site)
            .cloned()
            .collect();
        list.sort_by_key(|w| w.first_ms);
        (list, inner.more_waiting)
    }
}

/// A payload as text for a person: lossy UTF-8, cut to [`SAMPLE_CHARS`] characters.
fn sample(payload: &[u8]) -> String {
    let text = String::from_utf8_lossy(payload);
    let mut out: String = text.chars().take(SAMPLE_CHARS).collect();
    if text.chars().count() > SAMPLE_CHARS {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests;
