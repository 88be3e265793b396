//! `/api/v1/secrets`: write-only values; names are listed, values never leave the server (the
//! rules are [`crate::manage::secrets`]).

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Answer, Call};
use crate::manage::page::Page;
use crate::manage::secrets::{self, Secret};
use crate::manage::to_json;
use crate::openapi::{BadRequest, Invalid, SecretPath};
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
    params(SecretPath),
    request_body = PutSecret,
    responses((status = 200, description = "The secret's name.", body = SecretName),
        BadRequest, Invalid))]
pub async fn put(Call { st, id: name, body }: Call<PutSecret>) -> Answer {
    secrets::put(&st, &name, &body.value).await?;
    Ok(Json(to_json(&SecretName { name })))
}

/// List secret names (never values)
#[utoipa::path(get, path = "/secrets", tag = "secrets", operation_id = "listSecrets",
    responses((status = 200, description = "Secret names.", body = SecretList)))]
pub async fn list(State(st): State<AppState>) -> Answer {
    Ok(SecretList::answer(Page {
        items: secrets::list(&st).await?,
        next: None,
    }))
}

super::delete_operation!(
    /// Delete a secret
    "/secrets/{name}", "secrets", "deleteSecret", SecretPath, secrets::delete
);

/// This module's operations, each with its route.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(put, delete))
}
