//! The one error answer of the HTTP layer, `application/problem+json` (RFC 9457); domain errors
//! of the management services become one in [`crate::manage::error`]. Client errors carry a
//! `detail` that says what was wrong and what was expected; server errors are logged once with
//! their cause and answered with an opaque detail.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hookflow_core::ingest::Rejection;
use hookflow_store::StoreError;

use crate::manage::ManageError;

/// A problem answer.
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    pub title: String,
    pub detail: String,
    pub retry_after: Option<u64>,
    pub allow: Option<&'static str>,
    /// Extra `errors` member (e.g. a workflow document's validation errors).
    pub errors: Option<serde_json::Value>,
    /// Answer with `Connection: close`: the request's body was not read to its end, so what
    /// follows on the connection cannot be told from a next request.
    pub close: bool,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Problem {
        Problem {
            status,
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            detail: detail.into(),
            retry_after: None,
            allow: None,
            errors: None,
            close: false,
        }
    }

    /// The same answer with another `detail`.
    pub fn with_detail(self, detail: impl Into<String>) -> Problem {
        Problem {
            detail: detail.into(),
            ..self
        }
    }

    /// The same answer, closing the connection.
    pub fn closing(self) -> Problem {
        Problem {
            close: true,
            ..self
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, detail)
    }

    pub fn unprocessable(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, detail)
    }

    pub fn unauthorized() -> Problem {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "this call needs the admin token: send Authorization: Bearer <token>",
        )
    }
}

/// The `type` URI of a status: a stable identifier clients can match on.
fn type_uri(status: StatusCode) -> String {
    let slug = match status.as_u16() {
        400 => "bad-request",
        401 => "unauthorized",
        404 => "not-found",
        405 => "method-not-allowed",
        406 => "not-acceptable",
        408 => "request-timeout",
        409 => "conflict",
        413 => "content-too-large",
        414 => "uri-too-long",
        415 => "unsupported-media-type",
        422 => "invalid-input",
        429 => "rate-limited",
        431 => "header-fields-too-large",
        503 => "unavailable",
        _ => "internal-error",
    };
    format!("urn:hookflow:problem:{slug}")
}

impl Problem {
    /// The problem+json document.
    fn document(&self) -> String {
        let kind = type_uri(self.status);
        serde_json::to_string(&crate::openapi::ProblemDocument {
            detail: &self.detail,
            errors: self.errors.as_ref(),
            status: self.status.as_u16(),
            title: &self.title,
            kind: &kind,
        })
        .unwrap_or_default()
    }

    /// The whole HTTP/1.1 answer as bytes, ending with `Connection: close`: for the places that
    /// answer on a socket without a request having been parsed (a connection over a limit, a
    /// request head the HTTP parser refused).
    pub fn to_http1_close(&self) -> Vec<u8> {
        let body = self.document();
        let mut head = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: application/problem+json\r\ncontent-length: {}\r\n\
             connection: close\r\n",
            self.status.as_u16(),
            self.status.canonical_reason().unwrap_or("Error"),
            body.len()
        );
        if let Some(s) = self.retry_after {
            head.push_str(&format!("retry-after: {s}\r\n"));
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(body.as_bytes());
        out
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut res = (self.status, self.document()).into_response();
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(s) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if let Some(a) = self.allow {
            h.insert(header::ALLOW, HeaderValue::from_static(a));
        }
        if self.close {
            h.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        res
    }
}

impl From<Rejection> for Problem {
    fn from(r: Rejection) -> Problem {
        let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST);
        Problem {
            status,
            title: r.title.to_string(),
            detail: r.detail,
            retry_after: r.retry_after,
            allow: (r.status == 405).then_some("POST"),
            errors: None,
            close: false,
        }
    }
}

/// A store error as the management services see it ([`ManageError`]), answered as they are:
/// the one mapping is [`crate::manage::error`]'s.
impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Problem {
        ManageError::from(e).into()
    }
}

pub type ApiResult<T> = Result<T, Problem>;
