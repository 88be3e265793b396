//! One script run: its working directory, its process (set up by `child`), its output read
//! concurrently and capped, its time limit, and what its end means.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};

use crate::child::{self, ChildSetup, Isolation, Limit};
use crate::output::{Captured, read_capped};
use crate::probe::Ready;
use crate::{OUTPUT_CAP, PythonOptions, RunError, VARIABLES_CAP};

/// Runs the script and reports its module-level variables on a pipe (see bootstrap.py).
const BOOTSTRAP: &str = include_str!("bootstrap.py");

/// What to run.
#[derive(Debug, Clone)]
pub struct Job {
    pub script: String,
    /// `sys.argv[1:]`.
    pub args: Vec<String>,
    /// Names of the module-level variables to read when the script ends.
    pub variables: Vec<String>,
    pub timeout: Duration,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub exit_code: Option<i32>,
    /// The signal that ended it, if one did.
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub stdout: Captured,
    pub stderr: Captured,
    /// For each variable asked for: `{"value": …, "type": …}`, `{"missing": true}` or
    /// `{"type": …, "error": …}` (not JSON); `None` unless the script ended well.
    pub variables: Option<serde_json::Value>,
    pub elapsed: Duration,
}

impl Outcome {
    pub fn stdout_text(&self) -> String {
        self.stdout.text("stdout", OUTPUT_CAP)
    }

    pub fn stderr_text(&self) -> String {
        self.stderr.text("stderr", OUTPUT_CAP)
    }

    /// Why the run failed, if it did: a timeout, a limit hit, a non-zero exit (with the end
    /// of stderr).
    pub fn failure(&self, opts: &PythonOptions, job: &Job) -> Option<String> {
        let text = String::from_utf8_lossy(&self.stderr.bytes);
        let tail = tail(&text, 2000);
        let tail_note = if tail.is_empty() {
            String::new()
        } else {
            format!("; the end of its stderr: {tail}")
        };
        if self.timed_out {
            return Some(format!(
                "the script did not end within {} s and was killed, with every process it \
                 started{tail_note}",
                job.timeout.as_secs_f64()
            ));
        }
        if let Some(at) = text.find(child::SETUP_FAILED) {
            let stage = text[at + child::SETUP_FAILED.len()..]
                .lines()
                .next()
                .unwrap_or("");
            let why = self
                .exit_code
                .map(|c| io::Error::from_raw_os_error(c).to_string())
                .unwrap_or_default();
            return Some(format!(
                "the sandbox could not be set up: {stage} failed ({why})"
            ));
        }
        match (self.exit_code, self.signal) {
            (Some(0), _) => None,
            (_, Some(sig)) => {
                let what = match sig {
                    libc::SIGXCPU => {
                        format!("the CPU time limit ({} s of CPU)", cpu_seconds(job.timeout))
                    }
                    libc::SIGKILL => "SIGKILL (the CPU time limit's hard stop or the kernel's \
                                      out-of-memory killer)"
                        .to_string(),
                    libc::SIGXFSZ => format!("the file size limit ({} MiB)", opts.max_file_mb),
                    libc::SIGSEGV => "a segmentation fault".to_string(),
                    other => format!("signal {other}"),
                };
                Some(format!("the script was killed by {what}{tail_note}"))
            }
            (code, None) => Some(format!(
                "the script exited with code {}{}{tail_note}",
                code.unwrap_or(-1),
                limit_hit(&tail, opts)
            )),
        }
    }
}

/// The limit a Python error at the end of stderr says was hit.
fn limit_hit(tail: &str, opts: &PythonOptions) -> String {
    if tail.contains("MemoryError") {
        format!(
            " after hitting the memory limit ({} MiB, --python-memory-mb)",
            opts.memory_mb
        )
    } else if tail.contains("File too large") {
        format!(
            " after hitting the file size limit ({} MiB)",
            opts.max_file_mb
        )
    } else if tail.contains("can't start new thread")
        || (tail.contains("Resource temporarily unavailable")
            && ["fork", "Popen", "spawn", "Thread"]
                .iter()
                .any(|w| tail.contains(w)))
    {
        format!(
            " after hitting the processes limit ({} processes and threads)",
            opts.max_processes
        )
    } else if tail.contains("Too many open files") {
        format!(
            " after hitting the open files limit ({} per process)",
            opts.max_open_files
        )
    } else {
        String::new()
    }
}

/// The last `n` bytes of `s` (at a character boundary), trimmed.
fn tail(s: &str, n: usize) -> String {
    let s = s.trim_end();
    let mut start = s.len().saturating_sub(n);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    let cut = if start > 0 { "…" } else { "" };
    format!("{cut}{}", &s[start..])
}

/// The CPU time limit of each process: one second more than the wall-clock timeout (rounded
/// up), so that a busy script ends by its timeout, with the CPU limit as the backstop should
/// the timer not fire (a process cannot use more CPU time than wall time).
fn cpu_seconds(timeout: Duration) -> u64 {
    timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0) + 1
}

/// Spawns every script from one long-lived thread: the kernel sends the child's
/// parent-death signal when the *thread* that forked it ends, and a runtime's threads come and
/// go.
pub(crate) struct Spawner {
    tx: std::sync::Mutex<std::sync::mpsc::Sender<SpawnRequest>>,
}

type SpawnRequest = (
    tokio::process::Command,
    oneshot::Sender<io::Result<tokio::process::Child>>,
);

impl Spawner {
    pub(crate) fn start() -> Spawner {
        let (tx, rx) = std::sync::mpsc::channel::<SpawnRequest>();
        let handle = tokio::runtime::Handle::current();
        std::thread::Builder::new()
            .name("python-spawner".into())
            .spawn(move || {
                let _rt = handle.enter();
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("start the python spawner thread");
        Spawner {
            tx: std::sync::Mutex::new(tx),
        }
    }

    async fn spawn(&self, cmd: tokio::process::Command) -> io::Result<tokio::process::Child> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .lock()
            .map_err(|_| io::Error::other("the spawner is gone"))?
            .send((cmd, reply))
            .map_err(|_| io::Error::other("the spawner is gone"))?;
        answer
            .await
            .map_err(|_| io::Error::other("the spawner is gone"))?
    }
}

/// Kills the script's process group if the run is dropped before the script ended.
struct GroupGuard(Option<u32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            child::kill_group(pid);
        }
    }
}

fn io_err(what: &'static str) -> impl Fn(io::Error) -> RunError {
    move |e| RunError::Io(format!("{what}: {e}"))
}

/// Runs `job` as `ready` says.
pub(crate) async fn run(
    opts: &PythonOptions,
    ready: &Ready,
    spawner: &Spawner,
    job: &Job,
) -> Result<Outcome, RunError> {
    let started = Instant::now();
    let dir = tempfile::Builder::new()
        .prefix("hookflow-py-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir_in(&ready.work_root)
        .map_err(io_err("cannot make the working directory"))?;
    let work = dir.path().join("work");
    std::fs::create_dir(&work).map_err(io_err("cannot make the working directory"))?;
    let script = dir.path().join("script.py");
    std::fs::write(&script, &job.script).map_err(io_err("cannot write the script"))?;
    if let Some((uid, gid)) = ready.drop_to {
        for p in [dir.path(), &work, &script] {
            std::os::unix::fs::chown(p, Some(uid), Some(gid)).map_err(io_err(
                "cannot hand the working directory to the sandbox user",
            ))?;
        }
    }
    let (reader, writer) = io::pipe().map_err(io_err("cannot make a pipe"))?;
    let names = serde_json::to_string(&job.variables).unwrap_or_else(|_| "[]".into());
    let mut cmd = tokio::process::Command::new(&ready.exe);
    cmd.args(["-I", "-B", "-c", BOOTSTRAP])
        .arg(&script)
        .arg(writer.as_raw_fd().to_string())
        .arg(names)
        .args(&job.args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", &work)
        .env("TMPDIR", &work)
        .env("LANG", "C.UTF-8")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mib = 1024 * 1024;
    let cpu = cpu_seconds(job.timeout);
    let limits = vec![
        Limit(libc::RLIMIT_CPU, cpu, cpu + 1),
        Limit(libc::RLIMIT_AS, opts.memory_mb * mib, opts.memory_mb * mib),
        Limit(
            libc::RLIMIT_FSIZE,
            opts.max_file_mb * mib,
            opts.max_file_mb * mib,
        ),
        Limit(
            libc::RLIMIT_NOFILE,
            opts.max_open_files,
            opts.max_open_files,
        ),
        Limit(libc::RLIMIT_CORE, 0, 0),
    ];
    let mut ruleset: Option<OwnedFd> = None;
    let isolation = match ready.abi {
        Some(abi) => {
            let fd = crate::landlock_rules::ruleset(abi, &ready.read, dir.path())
                .map_err(RunError::Unavailable)?;
            let iso = Isolation {
                new_net: opts.network == crate::Network::Deny,
                // Counted per user namespace: one script's processes, not every script's.
                max_processes: opts.max_processes,
                landlock_fd: fd.as_raw_fd(),
                seccomp: child::unix_socket_filter(),
            };
            ruleset = Some(fd);
            Some(iso)
        }
        None => None,
    };
    child::install(
        &mut cmd,
        ChildSetup {
            parent_pid: child::own_pid(),
            drop_to: ready.drop_to,
            limits,
            isolation,
            pass_fd: writer.as_raw_fd(),
            workdir: std::ffi::CString::new(work.as_os_str().as_encoded_bytes())
                .map_err(|_| RunError::Io("the working directory's path holds a NUL".into()))?,
        },
    );
    let spawned = spawner.spawn(cmd).await;
    drop(writer);
    drop(ruleset);
    let mut proc =
        spawned.map_err(|e| RunError::Io(format!("cannot start {}: {e}", ready.exe.display())))?;
    let pid = proc.id().unwrap_or(0);
    let mut guard = GroupGuard(Some(pid));
    let (stop_tx, stop_rx) = watch::channel(false);
    let stdout = proc
        .stdout
        .take()
        .map(|s| tokio::spawn(read_capped(s, OUTPUT_CAP, stop_rx.clone())));
    let stderr = proc
        .stderr
        .take()
        .map(|s| tokio::spawn(read_capped(s, OUTPUT_CAP, stop_rx.clone())));
    let vars = tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(reader))
        .map_err(io_err("cannot read the variables pipe"))?;
    let vars = tokio::spawn(read_capped(vars, VARIABLES_CAP, stop_rx));
    let (status, timed_out) = match tokio::time::timeout(job.timeout, proc.wait()).await {
        Ok(s) => (s, false),
        Err(_) => {
            child::kill_group(pid);
            (proc.wait().await, true)
        }
    };
    guard.0 = None;
    let status = status.map_err(io_err("cannot wait for the script"))?;
    // Without the sandbox a process the script left behind may hold the pipes: read what came
    // within a second of the end.
    let stopper = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let _ = stop_tx.send(true);
    });
    let join = |h: Option<tokio::task::JoinHandle<Captured>>| async move {
        match h {
            Some(h) => h.await.unwrap_or_default(),
            None => Captured::default(),
        }
    };
    let stdout = join(stdout).await;
    let stderr = join(stderr).await;
    let vars = vars.await.unwrap_or_default();
    stopper.abort();
    let exit_code = status.code();
    let variables = (exit_code == Some(0) && !timed_out)
        .then(|| serde_json::from_slice(&vars.bytes).ok())
        .flatten();
    drop(dir);
    Ok(Outcome {
        exit_code,
        signal: status.signal(),
        timed_out,
        stdout,
        stderr,
        variables,
        elapsed: started.elapsed(),
    })
}

impl crate::Python {
    /// Runs one script; `Err` when python steps cannot run here or the run could not start.
    pub async fn run(&self, job: &Job) -> Result<Outcome, RunError> {
        let ready = self
            .state
            .as_ref()
            .map_err(|e| RunError::Unavailable(e.clone()))?;
        run(&self.opts, ready, &self.spawner, job).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_end_at_a_character_boundary() {
        assert_eq!(tail("abc\n", 10), "abc");
        assert_eq!(tail("ééé", 3), "…é");
    }

    #[test]
    fn limits_are_named_from_the_error() {
        let o = PythonOptions::default();
        assert!(limit_hit("MemoryError", &o).contains("memory limit (256 MiB"));
        assert!(limit_hit("OSError: [Errno 27] File too large", &o).contains("file size"));
        assert!(
            limit_hit(
                "os.fork()\nBlockingIOError: [Errno 11] Resource temporarily unavailable",
                &o
            )
            .contains("processes limit")
        );
        assert_eq!(limit_hit("ValueError: x", &o), "");
    }
}
