//! Translators of control-flow activities: condition blocks, loops, parallel blocks, groups,
//! break/continue and "completed".

use serde_json::{Value, json};

use super::context::{Ctx, title};
use super::export::str_of;
use super::resolve::escape_text;

fn actions(act: &Value) -> Vec<Value> {
    act["actions"].as_array().cloned().unwrap_or_default()
}

fn blocks(act: &Value) -> Vec<Value> {
    act["blocks"].as_array().cloned().unwrap_or_default()
}

/// `logic.if_else`: each condition branch in order, the first true one runs.
pub fn condition(ctx: &mut Ctx, act: &Value) -> Vec<Value> {
    let id = ctx.step_id(act);
    let mut branches = Vec::new();
    for block in blocks(act) {
        let branch = ctx.with_entry(&block, |ctx| {
            let when = ctx.condition(&block["properties"]["condition"]);
            let mut steps = ctx.translate_list(&actions(&block));
            let when = match when {
                Ok(w) => w,
                Err(why) => {
                    // a branch whose condition cannot be read fails loudly when reached
                    steps = vec![ctx.fail_step(&block, "condition", &why)];
                    "true".to_string()
                }
            };
            (json!({"when": when, "steps": steps}), Vec::new())
        });
        branches.push(branch);
    }
    if branches.is_empty() {
        return Vec::new();
    }
    let mut s = ctx.step(act, &id, "condition");
    s.insert("branches".into(), json!(branches));
    s.insert("else".into(), json!([]));
    vec![Value::Object(s)]
}

/// `logic.for_each`: `source_array` → `items`; `[@]` references → the item.
pub fn for_each(ctx: &mut Ctx, act: &Value) -> Vec<Value> {
    let info = ctx.info(act);
    let item = info.item.clone().unwrap_or_else(|| "item".into());
    let items = ctx.template(&act["properties"]["source_array"], false);
    let uid = str_of(act, &["unique_name"])
        .unwrap_or_default()
        .to_string();
    ctx.loops.push((uid, item.clone()));
    ctx.loop_depth += 1;
    let steps = ctx.translate_list(&actions(act));
    ctx.loop_depth -= 1;
    ctx.loops.pop();
    let mut s = ctx.step(act, &info.step, "for_each");
    s.insert("items".into(), items);
    s.insert("as".into(), json!(item));
    s.insert("steps".into(), json!(steps));
    vec![Value::Object(s)]
}

/// `logic.while`: its one condition branch is the loop's condition and body.
pub fn while_loop(ctx: &mut Ctx, act: &Value) -> Vec<Value> {
    let id = ctx.step_id(act);
    let bs = blocks(act);
    let Some(block) = bs.first() else {
        return vec![ctx.fail_step(act, "condition", "a while loop without a condition")];
    };
    let (when, steps) = ctx.with_entry(block, |ctx| {
        let when = ctx.condition(&block["properties"]["condition"]);
        ctx.loop_depth += 1;
        let steps = ctx.translate_list(&actions(block));
        ctx.loop_depth -= 1;
        ((when, steps), Vec::new())
    });
    for extra in bs.iter().skip(1) {
        ctx.with_entry(extra, |ctx| {
            ctx.gap(
                "condition",
                "a while loop has one condition branch; this extra one is not imported",
            );
            ctx.untranslated = true;
            ((), Vec::new())
        });
    }
    let when = match when {
        Ok(w) => w,
        Err(why) => return vec![ctx.fail_step(act, "condition", &why)],
    };
    let mut s = ctx.step(act, &id, "while");
    s.insert("when".into(), json!(when));
    s.insert("steps".into(), json!(steps));
    vec![Value::Object(s)]
}

/// `logic.parallel`: each parallel branch → a branch.
pub fn parallel(ctx: &mut Ctx, act: &Value) -> Vec<Value> {
    let id = ctx.step_id(act);
    let mut branches = Vec::new();
    for block in blocks(act) {
        let steps = ctx.with_entry(&block, |ctx| {
            (ctx.translate_list(&actions(&block)), Vec::new())
        });
        branches.push(json!({"steps": steps}));
    }
    if branches.is_empty() {
        return Vec::new();
    }
    let mut s = ctx.step(act, &id, "parallel");
    s.insert("branches".into(), json!(branches));
    vec![Value::Object(s)]
}

/// `logic.group`: its activities in place; a group that continues on failure becomes a
/// one-branch `parallel` step with `continue_on_error`, so a failure inside ends the group
/// only.
pub fn group(ctx: &mut Ctx, act: &Value) -> Vec<Value> {
    let steps = ctx.translate_list(&actions(act));
    if act["properties"]["continue_on_failure"].as_bool() != Some(true) || steps.is_empty() {
        return steps;
    }
    let id = ctx.step_id(act);
    let mut s = ctx.step(act, &id, "parallel");
    s.insert("branches".into(), json!([{"steps": steps}]));
    vec![Value::Object(s)]
}

fn loop_control(ctx: &mut Ctx, act: &Value, ty: &str) -> Vec<Value> {
    if ctx.loop_depth == 0 {
        return vec![ctx.fail_step(act, "loop_control", &format!("{ty} outside a loop"))];
    }
    let id = ctx.step_id(act);
    vec![Value::Object(ctx.step(act, &id, ty))]
}

pub fn break_step(ctx: &mut Ctx, act: &Value) -> Vec<Value> {
    loop_control(ctx, act, "break")
}

pub fn continue_step(ctx: &mut Ctx, act: &Value) -> Vec<Value> {
    loop_control(ctx, act, "continue")
}

/// `logic.completed`: `succeeded` → `complete` with the output variables; anything else →
/// `fail` with the result message.
pub fn completed(ctx: &mut Ctx, act: &Value) -> Vec<Value> {
    let id = ctx.step_id(act);
    let kind = str_of(act, &["properties", "completion_type"]).unwrap_or("succeeded");
    if kind == "succeeded" {
        let mut s = ctx.step(act, &id, "complete");
        s.remove("continue_on_error");
        s.insert("outputs".into(), ctx.outputs_from_vars());
        return vec![Value::Object(s)];
    }
    let message = match act["properties"]["result_message"].as_str() {
        Some(m) if !m.trim().is_empty() => ctx.template(&json!(m), true),
        _ => json!(format!(
            "ended as {kind} by \"{}\"",
            escape_text(&title(act).unwrap_or_default())
        )),
    };
    let mut s = ctx.step(act, &id, "fail");
    s.remove("continue_on_error");
    s.insert("message".into(), message);
    vec![Value::Object(s)]
}
