//! The answers of the HTTP/1 parser itself made problem+json. When a request head cannot be
//! parsed (too large: 431; request target too long: 414; malformed: 400), hyper answers on its
//! own, before any service runs, with an empty body. [`AnswerIo`] sits between hyper and the
//! socket and replaces exactly those answers — a `400`, `414` or `431` head with
//! `content-length: 0` and no `content-type`, which no handler of ours ever writes — with the
//! same status as problem+json whose `detail` names the limit. Everything else passes through
//! untouched.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use axum::http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::NetLimits;
use crate::problem::Problem;

/// The three replacement answers, rendered once.
#[derive(Debug, Clone)]
pub struct ParserAnswers(Arc<[(u16, Vec<u8>); 3]>);

impl ParserAnswers {
    pub fn new(limits: &NetLimits) -> Self {
        let render = |status: StatusCode, detail: String| {
            (
                status.as_u16(),
                Problem::new(status, detail).to_http1_close(),
            )
        };
        ParserAnswers(Arc::new([
            render(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                format!(
                    "the request's header section is larger than {} bytes or has more than {} \
                     fields, the most this server reads (--max-header-bytes, --max-headers)",
                    limits.max_header_bytes, limits.max_headers
                ),
            ),
            render(
                StatusCode::URI_TOO_LONG,
                "the request target (path and query) is longer than the HTTP parser accepts \
                 (65,534 bytes)"
                    .into(),
            ),
            render(
                StatusCode::BAD_REQUEST,
                "the request is not valid HTTP/1.1: the request line or a header field could \
                 not be parsed"
                    .into(),
            ),
        ]))
    }

    pub fn wrap<T>(&self, inner: T) -> AnswerIo<T> {
        AnswerIo {
            inner,
            answers: self.clone(),
            replacing: None,
        }
    }

    /// The replacement for `buf` if it is exactly one of the parser's own answers.
    fn replacement(&self, buf: &[u8]) -> Option<&[u8]> {
        let status = parser_answer_status(buf)?;
        self.0
            .iter()
            .find(|(s, _)| *s == status)
            .map(|(_, bytes)| bytes.as_slice())
    }
}

/// `Some(status)` when `buf` is a whole response head of status 400, 414 or 431 with an empty
/// body and no content type — the shape of hyper's own error answers.
fn parser_answer_status(buf: &[u8]) -> Option<u16> {
    let head = std::str::from_utf8(buf.strip_prefix(b"HTTP/1.1 ")?).ok()?;
    let status: u16 = head.get(..3)?.parse().ok()?;
    if !matches!(status, 400 | 414 | 431) || !head.ends_with("\r\n\r\n") {
        return None;
    }
    let mut empty = false;
    for line in head.split("\r\n").skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("content-type")
            || name.eq_ignore_ascii_case("transfer-encoding")
        {
            return None;
        }
        if name.eq_ignore_ascii_case("content-length") {
            empty = value.trim() == "0";
        }
    }
    empty.then_some(status)
}

/// A socket whose writes of the parser's own answers are replaced (see the module docs).
pub struct AnswerIo<T> {
    inner: T,
    answers: ParserAnswers,
    /// The replacement being written, how much of it is written, and the length of the
    /// original buffer to report once it is all out.
    replacing: Option<(Vec<u8>, usize, usize)>,
}

impl<T: AsyncRead + Unpin> AsyncRead for AnswerIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for AnswerIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.replacing.is_none() {
            match this.answers.replacement(buf) {
                Some(answer) => this.replacing = Some((answer.to_vec(), 0, buf.len())),
                None => return Pin::new(&mut this.inner).poll_write(cx, buf),
            }
        }
        while let Some((answer, written, _)) = this.replacing.as_mut() {
            if *written == answer.len() {
                break;
            }
            let n = ready!(Pin::new(&mut this.inner).poll_write(cx, &answer[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        let (_, _, reported) = this.replacing.take().unwrap_or_default();
        Poll::Ready(Ok(reported))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    // Not vectored: hyper then writes each answer from one flat buffer, whose first bytes are
    // its head — the shape `parser_answer_status` looks for.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_only_the_parsers_empty_error_heads() {
        let hyper_431 = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\
                          date: Sun, 06 Dec 2026 04:00:00 GMT\r\n\r\n";
        assert_eq!(parser_answer_status(hyper_431), Some(431));
        assert_eq!(
            parser_answer_status(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n"),
            Some(400)
        );
        // Our own answers carry a content type and a body.
        assert_eq!(
            parser_answer_status(
                b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\n\
                  content-length: 0\r\n\r\n"
            ),
            None
        );
        assert_eq!(
            parser_answer_status(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 12\r\n\r\n"),
            None
        );
        assert_eq!(
            parser_answer_status(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n"),
            None
        );
        // Not a whole head.
        assert_eq!(
            parser_answer_status(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            None
        );
    }

    #[test]
    fn replacements_are_problem_json_naming_the_limit() {
        let answers = ParserAnswers::new(&NetLimits::default());
        let r = answers
            .replacement(b"HTTP/1.1 431 Too Large\r\ncontent-length: 0\r\n\r\n")
            .unwrap();
        let text = std::str::from_utf8(r).unwrap();
        assert!(text.starts_with("HTTP/1.1 431 "));
        assert!(text.contains("content-type: application/problem+json"));
        assert!(text.contains("--max-header-bytes"));
        let body = text.split("\r\n\r\n").nth(1).unwrap();
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["status"], 431);
    }
}
