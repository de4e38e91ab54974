//! What the alerts need to know of each device: when it was last heard and its
//! battery. The intake notes every accepted reading (live and replayed after a
//! restart, so a restart knows when each device last spoke).

use devices::{Reading, Value};
use std::sync::{Mutex, PoisonError};

/// The last word of one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Seen {
    /// The later of its last event time and when doorstep received it, Unix ms:
    /// a device with a slow clock that still reports is not offline.
    pub heard_ms: i64,
    /// The battery of its last status message that had one, and that message's event time.
    pub battery: Option<(u8, i64)>,
}

/// Every device's [`Seen`], by device index; `None` for one never heard.
#[derive(Debug)]
pub struct DeviceWatch {
    seen: Mutex<Vec<Option<Seen>>>,
}

impl DeviceWatch {
    /// Nothing heard yet of `devices` devices.
    pub fn new(devices: usize) -> DeviceWatch {
        DeviceWatch {
            seen: Mutex::new(vec![None; devices]),
        }
    }

    /// Notes a batch of accepted readings (one lock for the batch).
    pub fn note(&self, readings: &[Reading]) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        for r in readings {
            let Some(slot) = seen.get_mut(r.device.ix()) else {
                continue;
            };
            let s = slot.get_or_insert_with(Seen::default);
            s.heard_ms = s.heard_ms.max(r.time_ms.max(r.received_ms));
            if let Value::Status(st) = &r.value
                && let Some(b) = st.battery_pct
                && s.battery.is_none_or(|(_, t)| t <= r.time_ms)
            {
                s.battery = Some((b, r.time_ms));
            }
        }
    }

    /// A copy of every device's last word.
    pub fn get(&self) -> Vec<Option<Seen>> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
