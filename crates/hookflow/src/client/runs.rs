//! `hookflow run list|show|cancel`.

use reqwest::Method;

use super::{Api, Outcome, item, print_list, seg, text};
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
            let headers = ["ID", "WORKFLOW", "STATUS", "CREATED"];
            print_list(items, json, &headers, |r| {
                vec![
                    text(&r["id"]),
                    text(&r["workflow"]),
                    text(&r["status"]),
                    text(&r["created_at"]),
                ]
            });
        }
        RunCommand::Show { id } => api.show(&item("runs", &id)).await?,
        RunCommand::Cancel { id } => {
            let r = api
                .call(Method::POST, &format!("{}/cancel", item("runs", &id)), None)
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
            &item("workflows", id_or_name),
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
