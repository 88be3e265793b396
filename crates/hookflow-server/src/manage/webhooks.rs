//! Webhooks: their checked input (name, content type, rate limits, duplicate detection,
//! signature verification), create, change, delete, key rotation, and the view an operator sees
//! (with the full Webhook URL). A change that affects ingest drops the journal's cached copy.

use hookflow_core::dedup::{DEFAULT_WINDOW_SECONDS, Dedup, PRESETS, check_window, preset};
use hookflow_core::media::webhook_content_type;
use hookflow_core::verify;
use hookflow_store::webhooks::{NewWebhook, Webhook, WebhookPatch};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::page::{Page, PageRequest};
use super::{Found, ManageError, ManageResult, rfc3339, to_json};
use crate::state::AppState;

/// Defaults of SPEC §2 check 6.
pub const DEFAULT_PER_MINUTE: i64 = 5;
pub const DEFAULT_PER_DAY: i64 = 5000;

/// A new webhook. Unknown fields are refused (400).
#[derive(Deserialize, ToSchema)]
#[schema(as = WebhookCreate)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// Display name, unique: 1 to 200 characters.
    pub name: String,
    /// The request content type: one of the four of SPEC §2, or one the operator allowed with
    /// `--extra-content-types` (otherwise 422, naming the allowed types). Case and whitespace do
    /// not matter; the answer shows the canonical form.
    pub content_type: String,
    /// Accepted requests per UTC minute; 0 means no limit (default 5).
    #[schema(minimum = 0)]
    pub rate_limit_per_minute: Option<i64>,
    /// Accepted requests per UTC day; 0 means no limit (default 5000).
    #[schema(minimum = 0)]
    pub rate_limit_per_day: Option<i64>,
    pub dedup: Option<DedupInput>,
    /// Signature verification (SPEC §9).
    #[serde(default)]
    pub verification: Option<verify::Input>,
}

/// A change of a webhook: the fields left out stay. Unknown fields are refused (400).
#[derive(Deserialize, ToSchema)]
#[schema(as = WebhookPatch)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    /// Display name, unique: 1 to 200 characters.
    pub name: Option<String>,
    /// As on create.
    pub content_type: Option<String>,
    /// Accepted requests per UTC minute; 0 means no limit.
    #[schema(minimum = 0)]
    pub rate_limit_per_minute: Option<i64>,
    /// Accepted requests per UTC day; 0 means no limit.
    #[schema(minimum = 0)]
    pub rate_limit_per_day: Option<i64>,
    /// An object changes duplicate detection; `null` removes it.
    #[serde(default, with = "crate::manage::double_option")]
    pub dedup: Option<Option<DedupInput>>,
    /// An object changes the verification (fields left out keep theirs); `null` removes it.
    #[serde(default, with = "crate::manage::double_option")]
    pub verification: Option<Option<verify::Input>>,
}

/// Duplicate detection (SPEC §9). A request whose key equals that of a request accepted by this
/// webhook within the window is answered 202 with `X-Duplicate-Of: <first delivery id>`,
/// recorded with `status: duplicate` and `duplicate_of`, and starts no run; decided in the
/// transaction that records it (exact across nodes). A request whose key expression gives null,
/// an empty string or fails is processed normally. Duplicates count against the rate limits. A
/// wrong key or window is refused with 400.
///
/// Sent as is; answered with `window_seconds` filled in.
#[derive(Deserialize, Serialize, Clone, ToSchema)]
#[schema(as = Dedup)]
#[serde(deny_unknown_fields)]
pub struct DedupInput {
    /// An expression over the trigger variables (e.g. `trigger.headers["x-github-delivery"]`,
    /// `trigger.body.id`) or a preset: `standard_webhooks` (header `webhook-id`), `github`
    /// (`X-GitHub-Delivery`), `stripe` (`body.id`), `slack` (`body.event_id`).
    pub key: String,
    /// How long an accepted key is remembered: 1 second to 30 days (default one day).
    #[schema(minimum = 1, maximum = 2_592_000)]
    pub window_seconds: Option<i64>,
}

/// A key rotation.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateKey {
    /// Keep the old key valid this many seconds (at most 30 days; default 0).
    #[schema(maximum = 2_592_000)]
    pub grace_seconds: Option<u64>,
}

/// A webhook as the API shows it.
#[derive(Serialize, ToSchema)]
#[schema(as = Webhook)]
pub struct WebhookView {
    #[schema(format = "uuid")]
    pub id: String,
    /// Display name, unique.
    pub name: String,
    /// The request content type, in its canonical form.
    pub content_type: String,
    /// The Webhook URL: `<public url>/webhooks/{id}?api_key=<key>`, the key percent-encoded (the
    /// raw key is accepted too).
    #[schema(format = "uri")]
    pub url: String,
    /// The key (may contain `+`, `/`, `=`).
    pub api_key: String,
    /// Accepted requests per UTC minute; 0 means no limit.
    #[schema(minimum = 0)]
    pub rate_limit_per_minute: i64,
    /// Accepted requests per UTC day; 0 means no limit.
    #[schema(minimum = 0)]
    pub rate_limit_per_day: i64,
    pub usage: Usage,
    /// Until when the key replaced by the last rotation still works (`grace_seconds`).
    #[schema(format = DateTime, required = true)]
    pub previous_key_expires_at: Option<String>,
    #[schema(required = true)]
    pub dedup: Option<DedupInput>,
    /// Signature verification, if set (never with the secret).
    #[schema(required = true)]
    pub verification: Option<Verification>,
    /// Creation time.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Last change.
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// What the rate limits counted.
#[derive(Serialize, ToSchema)]
pub struct Usage {
    /// Accepted in the current UTC minute.
    pub minute: i64,
    /// Accepted in the current UTC day.
    pub day: i64,
    /// When a rate limit last refused a request.
    #[schema(format = DateTime, required = true)]
    pub last_limited_at: Option<String>,
}

/// A webhook's signature verification, without its secret.
#[derive(Serialize, ToSchema)]
pub struct Verification {
    pub scheme: verify::Scheme,
    /// `hmac` only: the request header carrying the signature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// `hmac` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<verify::Algorithm>,
    /// `hmac` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<verify::Encoding>,
    /// `hmac` only: text before the signature, e.g. `sha256=`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Timestamped schemes: how far the signed timestamp may be from now, in either direction.
    pub tolerance_seconds: u64,
    pub mode: verify::Mode,
    /// `false`: signed requests need no `api_key`.
    pub require_api_key: bool,
    /// Until when the secret replaced by the last change still verifies.
    #[schema(format = DateTime, required = true)]
    pub previous_secret_expires_at: Option<String>,
}

fn valid_name(name: &str) -> ManageResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ManageError::invalid(
            "name must be 1 to 200 characters (not only spaces)",
        ));
    }
    Ok(name.to_string())
}

fn valid_content_type(st: &AppState, ct: &str) -> ManageResult<String> {
    webhook_content_type(ct, &st.limits.extra_content_types).ok_or_else(|| {
        ManageError::invalid(format!(
            "content_type {ct:?} is not supported; use one of: {} (the server's \
             --extra-content-types adds more)",
            st.content_types().join(", ")
        ))
    })
}

fn valid_limit(field: &str, v: Option<i64>) -> ManageResult<Option<i64>> {
    match v {
        Some(n) if n < 0 => Err(ManageError::invalid(format!(
            "{field} must be 0 (no limit) or a positive number, got {n}"
        ))),
        other => Ok(other),
    }
}

/// Checks `dedup` (400 when wrong): a preset name, or an expression that compiles and reads only
/// trigger variables; a window of 1 s to 30 days (default one day).
pub fn valid_dedup(st: &AppState, d: DedupInput) -> ManageResult<Dedup> {
    let key = d.key.trim().to_string();
    let presets = || {
        PRESETS
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if key.is_empty() || key.chars().count() > 1000 {
        return Err(ManageError::Malformed(format!(
            "dedup.key must be 1 to 1000 characters: an expression over the trigger variables \
             (e.g. trigger.headers[\"x-github-delivery\"] or trigger.body.id) or a preset ({})",
            presets()
        )));
    }
    if preset(&key).is_none() {
        let paths = st.engine.sandbox.check_expression(&key).map_err(|e| {
            ManageError::Malformed(format!("dedup.key does not compile as an expression: {e}"))
        })?;
        if let Some(bad) = paths
            .iter()
            .find(|p| p.split('.').next() != Some("trigger"))
        {
            return Err(ManageError::Malformed(format!(
                "dedup.key may only read trigger variables (trigger.headers, trigger.body, …), \
                 not {bad:?}; or it is a preset: {}",
                presets()
            )));
        }
    }
    let window_seconds = check_window(d.window_seconds.unwrap_or(DEFAULT_WINDOW_SECONDS))
        .map_err(ManageError::Malformed)?;
    Ok(Dedup {
        key,
        window_seconds,
    })
}

/// The full Webhook URL, with its key percent-encoded.
pub fn webhook_url(st: &AppState, w: &Webhook) -> String {
    format!(
        "{}/webhooks/{}?api_key={}",
        st.public_url,
        w.id,
        utf8_percent_encode(&w.api_key, NON_ALPHANUMERIC)
    )
}

/// The webhook as the API shows it, with its full Webhook URL.
pub fn view(st: &AppState, w: &Webhook) -> WebhookView {
    WebhookView {
        id: w.id.clone(),
        name: w.name.clone(),
        content_type: w.content_type.clone(),
        url: webhook_url(st, w),
        api_key: w.api_key.clone(),
        rate_limit_per_minute: w.rate_limit_per_minute,
        rate_limit_per_day: w.rate_limit_per_day,
        usage: Usage {
            minute: w.usage.minute,
            day: w.usage.day,
            last_limited_at: w.usage.last_limited_at.map(rfc3339),
        },
        previous_key_expires_at: w.previous_key_expires_at.map(rfc3339),
        dedup: w.dedup.as_ref().map(|d| DedupInput {
            key: d.key.clone(),
            window_seconds: Some(d.window_seconds),
        }),
        verification: w.verification.as_ref().map(verification_view),
        created_at: rfc3339(w.created_at),
        updated_at: rfc3339(w.updated_at),
    }
}

/// [`view`] as JSON (the web UI's pages read it).
pub fn json(st: &AppState, w: &Webhook) -> Value {
    to_json(&view(st, w))
}

/// A webhook's verification as answers show it: never the secret.
fn verification_view(v: &verify::Settings) -> Verification {
    let now = hookflow_store::now_ms();
    Verification {
        scheme: v.scheme,
        header: v.header.clone(),
        algorithm: v.algorithm,
        encoding: v.encoding,
        prefix: v.prefix.clone(),
        tolerance_seconds: v.tolerance_seconds,
        mode: v.mode,
        require_api_key: v.require_api_key,
        previous_secret_expires_at: v
            .previous_secret_expires_at
            .filter(|t| *t > now)
            .map(rfc3339),
    }
}

/// What a verification change makes of the webhook's verification (`None`: removed), checked
/// before anything is written; 400 on an input that cannot be applied, 404 on no webhook.
async fn prepare_verification(
    st: &AppState,
    id: &str,
    input: Option<verify::Input>,
) -> ManageResult<Option<(verify::Settings, verify::Secrets)>> {
    let Some(input) = input else {
        return Ok(None);
    };
    let current = st.store.webhook_verification(id).await?;
    if current.is_none() && st.store.get_webhook(id).await?.is_none() {
        return Err(ManageError::no("webhook", id));
    }
    verify::apply(
        current.as_ref().map(|(s, k)| (s, k)),
        input,
        hookflow_store::now_ms(),
    )
    .map(Some)
    .map_err(|e| ManageError::Malformed(e.0))
}

/// Writes what [`prepare_verification`] made.
async fn store_verification(
    st: &AppState,
    id: &str,
    v: Option<(verify::Settings, verify::Secrets)>,
) -> ManageResult<Webhook> {
    let w = st
        .store
        .set_verification(id, v.as_ref().map(|(s, k)| (s, k)))
        .await?;
    match &v {
        Some((s, _)) => tracing::info!(
            webhook = %id,
            scheme = s.scheme.as_str(),
            mode = ?s.mode,
            "webhook verification set"
        ),
        None => tracing::info!(webhook = %id, "webhook verification removed"),
    }
    Ok(w)
}

/// Webhook `id`; 404 if there is none.
pub async fn find(st: &AppState, id: &str) -> ManageResult<Webhook> {
    st.store.get_webhook(id).await?.found("webhook", id)
}

/// A page of webhooks, newest first.
pub async fn list(st: &AppState, page: &PageRequest) -> ManageResult<Page<WebhookView>> {
    let rows = st
        .store
        .list_webhooks(page.limit, page.after.as_deref())
        .await?;
    Ok(Page::of(rows, |w| view(st, w)))
}

/// Creates a webhook from checked input.
pub async fn create(st: &AppState, body: CreateWebhook) -> ManageResult<Webhook> {
    // Checked before anything is created (the seal needs the webhook's id, so it is set after).
    if let Some(v) = &body.verification {
        verify::apply(None, v.clone(), 0).map_err(|e| ManageError::Malformed(e.0))?;
    }
    let new = NewWebhook {
        name: valid_name(&body.name)?,
        content_type: valid_content_type(st, &body.content_type)?,
        rate_limit_per_minute: valid_limit("rate_limit_per_minute", body.rate_limit_per_minute)?
            .unwrap_or(DEFAULT_PER_MINUTE),
        rate_limit_per_day: valid_limit("rate_limit_per_day", body.rate_limit_per_day)?
            .unwrap_or(DEFAULT_PER_DAY),
        dedup: body.dedup.map(|d| valid_dedup(st, d)).transpose()?,
    };
    let w = st.store.create_webhook(new).await?;
    tracing::info!(webhook = %w.id, name = %w.name, "webhook created");
    match body.verification {
        Some(v) => {
            let v = prepare_verification(st, &w.id, Some(v)).await?;
            store_verification(st, &w.id, v).await
        }
        None => Ok(w),
    }
}

/// Applies a checked partial update.
pub async fn update(st: &AppState, id: &str, body: UpdateWebhook) -> ManageResult<Webhook> {
    let patch = WebhookPatch {
        name: body.name.as_deref().map(valid_name).transpose()?,
        content_type: body
            .content_type
            .as_deref()
            .map(|ct| valid_content_type(st, ct))
            .transpose()?,
        rate_limit_per_minute: valid_limit("rate_limit_per_minute", body.rate_limit_per_minute)?,
        rate_limit_per_day: valid_limit("rate_limit_per_day", body.rate_limit_per_day)?,
        dedup: body
            .dedup
            .map(|d| d.map(|d| valid_dedup(st, d)).transpose())
            .transpose()?,
    };
    // Checked before any field is written, so a refused change changes nothing.
    let verification = match body.verification {
        Some(v) => Some(prepare_verification(st, id, v).await?),
        None => None,
    };
    let mut w = st.store.update_webhook(id, patch).await?;
    if let Some(v) = verification {
        w = store_verification(st, id, v).await?;
    }
    st.journal.forget(id);
    Ok(w)
}

/// Deletes a webhook with its deliveries; 404 if there is none.
pub async fn delete(st: &AppState, id: &str) -> ManageResult<()> {
    if st.store.delete_webhook(id).await? {
        st.journal.forget(id);
        tracing::info!(webhook = %id, "webhook deleted");
        Ok(())
    } else {
        Err(ManageError::no("webhook", id))
    }
}

/// Gives a webhook a new key, the old one valid `grace_seconds` more.
pub async fn rotate_key(st: &AppState, id: &str, body: RotateKey) -> ManageResult<Webhook> {
    let grace = body.grace_seconds.unwrap_or(0);
    if grace > 30 * 86_400 {
        return Err(ManageError::invalid(
            "grace_seconds must be at most 2592000 (30 days)",
        ));
    }
    let w = st.store.rotate_key(id, grace).await?;
    st.journal.forget(id);
    tracing::info!(webhook = %id, grace_seconds = grace, "webhook key rotated");
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_limits_are_checked() {
        assert_eq!(valid_name("  alerts ").unwrap(), "alerts");
        for bad in [String::new(), "   ".into(), "x".repeat(201)] {
            assert_eq!(
                valid_name(&bad).unwrap_err(),
                ManageError::invalid("name must be 1 to 200 characters (not only spaces)")
            );
        }
        assert_eq!(valid_limit("rate_limit_per_day", Some(0)).unwrap(), Some(0));
        assert_eq!(valid_limit("rate_limit_per_day", None).unwrap(), None);
        assert_eq!(
            valid_limit("rate_limit_per_minute", Some(-1)).unwrap_err(),
            ManageError::invalid(
                "rate_limit_per_minute must be 0 (no limit) or a positive number, got -1"
            )
        );
    }
}
