//! sObject Collections: create, update, upsert, delete and retrieve up to 200 records in
//! one call, with allOrNone and per-record `statusCode` errors.

use super::Req;
use super::sobjects::{lock_fault, raw_fields, render_record};
use crate::resp::Resp;
use crate::sim::Sim;
use crate::store::{DmlError, Record};
use serde_json::json;

const MAX: usize = 200;

fn rolled_back() -> serde_json::Value {
    json!({"success": false, "errors": [{"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK", "message": "Record rolled back because not all records were valid and the request was using AllOrNone header", "fields": []}]})
}

fn failure(id: Option<&str>, e: DmlError) -> serde_json::Value {
    let mut v = json!({"success": false, "errors": [e]});
    if let Some(id) = id {
        v["id"] = json!(id);
    }
    v
}

fn truthy(v: Option<&str>) -> bool {
    v.is_some_and(|s| s.eq_ignore_ascii_case("true"))
}

pub fn route(sim: &Sim, req: &Req) -> Resp {
    match (req.method.as_str(), req.segs.len()) {
        ("POST", 2) => write(sim, req, Op::Create),
        ("PATCH", 2) => write(sim, req, Op::Update),
        ("PATCH", 4) => write(
            sim,
            req,
            Op::Upsert(req.seg(2).to_string(), req.seg(3).to_string()),
        ),
        ("DELETE", 2) => delete(sim, req),
        ("GET" | "POST", 3) => retrieve(sim, req),
        (m, _) => Resp::error(
            405,
            "METHOD_NOT_ALLOWED",
            format!("HTTP Method '{m}' not allowed."),
        ),
    }
}

enum Op {
    Create,
    Update,
    Upsert(String, String),
}

fn write(sim: &Sim, req: &Req, op: Op) -> Resp {
    let body = match req.json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let all_or_none = body["allOrNone"].as_bool().unwrap_or(false);
    let Some(records) = body["records"].as_array() else {
        return Resp::error(
            400,
            "JSON_PARSER_ERROR",
            "Cannot deserialize: records is required",
        );
    };
    if records.len() > MAX {
        return Resp::error(
            400,
            "EXCEEDED_ID_LIMIT",
            format!("record limit reached. cannot submit more than {MAX} records into this call"),
        );
    }
    let mut results = Vec::with_capacity(records.len());
    let mut created: Vec<String> = Vec::new();
    let mut previous: Vec<Record> = Vec::new();
    let mut failed = false;
    let mut org = sim.org();
    let ctx = org.ctx_in(&req.user_id, req.tx);
    drop(org);
    for rec in records {
        let ty = rec["attributes"]["type"].as_str().map(str::to_string);
        let id = rec
            .get("id")
            .or(rec.get("Id"))
            .and_then(|v| v.as_str())
            .map(str::to_string);
        let outcome: Result<(String, Option<bool>), DmlError> = (|| {
            let mut raw = raw_fields(rec)?;
            if let Some(e) = lock_fault(sim, id.as_deref().unwrap_or("")) {
                return Err(e);
            }
            let mut org = sim.org();
            match &op {
                Op::Create => {
                    let ty = ty.clone().ok_or_else(|| {
                        DmlError::new("INVALID_TYPE", "Must send a concrete entity type.", &[])
                    })?;
                    if id.is_some() {
                        return Err(DmlError::new(
                            "INVALID_FIELD",
                            "cannot specify Id in an insert call",
                            &["Id"],
                        ));
                    }
                    let id = org.insert(&ty, &raw, &ctx)?;
                    created.push(id.clone());
                    Ok((id, None))
                }
                Op::Update => {
                    let id = id.clone().ok_or_else(|| {
                        DmlError::new(
                            "MISSING_ARGUMENT",
                            "Id not specified in an update call",
                            &[],
                        )
                    })?;
                    raw.retain(|(k, _)| !k.eq_ignore_ascii_case("id"));
                    let old = org.find(&id).map(|(_, r)| r.clone());
                    org.update(ty.as_deref(), &id, &raw, &ctx)?;
                    previous.extend(old.clone());
                    Ok((old.map(|r| r.id).unwrap_or(id), None))
                }
                Op::Upsert(obj, field) => {
                    let value = rec.get(field.as_str()).or_else(|| {
                        rec.as_object().and_then(|m| {
                            m.iter()
                                .find(|(k, _)| k.eq_ignore_ascii_case(field))
                                .map(|(_, v)| v)
                        })
                    });
                    let value = value.and_then(|v| {
                        v.as_str()
                            .map(str::to_string)
                            .or_else(|| (!v.is_null()).then(|| v.to_string()))
                    });
                    let Some(value) = value else {
                        return Err(DmlError::new(
                            "MISSING_ARGUMENT",
                            format!("{field} not specified"),
                            &[],
                        ));
                    };
                    let before = org.find_by_external(obj, field, &value)?;
                    let old = before
                        .first()
                        .and_then(|id| org.find(id))
                        .map(|(_, r)| r.clone());
                    let (id, was_created) = org.upsert(obj, field, &value, &raw, &ctx)?;
                    if was_created {
                        created.push(id.clone());
                    } else {
                        previous.extend(old);
                    }
                    Ok((id, Some(was_created)))
                }
            }
        })();
        match outcome {
            Ok((id, created)) => {
                let mut v = json!({"id": id, "success": true, "errors": []});
                if let Some(c) = created {
                    v["created"] = json!(c);
                }
                results.push(v);
            }
            Err(e) => {
                failed = true;
                results.push(failure(id.as_deref(), e));
            }
        }
    }
    if all_or_none && failed {
        sim.org().restore(&created, previous);
        for r in results.iter_mut() {
            if r["success"] == json!(true) {
                *r = rolled_back();
            }
        }
    }
    Resp::ok(json!(results))
}

fn delete(sim: &Sim, req: &Req) -> Resp {
    let ids: Vec<String> = req
        .q("ids")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    if ids.is_empty() {
        return Resp::error(400, "MISSING_ARGUMENT", "ids parameter is required");
    }
    if ids.len() > MAX {
        return Resp::error(
            400,
            "EXCEEDED_ID_LIMIT",
            format!("record limit reached. cannot submit more than {MAX} records into this call"),
        );
    }
    let all_or_none = truthy(req.q("allOrNone"));
    let mut previous = Vec::new();
    let mut results = Vec::new();
    let mut failed = false;
    let ctx = sim.org().ctx_in(&req.user_id, req.tx);
    for id in &ids {
        let outcome = match lock_fault(sim, id) {
            Some(e) => Err(e),
            None => sim.org().delete_logged(None, id, &ctx),
        };
        match outcome {
            Ok(old) => {
                previous.extend(old);
                results.push(json!({"id": crate::ids::normalize(id).unwrap_or(id.clone()), "success": true, "errors": []}));
            }
            Err(e) => {
                failed = true;
                let e = if e.status_code == "INVALID_CROSS_REFERENCE_KEY" {
                    DmlError::new(
                        "INVALID_CROSS_REFERENCE_KEY",
                        "invalid cross reference id",
                        &[],
                    )
                } else {
                    e
                };
                results.push(failure(Some(id), e));
            }
        }
    }
    if all_or_none && failed {
        sim.org().restore(&[], previous);
        for r in results.iter_mut() {
            if r["success"] == json!(true) {
                let id = r["id"].clone();
                *r = rolled_back();
                r["id"] = id;
            }
        }
    }
    Resp::ok(json!(results))
}

fn retrieve(sim: &Sim, req: &Req) -> Resp {
    let obj = req.seg(2).to_string();
    let (ids, fields): (Vec<String>, String) = if req.method == "POST" {
        let body = match req.json() {
            Ok(b) => b,
            Err(r) => return r,
        };
        let ids = body["ids"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let fields = body["fields"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        (ids, fields)
    } else {
        (
            req.q("ids")
                .unwrap_or("")
                .split(',')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            req.q("fields").unwrap_or("").to_string(),
        )
    };
    if fields.trim().is_empty() {
        return Resp::error(400, "MISSING_ARGUMENT", "fields parameter is required");
    }
    if ids.len() > 2000 {
        return Resp::error(400, "EXCEEDED_ID_LIMIT", "Exceeded the maximum of 2000 ids");
    }
    let mut out = Vec::new();
    for id in ids {
        let live = crate::ids::normalize(&id).filter(|n| {
            sim.org()
                .find(n)
                .is_some_and(|(t, r)| r.deleted.is_none() && t.def.name.eq_ignore_ascii_case(&obj))
        });
        match live {
            Some(n) => match render_record(sim, &req.version, &obj, &n, Some(&fields)) {
                Ok(v) => out.push(v),
                Err(r) => return r,
            },
            None => out.push(serde_json::Value::Null),
        }
    }
    Resp::ok(json!(out))
}
