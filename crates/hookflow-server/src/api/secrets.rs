//! `/api/v1/secrets`: write-only values; names are listed, values never leave the server (the
//! rules are [`crate::manage::secrets`]).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::JsonBody;
use crate::manage::page::Page;
use crate::manage::secrets::{self, Secret};
use crate::manage::to_json;
use crate::openapi::{BadRequest, Invalid, NotFound};
use crate::problem::ApiResult;
use crate::state::AppState;

/// A secret's value.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutSecret {
    /// Not empty; write-only: never shown again.
    #[schema(write_only)]
    value: String,
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
    secrets::put(&st, &name, &body.value).await?;
    Ok(Json(to_json(&SecretName { name })))
}

/// List secret names (never values)
#[utoipa::path(get, path = "/secrets", tag = "secrets", operation_id = "listSecrets",
    responses((status = 200, description = "Secret names.", body = SecretList)))]
pub async fn list(State(st): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(SecretList::answer(Page {
        items: secrets::list(&st).await?,
        next: None,
    }))
}

/// Delete a secret
#[utoipa::path(delete, path = "/secrets/{name}", tag = "secrets", operation_id = "deleteSecret",
    params(("name" = String, Path, description = "Letters, digits and `_`, not starting with a digit (workflows read it as `secrets.<name>`).")),
    responses((status = 204, description = "Deleted."), (status = 404, response = NotFound)))]
pub async fn delete(State(st): State<AppState>, Path(name): Path<String>) -> ApiResult<StatusCode> {
    secrets::delete(&st, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
