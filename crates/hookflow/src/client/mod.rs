//! Client commands: talk to a running server's management API (SPEC §5) with the admin token.
//! One module per resource; this one owns the HTTP client, error reporting and the table and
//! paging helpers they share. Data goes to stdout (ids, tables, JSON), messages to stderr.

/// `println!` for the data on stdout, except that a closed pipe (`hookflow … | head`) ends the
/// process quietly, with the usual 141 of a process stopped by SIGPIPE, instead of a panic.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(141);
            }
            eprintln!("hookflow: cannot write to stdout: {e}");
            std::process::exit(1);
        }
    }};
}

mod events;
mod import;
mod replay;
mod runs;
mod secrets;
mod webhooks;
mod workflows;

use anyhow::{Context, anyhow};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::StatusCode;
use serde_json::Value;

use crate::cli::ClientArgs;

pub use events::event;
pub use import::import;
pub use replay::delivery;
pub use runs::run;
pub use secrets::secret;
pub use webhooks::webhook;
pub use workflows::workflow;

/// What a client command ends with: the process exit code (0 success, 1 failure, 2 a workflow
/// saved but invalid). Errors that stop a command are `Err` and exit 1.
pub type Outcome = anyhow::Result<u8>;

/// A request body.
enum Body {
    None,
    Json(Value),
    /// A document sent as is, with its media type (a workflow in YAML or JSON).
    Raw {
        content_type: &'static str,
        text: String,
    },
}

/// An answer of any status: the status and the body (JSON, or `Null` when empty).
struct Answer {
    status: StatusCode,
    body: Value,
}

impl Answer {
    /// The error a non-2xx answer is reported as: `STATUS REASON: detail`.
    fn error(&self) -> anyhow::Error {
        let detail = match &self.body {
            Value::Object(o) => o
                .get("detail")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| self.body.to_string()),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        anyhow!(
            "{} {}: {detail}",
            self.status.as_u16(),
            self.status.canonical_reason().unwrap_or("")
        )
    }
}

/// A management API client.
struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    fn new(args: &ClientArgs) -> anyhow::Result<Api> {
        let token = args
            .token
            .clone()
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| anyhow!("no admin token: set HOOKFLOW_TOKEN or pass --token"))?;
        Ok(Api {
            http: reqwest::Client::new(),
            base: args.url.trim_end_matches('/').to_string(),
            token,
        })
    }

    /// Sends a request and returns the answer whatever its status; only a server that cannot
    /// be reached (or answers something unreadable) is an error.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Body,
    ) -> anyhow::Result<Answer> {
        let url = format!("{}/api/v1{path}", self.base);
        let mut req = self.http.request(method, &url).bearer_auth(&self.token);
        match body {
            Body::None => {}
            Body::Json(b) => req = req.json(&b),
            Body::Raw { content_type, text } => {
                req = req
                    .header(reqwest::header::CONTENT_TYPE, content_type)
                    .body(text);
            }
        }
        let res = req
            .send()
            .await
            .with_context(|| format!("cannot reach the server at {}", self.base))?;
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        let body = if text.trim().is_empty() {
            Value::Null
        } else if status.is_success() {
            serde_json::from_str(&text).context("the server's answer is not JSON")?
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok(Answer { status, body })
    }

    /// A call that must succeed: its JSON answer, or the server's explanation as the error.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let body = body.map_or(Body::None, Body::Json);
        let answer = self.send(method, path, body).await?;
        if answer.status.is_success() {
            Ok(answer.body)
        } else {
            Err(answer.error())
        }
    }

    /// Every item of a list call (`{items, next_cursor}`), following cursors, until `max`
    /// items (all of them with `None`). `path` may carry a query already.
    async fn list(&self, path: &str, max: Option<usize>) -> anyhow::Result<Vec<Value>> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let page_size = max.map_or(500, |m| m.clamp(1, 500));
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page_path = match &cursor {
                Some(c) => format!("{path}{sep}limit={page_size}&cursor={}", seg(c)),
                None => format!("{path}{sep}limit={page_size}"),
            };
            let page = self.call(reqwest::Method::GET, &page_path, None).await?;
            items.extend(page["items"].as_array().cloned().unwrap_or_default());
            if let Some(max) = max
                && items.len() >= max
            {
                items.truncate(max);
                break;
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        Ok(items)
    }

    /// `GET path`, printed as pretty JSON on stdout (the `show` commands).
    async fn show(&self, path: &str) -> anyhow::Result<()> {
        let v = self.call(reqwest::Method::GET, path, None).await?;
        outln!("{}", pretty(&v));
        Ok(())
    }

    /// `DELETE path`, then `deleted WHAT` on stderr (the `delete` commands).
    async fn delete(&self, path: &str, what: &str) -> anyhow::Result<()> {
        self.call(reqwest::Method::DELETE, path, None).await?;
        eprintln!("deleted {what}");
        Ok(())
    }
}

/// The path of one item of a collection: `/{collection}/{id}`, the id percent-encoded.
fn item(collection: &str, id: &str) -> String {
    format!("/{collection}/{}", seg(id))
}

/// What a list command prints: the items as one JSON array with `--json`, else a table with
/// these headers and a row per item.
fn print_list(
    items: Vec<Value>,
    json: bool,
    headers: &[&str],
    row: impl Fn(&Value) -> Vec<String>,
) {
    if json {
        outln!("{}", pretty(&Value::Array(items)));
    } else {
        let rows: Vec<Vec<String>> = items.iter().map(row).collect();
        print_table(headers, &rows);
    }
}

/// What [`seg`] leaves as is: the RFC 3986 unreserved characters.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes a path segment or query value (everything but RFC 3986 unreserved
/// characters), so names with spaces or slashes reach the server intact.
fn seg(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// A string field as text: `""` when absent or null.
fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Prints a table whose columns are as wide as their widest cell, two spaces apart; the last
/// column is not padded (no trailing blanks).
fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        outln!("{}", out.trim_end());
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}
