//! PostgreSQL target (9.6+).
//!
//! One trigger function per org schema (`_dn_record_event`, `SECURITY DEFINER`) serves every
//! data table: it compares `to_jsonb(OLD)` with `to_jsonb(NEW)`, skips writes whose
//! `session_user` is the sync user or whose session set `datenator.origin = 'sync'`, inserts
//! into the events table named by its first argument and NOTIFYs [`NOTIFY_CHANNEL`].

use std::sync::Mutex;

use datenator_shared::datasource::{
    CheckKind, CheckReport, DatasourceSettings, SyncWriterMode, TlsMode,
};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode};
use sqlx::{AssertSqlSafe, ConnectOptions as _, Connection, Executor, PgConnection, Row as _};

use super::bookkeeping::{
    event_counts_sql, mark_done_sql, mark_failed_sql, purge_events_sql, read_cursor_sql,
    requeue_claimed_sql, row_failed_sql, sfid_written_sql,
};
use super::check::{failed, ok, skip_rest, tcp_probe, tls_failure, warning};
use super::load::CsvChunk;
use super::plan::{Change, Plan, PlanStep, check_plan, diff};
use super::types::{SqlValue, sql_type};
use super::{
    CURSOR_TABLE, Cursor, Dialect, Event, NOTIFY_CHANNEL, ObjectMapping, Position, Provisioned,
    RawEvent, Row, RowKeys, SyncCredentials, Target, TargetError, claim_token, decode_row, ident,
    random_password, row_values,
};
use super::{EventCounts, StoredRow, UpsertReport, convert_rows, write_chunks};
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
mod copy;
mod ddl;

use copy::*;

const D: Dialect = Dialect::Postgres;
const TRIGGER_FN: &str = "_dn_record_event";

fn q(name: &str) -> String {
    ident::quote(D, name)
}

fn lit(s: &str) -> String {
    ident::literal(D, s)
}

/// Notifications of changes in one org's tables (PostgreSQL LISTEN/NOTIFY).
pub struct ChangeListener {
    inner: sqlx::postgres::PgListener,
    prefix: String,
}

impl std::fmt::Debug for ChangeListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeListener")
            .field("schema", &self.prefix.trim_end_matches('.'))
            .finish()
    }
}

impl ChangeListener {
    /// Waits for the next change recorded in this org's schema and returns the name of the
    /// events table that got it. Reconnects by itself after a dropped connection (changes
    /// made meanwhile are found by the next claim anyway).
    pub async fn recv(&mut self) -> Result<String, TargetError> {
        loop {
            let n = self
                .inner
                .recv()
                .await
                .map_err(TargetError::db("waiting for change notifications"))?;
            if let Some(table) = n.payload().strip_prefix(&self.prefix) {
                return Ok(table.to_owned());
            }
        }
    }
}

/// A PostgreSQL org target.
#[derive(Debug)]
pub struct PgTarget {
    settings: DatasourceSettings,
    schema: String,
    admin: PgPool,
    sync_credentials: Mutex<Option<SyncCredentials>>,
    sync_pool: Mutex<Option<PgPool>>,
}

fn ssl_mode(t: TlsMode) -> PgSslMode {
    match t {
        TlsMode::Disable => PgSslMode::Disable,
        TlsMode::Prefer => PgSslMode::Prefer,
        TlsMode::Require => PgSslMode::Require,
        TlsMode::VerifyCa => PgSslMode::VerifyCa,
        TlsMode::VerifyFull => PgSslMode::VerifyFull,
    }
}

impl PgTarget {
    /// `sync`: the stored sync user; `None` means session marking (no sync role).
    pub fn new(
        settings: DatasourceSettings,
        schema: String,
        sync: Option<SyncCredentials>,
    ) -> Result<Self, TargetError> {
        let opts = admin_options(&settings);
        let admin = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(super::check::CONNECT_TIMEOUT * 2)
            .connect_lazy_with(opts);
        Ok(Self {
            settings,
            schema: ident::fit_name(D, &schema),
            admin,
            sync_credentials: Mutex::new(sync),
            sync_pool: Mutex::new(None),
        })
    }

    fn qs(&self, name: &str) -> String {
        ident::qualified(D, &self.schema, name)
    }

    /// The sync role's name for this schema.
    pub fn sync_user(&self) -> String {
        ident::postgres_sync_user(&self.schema)
    }

    /// The pool the engine writes with: the sync user's, or the admin's with the session
    /// marked (`datenator.origin = sync`) when there is no sync user.
    fn engine_pool(&self) -> PgPool {
        let mut guard = self.sync_pool.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = guard.as_ref() {
            return p.clone();
        }
        let creds = self
            .sync_credentials
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut opts = admin_options(&self.settings);
        if let Some(c) = creds {
            opts = opts.username(&c.user).password(c.password.expose());
        }
        let opts = opts.options([("datenator.origin", "sync")]);
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(super::check::CONNECT_TIMEOUT * 2)
            .connect_lazy_with(opts);
        *guard = Some(pool.clone());
        pool
    }

    /// Listens for the triggers' NOTIFY on this org's schema, as the engine's user.
    pub async fn listen(&self) -> Result<ChangeListener, TargetError> {
        let mut inner = sqlx::postgres::PgListener::connect_with(&self.engine_pool())
            .await
            .map_err(|e| connect_error(&self.settings, e))?;
        inner
            .listen(NOTIFY_CHANNEL)
            .await
            .map_err(TargetError::db("LISTEN for changes"))?;
        Ok(ChangeListener {
            inner,
            prefix: format!("{}.", self.schema),
        })
    }

    fn upsert_sql(&self, m: &ObjectMapping, nrows: usize, source: Option<&str>) -> String {
        let table = self.qs(&m.table(D));
        let fields: Vec<_> = m.data_fields().collect();
        let mut cols = vec!["\"sfid\"".to_string(), "\"systemmodstamp\"".to_string()];
        cols.extend(fields.iter().map(|f| q(&f.column(D))));
        let mut sql = format!(
            "INSERT INTO {table} AS d ({}, \"_dn_state\", \"_dn_error\") ",
            cols.join(", ")
        );
        match source {
            Some(src) => {
                sql.push_str(&format!(
                    "SELECT DISTINCT ON (\"sfid\") {}, 'SYNCED', NULL FROM {src} ORDER BY \"sfid\", \"systemmodstamp\" DESC NULLS LAST",
                    cols.join(", ")
                ));
            }
            None => {
                sql.push_str("VALUES ");
                let mut n = 1;
                for r in 0..nrows {
                    if r > 0 {
                        sql.push_str(", ");
                    }
                    sql.push_str(&format!("(${}, ${}", n, n + 1));
                    n += 2;
                    for f in &fields {
                        sql.push_str(&format!(", CAST(${n} AS {})", bind_cast(f)));
                        n += 1;
                    }
                    sql.push_str(", 'SYNCED', NULL)");
                }
            }
        }
        let mut sets = vec!["\"systemmodstamp\" = EXCLUDED.\"systemmodstamp\"".to_string()];
        for f in &fields {
            let c = q(&f.column(D));
            sets.push(format!("{c} = EXCLUDED.{c}"));
        }
        sets.push("\"_dn_state\" = 'SYNCED'".into());
        sets.push("\"_dn_error\" = NULL".into());
        // Salesforce stamps whole seconds: a record changed again within the second it was
        // read has the same stamp and must still be written when its values differ.
        let same_second_changed = if fields.is_empty() {
            "FALSE".to_owned()
        } else {
            let cols: Vec<String> = fields.iter().map(|f| q(&f.column(D))).collect();
            format!(
                "ROW({}) IS DISTINCT FROM ROW({})",
                cols.iter()
                    .map(|c| format!("d.{c}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                cols.iter()
                    .map(|c| format!("EXCLUDED.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        sql.push_str(&format!(
            " ON CONFLICT (\"sfid\") DO UPDATE SET {} WHERE d.\"systemmodstamp\" IS NULL OR EXCLUDED.\"systemmodstamp\" IS NULL OR d.\"systemmodstamp\" < EXCLUDED.\"systemmodstamp\" OR (d.\"systemmodstamp\" = EXCLUDED.\"systemmodstamp\" AND {same_second_changed})",
            sets.join(", ")
        ));
        sql
    }

    async fn upsert_impl(
        &self,
        m: &ObjectMapping,
        rows: &[Row],
        cursor: Option<Position<'_>>,
        lenient: bool,
        keep_pending: bool,
    ) -> Result<UpsertReport, TargetError> {
        let mut report = UpsertReport::default();
        let per_chunk = 30_000 / (m.data_fields().count() + 2);
        let pool = self.engine_pool();
        let mut tx = pool
            .begin()
            .await
            .map_err(|e| connect_error(&self.settings, e))?;
        let mut kept;
        let rows = if keep_pending && !rows.is_empty() {
            // A local change committed from here on waits for this transaction.
            let sfids: Vec<&str> = rows.iter().map(|r| r.sfid.as_str()).collect();
            sqlx::query(AssertSqlSafe(format!(
                "SELECT 1 FROM {} WHERE \"sfid\" = ANY($1) ORDER BY \"id\" FOR UPDATE",
                self.qs(&m.table(D))
            )))
            .bind(sfids)
            .execute(&mut *tx)
            .await
            .map_err(TargetError::db("locking the pulled rows"))?;
            kept = rows.to_vec();
            report.kept_local = super::keep_pending_local(self, m, &mut kept).await?;
            &kept[..]
        } else {
            rows
        };
        let converted = convert_rows(D, m, rows, lenient, &mut report.rejected)?;
        write_chunks::<sqlx::Postgres, _>(
            &mut tx,
            &converted,
            per_chunk,
            lenient,
            &format!("upserting rows into {}", m.table(D)),
            &mut report,
            |conn, chunk| {
                let sql = self.upsert_sql(m, chunk.len(), None);
                Box::pin(async move {
                    let mut query = sqlx::query(AssertSqlSafe(sql));
                    for (r, vals) in chunk {
                        query = query.bind(r.sfid.clone()).bind(r.systemmodstamp);
                        for v in vals {
                            query = bind_pg(query, v);
                        }
                    }
                    Ok(query.execute(conn).await?.rows_affected())
                })
            },
        )
        .await?;
        if let Some(Position { key, cursor: c }) = cursor {
            self.store_cursor(&mut tx, key, c).await?;
        }
        tx.commit()
            .await
            .map_err(TargetError::db("committing the upsert"))?;
        Ok(report)
    }

    async fn store_cursor(
        &self,
        conn: &mut PgConnection,
        object: &str,
        c: &Cursor,
    ) -> Result<(), TargetError> {
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {} (\"object\", \"systemmodstamp\", \"last_id\", \"updated_at\") VALUES ($1, $2, $3, now()) ON CONFLICT (\"object\") DO UPDATE SET \"systemmodstamp\" = EXCLUDED.\"systemmodstamp\", \"last_id\" = EXCLUDED.\"last_id\", \"updated_at\" = now()",
            self.qs(CURSOR_TABLE)
        )))
        .bind(object)
        .bind(c.systemmodstamp)
        .bind(&c.last_id)
        .execute(conn)
        .await
        .map_err(TargetError::db("storing the pull cursor"))?;
        Ok(())
    }

    /// Bulk load: rows are upserted like [`Target::upsert_rows`], but through COPY. The
    /// common case — a first load into rows that are not there yet — is one COPY straight
    /// into the table; when a row is there already (a load resumed after a stop) the chunk
    /// goes through a temporary table and an upsert instead. The CSV is streamed in slices,
    /// so the server parses one while the next is formatted.
    /// A first load's Bulk CSV records: their cells go to COPY as they are when every
    /// mapped type's CSV form is also PostgreSQL's; a cell PostgreSQL refuses (or a type
    /// that needs converting) sends the chunk through typed rows, which say what is wrong.
    async fn bulk_csv_impl(&self, m: &ObjectMapping, chunk: &CsvChunk) -> Result<u64, TargetError> {
        if m.data_fields().all(|f| csv_cell(f.sf_type).is_some()) {
            match self.bulk_impl(m, LoadRows::Csv(chunk)).await {
                Err(TargetError::Database { source, .. })
                    if source
                        .as_database_error()
                        .and_then(|e| e.code())
                        .is_some_and(|c| c.starts_with("22")) =>
                {
                    tracing::debug!(
                        "PostgreSQL refused a Bulk CSV cell ({source}); typing the chunk's rows"
                    );
                }
                r => return r,
            }
        }
        self.bulk_impl(m, LoadRows::Typed(&chunk.to_rows(m))).await
    }

    async fn bulk_impl(&self, m: &ObjectMapping, rows: LoadRows<'_>) -> Result<u64, TargetError> {
        let fields: Vec<_> = m.data_fields().collect();
        let pool = self.engine_pool();
        let mut tx = pool
            .begin()
            .await
            .map_err(|e| connect_error(&self.settings, e))?;
        let table = self.qs(&m.table(D));
        let mut cols = vec!["\"sfid\"".to_string(), "\"systemmodstamp\"".to_string()];
        cols.extend(fields.iter().map(|f| q(&f.column(D))));
        cols.push("\"_dn_state\"".into());
        let copy_into = |target: &str| {
            format!(
                "COPY {target} ({}) FROM STDIN WITH (FORMAT csv)",
                cols.join(", ")
            )
        };
        tx.execute(sqlx::raw_sql("SAVEPOINT \"_dn_direct\""))
            .await
            .map_err(TargetError::db("starting the load"))?;
        match copy_rows(&mut tx, &copy_into(&table), m, &rows).await {
            Ok(n) => {
                tx.commit()
                    .await
                    .map_err(TargetError::db("committing the load"))?;
                return Ok(n);
            }
            Err(TargetError::Database { source, .. })
                if source.as_database_error().and_then(|e| e.code()).as_deref()
                    == Some("23505") =>
            {
                tx.execute(sqlx::raw_sql("ROLLBACK TO SAVEPOINT \"_dn_direct\""))
                    .await
                    .map_err(TargetError::db("resuming the load"))?;
            }
            Err(e) => return Err(e),
        }
        tx.execute(sqlx::raw_sql(AssertSqlSafe(format!(
            "CREATE TEMP TABLE \"_dn_load\" ON COMMIT DROP AS SELECT * FROM {table} WITH NO DATA"
        ))))
        .await
        .map_err(TargetError::db("creating the load table"))?;
        copy_rows(&mut tx, &copy_into("\"_dn_load\""), m, &rows).await?;
        let sql = self.upsert_sql(m, 0, Some("pg_temp.\"_dn_load\""));
        let n = tx
            .execute(sqlx::raw_sql(AssertSqlSafe(sql)))
            .await
            .map_err(TargetError::db(format!(
                "moving loaded rows into {}",
                m.table(D)
            )))?
            .rows_affected();
        tx.commit()
            .await
            .map_err(TargetError::db("committing the load"))?;
        Ok(n)
    }

    async fn claim_impl(&self, m: &ObjectMapping, max: usize) -> Result<Vec<Event>, TargetError> {
        let ev = self.qs(&m.events_table(D));
        let token = claim_token();
        let rows = sqlx::query(AssertSqlSafe(format!(
            "UPDATE {ev} SET \"state\" = 'CLAIMED', \"claim_token\" = $1, \"claimed_at\" = now() WHERE \"id\" IN (SELECT \"id\" FROM {ev} WHERE \"state\" = 'NEW' ORDER BY \"id\" LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING \"id\", \"op\", \"row_id\", \"sfid\", \"changed\"::text, \"old_values\"::text, \"new_values\"::text, \"db_user\", \"created_at\""
        )))
        .bind(&token)
        .bind(max as i64)
        .fetch_all(&self.engine_pool())
        .await
        .map_err(TargetError::db(format!("claiming events of {}", m.table(D))))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(raw_event(&r).decode(D, m)?);
        }
        out.sort_by_key(|e| e.id);
        Ok(out)
    }
}

/// The type a bound value is cast to: the column's, except that `varchar(n)` becomes
/// `varchar` — an explicit cast to `varchar(n)` would silently truncate a longer value,
/// where assigning it to the column fails as it should.
fn bind_cast(f: &crate::targetdb::FieldSpec) -> String {
    let t = sql_type(D, f);
    if t.starts_with("varchar(") {
        "varchar".into()
    } else {
        t
    }
}

fn admin_options(s: &DatasourceSettings) -> PgConnectOptions {
    PgConnectOptions::new_without_pgpass()
        .host(&s.host)
        .port(s.port_or_default())
        .username(&s.user)
        .password(s.password.expose())
        .database(&s.database)
        .ssl_mode(ssl_mode(s.tls))
        .application_name("datenator")
        // Provisioning runs CREATE/ALTER ROLE … PASSWORD: no statement text in the logs.
        .disable_statement_logging()
}

fn db_message(e: &sqlx::Error) -> String {
    match e.as_database_error() {
        Some(d) => d.message().to_string(),
        None => e.to_string(),
    }
}

fn connect_error(s: &DatasourceSettings, e: sqlx::Error) -> TargetError {
    let code = e
        .as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.to_string());
    match code.as_deref() {
        Some("3D000") => TargetError::DatabaseMissing {
            database: s.database.clone(),
        },
        Some("28P01") | Some("28000") => TargetError::Authentication {
            user: s.user.clone(),
            message: db_message(&e),
        },
        _ => match e {
            sqlx::Error::Io(io) => TargetError::Unreachable {
                host: s.host.clone(),
                port: s.port_or_default(),
                reason: io.to_string(),
            },
            other => TargetError::Database {
                context: "connecting to PostgreSQL".into(),
                source: other,
            },
        },
    }
}

fn permission_or(e: sqlx::Error, s: &DatasourceSettings, context: &str) -> TargetError {
    if e.as_database_error().and_then(|d| d.code()).as_deref() == Some("42501") {
        let message = db_message(&e);
        let fix = if message.contains("superuser") {
            // A role made a superuser by hand (the sync or application role): only a
            // superuser may change it back.
            "a superuser must run ALTER ROLE … NOSUPERUSER; on the role the message names (or DROP ROLE it), then generate again".to_owned()
        } else if message.contains("must be owner") {
            format!(
                "ALTER SCHEMA … OWNER TO {};  -- as the schema's owner or a superuser, for the schema or table the message names; objects another admin created belong to it",
                q(&s.user)
            )
        } else {
            format!(
                "GRANT CREATE ON DATABASE {} TO {};  -- and ALTER ROLE {} CREATEROLE; for a sync role",
                q(&s.database),
                q(&s.user),
                q(&s.user)
            )
        };
        return TargetError::Permission {
            what: format!("{context}: {message}"),
            fix,
        };
    }
    TargetError::Database {
        context: context.into(),
        source: e,
    }
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

fn bind_pg<'q>(q: PgQuery<'q>, v: &SqlValue) -> PgQuery<'q> {
    match v {
        SqlValue::Null => q.bind(None::<String>),
        SqlValue::Bool(b) => q.bind(*b),
        SqlValue::Int(i) => q.bind(*i),
        SqlValue::Text(s) => q.bind(s.clone()),
    }
}

impl Target for PgTarget {
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
            .upsert_impl(
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
        self.upsert_impl(mapping, rows, cursor, true, keep_pending)
            .await
    }

    async fn cursor(&self, object: &str) -> Result<Option<Cursor>, TargetError> {
        let row = sqlx::query(AssertSqlSafe(read_cursor_sql(D, &self.qs(CURSOR_TABLE))))
            .bind(object)
            .fetch_optional(&self.engine_pool())
            .await
            .map_err(TargetError::db("reading the pull cursor"))?;
        Ok(row.map(|r| Cursor {
            systemmodstamp: r.get(0),
            last_id: r.get(1),
        }))
    }

    async fn leave_rows(
        &self,
        mapping: &ObjectMapping,
        sfids: &[String],
        how: RowsLeave,
    ) -> Result<u64, TargetError> {
        let pool = self.engine_pool();
        let mut tx = pool
            .begin()
            .await
            .map_err(|e| connect_error(&self.settings, e))?;
        let events = self.qs(&mapping.events_table(D));
        let mut n = 0;
        for chunk in sfids.chunks(1000) {
            let mut query = sqlx::query(AssertSqlSafe(rows_leave_sql(
                D,
                &self.qs(&mapping.table(D)),
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
        tx.commit().await.map_err(TargetError::db("committing"))?;
        Ok(n)
    }

    async fn reset_cursor(&self, object: &str) -> Result<(), TargetError> {
        sqlx::query(AssertSqlSafe(reset_cursor_sql(D, &self.qs(CURSOR_TABLE))))
            .bind(object)
            .execute(&self.engine_pool())
            .await
            .map_err(TargetError::db("forgetting the pull cursor"))?;
        Ok(())
    }

    async fn bulk_load(&self, mapping: &ObjectMapping, rows: &[Row]) -> Result<u64, TargetError> {
        self.bulk_impl(mapping, LoadRows::Typed(rows)).await
    }

    async fn bulk_load_csv(
        &self,
        mapping: &ObjectMapping,
        chunk: &CsvChunk,
    ) -> Result<u64, TargetError> {
        self.bulk_csv_impl(mapping, chunk).await
    }

    async fn claim_events(
        &self,
        mapping: &ObjectMapping,
        max: usize,
    ) -> Result<Vec<Event>, TargetError> {
        self.claim_impl(mapping, max).await
    }

    async fn requeue_claimed(&self, mapping: &ObjectMapping) -> Result<u64, TargetError> {
        let r = sqlx::query(AssertSqlSafe(requeue_claimed_sql(
            D,
            &self.qs(&mapping.events_table(D)),
        )))
        .execute(&self.engine_pool())
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
        sqlx::query(AssertSqlSafe(mark_done_sql(
            D,
            &self.qs(&mapping.events_table(D)),
            ids,
            not_sent,
        )))
        .execute(&self.engine_pool())
        .await
        .map_err(TargetError::db("marking events done"))?;
        Ok(())
    }

    async fn mark_event_failed(
        &self,
        mapping: &ObjectMapping,
        id: i64,
        error: &str,
    ) -> Result<(), TargetError> {
        let pool = self.engine_pool();
        let mut tx = pool
            .begin()
            .await
            .map_err(|e| connect_error(&self.settings, e))?;
        let ev = self.qs(&mapping.events_table(D));
        sqlx::query(AssertSqlSafe(mark_failed_sql(D, &ev)))
            .bind(error)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(TargetError::db("marking an event failed"))?;
        sqlx::query(AssertSqlSafe(row_failed_sql(
            D,
            &self.qs(&mapping.table(D)),
            &ev,
        )))
        .bind(error)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(TargetError::db("storing the error on the row"))?;
        tx.commit().await.map_err(TargetError::db("committing"))?;
        Ok(())
    }

    async fn fetch_rows(
        &self,
        mapping: &ObjectMapping,
        keys: RowKeys<'_>,
    ) -> Result<Vec<StoredRow>, TargetError> {
        let query = sqlx::query(AssertSqlSafe(format!(
            "SELECT to_jsonb(\"_dn_row\".*)::text FROM {} AS \"_dn_row\" WHERE \"_dn_row\".{} = ANY($1) ORDER BY \"_dn_row\".\"id\"",
            self.qs(&mapping.table(D)),
            q(keys.column())
        )));
        let query = match keys {
            RowKeys::Ids(ids) => query.bind(ids.to_vec()),
            RowKeys::Sfids(sfids) => query.bind(sfids.to_vec()),
        };
        let rows = query
            .fetch_all(&self.engine_pool())
            .await
            .map_err(TargetError::db(format!(
                "reading rows of {}",
                mapping.table(D)
            )))?;
        rows.iter()
            .map(|r| decode_row(D, mapping, &r.get::<String, _>(0)))
            .collect()
    }

    async fn event_counts(&self, mapping: &ObjectMapping) -> Result<EventCounts, TargetError> {
        let rows = sqlx::query(AssertSqlSafe(event_counts_sql(
            D,
            &self.qs(&mapping.events_table(D)),
        )))
        .fetch_all(&self.engine_pool())
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
            &self.qs(&mapping.events_table(D)),
        )))
        .bind(before)
        .execute(&self.engine_pool())
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
        let pool = self.engine_pool();
        let mut tx = pool
            .begin()
            .await
            .map_err(|e| connect_error(&self.settings, e))?;
        sqlx::query(AssertSqlSafe(duplicate_row_sql(
            D,
            &self.qs(&mapping.table(D)),
        )))
        .bind(sfid)
        .bind(row_id)
        .execute(&mut *tx)
        .await
        .map_err(TargetError::db(
            "removing a pulled copy of the created record",
        ))?;
        sqlx::query(AssertSqlSafe(sfid_written_sql(
            D,
            &self.qs(&mapping.table(D)),
        )))
        .bind(sfid)
        .bind(row_id)
        .execute(&mut *tx)
        .await
        .map_err(TargetError::db("writing back the sfid"))?;
        sqlx::query(AssertSqlSafe(events_take_sfid_sql(
            D,
            &self.qs(&mapping.events_table(D)),
        )))
        .bind(sfid)
        .bind(row_id)
        .execute(&mut *tx)
        .await
        .map_err(TargetError::db("giving the row's later changes the sfid"))?;
        tx.commit().await.map_err(TargetError::db("committing"))
    }

    async fn pending_fields(
        &self,
        mapping: &ObjectMapping,
        sfids: &[String],
    ) -> Result<Vec<(i64, Vec<String>)>, TargetError> {
        let (table, events) = (
            self.qs(&mapping.table(D)),
            self.qs(&mapping.events_table(D)),
        );
        let mut out = Vec::new();
        for chunk in sfids.chunks(1000) {
            let mut query = sqlx::query(AssertSqlSafe(pending_fields_sql(
                D,
                &table,
                &events,
                chunk.len(),
                "e.\"changed\"::text",
            )));
            for s in chunk {
                query = query.bind(s.clone());
            }
            let rows = query
                .fetch_all(&self.engine_pool())
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
        let sql = write_fields_sql(D, &self.qs(&mapping.table(D)), &fields, |f, n| {
            format!("CAST(${n} AS {})", bind_cast(f))
        });
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (_, was, v) in &vals {
            query = bind_pg(bind_pg(query, was), v);
        }
        query
            .bind(sfid.to_owned())
            .execute(&self.engine_pool())
            .await
            .map_err(TargetError::db("writing Salesforce's values into the row"))?;
        Ok(())
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
        let mut tx = self
            .engine_pool()
            .begin()
            .await
            .map_err(TargetError::db("starting the backfill's transaction"))?;
        write_chunks::<sqlx::Postgres, _>(
            &mut tx,
            &converted,
            super::fill_chunk(specs.len()),
            true,
            &format!("filling added fields of {}", mapping.table(D)),
            &mut report,
            |conn, chunk| {
                let sql = super::fill_fields_sql(
                    D,
                    &self.qs(&mapping.table(D)),
                    &specs,
                    chunk.len(),
                    |f, n| format!("CAST(${n} AS {})", bind_cast(f)),
                );
                Box::pin(async move {
                    let mut query = sqlx::query(AssertSqlSafe(sql));
                    for (r, vals) in chunk {
                        query = query.bind(r.sfid.clone());
                        for v in vals {
                            query = bind_pg(query, v);
                        }
                    }
                    Ok(query.execute(conn).await?.rows_affected())
                })
            },
        )
        .await?;
        tx.commit()
            .await
            .map_err(TargetError::db("committing the backfill"))?;
        Ok(report)
    }

    async fn row_count(&self, mapping: &ObjectMapping) -> Result<u64, TargetError> {
        let n: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM {}",
            self.qs(&mapping.table(D))
        )))
        .fetch_one(&self.engine_pool())
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
            self.qs(&mapping.table(D))
        )))
        .fetch_all(&self.engine_pool())
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
            "SELECT \"id\", \"op\", \"row_id\", \"sfid\", \"changed\"::text, \"old_values\"::text, \"new_values\"::text, \"db_user\", \"created_at\", \"error\" FROM {} WHERE \"state\" = 'FAILED' ORDER BY \"id\" LIMIT $1",
            self.qs(&mapping.events_table(D))
        )))
        .bind(limit as i64)
        .fetch_all(&self.engine_pool())
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
            &self.qs(&mapping.events_table(D)),
            "::text",
        )))
        .bind(limit as i64)
        .fetch_all(&self.engine_pool())
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
            &self.qs(&mapping.table(D)),
            &self.qs(&mapping.events_table(D)),
            scope,
            action,
        );
        let mut tx = self
            .engine_pool()
            .begin()
            .await
            .map_err(|e| connect_error(&self.settings, e))?;
        sqlx::query(AssertSqlSafe(rows))
            .execute(&mut *tx)
            .await
            .map_err(TargetError::db("clearing the rows' failed state"))?;
        let moved = sqlx::query(AssertSqlSafe(events))
            .execute(&mut *tx)
            .await
            .map_err(TargetError::db("settling failed events"))?
            .rows_affected();
        tx.commit().await.map_err(TargetError::db("committing"))?;
        Ok(moved)
    }
}

/// An event row selected as `id, op, row_id, sfid, changed, old_values, new_values,
/// db_user, created_at` (in that order).
fn raw_event(r: &sqlx::postgres::PgRow) -> RawEvent {
    RawEvent {
        id: r.get(0),
        op: r.get(1),
        row_id: r.get(2),
        sfid: r.get(3),
        changed: r.get(4),
        old_values: r.get(5),
        new_values: r.get(6),
        db_user: r.get(7),
        created_at: r.get(8),
    }
}
