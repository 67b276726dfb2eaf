//! The mapping editor: the field list with checkboxes, the options (direction, conflicts,
//! row filter), and the DDL plan for review before anything runs.
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState, Wrap};

use datenator_shared::model::PlanView;
use datenator_shared::protocol::LeavingRows;

use super::{Theme, form};
use crate::app::mapping::{MappingEditor, Pane, Phase, leaving_step, locked, queued_step};
use crate::app::objects::Load;

pub(super) fn draw(frame: &mut Frame, area: Rect, m: &MappingEditor, theme: &Theme) {
    let title = if m.existing {
        format!(" Mapping of {} ({}) ", m.object, m.org)
    } else {
        format!(" Map {} ({}) ", m.object, m.org)
    };
    let block = Block::default().borders(Borders::ALL).title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    match &m.phase {
        Phase::Review { plan, remove } => return draw_plan(frame, inner, m, plan, *remove, theme),
        Phase::Planning { .. } => {
            let text = format!(
                "Asking the daemon what this means for the database (the DDL plan for {})…",
                m.object
            );
            frame.render_widget(
                Paragraph::new(Span::styled(text, theme.warn())).wrap(Wrap { trim: false }),
                inner,
            );
            return;
        }
        Phase::Applying { remove } => {
            let text = if *remove {
                format!(
                    "Removing the mapping of {} and dropping its tables…",
                    m.object
                )
            } else {
                format!("Generating the DB objects of {}…", m.object)
            };
            frame.render_widget(
                Paragraph::new(Span::styled(text, theme.warn())).wrap(Wrap { trim: false }),
                inner,
            );
            return;
        }
        Phase::Editing => {}
    }
    let wide = inner.width >= 110;
    let mut options = vec![Line::from(Span::styled(
        if m.pane == Pane::Options {
            "Options (Tab: back to the fields)"
        } else {
            "Options (Tab to change)"
        },
        theme.bold(),
    ))];
    options.extend(form::lines(&m.options, m.pane == Pane::Options, theme));
    // A long row filter and the hints wrap rather than run off the pane.
    let options = Paragraph::new(options).wrap(Wrap { trim: false });
    let (fields_area, options_area) = if wide {
        let [f, o] = Layout::horizontal([Constraint::Percentage(58), Constraint::Min(30)])
            .spacing(1)
            .areas(inner);
        (f, o)
    } else {
        let rows = u16::try_from(options.line_count(inner.width)).unwrap_or(u16::MAX);
        let [f, o] = Layout::vertical([Constraint::Min(4), Constraint::Length(rows)]).areas(inner);
        (f, o)
    };
    draw_fields(frame, fields_area, m, theme);
    let options = if wide {
        options.block(
            Block::default()
                .borders(Borders::LEFT)
                .border_style(theme.dim()),
        )
    } else {
        options
    };
    frame.render_widget(options, options_area);
}

fn draw_fields(frame: &mut Frame, area: Rect, m: &MappingEditor, theme: &Theme) {
    let [head, list] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    let total = match &m.fields {
        Load::Loaded(all) => all.len(),
        _ => 0,
    };
    let mut spans = vec![Span::styled(
        format!("{} of {} fields sync", m.chosen_count(), total),
        theme.bold(),
    )];
    if m.filtering || !m.filter.is_empty() {
        spans.push(Span::raw(format!("  Filter: {}", m.filter)));
        if m.filtering {
            spans.push(Span::styled("█", theme.accent()));
        }
    } else {
        spans.push(Span::styled("  / filters · a all · n none", theme.dim()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), head);
    let all = match &m.fields {
        Load::Loading => {
            frame.render_widget(
                Paragraph::new(Span::styled(
                    format!("Loading the fields of {}…", m.object),
                    theme.dim(),
                )),
                list,
            );
            return;
        }
        Load::Failed(e) => {
            frame.render_widget(
                Paragraph::new(vec![
                    Line::from(Span::styled(
                        "The fields could not be loaded:",
                        theme.error(),
                    )),
                    Line::from(e.clone()),
                    Line::from("Esc goes back; m there downloads the metadata again."),
                ])
                .wrap(Wrap { trim: false }),
                list,
            );
            return;
        }
        Load::Loaded(all) => all,
    };
    let visible = m.visible();
    if all.is_empty() || visible.is_empty() {
        let text = if all.is_empty() {
            format!(
                "{} has no described fields: download the metadata again (m on Objects).",
                m.object
            )
        } else {
            format!(
                "No field's name, label or type contains \"{}\".",
                m.filter.trim()
            )
        };
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }), list);
        return;
    }
    let rows: Vec<Row> = visible
        .iter()
        .map(|f| {
            let (mark, style) = if locked(f) {
                ("[■]", theme.dim())
            } else if m.chosen.contains(&f.name) {
                ("[x]", theme.ok())
            } else {
                ("[ ]", theme.bar())
            };
            Row::new(vec![
                Cell::from(Span::styled(mark, style)),
                Cell::from(f.name.clone()),
                Cell::from(f.label.clone()),
                Cell::from(f.field_type.clone()),
                Cell::from(if locked(f) {
                    Span::styled("locked", theme.dim())
                } else if f.required() {
                    Span::styled("req", theme.warn())
                } else {
                    Span::raw("")
                }),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(3),
        Constraint::Percentage(35),
        Constraint::Percentage(35),
        Constraint::Length(10),
        Constraint::Length(6),
    ];
    // The selected field whole, under the list, when its row cuts it.
    let cols = super::column_widths(&widths, list.width);
    let whole = visible.get(m.cursor).filter(|f| {
        super::any_cut(&[
            (&f.name, cols[1]),
            (&f.label, cols[2]),
            (&f.field_type, cols[3]),
        ])
    });
    let list = match whole {
        Some(f) => {
            let line = Paragraph::new(Line::from(vec![
                Span::styled(f.name.clone(), theme.bold()),
                Span::raw(format!(" · {} · ", f.label)),
                Span::styled(f.field_type.clone(), theme.dim()),
            ]))
            .wrap(Wrap { trim: false });
            let rows = u16::try_from(line.line_count(list.width)).unwrap_or(u16::MAX);
            let [list, below] =
                Layout::vertical([Constraint::Min(2), Constraint::Length(rows)]).areas(list);
            frame.render_widget(line, below);
            list
        }
        None => list,
    };
    let table = Table::new(rows, widths)
        .header(Row::new(["", "Field", "Label", "Type", ""]).style(theme.bold()))
        .row_highlight_style(if m.pane == Pane::Fields {
            theme.selected()
        } else {
            theme.bar()
        });
    let mut state = TableState::default().with_selected(Some(m.cursor));
    frame.render_stateful_widget(table, list, &mut state);
}

fn draw_plan(
    frame: &mut Frame,
    area: Rect,
    m: &MappingEditor,
    plan: &PlanView,
    remove: bool,
    theme: &Theme,
) {
    let mut lines = vec![Line::from(Span::styled(
        if remove {
            format!(
                "Removing the mapping of {} runs {} step(s):",
                m.object,
                plan.steps.len()
            )
        } else {
            format!(
                "Saving the mapping of {} ({} fields, {}) runs {} step(s):",
                m.object,
                m.chosen_count(),
                m.direction().label(),
                plan.steps.len()
            )
        },
        theme.bold(),
    ))];
    if plan.steps.is_empty() {
        lines.push(Line::from("Nothing changes in the database."));
    }
    let queued = if remove { None } else { queued_step(plan) };
    let leaving = if remove { None } else { leaving_step(plan) };
    for (i, step) in plan.steps.iter().enumerate() {
        let style = if step.destructive.is_some() {
            theme.error()
        } else if queued.is_some_and(|q| std::ptr::eq(q, step))
            || leaving.is_some_and(|l| std::ptr::eq(l, step))
        {
            // The user's choice: what happens to the changes queued meanwhile, or to the
            // rows the row filter leaves out.
            theme.warn()
        } else {
            theme.bar()
        };
        lines.push(Line::from(Span::styled(
            format!("{:>2}. {}", i + 1, step.description),
            style,
        )));
        if let Some(why) = &step.destructive {
            lines.push(Line::from(Span::styled(
                format!("    ⚠ loses data: {why}"),
                theme.error(),
            )));
        }
        for sql in &step.sql {
            lines.push(Line::from(Span::styled(format!("    {sql}"), theme.dim())));
        }
    }
    // The user's choices (the queued changes, the rows leaving the row filter), under the
    // plan with the confirmation.
    let mut choice = Vec::new();
    if queued.is_some() {
        choice.push(Line::from(Span::styled(
            if m.send_queued {
                "Queued database changes are sent to Salesforce: S discards them instead."
            } else {
                "Queued database changes are discarded (never sent): S sends them instead."
            },
            theme.warn(),
        )));
    }
    if leaving.is_some() {
        choice.push(Line::from(Span::styled(
            match m.leaving_rows {
                LeavingRows::Detach => {
                    "Rows outside the new row filter stay in the database, detached (never refreshed or sent): L deletes them instead."
                }
                LeavingRows::Delete => {
                    "Rows outside the new row filter are deleted from the database: L keeps them, detached, instead."
                }
            },
            theme.warn(),
        )));
    }
    let choice_rows: u16 = choice
        .iter()
        .map(|l| {
            let rows = Paragraph::new(l.clone())
                .wrap(Wrap { trim: false })
                .line_count(area.width);
            u16::try_from(rows).unwrap_or(u16::MAX)
        })
        .fold(0, u16::saturating_add);
    let confirm_rows = 2u16.saturating_add(choice_rows);
    let [body, confirm] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(confirm_rows)]).areas(area);
    // Long DDL wraps (indented under its step) rather than running off the screen.
    let plan_text = Paragraph::new(lines).wrap(Wrap { trim: false });
    let rows = u16::try_from(plan_text.line_count(body.width)).unwrap_or(u16::MAX);
    let scrollable = rows > body.height;
    // Never scroll past the last line.
    let scroll = m.plan_scroll.min(rows.saturating_sub(body.height));
    let footer = if plan.destructive {
        Line::from(Span::styled(
            "This plan loses data. Back up first; D runs it anyway, Esc goes back.",
            theme.error(),
        ))
    } else {
        Line::from(Span::styled(
            "Nothing is lost. Enter runs it; Esc goes back to the mapping.",
            theme.ok(),
        ))
    };
    let mut confirm_lines = vec![footer];
    confirm_lines.extend(choice);
    if scrollable {
        confirm_lines.push(Line::from(Span::styled("↑/↓ scroll the plan", theme.dim())));
    }
    frame.render_widget(plan_text.scroll((scroll, 0)), body);
    frame.render_widget(
        Paragraph::new(confirm_lines).wrap(Wrap { trim: false }),
        confirm,
    );
}
