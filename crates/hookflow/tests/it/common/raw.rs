//! Requests over a raw TCP socket, for what `reqwest` would normalise or refuse to send (a raw
//! `+` in the query, a declared `Content-Length` with no body, no `Accept` header, keep-alive).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::http::Answer;
use super::server::Server;

/// Sends `bytes` as-is on a new TCP connection to `addr` and reads one HTTP/1.1 answer
/// (Content-Length, chunked, or until EOF), all within 10 s. The write side is never shut down,
/// so a request whose declared body was not sent stays incomplete from the server's view.
pub async fn raw_request(addr: &str, bytes: &[u8]) -> Answer {
    raw_request_within(addr, bytes, Duration::from_secs(10)).await
}

pub async fn raw_request_within(addr: &str, bytes: &[u8], limit: Duration) -> Answer {
    match tokio::time::timeout(limit, raw_exchange(addr, bytes)).await {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => panic!("raw request to {addr}: {e}"),
        Err(_) => panic!("raw request to {addr}: no complete answer within {limit:?}"),
    }
}

async fn raw_exchange(addr: &str, bytes: &[u8]) -> std::io::Result<Answer> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    // The server may answer (and close) before it has read everything; a failed write is then
    // expected, and the answer is what counts.
    let write_result = stream.write_all(bytes).await;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    // Headers.
    let head_end = loop {
        if let Some(p) = find(&buf, b"\r\n\r\n") {
            break p;
        }
        let n = match stream.read(&mut chunk).await {
            Ok(n) => n,
            Err(e) => {
                return Err(std::io::Error::other(format!(
                    "reading answer head: {e} (write result {write_result:?}, read so far {:?})",
                    String::from_utf8_lossy(&buf)
                )));
            }
        };
        if n == 0 {
            return Err(std::io::Error::other(format!(
                "connection closed before an answer head (write result {write_result:?}, read so far {:?})",
                String::from_utf8_lossy(&buf)
            )));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut rest = buf[head_end + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {status_line:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let body = if let Some(len) = get("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| std::io::Error::other("bad content-length"))?;
        while rest.len() < len {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            rest.extend_from_slice(&chunk[..n]);
        }
        rest.truncate(len);
        rest
    } else if get("transfer-encoding").is_some_and(|t| t.to_ascii_lowercase().contains("chunked")) {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(p) = find(&rest, b"\r\n") {
                    break p;
                }
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Err(std::io::Error::other("EOF in chunked body"));
                }
                rest.extend_from_slice(&chunk[..n]);
            };
            let size_text = String::from_utf8_lossy(&rest[..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| std::io::Error::other(format!("bad chunk size {size_text:?}")))?;
            rest.drain(..line_end + 2);
            if size == 0 {
                break;
            }
            while rest.len() < size + 2 {
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Err(std::io::Error::other("EOF in chunk"));
                }
                rest.extend_from_slice(&chunk[..n]);
            }
            body.extend_from_slice(&rest[..size]);
            rest.drain(..size + 2);
        }
        body
    } else if status == 204 || status == 304 || (100..200).contains(&status) {
        Vec::new()
    } else {
        loop {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            rest.extend_from_slice(&chunk[..n]);
        }
        rest
    };
    Ok(Answer {
        status,
        headers,
        body,
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The raw bytes of a request: request line, `Host`, the given header lines, `Connection:
/// close`, a blank line and the body (no `Content-Length` is added: pass it in `headers`).
pub fn raw_bytes(
    method: &str,
    target: &str,
    addr: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\n");
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str("Connection: close\r\n\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

impl Server {
    /// A `method` request to `target` (path and query) over a raw socket: [`raw_bytes`] with
    /// these headers and `body`, and the answer.
    pub async fn raw(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Answer {
        let bytes = raw_bytes(method, target, &self.addr, headers, body);
        raw_request(&self.addr, &bytes).await
    }
}

/// A request of [`raw_bytes`] without its `Connection: close` (an HTTP/1.1 keep-alive request).
pub fn keep_alive(mut out: Vec<u8>) -> Vec<u8> {
    let marker = b"Connection: close\r\n\r\n";
    let at = find(&out, marker).expect("marker");
    out.splice(at..at + marker.len(), b"\r\n".iter().copied());
    out
}
