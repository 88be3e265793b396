//! The replaced product's condition operators, as Jinja tests: `eqi`, `matches_wildcard`,
//! `matches_regex`; and the `fromjson` filter (JSON held in text, SPEC §11).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use minijinja::value::{StringInput, Value};
use minijinja::{Error, ErrorKind, State};
use regex::Regex;

/// Compiled patterns kept per sandbox.
const REGEX_CACHE_ENTRIES: usize = 512;
/// Compiled size limit of one pattern (the regex crate's `size_limit`).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// A bounded cache of compiled regular expressions (the `matches_*` patterns are usually
/// literals, so the same few are used again and again).
#[derive(Default)]
pub(crate) struct RegexCache {
    map: Mutex<HashMap<String, Arc<Regex>>>,
}

impl RegexCache {
    fn get(&self, key: &str, make: impl FnOnce() -> String) -> Result<Arc<Regex>, regex::Error> {
        if let Some(re) = self.lock().get(key) {
            return Ok(re.clone());
        }
        let re = Arc::new(
            regex::RegexBuilder::new(&make())
                .size_limit(REGEX_SIZE_LIMIT)
                .dfa_size_limit(REGEX_SIZE_LIMIT)
                .build()?,
        );
        let mut map = self.lock();
        if map.len() >= REGEX_CACHE_ENTRIES {
            map.clear();
        }
        map.insert(key.to_string(), re.clone());
        Ok(re)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Regex>>> {
        // the map stays consistent even if a holder panicked
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `pattern` as a regular expression (unanchored search).
    pub(crate) fn regex(&self, pattern: &str) -> Result<Arc<Regex>, regex::Error> {
        self.get(pattern, || pattern.to_string())
    }

    /// `pattern` as a wildcard: `*` any run of characters (also none, also newlines), `?` one
    /// character, everything else literal; anchored at both ends; case-sensitive.
    pub(crate) fn wildcard(&self, pattern: &str) -> Result<Arc<Regex>, regex::Error> {
        // a key that cannot collide with a regex pattern of the same text
        let key = format!("\u{0}wildcard\u{0}{pattern}");
        self.get(&key, || wildcard_to_regex(pattern))
    }
}

fn wildcard_to_regex(pattern: &str) -> String {
    let mut re = String::with_capacity(pattern.len() + 8);
    re.push_str("\\A(?s:");
    let mut literal = [0u8; 4];
    for c in pattern.chars() {
        match c {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            c => re.push_str(&regex::escape(c.encode_utf8(&mut literal))),
        }
    }
    re.push_str(")\\z");
    re
}

/// The text a value is compared as: strings as they are, numbers and booleans as printed
/// (`3`, `true`); an undefined value is an error (strict). `None` for `none`.
fn text<'a>(state: &State, v: &'a Value) -> Result<Option<StringInput<'a>>, Error> {
    if v.is_none() {
        return Ok(None);
    }
    StringInput::new(state, v).map(Some)
}

fn pattern_text<'a>(state: &State, v: &'a Value, test: &str) -> Result<StringInput<'a>, Error> {
    match text(state, v)? {
        Some(p) if v.as_str().is_some() => Ok(p),
        _ => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("the pattern of `{test}` must be a string, not {}", v.kind()),
        )),
    }
}

/// `a is eqi(b)`: equal ignoring case (Unicode lower-casing). `none` equals only `none`.
pub(crate) fn eqi(state: &State, a: &Value, b: &Value) -> Result<bool, Error> {
    match (text(state, a)?, text(state, b)?) {
        (None, None) => Ok(true),
        (Some(a), Some(b)) => Ok(a.as_str() == b.as_str()
            || a.as_str()
                .chars()
                .flat_map(char::to_lowercase)
                .eq(b.as_str().chars().flat_map(char::to_lowercase))),
        _ => Ok(false),
    }
}

/// The two pattern tests, `a is matches_wildcard(p)` and `a is matches_regex(p)`.
#[derive(Clone, Copy)]
pub(crate) enum PatternTest {
    Wildcard,
    Regex,
}

impl PatternTest {
    pub(crate) const ALL: [PatternTest; 2] = [PatternTest::Wildcard, PatternTest::Regex];

    /// The test's name in expressions.
    pub(crate) fn name(self) -> &'static str {
        match self {
            PatternTest::Wildcard => "matches_wildcard",
            PatternTest::Regex => "matches_regex",
        }
    }

    /// Whether `value` matches `pattern`, which must be a string. A regular expression must
    /// compile also when the value is `none` (which matches nothing); a wildcard is compiled
    /// only for a value with text.
    pub(crate) fn test(
        self,
        cache: &RegexCache,
        state: &State,
        value: &Value,
        pattern: &Value,
    ) -> Result<bool, Error> {
        let pattern = pattern_text(state, pattern, self.name())?;
        let pattern = pattern.as_str();
        let compile = || match self {
            PatternTest::Wildcard => cache
                .wildcard(pattern)
                .map_err(|e| pattern_error("wildcard", pattern, &e)),
            PatternTest::Regex => cache
                .regex(pattern)
                .map_err(|e| pattern_error("regular expression", pattern, &e)),
        };
        let re = match self {
            PatternTest::Wildcard => None,
            PatternTest::Regex => Some(compile()?),
        };
        let Some(value) = text(state, value)? else {
            return Ok(false);
        };
        let re = match re {
            Some(re) => re,
            None => compile()?,
        };
        Ok(re.is_match(value.as_str()))
    }
}

/// Fuel units (1/64 of a fuel) charged per byte of text `fromjson` parses, on top of what the
/// engine charges for the text and the result: parsing builds a structure several times the
/// text's size, so it costs like serializing.
const FROMJSON_UNITS_PER_BYTE: u64 = 2;

/// `text | fromjson`: the JSON value a string holds. Values nested deeper than context values
/// may be are refused (see `analyze::CONTEXT_DEPTH`).
pub(crate) fn fromjson(state: &State, v: &Value) -> Result<Value, Error> {
    let Some(text) = v.as_str() else {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("fromjson needs a string holding JSON, not {}", v.kind()),
        ));
    };
    state.consume_fuel((text.len() as u64).saturating_mul(FROMJSON_UNITS_PER_BYTE) / 64)?;
    let json: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("fromjson: the text is not JSON: {e}"),
        )
    })?;
    super::convert::from_json(&json, 0)
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("fromjson: {e}")))
}

fn pattern_error(what: &str, pattern: &str, err: &regex::Error) -> Error {
    // the regex crate's messages span several lines (with a caret under the problem)
    let detail = match err {
        regex::Error::Syntax(s) => s
            .lines()
            .rev()
            .find(|l| l.trim_start().starts_with("error:"))
            .map(|l| {
                l.trim_start()
                    .trim_start_matches("error:")
                    .trim()
                    .to_string()
            })
            .unwrap_or_else(|| s.split_whitespace().collect::<Vec<_>>().join(" ")),
        other => other.to_string(),
    };
    Error::new(
        ErrorKind::InvalidOperation,
        format!("invalid {what} {pattern:?}: {detail}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_translation() {
        let cache = RegexCache::default();
        let m = |p: &str, s: &str| cache.wildcard(p).unwrap().is_match(s);
        assert!(m("*alert*", "an alert here"));
        assert!(m("*alert*", "alert"));
        assert!(!m("*alert*", "ALERT"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "abbc"));
        assert!(!m("abc", "xabcx"));
        assert!(m("a.c*", "a.cd"));
        assert!(!m("a.c", "abc"));
        assert!(m("*", "multi\nline"));
        assert!(m("(x)[y]+", "(x)[y]+"));
        assert!(m("é?", "éü"));
    }
}
