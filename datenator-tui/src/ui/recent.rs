//! Recent changes of one object: both sides, newest first — when, where, who, what, and
//! where each change stands — then the selected one's record, fields and error.
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row};

use datenator_shared::model::{ChangeOutcome, ChangeSide, RecentChange};

use super::{Theme, loaded_list, short_time, table_with_detail};
use crate::app::Recent;
use crate::app::recent::{fields_text, op_label, outcome_label, side_label, who_text};

fn outcome(c: &RecentChange, theme: &Theme) -> Span<'static> {
    let text = outcome_label(c.outcome);
    match c.outcome {
        ChangeOutcome::Pushed | ChangeOutcome::Pulled => Span::styled(text, theme.ok()),
        ChangeOutcome::Failed => Span::styled(text, theme.error()),
        ChangeOutcome::Ignored | ChangeOutcome::Superseded | ChangeOutcome::NotSent => {
            Span::styled(text, theme.warn())
        }
        ChangeOutcome::Pending => Span::styled(text, theme.dim()),
    }
}

fn side(c: &RecentChange, theme: &Theme) -> Span<'static> {
    match c.side {
        ChangeSide::Database => Span::styled("database", theme.ok()),
        ChangeSide::Salesforce => Span::styled("Salesforce", theme.accent()),
    }
}

/// The record a change is about: its Salesforce id, else the row's key.
fn record(c: &RecentChange) -> String {
    match (&c.sfid, c.row_id) {
        (Some(s), _) => s.clone(),
        (None, Some(id)) => format!("row {id}"),
        (None, None) => "–".into(),
    }
}

pub(super) fn draw(frame: &mut Frame, area: Rect, r: &Recent, theme: &Theme) {
    let title = format!(
        " Recent changes of {} in {} — newest first ",
        r.object, r.org
    );
    let empty = (
        "No recent changes of this object.",
        "Changes made in the database (with the database user who made them) show here \
         until they are pushed and purged, and records the daemon pulled from Salesforce \
         since it started (the last 200). Press u to look again.",
    );
    let what = format!("the recent changes of {}", r.object);
    let Some((list, inner)) = loaded_list(frame, area, title, &r.changes, &what, empty, theme)
    else {
        return;
    };
    let wide = inner.width >= 110;
    let rows: Vec<Row> = list
        .iter()
        .map(|c| {
            let mut cells = vec![
                Cell::from(short_time(c.at, wide)),
                Cell::from(side(c, theme)),
                Cell::from(who_text(c).to_owned()),
                Cell::from(op_label(c.op)),
            ];
            if wide {
                cells.push(Cell::from(record(c)));
            }
            cells.push(Cell::from(fields_text(c)));
            cells.push(Cell::from(outcome(c, theme)));
            Row::new(cells)
        })
        .collect();
    let mut header = vec!["Time", "Side", "Who", "Op"];
    let mut widths = vec![
        Constraint::Length(if wide { 19 } else { 11 }),
        Constraint::Length(10),
        // A Salesforce user id (18) or a database user whole, at 80 columns too.
        Constraint::Length(18),
        Constraint::Length(6),
    ];
    if wide {
        header.push("Record");
        widths.push(Constraint::Length(18));
    }
    header.extend(["Fields", "Outcome"]);
    widths.extend([Constraint::Min(10), Constraint::Length(10)]);
    let Some(c) = r.current() else { return };
    let mut lines = vec![Line::from(vec![
        Span::styled(
            format!("{} {} of {}", side_label(c.side), op_label(c.op), record(c)),
            theme.bold(),
        ),
        Span::raw(format!(
            " at {} UTC by {}: ",
            c.at.format("%Y-%m-%d %H:%M:%S"),
            who_text(c)
        )),
        outcome(c, theme),
    ])];
    lines.push(Line::from(vec![
        Span::styled("Fields: ", theme.dim()),
        Span::raw(fields_text(c)),
    ]));
    if let Some(e) = &c.error {
        lines.push(Line::from(Span::styled(e.clone(), theme.error())));
    }
    let height = if wide { 4 } else { 6 };
    table_with_detail(
        frame, inner, header, widths, rows, r.selected, lines, height, theme,
    );
}
