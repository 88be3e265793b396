//! `hookflow webhook create|list|show|delete|rotate-key`.

use reqwest::Method;
use serde_json::{Value, json};

use super::{Api, Outcome, pretty, seg};
use crate::cli::{ClientArgs, WebhookCommand};

/// `hookflow webhook …`.
pub async fn webhook(args: &ClientArgs, cmd: WebhookCommand) -> Outcome {
    let api = Api::new(args)?;
    match cmd {
        WebhookCommand::Create {
            name,
            content_type,
            rate_limit_per_minute,
            rate_limit_per_day,
            dedup_key,
            dedup_window_seconds,
        } => {
            let mut body = json!({"name": name, "content_type": content_type});
            if let Some(n) = rate_limit_per_minute {
                body["rate_limit_per_minute"] = json!(n);
            }
            if let Some(n) = rate_limit_per_day {
                body["rate_limit_per_day"] = json!(n);
            }
            if let Some(key) = dedup_key {
                body["dedup"] = json!({"key": key, "window_seconds": dedup_window_seconds});
            }
            let w = api.call(Method::POST, "/webhooks", Some(body)).await?;
            eprintln!(
                "created webhook {} ({})",
                w["name"].as_str().unwrap_or(""),
                w["id"].as_str().unwrap_or("")
            );
            outln!("{}", w["url"].as_str().unwrap_or(""));
        }
        WebhookCommand::List { json } => {
            let items = api.list("/webhooks", None).await?;
            if json {
                outln!("{}", pretty(&Value::Array(items)));
            } else {
                outln!(
                    "{:<36}  {:<24}  {:<34}  {:>8}  {:>8}",
                    "ID",
                    "NAME",
                    "CONTENT TYPE",
                    "PER MIN",
                    "PER DAY"
                );
                for w in &items {
                    outln!(
                        "{:<36}  {:<24}  {:<34}  {:>8}  {:>8}",
                        w["id"].as_str().unwrap_or(""),
                        w["name"].as_str().unwrap_or(""),
                        w["content_type"].as_str().unwrap_or(""),
                        // As text: `Value`'s Display ignores width and alignment.
                        w["rate_limit_per_minute"].to_string(),
                        w["rate_limit_per_day"].to_string(),
                    );
                }
            }
        }
        WebhookCommand::Show { id } => {
            let w = api
                .call(Method::GET, &format!("/webhooks/{}", seg(&id)), None)
                .await?;
            outln!("{}", pretty(&w));
        }
        WebhookCommand::Delete { id } => {
            api.call(Method::DELETE, &format!("/webhooks/{}", seg(&id)), None)
                .await?;
            eprintln!("deleted webhook {id}");
        }
        WebhookCommand::RotateKey { id, grace_seconds } => {
            let w = api
                .call(
                    Method::POST,
                    &format!("/webhooks/{}/rotate-key", seg(&id)),
                    Some(json!({"grace_seconds": grace_seconds})),
                )
                .await?;
            outln!("{}", w["url"].as_str().unwrap_or(""));
        }
    }
    Ok(0)
}
