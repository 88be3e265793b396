//! `hookflow import securex`: runs the importer (crate hookflow-import), writes its output
//! folder, prints a summary and the gaps, and with `--apply` creates the missing webhooks and
//! events by name and applies the workflows in dependency order (create or replace by name, so
//! running it again changes nothing that is already there).

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use anyhow::{Context, anyhow};
use hookflow_import::report::ExportStatus;
use hookflow_import::{Import, TargetsFile};
use reqwest::Method;
use serde_json::json;

use super::workflows::{error_lines, save, set_enabled};
use super::{Api, Outcome, text};
use crate::cli::{ClientArgs, ImportCommand};

/// `hookflow import …`.
pub async fn import(args: &ClientArgs, cmd: ImportCommand) -> Outcome {
    let ImportCommand::Securex(a) = cmd;
    let targets = match &a.targets {
        Some(p) => Some(TargetsFile::read(p).map_err(|e| anyhow!(e))?),
        None => None,
    };
    let started = Instant::now();
    let paths = a.paths.clone();
    let t = targets.clone();
    let imp =
        tokio::task::spawn_blocking(move || hookflow_import::securex::import(&paths, t.as_ref()))
            .await
            .context("the importer stopped")?;
    imp.write(&a.out)?;
    let elapsed = started.elapsed();
    summary(&imp, &a.out.display().to_string(), elapsed.as_secs_f64());
    let mut code = imp.exit_code();
    if a.apply {
        let api = Api::new(args)?;
        let applied = apply(&api, &imp, a.enable_clean).await?;
        if code == 0 {
            code = applied;
        }
    }
    Ok(code)
}

/// The summary on stderr; the exports with gaps (and their categories) on stdout.
fn summary(imp: &Import, out: &str, secs: f64) {
    let r = &imp.report;
    let count = |s: ExportStatus| r.exports.iter().filter(|e| e.status == s).count();
    eprintln!(
        "imported {} exports in {secs:.2}s: {} clean, {} with gaps, {} unreadable; {} workflow documents ({} valid); {} of {} activities reported{}",
        r.exports.len(),
        count(ExportStatus::Clean),
        count(ExportStatus::Gaps),
        count(ExportStatus::Error),
        r.self_check.documents,
        r.self_check.documents_valid,
        r.self_check.activities_in_report,
        r.self_check.activities_in_exports,
        if r.self_check.complete() {
            ""
        } else {
            " — SOME ACTIVITIES ARE MISSING FROM THE REPORT"
        }
    );
    eprintln!("wrote {out}/ (report: {out}/import-report.md)");
    for e in &r.exports {
        if e.status == ExportStatus::Clean {
            continue;
        }
        let mut cats: BTreeMap<&str, usize> = BTreeMap::new();
        for g in &e.gaps {
            *cats.entry(g.category.as_str()).or_insert(0) += 1;
        }
        let cats: Vec<String> = cats.iter().map(|(c, n)| format!("{c} ×{n}")).collect();
        let status = if e.status == ExportStatus::Error {
            "error"
        } else {
            "gaps"
        };
        outln!("{status}: {} ({})", e.path, cats.join(", "));
    }
    let missing: Vec<&str> = r
        .workflows
        .iter()
        .flat_map(|w| w.targets_missing.iter().map(String::as_str))
        .collect();
    if !missing.is_empty() {
        let mut m = missing.clone();
        m.sort();
        m.dedup();
        eprintln!(
            "targets without a base URL (their HTTP steps fail until you fill {out}/targets.yaml and import again with --targets): {}",
            m.join(", ")
        );
    }
}

/// The `name` of every item of a list call.
async fn names(api: &Api, path: &str) -> anyhow::Result<Vec<String>> {
    let items = api.list(path, None).await?;
    Ok(items.iter().map(|i| text(&i["name"])).collect())
}

/// `--apply`: webhooks, events, then workflows in apply order. 0 when every workflow is valid
/// and clean, 2 otherwise.
async fn apply(api: &Api, imp: &Import, enable_clean: bool) -> anyhow::Result<u8> {
    let mut code = 0;
    let mut hook_ids: HashMap<String, String> = api
        .list("/webhooks", None)
        .await?
        .iter()
        .map(|w| (text(&w["name"]), text(&w["id"])))
        .collect();
    for w in &imp.webhooks {
        if hook_ids.contains_key(&w.name) {
            eprintln!("webhook {} exists: kept (with its URL and key)", w.name);
            continue;
        }
        let created = api
            .call(
                Method::POST,
                "/webhooks",
                Some(json!({"name": w.name, "content_type": w.content_type})),
            )
            .await
            .with_context(|| format!("cannot create webhook {}", w.name))?;
        hook_ids.insert(w.name.clone(), text(&created["id"]));
        outln!("webhook {}: {}", w.name, text(&created["url"]));
    }
    let events = names(api, "/events").await?;
    for e in &imp.events {
        if events.contains(&e.name) {
            eprintln!("event {} exists: kept", e.name);
            continue;
        }
        let mut body = json!({"name": e.name});
        if let Some(w) = &e.webhook {
            let id = hook_ids
                .get(w)
                .ok_or_else(|| anyhow!("event {} needs webhook {w}, which is not there", e.name))?;
            body["webhook_id"] = json!(id);
        }
        if let Some(s) = &e.schedule {
            body["schedule"] = json!(s);
        }
        if let Some(tz) = &e.timezone {
            body["timezone"] = json!(tz);
        }
        api.call(Method::POST, "/events", Some(body))
            .await
            .with_context(|| format!("cannot create event {}", e.name))?;
        eprintln!("created event {}", e.name);
    }
    let secrets = names(api, "/secrets").await?;
    for s in &imp.secrets {
        if !secrets.contains(s) {
            eprintln!("secret {s} does not exist yet: create it with `hookflow secret set {s}`");
        }
    }
    for d in &imp.workflows {
        let (w, verb) = save(api, &d.yaml, true)
            .await
            .with_context(|| format!("cannot apply {}", d.file))?;
        let (name, id) = (text(&w["name"]), text(&w["id"]));
        eprintln!("{verb} workflow {name} ({id}) from {}", d.file);
        let valid = w["validation"]["status"].as_str() == Some("valid");
        if valid {
            outln!("workflow {name} ({id}): valid");
        } else {
            outln!("workflow {name} ({id}): invalid");
            for line in error_lines(&w["validation"]["errors"]) {
                outln!("{line}");
            }
        }
        let entry = imp.report.workflows.iter().find(|e| e.name == d.name);
        let configured = entry.is_none_or(|e| e.targets_missing.is_empty());
        let enable = enable_clean && d.clean && valid && configured;
        set_enabled(api, &id, enable).await?;
        if !d.clean || !valid {
            code = 2;
        }
    }
    Ok(code)
}
