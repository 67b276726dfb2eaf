//! Re-reading an object from Salesforce, and the rows a row filter leaves out.
//!
//! A re-read is asked for by the user (`object_resync`: re-sync one object) or by a mapping
//! change of the row filter. It is recorded in the state store (`reloads`) before anything
//! runs, so a stop resumes it; before the object's next pull the worker:
//!
//! 1. lists the ids of every record within the row filter (REST, 2,000 per call);
//! 2. sorts the synced rows whose record is not among them, asking Salesforce by id once
//!    more (one created or changed meanwhile may match by now): a record that still exists
//!    left the filter — its row is kept **detached** (`_dn_state = 'DETACHED'`, listed in the
//!    store's `detached_rows`) or deleted, as the user chose; a record gone from Salesforce
//!    has its row deleted;
//! 3. forgets the object's pull cursor, so the pull that follows is a first load: every
//!    record within the filter is read again and merged into its row by sfid (a row's
//!    unsent database change is kept, as in any pull), and records that entered the filter
//!    are loaded.
//!
//! Only then is the re-read forgotten; a stop at any step runs it again from the start
//! (each step is idempotent). Detached rows are never refreshed (the pull does not see
//! their records) and their database changes are never sent ([`skip_detached`]); a record
//! that matches the filter again is synced again ([`reattach`]).
use std::collections::HashSet;

use crate::error::DaemonError;
use datenator_shared::model::{PlanStepView, PlanView};
use datenator_shared::protocol::{LeavingRows, ResyncObject};
use serde_json::Value;

use super::worker::{Ctx, StepError};
use crate::error::store_error;
use crate::mappings::StoredMapping;
use crate::salesforce::rest::check_id;
use crate::state::State;
use crate::store::PendingReload;
use crate::targetdb::{Event, RowsLeave, Target};

/// Ids asked for by id per query.
const BY_ID: usize = 200;

/// Records per page of the id listing.
const ID_PAGE: u64 = 2000;

fn daemon(e: crate::store::StoreError) -> StepError {
    StepError::Daemon(store_error(e))
}

/// Ids per page of a Bulk id listing.
const BULK_ID_PAGE: u64 = 50_000;

/// The API calls a re-read of about `rows` records costs: the id listing (REST pages, or a
/// Bulk query above `bulk_threshold`), then the first load (see
/// [`super::backfill::estimated_calls`] for its REST or Bulk pages).
pub fn estimated_calls(rows: u64, bulk_threshold: u64) -> u64 {
    let listing = if rows > bulk_threshold {
        3 + rows.div_ceil(BULK_ID_PAGE)
    } else {
        rows.div_ceil(ID_PAGE).max(1)
    };
    listing + super::backfill::estimated_calls(rows, bulk_threshold)
}

/// The plan's words for a re-read of `object` with about `rows` records.
pub fn describe(object: &str, filtered: bool, rows: u64, bulk_threshold: u64) -> String {
    let within = if filtered {
        " within its row filter"
    } else {
        ""
    };
    let how = if rows > bulk_threshold {
        "a Bulk API query"
    } else {
        "REST queries"
    };
    format!(
        "re-read every {object} record{within} from Salesforce and merge it into its row by sfid (about {} record(s): {how}, about {} API call(s)); rows whose record is gone from Salesforce are deleted, rows whose record no longer matches the row filter are kept detached; unsent database changes are kept",
        super::backfill::thousands(rows),
        estimated_calls(rows, bulk_threshold),
    )
}

/// `object_resync`: plans (and with `apply`, starts) a re-read of one object.
pub async fn plan(state: &State, req: ResyncObject) -> Result<PlanView, DaemonError> {
    let stored = crate::mappings::stored(state, &req.org).await?;
    let m = stored
        .iter()
        .find(|m| m.mapping.object.eq_ignore_ascii_case(&req.object))
        .ok_or_else(|| {
            DaemonError::not_found(format!(
                "{} is not mapped in org {:?}: map it first (a re-read applies to mapped objects)",
                req.object, req.org
            ))
        })?;
    if !m.mapping.direction.pulls() {
        return Err(DaemonError::rejected(format!(
            "{} only syncs from the database to Salesforce: nothing is read from Salesforce to re-read; change its direction first",
            m.mapping.object
        )));
    }
    let target = crate::datasource::admin_target(state, &req.org).await?;
    let rows = target.row_count(&m.resolved).await.unwrap_or_else(|e| {
        tracing::warn!("cannot count the rows of {}: {e}", m.mapping.object);
        0
    });
    let view = PlanView {
        steps: vec![PlanStepView {
            description: describe(
                &m.mapping.object,
                m.mapping.row_filter.is_some(),
                rows,
                state.engine.config.bulk_threshold,
            ),
            destructive: None,
            sql: Vec::new(),
        }],
        destructive: false,
        applied: req.apply,
    };
    if req.apply {
        state
            .store
            .add_reload(
                &req.org,
                &m.mapping.object,
                LeavingRows::Detach,
                m.mapping.row_filter.as_deref(),
            )
            .await
            .map_err(store_error)?;
        state
            .engine
            .status()
            .update(&req.org, &m.mapping.object, m.mapping.direction, |s| {
                s.reloading = true
            });
        tracing::info!(org = %req.org, object = %m.mapping.object, rows, "re-read from Salesforce asked for");
        state.engine.wake(&req.org);
    }
    Ok(view)
}

/// Runs the object's pending re-read, if any (see the module's steps). Returns whether one
/// ran: the object's pull then starts its first load.
pub async fn run(
    ctx: &Ctx<'_>,
    m: &StoredMapping,
    pending: &[PendingReload],
) -> Result<bool, StepError> {
    let object = &m.mapping.object;
    let Some(reload) = pending
        .iter()
        .find(|r| r.object.eq_ignore_ascii_case(object))
    else {
        return Ok(false);
    };
    // A mapping change records its re-read just before the mapping: a tick that read the
    // mappings a moment earlier still has the old filter, and waits for the next.
    if !same_filter(
        reload.row_filter.as_deref(),
        m.mapping.row_filter.as_deref(),
    ) {
        return Ok(false);
    }
    let leaving = &reload.leaving;
    let status = ctx.state.engine.status();
    status.update(ctx.org, object, m.mapping.direction, |s| s.reloading = true);
    let filter = m.filter_clause("WHERE");
    let rows = ctx.target.row_count(&m.resolved).await?;
    let alive = listed_ids(ctx, &format!("SELECT Id FROM {object}{filter}"), rows).await?;
    // Rows whose record matches the filter again sync again: forgotten first, so a stop
    // before their rows are written leaves them synced, not detached.
    let detached = ctx
        .state
        .store
        .detached(ctx.org, object)
        .await
        .map_err(daemon)?;
    let back: Vec<String> = detached.intersection(&alive).cloned().collect();
    if !back.is_empty() {
        ctx.state
            .store
            .forget_detached(ctx.org, object, Some(&back))
            .await
            .map_err(daemon)?;
        ctx.target
            .leave_rows(&m.resolved, &back, RowsLeave::Rejoin)
            .await?;
    }
    let candidates: Vec<String> = ctx
        .target
        .synced_sfids(&m.resolved, true)
        .await?
        .into_iter()
        .filter(|id| !alive.contains(id) && check_id(id).is_ok())
        .collect();
    let (left, gone) = sort_out(ctx, m, &candidates).await?;
    if !gone.is_empty() {
        ctx.target.delete_rows(&m.resolved, &gone).await?;
        ctx.state
            .store
            .forget_detached(ctx.org, object, Some(&gone))
            .await
            .map_err(daemon)?;
    }
    if !left.is_empty() {
        match leaving {
            LeavingRows::Delete => {
                ctx.target.delete_rows(&m.resolved, &left).await?;
                ctx.state
                    .store
                    .forget_detached(ctx.org, object, Some(&left))
                    .await
                    .map_err(daemon)?;
            }
            LeavingRows::Detach => {
                // Listed first: the push skips their changes from then on.
                ctx.state
                    .store
                    .add_detached(ctx.org, object, &left)
                    .await
                    .map_err(daemon)?;
                ctx.target
                    .leave_rows(&m.resolved, &left, RowsLeave::Detach)
                    .await?;
            }
        }
    }
    ctx.target.reset_cursor(&m.resolved.object).await?;
    ctx.state
        .store
        .finish_reload(ctx.org, object)
        .await
        .map_err(daemon)?;
    status.update(ctx.org, object, m.mapping.direction, |s| {
        s.reloading = false
    });
    tracing::info!(
        records = alive.len(),
        gone = gone.len(),
        left_filter = left.len(),
        matching_again = back.len(),
        leaving = ?leaving,
        "re-reading from Salesforce: rows sorted out, the first load follows"
    );
    Ok(true)
}

/// The candidates (synced rows whose record the id listing did not return) sorted into
/// those whose record exists but no longer matches the row filter, and those whose record
/// is gone. A record found within the filter now is neither.
async fn sort_out(
    ctx: &Ctx<'_>,
    m: &StoredMapping,
    candidates: &[String],
) -> Result<(Vec<String>, Vec<String>), StepError> {
    let object = &m.resolved.object;
    let filter_and = m.filter_clause("AND");
    let (mut left, mut gone) = (Vec::new(), Vec::new());
    for chunk in candidates.chunks(BY_ID) {
        let list: Vec<String> = chunk.iter().map(|id| format!("'{id}'")).collect();
        let list = list.join(", ");
        let within = ids(
            ctx,
            &format!("SELECT Id FROM {object} WHERE Id IN ({list}){filter_and}"),
        )
        .await?;
        let exists = if filter_and.is_empty() {
            within.clone()
        } else {
            ids(
                ctx,
                &format!("SELECT Id FROM {object} WHERE Id IN ({list})"),
            )
            .await?
        };
        for id in chunk.iter().filter(|id| !within.contains(*id)) {
            if exists.contains(id) {
                left.push(id.clone());
            } else {
                gone.push(id.clone());
            }
        }
    }
    Ok((left, gone))
}

/// Whether two row filters are the same condition as written (blank is none).
pub fn same_filter(a: Option<&str>, b: Option<&str>) -> bool {
    fn norm(f: Option<&str>) -> Option<&str> {
        f.map(str::trim).filter(|f| !f.is_empty())
    }
    norm(a) == norm(b)
}

/// The ids of every record the query selects: a REST query, or for more than
/// `bulk_threshold` rows a Bulk query read page by page (far fewer calls).
async fn listed_ids(ctx: &Ctx<'_>, soql: &str, rows: u64) -> Result<HashSet<String>, StepError> {
    if rows <= ctx.state.engine.config.bulk_threshold {
        return ids(ctx, soql).await;
    }
    let mut job = ctx
        .api
        .bulk_query(
            soql,
            false,
            Some(BULK_ID_PAGE),
            crate::salesforce::bulk::PollPolicy::default(),
        )
        .await?;
    let mut out = HashSet::new();
    while let Some(page) = job.next_page().await? {
        // One column: the header `Id`, then an id a line (quoted or not).
        out.extend(
            page.lines()
                .skip(1)
                .map(|l| l.trim().trim_matches('"'))
                .filter(|id| check_id(id).is_ok())
                .map(str::to_owned),
        );
    }
    Ok(out)
}

/// The ids a query returns (deleted records left out).
pub(super) async fn ids(ctx: &Ctx<'_>, soql: &str) -> Result<HashSet<String>, StepError> {
    let mut out = HashSet::new();
    ctx.api
        .query_each(soql, false, |records| match records {
            Some(records) => out.extend(
                records
                    .iter()
                    .filter_map(|r| r.get("Id").and_then(Value::as_str).map(str::to_owned)),
            ),
            None => out.clear(),
        })
        .await?;
    Ok(out)
}

/// The events of detached rows are settled without being sent; the rest are returned
/// (`None`: nothing was skipped, use `events` as they are).
pub async fn skip_detached(
    ctx: &Ctx<'_>,
    m: &StoredMapping,
    events: &[Event],
) -> Result<Option<Vec<Event>>, StepError> {
    let detached = ctx
        .state
        .store
        .detached(ctx.org, &m.mapping.object)
        .await
        .map_err(daemon)?;
    let is_detached = |e: &Event| e.sfid.as_ref().is_some_and(|s| detached.contains(s));
    if !events.iter().any(is_detached) {
        return Ok(None);
    }
    let (skipped, kept): (Vec<&Event>, Vec<&Event>) = events.iter().partition(|e| is_detached(e));
    let ids: Vec<i64> = skipped.iter().map(|e| e.id).collect();
    ctx.target
        .settle_events(&m.resolved, &ids, Some(crate::targetdb::NOT_SENT_DETACHED))
        .await?;
    tracing::info!(
        changes = ids.len(),
        "database changes to detached rows (outside the row filter) not sent"
    );
    Ok(Some(kept.into_iter().cloned().collect()))
}

/// A pull is about to write these records: any whose row was detached matches the filter
/// again and syncs again (forgotten before the write, so a stop in between leaves it synced).
pub async fn reattach(ctx: &Ctx<'_>, m: &StoredMapping, sfids: &[String]) -> Result<(), StepError> {
    let detached = ctx
        .state
        .store
        .detached(ctx.org, &m.mapping.object)
        .await
        .map_err(daemon)?;
    if detached.is_empty() {
        return Ok(());
    }
    let back: Vec<String> = sfids
        .iter()
        .filter(|s| detached.contains(*s))
        .cloned()
        .collect();
    if !back.is_empty() {
        ctx.state
            .store
            .forget_detached(ctx.org, &m.mapping.object, Some(&back))
            .await
            .map_err(daemon)?;
        ctx.target
            .leave_rows(&m.resolved, &back, RowsLeave::Rejoin)
            .await?;
        tracing::info!(
            rows = back.len(),
            "detached rows match the row filter again: synced again"
        );
    }
    Ok(())
}

/// Puts each object's detached rows and pending re-read on its status.
pub async fn publish(
    state: &State,
    org: &str,
    mappings: &[StoredMapping],
    pending: &[PendingReload],
) {
    let counts = match state.store.detached_counts(org).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("cannot read the detached rows (read again next tick): {e}");
            return;
        }
    };
    let status = state.engine.status();
    for m in mappings {
        let object = &m.mapping.object;
        let detached = counts
            .iter()
            .find(|(o, _)| o.eq_ignore_ascii_case(object))
            .map_or(0, |(_, n)| *n);
        let reloading = pending
            .iter()
            .any(|r| r.object.eq_ignore_ascii_case(object));
        let shown = status.get(org, object);
        if shown
            .as_ref()
            .is_none_or(|s| s.detached_rows != detached || s.reloading != reloading)
        {
            status.update(org, object, m.mapping.direction, |s| {
                s.detached_rows = detached;
                s.reloading = reloading;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_compare_as_written_and_blank_is_none() {
        assert!(same_filter(None, Some("  ")));
        assert!(same_filter(
            Some("Industry = 'Banking' "),
            Some("Industry = 'Banking'")
        ));
        assert!(!same_filter(None, Some("Industry = 'Banking'")));
    }

    #[test]
    fn a_large_re_read_lists_its_ids_through_bulk() {
        // 1,180 rows: one id page and one load page, REST.
        assert_eq!(estimated_calls(1_180, 10_000), 2);
        // 120,000 rows: 3 + 3 for the id listing, 3 + 3 for the load, Bulk.
        assert_eq!(estimated_calls(120_000, 10_000), 12);
    }
}
