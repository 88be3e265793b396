//! The words the runs table stores, as types: a run's status, a step's status and what started a
//! run. Each is stored, answered and serialized as the same lowercase word (SPEC §1 and §11), so
//! the enums change nothing on disk or on the wire; a word the enum does not know fails to decode
//! instead of being passed on.

use std::fmt;
use std::str::FromStr;

/// Defines a unit enum stored as one lowercase word per variant: `as_str`, `Display`, `FromStr`,
/// serde, and decoding from (and binding as) text on both databases (and as an
/// [`Arg`](crate::query::Arg)).
macro_rules! stored_word {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $word:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $word)] $variant,)+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The word stored and answered.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word,)+
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownWord;
            fn from_str(s: &str) -> Result<Self, UnknownWord> {
                match s {
                    $($word => Ok($name::$variant),)+
                    _ => Err(UnknownWord { what: stringify!($name), word: s.to_string() }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<DB: sqlx::Database> sqlx::Type<DB> for $name
        where
            str: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <str as sqlx::Type<DB>>::type_info()
            }
            fn compatible(ty: &DB::TypeInfo) -> bool {
                <str as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $name
        where
            &'r str: sqlx::Decode<'r, DB>,
        {
            fn decode(
                value: <DB as sqlx::Database>::ValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                Ok(<&str as sqlx::Decode<DB>>::decode(value)?.parse()?)
            }
        }

        impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for $name
        where
            &'static str: sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as sqlx::Database>::ArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&'static str as sqlx::Encode<'q, DB>>::encode(self.as_str(), buf)
            }
        }

        impl rusqlite::types::FromSql for $name {
            fn column_result(
                value: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<Self> {
                value
                    .as_str()?
                    .parse()
                    .map_err(|e| rusqlite::types::FromSqlError::Other(Box::new(e)))
            }
        }

        impl From<&$name> for crate::query::Arg<'_> {
            fn from(v: &$name) -> Self {
                v.as_str().into()
            }
        }

        impl rusqlite::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(self.as_str().into())
            }
        }
    };
}

stored_word! {
    /// Where a run is (`runs.status`). `waiting` is internal — a run sleeping, backing off or
    /// waiting for a sub-run — and is answered as `running` (SPEC §1).
    RunStatus {
        Queued = "queued",
        Running = "running",
        Waiting = "waiting",
        Succeeded = "succeeded",
        Failed = "failed",
        Cancelled = "cancelled",
    }
}

stored_word! {
    /// Where a recorded step is (`run_steps.status`).
    StepStatus {
        Running = "running",
        Waiting = "waiting",
        Succeeded = "succeeded",
        Failed = "failed",
        Cancelled = "cancelled",
    }
}

stored_word! {
    /// What started a run (`runs.trigger_kind`, answered as `started_by`, SPEC §11).
    TriggerKind {
        Webhook = "webhook",
        Schedule = "schedule",
        Manual = "manual",
        Replay = "replay",
        /// A `run_workflow` step of another run.
        Workflow = "workflow",
    }
}

impl RunStatus {
    /// Whether the run has ended (its status will not change again).
    pub const fn is_finished(self) -> bool {
        matches!(
            self,
            RunStatus::Succeeded | RunStatus::Failed | RunStatus::Cancelled
        )
    }

    /// The statuses users see and filter by, in the order they are listed (SPEC §1).
    pub const PUBLIC: [RunStatus; 5] = [
        RunStatus::Queued,
        RunStatus::Running,
        RunStatus::Succeeded,
        RunStatus::Failed,
        RunStatus::Cancelled,
    ];

    /// One of [`PUBLIC`](Self::PUBLIC) by its word (`waiting` is not one).
    pub fn parse_public(word: &str) -> Option<RunStatus> {
        word.parse().ok().filter(|s| RunStatus::PUBLIC.contains(s))
    }

    /// The status as users see it: a `waiting` run is `running` to them.
    pub const fn public(self) -> RunStatus {
        match self {
            RunStatus::Waiting => RunStatus::Running,
            s => s,
        }
    }
}

impl StepStatus {
    /// Whether the step ran to its end, succeeded or failed: what it left (output, error) is
    /// what later steps read, and a resumed run replays it instead of executing it.
    pub const fn has_result(self) -> bool {
        matches!(self, StepStatus::Succeeded | StepStatus::Failed)
    }
}

/// A stored word that names no variant of the enum it was read as.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {word:?}")]
pub struct UnknownWord {
    what: &'static str,
    word: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant: its word parses back to it, and serde writes and reads the same word.
    fn round_trip<T>(all: &[T], words: &[&str])
    where
        T: Copy + PartialEq + fmt::Debug + fmt::Display + FromStr + serde::Serialize,
        T: serde::de::DeserializeOwned,
        <T as FromStr>::Err: fmt::Debug,
    {
        let got: Vec<String> = all.iter().map(|v| v.to_string()).collect();
        assert_eq!(got, words);
        for v in all {
            let word = v.to_string();
            assert_eq!(word.parse::<T>().unwrap(), *v);
            let json = serde_json::to_string(v).unwrap();
            assert_eq!(json, format!("\"{word}\""));
            assert_eq!(serde_json::from_str::<T>(&json).unwrap(), *v);
        }
    }

    #[test]
    fn words_are_the_stored_ones() {
        round_trip(
            RunStatus::ALL,
            &[
                "queued",
                "running",
                "waiting",
                "succeeded",
                "failed",
                "cancelled",
            ],
        );
        round_trip(
            StepStatus::ALL,
            &["running", "waiting", "succeeded", "failed", "cancelled"],
        );
        round_trip(
            TriggerKind::ALL,
            &["webhook", "schedule", "manual", "replay", "workflow"],
        );
    }

    #[test]
    fn unknown_words_are_refused() {
        for word in ["", "Queued", "done", "queued "] {
            assert!(word.parse::<RunStatus>().is_err(), "{word:?}");
            assert!(serde_json::from_str::<RunStatus>(&format!("\"{word}\"")).is_err());
        }
        assert!("cron".parse::<TriggerKind>().is_err());
        assert!("skipped".parse::<StepStatus>().is_err());
        assert_eq!(
            "done".parse::<RunStatus>().unwrap_err().to_string(),
            "unknown RunStatus \"done\""
        );
    }

    #[test]
    fn finished_and_public() {
        let finished: Vec<_> = RunStatus::ALL.iter().filter(|s| s.is_finished()).collect();
        assert_eq!(
            finished,
            [
                &RunStatus::Succeeded,
                &RunStatus::Failed,
                &RunStatus::Cancelled
            ]
        );
        assert_eq!(RunStatus::Waiting.public(), RunStatus::Running);
        assert_eq!(RunStatus::Queued.public(), RunStatus::Queued);
        for s in RunStatus::ALL {
            assert!(RunStatus::PUBLIC.contains(&s.public()));
            let public = RunStatus::parse_public(s.as_str());
            assert_eq!(public, (*s != RunStatus::Waiting).then_some(*s));
        }
    }

    #[test]
    fn decoded_from_sqlite() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let s: RunStatus = conn
            .query_row("SELECT 'waiting'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(s, RunStatus::Waiting);
        let bound: String = conn
            .query_row("SELECT ?1", [TriggerKind::Replay], |r| r.get(0))
            .unwrap();
        assert_eq!(bound, "replay");
        assert!(
            conn.query_row("SELECT 'nope'", [], |r| r.get::<_, StepStatus>(0))
                .is_err()
        );
    }
}
