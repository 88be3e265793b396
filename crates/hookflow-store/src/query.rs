//! The shapes the tables' reads and writes share, each written once for both pools: one row,
//! every row, a newest-first page, a statement's count of changed rows, and a delete of one row
//! with what hangs off it. Rows decode through `#[derive(sqlx::FromRow)]` ([`Record`]: one derive
//! serves both backends, which read the same column types: see the crate's doc); values bind as
//! [`Arg`]s. A read that needs more (a transaction, a join decoded in parts) uses `on_db!`.

use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use sqlx::error::BoxDynError;
use sqlx::postgres::PgRow;
use sqlx::query::{Query, QueryAs};
use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, Database, Encode, FromRow, SqlSafeStr, SqlStr, Type};

use crate::db::on_db;
use crate::{Result, Store, StoreError, names_nothing};

/// A row type both backends decode (`#[derive(sqlx::FromRow)]`).
pub(crate) trait Record:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

impl<T> Record for T where
    T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

/// A row type whose fields are its columns, one to one, read and written by column name through
/// either library: defined with [`record!`].
pub(crate) trait Columns: Sized {
    /// The columns, in field order (what a `SELECT` reads).
    const COLUMNS: &'static str;
    /// How many there are.
    const WIDTH: usize;

    /// The row as the SQLite writer's own connection (rusqlite) reads it.
    fn from_sqlite(r: &rusqlite::Row) -> rusqlite::Result<Self>;

    /// Its fields as bound to a statement ([`WIDTH`](Self::WIDTH) values in field order), on
    /// either library.
    fn values(&self) -> impl Iterator<Item = Arg<'_>>;
}

/// Defines a struct whose fields are columns of the same names: `#[derive(sqlx::FromRow)]` for
/// the pools, and [`Columns`] (the column list, the mapping for rusqlite's rows, and the values
/// an insert binds) from the same field list, so a column is added in one place. For plain
/// fields only (no `#[sqlx(…)]` attributes: the rusqlite side would not follow them).
macro_rules! record {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $(#[$first_meta:meta])* $first_vis:vis $first:ident: $first_ty:ty
            $(, $(#[$field_meta:meta])* $field_vis:vis $field:ident: $field_ty:ty)* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(sqlx::FromRow)]
        $vis struct $name {
            $(#[$first_meta])* $first_vis $first: $first_ty,
            $($(#[$field_meta])* $field_vis $field: $field_ty,)*
        }

        impl $crate::query::Columns for $name {
            const COLUMNS: &'static str =
                concat!(stringify!($first) $(, ", ", stringify!($field))*);
            const WIDTH: usize = [stringify!($first) $(, stringify!($field))*].len();

            fn from_sqlite(r: &rusqlite::Row) -> rusqlite::Result<Self> {
                let mut at = 0;
                let mut column = |name: &str| {
                    at += 1;
                    $crate::query::column_at(r, at - 1, name)
                };
                // Fields are evaluated in the order written, which is the columns' order.
                Ok($name {
                    $first: r.get(column(stringify!($first))?)?,
                    $($field: r.get(column(stringify!($field))?)?,)*
                })
            }

            fn values(&self) -> impl Iterator<Item = $crate::query::Arg<'_>> {
                use $crate::query::Arg;
                [Arg::from(&self.$first) $(, Arg::from(&self.$field))*].into_iter()
            }
        }
    };
}
pub(crate) use record;

/// The index of column `name` in `r`'s statement: `at` when that column has the name (a
/// statement that reads [`Columns::COLUMNS`] in field order, as the writer's do), else found by
/// name among all of them (rusqlite compares the name with every column's, which for a row of
/// twenty columns read by name was ~3 % of the writer's time in the end-to-end benchmark).
pub(crate) fn column_at(r: &rusqlite::Row, at: usize, name: &str) -> rusqlite::Result<usize> {
    let stmt = r.as_ref();
    match stmt.column_name(at) {
        Ok(n) if n.eq_ignore_ascii_case(name) => Ok(at),
        _ => stmt.column_index(name),
    }
}

/// A row type listed newest first by its time-ordered id (events, workflows, webhooks).
pub(crate) trait Listed: Record {
    /// `SELECT … FROM …`: what reads a row (the table may be a join).
    const SELECT: &'static str;
    /// The id column, as [`SELECT`](Self::SELECT) names it.
    const ID: &'static str = "id";

    fn id(&self) -> &str;
}

/// A value bound to a statement's next `$N`: text, an integer, a flag or bytes (`None`: NULL),
/// bound as the type the value itself would bind as. A read given text holding a NUL answers
/// nothing without a query: no stored text holds one (see [`crate::names_nothing`]).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arg<'a> {
    Text(Option<&'a str>),
    Int(Option<i64>),
    Bool(bool),
    Bytes(Option<&'a [u8]>),
}

impl Arg<'_> {
    /// Whether this is text no stored row can hold.
    fn names_nothing(&self) -> bool {
        matches!(self, Arg::Text(Some(t)) if names_nothing(t))
    }
}

/// `impl From<$from> for Arg<'a>`, each as `|v| value`.
macro_rules! arg_from {
    ($($from:ty => |$v:ident| $arg:expr,)+) => {
        $(impl<'a> From<$from> for Arg<'a> {
            fn from($v: $from) -> Self {
                $arg
            }
        })+
    };
}

arg_from! {
    &'a str => |v| Arg::Text(Some(v)),
    &'a String => |v| Arg::Text(Some(v)),
    Option<&'a str> => |v| Arg::Text(v),
    &'a Option<String> => |v| Arg::Text(v.as_deref()),
    i64 => |v| Arg::Int(Some(v)),
    &'a i64 => |v| Arg::Int(Some(*v)),
    Option<i64> => |v| Arg::Int(v),
    &'a Option<i64> => |v| Arg::Int(*v),
    bool => |v| Arg::Bool(v),
    &'a bool => |v| Arg::Bool(*v),
    &'a [u8] => |v| Arg::Bytes(Some(v)),
    &'a Vec<u8> => |v| Arg::Bytes(Some(v)),
    Option<&'a [u8]> => |v| Arg::Bytes(v),
    &'a Option<Vec<u8>> => |v| Arg::Bytes(v.as_deref()),
}

impl<'a, DB: Database> Encode<'a, DB> for Arg<'a>
where
    Option<&'a str>: Encode<'a, DB>,
    Option<i64>: Encode<'a, DB>,
    bool: Encode<'a, DB>,
    Option<&'a [u8]>: Encode<'a, DB>,
    str: Type<DB>,
    i64: Type<DB>,
    bool: Type<DB>,
    [u8]: Type<DB>,
{
    fn encode_by_ref(
        &self,
        buf: &mut <DB as Database>::ArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, BoxDynError> {
        match *self {
            Arg::Text(v) => v.encode_by_ref(buf),
            Arg::Int(v) => v.encode_by_ref(buf),
            Arg::Bool(v) => v.encode_by_ref(buf),
            Arg::Bytes(v) => v.encode_by_ref(buf),
        }
    }

    fn produces(&self) -> Option<DB::TypeInfo> {
        Some(match self {
            Arg::Text(_) => <str as Type<DB>>::type_info(),
            Arg::Int(_) => <i64 as Type<DB>>::type_info(),
            Arg::Bool(_) => <bool as Type<DB>>::type_info(),
            Arg::Bytes(_) => <[u8] as Type<DB>>::type_info(),
        })
    }
}

/// The SQLite writer's own connection binds the same values.
impl rusqlite::ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match *self {
            Arg::Text(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Arg::Int(Some(v)) => ToSqlOutput::Owned(Value::Integer(v)),
            Arg::Bool(v) => ToSqlOutput::Owned(Value::Integer(v.into())),
            Arg::Bytes(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
            Arg::Text(None) | Arg::Int(None) | Arg::Bytes(None) => ToSqlOutput::Owned(Value::Null),
        })
    }
}

/// The declared type is text's; each value says its own ([`Encode::produces`]).
impl<DB: Database> Type<DB> for Arg<'_>
where
    str: Type<DB>,
{
    fn type_info() -> DB::TypeInfo {
        <str as Type<DB>>::type_info()
    }
}

/// `sql` with `args` bound, as a query of `T` rows on backend `DB`.
fn query_as<'a, DB, T>(sql: SqlStr, args: &[Arg<'a>]) -> QueryAs<'a, DB, T, DB::Arguments>
where
    DB: Database,
    T: for<'r> FromRow<'r, DB::Row>,
    Arg<'a>: Encode<'a, DB> + Type<DB>,
{
    args.iter().fold(sqlx::query_as(sql), |q, a| q.bind(*a))
}

/// `sql` with `args` bound, as a statement on backend `DB`.
pub(crate) fn statement<'a, DB>(
    sql: impl SqlSafeStr,
    args: &[Arg<'a>],
) -> Query<'a, DB, DB::Arguments>
where
    DB: Database,
    Arg<'a>: Encode<'a, DB> + Type<DB>,
{
    args.iter().fold(sqlx::query(sql), |q, a| q.bind(*a))
}

impl Store {
    /// Every row `sql` answers with `args`.
    pub(crate) async fn all<T: Record>(
        &self,
        sql: impl SqlSafeStr,
        args: &[Arg<'_>],
    ) -> Result<Vec<T>> {
        if args.iter().any(Arg::names_nothing) {
            return Ok(Vec::new());
        }
        let sql = sql.into_sql_str();
        Ok(on_db!(&self.db, |p| query_as(sql, args)
            .fetch_all(p)
            .await)?)
    }

    /// The row `sql` answers with `args` (a key's), if any.
    pub(crate) async fn one<T: Record>(
        &self,
        sql: impl SqlSafeStr,
        args: &[Arg<'_>],
    ) -> Result<Option<T>> {
        Ok(self.all(sql, args).await?.into_iter().next())
    }

    /// One page of a list: `sql` takes `args`, then its `LIMIT` as the last parameter (bound to
    /// `limit + 1`, which tells whether there is a next page). Answers at most `limit` rows and,
    /// if more follow, the `key` of the last one: where the next page starts.
    pub(crate) async fn page<T: Record, K>(
        &self,
        sql: impl SqlSafeStr,
        args: &[Arg<'_>],
        limit: i64,
        key: impl Fn(&T) -> K,
    ) -> Result<(Vec<T>, Option<K>)> {
        let mut all = args.to_vec();
        all.push(Arg::from(limit + 1));
        let mut items: Vec<T> = self.all(sql, &all).await?;
        let more = items.len() as i64 > limit;
        items.truncate(limit.max(0) as usize);
        let next = if more { items.last().map(key) } else { None };
        Ok((items, next))
    }

    /// A newest-first page of `T` rows: up to `limit` whose id sorts below `cursor` (from the
    /// newest when `None`), and the cursor of the next page (the id of its last row) if there is
    /// one.
    pub(crate) async fn newest<T: Listed>(
        &self,
        limit: i64,
        cursor: Option<&str>,
    ) -> Result<(Vec<T>, Option<String>)> {
        let (select, id) = (T::SELECT, T::ID);
        let sql = format!("{select} WHERE ($1 = '' OR {id} < $1) ORDER BY {id} DESC LIMIT $2");
        let after = cursor.unwrap_or("");
        let key = |row: &T| row.id().to_string();
        self.page(AssertSqlSafe(sql), &[after.into()], limit, key)
            .await
    }

    /// The `T` row whose id or name is `key`.
    pub(crate) async fn named<T: Listed>(&self, key: &str) -> Result<Option<T>> {
        let sql = format!("{} WHERE {} = $1 OR name = $1", T::SELECT, T::ID);
        self.one(AssertSqlSafe(sql), &[key.into()]).await
    }

    /// Runs statement `sql` with `args`; answers how many rows it changed.
    pub(crate) async fn execute(&self, sql: impl SqlSafeStr, args: &[Arg<'_>]) -> Result<u64> {
        let sql = sql.into_sql_str();
        Ok(on_db!(&self.db, |p| {
            statement(sql, args)
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        })?)
    }

    /// `statements` with their arguments in one write transaction; the rows each one changed.
    pub(crate) async fn write_all(
        &self,
        statements: &[(&'static str, &[Arg<'_>])],
    ) -> Result<Vec<u64>> {
        on_db!(&self.db, |p| {
            let mut tx = p.begin_with(self.db.begin_write()).await?;
            let mut changed = Vec::with_capacity(statements.len());
            for (sql, args) in statements {
                changed.push(
                    statement(*sql, args)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected(),
                );
            }
            tx.commit().await?;
            Ok::<_, StoreError>(changed)
        })
    }

    /// Deletes row `id` and what refers to it: `statements`, each with `$1` bound to `id`, in
    /// one write transaction. Whether the first one (the row itself) deleted anything.
    pub(crate) async fn delete_with(&self, id: &str, statements: &[&'static str]) -> Result<bool> {
        if names_nothing(id) {
            return Ok(false);
        }
        let arg = [id.into()];
        let bound: Vec<(&'static str, &[Arg<'_>])> =
            statements.iter().map(|sql| (*sql, &arg[..])).collect();
        let changed = self.write_all(&bound).await?;
        Ok(changed.first().is_some_and(|n| *n > 0))
    }
}

/// A row just written, as read back: `Internal` if it is not there.
pub(crate) fn created<T>(row: Option<T>, what: &str) -> Result<T> {
    row.ok_or_else(|| StoreError::Internal(format!("created {what} vanished")))
}

/// "there is no `what` with id `id`".
pub(crate) fn not_found(what: &str, id: &str) -> StoreError {
    StoreError::NotFound(format!("there is no {what} with id {id}"))
}

/// What a statement that changed `n` rows of `what` `id` means: `NotFound` if none.
pub(crate) fn found(n: u64, what: &str, id: &str) -> Result<()> {
    if n == 0 {
        return Err(not_found(what, id));
    }
    Ok(())
}

/// A unique-name violation said as "`what` named `name` already exists" (409); other errors as
/// they are.
pub(crate) fn name_taken<E: Into<StoreError>>(
    what: &str,
    name: &str,
) -> impl FnOnce(E) -> StoreError {
    let message = format!("{what} named {name:?} already exists");
    move |e| match e.into() {
        StoreError::Conflict(_) => StoreError::Conflict(message),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventSpec;
    use crate::testing::{FreshPg, open_store};

    fn event(i: i64) -> EventSpec {
        EventSpec {
            name: format!("e{i}"),
            webhook_id: None,
            schedule: Some("* * * * *".into()),
            timezone: (i % 2 == 0).then(|| "UTC".into()),
            filter: None,
            next_fire_at: (i > 2).then_some(i),
        }
    }

    /// Each shape through real tables: values of every kind (NULL too) bind and read back as
    /// written, pages follow each other to the end, a key holding a NUL answers nothing,
    /// statements and deletes say what they changed.
    async fn shapes(store: &Store) {
        let mut ids = Vec::new();
        for i in 0..5 {
            ids.push(store.create_event(event(i)).await.unwrap().id);
        }
        let e = store.get_event("e3").await.unwrap().unwrap();
        assert_eq!(
            (e.id.as_str(), e.spec.webhook_id, e.spec.timezone),
            (ids[3].as_str(), None, None)
        );
        assert_eq!(
            (e.spec.schedule.as_deref(), e.spec.next_fire_at),
            (Some("* * * * *"), Some(3))
        );
        assert_eq!(
            store.get_event(&ids[0]).await.unwrap().unwrap().spec.name,
            "e0"
        );

        // Newest first, two at a time, to the end.
        ids.sort();
        let (mut seen, mut cursor) = (Vec::new(), None);
        loop {
            let (page, next) = store.list_events(2, cursor.as_deref()).await.unwrap();
            assert!(page.len() <= 2);
            seen.extend(page.into_iter().map(|e| e.id));
            match next {
                Some(n) => cursor = Some(n),
                None => break,
            }
        }
        assert_eq!(seen, ids.iter().rev().cloned().collect::<Vec<_>>());

        // A NUL names nothing: no row, no page, no delete.
        assert!(store.get_event("e\0").await.unwrap().is_none());
        assert!(store.list_events(9, Some("\0")).await.unwrap().0.is_empty());
        assert!(!store.delete_event("\0").await.unwrap());

        // Flags and bytes, NULL or not.
        let count = "SELECT COUNT(*) FROM events WHERE $1 AND $2 IS NULL";
        let n: Option<(i64,)> = store
            .one(count, &[true.into(), Arg::Bytes(None)])
            .await
            .unwrap();
        assert_eq!(n, Some((5,)));
        store.put_secret("s", "v").await.unwrap();
        assert_eq!(
            store.secret_values().await.unwrap(),
            [("s".into(), "v".into())]
        );

        // A taken name, a changed row, a missing one.
        let taken = store.create_event(event(1)).await.unwrap_err();
        assert_eq!(taken.to_string(), r#"an event named "e1" already exists"#);
        let mut e = store.get_event("e1").await.unwrap().unwrap();
        e.spec.filter = Some("true".into());
        let changed = store.update_event(&e).await.unwrap();
        assert_eq!(changed.spec.filter.as_deref(), Some("true"));
        e.id = "nope".into();
        let missing = store.update_event(&e).await.unwrap_err();
        assert_eq!(missing.to_string(), "there is no event with id nope");
        assert!(store.delete_event(&changed.id).await.unwrap());
        assert!(!store.delete_event(&changed.id).await.unwrap());
    }

    #[tokio::test]
    async fn shapes_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        shapes(&open_store(dir.path(), None).await).await;
    }

    #[tokio::test]
    async fn shapes_on_postgres() {
        let Some(pg) = FreshPg::create().await else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        {
            let store = open_store(dir.path(), Some(pg.url.clone())).await;
            shapes(&store).await;
            store.close().await;
        }
        pg.drop().await;
    }
}
