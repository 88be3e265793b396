//! `hookflow secret set|list|delete`. A value is sent once and never printed: not by `set`, not
//! in errors (the server does not echo it), and `list` shows names only.

use std::io::{BufRead, IsTerminal, Read};

use anyhow::{Context, bail};
use reqwest::Method;
use serde_json::json;

use super::{Api, Outcome, item, print_list, text};
use crate::cli::{ClientArgs, SecretCommand};

/// Drops one final line ending (`\n` or `\r\n`).
fn chomp(mut s: String) -> String {
    if s.ends_with('\n') {
        s.pop();
        if s.ends_with('\r') {
            s.pop();
        }
    }
    s
}

/// Switches the terminal's echo on standard input off or on (best effort, through `stty`, so
/// no terminal library is needed).
fn set_echo(on: bool) {
    let _ = std::process::Command::new("stty")
        .arg(if on { "echo" } else { "-echo" })
        .stdin(std::process::Stdio::inherit())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

/// One line from standard input; on a terminal, asked for on stderr and typed without echo.
fn read_line(name: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let mut line = String::new();
    if stdin.is_terminal() {
        eprint!("value of secret {name}: ");
        set_echo(false);
        let read = stdin.lock().read_line(&mut line);
        set_echo(true);
        eprintln!();
        read.context("cannot read the value from the terminal")?;
    } else {
        stdin
            .lock()
            .read_line(&mut line)
            .context("cannot read the value from standard input")?;
    }
    Ok(chomp(line))
}

/// `hookflow secret …`.
pub async fn secret(args: &ClientArgs, cmd: SecretCommand) -> Outcome {
    let api = Api::new(args)?;
    match cmd {
        SecretCommand::Set {
            name,
            value,
            from_stdin,
        } => {
            let value = match value {
                Some(v) => v,
                None if from_stdin => {
                    let mut all = String::new();
                    std::io::stdin()
                        .read_to_string(&mut all)
                        .context("cannot read the value from standard input")?;
                    chomp(all)
                }
                None => read_line(&name)?,
            };
            if value.is_empty() {
                bail!(
                    "no value for secret {name}: pipe it on standard input (or use --value, \
                     which leaves it in the shell's history)"
                );
            }
            api.call(
                Method::PUT,
                &item("secrets", &name),
                Some(json!({ "value": value })),
            )
            .await?;
            eprintln!("set secret {name}");
        }
        SecretCommand::List { json } => {
            let items = api.list("/secrets", None).await?;
            let headers = ["NAME", "CREATED", "UPDATED"];
            print_list(items, json, &headers, |s| {
                vec![
                    text(&s["name"]),
                    text(&s["created_at"]),
                    text(&s["updated_at"]),
                ]
            });
        }
        SecretCommand::Delete { name } => {
            api.delete(&item("secrets", &name), &format!("secret {name}"))
                .await?
        }
    }
    Ok(0)
}
