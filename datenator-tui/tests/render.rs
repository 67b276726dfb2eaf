//! Snapshot tests of every screen state, rendered into ratatui's TestBackend.
use chrono::TimeZone;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use datenator_shared::datasource::{
    CheckKind, CheckReport, CheckResult, CheckStatus, DatasourceKind, DatasourceSettings, Secret,
    TlsMode,
};
use datenator_shared::model::{
    ApiUsage, AuthState, ConflictPolicy, DaemonStatus, DatasourceView, Direction, Event, LogLine,
    Mapping, ObjectInfo, ObjectState, ObjectStatus, OrgSummary, OrgType, PendingStep, PlanStepView,
    PlanView, UsageForecast,
};
use datenator_shared::protocol::HandshakeOk;
use datenator_tui::app::{self, App, Msg, Register, Screen};
use datenator_tui::ui;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn render(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| ui::draw(f, app)).unwrap();
    terminal.backend().to_string()
}

fn connected() -> App {
    let mut app = App::new("/run/user/1000/datenator/datenatord.sock", false);
    app::update(
        &mut app,
        Msg::Connected(HandshakeOk {
            protocol: 1,
            daemon_version: "0.1.0".into(),
        }),
    );
    app::update(
        &mut app,
        Msg::Event(Event::Status(DaemonStatus {
            version: "0.1.0".into(),
            protocol: 1,
            pid: 42,
            started_at: chrono::Utc
                .with_ymd_and_hms(2026, 11, 24, 12, 0, 0)
                .unwrap(),
            uptime_secs: 5,
            socket_path: "/run/user/1000/datenator/datenatord.sock".into(),
            state_dir: "/var/lib/datenator".into(),
            config_file: None,
            orgs: 0,
            connections: 1,
            fleet: None,
        })),
    );
    app
}

fn sample_orgs() -> Vec<OrgSummary> {
    vec![
        OrgSummary {
            name: "acme-prod".into(),
            org_id: Some("00D000000000001AAA".into()),
            org_type: OrgType::Production,
            instance_url: Some("https://acme.my.salesforce.com".into()),
            sync_enabled: true,
            datasource_checked: true,
            schema_generated: true,
            metadata_downloaded_at: Some(
                chrono::Utc
                    .with_ymd_and_hms(2026, 11, 20, 9, 30, 0)
                    .unwrap(),
            ),
            auth: AuthState::Authorized,
            api_usage: Some(ApiUsage {
                used: 1234,
                max: 15000,
            }),
            polling_interval_secs: 60,
            api_budget_percent: 50,
            api_forecast: None,
            refresh_error: None,
            event_allocation: None,
            run_by: None,
            pinned_to: None,
        },
        OrgSummary {
            name: "acme-uat".into(),
            org_id: None,
            org_type: OrgType::Sandbox,
            instance_url: None,
            sync_enabled: false,
            datasource_checked: false,
            schema_generated: false,
            metadata_downloaded_at: None,
            auth: AuthState::NeedsReauthorization {
                reason: "refresh token revoked".into(),
            },
            api_usage: None,
            polling_interval_secs: 60,
            api_budget_percent: 50,
            api_forecast: None,
            refresh_error: None,
            event_allocation: None,
            run_by: None,
            pinned_to: None,
        },
    ]
}

#[test]
fn orgs_empty_state() {
    let mut app = connected();
    app::update(&mut app, Msg::Event(Event::Orgs(vec![])));
    insta::assert_snapshot!(render(&app, 80, 24));
}

#[test]
fn orgs_loading() {
    insta::assert_snapshot!(render(&connected(), 80, 24));
}

#[test]
fn orgs_list_80x24_and_wide() {
    let mut app = connected();
    app::update(&mut app, Msg::Event(Event::Orgs(sample_orgs())));
    insta::assert_snapshot!("orgs_list_80x24", render(&app, 80, 24));
    insta::assert_snapshot!("orgs_list_140x30", render(&app, 140, 30));
}

/// In a fleet, the Orgs screen says which daemon runs the selected org (and its pin) and
/// how every daemon of the fleet is doing.
#[test]
fn orgs_in_a_fleet_say_who_runs_them() {
    use datenator_shared::model::{FleetMember, FleetView};
    let mut app = connected();
    let member = |name: &str, live: bool, orgs: usize| FleetMember {
        name: name.into(),
        host: format!("{name}.example"),
        pid: 7,
        version: "0.1.0".into(),
        live,
        leaving: false,
        silent_secs: if live { 1.0 } else { 21.0 },
        orgs,
        connections: 0,
        me: name == "sync-1",
    };
    let mut status = app.status.clone().unwrap();
    status.fleet = Some(FleetView {
        me: "sync-1".into(),
        members: vec![
            member("sync-1", true, 1),
            member("sync-2", true, 0),
            member("sync-3", false, 0),
        ],
    });
    app::update(&mut app, Msg::Event(Event::Status(status)));
    let mut orgs = sample_orgs();
    orgs[0].run_by = Some("sync-1".into());
    orgs[0].pinned_to = Some("sync-1".into());
    app::update(&mut app, Msg::Event(Event::Orgs(orgs)));
    insta::assert_snapshot!(render(&app, 80, 24));
}

/// Every state an org's Sync column shows keeps its words at 80 columns, and a name its
/// row cuts shows whole (with its domain) while selected.
#[test]
fn orgs_in_every_state() {
    let mut orgs = sample_orgs();
    orgs.push(device_pending());
    let mut failed = device_pending();
    failed.name = "acme-qa".into();
    failed.auth = AuthState::Failed {
        error: "the user denied access on the verification page".into(),
    };
    orgs.push(failed);
    let mut long = sample_orgs().remove(0);
    long.name = "acme-production-emea-customer-service".into();
    long.org_type = OrgType::Custom("https://acme-emea.my.salesforce.com".into());
    long.sync_enabled = false;
    orgs.push(long);
    let mut app = connected();
    app::update(&mut app, Msg::Event(Event::Orgs(orgs)));
    for _ in 0..4 {
        key(&mut app, KeyCode::Down);
    }
    small_and_usual("orgs_every_state", &app);
    let screen = render(&app, 80, 24);
    for word in ["authorizing", "auth failed", "re-auth!", " off "] {
        assert!(screen.contains(word), "{word}:\n{screen}");
    }
}

#[test]
fn disconnected_banner() {
    let mut app = App::new("/run/user/1000/datenator/datenatord.sock", false);
    app::update(
        &mut app,
        Msg::Disconnected {
            reason: "no daemon is listening on /run/user/1000/datenator/datenatord.sock: start it (`datenatord`, or `systemctl start datenatord` for the service) or point to its socket with --socket / DATENATOR_SOCKET".into(),
            retry_in_secs: 4,
        },
    );
    insta::assert_snapshot!(render(&app, 80, 24));
}

#[test]
fn help_popup() {
    let mut app = connected();
    app::update(&mut app, Msg::Event(Event::Orgs(vec![])));
    app.show_help = true;
    insta::assert_snapshot!(render(&app, 80, 24));
}

#[test]
fn tiny_terminal_does_not_panic() {
    let mut app = connected();
    app::update(&mut app, Msg::Event(Event::Orgs(sample_orgs())));
    app.show_help = true;
    for (w, h) in [(1, 1), (10, 3), (20, 5), (80, 4)] {
        render(&app, w, h);
    }
}

#[test]
fn no_color_renders_the_same_text() {
    let mut app = connected();
    app::update(&mut app, Msg::Event(Event::Orgs(sample_orgs())));
    let coloured = render(&app, 80, 24);
    app.no_color = true;
    assert_eq!(render(&app, 80, 24), coloured);
}

// ---- helpers for the screens below ----

fn key(app: &mut App, code: KeyCode) {
    app::update(app, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

fn type_str(app: &mut App, s: &str) {
    for c in s.chars() {
        key(app, KeyCode::Char(c));
    }
}

/// Answers the oldest request in flight with `value`.
fn answer(app: &mut App, value: serde_json::Value) {
    let id = *app.pending.keys().next().expect("a request in flight");
    app::update(
        app,
        Msg::Reply {
            id,
            result: Ok(value),
        },
    );
}

fn fail(app: &mut App, error: &str) {
    let id = *app.pending.keys().next().expect("a request in flight");
    app::update(
        app,
        Msg::Reply {
            id,
            result: Err(error.into()),
        },
    );
}

fn with_orgs() -> App {
    let mut app = connected();
    app::update(&mut app, Msg::Event(Event::Orgs(sample_orgs())));
    app
}

fn device_pending() -> OrgSummary {
    let mut o = sample_orgs().remove(0);
    o.name = "acme-dev".into();
    o.org_type = OrgType::Custom("https://acme-dev.my.salesforce.com".into());
    o.org_id = None;
    o.auth = AuthState::Pending {
        step: PendingStep::Device {
            verification_uri: "https://acme-dev.my.salesforce.com/setup/connect".into(),
            user_code: "WXYZ-1234".into(),
            expires_at: chrono::Utc
                .with_ymd_and_hms(2026, 11, 24, 12, 10, 0)
                .unwrap(),
        },
    };
    o
}

fn object(name: &str, label: &str, fields: usize) -> ObjectInfo {
    ObjectInfo {
        name: name.into(),
        label: label.into(),
        custom: name.ends_with("__c"),
        createable: true,
        updateable: true,
        deletable: true,
        fields: Some(fields),
    }
}

fn objects() -> serde_json::Value {
    serde_json::to_value(vec![
        object("Account", "Account", 58),
        object("AccountContactRelation", "Account Contact Relationship", 17),
        object("Contact", "Contact", 62),
        object("Invoice__c", "Invoice", 9),
        object("Opportunity", "Opportunity", 44),
    ])
    .unwrap()
}

fn pg_view() -> DatasourceView {
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
        schema: "datenator_acme_prod".into(),
        last_check: None,
        schema_generated: false,
        schema_error: None,
    }
}

fn check_report() -> CheckReport {
    CheckReport {
        results: vec![
            CheckResult {
                check: CheckKind::HostReachable,
                status: CheckStatus::Ok,
                message: "db.internal:5433 accepts connections".into(),
                fix: None,
            },
            CheckResult {
                check: CheckKind::Authentication,
                status: CheckStatus::Ok,
                message: "admin logged in".into(),
                fix: None,
            },
            CheckResult {
                check: CheckKind::CreateUser,
                status: CheckStatus::Failed,
                message: "admin may not create roles".into(),
                fix: Some("ALTER ROLE admin CREATEROLE;".into()),
            },
            CheckResult {
                check: CheckKind::CreateTrigger,
                status: CheckStatus::Skipped,
                message: "not run: an earlier check failed".into(),
                fix: None,
            },
        ],
        server_version: Some("16.4".into()),
        writer_mode: None,
    }
}

fn both(name: &str, app: &App) {
    insta::assert_snapshot!(format!("{name}_80x24"), render(app, 80, 24));
    insta::assert_snapshot!(format!("{name}_140x40"), render(app, 140, 40));
}

/// The two sizes the TUI is tried at over SSH: 80×24 and 120×35 (the app told the size,
/// as the terminal tells it, since scrolling depends on it).
fn small_and_usual(name: &str, app: &App) {
    for (w, h) in [(80, 24), (120, 35)] {
        let mut app = app.clone();
        app::update(
            &mut app,
            Msg::Resize {
                width: w,
                height: h,
            },
        );
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), render(&app, w, h));
    }
}

// ---- status line, dialogs ----

#[test]
fn pending_marker_and_outcome_in_the_status_line() {
    let mut app = with_orgs();
    key(&mut app, KeyCode::Char('m'));
    insta::assert_snapshot!("status_pending", render(&app, 80, 24));
    fail(
        &mut app,
        "acme-prod is not authorized: run the flow again (s, Manage, Refresh credentials)",
    );
    insta::assert_snapshot!("status_error", render(&app, 80, 24));
}

/// A message longer than the status line's three rows: `!` opens it whole.
#[test]
fn a_long_status_message_opens_whole() {
    let mut app = with_orgs();
    key(&mut app, KeyCode::Char('m'));
    fail(
        &mut app,
        "Salesforce answered REQUEST_LIMIT_EXCEEDED \
         (TotalRequests Limit exceeded: the org has used its 15000 API calls of the last 24 hours). \
         Sync holds back until usage falls; the metadata can be downloaded again once calls are \
         available — the Orgs screen shows the org's usage and its forecast, and the daemon's log \
         (l) says when the limit was met and when usage is checked next.",
    );
    let screen = render(&app, 80, 24);
    assert!(screen.contains(" !  whole message"), "{screen}");
    key(&mut app, KeyCode::Char('!'));
    small_and_usual("notice_whole", &app);
}

#[test]
fn metadata_report_dialog() {
    let mut app = with_orgs();
    key(&mut app, KeyCode::Char('m'));
    answer(
        &mut app,
        serde_json::json!({
            "listed": 351, "objects": 134, "described": 134,
            "left_out": {"big object": 3, "custom metadata type": 4, "external object": 4,
                         "history, share, feed or change-event object": 179, "not queryable": 8,
                         "not replicateable (no deleted log)": 7, "not retrievable": 7,
                         "platform event": 5},
            "added": ["Account", "Contact", "Invoice__c"],
            "removed": ["Legacy__c"], "changed": [], "api_calls": 7,
            "downloaded_at": "2026-11-24T12:00:00Z"
        }),
    );
    both("metadata_report", &app);
}

#[test]
fn delete_dialog() {
    let mut app = with_orgs();
    key(&mut app, KeyCode::Char('d'));
    type_str(&mut app, "acme-pro");
    both("delete_dialog", &app);
    type_str(&mut app, "d");
    insta::assert_snapshot!("delete_dialog_confirmed", render(&app, 80, 24));
    key(&mut app, KeyCode::Enter);
    answer(
        &mut app,
        serde_json::json!({"name": "acme-prod", "token_revoked": false, "schema_dropped": true,
            "warnings": ["could not revoke the token (Salesforce unreachable): revoke it in Setup → Connected Apps OAuth Usage"]}),
    );
    insta::assert_snapshot!("delete_report", render(&app, 80, 24));
}

// ---- register ----

#[test]
fn register_form() {
    let mut app = with_orgs();
    key(&mut app, KeyCode::Char('n'));
    type_str(&mut app, "acme-dev");
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Left);
    key(&mut app, KeyCode::Tab);
    type_str(&mut app, "acme-dev");
    key(&mut app, KeyCode::Tab);
    both("register_form", &app);
    // Help lists the form's keys (F1 while typing).
    key(&mut app, KeyCode::F(1));
    insta::assert_snapshot!("register_help", render(&app, 80, 24));
}

/// A long domain and a connected app's 85-character client id wrap, whole, at 80 columns.
#[test]
fn register_form_with_long_values() {
    let mut app = with_orgs();
    key(&mut app, KeyCode::Char('n'));
    type_str(&mut app, "acme-uat");
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Left);
    key(&mut app, KeyCode::Tab);
    type_str(&mut app, "https://acme--uat.sandbox.my.salesforce.com");
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Tab);
    type_str(
        &mut app,
        "3MVG9fe4g9fhX0E5EXAMPLE.kM6KnTp2nYrh3bZ2Jm5V9ok6DbW1q8sEXAMPLEq0n8aGJmqK0wRxKMLw7uQBbB",
    );
    small_and_usual("register_form_long_values", &app);
}

#[test]
fn register_submitting_and_refused() {
    let mut app = with_orgs();
    key(&mut app, KeyCode::Char('n'));
    type_str(&mut app, "acme-prod");
    for _ in 0..6 {
        key(&mut app, KeyCode::Enter);
    }
    insta::assert_snapshot!("register_submitting", render(&app, 80, 24));
    fail(
        &mut app,
        "an org called acme-prod already exists: pick another name, or delete the old one first",
    );
    insta::assert_snapshot!("register_refused", render(&app, 80, 24));
}

fn authorizing() -> App {
    let mut app = with_orgs();
    key(&mut app, KeyCode::Char('n'));
    type_str(&mut app, "acme-dev");
    for _ in 0..6 {
        key(&mut app, KeyCode::Enter);
    }
    answer(&mut app, serde_json::to_value(device_pending()).unwrap());
    app
}

#[test]
fn register_device_flow() {
    let app = authorizing();
    both("register_device", &app);
}

#[test]
fn register_device_flow_outcomes() {
    let mut app = authorizing();
    let mut orgs = sample_orgs();
    let mut done = device_pending();
    done.auth = AuthState::Authorized;
    done.org_id = Some("00D000000000002AAA".into());
    done.instance_url = Some("https://acme-dev.my.salesforce.com".into());
    orgs.push(done.clone());
    app::update(&mut app, Msg::Event(Event::Orgs(orgs.clone())));
    insta::assert_snapshot!("register_authorized", render(&app, 80, 24));

    let mut app = authorizing();
    done.auth = AuthState::Failed {
        error: "the user denied access on the verification page: run the flow again".into(),
    };
    orgs.pop();
    orgs.push(done);
    app::update(&mut app, Msg::Event(Event::Orgs(orgs)));
    insta::assert_snapshot!("register_failed", render(&app, 80, 24));
}

#[test]
fn register_web_server_flow() {
    let mut app = with_orgs();
    app.screen = Screen::Register(Register::reauthorize("acme-uat"));
    key(&mut app, KeyCode::Right);
    insta::assert_snapshot!("reauthorize_form", render(&app, 80, 24));
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Enter);
    let mut o = sample_orgs().remove(1);
    o.auth = AuthState::Pending {
        step: PendingStep::Browser {
            authorize_url: "https://test.salesforce.com/services/oauth2/authorize?response_type=code&client_id=3MVG9abc&redirect_uri=http%3A%2F%2Flocalhost%3A1717%2Fcallback&code_challenge=xyz&state=s1".into(),
        },
    };
    answer(&mut app, serde_json::to_value(o).unwrap());
    app::update(
        &mut app,
        Msg::Paste("http://localhost:1717/callback?code=aPrx&state=s1".into()),
    );
    both("register_web_server", &app);
    // Authorized again: no first-time steps.
    let mut orgs = sample_orgs();
    orgs[1].auth = AuthState::Authorized;
    app::update(&mut app, Msg::Event(Event::Orgs(orgs)));
    insta::assert_snapshot!("reauthorized", render(&app, 80, 24));
}

/// A refresh of acme-prod's working credentials that the user denied: the re-authorize
/// screen and the Orgs screen say the refresh failed and that the org keeps syncing.
#[test]
fn a_denied_refresh_says_it_failed() {
    let mut app = with_orgs();
    key(&mut app, KeyCode::Char('a'));
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Enter);
    let mut o = sample_orgs().remove(0);
    o.auth = device_pending().auth;
    answer(&mut app, serde_json::to_value(&o).unwrap());
    let mut orgs = sample_orgs();
    orgs[0].refresh_error = Some(
        "Salesforce login failed: access_denied (end-user denied authorization) — the user denied access"
            .into(),
    );
    app::update(&mut app, Msg::Event(Event::Orgs(orgs)));
    small_and_usual("refresh_denied", &app);
    let screen = render(&app, 80, 24);
    assert!(screen.contains("The refresh failed"), "{screen}");
    assert!(!screen.contains("new credentials are in use"), "{screen}");
    key(&mut app, KeyCode::Esc);
    small_and_usual("orgs_refresh_denied", &app);
    let screen = render(&app, 80, 24);
    assert!(
        screen.contains("Refreshing the credentials of acme-prod failed"),
        "{screen}"
    );
}

// ---- settings ----

fn settings(view: Option<DatasourceView>) -> App {
    let mut app = with_orgs();
    key(&mut app, KeyCode::Char('s'));
    answer(&mut app, serde_json::to_value(view).unwrap());
    app
}

#[test]
fn settings_loading_and_error() {
    let mut app = with_orgs();
    key(&mut app, KeyCode::Char('s'));
    insta::assert_snapshot!("settings_loading", render(&app, 80, 24));
    fail(&mut app, "the daemon's store is busy: try again");
    insta::assert_snapshot!("settings_load_error", render(&app, 80, 24));
}

#[test]
fn settings_empty_datasource() {
    let app = settings(None);
    both("settings_empty", &app);
}

#[test]
fn settings_sqlite() {
    let mut app = settings(None);
    key(&mut app, KeyCode::Left);
    key(&mut app, KeyCode::Down);
    type_str(&mut app, "/var/lib/datenator/acme.db");
    insta::assert_snapshot!("settings_sqlite", render(&app, 80, 24));
}

#[test]
fn settings_with_check_results() {
    let mut app = settings(Some(pg_view()));
    if let Screen::Settings(s) = &mut app.screen {
        s.datasource.focus_on("check");
    }
    key(&mut app, KeyCode::Enter);
    answer(&mut app, serde_json::to_value(check_report()).unwrap());
    both("settings_checked", &app);
    if let Screen::Settings(s) = &mut app.screen {
        s.datasource.focus_on("generate");
    }
    key(&mut app, KeyCode::Enter);
    let mut view = pg_view();
    view.schema_error =
        Some("permission denied to create role: grant CREATEROLE (see the check)".into());
    answer(&mut app, serde_json::to_value(view).unwrap());
    insta::assert_snapshot!("settings_schema_error", render(&app, 80, 24));
    // With the error and the check results shown, every control stays on screen as the
    // focus reaches it, at 80×24 too.
    for (id, label) in [
        ("save", "› [ Save ]"),
        ("check", "› [ Check datasource ]"),
        ("generate", "› [ Generate schema ]"),
        ("host", "› Host"),
    ] {
        let mut app = app.clone();
        if let Screen::Settings(s) = &mut app.screen {
            s.check = Some(check_report());
            s.datasource.focus_on(id);
        }
        let screen = render(&app, 80, 24);
        assert!(screen.contains(label), "{id} not on screen:\n{screen}");
        if id == "generate" {
            insta::assert_snapshot!("settings_error_and_checks_80x24", screen);
            let mut app = app.clone();
            app::update(
                &mut app,
                Msg::Resize {
                    width: 120,
                    height: 35,
                },
            );
            insta::assert_snapshot!("settings_error_and_checks_120x35", render(&app, 120, 35));
        }
    }
}

/// A check that passes lists every check it ran, not only a count (issue 14, point 8).
#[test]
fn a_passing_check_lists_each_check() {
    let mut app = settings(Some(pg_view()));
    if let Screen::Settings(s) = &mut app.screen {
        s.datasource.focus_on("check");
    }
    key(&mut app, KeyCode::Enter);
    let ok = |check, message: &str| CheckResult {
        check,
        status: CheckStatus::Ok,
        message: message.into(),
        fix: None,
    };
    let report = CheckReport {
        results: vec![
            ok(
                CheckKind::HostReachable,
                "db.internal:5433 accepts connections",
            ),
            ok(CheckKind::Authentication, "admin logged in"),
            ok(CheckKind::DatabaseExists, "database sync exists"),
            ok(CheckKind::ServerVersion, "PostgreSQL 16.4 is supported"),
            ok(CheckKind::CreateSchema, "the user may create schemas"),
            ok(
                CheckKind::CreateUser,
                "the user may create the sync role; the engine will write as that role",
            ),
            ok(
                CheckKind::CreateTrigger,
                "a trigger function and trigger can be created",
            ),
        ],
        server_version: Some("16.4".into()),
        writer_mode: None,
    };
    answer(&mut app, serde_json::to_value(&report).unwrap());
    small_and_usual("settings_check_passed", &app);
    let screen = render(&app, 80, 24);
    for r in &report.results {
        assert!(
            screen.contains(&format!("✓ ok   {}:", r.check)),
            "{}:\n{screen}",
            r.check
        );
    }
}

/// A MariaDB check with two failures: at 80×24 the results under the form do not all fit,
/// and `v` shows the report whole, every fix as the check gives it.
#[test]
fn a_long_check_report_opens_whole() {
    let mut view = pg_view();
    view.settings.kind = DatasourceKind::Mysql;
    view.settings.port = Some(3306);
    let mut app = settings(Some(view));
    let ok = |check, message: &str| CheckResult {
        check,
        status: CheckStatus::Ok,
        message: message.into(),
        fix: None,
    };
    let grant = "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX, TRIGGER, CREATE TEMPORARY TABLES ON `datenator\\_acme\\_prod`.* TO 'admin'@'%' WITH GRANT OPTION; GRANT CREATE USER ON *.* TO 'admin'@'%';";
    let report = CheckReport {
        results: vec![
            ok(
                CheckKind::HostReachable,
                "db.internal:3306 accepts connections",
            ),
            ok(CheckKind::Authentication, "admin logged in"),
            ok(CheckKind::DatabaseExists, "database sync exists"),
            ok(CheckKind::ServerVersion, "MariaDB 11.4.2 is supported"),
            CheckResult {
                check: CheckKind::CreateSchema,
                status: CheckStatus::Failed,
                message: "admin may not create the database datenator_acme_prod".into(),
                fix: Some(grant.into()),
            },
            CheckResult {
                check: CheckKind::CreateUser,
                status: CheckStatus::Failed,
                message: "admin may not create users".into(),
                fix: Some(grant.into()),
            },
            CheckResult {
                check: CheckKind::CreateTrigger,
                status: CheckStatus::Skipped,
                message: "not run: an earlier check failed".into(),
                fix: None,
            },
            CheckResult {
                check: CheckKind::BinlogTriggers,
                status: CheckStatus::Skipped,
                message: "not run: an earlier check failed".into(),
                fix: None,
            },
        ],
        server_version: Some("11.4.2-MariaDB".into()),
        writer_mode: None,
    };
    if let Screen::Settings(s) = &mut app.screen {
        s.datasource.focus_on("check");
    }
    key(&mut app, KeyCode::Enter);
    answer(&mut app, serde_json::to_value(report).unwrap());
    if let Screen::Settings(s) = &mut app.screen {
        s.datasource.focus_on("generate");
    }
    let screen = render(&app, 80, 24);
    assert!(
        !screen.contains("binary log and triggers"),
        "the report fits after all:\n{screen}"
    );
    assert!(screen.contains("… more: v shows it all"), "{screen}");
    key(&mut app, KeyCode::Char('v'));
    small_and_usual("settings_check_whole", &app);
    key(&mut app, KeyCode::Esc);
    assert!(app.dialog.is_none());
    // While typing, v is a letter.
    if let Screen::Settings(s) = &mut app.screen {
        s.datasource.focus_on("host");
    }
    key(&mut app, KeyCode::Char('v'));
    assert!(app.dialog.is_none());
}

#[test]
fn settings_after_generating_show_the_sync_user_and_how_to_grant_writes() {
    let mut app = settings(Some(pg_view()));
    if let Screen::Settings(s) = &mut app.screen {
        s.datasource.focus_on("generate");
    }
    key(&mut app, KeyCode::Enter);
    let mut view = serde_json::to_value(pg_view()).unwrap();
    view["schema_generated"] = true.into();
    view["access"] = serde_json::json!({
        "sync_user": "datenator_acme_prod_sync",
        "app_role": "datenator_acme_prod_app",
        "grant_hint": "GRANT datenator_acme_prod_app TO <db user>;"
    });
    answer(&mut app, view);
    small_and_usual("settings_generated_access", &app);
}

/// Generated by an admin without CREATEROLE, then a generation that failed: the error and
/// the grant hint do not fit above the form at 80×24, and `v` shows them whole.
#[test]
fn settings_details_show_a_long_grant_hint_whole() {
    let mut app = settings(Some(pg_view()));
    if let Screen::Settings(s) = &mut app.screen {
        s.datasource.focus_on("generate");
    }
    key(&mut app, KeyCode::Enter);
    let mut view = serde_json::to_value(pg_view()).unwrap();
    view["schema_generated"] = true.into();
    view["schema_error"] = "permission denied for schema datenator_acme_prod: ALTER SCHEMA … OWNER TO \"admin\";  -- as the schema's owner or a superuser, for the schema or table the message names; objects another admin created belong to it".into();
    let hint = "GRANT USAGE ON SCHEMA \"datenator_acme_prod\" TO <db user>; then for each data table (not the __events tables): GRANT SELECT, INSERT, UPDATE, DELETE ON \"datenator_acme_prod\".<table> TO <db user>; GRANT USAGE ON SEQUENCE \"datenator_acme_prod\".<table>_id_seq TO <db user>;  -- no application role: the admin may not create roles";
    view["access"] = serde_json::json!({
        "sync_user": null,
        "app_role": null,
        "grant_hint": hint,
    });
    answer(&mut app, view);
    let screen = render(&app, 80, 24);
    assert!(!screen.contains("_id_seq"), "it fits after all:\n{screen}");
    assert!(screen.contains("… more: v shows it all"), "{screen}");
    key(&mut app, KeyCode::Char('v'));
    small_and_usual("settings_details_grant_hint", &app);
    let Some(app::Dialog::Detail { lines, .. }) = &app.dialog else {
        panic!("{:?}", app.dialog)
    };
    assert!(lines.iter().any(|(_, l)| l.ends_with(hint)), "{lines:?}");
}

#[test]
fn settings_manage_tab() {
    let mut app = settings(None);
    key(&mut app, KeyCode::Tab);
    both("settings_manage", &app);
}

// ---- objects ----

#[test]
fn objects_loading_empty_and_error() {
    let mut app = with_orgs();
    key(&mut app, KeyCode::Enter);
    insta::assert_snapshot!("objects_loading", render(&app, 80, 24));
    answer(&mut app, serde_json::json!([]));
    answer(&mut app, serde_json::json!([]));
    both("objects_empty", &app);
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Char('o'));
    fail(
        &mut app,
        "no org called acme-prod: it may have been deleted",
    );
    fail(
        &mut app,
        "no org called acme-prod: it may have been deleted",
    );
    insta::assert_snapshot!("objects_error", render(&app, 80, 24));
}

#[test]
fn objects_list_and_filter() {
    let mut app = with_orgs();
    key(&mut app, KeyCode::Enter);
    answer(&mut app, objects());
    answer(
        &mut app,
        serde_json::to_value(vec![account_mapping()]).unwrap(),
    );
    app::update(&mut app, Msg::Event(Event::Sync(vec![account_status()])));
    both("objects_list", &app);
    // A name or label its row cuts shows whole under the list while selected.
    let mut long = app.clone();
    key(&mut long, KeyCode::Down);
    small_and_usual("objects_selected_whole", &long);
    key(&mut app, KeyCode::Char('/'));
    type_str(&mut app, "acc");
    insta::assert_snapshot!("objects_filtered", render(&app, 80, 24));
    type_str(&mut app, "zz");
    insta::assert_snapshot!("objects_no_match", render(&app, 80, 24));
}

/// A real org lists several hundred objects: the list filters them as you type, each key
/// at once, and the title counts the matches.
#[test]
fn objects_filter_hundreds_as_you_type() {
    let mut list: Vec<ObjectInfo> = (0..400)
        .map(|i| {
            object(
                &format!("Custom_Object_{i:03}__c"),
                &format!("Custom Object {i:03}"),
                12,
            )
        })
        .collect();
    for (name, label) in [
        ("Account", "Account"),
        ("AccountContactRelation", "Account Contact Relationship"),
        ("AccountContactRole", "Account Contact Role"),
        ("Case", "Case"),
        ("Contact", "Contact"),
        ("Opportunity", "Opportunity"),
        ("Partner", "Partner"),
    ] {
        list.push(object(name, label, 40));
    }
    list.sort_by(|a, b| a.name.cmp(&b.name));
    let mut app = with_orgs();
    key(&mut app, KeyCode::Enter);
    answer(&mut app, serde_json::to_value(list).unwrap());
    answer(&mut app, serde_json::json!([]));
    insta::assert_snapshot!("objects_hundreds", render(&app, 80, 24));
    key(&mut app, KeyCode::Char('/'));
    for c in "account".chars() {
        let started = std::time::Instant::now();
        key(&mut app, KeyCode::Char(c));
        render(&app, 80, 24);
        assert!(
            started.elapsed() < std::time::Duration::from_millis(100),
            "a key took {:?}",
            started.elapsed()
        );
    }
    insta::assert_snapshot!("objects_hundreds_filtered", render(&app, 80, 24));
    type_str(&mut app, "c");
    let screen = render(&app, 80, 24);
    assert!(screen.contains("(2 of 407)"), "{screen}");
    // Labels match too.
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Char('/'));
    type_str(&mut app, "object 39");
    let screen = render(&app, 80, 24);
    assert!(screen.contains("(10 of 407)"), "{screen}");
}

#[test]
fn every_screen_survives_tiny_terminals() {
    let mut screens = vec![authorizing(), settings(Some(pg_view())), with_orgs()];
    let mut objects_app = with_orgs();
    key(&mut objects_app, KeyCode::Enter);
    answer(&mut objects_app, objects());
    answer(&mut objects_app, serde_json::json!([]));
    screens.push(objects_app.clone());
    key(&mut objects_app, KeyCode::Enter);
    answer(&mut objects_app, account_fields());
    screens.push(objects_app.clone());
    key(&mut objects_app, KeyCode::Enter);
    answer(&mut objects_app, serde_json::to_value(plan(true)).unwrap());
    screens.push(objects_app);
    let mut dialog = with_orgs();
    key(&mut dialog, KeyCode::Char('d'));
    screens.push(dialog);
    for app in &screens {
        for (w, h) in [(1, 1), (10, 3), (20, 5), (80, 4), (40, 10)] {
            render(app, w, h);
        }
    }
}

// ---- mapping editor ----

fn account_mapping() -> Mapping {
    Mapping {
        object: "Account".into(),
        fields: vec!["Id".into(), "Name".into(), "Industry".into()],
        direction: Direction::Bidirectional,
        conflict_policy: ConflictPolicy::NewestWins,
        row_filter: None,
    }
}

fn account_status() -> ObjectStatus {
    ObjectStatus {
        org: "acme-prod".into(),
        object: "Account".into(),
        direction: Direction::Bidirectional,
        state: ObjectState::Synced,
        initial_load: None,
        pull_lag_secs: Some(4.0),
        push_lag_secs: Some(1.5),
        pending_events: 0,
        failed_records: 0,
        pulled_total: 1200,
        pushed_total: 31,
        rows: Some(1231),
        last_error: None,
        last_sync_at: None,
        activity: vec![0, 0, 120, 800, 40, 0, 0, 12, 0, 3],
        backfill: None,
        removed_fields: vec![],
        detached_rows: 0,
        type_changes: vec![],
        reloading: false,
        feed: Default::default(),
        feed_note: None,
        last_event_secs: None,
    }
}

fn field(name: &str, label: &str, ty: &str, required: bool) -> serde_json::Value {
    serde_json::json!({
        "name": name, "label": label, "type": ty, "length": 255, "precision": null,
        "scale": null, "nillable": !required, "createable": true, "updateable": true,
        "defaulted_on_create": false, "external_id": false, "custom": name.ends_with("__c"),
        "calculated": false, "reference_to": []
    })
}

fn account_fields() -> serde_json::Value {
    serde_json::Value::Array(vec![
        field("Id", "Account ID", "id", false),
        field("Name", "Account Name", "string", true),
        field("Industry", "Industry", "picklist", false),
        field("AnnualRevenue", "Annual Revenue", "currency", false),
        field("BillingCity", "Billing City", "string", false),
        field("Tier__c", "Tier", "string", false),
        field("SystemModstamp", "System Modstamp", "datetime", false),
    ])
}

fn plan(destructive: bool) -> PlanView {
    PlanView {
        steps: vec![
            PlanStepView {
                description: "add column industry to account".into(),
                destructive: None,
                sql: vec![
                    "ALTER TABLE \"datenator_acme_prod\".\"account\" ADD COLUMN \"industry\" text"
                        .into(),
                ],
            },
            PlanStepView {
                description: "drop column tier__c from account".into(),
                destructive: destructive.then(|| "every value of tier__c is lost".into()),
                sql: vec![
                    "ALTER TABLE \"datenator_acme_prod\".\"account\" DROP COLUMN \"tier__c\""
                        .into(),
                ],
            },
        ],
        destructive,
        applied: false,
    }
}

/// The editor for Account of acme-prod, which is mapped already.
fn editor() -> App {
    let mut app = with_orgs();
    key(&mut app, KeyCode::Enter);
    answer(&mut app, objects());
    answer(
        &mut app,
        serde_json::to_value(vec![account_mapping()]).unwrap(),
    );
    key(&mut app, KeyCode::Enter);
    app
}

#[test]
fn mapping_editor_loading_and_fields() {
    let mut app = editor();
    insta::assert_snapshot!("mapping_loading", render(&app, 80, 24));
    answer(&mut app, account_fields());
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Char(' '));
    both("mapping_fields", &app);
    key(&mut app, KeyCode::Char('/'));
    type_str(&mut app, "bill");
    insta::assert_snapshot!("mapping_filtered", render(&app, 80, 24));
}

/// A field its row cuts (a managed package's long API name and label) shows whole under
/// the list while selected.
#[test]
fn mapping_editor_shows_a_long_field_whole() {
    let mut app = editor();
    let mut fields = account_fields();
    fields.as_array_mut().unwrap().insert(
        5,
        field(
            "SBQQ__DefaultSubscriptionTermInMonths__c",
            "Default Subscription Term (Months, renewals included)",
            "double",
            false,
        ),
    );
    answer(&mut app, fields);
    for _ in 0..5 {
        key(&mut app, KeyCode::Down);
    }
    small_and_usual("mapping_field_whole", &app);
}

#[test]
fn mapping_editor_options() {
    let mut app = editor();
    answer(&mut app, account_fields());
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Down);
    type_str(&mut app, "Industry = 'Banking'");
    // The hints and the filter wrap: nothing runs off the options pane.
    small_and_usual("mapping_options", &app);
    insta::assert_snapshot!("mapping_options_140x40", render(&app, 140, 40));
    type_str(
        &mut app,
        " AND AnnualRevenue > 1000000 AND BillingCountry IN ('DE', 'AT', 'CH')",
    );
    small_and_usual("mapping_options_long_filter", &app);
}

#[test]
fn mapping_plan_review() {
    let mut app = editor();
    answer(&mut app, account_fields());
    key(&mut app, KeyCode::Enter);
    insta::assert_snapshot!("mapping_planning", render(&app, 80, 24));
    answer(&mut app, serde_json::to_value(plan(false)).unwrap());
    insta::assert_snapshot!("mapping_plan", render(&app, 80, 24));
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Enter);
    answer(&mut app, serde_json::to_value(plan(true)).unwrap());
    both("mapping_plan_destructive", &app);
    key(&mut app, KeyCode::Char('D'));
    fail(
        &mut app,
        "the DDL failed: permission denied for schema datenator_acme_prod: run Check datasource",
    );
    insta::assert_snapshot!("mapping_apply_failed", render(&app, 80, 24));
}

#[test]
fn a_plans_long_ddl_wraps_at_80_columns() {
    let mut app = editor();
    answer(&mut app, account_fields());
    key(&mut app, KeyCode::Enter);
    let mut p = plan(false);
    let columns: Vec<String> = (1..=12)
        .map(|i| format!("\"custom_field_{i}__c\" varchar(255)"))
        .collect();
    p.steps[0].sql = vec![format!(
        "CREATE TABLE \"datenator_acme_prod\".\"account\" (\"id\" bigserial PRIMARY KEY, {})",
        columns.join(", ")
    )];
    answer(&mut app, serde_json::to_value(p).unwrap());
    small_and_usual("mapping_plan_long_ddl", &app);
}

/// Esc in an editor holding changes not saved asks before it throws them away.
#[test]
fn mapping_editor_asks_before_esc_throws_changes_away() {
    let mut app = editor();
    answer(&mut app, account_fields());
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::Esc);
    small_and_usual("mapping_unsaved_changes", &app);
}

/// A plan that names the database changes queued while Account did not sync to
/// Salesforce (its mapping switched from SF → DB to both ways): discarded by default, S
/// plans again sending them.
#[test]
fn a_plan_with_queued_changes_offers_to_send_them() {
    // Account, mapped SF → DB, switched to both ways.
    let mut app = with_orgs();
    key(&mut app, KeyCode::Enter);
    answer(&mut app, objects());
    let mut one_way = account_mapping();
    one_way.direction = Direction::SfToDb;
    answer(&mut app, serde_json::to_value(vec![one_way]).unwrap());
    key(&mut app, KeyCode::Enter);
    answer(&mut app, account_fields());
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Left);
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Enter);
    let queued = |send: bool| {
        let mut p = plan(false);
        p.steps.truncate(1);
        p.steps.push(PlanStepView {
            description: if send {
                "send the 3 database change(s) made to Account while it did not sync to Salesforce".into()
            } else {
                "discard the 3 database change(s) made to Account while it did not sync to Salesforce: they stay in the database and are never sent (S in the plan sends them instead)".into()
            },
            destructive: None,
            sql: vec![],
        });
        serde_json::to_value(p).unwrap()
    };
    answer(&mut app, queued(false));
    small_and_usual("mapping_plan_queued_discarded", &app);
    key(&mut app, KeyCode::Char('S'));
    answer(&mut app, queued(true));
    small_and_usual("mapping_plan_queued_sent", &app);
    let screen = render(&app, 80, 24);
    assert!(screen.contains("S discards them instead"), "{screen}");
}

/// A plan whose changed row filter leaves rows outside it: kept detached by default, L
/// plans again deleting them (a destructive plan).
#[test]
fn a_plan_whose_row_filter_leaves_rows_offers_to_delete_them() {
    let mut app = editor();
    answer(&mut app, account_fields());
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Down);
    type_str(&mut app, "Industry = 'Banking'");
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Enter);
    let leaving = |delete: bool| {
        let mut p = plan(false);
        p.steps.truncate(1);
        p.steps.push(if delete {
            PlanStepView {
                description: "delete the 412 row(s) of Account whose record no longer matches the new row filter from the database; their Salesforce records stay (L in the plan keeps them detached instead)".into(),
                destructive: Some("deletes about 412 row(s) from the database (not from Salesforce)".into()),
                sql: vec![],
            }
        } else {
            PlanStepView {
                description: "keep the 412 row(s) of Account whose record no longer matches the new row filter: marked detached (_dn_state = 'DETACHED'), no longer refreshed from Salesforce, their database changes never sent (L in the plan deletes them instead)".into(),
                destructive: None,
                sql: vec![],
            }
        });
        p.steps.push(PlanStepView {
            description: "re-read Account from Salesforce with the new row filter: records that now match it are loaded, those already in the database merged by sfid (about 1,180 record(s), about 2 API call(s))".into(),
            destructive: None,
            sql: vec![],
        });
        p.destructive = delete;
        serde_json::to_value(p).unwrap()
    };
    answer(&mut app, leaving(false));
    small_and_usual("mapping_plan_leaving_rows_kept", &app);
    key(&mut app, KeyCode::Char('L'));
    answer(&mut app, leaving(true));
    small_and_usual("mapping_plan_leaving_rows_deleted", &app);
    let screen = render(&app, 120, 35);
    assert!(
        screen.contains("L keeps them, detached, instead"),
        "{screen}"
    );
}

// ---- sync dashboard ----

fn statuses(pulled: u64) -> Vec<ObjectStatus> {
    let mut contact = account_status();
    contact.object = "Contact".into();
    contact.direction = Direction::SfToDb;
    contact.state = ObjectState::InitialLoad;
    contact.initial_load = Some((2500, 10000));
    contact.pull_lag_secs = None;
    contact.push_lag_secs = None;
    contact.pulled_total = 2500;
    contact.pushed_total = 0;
    let mut invoice = account_status();
    invoice.org = "acme-uat".into();
    invoice.object = "Invoice__c".into();
    invoice.state = ObjectState::Error;
    invoice.failed_records = 3;
    invoice.pending_events = 12;
    invoice.pull_lag_secs = Some(3720.0);
    invoice.push_lag_secs = Some(95.0);
    invoice.last_error =
        Some("INVALID_FIELD_FOR_INSERT_UPDATE: Tier__c is read-only: unmap it or fix the field's permissions".into());
    let mut account = account_status();
    account.pulled_total = pulled;
    vec![account, contact, invoice]
}

#[test]
fn dashboard_loading_empty_and_live() {
    let mut app = with_orgs();
    key(&mut app, KeyCode::Char('w'));
    insta::assert_snapshot!("dashboard_loading", render(&app, 80, 24));
    app::update(&mut app, Msg::Event(Event::Sync(vec![])));
    insta::assert_snapshot!("dashboard_empty", render(&app, 80, 24));
    for pulled in [1200, 1260, 1290, 1400, 1410] {
        app::update(&mut app, Msg::Event(Event::Sync(statuses(pulled))));
    }
    key(&mut app, KeyCode::Char('G'));
    both("dashboard", &app);
    // The size tried over SSH: the 'Last 10 min' column shows each object's records per
    // minute.
    app::update(
        &mut app,
        Msg::Resize {
            width: 120,
            height: 35,
        },
    );
    insta::assert_snapshot!("dashboard_120x35", render(&app, 120, 35));
}

#[test]
fn dashboard_of_a_paused_org() {
    let mut app = with_orgs();
    key(&mut app, KeyCode::Char('w'));
    let paused: Vec<ObjectStatus> = statuses(1200)
        .into_iter()
        .map(|mut s| {
            s.org = "acme-uat".into();
            s.state = ObjectState::Paused;
            s.initial_load = None;
            s.pending_events = 7;
            s.activity = vec![0; 10];
            s
        })
        .collect();
    app::update(&mut app, Msg::Event(Event::Sync(paused)));
    small_and_usual("dashboard_paused", &app);
    // y says why nothing happens.
    key(&mut app, KeyCode::Char('y'));
    insta::assert_snapshot!("dashboard_paused_sync_now", render(&app, 80, 24));
}

/// Adding fields to a synced object: the plan says, in words, what the fill does to the
/// rows already there and what it costs; the dashboard shows its progress and names a
/// field removed in Salesforce.
#[test]
fn a_plan_that_fills_added_fields_and_the_dashboard_while_it_runs() {
    let mut app = editor();
    answer(&mut app, account_fields());
    key(&mut app, KeyCode::Enter);
    let mut p = plan(false);
    p.steps.truncate(1);
    p.steps.push(PlanStepView {
        description: "fill Industry in the 2,003 existing row(s) from Salesforce before the next pull (a REST query, about 2 API call(s)); other columns are left as they are and nothing is sent back to Salesforce".into(),
        destructive: None,
        sql: vec![],
    });
    answer(&mut app, serde_json::to_value(p).unwrap());
    small_and_usual("mapping_plan_backfill", &app);

    let mut app = with_orgs();
    key(&mut app, KeyCode::Char('w'));
    let mut account = account_status();
    account.backfill = Some(datenator_shared::model::BackfillProgress {
        fields: vec!["Industry".into()],
        done: 1200,
        total: 2003,
        error: None,
    });
    account.removed_fields = vec!["Website".into()];
    app::update(&mut app, Msg::Event(Event::Sync(vec![account])));
    small_and_usual("dashboard_backfill_and_removed_field", &app);
}

/// The dashboard with F pressed on Account and the re-read's plan answered.
fn resync_confirm() -> App {
    let mut app = with_orgs();
    key(&mut app, KeyCode::Char('w'));
    app::update(&mut app, Msg::Event(Event::Sync(statuses(1200))));
    key(&mut app, KeyCode::Char('F'));
    answer(
        &mut app,
        serde_json::to_value(PlanView {
            steps: vec![PlanStepView {
                description: "re-read every Account record within its row filter from Salesforce and merge it into its row by sfid (about 1,231 record(s): REST queries, about 2 API call(s)); rows whose record is gone from Salesforce are deleted, rows whose record no longer matches the row filter are kept detached; unsent database changes are kept".into(),
                destructive: None,
                sql: vec![],
            }],
            destructive: false,
            applied: false,
        })
        .unwrap(),
    );
    app
}

/// F on the dashboard: the re-read's plan (its API cost in the step) in a confirmation;
/// Enter starts it and the status line says so.
#[test]
fn a_re_read_from_salesforce_is_planned_then_confirmed() {
    let mut app = resync_confirm();
    small_and_usual("resync_confirm", &app);
    key(&mut app, KeyCode::Enter);
    answer(
        &mut app,
        serde_json::to_value(PlanView {
            steps: vec![],
            destructive: false,
            applied: true,
        })
        .unwrap(),
    );
    insta::assert_snapshot!("resync_started_80x24", render(&app, 80, 24));
}

/// The dashboard with Account being re-read, 412 rows detached and a type change, and
/// Contact with 1 row detached.
fn re_read_dashboard() -> App {
    let mut app = with_orgs();
    key(&mut app, KeyCode::Char('w'));
    let mut account = account_status();
    account.reloading = true;
    account.detached_rows = 412;
    account.type_changes = vec![
        "Phone changed in Salesforce from text(40) to text(80): values longer than 40 characters do not fit its column and are not pulled; save the mapping again to widen the column".into(),
    ];
    let mut contact = account_status();
    contact.object = "Contact".into();
    contact.detached_rows = 1;
    app::update(&mut app, Msg::Event(Event::Sync(vec![account, contact])));
    app
}

/// Account streamed through Change Data Capture (its pull lag "live", the last event's age
/// under the table) and Contact polled because Salesforce publishes no events for it; the
/// org's event allocation beside its API usage.
#[test]
fn dashboard_shows_streamed_and_polled_objects() {
    let mut app = with_orgs();
    key(&mut app, KeyCode::Char('w'));
    let mut orgs = app.orgs.clone().unwrap_or_default();
    if let Some(o) = orgs.first_mut() {
        o.event_allocation = Some(datenator_shared::model::ApiUsage {
            used: 1200,
            max: 10000,
        });
    }
    app::update(&mut app, Msg::Event(Event::Orgs(orgs)));
    let mut account = account_status();
    account.feed = datenator_shared::model::Feed::Stream;
    account.pull_lag_secs = Some(0.0);
    account.last_event_secs = Some(4.0);
    let mut contact = account_status();
    contact.object = "Contact".into();
    contact.feed_note = Some(
        "polled: Salesforce publishes no change events for Contact (select it in Setup → Change Data Capture to stream it)".into(),
    );
    app::update(&mut app, Msg::Event(Event::Sync(vec![account, contact])));
    small_and_usual("dashboard_streamed_and_polled", &app);
    let screen = render(&app, 120, 35);
    assert!(screen.contains("live"), "{screen}");
    assert!(screen.contains("events 1200/10000 today"), "{screen}");
    assert!(screen.contains("last event 4s ago"), "{screen}");
    key(&mut app, KeyCode::Char('j'));
    let screen = render(&app, 120, 35);
    assert!(
        screen.contains(
            "Salesforce's changes are polled: Salesforce publishes no change events for Contact"
        ),
        "{screen}"
    );
}

/// An object being re-read from Salesforce, with rows detached by a narrower row filter
/// and a field whose type changed in Salesforce: the State column says re-reading, the
/// details under the table say each, and take the rows they need.
#[test]
fn dashboard_shows_a_re_read_detached_rows_and_type_changes() {
    let mut app = re_read_dashboard();
    small_and_usual("dashboard_re_read_detached_type_change", &app);
    key(&mut app, KeyCode::Char('j'));
    let screen = render(&app, 120, 35);
    assert!(
        screen.contains("1 row detached (outside the row filter)"),
        "{screen}"
    );
    assert!(!screen.contains("re-reading from Salesforce"), "{screen}");
}

#[test]
fn re_read_screens_survive_tiny_terminals_and_render_the_same_without_colour() {
    for mut app in [resync_confirm(), re_read_dashboard()] {
        for (w, h) in [(1, 1), (10, 3), (20, 5), (80, 4), (40, 10), (80, 12)] {
            render(&app, w, h);
        }
        for (w, h) in [(80, 24), (140, 40)] {
            app.no_color = false;
            let coloured = render(&app, w, h);
            app.no_color = true;
            assert_eq!(render(&app, w, h), coloured);
        }
    }
}

#[test]
fn a_long_plan_scrolls_and_keeps_the_confirmation_in_view() {
    let mut app = editor();
    answer(&mut app, account_fields());
    key(&mut app, KeyCode::Enter);
    let mut long = plan(false);
    long.steps = (1..=30)
        .map(|i| PlanStepView {
            description: format!("step {i}"),
            destructive: None,
            sql: vec![format!("CREATE INDEX \"i{i}\" ON \"account\" (\"c{i}\")")],
        })
        .collect();
    answer(&mut app, serde_json::to_value(long).unwrap());
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Down);
    insta::assert_snapshot!("mapping_plan_scrolled", render(&app, 80, 24));
}

#[test]
fn every_screen_renders_the_same_text_without_colour() {
    let mut screens = vec![authorizing(), settings(Some(pg_view())), with_orgs()];
    let mut app = editor();
    answer(&mut app, account_fields());
    screens.push(app.clone());
    key(&mut app, KeyCode::Enter);
    answer(&mut app, serde_json::to_value(plan(true)).unwrap());
    screens.push(app);
    let mut dash = with_orgs();
    key(&mut dash, KeyCode::Char('w'));
    app::update(&mut dash, Msg::Event(Event::Sync(statuses(1200))));
    screens.push(dash);
    for mut app in screens {
        for (w, h) in [(80, 24), (140, 40)] {
            app.no_color = false;
            let coloured = render(&app, w, h);
            app.no_color = true;
            assert_eq!(render(&app, w, h), coloured);
        }
    }
}

#[test]
fn no_color_uses_no_colours_at_all() {
    let mut app = with_orgs();
    key(&mut app, KeyCode::Char('w'));
    app::update(&mut app, Msg::Event(Event::Sync(statuses(1200))));
    app.no_color = true;
    let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
    terminal.draw(|f| ui::draw(f, &app)).unwrap();
    let buffer = terminal.backend().buffer();
    for cell in buffer.content() {
        assert_eq!(cell.fg, ratatui::style::Color::Reset, "{cell:?}");
        assert_eq!(cell.bg, ratatui::style::Color::Reset, "{cell:?}");
    }
}

fn title_word(app: &App) -> String {
    app.screen
        .title()
        .split(' ')
        .next()
        .unwrap_or("")
        .to_owned()
}

/// Every key on every screen, in a long deterministic mix, with replies and events in
/// between: the update never panics and every state draws at 80×24 and at a tiny size.
#[test]
fn key_mash_never_panics() {
    let keys = [
        KeyCode::Char('n'),
        KeyCode::Char('a'),
        KeyCode::Tab,
        KeyCode::BackTab,
        KeyCode::Right,
        KeyCode::Left,
        KeyCode::Enter,
        KeyCode::Char(' '),
        KeyCode::Char('/'),
        KeyCode::Char('x'),
        KeyCode::Backspace,
        KeyCode::Down,
        KeyCode::Up,
        KeyCode::Char('G'),
        KeyCode::Char('g'),
        KeyCode::Char('s'),
        KeyCode::Char('m'),
        KeyCode::Char('w'),
        KeyCode::Char('d'),
        KeyCode::Char('D'),
        KeyCode::Char('e'),
        KeyCode::Char('y'),
        KeyCode::Char('?'),
        KeyCode::F(1),
        KeyCode::Esc,
        KeyCode::Char('j'),
        KeyCode::Char('k'),
        KeyCode::Home,
        KeyCode::End,
        KeyCode::Char('f'),
        KeyCode::Char('c'),
        KeyCode::Char('l'),
        KeyCode::Char('r'),
        KeyCode::Char('R'),
        KeyCode::Char('i'),
        KeyCode::Char('u'),
        KeyCode::PageUp,
        KeyCode::PageDown,
    ];
    let replies = [
        serde_json::Value::Null,
        serde_json::json!([]),
        objects(),
        account_fields(),
        serde_json::to_value(plan(true)).unwrap(),
        serde_json::to_value(device_pending()).unwrap(),
        serde_json::to_value(Some(pg_view())).unwrap(),
        serde_json::to_value(check_report()).unwrap(),
        failed_records(),
        conflicts(),
        serde_json::json!(3),
    ];
    let mut editor_app = editor();
    answer(&mut editor_app, account_fields());
    let mut dash = with_orgs();
    key(&mut dash, KeyCode::Char('w'));
    let mut reauthorize = with_orgs();
    key(&mut reauthorize, KeyCode::Char('a'));
    let starts = [
        with_orgs(),
        reauthorize,
        authorizing(),
        settings(Some(pg_view())),
        editor_app,
        dash,
        log_screen(),
    ];
    let mut step: usize = 0;
    let mut seen = std::collections::BTreeSet::new();
    for start in starts {
        let mut app = start;
        app::update(&mut app, Msg::Event(Event::Sync(statuses(10))));
        app::update(&mut app, Msg::Event(Event::Log(log_lines())));
        seen.insert(title_word(&app));
        for round in 0..4 {
            for i in 0..keys.len() {
                // A different stride each round visits the keys in a different order.
                key(&mut app, keys[(i * (round * 2 + 1) + round) % keys.len()]);
                step += 1;
                if step.is_multiple_of(3) && !app.pending.is_empty() {
                    let reply = replies[step % replies.len()].clone();
                    if step.is_multiple_of(2) {
                        answer(&mut app, reply);
                    } else {
                        fail(&mut app, "refused: try something else");
                    }
                }
                if step.is_multiple_of(11) {
                    app::update(&mut app, Msg::Event(Event::Orgs(sample_orgs())));
                }
                render(&app, 80, 24);
                render(&app, 12, 4);
                seen.insert(title_word(&app));
            }
        }
    }
    // The mix reached every kind of screen.
    for title in [
        "Orgs",
        "Register",
        "Authorize",
        "Settings",
        "Objects",
        "Mapping",
        "Sync",
        "Failed",
        "Conflicts",
        "Daemon",
    ] {
        assert!(seen.contains(title), "never visited {title}: {seen:?}");
    }
}

#[test]
fn orgs_list_says_what_an_org_needs() {
    let mut app = with_orgs();
    key(&mut app, KeyCode::Down);
    insta::assert_snapshot!("orgs_needs_reauthorization", render(&app, 80, 24));
}

// ---- failed records, conflicts, daemon log, schema check, forecast ----

fn failed_records() -> serde_json::Value {
    serde_json::json!([
        {"object": "Account", "row_id": 17, "sfid": "001000000000017AAA", "op": "update",
         "error": "FIELD_CUSTOM_VALIDATION_EXCEPTION: Phone must have 10 digits: fix the row's Phone",
         "changed_at": "2026-11-24T11:58:02Z", "values": {"Phone": "12-34", "Name": "Acme"}},
        {"object": "Account", "row_id": 18, "sfid": null, "op": "insert",
         "error": "REQUIRED_FIELD_MISSING: Required fields are missing: [Name]",
         "changed_at": "2026-11-24T11:59:40Z", "values": {"Name": null}},
        {"object": "Invoice__c", "row_id": 3, "sfid": "a00000000000003AAA", "op": "delete",
         "error": "ENTITY_IS_LOCKED: the record is locked for approval",
         "changed_at": "2026-11-24T12:01:00Z", "values": {}}
    ])
}

fn failed_screen() -> App {
    let mut app = with_orgs();
    key(&mut app, KeyCode::Char('f'));
    app
}

#[test]
fn failed_records_loading_empty_and_error() {
    let mut app = failed_screen();
    insta::assert_snapshot!("failed_loading", render(&app, 80, 24));
    answer(&mut app, serde_json::json!([]));
    both("failed_empty", &app);
    let mut app = failed_screen();
    fail(
        &mut app,
        "unknown method failed_list: this datenatord is older than the TUI; update it",
    );
    insta::assert_snapshot!("failed_error", render(&app, 80, 24));
}

#[test]
fn failed_records_list_ignore_and_retry() {
    let mut app = failed_screen();
    answer(&mut app, failed_records());
    key(&mut app, KeyCode::Down);
    both("failed_list", &app);
    key(&mut app, KeyCode::Char('i'));
    insta::assert_snapshot!("failed_ignore_confirm", render(&app, 80, 24));
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Char('R'));
    answer(&mut app, serde_json::json!(2));
    // The list comes again, without the queued changes.
    let rest = serde_json::Value::Array(failed_records().as_array().unwrap()[2..].to_vec());
    answer(&mut app, rest);
    insta::assert_snapshot!("failed_retried", render(&app, 80, 24));
}

fn conflicts() -> serde_json::Value {
    serde_json::json!([
        {"object": "Account", "sfid": "001000000000017AAA", "field": "Phone",
         "db_value": "+49 30 1234567", "sf_value": "+49 30 7654321", "winner": "salesforce",
         "policy": "newest_wins", "at": "2026-11-24T11:50:00Z"},
        {"object": "Contact", "sfid": "003000000000002AAA", "field": "Email",
         "db_value": "ann@example.com", "sf_value": null, "winner": "database",
         "policy": "database_wins", "at": "2026-11-24T12:05:00Z"}
    ])
}

#[test]
fn conflicts_list_and_empty() {
    let mut app = with_orgs();
    key(&mut app, KeyCode::Char('c'));
    insta::assert_snapshot!("conflicts_loading", render(&app, 80, 24));
    answer(&mut app, serde_json::json!([]));
    insta::assert_snapshot!("conflicts_empty", render(&app, 80, 24));
    key(&mut app, KeyCode::Char('u'));
    answer(&mut app, conflicts());
    both("conflicts_list", &app);
}

fn recent_changes() -> serde_json::Value {
    serde_json::json!([
        {"side": "database", "at": "2026-11-24T12:04:10Z", "who": "alice", "op": "update",
         "fields": ["Phone"], "row_id": 17, "sfid": "001000000000017AAA", "outcome": "pending"},
        {"side": "salesforce", "at": "2026-11-24T12:03:00Z", "who": "005000000000001AAA",
         "op": "update", "fields": ["Name", "Phone", "Industry", "AnnualRevenue", "Description"],
         "sfid": "001000000000002AAA", "outcome": "pulled"},
        {"side": "database", "at": "2026-11-24T12:01:30Z", "who": "bob@10.0.0.7", "op": "update",
         "fields": ["Phone"], "row_id": 18, "sfid": "001000000000018AAA", "outcome": "failed",
         "error": "FIELD_CUSTOM_VALIDATION_EXCEPTION: Phone must have 10 digits: fix the row's Phone"},
        {"side": "database", "at": "2026-11-24T12:00:05Z", "who": "alice", "op": "insert",
         "fields": ["Name", "Phone"], "row_id": 19, "sfid": "001000000000019AAA",
         "outcome": "pushed"},
        {"side": "salesforce", "at": "2026-11-24T11:58:00Z", "op": "delete", "fields": [],
         "sfid": "001000000000003AAA", "outcome": "pulled"}
    ])
}

/// The Watch screen with Account selected, then `h`.
fn recent_screen() -> App {
    let mut app = with_orgs();
    key(&mut app, KeyCode::Char('w'));
    app::update(&mut app, Msg::Event(Event::Sync(statuses(1200))));
    key(&mut app, KeyCode::Char('h'));
    app
}

#[test]
fn recent_changes_loading_empty_list_and_detail() {
    let mut app = recent_screen();
    insta::assert_snapshot!("recent_loading", render(&app, 80, 24));
    answer(&mut app, serde_json::json!([]));
    small_and_usual("recent_empty", &app);
    key(&mut app, KeyCode::Char('u'));
    answer(&mut app, recent_changes());
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Down);
    small_and_usual("recent_list", &app);
    key(&mut app, KeyCode::Enter);
    small_and_usual("recent_detail", &app);
    let mut app = recent_screen();
    fail(
        &mut app,
        "org \"acme-prod\" has no applied mapping for \"Account\": map the object first",
    );
    insta::assert_snapshot!("recent_error", render(&app, 80, 24));
}

fn log_lines() -> Vec<LogLine> {
    let at = |s: u32| {
        chrono::Utc
            .with_ymd_and_hms(2026, 11, 24, 12, 0, s)
            .unwrap()
    };
    let mut lines: Vec<LogLine> = (0..30)
        .map(|i| LogLine {
            at: at(i),
            level: "INFO".into(),
            org: Some(if i % 3 == 0 { "acme-uat" } else { "acme-prod" }.into()),
            message: format!("pulled object=Account rows={i} api_calls=1"),
        })
        .collect();
    lines.push(LogLine {
        at: at(40),
        level: "WARN".into(),
        org: Some("acme-prod".into()),
        message: "push refused object=Account row=18 error=REQUIRED_FIELD_MISSING: Required \
                  fields are missing: [Name] (see Failed records)"
            .into(),
    });
    lines.push(LogLine {
        at: at(41),
        level: "ERROR".into(),
        org: None,
        message: "datasource unreachable: connection refused (is PostgreSQL running?)".into(),
    });
    lines
}

fn log_screen() -> App {
    let mut app = with_orgs();
    app::update(&mut app, Msg::Event(Event::Log(log_lines())));
    key(&mut app, KeyCode::Char('l'));
    app
}

#[test]
fn daemon_log_follows_scrolls_and_filters() {
    let mut app = with_orgs();
    key(&mut app, KeyCode::Char('l'));
    insta::assert_snapshot!("log_waiting", render(&app, 80, 24));
    let mut app = log_screen();
    both("log_tail", &app);
    for _ in 0..5 {
        key(&mut app, KeyCode::Up);
    }
    insta::assert_snapshot!("log_scrolled", render(&app, 80, 24));
    key(&mut app, KeyCode::Char('f'));
    insta::assert_snapshot!("log_filtered", render(&app, 80, 24));
}

#[test]
fn detail_views_show_a_conflict_a_failed_record_and_a_log_line_whole() {
    let mut app = with_orgs();
    key(&mut app, KeyCode::Char('c'));
    let mut list = conflicts();
    let long: String = (1..=60)
        .map(|i| format!("line {i} of the Description;"))
        .collect::<Vec<_>>()
        .join(" ");
    list[0]["field"] = "Description".into();
    list[0]["sf_value"] = long.into();
    answer(&mut app, list);
    key(&mut app, KeyCode::Down);
    small_and_usual("conflicts_narrow", &app);
    key(&mut app, KeyCode::Enter);
    small_and_usual("conflict_detail", &app);
    key(&mut app, KeyCode::PageDown);
    key(&mut app, KeyCode::PageDown);
    key(&mut app, KeyCode::PageDown);
    key(&mut app, KeyCode::PageDown);
    insta::assert_snapshot!("conflict_detail_end", render(&app, 80, 24));
    key(&mut app, KeyCode::Esc);
    assert!(app.dialog.is_none());

    let mut app = failed_screen();
    answer(&mut app, failed_records());
    key(&mut app, KeyCode::Enter);
    small_and_usual("failed_detail", &app);

    let mut app = log_screen();
    key(&mut app, KeyCode::Up);
    key(&mut app, KeyCode::Enter);
    small_and_usual("log_detail", &app);
}

#[test]
fn schema_check_report() {
    let mut app = settings(Some(pg_view()));
    key(&mut app, KeyCode::Tab);
    for _ in 0..4 {
        key(&mut app, KeyCode::Down);
    }
    key(&mut app, KeyCode::Enter);
    answer(
        &mut app,
        serde_json::json!([
            {"object": "Account", "drift": [], "can_continue": true, "advice": ""},
            {"object": "Invoice__c", "drift": [
                {"kind": "field_removed", "field": "Tier__c"},
                {"kind": "field_changed", "field": "Amount__c", "was": "double(16,2)", "now": "double(18,2)"},
                {"kind": "new_required_field", "field": "Region__c"}
             ], "can_continue": false,
             "advice": "Edit the mapping of Invoice__c: add Region__c and save to apply the DDL."}
        ]),
    );
    both("schema_check_report", &app);
}

fn forecast_orgs() -> Vec<OrgSummary> {
    let mut orgs = sample_orgs();
    orgs[0].api_forecast = Some(UsageForecast {
        calls_per_hour: 12.0,
        projected_percent: 56.0,
        effective_interval_secs: 300,
        used_calls: 6_960,
        steady_calls_per_day: 1_440.0,
    });
    orgs
}

#[test]
fn api_forecast_and_stretched_polling() {
    let mut app = with_orgs();
    app::update(&mut app, Msg::Event(Event::Orgs(forecast_orgs())));
    insta::assert_snapshot!("orgs_forecast", render(&app, 80, 24));
    key(&mut app, KeyCode::Char('w'));
    app::update(&mut app, Msg::Event(Event::Sync(statuses(1200))));
    both("dashboard_forecast", &app);
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Char('s'));
    answer(&mut app, serde_json::to_value(Some(pg_view())).unwrap());
    insta::assert_snapshot!("settings_forecast", render(&app, 80, 24));
}

#[test]
fn new_screens_survive_tiny_terminals_and_render_the_same_without_colour() {
    let mut failed = failed_screen();
    answer(&mut failed, failed_records());
    let mut confirm = failed.clone();
    key(&mut confirm, KeyCode::Char('i'));
    let mut conflict = with_orgs();
    key(&mut conflict, KeyCode::Char('c'));
    answer(&mut conflict, conflicts());
    let mut filtered = log_screen();
    key(&mut filtered, KeyCode::Char('f'));
    let mut forecast = with_orgs();
    app::update(&mut forecast, Msg::Event(Event::Orgs(forecast_orgs())));
    key(&mut forecast, KeyCode::Char('w'));
    for mut app in [failed, confirm, conflict, log_screen(), filtered, forecast] {
        for (w, h) in [(1, 1), (10, 3), (20, 5), (80, 4), (40, 10)] {
            render(&app, w, h);
        }
        for (w, h) in [(80, 24), (140, 40)] {
            app.no_color = false;
            let coloured = render(&app, w, h);
            app.no_color = true;
            assert_eq!(render(&app, w, h), coloured);
        }
    }
}
