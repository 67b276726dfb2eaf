//! The daemon's own state: an SQLite database in the state directory (orgs, credentials,
//! datasources, cached metadata, mappings, settings), migrated by sqlx at start.
mod backfills;
mod conflicts;
mod creates;
mod datasources;
pub mod fleet;
mod mappings;
mod metadata;
mod orgs;
mod reloads;
mod removed_fields;
pub mod sealed;

pub use sealed::{SealError, Sealer};

pub use backfills::PendingBackfill;
pub use datasources::DatasourceRow;
pub use mappings::{MappingRow, NewMapping};
pub use metadata::CachedObject;
pub use orgs::{NewOrg, StoredCredentials};
pub use reloads::PendingReload;
use std::borrow::Cow;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use datenator_shared::model::{ApiUsage, AuthState, OrgSummary};
use sqlx::AnyPool;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions as _, Connection as _, Executor as _, Row};

/// The state database's file name inside the state directory.
pub const STATE_DB_FILE: &str = "state.db";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "cannot create the state directory {path}: {source}; create it and make it writable by the daemon's user, or pass --state-dir",
        path = .path.display()
    )]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the state database {location}: {source}; {hint}")]
    Open {
        location: String,
        source: sqlx::Error,
        hint: &'static str,
    },
    #[error(
        "cannot upgrade the state database {location}: {source}; was it written by a newer datenatord? Restore a backup or use the newer version"
    )]
    Migrate {
        location: String,
        source: sqlx::migrate::MigrateError,
    },
    #[error(
        "[daemon] state_url must be a postgres:// URL (the fleet shares its state through PostgreSQL; leave it out for one daemon's SQLite state): got {0}"
    )]
    NotPostgres(String),
    #[error("state database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error(
        "the state database holds a value this datenatord does not know ({0}); was it written by a newer version? Restore a backup or use the newer version"
    )]
    Corrupt(String),
    #[error("{0}")]
    Sealed(#[from] SealError),
}

/// The columns holding secrets, sealed at rest: (table, key column, column).
const SECRET_COLUMNS: [(&str, &str, &str); 5] = [
    ("credentials", "org_name", "client_secret"),
    ("credentials", "org_name", "refresh_token"),
    ("credentials", "org_name", "access_token"),
    ("datasources", "org_name", "settings_json"),
    ("datasources", "org_name", "sync_password"),
];

/// Which database holds the state: one daemon's SQLite file, or a fleet's PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A handle on the state database; cheap to clone. Every statement is written once, with
/// `?` placeholders, and runs on either backend ([`Store::sql`]).
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The file (SQLite) or the URL without its password (PostgreSQL), for messages.
    location: String,
    /// Seals the secrets it stores (see [`sealed`]).
    sealer: Sealer,
}

/// A URL as it may be shown: without its password.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            let pairs: Vec<(String, String)> = u
                .query_pairs()
                .map(|(k, v)| {
                    let v = if k.eq_ignore_ascii_case("password") {
                        "***".to_owned()
                    } else {
                        v.into_owned()
                    };
                    (k.into_owned(), v)
                })
                .collect();
            if !pairs.is_empty() {
                u.query_pairs_mut().clear().extend_pairs(pairs);
            }
            u.to_string()
        }
        Err(_) => "(an unreadable URL)".into(),
    }
}

impl Store {
    /// Opens (creating and migrating as needed) the state database in `dir`, its secrets
    /// sealed with the key of `dir` (made on first use).
    pub async fn open(dir: &Path) -> Result<Store, StoreError> {
        Store::open_with_key(dir, None).await
    }

    /// Opens the state database in `dir`, its secrets sealed with the key in `key_file`, or
    /// systemd's credential, or the key of `dir` (see [`Sealer::load`]). Secrets stored
    /// before sealing are sealed now; a key that does not open the stored ones is refused.
    pub async fn open_with_key(dir: &Path, key_file: Option<&Path>) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(STATE_DB_FILE);
        // Create the file ourselves so it is 0600 from its first byte, whatever the umask.
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .and_then(|_| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)))
            .map_err(|source| StoreError::CreateDir {
                path: path.clone(),
                source,
            })?;
        let location = path.display().to_string();
        let open_error = |source| StoreError::Open {
            location: location.clone(),
            source,
            hint: "check that the file and its directory belong to the daemon's user",
        };
        // Write-ahead logging is a property of the file: set once, it stays.
        let file = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
        file.connect()
            .await
            .map_err(open_error)?
            .close()
            .await
            .map_err(open_error)?;
        let url = url::Url::from_file_path(&path)
            .map(|u| format!("sqlite://{}?mode=rwc", u.path()))
            .map_err(|()| StoreError::CreateDir {
                path: path.clone(),
                source: std::io::Error::other("not an absolute path"),
            })?;
        let pool = AnyPoolOptions::new()
            .max_connections(4)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    // Foreign keys on; a secret's update overwrites what it replaces
                    // instead of leaving it in a free page; wait for a busy writer.
                    conn.execute(
                        "PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON; PRAGMA busy_timeout = 10000",
                    )
                    .await?;
                    Ok(())
                })
            })
            .connect_with(url.parse::<AnyConnectOptions>().map_err(open_error)?)
            .await
            .map_err(open_error)?;
        let sealer = Sealer::load(key_file, dir)?;
        Store::ready(pool, Backend::Sqlite, location, sealer).await
    }

    /// Connects to a fleet's shared state database (`[daemon] state_url`), migrating it as
    /// needed (one daemon at a time: the migrations take a lock). Its secrets are sealed
    /// with the fleet's key, which every daemon must be given ([`Sealer::load_shared`]).
    pub async fn connect(
        url: &str,
        key_file: Option<&Path>,
        state_dir: &Path,
    ) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let location = redact_url(url);
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(StoreError::NotPostgres(location));
        }
        let open_error = |source| StoreError::Open {
            location: location.clone(),
            source,
            hint: "check that PostgreSQL runs there, that the URL's user may log in, and that the database exists (createdb)",
        };
        let options: AnyConnectOptions = url.parse().map_err(open_error)?;
        let pool = AnyPoolOptions::new()
            .max_connections(6)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(open_error)?;
        let sealer = Sealer::load_shared(key_file, state_dir)?;
        Store::ready(pool, Backend::Postgres, location, sealer).await
    }

    /// Migrates the state database (same versions on both backends) and seals what an
    /// earlier version stored in clear.
    async fn ready(
        pool: AnyPool,
        backend: Backend,
        location: String,
        sealer: Sealer,
    ) -> Result<Store, StoreError> {
        let migrated = match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await,
            Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await,
        };
        migrated.map_err(|source| StoreError::Migrate {
            location: location.clone(),
            source,
        })?;
        let store = Store {
            pool,
            backend,
            location,
            sealer,
        };
        store.seal_stored_secrets().await?;
        Ok(store)
    }

    /// A statement written with `?` placeholders, as the backend takes it (PostgreSQL
    /// numbers them: `$1`, `$2`…). Quoted text is left alone.
    pub(super) fn sql(&self, statement: &'static str) -> AssertSqlSafe<Cow<'static, str>> {
        AssertSqlSafe(match self.backend {
            Backend::Sqlite => Cow::Borrowed(statement),
            Backend::Postgres => Cow::Owned(numbered_placeholders(statement)),
        })
    }

    /// Like [`Store::sql`], for a statement built at run time.
    pub(super) fn sql_owned(&self, statement: String) -> AssertSqlSafe<Cow<'static, str>> {
        AssertSqlSafe(match self.backend {
            Backend::Sqlite => Cow::Owned(statement),
            Backend::Postgres => Cow::Owned(numbered_placeholders(&statement)),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Seals a secret for storing.
    pub(super) fn seal(&self, secret: &str) -> String {
        self.sealer.seal(secret)
    }

    /// Seals an optional secret.
    pub(super) fn seal_opt(&self, secret: Option<&str>) -> Option<String> {
        secret.map(|s| self.sealer.seal(s))
    }

    /// Opens a stored secret.
    pub(super) fn unseal(&self, stored: Option<String>) -> Result<Option<String>, StoreError> {
        stored
            .map(|s| self.sealer.open(&s).map_err(StoreError::from))
            .transpose()
    }

    /// Seals the secrets written before sealing existed, and checks that the key opens the
    /// ones sealed before (one of each column is enough: one key seals them all).
    async fn seal_stored_secrets(&self) -> Result<(), StoreError> {
        for (table, key, column) in SECRET_COLUMNS {
            let rows: Vec<(String, String)> = sqlx::query_as(self.sql_owned(format!(
                "SELECT {key}, {column} FROM {table} WHERE {column} IS NOT NULL"
            )))
            .fetch_all(&self.pool)
            .await?;
            let mut checked = false;
            for (id, value) in rows {
                if Sealer::is_sealed(&value) {
                    if !checked {
                        self.sealer.open(&value)?;
                        checked = true;
                    }
                    continue;
                }
                sqlx::query(
                    self.sql_owned(format!("UPDATE {table} SET {column} = ? WHERE {key} = ?")),
                )
                .bind(self.seal(&value))
                .bind(id)
                .execute(&self.pool)
                .await?;
            }
        }
        Ok(())
    }

    /// The state database: its file, or its URL without the password.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The SQLite file (tests).
    #[cfg(test)]
    pub fn path(&self) -> &Path {
        Path::new(&self.location)
    }

    pub(super) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub async fn org_count(&self) -> Result<usize, StoreError> {
        let n: i64 = sqlx::query_scalar(self.sql("SELECT COUNT(*) FROM orgs"))
            .fetch_one(&self.pool)
            .await?;
        Ok(n as usize)
    }

    /// The Orgs screen's rows, by name.
    pub async fn org_summaries(&self) -> Result<Vec<OrgSummary>, StoreError> {
        let rows = sqlx::query(self.sql("SELECT o.name, o.org_id, o.org_type, o.custom_domain, o.instance_url, o.sync_enabled,
                    o.auth_json, o.metadata_downloaded_at, o.api_used, o.api_max,
                    o.polling_interval_secs, o.api_budget_percent, o.pinned_daemon,
                    COALESCE(d.check_ok, 0) AS check_ok, COALESCE(d.schema_generated, 0) AS schema_generated
               FROM orgs o LEFT JOIN datasources d ON d.org_name = o.name
              ORDER BY o.name"),
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let org_type = orgs::org_type_from_columns(
                &row.try_get::<String, _>("org_type")?,
                row.try_get("custom_domain")?,
            );
            let downloaded: Option<String> = row.try_get("metadata_downloaded_at")?;
            let api_used: Option<i64> = row.try_get("api_used")?;
            let api_max: Option<i64> = row.try_get("api_max")?;
            out.push(OrgSummary {
                name: row.try_get("name")?,
                org_id: row.try_get("org_id")?,
                org_type,
                instance_url: row.try_get("instance_url")?,
                sync_enabled: row.try_get::<i64, _>("sync_enabled")? != 0,
                datasource_checked: row.try_get::<i64, _>("check_ok")? != 0,
                schema_generated: row.try_get::<i64, _>("schema_generated")? != 0,
                metadata_downloaded_at: downloaded
                    .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
                    .map(|d| d.with_timezone(&Utc)),
                auth: serde_json::from_str::<AuthState>(&row.try_get::<String, _>("auth_json")?)
                    .unwrap_or(AuthState::Failed {
                        error: "unreadable authorization state".into(),
                    }),
                polling_interval_secs: row.try_get::<i64, _>("polling_interval_secs")? as u32,
                api_budget_percent: row.try_get::<i64, _>("api_budget_percent")?.clamp(1, 100)
                    as u8,
                api_usage: match (api_used, api_max) {
                    (Some(used), Some(max)) => Some(ApiUsage {
                        used: used as u64,
                        max: max as u64,
                    }),
                    _ => None,
                },
                api_forecast: None,
                refresh_error: None,
                event_allocation: None,
                run_by: None,
                pinned_to: row.try_get("pinned_daemon")?,
            });
        }
        Ok(out)
    }
}

/// `?` placeholders numbered as PostgreSQL takes them, skipping quoted text.
fn numbered_placeholders(statement: &str) -> String {
    let mut out = String::with_capacity(statement.len() + 8);
    let (mut n, mut quote) = (0, None::<char>);
    for c in statement.chars() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '?') => {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
pub(crate) mod roundtrip_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use datenator_shared::model::OrgType;

    #[tokio::test]
    async fn opens_migrates_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        assert_eq!(store.org_count().await.unwrap(), 0);
        assert!(store.org_summaries().await.unwrap().is_empty());
        let mode = std::fs::metadata(store.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        store.close().await;
        // Opening again runs no migration twice.
        let again = Store::open(dir.path()).await.unwrap();
        assert_eq!(again.org_count().await.unwrap(), 0);
    }

    /// Secrets are sealed at rest: tokens and client secrets written by the store never
    /// reach the file in clear; ones written before sealing are sealed at the next open;
    /// another key is refused at open, in words.
    #[tokio::test]
    async fn secrets_are_sealed_at_rest_and_open_only_with_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        store
            .insert_org(&NewOrg {
                name: "acme".into(),
                org_type: OrgType::Production,
                flow: "device".into(),
                client_id: "cid".into(),
                client_secret: Some("the-client-secret".into()),
                username: None,
                auth: datenator_shared::model::AuthState::Authorized,
            })
            .await
            .unwrap();
        store
            .set_authorized(
                "acme",
                None,
                None,
                "https://x",
                "the-access-token",
                Some("the-refresh-token"),
                None,
            )
            .await
            .unwrap();
        let c = store.credentials("acme").await.unwrap().unwrap();
        assert_eq!(c.access_token.as_deref(), Some("the-access-token"));
        assert_eq!(c.refresh_token.as_deref(), Some("the-refresh-token"));
        assert_eq!(c.client_secret.as_deref(), Some("the-client-secret"));
        // A token written in clear (by an earlier version) is sealed at the next open.
        sqlx::query("UPDATE credentials SET refresh_token = 'old-clear-token'")
            .execute(store.pool())
            .await
            .unwrap();
        store.close().await;
        let store = Store::open(dir.path()).await.unwrap();
        store.close().await;
        let file = std::fs::read(dir.path().join(STATE_DB_FILE)).unwrap();
        let text = String::from_utf8_lossy(&file);
        for secret in [
            "the-access-token",
            "the-refresh-token",
            "the-client-secret",
            "old-clear-token",
        ] {
            assert!(!text.contains(secret), "{secret} in the file");
        }
        let store = Store::open(dir.path()).await.unwrap();
        let c = store.credentials("acme").await.unwrap().unwrap();
        assert_eq!(c.refresh_token.as_deref(), Some("old-clear-token"));
        store.close().await;
        // Another key: refused at open, saying what to do.
        let other = dir.path().join("other.key");
        std::fs::write(&other, [9u8; 32]).unwrap();
        let e = Store::open_with_key(dir.path(), Some(&other))
            .await
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("does not open with this credentials key"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn summaries_reflect_rows() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        sqlx::query(
            "INSERT INTO orgs (name, org_type, custom_domain, sync_enabled, api_used, api_max, created_at, updated_at)
             VALUES ('acme', 'custom', 'acme.my.salesforce.com', 1, 10, 100, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
        )
        .execute(store.pool())
        .await
        .unwrap();
        let orgs = store.org_summaries().await.unwrap();
        assert_eq!(orgs.len(), 1);
        assert_eq!(
            orgs[0].org_type,
            OrgType::Custom("acme.my.salesforce.com".into())
        );
        assert!(orgs[0].sync_enabled);
        assert_eq!(orgs[0].api_usage, Some(ApiUsage { used: 10, max: 100 }));
    }

    async fn with_org() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        sqlx::query(
            "INSERT INTO orgs (name, org_type, custom_domain, sync_enabled, api_used, api_max, created_at, updated_at)
             VALUES ('acme', 'custom', 'acme.my.salesforce.com', 1, 10, 100, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
        )
        .execute(store.pool())
        .await
        .unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn the_conflict_log_keeps_the_newest() {
        use datenator_shared::model::{ConflictPolicy, ConflictRecord};
        let (_dir, store) = with_org().await;
        let at = Utc::now();
        let record = |i: i64| ConflictRecord {
            object: "Account".into(),
            sfid: format!("001{i:015}"),
            field: "Phone".into(),
            db_value: serde_json::json!(i),
            sf_value: serde_json::Value::Null,
            winner: "salesforce".into(),
            policy: ConflictPolicy::SalesforceWins,
            at,
        };
        let batch: Vec<ConflictRecord> = (0..conflicts::KEEP_PER_ORG + 5).map(record).collect();
        store.log_conflicts("acme", &batch).await.unwrap();
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM conflicts")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(n, conflicts::KEEP_PER_ORG);
        let newest = store.conflicts("acme", 2).await.unwrap();
        assert_eq!(newest[0], record(conflicts::KEEP_PER_ORG + 4));
        assert_eq!(newest[0].policy, ConflictPolicy::SalesforceWins);
    }

    #[tokio::test]
    async fn a_mapping_reads_back_and_unknown_text_is_an_error() {
        use datenator_shared::model::{ConflictPolicy, Direction};
        let (_dir, store) = with_org().await;
        store
            .put_mapping(
                "acme",
                NewMapping {
                    object: "Account",
                    table: "account",
                    direction: Direction::DbToSf,
                    conflict_policy: ConflictPolicy::DatabaseWins,
                    row_filter: Some("Industry = 'Banking'"),
                    fields_json: "{}",
                },
            )
            .await
            .unwrap();
        let rows = store.mappings("acme").await.unwrap();
        assert_eq!(rows[0].direction, Direction::DbToSf);
        assert_eq!(rows[0].conflict_policy, ConflictPolicy::DatabaseWins);
        assert_eq!(rows[0].row_filter.as_deref(), Some("Industry = 'Banking'"));
        sqlx::query("UPDATE mappings SET direction = 'sideways'")
            .execute(store.pool())
            .await
            .unwrap();
        let e = store.mappings("acme").await.unwrap_err().to_string();
        assert!(e.contains("mappings.direction is \"sideways\""), "{e}");
    }
}
