//! Checks of literal values: declared types, RFC 3339 date-times, absolute http(s) URLs.

use serde_json::Value;

use super::model::VarType;
use super::parse::describe;

/// Whether a literal fits a declared type; `null` fits every type (no value).
pub fn fits(ty: VarType, v: &Value) -> Result<(), String> {
    let ok = match ty {
        _ if v.is_null() => true,
        VarType::String | VarType::SecureString => v.is_string(),
        VarType::Integer => v.is_i64() || v.is_u64(),
        VarType::Number => v.is_number(),
        VarType::Boolean => v.is_boolean(),
        VarType::Datetime => v.as_str().is_some_and(is_rfc3339),
        VarType::Object => v.is_object(),
        VarType::Array => v.is_array(),
    };
    if ok {
        return Ok(());
    }
    let expected = match ty {
        VarType::String | VarType::SecureString => "a string",
        VarType::Integer => "an integer",
        VarType::Number => "a number",
        VarType::Boolean => "true or false",
        VarType::Datetime => "an RFC 3339 date-time such as 2024-05-01T12:00:00Z",
        VarType::Object => "an object",
        VarType::Array => "a list",
    };
    Err(format!("expected {expected}, found {}", describe(v)))
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`; `t`/space for `T` and `z` for `Z` are accepted.
pub fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<u32> {
        let part = b.get(from..from + len)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(part.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    let (Some(year), Some(month), Some(day)) = (num(0, 4), num(5, 2), num(8, 2)) else {
        return false;
    };
    if !at(4, b'-') || !at(7, b'-') || !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return false;
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    if day == 0 || day > days {
        return false;
    }
    let (Some(h), Some(m), Some(sec)) = (num(11, 2), num(14, 2), num(17, 2)) else {
        return false;
    };
    if !at(13, b':') || !at(16, b':') || h > 23 || m > 59 || sec > 60 {
        return false;
    }
    let mut i = 19;
    if at(i, b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match b.get(i) {
        Some(b'Z' | b'z') => i + 1 == b.len(),
        Some(b'+' | b'-') => {
            let (Some(oh), Some(om)) = (num(i + 1, 2), num(i + 4, 2)) else {
                return false;
            };
            at(i + 3, b':') && oh <= 23 && om <= 59 && i + 6 == b.len()
        }
        _ => false,
    }
}

/// An absolute `http://` or `https://` URL with a host and no whitespace.
pub(super) fn is_http_url(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    let rest = if let Some(r) = lower.strip_prefix("http://") {
        r
    } else if let Some(r) = lower.strip_prefix("https://") {
        r
    } else {
        return false;
    };
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let host = if host_port.starts_with('[') {
        host_port
            .split(']')
            .next()
            .unwrap_or("")
            .trim_start_matches('[')
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    !host.is_empty()
}

/// The regex crate's message on one line (its syntax errors draw a caret diagram).
pub(super) fn regex_message(e: &regex::Error) -> String {
    let text = e.to_string();
    match text.lines().find_map(|l| l.trim().strip_prefix("error: ")) {
        Some(msg) => msg.to_string(),
        None => text.lines().map(str::trim).collect::<Vec<_>>().join(" "),
    }
}
