//! Unit tests of the Settings screen: the Datasource and Manage tabs.
use super::*;
use crate::app::tests::{key, only_request, type_str, with_orgs};
use crate::app::{Dialog, Msg, update};
use crossterm::event::KeyCode;
use datenator_shared::datasource::{CheckKind, CheckResult};

pub(crate) fn pg_view() -> DatasourceView {
    DatasourceView {
        settings: DatasourceSettings {
            kind: DatasourceKind::Postgres,
            host: "db.internal".into(),
            port: Some(5433),
            database: "sync".into(),
            user: "admin".into(),
            password: Secret::default(),
            tls: TlsMode::Require,
            schema: None,
            sqlite_path: None,
        },
        password_set: true,
        schema: "datenator_acme".into(),
        last_check: None,
        schema_generated: false,
        schema_error: None,
    }
}

pub(crate) fn check_report() -> CheckReport {
    CheckReport {
        results: vec![
            CheckResult {
                check: CheckKind::HostReachable,
                status: CheckStatus::Ok,
                message: "db.internal:5433 accepts connections".into(),
                fix: None,
            },
            CheckResult {
                check: CheckKind::CreateUser,
                status: CheckStatus::Failed,
                message: "admin may not create roles".into(),
                fix: Some("ALTER ROLE admin CREATEROLE;".into()),
            },
        ],
        server_version: Some("16.4".into()),
        writer_mode: None,
    }
}

fn shown(app: &App) -> &Settings {
    match &app.screen {
        Screen::Settings(s) => s,
        s => panic!("not on Settings: {s:?}"),
    }
}

fn opened(view: Option<DatasourceView>) -> App {
    let mut app = with_orgs(&["acme"]);
    let (id, call) = only_request(update(&mut app, key(KeyCode::Char('s'))));
    assert_eq!(
        call,
        Call::DatasourceGet(OrgRef {
            name: "acme".into()
        })
    );
    assert_eq!(shown(&app).view, Load::Loading);
    update(
        &mut app,
        Msg::Reply {
            id,
            result: Ok(serde_json::to_value(view).unwrap()),
        },
    );
    app
}

fn press_button(app: &mut App, id: &str) -> Vec<Cmd> {
    if let Screen::Settings(s) = &mut app.screen {
        s.datasource.focus_on(id);
    }
    update(app, key(KeyCode::Enter))
}

#[test]
fn the_stored_datasource_fills_the_form_and_an_empty_password_keeps_it() {
    let mut app = opened(Some(pg_view()));
    let s = shown(&app);
    assert_eq!(s.datasource.value("host"), "db.internal");
    assert_eq!(s.datasource.value("port"), "5433");
    assert_eq!(s.datasource.field("tls").display(), "require");
    assert_eq!(
        s.datasource.field("password").hint,
        "set: leave empty to keep it"
    );
    assert!(!s.datasource.field("sqlite_path").visible);
    let (id, call) = only_request(press_button(&mut app, "save"));
    let Call::DatasourceSet(set) = call else {
        panic!()
    };
    assert_eq!(set.settings.host, "db.internal");
    assert_eq!(set.settings.port, Some(5433));
    assert!(set.settings.password.is_empty());
    update(
        &mut app,
        Msg::Reply {
            id,
            result: Ok(serde_json::to_value(pg_view()).unwrap()),
        },
    );
    assert_eq!(app.notice.unwrap().tone, Tone::Ok);
}

#[test]
fn mariadb_sets_the_sync_users_host_with_save_and_the_password_hint_follows_typing() {
    let mut view = pg_view();
    view.settings.kind = DatasourceKind::Mysql;
    view.password_set = false;
    let mut app = opened(Some(view.clone()));
    assert!(shown(&app).datasource.field("sync_host").visible);
    if let Screen::Settings(s) = &mut app.screen {
        s.datasource.focus_on("password");
    }
    assert_eq!(shown(&app).datasource.field("password").hint, "not set");
    update(&mut app, key(KeyCode::Char('x')));
    assert_eq!(
        shown(&app).datasource.field("password").hint,
        "typed: Save stores it"
    );
    if let Screen::Settings(s) = &mut app.screen {
        s.datasource.set_value("password", "");
        s.datasource.set_value("sync_host", "10.0.0.5");
    }
    let cmds = press_button(&mut app, "save");
    assert_eq!(cmds.len(), 2, "{cmds:?}");
    let Cmd::Request {
        id,
        call: Call::DatasourceSyncHost(h),
    } = &cmds[1]
    else {
        panic!("{cmds:?}")
    };
    assert_eq!(h.host.as_deref(), Some("10.0.0.5"));
    let mut details = serde_json::to_value(view).unwrap();
    details["sync_host"] = "10.0.0.5".into();
    update(
        &mut app,
        Msg::Reply {
            id: *id,
            result: Ok(details),
        },
    );
    assert!(app.notice.as_ref().unwrap().text.contains("10.0.0.5"));
    // Saved: nothing differs any more.
    assert!(!shown(&app).unsaved());
    assert_eq!(shown(&app).sync_host.as_deref(), Some("10.0.0.5"));
    // PostgreSQL has no such field.
    let app = opened(Some(pg_view()));
    assert!(!shown(&app).datasource.field("sync_host").visible);
}

#[test]
fn sqlite_shows_only_the_path_and_bad_ports_are_refused() {
    let mut app = opened(None);
    assert_eq!(shown(&app).view, Load::Loaded(None));
    // Kind is focused first: → twice to sqlite.
    update(&mut app, key(KeyCode::Right));
    update(&mut app, key(KeyCode::Right));
    let s = shown(&app);
    assert!(!s.datasource.field("host").visible);
    assert!(s.datasource.field("sqlite_path").visible);
    assert_eq!(press_button(&mut app, "save"), vec![]);
    assert_eq!(shown(&app).datasource.focused_id(), "sqlite_path");
    type_str(&mut app, "/tmp/acme.db");
    let (_, call) = only_request(press_button(&mut app, "save"));
    let Call::DatasourceSet(set) = call else {
        panic!()
    };
    assert_eq!(set.settings.kind, DatasourceKind::Sqlite);
    assert_eq!(set.settings.sqlite_path, Some("/tmp/acme.db".into()));

    // Back to postgres with a port that is not a number.
    if let Screen::Settings(s) = &mut app.screen {
        s.datasource.focus_on("kind");
    }
    update(&mut app, key(KeyCode::Right));
    update(&mut app, key(KeyCode::Down));
    type_str(&mut app, "h");
    update(&mut app, key(KeyCode::Down));
    type_str(&mut app, "54x");
    assert_eq!(press_button(&mut app, "save"), vec![]);
    assert_eq!(shown(&app).datasource.focused_id(), "port");
    assert!(app.notice.unwrap().text.contains("1 to 65535"));
}

#[test]
fn check_results_and_schema_generation_are_reported() {
    let mut app = opened(Some(pg_view()));
    let (id, call) = only_request(press_button(&mut app, "check"));
    assert_eq!(
        call,
        Call::DatasourceCheck(OrgRef {
            name: "acme".into()
        })
    );
    update(
        &mut app,
        Msg::Reply {
            id,
            result: Ok(serde_json::to_value(check_report()).unwrap()),
        },
    );
    assert_eq!(shown(&app).check, Some(check_report()));
    assert_eq!(app.notice.as_ref().unwrap().tone, Tone::Error);
    let (id, _) = only_request(press_button(&mut app, "generate"));
    let mut view = pg_view();
    view.schema_error = Some("permission denied to create role: see the check".into());
    update(
        &mut app,
        Msg::Reply {
            id,
            result: Ok(serde_json::to_value(&view).unwrap()),
        },
    );
    let n = app.notice.clone().unwrap();
    assert_eq!(n.tone, Tone::Error);
    assert!(
        n.text
            .starts_with("DB schema generated: no — permission denied"),
        "{}",
        n.text
    );
    let (id, _) = only_request(press_button(&mut app, "generate"));
    view.schema_generated = true;
    view.schema_error = None;
    update(
        &mut app,
        Msg::Reply {
            id,
            result: Ok(serde_json::to_value(&view).unwrap()),
        },
    );
    assert_eq!(
        app.notice.unwrap().text,
        "DB schema generated: yes (datenator_acme)."
    );
}

#[test]
fn check_and_generate_ask_to_save_unsaved_changes_first() {
    let mut app = opened(None);
    assert_eq!(press_button(&mut app, "check"), vec![]);
    assert!(
        app.notice
            .as_ref()
            .unwrap()
            .text
            .contains("Save the datasource first")
    );
    let mut app = opened(Some(pg_view()));
    if let Screen::Settings(s) = &mut app.screen {
        s.datasource.focus_on("host");
    }
    type_str(&mut app, "x");
    assert_eq!(press_button(&mut app, "generate"), vec![]);
    assert!(
        app.notice
            .as_ref()
            .unwrap()
            .text
            .contains("unsaved changes")
    );
    if let Screen::Settings(s) = &mut app.screen {
        s.datasource.focus_on("host");
    }
    update(&mut app, key(KeyCode::Backspace));
    let (_, call) = only_request(press_button(&mut app, "generate"));
    assert_eq!(
        call,
        Call::SchemaGenerate(OrgRef {
            name: "acme".into()
        })
    );
}

#[test]
fn manage_tab_reauthorizes_and_deletes() {
    let mut app = opened(None);
    update(&mut app, key(KeyCode::Tab));
    assert_eq!(shown(&app).tab, Tab::Manage);
    assert!(!app.typing());
    // ↑ wraps to the last button; Enter on "Delete org…" opens the dialog.
    update(&mut app, key(KeyCode::Up));
    assert_eq!(shown(&app).manage.focused_id(), "delete");
    update(&mut app, key(KeyCode::Enter));
    assert!(matches!(app.dialog, Some(Dialog::Delete { .. })));
    update(&mut app, key(KeyCode::Esc));
    update(&mut app, key(KeyCode::Char('k')));
    assert_eq!(shown(&app).manage.focused_id(), "reauthorize");
    update(&mut app, key(KeyCode::Enter));
    let Screen::Register(r) = &app.screen else {
        panic!("{:?}", app.screen)
    };
    assert_eq!(r.reauth_of.as_deref(), Some("acme"));
}

#[test]
fn nothing_is_saved_over_a_datasource_still_loading() {
    let mut app = with_orgs(&["acme"]);
    update(&mut app, key(KeyCode::Char('s')));
    if let Screen::Settings(s) = &mut app.screen {
        s.datasource.focus_on("save");
    }
    assert_eq!(update(&mut app, key(KeyCode::Enter)), vec![]);
    assert!(app.notice.unwrap().text.contains("still loading"));
}

#[test]
fn a_load_error_is_shown() {
    let mut app = with_orgs(&["acme"]);
    let (id, _) = only_request(update(&mut app, key(KeyCode::Char('s'))));
    update(
        &mut app,
        Msg::Reply {
            id,
            result: Err("the daemon's store is locked: retry".into()),
        },
    );
    assert!(matches!(shown(&app).view, Load::Failed(_)));
    assert_eq!(app.notice.unwrap().tone, Tone::Error);
}

mod manage_tests {
    use super::*;
    use crate::app::tests::{key, only_request, type_str, with_orgs};
    use crate::app::{Msg, update};
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use datenator_shared::protocol::SetSync;

    fn manage() -> App {
        let mut app = with_orgs(&["acme"]);
        update(&mut app, key(KeyCode::Char('s')));
        update(&mut app, key(KeyCode::Tab));
        app
    }

    fn focus(app: &mut App, id: &str) {
        if let Screen::Settings(s) = &mut app.screen {
            s.manage.focus_on(id);
        }
    }

    #[test]
    fn polling_and_budget_are_filled_validated_and_saved() {
        let mut app = manage();
        let Screen::Settings(s) = &app.screen else {
            panic!()
        };
        assert_eq!(s.manage.value("polling"), "60");
        assert_eq!(s.manage.value("budget"), "50");
        focus(&mut app, "budget");
        let ctrl_u = Msg::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
        update(&mut app, ctrl_u);
        type_str(&mut app, "lots");
        focus(&mut app, "save_org");
        assert_eq!(update(&mut app, key(KeyCode::Enter)), vec![]);
        assert!(app.notice.as_ref().unwrap().text.contains("1 to 100"));
        for _ in 0..4 {
            update(&mut app, key(KeyCode::Backspace));
        }
        type_str(&mut app, "25%");
        focus(&mut app, "save_org");
        let (id, call) = only_request(update(&mut app, key(KeyCode::Enter)));
        assert_eq!(
            call,
            Call::OrgSettings(OrgSettings {
                name: "acme".into(),
                polling_interval_secs: Some(60),
                api_budget_percent: Some(25)
            })
        );
        let mut o = crate::app::tests::org("acme");
        o.api_budget_percent = 25;
        update(
            &mut app,
            Msg::Reply {
                id,
                result: Ok(serde_json::to_value(o).unwrap()),
            },
        );
        assert!(app.notice.unwrap().text.contains("25 %"));
    }

    #[test]
    fn sync_toggles_from_the_manage_tab_and_the_org_list() {
        let mut app = manage();
        focus(&mut app, "sync");
        let (id, call) = only_request(update(&mut app, key(KeyCode::Enter)));
        assert_eq!(
            call,
            Call::OrgSetSync(SetSync {
                name: "acme".into(),
                enabled: true
            })
        );
        // Pressing again while it runs sends nothing.
        assert_eq!(update(&mut app, key(KeyCode::Enter)), vec![]);
        let mut o = crate::app::tests::org("acme");
        o.sync_enabled = true;
        update(
            &mut app,
            Msg::Reply {
                id,
                result: Ok(serde_json::to_value(&o).unwrap()),
            },
        );
        assert_eq!(app.notice.as_ref().unwrap().text, "Sync of acme is on.");

        let mut app = with_orgs(&["acme"]);
        let (_, call) = only_request(update(&mut app, key(KeyCode::Char('e'))));
        assert!(matches!(
            call,
            Call::OrgSetSync(SetSync { enabled: true, .. })
        ));
        let (id, call) = only_request(update(&mut app, key(KeyCode::Char('y'))));
        assert_eq!(
            call,
            Call::OrgSyncNow(OrgRef {
                name: "acme".into()
            })
        );
        update(
            &mut app,
            Msg::Reply {
                id,
                result: Ok(serde_json::Value::Null),
            },
        );
        assert!(app.notice.unwrap().text.contains("now"));
    }

    #[test]
    fn the_schema_check_reports_drift_per_mapping() {
        use datenator_shared::model::{Drift, MappingDrift};
        let mut app = manage();
        focus(&mut app, "schema_check");
        let (id, call) = only_request(update(&mut app, key(KeyCode::Enter)));
        assert_eq!(
            call,
            Call::SchemaCheck(OrgRef {
                name: "acme".into()
            })
        );
        // Pressing again while it runs sends nothing.
        assert_eq!(update(&mut app, key(KeyCode::Enter)), vec![]);
        let report = vec![
            MappingDrift {
                object: "Account".into(),
                drift: vec![],
                can_continue: true,
                advice: String::new(),
            },
            MappingDrift {
                object: "Invoice__c".into(),
                drift: vec![
                    Drift::FieldRemoved {
                        field: "Tier__c".into(),
                    },
                    Drift::NewRequiredField {
                        field: "Region__c".into(),
                    },
                ],
                can_continue: false,
                advice: "Edit the mapping of Invoice__c: add Region__c, drop Tier__c.".into(),
            },
        ];
        update(
            &mut app,
            Msg::Reply {
                id,
                result: Ok(serde_json::to_value(report).unwrap()),
            },
        );
        let n = app.notice.clone().unwrap();
        assert_eq!(n.tone, Tone::Error);
        assert!(n.text.contains("1 mapping(s) drifted"), "{}", n.text);
        let Some(Dialog::Report { lines, .. }) = &app.dialog else {
            panic!("{:?}", app.dialog)
        };
        let text: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(text[0], "Account: no drift");
        assert!(text.iter().any(|l| l.contains("Tier__c was removed")));
        assert!(text.iter().any(|l| l.contains("Region__c is now required")));
        update(&mut app, key(KeyCode::Esc));
        assert_eq!(app.dialog, None);
        // No drift at all says so.
        focus(&mut app, "schema_check");
        let (id, _) = only_request(update(&mut app, key(KeyCode::Enter)));
        update(
            &mut app,
            Msg::Reply {
                id,
                result: Ok(serde_json::json!([{"object": "Account", "drift": [],
                    "can_continue": true, "advice": ""}])),
            },
        );
        assert_eq!(
            app.notice.unwrap().text,
            "Schema check of acme: no drift in 1 mapping(s)."
        );
    }
}
