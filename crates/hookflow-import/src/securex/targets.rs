//! Targets: the old product sent HTTP requests to a named target (a base URL with credentials)
//! chosen by the workflow, by a target group's criteria (`display_name eqi NAME`, often from a
//! variable), or by the caller of an atomic. hookflow steps carry full URLs, so each target
//! name resolves through `targets.yaml` (case-insensitively): a known name gives the base URL
//! (and the secret holding the Authorization header), a name only known at run time is looked
//! up in a table written into the URL template, and without a base URL the step fails naming
//! the target.

use serde_json::{Map, Value, json};

use super::context::Ctx;
use super::export::str_of;
use super::refs::{Piece, Ref, pieces};
use super::resolve::{escape_text, literal};

/// The target a step runs against.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetName {
    None,
    Literal(String),
    /// Known at run time: an expression yielding the name.
    Dynamic(String),
}

impl Ctx<'_, '_> {
    /// The workflow's own target (`properties.target`).
    pub fn workflow_target(&mut self, wf: &Value) -> TargetName {
        let t = &wf["properties"]["target"];
        if t["specify_on_workflow_start"].as_bool() == Some(true) {
            return match &self.plan.target_input {
                Some(input) => TargetName::Dynamic(format!("inputs.{input}")),
                None => TargetName::None,
            };
        }
        if t["execute_on_workflow_target"].as_bool() == Some(true) {
            return self.target_by_id(str_of(t, &["target_id"]).unwrap_or_default());
        }
        if t["execute_on_target_group"].as_bool() == Some(true) {
            return self.group_target(&t["target_group"]);
        }
        TargetName::None
    }

    fn target_by_id(&mut self, id: &str) -> TargetName {
        let name = self
            .corpus()
            .targets
            .get(id)
            .and_then(|t| str_of(t, &["name"]))
            .unwrap_or(id)
            .to_string();
        TargetName::Literal(name)
    }

    /// A target group with optional criteria: the name the criteria pick, else the group.
    fn group_target(&mut self, group: &Value) -> TargetName {
        let conditions: Vec<Value> = group["use_criteria"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for c in &conditions {
            let left = c["left_operand"].as_str().unwrap_or_default();
            let op = c["operator"].as_str().unwrap_or_default();
            let names_target = pieces(left).iter().any(|p| {
                matches!(p, Piece::Ref { r: Ref::TargetGroup { field }, .. } if field == "display_name" || field == "name")
            });
            if names_target && matches!(op, "eq" | "eqi") {
                let right = &c["right_operand"];
                let is_ref = right.as_str().is_some_and(super::refs::has_refs);
                if !is_ref && let Some(name) = right.as_str() {
                    return TargetName::Literal(name.to_string());
                }
                let e = self.expression(right);
                return TargetName::Dynamic(e.text());
            }
        }
        if !conditions.is_empty() {
            self.gap(
                "target",
                "target criteria other than `display_name eq/eqi NAME` are not translated: the target group's name is used",
            );
        }
        let gid = str_of(group, &["target_group_id"]).unwrap_or_default();
        let name = self
            .corpus()
            .target_groups
            .get(gid)
            .and_then(|g| str_of(g, &["name"]))
            .unwrap_or(gid);
        if name.is_empty() {
            TargetName::None
        } else {
            TargetName::Literal(name.to_string())
        }
    }

    /// The target an activity uses (`properties.target` of an HTTP request or a call).
    pub fn activity_target(&mut self, act: &Value) -> TargetName {
        let t = &act["properties"]["target"];
        if t["override_workflow_target"].as_bool() == Some(true)
            && let Some(id) = str_of(t, &["target_id"])
        {
            return self.target_by_id(id);
        }
        if t["override_workflow_target_group_criteria"].as_bool() == Some(true)
            || t["execute_on_this_target_group"].as_bool() == Some(true)
        {
            let group = if t["target_group"].is_object() {
                t["target_group"].clone()
            } else {
                json!({"target_group_id": t["target_group_id"]})
            };
            let mut group = group;
            if group["target_group_id"].is_null() {
                group["target_group_id"] = t["target_group_id"].clone();
            }
            return self.group_target(&group);
        }
        self.target.clone()
    }

    /// The `url` (and an Authorization header) of an HTTP request to `target` + `relative`
    /// (already a template value), or `Err(message)` when the target has no base URL: the step
    /// must then fail with that message.
    pub fn target_url(
        &mut self,
        target: &TargetName,
        relative: &Value,
        headers: &mut Map<String, Value>,
    ) -> Result<Value, String> {
        let rel = relative.as_str().unwrap_or_default().to_string();
        let join = |base: &str| -> String {
            let base = escape_text(base.trim().trim_end_matches('/'));
            if rel.is_empty() {
                base
            } else if rel.starts_with('/') || rel.starts_with('?') {
                format!("{base}{rel}")
            } else {
                format!("{base}/{rel}")
            }
        };
        let file = self.shared.targets_file;
        match target {
            TargetName::None => Err(
                "the request has no target: give its full URL in the step (SecureX ran it against no target)".to_string(),
            ),
            TargetName::Literal(name) => {
                self.note_target(name);
                match file.and_then(|f| f.find(name)) {
                    Some(t) => {
                        if !t.auth_secret.trim().is_empty() {
                            let secret = t.auth_secret.trim().to_string();
                            headers
                                .entry("Authorization")
                                .or_insert(json!(format!("{{{{ secrets.{secret} }}}}")));
                            self.secrets.push(secret);
                        }
                        Ok(json!(join(&t.base_url)))
                    }
                    None => {
                        self.targets_missing.push(name.clone());
                        Err(format!(
                            "target \"{}\" has no base URL: fill it in targets.yaml and import again with --targets targets.yaml",
                            escape_text(name)
                        ))
                    }
                }
            }
            TargetName::Dynamic(code) => {
                let known: Vec<&crate::TargetEntry> = file
                    .map(|f| f.targets.iter().filter(|t| !t.base_url.trim().is_empty()).collect())
                    .unwrap_or_default();
                if known.is_empty() {
                    self.targets_missing.push(format!("{{{{ {code} }}}}"));
                    return Err(format!(
                        "target \"{{{{ {code} }}}}\" (chosen at run time) has no base URL: list it in targets.yaml and import again with --targets targets.yaml"
                    ));
                }
                let table = literal(&Value::Object(
                    known
                        .iter()
                        .map(|t| (t.name.to_lowercase(), json!(t.base_url.trim().trim_end_matches('/'))))
                        .collect(),
                ));
                let key = format!("(({code}) | lower)");
                let base = format!(
                    "{{{{ {table}[{key}] if {key} in {table} else \"target-not-in-targets-file:\" ~ ({code}) }}}}"
                );
                let auths: Vec<(String, String)> = known
                    .iter()
                    .filter(|t| !t.auth_secret.trim().is_empty())
                    .map(|t| (t.name.to_lowercase(), t.auth_secret.trim().to_string()))
                    .collect();
                if !auths.is_empty() {
                    let entries: Vec<String> = auths
                        .iter()
                        .map(|(n, s)| format!("{}: secrets.{s}", literal(&json!(n))))
                        .collect();
                    let map = format!("{{{}}}", entries.join(", "));
                    headers.entry("Authorization").or_insert(json!(format!(
                        "{{{{ {map}[{key}] if {key} in {map} else \"\" }}}}"
                    )));
                    self.secrets.extend(auths.into_iter().map(|(_, s)| s));
                }
                let url = if rel.is_empty() {
                    base
                } else if rel.starts_with('/') || rel.starts_with('?') {
                    format!("{base}{rel}")
                } else {
                    format!("{base}/{rel}")
                };
                Ok(json!(url))
            }
        }
    }
}

/// The expression of a target name (for messages and calls).
pub fn target_value(t: &TargetName) -> Value {
    match t {
        TargetName::None => json!(""),
        TargetName::Literal(n) => json!(escape_text(n)),
        TargetName::Dynamic(code) => json!(format!("{{{{ {code} }}}}")),
    }
}
