//! Who gets a connection: limits on sockets waiting for their CONNECT (the
//! oldest waiting socket of an address, or of all, makes room for a new one, so
//! a pile of silent sockets cannot hold the door shut) and on open connections
//! (clients that are not known devices share a smaller pool, with a cap per
//! address; accounts have a cap each), so known devices always find room.

use crate::IngestStats;
use crate::limits::BrokerLimits;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// The gate's bookkeeping of sockets and connections.
pub(crate) struct Admission {
    limits: BrokerLimits,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    next: u64,
    /// Waiting sockets: their address and the way to tell them to go.
    waiting: HashMap<u64, (IpAddr, oneshot::Sender<()>)>,
    /// Waiting sockets per address, oldest first.
    by_addr: HashMap<IpAddr, VecDeque<u64>>,
    /// All waiting sockets, oldest first (ids that have left are skipped).
    order: VecDeque<u64>,
    known: usize,
    anonymous: usize,
    anonymous_by_addr: HashMap<IpAddr, usize>,
    by_account: HashMap<String, usize>,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Busy {
    Total,
    Address,
    Account,
}

impl Admission {
    pub(crate) fn new(limits: BrokerLimits) -> Arc<Admission> {
        Arc::new(Admission {
            limits,
            inner: Mutex::new(Inner::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new socket waits for its CONNECT; the returned receiver fires when it must
    /// make room for a newer one.
    pub(crate) fn wait(
        self: &Arc<Self>,
        addr: IpAddr,
        counters: &Arc<IngestStats>,
    ) -> (Waiting, oneshot::Receiver<()>) {
        let stats = &counters.gate;
        let (tx, rx) = oneshot::channel();
        let mut g = self.lock();
        let id = g.next;
        g.next += 1;
        let per_addr = self.limits.waiting_per_address.max(1);
        while g.by_addr.get(&addr).is_some_and(|q| q.len() >= per_addr) {
            let oldest = g.by_addr.get_mut(&addr).and_then(VecDeque::pop_front);
            if let Some(old) = oldest {
                g.evict(old, stats);
            }
        }
        while g.waiting.len() >= self.limits.max_waiting.max(1) {
            let Some(old) = g.order.pop_front() else {
                break;
            };
            if let Some((a, _)) = g.waiting.get(&old) {
                let a = *a;
                if let Some(q) = g.by_addr.get_mut(&a) {
                    q.retain(|i| *i != old);
                }
                g.evict(old, stats);
            }
        }
        g.waiting.insert(id, (addr, tx));
        g.by_addr.entry(addr).or_default().push_back(id);
        g.order.push_back(id);
        if g.order.len() > 2 * g.waiting.len() + 64 {
            let Inner { order, waiting, .. } = &mut *g;
            order.retain(|i| waiting.contains_key(i));
        }
        stats
            .waiting
            .store(g.waiting.len() as u64, Ordering::Relaxed);
        (
            Waiting {
                admission: Arc::clone(self),
                id,
                addr,
                counters: Arc::clone(counters),
            },
            rx,
        )
    }

    /// An open connection for a client that passed its CONNECT, or why not.
    pub(crate) fn open(
        self: &Arc<Self>,
        addr: IpAddr,
        known: bool,
        account: Option<&str>,
    ) -> Result<Open, Busy> {
        let l = &self.limits;
        let mut g = self.lock();
        if g.known + g.anonymous >= l.max_connections {
            return Err(Busy::Total);
        }
        if !known {
            if g.anonymous >= l.max_anonymous {
                return Err(Busy::Total);
            }
            if g.anonymous_by_addr.get(&addr).copied().unwrap_or(0) >= l.anonymous_per_address {
                return Err(Busy::Address);
            }
        }
        if let Some(account) = account
            && g.by_account.get(account).copied().unwrap_or(0) >= l.per_account
        {
            return Err(Busy::Account);
        }
        if known {
            g.known += 1;
        } else {
            g.anonymous += 1;
            *g.anonymous_by_addr.entry(addr).or_default() += 1;
        }
        if let Some(account) = account {
            *g.by_account.entry(account.to_owned()).or_default() += 1;
        }
        Ok(Open {
            admission: Arc::clone(self),
            addr,
            known,
            account: account.map(str::to_owned),
        })
    }

    pub(crate) fn open_now(&self) -> usize {
        let g = self.lock();
        g.known + g.anonymous
    }
}

impl Inner {
    fn evict(&mut self, id: u64, stats: &crate::GateStats) {
        if let Some((_, tx)) = self.waiting.remove(&id) {
            let _ = tx.send(());
            stats.evicted.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A socket waiting for its CONNECT; leaves the queue when dropped.
pub(crate) struct Waiting {
    admission: Arc<Admission>,
    id: u64,
    addr: IpAddr,
    /// For the gauge of waiting sockets.
    counters: Arc<IngestStats>,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let mut g = self.admission.lock();
        if g.waiting.remove(&self.id).is_some()
            && let Some(q) = g.by_addr.get_mut(&self.addr)
        {
            q.retain(|i| *i != self.id);
        }
        if g.by_addr.get(&self.addr).is_some_and(VecDeque::is_empty) {
            g.by_addr.remove(&self.addr);
        }
        let waiting = g.waiting.len() as u64;
        self.counters.gate.waiting.store(waiting, Ordering::Relaxed);
    }
}

/// An open connection; gives its place back when dropped.
pub(crate) struct Open {
    admission: Arc<Admission>,
    addr: IpAddr,
    known: bool,
    account: Option<String>,
}

impl Drop for Open {
    fn drop(&mut self) {
        let mut g = self.admission.lock();
        if self.known {
            g.known -= 1;
        } else {
            g.anonymous -= 1;
            if let Some(n) = g.anonymous_by_addr.get_mut(&self.addr) {
                *n -= 1;
                if *n == 0 {
                    g.anonymous_by_addr.remove(&self.addr);
                }
            }
        }
        if let Some(account) = &self.account
            && let Some(n) = g.by_account.get_mut(account)
        {
            *n -= 1;
            if *n == 0 {
                g.by_account.remove(account);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> BrokerLimits {
        BrokerLimits {
            max_connections: 4,
            max_anonymous: 2,
            anonymous_per_address: 1,
            per_account: 1,
            max_waiting: 3,
            waiting_per_address: 2,
            ..BrokerLimits::default()
        }
    }

    #[test]
    fn the_oldest_waiting_socket_of_an_address_makes_room() {
        let a = Admission::new(limits());
        let counters = Arc::new(IngestStats::default());
        let stats = &counters.gate;
        let ip: IpAddr = [10, 0, 0, 1].into();
        let (w1, mut r1) = a.wait(ip, &counters);
        let (_w2, mut r2) = a.wait(ip, &counters);
        let (_w3, mut r3) = a.wait(ip, &counters);
        assert!(r1.try_recv().is_ok(), "the oldest was told to go");
        assert!(r2.try_recv().is_err() && r3.try_recv().is_err());
        drop(w1);
        // Another address: the global cap of 3 evicts the oldest of all (w2).
        let other: IpAddr = [10, 0, 0, 2].into();
        let (w4, _r4) = a.wait(other, &counters);
        let (_w5, _r5) = a.wait(other, &counters);
        assert!(r2.try_recv().is_ok());
        assert_eq!(stats.evicted.load(Ordering::Relaxed), 2);
        assert_eq!(stats.waiting.load(Ordering::Relaxed), 3, "w3, w4, w5 wait");
        drop(w4);
        assert_eq!(
            stats.waiting.load(Ordering::Relaxed),
            2,
            "the gauge follows a socket that leaves"
        );
    }

    #[test]
    fn known_devices_find_room_when_anonymous_clients_are_at_their_cap() {
        let a = Admission::new(limits());
        let ip: IpAddr = [10, 0, 0, 1].into();
        let anon = a.open(ip, false, None).expect("first anonymous");
        assert_eq!(a.open(ip, false, None).err(), Some(Busy::Address));
        let _anon2 = a
            .open([10, 0, 0, 2].into(), false, None)
            .expect("another address");
        assert_eq!(
            a.open([10, 0, 0, 3].into(), false, None).err(),
            Some(Busy::Total)
        );
        let dev = a.open(ip, true, Some("d1")).expect("a known device");
        assert_eq!(a.open(ip, true, Some("d1")).err(), Some(Busy::Account));
        let _dev2 = a.open(ip, true, Some("d2")).expect("another device");
        assert_eq!(a.open(ip, true, Some("d3")).err(), Some(Busy::Total));
        drop(dev);
        drop(anon);
        assert_eq!(a.open_now(), 2);
        a.open(ip, true, Some("d1")).expect("room again");
    }
}
