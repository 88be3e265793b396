//! `hookflow backup --to FILE`: an online copy of the embedded SQLite database, taken from the
//! data directory (not through the server, so it works whether the server runs or not, and the
//! master key never crosses the API), plus the master key a restore needs as `FILE.key`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use hookflow_store::crypto::KEY_FILE;

#[derive(Args)]
#[command(
    after_help = "Writes FILE, a consistent copy of <data-dir>/hookflow.db taken while the \
    server may be running and ingesting, and FILE.key, a copy of <data-dir>/master.key, which \
    seals webhook keys and secrets: a restore needs both (see README, Backups). Neither is ever \
    overwritten. With HOOKFLOW_MASTER_KEY set, no key file is written: keep that value. On \
    PostgreSQL, use pg_dump instead."
)]
pub struct BackupArgs {
    /// The backup file to write (it must not exist).
    #[arg(long, value_name = "FILE")]
    pub to: PathBuf,
    /// The server's data directory.
    #[arg(long, env = "HOOKFLOW_DATA_DIR", default_value = "./hookflow-data")]
    pub data_dir: PathBuf,
    /// The server's PostgreSQL URL, if it uses one: then this command only says to use pg_dump.
    #[arg(
        long = "database",
        env = "HOOKFLOW_DATABASE_URL",
        hide_env_values = true
    )]
    pub database: Option<String>,
}

/// The key file written beside backup `to`.
fn key_path(to: &Path) -> PathBuf {
    let mut name = to.as_os_str().to_owned();
    name.push(".key");
    PathBuf::from(name)
}

pub async fn run(args: BackupArgs) -> anyhow::Result<()> {
    if args
        .database
        .as_deref()
        .is_some_and(|u| !u.trim().is_empty())
    {
        bail!(
            "the database is PostgreSQL: back it up with pg_dump (e.g. pg_dump -Fc -f \
             hookflow.dump \"$HOOKFLOW_DATABASE_URL\"; restore with pg_restore), or with WAL \
             archiving for point-in-time recovery; `hookflow backup` copies the embedded SQLite \
             database only. Keep the master key with the dump (see README, Backups)"
        );
    }
    let key_to = key_path(&args.to);
    let env_key = std::env::var("HOOKFLOW_MASTER_KEY")
        .ok()
        .filter(|k| !k.trim().is_empty())
        .is_some();
    let key_from = args.data_dir.join(KEY_FILE);
    if !env_key {
        if !key_from.is_file() {
            bail!(
                "there is no {} and HOOKFLOW_MASTER_KEY is not set: without the master key a \
                 backup's webhook keys and secrets cannot be read",
                key_from.display()
            );
        }
        if key_to.exists() {
            bail!(
                "{} exists: a backup never replaces a file",
                key_to.display()
            );
        }
    }
    let bytes = hookflow_store::backup::backup_sqlite(&args.data_dir, &args.to)
        .await
        .context("backup failed")?;
    println!(
        "wrote {} ({:.1} MiB, integrity_check ok)",
        args.to.display(),
        bytes as f64 / 1_048_576.0
    );
    if env_key {
        println!(
            "the master key is HOOKFLOW_MASTER_KEY, not a file: a restore needs that same value"
        );
        return Ok(());
    }
    copy_key(&key_from, &key_to)?;
    println!(
        "wrote {} (the master key: a restore needs it; keep it as safe as the data, apart \
         from it)",
        key_to.display()
    );
    Ok(())
}

/// Copies the key file, owner-only, never over an existing file.
fn copy_key(from: &Path, to: &Path) -> anyhow::Result<()> {
    use std::io::Write;
    let key = std::fs::read(from).with_context(|| format!("cannot read {}", from.display()))?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(to)
        .with_context(|| format!("cannot create {}", to.display()))?;
    f.write_all(&key)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", to.display()))
}
