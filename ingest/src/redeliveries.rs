//! Recognises a message taken in before: one journaled but not yet
//! acknowledged when doorstep stopped comes back from the broker after the
//! restart; a device resends its last messages after reconnecting. "The same
//! message" is [`devices::MessageKey`], the one definition every stage uses.

use devices::{MessageKey, Reading};
use std::collections::{HashSet, VecDeque};

/// How many recent messages are remembered: about 50 s at national load (5,000
/// messages a second), hours for a city; resends come within seconds. 17 MB.
const REMEMBERED: usize = 1 << 18;

/// The keys of the most recent messages taken in (a checkpoint keeps them).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Redeliveries {
    seen: HashSet<MessageKey>,
    order: VecDeque<MessageKey>,
}

impl Redeliveries {
    /// False when the reading was taken in before (a redelivery); remembers it otherwise.
    pub fn is_new(&mut self, r: &Reading) -> bool {
        let Some(key) = r.message_key() else {
            return true;
        };
        if !self.seen.insert(key) {
            return false;
        }
        self.order.push_back(key);
        if self.order.len() > REMEMBERED
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use devices::{DeviceIdx, RoomIdx, Value};

    fn reading(seq: Option<u64>, t: i64) -> Reading {
        Reading {
            device: DeviceIdx(0),
            room: RoomIdx(0),
            time_ms: t,
            received_ms: t,
            seq,
            clock_skew: false,
            value: Value::Count(1),
        }
    }

    #[test]
    fn a_redelivered_message_is_taken_in_once() {
        let mut r = Redeliveries::default();
        assert!(r.is_new(&reading(Some(1), 1000)));
        assert!(!r.is_new(&reading(Some(1), 1000)), "the same message again");
        assert!(
            r.is_new(&reading(Some(1), 2000)),
            "a restarted device reusing seq 1 later"
        );
        assert!(r.is_new(&reading(None, 1000)));
        assert!(
            !r.is_new(&reading(None, 1000)),
            "no seq: the same content at the same time is the same message"
        );
        assert!(r.is_new(&Reading {
            value: Value::Count(2),
            ..reading(None, 1000)
        }));
        let door = Reading {
            value: Value::Door { inn: 1, out: 0 },
            ..reading(None, 1000)
        };
        assert!(
            r.is_new(&door) && r.is_new(&door),
            "door deltas without seq: never dropped"
        );
    }
}
