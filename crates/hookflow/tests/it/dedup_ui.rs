//! SPEC §9 duplicates in the web UI: the webhook form's duplicate fields, and duplicates shown
//! on the webhook's and the delivery's pages.

use serde_json::{Value, json};

use crate::common::*;
use crate::dedup::post;
use crate::ui_http::{Ui, created_id, element, redirected, text_of, unescape};

/// The webhook form's duplicate fields through the UI: set on create, shown on the webhook page
/// and filled in its edit form; a bad key is shown in the form with the value entered;
/// duplicates are listed as such on the webhook's and the delivery's pages; an empty key removes
/// detection.
#[tokio::test]
async fn the_webhook_form_sets_shows_and_removes_duplicate_detection() {
    let s = Server::start().await;
    let ui = Ui::signed_in(&s).await;
    let html = ui.page("/ui/webhooks/new").await;
    assert!(
        html.contains(r#"name="dedup_key""#) && html.contains(r#"name="dedup_window_seconds""#)
    );
    let fields = |key: &'static str, window: &'static str| {
        vec![
            ("name", "ui-dedup"),
            ("content_type", "application/json"),
            ("rate_limit_per_minute", "0"),
            ("rate_limit_per_day", "0"),
            ("dedup_key", key),
            ("dedup_window_seconds", window),
        ]
    };
    let a = ui
        .post("/ui/webhooks/new", &fields("trigger.body.id", "3600"))
        .await;
    let id = created_id(&a);
    let hook = s.webhook(&id).await;
    assert_eq!(
        hook["dedup"],
        json!({"key": "trigger.body.id", "window_seconds": 3600})
    );
    let html = ui.page(&format!("/ui/webhooks/{id}")).await;
    assert_eq!(
        unescape(&element(&html, "webhook-dedup", "dd")),
        "id=\"webhook-dedup\">key <code>trigger.body.id</code>, window 3600 s"
    );
    let html = unescape(&ui.page(&format!("/ui/webhooks/{id}/edit")).await);
    assert!(
        html.contains(r#"name="dedup_key" value="trigger.body.id""#),
        "{html}"
    );
    assert!(html.contains(r#"value="3600""#), "{html}");

    // Two requests with one key: the second is a duplicate, on both pages.
    let url = hook["url"].as_str().unwrap().to_string();
    let first = post(&s.client, &url, &json!({"id": "k-1"}), &[]).await;
    assert_eq!(first.duplicate_of(), None);
    let first = first.header("x-delivery-id").unwrap().to_string();
    let second = post(&s.client, &url, &json!({"id": "k-1", "n": 2}), &[]).await;
    assert_eq!(second.duplicate_of(), Some(first.as_str()));
    let second = second.header("x-delivery-id").unwrap().to_string();
    let html = ui.page(&format!("/ui/webhooks/{id}")).await;
    assert!(
        html.contains(r#"<span class="badge duplicate">Duplicate</span>"#),
        "{html}"
    );
    assert!(
        html.contains(&format!(
            r#"duplicate of <a href="/ui/deliveries/{first}">{first}</a>"#
        )),
        "{html}"
    );
    let html = ui.page(&format!("/ui/deliveries/{second}")).await;
    assert!(
        html.contains(r#"<span class="badge duplicate">Duplicate</span>"#),
        "{html}"
    );
    assert!(
        html.contains(&format!(r#"<a href="/ui/deliveries/{first}">{first}</a>"#)),
        "{html}"
    );

    // A key that does not parse: shown in the form, with what was entered; nothing changes.
    let a = ui.edit_webhook(&id, &fields("trigger.body.(", "60")).await;
    assert_eq!(a.status, 400, "{}", a.text());
    let text = unescape(&a.text());
    assert!(text.contains(r#"value="trigger.body.(""#), "{text}");
    let error = text_of(&a.text(), "form-error").expect("the form's error");
    assert!(error.contains("dedup"), "{error}");
    let hook = s.webhook(&id).await;
    assert_eq!(hook["dedup"]["key"], "trigger.body.id");

    // An empty key removes detection: the same key is accepted again.
    let a = ui.edit_webhook(&id, &fields("", "")).await;
    redirected(&a);
    let hook = s.webhook(&id).await;
    assert_eq!(hook["dedup"], Value::Null);
    let third = post(&s.client, &url, &json!({"id": "k-1"}), &[]).await;
    assert_eq!(third.duplicate_of(), None);
    let html = ui.page(&format!("/ui/webhooks/{id}")).await;
    assert_eq!(
        text_of(&html, "webhook-dedup").as_deref(),
        Some("not detected")
    );
}
