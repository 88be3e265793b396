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

use axum::Router;
use axum::extract::{FromRequest, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::problem::Problem;
use crate::state::AppState;

/// Every management route with its OpenAPI operation: [`router`] serves them and
/// [`crate::openapi::document`] describes them, both from this one list (paths relative to
/// `/api/v1`).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(webhooks::create, webhooks::list))
        .routes(routes!(webhooks::show, webhooks::update, webhooks::delete))
        .routes(routes!(webhooks::rotate_key))
        .routes(routes!(checklist::show))
        .routes(routes!(deliveries::list))
        .routes(routes!(replay::range))
        .routes(routes!(deliveries::show))
        .routes(routes!(replay::one))
        .routes(routes!(events::create, events::list))
        .routes(routes!(events::show, events::update, events::delete))
        .routes(routes!(filter_test::test))
        .routes(routes!(workflows::create, workflows::list))
        .routes(routes!(
            workflows::show,
            workflows::replace,
            workflows::patch,
            workflows::delete
        ))
        .routes(routes!(workflows::revalidate))
        .routes(routes!(manual_runs::start_run))
        .routes(routes!(versions::list))
        .routes(routes!(versions::show))
        .routes(routes!(runs::list))
        .routes(routes!(runs::show))
        .routes(routes!(runs::cancel))
        .routes(routes!(secrets::list))
        .routes(routes!(secrets::put, secrets::delete))
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
        let bytes = read_body(req, st).await?;
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

pub(crate) async fn read_body(req: Request, st: &AppState) -> Result<bytes::Bytes, Problem> {
    use http_body_util::BodyExt;
    let limit = st.limits.max_api_body;
    http_body_util::Limited::new(req.into_body(), limit)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|_| {
            Problem::new(
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is larger than {limit} bytes"),
            )
        })
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

/// `Option<Option<T>>` for PATCH fields: absent = keep, `null` = clear.
pub(crate) mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
    where
        T: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// `?limit=&cursor=` of list calls.
#[derive(Debug, Default, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size: 1 to 500 (default 50). Anything else is a 400.
    #[param(minimum = 1, maximum = 500, default = 50)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page (opaque). A cursor this server did not issue is a
    /// 400.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The page size: default 50, at most 500.
    pub fn limit(&self) -> Result<i64, Problem> {
        match self.limit {
            None => Ok(50),
            Some(n) if (1..=500).contains(&n) => Ok(n),
            Some(n) => Err(Problem::bad_request(format!(
                "limit must be between 1 and 500, got {n}"
            ))),
        }
    }

    /// The decoded cursor (an opaque token to clients; inside, the id of the last item of the
    /// previous page, so anything that does not decode to an id was not issued here).
    pub fn cursor(&self) -> Result<Option<String>, Problem> {
        self.cursor
            .as_deref()
            .filter(|c| !c.is_empty())
            .map(|c| {
                URL_SAFE_NO_PAD
                    .decode(c)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .filter(|id| uuid::Uuid::parse_str(id).is_ok())
                    .ok_or_else(|| {
                        Problem::bad_request(
                            "cursor is not one this server issued: pass the next_cursor of the \
                             previous page as it was",
                        )
                    })
            })
            .transpose()
    }
}

/// The `{items, next_cursor}` answer of list calls.
pub fn list_answer(items: Vec<serde_json::Value>, next: Option<String>) -> serde_json::Value {
    serde_json::json!({
        "items": items,
        "next_cursor": encode_cursor(next),
    })
}

/// `value` as the JSON an answer holds. Answers are built as typed values (whose schemas the
/// OpenAPI document shows) and sent as [`serde_json::Value`], whose members are in name order:
/// the order answers have always had.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// Declares the `{items, next_cursor}` answer of a list call, with its schema.
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
    };
}
pub(crate) use page;

/// The opaque cursor clients pass back for the page after the item with id `next`.
pub fn encode_cursor(next: Option<String>) -> Option<String> {
    next.map(|n| URL_SAFE_NO_PAD.encode(n))
}

/// Unix milliseconds as RFC 3339 (UTC, millisecond precision).
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}
