//! SPEC §9 signature verification through HTTP, on the backend under test. Every expected
//! signature is computed here with the `hmac` crate (or taken from a provider's published
//! example), never with hookflow's own code.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;

const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";

/// HMAC of `msg` with `key` (`sha1`, `sha256` or `sha512`), computed by the test.
pub fn mac(alg: &str, key: &[u8], msg: &[u8]) -> Vec<u8> {
    fn run<M: Mac + KeyInit>(key: &[u8], msg: &[u8]) -> Vec<u8> {
        let mut m = <M as KeyInit>::new_from_slice(key).expect("any key length");
        m.update(msg);
        m.finalize().into_bytes().to_vec()
    }
    match alg {
        "sha1" => run::<Hmac<sha1::Sha1>>(key, msg),
        "sha256" => run::<Hmac<sha2_mac::Sha256>>(key, msg),
        "sha512" => run::<Hmac<sha2_mac::Sha512>>(key, msg),
        other => panic!("no algorithm {other}"),
    }
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn now_s() -> i64 {
    unix_now() as i64
}

/// A scheme under test: its `verification` input and how a sender signs with it.
struct Case {
    verification: Value,
    secret: String,
    /// The header that carries the signature (left out for "missing").
    sig_header: &'static str,
    timestamped: bool,
}

impl Case {
    fn all() -> Vec<Case> {
        let whsec = format!("whsec_{}", B64.encode(random_hex(24).as_bytes()));
        let mk = |v: Value, secret: String, sig_header, timestamped| Case {
            verification: {
                let mut v = v;
                v["secret"] = json!(secret);
                v
            },
            secret,
            sig_header,
            timestamped,
        };
        let scheme = |name: &str| json!({ "scheme": name });
        vec![
            mk(
                scheme("standard_webhooks"),
                whsec,
                "webhook-signature",
                true,
            ),
            mk(
                scheme("github"),
                random_hex(20),
                "x-hub-signature-256",
                false,
            ),
            mk(
                scheme("stripe"),
                format!("whsec_{}", random_hex(16)),
                "stripe-signature",
                true,
            ),
            mk(scheme("slack"), random_hex(16), "x-slack-signature", true),
            mk(
                scheme("shopify"),
                random_hex(16),
                "x-shopify-hmac-sha256",
                false,
            ),
            mk(
                json!({"scheme": "hmac", "header": "X-Signature", "algorithm": "sha512",
                       "encoding": "base64", "prefix": "sha512="}),
                random_hex(16),
                "x-signature",
                false,
            ),
            mk(
                json!({"scheme": "hmac", "header": "X-Sig", "algorithm": "sha1",
                       "encoding": "hex"}),
                random_hex(16),
                "x-sig",
                false,
            ),
        ]
    }

    fn scheme(&self) -> &str {
        self.verification["scheme"].as_str().unwrap()
    }

    /// The signature value(s) for `body` at `ts`: one per element (for "several").
    fn signatures(&self, secret: &str, body: &[u8], ts: i64) -> Vec<String> {
        let v = &self.verification;
        match self.scheme() {
            "standard_webhooks" => {
                let key = B64.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
                let msg = [format!("msg_1.{ts}.").as_bytes(), body].concat();
                vec![format!("v1,{}", B64.encode(mac("sha256", &key, &msg)))]
            }
            "github" => vec![format!(
                "sha256={}",
                hex(&mac("sha256", secret.as_bytes(), body))
            )],
            "stripe" => {
                let msg = [format!("{ts}.").as_bytes(), body].concat();
                vec![hex(&mac("sha256", secret.as_bytes(), &msg))]
            }
            "slack" => {
                let msg = [format!("v0:{ts}:").as_bytes(), body].concat();
                vec![format!(
                    "v0={}",
                    hex(&mac("sha256", secret.as_bytes(), &msg))
                )]
            }
            "shopify" => vec![B64.encode(mac("sha256", secret.as_bytes(), body))],
            "hmac" => {
                let m = mac(v["algorithm"].as_str().unwrap(), secret.as_bytes(), body);
                let enc = if v["encoding"] == "base64" {
                    B64.encode(m)
                } else {
                    hex(&m)
                };
                vec![format!("{}{enc}", v["prefix"].as_str().unwrap_or(""))]
            }
            s => panic!("no scheme {s}"),
        }
    }

    /// The headers a sender sends: `sigs` are signature values (several when more than one).
    fn headers(&self, sigs: &[String], ts: i64, with_sig: bool) -> Vec<(String, String)> {
        let mut h = Vec::new();
        match self.scheme() {
            "standard_webhooks" => {
                h.push(("webhook-id".into(), "msg_1".into()));
                h.push(("webhook-timestamp".into(), ts.to_string()));
                if with_sig {
                    h.push((self.sig_header.into(), sigs.join(" ")));
                }
            }
            "stripe" => {
                if with_sig {
                    let v1: Vec<String> = sigs.iter().map(|s| format!("v1={s}")).collect();
                    h.push((self.sig_header.into(), format!("t={ts},{}", v1.join(","))));
                }
            }
            scheme => {
                if scheme == "slack" {
                    h.push(("x-slack-request-timestamp".into(), ts.to_string()));
                }
                if with_sig {
                    // Several signatures as repeated header lines.
                    for s in sigs {
                        h.push((self.sig_header.into(), s.clone()));
                    }
                }
            }
        }
        h
    }
}

/// POSTs `body` to the hook with `headers`; `with_key` adds the api_key.
pub async fn post_signed(
    s: &Server,
    hook: &Value,
    content_type: &str,
    body: &[u8],
    headers: &[(String, String)],
    with_key: bool,
) -> Answer {
    let url = if with_key {
        s.hook_url(hook)
    } else {
        s.url(&format!("/webhooks/{}", hook["id"].as_str().unwrap()))
    };
    let mut req = s
        .client
        .post(url)
        .header("accept", "application/json")
        .header("content-type", content_type)
        .body(body.to_vec());
    for (n, v) in headers {
        req = req.header(n.as_str(), v.as_str());
    }
    Answer::from_response(req.send().await.expect("POST webhook")).await
}

/// The `verification` recorded on the delivery a 202 named.
async fn recorded_verdict(s: &Server, a: &Answer) -> Value {
    let id = a
        .header("x-delivery-id")
        .expect("X-Delivery-Id")
        .to_string();
    s.delivery(&id).await["verification"].clone()
}

/// A verification 401 is a problem with this detail, recorded with its verdict.
async fn expect_refused(s: &Server, hook: &Value, a: &Answer, detail: &str, verdict: &str) {
    let p = a.expect_problem(401);
    let got = p["detail"].as_str().unwrap();
    assert!(
        got.starts_with("signature verification failed: ") && got.contains(detail),
        "detail {got:?} should say {detail:?}"
    );
    let d = s
        .expect_rejection_recorded(hook["id"].as_str().unwrap(), a)
        .await;
    assert_eq!(d["verification"]["verdict"], verdict, "{d}");
}

#[tokio::test]
async fn every_scheme_valid_wrong_missing_stale_changed_and_several() {
    let s = Server::start().await;
    for (i, case) in Case::all().into_iter().enumerate() {
        let scheme = case.scheme().to_string();
        let a = s
            .post_webhook(json!({"name": format!("v{i}"), "content_type": JSON,
                       "rate_limit_per_minute": 0, "rate_limit_per_day": 0,
                       "verification": case.verification}))
            .await;
        a.expect_status(201);
        let hook = a.json();
        // The answer shows the verification, never the secret.
        assert_eq!(hook["verification"]["scheme"], json!(scheme));
        assert!(!a.text().contains(&case.secret), "{scheme}: secret shown");
        let body = br#"{"id":"evt_1","amount":1234}"#;
        let ts = now_s();
        let good = case.signatures(&case.secret, body, ts);
        // `body` with the scheme's headers for `sigs` at `ts` (`with_sig` false: no signature).
        let send = async |body: &[u8], sigs: &[String], ts: i64, with_sig: bool| {
            let headers = case.headers(sigs, ts, with_sig);
            post_signed(&s, &hook, JSON, body, &headers, true).await
        };

        // Valid.
        let a = send(body, &good, ts, true).await;
        a.expect_status(202);
        let v = recorded_verdict(&s, &a).await;
        assert_eq!(
            v,
            json!({"scheme": scheme, "verdict": "valid", "detail": "signature valid"})
        );

        // Signed with another secret.
        let wrong = case.signatures(&format!("whsec_{}", B64.encode(b"other")), body, ts);
        let a = send(body, &wrong, ts, true).await;
        expect_refused(&s, &hook, &a, "no signature in the", "invalid").await;

        // Missing signature header.
        let a = send(body, &good, ts, false).await;
        expect_refused(&s, &hook, &a, "the request has no", "missing").await;
        assert!(
            a.json()["detail"]
                .as_str()
                .unwrap()
                .to_ascii_lowercase()
                .contains(case.sig_header),
            "{scheme}: the detail names the header"
        );

        // The body changed by one byte after signing.
        let changed = br#"{"id":"evt_1","amount":1235}"#;
        let a = send(changed, &good, ts, true).await;
        expect_refused(&s, &hook, &a, "matches", "invalid").await;

        // Several signatures, one of them right.
        let several = vec![wrong[0].clone(), good[0].clone()];
        let a = send(body, &several, ts, true).await;
        a.expect_status(202);
        // ...and several, none right.
        let none = vec![wrong[0].clone(), wrong[0].clone()];
        let a = send(body, &none, ts, true).await;
        a.expect_problem(401);

        if case.timestamped {
            // Signed correctly, but 400 s away from now (tolerance 300), either way.
            for (off, way) in [(-400, "in the past"), (400, "in the future")] {
                let t = ts + off;
                let sig = case.signatures(&case.secret, body, t);
                let a = send(body, &sig, t, true).await;
                expect_refused(&s, &hook, &a, way, "invalid").await;
                assert!(a.json()["detail"].as_str().unwrap().contains("tolerance"));
            }
        }
    }
}

#[tokio::test]
async fn published_example_and_a_bad_format() {
    let s = Server::start().await;
    // GitHub's documented example ("Validating webhook deliveries").
    let hook = s
        .create_webhook_from(json!({"name": "gh", "content_type": FORM,
                   "verification": {"scheme": "github", "secret": "It's a Secret to Everybody"}}))
        .await;
    let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let h = vec![("X-Hub-Signature-256".to_string(), sig.to_string())];
    post_signed(&s, &hook, FORM, b"Hello, World!", &h, true)
        .await
        .expect_status(202);
    // The same signature over the body as re-serialised (a space more) does not verify.
    let a = post_signed(&s, &hook, FORM, b"Hello,  World!", &h, true).await;
    a.expect_problem(401);
    // A header of the wrong form says so.
    let h = vec![("X-Hub-Signature-256".to_string(), "sha1=abcdef".to_string())];
    let a = post_signed(&s, &hook, FORM, b"Hello, World!", &h, true).await;
    expect_refused(&s, &hook, &a, "is not sha256=<hex signature>", "invalid").await;
    // A timestamp that is not one.
    let slack = s.create_webhook_from(json!({"name": "slack", "content_type": FORM,
                   "verification": {"scheme": "slack", "secret": "8f742231b10e8888abcd99yyyzzz85a5"}})).await;
    let h = vec![
        (
            "X-Slack-Request-Timestamp".to_string(),
            "yesterday".to_string(),
        ),
        ("X-Slack-Signature".to_string(), "v0=00".to_string()),
    ];
    let a = post_signed(&s, &slack, FORM, b"a=1", &h, true).await;
    expect_refused(&s, &slack, &a, "not a timestamp in unix seconds", "invalid").await;
}

/// A JSON webhook `name` allowing `per_minute` requests a minute, with this `verification`.
async fn verifying_hook(s: &Server, name: &str, per_minute: u32, verification: Value) -> Value {
    s.create_webhook_from(json!({
        "name": name, "content_type": JSON, "rate_limit_per_minute": per_minute,
        "verification": verification,
    }))
    .await
}

#[tokio::test]
async fn rotation_grace_keeps_the_old_secret_until_it_ends() {
    let s = Server::start().await;
    let verification = json!({"scheme": "github", "secret": "old-secret"});
    let hook = verifying_hook(&s, "rot", 0, verification).await;
    let id = hook["id"].as_str().unwrap();
    let body = br#"{"n":1}"#;
    // `body` signed with `secret`: the answer.
    let signed = async |secret: &str| {
        let sig = format!("sha256={}", hex(&mac("sha256", secret.as_bytes(), body)));
        let headers = [("X-Hub-Signature-256".to_string(), sig)];
        post_signed(&s, &hook, JSON, body, &headers, true).await
    };
    let change = json!({"secret": "new-secret", "previous_secret_grace_seconds": 3});
    let a = s.patch_webhook(id, json!({ "verification": change })).await;
    a.expect_status(200);
    let w = a.json();
    assert!(
        w["verification"]["previous_secret_expires_at"].is_string(),
        "{w}"
    );
    assert!(!a.text().contains("old-secret") && !a.text().contains("new-secret"));
    // During the grace both secrets verify.
    signed("old-secret").await.expect_status(202);
    signed("new-secret").await.expect_status(202);
    // After it, only the new one.
    eventually(Duration::from_secs(15), || async {
        let a = signed("old-secret").await;
        check(a.status == 401, || {
            format!("old secret still answered {}", a.status)
        })
    })
    .await;
    signed("new-secret").await.expect_status(202);
    // A change without a grace drops the old secret at once.
    s.patch_webhook(id, json!({"verification": {"secret": "third-secret"}}))
        .await
        .expect_status(200);
    signed("new-secret").await.expect_problem(401);
    signed("third-secret").await.expect_status(202);
    // `null` removes verification: an unsigned request is accepted again.
    let a = s.patch_webhook(id, json!({"verification": null})).await;
    a.expect_status(200);
    assert_eq!(a.json()["verification"], Value::Null);
    let a = post_signed(&s, &hook, JSON, body, &[], true).await;
    a.expect_status(202);
    assert_eq!(recorded_verdict(&s, &a).await, Value::Null);
}

#[tokio::test]
async fn log_only_accepts_and_records_the_verdict_for_runs() {
    let s = Server::start().await;
    let verification = json!({"scheme": "stripe", "secret": "whsec_x", "mode": "log_only"});
    let hook = verifying_hook(&s, "shadow", 0, verification).await;
    assert_eq!(hook["verification"]["mode"], "log_only");
    create_event(&s, json!({"name": "charges", "webhook_id": hook["id"]})).await;
    let verdict = "{{ trigger.verification.verdict }}";
    let verdicts = completing_yaml("verdicts", "charges", "verdict", "string", verdict);
    let wf = valid_workflow(&s, &verdicts).await;
    let body = br#"{"id":"evt_2"}"#;
    let ts = now_s();
    let h = vec![(
        "Stripe-Signature".to_string(),
        format!("t={ts},v1={}", hex(&mac("sha256", b"whsec_wrong", body))),
    )];
    let a = post_signed(&s, &hook, JSON, body, &h, true).await;
    a.expect_status(202);
    let v = recorded_verdict(&s, &a).await;
    assert_eq!(v["verdict"], "invalid");
    assert_eq!(v["scheme"], "stripe");
    assert!(
        v["detail"].as_str().unwrap().contains("no signature"),
        "{v}"
    );
    // Unsigned: accepted, `missing`.
    let a = post_signed(&s, &hook, JSON, body, &[], true).await;
    a.expect_status(202);
    assert_eq!(recorded_verdict(&s, &a).await["verdict"], "missing");
    // The runs saw the verdicts.
    let runs = eventually(Duration::from_secs(30), || async {
        let runs = runs_of(&s, &wf).await;
        if runs.len() == 2 && runs.iter().all(|r| r["status"] == "succeeded") {
            Ok(runs)
        } else {
            Err(format!("runs: {runs:?}"))
        }
    })
    .await;
    let mut seen: Vec<String> = Vec::new();
    for r in &runs {
        let run = get_run(&s, r["id"].as_str().unwrap()).await;
        assert_eq!(run["trigger"]["verification"]["scheme"], "stripe", "{run}");
        seen.push(run["outputs"]["verdict"].as_str().unwrap().to_string());
    }
    seen.sort();
    assert_eq!(seen, ["invalid", "missing"]);
}

#[tokio::test]
async fn require_api_key_false_lets_signed_requests_in_without_a_key() {
    let s = Server::start().await;
    // Refused with log_only, on create and on change.
    let a = s
        .post_webhook(json!({"name": "nokey-shadow", "content_type": JSON,
                   "verification": {"scheme": "github", "secret": "k", "mode": "log_only",
                                    "require_api_key": false}}))
        .await;
    a.expect_problem_saying(400, "only with mode enforce");
    let hook = s
        .create_webhook_from(json!({"name": "nokey", "content_type": JSON,
                   "verification": {"scheme": "github", "secret": "k", "require_api_key": false}}))
        .await;
    assert_eq!(hook["verification"]["require_api_key"], false);
    let body = br#"{"a":1}"#;
    let good = vec![(
        "X-Hub-Signature-256".to_string(),
        format!("sha256={}", hex(&mac("sha256", b"k", body))),
    )];
    post_signed(&s, &hook, JSON, body, &good, false)
        .await
        .expect_status(202);
    // Without a key and without a valid signature: refused, for the signature.
    let a = post_signed(&s, &hook, JSON, body, &[], false).await;
    expect_refused(&s, &hook, &a, "X-Hub-Signature-256", "missing").await;
    let hook_id = hook["id"].as_str().unwrap();
    let change = json!({"name": "renamed", "verification": {"mode": "log_only"}});
    s.patch_webhook(hook_id, change).await.expect_problem(400);
    // A refused change changes nothing, not even the other fields of the same PATCH.
    let w = s.webhook(hook_id).await;
    assert_eq!(w["name"], "nokey");
    // Still enforced and keyless after the refused change.
    post_signed(&s, &hook, JSON, body, &good, false)
        .await
        .expect_status(202);
    // A webhook that requires its key still refuses a signed request without one.
    let keyed = s
        .create_webhook_from(json!({"name": "keyed", "content_type": JSON,
                   "verification": {"scheme": "github", "secret": "k"}}))
        .await;
    // A verification change for a webhook that does not exist is a 404.
    let unknown = unknown_id_like(keyed["id"].as_str().unwrap());
    s.patch_webhook(
        &unknown,
        json!({"verification": {"scheme": "github", "secret": "k"}}),
    )
    .await
    .expect_problem(404);
    let a = post_signed(&s, &keyed, JSON, body, &good, false).await;
    a.expect_problem_saying(401, "API key");
}

#[tokio::test]
async fn forged_requests_spend_none_of_the_rate_limit() {
    let s = Server::start().await;
    let verification = json!({"scheme": "shopify", "secret": "shp"});
    let hook = verifying_hook(&s, "limited", 1, verification).await;
    let id = hook["id"].as_str().unwrap().to_string();
    let body = br#"{"order":1}"#;
    let forged = vec![(
        "X-Shopify-Hmac-Sha256".to_string(),
        B64.encode(mac("sha256", b"guess", body)),
    )];
    let good = vec![(
        "X-Shopify-Hmac-Sha256".to_string(),
        B64.encode(mac("sha256", b"shp", body)),
    )];
    avoid_window_edge(60, 15).await;
    for _ in 0..5 {
        post_signed(&s, &hook, JSON, body, &forged, true)
            .await
            .expect_problem(401);
    }
    post_signed(&s, &hook, JSON, body, &good, true)
        .await
        .expect_status(202);
    // The one allowed request is spent now: the limit still works.
    post_signed(&s, &hook, JSON, body, &good, true)
        .await
        .expect_problem(429);
    // Verdicts are counted per webhook.
    let m = s.metrics().await;
    let count = |verdict: &str| {
        metric_value(
            &m,
            "hookflow_verifications_total",
            &format!("webhook=\"{id}\",verdict=\"{verdict}\""),
        )
    };
    assert_eq!((count("invalid"), count("valid")), (5.0, 2.0), "{m}");
    let w = s
        .api(Method::GET, &format!("/api/v1/webhooks/{id}"), None)
        .await;
    assert_eq!(w.json()["usage"]["minute"], 1);
}
