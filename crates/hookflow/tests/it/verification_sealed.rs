//! A signature verification secret (SPEC §9) is write-only: never in an API answer, a delivery,
//! a run, the server's log, nor in the clear in the database.

use serde_json::json;

use crate::common::*;
use crate::verification::{hex, mac, post_signed};

#[tokio::test]
async fn the_verification_secret_is_sealed_and_never_shown() {
    let mut s = Server::start().await;
    let secret = format!("vsecret-{}", random_hex(24));
    let previous = format!("vprevious-{}", random_hex(24));
    let hook = s
        .create_webhook_from(json!({"name": "sealed", "content_type": "application/json",
                   "verification": {"scheme": "github", "secret": previous}}))
        .await;
    let id = hook["id"].as_str().unwrap().to_string();
    // A change keeps the previous secret (sealed too) during its grace.
    let change = json!({"secret": secret, "previous_secret_grace_seconds": 600});
    let a = s
        .patch_webhook(&id, json!({ "verification": change }))
        .await;
    a.expect_status(200);
    let body = br#"{"n":1}"#;
    let h = vec![(
        "X-Hub-Signature-256".to_string(),
        format!("sha256={}", hex(&mac("sha256", secret.as_bytes(), body))),
    )];
    let ok = post_signed(&s, &hook, "application/json", body, &h, true).await;
    ok.expect_status(202);
    let bad = post_signed(&s, &hook, "application/json", b"{}", &h, true).await;
    bad.expect_problem(401);
    let mut seen = vec![a.text(), bad.text()];
    seen.push(s.api_get(&format!("/api/v1/webhooks/{id}")).await.text());
    seen.push(s.api_get("/api/v1/webhooks").await.text());
    seen.push(
        s.api_get(&format!("/api/v1/webhooks/{id}/deliveries"))
            .await
            .text(),
    );
    seen.push(
        s.api_get(&format!(
            "/api/v1/deliveries/{}",
            ok.header("x-delivery-id").unwrap()
        ))
        .await
        .text(),
    );
    seen.push(s.metrics().await);
    seen.push(s.log());
    for text in &seen {
        for k in [&secret, &previous] {
            assert!(!text.contains(k.as_str()), "a secret shown: {text}");
        }
    }
    s.stop().await;
    match &s.pg {
        None => {
            for f in ["hookflow.db", "hookflow.db-wal"] {
                if let Ok(bytes) = std::fs::read(s.data_dir.join(f)) {
                    for k in [&secret, &previous] {
                        assert!(
                            !bytes.windows(k.len()).any(|w| w == k.as_bytes()),
                            "{f} holds a verification secret in the clear"
                        );
                    }
                }
            }
        }
        Some(pg) => {
            let dump = pg.dump_text().await;
            for k in [&secret, &previous] {
                assert_not_in_dump(&dump, k, "a verification secret");
            }
        }
    }
}
