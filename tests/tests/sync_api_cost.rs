//! API calls that match the work: once a first load is behind the overlap window, a poll
//! with nothing changed reads nothing it has seen — one call, not the whole load again.
use std::time::Duration;

use datenator_shared::model::Direction;
use datenator_tests::sync::{Db, TargetDb, eventually, q, setup_org};
use serde_json::json;
use sfsim::{Sim, SimConfig};

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_poll_after_a_load_costs_one_call() {
    // 4,500 Accounts, all stamped within a second or two of the simulator's start: three
    // 2,000-record pages, and the cursor sits on their stamp.
    let sim = Sim::start(SimConfig {
        seed_counts: vec![("Account".into(), 4500)],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let db = TargetDb::new(Db::Sqlite, "idlecost");
    let org = setup_org(&sim, &db, "idlecost", "").await;
    org.map("Account", &["Name", "Phone"], Direction::SfToDb)
        .await;
    org.enable(true).await;
    let pool = db.pool().await;
    let table = db.table("Account");
    eventually("the first load", || async {
        q(format!("SELECT COUNT(*) AS n FROM {table}"))
            .fetch_one(&pool)
            .await
            .is_ok_and(|r| sqlx::Row::get::<i64, _>(&r, "n") == 4500)
    })
    .await;
    // Past the overlap window (5 s in these tests) after the load's stamps: nothing the
    // polls read could still be a late change.
    tokio::time::sleep(Duration::from_millis(6500)).await;
    // A whole round to learn Salesforce's time past the window.
    sim.reset_counters();
    org.polled_since_reset(&sim, 3).await;
    // Four polls counted: the rounds of the first three are over.
    sim.reset_counters();
    org.polled_since_reset(&sim, 4).await;
    let c = sim.counters();
    // Each round polls once: one composite call holding the replication API's visibility
    // check and the query (a nudge or the polling timer may add a poll). A re-read of the
    // load would cost three calls a poll: ten or more.
    let calls = c.api_calls;
    assert!(
        (4..9).contains(&calls),
        "four idle polls of one object cost {calls} calls (a re-read of the load would be 3 each): {:?}",
        c.by_kind
    );
}

/// A bidirectional push checks for conflicts only what Salesforce changed since the pulls
/// last saw it: 2,600 database updates cost one query for the check (reading every record
/// by id would take three composite calls), and the three records also changed in
/// Salesforce meanwhile are still found and settled by the policy.
async fn a_bidirectional_push_checks_only_what_changed_in_salesforce(kind: Db) {
    use datenator_shared::model::{ConflictPolicy, ConflictRecord, Mapping};
    use datenator_shared::protocol::{Call, OrgRef, OrgSettings, SaveMapping};
    use datenator_tests::sync::text;
    const N: usize = 2600;
    let sim = Sim::start(SimConfig {
        seed_counts: vec![("Account".into(), N)],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let tag = "pushcheck";
    let db = TargetDb::new(kind, tag);
    let org = setup_org(&sim, &db, tag, "").await;
    // Pulls only when asked: the push round sees Salesforce's changes before any pull.
    let _: serde_json::Value = org
        .client
        .call(Call::OrgSettings(OrgSettings {
            name: org.org.clone(),
            polling_interval_secs: Some(3600),
            api_budget_percent: None,
        }))
        .await
        .unwrap();
    let _: serde_json::Value = org
        .client
        .call(Call::MappingSave(SaveMapping {
            org: org.org.clone(),
            mapping: Mapping {
                object: "Account".into(),
                fields: vec!["Name".into(), "Phone".into()],
                direction: Direction::Bidirectional,
                conflict_policy: ConflictPolicy::SalesforceWins,
                row_filter: None,
            },
            apply: true,
            confirm_destructive: false,
            send_queued: false,
            leaving_rows: Default::default(),
        }))
        .await
        .unwrap();
    org.enable(true).await;
    let pool = db.pool().await;
    let (table, events) = (db.table("Account"), db.table("account__events"));
    eventually("the first load", || async {
        q(format!("SELECT COUNT(*) AS n FROM {table}"))
            .fetch_one(&pool)
            .await
            .is_ok_and(|r| sqlx::Row::get::<i64, _>(&r, "n") == N as i64)
    })
    .await;
    // Past the overlap window of the load's stamps, and polled since: what the next pull
    // would read — what the check reads — is only what changes from now on. (Idle push
    // rounds meanwhile: nothing queued since the start is left unchecked.)
    tokio::time::sleep(Duration::from_millis(6500)).await;
    org.sync_now().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let rows = q(format!("SELECT sfid FROM {table} ORDER BY sfid"))
        .fetch_all(&pool)
        .await
        .unwrap();
    let changed: Vec<String> = rows[..3].iter().map(|r| text(r, "sfid").unwrap()).collect();
    for (i, id) in changed.iter().enumerate() {
        sim.update(id, json!({"Phone": format!("sf-{i}")})).unwrap();
    }
    sim.reset_counters();
    q(format!("UPDATE {table} SET phone = 'db-phone'"))
        .execute(&pool)
        .await
        .unwrap();
    eventually("every update to be pushed", || async {
        q(format!("SELECT id FROM {events} WHERE state <> 'DONE'"))
            .fetch_all(&pool)
            .await
            .is_ok_and(|r| r.is_empty())
    })
    .await;
    let c = sim.counters();
    let count = |k: &str| c.by_kind.get(k).copied().unwrap_or(0);
    assert_eq!(
        count("composite"),
        0,
        "no record read by id: {:?}",
        c.by_kind
    );
    assert_eq!(
        count("query"),
        1,
        "one query for the check: {:?}",
        c.by_kind
    );
    let log: Vec<ConflictRecord> = org
        .client
        .call(Call::ConflictList(OrgRef {
            name: org.org.clone(),
        }))
        .await
        .unwrap();
    let mut found: Vec<&str> = log
        .iter()
        .filter(|c| c.field == "Phone" && c.winner == "salesforce")
        .map(|c| c.sfid.as_str())
        .collect();
    found.sort();
    assert_eq!(found, changed, "{log:?}");
    // Salesforce won those three, in the row too; every other record took the database's.
    for (i, id) in changed.iter().enumerate() {
        let phone = q(format!("SELECT phone FROM {table} WHERE sfid = '{id}'"))
            .fetch_one(&pool)
            .await
            .map(|r| text(&r, "phone"))
            .unwrap();
        assert_eq!(phone, Some(format!("sf-{i}")));
    }
    let sf = datenator_tests::sync::SfUser::new(&sim);
    let kept = sf
        .query("SELECT Id FROM Account WHERE Phone = 'db-phone'", false)
        .await;
    assert_eq!(kept.len(), N - 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bidirectional_push_checks_only_what_changed_in_salesforce_sqlite() {
    a_bidirectional_push_checks_only_what_changed_in_salesforce(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bidirectional_push_checks_only_what_changed_in_salesforce_postgres() {
    a_bidirectional_push_checks_only_what_changed_in_salesforce(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bidirectional_push_checks_only_what_changed_in_salesforce_mysql() {
    a_bidirectional_push_checks_only_what_changed_in_salesforce(Db::Mysql).await;
}
