//! `/api/v1/secrets`: write-only values; names are listed, values never leave the server.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{JsonBody, rfc3339};
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutSecret {
    value: String,
}

fn valid_name(name: &str) -> ApiResult<()> {
    if hookflow_core::workflow::is_identifier(name) && name.len() <= 200 {
        Ok(())
    } else {
        Err(Problem::unprocessable(format!(
            "secret name {name:?} must be letters, digits and _ (not starting with a digit), so \
             workflows can write secrets.{name}"
        )))
    }
}

pub async fn put(
    State(st): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<PutSecret>,
) -> ApiResult<Json<Value>> {
    valid_name(&name)?;
    if body.value.is_empty() {
        return Err(Problem::unprocessable("a secret's value cannot be empty"));
    }
    st.store.put_secret(&name, &body.value).await?;
    super::workflows::revalidate_all(&st).await;
    Ok(Json(json!({ "name": name })))
}

pub async fn list(State(st): State<AppState>) -> ApiResult<Json<Value>> {
    let items: Vec<Value> = st
        .store
        .list_secrets()
        .await?
        .into_iter()
        .map(|(name, c, u)| {
            json!({ "name": name, "created_at": rfc3339(c), "updated_at": rfc3339(u) })
        })
        .collect();
    Ok(Json(json!({ "items": items, "next_cursor": null })))
}

pub async fn delete(State(st): State<AppState>, Path(name): Path<String>) -> ApiResult<StatusCode> {
    if st.store.delete_secret(&name).await? {
        super::workflows::revalidate_all(&st).await;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Problem::not_found(format!(
            "there is no secret named {name:?}"
        )))
    }
}
