//! Bulk API 2.0 ingest for large pushes. [`push`](super::push) sends each operation's
//! records through [`create_records`], [`update_records`] and [`delete_records`] here: below
//! `[sync] push_bulk_threshold` records they go through sObject Collections (200 a call), from
//! it on through one ingest job — create, upload CSV, close, poll, read results: about five
//! calls whatever the size. The answers come back as collections-shaped [`RecordResult`]s in
//! request order, so push handles both paths alike: successes are done (inserts get their
//! sfid written back), refusals are stored as failures, and row locks
//! (`UNABLE_TO_LOCK_ROW`) and records the job never processed ([`UNPROCESSED`]) go back to
//! the queue.
//!
//! Results come back in no particular order. Updates and deletes are matched by the `Id`
//! column, which Salesforce echoes; inserts by all the cells sent (two rows sent with exactly
//! the same cells are interchangeable, since they made identical records).
//!
//! No duplicates. An insert job is only ever processed after it is closed, so:
//! * an upload whose answer is lost aborts the still-open job (nothing of it is processed)
//!   and its records go back to the queue;
//! * once closed, the job is polled to its end and its results read, whatever error came on
//!   the way (a lost close answer, a dropped poll);
//! * when that too fails — Salesforce unreachable, or the daemon killed — the outcome is
//!   unknown: push flags the mapping, and before its next creates [`settle_jobs`] finds the
//!   org user's unfinished ingest jobs of the object in Salesforce's own job list, aborts the
//!   open ones and waits for the running ones; only then are the pending creates looked up in
//!   Salesforce (push's `find_created`) and adopted or sent. Salesforce keeps the job list for
//!   seven days, so the job id needs no local record: a restarted daemon finds it there.
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::worker::{Ctx, StepError};
use crate::mappings::StoredMapping;
use crate::salesforce::SalesforceError;
use crate::salesforce::bulk::JobInfo;
use crate::salesforce::error::ApiError;
use crate::salesforce::rest::RecordResult;
use crate::targetdb::{Event, Target};

/// The error code of a record an ingest job did not process (aborted job): sent again.
pub const UNPROCESSED: &str = "BULK_UNPROCESSED";

/// How long a job may run before the push round gives up waiting (and retries later).
const JOB_TIMEOUT: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Insert,
    Update,
    Delete,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Insert => "insert",
            Op::Update => "update",
            Op::Delete => "delete",
        }
    }
}

fn use_bulk(ctx: &Ctx<'_>, n: usize) -> bool {
    let t = ctx.state.engine.config.push_bulk_threshold;
    t > 0 && n >= t
}

/// When a push round claimed a full batch and Bulk is on, claims more events (up to
/// `push_bulk_batch`) so one ingest job carries them all. Returns every claimed event in id
/// order, or `None` when nothing more was claimed.
pub async fn claim_more(
    ctx: &Ctx<'_>,
    m: &StoredMapping,
    events: &[Event],
) -> Result<Option<Vec<Event>>, StepError> {
    let cfg = &ctx.state.engine.config;
    if cfg.push_bulk_threshold == 0
        || events.len() < cfg.push_batch
        || events.len() >= cfg.push_bulk_batch
    {
        return Ok(None);
    }
    let mut all = events.to_vec();
    while all.len() < cfg.push_bulk_batch {
        let want = (cfg.push_bulk_batch - all.len()).min(cfg.push_batch.max(1));
        let more = ctx.target.claim_events(&m.resolved, want).await?;
        let got = more.len();
        all.extend(more);
        if got < want {
            break;
        }
    }
    if all.len() == events.len() {
        return Ok(None);
    }
    all.sort_by_key(|e| e.id);
    Ok(Some(all))
}

/// Creates records: through Collections, or a Bulk insert job from the threshold on.
pub async fn create_records(
    ctx: &Ctx<'_>,
    object: &str,
    records: &[Map<String, Value>],
) -> Result<Vec<RecordResult>, SalesforceError> {
    if !use_bulk(ctx, records.len()) {
        return ctx.api.create_records(object, records).await;
    }
    ingest(ctx, object, Op::Insert, records).await
}

/// Updates records (each with its `Id`): Collections, or a Bulk update job.
pub async fn update_records(
    ctx: &Ctx<'_>,
    object: &str,
    records: &[Map<String, Value>],
) -> Result<Vec<RecordResult>, SalesforceError> {
    if !use_bulk(ctx, records.len()) {
        return ctx.api.update_records(object, records).await;
    }
    ingest(ctx, object, Op::Update, records).await
}

/// Deletes records by id: Collections, or a Bulk delete job.
pub async fn delete_records(
    ctx: &Ctx<'_>,
    object: &str,
    ids: &[String],
) -> Result<Vec<RecordResult>, SalesforceError> {
    if !use_bulk(ctx, ids.len()) {
        return ctx.api.delete_records(ids).await;
    }
    let records: Vec<Map<String, Value>> = ids
        .iter()
        .map(|id| Map::from_iter([("Id".to_owned(), Value::from(id.as_str()))]))
        .collect();
    ingest(ctx, object, Op::Delete, &records).await
}

/// Before creates whose outcome is unknown are looked up: brings every unfinished ingest
/// job of this object made by the org's user to an end — open ones (never closed, so never
/// processed) are aborted, running ones waited for — so that every record an earlier push
/// made exists before anyone looks for it.
pub async fn settle_jobs(ctx: &Ctx<'_>, object: &str) -> Result<(), StepError> {
    let user = super::adopt::org_user(ctx).await?;
    let jobs = ctx.api.ingest_jobs().await?;
    for j in jobs.iter().filter(|j| {
        j.unfinished()
            && j.object
                .as_deref()
                .is_some_and(|o| o.eq_ignore_ascii_case(object))
            && match (&user, &j.created_by_id) {
                (Some(u), Some(by)) => same_id(u, by),
                _ => true,
            }
    }) {
        tracing::info!(job = %j.id, state = %j.state, "settling an earlier Bulk job before resolving creates");
        finish(ctx, &j.id, 0).await?;
    }
    Ok(())
}

/// Salesforce ids compare on their first 15 (case-sensitive) characters.
fn same_id(a: &str, b: &str) -> bool {
    a.get(..15).unwrap_or(a) == b.get(..15).unwrap_or(b)
}

/// One ingest job for `records`; results in request order.
async fn ingest(
    ctx: &Ctx<'_>,
    object: &str,
    op: Op,
    records: &[Map<String, Value>],
) -> Result<Vec<RecordResult>, SalesforceError> {
    let (header, rows) = to_cells(op, records);
    let csv = write_csv(&header, &rows)?;
    let job = ctx.api.create_ingest_job(object, op.name(), None).await?;
    tracing::info!(job = %job.id, operation = op.name(), records = rows.len(), "pushing through a Bulk ingest job");
    let sent = match ctx.api.upload_ingest(&job.id, csv).await {
        Ok(()) => ctx
            .api
            .set_ingest_state(&job.id, "UploadComplete")
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    if let Err(e) = &sent {
        // Whatever happened, the job is brought to an end below: an open job is aborted
        // (none of it processed), a closed one runs to its end and is read.
        tracing::info!(job = %job.id, "Bulk job upload or close failed ({e}); settling the job");
    }
    let unknown = |e: SalesforceError| match (op, e) {
        (Op::Insert, e @ SalesforceError::OutcomeUnknown(_)) => e,
        (Op::Insert, e) => {
            SalesforceError::OutcomeUnknown(format!("bulk insert job {}: {e}", job.id))
        }
        (_, e) => e,
    };
    let info = finish(ctx, &job.id, rows.len()).await.map_err(unknown)?;
    read_results(ctx, &info, op, &header, &rows)
        .await
        .map_err(unknown)
}

/// Polls a job until it is finished (`JobComplete`, `Failed` or `Aborted`); an open job is
/// aborted first. `n` (records just sent; 0 for an earlier job) sets the first wait, so a
/// job costs few polls — usually one.
async fn finish(ctx: &Ctx<'_>, id: &str, n: usize) -> Result<JobInfo, SalesforceError> {
    let started = Instant::now();
    let mut wait = Duration::from_millis(250 + n as u64 / 20).min(Duration::from_secs(10));
    if n > 0 {
        // A job just closed is not done yet: a look now would only cost a call.
        tokio::time::sleep(wait).await;
    }
    loop {
        let job = ctx.api.ingest_job(id).await?;
        match job.state.as_str() {
            "Open" => {
                match ctx.api.set_ingest_state(id, "Aborted").await {
                    Ok(j) if j.state == "Aborted" => {
                        tracing::info!(job = %id, "aborted an open Bulk job; its records are sent again");
                    }
                    _ => {}
                }
                continue;
            }
            "UploadComplete" | "InProgress" => {}
            _ => return Ok(job),
        }
        if started.elapsed() > JOB_TIMEOUT {
            return Err(SalesforceError::Transient(format!(
                "bulk job {id} still {} after {:?}",
                job.state, JOB_TIMEOUT
            )));
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(10));
    }
}

/// The value of one CSV cell: empty leaves a field unchanged on update, `#N/A` sets null.
fn cell(op: Op, v: &Value) -> String {
    match v {
        Value::Null => null_cell(op),
        Value::String(s) if s.is_empty() => null_cell(op),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

fn null_cell(op: Op) -> String {
    if op == Op::Update {
        "#N/A".into()
    } else {
        String::new()
    }
}

/// The header (Id first for updates and deletes) and each record's cells. A field a record
/// does not carry is an empty cell: unchanged on update, unset on insert.
fn to_cells(op: Op, records: &[Map<String, Value>]) -> (Vec<String>, Vec<Vec<String>>) {
    let names: BTreeSet<&str> = records
        .iter()
        .flat_map(|r| r.keys().map(String::as_str))
        .filter(|k| *k != "Id")
        .collect();
    let mut header: Vec<String> = Vec::new();
    if op != Op::Insert {
        header.push("Id".into());
    }
    if op != Op::Delete {
        header.extend(names.into_iter().map(str::to_owned));
    }
    let rows = records
        .iter()
        .map(|r| {
            header
                .iter()
                .map(|h| match r.get(h) {
                    Some(v) if h == "Id" => v.as_str().unwrap_or_default().to_owned(),
                    Some(v) => cell(op, v),
                    None => String::new(),
                })
                .collect()
        })
        .collect();
    (header, rows)
}

fn write_csv(header: &[String], rows: &[Vec<String>]) -> Result<String, SalesforceError> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let bad = |e: csv::Error| SalesforceError::Invalid(format!("writing the Bulk CSV: {e}"));
    w.write_record(header).map_err(bad)?;
    for r in rows {
        w.write_record(r).map_err(bad)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| SalesforceError::Invalid(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| SalesforceError::Invalid(e.to_string()))
}

/// `CODE:message:fields --` (the Bulk API's `sf__Error`) as an [`ApiError`].
fn parse_error(text: &str) -> ApiError {
    let text = text.trim().trim_end_matches("--").trim_end();
    let (code, rest) = text.split_once(':').unwrap_or((text, ""));
    let (message, fields) = rest.rsplit_once(':').unwrap_or((rest, ""));
    ApiError {
        error_code: code.trim().to_owned(),
        message: message.trim().to_owned(),
        fields: fields
            .split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(str::to_owned)
            .collect(),
    }
}

/// A parsed result set: for each row its `sf__` columns and the cells in `header` order.
struct ResultRows {
    rows: Vec<(HashMap<String, String>, Vec<String>)>,
}

fn parse_results(text: &str, header: &[String]) -> Result<ResultRows, SalesforceError> {
    let bad = |e: csv::Error| SalesforceError::Protocol(format!("reading Bulk results: {e}"));
    let mut rows = Vec::new();
    if text.trim().is_empty() {
        return Ok(ResultRows { rows });
    }
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let head = reader.headers().map_err(bad)?.clone();
    let pos: Vec<Option<usize>> = header
        .iter()
        .map(|h| head.iter().position(|c| c.eq_ignore_ascii_case(h)))
        .collect();
    for rec in reader.records() {
        let rec = rec.map_err(bad)?;
        let sf: HashMap<String, String> = head
            .iter()
            .zip(rec.iter())
            .filter(|(h, _)| h.starts_with("sf__"))
            .map(|(h, v)| (h.to_owned(), v.to_owned()))
            .collect();
        let cells = pos
            .iter()
            .map(|p| p.and_then(|i| rec.get(i)).unwrap_or_default().to_owned())
            .collect();
        rows.push((sf, cells));
    }
    Ok(ResultRows { rows })
}

/// Reads a finished job's results and puts them in request order.
async fn read_results(
    ctx: &Ctx<'_>,
    job: &JobInfo,
    op: Op,
    header: &[String],
    rows: &[Vec<String>],
) -> Result<Vec<RecordResult>, SalesforceError> {
    let n = rows.len() as u64;
    let processed = job.number_records_processed.unwrap_or(0);
    let failed = job.number_records_failed.unwrap_or(0);
    let complete = job.state == "JobComplete";
    let ok = |id: Option<String>| RecordResult {
        id,
        success: true,
        errors: vec![],
        created: None,
    };
    // Every update or delete went through: no result set needs reading.
    if op != Op::Insert && complete && failed == 0 && processed == n {
        return Ok(rows.iter().map(|r| ok(Some(r[0].clone()))).collect());
    }
    let key = |cells: &[String]| -> String {
        if op == Op::Insert {
            cells.join("\u{1f}")
        } else {
            cells.first().cloned().unwrap_or_default()
        }
    };
    let mut index: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, r) in rows.iter().enumerate().rev() {
        index.entry(key(r)).or_default().push(i);
    }
    let mut out: Vec<Option<RecordResult>> = vec![None; rows.len()];
    let mut place = |cells: &[String], r: RecordResult| {
        if let Some(i) = index.get_mut(&key(cells)).and_then(Vec::pop) {
            out[i] = Some(r);
        }
    };
    if processed > failed || op == Op::Insert {
        let text = ctx.api.ingest_results(&job.id, "successfulResults").await?;
        for (sf, cells) in parse_results(&text, header)?.rows {
            place(
                &cells,
                ok(sf.get("sf__Id").cloned().filter(|s| !s.is_empty())),
            );
        }
    }
    if failed > 0 {
        let text = ctx.api.ingest_results(&job.id, "failedResults").await?;
        for (sf, cells) in parse_results(&text, header)?.rows {
            let error = parse_error(sf.get("sf__Error").map_or("", String::as_str));
            place(
                &cells,
                RecordResult {
                    id: None,
                    success: false,
                    errors: vec![error],
                    created: None,
                },
            );
        }
    }
    let unprocessed = || RecordResult {
        id: None,
        success: false,
        errors: vec![ApiError {
            error_code: UNPROCESSED.into(),
            message: format!("not processed by Bulk job {}; sent again", job.id),
            fields: vec![],
        }],
        created: None,
    };
    if processed < n || !complete {
        let text = ctx
            .api
            .ingest_results(&job.id, "unprocessedrecords")
            .await?;
        for (_, cells) in parse_results(&text, header)?.rows {
            place(&cells, unprocessed());
        }
    }
    let mut missing = 0usize;
    let results = out
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                missing += 1;
                match job.state.as_str() {
                    // The whole job was refused (a bad column, say): every record carries why.
                    "Failed" => RecordResult {
                        id: None,
                        success: false,
                        errors: vec![ApiError {
                            error_code: "BULK_JOB_FAILED".into(),
                            message: job
                                .error_message
                                .clone()
                                .unwrap_or_else(|| format!("Bulk job {} failed", job.id)),
                            fields: vec![],
                        }],
                        created: None,
                    },
                    _ => unprocessed(),
                }
            })
        })
        .collect();
    if missing > 0 && op == Op::Insert && complete {
        // A finished insert job that does not account for a record: it may have been
        // created. Look everything up before anything is sent again.
        return Err(SalesforceError::OutcomeUnknown(format!(
            "bulk insert job {} does not report {missing} record(s)",
            job.id
        )));
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn cells_leave_missing_fields_unchanged_and_null_explicitly() {
        let records = [
            rec(json!({"Id": "001A", "Phone": "1", "Name": "x"})),
            rec(json!({"Id": "001B", "Phone": null})),
        ];
        let (h, rows) = to_cells(Op::Update, &records);
        assert_eq!(h, ["Id", "Name", "Phone"]);
        assert_eq!(rows[0], ["001A", "x", "1"]);
        assert_eq!(rows[1], ["001B", "", "#N/A"]);
        let (h, rows) = to_cells(Op::Insert, &[rec(json!({"Name": "a,\"b\"", "N": 3}))]);
        assert_eq!(h, ["N", "Name"]);
        let csv = write_csv(&h, &rows).unwrap();
        assert_eq!(csv, "N,Name\n3,\"a,\"\"b\"\"\"\n");
        // Results may order their columns differently; cells come back in header order.
        let parsed = parse_results(
            "\"sf__Id\",\"sf__Created\",\"Name\",\"N\"\n001X,true,\"a,\"\"b\"\"\",3\n",
            &h,
        )
        .unwrap();
        assert_eq!(parsed.rows[0].1, rows[0]);
        assert_eq!(parsed.rows[0].0["sf__Id"], "001X");
    }

    #[test]
    fn bulk_errors_parse() {
        let e = parse_error("REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --");
        assert_eq!(e.error_code, "REQUIRED_FIELD_MISSING");
        assert_eq!(e.message, "Required fields are missing: [Name]");
        assert_eq!(e.fields, ["Name"]);
        let e = parse_error("UNABLE_TO_LOCK_ROW:unable to obtain exclusive access: --");
        assert_eq!(e.error_code, "UNABLE_TO_LOCK_ROW");
        assert!(e.fields.is_empty());
    }
}
