//! PostgreSQL going away under load and coming back (issue 4): while it is down the ingest
//! endpoint answers 503 with `Retry-After` within 2 s, never a 202, and `/healthz` answers 503
//! within a second; when it is back, the node resumes by itself; no delivery answered 202 is
//! lost and every run it started finishes.
//!
//! The test runs its own PostgreSQL cluster (initdb in a temporary directory, its own port) so
//! that stopping it does not disturb the other tests. It needs PostgreSQL's server programs:
//! it runs in the suite's PostgreSQL pass (`TEST_DATABASE_URL`) and returns at once, saying so,
//! in the SQLite pass.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::Mutex;

use crate::common::*;

/// A PostgreSQL cluster of the test's own: created with `initdb`, listening on 127.0.0.1 on a
/// free port with trust authentication, stopped (immediately) and removed on drop.
struct PrivateCluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl PrivateCluster {
    /// The directory with PostgreSQL's server programs (the newest installed version).
    fn bin_dir() -> PathBuf {
        let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL's server programs under /usr/lib/postgresql")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|p| p.join("pg_ctl").exists())
            .collect();
        versions.sort_by_key(|p| {
            p.parent()
                .and_then(|v| v.file_name())
                .and_then(|v| v.to_str())
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(0)
        });
        versions.pop().expect("an installed PostgreSQL with pg_ctl")
    }

    fn is_root() -> bool {
        Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false)
    }

    /// Runs one of PostgreSQL's programs, as the `postgres` user when the tests run as root
    /// (PostgreSQL refuses to run as root); panics with its output when it fails.
    fn run(&self, program: &str, args: &[&str]) {
        let out = self
            .command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("run {program}: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// One of PostgreSQL's programs, run as the `postgres` user when the tests run as root.
    fn command(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        if PrivateCluster::is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn path_str(p: &Path) -> String {
        p.to_str().expect("UTF-8 path").to_string()
    }

    fn create() -> PrivateCluster {
        let dir = tempfile::Builder::new()
            .prefix("hookflow-pg-")
            .tempdir()
            .expect("temp dir");
        if PrivateCluster::is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(ok, "chown the cluster directory to postgres");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let cluster = PrivateCluster {
            bin: PrivateCluster::bin_dir(),
            dir,
            port,
        };
        let data = PrivateCluster::path_str(&cluster.data());
        cluster.run(
            "initdb",
            &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"],
        );
        cluster.start();
        cluster
    }

    fn start(&self) {
        let data = PrivateCluster::path_str(&self.data());
        let log = PrivateCluster::path_str(&self.dir.path().join("postgres.log"));
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {}",
            self.port,
            PrivateCluster::path_str(self.dir.path())
        );
        self.run(
            "pg_ctl",
            &[
                "-D", &data, "-l", &log, "-o", &opts, "-w", "-t", "60", "start",
            ],
        );
    }

    /// Stops the cluster the hard way (`-m immediate`: no shutdown checkpoint, crash recovery on
    /// the next start), as a crash or a failover would.
    fn stop_immediately(&self) {
        let data = PrivateCluster::path_str(&self.data());
        self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let data = PrivateCluster::path_str(&self.data());
        let _ = self
            .command("pg_ctl")
            .args(["-D", &data, "-m", "immediate", "stop"])
            .output();
    }
}

/// What the senders saw.
#[derive(Default)]
struct Seen {
    /// `X-Delivery-Id`s of every 202.
    accepted: Vec<String>,
    /// 503 answers, and how many of them carried `Retry-After`.
    unavailable: usize,
    unavailable_with_retry_after: usize,
    /// The longest a 503 took to come.
    slowest_unavailable: Duration,
    /// Anything else: (status, body).
    other: Vec<(u16, String)>,
    /// Requests that got no answer at all (connection error).
    no_answer: usize,
    /// When the last 202 was received.
    last_accepted: Option<Instant>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_restart_under_load_loses_nothing_and_ingestion_resumes() {
    if test_database_url().is_none() {
        eprintln!("needs PostgreSQL's server programs: runs in the TEST_DATABASE_URL pass");
        return;
    }
    let cluster = PrivateCluster::create();
    let s = Server::start_on_database(&cluster.url(), &[]).await;
    let sc = Scenario::new(&s, "steady")
        .event("steady")
        .workflow(&completing_yaml(
            "count",
            "steady",
            "n",
            "integer",
            "{{ trigger.body.n }}",
        ))
        .await;
    let (hook, wf) = (&sc.hook, sc.workflow());

    // Eight senders post as fast as they are answered until told to stop.
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut senders = tokio::task::JoinSet::new();
    for w in 0..8 {
        let (seen, stop) = (seen.clone(), stop.clone());
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let url = s.hook_url(hook);
        senders.spawn(async move {
            let mut n = w;
            while !stop.load(Ordering::Relaxed) {
                n += 8;
                let sent = Instant::now();
                let r = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(format!("{{\"n\": {n}}}"))
                    .send()
                    .await;
                let Ok(resp) = r else {
                    seen.lock().await.no_answer += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                let status = resp.status().as_u16();
                let retry_after = resp.headers().contains_key("retry-after");
                let id = resp
                    .headers()
                    .get("x-delivery-id")
                    .map(|v| v.to_str().unwrap().to_string());
                let body = resp.text().await.unwrap_or_default();
                let mut seen = seen.lock().await;
                match status {
                    202 => {
                        seen.accepted.push(id.expect("a 202 carries X-Delivery-Id"));
                        seen.last_accepted = Some(Instant::now());
                    }
                    503 => {
                        seen.unavailable += 1;
                        seen.slowest_unavailable = seen.slowest_unavailable.max(sent.elapsed());
                        seen.unavailable_with_retry_after += usize::from(retry_after);
                    }
                    _ => seen.other.push((status, body)),
                }
                drop(seen);
                if status == 503 {
                    // A well-behaved source backs off a little.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        });
    }

    // Load flows, then PostgreSQL stops hard while requests are in flight.
    eventually(Duration::from_secs(20), || async {
        let n = seen.lock().await.accepted.len();
        check(n >= 200, || format!("{n} accepted before the restart"))
    })
    .await;
    cluster.stop_immediately();
    let down_at = Instant::now();
    let before = seen.lock().await.accepted.len();

    // While it is down: 503 with Retry-After, no 202 — for long enough that the answers come
    // from waiting for a connection, not only from the connections that broke.
    eventually(Duration::from_secs(30), || async {
        let seen = seen.lock().await;
        check(
            seen.unavailable >= 24 && down_at.elapsed() > Duration::from_secs(5),
            || format!("{} answers 503 so far", seen.unavailable),
        )
    })
    .await;
    {
        let seen = seen.lock().await;
        let after_down = seen
            .last_accepted
            .map(|t| t > down_at + Duration::from_secs(1));
        assert_ne!(
            after_down,
            Some(true),
            "a 202 while PostgreSQL was down cannot have been durable"
        );
        eprintln!(
            "PostgreSQL down: {} accepted before, {} answers 503, the slowest in {:?}",
            before, seen.unavailable, seen.slowest_unavailable
        );
        // The README promises the 503 within 2 s; the margin is for a loaded test machine.
        assert!(
            seen.slowest_unavailable < Duration::from_millis(2500),
            "a 503 took {:?}",
            seen.slowest_unavailable
        );
    }
    // /healthz says so promptly, naming the database and the journal's failed write.
    let asked = Instant::now();
    let health = s.healthz().await;
    let took = asked.elapsed();
    health.expect_status(503);
    let problems = health.json()["problems"].to_string();
    assert!(
        problems.contains("the database is unreachable")
            && problems.contains("the delivery journal's last write failed"),
        "{problems}"
    );
    assert!(took < Duration::from_millis(1500), "/healthz took {took:?}");
    eprintln!("/healthz answered 503 in {took:?}: {problems}");

    // Back up: the node resumes by itself.
    cluster.start();
    let up_at = Instant::now();
    let resumed = eventually(Duration::from_secs(30), || async {
        let seen = seen.lock().await;
        match seen.last_accepted {
            Some(t) if t > up_at => Ok(t.duration_since(up_at)),
            _ => Err("no 202 since PostgreSQL came back".to_string()),
        }
    })
    .await;
    eprintln!("ingestion resumed {resumed:?} after PostgreSQL came back");
    // Some more load after the restart, then stop the senders.
    let target = seen.lock().await.accepted.len() + 200;
    eventually(Duration::from_secs(30), || async {
        let n = seen.lock().await.accepted.len();
        check(n >= target, || format!("{n} of {target} accepted"))
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    while let Some(r) = senders.join_next().await {
        r.unwrap();
    }

    let health = s.healthz().await;
    assert_eq!(health.status, 200, "healthy again: {}", health.text());
    let seen = seen.lock().await;
    eprintln!(
        "load stopped {:?} after PostgreSQL came back",
        up_at.elapsed()
    );
    assert!(
        seen.other.is_empty(),
        "only 202 and 503 are answers: {:?}",
        &seen.other[..seen.other.len().min(5)]
    );
    assert_eq!(
        seen.unavailable, seen.unavailable_with_retry_after,
        "every 503 carries Retry-After"
    );

    // Every 202 is in the database, and every run it started finishes.
    let recorded: std::collections::HashSet<String> = s
        .deliveries(hook["id"].as_str().unwrap())
        .await
        .into_iter()
        .filter(|d| d["status"] == "accepted")
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    let lost: Vec<&String> = seen
        .accepted
        .iter()
        .filter(|id| !recorded.contains(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} accepted deliveries lost: {:?}",
        lost.len(),
        seen.accepted.len(),
        &lost[..lost.len().min(5)]
    );
    let accepted: std::collections::HashSet<&String> = seen.accepted.iter().collect();
    let runs = eventually(Duration::from_secs(60), || async {
        let runs = s.all_runs(&format!("workflow_id={wf}")).await;
        let finished = runs.iter().filter(|r| is_final(&r["status"])).count();
        if runs.len() >= accepted.len() && finished == runs.len() {
            Ok(runs)
        } else {
            Err(format!("{finished} of {} runs finished", runs.len()))
        }
    })
    .await;
    eprintln!(
        "{} runs finished {:?} after PostgreSQL came back",
        runs.len(),
        up_at.elapsed()
    );
    let failed: Vec<_> = runs
        .iter()
        .filter(|r| r["status"] != json!("succeeded"))
        .map(|r| (r["id"].clone(), r["error"].clone()))
        .collect();
    assert!(failed.is_empty(), "runs that did not succeed: {failed:?}");
    let started: std::collections::HashSet<String> = runs
        .iter()
        .map(|r| r["trigger"]["delivery_id"].as_str().unwrap().to_string())
        .collect();
    for id in &accepted {
        assert!(
            started.contains(*id),
            "accepted delivery {id} started no run"
        );
    }
}
