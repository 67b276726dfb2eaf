//! Unit tests of the Register org screen and the flows.
use super::*;
use crate::app::tests::{key, only_request, type_str, with_orgs};
use crate::app::{Msg, update};
use chrono::TimeZone;
use crossterm::event::KeyCode;
use datenator_shared::model::Event;

fn device_pending(name: &str) -> OrgSummary {
    let mut o = crate::app::tests::org(name);
    o.org_type = OrgType::Custom("https://sim.example".into());
    o.auth = AuthState::Pending {
        step: PendingStep::Device {
            verification_uri: "https://sim.example/setup/connect".into(),
            user_code: "ABCD-1234".into(),
            expires_at: chrono::Utc
                .with_ymd_and_hms(2026, 11, 24, 12, 10, 0)
                .unwrap(),
        },
    };
    o
}

fn register_screen(app: &App) -> &Register {
    match &app.screen {
        Screen::Register(r) => r,
        s => panic!("not on Register: {s:?}"),
    }
}

/// n, a name, custom domain with `url`, device flow, then Enter until submitted.
fn fill_custom_device(app: &mut App, name: &str, url: &str) -> Vec<Cmd> {
    update(app, key(KeyCode::Char('n')));
    type_str(app, name);
    update(app, key(KeyCode::Tab));
    update(app, key(KeyCode::Right));
    update(app, key(KeyCode::Char('l')));
    update(app, key(KeyCode::Tab));
    type_str(app, url);
    let mut out = vec![];
    for _ in 0..8 {
        out = update(app, key(KeyCode::Enter));
        if !out.is_empty() {
            break;
        }
    }
    out
}

#[test]
fn the_form_sends_org_register_with_a_custom_domain_and_the_device_flow() {
    let mut app = with_orgs(&[]);
    let (id, call) = only_request(fill_custom_device(&mut app, "acme", "http://127.0.0.1:9"));
    assert_eq!(
        call,
        Call::OrgRegister(RegisterOrg {
            name: "acme".into(),
            org_type: OrgType::Custom("http://127.0.0.1:9".into()),
            flow: AuthFlow::Device,
            client_id: None,
            client_secret: None,
        })
    );
    assert_eq!(register_screen(&app).phase, Phase::Submitting);
    // A second Enter while the daemon works does not leave the screen.
    assert_eq!(update(&mut app, key(KeyCode::Enter)), vec![]);
    assert_eq!(register_screen(&app).phase, Phase::Submitting);

    // The reply shows the code; the orgs topic then reports it authorized.
    let pending = device_pending("acme");
    update(
        &mut app,
        Msg::Reply {
            id,
            result: Ok(serde_json::to_value(&pending).unwrap()),
        },
    );
    assert!(register_screen(&app).org() == Some("acme"));
    assert!(app.notice.as_ref().unwrap().text.contains("enter the code"));
    // Nor while the code is on show.
    update(&mut app, key(KeyCode::Enter));
    assert!(register_screen(&app).org() == Some("acme"));
    update(&mut app, Msg::Event(Event::Orgs(vec![pending.clone()])));
    assert!(app.notice.as_ref().unwrap().text.contains("enter the code"));
    let mut done = pending.clone();
    done.auth = AuthState::Authorized;
    update(&mut app, Msg::Event(Event::Orgs(vec![done])));
    let n = app.notice.clone().unwrap();
    assert_eq!(n.tone, Tone::Ok);
    assert!(n.text.contains("acme is authorized"), "{}", n.text);
    // Enter goes back to the list.
    update(&mut app, key(KeyCode::Enter));
    assert_eq!(app.screen, Screen::Orgs);
}

#[test]
fn a_failed_flow_is_announced_with_the_daemons_error() {
    let mut app = with_orgs(&[]);
    let (id, _) = only_request(fill_custom_device(&mut app, "acme", "http://x"));
    let pending = device_pending("acme");
    update(
        &mut app,
        Msg::Reply {
            id,
            result: Ok(serde_json::to_value(&pending).unwrap()),
        },
    );
    let mut failed = pending;
    failed.auth = AuthState::Failed {
        error: "the user denied access: run the flow again".into(),
    };
    update(&mut app, Msg::Event(Event::Orgs(vec![failed])));
    let n = app.notice.unwrap();
    assert_eq!(n.tone, Tone::Error);
    assert!(n.text.contains("denied access"));
}

#[test]
fn a_refused_registration_returns_to_the_form_with_the_error() {
    let mut app = with_orgs(&[]);
    let (id, _) = only_request(fill_custom_device(&mut app, "acme", "http://x"));
    update(
        &mut app,
        Msg::Reply {
            id,
            result: Err("an org called acme already exists: pick another name".into()),
        },
    );
    assert_eq!(register_screen(&app).phase, Phase::Editing);
    let n = app.notice.unwrap();
    assert_eq!(n.tone, Tone::Error);
    assert!(n.text.contains("already exists"));
}

#[test]
fn missing_fields_are_named_and_focused() {
    let mut app = with_orgs(&[]);
    update(&mut app, key(KeyCode::Char('n')));
    let r = register_screen(&app);
    assert_eq!(r.form.focused_id(), "name");
    // Straight to the button with an empty name.
    for _ in 0..5 {
        update(&mut app, key(KeyCode::Enter));
    }
    assert_eq!(update(&mut app, key(KeyCode::Enter)), vec![]);
    assert_eq!(register_screen(&app).form.focused_id(), "name");
    assert!(app.notice.as_ref().unwrap().text.contains("name"));
    // Custom domain without a domain.
    type_str(&mut app, "x");
    update(&mut app, key(KeyCode::Tab));
    update(&mut app, key(KeyCode::Left));
    let r = register_screen(&app);
    assert!(r.form.field("domain").visible);
    let mut app2 = app.clone();
    if let Screen::Register(r) = &mut app2.screen {
        r.form.focus_on("submit");
    }
    assert_eq!(update(&mut app2, key(KeyCode::Enter)), vec![]);
    assert_eq!(register_screen(&app2).form.focused_id(), "domain");
}

#[test]
fn typing_in_the_name_field_does_not_trigger_commands() {
    let mut app = with_orgs(&[]);
    update(&mut app, key(KeyCode::Char('n')));
    assert_eq!(type_str(&mut app, "q?jm"), vec![]);
    assert!(!app.show_help);
    assert_eq!(register_screen(&app).form.value("name"), "q?jm");
    update(&mut app, key(KeyCode::Esc));
    assert_eq!(app.screen, Screen::Orgs);
}

#[test]
fn web_server_flow_takes_the_pasted_url() {
    let mut app = with_orgs(&["acme"]);
    app.screen = Screen::Register(Register::reauthorize("acme"));
    // flow: web server, then the button.
    update(&mut app, key(KeyCode::Right));
    update(&mut app, key(KeyCode::Tab));
    let (id, call) = only_request(update(&mut app, key(KeyCode::Enter)));
    assert_eq!(
        call,
        Call::OrgReauthorize(Reauthorize {
            name: "acme".into(),
            flow: AuthFlow::WebServer
        })
    );
    let mut pending = crate::app::tests::org("acme");
    pending.auth = AuthState::Pending {
        step: PendingStep::Browser {
            authorize_url: "https://login/authorize?x".into(),
        },
    };
    update(
        &mut app,
        Msg::Reply {
            id,
            result: Ok(serde_json::to_value(&pending).unwrap()),
        },
    );
    assert!(register_screen(&app).wants_paste());
    assert!(app.typing());
    // Empty paste is refused with advice.
    assert_eq!(update(&mut app, key(KeyCode::Enter)), vec![]);
    update(
        &mut app,
        Msg::Paste("http://localhost/cb?code=abc\n".into()),
    );
    let (_, call) = only_request(update(&mut app, key(KeyCode::Enter)));
    assert_eq!(
        call,
        Call::OrgCompleteAuthorization(CompleteAuthorization {
            name: "acme".into(),
            redirected_url: "http://localhost/cb?code=abc".into()
        })
    );
}

#[test]
fn the_waiting_flow_animates_and_stops_once_authorized() {
    let mut app = with_orgs(&[]);
    let (id, _) = only_request(fill_custom_device(&mut app, "acme", "http://x"));
    let pending = device_pending("acme");
    update(
        &mut app,
        Msg::Reply {
            id,
            result: Ok(serde_json::to_value(&pending).unwrap()),
        },
    );
    assert!(app.animating());
    update(&mut app, Msg::Tick);
    assert_eq!(app.tick, 1);
    let mut done = pending;
    done.auth = AuthState::Authorized;
    update(&mut app, Msg::Event(Event::Orgs(vec![done])));
    assert!(!app.animating());
    update(&mut app, Msg::Tick);
    assert_eq!(app.tick, 1);
}

/// A refresh of working credentials that is denied: the org stays authorized with its
/// earlier credentials, and the screen and the status line say the refresh failed — not
/// that new credentials are in use.
#[test]
fn a_denied_refresh_says_it_failed_and_that_the_org_keeps_syncing() {
    let mut app = with_orgs(&["acme"]);
    update(&mut app, key(KeyCode::Char('a')));
    assert_eq!(register_screen(&app).reauth_of.as_deref(), Some("acme"));
    update(&mut app, key(KeyCode::Tab));
    let (id, call) = only_request(update(&mut app, key(KeyCode::Enter)));
    assert!(matches!(call, Call::OrgReauthorize(_)), "{call:?}");
    let pending = device_pending("acme");
    update(
        &mut app,
        Msg::Reply {
            id,
            result: Ok(serde_json::to_value(&pending).unwrap()),
        },
    );
    let mut kept = pending.clone();
    kept.auth = AuthState::Authorized;
    kept.refresh_error =
        Some("Salesforce login failed: access_denied — the user denied access".into());
    update(&mut app, Msg::Event(Event::Orgs(vec![kept.clone()])));
    let n = app.notice.clone().unwrap();
    assert_eq!(n.tone, Tone::Warn);
    assert_eq!(
        n.text,
        "Refreshing the credentials of acme failed: Salesforce login failed: access_denied — \
         the user denied access; the org keeps syncing with its earlier credentials."
    );
    let Phase::Authorizing { org, .. } = &register_screen(&app).phase else {
        panic!("the flow's outcome stays on show")
    };
    assert_eq!(org.refresh_error, kept.refresh_error);
    // A later refresh that works is announced as a success again.
    let mut done = kept;
    done.refresh_error = None;
    assert_eq!(next_step(&done).0, Tone::Ok);
}
