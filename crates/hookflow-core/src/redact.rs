//! Redaction of secret values from everything a run records and the API shows (SPEC §4: `***`
//! wherever a secret's value would appear). One [`Redactor`] serves the engine (step records,
//! run outputs and errors) and the HTTP layer (run answers, whose inputs are kept real).
//!
//! Besides the value itself it catches the forms a value commonly takes on its way through a
//! workflow or a receiver: another case (`upper`, `lower`), JSON-escaped (`\"`, `\\`, `\/`),
//! percent- and form-encoded (`urlencode`, query strings), base64 of the whole value, and slices:
//! any run of [`SLICE_CHARS`] or more consecutive characters of one of those forms, matched
//! without regard to case. Secrets shorter than [`SLICE_CHARS`] are matched only whole (in each
//! form), or any short word would be masked. Arbitrary transformations (reversing, hashing,
//! splitting into shorter pieces, other encodings) cannot be recognised.
//!
//! The work is linear in the text: every window of [`SLICE_CHARS`] characters is looked up in a
//! hash set of the windows of the secrets' forms, and the (few, short) whole forms of short
//! secrets are compared at each position.

use std::collections::HashSet;

use crate::workflow::{VarDecl, VarType};
use base64::Engine;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value};

/// What a secret's value (or a piece of it) is replaced with.
pub const MASK: &str = "***";

/// The shortest run of a secret's characters that is masked on its own. Secrets shorter than
/// this are masked only whole.
pub const SLICE_CHARS: usize = 8;

/// RFC 3986 unreserved characters kept as they are (`- . _ ~`).
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// The set of the expression language's `urlencode` filter (minijinja's), which keeps `/`.
const URLENCODE_FILTER: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'.')
    .remove(b'-')
    .remove(b'_');

type Window = [char; SLICE_CHARS];

/// The secrets of a run, prepared for matching. `Default` redacts nothing.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Every window of [`SLICE_CHARS`] case-folded characters of every form of every secret at
    /// least that long.
    windows: HashSet<Window>,
    /// The case-folded forms of the shorter secrets, matched whole.
    whole: Vec<Vec<char>>,
}

impl Redactor {
    /// A redactor for these secret values (empty ones are ignored: they would match anywhere).
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Redactor {
        let mut r = Redactor::default();
        for secret in secrets {
            r.add(secret);
        }
        r
    }

    /// Masks `secret` too (and its derived forms); an empty value is ignored.
    pub fn add(&mut self, secret: &str) {
        if secret.is_empty() {
            return;
        }
        let long = secret.chars().count() >= SLICE_CHARS;
        for form in forms(secret) {
            let folded: Vec<char> = form.chars().map(fold).collect();
            if long {
                self.windows.extend(
                    folded
                        .windows(SLICE_CHARS)
                        .filter_map(|w| Window::try_from(w).ok()),
                );
            } else if !self.whole.contains(&folded) {
                self.whole.push(folded);
            }
        }
    }

    /// Masks every string in `v` too: the value of a declared `secure_string` (SPEC §11).
    pub fn add_value(&mut self, v: &Value) {
        match v {
            Value::String(s) => self.add(s),
            Value::Array(a) => a.iter().for_each(|x| self.add_value(x)),
            Value::Object(o) => o.values().for_each(|x| self.add_value(x)),
            _ => {}
        }
    }

    /// Masks the values of the `secure_string` declarations among `decls` in `values` (a name →
    /// value object). Whether anything was added.
    pub fn add_secure(&mut self, decls: &[VarDecl], values: &Value) -> bool {
        let mut added = false;
        for d in decls.iter().filter(|d| d.r#type == VarType::SecureString) {
            if let Some(v) = values.get(&d.name).filter(|v| !v.is_null()) {
                self.add_value(v);
                added = true;
            }
        }
        added
    }

    /// The `secrets` object of a run's context from the stored `(name, value)` pairs.
    pub fn secrets_object(
        values: impl IntoIterator<Item = (String, String)>,
    ) -> Map<String, Value> {
        values
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect()
    }

    /// A redactor for the `secrets` object of a run's context (name → value).
    pub fn for_secrets(secrets: &Map<String, Value>) -> Redactor {
        Redactor::new(secrets.values().filter_map(Value::as_str))
    }

    pub fn is_empty(&self) -> bool {
        self.windows.is_empty() && self.whole.is_empty()
    }

    /// `text` with every match replaced by [`MASK`] (adjacent and overlapping matches become
    /// one), or `None` when nothing matched.
    pub fn redact_text(&self, text: &str) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        let chars: Vec<(usize, char)> = text.char_indices().map(|(i, c)| (i, fold(c))).collect();
        let folded: Vec<char> = chars.iter().map(|&(_, c)| c).collect();
        // Matches as char ranges, found in increasing start order per kind, then merged.
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        if !self.windows.is_empty() {
            for (start, w) in folded.windows(SLICE_CHARS).enumerate() {
                if Window::try_from(w).is_ok_and(|w| self.windows.contains(&w)) {
                    ranges.push((start, start + SLICE_CHARS));
                }
            }
        }
        for form in &self.whole {
            let Some(&first) = form.first() else { continue };
            for start in 0..folded.len().saturating_sub(form.len() - 1) {
                if folded[start] == first && folded[start..start + form.len()] == form[..] {
                    ranges.push((start, start + form.len()));
                }
            }
        }
        if ranges.is_empty() {
            return None;
        }
        ranges.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
        for (start, end) in ranges {
            match merged.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        let byte_at = |i: usize| chars.get(i).map_or(text.len(), |&(b, _)| b);
        let mut out = String::with_capacity(text.len());
        let mut done = 0; // chars of `text` already copied or masked
        for (start, end) in merged {
            out.push_str(&text[byte_at(done)..byte_at(start)]);
            out.push_str(MASK);
            done = end;
        }
        out.push_str(&text[byte_at(done)..]);
        Some(out)
    }

    /// Redacts every string in `v` (object keys are names, not values: they stay).
    pub fn redact(&self, v: &mut Value) {
        if self.is_empty() {
            return;
        }
        match v {
            Value::String(s) => {
                if let Some(r) = self.redact_text(s) {
                    *s = r;
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| self.redact(x)),
            Value::Object(o) => o.values_mut().for_each(|x| self.redact(x)),
            _ => {}
        }
    }

    /// `text` redacted, whether or not anything matched.
    pub fn redacted(&self, text: &str) -> String {
        self.redact_text(text).unwrap_or_else(|| text.to_string())
    }
}

/// One character without its case (a character whose lower case is several keeps its own).
fn fold(c: char) -> char {
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// The forms a secret's value commonly takes: itself, JSON-escaped, percent- and form-encoded,
/// base64.
fn forms(secret: &str) -> Vec<String> {
    let json = serde_json::to_string(secret).unwrap_or_default();
    let json = json[1..json.len().saturating_sub(1).max(1)].to_string();
    let mut out = vec![
        secret.to_string(),
        json.replace('/', "\\/"),
        json,
        utf8_percent_encode(secret, NON_ALPHANUMERIC).to_string(),
        utf8_percent_encode(secret, URI_COMPONENT).to_string(),
        utf8_percent_encode(secret, URLENCODE_FILTER).to_string(),
        form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
        base64::engine::general_purpose::STANDARD.encode(secret),
        base64::engine::general_purpose::URL_SAFE.encode(secret),
    ];
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &str = "Tok\"en\\Va/l+ue x9";

    fn masks(r: &Redactor, text: &str) -> String {
        r.redacted(text)
    }

    #[test]
    fn redacts_nested_strings() {
        let mut v = json!({"a": "Bearer s3cret!", "b": ["x s3cret! y", 1], "c": {"d": "ok"}});
        Redactor::new(["s3cret!"]).redact(&mut v);
        assert_eq!(
            v,
            json!({"a": "Bearer ***", "b": ["x *** y", 1], "c": {"d": "ok"}})
        );
    }

    #[test]
    fn derived_forms_are_masked() {
        let r = Redactor::new([SECRET]);
        let b64 = base64::engine::general_purpose::STANDARD.encode(SECRET);
        let json = serde_json::to_string(SECRET).unwrap();
        for (text, want) in [
            (format!("a {SECRET} b"), "a *** b".to_string()),
            (format!("up {}!", SECRET.to_uppercase()), "up ***!".into()),
            (format!("low {}", SECRET.to_lowercase()), "low ***".into()),
            (format!("json {json}"), "json \"***\"".into()),
            (
                format!("esc {}", json.replace('/', "\\/")),
                "esc \"***\"".into(),
            ),
            (
                format!("q={}", utf8_percent_encode(SECRET, URLENCODE_FILTER)),
                "q=***".into(),
            ),
            (
                format!(
                    "f={}&",
                    form_urlencoded::byte_serialize(SECRET.as_bytes()).collect::<String>()
                ),
                "f=***&".into(),
            ),
            (format!("Basic {b64}"), "Basic ***".into()),
            // Slices of 8 characters or more, also of an encoded form.
            (format!("<{}>", &SECRET[2..14]), "<***>".into()),
            (format!("<{}>", &SECRET[9..17]), "<***>".into()),
            // Two occurrences, adjacent to other text.
            (format!("{SECRET}{SECRET}x"), "***x".into()),
        ] {
            assert_eq!(masks(&r, &text), want, "{text}");
        }
        // Seven characters of it are not enough.
        assert_eq!(masks(&r, &SECRET[6..13]), &SECRET[6..13]);
        assert_eq!(r.redact_text("nothing here"), None);
    }

    #[test]
    fn secure_declarations_are_masked() {
        let decl = |name: &str, t: VarType| VarDecl {
            name: name.into(),
            r#type: t,
            default: None,
            required: false,
        };
        let decls = [
            decl("token", VarType::SecureString),
            decl("plain", VarType::String),
        ];
        let mut r = Redactor::default();
        assert!(!r.add_secure(&decls, &json!({"plain": "visible-value", "token": null})));
        assert!(r.is_empty());
        assert!(r.add_secure(
            &decls,
            &json!({"plain": "visible-value", "token": "hidden-Value-1"})
        ));
        assert_eq!(
            masks(&r, "visible-value HIDDEN-VALUE-1 hidden-V"),
            "visible-value *** ***"
        );
    }

    #[test]
    fn short_secrets_are_masked_only_whole() {
        let r = Redactor::new(["ab/c", ""]);
        assert_eq!(masks(&r, "x AB/C y ab%2Fc z"), "x *** y *** z");
        assert_eq!(masks(&r, "ab/ and b/c"), "ab/ and b/c");
        assert!(Redactor::new([""]).is_empty());
    }

    #[test]
    fn non_ascii_text_and_secrets() {
        let r = Redactor::new(["Grüße-aus-Köln"]);
        // `ß` upper-cased is `SS`: the whole value no longer matches, its tail still does.
        assert_eq!(masks(&r, "é GRÜSSE-AUS-KÖLN é"), "é GRÜSS*** é");
        assert_eq!(masks(&r, "é GRÜßE-AUS-KÖLN é"), "é *** é");
        assert_eq!(masks(&r, "üße-aus-köln!"), "***!");
    }
}
