//! Checks of the fields SPEC §11 added for migrated workflows: where `break` and `continue` may
//! stand, step titles, and templates whose type is known not to fit the variable or output they
//! set.

use super::literal::fits;
use super::model::{Step, StepKind, VarDecl};
use super::path::field;
use super::scope::{may_fit, value_type};
use super::validate::Validator;
use crate::expr::Known;

/// Longest step title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;

impl Validator<'_> {
    /// A step's `title`: text a person reads beside the step id.
    pub(super) fn title(&mut self, step: &Step, path: &str) {
        if let Some(title) = &step.title {
            let chars = title.chars().count();
            if chars > MAX_TITLE_CHARS {
                self.err(
                    field(path, "title"),
                    format!(
                        "the title is {chars} characters long; at most {MAX_TITLE_CHARS} are allowed"
                    ),
                );
            } else if title.chars().any(char::is_control) {
                self.err(
                    field(path, "title"),
                    "the title must not contain control characters (such as line breaks)",
                );
            }
        }
    }

    /// `break` and `continue` act on the innermost `for_each` or `while` around them, through
    /// conditions — not from a `parallel` branch, whose siblings run at the same time.
    pub(super) fn loop_control(&mut self, ord: usize) {
        let info = &self.infos[ord];
        let (path, ty) = (info.path.clone(), info.step.type_name());
        let Some(loop_ord) = info.loop_ord else {
            self.err(
                path,
                format!("a {ty} step is valid only inside the steps of a for_each or while"),
            );
            return;
        };
        let parallel = info
            .branches
            .iter()
            .map(|(c, _)| *c)
            .filter(|c| *c > loop_ord)
            .find(|c| matches!(self.infos[*c].step.kind, StepKind::Parallel { .. }));
        if let Some(p) = parallel {
            let (pid, lid) = (
                self.infos[p].step.id.clone(),
                self.infos[loop_ord].step.id.clone(),
            );
            self.err(
                path,
                format!(
                    "a {ty} step cannot act on loop \"{lid}\" from inside parallel step \"{pid}\" (its branches run at the same time)"
                ),
            );
        }
    }

    /// A template assigned to a declared variable or output whose value is known not to fit
    /// its type (`{{ now() }}` into an integer, text into a boolean).
    pub(super) fn assigned_template(&mut self, d: &VarDecl, src: &str, path: &str, what: &str) {
        let Ok(i) = self.sandbox.inspect_template(src) else {
            return; // reported where the template is checked
        };
        let name = &d.name;
        let ty = d.r#type;
        let problem = match i.result {
            Known::Literal(v) => fits(ty, &v).err(),
            Known::Type(got) if !may_fit(ty, got) => {
                Some(format!("the template gives {}", got.describe()))
            }
            Known::Path(p) => match self.declared_type(&p) {
                Some(t) if !may_fit(ty, value_type(t)) => Some(format!("{p} is declared {t}")),
                _ => None,
            },
            _ => None,
        };
        if let Some(p) = problem {
            self.err(path, format!("{what} \"{name}\" is {ty}, but {p}"));
        }
    }
}
