//! The daemon's configuration file (TOML) and how it combines with command-line options.
//!
//! ```toml
//! # /etc/datenator/datenatord.toml (system service) or
//! # ~/.config/datenator/datenatord.toml (a user's daemon). Every key is optional.
//! [daemon]
//! socket = "/run/datenator/datenatord.sock" # default: see `datenator_shared::paths`
//! state_dir = "/var/lib/datenator"          # default: $STATE_DIRECTORY or the XDG data dir
//! group = "datenator"                       # members may use the socket
//! log_format = "auto"                       # auto | text | json | journald
//! log_level = "info"                        # a tracing filter, e.g. "info,datenatord=debug"
//! shutdown_grace_secs = 10                  # how long to wait for in-flight work on stop
//! max_connections = 64                      # clients served at once; more are refused
//! credentials_key_file = "/etc/datenator/credentials.key" # seals the stored secrets;
//!                                           # default: systemd's credential credentials-key,
//!                                           # else one made in the state directory
//! state_url = "postgres://datenator@db/datenator_state" # a fleet: every daemon shares its
//!                                           # state here (default: SQLite in state_dir)
//! name = "sync-1"                           # this daemon in the fleet (default: host name)
//! lease_ttl_secs = 15                       # how long an org stays with a silent daemon
//!
//! [sync]
//! push_poll_ms = 1000                       # how often database changes are looked for
//! overlap_secs = 120                        # late-change window when Salesforce gives no guarantee
//! bulk_threshold = 10000                    # first loads above this use Bulk API 2.0
//! push_bulk_threshold = 2000                # pushes of this many records (per operation)
//!                                           # go through a Bulk API 2.0 ingest job; 0 = never
//! push_bulk_batch = 10000                   # most records one push round puts in a Bulk job
//! deleted_check_secs = 3600                 # how often deletions purged before a poll are
//!                                           # looked for (one call per object)
//! streaming = true                          # apply Change Data Capture events of the objects
//!                                           # Salesforce publishes them for (no API calls)
//! stream_safety_poll_secs = 600             # how often a streamed object is still polled
//!
//! [salesforce]
//! client_id = "3MVG9…"                      # the connected app used to register orgs
//! client_secret = "…"                       # only if the app requires one
//! jwt_key_file = "/etc/datenator/jwt.key"   # for the JWT bearer flow
//! redirect_uri = "http://localhost:1717/OauthRedirect" # web-server flow callback
//! ```
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Where the system service reads its configuration.
pub const SYSTEM_CONFIG_PATH: &str = "/etc/datenator/datenatord.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {source}", path = .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("error in the configuration file {path}: {message}", path = .path.display())]
    Parse { path: PathBuf, message: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// journald when started by systemd (JOURNAL_STREAM is set), text otherwise.
    #[default]
    Auto,
    /// Readable text lines on stderr.
    Text,
    /// One JSON object per line on stderr.
    Json,
    /// Structured records straight to the systemd journal.
    Journald,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub daemon: DaemonSection,
    #[serde(default)]
    pub salesforce: SalesforceSection,
    #[serde(default)]
    pub sync: SyncSection,
}

/// `[sync]`: engine tuning; the defaults suit most orgs.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SyncSection {
    /// How often pending database changes are looked for, in milliseconds (no API cost).
    pub push_poll_ms: u64,
    /// How far each pull re-reads behind its cursor, in seconds, for late-visible changes.
    pub overlap_secs: u64,
    /// Above this many records a first load uses a Bulk API query.
    pub bulk_threshold: u64,
    /// A push of at least this many records of one operation (create, update, delete) goes
    /// through a Bulk API ingest job instead of sObject Collections; 0 turns Bulk off.
    pub push_bulk_threshold: u64,
    /// The most events one push round claims for Bulk ingest jobs.
    pub push_bulk_batch: u64,
    /// How often each pulled object's deleted log is read, in seconds, for records deleted
    /// and purged from the recycle bin between two polls.
    pub deleted_check_secs: u64,
    /// Whether Change Data Capture events are applied for the mapped objects Salesforce
    /// publishes them for (Setup → Change Data Capture), instead of waiting for a poll.
    pub streaming: bool,
    /// How often an object whose changes are streamed is polled all the same, in seconds:
    /// the safety net for anything the stream could not carry.
    pub stream_safety_poll_secs: u64,
}

impl Default for SyncSection {
    fn default() -> Self {
        let d = crate::engine::EngineConfig::default();
        SyncSection {
            push_poll_ms: d.push_poll.as_millis() as u64,
            overlap_secs: d.overlap.as_secs(),
            bulk_threshold: d.bulk_threshold,
            push_bulk_threshold: d.push_bulk_threshold as u64,
            push_bulk_batch: d.push_bulk_batch as u64,
            deleted_check_secs: d.deleted_check.as_secs(),
            streaming: d.streaming,
            stream_safety_poll_secs: d.stream_safety_poll.as_secs(),
        }
    }
}

impl SyncSection {
    pub fn engine_config(&self) -> crate::engine::EngineConfig {
        crate::engine::EngineConfig {
            push_poll: std::time::Duration::from_millis(self.push_poll_ms.max(50)),
            overlap: std::time::Duration::from_secs(self.overlap_secs),
            bulk_threshold: self.bulk_threshold,
            push_bulk_threshold: self.push_bulk_threshold as usize,
            push_bulk_batch: (self.push_bulk_batch as usize).max(1),
            deleted_check: std::time::Duration::from_secs(self.deleted_check_secs.max(1)),
            streaming: self.streaming,
            stream_safety_poll: std::time::Duration::from_secs(self.stream_safety_poll_secs.max(1)),
            ..crate::engine::EngineConfig::default()
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonSection {
    pub socket: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    pub group: String,
    pub log_format: LogFormat,
    pub log_level: String,
    pub shutdown_grace_secs: u64,
    /// The most clients connected at once; a client past it is refused with a reply that
    /// says so. Connections that have not sent their handshake make room for new ones.
    pub max_connections: usize,
    /// The key that seals the secrets in the state database (see `store::sealed`); by
    /// default systemd's credential `credentials-key`, else a key made beside the state.
    pub credentials_key_file: Option<PathBuf>,
    /// A fleet's shared state database (PostgreSQL); `None`: SQLite in the state directory.
    pub state_url: Option<StateUrl>,
    /// This daemon's name in the fleet (default: the host name).
    pub name: Option<String>,
    /// How long an org's lease lasts without a heartbeat (fleet only).
    pub lease_ttl_secs: u64,
}

/// A state database URL: its password never shows in `Debug`.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(transparent)]
pub struct StateUrl(pub String);

impl std::fmt::Debug for StateUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::store::redact_url(&self.0))
    }
}

impl Default for DaemonSection {
    fn default() -> Self {
        DaemonSection {
            socket: None,
            state_dir: None,
            group: "datenator".into(),
            log_format: LogFormat::Auto,
            log_level: "info".into(),
            shutdown_grace_secs: 10,
            max_connections: crate::ipc::DEFAULT_MAX_CONNECTIONS,
            credentials_key_file: None,
            state_url: None,
            name: None,
            lease_ttl_secs: 15,
        }
    }
}

#[derive(Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SalesforceSection {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub jwt_key_file: Option<PathBuf>,
    /// The web-server flow's callback URL (one of the connected app's callback URLs).
    pub redirect_uri: Option<String>,
}

impl std::fmt::Debug for SalesforceSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SalesforceSection")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("jwt_key_file", &self.jwt_key_file)
            .field("redirect_uri", &self.redirect_uri)
            .finish()
    }
}

impl Config {
    /// Parses `text` as read from `path` (the path only names the file in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().replace('\n', " "),
        })
    }

    /// Loads the configuration: `explicit` must exist; otherwise the default file is read
    /// when it exists, and built-in defaults apply when it does not. Returns the file used.
    pub fn load(explicit: Option<&Path>) -> Result<(Config, Option<PathBuf>), ConfigError> {
        let (path, required) = match explicit {
            Some(p) => (p.to_path_buf(), true),
            None => match default_config_path() {
                Some(p) => (p, false),
                None => return Ok((Config::default(), None)),
            },
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok((Config::parse(&text, &path)?, Some(path))),
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                Ok((Config::default(), None))
            }
            Err(source) => Err(ConfigError::Read { path, source }),
        }
    }
}

/// The configuration file read when `--config` is not given: the system one under
/// systemd, the user's XDG config file otherwise.
pub fn default_config_path() -> Option<PathBuf> {
    if std::env::var_os("RUNTIME_DIRECTORY").is_some()
        || std::env::var_os("INVOCATION_ID").is_some()
    {
        return Some(PathBuf::from(SYSTEM_CONFIG_PATH));
    }
    directories::ProjectDirs::from("", "", "datenator")
        .map(|d| d.config_dir().join("datenatord.toml"))
}

/// The state directory: `--state-dir`, else the config file's, else `$STATE_DIRECTORY`
/// (systemd), else the user's XDG data directory.
pub fn state_dir(cli: Option<&Path>, config: &Config) -> Option<PathBuf> {
    cli.map(Path::to_path_buf)
        .or_else(|| config.daemon.state_dir.clone())
        .or_else(|| {
            std::env::var_os("STATE_DIRECTORY")
                .filter(|v| !v.is_empty())
                .map(|v| PathBuf::from(v.to_string_lossy().split(':').next().unwrap_or_default()))
        })
        .or_else(|| {
            directories::ProjectDirs::from("", "", "datenator").map(|d| d.data_dir().to_path_buf())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        let c = Config::parse("", Path::new("x.toml")).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.daemon.group, "datenator");
        assert_eq!(c.daemon.shutdown_grace_secs, 10);
    }

    #[test]
    fn full_file_parses() {
        let c = Config::parse(
            r#"
            [daemon]
            socket = "/tmp/s.sock"
            log_format = "json"
            group = "ops"
            [salesforce]
            client_id = "abc"
            client_secret = "hush"
            "#,
            Path::new("x.toml"),
        )
        .unwrap();
        assert_eq!(c.daemon.log_format, LogFormat::Json);
        assert_eq!(c.daemon.group, "ops");
        assert!(
            !format!("{c:?}").contains("hush"),
            "secrets must not show in Debug"
        );
    }

    #[test]
    fn unknown_key_names_the_key_and_the_file() {
        let err =
            Config::parse("[daemon]\nsokcet = \"/x\"\n", Path::new("/etc/d.toml")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("sokcet"), "{msg}");
        assert!(msg.contains("/etc/d.toml"), "{msg}");
        let err = Config::parse("[deamon]\n", Path::new("/etc/d.toml")).unwrap_err();
        assert!(err.to_string().contains("deamon"), "{err}");
    }

    #[test]
    fn explicit_missing_file_is_an_error() {
        let err = Config::load(Some(Path::new("/nonexistent/datenatord.toml"))).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/datenatord.toml"));
    }
}
