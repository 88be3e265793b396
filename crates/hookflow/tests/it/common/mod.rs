//! The test harness: a real `hookflow serve` process per test, on port 0, with a fresh data
//! directory and admin token, and helpers to talk to it over HTTP — through `reqwest` for
//! ordinary requests and through a raw TCP socket for the requests `reqwest` would normalise
//! (a raw `+` in the query, a declared `Content-Length` with no body, no `Accept` header).
//!
//! With `TEST_DATABASE_URL=postgres://…` set, every server runs on PostgreSQL instead of SQLite:
//! on a fresh database of that server, created for it and dropped with it (see [`PgDatabase`]).
//!
//! One module per concern, all re-exported here (tests `use crate::common::*`):
//! - `server`: the `serve` process (start, peers, stop, `kill -9`, restart, its log);
//! - `database`: the backend of this run, fresh PostgreSQL databases, direct SQL;
//! - `http`: [`Answer`] and percent-encoding;
//! - `api`: the management API and webhook requests through `reqwest`;
//! - `cli`: the `hookflow` binary as a client command and what it printed;
//! - `raw`: requests over a raw TCP socket;
//! - `runs`: manual runs and what a run record holds;
//! - `scenario`: the webhook → event → workflow setup most routing tests start from;
//! - `documents`: workflow documents built from parts (a triggered workflow, an HTTP call step);
//! - `poll`: [`eventually`] and the wall clock;
//! - `metrics`: the `/metrics` text;
//! - `fixtures`: random names, unknown ids, local HTTP servers (an axum app, a flaky destination).

mod api;
mod cli;
mod database;
mod documents;
mod fixtures;
mod http;
mod metrics;
mod poll;
mod raw;
mod runs;
mod scenario;
mod server;

pub use api::*;
pub use cli::*;
pub use database::*;
pub use documents::*;
pub use fixtures::*;
pub use http::*;
pub use metrics::*;
pub use poll::*;
pub use raw::*;
pub use runs::*;
pub use scenario::*;
pub use server::*;
