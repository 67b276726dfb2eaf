//! The per-object status board behind the `sync` topic.
use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use datenator_shared::model::{ACTIVITY_MINUTES, Direction, Feed, ObjectState, ObjectStatus};
use tokio::sync::watch;

/// Every mapped object's status, keyed by (org, object); publishes a full copy on change.
pub struct StatusBoard {
    map: Mutex<Board>,
    tx: watch::Sender<Vec<ObjectStatus>>,
}

#[derive(Default)]
struct Board {
    objects: BTreeMap<(String, String), ObjectStatus>,
    /// The minute (since the epoch) the last bucket of every object's activity counts.
    minute: i64,
}

impl Default for StatusBoard {
    fn default() -> Self {
        StatusBoard {
            map: Mutex::new(Board {
                objects: BTreeMap::new(),
                minute: minute_of(Utc::now()),
            }),
            tx: watch::channel(Vec::new()).0,
        }
    }
}

fn minute_of(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(60)
}

/// Shifts `activity` so its last bucket is `minutes` later, keeping [`ACTIVITY_MINUTES`].
fn shift(activity: &mut Vec<u64>, minutes: i64) {
    activity.resize(ACTIVITY_MINUTES, 0);
    let n = (minutes.max(0) as usize).min(ACTIVITY_MINUTES);
    activity.drain(..n);
    activity.resize(ACTIVITY_MINUTES, 0);
}

impl StatusBoard {
    pub fn subscribe(&self) -> watch::Receiver<Vec<ObjectStatus>> {
        self.tx.subscribe()
    }

    pub fn snapshot(&self) -> Vec<ObjectStatus> {
        self.tx.borrow().clone()
    }

    /// One object's status, if it has one yet.
    pub fn get(&self, org: &str, object: &str) -> Option<ObjectStatus> {
        self.tx
            .borrow()
            .iter()
            .find(|s| s.org == org && s.object == object)
            .cloned()
    }

    fn publish(&self, board: &Board) {
        let all: Vec<ObjectStatus> = board.objects.values().cloned().collect();
        self.tx.send_if_modified(|cur| {
            let changed = *cur != all;
            *cur = all;
            changed
        });
    }

    /// Changes one object's status (creating it when new) and publishes.
    pub fn update(
        &self,
        org: &str,
        object: &str,
        direction: Direction,
        change: impl FnOnce(&mut ObjectStatus),
    ) {
        let mut board = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let entry = board
            .objects
            .entry((org.to_owned(), object.to_owned()))
            .or_insert_with(|| ObjectStatus {
                org: org.to_owned(),
                object: object.to_owned(),
                direction,
                state: ObjectState::Synced,
                initial_load: None,
                pull_lag_secs: None,
                push_lag_secs: None,
                pending_events: 0,
                failed_records: 0,
                pulled_total: 0,
                pushed_total: 0,
                rows: None,
                last_error: None,
                last_sync_at: None,
                activity: vec![0; ACTIVITY_MINUTES],
                backfill: None,
                removed_fields: vec![],
                detached_rows: 0,
                type_changes: vec![],
                reloading: false,
                feed: Feed::Poll,
                feed_note: None,
                last_event_secs: None,
            });
        entry.direction = direction;
        let moved = entry.pulled_total + entry.pushed_total;
        change(entry);
        let moved = (entry.pulled_total + entry.pushed_total).saturating_sub(moved);
        if moved > 0 {
            entry.activity.resize(ACTIVITY_MINUTES, 0);
            if let Some(now) = entry.activity.last_mut() {
                *now += moved;
            }
        }
        self.publish(&board);
    }

    /// Starts a new activity minute for every object when the clock has passed into one
    /// (an idle object's sparkline empties as time goes by). Publishes if anything moved.
    pub fn roll_minutes(&self, now: DateTime<Utc>) {
        let mut board = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let minute = minute_of(now);
        if minute <= board.minute {
            return;
        }
        let passed = minute - board.minute;
        board.minute = minute;
        for s in board.objects.values_mut() {
            shift(&mut s.activity, passed);
        }
        self.publish(&board);
    }

    /// Keeps only the listed objects of `org` (a mapping was removed).
    pub fn retain_objects(&self, org: &str, objects: &[String]) {
        let mut board = self.map.lock().unwrap_or_else(|e| e.into_inner());
        board
            .objects
            .retain(|(o, obj), _| o != org || objects.iter().any(|x| x.eq_ignore_ascii_case(obj)));
        self.publish(&board);
    }

    pub fn pause_org(&self, org: &str) {
        let mut board = self.map.lock().unwrap_or_else(|e| e.into_inner());
        for ((o, _), s) in board.objects.iter_mut() {
            if o == org {
                s.state = ObjectState::Paused;
                s.pull_lag_secs = None;
                s.push_lag_secs = None;
            }
        }
        self.publish(&board);
    }

    /// The org's worker stopped on an internal error: every object of the org says so.
    pub fn worker_failed(&self, org: &str, message: &str) {
        let mut board = self.map.lock().unwrap_or_else(|e| e.into_inner());
        for ((o, _), s) in board.objects.iter_mut() {
            if o == org {
                s.state = ObjectState::Error;
                s.last_error = Some(message.to_owned());
            }
        }
        self.publish(&board);
    }

    /// The org's objects, as this daemon sees them (published to the fleet).
    pub fn org_objects(&self, org: &str) -> Vec<ObjectStatus> {
        self.tx
            .borrow()
            .iter()
            .filter(|s| s.org == org)
            .cloned()
            .collect()
    }

    /// Replaces the org's objects with what the daemon that runs it published (a fleet).
    pub fn set_org(&self, org: &str, objects: Vec<ObjectStatus>) {
        let mut board = self.map.lock().unwrap_or_else(|e| e.into_inner());
        board.objects.retain(|(o, _), _| o != org);
        for s in objects.into_iter().filter(|s| s.org == org) {
            board.objects.insert((s.org.clone(), s.object.clone()), s);
        }
        self.publish(&board);
    }

    pub fn remove_org(&self, org: &str) {
        let mut board = self.map.lock().unwrap_or_else(|e| e.into_inner());
        board.objects.retain(|(o, _), _| o != org);
        self.publish(&board);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_counts_records_per_minute_and_rolls_over() {
        let board = StatusBoard::default();
        let m0 = board.map.lock().unwrap().minute;
        let t0 = DateTime::from_timestamp(m0 * 60, 0).unwrap();
        board.update("o", "Account", Direction::Bidirectional, |s| {
            s.pulled_total += 5;
        });
        board.update("o", "Account", Direction::Bidirectional, |s| {
            s.pushed_total += 2;
            s.state = ObjectState::Pushing; // no records: counts nothing
        });
        let activity = |b: &StatusBoard| b.get("o", "Account").unwrap().activity;
        assert_eq!(activity(&board).last(), Some(&7));
        assert_eq!(activity(&board).len(), ACTIVITY_MINUTES);
        board.roll_minutes(t0 + chrono::Duration::seconds(60));
        let a = activity(&board);
        assert_eq!(a[ACTIVITY_MINUTES - 2..], [7, 0]);
        board.roll_minutes(t0 + chrono::Duration::seconds(30 * 60));
        assert!(activity(&board).iter().all(|&n| n == 0));
    }
}
