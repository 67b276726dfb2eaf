//! Recent changes of one mapped object, both sides, newest first: who changed a record
//! (the database user, or Salesforce's LastModifiedById), which fields, and whether the
//! change was pushed, pulled, is pending or failed.
use datenator_shared::model::{ChangeOp, ChangeOutcome, ChangeSide, RecentChange};
use datenator_shared::protocol::{Call, RecentChanges};

use super::objects::Load;
use super::{App, Back, Cmd, Pending, Screen, Tone};
use crate::commands::Action;

#[derive(Debug, Clone, PartialEq)]
pub struct Recent {
    pub org: String,
    pub object: String,
    pub changes: Load<Vec<RecentChange>>,
    pub selected: usize,
    pub back: Back,
}

impl Recent {
    pub fn list(&self) -> &[RecentChange] {
        match &self.changes {
            Load::Loaded(list) => list,
            _ => &[],
        }
    }

    pub fn current(&self) -> Option<&RecentChange> {
        self.list().get(self.selected)
    }
}

fn screen(app: &mut App) -> Option<&mut Recent> {
    match &mut app.screen {
        Screen::Recent(r) => Some(r),
        _ => None,
    }
}

/// Opens the recent changes of `org`'s `object` and asks for them; Esc leads to `back`.
pub(crate) fn open(app: &mut App, org: String, object: String, back: Back) -> Vec<Cmd> {
    app.screen = Screen::Recent(Recent {
        org: org.clone(),
        object: object.clone(),
        changes: Load::Loading,
        selected: 0,
        back,
    });
    load(app, org, object)
}

fn load(app: &mut App, org: String, object: String) -> Vec<Cmd> {
    let what = Pending::RecentChanges {
        org: org.clone(),
        object: object.clone(),
    };
    if app.is_pending(&what) {
        return vec![];
    }
    let call = Call::ChangesRecent(RecentChanges {
        org,
        object,
        limit: None,
    });
    vec![app.request(call, what)]
}

pub(crate) fn apply(app: &mut App, action: Action) -> Vec<Cmd> {
    let Some(r) = screen(app) else { return vec![] };
    let len = r.list().len();
    match action {
        a if super::step(&mut r.selected, len, a) => {}
        Action::Back => {
            let back = r.back.clone();
            back.go(app);
        }
        Action::Reload => {
            let (org, object) = (r.org.clone(), r.object.clone());
            return load(app, org, object);
        }
        Action::Submit => {
            if let Some(c) = r.current().cloned() {
                let title = format!("{} change · {}", side_label(c.side), r.object);
                super::show_detail(app, title, detail(&c));
            }
        }
        _ => {}
    }
    vec![]
}

pub(crate) fn on_loaded(
    app: &mut App,
    org: String,
    object: String,
    result: Result<Vec<RecentChange>, String>,
) -> Result<Vec<Cmd>, String> {
    let Some(r) = screen(app).filter(|r| r.org == org && r.object == object) else {
        return result.map(|_| vec![]);
    };
    match result {
        Ok(mut list) => {
            // Newest first, whatever order the daemon used (stable: its order for ties).
            list.sort_by_key(|c| std::cmp::Reverse(c.at));
            // The same change stays selected across a reload when it is still listed.
            let keep = r.current().cloned();
            r.selected = keep
                .and_then(|k| list.iter().position(|c| *c == k))
                .unwrap_or(r.selected)
                .min(list.len().saturating_sub(1));
            r.changes = Load::Loaded(list);
            Ok(vec![])
        }
        Err(e) => {
            r.changes = Load::Failed(e.clone());
            Err(e)
        }
    }
}

pub fn side_label(side: ChangeSide) -> &'static str {
    match side {
        ChangeSide::Database => "Database",
        ChangeSide::Salesforce => "Salesforce",
    }
}

pub fn op_label(op: ChangeOp) -> &'static str {
    match op {
        ChangeOp::Insert => "insert",
        ChangeOp::Update => "update",
        ChangeOp::Delete => "delete",
    }
}

pub fn outcome_label(o: ChangeOutcome) -> &'static str {
    match o {
        ChangeOutcome::Pending => "pending",
        ChangeOutcome::Pushed => "pushed",
        ChangeOutcome::Failed => "failed",
        ChangeOutcome::Ignored => "ignored",
        ChangeOutcome::Superseded => "superseded",
        ChangeOutcome::NotSent => "not sent",
        ChangeOutcome::Pulled => "pulled",
    }
}

/// Who, as shown: the recorded user, or "unknown".
pub fn who_text(c: &RecentChange) -> &str {
    c.who.as_deref().unwrap_or("unknown")
}

/// The changed fields, as shown: comma-separated, "–" for none (a delete).
pub fn fields_text(c: &RecentChange) -> String {
    if c.fields.is_empty() {
        "–".into()
    } else {
        c.fields.join(", ")
    }
}

/// A change whole: side, time, who, what, the record, and where it stands.
pub fn detail(c: &RecentChange) -> Vec<(Tone, String)> {
    let who = match (c.side, &c.who) {
        (_, Some(w)) => w.clone(),
        (ChangeSide::Salesforce, None) => {
            "unknown (map LastModifiedById to see who changed Salesforce records)".into()
        }
        (ChangeSide::Database, None) => "unknown".into(),
    };
    let mut lines = vec![
        (
            Tone::Info,
            format!("Side: {}", side_label(c.side).to_lowercase()),
        ),
        (
            Tone::Info,
            format!("When: {}", c.at.format("%Y-%m-%d %H:%M:%S%.3f UTC")),
        ),
        (Tone::Info, format!("Who: {who}")),
        (Tone::Info, format!("Operation: {}", op_label(c.op))),
    ];
    if let Some(id) = c.row_id {
        lines.push((Tone::Info, format!("Row id: {id}")));
    }
    lines.push((
        Tone::Info,
        format!(
            "Salesforce id: {}",
            c.sfid
                .as_deref()
                .unwrap_or("none yet (not created in Salesforce)")
        ),
    ));
    lines.push((Tone::Info, String::new()));
    lines.push((Tone::Info, "Fields:".into()));
    if c.fields.is_empty() {
        lines.push((Tone::Info, "none (a deletion)".into()));
    }
    lines.extend(c.fields.iter().map(|f| (Tone::Info, format!("  {f}"))));
    lines.push((Tone::Info, String::new()));
    let (tone, outcome) = match c.outcome {
        ChangeOutcome::Pending => (Tone::Info, "Pending: waits for the next push.".to_owned()),
        ChangeOutcome::Pushed => (Tone::Ok, "Pushed: Salesforce has it.".to_owned()),
        ChangeOutcome::Failed => (
            Tone::Error,
            "Failed: Salesforce refused it. It goes again with the row's next change, or retry it on the Failed records screen (f).".to_owned(),
        ),
        ChangeOutcome::Ignored => (
            Tone::Warn,
            "Ignored: refused by Salesforce and set aside; it will not be sent.".to_owned(),
        ),
        ChangeOutcome::Superseded => (
            Tone::Warn,
            "Not sent: the record was deleted in Salesforce first.".to_owned(),
        ),
        ChangeOutcome::NotSent => (
            Tone::Warn,
            "Not sent, by design: made while the object did not sync to Salesforce, or to a row detached from the row filter (the reason is below).".to_owned(),
        ),
        ChangeOutcome::Pulled => (
            Tone::Ok,
            "Pulled: written into the database by a pull.".to_owned(),
        ),
    };
    lines.push((tone, outcome));
    if let Some(e) = &c.error {
        lines.push((Tone::Info, String::new()));
        lines.push((Tone::Info, "Error:".into()));
        lines.push((Tone::Error, e.clone()));
    }
    lines
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::app::tests::{key, only_request, with_orgs};
    use crate::app::{Dialog, Msg, update};
    use chrono::TimeZone;
    use crossterm::event::KeyCode;

    pub(crate) fn change(side: ChangeSide, minute: u32, outcome: ChangeOutcome) -> RecentChange {
        let db = side == ChangeSide::Database;
        RecentChange {
            side,
            at: chrono::Utc
                .with_ymd_and_hms(2026, 11, 24, 12, minute, 0)
                .unwrap(),
            who: db.then(|| "alice".to_owned()),
            op: ChangeOp::Update,
            fields: vec!["Phone".into(), "Name".into()],
            row_id: db.then_some(7),
            sfid: Some("001000000000001AAA".into()),
            outcome,
            error: (outcome == ChangeOutcome::Failed)
                .then(|| "FIELD_CUSTOM_VALIDATION_EXCEPTION: Phone is invalid".into()),
        }
    }

    fn open_from_dashboard() -> (App, u64) {
        let mut app = with_orgs(&["acme"]);
        app.sync = vec![crate::app::dashboard::tests::status("acme", "Account", 0)];
        update(&mut app, key(KeyCode::Char('w')));
        let (id, call) = only_request(update(&mut app, key(KeyCode::Char('h'))));
        assert_eq!(
            call,
            Call::ChangesRecent(RecentChanges {
                org: "acme".into(),
                object: "Account".into(),
                limit: None,
            })
        );
        (app, id)
    }

    #[test]
    fn h_on_the_dashboard_lists_the_objects_changes_newest_first_and_esc_goes_back() {
        let (mut app, id) = open_from_dashboard();
        assert_eq!(app.screen.title(), "Recent changes · acme · Account");
        let list = vec![
            change(ChangeSide::Database, 1, ChangeOutcome::Pushed),
            change(ChangeSide::Salesforce, 5, ChangeOutcome::Pulled),
            change(ChangeSide::Database, 3, ChangeOutcome::Failed),
        ];
        update(
            &mut app,
            Msg::Reply {
                id,
                result: Ok(serde_json::to_value(list).unwrap()),
            },
        );
        let Screen::Recent(r) = &app.screen else {
            panic!("{:?}", app.screen)
        };
        let outcomes: Vec<_> = r.list().iter().map(|c| c.outcome).collect();
        assert_eq!(
            outcomes,
            [
                ChangeOutcome::Pulled,
                ChangeOutcome::Failed,
                ChangeOutcome::Pushed
            ]
        );
        // Enter shows the selected change whole.
        update(&mut app, key(KeyCode::Down));
        update(&mut app, key(KeyCode::Enter));
        let Some(Dialog::Detail { title, lines, .. }) = &app.dialog else {
            panic!("{:?}", app.dialog)
        };
        assert_eq!(title, "Database change · Account");
        let text: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
        assert!(text.contains(&"Who: alice"), "{text:?}");
        assert!(text.contains(&"Row id: 7"), "{text:?}");
        assert!(text.contains(&"  Phone"), "{text:?}");
        assert!(
            text.iter()
                .any(|l| l.starts_with("FIELD_CUSTOM_VALIDATION")),
            "{text:?}"
        );
        update(&mut app, key(KeyCode::Esc));
        assert!(app.dialog.is_none());
        // u asks again; the same change stays selected when the reply comes.
        let (id, call) = only_request(update(&mut app, key(KeyCode::Char('u'))));
        assert!(matches!(call, Call::ChangesRecent(_)));
        let list = vec![
            change(ChangeSide::Database, 3, ChangeOutcome::Failed),
            change(ChangeSide::Database, 9, ChangeOutcome::Pending),
            change(ChangeSide::Salesforce, 5, ChangeOutcome::Pulled),
        ];
        update(
            &mut app,
            Msg::Reply {
                id,
                result: Ok(serde_json::to_value(list).unwrap()),
            },
        );
        let Screen::Recent(r) = &app.screen else {
            panic!()
        };
        assert_eq!(r.current().unwrap().outcome, ChangeOutcome::Failed);
        update(&mut app, key(KeyCode::Esc));
        assert!(
            matches!(app.screen, Screen::Dashboard(_)),
            "{:?}",
            app.screen
        );
    }

    #[test]
    fn an_error_is_kept_on_the_screen_and_in_the_status_line() {
        let (mut app, id) = open_from_dashboard();
        update(
            &mut app,
            Msg::Reply {
                id,
                result: Err("org \"acme\" has no applied mapping for \"Account\"".into()),
            },
        );
        let Screen::Recent(r) = &app.screen else {
            panic!()
        };
        assert!(matches!(&r.changes, Load::Failed(e) if e.contains("no applied mapping")));
        assert!(
            app.notice
                .unwrap()
                .text
                .starts_with("Loading the recent changes of Account")
        );
    }

    #[test]
    fn h_on_the_objects_screen_opens_a_mapped_objects_changes_only() {
        use datenator_shared::model::{Direction, Mapping, ObjectInfo};
        let mut app = with_orgs(&["acme"]);
        let mut o = crate::app::Objects::new("acme".into());
        let info = |name: &str| ObjectInfo {
            name: name.into(),
            label: name.into(),
            custom: false,
            createable: true,
            updateable: true,
            deletable: true,
            fields: None,
        };
        o.objects = Load::Loaded(vec![info("Account"), info("Contact")]);
        o.mappings = Load::Loaded(vec![Mapping {
            object: "Account".into(),
            fields: vec!["Name".into()],
            direction: Direction::Bidirectional,
            conflict_policy: Default::default(),
            row_filter: None,
        }]);
        o.selected = 1;
        app.screen = Screen::Objects(o);
        assert!(update(&mut app, key(KeyCode::Char('h'))).is_empty());
        assert!(app.notice.as_ref().unwrap().text.contains("not mapped"));
        update(&mut app, key(KeyCode::Up));
        let (_, call) = only_request(update(&mut app, key(KeyCode::Char('h'))));
        assert!(
            matches!(&call, Call::ChangesRecent(r) if r.object == "Account"),
            "{call:?}"
        );
        update(&mut app, key(KeyCode::Esc));
        let Screen::Objects(o) = &app.screen else {
            panic!("{:?}", app.screen)
        };
        assert_eq!(o.selected, 0, "back where it was");
    }

    #[test]
    fn labels_read_plainly() {
        let mut c = change(ChangeSide::Salesforce, 0, ChangeOutcome::Pulled);
        assert_eq!(who_text(&c), "unknown");
        assert_eq!(fields_text(&c), "Phone, Name");
        c.fields.clear();
        assert_eq!(fields_text(&c), "–");
        let text: Vec<String> = detail(&c).into_iter().map(|(_, l)| l).collect();
        assert!(
            text.iter().any(|l| l.contains("map LastModifiedById")),
            "{text:?}"
        );
        assert!(!text.iter().any(|l| l.starts_with("Row id")));
    }
}
