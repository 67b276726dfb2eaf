//! Credentials a Salesforce admin can trust, end to end (real daemon, sfsim over HTTP): the
//! same Salesforce org registered twice is refused naming the first registration, and a
//! refresh of a working org's credentials that is denied keeps the org syncing and says
//! the refresh failed until a later one succeeds.
use std::time::Duration;

use datenator_shared::model::{
    AuthFlow, AuthState, DatasourceDetails, Direction, Event, LogLine, OrgSummary, OrgType,
    PendingStep, Topic,
};
use datenator_shared::protocol::{Call, OrgRef, Reauthorize, RegisterOrg, SetDatasource};
use datenator_tests::Daemon;
use datenator_tests::sync::{Db, SfUser, TargetDb, eventually, org_where, q, setup_org};
use datenator_tests::wait::event_where;
use sfsim::{RunningSim, Sim, SimConfig};

async fn sim(accounts: usize) -> RunningSim {
    Sim::start(SimConfig {
        seed_counts: vec![("Account".into(), accounts)],
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

fn device_code(org: &OrgSummary) -> String {
    match &org.auth {
        AuthState::Pending {
            step: PendingStep::Device { user_code, .. },
        } => user_code.clone(),
        other => panic!("expected a device step, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_org_registered_twice_is_refused_naming_the_first() {
    let sim = sim(1).await;
    let d = Daemon::start_with_config(&format!(
        "[salesforce]\nclient_id = \"{}\"\nclient_secret = \"{}\"\n",
        sim.info.client_id, sim.info.client_secret
    ));
    let client = d.client().await;
    client.subscribe(&[Topic::Orgs]).await.unwrap();
    let register = |name: &str| {
        Call::OrgRegister(RegisterOrg {
            name: name.into(),
            org_type: OrgType::Custom(sim.info.login_url.clone()),
            flow: AuthFlow::Device,
            client_id: None,
            client_secret: None,
        })
    };
    let first: OrgSummary = client.call(register("first")).await.unwrap();
    assert!(sim.approve_device(&device_code(&first), true));
    org_where(&client, "first", |o| o.auth == AuthState::Authorized).await;

    let second: OrgSummary = client.call(register("second")).await.unwrap();
    assert!(sim.approve_device(&device_code(&second), true));
    let second = org_where(&client, "second", |o| {
        !matches!(o.auth, AuthState::Pending { .. })
    })
    .await;
    let AuthState::Failed { error } = &second.auth else {
        panic!("the second registration must fail, not {:?}", second.auth)
    };
    assert!(
        error.contains("already registered as \"first\"") && error.contains(&sim.info.org_id),
        "{error}"
    );
    assert_eq!(second.org_id, None);
    let orgs: Vec<OrgSummary> = client
        .call(Call::OrgList(Default::default()))
        .await
        .unwrap();
    let first = orgs.iter().find(|o| o.name == "first").unwrap();
    assert_eq!(first.auth, AuthState::Authorized, "the first is untouched");
    assert!(
        !d.stderr().contains("UNIQUE constraint failed"),
        "no store error: the duplicate is caught before"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_denied_refresh_keeps_a_working_org_syncing() {
    let sim = sim(3).await;
    let db = TargetDb::new(Db::Sqlite, "refresh");
    let org = setup_org(&sim, &db, "refresh", "").await;
    org.map("Account", &["Name"], Direction::Bidirectional)
        .await;
    org.enable(true).await;
    let pool = db.pool().await;
    let sf = SfUser::new(&sim);
    let table = db.table("Account");
    let pushed = |name: &'static str| {
        let sf = &sf;
        async move {
            !sf.query(
                &format!("SELECT Id FROM Account WHERE Name = '{name}'"),
                false,
            )
            .await
            .is_empty()
        }
    };
    eventually("the first load", || async {
        q(format!(
            "SELECT COUNT(*) FROM {table} WHERE sfid IS NOT NULL"
        ))
        .fetch_one(&pool)
        .await
        .map(|r| sqlx::Row::get::<i64, _>(&r, 0) == 3)
        .unwrap_or(false)
    })
    .await;

    // A refresh starts: while it waits for the user, sync goes on with the old credentials.
    let pending: OrgSummary = org
        .client
        .call(Call::OrgReauthorize(Reauthorize {
            name: "refresh".into(),
            flow: AuthFlow::Device,
        }))
        .await
        .unwrap();
    let code = device_code(&pending);
    q(format!(
        "INSERT INTO {table} (name) VALUES ('during the refresh')"
    ))
    .execute(&pool)
    .await
    .unwrap();
    eventually("a change made during the refresh is pushed", || {
        pushed("during the refresh")
    })
    .await;

    // The user denies it: the org stays authorized, with its old credentials.
    assert!(sim.approve_device(&code, false));
    // Past the org lists sent before the refresh started, to its end.
    org_where(&org.client, "refresh", |o| {
        matches!(o.auth, AuthState::Pending { .. })
    })
    .await;
    let after = org_where(&org.client, "refresh", |o| {
        !matches!(o.auth, AuthState::Pending { .. })
    })
    .await;
    assert_eq!(after.auth, AuthState::Authorized, "{:?}", after.auth);
    // The failure is said on the org (the TUI shows it on the Orgs and re-authorize
    // screens) and in the log topic.
    let why = after
        .refresh_error
        .as_deref()
        .expect("the org says its refresh failed");
    assert!(why.contains("denied"), "{why}");
    // (A subscription starts with the log's whole tail.)
    org.client.subscribe(&[Topic::Log]).await.unwrap();
    event_where(
        &org.client,
        "the failed refresh to be reported in the log",
        Duration::from_secs(30),
        |e| match e {
            Event::Log(lines) => lines
                .iter()
                .any(|l: &LogLine| {
                    l.org.as_deref() == Some("refresh")
                        && l.message
                            .contains("refreshing the org's credentials failed")
                })
                .then_some(()),
            _ => None,
        },
    )
    .await;
    q(format!(
        "INSERT INTO {table} (name) VALUES ('after the denial')"
    ))
    .execute(&pool)
    .await
    .unwrap();
    eventually("a change made after the denial is pushed", || {
        pushed("after the denial")
    })
    .await;
    // The push lands in Salesforce before its event is marked done: no change stays NEW.
    eventually("every change marked done", || async {
        q(format!(
            "SELECT COUNT(*) FROM {} WHERE state <> 'DONE'",
            db.table("Account__events")
        ))
        .fetch_one(&pool)
        .await
        .map(|r| sqlx::Row::get::<i64, _>(&r, 0))
        .unwrap_or(-1)
            == 0
    })
    .await;

    // A later refresh that is approved forgets the failed one.
    let again: OrgSummary = org
        .client
        .call(Call::OrgReauthorize(Reauthorize {
            name: "refresh".into(),
            flow: AuthFlow::Device,
        }))
        .await
        .unwrap();
    assert_eq!(again.refresh_error, None, "a new refresh starts clean");
    assert!(sim.approve_device(&device_code(&again), true));
    // Past the org lists sent before this refresh, to its end.
    org_where(&org.client, "refresh", |o| {
        matches!(o.auth, AuthState::Pending { .. })
    })
    .await;
    let done = org_where(&org.client, "refresh", |o| {
        !matches!(o.auth, AuthState::Pending { .. })
    })
    .await;
    assert_eq!(done.auth, AuthState::Authorized, "{:?}", done.auth);
    assert_eq!(done.refresh_error, None);
}

/// Generating a generated schema again works and shows who writes the tables: the sync
/// user and the application role, with the statement that grants the role.
#[tokio::test(flavor = "multi_thread")]
async fn generate_again_shows_the_sync_user_and_application_role() {
    let sim = sim(1).await;
    let db = TargetDb::new(Db::Postgres, "access");
    let org = setup_org(&sim, &db, "access", "").await;
    let details: DatasourceDetails = org
        .client
        .call(Call::SchemaGenerate(OrgRef {
            name: "access".into(),
        }))
        .await
        .unwrap();
    assert!(details.view.schema_generated);
    assert_eq!(details.view.schema_error, None);
    let access = details.access.expect("who writes the tables");
    assert_eq!(
        access.sync_user.as_deref(),
        Some(format!("{}_sync", db.schema).as_str())
    );
    let role = access.app_role.expect("an application role");
    assert_eq!(role, format!("{}_app", db.schema));
    assert!(
        access
            .grant_hint
            .starts_with(&format!("GRANT \"{role}\" TO <db user>;")),
        "{}",
        access.grant_hint
    );
    // A client that reads the reply as a DatasourceView still can.
    let view: datenator_shared::model::DatasourceView = org
        .client
        .call(Call::DatasourceGet(OrgRef {
            name: "access".into(),
        }))
        .await
        .unwrap();
    assert!(view.schema_generated);

    // A generation that fails (here: an admin without rights) never marks a generated
    // schema "not generated": its tables are there and sync goes on.
    let pool = db.pool().await;
    let weak = format!("dn_weak_{}", std::process::id());
    for sql in [
        format!("DROP ROLE IF EXISTS \"{weak}\""),
        format!("CREATE ROLE \"{weak}\" LOGIN PASSWORD 'pw'"),
    ] {
        q(sql).execute(&pool).await.unwrap();
    }
    let mut weak_settings = db.settings.clone();
    weak_settings.user = weak.clone();
    weak_settings.password = "pw".into();
    let set = |settings| {
        Call::DatasourceSet(SetDatasource {
            org: "access".into(),
            settings,
        })
    };
    let _: serde_json::Value = org.client.call(set(weak_settings)).await.unwrap();
    let err = org
        .client
        .call::<DatasourceDetails>(Call::SchemaGenerate(OrgRef {
            name: "access".into(),
        }))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
    let after: DatasourceDetails = org
        .client
        .call(Call::DatasourceGet(OrgRef {
            name: "access".into(),
        }))
        .await
        .unwrap();
    assert!(after.view.schema_generated, "still generated: {after:?}");
    assert!(after.view.schema_error.is_some());
    let orgs: Vec<OrgSummary> = org
        .client
        .call(Call::OrgList(Default::default()))
        .await
        .unwrap();
    assert!(
        orgs.iter()
            .any(|o| o.name == "access" && o.schema_generated)
    );
    let _: serde_json::Value = org.client.call(set(db.settings.clone())).await.unwrap();
    q(format!("DROP ROLE \"{weak}\""))
        .execute(&pool)
        .await
        .unwrap();
    let _: serde_json::Value = org
        .client
        .call(Call::OrgDelete(datenator_shared::protocol::DeleteOrg {
            name: "access".into(),
            confirm: "access".into(),
        }))
        .await
        .unwrap();
}
