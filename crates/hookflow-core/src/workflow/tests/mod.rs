//! Parser and validator tests, one file per topic: `valid.rs` (the SPEC §4 example, round
//! trips, defaults, references that resolve), `broken.rs` (a table of broken definitions, each
//! with the exact path and a distinctive part of the message) and `documents.rs` (size and depth
//! limits, YAML 1.2, content types, literal types). This file holds the shared catalog and
//! document helpers.

use super::*;
use crate::expr::{ExprLimits, Sandbox};

mod broken;
mod documents;
mod valid;

struct TestCatalog;

impl Catalog for TestCatalog {
    fn event_exists(&self, name_or_id: &str) -> bool {
        matches!(name_or_id, "alerts" | "evt_0001" | "pushes")
    }
    fn workflow_exists(&self, name: &str) -> bool {
        matches!(name, "child" | "notify-on-alert")
    }
    fn secret_exists(&self, name: &str) -> bool {
        name == "chat_token"
    }
}

const SPEC_EXAMPLE: &str = r#"
name: notify-on-alert          # unique
description: Tell the on-call channel about high alerts
inputs:                        # for manual runs and sub-workflow calls
  - {name: severity, type: string, default: low}
variables:                     # local variables
  - {name: ticket, type: string}
outputs:
  - {name: ticket, type: string}
triggers:
  - event: alerts              # an event's name or id
steps:
  - id: only_high
    type: condition
    branches:
      - when: trigger.body.severity == "high"
        steps:
          - id: post
            type: http_request
            method: POST
            url: http://127.0.0.1:9000/notify
            headers: {Authorization: "Bearer {{ secrets.chat_token }}"}
            body: {text: "Alert {{ trigger.body.title }}"}
            retry: {max_attempts: 3, backoff: 1s}
          - id: keep
            type: set_variables
            values: {ticket: "{{ steps.post.output.body.id }}"}
    else: []
  - id: done
    type: complete
    outputs: {ticket: "{{ vars.ticket }}"}
"#;

fn sandbox() -> Sandbox {
    Sandbox::new(ExprLimits::default())
}

/// Parse errors if the document does not parse, else validation errors.
fn errors_of(text: &str, format: Format) -> Vec<ValidationError> {
    match parse(text, format) {
        Ok((wf, _)) => validate(&wf, &TestCatalog, &sandbox()),
        Err(errors) => errors,
    }
}

/// A document with a fixed header (inputs `severity`; variables `a` string, `b` integer,
/// `when` datetime; output `ticket`; trigger `alerts`) and the given steps.
fn doc(steps: &str) -> String {
    format!(
        "name: wf\n\
         inputs: [{{name: severity, type: string, default: low}}]\n\
         variables: [{{name: a, type: string}}, {{name: b, type: integer}}, {{name: at, type: datetime}}]\n\
         outputs: [{{name: ticket, type: string}}]\n\
         triggers: [{{event: alerts}}]\n\
         steps:\n{steps}"
    )
}
