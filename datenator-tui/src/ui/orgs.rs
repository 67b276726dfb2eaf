//! The Orgs screen: every registered org with its sync and setup state.
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState, Wrap};

use datenator_shared::model::{AuthState, OrgType};

use super::Theme;
use crate::app::App;
use crate::app::dashboard::forecast_text;

pub(super) fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let block = Block::default().borders(Borders::ALL).title(" Orgs ");
    let Some(orgs) = &app.orgs else {
        let text = if app.conn.is_connected() {
            "Loading orgs…"
        } else {
            "Waiting for the daemon…"
        };
        frame.render_widget(Paragraph::new(text).style(theme.dim()).block(block), area);
        return;
    };
    if orgs.is_empty() {
        let lines = vec![
            Line::from(Span::styled(
                "No Salesforce orgs are registered yet.",
                theme.bold(),
            )),
            Line::from(""),
            Line::from("An org is a Salesforce production, sandbox or My Domain login that"),
            Line::from("Datenator keeps in sync with a database. Once one is registered it"),
            Line::from("appears here with its sync state, datasource and API usage."),
            Line::from(""),
            Line::from(vec![
                Span::raw("Press "),
                Span::styled(" n ", theme.key()),
                Span::raw(" to register one."),
            ]),
        ];
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .block(block),
            area,
        );
        return;
    }
    let yes_no = |b: bool| {
        if b {
            Span::styled("yes", theme.ok())
        } else {
            Span::styled("no", theme.dim())
        }
    };
    // At 80 columns every column keeps its words: the dates lose the year instead.
    let narrow = area.width < 100;
    let rows: Vec<Row> = orgs
        .iter()
        .map(|o| {
            let sync = match &o.auth {
                AuthState::NeedsReauthorization { .. } => Span::styled("re-auth!", theme.error()),
                AuthState::Failed { .. } => Span::styled("auth failed", theme.error()),
                AuthState::Pending { .. } => Span::styled("authorizing", theme.warn()),
                AuthState::Authorized if o.sync_enabled => Span::styled("on", theme.ok()),
                AuthState::Authorized => Span::styled("off", theme.dim()),
            };
            // A failed refresh: the line under the list says it for the selected org.
            let sync = match &o.refresh_error {
                Some(_) => Line::from(vec![sync, Span::styled(" !", theme.warn())]),
                None => Line::from(sync),
            };
            let api = match o.api_usage {
                Some(u) => {
                    let filled = (u.ratio() * 8.0).round() as usize;
                    format!(
                        "{}{} {:>3.0}%",
                        "█".repeat(filled),
                        "░".repeat(8 - filled),
                        u.ratio() * 100.0
                    )
                }
                None => "–".into(),
            };
            let metadata = match o.metadata_downloaded_at {
                Some(t) if narrow => t.format("%m-%d %H:%M").to_string(),
                Some(t) => t.format("%Y-%m-%d %H:%M").to_string(),
                None => "never".into(),
            };
            Row::new(vec![
                Cell::from(o.name.clone()),
                // The domain is on the Manage tab; the column only has room for the kind.
                Cell::from(match &o.org_type {
                    OrgType::Custom(_) => "custom".to_owned(),
                    t => t.label(),
                }),
                Cell::from(sync),
                Cell::from(yes_no(o.datasource_checked)),
                Cell::from(yes_no(o.schema_generated)),
                Cell::from(metadata),
                Cell::from(api),
            ])
        })
        .collect();
    let header = Row::new([
        "Name",
        "Type",
        "Sync",
        "DS ok",
        "Schema",
        "Metadata",
        "API usage",
    ])
    .style(theme.bold());
    let widths = [
        Constraint::Min(10),
        Constraint::Length(12),
        Constraint::Length(11),
        Constraint::Length(5),
        Constraint::Length(6),
        Constraint::Length(if narrow { 11 } else { 16 }),
        Constraint::Length(if narrow { 13 } else { 18 }),
    ];
    let inner = block.inner(area);
    let cols = super::column_widths(&widths, inner.width);
    let table = Table::new(rows, widths)
        .header(header)
        .row_highlight_style(theme.selected());
    frame.render_widget(block, area);
    // The selected org's name whole (with its domain) when its row cuts it.
    let whole = app
        .selected_org()
        .filter(|o| super::any_cut(&[(&o.name, cols[0])]))
        .map(|o| {
            Line::from(vec![
                Span::styled(o.name.clone(), theme.bold()),
                Span::raw(format!(
                    " · {}",
                    match &o.org_type {
                        OrgType::Custom(domain) => domain.clone(),
                        t => t.label(),
                    }
                )),
            ])
        });
    // What the selected org needs, when it needs something.
    let advice = app.selected_org().and_then(|o| match &o.auth {
        AuthState::NeedsReauthorization { reason } => Some(Line::from(vec![
            Span::styled(
                format!("{} needs authorizing again: ", o.name),
                theme.error(),
            ),
            Span::raw(format!("{reason} — press a.")),
        ])),
        AuthState::Failed { error } => Some(Line::from(vec![
            Span::styled(format!("Authorizing {} failed: ", o.name), theme.error()),
            Span::raw(format!("{error} — press a to try again.")),
        ])),
        AuthState::Pending { .. } => Some(Line::from(Span::styled(
            format!(
                "{} waits for you to finish its authorization: press Enter.",
                o.name
            ),
            theme.warn(),
        ))),
        AuthState::Authorized => o.refresh_error.as_ref().map(|why| {
            Line::from(vec![
                Span::styled(
                    format!("Refreshing the credentials of {} failed: ", o.name),
                    theme.warn(),
                ),
                Span::raw(format!(
                    "{why}; the org keeps syncing with its earlier credentials — press a to try again."
                )),
            ])
        }),
    });
    // Where its API usage is heading, when the daemon has a forecast.
    let forecast = app.selected_org().and_then(|o| {
        let (text, stretched) = forecast_text(o)?;
        // Stretched, the one sentence says it all (with the numbers); else the forecast.
        let line = match stretched {
            Some(s) => Span::styled(s, theme.warn()),
            None => Span::raw(text),
        };
        Some(Line::from(vec![
            Span::styled(format!("{}: ", o.name), theme.bold()),
            line,
        ]))
    });
    let detail_lines: Vec<Line> = whole
        .into_iter()
        .chain(advice)
        .chain(forecast)
        .chain(fleet_lines(app, theme))
        .collect();
    let width = inner.width.max(1) as usize;
    let rows: usize = detail_lines
        .iter()
        .map(|l| l.width().max(1).div_ceil(width))
        .sum();
    let [list, detail] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(if rows > 0 { rows as u16 + 1 } else { 0 }),
    ])
    .areas(inner);
    let mut state = TableState::default().with_selected(Some(app.selected));
    frame.render_stateful_widget(table, list, &mut state);
    if !detail_lines.is_empty() {
        frame.render_widget(
            Paragraph::new(detail_lines).wrap(Wrap { trim: false }),
            detail,
        );
    }
}

/// In a fleet: which daemon runs the selected org, and every daemon's health.
fn fleet_lines<'a>(app: &App, theme: &Theme) -> Vec<Line<'a>> {
    let Some(fleet) = app.status.as_ref().and_then(|s| s.fleet.as_ref()) else {
        return Vec::new();
    };
    let mut lines = Vec::new();
    if let Some(o) = app.selected_org() {
        let runs = match (&o.run_by, o.sync_enabled) {
            (Some(d), _) => Span::raw(format!("runs on {d}")),
            (None, true) => {
                Span::styled("waits for a daemon of the fleet to take it", theme.warn())
            }
            (None, false) => Span::styled("sync is off: no daemon runs it", theme.dim()),
        };
        let mut line = vec![Span::styled(format!("{}: ", o.name), theme.bold()), runs];
        if let Some(p) = &o.pinned_to {
            line.push(Span::raw(format!(" (pinned to {p})")));
        }
        lines.push(Line::from(line));
    }
    let mut members = vec![Span::styled(
        format!("Fleet (this is {}): ", fleet.me),
        theme.bold(),
    )];
    for (i, m) in fleet.members.iter().enumerate() {
        if i > 0 {
            members.push(Span::raw(" · "));
        }
        let (text, style) = if m.live {
            (
                format!(
                    "{} {} org{}",
                    m.name,
                    m.orgs,
                    if m.orgs == 1 { "" } else { "s" }
                ),
                theme.ok(),
            )
        } else if m.leaving {
            (format!("{} stopped", m.name), theme.dim())
        } else {
            (
                format!("{} silent {:.0} s", m.name, m.silent_secs),
                theme.error(),
            )
        };
        members.push(Span::styled(text, style));
    }
    lines.push(Line::from(members));
    lines
}
