//! The Objects screen: the org's objects from the metadata cache, filtered by `/`.
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState, Wrap};

use super::Theme;
use crate::app::objects::{Load, Objects};
use crate::app::{App, Pending};

pub(super) fn draw(frame: &mut Frame, area: Rect, app: &App, o: &Objects, theme: &Theme) {
    let visible = o.visible();
    let title = match &o.objects {
        Load::Loaded(all) if !o.filter.is_empty() => {
            format!(
                " Objects of {} ({} of {}) ",
                o.org,
                visible.len(),
                all.len()
            )
        }
        Load::Loaded(all) => format!(" Objects of {} ({}) ", o.org, all.len()),
        _ => format!(" Objects of {} ", o.org),
    };
    let block = Block::default().borders(Borders::ALL).title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [filter_area, list_area] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(inner);

    let mut filter = vec![
        Span::styled("Filter: ", theme.bold()),
        Span::raw(o.filter.clone()),
    ];
    if o.filtering {
        filter.push(Span::styled("█", theme.accent()));
        filter.push(Span::styled("  name or label; Enter done", theme.dim()));
    } else if o.filter.is_empty() {
        filter.push(Span::styled(
            "press / and type a name or label",
            theme.dim(),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(filter)), filter_area);

    let downloading = app.is_pending(&Pending::MetadataDownload { org: o.org.clone() });
    let message: Option<Vec<Line>> = match &o.objects {
        Load::Loading => Some(vec![Line::from(Span::styled(
            format!("Loading the objects of {}…", o.org),
            theme.dim(),
        ))]),
        Load::Failed(e) => Some(vec![
            Line::from(Span::styled(
                "The objects could not be loaded:",
                theme.error(),
            )),
            Line::from(e.clone()),
            Line::from(""),
            Line::from("Esc goes back; m downloads the metadata again."),
        ]),
        Load::Loaded(all) if all.is_empty() && downloading => Some(vec![Line::from(Span::styled(
            "Downloading the metadata from Salesforce…",
            theme.warn(),
        ))]),
        Load::Loaded(all) if all.is_empty() => Some(vec![
            Line::from(Span::styled(
                format!("No metadata has been downloaded for {} yet.", o.org),
                theme.bold(),
            )),
            Line::from(""),
            Line::from(vec![
                Span::raw("Download metadata with "),
                Span::styled(" m ", theme.key()),
                Span::raw(": the object list and every object's fields,"),
            ]),
            Line::from("in a few API calls. It is needed before objects can be mapped."),
        ]),
        Load::Loaded(_) if visible.is_empty() => Some(vec![Line::from(format!(
            "No object's name or label contains \"{}\". Backspace widens the filter.",
            o.filter.trim()
        ))]),
        Load::Loaded(_) => None,
    };
    if let Some(lines) = message {
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), list_area);
        return;
    }
    let rows: Vec<Row> = visible
        .iter()
        .map(|obj| {
            let mapped = match (&o.mappings, o.mapping(&obj.name)) {
                (_, Some(m)) => Span::styled(m.direction.label(), theme.ok()),
                (Load::Loading, None) => Span::styled("…", theme.dim()),
                (Load::Failed(_), None) => Span::styled("?", theme.error()),
                (Load::Loaded(_), None) => Span::styled("–", theme.dim()),
            };
            let state = app
                .sync
                .iter()
                .find(|s| s.org == o.org && s.object == obj.name)
                .map(|s| {
                    if s.reloading {
                        Span::styled("re-reading", theme.warn())
                    } else {
                        super::state_span(s.state, theme)
                    }
                })
                .unwrap_or_else(|| Span::raw(""));
            Row::new(vec![
                Cell::from(obj.name.clone()),
                Cell::from(obj.label.clone()),
                Cell::from(if obj.custom {
                    Span::styled("custom", theme.accent())
                } else {
                    Span::styled("standard", theme.dim())
                }),
                Cell::from(
                    obj.fields
                        .map(|n| format!("{n:>6}"))
                        .unwrap_or_else(|| "     –".into()),
                ),
                Cell::from(mapped),
                Cell::from(state),
            ])
        })
        .collect();
    let widths = [
        Constraint::Percentage(30),
        Constraint::Percentage(30),
        Constraint::Length(8),
        Constraint::Length(6),
        Constraint::Length(7),
        Constraint::Length(12),
    ];
    // The selected object whole, under the list, when its row cuts it.
    let cols = super::column_widths(&widths, list_area.width);
    let whole = visible
        .get(o.selected)
        .filter(|obj| super::any_cut(&[(&obj.name, cols[0]), (&obj.label, cols[1])]));
    let list_area = match whole {
        Some(obj) => {
            let line = Paragraph::new(Line::from(vec![
                Span::styled(obj.name.clone(), theme.bold()),
                Span::raw(format!(" · {}", obj.label)),
            ]))
            .wrap(Wrap { trim: false });
            let rows = u16::try_from(line.line_count(list_area.width)).unwrap_or(u16::MAX);
            let [list, below] =
                Layout::vertical([Constraint::Min(2), Constraint::Length(rows)]).areas(list_area);
            frame.render_widget(line, below);
            list
        }
        None => list_area,
    };
    let table = Table::new(rows, widths)
        .header(
            Row::new(["Name", "Label", "Kind", "Fields", "Mapped", "State"]).style(theme.bold()),
        )
        .row_highlight_style(theme.selected());
    let mut state = TableState::default().with_selected(Some(o.selected));
    frame.render_stateful_widget(table, list_area, &mut state);
}
