//! Org settings: the Datasource tab (form, stored state, check results) and the Manage
//! tab (org facts, refresh credentials, delete).
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Tabs, Wrap};

use datenator_shared::datasource::{CheckReport, CheckStatus};
use datenator_shared::model::AuthState;

use super::{Theme, form};
use crate::app::App;
use crate::app::form::Kind;
use crate::app::objects::Load;
use crate::app::settings::{Settings, Tab};

pub(super) fn draw(frame: &mut Frame, area: Rect, app: &App, s: &Settings, theme: &Theme) {
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" Settings of {} ", s.org));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let api = app
        .org(&s.org)
        .map(|o| super::dashboard::api_lines(o, inner.width, theme))
        .unwrap_or_default()
        .into_iter()
        // One screen, one org: no layout to keep steady, so an empty line takes no room.
        .filter(|l| l.width() > l.spans.first().map_or(0, |s| s.width()))
        .collect::<Vec<_>>();
    let [api_area, tabs_area, body] = Layout::vertical([
        Constraint::Length(api.len() as u16),
        Constraint::Length(2),
        Constraint::Min(1),
    ])
    .areas(inner);
    // API limits at the top, whatever the tab.
    frame.render_widget(Paragraph::new(api), api_area);
    let selected = match s.tab {
        Tab::Datasource => 0,
        Tab::Manage => 1,
    };
    frame.render_widget(
        Tabs::new(["Datasource", "Manage org"])
            .select(selected)
            .highlight_style(theme.selected().patch(theme.bold()))
            .block(
                Block::default()
                    .borders(Borders::BOTTOM)
                    .border_style(theme.dim()),
            ),
        tabs_area,
    );
    match s.tab {
        Tab::Datasource => draw_datasource(frame, body, s, theme),
        Tab::Manage => draw_manage(frame, body, app, s, theme),
    }
}

fn stored_line(s: &Settings, theme: &Theme) -> Vec<Line<'static>> {
    match &s.view {
        Load::Loading => vec![Line::from(Span::styled(
            "Loading the stored datasource…",
            theme.dim(),
        ))],
        Load::Failed(e) => vec![Line::from(Span::styled(
            format!("Could not load the stored datasource: {e}"),
            theme.error(),
        ))],
        Load::Loaded(None) => vec![Line::from(Span::styled(
            "No datasource yet: fill in the form, Save, then Check datasource.",
            theme.warn(),
        ))],
        Load::Loaded(Some(v)) => {
            let generated = if v.schema_generated {
                Span::styled("yes", theme.ok())
            } else {
                Span::styled("no", theme.warn())
            };
            let mut lines = vec![Line::from(vec![
                Span::raw(format!(
                    "Stored: {} · schema {} · ",
                    v.settings.kind, v.schema
                )),
                Span::raw("DB schema generated: "),
                generated,
            ])];
            if let Some(e) = &v.schema_error {
                lines.push(Line::from(Span::styled(
                    format!("Schema error: {e}"),
                    theme.error(),
                )));
            }
            if let Some(a) = s.access.as_ref().filter(|_| v.schema_generated) {
                let writer = a
                    .sync_user
                    .as_deref()
                    .unwrap_or("the admin user (changes marked)");
                let role = match &a.app_role {
                    Some(r) => format!(" · application role {r}"),
                    None => String::new(),
                };
                lines.push(Line::from(format!("Sync user: {writer}{role}")));
                lines.push(Line::from(vec![
                    Span::styled("Let a DB user write the tables: ", theme.dim()),
                    Span::styled(a.grant_hint.clone(), theme.accent()),
                ]));
            }
            lines
        }
    }
}

/// Every result, each on its own line (narrow: under a count, since they scroll).
fn check_lines(report: &CheckReport, all: bool, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = vec![Line::from(Span::styled(
        match &report.server_version {
            Some(v) => format!("Check datasource (server {v}):"),
            None => "Check datasource:".into(),
        },
        theme.bold(),
    ))];
    if !all {
        let count = |st: CheckStatus| report.results.iter().filter(|r| r.status == st).count();
        lines[0].spans.push(Span::raw(format!(
            " {} ok, {} warning(s), {} failed, {} skipped",
            count(CheckStatus::Ok),
            count(CheckStatus::Warning),
            count(CheckStatus::Failed),
            count(CheckStatus::Skipped)
        )));
    }
    for r in &report.results {
        let (mark, style) = match r.status {
            CheckStatus::Ok => ("✓ ok  ", theme.ok()),
            CheckStatus::Warning => ("! warn", theme.warn()),
            CheckStatus::Failed => ("✗ fail", theme.error()),
            CheckStatus::Skipped => ("- skip", theme.dim()),
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{mark} "), style),
            Span::styled(format!("{}: ", r.check), theme.bold()),
            Span::raw(r.message.clone()),
        ]));
        if let Some(fix) = &r.fix {
            lines.push(Line::from(vec![
                Span::styled("       fix: ", theme.dim()),
                Span::styled(fix.clone(), theme.accent()),
            ]));
        }
    }
    lines
}

fn draw_datasource(frame: &mut Frame, area: Rect, s: &Settings, theme: &Theme) {
    // What is stored stays on top; the form (and, narrow, the check results under it)
    // scrolls so the focused control is always on screen.
    let stored = Paragraph::new(stored_line(s, theme)).wrap(Wrap { trim: false });
    let needed = stored.line_count(area.width) as u16;
    let stored_rows = needed.min(area.height / 2);
    let [top, area] =
        Layout::vertical([Constraint::Length(stored_rows), Constraint::Min(1)]).areas(area);
    if needed > stored_rows && top.height > 1 {
        // Cut: its last row says where the rest is.
        let [shown, last] =
            Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(top);
        frame.render_widget(stored, shown);
        frame.render_widget(Paragraph::new(more(theme)), last);
    } else {
        frame.render_widget(stored, top);
    }
    let form_lines = form::lines(&s.datasource, true, theme);
    let focused = s
        .datasource
        .fields
        .iter()
        .take(s.datasource.focus)
        .filter(|f| f.visible)
        .count();
    let on_button = matches!(s.datasource.focused().kind, Kind::Button);
    let wide = area.width >= 120;
    let checks = s.check.as_ref().map(|c| check_lines(c, wide, theme));
    match checks {
        // Wide: the check results beside the form.
        Some(checks) if wide => {
            let [l, r] = Layout::horizontal([Constraint::Percentage(55), Constraint::Min(30)])
                .spacing(1)
                .areas(area);
            scrolled(frame, l, form_lines, focused, false, None);
            frame.render_widget(
                Paragraph::new(checks).wrap(Wrap { trim: false }).block(
                    Block::default()
                        .borders(Borders::LEFT)
                        .border_style(theme.dim()),
                ),
                r,
            );
        }
        Some(checks) => {
            let mut lines = form_lines;
            lines.push(Line::from(""));
            lines.extend(checks);
            scrolled(frame, area, lines, focused, on_button, Some(more(theme)));
        }
        None => scrolled(frame, area, form_lines, focused, false, None),
    }
}

/// Where a cut part of the Datasource tab is whole.
fn more(theme: &Theme) -> Line<'static> {
    Line::from(Span::styled("… more: v shows it all", theme.dim()))
}

/// Renders `lines` (wrapped) scrolled as little as keeps line `focused` on screen; with
/// `show_rest` (a button has the focus, the check results follow the form) as far toward
/// the end as still keeps it there. When rows stay hidden below and the focused line is
/// not the last one shown, `more` takes the last row.
fn scrolled(
    frame: &mut Frame,
    area: Rect,
    lines: Vec<Line<'static>>,
    focused: usize,
    show_rest: bool,
    more: Option<Line<'static>>,
) {
    let rows = |ls: &[Line<'static>]| {
        Paragraph::new(ls.to_vec())
            .wrap(Wrap { trim: false })
            .line_count(area.width) as u16
    };
    let focus = focused.min(lines.len().saturating_sub(1));
    let before = rows(&lines[..focus]);
    let through = rows(&lines[..(focus + 1).min(lines.len())]);
    let total = rows(&lines);
    let height = area.height.max(1);
    let bottom = if show_rest { total } else { through };
    let scroll = bottom.saturating_sub(height).min(before);
    let text = Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .scroll((scroll, 0));
    match more {
        Some(more) if total > scroll + height && through < scroll + height && height > 1 => {
            let [shown, last] =
                Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(area);
            frame.render_widget(text, shown);
            frame.render_widget(Paragraph::new(more), last);
        }
        _ => frame.render_widget(text, area),
    }
}

fn draw_manage(frame: &mut Frame, area: Rect, app: &App, s: &Settings, theme: &Theme) {
    let mut lines = Vec::new();
    match app.org(&s.org) {
        Some(o) => {
            let auth = match &o.auth {
                AuthState::Authorized => Span::styled("authorized", theme.ok()),
                AuthState::Pending { .. } => Span::styled("waiting for the user", theme.warn()),
                AuthState::Failed { error } => {
                    Span::styled(format!("failed: {error}"), theme.error())
                }
                AuthState::NeedsReauthorization { reason } => {
                    Span::styled(format!("needs re-authorization: {reason}"), theme.error())
                }
            };
            let sync = if o.sync_enabled {
                Span::styled("on", theme.ok())
            } else {
                Span::styled("off", theme.dim())
            };
            lines.push(Line::from(vec![
                Span::raw("Sync: "),
                sync,
                Span::raw(" · credentials: "),
                auth,
            ]));
            lines.push(Line::from(format!(
                "Type: {} · instance {} · org id {}",
                o.org_type.label(),
                o.instance_url.as_deref().unwrap_or("–"),
                o.org_id.as_deref().unwrap_or("–")
            )));
            let api = match o.api_usage {
                Some(u) => format!(
                    "{}/{} calls today ({:.0}%)",
                    u.used,
                    u.max,
                    u.ratio() * 100.0
                ),
                None => "not reported yet".into(),
            };
            lines.push(Line::from(format!(
                "API usage: {api} · budget {}% · polling every {} s",
                o.api_budget_percent, o.polling_interval_secs
            )));
        }
        None => lines.push(Line::from(Span::styled(
            format!("{} is not in the daemon's org list (deleted?).", s.org),
            theme.warn(),
        ))),
    }
    lines.push(Line::from(""));
    lines.extend(form::lines(&s.manage, true, theme));
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        "Deleting asks you to type the org's name and says what will be removed.",
        theme.dim(),
    )));
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), area);
}
