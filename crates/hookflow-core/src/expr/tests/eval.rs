//! Evaluating through the sandbox: what a template is, comparisons on nested JSON, strict
//! undefined and its escape hatches, and rendering that keeps the JSON types.

use serde_json::json;

use super::*;

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
