//! `hookflow webhook create|list|show|verify|delete|rotate-key|replay`.

use reqwest::Method;
use serde_json::{Value, json};

use super::{Api, Outcome, item, pretty};
use crate::cli::{ClientArgs, VerifyArgs, WebhookCommand};

/// The `verification` object of the flags given (`None` when none is).
fn verification(v: VerifyArgs) -> Option<Value> {
    let mut out = serde_json::Map::new();
    let mut put = |k: &str, val: Option<Value>| {
        if let Some(val) = val {
            out.insert(k.to_string(), val);
        }
    };
    put("scheme", v.scheme.map(Value::from));
    put("secret", v.secret.map(Value::from));
    put("mode", v.mode.map(Value::from));
    put("tolerance_seconds", v.tolerance_seconds.map(Value::from));
    put("require_api_key", v.require_api_key.map(Value::from));
    put("header", v.header.map(Value::from));
    put("algorithm", v.algorithm.map(Value::from));
    put("encoding", v.encoding.map(Value::from));
    put("prefix", v.prefix.map(Value::from));
    (!out.is_empty()).then_some(Value::Object(out))
}

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
            verify,
        } => {
            let mut body = json!({"name": name, "content_type": content_type});
            // A secret alone (HOOKFLOW_VERIFY_SECRET set in the shell) asks for no verification.
            let verify = VerifyArgs {
                secret: verify.secret.filter(|_| verify.scheme.is_some()),
                ..verify
            };
            if let Some(v) = verification(verify) {
                body["verification"] = v;
            }
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
        WebhookCommand::Verify {
            id,
            verify,
            previous_secret_grace_seconds,
            remove,
        } => {
            let v = if remove {
                Value::Null
            } else {
                let mut v = verification(verify).unwrap_or_else(|| json!({}));
                if let Some(g) = previous_secret_grace_seconds {
                    v["previous_secret_grace_seconds"] = json!(g);
                }
                v
            };
            let w = api
                .call(
                    Method::PATCH,
                    &item("webhooks", &id),
                    Some(json!({ "verification": v })),
                )
                .await?;
            outln!("{}", pretty(&w));
        }
        WebhookCommand::Show { id } => api.show(&item("webhooks", &id)).await?,
        WebhookCommand::Delete { id } => {
            api.delete(&item("webhooks", &id), &format!("webhook {id}"))
                .await?
        }
        WebhookCommand::Replay {
            id,
            from,
            to,
            replay,
        } => super::replay::webhook_replay(&api, &id, (from, to), replay).await?,
        WebhookCommand::RotateKey { id, grace_seconds } => {
            let w = api
                .call(
                    Method::POST,
                    &format!("{}/rotate-key", item("webhooks", &id)),
                    Some(json!({"grace_seconds": grace_seconds})),
                )
                .await?;
            outln!("{}", w["url"].as_str().unwrap_or(""));
        }
    }
    Ok(0)
}
