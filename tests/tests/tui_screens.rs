//! The real TUI in tmux against the real daemon and an in-process sfsim, all by keyboard
//! as a person over SSH would: register an org through the device flow, watch it get
//! authorized, download its metadata, find Account on the Objects screen; then configure
//! an SQLite datasource, map Account both ways, turn sync on and see the rows arrive — in
//! the dashboard and in the database itself — and look at the daemon log, then a failed
//! record and a conflict, each opened whole.
use std::time::Duration;

use datenator_shared::model::{AuthState, PendingStep};
use datenator_tests::{Daemon, STARTUP_TIMEOUT, Tmux, bin, wait};
use sfsim::{RunningSim, Sim, SimConfig};
use sqlx::Row;

/// The code as the TUI shows it: a space between characters.
fn spaced(code: &str) -> String {
    code.chars()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A daemon with the simulator's connected app, the TUI in tmux, and the org `acme`
/// registered through the TUI's device flow and authorized.
struct Registered {
    tui: Tmux,
    /// Kept alive for the test's length.
    _daemon: Daemon,
    _sim: RunningSim,
    rt: tokio::runtime::Runtime,
}

fn registered() -> Registered {
    // The simulator's server runs on this runtime's workers while the test drives tmux.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sim = rt
        .block_on(Sim::start(SimConfig {
            seed_counts: vec![("Account".into(), 5)],
            device_poll_interval: Duration::from_secs(1),
            ..SimConfig::default()
        }))
        .unwrap();
    let d = Daemon::start_with_config(&format!(
        "[salesforce]\nclient_id = \"{}\"\nclient_secret = \"{}\"\n",
        sim.info.client_id, sim.info.client_secret
    ));
    let log = d.dir.path().join("tui.log");
    let cmd = format!(
        "{} --socket {} --log-file {}",
        bin("datenator-tui").display(),
        d.socket.display(),
        log.display()
    );
    let tui = Tmux::start(&cmd, 80, 24);
    tui.wait_for("No Salesforce orgs are registered yet.");

    // The form: name, custom domain (the simulator's login URL), device flow.
    tui.keys(&["n"]);
    tui.wait_for("Register org");
    tui.keys(&["-l", "acme"]);
    tui.keys(&["Tab", "Right", "Right", "Tab"]);
    tui.wait_for("Domain");
    tui.keys(&["-l", &sim.info.login_url]);
    let screen = tui.wait_for(&sim.info.login_url);
    assert!(
        screen.contains("‹ device ›") || screen.contains("device"),
        "{screen}"
    );
    // Enter walks to the Register button and presses it.
    for _ in 0..5 {
        tui.keys(&["Enter"]);
    }
    tui.wait_for("enter this code");

    // The code on screen is the daemon's; approve it as the user would in a browser.
    let orgs = rt.block_on(async { d.client().await.org_list().await.unwrap() });
    let acme = orgs
        .iter()
        .find(|o| o.name == "acme")
        .expect("acme registered");
    let AuthState::Pending {
        step:
            PendingStep::Device {
                user_code,
                verification_uri,
                ..
            },
    } = &acme.auth
    else {
        panic!("expected a device step, got {:?}", acme.auth)
    };
    let screen = tui.screen();
    assert!(
        screen.contains(&spaced(user_code)),
        "code not shown:\n{screen}"
    );
    assert!(
        screen.contains(verification_uri.as_str()),
        "URL not shown:\n{screen}"
    );
    assert!(
        sim.approve_device(user_code, true),
        "the simulator knows the code"
    );
    tui.wait_for("acme is authorized");
    Registered {
        tui,
        _daemon: d,
        _sim: sim,
        rt,
    }
}

#[test]
fn register_through_the_device_flow_download_metadata_and_filter_objects() {
    let r = registered();
    let tui = &r.tui;
    // Back on the list: download the metadata and read the report.
    tui.keys(&["Enter"]);
    tui.wait_for("Enter  objects");
    tui.keys(&["m"]);
    let screen = tui.wait_for("Salesforce API calls spent");
    assert!(screen.contains("Metadata of acme"), "{screen}");
    assert!(screen.contains("Added: "), "{screen}");
    tui.keys(&["Enter"]);
    tui.wait_gone("Salesforce API calls spent");

    // Objects: the whole list, then filtered as you type.
    tui.keys(&["Enter"]);
    let screen = tui.wait_for("Objects of acme (");
    // The first listed object that the filter will hide.
    let other = screen
        .lines()
        .skip_while(|l| !l.contains("│Name "))
        .skip(1)
        .filter_map(|l| l.strip_prefix('│')?.split_whitespace().next())
        .find(|name| !name.to_lowercase().contains("account"))
        .unwrap_or_else(|| panic!("no other object listed:\n{screen}"))
        .to_owned();
    tui.keys(&["/"]);
    tui.keys(&["-l", "Account"]);
    tui.wait_for("Filter: Account");
    let screen = tui.wait_gone(&format!("│{other} "));
    assert!(
        screen.contains(" of "),
        "the title counts matches:\n{screen}"
    );
    assert!(
        screen.lines().any(|l| l.contains("│Account ")),
        "Account is listed:\n{screen}"
    );

    // Esc ends filtering, clears the filter, goes back; q quits.
    // (One key at a time: two quick Escapes read as one Alt-Escape in any terminal.)
    tui.keys(&["Escape"]);
    tui.wait_for("Enter  map / edit");
    tui.keys(&["Escape"]);
    tui.wait_for(&format!("│{other} "));
    tui.keys(&["Escape"]);
    tui.wait_for("Enter  objects");
    tui.keys(&["q"]);
    tui.wait_exit();
}

#[test]
fn datasource_mapping_and_sync_through_the_tui_reach_the_database() {
    let r = registered();
    let tui = &r.tui;
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("target.db");

    // Settings → Datasource: SQLite at a path, save, check, generate the schema.
    tui.keys(&["Enter"]);
    tui.wait_for("Enter  objects");
    tui.keys(&["s"]);
    tui.wait_for("No datasource yet");
    tui.keys(&["Left", "Down"]);
    tui.wait_for("SQLite file");
    tui.keys(&["-l", &db_path.display().to_string()]);
    tui.keys(&["Down", "Down", "Enter"]);
    tui.wait_for("The datasource of acme is saved");
    tui.keys(&["Down", "Enter"]);
    let screen = tui.wait_for_any(&["Check datasource:", "Check datasource (server"]);
    assert!(!screen.contains("✗ fail"), "a check failed:\n{screen}");
    tui.keys(&["Down", "Enter"]);
    tui.wait_for("DB schema generated: yes");

    // Objects → Account → the mapping editor: Name is locked in, add Industry.
    tui.keys(&["Escape"]);
    tui.wait_for("Enter  objects");
    tui.keys(&["m"]);
    tui.wait_for("Salesforce API calls spent");
    tui.keys(&["Enter"]);
    tui.wait_gone("Salesforce API calls spent");
    tui.keys(&["Enter"]);
    tui.wait_for("Objects of acme (");
    tui.keys(&["/"]);
    tui.keys(&["-l", "Account"]);
    tui.wait_for("Filter: Account");
    // The Mapped column says "–" (not mapped) once the mappings are loaded.
    tui.wait_until("the mappings to load", |screen| {
        screen
            .lines()
            .any(|l| l.starts_with("│Account ") && l.contains(" – "))
    });
    tui.keys(&["Enter"]);
    tui.keys(&["Enter"]);
    tui.wait_for("Map Account");
    // The fields have loaded once the locked Name shows ("0 of 0 fields sync" before):
    // a key pressed earlier would act on an empty list.
    tui.wait_for("[■] Name");
    tui.keys(&["/"]);
    tui.keys(&["-l", "Industry"]);
    tui.wait_for("Filter: Industry");
    tui.keys(&["Enter", "Space"]);
    tui.wait_for("[x] Industry");
    tui.keys(&["Escape"]);
    let screen = tui.wait_for("[■] Name");
    assert!(screen.contains("[x] Industry"), "{screen}");
    assert!(
        screen.contains("[■] Name"),
        "Name is required, so locked:\n{screen}"
    );

    // Save: the plan first, then run it.
    tui.keys(&["Enter"]);
    let screen = tui.wait_for("Enter runs it");
    assert!(screen.contains("SF ↔ DB"), "{screen}");
    tui.keys(&["Enter"]);
    tui.wait_for("DB objects generated: yes");
    let screen = tui.wait_for("Objects of acme (");
    assert!(
        screen.contains("SF ↔ DB"),
        "Account shows as mapped:\n{screen}"
    );

    // Sync on, then watch the dashboard.
    tui.keys(&["Escape"]);
    tui.wait_for("Enter  objects");
    tui.keys(&["e"]);
    tui.wait_for("Sync of acme is on.");
    tui.keys(&["w"]);
    tui.wait_for("Sync — live from the daemon");
    tui.wait_until("Account to show 5 synced rows", |screen| {
        let row = screen.lines().find(|l| l.contains("Account")).unwrap_or("");
        row.contains("synced") && row.trim_end_matches('│').trim_end().ends_with(" 5")
    });

    // The database itself holds the five accounts with their industry.
    let rows = r.rt.block_on(async {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&format!("sqlite://{}", db_path.display()))
            .await
            .unwrap();
        sqlx::query("SELECT sfid, name, industry FROM account")
            .fetch_all(&pool)
            .await
            .unwrap()
    });
    assert_eq!(rows.len(), 5);
    for row in &rows {
        let name: Option<String> = row.try_get("name").unwrap();
        let industry: Option<String> = row.try_get("industry").unwrap();
        assert!(
            name.is_some() && industry.is_some(),
            "{name:?} {industry:?}"
        );
    }

    // The org-wide screens from the dashboard: the daemon's log tail, then failed records
    // and conflicts (none: every change went through, nothing changed on both sides).
    tui.keys(&["l"]);
    tui.wait_for("Daemon log — following the tail");
    tui.wait_for_any(&[" INFO ", " WARN ", " ERROR "]);
    tui.keys(&["Escape"]);
    tui.wait_for("Sync — live from the daemon");
    tui.keys(&["f"]);
    tui.wait_for("No failed records: nothing waits to be retried or ignored.");
    tui.keys(&["Escape"]);
    tui.wait_for("Sync — live from the daemon");
    tui.keys(&["c"]);
    tui.wait_for("No conflicts: no field was changed on both sides");
    tui.keys(&["Escape"]);
    tui.wait_for("Sync — live from the daemon");

    // A change Salesforce refuses (a validation rule): listed as failed, cut in its row at
    // 80 columns, whole with Enter.
    r._sim.with_org(|org| {
        org.table_mut("Account").unwrap().def.validation_rules.push(
            sfsim::schema::ValidationRule {
                name: "No_Blocked".into(),
                condition: "Industry = 'blocked'".into(),
                message: "Industry must not be blocked: choose the account's real industry".into(),
                field: Some("Industry".into()),
            },
        );
    });
    let db = |sql: String| {
        r.rt.block_on(async {
            let pool = sqlx::AnyPool::connect(&format!("sqlite://{}", db_path.display()))
                .await
                .unwrap();
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        })
    };
    db("INSERT INTO account (name, industry) VALUES ('Refused Ltd', 'blocked')".into());
    tui.keys(&["f"]);
    tui.wait_for("FIELD_CUSTOM_VALIDATION");
    tui.keys(&["Enter"]);
    tui.wait_for("Failed insert · Account row");
    tui.wait_for("Salesforce said: FIELD_CUSTOM_VALIDATION_EXCEPTION");
    tui.wait_for("Industry = blocked");
    tui.wait_for("Name = Refused Ltd");
    tui.keys(&["Escape"]);
    tui.wait_for("whole record");
    tui.keys(&["Escape"]);
    tui.wait_for("Sync — live from the daemon");

    // A field changed on both sides while sync is off (Watch says so): on again, the
    // conflict is listed and Enter shows both values whole.
    tui.keys(&["e"]);
    tui.wait_for("sync is off: press e to turn it on");
    tui.wait_for("paused");
    let id: String = rows[0].try_get("sfid").unwrap();
    let sf = datenator_tests::sync::SfUser::new(&r._sim);
    let from_sf =
        "Renamed in Salesforce while the database renamed it too, a name too long for its column";
    r.rt.block_on(sf.update("Account", &id, serde_json::json!({ "Name": from_sf })));
    // The database's change is the newer one.
    std::thread::sleep(Duration::from_millis(1100));
    db(format!(
        "UPDATE account SET name = 'Renamed in the database at the same time' WHERE sfid = '{id}'"
    ));
    tui.keys(&["e"]);
    tui.wait_for("Sync of acme is on.");
    tui.keys(&["y"]);
    tui.keys(&["c"]);
    // (u reloads the list.)
    wait::blocking("the conflict to be listed", STARTUP_TIMEOUT * 2, || {
        let screen = tui.screen();
        if screen.contains("newest wins") {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(500));
        tui.keys(&["u"]);
        Err(format!("the screen is:\n{screen}"))
    });
    tui.keys(&["Enter"]);
    tui.wait_for("Conflict · Account · Name");
    tui.wait_for("Database value:");
    tui.wait_for("Renamed in the database at the same time");
    tui.wait_for("Renamed in Salesforce while the database");
    tui.keys(&["Escape"]);
    tui.wait_for("both values whole");
    tui.keys(&["Escape"]);
    tui.wait_for("Sync — live from the daemon");
    tui.keys(&["q"]);
}

#[test]
fn web_server_flow_by_paste_survives_resizing_and_delete_asks_for_the_name() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sim = rt.block_on(Sim::start(SimConfig::default())).unwrap();
    let d = Daemon::start_with_config(&format!(
        "[salesforce]\nclient_id = \"{}\"\nclient_secret = \"{}\"\n",
        sim.info.client_id, sim.info.client_secret
    ));
    let cmd = format!(
        "{} --socket {} --log-file {}",
        bin("datenator-tui").display(),
        d.socket.display(),
        d.dir.path().join("tui.log").display()
    );
    let term = Tmux::start(&cmd, 80, 24);
    term.wait_for("No Salesforce orgs are registered yet.");

    // Register "web": custom domain, web-server flow.
    term.keys(&["n"]);
    term.wait_for("Register org");
    term.keys(&["-l", "web"]);
    term.keys(&["Tab", "Right", "Right", "Tab"]);
    term.wait_for("Domain");
    term.keys(&["-l", &sim.info.login_url]);
    term.wait_for(&sim.info.login_url);
    term.keys(&["Tab", "Right"]);
    term.wait_for("‹ web server ›");
    for _ in 0..4 {
        term.keys(&["Enter"]);
    }
    term.wait_for("paste it here");

    // Resizing keeps the flow on screen, wide and narrow.
    term.resize(140, 40);
    term.wait_for("paste it here");
    term.resize(60, 20);
    term.wait_for("Allow access");
    term.resize(80, 24);
    term.wait_for("paste it here");

    // The browser part over HTTP, then the landing address pasted into the TUI.
    let orgs = rt.block_on(async { d.client().await.org_list().await.unwrap() });
    let web = orgs
        .iter()
        .find(|o| o.name == "web")
        .expect("web registered");
    let AuthState::Pending {
        step: PendingStep::Browser { authorize_url },
    } = &web.auth
    else {
        panic!("expected the browser step, got {:?}", web.auth)
    };
    let landed = rt.block_on(async {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let url = url::Url::parse(authorize_url).unwrap();
        let mut form: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        form.push(("username".into(), sim.info.username.clone()));
        form.push(("action".into(), "allow".into()));
        let resp = http
            .post(format!("{}/services/oauth2/authorize", sim.info.login_url))
            .form(&form)
            .send()
            .await
            .unwrap();
        resp.headers()["location"].to_str().unwrap().to_owned()
    });
    term.paste(&landed);
    let code = url::Url::parse(&landed)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    // The end of the pasted address is in the field.
    term.wait_for(&code[code.len().saturating_sub(8)..]);
    term.keys(&["Enter"]);
    term.wait_for("web is authorized");

    // Delete: the dialog says what goes and wants the name.
    term.keys(&["Escape"]);
    term.wait_for("Enter  objects");
    term.keys(&["d"]);
    let screen = term.wait_for("Type the org's name to confirm");
    assert!(screen.contains("token is revoked"), "{screen}");
    assert!(screen.contains("Back up the database first"), "{screen}");
    term.keys(&["-l", "wex"]);
    term.keys(&["Enter"]);
    term.wait_for("exactly to delete it");
    term.keys(&["BSpace"]);
    term.keys(&["-l", "b"]);
    term.wait_for("Enter deletes it");
    term.keys(&["Enter"]);
    term.wait_for("web was deleted");
    term.keys(&["Enter"]);
    term.wait_for("No Salesforce orgs are registered yet.");
    let orgs = rt.block_on(async { d.client().await.org_list().await.unwrap() });
    assert!(orgs.is_empty(), "{orgs:?}");
}
