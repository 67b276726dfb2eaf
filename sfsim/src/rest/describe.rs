//! describeGlobal and describe, with `If-Modified-Since` → 304.

use super::Req;
use crate::resp::Resp;
use crate::sim::Sim;
use chrono::{DateTime, Utc};
use serde_json::json;

fn not_modified_since(req: &Req, modified: DateTime<Utc>) -> bool {
    req.headers
        .get("if-modified-since")
        .and_then(|h| DateTime::parse_from_rfc2822(h.trim()).ok())
        .is_some_and(|since| modified.timestamp() <= since.timestamp())
}

fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

pub fn global(sim: &Sim, req: &Req) -> Resp {
    let org = sim.org();
    let modified = org.metadata_modified();
    if not_modified_since(req, modified) {
        return Resp::empty(304);
    }
    let sobjects: Vec<_> = org
        .tables
        .values()
        .map(|t| t.def.global_entry(&req.version))
        .collect();
    Resp::ok(json!({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": sobjects}))
        .header("last-modified", http_date(modified))
}

pub fn describe(sim: &Sim, req: &Req, object: &str) -> Resp {
    let org = sim.org();
    let Some(t) = org.table(object) else {
        return not_supported(object);
    };
    if not_modified_since(req, t.def.last_modified) {
        return Resp::empty(304);
    }
    let mut children = Vec::new();
    for other in org.tables.values() {
        for f in other.def.visible_fields() {
            if !f
                .reference_to
                .iter()
                .any(|r| r.eq_ignore_ascii_case(&t.def.name))
            {
                continue;
            }
            let rel = crate::schema::child_relationship_name(&t.def, &other.def, f);
            children.push(json!({
                "cascadeDelete": f.cascade_delete,
                "childSObject": other.def.name,
                "deprecatedAndHidden": false,
                "field": f.name,
                "junctionIdListNames": [],
                "junctionReferenceTo": [],
                "relationshipName": rel,
                "restrictedDelete": f.restricted_delete,
            }));
        }
    }
    Resp::ok(t.def.describe(&req.version, children))
        .header("last-modified", http_date(t.def.last_modified))
}

/// `GET /sobjects/{Name}`: basic information and recent items.
pub fn basic(sim: &Sim, req: &Req, object: &str) -> Resp {
    let org = sim.org();
    let Some(t) = org.table(object) else {
        return not_supported(object);
    };
    Resp::ok(json!({"objectDescribe": t.def.global_entry(&req.version), "recentItems": []}))
}

pub fn not_supported(object: &str) -> Resp {
    Resp::error(
        404,
        "NOT_FOUND",
        format!("The requested resource does not exist: sObject type '{object}' is not supported."),
    )
}
