//! SQLite target (3.35+: `RETURNING`, `DROP COLUMN`; JSON functions built in).
//!
//! The org's tables live in the main schema of the configured file (the "schema" name is only
//! a label). SQLite has no users: the engine marks its own writes by setting
//! `_datenator_context.origin = 'sync'` inside its `BEGIN IMMEDIATE` transaction and clearing
//! it before commit; the triggers record nothing while it is set. Other writers are blocked
//! for the duration of that transaction, so they never see the mark. Tables the target
//! creates are listed in `_datenator_tables`, which is what deprovisioning drops.

use std::path::PathBuf;

use datenator_shared::datasource::{
    CheckKind, CheckReport, CheckStatus, DatasourceSettings, SyncWriterMode,
};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{AssertSqlSafe, Executor, Row as _, SqliteConnection};

use super::bookkeeping::{
    event_counts_sql, mark_done_sql, mark_failed_sql, purge_events_sql, read_cursor_sql,
    requeue_claimed_sql, row_failed_sql, sfid_written_sql,
};
use super::check::{failed, ok, parse_version, skip_rest};
use super::plan::{Change, Plan, PlanStep, check_plan, diff};
use super::types::{SqlValue, datetime_text, sql_type};
use super::{
    CURSOR_TABLE, Cursor, Dialect, Event, ObjectMapping, Position, Provisioned, RawEvent, Row,
    RowKeys, Target, TargetError, claim_token, ident,
};
use super::{EventCounts, StoredRow, UpsertReport, convert_rows, decode_row, write_chunks};
use super::{
    FailedAction, FailedEvent, FailedScope, RecentEvent, recent_events_sql, settle_failed_sql,
};
use super::{FieldSpec, field_values, pending_fields_decode, pending_fields_sql, write_fields_sql};
use super::{
    RowsLeave, duplicate_row_sql, events_superseded_sql, events_take_sfid_sql, reset_cursor_sql,
    rows_leave_sql,
};
use serde_json::{Map, Value};

mod check;
mod ddl;

const D: Dialect = Dialect::Sqlite;
const CONTEXT_TABLE: &str = "_datenator_context";
const REGISTRY_TABLE: &str = "_datenator_tables";
/// What the events table records as the writer: SQLite has no users.
pub const SQLITE_DB_USER: &str = "local";

fn q(name: &str) -> String {
    ident::quote(D, name)
}

fn lit(s: &str) -> String {
    ident::literal(D, s)
}

/// Terms a compound SELECT may have (SQLite's default `SQLITE_MAX_COMPOUND_SELECT` is
/// 500); longer unions are nested.
const MAX_COMPOUND: usize = 400;

/// `parts` (each `SELECT … AS c, … AS v`) as one UNION ALL, nested in groups so that no
/// compound SELECT exceeds SQLite's term limit.
fn union_all(parts: &[String]) -> String {
    if parts.is_empty() {
        return "SELECT NULL AS c, NULL AS v WHERE 0".to_string();
    }
    if parts.len() <= MAX_COMPOUND {
        return parts.join(" UNION ALL ");
    }
    let groups: Vec<String> = parts
        .chunks(MAX_COMPOUND)
        .map(|g| format!("SELECT c, v FROM ({})", union_all(g)))
        .collect();
    union_all(&groups)
}

/// `conds` OR-ed as a balanced tree, keeping the expression depth logarithmic (SQLite
/// limits it to 1000).
fn any(conds: &[String]) -> String {
    match conds.len() {
        0 => "0".into(),
        1 => conds[0].clone(),
        n => format!("({} OR {})", any(&conds[..n / 2]), any(&conds[n / 2..])),
    }
}

/// An SQLite org target.
#[derive(Debug)]
pub struct SqliteTarget {
    path: PathBuf,
    schema: String,
    pool: SqlitePool,
}

type SqQuery<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>;

fn bind_sq<'q>(q: SqQuery<'q>, v: &SqlValue) -> SqQuery<'q> {
    match v {
        SqlValue::Null => q.bind(None::<String>),
        SqlValue::Bool(b) => q.bind(*b),
        SqlValue::Int(i) => q.bind(*i),
        SqlValue::Text(s) => q.bind(s.clone()),
    }
}

impl SqliteTarget {
    pub fn new(settings: DatasourceSettings, schema: String) -> Result<Self, TargetError> {
        let path = settings.sqlite_path.clone().ok_or_else(|| {
            TargetError::Settings("an SQLite datasource needs a file path (sqlite_path)".into())
        })?;
        let opts = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(std::time::Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_lazy_with(opts);
        Ok(Self { path, schema, pool })
    }

    fn connect_error(&self, e: sqlx::Error) -> TargetError {
        TargetError::Database {
            context: format!("opening SQLite file {}", self.path.display()),
            source: e,
        }
    }

    /// Begins an engine transaction with the writes marked as the engine's.
    async fn engine_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, TargetError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| self.connect_error(e))?;
        sqlx::query("UPDATE \"_datenator_context\" SET \"origin\" = 'sync' WHERE \"id\" = 1")
            .execute(&mut *tx)
            .await
            .map_err(TargetError::db(
                "marking the engine's transaction (is the org provisioned?)",
            ))?;
        Ok(tx)
    }

    async fn engine_commit(
        &self,
        mut tx: sqlx::Transaction<'static, sqlx::Sqlite>,
    ) -> Result<(), TargetError> {
        sqlx::query("UPDATE \"_datenator_context\" SET \"origin\" = NULL WHERE \"id\" = 1")
            .execute(&mut *tx)
            .await
            .map_err(TargetError::db("clearing the engine mark"))?;
        tx.commit().await.map_err(TargetError::db("committing"))
    }

    async fn upsert_in(
        &self,
        conn: &mut SqliteConnection,
        m: &ObjectMapping,
        rows: &[Row],
        lenient: bool,
    ) -> Result<UpsertReport, TargetError> {
        let mut report = UpsertReport::default();
        let converted = convert_rows(D, m, rows, lenient, &mut report.rejected)?;
        let fields: Vec<_> = m.data_fields().collect();
        let ncols = fields.len() + 2;
        let mut cols = vec!["\"sfid\"".to_string(), "\"systemmodstamp\"".to_string()];
        cols.extend(fields.iter().map(|f| q(&f.column(D))));
        let mut sets = vec!["\"systemmodstamp\" = excluded.\"systemmodstamp\"".to_string()];
        for f in &fields {
            let c = q(&f.column(D));
            sets.push(format!("{c} = excluded.{c}"));
        }
        sets.push("\"_dn_state\" = 'SYNCED'".into());
        sets.push("\"_dn_error\" = NULL".into());
        let row_ph = format!("({}, 'SYNCED', NULL)", vec!["?"; ncols].join(", "));
        let table = q(&m.table(D));
        // Salesforce stamps whole seconds: a record changed again within the second it was
        // read has the same stamp and must still be written when its values differ.
        let same_second_changed = if fields.is_empty() {
            "0".to_owned()
        } else {
            fields
                .iter()
                .map(|f| {
                    let c = q(&f.column(D));
                    format!("d.{c} IS NOT excluded.{c}")
                })
                .collect::<Vec<_>>()
                .join(" OR ")
        };
        write_chunks::<sqlx::Sqlite, _>(
            conn,
            &converted,
            30_000 / ncols,
            lenient,
            &format!("upserting rows into {}", m.table(D)),
            &mut report,
            |conn, chunk| {
                let sql = format!(
                    "INSERT INTO {table} AS d ({}, \"_dn_state\", \"_dn_error\") VALUES {} ON CONFLICT (\"sfid\") DO UPDATE SET {} WHERE d.\"systemmodstamp\" IS NULL OR excluded.\"systemmodstamp\" IS NULL OR d.\"systemmodstamp\" < excluded.\"systemmodstamp\" OR (d.\"systemmodstamp\" = excluded.\"systemmodstamp\" AND ({same_second_changed}))",
                    cols.join(", "),
                    vec![row_ph.as_str(); chunk.len()].join(", "),
                    sets.join(", ")
                );
                Box::pin(async move {
                    let mut query = sqlx::query(AssertSqlSafe(sql));
                    for (r, vals) in chunk {
                        query = query
                            .bind(r.sfid.clone())
                            .bind(r.systemmodstamp.map(|t| datetime_text(D, &t)));
                        for v in vals {
                            query = bind_sq(query, v);
                        }
                    }
                    Ok(query.execute(conn).await?.rows_affected())
                })
            },
        )
        .await?;
        Ok(report)
    }

    async fn upsert_with_cursor(
        &self,
        mapping: &ObjectMapping,
        rows: &[Row],
        cursor: Option<Position<'_>>,
        lenient: bool,
        keep_pending: bool,
    ) -> Result<UpsertReport, TargetError> {
        // `BEGIN IMMEDIATE`: no local change commits until this transaction has.
        let mut tx = self.engine_tx().await?;
        let mut kept;
        let mut kept_local = Vec::new();
        let rows = if keep_pending {
            kept = rows.to_vec();
            kept_local = super::keep_pending_local(self, mapping, &mut kept).await?;
            &kept[..]
        } else {
            rows
        };
        let mut report = self.upsert_in(&mut tx, mapping, rows, lenient).await?;
        report.kept_local = kept_local;
        if let Some(Position { key, cursor: c }) = cursor {
            sqlx::query(AssertSqlSafe(format!(
                "INSERT INTO {} (\"object\", \"systemmodstamp\", \"last_id\", \"updated_at\") VALUES (?, ?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) ON CONFLICT (\"object\") DO UPDATE SET \"systemmodstamp\" = excluded.\"systemmodstamp\", \"last_id\" = excluded.\"last_id\", \"updated_at\" = excluded.\"updated_at\"",
                q(CURSOR_TABLE)
            )))
            .bind(key)
            .bind(datetime_text(D, &c.systemmodstamp))
            .bind(&c.last_id)
            .execute(&mut *tx)
            .await
            .map_err(TargetError::db("storing the pull cursor"))?;
        }
        self.engine_commit(tx).await?;
        Ok(report)
    }
}

impl Target for SqliteTarget {
    fn dialect(&self) -> Dialect {
        D
    }

    fn schema(&self) -> &str {
        &self.schema
    }

    async fn check(&self) -> CheckReport {
        self.run_check().await
    }

    async fn provision(&self) -> Result<Provisioned, TargetError> {
        self.provision_impl().await
    }

    async fn deprovision(&self) -> Result<(), TargetError> {
        self.deprovision_impl().await
    }

    fn plan(&self, old: &[ObjectMapping], new: &[ObjectMapping]) -> Result<Plan, TargetError> {
        Ok(self.render(diff(D, old, new)?))
    }

    async fn apply(&self, plan: &Plan) -> Result<(), TargetError> {
        self.apply_impl(plan).await
    }

    async fn upsert_rows(
        &self,
        mapping: &ObjectMapping,
        rows: &[Row],
        cursor: Option<&Cursor>,
    ) -> Result<u64, TargetError> {
        Ok(self
            .upsert_with_cursor(
                mapping,
                rows,
                cursor.map(|c| Position::pull(&mapping.object, c)),
                false,
                false,
            )
            .await?
            .written)
    }

    async fn upsert_rows_lenient(
        &self,
        mapping: &ObjectMapping,
        rows: &[Row],
        cursor: Option<Position<'_>>,
        keep_pending: bool,
    ) -> Result<UpsertReport, TargetError> {
        self.upsert_with_cursor(mapping, rows, cursor, true, keep_pending)
            .await
    }

    async fn cursor(&self, object: &str) -> Result<Option<Cursor>, TargetError> {
        let row = sqlx::query(AssertSqlSafe(read_cursor_sql(D, &q(CURSOR_TABLE))))
            .bind(object)
            .fetch_optional(&self.pool)
            .await
            .map_err(TargetError::db("reading the pull cursor"))?;
        match row {
            None => Ok(None),
            Some(r) => {
                let s: String = r.get(0);
                let systemmodstamp =
                    super::types::parse_datetime(&s).ok_or_else(|| TargetError::BadValue {
                        field: "_datenator_cursor.systemmodstamp".into(),
                        value: s.clone(),
                        expected: "a datetime".into(),
                    })?;
                Ok(Some(Cursor {
                    systemmodstamp,
                    last_id: r.get(1),
                }))
            }
        }
    }

    async fn leave_rows(
        &self,
        mapping: &ObjectMapping,
        sfids: &[String],
        how: RowsLeave,
    ) -> Result<u64, TargetError> {
        let mut tx = self.engine_tx().await?;
        let mut n = 0;
        for chunk in sfids.chunks(1000) {
            let mut query = sqlx::query(AssertSqlSafe(rows_leave_sql(
                D,
                &q(&mapping.table(D)),
                chunk.len(),
                how,
            )));
            for s in chunk {
                query = query.bind(s.clone());
            }
            n += query
                .execute(&mut *tx)
                .await
                .map_err(TargetError::db(format!(
                    "taking rows of {} out of sync",
                    mapping.table(D)
                )))?
                .rows_affected();
            if !how.settles_changes() {
                continue;
            }
            let mut query = sqlx::query(AssertSqlSafe(events_superseded_sql(
                D,
                &q(&mapping.events_table(D)),
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
        self.engine_commit(tx).await?;
        Ok(n)
    }

    async fn reset_cursor(&self, object: &str) -> Result<(), TargetError> {
        sqlx::query(AssertSqlSafe(reset_cursor_sql(D, &q(CURSOR_TABLE))))
            .bind(object)
            .execute(&self.pool)
            .await
            .map_err(TargetError::db("forgetting the pull cursor"))?;
        Ok(())
    }

    async fn bulk_load(&self, mapping: &ObjectMapping, rows: &[Row]) -> Result<u64, TargetError> {
        self.upsert_rows(mapping, rows, None).await
    }

    async fn claim_events(
        &self,
        mapping: &ObjectMapping,
        max: usize,
    ) -> Result<Vec<Event>, TargetError> {
        let ev = q(&mapping.events_table(D));
        // One UPDATE statement: SQLite runs one writer at a time, so the batch is atomic.
        let rows = sqlx::query(AssertSqlSafe(format!(
            "UPDATE {ev} SET \"state\" = 'CLAIMED', \"claim_token\" = ?, \"claimed_at\" = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE \"id\" IN (SELECT \"id\" FROM {ev} WHERE \"state\" = 'NEW' ORDER BY \"id\" LIMIT ?) RETURNING \"id\", \"op\", \"row_id\", \"sfid\", \"changed\", \"old_values\", \"new_values\", \"db_user\", \"created_at\""
        )))
        .bind(claim_token())
        .bind(max as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(TargetError::db(format!("claiming events of {}", mapping.table(D))))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(raw_event(&r).decode(D, mapping)?);
        }
        out.sort_by_key(|e| e.id);
        Ok(out)
    }

    async fn requeue_claimed(&self, mapping: &ObjectMapping) -> Result<u64, TargetError> {
        let r = sqlx::query(AssertSqlSafe(requeue_claimed_sql(
            D,
            &q(&mapping.events_table(D)),
        )))
        .execute(&self.pool)
        .await
        .map_err(TargetError::db("requeueing claimed events"))?;
        Ok(r.rows_affected())
    }

    async fn settle_events(
        &self,
        mapping: &ObjectMapping,
        ids: &[i64],
        not_sent: Option<&'static str>,
    ) -> Result<(), TargetError> {
        for chunk in ids.chunks(1000) {
            sqlx::query(AssertSqlSafe(mark_done_sql(
                D,
                &q(&mapping.events_table(D)),
                chunk,
                not_sent,
            )))
            .execute(&self.pool)
            .await
            .map_err(TargetError::db("marking events done"))?;
        }
        Ok(())
    }

    async fn mark_event_failed(
        &self,
        mapping: &ObjectMapping,
        id: i64,
        error: &str,
    ) -> Result<(), TargetError> {
        let mut tx = self.engine_tx().await?;
        let ev = q(&mapping.events_table(D));
        sqlx::query(AssertSqlSafe(mark_failed_sql(D, &ev)))
            .bind(error)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(TargetError::db("marking an event failed"))?;
        sqlx::query(AssertSqlSafe(row_failed_sql(D, &q(&mapping.table(D)), &ev)))
            .bind(error)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(TargetError::db("storing the error on the row"))?;
        self.engine_commit(tx).await
    }

    async fn fetch_rows(
        &self,
        mapping: &ObjectMapping,
        keys: RowKeys<'_>,
    ) -> Result<Vec<StoredRow>, TargetError> {
        let mut cols: Vec<String> = ["id", "sfid", "systemmodstamp", "_dn_state", "_dn_error"]
            .iter()
            .map(|c| c.to_string())
            .collect();
        cols.extend(mapping.data_fields().map(|f| f.column(D)));
        // json_object takes at most 127 arguments: one object per 60 columns, merged here.
        let objects: Vec<String> = cols
            .chunks(60)
            .map(|chunk| {
                let pairs: Vec<String> = chunk
                    .iter()
                    .map(|c| format!("{}, {}", lit(c), q(c)))
                    .collect();
                format!("json_object({})", pairs.join(", "))
            })
            .collect();
        let mut out = Vec::new();
        for chunk in keys.chunks(500) {
            let mut query = sqlx::query(AssertSqlSafe(format!(
                "SELECT {} FROM {} WHERE {} IN ({}) ORDER BY \"id\"",
                objects.join(", "),
                q(&mapping.table(D)),
                q(keys.column()),
                vec!["?"; chunk.len()].join(", ")
            )));
            for key in &chunk {
                query = bind_sq(query, key);
            }
            for r in query
                .fetch_all(&self.pool)
                .await
                .map_err(TargetError::db(format!(
                    "reading rows of {}",
                    mapping.table(D)
                )))?
            {
                let mut merged = serde_json::Map::new();
                for i in 0..objects.len() {
                    if let Ok(serde_json::Value::Object(m)) =
                        serde_json::from_str(&r.get::<String, _>(i))
                    {
                        merged.extend(m);
                    }
                }
                out.push(decode_row(
                    D,
                    mapping,
                    &serde_json::Value::Object(merged).to_string(),
                )?);
            }
        }
        Ok(out)
    }

    async fn event_counts(&self, mapping: &ObjectMapping) -> Result<EventCounts, TargetError> {
        let rows = sqlx::query(AssertSqlSafe(event_counts_sql(
            D,
            &q(&mapping.events_table(D)),
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(TargetError::db("counting events"))?;
        Ok(EventCounts::from_pairs(
            rows.iter()
                .map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1))),
        ))
    }

    async fn purge_events(
        &self,
        mapping: &ObjectMapping,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, TargetError> {
        let r = sqlx::query(AssertSqlSafe(purge_events_sql(
            D,
            &q(&mapping.events_table(D)),
        )))
        .bind(datetime_text(D, &before))
        .execute(&self.pool)
        .await
        .map_err(TargetError::db("purging processed events"))?;
        Ok(r.rows_affected())
    }

    async fn write_back_sfid(
        &self,
        mapping: &ObjectMapping,
        row_id: i64,
        sfid: &str,
    ) -> Result<(), TargetError> {
        let mut tx = self.engine_tx().await?;
        sqlx::query(AssertSqlSafe(duplicate_row_sql(D, &q(&mapping.table(D)))))
            .bind(sfid)
            .bind(row_id)
            .execute(&mut *tx)
            .await
            .map_err(TargetError::db(
                "removing a pulled copy of the created record",
            ))?;
        sqlx::query(AssertSqlSafe(sfid_written_sql(D, &q(&mapping.table(D)))))
            .bind(sfid)
            .bind(row_id)
            .execute(&mut *tx)
            .await
            .map_err(TargetError::db("writing back the sfid"))?;
        sqlx::query(AssertSqlSafe(events_take_sfid_sql(
            D,
            &q(&mapping.events_table(D)),
        )))
        .bind(sfid)
        .bind(row_id)
        .execute(&mut *tx)
        .await
        .map_err(TargetError::db("giving the row's later changes the sfid"))?;
        self.engine_commit(tx).await
    }

    async fn pending_fields(
        &self,
        mapping: &ObjectMapping,
        sfids: &[String],
    ) -> Result<Vec<(i64, Vec<String>)>, TargetError> {
        let (table, events) = (q(&mapping.table(D)), q(&mapping.events_table(D)));
        let mut out = Vec::new();
        for chunk in sfids.chunks(500) {
            let mut query = sqlx::query(AssertSqlSafe(pending_fields_sql(
                D,
                &table,
                &events,
                chunk.len(),
                "e.\"changed\"",
            )));
            for s in chunk {
                query = query.bind(s.clone());
            }
            let rows = query
                .fetch_all(&self.pool)
                .await
                .map_err(TargetError::db("reading the pending changes"))?;
            out.extend(pending_fields_decode(
                D,
                mapping,
                rows.iter()
                    .map(|r| (r.get::<i64, _>(0), r.get::<String, _>(1))),
            ));
        }
        Ok(out)
    }

    async fn write_fields(
        &self,
        mapping: &ObjectMapping,
        sfid: &str,
        values: &Map<String, Value>,
        expected: &Map<String, Value>,
    ) -> Result<(), TargetError> {
        let vals = field_values(D, mapping, values, expected)?;
        if vals.is_empty() {
            return Ok(());
        }
        let fields: Vec<&FieldSpec> = vals.iter().map(|(f, _, _)| *f).collect();
        let sql = write_fields_sql(D, &q(&mapping.table(D)), &fields, |_, _| "?".into());
        let mut tx = self.engine_tx().await?;
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (_, was, v) in &vals {
            query = bind_sq(bind_sq(query, was), v);
        }
        query
            .bind(sfid.to_owned())
            .execute(&mut *tx)
            .await
            .map_err(TargetError::db("writing Salesforce's values into the row"))?;
        self.engine_commit(tx).await
    }

    async fn fill_fields(
        &self,
        mapping: &ObjectMapping,
        fields: &[String],
        rows: &[Row],
    ) -> Result<UpsertReport, TargetError> {
        let specs = super::named_fields(mapping, fields);
        let mut report = UpsertReport::default();
        let converted = super::fill_values(D, &specs, rows, &mut report.rejected);
        if specs.is_empty() || converted.is_empty() {
            return Ok(report);
        }
        let mut tx = self.engine_tx().await?;
        write_chunks::<sqlx::Sqlite, _>(
            &mut tx,
            &converted,
            super::fill_chunk(specs.len()),
            true,
            &format!("filling added fields of {}", mapping.table(D)),
            &mut report,
            |conn, chunk| {
                let sql = super::fill_fields_sql(
                    D,
                    &q(&mapping.table(D)),
                    &specs,
                    chunk.len(),
                    |_, _| "?".into(),
                );
                Box::pin(async move {
                    let mut query = sqlx::query(AssertSqlSafe(sql));
                    for (r, vals) in chunk {
                        query = query.bind(r.sfid.clone());
                        for v in vals {
                            query = bind_sq(query, v);
                        }
                    }
                    Ok(query.execute(conn).await?.rows_affected())
                })
            },
        )
        .await?;
        self.engine_commit(tx).await?;
        Ok(report)
    }

    async fn row_count(&self, mapping: &ObjectMapping) -> Result<u64, TargetError> {
        let n: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM {}",
            q(&mapping.table(D))
        )))
        .fetch_one(&self.pool)
        .await
        .map_err(TargetError::db("counting rows"))?;
        Ok(n.max(0) as u64)
    }

    async fn synced_sfids(
        &self,
        mapping: &ObjectMapping,
        read_back: bool,
    ) -> Result<Vec<String>, TargetError> {
        let read_back = if read_back {
            " AND \"systemmodstamp\" IS NOT NULL"
        } else {
            ""
        };
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT \"sfid\" FROM {} WHERE \"sfid\" IS NOT NULL{read_back}",
            q(&mapping.table(D))
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(TargetError::db("reading the synced rows' ids"))?;
        Ok(rows.iter().map(|r| r.get::<String, _>(0)).collect())
    }

    async fn failed_events(
        &self,
        mapping: &ObjectMapping,
        limit: usize,
    ) -> Result<Vec<FailedEvent>, TargetError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT \"id\", \"op\", \"row_id\", \"sfid\", \"changed\", \"old_values\", \"new_values\", \"db_user\", \"created_at\", \"error\" FROM {} WHERE \"state\" = 'FAILED' ORDER BY \"id\" LIMIT ?",
            q(&mapping.events_table(D))
        )))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(TargetError::db("reading failed events"))?;
        rows.iter()
            .map(|r| {
                Ok(FailedEvent {
                    event: raw_event(r).decode(D, mapping)?,
                    error: r.get::<Option<String>, _>(9).unwrap_or_default(),
                })
            })
            .collect()
    }

    async fn recent_events(
        &self,
        mapping: &ObjectMapping,
        limit: usize,
    ) -> Result<Vec<RecentEvent>, TargetError> {
        let rows = sqlx::query(AssertSqlSafe(recent_events_sql(
            D,
            &q(&mapping.events_table(D)),
            "",
        )))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(TargetError::db("reading recent events"))?;
        rows.iter()
            .map(|r| {
                Ok(RecentEvent {
                    event: raw_event(r).decode(D, mapping)?,
                    state: r.get(9),
                    error: r.get(10),
                })
            })
            .collect()
    }

    async fn settle_failed(
        &self,
        mapping: &ObjectMapping,
        scope: FailedScope<'_>,
        action: FailedAction,
    ) -> Result<u64, TargetError> {
        let [rows, events] = settle_failed_sql(
            D,
            &q(&mapping.table(D)),
            &q(&mapping.events_table(D)),
            scope,
            action,
        );
        let mut tx = self.engine_tx().await?;
        sqlx::query(AssertSqlSafe(rows))
            .execute(&mut *tx)
            .await
            .map_err(TargetError::db("clearing the rows' failed state"))?;
        let moved = sqlx::query(AssertSqlSafe(events))
            .execute(&mut *tx)
            .await
            .map_err(TargetError::db("settling failed events"))?
            .rows_affected();
        self.engine_commit(tx).await?;
        Ok(moved)
    }
}

/// An event row selected as `id, op, row_id, sfid, changed, old_values, new_values,
/// db_user, created_at` (in that order).
fn raw_event(r: &sqlx::sqlite::SqliteRow) -> RawEvent {
    RawEvent {
        id: r.get(0),
        op: r.get(1),
        row_id: r.get(2),
        sfid: r.get(3),
        changed: r.get(4),
        old_values: r.get(5),
        new_values: r.get(6),
        db_user: r.get(7),
        created_at: super::types::parse_datetime(&r.get::<String, _>(8))
            .unwrap_or(chrono::DateTime::UNIX_EPOCH),
    }
}
