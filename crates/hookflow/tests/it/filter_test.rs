//! Trying a filter (SPEC §10): `POST /api/v1/events/{id}/test` evaluates a proposed filter on
//! the event's webhook's last N accepted deliveries without saving it, and says per delivery
//! what routing would have said.

use serde_json::{Value, json};

use crate::common::*;
use crate::ui_http::{Ui, element, unescape};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proposed_filter_is_tried_on_the_last_deliveries_as_routing_would() {
    let s = Server::start().await;
    let hook = s.unlimited_webhook("tried", "application/json").await;
    // The event's own filter is what routing used; the test must agree with it.
    let filter = "trigger.body.n > 2 and trigger.headers['x-kind'] == 'a' and trigger.event.name == 'tried-event'";
    let event = create_event(
        &s,
        json!({"name": "tried-event", "webhook_id": hook["id"], "filter": filter}),
    )
    .await;
    let mut ids = Vec::new();
    for n in 0..6 {
        let kind = if n == 4 { "b" } else { "a" };
        let body = if n == 5 {
            json!({"m": 1})
        } else {
            json!({"n": n})
        };
        ids.push(send(&s, &hook, &body, &[("X-Kind", kind)]).await);
    }
    // A rejected request is not among the deliveries tried.
    let wrong = s
        .post_hook_with_key(&hook, "not-the-key", "application/json", b"{\"n\": 9}")
        .await;
    assert_eq!(wrong.status, 401);

    let path = format!("/api/v1/events/{}/test", event["id"].as_str().unwrap());
    let a = s
        .api_post(&path, json!({"filter": filter, "last": 10}))
        .await;
    a.expect_status(200);
    let t = a.json();
    assert_eq!(t["total"], json!(6), "{t}");
    let results = t["results"].as_array().unwrap();
    let tried: Vec<&str> = results
        .iter()
        .map(|r| r["delivery_id"].as_str().unwrap())
        .collect();
    let newest_first: Vec<&str> = ids.iter().rev().map(String::as_str).collect();
    assert_eq!(tried, newest_first);
    // n = 3 matches; n = 4 has the wrong kind; {"m": 1} cannot compare (an error).
    let by_id = |id: &str| {
        results
            .iter()
            .find(|r| r["delivery_id"] == json!(id))
            .unwrap()
    };
    assert_eq!(by_id(&ids[3])["matched"], json!(true));
    assert_eq!(by_id(&ids[4])["matched"], json!(false));
    assert!(by_id(&ids[5])["error"].is_string(), "{}", by_id(&ids[5]));
    assert_eq!(
        (t["matched"].clone(), t["errors"].clone()),
        (json!(1), json!(1)),
        "{t}"
    );
    // Exactly what each delivery's routing recorded.
    for r in results {
        let d = s.delivery(r["delivery_id"].as_str().unwrap()).await;
        let routed = &d["routing"]["events"][0];
        assert_eq!(routed["matched"], r["matched"], "{routed} vs {r}");
        if let Some(e) = r["error"].as_str() {
            let reason = routed["reason"].as_str().unwrap_or("");
            assert!(
                reason.contains(e),
                "routing said {reason:?}, the test {e:?}"
            );
        } else {
            assert_eq!(r["error"], Value::Null);
        }
    }

    // Another filter, the last 3 only; nothing is saved.
    let a = s
        .api_post(
            &path,
            json!({"filter": "trigger.body.n is defined", "last": 3}),
        )
        .await;
    a.expect_status(200);
    let t = a.json();
    assert_eq!(
        (t["total"].clone(), t["matched"].clone()),
        (json!(3), json!(2)),
        "{t}"
    );
    let saved = s
        .api_get(&format!("/api/v1/events/{}", event["id"].as_str().unwrap()))
        .await;
    assert_eq!(saved.json()["filter"], json!(filter));

    // Refusals.
    s.api_post(&path, json!({"filter": "trigger.body.n >", "last": 3}))
        .await
        .expect_problem(422);
    s.api_post(&path, json!({"filter": "secrets.x == 1"}))
        .await
        .expect_problem(422);
    s.api_post(&path, json!({"filter": "true", "last": 1001}))
        .await
        .expect_problem(400);
    s.api_post(&path, json!({"filter": "true", "last": 0}))
        .await
        .expect_problem(400);
    s.api_post(&path, json!({"last": 3}))
        .await
        .expect_problem(400);
    s.api_post("/api/v1/events/nope/test", json!({"filter": "true"}))
        .await
        .expect_problem(404);
    let sched = create_event(&s, json!({"name": "tick", "schedule": "0 0 * * *"})).await;
    s.api_post(
        &format!("/api/v1/events/{}/test", sched["id"].as_str().unwrap()),
        json!({"filter": "true"}),
    )
    .await
    .expect_problem(422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_form_tests_a_filter_before_saving() {
    let s = Server::start().await;
    let hook = s.unlimited_webhook("formed", "application/json").await;
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(send(&s, &hook, &json!({"n": n}), &[]).await);
    }
    let ui = Ui::signed_in(&s).await;
    let hook_id = hook["id"].as_str().unwrap();
    let a = ui
        .post(
            "/ui/events/new",
            &[
                ("name", ""),
                ("webhook_id", hook_id),
                ("filter", "trigger.body.n >= 1"),
                ("action", "test"),
            ],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text());
    let html = a.text();
    assert_eq!(
        unescape(&element(&html, "filter-test-summary", "p")),
        "id=\"filter-test-summary\">2 of the webhook's last 3 accepted deliveries match. Nothing was saved."
    );
    let table = element(&html, "filter-test-results", "table");
    let newest = table.find(&ids[2]).expect("newest listed");
    let oldest = table.find(&ids[0]).expect("oldest listed");
    assert!(newest < oldest, "{table}");
    assert_eq!(table.matches("badge ok\">matched").count(), 2, "{table}");
    // The form keeps what was typed; nothing was created.
    assert!(
        unescape(&html).contains("trigger.body.n >= 1</textarea>"),
        "{html}"
    );
    assert_eq!(s.api_get("/api/v1/events").await.json()["items"], json!([]));
    // A filter that does not compile is said so on the form.
    let a = ui
        .post(
            "/ui/events/new",
            &[
                ("name", "x"),
                ("webhook_id", hook_id),
                ("filter", "trigger.body.n >"),
                ("action", "test"),
            ],
        )
        .await;
    assert_eq!(a.status, 422);
    assert!(
        unescape(&element(&a.text(), "form-error", "p")).contains("filter does not compile"),
        "{}",
        a.text()
    );
}
