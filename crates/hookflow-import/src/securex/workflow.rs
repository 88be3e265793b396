//! One workflow: its plan (variables with their new names and types, its target input), and
//! its translation — every activity, at any depth, through the table of `mapping.rs`, each
//! recorded in the report.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};

use super::context::{Ctx, Ns, Plan, PlanKind, Shared, VarInfo, children, index_activities, title};
use super::export::{SxWorkflow, str_of};
use super::mapping::{self, Kind, OUTPUT_FIELDS, Out};
use super::names::{Names, ident};
use super::targets::TargetName;
use crate::report::{ActivityEntry, ActivityStatus, Gap};

/// A literal as a value of hookflow type `ty`, as the old product would have taken it
/// (`"5"` for an integer is 5, `"true"` for a boolean is true); `null` when it cannot be.
pub fn coerce(ty: &str, v: &Value) -> Value {
    let s = v.as_str().map(str::trim);
    match ty {
        "string" | "secure_string" => match v {
            Value::Null => Value::Null,
            Value::String(_) => v.clone(),
            Value::Bool(b) => json!(b.to_string()),
            Value::Number(n) => json!(n.to_string()),
            other => json!(other.to_string()),
        },
        "integer" => match v {
            Value::Number(n) if n.is_i64() || n.is_u64() => v.clone(),
            Value::Number(n) => n
                .as_f64()
                .filter(|f| f.fract() == 0.0)
                .map(|f| json!(f as i64))
                .unwrap_or(Value::Null),
            _ => s
                .and_then(|s| s.parse::<i64>().ok())
                .map(|i| json!(i))
                .unwrap_or(Value::Null),
        },
        "number" => match v {
            Value::Number(_) => v.clone(),
            _ => s
                .and_then(|s| s.parse::<f64>().ok())
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .unwrap_or(Value::Null),
        },
        "boolean" => match v {
            Value::Bool(_) => v.clone(),
            _ => match s.map(str::to_ascii_lowercase).as_deref() {
                Some("true") => json!(true),
                Some("false") => json!(false),
                _ => Value::Null,
            },
        },
        "datetime" => match s {
            Some(s) if hookflow_core::workflow::is_rfc3339(s) => json!(s),
            _ => Value::Null,
        },
        "object" | "array" => match v {
            Value::String(t) => serde_json::from_str::<Value>(t)
                .ok()
                .filter(|x| {
                    if ty == "object" {
                        x.is_object()
                    } else {
                        x.is_array()
                    }
                })
                .unwrap_or(Value::Null),
            Value::Object(_) if ty == "object" => v.clone(),
            Value::Array(_) if ty == "array" => v.clone(),
            _ => Value::Null,
        },
        _ => Value::Null,
    }
}

/// The plan of a workflow found in the exports.
pub fn plan(wf: &SxWorkflow, name: String, kind: PlanKind) -> Plan {
    let mut plan = Plan {
        uid: wf.uid.clone(),
        name,
        kind,
        vars: HashMap::new(),
        inputs: Vec::new(),
        variables: Vec::new(),
        outputs: Vec::new(),
        target_input: None,
        var_names: Names::default(),
        export: wf.export,
        gaps: Vec::new(),
    };
    let mut input_names = Names::default();
    for v in wf.json["variables"].as_array().into_iter().flatten() {
        let p = &v["properties"];
        let uid = str_of(v, &["unique_name"]).unwrap_or_default().to_string();
        let label = str_of(p, &["name"]).unwrap_or(&uid).to_string();
        let old_ty = str_of(p, &["type"])
            .or_else(|| str_of(v, &["schema_id"]))
            .unwrap_or("datatype.string");
        let ty = match mapping::var_type(old_ty) {
            Ok(t) => t,
            Err(fallback) => {
                let category = if old_ty == "datatype.table" {
                    "table"
                } else {
                    "variable_type"
                };
                plan.gaps.push(Gap::new(
                    category,
                    format!("variable \"{label}\" has type {old_ty}, imported as {fallback}"),
                ));
                fallback
            }
        };
        let scope = str_of(p, &["scope"]).unwrap_or("local");
        let default = coerce(ty, &p["value"]);
        let base = ident(&label, "var");
        if scope == "input" {
            let name = input_names.take(&base);
            let mut decl = json!({"name": name, "type": ty});
            if default.is_null() {
                decl["required"] = json!(false);
            } else {
                decl["default"] = default;
            }
            plan.inputs.push(decl);
            plan.vars.insert(
                uid,
                VarInfo {
                    ns: Ns::Inputs,
                    name,
                    ty,
                },
            );
        } else {
            let name = plan.var_names.take(&base);
            let mut decl = json!({"name": name, "type": ty});
            if !default.is_null() {
                decl["default"] = default;
            }
            plan.variables.push(decl);
            if scope == "output" {
                plan.outputs.push(name.clone());
            }
            plan.vars.insert(
                uid,
                VarInfo {
                    ns: Ns::Vars,
                    name,
                    ty,
                },
            );
        }
    }
    if wf.json["properties"]["target"]["specify_on_workflow_start"].as_bool() == Some(true) {
        let name = input_names.take("target");
        plan.inputs
            .push(json!({"name": name, "type": "string", "default": ""}));
        plan.target_input = Some(name);
    }
    plan
}

/// What translating one workflow gave.
pub struct Translated {
    pub document: Value,
    pub entries: Vec<ActivityEntry>,
    pub gaps: Vec<Gap>,
    pub calls: Vec<String>,
    pub secrets: Vec<String>,
    pub targets_used: BTreeMap<String, String>,
    pub targets_missing: Vec<String>,
}

/// Translates a workflow whose plan is in `shared`.
pub fn translate(shared: &Shared, wf: &SxWorkflow, triggers: Vec<Value>) -> Translated {
    let plan = shared.plans[&wf.uid].clone();
    let export = shared.corpus.exports[wf.export].path.clone();
    let actions = wf.json["actions"].as_array().cloned().unwrap_or_default();
    let mut ctx = Ctx {
        shared,
        plan,
        acts: HashMap::new(),
        step_ids: Names::default(),
        loops: Vec::new(),
        loop_depth: 0,
        gaps: Vec::new(),
        untranslated: false,
        target: TargetName::None,
        targets_used: BTreeMap::new(),
        targets_missing: Vec::new(),
        secrets: Vec::new(),
        calls: Vec::new(),
        entries: Vec::new(),
        export,
    };
    index_activities(&actions, &mut ctx.step_ids, &mut ctx.acts, 0);
    // result variables of the activities that compute one
    let mut uids: Vec<String> = ctx.acts.keys().cloned().collect();
    uids.sort();
    for uid in uids {
        let info = ctx.acts[&uid].clone();
        let kind = OUTPUT_FIELDS.iter().find_map(|(t, _, o)| match o {
            Out::Result(k) if *t == info.ty => Some(*k),
            _ => None,
        });
        if let Some(k) = kind {
            let ty = if k == Kind::Number {
                "number"
            } else {
                "string"
            };
            let name = ctx.hidden_var(&format!("{}_result", info.step), ty);
            ctx.acts.get_mut(&uid).expect("indexed").result_var = Some(name);
        }
    }
    // the workflow's target (its criteria may record gaps of the workflow itself)
    ctx.target = ctx.workflow_target(&wf.json);
    let mut wf_gaps = std::mem::take(&mut ctx.gaps);
    let mut steps = ctx.translate_list(&actions);
    if !ctx.plan.outputs.is_empty()
        && !steps
            .last()
            .is_some_and(|s| matches!(s["type"].as_str(), Some("complete" | "fail")))
    {
        let id = ctx.step_ids.take("finish");
        steps.push(json!({
            "id": id,
            "type": "complete",
            "title": "Set the workflow's outputs",
            "outputs": ctx.outputs_from_vars(),
        }));
    }
    wf_gaps.extend(ctx.plan.gaps.clone());
    let mut doc = Map::new();
    doc.insert("name".into(), json!(ctx.plan.name));
    let desc = str_of(&wf.json, &["properties", "description"])
        .unwrap_or_default()
        .trim();
    let origin = format!(
        "Imported from SecureX {} {}.",
        ctx.plan.kind.as_str(),
        wf.uid
    );
    doc.insert(
        "description".into(),
        json!(if desc.is_empty() {
            origin
        } else {
            format!("{desc}\n\n{origin}")
        }),
    );
    if !ctx.plan.inputs.is_empty() {
        doc.insert("inputs".into(), json!(ctx.plan.inputs));
    }
    if !ctx.plan.variables.is_empty() {
        doc.insert("variables".into(), json!(ctx.plan.variables));
    }
    if !ctx.plan.outputs.is_empty() {
        let outs: Vec<Value> = ctx
            .plan
            .outputs
            .iter()
            .map(|o| {
                let ty = ctx
                    .plan
                    .vars
                    .values()
                    .find(|v| v.ns == Ns::Vars && v.name == *o)
                    .map(|v| v.ty)
                    .unwrap_or("string");
                json!({"name": o, "type": ty})
            })
            .collect();
        doc.insert("outputs".into(), json!(outs));
    }
    if !triggers.is_empty() {
        doc.insert("triggers".into(), json!(triggers));
    }
    doc.insert("steps".into(), json!(steps));
    Translated {
        document: Value::Object(doc),
        entries: ctx.entries,
        gaps: wf_gaps,
        calls: ctx.calls,
        secrets: ctx.secrets,
        targets_used: ctx.targets_used,
        targets_missing: ctx.targets_missing,
    }
}

impl Ctx<'_, '_> {
    /// `{output: "{{ vars.output }}"}` for every output variable.
    pub fn outputs_from_vars(&self) -> Value {
        let m: Map<String, Value> = self
            .plan
            .outputs
            .iter()
            .map(|o| (o.clone(), json!(format!("{{{{ vars.{o} }}}}"))))
            .collect();
        Value::Object(m)
    }

    pub fn translate_list(&mut self, acts: &[Value]) -> Vec<Value> {
        let mut out = Vec::new();
        for a in acts {
            out.extend(self.translate_activity(a));
        }
        out
    }

    fn translate_activity(&mut self, act: &Value) -> Vec<Value> {
        let ty = str_of(act, &["type"]).unwrap_or_default().to_string();
        if act["properties"]["skip_execution"].as_bool() == Some(true) {
            self.record_all(act, ActivityStatus::Skipped, None);
            return Vec::new();
        }
        let mut inner_done = true;
        let steps = self.with_entry(act, |ctx| {
            let steps = if let Some(f) = mapping::translator(&ty) {
                f(ctx, act)
            } else if let Some((category, why)) = mapping::not_translated(&ty) {
                inner_done = false;
                vec![ctx.fail_step(act, category, why)]
            } else {
                inner_done = false;
                let why = format!("activity type {ty} is not known to the importer");
                vec![ctx.fail_step(act, "unsupported_activity", &why)]
            };
            let ids = steps
                .iter()
                .filter_map(|s| s["id"].as_str().map(str::to_string))
                .collect();
            (steps, ids)
        });
        if !inner_done {
            let gap = Gap::new(
                "unsupported_activity",
                "inside an activity that was not translated",
            );
            for c in children(act) {
                self.record_all(c, ActivityStatus::NotTranslated, Some(gap.clone()));
            }
        }
        steps
    }

    /// Records `act` and everything inside it with one status (skipped, or inside an
    /// activity that was not translated).
    fn record_all(&mut self, act: &Value, status: ActivityStatus, gap: Option<Gap>) {
        let mut e = self.entry(act);
        e.status = status;
        e.gaps = gap.iter().cloned().collect();
        self.entries.push(e);
        for c in children(act) {
            self.record_all(c, status, gap.clone());
        }
    }

    fn entry(&self, act: &Value) -> ActivityEntry {
        ActivityEntry {
            export: self.export.clone(),
            workflow: self.plan.name.clone(),
            activity_id: str_of(act, &["unique_name"])
                .unwrap_or_default()
                .to_string(),
            r#type: str_of(act, &["type"]).unwrap_or_default().to_string(),
            title: title(act).unwrap_or_default(),
            status: ActivityStatus::Translated,
            steps: Vec::new(),
            gaps: Vec::new(),
        }
    }

    /// Runs `f` as the translation of `act`: its gaps and steps become the activity's report
    /// entry (placed before the entries of the activities inside it).
    pub fn with_entry<T>(
        &mut self,
        act: &Value,
        f: impl FnOnce(&mut Self) -> (T, Vec<String>),
    ) -> T {
        let idx = self.entries.len();
        let e = self.entry(act);
        self.entries.push(e);
        let saved_gaps = std::mem::take(&mut self.gaps);
        let saved_untranslated = std::mem::replace(&mut self.untranslated, false);
        let (t, ids) = f(self);
        let gaps = std::mem::replace(&mut self.gaps, saved_gaps);
        let untranslated = std::mem::replace(&mut self.untranslated, saved_untranslated);
        let e = &mut self.entries[idx];
        e.status = if untranslated {
            ActivityStatus::NotTranslated
        } else if gaps.is_empty() {
            ActivityStatus::Translated
        } else {
            ActivityStatus::TranslatedWithGaps
        };
        e.steps = ids;
        e.gaps = gaps;
        t
    }
}
