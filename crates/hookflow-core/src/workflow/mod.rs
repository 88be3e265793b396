//! Workflow definitions (SPEC §4): the typed model the engine runs, the parser that reads it from
//! a YAML or JSON document, and the validator that decides `validation.status`.
//!
//! ```text
//! text ──parse──▶ (Workflow, document as JSON) ──validate(catalog, sandbox)──▶ [ValidationError]
//! ```
//!
//! Both stages report errors as `{path, message}`, where `path` points into the document
//! (`steps[0].branches[0].steps[1].url`) and the message says what was expected. All errors are
//! collected, not just the first. Pure code: no I/O; what exists outside the document (events,
//! other workflows, secrets) is asked of a [`Catalog`].

mod calls;
mod checks;
mod duration;
mod literal;
mod model;
mod parse;
mod path;
mod reader;
mod scope;
mod script;
mod step_checks;
#[cfg(test)]
mod tests;
mod validate;

use serde::{Deserialize, Serialize};

pub use checks::MAX_TITLE_CHARS;
pub use duration::{format_duration, parse_duration, parse_duration_str};
pub use literal::{fits, is_rfc3339};
pub use model::{Branch, Retry, STEP_TYPES, Step, StepKind, Trigger, VarDecl, VarType, Workflow};
pub(crate) use parse::suggest as suggest_name;
pub use parse::{
    Format, MAX_DEPTH, MAX_DOCUMENT_BYTES, MAX_ERRORS, MAX_STEPS, from_value, parse, parse_document,
};
pub use path::is_identifier;
pub use validate::{
    Catalog, HTTP_METHODS, KnownNames, MAX_ATTEMPTS, MAX_BACKOFF_MS, MAX_ITERATIONS,
    MAX_NAME_CHARS, MAX_PARALLEL_BRANCHES, MAX_SLEEP_MS, MAX_TIMEOUT_MS, RESERVED_NAMES,
    TRIGGER_FIELDS, validate,
};

/// One problem in a workflow document: where (`path`, in the document's shape, `""` for the
/// document as a whole) and what was expected (`message`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ValidationError {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for ValidationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Keeps at most [`MAX_ERRORS`] errors, summarising the rest in one last error.
pub(crate) fn cap_errors(mut errors: Vec<ValidationError>) -> Vec<ValidationError> {
    if errors.len() > MAX_ERRORS {
        let more = errors.len() - MAX_ERRORS;
        errors.truncate(MAX_ERRORS);
        errors.push(ValidationError {
            path: String::new(),
            message: format!("… and {more} more errors"),
        });
    }
    errors
}
