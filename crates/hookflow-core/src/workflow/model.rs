//! The typed workflow definition (SPEC §4) that the engine executes.
//!
//! These types are produced by [`super::parse`] from a YAML or JSON document. They also derive
//! `Serialize`/`Deserialize` so that the server can store the parsed definition as JSON and load it
//! back unchanged; that stored form is a storage format (durations in milliseconds, `kind` nested
//! under each step), not the document format users write.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A parsed workflow definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workflow {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Inputs of manual runs and sub-workflow calls (`inputs.<name>`).
    #[serde(default)]
    pub inputs: Vec<VarDecl>,
    /// Local variables (`vars.<name>`), set by `set_variables`.
    #[serde(default)]
    pub variables: Vec<VarDecl>,
    /// What a `complete` step may set.
    #[serde(default)]
    pub outputs: Vec<VarDecl>,
    #[serde(default)]
    pub triggers: Vec<Trigger>,
    #[serde(default)]
    pub steps: Vec<Step>,
}

/// A declared input, variable or output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VarDecl {
    pub name: String,
    pub r#type: VarType,
    /// The initial value; `Some(Value::Null)` when the document says `default: null`.
    #[serde(default)]
    pub default: Option<Value>,
    /// Inputs: required iff there is no `default`, unless the document says `required:` itself.
    /// Always `false` for variables and outputs.
    #[serde(default)]
    pub required: bool,
}

/// The type of a declared input, variable or output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VarType {
    String,
    SecureString,
    Integer,
    Number,
    Boolean,
    Datetime,
    Object,
    Array,
}

impl VarType {
    /// Every type, in the order the documentation lists them.
    pub const ALL: [VarType; 8] = [
        VarType::String,
        VarType::SecureString,
        VarType::Integer,
        VarType::Number,
        VarType::Boolean,
        VarType::Datetime,
        VarType::Object,
        VarType::Array,
    ];

    /// The name used in documents (`secure_string`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            VarType::String => "string",
            VarType::SecureString => "secure_string",
            VarType::Integer => "integer",
            VarType::Number => "number",
            VarType::Boolean => "boolean",
            VarType::Datetime => "datetime",
            VarType::Object => "object",
            VarType::Array => "array",
        }
    }

    /// The type named `name` in a document.
    pub fn from_name(name: &str) -> Option<VarType> {
        VarType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl std::fmt::Display for VarType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// "Start this workflow when event `event` (name or id) happens."
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trigger {
    pub event: String,
    #[serde(default)]
    pub disabled: bool,
}

/// One step. `id` is unique across the whole workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub id: String,
    /// What the step does, in words, shown beside its id (SPEC §11).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default)]
    pub retry: Option<Retry>,
    #[serde(default)]
    pub continue_on_error: bool,
    /// The step's time limit (document: `timeout: 30s`).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    pub kind: StepKind,
}

impl Step {
    /// The document name of this step's type (`http_request`, ...).
    pub fn type_name(&self) -> &'static str {
        self.kind.type_name()
    }
}

/// `retry: {max_attempts, backoff}`; `max_attempts` counts the first try.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retry {
    pub max_attempts: u32,
    /// Pause between attempts (document: `backoff: 1s`; default 1 s).
    pub backoff_ms: u64,
}

/// What a step does; the document's `type` field selects the variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StepKind {
    HttpRequest {
        /// Upper-cased method name as written (validation checks it is a known one).
        method: String,
        url: Value,
        #[serde(default)]
        headers: Option<Value>,
        #[serde(default)]
        query: Option<Value>,
        #[serde(default)]
        body: Option<Value>,
        /// A status ≥ 400 fails the step (default true).
        fail_on_status: bool,
    },
    Condition {
        branches: Vec<Branch>,
        /// Document: `else: [steps]`.
        #[serde(default)]
        else_steps: Vec<Step>,
    },
    ForEach {
        items: Value,
        /// Document: `as:` (default `item`).
        as_name: String,
        steps: Vec<Step>,
        #[serde(default)]
        max_iterations: Option<u32>,
    },
    While {
        when: String,
        steps: Vec<Step>,
        #[serde(default)]
        max_iterations: Option<u32>,
    },
    Parallel {
        /// Document: `branches: [{steps: [...]}]`.
        branches: Vec<Vec<Step>>,
    },
    SetVariables {
        values: Map<String, Value>,
    },
    Sleep {
        /// Document: `duration: 250ms | 2s | 1m | 1h` or an integer number of milliseconds.
        duration_ms: u64,
    },
    JsonPath {
        input: Value,
        query: String,
    },
    Regex {
        input: Value,
        pattern: String,
    },
    RunWorkflow {
        workflow: String,
        #[serde(default)]
        inputs: Map<String, Value>,
    },
    Complete {
        #[serde(default)]
        outputs: Map<String, Value>,
    },
    Fail {
        message: Value,
    },
    /// A Python 3 script run isolated (SPEC §11).
    Python {
        script: String,
        /// `sys.argv[1:]`, each rendered to text.
        #[serde(default)]
        args: Vec<Value>,
        /// Module-level variables read when the script ends (name and type only).
        #[serde(default)]
        variables: Vec<VarDecl>,
    },
    /// Ends the innermost enclosing `for_each` or `while` (SPEC §11).
    Break {},
    /// Ends the current iteration of the innermost enclosing `for_each` or `while`.
    Continue {},
}

/// The step type names a document may use, in documentation order.
pub const STEP_TYPES: [&str; 15] = [
    "http_request",
    "condition",
    "for_each",
    "while",
    "parallel",
    "set_variables",
    "sleep",
    "json_path",
    "regex",
    "run_workflow",
    "complete",
    "fail",
    "python",
    "break",
    "continue",
];

impl StepKind {
    /// The document name of this type (`http_request`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            StepKind::HttpRequest { .. } => "http_request",
            StepKind::Condition { .. } => "condition",
            StepKind::ForEach { .. } => "for_each",
            StepKind::While { .. } => "while",
            StepKind::Parallel { .. } => "parallel",
            StepKind::SetVariables { .. } => "set_variables",
            StepKind::Sleep { .. } => "sleep",
            StepKind::JsonPath { .. } => "json_path",
            StepKind::Regex { .. } => "regex",
            StepKind::RunWorkflow { .. } => "run_workflow",
            StepKind::Complete { .. } => "complete",
            StepKind::Fail { .. } => "fail",
            StepKind::Python { .. } => "python",
            StepKind::Break {} => "break",
            StepKind::Continue {} => "continue",
        }
    }
}

/// One `condition` branch: the first whose `when` is true runs its `steps`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Branch {
    pub when: String,
    #[serde(default)]
    pub steps: Vec<Step>,
}

impl Workflow {
    /// Every step in document order (pre-order: a container before the steps inside it).
    pub fn all_steps(&self) -> Vec<&Step> {
        let mut out = Vec::new();
        fn walk<'a>(steps: &'a [Step], out: &mut Vec<&'a Step>) {
            for s in steps {
                out.push(s);
                walk_children(s, out);
            }
        }
        fn walk_children<'a>(s: &'a Step, out: &mut Vec<&'a Step>) {
            match &s.kind {
                StepKind::Condition {
                    branches,
                    else_steps,
                } => {
                    for b in branches {
                        walk(&b.steps, out);
                    }
                    walk(else_steps, out);
                }
                StepKind::ForEach { steps, .. } | StepKind::While { steps, .. } => walk(steps, out),
                StepKind::Parallel { branches } => {
                    for b in branches {
                        walk(b, out);
                    }
                }
                _ => {}
            }
        }
        walk(&self.steps, &mut out);
        out
    }

    /// The step with this id, anywhere in the workflow.
    pub fn find_step(&self, id: &str) -> Option<&Step> {
        self.all_steps().into_iter().find(|s| s.id == id)
    }
}
