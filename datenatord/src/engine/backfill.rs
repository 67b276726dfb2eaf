//! Backfill: when a mapping change adds fields to an object whose rows are already in the
//! database, those rows get the fields' Salesforce values — not only the rows a later pull
//! happens to bring.
//!
//! Saving the mapping records what to fill in the state store ([`crate::store`]'s
//! `backfills`); before the object's next pull the worker reads `Id` and the new fields
//! (a Bulk API query above `[sync] bulk_threshold` rows, a REST query in `Id` order below)
//! and writes only those columns, by sfid, as the engine: no change event, no other column
//! touched, and a column only where it is still NULL (a value a pull or a database user
//! wrote meanwhile is as new or newer). A REST fill stores the last `Id` written after each
//! page, so a stop resumes after it; a Bulk fill starts its query again (what it wrote
//! stays: a fill never overwrites). Progress is on the object's status (`backfill`).
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use datenator_shared::model::BackfillProgress;
use serde_json::{Map, Value};
use tracing::Instrument;

use super::worker::{Ctx, StepError};
use crate::mappings::StoredMapping;
use crate::salesforce::bulk::PollPolicy;
use crate::store::PendingBackfill;
use crate::targetdb::load::{CsvChunk, CsvHeader};
use crate::targetdb::{ObjectMapping, RejectedRow, Row, Target};

/// Records per page of a REST fill (Salesforce's largest query batch).
const REST_PAGE: u64 = 2000;

/// Records per page of a Bulk fill's results.
const BULK_PAGE: u64 = 50_000;

/// How long a fill that failed waits before it is tried again: it must not cost a query
/// every tick while, say, a field it reads is gone.
const RETRY_AFTER: Duration = Duration::from_secs(30);

/// How often in a row a REST fill queries again after its query's cursor became invalid.
const MAX_REQUERIES: u32 = 5;

/// When each (org, object)'s failed fill may run again.
static RETRY_AT: LazyLock<Mutex<HashMap<(String, String), Instant>>> =
    LazyLock::new(Default::default);

/// The fields of `new` that `old` did not map: what a backfill fills (the record's `Id`
/// and `SystemModstamp` never; they are in every mapping).
pub fn added_fields(old: &ObjectMapping, new: &ObjectMapping) -> Vec<String> {
    new.data_fields()
        .filter(|f| {
            !f.name.eq_ignore_ascii_case("SystemModstamp")
                && !old
                    .fields
                    .iter()
                    .any(|o| o.name.eq_ignore_ascii_case(&f.name))
        })
        .map(|f| f.name.clone())
        .collect()
}

/// Whether a fill of `rows` records goes through a Bulk API query.
fn uses_bulk(rows: u64, bulk_threshold: u64) -> bool {
    rows > bulk_threshold
}

/// The API calls a fill of `rows` records costs, about: REST pages of 2,000 records; a
/// Bulk job's creation, a couple of status polls, and its result pages.
pub fn estimated_calls(rows: u64, bulk_threshold: u64) -> u64 {
    if uses_bulk(rows, bulk_threshold) {
        3 + rows.div_ceil(BULK_PAGE)
    } else {
        rows.div_ceil(REST_PAGE).max(1)
    }
}

/// The plan's words for a fill of `fields` into `rows` existing rows.
pub fn describe(fields: &[String], rows: u64, bulk_threshold: u64) -> String {
    let how = if uses_bulk(rows, bulk_threshold) {
        "a Bulk API query"
    } else {
        "a REST query"
    };
    let calls = estimated_calls(rows, bulk_threshold);
    format!(
        "fill {} in the {} existing row(s) from Salesforce before the next pull ({how}, about {calls} API call(s)); other columns are left as they are and nothing is sent back to Salesforce",
        fields.join(", "),
        thousands(rows),
    )
}

/// `2003` as `2,003`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Runs the org's pending fills, each before its object's pull in this tick. `skip`: the
/// objects whose push failed this tick (their pull waits too). A fill that fails is
/// logged, put on the object's status and tried again after [`RETRY_AFTER`]; it never
/// holds up the object's sync.
pub async fn run(ctx: &Ctx<'_>, mappings: &[StoredMapping], skip: impl Fn(&str) -> bool) {
    let pending = match ctx.state.store.backfills(ctx.org).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!("cannot read the pending backfills (tried again next tick): {e}");
            return;
        }
    };
    // A fill forgotten by a mapping change leaves the dashboard too.
    let status = ctx.state.engine.status();
    for m in mappings {
        let object = &m.mapping.object;
        if !pending
            .iter()
            .any(|b| b.object.eq_ignore_ascii_case(object))
            && status
                .get(ctx.org, object)
                .is_some_and(|s| s.backfill.is_some())
        {
            status.update(ctx.org, object, m.mapping.direction, |s| s.backfill = None);
        }
    }
    for b in pending {
        let span = tracing::info_span!("object", object = %b.object);
        async {
            // A fill is recorded just before its mapping is stored, so a tick that read the
            // mappings a moment earlier may not map its fields yet: it waits for the next.
            // (Saving or removing the mapping forgets a fill it makes pointless.)
            let Some(m) = mappings
                .iter()
                .find(|m| m.mapping.object.eq_ignore_ascii_case(&b.object))
            else {
                return;
            };
            let fields = fillable(m, &b.fields);
            if fields.is_empty() && gone_from_salesforce(ctx, &b).await {
                // Every field it was to fill is gone from Salesforce: nothing to read.
                finish(ctx, &b.object, m).await;
                return;
            }
            if fields.is_empty() || !m.mapping.direction.pulls() {
                return;
            }
            match ctx.target.cursor(&m.resolved.object).await {
                // No first load yet: it reads every mapped field anyway.
                Ok(None) => {
                    finish(ctx, &b.object, m).await;
                    return;
                }
                Ok(Some(_)) => {}
                Err(e) => {
                    tracing::warn!("cannot read the pull cursor before a backfill: {e}");
                    return;
                }
            }
            show(ctx, m, &fields, b.done, b.total);
            let key = (ctx.org.to_owned(), b.object.clone());
            let waiting = RETRY_AT
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&key)
                .is_some_and(|t| Instant::now() < *t);
            if waiting || skip(&m.mapping.object) {
                return;
            }
            show_error(ctx, m, None);
            // A field gone from Salesforce meanwhile is marked removed (see `drift`): the
            // next tick fills the others at once.
            let result = fill(ctx, m, &b, &fields).await;
            let result = match result {
                Ok(done) => Ok(done),
                Err(e) => match super::drift::absorb(ctx, m, Err(e)).await {
                    Ok(()) => return,
                    Err(e) => Err(e),
                },
            };
            match result {
                Ok(done) => {
                    tracing::info!(
                        fields = %fields.join(", "),
                        records = done,
                        "backfill done: the existing rows hold the added fields' values"
                    );
                    RETRY_AT
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&key);
                    finish(ctx, &b.object, m).await;
                }
                Err(e) => {
                    tracing::warn!(
                        "filling {} into the existing rows failed (tried again in {} s): {e}",
                        fields.join(", "),
                        RETRY_AFTER.as_secs()
                    );
                    RETRY_AT
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(key, Instant::now() + RETRY_AFTER);
                    // On the fill's progress: the object's own error is the pull's.
                    show_error(
                        ctx,
                        m,
                        Some(format!("{e} (tried again in {} s)", RETRY_AFTER.as_secs())),
                    );
                }
            }
        }
        .instrument(span)
        .await;
    }
}

/// Whether every field of a pending fill is marked removed in Salesforce (see `drift`).
async fn gone_from_salesforce(ctx: &Ctx<'_>, b: &PendingBackfill) -> bool {
    match ctx.state.store.removed_fields(ctx.org).await {
        Ok(removed) => b.fields.iter().all(|f| {
            removed
                .iter()
                .any(|(o, r)| o.eq_ignore_ascii_case(&b.object) && r.eq_ignore_ascii_case(f))
        }),
        Err(e) => {
            tracing::warn!("cannot read the fields removed in Salesforce: {e}");
            false
        }
    }
}

/// The fields of a pending fill the mapping still maps and Salesforce still has, with
/// their names as the mapping spells them.
fn fillable(m: &StoredMapping, wanted: &[String]) -> Vec<String> {
    m.resolved
        .data_fields()
        .filter(|f| wanted.iter().any(|w| w.eq_ignore_ascii_case(&f.name)))
        .map(|f| f.name.clone())
        .collect()
}

/// Puts the fill's progress on the object's status (keeping why its last attempt failed).
fn show(ctx: &Ctx<'_>, m: &StoredMapping, fields: &[String], done: u64, total: u64) {
    ctx.state
        .engine
        .status()
        .update(ctx.org, &m.mapping.object, m.mapping.direction, |s| {
            let error = s.backfill.take().and_then(|b| b.error);
            s.backfill = Some(BackfillProgress {
                fields: fields.to_vec(),
                done: done.min(total),
                total,
                error,
            });
        });
}

/// Puts why the fill failed on its progress, or clears it (`None`) when it runs again.
fn show_error(ctx: &Ctx<'_>, m: &StoredMapping, error: Option<String>) {
    ctx.state
        .engine
        .status()
        .update(ctx.org, &m.mapping.object, m.mapping.direction, |s| {
            if let Some(b) = &mut s.backfill {
                b.error = error;
            }
        });
}

/// Forgets a fill (done, or nothing left to do) and takes it off the status.
async fn finish(ctx: &Ctx<'_>, object: &str, m: &StoredMapping) {
    if let Err(e) = ctx.state.store.finish_backfill(ctx.org, object).await {
        tracing::warn!(
            "cannot clear the finished backfill (it runs again; it never overwrites): {e}"
        );
        return;
    }
    ctx.state
        .engine
        .status()
        .update(ctx.org, &m.mapping.object, m.mapping.direction, |s| {
            s.backfill = None
        });
}

/// Reads `Id` + `fields` from Salesforce and fills them into the rows. Returns the records
/// written over the whole fill.
async fn fill(
    ctx: &Ctx<'_>,
    m: &StoredMapping,
    b: &PendingBackfill,
    fields: &[String],
) -> Result<u64, StepError> {
    let bulk_threshold = ctx.state.engine.config.bulk_threshold;
    tracing::info!(
        fields = %fields.join(", "),
        rows = b.total,
        bulk = uses_bulk(b.total, bulk_threshold),
        "filling added fields into the existing rows"
    );
    if uses_bulk(b.total, bulk_threshold) {
        fill_bulk(ctx, m, b, fields).await
    } else {
        fill_rest(ctx, m, b, fields).await
    }
}

/// A REST fill in `Id` order, resuming after the last `Id` written.
async fn fill_rest(
    ctx: &Ctx<'_>,
    m: &StoredMapping,
    b: &PendingBackfill,
    fields: &[String],
) -> Result<u64, StepError> {
    let object = &m.resolved.object;
    let soql = |after: &str| {
        // The stored id came from Salesforce: letters and digits.
        let after: String = after.chars().filter(char::is_ascii_alphanumeric).collect();
        let mut conditions = Vec::new();
        if !after.is_empty() {
            conditions.push(format!("Id > '{after}'"));
        }
        if let Some(f) = m
            .mapping
            .row_filter
            .as_deref()
            .filter(|f| !f.trim().is_empty())
        {
            conditions.push(format!("({f})"));
        }
        let where_clause = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        format!(
            "SELECT Id, {} FROM {object}{where_clause} ORDER BY Id",
            fields.join(", ")
        )
    };
    let mut after = b.after_id.clone();
    let mut done = b.done;
    let mut requeries = 0;
    let mut pager = ctx.api.query(&soql(&after), false, None);
    loop {
        let page = match pager.next_page().await {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(e)
                if crate::salesforce::rest::is_invalid_locator(&e) && requeries < MAX_REQUERIES =>
            {
                requeries += 1;
                pager = ctx.api.query(&soql(&after), false, None);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        requeries = 0;
        let rows: Vec<Row> = page.records.into_iter().filter_map(to_row).collect();
        let Some(last) = rows.last().map(|r| r.sfid.clone()) else {
            continue;
        };
        write(ctx, m, fields, &rows).await?;
        done += rows.len() as u64;
        after = last;
        advance(ctx, m, fields, done, b.total, &after).await;
    }
    Ok(done)
}

/// A Bulk fill: one query job, its result pages written as they come.
async fn fill_bulk(
    ctx: &Ctx<'_>,
    m: &StoredMapping,
    b: &PendingBackfill,
    fields: &[String],
) -> Result<u64, StepError> {
    let object = &m.resolved.object;
    let soql = format!(
        "SELECT Id, {} FROM {object}{}",
        fields.join(", "),
        m.filter_clause("WHERE")
    );
    let mut job = ctx
        .api
        .bulk_query(&soql, false, Some(BULK_PAGE), PollPolicy::default())
        .await?;
    let mut done = 0;
    while let Some(csv_text) = job.next_page().await? {
        let rows = tokio::task::spawn_blocking({
            let resolved = m.resolved.clone();
            move || csv_rows(&csv_text, &resolved)
        })
        .await
        .map_err(|e| protocol_error(e.to_string()))??;
        write(ctx, m, fields, &rows).await?;
        done += rows.len() as u64;
        advance(ctx, m, fields, done, b.total, "").await;
    }
    Ok(done)
}

/// Writes a page of the fill, reporting the records the database refused.
async fn write(
    ctx: &Ctx<'_>,
    m: &StoredMapping,
    fields: &[String],
    rows: &[Row],
) -> Result<(), StepError> {
    let report = ctx.target.fill_fields(&m.resolved, fields, rows).await?;
    refused(ctx, m, &report.rejected);
    Ok(())
}

/// Stores and shows how far the fill has come. A failure to store only costs a re-read
/// after a stop (a fill never overwrites), so it is logged, not fatal.
async fn advance(
    ctx: &Ctx<'_>,
    m: &StoredMapping,
    fields: &[String],
    done: u64,
    total: u64,
    after: &str,
) {
    if let Err(e) = ctx
        .state
        .store
        .advance_backfill(ctx.org, &m.mapping.object, done, after)
        .await
    {
        tracing::warn!(
            "cannot store the backfill's progress (a restart reads the page again): {e}"
        );
    }
    show(ctx, m, fields, done, total.max(done));
}

fn refused(ctx: &Ctx<'_>, m: &StoredMapping, rejected: &[RejectedRow]) {
    for r in rejected {
        tracing::warn!(sfid = %r.sfid, "the database refused a backfilled value: {}", r.error);
    }
    if let Some(r) = rejected.first() {
        let message = format!(
            "{} record(s) refused by the database while filling added fields, e.g. {}: {}",
            rejected.len(),
            r.sfid,
            r.error
        );
        ctx.state
            .engine
            .status()
            .update(ctx.org, &m.mapping.object, m.mapping.direction, |s| {
                s.last_error = Some(message)
            });
    }
}

fn protocol_error(e: String) -> StepError {
    StepError::Salesforce(crate::salesforce::SalesforceError::Protocol(e))
}

/// A REST record as a row of the fill (no stamp: the fill never moves the cursor).
fn to_row(mut record: Map<String, Value>) -> Option<Row> {
    record.remove("attributes");
    let sfid = record.get("Id")?.as_str()?.to_owned();
    Some(Row {
        sfid,
        systemmodstamp: None,
        values: record,
    })
}

/// A Bulk CSV page as rows, each cell typed as its field's REST value.
fn csv_rows(csv_text: &str, mapping: &ObjectMapping) -> Result<Vec<Row>, StepError> {
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let header = Arc::new(CsvHeader::new(
        reader
            .headers()
            .map_err(|e| protocol_error(e.to_string()))?
            .iter()
            .map(str::to_owned)
            .collect(),
    ));
    let mut records = Vec::new();
    for r in reader.records() {
        records.push(r.map_err(|e| protocol_error(e.to_string()))?);
    }
    Ok(CsvChunk { header, records }.to_rows(mapping))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targetdb::{FieldSpec, SfType};

    fn mapping(names: &[&str]) -> ObjectMapping {
        ObjectMapping::new(
            "Account",
            names
                .iter()
                .map(|n| FieldSpec {
                    name: (*n).into(),
                    sf_type: SfType::String,
                    length: Some(80),
                    precision: None,
                    scale: None,
                })
                .collect(),
        )
    }

    #[test]
    fn only_fields_the_old_mapping_lacked_are_filled() {
        let old = mapping(&["Id", "Name", "SystemModstamp"]);
        let new = mapping(&["Id", "Name", "Website", "Phone", "SystemModstamp"]);
        assert_eq!(added_fields(&old, &new), ["Website", "Phone"]);
        assert!(added_fields(&new, &old).is_empty());
    }

    #[test]
    fn the_plan_says_rows_way_and_cost() {
        assert_eq!(estimated_calls(2003, 10_000), 2);
        assert_eq!(estimated_calls(0, 10_000), 1);
        assert_eq!(estimated_calls(120_000, 10_000), 6);
        let text = describe(&["Website".into()], 2003, 10_000);
        assert!(
            text.contains("fill Website in the 2,003 existing row(s)"),
            "{text}"
        );
        assert!(text.contains("a REST query, about 2 API call(s)"), "{text}");
        assert!(describe(&["Website".into()], 20_000, 10_000).contains("a Bulk API query"));
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
    }
}
