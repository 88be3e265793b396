//! The mapping from the old product to hookflow, in one place and as tables: which translator
//! each activity type gets, which types are known but not translated (and why), what each
//! activity output field becomes, the condition operators, the variable types, the run and
//! trigger fields. Reading this file should answer "what does X become?" for any X.

use super::context::Ctx;
use super::{calls, control, dates, leaf, xml};
use serde_json::Value;

/// Translates one activity (its JSON) into hookflow steps.
pub type Translator = fn(&mut Ctx, &Value) -> Vec<Value>;

/// Activity type → translator.
pub const ACTIVITIES: &[(&str, Translator)] = &[
    // control flow
    ("logic.if_else", control::condition),
    ("logic.for_each", control::for_each),
    ("logic.while", control::while_loop),
    ("logic.parallel", control::parallel),
    ("logic.group", control::group),
    ("logic.break", control::break_step),
    ("logic.continue", control::continue_step),
    ("logic.completed", control::completed),
    // leaves
    ("web-service.http_request", leaf::http_request),
    ("python3.script", leaf::python),
    ("corejava.jsonpathquery", leaf::json_path),
    ("core.jsonpathquery", leaf::json_path),
    ("core.matchregex", leaf::regex),
    ("core.set_multiple_variables", leaf::set_variables),
    ("core.set_variable", leaf::set_variables),
    ("core.sleep", leaf::sleep),
    ("core.replacestring", leaf::replace_string),
    ("core.calculate_date", dates::calculate_date),
    ("core.calculate_date_time_difference", dates::difference),
    ("core.format_date", dates::format_date),
    ("core.parse_date", dates::parse_date),
    ("core.xpathquery", xml::xpath),
    // calls
    ("workflow.atomic_workflow", calls::call),
    ("workflow.sub_workflow", calls::call),
];

/// Activity types known but not translated: (type, gap category, what to do instead).
pub const NOT_TRANSLATED: &[(&str, &str, &str)] = &[
    (
        "corejava.read_table_from_json",
        "table",
        "tables are not supported: use a python step (json.loads) or json_path",
    ),
    (
        "corejava.read_table_from_xml",
        "table",
        "tables are not supported: use a python step",
    ),
    (
        "core.read_table_from_text",
        "table",
        "tables are not supported: use a python step",
    ),
    (
        "core.addrowtotable",
        "table",
        "tables are not supported: keep rows in an array variable",
    ),
    (
        "core.updaterowintable",
        "table",
        "tables are not supported: keep rows in an array variable",
    ),
    (
        "core.deleterowfromtable",
        "table",
        "tables are not supported: keep rows in an array variable",
    ),
    (
        "core.selectfromtable",
        "table",
        "tables are not supported: filter an array with a python step",
    ),
    (
        "core.xml2json",
        "xml",
        "XML to JSON is not supported: parse the XML in a python step",
    ),
    (
        "email.smtp_send_email",
        "email",
        "sending email is not supported: call a mail API with http_request",
    ),
    (
        "task.approval_request",
        "approval",
        "approval tasks are not supported",
    ),
    (
        "task.wait_for_event",
        "approval",
        "waiting for an event inside a run is not supported",
    ),
    (
        "python.script",
        "python2",
        "Python 2 scripts are not run: port the script to Python 3",
    ),
];

/// What an activity output field becomes, for the activity types that have their own.
#[derive(Debug, Clone, Copy)]
pub enum Out {
    /// `steps.<step>.output.<field>`.
    Step(&'static str, Kind),
    /// `script_queries.<name>` of a python script: the variable read after the script.
    PythonVariable,
    /// `jsonpath_queries.<name>`: the json_path step of that query.
    JsonPathQuery,
    /// The hidden variable that holds the activity's result.
    Result(Kind),
    /// An output variable of the called workflow.
    CalleeOutput,
}

/// The kind of value an expression yields, as far as the importer knows (for text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Bool,
    Number,
    Any,
}

/// (activity type, output field, what it becomes). `*` matches every field.
#[rustfmt::skip]
pub const OUTPUT_FIELDS: &[(&str, &str, Out)] = &[
    ("web-service.http_request", "response_body", Out::Step("body", Kind::Any)),
    ("web-service.http_request", "status_code", Out::Step("status", Kind::Number)),
    ("web-service.http_request", "response_headers", Out::Step("headers", Kind::Any)),
    ("python3.script", "script_queries", Out::PythonVariable),
    ("python3.script", "response_body", Out::Step("stdout", Kind::String)),
    ("python3.script", "stdout", Out::Step("stdout", Kind::String)),
    ("python3.script", "stderr", Out::Step("stderr", Kind::String)),
    ("python3.script", "exit_code", Out::Step("exit_code", Kind::Number)),
    ("corejava.jsonpathquery", "jsonpath_queries", Out::JsonPathQuery),
    ("core.jsonpathquery", "jsonpath_queries", Out::JsonPathQuery),
    ("core.xpathquery", "xpath_queries", Out::PythonVariable),
    ("core.matchregex", "has_match", Out::Step("matched", Kind::Bool)),
    ("core.matchregex", "matching_strings", Out::Step("groups[:1]", Kind::Any)),
    ("core.matchregex", "match_groups", Out::Step("groups[1:]", Kind::Any)),
    ("core.replacestring", "result_string", Out::Result(Kind::String)),
    ("core.calculate_date", "result", Out::Result(Kind::String)),
    ("core.calculate_date_time_difference", "result", Out::Result(Kind::Number)),
    ("core.format_date", "result", Out::Result(Kind::String)),
    ("core.format_date", "result_string", Out::Result(Kind::String)),
    ("core.parse_date", "result", Out::Result(Kind::String)),
    ("workflow.atomic_workflow", "*", Out::CalleeOutput),
    ("workflow.sub_workflow", "*", Out::CalleeOutput),
];

/// Output fields every activity has: (field, expression with `{step}` for the step id, kind).
/// `succeeded` and `error` read the §11 `steps.<id>.status` and `steps.<id>.error`; a finished
/// activity's `end_time` is read after it ended, so `now()` is that time or a little later.
pub const COMMON_OUTPUTS: &[(&str, &str, Kind)] = &[
    (
        "succeeded",
        "steps.{step}.status == \"succeeded\"",
        Kind::Bool,
    ),
    ("error", "steps.{step}.error", Kind::String),
    ("end_time", "now()", Kind::String),
];

/// A condition operator: how `left OP right` is written as an expression.
#[derive(Debug, Clone, Copy)]
pub enum Op {
    /// `left <op> right`
    Infix(&'static str),
    /// Numeric comparison: operands that are numbers in text are compared as numbers.
    Compare(&'static str),
    /// `left is <test>(right)`
    Test(&'static str),
    /// `left is not <test>(right)`
    NotTest(&'static str),
    And,
    Or,
}

/// The old product's condition operators.
pub const OPERATORS: &[(&str, Op)] = &[
    ("eq", Op::Infix("==")),
    ("ne", Op::Infix("!=")),
    ("eqi", Op::Test("eqi")),
    ("nei", Op::NotTest("eqi")),
    ("gt", Op::Compare(">")),
    ("lt", Op::Compare("<")),
    ("gte", Op::Compare(">=")),
    ("lte", Op::Compare("<=")),
    ("mw", Op::Test("matches_wildcard")),
    ("nmw", Op::NotTest("matches_wildcard")),
    ("mregex", Op::Test("matches_regex")),
    ("nmregex", Op::NotTest("matches_regex")),
    ("and", Op::And),
    ("or", Op::Or),
];

/// Variable types: old product → hookflow (`None`: not supported, imported as an array with a
/// gap).
pub const VAR_TYPES: &[(&str, Option<&str>)] = &[
    ("datatype.string", Some("string")),
    ("datatype.secure_string", Some("secure_string")),
    ("datatype.integer", Some("integer")),
    ("datatype.number", Some("number")),
    ("datatype.float", Some("number")),
    ("datatype.boolean", Some("boolean")),
    ("datatype.date", Some("datetime")),
    ("datatype.string_array", Some("array")),
    ("datatype.table", None),
];

/// Script variable and JSONPath result types: old product → hookflow.
pub const QUERY_TYPES: &[(&str, &str)] = &[
    ("string", "string"),
    ("integer", "integer"),
    ("number", "number"),
    ("float", "number"),
    ("boolean", "boolean"),
    ("secure_string", "secure_string"),
    ("date", "string"),
];

/// `$workflow.<id>.output.<field>$` fields that are the run's own data.
pub const RUN_FIELDS: &[(&str, &str, Kind)] = &[
    ("instance_id", "run.id", Kind::String),
    ("start_time", "run.started_at", Kind::String),
    ("workflow_id", "run.workflow", Kind::String),
];

/// `$trigger.<id>.output.<field>$` of a webhook trigger → trigger variable (SPEC §3).
pub const TRIGGER_FIELDS: &[(&str, &str, Kind)] = &[
    ("request_body", "trigger.request_body", Kind::String),
    ("request_headers", "trigger.request_headers", Kind::Any),
    ("request_query", "trigger.query", Kind::Any),
    ("content_type", "trigger.content_type", Kind::String),
];

/// Webhook request content types hookflow takes (SPEC §2).
pub const CONTENT_TYPES: &[&str] = &[
    "application/json",
    "application/json; charset=utf-8",
    "application/x-www-form-urlencoded",
    "application/xml",
];

pub fn translator(ty: &str) -> Option<Translator> {
    ACTIVITIES.iter().find(|(t, _)| *t == ty).map(|(_, f)| *f)
}

pub fn not_translated(ty: &str) -> Option<(&'static str, &'static str)> {
    NOT_TRANSLATED
        .iter()
        .find(|(t, _, _)| *t == ty)
        .map(|(_, c, w)| (*c, *w))
}

pub fn output_field(ty: &str, field: &str) -> Option<Out> {
    OUTPUT_FIELDS
        .iter()
        .find(|(t, f, _)| *t == ty && (*f == field || *f == "*"))
        .map(|(_, _, o)| *o)
}

pub fn operator(name: &str) -> Option<Op> {
    OPERATORS.iter().find(|(n, _)| *n == name).map(|(_, o)| *o)
}

/// The hookflow type of an old variable type; `Err` with the type used instead.
pub fn var_type(ty: &str) -> Result<&'static str, &'static str> {
    match VAR_TYPES.iter().find(|(t, _)| *t == ty) {
        Some((_, Some(h))) => Ok(h),
        Some((_, None)) => Err("array"),
        None => Err("string"),
    }
}

pub fn query_type(ty: &str) -> &'static str {
    QUERY_TYPES
        .iter()
        .find(|(t, _)| *t == ty)
        .map(|(_, h)| *h)
        .unwrap_or("string")
}
