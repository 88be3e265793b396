//! `/api/v1/webhooks`: create, list, show, update, delete, rotate-key.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hookflow_core::dedup::{DEFAULT_WINDOW_SECONDS, Dedup, PRESETS, check_window, preset};
use hookflow_core::media::webhook_content_type;
use hookflow_core::verify;
use hookflow_store::webhooks::{NewWebhook, Webhook, WebhookPatch};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiQuery, JsonBody, PageQuery, list_answer, rfc3339};
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

/// Defaults of SPEC §2 check 6.
pub const DEFAULT_PER_MINUTE: i64 = 5;
pub const DEFAULT_PER_DAY: i64 = 5000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    pub name: String,
    pub content_type: String,
    pub rate_limit_per_minute: Option<i64>,
    pub rate_limit_per_day: Option<i64>,
    pub dedup: Option<DedupInput>,
    /// Signature verification (SPEC §9).
    #[serde(default)]
    pub verification: Option<verify::Input>,
}

/// A PATCH: absent fields stay; `"dedup": null` removes duplicate detection.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    pub name: Option<String>,
    pub content_type: Option<String>,
    pub rate_limit_per_minute: Option<i64>,
    pub rate_limit_per_day: Option<i64>,
    #[serde(default, with = "super::double_option")]
    pub dedup: Option<Option<DedupInput>>,
    /// Left out: unchanged; `null`: removed; an object: changed (fields left out keep theirs).
    #[serde(default, with = "super::double_option")]
    pub verification: Option<Option<verify::Input>>,
}

/// `dedup` as sent (SPEC §9): a key expression or preset, and an optional window.
#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct DedupInput {
    pub key: String,
    pub window_seconds: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RotateKey {
    pub grace_seconds: Option<u64>,
}

fn valid_name(name: &str) -> ApiResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(Problem::unprocessable(
            "name must be 1 to 200 characters (not only spaces)",
        ));
    }
    Ok(name.to_string())
}

fn valid_content_type(st: &AppState, ct: &str) -> ApiResult<String> {
    webhook_content_type(ct, &st.limits.extra_content_types).ok_or_else(|| {
        Problem::unprocessable(format!(
            "content_type {ct:?} is not supported; use one of: {} (the server's \
             --extra-content-types adds more)",
            st.content_types().join(", ")
        ))
    })
}

fn valid_limit(field: &str, v: Option<i64>) -> ApiResult<Option<i64>> {
    match v {
        Some(n) if n < 0 => Err(Problem::unprocessable(format!(
            "{field} must be 0 (no limit) or a positive number, got {n}"
        ))),
        other => Ok(other),
    }
}

/// Checks `dedup` (400 when wrong): a preset name, or an expression that compiles and reads only
/// trigger variables; a window of 1 s to 30 days (default one day).
pub fn valid_dedup(st: &AppState, d: DedupInput) -> ApiResult<Dedup> {
    let key = d.key.trim().to_string();
    let presets = || {
        PRESETS
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if key.is_empty() || key.chars().count() > 1000 {
        return Err(Problem::bad_request(format!(
            "dedup.key must be 1 to 1000 characters: an expression over the trigger variables \
             (e.g. trigger.headers[\"x-github-delivery\"] or trigger.body.id) or a preset ({})",
            presets()
        )));
    }
    if preset(&key).is_none() {
        let paths = st.engine.sandbox.check_expression(&key).map_err(|e| {
            Problem::bad_request(format!("dedup.key does not compile as an expression: {e}"))
        })?;
        if let Some(bad) = paths
            .iter()
            .find(|p| p.split('.').next() != Some("trigger"))
        {
            return Err(Problem::bad_request(format!(
                "dedup.key may only read trigger variables (trigger.headers, trigger.body, …), \
                 not {bad:?}; or it is a preset: {}",
                presets()
            )));
        }
    }
    let window_seconds = check_window(d.window_seconds.unwrap_or(DEFAULT_WINDOW_SECONDS))
        .map_err(Problem::bad_request)?;
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
pub fn webhook_json(st: &AppState, w: &Webhook) -> Value {
    json!({
        "id": w.id,
        "name": w.name,
        "content_type": w.content_type,
        "url": webhook_url(st, w),
        "api_key": w.api_key,
        "rate_limit_per_minute": w.rate_limit_per_minute,
        "rate_limit_per_day": w.rate_limit_per_day,
        "usage": {
            "minute": w.usage.minute,
            "day": w.usage.day,
            "last_limited_at": w.usage.last_limited_at.map(rfc3339),
        },
        "previous_key_expires_at": w.previous_key_expires_at.map(rfc3339),
        "dedup": w.dedup.as_ref().map(|d| json!({
            "key": d.key, "window_seconds": d.window_seconds,
        })),
        "verification": w.verification.as_ref().map(verification_json),
        "created_at": rfc3339(w.created_at),
        "updated_at": rfc3339(w.updated_at),
    })
}

/// A webhook's verification as answers show it: never the secret.
fn verification_json(v: &verify::Settings) -> Value {
    let mut out = serde_json::to_value(v).unwrap_or(Value::Null);
    let now = hookflow_store::now_ms();
    out["previous_secret_expires_at"] = v
        .previous_secret_expires_at
        .filter(|t| *t > now)
        .map(rfc3339)
        .into();
    out
}

/// What a verification change makes of the webhook's verification (`None`: removed), checked
/// before anything is written; 400 on an input that cannot be applied, 404 on no webhook.
async fn prepare_verification(
    st: &AppState,
    id: &str,
    input: Option<verify::Input>,
) -> ApiResult<Option<(verify::Settings, verify::Secrets)>> {
    let Some(input) = input else {
        return Ok(None);
    };
    let current = st.store.webhook_verification(id).await?;
    if current.is_none() && st.store.get_webhook(id).await?.is_none() {
        return Err(Problem::not_found(format!(
            "there is no webhook with id {id}"
        )));
    }
    verify::apply(
        current.as_ref().map(|(s, k)| (s, k)),
        input,
        hookflow_store::now_ms(),
    )
    .map(Some)
    .map_err(|e| Problem::bad_request(e.0))
}

/// Writes what [`prepare_verification`] made.
async fn store_verification(
    st: &AppState,
    id: &str,
    v: Option<(verify::Settings, verify::Secrets)>,
) -> ApiResult<Webhook> {
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

/// Creates a webhook from checked input (the API's and the UI's way).
pub async fn create_webhook(st: &AppState, body: CreateWebhook) -> ApiResult<Webhook> {
    // Checked before anything is created (the seal needs the webhook's id, so it is set after).
    if let Some(v) = &body.verification {
        verify::apply(None, v.clone(), 0).map_err(|e| Problem::bad_request(e.0))?;
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

pub async fn create(
    State(st): State<AppState>,
    JsonBody(body): JsonBody<CreateWebhook>,
) -> ApiResult<Response> {
    let w = create_webhook(&st, body).await?;
    Ok((StatusCode::CREATED, Json(webhook_json(&st, &w))).into_response())
}

pub async fn list(
    State(st): State<AppState>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Value>> {
    let (items, next) = st
        .store
        .list_webhooks(q.limit()?, q.cursor()?.as_deref())
        .await?;
    Ok(Json(list_answer(
        items.iter().map(|w| webhook_json(&st, w)).collect(),
        next,
    )))
}

pub async fn show(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    match st.store.get_webhook(&id).await? {
        Some(w) => Ok(Json(webhook_json(&st, &w))),
        None => Err(Problem::not_found(format!(
            "there is no webhook with id {id}"
        ))),
    }
}

/// Applies a checked partial update.
pub async fn update_webhook(st: &AppState, id: &str, body: UpdateWebhook) -> ApiResult<Webhook> {
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

pub async fn update(
    State(st): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateWebhook>,
) -> ApiResult<Json<Value>> {
    let w = update_webhook(&st, &id, body).await?;
    Ok(Json(webhook_json(&st, &w)))
}

/// Deletes a webhook with its deliveries; 404 if there is none.
pub async fn delete_webhook(st: &AppState, id: &str) -> ApiResult<()> {
    if st.store.delete_webhook(id).await? {
        st.journal.forget(id);
        tracing::info!(webhook = %id, "webhook deleted");
        Ok(())
    } else {
        Err(Problem::not_found(format!(
            "there is no webhook with id {id}"
        )))
    }
}

pub async fn delete(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    delete_webhook(&st, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Gives a webhook a new key, the old one valid `grace_seconds` more.
pub async fn rotate_webhook_key(st: &AppState, id: &str, body: RotateKey) -> ApiResult<Webhook> {
    let grace = body.grace_seconds.unwrap_or(0);
    if grace > 30 * 86_400 {
        return Err(Problem::unprocessable(
            "grace_seconds must be at most 2592000 (30 days)",
        ));
    }
    let w = st.store.rotate_key(id, grace).await?;
    st.journal.forget(id);
    tracing::info!(webhook = %id, grace_seconds = grace, "webhook key rotated");
    Ok(w)
}

pub async fn rotate_key(
    State(st): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RotateKey>,
) -> ApiResult<Json<Value>> {
    let w = rotate_webhook_key(&st, &id, body).await?;
    Ok(Json(webhook_json(&st, &w)))
}
