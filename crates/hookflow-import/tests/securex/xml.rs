//! `core.xpathquery` (tests/fixtures/xml/xpath.json): a python step whose script runs the
//! queries with ElementTree. The generated script is run here with the real `python3`, on XML
//! the test writes, so the test checks what the step computes, not only how it looks.

use std::process::Command;

use hookflow_import::report::ActivityStatus;
use serde_json::{Value, json};

use crate::*;

const WF: &str = "Fixture - XPath";

const REPORT: &str = r#"<?xml version="1.0"?>
<root>
  <row id="r1"><username>lgraham</username><email>leanne@company.com</email></row>
  <row id="r2"><username>ehowell</username><email>ervin@company.com</email></row>
  <summary><total> 2 </total></summary>
  <flag>True</flag>
</root>"#;

/// Runs the step's script with `python3` and `args`; the script variables it declares, as JSON
/// (or the failure's stderr).
fn run_script(step: &Value, args: &[String]) -> Result<Value, String> {
    let names: Vec<&str> = step["variables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    let script = format!(
        "{}\nimport json as _j\nprint(_j.dumps({{n: globals()[n] for n in {names:?}}}))\n",
        step["script"].as_str().unwrap()
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(&script)
        .args(args)
        .output()
        .expect("python3 runs");
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).expect("JSON"))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn xpath_queries_become_a_python_step_that_runs_them() {
    let imp = import(&["xml"], None);
    assert_eq!(
        status(&imp, "definition_activity_XP"),
        ActivityStatus::Translated
    );
    assert_clean(&imp);
    let d = doc(&imp, WF);
    let s = typed_step(d, "read_the_report", "python");
    assert_eq!(
        s["variables"],
        json!([
            {"name": "row1_username", "type": "string"},
            {"name": "email_for_ehowell", "type": "string"},
            {"name": "total", "type": "integer"},
            {"name": "query_4", "type": "string"},
            {"name": "missing", "type": "string"},
            {"name": "flag", "type": "boolean"}
        ]),
        "a query name that is not an identifier gets a variable of its own"
    );
    // the XML is the input variable as text; the queries are data, not code
    let args = render(&s["args"], json!({"inputs": {"report": REPORT}}));
    let args: Vec<String> = args
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    assert_eq!(args[0], REPORT);
    let got = run_script(s, &args).expect("the script runs");
    assert_eq!(
        got,
        json!({
            "row1_username": "lgraham",
            "email_for_ehowell": "ervin@company.com",
            "total": 2,
            "query_4": "r2",
            "missing": "",
            "flag": true
        })
    );
    // later activities read the results as the step's variables
    let keep = step(d, "keep");
    let ctx = json!({"steps": {"read_the_report": {"output": {"variables": got}}}});
    assert_eq!(
        render(&keep["values"]["who"], ctx.clone()),
        json!("ervin@company.com")
    );
    assert_eq!(render(&keep["values"]["n"], ctx), json!(2));

    // XML that does not parse, and a query ElementTree cannot run, fail the step clearly
    let err = run_script(s, &["<root>".to_string(), args[1].clone()]).unwrap_err();
    assert!(err.contains("the input is not XML"), "{err}");
    let bad = json!([["x", "/root/row[position() > 1]", "string"]]).to_string();
    let err = run_script(s, &[REPORT.to_string(), bad]).unwrap_err();
    assert!(err.contains("is not supported"), "{err}");
    // a typed query that matches nothing fails rather than inventing a value
    let none = json!([["n", "/root/nothing", "integer"]]).to_string();
    let err = run_script(s, &[REPORT.to_string(), none]).unwrap_err();
    assert!(err.contains("matched nothing"), "{err}");
}
