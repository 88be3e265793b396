//! The `python` step's isolation (SPEC §11) through the real server: a script cannot read
//! master.key, the database files or the server's environment, write the data directory,
//! signal the server or open Unix sockets (each refused with PermissionError, not "not
//! found"); a secret it gets and prints is recorded as `***`; `--python-network deny` cuts it
//! off from a local HTTP server it reaches otherwise; an interpreter the sandbox user cannot
//! run is named in the error; `--python-sandbox none` runs with a warning.

use serde_json::json;

use crate::common::*;
use crate::python::one_step;

/// What the script tries on the server; each line printed is `what: outcome`.
const PROBE: &str = r#"import os, sys, signal, socket
key, db_files, server_pid, data_dir, token = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3]), sys.argv[4], sys.argv[5]
def attempt(what, f):
    try:
        f()
        print(what + ": allowed")
    except Exception as e:
        print(what + ": " + type(e).__name__)
attempt("read master.key", lambda: open(key, "rb").read())
for p in db_files:
    attempt("read " + os.path.basename(p), lambda: open(p, "rb").read())
attempt("write data dir", lambda: open(os.path.join(data_dir, "planted"), "w").write("x"))
attempt("list data dir", lambda: os.listdir(data_dir))
attempt("read server environ", lambda: open("/proc/%d/environ" % server_pid, "rb").read())
attempt("signal server", lambda: os.kill(server_pid, signal.SIGTERM))
attempt("unix socket", lambda: socket.socket(socket.AF_UNIX))
print("token in env:", any(token in v for v in os.environ.values()))
print("env:", sorted(os.environ))
print("secret:", sys.argv[6])
"#;

#[tokio::test(flavor = "multi_thread")]
async fn scripts_cannot_reach_the_servers_secrets() {
    let s = Server::start().await;
    s.set_secret("api_token", "hunter2-sekrit-value").await;
    // Every file of the data directory (the key file; the SQLite database and its journal on
    // that backend), passed by its real path.
    let mut db_files: Vec<String> = std::fs::read_dir(&s.data_dir)
        .unwrap()
        .flatten()
        .map(|e| e.path().display().to_string())
        .filter(|p| !p.ends_with("master.key"))
        .collect();
    db_files.sort();
    if backend_name() == "sqlite" {
        assert!(
            db_files.iter().any(|p| p.ends_with("hookflow.db")),
            "{db_files:?}"
        );
    }
    let key = s.data_dir.join("master.key");
    assert!(key.is_file());
    let wf = valid_workflow(
        &s,
        &one_step(
            "py-probe",
            PROBE,
            "    args: [\"{{ inputs.key }}\", \"{{ inputs.db }}\", \"{{ inputs.pid }}\", \"{{ inputs.dir }}\", \"{{ inputs.token }}\", \"{{ secrets.api_token }}\"]\n",
        )
        .replace(
            "steps:",
            "inputs:\n  - {name: key, type: string}\n  - {name: db, type: string}\n  - {name: pid, type: integer}\n  - {name: dir, type: string}\n  - {name: token, type: string}\nsteps:",
        ),
    )
    .await;
    let run = run_to_end(
        &s,
        &wf,
        json!({
            "key": key.display().to_string(),
            "db": db_files.join(","),
            "pid": s.pid(),
            "dir": s.data_dir.display().to_string(),
            "token": s.token,
        }),
    )
    .await;
    expect_status(&run, "succeeded");
    let py = step(&run, "py");
    let stdout = py["output"]["stdout"].as_str().unwrap().to_string();
    let mut expected = vec!["read master.key: PermissionError".to_string()];
    for p in &db_files {
        expected.push(format!(
            "read {}: PermissionError",
            p.rsplit('/').next().unwrap()
        ));
    }
    expected.extend(
        [
            "write data dir: PermissionError",
            "list data dir: PermissionError",
            "read server environ: PermissionError",
            "unix socket: PermissionError",
            "token in env: False",
            "env: ['HOME', 'LANG', 'PATH', 'TMPDIR']",
            "secret: ***",
        ]
        .map(String::from),
    );
    for line in &expected {
        assert!(
            stdout.lines().any(|l| l == line),
            "expected {line:?} in the script's output:\n{stdout}"
        );
    }
    // The server's pid does not exist in the script's PID namespace, or may not be signalled.
    assert!(
        stdout.contains("signal server: ProcessLookupError")
            || stdout.contains("signal server: PermissionError"),
        "{stdout}"
    );
    assert!(!s.data_dir.join("planted").exists());
    // The secret, passed as an argument and printed, is recorded as *** only.
    let record = get_run(&s, run["id"].as_str().unwrap()).await.to_string();
    assert!(!record.contains("hunter2-sekrit-value"), "{record}");
    assert_eq!(py["input"]["args"][5], json!("***"));
    assert_eq!(s.healthz().await.status, 200);
}

/// A local HTTP server answering every connection with `200 reachable`; returns its port.
async fn tiny_http() -> (u16, tokio::task::JoinHandle<()>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut c, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = [0u8; 1024];
                let _ = c.read(&mut buf).await;
                let _ = c
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\nconnection: close\r\n\r\nreachable",
                    )
                    .await;
            });
        }
    });
    (port, task)
}

const FETCH: &str = "import sys, urllib.request\ntry:\n    got = urllib.request.urlopen('http://127.0.0.1:%s/' % sys.argv[1], timeout=5).read().decode()\nexcept Exception as e:\n    got = type(e).__name__ + ': ' + str(e)\nprint(got)";

async fn fetch_from_script(s: &Server, port: u16) -> String {
    let wf = valid_workflow(
        s,
        &one_step("py-fetch", FETCH, &format!("    args: [\"{port}\"]\n")),
    )
    .await;
    let run = run_to_end(s, &wf, json!({})).await;
    expect_status(&run, "succeeded");
    step(&run, "py")["output"]["stdout"]
        .as_str()
        .unwrap()
        .trim()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn network_deny_cuts_the_script_off() {
    let (port, _server) = tiny_http().await;
    // The control case: allowed by default, the script reaches the local server.
    let open = Server::start().await;
    assert_eq!(fetch_from_script(&open, port).await, "reachable");
    drop(open);
    let closed = Server::start_with(&["--python-network", "deny"]).await;
    let got = fetch_from_script(&closed, port).await;
    assert!(got.starts_with("URLError"), "denied: {got}");
    assert_ne!(got, "reachable");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interpreter_the_sandbox_user_cannot_run_is_named() {
    if !running_as_root() {
        eprintln!("skipped: needs root (the sandbox user differs from the server's only then)");
        return;
    }
    // An interpreter in a directory only root may enter, like a pyenv shim under /root.
    let hidden = tempfile::Builder::new()
        .prefix("hookflow-it-hidden-")
        .tempdir()
        .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(hidden.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let python = hidden.path().join("python3");
    std::os::unix::fs::symlink("/usr/bin/python3", &python).unwrap();
    let s = Server::start_with(&["--python", python.to_str().unwrap()]).await;
    let wf = valid_workflow(&s, &one_step("py-hidden", "print(1)", "")).await;
    let run = run_expecting(&s, &wf, json!({}), "failed").await;
    let e = step(&run, "py")["error"].as_str().unwrap().to_string();
    for part in [
        "python steps cannot run here: the interpreter ",
        python.to_str().unwrap(),
        "as uid 65534",
        "Permission denied",
        "point --python at an interpreter the sandbox user can read",
    ] {
        assert!(e.contains(part), "{part:?} in {e}");
    }
    assert!(
        s.log().contains("python steps are unavailable"),
        "{}",
        s.log()
    );
    drop(s);

    // The explicit opt-out runs scripts, still as the sandbox user, and warns in the log.
    let s = Server::start_with(&["--python-sandbox", "none"]).await;
    let wf = valid_workflow(
        &s,
        &one_step(
            "py-open",
            "import os
print(6 * 7, os.getuid())",
            "",
        ),
    )
    .await;
    let run = run_expecting(&s, &wf, json!({}), "succeeded").await;
    assert_eq!(step(&run, "py")["output"]["stdout"], json!("42 65534\n"));
    assert!(s.log().contains("WITHOUT a sandbox"), "{}", s.log());
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}
