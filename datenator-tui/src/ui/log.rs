//! The daemon log: time, level (coloured; the word itself says it without colour), org and
//! message, long messages wrapped under the message column, newest at the bottom.
use std::collections::VecDeque;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use datenator_shared::model::{LOG_TAIL_LINES, LogLine};

use super::Theme;
use crate::app::log::visible;
use crate::app::{App, LogView};

/// The widest org column.
const ORG_WIDTH: usize = 14;

fn level_style(level: &str, theme: &Theme) -> Style {
    match level {
        "ERROR" => theme.error(),
        "WARN" => theme.warn(),
        "INFO" => theme.accent(),
        _ => theme.dim(),
    }
}

/// How each line is laid out: the columns before the message.
struct Columns {
    wide: bool,
    org: usize,
    message: usize,
}

impl Columns {
    fn prefix(&self) -> usize {
        let time = if self.wide { 19 } else { 8 };
        time + 1 + 5 + 1 + if self.org > 0 { self.org + 1 } else { 0 }
    }

    /// `line` as screen rows: the columns, then the message cut to the width left.
    fn rows(&self, line: &LogLine, theme: &Theme) -> Vec<Line<'static>> {
        let chunks = wrap(&line.message, self.message.max(1));
        let time = if self.wide {
            line.at.format("%Y-%m-%d %H:%M:%S")
        } else {
            line.at.format("%H:%M:%S")
        };
        let mut first = vec![
            Span::styled(format!("{time} "), theme.dim()),
            Span::styled(
                format!("{:<5} ", line.level),
                level_style(&line.level, theme),
            ),
        ];
        if self.org > 0 {
            let org: String = line
                .org
                .as_deref()
                .unwrap_or("")
                .chars()
                .take(self.org)
                .collect();
            first.push(Span::styled(
                format!("{org:<width$} ", width = self.org),
                theme.bold(),
            ));
        }
        let indent = " ".repeat(self.prefix());
        chunks
            .into_iter()
            .enumerate()
            .map(|(i, text)| {
                let mut spans = if i == 0 {
                    first.clone()
                } else {
                    vec![Span::raw(indent.clone())]
                };
                spans.push(Span::raw(text));
                Line::from(spans)
            })
            .collect()
    }
}

/// `text` in rows of at most `width` characters, broken after a space where there is one.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut rows = Vec::new();
    let mut rest: Vec<char> = text.chars().collect();
    while rest.len() > width {
        let cut = rest[..=width]
            .iter()
            .rposition(|c| *c == ' ')
            .filter(|&i| i > 0)
            .map_or(width, |i| i + 1);
        rows.push(rest.drain(..cut).collect::<String>().trim_end().to_owned());
    }
    rows.push(rest.into_iter().collect());
    rows
}

pub(super) fn draw(frame: &mut Frame, area: Rect, app: &App, view: &LogView, theme: &Theme) {
    let lines = visible(app, view);
    let mut title = String::from(" Daemon log");
    if let Some(org) = view.shown_org() {
        title.push_str(&format!(" · {org} only"));
    }
    if view.following() {
        title.push_str(" — following the tail ");
    } else {
        title.push_str(&format!(" — {} line(s) back, End follows ", view.scroll));
    }
    let block = Block::default().borders(Borders::ALL).title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if lines.is_empty() {
        let text = if app.log_fresh {
            Line::from(Span::styled("Waiting for the daemon's log…", theme.dim()))
        } else if let Some(org) = view.shown_org() {
            Line::from(format!(
                "Nothing about {org} in the daemon's last {LOG_TAIL_LINES} lines (f shows every org's)."
            ))
        } else {
            Line::from("The daemon has logged nothing yet.")
        };
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }), inner);
        return;
    }
    let wide = inner.width >= 110;
    let org = if view.shown_org().is_some() {
        0
    } else {
        lines
            .iter()
            .filter_map(|l| l.org.as_deref())
            .map(|o| o.chars().count())
            .max()
            .unwrap_or(0)
            .min(ORG_WIDTH)
    };
    let mut columns = Columns {
        wide,
        org,
        message: 0,
    };
    columns.message = (inner.width as usize)
        .saturating_sub(columns.prefix())
        .max(10);
    let height = inner.height as usize;
    // The view ends `scroll` lines before the newest; fill upwards from there, and when
    // the oldest line is reached first, downwards from the end instead.
    let end = lines.len() - view.scroll.min(lines.len() - 1);
    let mut rows: VecDeque<Line> = VecDeque::new();
    let mut start = end;
    while start > 0 && rows.len() < height {
        start -= 1;
        for row in columns.rows(lines[start], theme).into_iter().rev() {
            rows.push_front(row);
        }
    }
    while rows.len() > height {
        rows.pop_front();
    }
    for line in &lines[end..] {
        if rows.len() >= height {
            break;
        }
        rows.extend(columns.rows(line, theme));
    }
    rows.truncate(height);
    frame.render_widget(Paragraph::new(Vec::from(rows)), inner);
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn long_messages_wrap_at_spaces_and_long_words_are_cut() {
        assert_eq!(wrap("push refused row=18", 12), ["push refused", "row=18"]);
        assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("", 4), [""]);
        assert_eq!(wrap("a b", 3), ["a b"]);
    }
}
