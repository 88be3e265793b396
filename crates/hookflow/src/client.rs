//! Client commands: talk to a running server's management API with the admin token.

use anyhow::{Context, anyhow, bail};
use serde_json::{Value, json};

use crate::cli::{ClientArgs, WebhookCommand};

/// A management API client.
struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    fn new(args: &ClientArgs) -> anyhow::Result<Api> {
        let token = args
            .token
            .clone()
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| anyhow!("no admin token: set HOOKFLOW_TOKEN or pass --token"))?;
        Ok(Api {
            http: reqwest::Client::new(),
            base: args.url.trim_end_matches('/').to_string(),
            token,
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}/api/v1{path}", self.base);
        let mut req = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req
            .send()
            .await
            .with_context(|| format!("cannot reach the server at {}", self.base))?;
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        if !status.is_success() {
            let detail = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v.get("detail").and_then(Value::as_str).map(str::to_string))
                .unwrap_or(text);
            bail!(
                "{} {}: {detail}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            );
        }
        if text.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).context("the server's answer is not JSON")
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// `hookflow webhook …`.
pub async fn webhook(args: &ClientArgs, cmd: WebhookCommand) -> anyhow::Result<()> {
    let api = Api::new(args)?;
    use reqwest::Method;
    match cmd {
        WebhookCommand::Create {
            name,
            content_type,
            rate_limit_per_minute,
            rate_limit_per_day,
        } => {
            let mut body = json!({"name": name, "content_type": content_type});
            if let Some(n) = rate_limit_per_minute {
                body["rate_limit_per_minute"] = json!(n);
            }
            if let Some(n) = rate_limit_per_day {
                body["rate_limit_per_day"] = json!(n);
            }
            let w = api.call(Method::POST, "/webhooks", Some(body)).await?;
            eprintln!(
                "created webhook {} ({})",
                w["name"].as_str().unwrap_or(""),
                w["id"].as_str().unwrap_or("")
            );
            println!("{}", w["url"].as_str().unwrap_or(""));
        }
        WebhookCommand::List { json } => {
            let mut items = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let path = match &cursor {
                    Some(c) => format!("/webhooks?limit=500&cursor={c}"),
                    None => "/webhooks?limit=500".to_string(),
                };
                let page = api.call(Method::GET, &path, None).await?;
                items.extend(page["items"].as_array().cloned().unwrap_or_default());
                match page["next_cursor"].as_str() {
                    Some(c) => cursor = Some(c.to_string()),
                    None => break,
                }
            }
            if json {
                println!("{}", pretty(&Value::Array(items)));
            } else {
                println!(
                    "{:<36}  {:<24}  {:<34}  {:>8}  {:>8}",
                    "ID", "NAME", "CONTENT TYPE", "PER MIN", "PER DAY"
                );
                for w in &items {
                    println!(
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
                .call(Method::GET, &format!("/webhooks/{id}"), None)
                .await?;
            println!("{}", pretty(&w));
        }
        WebhookCommand::Delete { id } => {
            api.call(Method::DELETE, &format!("/webhooks/{id}"), None)
                .await?;
            eprintln!("deleted webhook {id}");
        }
        WebhookCommand::RotateKey { id, grace_seconds } => {
            let w = api
                .call(
                    Method::POST,
                    &format!("/webhooks/{id}/rotate-key"),
                    Some(json!({"grace_seconds": grace_seconds})),
                )
                .await?;
            println!("{}", w["url"].as_str().unwrap_or(""));
        }
    }
    Ok(())
}
