//! The in-memory org: tables of records, the recycle bin, the SystemModstamp clock, and
//! the write path with Salesforce's validation.

use crate::ids;
use crate::schema::{FieldDef, FieldType, Formula, ObjectDef};
use crate::soql;
use crate::value::{Value, parse_date, parse_datetime, parse_time, whole_seconds};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub values: Vec<Value>,
    /// When it went to the recycle bin.
    pub deleted: Option<DateTime<Utc>>,
}

impl Record {
    pub fn get(&self, slot: usize) -> &Value {
        static NULL: Value = Value::Null;
        self.values.get(slot).unwrap_or(&NULL)
    }

    pub fn set(&mut self, slot: usize, v: Value) {
        if self.values.len() <= slot {
            self.values.resize(slot + 1, Value::Null);
        }
        self.values[slot] = v;
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Table {
    pub def: ObjectDef,
    pub records: BTreeMap<String, Record>,
    pub next_seq: u64,
    pub next_slot: usize,
    pub auto_number: u64,
    /// Unique/external-id field slot → lower-cased value → record id.
    #[serde(skip)]
    pub unique: HashMap<usize, HashMap<String, String>>,
}

impl Table {
    pub fn new(def: ObjectDef) -> Table {
        let next_slot = def.fields.iter().map(|f| f.slot + 1).max().unwrap_or(0);
        let mut t = Table {
            def,
            records: BTreeMap::new(),
            next_seq: 1,
            next_slot,
            auto_number: 0,
            unique: HashMap::new(),
        };
        t.rebuild_unique();
        t
    }

    pub fn rebuild_unique(&mut self) {
        self.unique.clear();
        for f in self.def.fields.iter().filter(|f| f.unique) {
            let mut m = HashMap::new();
            for r in self.records.values().filter(|r| r.deleted.is_none()) {
                if let Value::Str(s) = r.get(f.slot) {
                    m.insert(s.to_lowercase(), r.id.clone());
                }
            }
            self.unique.insert(f.slot, m);
        }
    }

    pub fn slot(&self, name: &str) -> usize {
        self.def.slot(name).unwrap_or(usize::MAX)
    }

    pub fn live(&self) -> impl Iterator<Item = &Record> {
        self.records.values().filter(|r| r.deleted.is_none())
    }
}

/// One per-record failure, as sObject Collections and Bulk report it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DmlError {
    #[serde(rename = "statusCode")]
    pub status_code: String,
    pub message: String,
    pub fields: Vec<String>,
}

impl DmlError {
    pub fn new(code: &str, message: impl Into<String>, fields: &[&str]) -> DmlError {
        DmlError {
            status_code: code.into(),
            message: message.into(),
            fields: fields.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// A raw input value: JSON from REST, text from a Bulk CSV cell.
#[derive(Clone, Debug)]
pub enum Raw {
    Json(serde_json::Value),
    Csv(String),
}

/// Who writes and at which SystemModstamp; one transaction shares a stamp.
#[derive(Clone, Debug)]
pub struct WriteCtx {
    pub user_id: String,
    pub stamp: DateTime<Utc>,
    /// The undo journal this write belongs to (composite allOrNone), if any.
    pub tx: Option<u64>,
    /// The transaction this write belongs to, for Change Data Capture: writes made with one
    /// context (one request, one Bulk chunk of 200) or inside one journal share it.
    pub txn: u64,
}

/// What a transaction changed, so it can be rolled back.
#[derive(Clone, Debug, Default)]
pub struct Journal {
    pub created: Vec<String>,
    pub previous: Vec<Record>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Org {
    pub org_id: String,
    pub tables: BTreeMap<String, Table>,
    pub last_stamp: DateTime<Utc>,
    pub admin_user_id: String,
    /// Days the recycle bin keeps records (the deleted endpoint's window).
    pub retention_days: i64,
    /// Per object, the deletion time of the newest record purged from the recycle bin (and
    /// so from the delete log): the deleted endpoint's `earliestDateAvailable`.
    #[serde(default)]
    pub purged_through: BTreeMap<String, DateTime<Utc>>,
    pub custom_prefix_seq: u64,
    /// Late visibility fault: how long a change stays invisible to queries.
    #[serde(skip)]
    pub late_visibility: Option<std::time::Duration>,
    /// Changes not yet visible: id → (visible at, the version queries still see).
    #[serde(skip)]
    pub hidden: HashMap<String, (std::time::Instant, Option<Record>)>,
    #[serde(skip)]
    journals: HashMap<u64, Journal>,
    #[serde(skip)]
    tx_seq: u64,
    /// Change Data Capture: the selected entities and custom channels.
    #[serde(default)]
    pub cdc: crate::streaming::CdcSettings,
    /// Changes to CDC-enabled objects not yet published as change events.
    #[serde(skip)]
    pub cdc_pending: Vec<crate::streaming::Change>,
    /// The last replay id handed out, saved so replay ids keep increasing across restarts
    /// (the events themselves are not saved: after a restart none are retained).
    #[serde(default)]
    pub cdc_last_replay_id: u64,
    #[serde(skip)]
    txn_seq: u64,
}

impl Org {
    pub fn new(org_id: &str) -> Org {
        let mut org = Org::with_objects(org_id, "", crate::catalog::org_objects());
        let now = org.last_stamp;
        org.admin_user_id = ids::make_id("005", 1);
        let users = [
            ("admin@sfsim.example", "Ada", "Admin", "aadmin"),
            ("integration@sfsim.example", "Ivan", "Integration", "iint"),
            ("sales@sfsim.example", "Sam", "Sales", "ssales"),
        ];
        let ctx = WriteCtx {
            user_id: org.admin_user_id.clone(),
            stamp: now,
            tx: None,
            txn: 0,
        };
        for (u, first, last, alias) in users {
            let raw = vec![
                ("Username".to_string(), Raw::Json(u.into())),
                ("FirstName".to_string(), Raw::Json(first.into())),
                ("LastName".to_string(), Raw::Json(last.into())),
                ("Email".to_string(), Raw::Json(u.into())),
                ("Alias".to_string(), Raw::Json(alias.into())),
            ];
            org.insert_inner("User", &raw, &ctx, true)
                .expect("seed user");
        }
        org.seed_setup(&ctx);
        org
    }

    /// An org of only the given objects, without records, whose writes are made by
    /// `admin_user_id` (the Tooling API's view of an org).
    pub fn with_objects(org_id: &str, admin_user_id: &str, defs: Vec<ObjectDef>) -> Org {
        let mut org = Org {
            org_id: org_id.into(),
            tables: BTreeMap::new(),
            last_stamp: DateTime::UNIX_EPOCH,
            admin_user_id: admin_user_id.into(),
            retention_days: 15,
            purged_through: BTreeMap::new(),
            custom_prefix_seq: 1,
            late_visibility: None,
            hidden: HashMap::new(),
            journals: HashMap::new(),
            tx_seq: 0,
            cdc: Default::default(),
            cdc_pending: Vec::new(),
            cdc_last_replay_id: 0,
            txn_seq: 0,
        };
        let now = org.next_stamp();
        for mut def in defs {
            def.last_modified = now;
            org.tables.insert(def.name.to_lowercase(), Table::new(def));
        }
        org
    }

    /// Inserts a record as Salesforce itself does (read-only fields allowed), by the admin.
    pub fn insert_system(
        &mut self,
        object: &str,
        raw: &[(String, Raw)],
    ) -> Result<String, DmlError> {
        let admin = self.admin_user_id.clone();
        let ctx = self.ctx(&admin);
        self.insert_inner(object, raw, &ctx, true)
    }

    /// The records every org has: itself (Organization, with the org's id), the record
    /// types the objects declare, and a few groups (one of them a queue).
    fn seed_setup(&mut self, ctx: &WriteCtx) {
        let j = |v: &str| Raw::Json(v.into());
        let org_fields = vec![
            ("Name".to_string(), j("sfsim Developer Org")),
            ("OrganizationType".to_string(), j("Developer Edition")),
            ("IsSandbox".to_string(), Raw::Json(false.into())),
            ("InstanceName".to_string(), j("SFS1")),
            ("DefaultLocaleSidKey".to_string(), j("en_US")),
            ("LanguageLocaleKey".to_string(), j("en_US")),
            ("TimeZoneSidKey".to_string(), j("GMT")),
            ("FiscalYearStartMonth".to_string(), Raw::Json(1.into())),
            ("Country".to_string(), j("Switzerland")),
        ];
        let org_id = ids::normalize(&self.org_id).unwrap_or_else(|| self.org_id.clone());
        self.insert_with_id("Organization", &org_id, &org_fields, ctx);
        let mut types: Vec<(String, crate::schema::RecordTypeDef)> = self
            .tables
            .values()
            .flat_map(|t| {
                t.def
                    .record_types
                    .iter()
                    .map(|rt| (t.def.name.clone(), rt.clone()))
            })
            .collect();
        types.sort_by(|a, b| a.1.id.cmp(&b.1.id));
        for (object, rt) in types {
            let raw = vec![
                ("Name".to_string(), j(&rt.name)),
                ("DeveloperName".to_string(), j(&rt.developer_name)),
                ("SobjectType".to_string(), j(&object)),
                ("IsActive".to_string(), Raw::Json(true.into())),
            ];
            self.insert_with_id("RecordType", &rt.id, &raw, ctx);
        }
        for (name, dev, kind) in [
            ("Support Queue", "Support_Queue", "Queue"),
            ("Sales Team", "Sales_Team", "Regular"),
            ("All Internal Users", "AllInternalUsers", "Organization"),
        ] {
            let raw = vec![
                ("Name".to_string(), j(name)),
                ("DeveloperName".to_string(), j(dev)),
                ("Type".to_string(), j(kind)),
            ];
            self.insert_inner("Group", &raw, ctx, true)
                .expect("seed group");
        }
    }

    /// Inserts a setup record under a given id (the org's own, a record type's).
    fn insert_with_id(&mut self, object: &str, id: &str, raw: &[(String, Raw)], ctx: &WriteCtx) {
        let made = self
            .insert_inner(object, raw, ctx, true)
            .expect("seed setup record");
        let t = self.table_mut(object).expect("setup table");
        let slot = t.slot("Id");
        if let Some(mut r) = t.records.remove(&made) {
            r.id = id.to_string();
            r.set(slot, Value::Str(id.into()));
            t.records.insert(id.to_string(), r);
        }
    }

    /// The version of a record that queries see now (late visibility), if any.
    pub fn visible<'a>(&'a self, rec: &'a Record) -> Option<&'a Record> {
        match self.hidden.get(&rec.id) {
            Some((until, prev)) if *until > std::time::Instant::now() => prev.as_ref(),
            _ => Some(rec),
        }
    }

    fn hide(&mut self, id: &str, prev: Option<Record>) {
        let Some(d) = self.late_visibility else {
            return;
        };
        let now = std::time::Instant::now();
        self.hidden.retain(|_, (until, _)| *until > now);
        let prev = match self.hidden.remove(id) {
            Some((_, earlier)) => earlier,
            None => prev,
        };
        self.hidden.insert(id.to_string(), (now + d, prev));
    }

    pub fn after_load(&mut self) {
        for t in self.tables.values_mut() {
            t.rebuild_unique();
        }
    }

    /// The next SystemModstamp: now, in whole seconds as Salesforce stores datetimes. Many
    /// writes share one stamp (a data load stamps thousands of records with one second), so
    /// a client's cursor must cope with ties; the clock never goes back.
    pub fn next_stamp(&mut self) -> DateTime<Utc> {
        let s = whole_seconds(Utc::now()).max(self.last_stamp);
        self.last_stamp = s;
        s
    }

    pub fn ctx(&mut self, user_id: &str) -> WriteCtx {
        self.ctx_in(user_id, None)
    }

    /// A write context inside an undo journal (see `begin_tx`).
    pub fn ctx_in(&mut self, user_id: &str, tx: Option<u64>) -> WriteCtx {
        // A journal's writes are one transaction; journals and contexts number apart.
        let txn = match tx {
            Some(t) => t << 32,
            None => {
                self.txn_seq += 1;
                self.txn_seq
            }
        };
        WriteCtx {
            user_id: user_id.into(),
            stamp: self.next_stamp(),
            tx,
            txn,
        }
    }

    /// Records a change for Change Data Capture when its object is selected.
    fn capture(
        &mut self,
        ctx: &WriteCtx,
        kind: crate::streaming::ChangeKind,
        entity: &str,
        before: Option<&Record>,
        after: Option<&Record>,
    ) {
        if !self.cdc.captures(entity) {
            return;
        }
        let Some(id) = after.or(before).map(|r| r.id.clone()) else {
            return;
        };
        self.cdc_pending.push(crate::streaming::Change {
            txn: ctx.txn,
            tx: ctx.tx,
            entity: entity.to_string(),
            kind,
            id,
            before: before.cloned(),
            after: after.cloned(),
            user_id: ctx.user_id.clone(),
            stamp: ctx.stamp,
            origin: crate::streaming::current_origin(),
            system: false,
        });
    }

    /// Takes the captured changes that are committed (not inside an open journal).
    pub fn take_committed_changes(&mut self) -> Vec<crate::streaming::Change> {
        if self.cdc_pending.is_empty() {
            return Vec::new();
        }
        let journals = &self.journals;
        let (open, done): (Vec<_>, Vec<_>) = std::mem::take(&mut self.cdc_pending)
            .into_iter()
            .partition(|c| c.tx.is_some_and(|t| journals.contains_key(&t)));
        self.cdc_pending = open;
        done
    }

    /// Starts an undo journal; writes made with `ctx_in(.., Some(tx))` are recorded.
    pub fn begin_tx(&mut self) -> u64 {
        self.tx_seq += 1;
        self.journals.insert(self.tx_seq, Journal::default());
        self.tx_seq
    }

    /// Forgets a journal, keeping its writes.
    pub fn commit_tx(&mut self, tx: u64) {
        self.journals.remove(&tx);
    }

    /// Undoes every write recorded in a journal.
    pub fn rollback_tx(&mut self, tx: u64) {
        self.cdc_pending.retain(|c| c.tx != Some(tx));
        if let Some(j) = self.journals.remove(&tx) {
            self.restore(&j.created, j.previous);
        }
    }

    fn journal(&mut self, ctx: &WriteCtx) -> Option<&mut Journal> {
        ctx.tx.and_then(|tx| self.journals.get_mut(&tx))
    }

    pub fn table(&self, name: &str) -> Option<&Table> {
        // Keys are lower-case names; avoid allocating on this hot path (an org has
        // hundreds of objects, so no scan either).
        if let Some(t) = self.tables.get(name) {
            return Some(t);
        }
        let mut buf = [0u8; 96];
        let Some(lower) = buf.get_mut(..name.len()) else {
            return self.tables.get(&name.to_ascii_lowercase());
        };
        lower.copy_from_slice(name.as_bytes());
        lower.make_ascii_lowercase();
        std::str::from_utf8(lower)
            .ok()
            .and_then(|k| self.tables.get(k))
    }

    pub fn table_mut(&mut self, name: &str) -> Option<&mut Table> {
        self.tables.get_mut(&name.to_lowercase())
    }

    pub fn table_by_prefix(&self, prefix: &str) -> Option<&Table> {
        self.tables.values().find(|t| t.def.key_prefix == prefix)
    }

    /// Finds a record (deleted or not) by a 15- or 18-character id.
    pub fn find(&self, id: &str) -> Option<(&Table, &Record)> {
        let id = ids::normalize(id)?;
        let t = self.table_by_prefix(ids::prefix(&id))?;
        t.records.get(&id).map(|r| (t, r))
    }

    pub fn user_id_by_username(&self, username: &str) -> Option<String> {
        let t = self.table("User")?;
        let slot = t.slot("Username");
        t.live()
            .find(|r| {
                r.get(slot)
                    .as_str()
                    .is_some_and(|u| u.eq_ignore_ascii_case(username))
            })
            .map(|r| r.id.clone())
    }

    fn coerce(&self, fd: &FieldDef, raw: &Raw) -> Result<Option<Value>, DmlError> {
        Self::coerce_field(fd, raw)
    }

    /// Converts a raw value to a field's type (`None`: an empty CSV cell, leave unchanged).
    pub fn coerce_field(fd: &FieldDef, raw: &Raw) -> Result<Option<Value>, DmlError> {
        let bad = |shown: &str| {
            DmlError::new(
                "JSON_PARSER_ERROR",
                format!(
                    "Cannot deserialize instance of {} from VALUE_STRING value {shown} or request may be missing a required field",
                    fd.ftype.soap_type().trim_start_matches("xsd:")
                ),
                &[],
            )
        };
        let text: String = match raw {
            // A checkbox cannot be null: clearing it unchecks it.
            Raw::Json(serde_json::Value::Null) if fd.ftype == FieldType::Boolean => {
                return Ok(Some(Value::Bool(false)));
            }
            Raw::Csv(s) if s == "#N/A" && fd.ftype == FieldType::Boolean => {
                return Ok(Some(Value::Bool(false)));
            }
            Raw::Json(serde_json::Value::Null) => return Ok(Some(Value::Null)),
            Raw::Csv(s) if s.is_empty() => return Ok(None),
            Raw::Csv(s) if s == "#N/A" => return Ok(Some(Value::Null)),
            Raw::Csv(s) => s.clone(),
            Raw::Json(serde_json::Value::String(s)) => s.clone(),
            Raw::Json(serde_json::Value::Bool(b)) => b.to_string(),
            Raw::Json(serde_json::Value::Number(n)) => {
                if fd.ftype.is_numeric() {
                    let f = n.as_f64().unwrap_or(0.0);
                    return Ok(Some(if fd.ftype == FieldType::Int {
                        Value::Int(f as i64)
                    } else {
                        Value::Num(f)
                    }));
                }
                n.to_string()
            }
            Raw::Json(other) => return Err(bad(&other.to_string())),
        };
        let v = match fd.ftype {
            FieldType::Boolean => match text.to_ascii_lowercase().as_str() {
                "true" | "1" => Value::Bool(true),
                "false" | "0" => Value::Bool(false),
                _ => return Err(bad(&text)),
            },
            FieldType::Int => Value::Int(text.trim().parse::<i64>().map_err(|_| bad(&text))?),
            FieldType::Double | FieldType::Currency | FieldType::Percent => {
                Value::Num(text.trim().parse::<f64>().map_err(|_| bad(&text))?)
            }
            FieldType::Date => Value::Date(
                parse_date(&text)
                    .or_else(|| parse_datetime(&text).map(|t| t.date_naive()))
                    .ok_or_else(|| bad(&text))?,
            ),
            FieldType::Datetime => Value::DateTime(whole_seconds(
                parse_datetime(&text).ok_or_else(|| bad(&text))?,
            )),
            FieldType::Time => Value::Time(parse_time(&text).ok_or_else(|| bad(&text))?),
            FieldType::Id | FieldType::Reference => {
                if text.is_empty() {
                    Value::Null
                } else {
                    match ids::normalize(&text) {
                        Some(id) => Value::Str(id.into()),
                        None => {
                            return Err(DmlError::new(
                                "MALFORMED_ID",
                                format!("{}: id value of incorrect type: {text}", fd.label),
                                &[&fd.name],
                            ));
                        }
                    }
                }
            }
            _ => {
                if text.is_empty() {
                    Value::Null
                } else {
                    Value::Str(text.into())
                }
            }
        };
        Ok(Some(v))
    }

    /// A parent given by its external id: `Account.External_Id__c` as a CSV column, or
    /// `"Account": {"External_Id__c": "X"}` in JSON. `Ok(None)` when `name` is not one,
    /// `Ok(Some(None))` for an empty CSV cell (leave unchanged).
    fn parent_by_external_id<'d>(
        &self,
        def: &'d ObjectDef,
        name: &str,
        r: &Raw,
    ) -> Result<Option<Option<(&'d FieldDef, Value)>>, DmlError> {
        let (rel, ext, value) = match (name.split_once('.'), r) {
            (Some((rel, ext)), Raw::Csv(v)) => (rel, ext.to_string(), v.clone()),
            (None, Raw::Json(serde_json::Value::Object(m))) => {
                let Some((ext, v)) = m.iter().find(|(k, _)| k.as_str() != "attributes") else {
                    return Ok(None);
                };
                let v = v
                    .as_str()
                    .map(String::from)
                    .unwrap_or_else(|| v.to_string());
                (name, ext.clone(), v)
            }
            _ => return Ok(None),
        };
        let Some(fd) = def.field_by_relationship(rel) else {
            return Err(DmlError::new(
                "INVALID_FIELD",
                format!("No such column '{name}' on sobject of type {}", def.name),
                &[],
            ));
        };
        if value.is_empty() {
            return Ok(Some(None));
        }
        let target = fd.reference_to.first().cloned().unwrap_or_default();
        let found = self.find_by_external(&target, &ext, &value).map_err(|_| {
            DmlError::new(
                "INVALID_FIELD",
                format!(
                    "Foreign key external ID: {value} not found for field {ext} in entity {target}"
                ),
                &[],
            )
        })?;
        match found.as_slice() {
            [id] => Ok(Some(Some((fd, Value::Str(id.as_str().into()))))),
            [] => Err(DmlError::new(
                "INVALID_FIELD",
                format!(
                    "Foreign key external ID: {value} not found for field {ext} in entity {target}"
                ),
                &[],
            )),
            _ => Err(DmlError::new(
                "DUPLICATE_EXTERNAL_ID",
                format!("Foreign key external ID: {value} matches more than one {target}"),
                &[],
            )),
        }
    }

    /// Checks and converts the given fields for a write, without changing anything.
    fn prepare<'d>(
        &self,
        def: &'d ObjectDef,
        raw: &[(String, Raw)],
        insert: bool,
        system: bool,
    ) -> Result<Vec<(&'d FieldDef, Value)>, DmlError> {
        let mut out = Vec::with_capacity(raw.len());
        let mut read_only = Vec::new();
        for (name, r) in raw {
            if let Some(parent) = self.parent_by_external_id(def, name, r)? {
                out.extend(parent);
                continue;
            }
            let Some(fd) = def.field(name) else {
                return Err(DmlError::new(
                    "INVALID_FIELD",
                    format!("No such column '{name}' on sobject of type {}", def.name),
                    &[],
                ));
            };
            let writable = if insert { fd.createable } else { fd.updateable };
            if !writable && !system {
                if fd.ftype == FieldType::Id {
                    continue;
                }
                read_only.push(fd.name.clone());
                continue;
            }
            let Some(v) = self.coerce(fd, r)? else {
                continue;
            };
            out.push((fd, v));
        }
        if !read_only.is_empty() {
            let list = read_only.join(", ");
            let refs: Vec<&str> = read_only.iter().map(String::as_str).collect();
            return Err(DmlError::new(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                format!(
                    "Unable to create/update fields: {list}. Please check the security settings of this field and verify that it is read/write for your profile or permission set."
                ),
                &refs,
            ));
        }
        for (fd, v) in &out {
            if let Some(x) = v.as_f64()
                && fd.ftype.is_numeric()
            {
                // precision counts all digits, scale those after the point.
                let int_digits = fd.precision.saturating_sub(fd.scale).clamp(1, 18);
                if x.abs() >= 10f64.powi(int_digits as i32) {
                    return Err(DmlError::new(
                        "NUMBER_OUTSIDE_VALID_RANGE",
                        format!(
                            "{}: value outside of valid range on numeric field: {}",
                            fd.label,
                            crate::value::fmt_num(x)
                        ),
                        &[&fd.name],
                    ));
                }
            }
            let Value::Str(s) = v else { continue };
            if fd.ftype == FieldType::Email && !valid_email(s) {
                return Err(DmlError::new(
                    "INVALID_EMAIL_ADDRESS",
                    format!("{}: invalid email address: {s}", fd.label),
                    &[&fd.name],
                ));
            }
            if fd.ftype.is_text() && fd.length > 0 && s.chars().count() > fd.length as usize {
                return Err(DmlError::new(
                    "STRING_TOO_LONG",
                    format!(
                        "{}: data value too large: {} (max length={})",
                        fd.label,
                        s.chars().take(60).collect::<String>(),
                        fd.length
                    ),
                    &[&fd.name],
                ));
            }
            if fd.restricted_picklist {
                let ok = |x: &str| fd.picklist_values.iter().any(|p| p == x);
                let valid = if fd.ftype == FieldType::Multipicklist {
                    s.split(';').all(ok)
                } else {
                    ok(s)
                };
                if !valid {
                    return Err(DmlError::new(
                        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                        format!("{}: bad value for restricted picklist field: {s}", fd.label),
                        &[&fd.name],
                    ));
                }
            }
            if fd.ftype == FieldType::Reference {
                let target = self.find(s);
                let ok_type = target.as_ref().is_some_and(|(t, _)| {
                    fd.reference_to
                        .iter()
                        .any(|r| r.eq_ignore_ascii_case(&t.def.name))
                });
                match target {
                    Some((_, r)) if ok_type && r.deleted.is_none() => {}
                    Some(_) if !ok_type => {
                        return Err(DmlError::new(
                            "FIELD_INTEGRITY_EXCEPTION",
                            format!("{}: id value of incorrect type: {s}", fd.label),
                            &[&fd.name],
                        ));
                    }
                    _ => {
                        let prefix_ok = self.table_by_prefix(ids::prefix(s)).is_some_and(|t| {
                            fd.reference_to
                                .iter()
                                .any(|r| r.eq_ignore_ascii_case(&t.def.name))
                        });
                        if !prefix_ok {
                            return Err(DmlError::new(
                                "FIELD_INTEGRITY_EXCEPTION",
                                format!("{}: id value of incorrect type: {s}", fd.label),
                                &[&fd.name],
                            ));
                        }
                        return Err(DmlError::new(
                            "INVALID_CROSS_REFERENCE_KEY",
                            "invalid cross reference id",
                            &[],
                        ));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Completes a record after a write: formulas, then the org's checks.
    fn finish(&self, table: &Table, rec: &mut Record) -> Result<(), DmlError> {
        for fd in &table.def.fields {
            if let Some(f) = &fd.formula {
                let v = match f {
                    Formula::Concat { fields } => {
                        let parts: Vec<String> = fields
                            .iter()
                            .filter_map(|n| table.def.slot(n))
                            .filter_map(|s| rec.get(s).as_str().map(String::from))
                            .collect();
                        if parts.is_empty() {
                            Value::Null
                        } else {
                            Value::Str(parts.join(" ").into())
                        }
                    }
                    Formula::Product { a, b, divisor } => {
                        let x = table.def.slot(a).and_then(|s| rec.get(s).as_f64());
                        let y = table.def.slot(b).and_then(|s| rec.get(s).as_f64());
                        match (x, y) {
                            (Some(x), Some(y)) => Value::Num(x * y / divisor),
                            _ => Value::Null,
                        }
                    }
                    Formula::Ratio { a, b } => {
                        let x = table.def.slot(a).and_then(|s| rec.get(s).as_f64());
                        let y = table.def.slot(b).and_then(|s| rec.get(s).as_f64());
                        match (x, y) {
                            (Some(x), Some(y)) if y != 0.0 => {
                                Value::Num((x / y * 100.0).round() / 100.0)
                            }
                            _ => Value::Null,
                        }
                    }
                    Formula::RollUp => continue,
                };
                rec.set(fd.slot, v);
            }
        }
        let missing: Vec<&str> = table
            .def
            .fields
            .iter()
            .filter(|f| !f.nillable && f.createable && rec.get(f.slot).is_null())
            .map(|f| f.name.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(DmlError::new(
                "REQUIRED_FIELD_MISSING",
                format!("Required fields are missing: [{}]", missing.join(", ")),
                &missing,
            ));
        }
        for (slot, index) in &table.unique {
            if let Value::Str(s) = rec.get(*slot)
                && let Some(other) = index.get(&s.to_lowercase())
                && *other != rec.id
            {
                let name = table
                    .def
                    .fields
                    .iter()
                    .find(|f| f.slot == *slot)
                    .map(|f| f.name.clone())
                    .unwrap_or_default();
                return Err(DmlError::new(
                    "DUPLICATE_VALUE",
                    format!(
                        "duplicate value found: {name} duplicates value on record with id: {other}"
                    ),
                    &[&name],
                ));
            }
        }
        for rule in &table.def.validation_rules {
            if soql::eval::condition_holds(self, table, rec, &rule.condition) {
                let fields: Vec<&str> = rule.field.iter().map(String::as_str).collect();
                return Err(DmlError::new(
                    "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                    rule.message.clone(),
                    &fields,
                ));
            }
        }
        Ok(())
    }

    fn index_unique(table: &mut Table, old: Option<&Record>, new: Option<&Record>) {
        for (slot, index) in table.unique.iter_mut() {
            if let Some(Value::Str(s)) = old.map(|r| r.get(*slot)) {
                index.remove(&s.to_lowercase());
            }
            if let Some(Value::Str(s)) = new.map(|r| r.get(*slot)) {
                index.insert(
                    s.to_lowercase(),
                    new.map(|r| r.id.clone()).unwrap_or_default(),
                );
            }
        }
    }

    /// Creates a record through the API.
    pub fn insert(
        &mut self,
        object: &str,
        raw: &[(String, Raw)],
        ctx: &WriteCtx,
    ) -> Result<String, DmlError> {
        self.insert_inner(object, raw, ctx, false)
    }

    fn insert_inner(
        &mut self,
        object: &str,
        raw: &[(String, Raw)],
        ctx: &WriteCtx,
        system: bool,
    ) -> Result<String, DmlError> {
        let table = self.table(object).ok_or_else(|| {
            DmlError::new(
                "INVALID_TYPE",
                format!("sObject type '{object}' is not supported."),
                &[],
            )
        })?;
        if !table.def.createable && !system {
            return Err(DmlError::new(
                "INVALID_TYPE",
                format!("Cannot create {}", table.def.name),
                &[],
            ));
        }
        let changes = self.prepare(&table.def, raw, true, system)?;
        let id = ids::make_id(&table.def.key_prefix, table.next_seq);
        let mut rec = Record {
            id: id.clone(),
            values: vec![Value::Null; table.next_slot],
            deleted: None,
        };
        for fd in &table.def.fields {
            if let Some(dv) = &fd.default_value
                && fd.defaulted_on_create
            {
                let v = self.coerce(fd, &Raw::Json(dv.clone()))?.unwrap_or_default();
                rec.set(fd.slot, v);
            }
        }
        let s = |n: &str| table.def.slot(n);
        let now = Value::DateTime(ctx.stamp);
        for (name, v) in [
            ("Id", Value::Str(id.as_str().into())),
            ("IsDeleted", Value::Bool(false)),
            ("CreatedDate", now.clone()),
            ("LastModifiedDate", now.clone()),
            ("SystemModstamp", now),
            ("CreatedById", Value::Str(ctx.user_id.as_str().into())),
            ("LastModifiedById", Value::Str(ctx.user_id.as_str().into())),
            ("OwnerId", Value::Str(ctx.user_id.as_str().into())),
        ] {
            if let Some(slot) = s(name) {
                rec.set(slot, v);
            }
        }
        for (fd, v) in changes {
            rec.set(fd.slot, v);
        }
        // A record always has a record type and a currency: a create that leaves them out
        // or sets them null gets the default record type and the user's currency.
        for fd in &table.def.fields {
            if matches!(fd.name.as_str(), "RecordTypeId" | "CurrencyIsoCode")
                && rec.get(fd.slot).is_null()
                && let Some(dv) = &fd.default_value
            {
                let v = self.coerce(fd, &Raw::Json(dv.clone()))?.unwrap_or_default();
                rec.set(fd.slot, v);
            }
        }
        let auto: Vec<(usize, String)> = table
            .def
            .fields
            .iter()
            .filter_map(|f| f.auto_number.clone().map(|a| (f.slot, a)))
            .collect();
        let auto_n = table.auto_number + 1;
        for (slot, fmt) in &auto {
            rec.set(*slot, Value::Str(format_auto_number(fmt, auto_n).into()));
        }
        self.finish(table, &mut rec)?;
        let table = self.table_mut(object).expect("table exists");
        table.next_seq += 1;
        if !auto.is_empty() {
            table.auto_number = auto_n;
        }
        Self::index_unique(table, None, Some(&rec));
        let entity = table.def.name.clone();
        self.capture(
            ctx,
            crate::streaming::ChangeKind::Create,
            &entity,
            None,
            Some(&rec),
        );
        let table = self.table_mut(object).expect("table exists");
        table.records.insert(id.clone(), rec);
        self.hide(&id, None);
        if let Some(j) = self.journal(ctx) {
            j.created.push(id.clone());
        }
        Ok(id)
    }

    /// Updates a record through the API (LastModifiedDate and SystemModstamp move).
    pub fn update(
        &mut self,
        object: Option<&str>,
        id: &str,
        raw: &[(String, Raw)],
        ctx: &WriteCtx,
    ) -> Result<(), DmlError> {
        let (table, old) = self.live_record(object, id)?;
        if !table.def.updateable {
            return Err(DmlError::new(
                "INVALID_TYPE",
                format!("Cannot update {}", table.def.name),
                &[],
            ));
        }
        let changes = self.prepare(&table.def, raw, false, false)?;
        let mut rec = old.clone();
        for (fd, v) in changes {
            rec.set(fd.slot, v);
        }
        for (name, v) in [
            ("LastModifiedDate", Value::DateTime(ctx.stamp)),
            ("SystemModstamp", Value::DateTime(ctx.stamp)),
            ("LastModifiedById", Value::Str(ctx.user_id.as_str().into())),
        ] {
            if let Some(slot) = table.def.slot(name) {
                rec.set(slot, v);
            }
        }
        self.finish(table, &mut rec)?;
        let name = table.def.name.clone();
        let table = self.table_mut(&name).expect("table");
        let old = table.records.get(&rec.id).cloned();
        Self::index_unique(table, old.as_ref(), Some(&rec));
        let rid = rec.id.clone();
        self.capture(
            ctx,
            crate::streaming::ChangeKind::Update,
            &name,
            old.as_ref(),
            Some(&rec),
        );
        let table = self.table_mut(&name).expect("table");
        table.records.insert(rid.clone(), rec);
        if let (Some(prev), Some(j)) = (old.clone(), self.journal(ctx)) {
            j.previous.push(prev);
        }
        self.hide(&rid, old);
        Ok(())
    }

    fn live_record(&self, object: Option<&str>, id: &str) -> Result<(&Table, &Record), DmlError> {
        let Some(norm) = ids::normalize(id) else {
            return Err(DmlError::new(
                "MALFORMED_ID",
                format!("malformed id {id}"),
                &[],
            ));
        };
        let found = self.find(&norm);
        match found {
            Some((t, _)) if object.is_some_and(|o| !t.def.name.eq_ignore_ascii_case(o)) => {
                Err(DmlError::new(
                    "MALFORMED_ID",
                    format!(
                        "{} ID: id value of incorrect type: {id}",
                        object.unwrap_or_default()
                    ),
                    &["Id"],
                ))
            }
            Some((_, r)) if r.deleted.is_some() => {
                Err(DmlError::new("ENTITY_IS_DELETED", "entity is deleted", &[]))
            }
            Some((t, r)) => Ok((t, r)),
            None => Err(DmlError::new(
                "INVALID_CROSS_REFERENCE_KEY",
                "invalid cross reference id",
                &[],
            )),
        }
    }

    /// Whether a well-formed id names no record at all (REST answers 404 then).
    pub fn is_missing(&self, id: &str) -> bool {
        ids::normalize(id).is_some_and(|n| self.find(&n).is_none())
    }

    /// Moves a record (and its cascade-deleted children) to the recycle bin.
    pub fn delete(
        &mut self,
        object: Option<&str>,
        id: &str,
        ctx: &WriteCtx,
    ) -> Result<(), DmlError> {
        self.delete_logged(object, id, ctx).map(|_| ())
    }

    /// Deletes like `delete` and returns the previous versions of every record touched.
    pub fn delete_logged(
        &mut self,
        object: Option<&str>,
        id: &str,
        ctx: &WriteCtx,
    ) -> Result<Vec<Record>, DmlError> {
        let (table, rec) = self.live_record(object, id)?;
        if !table.def.deletable {
            return Err(DmlError::new(
                "INSUFFICIENT_ACCESS_OR_READONLY",
                "insufficient access rights on object id",
                &[],
            ));
        }
        let (name, rid) = (table.def.name.clone(), rec.id.clone());
        let mut children = Vec::new();
        if name == "Account" {
            for child in ["Contact", "Opportunity"] {
                if let Some(t) = self.table(child) {
                    let slot = t.slot("AccountId");
                    children.extend(
                        t.live()
                            .filter(|r| r.get(slot).as_str() == Some(rid.as_str()))
                            .map(|r| (child, r.id.clone())),
                    );
                }
            }
        }
        children.push((name.as_str(), rid.clone()));
        let names: Vec<(String, String)> = children
            .into_iter()
            .map(|(a, b)| (a.to_string(), b))
            .collect();
        let mut touched = Vec::new();
        for (obj, rid) in names {
            let table = self.table_mut(&obj).expect("table");
            let (del, stamp) = (table.slot("IsDeleted"), table.slot("SystemModstamp"));
            let old = table.records.get(&rid).cloned();
            Self::index_unique(table, old.as_ref(), None);
            self.hide(&rid, old.clone());
            touched.extend(old);
            let table = self.table_mut(&obj).expect("table");
            let entity = table.def.name.clone();
            let gone = table.records.get_mut(&rid).map(|r| {
                r.deleted = Some(ctx.stamp);
                r.set(del, Value::Bool(true));
                r.set(stamp, Value::DateTime(ctx.stamp));
                r.clone()
            });
            if let Some(r) = gone {
                self.capture(
                    ctx,
                    crate::streaming::ChangeKind::Delete,
                    &entity,
                    Some(&r),
                    None,
                );
            }
        }
        if let Some(j) = self.journal(ctx) {
            j.previous.extend(touched.iter().cloned());
        }
        Ok(touched)
    }

    /// Restores a record from the recycle bin, as "Restore" in the Recycle Bin or the SOAP
    /// `undelete()` call do: it is live again with its id, and SystemModstamp moves.
    pub fn undelete(&mut self, id: &str, ctx: &WriteCtx) -> Result<(), DmlError> {
        let not_found = || {
            DmlError::new(
                "INVALID_CROSS_REFERENCE_KEY",
                "invalid cross reference id: not in the recycle bin",
                &[],
            )
        };
        let obj = self
            .table_by_prefix(ids::prefix(id))
            .map(|t| t.def.name.to_lowercase())
            .ok_or_else(not_found)?;
        let table = self.tables.get(&obj).ok_or_else(not_found)?;
        let (del, stamp) = (table.slot("IsDeleted"), table.slot("SystemModstamp"));
        let norm = ids::normalize(id).ok_or_else(not_found)?;
        let old = table
            .records
            .get(&norm)
            .filter(|r| r.deleted.is_some())
            .cloned()
            .ok_or_else(not_found)?;
        self.hide(&old.id, Some(old.clone()));
        let table = self.tables.get_mut(&obj).ok_or_else(not_found)?;
        let mut rec = old.clone();
        rec.deleted = None;
        rec.set(del, Value::Bool(false));
        rec.set(stamp, Value::DateTime(ctx.stamp));
        Self::index_unique(table, None, Some(&rec));
        let entity = table.def.name.clone();
        table.records.insert(rec.id.clone(), rec.clone());
        self.capture(
            ctx,
            crate::streaming::ChangeKind::Undelete,
            &entity,
            Some(&old),
            Some(&rec),
        );
        if let Some(j) = self.journal(ctx) {
            j.previous.push(old);
        }
        Ok(())
    }

    /// Undoes writes: restores previous versions, removes records created since.
    pub fn restore(&mut self, created: &[String], previous: Vec<Record>) {
        // Rolled-back writes publish no change events.
        if !self.cdc_pending.is_empty() {
            let undone: std::collections::HashSet<&str> = created
                .iter()
                .map(String::as_str)
                .chain(previous.iter().map(|r| r.id.as_str()))
                .collect();
            self.cdc_pending.retain(|c| !undone.contains(c.id.as_str()));
        }
        let mut touched = std::collections::BTreeSet::new();
        for id in created {
            if let Some(t) = self
                .table_by_prefix(ids::prefix(id))
                .map(|t| t.def.name.to_lowercase())
            {
                if let Some(t) = self.tables.get_mut(&t) {
                    t.records.remove(id);
                }
                self.hidden.remove(id);
                touched.insert(t);
            }
        }
        for rec in previous.into_iter().rev() {
            if let Some(t) = self
                .table_by_prefix(ids::prefix(&rec.id))
                .map(|t| t.def.name.to_lowercase())
            {
                self.hidden.remove(&rec.id);
                if let Some(tab) = self.tables.get_mut(&t) {
                    tab.records.insert(rec.id.clone(), rec);
                }
                touched.insert(t);
            }
        }
        for t in touched {
            if let Some(t) = self.tables.get_mut(&t) {
                t.rebuild_unique();
            }
        }
    }

    /// Removes a record for good (Bulk hardDelete).
    pub fn hard_delete(&mut self, object: &str, id: &str, ctx: &WriteCtx) -> Result<(), DmlError> {
        let (t, r) = self.live_record(Some(object), id)?;
        let (name, rid) = (t.def.name.clone(), r.id.clone());
        let table = self.table_mut(&name).expect("table");
        let old = table.records.remove(&rid);
        Self::index_unique(table, old.as_ref(), None);
        // Change Data Capture reports a hard delete as a DELETE.
        self.capture(
            ctx,
            crate::streaming::ChangeKind::Delete,
            &name,
            old.as_ref(),
            None,
        );
        Ok(())
    }

    /// Finds live records by an external-id (or idLookup) field value.
    pub fn find_by_external(
        &self,
        object: &str,
        field: &str,
        value: &str,
    ) -> Result<Vec<String>, DmlError> {
        let t = self.table(object).ok_or_else(|| {
            DmlError::new("NOT_FOUND", "The requested resource does not exist", &[])
        })?;
        let fd = t
            .def
            .field(field)
            .filter(|f| f.external_id || f.ftype == FieldType::Id)
            .ok_or_else(|| {
                DmlError::new(
                    "NOT_FOUND",
                    format!(
                        "Provided external ID field does not exist or is not accessible: {field}"
                    ),
                    &[],
                )
            })?;
        if fd.ftype == FieldType::Id {
            return Ok(ids::normalize(value)
                .filter(|id| t.records.get(id).is_some_and(|r| r.deleted.is_none()))
                .into_iter()
                .collect());
        }
        if let Some(idx) = t.unique.get(&fd.slot) {
            return Ok(idx
                .get(&value.to_lowercase())
                .cloned()
                .into_iter()
                .collect());
        }
        Ok(t.live()
            .filter(|r| {
                r.get(fd.slot)
                    .as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(value))
            })
            .map(|r| r.id.clone())
            .collect())
    }

    /// Upserts by external id: `Ok((id, created))`.
    pub fn upsert(
        &mut self,
        object: &str,
        field: &str,
        value: &str,
        raw: &[(String, Raw)],
        ctx: &WriteCtx,
    ) -> Result<(String, bool), DmlError> {
        let found = self.find_by_external(object, field, value)?;
        match found.as_slice() {
            [] => {
                let mut raw = raw.to_vec();
                let is_id = field.eq_ignore_ascii_case("Id");
                if !is_id && !raw.iter().any(|(n, _)| n.eq_ignore_ascii_case(field)) {
                    raw.push((field.to_string(), Raw::Json(value.into())));
                }
                raw.retain(|(n, _)| !n.eq_ignore_ascii_case("Id"));
                self.insert(object, &raw, ctx).map(|id| (id, true))
            }
            [id] => {
                let raw: Vec<_> = raw
                    .iter()
                    .filter(|(n, _)| !n.eq_ignore_ascii_case("Id"))
                    .cloned()
                    .collect();
                self.update(Some(object), id, &raw, ctx)
                    .map(|()| (id.clone(), false))
            }
            many => Err(DmlError::new(
                "DUPLICATE_EXTERNAL_ID",
                format!(
                    "{field}: more than one record found for external id field: {}",
                    many.join(", ")
                ),
                &[field],
            )),
        }
    }

    /// A change that did not come through the API (workflow, roll-up): SystemModstamp moves,
    /// LastModifiedDate does not. Optionally sets fields directly, bypassing validation.
    pub fn system_touch(
        &mut self,
        id: &str,
        set: &[(String, serde_json::Value)],
    ) -> Result<DateTime<Utc>, DmlError> {
        let stamp = self.next_stamp();
        let (t, r) = self.live_record(None, id)?;
        let mut updates = Vec::new();
        for (name, v) in set {
            let fd = t.def.field(name).ok_or_else(|| {
                DmlError::new(
                    "INVALID_FIELD",
                    format!("No such column '{name}' on sobject of type {}", t.def.name),
                    &[],
                )
            })?;
            let v = self.coerce(fd, &Raw::Json(v.clone()))?.unwrap_or_default();
            updates.push((fd.slot, v));
        }
        let (name, rid) = (t.def.name.clone(), r.id.clone());
        let admin = self.admin_user_id.clone();
        let table = self.table_mut(&name).expect("table");
        let slot = table.slot("SystemModstamp");
        let before = table.records.get(&rid).cloned();
        let changed = !updates.is_empty();
        if let Some(r) = table.records.get_mut(&rid) {
            for (s, v) in updates {
                r.set(s, v);
            }
            r.set(slot, Value::DateTime(stamp));
        }
        // A field a workflow or roll-up sets is a change event; a bare stamp move is not.
        if changed {
            let after = table.records.get(&rid).cloned();
            self.txn_seq += 1;
            let ctx = WriteCtx {
                user_id: admin,
                stamp,
                tx: None,
                txn: self.txn_seq,
            };
            self.capture(
                &ctx,
                crate::streaming::ChangeKind::Update,
                &name,
                before.as_ref(),
                after.as_ref(),
            );
            if let Some(c) = self.cdc_pending.last_mut().filter(|c| c.txn == ctx.txn) {
                c.system = true;
            }
        }
        Ok(stamp)
    }

    /// Empties the recycle bin of records deleted at or before `before` (all when `None`).
    pub fn purge(&mut self, before: Option<DateTime<Utc>>) -> usize {
        let mut n = 0;
        for t in self.tables.values_mut() {
            let len = t.records.len();
            let mut newest: Option<DateTime<Utc>> = None;
            t.records.retain(|_, r| {
                let keep = match (r.deleted, before) {
                    (None, _) => true,
                    (Some(_), None) => false,
                    (Some(d), Some(b)) => d > b,
                };
                if !keep {
                    newest = newest.max(r.deleted);
                }
                keep
            });
            if let Some(d) = newest {
                let through = self.purged_through.entry(t.def.name.clone()).or_insert(d);
                *through = (*through).max(d);
            }
            n += len - t.records.len();
        }
        n
    }

    /// Purges records that have been in the recycle bin longer than the retention window.
    pub fn expire_recycle_bin(&mut self) -> usize {
        let cutoff = Utc::now() - chrono::Duration::days(self.retention_days);
        self.purge(Some(cutoff))
    }

    /// Adds or replaces an object definition (metadata drift).
    pub fn define_object(&mut self, mut def: ObjectDef) -> Result<(), String> {
        let stamp = self.next_stamp();
        def.last_modified = stamp;
        if def.label.is_empty() {
            def.label = crate::schema::label_of(&def.name);
        }
        if def.label_plural.is_empty() {
            def.label_plural = format!("{}s", def.label);
        }
        let key = def.name.to_lowercase();
        if let Some(existing) = self.tables.get_mut(&key) {
            let fields = std::mem::take(&mut def.fields);
            existing.def.label = def.label;
            existing.def.label_plural = def.label_plural;
            existing.def.validation_rules = def.validation_rules;
            existing.def.last_modified = stamp;
            for f in fields {
                Self::put_field(existing, f, stamp);
            }
            return Ok(());
        }
        if !def.name.ends_with("__c") {
            return Err(format!("custom object names end in __c: {}", def.name));
        }
        while def.key_prefix.is_empty() {
            self.custom_prefix_seq += 1;
            let p = format!("a{:02}", self.custom_prefix_seq);
            if self.table_by_prefix(&p).is_none() {
                def.key_prefix = p;
            }
        }
        let prefix_ok =
            def.key_prefix.len() == 3 && def.key_prefix.bytes().all(|b| b.is_ascii_alphanumeric());
        if !prefix_ok || self.table_by_prefix(&def.key_prefix).is_some() {
            return Err(format!(
                "key prefix {:?} must be 3 letters or digits and unused",
                def.key_prefix
            ));
        }
        let fields = std::mem::take(&mut def.fields);
        let mut all = crate::schema::standard_objects()
            .into_iter()
            .find(|o| o.name == "Invoice__c")
            .expect("template")
            .fields;
        all.truncate(8); // system fields + OwnerId
        def.fields = all;
        for (i, f) in def.fields.iter_mut().enumerate() {
            f.slot = i;
        }
        let mut table = Table::new(def);
        if !fields.iter().any(|f| f.name.eq_ignore_ascii_case("Name")) {
            let mut n = FieldDef::new("Name", FieldType::String);
            n.length = 80;
            n.name_field = true;
            Self::put_field(&mut table, n, stamp);
        }
        for f in fields {
            Self::put_field(&mut table, f, stamp);
        }
        self.tables.insert(key, table);
        Ok(())
    }

    fn put_field(table: &mut Table, mut f: FieldDef, stamp: DateTime<Utc>) {
        if f.label.is_empty() {
            f.label = crate::schema::label_of(&f.name);
        }
        table.def.last_modified = stamp;
        if let Some(existing) = table
            .def
            .fields
            .iter_mut()
            .find(|e| e.name.eq_ignore_ascii_case(&f.name))
        {
            f.slot = existing.slot;
            let changed_type = existing.ftype != f.ftype;
            *existing = f.clone();
            if changed_type {
                // Like a field type change in Setup: convert what converts, clear the rest.
                let text_like = f.ftype.is_text();
                for r in table.records.values_mut() {
                    let old = r.get(f.slot).clone();
                    if old.is_null() {
                        continue;
                    }
                    let mut v = Org::coerce_field(&f, &Raw::Csv(old.to_csv()))
                        .ok()
                        .flatten()
                        .unwrap_or_default();
                    if let (true, Value::Str(s)) = (text_like, &v)
                        && f.length > 0
                        && s.chars().count() > f.length as usize
                    {
                        v = Value::Str(
                            s.chars().take(f.length as usize).collect::<String>().into(),
                        );
                    }
                    r.set(f.slot, v);
                }
            }
        } else {
            f.slot = table.next_slot;
            table.next_slot += 1;
            table.def.fields.push(f);
        }
        table.rebuild_unique();
    }

    /// Adds or replaces one field on an object.
    pub fn define_field(&mut self, object: &str, f: FieldDef) -> Result<(), String> {
        let stamp = self.next_stamp();
        let t = self
            .table_mut(object)
            .ok_or_else(|| format!("no object {object}"))?;
        Self::put_field(t, f, stamp);
        Ok(())
    }

    pub fn remove_field(&mut self, object: &str, field: &str) -> Result<(), String> {
        let stamp = self.next_stamp();
        let t = self
            .table_mut(object)
            .ok_or_else(|| format!("no object {object}"))?;
        let before = t.def.fields.len();
        t.def.fields.retain(|f| !f.name.eq_ignore_ascii_case(field));
        if t.def.fields.len() == before {
            return Err(format!("no field {object}.{field}"));
        }
        t.def.last_modified = stamp;
        t.rebuild_unique();
        Ok(())
    }

    pub fn remove_object(&mut self, object: &str) -> Result<(), String> {
        if !object.ends_with("__c") {
            return Err("only custom objects can be removed".into());
        }
        self.tables
            .remove(&object.to_lowercase())
            .map(|_| ())
            .ok_or_else(|| format!("no object {object}"))
    }

    /// The latest metadata change, for describeGlobal's If-Modified-Since.
    pub fn metadata_modified(&self) -> DateTime<Utc> {
        self.tables
            .values()
            .map(|t| t.def.last_modified)
            .max()
            .unwrap_or(DateTime::UNIX_EPOCH)
    }
}

/// The shape Salesforce insists on: something@domain.tld, no spaces.
fn valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !s.contains(char::is_whitespace)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
}

fn format_auto_number(fmt: &str, n: u64) -> String {
    let (Some(a), Some(b)) = (fmt.find('{'), fmt.find('}')) else {
        return format!("{fmt}{n}");
    };
    let width = b - a - 1;
    format!("{}{:0width$}{}", &fmt[..a], n, &fmt[b + 1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, serde_json::Value)]) -> Vec<(String, Raw)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Raw::Json(v.clone())))
            .collect()
    }

    #[test]
    fn insert_validates_like_an_org() {
        let mut org = Org::new("00D5g000000001AAA");
        let ctx = org.ctx(&org.admin_user_id.clone());
        let err = org
            .insert("Account", &raw(&[("Phone", "1".into())]), &ctx)
            .unwrap_err();
        assert_eq!(err.status_code, "REQUIRED_FIELD_MISSING");
        assert_eq!(err.fields, vec!["Name"]);
        let err = org
            .insert("Account", &raw(&[("Name", "x".repeat(256).into())]), &ctx)
            .unwrap_err();
        assert_eq!(err.status_code, "STRING_TOO_LONG");
        let err = org
            .insert(
                "Account",
                &raw(&[("Name", "a".into()), ("Region__c", "Mars".into())]),
                &ctx,
            )
            .unwrap_err();
        assert_eq!(err.status_code, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST");
        let err = org
            .insert(
                "Account",
                &raw(&[
                    ("Name", "a".into()),
                    ("CreatedDate", "2024-01-01T00:00:00Z".into()),
                ]),
                &ctx,
            )
            .unwrap_err();
        assert_eq!(err.status_code, "INVALID_FIELD_FOR_INSERT_UPDATE");
        let err = org
            .insert(
                "Account",
                &raw(&[("Name", "a".into()), ("Nope", 1.into())]),
                &ctx,
            )
            .unwrap_err();
        assert_eq!(err.status_code, "INVALID_FIELD");
        let id = org
            .insert(
                "Account",
                &raw(&[("Name", "Acme".into()), ("External_Id__c", "E1".into())]),
                &ctx,
            )
            .unwrap();
        let err = org
            .insert(
                "Account",
                &raw(&[("Name", "B".into()), ("External_Id__c", "e1".into())]),
                &ctx,
            )
            .unwrap_err();
        assert_eq!(err.status_code, "DUPLICATE_VALUE");
        let opp = raw(&[
            ("Name", "O".into()),
            ("StageName", "Prospecting".into()),
            ("CloseDate", "2024-05-01".into()),
            ("Amount", (-5).into()),
            ("AccountId", id.clone().into()),
        ]);
        let err = org.insert("Opportunity", &opp, &ctx).unwrap_err();
        assert_eq!(err.status_code, "FIELD_CUSTOM_VALIDATION_EXCEPTION");
        let missing = ids::make_id("001", 999);
        let c = raw(&[("LastName", "L".into()), ("AccountId", missing.into())]);
        assert_eq!(
            org.insert("Contact", &c, &ctx).unwrap_err().status_code,
            "INVALID_CROSS_REFERENCE_KEY"
        );
        let c = raw(&[
            ("LastName", "L".into()),
            ("FirstName", "F".into()),
            ("AccountId", id[..15].into()),
        ]);
        let cid = org.insert("Contact", &c, &ctx).unwrap();
        let (t, r) = org.find(&cid).unwrap();
        assert_eq!(r.get(t.slot("Name")), &Value::Str("F L".into()));
        assert_eq!(r.get(t.slot("AccountId")), &Value::Str(id.as_str().into()));
        // cascade delete into the recycle bin
        let ctx2 = org.ctx(&org.admin_user_id.clone());
        org.delete(Some("Account"), &id, &ctx2).unwrap();
        assert!(org.find(&cid).unwrap().1.deleted.is_some());
        assert_eq!(
            org.delete(None, &id, &ctx2).unwrap_err().status_code,
            "ENTITY_IS_DELETED"
        );
        assert_eq!(org.purge(None), 2);
    }

    #[test]
    fn stamps_are_whole_seconds_and_never_go_back() {
        let mut org = Org::new("00D5g000000001AAA");
        let a = org.next_stamp();
        let b = org.next_stamp();
        assert!(b >= a);
        assert_eq!(b.timestamp_subsec_nanos(), 0);
    }

    #[test]
    fn auto_numbers_format() {
        assert_eq!(format_auto_number("INV-{00000}", 42), "INV-00042");
        assert_eq!(format_auto_number("{00000000}", 1000), "00001000");
    }
}

#[cfg(test)]
mod more_tests {
    use super::*;

    fn raw(pairs: &[(&str, serde_json::Value)]) -> Vec<(String, Raw)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Raw::Json(v.clone())))
            .collect()
    }

    #[test]
    fn emails_numbers_and_checkboxes_are_checked() {
        let mut org = Org::new("00D5g000000001AAA");
        let ctx = org.ctx(&org.admin_user_id.clone());
        let e = org
            .insert(
                "Contact",
                &raw(&[("LastName", "L".into()), ("Email", "not-an-email".into())]),
                &ctx,
            )
            .unwrap_err();
        assert_eq!(e.status_code, "INVALID_EMAIL_ADDRESS");
        let e = org
            .insert(
                "Account",
                &raw(&[
                    ("Name", "A".into()),
                    ("NumberOfEmployees", 123_456_789.into()),
                ]),
                &ctx,
            )
            .unwrap_err();
        assert_eq!(e.status_code, "NUMBER_OUTSIDE_VALID_RANGE");
        let id = org
            .insert(
                "Contact",
                &raw(&[
                    ("LastName", "L".into()),
                    ("Email", "l@example.com".into()),
                    ("DoNotCall", serde_json::Value::Null),
                ]),
                &ctx,
            )
            .unwrap();
        let (t, r) = org.find(&id).unwrap();
        assert_eq!(r.get(t.slot("DoNotCall")), &Value::Bool(false));
    }
}
