//! `hookflow delivery replay` and `hookflow webhook replay` (SPEC §10): a stored delivery, or a
//! webhook's deliveries of a time range, routed again; `--dry-run` shows what would start.

use reqwest::Method;
use serde_json::{Value, json};

use super::{Api, Outcome, item, pretty, print_table, text};
use crate::cli::{ClientArgs, DeliveryCommand, ReplayArgs};

/// The request body the replay flags give.
fn body(replay: &ReplayArgs) -> Value {
    let mut b = json!({"dry_run": replay.dry_run});
    if !replay.workflows.is_empty() {
        b["workflows"] = json!(replay.workflows);
    }
    b
}

/// `hookflow delivery …`.
pub async fn delivery(args: &ClientArgs, cmd: DeliveryCommand) -> Outcome {
    let api = Api::new(args)?;
    match cmd {
        DeliveryCommand::Replay { id, replay } => {
            let a = api
                .call(
                    Method::POST,
                    &format!("{}/replay", item("deliveries", &id)),
                    Some(body(&replay)),
                )
                .await?;
            if replay.json {
                outln!("{}", pretty(&a));
            } else {
                print_routing(&a, replay.dry_run);
            }
        }
    }
    Ok(0)
}

/// A replay's routing as text: each event matched or not, then one table of the workflows.
fn print_routing(a: &Value, dry_run: bool) {
    let routing = &a["routing"];
    for e in routing["events"].as_array().into_iter().flatten() {
        match e["matched"].as_bool() {
            Some(true) => outln!("event {}: matched", text(&e["name"])),
            _ => outln!(
                "event {}: not matched: {}",
                text(&e["name"]),
                text(&e["reason"])
            ),
        }
    }
    let mut rows: Vec<Vec<String>> = Vec::new();
    for r in routing["runs"].as_array().into_iter().flatten() {
        let (what, id) = if dry_run {
            ("would start", String::new())
        } else {
            ("started", text(&r["id"]))
        };
        rows.push(vec![
            text(&r["workflow"]),
            text(&r["event"]),
            what.into(),
            id,
        ]);
    }
    for n in routing["not_started"].as_array().into_iter().flatten() {
        rows.push(vec![
            text(&n["workflow"]),
            text(&n["event"]),
            "not started".into(),
            text(&n["reason"]),
        ]);
    }
    print_table(&["WORKFLOW", "EVENT", "RUN", "ID OR REASON"], &rows);
}

/// `hookflow webhook replay ID --from T --to T`.
pub(super) async fn webhook_replay(
    api: &Api,
    id: &str,
    (from, to): (String, String),
    replay: ReplayArgs,
) -> anyhow::Result<()> {
    let mut b = body(&replay);
    b["from"] = json!(from);
    b["to"] = json!(to);
    let a = api
        .call(
            Method::POST,
            &format!("{}/replay", item("webhooks", id)),
            Some(b),
        )
        .await?;
    if replay.json {
        outln!("{}", pretty(&a));
        return Ok(());
    }
    let verb = if replay.dry_run {
        "would start"
    } else {
        "started"
    };
    eprintln!(
        "{} deliveries replayed{}; {} runs {verb}",
        text(&a["deliveries"]),
        if replay.dry_run { " (dry run)" } else { "" },
        text(&a["runs_started"])
    );
    let rows: Vec<Vec<String>> = a["workflows"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, n)| vec![name.clone(), text(n)])
        .collect();
    print_table(&["WORKFLOW", "RUNS"], &rows);
    Ok(())
}
