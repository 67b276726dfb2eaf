//! The Register org screen: the form (name, where the org lives, the flow, an optional
//! connected app), then the flow's live progress from the `orgs` topic. Also used to run a
//! flow again for an existing org (Settings → Manage → Refresh credentials).
use datenator_shared::datasource::Secret;
use datenator_shared::model::{AuthFlow, AuthState, OrgSummary, OrgType, PendingStep};
use datenator_shared::protocol::{Call, CompleteAuthorization, Reauthorize, RegisterOrg};

use super::form::{Field, Form};
use super::{App, Cmd, Pending, Screen, Tone};
use crate::commands::Action;

pub const ORG_TYPES: &[&str] = &["production", "sandbox", "custom domain"];
pub const FLOWS: &[&str] = &["device", "web server", "JWT bearer"];

#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    Editing,
    /// The request is with the daemon.
    Submitting,
    /// The org exists and its flow runs; `org` follows the `orgs` topic.
    Authorizing {
        org: Box<OrgSummary>,
        /// The redirected URL being pasted (web-server flow).
        paste: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Register {
    pub form: Form,
    /// Set when running a flow again for an existing org.
    pub reauth_of: Option<String>,
    pub phase: Phase,
}

impl Default for Register {
    fn default() -> Self {
        Self::new()
    }
}

impl Register {
    pub fn new() -> Register {
        let form = Form::new(vec![
            Field::text("name", "Name").with_hint("Datenator's name for it, e.g. acme-prod"),
            Field::choice("org_type", "Org type", ORG_TYPES),
            Field::text("domain", "Domain"),
            Field::choice("flow", "Flow", FLOWS),
            Field::text("username", "JWT username").with_hint("the Salesforce user to act as"),
            Field::text("client_id", "Client id")
                .with_hint("optional: empty uses the daemon's config"),
            Field::secret("client_secret", "Client secret").with_hint("optional"),
            Field::button("submit", "Register"),
        ]);
        let mut r = Register {
            form,
            reauth_of: None,
            phase: Phase::Editing,
        };
        r.refresh();
        r
    }

    /// The running flow of `org` (opened from the org list).
    pub fn following(org: OrgSummary) -> Register {
        let mut r = Register::reauthorize(&org.name);
        r.phase = Phase::Authorizing {
            org: Box::new(org),
            paste: String::new(),
        };
        r
    }

    /// The form for running a flow again for `org`.
    pub fn reauthorize(org: &str) -> Register {
        let mut r = Register::new();
        r.reauth_of = Some(org.to_owned());
        r.form.set_value("name", org);
        for id in ["name", "org_type", "client_id", "client_secret"] {
            r.form.set_visible(id, false);
        }
        r.form.field_mut("submit").label = "Authorize";
        r.refresh();
        r
    }

    pub fn title(&self) -> String {
        match (&self.reauth_of, &self.phase) {
            (Some(org), _) => format!("Authorize {org}"),
            (None, Phase::Authorizing { org, .. }) => format!("Register org · {}", org.name),
            (None, _) => "Register org".into(),
        }
    }

    /// The org this screen is about, once known.
    pub fn org(&self) -> Option<&str> {
        match &self.phase {
            Phase::Authorizing { org, .. } => Some(&org.name),
            _ => self.reauth_of.as_deref(),
        }
    }

    /// True while the web-server flow waits for the redirected URL.
    pub fn wants_paste(&self) -> bool {
        matches!(&self.phase, Phase::Authorizing { org, .. }
            if matches!(org.auth, AuthState::Pending { step: PendingStep::Browser { .. } }))
    }

    pub fn typing(&self) -> bool {
        match self.phase {
            Phase::Editing => self.form.typing(),
            Phase::Submitting => false,
            Phase::Authorizing { .. } => self.wants_paste(),
        }
    }

    /// Shows the fields and hints that fit the current choices.
    fn refresh(&mut self) {
        let f = &mut self.form;
        let custom = f.choice("org_type") == 2;
        f.set_visible("domain", custom && self.reauth_of.is_none());
        f.field_mut("org_type").hint = match f.choice("org_type") {
            0 => "login.salesforce.com",
            1 => "test.salesforce.com",
            _ => "your My Domain",
        }
        .into();
        f.field_mut("domain").hint = "my-domain, or a full https:// login URL".into();
        let flow = f.choice("flow");
        f.set_visible("username", flow == 2);
        f.field_mut("flow").hint = match flow {
            0 => "enter a code on any device: best over SSH",
            1 => "log in with a browser, paste back where it lands",
            _ => "unattended: the key file in the daemon's config",
        }
        .into();
    }

    fn flow(&self) -> AuthFlow {
        match self.form.choice("flow") {
            0 => AuthFlow::Device,
            1 => AuthFlow::WebServer,
            _ => AuthFlow::Jwt {
                username: self.form.trimmed("username").to_owned(),
            },
        }
    }

    /// The request the form describes, or what is missing (and the field to fix).
    pub fn call(&self) -> Result<(Call, Pending), (&'static str, String)> {
        let f = &self.form;
        if f.choice("flow") == 2 && f.trimmed("username").is_empty() {
            return Err((
                "username",
                "The JWT flow needs the Salesforce username to act as.".into(),
            ));
        }
        if let Some(org) = &self.reauth_of {
            return Ok((
                Call::OrgReauthorize(Reauthorize {
                    name: org.clone(),
                    flow: self.flow(),
                }),
                Pending::Reauthorize { org: org.clone() },
            ));
        }
        let name = f.trimmed("name").to_owned();
        if name.is_empty() {
            return Err(("name", "Give the org a name first.".into()));
        }
        let org_type = match f.choice("org_type") {
            0 => OrgType::Production,
            1 => OrgType::Sandbox,
            _ => {
                let domain = f.trimmed("domain");
                if domain.is_empty() {
                    return Err((
                        "domain",
                        "A custom domain org needs its My Domain or login URL.".into(),
                    ));
                }
                OrgType::Custom(domain.to_owned())
            }
        };
        let client_id = Some(f.trimmed("client_id").to_owned()).filter(|s| !s.is_empty());
        let client_secret = Some(f.value("client_secret"))
            .filter(|s| !s.is_empty())
            .map(Secret::from);
        Ok((
            Call::OrgRegister(RegisterOrg {
                name: name.clone(),
                org_type,
                flow: self.flow(),
                client_id,
                client_secret,
            }),
            Pending::Register { org: name },
        ))
    }
}

fn screen(app: &mut App) -> Option<&mut Register> {
    match &mut app.screen {
        Screen::Register(r) => Some(r),
        _ => None,
    }
}

pub(crate) fn apply(app: &mut App, action: Action) -> Vec<Cmd> {
    let Some(r) = screen(app) else { return vec![] };
    match &mut r.phase {
        Phase::Editing => {
            let f = &mut r.form;
            match action {
                Action::Back => app.screen = Screen::Orgs,
                Action::NextField => f.next(),
                Action::PrevField => f.prev(),
                Action::Left => {
                    f.cycle(-1);
                }
                Action::Right => {
                    f.cycle(1);
                }
                Action::Toggle | Action::Submit if f.focused_id() == "submit" => {
                    return submit(app);
                }
                Action::Toggle => {
                    f.cycle(1);
                }
                Action::Submit => f.next(),
                Action::Type(c) => {
                    f.type_char(c);
                }
                Action::Backspace => f.backspace(),
                Action::ClearField => f.clear_focused(),
                _ => {}
            }
            if let Some(r) = screen(app) {
                r.refresh();
            }
        }
        Phase::Submitting => {
            if action == Action::Back {
                app.screen = Screen::Orgs;
            }
        }
        Phase::Authorizing { org, paste } => {
            let wants_paste = matches!(
                org.auth,
                AuthState::Pending {
                    step: PendingStep::Browser { .. }
                }
            );
            match action {
                Action::Back => app.screen = Screen::Orgs,
                Action::Submit if !wants_paste => app.screen = Screen::Orgs,
                Action::Type(c) if wants_paste => paste.push(c),
                Action::Backspace if wants_paste => {
                    paste.pop();
                }
                Action::ClearField if wants_paste => paste.clear(),
                Action::Submit => {
                    let url = paste.trim().to_owned();
                    let name = org.name.clone();
                    if url.is_empty() {
                        app.say(
                            Tone::Warn,
                            "Paste the address the browser landed on after you allowed access.",
                        );
                        return vec![];
                    }
                    let what = Pending::CompleteAuthorization { org: name.clone() };
                    if app.is_pending(&what) {
                        return vec![];
                    }
                    return vec![app.request(
                        Call::OrgCompleteAuthorization(CompleteAuthorization {
                            name,
                            redirected_url: url,
                        }),
                        what,
                    )];
                }
                _ => {}
            }
        }
    }
    vec![]
}

fn submit(app: &mut App) -> Vec<Cmd> {
    let Some(r) = screen(app) else { return vec![] };
    match r.call() {
        Ok((call, what)) => {
            r.phase = Phase::Submitting;
            vec![app.request(call, what)]
        }
        Err((field, text)) => {
            r.form.focus_on(field);
            app.say(Tone::Warn, text);
            vec![]
        }
    }
}

/// What the user must do next for `org`, in words.
pub fn next_step(org: &OrgSummary) -> (Tone, String) {
    let name = &org.name;
    match &org.auth {
        AuthState::Pending {
            step: PendingStep::Device { .. },
        } => (
            Tone::Info,
            format!("Open the URL on any device, log in and enter the code to authorize {name}."),
        ),
        AuthState::Pending {
            step: PendingStep::Browser { .. },
        } => (
            Tone::Info,
            "Open the URL in a browser, allow access, then paste the address it lands on.".into(),
        ),
        AuthState::Authorized => match &org.refresh_error {
            Some(why) => (Tone::Warn, refresh_failed(org, why)),
            None => (
                Tone::Ok,
                format!(
                    "{name} is authorized: download its metadata (m) and set up its datasource (s)."
                ),
            ),
        },
        AuthState::Failed { error } => (Tone::Error, format!("Authorizing {name} failed: {error}")),
        AuthState::NeedsReauthorization { reason } => (
            Tone::Warn,
            format!("{name} needs authorizing again: {reason}"),
        ),
    }
}

/// A refresh of `org`'s credentials that failed while its earlier ones stay in use, in
/// words.
pub fn refresh_failed(org: &OrgSummary, why: &str) -> String {
    format!(
        "Refreshing the credentials of {} failed: {why}; the org keeps syncing with its earlier credentials.",
        org.name
    )
}

/// The daemon answered a register or re-authorize request.
pub(crate) fn on_started(
    app: &mut App,
    name: String,
    result: Result<OrgSummary, String>,
) -> Result<Vec<Cmd>, String> {
    let here =
        screen(app).filter(|r| r.phase == Phase::Submitting && r.form.trimmed("name") == name);
    match result {
        Err(e) => {
            if let Some(r) = here {
                r.phase = Phase::Editing;
            }
            Err(e)
        }
        Ok(org) => {
            let (tone, text) = next_step(&org);
            if let Some(r) = here {
                r.phase = Phase::Authorizing {
                    org: Box::new(org),
                    paste: String::new(),
                };
            }
            app.say(tone, text);
            Ok(vec![])
        }
    }
}

/// The daemon answered the pasted redirect URL.
pub(crate) fn on_completed(
    app: &mut App,
    name: String,
    result: Result<OrgSummary, String>,
) -> Result<Vec<Cmd>, String> {
    let org = result?;
    let (tone, text) = next_step(&org);
    if let Some(r) = screen(app)
        && let Phase::Authorizing { org: shown, .. } = &mut r.phase
        && shown.name == name
    {
        **shown = org;
    }
    app.say(tone, text);
    Ok(vec![])
}

/// A new org list arrived: follow the authorizing org's state and announce changes.
pub(crate) fn on_orgs(app: &mut App) {
    let Screen::Register(r) = &app.screen else {
        return;
    };
    let Phase::Authorizing { org, .. } = &r.phase else {
        return;
    };
    let Some(live) = app.org(&org.name).cloned() else {
        return;
    };
    let changed = live.auth != org.auth;
    if let Some(r) = screen(app)
        && let Phase::Authorizing { org, .. } = &mut r.phase
    {
        **org = live.clone();
    }
    if changed {
        let (tone, text) = next_step(&live);
        app.say(tone, text);
    }
}

#[cfg(test)]
mod tests;
