//! Counted shares of a bounded resource — connections, bytes of bodies held in memory — with a
//! total and a cap per key (a client address, a webhook), so that one client or one webhook
//! cannot take everything. A share is given back when its [`QuotaGuard`] is dropped. Process-local
//! by nature: it bounds this node's memory and sockets, it routes nothing.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// Which bound refused a share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    /// The total over every key.
    Total(u64),
    /// The cap of one key.
    PerKey(u64),
}

/// A resource of `total` units of which one key may hold at most `per_key`.
#[derive(Debug)]
pub struct Quota<K: Hash + Eq + Clone> {
    total: u64,
    per_key: u64,
    state: Mutex<State<K>>,
}

#[derive(Debug)]
struct State<K> {
    used: u64,
    by_key: HashMap<K, u64>,
}

/// A share of a [`Quota`], returned on drop.
#[derive(Debug)]
pub struct QuotaGuard<K: Hash + Eq + Clone> {
    quota: Arc<Quota<K>>,
    key: K,
    amount: u64,
}

impl<K: Hash + Eq + Clone> Quota<K> {
    /// `per_key` is clamped to `total`; `0` for either means nothing can be taken.
    pub fn new(total: u64, per_key: u64) -> Arc<Self> {
        Arc::new(Quota {
            total,
            per_key: per_key.min(total),
            state: Mutex::new(State {
                used: 0,
                by_key: HashMap::new(),
            }),
        })
    }

    /// Takes `amount` units for `key` if both bounds allow it; never waits.
    pub fn try_take(self: &Arc<Self>, key: K, amount: u64) -> Result<QuotaGuard<K>, Exceeded> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let held = st.by_key.get(&key).copied().unwrap_or(0);
        if held + amount > self.per_key {
            return Err(Exceeded::PerKey(self.per_key));
        }
        if st.used + amount > self.total {
            return Err(Exceeded::Total(self.total));
        }
        st.used += amount;
        *st.by_key.entry(key.clone()).or_insert(0) += amount;
        Ok(QuotaGuard {
            quota: self.clone(),
            key,
            amount,
        })
    }

    /// Units held in all, and by `key`.
    pub fn used(&self, key: &K) -> (u64, u64) {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        (st.used, st.by_key.get(key).copied().unwrap_or(0))
    }

    pub fn per_key(&self) -> u64 {
        self.per_key
    }
}

impl<K: Hash + Eq + Clone> Drop for QuotaGuard<K> {
    fn drop(&mut self) {
        let mut st = self.quota.state.lock().unwrap_or_else(|p| p.into_inner());
        st.used -= self.amount;
        if let Some(held) = st.by_key.get_mut(&self.key) {
            *held -= self.amount;
            if *held == 0 {
                // Keys come and go with clients: the map holds only those holding something.
                st.by_key.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_key_and_total_bounds_and_release() {
        let q = Quota::<&str>::new(10, 6);
        let a = q.try_take("a", 6).unwrap();
        assert_eq!(q.try_take("a", 1).unwrap_err(), Exceeded::PerKey(6));
        let b = q.try_take("b", 4).unwrap();
        assert_eq!(q.try_take("c", 1).unwrap_err(), Exceeded::Total(10));
        drop(a);
        assert_eq!(q.used(&"a"), (4, 0));
        let _c = q.try_take("c", 6).unwrap();
        drop(b);
        assert_eq!(q.used(&"b"), (6, 0));
        assert_eq!(
            q.state.lock().unwrap().by_key.len(),
            1,
            "released keys are forgotten"
        );
    }

    #[test]
    fn per_key_is_clamped_to_total() {
        let q = Quota::<u8>::new(3, 100);
        assert_eq!(q.per_key(), 3);
        assert_eq!(q.try_take(1, 4).unwrap_err(), Exceeded::PerKey(3));
    }
}
