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

use super::FieldSpec;
use super::bookkeeping::Bookkeeping;
use super::check::{CHECKS, failed, ok, parse_version, skip_rest};
use super::fence::Fence;
use super::plan::{Change, Plan, PlanStep, check_plan};
use super::types::{datetime_text, sql_type};
use super::{
    CURSOR_TABLE, Dialect, Event, ObjectMapping, Position, Provisioned, Row, RowKeys, Target,
    TargetError, claim_token, ident,
};
use super::{StoredRow, UpsertReport, convert_rows, decode_row};

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
    fence: Option<Fence>,
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
        Ok(Self {
            path,
            schema,
            pool,
            fence: None,
        })
    }

    /// The engine's writes carry `fence` from now on (see [`super::fence`]).
    pub(crate) fn set_fence(&mut self, fence: Fence) {
        self.fence = Some(fence);
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
        Self::write_rows(conn, &converted, 30_000 / ncols, lenient, m, &mut report, |n| {
            format!(
                "INSERT INTO {table} AS d ({}, \"_dn_state\", \"_dn_error\") VALUES {} ON CONFLICT (\"sfid\") DO UPDATE SET {} WHERE d.\"systemmodstamp\" IS NULL OR excluded.\"systemmodstamp\" IS NULL OR d.\"systemmodstamp\" < excluded.\"systemmodstamp\" OR (d.\"systemmodstamp\" = excluded.\"systemmodstamp\" AND ({same_second_changed}))",
                cols.join(", "),
                vec![row_ph.as_str(); n].join(", "),
                sets.join(", ")
            )
        })
        .await?;
        Ok(report)
    }

    async fn upsert_impl(
        &self,
        mapping: &ObjectMapping,
        rows: &[Row],
        cursor: Option<Position<'_>>,
        lenient: bool,
        keep_pending: bool,
    ) -> Result<UpsertReport, TargetError> {
        // `BEGIN IMMEDIATE`: no local change commits until this transaction has.
        let mut tx = self.begin().await?;
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

impl Bookkeeping for SqliteTarget {
    type Db = sqlx::Sqlite;
    /// SQLite stores datetimes as text ([`datetime_text`]).
    type Time = String;
    const DIALECT: Dialect = D;
    const DONE_CHUNK: Option<usize> = Some(1000);
    const BIND_CHUNK: usize = 500;
    const JSON_TEXT: &'static str = "";
    // `BEGIN IMMEDIATE`: one writer at a time, so a plain read is the check.
    const FENCE_SHARE: &'static str = "";
    const FENCE_CLAIM: &'static str = "";
    const FENCED_TX_SETUP: Option<&'static str> = None;
    const FENCE_TAGGED: bool = false;
    const FENCE_CLAIM_SETUP: Option<&'static str> = None;

    fn value_placeholder(_: &FieldSpec, _: usize) -> String {
        "?".into()
    }

    fn table_name(&self, name: &str) -> String {
        q(name)
    }

    fn pool(&self) -> Result<SqlitePool, TargetError> {
        Ok(self.pool.clone())
    }

    fn fence(&self) -> Option<Fence> {
        self.fence
    }

    async fn open_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, TargetError> {
        self.engine_tx().await
    }

    async fn commit(
        &self,
        tx: sqlx::Transaction<'static, sqlx::Sqlite>,
    ) -> Result<(), TargetError> {
        self.engine_commit(tx).await
    }

    fn time_to_db(t: &chrono::DateTime<chrono::Utc>) -> Self::Time {
        datetime_text(D, t)
    }

    fn time_from_db(v: Self::Time) -> Result<chrono::DateTime<chrono::Utc>, String> {
        super::types::parse_datetime(&v).ok_or(v)
    }
}

impl Target for SqliteTarget {
    super::bookkeeping::target_methods!();

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
        let mut tx = self.begin().await?;
        let rows = sqlx::query(AssertSqlSafe(format!(
            "UPDATE {ev} SET \"state\" = 'CLAIMED', \"claim_token\" = ?, \"claimed_at\" = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE \"id\" IN (SELECT \"id\" FROM {ev} WHERE \"state\" = 'NEW' ORDER BY \"id\" LIMIT ?) RETURNING \"id\", \"op\", \"row_id\", \"sfid\", \"changed\", \"old_values\", \"new_values\", \"db_user\", \"created_at\""
        )))
        .bind(claim_token())
        .bind(max as i64)
        .fetch_all(&mut *tx)
        .await
        .map_err(TargetError::db(format!("claiming events of {}", mapping.table(D))))?;
        self.commit(tx).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(Self::raw_event(&r).decode(D, mapping)?);
        }
        out.sort_by_key(|e| e.id);
        Ok(out)
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
                query = Self::bind_value(query, key);
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
}
