//! Every generated document checked by hookflow's own validator (hookflow-core), with the
//! generated events, workflows and secrets taken as existing — as they will once applied.

use hookflow_core::expr::{ExprLimits, Sandbox};
use hookflow_core::workflow::{Format, KnownNames, parse, validate};

/// The generated events, workflows and secrets, and what each generated workflow calls.
pub type Generated = KnownNames;

/// The validation errors of a YAML document (empty: valid).
pub fn check(yaml: &str, catalog: &Generated, sandbox: &Sandbox) -> Vec<String> {
    match parse(yaml, Format::Yaml) {
        Ok((wf, _)) => validate(&wf, catalog, sandbox)
            .into_iter()
            .map(|e| e.to_string())
            .collect(),
        Err(errors) => errors.into_iter().map(|e| e.to_string()).collect(),
    }
}

pub fn sandbox() -> Sandbox {
    Sandbox::new(ExprLimits::default())
}
