//! The Streaming API with Change Data Capture: Bayeux/CometD long polling at
//! `/cometd/{version}` (`/meta/handshake`, `/meta/connect`, `/meta/subscribe`,
//! `/meta/unsubscribe`, `/meta/disconnect`) and change events on `/data/ChangeEvents`,
//! `/data/{Object}ChangeEvent` (`/data/Foo__ChangeEvent` for `Foo__c`) and custom channels
//! `/data/{Name}__chn`.
//!
//! Every write path of the org (REST, composite, collections, Bulk ingest, the in-process
//! `Sim` methods) records its changes to selected objects in `Org::cdc_pending`; when its
//! transaction ends (a request, a Bulk chunk of 200, a composite `allOrNone` journal) they
//! are published as change events with org-wide increasing replay ids, retained 72 hours.
//! Streaming requests are not API requests: they count against the daily event delivery
//! allocation (`DailyDeliveredPlatformEvents` in `/limits`), never against `DailyApiRequests`.

use crate::schema::{FieldDef, ObjectDef};
use crate::sim::Sim;
use crate::store::{Org, Record};
use crate::value::Value;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as J, json};
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Duration;

/// How long change events are kept for replay.
pub const RETENTION_HOURS: i64 = 72;
/// Most events one `/meta/connect` answer carries.
const BATCH: usize = 1000;
/// Commit numbers look like Salesforce's system change numbers.
const COMMIT_BASE: u64 = 10_716_283_339_728;

/// The operation a change event reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeKind {
    Create,
    Update,
    Delete,
    Undelete,
}

impl ChangeKind {
    pub fn name(self) -> &'static str {
        match self {
            ChangeKind::Create => "CREATE",
            ChangeKind::Update => "UPDATE",
            ChangeKind::Delete => "DELETE",
            ChangeKind::Undelete => "UNDELETE",
        }
    }
}

/// One captured record change, not yet published.
#[derive(Clone, Debug)]
pub struct Change {
    /// The transaction (see `WriteCtx::txn`).
    pub txn: u64,
    /// The undo journal, if any: held back until it commits, dropped if it rolls back.
    pub tx: Option<u64>,
    pub entity: String,
    pub kind: ChangeKind,
    pub id: String,
    pub before: Option<Record>,
    pub after: Option<Record>,
    pub user_id: String,
    pub stamp: DateTime<Utc>,
    /// `changeOrigin`: the API and client that made it (empty for in-process changes).
    pub origin: String,
    /// Made by the system (a workflow, a roll-up), not a save: LastModifiedDate stays.
    pub system: bool,
}

/// Which objects Change Data Capture covers: the standard channel's selected entities and
/// custom channels with their members.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct CdcSettings {
    /// Entities selected for `/data/ChangeEvents` (and their `/data/XChangeEvent`).
    pub entities: BTreeSet<String>,
    /// Custom channels (`Name__chn`) and their member entities.
    pub channels: BTreeMap<String, BTreeSet<String>>,
}

impl CdcSettings {
    /// Whether changes to `entity` produce change events on some channel.
    pub fn captures(&self, entity: &str) -> bool {
        (!self.entities.is_empty() || !self.channels.is_empty())
            && (self.entities.contains(entity)
                || self.channels.values().any(|m| m.contains(entity)))
    }
}

thread_local! {
    static ORIGIN: RefCell<String> = const { RefCell::new(String::new()) };
}

/// The `changeOrigin` of writes made on this thread now.
pub fn current_origin() -> String {
    ORIGIN.with(|o| o.borrow().clone())
}

/// Sets the `changeOrigin` of this thread's writes until dropped.
pub struct Origin(String);

impl Origin {
    pub fn set(origin: String) -> Origin {
        Origin(ORIGIN.with(|o| std::mem::replace(&mut *o.borrow_mut(), origin)))
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        let prev = std::mem::take(&mut self.0);
        ORIGIN.with(|o| *o.borrow_mut() = prev);
    }
}

/// The `changeOrigin` of a change a user makes in Lightning Experience (what the in-process
/// `Sim::create/update/delete/undelete` and the change generator stand for).
pub fn ui_origin(version: &str) -> String {
    format!("com/salesforce/api/soap/{version};client=SfdcInternalAPI/")
}

/// The `changeOrigin` of a REST request: `com/salesforce/api/rest/59.0;client=NAME`, the
/// client from its `Sforce-Call-Options: client=NAME` header.
pub fn rest_origin(version: &str, call_options: Option<&str>) -> String {
    api_origin("rest", version, call_options)
}

/// The `changeOrigin` of an API's writes: `com/salesforce/api/{api}/{version}` and
/// `;client=NAME` when the request named its client.
pub fn api_origin(api: &str, version: &str, call_options: Option<&str>) -> String {
    let client = call_options.and_then(|h| {
        h.split(',')
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("client"))
            .map(|(_, v)| v.trim().to_string())
    });
    match client {
        Some(c) if !c.is_empty() => format!("com/salesforce/api/{api}/{version};client={c}"),
        _ => format!("com/salesforce/api/{api}/{version}"),
    }
}

/// A published change event.
#[derive(Clone, Debug)]
pub struct StoredEvent {
    pub replay_id: u64,
    pub entity: String,
    /// When it was published (retention runs from here; `age_change_events` moves it).
    pub published: DateTime<Utc>,
    pub schema: String,
    pub payload: J,
}

impl StoredEvent {
    /// The Bayeux message delivering it on `channel`.
    pub fn message(&self, channel: &str) -> J {
        json!({
            "data": {
                "schema": self.schema,
                "payload": self.payload,
                "event": {"replayId": self.replay_id},
            },
            "channel": channel,
        })
    }
}

/// A subscribed channel.
#[derive(Clone, Debug, PartialEq)]
enum Chan {
    All,
    Entity(String),
    Custom(String),
}

impl Chan {
    fn matches(&self, cdc: &CdcSettings, entity: &str) -> bool {
        match self {
            Chan::All => cdc.entities.contains(entity),
            Chan::Entity(e) => e == entity && cdc.entities.contains(entity),
            Chan::Custom(n) => cdc.channels.get(n).is_some_and(|m| m.contains(entity)),
        }
    }
}

#[derive(Clone, Debug)]
struct Subscription {
    chan: Chan,
    /// The last replay id considered for this subscription.
    cursor: u64,
}

#[derive(Clone, Debug)]
struct Client {
    subs: BTreeMap<String, Subscription>,
    connected: bool,
    /// Numbers the client's long polls: a newer `/meta/connect` answers the held one.
    poll: u64,
    /// When the client was last heard from (a held poll counts until it ends).
    last_seen: std::time::Instant,
}

/// A client that sends nothing for this long after its last answer is forgotten (its next
/// message answers `403::Unknown client`).
const CLIENT_TTL: Duration = Duration::from_secs(40);

impl Client {
    fn new() -> Client {
        Client {
            subs: BTreeMap::new(),
            connected: false,
            poll: 0,
            last_seen: std::time::Instant::now(),
        }
    }
}

/// Faults of the Streaming API, set by the admin API or `Sim` methods.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct StreamingFaults {
    /// The next this many `/meta/connect` requests have their connection closed without an
    /// answer.
    pub drop_polls: u32,
    /// The next this many `/meta/connect` answers are lost on the way back: the events they
    /// carried count as delivered to the client (as when a proxy drops a long poll's
    /// answer), and its connection is closed.
    pub lose_answers: u32,
    /// The next this many changes are published as gap events (`GAP_CREATE`, …) instead.
    pub gap_next: u32,
}

/// The org's streaming state: the event log, clients, allocation and faults.
pub struct StreamState {
    events: VecDeque<StoredEvent>,
    last_replay_id: u64,
    commits: u64,
    clients: HashMap<String, Client>,
    pub poll_timeout: Duration,
    /// Concurrent streaming clients the org admits (Developer Edition: 20).
    pub max_clients: usize,
    pub overflow_threshold: usize,
    pub delivery_limit: u64,
    /// Events delivered per minute in the rolling 24-hour window.
    deliveries: VecDeque<(i64, u64)>,
    delivered_total: u64,
    pub faults: StreamingFaults,
}

fn minute_now() -> i64 {
    Utc::now().timestamp() / 60
}

impl StreamState {
    pub fn new(poll_timeout: Duration, overflow_threshold: usize, delivery_limit: u64) -> Self {
        StreamState {
            events: VecDeque::new(),
            last_replay_id: 0,
            commits: 0,
            clients: HashMap::new(),
            poll_timeout,
            max_clients: 20,
            overflow_threshold,
            delivery_limit,
            deliveries: VecDeque::new(),
            delivered_total: 0,
            faults: StreamingFaults::default(),
        }
    }

    /// A state whose replay ids continue after `last` (a restarted org's).
    pub fn resumed_after(mut self, last: u64) -> Self {
        self.last_replay_id = last;
        self
    }

    pub fn last_replay_id(&self) -> u64 {
        self.last_replay_id
    }

    /// Forgets clients not heard from for `CLIENT_TTL`.
    fn sweep_clients(&mut self) {
        let now = std::time::Instant::now();
        self.clients.retain(|_, c| c.last_seen + CLIENT_TTL > now);
    }

    fn expire(&mut self) -> usize {
        let cutoff = Utc::now() - chrono::Duration::hours(RETENTION_HOURS);
        let before = self.events.len();
        while self.events.front().is_some_and(|e| e.published <= cutoff) {
            self.events.pop_front();
        }
        before - self.events.len()
    }

    /// The oldest replay id still retained (one past the last when none are).
    fn first_retained(&self) -> u64 {
        self.events
            .front()
            .map_or(self.last_replay_id + 1, |e| e.replay_id)
    }

    /// Events delivered in the last 24 hours.
    pub fn delivered(&mut self) -> u64 {
        let oldest = minute_now() - 24 * 60;
        while self.deliveries.front().is_some_and(|(m, _)| *m <= oldest) {
            self.deliveries.pop_front();
        }
        self.deliveries.iter().map(|(_, n)| n).sum()
    }

    fn record_delivery(&mut self, n: u64) {
        if n == 0 {
            return;
        }
        let now = minute_now();
        match self.deliveries.back_mut() {
            Some((m, c)) if *m == now => *c += n,
            _ => self.deliveries.push_back((now, n)),
        }
        self.delivered_total += n;
    }

    fn set_delivered(&mut self, used: u64) {
        self.deliveries.clear();
        self.deliveries.push_back((minute_now(), used));
    }
}

/// What `Sim::streaming_status` and `GET /__sim/streaming` report.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StreamingStatus {
    /// How long `/meta/connect` holds a long poll without events.
    pub poll_timeout_ms: u64,
    /// Changes in one transaction beyond which `GAP_OVERFLOW` events replace change events.
    pub overflow_threshold: usize,
    /// The daily event delivery allocation (`DailyDeliveredPlatformEvents`).
    pub delivery_limit: u64,
    /// Events delivered to clients in the last 24 hours.
    pub delivered: u64,
    /// Events delivered since start.
    pub delivered_total: u64,
    /// Concurrent clients admitted (`DurableStreamingApiConcurrentClients`).
    pub max_clients: usize,
    pub retained_events: usize,
    /// The oldest retained event's replay id (none retained: `last_replay_id + 1`).
    pub first_replay_id: u64,
    pub last_replay_id: u64,
    pub clients: usize,
    pub faults: StreamingFaults,
}

/// Changes to the streaming settings (`PUT /__sim/streaming`); absent fields stay.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamingSettings {
    pub poll_timeout_ms: Option<u64>,
    pub overflow_threshold: Option<usize>,
    pub delivery_limit: Option<u64>,
    pub max_clients: Option<usize>,
    /// Sets the events delivered in the current 24-hour window (e.g. to the limit).
    pub delivered: Option<u64>,
}

/// A CDC-capable object's canonical name: custom objects and objects with a ChangeEvent.
fn cdc_entity(org: &Org, name: &str) -> Option<String> {
    let t = org.table(name)?;
    let n = &t.def.name;
    let event = match n.strip_suffix("__c") {
        Some(base) => return Some(n.clone()).filter(|_| !base.is_empty()),
        None => format!("{n}ChangeEvent"),
    };
    org.table(&event).map(|_| n.clone())
}

fn parse_channel(org: &Org, channel: &str) -> Option<Chan> {
    let rest = channel.strip_prefix("/data/")?;
    if rest == "ChangeEvents" {
        return Some(Chan::All);
    }
    if rest.ends_with("__chn") {
        return org
            .cdc
            .channels
            .keys()
            .find(|k| k.as_str() == rest)
            .map(|k| Chan::Custom(k.clone()));
    }
    if let Some(base) = rest.strip_suffix("__ChangeEvent") {
        let t = org.table(&format!("{base}__c"))?;
        // Channel names are case-sensitive.
        return (t.def.name == format!("{base}__c")).then(|| Chan::Entity(t.def.name.clone()));
    }
    let base = rest.strip_suffix("ChangeEvent")?;
    let name = cdc_entity(org, base)?;
    (name == base).then_some(Chan::Entity(name))
}

/// The JSON of a field value in a change event (datetimes in ISO 8601 with `Z`).
fn event_value(v: &Value) -> J {
    match v {
        Value::DateTime(t) => J::String(t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()),
        other => other.to_json(),
    }
}

/// Where a field goes in the event body: `(compound parent, name)`.
fn event_key(fd: &FieldDef) -> (Option<&str>, String) {
    let Some(parent) = fd.compound_field_name.as_deref() else {
        return (None, fd.name.clone());
    };
    let sub = if let Some(prefix) = parent.strip_suffix("Address") {
        fd.name.strip_prefix(prefix).unwrap_or(&fd.name).to_string()
    } else if let Some(base) = parent.strip_suffix("__c") {
        fd.name
            .strip_prefix(&format!("{base}__"))
            .and_then(|s| s.strip_suffix("__s"))
            .unwrap_or(&fd.name)
            .to_string()
    } else {
        fd.name.clone()
    };
    (Some(parent), sub)
}

/// The fields change events carry: no Id, system stamp, deletion flag, formulas, fields
/// field-level security hides from the API user (Change Data Capture respects it), or the
/// compound fields themselves (their components are nested under their names).
fn event_fields(def: &ObjectDef) -> Vec<&FieldDef> {
    let parents: BTreeSet<&str> = def
        .fields
        .iter()
        .filter_map(|f| f.compound_field_name.as_deref())
        .collect();
    def.fields
        .iter()
        .filter(|f| {
            !matches!(
                f.name.as_str(),
                "Id" | "SystemModstamp" | "IsDeleted" | "LastViewedDate" | "LastReferencedDate"
            ) && f.formula.is_none()
                && !f.hidden
                && !f.ftype.is_compound()
                && !parents.contains(f.name.as_str())
        })
        .collect()
}

fn put(body: &mut Map<String, J>, key: &(Option<&str>, String), v: J) {
    match key.0 {
        Some(parent) => {
            let entry = body
                .entry(parent.to_string())
                .or_insert_with(|| J::Object(Map::new()));
            if let Some(o) = entry.as_object_mut() {
                o.insert(key.1.clone(), v);
            }
        }
        None => {
            body.insert(key.1.clone(), v);
        }
    }
}

fn dotted(key: &(Option<&str>, String)) -> String {
    match key.0 {
        Some(p) => format!("{p}.{}", key.1),
        None => key.1.clone(),
    }
}

/// The body (fields), changedFields and nulledFields of one change.
fn change_body(def: &ObjectDef, c: &Change) -> (Map<String, J>, Vec<String>, Vec<String>) {
    let mut body = Map::new();
    let (mut changed, mut nulled) = (Vec::new(), Vec::new());
    for fd in event_fields(def) {
        let key = event_key(fd);
        match c.kind {
            ChangeKind::Create | ChangeKind::Undelete => {
                if let Some(v) = c.after.as_ref().map(|r| r.get(fd.slot))
                    && !v.is_null()
                {
                    put(&mut body, &key, event_value(v));
                }
            }
            ChangeKind::Update => {
                let (Some(b), Some(a)) = (&c.before, &c.after) else {
                    continue;
                };
                let (old, new) = (b.get(fd.slot), a.get(fd.slot));
                // An API update always reports LastModifiedDate.
                let stamped =
                    !c.system && fd.name == "LastModifiedDate" && *new == Value::DateTime(c.stamp);
                if old != new || stamped {
                    put(&mut body, &key, event_value(new));
                    changed.push(dotted(&key));
                    if new.is_null() {
                        nulled.push(dotted(&key));
                    }
                }
            }
            ChangeKind::Delete => {}
        }
    }
    (body, changed, nulled)
}

/// The schema id of an entity's change event (stable while its fields are).
fn schema_id(def: &ObjectDef) -> String {
    use base64::Engine;
    let mut h = Sha256::new();
    h.update(def.name.as_bytes());
    for f in event_fields(def) {
        h.update(f.name.as_bytes());
        h.update([0]);
    }
    let d = h.finalize();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&d[..16])
}

fn transaction_key(org_id: &str, commit: u64) -> String {
    let mut h = Sha256::new();
    h.update(org_id.as_bytes());
    h.update(commit.to_be_bytes());
    let x: String = h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

struct Draft {
    entity: String,
    change_type: String,
    ids: Vec<String>,
    body: Map<String, J>,
    changed: Vec<String>,
    nulled: Vec<String>,
    user: String,
    stamp: DateTime<Utc>,
    origin: String,
}

/// Turns committed changes into event payloads, transaction by transaction: merged when the
/// same change hits several records of one object, gap events while the fault asks for
/// them, and one `GAP_OVERFLOW` per object for the changes past the overflow threshold.
fn build_events(org: &Org, changes: Vec<Change>, st: &mut StreamState) -> Vec<(String, J)> {
    let mut groups: Vec<(u64, Vec<Change>)> = Vec::new();
    for c in changes {
        match groups.iter_mut().find(|(t, _)| *t == c.txn) {
            Some((_, g)) => g.push(c),
            None => groups.push((c.txn, vec![c])),
        }
    }
    let mut out = Vec::new();
    for (_, group) in groups {
        st.commits += 1;
        let commit = COMMIT_BASE + st.commits;
        let key = transaction_key(&org.org_id, commit);
        let mut drafts: Vec<Draft> = Vec::new();
        let mut used = 0usize;
        let mut overflowing = false;
        for c in group {
            let Some(t) = org.table(&c.entity) else {
                continue;
            };
            let (body, changed, nulled) = change_body(&t.def, &c);
            if c.kind == ChangeKind::Update
                && changed.is_empty()
                && c.before.is_some()
                && c.after.is_some()
            {
                continue;
            }
            let cost = if c.kind == ChangeKind::Update {
                changed.len().max(1)
            } else {
                1
            };
            if overflowing || used + cost > st.overflow_threshold {
                overflowing = true;
                if !drafts
                    .iter()
                    .any(|d| d.change_type == "GAP_OVERFLOW" && d.entity == c.entity)
                {
                    drafts.push(Draft {
                        entity: c.entity.clone(),
                        change_type: "GAP_OVERFLOW".into(),
                        ids: vec![],
                        body: Map::new(),
                        changed: vec![],
                        nulled: vec![],
                        user: c.user_id.clone(),
                        stamp: c.stamp,
                        origin: c.origin.clone(),
                    });
                }
                continue;
            }
            used += cost;
            let gap = st.faults.gap_next > 0;
            let d = if gap {
                st.faults.gap_next -= 1;
                Draft {
                    entity: c.entity.clone(),
                    change_type: format!("GAP_{}", c.kind.name()),
                    ids: vec![c.id.clone()],
                    body: Map::new(),
                    changed: vec![],
                    nulled: vec![],
                    user: c.user_id.clone(),
                    stamp: c.stamp,
                    origin: c.origin.clone(),
                }
            } else {
                Draft {
                    entity: c.entity.clone(),
                    change_type: c.kind.name().into(),
                    ids: vec![c.id.clone()],
                    body,
                    changed,
                    nulled,
                    user: c.user_id.clone(),
                    stamp: c.stamp,
                    origin: c.origin.clone(),
                }
            };
            // The same change to several records of one object in one transaction is one
            // event listing their ids (updates, deletes, and gap events).
            // Only into an event after this record's previous one, so a record's changes
            // keep their order.
            let mergeable = d.change_type != "CREATE" && d.change_type != "UNDELETE";
            let after = drafts
                .iter()
                .rposition(|p| p.ids.contains(&d.ids[0]))
                .map_or(0, |i| i + 1);
            if mergeable
                && let Some(prev) = drafts[after..].iter_mut().find(|p| {
                    p.entity == d.entity
                        && p.change_type == d.change_type
                        && p.body == d.body
                        && p.changed == d.changed
                        && p.nulled == d.nulled
                        && p.user == d.user
                        && p.stamp == d.stamp
                })
            {
                prev.ids.extend(d.ids);
                continue;
            }
            drafts.push(d);
        }
        for (i, d) in drafts.into_iter().enumerate() {
            let mut payload = d.body;
            payload.insert(
                "ChangeEventHeader".into(),
                json!({
                    "entityName": d.entity,
                    "recordIds": d.ids,
                    "changeType": d.change_type,
                    "changeOrigin": d.origin,
                    "transactionKey": key,
                    "sequenceNumber": i + 1,
                    // The commit comes at the transaction's end: after the records' stamps
                    // (whole seconds), to the millisecond.
                    "commitTimestamp": d.stamp.timestamp_millis().max(chrono::Utc::now().timestamp_millis()),
                    "commitNumber": commit,
                    "commitUser": d.user,
                    "nulledFields": d.nulled,
                    "diffFields": [],
                    "changedFields": d.changed,
                }),
            );
            out.push((d.entity, J::Object(payload)));
        }
    }
    out
}

/// Publishes the org's committed changes as change events (called where a transaction
/// ends: after each REST request, Bulk chunk, in-process write and admin call).
pub(crate) fn publish(sim: &Sim) {
    let mut org = sim.org();
    let changes = org.take_committed_changes();
    if changes.is_empty() {
        return;
    }
    let last = {
        let mut st = sim.stream();
        let drafts = build_events(&org, changes, &mut st);
        let now = Utc::now();
        for (entity, payload) in drafts {
            st.last_replay_id += 1;
            let schema = org
                .table(&entity)
                .map(|t| schema_id(&t.def))
                .unwrap_or_default();
            let ev = StoredEvent {
                replay_id: st.last_replay_id,
                entity,
                published: now,
                schema,
                payload,
            };
            st.events.push_back(ev);
        }
        st.last_replay_id
    };
    drop(org);
    sim.notify_stream(last);
}

// ---------------------------------------------------------------------------------------
// The in-process controls (the admin API's `/__sim/cdc` and `/__sim/streaming`).

impl Sim {
    /// Selects objects for Change Data Capture on the standard channel (adds to the
    /// selection). Each must exist and support change events (custom objects and the
    /// standard objects with a `…ChangeEvent`).
    pub fn enable_cdc(&self, objects: &[&str]) -> Result<(), String> {
        let mut org = self.org();
        let names = objects
            .iter()
            .map(|o| {
                cdc_entity(&org, o)
                    .ok_or_else(|| format!("{o} does not support Change Data Capture"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        org.cdc.entities.extend(names);
        Ok(())
    }

    /// Removes objects from the standard channel's selection.
    pub fn disable_cdc(&self, objects: &[&str]) {
        let mut org = self.org();
        let names: Vec<String> = objects
            .iter()
            .map(|o| cdc_entity(&org, o).unwrap_or_else(|| o.to_string()))
            .collect();
        for n in names {
            org.cdc.entities.remove(&n);
        }
    }

    /// Replaces the standard channel's selected entities.
    pub fn set_cdc_entities(&self, objects: &[&str]) -> Result<(), String> {
        let mut org = self.org();
        let names = objects
            .iter()
            .map(|o| {
                cdc_entity(&org, o)
                    .ok_or_else(|| format!("{o} does not support Change Data Capture"))
            })
            .collect::<Result<BTreeSet<_>, _>>()?;
        org.cdc.entities = names;
        Ok(())
    }

    /// The selection: standard entities and custom channels.
    pub fn cdc_settings(&self) -> CdcSettings {
        self.org().cdc.clone()
    }

    /// Creates or replaces a custom channel (`Name__chn`) with its member entities.
    pub fn define_cdc_channel(&self, name: &str, objects: &[&str]) -> Result<(), String> {
        let full = if name.ends_with("__chn") {
            name.to_string()
        } else {
            format!("{name}__chn")
        };
        let base = full.trim_end_matches("__chn");
        if base.is_empty() || !base.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("invalid channel name {full}"));
        }
        let mut org = self.org();
        let names = objects
            .iter()
            .map(|o| {
                cdc_entity(&org, o)
                    .ok_or_else(|| format!("{o} does not support Change Data Capture"))
            })
            .collect::<Result<BTreeSet<_>, _>>()?;
        org.cdc.channels.insert(full, names);
        Ok(())
    }

    pub fn remove_cdc_channel(&self, name: &str) -> bool {
        let full = if name.ends_with("__chn") {
            name.to_string()
        } else {
            format!("{name}__chn")
        };
        self.org().cdc.channels.remove(&full).is_some()
    }

    /// The streaming settings, allocation, event log and faults.
    pub fn streaming_status(&self) -> StreamingStatus {
        let mut st = self.stream();
        st.expire();
        let delivered = st.delivered();
        StreamingStatus {
            poll_timeout_ms: st.poll_timeout.as_millis() as u64,
            overflow_threshold: st.overflow_threshold,
            delivery_limit: st.delivery_limit,
            delivered,
            delivered_total: st.delivered_total,
            max_clients: st.max_clients,
            retained_events: st.events.len(),
            first_replay_id: st.first_retained(),
            last_replay_id: st.last_replay_id,
            clients: st.clients.len(),
            faults: st.faults.clone(),
        }
    }

    /// Changes streaming settings: the long-poll hold, the overflow threshold, the daily
    /// delivery allocation and its usage.
    pub fn set_streaming(&self, s: StreamingSettings) {
        let mut st = self.stream();
        if let Some(ms) = s.poll_timeout_ms {
            st.poll_timeout = Duration::from_millis(ms);
        }
        if let Some(n) = s.overflow_threshold {
            st.overflow_threshold = n;
        }
        if let Some(n) = s.delivery_limit {
            st.delivery_limit = n;
        }
        if let Some(n) = s.max_clients {
            st.max_clients = n;
        }
        if let Some(n) = s.delivered {
            st.set_delivered(n);
        }
    }

    /// How long `/meta/connect` holds a long poll without events (Salesforce: 110 s).
    pub fn set_streaming_poll_timeout(&self, d: Duration) {
        self.stream().poll_timeout = d;
    }

    /// Changes in one transaction past which `GAP_OVERFLOW` events are sent (Salesforce:
    /// 100,000; an update counts one per changed field).
    pub fn set_cdc_overflow_threshold(&self, n: usize) {
        self.stream().overflow_threshold = n;
    }

    /// Sets the event delivery usage of the current 24-hour window, and the allocation.
    pub fn set_event_delivery(&self, delivered: u64, limit: Option<u64>) {
        let mut st = self.stream();
        st.set_delivered(delivered);
        if let Some(l) = limit {
            st.delivery_limit = l;
        }
    }

    /// Replaces the streaming faults.
    pub fn set_streaming_faults(&self, f: StreamingFaults) {
        self.stream().faults = f;
    }

    /// Closes the connection of the next `n` long polls (`/meta/connect`) without an answer.
    pub fn drop_next_long_polls(&self, n: u32) {
        self.stream().faults.drop_polls = n;
    }

    /// Loses the next `n` long-poll answers that carry events, after the events were handed
    /// out (a client that sends the same connect again never gets them; one that
    /// subscribes again from its last replay id does).
    pub fn lose_next_answers(&self, n: u32) {
        self.stream().faults.lose_answers = n;
    }

    /// Publishes the next `n` changes as gap events (`GAP_UPDATE`, …: header only).
    pub fn gap_next_changes(&self, n: u32) {
        self.stream().faults.gap_next = n;
    }

    /// Forgets every streaming client: each one's next message answers
    /// `403::Unknown client` with advice to handshake again. Returns how many.
    pub fn forget_streaming_clients(&self) -> usize {
        let n = {
            let mut st = self.stream();
            let n = st.clients.len();
            st.clients.clear();
            n
        };
        self.wake_stream();
        n
    }

    /// Moves every retained event `by` into the past (as if that much time had gone by),
    /// then drops those past the 72-hour retention. Returns how many expired.
    pub fn age_change_events(&self, by: Duration) -> usize {
        let mut st = self.stream();
        let d = chrono::Duration::from_std(by).unwrap_or(chrono::Duration::zero());
        for e in st.events.iter_mut() {
            e.published -= d;
        }
        st.expire()
    }

    /// Drops retained events now: all of them, or those up to replay id `through`.
    pub fn expire_change_events(&self, through: Option<u64>) -> usize {
        let mut st = self.stream();
        let before = st.events.len();
        match through {
            Some(t) => st.events.retain(|e| e.replay_id > t),
            None => st.events.clear(),
        }
        before - st.events.len()
    }

    /// The retained change events as `/data/ChangeEvents` would deliver them.
    pub fn change_events(&self) -> Vec<J> {
        let mut st = self.stream();
        st.expire();
        st.events
            .iter()
            .map(|e| e.message("/data/ChangeEvents"))
            .collect()
    }

    /// Publishes the committed changes now (every write path of the sim already does).
    pub fn publish_changes(&self) {
        publish(self);
    }
}

// ---------------------------------------------------------------------------------------
// The Bayeux endpoint.

fn reply(channel: &str, id: &J, client: Option<&str>) -> Map<String, J> {
    let mut m = Map::new();
    m.insert("channel".into(), json!(channel));
    if !id.is_null() {
        m.insert("id".into(), id.clone());
    }
    if let Some(c) = client {
        m.insert("clientId".into(), json!(c));
    }
    m
}

fn failure(mut m: Map<String, J>, error: &str, advice: Option<J>) -> J {
    m.insert("successful".into(), json!(false));
    m.insert("error".into(), json!(error));
    if let Some(a) = advice {
        m.insert("advice".into(), a);
    }
    J::Object(m)
}

fn unknown_client(mut m: Map<String, J>) -> J {
    // Salesforce's answer names no client.
    m.remove("clientId");
    failure(
        m,
        "403::Unknown client",
        Some(json!({"reconnect": "handshake", "interval": 0})),
    )
}

fn new_client_id() -> String {
    let n: u128 = rand::random();
    let mut s = String::new();
    let mut v = n;
    while v > 0 && s.len() < 28 {
        let d = (v % 36) as u8;
        s.push(if d < 10 { b'0' + d } else { b'a' + d - 10 } as char);
        v /= 36;
    }
    s
}

fn json_response(status: StatusCode, body: Vec<J>, cookie: Option<String>) -> Response {
    let mut r = (
        status,
        [("content-type", "application/json;charset=UTF-8")],
        J::Array(body).to_string(),
    )
        .into_response();
    if let Some(c) = cookie
        && let Ok(v) = axum::http::HeaderValue::from_str(&c)
    {
        r.headers_mut().insert("set-cookie", v);
    }
    r
}

enum Take {
    Events(Vec<J>),
    Unknown,
    LimitExceeded,
    /// A newer long poll of the same client took over.
    Superseded,
}

/// Takes the events waiting for a client's subscriptions (up to the allocation's rest).
fn take_events(sim: &Sim, client_id: &str, poll: u64) -> Take {
    let cdc = sim.org().cdc.clone();
    let mut st = sim.stream();
    st.expire();
    let room = st.delivery_limit.saturating_sub(st.delivered());
    let StreamState {
        events,
        clients,
        last_replay_id,
        ..
    } = &mut *st;
    let Some(client) = clients.get_mut(client_id) else {
        return Take::Unknown;
    };
    if client.poll != poll {
        return Take::Superseded;
    }
    let mut cand: Vec<(u64, String, usize)> = Vec::new();
    for (name, sub) in &client.subs {
        // Events are in replay id order: start after the cursor.
        let from = events.partition_point(|e| e.replay_id <= sub.cursor);
        for (i, e) in events.iter().enumerate().skip(from) {
            if sub.chan.matches(&cdc, &e.entity) {
                cand.push((e.replay_id, name.clone(), i));
            }
        }
    }
    cand.sort();
    let take = cand.len().min(BATCH).min(room as usize);
    if take == 0 && !cand.is_empty() {
        return Take::LimitExceeded;
    }
    let mut out = Vec::with_capacity(take);
    let mut last_taken: HashMap<String, u64> = HashMap::new();
    for (rid, name, i) in &cand[..take] {
        out.push(events[*i].message(name));
        last_taken.insert(name.clone(), *rid);
    }
    let left: BTreeSet<&String> = cand[take..].iter().map(|(_, n, _)| n).collect();
    for (name, sub) in client.subs.iter_mut() {
        if !left.contains(name) {
            sub.cursor = sub.cursor.max(*last_replay_id);
        } else if let Some(r) = last_taken.get(name) {
            sub.cursor = *r;
        }
    }
    st.record_delivery(take as u64);
    Take::Events(out)
}

/// `POST /cometd/{version}` (and `/cometd/{version}/{anything}`, for clients that append
/// the message type to the URL): a JSON array of Bayeux messages.
pub async fn handle(State(sim): State<Sim>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let newest: f64 = sim.api_version().parse().unwrap_or(59.0);
    let version = uri
        .path()
        .trim_start_matches("/cometd/")
        .split('/')
        .next()
        .unwrap_or("")
        .to_string();
    let uri_format = format!("URI format: '/cometd/{newest:.1}'");
    let msgs: Vec<J> = match serde_json::from_slice::<J>(&body) {
        Ok(J::Array(a)) => a,
        Ok(o @ J::Object(_)) => vec![o],
        _ => {
            return json_response(
                StatusCode::BAD_REQUEST,
                vec![
                    json!({"successful": false, "error": "400::Bad request: the body must be a JSON array of Bayeux messages"}),
                ],
                None,
            );
        }
    };
    let bad_version = match version.parse::<f64>() {
        Err(_) if version.is_empty() => Some(format!(
            "400::API version in the URI is mandatory. {uri_format}"
        )),
        Ok(v) if (37.0..=newest).contains(&v) => None,
        _ => Some(format!(
            "400::Unsupported API version. Only API versions '37.0' and later are supported. {uri_format}"
        )),
    };
    if let Some(err) = bad_version {
        let out = msgs
            .iter()
            .map(|m| {
                let ch = m["channel"].as_str().unwrap_or("/meta/handshake");
                failure(
                    reply(ch, &m["id"], None),
                    &err,
                    Some(json!({"reconnect": "none"})),
                )
            })
            .collect();
        return json_response(StatusCode::BAD_REQUEST, out, None);
    }
    let session = crate::http::bearer(&headers).and_then(|t| sim.auth().check(&t));
    let Some(session) = session else {
        let out = msgs
            .iter()
            .map(|m| {
                let ch = m["channel"].as_str().unwrap_or("");
                let client = m["clientId"].as_str();
                if ch == "/meta/handshake" {
                    let mut r = reply(ch, &m["id"], None);
                    r.insert(
                        "ext".into(),
                        json!({"sfdc": {"failureReason": "401::Authentication invalid"}}),
                    );
                    failure(
                        r,
                        "403::Handshake denied",
                        Some(json!({"reconnect": "none"})),
                    )
                } else {
                    failure(
                        reply(ch, &m["id"], client),
                        "401::Authentication invalid",
                        Some(json!({"reconnect": "none", "interval": 0})),
                    )
                }
            })
            .collect();
        return json_response(StatusCode::UNAUTHORIZED, out, None);
    };
    let _ = session.user_id;
    let mut out = Vec::new();
    let mut cookie = None;
    for m in &msgs {
        let ch = m["channel"].as_str().unwrap_or("");
        let id = &m["id"];
        let client_id = m["clientId"].as_str();
        if let Some(c) = client_id
            && let Some(c) = sim.stream().clients.get_mut(c)
        {
            c.last_seen = c.last_seen.max(std::time::Instant::now());
        }
        match ch {
            "/meta/handshake" => {
                let cid = new_client_id();
                let admitted = {
                    let mut st = sim.stream();
                    st.sweep_clients();
                    let room = st.clients.len() < st.max_clients;
                    if room {
                        st.clients.insert(cid.clone(), Client::new());
                    }
                    room
                };
                if !admitted {
                    // Salesforce's answer past the concurrent client allocation.
                    let mut r = reply(ch, id, None);
                    r.insert(
                        "ext".into(),
                        json!({"sfdc": {"failureReason": "403::Organization concurrent user limit exceeded"}, "replay": true, "payload.format": true}),
                    );
                    out.push(failure(
                        r,
                        "403::Handshake denied",
                        Some(json!({"reconnect": "none"})),
                    ));
                    continue;
                }
                // As Salesforce answers it: the advice comes with the first connect.
                let mut r = reply(ch, id, Some(&cid));
                r.insert("version".into(), json!("1.0"));
                r.insert("minimumVersion".into(), json!("1.0"));
                r.insert("supportedConnectionTypes".into(), json!(["long-polling"]));
                r.insert("successful".into(), json!(true));
                r.insert(
                    "ext".into(),
                    json!({"replay": true, "payload.format": true}),
                );
                out.push(J::Object(r));
                cookie = Some(format!("BAYEUX_BROWSER={}; Path=/", new_client_id()));
            }
            "/meta/connect" => {
                let r = reply(ch, id, client_id);
                let Some(cid) = client_id else {
                    out.push(unknown_client(r));
                    continue;
                };
                if let Some(t) = m["connectionType"].as_str()
                    && t != "long-polling"
                {
                    out.push(failure(
                        r,
                        &format!("400::Invalid connection type {t}"),
                        None,
                    ));
                    continue;
                }
                let immediate = m["advice"]["timeout"].as_u64() == Some(0);
                let (drop_it, timeout, known) = {
                    let mut st = sim.stream();
                    st.sweep_clients();
                    let drop_it = st.faults.drop_polls > 0;
                    if drop_it {
                        st.faults.drop_polls -= 1;
                    }
                    let timeout = st.poll_timeout;
                    let known = st.clients.get_mut(cid).map(|c| {
                        // The first connect answers at once (with the advice); a client
                        // may also ask for an immediate answer (`advice.timeout` 0).
                        let first = !std::mem::replace(&mut c.connected, true);
                        let hold = if first || immediate {
                            Duration::ZERO
                        } else {
                            timeout
                        };
                        c.poll += 1;
                        c.last_seen = std::time::Instant::now() + hold;
                        (c.poll, hold, first)
                    });
                    (drop_it, timeout, known)
                };
                if drop_it {
                    return crate::http::dropped();
                }
                let Some((poll, hold, first)) = known else {
                    out.push(unknown_client(r));
                    continue;
                };
                // A long poll of this client still held is answered now, without events.
                sim.wake_stream();
                let (events, result) = long_poll(&sim, cid, poll, hold).await;
                if let Some(c) = sim.stream().clients.get_mut(cid) {
                    c.last_seen = c.last_seen.max(std::time::Instant::now());
                }
                let lose = {
                    let mut st = sim.stream();
                    let lose = !events.is_empty() && st.faults.lose_answers > 0;
                    if lose {
                        st.faults.lose_answers -= 1;
                    }
                    lose
                };
                if lose {
                    return crate::http::dropped();
                }
                out.extend(events);
                out.push(match result {
                    Take::Unknown => unknown_client(r),
                    Take::LimitExceeded => failure(
                        r,
                        "403::Organization total events daily limit exceeded",
                        Some(json!({"reconnect": "none", "interval": 0})),
                    ),
                    Take::Events(_) | Take::Superseded => {
                        let mut r = r;
                        r.insert("successful".into(), json!(true));
                        // The first connect carries the advice, as on Salesforce.
                        if first {
                            r.insert(
                                "advice".into(),
                                json!({"reconnect": "retry", "interval": 0, "timeout": timeout.as_millis() as u64}),
                            );
                        }
                        J::Object(r)
                    }
                });
            }
            "/meta/subscribe" => out.push(subscribe(&sim, m)),
            "/meta/unsubscribe" => {
                let sub = m["subscription"].as_str().unwrap_or("");
                let mut r = reply(ch, id, client_id);
                r.insert("subscription".into(), json!(sub));
                let mut st = sim.stream();
                match client_id.and_then(|c| st.clients.get_mut(c)) {
                    None => out.push(unknown_client(r)),
                    Some(c) => {
                        if c.subs.remove(sub).is_some() {
                            r.insert("successful".into(), json!(true));
                            out.push(J::Object(r));
                        } else {
                            out.push(failure(
                                r,
                                &format!("400::Not subscribed to channel {sub}"),
                                None,
                            ));
                        }
                    }
                }
            }
            "/meta/disconnect" => {
                let r = reply(ch, id, client_id);
                let gone = client_id.and_then(|c| sim.stream().clients.remove(c));
                sim.wake_stream();
                match gone {
                    None => out.push(unknown_client(r)),
                    Some(_) => {
                        let mut r = r;
                        r.insert("successful".into(), json!(true));
                        out.push(J::Object(r));
                    }
                }
            }
            _ => {
                let r = reply(ch, id, client_id);
                let known = client_id.is_some_and(|c| sim.stream().clients.contains_key(c));
                if known {
                    out.push(failure(r, "403::Publish denied", None));
                } else {
                    out.push(unknown_client(r));
                }
            }
        }
    }
    json_response(StatusCode::OK, out, cookie)
}

/// Holds until events arrive for the client or `hold` passes.
async fn long_poll(sim: &Sim, cid: &str, poll: u64, hold: Duration) -> (Vec<J>, Take) {
    let deadline = tokio::time::Instant::now() + hold;
    let mut rx = sim.stream_watch();
    loop {
        match take_events(sim, cid, poll) {
            Take::Events(evs) if !evs.is_empty() => return (evs, Take::Events(vec![])),
            Take::Events(_) => {}
            other => return (vec![], other),
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return (vec![], Take::Events(vec![]));
        }
        let _ = tokio::time::timeout(deadline - now, rx.changed()).await;
    }
}

fn subscribe(sim: &Sim, m: &J) -> J {
    let id = &m["id"];
    let client_id = m["clientId"].as_str();
    let sub = m["subscription"].as_str();
    let mut r = reply("/meta/subscribe", id, client_id);
    if let Some(s) = sub {
        r.insert("subscription".into(), json!(s));
    }
    let Some(sub) = sub.filter(|s| !s.is_empty()) else {
        return failure(r, "400::Channel name not specified", None);
    };
    if !sub.starts_with('/') {
        return failure(
            r,
            "400::Channel subscriptions must start with a leading '/'",
            None,
        );
    }
    let chan = parse_channel(&sim.org(), sub);
    let mut st = sim.stream();
    st.expire();
    let (first, last) = (st.first_retained(), st.last_replay_id);
    let room = st.delivery_limit.saturating_sub(st.delivered());
    let Some(client) = client_id.and_then(|c| st.clients.get_mut(c)) else {
        return unknown_client(r);
    };
    let Some(chan) = chan else {
        return failure(
            r,
            &format!("400::The channel you requested to subscribe to does not exist {{{sub}}}"),
            None,
        );
    };
    if room == 0 {
        return failure(
            r,
            "403::Organization total events daily limit exceeded",
            None,
        );
    }
    let r_ext = &m["ext"]["replay"][sub];
    let replay = r_ext
        .as_i64()
        .or_else(|| r_ext.as_str().and_then(|s| s.trim().parse().ok()))
        .unwrap_or(-1);
    let cursor = match replay {
        -1 => last,
        -2 => first - 1,
        n if n >= 0 && (n as u64) + 1 >= first && (n as u64) <= last => n as u64,
        n => {
            return failure(
                r,
                &format!(
                    "400::The replayId {{{n}}} you provided was invalid.  Please provide a valid ID, -2 to replay all events, or -1 to replay only new events."
                ),
                None,
            );
        }
    };
    client
        .subs
        .insert(sub.to_string(), Subscription { chan, cursor });
    drop(st);
    sim.wake_stream();
    r.insert("successful".into(), json!(true));
    J::Object(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_name_the_api_and_the_client() {
        assert_eq!(rest_origin("59.0", None), "com/salesforce/api/rest/59.0");
        assert_eq!(
            rest_origin("59.0", Some("defaultNamespace=ns, client=datenator")),
            "com/salesforce/api/rest/59.0;client=datenator"
        );
        assert_eq!(
            api_origin("bulkapi", "62.0", Some("client=")),
            "com/salesforce/api/bulkapi/62.0"
        );
    }

    #[test]
    fn compound_components_nest_under_their_field() {
        let f = |name: &str, parent: &str| FieldDef {
            compound_field_name: Some(parent.into()),
            ..serde_json::from_value(json!({"name": name, "type": "string"})).unwrap()
        };
        assert_eq!(
            event_key(&f("BillingStateCode", "BillingAddress")),
            (Some("BillingAddress"), "StateCode".to_string())
        );
        assert_eq!(
            event_key(&f("Street", "Address")),
            (Some("Address"), "Street".to_string())
        );
        assert_eq!(
            event_key(&f("FirstName", "Name")),
            (Some("Name"), "FirstName".to_string())
        );
        assert_eq!(
            event_key(&f("Site__Latitude__s", "Site__c")),
            (Some("Site__c"), "Latitude".to_string())
        );
    }

    #[test]
    fn transaction_keys_look_like_salesforce_ones() {
        let k = transaction_key("00D000000000001", 7);
        let parts: Vec<usize> = k.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
        assert_ne!(k, transaction_key("00D000000000001", 8));
    }
}
