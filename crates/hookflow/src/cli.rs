//! Command-line arguments (SPEC §6): the command tree and the client commands' options. The
//! options of `hookflow serve` and what it does with them are in `serve.rs`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::serve::ServeArgs;

#[derive(Parser)]
#[command(
    name = "hookflow",
    version,
    about = "Webhook-triggered workflow orchestration server"
)]
pub struct Cli {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// How client commands reach a server.
#[derive(Args, Clone)]
pub struct ClientArgs {
    /// Server base URL.
    #[arg(
        long = "url",
        env = "HOOKFLOW_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub url: String,
    /// Admin token.
    #[arg(
        long = "token",
        env = "HOOKFLOW_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub token: Option<String>,
}

// Parsed once per process: the size of `serve`'s many options does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum Command {
    /// Run the server.
    #[command(
        after_help = "Also read from the environment: HOOKFLOW_ADMIN_TOKEN (an admin token \
        that is always valid; without it the first start prints a generated one), \
        HOOKFLOW_MASTER_KEY (32 bytes, standard base64, that encrypt keys at rest; default: a key \
        file in the data directory) and HOOKFLOW_LOG (log filter, e.g. info or hookflow=debug)."
    )]
    Serve(ServeArgs),
    /// Manage webhooks on a running server.
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// Manage events: "this webhook received data" or "this schedule fired".
    #[command(subcommand)]
    Event(EventCommand),
    /// Manage workflows: apply definitions, list, show, run, enable, disable, delete.
    #[command(subcommand)]
    Workflow(WorkflowCommand),
    /// Inspect and cancel workflow runs.
    #[command(subcommand)]
    Run(RunCommand),
    /// Replay stored deliveries.
    #[command(subcommand)]
    Delivery(DeliveryCommand),
    /// Manage the secrets workflows use (values are write-only).
    #[command(subcommand)]
    Secret(SecretCommand),
    /// Import workflows exported from another product.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Copy the SQLite database (and the master key) while the server runs.
    Backup(crate::backup::BackupArgs),
    /// Print the completion script for a shell (what the Debian package installs).
    #[command(hide = true)]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages (hookflow.1 and one per subcommand) into a directory.
    #[command(hide = true)]
    Man {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum ImportCommand {
    /// SecureX orchestration exports (JSON files, or folders of them such as a clone of the
    /// vendor's workflow repository) → hookflow workflows, webhooks, events, targets and a
    /// report. Nothing is sent to a server unless --apply.
    #[command(
        after_help = "Writes to --out: workflows/ (one YAML per workflow, prefixed with its apply \
        order), webhooks.yaml, events.yaml, targets.yaml (fill in base URLs, then import again \
        with --targets), secrets.txt, import-report.md and import-report.json.\n\nExit status: 0 \
        when every export imported clean, 2 when some imported with gaps (listed), 1 on an error \
        (unreadable input)."
    )]
    Securex(SecurexArgs),
}

#[derive(Args)]
pub struct SecurexArgs {
    /// Folder to write the documents and the report to.
    #[arg(long, value_name = "DIR", default_value = "./securex-import")]
    pub out: PathBuf,
    /// A filled-in targets.yaml: HTTP requests use each target's base URL (and auth secret).
    #[arg(long, value_name = "FILE")]
    pub targets: Option<PathBuf>,
    /// Also create the missing webhooks and events and apply the workflows (HOOKFLOW_URL,
    /// HOOKFLOW_TOKEN); workflows with gaps are applied disabled.
    #[arg(long)]
    pub apply: bool,
    /// With --apply: enable the workflows imported clean (others stay disabled).
    #[arg(long, requires = "apply")]
    pub enable_clean: bool,
    /// Export files or folders.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

#[derive(Subcommand)]
pub enum WebhookCommand {
    /// Create a webhook and print its Webhook URL.
    Create {
        #[arg(long)]
        name: String,
        /// One of: application/json, "application/json; charset=utf-8",
        /// application/x-www-form-urlencoded, application/xml, or a type the server's
        /// --extra-content-types allows.
        #[arg(long = "content-type", default_value = "application/json")]
        content_type: String,
        #[arg(long)]
        rate_limit_per_minute: Option<i64>,
        #[arg(long)]
        rate_limit_per_day: Option<i64>,
        /// Duplicate detection: an expression over the trigger variables, e.g.
        /// 'trigger.headers["x-github-delivery"]', or a preset: standard_webhooks, github,
        /// stripe, slack.
        #[arg(long, value_name = "KEY")]
        dedup_key: Option<String>,
        /// How long an accepted dedup key is remembered (default 86400, at most 2592000).
        #[arg(long, requires = "dedup_key", value_name = "SECONDS")]
        dedup_window_seconds: Option<i64>,
        #[command(flatten)]
        verify: VerifyArgs,
    },
    /// Set, change or remove a webhook's signature verification (SPEC §9); prints the webhook.
    Verify {
        id: String,
        #[command(flatten)]
        verify: VerifyArgs,
        /// On a new --verify-secret: the old secret keeps verifying this many seconds.
        #[arg(long)]
        previous_secret_grace_seconds: Option<u64>,
        /// Remove the webhook's verification.
        #[arg(long, conflicts_with_all = ["scheme", "secret", "previous_secret_grace_seconds"])]
        remove: bool,
    },
    /// List webhooks.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one webhook (JSON).
    Show { id: String },
    /// Delete a webhook and its deliveries.
    Delete { id: String },
    /// Replace a webhook's key and print the new Webhook URL.
    RotateKey {
        id: String,
        /// Keep the old key valid this many seconds.
        #[arg(long, default_value_t = 0)]
        grace_seconds: u64,
    },
    /// Replay the accepted deliveries a webhook received from --from (included) to --to
    /// (excluded), at most 10,000: route them again through today's events, filters and
    /// workflows (duplicates and rejected deliveries are skipped); prints the runs started per
    /// workflow.
    Replay {
        id: String,
        /// RFC 3339 time, e.g. 2026-01-31T00:00:00Z.
        #[arg(long)]
        from: String,
        /// RFC 3339 time, e.g. 2026-02-01T00:00:00Z.
        #[arg(long)]
        to: String,
        #[command(flatten)]
        replay: ReplayArgs,
    },
}

/// What `delivery replay` and `webhook replay` share.
#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// Start nothing: show what would start.
    #[arg(long)]
    pub dry_run: bool,
    /// Only this workflow starts (repeatable).
    #[arg(long = "workflow", value_name = "NAME")]
    pub workflows: Vec<String>,
    /// Print the server's JSON answer.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum DeliveryCommand {
    /// Route a stored accepted delivery again through today's events, filters and workflows;
    /// prints why each event matched or not, each workflow that does not start and why, and the
    /// runs started (with --dry-run: that would start, nothing is recorded).
    Replay {
        id: String,
        #[command(flatten)]
        replay: ReplayArgs,
    },
}

/// Signature verification flags of `webhook create` and `webhook verify`.
#[derive(clap::Args, Debug, Default)]
pub struct VerifyArgs {
    /// Verify signatures: standard_webhooks, github, stripe, slack, shopify or hmac.
    #[arg(long = "verify")]
    pub scheme: Option<String>,
    /// The shared secret the sender signs with (better given in HOOKFLOW_VERIFY_SECRET, which
    /// keeps it out of the process list and shell history).
    #[arg(
        long = "verify-secret",
        env = "HOOKFLOW_VERIFY_SECRET",
        hide_env_values = true
    )]
    pub secret: Option<String>,
    /// enforce (refuse what fails, the default) or log_only (accept and record the verdict).
    #[arg(long = "verify-mode")]
    pub mode: Option<String>,
    /// For timestamped schemes: how far from now a timestamp may be (default 300).
    #[arg(long = "verify-tolerance-seconds")]
    pub tolerance_seconds: Option<u64>,
    /// false: signed requests need no api_key (only with --verify-mode enforce).
    #[arg(long = "require-api-key", action = clap::ArgAction::Set)]
    pub require_api_key: Option<bool>,
    /// hmac scheme: the header carrying the signature.
    #[arg(long = "verify-header")]
    pub header: Option<String>,
    /// hmac scheme: sha1, sha256 (default) or sha512.
    #[arg(long = "verify-algorithm")]
    pub algorithm: Option<String>,
    /// hmac scheme: hex (default) or base64.
    #[arg(long = "verify-encoding")]
    pub encoding: Option<String>,
    /// hmac scheme: text before the signature, e.g. sha256=.
    #[arg(long = "verify-prefix")]
    pub prefix: Option<String>,
}

#[derive(Subcommand)]
pub enum EventCommand {
    /// Create an event and print its id.
    #[command(group(clap::ArgGroup::new("source").required(true).args(["webhook", "schedule"])))]
    Create {
        #[arg(long)]
        name: String,
        /// A webhook event: the id of the webhook whose requests it is.
        #[arg(long, value_name = "WEBHOOK_ID")]
        webhook: Option<String>,
        /// A schedule event: a 5-field cron expression, e.g. "*/5 * * * *".
        #[arg(long, value_name = "CRON")]
        schedule: Option<String>,
        /// The schedule's time zone (IANA name, e.g. Europe/Paris; default UTC).
        #[arg(long, requires = "schedule", value_name = "TZ")]
        timezone: Option<String>,
        /// Only requests that pass this expression over the trigger variables start runs, e.g.
        /// 'trigger.body.severity in ["high", "critical"]'.
        #[arg(long, value_name = "EXPR")]
        filter: Option<String>,
    },
    /// List events.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one event (JSON).
    Show {
        /// The event's id or name.
        id: String,
    },
    /// Delete an event.
    Delete {
        /// The event's id or name.
        id: String,
    },
}

#[derive(Subcommand)]
pub enum WorkflowCommand {
    /// Create a workflow, or replace the one with the same name, and print its validation.
    #[command(
        after_help = "Exit status: 0 when the workflow is saved and valid, 2 when it is saved but \
        invalid (its errors are printed, one per line, with their path in the document), 1 when \
        it could not be saved."
    )]
    Apply {
        /// The definition: YAML (.yaml, .yml) or JSON (.json); other names are read as JSON when
        /// they start with `{`, else as YAML. `-` reads standard input.
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: String,
    },
    /// List workflows.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one workflow (JSON).
    Show {
        /// The workflow's id or name.
        id: String,
    },
    /// Start a manual run and print it (JSON).
    #[command(
        after_help = "Exit status: 0 when the run succeeded (or, without --wait, was started), 1 \
        when it failed or was cancelled, or did not finish within --wait."
    )]
    Run {
        /// The workflow's id or name.
        id: String,
        /// An input, NAME=VALUE; the value is read as JSON if it is JSON (42, true, [1,2],
        /// {"a":1}, "quoted"), else taken as a string. Repeatable; wins over --inputs-json.
        #[arg(long = "input", value_name = "NAME=VALUE")]
        input: Vec<String>,
        /// All inputs as one JSON object.
        #[arg(long, value_name = "JSON")]
        inputs_json: Option<String>,
        /// Wait up to this many seconds for the run to finish (at most 300).
        #[arg(long, value_name = "SECONDS")]
        wait: Option<f64>,
    },
    /// Enable a workflow (only valid, enabled workflows are triggered).
    Enable {
        /// The workflow's id or name.
        id: String,
    },
    /// Disable a workflow: its triggers start no runs.
    Disable {
        /// The workflow's id or name.
        id: String,
    },
    /// Delete a workflow.
    Delete {
        /// The workflow's id or name.
        id: String,
    },
    /// List a workflow's saved versions, newest first (each save makes one; a run executes the
    /// version it started on).
    Versions {
        /// The workflow's id or name (or a deleted workflow's id whose runs keep versions).
        id: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print one version's document as it was written (or, with --json, the version as JSON).
    Version {
        /// The workflow's id or name.
        id: String,
        /// The version's number.
        n: u64,
        /// Print JSON (validation, definition, source) instead of the document.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum RunCommand {
    /// List runs, newest first.
    List {
        /// Only runs of this workflow (id or name).
        #[arg(long, value_name = "WORKFLOW")]
        workflow: Option<String>,
        /// Only runs in this status: queued, running, succeeded, failed or cancelled.
        #[arg(long, value_name = "STATUS")]
        status: Option<String>,
        /// At most this many runs.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one run with its steps (JSON).
    Show { id: String },
    /// Ask a queued or running run to stop.
    Cancel { id: String },
}

#[derive(Subcommand)]
pub enum SecretCommand {
    /// Create or replace a secret. The value is read from standard input unless --value is
    /// given (which leaves it in the shell's history); it is never printed.
    Set {
        /// Letters, digits and _, so workflows can write secrets.NAME.
        name: String,
        /// The value (prefer standard input: this stays in the shell's history).
        #[arg(long, conflicts_with = "from_stdin")]
        value: Option<String>,
        /// Read the whole of standard input as the value (one final newline is dropped), e.g. a
        /// PEM key. Without this flag or --value, one line is read (without echo on a terminal).
        #[arg(long)]
        from_stdin: bool,
    },
    /// List secret names (values are never shown).
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Delete a secret.
    Delete { name: String },
}
