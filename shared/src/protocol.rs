//! The daemon ↔ TUI wire protocol.
//!
//! One JSON object per line (UTF-8, `\n`-terminated, at most [`MAX_LINE_BYTES`]) over a
//! local socket, in JSON-RPC 2.0 shapes. The client sends requests; the daemon answers each
//! with exactly one response carrying the same `id`, and pushes events for the topics the
//! client subscribed to as notifications without an `id`.
//!
//! The first request on a connection must be `handshake`; anything else before it gets a
//! [`codes::HANDSHAKE_REQUIRED`] error, and a connection that sends none within a few
//! seconds is closed with that error (`id: null`). The daemon serves a limited number of
//! clients: past it, or when it closes a connection still waiting for its handshake to make
//! room, it sends a [`codes::TOO_MANY_CONNECTIONS`] error (`id: null`) and closes. A client
//! that does not read its replies is no longer read from until it does.
//!
//! # Examples of every message
//!
//! ```text
//! → {"jsonrpc":"2.0","id":1,"method":"handshake","params":{"protocol":1,"client_name":"datenator-tui","client_version":"0.1.0"}}
//! ← {"jsonrpc":"2.0","id":1,"result":{"protocol":1,"daemon_version":"0.1.0"}}
//! → {"jsonrpc":"2.0","id":2,"method":"status","params":{}}
//! ← {"jsonrpc":"2.0","id":2,"result":{"version":"0.1.0","protocol":1,"pid":4242,"started_at":"2026-11-24T18:00:00Z","uptime_secs":12,"socket_path":"/run/datenator/datenatord.sock","state_dir":"/var/lib/datenator","config_file":null,"orgs":0,"connections":1}}
//! → {"jsonrpc":"2.0","id":3,"method":"org_list","params":{}}
//! ← {"jsonrpc":"2.0","id":3,"result":[]}
//! → {"jsonrpc":"2.0","id":4,"method":"subscribe","params":{"topics":["status","orgs"]}}
//! ← {"jsonrpc":"2.0","id":4,"result":{"topics":["status","orgs"]}}
//! ← {"jsonrpc":"2.0","method":"event","params":{"topic":"status","data":{…DaemonStatus…}}}
//! ← {"jsonrpc":"2.0","method":"event","params":{"topic":"orgs","data":[]}}
//! → {"jsonrpc":"2.0","id":5,"method":"unsubscribe","params":{"topics":["orgs"]}}
//! ← {"jsonrpc":"2.0","id":5,"result":{"topics":["status"]}}
//! → {"jsonrpc":"2.0","id":6,"method":"changes_recent","params":{"org":"acme","object":"Account","limit":50}}
//! ← {"jsonrpc":"2.0","id":6,"result":[{"side":"database","at":"2026-11-24T18:01:00Z","who":"alice","op":"update","fields":["Phone"],"row_id":7,"sfid":"001000000000001AAA","outcome":"pushed"}]}
//! → {oops
//! ← {"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"the line is not valid JSON (…): send one JSON object per line"}}
//! ```
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Map, Value};

use crate::datasource::{DatasourceSettings, Secret};
use crate::model::{AuthFlow, Event, Mapping, OrgType, Topic};

/// Bumped on every incompatible change of the messages in this module.
pub const PROTOCOL_VERSION: u32 = 1;

/// The longest line either side accepts, in bytes (without the newline).
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

/// Error codes carried in [`RpcError::code`]: the JSON-RPC 2.0 ones and Datenator's own.
pub mod codes {
    /// The line was not valid JSON (or not UTF-8).
    pub const PARSE_ERROR: i32 = -32700;
    /// Valid JSON, but not a request object with an `id` and a `method`.
    pub const INVALID_REQUEST: i32 = -32600;
    /// No such method.
    pub const METHOD_NOT_FOUND: i32 = -32601;
    /// The method exists but its `params` do not fit.
    pub const INVALID_PARAMS: i32 = -32602;
    /// Something went wrong inside the daemon; the message says what.
    pub const INTERNAL_ERROR: i32 = -32603;
    /// A request came before the handshake.
    pub const HANDSHAKE_REQUIRED: i32 = -32001;
    /// The two sides speak different protocol versions.
    pub const VERSION_MISMATCH: i32 = -32002;
    /// The line was longer than [`super::MAX_LINE_BYTES`].
    pub const LINE_TOO_LONG: i32 = -32003;
    /// The peer's user may not use this daemon.
    pub const PERMISSION_DENIED: i32 = -32004;
    /// The daemon is shutting down.
    pub const SHUTTING_DOWN: i32 = -32005;
    /// The daemon holds as many connections as it allows (`[daemon] max_connections`), or
    /// closed this one to make room while it was waiting for its handshake.
    pub const TOO_MANY_CONNECTIONS: i32 = -32006;
    /// The request named something (an org, a mapping) that does not exist.
    pub const NOT_FOUND: i32 = -32010;
    /// The request was understood but cannot be carried out as asked.
    pub const REJECTED: i32 = -32011;
}

/// An error reply. `message` is written for a person: what happened and what to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct RpcError {
    pub code: i32,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl RpcError {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        RpcError {
            code,
            message: message.into(),
            data: None,
        }
    }

    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }
}

/// Parameters of methods that take none. Accepts `{}`, `null` or a missing `params`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NoParams {}

/// The first request of every connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Handshake {
    pub protocol: u32,
    pub client_name: String,
    pub client_version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandshakeOk {
    pub protocol: u32,
    pub daemon_version: String,
}

/// What the daemon attaches as `data` to a [`codes::VERSION_MISMATCH`] error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionMismatchData {
    pub daemon_protocol: u32,
    pub daemon_version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Topics {
    pub topics: Vec<Topic>,
}

/// Registers a new org and starts authorizing it. The connected app comes from the
/// request or, when left out, from the `[salesforce]` section of the daemon's config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisterOrg {
    pub name: String,
    pub org_type: OrgType,
    pub flow: AuthFlow,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret>,
}

/// Runs an authorization flow again for an existing org.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reauthorize {
    pub name: String,
    pub flow: AuthFlow,
}

/// Finishes a web-server flow with the URL the browser landed on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompleteAuthorization {
    pub name: String,
    pub redirected_url: String,
}

/// Deletes an org; `confirm` must repeat its name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteOrg {
    pub name: String,
    pub confirm: String,
}

/// Names one org.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrgRef {
    pub name: String,
}

/// Names failed database changes of one mapped object: some rows, or all of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedRecords {
    pub org: String,
    pub object: String,
    /// Local keys of the rows; absent for every failed row of the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_ids: Option<Vec<i64>>,
}

/// Stores an org's datasource settings; an empty password keeps the stored one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetDatasource {
    pub org: String,
    pub settings: DatasourceSettings,
}

/// Sets the host of an org's MariaDB/MySQL sync account (`user@host`): the host the daemon
/// connects from as the server sees it when `host` is absent or empty. Takes effect at the
/// next "generate schema", which moves an existing sync account to the new host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetSyncHost {
    pub org: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// Plans (and with `apply`, applies) an org's mapping of one object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SaveMapping {
    pub org: String,
    pub mapping: Mapping,
    /// False: only return the plan. True: run it and store the mapping.
    pub apply: bool,
    /// Must be true to run a plan with destructive steps.
    #[serde(default)]
    pub confirm_destructive: bool,
    /// When the mapping starts sending to Salesforce (it did not before): true sends the
    /// database changes queued meanwhile, false (the default) discards them — a change made
    /// while the object was not meant to sync is never sent unless asked.
    #[serde(default)]
    pub send_queued: bool,
    /// When a changed row filter leaves rows outside it: what becomes of them in the
    /// database (their Salesforce records are never touched).
    #[serde(default)]
    pub leaving_rows: LeavingRows,
}

/// What becomes of the database rows whose records no longer match an object's row filter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeavingRows {
    /// Kept, marked detached (`_dn_state = 'DETACHED'`): never refreshed from Salesforce,
    /// their database changes never sent. Nothing is lost; the default.
    #[default]
    Detach,
    /// Deleted from the database (destructive: confirm it).
    Delete,
}

/// Re-reads one object from Salesforce: every record within the row filter is read again
/// and merged into its row by sfid; rows whose record is gone from Salesforce are deleted,
/// rows whose record left the row filter are kept detached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResyncObject {
    pub org: String,
    pub object: String,
    /// False: only return the plan (what it reads, its API cost). True: start it.
    pub apply: bool,
}

/// Removes an object's mapping (drops its tables: destructive).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoveMapping {
    pub org: String,
    pub object: String,
    pub apply: bool,
    #[serde(default)]
    pub confirm_destructive: bool,
}

/// Imports mappings from the text of an exported mappings file (TOML).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportMappings {
    pub org: String,
    pub text: String,
    /// False: only plan. True: apply every mapping's plan.
    pub apply: bool,
    #[serde(default)]
    pub confirm_destructive: bool,
}

/// Turns an org's sync on or off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetSync {
    pub name: String,
    pub enabled: bool,
}

/// Changes an org's polling interval and API budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrgSettings {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub polling_interval_secs: Option<u32>,
    /// Largest share of the org's daily API limit sync may use, 1–100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_budget_percent: Option<u8>,
}

/// Pins an org to one daemon of the fleet, or gives it back to the placement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PinOrg {
    pub name: String,
    #[serde(default)]
    pub daemon: Option<String>,
}

/// Names one object of one org.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectRef {
    pub org: String,
    pub object: String,
}

/// Asks for one mapped object's recent changes on both sides (`changes_recent`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecentChanges {
    pub org: String,
    pub object: String,
    /// At most this many changes (default [`RECENT_CHANGES_DEFAULT`], capped at
    /// [`RECENT_CHANGES_MAX`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// How many changes `changes_recent` returns when no `limit` is given.
pub const RECENT_CHANGES_DEFAULT: u32 = 100;
/// The most changes `changes_recent` returns, whatever the `limit`.
pub const RECENT_CHANGES_MAX: u32 = 500;

/// A `changes_recent` request and its reply, as on the wire: a pulled Salesforce change
/// (who: the record's `LastModifiedById`) and a database change Salesforce refused.
pub const CHANGES_RECENT_EXAMPLE: [&str; 2] = [
    r#"{"jsonrpc":"2.0","id":9,"method":"changes_recent","params":{"org":"acme","object":"Account","limit":50}}"#,
    r#"{"jsonrpc":"2.0","id":9,"result":[{"side":"salesforce","at":"2026-11-24T18:02:10Z","who":"005000000000001AAA","op":"update","fields":["Name","Phone"],"sfid":"001000000000001AAA","outcome":"pulled"},{"side":"database","at":"2026-11-24T18:01:00Z","who":"alice","op":"update","fields":["Phone"],"row_id":7,"sfid":"001000000000001AAA","outcome":"failed","error":"FIELD_CUSTOM_VALIDATION_EXCEPTION: Phone is invalid"}]}"#,
];

/// Every request a client can make, with its parameters. The reply type of each is
/// named in its doc line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", content = "params", rename_all = "snake_case")]
pub enum Call {
    /// → [`HandshakeOk`]
    Handshake(Handshake),
    /// → [`DaemonStatus`](crate::model::DaemonStatus)
    Status(NoParams),
    /// → `Vec<`[`OrgSummary`](crate::model::OrgSummary)`>`
    OrgList(NoParams),
    /// → [`Topics`] (all topics now subscribed). Each newly subscribed topic's full
    /// current state follows as an event, then its changes.
    Subscribe(Topics),
    /// → [`Topics`] (the topics still subscribed).
    Unsubscribe(Topics),
    /// → [`OrgSummary`](crate::model::OrgSummary) (its `auth` says what the user must do next)
    OrgRegister(RegisterOrg),
    /// → [`OrgSummary`](crate::model::OrgSummary)
    OrgReauthorize(Reauthorize),
    /// → [`OrgSummary`](crate::model::OrgSummary)
    OrgCompleteAuthorization(CompleteAuthorization),
    /// → [`DeleteReport`](crate::model::DeleteReport)
    OrgDelete(DeleteOrg),
    /// → [`MetadataReport`](crate::model::MetadataReport): downloads (or updates) the org's object list and describes.
    MetadataDownload(OrgRef),
    /// → `Vec<`[`ObjectInfo`](crate::model::ObjectInfo)`>` from the metadata cache.
    MetadataObjects(OrgRef),
    /// → `Vec<`[`FieldInfo`](crate::model::FieldInfo)`>` from the metadata cache.
    MetadataFields(ObjectRef),
    /// → [`DatasourceDetails`](crate::model::DatasourceDetails) (a
    /// [`DatasourceView`](crate::model::DatasourceView) with more fields)
    DatasourceSet(SetDatasource),
    /// → `Option<`[`DatasourceDetails`](crate::model::DatasourceDetails)`>`
    DatasourceGet(OrgRef),
    /// → [`CheckReport`](crate::datasource::CheckReport): one result per check.
    DatasourceCheck(OrgRef),
    /// → [`DatasourceDetails`](crate::model::DatasourceDetails): creates (or brings up to
    /// date) the org's schema, sync user and application role; its `access` names them and
    /// says how to give a database user the role.
    SchemaGenerate(OrgRef),
    /// → [`DatasourceDetails`](crate::model::DatasourceDetails)
    DatasourceSyncHost(SetSyncHost),
    /// → `Vec<`[`Mapping`]`>`
    MappingList(OrgRef),
    /// → [`PlanView`](crate::model::PlanView): the DDL, applied when asked and confirmed.
    MappingSave(SaveMapping),
    /// → [`PlanView`](crate::model::PlanView)
    MappingRemove(RemoveMapping),
    /// → [`PlanView`](crate::model::PlanView): re-reads an object from Salesforce (planned
    /// with `apply: false`, started with `apply: true`; progress on the object's status).
    ObjectResync(ResyncObject),
    /// → [`OrgSummary`](crate::model::OrgSummary)
    OrgSetSync(SetSync),
    /// → [`OrgSummary`](crate::model::OrgSummary)
    OrgSettings(OrgSettings),
    /// → `null`: pull every mapped object now instead of at the next polling interval.
    OrgSyncNow(OrgRef),
    /// → [`OrgSummary`](crate::model::OrgSummary): in a fleet, runs the org on the named
    /// daemon while it is live (`None`: placed by hashing again).
    OrgPin(PinOrg),
    /// → `Vec<`[`MappingDrift`](crate::model::MappingDrift)`>`: describes the mapped objects
    /// again and reports, per mapping, what drifted from the cached metadata.
    SchemaCheck(OrgRef),
    /// → `Vec<`[`ConflictRecord`](crate::model::ConflictRecord)`>`: the org's conflict log,
    /// newest first (at most 500).
    ConflictList(OrgRef),
    /// → `String`: every mapping of the org as a TOML file, for review and version control.
    MappingExport(OrgRef),
    /// → `Vec<`[`PlanView`](crate::model::PlanView)`>`, one per mapping in the file; mappings
    /// not in the file are left as they are.
    MappingImport(ImportMappings),
    /// → `Vec<`[`FailedRecord`](crate::model::FailedRecord)`>`: database changes Salesforce
    /// refused, per object, oldest first (at most 500 per object).
    FailedList(OrgRef),
    /// → `u64`: sends the named failed changes again at the next push (all of the object's
    /// when `row_ids` is absent). Returns how many changes were queued.
    FailedRetry(FailedRecords),
    /// → `u64`: stops retrying the named failed changes (all of the object's when `row_ids`
    /// is absent); the rows keep their values. Returns how many were set aside.
    FailedIgnore(FailedRecords),
    /// → `Vec<`[`RecentChange`](crate::model::RecentChange)`>`: the object's recent
    /// changes on both sides, newest first. Database side: what its events table still
    /// holds (pushed changes are purged after a retention); Salesforce side: the last
    /// records the daemon's pulls wrote since it started (kept in memory, 200 per object).
    /// See [`CHANGES_RECENT_EXAMPLE`].
    ChangesRecent(RecentChanges),
}

impl Call {
    pub fn method(&self) -> &'static str {
        match self {
            Call::Handshake(_) => "handshake",
            Call::Status(_) => "status",
            Call::OrgList(_) => "org_list",
            Call::Subscribe(_) => "subscribe",
            Call::Unsubscribe(_) => "unsubscribe",
            Call::OrgRegister(_) => "org_register",
            Call::OrgReauthorize(_) => "org_reauthorize",
            Call::OrgCompleteAuthorization(_) => "org_complete_authorization",
            Call::OrgDelete(_) => "org_delete",
            Call::MetadataDownload(_) => "metadata_download",
            Call::MetadataObjects(_) => "metadata_objects",
            Call::MetadataFields(_) => "metadata_fields",
            Call::DatasourceSet(_) => "datasource_set",
            Call::DatasourceGet(_) => "datasource_get",
            Call::DatasourceCheck(_) => "datasource_check",
            Call::SchemaGenerate(_) => "schema_generate",
            Call::DatasourceSyncHost(_) => "datasource_sync_host",
            Call::MappingList(_) => "mapping_list",
            Call::MappingSave(_) => "mapping_save",
            Call::MappingRemove(_) => "mapping_remove",
            Call::ObjectResync(_) => "object_resync",
            Call::OrgSetSync(_) => "org_set_sync",
            Call::OrgSettings(_) => "org_settings",
            Call::OrgSyncNow(_) => "org_sync_now",
            Call::OrgPin(_) => "org_pin",
            Call::SchemaCheck(_) => "schema_check",
            Call::ConflictList(_) => "conflict_list",
            Call::MappingExport(_) => "mapping_export",
            Call::MappingImport(_) => "mapping_import",
            Call::FailedList(_) => "failed_list",
            Call::FailedRetry(_) => "failed_retry",
            Call::FailedIgnore(_) => "failed_ignore",
            Call::ChangesRecent(_) => "changes_recent",
        }
    }
}

/// A request as sent on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub id: u64,
    pub call: Call,
}

impl Request {
    /// The request as one JSON line, without the trailing newline.
    pub fn to_line(&self) -> String {
        let mut obj = match serde_json::to_value(&self.call) {
            Ok(Value::Object(map)) => map,
            // `Call` is an adjacently tagged enum: it always serialises to an object.
            _ => Map::new(),
        };
        obj.insert("jsonrpc".into(), Value::from("2.0"));
        obj.insert("id".into(), Value::from(self.id));
        Value::Object(obj).to_string()
    }

    /// Parses one line from a client. On failure returns the error to send back and the
    /// request id when one could be read, so the reply can carry it.
    pub fn parse(line: &[u8]) -> Result<Request, (Option<u64>, RpcError)> {
        let text = std::str::from_utf8(line).map_err(|_| {
            (
                None,
                RpcError::new(
                    codes::PARSE_ERROR,
                    "the line is not valid UTF-8: send one UTF-8 JSON object per line",
                ),
            )
        })?;
        let value: Value = serde_json::from_str(text).map_err(|e| {
            (
                None,
                RpcError::new(
                    codes::PARSE_ERROR,
                    format!("the line is not valid JSON ({e}): send one JSON object per line"),
                ),
            )
        })?;
        let Value::Object(mut obj) = value else {
            return Err((
                None,
                RpcError::new(
                    codes::INVALID_REQUEST,
                    "expected a JSON object with \"id\", \"method\" and \"params\"",
                ),
            ));
        };
        let id = match obj.get("id") {
            Some(v) => v.as_u64().ok_or_else(|| {
                (
                    None,
                    RpcError::new(
                        codes::INVALID_REQUEST,
                        "\"id\" must be a non-negative integer",
                    ),
                )
            })?,
            None => {
                return Err((
                    None,
                    RpcError::new(
                        codes::INVALID_REQUEST,
                        "the request has no \"id\": every request needs a numeric id",
                    ),
                ));
            }
        };
        let method = match obj.get("method").and_then(Value::as_str) {
            Some(m) => m.to_owned(),
            None => {
                return Err((
                    Some(id),
                    RpcError::new(
                        codes::INVALID_REQUEST,
                        "the request has no \"method\" string",
                    ),
                ));
            }
        };
        let params = match obj.remove("params") {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(p) => p,
        };
        let tagged = serde_json::json!({ "method": method, "params": params });
        // The enum itself is the list of methods: serde names the known ones when the
        // method is unknown, so the list can never drift from the code.
        let call = serde_json::from_value::<Call>(tagged).map_err(|e| {
            let known = known_methods();
            if !known.contains(&method) {
                (
                    Some(id),
                    RpcError::new(
                        codes::METHOD_NOT_FOUND,
                        format!(
                            "unknown method \"{method}\": this daemon knows {}; the client may be newer than the daemon",
                            known.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")
                        ),
                    ),
                )
            } else {
                let text = e.to_string();
                // An unknown variant inside the params (a topic, a direction) is the
                // params' fault, not the method's.
                let text = match method.as_str() {
                    "subscribe" | "unsubscribe" => text.replacen("unknown variant", "unknown topic", 1),
                    _ => text,
                };
                (
                    Some(id),
                    RpcError::new(
                        codes::INVALID_PARAMS,
                        format!("invalid params for \"{method}\": {text}"),
                    ),
                )
            }
        })?;
        Ok(Request { id, call })
    }
}

/// The method names [`Call`] knows, as serde lists them for a name it does not know (so
/// the list can never drift from the enum).
fn known_methods() -> &'static [String] {
    static KNOWN: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    KNOWN.get_or_init(|| {
        let probe = serde_json::json!({ "method": "\u{0}", "params": {} });
        let text = serde_json::from_value::<Call>(probe)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        text.split_once("expected one of ")
            .map(|(_, k)| k)
            .unwrap_or("")
            .split(", ")
            .map(|m| m.trim_matches(|c| c == '`' || c == ' ').to_owned())
            .filter(|m| !m.is_empty())
            .collect()
    })
}

/// A reply to one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub jsonrpc: String,
    /// `None` only when the request's id could not be read.
    pub id: Option<u64>,
    #[serde(flatten)]
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Result(Value),
    Error(RpcError),
}

impl Response {
    pub fn ok(id: u64, result: impl Serialize) -> Response {
        let outcome = match serde_json::to_value(result) {
            Ok(v) => Outcome::Result(v),
            Err(e) => Outcome::Error(RpcError::new(
                codes::INTERNAL_ERROR,
                format!("the daemon could not encode its reply: {e}"),
            )),
        };
        Response {
            jsonrpc: "2.0".into(),
            id: Some(id),
            outcome,
        }
    }

    pub fn err(id: Option<u64>, error: RpcError) -> Response {
        Response {
            jsonrpc: "2.0".into(),
            id,
            outcome: Outcome::Error(error),
        }
    }

    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| {
            format!(
                r#"{{"jsonrpc":"2.0","id":null,"error":{{"code":{},"message":"encoding failed: {}"}}}}"#,
                codes::INTERNAL_ERROR,
                e.to_string().replace('"', "'")
            )
        })
    }

    /// The typed result, or the error.
    pub fn into_result<T: DeserializeOwned>(self) -> Result<T, RpcError> {
        match self.outcome {
            Outcome::Result(v) => serde_json::from_value(v).map_err(|e| {
                RpcError::new(
                    codes::INTERNAL_ERROR,
                    format!("the daemon's reply did not have the expected shape: {e}"),
                )
            }),
            Outcome::Error(e) => Err(e),
        }
    }
}

/// A server-pushed notification: `{"jsonrpc":"2.0","method":"event","params":<Event>}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub jsonrpc: String,
    pub method: String,
    pub params: Event,
}

impl Notification {
    pub fn event(event: Event) -> Notification {
        Notification {
            jsonrpc: "2.0".into(),
            method: "event".into(),
            params: event,
        }
    }

    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Anything the daemon sends.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMessage {
    Response(Response),
    Event(Event),
}

impl ServerMessage {
    pub fn parse(line: &[u8]) -> Result<ServerMessage, serde_json::Error> {
        let value: Value = serde_json::from_slice(line)?;
        if value.get("id").is_some() {
            Ok(ServerMessage::Response(serde_json::from_value(value)?))
        } else {
            let n: Notification = serde_json::from_value(value)?;
            Ok(ServerMessage::Event(n.params))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trip() {
        let req = Request {
            id: 7,
            call: Call::Subscribe(Topics {
                topics: vec![Topic::Status, Topic::Orgs],
            }),
        };
        let line = req.to_line();
        assert!(line.contains(r#""method":"subscribe""#), "{line}");
        assert_eq!(Request::parse(line.as_bytes()).unwrap(), req);
    }

    #[test]
    fn params_may_be_missing_or_null_for_parameterless_methods() {
        for line in [
            r#"{"jsonrpc":"2.0","id":1,"method":"status"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"status","params":null}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"status","params":{}}"#,
        ] {
            let req = Request::parse(line.as_bytes()).unwrap();
            assert_eq!(req.call, Call::Status(NoParams {}));
        }
    }

    #[test]
    fn parse_errors_are_specific() {
        let (id, e) = Request::parse(b"{oops").unwrap_err();
        assert_eq!((id, e.code), (None, codes::PARSE_ERROR));
        let (id, e) = Request::parse(b"[1,2]").unwrap_err();
        assert_eq!((id, e.code), (None, codes::INVALID_REQUEST));
        let (id, e) = Request::parse(br#"{"id":3,"method":"fly"}"#).unwrap_err();
        assert_eq!((id, e.code), (Some(3), codes::METHOD_NOT_FOUND));
        assert!(e.message.contains("fly"));
        let (id, e) = Request::parse(br#"{"id":4,"method":"subscribe","params":{"topics":"x"}}"#)
            .unwrap_err();
        assert_eq!((id, e.code), (Some(4), codes::INVALID_PARAMS));
        // An unknown topic is a bad parameter, and the reply names the topics there are.
        let (id, e) = Request::parse(
            br#"{"id":5,"method":"subscribe","params":{"topics":["status","nope"]}}"#,
        )
        .unwrap_err();
        assert_eq!(
            (id, e.code),
            (Some(5), codes::INVALID_PARAMS),
            "{}",
            e.message
        );
        assert!(e.message.contains("unknown topic `nope`"), "{}", e.message);
        for topic in ["status", "orgs", "sync", "log"] {
            assert!(e.message.contains(topic), "{}", e.message);
        }
        let (_, e) =
            Request::parse(br#"{"id":6,"method":"unsubscribe","params":{"topics":["x"]}}"#)
                .unwrap_err();
        assert_eq!(e.code, codes::INVALID_PARAMS);
        let (_, e) = Request::parse(&[0xff, 0xfe]).unwrap_err();
        assert_eq!(e.code, codes::PARSE_ERROR);
    }

    #[test]
    fn every_method_round_trips_and_unknown_ones_list_the_known() {
        let calls = vec![
            Call::Handshake(Handshake {
                protocol: 1,
                client_name: "t".into(),
                client_version: "0".into(),
            }),
            Call::Status(NoParams {}),
            Call::OrgList(NoParams {}),
            Call::Subscribe(Topics { topics: vec![] }),
            Call::Unsubscribe(Topics { topics: vec![] }),
            Call::OrgRegister(RegisterOrg {
                name: "a".into(),
                org_type: OrgType::Production,
                flow: AuthFlow::Device,
                client_id: None,
                client_secret: None,
            }),
            Call::OrgReauthorize(Reauthorize {
                name: "a".into(),
                flow: AuthFlow::WebServer,
            }),
            Call::OrgCompleteAuthorization(CompleteAuthorization {
                name: "a".into(),
                redirected_url: "x".into(),
            }),
            Call::OrgDelete(DeleteOrg {
                name: "a".into(),
                confirm: "a".into(),
            }),
            Call::MetadataDownload(OrgRef { name: "a".into() }),
            Call::MetadataObjects(OrgRef { name: "a".into() }),
            Call::MetadataFields(ObjectRef {
                org: "a".into(),
                object: "Account".into(),
            }),
            Call::DatasourceSet(SetDatasource {
                org: "a".into(),
                settings: serde_json::from_value(
                    serde_json::json!({"kind":"sqlite","sqlite_path":"/x.db"}),
                )
                .unwrap(),
            }),
            Call::DatasourceGet(OrgRef { name: "a".into() }),
            Call::DatasourceCheck(OrgRef { name: "a".into() }),
            Call::SchemaGenerate(OrgRef { name: "a".into() }),
            Call::DatasourceSyncHost(SetSyncHost {
                org: "a".into(),
                host: Some("10.0.0.5".into()),
            }),
            Call::MappingList(OrgRef { name: "a".into() }),
            Call::MappingSave(SaveMapping {
                org: "a".into(),
                mapping: Mapping {
                    object: "Account".into(),
                    fields: vec!["Name".into()],
                    direction: crate::model::Direction::Bidirectional,
                    conflict_policy: Default::default(),
                    row_filter: None,
                },
                apply: false,
                confirm_destructive: false,
                send_queued: false,
                leaving_rows: LeavingRows::Delete,
            }),
            Call::MappingRemove(RemoveMapping {
                org: "a".into(),
                object: "Account".into(),
                apply: false,
                confirm_destructive: false,
            }),
            Call::ObjectResync(ResyncObject {
                org: "a".into(),
                object: "Account".into(),
                apply: true,
            }),
            Call::OrgSetSync(SetSync {
                name: "a".into(),
                enabled: true,
            }),
            Call::OrgSettings(OrgSettings {
                name: "a".into(),
                polling_interval_secs: Some(30),
                api_budget_percent: None,
            }),
            Call::OrgSyncNow(OrgRef { name: "a".into() }),
            Call::OrgPin(PinOrg {
                name: "a".into(),
                daemon: Some("sync-2".into()),
            }),
            Call::SchemaCheck(OrgRef { name: "a".into() }),
            Call::ConflictList(OrgRef { name: "a".into() }),
            Call::MappingExport(OrgRef { name: "a".into() }),
            Call::MappingImport(ImportMappings {
                org: "a".into(),
                text: String::new(),
                apply: false,
                confirm_destructive: false,
            }),
            Call::FailedList(OrgRef { name: "a".into() }),
            Call::FailedRetry(FailedRecords {
                org: "a".into(),
                object: "Account".into(),
                row_ids: Some(vec![7]),
            }),
            Call::FailedIgnore(FailedRecords {
                org: "a".into(),
                object: "Account".into(),
                row_ids: None,
            }),
            Call::ChangesRecent(RecentChanges {
                org: "a".into(),
                object: "Account".into(),
                limit: Some(50),
            }),
        ];
        for call in &calls {
            assert!(
                known_methods().iter().any(|m| m == call.method()),
                "{} missing from {:?}",
                call.method(),
                known_methods()
            );
        }
        for (i, call) in calls.into_iter().enumerate() {
            let req = Request { id: i as u64, call };
            let line = req.to_line();
            assert!(
                line.contains(&format!("\"method\":\"{}\"", req.call.method())),
                "{line}"
            );
            assert_eq!(Request::parse(line.as_bytes()).unwrap(), req);
        }
        let (_, e) = Request::parse(br#"{"id":1,"method":"fly"}"#).unwrap_err();
        assert_eq!(e.code, codes::METHOD_NOT_FOUND);
        assert!(
            e.message.contains("org_register") && e.message.contains("schema_generate"),
            "{}",
            e.message
        );
    }

    #[test]
    fn the_changes_recent_example_reads_as_documented() {
        use crate::model::{ChangeOp, ChangeOutcome, ChangeSide, RecentChange};
        let [request, reply] = CHANGES_RECENT_EXAMPLE;
        let req = Request::parse(request.as_bytes()).unwrap();
        assert_eq!(
            req.call,
            Call::ChangesRecent(RecentChanges {
                org: "acme".into(),
                object: "Account".into(),
                limit: Some(50),
            })
        );
        let ServerMessage::Response(resp) = ServerMessage::parse(reply.as_bytes()).unwrap() else {
            panic!("not a response");
        };
        let changes: Vec<RecentChange> = resp.into_result().unwrap();
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].side, ChangeSide::Salesforce);
        assert_eq!(changes[0].outcome, ChangeOutcome::Pulled);
        assert_eq!(changes[0].row_id, None);
        assert_eq!(changes[1].who.as_deref(), Some("alice"));
        assert_eq!(changes[1].op, ChangeOp::Update);
        assert_eq!(changes[1].outcome, ChangeOutcome::Failed);
        assert!(changes[1].error.as_deref().unwrap().contains("Phone"));
        // Absent optional fields stay absent on the wire, and a limit may be left out.
        let again = serde_json::to_string(&changes[0]).unwrap();
        assert!(
            !again.contains("row_id") && !again.contains("error"),
            "{again}"
        );
        let req = Request::parse(
            br#"{"id":1,"method":"changes_recent","params":{"org":"a","object":"B"}}"#,
        )
        .unwrap();
        assert!(matches!(
            req.call,
            Call::ChangesRecent(RecentChanges { limit: None, .. })
        ));
    }

    #[test]
    fn responses_and_events_are_told_apart() {
        let ok = Response::ok(9, serde_json::json!({"a":1})).to_line();
        assert!(matches!(
            ServerMessage::parse(ok.as_bytes()).unwrap(),
            ServerMessage::Response(Response { id: Some(9), .. })
        ));
        let err = Response::err(None, RpcError::new(codes::PARSE_ERROR, "bad")).to_line();
        assert!(err.contains(r#""id":null"#), "{err}");
        let ev = Notification::event(Event::Orgs(vec![])).to_line();
        assert_eq!(
            ServerMessage::parse(ev.as_bytes()).unwrap(),
            ServerMessage::Event(Event::Orgs(vec![]))
        );
    }
}
