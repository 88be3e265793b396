//! Room for new connections when every slot is taken. Without it, anyone with a hundred client
//! addresses could hold every slot with connections that send nothing (each under the per-client
//! limit, each until the header timeout) and keep valid senders out for as long as they like.
//!
//! So when the total is full, a new connection takes the slot of an open connection that is
//! waiting for a request — silent, half a header section sent, or kept alive with nothing to
//! send — and has waited at least `--evict-idle-after-ms`; that connection is closed (a client
//! that keeps connections alive must expect the server to close idle ones). A connection in the
//! middle of a request (its header section read, its answer not yet given) is never taken.
//! Among the waiting ones the longest-open go first, so an attacker's connections, which never
//! start a request, are the ones that make room.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::quota::QuotaGuard;

/// Connections looked at per new connection before giving up on finding room, so that a full
/// table of busy connections costs a bounded scan per refusal.
const SCAN_LIMIT: usize = 1024;

/// The open connections in the order they were accepted.
pub(crate) struct Connections {
    queue: Mutex<VecDeque<Arc<Conn>>>,
    evict_after: Duration,
    epoch: Instant,
}

/// One open connection: whether it is in a request, since when it has waited for one, and its
/// connection slot (given back when it closes or is evicted).
pub(crate) struct Conn {
    in_request: AtomicU32,
    waiting_since_ms: AtomicU64,
    slot: Mutex<Option<QuotaGuard<IpAddr>>>,
    closed: AtomicBool,
    evicted: Notify,
}

impl Connections {
    pub(crate) fn new(evict_after: Duration) -> Arc<Self> {
        Arc::new(Connections {
            queue: Mutex::new(VecDeque::new()),
            evict_after,
            epoch: Instant::now(),
        })
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Registers a connection that holds `slot`.
    pub(crate) fn open(&self, slot: QuotaGuard<IpAddr>) -> Arc<Conn> {
        let conn = Arc::new(Conn {
            in_request: AtomicU32::new(0),
            waiting_since_ms: AtomicU64::new(self.now_ms()),
            slot: Mutex::new(Some(slot)),
            closed: AtomicBool::new(false),
            evicted: Notify::new(),
        });
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        q.push_back(conn.clone());
        // Closed connections leave the queue when they reach its front or here, in one pass once
        // they are half of it: the queue stays within twice the open connections.
        if q.len() >= 64 && q.len().is_multiple_of(64) {
            let open = q.iter().filter(|c| !c.is_closed()).count();
            if open * 2 < q.len() {
                q.retain(|c| !c.is_closed());
            }
        }
        conn
    }

    /// Evicts the longest-open connection that has waited for a request at least
    /// `evict_after`: gives its slot back at once and tells its task to close it. Answers
    /// whether one was evicted.
    pub(crate) fn evict_one(&self) -> bool {
        let now = self.now_ms();
        let min_wait = self.evict_after.as_millis() as u64;
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        while q.front().is_some_and(|c| c.is_closed()) {
            q.pop_front();
        }
        let victim = q.iter().take(SCAN_LIMIT).position(|c| {
            !c.is_closed()
                && c.in_request.load(Ordering::Acquire) == 0
                && now.saturating_sub(c.waiting_since_ms.load(Ordering::Acquire)) >= min_wait
        });
        let Some(i) = victim else {
            return false;
        };
        let conn = q.remove(i).expect("index found above");
        drop(q);
        conn.close();
        conn.evicted.notify_one();
        true
    }

    /// Marks the start of a request on `conn`; the guard marks its end when dropped.
    pub(crate) fn request(self: &Arc<Self>, conn: &Arc<Conn>) -> InRequest {
        conn.in_request.fetch_add(1, Ordering::AcqRel);
        InRequest {
            table: self.clone(),
            conn: conn.clone(),
        }
    }
}

impl Conn {
    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Gives the slot back (once) and marks the connection closed.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.slot.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    /// Completes when the connection was evicted.
    pub(crate) async fn evicted(&self) {
        self.evicted.notified().await
    }
}

/// A request in progress on a connection: while one is, the connection is never evicted.
pub(crate) struct InRequest {
    table: Arc<Connections>,
    conn: Arc<Conn>,
}

impl Drop for InRequest {
    fn drop(&mut self) {
        self.conn
            .waiting_since_ms
            .store(self.table.now_ms(), Ordering::Release);
        self.conn.in_request.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::Quota;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, n])
    }

    #[test]
    fn only_connections_waiting_long_enough_and_not_in_a_request_are_evicted() {
        let quota = Quota::<IpAddr>::new(3, 3);
        let table = Connections::new(Duration::ZERO);
        let a = table.open(quota.try_take(ip(1), 1).unwrap());
        let b = table.open(quota.try_take(ip(2), 1).unwrap());
        let _c = table.open(quota.try_take(ip(3), 1).unwrap());
        assert!(quota.try_take(ip(4), 1).is_err(), "full");
        // `a` is in a request: `b`, the next oldest, makes room.
        let busy = table.request(&a);
        assert!(table.evict_one());
        assert!(b.is_closed() && !a.is_closed());
        assert!(
            quota.try_take(ip(4), 1).is_ok(),
            "the slot came back at once"
        );
        drop(busy);
        assert!(table.evict_one(), "a waits again once its request ended");
        assert!(a.is_closed());

        let table = Connections::new(Duration::from_secs(3600));
        let quota = Quota::<IpAddr>::new(1, 1);
        let _d = table.open(quota.try_take(ip(1), 1).unwrap());
        assert!(!table.evict_one(), "nothing has waited an hour");
    }

    #[test]
    fn closed_connections_do_not_pile_up() {
        let quota = Quota::<IpAddr>::new(10_000, 10_000);
        let table = Connections::new(Duration::ZERO);
        let keep = table.open(quota.try_take(ip(1), 1).unwrap());
        let _busy = table.request(&keep);
        for _ in 0..5000 {
            let c = table.open(quota.try_take(ip(2), 1).unwrap());
            c.close();
        }
        let len = table.queue.lock().unwrap().len();
        assert!(len <= 128, "{len} entries kept for 1 open connection");
    }
}
