//! Re-reading a mapped object from Salesforce (`F` on the dashboard or the Objects screen):
//! the daemon's plan first (what it reads, its API cost), shown in a confirmation; only
//! Enter there starts it. Its progress shows on the object's status ("re-reading").
use datenator_shared::model::PlanView;
use datenator_shared::protocol::{Call, ResyncObject};

use super::{App, Cmd, Confirm, Dialog, Pending, Tone};

/// Asks the daemon what re-reading `object` of `org` would do (once at a time).
pub(crate) fn ask(app: &mut App, org: String, object: String) -> Vec<Cmd> {
    if app
        .sync
        .iter()
        .any(|s| s.org == org && s.object == object && s.reloading)
    {
        app.say(
            Tone::Info,
            format!(
                "{object} is being re-read from Salesforce already: its status on the Sync screen shows the progress."
            ),
        );
        return vec![];
    }
    let planning = Pending::ResyncPlan {
        org: org.clone(),
        object: object.clone(),
    };
    let starting = Pending::ResyncStart {
        org: org.clone(),
        object: object.clone(),
    };
    if app.is_pending(&planning) || app.is_pending(&starting) {
        return vec![];
    }
    vec![app.request(
        Call::ObjectResync(ResyncObject {
            org,
            object,
            apply: false,
        }),
        planning,
    )]
}

/// The plan arrived: the confirmation, in words.
pub(crate) fn on_plan(
    app: &mut App,
    org: String,
    object: String,
    result: Result<PlanView, String>,
) -> Result<Vec<Cmd>, String> {
    let plan = result?;
    if app.dialog.is_some() {
        // Another window has the keys: it is not replaced under the user's hands.
        app.say(
            Tone::Info,
            format!("The plan to re-read {object} came while a window was open: press F again."),
        );
        return Ok(vec![]);
    }
    let mut lines = vec![(
        Tone::Info,
        format!("Re-reading {object} of {org} from Salesforce:"),
    )];
    if plan.steps.is_empty() {
        lines.push((Tone::Info, "Nothing to read.".into()));
    }
    for (i, step) in plan.steps.iter().enumerate() {
        lines.push((
            if step.destructive.is_some() {
                Tone::Error
            } else {
                Tone::Info
            },
            format!("{:>2}. {}", i + 1, step.description),
        ));
        if let Some(why) = &step.destructive {
            lines.push((Tone::Error, format!("    ⚠ loses data: {why}")));
        }
    }
    lines.push((Tone::Info, String::new()));
    lines.push((
        Tone::Info,
        format!(
            "It runs before {object}'s next pull; the Sync screen shows it as re-reading until it is done."
        ),
    ));
    app.dialog = Some(Dialog::Confirm {
        title: format!("Re-read {object} from Salesforce?"),
        lines,
        yes: Confirm::Resync { org, object },
    });
    Ok(vec![])
}

/// The confirmed re-read: start it.
pub(crate) fn start(app: &mut App, org: String, object: String) -> Vec<Cmd> {
    let what = Pending::ResyncStart {
        org: org.clone(),
        object: object.clone(),
    };
    if app.is_pending(&what) {
        return vec![];
    }
    vec![app.request(
        Call::ObjectResync(ResyncObject {
            org,
            object,
            apply: true,
        }),
        what,
    )]
}

pub(crate) fn on_started(
    app: &mut App,
    org: String,
    object: String,
    result: Result<PlanView, String>,
) -> Result<Vec<Cmd>, String> {
    let plan = result?;
    if plan.applied {
        app.say(
            Tone::Ok,
            format!(
                "Re-reading {object} of {org} from Salesforce: it runs before its next pull; its status shows the progress."
            ),
        );
    } else {
        app.say(
            Tone::Warn,
            format!("The daemon did not start the re-read of {object}: press F to plan it again."),
        );
    }
    Ok(vec![])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::dashboard::tests::status;
    use crate::app::tests::{key, only_request, with_orgs};
    use crate::app::{Msg, Screen, update};
    use crossterm::event::KeyCode;
    use datenator_shared::model::{Event, PlanStepView};

    pub(crate) fn resync_plan(applied: bool) -> PlanView {
        PlanView {
            steps: vec![PlanStepView {
                description: "re-read every Account record within its row filter from Salesforce and merge it into its row by sfid (about 12,000 record(s): REST queries, about 13 API call(s)); rows whose record is gone from Salesforce are deleted, rows whose record no longer matches the row filter are kept detached; unsent database changes are kept".into(),
                destructive: None,
                sql: vec![],
            }],
            destructive: false,
            applied,
        }
    }

    fn reply(app: &mut App, id: u64, result: Result<PlanView, String>) -> Vec<Cmd> {
        update(
            app,
            Msg::Reply {
                id,
                result: result.map(|p| serde_json::to_value(p).unwrap()),
            },
        )
    }

    fn resync(call: Call) -> ResyncObject {
        match call {
            Call::ObjectResync(r) => r,
            other => panic!("{other:?}"),
        }
    }

    /// The dashboard with Account and Contact of acme, Contact selected.
    fn dashboard() -> App {
        let mut app = with_orgs(&["acme"]);
        update(
            &mut app,
            Msg::Event(Event::Sync(vec![
                status("acme", "Account", 1),
                status("acme", "Contact", 2),
            ])),
        );
        update(&mut app, key(KeyCode::Char('w')));
        update(&mut app, key(KeyCode::Char('j')));
        app
    }

    /// F asks for the plan only; the plan shows in a confirmation with its steps in words;
    /// Enter starts it (apply) and the status line says so.
    #[test]
    fn f_on_the_dashboard_plans_the_re_read_and_enter_starts_it() {
        let mut app = dashboard();
        let (id, call) = only_request(update(&mut app, key(KeyCode::Char('F'))));
        assert_eq!(
            resync(call),
            ResyncObject {
                org: "acme".into(),
                object: "Contact".into(),
                apply: false
            }
        );
        // Pressed again while it is asked for: nothing more.
        assert_eq!(update(&mut app, key(KeyCode::Char('F'))), vec![]);
        reply(&mut app, id, Ok(resync_plan(false)));
        let Some(Dialog::Confirm { title, lines, yes }) = &app.dialog else {
            panic!("a confirmation: {:?}", app.dialog)
        };
        assert_eq!(title, "Re-read Contact from Salesforce?");
        assert_eq!(
            yes,
            &Confirm::Resync {
                org: "acme".into(),
                object: "Contact".into()
            }
        );
        assert!(
            lines
                .iter()
                .any(|(_, l)| l.starts_with(" 1. re-read every Account record")
                    && l.contains("about 13 API call(s)")),
            "{lines:?}"
        );
        let (id, call) = only_request(update(&mut app, key(KeyCode::Enter)));
        assert_eq!(app.dialog, None);
        assert!(resync(call).apply);
        reply(&mut app, id, Ok(resync_plan(true)));
        let n = app.notice.clone().unwrap();
        assert_eq!(n.tone, Tone::Ok);
        assert!(n.text.starts_with("Re-reading Contact of acme"), "{n:?}");
        assert!(matches!(app.screen, Screen::Dashboard(_)));
    }

    /// Esc cancels: nothing is started.
    #[test]
    fn esc_cancels_the_re_read() {
        let mut app = dashboard();
        let (id, _) = only_request(update(&mut app, key(KeyCode::Char('F'))));
        reply(&mut app, id, Ok(resync_plan(false)));
        assert_eq!(update(&mut app, key(KeyCode::Esc)), vec![]);
        assert_eq!(app.dialog, None);
        assert!(app.pending.is_empty());
    }

    /// The daemon's refusal (an object that only syncs to Salesforce) is shown in its words;
    /// an object being re-read already is not asked again; no object, no request.
    #[test]
    fn refusals_and_a_re_read_already_running_are_said() {
        let mut app = dashboard();
        let (id, _) = only_request(update(&mut app, key(KeyCode::Char('F'))));
        reply(
            &mut app,
            id,
            Err("Contact only syncs from the database to Salesforce: nothing is read from Salesforce to re-read; change its direction first".into()),
        );
        assert_eq!(app.dialog, None);
        let n = app.notice.clone().unwrap();
        assert_eq!(n.tone, Tone::Error);
        assert!(
            n.text
                .starts_with("Planning the re-read of Contact failed: Contact only syncs"),
            "{n:?}"
        );

        let mut reloading = status("acme", "Contact", 2);
        reloading.reloading = true;
        update(
            &mut app,
            Msg::Event(Event::Sync(vec![status("acme", "Account", 1), reloading])),
        );
        assert_eq!(update(&mut app, key(KeyCode::Char('F'))), vec![]);
        assert!(
            app.notice
                .as_ref()
                .unwrap()
                .text
                .contains("being re-read from Salesforce already")
        );

        let mut app = with_orgs(&["acme"]);
        update(&mut app, Msg::Event(Event::Sync(vec![])));
        update(&mut app, key(KeyCode::Char('w')));
        assert_eq!(update(&mut app, key(KeyCode::Char('F'))), vec![]);
        assert!(app.notice.as_ref().unwrap().text.contains("map one first"));
    }

    /// A start the daemon did not carry out says so.
    #[test]
    fn a_start_not_carried_out_says_so() {
        let mut app = dashboard();
        let (id, _) = only_request(update(&mut app, key(KeyCode::Char('F'))));
        reply(&mut app, id, Ok(resync_plan(false)));
        let (id, _) = only_request(update(&mut app, key(KeyCode::Char('y'))));
        reply(&mut app, id, Ok(resync_plan(false)));
        let n = app.notice.clone().unwrap();
        assert_eq!(n.tone, Tone::Warn);
        assert!(
            n.text.contains("did not start the re-read of Contact"),
            "{n:?}"
        );
    }

    /// On the Objects screen F re-reads the selected object when it is mapped, and says
    /// why not otherwise.
    #[test]
    fn f_on_the_objects_screen_re_reads_a_mapped_object_only() {
        use crate::app::objects::tests::object;
        use datenator_shared::model::{Direction, Mapping};
        let mut app = with_orgs(&["acme"]);
        update(&mut app, key(KeyCode::Enter));
        let ids: Vec<u64> = app.pending.keys().copied().collect();
        // The mappings are still loading.
        update(
            &mut app,
            Msg::Reply {
                id: ids[0],
                result: Ok(serde_json::to_value(vec![
                    object("Account", "Account"),
                    object("Contact", "Contact"),
                ])
                .unwrap()),
            },
        );
        assert_eq!(update(&mut app, key(KeyCode::Char('F'))), vec![]);
        assert!(app.notice.as_ref().unwrap().text.contains("still loading"));
        let mapping = Mapping {
            object: "Contact".into(),
            fields: vec!["Id".into()],
            direction: Direction::SfToDb,
            conflict_policy: Default::default(),
            row_filter: None,
        };
        update(
            &mut app,
            Msg::Reply {
                id: ids[1],
                result: Ok(serde_json::to_value(vec![mapping]).unwrap()),
            },
        );
        // Account is not mapped.
        assert!(!footer_offers_f(&app));
        assert_eq!(update(&mut app, key(KeyCode::Char('F'))), vec![]);
        assert!(
            app.notice
                .as_ref()
                .unwrap()
                .text
                .contains("Account is not mapped"),
            "{:?}",
            app.notice
        );
        update(&mut app, key(KeyCode::Char('j')));
        assert!(footer_offers_f(&app));
        let (id, call) = only_request(update(&mut app, key(KeyCode::Char('F'))));
        assert_eq!(resync(call).object, "Contact");
        reply(&mut app, id, Ok(resync_plan(false)));
        assert!(matches!(
            &app.dialog,
            Some(Dialog::Confirm {
                yes: Confirm::Resync { .. },
                ..
            })
        ));
        // While filtering, F is text.
        update(&mut app, key(KeyCode::Esc));
        update(&mut app, key(KeyCode::Char('/')));
        assert_eq!(update(&mut app, key(KeyCode::Char('F'))), vec![]);
        let Screen::Objects(o) = &app.screen else {
            panic!()
        };
        assert_eq!(o.filter, "F");
    }

    fn footer_offers_f(app: &App) -> bool {
        crate::commands::commands(app)
            .iter()
            .any(|c| c.action == crate::commands::Action::Resync && c.in_footer)
    }
}
