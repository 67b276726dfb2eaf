//! The TUI's state and its pure update function: a message in, a new state and commands
//! out. No I/O happens here, which is what makes every behaviour unit-testable.
//!
//! Requests to the daemon leave as [`Cmd::Request`] with an id and come back as
//! [`Msg::Reply`] with the same id; [`App::pending`] remembers what each one was for, so
//! input never waits on the daemon and every outcome is shown.
pub mod conflicts;
pub mod dashboard;
pub mod failed;
pub mod form;
pub mod log;
pub mod mapping;
pub mod objects;
mod pending;
pub mod recent;
pub mod register;
mod replies;
pub mod resync;
pub mod settings;

use std::collections::{BTreeMap, VecDeque};

use crossterm::event::KeyEvent;
use datenator_shared::model::{DaemonStatus, Event, LogLine, ObjectStatus, OrgSummary};
use datenator_shared::protocol::{Call, DeleteOrg, FailedRecords, HandshakeOk, OrgRef, SetSync};
use serde_json::Value;

use crate::commands::{self, Action};
pub use conflicts::Conflicts;
pub use dashboard::Dashboard;
pub use failed::Failed;
pub use log::LogView;
pub use mapping::MappingEditor;
pub use objects::Objects;
pub use pending::Pending;
pub use recent::Recent;
pub use register::Register;
pub use settings::Settings;

/// The screen on show, with its own state.
#[derive(Debug, Clone, PartialEq)]
pub enum Screen {
    Orgs,
    Register(Register),
    Settings(Box<Settings>),
    Objects(Objects),
    Mapping(Box<MappingEditor>),
    Dashboard(Dashboard),
    Failed(Failed),
    Conflicts(Conflicts),
    Recent(Recent),
    Log(LogView),
}

/// Where Esc leads from a screen reached from more than one place.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Back {
    #[default]
    Orgs,
    Dashboard(Dashboard),
    Objects(Objects),
}

impl Back {
    /// The screen `app` shows now, as a place to come back to.
    fn from(screen: &Screen) -> Back {
        match screen {
            Screen::Dashboard(d) => Back::Dashboard(d.clone()),
            Screen::Objects(o) => Back::Objects(o.clone()),
            _ => Back::Orgs,
        }
    }

    pub(crate) fn go(self, app: &mut App) {
        app.screen = match self {
            Back::Orgs => Screen::Orgs,
            Back::Dashboard(d) => Screen::Dashboard(d),
            Back::Objects(o) => Screen::Objects(o),
        };
    }
}

impl Screen {
    pub fn title(&self) -> String {
        match self {
            Screen::Orgs => "Orgs".into(),
            Screen::Register(r) => r.title(),
            Screen::Settings(s) => format!("Settings · {}", s.org),
            Screen::Objects(o) => format!("Objects · {}", o.org),
            Screen::Mapping(m) => format!("Mapping · {} · {}", m.org, m.object),
            Screen::Dashboard(_) => "Sync".into(),
            Screen::Failed(f) => format!("Failed records · {}", f.org),
            Screen::Conflicts(c) => format!("Conflicts · {}", c.org),
            Screen::Recent(r) => format!("Recent changes · {} · {}", r.org, r.object),
            Screen::Log(l) => match l.shown_org() {
                Some(org) => format!("Daemon log · {org}"),
                None => "Daemon log".into(),
            },
        }
    }
}

/// The link to the daemon as the user sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnState {
    Connecting,
    Connected { daemon_version: String },
    Disconnected { reason: String, retry_in_secs: u64 },
}

impl ConnState {
    pub fn is_connected(&self) -> bool {
        matches!(self, ConnState::Connected { .. })
    }
}

/// Everything that can happen to the TUI.
#[derive(Debug, Clone, PartialEq)]
pub enum Msg {
    Key(KeyEvent),
    /// Text pasted into the terminal (bracketed paste).
    Paste(String),
    Connected(HandshakeOk),
    Disconnected {
        reason: String,
        retry_in_secs: u64,
    },
    Event(Event),
    /// The daemon's answer to [`Cmd::Request`] `id`: the result, or the error text.
    Reply {
        id: u64,
        result: Result<Value, String>,
    },
    /// Time passes (animates the pending marker).
    Tick,
    /// The terminal's size, at start and on every change (pages scroll by its height).
    Resize {
        width: u16,
        height: u16,
    },
}

/// What the update asks the outside world to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Cmd {
    Quit,
    /// Skip the reconnection backoff and try now.
    ReconnectNow,
    /// Send `call` to the daemon; answer with [`Msg::Reply`] carrying `id`.
    Request {
        id: u64,
        call: Call,
    },
}

/// How a message in the status line reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Info,
    Ok,
    Warn,
    Error,
}

/// The last outcome, shown in the status line until the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub tone: Tone,
    pub text: String,
}

/// A window over the current screen that takes the keys until closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dialog {
    /// Deleting an org: the user must type its name.
    Delete { org: String, typed: String },
    /// A multi-line outcome (metadata report, delete report).
    Report {
        title: String,
        lines: Vec<(Tone, String)>,
    },
    /// One item whole (a conflict, a failed record, a log line): wrapped, scrolled with
    /// ↑/↓ and PgUp/PgDn when longer than the screen.
    Detail {
        title: String,
        lines: Vec<(Tone, String)>,
        /// Wrapped rows scrolled past.
        scroll: u16,
    },
    /// A yes/no question before an action that cannot be taken back.
    Confirm {
        title: String,
        lines: Vec<(Tone, String)>,
        yes: Confirm,
    },
}

/// What a confirmation dialog does on yes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirm {
    /// Stop retrying a failed database change.
    IgnoreFailed {
        org: String,
        object: String,
        row_id: i64,
    },
    /// Leave the mapping editor, throwing away the changes not saved.
    DiscardMapping { org: String, object: String },
    /// Start re-reading a mapped object from Salesforce (its plan is on show).
    Resync { org: String, object: String },
}

impl Confirm {
    /// The yes key's description.
    pub fn label(&self) -> &'static str {
        match self {
            Confirm::IgnoreFailed { .. } => "ignore it",
            Confirm::DiscardMapping { .. } => "throw them away",
            Confirm::Resync { .. } => "start the re-read",
        }
    }

    /// The keys the dialog names for yes and cancel (each of y/Enter and n/Esc works).
    pub fn keys(&self) -> (&'static str, &'static str) {
        match self {
            // A plan to read: Enter starts it, as Enter runs a mapping's plan.
            Confirm::Resync { .. } => ("Enter", "Esc"),
            Confirm::IgnoreFailed { .. } | Confirm::DiscardMapping { .. } => ("y", "n"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct App {
    pub socket_path: String,
    pub conn: ConnState,
    pub status: Option<DaemonStatus>,
    /// `None` until the first org list arrives (shown as loading).
    pub orgs: Option<Vec<OrgSummary>>,
    /// Every mapped object's sync status, from the `sync` topic.
    pub sync: Vec<ObjectStatus>,
    /// Whether the first `sync` event arrived (before it, the dashboard is loading).
    pub sync_loaded: bool,
    pub screen: Screen,
    /// The selected row of the Orgs screen.
    pub selected: usize,
    pub show_help: bool,
    pub dialog: Option<Dialog>,
    pub notice: Option<Notice>,
    /// Requests in flight, by id.
    pub pending: BTreeMap<u64, Pending>,
    next_id: u64,
    /// Advanced by [`Msg::Tick`] while requests are in flight.
    pub tick: u64,
    /// Render without colours (`NO_COLOR`).
    pub no_color: bool,
    /// The daemon's recent log lines from the `log` topic, oldest first (at most
    /// [`LOG_TAIL_LINES`](datenator_shared::model::LOG_TAIL_LINES)).
    pub log: VecDeque<LogLine>,
    /// Whether the next `log` event is a subscription's first (the whole tail, replacing
    /// what is kept) rather than new lines to append.
    pub log_fresh: bool,
    /// The terminal's size (columns, rows).
    pub size: (u16, u16),
}

impl App {
    pub fn new(socket_path: impl Into<String>, no_color: bool) -> App {
        App {
            socket_path: socket_path.into(),
            conn: ConnState::Connecting,
            status: None,
            orgs: None,
            sync: Vec::new(),
            sync_loaded: false,
            screen: Screen::Orgs,
            selected: 0,
            show_help: false,
            dialog: None,
            notice: None,
            pending: BTreeMap::new(),
            next_id: 1,
            tick: 0,
            no_color,
            log: VecDeque::new(),
            log_fresh: true,
            size: (80, 24),
        }
    }

    /// The org selected on the Orgs screen.
    pub fn selected_org(&self) -> Option<&OrgSummary> {
        self.orgs.as_ref()?.get(self.selected)
    }

    /// The org called `name`, as last pushed by the daemon.
    pub fn org(&self, name: &str) -> Option<&OrgSummary> {
        self.orgs.as_ref()?.iter().find(|o| o.name == name)
    }

    /// Whether a request of this kind is in flight.
    pub fn is_pending(&self, p: &Pending) -> bool {
        self.pending.values().any(|q| q == p)
    }

    /// Records a request and returns the command that sends it.
    pub(crate) fn request(&mut self, call: Call, what: Pending) -> Cmd {
        let id = self.next_id;
        self.next_id += 1;
        self.pending.insert(id, what);
        Cmd::Request { id, call }
    }

    pub(crate) fn say(&mut self, tone: Tone, text: impl Into<String>) {
        self.notice = Some(Notice {
            tone,
            text: text.into(),
        });
    }

    fn orgs_len(&self) -> usize {
        self.orgs.as_ref().map_or(0, Vec::len)
    }

    fn clamp_selection(&mut self) {
        let len = self.orgs_len();
        self.selected = if len == 0 {
            0
        } else {
            self.selected.min(len - 1)
        };
    }

    /// Whether something on screen moves: a request in flight, or a flow waiting for the
    /// user (the main loop sends [`Msg::Tick`] only then).
    pub fn animating(&self) -> bool {
        !self.pending.is_empty()
            || matches!(&self.screen, Screen::Register(r)
                if matches!(&r.phase, register::Phase::Authorizing { org, .. }
                    if matches!(org.auth, datenator_shared::model::AuthState::Pending { .. })))
    }

    /// Whether typed characters are text (a form field, a filter) rather than commands.
    pub fn typing(&self) -> bool {
        if self.show_help {
            return false;
        }
        match &self.dialog {
            Some(Dialog::Delete { .. }) => return true,
            Some(Dialog::Report { .. } | Dialog::Confirm { .. } | Dialog::Detail { .. }) => {
                return false;
            }
            None => {}
        }
        match &self.screen {
            Screen::Orgs => false,
            Screen::Register(r) => r.typing(),
            Screen::Settings(s) => s.typing(),
            Screen::Objects(o) => o.filtering,
            Screen::Mapping(m) => m.typing(),
            Screen::Dashboard(_)
            | Screen::Failed(_)
            | Screen::Conflicts(_)
            | Screen::Recent(_)
            | Screen::Log(_) => false,
        }
    }
}

/// Applies `msg` to `app`.
pub fn update(app: &mut App, msg: Msg) -> Vec<Cmd> {
    match msg {
        Msg::Key(key) => match commands::action_for(app, key) {
            Some(action) => apply(app, action),
            None => vec![],
        },
        // A paste is text only where text is typed; elsewhere it must not act as keys.
        Msg::Paste(_) if !app.typing() => vec![],
        Msg::Paste(text) => {
            let text = text.replace(['\r', '\n'], "");
            text.chars()
                .flat_map(|c| apply(app, Action::Type(c)))
                .collect()
        }
        Msg::Connected(ok) => {
            app.conn = ConnState::Connected {
                daemon_version: ok.daemon_version,
            };
            // The new subscription starts with the whole tail again.
            app.log_fresh = true;
            vec![]
        }
        Msg::Disconnected {
            reason,
            retry_in_secs,
        } => {
            app.conn = ConnState::Disconnected {
                reason,
                retry_in_secs,
            };
            vec![]
        }
        Msg::Event(Event::Status(s)) => {
            app.status = Some(s);
            vec![]
        }
        Msg::Event(Event::Orgs(orgs)) => {
            app.orgs = Some(orgs);
            app.clamp_selection();
            register::on_orgs(app);
            vec![]
        }
        Msg::Event(Event::Sync(objects)) => {
            let before = std::mem::replace(&mut app.sync, objects);
            app.sync_loaded = true;
            if let Screen::Dashboard(d) = &mut app.screen {
                d.selected = d.selected.min(app.sync.len().saturating_sub(1));
            }
            failed::on_sync(app, &before)
        }
        Msg::Event(Event::Log(lines)) => {
            log::on_lines(app, lines);
            vec![]
        }
        Msg::Reply { id, result } => replies::on_reply(app, id, result),
        Msg::Tick => {
            if app.animating() {
                app.tick = app.tick.wrapping_add(1);
            }
            vec![]
        }
        Msg::Resize { width, height } => {
            app.size = (width, height);
            log::clamp(app);
            vec![]
        }
    }
}

fn apply(app: &mut App, action: Action) -> Vec<Cmd> {
    match action {
        Action::Quit => return vec![Cmd::Quit],
        Action::ToggleHelp => {
            app.show_help = !app.show_help;
            return vec![];
        }
        Action::Reconnect => {
            app.conn = ConnState::Connecting;
            return vec![Cmd::ReconnectNow];
        }
        Action::ShowNotice => {
            if let Some(n) = app.notice.clone() {
                show_detail(app, "Message", vec![(n.tone, n.text)]);
            }
            return vec![];
        }
        _ => {}
    }
    if app.dialog.is_some() {
        return apply_dialog(app, action);
    }
    match &app.screen {
        Screen::Orgs => apply_orgs(app, action),
        Screen::Register(_) => register::apply(app, action),
        Screen::Settings(_) => settings::apply(app, action),
        Screen::Objects(_) => objects::apply(app, action),
        Screen::Mapping(_) => mapping::apply(app, action),
        Screen::Dashboard(_) => dashboard::apply(app, action),
        Screen::Failed(_) => failed::apply(app, action),
        Screen::Conflicts(_) => conflicts::apply(app, action),
        Screen::Recent(_) => recent::apply(app, action),
        Screen::Log(_) => log::apply(app, action),
    }
}

/// Moves a list's selection for ↑/↓/Home/End; false when `action` is not one of them.
pub(crate) fn step(selected: &mut usize, len: usize, action: Action) -> bool {
    let last = len.saturating_sub(1);
    *selected = match action {
        Action::Up => selected.saturating_sub(1),
        Action::Down => (*selected + 1).min(last),
        Action::Top => 0,
        Action::Bottom => last,
        _ => return false,
    };
    true
}

/// The org-wide screens (failed records, conflicts, log) from the Orgs screen or the
/// dashboard: `org` is the one selected there.
pub(crate) fn open_org_screen(
    app: &mut App,
    action: Action,
    org: Option<String>,
    object: Option<String>,
) -> Vec<Cmd> {
    let back = Back::from(&app.screen);
    match (action, org) {
        (Action::OpenLog, org) => {
            app.screen = Screen::Log(LogView::new(org, back));
            log::clamp(app);
            vec![]
        }
        (Action::OpenFailed, Some(org)) => failed::open(app, org, object, back),
        (Action::OpenConflicts, Some(org)) => conflicts::open(app, org, back),
        (Action::OpenRecent, Some(org)) => match object {
            Some(object) => recent::open(app, org, object, back),
            None => vec![],
        },
        _ => vec![],
    }
}

fn apply_orgs(app: &mut App, action: Action) -> Vec<Cmd> {
    let len = app.orgs_len();
    let org = app.selected_org().map(|o| o.name.clone());
    match action {
        Action::Up => app.selected = app.selected.saturating_sub(1),
        Action::Down if len > 0 => app.selected = (app.selected + 1).min(len - 1),
        Action::Top => app.selected = 0,
        Action::Bottom => app.selected = len.saturating_sub(1),
        Action::Register => app.screen = Screen::Register(Register::new()),
        Action::OpenObjects => {
            // An org still being authorized shows its flow (the code, the paste field).
            if let Some(o) = app
                .selected_org()
                .filter(|o| matches!(o.auth, datenator_shared::model::AuthState::Pending { .. }))
            {
                app.screen = Screen::Register(Register::following(o.clone()));
                return vec![];
            }
            if let Some(org) = org {
                return objects::open(app, org);
            }
        }
        Action::Reauthorize => {
            if let Some(org) = org {
                app.screen = Screen::Register(Register::reauthorize(&org));
            }
        }
        Action::OpenSettings => {
            if let Some(org) = org {
                return settings::open(app, org);
            }
        }
        Action::DownloadMetadata => {
            if let Some(org) = org {
                return download_metadata(app, org);
            }
        }
        Action::DeleteOrg => {
            if let Some(org) = org {
                open_delete(app, org);
            }
        }
        Action::ToggleSync => {
            if let Some(o) = app.selected_org() {
                let (org, enabled) = (o.name.clone(), !o.sync_enabled);
                return set_sync(app, org, enabled);
            }
        }
        Action::SyncNow => {
            if let Some(org) = org {
                return sync_now(app, org);
            }
        }
        Action::PinOrg => return pin_next(app),
        Action::OpenDashboard => app.screen = Screen::Dashboard(Dashboard::default()),
        Action::OpenFailed | Action::OpenConflicts | Action::OpenLog => {
            return open_org_screen(app, action, org, None);
        }
        _ => {}
    }
    vec![]
}

/// The most rows the status line takes; a longer notice opens whole with `!`.
pub const NOTICE_ROWS: u16 = 3;

/// The rows a notice takes in the status line at `width` columns (wrapped as drawn).
pub fn notice_rows(text: &str, width: u16) -> u16 {
    let rows = ratatui::widgets::Paragraph::new(format!(" {text}"))
        .wrap(ratatui::widgets::Wrap { trim: false })
        .line_count(width.max(1));
    u16::try_from(rows).unwrap_or(u16::MAX)
}

/// Whether the last notice is longer than the status line shows.
pub fn notice_cut(app: &App) -> bool {
    app.pending.is_empty()
        && app
            .notice
            .as_ref()
            .is_some_and(|n| notice_rows(&n.text, app.size.0) > NOTICE_ROWS)
}

/// How a [`Dialog::Detail`] fits a `size` terminal: its window's width, the rows its text
/// takes wrapped in it, and how many of them show at once. Rendering and scrolling both
/// use it, so the view never scrolls past the end.
pub fn detail_geometry(lines: &[(Tone, String)], size: (u16, u16)) -> (u16, u16, u16) {
    let width = size.0.saturating_sub(4).min(100);
    let text: Vec<ratatui::text::Line> = lines
        .iter()
        .map(|(_, l)| ratatui::text::Line::from(l.as_str()))
        .collect();
    let rows = ratatui::widgets::Paragraph::new(text)
        .wrap(ratatui::widgets::Wrap { trim: false })
        .line_count(width.saturating_sub(2).max(1));
    let rows = u16::try_from(rows).unwrap_or(u16::MAX);
    // The window leaves two rows above and below; inside, the frame and a position line.
    let room = size.1.saturating_sub(4).max(4);
    let view = rows.min(room - 3).max(1);
    (width, rows, view)
}

/// Shows one item whole in a [`Dialog::Detail`].
pub(crate) fn show_detail(app: &mut App, title: impl Into<String>, lines: Vec<(Tone, String)>) {
    app.dialog = Some(Dialog::Detail {
        title: title.into(),
        lines,
        scroll: 0,
    });
}

/// Asks the daemon to pull `org`'s mapped objects now (once at a time).
pub(crate) fn sync_now(app: &mut App, org: String) -> Vec<Cmd> {
    let turning_on = app.is_pending(&Pending::SetSync {
        org: org.clone(),
        enabled: true,
    });
    if !turning_on && app.org(&org).is_some_and(|o| !o.sync_enabled) {
        app.say(
            Tone::Warn,
            format!("Sync is off for {org}: press e to turn it on, then y syncs now."),
        );
        return vec![];
    }
    let what = Pending::SyncNow { org: org.clone() };
    if app.is_pending(&what) {
        return vec![];
    }
    vec![app.request(Call::OrgSyncNow(OrgRef { name: org }), what)]
}

/// Turns an org's sync on or off (once at a time).
/// `p` in a fleet: pins the selected org to the next live daemon (in the fleet's order),
/// and after the last one gives it back to the fleet's placement.
fn pin_next(app: &mut App) -> Vec<Cmd> {
    let Some(fleet) = app.status.as_ref().and_then(|s| s.fleet.as_ref()) else {
        return vec![];
    };
    let Some(o) = app.selected_org() else {
        return vec![];
    };
    let live: Vec<&str> = fleet
        .members
        .iter()
        .filter(|m| m.live)
        .map(|m| m.name.as_str())
        .collect();
    let next = match o.pinned_to.as_deref() {
        None => live.first().copied(),
        Some(now) => live
            .iter()
            .position(|m| *m == now)
            .and_then(|i| live.get(i + 1))
            .copied(),
    };
    let (org, daemon) = (o.name.clone(), next.map(str::to_owned));
    if app
        .pending
        .values()
        .any(|p| matches!(p, Pending::OrgPin { org: o, .. } if *o == org))
    {
        return vec![];
    }
    vec![app.request(
        Call::OrgPin(datenator_shared::protocol::PinOrg {
            name: org.clone(),
            daemon: daemon.clone(),
        }),
        Pending::OrgPin { org, daemon },
    )]
}

pub(crate) fn set_sync(app: &mut App, org: String, enabled: bool) -> Vec<Cmd> {
    if app
        .pending
        .values()
        .any(|p| matches!(p, Pending::SetSync { org: o, .. } if *o == org))
    {
        return vec![];
    }
    vec![app.request(
        Call::OrgSetSync(SetSync {
            name: org.clone(),
            enabled,
        }),
        Pending::SetSync { org, enabled },
    )]
}

/// Starts (or updates) the org's metadata download, unless one is already running.
pub(crate) fn download_metadata(app: &mut App, org: String) -> Vec<Cmd> {
    let what = Pending::MetadataDownload { org: org.clone() };
    if app.is_pending(&what) {
        app.say(
            Tone::Info,
            format!("The metadata of {org} is already downloading."),
        );
        return vec![];
    }
    vec![app.request(Call::MetadataDownload(OrgRef { name: org }), what)]
}

pub(crate) fn open_delete(app: &mut App, org: String) {
    app.dialog = Some(Dialog::Delete {
        org,
        typed: String::new(),
    });
}

fn apply_dialog(app: &mut App, action: Action) -> Vec<Cmd> {
    let Some(dialog) = app.dialog.as_mut() else {
        return vec![];
    };
    match dialog {
        Dialog::Report { .. } => {
            if matches!(action, Action::Back | Action::Submit) {
                app.dialog = None;
            }
            vec![]
        }
        Dialog::Detail { scroll, lines, .. } => {
            let (_, rows, page) = detail_geometry(lines, app.size);
            let last = rows.saturating_sub(page);
            match action {
                Action::Back | Action::Submit => app.dialog = None,
                Action::Up => *scroll = scroll.saturating_sub(1),
                Action::Down => *scroll = scroll.saturating_add(1).min(last),
                Action::PageUp => *scroll = scroll.saturating_sub(page),
                Action::PageDown => *scroll = scroll.saturating_add(page).min(last),
                Action::Top => *scroll = 0,
                Action::Bottom => *scroll = last,
                _ => {}
            }
            vec![]
        }
        Dialog::Confirm { yes, .. } => match action {
            Action::Back => {
                app.dialog = None;
                vec![]
            }
            Action::Submit => {
                let yes = yes.clone();
                app.dialog = None;
                match yes {
                    Confirm::IgnoreFailed {
                        org,
                        object,
                        row_id,
                    } => failed::ignore(
                        app,
                        FailedRecords {
                            org,
                            object,
                            row_ids: Some(vec![row_id]),
                        },
                    ),
                    Confirm::DiscardMapping { org, object } => mapping::discard(app, org, object),
                    Confirm::Resync { org, object } => resync::start(app, org, object),
                }
            }
            _ => vec![],
        },
        Dialog::Delete { org, typed } => match action {
            Action::Back => {
                app.dialog = None;
                vec![]
            }
            Action::Type(c) => {
                typed.push(c);
                vec![]
            }
            Action::Backspace => {
                typed.pop();
                vec![]
            }
            Action::Submit => {
                if typed != org {
                    let text = format!("Type the org's name, {org}, exactly to delete it.");
                    app.say(Tone::Warn, text);
                    return vec![];
                }
                let org = org.clone();
                app.dialog = None;
                vec![app.request(
                    Call::OrgDelete(DeleteOrg {
                        name: org.clone(),
                        confirm: org.clone(),
                    }),
                    Pending::Delete { org },
                )]
            }
            _ => vec![],
        },
    }
}

#[cfg(test)]
pub(crate) mod tests;
