//! Rows to points: the live state of rooms, closed windows and site days
//! become points queued on a running writer, never waiting for it.

use super::point;
use super::writer::PointSender;
use devices::{LiveRoom, RoomWindow, SiteDay};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Queues the points of doorstep's rows on a writer; one per producing thread.
#[derive(Debug, Clone)]
pub struct Feed {
    /// The registry of now (a registry switch reaches it).
    registry: devices::Current,
    names: bool,
    sender: PointSender,
    stopped: Arc<AtomicBool>,
}

impl Feed {
    /// A feed of `sender`; `names` also tags points with the Chinese display names.
    pub fn new(sender: PointSender, registry: impl Into<devices::Current>, names: bool) -> Feed {
        Feed {
            registry: registry.into(),
            names,
            sender,
            stopped: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The live state of a room (`room_live`).
    pub fn live(&self, live: &LiveRoom) {
        self.offer(point::live(&self.registry.get(), live, self.names));
    }

    /// A closed or corrected room window (`room_hour`, `room_day`, `room_slot_day`).
    pub fn window(&self, window: &RoomWindow) {
        self.offer(point::window(&self.registry.get(), window, self.names));
    }

    /// A site's day (`site_day`).
    pub fn site_day(&self, day: &SiteDay) {
        self.offer(point::site_day(&self.registry.get(), day, self.names));
    }

    fn offer(&self, point: super::Result<point::Point>) {
        let point = match point {
            Ok(p) => p,
            Err(e) => return tracing::warn!(error = %e, "no InfluxDB point for this row"),
        };
        // A full queue is counted by the sender (`overflowed`).
        if self.sender.send(point).is_err() && !self.stopped.swap(true, Ordering::Relaxed) {
            tracing::error!("InfluxDB writer stopped; points are no longer sent");
        }
    }
}
