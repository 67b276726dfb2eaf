//! Failed records: the refused database changes, then the selected one's error and values.
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row};

use super::{Theme, loaded_list, short_time, table_with_detail};
use crate::app::Failed;
use crate::app::conflicts::value_text;
use crate::app::failed::record_name;

pub(super) fn draw(frame: &mut Frame, area: Rect, f: &Failed, theme: &Theme) {
    let title = match f.list().len() {
        0 => format!(" Failed records of {} ", f.org),
        1 => format!(
            " Failed records of {} — 1 change Salesforce refused ",
            f.org
        ),
        n => format!(
            " Failed records of {} — {n} changes Salesforce refused ",
            f.org
        ),
    };
    let empty = (
        "No failed records: nothing waits to be retried or ignored.",
        "When Salesforce refuses a change made in the database (a validation rule, a \
         required field, a duplicate), it shows here with Salesforce's error, to retry \
         once fixed or to ignore. An ignored change stays in the database only; its row \
         says so (_dn_state = IGNORED, _dn_error).",
    );
    let what = format!("the failed records of {}", f.org);
    let Some((list, inner)) = loaded_list(frame, area, title, &f.records, &what, empty, theme)
    else {
        return;
    };
    let wide = inner.width >= 110;
    let rows: Vec<Row> = list
        .iter()
        .map(|r| {
            let mut cells = vec![
                Cell::from(r.object.clone()),
                Cell::from(r.op.clone()),
                Cell::from(format!("{:>7}", r.row_id)),
            ];
            if wide {
                cells.push(Cell::from(r.sfid.clone().unwrap_or_else(|| "–".into())));
            }
            cells.push(Cell::from(short_time(r.changed_at, wide)));
            cells.push(Cell::from(Span::styled(r.error.clone(), theme.error())));
            Row::new(cells)
        })
        .collect();
    let mut header = vec!["Object", "Op", "    Row"];
    let mut widths = vec![
        Constraint::Length(16),
        Constraint::Length(6),
        Constraint::Length(7),
    ];
    if wide {
        header.push("Salesforce id");
        widths.push(Constraint::Length(18));
    }
    header.extend(["Changed", "Salesforce's error"]);
    widths.extend([
        Constraint::Length(if wide { 19 } else { 11 }),
        Constraint::Min(10),
    ]);
    let Some(r) = f.current() else { return };
    let values = if r.values.is_empty() {
        "none".to_owned()
    } else {
        r.values
            .iter()
            .map(|(k, v)| format!("{k} = {}", value_text(v)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let lines = vec![
        Line::from(vec![
            Span::styled(record_name(r), theme.bold()),
            Span::raw(format!(
                " · {} at {} UTC · {} has {}",
                r.op,
                r.changed_at.format("%Y-%m-%d %H:%M:%S"),
                r.object,
                match f.count_of(&r.object) {
                    1 => "1 failed change".to_owned(),
                    n => format!("{n} failed changes"),
                }
            )),
        ]),
        Line::from(Span::styled(r.error.clone(), theme.error())),
        Line::from(vec![
            Span::styled("Values: ", theme.dim()),
            Span::raw(values),
        ]),
    ];
    let height = if wide { 5 } else { 6 };
    table_with_detail(
        frame, inner, header, widths, rows, f.selected, lines, height, theme,
    );
}
