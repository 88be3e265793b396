//! The `hookflow` binary: `hookflow serve` runs the server, `hookflow backup` copies its SQLite
//! database; the other commands are a client of a running server's management API. Kept thin:
//! the server lives in `hookflow-server`.
#![forbid(unsafe_code)]

mod backup;
mod cli;
mod client;
mod generate;
mod otlp;
mod python_args;
mod serve;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

/// mimalloc: the ingest path allocates many small, short-lived buffers across threads, which
/// glibc's allocator serves noticeably slower (measured in BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Command::Completions { shell } => {
            use std::io::Write;
            return match std::io::stdout().write_all(&generate::completions(*shell)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("hookflow: cannot write the completion script: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Man { dir } => {
            return match generate::man_pages(dir) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("hookflow: {e:#}");
                    ExitCode::FAILURE
                }
            };
        }
        _ => {}
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("hookflow: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::serve(args).await.map(|()| 0),
            Command::Webhook(cmd) => client::webhook(&cli.client, cmd).await,
            Command::Event(cmd) => client::event(&cli.client, cmd).await,
            Command::Workflow(cmd) => client::workflow(&cli.client, cmd).await,
            Command::Run(cmd) => client::run(&cli.client, cmd).await,
            Command::Delivery(cmd) => client::delivery(&cli.client, cmd).await,
            Command::Secret(cmd) => client::secret(&cli.client, cmd).await,
            Command::Import(cmd) => client::import(&cli.client, cmd).await,
            Command::Backup(args) => backup::run(args).await.map(|()| 0),
            Command::Completions { .. } | Command::Man { .. } => Ok(0),
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("hookflow: {e:#}");
            ExitCode::FAILURE
        }
    }
}
