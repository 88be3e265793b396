//! Test data and stand-ins: random names, ids that name nothing, and local HTTP servers: any
//! axum app on 127.0.0.1 ([`LocalServer`]), or a destination that fails first and counts what
//! it receives ([`FlakyServer`]).

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A random string of `n` lowercase hex digits (no `rand` crate needed: `RandomState` is
/// randomly seeded per instance).
pub fn random_hex(n: usize) -> String {
    let mut s = String::new();
    while s.len() < n {
        let mut h = RandomState::new().build_hasher();
        h.write_usize(s.len());
        s.push_str(&format!("{:016x}", h.finish()));
    }
    s.truncate(n);
    s
}

/// An id of the same shape as `id` that names no webhook: its last character changed.
pub fn unknown_id_like(id: &str) -> String {
    let mut chars: Vec<char> = id.chars().collect();
    let last = chars.last_mut().expect("non-empty id");
    *last = match *last {
        '0' => '1',
        'a' => 'b',
        'A' => 'B',
        c if c.is_ascii_digit() => '0',
        c if c.is_ascii_lowercase() => 'a',
        c if c.is_ascii_uppercase() => 'A',
        _ => 'x',
    };
    chars.into_iter().collect()
}

/// A local HTTP server on 127.0.0.1 serving `app` (stopped on drop).
pub struct LocalServer {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub base: String,
    task: tokio::task::JoinHandle<()>,
}

impl LocalServer {
    pub async fn start(app: axum::Router) -> LocalServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a local server");
        let addr = listener.local_addr().expect("local address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        LocalServer {
            base: format!("http://{addr}"),
            task,
        }
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A local HTTP server that answers 503 to the first `fail_first` requests of each path and
/// 200 `{"ok": true, "path": ...}` after that, counting requests per path. Every answer is
/// held back `delay`, so that requests are in flight for a while.
pub struct FlakyServer {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    counts: Arc<Mutex<HashMap<String, usize>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FlakyServer {
    pub async fn start(fail_first: usize, delay: Duration) -> FlakyServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().unwrap().to_string();
        let counts: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let c = counts.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let counts = c.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    // Head, then the body by Content-Length.
                    let head_end = loop {
                        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break p;
                        }
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                    let len: usize = head
                        .lines()
                        .filter_map(|l| l.split_once(':'))
                        .find(|(n, _)| n.trim().eq_ignore_ascii_case("content-length"))
                        .and_then(|(_, v)| v.trim().parse().ok())
                        .unwrap_or(0);
                    while buf.len() < head_end + 4 + len {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let path = head
                        .lines()
                        .next()
                        .and_then(|l| l.split_whitespace().nth(1))
                        .unwrap_or("/")
                        .to_string();
                    let n = {
                        let mut m = counts.lock().unwrap();
                        let e = m.entry(path.clone()).or_default();
                        *e += 1;
                        *e
                    };
                    let (status, body) = if n <= fail_first {
                        ("503 Service Unavailable", json!({"ok": false}).to_string())
                    } else {
                        ("200 OK", json!({"ok": true, "path": path}).to_string())
                    };
                    tokio::time::sleep(delay).await;
                    let answer = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(answer.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        FlakyServer { addr, counts, task }
    }

    /// Requests received for `path`.
    pub fn count(&self, path: &str) -> usize {
        self.counts.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    /// Requests received per path.
    pub fn counts(&self) -> HashMap<String, usize> {
        self.counts.lock().unwrap().clone()
    }
}

impl Drop for FlakyServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
