//! Bulk API 2.0 query jobs: run in the background, results as CSV pages behind locators.

use super::{bad_state, csv_line, delimiter, end_line, job_not_found, push_cell};
use crate::resp::Resp;
use crate::rest::Req;
use crate::schema::FieldType;
use crate::sim::Sim;
use crate::soql::eval::compile;
use crate::soql::parse;
use crate::value::fmt_datetime;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

const DEFAULT_PAGE: usize = 50_000;

#[derive(Clone, Debug)]
pub struct QueryJob {
    pub id: String,
    pub operation: String,
    pub object: String,
    pub query: String,
    pub state: String,
    pub created_by: String,
    pub created: DateTime<Utc>,
    pub modstamp: DateTime<Utc>,
    pub api_version: String,
    pub line_ending: String,
    pub column_delimiter: String,
    pub header: String,
    pub rows: Arc<Vec<String>>,
    pub error_message: Option<String>,
    pub processing_ms: u64,
}

impl QueryJob {
    fn info(&self, full: bool) -> serde_json::Value {
        let mut v = json!({
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": self.created_by,
            "createdDate": fmt_datetime(&self.created),
            "systemModstamp": fmt_datetime(&self.modstamp),
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": self.api_version.parse::<f64>().unwrap_or(59.0),
            "lineEnding": self.line_ending,
            "columnDelimiter": self.column_delimiter,
        });
        if full {
            v["jobType"] = json!("V2Query");
            v["numberRecordsProcessed"] = json!(self.rows.len());
            v["retries"] = json!(0);
            v["totalProcessingTime"] = json!(self.processing_ms);
            v["isPkChunkingSupported"] = json!(true);
            if let Some(e) = &self.error_message {
                v["errorMessage"] = json!(e);
            }
        }
        v
    }
}

pub fn route(sim: &Sim, req: &Req) -> Resp {
    match (req.method.as_str(), req.segs.len(), req.seg(3)) {
        ("POST", 2, _) => create(sim, req),
        ("GET", 2, _) => {
            let jobs: Vec<_> = sim.bulk().query.values().map(|j| j.info(false)).collect();
            Resp::ok(json!({"done": true, "records": jobs, "nextRecordsUrl": null}))
        }
        ("GET", 3, _) => match sim.bulk().query.get(req.seg(2)) {
            Some(j) => Resp::ok(j.info(true)),
            None => job_not_found(),
        },
        ("PATCH", 3, _) => {
            let body = match req.json() {
                Ok(b) => b,
                Err(r) => return r,
            };
            let mut b = sim.bulk();
            let Some(j) = b.query.get_mut(req.seg(2)) else {
                return job_not_found();
            };
            if body["state"] != "Aborted"
                || !matches!(j.state.as_str(), "UploadComplete" | "InProgress")
            {
                return bad_state(&format!(
                    "Changing the state of a job from {} is not allowed",
                    j.state
                ));
            }
            j.state = "Aborted".into();
            Resp::ok(j.info(false))
        }
        ("DELETE", 3, _) => match sim.bulk().query.remove(req.seg(2)) {
            Some(_) => Resp::empty(204),
            None => job_not_found(),
        },
        ("GET", 4, "results") => results(sim, req),
        _ => Resp::not_found(),
    }
}

fn create(sim: &Sim, req: &Req) -> Resp {
    let body = match req.json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let operation = body["operation"].as_str().unwrap_or("query").to_string();
    if operation != "query" && operation != "queryAll" {
        return Resp::error(
            400,
            "INVALIDJOB",
            format!("InvalidJob : Invalid operation: {operation}"),
        );
    }
    let Some(q) = body["query"].as_str() else {
        return Resp::error(400, "INVALIDJOB", "InvalidJob : query is required");
    };
    let column_delimiter = body["columnDelimiter"]
        .as_str()
        .unwrap_or("COMMA")
        .to_string();
    if delimiter(&column_delimiter).is_none() {
        return Resp::error(
            400,
            "INVALIDJOB",
            format!("InvalidJob : Invalid column delimiter: {column_delimiter}"),
        );
    }
    let object = {
        let org = sim.org();
        let c = match compile(&org, q) {
            Ok(c) => c,
            Err(e) => return Resp::error(400, e.code, e.message),
        };
        if c.columns.iter().any(|col| col.field.ftype.is_compound()) {
            return Resp::error(
                400,
                "FUNCTIONALITY_NOT_ENABLED",
                "Selecting compound data not supported in Bulk Query",
            );
        }
        if let Some(col) = c
            .columns
            .iter()
            .find(|col| col.field.ftype == FieldType::Base64)
        {
            return Resp::error(
                400,
                "FUNCTIONALITY_NOT_ENABLED",
                format!(
                    "Selecting a base64 field ({}) is not supported in Bulk Query",
                    col.field.name
                ),
            );
        }
        let parsed = parse(q).ok();
        if c.count || c.grouping.is_some() || parsed.as_ref().is_some_and(|p| p.offset.is_some()) {
            return Resp::error(
                400,
                "INVALIDJOB",
                "InvalidJob : Aggregate queries, COUNT() and OFFSET are not supported by Bulk API 2.0 query jobs",
            );
        }
        if !c.children.is_empty() || !c.typeofs.is_empty() {
            return Resp::error(
                400,
                "INVALIDJOB",
                "InvalidJob : Nested (parent-to-child) queries and TYPEOF are not supported by Bulk API 2.0 query jobs",
            );
        }
        c.object.clone()
    };
    let now = Utc::now();
    let mut b = sim.bulk();
    let id = b.next_id();
    let job = QueryJob {
        id: id.clone(),
        operation,
        object,
        query: q.to_string(),
        state: "UploadComplete".into(),
        created_by: req.user_id.clone(),
        created: now,
        modstamp: now,
        api_version: req.version.clone(),
        line_ending: body["lineEnding"].as_str().unwrap_or("LF").to_string(),
        column_delimiter,
        header: String::new(),
        rows: Arc::new(vec![]),
        error_message: None,
        processing_ms: 0,
    };
    let info = job.info(false);
    b.query.insert(id.clone(), job);
    drop(b);
    sim.acct().bulk_query_jobs += 1;
    let sim2 = sim.clone();
    tokio::task::spawn_blocking(move || run(&sim2, &id));
    Resp::ok(info)
}

fn run(sim: &Sim, id: &str) {
    let started = Instant::now();
    let Some((q, all, delim, crlf)) = sim.bulk().query.get_mut(id).map(|j| {
        j.state = "InProgress".into();
        (
            j.query.clone(),
            j.operation == "queryAll",
            delimiter(&j.column_delimiter).unwrap_or(b','),
            j.line_ending == "CRLF",
        )
    }) else {
        return;
    };
    let (header, c, ids) = {
        let org = sim.org();
        let c = match compile(&org, &q) {
            Ok(c) => c,
            Err(e) => {
                drop(org);
                if let Some(j) = sim.bulk().query.get_mut(id) {
                    j.state = "Failed".into();
                    j.error_message = Some(e.message);
                }
                return;
            }
        };
        let ids = c.run(&org, all);
        let h = c.header();
        let header = csv_line(
            &h.iter().map(|s| Some(s.as_str())).collect::<Vec<_>>(),
            delim,
            crlf,
        );
        (header, c, ids)
    };
    // Render in chunks so API calls are not locked out of the org for the whole job; each
    // chunk on every core, as Salesforce's servers would.
    let render = |org: &crate::store::Org, ids: &[String]| -> Vec<String> {
        ids.iter()
            .map(|id| {
                let mut line = String::with_capacity(256);
                let mut first = true;
                if c.csv_cells(org, id, |cell| {
                    if !std::mem::take(&mut first) {
                        line.push(delim as char);
                    }
                    push_cell(&mut line, cell);
                }) {
                    end_line(&mut line, crlf);
                } else {
                    // A record gone between the query and its rendering: an empty row.
                    line = csv_line(&[], delim, crlf);
                }
                line
            })
            .collect()
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    let mut out: Vec<String> = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(10_000 * threads) {
        let org = sim.org();
        let org: &crate::store::Org = &org;
        let parts = std::thread::scope(|scope| {
            let handles: Vec<_> = chunk
                .chunks(chunk.len().div_ceil(threads))
                .map(|part| scope.spawn(|| render(org, part)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect::<Vec<_>>()
        });
        out.extend(parts.into_iter().flatten());
    }
    let rows = out;
    if let Some(j) = sim.bulk().query.get_mut(id)
        && j.state == "InProgress"
    {
        j.header = header;
        j.rows = Arc::new(rows);
        j.state = "JobComplete".into();
        j.modstamp = Utc::now();
        j.processing_ms = started.elapsed().as_millis() as u64;
    }
}

fn results(sim: &Sim, req: &Req) -> Resp {
    let Some(job) = sim.bulk().query.get(req.seg(2)).cloned() else {
        return job_not_found();
    };
    if job.state != "JobComplete" {
        return bad_state(&format!(
            "Results are not available for a job in state {}",
            job.state
        ));
    }
    let offset = match req.q("locator").filter(|l| !l.is_empty() && *l != "null") {
        None => 0,
        Some(l) => match STANDARD
            .decode(l)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.parse::<usize>().ok())
        {
            Some(o) if o <= job.rows.len() => o,
            _ => return Resp::error(400, "INVALID_QUERY_LOCATOR", "invalid query locator"),
        },
    };
    let max = req
        .q("maxRecords")
        .and_then(|m| m.parse::<usize>().ok())
        .filter(|m| *m > 0)
        .unwrap_or(DEFAULT_PAGE);
    let end = (offset + max).min(job.rows.len());
    let mut out = String::with_capacity(job.header.len() + (end - offset) * 64);
    out.push_str(&job.header);
    for r in &job.rows[offset..end] {
        out.push_str(r);
    }
    let locator = if end < job.rows.len() {
        STANDARD.encode(end.to_string())
    } else {
        "null".to_string()
    };
    Resp::text(200, out, "text/csv")
        .header("sforce-numberofrecords", (end - offset).to_string())
        .header("sforce-locator", locator)
}
