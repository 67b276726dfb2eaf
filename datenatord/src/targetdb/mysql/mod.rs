//! MariaDB (10.2.3+) and MySQL (5.7.8+) target.
//!
//! The org gets a database of its own, a sync user `<schema>_sync@<host>` with DML rights on
//! it only (the host: the datasource's setting, else the one the daemon connects from), and
//! an application role `<schema>_app` with DML rights on the data tables. Each data table has three row triggers generated from the mapping (MySQL has no
//! generic row access): they compare every column with `<=>` on its binary form, build the
//! changed-column list and old/new values with `JSON_OBJECT`/`JSON_ARRAY` (hence the version
//! floor), skip writes whose `USER()` is the sync user, and record `USER()` — not
//! `CURRENT_USER()`, which inside a trigger names the definer. DDL is not transactional here:
//! every plan step is idempotent (`IF [NOT] EXISTS`, or a column guard checked before it).

use std::sync::Mutex;

use datenator_shared::datasource::{
    CheckKind, CheckReport, CheckResult, CheckStatus, DatasourceSettings, Secret, SyncWriterMode,
    TlsMode,
};
use sqlx::mysql::{
    MySqlConnectOptions, MySqlDatabaseError, MySqlPool, MySqlPoolOptions, MySqlSslMode,
};
use sqlx::{AssertSqlSafe, ConnectOptions as _, Connection, Executor, MySqlConnection, Row as _};

use super::bookkeeping::{
    event_counts_sql, mark_done_sql, mark_failed_sql, purge_events_sql, read_cursor_sql,
    requeue_claimed_sql, row_failed_sql, sfid_written_sql,
};
use super::check::{failed, ok, parse_version, skip_rest, tcp_probe, tls_failure};
use super::plan::{Change, Guard, Plan, PlanStep, check_plan, diff};
use super::types::{SqlValue, sql_type};
use super::{
    CURSOR_TABLE, Cursor, Dialect, Event, ObjectMapping, Position, Provisioned, RawEvent, Row,
    RowKeys, SyncCredentials, Target, TargetError, claim_token, decode_row, ident, random_password,
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
mod ddl;

const D: Dialect = Dialect::Mysql;

fn q(name: &str) -> String {
    ident::quote(D, name)
}

fn lit(s: &str) -> String {
    ident::literal(D, s)
}

/// A MariaDB/MySQL org target.
#[derive(Debug)]
pub struct MysqlTarget {
    settings: DatasourceSettings,
    schema: String,
    admin: MySqlPool,
    sync_credentials: Mutex<Option<SyncCredentials>>,
    sync_pool: Mutex<Option<MySqlPool>>,
    /// Whether the server has `FOR UPDATE SKIP LOCKED` (MariaDB 10.6+, MySQL 8.0.1+);
    /// learnt on the first claim.
    skip_locked: Mutex<Option<bool>>,
    /// The sync account's host, as set for the datasource; `None`: the host the daemon
    /// connects from, as the server sees it.
    sync_host: Option<String>,
}

fn ssl_mode(t: TlsMode) -> MySqlSslMode {
    match t {
        TlsMode::Disable => MySqlSslMode::Disabled,
        TlsMode::Prefer => MySqlSslMode::Preferred,
        TlsMode::Require => MySqlSslMode::Required,
        TlsMode::VerifyCa => MySqlSslMode::VerifyCa,
        TlsMode::VerifyFull => MySqlSslMode::VerifyIdentity,
    }
}

fn options(s: &DatasourceSettings) -> MySqlConnectOptions {
    let mut o = MySqlConnectOptions::new()
        .host(&s.host)
        .port(s.port_or_default())
        .username(&s.user)
        .ssl_mode(ssl_mode(s.tls))
        .charset("utf8mb4")
        .pipes_as_concat(false)
        .timezone(Some("+00:00".to_string()));
    if !s.database.is_empty() {
        o = o.database(&s.database);
    }
    // Provisioning runs CREATE/ALTER USER … IDENTIFIED BY: no statement text in the logs.
    o = o.disable_statement_logging();
    // An empty password must not be sent at all, or the server sees "using password: YES".
    if !s.password.is_empty() {
        o = o.password(s.password.expose());
    }
    o
}

fn errno(e: &sqlx::Error) -> Option<u16> {
    e.as_database_error()
        .and_then(|d| d.try_downcast_ref::<MySqlDatabaseError>())
        .map(|d| d.number())
}

fn db_message(e: &sqlx::Error) -> String {
    match e.as_database_error() {
        Some(d) => d.message().to_string(),
        None => e.to_string(),
    }
}

fn connect_error(s: &DatasourceSettings, e: sqlx::Error) -> TargetError {
    match errno(&e) {
        Some(1049) => TargetError::DatabaseMissing {
            database: s.database.clone(),
        },
        Some(1045) | Some(1698) => TargetError::Authentication {
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
                context: "connecting to MariaDB/MySQL".into(),
                source: other,
            },
        },
    }
}

/// The narrowest grants with which `account` can generate `schema` (the org's database):
/// everything on that one database, with the grant option (the sync user and the
/// application role get their rights from it), and CREATE USER (the sync user and the
/// role). `_` and `%` are escaped: in a GRANT they are wildcards.
fn admin_grant_fix(account: &str, schema: &str) -> String {
    format!(
        "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX, TRIGGER, CREATE TEMPORARY TABLES ON {}.* TO {account} WITH GRANT OPTION; GRANT CREATE USER ON *.* TO {account};",
        grant_db(schema)
    )
}

/// The org's database as a GRANT names it: `_` and `%` escaped, since a GRANT reads them as
/// wildcards (and the server refuses to pass on rights on a pattern wider than the
/// granter's own).
/// A name too long to escape within the 64 characters a grant's database may have is
/// named as it is (its `_` then also match other characters, as before escaping).
fn grant_db(schema: &str) -> String {
    let escaped = schema
        .replace('\\', "\\\\")
        .replace('_', "\\_")
        .replace('%', "\\%");
    if escaped.chars().count() <= 64 {
        q(&escaped)
    } else {
        q(schema)
    }
}

fn permission_or(e: sqlx::Error, account: &str, schema: &str, context: &str) -> TargetError {
    if matches!(
        errno(&e),
        Some(1044) | Some(1142) | Some(1227) | Some(1410) | Some(1419)
    ) {
        let fix = if errno(&e) == Some(1419) {
            "SET GLOBAL log_bin_trust_function_creators = 1;  -- and set it in the server's configuration".to_string()
        } else {
            admin_grant_fix(account, schema)
        };
        return TargetError::Permission {
            what: format!("{context}: {}", db_message(&e)),
            fix,
        };
    }
    TargetError::Database {
        context: context.into(),
        source: e,
    }
}

type MyQuery<'q> = sqlx::query::Query<'q, sqlx::MySql, sqlx::mysql::MySqlArguments>;

fn bind_my<'q>(q: MyQuery<'q>, v: &SqlValue) -> MyQuery<'q> {
    match v {
        SqlValue::Null => q.bind(None::<String>),
        SqlValue::Bool(b) => q.bind(*b),
        SqlValue::Int(i) => q.bind(*i),
        SqlValue::Text(s) => q.bind(s.clone()),
    }
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

impl MysqlTarget {
    pub fn new(
        settings: DatasourceSettings,
        schema: String,
        sync: Option<SyncCredentials>,
    ) -> Result<Self, TargetError> {
        let admin = MySqlPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(super::check::CONNECT_TIMEOUT * 2)
            .connect_lazy_with(options(&settings));
        Ok(Self {
            settings,
            schema: ident::fit_name(D, &schema),
            admin,
            sync_credentials: Mutex::new(sync),
            sync_pool: Mutex::new(None),
            skip_locked: Mutex::new(None),
            sync_host: None,
        })
    }

    /// Sets the sync account's host (`None`: the host the daemon connects from).
    pub fn set_sync_host(&mut self, host: Option<String>) {
        self.sync_host = host;
    }

    fn qs(&self, name: &str) -> String {
        ident::qualified(D, &self.schema, name)
    }

    /// The sync account's user name for this database.
    pub fn sync_user(&self) -> String {
        ident::mysql_sync_user(&self.schema)
    }

    fn engine_pool(&self) -> Result<MySqlPool, TargetError> {
        let mut guard = self.sync_pool.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = guard.as_ref() {
            return Ok(p.clone());
        }
        let creds = self
            .sync_credentials
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| TargetError::NotProvisioned {
                schema: self.schema.clone(),
            })?;
        let opts = options(&self.settings)
            .username(&creds.user)
            .password(creds.password.expose())
            .database(&self.schema);
        let pool = MySqlPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(super::check::CONNECT_TIMEOUT * 2)
            .connect_lazy_with(opts);
        *guard = Some(pool.clone());
        Ok(pool)
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
        let fields: Vec<_> = m.data_fields().collect();
        let ncols = fields.len() + 2;
        let table = self.qs(&m.table(D));
        let mut cols = vec!["`sfid`".to_string(), "`systemmodstamp`".to_string()];
        cols.extend(fields.iter().map(|f| q(&f.column(D))));
        // Salesforce stamps whole seconds: a record changed again within the second it was
        // read has the same stamp and must still be written when its values differ.
        let same_second_changed = if fields.is_empty() {
            "FALSE".to_owned()
        } else {
            format!(
                "NOT ({})",
                fields
                    .iter()
                    .map(|f| {
                        let c = q(&f.column(D));
                        format!("{c} <=> VALUES({c})")
                    })
                    .collect::<Vec<_>>()
                    .join(" AND ")
            )
        };
        let newer = format!(
            "(`systemmodstamp` IS NULL OR VALUES(`systemmodstamp`) IS NULL OR `systemmodstamp` < VALUES(`systemmodstamp`) OR (`systemmodstamp` = VALUES(`systemmodstamp`) AND {same_second_changed}))"
        );
        // Assignments run in order and later ones see earlier results: the row's state goes
        // first (while every value is the old one); a column that differs still differs
        // when its own turn comes, so each is written exactly when it should be.
        let mut sets: Vec<String> = vec![
            format!("`_dn_state` = IF({newer}, 'SYNCED', `_dn_state`)"),
            format!("`_dn_error` = IF({newer}, NULL, `_dn_error`)"),
        ];
        sets.extend(fields.iter().map(|f| {
            let c = q(&f.column(D));
            format!("{c} = IF({newer}, VALUES({c}), {c})")
        }));
        // Last: the conditions above read the old value.
        sets.push(format!(
            "`systemmodstamp` = IF({newer}, VALUES(`systemmodstamp`), `systemmodstamp`)"
        ));
        let row_ph = format!("({}, 'SYNCED', NULL)", placeholders(ncols));
        let pool = self.engine_pool()?;
        let mut tx = pool
            .begin()
            .await
            .map_err(|e| connect_error(&self.settings, e))?;
        let mut kept;
        let rows = if keep_pending && !rows.is_empty() {
            // A local change committed from here on waits for this transaction.
            for chunk in rows.chunks(1000) {
                let mut lock = sqlx::query(AssertSqlSafe(format!(
                    "SELECT 1 FROM {table} WHERE `sfid` IN ({}) ORDER BY `id` FOR UPDATE",
                    placeholders(chunk.len())
                )));
                for r in chunk {
                    lock = lock.bind(r.sfid.clone());
                }
                lock.execute(&mut *tx)
                    .await
                    .map_err(TargetError::db("locking the pulled rows"))?;
            }
            kept = rows.to_vec();
            report.kept_local = super::keep_pending_local(self, m, &mut kept).await?;
            &kept[..]
        } else {
            rows
        };
        let converted = convert_rows(D, m, rows, lenient, &mut report.rejected)?;
        write_chunks::<sqlx::MySql, _>(
            &mut tx,
            &converted,
            30_000 / ncols,
            lenient,
            &format!("upserting rows into {}", m.table(D)),
            &mut report,
            |conn, chunk| {
                let sql = format!(
                    "INSERT INTO {table} ({}, `_dn_state`, `_dn_error`) VALUES {} ON DUPLICATE KEY UPDATE {}",
                    cols.join(", "),
                    vec![row_ph.as_str(); chunk.len()].join(", "),
                    sets.join(", ")
                );
                Box::pin(async move {
                    let mut query = sqlx::query(AssertSqlSafe(sql));
                    for (r, vals) in chunk {
                        query = query
                            .bind(r.sfid.clone())
                            .bind(r.systemmodstamp.map(|t| t.naive_utc()));
                        for v in vals {
                            query = bind_my(query, v);
                        }
                    }
                    Ok(query.execute(conn).await?.rows_affected())
                })
            },
        )
        .await?;
        if let Some(Position { key, cursor: c }) = cursor {
            sqlx::query(AssertSqlSafe(format!(
                "INSERT INTO {} (`object`, `systemmodstamp`, `last_id`, `updated_at`) VALUES (?, ?, ?, UTC_TIMESTAMP(3)) ON DUPLICATE KEY UPDATE `systemmodstamp` = VALUES(`systemmodstamp`), `last_id` = VALUES(`last_id`), `updated_at` = VALUES(`updated_at`)",
                self.qs(CURSOR_TABLE)
            )))
            .bind(key)
            .bind(c.systemmodstamp.naive_utc())
            .bind(&c.last_id)
            .execute(&mut *tx)
            .await
            .map_err(TargetError::db("storing the pull cursor"))?;
        }
        tx.commit()
            .await
            .map_err(TargetError::db("committing the upsert"))?;
        Ok(report)
    }

    /// Uses the single-UPDATE claim even where SKIP LOCKED exists (tests of the fallback).
    #[doc(hidden)]
    pub fn force_claim_update(&self) {
        *self.skip_locked.lock().unwrap_or_else(|e| e.into_inner()) = Some(false);
    }

    async fn supports_skip_locked(&self, pool: &MySqlPool) -> Result<bool, TargetError> {
        let known = *self.skip_locked.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = known {
            return Ok(k);
        }
        let v: String = sqlx::query("SELECT VERSION()")
            .fetch_one(pool)
            .await
            .map_err(TargetError::db("reading the server version"))?
            .get(0);
        let yes = skip_locked_supported(&v);
        *self.skip_locked.lock().unwrap_or_else(|e| e.into_inner()) = Some(yes);
        Ok(yes)
    }

    /// Locks up to `max` NEW events, skipping those another claimer holds, and stamps them
    /// with `token`: claimers never wait for each other.
    async fn claim_skip_locked(
        &self,
        pool: &MySqlPool,
        ev: &str,
        token: &str,
        max: usize,
    ) -> Result<(), sqlx::Error> {
        let mut tx = pool.begin().await?;
        let ids: Vec<i64> = sqlx::query(AssertSqlSafe(format!(
            "SELECT `id` FROM {ev} WHERE `state` = 'NEW' ORDER BY `id` LIMIT ? FOR UPDATE SKIP LOCKED"
        )))
        .bind(max as u64)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
        if !ids.is_empty() {
            let mut q = sqlx::query(AssertSqlSafe(format!(
                "UPDATE {ev} SET `state` = 'CLAIMED', `claim_token` = ?, `claimed_at` = UTC_TIMESTAMP(3) WHERE `id` IN ({})",
                placeholders(ids.len())
            )))
            .bind(token);
            for id in &ids {
                q = q.bind(*id);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await
    }

    /// One atomic UPDATE claims the batch; works on every supported version. Claimers of
    /// one events table take turns through a named lock (`GET_LOCK`), so their UPDATEs never
    /// deadlock each other; a concurrent claimer then sees the rows as CLAIMED and never
    /// takes the same event.
    async fn claim_update(
        &self,
        pool: &MySqlPool,
        ev: &str,
        token: &str,
        max: usize,
    ) -> Result<(), sqlx::Error> {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(ev.as_bytes());
        let lock: String = format!(
            "datenator_claim_{}",
            digest[..12]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        let mut conn = pool.acquire().await?;
        sqlx::query("SELECT GET_LOCK(?, 60)")
            .bind(&lock)
            .execute(&mut *conn)
            .await?;
        let r = sqlx::query(AssertSqlSafe(format!(
            "UPDATE {ev} SET `state` = 'CLAIMED', `claim_token` = ?, `claimed_at` = UTC_TIMESTAMP(3) WHERE `state` = 'NEW' ORDER BY `id` LIMIT ?"
        )))
        .bind(token)
        .bind(max as u64)
        .execute(&mut *conn)
        .await;
        let released = sqlx::query("SELECT RELEASE_LOCK(?)")
            .bind(&lock)
            .execute(&mut *conn)
            .await;
        r?;
        released?;
        Ok(())
    }

    async fn claim_impl(&self, m: &ObjectMapping, max: usize) -> Result<Vec<Event>, TargetError> {
        let ev = self.qs(&m.events_table(D));
        let token = claim_token();
        let pool = self.engine_pool()?;
        let skip_locked = self.supports_skip_locked(&pool).await?;
        let mut attempt: u64 = 0;
        loop {
            let r = if skip_locked {
                self.claim_skip_locked(&pool, &ev, &token, max).await
            } else {
                self.claim_update(&pool, &ev, &token, max).await
            };
            match r {
                Ok(()) => break,
                // InnoDB may still pick a claimer as a deadlock victim (an application's
                // transaction can be the other party): back off a little and retry.
                Err(e) if errno(&e) == Some(1213) && attempt < 10 => {
                    attempt += 1;
                    let jitter = rand::random::<u64>() % 10;
                    tokio::time::sleep(std::time::Duration::from_millis(attempt * 5 + jitter))
                        .await;
                }
                Err(e) => {
                    return Err(TargetError::db(format!(
                        "claiming events of {}",
                        m.table(D)
                    ))(e));
                }
            }
        }
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT `id`, `op`, `row_id`, `sfid`, `changed`, `old_values`, `new_values`, `db_user`, `created_at` FROM {ev} WHERE `claim_token` = ? ORDER BY `id`"
        )))
        .bind(&token)
        .fetch_all(&pool)
        .await
        .map_err(TargetError::db(format!("reading claimed events of {}", m.table(D))))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(raw_event(&r).decode(D, m)?);
        }
        Ok(out)
    }
}

/// Bytes of VARCHAR a table may declare: MySQL limits a row's definition to 65,535 bytes
/// (TEXT columns count a few bytes), utf8mb4 counts 4 bytes a character; the rest is
/// headroom for the built-in columns.
const VARCHAR_BUDGET: u64 = 60_000;

/// `FOR UPDATE SKIP LOCKED`: MariaDB 10.6+, MySQL 8.0.1+.
fn skip_locked_supported(v: &str) -> bool {
    let ver = parse_version(
        v.split("-MariaDB")
            .next()
            .unwrap_or(v)
            .trim_start_matches("5.5.5-"),
    );
    if v.contains("MariaDB") {
        ver >= (10, 6, 0)
    } else {
        ver >= (8, 0, 1)
    }
}

impl Target for MysqlTarget {
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
            .fetch_optional(&self.engine_pool()?)
            .await
            .map_err(TargetError::db("reading the pull cursor"))?;
        Ok(row.map(|r| Cursor {
            systemmodstamp: r.get::<chrono::NaiveDateTime, _>(0).and_utc(),
            last_id: r.get(1),
        }))
    }

    async fn leave_rows(
        &self,
        mapping: &ObjectMapping,
        sfids: &[String],
        how: RowsLeave,
    ) -> Result<u64, TargetError> {
        let mut tx = self
            .engine_pool()?
            .begin()
            .await
            .map_err(TargetError::db("starting a transaction"))?;
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
            .execute(&self.engine_pool()?)
            .await
            .map_err(TargetError::db("forgetting the pull cursor"))?;
        Ok(())
    }

    async fn bulk_load(&self, mapping: &ObjectMapping, rows: &[Row]) -> Result<u64, TargetError> {
        Ok(self
            .upsert_impl(mapping, rows, None, false, false)
            .await?
            .written)
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
        .execute(&self.engine_pool()?)
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
        let pool = self.engine_pool()?;
        for chunk in ids.chunks(1000) {
            sqlx::query(AssertSqlSafe(mark_done_sql(
                D,
                &self.qs(&mapping.events_table(D)),
                chunk,
                not_sent,
            )))
            .execute(&pool)
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
        let pool = self.engine_pool()?;
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
        let mut pairs: Vec<String> = ["id", "sfid", "systemmodstamp", "_dn_state", "_dn_error"]
            .iter()
            .map(|c| format!("{}, {}", lit(c), q(c)))
            .collect();
        pairs.extend(mapping.data_fields().map(|f| {
            let c = f.column(D);
            format!("{}, {}", lit(&c), q(&c))
        }));
        let pool = self.engine_pool()?;
        let mut out = Vec::new();
        for chunk in keys.chunks(1000) {
            let mut query = sqlx::query(AssertSqlSafe(format!(
                "SELECT CAST(JSON_OBJECT({}) AS CHAR) FROM {} WHERE {} IN ({}) ORDER BY `id`",
                pairs.join(", "),
                self.qs(&mapping.table(D)),
                q(keys.column()),
                placeholders(chunk.len())
            )));
            for key in &chunk {
                query = bind_my(query, key);
            }
            for r in query
                .fetch_all(&pool)
                .await
                .map_err(TargetError::db(format!(
                    "reading rows of {}",
                    mapping.table(D)
                )))?
            {
                out.push(decode_row(D, mapping, &r.get::<String, _>(0))?);
            }
        }
        Ok(out)
    }

    async fn event_counts(&self, mapping: &ObjectMapping) -> Result<EventCounts, TargetError> {
        let rows = sqlx::query(AssertSqlSafe(event_counts_sql(
            D,
            &self.qs(&mapping.events_table(D)),
        )))
        .fetch_all(&self.engine_pool()?)
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
        .bind(before.naive_utc())
        .execute(&self.engine_pool()?)
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
        let mut tx = self
            .engine_pool()?
            .begin()
            .await
            .map_err(TargetError::db("starting a transaction"))?;
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
        let pool = self.engine_pool()?;
        let mut out = Vec::new();
        for chunk in sfids.chunks(1000) {
            let mut query = sqlx::query(AssertSqlSafe(pending_fields_sql(
                D,
                &table,
                &events,
                chunk.len(),
                "e.`changed`",
            )));
            for s in chunk {
                query = query.bind(s.clone());
            }
            let rows = query
                .fetch_all(&pool)
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
        let sql = write_fields_sql(D, &self.qs(&mapping.table(D)), &fields, |_, _| "?".into());
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (_, was, v) in &vals {
            query = bind_my(bind_my(query, was), v);
        }
        query
            .bind(sfid.to_owned())
            .execute(&self.engine_pool()?)
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
            .engine_pool()?
            .begin()
            .await
            .map_err(TargetError::db("starting the backfill's transaction"))?;
        write_chunks::<sqlx::MySql, _>(
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
                    |_, _| "?".into(),
                );
                Box::pin(async move {
                    let mut query = sqlx::query(AssertSqlSafe(sql));
                    for (r, vals) in chunk {
                        query = query.bind(r.sfid.clone());
                        for v in vals {
                            query = bind_my(query, v);
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
        .fetch_one(&self.engine_pool()?)
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
            " AND `systemmodstamp` IS NOT NULL"
        } else {
            ""
        };
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT `sfid` FROM {} WHERE `sfid` IS NOT NULL{read_back}",
            self.qs(&mapping.table(D))
        )))
        .fetch_all(&self.engine_pool()?)
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
            "SELECT `id`, `op`, `row_id`, `sfid`, `changed`, `old_values`, `new_values`, `db_user`, `created_at`, `error` FROM {} WHERE `state` = 'FAILED' ORDER BY `id` LIMIT ?",
            self.qs(&mapping.events_table(D))
        )))
        .bind(limit as i64)
        .fetch_all(&self.engine_pool()?)
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
            "",
        )))
        .bind(limit as i64)
        .fetch_all(&self.engine_pool()?)
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
            .engine_pool()?
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
fn raw_event(r: &sqlx::mysql::MySqlRow) -> RawEvent {
    RawEvent {
        id: r.get(0),
        op: r.get(1),
        row_id: r.get(2),
        sfid: r.get(3),
        changed: r.get(4),
        old_values: r.get(5),
        new_values: r.get(6),
        db_user: r.get(7),
        created_at: r.get::<chrono::NaiveDateTime, _>(8).and_utc(),
    }
}

#[cfg(test)]
mod tests {
    use super::check::version_result;
    use super::ddl::account_literal;
    use super::*;

    #[test]
    fn version_floor_needs_json_functions() {
        assert_eq!(
            version_result("10.11.19-MariaDB-0+deb12u1").status,
            CheckStatus::Ok
        );
        assert_eq!(version_result("10.2.3-MariaDB").status, CheckStatus::Ok);
        let old = version_result("10.1.48-MariaDB");
        assert_eq!(old.status, CheckStatus::Failed);
        assert!(old.message.contains("JSON_OBJECT") && old.message.contains("10.2.3"));
        assert_eq!(
            version_result("5.5.5-10.1.2-MariaDB").status,
            CheckStatus::Failed
        );
        assert_eq!(version_result("5.7.8").status, CheckStatus::Ok);
        assert_eq!(version_result("5.7.7-log").status, CheckStatus::Failed);
        assert_eq!(version_result("8.0.36").status, CheckStatus::Ok);
    }

    #[test]
    fn skip_locked_versions() {
        assert!(skip_locked_supported("10.11.19-MariaDB-0+deb12u1"));
        assert!(!skip_locked_supported("10.5.2-MariaDB"));
        assert!(skip_locked_supported("8.0.36"));
        assert!(!skip_locked_supported("5.7.44"));
    }

    #[test]
    fn account_literals() {
        assert_eq!(account_literal("root@localhost"), "'root'@'localhost'");
        assert_eq!(
            account_literal("a@b@%"),
            "CONVERT(X'614062' USING utf8mb4)@'%'"
        );
    }
}
