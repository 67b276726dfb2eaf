//! `/sobjects/{Name}/…`: single-record CRUD, upsert by external id, updated and deleted.

use super::Req;
use super::describe;
use crate::resp::Resp;
use crate::sim::Sim;
use crate::soql::eval::compile;
use crate::store::{DmlError, Raw};
use crate::value::{Value, fmt_datetime, parse_datetime};
use chrono::{DateTime, Duration, DurationRound, Utc};
use serde_json::json;

/// The writable fields of a JSON record body (`attributes` dropped).
pub fn raw_fields(v: &serde_json::Value) -> Result<Vec<(String, Raw)>, DmlError> {
    let Some(m) = v.as_object() else {
        return Err(DmlError::new(
            "JSON_PARSER_ERROR",
            "Cannot deserialize instance of SObject from a non-object value",
            &[],
        ));
    };
    Ok(m.iter()
        .filter(|(k, _)| k.as_str() != "attributes")
        .map(|(k, v)| (k.clone(), Raw::Json(v.clone())))
        .collect())
}

/// A single-record DML error as REST reports it (status from the error kind).
pub fn dml_resp(e: DmlError) -> Resp {
    let status = match e.status_code.as_str() {
        "NOT_FOUND" | "ENTITY_IS_DELETED" => 404,
        "INVALID_CROSS_REFERENCE_KEY"
            if e.message == "invalid cross reference id" && e.fields.is_empty() =>
        {
            400
        }
        _ => 400,
    };
    Resp::json(
        status,
        json!([{"message": e.message, "errorCode": e.status_code, "fields": e.fields}]),
    )
}

pub fn lock_fault(sim: &Sim, what: &str) -> Option<DmlError> {
    sim.faults().lock_row().then(|| {
        DmlError::new(
            "UNABLE_TO_LOCK_ROW",
            format!("unable to obtain exclusive access to this record or 1 records: {what}"),
            &[],
        )
    })
}

pub fn route(sim: &Sim, req: &Req) -> Resp {
    let m = req.method.as_str();
    let obj = req.seg(1).to_string();
    let Some((replicateable, retrieveable)) = sim
        .org()
        .table(&obj)
        .map(|t| (t.def.replicateable, t.def.retrieveable))
    else {
        return describe::not_supported(&obj);
    };
    let op = |what: &str| {
        Resp::error(
            400,
            "INVALID_TYPE_FOR_OPERATION",
            format!("entity type {obj} does not support {what}"),
        )
    };
    match (m, req.segs.len(), req.seg(2)) {
        ("GET", 3, "updated" | "deleted") if !replicateable => op("replication"),
        ("GET", 3, seg) if !retrieveable && !matches!(seg, "describe" | "updated" | "deleted") => {
            op("retrieve")
        }
        _ => route_object(sim, req, m, &obj),
    }
}

fn route_object(sim: &Sim, req: &Req, m: &str, obj: &str) -> Resp {
    let obj = obj.to_string();
    match (m, req.segs.len(), req.seg(2)) {
        ("GET", 2, _) => describe::basic(sim, req, &obj),
        ("POST", 2, _) => create(sim, req, &obj),
        ("GET", 3, "describe") => describe::describe(sim, req, &obj),
        ("GET", 3, "updated") => updated(sim, req, &obj),
        ("GET", 3, "deleted") => deleted(sim, req, &obj),
        ("GET", 3, id) => retrieve(sim, req, &obj, id),
        ("PATCH", 3, id) => update(sim, req, &obj, id),
        ("DELETE", 3, id) => delete(sim, req, &obj, id),
        ("PATCH" | "POST", 4, field) | ("POST", 3, field) => {
            upsert(sim, req, &obj, field, req.seg(3))
        }
        ("GET", 4, id) if is_blob_field(sim, &obj, req.seg(3)) => blob(sim, &obj, id, req.seg(3)),
        ("GET" | "DELETE", 4, field) => {
            let found = sim.org().find_by_external(&obj, field, req.seg(3));
            match found {
                Err(e) => dml_resp(e),
                Ok(ids) if ids.is_empty() => Resp::not_found(),
                Ok(ids) if ids.len() > 1 => multiple(req, &obj, &ids),
                Ok(ids) if m == "GET" => retrieve(sim, req, &obj, &ids[0]),
                Ok(ids) => delete(sim, req, &obj, &ids[0]),
            }
        }
        (_, n, _) if n > 4 => Resp::not_found(),
        _ => Resp::error(
            405,
            "METHOD_NOT_ALLOWED",
            format!("HTTP Method '{m}' not allowed."),
        ),
    }
}

fn is_blob_field(sim: &Sim, obj: &str, field: &str) -> bool {
    sim.org()
        .table(obj)
        .and_then(|t| t.def.field(field))
        .is_some_and(|f| f.ftype == crate::schema::FieldType::Base64 && !f.hidden)
}

/// `GET /sobjects/{Object}/{id}/{Field}` of a base64 field: the blob's bytes (the URL a
/// query answers for the field).
fn blob(sim: &Sim, obj: &str, id: &str, field: &str) -> Resp {
    use base64::Engine;
    let Some(norm) = crate::ids::normalize(id) else {
        return Resp::not_found();
    };
    let org = sim.org();
    let Some((t, rec)) = org
        .find(&norm)
        .filter(|(t, r)| t.def.name.eq_ignore_ascii_case(obj) && r.deleted.is_none())
    else {
        return Resp::not_found();
    };
    let Some(slot) = t.def.field(field).map(|f| f.slot) else {
        return Resp::not_found();
    };
    let bytes = rec.get(slot).as_str().map(|s| {
        base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .unwrap_or_default()
    });
    match bytes {
        Some(b) => Resp {
            status: 200,
            headers: vec![],
            body: crate::resp::Payload::Bytes(b, "application/octetstream"),
        },
        None => Resp::not_found(),
    }
}

fn multiple(req: &Req, obj: &str, ids: &[String]) -> Resp {
    Resp::json(
        300,
        json!(
            ids.iter()
                .map(|id| format!("/services/data/v{}/sobjects/{obj}/{id}", req.version))
                .collect::<Vec<_>>()
        ),
    )
}

fn create(sim: &Sim, req: &Req, obj: &str) -> Resp {
    let body = match req.json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let raw = match raw_fields(&body) {
        Ok(r) => r,
        Err(e) => return dml_resp(e),
    };
    if let Some(e) = lock_fault(sim, obj) {
        return dml_resp(e);
    }
    let mut org = sim.org();
    let ctx = org.ctx_in(&req.user_id, req.tx);
    match org.insert(obj, &raw, &ctx) {
        Ok(id) => Resp::json(201, json!({"id": id, "success": true, "errors": []})),
        Err(e) => dml_resp(e),
    }
}

/// Renders one record with the given (or all) fields.
pub fn render_record(
    sim: &Sim,
    version: &str,
    obj: &str,
    id: &str,
    fields: Option<&str>,
) -> Result<serde_json::Value, Resp> {
    let org = sim.org();
    let t = org.table(obj).ok_or_else(|| describe::not_supported(obj))?;
    let list = match fields {
        Some(f) if !f.trim().is_empty() => f.to_string(),
        _ => t
            .def
            .visible_fields()
            .map(|f| f.name.clone())
            .collect::<Vec<_>>()
            .join(", "),
    };
    let c = compile(&org, &format!("SELECT {list} FROM {}", t.def.name))
        .map_err(|e| Resp::error(400, e.code, e.message))?;
    Ok(c.render(&org, id, version))
}

fn retrieve(sim: &Sim, req: &Req, obj: &str, id: &str) -> Resp {
    let Some(norm) = crate::ids::normalize(id) else {
        return Resp::not_found();
    };
    let state = sim
        .org()
        .find(&norm)
        .map(|(t, r)| (t.def.name.eq_ignore_ascii_case(obj), r.deleted.is_some()));
    match state {
        None | Some((false, _)) => Resp::not_found(),
        Some((true, true)) => Resp::error(404, "ENTITY_IS_DELETED", "entity is deleted"),
        Some((true, false)) => {
            match render_record(sim, &req.version, obj, &norm, req.q("fields")) {
                Ok(v) => Resp::ok(v),
                Err(r) => r,
            }
        }
    }
}

fn update(sim: &Sim, req: &Req, obj: &str, id: &str) -> Resp {
    let body = match req.json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let raw = match raw_fields(&body) {
        Ok(r) => r,
        Err(e) => return dml_resp(e),
    };
    if sim.org().is_missing(id) || crate::ids::normalize(id).is_none() {
        return Resp::not_found();
    }
    if let Some(e) = lock_fault(sim, id) {
        return dml_resp(e);
    }
    let mut org = sim.org();
    let ctx = org.ctx_in(&req.user_id, req.tx);
    match org.update(Some(obj), id, &raw, &ctx) {
        Ok(()) => Resp::empty(204),
        Err(e) => dml_resp(e),
    }
}

fn delete(sim: &Sim, req: &Req, obj: &str, id: &str) -> Resp {
    if sim.org().is_missing(id) || crate::ids::normalize(id).is_none() {
        return Resp::not_found();
    }
    if let Some(e) = lock_fault(sim, id) {
        return dml_resp(e);
    }
    let mut org = sim.org();
    let ctx = org.ctx_in(&req.user_id, req.tx);
    match org.delete(Some(obj), id, &ctx) {
        Ok(()) => Resp::empty(204),
        Err(e) => dml_resp(e),
    }
}

fn upsert(sim: &Sim, req: &Req, obj: &str, field: &str, value: &str) -> Resp {
    let body = match req.json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let raw = match raw_fields(&body) {
        Ok(r) => r,
        Err(e) => return dml_resp(e),
    };
    if let Some(e) = lock_fault(sim, obj) {
        return dml_resp(e);
    }
    let mut org = sim.org();
    if let Ok(ids) = org.find_by_external(obj, field, value)
        && ids.len() > 1
    {
        return multiple(req, obj, &ids);
    }
    let ctx = org.ctx_in(&req.user_id, req.tx);
    match org.upsert(obj, field, value, &raw, &ctx) {
        Ok((id, true)) => Resp::json(
            201,
            json!({"id": id, "success": true, "errors": [], "created": true}),
        ),
        Ok((id, false)) => {
            Resp::ok(json!({"id": id, "success": true, "errors": [], "created": false}))
        }
        Err(e) => dml_resp(e),
    }
}

/// (start, end, latestDateCovered), all floored to the minute.
type Window = (DateTime<Utc>, DateTime<Utc>, DateTime<Utc>);

fn window(req: &Req, max_days: i64) -> Result<Window, Resp> {
    let bad = |m: &str| Resp::error(400, "INVALID_REPLICATION_DATE", m.to_string());
    let parse = |k: &str| {
        req.q(k)
            .ok_or_else(|| {
                Resp::error(
                    400,
                    "MISSING_ARGUMENT",
                    format!("Missing required parameter: {k}"),
                )
            })
            .and_then(|s| {
                parse_datetime(s).ok_or_else(|| {
                    Resp::error(
                        400,
                        "INVALID_REPLICATION_DATE",
                        format!("Unable to parse {k}: {s}"),
                    )
                })
            })
    };
    let minute = Duration::minutes(1);
    let start = parse("start")?.duration_trunc(minute).unwrap_or_default();
    let end = parse("end")?.duration_trunc(minute).unwrap_or_default();
    let now = Utc::now().duration_trunc(minute).unwrap_or_default();
    // "The specified startDate cannot be the same value as, or later than, the specified
    // endDate value. Otherwise, the API returns an INVALID_REPLICATION_DATE error." The
    // seconds are ignored, so both within one minute are the same value.
    if end <= start {
        return Err(bad("EndDate must be after StartDate"));
    }
    if start < now - Duration::days(max_days) {
        return Err(bad(&format!(
            "startDate cannot be more than {max_days} days ago"
        )));
    }
    Ok((start, end, end.min(now)))
}

fn updated(sim: &Sim, req: &Req, obj: &str) -> Resp {
    let (start, end, latest) = match window(req, 30) {
        Ok(w) => w,
        Err(r) => return r,
    };
    let org = sim.org();
    let Some(t) = org.table(obj) else {
        return describe::not_supported(obj);
    };
    let slot = t.slot("SystemModstamp");
    // "If Salesforce executes a long-running transaction on your instance, the value in
    // this field is the start time of that long-running transaction until it completes":
    // a change not yet visible (the late-visibility fault) holds it back to its stamp.
    let now = std::time::Instant::now();
    let latest = t
        .records
        .values()
        .filter(|r| org.hidden.get(&r.id).is_some_and(|(until, _)| *until > now))
        .filter_map(|r| match r.get(slot) {
            Value::DateTime(d) => d.duration_trunc(Duration::minutes(1)).ok(),
            _ => None,
        })
        .fold(latest, DateTime::min);
    let ids: Vec<&str> = t
        .live()
        .filter_map(|r| org.visible(r))
        .filter(|r| matches!(r.get(slot), Value::DateTime(d) if *d >= start && *d < end))
        .map(|r| r.id.as_str())
        .collect();
    if ids.len() > 600_000 {
        return Resp::error(
            400,
            "EXCEEDED_ID_LIMIT",
            "ID limit exceeded: more than 600,000 ids would be returned",
        );
    }
    Resp::ok(json!({"ids": ids, "latestDateCovered": fmt_datetime(&latest)}))
}

fn deleted(sim: &Sim, req: &Req, obj: &str) -> Resp {
    sim.org().expire_recycle_bin();
    let retention = sim.org().retention_days;
    let (start, end, latest) = match window(req, retention) {
        Ok(w) => w,
        Err(r) => return r,
    };
    let org = sim.org();
    let Some(t) = org.table(obj) else {
        return describe::not_supported(obj);
    };
    let recs: Vec<_> = t
        .records
        .values()
        .filter_map(|r| r.deleted.map(|d| (r, d)))
        .filter(|(r, _)| org.visible(r).is_some_and(|v| v.deleted.is_some()))
        .filter(|(_, d)| *d >= start && *d < end)
        .map(|(r, d)| json!({"id": r.id, "deletedDate": fmt_datetime(&d)}))
        .collect();
    if recs.len() > 600_000 {
        return Resp::error(
            400,
            "EXCEEDED_ID_LIMIT",
            "ID limit exceeded: more than 600,000 ids would be returned",
        );
    }
    // The newest deletion purged from the log; without one, the log reaches back the whole
    // retention window.
    let earliest = org
        .purged_through
        .get(&t.def.name)
        .copied()
        .unwrap_or_else(|| latest - Duration::days(retention))
        .duration_trunc(Duration::minutes(1))
        .unwrap_or(latest);
    Resp::ok(
        json!({"deletedRecords": recs, "earliestDateAvailable": fmt_datetime(&earliest), "latestDateCovered": fmt_datetime(&latest)}),
    )
}
