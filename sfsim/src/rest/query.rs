//! `GET /query`, `/queryAll` and their `nextRecordsUrl` pages.

use super::Req;
use crate::resp::Resp;
use crate::sim::Sim;
use crate::soql::eval::{Compiled, compile};
use serde_json::json;
use std::sync::Arc;

/// The rest of a query result, kept for `nextRecordsUrl`.
#[derive(Clone)]
pub struct Cursor {
    pub compiled: Arc<Compiled>,
    pub ids: Arc<Vec<String>>,
    pub batch: usize,
    pub last_used: std::time::Instant,
}

static NEXT_LOCATOR: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Query locators expire after 15 minutes without use, as in a real org.
const CURSOR_IDLE: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Page size from `Sforce-Query-Options: batchSize=N` (200–2000, default 2000).
pub fn batch_size(req: &Req) -> usize {
    req.headers
        .get("sforce-query-options")
        .and_then(|h| {
            h.split(',').find_map(|p| {
                p.trim()
                    .strip_prefix("batchSize=")
                    .and_then(|n| n.trim().parse::<usize>().ok())
            })
        })
        .map_or(2000, |n| n.clamp(200, 2000))
}

pub fn start(sim: &Sim, req: &Req, all: bool) -> Resp {
    let Some(q) = req.q("q") else {
        return Resp::error(400, "MALFORMED_QUERY", "A query string has to be specified");
    };
    if all {
        sim.org().expire_recycle_bin();
    }
    let org = sim.org();
    let compiled = match compile(&org, q) {
        Ok(c) => c,
        Err(e) => return Resp::error(400, e.code, e.message),
    };
    if compiled.count {
        let n = compiled.count_rows(&org, all);
        return Resp::ok(json!({"totalSize": n, "done": true, "records": []}));
    }
    let ids = compiled.run(&org, all);
    let cursor = Cursor {
        compiled: Arc::new(compiled),
        ids: Arc::new(ids),
        batch: batch_size(req),
        last_used: std::time::Instant::now(),
    };
    drop(org);
    page(sim, req, cursor, None, 0)
}

fn page(sim: &Sim, req: &Req, cursor: Cursor, locator: Option<String>, offset: usize) -> Resp {
    let end = (offset + cursor.batch).min(cursor.ids.len());
    let records: Vec<serde_json::Value> = {
        let org = sim.org();
        cursor.ids[offset..end]
            .iter()
            .map(|id| cursor.compiled.render(&org, id, &req.version))
            .collect()
    };
    let mut body =
        json!({"totalSize": cursor.ids.len(), "done": end >= cursor.ids.len(), "records": records});
    if end < cursor.ids.len() {
        let locator = locator.unwrap_or_else(|| {
            let mut cursors = sim.cursors();
            cursors.retain(|_, c| c.last_used.elapsed() < CURSOR_IDLE);
            let n = NEXT_LOCATOR.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let loc = crate::ids::make_id("01g", n)[..15].to_string();
            cursors.insert(loc.clone(), cursor.clone());
            loc
        });
        body["nextRecordsUrl"] = json!(format!(
            "/services/data/v{}/query/{locator}-{end}",
            req.version
        ));
    }
    Resp::ok(body)
}

pub fn more(sim: &Sim, req: &Req, locator: &str) -> Resp {
    let invalid = || Resp::error(400, "INVALID_QUERY_LOCATOR", "invalid query locator");
    let Some((loc, offset)) = locator.rsplit_once('-') else {
        return invalid();
    };
    let Ok(offset) = offset.parse::<usize>() else {
        return invalid();
    };
    let found = sim
        .cursors()
        .get_mut(loc)
        .filter(|c| c.last_used.elapsed() < CURSOR_IDLE)
        .map(|c| {
            c.last_used = std::time::Instant::now();
            c.clone()
        });
    let Some(cursor) = found else {
        return invalid();
    };
    if offset > cursor.ids.len() {
        return invalid();
    }
    page(sim, req, cursor, Some(loc.to_string()), offset)
}
