//! `hookflow workflow apply|list|show|run|enable|disable|delete`. `apply` creates or replaces a
//! workflow by its name, so a definition kept in a repository can be applied again and again.

use std::io::Read;

use anyhow::{Context, anyhow, bail};
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};

use super::{Api, Body, Outcome, item, pretty, print_list, text};
use crate::cli::{ClientArgs, WorkflowCommand};

/// The two formats a definition is sent in.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Format {
    Yaml,
    Json,
}

impl Format {
    /// By the file name's extension; otherwise sniffed: a document starting with `{` is JSON.
    fn of(file: &str, text: &str) -> Format {
        let lower = file.to_ascii_lowercase();
        let sniffed_json = || {
            text.trim_start_matches('\u{feff}')
                .trim_start()
                .starts_with('{')
        };
        if lower.ends_with(".yaml") || lower.ends_with(".yml") {
            Format::Yaml
        } else if lower.ends_with(".json") || sniffed_json() {
            Format::Json
        } else {
            Format::Yaml
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Yaml => "application/yaml",
            Format::Json => "application/json",
        }
    }
}

/// The document's `name`, read locally to find the workflow to replace. `None` when the
/// document does not parse or has no name: the server then explains what is wrong.
fn name_of(text: &str, format: Format) -> Option<String> {
    let doc: Value = match format {
        Format::Json => serde_json::from_str(text).ok()?,
        Format::Yaml => serde_saphyr::from_str(text).ok()?,
    };
    doc.get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
}

/// The `  PATH: MESSAGE` lines of a list of validation errors.
pub(super) fn error_lines(errors: &Value) -> Vec<String> {
    errors
        .as_array()
        .map(|errs| {
            errs.iter()
                .map(|e| {
                    let path = text(&e["path"]);
                    let message = text(&e["message"]);
                    if path.is_empty() {
                        format!("  {message}")
                    } else {
                        format!("  {path}: {message}")
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A failed save: the server's explanation, with the document's errors one per line when it
/// could not be read at all (422 with `errors`).
fn save_error(answer: &super::Answer) -> anyhow::Error {
    let lines = error_lines(&answer.body["errors"]);
    if lines.is_empty() {
        answer.error()
    } else {
        anyhow!(
            "{} {}: the workflow document cannot be read:\n{}",
            answer.status.as_u16(),
            answer.status.canonical_reason().unwrap_or(""),
            lines.join("\n")
        )
    }
}

/// The id of the workflow named exactly `name`, looked up in the list.
async fn id_by_name(api: &Api, name: &str) -> anyhow::Result<Option<String>> {
    let items = api.list("/workflows", None).await?;
    Ok(items
        .iter()
        .find(|w| w["name"].as_str() == Some(name))
        .map(|w| text(&w["id"])))
}

/// Creates the workflow `source` (YAML or JSON) or, when its name is taken, replaces that
/// workflow: the saved workflow and `"created"` or `"updated"`.
pub(super) async fn save(
    api: &Api,
    source: &str,
    yaml: bool,
) -> anyhow::Result<(Value, &'static str)> {
    let format = if yaml { Format::Yaml } else { Format::Json };
    let raw = || Body::Raw {
        content_type: format.content_type(),
        text: source.to_string(),
    };
    // Create; a name already taken means: replace that workflow.
    let created = api.send(Method::POST, "/workflows", raw()).await?;
    if created.status == StatusCode::CONFLICT {
        let name = name_of(source, format).ok_or_else(|| created.error())?;
        let id = id_by_name(api, &name)
            .await?
            .ok_or_else(|| created.error())?;
        let replaced = api
            .send(Method::PUT, &item("workflows", &id), raw())
            .await?;
        if !replaced.status.is_success() {
            return Err(save_error(&replaced));
        }
        Ok((replaced.body, "updated"))
    } else if created.status.is_success() {
        Ok((created.body, "created"))
    } else {
        Err(save_error(&created))
    }
}

/// `hookflow workflow apply -f FILE`.
async fn apply(api: &Api, file: &str) -> Outcome {
    let source = if file == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("cannot read the workflow from standard input")?;
        s
    } else {
        std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))?
    };
    if source.trim().is_empty() {
        bail!("{file} is empty: a workflow document is expected");
    }
    let format = Format::of(file, &source);
    let (w, verb) = save(api, &source, format == Format::Yaml).await?;
    let (name, id) = (text(&w["name"]), text(&w["id"]));
    eprintln!("{verb} workflow {name} ({id})");
    let validation = &w["validation"];
    if validation["status"].as_str() == Some("valid") {
        outln!("workflow {name} ({id}): valid");
        Ok(0)
    } else {
        outln!("workflow {name} ({id}): invalid");
        for line in error_lines(&validation["errors"]) {
            outln!("{line}");
        }
        Ok(2)
    }
}

/// The inputs of a manual run: `--inputs-json`, then each `--input NAME=VALUE` over it.
fn run_inputs(input: &[String], inputs_json: Option<&str>) -> anyhow::Result<Map<String, Value>> {
    let mut inputs = match inputs_json {
        None => Map::new(),
        Some(j) => match serde_json::from_str::<Value>(j) {
            Ok(Value::Object(m)) => m,
            Ok(_) => bail!("--inputs-json must be a JSON object, like '{{\"who\": \"world\"}}'"),
            Err(e) => bail!("--inputs-json is not JSON: {e}"),
        },
    };
    for pair in input {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| anyhow!("--input {pair:?} must be NAME=VALUE"))?;
        let name = name.trim();
        if name.is_empty() {
            bail!("--input {pair:?} has no name before =");
        }
        let value =
            serde_json::from_str::<Value>(value).unwrap_or_else(|_| Value::String(value.into()));
        inputs.insert(name.to_string(), value);
    }
    Ok(inputs)
}

/// `hookflow workflow run`.
async fn start_run(
    api: &Api,
    id: &str,
    input: &[String],
    inputs_json: Option<&str>,
    wait: Option<f64>,
) -> Outcome {
    let inputs = run_inputs(input, inputs_json)?;
    let mut path = format!("{}/runs", item("workflows", id));
    if let Some(w) = wait {
        if !w.is_finite() || w < 0.0 {
            bail!("--wait must be a number of seconds, 0 or more");
        }
        path.push_str(&format!("?wait={w}"));
    }
    let r = api
        .call(Method::POST, &path, Some(json!({ "inputs": inputs })))
        .await?;
    outln!("{}", pretty(&r));
    let status = text(&r["status"]);
    let run_id = text(&r["id"]);
    match status.as_str() {
        "succeeded" => {
            eprintln!("run {run_id} succeeded");
            Ok(0)
        }
        "failed" | "cancelled" => {
            let why = text(&r["error"]);
            if why.is_empty() {
                eprintln!("run {run_id} {status}");
            } else {
                eprintln!("run {run_id} {status}: {why}");
            }
            Ok(1)
        }
        _ if wait.is_some() => {
            eprintln!(
                "run {run_id} is still {status} after {}s; follow it with: hookflow run show \
                 {run_id}",
                wait.unwrap_or_default()
            );
            Ok(1)
        }
        _ => {
            eprintln!("started run {run_id} ({status})");
            Ok(0)
        }
    }
}

/// `hookflow workflow enable|disable`.
pub(super) async fn set_enabled(api: &Api, id: &str, enabled: bool) -> anyhow::Result<()> {
    let w = api
        .call(
            Method::PATCH,
            &item("workflows", id),
            Some(json!({ "enabled": enabled })),
        )
        .await?;
    let verb = if enabled { "enabled" } else { "disabled" };
    eprintln!("{verb} workflow {} ({})", text(&w["name"]), text(&w["id"]));
    if enabled && w["validation"]["status"].as_str() == Some("invalid") {
        eprintln!("note: the workflow is invalid, so its triggers start no runs until it is fixed");
    }
    Ok(())
}

/// `hookflow workflow …`.
pub async fn workflow(args: &ClientArgs, cmd: WorkflowCommand) -> Outcome {
    let api = Api::new(args)?;
    match cmd {
        WorkflowCommand::Apply { file } => return apply(&api, &file).await,
        WorkflowCommand::List { json } => {
            let items = api.list("/workflows", None).await?;
            let headers = ["ID", "NAME", "ENABLED", "VALIDATION"];
            print_list(items, json, &headers, |w| {
                let status = text(&w["validation"]["status"]);
                let n = w["validation"]["errors"].as_array().map_or(0, Vec::len);
                let validation = match n {
                    0 => status,
                    1 => format!("{status} (1 error)"),
                    n => format!("{status} ({n} errors)"),
                };
                let enabled = if w["enabled"].as_bool() == Some(true) {
                    "yes"
                } else {
                    "no"
                };
                vec![
                    text(&w["id"]),
                    text(&w["name"]),
                    enabled.to_string(),
                    validation,
                ]
            });
        }
        WorkflowCommand::Show { id } => api.show(&item("workflows", &id)).await?,
        WorkflowCommand::Run {
            id,
            input,
            inputs_json,
            wait,
        } => return start_run(&api, &id, &input, inputs_json.as_deref(), wait).await,
        WorkflowCommand::Enable { id } => set_enabled(&api, &id, true).await?,
        WorkflowCommand::Disable { id } => set_enabled(&api, &id, false).await?,
        WorkflowCommand::Delete { id } => {
            api.delete(&item("workflows", &id), &format!("workflow {id}"))
                .await?
        }
        WorkflowCommand::Versions { id, json } => {
            let items = api
                .list(&format!("{}/versions", item("workflows", &id)), None)
                .await?;
            let headers = ["VERSION", "NAME", "VALIDATION", "SAVED"];
            print_list(items, json, &headers, |v| {
                vec![
                    v["version"].to_string(),
                    text(&v["name"]),
                    text(&v["validation"]["status"]),
                    text(&v["created_at"]),
                ]
            });
        }
        WorkflowCommand::Version { id, n, json } => {
            let v = api
                .call(
                    Method::GET,
                    &format!("{}/versions/{n}", item("workflows", &id)),
                    None,
                )
                .await?;
            if json {
                outln!("{}", pretty(&v));
            } else {
                let source = text(&v["source"]);
                outln!("{}", source.strip_suffix('\n').unwrap_or(&source));
            }
        }
    }
    Ok(0)
}
