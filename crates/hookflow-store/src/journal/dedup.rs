//! Duplicate detection in the journal (SPEC §9): which accepted requests of a batch claim a
//! dedup key, the claims written inside the batch's transaction (the first claim of a key wins,
//! on one node or several), and the requests that become duplicates of the key's holder.
//!
//! On SQLite the keys are held in the writer's memory up to a bound, the rest in `dedup_keys`
//! ([`super::memory_keys`]).
//!
//! On PostgreSQL the batch has locked the rate-window rows of every webhook it writes for before
//! it claims keys, so two nodes' batches for one webhook take turns and cannot deadlock on keys.

use std::collections::{HashMap, HashSet};

use hookflow_core::expr::Sandbox;

use super::batch::Loaded;
use super::{IngestRequest, Outcome};
use crate::dedup::{CLAIM_SQL, HOLDER_SQL};

/// An accepted request with a dedup key: the key it claims for its delivery.
pub(super) struct DedupClaim {
    /// Index of the request in the batch.
    pub index: usize,
    pub webhook_id: String,
    pub key_hash: [u8; 32],
    pub delivery_id: String,
    pub expires_at: i64,
}

/// The claims of a batch's accepted requests whose committed webhook has `dedup` and which have
/// a key, in arrival order.
pub(super) fn dedup_claims(
    reqs: &[&IngestRequest],
    outcomes: &[Outcome],
    loaded: &HashMap<String, Loaded>,
    sandbox: &Sandbox,
    now: i64,
) -> Vec<DedupClaim> {
    let mut claims = Vec::new();
    for (index, (req, outcome)) in reqs.iter().zip(outcomes).enumerate() {
        let Outcome::Accepted { delivery_id } = outcome else {
            continue;
        };
        let Some(hook) = loaded.get(&req.webhook_id) else {
            continue;
        };
        let Some(dedup) = &hook.auth.dedup else {
            continue;
        };
        // A request whose signature failed (accepted in log_only mode) neither claims a key nor
        // is a duplicate: else a forged request could make the genuine one a "duplicate".
        if req
            .verification
            .as_ref()
            .is_some_and(|v| v.verdict != hookflow_core::verify::VerdictKind::Valid)
        {
            continue;
        }
        let expression = dedup.expression();
        let key = match &req.dedup {
            Some(k) if k.expression == expression => k.key.clone(),
            // The webhook's dedup changed since the HTTP layer looked: the committed one decides.
            _ => hookflow_core::filters::dedup_key(
                sandbox,
                &req.recorded(&hook.auth.name, None),
                expression,
            ),
        };
        let Some(key) = key else { continue };
        claims.push(DedupClaim {
            index,
            webhook_id: req.webhook_id.clone(),
            key_hash: crate::crypto::digest(&key),
            delivery_id: delivery_id.clone(),
            expires_at: now.saturating_add(dedup.window_ms()),
        });
    }
    claims
}

/// The claims to write: the first of each (webhook, key) of the batch, in order.
pub(super) fn first_claims(claims: &[DedupClaim]) -> Vec<&DedupClaim> {
    let mut seen = HashSet::new();
    claims
        .iter()
        .filter(|c| seen.insert((c.webhook_id.as_str(), c.key_hash)))
        .collect()
}

/// The key a request of the batch holds once the batch commits: its hash and when its window
/// ends, recorded on the request's delivery row (the key's durable record).
pub(crate) type HeldKey = ([u8; 32], i64);

/// Turns every claimed request whose key another delivery holds into a duplicate of it, and
/// answers the key each request holds, by index in the batch (`None`: it holds none).
/// `holders` maps (webhook, key) to the delivery that holds the key after this batch's claims.
pub(super) fn mark_duplicates(
    outcomes: &mut [Outcome],
    claims: &[DedupClaim],
    holders: &Holders,
) -> Vec<Option<HeldKey>> {
    let mut held = vec![None; outcomes.len()];
    for c in claims {
        let Some(holder) = holders.get(&(c.webhook_id.clone(), c.key_hash)) else {
            continue;
        };
        if *holder == c.delivery_id {
            held[c.index] = Some((c.key_hash, c.expires_at));
        } else {
            outcomes[c.index] = Outcome::Duplicate {
                delivery_id: c.delivery_id.clone(),
                duplicate_of: holder.clone(),
            };
        }
    }
    held
}

/// Who holds each key of a batch.
pub(super) type Holders = HashMap<(String, [u8; 32]), String>;

/// Writes the batch's claims on PostgreSQL.
pub(super) async fn claim_postgres(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    claims: &[DedupClaim],
    now: i64,
) -> Result<Holders, sqlx::Error> {
    let mut holders = Holders::new();
    for c in first_claims(claims) {
        let won: Option<String> = sqlx::query_scalar(CLAIM_SQL)
            .bind(&c.webhook_id)
            .bind(&c.key_hash[..])
            .bind(&c.delivery_id)
            .bind(c.expires_at)
            .bind(now)
            .fetch_optional(&mut **tx)
            .await?;
        let who = match won {
            Some(w) => w,
            None => {
                sqlx::query_scalar(HOLDER_SQL)
                    .bind(&c.webhook_id)
                    .bind(&c.key_hash[..])
                    .fetch_one(&mut **tx)
                    .await?
            }
        };
        holders.insert((c.webhook_id.clone(), c.key_hash), who);
    }
    Ok(holders)
}
