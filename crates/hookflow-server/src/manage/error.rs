//! The management services' one error type, [`ManageError`]: what went wrong in domain terms
//! (nothing has this id, the change conflicts, a value is not allowed, the database is away),
//! never in HTTP terms. [`Problem`] is made from it in one place, [`From<ManageError>`] below:
//! the status, title, `type`, `detail` and `errors` of every management answer (SPEC §5), and
//! the one log line of a server-side failure (its cause is logged, never answered).

use axum::http::StatusCode;
use hookflow_core::workflow::ValidationError;
use hookflow_store::StoreError;

use crate::problem::Problem;

/// Why a management service refused or failed. `detail` texts say what was wrong and what was
/// expected: they are answered as they are.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ManageError {
    /// Nothing has this id or name (404).
    #[error("{0}")]
    NotFound(String),
    /// The change conflicts with what is stored: a name taken, a workflow that cannot run now, a
    /// delivery that cannot be replayed (409).
    #[error("{0}")]
    Conflict(String),
    /// A value that is not of the form asked for: a cursor not issued here, a page size out of
    /// range, a dedup key that does not compile, a time that is not RFC 3339 (400).
    #[error("{0}")]
    Malformed(String),
    /// A value that is not allowed, with a workflow document's errors when they are why (422).
    #[error("{detail}")]
    Invalid {
        detail: String,
        errors: Option<Vec<ValidationError>>,
    },
    /// The database cannot be reached now; the cause is logged (503, retry after a second).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else; the cause is logged, the answer is opaque (500).
    #[error("internal error: {0}")]
    Internal(String),
}

/// What a management service answers.
pub type ManageResult<T> = Result<T, ManageError>;

impl ManageError {
    /// A value that is not allowed (422), without document errors.
    pub fn invalid(detail: impl Into<String>) -> ManageError {
        ManageError::Invalid {
            detail: detail.into(),
            errors: None,
        }
    }

    /// The common 404: `there is no {what} with id {id}`.
    pub fn no(what: &str, id: &str) -> ManageError {
        ManageError::NotFound(format!("there is no {what} with id {id}"))
    }
}

/// `Option` of a lookup by id: `None` is [`ManageError::no`].
pub trait Found<T> {
    fn found(self, what: &str, id: &str) -> ManageResult<T>;
}

impl<T> Found<T> for Option<T> {
    fn found(self, what: &str, id: &str) -> ManageResult<T> {
        self.ok_or_else(|| ManageError::no(what, id))
    }
}

impl From<StoreError> for ManageError {
    fn from(e: StoreError) -> ManageError {
        match e {
            StoreError::Conflict(m) => ManageError::Conflict(m),
            StoreError::NotFound(m) => ManageError::NotFound(m),
            StoreError::Invalid(m) => ManageError::invalid(m),
            StoreError::Unavailable(_) => ManageError::Unavailable(e.to_string()),
            other => ManageError::Internal(format!("{other:?}")),
        }
    }
}

/// The one mapping of domain errors to problem+json answers.
impl From<ManageError> for Problem {
    fn from(e: ManageError) -> Problem {
        match e {
            ManageError::NotFound(m) => Problem::not_found(m),
            ManageError::Conflict(m) => Problem::new(StatusCode::CONFLICT, m),
            ManageError::Malformed(m) => Problem::bad_request(m),
            ManageError::Invalid { detail, errors } => Problem {
                errors: errors.map(|e| serde_json::json!(e)),
                ..Problem::unprocessable(detail)
            },
            ManageError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                Problem {
                    retry_after: Some(1),
                    ..Problem::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "the database is unavailable; retry later",
                    )
                }
            }
            ManageError::Internal(cause) => {
                tracing::error!(error = %cause, "internal error");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error; the server log has the cause",
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;
    use axum::response::IntoResponse;
    use serde_json::{Value, json};

    use super::*;

    /// The answer a domain error becomes: status, `Retry-After`, and the problem document.
    async fn answer(e: ManageError) -> (u16, Option<String>, Value) {
        let res = Problem::from(e).into_response();
        let status = res.status().as_u16();
        let retry = res
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        assert_eq!(
            res.headers()["content-type"],
            "application/problem+json",
            "content type"
        );
        let body = to_bytes(res.into_body(), usize::MAX).await.unwrap();
        (status, retry, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn client_errors_keep_their_detail() {
        let cases = [
            (
                ManageError::no("webhook", "w1"),
                404,
                "Not Found",
                "not-found",
                "there is no webhook with id w1",
            ),
            (
                ManageError::Conflict("taken".into()),
                409,
                "Conflict",
                "conflict",
                "taken",
            ),
            (
                ManageError::Malformed("bad cursor".into()),
                400,
                "Bad Request",
                "bad-request",
                "bad cursor",
            ),
            (
                ManageError::invalid("name must be 1 to 200 characters"),
                422,
                "Unprocessable Entity",
                "invalid-input",
                "name must be 1 to 200 characters",
            ),
        ];
        for (e, status, title, slug, detail) in cases {
            let (s, retry, doc) = answer(e).await;
            assert_eq!(s, status);
            assert_eq!(retry, None);
            assert_eq!(
                doc,
                json!({"detail": detail, "status": status, "title": title,
                       "type": format!("urn:hookflow:problem:{slug}")})
            );
        }
    }

    #[tokio::test]
    async fn a_documents_errors_are_listed() {
        let errors = vec![ValidationError {
            path: "steps[0].url".into(),
            message: "must be an http(s) URL".into(),
        }];
        let e = ManageError::Invalid {
            detail: "the workflow document cannot be read: …".into(),
            errors: Some(errors),
        };
        let (s, _, doc) = answer(e).await;
        assert_eq!(s, 422);
        assert_eq!(
            doc["errors"],
            json!([{"path": "steps[0].url", "message": "must be an http(s) URL"}])
        );
    }

    #[tokio::test]
    async fn server_errors_are_opaque() {
        let (s, retry, doc) = answer(ManageError::Unavailable("pool timed out".into())).await;
        assert_eq!((s, retry.as_deref()), (503, Some("1")));
        assert_eq!(doc["detail"], "the database is unavailable; retry later");
        assert_eq!(doc["type"], "urn:hookflow:problem:unavailable");
        let (s, retry, doc) = answer(ManageError::Internal("secret cause".into())).await;
        assert_eq!((s, retry), (500, None));
        assert_eq!(
            doc["detail"],
            "internal error; the server log has the cause"
        );
        assert_eq!(doc["title"], "Internal Server Error");
        assert_eq!(doc["type"], "urn:hookflow:problem:internal-error");
    }

    #[test]
    fn store_errors_become_domain_errors() {
        assert_eq!(
            ManageError::from(StoreError::Conflict("name taken".into())),
            ManageError::Conflict("name taken".into())
        );
        assert_eq!(
            ManageError::from(StoreError::NotFound("gone".into())),
            ManageError::NotFound("gone".into())
        );
        assert_eq!(
            ManageError::from(StoreError::Invalid("bad".into())),
            ManageError::invalid("bad")
        );
        assert!(matches!(
            ManageError::from(StoreError::Internal("x".into())),
            ManageError::Internal(_)
        ));
        assert_eq!(
            None::<()>.found("run", "r1"),
            Err(ManageError::no("run", "r1"))
        );
    }
}
