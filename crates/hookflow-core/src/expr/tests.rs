use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};

use super::*;

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
    sb().eval(src, &ctx())
        .unwrap_or_else(|e| panic!("{src}: {e}"))
}

fn truth(src: &str) -> bool {
    sb().eval_bool(src, &ctx())
        .unwrap_or_else(|e| panic!("{src}: {e}"))
}

fn err(src: &str) -> String {
    match sb().eval(src, &ctx()) {
        Ok(v) => panic!("{src}: expected an error, got {v}"),
        Err(e) => e.message,
    }
}

#[test]
fn what_is_a_template() {
    assert!(is_template("a {{ b }}"));
    assert!(is_template("{% if x %}{% endif %}"));
    assert!(!is_template("a { b } {# c #}"));
    assert!(!is_template("plain"));
}

#[test]
fn comparisons_on_nested_json() {
    assert!(truth(r#"trigger.body.severity == "high""#));
    assert!(truth(
        r#"trigger.body.severity == "high" and trigger.headers["x-github-event"] == "push""#
    ));
    assert!(!truth(
        r#"trigger.body.severity == "low" or inputs.severity == "high""#
    ));
    assert!(truth(r#"trigger.body.severity in ["high", "critical"]"#));
    assert!(truth(
        r#""a" in trigger.body.tags and "z" not in trigger.body.tags"#
    ));
    assert!(truth("not (trigger.body.count > 5)"));
    assert!(truth("trigger.body.count * 2 + 1 == 7"));
    assert!(truth("trigger.body.tags | length == 2"));
    assert!(truth(
        r#"trigger.body.title | lower == "disk alert on db-1""#
    ));
    assert!(truth("vars.list[loop.index] == 20"));
    assert!(truth("trigger.body.nested.list[1].id == 8"));
    assert!(truth(r#"steps.post.output.body.id == "abc""#));
    assert!(truth("trigger.body.nothing is none"));
    assert!(!truth("trigger.body.tags | select('eq', 'z') | list"));
    assert_eq!(eval("trigger.body.count + 1"), json!(4));
    assert_eq!(eval("trigger.body.tags"), json!(["a", "b"]));
    assert_eq!(
        eval("trigger.body.nested"),
        json!({"list": [{"id": 7}, {"id": 8}]})
    );
    assert_eq!(eval("trigger.body.nothing"), Json::Null);
    assert_eq!(eval("1.5 * 2"), json!(3.0));
    assert_eq!(
        eval(r#"{"a": [1, true, none]}"#),
        json!({"a": [1, true, null]})
    );
    assert_eq!(eval("item.name ~ '-' ~ run.id"), json!("x-r1"));
    // context shadowing nothing: the whole namespace object
    assert_eq!(eval("run"), json!({"id": "r1", "workflow": "wf"}));
}

#[test]
fn missing_values_are_errors_naming_them() {
    let m = err(r#"trigger.body.sev == "high""#);
    assert!(m.contains("undefined value"), "{m}");
    assert!(m.contains("`trigger.body.sev` is undefined"), "{m}");
    assert!(m.contains(r#"trigger.body.sev == "high""#), "{m}");

    let m = err("trigger.bod.sev");
    assert!(m.contains("`trigger.bod` is undefined"), "{m}");
    let m = err("trigger.body.sev");
    assert!(m.contains("`trigger.body.sev` is undefined"), "{m}");
    let m = err("nope");
    assert!(m.contains("`nope` is undefined"), "{m}");
    let m = err("trigger.body.sev or true");
    assert!(m.contains("`trigger.body.sev` is undefined"), "{m}");
    let m = err(r#"trigger.headers["x-nope"] == "a""#);
    assert!(m.contains("undefined"), "{m}");
    let m = sb()
        .eval_bool("trigger.body.sev", &ctx())
        .unwrap_err()
        .message;
    assert!(m.contains("`trigger.body.sev` is undefined"), "{m}");
    let m = sb()
        .render(&json!({"a": ["{{ trigger.body.sev }}"]}), &ctx())
        .unwrap_err()
        .message;
    assert!(m.starts_with("at /a/0: "), "{m}");
    assert!(m.contains("`trigger.body.sev` is undefined"), "{m}");
    let m = sb()
        .render(&json!("x {{ trigger.body.sev }}"), &ctx())
        .unwrap_err()
        .message;
    assert!(m.contains("`trigger.body.sev` is undefined"), "{m}");
}

#[test]
fn defined_and_default_still_work() {
    assert!(truth("trigger.body.sev is undefined"));
    assert!(!truth("trigger.body.sev is defined"));
    assert!(truth("trigger.body.severity is defined"));
    assert!(truth("nope is not defined"));
    assert!(truth(
        "trigger.body.sev is defined and trigger.body.sev == 1 or true"
    ));
    assert_eq!(eval(r#"trigger.body.sev | default("x")"#), json!("x"));
    assert_eq!(
        eval(r#"trigger.body.severity | default("x")"#),
        json!("high")
    );
    assert_eq!(eval(r#"nope | default("x")"#), json!("x"));
    let r = sb()
        .render(&json!("n={{ trigger.body.sev | default('none') }}"), &ctx())
        .unwrap();
    assert_eq!(r, json!("n=none"));
}

#[test]
fn eqi() {
    assert!(truth(r#"trigger.body.severity is eqi("HIGH")"#));
    assert!(truth(r#"trigger.body.severity is eqi "High""#));
    assert!(!truth(r#"trigger.body.severity is eqi("low")"#));
    assert!(truth(r#"trigger.body.severity is not eqi("low")"#));
    assert!(!truth(r#"trigger.body.severity is not eqi("hIgH")"#));
    assert!(truth(
        r#""Straße" is eqi("STRASSE") or "ÉTÉ" is eqi("été")"#
    ));
    assert!(truth(r#"trigger.body.count is eqi("3")"#));
    assert!(truth("trigger.body.nothing is eqi(none)"));
    assert!(!truth(r#"trigger.body.nothing is eqi("none")"#));
    let m = err(r#"trigger.body.sev is eqi("x")"#);
    assert!(m.contains("`trigger.body.sev` is undefined"), "{m}");
}

#[test]
fn matches_wildcard() {
    assert!(truth(
        r#"trigger.body.title is matches_wildcard("*ALERT*")"#
    ));
    assert!(truth(
        r#"trigger.body.title is matches_wildcard("Disk*db-?")"#
    ));
    assert!(!truth(
        r#"trigger.body.title is matches_wildcard("*alert*")"#
    ));
    assert!(!truth(r#"trigger.body.title is matches_wildcard("ALERT")"#));
    assert!(truth(
        r#"trigger.body.title is not matches_wildcard("*alert*")"#
    ));
    assert!(!truth(
        r#"trigger.body.title is not matches_wildcard("Disk*")"#
    ));
    assert!(!truth(r#"trigger.body.nothing is matches_wildcard("*")"#));
    let m = err("trigger.body.title is matches_wildcard(3)");
    assert!(m.contains("must be a string"), "{m}");
}

#[test]
fn matches_regex() {
    assert!(truth(r#"trigger.body.cve is matches_regex("^CVE-\\d+")"#));
    assert!(truth(r#"trigger.body.title is matches_regex("ALERT")"#)); // a search
    assert!(truth(r#"trigger.body.title is matches_regex("(?i)alert")"#));
    assert!(!truth(r#"trigger.body.title is matches_regex("^ALERT")"#));
    assert!(truth(
        r#"trigger.body.title is not matches_regex("^ALERT")"#
    ));
    assert!(!truth(r#"trigger.body.cve is not matches_regex("\\d{4}")"#));
    assert!(truth(r#"trigger.body.count is matches_regex("^3$")"#));
    let m = err(r#"trigger.body.cve is matches_regex("(")"#);
    assert!(m.contains("invalid regular expression"), "{m}");
    assert!(m.contains("unclosed group"), "{m}");
    assert!(!m.contains('\n'), "{m}");
    // an invalid pattern is an error even where the value would decide
    let m = err(r#"trigger.body.nothing is matches_regex("[")"#);
    assert!(m.contains("invalid regular expression"), "{m}");
}

#[test]
fn render_keeps_types_of_single_expressions() {
    let sb = sb();
    let c = ctx();
    let r = |v: Json| sb.render(&v, &c).unwrap();
    assert_eq!(r(json!("{{ trigger.body.count }}")), json!(3));
    assert_eq!(r(json!("  {{trigger.body.count}} ")), json!(3));
    assert_eq!(r(json!("{{ trigger.body.tags }}")), json!(["a", "b"]));
    assert_eq!(
        r(json!("{{ trigger.body.nested }}")),
        json!({"list": [{"id": 7}, {"id": 8}]})
    );
    assert_eq!(r(json!("{{ trigger.body.count > 1 }}")), json!(true));
    assert_eq!(r(json!("{{ trigger.body.nothing }}")), Json::Null);
    assert_eq!(r(json!("{{ '}}' }}")), json!("}}"));
    assert_eq!(r(json!("n={{ trigger.body.count }}")), json!("n=3"));
    assert_eq!(
        r(json!("{{ trigger.body.count }}{{ trigger.body.count }}")),
        json!("33")
    );
    assert_eq!(r(json!("{{ 1 }} {{ 2 }}")), json!("1 2"));
    assert_eq!(r(json!("{{- trigger.body.count }}")), json!("3"));
    assert_eq!(
        r(json!(
            "{% for t in trigger.body.tags %}{{ loop.index }}{{ t }}{% endfor %}"
        )),
        json!("1a2b")
    );
    assert_eq!(r(json!("plain")), json!("plain"));
    assert_eq!(r(json!("a {{ 1 }}\n")), json!("a 1\n"));
    assert_eq!(
        r(json!("{% if true %}\nx\n{% endif %}\n")),
        json!("\nx\n\n")
    );
    assert_eq!(
        r(json!("{# not a template #}")),
        json!("{# not a template #}")
    );
    assert_eq!(r(json!(42)), json!(42));
    assert_eq!(
        r(json!({
            "headers": {"Authorization": "Bearer {{ secrets.chat_token }}", "{{ key }}": "k"},
            "body": {"text": "Alert {{ trigger.body.title }}", "n": "{{ trigger.body.count }}"},
            "list": ["{{ vars.list }}", "x", 1, null, ["{{ run.id }}"]],
        })),
        json!({
            "headers": {"Authorization": "Bearer s3cr3t", "{{ key }}": "k"},
            "body": {"text": "Alert Disk ALERT on db-1", "n": 3},
            "list": [[10, 20, 30], "x", 1, null, ["r1"]],
        })
    );
}

#[test]
fn fuel_stops_loops_quickly() {
    let sb = sb();
    let start = Instant::now();
    let m = sb
        .render(
            &json!("{% for i in range(100000000) %}{% endfor %}"),
            &ctx(),
        )
        .unwrap_err()
        .message;
    assert!(m.contains("range has too many elements"), "{m}");
    let m = sb
        .render(
            &json!(
                "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"
            ),
            &ctx(),
        )
        .unwrap_err()
        .message;
    assert!(m.contains("ran out of fuel"), "{m}");
    let m = sb.eval(r#""x" * 100000000"#, &ctx()).unwrap_err().message;
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
    let m = sb
        .render(&json!("{% for i in range(2000) %}x{% endfor %}"), &c)
        .unwrap_err()
        .message;
    assert!(m.contains("exceeds the limit of 1000 bytes"), "{m}");
    assert_eq!(
        sb.render(&json!("{% for i in range(999) %}x{% endfor %}!"), &c)
            .unwrap()
            .as_str()
            .map(str::len),
        Some(1000)
    );
    let m = sb
        .render(&json!("{{ 'x' * 2000 }}"), &c)
        .unwrap_err()
        .message;
    assert!(m.contains("output size limit"), "{m}");
    let m = sb.eval("range(1000) | list", &c).unwrap_err().message;
    assert!(m.contains("output size limit"), "{m}");
}

#[test]
fn deep_values_are_refused() {
    let sb = sb();
    // namespace() would let values accumulate across iterations
    let m = sb
        .render(
            &json!("{% set ns = namespace(x=[]) %}{% for i in range(9000) %}{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x }}"),
            &ctx(),
        )
        .unwrap_err()
        .message;
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
    let m = sb
        .eval("item | length", &json!({"item": deep}))
        .unwrap_err()
        .message;
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
    let m = sb
        .render(&json!(src), &json!({"item": tree}))
        .unwrap_err()
        .message;
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
fn check_expression_paths() {
    let sb = sb();
    assert_eq!(
        sb.check_expression(r#"trigger.body.severity == "high""#)
            .unwrap(),
        vec!["trigger.body.severity"]
    );
    assert_eq!(
        sb.check_expression(
            r#"trigger.headers["x-github-event"] == "push" and trigger.body.severity == "high""#
        )
        .unwrap(),
        vec!["trigger.body.severity", "trigger.headers.x-github-event"]
    );
    assert_eq!(
        sb.check_expression("vars.list[loop.index]").unwrap(),
        vec!["loop.index", "vars.list"]
    );
    assert_eq!(
        sb.check_expression("steps.post.output.body.id ~ item")
            .unwrap(),
        vec!["item", "steps.post.output.body.id"]
    );
    assert_eq!(
        sb.check_expression("vars.list[0] + vars.list[0] + trigger.body['a'].b")
            .unwrap(),
        vec!["trigger.body.a.b", "vars.list.0"]
    );
    assert_eq!(
        sb.check_expression("trigger.body.title.upper() is eqi(inputs.x) and range(3) | length > secrets['my-token'] | length")
            .unwrap(),
        vec!["inputs.x", "secrets.my-token", "trigger.body.title"]
    );
    assert_eq!(
        sb.check_expression("x is defined and x.y | default(1)")
            .unwrap(),
        vec!["x", "x.y"]
    );
    assert_eq!(sb.check_expression("1 + 2").unwrap(), Vec::<String>::new());
}

#[test]
fn check_template_paths() {
    let sb = sb();
    assert_eq!(
        sb.check_template(
            "{% for x in vars.list %}{{ x.y }}{{ loop.index }}{% endfor %}{{ trigger.body.count }}"
        )
        .unwrap(),
        vec!["trigger.body.count", "vars.list"]
    );
    assert_eq!(
        sb.check_template("{{ loop.index }}{% set t = trigger.body %}{{ t.title }}{% for k, v in t | items %}{{ k }}{{ v }}{% endfor %}")
            .unwrap(),
        vec!["loop.index", "trigger.body"]
    );
    assert_eq!(
        sb.check_template("{% if c %}{% set t = 1 %}{% endif %}{{ t }}")
            .unwrap(),
        vec!["c"]
    );
    assert_eq!(
        sb.check_template("{{ trigger.body.count }}").unwrap(),
        vec!["trigger.body.count"]
    );
    assert_eq!(
        sb.check_template("plain {#x#}").unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        sb.check_value(&json!({
            "a": "Bearer {{ secrets.chat_token }}",
            "b": ["{{ trigger.body.count }}", "{{ secrets.chat_token }}"],
            "c": 1,
        }))
        .unwrap(),
        vec!["secrets.chat_token", "trigger.body.count"]
    );
    let m = sb
        .check_value(&json!({"a": {"b/c": ["ok", "{{ x"]}}))
        .unwrap_err()
        .message;
    assert!(m.starts_with("at /a/b~1c/1: syntax error"), "{m}");
    assert!(m.contains("{{ x"), "{m}");
}

#[test]
fn syntax_errors() {
    let sb = sb();
    let m = sb
        .check_expression(r#"trigger.body.severity =="#)
        .unwrap_err()
        .message;
    assert_eq!(
        m,
        "syntax error: unexpected end of input, expected expression at 1:23 in expression `trigger.body.severity ==`"
    );
    let m = sb.check_expression("a b").unwrap_err().message;
    assert!(m.starts_with("syntax error: "), "{m}");
    assert!(m.contains("in expression `a b`"), "{m}");
    let m = sb.check_expression("a %} {% b").unwrap_err().message;
    assert!(m.starts_with("syntax error: "), "{m}");
    let m = sb.check_expression("").unwrap_err().message;
    assert!(m.starts_with("syntax error: "), "{m}");
    let m = sb
        .check_template("line 1\n{% for x in y %}\n{{ x }")
        .unwrap_err()
        .message;
    assert!(m.starts_with("syntax error: "), "{m}");
    assert!(m.contains(" at 3:"), "{m}");
    assert!(m.contains("in template `line 1\n"), "{m}");
    let m = sb.eval("1 is nosuchtest", &ctx()).unwrap_err().message;
    assert!(m.contains("nosuchtest"), "{m}");
    let m = sb.eval("1 | nosuchfilter", &ctx()).unwrap_err().message;
    assert!(m.contains("nosuchfilter"), "{m}");
    // evaluation errors quote the source too
    let m = sb.eval("1 / 0", &ctx()).unwrap_err().message;
    assert!(m.contains("in expression `1 / 0`"), "{m}");
    let m = sb.eval("x", &json!([1])).unwrap_err().message;
    assert!(m.contains("JSON object"), "{m}");
}

#[test]
fn context_is_pruned_but_semantics_are_not() {
    let sb = sb();
    let c = ctx();
    // a whole object is converted when it is used as a whole
    assert_eq!(sb.eval("trigger.body | length", &c).unwrap(), json!(7));
    assert_eq!(
        sb.eval("trigger.headers | list", &c).unwrap(),
        json!(["content-type", "x-github-event"])
    );
    assert_eq!(
        sb.eval("trigger.body.nested.list | map(attribute='id') | list", &c)
            .unwrap(),
        json!([7, 8])
    );
    assert_eq!(
        sb.render(&json!("{% set b = trigger.body %}{{ b | length }}"), &c)
            .unwrap(),
        json!("7")
    );
    assert_eq!(
        sb.render(
            &json!(["{{ trigger.body.count }}", "{{ trigger.body | length }}"]),
            &c
        )
        .unwrap(),
        json!([3, 7])
    );
    assert_eq!(
        sb.render(&json!("{% set trigger = {'x': 1} %}{{ trigger.x }}"), &c)
            .unwrap(),
        json!("1")
    );
}

#[test]
fn cache_and_sharing() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Sandbox>();
    let sb = sb();
    let c = ctx();
    let other = sb.clone();
    for i in 0..(CACHE_ENTRIES + 10) {
        let src = format!("trigger.body.count + {i}");
        assert_eq!(other.eval(&src, &c).unwrap(), json!(3 + i));
    }
    assert!(sb.eval_bool("trigger.body.count == 3", &c).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let sb = sb.clone();
            let c = c.clone();
            std::thread::spawn(move || {
                for i in 0..200 {
                    let v = sb
                        .eval(&format!("trigger.body.count * {}", i % 7 + t), &c)
                        .unwrap();
                    assert_eq!(v, json!(3 * (i % 7 + t)));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// Rough timings; run with `cargo test -p hookflow-core --release -- --ignored --nocapture`.
#[test]
#[ignore]
fn timings() {
    let sb = sb();
    let c = ctx();
    let mut big = ctx();
    big["trigger"]["body"]["commits"] = json!(
        (0..200)
            .map(|i| json!({"id": format!("{i:040}"), "message": "fix things ".repeat(10), "author": {"name": "n", "email": "e"}, "added": ["a", "b"]}))
            .collect::<Vec<_>>()
    );
    let n = 100_000u32;
    let time = |name: &str, f: &dyn Fn()| {
        f();
        let start = Instant::now();
        for _ in 0..n {
            f();
        }
        println!("{name}: {:?}", start.elapsed() / n);
    };
    let cond = r#"trigger.body.severity == "high" and trigger.headers["x-github-event"] == "push""#;
    time("eval_bool simple", &|| {
        assert!(sb.eval_bool(cond, &c).unwrap())
    });
    time("eval_bool simple, 200-commit body", &|| {
        assert!(sb.eval_bool(cond, &big).unwrap())
    });
    time("eval_bool whole body, 200-commit body", &|| {
        assert!(sb.eval_bool("trigger.body | length > 1", &big).unwrap())
    });
    time("eval_bool matches_regex", &|| {
        assert!(
            sb.eval_bool(r#"trigger.body.cve is matches_regex("^CVE-\\d+")"#, &c)
                .unwrap()
        )
    });
    let v = json!({"text": "Alert {{ trigger.body.title }}", "n": "{{ trigger.body.count }}", "k": "plain"});
    time("render 3 fields", &|| {
        sb.render(&v, &c).unwrap();
    });
    let src = "trigger.body.severity == 'high'";
    time("uncached compile (fresh sandbox)", &|| {
        Sandbox::new(ExprLimits::default())
            .eval_bool(src, &c)
            .unwrap();
    });
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
