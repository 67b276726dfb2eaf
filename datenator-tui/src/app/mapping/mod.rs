//! The mapping editor: which fields of one object sync (Space toggles; required fields,
//! `Id` and `SystemModstamp` are locked on), the direction, the conflict policy and a row
//! filter. Saving first asks the daemon for the DDL plan, shows it with destructive steps
//! marked, and applies it only once confirmed. A plan that names database changes queued
//! while the object did not sync to Salesforce discards them unless the user asks (`S`) to
//! send them; one whose changed row filter leaves rows outside it keeps them detached unless
//! the user asks (`L`) to delete them. Esc asks before it throws away changes not saved.
use std::collections::BTreeSet;

use datenator_shared::model::{
    ConflictPolicy, Direction, FieldInfo, Mapping, PlanStepView, PlanView,
};
use datenator_shared::protocol::{Call, LeavingRows, ObjectRef, RemoveMapping, SaveMapping};

use super::form::{Field, Form};
use super::objects::Load;
use super::{App, Cmd, Confirm, Dialog, Pending, Screen, Tone};
use crate::commands::Action;

pub const DIRECTIONS: &[&str] = &["SF ↔ DB (both ways)", "SF → DB", "DB → SF"];
pub const POLICIES: &[&str] = &["newest wins", "Salesforce wins", "database wins"];

/// Which half of the editor has the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Fields,
    Options,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    Editing,
    /// Waiting for the plan (`remove`: of removing the mapping).
    Planning {
        remove: bool,
    },
    /// The plan is on show, waiting for confirmation.
    Review {
        plan: PlanView,
        remove: bool,
    },
    Applying {
        remove: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct MappingEditor {
    pub org: String,
    pub object: String,
    pub fields: Load<Vec<FieldInfo>>,
    /// Chosen field names (locked ones are always in).
    pub chosen: BTreeSet<String>,
    /// The object is mapped already (editing, not adding).
    pub existing: bool,
    pub filter: String,
    pub filtering: bool,
    /// Index into [`MappingEditor::visible`].
    pub cursor: usize,
    pub pane: Pane,
    pub options: Form,
    pub phase: Phase,
    /// How far the plan under review is scrolled.
    pub plan_scroll: u16,
    /// The mapping as opened, to tell whether Esc throws changes away.
    saved: Saved,
    /// Send the database changes queued while the object did not sync to Salesforce,
    /// rather than discard them (`SaveMapping::send_queued`). Chosen on the plan under
    /// review; back to false (discard) whenever the editing starts again.
    pub send_queued: bool,
    /// What becomes of the rows a changed row filter leaves outside it
    /// (`SaveMapping::leaving_rows`): kept detached, or deleted. Chosen on the plan under
    /// review; back to detached whenever the editing starts again.
    pub leaving_rows: LeavingRows,
}

/// What the editor showed when it opened.
#[derive(Debug, Clone, PartialEq)]
struct Saved {
    chosen: BTreeSet<String>,
    direction: usize,
    conflict: usize,
    row_filter: String,
}

/// Whether `plan` names the database changes queued while the object did not sync to
/// Salesforce (the daemon's step "discard the N database change(s) made to …", or "send
/// the N …" when asked to send them): then the user may choose which.
pub fn names_queued_changes(plan: &PlanView) -> bool {
    queued_step(plan).is_some()
}

/// The plan's step about the queued database changes, if it has one.
pub fn queued_step(plan: &PlanView) -> Option<&PlanStepView> {
    plan.steps.iter().find(|s| {
        (s.description.starts_with("discard the ") || s.description.starts_with("send the "))
            && s.description.contains(" database change(s) made to ")
    })
}

/// Whether `plan` names the rows a changed row filter leaves outside it (the daemon's step
/// "keep the N row(s) …", or "delete the N row(s) …" when asked to delete them): then the
/// user may choose which.
pub fn names_leaving_rows(plan: &PlanView) -> bool {
    leaving_step(plan).is_some()
}

/// The plan's step about the rows leaving the row filter, if it has one.
pub fn leaving_step(plan: &PlanView) -> Option<&PlanStepView> {
    plan.steps.iter().find(|s| {
        let rest = s
            .description
            .strip_prefix("keep the ")
            .or_else(|| s.description.strip_prefix("delete the "));
        rest.and_then(|r| r.split_once(" row(s)"))
            .is_some_and(|(n, _)| {
                !n.is_empty() && n.chars().all(|c| c.is_ascii_digit() || c == ',')
            })
    })
}

/// Fields that sync whatever the user chooses.
pub fn locked(f: &FieldInfo) -> bool {
    f.name == "Id" || f.name == "SystemModstamp" || f.required()
}

fn direction_index(d: Direction) -> usize {
    match d {
        Direction::Bidirectional => 0,
        Direction::SfToDb => 1,
        Direction::DbToSf => 2,
    }
}

fn policy_index(p: ConflictPolicy) -> usize {
    match p {
        ConflictPolicy::NewestWins => 0,
        ConflictPolicy::SalesforceWins => 1,
        ConflictPolicy::DatabaseWins => 2,
    }
}

/// A conflict policy in words, as the editor offers it.
pub fn policy_label(p: ConflictPolicy) -> &'static str {
    POLICIES[policy_index(p)]
}

impl MappingEditor {
    pub fn new(org: String, object: String, existing: Option<&Mapping>) -> MappingEditor {
        let mut options = Form::new(vec![
            Field::choice("direction", "Direction", DIRECTIONS),
            Field::choice("conflict", "Conflicts", POLICIES)
                .with_hint("who wins when both sides changed a field"),
            Field::text("row_filter", "Row filter")
                .with_hint("optional SOQL condition, e.g. Industry = 'Banking'"),
            Field::button("preview", "Preview the DDL plan"),
            Field::button("remove", "Remove mapping…").with_hint("drops the object's tables"),
        ]);
        options.set_visible("remove", existing.is_some());
        let mut chosen = BTreeSet::new();
        if let Some(m) = existing {
            options.set_choice("direction", direction_index(m.direction));
            options.set_choice("conflict", policy_index(m.conflict_policy));
            options.set_value("row_filter", m.row_filter.clone().unwrap_or_default());
            chosen.extend(m.fields.iter().cloned());
        }
        let saved = Saved {
            chosen: chosen.clone(),
            direction: options.choice("direction"),
            conflict: options.choice("conflict"),
            row_filter: options.trimmed("row_filter").to_owned(),
        };
        MappingEditor {
            org,
            object,
            fields: Load::Loading,
            chosen,
            existing: existing.is_some(),
            filter: String::new(),
            filtering: false,
            cursor: 0,
            pane: Pane::Fields,
            options,
            phase: Phase::Editing,
            plan_scroll: 0,
            saved,
            send_queued: false,
            leaving_rows: LeavingRows::Detach,
        }
    }

    /// The fields that sync when `chosen` are picked (locked ones always do).
    fn syncing(&self, chosen: &BTreeSet<String>) -> BTreeSet<String> {
        match &self.fields {
            Load::Loaded(all) => all
                .iter()
                .filter(|f| locked(f) || chosen.contains(&f.name))
                .map(|f| f.name.clone())
                .collect(),
            _ => chosen.clone(),
        }
    }

    /// Whether the editor holds changes that saving has not stored.
    pub fn changed(&self) -> bool {
        self.syncing(&self.chosen) != self.syncing(&self.saved.chosen)
            || self.options.choice("direction") != self.saved.direction
            || self.options.choice("conflict") != self.saved.conflict
            || self.options.trimmed("row_filter") != self.saved.row_filter
    }

    /// Back to editing: a new plan starts from the defaults again (queued changes are
    /// discarded and rows leaving the row filter kept detached, unless asked on that plan).
    fn edit(&mut self) {
        self.phase = Phase::Editing;
        self.send_queued = false;
        self.leaving_rows = LeavingRows::Detach;
    }

    /// The fields that match the filter (name, label or type).
    pub fn visible(&self) -> Vec<&FieldInfo> {
        let Load::Loaded(all) = &self.fields else {
            return vec![];
        };
        let needle = self.filter.trim().to_lowercase();
        all.iter()
            .filter(|f| {
                needle.is_empty()
                    || f.name.to_lowercase().contains(&needle)
                    || f.label.to_lowercase().contains(&needle)
                    || f.field_type.to_lowercase().contains(&needle)
            })
            .collect()
    }

    pub fn is_chosen(&self, f: &FieldInfo) -> bool {
        locked(f) || self.chosen.contains(&f.name)
    }

    /// How many fields will sync.
    pub fn chosen_count(&self) -> usize {
        match &self.fields {
            Load::Loaded(all) => all.iter().filter(|f| self.is_chosen(f)).count(),
            _ => self.chosen.len(),
        }
    }

    pub fn typing(&self) -> bool {
        self.phase == Phase::Editing
            && match self.pane {
                Pane::Fields => self.filtering,
                Pane::Options => self.options.typing(),
            }
    }

    pub fn direction(&self) -> Direction {
        match self.options.choice("direction") {
            0 => Direction::Bidirectional,
            1 => Direction::SfToDb,
            _ => Direction::DbToSf,
        }
    }

    /// The mapping the editor describes.
    pub fn mapping(&self) -> Mapping {
        let fields = match &self.fields {
            Load::Loaded(all) => all
                .iter()
                .filter(|f| self.is_chosen(f))
                .map(|f| f.name.clone())
                .collect(),
            _ => self.chosen.iter().cloned().collect(),
        };
        Mapping {
            object: self.object.clone(),
            fields,
            direction: self.direction(),
            conflict_policy: match self.options.choice("conflict") {
                0 => ConflictPolicy::NewestWins,
                1 => ConflictPolicy::SalesforceWins,
                _ => ConflictPolicy::DatabaseWins,
            },
            row_filter: Some(self.options.trimmed("row_filter").to_owned())
                .filter(|s| !s.is_empty()),
        }
    }

    fn clamp(&mut self) {
        let len = self.visible().len();
        self.cursor = self.cursor.min(len.saturating_sub(1));
    }

    fn toggle_current(&mut self) -> Option<String> {
        let f = (*self.visible().get(self.cursor)?).clone();
        if locked(&f) {
            return Some(format!(
                "{} always syncs (required, or needed to track changes).",
                f.name
            ));
        }
        if !self.chosen.remove(&f.name) {
            self.chosen.insert(f.name);
        }
        None
    }
}

fn screen(app: &mut App) -> Option<&mut MappingEditor> {
    match &mut app.screen {
        Screen::Mapping(m) => Some(m),
        _ => None,
    }
}

/// Opens the editor for `object` of `org` and loads its fields.
pub(crate) fn open(
    app: &mut App,
    org: String,
    object: String,
    existing: Option<&Mapping>,
) -> Vec<Cmd> {
    let editor = MappingEditor::new(org.clone(), object.clone(), existing);
    app.screen = Screen::Mapping(Box::new(editor));
    vec![app.request(
        Call::MetadataFields(ObjectRef {
            org: org.clone(),
            object: object.clone(),
        }),
        Pending::MetadataFields { org, object },
    )]
}

fn back_to_objects(app: &mut App, org: String) -> Vec<Cmd> {
    super::objects::open(app, org)
}

pub(crate) fn apply(app: &mut App, action: Action) -> Vec<Cmd> {
    let Some(m) = screen(app) else { return vec![] };
    match m.phase.clone() {
        Phase::Editing => {}
        // Waiting for a plan, the changes are not saved yet: Esc asks first.
        Phase::Planning { .. } => {
            if action == Action::Back {
                return leave(app);
            }
            return vec![];
        }
        Phase::Applying { .. } => {
            if action == Action::Back {
                let org = m.org.clone();
                return back_to_objects(app, org);
            }
            return vec![];
        }
        Phase::Review {
            plan: plan_shown,
            remove,
        } => {
            return match action {
                Action::Back => {
                    m.edit();
                    vec![]
                }
                Action::ToggleSendQueued if !remove && names_queued_changes(&plan_shown) => {
                    // The plan again, saying what happens to them now.
                    m.send_queued = !m.send_queued;
                    plan(app, false)
                }
                Action::ToggleLeavingRows if !remove && names_leaving_rows(&plan_shown) => {
                    // The plan again, keeping or deleting the rows outside the filter.
                    m.leaving_rows = match m.leaving_rows {
                        LeavingRows::Detach => LeavingRows::Delete,
                        LeavingRows::Delete => LeavingRows::Detach,
                    };
                    plan(app, false)
                }
                Action::Up => {
                    m.plan_scroll = m.plan_scroll.saturating_sub(1);
                    vec![]
                }
                Action::Down => {
                    m.plan_scroll = m.plan_scroll.saturating_add(1);
                    vec![]
                }
                Action::Top => {
                    m.plan_scroll = 0;
                    vec![]
                }
                Action::Submit if plan_shown.destructive => {
                    app.say(
                        Tone::Warn,
                        "This plan loses data: press D to run it anyway, or Esc to change the mapping.",
                    );
                    vec![]
                }
                Action::Submit | Action::ApplyDestructive => {
                    run_plan(app, remove, plan_shown.destructive)
                }
                _ => vec![],
            };
        }
    }
    let len = m.visible().len();
    match (m.pane, action) {
        (_, Action::Back) if m.filtering => m.filtering = false,
        (_, Action::Back) if !m.filter.is_empty() => {
            m.filter.clear();
            m.clamp();
        }
        (_, Action::Back) => return leave(app),
        (_, Action::NextTab | Action::PrevTab) => {
            m.filtering = false;
            m.pane = match m.pane {
                Pane::Fields => Pane::Options,
                Pane::Options => Pane::Fields,
            };
        }
        (Pane::Fields, Action::Up) => m.cursor = m.cursor.saturating_sub(1),
        (Pane::Fields, Action::Down) => m.cursor = (m.cursor + 1).min(len.saturating_sub(1)),
        (Pane::Fields, Action::Top) => m.cursor = 0,
        (Pane::Fields, Action::Bottom) => m.cursor = len.saturating_sub(1),
        (Pane::Fields, Action::Filter) => m.filtering = true,
        (Pane::Fields, Action::Type(c)) => {
            m.filter.push(c);
            m.cursor = 0;
        }
        (Pane::Fields, Action::Backspace) => {
            m.filter.pop();
            m.clamp();
        }
        (Pane::Fields, Action::ClearField) => {
            m.filter.clear();
            m.clamp();
        }
        (Pane::Fields, Action::Toggle) => {
            if let Some(why) = m.toggle_current() {
                app.say(Tone::Info, why);
            }
        }
        (Pane::Fields, Action::SelectAll) => {
            let names: Vec<String> = m.visible().iter().map(|f| f.name.clone()).collect();
            m.chosen.extend(names);
        }
        (Pane::Fields, Action::SelectNone) => {
            let names: Vec<String> = m.visible().iter().map(|f| f.name.clone()).collect();
            for n in names {
                m.chosen.remove(&n);
            }
        }
        (Pane::Fields, Action::Submit) => return plan(app, false),
        (Pane::Options, a) => {
            let f = &mut m.options;
            match a {
                Action::NextField => f.next(),
                Action::PrevField => f.prev(),
                Action::Left => {
                    f.cycle(-1);
                }
                Action::Right => {
                    f.cycle(1);
                }
                Action::Toggle | Action::Submit if f.focused_id() == "preview" => {
                    return plan(app, false);
                }
                Action::Toggle | Action::Submit if f.focused_id() == "remove" => {
                    return plan(app, true);
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
        }
        _ => {}
    }
    vec![]
}

/// Esc out of the editor: at once when nothing changed, else after a confirmation.
fn leave(app: &mut App) -> Vec<Cmd> {
    let Some(m) = screen(app) else { return vec![] };
    let (org, object) = (m.org.clone(), m.object.clone());
    if !m.changed() {
        return back_to_objects(app, org);
    }
    let what = if m.existing {
        format!("Your changes to the mapping of {object} are not saved.")
    } else {
        format!("The mapping of {object} is not saved: {object} is not mapped yet.")
    };
    app.dialog = Some(Dialog::Confirm {
        title: "Throw away the changes?".into(),
        lines: vec![
            (Tone::Warn, what),
            (
                Tone::Info,
                "Leaving the editor now throws them away. To keep them, cancel and press \
                 Enter on the fields (or the preview button) to see the plan and save it."
                    .into(),
            ),
        ],
        yes: Confirm::DiscardMapping { org, object },
    });
    vec![]
}

/// The confirmed discard: back to the objects, if the editor is still on show.
pub(crate) fn discard(app: &mut App, org: String, object: String) -> Vec<Cmd> {
    if here(app, &org, &object).is_none() {
        return vec![];
    }
    back_to_objects(app, org)
}

/// Asks the daemon what saving (or removing) the mapping would do (with the queued
/// changes sent or discarded as [`MappingEditor::send_queued`] says, the rows leaving the
/// row filter kept or deleted as [`MappingEditor::leaving_rows`] says).
fn plan(app: &mut App, remove: bool) -> Vec<Cmd> {
    let Some(m) = screen(app) else { return vec![] };
    if !remove && !matches!(m.fields, Load::Loaded(_)) {
        app.say(Tone::Warn, "The fields are not loaded yet.");
        return vec![];
    }
    m.phase = Phase::Planning { remove };
    let (org, object) = (m.org.clone(), m.object.clone());
    let call = if remove {
        Call::MappingRemove(RemoveMapping {
            org: org.clone(),
            object: object.clone(),
            apply: false,
            confirm_destructive: false,
        })
    } else {
        Call::MappingSave(SaveMapping {
            org: org.clone(),
            mapping: m.mapping(),
            apply: false,
            confirm_destructive: false,
            send_queued: m.send_queued,
            leaving_rows: m.leaving_rows,
        })
    };
    vec![app.request(
        call,
        Pending::MappingPlan {
            org,
            object,
            remove,
        },
    )]
}

/// Runs the reviewed plan.
fn run_plan(app: &mut App, remove: bool, destructive: bool) -> Vec<Cmd> {
    let Some(m) = screen(app) else { return vec![] };
    m.phase = Phase::Applying { remove };
    let (org, object) = (m.org.clone(), m.object.clone());
    let call = if remove {
        Call::MappingRemove(RemoveMapping {
            org: org.clone(),
            object: object.clone(),
            apply: true,
            confirm_destructive: destructive,
        })
    } else {
        Call::MappingSave(SaveMapping {
            org: org.clone(),
            mapping: m.mapping(),
            apply: true,
            confirm_destructive: destructive,
            send_queued: m.send_queued,
            leaving_rows: m.leaving_rows,
        })
    };
    vec![app.request(
        call,
        Pending::MappingApply {
            org,
            object,
            remove,
        },
    )]
}

fn here<'a>(app: &'a mut App, org: &str, object: &str) -> Option<&'a mut MappingEditor> {
    screen(app).filter(|m| m.org == org && m.object == object)
}

pub(crate) fn on_fields(
    app: &mut App,
    org: String,
    object: String,
    result: Result<Vec<FieldInfo>, String>,
) -> Result<Vec<Cmd>, String> {
    let Some(m) = here(app, &org, &object) else {
        return result.map(|_| vec![]);
    };
    match result {
        Ok(fields) => {
            m.fields = Load::Loaded(fields);
            m.clamp();
            Ok(vec![])
        }
        Err(e) => {
            m.fields = Load::Failed(e.clone());
            Err(e)
        }
    }
}

pub(crate) fn on_plan(
    app: &mut App,
    org: String,
    object: String,
    remove: bool,
    result: Result<PlanView, String>,
) -> Result<Vec<Cmd>, String> {
    let m = here(app, &org, &object);
    match result {
        Ok(plan) => {
            if let Some(m) = m {
                m.phase = Phase::Review { plan, remove };
                m.plan_scroll = 0;
            }
            Ok(vec![])
        }
        Err(e) => {
            if let Some(m) = m {
                m.edit();
            }
            Err(e)
        }
    }
}

pub(crate) fn on_applied(
    app: &mut App,
    org: String,
    object: String,
    remove: bool,
    result: Result<PlanView, String>,
) -> Result<Vec<Cmd>, String> {
    let on_screen = here(app, &org, &object).is_some();
    match result {
        Ok(plan) => {
            // A step without SQL is not DDL: the fill of added fields, or the re-read a
            // changed row filter needs, which the engine runs before the object's next pull
            // (or what becomes of queued changes and rows leaving the filter, said below).
            let steps = plan.steps.iter().filter(|s| !s.sql.is_empty()).count();
            let engine_step = |start: &str| {
                plan.steps
                    .iter()
                    .any(|s| s.sql.is_empty() && s.description.starts_with(start))
            };
            let mut after = String::new();
            if engine_step("fill ") {
                after.push_str("; the added fields are filled into the existing rows before its next pull (the Sync screen shows the progress)");
            }
            if engine_step("re-read ") {
                after.push_str("; it is re-read from Salesforce with the new row filter before its next pull (the Sync screen shows it as re-reading)");
            }
            let text = match (remove, plan.applied) {
                (true, true) => {
                    format!("The mapping of {object} is removed ({steps} DDL step(s) run).")
                }
                (false, true) => format!(
                    "DB objects generated: yes — {object} is mapped ({steps} DDL step(s) run){after}."
                ),
                (_, false) => format!(
                    "DB objects generated: no — the daemon did not run the plan for {object}; preview it again."
                ),
            };
            let text = match queued_step(&plan) {
                Some(s) if plan.applied && s.description.starts_with("send the ") => format!(
                    "{text} The database changes queued while it did not sync to Salesforce are sent."
                ),
                Some(_) if plan.applied => format!(
                    "{text} The database changes queued while it did not sync to Salesforce are discarded: they stay in the database, never sent."
                ),
                _ => text,
            };
            let text = match leaving_step(&plan) {
                Some(s) if plan.applied && s.description.starts_with("delete the ") => {
                    format!("{text} The rows outside the row filter are deleted from the database.")
                }
                Some(_) if plan.applied => format!(
                    "{text} The rows outside the row filter are kept, detached: never refreshed from Salesforce, their changes never sent."
                ),
                _ => text,
            };
            app.say(if plan.applied { Tone::Ok } else { Tone::Warn }, text);
            if on_screen {
                return Ok(back_to_objects(app, org));
            }
            Ok(vec![])
        }
        Err(e) => {
            if let Some(m) = here(app, &org, &object) {
                m.edit();
            }
            Err(e)
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
