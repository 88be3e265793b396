//! Request-level bounds applied to every route: a deadline for receiving a whole request body
//! (a client that sends half a body, or one byte a second, is cut off), and a bound on the
//! requests handled at once (past it, `503` at once rather than a queue).
//!
//! A request's place in flight is an [`InFlight`] in its extensions. A handler that has decided
//! to refuse the request may give the place back before it finishes (the webhook endpoint does,
//! while it waits a bounded time for a refused body to record): what refused requests still
//! hold is bounded by their own budget, and they cannot take the places of valid senders.

use std::error::Error as StdError;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use crate::problem::Problem;

/// The error a body gives when its deadline passes.
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub Duration);

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the request body did not arrive within {} seconds (--body-timeout-seconds)",
            self.0.as_secs()
        )
    }
}

impl StdError for BodyTimeout {}

impl BodyTimeout {
    /// The `BodyTimeout` somewhere in `e`'s chain of sources, if there is one.
    pub fn find(e: &(dyn StdError + 'static)) -> Option<BodyTimeout> {
        let mut cur = Some(e);
        while let Some(err) = cur {
            if let Some(t) = err.downcast_ref::<BodyTimeout>() {
                return Some(*t);
            }
            cur = err.source();
        }
        None
    }

    /// The answer: 408, and the connection closed (the rest of the body was never read).
    pub fn problem(&self) -> Problem {
        Problem::new(StatusCode::REQUEST_TIMEOUT, self.to_string())
    }
}

/// A body that fails with [`BodyTimeout`] once `deadline` passes before its end.
pub struct DeadlineBody {
    inner: Body,
    sleep: Pin<Box<Sleep>>,
    limit: Duration,
}

impl DeadlineBody {
    pub fn new(inner: Body, limit: Duration) -> Self {
        DeadlineBody {
            inner,
            sleep: Box::pin(tokio::time::sleep_until(Instant::now() + limit)),
            limit,
        }
    }
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn StdError + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        match this.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout(this.limit))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A request's place among those handled at once (`--max-requests-in-flight`), held until its
/// answer is ready unless given back sooner with [`InFlight::release`].
#[derive(Clone)]
pub struct InFlight(Arc<Mutex<Option<OwnedSemaphorePermit>>>);

impl InFlight {
    /// Gives the place back now; a later call, or the end of the request, does nothing more.
    pub fn release(&self) {
        let permit = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(permit);
    }
}

/// Adds both bounds to `app`.
pub fn bound(app: Router, body_timeout: Duration, max_in_flight: usize) -> Router {
    let deadline = move |req: Request, next: Next| {
        let (parts, body) = req.into_parts();
        let body = if body.is_end_stream() {
            body
        } else {
            Body::new(DeadlineBody::new(body, body_timeout))
        };
        next.run(Request::from_parts(parts, body))
    };
    // Global: `Router::layer` makes one service per route, and they share this semaphore.
    let places = Arc::new(Semaphore::new(max_in_flight));
    app.layer(axum::middleware::from_fn(deadline))
        .layer(axum::middleware::from_fn_with_state(
            (places, max_in_flight),
            limit_in_flight,
        ))
}

async fn limit_in_flight(
    State((places, max)): State<(Arc<Semaphore>, usize)>,
    mut req: Request,
    next: Next,
) -> Response {
    let Ok(permit) = places.try_acquire_owned() else {
        metrics::counter!("hookflow_requests_shed_total").increment(1);
        return Problem {
            retry_after: Some(1),
            ..Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the server is handling {max} requests at once, the most allowed \
                     (--max-requests-in-flight); nothing was recorded, retry later"
                ),
            )
        }
        .into_response();
    };
    let place = InFlight(Arc::new(Mutex::new(Some(permit))));
    req.extensions_mut().insert(place.clone());
    let answer = next.run(req).await;
    place.release();
    answer
}
