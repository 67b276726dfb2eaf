//! `POST /composite/tree/{Object}`: sObject trees — root records of one object, each with
//! its children nested under a child relationship's name (`"Contacts": {"records": […]}`),
//! created together or not at all: at most 200 records across all trees, five levels
//! deep, of five types. Each child gets its parent's id in the relationship's lookup.

use super::Req;
use crate::resp::Resp;
use crate::sim::Sim;
use crate::soql::eval::child_relationships;
use crate::store::{DmlError, Org};
use serde_json::{Map, Value, json};

const MAX_RECORDS: usize = 200;
const MAX_DEPTH: usize = 5;
const MAX_TYPES: usize = 5;

/// One record of a tree, in request order (a parent before its children).
struct Node {
    object: String,
    refid: String,
    fields: Map<String, Value>,
    /// The parent's node and the lookup field that points at it.
    parent: Option<(usize, String)>,
}

fn invalid(msg: impl Into<String>) -> Resp {
    Resp::error(400, "INVALID_INPUT", msg)
}

/// Flattens `records` of `object` (and their nested children) into `out`.
fn flatten(
    org: &Org,
    object: &str,
    records: &[Value],
    parent: Option<(usize, String)>,
    depth: usize,
    out: &mut Vec<Node>,
) -> Result<(), Resp> {
    if depth > MAX_DEPTH {
        return Err(invalid(format!(
            "Exceeded max depth of {MAX_DEPTH} for sObject trees"
        )));
    }
    for rec in records {
        let Some(m) = rec.as_object() else {
            return Err(Resp::error(
                400,
                "JSON_PARSER_ERROR",
                "a record must be an object",
            ));
        };
        let refid = rec["attributes"]["referenceId"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if refid.is_empty() {
            return Err(invalid(
                "Include a reference ID for each record in the request.",
            ));
        }
        if out.iter().any(|n| n.refid == refid) {
            return Err(invalid(format!(
                "Duplicate ReferenceId provided in the request: {refid}"
            )));
        }
        let mut fields = Map::new();
        let mut nested = Vec::new();
        for (k, v) in m {
            if k == "attributes" {
                continue;
            }
            match v.get("records").and_then(Value::as_array) {
                Some(children) => nested.push((k.clone(), children.clone())),
                None => {
                    fields.insert(k.clone(), v.clone());
                }
            }
        }
        let me = out.len();
        out.push(Node {
            object: object.to_string(),
            refid,
            fields,
            parent: parent.clone(),
        });
        for (rel, children) in nested {
            let found = child_relationships(org, object)
                .into_iter()
                .find(|(_, _, _, r)| r.as_deref().is_some_and(|r| r.eq_ignore_ascii_case(&rel)));
            let Some((child, lookup, _, _)) = found else {
                return Err(Resp::error(
                    400,
                    "INVALID_FIELD",
                    format!("No such relation '{rel}' on sobject of type {object}"),
                ));
            };
            flatten(org, &child, &children, Some((me, lookup)), depth + 1, out)?;
        }
    }
    Ok(())
}

pub fn tree(sim: &Sim, req: &Req, object: &str) -> Resp {
    let body = match req.json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(records) = body["records"].as_array() else {
        return Resp::error(400, "JSON_PARSER_ERROR", "records is required");
    };
    let mut nodes = Vec::new();
    if let Err(r) = flatten(&sim.org(), object, records, None, 1, &mut nodes) {
        return r;
    }
    if nodes.len() > MAX_RECORDS {
        return Resp::error(
            400,
            "LIMIT_EXCEEDED",
            format!("Cannot insert more than {MAX_RECORDS} records in one request"),
        );
    }
    let mut types: Vec<String> = nodes.iter().map(|n| n.object.to_lowercase()).collect();
    types.sort();
    types.dedup();
    if types.len() > MAX_TYPES {
        return invalid(format!(
            "Exceeded max of {MAX_TYPES} different sObject types in one request"
        ));
    }
    let tx = sim.org().begin_tx();
    let mut ids: Vec<Option<String>> = Vec::with_capacity(nodes.len());
    let mut results = Vec::with_capacity(nodes.len());
    let mut has_errors = false;
    for node in &nodes {
        let mut fields = node.fields.clone();
        if let Some((p, lookup)) = &node.parent {
            // A child of a record that failed is not tried.
            let Some(pid) = ids[*p].clone() else {
                ids.push(None);
                continue;
            };
            fields.insert(lookup.clone(), json!(pid));
        }
        let outcome = (|| -> Result<String, DmlError> {
            let raw = super::sobjects::raw_fields(&Value::Object(fields))?;
            let mut org = sim.org();
            let ctx = org.ctx_in(&req.user_id, Some(tx));
            org.insert(&node.object, &raw, &ctx)
        })();
        match outcome {
            Ok(id) => {
                results.push(json!({"referenceId": node.refid, "id": id}));
                ids.push(Some(id));
            }
            Err(e) => {
                has_errors = true;
                results.push(json!({"referenceId": node.refid, "errors": [e]}));
                ids.push(None);
            }
        }
    }
    if has_errors {
        sim.org().rollback_tx(tx);
        let errors: Vec<_> = results
            .into_iter()
            .filter(|r| r.get("errors").is_some())
            .collect();
        return Resp::json(400, json!({"hasErrors": true, "results": errors}));
    }
    sim.org().commit_tx(tx);
    Resp::json(201, json!({"hasErrors": false, "results": results}))
}
