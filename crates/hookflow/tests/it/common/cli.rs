//! The `hookflow` binary as a client of a test's server: a command run with exactly the
//! `HOOKFLOW_*` environment the test gives (none of the caller's), and what it printed
//! ([`Run`]).

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncWriteExt;

use super::server::Server;

/// A client command gets this long before the test gives up on it.
pub const CLIENT_DEADLINE: Duration = Duration::from_secs(120);

/// What a finished `hookflow` client command printed.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert_eq!(self.code, Some(0), "command failed: {self:#?}");
        self
    }

    /// Asserts exit code `code` with an explanation on stderr and nothing on stdout.
    #[track_caller]
    pub fn fails(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "exit code {code} expected: {self:#?}"
        );
        assert!(
            !self.stderr.trim().is_empty(),
            "a failure explains itself on stderr: {self:#?}"
        );
        self
    }

    /// Asserts exit code `code` with `needle` in the explanation on stderr.
    #[track_caller]
    pub fn fails_saying(&self, code: i32, needle: &str) -> &Self {
        self.fails(code);
        assert!(
            self.stderr.contains(needle),
            "{needle:?} not on stderr: {self:#?}"
        );
        self
    }

    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }

    /// The table row that mentions `needle`.
    #[track_caller]
    pub fn row(&self, needle: &str) -> &str {
        self.stdout
            .lines()
            .skip(1)
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no row with {needle:?}:\n{}", self.stdout))
    }
}

/// Runs `hookflow ARGS` with exactly the given `HOOKFLOW_*` environment, with `stdin` as
/// standard input (none when `None`).
pub async fn hookflow_with(env: &[(&str, &str)], args: &[&str], stdin: Option<&str>) -> Run {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookflow"));
    for var in [
        "HOOKFLOW_URL",
        "HOOKFLOW_TOKEN",
        "HOOKFLOW_ADMIN_TOKEN",
        "HOOKFLOW_LOG",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied())
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("spawn hookflow");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        pipe.write_all(text.as_bytes()).await.expect("write stdin");
        drop(pipe);
    }
    let out = tokio::time::timeout(CLIENT_DEADLINE, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("hookflow {args:?} did not finish within {CLIENT_DEADLINE:?}"))
        .expect("run hookflow");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `hookflow ARGS` against `s` (its URL and admin token), with `stdin` as standard input.
pub async fn client_with_stdin(s: &Server, args: &[&str], stdin: Option<&str>) -> Run {
    let env = [
        ("HOOKFLOW_URL", &*s.base_url),
        ("HOOKFLOW_TOKEN", &*s.token),
    ];
    hookflow_with(&env, args, stdin).await
}

/// A command line's words (split at white space; no word of these tests has a space).
pub fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// Runs `hookflow ARGS` against `s` (its URL and admin token).
pub async fn client(s: &Server, args: &[&str]) -> Run {
    client_with_stdin(s, args, None).await
}
