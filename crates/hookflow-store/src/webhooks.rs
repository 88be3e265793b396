//! Webhooks: the endpoints events are pushed to. Their keys are stored twice — as a SHA-256
//! digest to verify requests in constant time, and sealed with the master key so the details can
//! show the Webhook URL again. Every change bumps `version`, which is how the ingest path notices
//! that a cached copy is stale.

use std::collections::HashMap;

use hookflow_core::dedup::Dedup;
use hookflow_core::ingest::WebhookAuth;
use hookflow_core::ingest::rate::{DAY_MS, MINUTE_MS, RateClock};
use sqlx::Row;

use crate::crypto::{digest, new_webhook_key};
use crate::db::on_db;
use crate::{Result, Store, StoreError, names_nothing, new_id, no_nul, now_ms};

/// Accepted requests in the current windows, and when a limit last refused one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Usage {
    pub minute: i64,
    pub day: i64,
    pub last_limited_at: Option<i64>,
}

/// A webhook as the management API shows it (with its key, decrypted).
#[derive(Debug, Clone)]
pub struct Webhook {
    pub id: String,
    pub name: String,
    pub content_type: String,
    pub rate_limit_per_minute: i64,
    pub rate_limit_per_day: i64,
    pub api_key: String,
    pub previous_key_expires_at: Option<i64>,
    /// Duplicate detection (SPEC §9), if set.
    pub dedup: Option<Dedup>,
    /// Signature verification, without its secrets (SPEC §9).
    pub verification: Option<hookflow_core::verify::Settings>,
    pub usage: Usage,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What creating a webhook takes (already validated by the caller).
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub name: String,
    pub content_type: String,
    pub rate_limit_per_minute: i64,
    pub rate_limit_per_day: i64,
    pub dedup: Option<Dedup>,
}

/// A partial update; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct WebhookPatch {
    pub name: Option<String>,
    pub content_type: Option<String>,
    pub rate_limit_per_minute: Option<i64>,
    pub rate_limit_per_day: Option<i64>,
    /// `Some(None)` removes duplicate detection.
    pub dedup: Option<Option<Dedup>>,
}

const COLUMNS: &str = "w.id, w.name, w.content_type, w.rate_limit_per_minute, \
    w.rate_limit_per_day, w.key_hash, w.key_sealed, w.prev_key_hash, w.prev_key_expires_at, \
    w.version, w.last_limited_at, w.created_at, w.updated_at, w.dedup_key, w.dedup_window_seconds, \
    w.verification, w.verification_sealed, \
    m.window_start AS m_start, m.count AS m_count, d.window_start AS d_start, d.count AS d_count";
const FROM: &str = "webhooks w \
    LEFT JOIN rate_windows m ON m.webhook_id = w.id AND m.period = 'minute' \
    LEFT JOIN rate_windows d ON d.webhook_id = w.id AND d.period = 'day'";

/// A raw webhook row, before the key is unsealed.
pub(crate) struct Raw {
    pub(crate) auth: WebhookAuth,
    pub(crate) key_sealed: Vec<u8>,
    pub(crate) last_limited_at: Option<i64>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    pub(crate) minute: (Option<i64>, Option<i64>),
    pub(crate) day: (Option<i64>, Option<i64>),
}

macro_rules! raw_from_row {
    ($r:expr) => {{
        let r = $r;
        $crate::webhooks::Raw {
            auth: hookflow_core::ingest::WebhookAuth {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                version: r.try_get("version")?,
                content_type: r.try_get("content_type")?,
                key_hash: $crate::webhooks::to_digest(r.try_get("key_hash")?)?,
                prev_key_hash: r
                    .try_get::<Option<Vec<u8>>, _>("prev_key_hash")?
                    .map($crate::webhooks::to_digest)
                    .transpose()?,
                prev_key_expires_at: r.try_get("prev_key_expires_at")?,
                rate_limit_per_minute: r.try_get("rate_limit_per_minute")?,
                rate_limit_per_day: r.try_get("rate_limit_per_day")?,
                dedup: $crate::webhooks::dedup_of(
                    r.try_get("dedup_key")?,
                    r.try_get("dedup_window_seconds")?,
                ),
                verification: $crate::verification::spec(
                    r.try_get("verification")?,
                    r.try_get("verification_sealed")?,
                )?,
            },
            key_sealed: r.try_get("key_sealed")?,
            last_limited_at: r.try_get("last_limited_at")?,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
            minute: (r.try_get("m_start")?, r.try_get("m_count")?),
            day: (r.try_get("d_start")?, r.try_get("d_count")?),
        }
    }};
}

/// A webhook's `dedup` from its two columns.
pub(crate) fn dedup_of(key: Option<String>, window_seconds: Option<i64>) -> Option<Dedup> {
    Some(Dedup {
        key: key?,
        window_seconds: window_seconds?,
    })
}

pub(crate) fn to_digest(v: Vec<u8>) -> Result<[u8; 32], sqlx::Error> {
    v.try_into()
        .map_err(|_| sqlx::Error::Decode("a key digest is not 32 bytes".into()))
}

/// The count of a stored window if it is the current one at `clock`.
fn current(stored: (Option<i64>, Option<i64>), clock: &RateClock, period: i64) -> i64 {
    match stored {
        (Some(start), Some(count)) => clock.current(start, count, period),
        _ => 0,
    }
}

impl Store {
    fn finish(&self, raw: Raw) -> Result<Webhook> {
        let now = now_ms();
        let clock = RateClock::at(now);
        let key = self.key.open(&raw.key_sealed, &raw.auth.id)?;
        Ok(Webhook {
            usage: Usage {
                minute: current(raw.minute, &clock, MINUTE_MS),
                day: current(raw.day, &clock, DAY_MS),
                last_limited_at: raw.last_limited_at,
            },
            api_key: String::from_utf8(key)
                .map_err(|_| StoreError::Internal("a webhook key is not UTF-8".into()))?,
            previous_key_expires_at: raw.auth.prev_key_expires_at.filter(|t| *t > now),
            dedup: raw.auth.dedup,
            verification: raw.auth.verification.as_ref().map(|v| v.settings.clone()),
            id: raw.auth.id,
            name: raw.auth.name,
            content_type: raw.auth.content_type,
            rate_limit_per_minute: raw.auth.rate_limit_per_minute,
            rate_limit_per_day: raw.auth.rate_limit_per_day,
            created_at: raw.created_at,
            updated_at: raw.updated_at,
        })
    }

    async fn raw_webhook(&self, id: &str) -> Result<Option<Raw>> {
        if names_nothing(id) {
            return Ok(None);
        }
        let sql = format!("SELECT {COLUMNS} FROM {FROM} WHERE w.id = $1");
        on_db!(&self.db, |p| {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch_optional(p)
                .await?;
            Ok(match row {
                Some(r) => Some(raw_from_row!(&r)),
                None => None,
            })
        })
    }

    /// Creates a webhook with a fresh key. 409 (`Conflict`) on a duplicate name.
    pub async fn create_webhook(&self, new: NewWebhook) -> Result<Webhook> {
        no_nul("a webhook name", &new.name)?;
        no_nul("a content type", &new.content_type)?;
        if let Some(d) = &new.dedup {
            no_nul("a dedup key", &d.key)?;
        }
        let id = new_id();
        let key = new_webhook_key();
        let sealed = self.key.seal(key.as_bytes(), &id);
        let now = now_ms();
        let res = on_db!(&self.db, |p| {
            sqlx::query(
                "INSERT INTO webhooks (id, name, content_type, rate_limit_per_minute, \
                 rate_limit_per_day, key_hash, key_sealed, version, created_at, updated_at, \
                 dedup_key, dedup_window_seconds) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $8, $9, $10)",
            )
            .bind(&id)
            .bind(&new.name)
            .bind(&new.content_type)
            .bind(new.rate_limit_per_minute)
            .bind(new.rate_limit_per_day)
            .bind(digest(&key).to_vec())
            .bind(sealed)
            .bind(now)
            .bind(new.dedup.as_ref().map(|d| d.key.as_str()))
            .bind(new.dedup.as_ref().map(|d| d.window_seconds))
            .execute(p)
            .await
            .map(|_| ())
        });
        res.map_err(|e| name_conflict(e, &new.name))?;
        self.get_webhook(&id)
            .await?
            .ok_or_else(|| StoreError::Internal("created webhook vanished".into()))
    }

    /// One webhook, or `None`.
    pub async fn get_webhook(&self, id: &str) -> Result<Option<Webhook>> {
        match self.raw_webhook(id).await? {
            Some(raw) => Ok(Some(self.finish(raw)?)),
            None => Ok(None),
        }
    }

    /// Newest first; `cursor` is the last id of the previous page.
    pub async fn list_webhooks(
        &self,
        limit: i64,
        cursor: Option<&str>,
    ) -> Result<(Vec<Webhook>, Option<String>)> {
        if cursor.is_some_and(names_nothing) {
            return Ok((Vec::new(), None));
        }
        let sql = format!(
            "SELECT {COLUMNS} FROM {FROM} WHERE ($1 = '' OR w.id < $1) ORDER BY w.id DESC LIMIT $2"
        );
        let after = cursor.unwrap_or("");
        let raws: Vec<Raw> = on_db!(&self.db, |p| {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(after)
                .bind(limit + 1)
                .fetch_all(p)
                .await?;
            rows.iter()
                .map(|r| Ok(raw_from_row!(r)))
                .collect::<Result<Vec<_>, sqlx::Error>>()
        })?;
        page(raws, limit, |r| r.auth.id.clone())
            .map_items(|raws| raws.into_iter().map(|r| self.finish(r)).collect())
    }

    /// Applies `patch`; `NotFound` if there is no such webhook.
    pub async fn update_webhook(&self, id: &str, patch: WebhookPatch) -> Result<Webhook> {
        if names_nothing(id) {
            return Err(not_found(id));
        }
        no_nul("a webhook name", patch.name.as_deref().unwrap_or(""))?;
        no_nul(
            "a content type",
            patch.content_type.as_deref().unwrap_or(""),
        )?;
        if let Some(Some(d)) = &patch.dedup {
            no_nul("a dedup key", &d.key)?;
        }
        let name = patch.name.clone();
        let dedup = patch.dedup.clone();
        let res = on_db!(&self.db, |p| {
            sqlx::query(
                "UPDATE webhooks SET name = COALESCE($2, name), \
                 content_type = COALESCE($3, content_type), \
                 rate_limit_per_minute = COALESCE($4, rate_limit_per_minute), \
                 rate_limit_per_day = COALESCE($5, rate_limit_per_day), \
                 dedup_key = CASE WHEN $7 THEN $8 ELSE dedup_key END, \
                 dedup_window_seconds = CASE WHEN $7 THEN $9 ELSE dedup_window_seconds END, \
                 version = version + 1, updated_at = $6 WHERE id = $1",
            )
            .bind(id)
            .bind(patch.name)
            .bind(patch.content_type)
            .bind(patch.rate_limit_per_minute)
            .bind(patch.rate_limit_per_day)
            .bind(now_ms())
            .bind(dedup.is_some())
            .bind(
                dedup
                    .as_ref()
                    .and_then(|d| d.as_ref().map(|d| d.key.clone())),
            )
            .bind(
                dedup
                    .as_ref()
                    .and_then(|d| d.as_ref().map(|d| d.window_seconds)),
            )
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        });
        let n = res.map_err(|e| name_conflict(e, name.as_deref().unwrap_or("")))?;
        if n == 0 {
            return Err(not_found(id));
        }
        self.get_webhook(id).await?.ok_or_else(|| not_found(id))
    }

    /// Replaces the key. With `grace_seconds > 0` the old key stays valid that long.
    pub async fn rotate_key(&self, id: &str, grace_seconds: u64) -> Result<Webhook> {
        if names_nothing(id) {
            return Err(not_found(id));
        }
        let key = new_webhook_key();
        let sealed = self.key.seal(key.as_bytes(), id);
        let now = now_ms();
        let until = (grace_seconds > 0).then(|| now + (grace_seconds as i64) * 1000);
        let n = on_db!(&self.db, |p| {
            sqlx::query(
                "UPDATE webhooks SET \
                 prev_key_hash = CASE WHEN $4 IS NULL THEN NULL ELSE key_hash END, \
                 prev_key_expires_at = $4, key_hash = $2, key_sealed = $3, \
                 version = version + 1, updated_at = $5 WHERE id = $1",
            )
            .bind(id)
            .bind(digest(&key).to_vec())
            .bind(sealed)
            .bind(until)
            .bind(now)
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })?;
        if n == 0 {
            return Err(not_found(id));
        }
        self.get_webhook(id).await?.ok_or_else(|| not_found(id))
    }

    /// Deletes a webhook with its deliveries, rate windows and remembered dedup keys. `false` if
    /// it did not exist.
    pub async fn delete_webhook(&self, id: &str) -> Result<bool> {
        if names_nothing(id) {
            return Ok(false);
        }
        on_db!(&self.db, |p| {
            let mut tx = p.begin_with(self.db.begin_write()).await?;
            let n = sqlx::query("DELETE FROM webhooks WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query("DELETE FROM deliveries WHERE webhook_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM rate_windows WHERE webhook_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM dedup_keys WHERE webhook_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(n > 0)
        })
    }

    /// What the ingest path checks a request against, straight from the database.
    pub async fn webhook_auth(&self, id: &str) -> Result<Option<WebhookAuth>> {
        Ok(self.raw_webhook(id).await?.map(|r| r.auth))
    }

    /// All webhooks' check data, for warming the ingest cache at start.
    pub async fn all_webhook_auths(&self) -> Result<HashMap<String, WebhookAuth>> {
        let sql = format!("SELECT {COLUMNS} FROM {FROM}");
        on_db!(&self.db, |p| {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(p).await?;
            let mut out = HashMap::with_capacity(rows.len());
            for r in &rows {
                let raw = raw_from_row!(r);
                out.insert(raw.auth.id.clone(), raw.auth);
            }
            Ok(out)
        })
    }
}

fn not_found(id: &str) -> StoreError {
    StoreError::NotFound(format!("there is no webhook with id {id}"))
}

fn name_conflict(e: sqlx::Error, name: &str) -> StoreError {
    match StoreError::from(e) {
        StoreError::Conflict(_) => {
            StoreError::Conflict(format!("a webhook named {name:?} already exists"))
        }
        other => other,
    }
}

/// One page of a newest-first list: at most `limit` items and the cursor of the next page.
pub(crate) struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

impl<T> Page<T> {
    pub(crate) fn map_items<U>(
        self,
        f: impl FnOnce(Vec<T>) -> Result<Vec<U>>,
    ) -> Result<(Vec<U>, Option<String>)> {
        Ok((f(self.items)?, self.next))
    }
}

/// Cuts a result fetched with `LIMIT limit + 1` into a page.
pub(crate) fn page<T>(mut items: Vec<T>, limit: i64, id: impl Fn(&T) -> String) -> Page<T> {
    let more = items.len() as i64 > limit;
    items.truncate(limit.max(0) as usize);
    let next = if more { items.last().map(&id) } else { None };
    Page { items, next }
}
