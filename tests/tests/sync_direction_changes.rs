//! Direction changes that never send what the user did not mean to sync: database changes
//! made while an object only came from Salesforce are named by the plan that makes it send,
//! and discarded unless the user asks to send them. On SQLite, PostgreSQL and MariaDB, the
//! Salesforce records and the events table checked.
use datenator_shared::model::{Direction, Mapping, PlanView};
use datenator_shared::protocol::{Call, SaveMapping};
use datenator_tests::sync::{Db, SyncedOrg, TargetDb, eventually, q, setup_org};
use sfsim::{RunningSim, Sim, SimConfig};

async fn save(org: &SyncedOrg, direction: Direction, apply: bool, send_queued: bool) -> PlanView {
    org.client
        .call(Call::MappingSave(SaveMapping {
            org: org.org.clone(),
            mapping: Mapping {
                object: "Account".into(),
                fields: vec!["Name".into(), "Phone".into()],
                direction,
                conflict_policy: Default::default(),
                row_filter: None,
            },
            apply,
            confirm_destructive: false,
            send_queued,
            leaving_rows: Default::default(),
        }))
        .await
        .unwrap()
}

fn sf_phone(sim: &RunningSim, id: &str) -> Option<String> {
    sim.query(
        &format!("SELECT Phone FROM Account WHERE Id = '{id}'"),
        false,
    )
    .unwrap()
    .first()
    .and_then(|r| r["Phone"].as_str().map(str::to_owned))
}

async fn set_phone(db: &TargetDb, pool: &sqlx::AnyPool, id: &str, phone: &str) {
    q(format!(
        "UPDATE {} SET phone = '{phone}' WHERE sfid = '{id}'",
        db.table("Account")
    ))
    .execute(pool)
    .await
    .unwrap();
}

async fn unsent(db: &TargetDb, pool: &sqlx::AnyPool) -> i64 {
    let r = q(format!(
        "SELECT COUNT(*) AS n FROM {} WHERE state IN ('NEW', 'CLAIMED')",
        db.table("account__events")
    ))
    .fetch_one(pool)
    .await
    .unwrap();
    sqlx::Row::get::<i64, _>(&r, "n")
}

fn steps(plan: &PlanView) -> Vec<&str> {
    plan.steps.iter().map(|s| s.description.as_str()).collect()
}

/// Salesforce → database, then both ways: an edit made in the database meanwhile is
/// discarded by default (the plan says so first), an edit after the switch is sent. Back
/// to one way, another edit, then both ways asking to send: that edit reaches Salesforce.
async fn queued_changes_are_sent_only_when_asked(kind: Db) {
    let sim = Sim::start(SimConfig {
        seed_counts: vec![("Account".into(), 5)],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let tag = "direction";
    let db = TargetDb::new(kind, tag);
    let org = setup_org(&sim, &db, tag, "").await;
    org.map("Account", &["Name", "Phone"], Direction::SfToDb)
        .await;
    org.enable(true).await;
    let pool = db.pool().await;
    let ids: Vec<String> = sim
        .query("SELECT Id FROM Account ORDER BY Id", false)
        .unwrap()
        .iter()
        .map(|r| r["Id"].as_str().unwrap().to_owned())
        .collect();
    let table = db.table("Account");
    eventually("the first load", || async {
        q(format!("SELECT COUNT(*) AS n FROM {table}"))
            .fetch_one(&pool)
            .await
            .is_ok_and(|r| sqlx::Row::get::<i64, _>(&r, "n") == 5)
    })
    .await;
    let (a, b, c) = (&ids[0], &ids[1], &ids[2]);
    let a_before = sf_phone(&sim, a);

    set_phone(&db, &pool, a, "edited while one-way").await;
    let plan = save(&org, Direction::Bidirectional, false, false).await;
    assert!(
        steps(&plan).iter().any(|s| s.starts_with(
            "discard the 1 database change(s) made to Account while it did not sync to Salesforce"
        )),
        "{:?}",
        steps(&plan)
    );
    let asked = save(&org, Direction::Bidirectional, false, true).await;
    assert!(
        steps(&asked)
            .iter()
            .any(|s| s.starts_with("send the 1 database change(s)")),
        "{:?}",
        steps(&asked)
    );
    save(&org, Direction::Bidirectional, true, false).await;
    assert_eq!(
        unsent(&db, &pool).await,
        0,
        "the queued change is discarded"
    );
    set_phone(&db, &pool, b, "edited both ways").await;
    eventually("the edit made after the switch is sent", || async {
        sf_phone(&sim, b).as_deref() == Some("edited both ways")
    })
    .await;
    assert_eq!(
        sf_phone(&sim, a),
        a_before,
        "the edit made while one-way is not sent"
    );
    let local: Option<String> = q(format!("SELECT phone FROM {table} WHERE sfid = '{a}'"))
        .fetch_one(&pool)
        .await
        .ok()
        .and_then(|r| datenator_tests::sync::text(&r, "phone"));
    assert_eq!(
        local.as_deref(),
        Some("edited while one-way"),
        "kept in the database"
    );

    save(&org, Direction::SfToDb, true, false).await;
    set_phone(&db, &pool, c, "send this one").await;
    save(&org, Direction::Bidirectional, true, true).await;
    eventually("the queued edit, asked to be sent", || async {
        sf_phone(&sim, c).as_deref() == Some("send this one")
    })
    .await;
    eventually("nothing left unsent", || async {
        unsent(&db, &pool).await == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn queued_changes_are_sent_only_when_asked_sqlite() {
    queued_changes_are_sent_only_when_asked(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn queued_changes_are_sent_only_when_asked_postgres() {
    queued_changes_are_sent_only_when_asked(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn queued_changes_are_sent_only_when_asked_mysql() {
    queued_changes_are_sent_only_when_asked(Db::Mysql).await;
}

/// Database → Salesforce, then both ways: the first pull merges by Salesforce id — the
/// records the database created keep their one row each (no copy, nothing sent again), the
/// records only Salesforce had arrive. Through a REST query, and through a Bulk query (the
/// first load of more than `bulk_threshold` records).
async fn a_mapping_that_starts_pulling_merges_by_sfid(kind: Db, bulk: bool) {
    let sim = Sim::start(SimConfig {
        seed_counts: vec![("Account".into(), 5)],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let tag = if bulk { "startpullb" } else { "startpull" };
    let db = TargetDb::new(kind, tag);
    let config = if bulk { "bulk_threshold = 3\n" } else { "" };
    let org = setup_org(&sim, &db, tag, config).await;
    org.map("Account", &["Name", "Phone"], Direction::DbToSf)
        .await;
    org.enable(true).await;
    let pool = db.pool().await;
    let table = db.table("Account");
    q(format!(
        "INSERT INTO {table} (name, phone) VALUES ('from-db-1', 'd1'), ('from-db-2', 'd2')"
    ))
    .execute(&pool)
    .await
    .unwrap();
    let counts = || async {
        let r = q(format!(
            "SELECT COUNT(*) AS n, COUNT(DISTINCT sfid) AS d FROM {table}"
        ))
        .fetch_one(&pool)
        .await
        .unwrap();
        (
            sqlx::Row::get::<i64, _>(&r, "n"),
            sqlx::Row::get::<i64, _>(&r, "d"),
        )
    };
    eventually("the database's rows sent", || async {
        counts().await == (2, 2) && unsent(&db, &pool).await == 0
    })
    .await;
    assert_eq!(sim.query("SELECT Id FROM Account", false).unwrap().len(), 7);
    save(&org, Direction::Bidirectional, true, false).await;
    eventually("Salesforce's records merged in", || async {
        counts().await == (7, 7)
    })
    .await;
    // A whole round later, still one of each.
    sim.reset_counters();
    org.polled_since_reset(&sim, 3).await;
    assert_eq!(counts().await, (7, 7), "one row per record");
    assert_eq!(
        sim.query("SELECT Id FROM Account", false).unwrap().len(),
        7,
        "nothing created twice"
    );
    assert_eq!(
        sim.query("SELECT Id FROM Account WHERE Phone = 'd2'", false)
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mapping_that_starts_pulling_merges_by_sfid_sqlite() {
    a_mapping_that_starts_pulling_merges_by_sfid(Db::Sqlite, false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mapping_that_starts_pulling_merges_by_sfid_through_bulk_sqlite() {
    a_mapping_that_starts_pulling_merges_by_sfid(Db::Sqlite, true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mapping_that_starts_pulling_merges_by_sfid_postgres() {
    a_mapping_that_starts_pulling_merges_by_sfid(Db::Postgres, false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mapping_that_starts_pulling_merges_by_sfid_through_bulk_postgres() {
    a_mapping_that_starts_pulling_merges_by_sfid(Db::Postgres, true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mapping_that_starts_pulling_merges_by_sfid_mysql() {
    a_mapping_that_starts_pulling_merges_by_sfid(Db::Mysql, false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mapping_that_starts_pulling_merges_by_sfid_through_bulk_mysql() {
    a_mapping_that_starts_pulling_merges_by_sfid(Db::Mysql, true).await;
}
