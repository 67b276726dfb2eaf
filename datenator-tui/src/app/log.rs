//! The daemon log: the `log` topic's lines, kept by the app whatever the screen (the first
//! event of a subscription is the recent tail, later ones only new lines, so they are
//! appended), shown following the tail unless scrolled back, for every org or one.
use datenator_shared::model::{LOG_TAIL_LINES, LogLine};

use super::{App, Back, Cmd, Screen, Tone};
use crate::commands::Action;

#[derive(Debug, Clone, PartialEq)]
pub struct LogView {
    /// How many lines back from the newest the view ends; 0 follows the tail.
    pub scroll: usize,
    /// The org selected when the log was opened: what `f` filters by.
    pub org: Option<String>,
    /// Only `org`'s lines are shown.
    pub filtered: bool,
    pub back: Back,
}

impl LogView {
    pub fn new(org: Option<String>, back: Back) -> LogView {
        LogView {
            scroll: 0,
            org,
            filtered: false,
            back,
        }
    }

    /// The org whose lines alone are shown, if any.
    pub fn shown_org(&self) -> Option<&str> {
        self.org.as_deref().filter(|_| self.filtered)
    }

    pub fn shows(&self, line: &LogLine) -> bool {
        match self.shown_org() {
            Some(org) => line.org.as_deref() == Some(org),
            None => true,
        }
    }

    pub fn following(&self) -> bool {
        self.scroll == 0
    }
}

/// The lines `view` shows, oldest first.
pub fn visible<'a>(app: &'a App, view: &LogView) -> Vec<&'a LogLine> {
    app.log.iter().filter(|l| view.shows(l)).collect()
}

/// One log line whole, its fields one per line.
pub fn detail(l: &LogLine) -> (String, Vec<(Tone, String)>) {
    let tone = match l.level.as_str() {
        "ERROR" => Tone::Error,
        "WARN" => Tone::Warn,
        _ => Tone::Info,
    };
    let mut lines = vec![(
        Tone::Info,
        format!("{} UTC", l.at.format("%Y-%m-%d %H:%M:%S%.3f")),
    )];
    if let Some(org) = &l.org {
        lines.push((Tone::Info, format!("Org: {org}")));
    }
    lines.push((Tone::Info, String::new()));
    lines.push((tone, l.message.clone()));
    (format!("{} log line", l.level), lines)
}

/// Rows the log has on screen at the current terminal size (everything but the header,
/// the status line, the footer, the frame and the column line).
pub fn page(app: &App) -> usize {
    let banner = if app.conn.is_connected() { 0 } else { 5 };
    (app.size.1 as usize).saturating_sub(6 + banner).max(1)
}

/// Appends the daemon's new lines (or, for a subscription's first event, replaces the
/// kept tail), keeping at most [`LOG_TAIL_LINES`].
pub(crate) fn on_lines(app: &mut App, lines: Vec<LogLine>) {
    if std::mem::take(&mut app.log_fresh) {
        app.log.clear();
    } else if let Screen::Log(view) = &mut app.screen {
        // Scrolled back, the view stays on the same lines as new ones arrive.
        if !view.following() {
            view.scroll += lines.iter().filter(|l| view.shows(l)).count();
        }
    }
    app.log.extend(lines);
    let excess = app.log.len().saturating_sub(LOG_TAIL_LINES);
    app.log.drain(..excess);
    clamp(app);
}

/// Keeps the scroll position within the lines there are.
pub(crate) fn clamp(app: &mut App) {
    let Screen::Log(view) = &app.screen else {
        return;
    };
    let max = visible(app, view).len().saturating_sub(page(app));
    if let Screen::Log(view) = &mut app.screen {
        view.scroll = view.scroll.min(max);
    }
}

pub(crate) fn apply(app: &mut App, action: Action) -> Vec<Cmd> {
    let page = page(app);
    let Screen::Log(view) = &mut app.screen else {
        return vec![];
    };
    match action {
        Action::Up => view.scroll += 1,
        Action::Down => view.scroll = view.scroll.saturating_sub(1),
        Action::PageUp => view.scroll += page,
        Action::PageDown => view.scroll = view.scroll.saturating_sub(page),
        Action::Top => view.scroll = usize::MAX,
        Action::Bottom => view.scroll = 0,
        Action::ToggleOrgFilter => match &view.org {
            Some(org) => {
                view.filtered = !view.filtered;
                view.scroll = 0;
                let text = if view.filtered {
                    format!("Showing {org}'s lines only (f shows every org's).")
                } else {
                    "Showing every org's lines.".to_owned()
                };
                app.say(Tone::Info, text);
            }
            None => app.say(
                Tone::Info,
                "No org was selected: open the log from an org (Orgs: select it, press l) \
                 to filter by it.",
            ),
        },
        Action::Back => {
            let back = view.back.clone();
            back.go(app);
            return vec![];
        }
        Action::Submit => {
            let view = view.clone();
            let lines = visible(app, &view);
            if let Some(l) = lines
                .len()
                .checked_sub(1 + view.scroll)
                .and_then(|i| lines.get(i))
            {
                let (title, detail) = detail(l);
                super::show_detail(app, title, detail);
            } else {
                app.say(Tone::Info, "No log line to open.");
            }
            return vec![];
        }
        _ => {}
    }
    clamp(app);
    vec![]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::tests::{key, with_orgs};
    use crate::app::{Msg, update};
    use chrono::TimeZone;
    use crossterm::event::KeyCode;
    use datenator_shared::model::Event;
    use datenator_shared::protocol::HandshakeOk;

    pub(crate) fn line(n: usize, org: Option<&str>) -> LogLine {
        LogLine {
            at: chrono::Utc
                .with_ymd_and_hms(2026, 11, 24, 12, 0, 0)
                .unwrap()
                + chrono::Duration::seconds(n as i64),
            level: "INFO".into(),
            org: org.map(Into::into),
            message: format!("line {n}"),
        }
    }

    fn lines(range: std::ops::Range<usize>) -> Vec<LogLine> {
        range.map(|n| line(n, None)).collect()
    }

    fn messages(app: &App) -> Vec<String> {
        app.log.iter().map(|l| l.message.clone()).collect()
    }

    fn view(app: &App) -> &LogView {
        match &app.screen {
            Screen::Log(v) => v,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_first_event_is_the_tail_and_later_ones_are_appended() {
        let mut app = with_orgs(&["acme"]);
        update(&mut app, Msg::Event(Event::Log(lines(0..3))));
        update(&mut app, Msg::Event(Event::Log(lines(3..5))));
        assert_eq!(messages(&app).len(), 5);
        assert_eq!(messages(&app)[4], "line 4");
        // A reconnection subscribes again: its first event replaces the tail, no doubles.
        update(
            &mut app,
            Msg::Connected(HandshakeOk {
                protocol: 1,
                daemon_version: "9.9.9".into(),
            }),
        );
        update(&mut app, Msg::Event(Event::Log(lines(2..6))));
        assert_eq!(messages(&app), ["line 2", "line 3", "line 4", "line 5"]);
    }

    #[test]
    fn at_most_the_tail_length_is_kept() {
        let mut app = with_orgs(&["acme"]);
        update(&mut app, Msg::Event(Event::Log(lines(0..LOG_TAIL_LINES))));
        update(
            &mut app,
            Msg::Event(Event::Log(lines(LOG_TAIL_LINES..LOG_TAIL_LINES + 7))),
        );
        assert_eq!(app.log.len(), LOG_TAIL_LINES);
        assert_eq!(app.log[0].message, "line 7");
    }

    #[test]
    fn the_view_follows_the_tail_until_scrolled_back_and_end_follows_again() {
        let mut app = with_orgs(&["acme"]);
        update(
            &mut app,
            Msg::Resize {
                width: 80,
                height: 24,
            },
        );
        update(&mut app, Msg::Event(Event::Log(lines(0..100))));
        update(&mut app, key(KeyCode::Char('l')));
        assert!(view(&app).following());
        update(&mut app, Msg::Event(Event::Log(lines(100..102))));
        assert!(view(&app).following());
        update(&mut app, key(KeyCode::Up));
        update(&mut app, key(KeyCode::Char('k')));
        assert_eq!(view(&app).scroll, 2);
        // New lines keep a scrolled-back view on the same lines.
        update(&mut app, Msg::Event(Event::Log(lines(102..105))));
        assert_eq!(view(&app).scroll, 5);
        update(&mut app, key(KeyCode::PageUp));
        assert_eq!(view(&app).scroll, 5 + page(&app));
        update(&mut app, key(KeyCode::PageDown));
        update(&mut app, key(KeyCode::Down));
        assert_eq!(view(&app).scroll, 4);
        // Home stops at the oldest page, not beyond it.
        update(&mut app, key(KeyCode::Home));
        assert_eq!(view(&app).scroll, 105 - page(&app));
        update(&mut app, key(KeyCode::End));
        assert!(view(&app).following());
        update(&mut app, key(KeyCode::Esc));
        assert_eq!(app.screen, Screen::Orgs);
    }

    #[test]
    fn f_toggles_between_the_selected_org_and_every_org() {
        let mut app = with_orgs(&["acme", "beta"]);
        update(
            &mut app,
            Msg::Event(Event::Log(vec![
                line(0, Some("acme")),
                line(1, Some("beta")),
                line(2, None),
            ])),
        );
        update(&mut app, key(KeyCode::Char('j')));
        update(&mut app, key(KeyCode::Char('l')));
        assert_eq!(app.screen.title(), "Daemon log");
        assert_eq!(visible(&app, view(&app)).len(), 3);
        update(&mut app, key(KeyCode::Char('f')));
        assert_eq!(app.screen.title(), "Daemon log · beta");
        let shown: Vec<_> = visible(&app, view(&app))
            .iter()
            .map(|l| l.message.clone())
            .collect();
        assert_eq!(shown, ["line 1"]);
        update(&mut app, key(KeyCode::Char('f')));
        assert_eq!(visible(&app, view(&app)).len(), 3);
    }

    #[test]
    fn the_log_opens_from_the_dashboard_and_goes_back_there() {
        let mut app = with_orgs(&["acme"]);
        update(&mut app, key(KeyCode::Char('w')));
        update(&mut app, key(KeyCode::Char('l')));
        assert!(matches!(app.screen, Screen::Log(_)));
        update(&mut app, key(KeyCode::Esc));
        assert!(matches!(app.screen, Screen::Dashboard(_)));
    }
}
