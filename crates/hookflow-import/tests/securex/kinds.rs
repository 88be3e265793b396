//! One export with every activity kind (tests/fixtures/kinds/all-kinds.json).

use hookflow_import::report::ActivityStatus;
use serde_json::json;

use crate::*;

const WF: &str = "Fixture - All Kinds";

/// The document made from the export (without targets.yaml) validates; the tests below read
/// its parts.
#[test]
fn the_document_validates() {
    assert_valid(&import(&["kinds"], None));
}

#[test]
fn variables_keep_their_types_and_values() {
    let imp = import(&["kinds"], None);
    let d = doc(&imp, WF);
    assert_eq!(
        d["inputs"],
        json!([
            {"name": "alert_json", "type": "string", "default": "{\"hosts\": [{\"name\": \"a\"}]}"},
            {"name": "count", "type": "integer", "default": 3},
            {"name": "enabled", "type": "boolean", "default": true}
        ])
    );
    let vars = d["variables"].as_array().unwrap();
    let var = |n: &str| {
        vars.iter()
            .find(|v| v["name"] == n)
            .unwrap_or_else(|| panic!("no variable {n}"))
    };
    assert_eq!(var("summary")["type"], "string");
    assert_eq!(var("token")["type"], "secure_string");
    assert_eq!(
        var("seen_at"),
        &json!({"name": "seen_at", "type": "datetime", "default": "2024-05-01T10:00:00Z"})
    );
    assert_eq!(var("total")["default"], 0);
    assert_eq!(var("result")["type"], "string");
    assert_eq!(d["outputs"], json!([{"name": "result", "type": "string"}]));
}

#[test]
fn http_request_without_targets_fails_naming_the_target() {
    let imp = import(&["kinds"], None);
    fail_mentions(
        step(doc(&imp, WF), "post_the_alert"),
        &["\"Primary API\"", "targets.yaml"],
    );
    assert_eq!(
        status(&imp, "definition_activity_HTTP"),
        ActivityStatus::Translated
    );
    let w = imp.report.workflows.iter().find(|w| w.name == WF).unwrap();
    assert_eq!(w.targets_missing, vec!["Primary API"]);
    let t = imp
        .targets
        .iter()
        .find(|t| t.name == "Primary API")
        .expect("listed in targets.yaml");
    assert!(t.note.contains("https://api.example.com/v1"), "{t:?}");
}

#[test]
fn http_request_with_targets_calls_the_base_url() {
    // case-insensitive target names; the auth secret becomes the Authorization header
    let file = targets(&[("PRIMARY api", "https://api.test/v1/", "api_token")]);
    let imp = import(&["kinds"], Some(&file));
    let s = typed_step(doc(&imp, WF), "post_the_alert", "http_request");
    assert_eq!(s["method"], "POST");
    assert_eq!(
        s["url"],
        "https://api.test/v1/alerts?count={{ inputs.count }}"
    );
    assert_eq!(
        s["headers"],
        json!({
            "Content-Type": "application/json",
            "Accept": "application/json",
            "X-Run": "{{ run.id }}",
            "Authorization": "{{ secrets.api_token }}"
        })
    );
    assert_eq!(s["timeout"], "30s");
    assert_eq!(s["fail_on_status"], false);
    assert_eq!(s["continue_on_error"], true);
    // the body is text: the object input as JSON, the boolean lower-case
    let body = render(
        &s["body"],
        json!({"inputs": {"alert_json": "{\"hosts\": []}", "enabled": true}}),
    );
    assert_eq!(
        body,
        json!("{\"alert\": {\"hosts\": []}, \"enabled\": true}")
    );
    assert_eq!(imp.secrets, vec!["api_token"]);
    assert!(
        imp.report
            .workflows
            .iter()
            .all(|w| w.targets_missing.is_empty())
    );
    assert_valid(&imp);
}

#[test]
fn python_script_json_path_and_regex() {
    let imp = import(&["kinds"], None);
    let d = doc(&imp, WF);
    let py = typed_step(d, "summarise", "python");
    assert!(
        py["script"]
            .as_str()
            .unwrap()
            .contains("json.loads(sys.argv[1])")
    );
    assert_eq!(
        py["variables"],
        json!([{"name": "summary", "type": "string"}, {"name": "count", "type": "integer"}])
    );
    assert_eq!(py["timeout"], "60s");
    // arguments are text: an object response body as JSON, a number as a number
    let args = render(
        &py["args"],
        json!({"steps": {"post_the_alert": {"output": {"body": {"hosts": [1]}}}}, "inputs": {"count": 3}}),
    );
    assert_eq!(args, json!(["{\"hosts\": [1]}", "3"]));

    // one json_path step per query: a singular query reads `value`, a wildcard `values`
    let first = typed_step(d, "extract_hosts", "json_path");
    assert_eq!(first["input"], "{{ inputs.alert_json }}");
    assert_eq!(first["query"], "$.hosts[0].name");
    let names = step(d, "extract_hosts_names");
    assert_eq!(
        names["query"], "$.hosts[*].name",
        "Jayway's `.[` is written `[`"
    );
    assert_eq!(
        activity(&imp, "definition_activity_JP").steps,
        vec!["extract_hosts", "extract_hosts_names"]
    );

    let re = typed_step(d, "find_cve", "regex");
    assert_eq!(re["pattern"], "CVE-(\\d+)");
    assert!(
        re["input"]
            .as_str()
            .unwrap()
            .contains("steps.summarise.output.variables.summary")
    );
}

#[test]
fn set_variables_coerces_literals_and_reads_outputs() {
    let imp = import(&["kinds"], None);
    let s = typed_step(doc(&imp, WF), "keep_results", "set_variables");
    assert_eq!(
        s["values"]["total"], 42,
        "\"42\" into an integer variable is 42"
    );
    let result = render(
        &s["values"]["result"],
        json!({"steps": {
            "extract_hosts": {"output": {"value": "a"}},
            "find_cve": {"output": {"groups": ["CVE-1", "1"]}}
        }}),
    );
    assert_eq!(result, json!("first=a match=CVE-1"));
    let summary = render(
        &s["values"]["summary"],
        json!({"steps": {"summarise": {"output": {"variables": {"summary": "x"}}}}}),
    );
    assert_eq!(summary, json!("x"));
}

#[test]
fn sleep_replace_and_dates() {
    let imp = import(&["kinds"], None);
    let d = doc(&imp, WF);
    assert_eq!(step(d, "wait_a_bit")["duration"], "2000ms");
    let defang = step(d, "defang");
    assert_eq!(
        render(&defang["values"], json!({"vars": {"summary": "a.b"}})),
        json!({"defang_result": "a[.]b"})
    );
    // each date activity sets its result variable
    for (id, variable, template) in [
        (
            "tomorrow",
            "tomorrow_result",
            "{{ datetime(vars.seen_at) | add_seconds(86400) }}",
        ),
        (
            "how_long",
            "how_long_result",
            "{{ seconds_between(vars.seen_at, vars.tomorrow_result) }}",
        ),
        (
            "as_text",
            "as_text_result",
            "{{ datetime(vars.tomorrow_result) | strftime(\"%Y-%m-%d %H:%M\") }}",
        ),
        (
            "parse_day",
            "parse_day_result",
            "{{ datetime(\"2020-12-01\", format=\"%Y-%m-%d\") }}",
        ),
    ] {
        assert_eq!(step(d, id)["values"][variable], template, "{id}");
    }
    // a group is flattened: its activities are steps of the enclosing list
    assert_eq!(
        activity(&imp, "definition_activity_GROUP").steps,
        vec!["tomorrow", "how_long", "as_text", "parse_day"]
    );
    assert!(
        d["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == "tomorrow")
    );
    // a group that continues on failure is a one-branch parallel step that does too
    let safe = typed_step(d, "best_effort", "parallel");
    assert_eq!(safe["continue_on_error"], true);
    assert_eq!(safe["branches"][0]["steps"][0]["id"], "nap");
}

#[test]
fn conditions_loops_parallel_and_completion() {
    let imp = import(&["kinds"], None);
    let d = doc(&imp, WF);
    let c = typed_step(d, "did_the_post_work", "condition");
    let no = c["branches"][0]["when"].as_str().unwrap();
    assert!(holds(
        no,
        json!({"steps": {"post_the_alert": {"status": "failed", "error": "boom"}}})
    ));
    assert!(!holds(
        no,
        json!({"steps": {"post_the_alert": {"status": "succeeded", "error": null}}})
    ));
    let give_up = &c["branches"][0]["steps"][0];
    assert_eq!(give_up["type"], "fail");
    assert_eq!(
        render(
            &give_up["message"],
            json!({"steps": {"post_the_alert": {"error": "boom"}}})
        ),
        json!("post failed: boom")
    );
    let yes = c["branches"][1]["when"].as_str().unwrap();
    assert!(holds(
        yes,
        json!({"steps": {"post_the_alert": {"output": {"status": 201}}}})
    ));
    assert_eq!(c["else"], json!([]));

    let outer = typed_step(d, "each_host", "for_each");
    assert_eq!(
        outer["items"],
        "{{ steps.extract_hosts_names.output.values }}"
    );
    assert_eq!(outer["as"], "item");
    let inner = step(d, "each_letter");
    assert_eq!(inner["as"], "item_2");
    assert_eq!(inner["items"], "[\"x\", \"y\"]");
    let skip = step(d, "skip_y");
    assert!(holds(
        skip["branches"][0]["when"].as_str().unwrap(),
        json!({"item_2": "y"})
    ));
    assert_eq!(skip["branches"][0]["steps"][0]["type"], "continue");
    let append = step(d, "append");
    assert_eq!(
        render(
            &append["values"]["summary"],
            json!({"vars": {"summary": "s"}, "item": "h1", "item_2": "x"})
        ),
        json!("s h1/x")
    );

    let w = typed_step(d, "until_enough", "while");
    assert!(holds(
        w["when"].as_str().unwrap(),
        json!({"vars": {"total": 100}})
    ));
    assert_eq!(w["steps"][0]["type"], "break");

    let p = typed_step(d, "both", "parallel");
    assert_eq!(p["branches"].as_array().unwrap().len(), 2);
    for id in [
        "definition_activity_PAR_A",
        "definition_activity_PAR_B",
        "definition_activity_WHILE_C",
        "definition_activity_IF_NO",
    ] {
        assert_eq!(status(&imp, id), ActivityStatus::Translated, "{id}");
    }

    let done = typed_step(d, "done", "complete");
    assert_eq!(done["outputs"], json!({"result": "{{ vars.result }}"}));
}

#[test]
fn skipped_unsupported_and_unknown_activities_are_reported() {
    let imp = import(&["kinds"], None);
    let d = doc(&imp, WF);
    assert_eq!(
        status(&imp, "definition_activity_OFF"),
        ActivityStatus::Skipped
    );
    assert!(!d.to_string().contains("disabled_one"));
    let table = activity(&imp, "definition_activity_TABLE");
    assert_eq!(table.status, ActivityStatus::NotTranslated);
    assert_eq!(table.gaps[0].category, "table");
    fail_mentions(step(d, "make_a_table"), &["Make a table"]);
    let odd = activity(&imp, "definition_activity_ODD");
    assert_eq!(odd.status, ActivityStatus::NotTranslated);
    assert_eq!(odd.gaps[0].category, "unsupported_activity");
    assert_eq!(
        status(&imp, "definition_activity_ODD_IN"),
        ActivityStatus::NotTranslated
    );
    assert_eq!(imp.exit_code(), 2);
}
