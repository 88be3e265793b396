//! The checks of SPEC §2 that depend only on the request and the webhook's configuration
//! (checks 1–5), as a pure function. The HTTP layer runs them against its cached view of the
//! webhook, and the delivery journal runs them again against the row it reads inside the
//! delivery's transaction whenever that row changed — so a decision is always made on the state
//! that is committed, on every node. Checks 6 (rate limits) and 7 (body parses) are decided by the
//! journal (with [`rate`]) and the HTTP layer respectively; their answers are built here too, so
//! every rejection text lives in one place.

pub mod rate;

pub use rate::{DAY_MS, MINUTE_MS, window};

use crate::media;

/// What a check needs to know of a webhook. `key_hash`es are SHA-256 digests of the keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookAuth {
    pub id: String,
    pub name: String,
    /// Bumped by every change to the webhook, so a stale cached copy is detected cheaply.
    pub version: i64,
    pub content_type: String,
    pub key_hash: [u8; 32],
    /// The key replaced by the last rotation, valid until `prev_key_expires_at` (unix ms).
    pub prev_key_hash: Option<[u8; 32]>,
    pub prev_key_expires_at: Option<i64>,
    pub rate_limit_per_minute: i64,
    pub rate_limit_per_day: i64,
    /// Duplicate detection (SPEC §9), if set.
    pub dedup: Option<crate::dedup::Dedup>,
    /// Signature verification (SPEC §9, check 5b), if the webhook has it.
    pub verification: Option<std::sync::Arc<crate::verify::Spec>>,
}

impl WebhookAuth {
    /// Whether check 2 asks for the key: not when an enforced verification says the signature
    /// is enough (`require_api_key: false`).
    pub fn requires_key(&self) -> bool {
        self.verification
            .as_ref()
            .is_none_or(|v| v.settings.require_api_key)
    }
}

/// The facts of a request that checks 1–5 look at. The key itself is never kept: only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestFacts {
    pub method: String,
    pub key_hash: Option<[u8; 32]>,
    pub accept: Option<String>,
    pub content_type: Option<String>,
    /// The declared `Content-Length`, or the number of bytes read.
    pub body_len: Option<u64>,
}

/// A refused request: the HTTP status and the problem+json `title`/`detail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub status: u16,
    pub title: &'static str,
    pub detail: String,
    /// `Retry-After` seconds (429, 503).
    pub retry_after: Option<u64>,
}

impl Rejection {
    pub fn new(status: u16, title: &'static str, detail: impl Into<String>) -> Self {
        Rejection {
            status,
            title,
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// SPEC §2 check 2: the same answer for an unknown webhook and a wrong key.
    pub fn unauthorized() -> Self {
        Rejection::new(
            401,
            "Unauthorized",
            "unknown webhook or wrong API key: send the webhook's key as the api_key query \
             parameter of its Webhook URL or in an X-Api-Key header",
        )
    }

    pub fn method_not_allowed(method: &str) -> Self {
        Rejection::new(
            405,
            "Method Not Allowed",
            format!("webhooks accept only POST requests, this one was {method}"),
        )
    }

    pub fn too_large(len: u64, max: u64) -> Self {
        Rejection::new(
            413,
            "Content Too Large",
            format!("the body is {len} bytes; at most {max} bytes are accepted"),
        )
    }

    pub fn too_large_streamed(max: u64) -> Self {
        Rejection::new(
            413,
            "Content Too Large",
            format!("the body is larger than {max} bytes, the most that is accepted"),
        )
    }

    pub fn bad_body(detail: impl Into<String>) -> Self {
        Rejection::new(400, "Bad Request", detail)
    }

    /// SPEC §2 check 6. `window` is `minute` or `day`.
    pub fn rate_limited(limit: i64, window: &str, retry_after: u64) -> Self {
        Rejection {
            retry_after: Some(retry_after),
            ..Rejection::new(
                429,
                "Too Many Requests",
                format!(
                    "this webhook accepts at most {limit} requests per {window} (UTC, fixed \
                     window); the limit is reached, retry after {retry_after} seconds"
                ),
            )
        }
    }

    /// Check 5b (SPEC §9): the signature does not verify.
    pub fn signature(detail: &str) -> Self {
        Rejection::new(
            401,
            "Unauthorized",
            format!("signature verification failed: {detail}"),
        )
    }

    pub fn overloaded(retry_after: u64) -> Self {
        Rejection {
            retry_after: Some(retry_after),
            ..Rejection::new(
                503,
                "Service Unavailable",
                "the server cannot record more requests right now; nothing was recorded, \
                 retry later",
            )
        }
    }
}

/// Constant-time equality of two key digests.
fn digest_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

/// Whether `presented` is one of the webhook's valid keys at `now_ms`.
pub fn key_matches(hook: &WebhookAuth, presented: &[u8; 32], now_ms: i64) -> bool {
    let current = digest_eq(&hook.key_hash, presented);
    let previous = match (hook.prev_key_hash, hook.prev_key_expires_at) {
        (Some(prev), Some(until)) => digest_eq(&prev, presented) & (now_ms < until),
        _ => false,
    };
    current | previous
}

/// SPEC §2 checks 1–5, in order; the first that fails decides.
pub fn check_request(
    hook: &WebhookAuth,
    req: &RequestFacts,
    max_body: u64,
    now_ms: i64,
) -> Result<(), Rejection> {
    if req.method != "POST" {
        return Err(Rejection::method_not_allowed(&req.method));
    }
    match &req.key_hash {
        _ if !hook.requires_key() => {}
        Some(k) if key_matches(hook, k, now_ms) => {}
        _ => return Err(Rejection::unauthorized()),
    }
    match &req.accept {
        None => {
            return Err(Rejection::new(
                406,
                "Not Acceptable",
                "the request has no Accept header; send Accept: application/json (or \
                 application/*, */*)",
            ));
        }
        Some(a) if !media::accept_admits_json(a) => {
            return Err(Rejection::new(
                406,
                "Not Acceptable",
                format!(
                    "the Accept header '{a}' does not admit application/json; send Accept: \
                     application/json (or application/*, */*)"
                ),
            ));
        }
        Some(_) => {}
    }
    match &req.content_type {
        None => {
            return Err(Rejection::new(
                415,
                "Unsupported Media Type",
                format!(
                    "the request has no Content-Type header; this webhook expects \
                     Content-Type: {} (also when the body is empty)",
                    hook.content_type
                ),
            ));
        }
        Some(ct) if !media::content_type_matches(&hook.content_type, ct) => {
            return Err(Rejection::new(
                415,
                "Unsupported Media Type",
                format!(
                    "this webhook expects Content-Type: {} but the request has \
                     Content-Type: {ct}",
                    hook.content_type
                ),
            ));
        }
        Some(_) => {}
    }
    if let Some(len) = req.body_len
        && len > max_body
    {
        return Err(Rejection::too_large(len, max_body));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A webhook for the checks' tests: 5 per minute, 5,000 per day.
    pub(crate) fn hook() -> WebhookAuth {
        WebhookAuth {
            id: "w".into(),
            name: "n".into(),
            version: 1,
            content_type: "application/json".into(),
            key_hash: [1; 32],
            prev_key_hash: Some([2; 32]),
            prev_key_expires_at: Some(1_000),
            rate_limit_per_minute: 5,
            dedup: None,
            rate_limit_per_day: 5000,
            verification: None,
        }
    }

    fn facts() -> RequestFacts {
        RequestFacts {
            method: "POST".into(),
            key_hash: Some([1; 32]),
            accept: Some("application/json".into()),
            content_type: Some("application/json".into()),
            body_len: Some(10),
        }
    }

    #[test]
    fn order_of_checks() {
        let h = hook();
        assert_eq!(check_request(&h, &facts(), 100, 0), Ok(()));
        let mut f = facts();
        f.method = "GET".into();
        f.key_hash = None;
        assert_eq!(check_request(&h, &f, 100, 0).unwrap_err().status, 405);
        let mut f = facts();
        f.key_hash = Some([3; 32]);
        f.accept = None;
        assert_eq!(check_request(&h, &f, 100, 0).unwrap_err().status, 401);
        let mut f = facts();
        f.accept = None;
        f.content_type = None;
        assert_eq!(check_request(&h, &f, 100, 0).unwrap_err().status, 406);
        let mut f = facts();
        f.content_type = Some("text/plain".into());
        f.body_len = Some(1000);
        let r = check_request(&h, &f, 100, 0).unwrap_err();
        assert_eq!(r.status, 415);
        assert!(r.detail.contains("text/plain") && r.detail.contains("application/json"));
        let mut f = facts();
        f.body_len = Some(101);
        assert_eq!(check_request(&h, &f, 100, 0).unwrap_err().status, 413);
    }

    #[test]
    fn previous_key_valid_until_expiry() {
        let h = hook();
        let mut f = facts();
        f.key_hash = Some([2; 32]);
        assert!(check_request(&h, &f, 100, 999).is_ok());
        assert_eq!(check_request(&h, &f, 100, 1000).unwrap_err().status, 401);
    }
}
