//! Push: database → Salesforce. Claims the events the triggers recorded, coalesces them per
//! row, sends only changed fields through sObject Collections, writes new sfids back, and
//! stores per-record failures on the event and the row without holding up the others.
//!
//! No duplicates: a create whose outcome is unknown (a crash after sending, an answer lost
//! in transit) is never simply sent again. The mapping is flagged, and before its next
//! creates each record is looked up in Salesforce — created by the org's user, since shortly
//! before the change, with the same values — and adopted when found.
use std::collections::BTreeMap;

use chrono::Utc;
use datenator_shared::model::{FieldInfo, ObjectState};
use serde_json::{Map, Value};

use super::adopt::Lookup;
use super::conflicts::{PendingUpdate, Scope, Watch};
use super::worker::{Ctx, StepError};
use crate::mappings::StoredMapping;
use crate::salesforce::SalesforceError;
use crate::salesforce::rest::RecordResult;
use crate::targetdb::{Event, EventOp, Target};

/// What one push round did.
pub struct PushOutcome {
    /// False when some create's outcome is unknown: the next round must resolve first.
    pub clean: bool,
    /// Creates were sent (and marked in doubt in the state store before they went).
    pub sent_creates: bool,
}

/// Salesforce's winning values of a record's fields, and the database values they beat.
type Won = (Map<String, Value>, Map<String, Value>);

/// A row to create: its local key, its events (in order), when the first was made.
struct PendingCreate<'e> {
    row_id: i64,
    events: Vec<&'e Event>,
    since: chrono::DateTime<Utc>,
}

/// The update that carries `evs`' changes (`values`) to record `sfid`, with what conflict
/// detection needs; `None` when no field of it may be written.
fn update_for(
    sfid: String,
    ids: Vec<i64>,
    evs: &[&Event],
    all: &[&Event],
    values: &Map<String, Value>,
    fields: &[FieldInfo],
) -> Option<PendingUpdate> {
    let mut record = writable(values, fields, false);
    if record.is_empty() {
        return None;
    }
    record.insert("Id".into(), Value::from(sfid));
    let mut base = Map::new();
    let mut changed_at = std::collections::HashMap::new();
    for e in evs {
        for (k, v) in &e.old_values {
            base.entry(k.clone()).or_insert_with(|| v.clone());
        }
        for k in &e.changed {
            changed_at.insert(k.clone(), e.created_at);
        }
    }
    let mut ours: std::collections::HashMap<String, Vec<Value>> = Default::default();
    for e in all {
        for (k, v) in &e.new_values {
            ours.entry(k.clone()).or_default().push(v.clone());
        }
    }
    Some(PendingUpdate {
        events: ids,
        record,
        base,
        changed_at,
        ours,
    })
}

/// A row whose create turned out to have reached Salesforce as `sfid`: the changes made
/// after the insert (their fields, with the row's current values) still go to the record,
/// as an update that finishes all of the row's events. `None`: nothing changed after it.
fn changes_after_create(
    sfid: &str,
    evs: &[&Event],
    row: &Map<String, Value>,
    fields: &[FieldInfo],
) -> Option<PendingUpdate> {
    let later: Vec<&Event> = evs
        .iter()
        .filter(|e| e.op != EventOp::Insert)
        .copied()
        .collect();
    let values: Map<String, Value> = later
        .iter()
        .flat_map(|e| e.changed.iter())
        .filter_map(|k| Some((k.clone(), row.get(k)?.clone())))
        .collect();
    let ids = evs.iter().map(|e| e.id).collect();
    update_for(sfid.to_owned(), ids, &later, evs, &values, fields)
}

/// The values an earlier send of this create certainly carried: what the insert set and no
/// later change touched (the send read the row at some moment in between).
fn certainly_sent(evs: &[&Event], fields: &[FieldInfo]) -> Map<String, Value> {
    let touched: std::collections::HashSet<&str> = evs
        .iter()
        .filter(|e| e.op == EventOp::Update)
        .flat_map(|e| e.changed.iter().map(String::as_str))
        .collect();
    let inserted: Map<String, Value> = evs
        .iter()
        .filter(|e| e.op == EventOp::Insert)
        .flat_map(|e| e.new_values.iter())
        .filter(|(k, _)| !touched.contains(k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    writable(&inserted, fields, true)
}

/// The record an earlier send of `c` made, if any.
async fn find_earlier_create(
    ctx: &Ctx<'_>,
    lookup: &mut Lookup,
    mapping: &crate::targetdb::ObjectMapping,
    c: &PendingCreate<'_>,
    fields: &[FieldInfo],
) -> Result<Option<String>, StepError> {
    let probe = certainly_sent(&c.events, fields);
    // Without a single value to compare, any recent record would match: resend.
    if probe.is_empty() {
        return Ok(None);
    }
    lookup.find(ctx, mapping, &probe, c.since, fields).await
}

/// The net change of one row over its pending events.
#[derive(Debug, PartialEq)]
enum Net {
    Create {
        row_id: i64,
        values: Map<String, Value>,
    },
    Update {
        sfid: String,
        values: Map<String, Value>,
    },
    Delete {
        sfid: String,
    },
    /// Inserted and deleted before it was ever pushed.
    Nothing,
}

/// Coalesces one row's events (in id order) into the change to send.
fn coalesce(events: &[&Event]) -> Net {
    let row_id = events[0].row_id;
    let sfid = events.iter().rev().find_map(|e| e.sfid.clone());
    if events.iter().any(|e| e.op == EventOp::Delete) {
        return match sfid {
            Some(sfid) => Net::Delete { sfid },
            None => Net::Nothing,
        };
    }
    let mut values = Map::new();
    for e in events {
        for (k, v) in &e.new_values {
            values.insert(k.clone(), v.clone());
        }
    }
    match sfid {
        Some(sfid) => Net::Update { sfid, values },
        None => Net::Create { row_id, values },
    }
}

/// Keeps the fields Salesforce lets us write for this operation. A create leaves out what
/// the row leaves NULL: Salesforce then applies the field's default (an explicit null
/// would erase it), and a lookup of the create compares only what was sent.
fn writable(values: &Map<String, Value>, fields: &[FieldInfo], create: bool) -> Map<String, Value> {
    values
        .iter()
        .filter(|(_, v)| !(create && v.is_null()))
        .filter(|(k, _)| {
            fields.iter().any(|f| {
                f.name.eq_ignore_ascii_case(k)
                    && f.name != "Id"
                    && !f.calculated
                    && if create { f.createable } else { f.updateable }
            })
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A per-record refusal that says "try again later" (a record lock held by another
/// transaction): the record was not written and goes back to the queue, not to the failures.
fn retry_later(r: &RecordResult) -> bool {
    let locked = r.errors.iter().any(|e| {
        e.error_code == "UNABLE_TO_LOCK_ROW" || e.error_code == super::push_bulk::UNPROCESSED
    });
    if locked {
        tracing::debug!(id = ?r.id, "record locked in Salesforce; sent again next round");
    }
    locked
}

/// The record is in the recycle bin (or gone): nothing to update any more.
fn deleted_in_salesforce(r: &RecordResult) -> bool {
    r.errors.iter().any(|e| e.error_code == "ENTITY_IS_DELETED")
}

fn error_text(r: &RecordResult) -> String {
    let text: Vec<String> = r.errors.iter().map(ToString::to_string).collect();
    if text.is_empty() {
        "Salesforce refused the record".into()
    } else {
        text.join("; ")
    }
}

/// At worker start: events claimed before a stop go back to the queue. Returns how many.
pub async fn recover(ctx: &Ctx<'_>, m: &StoredMapping) -> Result<u64, StepError> {
    Ok(ctx.target.requeue_claimed(&m.resolved).await?)
}

/// One push round of the object's queued changes. `watch` and `seen` (what the object's
/// last poll could see) say which records the conflict check must read.
pub async fn run(
    ctx: &Ctx<'_>,
    m: &StoredMapping,
    resolve_creates: bool,
    watch: &mut Watch,
    seen: Option<super::pull::Seen>,
) -> Result<PushOutcome, StepError> {
    let batch = ctx.state.engine.config.push_batch;
    let has_failed = ctx
        .state
        .engine
        .status()
        .get(ctx.org, &m.mapping.object)
        .is_some_and(|s| s.failed_records > 0);
    if resolve_creates {
        // A round cut short left its events claimed — the mark that survives a stop that
        // some create's outcome is unknown. They go out again now, after a lookup.
        ctx.target.requeue_claimed(&m.resolved).await?;
    }
    let mut events = ctx.target.claim_events(&m.resolved, batch).await?;
    if has_failed && super::failures::requeue_changed_again(ctx, m, &events).await? {
        // The rows' failed changes are queued again: claim once more, so each row's
        // changes go out together and in order.
        ctx.target.requeue_claimed(&m.resolved).await?;
        events = ctx.target.claim_events(&m.resolved, batch).await?;
    }
    if events.is_empty() {
        // Nothing queued: no change a pull kept local — before the start or since — is
        // left to check.
        watch.complete = true;
        watch.kept.clear();
        ctx.state
            .engine
            .status()
            .update(ctx.org, &m.mapping.object, m.mapping.direction, |s| {
                s.push_lag_secs = Some(0.0);
                s.pending_events = 0;
            });
        return Ok(PushOutcome {
            clean: true,
            sent_creates: false,
        });
    }
    let oldest = events
        .iter()
        .map(|e| e.created_at)
        .min()
        .unwrap_or_else(Utc::now);
    ctx.state
        .engine
        .status()
        .update(ctx.org, &m.mapping.object, m.mapping.direction, |s| {
            s.state = ObjectState::Pushing;
            s.pending_events = events.len() as u64;
            s.push_lag_secs = Some((Utc::now() - oldest).num_milliseconds().max(0) as f64 / 1000.0);
        });
    let complete = watch.complete;
    match push_events(ctx, m, &events, resolve_creates, watch, seen).await {
        Ok(outcome) => {
            if !complete && events.len() < batch {
                // Every queued change was read in full: from now on the pulls' reports
                // are the whole story.
                watch.complete = true;
            }
            if has_failed {
                super::failures::publish_failed_count(ctx.state, ctx.org, m, ctx.target).await;
            }
            Ok(outcome)
        }
        // Nothing of this round is lost: its unfinished events stay claimed. The worker
        // flags the object, and the next round — or, after a stop, the next start — puts
        // them back and looks their creates up first: one may have reached Salesforce.
        // (Requeued here, a stop before that round would forget the create was sent.)
        Err(e) => Err(e),
    }
}

/// What one push round does with its claimed events, decided from the events alone (no
/// I/O): per row, the net change — a create, an update (only the fields Salesforce lets
/// us write), a delete — or nothing to send.
struct RoundPlan<'e> {
    creates: Vec<PendingCreate<'e>>,
    updates: Vec<PendingUpdate>,
    /// (the events, the record's sfid).
    deletes: Vec<(Vec<i64>, String)>,
    /// Rows inserted and deleted again, whose create may have reached Salesforce (only when
    /// an earlier send's outcome is unknown): looked up, and their record deleted if found.
    orphans: Vec<PendingCreate<'e>>,
    /// Events with nothing to send: done as they are.
    done: Vec<i64>,
}

fn plan_round<'e>(
    events: &'e [Event],
    resolve_creates: bool,
    fields: &[FieldInfo],
) -> RoundPlan<'e> {
    let mut by_row: BTreeMap<i64, Vec<&Event>> = BTreeMap::new();
    for e in events {
        by_row.entry(e.row_id).or_default().push(e);
    }
    let mut plan = RoundPlan {
        creates: Vec::new(),
        updates: Vec::new(),
        deletes: Vec::new(),
        orphans: Vec::new(),
        done: Vec::new(),
    };
    for (_, evs) in by_row {
        let ids: Vec<i64> = evs.iter().map(|e| e.id).collect();
        let since = evs
            .iter()
            .map(|e| e.created_at)
            .min()
            .unwrap_or_else(Utc::now);
        match coalesce(&evs) {
            Net::Create { row_id, .. } => plan.creates.push(PendingCreate {
                row_id,
                events: evs,
                since,
            }),
            Net::Update { sfid, values } => {
                match update_for(sfid, ids.clone(), &evs, &evs, &values, fields) {
                    Some(u) => plan.updates.push(u),
                    None => plan.done.extend(ids),
                }
            }
            Net::Delete { sfid } => plan.deletes.push((ids, sfid)),
            // Never pushed — unless an earlier send's outcome is unknown.
            Net::Nothing if resolve_creates && evs.iter().any(|e| e.op == EventOp::Insert) => {
                let row_id = evs.first().map_or(0, |e| e.row_id);
                plan.orphans.push(PendingCreate {
                    row_id,
                    events: evs,
                    since,
                })
            }
            Net::Nothing => plan.done.extend(ids),
        }
    }
    plan
}

async fn push_events(
    ctx: &Ctx<'_>,
    m: &StoredMapping,
    events: &[Event],
    resolve_creates: bool,
    watch: &mut Watch,
    seen: Option<super::pull::Seen>,
) -> Result<PushOutcome, StepError> {
    let object = &m.resolved.object;
    // A full round may be the start of a large push: Bulk takes more at once.
    let more = super::push_bulk::claim_more(ctx, m, events).await?;
    let events = more.as_deref().unwrap_or(events);
    // Rows detached from the row filter send nothing.
    let kept = super::reload::skip_detached(ctx, m, events).await?;
    let events = kept.as_deref().unwrap_or(events);
    let fields = crate::orgs::metadata::fields(ctx.state, ctx.org, object).await?;
    let RoundPlan {
        creates,
        mut updates,
        mut deletes,
        mut orphans,
        mut done,
    } = plan_round(events, resolve_creates, &fields);
    let mut pushed = 0u64;
    let mut failed = 0u64;
    let mut sent_creates = false;
    let mut unresolved = false;

    // Creates. The row itself is the truth: it may have got its sfid already (written back
    // just before a stop) or have changed since the events; each is looked up first when an
    // earlier outcome is unknown.
    if !creates.is_empty() || !orphans.is_empty() {
        let row_ids: Vec<i64> = creates.iter().map(|c| c.row_id).collect();
        let rows: BTreeMap<i64, crate::targetdb::StoredRow> = ctx
            .target
            .fetch_rows(&m.resolved, crate::targetdb::RowKeys::Ids(&row_ids))
            .await?
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        let mut to_send = Vec::new();
        // Rows with an external id go through an upsert on it: sending one twice finds the
        // record the first send made, so an unknown outcome needs no lookup.
        let external = external_id_field(m, &fields);
        let mut to_upsert = Vec::new();
        let mut lookup = None;
        // While the last send of unknown outcome is recent, creates not found are held back.
        let mut doubt_left = None;
        let mut waiting = false;
        if resolve_creates {
            let overlap =
                chrono::Duration::from_std(ctx.state.engine.config.overlap).unwrap_or_default();
            let store_err = |e| StepError::Daemon(crate::error::store_error(e));
            let since = match ctx
                .state
                .store
                .creates_in_doubt_since(ctx.org, object)
                .await
                .map_err(store_err)?
            {
                Some(since) => since,
                None => {
                    // No mark yet (events claimed by an older version): the window starts now.
                    ctx.state
                        .store
                        .mark_creates_in_doubt(ctx.org, object)
                        .await
                        .map_err(store_err)?;
                    Utc::now()
                }
            };
            let left = since + overlap - Utc::now();
            doubt_left = (left > chrono::Duration::zero()).then_some(left);
            // Bulk jobs still running would create records after the lookups below.
            super::push_bulk::settle_jobs(ctx, object).await?;
            let since = creates.iter().chain(&orphans).map(|c| c.since).min();
            let n = creates.len() + orphans.len();
            let mut l = Lookup::new(ctx, object, &fields, n, since).await?;
            l.expect(
                creates
                    .iter()
                    .chain(&orphans)
                    .map(|c| certainly_sent(&c.events, &fields))
                    .collect(),
            );
            lookup = Some(l);
        }
        for c in creates {
            let ids: Vec<i64> = c.events.iter().map(|e| e.id).collect();
            let Some(row) = rows.get(&c.row_id) else {
                // Deleted locally since: its delete is queued. If an earlier send may have
                // created the record, it is found and deleted now (that delete has no sfid).
                orphans.push(c);
                continue;
            };
            if let Some(sfid) = &row.sfid {
                // Created already (the answer was written back just before a stop): what
                // changed after the insert still goes to the record.
                match changes_after_create(sfid, &c.events, &row.values, &fields) {
                    Some(u) => updates.push(u),
                    None => done.extend(ids),
                }
                continue;
            }
            let values = writable(&row.values, &fields, true);
            if let Some(ext) = &external
                && values.get(ext).is_some_and(|v| !v.is_null())
            {
                to_upsert.push((c.row_id, ids, values));
                continue;
            }
            if let Some(lookup) = &mut lookup
                && let Some(existing) =
                    find_earlier_create(ctx, lookup, &m.resolved, &c, &fields).await?
            {
                tracing::info!(sfid = %existing, row = c.row_id, "found the record an earlier create made; adopting it");
                ctx.target
                    .write_back_sfid(&m.resolved, c.row_id, &existing)
                    .await?;
                if lookup.deleted.contains(&existing) {
                    // Deleted in Salesforce since: the deletion wins, the row goes with it.
                    tracing::info!(sfid = %existing, "the adopted record was deleted in Salesforce meanwhile; removing its row");
                    ctx.target.delete_rows(&m.resolved, &[existing]).await?;
                    continue;
                }
                // The record has the values of that send; later changes still go to it.
                match changes_after_create(&existing, &c.events, &row.values, &fields) {
                    Some(u) => updates.push(u),
                    None => ctx.target.mark_events_done(&m.resolved, &ids).await?,
                }
                pushed += 1;
                continue;
            }
            if let Some(wait) = doubt_left {
                // Not found — yet: a create whose answer was lost may still commit, or become
                // visible, a little later. It is sent again only once that window has passed.
                tracing::debug!(
                    row = c.row_id,
                    ?wait,
                    "a create of unknown outcome not found yet; looked up again before it is resent"
                );
                waiting = true;
                continue;
            }
            to_send.push((c.row_id, ids, values));
        }
        for c in orphans {
            let ids: Vec<i64> = c.events.iter().map(|e| e.id).collect();
            let found = match &mut lookup {
                Some(lookup) => find_earlier_create(ctx, lookup, &m.resolved, &c, &fields).await?,
                None => None,
            };
            match found {
                Some(sfid) if lookup.as_ref().is_some_and(|l| l.deleted.contains(&sfid)) => {
                    done.extend(ids); // deleted on both sides already
                }
                Some(sfid) => {
                    tracing::info!(%sfid, row = c.row_id, "a row deleted while its create's outcome was unknown had reached Salesforce; deleting the record");
                    deletes.push((ids, sfid));
                }
                None => done.extend(ids),
            }
        }
        if waiting {
            // Held-back creates keep their events claimed (see `run`): the next round looks
            // them up again.
            unresolved = true;
        }
        if let (Some(ext), false) = (&external, to_upsert.is_empty()) {
            let records: Vec<Map<String, Value>> = to_upsert.iter().map(|c| c.2.clone()).collect();
            let results = ctx.api.upsert_records(object, ext, &records).await?;
            let (p, f) = created(ctx, m, &to_upsert, results).await?;
            (pushed, failed) = (pushed + p, failed + f);
        }
        if !to_send.is_empty() {
            // Durably, before they go: a stop from here on leaves the object's creates to be
            // looked up at the next start, whatever the events' state then.
            ctx.state
                .store
                .mark_creates_in_doubt(ctx.org, object)
                .await
                .map_err(|e| StepError::Daemon(crate::error::store_error(e)))?;
            sent_creates = true;
            let records: Vec<Map<String, Value>> = to_send.iter().map(|c| c.2.clone()).collect();
            match super::push_bulk::create_records(ctx, object, &records).await {
                Ok(results) => {
                    let (p, f) = created(ctx, m, &to_send, results).await?;
                    (pushed, failed) = (pushed + p, failed + f);
                }
                Err(SalesforceError::OutcomeUnknown(why)) => {
                    tracing::warn!(
                        "a create's outcome is unknown ({why}); its records will be looked up before any resend"
                    );
                    // Left claimed (see `run`): requeued by the next round, after a stop too.
                    return Ok(PushOutcome {
                        clean: false,
                        sent_creates,
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    // Fields changed on both sides: the mapping's policy decides (bidirectional only).
    if m.mapping.direction == datenator_shared::model::Direction::Bidirectional {
        // Only records Salesforce may have changed since the pulls last saw them are read
        // (see `conflicts`), once every queued change since the start has been read.
        let cursor = match watch.complete && !updates.is_empty() {
            true => ctx.target.cursor(object).await?,
            false => None,
        };
        let scope = match &cursor {
            Some(c) => Scope::Since {
                unseen: super::pull::unseen_condition(ctx, c, seen),
                kept: &watch.kept,
                too_wide: &mut watch.too_wide,
            },
            None => Scope::All,
        };
        let settled = super::conflicts::settle(ctx, m, &mut updates, scope).await?;
        // Checked: what a pull kept local of these records is settled.
        for u in &updates {
            if let Some(id) = u.record.get("Id").and_then(Value::as_str) {
                watch.kept.remove(id);
            }
        }
        // Where Salesforce won, its value goes into the row (a pull kept the local one).
        // Only while the row still holds the value that lost: a newer local change stays.
        let mut won: BTreeMap<&str, Won> = BTreeMap::new();
        for c in settled.iter().filter(|c| c.winner == "salesforce") {
            let (values, lost) = won.entry(c.sfid.as_str()).or_default();
            values.insert(c.field.clone(), c.sf_value.clone());
            lost.insert(c.field.clone(), c.db_value.clone());
        }
        for (sfid, (values, lost)) in &won {
            ctx.target
                .write_fields(&m.resolved, sfid, values, lost)
                .await?;
        }
        if !settled.is_empty() {
            ctx.state.engine.status().update(ctx.org, object, m.mapping.direction, |s| {
                s.last_error = Some(format!("{} field conflict(s) settled by the mapping's policy (see the conflict log)", settled.len()));
            });
        }
        let (nothing_left, rest): (Vec<PendingUpdate>, Vec<PendingUpdate>) =
            updates.into_iter().partition(|u| u.record.len() <= 1);
        for u in nothing_left {
            done.extend(&u.events);
        }
        updates = rest;
    }
    if !updates.is_empty() {
        let mut refused = Refused::default();
        let records: Vec<Map<String, Value>> = updates.iter().map(|u| u.record.clone()).collect();
        let results = super::push_bulk::update_records(ctx, object, &records).await?;
        for (u, r) in updates.iter().zip(results) {
            if r.success {
                done.extend(&u.events);
                pushed += 1;
            } else if deleted_in_salesforce(&r) {
                // A deletion wins over a concurrent change: the next pull removes the row.
                tracing::info!(id = ?r.id, "an update's record was deleted in Salesforce meanwhile; the deletion wins");
                done.extend(&u.events);
            } else if retry_later(&r) {
                // Left claimed: requeued below and sent again next round.
            } else {
                refused.add(&u.events, error_text(&r));
                failed += 1;
            }
        }
        refused.store(ctx, m).await?;
    }

    if !deletes.is_empty() {
        let ids: Vec<String> = deletes.iter().map(|d| d.1.clone()).collect();
        let results = super::push_bulk::delete_records(ctx, object, &ids).await?;
        let mut refused = Refused::default();
        for (d, r) in deletes.iter().zip(results) {
            let gone = r.errors.iter().any(|e| {
                matches!(
                    e.error_code.as_str(),
                    "ENTITY_IS_DELETED" | "INVALID_CROSS_REFERENCE_KEY"
                )
            });
            if r.success || gone {
                done.extend(&d.0);
                pushed += 1;
            } else if !retry_later(&r) {
                refused.add(&d.0, error_text(&r));
                failed += 1;
            }
        }
        refused.store(ctx, m).await?;
    }

    // The round's sent and settled events are marked done in one statement. (A stop
    // before it leaves them claimed: the next round sends those updates and deletes again,
    // which Salesforce takes the same way twice.)
    if !done.is_empty() {
        ctx.target.mark_events_done(&m.resolved, &done).await?;
    }
    // Lock errors left some events claimed: put them back for the next round.
    ctx.target.requeue_claimed(&m.resolved).await?;
    ctx.state
        .engine
        .status()
        .update(ctx.org, object, m.mapping.direction, |s| {
            s.pushed_total += pushed;
            s.pending_events = 0;
            s.last_sync_at = Some(Utc::now());
        });
    if failed > 0 {
        super::failures::publish_failed_count(ctx.state, ctx.org, m, ctx.target).await;
    }
    Ok(PushOutcome {
        clean: !unresolved,
        sent_creates,
    })
}

/// The mapped external-id field creates can upsert on, if the mapping has one.
fn external_id_field(m: &StoredMapping, fields: &[FieldInfo]) -> Option<String> {
    m.mapping.fields.iter().find_map(|name| {
        fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name) && f.external_id && f.createable)
            .map(|f| f.name.clone())
    })
}

/// Applies the answers to sent creates (or upserts): sfids written back, refusals stored,
/// locked records left for the next round. Returns (pushed, failed).
async fn created(
    ctx: &Ctx<'_>,
    m: &StoredMapping,
    sent: &[(i64, Vec<i64>, Map<String, Value>)],
    results: Vec<RecordResult>,
) -> Result<(u64, u64), StepError> {
    let (mut pushed, mut failed) = (0, 0);
    let mut written: Vec<(i64, String)> = Vec::new();
    let mut done: Vec<i64> = Vec::new();
    let mut refused = Refused::default();
    for ((row_id, events, _), r) in sent.iter().zip(results) {
        match (&r.id, r.success) {
            (Some(id), true) => {
                written.push((*row_id, id.clone()));
                done.extend(events);
                pushed += 1;
            }
            // Left claimed: requeued at the end of the round and sent again next round.
            _ if retry_later(&r) => {}
            _ => {
                refused.add(events, error_text(&r));
                failed += 1;
            }
        }
    }
    // The sfids in one transaction, then their events done in one statement: a stop
    // between the two leaves the events claimed, and the next round finds each row's sfid
    // (see `push_events`).
    let written: Vec<(i64, &str)> = written
        .iter()
        .map(|(row, sfid)| (*row, sfid.as_str()))
        .collect();
    ctx.target.write_back_sfids(&m.resolved, &written).await?;
    if !done.is_empty() {
        ctx.target.mark_events_done(&m.resolved, &done).await?;
    }
    refused.store(ctx, m).await?;
    Ok((pushed, failed))
}

/// The events of records Salesforce refused, gathered while a batch's answers are read and
/// then marked failed together, in one transaction.
#[derive(Default)]
struct Refused(Vec<(i64, String)>);

impl Refused {
    fn add(&mut self, ids: &[i64], error: String) {
        tracing::info!(events = ?ids, "record refused by Salesforce: {error}");
        self.0.extend(ids.iter().map(|id| (*id, error.clone())));
    }

    async fn store(self, ctx: &Ctx<'_>, m: &StoredMapping) -> Result<(), StepError> {
        if self.0.is_empty() {
            return Ok(());
        }
        let failed: Vec<(i64, &str)> = self.0.iter().map(|(id, e)| (*id, e.as_str())).collect();
        ctx.target.mark_events_failed(&m.resolved, &failed).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: i64, op: EventOp, sfid: Option<&str>, new: &[(&str, Value)]) -> Event {
        Event {
            id,
            op,
            row_id: 7,
            sfid: sfid.map(str::to_owned),
            changed: new.iter().map(|(k, _)| k.to_string()).collect(),
            old_values: Map::new(),
            new_values: new
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            db_user: "app".into(),
            created_at: Utc::now(),
        }
    }

    #[test]
    fn a_create_leaves_out_what_the_row_leaves_null() {
        let fields = [field("Name"), field("Rating__c")];
        let mut values = Map::new();
        values.insert("Name".into(), "Acme".into());
        values.insert("Rating__c".into(), Value::Null);
        let create = writable(&values, &fields, true);
        assert_eq!(create.len(), 1, "{create:?}");
        assert!(create.contains_key("Name"));
        // An update sends the null: the user cleared the field.
        assert_eq!(writable(&values, &fields, false).len(), 2);
    }

    #[test]
    fn coalescing_per_row() {
        let a = ev(
            1,
            EventOp::Insert,
            None,
            &[("Name", "a".into()), ("Phone", "1".into())],
        );
        let b = ev(2, EventOp::Update, None, &[("Phone", "2".into())]);
        match coalesce(&[&a, &b]) {
            Net::Create { values, .. } => {
                assert_eq!(values["Phone"], "2");
                assert_eq!(values["Name"], "a");
            }
            other => panic!("{other:?}"),
        }
        let d = ev(3, EventOp::Delete, None, &[]);
        assert_eq!(
            coalesce(&[&a, &d]),
            Net::Nothing,
            "never pushed, nothing to delete"
        );
        let u = ev(
            4,
            EventOp::Update,
            Some("001000000000001AAA"),
            &[("Phone", "3".into())],
        );
        assert!(matches!(coalesce(&[&u]), Net::Update { .. }));
        let d2 = ev(5, EventOp::Delete, Some("001000000000001AAA"), &[]);
        assert_eq!(
            coalesce(&[&u, &d2]),
            Net::Delete {
                sfid: "001000000000001AAA".into()
            }
        );
    }

    fn field(name: &str) -> FieldInfo {
        FieldInfo {
            name: name.into(),
            label: name.into(),
            field_type: "string".into(),
            length: Some(80),
            precision: None,
            scale: None,
            nillable: true,
            createable: true,
            updateable: true,
            defaulted_on_create: false,
            external_id: false,
            custom: false,
            calculated: false,
            reference_to: Vec::new(),
        }
    }

    /// Insert (Name, Phone), then Phone changed twice while the create was in flight.
    fn insert_then_updates() -> (Vec<Event>, Vec<FieldInfo>) {
        let mut u1 = ev(2, EventOp::Update, None, &[("Phone", "p2".into())]);
        u1.old_values.insert("Phone".into(), "p1".into());
        let mut u2 = ev(3, EventOp::Update, None, &[("Phone", "p3".into())]);
        u2.old_values.insert("Phone".into(), "p2".into());
        let events = vec![
            ev(
                1,
                EventOp::Insert,
                None,
                &[("Name", "n".into()), ("Phone", "p1".into())],
            ),
            u1,
            u2,
        ];
        (events, vec![field("Name"), field("Phone")])
    }

    #[test]
    fn a_lookup_compares_only_what_a_send_certainly_carried() {
        let (events, fields) = insert_then_updates();
        let refs: Vec<&Event> = events.iter().collect();
        // Phone changed after the insert: an earlier send may have had p1, p2 or p3.
        let probe = certainly_sent(&refs, &fields);
        assert_eq!(probe.len(), 1);
        assert_eq!(probe["Name"], "n");
    }

    #[test]
    fn changes_after_a_create_still_go_to_the_record() {
        let (events, fields) = insert_then_updates();
        let refs: Vec<&Event> = events.iter().collect();
        let mut row = Map::new();
        row.insert("Name".into(), "n".into());
        row.insert("Phone".into(), "p3".into());
        let u = changes_after_create("001000000000001AAA", &refs, &row, &fields)
            .expect("the updates are sent");
        assert_eq!(u.record["Id"], "001000000000001AAA");
        assert_eq!(u.record["Phone"], "p3", "the row's current value");
        assert!(!u.record.contains_key("Name"), "unchanged since the insert");
        assert_eq!(u.events, vec![1, 2, 3], "finishes the insert's event too");
        assert_eq!(u.base["Phone"], "p1");
        // Any value this row's changes set may be in Salesforce from an earlier send.
        let ours: Vec<&str> = u.ours["Phone"].iter().filter_map(Value::as_str).collect();
        assert_eq!(ours, ["p1", "p2", "p3"]);
        // Only the insert: nothing to send after it.
        assert!(changes_after_create("001000000000001AAA", &refs[..1], &row, &fields).is_none());
    }

    #[test]
    fn a_round_is_planned_per_row_from_its_events() {
        let on = |row_id: i64, e: Event| Event { row_id, ..e };
        let name = |v: &str| vec![("Name", serde_json::json!(v))];
        let events = vec![
            on(1, ev(1, EventOp::Insert, None, &name("new"))),
            on(2, ev(2, EventOp::Update, Some("001A"), &name("renamed"))),
            on(3, ev(3, EventOp::Insert, None, &name("gone again"))),
            on(3, ev(4, EventOp::Delete, None, &[])),
            on(4, ev(5, EventOp::Delete, Some("001B"), &[])),
        ];
        let fields = vec![field("Name")];
        let plan = plan_round(&events, false, &fields);
        assert_eq!(
            plan.creates.iter().map(|c| c.row_id).collect::<Vec<_>>(),
            vec![1]
        );
        assert_eq!(plan.updates.len(), 1);
        assert_eq!(plan.deletes, vec![(vec![5], "001B".to_owned())]);
        assert!(plan.orphans.is_empty());
        assert_eq!(
            plan.done,
            vec![3, 4],
            "inserted and deleted again: nothing to send"
        );
        // An earlier send of unknown outcome: that row is looked up instead.
        let plan = plan_round(&events, true, &fields);
        assert_eq!(
            plan.orphans.iter().map(|c| c.row_id).collect::<Vec<_>>(),
            vec![3]
        );
        assert!(plan.done.is_empty());
    }
}
