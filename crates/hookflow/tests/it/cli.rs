//! The `hookflow` binary as a client (SPEC §6): `webhook create|list|show|rotate-key|delete`
//! against a running server, with `HOOKFLOW_URL` and `HOOKFLOW_TOKEN`, and its errors.

use serde_json::{Value, json};

use crate::common::*;

const JSON: &str = "application/json";
/// Runs `hookflow ARGS` with exactly the given `HOOKFLOW_*` environment.
async fn hookflow(env: &[(&str, &str)], args: &[&str]) -> Run {
    hookflow_with(env, args, None).await
}

#[track_caller]
fn expect_ok(r: &Run) {
    r.ok();
}

#[track_caller]
fn expect_failure(r: &Run) {
    assert!(
        r.code.is_some_and(|c| c != 0),
        "command must fail with an exit code: {r:?}"
    );
    assert!(
        !r.stderr.trim().is_empty(),
        "a failure explains itself on stderr: {r:?}"
    );
}

/// POSTs `{}` to a Webhook URL as printed.
async fn post_json(url: &str) -> Answer {
    let resp = reqwest::Client::new()
        .post(url)
        .header("accept", JSON)
        .header("content-type", JSON)
        .body("{\"from\":\"cli\"}")
        .send()
        .await
        .expect("POST Webhook URL");
    Answer::from_response(resp).await
}

fn webhook_id_of(url: &str) -> String {
    let rest = url.split("/webhooks/").nth(1).expect("/webhooks/ in URL");
    rest.split('?').next().expect("id").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhook_lifecycle_through_the_cli() {
    let s = Server::start().await;

    // create: stdout is exactly the Webhook URL, and it takes requests.
    let r = client(
        &s,
        &words("webhook create --name from-cli --content-type application/json"),
    )
    .await;
    expect_ok(&r);
    let url = r.stdout.trim_end_matches('\n');
    assert!(
        !url.contains('\n') && r.stdout.ends_with('\n'),
        "stdout is one line: {r:?}"
    );
    assert!(
        url.starts_with(&format!("{}/webhooks/", s.base_url)) && url.contains("?api_key="),
        "stdout is the Webhook URL: {r:?}"
    );
    let id = webhook_id_of(url);
    let shown = s.api_get(&format!("/api/v1/webhooks/{id}")).await;
    shown.expect_status(200);
    let hook = shown.json();
    assert_eq!(
        hook["url"],
        json!(url),
        "the printed URL is the webhook's url"
    );
    assert_eq!(hook["name"], json!("from-cli"));
    assert_eq!(hook["content_type"], json!(JSON));
    post_json(url).await.expect_status(202);

    // list: a table with the name, or JSON.
    let r = client(&s, &["webhook", "list"]).await;
    expect_ok(&r);
    let header = r.stdout.lines().next().expect("a header line");
    let row = r
        .stdout
        .lines()
        .find(|l| l.contains(&id))
        .unwrap_or_else(|| panic!("no row for {id}: {r:?}"));
    assert!(row.contains("from-cli") && row.contains(JSON), "{row}");
    // Columns line up: the numbers end where their headings end.
    assert_eq!(row.len(), header.len(), "aligned table:\n{}", r.stdout);
    let per_min_end = header.find("PER MIN").expect("PER MIN column") + "PER MIN".len();
    assert_eq!(
        row[..per_min_end].split_whitespace().last(),
        Some("5"),
        "per-minute limit under its heading:\n{}",
        r.stdout
    );
    let r = client(&s, &["webhook", "list", "--json"]).await;
    expect_ok(&r);
    let items: Value = serde_json::from_str(&r.stdout).expect("list --json is JSON");
    let items = items.as_array().expect("a JSON array");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], json!(id));
    assert_eq!(items[0]["name"], json!("from-cli"));

    // show: the webhook as JSON.
    let r = client(&s, &["webhook", "show", &id]).await;
    expect_ok(&r);
    let shown: Value = serde_json::from_str(&r.stdout).expect("show is JSON");
    assert_eq!(shown["id"], json!(id));
    assert_eq!(shown["url"], json!(url));

    // rotate-key: a new URL; the old one stops working at once.
    let r = client(&s, &["webhook", "rotate-key", &id]).await;
    expect_ok(&r);
    let new_url = r.stdout.trim();
    assert!(
        new_url.starts_with(&format!("{}/webhooks/{id}?api_key=", s.base_url)),
        "{r:?}"
    );
    assert_ne!(new_url, url, "a new key");
    post_json(url).await.expect_problem(401);
    post_json(new_url).await.expect_status(202);

    // delete: then show fails with the server's explanation.
    let r = client(&s, &["webhook", "delete", &id]).await;
    expect_ok(&r);
    let r = client(&s, &["webhook", "show", &id]).await;
    expect_failure(&r);
    assert!(r.stdout.is_empty(), "nothing on stdout: {r:?}");
    assert!(
        r.stderr.contains("404") && r.stderr.contains(&id),
        "says the webhook is not there: {r:?}"
    );
    post_json(new_url).await.expect_problem(401);
    let r = client(&s, &["webhook", "delete", &id]).await;
    expect_failure(&r);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cli_create_with_limits_and_bad_input() {
    let s = Server::start().await;
    let create = "webhook create --name limited --content-type application/xml \
                  --rate-limit-per-minute 2 --rate-limit-per-day 20";
    let r = client(&s, &words(create)).await;
    expect_ok(&r);
    let id = webhook_id_of(r.stdout.trim());
    let hook = s.webhook(&id).await;
    assert_eq!(hook["content_type"], json!("application/xml"));
    assert_eq!(hook["rate_limit_per_minute"], json!(2));
    assert_eq!(hook["rate_limit_per_day"], json!(20));

    let r = client(
        &s,
        &words("webhook create --name plain --content-type text/plain"),
    )
    .await;
    expect_failure(&r);
    assert!(r.stdout.is_empty(), "{r:?}");
    assert!(
        r.stderr.contains("422") && r.stderr.contains("text/plain"),
        "the server's detail is shown: {r:?}"
    );
    let r = client(&s, &["webhook", "create", "--name", "limited"]).await;
    expect_failure(&r);
    assert!(r.stderr.contains("409"), "duplicate name: {r:?}");

    // Duplicate detection (SPEC §9) from the command line; a bad key is the server's 400.
    let r = client(
        &s,
        &words("webhook create --name gh --dedup-key github --dedup-window-seconds 600"),
    )
    .await;
    expect_ok(&r);
    let hooks = s.api_get("/api/v1/webhooks").await.json();
    let gh = hooks["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "gh")
        .cloned()
        .expect("created");
    assert_eq!(
        gh["dedup"],
        serde_json::json!({"key": "github", "window_seconds": 600})
    );
    let r = client(
        &s,
        &words("webhook create --name bad --dedup-key secrets.x"),
    )
    .await;
    expect_failure(&r);
    assert!(
        r.stderr.contains("400") && r.stderr.contains("trigger"),
        "{r:?}"
    );
}

/// `webhook create --verify …` and `webhook verify`: signature verification from the command
/// line (SPEC §9), the secret from `HOOKFLOW_VERIFY_SECRET`, never printed.
#[tokio::test]
async fn cli_sets_changes_and_removes_verification() {
    let s = Server::start().await;
    let env = |secret: &'static str| {
        [
            ("HOOKFLOW_URL", s.base_url.clone()),
            ("HOOKFLOW_TOKEN", s.token.clone()),
            ("HOOKFLOW_VERIFY_SECRET", secret.to_string()),
        ]
    };
    let e = env("cli-secret-1");
    let e: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let create = "webhook create --name signed --verify hmac --verify-header X-Sig \
                  --verify-algorithm sha1 --verify-mode log_only";
    let r = hookflow(&e, &words(create)).await;
    expect_ok(&r);
    let id = webhook_id_of(r.stdout.trim());
    let hook = s.webhook(&id).await;
    assert_eq!(hook["verification"]["scheme"], "hmac");
    assert_eq!(hook["verification"]["header"], "X-Sig");
    assert_eq!(hook["verification"]["algorithm"], "sha1");
    assert_eq!(hook["verification"]["mode"], "log_only");
    let e2 = env("cli-secret-2");
    let e2: Vec<(&str, &str)> = e2.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = hookflow(
        &e2,
        &[
            "webhook",
            "verify",
            &id,
            "--verify-mode",
            "enforce",
            "--require-api-key",
            "false",
            "--previous-secret-grace-seconds",
            "60",
        ],
    )
    .await;
    expect_ok(&r);
    assert!(!r.stdout.contains("cli-secret"), "{r:?}");
    let shown: Value = serde_json::from_str(&r.stdout).expect("webhook JSON");
    assert_eq!(shown["verification"]["require_api_key"], false);
    assert!(
        shown["verification"]["previous_secret_expires_at"].is_string(),
        "{shown}"
    );
    // log_only without a key is refused, and the detail says why.
    let r = client(&s, &["webhook", "verify", &id, "--verify-mode", "log_only"]).await;
    expect_failure(&r);
    assert!(
        r.stderr.contains("400") && r.stderr.contains("enforce"),
        "{r:?}"
    );
    let r = client(&s, &["webhook", "verify", &id, "--remove"]).await;
    expect_ok(&r);
    let hook = s.webhook(&id).await;
    assert_eq!(hook["verification"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cli_explains_token_problems() {
    let s = Server::start().await;
    // No token at all, or an empty one: refused before any request, naming the variable to
    // set. A wrong token: the server's 401 is passed on.
    let cases: [(Option<&str>, &[&str]); 3] = [
        (None, &["HOOKFLOW_TOKEN"]),
        (Some(""), &["HOOKFLOW_TOKEN"]),
        (Some("wrong"), &["401", "token"]),
    ];
    for (token, says) in cases {
        let mut env = vec![("HOOKFLOW_URL", s.base_url.as_str())];
        env.extend(token.map(|t| ("HOOKFLOW_TOKEN", t)));
        let r = hookflow(&env, &["webhook", "list"]).await;
        expect_failure(&r);
        contains_all(&r.stderr, says);
    }
    // --url and --token work as well as the environment.
    let r = hookflow(
        &[],
        &["webhook", "list", "--url", &s.base_url, "--token", &s.token],
    )
    .await;
    expect_ok(&r);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cli_explains_an_unreachable_server() {
    // A port that was just free: nothing listens there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let r = hookflow(
        &[("HOOKFLOW_URL", &url), ("HOOKFLOW_TOKEN", "t")],
        &["webhook", "list"],
    )
    .await;
    expect_failure(&r);
    assert!(
        r.stderr.contains("cannot reach the server") && r.stderr.contains(&url),
        "{r:?}"
    );
}
