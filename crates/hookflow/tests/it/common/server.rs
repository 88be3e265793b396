//! The `hookflow serve` child process of a test: started on port 0 with a fresh data directory
//! and admin token (on PostgreSQL, a fresh database too), stopped with SIGTERM or `kill -9`,
//! restarted on the same data, and its stderr shown when the test panics.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::database::PgDatabase;
use super::fixtures::random_hex;

/// How long a server may take to print its listening line.
const START_DEADLINE: Duration = Duration::from_secs(30);
/// How long a graceful stop (SIGTERM) may take before the harness gives up and kills.
const STOP_DEADLINE: Duration = Duration::from_secs(20);

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
