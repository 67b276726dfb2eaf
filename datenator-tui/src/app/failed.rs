//! Failed records: the org's database changes Salesforce refused, each with Salesforce's
//! error. `r` sends the selected one again at the next push, `R` every one of its object,
//! `i` sets it aside (after a confirmation: the row keeps values Salesforce lacks).
//!
//! The list is reloaded after every retry or ignore, and whenever the `sync` topic shows
//! the org's failure count change, so it follows the daemon without polling.
use datenator_shared::model::{FailedRecord, ObjectStatus};
use datenator_shared::protocol::{Call, FailedRecords, OrgRef};

use super::objects::Load;
use super::{App, Back, Cmd, Confirm, Dialog, Pending, Screen, Tone};
use crate::commands::Action;

#[derive(Debug, Clone, PartialEq)]
pub struct Failed {
    pub org: String,
    pub records: Load<Vec<FailedRecord>>,
    /// Index into the loaded records.
    pub selected: usize,
    /// Select this object's first record once the list arrives (opened from the
    /// dashboard on that object).
    pub focus: Option<String>,
    pub back: Back,
}

impl Failed {
    pub fn new(org: String, focus: Option<String>, back: Back) -> Failed {
        Failed {
            org,
            records: Load::Loading,
            selected: 0,
            focus,
            back,
        }
    }

    pub fn list(&self) -> &[FailedRecord] {
        match &self.records {
            Load::Loaded(list) => list,
            _ => &[],
        }
    }

    pub fn current(&self) -> Option<&FailedRecord> {
        self.list().get(self.selected)
    }

    /// How many failed records of `object` the list holds.
    pub fn count_of(&self, object: &str) -> usize {
        self.list().iter().filter(|r| r.object == object).count()
    }
}

fn screen(app: &mut App) -> Option<&mut Failed> {
    match &mut app.screen {
        Screen::Failed(f) => Some(f),
        _ => None,
    }
}

/// `Some(screen)` when the failed records of `org` are on show.
fn here<'a>(app: &'a mut App, org: &str) -> Option<&'a mut Failed> {
    screen(app).filter(|f| f.org == org)
}

/// Opens the failed records of `org` and asks for them.
pub(crate) fn open(app: &mut App, org: String, focus: Option<String>, back: Back) -> Vec<Cmd> {
    app.screen = Screen::Failed(Failed::new(org.clone(), focus, back));
    load(app, org)
}

/// Asks for the list (once at a time).
fn load(app: &mut App, org: String) -> Vec<Cmd> {
    let what = Pending::FailedList { org: org.clone() };
    if app.is_pending(&what) {
        return vec![];
    }
    vec![app.request(Call::FailedList(OrgRef { name: org }), what)]
}

/// After a `sync` event: reloads the list on show when its org's failure count changed.
pub(crate) fn on_sync(app: &mut App, before: &[ObjectStatus]) -> Vec<Cmd> {
    let Screen::Failed(f) = &app.screen else {
        return vec![];
    };
    let total = |list: &[ObjectStatus]| -> u64 {
        list.iter()
            .filter(|s| s.org == f.org)
            .map(|s| s.failed_records)
            .sum()
    };
    if total(before) == total(&app.sync) {
        return vec![];
    }
    let org = f.org.clone();
    load(app, org)
}

pub(crate) fn apply(app: &mut App, action: Action) -> Vec<Cmd> {
    let Some(f) = screen(app) else { return vec![] };
    let len = f.list().len();
    match action {
        a if super::step(&mut f.selected, len, a) => {}
        Action::Back => {
            let back = f.back.clone();
            back.go(app);
        }
        Action::Reload => {
            let org = f.org.clone();
            return load(app, org);
        }
        Action::Submit => {
            if let Some(r) = f.current().cloned() {
                let title = format!("Failed {} · {}", r.op, record_name(&r));
                super::show_detail(app, title, detail(&r));
            }
        }
        Action::Retry | Action::RetryAll | Action::Ignore => {
            let org = f.org.clone();
            let Some(r) = f.current() else {
                app.say(Tone::Info, "There is no failed record to act on.");
                return vec![];
            };
            let (object, row_id) = (r.object.clone(), r.row_id);
            let one = FailedRecords {
                org: org.clone(),
                object: object.clone(),
                row_ids: Some(vec![row_id]),
            };
            return match action {
                Action::Retry => retry(app, one),
                Action::RetryAll => retry(
                    app,
                    FailedRecords {
                        row_ids: None,
                        ..one
                    },
                ),
                _ => {
                    let r = r.clone();
                    confirm_ignore(app, org, &r);
                    vec![]
                }
            };
        }
        _ => {}
    }
    vec![]
}

fn retry(app: &mut App, which: FailedRecords) -> Vec<Cmd> {
    let what = Pending::FailedRetry {
        org: which.org.clone(),
        object: which.object.clone(),
        all: which.row_ids.is_none(),
    };
    request_once(app, Call::FailedRetry(which), what)
}

/// Sends `call` unless the same request is still in flight (then says so).
fn request_once(app: &mut App, call: Call, what: Pending) -> Vec<Cmd> {
    if app.is_pending(&what) {
        app.say(Tone::Info, format!("Still {}…", what.label()));
        return vec![];
    }
    vec![app.request(call, what)]
}

/// How a failed record is named: `Account row 42 (001…)`.
/// A failed change whole: Salesforce's error in full and every value the change set.
pub fn detail(r: &FailedRecord) -> Vec<(Tone, String)> {
    let mut lines = vec![
        (Tone::Info, format!("Record: {}", record_name(r))),
        (
            Tone::Info,
            format!(
                "Changed in the database: {}",
                r.changed_at.format("%Y-%m-%d %H:%M:%S UTC")
            ),
        ),
        (Tone::Info, String::new()),
        (Tone::Error, format!("Salesforce said: {}", r.error)),
        (Tone::Info, String::new()),
    ];
    if r.values.is_empty() {
        lines.push((Tone::Info, "The change set no values.".into()));
    } else {
        lines.push((Tone::Info, "Values the change set:".into()));
        lines.extend(r.values.iter().map(|(k, v)| {
            (
                Tone::Info,
                format!("  {k} = {}", super::conflicts::value_text(v)),
            )
        }));
    }
    lines.push((Tone::Info, String::new()));
    lines.push((
        Tone::Info,
        "r retries it, i ignores it (on the list).".into(),
    ));
    lines
}

pub fn record_name(r: &FailedRecord) -> String {
    match &r.sfid {
        Some(id) => format!("{} row {} ({id})", r.object, r.row_id),
        None => format!("{} row {}", r.object, r.row_id),
    }
}

fn confirm_ignore(app: &mut App, org: String, r: &FailedRecord) {
    app.dialog = Some(Dialog::Confirm {
        title: "Ignore this failed change?".into(),
        lines: vec![
            (Tone::Info, format!("{}: {} refused.", record_name(r), r.op)),
            (Tone::Error, r.error.clone()),
            (Tone::Info, String::new()),
            (
                Tone::Warn,
                "Datenator stops sending this change to Salesforce: the row keeps values \
                 Salesforce does not have, until the row changes again."
                    .into(),
            ),
            (
                Tone::Info,
                "To make both sides agree instead, fix the row in the database (a change is \
                 sent again) or press r to retry."
                    .into(),
            ),
        ],
        yes: Confirm::IgnoreFailed {
            org,
            object: r.object.clone(),
            row_id: r.row_id,
        },
    });
}

/// Sets the named failed changes aside (after the confirmation).
pub(crate) fn ignore(app: &mut App, which: FailedRecords) -> Vec<Cmd> {
    let what = Pending::FailedIgnore {
        org: which.org.clone(),
        object: which.object.clone(),
    };
    request_once(app, Call::FailedIgnore(which), what)
}

pub(crate) fn on_loaded(
    app: &mut App,
    org: String,
    result: Result<Vec<FailedRecord>, String>,
) -> Result<Vec<Cmd>, String> {
    let Some(f) = here(app, &org) else {
        return result.map(|_| vec![]);
    };
    match result {
        Ok(list) => {
            // Keep the selection on the same record when it is still there.
            let key = f.current().map(|r| (r.object.clone(), r.row_id));
            let focus = f.focus.take();
            f.selected = match (focus, key) {
                (Some(object), _) => list.iter().position(|r| r.object == object),
                (None, Some((object, row))) => list
                    .iter()
                    .position(|r| r.object == object && r.row_id == row),
                (None, None) => None,
            }
            .unwrap_or(f.selected)
            .min(list.len().saturating_sub(1));
            f.records = Load::Loaded(list);
            Ok(vec![])
        }
        Err(e) => {
            f.records = Load::Failed(e.clone());
            Err(e)
        }
    }
}

/// "1 change", "3 changes".
fn changes(n: u64) -> String {
    if n == 1 {
        "1 change".into()
    } else {
        format!("{n} changes")
    }
}

pub(crate) fn on_retried(
    app: &mut App,
    org: String,
    object: String,
    all: bool,
    result: Result<u64, String>,
) -> Result<Vec<Cmd>, String> {
    let n = result?;
    if n == 0 {
        let text = if all {
            format!("Nothing was queued: {object} has no failed changes any more.")
        } else {
            "Nothing was queued: that change is no longer failed.".to_owned()
        };
        app.say(Tone::Info, text);
    } else {
        app.say(
            Tone::Ok,
            format!("{} of {object} queued for the next push.", changes(n)),
        );
    }
    Ok(reload_if_here(app, org))
}

pub(crate) fn on_ignored(
    app: &mut App,
    org: String,
    object: String,
    result: Result<u64, String>,
) -> Result<Vec<Cmd>, String> {
    let n = result?;
    if n == 0 {
        app.say(
            Tone::Info,
            "Nothing was set aside: that change is no longer failed.",
        );
    } else {
        app.say(
            Tone::Warn,
            format!(
                "{} of {object} set aside: the row keeps values Salesforce does not have.",
                changes(n)
            ),
        );
    }
    Ok(reload_if_here(app, org))
}

fn reload_if_here(app: &mut App, org: String) -> Vec<Cmd> {
    if here(app, &org).is_some() {
        load(app, org)
    } else {
        vec![]
    }
}

#[cfg(test)]
mod tests;
