//! The Register org screen: the form, then the running flow — the device flow's URL and
//! code, or the web-server flow's URL and a field for the redirected address.
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use datenator_shared::model::{AuthState, OrgSummary, PendingStep};

use super::{Theme, form};
use crate::app::App;
use crate::app::register::{Phase, Register};

pub(super) fn draw(frame: &mut Frame, area: Rect, app: &App, r: &Register, theme: &Theme) {
    let title = format!(" {} ", r.title());
    let block = Block::default().borders(Borders::ALL).title(title);
    match &r.phase {
        Phase::Editing | Phase::Submitting => {
            let intro = if r.reauth_of.is_some() {
                "Run an authorization flow again to give Datenator a fresh token."
            } else {
                "Datenator authorizes itself to the org with OAuth: where does it live, how to log in?"
            };
            let inner = block.inner(area);
            frame.render_widget(block, area);
            let [intro_area, form_area] =
                Layout::vertical([Constraint::Length(2), Constraint::Min(1)]).areas(inner);
            frame.render_widget(Paragraph::new(intro).wrap(Wrap { trim: false }), intro_area);
            let mut lines = form::lines(&r.form, r.phase == Phase::Editing, theme);
            if r.phase == Phase::Submitting {
                lines.push(Line::from(""));
                lines.push(Line::from(Span::styled(
                    "Waiting for the daemon… (Esc leaves; the outcome still shows below)",
                    theme.warn(),
                )));
            }
            // A long domain, client id or hint wraps instead of running off the screen.
            frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), form_area);
        }
        Phase::Authorizing { org, paste } => {
            // No side borders: a URL selected with the mouse copies without box lines.
            let block = Block::default()
                .borders(Borders::TOP | Borders::BOTTOM)
                .title(format!(" {} ", r.title()));
            let inner = block.inner(area);
            frame.render_widget(block, area);
            let again = r.reauth_of.is_some();
            draw_flow(frame, inner, org, paste, app.tick, again, theme);
        }
    }
}

fn draw_flow(
    frame: &mut Frame,
    area: Rect,
    org: &OrgSummary,
    paste: &str,
    tick: u64,
    again: bool,
    theme: &Theme,
) {
    let name = &org.name;
    let lines: Vec<Line> = match &org.auth {
        AuthState::Pending {
            step:
                PendingStep::Device {
                    verification_uri,
                    user_code,
                    expires_at,
                },
        } => {
            let spin = super::SPINNER[(tick as usize) % super::SPINNER.len()];
            return draw_device(
                frame,
                area,
                verification_uri,
                user_code,
                *expires_at,
                spin,
                theme,
            );
        }
        AuthState::Pending {
            step: PendingStep::Browser { authorize_url },
        } => vec![
            Line::from(Span::styled(
                "1. Open this address in a browser and log in to Salesforce:",
                theme.bold(),
            )),
            Line::from(Span::styled(authorize_url.clone(), theme.accent())),
            Line::from(""),
            Line::from(Span::styled(
                "2. Allow access. The browser then goes to an address that may not load: that is fine.",
                theme.bold(),
            )),
            Line::from(""),
            Line::from(Span::styled(
                "3. Copy that whole address from the address bar, paste it here, press Enter:",
                theme.bold(),
            )),
            Line::from(vec![
                Span::styled("› ", theme.accent()),
                // The end of a long paste stays in view.
                Span::raw(tail(paste, area.width.saturating_sub(3) as usize)),
                Span::styled("█", theme.accent()),
            ]),
        ],
        AuthState::Authorized if again && org.refresh_error.is_some() => {
            let why = org.refresh_error.clone().unwrap_or_default();
            vec![
                Line::from(Span::styled(
                    format!("✗ Refreshing the credentials of {name} failed."),
                    theme.error(),
                )),
                Line::from(""),
                Line::from(format!(
                    "The refresh failed: {why}; the org keeps syncing with its earlier credentials."
                )),
                Line::from(""),
                Line::from(
                    "Mappings, datasource and sync are as before. To replace the credentials, run",
                ),
                Line::from("the refresh again (a on the org list) once the login can be approved."),
                Line::from(""),
                Line::from("Press Enter or Esc to go back to the org list."),
            ]
        }
        AuthState::Authorized => vec![
            Line::from(Span::styled(
                format!("✓ {name} is authorized."),
                theme.ok().patch(theme.bold()),
            )),
            Line::from(""),
            Line::from(format!(
                "Org id: {}   Instance: {}",
                org.org_id.as_deref().unwrap_or("–"),
                org.instance_url.as_deref().unwrap_or("–")
            )),
            Line::from(""),
            if again {
                Line::from(
                    "The new credentials are in use; mappings, datasource and sync are as before.",
                )
            } else {
                Line::from(
                    "Next, on the org list: m downloads its metadata, s sets up its datasource,",
                )
            },
            Line::from(if again {
                "Press Enter or Esc to go back to the org list."
            } else {
                "Enter shows its objects. Press Enter or Esc to go there."
            }),
        ],
        AuthState::Failed { error } => vec![
            Line::from(Span::styled(
                format!("✗ Authorizing {name} failed."),
                theme.error(),
            )),
            Line::from(""),
            Line::from(error.clone()),
            Line::from(""),
            Line::from("The org stays registered: run the flow again from its settings"),
            Line::from("(s, then Tab to Manage → Refresh credentials), or delete it (d)."),
        ],
        AuthState::NeedsReauthorization { reason } => vec![
            Line::from(Span::styled(
                format!("{name} needs authorizing again."),
                theme.warn(),
            )),
            Line::from(reason.clone()),
        ],
    };
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), area);
}

/// The last `width` characters of `text`.
fn tail(text: &str, width: usize) -> String {
    let n = text.chars().count();
    if n <= width {
        return text.to_owned();
    }
    let mut out = String::from("…");
    out.extend(text.chars().skip(n - width + 1));
    out
}

/// The code with room between the characters, easy to read off a screen.
fn spaced(code: &str) -> String {
    code.chars()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

fn draw_device(
    frame: &mut Frame,
    area: Rect,
    uri: &str,
    code: &str,
    expires_at: chrono::DateTime<chrono::Utc>,
    spin: &str,
    theme: &Theme,
) {
    let qr = super::qr::render(uri);
    let qr_fits = qr.as_ref().is_some_and(|q| {
        let w = q.lines().map(|l| l.chars().count()).max().unwrap_or(0) as u16;
        let h = q.lines().count() as u16;
        area.width >= w + 60 && area.height >= h
    });
    let (text_area, qr_area) = if qr_fits {
        let w = qr
            .as_ref()
            .map(|q| q.lines().map(|l| l.chars().count()).max().unwrap_or(0) as u16)
            .unwrap_or(0);
        let [t, q] =
            Layout::horizontal([Constraint::Min(40), Constraint::Length(w + 2)]).areas(area);
        (t, Some(q))
    } else {
        (area, None)
    };
    let code_line = format!("  {}  ", spaced(code));
    let border = "─".repeat(code_line.chars().count());
    let lines = vec![
        Line::from(Span::styled(
            "1. On any device (phone, laptop), open:",
            theme.bold(),
        )),
        Line::from(Span::styled(format!("   {uri}"), theme.accent())),
        Line::from(""),
        Line::from(Span::styled(
            "2. Log in to Salesforce and enter this code:",
            theme.bold(),
        )),
        Line::from(format!("   ┌{border}┐")),
        Line::from(vec![
            Span::raw("   │"),
            Span::styled(code_line, theme.bold().patch(theme.selected())),
            Span::raw("│"),
        ]),
        Line::from(format!("   └{border}┘")),
        Line::from(""),
        Line::from(Span::styled(
            format!(
                "{spin} Waiting for approval… the code expires at {} UTC.",
                expires_at.format("%H:%M")
            ),
            theme.warn(),
        )),
        Line::from(Span::styled(
            if qr_fits {
                "The QR code on the right opens the same address."
            } else {
                "This screen updates by itself; Esc leaves it (the flow keeps running)."
            },
            theme.dim(),
        )),
    ];
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), text_area);
    if let (Some(q), Some(qa)) = (qr, qr_area) {
        frame.render_widget(Paragraph::new(q), qa);
    }
}
