//! The sandbox bounds: fuel, the output cap, value depth, recursion, operator chains, and the
//! absence of I/O and escape hatches.

use std::time::{Duration, Instant};

use serde_json::json;

use super::super::compile::MAX_BLOCK_OPERATORS;
use super::*;

#[test]
fn fuel_stops_loops_quickly() {
    let sb = sb();
    let start = Instant::now();
    let m = render_err(&sb, &ctx(), "{% for i in range(100000000) %}{% endfor %}");
    assert!(m.contains("range has too many elements"), "{m}");
    let m = render_err(
        &sb,
        &ctx(),
        "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
    );
    assert!(m.contains("ran out of fuel"), "{m}");
    let m = eval_err(&sb, &ctx(), r#""x" * 100000000"#);
    assert!(m.contains("ran out of fuel"), "{m}");
    let m = sb
        .eval("range(10000) | map('string') | join(',') | length > 0 and range(10000)|list|length > 0 and range(10000)|sort|length>0 and range(10000)|reverse|list|length>0", &ctx())
        .map(|v| v.to_string())
        .unwrap_or_else(|e| e.message);
    assert!(!m.is_empty());
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn output_is_capped() {
    let sb = Sandbox::new(ExprLimits {
        fuel: 1_000_000,
        max_output_bytes: 1000,
    });
    let c = ctx();
    let m = render_err(&sb, &c, "{% for i in range(2000) %}x{% endfor %}");
    assert!(m.contains("exceeds the limit of 1000 bytes"), "{m}");
    assert_eq!(
        sb.render(&json!("{% for i in range(999) %}x{% endfor %}!"), &c)
            .unwrap()
            .as_str()
            .map(str::len),
        Some(1000)
    );
    let m = render_err(&sb, &c, "{{ 'x' * 2000 }}");
    assert!(m.contains("output size limit"), "{m}");
    let m = eval_err(&sb, &c, "range(1000) | list");
    assert!(m.contains("output size limit"), "{m}");
}

#[test]
fn deep_values_are_refused() {
    let sb = sb();
    // namespace() would let values accumulate across iterations
    let m = render_err(
        &sb,
        &ctx(),
        "{% set ns = namespace(x=[]) %}{% for i in range(9000) %}{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x }}",
    );
    assert!(m.contains("namespace"), "{m}");
    // statements can only nest as deep as the source does
    let wrap = |inner: &str| format!("{}{inner}{}", "[".repeat(40), "]".repeat(40));
    let mut src = format!("{{% set a = {} %}}", wrap("1"));
    for _ in 0..6 {
        src.push_str(&format!("{{% set a = {} %}}", wrap("a")));
    }
    src.push_str("{{ a }}");
    let m = sb.check_template(&src).unwrap_err().message;
    assert!(m.contains("nested deeper than 256"), "{m}");
    // ordinary nesting is fine
    assert_eq!(
        sb.render(&json!("{{ [[trigger.body.tags]] }}"), &ctx())
            .unwrap(),
        json!([[["a", "b"]]])
    );
    // a deep context value is an error, not a crash
    let mut deep = json!(1);
    for _ in 0..200 {
        deep = json!([deep]);
    }
    let m = eval_err(&sb, &json!({"item": deep}), "item | length");
    assert!(m.contains("nested deeper than 128"), "{m}");
}

#[test]
fn recursion_is_limited() {
    let sb = sb();
    let mut tree = json!([]);
    for _ in 0..120 {
        tree = json!([tree]);
    }
    let src = "{% for n in item recursive %}{{ loop.depth }}{{ loop(n) }}{% endfor %}";
    let m = render_err(&sb, &json!({"item": tree}), src);
    assert!(m.contains("recursion"), "{m}");
}

#[test]
fn no_io_or_escape_hatches() {
    let sb = sb();
    for src in [
        "{% include 'x' %}",
        "{% import 'x' as y %}",
        "{% extends 'x' %}",
        "{% macro m() %}{% endmacro %}",
        "{% call m() %}{% endcall %}",
        "{% block b %}{% endblock %}",
        "{{ debug() }}",
        "{{ namespace() }}",
    ] {
        let r = sb.render(&json!(src), &ctx());
        assert!(r.is_err(), "{src}: {r:?}");
    }
    // template names never switch on HTML escaping
    assert_eq!(
        sb.render(&json!("<{{ '<b>' }}> x.html"), &ctx()).unwrap(),
        json!("<<b>> x.html")
    );
}

#[test]
fn long_chains_are_refused_not_a_crash() {
    // a small stack, like a runtime's worker thread
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let sb = sb();
            let c = json!({"a": {"x": 1}, "f": [1]});
            for n in [MAX_BLOCK_OPERATORS / 2, MAX_BLOCK_OPERATORS, 100_000] {
                let sources = [
                    format!("a{}", ".x".repeat(n)),
                    format!("1{}", " + 1".repeat(n)),
                    format!("'a'{}", " ~ 'a'".repeat(n)),
                    format!("'a'{}", " | lower".repeat(n)),
                    format!("true{}", " and true".repeat(n)),
                    format!("1{}", " < 2".repeat(n)),
                    format!("f{}", "[0]".repeat(n)),
                    format!("f{}", "()".repeat(n)),
                    format!("{}1{}", "(".repeat(n), ")".repeat(n)),
                    format!("{}1", "not ".repeat(n)),
                    format!("{}1{}", "[".repeat(n), "]".repeat(n)),
                ];
                for src in &sources {
                    // any outcome but a crash; over the limit, an error saying so
                    let r = sb.eval(src, &c);
                    if n > MAX_BLOCK_OPERATORS {
                        let m = r.unwrap_err().message;
                        assert!(m.contains("too complex") || m.contains("recursion"), "{m}");
                    }
                    for t in [format!("x {{{{ {src} }}}}"), format!("{{{{ {src} }}}}")] {
                        let r = sb.render(&json!(t), &c);
                        if n > MAX_BLOCK_OPERATORS {
                            let m = r.unwrap_err().message;
                            assert!(m.contains("too complex") || m.contains("recursion"), "{m}");
                        }
                    }
                }
                let elifs = format!(
                    "{{% if false %}}{}{{% endif %}}",
                    "{% elif false %}".repeat(n)
                );
                let r = sb.render(&json!(elifs), &c);
                if n > MAX_BLOCK_OPERATORS {
                    let m = r.unwrap_err().message;
                    assert!(m.contains("too complex"), "{m}");
                }
                for (open, close) in [
                    ("{% if true %}", "{% endif %}"),
                    ("{% for x in f %}", "{% endfor %}"),
                    ("{% with y = 1 %}", "{% endwith %}"),
                    ("{% filter upper %}", "{% endfilter %}"),
                    ("{% autoescape false %}", "{% endautoescape %}"),
                    ("{% set z %}", "{% endset %}"),
                ] {
                    let t = format!("{}x{}", open.repeat(n), close.repeat(n));
                    let r = sb.render(&json!(t), &c);
                    if n > MAX_BLOCK_OPERATORS {
                        assert!(r.is_err(), "{open}");
                    }
                }
            }
        })
        .unwrap()
        .join()
        .unwrap();
}
