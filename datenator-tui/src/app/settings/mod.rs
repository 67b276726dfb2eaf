//! Org settings. The Datasource tab edits, saves and checks the target database and
//! generates the org's schema; the Manage tab sets polling and the API budget, runs the
//! schema check (its drift report in a window), refreshes credentials and deletes the org.
use datenator_shared::datasource::{
    CheckReport, CheckStatus, DatasourceKind, DatasourceSettings, Secret, TlsMode,
    default_schema_name,
};
use datenator_shared::model::{
    DatasourceDetails, DatasourceView, Drift, MappingDrift, OrgSummary, SchemaAccess,
};
use datenator_shared::protocol::{Call, OrgRef, OrgSettings, SetDatasource, SetSyncHost};

use super::form::{Field, Form};
use super::objects::Load;
use super::register::Register;
use super::{App, Cmd, Dialog, Pending, Screen, Tone};
use crate::commands::Action;

pub const KINDS: &[&str] = &["postgres", "mysql", "sqlite"];
pub const TLS_MODES: &[&str] = &["disable", "prefer", "require", "verify-ca", "verify-full"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Datasource,
    Manage,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub org: String,
    pub tab: Tab,
    pub datasource: Form,
    pub manage: Form,
    /// The stored datasource (`None`: none configured yet).
    pub view: Load<Option<DatasourceView>>,
    /// The last "check datasource" results.
    pub check: Option<CheckReport>,
    /// Once generated: the sync user, the application role and how to grant it.
    pub access: Option<SchemaAccess>,
    /// MariaDB/MySQL: the stored host of the sync account (`None`: where the daemon
    /// connects from).
    pub sync_host: Option<String>,
}

fn kind_index(kind: DatasourceKind) -> usize {
    match kind {
        DatasourceKind::Postgres => 0,
        DatasourceKind::Mysql => 1,
        DatasourceKind::Sqlite => 2,
    }
}

fn tls_index(tls: TlsMode) -> usize {
    match tls {
        TlsMode::Disable => 0,
        TlsMode::Prefer => 1,
        TlsMode::Require => 2,
        TlsMode::VerifyCa => 3,
        TlsMode::VerifyFull => 4,
    }
}

impl Settings {
    pub fn new(org: String) -> Settings {
        let mut datasource = Form::new(vec![
            Field::choice("kind", "Kind", KINDS),
            Field::text("sqlite_path", "SQLite file"),
            Field::text("host", "Host"),
            Field::text("port", "Port"),
            Field::text("database", "Database"),
            Field::text("user", "Admin user").with_hint("creates the org's schema and sync user"),
            Field::secret("password", "Password"),
            Field::text("schema", "Schema"),
            Field::choice("tls", "TLS", TLS_MODES),
            Field::text("sync_host", "Sync user host")
                .with_hint("empty: the host the daemon connects from"),
            Field::button("save", "Save"),
            Field::button("check", "Check datasource"),
            Field::button("generate", "Generate schema"),
        ]);
        datasource.set_choice("tls", tls_index(TlsMode::Prefer));
        let manage = Form::new(vec![
            Field::button("sync", "Turn sync on/off")
                .with_hint("pauses or resumes every mapped object"),
            Field::text("polling", "Polling (s)").with_hint("10 to 3600"),
            Field::text("budget", "API budget %")
                .with_hint("largest share of the daily API limit sync may use"),
            Field::button("save_org", "Save polling and budget"),
            Field::button("schema_check", "Run schema check")
                .with_hint("compare the mapped objects with Salesforce now"),
            Field::button("reauthorize", "Refresh credentials…")
                .with_hint("run an authorization flow again (new token)"),
            Field::button("delete", "Delete org…")
                .with_hint("revoke the token, drop the schema, remove the configuration"),
        ]);
        let mut s = Settings {
            org,
            tab: Tab::Datasource,
            datasource,
            manage,
            view: Load::Loading,
            check: None,
            access: None,
            sync_host: None,
        };
        s.refresh();
        s
    }

    pub fn typing(&self) -> bool {
        self.form().typing()
    }

    /// Whether there is anything for `v` to show whole: a stored datasource or a check.
    pub fn has_details(&self) -> bool {
        matches!(self.view, Load::Loaded(Some(_))) || self.check.is_some()
    }

    /// The Datasource tab's facts whole, as `v` shows them: what is stored, the schema
    /// error, who writes the tables and how to let a DB user write them, then the last
    /// check — every result and fix.
    pub fn details(&self) -> Vec<(Tone, String)> {
        let mut lines = Vec::new();
        if let Load::Loaded(Some(v)) = &self.view {
            lines.push((
                Tone::Info,
                format!(
                    "Stored: {} · schema {} · DB schema generated: {}",
                    v.settings.kind,
                    v.schema,
                    if v.schema_generated { "yes" } else { "no" }
                ),
            ));
            if let Some(e) = &v.schema_error {
                lines.push((Tone::Error, format!("Schema error: {e}")));
            }
            if let Some(a) = self.access.as_ref().filter(|_| v.schema_generated) {
                let writer = a
                    .sync_user
                    .as_deref()
                    .unwrap_or("the admin user (changes marked)");
                let role = match &a.app_role {
                    Some(r) => format!(" · application role {r}"),
                    None => String::new(),
                };
                lines.push((Tone::Info, format!("Sync user: {writer}{role}")));
                lines.push((
                    Tone::Info,
                    format!("Let a DB user write the tables: {}", a.grant_hint),
                ));
            }
        }
        if let Some(report) = &self.check {
            if !lines.is_empty() {
                lines.push((Tone::Info, String::new()));
            }
            lines.push((
                Tone::Info,
                match &report.server_version {
                    Some(v) => format!("Check datasource (server {v}):"),
                    None => "Check datasource:".into(),
                },
            ));
            lines.extend(check_detail(report));
        }
        lines
    }

    /// Shows the org's current polling interval and budget in the Manage form.
    pub fn fill_org(&mut self, org: &OrgSummary) {
        self.manage
            .set_value("polling", org.polling_interval_secs.to_string());
        self.manage
            .set_value("budget", org.api_budget_percent.to_string());
    }

    /// The polling interval and budget the Manage form describes.
    pub fn org_settings(&self) -> Result<OrgSettings, (&'static str, String)> {
        let f = &self.manage;
        let polling = f.trimmed("polling").parse::<u32>().map_err(|_| {
            (
                "polling",
                "The polling interval is a number of seconds, 10 to 3600.".to_owned(),
            )
        })?;
        let budget = f
            .trimmed("budget")
            .trim_end_matches('%')
            .trim()
            .parse::<u8>()
            .map_err(|_| {
                (
                    "budget",
                    "The API budget is a percentage from 1 to 100.".to_owned(),
                )
            })?;
        Ok(OrgSettings {
            name: self.org.clone(),
            polling_interval_secs: Some(polling),
            api_budget_percent: Some(budget),
        })
    }

    pub fn form(&self) -> &Form {
        match self.tab {
            Tab::Datasource => &self.datasource,
            Tab::Manage => &self.manage,
        }
    }

    fn form_mut(&mut self) -> &mut Form {
        match self.tab {
            Tab::Datasource => &mut self.datasource,
            Tab::Manage => &mut self.manage,
        }
    }

    /// Shows the fields and hints that fit the kind and the stored state.
    fn refresh(&mut self) {
        let stored = match &self.view {
            Load::Loaded(Some(v)) => Some(v),
            _ => None,
        };
        let typed = !self.datasource.value("password").is_empty();
        let password_hint = match stored {
            _ if typed => "typed: Save stores it",
            Some(v) if v.password_set => "set: leave empty to keep it",
            _ => "not set",
        };
        let schema_hint = format!("empty: {}", default_schema_name(&self.org));
        let f = &mut self.datasource;
        let kind = f.choice("kind");
        let sqlite = kind == 2;
        for id in ["host", "port", "database", "user", "password", "tls"] {
            f.set_visible(id, !sqlite);
        }
        f.set_visible("sqlite_path", sqlite);
        f.set_visible("sync_host", kind == 1);
        f.field_mut("port").hint = match kind {
            0 => "empty: 5432",
            1 => "empty: 3306",
            _ => "",
        }
        .into();
        f.field_mut("database").hint = match kind {
            1 => "any existing database, e.g. mysql",
            _ => "the database that holds the org schemas",
        }
        .into();
        f.field_mut("password").hint = password_hint.into();
        f.field_mut("schema").hint = schema_hint;
        f.field_mut("sqlite_path").hint =
            "the database file, e.g. /var/lib/datenator/acme.db".into();
    }

    fn fill(&mut self, v: &DatasourceView) {
        let s = &v.settings;
        let f = &mut self.datasource;
        f.set_choice("kind", kind_index(s.kind));
        f.set_value("host", s.host.clone());
        f.set_value("port", s.port.map(|p| p.to_string()).unwrap_or_default());
        f.set_value("database", s.database.clone());
        f.set_value("user", s.user.clone());
        f.set_value("password", "");
        f.set_value("schema", s.schema.clone().unwrap_or_default());
        f.set_choice("tls", tls_index(s.tls));
        f.set_value(
            "sqlite_path",
            s.sqlite_path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        );
        if v.last_check.is_some() {
            self.check = v.last_check.clone();
        }
    }

    /// The sync user's host as typed, when it differs from the stored one (MariaDB/MySQL).
    fn sync_host_change(&self) -> Option<Option<String>> {
        if self.datasource.choice("kind") != 1 {
            return None;
        }
        let typed = self.datasource.value("sync_host").trim().to_owned();
        let typed = (!typed.is_empty()).then_some(typed);
        (typed != self.sync_host).then_some(typed)
    }

    /// Whether the form differs from the stored datasource (or none is stored).
    pub fn unsaved(&self) -> bool {
        if self.sync_host_change().is_some() {
            return true;
        }
        match &self.view {
            Load::Loaded(Some(v)) => {
                let Ok(mut form) = self.settings() else {
                    return true;
                };
                if form.password.is_empty() {
                    form.password = v.settings.password.clone();
                } else {
                    return true;
                }
                form != v.settings
            }
            Load::Loaded(None) => true,
            // Unknown: let the daemon answer.
            Load::Loading | Load::Failed(_) => false,
        }
    }

    /// The settings the form describes, or what is wrong (and the field to fix).
    pub fn settings(&self) -> Result<DatasourceSettings, (&'static str, String)> {
        let f = &self.datasource;
        let kind = match f.choice("kind") {
            0 => DatasourceKind::Postgres,
            1 => DatasourceKind::Mysql,
            _ => DatasourceKind::Sqlite,
        };
        let tls = match f.choice("tls") {
            0 => TlsMode::Disable,
            1 => TlsMode::Prefer,
            2 => TlsMode::Require,
            3 => TlsMode::VerifyCa,
            _ => TlsMode::VerifyFull,
        };
        let non_empty = |id: &str| Some(f.trimmed(id).to_owned()).filter(|s| !s.is_empty());
        if kind == DatasourceKind::Sqlite {
            let Some(path) = non_empty("sqlite_path") else {
                return Err((
                    "sqlite_path",
                    "An SQLite datasource needs the database file's path.".into(),
                ));
            };
            return Ok(DatasourceSettings {
                kind,
                host: String::new(),
                port: None,
                database: String::new(),
                user: String::new(),
                password: Secret::default(),
                tls,
                schema: non_empty("schema"),
                sqlite_path: Some(path.into()),
            });
        }
        if f.trimmed("host").is_empty() {
            return Err(("host", "Enter the database server's host name.".into()));
        }
        let port = match non_empty("port") {
            None => None,
            Some(p) => match p.parse::<u16>() {
                Ok(p) if p > 0 => Some(p),
                _ => {
                    return Err((
                        "port",
                        format!("The port must be a number from 1 to 65535, not {p:?}."),
                    ));
                }
            },
        };
        Ok(DatasourceSettings {
            kind,
            host: f.trimmed("host").to_owned(),
            port,
            database: f.trimmed("database").to_owned(),
            user: f.trimmed("user").to_owned(),
            password: Secret::new(f.value("password")),
            tls,
            schema: non_empty("schema"),
            sqlite_path: None,
        })
    }
}

fn screen(app: &mut App) -> Option<&mut Settings> {
    match &mut app.screen {
        Screen::Settings(s) => Some(s),
        _ => None,
    }
}

/// Opens the settings of `org` and loads its datasource.
pub(crate) fn open(app: &mut App, org: String) -> Vec<Cmd> {
    let mut settings = Settings::new(org.clone());
    if let Some(o) = app.org(&org) {
        settings.fill_org(o);
    }
    app.screen = Screen::Settings(Box::new(settings));
    vec![app.request(
        Call::DatasourceGet(OrgRef { name: org.clone() }),
        Pending::DatasourceGet { org },
    )]
}

pub(crate) fn apply(app: &mut App, action: Action) -> Vec<Cmd> {
    let Some(s) = screen(app) else { return vec![] };
    let f = s.form_mut();
    match action {
        Action::Back => {
            app.screen = Screen::Orgs;
            return vec![];
        }
        Action::NextTab | Action::PrevTab => {
            s.tab = match s.tab {
                Tab::Datasource => Tab::Manage,
                Tab::Manage => Tab::Datasource,
            };
        }
        Action::NextField => f.next(),
        Action::PrevField => f.prev(),
        Action::Left => {
            f.cycle(-1);
        }
        Action::Right => {
            f.cycle(1);
        }
        Action::Toggle | Action::Submit
            if matches!(f.focused().kind, super::form::Kind::Button) =>
        {
            let button = f.focused_id();
            return press(app, button);
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
        Action::ShowDetails => {
            let title = format!("Datasource of {}", s.org);
            let lines = s.details();
            if !lines.is_empty() {
                super::show_detail(app, title, lines);
            }
            return vec![];
        }
        _ => {}
    }
    s.refresh();
    vec![]
}

/// A check report whole: every result, and the fix of each that has one.
pub fn check_detail(report: &CheckReport) -> Vec<(Tone, String)> {
    let mut lines = Vec::new();
    for r in &report.results {
        let (tone, mark) = match r.status {
            CheckStatus::Ok => (Tone::Ok, "✓ ok  "),
            CheckStatus::Warning => (Tone::Warn, "! warn"),
            CheckStatus::Failed => (Tone::Error, "✗ fail"),
            CheckStatus::Skipped => (Tone::Info, "- skip"),
        };
        lines.push((tone, format!("{mark} {}: {}", r.check, r.message)));
        if let Some(fix) = &r.fix {
            lines.push((Tone::Info, format!("       fix: {fix}")));
        }
    }
    lines
}

fn press(app: &mut App, button: &str) -> Vec<Cmd> {
    let Some(s) = screen(app) else { return vec![] };
    let org = s.org.clone();
    let name = OrgRef { name: org.clone() };
    let (call, what) = match button {
        // Saving the empty form over settings not yet shown would lose them.
        "save" | "check" | "generate" if s.view == Load::Loading => {
            app.say(
                Tone::Info,
                "The stored datasource is still loading: try again in a moment.",
            );
            return vec![];
        }
        "save" => match s.settings() {
            Ok(settings) => {
                let host = s.sync_host_change();
                let mut cmds = vec![app.request(
                    Call::DatasourceSet(SetDatasource {
                        org: org.clone(),
                        settings,
                    }),
                    Pending::DatasourceSet { org: org.clone() },
                )];
                if let Some(host) = host {
                    cmds.push(app.request(
                        Call::DatasourceSyncHost(SetSyncHost {
                            org: org.clone(),
                            host,
                        }),
                        Pending::DatasourceSyncHost { org },
                    ));
                }
                return cmds;
            }
            Err((field, text)) => {
                s.datasource.focus_on(field);
                app.say(Tone::Warn, text);
                return vec![];
            }
        },
        "check" | "generate" if s.unsaved() => {
            let text = match &s.view {
                Load::Loaded(Some(_)) => {
                    "The form has unsaved changes: Save first (the daemon works with the saved settings)."
                }
                _ => "Save the datasource first: the daemon works with the saved settings.",
            };
            app.say(Tone::Warn, text);
            return vec![];
        }
        "check" => (
            Call::DatasourceCheck(name),
            Pending::DatasourceCheck { org },
        ),
        "generate" => (Call::SchemaGenerate(name), Pending::SchemaGenerate { org }),
        "schema_check" => (Call::SchemaCheck(name), Pending::SchemaCheck { org }),
        "save_org" => match s.org_settings() {
            Ok(o) => (Call::OrgSettings(o), Pending::OrgSettings { org }),
            Err((field, text)) => {
                s.manage.focus_on(field);
                app.say(Tone::Warn, text);
                return vec![];
            }
        },
        "sync" => {
            let enabled = !app.org(&org).is_some_and(|o| o.sync_enabled);
            return super::set_sync(app, org, enabled);
        }
        "reauthorize" => {
            app.screen = Screen::Register(Register::reauthorize(&org));
            return vec![];
        }
        "delete" => {
            super::open_delete(app, org);
            return vec![];
        }
        _ => return vec![],
    };
    if app.is_pending(&what) {
        app.say(Tone::Info, format!("Still {}…", what.label()));
        return vec![];
    }
    vec![app.request(call, what)]
}

/// `Some(settings)` when the settings of `org` are on show.
fn here<'a>(app: &'a mut App, org: &str) -> Option<&'a mut Settings> {
    screen(app).filter(|s| s.org == org)
}

pub(crate) fn on_loaded(
    app: &mut App,
    org: String,
    result: Result<Option<DatasourceDetails>, String>,
) -> Result<Vec<Cmd>, String> {
    let Some(s) = here(app, &org) else {
        return result.map(|_| vec![]);
    };
    match result {
        Ok(details) => {
            let view = details.map(|d| {
                s.access = d.access;
                s.sync_host = d.sync_host;
                s.datasource
                    .set_value("sync_host", s.sync_host.clone().unwrap_or_default());
                d.view
            });
            if let Some(v) = &view {
                s.fill(v);
            }
            s.view = Load::Loaded(view);
            s.refresh();
            Ok(vec![])
        }
        Err(e) => {
            s.view = Load::Failed(e.clone());
            Err(e)
        }
    }
}

fn store_view(app: &mut App, org: &str, details: DatasourceDetails) {
    if let Some(s) = here(app, org) {
        let view = details.view;
        s.access = details.access;
        s.sync_host = details.sync_host;
        s.datasource
            .set_value("sync_host", s.sync_host.clone().unwrap_or_default());
        // The form shows what is stored now (the daemon may have filled in defaults).
        s.fill(&view);
        s.view = Load::Loaded(Some(view));
        s.refresh();
    }
}

pub(crate) fn on_sync_host(
    app: &mut App,
    org: String,
    result: Result<DatasourceDetails, String>,
) -> Result<Vec<Cmd>, String> {
    let details = result?;
    let text = match &details.sync_host {
        Some(h) => {
            format!("{org}'s sync user will log in from {h}: generate the schema again to move it.")
        }
        None => format!(
            "{org}'s sync user will log in from where the daemon connects: generate the schema again to move it."
        ),
    };
    store_view(app, &org, details);
    app.say(Tone::Ok, text);
    Ok(vec![])
}

pub(crate) fn on_org_settings(
    app: &mut App,
    org: String,
    result: Result<OrgSummary, String>,
) -> Result<Vec<Cmd>, String> {
    let o = result?;
    if let Some(s) = here(app, &org) {
        s.fill_org(&o);
    }
    app.say(
        Tone::Ok,
        format!(
            "{org} now polls every {} s and may use {} % of its daily API limit.",
            o.polling_interval_secs, o.api_budget_percent
        ),
    );
    Ok(vec![])
}

pub(crate) fn on_saved(
    app: &mut App,
    org: String,
    result: Result<DatasourceDetails, String>,
) -> Result<Vec<Cmd>, String> {
    let details = result?;
    store_view(app, &org, details);
    app.say(
        Tone::Ok,
        format!("The datasource of {org} is saved: check it next (Check datasource)."),
    );
    Ok(vec![])
}

pub(crate) fn on_checked(
    app: &mut App,
    org: String,
    result: Result<CheckReport, String>,
) -> Result<Vec<Cmd>, String> {
    let report = result?;
    let failed = report
        .results
        .iter()
        .filter(|r| r.status == CheckStatus::Failed)
        .count();
    let warnings = report
        .results
        .iter()
        .filter(|r| r.status == CheckStatus::Warning)
        .count();
    if let Some(s) = here(app, &org) {
        s.check = Some(report);
    }
    let (tone, text) = match (failed, warnings) {
        (0, 0) => (
            Tone::Ok,
            format!("Every check of {org}'s datasource passed."),
        ),
        (0, w) => (
            Tone::Warn,
            format!("{org}'s datasource works, with {w} warning(s): see below."),
        ),
        (n, _) => (
            Tone::Error,
            format!("{n} check(s) of {org}'s datasource failed: see the fixes below."),
        ),
    };
    app.say(tone, text);
    Ok(vec![])
}

pub(crate) fn on_generated(
    app: &mut App,
    org: String,
    result: Result<DatasourceDetails, String>,
) -> Result<Vec<Cmd>, String> {
    let details = result?;
    let view = &details.view;
    let (tone, text) = if view.schema_generated {
        let writer = match details.access.as_ref().and_then(|a| a.sync_user.as_deref()) {
            Some(user) => format!("; the engine writes as {user}"),
            None => String::new(),
        };
        (
            Tone::Ok,
            format!("DB schema generated: yes ({}){writer}.", view.schema),
        )
    } else {
        (
            Tone::Error,
            format!(
                "DB schema generated: no — {}",
                view.schema_error
                    .clone()
                    .unwrap_or_else(|| "the daemon gave no reason".into())
            ),
        )
    };
    store_view(app, &org, details);
    app.say(tone, text);
    Ok(vec![])
}

#[cfg(test)]
pub(crate) mod tests;

/// One drift finding in words.
fn drift_text(d: &Drift) -> String {
    match d {
        Drift::ObjectInaccessible { reason } => format!("the object cannot be described: {reason}"),
        Drift::FieldRemoved { field } => format!("{field} was removed in Salesforce"),
        Drift::FieldChanged { field, was, now } => format!("{field} changed from {was} to {now}"),
        Drift::NewRequiredField { field } => {
            format!("{field} is now required but not mapped: creates will fail")
        }
    }
}

/// Shows the schema check's drift report, one block per mapping.
pub(crate) fn on_schema_checked(
    app: &mut App,
    org: String,
    result: Result<Vec<MappingDrift>, String>,
) -> Result<Vec<Cmd>, String> {
    let report = result?;
    let drifted = report.iter().filter(|m| !m.drift.is_empty()).count();
    let blocked = report.iter().filter(|m| !m.can_continue).count();
    let mut lines = Vec::new();
    if report.is_empty() {
        lines.push((
            Tone::Info,
            format!("{org} has no mapped objects: there is nothing to check."),
        ));
    }
    for m in &report {
        if m.drift.is_empty() {
            lines.push((Tone::Ok, format!("{}: no drift", m.object)));
            continue;
        }
        let (tone, state) = if m.can_continue {
            (Tone::Warn, "drifted, sync goes on")
        } else {
            (
                Tone::Error,
                "drifted, sync stops until the mapping is updated",
            )
        };
        lines.push((tone, format!("{}: {state}", m.object)));
        for d in &m.drift {
            lines.push((Tone::Info, format!(" • {}", drift_text(d))));
        }
        if !m.advice.is_empty() {
            lines.push((Tone::Info, format!("   {}", m.advice)));
        }
    }
    let (tone, text) = match (drifted, blocked) {
        (0, _) => (
            Tone::Ok,
            format!(
                "Schema check of {org}: no drift in {} mapping(s).",
                report.len()
            ),
        ),
        (n, 0) => (
            Tone::Warn,
            format!("Schema check of {org}: {n} mapping(s) drifted; sync goes on."),
        ),
        (n, b) => (
            Tone::Error,
            format!(
                "Schema check of {org}: {n} mapping(s) drifted, {b} stop(s) sync until updated."
            ),
        ),
    };
    app.say(tone, text);
    app.dialog = Some(Dialog::Report {
        title: format!("Schema check of {org}"),
        lines,
    });
    Ok(vec![])
}
