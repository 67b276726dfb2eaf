//! Unit tests of the failed records screen.
use super::*;
use crate::app::dashboard::tests::status;
use crate::app::tests::{key, only_request, with_orgs};
use crate::app::{Msg, update};
use chrono::TimeZone;
use crossterm::event::KeyCode;
use datenator_shared::model::Event;

pub(crate) fn failed(object: &str, row_id: i64) -> FailedRecord {
    let mut values = serde_json::Map::new();
    values.insert("Name".into(), serde_json::json!(null));
    FailedRecord {
        object: object.into(),
        row_id,
        sfid: Some(format!("001{row_id:015}")),
        op: "update".into(),
        error: "REQUIRED_FIELD_MISSING: Required fields are missing: [Name]".into(),
        changed_at: chrono::Utc
            .with_ymd_and_hms(2026, 11, 24, 12, 0, 0)
            .unwrap(),
        values,
    }
}

fn reply<T: serde::Serialize>(app: &mut App, id: u64, value: T) -> Vec<Cmd> {
    update(
        app,
        Msg::Reply {
            id,
            result: Ok(serde_json::to_value(value).unwrap()),
        },
    )
}

fn screen(app: &App) -> &Failed {
    match &app.screen {
        Screen::Failed(f) => f,
        other => panic!("{other:?}"),
    }
}

/// The Failed screen of acme with three records loaded.
fn loaded() -> App {
    let mut app = with_orgs(&["acme"]);
    let (id, call) = only_request(update(&mut app, key(KeyCode::Char('f'))));
    assert_eq!(
        call,
        Call::FailedList(OrgRef {
            name: "acme".into()
        })
    );
    assert_eq!(screen(&app).records, Load::Loading);
    reply(
        &mut app,
        id,
        vec![
            failed("Account", 1),
            failed("Account", 2),
            failed("Contact", 7),
        ],
    );
    app
}

#[test]
fn r_retries_the_selected_record_and_the_outcome_is_shown_and_the_list_reloaded() {
    let mut app = loaded();
    update(&mut app, key(KeyCode::Char('j')));
    let (id, call) = only_request(update(&mut app, key(KeyCode::Char('r'))));
    assert_eq!(
        call,
        Call::FailedRetry(FailedRecords {
            org: "acme".into(),
            object: "Account".into(),
            row_ids: Some(vec![2]),
        })
    );
    // A second r while it runs sends nothing.
    assert_eq!(update(&mut app, key(KeyCode::Char('r'))), vec![]);
    let (_, call) = only_request(reply(&mut app, id, 1u64));
    assert!(matches!(call, Call::FailedList(_)));
    let n = app.notice.clone().unwrap();
    assert_eq!(
        (n.tone, n.text.as_str()),
        (Tone::Ok, "1 change of Account queued for the next push.")
    );
}

#[test]
fn capital_r_retries_every_record_of_the_object() {
    let mut app = loaded();
    update(&mut app, key(KeyCode::Char('G')));
    let (id, call) = only_request(update(&mut app, key(KeyCode::Char('R'))));
    assert_eq!(
        call,
        Call::FailedRetry(FailedRecords {
            org: "acme".into(),
            object: "Contact".into(),
            row_ids: None,
        })
    );
    reply(&mut app, id, 3u64);
    assert_eq!(
        app.notice.unwrap().text,
        "3 changes of Contact queued for the next push."
    );
}

#[test]
fn i_asks_before_ignoring_and_n_cancels() {
    let mut app = loaded();
    assert_eq!(update(&mut app, key(KeyCode::Char('i'))), vec![]);
    let Some(Dialog::Confirm { yes, lines, .. }) = &app.dialog else {
        panic!("{:?}", app.dialog)
    };
    assert_eq!(
        yes,
        &Confirm::IgnoreFailed {
            org: "acme".into(),
            object: "Account".into(),
            row_id: 1
        }
    );
    assert!(
        lines
            .iter()
            .any(|(_, l)| l.contains("keeps values Salesforce does not have"))
    );
    // Nothing but y/Enter or n/Esc acts while it is open (r does not retry).
    assert_eq!(update(&mut app, key(KeyCode::Char('r'))), vec![]);
    update(&mut app, key(KeyCode::Char('n')));
    assert_eq!(app.dialog, None);
    update(&mut app, key(KeyCode::Char('i')));
    let (id, call) = only_request(update(&mut app, key(KeyCode::Char('y'))));
    assert_eq!(
        call,
        Call::FailedIgnore(FailedRecords {
            org: "acme".into(),
            object: "Account".into(),
            row_ids: Some(vec![1]),
        })
    );
    assert_eq!(app.dialog, None);
    reply(&mut app, id, 1u64);
    let n = app.notice.unwrap();
    assert_eq!(n.tone, Tone::Warn);
    assert!(
        n.text.starts_with("1 change of Account set aside"),
        "{}",
        n.text
    );
}

#[test]
fn the_daemons_error_is_shown_on_the_screen_and_in_the_status_line() {
    let mut app = with_orgs(&["acme"]);
    let (id, _) = only_request(update(&mut app, key(KeyCode::Char('f'))));
    update(
        &mut app,
        Msg::Reply {
            id,
            result: Err("unknown method failed_list: update datenatord".into()),
        },
    );
    assert_eq!(
        screen(&app).records,
        Load::Failed("unknown method failed_list: update datenatord".into())
    );
    assert_eq!(app.notice.clone().unwrap().tone, Tone::Error);
    // Actions on an empty list say so instead of sending anything; u asks again.
    assert_eq!(update(&mut app, key(KeyCode::Char('r'))), vec![]);
    let (id, _) = only_request(update(&mut app, key(KeyCode::Char('u'))));
    // A refused retry shows the daemon's words too.
    reply(&mut app, id, vec![failed("Account", 1)]);
    let (id, _) = only_request(update(&mut app, key(KeyCode::Char('r'))));
    update(
        &mut app,
        Msg::Reply {
            id,
            result: Err("acme is not authorized".into()),
        },
    );
    assert_eq!(
        app.notice.unwrap().text,
        "Retrying the failed changes of Account failed: acme is not authorized"
    );
}

#[test]
fn the_list_reloads_when_the_orgs_failure_count_changes() {
    let mut app = with_orgs(&["acme"]);
    update(
        &mut app,
        Msg::Event(Event::Sync(vec![status("acme", "Account", 1)])),
    );
    let (id, _) = only_request(update(&mut app, key(KeyCode::Char('f'))));
    reply(&mut app, id, Vec::<FailedRecord>::new());
    // The same count: nothing to ask.
    assert_eq!(
        update(
            &mut app,
            Msg::Event(Event::Sync(vec![status("acme", "Account", 2)]))
        ),
        vec![]
    );
    let mut s = status("acme", "Account", 3);
    s.failed_records = 2;
    let (_, call) = only_request(update(&mut app, Msg::Event(Event::Sync(vec![s]))));
    assert!(matches!(call, Call::FailedList(_)));
}

#[test]
fn opened_from_the_dashboard_it_selects_the_object_and_goes_back_there() {
    let mut app = with_orgs(&["acme"]);
    update(
        &mut app,
        Msg::Event(Event::Sync(vec![
            status("acme", "Account", 1),
            status("acme", "Contact", 1),
        ])),
    );
    update(&mut app, key(KeyCode::Char('w')));
    update(&mut app, key(KeyCode::Char('j')));
    let (id, _) = only_request(update(&mut app, key(KeyCode::Char('f'))));
    reply(
        &mut app,
        id,
        vec![failed("Account", 1), failed("Contact", 7)],
    );
    assert_eq!(screen(&app).current().unwrap().row_id, 7);
    update(&mut app, key(KeyCode::Esc));
    let Screen::Dashboard(d) = &app.screen else {
        panic!("{:?}", app.screen)
    };
    assert_eq!(d.selected, 1);
}

#[test]
fn a_reload_keeps_the_selection_on_the_same_record() {
    let mut app = loaded();
    update(&mut app, key(KeyCode::Char('j')));
    let (id, _) = only_request(update(&mut app, key(KeyCode::Char('u'))));
    reply(
        &mut app,
        id,
        vec![failed("Account", 2), failed("Contact", 7)],
    );
    assert_eq!(screen(&app).current().unwrap().row_id, 2);
}

#[test]
fn retry_all_gives_way_to_reconnect_while_disconnected() {
    let mut app = loaded();
    update(
        &mut app,
        Msg::Disconnected {
            reason: "gone".into(),
            retry_in_secs: 2,
        },
    );
    assert_eq!(
        update(&mut app, key(KeyCode::Char('R'))),
        vec![Cmd::ReconnectNow]
    );
}
