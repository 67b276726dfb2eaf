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

use super::FieldSpec;
use super::bookkeeping::Bookkeeping;
use super::check::{
    CHECKS, LoginRefused, db_message, failed, logged_in, login_refused, ok, skip_rest, tcp_probe,
    warning,
};
use super::fence::{
    FENCE_TAG_PREFIX, Fence, PG_FENCE_CLAIM_SETUP, PG_FENCED_TX_SETUP, parse_stored,
};
use super::load::CsvChunk;
use super::plan::{Change, Plan, PlanStep, check_plan};
use super::types::{SqlValue, sql_type};
use super::{
    CURSOR_TABLE, Cursor, Dialect, Event, NOTIFY_CHANNEL, ObjectMapping, Position, Provisioned,
    Row, RowKeys, SyncCredentials, Target, TargetError, claim_token, decode_row, ident,
    random_password, row_values,
};
use super::{StoredRow, UpsertReport, convert_rows};

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
    fence: Option<Fence>,
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
            fence: None,
        })
    }

    /// The engine's writes carry `fence` from now on (see [`super::fence`]).
    pub(crate) fn set_fence(&mut self, fence: Fence) {
        self.fence = Some(fence);
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
        let mut tx = self.begin().await?;
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
        Self::write_rows(
            &mut tx,
            &converted,
            per_chunk,
            lenient,
            m,
            &mut report,
            |n| self.upsert_sql(m, n, None),
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
        let mut tx = self.begin().await?;
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
        let mut tx = self.begin().await?;
        let rows = sqlx::query(AssertSqlSafe(format!(
            "UPDATE {ev} SET \"state\" = 'CLAIMED', \"claim_token\" = $1, \"claimed_at\" = now() WHERE \"id\" IN (SELECT \"id\" FROM {ev} WHERE \"state\" = 'NEW' ORDER BY \"id\" LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING \"id\", \"op\", \"row_id\", \"sfid\", \"changed\"::text, \"old_values\"::text, \"new_values\"::text, \"db_user\", \"created_at\""
        )))
        .bind(&token)
        .bind(max as i64)
        .fetch_all(&mut *tx)
        .await
        .map_err(TargetError::db(format!("claiming events of {}", m.table(D))))?;
        self.commit(tx).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(Self::raw_event(&r).decode(D, m)?);
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

impl Bookkeeping for PgTarget {
    type Db = sqlx::Postgres;
    type Time = chrono::DateTime<chrono::Utc>;
    const DIALECT: Dialect = D;
    const DONE_CHUNK: Option<usize> = None;
    const BIND_CHUNK: usize = 1000;
    const JSON_TEXT: &'static str = "::text";
    const FENCE_SHARE: &'static str = " FOR SHARE";
    const FENCE_CLAIM: &'static str = " FOR UPDATE";
    const FENCED_TX_SETUP: Option<&'static str> = Some(PG_FENCED_TX_SETUP);
    const FENCE_TAGGED: bool = true;
    const FENCE_CLAIM_SETUP: Option<&'static str> = Some(PG_FENCE_CLAIM_SETUP);

    fn value_placeholder(f: &FieldSpec, n: usize) -> String {
        format!("CAST(${n} AS {})", bind_cast(f))
    }

    fn table_name(&self, name: &str) -> String {
        self.qs(name)
    }

    fn pool(&self) -> Result<PgPool, TargetError> {
        Ok(self.engine_pool())
    }

    fn fence(&self) -> Option<Fence> {
        self.fence
    }

    async fn open_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, TargetError> {
        self.engine_pool()
            .begin()
            .await
            .map_err(|e| connect_error(&self.settings, e))
    }

    async fn commit(
        &self,
        tx: sqlx::Transaction<'static, sqlx::Postgres>,
    ) -> Result<(), TargetError> {
        tx.commit().await.map_err(TargetError::db("committing"))
    }

    /// The older holders' transactions still open are the sessions of this database and
    /// account named by an older token ([`fence_tag`](super::fence::fence_tag)) that hold
    /// the cursor table locked (every fenced transaction starts by reading the fence row
    /// `FOR SHARE`): ended with `pg_terminate_backend`, which an account may do to its own
    /// sessions. A newer holder's, a user's or an application's are left alone. A frozen
    /// holder in the middle of a `COPY` is ended this way too (no idle timeout applies).
    async fn end_stale_holders(&self, ours: Fence) -> Result<usize, TargetError> {
        let mut conn = self
            .engine_pool()
            .acquire()
            .await
            .map_err(|e| connect_error(&self.settings, e))?;
        ours.check(parse_stored(self.stored_fence(&mut conn, "").await?)?)?;
        let table = self.qs(CURSOR_TABLE);
        // One statement: the sessions are chosen and ended together (no pid read here
        // and ended later, when it may be another session's).
        // pid, state, seconds open, ended.
        type Ended = (i32, Option<String>, Option<f64>, Option<bool>);
        let ended: Vec<Ended> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT a.pid, a.state, EXTRACT(EPOCH FROM clock_timestamp() - a.xact_start)::float8, \
                   pg_terminate_backend(a.pid) \
                 FROM pg_stat_activity a \
                 WHERE a.datname = current_database() AND a.usename = current_user \
                   AND a.pid <> pg_backend_pid() \
                   AND (CASE WHEN a.application_name ~ '^{FENCE_TAG_PREFIX}[0-9]{{1,18}}$' \
                        THEN substr(a.application_name, {}, 18)::bigint END) < $2 \
                   AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.granted \
                     AND l.locktype = 'relation' AND l.relation = to_regclass($1))",
            FENCE_TAG_PREFIX.len() + 1
        )))
        .bind(&table)
        .bind(ours.0)
        .fetch_all(&mut *conn)
        .await
        .map_err(TargetError::db("ending the previous holder's transactions"))?;
        let mut ended_count = 0;
        for (pid, state, age, done) in ended {
            if done == Some(true) {
                tracing::warn!(
                    pid,
                    state = state.as_deref().unwrap_or("?"),
                    open_secs = age.unwrap_or(0.0).round(),
                    "ended a transaction of the org's previous holder that kept the target's fencing token locked: its work is redone here"
                );
                ended_count += 1;
            }
        }
        Ok(ended_count)
    }

    fn time_to_db(t: &chrono::DateTime<chrono::Utc>) -> Self::Time {
        *t
    }

    fn time_from_db(v: Self::Time) -> Result<chrono::DateTime<chrono::Utc>, String> {
        Ok(v)
    }
}

impl Target for PgTarget {
    super::bookkeeping::target_methods!();

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
}
