//! The bookkeeping every dialect runs alike, written once: the statements (`sql.rs`,
//! built per dialect) and the code that runs them ([`Bookkeeping`], generic over the
//! dialect's sqlx database). A dialect says how the engine reaches its database and how it
//! stores a datetime; the cursor, claimed events put back, events done or failed, counts,
//! purges, rows leaving, failed changes, pending fields, field writes and fills, sfid
//! write-backs and the binding of pulled rows are written here, and the `impl Target`
//! methods that only forward are one macro (`forward.rs`). What differs in substance —
//! DDL, upsert and claim statements, COPY, LISTEN — stays in the dialect.
//!
//! Every write the engine commits runs in a transaction from [`Bookkeeping::begin`] (the
//! dialects' own upserts, loads and claims too; MySQL's single-UPDATE claim, which needs
//! its own connection, checks its transaction with [`Bookkeeping::fence_tx`]): with a fence
//! set, that is where it is checked ([`fence`](super::fence)). Statements the engine runs
//! outside a transaction are reads.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::{
    AssertSqlSafe, ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row as _, Type,
};

use serde_json::{Map, Value};

use super::fence::{
    FENCE_KEY, Fence, claim_may_retry, claim_waited, fence_tag, insert_fence_sql, is_lock_timeout,
    is_missing_table, parse_stored, read_fence_sql, update_fence_sql,
};
use super::types::SqlValue;
use super::{
    CURSOR_TABLE, Cursor, Dialect, EventCounts, FailedAction, FailedEvent, FailedScope,
    ObjectMapping, RawEvent, RecentEvent, RowsLeave, TargetError, events_superseded_sql, ident,
    pending_fields_decode, pending_fields_sql, recent_events_sql, reset_cursor_sql, rows_leave_sql,
    settle_failed_sql,
};
use super::{
    Converted, FieldSpec, Row, UpsertReport, field_values, fill_chunk, fill_fields_sql,
    fill_values, named_fields, write_chunks, write_fields_sql,
};

mod forward;
mod sql;

pub(crate) use forward::target_methods;
pub(crate) use sql::*;

/// A query of the dialect's database, with its own arguments.
pub(crate) type Query<'q, DB> = sqlx::query::Query<'q, DB, <DB as Database>::Arguments>;

/// How a dialect's target runs the engine's bookkeeping: its connections and its value
/// conventions (the required items), and the bookkeeping itself (the provided ones, the
/// same for every dialect). The `where` bounds say what the shared code binds and reads.
pub(crate) trait Bookkeeping: Sync
where
    for<'c> &'c mut <Self::Db as Database>::Connection: Executor<'c, Database = Self::Db>,
    <Self::Db as Database>::Arguments: IntoArguments<Self::Db>,
    <Self::Db as Database>::QueryResult: Affected,
    usize: ColumnIndex<<Self::Db as Database>::Row>,
    for<'q> String: Encode<'q, Self::Db> + Decode<'q, Self::Db> + Type<Self::Db>,
    for<'q> i64: Encode<'q, Self::Db> + Decode<'q, Self::Db> + Type<Self::Db>,
    for<'q> bool: Encode<'q, Self::Db> + Type<Self::Db>,
    for<'q> Option<String>: Encode<'q, Self::Db>,
    for<'q> Self::Time: Encode<'q, Self::Db> + Decode<'q, Self::Db> + Type<Self::Db>,
    for<'q> Option<Self::Time>: Encode<'q, Self::Db>,
{
    /// The dialect's sqlx database.
    type Db: Database;

    /// A datetime as the dialect stores it in the cursor and events tables.
    type Time: Send;

    const DIALECT: Dialect;

    /// Event ids one "done" statement lists (they are literals); `None`: all in one.
    const DONE_CHUNK: Option<usize>;

    /// Values one statement binds at the most (SQLite's limit is the lowest).
    const BIND_CHUNK: usize;

    /// What follows a JSON column to read it as text (PostgreSQL: `::text`).
    const JSON_TEXT: &'static str;

    /// What follows the fence row's read in a fenced transaction: a share lock held until
    /// the commit (SQLite: nothing, one writer at a time). See [`fence`](super::fence).
    const FENCE_SHARE: &'static str;

    /// What follows the fence row's read in a claim: an update lock.
    const FENCE_CLAIM: &'static str;

    /// A statement a fenced transaction (and a claim) starts with, if the dialect has one.
    const FENCED_TX_SETUP: Option<&'static str>;

    /// Whether [`FENCED_TX_SETUP`](Bookkeeping::FENCED_TX_SETUP) binds the fence's tag
    /// ([`fence_tag`]) as its one parameter.
    const FENCE_TAGGED: bool;

    /// A statement a claim runs next, if the dialect has one (a bound on its lock wait).
    const FENCE_CLAIM_SETUP: Option<&'static str>;

    /// The placeholder of the `n`th bound value, for a value of field `f`.
    fn value_placeholder(f: &FieldSpec, n: usize) -> String;

    /// A table of the org, qualified as the dialect names it.
    fn table_name(&self, name: &str) -> String;

    /// The pool the engine's reads run on (its writes run in [`begin`](Bookkeeping::begin)'s
    /// transactions).
    fn pool(&self) -> Result<sqlx::Pool<Self::Db>, TargetError>;

    /// The fence the engine's writes carry (fleet mode), if any.
    fn fence(&self) -> Option<Fence>;

    /// Begins a transaction on the engine's connection (on SQLite, with its writes marked as
    /// the engine's), unfenced: what [`begin`](Bookkeeping::begin) and
    /// [`claim_fence`](Bookkeeping::claim_fence) build on.
    fn open_tx(
        &self,
    ) -> impl Future<Output = Result<sqlx::Transaction<'static, Self::Db>, TargetError>> + Send;

    /// Begins a write transaction of the engine's: every write the engine commits to the
    /// target goes through here. With a fence set, the transaction first checks it
    /// ([`fence_tx`](Bookkeeping::fence_tx)) and is rolled back when a newer one is stored.
    async fn begin(&self) -> Result<sqlx::Transaction<'static, Self::Db>, TargetError> {
        let mut tx = self.open_tx().await?;
        if let Err(e) = self.fence_tx(&mut tx).await {
            let _ = tx.rollback().await;
            return Err(e);
        }
        Ok(tx)
    }

    /// Checks the fence inside the transaction open on `conn`, before it writes anything,
    /// and keeps the fence row share-locked until the transaction ends (a new holder's
    /// claim waits for it). Nothing runs without a fence. `Err(Fenced)` when a newer token
    /// is stored; the caller rolls back.
    async fn fence_tx(
        &self,
        conn: &mut <Self::Db as Database>::Connection,
    ) -> Result<(), TargetError> {
        let Some(ours) = self.fence() else {
            return Ok(());
        };
        self.fenced_setup(conn, ours, "starting a fenced transaction")
            .await?;
        let stored = self.stored_fence(conn, Self::FENCE_SHARE).await?;
        ours.check(parse_stored(stored)?)
    }

    /// Runs [`FENCED_TX_SETUP`](Bookkeeping::FENCED_TX_SETUP) on `conn`, if the dialect has
    /// one.
    async fn fenced_setup(
        &self,
        conn: &mut <Self::Db as Database>::Connection,
        ours: Fence,
        context: &str,
    ) -> Result<(), TargetError> {
        let Some(setup) = Self::FENCED_TX_SETUP else {
            return Ok(());
        };
        let mut q = sqlx::query::<Self::Db>(setup);
        if Self::FENCE_TAGGED {
            q = q.bind(fence_tag(ours));
        }
        q.execute(&mut *conn)
            .await
            .map_err(TargetError::db(context))?;
        Ok(())
    }

    /// The fence row's token as stored (`None`: no row), read on `conn` with `lock`.
    async fn stored_fence(
        &self,
        conn: &mut <Self::Db as Database>::Connection,
        lock: &str,
    ) -> Result<Option<String>, TargetError> {
        let table = self.table_name(CURSOR_TABLE);
        let row = sqlx::query::<Self::Db>(AssertSqlSafe(read_fence_sql(
            Self::DIALECT,
            &table,
            lock,
        )))
        .bind(FENCE_KEY.to_owned())
        .fetch_optional(&mut *conn)
        .await
        .map_err(|source| {
            let context = if is_missing_table(&source) {
                format!(
                    "reading the fencing token: the cursor table {table} does not exist; generate the org's schema first"
                )
            } else {
                "reading the fencing token".to_owned()
            };
            TargetError::Database { context, source }
        })?;
        Ok(row.map(|r| r.get::<String, _>(0)))
    }

    /// [`AnyTarget::claim_fence`](super::AnyTarget::claim_fence): in one transaction, the
    /// fence row taken for update, refused if newer, else raised to this target's token. A
    /// claim that lost a race to create the row (or a deadlock) runs again.
    async fn claim_fence(&self, new_lease: bool) -> Result<(), TargetError> {
        let Some(ours) = self.fence() else {
            return Err(TargetError::Settings(
                "this target has no fencing token to claim (AnyTarget::with_fence sets one)".into(),
            ));
        };
        let token = ours.stored_text()?;
        let mut attempt = 0;
        loop {
            let mut tx = self.open_tx().await?;
            match self.claim_in(&mut tx, ours, &token, new_lease).await {
                Ok(()) => return self.commit(tx).await,
                Err(e) => {
                    let _ = tx.rollback().await;
                    if attempt < 5 && claim_may_retry(&e) {
                        attempt += 1;
                        continue;
                    }
                    if attempt < 5
                        && matches!(e, TargetError::Busy(_))
                        && self.end_stale_holders(ours).await? > 0
                    {
                        attempt += 1;
                        continue;
                    }
                    return Err(e);
                }
            }
        }
    }

    /// A claim under `ours` waited too long for transactions of an older holder (frozen,
    /// or stuck behind an application's lock): ends them, where the dialect can, and
    /// returns how many. Their work is redone by the new holder, as after a crash.
    /// `Err(Fenced)` when a newer holder claimed meanwhile (its transactions are left
    /// alone). By default nothing is ended: MariaDB/MySQL end such transactions by
    /// themselves (see [`MYSQL_FENCED_TX_SETUP`](super::fence::MYSQL_FENCED_TX_SETUP)),
    /// SQLite has one writer at a time.
    fn end_stale_holders(
        &self,
        ours: Fence,
    ) -> impl Future<Output = Result<usize, TargetError>> + Send {
        let _ = ours;
        std::future::ready(Ok(0))
    }

    /// [`claim_fence`](Bookkeeping::claim_fence)'s statements, on the claim's transaction.
    async fn claim_in(
        &self,
        conn: &mut <Self::Db as Database>::Connection,
        ours: Fence,
        token: &str,
        new_lease: bool,
    ) -> Result<(), TargetError> {
        self.fenced_setup(conn, ours, "starting the fence's claim")
            .await?;
        if let Some(setup) = Self::FENCE_CLAIM_SETUP {
            sqlx::query::<Self::Db>(setup)
                .execute(&mut *conn)
                .await
                .map_err(TargetError::db("starting the fence's claim"))?;
        }
        let stored = match self.stored_fence(conn, Self::FENCE_CLAIM).await {
            Err(TargetError::Database { source, .. }) if is_lock_timeout(&source) => {
                return Err(claim_waited());
            }
            stored => stored?,
        };
        let exists = stored.is_some();
        let stored = parse_stored(stored)?;
        if new_lease && stored == ours.0 {
            // A lease's token is new: another holder has it too (the state database went
            // back to an older point). Refused like a newer one; the next lease is bigger.
            return Err(TargetError::Fenced {
                ours: ours.0,
                stored,
            });
        }
        ours.check(stored)?;
        let table = self.table_name(CURSOR_TABLE);
        let sql = if exists {
            update_fence_sql(Self::DIALECT, &table)
        } else {
            insert_fence_sql(Self::DIALECT, &table)
        };
        sqlx::query::<Self::Db>(AssertSqlSafe(sql))
            .bind(token.to_owned())
            .bind(FENCE_KEY.to_owned())
            .execute(&mut *conn)
            .await
            .map_err(TargetError::db("storing the fencing token"))?;
        Ok(())
    }

    /// Commits a transaction [`begin`](Bookkeeping::begin) started.
    fn commit(
        &self,
        tx: sqlx::Transaction<'static, Self::Db>,
    ) -> impl Future<Output = Result<(), TargetError>> + Send;

    /// A datetime as the dialect binds it.
    fn time_to_db(t: &DateTime<Utc>) -> Self::Time;

    /// A stored datetime read back; `Err` holds what was stored when it is no datetime.
    fn time_from_db(v: Self::Time) -> Result<DateTime<Utc>, String>;

    /// Binds a converted value.
    fn bind_value<'q>(q: Query<'q, Self::Db>, v: &SqlValue) -> Query<'q, Self::Db> {
        match v {
            SqlValue::Null => q.bind(None::<String>),
            SqlValue::Bool(b) => q.bind(*b),
            SqlValue::Int(i) => q.bind(*i),
            SqlValue::Text(s) => q.bind(s.clone()),
        }
    }

    /// Upserts converted rows with the dialect's statement for `n` rows (`sql(n)`, which
    /// binds each row's sfid, stamp and values in turn), `per_chunk` rows a statement,
    /// inside the caller's transaction (see [`write_chunks`]).
    async fn write_rows(
        conn: &mut <Self::Db as Database>::Connection,
        rows: &[Converted<'_>],
        per_chunk: usize,
        lenient: bool,
        mapping: &ObjectMapping,
        report: &mut UpsertReport,
        sql: impl Fn(usize) -> String + Send + Sync,
    ) -> Result<(), TargetError> {
        write_chunks::<Self::Db, _>(
            conn,
            rows,
            per_chunk,
            lenient,
            &format!("upserting rows into {}", mapping.table(Self::DIALECT)),
            report,
            |conn, chunk| {
                let mut query = sqlx::query::<Self::Db>(AssertSqlSafe(sql(chunk.len())));
                for (r, vals) in chunk {
                    query = query
                        .bind(r.sfid.clone())
                        .bind(r.systemmodstamp.map(|t| Self::time_to_db(&t)));
                    for v in vals {
                        query = Self::bind_value(query, v);
                    }
                }
                Box::pin(async move { Ok(conn.execute(query).await?.affected()) })
            },
        )
        .await
    }

    /// An event row selected as `id, op, row_id, sfid, changed, old_values, new_values,
    /// db_user, created_at` (in that order).
    fn raw_event(r: &<Self::Db as Database>::Row) -> RawEvent {
        RawEvent {
            id: r.get(0),
            op: r.get(1),
            row_id: r.get(2),
            sfid: r.get(3),
            changed: r.get(4),
            old_values: r.get(5),
            new_values: r.get(6),
            db_user: r.get(7),
            created_at: Self::time_from_db(r.get(8)).unwrap_or(DateTime::UNIX_EPOCH),
        }
    }

    /// A plan's statement for a new or dropped table, which starts over: the object's next
    /// pull is a first load.
    fn forget_cursor(&self, m: &ObjectMapping) -> String {
        forget_cursor_sql(Self::DIALECT, &self.table_name(CURSOR_TABLE), &m.object)
    }

    /// [`Target::cursor`](super::Target::cursor).
    async fn cursor(&self, object: &str) -> Result<Option<Cursor>, TargetError> {
        if object == FENCE_KEY {
            return Ok(None);
        }
        let d = Self::DIALECT;
        let row = sqlx::query::<Self::Db>(AssertSqlSafe(read_cursor_sql(
            d,
            &self.table_name(CURSOR_TABLE),
        )))
        .bind(object.to_owned())
        .fetch_optional(&self.pool()?)
        .await
        .map_err(TargetError::db("reading the pull cursor"))?;
        let Some(r) = row else {
            return Ok(None);
        };
        let systemmodstamp =
            Self::time_from_db(r.get(0)).map_err(|value| TargetError::BadValue {
                field: "_datenator_cursor.systemmodstamp".into(),
                value,
                expected: "a datetime".into(),
            })?;
        Ok(Some(Cursor {
            systemmodstamp,
            last_id: r.get(1),
        }))
    }

    /// [`Target::reset_cursor`](super::Target::reset_cursor).
    async fn reset_cursor(&self, object: &str) -> Result<(), TargetError> {
        if object == FENCE_KEY {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        sqlx::query::<Self::Db>(AssertSqlSafe(reset_cursor_sql(
            Self::DIALECT,
            &self.table_name(CURSOR_TABLE),
        )))
        .bind(object.to_owned())
        .execute(&mut *tx)
        .await
        .map_err(TargetError::db("forgetting the pull cursor"))?;
        self.commit(tx).await
    }

    /// [`Target::leave_rows`](super::Target::leave_rows).
    async fn leave_rows(
        &self,
        mapping: &ObjectMapping,
        sfids: &[String],
        how: RowsLeave,
    ) -> Result<u64, TargetError> {
        let d = Self::DIALECT;
        let mut tx = self.begin().await?;
        let table = self.table_name(&mapping.table(d));
        let events = self.table_name(&mapping.events_table(d));
        let mut n = 0;
        for chunk in sfids.chunks(1000) {
            let mut query =
                sqlx::query::<Self::Db>(AssertSqlSafe(rows_leave_sql(d, &table, chunk.len(), how)));
            for s in chunk {
                query = query.bind(s.clone());
            }
            n += query
                .execute(&mut *tx)
                .await
                .map_err(TargetError::db(format!(
                    "taking rows of {} out of sync",
                    mapping.table(d)
                )))?
                .affected();
            if !how.settles_changes() {
                continue;
            }
            let mut query = sqlx::query::<Self::Db>(AssertSqlSafe(events_superseded_sql(
                d,
                &events,
                chunk.len(),
                how,
            )));
            for s in chunk {
                query = query.bind(s.clone());
            }
            query
                .execute(&mut *tx)
                .await
                .map_err(TargetError::db("settling the rows' unsent changes"))?;
        }
        self.commit(tx).await?;
        Ok(n)
    }

    /// [`Target::requeue_claimed`](super::Target::requeue_claimed).
    async fn requeue_claimed(&self, mapping: &ObjectMapping) -> Result<u64, TargetError> {
        let d = Self::DIALECT;
        let mut tx = self.begin().await?;
        let r = sqlx::query::<Self::Db>(AssertSqlSafe(requeue_claimed_sql(
            d,
            &self.table_name(&mapping.events_table(d)),
        )))
        .execute(&mut *tx)
        .await
        .map_err(TargetError::db("requeueing claimed events"))?;
        self.commit(tx).await?;
        Ok(r.affected())
    }

    /// [`Target::settle_events`](super::Target::settle_events).
    async fn settle_events(
        &self,
        mapping: &ObjectMapping,
        ids: &[i64],
        not_sent: Option<&'static str>,
    ) -> Result<(), TargetError> {
        let d = Self::DIALECT;
        let events = self.table_name(&mapping.events_table(d));
        let chunks: Vec<&[i64]> = match Self::DONE_CHUNK {
            Some(n) => ids.chunks(n).collect(),
            None => vec![ids],
        };
        let mut tx = self.begin().await?;
        for chunk in chunks {
            sqlx::query::<Self::Db>(AssertSqlSafe(mark_done_sql(d, &events, chunk, not_sent)))
                .execute(&mut *tx)
                .await
                .map_err(TargetError::db("marking events done"))?;
        }
        self.commit(tx).await
    }

    /// [`Target::mark_events_failed`](super::Target::mark_events_failed).
    async fn mark_events_failed(
        &self,
        mapping: &ObjectMapping,
        failed: &[(i64, &str)],
    ) -> Result<(), TargetError> {
        if failed.is_empty() {
            return Ok(());
        }
        let d = Self::DIALECT;
        let (table, events) = (
            self.table_name(&mapping.table(d)),
            self.table_name(&mapping.events_table(d)),
        );
        let mut tx = self.begin().await?;
        for run in distinct_runs(failed, Self::BIND_CHUNK, |(id, _)| (*id, *id)) {
            let ids: Vec<i64> = run.iter().map(|(id, _)| *id).collect();
            let mut query =
                sqlx::query::<Self::Db>(AssertSqlSafe(events_failed_sql(d, &events, &ids)));
            for (_, error) in run {
                query = query.bind(error.to_string());
            }
            query
                .execute(&mut *tx)
                .await
                .map_err(TargetError::db("marking events failed"))?;
            let mut query =
                sqlx::query::<Self::Db>(AssertSqlSafe(rows_failed_sql(d, &table, &events, &ids)));
            for (_, error) in run.iter().rev() {
                query = query.bind(error.to_string());
            }
            query
                .execute(&mut *tx)
                .await
                .map_err(TargetError::db("storing the errors on the rows"))?;
        }
        self.commit(tx).await
    }

    /// [`Target::write_back_sfids`](super::Target::write_back_sfids).
    async fn write_back_sfids(
        &self,
        mapping: &ObjectMapping,
        created: &[(i64, &str)],
    ) -> Result<(), TargetError> {
        if created.is_empty() {
            return Ok(());
        }
        let d = Self::DIALECT;
        let (table, events) = (
            self.table_name(&mapping.table(d)),
            self.table_name(&mapping.events_table(d)),
        );
        let mut tx = self.begin().await?;
        for run in distinct_runs(created, Self::BIND_CHUNK, |(row, sfid)| (*row, *sfid)) {
            let rows: Vec<i64> = run.iter().map(|(row, _)| *row).collect();
            let statements = [
                (
                    duplicate_rows_sql(d, &table, &rows),
                    "removing pulled copies of the created records",
                ),
                (
                    sfids_written_sql(d, &table, &rows),
                    "writing back the sfids",
                ),
                (
                    events_take_sfids_sql(d, &events, &rows),
                    "giving the rows' later changes the sfids",
                ),
            ];
            for (sql, context) in statements {
                let mut query = sqlx::query::<Self::Db>(AssertSqlSafe(sql));
                for (_, sfid) in run {
                    query = query.bind(sfid.to_string());
                }
                query
                    .execute(&mut *tx)
                    .await
                    .map_err(TargetError::db(context))?;
            }
        }
        self.commit(tx).await
    }

    /// [`Target::event_counts`](super::Target::event_counts).
    async fn event_counts(&self, mapping: &ObjectMapping) -> Result<EventCounts, TargetError> {
        let d = Self::DIALECT;
        let rows = sqlx::query::<Self::Db>(AssertSqlSafe(event_counts_sql(
            d,
            &self.table_name(&mapping.events_table(d)),
        )))
        .fetch_all(&self.pool()?)
        .await
        .map_err(TargetError::db("counting events"))?;
        Ok(EventCounts::from_pairs(
            rows.iter()
                .map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1))),
        ))
    }

    /// [`Target::purge_events`](super::Target::purge_events).
    async fn purge_events(
        &self,
        mapping: &ObjectMapping,
        before: DateTime<Utc>,
    ) -> Result<u64, TargetError> {
        let d = Self::DIALECT;
        let mut tx = self.begin().await?;
        let r = sqlx::query::<Self::Db>(AssertSqlSafe(purge_events_sql(
            d,
            &self.table_name(&mapping.events_table(d)),
        )))
        .bind(Self::time_to_db(&before))
        .execute(&mut *tx)
        .await
        .map_err(TargetError::db("purging processed events"))?;
        self.commit(tx).await?;
        Ok(r.affected())
    }

    /// [`Target::pending_fields`](super::Target::pending_fields).
    async fn pending_fields(
        &self,
        mapping: &ObjectMapping,
        sfids: &[String],
    ) -> Result<Vec<(i64, Vec<String>)>, TargetError> {
        let d = Self::DIALECT;
        let (table, events) = (
            self.table_name(&mapping.table(d)),
            self.table_name(&mapping.events_table(d)),
        );
        let changed = format!("e.{}{}", ident::quote(d, "changed"), Self::JSON_TEXT);
        let pool = self.pool()?;
        let mut out = Vec::new();
        for chunk in sfids.chunks(Self::BIND_CHUNK) {
            let mut query = sqlx::query::<Self::Db>(AssertSqlSafe(pending_fields_sql(
                d,
                &table,
                &events,
                chunk.len(),
                &changed,
            )));
            for s in chunk {
                query = query.bind(s.clone());
            }
            let rows = query
                .fetch_all(&pool)
                .await
                .map_err(TargetError::db("reading the pending changes"))?;
            out.extend(pending_fields_decode(
                d,
                mapping,
                rows.iter()
                    .map(|r| (r.get::<i64, _>(0), r.get::<String, _>(1))),
            ));
        }
        Ok(out)
    }

    /// [`Target::row_count`](super::Target::row_count).
    async fn row_count(&self, mapping: &ObjectMapping) -> Result<u64, TargetError> {
        let n: i64 = sqlx::query::<Self::Db>(AssertSqlSafe(row_count_sql(
            &self.table_name(&mapping.table(Self::DIALECT)),
        )))
        .fetch_one(&self.pool()?)
        .await
        .map_err(TargetError::db("counting rows"))?
        .get(0);
        Ok(n.max(0) as u64)
    }

    /// [`Target::synced_sfids`](super::Target::synced_sfids).
    async fn synced_sfids(
        &self,
        mapping: &ObjectMapping,
        read_back: bool,
    ) -> Result<Vec<String>, TargetError> {
        let d = Self::DIALECT;
        let rows = sqlx::query::<Self::Db>(AssertSqlSafe(synced_sfids_sql(
            d,
            &self.table_name(&mapping.table(d)),
            read_back,
        )))
        .fetch_all(&self.pool()?)
        .await
        .map_err(TargetError::db("reading the synced rows' ids"))?;
        Ok(rows.iter().map(|r| r.get::<String, _>(0)).collect())
    }

    /// At most `limit` rows of the object's events table, selected by `sql` (given the
    /// dialect, the table and [`JSON_TEXT`](Bookkeeping::JSON_TEXT); bind: the limit).
    async fn event_rows(
        &self,
        mapping: &ObjectMapping,
        sql: fn(Dialect, &str, &str) -> String,
        limit: usize,
        context: &str,
    ) -> Result<Vec<<Self::Db as Database>::Row>, TargetError> {
        let d = Self::DIALECT;
        let events = self.table_name(&mapping.events_table(d));
        sqlx::query::<Self::Db>(AssertSqlSafe(sql(d, &events, Self::JSON_TEXT)))
            .bind(limit as i64)
            .fetch_all(&self.pool()?)
            .await
            .map_err(TargetError::db(context))
    }

    /// [`Target::failed_events`](super::Target::failed_events).
    async fn failed_events(
        &self,
        mapping: &ObjectMapping,
        limit: usize,
    ) -> Result<Vec<FailedEvent>, TargetError> {
        let d = Self::DIALECT;
        let rows = self
            .event_rows(mapping, failed_events_sql, limit, "reading failed events")
            .await?;
        rows.iter()
            .map(|r| {
                Ok(FailedEvent {
                    event: Self::raw_event(r).decode(d, mapping)?,
                    error: r.get::<Option<String>, _>(9).unwrap_or_default(),
                })
            })
            .collect()
    }

    /// [`Target::recent_events`](super::Target::recent_events).
    async fn recent_events(
        &self,
        mapping: &ObjectMapping,
        limit: usize,
    ) -> Result<Vec<RecentEvent>, TargetError> {
        let d = Self::DIALECT;
        let rows = self
            .event_rows(mapping, recent_events_sql, limit, "reading recent events")
            .await?;
        rows.iter()
            .map(|r| {
                Ok(RecentEvent {
                    event: Self::raw_event(r).decode(d, mapping)?,
                    state: r.get(9),
                    error: r.get(10),
                })
            })
            .collect()
    }

    /// [`Target::write_fields`](super::Target::write_fields).
    async fn write_fields(
        &self,
        mapping: &ObjectMapping,
        sfid: &str,
        values: &Map<String, Value>,
        expected: &Map<String, Value>,
    ) -> Result<(), TargetError> {
        let d = Self::DIALECT;
        let vals = field_values(d, mapping, values, expected)?;
        if vals.is_empty() {
            return Ok(());
        }
        let fields: Vec<&FieldSpec> = vals.iter().map(|(f, _, _)| *f).collect();
        let sql = write_fields_sql(
            d,
            &self.table_name(&mapping.table(d)),
            &fields,
            Self::value_placeholder,
        );
        let mut query = sqlx::query::<Self::Db>(AssertSqlSafe(sql));
        for (_, was, v) in &vals {
            query = Self::bind_value(Self::bind_value(query, was), v);
        }
        let query = query.bind(sfid.to_owned());
        let mut tx = self.begin().await?;
        query
            .execute(&mut *tx)
            .await
            .map_err(TargetError::db("writing Salesforce's values into the row"))?;
        self.commit(tx).await
    }

    /// [`Target::fill_fields`](super::Target::fill_fields).
    async fn fill_fields(
        &self,
        mapping: &ObjectMapping,
        fields: &[String],
        rows: &[Row],
    ) -> Result<UpsertReport, TargetError> {
        let d = Self::DIALECT;
        let specs = named_fields(mapping, fields);
        let mut report = UpsertReport::default();
        let converted = fill_values(d, &specs, rows, &mut report.rejected);
        if specs.is_empty() || converted.is_empty() {
            return Ok(report);
        }
        let table = self.table_name(&mapping.table(d));
        let mut tx = self.begin().await?;
        write_chunks::<Self::Db, _>(
            &mut tx,
            &converted,
            fill_chunk(specs.len()),
            true,
            &format!("filling added fields of {}", mapping.table(d)),
            &mut report,
            |conn, chunk| {
                let sql = fill_fields_sql(d, &table, &specs, chunk.len(), Self::value_placeholder);
                let mut query = sqlx::query::<Self::Db>(AssertSqlSafe(sql));
                for (r, vals) in chunk {
                    query = query.bind(r.sfid.clone());
                    for v in vals {
                        query = Self::bind_value(query, v);
                    }
                }
                Box::pin(async move { Ok(conn.execute(query).await?.affected()) })
            },
        )
        .await?;
        self.commit(tx).await?;
        Ok(report)
    }

    /// [`Target::settle_failed`](super::Target::settle_failed).
    async fn settle_failed(
        &self,
        mapping: &ObjectMapping,
        scope: FailedScope<'_>,
        action: FailedAction,
    ) -> Result<u64, TargetError> {
        let d = Self::DIALECT;
        let [rows, events] = settle_failed_sql(
            d,
            &self.table_name(&mapping.table(d)),
            &self.table_name(&mapping.events_table(d)),
            scope,
            action,
        );
        let mut tx = self.begin().await?;
        sqlx::query::<Self::Db>(AssertSqlSafe(rows))
            .execute(&mut *tx)
            .await
            .map_err(TargetError::db("clearing the rows' failed state"))?;
        let moved = sqlx::query::<Self::Db>(AssertSqlSafe(events))
            .execute(&mut *tx)
            .await
            .map_err(TargetError::db("settling failed events"))?
            .affected();
        self.commit(tx).await?;
        Ok(moved)
    }
}

/// `items` in runs of at most `max`, in order, none holding either key of an item twice
/// (an item whose key the run has already starts the next run): a run's set-based
/// statements then do what one item at a time would have done.
fn distinct_runs<'a, T, A, B>(
    items: &'a [T],
    max: usize,
    keys: impl Fn(&'a T) -> (A, B),
) -> Vec<&'a [T]>
where
    A: Eq + std::hash::Hash,
    B: Eq + std::hash::Hash,
{
    let mut runs = Vec::new();
    let (mut start, mut seen_a, mut seen_b) = (0, HashSet::new(), HashSet::new());
    for (i, item) in items.iter().enumerate() {
        let (a, b) = keys(item);
        if i - start == max.max(1) || seen_a.contains(&a) || seen_b.contains(&b) {
            runs.push(&items[start..i]);
            (start, seen_a, seen_b) = (i, HashSet::new(), HashSet::new());
        }
        seen_a.insert(a);
        seen_b.insert(b);
    }
    if start < items.len() {
        runs.push(&items[start..]);
    }
    runs
}

/// A statement's result: how many rows it touched (sqlx has this per database only).
pub(crate) trait Affected {
    fn affected(&self) -> u64;
}

impl Affected for sqlx::postgres::PgQueryResult {
    fn affected(&self) -> u64 {
        self.rows_affected()
    }
}

impl Affected for sqlx::mysql::MySqlQueryResult {
    fn affected(&self) -> u64 {
        self.rows_affected()
    }
}

impl Affected for sqlx::sqlite::SqliteQueryResult {
    fn affected(&self) -> u64 {
        self.rows_affected()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_split_where_a_key_comes_again_or_a_run_is_full() {
        let items = [(1, "a"), (2, "b"), (3, "a"), (4, "c"), (4, "d"), (5, "e")];
        let runs = distinct_runs(&items, 10, |(n, s)| (*n, *s));
        assert_eq!(
            runs,
            vec![&items[0..2], &items[2..4], &items[4..6]],
            "\"a\" again, then 4 again"
        );
        let runs = distinct_runs(&items, 4, |(n, _)| (*n, *n));
        assert_eq!(runs, vec![&items[0..4], &items[4..6]]);
        assert_eq!(
            distinct_runs(&items, 2, |(n, _)| (*n, 0)).len(),
            6,
            "a key every item has"
        );
        assert!(distinct_runs(&items[..0], 2, |(n, _)| (*n, *n)).is_empty());
    }
}
