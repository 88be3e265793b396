//! The management services (SPEC §5, §7, §9, §10): what may be created, changed, deleted,
//! replayed, run or tested, and what it does to the rest (a change of an event, secret or
//! workflow re-validates the workflows). Both adapters call them: the JSON API ([`crate::api`])
//! and the web UI ([`crate::ui`]), which only parse requests and shape answers. Services speak
//! the domain: they take checked-or-to-check values and return [`ManageError`], mapped to
//! problem+json in one place ([`error`]). They know nothing of HTTP requests, status codes or
//! pages.
//!
//! Layout: [`error`] (the domain error and its one mapping), [`page`] (list pages and cursors),
//! [`webhooks`], [`events`] (and [`filter_test`]), [`workflows`] (with [`catalog`], the
//! validation against what exists), [`versions`], [`manual_runs`], [`runs`] (the run views,
//! secrets masked), [`deliveries`], [`replay`], [`secrets`], [`checklist`]. The views (`*View`)
//! are what an operator sees of each thing, in the API's answers and on the UI's pages alike.

pub mod catalog;
pub mod checklist;
pub mod deliveries;
pub mod error;
pub mod events;
pub mod filter_test;
pub mod manual_runs;
pub mod page;
pub mod replay;
pub mod runs;
pub mod secrets;
pub mod versions;
pub mod webhooks;
pub mod workflows;

pub use error::{Found, ManageError, ManageResult};

/// Unix milliseconds as RFC 3339 (UTC, millisecond precision): every time a view shows.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// `value` as the JSON an answer holds. Views are typed values (whose schemas the OpenAPI
/// document shows) and sent as [`serde_json::Value`], whose members are in name order: the
/// order answers have always had. The UI's pages read the same values.
pub fn to_json<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// `Option<Option<T>>` for the fields of a change: absent = keep, `null` = clear.
pub(crate) mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
    where
        T: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Option::<T>::deserialize(d).map(Some)
    }
}
