//! The sync dashboard: API usage per org against its budget, then every mapped object's
//! direction, state, lags, queue, failures, rows and recent activity; under the table the
//! selected object's details (a load, fill or re-read under way, fields removed or changed
//! in Salesforce, rows detached, the last error).
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState, Wrap};

use datenator_shared::model::{
    ACTIVITY_MINUTES, Direction, Feed, ObjectState, ObjectStatus, OrgSummary,
};

use super::{Theme, state_span};
use crate::app::dashboard::{forecast_text, human_secs, lag_text, spark, stretched_short};
use crate::app::{App, Dashboard};

/// Width of the usage bar in the API lines.
const BAR: usize = 24;

/// Two lines per org, whatever happens, so the table below never jumps: `acme
/// ██████░░░░|░░░  25% of 15000 calls today · budget 50%` (the `|` marks the budget),
/// then what matters most about the org's sync now — that it is off, that polling is
/// stretched to stay within the budget, or the usage forecast.
pub(super) fn api_lines(org: &OrgSummary, width: u16, theme: &Theme) -> Vec<Line<'static>> {
    let name = Span::styled(format!("{:<14}", org.name), theme.bold());
    let first = match org.api_usage {
        None => Line::from(vec![
            name,
            Span::styled("API usage not reported yet", theme.dim()),
        ]),
        Some(u) => {
            let ratio = u.ratio();
            let filled = (ratio * BAR as f64).round() as usize;
            let budget = (org.api_budget_percent as usize * BAR)
                .div_ceil(100)
                .min(BAR);
            let bar: String = (0..BAR)
                .map(|i| {
                    if i == budget {
                        '|'
                    } else if i < filled {
                        '█'
                    } else {
                        '░'
                    }
                })
                .collect();
            let over = ratio * 100.0 >= org.api_budget_percent as f64;
            Line::from(vec![
                name,
                Span::styled(bar, if over { theme.error() } else { theme.ok() }),
                Span::raw(format!(
                    " {:>3.0}% of {} calls today · budget {}%",
                    ratio * 100.0,
                    u.max,
                    org.api_budget_percent
                )),
                Span::styled(
                    if over && org.sync_enabled {
                        " · over budget: sync waits"
                    } else {
                        ""
                    },
                    theme.error(),
                ),
                Span::styled(
                    org.event_allocation
                        .filter(|e| e.max > 0)
                        .map(|e| format!(" · events {}/{} today", e.used, e.max))
                        .unwrap_or_default(),
                    if org.event_allocation.is_some_and(|e| e.used >= e.max) {
                        theme.error()
                    } else {
                        theme.bar()
                    },
                ),
            ])
        }
    };
    let (text, style) = if !org.sync_enabled {
        (
            "sync is off: press e to turn it on".to_owned(),
            theme.warn(),
        )
    } else {
        match forecast_text(org) {
            // Too long for the line: the short form (the Orgs screen shows the whole).
            Some((_, Some(stretched))) if stretched.chars().count() + 2 > width as usize => {
                (stretched_short(org).unwrap_or(stretched), theme.warn())
            }
            Some((_, Some(stretched))) => (stretched, theme.warn()),
            Some((forecast, None)) => {
                let projected = org.api_forecast.map_or(0.0, |f| f.projected_percent);
                let style = if projected >= 100.0 {
                    theme.error()
                } else if projected > org.api_budget_percent as f64 {
                    theme.warn()
                } else {
                    theme.bar()
                };
                (forecast, style)
            }
            None => (String::new(), theme.bar()),
        }
    };
    // Under the bar when there is room, else just indented.
    let indent = if 14 + text.chars().count() <= width as usize {
        " ".repeat(14)
    } else {
        "  ".to_owned()
    };
    vec![
        first,
        Line::from(vec![Span::raw(indent), Span::styled(text, style)]),
    ]
}

fn state_cell(s: &ObjectStatus, theme: &Theme) -> Span<'static> {
    match (s.state, s.initial_load) {
        (ObjectState::InitialLoad, Some((done, total))) if total > 0 => {
            Span::styled(format!("load {}%", done * 100 / total), theme.warn())
        }
        (ObjectState::Synced | ObjectState::Pulling | ObjectState::Pushing, _) if s.reloading => {
            Span::styled("re-reading", theme.warn())
        }
        (ObjectState::Synced | ObjectState::Pulling, _)
            if s.backfill.as_ref().is_some_and(|b| b.total > 0) =>
        {
            let b = s
                .backfill
                .as_ref()
                .map_or((0, 1), |b| (b.done, b.total.max(1)));
            Span::styled(format!("fill {}%", b.0.min(b.1) * 100 / b.1), theme.warn())
        }
        (state, _) => state_span(state, theme),
    }
}

pub(super) fn draw(frame: &mut Frame, area: Rect, app: &App, d: &Dashboard, theme: &Theme) {
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" Sync — live from the daemon ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let orgs: Vec<&OrgSummary> = app.orgs.iter().flatten().collect();
    let mut lines: Vec<Line> = orgs
        .iter()
        .take(3)
        .flat_map(|o| api_lines(o, inner.width, theme))
        .collect();
    if orgs.is_empty() {
        lines.push(Line::from(Span::styled("No orgs registered.", theme.dim())));
    }
    let details = app
        .sync
        .get(d.selected)
        .map(|s| Paragraph::new(detail_lines(s, theme)).wrap(Wrap { trim: false }));
    // At least four rows, so the table does not jump as objects are selected; more when
    // the selected object has more to say, up to half the screen.
    let detail_rows = details.as_ref().map_or(4, |p| {
        let rows = u16::try_from(p.line_count(inner.width)).unwrap_or(u16::MAX);
        rows.clamp(4, (inner.height / 2).max(4))
    });
    let [api, table_area, detail] = Layout::vertical([
        Constraint::Length(lines.len() as u16 + 1),
        Constraint::Min(3),
        Constraint::Length(detail_rows),
    ])
    .areas(inner);
    frame.render_widget(Paragraph::new(lines), api);

    if !app.sync_loaded {
        frame.render_widget(
            Paragraph::new(Span::styled("Waiting for the sync status…", theme.dim())),
            table_area,
        );
        return;
    }
    if app.sync.is_empty() {
        frame.render_widget(
            Paragraph::new(vec![
                Line::from(Span::styled("Nothing syncs yet.", theme.bold())),
                Line::from(""),
                Line::from("Map an object: on Orgs press Enter for the org's objects, then Enter"),
                Line::from("on one. It shows here with its lag, queue and failures as it syncs."),
            ])
            .wrap(Wrap { trim: false }),
            table_area,
        );
        return;
    }
    let wide = inner.width >= 110;
    let rows: Vec<Row> = app
        .sync
        .iter()
        .map(|s| {
            let mut cells = Vec::new();
            if wide {
                cells.push(Cell::from(s.org.clone()));
            }
            cells.extend([
                Cell::from(s.object.clone()),
                Cell::from(s.direction.label()),
                Cell::from(state_cell(s, theme)),
                Cell::from(format!("{:>7}", lag_text(s, true))),
                Cell::from(format!("{:>7}", lag_text(s, false))),
                Cell::from(format!("{:>7}", s.pending_events)),
                Cell::from(Span::styled(
                    format!("{:>6}", s.failed_records),
                    if s.failed_records > 0 {
                        theme.error()
                    } else {
                        theme.bar()
                    },
                )),
                Cell::from(match s.rows {
                    Some(n) => format!("{n:>9}"),
                    None => format!("{:>9}", "…"),
                }),
            ]);
            if wide {
                cells.push(Cell::from(Span::styled(
                    spark(&s.activity, ACTIVITY_MINUTES),
                    theme.accent(),
                )));
            }
            Row::new(cells)
        })
        .collect();
    let mut header = Vec::new();
    let mut widths = Vec::new();
    if wide {
        header.push("Org");
        widths.push(Constraint::Length(14));
    }
    header.extend([
        "Object", "Dir", "State", "Pull lag", "Push lag", "Pending", "Failed", "Rows",
    ]);
    widths.extend([
        Constraint::Min(10),
        Constraint::Length(7),
        Constraint::Length(12),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(7),
        Constraint::Length(6),
        Constraint::Length(9),
    ]);
    if wide {
        header.push("Last 10 min");
        widths.push(Constraint::Length(11));
    }
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(theme.bold()))
        .row_highlight_style(theme.selected());
    let mut state = TableState::default().with_selected(Some(d.selected));
    frame.render_stateful_widget(table, table_area, &mut state);

    if let Some(details) = details {
        frame.render_widget(details, detail);
    }
}

/// What the dashboard says about the selected object under the table.
fn detail_lines(s: &ObjectStatus, theme: &Theme) -> Vec<Line<'static>> {
    let mut spans = vec![Span::styled(
        format!("{} ({}): ", s.object, s.org),
        theme.bold(),
    )];
    if s.reloading {
        spans.push(Span::styled("re-reading from Salesforce · ", theme.warn()));
    }
    if let Some((done, total)) = s.initial_load {
        spans.push(Span::raw(format!("initial load {done} of {total} rows · ")));
    }
    if let Some(b) = &s.backfill {
        spans.push(Span::raw(format!(
            "filling {} into existing rows: {} of {} · ",
            b.fields.join(", "),
            b.done,
            b.total
        )));
    }
    spans.push(Span::raw(format!(
        "{} pulled, {} pushed · last sync {}",
        s.pulled_total,
        s.pushed_total,
        s.last_sync_at
            .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_else(|| "never".into())
    )));
    if s.failed_records > 0 {
        spans.push(Span::styled(
            format!(" · {} failed: f lists them", s.failed_records),
            theme.error(),
        ));
    }
    let mut lines = vec![Line::from(spans)];
    match (s.feed, &s.feed_note) {
        (Feed::Stream, note) => {
            let mut text =
                "Streamed as Change Data Capture events, with a safety-net poll now and then"
                    .to_owned();
            if let Some(age) = s.last_event_secs {
                text.push_str(&format!(" · last event {} ago", human_secs(Some(age))));
            }
            lines.push(Line::from(Span::styled(text, theme.ok())));
            if let Some(note) = note {
                lines.push(Line::from(Span::styled(
                    format!("Last fallback: {note}"),
                    theme.dim(),
                )));
            }
        }
        (Feed::Poll, Some(note)) if s.direction != Direction::DbToSf => {
            lines.push(Line::from(Span::styled(
                format!("Salesforce's changes are {note}"),
                theme.dim(),
            )));
        }
        _ => {}
    }
    if let Some(e) = s.backfill.as_ref().and_then(|b| b.error.as_ref()) {
        lines.push(Line::from(Span::styled(
            format!("Filling the added fields failed: {e}"),
            theme.error(),
        )));
    }
    if !s.removed_fields.is_empty() {
        lines.push(Line::from(Span::styled(
            format!(
                "{} removed in Salesforce: no longer synced; the column and its values are kept until the mapping changes",
                s.removed_fields.join(", ")
            ),
            theme.warn(),
        )));
    }
    for change in &s.type_changes {
        lines.push(Line::from(Span::styled(change.clone(), theme.warn())));
    }
    if s.detached_rows > 0 {
        lines.push(Line::from(Span::styled(
            format!(
                "{} detached (outside the row filter): kept in the database, never refreshed from Salesforce, their changes never sent",
                match s.detached_rows {
                    1 => "1 row".to_owned(),
                    n => format!("{n} rows"),
                }
            ),
            theme.warn(),
        )));
    }
    if let Some(e) = &s.last_error {
        lines.push(Line::from(Span::styled(
            format!("Last error: {e}"),
            theme.error(),
        )));
    }
    lines
}
