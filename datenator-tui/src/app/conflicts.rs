//! Conflicts: fields changed on both sides since the last sync, and how each was settled,
//! newest first.
use datenator_shared::model::ConflictRecord;
use datenator_shared::protocol::{Call, OrgRef};

use super::objects::Load;
use super::{App, Back, Cmd, Pending, Screen, Tone};
use crate::commands::Action;

#[derive(Debug, Clone, PartialEq)]
pub struct Conflicts {
    pub org: String,
    pub records: Load<Vec<ConflictRecord>>,
    pub selected: usize,
    pub back: Back,
}

impl Conflicts {
    pub fn list(&self) -> &[ConflictRecord] {
        match &self.records {
            Load::Loaded(list) => list,
            _ => &[],
        }
    }

    pub fn current(&self) -> Option<&ConflictRecord> {
        self.list().get(self.selected)
    }
}

fn screen(app: &mut App) -> Option<&mut Conflicts> {
    match &mut app.screen {
        Screen::Conflicts(c) => Some(c),
        _ => None,
    }
}

/// Opens the conflict log of `org` and asks for it.
pub(crate) fn open(app: &mut App, org: String, back: Back) -> Vec<Cmd> {
    app.screen = Screen::Conflicts(Conflicts {
        org: org.clone(),
        records: Load::Loading,
        selected: 0,
        back,
    });
    load(app, org)
}

fn load(app: &mut App, org: String) -> Vec<Cmd> {
    let what = Pending::ConflictList { org: org.clone() };
    if app.is_pending(&what) {
        return vec![];
    }
    vec![app.request(Call::ConflictList(OrgRef { name: org }), what)]
}

pub(crate) fn apply(app: &mut App, action: Action) -> Vec<Cmd> {
    let Some(c) = screen(app) else { return vec![] };
    let len = c.list().len();
    match action {
        a if super::step(&mut c.selected, len, a) => {}
        Action::Back => {
            let back = c.back.clone();
            back.go(app);
        }
        Action::Reload => {
            let org = c.org.clone();
            return load(app, org);
        }
        Action::Submit => {
            if let Some(r) = c.current().cloned() {
                let title = format!("Conflict · {} · {}", r.object, r.field);
                super::show_detail(app, title, detail(&r));
            }
        }
        _ => {}
    }
    vec![]
}

pub(crate) fn on_loaded(
    app: &mut App,
    org: String,
    result: Result<Vec<ConflictRecord>, String>,
) -> Result<Vec<Cmd>, String> {
    let Some(c) = screen(app).filter(|c| c.org == org) else {
        return result.map(|_| vec![]);
    };
    match result {
        Ok(mut list) => {
            // Newest first, whatever order the daemon used.
            list.sort_by_key(|r| std::cmp::Reverse(r.at));
            c.selected = c.selected.min(list.len().saturating_sub(1));
            c.records = Load::Loaded(list);
            Ok(vec![])
        }
        Err(e) => {
            c.records = Load::Failed(e.clone());
            Err(e)
        }
    }
}

/// A field value as shown: strings bare, `null` as "empty", others as JSON.
/// A conflict whole: where, when, how it was settled, and both values in full.
pub fn detail(r: &ConflictRecord) -> Vec<(Tone, String)> {
    let winner = match r.winner.as_str() {
        "salesforce" => "Salesforce's value",
        "database" => "the database's value",
        other => other,
    };
    vec![
        (Tone::Info, format!("Record: {} {}", r.object, r.sfid)),
        (Tone::Info, format!("Field: {}", r.field)),
        (
            Tone::Info,
            format!("Settled: {}", r.at.format("%Y-%m-%d %H:%M:%S UTC")),
        ),
        (
            Tone::Ok,
            format!(
                "Kept {winner}, by the policy \"{}\".",
                super::mapping::policy_label(r.policy)
            ),
        ),
        (Tone::Info, String::new()),
        (Tone::Info, "Database value:".into()),
        (Tone::Info, value_text(&r.db_value)),
        (Tone::Info, String::new()),
        (Tone::Info, "Salesforce value:".into()),
        (Tone::Info, value_text(&r.sf_value)),
    ]
}

pub fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "empty".into(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::tests::{key, only_request, with_orgs};
    use crate::app::{Msg, update};
    use chrono::TimeZone;
    use crossterm::event::KeyCode;
    use datenator_shared::model::ConflictPolicy;

    pub(crate) fn conflict(field: &str, minute: u32) -> ConflictRecord {
        ConflictRecord {
            object: "Account".into(),
            sfid: "001000000000001AAA".into(),
            field: field.into(),
            db_value: serde_json::json!("db"),
            sf_value: serde_json::json!(null),
            winner: "salesforce".into(),
            policy: ConflictPolicy::NewestWins,
            at: chrono::Utc
                .with_ymd_and_hms(2026, 11, 24, 12, minute, 0)
                .unwrap(),
        }
    }

    #[test]
    fn c_opens_the_conflicts_newest_first_and_esc_goes_back() {
        let mut app = with_orgs(&["acme"]);
        let (id, call) = only_request(update(&mut app, key(KeyCode::Char('c'))));
        assert_eq!(
            call,
            Call::ConflictList(OrgRef {
                name: "acme".into()
            })
        );
        let list = vec![
            conflict("Name", 1),
            conflict("Phone", 5),
            conflict("Fax", 3),
        ];
        update(
            &mut app,
            Msg::Reply {
                id,
                result: Ok(serde_json::to_value(list).unwrap()),
            },
        );
        let Screen::Conflicts(c) = &app.screen else {
            panic!("{:?}", app.screen)
        };
        let fields: Vec<_> = c.list().iter().map(|r| r.field.as_str()).collect();
        assert_eq!(fields, ["Phone", "Fax", "Name"]);
        update(&mut app, key(KeyCode::Char('G')));
        let Screen::Conflicts(c) = &app.screen else {
            panic!()
        };
        assert_eq!(c.current().unwrap().field, "Name");
        // u asks again.
        let (_, call) = only_request(update(&mut app, key(KeyCode::Char('u'))));
        assert!(matches!(call, Call::ConflictList(_)));
        update(&mut app, key(KeyCode::Esc));
        assert_eq!(app.screen, Screen::Orgs);
    }

    #[test]
    fn an_error_is_kept_on_the_screen_and_in_the_status_line() {
        let mut app = with_orgs(&["acme"]);
        let (id, _) = only_request(update(&mut app, key(KeyCode::Char('c'))));
        update(
            &mut app,
            Msg::Reply {
                id,
                result: Err("acme has no datasource: configure it in settings".into()),
            },
        );
        let Screen::Conflicts(c) = &app.screen else {
            panic!()
        };
        assert!(matches!(&c.records, Load::Failed(e) if e.contains("no datasource")));
        assert!(
            app.notice
                .unwrap()
                .text
                .starts_with("Loading the conflicts")
        );
    }

    #[test]
    fn values_read_plainly() {
        assert_eq!(value_text(&serde_json::json!(null)), "empty");
        assert_eq!(value_text(&serde_json::json!("Acme")), "Acme");
        assert_eq!(value_text(&serde_json::json!(12.5)), "12.5");
    }
}
