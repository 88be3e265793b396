//! From references to hookflow expressions, and from the old product's field values to
//! hookflow templates and bare expressions.
//!
//! Text interpolation: a field that is exactly one reference becomes `{{ expression }}` and
//! keeps the value's type; a reference inside text becomes text the way the old product
//! printed it — strings as they are, booleans lower-case (`true`), numbers as numbers, objects
//! and lists as JSON — and literal `{{`, `{%` and `{#` in the text are escaped so they stay
//! text.

use serde_json::{Value, json};

use super::context::{Ctx, Ns, VarInfo, seg};
use super::export::str_of;
use super::mapping::{self, COMMON_OUTPUTS, Kind, Out, RUN_FIELDS, TRIGGER_FIELDS};
use super::names::ident;
use super::refs::{Piece, Ref, Seg, pieces};

/// An expression with what the importer knows of its value.
#[derive(Debug, Clone)]
pub struct Expr {
    pub code: String,
    pub kind: Kind,
}

impl Expr {
    fn new(code: impl Into<String>, kind: Kind) -> Expr {
        Expr {
            code: code.into(),
            kind,
        }
    }

    fn unknown() -> Expr {
        Expr::new("none", Kind::Any)
    }

    /// The code, parenthesised unless it is a plain path.
    pub fn atom(&self) -> String {
        let plain = self
            .code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.[]\"".contains(c))
            && !self.code.contains(":");
        if plain {
            self.code.clone()
        } else {
            format!("({})", self.code)
        }
    }

    /// An expression yielding the value as the old product printed it in text.
    pub fn text(&self) -> String {
        let a = self.atom();
        match self.kind {
            Kind::String | Kind::Number => a,
            Kind::Bool => format!("{a} | tojson"),
            Kind::Any => format!("{a} if {a} is string else {a} | tojson"),
        }
    }
}

/// Literal text inside a template: `{{`, `{%` and `{#` escaped.
pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '{' && matches!(chars.peek(), Some('{' | '%' | '#')) {
            out.push_str("{{ \"{\" }}");
        } else {
            out.push(c);
        }
    }
    out
}

/// A JSON value as an expression literal.
pub fn literal(v: &Value) -> String {
    match v {
        Value::Null => "none".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => serde_json::to_string(s).expect("a string serializes"),
        Value::Array(a) => format!("[{}]", a.iter().map(literal).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, x)| format!("{}: {}", literal(&json!(k)), literal(x)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

impl Ctx<'_, '_> {
    /// The expression a reference becomes; on a gap, `none` (and the gap is recorded).
    pub fn resolve(&mut self, r: &Ref, raw: &str) -> Expr {
        match self.try_resolve(r, raw) {
            Ok(e) => e,
            Err((category, message)) => {
                self.gap(category, message);
                Expr::unknown()
            }
        }
    }

    fn try_resolve(&mut self, r: &Ref, raw: &str) -> Result<Expr, (&'static str, String)> {
        match r {
            Ref::Workflow { scope, var, path } => {
                if let Some(v) = self.var(var).cloned() {
                    return self.with_path(Expr::new(v.code(), v.kind()), path, raw);
                }
                if let Some((_, code, kind)) = RUN_FIELDS.iter().find(|(f, _, _)| f == var) {
                    return self.with_path(Expr::new(*code, *kind), path, raw);
                }
                Err((
                    "unknown_variable",
                    format!("{raw} ({scope}) names a variable this workflow does not declare"),
                ))
            }
            Ref::Activity { act, io, path } => self.activity_ref(act, io, path, raw),
            Ref::Trigger { path } => {
                let Some(Seg::Field(f)) = path.first() else {
                    return Err(("trigger_field", format!("{raw}: no trigger field")));
                };
                match TRIGGER_FIELDS.iter().find(|(n, _, _)| n == f) {
                    Some((_, code, kind)) => {
                        self.with_path(Expr::new(*code, *kind), &path[1..], raw)
                    }
                    None => Err((
                        "trigger_field",
                        format!(
                            "{raw}: trigger field \"{f}\" has no hookflow equivalent (webhook triggers give request_body, request_headers)"
                        ),
                    )),
                }
            }
            Ref::Global { var } => {
                let name = self.global_var(var);
                self.gap(
                    "global_variable",
                    format!(
                        "{raw} is a global variable: hookflow has no persistent variables yet; it is a local variable `{name}` starting from the exported value, and changes are not kept between runs"
                    ),
                );
                Ok(Expr::new(format!("vars.{name}"), Kind::Any))
            }
            Ref::Env { var } => {
                let name = format!("env_{}", ident(var, "var"));
                if !self.plan.vars.contains_key(var) {
                    let taken = self.hidden_var(&name, "string");
                    self.plan.vars.insert(
                        var.clone(),
                        VarInfo {
                            ns: Ns::Vars,
                            name: taken,
                            ty: "string",
                        },
                    );
                }
                let v = self.plan.vars[var].clone();
                self.gap(
                    "environment_variable",
                    format!(
                        "{raw} is a SecureX environment variable: set `{}` (declared empty) to its value",
                        v.code()
                    ),
                );
                Ok(Expr::new(v.code(), Kind::String))
            }
            Ref::TargetGroup { .. } => Err((
                "unknown_reference",
                format!("{raw} is a target-group criterion outside target selection"),
            )),
            Ref::Other => Err((
                "unknown_reference",
                format!("{raw} is a reference the importer does not know"),
            )),
        }
    }

    /// A global variable as a local one (declared once, starting from the exported value).
    fn global_var(&mut self, uid: &str) -> String {
        if let Some(v) = self.plan.vars.get(uid) {
            return v.name.clone();
        }
        let g = self
            .corpus()
            .globals
            .get(uid)
            .cloned()
            .unwrap_or(Value::Null);
        let label = str_of(&g, &["properties", "name"])
            .unwrap_or(uid)
            .to_string();
        let ty = str_of(&g, &["properties", "type"])
            .map(|t| mapping::var_type(t).unwrap_or_else(|e| e))
            .unwrap_or("string");
        let name = self
            .plan
            .var_names
            .take(&format!("global_{}", ident(&label, "var")));
        let mut decl = json!({"name": name, "type": ty});
        let default = super::workflow::coerce(ty, &g["properties"]["value"]);
        if !default.is_null() {
            decl["default"] = default;
        }
        self.plan.variables.push(decl);
        self.plan.vars.insert(
            uid.to_string(),
            VarInfo {
                ns: Ns::Vars,
                name: name.clone(),
                ty,
            },
        );
        name
    }

    fn activity_ref(
        &mut self,
        act: &str,
        io: &str,
        path: &[Seg],
        raw: &str,
    ) -> Result<Expr, (&'static str, String)> {
        let Some(info) = self.acts.get(act).cloned() else {
            return Err((
                "unresolved_reference",
                format!("{raw} refers to an activity that is not in this workflow"),
            ));
        };
        if io == "input" {
            if let (Some(item), [Seg::Field(f), Seg::Each, rest @ ..]) = (&info.item, path)
                && f == "source_array"
            {
                if !self.loops.iter().any(|(uid, _)| uid == act) {
                    return Err((
                        "unresolved_reference",
                        format!("{raw} reads the item of a for-each from outside that loop"),
                    ));
                }
                return self.with_path(Expr::new(item.clone(), Kind::Any), rest, raw);
            }
            return Err((
                "activity_input",
                format!("{raw} reads an activity's input, which hookflow steps do not expose"),
            ));
        }
        let Some(Seg::Field(field)) = path.first() else {
            return Err(("activity_output", format!("{raw}: no output field")));
        };
        let rest = &path[1..];
        if let Some((_, code, kind)) = COMMON_OUTPUTS.iter().find(|(f, _, _)| f == field) {
            let parts: Vec<String> = info
                .status_steps
                .iter()
                .map(|s| code.replace("{step}", s))
                .collect();
            let joined = if *field == "succeeded" {
                parts.join(" and ")
            } else {
                parts.join(" or ")
            };
            // `error.message` is the message itself
            let rest = match rest {
                [Seg::Field(m), tail @ ..] if *field == "error" && m == "message" => tail,
                other => other,
            };
            return self.with_path(Expr::new(joined, *kind), rest, raw);
        }
        let step = &info.step;
        match mapping::output_field(&info.ty, field) {
            Some(Out::Step(f, kind)) => self.with_path(
                Expr::new(format!("steps.{step}.output.{f}"), kind),
                rest,
                raw,
            ),
            Some(Out::PythonVariable | Out::JsonPathQuery) => {
                let Some(Seg::Field(name)) = rest.first() else {
                    return Err(("activity_output", format!("{raw}: which query?")));
                };
                match info.queries.get(name) {
                    Some((s, suffix)) => self.with_path(
                        Expr::new(format!("steps.{s}.output{suffix}"), Kind::Any),
                        &rest[1..],
                        raw,
                    ),
                    None => Err((
                        "activity_output",
                        format!("{raw}: the activity has no query \"{name}\""),
                    )),
                }
            }
            Some(Out::Result(kind)) => match &info.result_var {
                Some(v) => self.with_path(Expr::new(format!("vars.{v}"), kind), rest, raw),
                None => Err((
                    "activity_output",
                    format!("{raw}: the activity's result was not translated"),
                )),
            },
            Some(Out::CalleeOutput) => {
                let callee = info
                    .callee
                    .as_deref()
                    .and_then(|c| self.shared.plans.get(c));
                let name = match callee.and_then(|p| p.vars.get(field)) {
                    Some(v) => v.name.clone(),
                    None => ident(field, "output"),
                };
                self.with_path(
                    Expr::new(format!("steps.{step}.output{}", seg(&name)), Kind::Any),
                    rest,
                    raw,
                )
            }
            None => Err((
                "activity_output",
                format!(
                    "{raw}: output \"{field}\" of a {} activity has no hookflow equivalent",
                    info.ty
                ),
            )),
        }
    }

    fn with_path(
        &mut self,
        e: Expr,
        path: &[Seg],
        raw: &str,
    ) -> Result<Expr, (&'static str, String)> {
        if path.is_empty() {
            return Ok(e);
        }
        let mut code = e.atom();
        for s in path {
            match s {
                Seg::Field(f) => code.push_str(&seg(f)),
                Seg::Index(i) => code.push_str(&format!("[{i}]")),
                Seg::Each => {
                    return Err((
                        "unresolved_reference",
                        format!("{raw}: [@] outside the for-each it belongs to"),
                    ));
                }
            }
        }
        Ok(Expr::new(code, Kind::Any))
    }

    /// A field value as a template value. `text`: a whole-field reference is printed as text
    /// too (for fields that are text, such as script arguments).
    pub fn template(&mut self, v: &Value, text: bool) -> Value {
        match v {
            Value::String(s) => self.template_str(s, text),
            Value::Array(a) => Value::Array(a.iter().map(|x| self.template(x, text)).collect()),
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, x)| (k.clone(), self.template(x, text)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// A field value for a place of hookflow type `ty`: text when the place is a string.
    pub fn template_for(&mut self, v: &Value, ty: &str) -> Value {
        if let Value::String(s) = v
            && matches!(ty, "integer" | "number")
            && let Some(t) = self.arithmetic(s, ty)
        {
            return t;
        }
        self.template(v, matches!(ty, "string" | "secure_string"))
    }

    /// A value set on an integer or number variable that is arithmetic over references and
    /// numbers (`$count$+1`, `($a$ - 2) * 3`): the old product computed it, so the template
    /// does too. `None` when the text is anything else.
    fn arithmetic(&mut self, s: &str, ty: &str) -> Option<Value> {
        let ps = pieces(s);
        let is_ref = |p: &Piece| matches!(p, Piece::Ref { .. });
        let arithmetic_text = |p: &Piece| match p {
            Piece::Text(t) => t
                .chars()
                .all(|c| c.is_ascii_digit() || " \t.+-*/()".contains(c)),
            Piece::Ref { .. } => true,
        };
        let operator = |p: &Piece| matches!(p, Piece::Text(t) if t.contains(['+', '-', '*', '/']));
        if !ps.iter().any(is_ref) || !ps.iter().all(arithmetic_text) || !ps.iter().any(operator) {
            return None;
        }
        let conv = if ty == "integer" { "int" } else { "float" };
        let mut code = String::new();
        for p in ps {
            match p {
                Piece::Text(t) => code.push_str(&t),
                Piece::Ref { r, raw } => {
                    let e = self.resolve(&r, &raw);
                    if e.kind == Kind::Number {
                        code.push_str(&e.atom());
                    } else {
                        code.push_str(&format!("({} | {conv})", e.atom()));
                    }
                }
            }
        }
        let code = code.trim();
        Some(if ty == "integer" && code.contains('/') {
            json!(format!("{{{{ ({code}) | int }}}}"))
        } else {
            json!(format!("{{{{ {code} }}}}"))
        })
    }

    fn template_str(&mut self, s: &str, text: bool) -> Value {
        let ps = pieces(s);
        if let [Piece::Ref { r, raw }] = ps.as_slice() {
            let e = self.resolve(r, raw);
            let code = if text && e.kind == Kind::Number {
                format!("{} | string", e.atom())
            } else if text && e.kind != Kind::String {
                e.text()
            } else {
                e.code
            };
            return json!(format!("{{{{ {code} }}}}"));
        }
        if !ps.iter().any(|p| matches!(p, Piece::Ref { .. })) {
            return if hookflow_core::expr::is_template(s) {
                json!(escape_text(s))
            } else {
                json!(s)
            };
        }
        let mut out = String::new();
        for p in ps {
            match p {
                Piece::Text(t) => out.push_str(&escape_text(&t)),
                Piece::Ref { r, raw } => {
                    let e = self.resolve(&r, &raw);
                    out.push_str(&format!("{{{{ {} }}}}", e.text()));
                }
            }
        }
        json!(out)
    }

    /// A field value (a condition operand) as a bare expression.
    pub fn expression(&mut self, v: &Value) -> Expr {
        let Value::String(s) = v else {
            let kind = match v {
                Value::Bool(_) => Kind::Bool,
                Value::Number(_) => Kind::Number,
                _ => Kind::Any,
            };
            return Expr::new(literal(v), kind);
        };
        let ps = pieces(s);
        match ps.as_slice() {
            [] => Expr::new("\"\"", Kind::String),
            [Piece::Ref { r, raw }] => self.resolve(r, raw),
            _ => {
                let parts: Vec<String> = ps
                    .into_iter()
                    .map(|p| match p {
                        Piece::Text(t) => literal(&json!(t)),
                        Piece::Ref { r, raw } => format!("({})", self.resolve(&r, &raw).text()),
                    })
                    .collect();
                Expr::new(parts.join(" ~ "), Kind::String)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(
            escape_text("a {{ b }} {% c %} {# d #} {x}"),
            "a {{ \"{\" }}{ b }} {{ \"{\" }}% c %} {{ \"{\" }}# d #} {x}"
        );
        assert_eq!(
            literal(&json!({"a": [1, true, null, "x\"y"]})),
            "{\"a\": [1, true, none, \"x\\\"y\"]}"
        );
    }
}
