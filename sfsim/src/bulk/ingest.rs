//! Bulk API 2.0 ingest jobs: create, upload CSV, close, background processing, results.

use super::{bad_state, csv_line, delimiter, job_not_found};
use crate::resp::Resp;
use crate::rest::Req;
use crate::sim::Sim;
use crate::store::{DmlError, Raw};
use crate::value::fmt_datetime;
use chrono::{DateTime, Utc};
use serde_json::json;
use std::time::Instant;

#[derive(Clone, Debug)]
pub struct IngestJob {
    pub id: String,
    pub object: String,
    pub operation: String,
    pub external_id: Option<String>,
    pub line_ending: String,
    pub column_delimiter: String,
    pub state: String,
    pub created_by: String,
    pub created: DateTime<Utc>,
    pub modstamp: DateTime<Utc>,
    pub api_version: String,
    /// The `changeOrigin` of its change events (Bulk API, and the creating request's
    /// `Sforce-Call-Options` client).
    pub origin: String,
    pub data: Vec<u8>,
    /// Uploads received: Salesforce takes exactly one per job and refuses to close a job
    /// that got more.
    pub uploads: u32,
    pub header: Vec<String>,
    pub successful: Vec<(String, bool, Vec<String>)>,
    pub failed: Vec<(String, String, Vec<String>)>,
    pub unprocessed: Vec<Vec<String>>,
    pub processed: u64,
    pub error_message: Option<String>,
    pub processing_ms: u64,
}

impl IngestJob {
    fn info(&self, full: bool) -> serde_json::Value {
        let mut v = json!({
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": self.created_by,
            "createdDate": fmt_datetime(&self.created),
            "systemModstamp": fmt_datetime(&self.modstamp),
            "state": self.state,
            "externalIdFieldName": self.external_id,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": self.api_version.parse::<f64>().unwrap_or(59.0),
            "contentUrl": format!("services/data/v{}/jobs/ingest/{}/batches", self.api_version, self.id),
            "lineEnding": self.line_ending,
            "columnDelimiter": self.column_delimiter,
        });
        if full {
            v["jobType"] = json!("V2Ingest");
            v["numberRecordsProcessed"] = json!(self.processed);
            v["numberRecordsFailed"] = json!(self.failed.len());
            v["retries"] = json!(0);
            v["totalProcessingTime"] = json!(self.processing_ms);
            v["apiActiveProcessingTime"] = json!(self.processing_ms);
            v["apexProcessingTime"] = json!(0);
            if let Some(e) = &self.error_message {
                v["errorMessage"] = json!(e);
            }
        }
        v
    }

    fn delim(&self) -> u8 {
        delimiter(&self.column_delimiter).unwrap_or(b',')
    }
}

pub fn route(sim: &Sim, req: &Req) -> Resp {
    let m = req.method.as_str();
    match (m, req.segs.len(), req.seg(3)) {
        ("POST", 2, _) => create(sim, req),
        ("GET", 2, _) => {
            let jobs: Vec<_> = sim.bulk().ingest.values().map(|j| j.info(false)).collect();
            Resp::ok(json!({"done": true, "records": jobs, "nextRecordsUrl": null}))
        }
        ("GET", 3, _) => with_job(sim, req, |j| Resp::ok(j.info(true))),
        ("PATCH", 3, _) => patch(sim, req),
        ("DELETE", 3, _) => {
            let mut b = sim.bulk();
            match b.ingest.get(req.seg(2)).map(|j| j.state.clone()) {
                None => job_not_found(),
                Some(s) if s == "InProgress" || s == "Open" => {
                    bad_state(&format!("Deleting a job in state {s} is not allowed"))
                }
                Some(_) => {
                    b.ingest.remove(req.seg(2));
                    Resp::empty(204)
                }
            }
        }
        ("PUT", 4, "batches") => upload(sim, req),
        ("GET", 4, "successfulResults") => results(sim, req, Kind::Ok),
        ("GET", 4, "failedResults") => results(sim, req, Kind::Failed),
        ("GET", 4, "unprocessedrecords") => results(sim, req, Kind::Unprocessed),
        _ => Resp::not_found(),
    }
}

fn with_job(sim: &Sim, req: &Req, f: impl FnOnce(&IngestJob) -> Resp) -> Resp {
    match sim.bulk().ingest.get(req.seg(2)) {
        Some(j) => f(j),
        None => job_not_found(),
    }
}

fn create(sim: &Sim, req: &Req) -> Resp {
    let body = match req.json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let s = |k: &str| body[k].as_str().unwrap_or("").to_string();
    let operation = s("operation");
    if !["insert", "update", "upsert", "delete", "hardDelete"].contains(&operation.as_str()) {
        return Resp::error(
            400,
            "INVALIDJOB",
            format!("InvalidJob : Invalid operation: {operation}"),
        );
    }
    let object = {
        let org = sim.org();
        match org.table(&s("object")) {
            Some(t) => t.def.name.clone(),
            None => {
                return Resp::error(
                    400,
                    "INVALIDJOB",
                    format!("InvalidJob : Invalid object: {}", s("object")),
                );
            }
        }
    };
    let external_id = (!s("externalIdFieldName").is_empty()).then(|| s("externalIdFieldName"));
    if operation == "upsert" {
        let ok = external_id.as_deref().is_some_and(|f| {
            sim.org()
                .table(&object)
                .and_then(|t| t.def.field(f))
                .is_some_and(|fd| fd.external_id || fd.name == "Id")
        });
        if !ok {
            return Resp::error(
                400,
                "INVALIDJOB",
                "InvalidJob : External ID was blank or is not an external ID field",
            );
        }
    }
    if !s("contentType").is_empty() && s("contentType") != "CSV" {
        return Resp::error(400, "INVALIDJOB", "InvalidJob : Only CSV is supported");
    }
    let column_delimiter = if s("columnDelimiter").is_empty() {
        "COMMA".to_string()
    } else {
        s("columnDelimiter")
    };
    if delimiter(&column_delimiter).is_none() {
        return Resp::error(
            400,
            "INVALIDJOB",
            format!("InvalidJob : Invalid column delimiter: {column_delimiter}"),
        );
    }
    let line_ending = if s("lineEnding").is_empty() {
        "LF".to_string()
    } else {
        s("lineEnding")
    };
    let now = Utc::now();
    let mut b = sim.bulk();
    let id = b.next_id();
    let job = IngestJob {
        id: id.clone(),
        object,
        operation,
        external_id,
        line_ending,
        column_delimiter,
        state: "Open".into(),
        created_by: req.user_id.clone(),
        created: now,
        modstamp: now,
        api_version: req.version.clone(),
        origin: crate::streaming::api_origin(
            "bulkapi",
            &req.version,
            req.headers.get("sforce-call-options").map(String::as_str),
        ),
        data: vec![],
        uploads: 0,
        header: vec![],
        successful: vec![],
        failed: vec![],
        unprocessed: vec![],
        processed: 0,
        error_message: None,
        processing_ms: 0,
    };
    let info = job.info(false);
    b.ingest.insert(id, job);
    Resp::ok(info)
}

fn upload(sim: &Sim, req: &Req) -> Resp {
    let mut b = sim.bulk();
    let Some(job) = b.ingest.get_mut(req.seg(2)) else {
        return job_not_found();
    };
    if job.state != "Open" {
        return bad_state("Job is not open for uploads");
    }
    if req.body.len() > 100 * 1024 * 1024 {
        return Resp::error(400, "INVALIDBATCH", "Batch size exceeds the limit");
    }
    // A second upload is taken (201) like the first; the close refuses the job.
    job.uploads += 1;
    if job.uploads == 1 {
        job.data = req.body.clone();
    }
    Resp::empty(201)
}

fn patch(sim: &Sim, req: &Req) -> Resp {
    let body = match req.json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let target = body["state"].as_str().unwrap_or("");
    let mut b = sim.bulk();
    let Some(job) = b.ingest.get_mut(req.seg(2)) else {
        return job_not_found();
    };
    match (job.state.as_str(), target) {
        ("Open", "UploadComplete") if job.uploads > 1 => Resp::error(
            400,
            "INVALIDJOB",
            format!(
                "Found multipe contents for job: <{}>, please 'Close' / 'Abort' / 'Delete' the current Job then create a new Job and make sure you only do 'PUT' once on a given Job.",
                &job.id[..15]
            ),
        ),
        ("Open", "UploadComplete") => {
            job.state = "UploadComplete".into();
            job.modstamp = Utc::now();
            let info = job.info(false);
            let (sim2, id) = (sim.clone(), job.id.clone());
            drop(b);
            tokio::task::spawn_blocking(move || process(&sim2, &id));
            Resp::ok(info)
        }
        ("Open" | "UploadComplete" | "InProgress", "Aborted") => {
            job.state = "Aborted".into();
            job.modstamp = Utc::now();
            Resp::ok(job.info(false))
        }
        (from, to) => bad_state(&format!(
            "Changing the state of a job from {from} to {to} is not allowed"
        )),
    }
}

/// Processes a closed job in chunks of 200 rows (one transaction each).
pub fn process(sim: &Sim, id: &str) {
    let started = Instant::now();
    let (data, delim, op, object, ext, user, line_ending) = {
        let mut b = sim.bulk();
        let Some(job) = b.ingest.get_mut(id) else {
            return;
        };
        if job.state != "UploadComplete" {
            return;
        }
        job.state = "InProgress".into();
        (
            std::mem::take(&mut job.data),
            job.delim(),
            job.operation.clone(),
            job.object.clone(),
            job.external_id.clone(),
            job.created_by.clone(),
            job.line_ending.clone(),
        )
    };
    // Change events of this job name the Bulk API as their origin.
    let origin = sim
        .bulk()
        .ingest
        .get(id)
        .map(|j| j.origin.clone())
        .unwrap_or_default();
    let _origin = crate::streaming::Origin::set(origin);
    if wrong_line_ending(&data, &line_ending) {
        return fail(
            sim,
            id,
            &format!(
                "ClientInputError : LineEnding is invalid on user data. Current LineEnding setting is {line_ending}"
            ),
        );
    }
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delim)
        .has_headers(true)
        .flexible(true)
        .from_reader(data.as_slice());
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h
            .iter()
            .map(|s| s.trim_start_matches('\u{feff}').to_string())
            .collect(),
        Err(e) => {
            return fail(
                sim,
                id,
                &format!("InvalidBatch : Failed to parse CSV header: {e}"),
            );
        }
    };
    if data.is_empty() || header.is_empty() || header.iter().all(String::is_empty) {
        return fail(sim, id, "InvalidBatch : No data was uploaded");
    }
    let rows: Vec<Vec<String>> = reader
        .records()
        .filter_map(Result::ok)
        .map(|r| r.iter().map(String::from).collect())
        .collect();
    {
        let org = sim.org();
        let t = org.table(&object);
        let known = |h: &str| match h.split_once('.') {
            Some((rel, _)) => t.and_then(|t| t.def.field_by_relationship(rel)).is_some(),
            None => t.and_then(|t| t.def.field(h)).is_some(),
        };
        if let Some(bad) = header.iter().find(|h| !known(h)) {
            drop(org);
            return fail(
                sim,
                id,
                &format!("InvalidBatch : Field name not found : {bad}"),
            );
        }
    }
    let col = |name: &str| header.iter().position(|h| h.eq_ignore_ascii_case(name));
    let id_col = col("Id");
    let ext_col = ext.as_deref().and_then(col);
    let n = rows.len() as u64;
    let mut idx = 0;
    for chunk in rows.chunks(200) {
        if sim
            .bulk()
            .ingest
            .get(id)
            .is_none_or(|j| j.state == "Aborted")
        {
            let rest: Vec<Vec<String>> = rows[idx..].to_vec();
            if let Some(j) = sim.bulk().ingest.get_mut(id) {
                j.unprocessed = rest;
                j.header = header.clone();
            }
            return;
        }
        let mut ok = Vec::new();
        let mut failed = Vec::new();
        {
            let mut org = sim.org();
            let ctx = org.ctx(&user);
            for row in chunk {
                let raw: Vec<(String, Raw)> = header
                    .iter()
                    .zip(row.iter())
                    .filter(|(h, _)| !h.eq_ignore_ascii_case("Id"))
                    .map(|(h, v)| (h.clone(), Raw::Csv(v.clone())))
                    .collect();
                let rid = id_col.and_then(|c| row.get(c)).cloned().unwrap_or_default();
                let result: Result<(String, bool), DmlError> = if sim.faults().lock_row() {
                    Err(DmlError::new(
                        "UNABLE_TO_LOCK_ROW",
                        "unable to obtain exclusive access to this record or 1 records",
                        &[],
                    ))
                } else {
                    match op.as_str() {
                        "insert" => org.insert(&object, &raw, &ctx).map(|i| (i, true)),
                        "update" if rid.is_empty() => Err(DmlError::new(
                            "MISSING_ARGUMENT",
                            "Id not specified in an update call",
                            &[],
                        )),
                        "update" => org
                            .update(Some(&object), &rid, &raw, &ctx)
                            .map(|()| (crate::ids::normalize(&rid).unwrap_or(rid.clone()), false)),
                        "upsert" => {
                            let key = ext_col
                                .and_then(|c| row.get(c))
                                .cloned()
                                .unwrap_or_default();
                            let field = ext.clone().unwrap_or_default();
                            if key.is_empty() && !field.eq_ignore_ascii_case("Id") {
                                Err(DmlError::new(
                                    "MISSING_ARGUMENT",
                                    format!("{field} not specified"),
                                    &[],
                                ))
                            } else if key.is_empty() {
                                org.insert(&object, &raw, &ctx).map(|i| (i, true))
                            } else {
                                org.upsert(&object, &field, &key, &raw, &ctx)
                            }
                        }
                        "delete" => org
                            .delete(Some(&object), &rid, &ctx)
                            .map(|()| (crate::ids::normalize(&rid).unwrap_or(rid.clone()), false)),
                        _ => org
                            .hard_delete(&object, &rid, &ctx)
                            .map(|()| (crate::ids::normalize(&rid).unwrap_or(rid.clone()), false)),
                    }
                };
                match result {
                    Ok((rid, created)) => ok.push((rid, created, row.clone())),
                    Err(e) => {
                        let msg =
                            format!("{}:{}:{} --", e.status_code, e.message, e.fields.join(","));
                        failed.push((
                            if op == "insert" { String::new() } else { rid },
                            msg,
                            row.clone(),
                        ));
                    }
                }
            }
        }
        // Each chunk is one transaction: its change events are published now.
        sim.publish_changes();
        idx += chunk.len();
        let mut b = sim.bulk();
        if let Some(j) = b.ingest.get_mut(id) {
            j.successful.extend(ok);
            j.failed.extend(failed);
            j.processed = idx as u64;
            j.header = header.clone();
        }
    }
    // Salesforce does not return results in input order; neither do we (deterministically).
    if let Some(j) = sim.bulk().ingest.get_mut(id) {
        use rand::SeedableRng;
        use rand::seq::SliceRandom;
        let seed = id
            .bytes()
            .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64));
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        j.successful.shuffle(&mut rng);
        j.failed.shuffle(&mut rng);
    }
    {
        let mut a = sim.acct();
        a.records_ingested += n;
        a.bulk_ingest_batches += n.div_ceil(10_000).max(1);
    }
    let mut b = sim.bulk();
    if let Some(j) = b.ingest.get_mut(id)
        && j.state == "InProgress"
    {
        j.state = "JobComplete".into();
        j.modstamp = Utc::now();
        j.processing_ms = started.elapsed().as_millis() as u64;
    }
}

/// Whether the data's first line ends otherwise than the job declared (`lineEnding`): an
/// `LF` job given `\r\n`, or a `CRLF` job given a bare `\n`.
fn wrong_line_ending(data: &[u8], declared: &str) -> bool {
    match data.iter().position(|&c| c == b'\n') {
        Some(end) => (end > 0 && data[end - 1] == b'\r') != (declared == "CRLF"),
        None => false,
    }
}

fn fail(sim: &Sim, id: &str, msg: &str) {
    if let Some(j) = sim.bulk().ingest.get_mut(id) {
        j.state = "Failed".into();
        j.error_message = Some(msg.to_string());
        j.modstamp = Utc::now();
    }
}

enum Kind {
    Ok,
    Failed,
    Unprocessed,
}

fn results(sim: &Sim, req: &Req, kind: Kind) -> Resp {
    with_job(sim, req, |j| {
        let (d, crlf) = (j.delim(), j.line_ending == "CRLF");
        let header: Vec<Option<&str>> = j.header.iter().map(|s| Some(s.as_str())).collect();
        let mut out = String::new();
        match kind {
            Kind::Ok => {
                let mut h = vec![Some("sf__Id"), Some("sf__Created")];
                h.extend(header.iter().copied());
                out.push_str(&csv_line(&h, d, crlf));
                for (id, created, row) in &j.successful {
                    let created = created.to_string();
                    let mut cells = vec![Some(id.as_str()), Some(created.as_str())];
                    cells.extend(row.iter().map(|s| Some(s.as_str())));
                    out.push_str(&csv_line(&cells, d, crlf));
                }
            }
            Kind::Failed => {
                let mut h = vec![Some("sf__Id"), Some("sf__Error")];
                h.extend(header.iter().copied());
                out.push_str(&csv_line(&h, d, crlf));
                for (id, err, row) in &j.failed {
                    let mut cells = vec![Some(id.as_str()), Some(err.as_str())];
                    cells.extend(row.iter().map(|s| Some(s.as_str())));
                    out.push_str(&csv_line(&cells, d, crlf));
                }
            }
            Kind::Unprocessed => {
                if !header.is_empty() {
                    out.push_str(&csv_line(&header, d, crlf));
                }
                for row in &j.unprocessed {
                    let cells: Vec<Option<&str>> = row.iter().map(|s| Some(s.as_str())).collect();
                    out.push_str(&csv_line(&cells, d, crlf));
                }
            }
        }
        Resp::text(200, out, "text/csv")
    })
}
