//! The sync dashboard: every mapped object's live status from the `sync` topic, with a
//! short throughput history kept here (the daemon sends totals; the TUI keeps the deltas).
use std::collections::{BTreeMap, VecDeque};

use datenator_shared::model::ObjectStatus;

use super::{App, Cmd, Screen};
use crate::commands::Action;

/// How many throughput samples each object keeps.
pub const HISTORY: usize = 24;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dashboard {
    /// Index into the app's `sync` list.
    pub selected: usize,
}

/// Rows moved per `sync` event, per (org, object), newest last.
pub type Throughput = BTreeMap<(String, String), VecDeque<u64>>;

/// Records what moved since the previous status of each object.
pub(crate) fn record(history: &mut Throughput, old: &[ObjectStatus], new: &[ObjectStatus]) {
    for s in new {
        let key = (s.org.clone(), s.object.clone());
        let before = old
            .iter()
            .find(|o| o.org == s.org && o.object == s.object)
            .map(|o| o.pulled_total + o.pushed_total);
        let now = s.pulled_total + s.pushed_total;
        let samples = history.entry(key).or_default();
        samples.push_back(before.map_or(0, |b| now.saturating_sub(b)));
        while samples.len() > HISTORY {
            samples.pop_front();
        }
    }
    history.retain(|(org, object), _| new.iter().any(|s| &s.org == org && &s.object == object));
}

/// Seconds as people read them: 4s, 2m 05s, 1h 03m.
pub fn human_secs(secs: Option<f64>) -> String {
    let Some(secs) = secs else {
        return "–".into();
    };
    let s = secs.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// A text sparkline of `samples` (one character each).
pub fn spark(samples: &VecDeque<u64>, width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let tail: Vec<u64> = samples
        .iter()
        .skip(samples.len().saturating_sub(width))
        .copied()
        .collect();
    let max = tail.iter().copied().max().unwrap_or(0);
    tail.iter()
        .map(|&v| {
            if max == 0 || v == 0 {
                ' '
            } else {
                BARS[((v * 8).div_ceil(max) as usize).clamp(1, 8) - 1]
            }
        })
        .collect()
}

pub(crate) fn apply(app: &mut App, action: Action) -> Vec<Cmd> {
    let len = app.sync.len();
    let Screen::Dashboard(d) = &mut app.screen else {
        return vec![];
    };
    match action {
        Action::Up => d.selected = d.selected.saturating_sub(1),
        Action::Down => d.selected = (d.selected + 1).min(len.saturating_sub(1)),
        Action::Top => d.selected = 0,
        Action::Bottom => d.selected = len.saturating_sub(1),
        Action::Back => app.screen = Screen::Orgs,
        Action::SyncNow => {
            if let Some(org) = app.sync.get(d.selected).map(|s| s.org.clone()) {
                return super::sync_now(app, org);
            }
        }
        // To the org's objects, filtered to this one: Enter there edits its mapping.
        Action::Submit => {
            if let Some(s) = app.sync.get(d.selected) {
                let (org, object) = (s.org.clone(), s.object.clone());
                let cmds = super::objects::open(app, org);
                if let Screen::Objects(o) = &mut app.screen {
                    o.filter = object;
                }
                return cmds;
            }
        }
        _ => {}
    }
    vec![]
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::app::tests::{key, with_orgs};
    use crate::app::{Msg, update};
    use crossterm::event::KeyCode;
    use datenator_shared::model::{Direction, Event, ObjectState};

    pub(crate) fn status(org: &str, object: &str, pulled: u64) -> ObjectStatus {
        ObjectStatus {
            org: org.into(),
            object: object.into(),
            direction: Direction::Bidirectional,
            state: ObjectState::Synced,
            initial_load: None,
            pull_lag_secs: Some(3.0),
            push_lag_secs: None,
            pending_events: 0,
            failed_records: 0,
            pulled_total: pulled,
            pushed_total: 0,
            last_error: None,
            last_sync_at: None,
        }
    }

    #[test]
    fn throughput_is_the_delta_between_events() {
        let mut app = with_orgs(&["acme"]);
        for pulled in [100, 130, 130, 190] {
            update(
                &mut app,
                Msg::Event(Event::Sync(vec![status("acme", "Account", pulled)])),
            );
        }
        let h = &app.throughput[&("acme".to_owned(), "Account".to_owned())];
        assert_eq!(h.iter().copied().collect::<Vec<_>>(), [0, 30, 0, 60]);
        assert_eq!(spark(h, 10), " ▄ █");
        // An object that is no longer mapped loses its history.
        update(&mut app, Msg::Event(Event::Sync(vec![])));
        assert!(app.throughput.is_empty());
    }

    #[test]
    fn lags_read_like_time() {
        assert_eq!(human_secs(None), "–");
        assert_eq!(human_secs(Some(4.4)), "4s");
        assert_eq!(human_secs(Some(125.0)), "2m 05s");
        assert_eq!(human_secs(Some(3780.0)), "1h 03m");
    }

    #[test]
    fn w_opens_the_dashboard_and_y_syncs_the_selected_org_now() {
        let mut app = with_orgs(&["acme"]);
        update(
            &mut app,
            Msg::Event(Event::Sync(vec![
                status("acme", "Account", 1),
                status("acme", "Contact", 2),
            ])),
        );
        update(&mut app, key(KeyCode::Char('w')));
        assert!(matches!(app.screen, Screen::Dashboard(_)));
        update(&mut app, key(KeyCode::Char('j')));
        update(&mut app, key(KeyCode::Char('j')));
        let Screen::Dashboard(d) = &app.screen else {
            panic!()
        };
        assert_eq!(d.selected, 1);
        let cmds = update(&mut app, key(KeyCode::Char('y')));
        assert_eq!(cmds.len(), 1);
        update(&mut app, key(KeyCode::Enter));
        let Screen::Objects(o) = &app.screen else {
            panic!("{:?}", app.screen)
        };
        assert_eq!((o.org.as_str(), o.filter.as_str()), ("acme", "Contact"));
        update(&mut app, key(KeyCode::Esc));
        update(&mut app, key(KeyCode::Esc));
        assert_eq!(app.screen, Screen::Orgs);
    }
}
