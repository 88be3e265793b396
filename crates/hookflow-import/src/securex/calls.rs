//! Translator of calls of atomics and sub-workflows: `run_workflow` with the callee's inputs by
//! their new names and, for an atomic whose target the caller chooses, the target's name. A
//! callee that is not in the input gets a stub workflow (planned in `mod.rs`) that fails
//! saying what to provide.

use serde_json::{Map, Value, json};

use super::context::{Ctx, Ns, PlanKind};
use super::export::str_of;
use super::refs::has_refs;
use super::targets::{TargetName, target_value};

pub fn call(ctx: &mut Ctx, act: &Value) -> Vec<Value> {
    let p = &act["properties"];
    let info = ctx.info(act);
    let Some(plan) = info
        .callee
        .as_deref()
        .and_then(|c| ctx.shared.plans.get(c))
        .cloned()
    else {
        return vec![ctx.fail_step(act, "call", "the call names no workflow")];
    };
    let mut inputs = Map::new();
    if let Some(m) = p["input"].as_object() {
        for (k, v) in m {
            let Some(var) = plan.vars.get(k).filter(|v| v.ns == Ns::Inputs).cloned() else {
                ctx.gap(
                    "call_input",
                    format!("input {k} is not an input of \"{}\"", plan.name),
                );
                continue;
            };
            let value = if plan.kind == PlanKind::Stub {
                ctx.template(v, true)
            } else if matches!(v, Value::String(s) if has_refs(s)) {
                ctx.template_for(v, var.ty)
            } else {
                let lit = super::workflow::coerce(var.ty, v);
                if lit.is_null() {
                    continue;
                }
                ctx.template(&lit, false)
            };
            inputs.insert(var.name.clone(), value);
        }
    }
    if let Some(input) = &plan.target_input {
        let target = ctx.activity_target(act);
        if let TargetName::Literal(n) = &target {
            ctx.note_target(n);
        }
        if target != TargetName::None {
            inputs.insert(input.clone(), target_value(&target));
        }
    }
    if plan.kind == PlanKind::Stub {
        let wname = str_of(p, &["workflow_name"]).unwrap_or(&plan.name);
        ctx.gap(
            "missing_atomic",
            format!(
                "calls \"{wname}\", which is not in the input: a stub workflow \"{}\" that fails was generated; import the atomic's export too, or write that workflow",
                plan.name
            ),
        );
    }
    ctx.calls.push(plan.name.clone());
    let mut s = ctx.step(act, &info.step, "run_workflow");
    s.insert("workflow".into(), json!(plan.name));
    if !inputs.is_empty() {
        s.insert("inputs".into(), Value::Object(inputs));
    }
    vec![Value::Object(s)]
}
