//! Expressions and templates, compiled by the sandbox, and the names they may read at a given
//! place in the workflow: trigger fields, declared inputs and variables, existing secrets, `run`,
//! loop variables in scope, and the outputs of steps that have run before — earlier in document
//! order, not enclosing this step, not in a sibling branch of a `parallel` or `condition`.

use serde_json::Value;

use super::model::{StepKind, VarDecl, VarType};
use super::path::{field, index};
use super::validate::{LoopFrame, RESERVED_NAMES, Site, TRIGGER_FIELDS, Validator, list_or};
use crate::expr::{TypedRead, ValueType, is_template};

/// The type a value of a declared type has (`null` aside).
pub(super) fn value_type(t: VarType) -> ValueType {
    match t {
        VarType::String | VarType::SecureString => ValueType::String,
        VarType::Integer => ValueType::Integer,
        VarType::Number => ValueType::Number,
        VarType::Boolean => ValueType::Boolean,
        VarType::Datetime => ValueType::Datetime,
        VarType::Object => ValueType::Object,
        VarType::Array => ValueType::Array,
    }
}

/// Whether a value of type `got` may be stored in a declared `target` (where it cannot, running
/// would fail).
pub(super) fn may_fit(target: VarType, got: ValueType) -> bool {
    match target {
        VarType::String | VarType::SecureString => {
            matches!(got, ValueType::String | ValueType::Datetime)
        }
        VarType::Integer | VarType::Number => matches!(got, ValueType::Integer | ValueType::Number),
        VarType::Boolean => got == ValueType::Boolean,
        VarType::Datetime => matches!(got, ValueType::Datetime | ValueType::String),
        VarType::Object => got == ValueType::Object,
        VarType::Array => got == ValueType::Array,
    }
}

impl Validator<'_> {
    pub(super) fn expression(&mut self, src: &str, path: &str, site: Site) {
        if src.trim().is_empty() {
            self.err(
                path,
                "an expression is required (e.g. trigger.body.severity == \"high\")",
            );
            return;
        }
        let trimmed = src.trim();
        if let Some(inner) = trimmed
            .strip_prefix("{{")
            .and_then(|t| t.strip_suffix("}}"))
            .filter(|t| !t.contains("{{") && !t.contains("}}"))
        {
            self.err(
                path,
                format!(
                    "this field is a bare expression: write it without {{{{ }}}} (as: {})",
                    inner.trim()
                ),
            );
            return;
        }
        match self.sandbox.inspect_expression(src) {
            Ok(i) => {
                self.reads(&i.paths, path, site);
                self.typed_reads(&i.typed_reads, path);
            }
            Err(e) => {
                let hint = if src.contains("{{") {
                    " (this field is a bare expression: write it without {{ }})"
                } else {
                    ""
                };
                self.err(path, format!("invalid expression: {}{hint}", e.message));
            }
        }
    }

    pub(super) fn template(&mut self, src: &str, path: &str, site: Site) {
        match self.sandbox.inspect_template(src) {
            Ok(i) => {
                self.reads(&i.paths, path, site);
                self.typed_reads(&i.typed_reads, path);
            }
            Err(e) => self.err(path, format!("invalid template: {}", e.message)),
        }
    }

    /// Variables given to hookflow's functions where their declared type cannot be what the
    /// function needs (`vars.flag | strftime(...)` with `flag` a boolean).
    fn typed_reads(&mut self, reads: &[TypedRead], path: &str) {
        for r in reads {
            if let Some(t) = self.declared_type(&r.path)
                && !r.expects.admits(value_type(t))
            {
                self.err(
                    path,
                    format!(
                        "{} must be {}, but {} is declared {t}",
                        r.what,
                        r.expects.describe(),
                        r.path
                    ),
                );
            }
        }
    }

    /// The declared type of a variable path, when it names a declared input or variable (or a
    /// date-time the engine provides).
    pub(super) fn declared_type(&self, path: &str) -> Option<VarType> {
        let mut segs = path.split('.');
        let (root, name) = (segs.next()?, segs.next()?);
        if segs.next().is_some() {
            return None;
        }
        let decls = match root {
            "inputs" => &self.wf.inputs,
            "vars" => &self.wf.variables,
            "run" => {
                return match name {
                    "started_at" => Some(VarType::Datetime),
                    "workflow_version" => Some(VarType::Integer),
                    "id" | "workflow" | "started_by" => Some(VarType::String),
                    _ => None,
                };
            }
            "trigger" => {
                return matches!(name, "received_at" | "scheduled_at").then_some(VarType::Datetime);
            }
            _ => return None,
        };
        decls.iter().find(|d| d.name == name).map(|d| d.r#type)
    }

    /// Every template string inside `v`, each checked at its own path.
    pub(super) fn value(&mut self, v: &Value, path: &str, site: Site) {
        match v {
            Value::String(s) if is_template(s) => self.template(s, path, site),
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    self.value(x, &index(path, i), site);
                }
            }
            Value::Object(m) => {
                for (k, x) in m {
                    self.value(x, &field(path, k), site);
                }
            }
            _ => {}
        }
    }

    fn reads(&mut self, reads: &[String], path: &str, site: Site) {
        for r in reads {
            if let Err(message) = self.read(r, site) {
                self.err(path, message);
            }
        }
    }

    /// Whether the variable path `read` (e.g. `steps.post.output.body.id`) exists at `site`.
    pub(super) fn read(&self, read: &str, site: Site) -> Result<(), String> {
        let segs: Vec<&str> = read.split('.').collect();
        let root = segs[0];
        let second = segs.get(1).copied();
        let upto2 = || segs[..2.min(segs.len())].join(".");

        // A for_each item name in scope (innermost wins).
        if site
            .loops
            .iter()
            .any(|f| matches!(f, LoopFrame::ForEach { as_name } if as_name == root))
        {
            return Ok(());
        }
        match root {
            "trigger" => {
                let Some(f) = second else { return Ok(()) };
                if !TRIGGER_FIELDS.contains(&f) {
                    return Err(format!(
                        "\"{}\" is not a trigger field (known: {})",
                        upto2(),
                        TRIGGER_FIELDS.join(", ")
                    ));
                }
                if matches!(f, "webhook" | "event")
                    && let Some(g) = segs.get(2)
                    && !matches!(*g, "id" | "name")
                {
                    return Err(format!(
                        "\"trigger.{f}.{g}\" is not available: trigger.{f} has id and name"
                    ));
                }
                Ok(())
            }
            "inputs" => self.declared(second, &self.wf.inputs, "inputs", "input"),
            "vars" => self.declared(second, &self.wf.variables, "vars", "variable"),
            "secrets" => match second {
                None => Err(
                    "\"secrets\" must be followed by a secret's name (e.g. secrets.chat_token)"
                        .to_string(),
                ),
                Some(name) if self.catalog.secret_exists(name) => Ok(()),
                Some(name) => Err(format!("secret \"{name}\" does not exist")),
            },
            "run" => match second {
                None
                | Some("id" | "workflow" | "started_at" | "started_by" | "workflow_version") => {
                    Ok(())
                }
                Some(other) => Err(format!(
                    "\"run.{other}\" is not available: run has id, workflow, started_at, \
                     started_by and workflow_version"
                )),
            },
            "loop" => {
                if site.loops.is_empty() {
                    return Err(format!(
                        "\"{}\" is only available inside the steps of a for_each or while",
                        upto2()
                    ));
                }
                match second {
                    None | Some("index") => Ok(()),
                    Some(other) => Err(format!(
                        "\"loop.{other}\" is not available: loop has only index"
                    )),
                }
            }
            "steps" => {
                let Some(id) = second else { return Ok(()) };
                self.step_ref(id, site)?;
                match segs.get(2) {
                    None | Some(&("output" | "status" | "error")) => Ok(()),
                    Some(other) => Err(format!(
                        "\"steps.{id}.{other}\" is not available: a step has output, status and error"
                    )),
                }
            }
            _ => {
                if let Some(owner) = self.item_names.get(root) {
                    return Err(format!(
                        "\"{root}\" is only available inside the steps of for_each \"{owner}\" (as: {root})"
                    ));
                }
                let mut known: Vec<String> = RESERVED_NAMES
                    .iter()
                    .filter(|n| **n != "loop" || !site.loops.is_empty())
                    .map(|n| n.to_string())
                    .collect();
                for f in site.loops {
                    if let LoopFrame::ForEach { as_name } = f
                        && !known.contains(as_name)
                    {
                        known.push(as_name.clone());
                    }
                }
                Err(format!(
                    "unknown name \"{root}\" (expressions may use: {})",
                    known.join(", ")
                ))
            }
        }
    }

    fn declared(
        &self,
        name: Option<&str>,
        decls: &[VarDecl],
        root: &str,
        what: &str,
    ) -> Result<(), String> {
        let Some(name) = name else { return Ok(()) };
        if decls.iter().any(|d| d.name == name) {
            return Ok(());
        }
        let names: Vec<&str> = decls.iter().map(|d| d.name.as_str()).collect();
        if names.is_empty() {
            Err(format!(
                "\"{root}.{name}\" is not a declared {what} (no {what}s are declared)"
            ))
        } else {
            Err(format!(
                "\"{root}.{name}\" is not a declared {what} (declared: {})",
                list_or(&names, "")
            ))
        }
    }

    fn contains(&self, outer: usize, inner: usize) -> bool {
        let o = &self.infos[outer];
        o.ord < inner && inner <= o.end
    }

    /// Why step `target` cannot be read at `site`, if it cannot.
    fn visibility(&self, target: usize, site: Site) -> Result<(), String> {
        let t = &self.infos[target];
        let here = &self.infos[site.ord];
        let id = &t.step.id;
        if target == site.ord {
            return Err(format!(
                "step \"{id}\" cannot refer to its own output; it is available to the steps after it"
            ));
        }
        if site.sees_own_body && self.contains(site.ord, target) {
            return Ok(());
        }
        if target > site.ord {
            if self.contains(site.ord, target) {
                return Err(format!(
                    "step \"{id}\" runs inside this step, after this field is evaluated"
                ));
            }
            return Err(format!(
                "step \"{id}\" comes after this one: expressions may refer to steps that come before this one"
            ));
        }
        if self.contains(target, site.ord) {
            return Err(format!(
                "step \"{id}\" contains this step; its output is available only after it finishes"
            ));
        }
        for &(container, branch) in &t.branches {
            if let Some(&(_, other)) = here.branches.iter().find(|(c, _)| *c == container)
                && other != branch
            {
                let c = self.infos[container].step;
                return Err(match c.kind {
                    StepKind::Parallel { .. } => format!(
                        "step \"{id}\" is in another branch of parallel step \"{}\"; parallel branches cannot read each other's outputs",
                        c.id
                    ),
                    _ => format!(
                        "step \"{id}\" is in another branch of condition \"{}\"; only one branch runs",
                        c.id
                    ),
                });
            }
        }
        Ok(())
    }

    fn step_ref(&self, id: &str, site: Site) -> Result<(), String> {
        // Listed only in errors; computed once per place.
        let known = || {
            let key = (site.ord, site.sees_own_body);
            if let Some(list) = self.known_steps.borrow().get(&key) {
                return list.clone();
            }
            let last = self.infos[site.ord].end;
            let ids: Vec<&str> = (0..=last)
                .filter(|&o| self.infos[o].first.is_none() && self.visibility(o, site).is_ok())
                .map(|o| self.infos[o].step.id.as_str())
                .collect();
            let list = list_or(&ids, "none yet");
            self.known_steps.borrow_mut().insert(key, list.clone());
            list
        };
        match self.by_id.get(id) {
            None => Err(format!(
                "unknown step \"{id}\": expressions may refer to steps that come before this one (known: {})",
                known()
            )),
            Some(&target) => self.visibility(target, site).map_err(|e| {
                if e.contains("comes after") {
                    format!("{e} (known: {})", known())
                } else {
                    e
                }
            }),
        }
    }
}
