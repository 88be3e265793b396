//! The run queue: the one door to the runs table's state. Runs are enqueued, claimed with a
//! lease, have their steps saved, are finished, released until later, woken, have their leases
//! renewed and are cancelled here.
//!
//! Files: `status.rs` the words the table stores (run and step statuses, what started a run).

mod status;

pub use status::{RunStatus, StepStatus, TriggerKind, UnknownWord};
