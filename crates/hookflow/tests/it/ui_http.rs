//! The web UI (SPEC §7) over plain HTTP: sign-in and sessions, CSRF, the webhook forms and
//! details (Webhook URL, deliveries with reasons), the workflow editor (Validate in place, Save),
//! run pages with secrets redacted, security headers and HTML escaping. The browser tests
//! (`browser`) follow the same pages in Chromium.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::common::{
    Answer, Server, contains_all, disable_workflow, eventually, pct, random_hex, run_to_end,
    server_with_workflow, texts_of, valid_workflow,
};

/// A UI visitor: a client that does not follow redirects, with the session cookie by hand.
pub(crate) struct Ui<'a> {
    s: &'a Server,
    client: reqwest::Client,
    cookie: Option<String>,
    csrf: String,
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Text as the browser shows it: the entities minijinja writes turned back into characters.
pub(crate) fn unescape(html: &str) -> String {
    html.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&amp;", "&")
}

/// The text inside the element with `id` (up to its first child tag or end tag), unescaped.
pub(crate) fn text_of(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let open = at + html[at..].find('>')? + 1;
    let end = open + html[open..].find('<')?;
    Some(unescape(&html[open..end]))
}

/// The HTML of the element with `id` up to `</tag>`.
pub(crate) fn element(html: &str, id: &str, tag: &str) -> String {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in page:\n{html}"));
    let end = at + html[at..].find(&format!("</{tag}>")).expect("end tag");
    html[at..end].to_string()
}

pub(crate) fn location(a: &Answer) -> String {
    a.header("location").unwrap_or("").to_string()
}

/// The `Location` of a form's `303 See Other` (the page shown when it is something else).
pub(crate) fn redirected(a: &Answer) -> String {
    assert_eq!(a.status, 303, "{}", a.text());
    location(a)
}

/// What a form created: the id ending the `Location` of its 303.
pub(crate) fn created_id(a: &Answer) -> String {
    let to = redirected(a);
    to.rsplit('/').next().unwrap_or_default().to_string()
}

impl<'a> Ui<'a> {
    fn new(s: &'a Server) -> Ui<'a> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        Ui {
            s,
            client,
            cookie: None,
            csrf: String::new(),
        }
    }

    /// Signs in with the admin token and reads the CSRF secret from a page.
    pub(crate) async fn signed_in(s: &'a Server) -> Ui<'a> {
        let mut ui = Ui::new(s);
        let a = ui
            .post_raw("/ui/sign-in", form(&[("token", &s.token)]))
            .await;
        assert_eq!(a.status, 303, "sign in: {}", a.text());
        let set = a.header("set-cookie").expect("Set-Cookie").to_string();
        ui.cookie = Some(set.split(';').next().unwrap().to_string());
        let page = ui.get("/ui/events-webhooks").await;
        assert_eq!(page.status, 200, "{}", page.text());
        let html = page.text();
        let at = html.find("name=\"csrf\" value=\"").expect("csrf field") + 19;
        ui.csrf = html[at..at + html[at..].find('"').unwrap()].to_string();
        ui
    }

    async fn send(&self, method: Method, path: &str, body: Option<String>) -> Answer {
        let mut req = self.client.request(method, self.s.url(path));
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/x-www-form-urlencoded")
                .body(b);
        }
        Answer::from_response(req.send().await.expect("UI request")).await
    }

    pub(crate) async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None).await
    }

    async fn post_raw(&self, path: &str, body: String) -> Answer {
        self.send(Method::POST, path, Some(body)).await
    }

    /// `GET` of each of `paths`, which must each answer `status`: the paths with their answers.
    pub(crate) async fn get_each<'p>(
        &self,
        paths: &[&'p str],
        status: u16,
    ) -> Vec<(&'p str, Answer)> {
        let mut answers = Vec::new();
        for &path in paths {
            let a = self.get(path).await;
            assert_eq!(a.status, status, "{path}");
            answers.push((path, a));
        }
        answers
    }

    /// A form POST with the session's CSRF secret.
    pub(crate) async fn post(&self, path: &str, pairs: &[(&str, &str)]) -> Answer {
        let mut all = vec![("csrf", self.csrf.as_str())];
        all.extend_from_slice(pairs);
        self.post_raw(path, form(&all)).await
    }

    /// The new-webhook form posted with these fields.
    pub(crate) async fn new_webhook(&self, pairs: &[(&str, &str)]) -> Answer {
        self.post("/ui/webhooks/new", pairs).await
    }

    /// The webhook edit form of webhook `id` posted with these fields.
    pub(crate) async fn edit_webhook(&self, id: &str, pairs: &[(&str, &str)]) -> Answer {
        self.post(&format!("/ui/webhooks/{id}/edit"), pairs).await
    }

    /// A definition saved from workflow `id`'s page (the form's `save` action).
    pub(crate) async fn save_workflow(&self, id: &str, definition: &str) -> Answer {
        self.workflow_form(id, definition, "save").await
    }

    /// The workflow form of page `/ui/workflows/{page}` (`new`, or a workflow's id) posted with
    /// `definition` and `action` (`validate` or `save`).
    pub(crate) async fn workflow_form(&self, page: &str, definition: &str, action: &str) -> Answer {
        let pairs = [("definition", definition), ("action", action)];
        self.post(&format!("/ui/workflows/{page}"), &pairs).await
    }

    /// A page that must answer 200; its HTML.
    pub(crate) async fn page(&self, path: &str) -> String {
        let a = self.get(path).await;
        assert_eq!(a.status, 200, "GET {path}: {}", a.text());
        a.text()
    }
}

fn assert_page_headers(a: &Answer) {
    assert_eq!(
        a.header("content-type"),
        Some("text/html; charset=utf-8"),
        "{:?}",
        a.headers
    );
    assert_eq!(a.header("cache-control"), Some("no-store"));
    assert_eq!(a.header("x-frame-options"), Some("DENY"));
    assert_eq!(a.header("referrer-policy"), Some("same-origin"));
    let csp = a.header("content-security-policy").unwrap_or("");
    assert!(
        csp.contains("default-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sign_in_sets_a_strict_cookie_and_pages_need_it() {
    let s = Server::start().await;
    let ui = Ui::new(&s);
    let pages = [
        "/",
        "/ui/events-webhooks",
        "/ui/workflows",
        "/ui/runs/x",
        "/ui/nowhere",
    ];
    for (path, a) in ui.get_each(&pages, 303).await {
        assert_eq!(location(&a), "/ui/sign-in", "{path}");
    }
    let a = ui.get("/ui/sign-in").await;
    assert_eq!(a.status, 200);
    assert_page_headers(&a);
    let html = a.text();
    assert!(html.contains(r#"<label for="admin-token">Admin token</label>"#));
    assert!(html.contains(r#"id="admin-token" name="token" type="password""#));
    assert!(html.contains(r#"<button type="submit">Sign in</button>"#));
    assert!(html.contains(r#"name="viewport""#));

    let wrong = ui
        .post_raw("/ui/sign-in", form(&[("token", "not-the-token")]))
        .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.text().contains("That admin token is not valid."));
    assert!(wrong.header("set-cookie").is_none());

    let right = ui
        .post_raw("/ui/sign-in", form(&[("token", &s.token)]))
        .await;
    assert_eq!(right.status, 303);
    assert_eq!(location(&right), "/ui/events-webhooks");
    let cookie = right.header("set-cookie").expect("cookie");
    for part in [
        "hookflow_session=",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
        "Max-Age=",
    ] {
        assert!(cookie.contains(part), "{part} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");
    assert!(
        !cookie.contains(&s.token),
        "the cookie does not hold the token"
    );

    let ui = Ui::signed_in(&s).await;
    let a = ui.get("/").await;
    assert_eq!(location(&a), "/ui/events-webhooks");
    let a = ui.get("/ui/events-webhooks").await;
    assert_page_headers(&a);
    let html = a.text();
    for nav in [
        r#"<a href="/ui/events-webhooks" aria-current="page">Events &amp; Webhooks</a>"#,
        r#"<a href="/ui/workflows">Workflows</a>"#,
        r#"<a href="/ui/runs">Runs</a>"#,
        "Sign out</button>",
        r#"role="tab" href="/ui/events-webhooks" aria-selected="true">Webhooks</a>"#,
        r#"role="tab" href="/ui/events-webhooks?tab=events" aria-selected="false">Events</a>"#,
        r#"href="/ui/webhooks/new">New Webhook</a>"#,
    ] {
        assert!(html.contains(nav), "{nav} in\n{html}");
    }
    // Unknown ids answer a 404 page; static files are cached long.
    let unknown = [
        "/ui/webhooks/0190c0de-0000-7000-8000-000000000000",
        "/ui/workflows/nope",
        "/ui/runs/nope",
        "/ui/deliveries/nope",
        "/ui/nowhere",
    ];
    for (_, a) in ui.get_each(&unknown, 404).await {
        assert_page_headers(&a);
    }
    let css = ui.get("/ui/static/app.css").await;
    assert_eq!(css.status, 200);
    assert!(
        css.header("cache-control")
            .unwrap_or("")
            .contains("max-age=31536000")
    );
    assert!(
        ui.get("/ui/static/app.js")
            .await
            .text()
            .contains("clipboard")
    );

    // A cookie that is not ours is no session; signing out clears the cookie.
    let mut forged = Ui::new(&s);
    forged.cookie = Some("hookflow_session=AAAA".into());
    assert_eq!(forged.get("/ui/workflows").await.status, 303);
    let out = ui.post("/ui/sign-out", &[]).await;
    assert_eq!(out.status, 303);
    assert!(out.header("set-cookie").unwrap_or("").contains("Max-Age=0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forms_without_the_sessions_csrf_are_refused() {
    let s = Server::start().await;
    let ui = Ui::signed_in(&s).await;
    let fields = [("name", "csrf-test"), ("content_type", "application/json")];
    let no_csrf = ui.post_raw("/ui/webhooks/new", form(&fields)).await;
    assert_eq!(no_csrf.status, 403, "{}", no_csrf.text());
    let mut wrong = vec![("csrf", "d3Jvbmc")];
    wrong.extend_from_slice(&fields);
    assert_eq!(
        ui.post_raw("/ui/webhooks/new", form(&wrong)).await.status,
        403
    );
    // The CSRF secret of another session does not do either.
    let other = Ui::signed_in(&s).await;
    let mut theirs = vec![("csrf", other.csrf.as_str())];
    theirs.extend_from_slice(&fields);
    assert_eq!(
        ui.post_raw("/ui/webhooks/new", form(&theirs)).await.status,
        403
    );
    // Another site's request is refused even with the right secret.
    let mut right = vec![("csrf", ui.csrf.as_str())];
    right.extend_from_slice(&fields);
    let cross = ui
        .client
        .post(s.url("/ui/webhooks/new"))
        .header("cookie", ui.cookie.clone().unwrap())
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", "https://evil.example")
        .body(form(&right))
        .send()
        .await
        .expect("send");
    assert_eq!(cross.status(), 403);
    // What a privacy-minded browser sends for this site's own form (its origin hidden as
    // `null`) is accepted; a cross-site fetch is not.
    for (header, value, status) in [
        ("origin", "null", 303),
        ("sec-fetch-site", "cross-site", 403),
    ] {
        let a = ui
            .client
            .post(s.url("/ui/webhooks/new"))
            .header("cookie", ui.cookie.clone().unwrap())
            .header("content-type", "application/x-www-form-urlencoded")
            .header(header, value)
            .body(form(&[
                ("csrf", ui.csrf.as_str()),
                ("name", value),
                ("content_type", "application/json"),
            ]))
            .send()
            .await
            .expect("send");
        assert_eq!(a.status().as_u16(), status, "{header}: {value}");
    }
    // Without a session: sign in first.
    let anon = Ui::new(&s).post_raw("/ui/webhooks/new", form(&right)).await;
    assert_eq!(anon.status, 303);
    let list = s.api_get("/api/v1/webhooks").await.json();
    let names = texts_of(&list["items"], "name");
    assert_eq!(
        names,
        ["null"],
        "only the accepted form created one: {list}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn new_webhook_form_creates_it_and_its_page_shows_url_and_deliveries() {
    let s = Server::start().await;
    let ui = Ui::signed_in(&s).await;
    let html = ui.page("/ui/webhooks/new").await;
    contains_all(
        &html,
        &[
            r#"<label for="display-name">Display Name</label>"#,
            r#"id="display-name" name="name""#,
            r#"<label for="content-type">Request Content Type</label>"#,
            r#"<select id="content-type" name="content_type">"#,
            r#"<option value="application&#x2f;x-www-form-urlencoded">application&#x2f;x-www-form-urlencoded</option>"#,
            r#"<button type="submit">Submit</button>"#,
        ],
    );
    let a = ui
        .new_webhook(&[
            ("name", "alerts"),
            ("content_type", "application/json"),
            ("rate_limit_per_minute", "0"),
        ])
        .await;
    let id = redirected(&a)
        .strip_prefix("/ui/webhooks/")
        .expect("redirect to the webhook")
        .to_string();
    let hook = s.webhook(&id).await;
    assert_eq!(hook["name"], "alerts");
    assert_eq!(hook["rate_limit_per_minute"], 0);

    let html = ui.page(&format!("/ui/webhooks/{id}")).await;
    let url = hook["url"].as_str().unwrap();
    assert_eq!(text_of(&html, "webhook-url").as_deref(), Some(url));
    assert!(html.contains(r#"data-copy="webhook-url">Copy</button>"#));
    let curl = text_of(&html, "curl-example").expect("curl example");
    assert!(curl.contains(&format!("'{url}'")), "{curl}");
    assert!(
        curl.contains("-H 'Content-Type: application/json'"),
        "{curl}"
    );
    assert!(html.contains("Rotate key"));

    // A rejected request shows with its reason; an accepted one as Accepted.
    let rejected = s.post_hook(&hook, "text/plain", b"hi".to_vec()).await;
    assert_eq!(rejected.status, 415);
    let reason = s.expect_rejection_recorded(&id, &rejected).await["reason"]
        .as_str()
        .unwrap()
        .to_string();
    s.post_accepted(&hook, "application/json", br#"{"a": 1}"#.to_vec())
        .await;
    let html = eventually(Duration::from_secs(10), || async {
        let html = ui.page(&format!("/ui/webhooks/{id}")).await;
        if html.contains("Accepted</span>") {
            Ok(html)
        } else {
            Err("no accepted delivery shown yet".to_string())
        }
    })
    .await;
    let table = unescape(&element(&html, "deliveries", "table"));
    assert!(
        table.contains("Rejected</span>") && table.contains(&reason),
        "{table}"
    );
    assert!(
        table.contains("<td>415</td>") && table.contains("<td>202</td>"),
        "{table}"
    );
    // Newest first: the accepted one precedes the rejected one.
    assert!(table.find("Accepted").unwrap() < table.find("Rejected").unwrap());
    let rejected_id = s.deliveries(&id).await[1]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let d = ui.page(&format!("/ui/deliveries/{rejected_id}")).await;
    assert_eq!(
        text_of(&d, "delivery-reason").as_deref(),
        Some(reason.as_str())
    );
    assert!(unescape(&d).contains("text/plain"));

    // Errors re-render the form with the values kept.
    let dup = ui
        .new_webhook(&[("name", "alerts"), ("content_type", "application/xml")])
        .await;
    assert_eq!(dup.status, 409);
    let html = dup.text();
    assert!(html.contains("already exists"), "{html}");
    assert!(
        html.contains(r#"<option value="application&#x2f;xml" selected>"#),
        "{html}"
    );
    let bad = ui
        .new_webhook(&[("name", "x"), ("content_type", "text/plain")])
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.text().contains("is not supported"));

    // Rotating the key shows the new URL.
    let a = ui
        .post(
            &format!("/ui/webhooks/{id}/rotate-key"),
            &[("grace_seconds", "0")],
        )
        .await;
    assert_eq!(a.status, 303);
    let html = ui.page(&location(&a)).await;
    let rotated = s.webhook(&id).await;
    assert_ne!(rotated["url"], hook["url"]);
    assert_eq!(
        text_of(&html, "webhook-url").as_deref(),
        rotated["url"].as_str()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn names_are_escaped() {
    let s = Server::start().await;
    let ui = Ui::signed_in(&s).await;
    let name = "<script>x</script>";
    let a = ui
        .new_webhook(&[("name", name), ("content_type", "application/json")])
        .await;
    assert_eq!(a.status, 303);
    for path in [location(&a), "/ui/events-webhooks".to_string()] {
        let html = ui.page(&path).await;
        assert!(!html.contains(name), "{path} holds the raw name");
        assert!(
            html.contains("&lt;script&gt;x&lt;&#x2f;script&gt;"),
            "{path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_tab_lists_events_made_with_the_form() {
    let s = Server::start().await;
    let ui = Ui::signed_in(&s).await;
    let hook_id = &s.json_webhook_id("source").await;
    let html = ui.page("/ui/events/new").await;
    for label in ["Name", "Webhook", "Schedule", "Timezone", "Filter"] {
        assert!(html.contains(&format!(">{label}</label>")), "{label}");
    }
    let bad = ui
        .post(
            "/ui/events/new",
            &[
                ("name", "both"),
                ("webhook_id", hook_id),
                ("schedule", "* * * * *"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.text().contains("exactly one of"));
    let a = ui
        .post(
            "/ui/events/new",
            &[
                ("name", "pushes"),
                ("webhook_id", hook_id),
                ("filter", "trigger.body.a == 1"),
            ],
        )
        .await;
    assert_eq!(redirected(&a), "/ui/events-webhooks?tab=events");
    ui.post(
        "/ui/events/new",
        &[
            ("name", "nightly"),
            ("schedule", "0 3 * * *"),
            ("timezone", "Europe/Berlin"),
        ],
    )
    .await
    .expect_status(303);
    let html = ui.page("/ui/events-webhooks?tab=events").await;
    assert!(html.contains(r#"aria-selected="true">Events</a>"#));
    assert!(html.contains(&format!(r#"<a href="/ui/webhooks/{hook_id}">source</a>"#)));
    assert!(html.contains("Europe&#x2f;Berlin"));
    assert!(html.contains("trigger.body.a == 1"));
    let events = s.api_get("/api/v1/events").await.json();
    let id = events["items"][0]["id"].as_str().unwrap().to_string();
    ui.post(&format!("/ui/events/{id}/delete"), &[])
        .await
        .expect_status(303);
    assert_eq!(
        s.api_get("/api/v1/events").await.json()["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

const BROKEN: &str = "name: broken
steps:
  - id: first
    type: sleep
    duration: 1s
  - id: second
    type: teleport
";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn validate_shows_errors_at_their_line_and_save_stores() {
    let s = Server::start().await;
    let ui = Ui::signed_in(&s).await;
    let html = ui.page("/ui/workflows/new").await;
    assert!(html.contains(r#"<label for="definition">Definition</label>"#));
    assert!(
        html.contains(r#"<button type="submit" name="action" value="validate">Validate</button>"#)
    );
    assert!(html.contains(r#"<button type="submit" name="action" value="save">Save</button>"#));

    let a = ui.workflow_form("new", BROKEN, "validate").await;
    assert_eq!(a.status, 200);
    let html = a.text();
    let errors = unescape(&element(&html, "validation-errors", "ul"));
    assert!(errors.contains("steps[1].type"), "{errors}");
    assert!(errors.contains("line 7"), "{errors}");
    assert!(html.contains(r#"<li id="L7" class="has-error">"#), "{html}");
    // The text is kept, and nothing was saved.
    assert!(unescape(&html).contains("type: teleport"));
    assert_eq!(
        s.api_get("/api/v1/workflows").await.json()["items"],
        json!([])
    );

    // A syntax error carries its line.
    let a = ui
        .workflow_form("new", "name: x\nsteps: [\n  - a: b\n  c\n", "validate")
        .await;
    let errors = unescape(&element(&a.text(), "validation-errors", "ul"));
    assert!(
        errors.contains("invalid YAML") && errors.contains("line "),
        "{errors}"
    );

    // Save: created, redirected to its page, badge shown.
    let good = "name: ui-made\nsteps:\n  - id: done\n    type: complete\n";
    let a = ui.workflow_form("new", good, "validate").await;
    assert!(
        a.text()
            .contains(r#"id="validation-result" role="status">Validated</p>"#)
    );
    let a = ui.workflow_form("new", good, "save").await;
    let id = redirected(&a)
        .strip_prefix("/ui/workflows/")
        .unwrap()
        .to_string();
    let w = s.api_get(&format!("/api/v1/workflows/{id}")).await.json();
    assert_eq!(w["validation"]["status"], "valid");
    let html = ui.page(&location(&a)).await;
    assert!(html.contains(r#"id="workflow-badge">Validated</span>"#));
    assert!(html.contains(">Disable</button>"));
    let list = ui.page("/ui/workflows").await;
    assert!(list.contains(&format!(r#"<a href="/ui/workflows/{id}">ui-made</a>"#)));
    assert!(list.contains(">Validated</span>"));
    assert!(list.contains(r#"href="/ui/workflows/new">New Workflow</a>"#));

    // Saving a broken version keeps it stored as Invalid, with its errors shown.
    let a = ui
        .save_workflow(&id, &BROKEN.replace("broken", "ui-made"))
        .await;
    assert_eq!(a.status, 303);
    let html = ui.page(&format!("/ui/workflows/{id}")).await;
    assert!(html.contains(r#"id="workflow-badge">Invalid</span>"#));
    assert!(unescape(&element(&html, "validation-errors", "ul")).contains("steps[1].type"));
    // Disable.
    ui.post(
        &format!("/ui/workflows/{id}/enabled"),
        &[("enabled", "false")],
    )
    .await
    .expect_status(303);
    assert_eq!(
        s.api_get(&format!("/api/v1/workflows/{id}")).await.json()["enabled"],
        false
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_pages_show_steps_with_secrets_redacted() {
    let s = Server::start().await;
    let value = format!("s3cr3t-{}", random_hex(16));
    s.set_secret("tok", &value).await;
    let wf = valid_workflow(
        &s,
        r#"
name: secretive-ui
variables: [{name: t, type: string}]
outputs: [{name: t, type: string}]
steps:
  - {id: keep, type: set_variables, values: {t: "{{ secrets.tok }}"}}
  - {id: done, type: complete, outputs: {t: "{{ vars.t }}"}}
"#,
    )
    .await;
    let ui = Ui::signed_in(&s).await;
    let a = ui
        .post(&format!("/ui/workflows/{wf}/run"), &[("inputs", "{}")])
        .await;
    let run_path = redirected(&a);
    assert!(run_path.starts_with("/ui/runs/"), "{run_path}");
    let html = eventually(Duration::from_secs(20), || async {
        let html = ui.page(&run_path).await;
        if html.contains(r#"id="run-status">succeeded<"#) {
            Ok(html)
        } else {
            Err("the run has not succeeded yet".to_string())
        }
    })
    .await;
    let steps = element(&html, "steps", "table");
    assert_eq!(
        steps.matches("<tr>").count(),
        3,
        "header + 2 steps: {steps}"
    );
    contains_all(
        &steps,
        &[
            "<code>keep</code>",
            "set_variables",
            "<code>done</code>",
            "complete",
            "***",
        ],
    );
    assert!(
        !html.contains(&value),
        "the secret's value is on the run page"
    );
    assert!(text_of(&html, "run-outputs").unwrap().contains("***"));
    let list = ui.page("/ui/runs?status=succeeded").await;
    assert!(list.contains(&run_path) && !list.contains(&value));
    assert!(!ui.page("/ui/runs?status=failed").await.contains(&run_path));
    let page = ui.page(&format!("/ui/workflows/{wf}")).await;
    assert!(page.contains(&run_path), "run history on the workflow page");

    // A run that cannot start says why, on the workflow page.
    let a = ui
        .post(&format!("/ui/workflows/{wf}/run"), &[("inputs", "[1]")])
        .await;
    assert_eq!(a.status, 422);
    assert!(
        text_of(&a.text(), "run-error")
            .unwrap()
            .contains("JSON object")
    );
}

/// A run page shows 200 steps at a time, says how many there are, and links to the next ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_pages_show_steps_a_page_at_a_time() {
    let (s, wf) = server_with_workflow(&crate::common::many_steps_yaml("long-run", 249)).await;
    let run = run_to_end(&s, &wf, json!({})).await;
    let id = run["id"].as_str().unwrap();
    let ui = Ui::signed_in(&s).await;
    let html = ui.page(&format!("/ui/runs/{id}")).await;
    let rows = |html: &str| {
        element(html, "steps", "table")
            .matches(r#"<tbody class="step">"#)
            .count()
    };
    assert_eq!(rows(&html), 200);
    let count = text_of(&html, "steps-count").expect("steps-count");
    assert!(count.contains("200 of 250 steps"), "{count}");
    let next = element(&html, "next-steps", "a");
    let href = unescape(
        next.split("href=\"")
            .nth(1)
            .and_then(|h| h.split('"').next())
            .expect("next link"),
    );
    assert!(
        href.starts_with(&format!("/ui/runs/{id}?steps_cursor=")),
        "{href}"
    );
    let html = ui.page(&href).await;
    assert_eq!(rows(&html), 50);
    assert!(!html.contains(r#"id="next-steps""#));
    assert!(
        text_of(&html, "steps-count")
            .unwrap()
            .contains("50 of 250 steps")
    );
}

/// A step record cut at `--max-step-record-bytes` says so on the run page, with the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_pages_say_what_was_cut() {
    let s = Server::start_with(&["--max-step-record-bytes", "1024"]).await;
    let wf = valid_workflow(
        &s,
        "name: cut-ui\nvariables: [{name: v, type: string}]\nsteps:\n  \
         - {id: big, type: set_variables, values: {v: \"{{ 'q' * 5000 }}\"}}\n",
    )
    .await;
    let run = run_to_end(&s, &wf, json!({})).await;
    let id = run["id"].as_str().unwrap();
    let ui = Ui::signed_in(&s).await;
    let steps = element(&ui.page(&format!("/ui/runs/{id}")).await, "steps", "table");
    contains_all(
        &steps,
        &[
            "Input — cut: 5008 bytes, over max_step_record_bytes",
            "Output — cut: 5008 bytes, over max_step_record_bytes",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhooks_are_edited_and_deleted_through_forms() {
    let s = Server::start().await;
    let ui = Ui::signed_in(&s).await;
    let hook = s
        .create_webhook("before", "application/json", Some(7), Some(70))
        .await;
    let id = hook["id"].as_str().unwrap();
    let html = ui.page(&format!("/ui/webhooks/{id}/edit")).await;
    assert!(html.contains(r#"value="before""#) && html.contains(r#"value="7""#));
    let a = ui
        .edit_webhook(
            id,
            &[
                ("name", "after"),
                ("content_type", "application/xml"),
                ("rate_limit_per_minute", "9"),
                ("rate_limit_per_day", ""),
            ],
        )
        .await;
    redirected(&a);
    let w = s.webhook(id).await;
    assert_eq!(
        (
            &w["name"],
            &w["content_type"],
            &w["rate_limit_per_minute"],
            &w["rate_limit_per_day"]
        ),
        (
            &json!("after"),
            &json!("application/xml"),
            &json!(9),
            &json!(70)
        ),
        "a blank limit stays as it was: {w}"
    );
    let html = ui.page(&format!("/ui/webhooks/{id}")).await;
    assert_eq!(text_of(&html, "usage-minute").as_deref(), Some("0 / 9"));
    let curl = text_of(&html, "curl-example").unwrap();
    assert!(curl.contains("Content-Type: application/xml") && curl.contains("<alert>"));
    let a = ui.post(&format!("/ui/webhooks/{id}/delete"), &[]).await;
    assert_eq!(location(&a), "/ui/events-webhooks");
    s.api_get(&format!("/api/v1/webhooks/{id}"))
        .await
        .expect_status(404);
    assert_eq!(ui.get(&format!("/ui/webhooks/{id}")).await.status, 404);
}

/// Whether a page has the signed-in navigation bar.
fn has_navigation(html: &str) -> bool {
    html.contains(r#"<nav aria-label="Main">"#) && html.contains("Sign out</button>")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn error_pages_keep_the_navigation_and_every_answer_has_the_headers() {
    let s = Server::start().await;
    let ui = Ui::signed_in(&s).await;
    let id = &s.json_webhook_id("errors").await;
    // Errors raised inside handlers and extractors, not only the fallback.
    for (what, a, status) in [
        ("unknown run", ui.get("/ui/runs/nope").await, 404),
        ("unknown workflow", ui.get("/ui/workflows/nope").await, 404),
        ("bad status", ui.get("/ui/runs?status=bogus").await, 400),
        ("bad cursor", ui.get("/ui/workflows?cursor=zz").await, 400),
        (
            "bad grace",
            ui.post(
                &format!("/ui/webhooks/{id}/rotate-key"),
                &[("grace_seconds", "soon")],
            )
            .await,
            422,
        ),
        (
            "no csrf",
            ui.post_raw(&format!("/ui/webhooks/{id}/delete"), String::new())
                .await,
            403,
        ),
        ("nothing here", ui.get("/ui/nowhere").await, 404),
    ] {
        assert_eq!(a.status, status, "{what}: {}", a.text());
        assert_page_headers(&a);
        assert!(has_navigation(&a.text()), "{what}: {}", a.text());
    }
    // A method an address does not take: a page too, with Allow.
    let a = ui.get("/ui/sign-out").await;
    assert_eq!(a.status, 405);
    assert_eq!(a.header("allow"), Some("POST"));
    assert_page_headers(&a);
    assert!(has_navigation(&a.text()), "{}", a.text());
    let a = Ui::new(&s).get(&format!("/ui/webhooks/{id}/delete")).await;
    assert_eq!(a.status, 405);
    assert_page_headers(&a);
    assert!(!has_navigation(&a.text()), "no session, no navigation");
    // The start page's redirects carry the headers as well.
    for who in [Ui::new(&s), ui] {
        let a = who.get("/").await;
        assert_eq!(a.status, 303);
        assert_eq!(a.header("cache-control"), Some("no-store"));
        assert_eq!(a.header("x-frame-options"), Some("DENY"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_taken_name_links_to_its_workflow_and_its_page_saves_in_place() {
    let s = Server::start().await;
    let ui = Ui::signed_in(&s).await;
    let first = "name: nightly\nsteps:\n  - id: done\n    type: complete\n";
    let id = valid_workflow(&s, first).await;
    let other = valid_workflow(&s, "name: other\nsteps:\n  - {id: a, type: complete}\n").await;
    let second = "name: nightly\ndescription: again\nsteps:\n  - id: done\n    type: complete\n";
    // On the new workflow's form: refused, with the way to the one that has the name.
    let a = ui.workflow_form("new", second, "save").await;
    assert_eq!(a.status, 409, "{}", a.text());
    let html = a.text();
    assert!(
        text_of(&html, "form-error")
            .unwrap()
            .contains("already exists"),
        "{html}"
    );
    assert!(
        html.contains(&format!(
            r#"<a href="/ui/workflows/{id}" id="existing-workflow">Open the workflow nightly</a>"#
        )),
        "{html}"
    );
    assert!(unescape(&html).contains("description: again"), "text kept");
    assert!(has_navigation(&html));
    // On its own page: saved in place, no second workflow.
    let a = ui.save_workflow(&id, second).await;
    assert_eq!(redirected(&a), format!("/ui/workflows/{id}"));
    let w = s.api_get(&format!("/api/v1/workflows/{id}")).await.json();
    assert_eq!(w["description"], "again", "{w}");
    let all = s.api_get("/api/v1/workflows").await.json();
    assert_eq!(all["items"].as_array().unwrap().len(), 2, "{all}");
    // Renaming it to another workflow's name: refused, with that workflow's link.
    let a = ui
        .save_workflow(&id, &second.replace("nightly", "other"))
        .await;
    assert_eq!(a.status, 409, "{}", a.text());
    assert!(
        a.text().contains(&format!(
            r#"<a href="/ui/workflows/{other}" id="existing-workflow">"#
        )),
        "{}",
        a.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_delivery_page_shows_its_events_and_the_runs_it_started_or_not() {
    let s = Server::start().await;
    let ui = Ui::signed_in(&s).await;
    let hook = s.unlimited_webhook("source", "application/json").await;
    let hook_id = hook["id"].as_str().unwrap();
    for (name, filter) in [
        ("all", None),
        ("severe", Some("trigger.body.severity == \"high\"")),
    ] {
        crate::common::create_event(
            &s,
            json!({"name": name, "webhook_id": hook_id, "filter": filter}),
        )
        .await;
    }
    let triggered_by = |name: &str, event: &str| {
        format!(
            "name: {name}\ntriggers: [{{event: {event}}}]\nsteps:\n  - {{id: done, type: complete}}\n"
        )
    };
    let ran = valid_workflow(&s, &triggered_by("on-all", "all")).await;
    let off = valid_workflow(&s, &triggered_by("switched-off", "all")).await;
    disable_workflow(&s, &off).await;
    let filtered = valid_workflow(&s, &triggered_by("on-severe", "severe")).await;
    let a = s
        .post_hook(
            &hook,
            "application/json",
            br#"{"severity": "low"}"#.to_vec(),
        )
        .await;
    let delivery = a.accepted_id();
    let html = ui.page(&format!("/ui/deliveries/{delivery}")).await;
    assert!(has_navigation(&html));
    assert!(html.contains(&format!(r#"<a href="/ui/webhooks/{hook_id}">source</a>"#)));
    assert_eq!(text_of(&html, "delivery-status"), Some(String::new()));
    assert!(element(&html, "delivery-status", "dd").contains("Accepted"));
    let events = unescape(&element(&html, "matched-events", "table"));
    assert!(
        events.contains("<tr><td>all</td><td>yes</td><td></td></tr>"),
        "{events}"
    );
    assert!(
        events.contains("<tr><td>severe</td><td>no</td><td>the filter is false</td></tr>"),
        "{events}"
    );
    let not_started = unescape(&element(&html, "not-started", "table"));
    assert!(
        not_started.contains(&format!(
            r#"<a href="/ui/workflows/{off}">switched-off</a>"#
        )) && not_started.contains("the workflow is disabled"),
        "{not_started}"
    );
    assert!(
        not_started.contains(&format!(
            r#"<a href="/ui/workflows/{filtered}">on-severe</a>"#
        )) && not_started.contains("the filter is false"),
        "{not_started}"
    );
    let runs = element(&html, "runs", "table");
    let run = s
        .api_get(&format!("/api/v1/runs?delivery_id={delivery}"))
        .await
        .json();
    let run_id = run["items"][0]["id"].as_str().expect("a run").to_string();
    assert_eq!(run["items"].as_array().unwrap().len(), 1, "{run}");
    assert!(
        runs.contains(&format!(r#"<a href="/ui/runs/{run_id}">{run_id}</a>"#))
            && runs.contains(&format!(r#"<a href="/ui/workflows/{ran}">on-all</a>"#)),
        "{runs}"
    );
    // The run links back to the delivery.
    let html = ui.page(&format!("/ui/runs/{run_id}")).await;
    assert!(html.contains(&format!(
        r#"<a href="/ui/deliveries/{delivery}">delivery</a>"#
    )));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_webhook_edit_form_shows_errors_with_the_values_entered() {
    let s = Server::start().await;
    let ui = Ui::signed_in(&s).await;
    s.json_webhook("taken").await;
    let hook = s
        .create_webhook("mine", "application/json", Some(7), Some(70))
        .await;
    let id = hook["id"].as_str().unwrap();
    let html = ui.page(&format!("/ui/webhooks/{id}/edit")).await;
    contains_all(
        &unescape(&html),
        &[
            r#"<label for="display-name">Display Name</label>"#,
            r#"<label for="content-type">Request Content Type</label>"#,
            r#"<option value="application/json" selected>"#,
            r#"value="70""#,
            r#"<button type="submit">Save</button>"#,
            &format!(r#"action="/ui/webhooks/{id}/edit""#),
            &format!(r#"<a href="/ui/webhooks/{id}">Cancel</a>"#),
        ],
    );
    assert!(
        !html.contains(hook["url"].as_str().unwrap()),
        "no key on the form"
    );
    for (fields, status, message) in [
        (
            [
                ("name", "taken"),
                ("content_type", "application/xml"),
                ("rate_limit_per_minute", "9"),
            ],
            409,
            "already exists",
        ),
        (
            [
                ("name", "renamed"),
                ("content_type", "application/xml"),
                ("rate_limit_per_minute", "lots"),
            ],
            422,
            "Rate limit per minute must be a whole number",
        ),
        (
            [
                ("name", "renamed"),
                ("content_type", "text/csv"),
                ("rate_limit_per_minute", "9"),
            ],
            422,
            "is not supported",
        ),
    ] {
        let a = ui.post(&format!("/ui/webhooks/{id}/edit"), &fields).await;
        assert_eq!(a.status, status, "{fields:?}: {}", a.text());
        let html = unescape(&a.text());
        assert!(
            text_of(&html, "form-error").unwrap().contains(message),
            "{fields:?}: {html}"
        );
        assert!(has_navigation(&html));
        // What was entered stays, on the same form.
        assert!(
            html.contains(&format!(r#"value="{}""#, fields[0].1)),
            "{html}"
        );
        assert!(html.contains(&format!(r#"action="/ui/webhooks/{id}/edit""#)));
        assert!(
            html.contains(&format!(r#"value="{}""#, fields[2].1)),
            "{html}"
        );
    }
    // Nothing changed.
    let w = s.webhook(id).await;
    assert_eq!(
        (&w["name"], &w["rate_limit_per_minute"]),
        (&json!("mine"), &json!(7))
    );
    // The webhook page's New Event opens the event form with this webhook chosen.
    let html = ui.page(&format!("/ui/events/new?webhook_id={id}")).await;
    assert!(
        html.contains(&format!(r#"<option value="{id}" selected>mine</option>"#)),
        "{html}"
    );
    // An unknown webhook has no form.
    let unknown = "0190c0de-0000-7000-8000-000000000000";
    assert_eq!(
        ui.get(&format!("/ui/webhooks/{unknown}/edit")).await.status,
        404
    );
    let a = ui.edit_webhook(unknown, &[("name", "x")]).await;
    assert_eq!(a.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tampered_session_cookie_is_no_session() {
    let s = Server::start().await;
    let ui = Ui::signed_in(&s).await;
    let cookie = ui.cookie.clone().unwrap();
    let (name, value) = cookie.split_once('=').unwrap();
    let mid = value.len() / 2;
    let flipped = if &value[mid..=mid] == "A" { "B" } else { "A" };
    for bad in [
        format!("{name}={}{flipped}{}", &value[..mid], &value[mid + 1..]),
        format!("{name}={}", &value[..value.len() - 1]),
        format!("{name}={value}{value}"),
    ] {
        let mut other = Ui::new(&s);
        other.cookie = Some(bad.clone());
        let a = other.get("/ui/workflows").await;
        assert_eq!(
            (a.status, location(&a).as_str()),
            (303, "/ui/sign-in"),
            "{bad}"
        );
        // A form with the session's own CSRF secret does nothing without the real cookie.
        other.csrf = ui.csrf.clone();
        let a = other
            .new_webhook(&[("name", "x"), ("content_type", "application/json")])
            .await;
        assert_eq!(
            (a.status, location(&a).as_str()),
            (303, "/ui/sign-in"),
            "{bad}"
        );
    }
    assert_eq!(ui.get("/ui/workflows").await.status, 200);
    assert_eq!(
        s.api_get("/api/v1/webhooks").await.json()["items"],
        json!([])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_form_needs_the_csrf_secret() {
    let s = Server::start().await;
    let ui = Ui::signed_in(&s).await;
    let hook = s.json_webhook("guarded").await;
    let hook_id = hook["id"].as_str().unwrap();
    let event = crate::common::create_event(&s, json!({"name": "ev", "webhook_id": hook_id})).await;
    let event_id = event["id"].as_str().unwrap();
    let wf = valid_workflow(
        &s,
        "name: guarded\nsteps:\n  - {id: done, type: complete}\n",
    )
    .await;
    let a = ui
        .post(&format!("/ui/workflows/{wf}/run"), &[("inputs", "{}")])
        .await;
    let run = location(&a);
    let definition = "name: changed\nsteps:\n  - {id: done, type: complete}\n";
    for (path, fields) in [
        ("/ui/sign-out".to_string(), vec![]),
        (
            "/ui/webhooks/new".to_string(),
            vec![("name", "new"), ("content_type", "application/json")],
        ),
        (
            format!("/ui/webhooks/{hook_id}/edit"),
            vec![("name", "renamed")],
        ),
        (format!("/ui/webhooks/{hook_id}/rotate-key"), vec![]),
        (format!("/ui/webhooks/{hook_id}/delete"), vec![]),
        (
            "/ui/events/new".to_string(),
            vec![("name", "new"), ("schedule", "* * * * *")],
        ),
        (format!("/ui/events/{event_id}/delete"), vec![]),
        (
            "/ui/workflows/new".to_string(),
            vec![("definition", definition), ("action", "save")],
        ),
        (
            format!("/ui/workflows/{wf}"),
            vec![("definition", definition), ("action", "save")],
        ),
        (
            format!("/ui/workflows/{wf}/enabled"),
            vec![("enabled", "false")],
        ),
        (format!("/ui/workflows/{wf}/run"), vec![("inputs", "{}")]),
        (format!("/ui/workflows/{wf}/delete"), vec![]),
        (format!("{run}/cancel"), vec![]),
    ] {
        let a = ui.post_raw(&path, form(&fields)).await;
        assert_eq!(a.status, 403, "{path}: {}", a.text());
    }
    // Nothing changed, and the session still works.
    let w = s
        .api_get(&format!("/api/v1/webhooks/{hook_id}"))
        .await
        .json();
    assert_eq!((&w["name"], &w["url"]), (&json!("guarded"), &hook["url"]));
    s.api_get(&format!("/api/v1/events/{event_id}"))
        .await
        .expect_status(200);
    let w = s.api_get(&format!("/api/v1/workflows/{wf}")).await.json();
    assert_eq!(
        (&w["name"], &w["enabled"]),
        (&json!("guarded"), &json!(true))
    );
    for path in [
        "/api/v1/webhooks",
        "/api/v1/events",
        "/api/v1/workflows",
        "/api/v1/runs",
    ] {
        let items = s.api_get(path).await.json()["items"].clone();
        assert_eq!(items.as_array().unwrap().len(), 1, "{path}: {items}");
    }
    assert_eq!(ui.get("/ui/workflows").await.status, 200);
}

/// A step's `title` is shown beside its id on the run page (escaped like any text).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_pages_show_step_titles() {
    let (s, wf) = server_with_workflow(
        r#"
name: titled-ui
steps:
  - {id: each, type: for_each, items: [1, 2], title: Look at <each> item, steps: [{id: one, type: regex, input: x, pattern: x, title: "Match & keep"}]}
  - {id: plain, type: regex, input: x, pattern: x}
"#,
    )
    .await;
    let run = run_to_end(&s, &wf, serde_json::json!({})).await;
    let id = run["id"].as_str().unwrap();
    let ui = Ui::signed_in(&s).await;
    let steps = element(&ui.page(&format!("/ui/runs/{id}")).await, "steps", "table");
    assert!(
        steps.contains(
            r#"<code>each</code> <span class="step-title">Look at &lt;each&gt; item</span>"#
        ),
        "{steps}"
    );
    assert_eq!(
        steps
            .matches(r#"[0] <span class="step-title">Match &amp; keep</span>"#)
            .count()
            + steps
                .matches(r#"[1] <span class="step-title">Match &amp; keep</span>"#)
                .count(),
        2,
        "{steps}"
    );
    assert_eq!(
        steps.matches("step-title").count(),
        3,
        "no title for plain: {steps}"
    );
}

/// The webhook form's **Signature verification** section (SPEC §9): set on create, shown on the
/// page without the secret, a blank secret on edit keeps it, no scheme removes it.
#[tokio::test]
async fn the_webhook_form_sets_keeps_and_removes_signature_verification() {
    use crate::verification::{hex, mac, post_signed};
    let s = Server::start().await;
    let ui = Ui::signed_in(&s).await;
    let html = ui.page("/ui/webhooks/new").await;
    assert!(html.contains("Signature verification") && html.contains(r#"name="verify_secret""#));
    let a = ui
        .new_webhook(&[
            ("name", "signed"),
            ("content_type", "application/json"),
            ("rate_limit_per_minute", "0"),
            ("rate_limit_per_day", "0"),
            ("verify_scheme", "github"),
            ("verify_secret", "ui-secret-1"),
            ("verify_mode", "log_only"),
            ("verify_tolerance", ""),
            ("verify_require_api_key", "true"),
            ("verify_header", ""),
            ("verify_algorithm", "sha256"),
            ("verify_encoding", "hex"),
            ("verify_prefix", ""),
        ])
        .await;
    let id = created_id(&a);
    let w = s.webhook(&id).await;
    assert_eq!(w["verification"]["scheme"], "github");
    assert_eq!(w["verification"]["mode"], "log_only");
    let html = ui.page(&format!("/ui/webhooks/{id}")).await;
    assert_eq!(
        text_of(&html, "verification-summary").as_deref(),
        Some("github, log_only")
    );
    let html = ui.page(&format!("/ui/webhooks/{id}/edit")).await;
    assert!(!html.contains("ui-secret-1"), "the secret is never shown");
    assert!(
        html.contains(r#"<option value="github" selected>"#),
        "{html}"
    );
    // Edit: blank secret (kept), enforce.
    let edit = |mode: &'static str, scheme: &'static str| {
        vec![
            ("name", "signed"),
            ("content_type", "application/json"),
            ("verify_scheme", scheme),
            ("verify_secret", ""),
            ("verify_grace", ""),
            ("verify_mode", mode),
            ("verify_require_api_key", "true"),
        ]
    };
    let a = ui.edit_webhook(&id, &edit("enforce", "github")).await;
    redirected(&a);
    let body = br#"{"n":1}"#;
    let sig = |secret: &str| {
        vec![(
            "X-Hub-Signature-256".to_string(),
            format!("sha256={}", hex(&mac("sha256", secret.as_bytes(), body))),
        )]
    };
    post_signed(&s, &w, "application/json", body, &sig("ui-secret-1"), true)
        .await
        .expect_status(202);
    post_signed(&s, &w, "application/json", body, &sig("other"), true)
        .await
        .expect_problem(401);
    // A bad combination is shown in the form, with the values entered.
    let mut bad = edit("log_only", "github");
    bad.retain(|(k, _)| *k != "verify_require_api_key");
    let a = ui.post(&format!("/ui/webhooks/{id}/edit"), &bad).await;
    assert_eq!(a.status, 400, "{}", a.text());
    assert!(unescape(&a.text()).contains("only with mode enforce"));
    // No scheme: removed.
    let a = ui.edit_webhook(&id, &edit("enforce", "")).await;
    redirected(&a);
    let w = s.webhook(&id).await;
    assert_eq!(w["verification"], serde_json::Value::Null);
}
