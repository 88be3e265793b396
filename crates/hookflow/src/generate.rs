//! `hookflow completions <shell>` and `hookflow man <dir>`: shell completions and man pages
//! generated from the clap definitions of `cli.rs` and `serve.rs` (what the Debian package
//! ships, see packaging/). Hidden commands: they document the CLI, they are not part of it.

use std::path::Path;

use anyhow::Context;
use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;

/// The completion script for `shell`.
pub fn completions(shell: Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "hookflow", &mut out);
    out
}

/// Writes `hookflow.1` and one page per visible subcommand (`hookflow-serve.1`,
/// `hookflow-webhook-create.1`, ...) into `dir`, which is created if missing.
pub fn man_pages(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    clap_mangen::generate_to(Cli::command(), dir)
        .with_context(|| format!("cannot write the man pages to {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use clap::CommandFactory;

    use crate::cli::Cli;

    /// Variables `hookflow serve` reads that are not flags (serve.rs, `serve`).
    const EXTRA_SERVE_ENV: [&str; 3] = [
        "HOOKFLOW_ADMIN_TOKEN",
        "HOOKFLOW_MASTER_KEY",
        "HOOKFLOW_LOG",
    ];

    /// The variable of each `serve` flag; panics on a flag without one.
    fn serve_env() -> BTreeSet<String> {
        let cmd = Cli::command();
        let serve = cmd.find_subcommand("serve").expect("serve");
        serve
            .get_arguments()
            .filter(|a| !a.is_global_set() && a.get_id() != "help")
            .map(|a| {
                let env = a.get_env().unwrap_or_else(|| {
                    panic!("serve --{} has no environment variable", a.get_id())
                });
                env.to_string_lossy().into_owned()
            })
            .collect()
    }

    /// /etc/default/hookflow says every flag has a variable: true, or the packaged service
    /// could not be configured through it.
    #[test]
    fn every_serve_flag_has_a_variable() {
        let env = serve_env();
        assert!(env.contains("HOOKFLOW_LISTEN") && env.contains("HOOKFLOW_PYTHON_NETWORK"));
    }

    /// Every variable the packaged /etc/default/hookflow names is one `serve` reads.
    #[test]
    fn default_file_names_only_real_variables() {
        let known: BTreeSet<String> = serve_env()
            .into_iter()
            .chain(EXTRA_SERVE_ENV.map(String::from))
            .collect();
        let text = include_str!("../../../packaging/hookflow.default");
        let named: Vec<&str> = text
            .lines()
            .filter_map(|l| l.trim_start_matches('#').split_once('='))
            .map(|(name, _)| name.trim())
            .filter(|name| name.starts_with("HOOKFLOW_") && !name.contains(' '))
            .collect();
        assert!(named.len() >= 10, "{named:?}");
        for name in named {
            assert!(known.contains(name), "{name} is not read by hookflow serve");
        }
    }

    /// The man pages carry each flag's variable (clap_mangen's `env` feature).
    #[test]
    fn man_pages_name_the_variables() {
        let dir = tempfile::tempdir().unwrap();
        super::man_pages(dir.path()).unwrap();
        assert!(dir.path().join("hookflow.1").is_file());
        assert!(!dir.path().join("hookflow-man.1").exists());
        let serve = std::fs::read_to_string(dir.path().join("hookflow-serve.1")).unwrap();
        assert!(serve.contains("HOOKFLOW_PUBLIC_URL"), "{serve}");
    }
}
