//! Events: "this webhook received data" (with an optional filter) or "this schedule fired".
//! Schedules keep their next due time here, so exactly one node fires each due time.

use sqlx::AssertSqlSafe;

use crate::db::on_db;
use crate::query::{Listed, created, found, name_taken, not_found, statement};
use crate::run_queue::insert_runs_sqlx;
use crate::run_queue::sql::OnConflict;
use crate::runs::{NewRun, TriggerKind};
use crate::{Result, Store, names_nothing, new_id, no_nul, now_ms};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Event {
    pub id: String,
    #[sqlx(flatten)]
    pub spec: EventSpec,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What an event is, as created and changed: its name, and what makes it happen (validated by
/// the caller: exactly one of webhook/schedule).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventSpec {
    pub name: String,
    pub webhook_id: Option<String>,
    pub schedule: Option<String>,
    pub timezone: Option<String>,
    pub filter: Option<String>,
    /// Schedules: the next due time (unix ms).
    pub next_fire_at: Option<i64>,
}

const SELECT: &str = "SELECT id, name, webhook_id, schedule, timezone, filter, next_fire_at, \
    created_at, updated_at FROM events";

impl Listed for Event {
    const SELECT: &'static str = SELECT;

    fn id(&self) -> &str {
        &self.id
    }
}

/// Refuses an event whose user-chosen text holds a NUL (see [`crate::no_nul`]).
fn check_text(e: &EventSpec) -> Result<()> {
    no_nul("an event name", &e.name)?;
    no_nul("a webhook_id", e.webhook_id.as_deref().unwrap_or(""))?;
    no_nul("a schedule", e.schedule.as_deref().unwrap_or(""))?;
    no_nul("a timezone", e.timezone.as_deref().unwrap_or(""))?;
    no_nul("a filter", e.filter.as_deref().unwrap_or(""))
}

/// Creates an event: `$1` its id, `$2`…`$7` name, webhook_id, schedule, timezone, filter and
/// next_fire_at, `$8` now.
const INSERT_SQL: &str = "INSERT INTO events (id, name, webhook_id, schedule, timezone, \
    filter, next_fire_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)";

/// Replaces event `$1`'s fields, as [`INSERT_SQL`] takes them.
const UPDATE_SQL: &str = "UPDATE events SET name = $2, webhook_id = $3, schedule = $4, \
    timezone = $5, filter = $6, next_fire_at = $7, updated_at = $8 WHERE id = $1";

impl Store {
    pub async fn create_event(&self, spec: EventSpec) -> Result<Event> {
        let id = new_id();
        self.write_event(INSERT_SQL, &id, &spec, now_ms()).await?;
        created(self.get_event(&id).await?, "event")
    }

    /// Writes event `id` as `e` with `sql` ([`INSERT_SQL`] or [`UPDATE_SQL`]) at `now`: how many
    /// rows changed.
    async fn write_event(
        &self,
        sql: &'static str,
        id: &str,
        e: &EventSpec,
        now: i64,
    ) -> Result<u64> {
        check_text(e)?;
        let args = [
            id.into(),
            (&e.name).into(),
            (&e.webhook_id).into(),
            (&e.schedule).into(),
            (&e.timezone).into(),
            (&e.filter).into(),
            e.next_fire_at.into(),
            now.into(),
        ];
        self.execute(sql, &args)
            .await
            .map_err(name_taken("an event", &e.name))
    }

    /// By id, or by name.
    pub async fn get_event(&self, id_or_name: &str) -> Result<Option<Event>> {
        self.named(id_or_name).await
    }

    pub async fn list_events(
        &self,
        limit: i64,
        cursor: Option<&str>,
    ) -> Result<(Vec<Event>, Option<String>)> {
        self.newest(limit, cursor).await
    }

    /// Replaces the mutable fields of an event (the caller merges a patch into the current one).
    pub async fn update_event(&self, e: &Event) -> Result<Event> {
        if names_nothing(&e.id) {
            return Err(not_found("event", &e.id));
        }
        let n = self
            .write_event(UPDATE_SQL, &e.id, &e.spec, now_ms())
            .await?;
        found(n, "event", &e.id)?;
        self.get_event(&e.id)
            .await?
            .ok_or_else(|| not_found("event", &e.id))
    }

    pub async fn delete_event(&self, id: &str) -> Result<bool> {
        self.delete_with(id, &["DELETE FROM events WHERE id = $1"])
            .await
    }

    /// Names and ids of every event (for validating workflow triggers).
    pub async fn event_refs(&self) -> Result<Vec<(String, String)>> {
        self.all("SELECT id, name FROM events", &[]).await
    }

    /// Fires one due time of a schedule event: moves `next_fire_at` from `due` to `next` and, if
    /// `fire`, enqueues one run per enabled trigger of each valid, enabled workflow on the event —
    /// all in one transaction, and only if `next_fire_at` still was `due` (so across nodes each
    /// due time fires once). `None` if another node fired it first.
    pub async fn fire_schedule(
        &self,
        event_id: &str,
        event_name: &str,
        due: i64,
        next: i64,
        fire: bool,
    ) -> Result<Option<Vec<String>>> {
        if names_nothing(event_id) {
            return Ok(None);
        }
        let event_name = crate::text(event_name);
        let now = now_ms();
        on_db!(&self.db, |p| {
            let mut tx = p.begin_with(self.db.begin_write()).await?;
            let sql = "UPDATE events SET next_fire_at = $3 WHERE id = $1 AND next_fire_at = $2";
            let moved = statement(sql, &[event_id.into(), due.into(), next.into()])
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if moved != 1 {
                return Ok(None);
            }
            let mut started = Vec::new();
            if fire {
                let targets: Vec<(String, String)> = sqlx::query_as(
                    "SELECT w.id, w.name FROM triggers t JOIN workflows w ON w.id = t.workflow_id \
                     WHERE (t.event_ref = $1 OR t.event_ref = $2) AND w.valid AND w.enabled \
                     AND NOT t.disabled ORDER BY w.id, t.position",
                )
                .bind(event_id)
                .bind(&*event_name)
                .fetch_all(&mut *tx)
                .await?;
                let runs: Vec<NewRun> = targets
                    .into_iter()
                    .map(|(workflow_id, workflow_name)| NewRun {
                        event_id: Some(event_id.to_string()),
                        scheduled_at: Some(due),
                        ..NewRun::new(new_id(), TriggerKind::Schedule, workflow_id, workflow_name)
                    })
                    .collect();
                insert_runs_sqlx!(&mut *tx, now, &runs, OnConflict::Fresh);
                started = runs.into_iter().map(|r| r.id).collect();
            }
            tx.commit().await?;
            Ok(Some(started))
        })
    }

    /// Schedule events due at `now`.
    pub async fn due_schedules(&self, now: i64) -> Result<Vec<Event>> {
        let sql = format!("{SELECT} WHERE schedule IS NOT NULL AND next_fire_at <= $1");
        self.all(AssertSqlSafe(sql), &[now.into()]).await
    }
}
