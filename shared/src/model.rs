//! Domain types the daemon reports and the TUI displays.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::datasource::{CheckReport, DatasourceSettings};

/// What `status` returns and the `status` topic pushes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaemonStatus {
    pub version: String,
    pub protocol: u32,
    pub pid: u32,
    pub started_at: DateTime<Utc>,
    /// Seconds since `started_at` when this status was taken.
    pub uptime_secs: u64,
    pub socket_path: String,
    pub state_dir: String,
    /// The configuration file in use, if any.
    pub config_file: Option<String>,
    /// Number of registered orgs.
    pub orgs: usize,
    /// Open client connections, this one included.
    pub connections: usize,
    /// The fleet this daemon belongs to (a shared state database), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<FleetView>,
}

/// The daemons sharing one state database, as one of them last read it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FleetView {
    /// The name of the daemon that answers.
    pub me: String,
    pub members: Vec<FleetMember>,
}

/// One daemon of a fleet and its health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetMember {
    pub name: String,
    pub host: String,
    pub pid: u32,
    pub version: String,
    /// Heartbeating within the lease TTL and not leaving.
    pub live: bool,
    /// Stopped (or stopping) cleanly: its orgs moved.
    pub leaving: bool,
    /// Seconds since its last heartbeat.
    pub silent_secs: f64,
    /// Orgs it runs.
    pub orgs: usize,
    /// Clients connected to it.
    pub connections: usize,
    /// The daemon that answers.
    pub me: bool,
}

/// Subscription topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    /// [`Event::Status`]: the daemon's status.
    Status,
    /// [`Event::Orgs`]: the org list.
    Orgs,
    /// [`Event::Sync`]: every mapped object's sync status.
    Sync,
    /// [`Event::Log`]: the daemon's log. Unlike the other topics, the first event holds the
    /// recent tail (up to [`LOG_TAIL_LINES`] lines, INFO and above) and later events only
    /// the new lines.
    Log,
}

/// How many recent log lines the daemon keeps for the log topic.
pub const LOG_TAIL_LINES: usize = 500;

/// Server-pushed events. Each carries the full current value of its topic, so a
/// subscriber can never drift from the daemon's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "topic", content = "data", rename_all = "snake_case")]
pub enum Event {
    Status(DaemonStatus),
    Orgs(Vec<OrgSummary>),
    Sync(Vec<ObjectStatus>),
    Log(Vec<LogLine>),
}

impl Event {
    pub fn topic(&self) -> Topic {
        match self {
            Event::Status(_) => Topic::Status,
            Event::Orgs(_) => Topic::Orgs,
            Event::Sync(_) => Topic::Sync,
            Event::Log(_) => Topic::Log,
        }
    }
}

/// Where an org lives: the login host its OAuth flows go to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "domain", rename_all = "snake_case")]
pub enum OrgType {
    /// login.salesforce.com
    Production,
    /// test.salesforce.com
    Sandbox,
    /// `https://{domain}.my.salesforce.com` (or any full base URL, e.g. a simulator)
    Custom(String),
}

impl OrgType {
    pub fn label(&self) -> String {
        match self {
            OrgType::Production => "production".into(),
            OrgType::Sandbox => "sandbox".into(),
            OrgType::Custom(d) => format!("custom ({d})"),
        }
    }
}

/// Daily API usage of an org, as last reported by Salesforce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiUsage {
    pub used: u64,
    pub max: u64,
}

impl ApiUsage {
    /// Share of the daily limit used, 0.0 to 1.0 (1.0 when the limit is unknown or zero).
    pub fn ratio(&self) -> f64 {
        if self.max == 0 {
            1.0
        } else {
            (self.used as f64 / self.max as f64).clamp(0.0, 1.0)
        }
    }
}

/// One row of the Orgs screen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrgSummary {
    /// Datenator's name for the org (unique, chosen at registration).
    pub name: String,
    /// Salesforce's 18-character org id, once authorized.
    pub org_id: Option<String>,
    pub org_type: OrgType,
    pub instance_url: Option<String>,
    pub sync_enabled: bool,
    pub datasource_checked: bool,
    pub schema_generated: bool,
    pub metadata_downloaded_at: Option<DateTime<Utc>>,
    /// Whether the daemon holds working credentials for the org.
    pub auth: AuthState,
    pub api_usage: Option<ApiUsage>,
    /// How often sync asks Salesforce for changes.
    #[serde(default = "default_polling_interval")]
    pub polling_interval_secs: u32,
    /// The largest share of the daily API limit sync may use.
    #[serde(default = "default_api_budget")]
    pub api_budget_percent: u8,
    /// Where usage is heading at the recent rate, once there are two samples to compare.
    #[serde(default)]
    pub api_forecast: Option<UsageForecast>,
    /// Why the last "refresh credentials" failed (denied, abandoned, expired, refused)
    /// while the org kept its earlier, working credentials — sync goes on with them. Set
    /// until the next refresh starts or new credentials are stored; held in the daemon's
    /// memory only (a restart forgets it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_error: Option<String>,
    /// The org's daily Change Data Capture delivery allocation in use (events delivered in
    /// the last 24 hours, of the maximum), as Salesforce's `/limits` last said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_allocation: Option<ApiUsage>,
    /// In a fleet: the daemon that runs the org's sync now (`None`: not running anywhere,
    /// or no fleet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_by: Option<String>,
    /// In a fleet: the daemon the operator pinned the org to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned_to: Option<String>,
}

/// Where an org's API usage is heading, and what the scheduler does about it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct UsageForecast {
    /// Calls per hour the polling schedule costs at the interval in force.
    pub calls_per_hour: f64,
    /// The share of the daily limit the org would reach: what it used in the last 24 hours
    /// (Salesforce's own rolling count, every client's calls) plus a day of polling at the
    /// configured interval, in percent.
    pub projected_percent: f64,
    /// The polling interval sync actually uses: the configured one, stretched while the
    /// projection passes the budget.
    pub effective_interval_secs: u32,
    /// Calls the org used in the last 24 hours, as Salesforce counts them.
    #[serde(default)]
    pub used_calls: u64,
    /// Calls a day of polling at the configured interval costs.
    #[serde(default)]
    pub steady_calls_per_day: f64,
}

impl UsageForecast {
    /// True when the scheduler polls less often than configured to stay within the budget.
    pub fn stretched(&self, configured_secs: u32) -> bool {
        self.effective_interval_secs > configured_secs
    }
}

/// One line of the daemon's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    pub at: DateTime<Utc>,
    /// `ERROR`, `WARN` or `INFO`.
    pub level: String,
    /// The org the line is about, when it is about one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// The message with its fields (`key=value`); never a secret.
    pub message: String,
}

/// A database change Salesforce refused; it waits for the row to change again, or for the
/// user to retry or ignore it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedRecord {
    pub object: String,
    /// The row's local key.
    pub row_id: i64,
    /// The record's Salesforce id (none for an insert never created).
    pub sfid: Option<String>,
    /// `insert`, `update` or `delete`.
    pub op: String,
    /// Salesforce's error, e.g. `REQUIRED_FIELD_MISSING: Required fields are missing: [Name]`.
    pub error: String,
    /// When the change was made in the database.
    pub changed_at: DateTime<Utc>,
    /// The values the change set, by field name.
    pub values: serde_json::Map<String, serde_json::Value>,
}

fn yes() -> bool {
    true
}

fn default_polling_interval() -> u32 {
    60
}

fn default_api_budget() -> u8 {
    50
}

impl OrgSummary {
    /// True when the stored credentials no longer work and a flow must be run again.
    pub fn needs_reauthorization(&self) -> bool {
        matches!(self.auth, AuthState::NeedsReauthorization { .. })
    }
}

/// Where an org's authorization stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum AuthState {
    /// A flow is running: the user has something to do.
    Pending {
        step: PendingStep,
    },
    Authorized,
    /// The last flow failed; run it again.
    Failed {
        error: String,
    },
    /// The stored credentials stopped working (revoked, expired).
    NeedsReauthorization {
        reason: String,
    },
}

/// What the user must do to finish a flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PendingStep {
    /// Open `verification_uri` anywhere, log in, enter `user_code`.
    Device {
        verification_uri: String,
        user_code: String,
        expires_at: DateTime<Utc>,
    },
    /// Open `authorize_url` in a browser, allow, paste back the address it lands on.
    Browser { authorize_url: String },
}

/// How to authorize an org.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AuthFlow {
    /// The device flow: best over SSH, any browser anywhere can approve it.
    Device,
    /// The web-server flow with PKCE: the redirected URL is pasted back.
    WebServer,
    /// The JWT bearer flow for unattended servers, with the key file from the config.
    Jwt { username: String },
}

/// A Salesforce object as listed by the metadata cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectInfo {
    pub name: String,
    pub label: String,
    pub custom: bool,
    pub createable: bool,
    pub updateable: bool,
    pub deletable: bool,
    /// Number of fields, once described.
    pub fields: Option<usize>,
}

/// A field of a described object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldInfo {
    pub name: String,
    pub label: String,
    /// Salesforce field type (`string`, `reference`, `double`…).
    #[serde(rename = "type")]
    pub field_type: String,
    pub length: Option<u32>,
    pub precision: Option<u32>,
    pub scale: Option<u32>,
    pub nillable: bool,
    pub createable: bool,
    pub updateable: bool,
    pub defaulted_on_create: bool,
    pub external_id: bool,
    pub custom: bool,
    pub calculated: bool,
    pub reference_to: Vec<String>,
}

impl FieldInfo {
    /// Required on create: `createable && !nillable && !defaultedOnCreate`.
    pub fn required(&self) -> bool {
        self.createable && !self.nillable && !self.defaulted_on_create
    }
}

/// What a metadata download found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataReport {
    /// Objects describeGlobal listed.
    #[serde(default)]
    pub listed: usize,
    /// Listed objects that cannot be synced, counted by reason ("not queryable",
    /// "history, share, feed or change-event object", …); they are not downloaded.
    #[serde(default)]
    pub left_out: std::collections::BTreeMap<String, usize>,
    /// Objects that can be synced, whose metadata was downloaded.
    pub objects: usize,
    pub described: usize,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
    /// Salesforce API calls the download spent.
    pub api_calls: u64,
    pub downloaded_at: DateTime<Utc>,
}

/// An org's datasource as the Datasource tab shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasourceView {
    /// The settings, with the password left empty.
    pub settings: DatasourceSettings,
    pub password_set: bool,
    /// The org's schema (MySQL: database) name.
    pub schema: String,
    pub last_check: Option<CheckReport>,
    pub schema_generated: bool,
    pub schema_error: Option<String>,
}

/// What `datasource_get`, `datasource_set`, `datasource_sync_host` and `schema_generate`
/// return: a [`DatasourceView`], whose fields it carries at the top level (a client that
/// reads a `DatasourceView` from it still can), plus the sync account's host setting and,
/// once the schema is generated, who writes its tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasourceDetails {
    #[serde(flatten)]
    pub view: DatasourceView,
    /// MariaDB/MySQL: the host set for the sync account; `None`: the host the daemon
    /// connects from, as the server sees it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_host: Option<String>,
    /// Set once the schema is generated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<SchemaAccess>,
}

/// Who writes an org's tables: the engine's sync user, and the application role that gives
/// ordinary database users read/write on the data tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaAccess {
    /// The user the engine writes as (MariaDB/MySQL: `user@host`); `None` when it writes as
    /// the admin user and marks its changes (no role could be created; SQLite).
    pub sync_user: Option<String>,
    /// The role with SELECT, INSERT, UPDATE, DELETE on the data tables (never on the events
    /// tables, which only the triggers write); `None` where no role could be created.
    pub app_role: Option<String>,
    /// The statements that let a database user read and write the synced tables, with
    /// `<db user>` standing for that user.
    pub grant_hint: String,
}

/// Which way a mapping syncs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Salesforce → database only.
    SfToDb,
    /// Database → Salesforce only.
    DbToSf,
    Bidirectional,
}

impl Direction {
    pub fn pulls(self) -> bool {
        matches!(self, Direction::SfToDb | Direction::Bidirectional)
    }
    pub fn pushes(self) -> bool {
        matches!(self, Direction::DbToSf | Direction::Bidirectional)
    }
    pub fn label(self) -> &'static str {
        match self {
            Direction::SfToDb => "SF → DB",
            Direction::DbToSf => "DB → SF",
            Direction::Bidirectional => "SF ↔ DB",
        }
    }
}

/// Who wins when both sides changed the same field since the last sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictPolicy {
    #[default]
    NewestWins,
    SalesforceWins,
    DatabaseWins,
}

/// One object's mapping, as the user configures it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mapping {
    /// Object API name, e.g. `Account`.
    pub object: String,
    /// Selected field API names. Required fields, `Id` and `SystemModstamp` are added by
    /// the daemon whatever this says.
    pub fields: Vec<String>,
    pub direction: Direction,
    #[serde(default)]
    pub conflict_policy: ConflictPolicy,
    /// A SOQL condition limiting which records sync, e.g. `Industry = 'Banking'`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_filter: Option<String>,
}

/// One DDL step of a plan, as shown before confirmation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanStepView {
    pub description: String,
    /// Why the step loses data or may fail, when it does.
    pub destructive: Option<String>,
    pub sql: Vec<String>,
}

/// What saving a mapping will do (or did) to the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanView {
    pub steps: Vec<PlanStepView>,
    pub destructive: bool,
    /// True once the steps ran.
    pub applied: bool,
}

/// Where an object's sync stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectState {
    /// The first full read is running (see `initial_load`).
    InitialLoad,
    Synced,
    Pulling,
    Pushing,
    /// Sync is disabled for the org.
    Paused,
    /// The API budget or the org's limit holds sync back.
    Throttled,
    Error,
    ReauthorizationNeeded,
}

/// One mapped object's live status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectStatus {
    pub org: String,
    pub object: String,
    pub direction: Direction,
    pub state: ObjectState,
    /// Rows done and expected during the initial load.
    pub initial_load: Option<(u64, u64)>,
    /// Seconds since the last pull that reached the end of Salesforce's changes.
    pub pull_lag_secs: Option<f64>,
    /// Age in seconds of the oldest database change not yet pushed.
    pub push_lag_secs: Option<f64>,
    pub pending_events: u64,
    pub failed_records: u64,
    pub pulled_total: u64,
    pub pushed_total: u64,
    /// Rows in the object's table, counted at most every half minute.
    #[serde(default)]
    pub rows: Option<u64>,
    pub last_error: Option<String>,
    pub last_sync_at: Option<DateTime<Utc>>,
    /// Records moved (pulled + pushed) in each of the last [`ACTIVITY_MINUTES`] minutes,
    /// oldest first, the current minute last.
    #[serde(default)]
    pub activity: Vec<u64>,
    /// Fields added to the mapping whose existing rows are being filled from Salesforce.
    #[serde(default)]
    pub backfill: Option<BackfillProgress>,
    /// Mapped fields Salesforce no longer has or shows (deleted, or access taken away):
    /// left out of the queries, their columns and values kept, until the mapping changes.
    #[serde(default)]
    pub removed_fields: Vec<String>,
    /// Rows kept in the database, detached, after their records left the row filter: never
    /// refreshed from Salesforce, their changes never sent.
    #[serde(default)]
    pub detached_rows: u64,
    /// Mapped fields whose type or size changed in Salesforce so that their column no
    /// longer holds every value, in words (what changed, what to do).
    #[serde(default)]
    pub type_changes: Vec<String>,
    /// A re-read of the whole object from Salesforce waits or runs (see `ObjectResync`).
    #[serde(default)]
    pub reloading: bool,
    /// How Salesforce's changes reach the rows: polled, or streamed as change events.
    #[serde(default)]
    pub feed: Feed,
    /// Why the object is polled rather than streamed, or what its stream last fell back
    /// from (a gap, a position Salesforce no longer kept), in words.
    #[serde(default)]
    pub feed_note: Option<String>,
    /// Seconds since the last change event was applied to the object's rows.
    #[serde(default)]
    pub last_event_secs: Option<f64>,
}

/// How Salesforce's changes reach an object's rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feed {
    /// An incremental query every polling interval.
    #[default]
    Poll,
    /// Change Data Capture events as they happen (a poll at a long interval as a safety
    /// net).
    Stream,
}

/// How far filling the fields a mapping change added into the existing rows has come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackfillProgress {
    /// API names of the fields being filled.
    pub fields: Vec<String>,
    /// Records read and written so far.
    pub done: u64,
    /// Rows the table held when the fields were added.
    pub total: u64,
    /// Why the last attempt failed, while the fill waits to be tried again.
    #[serde(default)]
    pub error: Option<String>,
}

/// How many minutes of activity [`ObjectStatus::activity`] covers.
pub const ACTIVITY_MINUTES: usize = 10;

/// What changed in Salesforce under one mapping since its metadata was cached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Drift {
    /// The object cannot be described any more (deleted, or no longer accessible).
    ObjectInaccessible { reason: String },
    /// A mapped field is gone.
    FieldRemoved { field: String },
    /// A mapped field's type or size changed.
    FieldChanged {
        field: String,
        was: String,
        now: String,
    },
    /// A field became required on create but is not mapped: pushed creates will fail.
    NewRequiredField { field: String },
}

/// The schema check's finding for one mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingDrift {
    pub object: String,
    pub drift: Vec<Drift>,
    /// False when sync of this object would fail until the mapping is updated.
    pub can_continue: bool,
    /// What to do, in words.
    pub advice: String,
}

/// A field changed on both sides since the last sync, and how it was settled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConflictRecord {
    pub object: String,
    pub sfid: String,
    pub field: String,
    pub db_value: serde_json::Value,
    pub sf_value: serde_json::Value,
    /// `salesforce` or `database`.
    pub winner: String,
    pub policy: ConflictPolicy,
    pub at: DateTime<Utc>,
}

/// Which side of the sync a [`RecentChange`] was made on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeSide {
    /// Made in the database (recorded by the triggers), to be pushed to Salesforce.
    Database,
    /// Made in Salesforce, written into the database by a pull.
    Salesforce,
}

/// What a [`RecentChange`] did to its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeOp {
    Insert,
    Update,
    Delete,
}

/// Where a [`RecentChange`] stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeOutcome {
    /// A database change waiting for (or in) the next push.
    Pending,
    /// A database change Salesforce accepted.
    Pushed,
    /// A database change Salesforce refused; `error` says why. It is sent again with the
    /// row's next change, or on `failed_retry`.
    Failed,
    /// A refused database change the user set aside (`failed_ignore`); `error` keeps why.
    Ignored,
    /// A database change never sent because the record was deleted in Salesforce first
    /// (a deletion wins); `error` says so.
    Superseded,
    /// A database change never sent by design: made while the object did not sync to
    /// Salesforce (discarded when it started to), or to a row detached from the row
    /// filter; `error` says which.
    NotSent,
    /// A Salesforce change the pull wrote into the database.
    Pulled,
}

/// One recent change of a mapped object's records, on either side (`changes_recent`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecentChange {
    pub side: ChangeSide,
    /// Database side: when the trigger recorded the change. Salesforce side: the record's
    /// `SystemModstamp` (when Salesforce stamped it), else when the pull wrote it.
    pub at: DateTime<Utc>,
    /// Who made it. Database side: the database user the trigger recorded (MariaDB/MySQL:
    /// `user@host`). Salesforce side: the record's `LastModifiedById` when the mapping
    /// pulls that field; `None` when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub who: Option<String>,
    pub op: ChangeOp,
    /// API names of the fields the change set. Database side: the fields whose value
    /// changed (insert: those set; delete: none). Salesforce side: the mapped fields the
    /// pull wrote (delete: none).
    pub fields: Vec<String>,
    /// The row's local key (database side; a pulled change does not know it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_id: Option<i64>,
    /// The record's Salesforce id (none for a database insert not created yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sfid: Option<String>,
    pub outcome: ChangeOutcome,
    /// Why a database change failed, was ignored or superseded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What deleting an org removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteReport {
    pub name: String,
    /// Whether the org held a Salesforce token at all (one never authorized holds none).
    #[serde(default = "yes")]
    pub had_token: bool,
    pub token_revoked: bool,
    pub schema_dropped: bool,
    /// Things that could not be done, each with what to do by hand.
    pub warnings: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_tagged_by_topic() {
        let json = serde_json::to_string(&Event::Orgs(vec![])).unwrap();
        assert_eq!(json, r#"{"topic":"orgs","data":[]}"#);
        assert_eq!(Event::Orgs(vec![]).topic(), Topic::Orgs);
    }

    #[test]
    fn api_usage_ratio_is_bounded() {
        assert_eq!(ApiUsage { used: 5, max: 10 }.ratio(), 0.5);
        assert_eq!(ApiUsage { used: 50, max: 10 }.ratio(), 1.0);
        assert_eq!(ApiUsage { used: 0, max: 0 }.ratio(), 1.0);
    }

    /// An org list from a daemon that predates `refresh_error` still reads (none failed),
    /// and a daemon with no failed refresh sends none.
    #[test]
    fn refresh_error_is_optional_on_the_wire() {
        let old = r#"{"name":"acme","org_id":null,"org_type":{"kind":"production"},
            "instance_url":null,"sync_enabled":true,"datasource_checked":true,
            "schema_generated":true,"metadata_downloaded_at":null,
            "auth":{"state":"authorized"},"api_usage":null}"#;
        let mut org: OrgSummary = serde_json::from_str(old).unwrap();
        assert_eq!(org.refresh_error, None);
        assert!(
            !serde_json::to_string(&org)
                .unwrap()
                .contains("refresh_error")
        );
        org.refresh_error = Some("the user denied access".into());
        let back: OrgSummary = serde_json::from_str(&serde_json::to_string(&org).unwrap()).unwrap();
        assert_eq!(back, org);
    }
}
