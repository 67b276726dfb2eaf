//! Row filter changes and re-syncs that keep the data whole (issue 16). A narrowed filter
//! keeps the rows it leaves out detached — never refreshed, their database changes never
//! sent — or deletes them when the user chose so and confirmed; a widened one loads the
//! records that now match and syncs detached rows again; a re-sync reads every record again,
//! merging by sfid, and removes rows whose record is gone — across a SIGKILL. On SQLite,
//! PostgreSQL and MariaDB, rows checked one by one and the events tables for stray events.
use std::collections::BTreeMap;

use datenator_shared::model::{Direction, Mapping, PlanView, Topic};
use datenator_shared::protocol::{Call, LeavingRows, ResyncObject, SaveMapping};
use datenator_tests::sync::{
    Db, SyncedOrg, TargetDb, eventually, q, setup_org, status_where, text,
};
use sfsim::{RunningSim, Sim, SimConfig};

const FIELDS: [&str; 3] = ["Name", "Phone", "Industry"];

async fn save(
    org: &SyncedOrg,
    direction: Direction,
    filter: Option<&str>,
    apply: bool,
    leaving_rows: LeavingRows,
    confirm_destructive: bool,
) -> anyhow::Result<PlanView> {
    Ok(org
        .client
        .call(Call::MappingSave(SaveMapping {
            org: org.org.clone(),
            mapping: Mapping {
                object: "Account".into(),
                fields: FIELDS.iter().map(|f| f.to_string()).collect(),
                direction,
                conflict_policy: Default::default(),
                row_filter: filter.map(str::to_owned),
            },
            apply,
            confirm_destructive,
            send_queued: false,
            leaving_rows,
        }))
        .await?)
}

/// sfid → (phone, state) of every row.
async fn rows(db: &TargetDb, pool: &sqlx::AnyPool) -> BTreeMap<String, (Option<String>, String)> {
    q(format!(
        "SELECT sfid, phone, _dn_state AS state FROM {}",
        db.table("Account")
    ))
    .fetch_all(pool)
    .await
    .unwrap_or_default()
    .iter()
    .map(|r| {
        (
            text(r, "sfid").unwrap_or_default(),
            (text(r, "phone"), text(r, "state").unwrap_or_default()),
        )
    })
    .collect()
}

/// (all events, events not yet processed) of the Account events table.
async fn events(db: &TargetDb, pool: &sqlx::AnyPool) -> (i64, i64) {
    let count = |filter: &str| {
        q(format!(
            "SELECT COUNT(*) AS n FROM {}{filter}",
            db.table("account__events")
        ))
    };
    let all = count("").fetch_one(pool).await.unwrap();
    let open = count(" WHERE state IN ('NEW', 'CLAIMED')")
        .fetch_one(pool)
        .await
        .unwrap();
    (
        sqlx::Row::get::<i64, _>(&all, "n"),
        sqlx::Row::get::<i64, _>(&open, "n"),
    )
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

/// Three Banking and three Retail accounts, synced in `direction` without a filter.
async fn start(
    kind: Db,
    tag: &str,
    direction: Direction,
) -> (RunningSim, TargetDb, SyncedOrg, Vec<String>, Vec<String>) {
    start_with(kind, tag, direction, "").await
}

/// [`start`], with lines for the daemon's `[sync]` section.
async fn start_with(
    kind: Db,
    tag: &str,
    direction: Direction,
    sync_config: &str,
) -> (RunningSim, TargetDb, SyncedOrg, Vec<String>, Vec<String>) {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let mut banking = Vec::new();
    let mut retail = Vec::new();
    for i in 0..3 {
        banking.push(
            sim.create(
                "Account",
                serde_json::json!({"Name": format!("Bank {i}"), "Industry": "Banking", "Phone": format!("b{i}")}),
            )
            .unwrap(),
        );
        retail.push(
            sim.create(
                "Account",
                serde_json::json!({"Name": format!("Shop {i}"), "Industry": "Retail", "Phone": format!("r{i}")}),
            )
            .unwrap(),
        );
    }
    let db = TargetDb::new(kind, tag);
    let org = setup_org(&sim, &db, tag, sync_config).await;
    org.map("Account", &FIELDS, direction).await;
    org.enable(true).await;
    let pool = db.pool().await;
    eventually("the first load", || async {
        let r = rows(&db, &pool).await;
        r.len() == 6 && r.values().all(|(_, s)| s == "SYNCED")
    })
    .await;
    (sim, db, org, banking, retail)
}

async fn a_narrowed_filter_detaches_and_a_widened_one_brings_back(kind: Db) {
    let (sim, db, org, banking, retail) = start(kind, "rowdetach", Direction::Bidirectional).await;
    let pool = db.pool().await;
    let watcher = org.daemon.client().await;
    watcher.subscribe(&[Topic::Sync]).await.unwrap();
    let both = Direction::Bidirectional;

    // The plan says what becomes of the three Retail rows, in words, and loses nothing.
    let plan = save(
        &org,
        both,
        Some("Industry = 'Banking'"),
        false,
        LeavingRows::Detach,
        false,
    )
    .await
    .unwrap();
    assert!(!plan.destructive, "{plan:#?}");
    let words: Vec<&str> = plan.steps.iter().map(|s| s.description.as_str()).collect();
    assert!(
        words
            .iter()
            .any(|w| w.starts_with("keep the 3 row(s) of Account")),
        "{words:#?}"
    );
    assert!(
        words.iter().any(|w| w.starts_with("re-read Account")),
        "{words:#?}"
    );
    // An invalid filter is refused in words before anything runs.
    let bad = save(
        &org,
        both,
        Some("Industry = "),
        false,
        LeavingRows::Detach,
        false,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(bad.contains("row filter"), "{bad}");

    save(
        &org,
        both,
        Some("Industry = 'Banking'"),
        true,
        LeavingRows::Detach,
        false,
    )
    .await
    .unwrap();
    eventually(
        "the Retail rows detached, the Banking ones synced",
        || async {
            let r = rows(&db, &pool).await;
            r.len() == 6
                && retail.iter().all(|id| r[id].1 == "DETACHED")
                && banking.iter().all(|id| r[id].1 == "SYNCED")
        },
    )
    .await;
    status_where(&watcher, "Account", "3 rows detached", |s| {
        s.detached_rows == 3
    })
    .await;
    assert_eq!(
        events(&db, &pool).await,
        (0, 0),
        "the engine's own writes recorded no change"
    );

    // A database edit to a detached row is never sent; a Salesforce edit to its record is
    // never pulled; an edit inside the filter still syncs.
    q(format!(
        "UPDATE {} SET phone = 'edited in the database' WHERE sfid = '{}'",
        db.table("Account"),
        retail[0]
    ))
    .execute(&pool)
    .await
    .unwrap();
    sim.update(
        &retail[1],
        serde_json::json!({"Phone": "edited outside the filter"}),
    )
    .unwrap();
    sim.update(
        &banking[0],
        serde_json::json!({"Phone": "edited inside the filter"}),
    )
    .unwrap();
    let outside = sim
        .create(
            "Account",
            serde_json::json!({"Name": "New shop", "Industry": "Retail", "Phone": "new"}),
        )
        .unwrap();
    eventually(
        "the edit inside arrives and the database edit is settled",
        || async {
            org.sync_now().await;
            let r = rows(&db, &pool).await;
            r[&banking[0]].0.as_deref() == Some("edited inside the filter")
                && events(&db, &pool).await == (1, 0)
        },
    )
    .await;
    let r = rows(&db, &pool).await;
    assert_eq!(
        sf_phone(&sim, &retail[0]).as_deref(),
        Some("r0"),
        "never sent"
    );
    assert_eq!(r[&retail[1]].0.as_deref(), Some("r1"), "never refreshed");
    assert!(!r.contains_key(&outside), "outside the filter: not loaded");

    // Widened again: the new record is loaded, the detached rows sync again with
    // Salesforce's values (the edit never sent is not resurrected).
    let plan = save(
        &org,
        both,
        Some("Industry IN ('Banking', 'Retail')"),
        false,
        LeavingRows::Detach,
        false,
    )
    .await
    .unwrap();
    assert_eq!(plan.steps.len(), 1, "nothing leaves: {plan:#?}");
    save(
        &org,
        both,
        Some("Industry IN ('Banking', 'Retail')"),
        true,
        LeavingRows::Detach,
        false,
    )
    .await
    .unwrap();
    eventually("every record synced again", || async {
        org.sync_now().await;
        let r = rows(&db, &pool).await;
        r.len() == 7
            && r.values().all(|(_, s)| s == "SYNCED")
            && r[&retail[1]].0.as_deref() == Some("edited outside the filter")
            && r[&retail[0]].0.as_deref() == Some("r0")
            && r[&outside].0.as_deref() == Some("new")
    })
    .await;
    status_where(&watcher, "Account", "no row detached", |s| {
        s.detached_rows == 0
    })
    .await;
    assert_eq!(events(&db, &pool).await, (1, 0), "no stray events");
    assert_eq!(sim.query("SELECT Id FROM Account", false).unwrap().len(), 7);
    // A database edit of a row synced again goes to Salesforce.
    q(format!(
        "UPDATE {} SET phone = 'back in sync' WHERE sfid = '{}'",
        db.table("Account"),
        retail[2]
    ))
    .execute(&pool)
    .await
    .unwrap();
    eventually("the edit reaches Salesforce", || async {
        sf_phone(&sim, &retail[2]).as_deref() == Some("back in sync")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_narrowed_filter_detaches_sqlite() {
    a_narrowed_filter_detaches_and_a_widened_one_brings_back(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_narrowed_filter_detaches_postgres() {
    a_narrowed_filter_detaches_and_a_widened_one_brings_back(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_narrowed_filter_detaches_mysql() {
    a_narrowed_filter_detaches_and_a_widened_one_brings_back(Db::Mysql).await;
}

async fn rows_leaving_a_filter_are_deleted_when_chosen(kind: Db) {
    let (sim, db, org, banking, _retail) = start(kind, "rowdelete", Direction::SfToDb).await;
    let pool = db.pool().await;
    let filter = Some("Industry = 'Banking'");
    let refused = save(
        &org,
        Direction::SfToDb,
        filter,
        true,
        LeavingRows::Delete,
        false,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(refused.contains("confirm"), "{refused}");
    let plan = save(
        &org,
        Direction::SfToDb,
        filter,
        false,
        LeavingRows::Delete,
        false,
    )
    .await
    .unwrap();
    assert!(plan.destructive);
    assert!(
        plan.steps.iter().any(
            |s| s.description.starts_with("delete the 3 row(s) of Account")
                && s.destructive.is_some()
        ),
        "{plan:#?}"
    );
    save(
        &org,
        Direction::SfToDb,
        filter,
        true,
        LeavingRows::Delete,
        true,
    )
    .await
    .unwrap();
    eventually("only the Banking rows left", || async {
        let r = rows(&db, &pool).await;
        r.len() == 3 && banking.iter().all(|id| r[id].1 == "SYNCED")
    })
    .await;
    assert_eq!(
        sim.query("SELECT Id FROM Account", false).unwrap().len(),
        6,
        "Salesforce keeps every record"
    );
    assert_eq!(events(&db, &pool).await, (0, 0), "no stray events");
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_leaving_a_filter_are_deleted_when_chosen_sqlite() {
    rows_leaving_a_filter_are_deleted_when_chosen(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_leaving_a_filter_are_deleted_when_chosen_postgres() {
    rows_leaving_a_filter_are_deleted_when_chosen(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_leaving_a_filter_are_deleted_when_chosen_mysql() {
    rows_leaving_a_filter_are_deleted_when_chosen(Db::Mysql).await;
}

async fn resync(org: &SyncedOrg, object: &str, apply: bool) -> anyhow::Result<PlanView> {
    Ok(org
        .client
        .call(Call::ObjectResync(ResyncObject {
            org: org.org.clone(),
            object: object.into(),
            apply,
        }))
        .await?)
}

/// The database lost two rows, one value drifted, and a record was deleted and purged in
/// Salesforce where no poll saw it: a re-sync — asked for, then interrupted by a SIGKILL
/// before it ran — puts every row back as Salesforce has it.
async fn a_resync_reads_everything_again(kind: Db) {
    a_resync_reads_everything_again_with(kind, "resync", "").await;
}

async fn a_resync_reads_everything_again_with(kind: Db, tag: &str, sync_config: &str) {
    let (sim, db, mut org, banking, retail) =
        start_with(kind, tag, Direction::SfToDb, sync_config).await;
    let pool = db.pool().await;
    let table = db.table("Account");
    q(format!(
        "DELETE FROM {table} WHERE sfid IN ('{}', '{}')",
        banking[0], banking[1]
    ))
    .execute(&pool)
    .await
    .unwrap();
    q(format!(
        "UPDATE {table} SET phone = 'drifted' WHERE sfid = '{}'",
        retail[0]
    ))
    .execute(&pool)
    .await
    .unwrap();
    org.enable(false).await;
    sim.delete(&retail[1]).unwrap();
    sim.purge_recycle_bin();

    let plan = resync(&org, "Account", false).await.unwrap();
    assert!(!plan.applied && !plan.destructive);
    let words = &plan.steps[0].description;
    assert!(
        words.starts_with("re-read every Account record from Salesforce")
            && words.contains("API call"),
        "{words}"
    );
    let unmapped = resync(&org, "Contact", false).await.unwrap_err();
    assert!(unmapped.to_string().contains("not mapped"), "{unmapped}");
    let plan = resync(&org, "Account", true).await.unwrap();
    assert!(plan.applied);

    // Asked for, then the daemon dies: the re-sync is not forgotten.
    org.daemon.crash_and_restart();
    org.client = org.daemon.client().await;
    org.enable(true).await;
    let expected: BTreeMap<String, Option<String>> = [
        (banking[0].clone(), Some("b0".to_owned())),
        (banking[1].clone(), Some("b1".to_owned())),
        (banking[2].clone(), Some("b2".to_owned())),
        (retail[0].clone(), Some("r0".to_owned())),
        (retail[2].clone(), Some("r2".to_owned())),
    ]
    .into();
    eventually("every row as Salesforce has it", || async {
        org.sync_now().await;
        let r = rows(&db, &pool).await;
        r.iter()
            .map(|(id, (phone, _))| (id.clone(), phone.clone()))
            .collect::<BTreeMap<_, _>>()
            == expected
            && r.values().all(|(_, s)| s == "SYNCED")
    })
    .await;
    let watcher = org.daemon.client().await;
    watcher.subscribe(&[Topic::Sync]).await.unwrap();
    status_where(&watcher, "Account", "the re-sync done", |s| !s.reloading).await;
    // The database user's delete and edit stay recorded (this object does not send), and
    // the engine's re-read recorded nothing.
    assert_eq!(events(&db, &pool).await.0, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resync_reads_everything_again_sqlite() {
    a_resync_reads_everything_again(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resync_reads_everything_again_postgres() {
    a_resync_reads_everything_again(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resync_reads_everything_again_mysql() {
    a_resync_reads_everything_again(Db::Mysql).await;
}

/// Above `bulk_threshold` the re-read lists the ids and loads the records through Bulk
/// queries: the same outcome.
#[tokio::test(flavor = "multi_thread")]
async fn a_resync_through_bulk_reads_everything_again_postgres() {
    a_resync_reads_everything_again_with(Db::Postgres, "resyncbulk", "bulk_threshold = 2").await;
}
