//! The management API under `/api/v1` (SPEC §5): JSON in and out, problem+json errors, the admin
//! token on every route.

pub(crate) mod checklist;
pub(crate) mod deliveries;
pub(crate) mod events;
pub(crate) mod filter_test;
pub(crate) mod manual_runs;
pub(crate) mod replay;
pub(crate) mod runs;
pub(crate) mod secrets;
pub(crate) mod versions;
pub(crate) mod webhooks;
pub(crate) mod workflows;

use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;

pub use crate::manage::page::PageQuery;
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

/// Every management route with its OpenAPI operation, each module's own [`routes`]: [`router`]
/// serves them and [`crate::openapi::document`] describes them, both from this one list (paths
/// relative to `/api/v1`).
pub fn routes() -> OpenApiRouter<AppState> {
    let modules = [
        webhooks::routes,
        checklist::routes,
        deliveries::routes,
        replay::routes,
        events::routes,
        filter_test::routes,
        workflows::routes,
        manual_runs::routes,
        versions::routes,
        runs::routes,
        secrets::routes,
    ];
    modules
        .into_iter()
        .fold(OpenApiRouter::new(), |all, routes| all.merge(routes()))
}

/// The management API: [`routes`] behind the admin token.
pub fn router(state: AppState) -> Router<AppState> {
    let (router, _) = routes().split_for_parts();
    router
        .method_not_allowed_fallback(crate::ops::method_not_allowed)
        .fallback(|| async { Problem::not_found("there is no such API route") })
        .layer(middleware::from_fn_with_state(state, require_token))
}

/// Every management call needs `Authorization: Bearer <admin token>`, compared by digest in
/// constant time.
async fn require_token(State(st): State<AppState>, req: Request, next: Next) -> Response {
    if authorized(&st, &req) {
        next.run(req).await
    } else {
        axum::response::IntoResponse::into_response(Problem::unauthorized())
    }
}

fn authorized(st: &AppState, req: &Request) -> bool {
    let Some(token) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
    else {
        return false;
    };
    let d = hookflow_store::crypto::digest(token.trim());
    let stored = st
        .admin_digest
        .is_some_and(|a| hookflow_store::crypto::ct_eq(&a, &d));
    let env = st
        .env_token_digest
        .is_some_and(|a| hookflow_store::crypto::ct_eq(&a, &d));
    stored | env
}

/// The token of an `Authorization: Bearer <token>` value; the scheme is case-insensitive
/// (RFC 9110 §11.1).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token)
}

/// A JSON request body, with problem+json answers for what is wrong with it.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, st: &AppState) -> Result<Self, Problem> {
        let bytes = st.read_body(req).await?;
        let text = if bytes.iter().all(u8::is_ascii_whitespace) {
            &b"{}"[..]
        } else {
            &bytes[..]
        };
        serde_json::from_slice(text)
            .map(JsonBody)
            .map_err(|e| Problem::bad_request(format!("the request body is not valid: {e}")))
    }
}

/// A call on one thing with a body: the state, the thing's `{id}` (or `{name}`) from the path,
/// and the JSON body (as [`JsonBody`] reads it).
pub struct Call<B> {
    pub st: AppState,
    pub id: String,
    pub body: B,
}

impl<B: DeserializeOwned> FromRequest<AppState> for Call<B> {
    type Rejection = Response;

    async fn from_request(req: Request, st: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let Path(id) = Path::<String>::from_request_parts(&mut parts, st)
            .await
            .map_err(IntoResponse::into_response)?;
        let req = Request::from_parts(parts, body);
        let JsonBody(body) = JsonBody::from_request(req, st)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Call {
            st: st.clone(),
            id,
            body,
        })
    }
}

/// Query parameters, with problem+json answers when they do not parse.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Problem> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| ApiQuery(q.0))
            .map_err(|e| Problem::bad_request(format!("bad query parameters: {}", e.body_text())))
    }
}

/// The answer of most calls: a JSON value or a problem.
pub(crate) type Answer = ApiResult<Json<Value>>;

/// Declares `delete`, the `DELETE` operation of a kind of thing, its doc comment the summary:
/// `$deletion` (a service's deletion by id or name), then `204` (described as `$said`, by default
/// `Deleted.`), or `404` when nothing has that id.
macro_rules! delete_operation {
    ($(#[$doc:meta])* $path:literal, $tag:literal, $id:literal, $param:ident, $deletion:path) => {
        $crate::api::delete_operation!($(#[$doc])* $path, $tag, $id, $param, $deletion, "Deleted.");
    };
    ($(#[$doc:meta])* $path:literal, $tag:literal, $id:literal, $param:ident, $deletion:path,
     $said:literal) => {
        $(#[$doc])*
        #[utoipa::path(delete, path = $path, tag = $tag, operation_id = $id, params($param),
            responses((status = 204, description = $said), crate::openapi::NotFound))]
        pub async fn delete(
            axum::extract::State(st): axum::extract::State<crate::state::AppState>,
            axum::extract::Path(id): axum::extract::Path<String>,
        ) -> crate::problem::ApiResult<axum::http::StatusCode> {
            $deletion(&st, &id).await?;
            Ok(axum::http::StatusCode::NO_CONTENT)
        }
    };
}
pub(crate) use delete_operation;

/// `201 Created` with `body`.
pub(crate) fn created(body: Value) -> Response {
    (StatusCode::CREATED, Json(body)).into_response()
}

/// `200 OK` or, for what was started for real, `201 Created` (a replay and its dry run).
pub(crate) fn ok_or_created(dry_run: bool, body: Value) -> Response {
    let code = if dry_run {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    (code, Json(body)).into_response()
}

/// Declares the `{items, next_cursor}` answer of a list call, with its schema, made from a
/// [`crate::manage::page::Page`] of its items.
macro_rules! page {
    ($(#[$meta:meta])* $name:ident of $item:ty) => {
        $(#[$meta])*
        #[derive(serde::Serialize, utoipa::ToSchema)]
        pub struct $name {
            pub items: Vec<$item>,
            /// Pass as `cursor` for the next page; null on the last page.
            #[schema(required = true)]
            pub next_cursor: Option<String>,
        }

        #[allow(dead_code)] // a list whose cursor is not an id builds its answer itself
        impl $name {
            /// The answer of a page.
            pub fn answer(page: $crate::manage::page::Page<$item>) -> axum::Json<serde_json::Value> {
                let next_cursor = page.next_cursor();
                axum::Json($crate::manage::to_json(&$name {
                    items: page.items,
                    next_cursor,
                }))
            }
        }
    };
}
pub(crate) use page;
