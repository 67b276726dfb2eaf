//! The per-object status board behind the `sync` topic.
use std::collections::BTreeMap;
use std::sync::Mutex;

use datenator_shared::model::{Direction, ObjectState, ObjectStatus};
use tokio::sync::watch;

/// Every mapped object's status, keyed by (org, object); publishes a full copy on change.
pub struct StatusBoard {
    map: Mutex<BTreeMap<(String, String), ObjectStatus>>,
    tx: watch::Sender<Vec<ObjectStatus>>,
}

impl Default for StatusBoard {
    fn default() -> Self {
        StatusBoard {
            map: Mutex::new(BTreeMap::new()),
            tx: watch::channel(Vec::new()).0,
        }
    }
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

    fn publish(&self, map: &BTreeMap<(String, String), ObjectStatus>) {
        let all: Vec<ObjectStatus> = map.values().cloned().collect();
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
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let entry = map
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
            });
        entry.direction = direction;
        change(entry);
        self.publish(&map);
    }

    /// Keeps only the listed objects of `org` (a mapping was removed).
    pub fn retain_objects(&self, org: &str, objects: &[String]) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|(o, obj), _| o != org || objects.iter().any(|x| x.eq_ignore_ascii_case(obj)));
        self.publish(&map);
    }

    pub fn pause_org(&self, org: &str) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        for ((o, _), s) in map.iter_mut() {
            if o == org {
                s.state = ObjectState::Paused;
            }
        }
        self.publish(&map);
    }

    pub fn remove_org(&self, org: &str) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|(o, _), _| o != org);
        self.publish(&map);
    }
}
