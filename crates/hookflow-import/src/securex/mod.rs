//! `hookflow import securex`: SecureX orchestration exports → hookflow documents (SPEC §12).
//!
//! ```text
//! files ──export::read──▶ Corpus ──plan (names, variables, targets, stubs)──▶ plans
//!       ──workflow::translate (mapping.rs tables; refs → resolve; conditions; targets)──▶ documents
//!       ──order by calls, validate (hookflow-core), report + completeness self-check──▶ Import
//! ```
//!
//! Where to look: `mapping.rs` says what each activity type, output field, operator and type
//! becomes; `refs.rs` parses `$…$`; `resolve.rs` turns them into expressions and text;
//! `control.rs`, `leaf.rs`, `dates.rs`, `calls.rs` are the translators; `targets.rs` and
//! `triggers.rs` handle targets, webhooks, events and schedules.

mod calls;
mod condition;
mod context;
mod control;
mod dates;
pub mod export;
mod leaf;
pub mod mapping;
mod names;
mod refs;
mod resolve;
mod targets;
mod triggers;
mod validate;
mod workflow;
mod xml;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;

use serde_json::{Value, json};

use crate::report::{
    ExportEntry, ExportGap, ExportStatus, Report, SelfCheck, WorkflowEntry, missing_activities,
};
use crate::{Document, EventSpec, Import, TargetEntry, TargetsFile, WebhookSpec, to_yaml};
use context::{Ns, Plan, PlanKind, Shared, VarInfo, children};
use export::{Corpus, str_of};
use names::{Names, file_part, ident};
use refs::{Piece, Ref, Seg, pieces};

pub use dates::go_to_strftime;
pub use triggers::cron;

/// Unique workflow names: the name, then `name (2)`, …
#[derive(Default)]
struct WorkflowNames(HashSet<String>);

impl WorkflowNames {
    fn take(&mut self, name: &str) -> String {
        let base: String = name
            .trim()
            .chars()
            .filter(|c| !c.is_control())
            .take(190)
            .collect();
        let base = if base.is_empty() {
            "imported workflow".to_string()
        } else {
            base
        };
        if self.0.insert(base.clone()) {
            return base;
        }
        (2..)
            .map(|n| format!("{base} ({n})"))
            .find(|c| self.0.insert(c.clone()))
            .expect("a free suffix")
    }
}

/// Imports the exports under `paths`. `targets`: a filled-in `targets.yaml`.
pub fn import(paths: &[PathBuf], targets: Option<&TargetsFile>) -> Import {
    let corpus = export::read(paths);
    let mut names = WorkflowNames::default();
    let mut plans = BTreeMap::new();
    for wf in &corpus.workflows {
        let kind = if wf.is_atomic() {
            PlanKind::Atomic
        } else if wf.embedded {
            PlanKind::Subworkflow
        } else {
            PlanKind::Workflow
        };
        let name = names.take(wf.name());
        plans.insert(wf.uid.clone(), workflow::plan(wf, name, kind));
    }
    let stub_export = plan_stubs(&corpus, &mut plans, &mut names);
    let shared = Shared {
        corpus: &corpus,
        plans,
        targets_file: targets,
    };

    struct Out {
        doc: Value,
        kind: PlanKind,
        export: usize,
        gaps: Vec<ExportGap>,
        calls: Vec<String>,
        targets_missing: Vec<String>,
    }
    let mut outs: Vec<Out> = Vec::new();
    let mut entries = Vec::new();
    let mut webhooks: Vec<WebhookSpec> = Vec::new();
    let mut events: Vec<EventSpec> = Vec::new();
    let mut secrets = BTreeSet::new();
    let mut targets_used: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    for wf in &corpus.workflows {
        let trig = triggers::triggers_of(&corpus, &wf.uid);
        let t = workflow::translate(&shared, wf, trig.triggers);
        let name = shared.plans[&wf.uid].name.clone();
        let mut gaps: Vec<ExportGap> = trig
            .gaps
            .iter()
            .chain(t.gaps.iter())
            .map(|g| ExportGap {
                workflow: name.clone(),
                activity_id: None,
                category: g.category.clone(),
                message: g.message.clone(),
            })
            .collect();
        for e in &t.entries {
            for g in &e.gaps {
                gaps.push(ExportGap {
                    workflow: name.clone(),
                    activity_id: Some(e.activity_id.clone()),
                    category: g.category.clone(),
                    message: g.message.clone(),
                });
            }
        }
        for w in trig.webhooks {
            if !webhooks.iter().any(|x| x.name == w.name) {
                webhooks.push(w);
            }
        }
        for e in trig.events {
            if !events.iter().any(|x| x.name == e.name) {
                events.push(e);
            }
        }
        secrets.extend(t.secrets.iter().cloned());
        for (lower, n) in &t.targets_used {
            targets_used
                .entry(lower.clone())
                .or_insert_with(|| (n.clone(), BTreeSet::new()))
                .1
                .insert(name.clone());
        }
        entries.extend(t.entries);
        outs.push(Out {
            doc: t.document,
            kind: shared.plans[&wf.uid].kind,
            export: wf.export,
            gaps,
            calls: t.calls,
            targets_missing: t.targets_missing,
        });
    }
    for (uid, export) in &stub_export {
        let plan = &shared.plans[uid];
        outs.push(Out {
            doc: stub_document(plan),
            kind: PlanKind::Stub,
            export: *export,
            gaps: vec![ExportGap {
                workflow: plan.name.clone(),
                activity_id: None,
                category: "missing_atomic".into(),
                message: format!("stub for {uid}, which is not in the input"),
            }],
            calls: Vec::new(),
            targets_missing: Vec::new(),
        });
    }

    // apply order: a called workflow before its callers
    let index: HashMap<String, usize> = outs
        .iter()
        .enumerate()
        .map(|(i, o)| (o.doc["name"].as_str().unwrap_or_default().to_string(), i))
        .collect();
    let mut order = Vec::new();
    let mut state = vec![0u8; outs.len()];
    fn visit(
        i: usize,
        outs: &[Out],
        index: &HashMap<String, usize>,
        state: &mut [u8],
        order: &mut Vec<usize>,
    ) {
        if state[i] != 0 {
            return;
        }
        state[i] = 1;
        for c in &outs[i].calls {
            if let Some(&j) = index.get(c) {
                visit(j, outs, index, state, order);
            }
        }
        state[i] = 2;
        order.push(i);
    }
    for i in 0..outs.len() {
        visit(i, &outs, &index, &mut state, &mut order);
    }

    let catalog = validate::Generated {
        events: events.iter().map(|e| e.name.clone()).collect(),
        workflows: index.keys().cloned().collect(),
        secrets: secrets.iter().cloned().collect(),
        calls: outs
            .iter()
            .map(|o| {
                (
                    o.doc["name"].as_str().unwrap_or_default().to_string(),
                    o.calls.clone(),
                )
            })
            .collect(),
    };
    let sandbox = validate::sandbox();
    let width = order.len().to_string().len().max(2);
    let mut documents = Vec::new();
    let mut wentries = Vec::new();
    let mut export_gaps: Vec<Vec<ExportGap>> = vec![Vec::new(); corpus.exports.len()];
    for (n, &i) in order.iter().enumerate() {
        let o = &outs[i];
        let name = o.doc["name"].as_str().unwrap_or_default().to_string();
        let yaml = to_yaml(&o.doc);
        let errors = validate::check(&yaml, &catalog, &sandbox);
        let mut gaps = o.gaps.clone();
        if !errors.is_empty() {
            gaps.push(ExportGap {
                workflow: name.clone(),
                activity_id: None,
                category: "invalid_document".into(),
                message: format!(
                    "the generated document does not validate: {}",
                    errors.join("; ")
                ),
            });
        }
        let file = format!("workflows/{:0width$}-{}.yaml", n + 1, file_part(&name));
        let clean = gaps.is_empty();
        if o.kind != PlanKind::Stub {
            export_gaps[o.export].extend(gaps);
        }
        wentries.push(WorkflowEntry {
            name: name.clone(),
            file: file.clone(),
            export: corpus.exports[o.export].path.clone(),
            kind: o.kind.as_str().into(),
            clean,
            valid: errors.is_empty(),
            validation_errors: errors,
            calls: o.calls.clone(),
            targets_missing: o.targets_missing.clone(),
        });
        documents.push(Document {
            name,
            file,
            definition: o.doc.clone(),
            yaml,
            clean,
        });
    }

    let mut report = Report::default();
    for (i, e) in corpus.exports.iter().enumerate() {
        let workflows: Vec<String> = corpus
            .workflows
            .iter()
            .filter(|w| w.export == i)
            .map(|w| shared.plans[&w.uid].name.clone())
            .collect();
        let gaps = std::mem::take(&mut export_gaps[i]);
        report.exports.push(ExportEntry {
            path: e.path.clone(),
            workflows,
            status: if gaps.is_empty() {
                ExportStatus::Clean
            } else {
                ExportStatus::Gaps
            },
            gaps,
        });
    }
    for u in &corpus.unreadable {
        report.exports.push(ExportEntry {
            path: u.path.clone(),
            workflows: Vec::new(),
            status: ExportStatus::Error,
            gaps: vec![ExportGap {
                workflow: String::new(),
                activity_id: None,
                category: "unreadable".into(),
                message: u.reason.clone(),
            }],
        });
    }
    report.activities = entries;
    report.workflows = wentries;
    let mut expected = BTreeSet::new();
    for e in &corpus.exports {
        export::activity_ids(&e.doc, &mut expected);
    }
    report.self_check = SelfCheck {
        activities_in_exports: expected.len(),
        activities_in_report: report.activities.len(),
        missing: missing_activities(&expected, &report),
        documents: documents.len(),
        documents_valid: report.workflows.iter().filter(|w| w.valid).count(),
    };

    Import {
        workflows: documents,
        webhooks,
        events,
        targets: target_entries(&corpus, targets, targets_used),
        secrets: secrets.into_iter().collect(),
        report,
    }
}

/// Plans a stub for every called workflow that is not in the input; returns (uid, export of
/// the first caller).
fn plan_stubs(
    corpus: &Corpus,
    plans: &mut BTreeMap<String, Plan>,
    names: &mut WorkflowNames,
) -> Vec<(String, usize)> {
    let mut stubs: Vec<(String, usize)> = Vec::new();
    fn calls<'a>(acts: &'a [Value], out: &mut Vec<&'a Value>) {
        for a in acts {
            if matches!(
                str_of(a, &["type"]),
                Some("workflow.atomic_workflow" | "workflow.sub_workflow")
            ) {
                out.push(a);
            }
            let kids: Vec<&Value> = children(a).collect();
            for k in kids {
                calls(std::slice::from_ref(k), out);
            }
        }
    }
    for wf in &corpus.workflows {
        let mut found = Vec::new();
        calls(
            wf.json["actions"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default(),
            &mut found,
        );
        for call in found {
            let Some(callee) = str_of(call, &["properties", "workflow_id"]) else {
                continue;
            };
            if corpus.workflow(callee).is_some() {
                continue;
            }
            if !plans.contains_key(callee) {
                let label = str_of(call, &["properties", "workflow_name"]).unwrap_or(callee);
                let name = names.take(label);
                let mut plan = Plan {
                    uid: callee.to_string(),
                    name,
                    kind: PlanKind::Stub,
                    vars: HashMap::new(),
                    inputs: Vec::new(),
                    variables: Vec::new(),
                    outputs: Vec::new(),
                    target_input: Some("target".into()),
                    var_names: Names::default(),
                    export: wf.export,
                    gaps: Vec::new(),
                };
                plan.var_names.reserve("target");
                plans.insert(callee.to_string(), plan);
                stubs.push((callee.to_string(), wf.export));
            }
            let plan = plans.get_mut(callee).expect("planned");
            for k in call["properties"]["input"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, _)| k)
            {
                if !plan.vars.contains_key(k) {
                    let name = plan.var_names.take(&ident(k, "input"));
                    plan.vars.insert(
                        k.clone(),
                        VarInfo {
                            ns: Ns::Inputs,
                            name,
                            ty: "string",
                        },
                    );
                }
            }
            // outputs the caller reads
            let call_uid = str_of(call, &["unique_name"]).unwrap_or_default();
            let mut strings = Vec::new();
            all_strings(&wf.json, &mut strings);
            for s in strings {
                for p in pieces(s) {
                    if let Piece::Ref {
                        r: Ref::Activity { act, io, path },
                        ..
                    } = p
                        && act == call_uid
                        && io == "output"
                        && let Some(Seg::Field(f)) = path.first()
                        && !mapping::COMMON_OUTPUTS.iter().any(|(c, _, _)| c == f)
                        && !plan.vars.contains_key(f)
                    {
                        let name = ident(f, "output");
                        plan.vars.insert(
                            f.clone(),
                            VarInfo {
                                ns: Ns::Vars,
                                name: name.clone(),
                                ty: "string",
                            },
                        );
                        plan.outputs.push(name);
                    }
                }
            }
        }
    }
    stubs
}

fn all_strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|x| all_strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| all_strings(x, out)),
        _ => {}
    }
}

/// The document of a stub: the inputs its callers pass, the outputs they read, one `fail`
/// step saying what to provide.
fn stub_document(plan: &Plan) -> Value {
    let mut inputs: Vec<&VarInfo> = plan.vars.values().filter(|v| v.ns == Ns::Inputs).collect();
    inputs.sort_by(|a, b| a.name.cmp(&b.name));
    let mut decls: Vec<Value> = inputs
        .iter()
        .map(|v| json!({"name": v.name, "type": "string", "default": ""}))
        .collect();
    decls.push(json!({"name": "target", "type": "string", "default": ""}));
    let in_names: Vec<String> = decls
        .iter()
        .filter_map(|d| d["name"].as_str().map(str::to_string))
        .collect();
    let message = format!(
        "\"{}\" is a stub: the SecureX atomic workflow {} was not in the import. Export it from SecureX and import it again with this workflow, or write a hookflow workflow named \"{}\" with inputs {} and outputs {}.",
        plan.name,
        plan.uid,
        plan.name,
        in_names.join(", "),
        if plan.outputs.is_empty() {
            "(none read)".to_string()
        } else {
            plan.outputs.join(", ")
        }
    );
    let mut doc = json!({
        "name": plan.name,
        "description": format!("Stub generated by the SecureX import for the missing atomic {}.", plan.uid),
        "inputs": decls,
        "steps": [{"id": "not_imported", "type": "fail", "message": resolve::escape_text(&message)}],
    });
    if !plan.outputs.is_empty() {
        doc["outputs"] = json!(
            plan.outputs
                .iter()
                .map(|o| json!({"name": o, "type": "string"}))
                .collect::<Vec<_>>()
        );
    }
    doc
}

/// `targets.yaml`: every target referenced and every web-service target in the exports, with
/// the old base URL as a hint, keeping what a given targets file says.
fn target_entries(
    corpus: &Corpus,
    file: Option<&TargetsFile>,
    used: BTreeMap<String, (String, BTreeSet<String>)>,
) -> Vec<TargetEntry> {
    let mut out: BTreeMap<String, TargetEntry> = BTreeMap::new();
    for (lower, (name, by)) in used {
        out.insert(
            lower,
            TargetEntry {
                name,
                base_url: String::new(),
                auth_secret: String::new(),
                note: String::new(),
                used_by: by.into_iter().collect(),
            },
        );
    }
    for t in corpus.targets.values() {
        let name = str_of(t, &["name"]).unwrap_or_default();
        let ty = str_of(t, &["type"]).unwrap_or_default();
        if name.is_empty() || ty != "web-service.endpoint" {
            continue;
        }
        out.entry(name.to_lowercase())
            .or_insert_with(|| TargetEntry {
                name: name.to_string(),
                base_url: String::new(),
                auth_secret: String::new(),
                note: String::new(),
                used_by: Vec::new(),
            });
    }
    for (lower, e) in out.iter_mut() {
        let old = corpus
            .targets
            .values()
            .find(|t| str_of(t, &["name"]).is_some_and(|n| n.to_lowercase() == *lower));
        if let Some(t) = old {
            let p = &t["properties"];
            let host = str_of(p, &["host"]).unwrap_or_default();
            if !host.is_empty() {
                let proto = str_of(p, &["protocol"]).unwrap_or("https");
                let path = str_of(p, &["path"]).unwrap_or_default();
                e.note = format!(
                    "SecureX {} target; its old base URL was {proto}://{host}{path}",
                    str_of(t, &["type"]).unwrap_or("web-service.endpoint")
                );
            }
        }
        if let Some(f) =
            file.and_then(|f| f.targets.iter().find(|t| t.name.to_lowercase() == *lower))
        {
            e.base_url = f.base_url.clone();
            e.auth_secret = f.auth_secret.clone();
        }
    }
    out.into_values().collect()
}

impl Import {
    /// The exit status of the import (SPEC §12): 0 all clean, 2 imported with gaps, 1 on an
    /// error (unreadable input, or the report missing an activity).
    pub fn exit_code(&self) -> u8 {
        let r = &self.report;
        if r.exports.iter().any(|e| e.status == ExportStatus::Error) || !r.self_check.complete() {
            1
        } else if r.exports.iter().any(|e| e.status == ExportStatus::Gaps) {
            2
        } else {
            0
        }
    }
}
