//! `hookflow event create|list|show|delete`.

use reqwest::Method;
use serde_json::{Value, json};

use super::{Api, Outcome, item, print_list, text};
use crate::cli::{ClientArgs, EventCommand};

/// What an event listens to, for the table: the webhook id, or the cron with its time zone.
fn source(e: &Value) -> String {
    match e["schedule"].as_str() {
        Some(cron) => match e["timezone"].as_str() {
            Some(tz) => format!("{cron} ({tz})"),
            None => cron.to_string(),
        },
        None => text(&e["webhook_id"]),
    }
}

/// `hookflow event …`.
pub async fn event(args: &ClientArgs, cmd: EventCommand) -> Outcome {
    let api = Api::new(args)?;
    match cmd {
        EventCommand::Create {
            name,
            webhook,
            schedule,
            timezone,
            filter,
        } => {
            let mut body = json!({ "name": name });
            if let Some(w) = webhook {
                body["webhook_id"] = json!(w);
            }
            if let Some(s) = schedule {
                body["schedule"] = json!(s);
            }
            if let Some(tz) = timezone {
                body["timezone"] = json!(tz);
            }
            if let Some(f) = filter {
                body["filter"] = json!(f);
            }
            let e = api.call(Method::POST, "/events", Some(body)).await?;
            let what = match e["schedule"].as_str() {
                Some(_) => format!(
                    "on schedule {}, first at {}",
                    source(&e),
                    text(&e["next_fire_at"])
                ),
                None => format!("on webhook {}", text(&e["webhook_id"])),
            };
            eprintln!(
                "created event {} ({}) {what}",
                text(&e["name"]),
                text(&e["id"])
            );
            outln!("{}", text(&e["id"]));
        }
        EventCommand::List { json } => {
            let items = api.list("/events", None).await?;
            let headers = ["ID", "NAME", "KIND", "WEBHOOK/SCHEDULE", "FILTER"];
            print_list(items, json, &headers, |e| {
                vec![
                    text(&e["id"]),
                    text(&e["name"]),
                    text(&e["kind"]),
                    source(e),
                    text(&e["filter"]),
                ]
            });
        }
        EventCommand::Show { id } => api.show(&item("events", &id)).await?,
        EventCommand::Delete { id } => {
            api.delete(&item("events", &id), &format!("event {id}"))
                .await?
        }
    }
    Ok(0)
}
