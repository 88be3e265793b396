//! What is checked once at startup: the interpreter (found, and where its files are), the
//! kernel's Landlock, that no readable directory overlaps the data directory, and that a
//! trivial script runs under the full sandbox. Any failure becomes the reason python steps fail.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::landlock_rules::{SYSTEM_READ, kernel_abi, overlap};
use crate::run::{Job, Spawner};
use crate::{Python, PythonOptions, SandboxMode};

/// Files under /etc that interpreters and their libraries read (the dynamic linker's cache, CA
/// certificates, time zone, name resolution, users). The rest of /etc (services' own
/// configuration, perhaps with credentials) stays closed.
const ETC_READ: [&str; 18] = [
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/pki",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/services",
    "/etc/protocols",
    "/etc/passwd",
    "/etc/group",
    "/etc/mime.types",
];

/// A checked setup: how each run is started.
#[derive(Debug, Clone)]
pub struct Ready {
    /// The interpreter executed (as configured, found in PATH).
    pub exe: PathBuf,
    pub version: String,
    /// Directories and files scripts may read and execute.
    pub read: Vec<PathBuf>,
    /// The kernel's Landlock ABI (`None` without the sandbox).
    pub abi: Option<landlock::ABI>,
    /// The uid/gid scripts run as, when the server is root.
    pub drop_to: Option<(u32, u32)>,
    /// Where working directories are made.
    pub work_root: PathBuf,
}

impl Ready {
    pub fn describe(&self, opts: &PythonOptions) -> String {
        let who = match self.drop_to {
            Some((u, g)) => format!("uid {u}, gid {g}"),
            None => "the server's user".into(),
        };
        match self.abi {
            Some(abi) => format!(
                "python steps run {} (Python {}) as {who}, sandboxed: Landlock ABI {}, user and \
                 PID namespaces{}, seccomp; memory {} MiB, {} processes",
                self.exe.display(),
                self.version,
                abi as i32,
                if opts.network == crate::Network::Deny {
                    ", no network"
                } else {
                    ", network allowed"
                },
                opts.memory_mb,
                opts.max_processes
            ),
            None => format!(
                "python steps run {} (Python {}) as {who} WITHOUT a sandbox \
                 (--python-sandbox none): scripts can read whatever that user can, the data \
                 directory included",
                self.exe.display(),
                self.version
            ),
        }
    }
}

impl Python {
    /// Checks the interpreter and the sandbox; python steps fail with the reason when a check
    /// fails. Needs a tokio runtime.
    pub async fn prepare(opts: PythonOptions) -> Python {
        let mut py = Python {
            opts,
            state: Err("not checked yet".into()),
            spawner: Spawner::start(),
        };
        py.state = py.check().await;
        py
    }

    async fn check(&self) -> Result<Ready, String> {
        let opts = &self.opts;
        let exe = find_interpreter(&opts.interpreter)?;
        let (version, dirs) = interpreter_dirs(&exe).await?;
        let work_root = opts
            .work_root
            .clone()
            .unwrap_or_else(std::env::temp_dir)
            .canonicalize()
            .map_err(|e| format!("cannot use the temporary directory: {e}"))?;
        let protected: Vec<PathBuf> = opts
            .protected
            .iter()
            .map(|p| p.canonicalize().unwrap_or_else(|_| p.clone()))
            .collect();
        for p in &protected {
            if work_root.starts_with(p) {
                return Err(format!(
                    "the scripts' working directories would be made in {}, inside the data \
                     directory {}; set TMPDIR elsewhere",
                    work_root.display(),
                    p.display()
                ));
            }
        }
        let drop_to = crate::child::is_root().then_some(opts.user);
        let (abi, read) = match opts.sandbox {
            SandboxMode::None => (None, Vec::new()),
            SandboxMode::Auto => {
                let Some((abi, _)) = kernel_abi() else {
                    return Err(
                        "the kernel does not offer Landlock (Linux 5.13 or later with \
                         Landlock enabled, e.g. lsm=landlock), so scripts cannot be kept out of \
                         the data directory; run python steps on such a kernel or opt out with \
                         --python-sandbox none"
                            .into(),
                    );
                };
                let read = readable(&exe, &dirs);
                for p in &protected {
                    if let Some(a) = overlap(&read, p) {
                        return Err(format!(
                            "the data directory {} overlaps {}, which scripts may read (system or \
                             interpreter files); move the data directory or the interpreter",
                            p.display(),
                            a.display()
                        ));
                    }
                }
                (Some(abi), read)
            }
        };
        let ready = Ready {
            exe: exe.clone(),
            version,
            read,
            abi,
            drop_to,
            work_root,
        };
        let who = match drop_to {
            Some((u, _)) => format!(" as uid {u}"),
            None => String::new(),
        };
        let hint = "point --python at an interpreter the sandbox user can read and run (e.g. \
                    /usr/bin/python3 or a virtualenv outside /root)";
        let job = Job {
            script: "print('ok')\n".into(),
            args: Vec::new(),
            variables: Vec::new(),
            timeout: Duration::from_secs(30),
        };
        let out = crate::run::run(opts, &ready, &self.spawner, &job)
            .await
            .map_err(|e| {
                format!(
                    "the interpreter {} cannot run in the sandbox{who}: {e}; {hint}",
                    exe.display()
                )
            })?;
        if out.exit_code != Some(0) || out.stdout.bytes != b"ok\n" {
            return Err(format!(
                "the interpreter {} does not run in the sandbox{who}: {}; {hint}",
                exe.display(),
                out.failure(opts, &job)
                    .unwrap_or_else(|| "it did not print what it was asked to".into())
            ));
        }
        Ok(ready)
    }
}

/// `--python` as a path, or looked up in PATH.
fn find_interpreter(name: &str) -> Result<PathBuf, String> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("the interpreter {name} does not exist (--python)"))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("no {name} in PATH (--python)"))
}

/// The interpreter's version and the directories it reads (prefixes, sys.path), asked of it
/// once, outside the sandbox and with the server's environment (a pyenv shim needs it).
async fn interpreter_dirs(exe: &Path) -> Result<(String, Vec<PathBuf>), String> {
    const CODE: &str = "import sys, json; print(json.dumps({'version': sys.version.split()[0], \
        'dirs': [sys.executable, sys.prefix, sys.exec_prefix, sys.base_prefix, \
        sys.base_exec_prefix] + sys.path}))";
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(exe)
            .args(["-I", "-c", CODE])
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| format!("{} did not answer within 30 s", exe.display()))?
    .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} is not a working Python 3 ({}): {}",
            exe.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("{} answered oddly: {e}", exe.display()))?;
    let version = v["version"].as_str().unwrap_or("?").to_string();
    let dirs = v["dirs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d.as_str())
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .collect();
    Ok((version, dirs))
}

/// What scripts may read and execute: system directories, the few /etc files, the interpreter
/// and its directories (canonical: Landlock follows links to what they name).
fn readable(exe: &Path, dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    let mut add = |p: &Path| {
        if let Ok(c) = p.canonicalize()
            && !out.iter().any(|o| c.starts_with(o))
        {
            out.retain(|o| !o.starts_with(&c));
            out.push(c);
        }
    };
    for p in SYSTEM_READ.iter().chain(ETC_READ.iter()) {
        add(Path::new(p));
    }
    // Debian's per-version site configuration (/etc/python3.11, ...).
    if let Ok(entries) = std::fs::read_dir("/etc") {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with("python") {
                add(&e.path());
            }
        }
    }
    if let Some(parent) = exe.parent() {
        add(parent);
    }
    for d in dirs {
        let d = if d.is_file() {
            d.parent().map(Path::to_path_buf).unwrap_or_default()
        } else {
            d.clone()
        };
        add(&d);
    }
    out
}
