//! The REST API under `/services/data/vXX.X/`: routing of one (sub-)request.

pub mod collections;
pub mod composite;
pub mod composite_tree;
pub mod describe;
pub mod limits;
pub mod query;
pub mod query_columns;
pub mod search;
pub mod sobjects;

use crate::resp::Resp;
use crate::sim::Sim;
use std::collections::HashMap;

/// One request to the versioned REST API, already authenticated.
#[derive(Clone, Debug)]
pub struct Req {
    pub method: String,
    /// Path segments after `/services/data/vXX.X/`, empty ones dropped.
    pub segs: Vec<String>,
    pub query: HashMap<String, String>,
    /// Lower-cased header names.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    pub version: String,
    pub user_id: String,
    /// The composite transaction this sub-request writes in (allOrNone), if any.
    pub tx: Option<u64>,
}

impl Req {
    pub fn seg(&self, i: usize) -> &str {
        self.segs.get(i).map(String::as_str).unwrap_or("")
    }
    pub fn q(&self, k: &str) -> Option<&str> {
        self.query.get(k).map(String::as_str)
    }
    pub fn json(&self) -> Result<serde_json::Value, Resp> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Resp::error(
                400,
                "JSON_PARSER_ERROR",
                format!("Unexpected character: {e}"),
            )
        })
    }
}

/// Splits `a/b/c` into non-empty, percent-decoded segments.
pub fn split_path(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        })
        .collect()
}

/// The accounting kind of a request (every kind counts once).
pub fn kind(segs: &[String]) -> &'static str {
    let s = |i: usize| segs.get(i).map(String::as_str).unwrap_or("");
    match (s(0), s(1)) {
        ("query" | "queryAll", _) => "query",
        ("sobjects", "") => "describe",
        ("sobjects", _) if s(2) == "describe" => "describe",
        ("sobjects", _) if s(2) == "updated" || s(2) == "deleted" => "replication",
        ("sobjects", _) => "sobject",
        ("composite", "sobjects") => "collections",
        ("composite", _) => "composite",
        ("limits", _) => "limits",
        ("jobs", "ingest") => "bulk_ingest",
        ("jobs", "query") => "bulk_query",
        _ => "other",
    }
}

/// Handles one authenticated, counted request.
pub fn dispatch(sim: &Sim, req: &Req) -> Resp {
    let m = req.method.as_str();
    let segs: Vec<&str> = req.segs.iter().map(String::as_str).collect();
    match (m, segs.as_slice()) {
        ("GET", []) => version_root(sim, req),
        ("GET", ["limits"]) => limits::limits(sim),
        ("GET", ["query" | "queryAll"]) => query::start(sim, req, segs[0] == "queryAll"),
        ("GET", ["query" | "queryAll", locator]) => query::more(sim, req, locator),
        ("GET", ["sobjects"]) => describe::global(sim, req),
        ("GET", ["search"]) => search::search(sim, req),
        ("GET", ["tooling", "query"]) => crate::tooling::query(sim, req),
        (_, ["sobjects", ..]) => sobjects::route(sim, req),
        (_, ["composite", "sobjects", ..]) => collections::route(sim, req),
        ("POST", ["composite"]) => composite::composite(sim, req),
        ("POST", ["composite", "batch"]) => composite::batch(sim, req),
        ("POST", ["composite", "tree", object]) => composite_tree::tree(sim, req, object),
        (_, ["jobs", ..]) => crate::bulk::route(sim, req),
        (_, ["composite"] | ["query" | "queryAll", ..] | ["limits"]) => Resp::error(
            405,
            "METHOD_NOT_ALLOWED",
            format!("HTTP Method '{m}' not allowed. Allowed are GET,HEAD"),
        ),
        _ => Resp::not_found(),
    }
}

fn version_root(sim: &Sim, req: &Req) -> Resp {
    let b = format!("/services/data/v{}", req.version);
    // The session user's identity URL, absolute (on the login host).
    let identity = format!("{}/id/{}/{}", sim.base_url(), sim.org().org_id, req.user_id);
    Resp::ok(serde_json::json!({
        "sobjects": format!("{b}/sobjects"),
        "query": format!("{b}/query"),
        "queryAll": format!("{b}/queryAll"),
        "composite": format!("{b}/composite"),
        "limits": format!("{b}/limits"),
        "jobs": format!("{b}/jobs"),
        "identity": identity,
    }))
}
