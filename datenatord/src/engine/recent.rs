//! Recent changes of a mapped object on both sides (`changes_recent`): the database's from
//! its events table (what the retention has not purged yet), Salesforce's from a bounded
//! in-memory ring per object of what the pulls wrote since the daemon started.
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use crate::error::DaemonError;
use chrono::{DateTime, Utc};
use datenator_shared::model::{ChangeOp, ChangeOutcome, ChangeSide, RecentChange};
use datenator_shared::protocol::{RECENT_CHANGES_DEFAULT, RECENT_CHANGES_MAX, RecentChanges};
use serde_json::Value;

use crate::mappings;
use crate::state::State;
use crate::targetdb::{
    EventOp, NOT_SENT_DETACHED, NOT_SENT_DISCARDED, RecentEvent, RejectedRow, Row,
    SUPERSEDED_ERROR, Target,
};

/// Pulled records remembered per (org, object).
pub const RING: usize = 200;

/// A record a pull wrote into the database (or deleted from it).
#[derive(Debug, Clone, PartialEq)]
pub struct Pulled {
    pub sfid: String,
    /// The record's `SystemModstamp`, if it came with one.
    pub stamp: Option<DateTime<Utc>>,
    /// When the pull wrote it.
    pub written_at: DateTime<Utc>,
    /// `LastModifiedById`, when the mapping pulls it.
    pub who: Option<String>,
    pub op: ChangeOp,
    /// The mapped fields written (shared between the records of a page).
    pub fields: Arc<[String]>,
}

/// The rings of pulled records, one per (org, object).
#[derive(Debug, Default)]
pub struct RecentPulls {
    rings: Mutex<HashMap<(String, String), VecDeque<Pulled>>>,
}

impl RecentPulls {
    /// Remembers the rows a pull upserted (`rejected` left out). An insert is told from an
    /// update only when the mapping pulls `CreatedDate` and `LastModifiedDate`.
    pub fn wrote(&self, org: &str, object: &str, rows: &[Row], rejected: &[RejectedRow]) {
        let now = Utc::now();
        let mut last: Option<Arc<[String]>> = None;
        let items = rows
            .iter()
            .filter(|r| !rejected.iter().any(|x| x.sfid == r.sfid))
            .map(|r| {
                let names: Vec<&String> = r
                    .values
                    .keys()
                    .filter(|k| *k != "Id" && *k != "SystemModstamp")
                    .collect();
                let fields = match &last {
                    Some(f) if f.iter().eq(names.iter().copied()) => f.clone(),
                    _ => {
                        let f: Arc<[String]> = names.into_iter().cloned().collect();
                        last = Some(f.clone());
                        f
                    }
                };
                let text = |k: &str| r.values.get(k).and_then(Value::as_str);
                let created = text("CreatedDate");
                let op = if created.is_some() && created == text("LastModifiedDate") {
                    ChangeOp::Insert
                } else {
                    ChangeOp::Update
                };
                Pulled {
                    sfid: r.sfid.clone(),
                    stamp: r.systemmodstamp,
                    written_at: now,
                    who: text("LastModifiedById").map(str::to_owned),
                    op,
                    fields,
                }
            });
        self.push(org, object, items);
    }

    /// Remembers records a pull found deleted in Salesforce.
    pub fn deleted(&self, org: &str, object: &str, sfids: &[String]) {
        let now = Utc::now();
        let none: Arc<[String]> = Arc::from(Vec::new());
        self.push(
            org,
            object,
            sfids.iter().map(|s| Pulled {
                sfid: s.clone(),
                stamp: None,
                written_at: now,
                who: None,
                op: ChangeOp::Delete,
                fields: none.clone(),
            }),
        );
    }

    /// Appends, dropping the oldest past [`RING`]. A record read again with the same stamp
    /// (the pull's overlap window) is not a new change and is left out.
    fn push(&self, org: &str, object: &str, items: impl Iterator<Item = Pulled>) {
        let mut rings = self.rings.lock().unwrap_or_else(|e| e.into_inner());
        let ring = rings
            .entry((org.to_owned(), object.to_ascii_lowercase()))
            .or_default();
        for p in items {
            let seen = p.stamp.is_some()
                && ring
                    .iter()
                    .any(|q| q.sfid == p.sfid && q.stamp == p.stamp && q.op == p.op);
            if seen {
                continue;
            }
            if ring.len() == RING {
                ring.pop_front();
            }
            ring.push_back(p);
        }
    }

    /// The object's remembered pulls, oldest first.
    pub fn list(&self, org: &str, object: &str) -> Vec<Pulled> {
        let rings = self.rings.lock().unwrap_or_else(|e| e.into_inner());
        rings
            .get(&(org.to_owned(), object.to_ascii_lowercase()))
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Forgets an org's rings (the org was deleted).
    pub fn forget(&self, org: &str) {
        let mut rings = self.rings.lock().unwrap_or_else(|e| e.into_inner());
        rings.retain(|(o, _), _| o != org);
    }
}

/// A database change as the protocol shows it.
fn database_change(e: RecentEvent) -> RecentChange {
    let outcome = match (e.state.as_str(), e.error.as_deref()) {
        ("FAILED", _) => ChangeOutcome::Failed,
        ("DONE", None) => ChangeOutcome::Pushed,
        ("DONE", Some(SUPERSEDED_ERROR)) => ChangeOutcome::Superseded,
        ("DONE", Some(NOT_SENT_DISCARDED | NOT_SENT_DETACHED)) => ChangeOutcome::NotSent,
        ("DONE", Some(_)) => ChangeOutcome::Ignored,
        _ => ChangeOutcome::Pending,
    };
    RecentChange {
        side: ChangeSide::Database,
        at: e.event.created_at,
        who: Some(e.event.db_user).filter(|u| !u.is_empty()),
        op: match e.event.op {
            EventOp::Insert => ChangeOp::Insert,
            EventOp::Update => ChangeOp::Update,
            EventOp::Delete => ChangeOp::Delete,
        },
        fields: e.event.changed,
        row_id: Some(e.event.row_id),
        sfid: e.event.sfid,
        outcome,
        error: match outcome {
            ChangeOutcome::Pushed | ChangeOutcome::Pending => None,
            _ => e.error,
        },
    }
}

/// A pulled record as the protocol shows it.
fn salesforce_change(p: Pulled) -> RecentChange {
    RecentChange {
        side: ChangeSide::Salesforce,
        at: p.stamp.unwrap_or(p.written_at),
        who: p.who,
        op: p.op,
        fields: p.fields.to_vec(),
        row_id: None,
        sfid: Some(p.sfid),
        outcome: ChangeOutcome::Pulled,
        error: None,
    }
}

/// Both sides merged, newest first, at most `limit`. At the same instant the pull comes
/// first: it read what was there by then.
pub fn merge(db: Vec<RecentEvent>, sf: Vec<Pulled>, limit: usize) -> Vec<RecentChange> {
    let mut all: Vec<RecentChange> = db
        .into_iter()
        .map(database_change)
        .chain(sf.into_iter().map(salesforce_change))
        .collect();
    all.sort_by(|a, b| {
        b.at.cmp(&a.at)
            .then_with(|| (a.side == ChangeSide::Database).cmp(&(b.side == ChangeSide::Database)))
            .then_with(|| b.row_id.cmp(&a.row_id))
    });
    all.truncate(limit);
    all
}

/// `changes_recent`.
pub async fn list(state: &State, r: RecentChanges) -> Result<Vec<RecentChange>, DaemonError> {
    if !state
        .store
        .org_exists(&r.org)
        .await
        .map_err(crate::error::store_error)?
    {
        return Err(DaemonError::not_found(format!(
            "no org named {:?}: the org list shows the registered ones",
            r.org
        )));
    }
    let stored = mappings::stored(state, &r.org).await?;
    let Some(m) = stored
        .iter()
        .find(|m| m.mapping.object.eq_ignore_ascii_case(&r.object))
    else {
        return Err(DaemonError::not_found(format!(
            "org {:?} has no applied mapping for {:?}: map the object first (Objects screen), or pick one the Watch screen lists",
            r.org, r.object
        )));
    };
    let limit = r
        .limit
        .unwrap_or(RECENT_CHANGES_DEFAULT)
        .clamp(1, RECENT_CHANGES_MAX) as usize;
    let db = if m.mapping.direction.pushes() {
        let target = crate::datasource::admin_target(state, &r.org).await?;
        target
            .recent_events(&m.resolved, limit)
            .await
            .map_err(|e| {
                DaemonError::rejected(format!(
                    "{e}: check that the org's database is reachable, then try again"
                ))
            })?
    } else {
        Vec::new()
    };
    let sf = state.engine.recent().list(&r.org, &m.resolved.object);
    Ok(merge(db, sf, limit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targetdb::Event;
    use serde_json::{Map, json};

    fn row(sfid: &str, stamp: &str, values: Value) -> Row {
        let Value::Object(mut values) = values else {
            unreachable!()
        };
        values.insert("Id".into(), json!(sfid));
        Row {
            sfid: sfid.into(),
            systemmodstamp: Some(stamp.parse().unwrap()),
            values,
        }
    }

    fn event(id: i64, at: &str, state: &str, error: Option<&str>) -> RecentEvent {
        RecentEvent {
            event: Event {
                id,
                op: EventOp::Update,
                row_id: id,
                sfid: Some("001A".into()),
                changed: vec!["Phone".into()],
                old_values: Map::new(),
                new_values: Map::new(),
                db_user: "alice".into(),
                created_at: at.parse().unwrap(),
            },
            state: state.into(),
            error: error.map(str::to_owned),
        }
    }

    #[test]
    fn the_ring_is_bounded_and_skips_records_read_again() {
        let r = RecentPulls::default();
        let a = row(
            "001A",
            "2026-01-01T00:00:00Z",
            json!({"Name": "x", "LastModifiedById": "005U", "CreatedDate": "t", "LastModifiedDate": "t"}),
        );
        r.wrote("o", "Account", std::slice::from_ref(&a), &[]);
        r.wrote("o", "account", &[a], &[]);
        let got = r.list("o", "ACCOUNT");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].who.as_deref(), Some("005U"));
        assert_eq!(got[0].op, ChangeOp::Insert);
        assert!(!got[0].fields.iter().any(|f| f == "Id"));
        let rows: Vec<Row> = (0..RING + 5)
            .map(|i| {
                row(
                    &format!("001{i}"),
                    "2026-01-02T00:00:00Z",
                    json!({"Name": "y"}),
                )
            })
            .collect();
        let rejected = vec![RejectedRow {
            sfid: "0010".into(),
            error: "too long".into(),
        }];
        r.wrote("o", "Account", &rows, &rejected);
        let got = r.list("o", "Account");
        assert_eq!(got.len(), RING);
        assert!(
            got.iter()
                .all(|p| p.sfid != "0010" && p.op == ChangeOp::Update)
        );
        r.deleted("o", "Account", &["001X".into()]);
        assert_eq!(r.list("o", "Account").last().unwrap().op, ChangeOp::Delete);
        r.forget("o");
        assert!(r.list("o", "Account").is_empty());
    }

    #[test]
    fn changes_settled_unsent_say_so() {
        for note in [NOT_SENT_DISCARDED, NOT_SENT_DETACHED] {
            let all = merge(
                vec![event(0, "2026-01-01T00:00:00Z", "DONE", Some(note))],
                vec![],
                5,
            );
            assert_eq!(all[0].outcome, ChangeOutcome::NotSent);
            assert_eq!(all[0].error.as_deref(), Some(note));
        }
    }

    #[test]
    fn both_sides_merge_newest_first_with_their_outcomes() {
        let db = vec![
            event(4, "2026-01-01T00:00:04Z", "NEW", None),
            event(3, "2026-01-01T00:00:03Z", "FAILED", Some("E: no")),
            event(2, "2026-01-01T00:00:02Z", "DONE", Some("E: no")),
            event(1, "2026-01-01T00:00:01Z", "DONE", None),
            event(0, "2026-01-01T00:00:00Z", "DONE", Some(SUPERSEDED_ERROR)),
        ];
        let r = RecentPulls::default();
        r.wrote(
            "o",
            "Account",
            &[row("001B", "2026-01-01T00:00:03Z", json!({"Name": "n"}))],
            &[],
        );
        let all = merge(db, r.list("o", "Account"), 5);
        let outcomes: Vec<_> = all.iter().map(|c| c.outcome).collect();
        assert_eq!(
            outcomes,
            [
                ChangeOutcome::Pending,
                ChangeOutcome::Pulled,
                ChangeOutcome::Failed,
                ChangeOutcome::Ignored,
                ChangeOutcome::Pushed,
            ]
        );
        assert_eq!(all[2].error.as_deref(), Some("E: no"));
        assert_eq!(all[0].error, None);
        assert_eq!(all[0].who.as_deref(), Some("alice"));
        assert_eq!(all[1].who, None);
        assert_eq!(all[1].fields, ["Name"]);
        let all = merge(
            vec![event(
                0,
                "2026-01-01T00:00:00Z",
                "DONE",
                Some(SUPERSEDED_ERROR),
            )],
            Vec::new(),
            9,
        );
        assert_eq!(all[0].outcome, ChangeOutcome::Superseded);
    }
}
