//! Unit tests of the sandbox, one file per topic; this file holds the shared context and
//! helpers. The SPEC §11 additions (dates, `fromjson`, compile-time checks) are in
//! `additions.rs`, with a context of their own.

use serde_json::{Value as Json, json};

use super::*;

mod additions;
mod analysis;
mod eval;
mod limits;
mod operators;
mod performance;

fn sb() -> Sandbox {
    Sandbox::new(ExprLimits::default())
}

fn ctx() -> Json {
    json!({
        "trigger": {
            "body": {
                "severity": "high",
                "count": 3,
                "title": "Disk ALERT on db-1",
                "tags": ["a", "b"],
                "cve": "CVE-2024-1234",
                "nothing": null,
                "nested": {"list": [{"id": 7}, {"id": 8}]},
            },
            "headers": {"x-github-event": "push", "content-type": "application/json"},
        },
        "inputs": {"severity": "low"},
        "vars": {"list": [10, 20, 30], "ticket": "T-1"},
        "steps": {"post": {"output": {"status": 201, "body": {"id": "abc"}}}},
        "secrets": {"chat_token": "s3cr3t"},
        "run": {"id": "r1", "workflow": "wf"},
        "loop": {"index": 1},
        "item": {"name": "x"},
    })
}

fn eval(src: &str) -> Json {
    eval_in(&ctx(), src)
}

/// `src` evaluated against `ctx`, which must succeed.
fn eval_in(ctx: &Json, src: &str) -> Json {
    sb().eval(src, ctx).unwrap_or_else(|e| panic!("{src}: {e}"))
}

fn truth(src: &str) -> bool {
    sb().eval_bool(src, &ctx())
        .unwrap_or_else(|e| panic!("{src}: {e}"))
}

fn err(src: &str) -> String {
    err_in(&ctx(), src)
}

/// The message of the error that evaluating `src` against `ctx` must end with.
fn err_in(ctx: &Json, src: &str) -> String {
    eval_err(&sb(), ctx, src)
}

/// The message of the error that evaluating `src` with `sb` against `ctx` must end with.
fn eval_err(sb: &Sandbox, ctx: &Json, src: &str) -> String {
    match sb.eval(src, ctx) {
        Ok(v) => panic!("{src}: expected an error, got {v}"),
        Err(e) => e.message,
    }
}

/// The message of the error that rendering the template `src` with `sb` against `ctx` must end
/// with.
fn render_err(sb: &Sandbox, ctx: &Json, src: &str) -> String {
    match sb.render(&json!(src), ctx) {
        Ok(v) => panic!("{src}: expected an error, got {v}"),
        Err(e) => e.message,
    }
}
