//! The `--python*` options of `hookflow serve` and the runner they configure (SPEC §11).

use std::path::Path;
use std::sync::Arc;

use clap::{Args, ValueEnum};
use hookflow_python::{Network, Python, PythonOptions, SandboxMode};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum NetworkArg {
    Allow,
    Deny,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SandboxArg {
    /// Full isolation; where the machine cannot enforce it, python steps fail saying why.
    Auto,
    /// No namespaces, Landlock or seccomp: scripts can read what the server's user can.
    None,
}

#[derive(Args, Debug)]
pub struct PythonArgs {
    /// Interpreter of python steps (a path, or a name looked up in PATH); a virtualenv's
    /// interpreter brings its packages. The sandbox user must be able to read and run it.
    #[arg(long = "python", env = "HOOKFLOW_PYTHON", default_value = "python3")]
    pub interpreter: String,
    /// Address space of each process of a python step, in MiB.
    #[arg(long, env = "HOOKFLOW_PYTHON_MEMORY_MB", default_value_t = 256)]
    pub python_memory_mb: u64,
    /// Processes and threads one python step may have at once.
    #[arg(long, env = "HOOKFLOW_PYTHON_MAX_PROCESSES", default_value_t = 32)]
    pub python_max_processes: u64,
    /// uid (or uid:gid) python steps run as when the server runs as root.
    #[arg(long, env = "HOOKFLOW_PYTHON_USER", default_value = "65534")]
    pub python_user: String,
    /// Network access of python steps: allow, or deny (a network namespace of their own).
    #[arg(
        long,
        env = "HOOKFLOW_PYTHON_NETWORK",
        value_enum,
        default_value = "allow"
    )]
    pub python_network: NetworkArg,
    /// Isolation of python steps: auto (required) or none (explicit opt-out).
    #[arg(
        long,
        env = "HOOKFLOW_PYTHON_SANDBOX",
        value_enum,
        default_value = "auto"
    )]
    pub python_sandbox: SandboxArg,
}

impl PythonArgs {
    /// Checks the interpreter and the sandbox once; logs what python steps will do.
    pub async fn runner(&self, data_dir: &Path) -> anyhow::Result<Arc<Python>> {
        let user = parse_user(&self.python_user)?;
        let opts = PythonOptions {
            interpreter: self.interpreter.clone(),
            memory_mb: self.python_memory_mb.max(16),
            max_processes: self.python_max_processes.max(1),
            user,
            network: match self.python_network {
                NetworkArg::Allow => Network::Allow,
                NetworkArg::Deny => Network::Deny,
            },
            sandbox: match self.python_sandbox {
                SandboxArg::Auto => SandboxMode::Auto,
                SandboxArg::None => SandboxMode::None,
            },
            protected: vec![data_dir.to_path_buf()],
            ..PythonOptions::default()
        };
        let py = Python::prepare(opts).await;
        if py.unavailable().is_some() || matches!(self.python_sandbox, SandboxArg::None) {
            tracing::warn!("{}", py.describe());
        } else {
            tracing::info!("{}", py.describe());
        }
        Ok(Arc::new(py))
    }
}

/// `65534` or `65534:65534`.
fn parse_user(s: &str) -> anyhow::Result<(u32, u32)> {
    let bad = || anyhow::anyhow!("--python-user must be a uid or uid:gid (numbers), not {s:?}");
    let (u, g) = match s.split_once(':') {
        Some((u, g)) => (u, g),
        None => (s, s),
    };
    let uid: u32 = u.trim().parse().map_err(|_| bad())?;
    let gid: u32 = g.trim().parse().map_err(|_| bad())?;
    if uid == 0 {
        anyhow::bail!("--python-user must not be root (0)");
    }
    Ok((uid, gid))
}

#[cfg(test)]
mod tests {
    use super::parse_user;

    #[test]
    fn users() {
        assert_eq!(parse_user("65534").unwrap(), (65534, 65534));
        assert_eq!(parse_user("1000:100").unwrap(), (1000, 100));
        assert!(parse_user("0").is_err());
        assert!(parse_user("nobody").is_err());
    }
}
