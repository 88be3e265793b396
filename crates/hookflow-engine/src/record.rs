//! How much a run records and holds (issue 9): every field of a step record (rendered input,
//! output, error) and a run's outputs and error are recorded whole up to
//! [`RecordLimits::step_bytes`]; a run's records together (the sealed copies kept for replay
//! included) up to [`RecordLimits::run_bytes`]. Past a limit a value is recorded *cut*: replaced
//! by a marker that says so, which limit, and how big it was —
//!
//! ```json
//! {"truncated": true, "limit": "max_step_record_bytes", "bytes": 921600, "preview": "{\"a\": …"}
//! ```
//!
//! (the preview, the first KiB of the value's JSON, only for the per-step limit); an error text
//! is cut to the limit and ends with the same facts in words.
//!
//! The run itself keeps going with the real values: a cut output's real value is kept sealed for
//! replay while the run's budget allows, and a step whose output was cut without that copy is
//! executed again when the run resumes (at-least-once). Values the engine holds in memory that
//! grow with a run — a loop's list of outputs, a `json_path` result list — are bounded by
//! `run_bytes` too: the items past it are markers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

/// How much of a cut value's JSON its marker previews.
const PREVIEW_BYTES: usize = 1024;

/// The limits (`--max-step-record-bytes`, `--max-run-record-bytes`).
#[derive(Debug, Clone, Copy)]
pub struct RecordLimits {
    pub step_bytes: usize,
    pub run_bytes: usize,
}

impl Default for RecordLimits {
    fn default() -> Self {
        RecordLimits {
            step_bytes: 256 * 1024,
            run_bytes: 16 * 1024 * 1024,
        }
    }
}

/// Which limit cut a value, as records name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Step,
    Run,
}

impl Limit {
    pub fn name(self) -> &'static str {
        match self {
            Limit::Step => "max_step_record_bytes",
            Limit::Run => "max_run_record_bytes",
        }
    }
}

/// The longest prefix of `s` of at most `n` bytes that ends on a character boundary.
fn prefix(s: &str, n: usize) -> &str {
    let mut cut = n.min(s.len());
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    &s[..cut]
}

/// The marker a cut value is recorded as.
pub fn marker(text: &str, limit: Limit) -> Value {
    let mut m = json!({"truncated": true, "limit": limit.name(), "bytes": text.len()});
    if limit == Limit::Step {
        m["preview"] = Value::String(prefix(text, PREVIEW_BYTES).to_string());
    }
    m
}

/// Whether a recorded value is a cut marker.
pub fn is_marker(v: &Value) -> bool {
    v.get("truncated") == Some(&Value::Bool(true))
        && v.get("limit")
            .and_then(Value::as_str)
            .is_some_and(|l| l == Limit::Step.name() || l == Limit::Run.name())
}

/// A JSON text cut to `max` bytes: the marker's text when it is longer.
pub fn cut_json(text: String, max: usize, limit: Limit) -> String {
    if text.len() <= max {
        return text;
    }
    marker(&text, limit).to_string()
}

/// An error text cut to `max` bytes, saying so.
pub fn cut_text(text: String, max: usize, limit: Limit) -> String {
    if text.len() <= max {
        return text;
    }
    format!(
        "{}… [cut: {} bytes, over {}]",
        prefix(&text, max),
        text.len(),
        limit.name()
    )
}

/// The size of a value's JSON text, without building it.
pub fn json_size(v: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    let _ = serde_json::to_writer(&mut c, v);
    c.0
}

/// Collects values into a list held in memory, up to `max` bytes of JSON; past it, each value
/// is its marker (so the list keeps its length and says what is missing).
pub struct BoundedList {
    items: Vec<Value>,
    bytes: usize,
    max: usize,
    pub cut: bool,
}

impl BoundedList {
    pub fn new(max: usize) -> BoundedList {
        BoundedList {
            items: Vec::new(),
            bytes: 0,
            max,
            cut: false,
        }
    }

    pub fn push(&mut self, v: Value) {
        if let Some(m) = self.over(&v) {
            self.items.push(m);
        } else {
            self.items.push(v);
        }
    }

    /// Pushes a copy of `v`, made only when it fits.
    pub fn push_copy(&mut self, v: &Value) {
        let item = self.over(v).unwrap_or_else(|| v.clone());
        self.items.push(item);
    }

    /// The marker that replaces `v` when it does not fit (else `v` is counted in).
    fn over(&mut self, v: &Value) -> Option<Value> {
        let n = json_size(v);
        if self.bytes + n > self.max {
            self.cut = true;
            return Some(json!({"truncated": true, "limit": Limit::Run.name(), "bytes": n}));
        }
        self.bytes += n;
        None
    }

    pub fn into_vec(self) -> Vec<Value> {
        self.items
    }
}

/// What a run has recorded so far, shared by its `parallel` branches.
#[derive(Clone, Debug, Default)]
pub struct Budget(Arc<AtomicU64>);

impl Budget {
    pub fn starting_at(bytes: u64) -> Budget {
        Budget(Arc::new(AtomicU64::new(bytes)))
    }

    /// Takes `n` bytes if they fit under `max`.
    pub fn take(&self, n: usize, max: usize) -> bool {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                (used + n as u64 <= max as u64).then_some(used + n as u64)
            })
            .is_ok()
    }

    /// Takes `n` bytes whatever the limit (markers, which are small, are always recorded).
    pub fn force(&self, n: usize) {
        self.0.fetch_add(n as u64, Ordering::AcqRel);
    }
}

/// One field of a step record cut to the limits, charged to the run's budget.
pub fn limit_field(text: String, is_json: bool, limits: &RecordLimits, budget: &Budget) -> String {
    let cut = |t: String, max: usize, limit: Limit| {
        if is_json {
            cut_json(t, max, limit)
        } else {
            cut_text(t, max, limit)
        }
    };
    let text = cut(text, limits.step_bytes, Limit::Step);
    if budget.take(text.len(), limits.run_bytes) {
        return text;
    }
    let text = if is_json {
        marker(&text, Limit::Run).to_string()
    } else {
        cut(text, 256, Limit::Run)
    };
    budget.force(text.len());
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_cut_at_each_limit() {
        let limits = RecordLimits {
            step_bytes: 100,
            run_bytes: 1000,
        };
        let budget = Budget::default();
        let small = json!({"a": 1}).to_string();
        assert_eq!(limit_field(small.clone(), true, &limits, &budget), small);
        let big = json!({"a": "x".repeat(500)}).to_string();
        let marked = limit_field(big.clone(), true, &limits, &budget);
        let cut: Value = serde_json::from_str(&marked).unwrap();
        assert!(is_marker(&cut), "{cut}");
        assert_eq!(cut["limit"], json!("max_step_record_bytes"));
        assert_eq!(cut["bytes"], json!(big.len()));
        assert!(big.starts_with(cut["preview"].as_str().unwrap()));
        // What is left of the run's 1000 bytes takes whole values while they fit.
        let mid = json!({"a": "y".repeat(80)}).to_string();
        let fit = (1000 - small.len() - marked.len()) / mid.len();
        for _ in 0..fit {
            assert_eq!(limit_field(mid.clone(), true, &limits, &budget), mid);
        }
        let over: Value =
            serde_json::from_str(&limit_field(mid.clone(), true, &limits, &budget)).unwrap();
        assert_eq!(over["limit"], json!("max_run_record_bytes"), "{over}");
        assert!(over.get("preview").is_none());
        // Error texts stay readable: cut, never replaced.
        let err = limit_field("e".repeat(300), false, &limits, &budget);
        assert!(err.len() < 200 && err.contains("[cut: 300 bytes"), "{err}");
    }

    #[test]
    fn bounded_lists_keep_their_length() {
        let mut l = BoundedList::new(20);
        for i in 0..5 {
            l.push(json!(format!("{i}{}", "z".repeat(7))));
        }
        assert!(l.cut);
        let v = l.into_vec();
        assert_eq!(v.len(), 5);
        assert_eq!(v[1], json!("1zzzzzzz"));
        assert!(is_marker(&v[2]), "{v:?}");
    }
}
