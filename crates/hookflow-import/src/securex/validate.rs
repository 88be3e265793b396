//! Every generated document checked by hookflow's own validator (hookflow-core), with the
//! generated events, workflows and secrets taken as existing — as they will once applied.

use std::collections::{HashMap, HashSet};

use hookflow_core::expr::{ExprLimits, Sandbox};
use hookflow_core::workflow::{Catalog, Format, parse, validate};

pub struct Generated {
    pub events: HashSet<String>,
    pub workflows: HashSet<String>,
    pub secrets: HashSet<String>,
    pub calls: HashMap<String, Vec<String>>,
}

impl Catalog for Generated {
    fn event_exists(&self, name_or_id: &str) -> bool {
        self.events.contains(name_or_id)
    }
    fn workflow_exists(&self, name: &str) -> bool {
        self.workflows.contains(name)
    }
    fn secret_exists(&self, name: &str) -> bool {
        self.secrets.contains(name)
    }
    fn workflow_calls(&self, name: &str) -> Vec<String> {
        self.calls.get(name).cloned().unwrap_or_default()
    }
}

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
