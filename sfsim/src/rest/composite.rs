//! `POST /composite`: up to 25 sub-requests in one API call, with `@{ref.path}` references.

use super::{Req, dispatch, kind, split_path};
use crate::resp::Resp;
use crate::sim::Sim;
use serde_json::json;
use std::collections::HashMap;

const MAX_SUBREQUESTS: usize = 25;
const MAX_QUERIES: usize = 5;

fn halted(message: &str) -> serde_json::Value {
    json!([{"errorCode": "PROCESSING_HALTED", "message": message}])
}

/// Looks up `records[0].Id`-style paths in an earlier sub-request's body.
fn lookup<'a>(mut v: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    for part in path.split('.') {
        let (name, idx) = match part.find('[') {
            Some(i) => (
                &part[..i],
                part[i + 1..].trim_end_matches(']').parse::<usize>().ok(),
            ),
            None => (part, None),
        };
        if !name.is_empty() {
            v = v.get(name)?;
        }
        if let Some(i) = idx {
            v = v.get(i)?;
        }
    }
    Some(v)
}

/// Replaces every `@{ref.path}` in `text`; `Err(reference)` when one cannot be resolved.
fn substitute(
    text: &str,
    results: &HashMap<String, serde_json::Value>,
    json_mode: bool,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("@{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let expr = &rest[start + 2..start + end];
        let (refid, path) = expr.split_once('.').unwrap_or((expr, ""));
        let value = results
            .get(refid)
            .and_then(|b| lookup(b, path))
            .ok_or_else(|| expr.to_string())?;
        let s = match value {
            serde_json::Value::String(s) if json_mode => serde_json::to_string(s)
                .unwrap_or_default()
                .trim_matches('"')
                .to_string(),
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        out.push_str(&s);
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

pub fn composite(sim: &Sim, req: &Req) -> Resp {
    let body = match req.json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let all_or_none = body["allOrNone"].as_bool().unwrap_or(false);
    let Some(subs) = body["compositeRequest"].as_array() else {
        return Resp::error(400, "JSON_PARSER_ERROR", "compositeRequest is required");
    };
    if subs.len() > MAX_SUBREQUESTS {
        return Resp::error(
            400,
            "LIMIT_EXCEEDED",
            format!("Exceeded max number of subrequests: {MAX_SUBREQUESTS}"),
        );
    }
    let mut parsed = Vec::new();
    let mut heavy = 0;
    let mut seen = std::collections::HashSet::new();
    for s in subs {
        let (Some(method), Some(url), Some(refid)) = (
            s["method"].as_str(),
            s["url"].as_str(),
            s["referenceId"].as_str(),
        ) else {
            return Resp::error(
                400,
                "JSON_PARSER_ERROR",
                "Each subrequest needs method, url and referenceId",
            );
        };
        if !seen.insert(refid.to_string()) {
            return Resp::error(
                400,
                "INVALID_INPUT",
                format!("Duplicate ReferenceId provided in the request: {refid}"),
            );
        }
        let path = url.split('?').next().unwrap_or("");
        let segs = split_path(path);
        if segs.len() >= 3 && matches!(kind(&segs[3..]), "query" | "collections") {
            heavy += 1;
        }
        parsed.push((
            method.to_uppercase(),
            url.to_string(),
            refid.to_string(),
            s.get("body").cloned(),
            s["httpHeaders"].clone(),
        ));
    }
    if heavy > MAX_QUERIES {
        return Resp::error(
            400,
            "LIMIT_EXCEEDED",
            format!("Exceeded max number of query or collection subrequests: {MAX_QUERIES}"),
        );
    }
    let tx = all_or_none.then(|| sim.org().begin_tx());
    let mut results: HashMap<String, serde_json::Value> = HashMap::new();
    let mut out: Vec<serde_json::Value> = Vec::new();
    let mut failed_at: Option<usize> = None;
    for (i, (method, url, refid, sub_body, headers)) in parsed.into_iter().enumerate() {
        if failed_at.is_some() && all_or_none {
            out.push(json!({"body": halted("The transaction was rolled back since another operation in the same transaction failed."), "httpHeaders": {}, "httpStatusCode": 400, "referenceId": refid}));
            continue;
        }
        let url = match substitute(&url, &results, false) {
            Ok(u) => u,
            Err(r) => {
                failed_at.get_or_insert(i);
                out.push(json!({"body": halted(&format!("Invalid reference specified. No value for {r} found in {refid}. Provided referenceId ({}) is invalid.", r.split('.').next().unwrap_or(""))), "httpHeaders": {}, "httpStatusCode": 400, "referenceId": refid}));
                continue;
            }
        };
        let body_text = match sub_body
            .as_ref()
            .map(|b| substitute(&b.to_string(), &results, true))
            .transpose()
        {
            Ok(b) => b.unwrap_or_default(),
            Err(r) => {
                failed_at.get_or_insert(i);
                out.push(json!({"body": halted(&format!("Invalid reference specified. No value for {r} found.")), "httpHeaders": {}, "httpStatusCode": 400, "referenceId": refid}));
                continue;
            }
        };
        let (path, query) = url.split_once('?').unwrap_or((&url, ""));
        let segs = split_path(path);
        let version_ok = segs.len() >= 3
            && segs[0] == "services"
            && segs[1] == "data"
            && segs[2].starts_with('v');
        let resp = if !version_ok {
            Resp::not_found()
        } else {
            let mut hdrs = req.headers.clone();
            if let Some(h) = headers.as_object() {
                for (k, v) in h {
                    hdrs.insert(k.to_lowercase(), v.as_str().unwrap_or("").to_string());
                }
            }
            let sub = Req {
                method: method.clone(),
                segs: segs[3..].to_vec(),
                query: url::form_urlencoded::parse(query.as_bytes())
                    .into_owned()
                    .collect(),
                headers: hdrs,
                body: body_text.into_bytes(),
                version: segs[2].trim_start_matches('v').to_string(),
                user_id: req.user_id.clone(),
                tx,
            };
            dispatch(sim, &sub)
        };
        let body_json = resp.json_body();
        let mut http_headers = serde_json::Map::new();
        if resp.status == 201
            && let Some(id) = body_json["id"].as_str()
        {
            http_headers.insert(
                "Location".into(),
                json!(format!("{}/{id}", path.trim_end_matches('/'))),
            );
        }
        if resp.status >= 400 {
            failed_at.get_or_insert(i);
        }
        results.insert(refid.clone(), body_json.clone());
        out.push(json!({"body": if resp.status == 204 { serde_json::Value::Null } else { body_json }, "httpHeaders": http_headers, "httpStatusCode": resp.status, "referenceId": refid}));
    }
    if let Some(tx) = tx {
        if failed_at.is_some() {
            sim.org().rollback_tx(tx);
        } else {
            sim.org().commit_tx(tx);
        }
    }
    if let (Some(at), true) = (failed_at, all_or_none) {
        for (i, r) in out.iter_mut().enumerate() {
            if i < at {
                r["body"] = halted(
                    "The transaction was rolled back since another operation in the same transaction failed.",
                );
                r["httpStatusCode"] = json!(400);
                r["httpHeaders"] = json!({});
            }
        }
    }
    Resp::ok(json!({"compositeResponse": out}))
}

/// `POST /composite/batch`: up to 25 independent sub-requests (`vXX.X/…` URLs) in one API
/// call, each run on its own; with `haltOnError` the ones after a failure are not run.
pub fn batch(sim: &Sim, req: &Req) -> Resp {
    let body = match req.json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(subs) = body["batchRequests"].as_array() else {
        return Resp::error(400, "JSON_PARSER_ERROR", "batchRequests is required");
    };
    if subs.len() > MAX_SUBREQUESTS {
        return Resp::error(
            400,
            "LIMIT_EXCEEDED",
            format!("Exceeded max number of subrequests: {MAX_SUBREQUESTS}"),
        );
    }
    let halt_on_error = body["haltOnError"].as_bool().unwrap_or(false);
    let mut results = Vec::with_capacity(subs.len());
    let mut has_errors = false;
    for s in subs {
        if has_errors && halt_on_error {
            results.push(json!({"statusCode": 412, "result": [{"errorCode": "BATCH_PROCESSING_HALTED", "message": "Batch processing halted per request"}]}));
            continue;
        }
        let (Some(method), Some(url)) = (s["method"].as_str(), s["url"].as_str()) else {
            return Resp::error(
                400,
                "JSON_PARSER_ERROR",
                "Each batch request needs method and url",
            );
        };
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let mut segs = split_path(path);
        // `v59.0/sobjects/…`, or the full `/services/data/v59.0/…`.
        if segs.len() >= 2 && segs[0] == "services" && segs[1] == "data" {
            segs.drain(..2);
        }
        let resp = match segs.first().filter(|v| v.starts_with('v')) {
            None => Resp::not_found(),
            Some(v) => {
                let sub = Req {
                    method: method.to_uppercase(),
                    segs: segs[1..].to_vec(),
                    query: url::form_urlencoded::parse(query.as_bytes())
                        .into_owned()
                        .collect(),
                    headers: req.headers.clone(),
                    body: s
                        .get("richInput")
                        .map(|b| b.to_string().into_bytes())
                        .unwrap_or_default(),
                    version: v.trim_start_matches('v').to_string(),
                    user_id: req.user_id.clone(),
                    tx: None,
                };
                dispatch(sim, &sub)
            }
        };
        has_errors |= resp.status >= 400;
        let result = if resp.status == 204 {
            serde_json::Value::Null
        } else {
            resp.json_body()
        };
        results.push(json!({"statusCode": resp.status, "result": result}));
    }
    Resp::ok(json!({"hasErrors": has_errors, "results": results}))
}
