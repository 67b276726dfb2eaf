//! Failed records: database changes Salesforce refused (a validation rule, a missing
//! required field, a duplicate). They wait on their event and their row, never blocking
//! other records, until the row changes again (the push then sends them with the new
//! change) or the user retries or ignores them (`failed_retry`, `failed_ignore`).
use crate::error::DaemonError;
use datenator_shared::model::FailedRecord;
use datenator_shared::protocol::FailedRecords;

use super::worker::Ctx;
use crate::mappings::{self, StoredMapping};
use crate::state::State;
use crate::targetdb::{Event, EventOp, FailedAction, FailedScope, Target, TargetError};

/// How many failed records `failed_list` returns per object.
const LIST_LIMIT: usize = 500;

fn target_error(e: TargetError) -> DaemonError {
    DaemonError::rejected(format!(
        "{e}: check that the org's database is reachable, then try again"
    ))
}

async fn known_org(state: &State, org: &str) -> Result<(), DaemonError> {
    match state.store.org_exists(org).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(DaemonError::not_found(format!(
            "no org named {org:?}: the org list shows the registered ones"
        ))),
        Err(e) => Err(crate::error::store_error(e)),
    }
}

/// `failed_list`: every pushing mapping's failed records, oldest first per object.
pub async fn list(state: &State, org: &str) -> Result<Vec<FailedRecord>, DaemonError> {
    known_org(state, org).await?;
    let stored = mappings::stored(state, org).await?;
    if stored.is_empty() {
        return Ok(Vec::new());
    }
    let target = crate::datasource::admin_target(state, org).await?;
    let mut out = Vec::new();
    for m in stored.iter().filter(|m| m.mapping.direction.pushes()) {
        let failed = target
            .failed_events(&m.resolved, LIST_LIMIT)
            .await
            .map_err(target_error)?;
        out.extend(failed.into_iter().map(|f| {
            FailedRecord {
                object: m.mapping.object.clone(),
                row_id: f.event.row_id,
                sfid: f.event.sfid,
                op: match f.event.op {
                    EventOp::Insert => "insert",
                    EventOp::Update => "update",
                    EventOp::Delete => "delete",
                }
                .into(),
                error: f.error,
                changed_at: f.event.created_at,
                values: f.event.new_values,
            }
        }));
    }
    Ok(out)
}

/// `failed_retry` and `failed_ignore`. Returns how many changes moved.
pub async fn settle(
    state: &State,
    request: FailedRecords,
    action: FailedAction,
) -> Result<u64, DaemonError> {
    known_org(state, &request.org).await?;
    let stored = mappings::stored(state, &request.org).await?;
    let Some(m) = stored
        .iter()
        .find(|m| m.mapping.object.eq_ignore_ascii_case(&request.object))
    else {
        return Err(DaemonError::not_found(format!(
            "org {:?} has no mapping for {:?}: pick an object from the failed records list",
            request.org, request.object
        )));
    };
    let target = crate::datasource::admin_target(state, &request.org).await?;
    let scope = match &request.row_ids {
        Some(ids) => FailedScope::Rows(ids),
        None => FailedScope::All,
    };
    let moved = target
        .settle_failed(&m.resolved, scope, action)
        .await
        .map_err(target_error)?;
    tracing::info!(org = %request.org, object = %m.mapping.object, changes = moved, "failed records {}", match action {
        FailedAction::Retry => "queued again at the user's request",
        FailedAction::Ignore => "set aside at the user's request",
    });
    publish_failed_count(state, &request.org, m, &target).await;
    if action == FailedAction::Retry && moved > 0 {
        state.engine.wake(&request.org);
    }
    Ok(moved)
}

/// After a push claimed `claimed`: the failed changes of those rows (changed again since)
/// go back to the queue. Returns whether there were any.
pub async fn requeue_changed_again(
    ctx: &Ctx<'_>,
    m: &StoredMapping,
    claimed: &[Event],
) -> Result<bool, TargetError> {
    if claimed.is_empty() {
        return Ok(false);
    }
    let mut rows: Vec<i64> = claimed.iter().map(|e| e.row_id).collect();
    rows.sort_unstable();
    rows.dedup();
    let moved = ctx
        .target
        .settle_failed(&m.resolved, FailedScope::Rows(&rows), FailedAction::Retry)
        .await?;
    if moved > 0 {
        tracing::info!(
            changes = moved,
            "failed records changed again in the database; sending them once more"
        );
    }
    Ok(moved > 0)
}

/// Shows the object's current number of failed records in its status.
pub async fn publish_failed_count(
    state: &State,
    org: &str,
    m: &StoredMapping,
    target: &impl Target,
) {
    if let Ok(counts) = target.event_counts(&m.resolved).await {
        state
            .engine
            .status()
            .update(org, &m.mapping.object, m.mapping.direction, |s| {
                s.failed_records = counts.failed;
            });
    }
}
