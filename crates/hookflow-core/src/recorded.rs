//! What a delivery records of a request's headers: `[name, value]` pairs in arrival order, with
//! the values of credential headers masked (for accepted and rejected requests alike, so no
//! credential is ever stored in clear), and — for rejected requests, which anyone who knows a
//! webhook id can send — only as many as fit a byte budget, the cut said in the record.
//!
//! Accepted requests keep all their headers: their size is bounded by the HTTP layer's limit on
//! a request's header section.

use std::borrow::Cow;

/// What a masked value is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Headers whose values are credentials: never recorded.
const CREDENTIAL_HEADERS: [&str; 4] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
];

/// `Authorization` schemes kept in front of the masked credentials (`Bearer [redacted]`), so a
/// user can still see which kind of credentials a source sends. Anything else is masked whole.
const AUTH_SCHEMES: [&str; 8] = [
    "basic",
    "bearer",
    "digest",
    "negotiate",
    "ntlm",
    "token",
    "apikey",
    "hmac",
];

/// The name of the pair that says headers were cut. A real HTTP/1.1 header name cannot contain
/// `:`, so no request can forge or hide it.
pub const CUT_MARKER: &str = ":hookflow-headers-cut";

/// The value recorded for header `name` (lower-case, as HTTP libraries hand names over).
pub fn recorded_value(name: &str, value: &[u8]) -> String {
    if !CREDENTIAL_HEADERS.contains(&name) {
        return String::from_utf8_lossy(value).into_owned();
    }
    if name.ends_with("authorization") {
        let text = String::from_utf8_lossy(value);
        if let Some((scheme, _)) = text.trim_start().split_once(' ')
            && AUTH_SCHEMES.iter().any(|s| s.eq_ignore_ascii_case(scheme))
        {
            return format!("{scheme} {REDACTED}");
        }
    }
    REDACTED.to_string()
}

/// Request headers as recorded: a JSON array of `[name, value]` pairs in arrival order,
/// credentials masked.
pub fn headers_json<'a>(headers: impl Iterator<Item = (&'a str, &'a [u8])>) -> String {
    let pairs: Vec<(&str, String)> = headers.map(|(n, v)| (n, recorded_value(n, v))).collect();
    serde_json::to_string(&pairs).unwrap_or_else(|_| "[]".into())
}

/// Recorded headers (`headers_json`'s output) cut to `max_bytes` of names and values: headers
/// are kept in order while they fit, and when one does not, it and all after it are replaced by
/// one [`CUT_MARKER`] pair saying how many were left out and which limit cut them.
pub fn cap_headers(json: &str, max_bytes: usize) -> Cow<'_, str> {
    // The JSON text is longer than the names and values in it: shorter text needs no look.
    if json.len() <= max_bytes {
        return Cow::Borrowed(json);
    }
    let Ok(pairs) = serde_json::from_str::<Vec<(String, String)>>(json) else {
        return Cow::Borrowed("[]");
    };
    let mut used = 0usize;
    let kept = pairs
        .iter()
        .take_while(|(n, v)| {
            used += n.len() + v.len();
            used <= max_bytes
        })
        .count();
    if kept == pairs.len() {
        return Cow::Borrowed(json);
    }
    let left_out = &pairs[kept..];
    let left_bytes: usize = left_out.iter().map(|(n, v)| n.len() + v.len()).sum();
    let note = format!(
        "{} more headers ({left_bytes} bytes) not kept: a rejected delivery keeps at most \
         {max_bytes} bytes of headers (--rejected-header-bytes)",
        left_out.len()
    );
    let mut out: Vec<(&str, &str)> = pairs[..kept]
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    out.push((CUT_MARKER, &note));
    Cow::Owned(serde_json::to_string(&out).unwrap_or_else(|_| "[]".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_masked_keeping_the_scheme() {
        let json = headers_json(
            [
                ("authorization", &b"Bearer abc.def"[..]),
                ("proxy-authorization", b"basic dXNlcjpwdw=="),
                ("authorization", b"rawtoken123"),
                ("authorization", b"secret rest"),
                ("cookie", b"session=s3cr3t"),
                ("x-api-key", b"k"),
                ("x-other", b"visible"),
            ]
            .into_iter(),
        );
        let pairs: Vec<(String, String)> = serde_json::from_str(&json).unwrap();
        let values: Vec<&str> = pairs.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(
            values,
            [
                "Bearer [redacted]",
                "basic [redacted]",
                "[redacted]",
                "[redacted]",
                "[redacted]",
                "[redacted]",
                "visible"
            ]
        );
    }

    #[test]
    fn headers_are_kept_in_order_until_the_cap() {
        let big = "v".repeat(100);
        let pairs: Vec<(String, String)> =
            (0..10).map(|i| (format!("h{i}"), big.clone())).collect();
        let json = serde_json::to_string(&pairs).unwrap();
        assert_eq!(cap_headers(&json, json.len()), json);
        let capped: Vec<(String, String)> = serde_json::from_str(&cap_headers(&json, 350)).unwrap();
        // Three headers of 102 bytes fit in 350; the fourth does not, and nothing after it is kept.
        assert_eq!(capped.len(), 4);
        assert_eq!(capped[..3], pairs[..3]);
        assert_eq!(capped[3].0, CUT_MARKER);
        assert!(
            capped[3]
                .1
                .starts_with("7 more headers (714 bytes) not kept")
                && capped[3].1.contains("at most 350 bytes")
                && capped[3].1.contains("--rejected-header-bytes"),
            "{}",
            capped[3].1
        );
        // All names and values fit even though the JSON text is longer: nothing is cut.
        assert_eq!(cap_headers(&json, 1020), json);
    }
}
