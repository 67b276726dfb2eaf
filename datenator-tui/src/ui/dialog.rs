//! Windows over the screen: the delete confirmation, yes/no questions and multi-line
//! reports.
use ratatui::Frame;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::{Theme, centered, tone};
use crate::app::{App, Dialog};

pub(super) fn draw(frame: &mut Frame, app: &App, dialog: &Dialog, theme: &Theme) {
    let (title, lines, border) = match dialog {
        Dialog::Delete { org, typed } => (
            format!(" Delete {org}? "),
            delete_lines(app, org, typed, theme),
            theme.error(),
        ),
        Dialog::Report { title, lines } => {
            let mut out: Vec<Line> = lines
                .iter()
                .map(|(t, l)| Line::from(Span::styled(l.clone(), tone(theme, *t))))
                .collect();
            out.push(Line::from(""));
            out.push(Line::from(Span::styled(
                "Enter or Esc closes.",
                theme.dim(),
            )));
            (format!(" {title} "), out, theme.accent())
        }
        Dialog::Detail {
            title,
            lines,
            scroll,
        } => {
            draw_detail(frame, title, lines, *scroll, theme);
            return;
        }
        Dialog::Confirm { title, lines, yes } => {
            let mut out: Vec<Line> = lines
                .iter()
                .map(|(t, l)| Line::from(Span::styled(l.clone(), tone(theme, *t))))
                .collect();
            out.push(Line::from(""));
            let (yes_key, no_key) = yes.keys();
            out.push(Line::from(vec![
                Span::styled(format!(" {yes_key} "), theme.key()),
                Span::raw(format!(" {}   ", yes.label())),
                Span::styled(format!(" {no_key} "), theme.key()),
                Span::raw(" cancel"),
            ]));
            (format!(" {title} "), out, theme.warn())
        }
    };
    let area = frame.area();
    let width = area.width.saturating_sub(4).min(76);
    // Wrapped lines take more rows than there are lines: leave room.
    let inner_width = width.saturating_sub(2).max(1) as usize;
    let rows: usize = lines
        .iter()
        .map(|l| l.width().max(1).div_ceil(inner_width))
        .sum();
    let area = centered(area, width, rows as u16 + 2);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(title)
                .border_style(border),
        ),
        area,
    );
}

/// A detail window as large as the screen allows, its text wrapped and scrolled; the
/// bottom line says where in the text the view is.
fn draw_detail(
    frame: &mut Frame,
    title: &str,
    lines: &[(crate::app::Tone, String)],
    scroll: u16,
    theme: &Theme,
) {
    let area = frame.area();
    let (width, rows, view) = crate::app::detail_geometry(lines, (area.width, area.height));
    let text: Vec<Line> = lines
        .iter()
        .map(|(t, l)| Line::from(Span::styled(l.clone(), tone(theme, *t))))
        .collect();
    let height = view + 3;
    let max_scroll = rows.saturating_sub(view);
    let scroll = scroll.min(max_scroll);
    let area = centered(area, width, height);
    frame.render_widget(Clear, area);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" {title} "))
        .border_style(theme.accent());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [body, foot] = ratatui::layout::Layout::vertical([
        ratatui::layout::Constraint::Min(1),
        ratatui::layout::Constraint::Length(1),
    ])
    .areas(inner);
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        body,
    );
    let position = if max_scroll == 0 {
        "Enter or Esc closes.".to_owned()
    } else {
        format!(
            "lines {}–{} of {rows} · ↑/↓ PgUp/PgDn scroll · Enter or Esc closes",
            scroll + 1,
            (scroll + view).min(rows)
        )
    };
    frame.render_widget(Paragraph::new(Span::styled(position, theme.dim())), foot);
}

fn delete_lines(app: &App, org: &str, typed: &str, theme: &Theme) -> Vec<Line<'static>> {
    let schema = if app.org(org).is_some_and(|o| o.schema_generated) {
        "its generated DB schema and sync user are dropped, with every synced row"
    } else {
        "its generated DB schema and sync user are dropped, if there are any"
    };
    let matches = typed == org;
    vec![
        Line::from(format!(
            "Deleting {org} removes it from Datenator for good:"
        )),
        Line::from(" • its Salesforce token is revoked"),
        Line::from(format!(" • {schema}")),
        Line::from(" • its configuration, mappings and metadata are removed"),
        Line::from(Span::styled(
            "Back up the database first if you may need its data.",
            theme.warn(),
        )),
        Line::from(""),
        Line::from(vec![
            Span::raw("Type the org's name to confirm: "),
            Span::styled(typed.to_owned(), theme.bold()),
            Span::styled("█", theme.accent()),
        ]),
        Line::from(Span::styled(
            if matches {
                "Enter deletes it · Esc cancels"
            } else {
                "Esc cancels"
            },
            if matches { theme.error() } else { theme.dim() },
        )),
    ]
}
