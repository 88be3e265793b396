//! The connection layer under the router: accepts TCP connections within bounds and speaks
//! HTTP/1.1 on them with bounded headers and timeouts, so that clients that never finish, or
//! that open connections by the thousand, cannot take the memory, the file descriptors or the
//! time that valid webhooks need. It knows nothing of webhooks; the router does.
//!
//! Bounds (all configurable, see [`NetLimits`]):
//! - connections in all and per client address: over either, the connection is answered `503`
//!   problem+json naming the limit and closed; the total is also kept below the process's
//!   open-files limit (raised to its hard limit at start) less a reserve for the database,
//!   outbound calls and scripts. When the total is full, a connection that has waited long
//!   enough for a request gives its slot to the new one ([`evict`]);
//! - a request's header section (bytes and count): `431` problem+json;
//! - the time to send a request's headers, which also bounds an idle kept-alive connection
//!   (the clock starts when the previous answer was written): the connection is closed;
//! - the time to send a body ([`deadline`]) and the requests handled at once (`503`).

mod answer_io;
pub mod deadline;
mod evict;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::Service;

use crate::problem::Problem;
use crate::quota::{Exceeded, Quota};

pub use answer_io::ParserAnswers;

/// File descriptors kept free of client connections: database files and connections, outbound
/// HTTP calls, script processes, and the refusal of connections over the limit.
pub const FD_RESERVE: u64 = 512;

/// Bounds of the connection layer (`hookflow serve` flags of the same names).
#[derive(Debug, Clone)]
pub struct NetLimits {
    /// Open client connections at once (`--max-connections`).
    pub max_connections: u64,
    /// Open connections from one client address (`--max-connections-per-client`).
    pub max_connections_per_client: u64,
    /// Requests being handled at once; more are answered 503 (`--max-requests-in-flight`).
    pub max_requests_in_flight: usize,
    /// Time to send a request's header section, and the longest a kept-alive connection may sit
    /// idle between requests (`--header-timeout-seconds`).
    pub header_timeout: Duration,
    /// Largest request header section, request line included (`--max-header-bytes`).
    pub max_header_bytes: usize,
    /// Most header fields in one request (`--max-headers`).
    pub max_headers: usize,
    /// Time to send a whole request body, from the end of its headers (`--body-timeout-seconds`).
    pub body_timeout: Duration,
    /// When every connection slot is taken, a connection waiting this long for a request gives
    /// its slot to a new one (`--evict-idle-after-ms`).
    pub evict_idle_after: Duration,
}

impl Default for NetLimits {
    fn default() -> Self {
        NetLimits {
            max_connections: 4096,
            max_connections_per_client: 256,
            max_requests_in_flight: 2048,
            header_timeout: Duration::from_secs(10),
            max_header_bytes: 16 * 1024,
            max_headers: 100,
            body_timeout: Duration::from_secs(30),
            evict_idle_after: Duration::from_secs(1),
        }
    }
}

/// Connections over the limit being answered at once; beyond it they are closed unanswered.
const REFUSALS_AT_ONCE: usize = 64;

/// Raises the soft open-files limit to the hard one and answers the limit now in force.
pub fn raise_open_files_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read or raise the open-files limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE)
                .map(|(soft, _)| soft)
                .unwrap_or(1024)
        }
    }
}

/// The connection limit in force: the configured one, kept [`FD_RESERVE`] below `open_files`.
pub fn effective_max_connections(configured: u64, open_files: u64) -> u64 {
    let room = open_files.saturating_sub(FD_RESERVE).max(16);
    if configured > room {
        tracing::warn!(
            configured,
            open_files,
            used = room,
            "--max-connections is above what the open-files limit allows; using the lower value"
        );
    }
    configured.min(room)
}

/// Serves `app` on `listener` until `shutdown` completes, then stops accepting and lets the
/// connections finish the requests they carry (up to 30 s).
pub async fn serve_http1(
    listener: TcpListener,
    app: Router,
    limits: &NetLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let open_files = raise_open_files_limit();
    let max = effective_max_connections(limits.max_connections, open_files);
    let gate = Quota::<IpAddr>::new(max, limits.max_connections_per_client);
    let connections = evict::Connections::new(limits.evict_idle_after);
    let refusals = Arc::new(tokio::sync::Semaphore::new(REFUSALS_AT_ONCE));
    let answers = ParserAnswers::new(limits);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_header_size(limits.max_header_bytes)
        .max_headers(limits.max_headers)
        // The read buffer bounds what one connection holds: a header section at most, or body
        // chunks passed on as they come.
        .max_buf_size((limits.max_header_bytes + 1024).max(64 * 1024));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors or a connection reset before it was accepted: wait a
                    // little rather than spin.
                    metrics::counter!("hookflow_accept_errors_total").increment(1);
                    tracing::warn!(error = %e, "accept error");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let taken = match gate.try_take(peer.ip(), 1) {
            Err(Exceeded::Total(_)) if connections.evict_one() => {
                metrics::counter!("hookflow_connections_evicted_total").increment(1);
                gate.try_take(peer.ip(), 1)
            }
            taken => taken,
        };
        let slot = match taken {
            Ok(slot) => slot,
            Err(exceeded) => {
                metrics::counter!("hookflow_connections_refused_total").increment(1);
                refuse(stream, exceeded, &refusals);
                continue;
            }
        };
        let conn_state = connections.open(slot);
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(answers.wrap(stream));
        let router = app.clone();
        let (table, state) = (connections.clone(), conn_state.clone());
        let svc = hyper::service::service_fn(move |mut req: axum::http::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            let in_request = table.request(&state);
            let answer = router.clone().call(req);
            async move {
                let answer = answer.await;
                drop(in_request);
                answer
            }
        });
        let conn = graceful.watch(http.serve_connection(io, svc));
        tokio::spawn(async move {
            tokio::select! {
                ended = conn => {
                    if let Err(e) = ended {
                        tracing::debug!(error = %e, %peer, "connection ended with an error");
                    }
                }
                // Dropping the connection closes it; its slot is already given back.
                _ = conn_state.evicted() => {}
            }
            conn_state.close();
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(Duration::from_secs(30)) => {
            tracing::warn!("connections still open 30 s after shutdown was requested");
        }
    }
    Ok(())
}

/// Answers a connection over a limit with a 503 naming it, and closes it. Never holds more than
/// [`REFUSALS_AT_ONCE`] such sockets, each for at most a second.
fn refuse(mut stream: TcpStream, exceeded: Exceeded, refusals: &Arc<tokio::sync::Semaphore>) {
    let Ok(permit) = refusals.clone().try_acquire_owned() else {
        return;
    };
    let detail = match exceeded {
        Exceeded::PerKey(n) => format!(
            "this client address already has {n} open connections, the most allowed \
             (--max-connections-per-client); reuse one, or retry later"
        ),
        Exceeded::Total(n) => format!(
            "the server already has {n} open connections, the most allowed (--max-connections); \
             retry later"
        ),
    };
    let answer = Problem {
        retry_after: Some(1),
        ..Problem::new(StatusCode::SERVICE_UNAVAILABLE, detail)
    }
    .to_http1_close();
    tokio::spawn(async move {
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            // The answer goes after the request's head: HTTP clients take an answer that comes
            // before their request for a broken connection.
            let mut head = Vec::with_capacity(1024);
            let mut chunk = [0u8; 2048];
            while head.len() < 16 * 1024 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut chunk).await? {
                    0 => break,
                    n => head.extend_from_slice(&chunk[..n]),
                }
            }
            stream.write_all(&answer).await?;
            stream.shutdown().await?;
            // Read what else the client sends until it closes too: closing with unread data
            // would reset the connection, and the client might lose the answer.
            let mut left = 64 * 1024;
            while left > 0 {
                match stream.read(&mut chunk).await? {
                    0 => break,
                    n => left -= n.min(left),
                }
            }
            Ok::<_, std::io::Error>(())
        })
        .await;
        drop(permit);
    });
}

/// The client address of a request served by [`serve_http1`].
pub fn client_ip(extensions: &axum::http::Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_keep_a_reserve_of_descriptors() {
        assert_eq!(effective_max_connections(4096, 20_000), 4096);
        assert_eq!(effective_max_connections(4096, 1024), 1024 - FD_RESERVE);
        assert_eq!(effective_max_connections(4096, 100), 16);
    }
}
