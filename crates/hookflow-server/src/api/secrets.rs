//! `/api/v1/secrets`: write-only values; names are listed, values never leave the server.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::{JsonBody, rfc3339, to_json};
use crate::openapi::{BadRequest, Invalid, NotFound};
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

/// A secret's value.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutSecret {
    /// Not empty; write-only: never shown again.
    #[schema(write_only)]
    value: String,
}

/// A secret as the API shows it: never its value.
#[derive(Serialize, ToSchema)]
pub struct Secret {
    pub name: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// The name of the secret written.
#[derive(Serialize, ToSchema)]
pub struct SecretName {
    pub name: String,
}

super::page!(
    /// Every secret (one page).
    SecretList of Secret
);

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

/// Create or replace a secret
///
/// Workflows are validated again: one that names a secret that did not exist may become valid.
#[utoipa::path(put, path = "/secrets/{name}", tag = "secrets", operation_id = "putSecret",
    params(("name" = String, Path, description = "Letters, digits and `_`, not starting with a digit (workflows read it as `secrets.<name>`).")),
    request_body = PutSecret,
    responses(
        (status = 200, description = "The secret's name.", body = SecretName),
        (status = 400, response = BadRequest), (status = 422, response = Invalid),
    ))]
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
    Ok(Json(to_json(&SecretName { name })))
}

/// List secret names (never values)
#[utoipa::path(get, path = "/secrets", tag = "secrets", operation_id = "listSecrets",
    responses((status = 200, description = "Secret names.", body = SecretList)))]
pub async fn list(State(st): State<AppState>) -> ApiResult<Json<Value>> {
    let items = st
        .store
        .list_secrets()
        .await?
        .into_iter()
        .map(|(name, c, u)| Secret {
            name,
            created_at: rfc3339(c),
            updated_at: rfc3339(u),
        })
        .collect();
    Ok(Json(to_json(&SecretList {
        items,
        next_cursor: None,
    })))
}

/// Delete a secret
#[utoipa::path(delete, path = "/secrets/{name}", tag = "secrets", operation_id = "deleteSecret",
    params(("name" = String, Path, description = "Letters, digits and `_`, not starting with a digit (workflows read it as `secrets.<name>`).")),
    responses((status = 204, description = "Deleted."), (status = 404, response = NotFound)))]
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
