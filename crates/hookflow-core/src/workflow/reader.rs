//! Stage 2 of parsing: a document value read field by field into the model, every structural
//! problem reported at its path (unknown and missing fields, wrong kinds of values, unknown step
//! types, bad durations) while reading goes on.

use serde_json::{Map, Value};

use super::ValidationError;
use super::duration::parse_duration;
use super::model::{
    Branch, Retry, STEP_TYPES, Step, StepKind, Trigger, VarDecl, VarType, Workflow,
};
use super::parse::{describe, suggest};
use super::path::{field, index};

const STEP_COMMON: [&str; 6] = [
    "id",
    "title",
    "type",
    "retry",
    "continue_on_error",
    "timeout",
];

fn step_fields(ty: &str) -> &'static [&'static str] {
    match ty {
        "http_request" => &[
            "method",
            "url",
            "headers",
            "query",
            "body",
            "fail_on_status",
        ],
        "condition" => &["branches", "else"],
        "for_each" => &["items", "as", "steps", "max_iterations"],
        "while" => &["when", "steps", "max_iterations"],
        "parallel" => &["branches"],
        "set_variables" => &["values"],
        "sleep" => &["duration"],
        "json_path" => &["input", "query"],
        "regex" => &["input", "pattern"],
        "run_workflow" => &["workflow", "inputs"],
        "complete" => &["outputs"],
        "fail" => &["message"],
        "python" => &["script", "args", "variables"],
        _ => &[],
    }
}

mod python;

#[derive(Clone, Copy)]
enum DeclKind {
    Input,
    Variable,
    Output,
}

#[derive(Default)]
pub(super) struct Reader {
    pub(super) errors: Vec<ValidationError>,
    pub(super) steps: usize,
}

impl Reader {
    /// The error "expected WHAT, found" what `found` is, at `path`.
    fn expected(&mut self, path: String, what: &str, found: &Value) {
        self.err(path, format!("expected {what}, found {}", describe(found)));
    }

    pub(super) fn err(&mut self, path: String, message: impl Into<String>) {
        self.errors.push(ValidationError {
            path,
            message: message.into(),
        });
    }

    /// `v` as an object whose keys are all in `allowed`; unknown keys are reported.
    fn object<'v>(
        &mut self,
        v: &'v Value,
        path: &str,
        what: &str,
        allowed: &[&str],
    ) -> Option<&'v Map<String, Value>> {
        let Value::Object(m) = v else {
            self.expected(path.to_string(), &format!("{what} (an object)"), v);
            return None;
        };
        for key in m.keys() {
            if !allowed.contains(&key.as_str()) {
                let hint = suggest(key, allowed)
                    .map(|s| format!("did you mean \"{s}\"? "))
                    .unwrap_or_default();
                self.err(
                    field(path, key),
                    format!(
                        "unknown field \"{key}\" in {what} ({hint}expected one of: {})",
                        allowed.join(", ")
                    ),
                );
            }
        }
        Some(m)
    }

    /// An optional field; `null` counts as absent.
    fn opt<'v>(m: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
        m.get(key).filter(|v| !v.is_null())
    }

    /// A required field; reports it when absent or null.
    fn req<'v>(&mut self, m: &'v Map<String, Value>, path: &str, key: &str) -> Option<&'v Value> {
        let v = Self::opt(m, key);
        if v.is_none() {
            self.err(
                field(path, key),
                format!("missing required field \"{key}\""),
            );
        }
        v
    }

    fn string(&mut self, v: &Value, path: String) -> String {
        match v {
            Value::String(s) => s.clone(),
            other => {
                self.expected(path, "a string", other);
                String::new()
            }
        }
    }

    fn req_string(&mut self, m: &Map<String, Value>, path: &str, key: &str) -> String {
        match self.req(m, path, key) {
            Some(v) => self.string(v, field(path, key)),
            None => String::new(),
        }
    }

    fn opt_string(&mut self, m: &Map<String, Value>, path: &str, key: &str) -> Option<String> {
        Self::opt(m, key).map(|v| self.string(v, field(path, key)))
    }

    fn opt_bool(&mut self, m: &Map<String, Value>, path: &str, key: &str) -> Option<bool> {
        match Self::opt(m, key)? {
            Value::Bool(b) => Some(*b),
            other => {
                self.expected(field(path, key), "true or false", other);
                None
            }
        }
    }

    fn opt_u32(&mut self, m: &Map<String, Value>, path: &str, key: &str) -> Option<u32> {
        let v = Self::opt(m, key)?;
        match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) => Some(n),
            None => {
                self.expected(field(path, key), "a whole number ≥ 0", v);
                None
            }
        }
    }

    fn opt_duration(&mut self, m: &Map<String, Value>, path: &str, key: &str) -> Option<u64> {
        let v = Self::opt(m, key)?;
        match parse_duration(v) {
            Ok(ms) => Some(ms),
            Err(e) => {
                self.err(field(path, key), e);
                None
            }
        }
    }

    /// An optional object field whose values are kept as they are (templates).
    fn opt_map(&mut self, m: &Map<String, Value>, path: &str, key: &str) -> Map<String, Value> {
        match Self::opt(m, key) {
            None => Map::new(),
            Some(Value::Object(o)) => o.clone(),
            Some(other) => {
                self.expected(field(path, key), "an object of name: value pairs", other);
                Map::new()
            }
        }
    }

    fn list<'v>(&mut self, v: &'v Value, path: &str, what: &str) -> &'v [Value] {
        match v {
            Value::Array(a) => a,
            other => {
                self.expected(path.to_string(), &format!("a list of {what}"), other);
                &[]
            }
        }
    }

    pub(super) fn workflow(&mut self, doc: &Value) -> Workflow {
        let mut wf = Workflow {
            name: String::new(),
            description: None,
            inputs: Vec::new(),
            variables: Vec::new(),
            outputs: Vec::new(),
            triggers: Vec::new(),
            steps: Vec::new(),
        };
        let allowed = [
            "name",
            "description",
            "inputs",
            "variables",
            "outputs",
            "triggers",
            "steps",
        ];
        let Value::Object(_) = doc else {
            self.err(
                String::new(),
                format!(
                    "a workflow document must be an object with name and steps, found {}",
                    describe(doc)
                ),
            );
            return wf;
        };
        let Some(m) = self.object(doc, "", "the workflow", &allowed) else {
            return wf;
        };
        wf.name = self.req_string(m, "", "name");
        wf.description = self.opt_string(m, "", "description");
        wf.inputs = self.decls(m, "inputs", DeclKind::Input);
        wf.variables = self.decls(m, "variables", DeclKind::Variable);
        wf.outputs = self.decls(m, "outputs", DeclKind::Output);
        if let Some(v) = Self::opt(m, "triggers") {
            for (i, t) in self.list(v, "triggers", "triggers").iter().enumerate() {
                let p = index("triggers", i);
                if let Some(tm) = self.object(t, &p, "a trigger", &["event", "disabled"]) {
                    let event = self.req_string(tm, &p, "event");
                    let disabled = self.opt_bool(tm, &p, "disabled").unwrap_or(false);
                    wf.triggers.push(Trigger { event, disabled });
                }
            }
        }
        if let Some(v) = Self::opt(m, "steps") {
            wf.steps = self.steps(v, "steps");
        }
        wf
    }

    fn decls(&mut self, m: &Map<String, Value>, key: &str, kind: DeclKind) -> Vec<VarDecl> {
        let Some(v) = Self::opt(m, key) else {
            return Vec::new();
        };
        let (what, allowed): (&str, &[&str]) = match kind {
            DeclKind::Input => ("an input", &["name", "type", "default", "required"]),
            DeclKind::Variable => ("a variable", &["name", "type", "default"]),
            DeclKind::Output => ("an output", &["name", "type"]),
        };
        let mut out = Vec::new();
        for (i, d) in self.list(v, key, key).iter().enumerate() {
            let p = index(key, i);
            let Some(dm) = self.object(d, &p, what, allowed) else {
                continue;
            };
            let name = self.req_string(dm, &p, "name");
            let ty = self.var_type(dm, &p);
            // `default: null` is kept: an optional input/variable that starts as null.
            let default = dm.get("default").cloned();
            let required = match kind {
                DeclKind::Input => self
                    .opt_bool(dm, &p, "required")
                    .unwrap_or(default.is_none()),
                _ => false,
            };
            out.push(VarDecl {
                name,
                r#type: ty,
                default,
                required,
            });
        }
        out
    }

    /// The `type` of a declaration at `path` (an input, variable, output or script variable):
    /// one of [`VarType::ALL`]; a missing one is `string`, a wrong one an error.
    fn var_type(&mut self, dm: &Map<String, Value>, path: &str) -> VarType {
        let names: Vec<&str> = VarType::ALL.iter().map(|t| t.as_str()).collect();
        let (at, found) = (field(path, "type"), self.req(dm, path, "type"));
        let message = match found {
            None => return VarType::String,
            Some(Value::String(s)) => match VarType::from_name(s) {
                Some(t) => return t,
                None => {
                    let hint = suggest(s, &names)
                        .map(|s| format!("did you mean \"{s}\"? "))
                        .unwrap_or_default();
                    format!(
                        "unknown type \"{s}\" ({hint}expected one of: {})",
                        names.join(", ")
                    )
                }
            },
            Some(other) => format!(
                "expected a type name ({}), found {}",
                names.join(", "),
                describe(other)
            ),
        };
        self.err(at, message);
        VarType::String
    }

    fn steps(&mut self, v: &Value, path: &str) -> Vec<Step> {
        let mut out = Vec::new();
        for (i, s) in self.list(v, path, "steps").iter().enumerate() {
            if let Some(step) = self.step(s, &index(path, i)) {
                out.push(step);
            }
        }
        out
    }

    fn opt_steps(&mut self, m: &Map<String, Value>, path: &str, key: &str) -> Vec<Step> {
        match Self::opt(m, key) {
            Some(v) => self.steps(v, &field(path, key)),
            None => Vec::new(),
        }
    }

    /// The required `branches` of a `condition` or `parallel` step: a list of objects (`what`,
    /// with the keys `allowed`), each read by `read` from the object and its path.
    fn branches<T>(
        &mut self,
        m: &Map<String, Value>,
        path: &str,
        what: &str,
        allowed: &[&str],
        mut read: impl FnMut(&mut Self, &Map<String, Value>, &str) -> T,
    ) -> Vec<T> {
        let mut branches = Vec::new();
        if let Some(bv) = self.req(m, path, "branches") {
            let bp = field(path, "branches");
            for (i, b) in self.list(bv, &bp, "branches").iter().enumerate() {
                let p = index(&bp, i);
                if let Some(bm) = self.object(b, &p, what, allowed) {
                    branches.push(read(self, bm, &p));
                }
            }
        }
        branches
    }

    fn req_steps(&mut self, m: &Map<String, Value>, path: &str, key: &str) -> Vec<Step> {
        match self.req(m, path, key) {
            Some(v) => self.steps(v, &field(path, key)),
            None => Vec::new(),
        }
    }

    /// A bare expression field (`when`); a YAML/JSON boolean is accepted as `true`/`false`.
    fn expression(&mut self, m: &Map<String, Value>, path: &str, key: &str) -> String {
        match self.req(m, path, key) {
            None => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Bool(b)) => b.to_string(),
            Some(other) => {
                self.expected(
                    field(path, key),
                    "an expression (a string such as trigger.body.severity == \"high\")",
                    other,
                );
                String::new()
            }
        }
    }

    fn step(&mut self, v: &Value, path: &str) -> Option<Step> {
        self.steps += 1;
        let Value::Object(m) = v else {
            self.expected(path.to_string(), "a step (an object with id and type)", v);
            return None;
        };
        let ty = match m.get("type") {
            None | Some(Value::Null) => {
                self.err(
                    field(path, "type"),
                    format!(
                        "missing required field \"type\" (one of: {})",
                        STEP_TYPES.join(", ")
                    ),
                );
                None
            }
            Some(Value::String(t)) if STEP_TYPES.contains(&t.as_str()) => Some(t.as_str()),
            Some(Value::String(t)) => {
                let hint = suggest(t, &STEP_TYPES)
                    .map(|s| format!("did you mean \"{s}\"? "))
                    .unwrap_or_default();
                self.err(
                    field(path, "type"),
                    format!(
                        "unknown step type \"{t}\" ({hint}expected one of: {})",
                        STEP_TYPES.join(", ")
                    ),
                );
                None
            }
            Some(other) => {
                self.err(
                    field(path, "type"),
                    format!(
                        "expected a step type ({}), found {}",
                        STEP_TYPES.join(", "),
                        describe(other)
                    ),
                );
                None
            }
        };
        let id = self.req_string(m, path, "id");
        // Without a known type the allowed fields are unknown: report only the common ones.
        let ty = ty?;
        let mut allowed: Vec<&str> = STEP_COMMON.to_vec();
        allowed.extend_from_slice(step_fields(ty));
        let what = format!("a step of type {ty}");
        self.object(v, path, &what, &allowed);

        let retry = Self::opt(m, "retry").and_then(|rv| {
            let rp = field(path, "retry");
            let rm = self.object(rv, &rp, "retry", &["max_attempts", "backoff"])?;
            let max_attempts = match Self::opt(rm, "max_attempts") {
                None => {
                    self.err(
                        field(&rp, "max_attempts"),
                        "missing required field \"max_attempts\" (how many tries in all, 1 to 20)",
                    );
                    1
                }
                Some(n) => match n.as_u64() {
                    Some(n) => u32::try_from(n).unwrap_or(u32::MAX),
                    None => {
                        self.expected(field(&rp, "max_attempts"), "a whole number from 1 to 20", n);
                        1
                    }
                },
            };
            let backoff_ms = self.opt_duration(rm, &rp, "backoff").unwrap_or(1_000);
            Some(Retry {
                max_attempts,
                backoff_ms,
            })
        });
        let continue_on_error = self.opt_bool(m, path, "continue_on_error").unwrap_or(false);
        let timeout_ms = self.opt_duration(m, path, "timeout");

        let kind = match ty {
            "http_request" => {
                let method = self
                    .opt_string(m, path, "method")
                    .map(|s| s.to_ascii_uppercase())
                    .unwrap_or_else(|| "GET".to_string());
                let url = self.req(m, path, "url").cloned().unwrap_or(Value::Null);
                if !url.is_null() && !url.is_string() {
                    self.expected(field(path, "url"), "a URL (a string)", &url);
                }
                let headers = Self::opt(m, "headers").cloned();
                let query = Self::opt(m, "query").cloned();
                for (key, v) in [("headers", &headers), ("query", &query)] {
                    if let Some(v) = v
                        && !v.is_object()
                        && !v.is_string()
                    {
                        self.expected(
                            field(path, key),
                            "an object of name: value pairs (or a template that yields one)",
                            v,
                        );
                    }
                }
                StepKind::HttpRequest {
                    method,
                    url,
                    headers,
                    query,
                    body: Self::opt(m, "body").cloned(),
                    fail_on_status: self.opt_bool(m, path, "fail_on_status").unwrap_or(true),
                }
            }
            "condition" => StepKind::Condition {
                branches: self.branches(
                    m,
                    path,
                    "a condition branch",
                    &["when", "steps"],
                    |r, bm, p| Branch {
                        when: r.expression(bm, p, "when"),
                        steps: r.opt_steps(bm, p, "steps"),
                    },
                ),
                else_steps: self.opt_steps(m, path, "else"),
            },
            "for_each" => StepKind::ForEach {
                items: self.req(m, path, "items").cloned().unwrap_or(Value::Null),
                as_name: self
                    .opt_string(m, path, "as")
                    .unwrap_or_else(|| "item".to_string()),
                steps: self.req_steps(m, path, "steps"),
                max_iterations: self.opt_u32(m, path, "max_iterations"),
            },
            "while" => StepKind::While {
                when: self.expression(m, path, "when"),
                steps: self.req_steps(m, path, "steps"),
                max_iterations: self.opt_u32(m, path, "max_iterations"),
            },
            "parallel" => StepKind::Parallel {
                branches: self.branches(m, path, "a parallel branch", &["steps"], |r, bm, p| {
                    r.req_steps(bm, p, "steps")
                }),
            },
            "set_variables" => {
                if self.req(m, path, "values").is_some() {
                    StepKind::SetVariables {
                        values: self.opt_map(m, path, "values"),
                    }
                } else {
                    StepKind::SetVariables { values: Map::new() }
                }
            }
            "sleep" => {
                let duration_ms = match self.req(m, path, "duration") {
                    Some(_) => self.opt_duration(m, path, "duration").unwrap_or(0),
                    None => 0,
                };
                StepKind::Sleep { duration_ms }
            }
            "json_path" => StepKind::JsonPath {
                input: self.req(m, path, "input").cloned().unwrap_or(Value::Null),
                query: self.req_string(m, path, "query"),
            },
            "regex" => StepKind::Regex {
                input: self.req(m, path, "input").cloned().unwrap_or(Value::Null),
                pattern: self.req_string(m, path, "pattern"),
            },
            "run_workflow" => StepKind::RunWorkflow {
                workflow: self.req_string(m, path, "workflow"),
                inputs: self.opt_map(m, path, "inputs"),
            },
            "complete" => StepKind::Complete {
                outputs: self.opt_map(m, path, "outputs"),
            },
            "fail" => StepKind::Fail {
                message: self.req(m, path, "message").cloned().unwrap_or(Value::Null),
            },
            "python" => self.python_step(m, path),
            "break" => StepKind::Break {},
            "continue" => StepKind::Continue {},
            _ => return None,
        };
        Some(Step {
            id,
            title: self.opt_string(m, path, "title"),
            retry,
            continue_on_error,
            timeout_ms,
            kind,
        })
    }
}
