//! Signing in to the UI and proving that a form came from it.
//!
//! A session is a cookie holding, sealed with the installation's master key (XChaCha20-Poly1305,
//! see `hookflow_store::ui`): when it expires, the digest of the admin token it was opened with,
//! and a random CSRF secret. Nothing is kept in memory or in the database, so every node of a
//! multi-node installation accepts it; changing the admin token ends every session. Signing out
//! clears the cookie (a copied cookie stays valid until it expires — 12 hours at most).
//!
//! Every POST form carries the session's CSRF secret in a hidden `csrf` field; a POST without
//! it, or from another site (`Origin`, `Sec-Fetch-Site`), is refused with 403.

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hookflow_store::crypto::{ct_eq, digest, random_bytes};
use hookflow_store::now_ms;
use serde_json::json;

use super::{Fields, UiError, form, page, see_other};
use crate::problem::Problem;
use crate::state::AppState;

/// The session cookie's name.
pub const COOKIE: &str = "hookflow_session";
/// How long a session lasts.
const LIFETIME_SECS: i64 = 12 * 3600;

/// A signed-in visitor.
#[derive(Debug, Clone)]
pub struct Session {
    /// The CSRF secret every form of this session carries.
    pub csrf: String,
}

impl Session {
    /// A new session for a visitor who gave the token with digest `token`: the cookie value.
    fn open_new(st: &AppState, token: &[u8; 32]) -> String {
        let mut plain = Vec::with_capacity(56);
        plain.extend_from_slice(&(now_ms() + LIFETIME_SECS * 1000).to_be_bytes());
        plain.extend_from_slice(token);
        plain.extend_from_slice(&random_bytes::<16>());
        URL_SAFE_NO_PAD.encode(st.store.seal_session(&plain))
    }

    /// The session a cookie value stands for, if it is one of ours, unexpired, and opened with
    /// a token that is still valid.
    fn from_cookie(st: &AppState, value: &str) -> Option<Session> {
        let sealed = URL_SAFE_NO_PAD.decode(value).ok()?;
        let plain = st.store.open_session(&sealed)?;
        let (token, session) = Session::read(&plain, now_ms())?;
        token_valid(st, &token).then_some(session)
    }

    /// The token digest and the session an opened cookie holds, if it is unexpired at `now`.
    fn read(plain: &[u8], now: i64) -> Option<([u8; 32], Session)> {
        if plain.len() != 56 {
            return None;
        }
        let expires = i64::from_be_bytes(plain[..8].try_into().ok()?);
        let token: [u8; 32] = plain[8..40].try_into().ok()?;
        let csrf = URL_SAFE_NO_PAD.encode(&plain[40..]);
        (now < expires).then_some((token, Session { csrf }))
    }
}

/// Whether `d` is the digest of a valid admin token (the stored one or `HOOKFLOW_ADMIN_TOKEN`),
/// compared in constant time.
fn token_valid(st: &AppState, d: &[u8; 32]) -> bool {
    let stored = st.admin_digest.is_some_and(|a| ct_eq(&a, d));
    let env = st.env_token_digest.is_some_and(|a| ct_eq(&a, d));
    stored | env
}

fn cookie_value(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v)
}

pub(super) fn session_of(st: &AppState, headers: &HeaderMap) -> Option<Session> {
    cookie_value(headers).and_then(|v| Session::from_cookie(st, v))
}

/// Pages need a session; without one the answer is `303` to the sign-in page.
impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Response> {
        session_of(st, &parts.headers).ok_or_else(|| see_other("/ui/sign-in"))
    }
}

impl axum::extract::OptionalFromRequestParts<AppState> for Session {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        st: &AppState,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(session_of(st, &parts.headers))
    }
}

/// A page asked for by a signed-in visitor: what every page handler reads (the state, the
/// session, the query string). Without a session: `303` to sign in.
pub struct Visit {
    pub st: AppState,
    pub session: Session,
    pub q: Fields,
}

impl FromRequestParts<AppState> for Visit {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Response> {
        let session = Session::from_request_parts(parts, st).await?;
        Ok(Visit {
            st: st.clone(),
            session,
            q: Fields::parse(parts.uri.query().unwrap_or("").as_bytes()),
        })
    }
}

/// A POSTed form of a signed-in session, checked: from this site, with the session's CSRF
/// secret. Without a session: `303` to sign in; otherwise refused: `403`.
pub struct Form {
    pub session: Session,
    pub fields: Fields,
}

impl FromRequest<AppState> for Form {
    type Rejection = Response;

    async fn from_request(req: Request, st: &AppState) -> Result<Self, Response> {
        let Some(session) = session_of(st, req.headers()) else {
            return Err(see_other("/ui/sign-in"));
        };
        let forbidden = || {
            UiError::from(Problem::new(
                StatusCode::FORBIDDEN,
                "this form did not come from this site or has expired: reload the page and try \
                 again",
            ))
            .into_response()
        };
        if !same_site(st, req.headers()) {
            return Err(forbidden());
        }
        let bytes = st
            .read_body(req)
            .await
            .map_err(|p| UiError::from(p).into_response())?;
        let fields = Fields::parse(&bytes);
        let given = fields.get("csrf").unwrap_or("");
        if !ct_eq(given.as_bytes(), session.csrf.as_bytes()) {
            return Err(forbidden());
        }
        Ok(Form { session, fields })
    }
}

/// A request that says where it comes from must come from this server: `Sec-Fetch-Site` is
/// `same-origin` (or `none`, typed by the user) and `Origin` is this server's. Some browsers and
/// privacy settings send `Origin: null` for a site's own forms, so `null` tells nothing (the
/// CSRF secret and the SameSite=Strict cookie still hold).
fn same_site(st: &AppState, h: &HeaderMap) -> bool {
    let text = |name: &str| h.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    let Some(origin) = text("origin").filter(|o| *o != "null") else {
        return true;
    };
    let host = origin.split_once("://").map(|(_, h)| h);
    host.is_some_and(|o| Some(o) == text("host")) || origin == public_origin(&st.public_url)
}

/// `scheme://host[:port]` of the public URL.
fn public_origin(url: &str) -> &str {
    let after_scheme = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}

/// `GET /`: the UI's start page when signed in, else the sign-in page.
pub async fn root(State(st): State<AppState>, headers: HeaderMap) -> Response {
    super::page_headers(match session_of(&st, &headers) {
        Some(_) => see_other("/ui/events-webhooks"),
        None => see_other("/ui/sign-in"),
    })
}

fn sign_in_form(status: StatusCode, error: Option<&str>) -> Response {
    page(
        status,
        "sign_in.html",
        None,
        json!({"title": "Sign in", "error": error}),
    )
}

pub async fn sign_in_page() -> Response {
    sign_in_form(StatusCode::OK, None)
}

/// `POST /ui/sign-in` with `token`: a session cookie, or the form again with 401.
pub async fn sign_in(State(st): State<AppState>, req: Request) -> Response {
    if !same_site(&st, req.headers()) {
        return sign_in_form(
            StatusCode::FORBIDDEN,
            Some("Sign in from this server's own page."),
        );
    }
    let fields = match st.read_body(req).await {
        Ok(b) => Fields::parse(&b),
        Err(p) => return UiError::from(p).into_response(),
    };
    let token = fields.get("token").unwrap_or("").trim();
    let d = digest(token);
    if token.is_empty() || !token_valid(&st, &d) {
        return sign_in_form(
            StatusCode::UNAUTHORIZED,
            Some("That admin token is not valid."),
        );
    }
    let secure = if st.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age={LIFETIME_SECS}{secure}",
        Session::open_new(&st, &d)
    );
    let mut res = Redirect::to("/ui/events-webhooks").into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

/// `POST /ui/sign-out`: clears the cookie.
pub async fn sign_out(_: Form) -> Response {
    let mut res = see_other("/ui/sign-in");
    res.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("hookflow_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    res
}

/// This module's pages and forms, each with its route.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/sign-in", form(sign_in_page, sign_in))
        .route("/sign-out", post(sign_out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(expires: i64) -> Vec<u8> {
        let mut p = expires.to_be_bytes().to_vec();
        p.extend_from_slice(&[7; 32]);
        p.extend_from_slice(&[9; 16]);
        p
    }

    #[test]
    fn a_session_ends_when_it_expires() {
        let (token, s) = Session::read(&plain(1_000), 999).expect("live");
        assert_eq!(token, [7; 32]);
        assert_eq!(s.csrf, URL_SAFE_NO_PAD.encode([9; 16]));
        assert!(Session::read(&plain(1_000), 1_000).is_none());
        assert!(Session::read(&plain(1_000), 5_000).is_none());
        // Anything but the exact layout is no session.
        let p = plain(1_000);
        assert!(Session::read(&p[..55], 0).is_none());
        assert!(Session::read(&[p.clone(), vec![0]].concat(), 0).is_none());
    }
}
