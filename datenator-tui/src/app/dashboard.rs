//! The sync dashboard: every mapped object's live status from the `sync` topic (the
//! daemon keeps each object's records-per-minute for the last ten minutes).
use datenator_shared::model::{Direction, Feed, ObjectState, ObjectStatus, OrgSummary};

use super::{App, Cmd, Screen, Tone};
use crate::commands::Action;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dashboard {
    /// Index into the app's `sync` list.
    pub selected: usize,
}

/// A lag cell: "paused" while the org's sync is off, "–" where the direction has no such
/// lag or nothing has moved that way yet.
pub fn lag_text(s: &ObjectStatus, pull: bool) -> String {
    if s.state == ObjectState::Paused {
        return "paused".into();
    }
    let applies = if pull {
        s.direction != Direction::DbToSf
    } else {
        s.direction != Direction::SfToDb
    };
    let moved = if pull {
        s.pulled_total > 0 || s.pull_lag_secs.is_some()
    } else {
        s.pushed_total > 0 || s.pending_events > 0
    };
    if !applies || !moved {
        return "–".into();
    }
    if pull && s.feed == Feed::Stream && s.pull_lag_secs.is_none_or(|l| l < 1.0) {
        // Changes arrive as events: nothing waits to be applied.
        return "live".into();
    }
    human_secs(if pull {
        s.pull_lag_secs
    } else {
        s.push_lag_secs
    })
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

/// A polling interval as people read it: 30 s, 1 m, 5 m 30 s, 1 h 30 m.
pub fn human_interval(secs: u32) -> String {
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    match (h, m, s) {
        (0, 0, s) => format!("{s} s"),
        (0, m, 0) => format!("{m} m"),
        (0, m, s) => format!("{m} m {s} s"),
        (h, 0, _) => format!("{h} h"),
        (h, m, _) => format!("{h} h {m} m"),
    }
}

/// Where an org's API usage is heading, in words: the forecast, and when the scheduler
/// polls less often than configured to stay within the budget, that too.
pub fn forecast_text(org: &OrgSummary) -> Option<(String, Option<String>)> {
    let f = org.api_forecast?;
    let forecast = format!(
        "forecast {:.0}% of the daily limit: {} used in 24 h + {:.0} a day of polling",
        f.projected_percent, f.used_calls, f.steady_calls_per_day
    );
    let stretched = f.stretched(org.polling_interval_secs).then(|| {
        format!(
            "polling every {} instead of {}: {} calls used in 24 h + {:.0} a day of polling = {:.0}%, past the {}% budget",
            human_interval(f.effective_interval_secs),
            human_interval(org.polling_interval_secs),
            f.used_calls,
            f.steady_calls_per_day,
            f.projected_percent,
            org.api_budget_percent
        )
    });
    Some((forecast, stretched))
}

/// The stretched-polling line for a narrow screen: the interval and the projection only.
pub fn stretched_short(org: &OrgSummary) -> Option<String> {
    let f = org.api_forecast?;
    f.stretched(org.polling_interval_secs).then(|| {
        format!(
            "polling every {} instead of {}: {:.0}% projected, past the {}% budget",
            human_interval(f.effective_interval_secs),
            human_interval(org.polling_interval_secs),
            f.projected_percent,
            org.api_budget_percent
        )
    })
}

/// A text sparkline of `samples` (one character each, the last `width`).
pub fn spark(samples: &[u64], width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let tail = &samples[samples.len().saturating_sub(width)..];
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

/// The org the dashboard's keys act on: the selected object's, else the one selected on
/// the Orgs screen.
fn current_org(app: &App, selected: usize) -> Option<String> {
    app.sync
        .get(selected)
        .map(|s| s.org.clone())
        .or_else(|| app.selected_org().map(|o| o.name.clone()))
}

pub(crate) fn apply(app: &mut App, action: Action) -> Vec<Cmd> {
    let len = app.sync.len();
    let Screen::Dashboard(d) = &mut app.screen else {
        return vec![];
    };
    match action {
        a if super::step(&mut d.selected, len, a) => {}
        Action::Back => app.screen = Screen::Orgs,
        Action::SyncNow => {
            let selected = d.selected;
            if let Some(org) = current_org(app, selected) {
                return super::sync_now(app, org);
            }
        }
        Action::ToggleSync => {
            let selected = d.selected;
            match current_org(app, selected).and_then(|o| app.org(&o).cloned()) {
                Some(o) => return super::set_sync(app, o.name, !o.sync_enabled),
                None => app.say(
                    Tone::Warn,
                    "No org to turn sync on for: register one first.",
                ),
            }
        }
        Action::Resync => match app.sync.get(d.selected) {
            Some(s) => {
                let (org, object) = (s.org.clone(), s.object.clone());
                return super::resync::ask(app, org, object);
            }
            None => app.say(
                Tone::Info,
                "No object to re-read: map one first (Objects: Enter on an org).",
            ),
        },
        Action::OpenRecent if app.sync.get(d.selected).is_none() => app.say(
            Tone::Info,
            "No object to show the changes of: map one first (Objects: Enter on an org).",
        ),
        Action::OpenFailed | Action::OpenConflicts | Action::OpenRecent | Action::OpenLog => {
            // The selected object's org (else the org selected on the Orgs screen).
            let (org, object) = match app.sync.get(d.selected) {
                Some(s) => (Some(s.org.clone()), Some(s.object.clone())),
                None => (app.selected_org().map(|o| o.name.clone()), None),
            };
            return super::open_org_screen(app, action, org, object);
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
            rows: None,
            last_error: None,
            last_sync_at: None,
            activity: vec![],
            backfill: None,
            removed_fields: vec![],
            detached_rows: 0,
            type_changes: vec![],
            reloading: false,
            feed: Default::default(),
            feed_note: None,
            last_event_secs: None,
        }
    }

    #[test]
    fn activity_is_a_sparkline_of_the_last_minutes() {
        assert_eq!(spark(&[0, 30, 0, 60], 10), " ▄ █");
        assert_eq!(spark(&[9, 9, 0, 30, 0, 60], 4), " ▄ █");
        assert_eq!(spark(&[], 10), "");
    }

    #[test]
    fn lags_say_paused_and_dash_where_nothing_moved() {
        let mut s = status("acme", "Account", 0);
        s.pull_lag_secs = None;
        s.push_lag_secs = Some(0.0);
        assert_eq!(
            (lag_text(&s, true), lag_text(&s, false)),
            ("–".into(), "–".into())
        );
        s.pushed_total = 3;
        s.pulled_total = 5;
        s.pull_lag_secs = Some(4.0);
        assert_eq!(
            (lag_text(&s, true), lag_text(&s, false)),
            ("4s".into(), "0s".into())
        );
        s.direction = Direction::SfToDb;
        assert_eq!(lag_text(&s, false), "–");
        s.state = ObjectState::Paused;
        assert_eq!(lag_text(&s, true), "paused");
    }

    #[test]
    fn while_paused_e_turns_sync_on_and_y_says_why_it_cannot_sync() {
        let mut app = with_orgs(&["acme"]);
        let mut s = status("acme", "Account", 1);
        s.state = ObjectState::Paused;
        update(&mut app, Msg::Event(Event::Sync(vec![s])));
        update(&mut app, key(KeyCode::Char('w')));
        let cmds = update(&mut app, key(KeyCode::Char('y')));
        assert!(cmds.is_empty());
        let notice = app.notice.clone().unwrap();
        assert!(notice.text.contains("press e"), "{notice:?}");
        let cmds = update(&mut app, key(KeyCode::Char('e')));
        assert!(
            matches!(&cmds[..], [Cmd::Request { call: datenator_shared::protocol::Call::OrgSetSync(r), .. }] if r.enabled && r.name == "acme"),
            "{cmds:?}"
        );
    }

    #[test]
    fn the_forecast_reads_in_words_and_says_when_polling_is_stretched() {
        use datenator_shared::model::UsageForecast;
        let mut o = crate::app::tests::org("acme");
        assert_eq!(forecast_text(&o), None);
        o.api_forecast = Some(UsageForecast {
            calls_per_hour: 60.0,
            projected_percent: 41.6,
            effective_interval_secs: 60,
            used_calls: 4_800,
            steady_calls_per_day: 1_440.0,
        });
        assert_eq!(
            forecast_text(&o),
            Some((
                "forecast 42% of the daily limit: 4800 used in 24 h + 1440 a day of polling".into(),
                None
            ))
        );
        o.api_forecast = Some(UsageForecast {
            calls_per_hour: 12.0,
            projected_percent: 56.0,
            effective_interval_secs: 300,
            used_calls: 6_960,
            steady_calls_per_day: 1_440.0,
        });
        let (_, stretched) = forecast_text(&o).unwrap();
        assert_eq!(
            stretched.as_deref(),
            Some(
                "polling every 5 m instead of 1 m: 6960 calls used in 24 h + 1440 a day of polling = 56%, past the 50% budget"
            )
        );
        assert_eq!(human_interval(45), "45 s");
        assert_eq!(human_interval(330), "5 m 30 s");
        assert_eq!(human_interval(3600), "1 h");
        assert_eq!(human_interval(5400), "1 h 30 m");
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
        app.orgs.as_mut().unwrap()[0].sync_enabled = true;
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
