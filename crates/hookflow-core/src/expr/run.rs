//! Evaluating compiled forms against a context: converting the context, running a bare
//! expression or a text template (with its output cap) and turning the result into JSON. A
//! source is compiled and checked first, in `compile.rs`.

use std::sync::Arc;

use minijinja::value::Value;
use serde_json::Value as Json;

use super::analyze::Needs;
use super::compile::{Compiled, Mode, RESULT_VAR, TEMPLATE_NAME};
use super::text::{CappedWriter, push_pointer_key};
use super::{ExprError, ExprLimits, Sandbox, convert, is_template};

impl Sandbox {
    pub(super) fn build(
        &self,
        v: &Json,
        root: &Value,
        compiled: &mut std::vec::IntoIter<Arc<Compiled>>,
        pointer: &mut String,
    ) -> Result<Json, ExprError> {
        Ok(match v {
            Json::String(s) if is_template(s) => {
                let c = compiled.next().expect("compiled in the first pass");
                self.render_one(&c, root.clone())
                    .map_err(|e| e.at(pointer))?
            }
            Json::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&i.to_string());
                    out.push(self.build(item, root, compiled, pointer)?);
                    pointer.truncate(len);
                }
                Json::Array(out)
            }
            Json::Object(map) => {
                let mut out = serde_json::Map::new();
                for (k, item) in map {
                    let len = pointer.len();
                    push_pointer_key(pointer, k);
                    out.insert(k.clone(), self.build(item, root, compiled, pointer)?);
                    pointer.truncate(len);
                }
                Json::Object(out)
            }
            other => other.clone(),
        })
    }

    pub(super) fn render_one(&self, c: &Compiled, root: Value) -> Result<Json, ExprError> {
        match c.mode {
            Mode::Expr => {
                let v = self.run_expr(c, root)?;
                self.result_json(c, &v)
            }
            Mode::Text => self.run_text(c, root).map(Json::String),
        }
    }

    pub(super) fn limits(&self) -> &ExprLimits {
        &self.inner.limits
    }

    pub(super) fn context(&self, ctx: &Json, needs: &Needs) -> Result<Value, ExprError> {
        convert::context(ctx, needs).map_err(ExprError::new)
    }

    pub(super) fn run_expr(&self, c: &Compiled, root: Value) -> Result<Value, ExprError> {
        let t = c
            .env
            .get_template(TEMPLATE_NAME)
            .map_err(|e| c.error(&e, self.limits()))?;
        let captured = t
            .render_captured(root)
            .map_err(|e| c.error(&e, self.limits()))?;
        Ok(captured
            .state()
            .lookup(RESULT_VAR)
            .unwrap_or(Value::UNDEFINED))
    }

    pub(super) fn run_text(&self, c: &Compiled, root: Value) -> Result<String, ExprError> {
        let t = c
            .env
            .get_template(TEMPLATE_NAME)
            .map_err(|e| c.error(&e, self.limits()))?;
        let mut out = CappedWriter {
            buf: Vec::new(),
            cap: self.limits().max_output_bytes,
            exceeded: false,
        };
        match t.render_captured_to(root, &mut out) {
            Ok(_) => {}
            Err(_) if out.exceeded => {
                return Err(c.message(
                    &format!(
                        "the rendered text exceeds the limit of {} bytes",
                        self.limits().max_output_bytes
                    ),
                    None,
                ));
            }
            Err(e) => return Err(c.error(&e, self.limits())),
        }
        String::from_utf8(out.buf).map_err(|_| c.message("the rendered text is not UTF-8", None))
    }

    pub(super) fn result_json(&self, c: &Compiled, v: &Value) -> Result<Json, ExprError> {
        let mut budget = self.limits().max_output_bytes;
        convert::to_json(v, &mut budget).map_err(|m| c.message(&m, None))
    }
}
