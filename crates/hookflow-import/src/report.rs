//! The import report (`import-report.json` and `import-report.md`, SPEC §12): one entry per
//! export and per activity, every gap with a category, the validation of every generated
//! document, and the self-check that no activity of the exports is missing from the report.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// The whole report. `exports` and `activities` are the SPEC's shape; `workflows` and
/// `self_check` are added so that a reader (or a test) sees every document's validation and
/// the completeness check without re-running anything.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Report {
    pub exports: Vec<ExportEntry>,
    pub activities: Vec<ActivityEntry>,
    #[serde(default)]
    pub workflows: Vec<WorkflowEntry>,
    #[serde(default)]
    pub self_check: SelfCheck,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportStatus {
    Clean,
    Gaps,
    Error,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportEntry {
    pub path: String,
    pub workflows: Vec<String>,
    pub status: ExportStatus,
    pub gaps: Vec<ExportGap>,
}

/// A gap as listed under its export: where it is and what it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportGap {
    pub workflow: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity_id: Option<String>,
    pub category: String,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityStatus {
    Translated,
    TranslatedWithGaps,
    NotTranslated,
    Skipped,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActivityEntry {
    pub export: String,
    pub workflow: String,
    pub activity_id: String,
    pub r#type: String,
    pub title: String,
    pub status: ActivityStatus,
    pub steps: Vec<String>,
    pub gaps: Vec<Gap>,
}

impl ActivityEntry {
    /// The columns of the report's table of activities.
    const COLUMNS: [&str; 5] = ["workflow", "activity", "type", "status", "steps"];

    /// Its row in the table of activities.
    fn cells(&self) -> Vec<String> {
        let status = serde_json::to_value(self.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        vec![
            self.workflow.clone(),
            self.title.replace('|', "\\|"),
            self.r#type.clone(),
            status,
            self.steps.join(", "),
        ]
    }
}

/// Something the translation could not carry over: a category (for counting) and what the
/// user must do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    pub category: String,
    pub message: String,
}

impl Gap {
    pub fn new(category: &str, message: impl Into<String>) -> Gap {
        Gap {
            category: category.to_string(),
            message: message.into(),
        }
    }
}

/// One generated document, with hookflow's validation of it (run with the generated events,
/// secrets and workflows taken as existing).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkflowEntry {
    pub name: String,
    pub file: String,
    /// The export it came from (for a stub: the first export that calls it).
    pub export: String,
    /// `workflow`, `atomic`, `subworkflow` or `stub`.
    pub kind: String,
    pub clean: bool,
    pub valid: bool,
    pub validation_errors: Vec<String>,
    /// Names of the workflows it calls (applied before it).
    pub calls: Vec<String>,
    /// Targets its HTTP steps need that have no base URL yet (those steps fail until the
    /// import is run again with `--targets`).
    #[serde(default)]
    pub targets_missing: Vec<String>,
}

impl WorkflowEntry {
    /// The columns of the report's table of documents.
    const COLUMNS: [&str; 5] = ["file", "workflow", "kind", "clean", "valid"];

    /// Its row in the table of documents.
    fn cells(&self) -> Vec<String> {
        let clean = if self.clean { "yes" } else { "no" };
        let valid = if self.valid { "yes" } else { "NO" };
        vec![
            self.file.clone(),
            self.name.clone(),
            self.kind.clone(),
            clean.to_string(),
            valid.to_string(),
        ]
    }
}

/// The completeness self-check.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SelfCheck {
    /// Distinct activities found in the exports (by a walk of the raw JSON, independent of the
    /// translation).
    pub activities_in_exports: usize,
    pub activities_in_report: usize,
    /// Activity ids of the exports without a report entry (must be empty).
    pub missing: Vec<String>,
    pub documents: usize,
    pub documents_valid: usize,
}

impl SelfCheck {
    pub fn complete(&self) -> bool {
        self.missing.is_empty()
    }
}

/// The activity ids of `expected` that `report` has no entry for.
pub fn missing_activities(expected: &BTreeSet<String>, report: &Report) -> Vec<String> {
    let have: BTreeSet<&str> = report
        .activities
        .iter()
        .map(|a| a.activity_id.as_str())
        .collect();
    expected
        .iter()
        .filter(|id| !have.contains(id.as_str()))
        .cloned()
        .collect()
}

impl Report {
    /// Gap categories with their counts (over activities and export-level gaps).
    pub fn gap_counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for e in &self.exports {
            for g in &e.gaps {
                *counts.entry(g.category.clone()).or_insert(0) += 1;
            }
        }
        counts
    }

    fn count(&self, status: ExportStatus) -> usize {
        self.exports.iter().filter(|e| e.status == status).count()
    }

    /// The human-readable report.
    pub fn markdown(&self) -> String {
        let mut md = String::from("# SecureX import report\n\n");
        let total = self.exports.len();
        md.push_str(&format!(
            "{total} exports: {} clean, {} with gaps, {} unreadable. {} workflow documents, {} valid. \
             {} activities in the exports, {} in this report{}.\n\n",
            self.count(ExportStatus::Clean),
            self.count(ExportStatus::Gaps),
            self.count(ExportStatus::Error),
            self.self_check.documents,
            self.self_check.documents_valid,
            self.self_check.activities_in_exports,
            self.self_check.activities_in_report,
            if self.self_check.complete() {
                " (complete)"
            } else {
                " — INCOMPLETE, see the end"
            }
        ));
        let counts = self.gap_counts();
        if !counts.is_empty() {
            md.push_str("## Gap categories\n\n");
            table(
                &mut md,
                &["category", "gaps"],
                counts
                    .iter()
                    .map(|(c, n)| vec![c.to_string(), n.to_string()]),
            );
            md.push('\n');
        }
        md.push_str("## Exports\n\n");
        for e in &self.exports {
            md.push_str(&format!(
                "### {} — {}\n\n",
                e.path,
                match e.status {
                    ExportStatus::Clean => "clean",
                    ExportStatus::Gaps => "gaps",
                    ExportStatus::Error => "error",
                }
            ));
            if !e.workflows.is_empty() {
                md.push_str(&format!("Workflows: {}\n\n", e.workflows.join(", ")));
            }
            for g in &e.gaps {
                let at = g
                    .activity_id
                    .as_deref()
                    .map(|a| format!(" (activity `{a}`)"))
                    .unwrap_or_default();
                md.push_str(&format!(
                    "- **{}** in {}{at}: {}\n",
                    g.category, g.workflow, g.message
                ));
            }
            if !e.gaps.is_empty() {
                md.push('\n');
            }
        }
        md.push_str("## Workflow documents (in apply order)\n\n");
        table(
            &mut md,
            &WorkflowEntry::COLUMNS,
            self.workflows.iter().map(WorkflowEntry::cells),
        );
        for w in self.workflows.iter().filter(|w| !w.valid) {
            md.push_str(&format!("\nValidation errors of {}:\n", w.file));
            for e in &w.validation_errors {
                md.push_str(&format!("- {e}\n"));
            }
        }
        md.push_str("\n## Activities\n\n");
        table(
            &mut md,
            &ActivityEntry::COLUMNS,
            self.activities.iter().map(ActivityEntry::cells),
        );
        if !self.self_check.complete() {
            md.push_str("\n## Missing from this report (importer bug)\n\n");
            for id in &self.self_check.missing {
                md.push_str(&format!("- {id}\n"));
            }
        }
        md
    }
}

/// A Markdown table: the `header` row, its rule, then one row of cells per item.
fn table(md: &mut String, header: &[&str], rows: impl Iterator<Item = Vec<String>>) {
    md.push_str(&format!("| {} |\n", header.join(" | ")));
    md.push_str(&format!("{}|\n", "|---".repeat(header.len())));
    for cells in rows {
        md.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
}
