//! Conditions: the old product's `{left_operand, operator, right_operand}` trees (with `and` /
//! `or` nodes whose operands are conditions) as hookflow bare expressions, by the operator
//! table of `mapping.rs`.

use serde_json::Value;

use super::context::Ctx;
use super::mapping::{self, Kind, Op};
use super::resolve::Expr;

impl Ctx<'_, '_> {
    /// The expression of a condition, or why it cannot be translated.
    pub fn condition(&mut self, c: &Value) -> Result<String, String> {
        let Some(op_name) = c["operator"].as_str() else {
            return Err("the condition has no operator".into());
        };
        let Some(op) = mapping::operator(op_name) else {
            return Err(format!("condition operator \"{op_name}\" is not known"));
        };
        let (left, right) = (&c["left_operand"], &c["right_operand"]);
        Ok(match op {
            Op::And | Op::Or => {
                let l = self.condition(left)?;
                let r = self.condition(right)?;
                let word = if matches!(op, Op::And) { "and" } else { "or" };
                format!("({l}) {word} ({r})")
            }
            Op::Infix(o) => {
                let (l, r) = (self.expression(left), self.expression(right));
                format!("{} {o} {}", l.atom(), r.atom())
            }
            Op::Compare(o) => {
                let (l, r) = (self.expression(left), self.expression(right));
                if l.kind == Kind::Number
                    || r.kind == Kind::Number
                    || numeric(left)
                    || numeric(right)
                {
                    format!("{} {o} {}", as_number(&l), as_number(&r))
                } else {
                    format!("{} {o} {}", l.atom(), r.atom())
                }
            }
            Op::Test(t) => {
                let (l, r) = (self.expression(left), self.expression(right));
                format!("{} is {t}({})", l.atom(), r.code)
            }
            Op::NotTest(t) => {
                let (l, r) = (self.expression(left), self.expression(right));
                format!("{} is not {t}({})", l.atom(), r.code)
            }
        })
    }
}

/// A literal number, or a string that holds one.
fn numeric(v: &Value) -> bool {
    v.is_number() || v.as_str().is_some_and(|s| s.trim().parse::<f64>().is_ok())
}

fn as_number(e: &Expr) -> String {
    if e.kind == Kind::Number {
        e.atom()
    } else {
        format!("({} | float)", e.atom())
    }
}
