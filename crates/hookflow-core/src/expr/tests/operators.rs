//! The condition operators added to Jinja: `eqi`, `matches_wildcard` and `matches_regex`.

use super::*;

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
