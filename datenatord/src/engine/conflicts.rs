//! Conflicts: a field changed in the database and in Salesforce since the last sync. Before
//! a bidirectional mapping pushes updates (unless the database always wins), the current
//! Salesforce values of the records that may have changed there are read, and each field
//! changed on both sides is settled by the mapping's policy and written to the conflict log.
//! Fields changed on one side only merge: the push sends the database's, the next pull
//! brings Salesforce's.
//!
//! Which records may have changed in Salesforce is what the pulls know ([`Watch`]): every
//! change stamped before the last poll's late-change window was applied to the row — so
//! the change's base value is Salesforce's — except fields a pull kept local because their
//! own change was pending; those records are remembered. So a round reads, in one query,
//! the records Salesforce changed since that window, plus the remembered ones by id:
//! usually one call however many updates go out. After a start (what earlier pulls kept
//! is not remembered across one) or a first load, the round reads every pushed record by
//! id instead — a call per 1,000 — as it does when the changes since the window would take
//! more calls than that.
use chrono::{DateTime, Utc};
use datenator_shared::model::{ConflictPolicy, ConflictRecord};
use serde_json::{Map, Value};

use std::collections::{HashMap, HashSet};

use super::worker::{Ctx, StepError};
use crate::mappings::StoredMapping;
use crate::salesforce::Api;
use crate::salesforce::rest::{QueryPage, SubRequest, check_id, encode};

/// What a worker's pulls of one object tell its pushes about Salesforce's changes.
#[derive(Debug, Default)]
pub struct Watch {
    /// Every pull since the worker started was incremental and reported the records it
    /// kept local: the changes that can conflict are the recent ones plus `kept`. False at
    /// first (a start forgets what pulls before it kept) and after a first load.
    pub complete: bool,
    /// Records a pull wrote without Salesforce's value of some field, whose local change
    /// was pending: Salesforce may have changed that field too.
    pub kept: HashSet<String>,
    /// The unseen-records condition last found to hold more records than reading the
    /// round's records by id costs: while it stays the same (the cursor has not moved),
    /// rounds read by id at once instead of paying a page to find that out again.
    pub too_wide: Option<String>,
}

/// Which records a round's conflict check reads.
pub enum Scope<'a> {
    /// Every pushed record, by id.
    All,
    /// The records Salesforce changed since the pulls last saw them — those the next
    /// incremental pull would read, `unseen` its SOQL condition — and `kept` by id.
    Since {
        unseen: String,
        kept: &'a HashSet<String>,
        too_wide: &'a mut Option<String>,
    },
}

/// The records of `object` matching `unseen`, with `fields`, among `wanted` — or `None`
/// when reading them would take more calls than `budget`.
async fn changed_since(
    ctx: &Ctx<'_>,
    object: &str,
    fields: &[String],
    unseen: &str,
    wanted: &HashSet<&str>,
    budget: u64,
) -> Result<Option<HashMap<String, Map<String, Value>>>, StepError> {
    let soql = format!(
        "SELECT Id, SystemModstamp, {} FROM {object} WHERE {unseen}",
        fields.join(", "),
    );
    let mut pager = ctx.api.query(&soql, false, None);
    let mut found = HashMap::new();
    let mut first = true;
    while let Some(page) = pager.next_page().await? {
        if first && !page.done {
            let per_page = page.records.len().max(1) as u64;
            let more_calls = (page.total_size.saturating_sub(per_page)).div_ceil(per_page);
            if more_calls > budget {
                return Ok(None);
            }
        }
        first = false;
        for mut r in page.records {
            r.remove("attributes");
            if let Some(id) = r.get("Id").and_then(Value::as_str)
                && wanted.contains(id)
            {
                found.insert(id.to_owned(), r);
            }
        }
    }
    Ok(Some(found))
}

/// An update about to be pushed, with what conflict detection needs.
pub struct PendingUpdate {
    pub events: Vec<i64>,
    /// `Id` plus the changed fields' new database values.
    pub record: Map<String, Value>,
    /// Each changed field's value before the database change (the last synced value).
    pub base: Map<String, Value>,
    /// When each field was last changed in the database.
    pub changed_at: HashMap<String, DateTime<Utc>>,
    /// Every value the row's changes in this round set, per field (the insert's too): an
    /// earlier send may have carried any of them — a round cut short by a stop, a create
    /// that read the row after some of them — so Salesforce holding one is no conflict.
    pub ours: HashMap<String, Vec<Value>>,
}

/// Loose equality for values that may differ only in representation (10 vs 10.0).
pub(super) fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => (x - y).abs() < 1e-9,
        _ => a == b,
    }
}

/// Settles conflicts in `updates` in place: fields Salesforce wins are removed from the
/// record (the next pull writes Salesforce's value into the row). Returns the log entries.
pub async fn settle(
    ctx: &Ctx<'_>,
    m: &StoredMapping,
    updates: &mut [PendingUpdate],
    scope: Scope<'_>,
) -> Result<Vec<ConflictRecord>, StepError> {
    let policy = m.mapping.conflict_policy;
    if policy == ConflictPolicy::DatabaseWins || updates.is_empty() {
        return Ok(Vec::new());
    }
    let object = &m.resolved.object;
    let mut fields: Vec<String> = updates
        .iter()
        .flat_map(|u| u.record.keys().filter(|k| *k != "Id").cloned())
        .collect();
    fields.sort();
    fields.dedup();
    if fields.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = updates
        .iter()
        .filter_map(|u| u.record.get("Id").and_then(Value::as_str))
        .filter(|id| check_id(id).is_ok())
        .collect();
    // By id: one query per 200 records, five queries per composite request.
    let by_id_calls = ids.len().div_ceil(1000) as u64;
    let (mut current, by_id) = match scope {
        Scope::All => (HashMap::new(), ids),
        Scope::Since {
            unseen, too_wide, ..
        } if too_wide.as_deref() == Some(unseen.as_str()) => (HashMap::new(), ids),
        Scope::Since {
            unseen,
            kept,
            too_wide,
        } => {
            let wanted: HashSet<&str> = ids.iter().copied().collect();
            match changed_since(ctx, object, &fields, &unseen, &wanted, by_id_calls).await? {
                Some(changed) => {
                    let rest = ids
                        .into_iter()
                        .filter(|id| kept.contains(*id) && !changed.contains_key(*id))
                        .collect();
                    (changed, rest)
                }
                None => {
                    *too_wide = Some(unseen);
                    (HashMap::new(), ids)
                }
            }
        }
    };
    let queries: Vec<String> = by_id
        .chunks(200)
        .filter_map(|chunk| {
            let ids: Vec<String> = chunk.iter().map(|id| format!("'{id}'")).collect();
            (!ids.is_empty()).then(|| {
                format!(
                    "SELECT Id, SystemModstamp, {} FROM {object} WHERE Id IN ({})",
                    fields.join(", "),
                    ids.join(", ")
                )
            })
        })
        .collect();
    for batch in queries.chunks(crate::salesforce::rest::COMPOSITE_HEAVY) {
        let requests = batch
            .iter()
            .enumerate()
            .map(|(i, soql)| SubRequest {
                method: "GET".into(),
                url: Api::data_path(&format!("/query?q={}", encode(soql))),
                reference_id: format!("c{i}"),
                body: None,
            })
            .collect();
        for answer in ctx.api.composite(requests, false).await? {
            let page: QueryPage = serde_json::from_value(answer.body.clone()).map_err(|e| {
                StepError::Salesforce(crate::salesforce::SalesforceError::Protocol(format!(
                    "conflict check query answered {}: {e}",
                    answer.http_status_code
                )))
            })?;
            for mut r in page.records {
                r.remove("attributes");
                if let Some(id) = r.get("Id").and_then(Value::as_str).map(str::to_owned) {
                    current.insert(id, r);
                }
            }
        }
    }
    let mut log = Vec::new();
    let now = Utc::now();
    for u in updates.iter_mut() {
        let Some(sfid) = u
            .record
            .get("Id")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            continue;
        };
        let Some(sf) = current.get(&sfid) else {
            continue;
        }; // deleted in Salesforce: the update fails on its own
        let sf_stamp = sf
            .get("SystemModstamp")
            .and_then(Value::as_str)
            .and_then(crate::targetdb::types::parse_datetime);
        let changed: Vec<String> = u.record.keys().filter(|k| *k != "Id").cloned().collect();
        for f in changed {
            let db_value = u.record.get(&f).cloned().unwrap_or(Value::Null);
            let sf_value = sf.get(&f).cloned().unwrap_or(Value::Null);
            let base = u.base.get(&f).cloned().unwrap_or(Value::Null);
            let sent_by_us = u
                .ours
                .get(&f)
                .is_some_and(|vs| vs.iter().any(|v| same(v, &sf_value)));
            if same(&sf_value, &base) || same(&sf_value, &db_value) || sent_by_us {
                continue; // Salesforce did not change it, both agree, or it is our own send
            }
            let salesforce_wins = match policy {
                ConflictPolicy::SalesforceWins => true,
                ConflictPolicy::DatabaseWins => false,
                ConflictPolicy::NewestWins => match (sf_stamp, u.changed_at.get(&f)) {
                    (Some(sf_at), Some(db_at)) => sf_at > *db_at,
                    _ => false,
                },
            };
            if salesforce_wins {
                u.record.remove(&f);
            }
            log.push(ConflictRecord {
                object: object.clone(),
                sfid: sfid.clone(),
                field: f.clone(),
                db_value,
                sf_value,
                winner: if salesforce_wins {
                    "salesforce"
                } else {
                    "database"
                }
                .into(),
                policy,
                at: now,
            });
        }
    }
    if !log.is_empty() {
        store_log(ctx, &log).await?;
        tracing::info!(
            conflicts = log.len(),
            "fields changed on both sides settled by the mapping's policy"
        );
    }
    Ok(log)
}

async fn store_log(ctx: &Ctx<'_>, log: &[ConflictRecord]) -> Result<(), StepError> {
    ctx.state
        .store
        .log_conflicts(ctx.org, log)
        .await
        .map_err(|e| StepError::Daemon(crate::error::store_error(e)))
}

/// `conflict_list`: the org's conflict log, newest first.
pub async fn list(
    state: &crate::state::State,
    org: &str,
) -> Result<Vec<ConflictRecord>, crate::error::DaemonError> {
    state
        .store
        .conflicts(org, 500)
        .await
        .map_err(crate::error::store_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_by_value() {
        assert!(same(&Value::from(10), &serde_json::json!(10.0)));
        assert!(!same(&Value::from("a"), &Value::from("b")));
        assert!(same(&Value::Null, &Value::Null));
    }
}
