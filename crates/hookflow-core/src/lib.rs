//! hookflow's model: what a webhook request must look like (media types, keys in URLs) and how its
//! body becomes the trigger value. Pure functions only: no I/O, no async, no storage — so the
//! rules are testable and fuzzable on their own.
#![forbid(unsafe_code)]

pub mod body;
pub mod dedup;
pub mod expr;
pub mod filters;
pub mod ingest;
pub mod media;
pub mod query;
pub mod recorded;
pub mod redact;
pub mod routing;
pub mod schedule;
pub mod trigger;
pub mod verify;
pub mod workflow;
