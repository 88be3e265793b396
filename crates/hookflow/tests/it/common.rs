//! The test harness: a real `hookflow serve` process per test, on port 0, with a fresh data
//! directory and admin token, and helpers to talk to it over HTTP — through `reqwest` for
//! ordinary requests and through a raw TCP socket for the requests `reqwest` would normalise
//! (a raw `+` in the query, a declared `Content-Length` with no body, no `Accept` header).
//!
//! With `TEST_DATABASE_URL=postgres://…` set, every server runs on PostgreSQL instead of SQLite:
//! on a fresh database of that server, created for it and dropped with it (see [`PgDatabase`]).

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Connection, PgConnection, Row};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How long a server may take to print its listening line.
const START_DEADLINE: Duration = Duration::from_secs(30);
/// How long a graceful stop (SIGTERM) may take before the harness gives up and kills.
const STOP_DEADLINE: Duration = Duration::from_secs(20);

/// A random string of `n` lowercase hex digits (no `rand` crate needed: `RandomState` is
/// randomly seeded per instance).
pub fn random_hex(n: usize) -> String {
    let mut s = String::new();
    while s.len() < n {
        let mut h = RandomState::new().build_hasher();
        h.write_usize(s.len());
        s.push_str(&format!("{:016x}", h.finish()));
    }
    s.truncate(n);
    s
}

/// The PostgreSQL server the suite runs on (`TEST_DATABASE_URL`, any database of it), or `None`
/// for the default embedded SQLite database.
pub fn test_database_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
}

/// The backend every [`Server`] of this run uses, as `/healthz` names it.
pub fn backend_name() -> &'static str {
    if test_database_url().is_some() {
        "postgres"
    } else {
        "sqlite"
    }
}

/// `url` with its database (the path) replaced by `database`; user, host, port and query kept.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
    let authority_end = base[after_scheme..]
        .find('/')
        .map(|i| after_scheme + i)
        .unwrap_or(base.len());
    let mut out = format!("{}/{database}", &base[..authority_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// A fresh, empty PostgreSQL database `hf_it_<hex>` on the `TEST_DATABASE_URL` server, dropped
/// (`WITH (FORCE)`, best effort) when this value is dropped.
pub struct PgDatabase {
    /// `postgres://…/hf_it_<hex>`, for `serve --database`.
    pub url: String,
    pub name: String,
    /// The URL the database was created through (and is dropped through).
    admin_url: String,
}

impl PgDatabase {
    /// A fresh database when `TEST_DATABASE_URL` is set, else `None`.
    pub async fn create_if_configured() -> Option<PgDatabase> {
        match test_database_url() {
            Some(url) => Some(PgDatabase::create(&url).await),
            None => None,
        }
    }

    /// Creates a fresh database on the server of `admin_url`.
    pub async fn create(admin_url: &str) -> PgDatabase {
        let name = format!("hf_it_{}", random_hex(24));
        let mut conn = PgConnection::connect(admin_url)
            .await
            .unwrap_or_else(|e| panic!("TEST_DATABASE_URL {admin_url}: cannot connect: {e}"));
        // The name is ours: hf_it_ and hex digits.
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name} on {admin_url}: {e}"));
        let _ = conn.close().await;
        PgDatabase {
            url: with_database(admin_url, &name),
            name,
            admin_url: admin_url.to_string(),
        }
    }

    /// A connection to this database.
    pub async fn connect(&self) -> PgConnection {
        PgConnection::connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("connect to {}: {e}", self.url))
    }

    /// The names of the tables in the `public` schema, sorted.
    pub async fn tables(&self) -> Vec<String> {
        let mut conn = self.connect().await;
        let rows = sqlx::query(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
        )
        .fetch_all(&mut conn)
        .await
        .expect("list tables");
        let _ = conn.close().await;
        rows.iter().map(|r| r.get::<String, _>(0)).collect()
    }

    /// Every row of every table, one text line per row (PostgreSQL's row-to-text form, in which
    /// `BYTEA` values are `\x` and hex digits): what the SQLite tests read from the database file.
    pub async fn dump_text(&self) -> String {
        let tables = self.tables().await;
        let mut conn = self.connect().await;
        let mut out = String::new();
        for t in tables {
            let rows = sqlx::query(AssertSqlSafe(format!("SELECT t::text FROM \"{t}\" t")))
                .fetch_all(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("dump {t}: {e}"));
            for r in rows {
                out.push_str(&t);
                out.push_str(": ");
                out.push_str(&r.get::<String, _>(0));
                out.push('\n');
            }
        }
        let _ = conn.close().await;
        out
    }
}

/// Asserts that `secret` appears nowhere in `dump` (a [`PgDatabase::dump_text`]): neither as
/// text nor as the hex digits `BYTEA` values are dumped as.
#[track_caller]
pub fn assert_not_in_dump(dump: &str, secret: &str, what: &str) {
    assert!(
        !dump.contains(secret),
        "the database holds {what} in the clear"
    );
    let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
    assert!(
        !dump.to_ascii_lowercase().contains(&hex),
        "the database holds {what} in the clear (as bytes)"
    );
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // Drop may run inside the test's runtime, which must not be blocked on: a thread with
        // its own runtime drops the database, and the test waits for it (10 s at most).
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let worker = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                let drop = async {
                    let mut conn = PgConnection::connect(&admin_url).await.ok()?;
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let r = sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await;
                    if let Err(e) = r {
                        eprintln!("could not drop test database {name}: {e}");
                    }
                    let _ = conn.close().await;
                    Some(())
                };
                let _ = tokio::time::timeout(Duration::from_secs(10), drop).await;
            });
        });
        let _ = worker.join();
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn pct(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An HTTP answer reduced to what tests look at; header names are lower-cased.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub async fn from_response(resp: reqwest::Response) -> Answer {
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = resp.bytes().await.expect("read response body").to_vec();
        Answer {
            status,
            headers,
            body,
        }
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "answer {} is not JSON ({e}): {:?}",
                self.status,
                truncate(&self.text(), 2000)
            )
        })
    }

    /// Asserts the status, with the body in the message when it differs.
    #[track_caller]
    pub fn expect_status(&self, status: u16) -> &Self {
        assert_eq!(
            self.status,
            status,
            "expected HTTP {status}, got {}: headers {:?} body {:?}",
            self.status,
            self.headers,
            truncate(&self.text(), 2000)
        );
        self
    }

    /// Asserts an RFC 9457 problem answer with this status: `Content-Type:
    /// application/problem+json` and a JSON object with `type`, `title`, `status` (equal to the
    /// HTTP status) and a non-empty `detail`. Returns the problem object.
    #[track_caller]
    pub fn expect_problem(&self, status: u16) -> Value {
        self.expect_status(status);
        let ct = self.header("content-type").unwrap_or("");
        assert!(
            ct.to_ascii_lowercase()
                .starts_with("application/problem+json"),
            "a {status} answer must be application/problem+json, got Content-Type {ct:?}"
        );
        let p = self.json();
        assert!(p["type"].is_string(), "problem without `type`: {p}");
        assert!(p["title"].is_string(), "problem without `title`: {p}");
        assert_eq!(p["status"], json!(status), "problem `status` field: {p}");
        let detail = p["detail"].as_str().unwrap_or("");
        assert!(!detail.trim().is_empty(), "problem without `detail`: {p}");
        p
    }
}

pub fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        s.to_string()
    } else {
        let mut end = n;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}… ({} bytes)", &s[..end], s.len())
    }
}

/// A `hookflow serve` child process and what tests need to talk to it.
pub struct Server {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub base_url: String,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// The admin token (`HOOKFLOW_ADMIN_TOKEN`).
    pub token: String,
    /// The `--data-dir`, kept across restarts (the master key file lives there on either
    /// backend; the SQLite database too).
    pub data_dir: PathBuf,
    /// The PostgreSQL database given as `--database` on every start, when `TEST_DATABASE_URL`
    /// is set; dropped with the server.
    pub pg: Option<PgDatabase>,
    /// The PostgreSQL database of another server this one is a peer node of
    /// ([`Server::start_peer`]); not dropped with this server.
    shared_db: Option<String>,
    /// More `serve` arguments, given on every start (see [`Server::start_with`]).
    extra_args: Vec<String>,
    pub client: reqwest::Client,
    /// The root that holds `data/` and the logs of every start; removed on drop.
    root: tempfile::TempDir,
    child: Option<Child>,
    /// stderr of the current child.
    log_path: PathBuf,
    starts: usize,
}

impl Server {
    /// Starts a server on a fresh data directory with a random admin token.
    pub async fn start() -> Server {
        Server::start_with(&[]).await
    }

    /// Like [`Server::start`], with more `serve` arguments (e.g. `--public-url`), kept for
    /// restarts.
    pub async fn start_with(args: &[&str]) -> Server {
        Server::start_on(PgDatabase::create_if_configured().await, args).await
    }

    /// A server on the embedded SQLite database, whether or not `TEST_DATABASE_URL` is set.
    pub async fn start_sqlite() -> Server {
        Server::start_on(None, &[]).await
    }

    /// A server on the embedded SQLite database whose fresh data directory `fill` prepares
    /// before the first start (e.g. restores a backup into it).
    pub async fn start_sqlite_on(fill: impl FnOnce(&std::path::Path)) -> Server {
        let mut server = Server::prepare(&[]);
        fill(&server.data_dir);
        server.spawn().await;
        server
    }

    /// A server on `pg` (`None`: SQLite in the data directory).
    async fn start_on(pg: Option<PgDatabase>, args: &[&str]) -> Server {
        let mut server = Server::prepare(args);
        server.pg = pg;
        server.spawn().await;
        server
    }

    /// Another node of this server's installation (SPEC §6): its own process, port and data
    /// directory, on the same PostgreSQL database, with the same master key (the key file is
    /// copied) and admin token; `args` are its own `serve` arguments. Panics on SQLite, which
    /// one node owns. The database stays owned by `self`: drop peers first.
    pub async fn start_peer(&self, args: &[&str]) -> Server {
        let url = self
            .database_url()
            .expect("several nodes need the PostgreSQL backend (TEST_DATABASE_URL)");
        let mut peer = Server::prepare(args);
        peer.shared_db = Some(url);
        peer.token = self.token.clone();
        std::fs::copy(
            self.data_dir.join("master.key"),
            peer.data_dir.join("master.key"),
        )
        .expect("copy the master key file to the peer's data directory");
        peer.spawn().await;
        peer
    }

    /// A server on the PostgreSQL database at `url`, which the caller owns (e.g. a private
    /// PostgreSQL cluster a test starts and stops).
    pub async fn start_on_database(url: &str, args: &[&str]) -> Server {
        let mut server = Server::prepare(args);
        server.shared_db = Some(url.to_string());
        server.spawn().await;
        server
    }

    /// The PostgreSQL URL given as `--database`, if any.
    pub fn database_url(&self) -> Option<String> {
        self.pg
            .as_ref()
            .map(|p| p.url.clone())
            .or_else(|| self.shared_db.clone())
    }

    /// Runs `sql` with `$1` = `bind` directly on this server's database (its SQLite file or
    /// PostgreSQL database), to arrange or observe what the interface cannot; answers the rows
    /// it changed.
    pub async fn db_execute(&self, sql: &str, bind: &str) -> u64 {
        match self.database_url() {
            Some(url) => {
                let pool = sqlx::PgPool::connect(&url).await.expect("connect pg");
                let done = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(bind)
                    .execute(&pool)
                    .await;
                done.expect("execute").rows_affected()
            }
            None => {
                let pool = self.sqlite_pool().await;
                let done = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(bind)
                    .execute(&pool)
                    .await;
                done.expect("execute").rows_affected()
            }
        }
    }

    /// The BIGINT that `sql` (with `$1` = `bind`) answers on this server's database.
    pub async fn db_scalar(&self, sql: &str, bind: &str) -> i64 {
        match self.database_url() {
            Some(url) => {
                let pool = sqlx::PgPool::connect(&url).await.expect("connect pg");
                let q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(bind);
                q.fetch_one(&pool).await.expect("query")
            }
            None => {
                let pool = self.sqlite_pool().await;
                let q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(bind);
                q.fetch_one(&pool).await.expect("query")
            }
        }
    }

    async fn sqlite_pool(&self) -> sqlx::SqlitePool {
        let url = format!("sqlite://{}", self.data_dir.join("hookflow.db").display());
        sqlx::SqlitePool::connect(&url)
            .await
            .expect("connect sqlite")
    }

    /// A server not started yet: a fresh data directory, a random admin token, SQLite.
    fn prepare(args: &[&str]) -> Server {
        let root = tempfile::Builder::new()
            .prefix("hookflow-it-")
            .tempdir()
            .expect("create temp dir");
        let data_dir = root.path().join("data");
        std::fs::create_dir_all(&data_dir).expect("create data dir");
        Server {
            base_url: String::new(),
            addr: String::new(),
            token: format!("it-admin-{}", random_hex(32)),
            data_dir,
            pg: None,
            shared_db: None,
            extra_args: args.iter().map(|a| a.to_string()).collect(),
            client: Server::new_client(),
            log_path: PathBuf::new(),
            root,
            child: None,
            starts: 0,
        }
    }

    fn new_client() -> reqwest::Client {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("build reqwest client")
    }

    /// The stderr log of the current (or last) process.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    async fn spawn(&mut self) {
        assert!(self.child.is_none(), "spawn while a child is running");
        self.starts += 1;
        self.log_path = self
            .root
            .path()
            .join(format!("server-{}.stderr.log", self.starts));
        let log = std::fs::File::create(&self.log_path).expect("create log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hookflow"));
        cmd.arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(&self.data_dir);
        if let Some(url) = self.database_url() {
            cmd.arg("--database").arg(url);
        }
        let mut child = cmd
            .args(&self.extra_args)
            .env("HOOKFLOW_ADMIN_TOKEN", &self.token)
            .env_remove("HOOKFLOW_LISTEN")
            .env_remove("HOOKFLOW_DATA_DIR")
            .env_remove("HOOKFLOW_PUBLIC_URL")
            .env_remove("HOOKFLOW_DATABASE_URL")
            .env_remove("HOOKFLOW_MASTER_KEY")
            .env("RUST_BACKTRACE", "1")
            // /usr/bin/python3: what the sandbox user can run (PATH's python3 may be a shim
            // under /root); a test may pass its own --python.
            .env("HOOKFLOW_PYTHON", "/usr/bin/python3")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn hookflow serve");

        // A thread reads stdout for the whole life of the child, so the pipe never fills; the
        // first listening line is handed over.
        let stdout = child.stdout.take().expect("child stdout");
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut sent = false;
            let mut line = String::new();
            loop {
                line.clear();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if !sent && line.starts_with("hookflow listening on ") {
                            sent = true;
                            let _ = tx.send(line.trim().to_string());
                        }
                    }
                }
            }
            // Drain anything else (unlikely) until EOF.
            let _ = reader.read_to_end(&mut Vec::new());
        });

        let deadline = Instant::now() + START_DEADLINE;
        let url = loop {
            match rx.try_recv() {
                Ok(line) => break line["hookflow listening on ".len()..].to_string(),
                Err(mpsc::TryRecvError::Disconnected) | Err(mpsc::TryRecvError::Empty)
                    if child.try_wait().ok().flatten().is_some() =>
                {
                    let status = child.try_wait().ok().flatten();
                    panic!(
                        "hookflow serve exited ({status:?}) before listening; stderr:\n{}",
                        self.log()
                    );
                }
                Err(_) => {}
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "hookflow serve did not print its listening line within {START_DEADLINE:?}; \
                     stderr:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let url = url.trim_end_matches('/').to_string();
        let addr = url
            .strip_prefix("http://")
            .unwrap_or_else(|| panic!("listening line is not an http:// URL: {url}"))
            .to_string();
        assert!(
            addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
            "listening line must name the bound port: {url}"
        );
        self.base_url = url;
        self.addr = addr;
        self.child = Some(child);
    }

    /// The server process's id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server is not running").id()
    }

    /// Kills the server with SIGKILL (`Child::kill`) and reaps it.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server with SIGTERM and waits for it to exit; returns its exit status. Kills it
    /// (and panics) if it does not exit in time.
    pub async fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("server is not running");
        let ok = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "could not send SIGTERM with `kill`");
        let deadline = Instant::now() + STOP_DEADLINE;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "hookflow serve did not stop within {STOP_DEADLINE:?} of SIGTERM; stderr:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Replaces the extra `serve` arguments given on the next starts (see [`Server::restart`]).
    pub fn set_args(&mut self, args: &[&str]) {
        self.extra_args = args.iter().map(|a| a.to_string()).collect();
    }

    /// Stops the server (gracefully if it is still running) and starts it again on the same data
    /// directory with the same admin token; the port changes.
    pub async fn restart(&mut self) {
        if self.child.is_some() {
            let status = self.stop().await;
            assert!(
                status.success(),
                "graceful stop must exit successfully, got {status:?}; stderr:\n{}",
                self.log()
            );
        }
        // A fresh client: pooled connections point at the old process.
        self.client = Server::new_client();
        self.spawn().await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// A management API call with the admin token.
    pub async fn api(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut req = self
            .client
            .request(method.clone(), self.url(path))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e:?}"));
        Answer::from_response(resp).await
    }

    pub async fn api_get(&self, path: &str) -> Answer {
        self.api(Method::GET, path, None).await
    }

    pub async fn api_post(&self, path: &str, body: Value) -> Answer {
        self.api(Method::POST, path, Some(body)).await
    }

    pub async fn api_patch(&self, path: &str, body: Value) -> Answer {
        self.api(Method::PATCH, path, Some(body)).await
    }

    pub async fn api_delete(&self, path: &str) -> Answer {
        self.api(Method::DELETE, path, None).await
    }

    /// Creates a webhook (201 expected). `None` limits are left out of the request, so the
    /// server's defaults apply.
    pub async fn create_webhook(
        &self,
        name: &str,
        content_type: &str,
        per_minute: Option<i64>,
        per_day: Option<i64>,
    ) -> Value {
        let mut body = json!({"name": name, "content_type": content_type});
        if let Some(m) = per_minute {
            body["rate_limit_per_minute"] = json!(m);
        }
        if let Some(d) = per_day {
            body["rate_limit_per_day"] = json!(d);
        }
        let a = self.api_post("/api/v1/webhooks", body).await;
        a.expect_status(201);
        let hook = a.json();
        assert!(hook["id"].is_string(), "webhook without id: {hook}");
        assert!(
            hook["api_key"].is_string(),
            "webhook without api_key: {hook}"
        );
        hook
    }

    /// A webhook with no rate limits, for tests that send more than 5 accepted requests.
    pub async fn unlimited_webhook(&self, name: &str, content_type: &str) -> Value {
        self.create_webhook(name, content_type, Some(0), Some(0))
            .await
    }

    /// `http://127.0.0.1:PORT/webhooks/{id}?api_key=<percent-encoded key>` on the current port.
    pub fn hook_url(&self, hook: &Value) -> String {
        self.hook_url_with_key(hook, hook["api_key"].as_str().expect("api_key"))
    }

    pub fn hook_url_with_key(&self, hook: &Value, key: &str) -> String {
        format!(
            "{}/webhooks/{}?api_key={}",
            self.base_url,
            hook["id"].as_str().expect("id"),
            pct(key)
        )
    }

    /// POSTs `body` to the webhook with its key, `Accept: application/json` and `content_type`.
    pub async fn post_hook(&self, hook: &Value, content_type: &str, body: Vec<u8>) -> Answer {
        let resp = self
            .client
            .post(self.hook_url(hook))
            .header("accept", "application/json")
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("POST webhook");
        Answer::from_response(resp).await
    }

    /// All deliveries of a webhook, newest first, following `next_cursor` (pages of 500).
    pub async fn deliveries(&self, hook_id: &str) -> Vec<Value> {
        self.all_pages(&format!("/api/v1/webhooks/{hook_id}/deliveries?limit=500"))
            .await
    }

    /// Every item of a list call (`path` with its query, including `limit=500`), following
    /// `next_cursor`; each page holds at most 500 items.
    pub async fn all_pages(&self, path: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1000 {
            let mut page_path = path.to_string();
            if let Some(c) = &cursor {
                page_path.push_str(&format!("&cursor={}", pct(c)));
            }
            let a = self.api_get(&page_path).await;
            a.expect_status(200);
            let page = a.json();
            let page_items = page["items"]
                .as_array()
                .unwrap_or_else(|| panic!("{path}: a page without items: {page}"));
            assert!(
                page_items.len() <= 500,
                "a page holds at most `limit` items, got {}",
                page_items.len()
            );
            items.extend(page_items.iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) if !page_items.is_empty() => cursor = Some(c.to_string()),
                _ => return items,
            }
        }
        panic!("{path}: too many pages");
    }

    /// `GET /healthz` (no token), whatever its status.
    pub async fn healthz(&self) -> Answer {
        let resp = self.client.get(self.url("/healthz")).send().await;
        Answer::from_response(resp.expect("GET /healthz")).await
    }

    /// Creates or replaces secret `name` (`PUT /api/v1/secrets/{name}`, 200 expected).
    pub async fn set_secret(&self, name: &str, value: &str) {
        self.api(
            Method::PUT,
            &format!("/api/v1/secrets/{name}"),
            Some(json!({ "value": value })),
        )
        .await
        .expect_status(200);
    }

    /// One delivery with its body (`GET /api/v1/deliveries/{id}`, 200 expected).
    pub async fn delivery(&self, id: &str) -> Value {
        let a = self
            .api_get(&format!("/api/v1/deliveries/{}", pct(id)))
            .await;
        a.expect_status(200);
        a.json()
    }

    /// Waits until the webhook's deliveries hold a rejected one with this answer's status and a
    /// `reason` equal to the answer's `detail`, and returns it (full, with body).
    pub async fn expect_rejection_recorded(&self, hook_id: &str, answer: &Answer) -> Value {
        let detail = answer.json()["detail"]
            .as_str()
            .expect("problem detail")
            .to_string();
        let status = answer.status;
        let found = eventually(Duration::from_secs(10), || async {
            let all = self.deliveries(hook_id).await;
            all.iter()
                .find(|d| {
                    d["status"] == "rejected"
                        && d["http_status"] == json!(status)
                        && d["reason"] == json!(detail)
                })
                .cloned()
                .ok_or_else(|| {
                    format!(
                        "no rejected delivery with http_status {status} and reason {detail:?} \
                         among {} deliveries: {:?}",
                        all.len(),
                        all.iter()
                            .take(5)
                            .map(|d| (
                                d["status"].clone(),
                                d["http_status"].clone(),
                                d["reason"].clone()
                            ))
                            .collect::<Vec<_>>()
                    )
                })
        })
        .await;
        assert_eq!(found["webhook_id"], json!(hook_id));
        self.delivery(found["id"].as_str().expect("delivery id"))
            .await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            let log = self.log();
            let tail = if log.len() > 8000 {
                let mut start = log.len() - 8000;
                while !log.is_char_boundary(start) {
                    start += 1;
                }
                &log[start..]
            } else {
                &log[..]
            };
            eprintln!(
                "---- hookflow stderr (last start, {}) ----\n{tail}\n---- end ----",
                self.log_path.display()
            );
        }
    }
}

/// Polls `f` every 50 ms until it returns `Ok`, panicking with its last error after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match f().await {
            Ok(v) => return v,
            Err(e) if Instant::now() > deadline => {
                panic!("condition not met within {timeout:?}: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Sends `bytes` as-is on a new TCP connection to `addr` and reads one HTTP/1.1 answer
/// (Content-Length, chunked, or until EOF), all within 10 s. The write side is never shut down,
/// so a request whose declared body was not sent stays incomplete from the server's view.
pub async fn raw_request(addr: &str, bytes: &[u8]) -> Answer {
    raw_request_within(addr, bytes, Duration::from_secs(10)).await
}

pub async fn raw_request_within(addr: &str, bytes: &[u8], limit: Duration) -> Answer {
    match tokio::time::timeout(limit, raw_exchange(addr, bytes)).await {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => panic!("raw request to {addr}: {e}"),
        Err(_) => panic!("raw request to {addr}: no complete answer within {limit:?}"),
    }
}

async fn raw_exchange(addr: &str, bytes: &[u8]) -> std::io::Result<Answer> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    // The server may answer (and close) before it has read everything; a failed write is then
    // expected, and the answer is what counts.
    let write_result = stream.write_all(bytes).await;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    // Headers.
    let head_end = loop {
        if let Some(p) = find(&buf, b"\r\n\r\n") {
            break p;
        }
        let n = match stream.read(&mut chunk).await {
            Ok(n) => n,
            Err(e) => {
                return Err(std::io::Error::other(format!(
                    "reading answer head: {e} (write result {write_result:?}, read so far {:?})",
                    String::from_utf8_lossy(&buf)
                )));
            }
        };
        if n == 0 {
            return Err(std::io::Error::other(format!(
                "connection closed before an answer head (write result {write_result:?}, read so far {:?})",
                String::from_utf8_lossy(&buf)
            )));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut rest = buf[head_end + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {status_line:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let body = if let Some(len) = get("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| std::io::Error::other("bad content-length"))?;
        while rest.len() < len {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            rest.extend_from_slice(&chunk[..n]);
        }
        rest.truncate(len);
        rest
    } else if get("transfer-encoding").is_some_and(|t| t.to_ascii_lowercase().contains("chunked")) {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(p) = find(&rest, b"\r\n") {
                    break p;
                }
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Err(std::io::Error::other("EOF in chunked body"));
                }
                rest.extend_from_slice(&chunk[..n]);
            };
            let size_text = String::from_utf8_lossy(&rest[..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| std::io::Error::other(format!("bad chunk size {size_text:?}")))?;
            rest.drain(..line_end + 2);
            if size == 0 {
                break;
            }
            while rest.len() < size + 2 {
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Err(std::io::Error::other("EOF in chunk"));
                }
                rest.extend_from_slice(&chunk[..n]);
            }
            body.extend_from_slice(&rest[..size]);
            rest.drain(..size + 2);
        }
        body
    } else if status == 204 || status == 304 || (100..200).contains(&status) {
        Vec::new()
    } else {
        loop {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            rest.extend_from_slice(&chunk[..n]);
        }
        rest
    };
    Ok(Answer {
        status,
        headers,
        body,
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The raw bytes of a request: request line, `Host`, the given header lines, `Connection:
/// close`, a blank line and the body (no `Content-Length` is added: pass it in `headers`).
pub fn raw_bytes(
    method: &str,
    target: &str,
    addr: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\n");
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str("Connection: close\r\n\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// Like [`raw_bytes`] but without `Connection: close` (an HTTP/1.1 keep-alive request).
pub fn raw_bytes_keep_alive(
    method: &str,
    target: &str,
    addr: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut out = raw_bytes(method, target, addr, headers, body);
    let marker = b"Connection: close\r\n\r\n";
    let at = find(&out, marker).expect("marker");
    out.splice(at..at + marker.len(), b"\r\n".iter().copied());
    out
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

/// Waits, if needed, so that at least `margin` seconds remain in the current UTC window of
/// `period` seconds (a fixed-window rate test must not straddle a boundary).
pub async fn avoid_window_edge(period: u64, margin: u64) {
    let now = unix_now();
    let into = now % period as f64;
    let left = period as f64 - into;
    if left < margin as f64 {
        tokio::time::sleep(Duration::from_secs_f64(left + 0.5)).await;
    }
}

/// An id of the same shape as `id` that names no webhook: its last character changed.
pub fn unknown_id_like(id: &str) -> String {
    let mut chars: Vec<char> = id.chars().collect();
    let last = chars.last_mut().expect("non-empty id");
    *last = match *last {
        '0' => '1',
        'a' => 'b',
        'A' => 'B',
        c if c.is_ascii_digit() => '0',
        c if c.is_ascii_lowercase() => 'a',
        c if c.is_ascii_uppercase() => 'A',
        _ => 'x',
    };
    chars.into_iter().collect()
}

// ---- Objects and runs through the management API, and a local HTTP destination ----

/// `POST /api/v1/events` (201 expected); returns the event.
pub async fn create_event(s: &Server, body: Value) -> Value {
    let a = s.api_post("/api/v1/events", body).await;
    a.expect_status(201);
    a.json()
}

/// A YAML workflow document sent to `path` (`POST /api/v1/workflows`, `PUT …/{id}`).
pub async fn send_workflow(s: &Server, method: Method, path: &str, yaml: &str) -> Answer {
    let resp = s
        .client
        .request(method, s.url(path))
        .bearer_auth(&s.token)
        .header("content-type", "application/yaml")
        .body(yaml.to_string())
        .send()
        .await
        .expect("send workflow");
    Answer::from_response(resp).await
}

/// `POST /api/v1/workflows` with a YAML document (201 expected); returns the workflow.
pub async fn create_workflow(s: &Server, yaml: &str) -> Value {
    let a = send_workflow(s, Method::POST, "/api/v1/workflows", yaml).await;
    a.expect_status(201);
    let w = a.json();
    assert!(w["id"].is_string(), "workflow without id: {w}");
    w
}

/// A workflow named `name` whose `for_each` runs one `set_variables` step `n` times: `n + 1` step
/// records.
pub fn many_steps_yaml(name: &str, n: usize) -> String {
    let items: Vec<usize> = (0..n).collect();
    format!(
        "name: {name}\nsteps:\n  - id: each\n    type: for_each\n    items: {items:?}\n    \
         steps:\n      - {{id: one, type: set_variables, values: {{}}}}\n"
    )
}

/// A workflow that must be valid.
pub async fn valid_workflow(s: &Server, yaml: &str) -> String {
    let w = create_workflow(s, yaml).await;
    assert_eq!(
        w["validation"]["status"],
        json!("valid"),
        "workflow must be valid: {}\n{yaml}",
        w["validation"]
    );
    w["id"].as_str().expect("id").to_string()
}

/// POSTs `body` to the webhook with extra headers; 202 expected; returns the X-Delivery-Id.
pub async fn send(s: &Server, hook: &Value, body: &Value, headers: &[(&str, &str)]) -> String {
    let mut req = s
        .client
        .post(s.hook_url(hook))
        .header("accept", "application/json")
        .header("content-type", "application/json")
        .body(body.to_string());
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let a = Answer::from_response(req.send().await.expect("POST webhook")).await;
    a.expect_status(202);
    a.header("x-delivery-id")
        .expect("a 202 carries X-Delivery-Id")
        .to_string()
}

/// `GET /api/v1/runs/{id}` (with steps).
pub async fn get_run(s: &Server, id: &str) -> Value {
    let a = s.api_get(&format!("/api/v1/runs/{id}")).await;
    a.expect_status(200);
    a.json()
}

pub fn is_final(status: &Value) -> bool {
    matches!(status.as_str(), Some("succeeded" | "failed" | "cancelled"))
}

/// The runs of a workflow (`GET /api/v1/runs?workflow_id=`).
pub async fn runs_of(s: &Server, workflow_id: &str) -> Vec<Value> {
    let a = s
        .api_get(&format!("/api/v1/runs?workflow_id={workflow_id}&limit=500"))
        .await;
    a.expect_status(200);
    a.json()["items"].as_array().cloned().unwrap_or_default()
}

/// A local HTTP server that answers 503 to the first `fail_first` requests of each path and
/// 200 `{"ok": true, "path": ...}` after that, counting requests per path. Every answer is
/// held back `delay`, so that requests are in flight for a while.
pub struct FlakyServer {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    counts: Arc<Mutex<HashMap<String, usize>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FlakyServer {
    pub async fn start(fail_first: usize, delay: Duration) -> FlakyServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().unwrap().to_string();
        let counts: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let c = counts.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let counts = c.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    // Head, then the body by Content-Length.
                    let head_end = loop {
                        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break p;
                        }
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                    let len: usize = head
                        .lines()
                        .filter_map(|l| l.split_once(':'))
                        .find(|(n, _)| n.trim().eq_ignore_ascii_case("content-length"))
                        .and_then(|(_, v)| v.trim().parse().ok())
                        .unwrap_or(0);
                    while buf.len() < head_end + 4 + len {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let path = head
                        .lines()
                        .next()
                        .and_then(|l| l.split_whitespace().nth(1))
                        .unwrap_or("/")
                        .to_string();
                    let n = {
                        let mut m = counts.lock().unwrap();
                        let e = m.entry(path.clone()).or_default();
                        *e += 1;
                        *e
                    };
                    let (status, body) = if n <= fail_first {
                        ("503 Service Unavailable", json!({"ok": false}).to_string())
                    } else {
                        ("200 OK", json!({"ok": true, "path": path}).to_string())
                    };
                    tokio::time::sleep(delay).await;
                    let answer = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(answer.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        FlakyServer { addr, counts, task }
    }

    /// Requests received for `path`.
    pub fn count(&self, path: &str) -> usize {
        self.counts.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    /// Requests received per path.
    pub fn counts(&self) -> HashMap<String, usize> {
        self.counts.lock().unwrap().clone()
    }
}

impl Drop for FlakyServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The value of the Prometheus counter `name` with exactly these `labels` (`k="v"` pairs as
/// printed) in a `/metrics` text; 0 when absent.
pub fn metric_value(metrics: &str, name: &str, labels: &str) -> f64 {
    let want = if labels.is_empty() {
        name.to_string()
    } else {
        format!("{name}{{{labels}}}")
    };
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .find(|(k, _)| *k == want)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0.0)
}

impl Server {
    /// `GET /metrics` as text.
    pub async fn metrics(&self) -> String {
        let resp = self
            .client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("GET /metrics");
        let a = Answer::from_response(resp).await;
        a.expect_status(200);
        a.text()
    }

    /// Runs this node finished with `status` (its `hookflow_runs_finished_total`).
    pub async fn runs_finished(&self, status: &str) -> u64 {
        let m = self.metrics().await;
        metric_value(
            &m,
            "hookflow_runs_finished_total",
            &format!("status=\"{status}\""),
        ) as u64
    }

    /// Every run matching `query` (e.g. `workflow_id=…&status=succeeded`), following cursors.
    pub async fn all_runs(&self, query: &str) -> Vec<Value> {
        self.all_pages(&format!("/api/v1/runs?{query}&limit=500"))
            .await
    }
}
