//! Reading SecureX exports: files and folders (such as a clone of the vendor's workflow
//! repository) into one [`Corpus`] — every workflow (main, embedded sub-workflow, atomic) by
//! its unique name, and the shared objects the exports carry (targets, target groups, webhooks,
//! events, triggers, schedules, global variables).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

/// One export file as read.
#[derive(Debug, Clone)]
pub struct ExportFile {
    pub path: String,
    pub doc: Value,
}

/// A file that could not be read as an export.
#[derive(Debug, Clone)]
pub struct Unreadable {
    pub path: String,
    pub reason: String,
}

/// A workflow found in an export.
#[derive(Debug, Clone)]
pub struct SxWorkflow {
    pub uid: String,
    /// Index into [`Corpus::exports`] of the first export holding it.
    pub export: usize,
    /// An embedded sub-workflow (`subworkflows` of an export) rather than the export's own.
    pub embedded: bool,
    pub json: Value,
}

impl SxWorkflow {
    pub fn name(&self) -> &str {
        str_of(&self.json, &["name"])
            .or_else(|| str_of(&self.json, &["properties", "display_name"]))
            .unwrap_or(&self.uid)
    }

    pub fn is_atomic(&self) -> bool {
        self.json["properties"]["atomic"]["is_atomic"].as_bool() == Some(true)
    }
}

/// Everything read.
#[derive(Debug, Default)]
pub struct Corpus {
    pub exports: Vec<ExportFile>,
    pub unreadable: Vec<Unreadable>,
    /// Workflows by unique name, in the order first seen.
    pub workflows: Vec<SxWorkflow>,
    /// Shared objects by unique name (first definition wins).
    pub targets: BTreeMap<String, Value>,
    pub target_groups: BTreeMap<String, Value>,
    pub webhooks: BTreeMap<String, Value>,
    pub events: BTreeMap<String, Value>,
    pub triggers: BTreeMap<String, Value>,
    pub schedules: BTreeMap<String, Value>,
    pub globals: BTreeMap<String, Value>,
}

impl Corpus {
    pub fn workflow(&self, uid: &str) -> Option<&SxWorkflow> {
        self.workflows.iter().find(|w| w.uid == uid)
    }
}

/// `v[keys[0]][keys[1]]…` as a string.
pub fn str_of<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for k in keys {
        cur = cur.get(k)?;
    }
    cur.as_str()
}

/// Whether a JSON document is a SecureX workflow export.
fn is_export(doc: &Value) -> bool {
    str_of(doc, &["workflow", "unique_name"]).is_some_and(|u| u.starts_with("definition_workflow"))
}

/// The JSON files under `path` (itself when a file), sorted, skipping hidden folders.
fn json_files(path: &Path, out: &mut Vec<(PathBuf, bool)>) -> std::io::Result<()> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for p in entries {
            let hidden = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'));
            if hidden {
                continue;
            }
            if p.is_dir() {
                json_files(&p, out)?;
            } else if p
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("json"))
            {
                out.push((p, false));
            }
        }
    } else {
        out.push((path.to_path_buf(), true));
    }
    Ok(())
}

/// Reads every export under `paths`. A path that does not exist, a file named on the command
/// line that is not an export, and a `.json` file in a folder that is not JSON are unreadable;
/// other JSON files in folders (not exports) are passed over.
pub fn read(paths: &[PathBuf]) -> Corpus {
    let mut corpus = Corpus::default();
    let mut files = Vec::new();
    for p in paths {
        if !p.exists() {
            corpus.unreadable.push(Unreadable {
                path: p.display().to_string(),
                reason: "no such file or folder".into(),
            });
            continue;
        }
        if let Err(e) = json_files(p, &mut files) {
            corpus.unreadable.push(Unreadable {
                path: p.display().to_string(),
                reason: format!("cannot list the folder: {e}"),
            });
        }
    }
    let mut seen_files = BTreeSet::new();
    for (file, named) in files {
        let path = file.display().to_string();
        if !seen_files.insert(path.clone()) {
            continue;
        }
        let read = std::fs::read(&file).map_err(|e| format!("cannot read: {e}"));
        let doc = read.and_then(|text| {
            serde_json::from_slice::<Value>(&text).map_err(|e| format!("not JSON: {e}"))
        });
        let doc = match doc {
            Ok(d) => d,
            Err(reason) => {
                corpus.unreadable.push(Unreadable { path, reason });
                continue;
            }
        };
        if !is_export(&doc) {
            if named {
                corpus.unreadable.push(Unreadable {
                    path,
                    reason: "not a SecureX workflow export (no workflow.unique_name)".into(),
                });
            }
            continue;
        }
        add_export(&mut corpus, ExportFile { path, doc });
    }
    corpus
}

fn add_export(corpus: &mut Corpus, export: ExportFile) {
    let index = corpus.exports.len();
    let doc = &export.doc;
    let mut add_wf = |json: &Value, embedded: bool| {
        let Some(uid) = str_of(json, &["unique_name"]) else {
            return;
        };
        if corpus.workflows.iter().any(|w| w.uid == uid) {
            return;
        }
        corpus.workflows.push(SxWorkflow {
            uid: uid.to_string(),
            export: index,
            embedded,
            json: json.clone(),
        });
    };
    add_wf(&doc["workflow"], false);
    for sub in doc["subworkflows"].as_array().into_iter().flatten() {
        add_wf(sub.get("workflow").unwrap_or(sub), true);
    }
    let shared = [
        ("targets", &mut corpus.targets),
        ("target_groups", &mut corpus.target_groups),
        ("webhooks", &mut corpus.webhooks),
        ("events", &mut corpus.events),
        ("triggers", &mut corpus.triggers),
        ("schedules", &mut corpus.schedules),
        ("variables", &mut corpus.globals),
    ];
    for (key, map) in shared {
        if let Some(m) = doc[key].as_object() {
            for (k, v) in m {
                map.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }
    corpus.exports.push(export);
}

/// Every activity id in a JSON value: any object whose `unique_name` starts with
/// `definition_activity`, wherever it is. Deliberately knows nothing of the export's structure,
/// so that it checks the translator's walk.
pub fn activity_ids(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(u)) = m.get("unique_name")
                && u.starts_with("definition_activity")
            {
                out.insert(u.clone());
            }
            for x in m.values() {
                activity_ids(x, out);
            }
        }
        Value::Array(a) => {
            for x in a {
                activity_ids(x, out);
            }
        }
        _ => {}
    }
}
