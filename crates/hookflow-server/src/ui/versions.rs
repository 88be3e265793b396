//! A workflow's versions (SPEC §10): the list, newest first, and one old version with a line
//! diff of its document against the current one. Read-only: a version never changes.

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value as Json, json};
use similar::{ChangeTag, TextDiff};

use super::session::Visit;
use super::{PAGE, UiResult, page};
use crate::manage::page::{version_after, version_cursor};
use crate::manage::versions::{self, workflow_id};
use crate::manage::{ManageError, ManageResult};
use crate::state::AppState;

/// How many versions the workflow's own page lists.
pub const ON_WORKFLOW_PAGE: i64 = 10;

/// The newest versions of workflow `id` as the list shows them, and whether there are more.
pub async fn newest(st: &AppState, id: &str, limit: i64) -> ManageResult<(Json, bool)> {
    let (items, next) = versions::list(st, id, limit, None).await?;
    Ok((
        json!(
            items
                .iter()
                .map(|v| versions::json(v, false))
                .collect::<Vec<_>>()
        ),
        next.is_some(),
    ))
}

/// The table of versions `versions` (as the list shows them), marking version `current`.
pub fn versions_table(versions: &Json, current: Option<i64>) -> Json {
    super::piece(
        "versions_table.html",
        &json!({"versions": versions, "current": current}),
    )
}

/// `GET /ui/workflows/{id}/versions[?cursor=]`.
pub async fn index(Visit { st, session, q }: Visit, Path(id): Path<String>) -> UiResult {
    let id = workflow_id(&st, &id).await?;
    let before = match q.non_empty("cursor") {
        Some(c) => Some(version_after(&c).ok_or_else(|| {
            ManageError::Malformed("this page address is not one issued here".into())
        })?),
        None => None,
    };
    let (items, next) = versions::list(&st, &id, PAGE, before).await?;
    let current_workflow = st.store.get_workflow(&id).await?;
    let current = current_workflow.as_ref().map(|w| w.version);
    let name = match (&current_workflow, items.first()) {
        (Some(w), _) => w.document.name.clone(),
        (None, Some(v)) => v.document.name.clone(),
        (None, None) => id.clone(),
    };
    Ok(page(
        StatusCode::OK,
        "versions.html",
        Some(&session),
        json!({
            "title": format!("Versions of {name}"), "section": "workflows",
            "workflow_id": id, "name": name,
            "current": current,
            "versions_table": versions_table(
                &json!(items.iter().map(|v| versions::json(v, false)).collect::<Vec<_>>()),
                current,
            ),
            "next_page": next.map(|n| format!(
                "/ui/workflows/{id}/versions?cursor={}",
                version_cursor(n)
            )),
        }),
    ))
}

/// `GET /ui/workflows/{id}/versions/{n}`: the version's document, and its diff against the
/// current document (the workflow's latest version).
pub async fn show(
    Visit { st, session, .. }: Visit,
    Path((id, n)): Path<(String, String)>,
) -> UiResult {
    let v = versions::get(&st, &id, &n).await?;
    let current = st.store.get_workflow(&v.workflow_id).await?;
    let diff = match &current {
        Some(w) if w.version != v.version => {
            Some(line_diff(&v.document.source, &w.document.source))
        }
        _ => None,
    };
    Ok(page(
        StatusCode::OK,
        "version.html",
        Some(&session),
        json!({
            "title": format!("{} — version {}", v.document.name, v.version), "section": "workflows",
            "version": versions::json(&v, false), "source": v.document.source,
            "current": current.map(|w| json!({"version": w.version, "name": w.document.name})),
            "diff": diff,
        }),
    ))
}

/// A line diff of `old` against `new`: every line as `{tag: "add" | "del" | "same", old, new,
/// text}` (the line numbers on each side), with how many lines were added and removed.
pub fn line_diff(old: &str, new: &str) -> Json {
    let diff = TextDiff::from_lines(old, new);
    let (mut added, mut removed) = (0, 0);
    let lines: Vec<Json> = diff
        .iter_all_changes()
        .map(|c| {
            let tag = match c.tag() {
                ChangeTag::Insert => {
                    added += 1;
                    "add"
                }
                ChangeTag::Delete => {
                    removed += 1;
                    "del"
                }
                ChangeTag::Equal => "same",
            };
            json!({
                "tag": tag,
                "old": c.old_index().map(|i| i + 1),
                "new": c.new_index().map(|i| i + 1),
                "text": c.value().trim_end_matches(['\n', '\r']),
            })
        })
        .collect();
    json!({"lines": lines, "added": added, "removed": removed})
}

/// This module's pages and forms, each with its route.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/workflows/{id}/versions", get(index))
        .route("/workflows/{id}/versions/{n}", get(show))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_diff_marks_added_and_removed_lines_with_their_numbers() {
        let d = line_diff("a\nb\nc\n", "a\nc\nd\n");
        assert_eq!(d["added"], json!(1));
        assert_eq!(d["removed"], json!(1));
        let tags: Vec<(&str, &str)> = d["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| (l["tag"].as_str().unwrap(), l["text"].as_str().unwrap()))
            .collect();
        assert_eq!(
            tags,
            vec![("same", "a"), ("del", "b"), ("same", "c"), ("add", "d")]
        );
        assert_eq!(d["lines"][3]["new"], json!(3));
        assert_eq!(d["lines"][3]["old"], Json::Null);
    }
}
