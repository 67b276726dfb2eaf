//! Datasource (target database) settings and check results, shared by the daemon and the TUI.
//!
//! Passwords are held in [`Secret`], whose `Debug` and `Display` never show the value; it
//! still serialises the value, because settings travel to the daemon over the local socket.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A password or other secret. `Debug`/`Display` print `***`; serde (de)serialises the value
/// as a plain string.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value. Call only where it is actually needed (connecting, storing).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

/// Which kind of database a datasource is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatasourceKind {
    /// PostgreSQL 9.6 or newer.
    Postgres,
    /// MariaDB 10.2.3+ or MySQL 5.7.8+ (the events triggers need the JSON functions).
    Mysql,
    /// An SQLite file (the embedded default).
    Sqlite,
}

impl DatasourceKind {
    pub fn default_port(self) -> Option<u16> {
        match self {
            Self::Postgres => Some(5432),
            Self::Mysql => Some(3306),
            Self::Sqlite => None,
        }
    }
}

impl fmt::Display for DatasourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Postgres => "PostgreSQL",
            Self::Mysql => "MariaDB/MySQL",
            Self::Sqlite => "SQLite",
        })
    }
}

/// TLS for the connection to the database server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    /// Plain TCP.
    Disable,
    /// TLS when the server offers it, plain otherwise.
    #[default]
    Prefer,
    /// TLS, without verifying the server's certificate.
    Require,
    /// TLS, certificate signed by a trusted CA.
    VerifyCa,
    /// TLS, certificate signed by a trusted CA and naming the host.
    VerifyFull,
}

/// Everything needed to reach a target database with admin rights.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasourceSettings {
    pub kind: DatasourceKind,
    #[serde(default)]
    pub host: String,
    /// `None`: the kind's default port.
    #[serde(default)]
    pub port: Option<u16>,
    /// The database to connect to (PostgreSQL: the database holding the org schemas;
    /// MySQL: any existing database, e.g. `mysql`; the org gets a database of its own).
    #[serde(default)]
    pub database: String,
    /// The admin user that provisions schemas and sync users.
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub password: Secret,
    #[serde(default)]
    pub tls: TlsMode,
    /// Schema (MySQL: database) for the org; `None` derives it from the org's name.
    #[serde(default)]
    pub schema: Option<String>,
    /// SQLite only: the database file.
    #[serde(default)]
    pub sqlite_path: Option<PathBuf>,
}

impl DatasourceSettings {
    pub fn port_or_default(&self) -> u16 {
        self.port.or(self.kind.default_port()).unwrap_or(0)
    }

    /// A database server's settings from its URL — `postgres://user:password@host:port/db`
    /// (`postgresql://` too) or `mysql://…` (`mariadb://` too) — the one place such a URL
    /// is read. User, password and database name are percent-decoded, so a password with
    /// `@`, `/` or `%` is written `%40`, `%2F`, `%25`. TLS is `prefer`; no schema is set.
    pub fn from_url(url: &str) -> Result<DatasourceSettings, UrlError> {
        let u = url::Url::parse(url).map_err(|e| UrlError::NotAUrl(e.to_string()))?;
        let kind = match u.scheme() {
            "postgres" | "postgresql" => DatasourceKind::Postgres,
            "mysql" | "mariadb" => DatasourceKind::Mysql,
            other => return Err(UrlError::Scheme(other.to_owned())),
        };
        let decode = |part: &str, what: &'static str| {
            percent_encoding::percent_decode_str(part)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| UrlError::NotUtf8(what))
        };
        Ok(DatasourceSettings {
            kind,
            host: u.host_str().unwrap_or("127.0.0.1").to_owned(),
            port: u.port(),
            database: decode(u.path().trim_start_matches('/'), "database name")?,
            user: decode(u.username(), "user name")?,
            password: Secret::new(decode(u.password().unwrap_or(""), "password")?),
            tls: TlsMode::Prefer,
            schema: None,
            sqlite_path: None,
        })
    }
}

/// Why a database URL cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("not a URL ({0}): write postgres://user:password@host:port/database or mysql://…")]
    NotAUrl(String),
    #[error(
        "unsupported scheme {0:?}: use postgres:// (or postgresql://) or mysql:// (or mariadb://)"
    )]
    Scheme(String),
    #[error("the {0} is not UTF-8 once percent-decoded: check its %XX escapes")]
    NotUtf8(&'static str),
}

/// The schema name derived from an org's name: `datenator_` + the name lower-cased, with
/// every run of characters that are not ASCII letters or digits replaced by one `_`. When
/// that changed the name (`acme-prod`, `ACME.PROD`), a short hash of the exact name is
/// added, so that names which differ only in what was replaced never share a schema:
/// `acme_prod` → `datenator_acme_prod`, `acme-prod` → `datenator_acme_prod_…`.
pub fn default_schema_name(org_name: &str) -> String {
    let base = legacy_default_schema_name(org_name);
    if base.strip_prefix("datenator_") == Some(org_name) {
        base
    } else {
        format!("{base}_{:08x}", fnv1a32(org_name.as_bytes()))
    }
}

/// The schema name earlier versions derived, without the hash: still the name of schemas
/// they generated (these were stored without an explicit name).
pub fn legacy_default_schema_name(org_name: &str) -> String {
    let mut out = String::from("datenator_");
    for c in org_name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    while out.ends_with('_') && out.len() > "datenator_".len() {
        out.pop();
    }
    if out == "datenator_" {
        out.push_str("org");
    }
    out
}

/// 32-bit FNV-1a: small, and fixed forever (schema names depend on it).
fn fnv1a32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// How the engine's own writes are kept out of the events tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SyncWriterMode {
    /// A generated sync user; triggers ignore its writes.
    SyncUser,
    /// No role can be created (e.g. managed PostgreSQL): the engine connects as the admin
    /// user and marks its session (`SET datenator.origin = 'sync'`), which triggers honour.
    SessionMarking,
    /// SQLite: the engine marks its writes inside its own transactions.
    TransactionMarking,
}

/// One verification of "check datasource".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckKind {
    /// The server accepts TCP connections (SQLite: the file's directory is writable).
    HostReachable,
    /// The admin user can log in.
    Authentication,
    /// The configured database exists.
    DatabaseExists,
    /// The server version is supported.
    ServerVersion,
    /// The admin can create the org's schema (MySQL: database).
    CreateSchema,
    /// The admin can create the sync user (role) and grant it rights.
    CreateUser,
    /// The admin can create triggers.
    CreateTrigger,
    /// MySQL/MariaDB binary logging allows creating triggers.
    BinlogTriggers,
}

impl fmt::Display for CheckKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::HostReachable => "host reachable",
            Self::Authentication => "authentication",
            Self::DatabaseExists => "database exists",
            Self::ServerVersion => "server version",
            Self::CreateSchema => "create schema",
            Self::CreateUser => "create sync user",
            Self::CreateTrigger => "create triggers",
            Self::BinlogTriggers => "binary log and triggers",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Ok,
    /// Works, with a limitation the message explains.
    Warning,
    Failed,
    /// Not run because an earlier check failed.
    Skipped,
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    pub check: CheckKind,
    pub status: CheckStatus,
    /// What was found, in words.
    pub message: String,
    /// The statement or action that fixes a failure or warning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// All results of one "check datasource" run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    pub results: Vec<CheckResult>,
    /// The server's version string, when it could be read.
    #[serde(default)]
    pub server_version: Option<String>,
    /// How the engine's writes will be told apart, when the checks got that far.
    #[serde(default)]
    pub writer_mode: Option<SyncWriterMode>,
}

impl CheckReport {
    /// True when nothing failed (warnings allowed).
    pub fn is_ok(&self) -> bool {
        self.results
            .iter()
            .all(|r| matches!(r.status, CheckStatus::Ok | CheckStatus::Warning))
    }

    pub fn get(&self, check: CheckKind) -> Option<&CheckResult> {
        self.results.iter().find(|r| r.check == check)
    }
}

#[cfg(test)]
mod tests {

    /// A password holding `@`, `/` and `%` is written percent-encoded in a URL and reaches
    /// the settings decoded; so do the user and the database name.
    #[test]
    fn a_database_url_is_read_decoded() {
        let s = DatasourceSettings::from_url(
            "postgres://app%40corp:p%40ss%2Fw%25rd@db.example:6543/sales%20db",
        )
        .unwrap();
        assert_eq!(s.kind, DatasourceKind::Postgres);
        assert_eq!((s.host.as_str(), s.port), ("db.example", Some(6543)));
        assert_eq!(s.user, "app@corp");
        assert_eq!(s.password.expose(), "p@ss/w%rd");
        assert_eq!(s.database, "sales db");
        let m = DatasourceSettings::from_url("mariadb://root@127.0.0.1/mysql").unwrap();
        assert_eq!((m.kind, m.password.expose()), (DatasourceKind::Mysql, ""));
        assert!(matches!(
            DatasourceSettings::from_url("sqlite:///tmp/x.db"),
            Err(UrlError::Scheme(_))
        ));
        assert!(matches!(
            DatasourceSettings::from_url("not a url"),
            Err(UrlError::NotAUrl(_))
        ));
        assert!(matches!(
            DatasourceSettings::from_url("mysql://u:%FF@h/db"),
            Err(UrlError::NotUtf8("password"))
        ));
    }
    use super::*;

    #[test]
    fn secret_never_in_debug() {
        let s = DatasourceSettings {
            kind: DatasourceKind::Postgres,
            host: "h".into(),
            port: None,
            database: "d".into(),
            user: "u".into(),
            password: Secret::new("hunter2"),
            tls: TlsMode::Prefer,
            schema: None,
            sqlite_path: None,
        };
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(serde_json::to_string(&s).unwrap().contains("hunter2"));
    }

    #[test]
    fn schema_names() {
        assert_eq!(default_schema_name("acme_prod"), "datenator_acme_prod");
        assert_eq!(default_schema_name("acme1"), "datenator_acme1");
        assert_eq!(
            legacy_default_schema_name("Acme Inc."),
            "datenator_acme_inc"
        );
        assert_eq!(legacy_default_schema_name("!!"), "datenator_org");
        let inc = default_schema_name("Acme Inc.");
        assert!(inc.starts_with("datenator_acme_inc_"), "{inc}");
        assert_eq!(inc, default_schema_name("Acme Inc."), "stable");
        assert_eq!(fnv1a32(b"a"), 0xe40c_292c, "the hash never changes");
    }

    #[test]
    fn default_schema_names_of_different_orgs_differ() {
        let names = [
            "acme-prod",
            "acme_prod",
            "ACME.PROD",
            "Acme_Prod",
            "acme__prod",
            "acme.prod",
            "acme_prod_",
            "!!",
            "??",
            "org",
        ];
        let schemas: std::collections::HashSet<String> =
            names.iter().map(|n| default_schema_name(n)).collect();
        assert_eq!(schemas.len(), names.len(), "{schemas:?}");
        // Registration allows 40 characters; every default still fits PostgreSQL's 63.
        assert!(default_schema_name(&"É".repeat(40)).len() <= 63);
        assert!(default_schema_name(&"a-".repeat(20)).len() <= 63);
    }
}
