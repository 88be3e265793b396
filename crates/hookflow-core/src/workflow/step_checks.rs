//! The checks of one step: its id, title, retry and timeout, then the fields of its kind
//! (method and URL of an `http_request`, branches of a `condition`, items of a `for_each`, ...)
//! and the variables and outputs it assigns. What the whole document needs (the step index,
//! inputs and variables) is `validate.rs`; which names an expression may read is `scope.rs`.

use serde_json::{Map, Value};

use super::duration::format_duration;
use super::literal::{fits, is_http_url, regex_message};
use super::model::StepKind;
use super::parse::describe;
use super::path::{field, index, is_identifier};
use super::validate::{
    HTTP_METHODS, LoopFrame, MAX_ATTEMPTS, MAX_BACKOFF_MS, MAX_ITERATIONS, MAX_PARALLEL_BRANCHES,
    MAX_SLEEP_MS, MAX_TIMEOUT_MS, RESERVED_NAMES, Site, Validator, list_or,
};
use crate::expr::is_template;

impl Validator<'_> {
    pub(super) fn step(&mut self, ord: usize) {
        let step = self.infos[ord].step;
        let path = self.infos[ord].path.clone();
        let loops = self.infos[ord].loops.clone();
        let site = Site {
            ord,
            sees_own_body: false,
            loops: &loops,
        };

        let idp = field(&path, "id");
        if !is_identifier(&step.id) {
            self.err(
                idp,
                format!(
                    "invalid step id {}: use letters, digits and _, starting with a letter or _ (^[A-Za-z_][A-Za-z0-9_]*$)",
                    Value::String(step.id.clone())
                ),
            );
        } else if let Some(first) = self.infos[ord].first {
            let first_path = self.infos[first].path.clone();
            self.err(
                idp,
                format!("duplicate step id \"{}\" (first at {first_path})", step.id),
            );
        }

        self.title(step, &path);
        if let Some(r) = &step.retry {
            let rp = field(&path, "retry");
            if !(1..=MAX_ATTEMPTS).contains(&r.max_attempts) {
                self.err(
                    field(&rp, "max_attempts"),
                    format!(
                        "max_attempts must be from 1 to {MAX_ATTEMPTS} (it counts the first try), found {}",
                        r.max_attempts
                    ),
                );
            }
            if r.backoff_ms > MAX_BACKOFF_MS {
                self.err(
                    field(&rp, "backoff"),
                    format!(
                        "backoff must be at most {}, found {}",
                        format_duration(MAX_BACKOFF_MS),
                        format_duration(r.backoff_ms)
                    ),
                );
            }
        }
        if let Some(t) = step.timeout_ms
            && (t == 0 || t > MAX_TIMEOUT_MS)
        {
            self.err(
                field(&path, "timeout"),
                format!(
                    "timeout must be more than 0 and at most {}, found {}",
                    format_duration(MAX_TIMEOUT_MS),
                    format_duration(t)
                ),
            );
        }

        match &step.kind {
            StepKind::HttpRequest {
                method,
                url,
                headers,
                query,
                body,
                fail_on_status: _,
            } => {
                if !HTTP_METHODS.contains(&method.to_ascii_uppercase().as_str()) {
                    self.err(
                        field(&path, "method"),
                        format!(
                            "unknown HTTP method {} (expected one of: {})",
                            Value::String(method.clone()),
                            HTTP_METHODS.join(", ")
                        ),
                    );
                }
                let up = field(&path, "url");
                match url {
                    Value::String(s) if is_template(s) => self.template(s, &up, site),
                    Value::String(s) if !is_http_url(s) => self.err(
                        up,
                        format!(
                            "expected an absolute http:// or https:// URL or a template, found {}",
                            Value::String(s.clone())
                        ),
                    ),
                    _ => {} // a valid literal, or not a string (reported by the parser)
                }
                for (key, v) in [("headers", headers), ("query", query)] {
                    if let Some(Value::String(s)) = v
                        && !is_template(s)
                    {
                        self.err(
                            field(&path, key),
                            format!(
                                "expected an object of name: value pairs or a template that yields one, found {}",
                                describe(&Value::String(s.clone()))
                            ),
                        );
                    }
                }
                for (key, v) in [("headers", headers), ("query", query), ("body", body)] {
                    if let Some(v) = v {
                        self.value(v, &field(&path, key), site);
                    }
                }
            }
            StepKind::Condition { branches, .. } => {
                if branches.is_empty() {
                    self.err(
                        field(&path, "branches"),
                        "a condition needs at least one branch ({when, steps})",
                    );
                }
                for (i, b) in branches.iter().enumerate() {
                    let wp = field(&index(&field(&path, "branches"), i), "when");
                    self.expression(&b.when, &wp, site);
                }
            }
            StepKind::ForEach {
                items,
                as_name,
                max_iterations,
                ..
            } => {
                let ip = field(&path, "items");
                match items {
                    Value::String(s) if is_template(s) => self.template(s, &ip, site),
                    Value::Array(_) => self.value(items, &ip, site),
                    // JSON held in text (SPEC §11)
                    Value::String(s) => match serde_json::from_str::<Value>(s) {
                        Ok(Value::Array(_)) => {}
                        Ok(other) => self.err(
                            ip,
                            format!(
                                "the text holds JSON that is not a list: {}",
                                describe(&other)
                            ),
                        ),
                        Err(e) => self.err(
                            ip,
                            format!(
                                "expected a list, a template that yields one, or text holding a JSON list; this text is not JSON: {e}"
                            ),
                        ),
                    },
                    other => self.err(
                        ip,
                        format!(
                            "expected a list or a template that yields one (e.g. \"{{{{ trigger.body.alerts }}}}\"), found {}",
                            describe(other)
                        ),
                    ),
                }
                let ap = field(&path, "as");
                if !is_identifier(as_name) {
                    self.err(
                        ap,
                        format!(
                            "invalid item name {}: use letters, digits and _, starting with a letter or _",
                            Value::String(as_name.clone())
                        ),
                    );
                } else if RESERVED_NAMES.contains(&as_name.as_str()) {
                    self.err(
                        ap,
                        format!(
                            "\"{as_name}\" is a reserved name (reserved: {}); choose another item name",
                            RESERVED_NAMES.join(", ")
                        ),
                    );
                }
                self.max_iterations(*max_iterations, &path);
            }
            StepKind::While {
                when,
                max_iterations,
                ..
            } => {
                // `when` is checked before each pass with `loop.index` set (0 before the first),
                // and from the second pass on the body's steps have outputs.
                let mut wloops = loops.clone();
                wloops.push(LoopFrame::While);
                let wsite = Site {
                    ord,
                    sees_own_body: true,
                    loops: &wloops,
                };
                self.expression(when, &field(&path, "when"), wsite);
                self.max_iterations(*max_iterations, &path);
            }
            StepKind::Parallel { branches } => {
                if branches.is_empty() {
                    self.err(
                        field(&path, "branches"),
                        "a parallel step needs at least one branch ({steps: [...]})",
                    );
                } else if branches.len() > MAX_PARALLEL_BRANCHES {
                    self.err(
                        field(&path, "branches"),
                        format!(
                            "a parallel step may have at most {MAX_PARALLEL_BRANCHES} branches, found {}",
                            branches.len()
                        ),
                    );
                }
            }
            StepKind::SetVariables { values } => {
                let vp = field(&path, "values");
                self.assignments(values, &vp, site, Assign::Variables);
            }
            StepKind::Sleep { duration_ms } => {
                if *duration_ms == 0 || *duration_ms > MAX_SLEEP_MS {
                    self.err(
                        field(&path, "duration"),
                        format!(
                            "a sleep must last more than 0 and at most {}, found {}",
                            format_duration(MAX_SLEEP_MS),
                            format_duration(*duration_ms)
                        ),
                    );
                }
            }
            StepKind::JsonPath { input, query } => {
                self.value(input, &field(&path, "input"), site);
                if let Value::String(s) = input
                    && !is_template(s)
                    && let Err(e) = serde_json::from_str::<Value>(s)
                {
                    self.err(
                        field(&path, "input"),
                        format!("text given as input must hold JSON (or be a template): {e}"),
                    );
                }
                if is_template(query) {
                    self.template(query, &field(&path, "query"), site);
                } else if let Err(e) = serde_json_path::JsonPath::parse(query) {
                    self.err(
                        field(&path, "query"),
                        format!(
                            "invalid JSONPath query {}: {e} (RFC 9535; a query starts with $, e.g. $.items[*].id)",
                            Value::String(query.clone())
                        ),
                    );
                }
            }
            StepKind::Regex { input, pattern } => {
                self.value(input, &field(&path, "input"), site);
                if let Err(e) = regex::Regex::new(pattern) {
                    self.err(
                        field(&path, "pattern"),
                        format!("invalid regular expression: {}", regex_message(&e)),
                    );
                }
            }
            StepKind::RunWorkflow { workflow, inputs } => {
                let wp = field(&path, "workflow");
                if workflow.trim().is_empty() {
                    self.err(wp, "the name of the workflow to run is required");
                } else if *workflow == self.wf.name {
                    self.err(
                        wp,
                        format!(
                            "a workflow cannot run itself (\"{workflow}\"): recursion is not allowed"
                        ),
                    );
                } else if !self.catalog.workflow_exists(workflow) {
                    self.err(wp, format!("workflow \"{workflow}\" does not exist"));
                } else if let Some(cycle) =
                    super::calls::cycle_through(&self.wf.name, workflow, &|n| {
                        self.catalog.workflow_calls(n)
                    })
                {
                    self.err(
                        wp,
                        format!(
                            "calling \"{workflow}\" closes a cycle of workflows calling each \
                             other: {}; recursion is not allowed",
                            cycle.join(" → ")
                        ),
                    );
                }
                let ip = field(&path, "inputs");
                for (k, v) in inputs {
                    self.value(v, &field(&ip, k), site);
                }
            }
            StepKind::Complete { outputs } => {
                let op = field(&path, "outputs");
                self.assignments(outputs, &op, site, Assign::Outputs);
            }
            StepKind::Fail { message } => {
                self.value(message, &field(&path, "message"), site);
            }
            StepKind::Python {
                script,
                args,
                variables,
            } => self.python_step(script, args, variables, &path, site),
            StepKind::Break {} | StepKind::Continue {} => self.loop_control(ord),
        }
    }

    fn max_iterations(&mut self, max: Option<u32>, path: &str) {
        if let Some(n) = max
            && !(1..=MAX_ITERATIONS).contains(&n)
        {
            self.err(
                field(path, "max_iterations"),
                format!("max_iterations must be from 1 to {MAX_ITERATIONS}, found {n}"),
            );
        }
    }

    fn assignments(&mut self, values: &Map<String, Value>, path: &str, site: Site, to: Assign) {
        let wf = self.wf;
        let (decls, what, plural) = match to {
            Assign::Variables => (&wf.variables, "variable", "variables"),
            Assign::Outputs => (&wf.outputs, "output", "outputs"),
        };
        for (k, v) in values {
            let kp = field(path, k);
            match decls.iter().find(|d| d.name == *k) {
                Some(d) => match v {
                    Value::String(s) if is_template(s) => self.assigned_template(d, s, &kp, what),
                    _ => {
                        if let Err(e) = fits(d.r#type, v) {
                            self.err(kp.clone(), format!("{what} \"{k}\" is {}: {e}", d.r#type));
                        }
                    }
                },
                None => {
                    let declared: Vec<&str> = decls.iter().map(|d| d.name.as_str()).collect();
                    let list = list_or(&declared, &format!("no {plural} are declared"));
                    let is_input =
                        matches!(to, Assign::Variables) && wf.inputs.iter().any(|d| d.name == *k);
                    let msg = if is_input {
                        format!(
                            "\"{k}\" is an input, and inputs cannot be set; set_variables sets declared variables only (declared: {list})"
                        )
                    } else if declared.is_empty() {
                        format!("\"{k}\" is not a declared {what} ({list})")
                    } else {
                        format!("\"{k}\" is not a declared {what} (declared: {list})")
                    };
                    self.err(kp.clone(), msg);
                }
            }
            self.value(v, &kp, site);
        }
    }
}

#[derive(Clone, Copy)]
enum Assign {
    Variables,
    Outputs,
}
