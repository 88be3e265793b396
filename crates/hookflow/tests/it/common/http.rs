//! HTTP answers as tests look at them ([`Answer`]: status, lower-cased headers, body; problem
//! checks), and percent-encoding for URLs built by hand.

use serde_json::{Value, json};

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn pct(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An HTTP answer reduced to what tests look at; header names are lower-cased.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub async fn from_response(resp: reqwest::Response) -> Answer {
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = resp.bytes().await.expect("read response body").to_vec();
        Answer {
            status,
            headers,
            body,
        }
    }

    /// Sends `req` and reads its answer, whatever the status.
    pub async fn send(req: reqwest::RequestBuilder) -> Answer {
        Answer::from_response(req.send().await.expect("send")).await
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "answer {} is not JSON ({e}): {:?}",
                self.status,
                truncate(&self.text(), 2000)
            )
        })
    }

    /// Asserts the status, with the body in the message when it differs.
    #[track_caller]
    pub fn expect_status(&self, status: u16) -> &Self {
        assert_eq!(
            self.status,
            status,
            "expected HTTP {status}, got {}: headers {:?} body {:?}",
            self.status,
            self.headers,
            truncate(&self.text(), 2000)
        );
        self
    }

    /// Asserts a 202 (a webhook request accepted) and answers its `X-Delivery-Id`.
    #[track_caller]
    pub fn accepted_id(&self) -> String {
        self.expect_status(202);
        self.header("x-delivery-id")
            .expect("a 202 carries X-Delivery-Id")
            .to_string()
    }

    /// Asserts a 202 and answers its `X-Duplicate-Of` (the delivery that holds the request's
    /// duplicate key), if any.
    #[track_caller]
    pub fn duplicate_of(&self) -> Option<&str> {
        self.expect_status(202);
        self.header("x-duplicate-of")
    }

    /// Asserts an RFC 9457 problem answer with this status: `Content-Type:
    /// application/problem+json` and a JSON object with `type`, `title`, `status` (equal to the
    /// HTTP status) and a non-empty `detail`. Returns the problem object.
    #[track_caller]
    pub fn expect_problem(&self, status: u16) -> Value {
        self.expect_status(status);
        let ct = self.header("content-type").unwrap_or("");
        assert!(
            ct.to_ascii_lowercase()
                .starts_with("application/problem+json"),
            "a {status} answer must be application/problem+json, got Content-Type {ct:?}"
        );
        let p = self.json();
        assert!(p["type"].is_string(), "problem without `type`: {p}");
        assert!(p["title"].is_string(), "problem without `title`: {p}");
        assert_eq!(p["status"], json!(status), "problem `status` field: {p}");
        let detail = p["detail"].as_str().unwrap_or("");
        assert!(!detail.trim().is_empty(), "problem without `detail`: {p}");
        p
    }

    /// Like [`Answer::expect_problem`], and the problem's `detail` says `needle`.
    #[track_caller]
    pub fn expect_problem_saying(&self, status: u16, needle: &str) -> Value {
        let p = self.expect_problem(status);
        let detail = p["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(needle), "{needle:?} not in the detail: {p}");
        p
    }
}

/// Field `field` of each object of the JSON array `list`, as text (every one must have it).
#[track_caller]
pub fn texts_of<'a>(list: &'a Value, field: &str) -> Vec<&'a str> {
    let items = list
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"));
    let text = |i: &'a Value| i[field].as_str();
    items
        .iter()
        .map(|i| text(i).unwrap_or_else(|| panic!("no text {field} in {i}")))
        .collect()
}

/// Asserts that `text` contains each of `needles`.
#[track_caller]
pub fn contains_all(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "{needle:?} not in\n{text}");
    }
}

pub fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        s.to_string()
    } else {
        let mut end = n;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}… ({} bytes)", &s[..end], s.len())
    }
}
