//! Reference shapes, text interpolation and condition operators
//! (tests/fixtures/refs/refs-and-conditions.json).

use hookflow_import::report::ActivityStatus;
use serde_json::{Value, json};

use crate::*;

const WF: &str = "Fixture - References";

fn ctx() -> Value {
    json!({
        "inputs": {"name": "Ada", "flag": false, "score": 7},
        "steps": {"read": {"output": {"value": {"name": "ada"}}}},
        "run": {"id": "run-1", "started_at": "2024-05-01T10:00:00Z"}
    })
}

#[test]
fn references_inside_text_print_as_the_old_product_did() {
    let imp = import(&["refs"], None);
    let s = step(doc(&imp, WF), "texts");
    let text = render(&s["values"]["text"], ctx());
    assert_eq!(
        text,
        json!(
            "Hi Ada, flag=false score=7 user={\"name\": \"ada\"} costs $5 {{ not a template }} {% raw %} {# c #} run run-1 at 2024-05-01T10:00:00Z"
        ),
        "strings as is, booleans lower-case, objects as JSON, a lone $ and literal braces kept"
    );
    // a whole-field reference keeps its type
    assert_eq!(s["values"]["copy"], "{{ inputs.flag }}");
    assert_eq!(render(&s["values"]["copy"], ctx()), json!(false));
}

#[test]
fn arithmetic_set_on_a_number_variable_is_computed() {
    let imp = import(&["refs"], None);
    let d = doc(&imp, WF);
    let count = step(d, "count");
    let ctx = json!({"inputs": {"score": 7}, "vars": {"count": 4}});
    assert_eq!(count["values"]["count"], "{{ vars.count+1 }}");
    assert_eq!(render(&count["values"]["count"], ctx.clone()), json!(5));
    // parentheses and division; an integer variable stays an integer
    let scaled = step(d, "scaled");
    assert_eq!(render(&scaled["values"]["count"], ctx), json!(7));
    assert_valid(&imp);
}

#[test]
fn literal_braces_stay_text() {
    let imp = import(&["refs"], None);
    let s = step(doc(&imp, WF), "literal_braces");
    assert_eq!(
        render(&s["values"]["text"], json!({})),
        json!("{{ raw }} and {% x %}")
    );
    assert_valid(&imp);
}

#[test]
fn every_operator_and_and_or_trees() {
    let imp = import(&["refs"], None);
    let c = step(doc(&imp, WF), "operators");
    let branches = c["branches"].as_array().unwrap();
    let when = |i: usize| branches[i]["when"].as_str().unwrap().to_string();
    // eq/ne/and/or, eqi, gt, lt (number in text), gte, lte, mw, nmw, mregex: all true for Ada/7
    for i in 0..9 {
        assert!(holds(&when(i), ctx()), "branch {i}: {}", when(i));
    }
    let other = json!({"inputs": {"name": "Bob", "flag": false, "score": 3}});
    for i in [0, 1, 2, 4, 6, 7, 8] {
        assert!(
            !holds(&when(i), other.clone()),
            "branch {i} must be false for Bob: {}",
            when(i)
        );
    }
    assert!(
        when(0).contains(" and ") && when(0).contains(" or "),
        "{}",
        when(0)
    );
    assert!(when(1).contains("is eqi(\"ADA\")"));
    assert!(when(6).contains("is matches_wildcard(\"A*\")"));
    assert!(when(7).contains("is not matches_wildcard(\"B?b\")"));
    assert!(when(8).contains("is matches_regex(\"^A.a$\")"));
    // an unknown operator: the branch fails loudly when reached, and the report says why
    assert_eq!(when(9), "true");
    assert_eq!(branches[9]["steps"][0]["type"], "fail");
    let bad = activity(&imp, "definition_activity_B_BAD");
    assert_eq!(bad.status, ActivityStatus::NotTranslated);
    assert!(bad.gaps[0].message.contains("sounds_like"));
    assert_valid(&imp);
}

#[test]
fn globals_environment_and_dangling_references_are_gaps() {
    let imp = import(&["refs"], None);
    let d = doc(&imp, WF);
    let vars = d["variables"].as_array().unwrap();
    assert!(
        vars.contains(&json!({"name": "global_last_seen", "type": "string", "default": "never"})),
        "{vars:?}"
    );
    let g = activity(&imp, "definition_activity_GLOBAL");
    assert_eq!(g.status, ActivityStatus::TranslatedWithGaps);
    let cats: Vec<&str> = g.gaps.iter().map(|x| x.category.as_str()).collect();
    assert_eq!(cats, vec!["global_variable", "environment_variable"]);
    let text = step(d, "globals_and_env")["values"]["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        text.contains("vars.global_last_seen") && text.contains("vars.env_variable_env1"),
        "{text}"
    );
    let dangling = activity(&imp, "definition_activity_DANGLING");
    assert_eq!(dangling.gaps[0].category, "unresolved_reference");
    assert_valid(&imp);
}
