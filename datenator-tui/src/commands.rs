//! Key bindings. Each screen lists its commands once; the footer, the `?` help popup and
//! key dispatch all read that list, so help can never drift from the real bindings.
//!
//! Where the user is typing (a form's text field, a filter, a confirmation), printable
//! keys are text: those contexts bind no character keys, and [`action_for`] turns any
//! unbound character into [`Action::Type`].
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use datenator_shared::protocol::LeavingRows;

use crate::app::register::Phase;
use crate::app::{App, Dialog, Screen};

/// What a key asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    ToggleHelp,
    Up,
    Down,
    Top,
    Bottom,
    Reconnect,
    /// Esc: close, cancel, or go back one screen.
    Back,
    Register,
    OpenObjects,
    OpenSettings,
    DownloadMetadata,
    DeleteOrg,
    ToggleSync,
    SyncNow,
    /// `p` (a fleet): run the org on the next daemon of the fleet, or let the fleet place it.
    PinOrg,
    OpenDashboard,
    Reauthorize,
    NextField,
    PrevField,
    /// ←: the previous choice.
    Left,
    /// →: the next choice.
    Right,
    /// Enter: press the focused button, or go to the next field.
    Submit,
    /// Space: cycle a choice or press a button.
    Toggle,
    Type(char),
    Backspace,
    /// Ctrl-U: empty the focused field.
    ClearField,
    NextTab,
    PrevTab,
    /// `/`: start filtering a list.
    Filter,
    SelectAll,
    SelectNone,
    /// `D`: run a plan that loses data.
    ApplyDestructive,
    OpenFailed,
    OpenConflicts,
    /// `h`: the selected object's recent changes (history), both sides.
    OpenRecent,
    OpenLog,
    /// Send the selected failed change again.
    Retry,
    /// Send every failed change of the selected object again.
    RetryAll,
    /// Stop retrying the selected failed change (after a confirmation).
    Ignore,
    /// Ask the daemon for the list again.
    Reload,
    PageUp,
    PageDown,
    /// The log: only the chosen org's lines, or everything.
    ToggleOrgFilter,
    /// `!`: the status line's message whole (when it is longer than the line shows).
    ShowNotice,
    /// `S` on a plan that names database changes queued while the object did not sync to
    /// Salesforce: plan again sending them (or, when chosen, discarding them again).
    ToggleSendQueued,
    /// `L` on a plan whose changed row filter leaves rows outside it: plan again deleting
    /// them (or, when chosen, keeping them detached again).
    ToggleLeavingRows,
    /// `F` on a mapped object: plan re-reading it whole from Salesforce, then ask to start it.
    Resync,
    /// `v`: the Datasource tab's facts whole — what is stored, the schema error, who writes
    /// the tables and how to grant it, every check result and fix (at 80×24 they may not
    /// all fit beside the form).
    ShowDetails,
}

/// One binding: the keys that trigger it, how the footer shows them, what it does.
#[derive(Debug, Clone)]
pub struct Command {
    pub keys: &'static [KeyCode],
    /// The key as shown to the user, e.g. "↑/k".
    pub hint: &'static str,
    pub description: &'static str,
    pub action: Action,
    /// Shown in the footer (the help popup lists every command).
    pub in_footer: bool,
}

const fn cmd(
    keys: &'static [KeyCode],
    hint: &'static str,
    description: &'static str,
    action: Action,
    in_footer: bool,
) -> Command {
    Command {
        keys,
        hint,
        description,
        action,
        in_footer,
    }
}

const HELP: Command = cmd(
    &[KeyCode::Char('?'), KeyCode::F(1)],
    "?",
    "help",
    Action::ToggleHelp,
    true,
);
const HELP_F1: Command = cmd(&[KeyCode::F(1)], "F1", "help", Action::ToggleHelp, true);
const QUIT: Command = cmd(&[KeyCode::Char('q')], "q", "quit", Action::Quit, true);
const QUIT_CTRL_C: Command = cmd(&[], "C-c", "quit", Action::Quit, true);
const BACK: Command = cmd(&[KeyCode::Esc], "Esc", "back", Action::Back, true);

const LIST: &[Command] = &[
    cmd(
        &[KeyCode::Up, KeyCode::Char('k')],
        "↑/k",
        "previous",
        Action::Up,
        true,
    ),
    cmd(
        &[KeyCode::Down, KeyCode::Char('j')],
        "↓/j",
        "next",
        Action::Down,
        true,
    ),
    cmd(
        &[KeyCode::Home, KeyCode::Char('g')],
        "Home/g",
        "first",
        Action::Top,
        false,
    ),
    cmd(
        &[KeyCode::End, KeyCode::Char('G')],
        "End/G",
        "last",
        Action::Bottom,
        false,
    ),
];

const ORG_ACTIONS: &[Command] = &[
    cmd(
        &[KeyCode::Char('n'), KeyCode::Char('r')],
        "n",
        "register",
        Action::Register,
        true,
    ),
    cmd(
        &[KeyCode::Enter, KeyCode::Char('o')],
        "Enter",
        "objects",
        Action::OpenObjects,
        true,
    ),
    cmd(
        &[KeyCode::Char('s')],
        "s",
        "settings",
        Action::OpenSettings,
        true,
    ),
    cmd(
        &[KeyCode::Char('m')],
        "m",
        "metadata",
        Action::DownloadMetadata,
        true,
    ),
    cmd(
        &[KeyCode::Char('w')],
        "w",
        "watch sync",
        Action::OpenDashboard,
        true,
    ),
    cmd(
        &[KeyCode::Char('f')],
        "f",
        "failed records",
        Action::OpenFailed,
        false,
    ),
    cmd(
        &[KeyCode::Char('c')],
        "c",
        "conflicts",
        Action::OpenConflicts,
        false,
    ),
    cmd(
        &[KeyCode::Char('l')],
        "l",
        "daemon log",
        Action::OpenLog,
        false,
    ),
    cmd(
        &[KeyCode::Char('e')],
        "e",
        "sync on/off",
        Action::ToggleSync,
        false,
    ),
    cmd(
        &[KeyCode::Char('y')],
        "y",
        "sync now",
        Action::SyncNow,
        false,
    ),
    cmd(
        &[KeyCode::Char('p')],
        "p",
        "pin to a daemon",
        Action::PinOrg,
        false,
    ),
    cmd(
        &[KeyCode::Char('a')],
        "a",
        "authorize again",
        Action::Reauthorize,
        false,
    ),
    cmd(
        &[KeyCode::Char('d')],
        "d",
        "delete org",
        Action::DeleteOrg,
        false,
    ),
];

/// Moving through a form where fields are reached with Tab (the Register screen).
const FORM_TAB_NAV: &[Command] = &[
    cmd(
        &[KeyCode::Tab, KeyCode::Down],
        "Tab/↓",
        "next field",
        Action::NextField,
        true,
    ),
    cmd(
        &[KeyCode::BackTab, KeyCode::Up],
        "S-Tab/↑",
        "previous field",
        Action::PrevField,
        false,
    ),
    cmd(
        &[KeyCode::Enter],
        "Enter",
        "next / press",
        Action::Submit,
        true,
    ),
];

/// Moving through a form inside tabs (Settings): Tab changes the tab.
const FORM_TABBED_NAV: &[Command] = &[
    cmd(&[KeyCode::Down], "↓", "next field", Action::NextField, true),
    cmd(
        &[KeyCode::Up],
        "↑",
        "previous field",
        Action::PrevField,
        false,
    ),
    cmd(
        &[KeyCode::Enter],
        "Enter",
        "next / press",
        Action::Submit,
        true,
    ),
    cmd(&[KeyCode::Tab], "Tab", "next tab", Action::NextTab, true),
    cmd(
        &[KeyCode::BackTab],
        "S-Tab",
        "previous tab",
        Action::PrevTab,
        false,
    ),
];

/// Extra keys on a choice or a button (nothing is being typed there).
const FORM_CHOICE: &[Command] = &[
    cmd(
        &[KeyCode::Left, KeyCode::Char('h')],
        "←/h",
        "previous choice",
        Action::Left,
        false,
    ),
    cmd(
        &[KeyCode::Right, KeyCode::Char('l')],
        "→/l",
        "next choice",
        Action::Right,
        true,
    ),
    cmd(
        &[KeyCode::Char(' ')],
        "Space",
        "change / press",
        Action::Toggle,
        false,
    ),
    cmd(
        &[KeyCode::Char('j')],
        "j",
        "next field",
        Action::NextField,
        false,
    ),
    cmd(
        &[KeyCode::Char('k')],
        "k",
        "previous field",
        Action::PrevField,
        false,
    ),
];

const TEXT_EDIT: &[Command] = &[
    cmd(
        &[KeyCode::Backspace],
        "Bksp",
        "delete a character",
        Action::Backspace,
        false,
    ),
    cmd(&[], "C-u", "clear the field", Action::ClearField, false),
];

/// Moving through text that scrolls (a plan, the log).
const SCROLL: &[Command] = &[
    cmd(
        &[KeyCode::Up, KeyCode::Char('k')],
        "↑/k",
        "scroll up",
        Action::Up,
        false,
    ),
    cmd(
        &[KeyCode::Down, KeyCode::Char('j')],
        "↓/j",
        "scroll down",
        Action::Down,
        false,
    ),
];

/// `F`: re-read the selected mapped object from Salesforce (its plan first).
const RESYNC: Command = cmd(
    &[KeyCode::Char('F')],
    "F",
    "re-read from Salesforce",
    Action::Resync,
    true,
);

const RELOAD: Command = cmd(&[KeyCode::Char('u')], "u", "reload", Action::Reload, false);

const DISCONNECTED: &[Command] = &[cmd(
    &[KeyCode::Char('R')],
    "R",
    "reconnect now",
    Action::Reconnect,
    true,
)];

/// The commands available right now, screen-specific first.
pub fn commands(app: &App) -> Vec<Command> {
    let mut out = Vec::new();
    if app.show_help {
        out.push(cmd(
            &[KeyCode::Esc, KeyCode::Char('?'), KeyCode::F(1)],
            "Esc/?",
            "close help",
            Action::ToggleHelp,
            true,
        ));
        out.push(QUIT);
        return out;
    }
    let typing = app.typing();
    match &app.dialog {
        Some(Dialog::Delete { .. }) => {
            out.push(cmd(
                &[KeyCode::Enter],
                "Enter",
                "delete the org",
                Action::Submit,
                true,
            ));
            out.push(cmd(&[KeyCode::Esc], "Esc", "cancel", Action::Back, true));
            out.extend_from_slice(TEXT_EDIT);
        }
        Some(Dialog::Report { .. }) => {
            out.push(cmd(
                &[KeyCode::Enter, KeyCode::Esc],
                "Enter/Esc",
                "close",
                Action::Back,
                true,
            ));
        }
        Some(Dialog::Detail { .. }) => {
            out.push(cmd(
                &[KeyCode::Enter, KeyCode::Esc],
                "Enter/Esc",
                "close",
                Action::Back,
                true,
            ));
            out.extend_from_slice(SCROLL);
            out.push(cmd(
                &[KeyCode::PageUp],
                "PgUp",
                "page up",
                Action::PageUp,
                true,
            ));
            out.push(cmd(
                &[KeyCode::PageDown],
                "PgDn",
                "page down",
                Action::PageDown,
                true,
            ));
        }
        Some(Dialog::Confirm { yes, .. }) => {
            out.push(cmd(
                &[KeyCode::Char('y'), KeyCode::Enter],
                "y/Enter",
                yes.label(),
                Action::Submit,
                true,
            ));
            out.push(cmd(
                &[KeyCode::Char('n'), KeyCode::Esc],
                "n/Esc",
                "cancel",
                Action::Back,
                true,
            ));
        }
        None => {
            if !typing && crate::app::notice_cut(app) {
                out.push(cmd(
                    &[KeyCode::Char('!')],
                    "!",
                    "whole message",
                    Action::ShowNotice,
                    true,
                ));
            }
            screen_commands(app, &mut out)
        }
    }
    if !app.conn.is_connected() && !typing {
        out.extend_from_slice(DISCONNECTED);
    }
    if typing {
        out.push(HELP_F1);
        out.push(QUIT_CTRL_C);
    } else {
        out.push(HELP);
        out.push(QUIT);
    }
    out
}

fn form_commands(out: &mut Vec<Command>, typing: bool, tabbed: bool) {
    out.extend_from_slice(if tabbed {
        FORM_TABBED_NAV
    } else {
        FORM_TAB_NAV
    });
    if typing {
        out.extend_from_slice(TEXT_EDIT);
    } else {
        out.extend_from_slice(FORM_CHOICE);
    }
    out.push(BACK);
}

fn screen_commands(app: &App, out: &mut Vec<Command>) {
    match &app.screen {
        // Without an org only registering (and the daemon's log) means anything.
        Screen::Orgs if app.orgs.as_ref().is_none_or(Vec::is_empty) => {
            out.extend(
                ORG_ACTIONS
                    .iter()
                    .filter(|c| matches!(c.action, Action::Register | Action::OpenLog))
                    .cloned(),
            );
        }
        Screen::Orgs => {
            // Pinning means something only in a fleet.
            let fleet = app.status.as_ref().is_some_and(|s| s.fleet.is_some());
            out.extend(
                ORG_ACTIONS
                    .iter()
                    .filter(|c| fleet || c.action != Action::PinOrg)
                    .cloned(),
            );
            out.extend_from_slice(LIST);
        }
        Screen::Register(r) => match &r.phase {
            Phase::Editing => form_commands(out, r.form.typing(), false),
            Phase::Authorizing { .. } if r.wants_paste() => {
                out.push(cmd(
                    &[KeyCode::Enter],
                    "Enter",
                    "complete authorization",
                    Action::Submit,
                    true,
                ));
                out.extend_from_slice(TEXT_EDIT);
                out.push(BACK);
            }
            // Finished (authorized or failed): Enter goes back too.
            Phase::Authorizing { org, .. }
                if !matches!(org.auth, datenator_shared::model::AuthState::Pending { .. }) =>
            {
                out.push(cmd(
                    &[KeyCode::Esc, KeyCode::Enter],
                    "Esc",
                    "back to orgs",
                    Action::Back,
                    true,
                ))
            }
            // Waiting: only Esc leaves, so a second Enter on the button cannot.
            _ => out.push(cmd(
                &[KeyCode::Esc],
                "Esc",
                "back to orgs",
                Action::Back,
                true,
            )),
        },
        Screen::Settings(s) => {
            let start = out.len();
            form_commands(out, s.typing(), true);
            if s.tab == crate::app::settings::Tab::Datasource && s.has_details() && !s.typing() {
                // After Tab (the footer shows it where there is room; at 80 columns a cut
                // part of the tab says "v shows it all" itself).
                let at = out[start..]
                    .iter()
                    .position(|c| c.action == Action::NextTab)
                    .map_or(out.len(), |i| start + i + 1);
                out.insert(
                    at,
                    cmd(
                        &[KeyCode::Char('v')],
                        "v",
                        "details",
                        Action::ShowDetails,
                        true,
                    ),
                );
            }
        }
        Screen::Mapping(m) => mapping_commands(m, out),
        Screen::Dashboard(_) => {
            out.push(cmd(
                &[KeyCode::Enter],
                "Enter",
                "its object",
                Action::Submit,
                true,
            ));
            out.push(cmd(
                &[KeyCode::Char('y')],
                "y",
                "sync its org now",
                Action::SyncNow,
                true,
            ));
            out.push(cmd(
                &[KeyCode::Char('e')],
                "e",
                "sync on/off",
                Action::ToggleSync,
                true,
            ));
            out.push(BACK);
            out.push(cmd(
                &[KeyCode::Char('f')],
                "f",
                "failed records",
                Action::OpenFailed,
                true,
            ));
            out.push(cmd(
                &[KeyCode::Char('h')],
                "h",
                "recent changes",
                Action::OpenRecent,
                true,
            ));
            out.push(RESYNC);
            out.push(cmd(
                &[KeyCode::Char('c')],
                "c",
                "conflicts",
                Action::OpenConflicts,
                false,
            ));
            out.push(cmd(
                &[KeyCode::Char('l')],
                "l",
                "daemon log",
                Action::OpenLog,
                false,
            ));
            out.extend_from_slice(LIST);
        }
        Screen::Failed(f) if f.list().is_empty() => {
            out.push(RELOAD);
            out.push(BACK);
        }
        Screen::Failed(_) => {
            out.push(cmd(
                &[KeyCode::Enter],
                "Enter",
                "whole record",
                Action::Submit,
                true,
            ));
            out.push(cmd(
                &[KeyCode::Char('r')],
                "r",
                "retry",
                Action::Retry,
                true,
            ));
            // While disconnected R reconnects (nothing could be retried anyway).
            if app.conn.is_connected() {
                out.push(cmd(
                    &[KeyCode::Char('R')],
                    "R",
                    "retry whole object",
                    Action::RetryAll,
                    true,
                ));
            }
            out.push(cmd(
                &[KeyCode::Char('i')],
                "i",
                "ignore…",
                Action::Ignore,
                true,
            ));
            out.push(RELOAD);
            out.push(BACK);
            out.extend_from_slice(LIST);
        }
        Screen::Recent(r) => {
            if r.current().is_some() {
                out.push(cmd(
                    &[KeyCode::Enter],
                    "Enter",
                    "whole change",
                    Action::Submit,
                    true,
                ));
            }
            out.push(cmd(
                &[KeyCode::Char('u')],
                "u",
                "reload",
                Action::Reload,
                true,
            ));
            out.push(BACK);
            out.extend_from_slice(LIST);
        }
        Screen::Conflicts(c) => {
            if c.current().is_some() {
                out.push(cmd(
                    &[KeyCode::Enter],
                    "Enter",
                    "both values whole",
                    Action::Submit,
                    true,
                ));
            }
            out.push(RELOAD);
            out.push(BACK);
            out.extend_from_slice(LIST);
        }
        Screen::Log(_) => {
            out.push(cmd(
                &[KeyCode::Enter],
                "Enter",
                "bottom line whole",
                Action::Submit,
                false,
            ));
            out.push(cmd(
                &[KeyCode::Char('f')],
                "f",
                "this org / all",
                Action::ToggleOrgFilter,
                true,
            ));
            out.push(cmd(
                &[KeyCode::End, KeyCode::Char('G')],
                "End/G",
                "follow the tail",
                Action::Bottom,
                true,
            ));
            out.push(BACK);
            out.extend_from_slice(SCROLL);
            out.push(cmd(
                &[KeyCode::PageUp],
                "PgUp",
                "page up",
                Action::PageUp,
                false,
            ));
            out.push(cmd(
                &[KeyCode::PageDown],
                "PgDn",
                "page down",
                Action::PageDown,
                false,
            ));
            out.push(cmd(
                &[KeyCode::Home, KeyCode::Char('g')],
                "Home/g",
                "oldest line",
                Action::Top,
                false,
            ));
        }
        Screen::Objects(o) => {
            if o.filtering {
                out.push(cmd(&[KeyCode::Up], "↑", "previous", Action::Up, false));
                out.push(cmd(&[KeyCode::Down], "↓", "next", Action::Down, false));
                out.push(cmd(
                    &[KeyCode::Enter, KeyCode::Esc],
                    "Enter/Esc",
                    "done filtering",
                    Action::Back,
                    true,
                ));
                out.extend_from_slice(TEXT_EDIT);
            } else {
                out.push(cmd(
                    &[KeyCode::Enter],
                    "Enter",
                    "map / edit",
                    Action::Submit,
                    true,
                ));
                out.push(cmd(
                    &[KeyCode::Char('/')],
                    "/",
                    "filter",
                    Action::Filter,
                    true,
                ));
                out.push(cmd(
                    &[KeyCode::Char('m')],
                    "m",
                    "download metadata",
                    Action::DownloadMetadata,
                    true,
                ));
                out.push(cmd(
                    &[KeyCode::Char('h')],
                    "h",
                    "recent changes",
                    Action::OpenRecent,
                    false,
                ));
                // In the footer for a mapped object (on another one F says why not).
                let mapped = o
                    .visible()
                    .get(o.selected)
                    .is_some_and(|x| o.mapping(&x.name).is_some());
                out.push(Command {
                    in_footer: mapped,
                    ..RESYNC
                });
                out.push(BACK);
                out.extend_from_slice(LIST);
            }
        }
    }
}

fn mapping_commands(m: &crate::app::MappingEditor, out: &mut Vec<Command>) {
    use crate::app::mapping::{Pane, Phase};
    match &m.phase {
        Phase::Planning { .. } | Phase::Applying { .. } => out.push(BACK),
        Phase::Review { plan, remove } => {
            if plan.destructive {
                out.push(cmd(
                    &[KeyCode::Char('D')],
                    "D",
                    "run it, losing data",
                    Action::ApplyDestructive,
                    true,
                ));
                out.push(cmd(
                    &[KeyCode::Enter],
                    "Enter",
                    "(refused: loses data)",
                    Action::Submit,
                    false,
                ));
            } else {
                out.push(cmd(
                    &[KeyCode::Enter],
                    "Enter",
                    "run it",
                    Action::Submit,
                    true,
                ));
            }
            out.push(cmd(
                &[KeyCode::Esc],
                "Esc",
                "change the mapping",
                Action::Back,
                true,
            ));
            // The database changes queued while the object did not sync to Salesforce
            // (the plan's line under the steps says which way they go now).
            if !remove && crate::app::mapping::names_queued_changes(plan) {
                out.push(cmd(
                    &[KeyCode::Char('S')],
                    "S",
                    if m.send_queued {
                        "discard them"
                    } else {
                        "send them"
                    },
                    Action::ToggleSendQueued,
                    true,
                ));
            }
            // The rows the changed row filter leaves outside it (the plan's line under the
            // steps says what becomes of them now).
            if !remove && crate::app::mapping::names_leaving_rows(plan) {
                out.push(cmd(
                    &[KeyCode::Char('L')],
                    "L",
                    match m.leaving_rows {
                        LeavingRows::Detach => "delete them",
                        LeavingRows::Delete => "keep them",
                    },
                    Action::ToggleLeavingRows,
                    true,
                ));
            }
            out.extend_from_slice(SCROLL);
            out.push(cmd(
                &[KeyCode::Home, KeyCode::Char('g')],
                "Home/g",
                "top of the plan",
                Action::Top,
                false,
            ));
        }
        Phase::Editing => match m.pane {
            Pane::Options => {
                form_commands(out, m.options.typing(), true);
                // Tab switches panes here.
                for c in out.iter_mut() {
                    if c.action == Action::NextTab {
                        c.description = "fields";
                    }
                }
            }
            Pane::Fields if m.filtering => {
                out.push(cmd(&[KeyCode::Up], "↑", "previous", Action::Up, false));
                out.push(cmd(&[KeyCode::Down], "↓", "next", Action::Down, false));
                out.push(cmd(
                    &[KeyCode::Enter, KeyCode::Esc],
                    "Enter/Esc",
                    "done filtering",
                    Action::Back,
                    true,
                ));
                out.extend_from_slice(TEXT_EDIT);
            }
            Pane::Fields => {
                out.push(cmd(
                    &[KeyCode::Char(' ')],
                    "Space",
                    "toggle",
                    Action::Toggle,
                    true,
                ));
                out.push(cmd(
                    &[KeyCode::Enter],
                    "Enter",
                    "save…",
                    Action::Submit,
                    true,
                ));
                out.push(cmd(
                    &[KeyCode::Tab, KeyCode::BackTab],
                    "Tab",
                    "direction…",
                    Action::NextTab,
                    true,
                ));
                out.push(cmd(
                    &[KeyCode::Char('/')],
                    "/",
                    "filter",
                    Action::Filter,
                    false,
                ));
                out.push(cmd(
                    &[KeyCode::Char('a')],
                    "a",
                    "select all shown",
                    Action::SelectAll,
                    false,
                ));
                out.push(cmd(
                    &[KeyCode::Char('n')],
                    "n",
                    "select none",
                    Action::SelectNone,
                    false,
                ));
                out.push(BACK);
                out.extend_from_slice(LIST);
            }
        },
    }
}

/// The action bound to `key` on the current screen, if any.
pub fn action_for(app: &App, key: KeyEvent) -> Option<Action> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && key.code == KeyCode::Char('c') {
        return Some(Action::Quit);
    }
    let typing = app.typing();
    if ctrl {
        return (typing && key.code == KeyCode::Char('u')).then_some(Action::ClearField);
    }
    if let Some(c) = commands(app)
        .into_iter()
        .find(|c| c.keys.contains(&key.code))
    {
        return Some(c.action);
    }
    match key.code {
        KeyCode::Char(c) if typing && !key.modifiers.contains(KeyModifiers::ALT) => {
            Some(Action::Type(c))
        }
        _ => None,
    }
}
