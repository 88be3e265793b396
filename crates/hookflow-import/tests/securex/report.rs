//! The report: one entry per activity, the completeness self-check, the files written, exit
//! codes.

use std::collections::BTreeSet;

use hookflow_import::report::{ExportStatus, missing_activities};

use crate::*;

const ALL: [&str; 4] = ["kinds", "refs", "calls", "triggers"];

#[test]
fn every_activity_has_exactly_one_entry() {
    let imp = import(&ALL, None);
    let sc = &imp.report.self_check;
    assert!(sc.complete(), "{:?}", sc.missing);
    assert_eq!(sc.activities_in_exports, sc.activities_in_report);
    let ids: BTreeSet<&str> = imp
        .report
        .activities
        .iter()
        .map(|a| a.activity_id.as_str())
        .collect();
    assert_eq!(ids.len(), imp.report.activities.len(), "no activity twice");
    assert_eq!(imp.report.exports.len(), 6);
    assert_valid(&imp);
}

#[test]
fn the_completeness_check_finds_a_missing_activity() {
    let mut imp = import(&ALL, None);
    let mut expected = BTreeSet::new();
    for a in &imp.report.activities {
        expected.insert(a.activity_id.clone());
    }
    assert!(missing_activities(&expected, &imp.report).is_empty());
    let dropped = imp.report.activities.remove(7).activity_id;
    assert_eq!(missing_activities(&expected, &imp.report), vec![dropped]);
}

#[test]
fn unreadable_input_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("broken.json"), "{ not json").unwrap();
    std::fs::write(dir.path().join("other.json"), "{\"not\": \"an export\"}").unwrap();
    let imp = hookflow_import::securex::import(
        &[dir.path().to_path_buf(), fixture("triggers/webhook.json")],
        None,
    );
    let errors: Vec<&str> = imp
        .report
        .exports
        .iter()
        .filter(|e| e.status == ExportStatus::Error)
        .map(|e| e.path.as_str())
        .collect();
    assert_eq!(
        errors.len(),
        1,
        "only the broken file; JSON that is not an export is passed over in a folder"
    );
    assert!(errors[0].ends_with("broken.json"));
    assert_eq!(imp.exit_code(), 1);
}

#[test]
fn the_output_folder() {
    let imp = import(&ALL, None);
    let dir = tempfile::tempdir().unwrap();
    imp.write(dir.path()).unwrap();
    for f in [
        "webhooks.yaml",
        "events.yaml",
        "targets.yaml",
        "secrets.txt",
        "import-report.md",
        "import-report.json",
    ] {
        assert!(dir.path().join(f).is_file(), "{f}");
    }
    for d in &imp.workflows {
        let text = std::fs::read_to_string(dir.path().join(&d.file)).unwrap();
        let back: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(back, d.definition, "{} reads back as generated", d.file);
    }
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("import-report.json")).unwrap(),
    )
    .unwrap();
    for key in ["path", "workflows", "status", "gaps"] {
        assert!(report["exports"][0].get(key).is_some(), "exports[].{key}");
    }
    for key in [
        "export",
        "workflow",
        "activity_id",
        "type",
        "title",
        "status",
        "steps",
        "gaps",
    ] {
        assert!(
            report["activities"][0].get(key).is_some(),
            "activities[].{key}"
        );
    }
    let targets: hookflow_import::TargetsFile =
        hookflow_import::TargetsFile::read(&dir.path().join("targets.yaml")).unwrap();
    assert!(targets.targets.iter().any(|t| t.name == "Primary API"));
    let md = std::fs::read_to_string(dir.path().join("import-report.md")).unwrap();
    assert!(
        md.contains("## Gap categories") && md.contains("| table |"),
        "{md}"
    );
}
