//! Deletions the pull cannot see. queryAll shows a deleted record (`IsDeleted`) only while
//! it sits in the recycle bin; one deleted and purged between two polls (a hard delete, an
//! emptied recycle bin) never comes by. So every hour (`deleted_check_secs`) each pulled
//! object's deleted log is read from where the last check ended (the deleted endpoint) and
//! those rows are removed. When the log no longer reaches back that far (its
//! `earliestDateAvailable` is past the check's start, or the start is older than the log's
//! 15 days), a reconciliation compares every id Salesforce still has with the rows and
//! removes what is gone.
use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::reload::ids;
use super::worker::{Ctx, StepError};
use crate::mappings::StoredMapping;
use crate::salesforce::rest::check_id;
use crate::targetdb::Target;
use crate::targetdb::types::parse_datetime;

/// How far back the deleted endpoint answers (Salesforce keeps 15 days), with a margin.
const LOG_DAYS: i64 = 14;

/// What the checks remember between ticks, per object.
#[derive(Default)]
pub struct DeletedChecks {
    /// Where the next check starts (the last one's `latestDateCovered`).
    covered: HashMap<String, DateTime<Utc>>,
    last_run: HashMap<String, Instant>,
}

impl DeletedChecks {
    pub fn due(&self, object: &str, every: Duration) -> bool {
        self.last_run
            .get(object)
            .is_none_or(|t| t.elapsed() >= every)
    }

    /// A check that failed waits for the next turn like one that succeeded.
    pub fn failed(&mut self, object: &str) {
        self.last_run.insert(object.to_owned(), Instant::now());
    }
}

/// Reads the object's deleted log since the last check and removes those rows; falls back
/// to a full reconciliation when the log does not reach back far enough.
pub async fn check(
    ctx: &Ctx<'_>,
    m: &StoredMapping,
    checks: &mut DeletedChecks,
) -> Result<(), StepError> {
    let object = &m.resolved.object;
    // Before the first load completes there is nothing to reconcile.
    let Some(cursor) = ctx.target.cursor(object).await? else {
        return Ok(());
    };
    let overlap = chrono::Duration::from_std(ctx.state.engine.config.overlap).unwrap_or_default();
    let start = checks
        .covered
        .get(object)
        .copied()
        .unwrap_or(cursor.systemmodstamp - overlap);
    // Salesforce's time, not the local clock; the deleted log counts in whole minutes and
    // refuses a window that does not end after it starts, so a check within the minute the
    // last one covered waits for its next turn.
    let now = ctx.api.server_time().unwrap_or_else(Utc::now);
    let minute = crate::salesforce::rest::replication_minute;
    if minute(now) <= minute(start) {
        checks.last_run.insert(object.clone(), Instant::now());
        return Ok(());
    }
    let covered = if start < now - chrono::Duration::days(LOG_DAYS) {
        reconcile(
            ctx,
            m,
            "the last check is older than Salesforce's deleted log",
        )
        .await?;
        now
    } else {
        let answer = ctx.api.deleted(object, start, now).await?;
        let earliest = answer["earliestDateAvailable"]
            .as_str()
            .and_then(parse_datetime);
        if earliest.is_some_and(|e| e >= start - chrono::Duration::minutes(1)) {
            reconcile(
                ctx,
                m,
                "records deleted since the last check were purged from Salesforce's deleted log",
            )
            .await?;
        } else {
            // A detached row is not refreshed, not even by its record's deletion.
            let detached = detached(ctx, m).await?;
            let ids: Vec<String> = answer["deletedRecords"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["id"].as_str().map(str::to_owned))
                .filter(|id| !detached.contains(id))
                .collect();
            if !ids.is_empty() {
                ctx.target.delete_rows(&m.resolved, &ids).await?;
                tracing::debug!(deleted = ids.len(), "deleted log read");
            }
        }
        answer["latestDateCovered"]
            .as_str()
            .and_then(parse_datetime)
            .unwrap_or(now)
    };
    checks.covered.insert(object.clone(), covered);
    checks.last_run.insert(object.clone(), Instant::now());
    Ok(())
}

/// Compares every id Salesforce has (within the row filter) with the rows read from it, and
/// removes the rows whose record is gone — after asking for those records by id once more,
/// since one created while the ids were being read is not among them.
async fn reconcile(ctx: &Ctx<'_>, m: &StoredMapping, why: &str) -> Result<(), StepError> {
    let object = &m.resolved.object;
    let filter = m.filter_clause("WHERE");
    let alive = ids(ctx, &format!("SELECT Id FROM {object}{filter}")).await?;
    let detached = detached(ctx, m).await?;
    let candidates: Vec<String> = ctx
        .target
        .synced_sfids(&m.resolved, true)
        .await?
        .into_iter()
        .filter(|id| !alive.contains(id) && !detached.contains(id) && check_id(id).is_ok())
        .collect();
    let filter_and = m.filter_clause("AND");
    let mut gone = Vec::new();
    for chunk in candidates.chunks(200) {
        let list: Vec<String> = chunk.iter().map(|id| format!("'{id}'")).collect();
        let found = ids(
            ctx,
            &format!(
                "SELECT Id FROM {object} WHERE Id IN ({}){filter_and}",
                list.join(", ")
            ),
        )
        .await?;
        gone.extend(chunk.iter().filter(|id| !found.contains(*id)).cloned());
    }
    if !gone.is_empty() {
        ctx.target.delete_rows(&m.resolved, &gone).await?;
    }
    tracing::info!(
        removed = gone.len(),
        salesforce_records = alive.len(),
        "reconciled ids with Salesforce: {why}"
    );
    Ok(())
}

/// The records whose rows are detached (outside the row filter: see `reload`).
async fn detached(
    ctx: &Ctx<'_>,
    m: &StoredMapping,
) -> Result<std::collections::HashSet<String>, StepError> {
    ctx.state
        .store
        .detached(ctx.org, &m.mapping.object)
        .await
        .map_err(|e| StepError::Daemon(crate::error::store_error(e)))
}
