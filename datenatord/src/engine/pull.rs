//! Pull: Salesforce → database. A tie-safe cursor (SystemModstamp, Id) read through
//! queryAll (deletes arrive as `IsDeleted` rows), page by page, each page applied and the
//! cursor advanced in one database transaction; every poll re-reads a late-change window
//! for changes that became visible after their stamp (see [`late_from`]). A first load of many records goes
//! through a Bulk API query.
use chrono::{DateTime, Utc};
use datenator_shared::model::ObjectState;
use serde_json::{Map, Value};

use super::worker::{Ctx, StepError};
use crate::mappings::StoredMapping;
use crate::salesforce::bulk::PollPolicy;
use crate::salesforce::rest::QueryPage;
use crate::salesforce::rest::sf_datetime;
use crate::targetdb::load::{CsvChunk, CsvHeader};
use crate::targetdb::types::parse_datetime;
use crate::targetdb::{Cursor, Dialect, ObjectMapping, RejectedRow, Row, Target};

/// Rows per bulk-load call into the database (one COPY and one transaction each).
const LOAD_CHUNK: usize = 25_000;

fn select_list(m: &ObjectMapping) -> String {
    let mut names: Vec<&str> = m.fields.iter().map(|f| f.name.as_str()).collect();
    names.push("IsDeleted");
    names.join(", ")
}

fn later(a: &Cursor, stamp: DateTime<Utc>, id: &str) -> bool {
    (stamp, id) > (a.systemmodstamp, a.last_id.as_str())
}

/// What an object's previous poll established about the changes it could see.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seen {
    /// Salesforce's time when the poll began.
    pub polled_at: DateTime<Utc>,
    /// What Salesforce said was visible just before the poll's query, if it was asked.
    pub covered: Option<Covered>,
}

/// Salesforce's visibility guarantee (the replication API's `latestDateCovered`): every
/// change stamped before `latest` was visible. It lags behind the minute asked about
/// (`in_flight`) while a long-running transaction that began at `latest` has not committed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Covered {
    pub latest: DateTime<Utc>,
    pub in_flight: bool,
}

/// The incremental query of a mapping whose cursor is `c`. What is new comes after the
/// cursor — (SystemModstamp, Id), so the thousands of records a data load stamps with one
/// second are neither skipped nor read again. A change can become visible after its
/// stamp (a long transaction commits late), so the records stamped in the late-change
/// window are read again too (see [`late_from`]).
pub fn incremental_soql(
    ctx: &Ctx<'_>,
    m: &StoredMapping,
    c: &Cursor,
    seen: Option<Seen>,
) -> String {
    format!(
        "SELECT {} FROM {} WHERE {}{} ORDER BY SystemModstamp, Id",
        select_list(&m.resolved),
        m.resolved.object,
        unseen_condition(ctx, c, seen),
        m.filter_clause("AND"),
    )
}

/// The SOQL condition of the records an incremental pull from cursor `c` reads: those
/// after the cursor, and those in the late-change window (see [`incremental_soql`]).
pub fn unseen_condition(ctx: &Ctx<'_>, c: &Cursor, seen: Option<Seen>) -> String {
    let overlap = chrono::Duration::from_std(ctx.state.engine.config.overlap).unwrap_or_default();
    let late_from = late_from(overlap, c, seen);
    if late_from <= c.systemmodstamp {
        format!("SystemModstamp >= {}", sf_datetime(late_from))
    } else if c.last_id.is_empty() {
        // Nothing read at the cursor's stamp (an object that had no records): everything
        // from it on. (Salesforce refuses `Id > ''`.)
        format!("SystemModstamp >= {}", sf_datetime(c.systemmodstamp))
    } else {
        let stamp = sf_datetime(c.systemmodstamp);
        // The cursor's id came from Salesforce: 15/18 characters, letters and digits.
        let last_id: String = c
            .last_id
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        format!("(SystemModstamp > {stamp} OR (SystemModstamp = {stamp} AND Id > '{last_id}'))")
    }
}

/// Where the late-change window of a poll begins: a change stamped before it was visible
/// to the previous poll. The window is anchored on time that passed (the previous poll's
/// Salesforce time), never on the cursor, so once nothing is recent a poll reads nothing it
/// has seen. Salesforce's own guarantee decides where it has one: everything stamped before
/// `latestDateCovered` was visible, so with the default overlap (longer than the minute the
/// guarantee is counted in) the window starts there; while a long transaction is in flight
/// it reaches back to the transaction's start, however long ago. Without a guarantee the
/// overlap is the guess; without a previous poll (after a start), the overlap behind the
/// cursor.
pub fn late_from(overlap: chrono::Duration, c: &Cursor, seen: Option<Seen>) -> DateTime<Utc> {
    let Some(seen) = seen else {
        return c.systemmodstamp - overlap;
    };
    let guess = seen.polled_at - overlap;
    match seen.covered {
        None => guess,
        Some(Covered {
            latest,
            in_flight: true,
        }) => latest.min(guess),
        Some(Covered { latest, .. }) => latest.max(guess),
    }
}

/// How often in a row a pull queries again after its query's cursor became invalid
/// before it gives up until the next poll.
const MAX_REQUERIES: u32 = 5;

/// The rest of a pull's query once its records up to `position` — in the query's
/// (SystemModstamp, Id) order — are applied: everything after it. Whatever the original
/// query's lower bound (the cursor, or the overlap window before it), `position` is at or
/// past it, so this reads exactly what the original query had left to give.
fn after_soql(m: &StoredMapping, position: &Cursor) -> String {
    let object = &m.resolved.object;
    let filter = m.filter_clause("AND");
    let stamp = sf_datetime(position.systemmodstamp);
    let last_id: String = position
        .last_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    format!(
        "SELECT {} FROM {object} WHERE (SystemModstamp > {stamp} OR (SystemModstamp = {stamp} AND Id > '{last_id}')){filter} ORDER BY SystemModstamp, Id",
        select_list(&m.resolved),
    )
}

/// What a poll read ahead for one object: its query's first page and Salesforce's
/// visibility guarantee, asked just before it.
#[derive(Default)]
pub struct Ahead {
    pub page: Option<QueryPage>,
    pub covered: Option<Covered>,
}

/// Reads the first page of the due mappings' incremental queries in composite requests of
/// five objects each — one API call per five objects when nothing changed. Before each
/// query, in the same request, the replication API says what was visible (`/updated` over
/// the last minute before `at`, Salesforce's time now): the next poll's late-change window
/// starts from it (see [`late_from`]). A sub-request that failed is left out: the object
/// queries on its own, and its next window falls back on the overlap.
pub async fn prefetch(
    ctx: &Ctx<'_>,
    due: &[(&StoredMapping, String)],
    at: Option<DateTime<Utc>>,
) -> Result<std::collections::HashMap<String, Ahead>, StepError> {
    use crate::salesforce::rest::{SubRequest, encode, replication_minute, replication_path};
    let mut out = std::collections::HashMap::new();
    for chunk in due.chunks(crate::salesforce::rest::COMPOSITE_HEAVY) {
        if chunk.len() == 1 && at.is_none() {
            continue; // a lone query costs one call either way
        }
        let mut requests = Vec::with_capacity(chunk.len() * 2);
        for (i, (m, soql)) in chunk.iter().enumerate() {
            if let Some(at) = at {
                let start = replication_minute(at) - chrono::Duration::minutes(1);
                requests.push(SubRequest {
                    method: "GET".into(),
                    url: replication_path(&m.resolved.object, "updated", start, at)?,
                    reference_id: format!("u{i}"),
                    body: None,
                });
            }
            requests.push(SubRequest {
                method: "GET".into(),
                url: crate::salesforce::Api::data_path(&format!("/queryAll?q={}", encode(soql))),
                reference_id: format!("q{i}"),
                body: None,
            });
        }
        for a in ctx.api.composite(requests, false).await? {
            let (kind, i) = a.reference_id.split_at(1);
            let Some((m, _)) = i.parse::<usize>().ok().and_then(|i| chunk.get(i)) else {
                continue;
            };
            let entry: &mut Ahead = out.entry(m.resolved.object.clone()).or_default();
            if a.http_status_code != 200 {
                continue;
            }
            match (kind, at) {
                ("q", _) => entry.page = serde_json::from_value::<QueryPage>(a.body).ok(),
                ("u", Some(at)) => {
                    entry.covered = a.body["latestDateCovered"]
                        .as_str()
                        .and_then(parse_datetime)
                        .map(|latest| Covered {
                            latest,
                            in_flight: latest < replication_minute(at),
                        });
                }
                _ => {}
            }
        }
    }
    Ok(out)
}

/// Pulls the object's changes. What it writes without Salesforce's value (a field whose
/// local change is pending) goes into `watch`, page by page, for the push's conflict check.
pub async fn run(
    ctx: &Ctx<'_>,
    m: &StoredMapping,
    prefetched: Option<QueryPage>,
    seen: Option<Seen>,
    watch: &mut super::conflicts::Watch,
) -> Result<(), StepError> {
    let object = &m.resolved.object;
    let cursor = ctx.target.cursor(object).await?;
    if cursor.is_none() {
        // A first load does not report what it kept: the next push reads every record.
        watch.complete = false;
        // A first load: a count says whether a Bulk query is worth it (cheaper than a
        // first page, which Salesforce must sort).
        let total = ctx
            .api
            .count(&format!(
                "SELECT COUNT() FROM {object}{}",
                m.filter_clause("WHERE")
            ))
            .await?;
        if total > ctx.state.engine.config.bulk_threshold {
            return initial_bulk_load(ctx, m, total).await;
        }
    }
    let soql = match &cursor {
        Some(c) => incremental_soql(ctx, m, c, seen),
        None => {
            let where_clause = m.filter_clause("WHERE");
            format!(
                "SELECT {} FROM {object}{where_clause} ORDER BY SystemModstamp, Id",
                select_list(&m.resolved)
            )
        }
    };
    // A page read ahead in a composite request comes first; the pager continues after it.
    let prefetched = if cursor.is_some() { prefetched } else { None };
    let status = ctx.state.engine.status();
    if cursor.is_some() {
        status.update(ctx.org, object, m.mapping.direction, |s| {
            if s.state != ObjectState::Error {
                s.state = ObjectState::Pulling;
            }
        });
    }
    let mut pager = match &prefetched {
        Some(p) => ctx.api.query_from(if p.done {
            None
        } else {
            p.next_records_url.clone()
        }),
        None => ctx.api.query(&soql, true, None),
    };
    let mut ahead = prefetched;
    let mut current = cursor.clone();
    // Where the query's (SystemModstamp, Id) order has been read to: every record up to
    // here is applied, whether or not it moved the cursor (the overlap window's do not).
    let mut read_to: Option<Cursor> = None;
    let mut requeries = 0u32;
    let mut done = 0u64;
    let mut first = true;
    loop {
        let page = match ahead.take() {
            Some(p) => p,
            None => match pager.next_page().await {
                Ok(Some(p)) => p,
                Ok(None) => break,
                // The query's server-side cursor is gone: released for a newer one (ten
                // per user), idle too long, or its page already read once (a retried
                // request). The query goes on from where it was read to, in the same order:
                // nothing is skipped, and at most what was in flight is read again.
                Err(e)
                    if crate::salesforce::rest::is_invalid_locator(&e)
                        && requeries < MAX_REQUERIES =>
                {
                    requeries += 1;
                    tracing::info!(
                        object = %object,
                        "the query's cursor is no longer valid; querying again from where it was read to"
                    );
                    pager = match &read_to {
                        Some(position) => ctx.api.query(&after_soql(m, position), true, None),
                        None => ctx.api.query(&soql, true, None),
                    };
                    continue;
                }
                Err(e) => return Err(e.into()),
            },
        };
        requeries = 0;
        if first {
            first = false;
            let total = page.total_size;
            if cursor.is_none() {
                status.update(ctx.org, object, m.mapping.direction, |s| {
                    s.state = ObjectState::InitialLoad;
                    s.initial_load = Some((0, total));
                });
            }
        }
        let mut live = Vec::with_capacity(page.records.len());
        let mut deleted = Vec::new();
        for record in page.records {
            let Some((row, is_deleted)) = to_row(record) else {
                continue;
            };
            if let Some(stamp) = row.systemmodstamp
                && read_to.as_ref().is_none_or(|r| later(r, stamp, &row.sfid))
            {
                read_to = Some(Cursor {
                    systemmodstamp: stamp,
                    last_id: row.sfid.clone(),
                });
            }
            if let Some(stamp) = row.systemmodstamp
                && current.as_ref().is_none_or(|c| later(c, stamp, &row.sfid))
            {
                current = Some(Cursor {
                    systemmodstamp: stamp,
                    last_id: row.sfid.clone(),
                });
            }
            if is_deleted {
                deleted.push(row.sfid);
            } else {
                live.push(row);
            }
        }
        remove_deleted(ctx, m, &deleted).await?;
        // A record whose row was detached matches the row filter again.
        let sfids: Vec<String> = live.iter().map(|r| r.sfid.clone()).collect();
        super::reload::reattach(ctx, m, &sfids).await?;
        // One record the database refuses (a value too long for its column, say) must not
        // stall the object: it is reported and skipped, the page and cursor go on.
        let report = ctx
            .target
            .upsert_rows_lenient(
                &m.resolved,
                &live,
                current
                    .as_ref()
                    .map(|c| crate::targetdb::Position::pull(object, c)),
                keeps_local(m),
            )
            .await?;
        let written = report.written;
        watch.kept.extend(report.kept_local);
        report_refused(ctx, m, &report.rejected);
        let recent = ctx.state.engine.recent();
        recent.wrote(ctx.org, object, &live, &report.rejected);
        done += (live.len() + deleted.len()) as u64;
        status.update(ctx.org, object, m.mapping.direction, |s| {
            s.pulled_total += written + deleted.len() as u64;
            if let Some((_, total)) = s.initial_load {
                s.initial_load = Some((done.min(total), total));
            }
        });
    }
    if current.is_none() {
        // An object with no records yet: remember that everything so far was read, so the
        // next polls are incremental (and batched with other objects') like any other.
        let start = Cursor {
            systemmodstamp: DateTime::<Utc>::UNIX_EPOCH,
            last_id: String::new(),
        };
        ctx.target
            .upsert_rows(&m.resolved, &[], Some(&start))
            .await?;
    }
    status.update(ctx.org, object, m.mapping.direction, |s| {
        if s.state == ObjectState::InitialLoad {
            s.state = ObjectState::Synced;
            s.initial_load = None;
        }
        s.last_sync_at = Some(Utc::now());
    });
    Ok(())
}

/// Deletes the rows of records deleted in Salesforce (their unsent changes settled with
/// them) and says so.
pub(super) async fn remove_deleted(
    ctx: &Ctx<'_>,
    m: &StoredMapping,
    deleted: &[String],
) -> Result<(), StepError> {
    if deleted.is_empty() {
        return Ok(());
    }
    let object = &m.resolved.object;
    ctx.target.delete_rows(&m.resolved, deleted).await?;
    ctx.state.engine.recent().deleted(ctx.org, object, deleted);
    // A deleted record's failed changes are settled with its row.
    if ctx
        .state
        .engine
        .status()
        .get(ctx.org, object)
        .is_some_and(|s| s.failed_records > 0)
    {
        super::failures::publish_failed_count(ctx.state, ctx.org, m, ctx.target).await;
    }
    Ok(())
}

/// A bidirectional mapping's pull never overwrites a field whose local change is not
/// pushed yet (see [`crate::targetdb::keep_pending_local`]).
pub(super) fn keeps_local(m: &StoredMapping) -> bool {
    m.mapping.direction == datenator_shared::model::Direction::Bidirectional
}

/// Logs the pulled records the database refused and puts the first on the object's status.
pub(super) fn report_refused(ctx: &Ctx<'_>, m: &StoredMapping, rejected: &[RejectedRow]) {
    for r in rejected {
        tracing::warn!(sfid = %r.sfid, "the database refused a pulled record: {}", r.error);
    }
    if let Some(r) = rejected.first() {
        // Often a field's type changed in Salesforce: checked soon.
        super::drift::records_refused(ctx.org, &m.mapping.object);
        let message = format!(
            "{} record(s) refused by the database, e.g. {}: {}",
            rejected.len(),
            r.sfid,
            r.error
        );
        let status = ctx.state.engine.status();
        status.update(ctx.org, &m.resolved.object, m.mapping.direction, |s| {
            s.last_error = Some(message);
        });
    }
}

/// A REST record as a target row; `None` for a record without an Id.
fn to_row(mut record: Map<String, Value>) -> Option<(Row, bool)> {
    record.remove("attributes");
    let sfid = record.get("Id")?.as_str()?.to_owned();
    let stamp = record
        .get("SystemModstamp")
        .and_then(Value::as_str)
        .and_then(parse_datetime);
    let deleted = record
        .remove("IsDeleted")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    Some((
        Row {
            sfid,
            systemmodstamp: stamp,
            values: record,
        },
        deleted,
    ))
}

/// Records per Bulk result page (each split into chunks of [`LOAD_CHUNK`]).
const PAGE_RECORDS: u64 = 50_000;

/// Records of one bulk-load call and the greatest (SystemModstamp, Id) among them.
struct LoadChunk {
    records: CsvChunk,
    cursor: Option<Cursor>,
}

fn protocol_error(e: String) -> StepError {
    StepError::Salesforce(crate::salesforce::SalesforceError::Protocol(e))
}

/// Splits one Bulk CSV page into chunks of [`LOAD_CHUNK`] records with an Id, handed to
/// `emit`; the cells stay text (the target types them, or loads them as they are).
/// Returns true when `emit` refused one (the receiver is gone).
fn parse_page(csv_text: &str, mut emit: impl FnMut(LoadChunk) -> bool) -> Result<bool, StepError> {
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let header = std::sync::Arc::new(CsvHeader::new(
        reader
            .headers()
            .map_err(|e| protocol_error(e.to_string()))?
            .iter()
            .map(str::to_owned)
            .collect(),
    ));
    let (id_col, stamp_col) = (header.id_column(), header.stamp_column());
    let fresh = || LoadChunk {
        records: CsvChunk {
            header: header.clone(),
            records: Vec::with_capacity(LOAD_CHUNK),
        },
        cursor: None,
    };
    let mut chunk = fresh();
    let mut record = csv::StringRecord::new();
    while reader
        .read_record(&mut record)
        .map_err(|e| protocol_error(e.to_string()))?
    {
        let Some(sfid) = id_col.and_then(|i| record.get(i)).filter(|s| !s.is_empty()) else {
            continue;
        };
        if let Some(stamp) = stamp_col
            .and_then(|i| record.get(i))
            .and_then(parse_datetime)
            && chunk.cursor.as_ref().is_none_or(|c| later(c, stamp, sfid))
        {
            chunk.cursor = Some(Cursor {
                systemmodstamp: stamp,
                last_id: sfid.to_owned(),
            });
        }
        chunk.records.records.push(std::mem::take(&mut record));
        if chunk.records.records.len() == LOAD_CHUNK
            && !emit(std::mem::replace(&mut chunk, fresh()))
        {
            return Ok(true);
        }
    }
    Ok(!chunk.records.records.is_empty() && !emit(chunk))
}

/// The first load of a large object: one Bulk API query job, streamed page by page into
/// the table with the fastest load the database has, then the cursor stored.
async fn initial_bulk_load(ctx: &Ctx<'_>, m: &StoredMapping, total: u64) -> Result<(), StepError> {
    let object = &m.resolved.object;
    let status = ctx.state.engine.status();
    status.update(ctx.org, object, m.mapping.direction, |s| {
        s.state = ObjectState::InitialLoad;
        s.initial_load = Some((0, total));
    });
    let names: Vec<&str> = m.resolved.fields.iter().map(|f| f.name.as_str()).collect();
    let where_clause = m.filter_clause("WHERE");
    let soql = format!("SELECT {} FROM {object}{where_clause}", names.join(", "));
    tracing::info!(total, "first load through a Bulk API query");
    let mut job = ctx
        .api
        .bulk_query(&soql, false, Some(PAGE_RECORDS), PollPolicy::default())
        .await?;
    // A pipeline: pages download and parse (on a blocking thread) while the database loads
    // the chunks already parsed; the bounded channel keeps memory flat.
    // Room for a page and a half of chunks: the next page downloads while the database
    // loads this one's, so the loader never waits on Salesforce between pages.
    let (tx, rx) =
        tokio::sync::mpsc::channel::<LoadChunk>((PAGE_RECORDS as usize / LOAD_CHUNK) * 3 / 2);
    let fetch = async move {
        let tx = tx; // dropped when the pages end, which ends the loader's loop
        while let Some(csv_text) = job.next_page().await? {
            let tx = tx.clone();
            // Each chunk goes to the loader as soon as it is parsed.
            let stopped = tokio::task::spawn_blocking(move || {
                parse_page(&csv_text, |chunk| tx.blocking_send(chunk).is_ok())
            })
            .await
            .map_err(|e| protocol_error(e.to_string()))??;
            if stopped {
                return Ok(()); // the loader stopped on an error of its own
            }
        }
        Ok::<(), StepError>(())
    };
    // PostgreSQL takes two chunks at once (two backends, each a COPY of its own); the
    // others one at a time (SQLite has one writer).
    let parallel = match ctx.target.dialect() {
        Dialect::Postgres => 2,
        _ => 1,
    };
    let load = async move {
        use futures::StreamExt;
        let mut cursor: Option<Cursor> = None;
        let mut done = 0u64;
        let mut failure = None;
        let mut refused = Vec::new();
        let mut loads = std::pin::pin!(
            futures::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|chunk| (chunk, rx))
            })
            .map(|LoadChunk { records, cursor }| async move {
                match ctx.target.bulk_load_csv(&m.resolved, &records).await {
                    Ok(n) => Ok((n, cursor, Vec::new())),
                    // A record the database refuses must not stall the load: the chunk
                    // goes again record by record, the refused ones left out and reported.
                    Err(e) => {
                        tracing::debug!("a load chunk failed ({e}); loading it record by record");
                        let rows = records.to_rows(&m.resolved);
                        let report = ctx
                            .target
                            .upsert_rows_lenient(&m.resolved, &rows, None, keeps_local(m))
                            .await?;
                        Ok::<_, crate::targetdb::TargetError>((
                            report.written,
                            cursor,
                            report.rejected,
                        ))
                    }
                }
            })
            .buffer_unordered(parallel)
        );
        while let Some(loaded) = loads.next().await {
            let last = match loaded {
                Ok((n, last, rejected)) => {
                    done += n;
                    refused.extend(rejected);
                    last
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            if let Some(c) = last
                && cursor
                    .as_ref()
                    .is_none_or(|k| later(k, c.systemmodstamp, &c.last_id))
            {
                cursor = Some(c);
            }
            status.update(ctx.org, object, m.mapping.direction, |s| {
                s.initial_load = Some((done.min(total), total))
            });
        }
        // The receiver ends with this block: a parser waiting on the full channel sees it
        // closed and stops.
        report_refused(ctx, m, &refused);
        match failure {
            Some(e) => Err(StepError::from(e)),
            None => Ok((cursor, done)),
        }
    };
    let (loaded, fetched) = tokio::join!(load, fetch);
    let (cursor, done) = loaded?;
    fetched?;
    // The cursor goes in last: a crash before this point loads again, which upserts.
    ctx.target
        .upsert_rows(&m.resolved, &[], cursor.as_ref())
        .await?;
    status.update(ctx.org, object, m.mapping.direction, |s| {
        s.state = ObjectState::Synced;
        s.initial_load = None;
        s.pulled_total += done;
        s.last_sync_at = Some(Utc::now());
    });
    tracing::info!(rows = done, "first load done");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        parse_datetime(s).unwrap()
    }

    #[test]
    fn the_late_change_window_follows_salesforces_guarantee_where_it_has_one() {
        let cursor = Cursor {
            systemmodstamp: at("2026-12-03T10:00:30Z"),
            last_id: "001000000000001AAA".into(),
        };
        let overlap = chrono::Duration::seconds(120);
        // After a start: the overlap behind the cursor.
        assert_eq!(
            late_from(overlap, &cursor, None),
            at("2026-12-03T09:58:30Z")
        );
        let seen = |covered| {
            Some(Seen {
                polled_at: at("2026-12-03T10:05:40Z"),
                covered,
            })
        };
        // No guarantee: the overlap behind the previous poll, not behind the cursor.
        assert_eq!(
            late_from(overlap, &cursor, seen(None)),
            at("2026-12-03T10:03:40Z")
        );
        // Everything before 10:05 was visible: the window starts there (narrower than the
        // overlap's guess).
        let covered = Covered {
            latest: at("2026-12-03T10:05:00Z"),
            in_flight: false,
        };
        assert_eq!(
            late_from(overlap, &cursor, seen(Some(covered))),
            at("2026-12-03T10:05:00Z")
        );
        // A short overlap is not widened to the minute when nothing was in flight.
        let short = chrono::Duration::seconds(5);
        assert_eq!(
            late_from(short, &cursor, seen(Some(covered))),
            at("2026-12-03T10:05:35Z")
        );
        // A transaction that began at 09:41 had not committed: back to it, however long
        // ago, whatever the overlap.
        let in_flight = Covered {
            latest: at("2026-12-03T09:41:00Z"),
            in_flight: true,
        };
        assert_eq!(
            late_from(short, &cursor, seen(Some(in_flight))),
            at("2026-12-03T09:41:00Z")
        );
        assert_eq!(
            late_from(overlap, &cursor, seen(Some(in_flight))),
            at("2026-12-03T09:41:00Z")
        );
    }

    #[test]
    fn bulk_pages_split_into_chunks_with_their_cursor() {
        let mut page = String::from("Id,SystemModstamp,Name\n");
        for i in 0..LOAD_CHUNK + 5 {
            page.push_str(&format!("001{i:015},2024-01-31T12:00:00.000Z,\"n, {i}\"\n"));
        }
        page.push_str(",2024-02-01T00:00:00.000Z,no id\n");
        let mut chunks = Vec::new();
        let stopped = parse_page(&page, |c| {
            chunks.push(c);
            true
        })
        .unwrap();
        assert!(!stopped);
        let sizes: Vec<usize> = chunks.iter().map(|c| c.records.records.len()).collect();
        assert_eq!(
            sizes,
            [LOAD_CHUNK, 5],
            "the record without an Id is left out"
        );
        let last = chunks[1].cursor.as_ref().unwrap();
        assert_eq!(last.last_id, format!("001{:015}", LOAD_CHUNK + 4));
        let last_name = format!("n, {}", LOAD_CHUNK + 4);
        assert_eq!(
            chunks[1].records.records[4].get(2),
            Some(last_name.as_str())
        );
    }
}
