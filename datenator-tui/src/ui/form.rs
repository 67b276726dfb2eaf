//! Draws a [`Form`]: one line per visible field, the focused one marked.
use ratatui::text::{Line, Span};

use super::Theme;
use crate::app::form::{Field, Form, Kind};

/// Width of the label column.
const LABEL: usize = 15;

/// The form's lines; `active` is false when another part of the screen has the keys.
pub(super) fn lines(form: &Form, active: bool, theme: &Theme) -> Vec<Line<'static>> {
    form.fields
        .iter()
        .enumerate()
        .filter(|(_, f)| f.visible)
        .map(|(i, f)| line(f, active && i == form.focus, theme))
        .collect()
}

fn line(f: &Field, focused: bool, theme: &Theme) -> Line<'static> {
    let marker = if focused { "› " } else { "  " };
    let mut spans = vec![Span::styled(marker, theme.accent())];
    match &f.kind {
        Kind::Button => {
            let style = if focused {
                theme.selected().patch(theme.bold())
            } else {
                theme.bold()
            };
            spans.push(Span::styled(format!("[ {} ]", f.label), style));
        }
        kind => {
            let label_style = if focused { theme.bold() } else { theme.bar() };
            spans.push(Span::styled(format!("{:<LABEL$}", f.label), label_style));
            let value = f.display();
            match kind {
                Kind::Choice(_) if focused => {
                    spans.push(Span::styled(format!("‹ {value} ›"), theme.accent()))
                }
                Kind::Choice(_) => spans.push(Span::raw(format!("  {value}  "))),
                _ => {
                    spans.push(Span::raw(format!("  {value}")));
                    if focused {
                        spans.push(Span::styled("█", theme.accent()));
                    }
                }
            }
        }
    }
    if !f.hint.is_empty() {
        spans.push(Span::styled(format!("  {}", f.hint), theme.dim()));
    }
    Line::from(spans)
}
