//! `GET /query`, `/queryAll` and their `nextRecordsUrl` pages.

use super::Req;
use crate::resp::Resp;
use crate::schema::FieldType;
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
    /// The user whose query opened it (each user has at most [`CURSORS_PER_USER`]).
    pub user: String,
    /// When it was opened, in opening order: the oldest is released first.
    pub opened: u64,
    /// The one offset its locator may be used with next: each `nextRecordsUrl` once.
    pub next: usize,
}

static NEXT_LOCATOR: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Query locators expire after 15 minutes without use.
const CURSOR_IDLE: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Open query cursors a user may have; opening one more releases the oldest.
pub const CURSORS_PER_USER: usize = 10;

/// Long text area values (selected custom fields longer than 255 characters) one page
/// holds at most, in characters: wide rows make smaller pages (at least one record).
const PAGE_LONG_TEXT: usize = 4_000_000;

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

/// Whether a column is a custom long text area field.
fn long_text(c: &crate::soql::eval::Resolved) -> bool {
    c.field.ftype == FieldType::Textarea && c.field.length > 255 && c.field.name.ends_with("__c")
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
    if req.q("columns") == Some("true")
        && let Ok(parsed) = crate::soql::parse(q)
    {
        return Resp::ok(super::query_columns::describe(&org, &parsed, &compiled));
    }
    if compiled.count {
        let n = compiled.count_rows(&org, all);
        return Resp::ok(json!({"totalSize": n, "done": true, "records": []}));
    }
    if compiled.grouping.is_some() {
        // Aggregate results come whole: queryMore does not page them.
        let rows = compiled.aggregate_rows(&org, all);
        return Resp::ok(json!({"totalSize": rows.len(), "done": true, "records": rows}));
    }
    let ids = compiled.run(&org, all);
    let mut batch = batch_size(req);
    // Two or more custom long text fields: pages of at most 200.
    if compiled.columns.iter().filter(|c| long_text(c)).count() >= 2 {
        batch = batch.min(200);
    }
    let cursor = Cursor {
        compiled: Arc::new(compiled),
        ids: Arc::new(ids),
        batch,
        last_used: std::time::Instant::now(),
        user: req.user_id.clone(),
        opened: 0,
        next: 0,
    };
    drop(org);
    page(sim, req, cursor, None, 0)
}

fn page(sim: &Sim, req: &Req, cursor: Cursor, locator: Option<String>, offset: usize) -> Resp {
    let limit = (offset + cursor.batch).min(cursor.ids.len());
    let wide: Vec<String> = cursor
        .compiled
        .columns
        .iter()
        .filter(|c| long_text(c))
        .map(|c| c.field.name.clone())
        .collect();
    let mut records: Vec<serde_json::Value> = Vec::with_capacity(limit - offset);
    {
        let org = sim.org();
        let mut long_chars = 0;
        for id in &cursor.ids[offset..limit] {
            let r = cursor.compiled.render(&org, id, &req.version);
            long_chars += wide
                .iter()
                .filter_map(|f| r.get(f).and_then(|v| v.as_str()))
                .map(|s| s.chars().count())
                .sum::<usize>();
            records.push(r);
            if long_chars >= PAGE_LONG_TEXT {
                break;
            }
        }
    }
    let end = offset + records.len();
    let done = end >= cursor.ids.len();
    let mut body = json!({"totalSize": cursor.ids.len(), "done": done, "records": records});
    let mut cursors = sim.cursors();
    cursors.retain(|_, c| c.last_used.elapsed() < CURSOR_IDLE);
    if done {
        if let Some(l) = &locator {
            cursors.remove(l);
        }
        return Resp::ok(body);
    }
    let locator = match locator {
        Some(l) => {
            if let Some(c) = cursors.get_mut(&l) {
                c.next = end;
                c.last_used = std::time::Instant::now();
            }
            l
        }
        None => {
            let n = NEXT_LOCATOR.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // A user's eleventh cursor releases the oldest of the ten.
            let mut mine: Vec<(u64, String)> = cursors
                .iter()
                .filter(|(_, c)| c.user == cursor.user)
                .map(|(l, c)| (c.opened, l.clone()))
                .collect();
            mine.sort();
            let excess = (mine.len() + 1).saturating_sub(CURSORS_PER_USER);
            for (_, l) in mine.into_iter().take(excess) {
                cursors.remove(&l);
            }
            let loc = crate::ids::make_id("01g", n)[..15].to_string();
            cursors.insert(
                loc.clone(),
                Cursor {
                    opened: n,
                    next: end,
                    ..cursor
                },
            );
            loc
        }
    };
    drop(cursors);
    body["nextRecordsUrl"] = json!(format!(
        "/services/data/v{}/query/{locator}-{end}",
        req.version
    ));
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
    // Each locator is good for its one next page: a page read twice, an offset made up,
    // a cursor released or idle too long are all invalid.
    let found = sim
        .cursors()
        .get_mut(loc)
        .filter(|c| {
            c.last_used.elapsed() < CURSOR_IDLE && c.next == offset && c.user == req.user_id
        })
        .map(|c| {
            // Taken: the same page asked for again meanwhile is invalid too.
            c.next = usize::MAX;
            c.clone()
        });
    let Some(cursor) = found else {
        return invalid();
    };
    page(sim, req, cursor, Some(loc.to_string()), offset)
}
