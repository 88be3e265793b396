//! Events: "this webhook received data" (with an optional filter) or "this schedule fired".
//! Schedules keep their next due time here, so exactly one node fires each due time.

use sqlx::Row;

use crate::db::on_db;
use crate::run_queue::insert_runs_sqlx;
use crate::run_queue::sql::OnConflict;
use crate::runs::{NewRun, TriggerKind};
use crate::webhooks::page;
use crate::{Result, Store, StoreError, names_nothing, new_id, no_nul, now_ms};

#[derive(Debug, Clone)]
pub struct Event {
    pub id: String,
    pub name: String,
    pub webhook_id: Option<String>,
    pub schedule: Option<String>,
    pub timezone: Option<String>,
    pub filter: Option<String>,
    /// Schedules: the next due time (unix ms).
    pub next_fire_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A new event (validated by the caller: exactly one of webhook/schedule).
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub name: String,
    pub webhook_id: Option<String>,
    pub schedule: Option<String>,
    pub timezone: Option<String>,
    pub filter: Option<String>,
    pub next_fire_at: Option<i64>,
}

const COLUMNS: &str =
    "id, name, webhook_id, schedule, timezone, filter, next_fire_at, created_at, updated_at";

macro_rules! event_from_row {
    ($r:expr) => {{
        let r = $r;
        Event {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            webhook_id: r.try_get("webhook_id")?,
            schedule: r.try_get("schedule")?,
            timezone: r.try_get("timezone")?,
            filter: r.try_get("filter")?,
            next_fire_at: r.try_get("next_fire_at")?,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
        }
    }};
}

/// Refuses an event whose user-chosen text holds a NUL (see [`crate::no_nul`]).
fn check_text(
    name: &str,
    webhook_id: Option<&str>,
    schedule: Option<&str>,
    timezone: Option<&str>,
    filter: Option<&str>,
) -> Result<()> {
    no_nul("an event name", name)?;
    no_nul("a webhook_id", webhook_id.unwrap_or(""))?;
    no_nul("a schedule", schedule.unwrap_or(""))?;
    no_nul("a timezone", timezone.unwrap_or(""))?;
    no_nul("a filter", filter.unwrap_or(""))
}

fn conflict(e: sqlx::Error, name: &str) -> StoreError {
    match StoreError::from(e) {
        StoreError::Conflict(_) => {
            StoreError::Conflict(format!("an event named {name:?} already exists"))
        }
        other => other,
    }
}

impl Store {
    pub async fn create_event(&self, new: NewEvent) -> Result<Event> {
        check_text(
            &new.name,
            new.webhook_id.as_deref(),
            new.schedule.as_deref(),
            new.timezone.as_deref(),
            new.filter.as_deref(),
        )?;
        let id = new_id();
        let now = now_ms();
        on_db!(&self.db, |p| {
            sqlx::query(
                "INSERT INTO events (id, name, webhook_id, schedule, timezone, filter, \
                 next_fire_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
            )
            .bind(&id)
            .bind(&new.name)
            .bind(&new.webhook_id)
            .bind(&new.schedule)
            .bind(&new.timezone)
            .bind(&new.filter)
            .bind(new.next_fire_at)
            .bind(now)
            .execute(p)
            .await
            .map(|_| ())
        })
        .map_err(|e| conflict(e, &new.name))?;
        self.get_event(&id)
            .await?
            .ok_or_else(|| StoreError::Internal("created event vanished".into()))
    }

    /// By id, or by name.
    pub async fn get_event(&self, id_or_name: &str) -> Result<Option<Event>> {
        if names_nothing(id_or_name) {
            return Ok(None);
        }
        let sql = format!("SELECT {COLUMNS} FROM events WHERE id = $1 OR name = $1");
        on_db!(&self.db, |p| {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id_or_name)
                .fetch_optional(p)
                .await?;
            Ok(match row {
                Some(r) => Some(event_from_row!(&r)),
                None => None,
            })
        })
    }

    pub async fn list_events(
        &self,
        limit: i64,
        cursor: Option<&str>,
    ) -> Result<(Vec<Event>, Option<String>)> {
        if cursor.is_some_and(names_nothing) {
            return Ok((Vec::new(), None));
        }
        let sql = format!(
            "SELECT {COLUMNS} FROM events WHERE ($1 = '' OR id < $1) ORDER BY id DESC LIMIT $2"
        );
        let items: Vec<Event> = on_db!(&self.db, |p| {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(cursor.unwrap_or(""))
                .bind(limit + 1)
                .fetch_all(p)
                .await?;
            rows.iter()
                .map(|r| Ok(event_from_row!(r)))
                .collect::<Result<Vec<_>, sqlx::Error>>()
        })?;
        page(items, limit, |e| e.id.clone()).map_items(Ok)
    }

    /// Replaces the mutable fields of an event (the caller merges a patch into the current one).
    pub async fn update_event(&self, e: &Event) -> Result<Event> {
        if names_nothing(&e.id) {
            return Err(StoreError::NotFound(format!(
                "there is no event with id {}",
                e.id
            )));
        }
        check_text(
            &e.name,
            e.webhook_id.as_deref(),
            e.schedule.as_deref(),
            e.timezone.as_deref(),
            e.filter.as_deref(),
        )?;
        let n = on_db!(&self.db, |p| {
            sqlx::query(
                "UPDATE events SET name = $2, webhook_id = $3, schedule = $4, timezone = $5, \
                 filter = $6, next_fire_at = $7, updated_at = $8 WHERE id = $1",
            )
            .bind(&e.id)
            .bind(&e.name)
            .bind(&e.webhook_id)
            .bind(&e.schedule)
            .bind(&e.timezone)
            .bind(&e.filter)
            .bind(e.next_fire_at)
            .bind(now_ms())
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })
        .map_err(|err| conflict(err, &e.name))?;
        if n == 0 {
            return Err(StoreError::NotFound(format!(
                "there is no event with id {}",
                e.id
            )));
        }
        self.get_event(&e.id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("there is no event with id {}", e.id)))
    }

    pub async fn delete_event(&self, id: &str) -> Result<bool> {
        if names_nothing(id) {
            return Ok(false);
        }
        Ok(on_db!(&self.db, |p| {
            sqlx::query("DELETE FROM events WHERE id = $1")
                .bind(id)
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        })? > 0)
    }

    /// Names and ids of every event (for validating workflow triggers).
    pub async fn event_refs(&self) -> Result<Vec<(String, String)>> {
        Ok(on_db!(&self.db, |p| {
            sqlx::query_as::<_, (String, String)>("SELECT id, name FROM events")
                .fetch_all(p)
                .await
        })?)
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
            let moved = sqlx::query(
                "UPDATE events SET next_fire_at = $3 WHERE id = $1 AND next_fire_at = $2",
            )
            .bind(event_id)
            .bind(due)
            .bind(next)
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
        let sql = format!(
            "SELECT {COLUMNS} FROM events WHERE schedule IS NOT NULL AND next_fire_at <= $1"
        );
        on_db!(&self.db, |p| {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(now)
                .fetch_all(p)
                .await?;
            rows.iter()
                .map(|r| Ok(event_from_row!(r)))
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(StoreError::from)
        })
    }
}
