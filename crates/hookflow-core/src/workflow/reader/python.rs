//! Reading a `python` step (SPEC §11): `script`, `args` (a list of values rendered to text) and
//! `variables` (`{name, type}` of the module-level variables read when the script ends).

use serde_json::{Map, Value};

use super::super::model::{StepKind, VarDecl};
use super::super::parse::describe;
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
            for (i, d) in self.list(v, &vp, "variables").iter().enumerate() {
                let p = index(&vp, i);
                let Some(dm) = self.object(d, &p, "a script variable", &["name", "type"]) else {
                    continue;
                };
                let name = self.req_string(dm, &p, "name");
                let ty = self.var_type(dm, &p);
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
