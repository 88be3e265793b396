//! The web UI (SPEC §7) in a real headless Chromium, driven through Debian's `chromedriver` with
//! fantoccini: the steps a user takes, literally — labels, buttons, links and tabs by their
//! visible names — against a real `hookflow serve` (see `common`), on SQLite or PostgreSQL.
//!
//! Every test starts its own chromedriver on a free port and its own browser profile, so the
//! tests run in parallel. Without `/usr/bin/chromium` and `/usr/bin/chromedriver` the tests fail
//! and say how to install them (`.ci/run` does). Screenshots of the main pages go to
//! `<workspace>/test-artifacts/screenshots/` (git-ignored).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::common::Server;

mod pictures;
mod replay;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// How long chromedriver may take to answer `/status`, and Chromium to open a session.
const START_DEADLINE: Duration = Duration::from_secs(30);
/// How long a page may take to show what a test waits for.
const WAIT: Duration = Duration::from_secs(30);

/// A `chromedriver` process (in its own process group, with the Chromium it starts) and a
/// WebDriver session on it, pointed at one test server. The process group is ended on drop.
struct Browser {
    client: Client,
    /// The server's `http://127.0.0.1:PORT`.
    base_url: String,
    driver: Child,
    /// Chromium's `--user-data-dir`, removed on drop (after the processes have ended).
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium at 1280×900 for the server at `base_url`.
    async fn start(base_url: &str) -> Browser {
        for tool in [CHROMEDRIVER, CHROMIUM] {
            assert!(
                Path::new(tool).exists(),
                "{tool} is missing: the browser tests need Debian's Chromium and ChromeDriver \
                 (`apt-get install -y chromium chromium-driver`; .ci/run installs them)"
            );
        }
        let profile = tempfile::Builder::new()
            .prefix("hookflow-chromium-")
            .tempdir()
            .expect("create a browser profile dir");
        let (driver, port) = spawn_chromedriver().await;
        let mut browser_args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--window-size=1280,900".into(),
            // This machine's network is closed: no background calls home at every start.
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-quic".into(),
        ];
        browser_args.push(format!("--user-data-dir={}", profile.path().display()));
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": browser_args },
        });
        let caps = caps.as_object().cloned().expect("capabilities object");
        let session = match tokio::time::timeout(START_DEADLINE, connect(port, caps)).await {
            Ok(session) => session,
            Err(_) => Err(format!("no session within {START_DEADLINE:?}")),
        };
        let client = match session {
            Ok(client) => client,
            Err(e) => {
                let mut driver = driver;
                end_process_group(&mut driver);
                panic!("open a Chromium session through chromedriver: {e}");
            }
        };
        Browser {
            client,
            base_url: base_url.to_string(),
            driver,
            _profile: profile,
        }
    }

    /// Opens `path` of the server.
    async fn open(&self, path: &str) {
        let url = format!("{}{path}", self.base_url);
        self.client
            .goto(&url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// The path (and query) of the current page.
    async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("current url");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    }

    /// Waits until the current page's path satisfies `want`, and returns it.
    async fn wait_path(&self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let mut last = String::new();
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            last = self.path().await;
            if want(&last) {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the browser did not reach {what} within {WAIT:?}: it is at {last}");
    }

    /// The first element matching the CSS selector, waiting for it to appear.
    async fn find(&self, css: &str) -> Element {
        self.wait_for(Locator::Css(css), &format!("element {css:?}"))
            .await
    }

    /// The visible text of the first element matching the CSS selector, waiting for it.
    async fn text_of(&self, css: &str) -> String {
        let el = self.find(css).await;
        el.text()
            .await
            .unwrap_or_else(|e| panic!("the text of {css:?}: {e}"))
    }

    /// The first element `locator` finds, waiting for it to appear.
    async fn wait_for(&self, locator: Locator<'_>, what: &str) -> Element {
        let found = self.client.wait().at_most(WAIT).for_element(locator).await;
        match found {
            Ok(el) => el,
            Err(e) => panic!("no {what} on {}: {e}", self.path_now().await),
        }
    }

    /// Whether an element matches the CSS selector now (no waiting).
    async fn has(&self, css: &str) -> bool {
        !self
            .client
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_default()
            .is_empty()
    }

    async fn path_now(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_else(|e| format!("(unknown page: {e})"))
    }

    /// The visible text of the whole page.
    async fn page_text(&self) -> String {
        self.text_of("body").await
    }

    /// The form control labelled `label` (a `<label>` whose text is `label`: its `for` control,
    /// or the control inside it).
    async fn labelled(&self, label: &str) -> Element {
        let xpath = format!("//label[normalize-space()={}]", xpath_literal(label));
        let label_el = self
            .wait_for(Locator::XPath(&xpath), &format!("label {label:?}"))
            .await;
        match label_el.attr("for").await.expect("label for") {
            Some(id) if !id.is_empty() => self.find(&format!("[id=\"{id}\"]")).await,
            _ => label_el
                .find(Locator::Css("input, select, textarea"))
                .await
                .unwrap_or_else(|e| panic!("label {label:?} names no control: {e}")),
        }
    }

    /// Types `text` into the (emptied) control labelled `label`.
    async fn fill(&self, label: &str, text: &str) {
        let field = self.labelled(label).await;
        field.clear().await.expect("clear field");
        field
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("type into {label:?}: {e}"));
    }

    /// Chooses the option of value `value` in the `<select>` labelled `label`.
    async fn choose(&self, label: &str, value: &str) {
        self.labelled(label)
            .await
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("choose {value:?} in {label:?}: {e}"));
    }

    /// Clicks the button whose text is `text`.
    async fn click_button(&self, text: &str) {
        let xpath = format!(
            "//button[normalize-space()={t}] | //input[(@type='submit' or @type='button') and @value={t}]",
            t = xpath_literal(text)
        );
        self.click_xpath(&xpath, &format!("button {text:?}")).await;
    }

    /// Clicks the link whose text is `text`.
    async fn click_link(&self, text: &str) {
        let xpath = format!("//a[normalize-space()={}]", xpath_literal(text));
        self.click_xpath(&xpath, &format!("link {text:?}")).await;
    }

    async fn click_xpath(&self, xpath: &str, what: &str) {
        let el = self.wait_for(Locator::XPath(xpath), what).await;
        el.click()
            .await
            .unwrap_or_else(|e| panic!("click {what}: {e}"));
    }

    /// Clicks the tab (`role="tab"`) whose text is `text`.
    async fn click_tab(&self, text: &str) {
        let xpath = format!(
            "//*[@role='tab' and normalize-space()={}]",
            xpath_literal(text)
        );
        self.click_xpath(&xpath, &format!("tab {text:?}")).await;
    }

    /// The text of the first element matching `xpath`, reloading the page until there is one.
    async fn reload_until_found(&self, xpath: &str, what: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let found = self.client.find_all(Locator::XPath(xpath)).await;
            if let Some(el) = found.ok().and_then(|v| v.into_iter().next()) {
                return el.text().await.expect("element text");
            }
            if Instant::now() > deadline {
                panic!(
                    "{} does not show {what} within {WAIT:?}:\n{}",
                    self.path_now().await,
                    self.page_text().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            self.client.refresh().await.expect("reload");
        }
    }

    /// The text of the row of the deliveries table that links to delivery `id`, reloading until
    /// it is there.
    async fn delivery_row(&self, id: &str) -> String {
        self.reload_until_found(&delivery_row_xpath(id), &format!("delivery {id}"))
            .await
    }

    /// The text of the first row of a table (`<table id=table>`, or any table for `None`)
    /// that contains `text`, reloading until there is one.
    async fn row_containing(&self, table: Option<&str>, text: &str) -> String {
        let table = match table {
            Some(id) => format!("//table[@id={}]", xpath_literal(id)),
            None => "//table".to_string(),
        };
        let xpath = format!(
            "{table}//tr[contains(normalize-space(.), {})]",
            xpath_literal(text)
        );
        self.reload_until_found(&xpath, &format!("a row with {text:?}"))
            .await
    }

    /// Opens delivery `id` by its link in the deliveries table.
    async fn click_delivery(&self, id: &str) {
        let xpath = format!(
            "{}//a[contains(@href, {})]",
            delivery_row_xpath(id),
            xpath_literal(&format!("/ui/deliveries/{id}"))
        );
        self.click_xpath(&xpath, &format!("the link to delivery {id}"))
            .await;
        self.wait_path("the delivery's page", |p| {
            p == format!("/ui/deliveries/{id}")
        })
        .await;
    }

    /// Reloads the page until `check` on the text of the element matching `css` returns `Ok`,
    /// within `limit`.
    async fn reload_until<T>(
        &self,
        css: &str,
        limit: Duration,
        mut check: impl FnMut(&str) -> Result<T, String>,
    ) -> T {
        let deadline = Instant::now() + limit;
        loop {
            let text = self.find(css).await.text().await.expect("element text");
            match check(&text) {
                Ok(v) => return v,
                Err(e) if Instant::now() > deadline => {
                    panic!(
                        "{} did not show it within {limit:?}: {e}\n---- page ----\n{}",
                        self.path_now().await,
                        self.page_text().await
                    )
                }
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    self.client.refresh().await.expect("reload");
                }
            }
        }
    }

    /// Saves a PNG of the whole page (the window made as tall as the page, at most 4,000 px,
    /// then set back) as `test-artifacts/screenshots/<name>.png`.
    async fn screenshot(&self, name: &str) {
        let (_, _, width, height) = self.client.get_window_rect().await.expect("window size");
        let (width, height) = (width as u32, height as u32);
        let size = self
            .client
            .execute(
                "return [document.documentElement.scrollHeight, \
                 window.outerHeight - window.innerHeight]",
                vec![],
            )
            .await
            .expect("measure the page");
        let page = size[0].as_u64().unwrap_or(0) as u32;
        let chrome = size[1].as_u64().unwrap_or(0) as u32;
        let full = (page + chrome).clamp(height, 4000);
        if full != height {
            self.client
                .set_window_size(width, full)
                .await
                .expect("make the window as tall as the page");
        }
        let png = self.client.screenshot().await.expect("screenshot");
        if full != height {
            self.client
                .set_window_size(width, height)
                .await
                .expect("set the window size back");
        }
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("create the screenshot dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Ends the WebDriver session (the driver process ends on drop).
    async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        end_process_group(&mut self.driver);
    }
}

/// `<workspace>/test-artifacts/screenshots`.
fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../test-artifacts/screenshots")
        .to_path_buf()
}

/// Starts chromedriver on a free port in a process group of its own and waits until it answers.
/// A port taken between the probe and chromedriver's bind makes chromedriver exit: then it tries
/// another port.
async fn spawn_chromedriver() -> (Child, u16) {
    use std::os::unix::process::CommandExt;
    let deadline = Instant::now() + START_DEADLINE;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("reqwest client");
    'attempt: loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("find a free port")
            .port();
        let mut child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start {CHROMEDRIVER}: {e}"));
        let status_url = format!("http://127.0.0.1:{port}/status");
        loop {
            if let Ok(r) = http.get(&status_url).send().await
                && r.status().is_success()
            {
                return (child, port);
            }
            if let Ok(Some(status)) = child.try_wait() {
                assert!(
                    Instant::now() < deadline,
                    "{CHROMEDRIVER} --port={port} exited with {status}"
                );
                continue 'attempt;
            }
            if Instant::now() > deadline {
                end_process_group(&mut child);
                panic!("{CHROMEDRIVER} did not answer on port {port} within {START_DEADLINE:?}");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// A WebDriver session on the chromedriver at `port`, over plain HTTP.
async fn connect(port: u16, caps: serde_json::Map<String, Value>) -> Result<Client, String> {
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .map_err(|e| e.to_string())
}

/// Ends the process group led by `child` (chromedriver and the Chromium it started): SIGTERM,
/// then SIGKILL if it is still there after 5 s.
fn end_process_group(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let group = format!("-{}", child.id());
    let signal = |sig: &str| {
        let _ = Command::new("kill")
            .args([sig, "--", &group])
            .stderr(Stdio::null())
            .status();
    };
    signal("-TERM");
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Chromium's own processes may outlive the driver by a moment.
    signal("-KILL");
    let _ = child.kill();
    let _ = child.wait();
}

/// The row of the deliveries table that links to delivery `id`.
fn delivery_row_xpath(id: &str) -> String {
    format!(
        "//table[@id='deliveries']//tr[.//a[contains(@href, {})]]",
        xpath_literal(&format!("/ui/deliveries/{id}"))
    )
}

/// `s` as an XPath string literal (XPath 1.0 has no escapes: `concat()` for mixed quotes).
fn xpath_literal(s: &str) -> String {
    if !s.contains('\'') {
        format!("'{s}'")
    } else if !s.contains('"') {
        format!("\"{s}\"")
    } else {
        let parts: Vec<String> = s.split('\'').map(|p| format!("'{p}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}

/// A definition with a broken expression: `vars.nope` is not declared.
const BROKEN_WORKFLOW: &str = "name: greet-pushes
variables: [{name: greeting, type: string}]
triggers: [{event: pushes}]
steps:
  - {id: greet, type: set_variables, values: {greeting: \"{{ vars.nope }}\"}}
";

/// The workflow the flow saves: a JSON path over the pushed commits, a variable set from the
/// body, and outputs — every step's output is something the run page must show.
const WORKFLOW: &str = "name: greet-pushes
variables: [{name: greeting, type: string}]
outputs: [{name: greeting, type: string}]
triggers: [{event: pushes}]
steps:
  - id: commit_ids
    type: json_path
    input: \"{{ trigger.body }}\"
    query: $.commits[*].id
  - {id: greet, type: set_variables, values: {greeting: \"hello {{ trigger.body.pusher }}\"}}
  - {id: done, type: complete, outputs: {greeting: \"{{ vars.greeting }}\"}}
";

/// POSTs a JSON `body` to a Webhook URL, expects 202, and returns the delivery's id.
async fn post_accepted(url: &str, body: &str) -> String {
    let sent = reqwest::Client::new()
        .post(url)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("POST to the Webhook URL");
    assert_eq!(sent.status().as_u16(), 202, "POST to the Webhook URL");
    sent.headers()
        .get("x-delivery-id")
        .and_then(|v| v.to_str().ok())
        .expect("X-Delivery-Id")
        .to_string()
}

/// Signs in through the sign-in page with `token`, starting from `/`.
async fn sign_in(b: &Browser, token: &str) {
    submit_sign_in(b, token).await;
    // Signed in once the answer's redirect has led away from the form; a page opened before
    // that would be replaced by the redirect's target.
    b.wait_path("the page after signing in", |p| {
        !p.starts_with("/ui/sign-in")
    })
    .await;
}

/// SPEC §7 and issue 5, step by step as a user: sign in; Events & Webhooks → Webhooks → New
/// Webhook; Display Name, Request Content Type, Submit; open the webhook; read its Webhook URL
/// and send to it (accepted and rejected requests show up with their reasons); create an event
/// and a workflow (Validate shows errors in place, then Validated), trigger it, and read the
/// step outputs on the run page. Screenshots of each main page.
#[tokio::test]
async fn webhook_to_run_through_the_ui() {
    let server = Server::start().await;
    let b = Browser::start(&server.base_url).await;

    // Signed out, the root leads to the sign-in page.
    b.open("/").await;
    b.wait_path("the sign-in page", |p| p.starts_with("/ui/sign-in"))
        .await;
    b.screenshot("sign-in").await;
    sign_in(&b, &server.token).await;
    b.wait_path("Events & Webhooks", |p| {
        p.starts_with("/ui/events-webhooks")
    })
    .await;

    // Events & Webhooks → Webhooks → New Webhook.
    b.click_link("Events & Webhooks").await;
    b.click_tab("Webhooks").await;
    b.click_link("New Webhook").await;
    b.wait_path("the new webhook form", |p| p == "/ui/webhooks/new")
        .await;
    let name = format!("GitHub pushes {}", &crate::common::random_hex(6));
    b.fill("Display Name", &name).await;
    b.choose("Request Content Type", "application/json").await;
    b.screenshot("new-webhook").await;
    b.click_button("Submit").await;
    let hook_path = b
        .wait_path("the new webhook's page", |p| {
            p.starts_with("/ui/webhooks/") && p != "/ui/webhooks/new"
        })
        .await;

    // The list shows it; clicking it opens its page.
    b.click_link("Events & Webhooks").await;
    b.click_tab("Webhooks").await;
    assert!(
        b.page_text().await.contains(&name),
        "the webhook list lacks {name:?}"
    );
    b.screenshot("events-webhooks").await;
    b.click_link(&name).await;
    b.wait_path("the webhook's page", |p| p == hook_path).await;

    // Its Webhook URL, with its key, a copy button and a curl example that uses it.
    let url = b.text_of("#webhook-url").await;
    let url = url.trim().to_string();
    let hook_id = hook_path.trim_start_matches("/ui/webhooks/");
    assert!(
        url.starts_with(&format!("{}/webhooks/{hook_id}?api_key=", server.base_url)),
        "the Webhook URL {url:?} is not {}/webhooks/{hook_id}?api_key=…",
        server.base_url
    );
    b.wait_for(
        Locator::XPath("//button[normalize-space()='Copy']"),
        "button \"Copy\"",
    )
    .await;
    let curl = b.text_of("#curl-example").await;
    assert!(
        curl.contains("curl") && curl.contains(hook_id) && curl.contains("application/json"),
        "the curl example does not use this webhook: {curl}"
    );

    // A JSON request is accepted and shows up as Accepted, with its status.
    let delivery_id = post_accepted(&url, r#"{"hello":"from the browser test"}"#).await;
    let row = b.delivery_row(&delivery_id).await;
    assert!(
        row.contains("Accepted") && row.contains("202"),
        "the delivery's row does not say Accepted 202: {row:?}"
    );

    // A request with the wrong Content-Type is refused (415) and shows up as Rejected with the
    // reason the sender was given.
    let refused = reqwest::Client::new()
        .post(&url)
        .header("Content-Type", "text/plain")
        .body("plain text")
        .send()
        .await
        .expect("POST with the wrong Content-Type");
    assert_eq!(refused.status().as_u16(), 415);
    let problem: Value = refused.json().await.expect("a problem document");
    let reason = problem["detail"]
        .as_str()
        .expect("problem detail")
        .to_string();
    let row = b.row_containing(Some("deliveries"), "Rejected").await;
    assert!(
        row.contains("415") && row.contains(&reason),
        "the rejected row lacks its status 415 and reason {reason:?}: {row:?}"
    );
    b.screenshot("webhook-details").await;

    // At phone width the page still fits the screen.
    b.client
        .set_window_size(390, 844)
        .await
        .expect("phone width");
    b.client.refresh().await.expect("reload");
    b.find("#webhook-url").await;
    b.screenshot("webhook-details-phone").await;
    let overflow = b
        .client
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
            vec![],
        )
        .await
        .expect("measure the page");
    assert!(
        overflow.as_i64().unwrap_or(0) <= 0,
        "at 390 px the page is {overflow} px wider than the screen"
    );
    b.client
        .set_window_size(1280, 900)
        .await
        .expect("desktop width");

    // The accepted delivery: its headers and body.
    b.click_delivery(&delivery_id).await;
    let text = b.page_text().await;
    assert!(
        text.contains("from the browser test"),
        "the delivery page lacks the body sent: {text}"
    );
    assert!(
        text.to_ascii_lowercase().contains("content-type"),
        "the delivery page lacks the headers: {text}"
    );
    b.screenshot("delivery").await;

    // Events & Webhooks → Events → New Event, for this webhook.
    b.click_link("Events & Webhooks").await;
    b.click_tab("Events").await;
    b.click_link("New Event").await;
    b.wait_path("the new event form", |p| p.starts_with("/ui/events/new"))
        .await;
    b.fill("Name", "pushes").await;
    b.labelled("Webhook")
        .await
        .select_by_label(&name)
        .await
        .unwrap_or_else(|e| panic!("choose the webhook {name:?}: {e}"));
    // Test filter: what the filter says of the webhook's delivery, before anything is saved.
    b.fill("Filter", "trigger.body.hello is defined").await;
    b.click_button("Test filter").await;
    let summary = b.text_of("#filter-test-summary").await;
    assert!(
        summary.starts_with("1 of the webhook's last 1 accepted deliveries match"),
        "the filter test's summary: {summary:?}"
    );
    let tried = b.text_of("#filter-test-results").await;
    assert!(
        tried.contains(&delivery_id) && tried.contains("matched"),
        "the filter test lists the delivery as matched: {tried:?}"
    );
    // The form kept its fields; the event is saved without a filter.
    b.fill("Filter", "").await;
    b.click_button("Submit").await;
    b.wait_path("the events tab", |p| p == "/ui/events-webhooks?tab=events")
        .await;
    let row = b.row_containing(Some("events"), "pushes").await;
    assert!(
        row.contains(&name),
        "the event's row does not name its webhook: {row:?}"
    );

    // Workflows → New Workflow: a broken definition shows its error in place, a good one is
    // Validated, and Save stores it.
    b.click_link("Workflows").await;
    b.click_link("New Workflow").await;
    b.wait_path("the workflow editor", |p| p == "/ui/workflows/new")
        .await;
    b.fill("Definition", BROKEN_WORKFLOW).await;
    b.click_button("Validate").await;
    let errors = b.text_of("#validation-errors").await;
    assert!(
        errors.contains("steps[0].values.greeting") && errors.contains("vars.nope"),
        "the validation errors do not name the broken expression and its place: {errors:?}"
    );
    b.screenshot("workflow-editor-error").await;
    b.fill("Definition", WORKFLOW).await;
    b.click_button("Validate").await;
    let result = b.text_of("#validation-result").await;
    assert_eq!(result.trim(), "Validated");
    assert!(
        !b.has("#validation-errors li").await,
        "a valid definition still shows errors"
    );
    b.click_button("Save").await;
    b.wait_path("the saved workflow", |p| {
        p.starts_with("/ui/workflows/") && p != "/ui/workflows/new"
    })
    .await;
    b.click_link("Workflows").await;
    let row = b.row_containing(Some("workflows"), "greet-pushes").await;
    assert!(
        row.contains("Validated"),
        "the workflow's row is not Validated: {row:?}"
    );
    b.screenshot("workflows").await;

    // Trigger it through the Webhook URL; the delivery shows the run it started, and the run
    // page each step's output once it has finished.
    let pusher = format!("octocat-{}", crate::common::random_hex(6));
    let body = json!({"pusher": pusher, "commits": [{"id": "c1-abc"}, {"id": "c2-def"}]});
    let delivery_id = post_accepted(&url, &body.to_string()).await;
    b.click_link("Events & Webhooks").await;
    b.click_link(&name).await;
    b.delivery_row(&delivery_id).await;
    b.click_delivery(&delivery_id).await;
    b.click_xpath(
        "//table[@id='runs']//a[starts-with(@href, '/ui/runs/')]",
        "the run started",
    )
    .await;
    b.wait_path("the run's page", |p| p.starts_with("/ui/runs/"))
        .await;
    let greeting = format!("hello {pusher}");
    b.reload_until(
        "#run-status",
        Duration::from_secs(30),
        |status| match status.trim() {
            "succeeded" => Ok(()),
            "failed" | "cancelled" => Err(format!("the run ended {status}")),
            other => Err(format!("the run is {other}")),
        },
    )
    .await;
    let steps = b.text_of("#steps").await;
    for want in ["commit_ids", "greet", "done", "c1-abc", "c2-def", &greeting] {
        assert!(
            steps.contains(want),
            "the steps table lacks {want:?}: {steps}"
        );
    }
    assert!(
        b.page_text().await.contains("greet-pushes"),
        "the run page does not name its workflow"
    );
    b.screenshot("run").await;
    b.close().await;
}

/// Opens the sign-in page and submits `token`, without waiting for the answer.
async fn submit_sign_in(b: &Browser, token: &str) {
    b.open("/").await;
    b.wait_path("the sign-in page", |p| p.starts_with("/ui/sign-in"))
        .await;
    b.fill("Admin token", token).await;
    b.click_button("Sign in").await;
}

/// A wrong admin token is refused with a message, and no session is opened.
#[tokio::test]
async fn sign_in_with_a_wrong_token_is_refused() {
    let server = Server::start().await;
    let b = Browser::start(&server.base_url).await;
    submit_sign_in(&b, "not-the-admin-token").await;
    b.wait_path("the sign-in page", |p| p.starts_with("/ui/sign-in"))
        .await;
    let error = b.text_of("#sign-in-error").await;
    assert!(
        error.to_ascii_lowercase().contains("token"),
        "the sign-in error does not say what is wrong: {error:?}"
    );
    let cookies = b.client.get_all_cookies().await.expect("cookies");
    assert!(
        cookies.iter().all(|c| c.name() != "hookflow_session"),
        "a wrong token opened a session"
    );
    b.open("/ui/runs").await;
    b.wait_path("the sign-in page", |p| p.starts_with("/ui/sign-in"))
        .await;
    b.close().await;
}
