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

use super::FieldSpec;
use super::bookkeeping::Bookkeeping;
use super::check::{
    CHECKS, LoginRefused, db_message, failed, logged_in, login_refused, ok, parse_version,
    skip_rest, tcp_probe,
};
use super::fence::{Fence, MYSQL_FENCED_TX_SETUP, MYSQL_SESSION_RESET};
use super::plan::{Change, Guard, Plan, PlanStep, check_plan};
use super::types::sql_type;
use super::{
    CURSOR_TABLE, Dialect, Event, ObjectMapping, Position, Provisioned, Row, RowKeys,
    SyncCredentials, Target, TargetError, claim_token, decode_row, ident, random_password,
};
use super::{StoredRow, UpsertReport, convert_rows};

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
    fence: Option<Fence>,
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
            fence: None,
        })
    }

    /// The engine's writes carry `fence` from now on (see [`super::fence`]).
    pub(crate) fn set_fence(&mut self, fence: Fence) {
        self.fence = Some(fence);
        // The engine's pool is built for fenced transactions (see `engine_pool`).
        *self.sync_pool.get_mut().unwrap_or_else(|e| e.into_inner()) = None;
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
        let mut pool = MySqlPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(super::check::CONNECT_TIMEOUT * 2);
        if self.fence.is_some() {
            // A fenced transaction shortened the session's wait_timeout: back to the server's.
            pool = pool.after_release(|conn, _| {
                Box::pin(async move {
                    conn.execute(MYSQL_SESSION_RESET).await?;
                    Ok(true)
                })
            });
        }
        let pool = pool.connect_lazy_with(opts);
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
        let mut tx = self.begin().await?;
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
        Self::write_rows(&mut tx, &converted, 30_000 / ncols, lenient, m, &mut report, |n| {
            format!(
                "INSERT INTO {table} ({}, `_dn_state`, `_dn_error`) VALUES {} ON DUPLICATE KEY UPDATE {}",
                cols.join(", "),
                vec![row_ph.as_str(); n].join(", "),
                sets.join(", ")
            )
        })
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
        ev: &str,
        token: &str,
        max: usize,
        context: &str,
    ) -> Result<(), TargetError> {
        let mut tx = self.begin().await?;
        let ids: Vec<i64> = sqlx::query(AssertSqlSafe(format!(
            "SELECT `id` FROM {ev} WHERE `state` = 'NEW' ORDER BY `id` LIMIT ? FOR UPDATE SKIP LOCKED"
        )))
        .bind(max as u64)
        .fetch_all(&mut *tx)
        .await
        .map_err(TargetError::db(context))?
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
            q.execute(&mut *tx)
                .await
                .map_err(TargetError::db(context))?;
        }
        self.commit(tx).await
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
        context: &str,
    ) -> Result<(), TargetError> {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(ev.as_bytes());
        let lock: String = format!(
            "datenator_claim_{}",
            digest[..12]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        let mut conn = pool
            .acquire()
            .await
            .map_err(|e| connect_error(&self.settings, e))?;
        if self.fence.is_some() {
            // A holder frozen with the named lock loses it with its connection (see
            // MYSQL_FENCED_TX_SETUP), as it would a fenced transaction.
            sqlx::query(MYSQL_FENCED_TX_SETUP)
                .execute(&mut *conn)
                .await
                .map_err(TargetError::db(context))?;
        }
        let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, 60)")
            .bind(&lock)
            .fetch_one(&mut *conn)
            .await
            .map_err(TargetError::db(context))?;
        if got != Some(1) {
            return Err(TargetError::Busy(format!(
                "{context}: another claimer held the events' claim lock {lock} for 60 s; the claim is tried again"
            )));
        }
        // The UPDATE in a transaction of its own, fenced, committed before the lock goes.
        let r = async {
            let mut tx = conn.begin().await.map_err(TargetError::db(context))?;
            if let Err(e) = self.fence_tx(&mut tx).await {
                let _ = tx.rollback().await;
                return Err(e);
            }
            sqlx::query(AssertSqlSafe(format!(
                "UPDATE {ev} SET `state` = 'CLAIMED', `claim_token` = ?, `claimed_at` = UTC_TIMESTAMP(3) WHERE `state` = 'NEW' ORDER BY `id` LIMIT ?"
            )))
            .bind(token)
            .bind(max as u64)
            .execute(&mut *tx)
            .await
            .map_err(TargetError::db(context))?;
            tx.commit().await.map_err(TargetError::db(context))
        }
        .await;
        let released = sqlx::query("SELECT RELEASE_LOCK(?)")
            .bind(&lock)
            .execute(&mut *conn)
            .await
            .map_err(TargetError::db("releasing the claim lock"));
        r?;
        released?;
        Ok(())
    }

    async fn claim_impl(&self, m: &ObjectMapping, max: usize) -> Result<Vec<Event>, TargetError> {
        let ev = self.qs(&m.events_table(D));
        let token = claim_token();
        let pool = self.engine_pool()?;
        let skip_locked = self.supports_skip_locked(&pool).await?;
        let context = format!("claiming events of {}", m.table(D));
        let mut attempt: u64 = 0;
        loop {
            let r = if skip_locked {
                self.claim_skip_locked(&ev, &token, max, &context).await
            } else {
                self.claim_update(&pool, &ev, &token, max, &context).await
            };
            match r {
                Ok(()) => break,
                // InnoDB may still pick a claimer as a deadlock victim (an application's
                // transaction can be the other party): back off a little and retry.
                Err(TargetError::Database { source, .. })
                    if errno(&source) == Some(1213) && attempt < 10 =>
                {
                    attempt += 1;
                    let jitter = rand::random::<u64>() % 10;
                    tokio::time::sleep(std::time::Duration::from_millis(attempt * 5 + jitter))
                        .await;
                }
                Err(e) => return Err(e),
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
            out.push(Self::raw_event(&r).decode(D, m)?);
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

impl Bookkeeping for MysqlTarget {
    type Db = sqlx::MySql;
    type Time = chrono::NaiveDateTime;
    const DIALECT: Dialect = D;
    const DONE_CHUNK: Option<usize> = Some(1000);
    const BIND_CHUNK: usize = 1000;
    const JSON_TEXT: &'static str = "";
    const FENCE_SHARE: &'static str = " LOCK IN SHARE MODE";
    const FENCE_CLAIM: &'static str = " FOR UPDATE";
    const FENCED_TX_SETUP: Option<&'static str> = Some(MYSQL_FENCED_TX_SETUP);
    const FENCE_TAGGED: bool = false;
    const FENCE_CLAIM_SETUP: Option<&'static str> = None;

    fn value_placeholder(_: &FieldSpec, _: usize) -> String {
        "?".into()
    }

    fn table_name(&self, name: &str) -> String {
        self.qs(name)
    }

    fn pool(&self) -> Result<MySqlPool, TargetError> {
        self.engine_pool()
    }

    fn fence(&self) -> Option<Fence> {
        self.fence
    }

    async fn open_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::MySql>, TargetError> {
        self.engine_pool()?
            .begin()
            .await
            .map_err(|e| connect_error(&self.settings, e))
    }

    async fn commit(&self, tx: sqlx::Transaction<'static, sqlx::MySql>) -> Result<(), TargetError> {
        tx.commit().await.map_err(TargetError::db("committing"))
    }

    fn time_to_db(t: &chrono::DateTime<chrono::Utc>) -> Self::Time {
        t.naive_utc()
    }

    fn time_from_db(v: Self::Time) -> Result<chrono::DateTime<chrono::Utc>, String> {
        Ok(v.and_utc())
    }
}

impl Target for MysqlTarget {
    super::bookkeeping::target_methods!();

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
                query = Self::bind_value(query, key);
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
