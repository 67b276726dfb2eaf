//! Bulk API 2.0: ingest jobs and query jobs under `/jobs/…`.

pub mod ingest;
pub mod query;

use crate::resp::Resp;
use crate::rest::Req;
use crate::sim::Sim;
use std::collections::BTreeMap;

#[derive(Default)]
pub struct BulkState {
    pub ingest: BTreeMap<String, ingest::IngestJob>,
    pub query: BTreeMap<String, query::QueryJob>,
    pub seq: u64,
}

impl BulkState {
    pub fn next_id(&mut self) -> String {
        self.seq += 1;
        crate::ids::make_id("750", self.seq)
    }
}

pub fn route(sim: &Sim, req: &Req) -> Resp {
    match req.seg(1) {
        "ingest" => ingest::route(sim, req),
        "query" => query::route(sim, req),
        _ => Resp::not_found(),
    }
}

pub fn delimiter(name: &str) -> Option<u8> {
    Some(match name {
        "" | "COMMA" => b',',
        "TAB" => b'\t',
        "PIPE" => b'|',
        "SEMICOLON" => b';',
        "CARET" => b'^',
        "BACKQUOTE" => b'`',
        _ => return None,
    })
}

/// Writes one CSV line the way Salesforce's result files do (every value quoted, null empty).
pub fn csv_line(cells: &[Option<&str>], delim: u8, crlf: bool) -> String {
    let mut out = String::new();
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push(delim as char);
        }
        push_cell(&mut out, *c);
    }
    end_line(&mut out, crlf);
    out
}

/// Appends one CSV cell, always quoted (`"` doubled); a null appends nothing.
pub fn push_cell(out: &mut String, cell: Option<&str>) {
    if let Some(v) = cell {
        out.push('"');
        match v.contains('"') {
            true => out.push_str(&v.replace('"', "\"\"")),
            false => out.push_str(v),
        }
        out.push('"');
    }
}

pub fn end_line(out: &mut String, crlf: bool) {
    out.push_str(if crlf { "\r\n" } else { "\n" });
}

pub fn bad_state(msg: &str) -> Resp {
    Resp::error(400, "INVALIDJOBSTATE", msg)
}

pub fn job_not_found() -> Resp {
    Resp::error(404, "NOT_FOUND", "The requested resource does not exist")
}
