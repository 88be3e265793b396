//! Property tests of the three parsers that take untrusted text: request bodies (`body.rs`),
//! workflow documents (`workflow/`) and expressions (`expr/`). Each property runs on inputs
//! proptest generates and shrinks: byte and token soups for "never panics", and generated
//! values for the limits and round trips. What they found is recorded in BENCHMARKS.md
//! ("Property tests").
//!
//! The case counts are kept modest so the suite stays quick on a busy 2-core machine; raise them
//! with `PROPTEST_CASES=10000 cargo test -p hookflow-core --test properties` for a longer hunt.

mod body;
mod expr;
mod workflow;

use proptest::prelude::*;
use serde_json::{Map, Value};

/// `default` cases per property, or `PROPTEST_CASES` when it is set (a longer hunt).
pub fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(default);
    ProptestConfig::with_cases(cases)
}

/// Text made of `pieces` (up to `max` of them), so generated inputs reach past the first
/// character a parser checks.
pub fn soup(pieces: &'static [&'static str], max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(pieces), 0..max).prop_map(|v| v.concat())
}

/// Any JSON value: every number kind (integers beyond `i64`, finite floats), any Unicode in
/// strings and keys, nested a few levels.
pub fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((".{0,8}", inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}
