//! Importers of other products' workflow exports into hookflow documents (SPEC §12).
//!
//! Today one format: SecureX orchestration exports ([`securex`]). An import reads files, builds
//! every hookflow document in memory with a report of what was and was not translated
//! ([`report`]), checks each document with hookflow's own validator, and writes the result to a
//! folder ([`Import::write`]). Sending anything to a server is the CLI's job (`--apply`), not
//! this crate's: the only I/O here is reading the exports and writing the output folder.
#![forbid(unsafe_code)]

pub mod report;
pub mod securex;
mod yaml;

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use report::Report;
pub use yaml::to_yaml;

/// Everything one import produced, ready to be written or applied.
#[derive(Debug, Clone)]
pub struct Import {
    /// Workflow documents in apply order (a called workflow before its callers).
    pub workflows: Vec<Document>,
    pub webhooks: Vec<WebhookSpec>,
    pub events: Vec<EventSpec>,
    /// Every target referenced, for the user to fill with base URLs.
    pub targets: Vec<TargetEntry>,
    /// Names of the secrets the documents use.
    pub secrets: Vec<String>,
    pub report: Report,
}

/// One generated workflow document.
#[derive(Debug, Clone)]
pub struct Document {
    pub name: String,
    /// Path inside the output folder, e.g. `workflows/03-create-incident.yaml`.
    pub file: String,
    /// The hookflow definition (the YAML is this value).
    pub definition: Value,
    pub yaml: String,
    /// Translated without gaps (applied enabled with `--enable-clean`).
    pub clean: bool,
}

/// A webhook to create (`webhooks.yaml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookSpec {
    pub name: String,
    pub content_type: String,
}

/// An event to create (`events.yaml`): on a webhook (by its name) or on a schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

/// One target of `targets.yaml`: the base URL that replaces the old product's target, and
/// optionally the secret holding the `Authorization` header value its requests send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetEntry {
    pub name: String,
    #[serde(default)]
    pub base_url: String,
    #[serde(default)]
    pub auth_secret: String,
    /// What the export says about it (type, old host), for the person filling the file in.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub used_by: Vec<String>,
}

/// The `targets.yaml` document.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TargetsFile {
    #[serde(default)]
    pub targets: Vec<TargetEntry>,
}

impl TargetsFile {
    /// Reads a filled-in `targets.yaml`.
    pub fn read(path: &Path) -> Result<TargetsFile, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        serde_saphyr::from_str(&text)
            .map_err(|e| format!("{} is not a targets file: {e}", path.display()))
    }

    /// The entry named `name`, compared case-insensitively (as the old product's target
    /// criteria did), with a base URL filled in.
    pub fn find(&self, name: &str) -> Option<&TargetEntry> {
        let lower = name.to_lowercase();
        self.targets
            .iter()
            .find(|t| t.name.to_lowercase() == lower && !t.base_url.trim().is_empty())
    }
}

/// Errors that stop an import before anything is written.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

impl Import {
    /// Writes the output folder: `workflows/`, `webhooks.yaml`, `events.yaml`, `targets.yaml`,
    /// `secrets.txt`, `import-report.md`, `import-report.json`. Files of an earlier import in
    /// `workflows/` are removed first, so the folder always shows this import.
    pub fn write(&self, dir: &Path) -> Result<(), ImportError> {
        let io = |path: &Path, source| ImportError::Write {
            path: path.display().to_string(),
            source,
        };
        let wdir = dir.join("workflows");
        std::fs::create_dir_all(&wdir).map_err(|e| io(&wdir, e))?;
        if let Ok(entries) = std::fs::read_dir(&wdir) {
            for e in entries.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "yaml") {
                    std::fs::remove_file(&p).map_err(|e| io(&p, e))?;
                }
            }
        }
        let put = |name: &str, text: &str| {
            let p = dir.join(name);
            std::fs::write(&p, text).map_err(|e| io(&p, e))
        };
        for d in &self.workflows {
            put(&d.file, &d.yaml)?;
        }
        let header = |what: &str| format!("# {what}\n# Generated by `hookflow import securex`.\n");
        put(
            "webhooks.yaml",
            &format!(
                "{}{}",
                header("Webhooks to create (hookflow webhook create, or --apply)"),
                to_yaml(&serde_json::json!({ "webhooks": self.webhooks }))
            ),
        )?;
        put(
            "events.yaml",
            &format!(
                "{}{}",
                header("Events to create: on a webhook (by name) or on a schedule"),
                to_yaml(&serde_json::json!({ "events": self.events }))
            ),
        )?;
        put(
            "targets.yaml",
            &format!(
                "{}# Fill in base_url (and auth_secret: the name of a secret holding the whole\n\
                 # Authorization header value) for each target, then import again with\n\
                 # --targets targets.yaml. Names are matched case-insensitively.\n{}",
                header("Targets the workflows call"),
                to_yaml(&serde_json::json!({ "targets": self.targets }))
            ),
        )?;
        let mut secrets = String::from(
            "# Secrets the workflows use: create each with `hookflow secret set NAME`.\n",
        );
        for s in &self.secrets {
            secrets.push_str(s);
            secrets.push('\n');
        }
        put("secrets.txt", &secrets)?;
        put("import-report.md", &self.report.markdown())?;
        let json = serde_json::to_string_pretty(&self.report).expect("a report serializes");
        put("import-report.json", &(json + "\n"))?;
        Ok(())
    }
}
