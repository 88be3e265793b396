//! Webhooks: the endpoints events are pushed to. Their keys are stored twice — as a SHA-256
//! digest to verify requests in constant time, and sealed with the master key so the details can
//! show the Webhook URL again. Every change bumps `version`, which is how the ingest path notices
//! that a cached copy is stale.

use std::collections::HashMap;

use hookflow_core::dedup::Dedup;
use hookflow_core::ingest::WebhookAuth;
use hookflow_core::ingest::rate::{DAY_MS, MINUTE_MS, RateClock};
use sqlx::AssertSqlSafe;

use crate::crypto::{digest, new_webhook_key};
use crate::query::{Listed, created, found, name_taken, record};
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

/// A webhook row with its rate windows ([`Raw`]).
const SELECT: &str = "SELECT w.id, w.name, w.content_type, w.rate_limit_per_minute, \
    w.rate_limit_per_day, w.key_hash, w.key_sealed, w.prev_key_hash, w.prev_key_expires_at, \
    w.version, w.last_limited_at, w.created_at, w.updated_at, w.dedup_key, w.dedup_window_seconds, \
    w.verification, w.verification_sealed, \
    m.window_start AS m_start, m.count AS m_count, d.window_start AS d_start, d.count AS d_count \
    FROM webhooks w \
    LEFT JOIN rate_windows m ON m.webhook_id = w.id AND m.period = 'minute' \
    LEFT JOIN rate_windows d ON d.webhook_id = w.id AND d.period = 'day'";

record! {
    /// What the ingest path checks a request against, as its columns hold it (the columns of
    /// `journal::sql::WEBHOOK_SQL`), read by either journal writer.
    pub(crate) struct AuthColumns {
        id: String,
        name: String,
        version: i64,
        content_type: String,
        key_hash: Vec<u8>,
        prev_key_hash: Option<Vec<u8>>,
        prev_key_expires_at: Option<i64>,
        rate_limit_per_minute: i64,
        rate_limit_per_day: i64,
        dedup_key: Option<String>,
        dedup_window_seconds: Option<i64>,
        verification: Option<String>,
        verification_sealed: Option<Vec<u8>>,
    }
}

impl TryFrom<AuthColumns> for WebhookAuth {
    type Error = sqlx::Error;

    fn try_from(c: AuthColumns) -> Result<WebhookAuth, sqlx::Error> {
        Ok(WebhookAuth {
            key_hash: to_digest(c.key_hash)?,
            prev_key_hash: c.prev_key_hash.map(to_digest).transpose()?,
            dedup: dedup_of(c.dedup_key, c.dedup_window_seconds),
            verification: crate::verification::spec(c.verification, c.verification_sealed)?,
            id: c.id,
            name: c.name,
            version: c.version,
            content_type: c.content_type,
            prev_key_expires_at: c.prev_key_expires_at,
            rate_limit_per_minute: c.rate_limit_per_minute,
            rate_limit_per_day: c.rate_limit_per_day,
        })
    }
}

/// A webhook row with its rate windows, before the key is unsealed.
#[derive(sqlx::FromRow)]
struct Raw {
    #[sqlx(flatten, try_from = "AuthColumns")]
    auth: WebhookAuth,
    key_sealed: Vec<u8>,
    last_limited_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
    m_start: Option<i64>,
    m_count: Option<i64>,
    d_start: Option<i64>,
    d_count: Option<i64>,
}

impl Listed for Raw {
    const SELECT: &'static str = SELECT;
    const ID: &'static str = "w.id";

    fn id(&self) -> &str {
        &self.auth.id
    }
}

/// A webhook's `dedup` from its two columns.
pub(crate) fn dedup_of(key: Option<String>, window_seconds: Option<i64>) -> Option<Dedup> {
    Some(Dedup {
        key: key?,
        window_seconds: window_seconds?,
    })
}

fn to_digest(v: Vec<u8>) -> Result<[u8; 32], sqlx::Error> {
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
                minute: current((raw.m_start, raw.m_count), &clock, MINUTE_MS),
                day: current((raw.d_start, raw.d_count), &clock, DAY_MS),
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
        let sql = format!("{SELECT} WHERE w.id = $1");
        self.one(AssertSqlSafe(sql), &[id.into()]).await
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
        let dedup = new.dedup.as_ref();
        self.execute(
            "INSERT INTO webhooks (id, name, content_type, rate_limit_per_minute, \
             rate_limit_per_day, key_hash, key_sealed, version, created_at, updated_at, \
             dedup_key, dedup_window_seconds) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $8, $9, $10)",
            &[
                (&id).into(),
                (&new.name).into(),
                (&new.content_type).into(),
                new.rate_limit_per_minute.into(),
                new.rate_limit_per_day.into(),
                digest(&key).as_slice().into(),
                sealed.as_slice().into(),
                now_ms().into(),
                dedup.map(|d| d.key.as_str()).into(),
                dedup.map(|d| d.window_seconds).into(),
            ],
        )
        .await
        .map_err(name_taken("a webhook", &new.name))?;
        created(self.get_webhook(&id).await?, "webhook")
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
        let (raws, next) = self.newest::<Raw>(limit, cursor).await?;
        let hooks = raws.into_iter().map(|r| self.finish(r));
        Ok((hooks.collect::<Result<_>>()?, next))
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
        // `Some(None)` removes duplicate detection: `$7` says whether `dedup` changes.
        let dedup = patch.dedup.as_ref().map(Option::as_ref);
        let n = self
            .execute(
                "UPDATE webhooks SET name = COALESCE($2, name), \
                 content_type = COALESCE($3, content_type), \
                 rate_limit_per_minute = COALESCE($4, rate_limit_per_minute), \
                 rate_limit_per_day = COALESCE($5, rate_limit_per_day), \
                 dedup_key = CASE WHEN $7 THEN $8 ELSE dedup_key END, \
                 dedup_window_seconds = CASE WHEN $7 THEN $9 ELSE dedup_window_seconds END, \
                 version = version + 1, updated_at = $6 WHERE id = $1",
                &[
                    id.into(),
                    (&patch.name).into(),
                    (&patch.content_type).into(),
                    patch.rate_limit_per_minute.into(),
                    patch.rate_limit_per_day.into(),
                    now_ms().into(),
                    dedup.is_some().into(),
                    dedup.flatten().map(|d| d.key.as_str()).into(),
                    dedup.flatten().map(|d| d.window_seconds).into(),
                ],
            )
            .await
            .map_err(name_taken("a webhook", patch.name.as_deref().unwrap_or("")))?;
        found(n, "webhook", id)?;
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
        let n = self
            .execute(
                "UPDATE webhooks SET \
                 prev_key_hash = CASE WHEN $4 IS NULL THEN NULL ELSE key_hash END, \
                 prev_key_expires_at = $4, key_hash = $2, key_sealed = $3, \
                 version = version + 1, updated_at = $5 WHERE id = $1",
                &[
                    id.into(),
                    digest(&key).as_slice().into(),
                    sealed.as_slice().into(),
                    until.into(),
                    now.into(),
                ],
            )
            .await?;
        found(n, "webhook", id)?;
        self.get_webhook(id).await?.ok_or_else(|| not_found(id))
    }

    /// Deletes a webhook with its deliveries, rate windows and remembered dedup keys. `false` if
    /// it did not exist.
    pub async fn delete_webhook(&self, id: &str) -> Result<bool> {
        let statements = [
            "DELETE FROM webhooks WHERE id = $1",
            "DELETE FROM deliveries WHERE webhook_id = $1",
            "DELETE FROM rate_windows WHERE webhook_id = $1",
            "DELETE FROM dedup_keys WHERE webhook_id = $1",
        ];
        self.delete_with(id, &statements).await
    }

    /// What the ingest path checks a request against, straight from the database.
    pub async fn webhook_auth(&self, id: &str) -> Result<Option<WebhookAuth>> {
        Ok(self.raw_webhook(id).await?.map(|r| r.auth))
    }

    /// All webhooks' check data, for warming the ingest cache at start.
    pub async fn all_webhook_auths(&self) -> Result<HashMap<String, WebhookAuth>> {
        let raws: Vec<Raw> = self.all(SELECT, &[]).await?;
        Ok(raws
            .into_iter()
            .map(|r| (r.auth.id.clone(), r.auth))
            .collect())
    }
}

fn not_found(id: &str) -> StoreError {
    crate::query::not_found("webhook", id)
}
