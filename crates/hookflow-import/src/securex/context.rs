//! What the translation of one workflow knows: the plans of every workflow (names of its
//! variables, its target), the activities of this workflow with the step ids they become, the
//! loops around the activity being translated, and the gaps found so far.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};

use super::export::{Corpus, str_of};
use super::mapping::Kind;
use super::names::{Names, ident};
use super::targets::TargetName;
use crate::TargetsFile;
use crate::report::Gap;

/// Which namespace a variable lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ns {
    Inputs,
    Vars,
}

/// A variable of the old workflow as it is in the new one.
#[derive(Debug, Clone)]
pub struct VarInfo {
    pub ns: Ns,
    pub name: String,
    /// hookflow type name.
    pub ty: &'static str,
}

impl VarInfo {
    pub fn code(&self) -> String {
        match self.ns {
            Ns::Inputs => format!("inputs.{}", self.name),
            Ns::Vars => format!("vars.{}", self.name),
        }
    }

    pub fn kind(&self) -> Kind {
        match self.ty {
            "string" | "secure_string" | "datetime" => Kind::String,
            "boolean" => Kind::Bool,
            "integer" | "number" => Kind::Number,
            _ => Kind::Any,
        }
    }
}

/// What kind of document a plan becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanKind {
    Workflow,
    Atomic,
    Subworkflow,
    /// A called atomic that is not in the input.
    Stub,
}

impl PlanKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PlanKind::Workflow => "workflow",
            PlanKind::Atomic => "atomic",
            PlanKind::Subworkflow => "subworkflow",
            PlanKind::Stub => "stub",
        }
    }
}

/// A workflow's shape, decided before any workflow is translated, so that callers know the
/// names of their callees' inputs and outputs.
#[derive(Debug, Clone)]
pub struct Plan {
    pub uid: String,
    pub name: String,
    pub kind: PlanKind,
    /// Old variable unique name → new variable.
    pub vars: HashMap<String, VarInfo>,
    /// Declarations in document order: inputs, variables, outputs.
    pub inputs: Vec<Value>,
    pub variables: Vec<Value>,
    pub outputs: Vec<String>,
    /// The input that carries a caller-supplied target, if the workflow takes one.
    pub target_input: Option<String>,
    /// Variable names in use (for hidden variables added while translating).
    pub var_names: Names,
    /// Export index (for the report).
    pub export: usize,
    /// Gaps of the workflow itself (variables, triggers), not of an activity.
    pub gaps: Vec<Gap>,
}

/// Where an activity went.
#[derive(Debug, Clone, Default)]
pub struct ActInfo {
    pub ty: String,
    pub title: String,
    /// The step id (the first, when it became several).
    pub step: String,
    /// Every step whose status makes the activity's `succeeded` (JSONPath: one per query).
    pub status_steps: Vec<String>,
    /// Script variables / JSONPath queries: output name → (step, output path).
    pub queries: HashMap<String, (String, String)>,
    /// The hidden variable holding a computed result.
    pub result_var: Option<String>,
    /// A for-each's item name.
    pub item: Option<String>,
    /// A call: the callee's plan uid.
    pub callee: Option<String>,
}

/// Everything shared by the translation of all workflows.
pub struct Shared<'c> {
    pub corpus: &'c Corpus,
    pub plans: BTreeMap<String, Plan>,
    pub targets_file: Option<&'c TargetsFile>,
}

/// The translation of one workflow.
pub struct Ctx<'s, 'c> {
    pub shared: &'s Shared<'c>,
    pub plan: Plan,
    pub acts: HashMap<String, ActInfo>,
    /// The step id of every activity already given one.
    pub step_ids: Names,
    /// For-each loops around the activity being translated: (activity uid, item name).
    pub loops: Vec<(String, String)>,
    /// Loops (for-each and while) around the activity being translated.
    pub loop_depth: usize,
    /// Report entries of the activities translated so far.
    pub entries: Vec<crate::report::ActivityEntry>,
    /// The export's path (for the report).
    pub export: String,
    /// Gaps of the activity being translated.
    pub gaps: Vec<Gap>,
    /// The activity being translated became a `fail` step.
    pub untranslated: bool,
    /// Workflow target.
    pub target: TargetName,
    /// Targets referenced: lower-cased name → (name as written, workflows).
    pub targets_used: BTreeMap<String, String>,
    /// Targets without a base URL that HTTP steps need.
    pub targets_missing: Vec<String>,
    /// Secrets the steps use.
    pub secrets: Vec<String>,
    /// Workflows called (names).
    pub calls: Vec<String>,
}

impl<'s, 'c> Ctx<'s, 'c> {
    pub fn corpus(&self) -> &'c Corpus {
        self.shared.corpus
    }

    pub fn gap(&mut self, category: &str, message: impl Into<String>) {
        let g = Gap::new(category, message);
        if !self.gaps.contains(&g) {
            self.gaps.push(g);
        }
    }

    /// The step id of activity `uid`.
    pub fn step_id(&self, act: &Value) -> String {
        let uid = str_of(act, &["unique_name"]).unwrap_or_default();
        self.acts
            .get(uid)
            .map(|a| a.step.clone())
            .unwrap_or_else(|| "unknown".to_string())
    }

    pub fn info(&self, act: &Value) -> ActInfo {
        let uid = str_of(act, &["unique_name"]).unwrap_or_default();
        self.acts.get(uid).cloned().unwrap_or_default()
    }

    /// A new step of `ty` for activity `act`: id, type, title, and `continue_on_error` when the
    /// activity continued on failure.
    pub fn step(&self, act: &Value, id: &str, ty: &str) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("id".into(), json!(id));
        m.insert("type".into(), json!(ty));
        if let Some(t) = title(act) {
            m.insert("title".into(), json!(t));
        }
        if act["properties"]["continue_on_failure"].as_bool() == Some(true) {
            m.insert("continue_on_error".into(), json!(true));
        }
        m
    }

    /// The activity cannot be translated: a `fail` step naming it, and a gap.
    pub fn fail_step(&mut self, act: &Value, category: &str, why: &str) -> Value {
        let ty = str_of(act, &["type"]).unwrap_or("?");
        let t = title(act).unwrap_or_default();
        let message = format!("{why} (activity \"{t}\", type {ty})");
        self.gap(category, message.clone());
        self.untranslated = true;
        let id = self.step_id(act);
        let mut m = self.step(act, &id, "fail");
        m.remove("continue_on_error");
        m.insert(
            "message".into(),
            json!(format!(
                "not imported from SecureX: {}",
                super::resolve::escape_text(&message)
            )),
        );
        Value::Object(m)
    }

    /// Declares a hidden variable (a computed result) and returns its name.
    pub fn hidden_var(&mut self, base: &str, ty: &'static str) -> String {
        let name = self.plan.var_names.take(base);
        self.plan.variables.push(json!({"name": name, "type": ty}));
        name
    }

    /// A variable of the workflow by its old unique name.
    pub fn var(&self, uid: &str) -> Option<&VarInfo> {
        self.plan.vars.get(uid)
    }

    pub fn note_target(&mut self, name: &str) {
        self.targets_used
            .entry(name.to_lowercase())
            .or_insert_with(|| name.to_string());
    }
}

/// An activity's title (or display name).
pub fn title(act: &Value) -> Option<String> {
    str_of(act, &["title"])
        .filter(|t| !t.trim().is_empty())
        .or_else(|| str_of(act, &["properties", "display_name"]))
        .or_else(|| str_of(act, &["name"]))
        .map(str::to_string)
}

/// The children of an activity: `actions` and `blocks`.
pub fn children(act: &Value) -> impl Iterator<Item = &Value> {
    act["actions"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(act["blocks"].as_array().into_iter().flatten())
}

/// Assigns step ids to every activity of a workflow (in document order, before translation,
/// so references to later activities resolve), with what each output becomes.
pub fn index_activities(
    acts: &[Value],
    ctx_ids: &mut Names,
    out: &mut HashMap<String, ActInfo>,
    depth: usize,
) {
    for act in acts {
        let uid = str_of(act, &["unique_name"])
            .unwrap_or_default()
            .to_string();
        let ty = str_of(act, &["type"]).unwrap_or_default().to_string();
        let t = title(act).unwrap_or_default();
        let step = ctx_ids.take(&ident(&t, "step"));
        let mut info = ActInfo {
            ty: ty.clone(),
            title: t,
            step: step.clone(),
            status_steps: vec![step.clone()],
            ..ActInfo::default()
        };
        let mut inner_depth = depth;
        match ty.as_str() {
            "python3.script" => {
                for q in act["properties"]["script_queries"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    let var = str_of(q, &["script_query"]).unwrap_or_default();
                    let name = str_of(q, &["script_query_name"]).unwrap_or(var);
                    info.queries.insert(
                        name.to_string(),
                        (step.clone(), format!(".variables{}", seg(var))),
                    );
                }
            }
            "core.xpathquery" => {
                let queries = act["properties"]["xpath_queries"].as_array();
                for (i, q) in queries.into_iter().flatten().enumerate() {
                    let name = str_of(q, &["xpath_query_name"]).unwrap_or_default();
                    let var = super::xml::query_var(i, name);
                    info.queries.insert(
                        name.to_string(),
                        (step.clone(), format!(".variables{}", seg(&var))),
                    );
                }
            }
            "corejava.jsonpathquery" | "core.jsonpathquery" => {
                let queries: Vec<&Value> = act["properties"]["jsonpath_queries"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .collect();
                info.status_steps.clear();
                for (i, q) in queries.iter().enumerate() {
                    let name = str_of(q, &["jsonpath_query_name"]).unwrap_or_default();
                    let qid = if i == 0 {
                        step.clone()
                    } else {
                        ctx_ids.take(&format!("{step}_{}", ident(name, "query")))
                    };
                    let query = str_of(q, &["jsonpath_query"]).unwrap_or_default();
                    let field = if super::leaf::is_singular(query) {
                        "value"
                    } else {
                        "values"
                    };
                    info.queries
                        .insert(name.to_string(), (qid.clone(), format!(".{field}")));
                    info.status_steps.push(qid);
                }
                if info.status_steps.is_empty() {
                    info.status_steps.push(step.clone());
                }
            }
            "logic.for_each" => {
                info.item = Some(if depth == 0 {
                    "item".to_string()
                } else {
                    format!("item_{}", depth + 1)
                });
                inner_depth = depth + 1;
            }
            "workflow.atomic_workflow" | "workflow.sub_workflow" => {
                info.callee = str_of(act, &["properties", "workflow_id"]).map(str::to_string);
            }
            _ => {}
        }
        out.insert(uid, info);
        let kids: Vec<Value> = children(act).cloned().collect();
        index_activities(&kids, ctx_ids, out, inner_depth);
    }
}

/// `name` as an expression path segment: `.name` when it is an identifier, else `["name"]`.
pub fn seg(name: &str) -> String {
    if hookflow_core::workflow::is_identifier(name) {
        format!(".{name}")
    } else {
        format!(
            "[{}]",
            serde_json::to_string(name).expect("a string serializes")
        )
    }
}
