//! Reading a `python` step (SPEC §11): `script`, `args` (a list of values rendered to text) and
//! `variables` (`{name, type}` of the module-level variables read when the script ends).

use serde_json::{Map, Value};

use super::super::model::{StepKind, VarDecl, VarType};
use super::super::parse::{describe, suggest};
use super::super::path::{field, index};
use super::Reader;

impl Reader {
    pub(super) fn python_step(&mut self, m: &Map<String, Value>, path: &str) -> StepKind {
        let script = self.req_string(m, path, "script");
        let args = match Self::opt(m, "args") {
            None => Vec::new(),
            Some(v) => {
                let ap = field(path, "args");
                let items = self.list(v, &ap, "arguments").to_vec();
                for (i, a) in items.iter().enumerate() {
                    if a.is_object() || a.is_array() {
                        self.err(
                            index(&ap, i),
                            format!(
                                "expected an argument (a string, number or boolean; a template \
                                 such as \"{{{{ x | tojson }}}}\" passes a structure as JSON \
                                 text), found {}",
                                describe(a)
                            ),
                        );
                    }
                }
                items
            }
        };
        let mut variables = Vec::new();
        if let Some(v) = Self::opt(m, "variables") {
            let vp = field(path, "variables");
            let names: Vec<&str> = VarType::ALL.iter().map(|t| t.as_str()).collect();
            for (i, d) in self.list(v, &vp, "variables").iter().enumerate() {
                let p = index(&vp, i);
                let Some(dm) = self.object(d, &p, "a script variable", &["name", "type"]) else {
                    continue;
                };
                let name = self.req_string(dm, &p, "name");
                let ty = match self.req(dm, &p, "type") {
                    None => VarType::String,
                    Some(Value::String(s)) => VarType::from_name(s).unwrap_or_else(|| {
                        let hint = suggest(s, &names)
                            .map(|s| format!("did you mean \"{s}\"? "))
                            .unwrap_or_default();
                        self.err(
                            field(&p, "type"),
                            format!(
                                "unknown type \"{s}\" ({hint}expected one of: {})",
                                names.join(", ")
                            ),
                        );
                        VarType::String
                    }),
                    Some(other) => {
                        self.err(
                            field(&p, "type"),
                            format!(
                                "expected a type name ({}), found {}",
                                names.join(", "),
                                describe(other)
                            ),
                        );
                        VarType::String
                    }
                };
                variables.push(VarDecl {
                    name,
                    r#type: ty,
                    default: None,
                    required: false,
                });
            }
        }
        StepKind::Python {
            script,
            args,
            variables,
        }
    }
}
