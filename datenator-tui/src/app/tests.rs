//! Unit tests of the update function for the org list, requests and replies, and
//! dialogs; helpers the screens' tests share.
use super::*;
use crossterm::event::{KeyCode, KeyModifiers};
use datenator_shared::model::OrgType;

pub(crate) fn key(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

pub(crate) fn type_str(app: &mut App, s: &str) -> Vec<Cmd> {
    s.chars()
        .flat_map(|c| update(app, key(KeyCode::Char(c))))
        .collect()
}

pub(crate) fn org(name: &str) -> OrgSummary {
    OrgSummary {
        name: name.into(),
        org_id: None,
        org_type: OrgType::Production,
        instance_url: None,
        sync_enabled: false,
        datasource_checked: false,
        schema_generated: false,
        metadata_downloaded_at: None,
        auth: datenator_shared::model::AuthState::Authorized,
        api_usage: None,
        polling_interval_secs: 60,
        api_budget_percent: 50,
        api_forecast: None,
        refresh_error: None,
        event_allocation: None,
        run_by: None,
        pinned_to: None,
    }
}

pub(crate) fn with_orgs(names: &[&str]) -> App {
    let mut app = App::new("/s", false);
    update(
        &mut app,
        Msg::Connected(HandshakeOk {
            protocol: 1,
            daemon_version: "9.9.9".into(),
        }),
    );
    update(
        &mut app,
        Msg::Event(Event::Orgs(names.iter().map(|n| org(n)).collect())),
    );
    app
}

/// The single request among `cmds`.
pub(crate) fn only_request(cmds: Vec<Cmd>) -> (u64, Call) {
    match cmds.as_slice() {
        [Cmd::Request { id, call }] => (*id, call.clone()),
        other => panic!("expected one request, got {other:?}"),
    }
}

#[test]
fn q_and_ctrl_c_quit() {
    let mut app = App::new("/s", false);
    assert_eq!(update(&mut app, key(KeyCode::Char('q'))), vec![Cmd::Quit]);
    let ctrl_c = Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert_eq!(update(&mut app, ctrl_c), vec![Cmd::Quit]);
}

#[test]
fn help_toggles_with_question_mark_and_closes_with_esc() {
    let mut app = App::new("/s", false);
    update(&mut app, key(KeyCode::Char('?')));
    assert!(app.show_help);
    update(&mut app, key(KeyCode::Esc));
    assert!(!app.show_help);
    update(&mut app, key(KeyCode::Char('?')));
    update(&mut app, key(KeyCode::Char('?')));
    assert!(!app.show_help);
}

#[test]
fn selection_moves_within_bounds_with_arrows_and_vim_keys() {
    let mut app = App::new("/s", false);
    update(
        &mut app,
        Msg::Event(Event::Orgs(vec![org("a"), org("b"), org("c")])),
    );
    update(&mut app, key(KeyCode::Down));
    update(&mut app, key(KeyCode::Char('j')));
    update(&mut app, key(KeyCode::Char('j')));
    assert_eq!(app.selected, 2);
    update(&mut app, key(KeyCode::Char('k')));
    assert_eq!(app.selected, 1);
    update(&mut app, key(KeyCode::Char('g')));
    assert_eq!(app.selected, 0);
    update(&mut app, key(KeyCode::Up));
    assert_eq!(app.selected, 0);
    update(&mut app, key(KeyCode::Char('G')));
    assert_eq!(app.selected, 2);
    // The list shrinking pulls the selection back in.
    update(&mut app, Msg::Event(Event::Orgs(vec![org("a")])));
    assert_eq!(app.selected, 0);
}

#[test]
fn connection_state_follows_messages_and_reconnect_is_only_offered_when_down() {
    let mut app = App::new("/s", false);
    assert_eq!(
        update(&mut app, key(KeyCode::Char('R'))),
        vec![Cmd::ReconnectNow]
    );
    update(
        &mut app,
        Msg::Connected(HandshakeOk {
            protocol: 1,
            daemon_version: "9.9.9".into(),
        }),
    );
    assert!(app.conn.is_connected());
    assert_eq!(update(&mut app, key(KeyCode::Char('R'))), vec![]);
    update(
        &mut app,
        Msg::Disconnected {
            reason: "gone".into(),
            retry_in_secs: 2,
        },
    );
    assert!(!app.conn.is_connected());
    assert_eq!(
        update(&mut app, key(KeyCode::Char('R'))),
        vec![Cmd::ReconnectNow]
    );
    assert_eq!(app.conn, ConnState::Connecting);
}

#[test]
fn footer_and_help_come_from_the_same_list() {
    let app = App::new("/s", false);
    let cmds = commands::commands(&app);
    assert!(
        cmds.iter()
            .any(|c| c.hint == "q" && c.action == Action::Quit)
    );
    assert!(
        cmds.iter().any(|c| c.action == Action::Reconnect),
        "offered while not connected"
    );
}

#[test]
fn metadata_download_is_a_request_with_a_pending_marker_and_its_report_is_shown() {
    let mut app = with_orgs(&["acme"]);
    let (id, call) = only_request(update(&mut app, key(KeyCode::Char('m'))));
    assert_eq!(
        call,
        Call::MetadataDownload(OrgRef {
            name: "acme".into()
        })
    );
    assert_eq!(
        app.pending.get(&id),
        Some(&Pending::MetadataDownload { org: "acme".into() })
    );
    // A second m while it runs sends nothing.
    assert_eq!(update(&mut app, key(KeyCode::Char('m'))), vec![]);
    // Input keeps working while it runs.
    update(&mut app, key(KeyCode::Char('?')));
    assert!(app.show_help);
    update(&mut app, key(KeyCode::Esc));
    let report = serde_json::json!({
        "objects": 50, "described": 50, "added": ["Account"], "removed": [],
        "changed": [], "api_calls": 3, "downloaded_at": "2026-11-24T12:00:00Z"
    });
    update(
        &mut app,
        Msg::Reply {
            id,
            result: Ok(report),
        },
    );
    assert!(app.pending.is_empty());
    let notice = app.notice.clone().unwrap();
    assert_eq!(notice.tone, Tone::Ok);
    assert!(notice.text.contains("50 objects"), "{}", notice.text);
    assert!(notice.text.contains("3 API calls"), "{}", notice.text);
    assert!(matches!(app.dialog, Some(Dialog::Report { .. })));
    update(&mut app, key(KeyCode::Enter));
    assert_eq!(app.dialog, None);
}

#[test]
fn a_failed_request_shows_the_daemons_error_text() {
    let mut app = with_orgs(&["acme"]);
    let (id, _) = only_request(update(&mut app, key(KeyCode::Char('m'))));
    update(
        &mut app,
        Msg::Reply {
            id,
            result: Err("acme is not authorized: run the flow again".into()),
        },
    );
    let n = app.notice.unwrap();
    assert_eq!(n.tone, Tone::Error);
    assert_eq!(
        n.text,
        "Downloading acme's metadata failed: acme is not authorized: run the flow again"
    );
}

#[test]
fn unknown_reply_ids_are_ignored_and_ticks_only_count_while_waiting() {
    let mut app = with_orgs(&["acme"]);
    assert_eq!(
        update(
            &mut app,
            Msg::Reply {
                id: 99,
                result: Ok(Value::Null)
            }
        ),
        vec![]
    );
    update(&mut app, Msg::Tick);
    assert_eq!(app.tick, 0);
    update(&mut app, key(KeyCode::Char('m')));
    update(&mut app, Msg::Tick);
    assert_eq!(app.tick, 1);
}

#[test]
fn delete_requires_typing_the_org_name_and_shows_the_report() {
    let mut app = with_orgs(&["acme", "beta"]);
    update(&mut app, key(KeyCode::Char('d')));
    assert!(matches!(app.dialog, Some(Dialog::Delete { .. })));
    // Typing goes to the dialog, not to the commands (q does not quit).
    assert_eq!(type_str(&mut app, "acmq"), vec![]);
    assert_eq!(update(&mut app, key(KeyCode::Enter)), vec![]);
    assert_eq!(app.notice.as_ref().unwrap().tone, Tone::Warn);
    update(&mut app, key(KeyCode::Backspace));
    type_str(&mut app, "e");
    let (id, call) = only_request(update(&mut app, key(KeyCode::Enter)));
    assert_eq!(
        call,
        Call::OrgDelete(DeleteOrg {
            name: "acme".into(),
            confirm: "acme".into()
        })
    );
    let report = serde_json::json!({
        "name": "acme", "token_revoked": true, "schema_dropped": false,
        "warnings": ["could not drop role x: drop it by hand"]
    });
    update(
        &mut app,
        Msg::Reply {
            id,
            result: Ok(report),
        },
    );
    let Some(Dialog::Report { lines, .. }) = &app.dialog else {
        panic!("{:?}", app.dialog)
    };
    assert!(
        lines
            .iter()
            .any(|(t, l)| *t == Tone::Warn && l.contains("drop it by hand"))
    );
    assert_eq!(app.notice.as_ref().unwrap().tone, Tone::Warn);
}

#[test]
fn deleting_a_never_authorized_org_does_not_warn_about_its_token() {
    let mut app = with_orgs(&["acme"]);
    update(&mut app, key(KeyCode::Char('d')));
    type_str(&mut app, "acme");
    let (id, _) = only_request(update(&mut app, key(KeyCode::Enter)));
    let report = serde_json::json!({
        "name": "acme", "had_token": false, "token_revoked": false,
        "schema_dropped": false, "warnings": []
    });
    update(
        &mut app,
        Msg::Reply {
            id,
            result: Ok(report),
        },
    );
    let Some(Dialog::Report { lines, .. }) = &app.dialog else {
        panic!("{:?}", app.dialog)
    };
    assert!(lines.iter().all(|(t, _)| *t != Tone::Warn), "{lines:?}");
    assert!(lines.iter().any(|(_, l)| l.contains("never authorized")));
}

#[test]
fn esc_cancels_the_delete_dialog() {
    let mut app = with_orgs(&["acme"]);
    update(&mut app, key(KeyCode::Char('d')));
    update(&mut app, key(KeyCode::Esc));
    assert_eq!(app.dialog, None);
    assert_eq!(app.screen, Screen::Orgs);
}

#[test]
fn enter_on_an_org_being_authorized_shows_its_flow_and_a_reauthorizes() {
    let mut app = with_orgs(&["acme"]);
    let mut o = org("acme");
    o.auth = datenator_shared::model::AuthState::Pending {
        step: datenator_shared::model::PendingStep::Browser {
            authorize_url: "https://login/x".into(),
        },
    };
    update(&mut app, Msg::Event(Event::Orgs(vec![o])));
    assert_eq!(update(&mut app, key(KeyCode::Enter)), vec![]);
    let Screen::Register(r) = &app.screen else {
        panic!("{:?}", app.screen)
    };
    assert!(r.wants_paste());
    update(&mut app, key(KeyCode::Esc));
    update(&mut app, key(KeyCode::Char('a')));
    let Screen::Register(r) = &app.screen else {
        panic!("{:?}", app.screen)
    };
    assert_eq!(r.reauth_of.as_deref(), Some("acme"));
}

#[test]
fn a_paste_outside_a_text_field_does_nothing() {
    let mut app = with_orgs(&["acme"]);
    assert_eq!(update(&mut app, Msg::Paste("dmq".into())), vec![]);
    assert_eq!(app.dialog, None);
    update(&mut app, key(KeyCode::Char('n')));
    update(&mut app, Msg::Paste("acme-\r\nprod".into()));
    let Screen::Register(r) = &app.screen else {
        panic!()
    };
    assert_eq!(r.form.value("name"), "acme-prod");
}

#[test]
fn org_actions_need_an_org() {
    let mut app = with_orgs(&[]);
    for c in ['m', 'd', 's', 'o', 'a', 'e', 'y'] {
        assert_eq!(update(&mut app, key(KeyCode::Char(c))), vec![]);
    }
    assert_eq!(app.screen, Screen::Orgs);
    assert_eq!(app.dialog, None);
}

#[test]
fn a_message_longer_than_the_status_line_opens_whole_with_bang() {
    let mut app = with_orgs(&["acme"]);
    let long = "the datasource check failed: ".repeat(12);
    app.say(Tone::Error, long.clone());
    assert!(crate::app::notice_cut(&app));
    update(&mut app, key(KeyCode::Char('!')));
    let Some(Dialog::Detail { lines, .. }) = &app.dialog else {
        panic!("{:?}", app.dialog)
    };
    assert_eq!(lines[0].1, long);
    // A short one fits: no `!`.
    app.dialog = None;
    app.say(Tone::Info, "Saved.");
    assert!(!crate::app::notice_cut(&app));
}

/// In a fleet, `p` pins the selected org to the first live daemon, then the next, then
/// gives it back to the fleet's placement; outside a fleet it does nothing and the footer
/// does not offer it.
#[test]
fn p_cycles_an_orgs_pin_through_the_live_daemons_of_a_fleet() {
    use datenator_shared::model::{DaemonStatus, FleetMember, FleetView};
    let mut app = with_orgs(&["acme"]);
    assert!(update(&mut app, key(KeyCode::Char('p'))).is_empty());
    assert!(
        !crate::commands::commands(&app)
            .iter()
            .any(|c| c.action == crate::commands::Action::PinOrg)
    );
    let member = |name: &str, live: bool| FleetMember {
        name: name.into(),
        host: "h".into(),
        pid: 1,
        version: "1".into(),
        live,
        leaving: false,
        silent_secs: 0.0,
        orgs: 0,
        connections: 0,
        me: name == "a",
    };
    update(
        &mut app,
        Msg::Event(Event::Status(DaemonStatus {
            version: "1".into(),
            protocol: 1,
            pid: 1,
            started_at: chrono::Utc::now(),
            uptime_secs: 1,
            socket_path: "/s".into(),
            state_dir: "/d".into(),
            config_file: None,
            orgs: 1,
            connections: 1,
            fleet: Some(FleetView {
                me: "a".into(),
                members: vec![member("a", true), member("gone", false), member("b", true)],
            }),
        })),
    );
    assert!(
        crate::commands::commands(&app)
            .iter()
            .any(|c| c.action == crate::commands::Action::PinOrg)
    );
    let mut pins = Vec::new();
    for _ in 0..3 {
        let (id, call) = only_request(update(&mut app, key(KeyCode::Char('p'))));
        let Call::OrgPin(p) = call else {
            panic!("{call:?}")
        };
        pins.push(p.daemon.clone());
        let mut o = org("acme");
        o.pinned_to = p.daemon.clone();
        update(&mut app, Msg::Event(Event::Orgs(vec![o.clone()])));
        update(
            &mut app,
            Msg::Reply {
                id,
                result: Ok(serde_json::to_value(o).unwrap()),
            },
        );
    }
    assert_eq!(pins, [Some("a".into()), Some("b".into()), None]);
    assert!(
        app.notice
            .unwrap()
            .text
            .contains("placed by the fleet again"),
    );
}
