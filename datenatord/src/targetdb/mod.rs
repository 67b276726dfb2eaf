//! Target databases: PostgreSQL, MariaDB/MySQL and SQLite behind one trait.
//!
//! Per org the target holds a schema (MySQL: a database; SQLite: the file) with a cursor
//! table, and per mapped object a data table, an events table `<table>__events` and row
//! triggers that record every change made by anyone but the engine (ARCHITECTURE.md,
//! "Invariants", says what they guarantee). Each dialect has a folder: `mod.rs` (connections,
//! upserts, claims, the trait), `check.rs`, `ddl.rs` (PostgreSQL also `copy.rs`).
//!
//! * [`AnyTarget::new`] / [`AnyTarget::for_org`] build a target from [`DatasourceSettings`]
//!   and the org's schema name; connections open lazily, with the admin credentials for DDL
//!   and with the sync user's credentials (from [`Provisioned`], stored by the caller) for
//!   the engine's work. On PostgreSQL, no credentials means session marking
//!   (`datenator.origin = 'sync'` on the admin's connections).
//! * Values cross the trait as `serde_json::Value`s in Salesforce's REST JSON form, keyed by
//!   field API name (see [`types`]); events and [`StoredRow`]s come back the same way.
//!   Datetimes are stored in UTC.
//! * The engine's own writes (upserts, deletes, sfid write-back, failure marks) never create
//!   events: PostgreSQL and MySQL skip the sync user (`session_user` / `USER()`), SQLite a
//!   mark set inside the engine's transaction.
//! * Fleet mode: a target built [`with_fence`](AnyTarget::with_fence) checks the fencing
//!   token stored beside the cursor (row `:fence` of the cursor table) at the start of every
//!   write transaction of the engine's, and writes nothing once a newer lease holder has
//!   claimed the org ([`AnyTarget::claim_fence`]); see [`fence`].
//! * Version floors: PostgreSQL 9.6, MariaDB 10.2.3, MySQL 5.7.8 (the MySQL triggers need
//!   `JSON_OBJECT`), SQLite 3.35.
//! * Dynamic SQL exists only in the dialect modules, built from identifiers that went through
//!   [`ident::quote`] and from values bound as parameters or (DDL only) quoted with
//!   [`ident::literal`].

pub(crate) mod bookkeeping;
pub mod check;
pub mod fence;
pub mod ident;
pub mod load;
pub mod mysql;
pub mod password;
pub mod plan;
pub mod postgres;
pub mod sqlite;
pub mod types;

use std::future::Future;

use chrono::{DateTime, Utc};
use datenator_shared::datasource::{
    CheckReport, DatasourceKind, DatasourceSettings, Secret, SyncWriterMode,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use fence::Fence;
pub use plan::{Plan, PlanStep};
pub use types::{FieldSpec, ObjectMapping, SfType};

/// SQL dialect of a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    Postgres,
    Mysql,
    Sqlite,
}

/// The PostgreSQL NOTIFY channel the triggers signal; the payload is
/// `<schema>.<events table>`.
pub const NOTIFY_CHANNEL: &str = "datenator";

/// The cursor table's name in every org schema.
pub const CURSOR_TABLE: &str = "_datenator_cursor";

/// Errors of the target layer. Messages say what happened and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(
        "cannot reach the database server at {host}:{port} ({reason}); check the host name and port, and that the server accepts TCP connections from this machine"
    )]
    Unreachable {
        host: String,
        port: u16,
        reason: String,
    },
    #[error(
        "the server rejected user {user}: {message}; check the user name and password (and, for PostgreSQL, pg_hba.conf)"
    )]
    Authentication { user: String, message: String },
    #[error(
        "database {database} does not exist on the server; create it or correct the database name"
    )]
    DatabaseMissing { database: String },
    #[error("missing privilege: {what}; fix: {fix}")]
    Permission { what: String, fix: String },
    #[error(
        "no sync credentials for schema {schema}: provision the org first (or pass the stored credentials)"
    )]
    NotProvisioned { schema: String },
    #[error("invalid mapping: {0}")]
    InvalidMapping(String),
    #[error("field {field}: value {value} is not {expected}")]
    BadValue {
        field: String,
        value: String,
        expected: String,
    },
    #[error("invalid datasource settings: {0}")]
    Settings(String),
    #[error("this plan was made for {planned}, not for {actual}; plan again")]
    WrongPlan { planned: String, actual: String },
    #[error("{context}: {source}")]
    Database {
        context: String,
        #[source]
        source: sqlx::Error,
    },
    /// A write (or a claim) under fencing token `ours` found the newer token `stored` in
    /// the target: it was rolled back, nothing was written (see [`fence`]).
    #[error(
        "another daemon of the fleet took over this org (the target holds its fencing token {stored}; this daemon's lease has {ours}): this daemon writes nothing more for the org and leaves it to that daemon"
    )]
    Fenced { ours: i64, stored: i64 },
    /// Waited too long for a lock another session holds: nothing was written, and the
    /// engine tries again (the message says what waited for what).
    #[error("{0}")]
    Busy(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl TargetError {
    pub(crate) fn db(context: impl Into<String>) -> impl FnOnce(sqlx::Error) -> TargetError {
        let context = context.into();
        move |source| TargetError::Database { context, source }
    }
}

/// What provisioning produced. The caller stores the credentials in the daemon's state store
/// and passes them back to [`AnyTarget::new`] later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provisioned {
    pub writer_mode: SyncWriterMode,
    /// `None` in session/transaction marking modes.
    pub sync_credentials: Option<SyncCredentials>,
    /// The application role: read/write on the data tables for ordinary database users
    /// (the events tables are written only by the triggers). `None` where the database has
    /// no roles or the admin may not create them.
    pub app_role: Option<String>,
}

/// The generated sync user. `Debug` hides the password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncCredentials {
    pub user: String,
    pub password: Secret,
    /// MariaDB/MySQL: the host part of the sync account (`user@host`); `None` for an account
    /// generated before the host was recorded (`'%'`), and on PostgreSQL.
    #[serde(default)]
    pub host: Option<String>,
}

/// A pull watermark: the last (SystemModstamp, Id) written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub systemmodstamp: DateTime<Utc>,
    pub last_id: String,
}

/// Which rows to read: by local key (`id`) or by Salesforce id.
#[derive(Debug, Clone, Copy)]
pub enum RowKeys<'a> {
    Ids(&'a [i64]),
    Sfids(&'a [String]),
}

impl RowKeys<'_> {
    /// The key column.
    pub(crate) fn column(&self) -> &'static str {
        match self {
            RowKeys::Ids(_) => "id",
            RowKeys::Sfids(_) => "sfid",
        }
    }

    /// The keys, at most `n` to a slice, as bind values.
    pub(crate) fn chunks(&self, n: usize) -> Vec<Vec<types::SqlValue>> {
        match self {
            RowKeys::Ids(ids) => ids
                .chunks(n.max(1))
                .map(|c| c.iter().map(|i| types::SqlValue::Int(*i)).collect())
                .collect(),
            RowKeys::Sfids(sfids) => sfids
                .chunks(n.max(1))
                .map(|c| c.iter().map(|s| types::SqlValue::Text(s.clone())).collect())
                .collect(),
        }
    }
}

/// A position stored in the cursor table in the same transaction as the rows it covers:
/// the pull's cursor of an object (`key` = the object) or its change-event stream's
/// (`key` = [`stream_key`]).
#[derive(Debug, Clone, Copy)]
pub struct Position<'a> {
    pub key: &'a str,
    pub cursor: &'a Cursor,
}

impl<'a> Position<'a> {
    /// The pull cursor of `object`.
    pub fn pull(object: &'a str, cursor: &'a Cursor) -> Self {
        Position {
            key: object,
            cursor,
        }
    }
}

/// The cursor table's key of an object's change-event stream position: its last applied
/// replay id in `last_id`, that event's commit time in `systemmodstamp`. (An API name never
/// holds a `/`, so it cannot meet an object's own key.)
pub fn stream_key(object: &str) -> String {
    format!("{object}/stream")
}

/// One Salesforce record to write. `values` holds every mapped field (a missing one is
/// written as NULL), keyed by API name, in Salesforce JSON form; `Id`/`SystemModstamp`
/// entries in it are ignored in favour of the dedicated fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub sfid: String,
    pub systemmodstamp: Option<DateTime<Utc>>,
    pub values: Map<String, Value>,
}

/// Operation recorded by the triggers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum EventOp {
    Insert,
    Update,
    Delete,
}

impl EventOp {
    /// The operation as the triggers write it; anything else is refused, never guessed.
    pub(crate) fn parse(s: &str) -> Result<EventOp, TargetError> {
        match s {
            "INSERT" => Ok(EventOp::Insert),
            "UPDATE" => Ok(EventOp::Update),
            "DELETE" => Ok(EventOp::Delete),
            other => Err(TargetError::BadValue {
                field: "an events table's op".into(),
                value: other.to_owned(),
                expected: "INSERT, UPDATE or DELETE (was the events table written by hand?)".into(),
            }),
        }
    }
}

/// A change made in the database by someone other than the engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: i64,
    pub op: EventOp,
    /// Local key (`id`) of the data row.
    pub row_id: i64,
    pub sfid: Option<String>,
    /// API names of the fields whose value changed (INSERT: the fields set non-null;
    /// DELETE: empty).
    pub changed: Vec<String>,
    /// Previous values of the changed fields (DELETE: all fields), Salesforce JSON form.
    pub old_values: Map<String, Value>,
    /// New values of the changed fields (INSERT: all non-null fields).
    pub new_values: Map<String, Value>,
    /// The database user that made the change (MySQL: `user@host`).
    pub db_user: String,
    pub created_at: DateTime<Utc>,
}

/// A change Salesforce refused, with its error.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedEvent {
    pub event: Event,
    pub error: String,
}

/// A recent change as its events table holds it: the event, its state (`NEW`, `CLAIMED`,
/// `DONE`, `FAILED`) and its error (a refusal; kept when set aside).
#[derive(Debug, Clone, PartialEq)]
pub struct RecentEvent {
    pub event: Event,
    pub state: String,
    pub error: Option<String>,
}

/// The error a change is settled with when its record was deleted in Salesforce first.
pub const SUPERSEDED_ERROR: &str = "the record was deleted in Salesforce";

/// Why a database change was settled without being sent: made while its object did not
/// sync to Salesforce, and discarded when it started to.
pub const NOT_SENT_DISCARDED: &str =
    "not sent: made while the object did not sync to Salesforce (discarded when it started to)";

/// Why a database change was settled without being sent: its row is detached from the
/// row filter.
pub const NOT_SENT_DETACHED: &str =
    "not sent: the row is detached (its record is outside the row filter)";

/// Which failed changes a retry or an ignore applies to.
#[derive(Debug, Clone, Copy)]
pub enum FailedScope<'a> {
    /// Every failed change of the object.
    All,
    /// The failed changes of these rows (local keys).
    Rows(&'a [i64]),
}

/// What to do with failed changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailedAction {
    /// Back to the queue: sent at the next push.
    Retry,
    /// Set aside: never sent; the row keeps its values.
    Ignore,
}

/// The two statements that settle failed changes, for `dialect`, given the qualified data
/// and events tables: first the rows' state is cleared, then the events move on.
pub(crate) fn settle_failed_sql(
    dialect: Dialect,
    table: &str,
    events: &str,
    scope: FailedScope<'_>,
    action: FailedAction,
) -> [String; 2] {
    let c = |name: &str| ident::quote(dialect, name);
    let (state, row_id, id, err) = (c("state"), c("row_id"), c("id"), c("error"));
    let now = now_sql(dialect);
    // Ids are integers: written as literals, the same text serves every dialect.
    let rows_in = |ids: &[i64]| {
        let list: Vec<String> = ids.iter().map(i64::to_string).collect();
        if list.is_empty() {
            "NULL".to_owned()
        } else {
            list.join(", ")
        }
    };
    let (event_scope, row_scope) = match scope {
        FailedScope::All => ("1 = 1".to_owned(), "1 = 1".to_owned()),
        FailedScope::Rows(ids) => (
            format!("{row_id} IN ({})", rows_in(ids)),
            format!("{id} IN ({})", rows_in(ids)),
        ),
    };
    // Retried: the row is back to what it was before the refusal. Ignored: the row keeps
    // saying its change never reached Salesforce (and why), until a pull or a later
    // change of the row brings the two together again.
    let rows = match action {
        FailedAction::Retry => format!(
            "UPDATE {table} SET {} = CASE WHEN {} IS NULL THEN 'LOCAL' ELSE 'SYNCED' END, {} = NULL WHERE {} = 'FAILED' AND {row_scope}",
            c("_dn_state"),
            c("sfid"),
            c("_dn_error"),
            c("_dn_state"),
        ),
        FailedAction::Ignore => format!(
            "UPDATE {table} SET {} = 'IGNORED' WHERE {} = 'FAILED' AND {row_scope}",
            c("_dn_state"),
            c("_dn_state"),
        ),
    };
    let events = match action {
        FailedAction::Retry => format!(
            "UPDATE {events} SET {state} = 'NEW', {err} = NULL, {} = NULL, {} = NULL, {} = NULL WHERE {state} = 'FAILED' AND {event_scope}",
            c("claim_token"),
            c("claimed_at"),
            c("processed_at"),
        ),
        FailedAction::Ignore => format!(
            "UPDATE {events} SET {state} = 'DONE', {} = {now} WHERE {state} = 'FAILED' AND {event_scope}",
            c("processed_at"),
        ),
    };
    [rows, events]
}

/// The dialect's expression for "now" in the events table's time columns.
fn now_sql(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Postgres => "now()",
        Dialect::Mysql => "UTC_TIMESTAMP(3)",
        Dialect::Sqlite => "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
    }
}

/// The dialect's `n`th bind placeholder (1-based).
fn placeholder(dialect: Dialect, n: usize) -> String {
    match dialect {
        Dialect::Postgres => format!("${n}"),
        Dialect::Mysql | Dialect::Sqlite => "?".to_owned(),
    }
}

/// What becomes of rows the engine takes out of sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowsLeave {
    /// The record is gone (or the user chose so): the row is deleted.
    Delete,
    /// The record left the row filter: the row stays, `_dn_state = 'DETACHED'`.
    Detach,
    /// A detached row's record matches the row filter again: the row is synced again
    /// (its changes made from now on are sent; none is settled).
    Rejoin,
}

impl RowsLeave {
    /// Whether the rows' unsent changes are settled (never sent) with them.
    pub(crate) fn settles_changes(self) -> bool {
        self != RowsLeave::Rejoin
    }
}

/// The state a detached row is marked with, and why.
pub const DETACHED_STATE: &str = "DETACHED";
const DETACHED_NOTE: &str =
    "outside the row filter: no longer refreshed from Salesforce, changes not sent";

/// Takes `n` rows out of sync by sfid, for `dialect`, given the qualified data table (binds:
/// the sfids).
pub(crate) fn rows_leave_sql(dialect: Dialect, table: &str, n: usize, how: RowsLeave) -> String {
    let c = |name: &str| ident::quote(dialect, name);
    let list: Vec<String> = (1..=n).map(|i| placeholder(dialect, i)).collect();
    let scope = format!("{} IN ({})", c("sfid"), list.join(", "));
    match how {
        RowsLeave::Delete => format!("DELETE FROM {table} WHERE {scope}"),
        RowsLeave::Detach => format!(
            "UPDATE {table} SET {} = '{DETACHED_STATE}', {} = '{DETACHED_NOTE}' WHERE {scope}",
            c("_dn_state"),
            c("_dn_error"),
        ),
        RowsLeave::Rejoin => format!(
            "UPDATE {table} SET {state} = 'SYNCED', {} = NULL WHERE {state} = '{DETACHED_STATE}' AND {scope}",
            c("_dn_error"),
            state = c("_dn_state"),
        ),
    }
}

/// Forgets an object's pull cursor, for `dialect`, given the qualified cursor table (bind:
/// the object).
pub(crate) fn reset_cursor_sql(dialect: Dialect, cursor_table: &str) -> String {
    format!(
        "DELETE FROM {cursor_table} WHERE {} = {}",
        ident::quote(dialect, "object"),
        placeholder(dialect, 1)
    )
}

/// Settles the unfinished changes of rows taken out of sync (binds: `n` sfids): of a
/// record just deleted in Salesforce (a deletion wins over a concurrent change), or of a
/// row detached from the row filter — done, not failed, never sent, and off the failed
/// list, with the reason as their error.
pub(crate) fn events_superseded_sql(
    dialect: Dialect,
    events: &str,
    n: usize,
    how: RowsLeave,
) -> String {
    let c = |name: &str| ident::quote(dialect, name);
    let list: Vec<String> = (1..=n).map(|i| placeholder(dialect, i)).collect();
    let note = match how {
        RowsLeave::Detach => NOT_SENT_DETACHED,
        RowsLeave::Delete | RowsLeave::Rejoin => SUPERSEDED_ERROR,
    };
    format!(
        "UPDATE {events} SET {state} = 'DONE', {error} = {note}, {processed} = {now}, {token} = NULL WHERE {state} <> 'DONE' AND {sfid} IN ({list})",
        note = ident::literal(dialect, note),
        state = c("state"),
        error = c("error"),
        processed = c("processed_at"),
        token = c("claim_token"),
        sfid = c("sfid"),
        now = now_sql(dialect),
        list = list.join(", "),
    )
}

/// The newest events of an object, newest first (bind: the limit), in the column order
/// the dialects' `raw_event` reads, then state and error. `json_text` follows each JSON
/// column to read it as text (PostgreSQL: `::text`).
pub(crate) fn recent_events_sql(dialect: Dialect, events: &str, json_text: &str) -> String {
    let c = |name: &str| ident::quote(dialect, name);
    format!(
        "SELECT {}, {}, {}, {}, {}{json_text}, {}{json_text}, {}{json_text}, {}, {}, {}, {} FROM {events} ORDER BY {} DESC LIMIT {}",
        c("id"),
        c("op"),
        c("row_id"),
        c("sfid"),
        c("changed"),
        c("old_values"),
        c("new_values"),
        c("db_user"),
        c("created_at"),
        c("state"),
        c("error"),
        c("id"),
        placeholder(dialect, 1),
    )
}

/// The pending changes of the rows holding `n` sfids (binds: the sfids): local key and
/// changed columns (`changed`, read as text through `changed_text`).
pub(crate) fn pending_fields_sql(
    dialect: Dialect,
    table: &str,
    events: &str,
    n: usize,
    changed_text: &str,
) -> String {
    let c = |name: &str| ident::quote(dialect, name);
    let list: Vec<String> = (1..=n).map(|i| placeholder(dialect, i)).collect();
    format!(
        "SELECT e.{row_id}, {changed_text} FROM {events} e WHERE e.{state} IN ('NEW', 'CLAIMED') AND e.{op} <> 'DELETE' AND e.{row_id} IN (SELECT d.{id} FROM {table} d WHERE d.{sfid} IN ({list})) ORDER BY e.{id}",
        row_id = c("row_id"),
        state = c("state"),
        op = c("op"),
        id = c("id"),
        sfid = c("sfid"),
        list = list.join(", "),
    )
}

/// Decodes [`pending_fields_sql`]'s rows: API names of the changed fields per row.
pub(crate) fn pending_fields_decode(
    dialect: Dialect,
    mapping: &ObjectMapping,
    rows: impl IntoIterator<Item = (i64, String)>,
) -> Vec<(i64, Vec<String>)> {
    rows.into_iter()
        .map(|(row, changed)| {
            let v: Value = serde_json::from_str(&changed).unwrap_or(Value::Null);
            (row, event_changed(dialect, mapping, &v))
        })
        .collect()
}

/// A pull's rows with every field that has a local change still to be pushed set back to
/// the row's stored value: a pull never overwrites such a field. If Salesforce changed it
/// too, the push settles the two by the mapping's policy (and logs it); where Salesforce
/// wins, the push writes its value into the row. Called by the dialects inside the pull's
/// write transaction, after the rows are locked (see [`Target::upsert_rows_lenient`]).
///
/// Returns the sfids of the rows where a kept value differs from the pulled one.
pub(crate) async fn keep_pending_local<T: Target>(
    target: &T,
    mapping: &ObjectMapping,
    rows: &mut [Row],
) -> Result<Vec<String>, TargetError> {
    let mut differs = Vec::new();
    if rows.is_empty() {
        return Ok(differs);
    }
    let sfids: Vec<String> = rows.iter().map(|r| r.sfid.clone()).collect();
    let pending = target.pending_fields(mapping, &sfids).await?;
    if pending.is_empty() {
        return Ok(differs);
    }
    let mut by_row: std::collections::HashMap<i64, Vec<String>> = Default::default();
    for (row, fields) in pending {
        by_row.entry(row).or_default().extend(fields);
    }
    let row_ids: Vec<i64> = by_row.keys().copied().collect();
    for stored in target.fetch_rows(mapping, RowKeys::Ids(&row_ids)).await? {
        let (Some(sfid), Some(fields)) = (&stored.sfid, by_row.get(&stored.id)) else {
            continue;
        };
        let Some(row) = rows.iter_mut().find(|r| &r.sfid == sfid) else {
            continue;
        };
        for f in fields {
            let Some(local) = stored.values.get(f) else {
                continue;
            };
            let key = row
                .values
                .keys()
                .find(|k| k.eq_ignore_ascii_case(f))
                .cloned()
                .unwrap_or_else(|| f.clone());
            if row.values.get(&key) != Some(local) {
                tracing::debug!(%sfid, field = %f, "kept the local value of a field whose change is not pushed yet");
                if differs.last() != Some(sfid) {
                    differs.push(sfid.clone());
                }
            }
            row.values.insert(key, local.clone());
        }
    }
    Ok(differs)
}

/// The columns and converted values of `values` for [`Target::write_fields`], in mapping
/// order (fields not mapped are left out), each with the converted value the row is
/// expected to hold (`expected`; null when absent).
pub(crate) fn field_values<'m>(
    dialect: Dialect,
    mapping: &'m ObjectMapping,
    values: &Map<String, Value>,
    expected: &Map<String, Value>,
) -> Result<Vec<(&'m FieldSpec, types::SqlValue, types::SqlValue)>, TargetError> {
    let get = |m: &'_ Map<String, Value>, f: &FieldSpec| {
        m.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&f.name))
            .map(|(_, v)| v.clone())
    };
    mapping
        .data_fields()
        .filter_map(|f| {
            let v = get(values, f)?;
            let was = get(expected, f).unwrap_or(Value::Null);
            Some(
                types::to_sql(dialect, f, &was)
                    .and_then(|was| Ok((f, was, types::to_sql(dialect, f, &v)?))),
            )
        })
        .collect()
}

/// `UPDATE` of some columns of the row holding an sfid, each only if it still holds the
/// expected value (a newer local change is left alone: it is pushed and settled in turn).
/// `value(field, n)` is the dialect's expression for the `n`th bind; the binds are each
/// field's expected then new value, in order, then the sfid.
pub(crate) fn write_fields_sql(
    dialect: Dialect,
    table: &str,
    fields: &[&FieldSpec],
    value: impl Fn(&FieldSpec, usize) -> String,
) -> String {
    let sets: Vec<String> = fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let c = ident::quote(dialect, &f.column(dialect));
            let (was, new) = (value(f, 2 * i + 1), value(f, 2 * i + 2));
            match dialect {
                Dialect::Postgres => {
                    format!(
                        "{c} = CASE WHEN {c} IS NOT DISTINCT FROM {was} THEN {new} ELSE {c} END"
                    )
                }
                Dialect::Mysql => format!("{c} = IF({c} <=> {was}, {new}, {c})"),
                Dialect::Sqlite => format!("{c} = CASE WHEN {c} IS {was} THEN {new} ELSE {c} END"),
            }
        })
        .collect();
    format!(
        "UPDATE {table} SET {} WHERE {} = {}",
        sets.join(", "),
        ident::quote(dialect, "sfid"),
        placeholder(dialect, 2 * fields.len() + 1)
    )
}

/// `UPDATE` filling some columns of `rows` rows, matched by sfid, each column only where it
/// is NULL: a backfill of fields added to a mapping never overwrites a value a pull or a
/// database user wrote meanwhile (it is as new or newer). `value(field, n)` is the dialect's
/// expression for the `n`th bind; the binds are, row after row, the sfid then each field's
/// value in order.
pub(crate) fn fill_fields_sql(
    dialect: Dialect,
    table: &str,
    fields: &[&FieldSpec],
    rows: usize,
    value: impl Fn(&FieldSpec, usize) -> String,
) -> String {
    let q = |name: &str| ident::quote(dialect, name);
    let cols: Vec<String> = fields.iter().map(|f| q(&f.column(dialect))).collect();
    let sfid = q("sfid");
    let per_row = fields.len() + 1;
    let binds = |r: usize| -> Vec<String> {
        let at = r * per_row + 1;
        let id = match dialect {
            Dialect::Postgres => format!("CAST({} AS text)", placeholder(dialect, at)),
            _ => placeholder(dialect, at),
        };
        std::iter::once(id)
            .chain(fields.iter().enumerate().map(|(i, f)| value(f, at + 1 + i)))
            .collect()
    };
    let tuples = || {
        (0..rows)
            .map(|r| format!("({})", binds(r).join(", ")))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match dialect {
        Dialect::Postgres => {
            let sets: Vec<String> = cols
                .iter()
                .map(|c| format!("{c} = COALESCE(t.{c}, v.{c})"))
                .collect();
            format!(
                "UPDATE {table} AS t SET {} FROM (VALUES {}) AS v({sfid}, {}) WHERE t.{sfid} = v.{sfid}",
                sets.join(", "),
                tuples(),
                cols.join(", ")
            )
        }
        Dialect::Sqlite => {
            // A VALUES table's columns are column1, column2, …: the sfid, then the fields.
            let sets: Vec<String> = cols
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{c} = COALESCE({table}.{c}, v.column{})", i + 2))
                .collect();
            format!(
                "UPDATE {table} SET {} FROM (VALUES {}) AS v WHERE {table}.{sfid} = v.column1",
                sets.join(", "),
                tuples()
            )
        }
        Dialect::Mysql => {
            let selects: Vec<String> = (0..rows)
                .map(|r| {
                    let b = binds(r);
                    if r == 0 {
                        let named: Vec<String> = std::iter::once(&sfid)
                            .chain(&cols)
                            .zip(&b)
                            .map(|(c, v)| format!("{v} AS {c}"))
                            .collect();
                        format!("SELECT {}", named.join(", "))
                    } else {
                        format!("SELECT {}", b.join(", "))
                    }
                })
                .collect();
            let sets: Vec<String> = cols
                .iter()
                .map(|c| format!("t.{c} = COALESCE(t.{c}, v.{c})"))
                .collect();
            format!(
                "UPDATE {table} AS t JOIN ({}) AS v ON t.{sfid} = v.{sfid} SET {}",
                selects.join(" UNION ALL "),
                sets.join(", ")
            )
        }
    }
}

/// Rows per backfill statement for `fields` fields: at most 500, and few enough that the
/// binds stay under every dialect's limit (SQLite's 32,766 the lowest).
pub(crate) fn fill_chunk(fields: usize) -> usize {
    (30_000 / (fields + 1)).clamp(1, 500)
}

/// The mapped fields named in `names`, in mapping order (names not mapped are left out).
pub(crate) fn named_fields<'m>(mapping: &'m ObjectMapping, names: &[String]) -> Vec<&'m FieldSpec> {
    mapping
        .data_fields()
        .filter(|f| names.iter().any(|n| n.eq_ignore_ascii_case(&f.name)))
        .collect()
}

/// The rows of a backfill converted for [`fill_fields_sql`]: each row's values of `fields`,
/// in order. Rows with nothing to fill (every value null) are left out; rows whose values
/// do not convert are reported in `rejected`.
pub(crate) fn fill_values<'a>(
    dialect: Dialect,
    fields: &[&FieldSpec],
    rows: &'a [Row],
    rejected: &mut Vec<RejectedRow>,
) -> Vec<Converted<'a>> {
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let converted: Result<Vec<types::SqlValue>, TargetError> = fields
            .iter()
            .map(|f| {
                let v = r
                    .values
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(&f.name))
                    .map(|(_, v)| v);
                match v {
                    Some(v) => types::to_sql(dialect, f, v),
                    None => Ok(types::SqlValue::Null),
                }
            })
            .collect();
        match converted {
            Ok(v) if v.iter().all(|x| matches!(x, types::SqlValue::Null)) => {}
            Ok(v) => out.push((r, v)),
            Err(e) => rejected.push(RejectedRow {
                sfid: r.sfid.clone(),
                error: e.to_string(),
            }),
        }
    }
    out
}

/// What a lenient upsert did: rows written and rows the database refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpsertReport {
    /// Rows the server reports as affected (MySQL counts an updated row twice).
    pub written: u64,
    pub rejected: Vec<RejectedRow>,
    /// Records whose pulled value of some field differs from the local value kept for a
    /// change not pushed yet: Salesforce may have changed those fields too, so the next
    /// push of the record checks it for conflicts (see `engine::conflicts`).
    #[serde(default)]
    pub kept_local: Vec<String>,
}

/// A row left out of a lenient upsert, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedRow {
    pub sfid: String,
    pub error: String,
}

/// How many events of an object are in each state (DONE ones are not counted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventCounts {
    /// Waiting to be pushed.
    pub new: u64,
    /// Taken by a push in progress.
    pub claimed: u64,
    /// Failed; the error is on the event and the row.
    pub failed: u64,
}

impl EventCounts {
    pub(crate) fn from_pairs(pairs: impl IntoIterator<Item = (String, i64)>) -> Self {
        let mut c = EventCounts::default();
        for (state, n) in pairs {
            let n = n.max(0) as u64;
            match state.as_str() {
                "NEW" => c.new = n,
                "CLAIMED" => c.claimed = n,
                "FAILED" => c.failed = n,
                _ => {}
            }
        }
        c
    }
}

/// A data row as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRow {
    pub id: i64,
    pub sfid: Option<String>,
    pub systemmodstamp: Option<DateTime<Utc>>,
    /// `_dn_state`: `LOCAL` (inserted locally, not pushed), `SYNCED`, `FAILED`, or
    /// `IGNORED` (a refused change the user set aside; `_dn_error` says why it was refused).
    pub state: String,
    /// `_dn_error`: the last push error.
    pub error: Option<String>,
    /// Every mapped field, Salesforce JSON form, keyed by API name.
    pub values: Map<String, Value>,
}

/// Decodes a data row read as one JSON object keyed by column.
pub(crate) fn decode_row(
    dialect: Dialect,
    mapping: &ObjectMapping,
    json: &str,
) -> Result<StoredRow, TargetError> {
    let v: Value = serde_json::from_str(json).map_err(|e| TargetError::BadValue {
        field: mapping.object.clone(),
        value: json.chars().take(100).collect(),
        expected: format!("a row as JSON ({e})"),
    })?;
    let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    Ok(StoredRow {
        id: v.get("id").and_then(Value::as_i64).unwrap_or_default(),
        sfid: text("sfid"),
        systemmodstamp: text("systemmodstamp").and_then(|s| types::parse_datetime(&s)),
        state: text("_dn_state").unwrap_or_default(),
        error: text("_dn_error"),
        values: event_values(dialect, mapping, &v),
    })
}

/// The operations every dialect implements.
pub trait Target: Send + Sync {
    fn dialect(&self) -> Dialect;

    /// The org's schema (MySQL: database; SQLite: informational).
    fn schema(&self) -> &str;

    /// Verifies everything provisioning needs, one result per check. Never fails: problems
    /// are results.
    fn check(&self) -> impl Future<Output = CheckReport> + Send;

    /// Creates (or completes) the org's schema, sync user and cursor table. Idempotent. A
    /// re-run generates a new password for an existing sync user and returns it.
    fn provision(&self) -> impl Future<Output = Result<Provisioned, TargetError>> + Send;

    /// Drops the org's schema and sync user, nothing else.
    fn deprovision(&self) -> impl Future<Output = Result<(), TargetError>> + Send;

    /// The DDL that turns the tables of `old` into those of `new`. Pure; runs nothing.
    fn plan(&self, old: &[ObjectMapping], new: &[ObjectMapping]) -> Result<Plan, TargetError>;

    /// Runs a plan: in one transaction on PostgreSQL and SQLite; step by step with
    /// idempotent steps on MySQL/MariaDB.
    fn apply(&self, plan: &Plan) -> impl Future<Output = Result<(), TargetError>> + Send;

    /// Upserts `rows` by sfid as the engine (no events), skipping rows whose stored
    /// `systemmodstamp` is already as new, and stores `cursor` for the object in the same
    /// transaction. Returns the number of rows written.
    fn upsert_rows(
        &self,
        mapping: &ObjectMapping,
        rows: &[Row],
        cursor: Option<&Cursor>,
    ) -> impl Future<Output = Result<u64, TargetError>> + Send;

    /// Like [`upsert_rows`](Target::upsert_rows), but a row the database refuses (value too
    /// long, out of range, not convertible) is left out and reported instead of failing the
    /// batch: one bad record never wedges a pull. The cursor still advances.
    ///
    /// With `keep_pending` (a bidirectional mapping), a field whose local change is not
    /// pushed yet keeps its stored value ([`keep_pending_local`]), decided inside the write
    /// transaction once the rows are locked: a local change committed after that waits for
    /// the write and lands on top of it, one committed before is seen and kept.
    fn upsert_rows_lenient(
        &self,
        mapping: &ObjectMapping,
        rows: &[Row],
        cursor: Option<Position<'_>>,
        keep_pending: bool,
    ) -> impl Future<Output = Result<UpsertReport, TargetError>> + Send;

    /// The object's stored pull cursor.
    fn cursor(
        &self,
        object: &str,
    ) -> impl Future<Output = Result<Option<Cursor>, TargetError>> + Send;

    /// Deletes rows by sfid as the engine (no events). Returns the number deleted.
    fn delete_rows(
        &self,
        mapping: &ObjectMapping,
        sfids: &[String],
    ) -> impl Future<Output = Result<u64, TargetError>> + Send {
        self.leave_rows(mapping, sfids, RowsLeave::Delete)
    }

    /// Deletes rows by sfid, marks them detached, or synced again, as the engine (no
    /// events); the unsent changes of rows deleted or detached are settled, never sent.
    /// Returns the number of rows touched.
    fn leave_rows(
        &self,
        mapping: &ObjectMapping,
        sfids: &[String],
        how: RowsLeave,
    ) -> impl Future<Output = Result<u64, TargetError>> + Send;

    /// Forgets the object's pull cursor: its next pull is a first load, merging every
    /// record into its row by sfid.
    fn reset_cursor(&self, object: &str) -> impl Future<Output = Result<(), TargetError>> + Send;

    /// Loads many rows at once (COPY on PostgreSQL, multi-row inserts elsewhere), upserting
    /// by sfid as the engine. Returns the number of rows loaded.
    fn bulk_load(
        &self,
        mapping: &ObjectMapping,
        rows: &[Row],
    ) -> impl Future<Output = Result<u64, TargetError>> + Send;

    /// Loads a first load's Bulk CSV records like [`bulk_load`](Target::bulk_load).
    /// PostgreSQL streams the cells into COPY as they are; the others type them into rows.
    fn bulk_load_csv(
        &self,
        mapping: &ObjectMapping,
        chunk: &load::CsvChunk,
    ) -> impl Future<Output = Result<u64, TargetError>> + Send {
        async move { self.bulk_load(mapping, &chunk.to_rows(mapping)).await }
    }

    /// Claims up to `max` NEW events in id order; concurrent claimers never get the same
    /// event.
    fn claim_events(
        &self,
        mapping: &ObjectMapping,
        max: usize,
    ) -> impl Future<Output = Result<Vec<Event>, TargetError>> + Send;

    /// Puts claimed but unfinished events back to NEW (after a crash). Returns how many.
    fn requeue_claimed(
        &self,
        mapping: &ObjectMapping,
    ) -> impl Future<Output = Result<u64, TargetError>> + Send;

    /// Marks claimed events processed.
    fn mark_events_done(
        &self,
        mapping: &ObjectMapping,
        ids: &[i64],
    ) -> impl Future<Output = Result<(), TargetError>> + Send {
        self.settle_events(mapping, ids, None)
    }

    /// Marks events processed; `not_sent`, when given, says why they never went to
    /// Salesforce (one of the `NOT_SENT_*` notes, shown in Recent changes).
    fn settle_events(
        &self,
        mapping: &ObjectMapping,
        ids: &[i64],
        not_sent: Option<&'static str>,
    ) -> impl Future<Output = Result<(), TargetError>> + Send;

    /// Marks an event failed with `error`, and stores the error on its data row
    /// (`_dn_state = 'FAILED'`, `_dn_error`), without creating an event.
    fn mark_event_failed(
        &self,
        mapping: &ObjectMapping,
        id: i64,
        error: &str,
    ) -> impl Future<Output = Result<(), TargetError>> + Send {
        async move { self.mark_events_failed(mapping, &[(id, error)]).await }
    }

    /// Marks events failed, each `(event id, error)` as
    /// [`mark_event_failed`](Target::mark_event_failed) would one after the other, in one
    /// transaction (a few statements per some hundred events).
    fn mark_events_failed(
        &self,
        mapping: &ObjectMapping,
        failed: &[(i64, &str)],
    ) -> impl Future<Output = Result<(), TargetError>> + Send;

    /// Reads data rows by local key or by sfid (missing keys are left out), values in
    /// Salesforce JSON form keyed by field name.
    fn fetch_rows(
        &self,
        mapping: &ObjectMapping,
        keys: RowKeys<'_>,
    ) -> impl Future<Output = Result<Vec<StoredRow>, TargetError>> + Send;

    /// The object's events by state, for showing push lag and failures.
    fn event_counts(
        &self,
        mapping: &ObjectMapping,
    ) -> impl Future<Output = Result<EventCounts, TargetError>> + Send;

    /// Deletes DONE events processed before `before`. Returns how many. FAILED events stay
    /// until their row is fixed.
    fn purge_events(
        &self,
        mapping: &ObjectMapping,
        before: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, TargetError>> + Send;

    /// The sfids of the object's rows; with `read_back`, only of rows read from Salesforce
    /// (rows pushed and not yet read back have no stamp and are left out): what a
    /// reconciliation compares with the ids Salesforce still has.
    fn synced_sfids(
        &self,
        mapping: &ObjectMapping,
        read_back: bool,
    ) -> impl Future<Output = Result<Vec<String>, TargetError>> + Send;

    /// How many rows the object's data table holds.
    fn row_count(
        &self,
        mapping: &ObjectMapping,
    ) -> impl Future<Output = Result<u64, TargetError>> + Send;

    /// The failed changes of the object, oldest first, at most `limit`.
    fn failed_events(
        &self,
        mapping: &ObjectMapping,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<FailedEvent>, TargetError>> + Send;

    /// The object's newest events, newest first, at most `limit` (DONE ones are purged
    /// after a retention: what is still there).
    fn recent_events(
        &self,
        mapping: &ObjectMapping,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<RecentEvent>, TargetError>> + Send;

    /// Retries or sets aside failed changes (see [`settle_failed_sql`]), clearing their
    /// rows' FAILED state. Returns how many changes moved.
    fn settle_failed(
        &self,
        mapping: &ObjectMapping,
        scope: FailedScope<'_>,
        action: FailedAction,
    ) -> impl Future<Output = Result<u64, TargetError>> + Send;

    /// The local changes still to be pushed (events NEW or claimed) of the rows holding
    /// these sfids: each row's local key and the fields its changes set. A pull must not
    /// overwrite those fields: the push settles them against Salesforce's values.
    fn pending_fields(
        &self,
        mapping: &ObjectMapping,
        sfids: &[String],
    ) -> impl Future<Output = Result<Vec<(i64, Vec<String>)>, TargetError>> + Send;

    /// Writes Salesforce values of some fields into the row holding `sfid`, as the engine
    /// (no event): the values Salesforce won a conflict with. Each field is written only
    /// while the row still holds the value in `expected` (the one that lost): a newer
    /// local change stays, to be pushed and settled in its turn.
    fn write_fields(
        &self,
        mapping: &ObjectMapping,
        sfid: &str,
        values: &Map<String, Value>,
        expected: &Map<String, Value>,
    ) -> impl Future<Output = Result<(), TargetError>> + Send;

    /// Stores the sfid Salesforce gave a pushed insert, without creating an event.
    fn write_back_sfid(
        &self,
        mapping: &ObjectMapping,
        row_id: i64,
        sfid: &str,
    ) -> impl Future<Output = Result<(), TargetError>> + Send {
        async move { self.write_back_sfids(mapping, &[(row_id, sfid)]).await }
    }

    /// Stores the sfids Salesforce gave pushed inserts, each `(row id, sfid)` as
    /// [`write_back_sfid`](Target::write_back_sfid) would one after the other, in one
    /// transaction (a few statements per some hundred rows).
    fn write_back_sfids(
        &self,
        mapping: &ObjectMapping,
        created: &[(i64, &str)],
    ) -> impl Future<Output = Result<(), TargetError>> + Send;

    /// Fills the columns of `fields` in the rows holding each row's sfid with its values,
    /// as the engine (no events), each column only where it is NULL (see
    /// [`fill_fields_sql`]); no other column is touched and rows not in the table are
    /// ignored. A row the database refuses is reported, not fatal. Returns the rows written.
    fn fill_fields(
        &self,
        mapping: &ObjectMapping,
        fields: &[String],
        rows: &[Row],
    ) -> impl Future<Output = Result<UpsertReport, TargetError>> + Send;
}

/// A target of any dialect.
#[derive(Debug)]
pub enum AnyTarget {
    Postgres(postgres::PgTarget),
    Mysql(mysql::MysqlTarget),
    Sqlite(sqlite::SqliteTarget),
}

impl AnyTarget {
    /// A listener woken by every recorded change in the org's tables, where the database can
    /// notify (PostgreSQL); `None` elsewhere: poll `claim_events` instead.
    pub async fn listen_changes(&self) -> Result<Option<postgres::ChangeListener>, TargetError> {
        match self {
            AnyTarget::Postgres(t) => t.listen().await.map(Some),
            _ => Ok(None),
        }
    }

    /// Sets the sync account's host (MariaDB/MySQL; ignored elsewhere). `None`: the host the
    /// daemon connects from, as the server sees it.
    pub fn with_sync_host(mut self, host: Option<String>) -> AnyTarget {
        if let AnyTarget::Mysql(t) = &mut self {
            t.set_sync_host(host);
        }
        self
    }

    /// Builds the target for the org named `org_name`: its schema is `settings.schema`, or
    /// else derived from the name (`datenator_<name>`, see
    /// [`default_schema_name`](datenator_shared::datasource::default_schema_name)).
    pub fn for_org(
        settings: DatasourceSettings,
        org_name: &str,
        sync: Option<SyncCredentials>,
    ) -> Result<AnyTarget, TargetError> {
        let schema = settings
            .schema
            .clone()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| datenator_shared::datasource::default_schema_name(org_name));
        AnyTarget::new(settings, schema, sync)
    }

    /// Builds the target for one org: `schema` is the org's schema (MySQL: database) name,
    /// `sync` the credentials stored from an earlier [`Target::provision`]. Connects lazily;
    /// must be called inside a Tokio runtime.
    pub fn new(
        settings: DatasourceSettings,
        schema: impl Into<String>,
        sync: Option<SyncCredentials>,
    ) -> Result<AnyTarget, TargetError> {
        let schema = schema.into();
        if schema.is_empty() {
            return Err(TargetError::Settings("the schema name is empty".into()));
        }
        Ok(match settings.kind {
            DatasourceKind::Postgres => {
                AnyTarget::Postgres(postgres::PgTarget::new(settings, schema, sync)?)
            }
            DatasourceKind::Mysql => {
                AnyTarget::Mysql(mysql::MysqlTarget::new(settings, schema, sync)?)
            }
            DatasourceKind::Sqlite => {
                AnyTarget::Sqlite(sqlite::SqliteTarget::new(settings, schema)?)
            }
        })
    }
}

macro_rules! dispatch {
    ($self:ident, $t:ident => $e:expr) => {
        match $self {
            AnyTarget::Postgres($t) => $e,
            AnyTarget::Mysql($t) => $e,
            AnyTarget::Sqlite($t) => $e,
        }
    };
}

impl Target for AnyTarget {
    fn dialect(&self) -> Dialect {
        dispatch!(self, t => t.dialect())
    }
    fn schema(&self) -> &str {
        dispatch!(self, t => t.schema())
    }
    async fn check(&self) -> CheckReport {
        dispatch!(self, t => t.check().await)
    }
    async fn provision(&self) -> Result<Provisioned, TargetError> {
        dispatch!(self, t => t.provision().await)
    }
    async fn deprovision(&self) -> Result<(), TargetError> {
        dispatch!(self, t => t.deprovision().await)
    }
    fn plan(&self, old: &[ObjectMapping], new: &[ObjectMapping]) -> Result<Plan, TargetError> {
        dispatch!(self, t => t.plan(old, new))
    }
    async fn apply(&self, plan: &Plan) -> Result<(), TargetError> {
        dispatch!(self, t => t.apply(plan).await)
    }
    async fn upsert_rows(
        &self,
        mapping: &ObjectMapping,
        rows: &[Row],
        cursor: Option<&Cursor>,
    ) -> Result<u64, TargetError> {
        dispatch!(self, t => t.upsert_rows(mapping, rows, cursor).await)
    }
    async fn upsert_rows_lenient(
        &self,
        mapping: &ObjectMapping,
        rows: &[Row],
        cursor: Option<Position<'_>>,
        keep_pending: bool,
    ) -> Result<UpsertReport, TargetError> {
        dispatch!(self, t => t.upsert_rows_lenient(mapping, rows, cursor, keep_pending).await)
    }
    async fn cursor(&self, object: &str) -> Result<Option<Cursor>, TargetError> {
        dispatch!(self, t => t.cursor(object).await)
    }
    async fn leave_rows(
        &self,
        mapping: &ObjectMapping,
        sfids: &[String],
        how: RowsLeave,
    ) -> Result<u64, TargetError> {
        dispatch!(self, t => t.leave_rows(mapping, sfids, how).await)
    }
    async fn reset_cursor(&self, object: &str) -> Result<(), TargetError> {
        dispatch!(self, t => t.reset_cursor(object).await)
    }
    async fn bulk_load(&self, mapping: &ObjectMapping, rows: &[Row]) -> Result<u64, TargetError> {
        dispatch!(self, t => t.bulk_load(mapping, rows).await)
    }
    async fn bulk_load_csv(
        &self,
        mapping: &ObjectMapping,
        chunk: &load::CsvChunk,
    ) -> Result<u64, TargetError> {
        dispatch!(self, t => t.bulk_load_csv(mapping, chunk).await)
    }
    async fn claim_events(
        &self,
        mapping: &ObjectMapping,
        max: usize,
    ) -> Result<Vec<Event>, TargetError> {
        dispatch!(self, t => t.claim_events(mapping, max).await)
    }
    async fn requeue_claimed(&self, mapping: &ObjectMapping) -> Result<u64, TargetError> {
        dispatch!(self, t => t.requeue_claimed(mapping).await)
    }
    async fn settle_events(
        &self,
        mapping: &ObjectMapping,
        ids: &[i64],
        not_sent: Option<&'static str>,
    ) -> Result<(), TargetError> {
        dispatch!(self, t => t.settle_events(mapping, ids, not_sent).await)
    }
    async fn mark_events_failed(
        &self,
        mapping: &ObjectMapping,
        failed: &[(i64, &str)],
    ) -> Result<(), TargetError> {
        dispatch!(self, t => t.mark_events_failed(mapping, failed).await)
    }
    async fn fetch_rows(
        &self,
        mapping: &ObjectMapping,
        keys: RowKeys<'_>,
    ) -> Result<Vec<StoredRow>, TargetError> {
        dispatch!(self, t => t.fetch_rows(mapping, keys).await)
    }
    async fn event_counts(&self, mapping: &ObjectMapping) -> Result<EventCounts, TargetError> {
        dispatch!(self, t => t.event_counts(mapping).await)
    }
    async fn purge_events(
        &self,
        mapping: &ObjectMapping,
        before: DateTime<Utc>,
    ) -> Result<u64, TargetError> {
        dispatch!(self, t => t.purge_events(mapping, before).await)
    }
    async fn write_back_sfids(
        &self,
        mapping: &ObjectMapping,
        created: &[(i64, &str)],
    ) -> Result<(), TargetError> {
        dispatch!(self, t => t.write_back_sfids(mapping, created).await)
    }
    async fn pending_fields(
        &self,
        mapping: &ObjectMapping,
        sfids: &[String],
    ) -> Result<Vec<(i64, Vec<String>)>, TargetError> {
        dispatch!(self, t => t.pending_fields(mapping, sfids).await)
    }
    async fn write_fields(
        &self,
        mapping: &ObjectMapping,
        sfid: &str,
        values: &Map<String, Value>,
        expected: &Map<String, Value>,
    ) -> Result<(), TargetError> {
        dispatch!(self, t => t.write_fields(mapping, sfid, values, expected).await)
    }
    async fn row_count(&self, mapping: &ObjectMapping) -> Result<u64, TargetError> {
        dispatch!(self, t => t.row_count(mapping).await)
    }
    async fn fill_fields(
        &self,
        mapping: &ObjectMapping,
        fields: &[String],
        rows: &[Row],
    ) -> Result<UpsertReport, TargetError> {
        dispatch!(self, t => t.fill_fields(mapping, fields, rows).await)
    }
    async fn synced_sfids(
        &self,
        mapping: &ObjectMapping,
        read_back: bool,
    ) -> Result<Vec<String>, TargetError> {
        dispatch!(self, t => t.synced_sfids(mapping, read_back).await)
    }
    async fn failed_events(
        &self,
        mapping: &ObjectMapping,
        limit: usize,
    ) -> Result<Vec<FailedEvent>, TargetError> {
        dispatch!(self, t => t.failed_events(mapping, limit).await)
    }
    async fn recent_events(
        &self,
        mapping: &ObjectMapping,
        limit: usize,
    ) -> Result<Vec<RecentEvent>, TargetError> {
        dispatch!(self, t => t.recent_events(mapping, limit).await)
    }
    async fn settle_failed(
        &self,
        mapping: &ObjectMapping,
        scope: FailedScope<'_>,
        action: FailedAction,
    ) -> Result<u64, TargetError> {
        dispatch!(self, t => t.settle_failed(mapping, scope, action).await)
    }
}

/// The rows of a batch with one row per sfid: the newest by `systemmodstamp` (the later
/// one on a tie), in first-seen order. One statement may not update a row twice.
fn newest_per_sfid(rows: &[Row]) -> Vec<&Row> {
    let mut out: Vec<&Row> = Vec::with_capacity(rows.len());
    let mut index = std::collections::HashMap::with_capacity(rows.len());
    for r in rows {
        match index.get(r.sfid.as_str()) {
            Some(&i) => {
                let kept: &Row = out[i];
                if r.systemmodstamp >= kept.systemmodstamp {
                    out[i] = r;
                }
            }
            None => {
                index.insert(r.sfid.as_str(), out.len());
                out.push(r);
            }
        }
    }
    out
}

/// A row with its values converted for binding.
pub(crate) type Converted<'a> = (&'a Row, Vec<types::SqlValue>);

/// The batch's rows (newest per sfid) converted for binding. Lenient: rows whose values do
/// not convert are reported in `rejected` instead of failing.
pub(crate) fn convert_rows<'a>(
    dialect: Dialect,
    mapping: &ObjectMapping,
    rows: &'a [Row],
    lenient: bool,
    rejected: &mut Vec<RejectedRow>,
) -> Result<Vec<Converted<'a>>, TargetError> {
    let mut out = Vec::with_capacity(rows.len());
    for r in newest_per_sfid(rows) {
        match row_values(dialect, mapping, r) {
            Ok(v) => out.push((r, v)),
            Err(e) if lenient => rejected.push(RejectedRow {
                sfid: r.sfid.clone(),
                error: e.to_string(),
            }),
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Writes converted rows `per_chunk` at a time with `exec`, inside the caller's
/// transaction. Lenient: a chunk the database refuses is retried row by row, each in a
/// savepoint, and the refused rows are reported instead of failing the whole write.
pub(crate) async fn write_chunks<'a, DB, F>(
    conn: &mut DB::Connection,
    rows: &[Converted<'a>],
    per_chunk: usize,
    lenient: bool,
    context: &str,
    report: &mut UpsertReport,
    exec: F,
) -> Result<(), TargetError>
where
    DB: sqlx::Database,
    F: for<'c> Fn(
        &'c mut DB::Connection,
        &'c [Converted<'a>],
    ) -> futures::future::BoxFuture<'c, Result<u64, sqlx::Error>>,
{
    use sqlx::Connection as _;
    let err = |e| TargetError::Database {
        context: context.to_owned(),
        source: e,
    };
    for chunk in rows.chunks(per_chunk.max(1)) {
        if !lenient {
            report.written += exec(&mut *conn, chunk).await.map_err(err)?;
            continue;
        }
        let mut sp = conn.begin().await.map_err(err)?;
        match exec(&mut *sp, chunk).await {
            Ok(n) => {
                sp.commit().await.map_err(err)?;
                report.written += n;
                continue;
            }
            Err(sqlx::Error::Database(_)) => sp.rollback().await.map_err(err)?,
            Err(e) => return Err(err(e)),
        }
        for one in chunk {
            let mut sp = conn.begin().await.map_err(err)?;
            match exec(&mut *sp, std::slice::from_ref(one)).await {
                Ok(n) => {
                    sp.commit().await.map_err(err)?;
                    report.written += n;
                }
                Err(sqlx::Error::Database(d)) => {
                    sp.rollback().await.map_err(err)?;
                    report.rejected.push(RejectedRow {
                        sfid: one.0.sfid.clone(),
                        error: d.message().to_owned(),
                    });
                }
                Err(e) => return Err(err(e)),
            }
        }
    }
    Ok(())
}

/// Converts a row's values into bind values in the order of `mapping.data_fields()`.
pub(crate) fn row_values(
    dialect: Dialect,
    mapping: &ObjectMapping,
    row: &Row,
) -> Result<Vec<types::SqlValue>, TargetError> {
    mapping
        .data_fields()
        .map(|f| {
            let v = row.values.get(&f.name).or_else(|| {
                row.values
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(&f.name))
                    .map(|(_, v)| v)
            });
            match v {
                Some(v) => types::to_sql(dialect, f, v),
                None => Ok(types::SqlValue::Null),
            }
        })
        .collect()
}

/// An events-table row as read, before its JSON is decoded.
pub(crate) struct RawEvent {
    pub id: i64,
    pub op: String,
    pub row_id: i64,
    pub sfid: Option<String>,
    pub changed: String,
    pub old_values: String,
    pub new_values: String,
    pub db_user: String,
    pub created_at: DateTime<Utc>,
}

impl RawEvent {
    pub(crate) fn decode(
        self,
        dialect: Dialect,
        mapping: &ObjectMapping,
    ) -> Result<Event, TargetError> {
        let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
        Ok(Event {
            id: self.id,
            op: EventOp::parse(&self.op)?,
            row_id: self.row_id,
            sfid: self.sfid,
            changed: event_changed(dialect, mapping, &parse(&self.changed)),
            old_values: event_values(dialect, mapping, &parse(&self.old_values)),
            new_values: event_values(dialect, mapping, &parse(&self.new_values)),
            db_user: self.db_user,
            created_at: self.created_at,
        })
    }
}

/// Turns trigger-recorded JSON (keyed by column) into Salesforce JSON keyed by field name.
fn event_values(dialect: Dialect, mapping: &ObjectMapping, v: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    if let Value::Object(m) = v {
        for (col, val) in m {
            if let Some(f) = mapping.field_for_column(dialect, col) {
                out.insert(f.name.clone(), types::from_db(f, val));
            }
        }
    }
    out
}

/// Column names recorded by the triggers, as field API names.
fn event_changed(dialect: Dialect, mapping: &ObjectMapping, v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a
            .iter()
            .filter_map(|c| c.as_str())
            .filter_map(|c| mapping.field_for_column(dialect, c))
            .map(|f| f.name.clone())
            .collect(),
        _ => Vec::new(),
    }
}

/// A random password for a sync user: 32 characters from `[A-Za-z0-9]`.
pub(crate) fn random_password() -> Secret {
    use rand::Rng;
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    Secret::new(
        (0..32)
            .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
            .collect::<String>(),
    )
}

/// A random claim token.
pub(crate) fn claim_token() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod fill_tests {
    use super::*;

    #[test]
    fn a_fill_updates_many_rows_and_only_empty_columns() {
        let fields = [
            FieldSpec::new("Website", SfType::Url),
            FieldSpec::new("NumberOfEmployees", SfType::Int),
        ];
        let refs: Vec<&FieldSpec> = fields.iter().collect();
        let pg = fill_fields_sql(Dialect::Postgres, "\"s\".\"account\"", &refs, 2, |_, n| {
            format!("${n}")
        });
        assert_eq!(
            pg,
            "UPDATE \"s\".\"account\" AS t SET \"website\" = COALESCE(t.\"website\", v.\"website\"), \"numberofemployees\" = COALESCE(t.\"numberofemployees\", v.\"numberofemployees\") FROM (VALUES (CAST($1 AS text), $2, $3), (CAST($4 AS text), $5, $6)) AS v(\"sfid\", \"website\", \"numberofemployees\") WHERE t.\"sfid\" = v.\"sfid\""
        );
        let lite = fill_fields_sql(Dialect::Sqlite, "\"account\"", &refs[..1], 2, |_, _| {
            "?".into()
        });
        assert_eq!(
            lite,
            "UPDATE \"account\" SET \"website\" = COALESCE(\"account\".\"website\", v.column2) FROM (VALUES (?, ?), (?, ?)) AS v WHERE \"account\".\"sfid\" = v.column1"
        );
        let my = fill_fields_sql(Dialect::Mysql, "`s`.`account`", &refs[..1], 2, |_, _| {
            "?".into()
        });
        assert_eq!(
            my,
            "UPDATE `s`.`account` AS t JOIN (SELECT ? AS `sfid`, ? AS `website` UNION ALL SELECT ?, ?) AS v ON t.`sfid` = v.`sfid` SET t.`website` = COALESCE(t.`website`, v.`website`)"
        );
        assert_eq!(fill_chunk(2), 500);
        assert_eq!(fill_chunk(200), 149);
    }
}
