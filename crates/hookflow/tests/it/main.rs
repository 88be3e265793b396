//! Integration tests of the `hookflow` binary: each test starts its own `hookflow serve` on port 0
//! with a fresh data directory (see `common`), so they run in parallel.
//!
//! - `ingest`: SPEC §2, every check of `POST /webhooks/{id}` and what is recorded, plus the
//!   management API's authentication (§5).
//! - `backup`: `hookflow backup` under load, restored into a fresh data directory (every
//!   delivery accepted before it, integrity, sealed values still open); pg_dump on PostgreSQL.
//! - `crash`: a `kill -9` under load loses no request that was answered 202.
//! - `api`: the management API (§5) beyond CRUD: OpenAPI document, health, metrics, pagination,
//!   input errors, the deliveries filter, `--public-url`.
//! - `cli`: the binary as a client of a running server (§6).
//! - `routing`: webhook requests routed to workflow runs (fan-out, filters, reasons no run
//!   started, trigger variables, schedules, a `kill -9` mid-run, deleted events).
//! - `cli_workflows`: the client commands for events, workflows, runs and secrets (§6).
//! - `nodes`: two `serve` processes on one PostgreSQL database (rate limits, runs once each, a
//!   node killed mid-run, schedules, changes seen at once); PostgreSQL pass only.
//! - `pg_restart`: a private PostgreSQL cluster stopped and started under load; PostgreSQL pass
//!   only.
//! - `recorded`: what deliveries record of headers and query: credentials masked, a rejected
//!   request's headers cut to their budget.
//! - `hostile`: hostile traffic — endless headers, idle and half-sent requests, connection
//!   floods, stalled bodies with a wrong key, the timing of 401s, the HTTP parser's own answers.
//! - `engine_steps`: every step type and option through the real server (§4), with local HTTP
//!   servers as destinations.
//! - `expr_additions`: SPEC §11's expression additions (dates, JSON in text, step status and
//!   errors); `run_additions`: the rest of §11 (run metadata and trigger, deliveries metric,
//!   `break`/`continue`, secure strings, titles).
//! - `import_securex`: `hookflow import securex` end to end: import, `--apply`, a webhook
//!   request, the run calling a local server as the old workflow would have.
//! - `run_limits`: what one run may record and start (sizes of step records, runs per root run,
//!   call cycles refused at validation).
//! - `dedup`: duplicate detection (SPEC §9): 20 concurrent repeats give one run (also over two
//!   PostgreSQL nodes), the window, requests without a key, presets, rate limits, saving, the
//!   expired-key sweeper; `dedup_ui`: the webhook form's duplicate fields and the pages.
//! - `content_types`: `--extra-content-types` (SPEC §9): `*+json` parsed, `text/*` as a string.
//! - `python`, `python_sandbox`: the `python` step (SPEC §11): what it runs and records, its
//!   failures and limits, a `kill -9` mid-script; what a script cannot reach.
//! - `filter_test`: a proposed event filter tried on stored deliveries (SPEC §10).
//! - `replay`: stored deliveries replayed (one, to named workflows, in bulk under ingest) and dry
//!   runs (SPEC §10); `replay_cli`: `delivery replay` and `webhook replay`.
//! - `versions`: workflow versions (SPEC §10): runs pinned to the version they started on (after
//!   a sleep, a `kill -9`, a takeover by another node), the versions API and retention.
//! - `retention`: `serve --retain-days`: old deliveries, runs, steps and versions pruned, what an
//!   unfinished run needs kept, how far back history goes (API, health, UI), two PostgreSQL
//!   nodes pruning one backlog.
//! - `verification`: SPEC §9 signature verification — every scheme, published test vectors,
//!   secret rotation, `log_only`, `require_api_key: false`, forged requests and the rate limits;
//!   `verification_sealed`: its secret never shown, logged or stored in the clear.
//! - `traces`: `serve --otlp-endpoint` against a local OTLP/HTTP receiver: one request's spans
//!   from the request to each step, `traceparent` sent onwards, new traces otherwise.

mod api;
mod backup;
mod browser;
mod checklist;
mod cli;
mod cli_workflows;
mod common;
mod content_types;
mod crash;
mod dedup;
mod dedup_ui;
mod engine_steps;
mod expr_additions;
mod filter_test;
mod hostile;
mod import_securex;
mod ingest;
mod nodes;
mod pg_restart;
mod python;
mod python_sandbox;
mod recorded;
mod replay;
mod replay_cli;
mod retention;
mod routing;
mod run_additions;
mod run_limits;
mod schema;
mod serve;
mod traces;
mod ui_http;
mod verification;
mod verification_sealed;
mod versions;
