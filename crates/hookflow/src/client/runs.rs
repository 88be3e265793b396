//! `hookflow run list|show|cancel`.

use reqwest::Method;
use serde_json::Value;

use super::{Api, Outcome, pretty, print_table, seg, text};
use crate::cli::{ClientArgs, RunCommand};

/// `hookflow run …`.
pub async fn run(args: &ClientArgs, cmd: RunCommand) -> Outcome {
    let api = Api::new(args)?;
    match cmd {
        RunCommand::List {
            workflow,
            status,
            limit,
            json,
        } => {
            let mut query = Vec::new();
            if let Some(w) = workflow {
                query.push(format!(
                    "workflow_id={}",
                    seg(&workflow_id(&api, &w).await?)
                ));
            }
            if let Some(s) = status {
                query.push(format!("status={}", seg(&s)));
            }
            let path = if query.is_empty() {
                "/runs".to_string()
            } else {
                format!("/runs?{}", query.join("&"))
            };
            let items = api.list(&path, Some(limit)).await?;
            if json {
                outln!("{}", pretty(&Value::Array(items)));
            } else {
                let rows: Vec<Vec<String>> = items
                    .iter()
                    .map(|r| {
                        vec![
                            text(&r["id"]),
                            text(&r["workflow"]),
                            text(&r["status"]),
                            text(&r["created_at"]),
                        ]
                    })
                    .collect();
                print_table(&["ID", "WORKFLOW", "STATUS", "CREATED"], &rows);
            }
        }
        RunCommand::Show { id } => {
            let r = api
                .call(Method::GET, &format!("/runs/{}", seg(&id)), None)
                .await?;
            outln!("{}", pretty(&r));
        }
        RunCommand::Cancel { id } => {
            let r = api
                .call(Method::POST, &format!("/runs/{}/cancel", seg(&id)), None)
                .await?;
            eprintln!(
                "cancel requested for run {id} (status now {})",
                text(&r["status"])
            );
        }
    }
    Ok(0)
}

/// The id of a workflow given by id or name; a workflow that no longer exists may still have
/// runs, so an unknown one is passed on as given.
async fn workflow_id(api: &Api, id_or_name: &str) -> anyhow::Result<String> {
    let answer = api
        .send(
            Method::GET,
            &format!("/workflows/{}", seg(id_or_name)),
            super::Body::None,
        )
        .await?;
    if answer.status.is_success() {
        Ok(text(&answer.body["id"]))
    } else if answer.status == reqwest::StatusCode::NOT_FOUND {
        Ok(id_or_name.to_string())
    } else {
        Err(answer.error())
    }
}
