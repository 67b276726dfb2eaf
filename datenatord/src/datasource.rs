//! An org's datasource: its settings, "Check datasource", and generating (provisioning) the
//! org's schema and sync user through the target layer.
use crate::error::DaemonError;
use datenator_shared::datasource::{
    CheckReport, DatasourceKind, DatasourceSettings, Secret, default_schema_name,
    legacy_default_schema_name,
};
use datenator_shared::model::{DatasourceDetails, DatasourceView, SchemaAccess};

use crate::error::store_error;
use crate::state::State;
use crate::targetdb::{AnyTarget, SyncCredentials, Target, TargetError, ident};

struct Stored {
    settings: DatasourceSettings,
    sync: Option<SyncCredentials>,
    check: Option<CheckReport>,
    generated: bool,
    error: Option<String>,
    /// MariaDB/MySQL: the host set for the sync account.
    sync_host: Option<String>,
    app_role: Option<String>,
}

async fn load(state: &State, org: &str) -> Result<Option<Stored>, DaemonError> {
    let Some(row) = state.store.datasource(org).await.map_err(store_error)? else {
        return Ok(None);
    };
    let sync = match (row.sync_user, row.sync_password) {
        (Some(user), Some(password)) => Some(SyncCredentials {
            user,
            password: Secret::new(password),
            host: row.sync_account_host,
        }),
        _ => None,
    };
    Ok(Some(Stored {
        settings: row.settings,
        sync,
        check: row.check,
        generated: row.schema_generated,
        error: row.schema_error,
        sync_host: row.sync_host,
        app_role: row.app_role,
    }))
}

impl Stored {
    /// The org's schema: the one named in the settings, else — for a schema generated
    /// before names were stored on generation — the name derived then, else the default.
    fn schema(&self, org: &str) -> String {
        match explicit_schema(&self.settings) {
            Some(s) => s,
            None if self.generated => legacy_default_schema_name(org),
            None => default_schema_name(org),
        }
    }
}

fn explicit_schema(settings: &DatasourceSettings) -> Option<String> {
    settings.schema.clone().filter(|s| !s.trim().is_empty())
}

/// Serializes the changes that decide which org owns which schema, so that two orgs can
/// never both pass the check for the same one.
static OWNERSHIP: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Where an org's tables live, as far as telling two orgs apart goes: the same server
/// spelled differently (`localhost`/`127.0.0.1`, default port or not, another admin user or
/// TLS mode) is the same place. On PostgreSQL and MySQL the schema is compared across the
/// whole server (the sync user, named after the schema, is server-wide); an SQLite file
/// holds one org.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Place {
    Server {
        kind: DatasourceKind,
        host: String,
        port: u16,
        schema: String,
    },
    File(std::path::PathBuf),
}

impl Place {
    fn of(settings: &DatasourceSettings, schema: &str) -> Place {
        match settings.kind {
            DatasourceKind::Sqlite => Place::File(normalize_path(
                settings
                    .sqlite_path
                    .as_deref()
                    .unwrap_or(std::path::Path::new("")),
            )),
            kind => Place::Server {
                kind,
                host: normalize_host(&settings.host),
                port: settings.port_or_default(),
                schema: schema.to_lowercase(),
            },
        }
    }

    fn describe(&self) -> String {
        match self {
            Place::Server {
                kind,
                host,
                port,
                schema,
            } => format!("the schema {schema} on the {kind} server {host}:{port}"),
            Place::File(p) => format!("the SQLite file {}", p.display()),
        }
    }
}

fn normalize_host(host: &str) -> String {
    let h = host.trim().trim_end_matches('.').to_lowercase();
    match h.as_str() {
        "" | "localhost" | "127.0.0.1" | "::1" | "[::1]" | "localhost.localdomain" => {
            "localhost".into()
        }
        _ => h,
    }
}

/// The file's real path when it (or its directory) exists, so `./a.db`, `a.db` and a
/// symlink to it are one file.
fn normalize_path(path: &std::path::Path) -> std::path::PathBuf {
    if let Ok(p) = path.canonicalize() {
        return p;
    }
    match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => {
            let dir = if dir.as_os_str().is_empty() {
                std::path::Path::new(".")
            } else {
                dir
            };
            dir.canonicalize()
                .map(|d| d.join(name))
                .unwrap_or_else(|_| path.to_path_buf())
        }
        _ => path.to_path_buf(),
    }
}

/// Every org's datasource but `except`'s: (org, settings, schema).
async fn others(state: &State, except: &str) -> Result<Vec<(String, Place)>, DaemonError> {
    let orgs = state
        .store
        .datasource_orgs_except(except)
        .await
        .map_err(store_error)?;
    let mut out = Vec::new();
    for org in orgs {
        if let Some(stored) = load(state, &org).await? {
            let place = Place::of(&stored.settings, &stored.schema(&org));
            out.push((org, place));
        }
    }
    Ok(out)
}

/// Refuses `org`'s datasource when another org's tables are already in the same place:
/// rows written into one org's tables would be pushed to the other.
async fn check_not_shared(
    state: &State,
    org: &str,
    settings: &DatasourceSettings,
    schema: &str,
) -> Result<(), DaemonError> {
    let place = Place::of(settings, schema);
    if let Some((other, _)) = others(state, org)
        .await?
        .into_iter()
        .find(|(_, p)| *p == place)
    {
        let what = match place {
            Place::File(_) => "give each org a SQLite file of its own".to_owned(),
            Place::Server { .. } => format!(
                "pick another schema for {org:?} in its datasource settings (or leave the schema empty for {})",
                default_schema_name(org)
            ),
        };
        return Err(DaemonError::rejected(format!(
            "org {other:?} already keeps its tables in {}; two orgs there would sync each other's rows: {what}",
            place.describe()
        )));
    }
    Ok(())
}

/// Logs every pair of orgs that share a schema (set up before the daemon refused that), so
/// that whoever reads the log learns why rows cross between them.
pub async fn warn_shared_schemas(state: &State) {
    let Ok(all) = others(state, "").await else {
        return;
    };
    for (i, (a, place)) in all.iter().enumerate() {
        for (b, _) in all[i + 1..].iter().filter(|(_, p)| p == place) {
            tracing::warn!(
                "orgs {a:?} and {b:?} both keep their tables in {}: each syncs the other's rows; give one of them another schema (delete and re-register it)",
                place.describe()
            );
        }
    }
}

fn target_error(e: TargetError) -> DaemonError {
    DaemonError::rejected(e.to_string())
}

fn validate(settings: &DatasourceSettings) -> Result<(), DaemonError> {
    let missing = |what: &str| DaemonError::rejected(format!("the datasource needs a {what}"));
    match settings.kind {
        DatasourceKind::Sqlite => {
            if settings
                .sqlite_path
                .as_ref()
                .is_none_or(|p| p.as_os_str().is_empty())
            {
                return Err(missing("file path for the SQLite database"));
            }
        }
        _ => {
            if settings.host.trim().is_empty() {
                return Err(missing("host"));
            }
            if settings.user.trim().is_empty() {
                return Err(missing("user (an admin that can create schemas and users)"));
            }
            if settings.kind == DatasourceKind::Postgres && settings.database.trim().is_empty() {
                return Err(missing("database name"));
            }
        }
    }
    Ok(())
}

/// `datasource_set`: stores the settings. An empty password keeps the stored one. Changing
/// the settings clears the last check (it no longer applies).
pub async fn set(
    state: &State,
    org: &str,
    mut settings: DatasourceSettings,
) -> Result<DatasourceDetails, DaemonError> {
    if !state.store.org_exists(org).await.map_err(store_error)? {
        return Err(DaemonError::no_org(org));
    }
    validate(&settings)?;
    let _owner = OWNERSHIP.lock().await;
    let previous = load(state, org).await?;
    if settings.password.is_empty()
        && let Some(p) = &previous
    {
        settings.password = p.settings.password.clone();
    }
    let schema = match &previous {
        Some(p) if p.generated => {
            // Once generated the schema stays; an empty name keeps it.
            let generated = p.schema(org);
            if explicit_schema(&settings).is_none() {
                settings.schema = Some(generated.clone());
            }
            if explicit_schema(&settings).as_deref() != Some(generated.as_str()) {
                return Err(DaemonError::rejected(format!(
                    "the schema was already generated as {generated}: keep that name, or delete and re-register the org to move it"
                )));
            }
            generated
        }
        _ => explicit_schema(&settings).unwrap_or_else(|| default_schema_name(org)),
    };
    check_not_shared(state, org, &settings, &schema).await?;
    // Saving what is stored already keeps the last check: it still applies.
    let unchanged = previous.as_ref().is_some_and(|p| p.settings == settings);
    state
        .store
        .save_datasource_settings(org, &settings, unchanged)
        .await
        .map_err(store_error)?;
    state.refresh_orgs().await.map_err(store_error)?;
    get(state, org)
        .await?
        .ok_or_else(|| DaemonError::no_org(org))
}

/// `datasource_get`: the settings (password hidden), the last outcomes and, once
/// generated, who writes the tables.
pub async fn get(state: &State, org: &str) -> Result<Option<DatasourceDetails>, DaemonError> {
    let Some(s) = load(state, org).await? else {
        return Ok(None);
    };
    let mut settings = s.settings.clone();
    let password_set = !settings.password.is_empty();
    settings.password = Secret::default();
    let schema = s.schema(org);
    let access = s.generated.then(|| access(&s, &schema));
    Ok(Some(DatasourceDetails {
        view: DatasourceView {
            schema,
            settings,
            password_set,
            last_check: s.check,
            schema_generated: s.generated,
            schema_error: s.error,
        },
        sync_host: s.sync_host,
        access,
    }))
}

/// The sync user, the application role and how to give a database user the role.
fn access(s: &Stored, schema: &str) -> SchemaAccess {
    let kind = s.settings.kind;
    let sync_user = s.sync.as_ref().map(|c| match kind {
        DatasourceKind::Mysql => format!(
            "{}@{}",
            ident::literal(crate::targetdb::Dialect::Mysql, &c.user),
            ident::literal(
                crate::targetdb::Dialect::Mysql,
                c.host.as_deref().unwrap_or("%")
            )
        ),
        _ => c.user.clone(),
    });
    let grant_hint = match (kind, &s.app_role) {
        (DatasourceKind::Sqlite, _) => "SQLite has no database users: whoever may write the file may write the data tables, and the triggers record their changes for sync".to_owned(),
        (DatasourceKind::Postgres, Some(role)) => format!(
            "GRANT {} TO <db user>;  -- read/write on the data tables; the events tables are written by the triggers only",
            ident::quote(crate::targetdb::Dialect::Postgres, role)
        ),
        (DatasourceKind::Postgres, None) => {
            let q = |n: &str| ident::quote(crate::targetdb::Dialect::Postgres, n);
            format!(
                "GRANT USAGE ON SCHEMA {s} TO <db user>; then for each data table (not the __events tables): GRANT SELECT, INSERT, UPDATE, DELETE ON {s}.<table> TO <db user>; GRANT USAGE ON SEQUENCE {s}.<table>_id_seq TO <db user>;  -- no application role: the admin may not create roles",
                s = q(schema)
            )
        }
        (DatasourceKind::Mysql, Some(role)) => {
            let r = ident::quote(crate::targetdb::Dialect::Mysql, role);
            format!(
                "GRANT {r} TO <db user>;  -- then, as that user, once: SET DEFAULT ROLE {r}; (or SET ROLE {r}; in each session). Read/write on the data tables; the events tables are written by the triggers only"
            )
        }
        (DatasourceKind::Mysql, None) => format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON {}.<table> TO <db user>;  -- for each data table (not the __events tables): this server has no application role",
            ident::quote(crate::targetdb::Dialect::Mysql, schema)
        ),
    };
    SchemaAccess {
        sync_user,
        app_role: s.app_role.clone(),
        grant_hint,
    }
}

/// `datasource_sync_host`: the MariaDB/MySQL sync account's host (`None` or empty: the
/// host the daemon connects from). The next generation moves the account.
pub async fn set_sync_host(
    state: &State,
    org: &str,
    host: Option<String>,
) -> Result<DatasourceDetails, DaemonError> {
    let stored = load(state, org).await?.ok_or_else(|| {
        DaemonError::rejected(format!(
            "org {org} has no datasource yet: fill in the Datasource tab first"
        ))
    })?;
    if stored.settings.kind != DatasourceKind::Mysql {
        return Err(DaemonError::rejected(format!(
            "the sync account's host applies to MariaDB/MySQL only; org {org}'s datasource is {}",
            stored.settings.kind
        )));
    }
    let host = host.map(|h| h.trim().to_owned()).filter(|h| !h.is_empty());
    if let Some(h) = &host
        && (h.len() > 255 || h.chars().any(|c| c.is_control() || c.is_whitespace()))
    {
        return Err(DaemonError::rejected(format!(
            "{h:?} is not a usable host for the sync account: give a host name, an IP address or a pattern such as 10.0.0.% (at most 255 characters, no spaces)"
        )));
    }
    state
        .store
        .set_datasource_sync_host(org, host.as_deref())
        .await
        .map_err(store_error)?;
    get(state, org)
        .await?
        .ok_or_else(|| DaemonError::no_org(org))
}

/// The org's target, with the admin settings and the stored sync credentials: what the
/// engine and the mapping planner use.
pub(crate) async fn admin_target(state: &State, org: &str) -> Result<AnyTarget, DaemonError> {
    let (t, stored) = target(state, org).await?;
    if !stored.generated {
        return Err(DaemonError::rejected(format!(
            "org {org}'s schema has not been generated yet: check the datasource and generate the schema first"
        )));
    }
    Ok(t)
}

async fn target(state: &State, org: &str) -> Result<(AnyTarget, Stored), DaemonError> {
    let stored = load(state, org).await?.ok_or_else(|| {
        DaemonError::rejected(format!(
            "org {org} has no datasource yet: fill in the Datasource tab first"
        ))
    })?;
    let t = AnyTarget::new(
        stored.settings.clone(),
        stored.schema(org),
        stored.sync.clone(),
    )
    .map_err(target_error)?
    .with_sync_host(stored.sync_host.clone());
    Ok((t, stored))
}

/// `datasource_check`: runs every check and remembers the outcome.
pub async fn check(state: &State, org: &str) -> Result<CheckReport, DaemonError> {
    let (t, _) = target(state, org).await?;
    let report = t.check().await;
    state
        .store
        .record_datasource_check(org, &report)
        .await
        .map_err(store_error)?;
    state.refresh_orgs().await.map_err(store_error)?;
    Ok(report)
}

/// `schema_generate`: creates (or brings up to date) the org's schema, sync user and
/// application role. A failure leaves an org whose schema was generated before marked
/// generated (its tables are there and sync goes on), with the error beside it.
pub async fn generate(state: &State, org: &str) -> Result<DatasourceDetails, DaemonError> {
    let owner = OWNERSHIP.lock().await;
    let (t, stored) = target(state, org).await?;
    let schema = stored.schema(org);
    // Checked again here: settings stored before the daemon refused shared schemas.
    check_not_shared(state, org, &stored.settings, &schema).await?;
    if explicit_schema(&stored.settings).is_none() {
        // The name is stored before anything is created, so that it never changes under
        // the schema, whatever later versions derive from the org's name.
        let mut pinned = stored.settings.clone();
        pinned.schema = Some(schema);
        state
            .store
            .pin_datasource_settings(org, &pinned)
            .await
            .map_err(store_error)?;
    }
    drop(owner);
    let outcome = t.provision().await;
    match &outcome {
        Ok(p) => {
            let creds = p.sync_credentials.as_ref();
            state
                .store
                .datasource_generated(
                    org,
                    creds.map(|c| (c.user.as_str(), c.password.expose(), c.host.as_deref())),
                    p.app_role.as_deref(),
                )
                .await
                .map_err(store_error)?;
        }
        Err(e) => {
            state
                .store
                .datasource_generation_failed(org, &e.to_string())
                .await
                .map_err(store_error)?;
        }
    }
    state.refresh_orgs().await.map_err(store_error)?;
    match outcome {
        Ok(p) => {
            tracing::info!(
                org = %org,
                sync_user = p.sync_credentials.as_ref().map(|c| c.user.as_str()).unwrap_or("(none: session marking)"),
                app_role = p.app_role.as_deref().unwrap_or("(none)"),
                "schema generated"
            );
            get(state, org)
                .await?
                .ok_or_else(|| DaemonError::no_org(org))
        }
        Err(e) => Err(target_error(e)),
    }
}

/// Drops the org's schema and sync user, when a datasource was configured and provisioned.
/// Returns whether anything was dropped.
pub async fn deprovision(state: &State, org: &str) -> Result<bool, DaemonError> {
    let Some(stored) = load(state, org).await? else {
        return Ok(false);
    };
    if !stored.generated && stored.sync.is_none() {
        return Ok(false);
    }
    let t = AnyTarget::new(
        stored.settings.clone(),
        stored.schema(org),
        stored.sync.clone(),
    )
    .map_err(target_error)?
    .with_sync_host(stored.sync_host.clone());
    t.deprovision().await.map_err(target_error)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use datenator_shared::datasource::TlsMode;

    use super::*;

    fn pg(host: &str, port: Option<u16>, database: &str, user: &str) -> DatasourceSettings {
        DatasourceSettings {
            kind: DatasourceKind::Postgres,
            host: host.into(),
            port,
            database: database.into(),
            user: user.into(),
            password: Secret::default(),
            tls: TlsMode::Prefer,
            schema: None,
            sqlite_path: None,
        }
    }

    #[test]
    fn one_server_spelled_many_ways_is_one_place() {
        let a = Place::of(&pg("127.0.0.1", Some(5432), "postgres", "admin"), "s");
        for other in [
            pg("localhost", None, "postgres", "someone"),
            pg("LOCALHOST.", None, "postgres", "admin"),
            pg("::1", Some(5432), "postgres", "admin"),
            // Another database on the same server: the sync user is server-wide.
            pg("127.0.0.1", None, "other_db", "admin"),
        ] {
            assert_eq!(Place::of(&other, "S"), a, "{other:?}");
        }
        assert_ne!(
            Place::of(&pg("localhost", Some(5433), "postgres", "a"), "s"),
            a
        );
        assert_ne!(Place::of(&pg("db.example", None, "postgres", "a"), "s"), a);
        assert_ne!(Place::of(&pg("localhost", None, "postgres", "a"), "t"), a);
        let mut mysql = pg("localhost", None, "", "root");
        mysql.kind = DatasourceKind::Mysql;
        assert_ne!(Place::of(&mysql, "s"), a, "another kind, another port");
    }

    #[test]
    fn one_sqlite_file_is_one_place_whatever_the_schema() {
        let dir = tempfile::tempdir().unwrap();
        let file = |p: std::path::PathBuf| DatasourceSettings {
            kind: DatasourceKind::Sqlite,
            sqlite_path: Some(p),
            ..pg("", None, "", "")
        };
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        // The file does not exist yet: its directory is resolved.
        let a = Place::of(&file(dir.path().join("x.db")), "one");
        assert_eq!(Place::of(&file(dir.path().join("sub/../x.db")), "two"), a);
        assert_eq!(Place::of(&file(dir.path().join("./x.db")), "two"), a);
        assert_ne!(a, Place::of(&file(dir.path().join("y.db")), "one"));
    }

    #[test]
    fn stored_schemas_keep_their_names() {
        let stored = |schema: Option<&str>, generated: bool| Stored {
            settings: DatasourceSettings {
                schema: schema.map(Into::into),
                ..pg("h", None, "d", "u")
            },
            sync: None,
            check: None,
            generated,
            error: None,
            sync_host: None,
            app_role: None,
        };
        // Generated before names were stored: the name derived then.
        assert_eq!(stored(None, true).schema("Acme Inc."), "datenator_acme_inc");
        assert_eq!(
            stored(None, false).schema("Acme Inc."),
            default_schema_name("Acme Inc.")
        );
        assert_eq!(stored(Some("mine"), true).schema("Acme Inc."), "mine");
        assert_eq!(stored(Some("  "), false).schema("acme"), "datenator_acme");
    }
}
