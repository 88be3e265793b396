//! Speed without changed meaning: context pruning, the compiled-source cache, and timings.

use std::time::Instant;

use serde_json::json;

use super::super::compile::CACHE_ENTRIES;
use super::*;

#[test]
fn context_is_pruned_but_semantics_are_not() {
    let sb = sb();
    let c = ctx();
    // a whole object is converted when it is used as a whole
    for (src, want) in [
        ("trigger.body | length", json!(7)),
        (
            "trigger.headers | list",
            json!(["content-type", "x-github-event"]),
        ),
        (
            "trigger.body.nested.list | map(attribute='id') | list",
            json!([7, 8]),
        ),
    ] {
        assert_eq!(sb.eval(src, &c).unwrap(), want, "{src}");
    }
    for (template, want) in [
        (
            json!("{% set b = trigger.body %}{{ b | length }}"),
            json!("7"),
        ),
        (
            json!(["{{ trigger.body.count }}", "{{ trigger.body | length }}"]),
            json!([3, 7]),
        ),
        (
            json!("{% set trigger = {'x': 1} %}{{ trigger.x }}"),
            json!("1"),
        ),
    ] {
        assert_eq!(sb.render(&template, &c).unwrap(), want, "{template}");
    }
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
