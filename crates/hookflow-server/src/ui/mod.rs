//! The web UI (SPEC §7): server-rendered HTML pages and plain forms under `/ui`, signed in with
//! the admin token. Pages are minijinja templates (HTML auto-escaping on) built into the binary,
//! with one stylesheet and one small script (copy buttons only; every form works without it).
//!
//! It owns presentation only: every change goes through the same functions as the management
//! API (the services of `crate::manage`), and every list is one keyset page of the store. Sessions are
//! stateless sealed cookies ([`session`]), so every node of an installation accepts them.
//!
//! Layout: [`session`] (sign-in, cookies, CSRF, the extractors pages use), [`webhooks`] (Events
//! & Webhooks, webhook details, deliveries, events), [`workflows`] (list, editor, manual runs),
//! [`replay`] (replay and dry runs of deliveries), [`runs`], [`locate`] (where a document path is
//! in YAML text), [`pictures`] (charts and diagrams, drawn by [`charts`] and [`diagram`]).

mod charts;
mod diagram;
mod locate;
mod pictures;
mod replay;
mod runs;
mod session;
mod verification;
mod versions;
mod webhooks;
mod workflows;

use std::sync::LazyLock;

use axum::Router;
use axum::extract::{Request, State};
use axum::handler::Handler;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{MethodRouter, get};
use minijinja::{Environment, Value};
use serde_json::{Value as Json, json};

use crate::manage::page::{PageRequest, after, encode_cursor};
use crate::manage::{ManageError, ManageResult};
use crate::problem::Problem;
use crate::state::AppState;
use session::Session;
pub use session::root;

/// Rows per page of every list.
const PAGE: i64 = 50;
/// Options of a `<select>` of webhooks or workflows (the first by name).
const CHOICES: i64 = 500;

pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/static/app.css", get(stylesheet))
        .route("/static/app.js", get(script))
        .merge(session::routes())
        .merge(webhooks::routes())
        .merge(replay::routes())
        .merge(workflows::routes())
        .merge(versions::routes())
        .merge(runs::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state, finish))
}

/// A page with a form: `GET` shows it, `POST` submits it.
pub(crate) fn form<G, TG, P, TP>(show: G, submit: P) -> MethodRouter<AppState>
where
    G: Handler<TG, AppState>,
    P: Handler<TP, AppState>,
    TG: 'static,
    TP: 'static,
{
    get(show).post(submit)
}

/// What every UI answer goes through: an error raised anywhere (a handler, an extractor, a
/// fallback) becomes its page here, with the navigation of the visitor's session; then the
/// [`page_headers`].
async fn finish(State(st): State<AppState>, req: Request, next: Next) -> Response {
    // Only the cookies are kept: the session is opened only when an error page needs it.
    let cookies: HeaderMap = req
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .map(|v| (header::COOKIE, v.clone()))
        .collect();
    let res = next.run(req).await;
    let res = match res.extensions().get::<ErrorPage>().cloned() {
        None => res,
        Some(ErrorPage(p)) => {
            let session = session::session_of(&st, &cookies);
            let (page_parts, body) = error_page(&p, session.as_ref()).into_parts();
            // Keep the answer's own headers (`Allow`, `Retry-After`); the body is the page.
            let (mut parts, _) = res.into_parts();
            parts.status = page_parts.status;
            parts.headers.extend(page_parts.headers);
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, body)
        }
    };
    page_headers(res)
}

/// Headers of every UI answer: pages are private (no caching, no framing, no referrer to other
/// sites; page addresses never hold a key, and same-origin referrers let browsers send a real
/// `Origin` on our forms) and may load only this server's own files.
fn page_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
        ),
    );
    res
}

const STYLESHEET: &str = include_str!("../../ui/static/app.css");
const SCRIPT: &str = include_str!("../../ui/static/app.js");

/// Changes whenever a static file does, so pages can link them with a year-long cache.
static ASSET_VERSION: LazyLock<String> = LazyLock::new(|| {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    (STYLESHEET, SCRIPT).hash(&mut h);
    format!("{:016x}", h.finish())
});

fn static_file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        body,
    )
        .into_response()
}

async fn stylesheet() -> Response {
    static_file("text/css; charset=utf-8", STYLESHEET)
}

async fn script() -> Response {
    static_file("text/javascript; charset=utf-8", SCRIPT)
}

/// The templates, compiled once. Immutable, so a process-wide static holds no state.
static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // A field a page does not have renders as nothing rather than failing the page.
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
    // Each template with its source, read at build time from ui/templates.
    macro_rules! sources {
        ($($name:literal),+ $(,)?) => {
            [$(($name, include_str!(concat!("../../ui/templates/", $name)))),+]
        };
    }
    for (name, source) in sources![
        "layout.html",
        "error.html",
        "parts.html",
        "versions_table.html",
        "routing_events.html",
        "sign_in.html",
        "events_webhooks.html",
        "webhook_form.html",
        "webhook.html",
        "delivery.html",
        "event_form.html",
        "workflows.html",
        "workflow.html",
        "runs.html",
        "run.html",
        "versions.html",
        "version.html",
    ] {
        env.add_template(name, source)
            .unwrap_or_else(|e| panic!("UI template {name} does not compile: {e}"));
    }
    env
});

/// JSON as a template value.
fn to_value(v: &Json) -> Value {
    match v {
        Json::Null => Value::from(()),
        Json::Bool(b) => Value::from(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::from(i),
            None => Value::from(n.as_f64().unwrap_or(0.0)),
        },
        Json::String(s) => Value::from(s.as_str()),
        Json::Array(a) => Value::from(a.iter().map(to_value).collect::<Vec<_>>()),
        Json::Object(m) => Value::from_pairs(
            m.iter()
                .map(|(k, v)| (Value::from(k.as_str()), to_value(v)))
                .collect::<Vec<_>>(),
        ),
    }
}

/// A page: `template` rendered with `ctx` (plus `csrf`), inside the layout. `ctx.title` is the
/// page title, `ctx.section` the navigation entry to mark.
fn page(status: StatusCode, template: &str, session: Option<&Session>, mut ctx: Json) -> Response {
    if let Some(s) = session {
        ctx["csrf"] = Json::String(s.csrf.clone());
    }
    let rendered = TEMPLATES
        .get_template(template)
        .and_then(|t| t.render(to_value(&ctx)))
        .and_then(|content| {
            TEMPLATES
                .get_template("layout.html")?
                .render(Value::from_pairs([
                    ("title", to_value(&ctx["title"])),
                    ("section", to_value(&ctx["section"])),
                    ("notice", to_value(&ctx["notice"])),
                    ("signed_in", Value::from(session.is_some())),
                    (
                        "csrf",
                        Value::from(session.map(|s| s.csrf.as_str()).unwrap_or("")),
                    ),
                    ("asset_version", Value::from(ASSET_VERSION.as_str())),
                    ("content", Value::from_safe_string(content)),
                ]))
        });
    match rendered {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, template, "rendering a UI page failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("<!doctype html><title>Error</title><p>Internal error; the server log has the cause.</p>"),
            )
                .into_response()
        }
    }
}

/// A piece several pages show alike (`versions_table.html`, `routing_events.html`) rendered
/// with `ctx`, for a page to show as it is (`| safe`: the piece escaped its own values).
fn piece(template: &str, ctx: &Json) -> Json {
    match TEMPLATES
        .get_template(template)
        .and_then(|t| t.render(to_value(ctx)))
    {
        Ok(html) => Json::String(html),
        Err(e) => {
            tracing::error!(error = %e, template, "rendering a UI piece failed");
            Json::Null
        }
    }
}

/// An error answer of the UI: the problem's status and detail as a page (rendered by
/// [`finish`], which knows the visitor's session).
pub struct UiError(Problem);

/// The problem an answer stands for, until [`finish`] renders its page.
#[derive(Clone)]
struct ErrorPage(Problem);

impl From<Problem> for UiError {
    fn from(problem: Problem) -> UiError {
        UiError(problem)
    }
}

impl From<ManageError> for UiError {
    fn from(e: ManageError) -> UiError {
        Problem::from(e).into()
    }
}

impl From<hookflow_store::StoreError> for UiError {
    fn from(e: hookflow_store::StoreError) -> UiError {
        ManageError::from(e).into()
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        // The problem's status and headers; the body is replaced by its page.
        let mut res = self.0.clone().into_response();
        res.extensions_mut().insert(ErrorPage(self.0));
        res
    }
}

fn error_page(p: &Problem, session: Option<&Session>) -> Response {
    page(
        p.status,
        "error.html",
        session,
        json!({"title": p.title, "status": p.status.as_u16(), "detail": p.detail}),
    )
}

type UiResult = Result<Response, UiError>;

/// The answer to an unknown `/ui` address: sign in first, else 404.
async fn not_found(session: Option<Session>) -> Response {
    match session {
        None => Redirect::to("/ui/sign-in").into_response(),
        Some(_) => UiError(Problem::not_found("there is nothing at this address")).into_response(),
    }
}

/// A known `/ui` address asked with a method it does not take.
async fn method_not_allowed(method: Method) -> UiError {
    UiError(crate::ops::method_not_allowed(method).await)
}

/// Fields of a query string or a form body, in order.
#[derive(Debug, Default)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    fn parse(bytes: &[u8]) -> Fields {
        Fields(form_urlencoded::parse(bytes).into_owned().collect())
    }

    /// The first value of `name`, if given.
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `name` trimmed, `None` when absent or blank.
    fn non_empty(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }

    /// An optional whole number; `Err` names the field when it is not one.
    fn number<T: std::str::FromStr>(&self, name: &str, label: &str) -> Result<Option<T>, Problem> {
        self.non_empty(name)
            .map(|v| {
                v.parse().map_err(|_| {
                    Problem::unprocessable(format!("{label} must be a whole number, not {v:?}"))
                })
            })
            .transpose()
    }
}

/// The cursor of the page asked for (`?cursor=`), checked as the API checks it.
fn cursor(q: &Fields) -> ManageResult<Option<String>> {
    after(q.get("cursor"))
}

/// The page of [`PAGE`] rows asked for (`?cursor=`).
fn page_of(q: &Fields) -> ManageResult<PageRequest> {
    Ok(PageRequest {
        limit: PAGE,
        after: cursor(q)?,
    })
}

/// The address of the next page: `base` plus the encoded cursor, `None` on the last page.
fn next_page(base: &str, next: Option<String>) -> Option<String> {
    let cursor = encode_cursor(next)?;
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}cursor={cursor}"))
}

/// The options of a `<select>`: `choices` as `(id, name)`, with `chosen` first when they left
/// it out (past [`CHOICES`]), so a page opened with a choice shows it chosen.
fn options(mut choices: Vec<(String, String)>, chosen: Option<(String, String)>) -> Json {
    if let Some(c) = chosen
        && !choices.iter().any(|(id, _)| *id == c.0)
    {
        choices.insert(0, c);
    }
    choices
        .into_iter()
        .map(|(id, name)| json!({"id": id, "name": name}))
        .collect()
}

/// `303 See Other` to `to`.
fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// A JSON value for a `<pre>`: pretty-printed, `""` for null.
fn pretty(v: &Json) -> String {
    if v.is_null() {
        String::new()
    } else {
        serde_json::to_string_pretty(v).unwrap_or_default()
    }
}

/// Milliseconds between two RFC 3339 times as the API shows them, as text (`1.25 s`).
fn duration(from: &Json, to: &Json) -> Option<String> {
    let parse = |v: &Json| {
        v.as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
    };
    let ms = (parse(to)? - parse(from)?).num_milliseconds();
    Some(if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.2} s", ms as f64 / 1000.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles_and_renders_without_data() {
        for name in TEMPLATES.templates().map(|(n, _)| n).collect::<Vec<_>>() {
            let t = TEMPLATES.get_template(name).expect("template");
            t.render(to_value(&json!({})))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn values_are_escaped() {
        let html = TEMPLATES
            .get_template("error.html")
            .and_then(|t| t.render(to_value(&json!({"detail": "<script>x</script>"}))))
            .expect("render");
        assert!(
            html.contains("&lt;script&gt;x&lt;&#x2f;script&gt;"),
            "{html}"
        );
    }

    #[test]
    fn a_choice_past_the_list_is_kept() {
        let list = || vec![("a".to_string(), "A".to_string())];
        let chosen = |id: &str| Some((id.to_string(), id.to_uppercase()));
        assert_eq!(options(list(), None), json!([{"id": "a", "name": "A"}]));
        assert_eq!(
            options(list(), chosen("a")),
            json!([{"id": "a", "name": "A"}])
        );
        assert_eq!(
            options(list(), chosen("z")),
            json!([{"id": "z", "name": "Z"}, {"id": "a", "name": "A"}])
        );
    }

    #[test]
    fn next_page_links_keep_the_query() {
        assert_eq!(next_page("/ui/runs", None), None);
        let id = "0190c0de-0000-7000-8000-000000000000".to_string();
        let link = next_page("/ui/runs?status=failed", Some(id)).expect("link");
        assert!(link.starts_with("/ui/runs?status=failed&cursor="), "{link}");
    }
}
