//! Semantic validation of a parsed [`Workflow`]: names, references, expressions and templates,
//! literal types and limits. Structural problems (unknown fields, wrong kinds of values) are
//! already reported by the parser; this module assumes a well-formed model.
//!
//! This file holds the entry point, the limits, the index of steps (where each sits, which
//! branches and loops enclose it) and the document-level checks. The checks of one step are in
//! `step_checks.rs`, the names an expression may read in `scope.rs`, the SPEC §11 fields in
//! `checks.rs` and the call graph in `calls.rs`.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::ValidationError;
use super::literal::fits;
use super::model::{Step, StepKind, VarDecl, Workflow};
use super::path::{field, index, is_identifier};
use crate::expr::Sandbox;

/// What exists outside the document. The server answers from its database.
pub trait Catalog {
    /// An event with this name or id exists.
    fn event_exists(&self, name_or_id: &str) -> bool;
    /// A workflow with this name exists.
    fn workflow_exists(&self, name: &str) -> bool;
    /// A secret with this name exists.
    fn secret_exists(&self, name: &str) -> bool;
    /// The workflows the stored workflow `name` calls with `run_workflow` (for cycle checks).
    fn workflow_calls(&self, _name: &str) -> Vec<String> {
        Vec::new()
    }
}

/// A [`Catalog`] of the names known up front: the events (by name or id), workflows and secrets
/// that exist, and what each stored workflow calls.
#[derive(Debug, Clone, Default)]
pub struct KnownNames {
    pub events: HashSet<String>,
    pub workflows: HashSet<String>,
    pub secrets: HashSet<String>,
    pub calls: HashMap<String, Vec<String>>,
}

impl Catalog for KnownNames {
    fn event_exists(&self, name_or_id: &str) -> bool {
        self.events.contains(name_or_id)
    }
    fn workflow_exists(&self, name: &str) -> bool {
        self.workflows.contains(name)
    }
    fn secret_exists(&self, name: &str) -> bool {
        self.secrets.contains(name)
    }
    fn workflow_calls(&self, name: &str) -> Vec<String> {
        self.calls.get(name).cloned().unwrap_or_default()
    }
}

/// Longest workflow name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// `retry.max_attempts` range.
pub const MAX_ATTEMPTS: u32 = 20;
/// Longest `retry.backoff`.
pub const MAX_BACKOFF_MS: u64 = 3_600_000;
/// Longest step `timeout`.
pub const MAX_TIMEOUT_MS: u64 = 86_400_000;
/// Longest `sleep`.
pub const MAX_SLEEP_MS: u64 = 7 * 86_400_000;
/// Largest `max_iterations` of a `for_each` or `while`.
pub const MAX_ITERATIONS: u32 = 10_000;
/// Most branches of a `parallel` step.
pub const MAX_PARALLEL_BRANCHES: usize = 32;
/// HTTP methods an `http_request` may use.
pub const HTTP_METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
/// Fields of `trigger` (SPEC §3).
pub const TRIGGER_FIELDS: [&str; 13] = [
    "body",
    "raw_body",
    "headers",
    "request_body",
    "request_headers",
    "query",
    "content_type",
    "webhook",
    "event",
    "delivery_id",
    "received_at",
    "scheduled_at",
    "verification",
];
/// Names expressions use as roots; a `for_each` item may not take one of them.
pub const RESERVED_NAMES: [&str; 7] = [
    "trigger", "inputs", "vars", "steps", "secrets", "run", "loop",
];

/// Validates a parsed workflow. An empty list means valid; otherwise every error found.
pub fn validate(wf: &Workflow, catalog: &dyn Catalog, sandbox: &Sandbox) -> Vec<ValidationError> {
    let mut v = Validator::new(wf, catalog, sandbox);
    v.run();
    super::cap_errors(v.errors)
}

/// Where a step sits: its pre-order number, the pre-order number of its last descendant, and the
/// branches (of `parallel` and `condition` steps) it is inside.
pub(super) struct StepInfo<'a> {
    pub(super) step: &'a Step,
    pub(super) path: String,
    pub(super) ord: usize,
    pub(super) end: usize,
    /// `(container ord, branch number)`; a condition's `else` is branch `branches.len()`.
    pub(super) branches: Vec<(usize, usize)>,
    /// The loops around the step, outermost first.
    pub(super) loops: Vec<LoopFrame>,
    /// The ord of the innermost loop around the step.
    pub(super) loop_ord: Option<usize>,
    /// For a duplicate id: the ord of the step that has it first.
    pub(super) first: Option<usize>,
}

/// What encloses the steps being indexed.
#[derive(Clone, Default)]
struct Within {
    branches: Vec<(usize, usize)>,
    loops: Vec<LoopFrame>,
    loop_ord: Option<usize>,
}

#[derive(Clone)]
pub(super) enum LoopFrame {
    ForEach { as_name: String },
    While,
}

/// The place an expression or template is evaluated.
#[derive(Clone, Copy)]
pub(super) struct Site<'s> {
    /// The step whose field it is.
    pub(super) ord: usize,
    /// `while.when`: the loop's own body steps may be read (they have run from the second check
    /// on).
    pub(super) sees_own_body: bool,
    pub(super) loops: &'s [LoopFrame],
}

pub(super) struct Validator<'a> {
    pub(super) wf: &'a Workflow,
    pub(super) catalog: &'a dyn Catalog,
    pub(super) sandbox: &'a Sandbox,
    pub(super) errors: Vec<ValidationError>,
    pub(super) seen: HashSet<(String, String)>,
    pub(super) infos: Vec<StepInfo<'a>>,
    /// Step id → ord of its first occurrence.
    pub(super) by_id: HashMap<&'a str, usize>,
    /// `as` names of every `for_each` → the step id declaring it first.
    pub(super) item_names: HashMap<&'a str, &'a str>,
    /// The steps readable at a place (`(ord, sees_own_body)`), as listed in error messages.
    pub(super) known_steps: RefCell<HashMap<(usize, bool), String>>,
}

pub(super) fn list_or(names: &[&str], none: &str) -> String {
    if names.is_empty() {
        return none.to_string();
    }
    const SHOWN: usize = 20;
    let mut s = names
        .iter()
        .take(SHOWN)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        s.push_str(&format!(", … {} more", names.len() - SHOWN));
    }
    s
}

impl<'a> Validator<'a> {
    fn new(wf: &'a Workflow, catalog: &'a dyn Catalog, sandbox: &'a Sandbox) -> Self {
        let mut v = Validator {
            wf,
            catalog,
            sandbox,
            errors: Vec::new(),
            seen: HashSet::new(),
            infos: Vec::new(),
            by_id: HashMap::new(),
            item_names: HashMap::new(),
            known_steps: RefCell::new(HashMap::new()),
        };
        v.index_steps(&wf.steps, "steps", &Within::default());
        v
    }

    pub(super) fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        let (path, message) = (path.into(), message.into());
        if self.seen.insert((path.clone(), message.clone())) {
            self.errors.push(ValidationError { path, message });
        }
    }

    // ---- step index -------------------------------------------------------------------------

    fn index_steps(&mut self, steps: &'a [Step], path: &str, within: &Within) {
        for (i, step) in steps.iter().enumerate() {
            self.index_step(step, index(path, i), within);
        }
    }

    fn index_step(&mut self, step: &'a Step, path: String, within: &Within) {
        let ord = self.infos.len();
        let first = self.by_id.get(step.id.as_str()).copied();
        if first.is_none() {
            self.by_id.insert(step.id.as_str(), ord);
        }
        self.infos.push(StepInfo {
            step,
            path: path.clone(),
            ord,
            end: ord,
            branches: within.branches.clone(),
            loops: within.loops.clone(),
            loop_ord: within.loop_ord,
            first,
        });
        let branch = |b: usize| {
            let mut w = within.clone();
            w.branches.push((ord, b));
            w
        };
        match &step.kind {
            StepKind::Condition {
                branches,
                else_steps,
            } => {
                for (i, b) in branches.iter().enumerate() {
                    let bp = index(&field(&path, "branches"), i);
                    self.index_steps(&b.steps, &field(&bp, "steps"), &branch(i));
                }
                self.index_steps(else_steps, &field(&path, "else"), &branch(branches.len()));
            }
            StepKind::ForEach { steps, as_name, .. } => {
                self.item_names
                    .entry(as_name.as_str())
                    .or_insert(step.id.as_str());
                let mut body = within.clone();
                body.loops.push(LoopFrame::ForEach {
                    as_name: as_name.clone(),
                });
                body.loop_ord = Some(ord);
                self.index_steps(steps, &field(&path, "steps"), &body);
            }
            StepKind::While { steps, .. } => {
                let mut body = within.clone();
                body.loops.push(LoopFrame::While);
                body.loop_ord = Some(ord);
                self.index_steps(steps, &field(&path, "steps"), &body);
            }
            StepKind::Parallel { branches } => {
                for (i, b) in branches.iter().enumerate() {
                    let bp = index(&field(&path, "branches"), i);
                    self.index_steps(b, &field(&bp, "steps"), &branch(i));
                }
            }
            _ => {}
        }
        self.infos[ord].end = self.infos.len() - 1;
    }

    // ---- the document -----------------------------------------------------------------------

    fn run(&mut self) {
        let wf = self.wf;
        let name_chars = wf.name.chars().count();
        if wf.name.trim().is_empty() {
            self.err("name", "the workflow needs a name (a non-empty string)");
        } else if name_chars > MAX_NAME_CHARS {
            self.err(
                "name",
                format!(
                    "the name is {name_chars} characters long; at most {MAX_NAME_CHARS} are allowed"
                ),
            );
        } else if wf.name.chars().any(char::is_control) {
            self.err(
                "name",
                "the name must not contain control characters (such as line breaks)",
            );
        }

        self.decls(&wf.inputs, "inputs", "input");
        self.decls(&wf.variables, "variables", "variable");
        self.decls(&wf.outputs, "outputs", "output");

        let mut events: HashMap<&str, usize> = HashMap::new();
        for (i, t) in wf.triggers.iter().enumerate() {
            let p = field(&index("triggers", i), "event");
            if t.event.trim().is_empty() {
                self.err(p, "a trigger needs an event (an event's name or id)");
                continue;
            }
            if let Some(first) = events.get(t.event.as_str()) {
                self.err(
                    p,
                    format!(
                        "duplicate trigger for event \"{}\" (first at triggers[{first}])",
                        t.event
                    ),
                );
                continue;
            }
            events.insert(t.event.as_str(), i);
            if !self.catalog.event_exists(&t.event) {
                self.err(p, format!("event \"{}\" does not exist", t.event));
            }
        }

        for ord in 0..self.infos.len() {
            self.step(ord);
        }
    }

    fn decls(&mut self, decls: &[VarDecl], key: &str, what: &str) {
        let mut first: HashMap<&str, usize> = HashMap::new();
        for (i, d) in decls.iter().enumerate() {
            let p = index(key, i);
            if !is_identifier(&d.name) {
                self.err(
                    field(&p, "name"),
                    format!(
                        "invalid {what} name {}: use letters, digits and _, starting with a letter or _ (^[A-Za-z_][A-Za-z0-9_]*$)",
                        Value::String(d.name.clone())
                    ),
                );
            } else if let Some(f) = first.get(d.name.as_str()) {
                self.err(
                    field(&p, "name"),
                    format!("duplicate {what} \"{}\" (first at {key}[{f}])", d.name),
                );
            } else {
                first.insert(d.name.as_str(), i);
            }
            if let Some(default) = &d.default
                && let Err(e) = fits(d.r#type, default)
            {
                self.err(
                    field(&p, "default"),
                    format!("the default does not fit type {}: {e}", d.r#type),
                );
            }
        }
    }
}
