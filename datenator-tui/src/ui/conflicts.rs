//! Conflicts: fields changed on both sides and who won, newest first, then the selected
//! one's two values.
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row};

use datenator_shared::model::ConflictRecord;

use super::{Theme, loaded_list, short_time, table_with_detail};
use crate::app::Conflicts;
use crate::app::conflicts::value_text;
use crate::app::mapping::policy_label;

fn winner(r: &ConflictRecord, theme: &Theme) -> Span<'static> {
    match r.winner.as_str() {
        "salesforce" => Span::styled("Salesforce", theme.accent()),
        "database" => Span::styled("database", theme.ok()),
        other => Span::raw(other.to_owned()),
    }
}

pub(super) fn draw(frame: &mut Frame, area: Rect, c: &Conflicts, theme: &Theme) {
    let title = format!(" Conflicts of {} — newest first ", c.org);
    let empty = (
        "No conflicts: no field was changed on both sides between two syncs.",
        "When a field changes in Salesforce and in the database before they sync, the \
         mapping's conflict policy picks the winner; each such case is listed here with both \
         values.",
    );
    let what = format!("the conflicts of {}", c.org);
    let Some((list, inner)) = loaded_list(frame, area, title, &c.records, &what, empty, theme)
    else {
        return;
    };
    let wide = inner.width >= 110;
    let rows: Vec<Row> = list
        .iter()
        .map(|r| {
            let mut cells = vec![
                Cell::from(short_time(r.at, wide)),
                Cell::from(r.object.clone()),
            ];
            if wide {
                cells.push(Cell::from(r.sfid.clone()));
            }
            cells.push(Cell::from(r.field.clone()));
            if wide {
                cells.push(Cell::from(value_text(&r.db_value)));
                cells.push(Cell::from(value_text(&r.sf_value)));
            }
            cells.push(Cell::from(winner(r, theme)));
            cells.push(Cell::from(policy_label(r.policy)));
            Row::new(cells)
        })
        .collect();
    let mut header = vec!["Time", "Object"];
    let mut widths = vec![
        Constraint::Length(if wide { 19 } else { 11 }),
        Constraint::Min(10),
    ];
    if wide {
        header.push("Record");
        widths.push(Constraint::Length(18));
    }
    header.push("Field");
    widths.push(Constraint::Min(10));
    if wide {
        header.extend(["Database value", "Salesforce value"]);
        widths.extend([Constraint::Min(14), Constraint::Min(14)]);
    }
    header.extend(["Winner", "Policy"]);
    widths.extend([Constraint::Length(10), Constraint::Length(15)]);
    let Some(r) = c.current() else { return };
    let mut lines = vec![Line::from(vec![
        Span::styled(
            format!("{}.{} of {}", r.object, r.field, r.sfid),
            theme.bold(),
        ),
        Span::raw(format!(" at {} UTC: ", r.at.format("%Y-%m-%d %H:%M:%S"))),
        winner(r, theme),
        Span::raw(format!(" won ({})", policy_label(r.policy))),
    ])];
    if !wide {
        lines.push(Line::from(vec![
            Span::styled("Database:   ", theme.dim()),
            Span::raw(value_text(&r.db_value)),
        ]));
        lines.push(Line::from(vec![
            Span::styled("Salesforce: ", theme.dim()),
            Span::raw(value_text(&r.sf_value)),
        ]));
    }
    let height = if wide { 3 } else { 5 };
    table_with_detail(
        frame, inner, header, widths, rows, c.selected, lines, height, theme,
    );
}
