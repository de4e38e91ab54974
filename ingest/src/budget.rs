//! The quarantine's byte budget: how much of what is rejected gets stored
//! ([`QuarantineBudget`]).

use devices::Rejection;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::net::IpAddr;

/// How much of what is rejected the quarantine stores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuarantineLimits {
    /// Bytes one sender may have stored whole at once: its bucket's capacity (256 KiB).
    pub sender_burst_bytes: u64,
    /// Bytes a second that refill a sender's bucket (4 KiB).
    pub sender_bytes_per_s: u64,
    /// Bytes one peer address may have stored whole at once, all its senders together (1 MiB).
    pub address_burst_bytes: u64,
    /// Bytes a second that refill an address's bucket (16 KiB).
    pub address_bytes_per_s: u64,
    /// Bytes stored whole in any rolling hour, all senders together (64 MiB).
    pub whole_bytes_per_hour: u64,
    /// One in this many over-budget rejections of a sender (or address) is stored as a
    /// sample, the first of them included (100); 0 stores no samples.
    pub sample_one_in: u64,
    /// Payload bytes a sample keeps (256).
    pub sample_payload_bytes: usize,
    /// Samples stored in any rolling hour, all senders together (20,000).
    pub samples_per_hour: u64,
    /// Senders remembered at most, and addresses at most (100,000 each); the oldest
    /// are forgotten first, and a forgotten key starts again with a full budget.
    pub max_keys: usize,
}

impl Default for QuarantineLimits {
    fn default() -> Self {
        QuarantineLimits {
            sender_burst_bytes: 256 * 1024,
            sender_bytes_per_s: 4 * 1024,
            address_burst_bytes: 1024 * 1024,
            address_bytes_per_s: 16 * 1024,
            whole_bytes_per_hour: 64 * 1024 * 1024,
            sample_one_in: 100,
            sample_payload_bytes: 256,
            samples_per_hour: 20_000,
            max_keys: 100_000,
        }
    }
}

/// What to do with one rejected message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Keep {
    /// Store it whole.
    Whole,
    /// Store it with its payload cut to `sample_payload_bytes`, saying so in its detail.
    Sample,
    /// Do not store it; only count it.
    Count,
}

/// What a [`QuarantineBudget`] decided so far, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuarantineCounts {
    /// Rejections stored whole.
    pub stored_whole: u64,
    /// Bytes of the rejections stored whole.
    pub stored_whole_bytes: u64,
    /// Rejections stored as a sample.
    pub sampled: u64,
    /// Rejections only counted.
    pub counted_only: u64,
}

/// A token bucket of bytes and the over-budget rejections it saw.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_ms: i64,
    over: u64,
}

/// Buckets by key, bounded in number.
#[derive(Debug)]
struct Buckets<K> {
    map: HashMap<K, Bucket>,
    burst: f64,
    per_ms: f64,
    max: usize,
    next_prune: usize,
}

/// Below this many keys, no pruning.
const PRUNE_FROM: usize = 1024;

impl<K: Hash + Eq + Copy> Buckets<K> {
    fn new(burst: u64, per_s: u64, max: usize) -> Self {
        Buckets {
            map: HashMap::new(),
            burst: burst as f64,
            per_ms: per_s as f64 / 1000.0,
            max: max.max(1),
            next_prune: PRUNE_FROM,
        }
    }

    /// The key's bucket refilled up to `now_ms` (full when new).
    fn refilled(&mut self, key: K, now_ms: i64) -> &mut Bucket {
        if !self.map.contains_key(&key) && self.map.len() >= self.next_prune.min(self.max) {
            self.prune(now_ms);
        }
        let burst = self.burst;
        let b = self.map.entry(key).or_insert(Bucket {
            tokens: burst,
            at_ms: now_ms,
            over: 0,
        });
        let elapsed = (now_ms - b.at_ms).max(0) as f64;
        b.tokens = (b.tokens + elapsed * self.per_ms).min(burst);
        b.at_ms = b.at_ms.max(now_ms);
        b
    }

    /// Forgets keys whose bucket is full again (a new one would be the same, bar its
    /// count of over-budget rejections), then, above `max`, the oldest tenth.
    fn prune(&mut self, now_ms: i64) {
        let (burst, per_ms) = (self.burst, self.per_ms);
        self.map
            .retain(|_, b| b.tokens + (now_ms - b.at_ms).max(0) as f64 * per_ms < burst);
        if self.map.len() >= self.max {
            let n = (self.map.len() / 10).max(1);
            let mut ages: Vec<i64> = self.map.values().map(|b| b.at_ms).collect();
            let (older, &mut cut, _) = ages.select_nth_unstable(n - 1);
            let mut at_cut = n - older.iter().filter(|&&t| t < cut).count();
            self.map.retain(|_, b| {
                if b.at_ms < cut {
                    return false;
                }
                if b.at_ms == cut && at_cut > 0 {
                    at_cut -= 1;
                    return false;
                }
                true
            });
        }
        self.next_prune = (2 * self.map.len()).max(PRUNE_FROM);
    }
}

/// Bytes and samples stored in the last 60 minutes, by minute.
#[derive(Debug)]
struct RollingHour {
    minute: i64,
    bytes: [u64; 60],
    samples: [u64; 60],
    total_bytes: u64,
    total_samples: u64,
}

impl RollingHour {
    fn new() -> Self {
        RollingHour {
            minute: i64::MIN,
            bytes: [0; 60],
            samples: [0; 60],
            total_bytes: 0,
            total_samples: 0,
        }
    }

    /// Moves on to `now_ms`, forgetting minutes more than an hour ago; time that goes back
    /// counts in the latest minute.
    fn advance(&mut self, now_ms: i64) {
        let minute = now_ms.div_euclid(60_000);
        if minute <= self.minute {
            return;
        }
        let from = if self.minute == i64::MIN {
            minute - 59
        } else {
            (self.minute + 1).max(minute - 59)
        };
        for m in from..=minute {
            let slot = m.rem_euclid(60) as usize;
            self.total_bytes -= self.bytes[slot];
            self.total_samples -= self.samples[slot];
            self.bytes[slot] = 0;
            self.samples[slot] = 0;
        }
        self.minute = minute;
    }

    fn slot(&self) -> usize {
        self.minute.rem_euclid(60) as usize
    }

    fn add_bytes(&mut self, bytes: u64) {
        let slot = self.slot();
        self.bytes[slot] += bytes;
        self.total_bytes += bytes;
    }

    fn add_sample(&mut self) {
        let slot = self.slot();
        self.samples[slot] += 1;
        self.total_samples += 1;
    }
}

/// Rejected messages are kept in `quarantine` so that a person can see what a
/// device sent; but junk sent fast (4 KiB at 2,000 a second) would fill the disk.
/// [`QuarantineBudget`] decides for each rejection whether it is stored whole,
/// stored as a sample (its payload cut short), or only counted. Every sender
/// (the device id, or the topic when the device is unknown) and every peer
/// address has a token bucket of bytes in arrival time; all senders together
/// have a cap of bytes stored whole per rolling hour. Within all of them a
/// rejection is stored whole; beyond, one in `sample_one_in` of the over-budget
/// rejections of the key that refused it (the address when its budget is spent,
/// else the sender, else all senders together for the hourly cap) is stored as a
/// sample, up to `samples_per_hour`, and the rest only counted.
///
/// ```
/// use ingest::{Keep, QuarantineBudget, QuarantineLimits};
/// let mut budget = QuarantineBudget::new(QuarantineLimits::default());
/// let peer = Some("192.0.2.7".parse().unwrap());
/// // 4 KiB of junk at 2,000 a second: the sender's 256 KiB go first.
/// let kept: Vec<Keep> = (0..1_000)
///     .map(|i| budget.decide("doorstep/v1/s1/ghost", peer, 4096, i / 2))
///     .collect();
/// assert_eq!(kept[0], Keep::Whole);
/// assert_eq!(kept[999], Keep::Count);
/// let counts = budget.counts();
/// assert_eq!(counts.stored_whole, 64);
/// assert_eq!(counts.stored_whole + counts.sampled + counts.counted_only, 1_000);
/// ```
///
/// Memory: about 40 bytes for each sender and address remembered (senders by a
/// keyed hash of their name), at most `max_keys` of each.
#[derive(Debug)]
pub struct QuarantineBudget {
    limits: QuarantineLimits,
    senders: Buckets<u64>,
    addresses: Buckets<IpAddr>,
    hour: RollingHour,
    /// Over-budget rejections refused by the hourly cap alone.
    global_over: u64,
    hasher: RandomState,
    counts: QuarantineCounts,
}

/// Which budget refused a rejection.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    Address(IpAddr),
    Sender,
    Hour,
}

impl QuarantineBudget {
    /// A budget with `limits`, all buckets full.
    pub fn new(limits: QuarantineLimits) -> QuarantineBudget {
        QuarantineBudget {
            senders: Buckets::new(
                limits.sender_burst_bytes,
                limits.sender_bytes_per_s,
                limits.max_keys,
            ),
            addresses: Buckets::new(
                limits.address_burst_bytes,
                limits.address_bytes_per_s,
                limits.max_keys,
            ),
            hour: RollingHour::new(),
            global_over: 0,
            hasher: RandomState::new(),
            counts: QuarantineCounts::default(),
            limits,
        }
    }

    /// The limits it applies.
    pub fn limits(&self) -> &QuarantineLimits {
        &self.limits
    }

    /// What it decided so far.
    pub fn counts(&self) -> QuarantineCounts {
        self.counts
    }

    /// Decides for one rejection of `bytes` (what storing it whole takes: payload, topic
    /// and detail) from `sender` (the device id, or the topic when the device is unknown)
    /// at `peer` (when known), received at `received_ms` (Unix ms). A rejection stored
    /// whole draws on every budget; a sample or a count on none.
    pub fn decide(
        &mut self,
        sender: &str,
        peer: Option<IpAddr>,
        bytes: usize,
        received_ms: i64,
    ) -> Keep {
        let cost = bytes as u64;
        self.hour.advance(received_ms);
        let sender_key = self.hasher.hash_one(sender);
        let sender_ok = self.senders.refilled(sender_key, received_ms).tokens >= cost as f64;
        let address_ok =
            peer.is_none_or(|ip| self.addresses.refilled(ip, received_ms).tokens >= cost as f64);
        let hour_ok =
            self.hour.total_bytes.saturating_add(cost) <= self.limits.whole_bytes_per_hour;
        let refusal = match (address_ok, sender_ok, hour_ok, peer) {
            (true, true, true, _) => {
                self.take(sender_key, peer, cost);
                return Keep::Whole;
            }
            (false, _, _, Some(ip)) => Refusal::Address(ip),
            (_, false, _, _) => Refusal::Sender,
            _ => Refusal::Hour,
        };
        let over = match refusal {
            Refusal::Address(ip) => &mut self.addresses.refilled(ip, received_ms).over,
            Refusal::Sender => &mut self.senders.refilled(sender_key, received_ms).over,
            Refusal::Hour => &mut self.global_over,
        };
        let nth = *over;
        *over += 1;
        if nth == 0 {
            match refusal {
                Refusal::Address(ip) => tracing::warn!(
                    peer = %ip, sender,
                    "rejected messages from this address are over their quarantine budget: \
                     only samples are stored"
                ),
                Refusal::Sender => tracing::warn!(
                    sender,
                    "rejected messages of this sender are over their quarantine budget: \
                     only samples are stored"
                ),
                Refusal::Hour => tracing::warn!(
                    sender,
                    limit = self.limits.whole_bytes_per_hour,
                    "the quarantine stored its hourly limit of bytes: only samples are stored"
                ),
            }
        }
        let one_in = self.limits.sample_one_in;
        if one_in > 0 && nth % one_in == 0 && self.hour.total_samples < self.limits.samples_per_hour
        {
            self.hour.add_sample();
            self.counts.sampled += 1;
            Keep::Sample
        } else {
            self.counts.counted_only += 1;
            Keep::Count
        }
    }

    fn take(&mut self, sender_key: u64, peer: Option<IpAddr>, cost: u64) {
        if let Some(b) = self.senders.map.get_mut(&sender_key) {
            b.tokens -= cost as f64;
        }
        if let Some(b) = peer.and_then(|ip| self.addresses.map.get_mut(&ip)) {
            b.tokens -= cost as f64;
        }
        self.hour.add_bytes(cost);
        self.counts.stored_whole += 1;
        self.counts.stored_whole_bytes += cost;
    }

    /// Applies [`QuarantineBudget::decide`] to a rejection: returns it whole, or as a sample
    /// (payload cut to `sample_payload_bytes`, its detail saying so), or `None` when it is
    /// only counted.
    pub fn admit(
        &mut self,
        mut rejection: Rejection,
        sender: &str,
        peer: Option<IpAddr>,
    ) -> Option<Rejection> {
        let bytes = rejection.payload.len() + rejection.topic.len() + rejection.detail.len();
        match self.decide(sender, peer, bytes, rejection.received_ms) {
            Keep::Whole => Some(rejection),
            Keep::Count => None,
            Keep::Sample => {
                let len = rejection.payload.len();
                let keep = self.limits.sample_payload_bytes;
                let cut = if len > keep {
                    rejection.payload.truncate(keep);
                    format!("payload cut to its first {keep} of {len} bytes; ")
                } else {
                    String::new()
                };
                rejection.detail.push_str(&format!(
                    " [sample: {cut}one in {} rejections over the quarantine budget is kept]",
                    self.limits.sample_one_in
                ));
                Some(rejection)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_396_500_000;
    const KIB: u64 = 1024;

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().expect("an address"))
    }

    /// Regression: 4 KB junk at 2,000 a second wrote 160 MB of quarantine in 24 s.
    #[test]
    fn a_junk_flood_keeps_its_budget_whole_and_one_in_100_as_samples() {
        for peer in [ip("192.0.2.7"), None] {
            let mut b = QuarantineBudget::new(QuarantineLimits::default());
            let n = 2_000 * 24;
            for i in 0..n {
                b.decide("doorstep/v1/s1/ghost", peer, 4096, NOW + i / 2);
            }
            let c = b.counts();
            assert_eq!(c.stored_whole + c.sampled + c.counted_only, n as u64);
            // The sender's budget: 256 KiB and 4 KiB a second for 24 s.
            let budget = 256 * KIB + 4 * KIB * 24;
            assert!(c.stored_whole_bytes <= budget, "{c:?}");
            assert!(c.stored_whole >= budget / 4096 - 1, "{c:?}");
            // One in 100 of the rest.
            let over = n as u64 - c.stored_whole;
            assert!(c.sampled.abs_diff(over / 100) <= 1, "{c:?}");
            let stored = c.stored_whole_bytes + c.sampled * 256;
            assert!(stored < 500 * KIB, "{stored} bytes stored, not 160 MB");
        }
    }

    #[test]
    fn a_well_behaved_device_is_never_sampled() {
        let mut b = QuarantineBudget::new(QuarantineLimits::default());
        // A bad message of 300 bytes every 10 minutes for a week, beside a junk flood
        // from another address and sender, and bursts of 20 at once now and then.
        for minute in 0..7 * 24 * 60i64 {
            let t = NOW + minute * 60_000;
            for i in 0..120 {
                b.decide("doorstep/v1/s1/junk", ip("198.51.100.1"), 4096, t + i * 500);
            }
            let bad = if minute % 600 == 0 {
                20
            } else {
                i64::from(minute % 10 == 0)
            };
            for i in 0..bad {
                let keep = b.decide("hall-counter", ip("192.0.2.7"), 300, t + i);
                assert_eq!(keep, Keep::Whole, "minute {minute}");
            }
        }
        let c = b.counts();
        assert!(
            c.sampled > 0 && c.counted_only > 0,
            "the flood was limited: {c:?}"
        );
    }

    #[test]
    fn senders_from_one_address_share_its_budget() {
        let limits = QuarantineLimits {
            sender_burst_bytes: 1024 * KIB,
            sender_bytes_per_s: 16 * KIB,
            ..QuarantineLimits::default()
        };
        let mut b = QuarantineBudget::new(limits);
        let shared = ip("203.0.113.9");
        // Two senders alternate from one address for 10 s, 4 KiB at 2,000 a second.
        let mut whole = [0u64; 2];
        for i in 0..20_000i64 {
            let sender = ["dev-a", "dev-b"][(i % 2) as usize];
            if b.decide(sender, shared, 4096, NOW + i / 2) == Keep::Whole {
                whole[(i % 2) as usize] += 1;
            }
        }
        // Together they get one address's budget (1 MiB and 16 KiB a second), not two.
        let address = (1024 * KIB + 16 * KIB * 10) / 4096;
        assert!(whole[0] + whole[1] <= address, "{whole:?}");
        assert!(whole[0] > 0 && whole[1] > 0, "{whole:?}");
        // A third sender at that address gets nothing whole; at another, its full budget.
        assert_ne!(b.decide("dev-c", shared, 4096, NOW + 10_000), Keep::Whole);
        assert_eq!(
            b.decide("dev-c", ip("2001:db8::1"), 4096, NOW + 10_000),
            Keep::Whole
        );
    }

    #[test]
    fn the_hourly_cap_holds_across_senders_and_samples_stay_rare() {
        let limits = QuarantineLimits {
            whole_bytes_per_hour: 1024 * KIB,
            samples_per_hour: 50,
            ..QuarantineLimits::default()
        };
        let mut b = QuarantineBudget::new(limits);
        // A new topic for every message (unknown devices), no peer known, 10 a second
        // for two hours: only the hourly cap applies.
        let mut whole_by_hour = [0u64; 2];
        let mut samples = 0;
        for i in 0..72_000i64 {
            let keep = b.decide(&format!("doorstep/v1/x/d{i}"), None, 4096, NOW + i * 100);
            match keep {
                Keep::Whole => whole_by_hour[(i / 36_000) as usize] += 4096,
                Keep::Sample => samples += 1,
                Keep::Count => {}
            }
        }
        assert_eq!(whole_by_hour, [1024 * KIB; 2]);
        assert_eq!(samples, 100, "50 an hour");
        // The senders remembered stay bounded.
        assert!(
            b.senders.map.len() <= 2 * 1024 + 1,
            "{}",
            b.senders.map.len()
        );
    }

    #[test]
    fn keys_are_bounded_and_forgotten_once_their_budget_is_full() {
        let limits = QuarantineLimits {
            max_keys: 5_000,
            whole_bytes_per_hour: u64::MAX,
            ..QuarantineLimits::default()
        };
        let mut b = QuarantineBudget::new(limits);
        // 30,000 senders (no peer known) spend their whole budget within one second:
        // none of their buckets is full again, yet at most 5,000 are remembered.
        for i in 0..30_000i64 {
            let sender = format!("d{i}");
            for _ in 0..65 {
                b.decide(&sender, None, 4096, NOW + i / 30);
            }
            assert!(b.senders.map.len() <= 5_000);
        }
        assert!(b.senders.map.len() >= 4_500, "{}", b.senders.map.len());
        assert_eq!(b.counts().stored_whole, 30_000 * 64);
        // A minute and a half later their buckets are full again: they are forgotten
        // when the map next fills up, and the new senders are not.
        for i in 0..3_000 {
            b.decide(&format!("later{i}"), ip("192.0.2.1"), 10, NOW + 90_000);
        }
        assert_eq!(b.senders.map.len(), 3_000);
        assert!(b.addresses.map.len() <= 1);
    }

    #[test]
    fn admit_cuts_a_sample_and_says_so() {
        let limits = QuarantineLimits {
            sender_burst_bytes: 0,
            ..QuarantineLimits::default()
        };
        let mut b = QuarantineBudget::new(limits);
        let rejection = Rejection {
            reason: devices::Reason::MalformedJson,
            detail: "EOF while parsing".into(),
            topic: "doorstep/v1/s1/ghost".into(),
            payload: vec![b'x'; 4096],
            received_ms: NOW,
        };
        let sample = b
            .admit(rejection.clone(), "doorstep/v1/s1/ghost", None)
            .expect("the first over-budget rejection is a sample");
        assert_eq!(sample.payload.len(), 256);
        assert_eq!(
            sample.detail,
            "EOF while parsing [sample: payload cut to its first 256 of 4096 bytes; \
             one in 100 rejections over the quarantine budget is kept]"
        );
        assert_eq!(
            b.admit(rejection.clone(), "doorstep/v1/s1/ghost", None),
            None
        );
        let mut b = QuarantineBudget::new(QuarantineLimits::default());
        assert_eq!(
            b.admit(rejection.clone(), "doorstep/v1/s1/ghost", None),
            Some(rejection)
        );
        assert_eq!(
            b.counts(),
            QuarantineCounts {
                stored_whole: 1,
                stored_whole_bytes: 4096 + 20 + 17,
                sampled: 0,
                counted_only: 0
            }
        );
    }
}
