//! Expressions: any text is answered by the compiler (a path list or an error, never a panic),
//! and evaluation is bounded — whatever an expression or template asks for, it ends within the
//! fuel budget with a result no larger than the output cap, or with an error.

use std::time::{Duration, Instant};

use hookflow_core::expr::{ExprError, ExprLimits, Sandbox};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::soup;

/// Jinja syntax, the added tests and functions, and values of every kind.
const PIECES: &[&str] = &[
    "trigger",
    ".",
    "body",
    "[",
    "]",
    "(",
    ")",
    "{",
    "}",
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "#}",
    " ",
    "\"",
    "'",
    "a",
    "1",
    "-",
    "+",
    "*",
    "**",
    "/",
    "//",
    "%",
    "~",
    "|",
    ",",
    ":",
    "==",
    "!=",
    "<",
    ">=",
    "and",
    "or",
    "not",
    "in",
    "is",
    "if",
    "else",
    "for",
    "endfor",
    "set",
    "range",
    "length",
    "lower",
    "tojson",
    "fromjson",
    "join",
    "default",
    "eqi",
    "matches_wildcard",
    "matches_regex",
    "datetime",
    "now()",
    "strftime",
    "add_seconds",
    "epoch",
    "none",
    "true",
    "1e308",
    "9999999999999999999",
    "\\",
    "\n",
    "loop",
    "item",
    "vars",
    "steps",
    "secrets",
    "é",
    "\u{0}",
];

/// Expressions that ask for much: big ranges, repetition, nested loops, deep lists.
fn heavy_expression() -> impl Strategy<Value = String> {
    let n = prop::sample::select(&[0u64, 1, 10, 1_000, 10_000, 100_000, 1_000_000_000][..]);
    prop_oneof![
        n.clone()
            .prop_map(|n| format!("range({n}) | list | length")),
        n.clone().prop_map(|n| format!("'ab' * {n}")),
        n.clone().prop_map(|n| format!("[1, 2] * {n}")),
        n.clone().prop_map(|n| format!("range({n}) | join(',')")),
        (n.clone(), n.clone()).prop_map(|(a, b)| format!("(range({a}) | list) * {b}")),
        n.clone().prop_map(|n| format!(
            "{}1{}",
            "[".repeat((n % 300) as usize),
            "]".repeat((n % 300) as usize)
        )),
        n.prop_map(|n| format!("trigger.body.text * {n}")),
    ]
}

fn heavy_template() -> impl Strategy<Value = String> {
    let n = prop::sample::select(&[0u64, 3, 100, 10_000, 1_000_000][..]);
    prop_oneof![
        (n.clone(), n.clone()).prop_map(|(a, b)| format!(
            "{{% for i in range({a}) %}}{{% for j in range({b}) %}}x{{% endfor %}}{{% endfor %}}"
        )),
        n.clone().prop_map(|n| format!("{{{{ 'abc' * {n} }}}}")),
        n.prop_map(|n| format!(
            "{{% for i in range({n}) %}}{{{{ trigger.body.text }}}}{{% endfor %}}"
        )),
    ]
}

/// Well-formed expressions built from a small grammar, so most compile and run: operators,
/// filters, tests, functions, conditionals, lists and maps over the context's values.
fn expression() -> impl Strategy<Value = String> {
    let leaf = prop::sample::select(
        &[
            "1",
            "-2.5",
            "0",
            "'a'",
            "\"é\"",
            "none",
            "true",
            "[]",
            "{}",
            "trigger.body.n",
            "trigger.body.text",
            "trigger.body.list",
            "trigger.body",
            "vars",
            "run.id",
            "trigger.body.missing",
            "9223372036854775807",
            "1e308",
            "datetime('2024-05-01T12:00:00Z')",
        ][..],
    )
    .prop_map(str::to_string);
    leaf.prop_recursive(5, 48, 3, |inner| {
        let op = prop::sample::select(
            &[
                "+", "-", "*", "/", "//", "%", "**", "~", "==", "!=", "<", ">=", "and", "or", "in",
            ][..],
        );
        let filter = prop::sample::select(
            &[
                "length",
                "lower",
                "upper",
                "tojson",
                "fromjson",
                "list",
                "first",
                "last",
                "join(',')",
                "default(1)",
                "int",
                "float",
                "string",
                "abs",
                "round",
                "sort",
                "unique",
                "reverse",
                "items",
                "keys",
                "epoch",
                "strftime('%Y')",
                "add_seconds(60)",
            ][..],
        );
        let test = prop::sample::select(
            &[
                "defined",
                "none",
                "number",
                "string",
                "eqi('A')",
                "matches_wildcard('*a*')",
                "matches_regex('^a')",
            ][..],
        );
        prop_oneof![
            (inner.clone(), op, inner.clone()).prop_map(|(a, o, b)| format!("({a} {o} {b})")),
            (inner.clone(), filter).prop_map(|(a, f)| format!("({a} | {f})")),
            (inner.clone(), test).prop_map(|(a, t)| format!("({a} is {t})")),
            inner.clone().prop_map(|a| format!("(not {a})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("[{a}, {b}]")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{{'k': {a}, 'l': {b}}}")),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(a, b, c)| format!("({a} if {b} else {c})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a}[{b}]")),
            inner.clone().prop_map(|a| format!("range({a})")),
            inner.prop_map(|a| format!("seconds_between({a}, datetime('2024-01-01T00:00:00Z'))")),
        ]
    })
}

fn ctx() -> Value {
    json!({
        "trigger": {"body": {"text": "x".repeat(1000), "n": 3, "list": [1, 2, 3]}},
        "vars": {}, "steps": {}, "inputs": {}, "secrets": {}, "run": {"id": "r"},
    })
}

/// The output cap of the bounded properties.
const MAX_OUTPUT: usize = 1 << 16;

/// Runs `eval` on a sandbox with `fuel`, and checks it ends in bounded time with a bounded
/// result; returns the result.
fn bounded(
    fuel: u64,
    eval: impl FnOnce(&Sandbox) -> Result<Value, ExprError>,
) -> Result<Result<Value, ExprError>, TestCaseError> {
    let sandbox = Sandbox::new(ExprLimits {
        fuel,
        max_output_bytes: MAX_OUTPUT,
    });
    let started = Instant::now();
    let result = eval(&sandbox);
    prop_assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    if let Ok(v) = &result {
        let size = v.to_string().len();
        // A JSON result is capped at MAX_OUTPUT bytes of its JSON text; a rendered text at
        // MAX_OUTPUT bytes of text (quoted and escaped here, so allow for that).
        prop_assert!(size <= 2 * MAX_OUTPUT + 2, "{} bytes", size);
    }
    Ok(result)
}

proptest! {
    #![proptest_config(super::cases(256))]

    #[test]
    fn any_text_compiles_or_is_refused(src in soup(PIECES, 32)) {
        let sandbox = Sandbox::new(ExprLimits::default());
        let _ = sandbox.check_expression(&src);
        let _ = sandbox.check_template(&src);
        let _ = sandbox.inspect_expression(&src);
        let _ = sandbox.eval(&src, &ctx());
        let _ = sandbox.render(&Value::String(src.clone()), &ctx());
    }

    #[test]
    fn any_characters_compile_or_are_refused(src in ".{0,64}") {
        let sandbox = Sandbox::new(ExprLimits::default());
        let _ = sandbox.check_expression(&src);
        let _ = sandbox.check_template(&src);
    }

    /// Well-formed expressions evaluate to a value or an error, within bounds, and a value
    /// renders the same through a template.
    #[test]
    fn expressions_evaluate_within_bounds(src in expression()) {
        if let Ok(v) = bounded(100_000, |sandbox| sandbox.eval(&src, &ctx()))? {
            let template = Value::String(format!("{{{{ {src} }}}}"));
            let rendered = bounded(100_000, |sandbox| sandbox.render(&template, &ctx()))?;
            prop_assert_eq!(rendered.ok(), Some(v), "{}", src);
        }
    }

    #[test]
    fn heavy_expressions_are_bounded(src in heavy_expression(), fuel in prop::sample::select(&[1_000u64, 100_000][..])) {
        let _ = bounded(fuel, |sandbox| sandbox.eval(&src, &ctx()))?;
    }

    #[test]
    fn heavy_templates_are_bounded(src in heavy_template(), fuel in prop::sample::select(&[1_000u64, 100_000][..])) {
        let _ = bounded(fuel, |sandbox| sandbox.render(&Value::String(src.clone()), &ctx()))?;
    }
}
