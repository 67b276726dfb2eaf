//! Drawing: a pure function of the [`App`] state.
mod conflicts;
mod dashboard;
mod dialog;
mod failed;
mod form;
mod log;
mod mapping;
mod objects;
mod orgs;
mod qr;
mod recent;
mod register;
mod settings;
mod theme;

use datenator_shared::model::ObjectState;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Row, Table, Wrap};

use crate::app::objects::Load;
use crate::app::{App, ConnState, Screen, Tone};
use crate::commands;
pub use theme::Theme;

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &App) {
    let theme = Theme::new(app.no_color);
    let banner_height = if app.conn.is_connected() { 0 } else { 5 };
    let [header, banner, body, status, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(banner_height),
        Constraint::Min(3),
        Constraint::Length(status_height(app, frame.area().width)),
        Constraint::Length(1),
    ])
    .areas(frame.area());

    draw_header(frame, header, app, &theme);
    if banner_height > 0 {
        draw_banner(frame, banner, app, &theme);
    }
    match &app.screen {
        Screen::Orgs => orgs::draw(frame, body, app, &theme),
        Screen::Register(r) => register::draw(frame, body, app, r, &theme),
        Screen::Settings(s) => settings::draw(frame, body, app, s, &theme),
        Screen::Objects(o) => objects::draw(frame, body, app, o, &theme),
        Screen::Mapping(m) => mapping::draw(frame, body, m, &theme),
        Screen::Dashboard(d) => dashboard::draw(frame, body, app, d, &theme),
        Screen::Failed(f) => failed::draw(frame, body, f, &theme),
        Screen::Conflicts(c) => conflicts::draw(frame, body, c, &theme),
        Screen::Recent(r) => recent::draw(frame, body, r, &theme),
        Screen::Log(l) => log::draw(frame, body, app, l, &theme),
    }
    draw_status(frame, status, app, &theme);
    draw_footer(frame, footer, app, &theme);
    if let Some(d) = &app.dialog {
        dialog::draw(frame, app, d, &theme);
    }
    if app.show_help {
        draw_help(frame, app, &theme);
    }
}

fn draw_header(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let conn = match &app.conn {
        ConnState::Connecting => Span::styled("connecting…", theme.warn()),
        ConnState::Connected { daemon_version } => {
            Span::styled(format!("● datenatord {daemon_version}"), theme.ok())
        }
        ConnState::Disconnected { .. } => Span::styled("○ disconnected", theme.error()),
    };
    let title = app.screen.title();
    let line = Line::from(vec![
        Span::styled(" Datenator ", theme.title()),
        Span::raw(" "),
        Span::styled(title, theme.bold()),
        Span::raw("  "),
        conn,
    ]);
    frame.render_widget(Paragraph::new(line).style(theme.bar()), area);
}

fn draw_banner(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let text = match &app.conn {
        ConnState::Disconnected {
            reason,
            retry_in_secs,
        } => vec![
            Line::from(Span::styled(
                format!("Not connected — retrying in {retry_in_secs}s (R retries now)"),
                theme.error(),
            )),
            Line::from(reason.clone()),
        ],
        _ => vec![Line::from(format!("Connecting to {}…", app.socket_path))],
    };
    frame.render_widget(
        Paragraph::new(text).wrap(Wrap { trim: true }).block(
            Block::default()
                .borders(Borders::BOTTOM)
                .border_style(theme.dim()),
        ),
        area,
    );
}

pub(crate) const SPINNER: &[&str] = &["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/// One row for the status line, up to three when an outcome needs them (error texts say
/// what to do); a longer one is cut there, and `!` opens it whole.
fn status_height(app: &App, width: u16) -> u16 {
    match &app.notice {
        Some(n) if app.pending.is_empty() && width > 0 => {
            crate::app::notice_rows(&n.text, width).clamp(1, crate::app::NOTICE_ROWS)
        }
        _ => 1,
    }
}

/// The status line: what is in flight (with a spinner), else the last outcome.
fn draw_status(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let line = if let Some(p) = app.pending.values().next_back() {
        let spin = SPINNER[(app.tick as usize) % SPINNER.len()];
        let more = match app.pending.len() {
            1 => String::new(),
            n => format!(" (+{} more)", n - 1),
        };
        Line::from(vec![
            Span::styled(format!(" {spin} "), theme.accent()),
            Span::styled(format!("working: {}…{more}", p.label()), theme.warn()),
        ])
    } else if let Some(n) = &app.notice {
        Line::from(Span::styled(format!(" {}", n.text), tone(theme, n.tone)))
    } else {
        Line::default()
    };
    frame.render_widget(Paragraph::new(line).wrap(Wrap { trim: false }), area);
}

/// An object's sync state in words, coloured by how well it goes.
pub(crate) fn state_span(state: ObjectState, theme: &Theme) -> Span<'static> {
    let (text, style) = match state {
        ObjectState::InitialLoad => ("initial load", theme.warn()),
        ObjectState::Synced => ("synced", theme.ok()),
        ObjectState::Pulling => ("pulling", theme.accent()),
        ObjectState::Pushing => ("pushing", theme.accent()),
        ObjectState::Paused => ("paused", theme.dim()),
        ObjectState::Throttled => ("throttled", theme.warn()),
        ObjectState::Error => ("error", theme.error()),
        ObjectState::ReauthorizationNeeded => ("re-auth!", theme.error()),
    };
    Span::styled(text, style)
}

/// The style of a message of `tone`.
pub(crate) fn tone(theme: &Theme, tone: Tone) -> ratatui::style::Style {
    match tone {
        Tone::Info => theme.bar(),
        Tone::Ok => theme.ok(),
        Tone::Warn => theme.warn(),
        Tone::Error => theme.error(),
    }
}

/// The footer: the screen's footer commands that fit the width, always ending with help
/// and quit (the help popup lists everything).
fn draw_footer(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let all: Vec<_> = commands::commands(app)
        .into_iter()
        .filter(|c| c.in_footer)
        .collect();
    let width = |c: &commands::Command| c.hint.chars().count() + c.description.chars().count() + 5;
    let (tail, head): (Vec<_>, Vec<_>) = all.into_iter().partition(|c| {
        matches!(
            c.action,
            commands::Action::ToggleHelp | commands::Action::Quit
        )
    });
    let mut room = (area.width as usize).saturating_sub(tail.iter().map(width).sum());
    let mut shown = Vec::new();
    for c in head {
        if width(&c) > room {
            break;
        }
        room -= width(&c);
        shown.push(c);
    }
    shown.extend(tail);
    let mut spans = Vec::new();
    for c in &shown {
        spans.push(Span::styled(format!(" {} ", c.hint), theme.key()));
        spans.push(Span::raw(format!(" {}  ", c.description)));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)).style(theme.bar()), area);
}

fn draw_help(frame: &mut Frame, app: &App, theme: &Theme) {
    let mut inner = app.clone();
    inner.show_help = false;
    let rows: Vec<Row> = commands::commands(&inner)
        .into_iter()
        .map(|c| {
            Row::new(vec![
                Span::styled(c.hint, theme.bold()),
                Span::raw(c.description),
            ])
        })
        .collect();
    let height = (rows.len() as u16 + 2).min(frame.area().height);
    let area = centered(frame.area(), 44, height);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Table::new(rows, [Constraint::Length(10), Constraint::Min(10)]).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Keys — Esc closes ")
                .border_style(theme.accent()),
        ),
        area,
    );
}

/// A `width`×`height` rectangle centred in `area` (clipped to it).
pub(crate) fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// A framed list loaded from the daemon: draws the frame, then "loading", the error or
/// the empty state (`empty`: a headline and what would show here) and returns `None`, or
/// returns the items and the area inside the frame to draw them in.
pub(crate) fn loaded_list<'a, T>(
    frame: &mut Frame,
    area: Rect,
    title: String,
    load: &'a Load<Vec<T>>,
    what: &str,
    empty: (&str, &str),
    theme: &Theme,
) -> Option<(&'a [T], Rect)> {
    let block = Block::default().borders(Borders::ALL).title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let lines = match load {
        Load::Loaded(items) if !items.is_empty() => return Some((items, inner)),
        Load::Loaded(_) => vec![
            Line::from(Span::styled(empty.0.to_owned(), theme.ok())),
            Line::from(""),
            Line::from(empty.1.to_owned()),
        ],
        Load::Loading => vec![Line::from(Span::styled(
            format!("Loading {what}…"),
            theme.dim(),
        ))],
        Load::Failed(e) => vec![
            Line::from(Span::styled(
                format!("Could not load {what}:"),
                theme.error(),
            )),
            Line::from(e.clone()),
            Line::from(""),
            Line::from(Span::styled("Press u to ask again.", theme.dim())),
        ],
    };
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
    None
}

/// A time as the lists show it: shorter when the terminal is narrow.
pub(crate) fn short_time(at: chrono::DateTime<chrono::Utc>, wide: bool) -> String {
    if wide {
        at.format("%Y-%m-%d %H:%M:%S").to_string()
    } else {
        at.format("%m-%d %H:%M").to_string()
    }
}

/// A table of `rows` under a bold `header`, the selected row highlighted, and `detail`
/// (the selected row's particulars) in `detail_height` rows below a rule.
#[allow(clippy::too_many_arguments)]
pub(crate) fn table_with_detail(
    frame: &mut Frame,
    area: Rect,
    header: Vec<&'static str>,
    widths: Vec<Constraint>,
    rows: Vec<Row>,
    selected: usize,
    detail: Vec<Line>,
    detail_height: u16,
    theme: &Theme,
) {
    let [table_area, detail_area] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(detail_height)]).areas(area);
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(theme.bold()))
        .row_highlight_style(theme.selected());
    let mut state = ratatui::widgets::TableState::default().with_selected(Some(selected));
    frame.render_stateful_widget(table, table_area, &mut state);
    frame.render_widget(
        Paragraph::new(detail).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::TOP)
                .border_style(theme.dim()),
        ),
        detail_area,
    );
}

/// The widths a [`Table`] gives its columns at `width` (its default spacing and flex, no
/// highlight symbol): what a cell holds before it is cut.
pub(crate) fn column_widths(widths: &[Constraint], width: u16) -> Vec<usize> {
    Layout::horizontal(widths.iter().copied())
        .flex(ratatui::layout::Flex::Start)
        .spacing(1)
        .split(Rect::new(0, 0, width, 1))
        .iter()
        .map(|r| r.width as usize)
        .collect()
}

/// Whether any of `cells` is wider than its column.
pub(crate) fn any_cut(cells: &[(&str, usize)]) -> bool {
    cells
        .iter()
        .any(|(text, width)| text.chars().count() > *width)
}
