//! What webhook requests may hold while they are read and recorded: memory for bodies — one
//! budget for requests whose key was right, a small separate one for requests refused before
//! their body (unknown webhook, wrong key, wrong method), each bounded per client address and
//! per webhook — and how many answered rejections a webhook may have recorded each second. So a
//! client without a key, or one that stalls, cannot take what valid senders need.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use crate::quota::{Exceeded, Quota, QuotaGuard};

/// Settings (`hookflow serve` flags of the same names, in bytes here).
#[derive(Debug, Clone)]
pub struct BudgetLimits {
    /// `--ingest-memory-mb`: bodies of requests with the right key, in all.
    pub bodies: u64,
    /// `--ingest-memory-per-client-mb`.
    pub bodies_per_client: u64,
    /// `--ingest-memory-per-webhook-mb`.
    pub bodies_per_webhook: u64,
    /// `--unauthenticated-memory-mb`: bodies of requests refused before their body is needed,
    /// read only to be recorded. A client address may hold 1/16 of it, a webhook 1/4.
    pub unauthenticated: u64,
    /// `--rejected-records-per-second`: answered rejections recorded per webhook and second on
    /// this node (`0`: all); the others are counted in `/metrics` only.
    pub rejected_records_per_second: u32,
}

impl Default for BudgetLimits {
    fn default() -> Self {
        BudgetLimits {
            bodies: 256 * 1_048_576,
            bodies_per_client: 64 * 1_048_576,
            bodies_per_webhook: 128 * 1_048_576,
            unauthenticated: 16 * 1_048_576,
            rejected_records_per_second: 100,
        }
    }
}

/// The budgets, counted in KiB.
pub struct IngestBudgets {
    pub limits: BudgetLimits,
    bodies: Arc<Quota<IpAddr>>,
    bodies_by_webhook: Arc<Quota<String>>,
    unauthenticated: Arc<Quota<IpAddr>>,
    unauthenticated_by_webhook: Arc<Quota<String>>,
    /// Per webhook: the second and how many rejections were recorded in it.
    recorded: Mutex<HashMap<String, (i64, u32)>>,
    /// Per webhook: when a refused key was last checked against the database.
    rechecked: Mutex<HashMap<String, std::time::Instant>>,
}

/// A key the cached view refuses is checked against the database at most this often per
/// webhook: a key rotated on another node works here at once, or — during a flood of wrong keys
/// for that webhook — within this time.
pub const RECHECK_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// Memory held for one body; given back on drop.
pub struct Held(
    #[allow(dead_code)] QuotaGuard<IpAddr>,
    #[allow(dead_code)] QuotaGuard<String>,
);

/// Which bound refused memory for a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Short {
    Total,
    Client,
    Webhook,
}

fn kib(bytes: u64) -> u64 {
    bytes.div_ceil(1024).max(1)
}

impl IngestBudgets {
    pub fn new(limits: BudgetLimits) -> Self {
        let (b, u) = (kib(limits.bodies), kib(limits.unauthenticated));
        IngestBudgets {
            bodies: Quota::new(b, kib(limits.bodies_per_client)),
            bodies_by_webhook: Quota::new(b, kib(limits.bodies_per_webhook)),
            unauthenticated: Quota::new(u, (u / 16).max(1)),
            unauthenticated_by_webhook: Quota::new(u, (u / 4).max(1)),
            recorded: Mutex::new(HashMap::new()),
            rechecked: Mutex::new(HashMap::new()),
            limits,
        }
    }

    /// Memory for a body of up to `bytes` from `client` to `webhook`, from the budget of
    /// requests whose key was right.
    pub fn body(&self, client: IpAddr, webhook: &str, bytes: u64) -> Result<Held, Short> {
        take(
            &self.bodies,
            &self.bodies_by_webhook,
            client,
            webhook,
            bytes,
        )
    }

    /// Memory to read up to `bytes` of a refused request's body for its record.
    pub fn unauthenticated(
        &self,
        client: IpAddr,
        webhook: &str,
        bytes: u64,
    ) -> Result<Held, Short> {
        take(
            &self.unauthenticated,
            &self.unauthenticated_by_webhook,
            client,
            webhook,
            bytes,
        )
    }

    /// KiB of bodies with the right key held now.
    pub fn bodies_held_kib(&self) -> u64 {
        self.bodies.used(&IpAddr::from([0, 0, 0, 0])).0
    }

    /// Whether a key refused by the cached view of `webhook` is to be checked against the
    /// database now ([`RECHECK_EVERY`]).
    pub fn may_recheck(&self, webhook: &str, now: std::time::Instant) -> bool {
        let mut m = self.rechecked.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() > 10_000 {
            m.retain(|_, at| now.duration_since(*at) < RECHECK_EVERY);
        }
        match m.get(webhook) {
            Some(at) if now.duration_since(*at) < RECHECK_EVERY => false,
            _ => {
                m.insert(webhook.to_string(), now);
                true
            }
        }
    }

    /// Whether one more answered rejection of `webhook` may be recorded in the second `now_s`.
    pub fn may_record(&self, webhook: &str, now_s: i64) -> bool {
        if self.limits.rejected_records_per_second == 0 {
            return true;
        }
        let mut m = self.recorded.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() > 10_000 {
            // Only webhooks that exist get here; drop the stale seconds now and then.
            m.retain(|_, (s, _)| *s == now_s);
        }
        let e = m.entry(webhook.to_string()).or_insert((now_s, 0));
        if e.0 != now_s {
            *e = (now_s, 0);
        }
        if e.1 >= self.limits.rejected_records_per_second {
            return false;
        }
        e.1 += 1;
        true
    }
}

fn take(
    by_client: &Arc<Quota<IpAddr>>,
    by_webhook: &Arc<Quota<String>>,
    client: IpAddr,
    webhook: &str,
    bytes: u64,
) -> Result<Held, Short> {
    let n = kib(bytes);
    let c = by_client.try_take(client, n).map_err(|e| match e {
        Exceeded::Total(_) => Short::Total,
        Exceeded::PerKey(_) => Short::Client,
    })?;
    let w = by_webhook
        .try_take(webhook.to_string(), n)
        .map_err(|_| Short::Webhook)?;
    Ok(Held(c, w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_and_a_webhook_get_only_their_share() {
        let b = IngestBudgets::new(BudgetLimits {
            bodies: 4 * 1_048_576,
            bodies_per_client: 1_048_576,
            bodies_per_webhook: 2 * 1_048_576,
            ..BudgetLimits::default()
        });
        let a: IpAddr = [10, 0, 0, 1].into();
        let c: IpAddr = [10, 0, 0, 2].into();
        let d: IpAddr = [10, 0, 0, 3].into();
        let h1 = b.body(a, "w", 1_048_576).unwrap();
        assert_eq!(b.body(a, "w", 1).err(), Some(Short::Client));
        let _h2 = b.body(c, "w", 1_048_576).unwrap();
        assert_eq!(b.body(d, "w", 1).err(), Some(Short::Webhook));
        let _h3 = b.body(d, "v", 1_048_576).unwrap();
        assert_eq!(b.bodies_held_kib(), 3 * 1024);
        drop(h1);
        assert!(b.body(a, "w", 1_048_576).is_ok());
    }

    #[test]
    fn refused_keys_are_rechecked_at_most_every_interval() {
        let b = IngestBudgets::new(BudgetLimits::default());
        let t = std::time::Instant::now();
        assert!(b.may_recheck("w", t));
        assert!(!b.may_recheck("w", t + RECHECK_EVERY / 2));
        assert!(b.may_recheck("v", t));
        assert!(b.may_recheck("w", t + RECHECK_EVERY));
    }

    #[test]
    fn recorded_rejections_per_webhook_and_second() {
        let b = IngestBudgets::new(BudgetLimits {
            rejected_records_per_second: 2,
            ..BudgetLimits::default()
        });
        assert!(b.may_record("w", 10));
        assert!(b.may_record("w", 10));
        assert!(!b.may_record("w", 10));
        assert!(b.may_record("v", 10));
        assert!(b.may_record("w", 11));
    }
}
