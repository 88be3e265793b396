//! hookflow's `python` step runner (SPEC §11): runs one script in its own process, isolated from
//! the server that holds every key, and returns its exit status, output and module-level
//! variables. It knows nothing of workflows: the engine renders the arguments and checks the
//! variables' types.
//!
//! Isolation (`--python-sandbox auto`): a clean environment, no stdin, a fresh temporary working
//! directory, rlimits (CPU, address space, file size, open files, processes, no core dumps), a
//! separate unprivileged uid when the server is root, new user and PID namespaces (the timeout
//! or the script's end kills every process it started), a new network namespace with
//! `--python-network deny`, seccomp refusing Unix sockets, and a Landlock ruleset: read and
//! execute on system and interpreter directories, read-write on the working directory only.
//! Layout: [`probe`] (what is checked once at startup), [`run`] (one script), `child` (the
//! unsafe part: what the child does before exec), [`landlock_rules`], [`output`].
#![deny(unsafe_code)]

mod child;
pub mod landlock_rules;
pub mod output;
pub mod probe;
pub mod run;

use std::path::PathBuf;
use std::time::Duration;

pub use output::Captured;
pub use run::{Job, Outcome};

/// The most of stdout and of stderr kept (SPEC §11: 1 MiB each).
pub const OUTPUT_CAP: usize = 1024 * 1024;
/// The most the variables of one run may take as JSON.
pub const VARIABLES_CAP: usize = 4 * 1024 * 1024;
/// The default time limit of a step (SPEC §11).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Whether scripts may use the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    Allow,
    Deny,
}

/// `--python-sandbox`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxMode {
    /// Full isolation, or python steps fail saying what is missing.
    Auto,
    /// Explicit opt-out: limits, clean environment and working directory only.
    None,
}

/// How scripts run (the `--python*` options).
#[derive(Debug, Clone)]
pub struct PythonOptions {
    /// `--python`: a path or a name looked up in PATH.
    pub interpreter: String,
    /// Address-space limit of each process of a script.
    pub memory_mb: u64,
    /// uid and gid scripts run as when the server is root (`--python-user`).
    pub user: (u32, u32),
    pub network: Network,
    pub sandbox: SandboxMode,
    /// Processes and threads a script may have at once.
    pub max_processes: u64,
    /// Largest file a script may write.
    pub max_file_mb: u64,
    /// Open files of each process.
    pub max_open_files: u64,
    /// What scripts may never read: the data directory (key file, SQLite database).
    pub protected: Vec<PathBuf>,
    /// Where working directories are made (default: the system's temporary directory).
    pub work_root: Option<PathBuf>,
}

impl Default for PythonOptions {
    fn default() -> Self {
        PythonOptions {
            interpreter: "python3".into(),
            memory_mb: 256,
            user: (65534, 65534),
            network: Network::Allow,
            sandbox: SandboxMode::Auto,
            max_processes: 32,
            max_file_mb: 64,
            max_open_files: 256,
            protected: Vec::new(),
            work_root: None,
        }
    }
}

/// The runner the engine holds: ready, or the reason python steps fail.
pub struct Python {
    pub opts: PythonOptions,
    state: Result<probe::Ready, String>,
    spawner: run::Spawner,
}

impl std::fmt::Debug for Python {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Python")
            .field("opts", &self.opts)
            .field("unavailable", &self.unavailable())
            .finish()
    }
}

impl Python {
    /// Why python steps cannot run here, if they cannot.
    pub fn unavailable(&self) -> Option<&str> {
        self.state.as_ref().err().map(String::as_str)
    }

    /// What the startup checks found (for the log).
    pub fn describe(&self) -> String {
        match &self.state {
            Ok(r) => r.describe(&self.opts),
            Err(e) => format!("python steps are unavailable: {e}"),
        }
    }
}

/// Errors of one run that are not the script's outcome.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Python steps cannot run on this server (the sandbox or the interpreter).
    #[error("{0}")]
    Unavailable(String),
    /// Something failed around the script (temporary directory, spawning).
    #[error("{0}")]
    Io(String),
}
