//! What compiling reports before anything runs: the variable paths read, and syntax errors.

use serde_json::json;

use super::*;

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
