//! Applying an object's change events to its rows, through the pull's write path (the
//! same conflict rule: a field whose local change is not pushed yet keeps its value; the
//! same echo suppression: the engine writes without creating change records).
//!
//! The events queued since the last tick are folded per record, in replay order: a CREATE
//! or UNDELETE carries the whole record, an UPDATE only the changed fields (laid over the
//! row as stored), a DELETE removes the row. A record the database does not hold cannot be
//! completed from an UPDATE: the object is pulled instead, as after a gap or an overflow.
//! An event that changes nothing in the row (the engine's own push coming back, most
//! often) writes nothing. The last event's replay id is stored in the same transaction as
//! the rows, beside the pull cursor ([`crate::targetdb::stream_key`]): a restart resumes
//! after it, and an event applied twice (after a crash between its write and the
//! position's, impossible here, or a redelivery) changes nothing the second time.
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::stream::OrgStream;
use super::worker::{Ctx, StepError};
use crate::mappings::StoredMapping;
use crate::salesforce::streaming::{ChangeEvent, ChangeType};
use crate::targetdb::{Cursor, DETACHED_STATE, Position, Row, RowKeys, Target, stream_key};

/// The most events one write applies (the rest wait for the worker's next round).
const MAX_EVENTS: usize = 2000;

/// What the events of one tick do to one record.
#[derive(Debug, Clone, PartialEq)]
enum Change {
    /// The whole record (a create or an undelete, perhaps updated since).
    Full(Map<String, Value>),
    /// Some fields of a record the database should hold.
    Partial(Map<String, Value>),
    Deleted,
}

/// The net change of each record, in the order records first appear, with the commit time
/// of its last event; and whether a gap or overflow event asks for a pull.
#[derive(Debug, Default, PartialEq)]
struct Folded {
    order: Vec<String>,
    changes: HashMap<String, (Change, Option<DateTime<Utc>>)>,
    gap: bool,
}

fn fold(events: &[ChangeEvent]) -> Folded {
    let mut out = Folded::default();
    for e in events {
        let values = match e.change_type {
            ChangeType::Gap | ChangeType::GapOverflow => {
                out.gap = true;
                continue;
            }
            ChangeType::Delete => Map::new(),
            _ => flatten(e),
        };
        // The row's stamp: the change's LastModifiedDate (whole seconds, never after its
        // SystemModstamp), so a pull of the same version still writes what events do not
        // carry (formula fields); none known (a delete): no stamp, the next pull writes.
        let at = e
            .fields
            .get("LastModifiedDate")
            .and_then(Value::as_str)
            .and_then(crate::targetdb::types::parse_datetime);
        for id in &e.record_ids {
            let next = match (e.change_type, out.changes.get(id).cloned()) {
                (ChangeType::Create | ChangeType::Undelete, _) => Change::Full(values.clone()),
                (ChangeType::Delete, _) => Change::Deleted,
                (_, Some((Change::Full(mut v), _))) => {
                    v.extend(values.clone());
                    Change::Full(v)
                }
                (_, Some((Change::Partial(mut v), _))) => {
                    v.extend(values.clone());
                    Change::Partial(v)
                }
                // An update of a deleted record: Salesforce sends an undelete first.
                (_, Some((Change::Deleted, _))) => Change::Deleted,
                (_, None) => Change::Partial(values.clone()),
            };
            let at = match (at, out.changes.get(id)) {
                (Some(a), _) => Some(a),
                (None, Some((_, earlier))) => *earlier,
                (None, None) => None,
            };
            if out.changes.insert(id.clone(), (next, at)).is_none() {
                out.order.push(id.clone());
            }
        }
    }
    out
}

/// An event's fields keyed as the object's fields are: compound fields' components
/// (`BillingAddress: {City}`, `Name: {LastName}`, `Place__c: {Latitude}`) under their own
/// names (`BillingCity`, `LastName`, `Place__Latitude__s`), nulled fields as null.
fn flatten(e: &ChangeEvent) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in &e.fields {
        match v {
            Value::Object(parts) => {
                for (sub, sv) in parts {
                    out.insert(component(k, sub), sv.clone());
                }
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    for nulled in &e.nulled_fields {
        let name = match nulled.split_once('.') {
            Some((parent, sub)) => component(parent, sub),
            None => nulled.clone(),
        };
        out.insert(name, Value::Null);
    }
    out
}

/// The field name of a compound field's component.
fn component(parent: &str, sub: &str) -> String {
    if let Some(prefix) = parent.strip_suffix("Address") {
        format!("{prefix}{sub}")
    } else if let Some(base) = parent.strip_suffix("__c") {
        format!("{base}__{sub}__s")
    } else {
        sub.to_owned()
    }
}

/// Only the mapped fields, keyed by the mapping's spelling.
fn mapped(m: &StoredMapping, values: &Map<String, Value>) -> Map<String, Value> {
    let names: HashMap<String, &str> = m
        .resolved
        .data_fields()
        .map(|f| (f.name.to_ascii_lowercase(), f.name.as_str()))
        .collect();
    values
        .iter()
        .filter_map(|(k, v)| {
            names
                .get(&k.to_ascii_lowercase())
                .map(|n| ((*n).to_owned(), v.clone()))
        })
        .collect()
}

/// Applies the object's queued events. Returns how many records they touched.
pub async fn apply(
    ctx: &Ctx<'_>,
    m: &StoredMapping,
    stream: &OrgStream,
    watch: &mut super::conflicts::Watch,
) -> Result<u64, StepError> {
    let object = &m.resolved.object;
    if super::stream::cannot_stream(m).is_some() {
        // A row filter came since these were received: the pull decides.
        drop(stream.take(object, usize::MAX));
        return Ok(0);
    }
    // A backlog goes in bounded transactions, one after another.
    let mut touched = 0;
    loop {
        let events = stream.take(object, MAX_EVENTS);
        let Some(last) = events.last() else {
            return Ok(touched);
        };
        let (channel, last_replay) = (last.channel.clone(), last.replay_id);
        match write(ctx, m, &events, watch).await {
            Ok((n, pull)) => {
                stream.applied(object, &channel, last_replay);
                if let Some(why) = pull {
                    stream.needs_pull(object, why);
                }
                tracing::debug!(
                    events = events.len(),
                    records = n,
                    replay_id = last_replay,
                    "applied change events"
                );
                touched += n;
            }
            Err(e) => {
                // Tried again next tick, from the same events.
                stream.untake(object, events);
                return Err(e);
            }
        }
    }
}

/// Writes the folded events and the stream position. Returns the records touched and,
/// when the object must be pulled, why (`Some(None)`: no need to say).
async fn write(
    ctx: &Ctx<'_>,
    m: &StoredMapping,
    events: &[ChangeEvent],
    watch: &mut super::conflicts::Watch,
) -> Result<(u64, Option<Option<String>>), StepError> {
    let object = &m.resolved.object;
    let Some(last) = events.last() else {
        return Ok((0, None));
    };
    let folded = fold(events);
    let mut pull = folded.gap.then(|| {
        Some(format!(
            "caught up by polling after Salesforce sent a gap or overflow event (replay id {})",
            last.replay_id
        ))
    });

    let (deleted, live): (Vec<String>, Vec<String>) = folded
        .order
        .iter()
        .cloned()
        .partition(|id| matches!(folded.changes.get(id), Some((Change::Deleted, _))));
    let stored: BTreeMap<String, crate::targetdb::StoredRow> = if live.is_empty() {
        BTreeMap::new()
    } else {
        ctx.target
            .fetch_rows(&m.resolved, RowKeys::Sfids(&live))
            .await?
            .into_iter()
            .filter_map(|r| r.sfid.clone().map(|s| (s, r)))
            .collect()
    };
    let mut rows = Vec::new();
    for id in &live {
        let Some((change, at)) = folded.changes.get(id) else {
            continue;
        };
        let values = match (change, stored.get(id)) {
            // Taken out of sync by a row filter change: left alone.
            (_, Some(row)) if row.state == DETACHED_STATE => continue,
            (Change::Full(v) | Change::Partial(v), Some(row)) => {
                let mut merged = row.values.clone();
                merged.extend(mapped(m, v));
                if merged == row.values {
                    continue; // nothing new (the engine's own push, as a rule)
                }
                merged
            }
            (Change::Full(v), None) => mapped(m, v),
            (Change::Partial(_), None) => {
                // Not in the database (not loaded yet, or its create was not seen): only
                // the whole record will do, and the pull reads it.
                pull.get_or_insert(None);
                continue;
            }
            (Change::Deleted, _) => continue,
        };
        rows.push(Row {
            sfid: id.clone(),
            systemmodstamp: *at,
            values,
        });
    }

    super::pull::remove_deleted(ctx, m, &deleted).await?;
    let key = stream_key(object);
    let position = Cursor {
        systemmodstamp: DateTime::from_timestamp_millis(last.commit_timestamp)
            .unwrap_or_else(Utc::now),
        last_id: last.replay_id.to_string(),
    };
    let report = ctx
        .target
        .upsert_rows_lenient(
            &m.resolved,
            &rows,
            Some(Position {
                key: &key,
                cursor: &position,
            }),
            super::pull::keeps_local(m),
        )
        .await?;
    watch.kept.extend(report.kept_local);
    super::pull::report_refused(ctx, m, &report.rejected);
    ctx.state
        .engine
        .recent()
        .wrote(ctx.org, object, &rows, &report.rejected);
    let status = ctx.state.engine.status();
    status.update(ctx.org, object, m.mapping.direction, |s| {
        s.pulled_total += report.written + deleted.len() as u64;
        s.last_sync_at = Some(Utc::now());
    });
    Ok((report.written + deleted.len() as u64, pull))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(replay: i64, t: ChangeType, ids: &[&str], fields: Value) -> ChangeEvent {
        ChangeEvent {
            channel: "/data/AccountChangeEvent".into(),
            replay_id: replay,
            entity: "Account".into(),
            record_ids: ids.iter().map(|s| (*s).to_owned()).collect(),
            change_type: t,
            changed_fields: vec![],
            nulled_fields: vec![],
            commit_user: "005".into(),
            change_origin: String::new(),
            commit_timestamp: 1_700_000_000_000 + replay,
            transaction_key: String::new(),
            sequence_number: 1,
            fields: fields.as_object().cloned().unwrap_or_default(),
        }
    }

    #[test]
    fn events_fold_into_one_change_per_record_in_order() {
        let events = [
            event(
                1,
                ChangeType::Create,
                &["A"],
                json!({"Name": "a", "Phone": "1"}),
            ),
            event(
                2,
                ChangeType::Update,
                &["A", "B"],
                json!({"Phone": "2", "LastModifiedDate": "2026-12-04T10:00:02.000Z"}),
            ),
            event(3, ChangeType::Delete, &["C"], json!({})),
            event(4, ChangeType::Update, &["C"], json!({"Phone": "3"})),
            event(5, ChangeType::Undelete, &["D"], json!({"Name": "d"})),
            event(6, ChangeType::Delete, &["D"], json!({})),
        ];
        let f = fold(&events);
        assert_eq!(f.order, ["A", "B", "C", "D"]);
        assert_eq!(
            f.changes["A"].0,
            Change::Full(
                json!({"Name": "a", "Phone": "2", "LastModifiedDate": "2026-12-04T10:00:02.000Z"})
                    .as_object()
                    .unwrap()
                    .clone()
            )
        );
        assert_eq!(
            f.changes["B"].0,
            Change::Partial(
                json!({"Phone": "2", "LastModifiedDate": "2026-12-04T10:00:02.000Z"})
                    .as_object()
                    .unwrap()
                    .clone()
            )
        );
        assert_eq!(f.changes["C"].0, Change::Deleted);
        assert_eq!(f.changes["D"].0, Change::Deleted);
        assert_eq!(
            f.changes["A"].1,
            crate::targetdb::types::parse_datetime("2026-12-04T10:00:02.000Z")
        );
        assert_eq!(f.changes["C"].1, None, "a delete carries no stamp");
        assert!(!f.gap);
        let gap = fold(&[event(7, ChangeType::GapOverflow, &[], json!({}))]);
        assert!(gap.gap && gap.order.is_empty());
    }

    #[test]
    fn compound_fields_flatten_to_their_components() {
        let mut e = event(
            1,
            ChangeType::Update,
            &["A"],
            json!({
                "BillingAddress": {"City": "Lyon", "Street": null},
                "Name": {"LastName": "Doe"},
                "Place__c": {"Latitude": 1.5},
                "Address": {"PostalCode": "69001"},
                "Phone": "1"
            }),
        );
        e.nulled_fields = vec!["ShippingAddress.Country".into(), "Fax".into()];
        let f = flatten(&e);
        let expected = json!({
            "BillingCity": "Lyon", "BillingStreet": null, "LastName": "Doe",
            "Place__Latitude__s": 1.5, "PostalCode": "69001", "Phone": "1",
            "ShippingCountry": null, "Fax": null
        });
        assert_eq!(Value::Object(f), expected);
    }
}
