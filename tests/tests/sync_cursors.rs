//! Query cursors that do not last: Salesforce keeps each `nextRecordsUrl` for one use,
//! releases a user's oldest cursor when an eleventh opens, and expires idle ones. A pull
//! whose cursor is gone part-way queries again from where it had read to, and loses,
//! skips and doubles nothing.
use std::time::Duration;

use datenator_shared::model::Direction;
use datenator_tests::sync::{Db, SfUser, TargetDb, eventually, phones, q, setup_org};
use serde_json::json;
use sfsim::{RunningSim, Sim, SimConfig};

/// Releases every open query cursor every few milliseconds until dropped.
struct Releaser(tokio::task::JoinHandle<()>);

impl Releaser {
    fn start(sim: &RunningSim) -> Releaser {
        let sim = sim.sim.clone();
        Releaser(tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(40)).await;
                sim.release_query_cursors();
            }
        }))
    }
}

impl Drop for Releaser {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn rows(pool: &sqlx::AnyPool, table: &str) -> (i64, i64) {
    use sqlx::Row;
    let r = q(format!(
        "SELECT COUNT(*) AS n, COUNT(DISTINCT sfid) AS d FROM {table}"
    ))
    .fetch_one(pool)
    .await
    .unwrap();
    (r.get::<i64, _>("n"), r.get::<i64, _>("d"))
}

async fn phone(pool: &sqlx::AnyPool, table: &str, id: String) -> Option<String> {
    q(format!("SELECT phone FROM {table} WHERE sfid = '{id}'"))
        .fetch_one(pool)
        .await
        .ok()
        .and_then(|r| datenator_tests::sync::text(&r, "phone"))
}

#[tokio::test(flavor = "multi_thread")]
async fn pulls_survive_query_cursors_released_between_pages() {
    const N: usize = 6500;
    let sim: RunningSim = Sim::start(SimConfig {
        seed_counts: vec![("Account".into(), N)],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    // Every call takes a while, so cursors are released between most pages.
    let mut faults = sim.faults_config();
    faults.latency_ms = 60;
    sim.set_faults(faults);
    let tag = "cursors";
    let db = TargetDb::new(Db::Sqlite, tag);
    let org = setup_org(&sim, &db, tag, "").await;
    org.map("Account", &["Name", "Phone"], Direction::Bidirectional)
        .await;
    let releaser = Releaser::start(&sim);
    org.enable(true).await;
    let pool = db.pool().await;
    let table = db.table("Account");
    // A first load through REST query pages (below the Bulk threshold).
    eventually("the first load reads every record once", || async {
        rows(&pool, &table).await == (N as i64, N as i64)
    })
    .await;

    // Changes to more records than a page holds: an incremental pull over several pages.
    let sf = SfUser::new(&sim);
    let ids: Vec<String> = sim
        .query("SELECT Id FROM Account ORDER BY Id", false)
        .unwrap()
        .iter()
        .map(|r| r["Id"].as_str().unwrap().to_owned())
        .collect();
    for (i, id) in ids.iter().enumerate().take(4500) {
        sim.update(id, json!({"Phone": format!("c-{i}")})).unwrap();
    }
    org.sync_now().await;
    eventually("the incremental pull reads every change", || async {
        let n: i64 = sqlx::Row::get(
            &q(format!(
                "SELECT COUNT(*) AS n FROM {table} WHERE phone LIKE 'c-%'"
            ))
            .fetch_one(&pool)
            .await
            .unwrap(),
            "n",
        );
        n == 4500
    })
    .await;
    drop(releaser);
    let p = phones(&db, &pool, &sf).await.unwrap();
    assert!(p.converged(), "{p:?}");
    assert_eq!(rows(&pool, &table).await, (N as i64, N as i64));
    let stderr = org.daemon.stderr();
    assert!(
        stderr.contains("querying again from where it was read to"),
        "cursors were released part-way:\n{stderr}"
    );
}

/// Salesforce stamps whole seconds, so a data load stamps thousands of records with one
/// SystemModstamp: 5,000 records on one stamp are pulled across pages — cursors released
/// between them — each exactly once. And a change that becomes visible after newer ones
/// were pulled (a long transaction commits late, its stamp already behind the cursor) is
/// still pulled, through the late-change window. On SQLite, PostgreSQL and MariaDB.
async fn ties_and_late_changes(kind: Db) {
    const SEEDED: usize = 3;
    const LOADED: usize = 5000;
    let sim: RunningSim = Sim::start(SimConfig {
        seed_counts: vec![("Account".into(), SEEDED)],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let tag = "ties";
    let db = TargetDb::new(kind, tag);
    let org = setup_org(&sim, &db, tag, "").await;
    org.map("Account", &["Name", "Phone"], Direction::SfToDb)
        .await;
    org.enable(true).await;
    let pool = db.pool().await;
    let table = db.table("Account");
    eventually("the first load", || async {
        rows(&pool, &table).await == (SEEDED as i64, SEEDED as i64)
    })
    .await;

    // The load: every record on the next whole second (the clock never goes back, so the
    // stamps cannot straddle a second).
    let stamp = chrono::DateTime::from_timestamp(chrono::Utc::now().timestamp() + 2, 0).unwrap();
    sim.with_org(|o| o.last_stamp = stamp);
    sim.seed_records("Account", LOADED, 7).unwrap();
    let stamps = sim
        .query("SELECT SystemModstamp FROM Account", false)
        .unwrap()
        .iter()
        .filter_map(|r| r["SystemModstamp"].as_str().map(str::to_owned))
        .collect::<std::collections::BTreeSet<_>>();
    assert!(stamps.len() <= 2, "the load shares one stamp: {stamps:?}");
    let mut faults = sim.faults_config();
    faults.latency_ms = 30;
    sim.set_faults(faults);
    let releaser = Releaser::start(&sim);
    org.sync_now().await;
    let all = (SEEDED + LOADED) as i64;
    eventually("every record of the load, once", || async {
        rows(&pool, &table).await == (all, all)
    })
    .await;
    drop(releaser);

    // A change that commits late: invisible for two seconds, while a newer change to
    // another record is pulled and moves the cursor past its stamp.
    let ids: Vec<String> = sim
        .query("SELECT Id FROM Account ORDER BY Id", false)
        .unwrap()
        .iter()
        .map(|r| r["Id"].as_str().unwrap().to_owned())
        .collect();
    let (late, newer) = (&ids[0], &ids[1]);
    tokio::time::sleep(Duration::from_millis(2100)).await; // past the load's stamp
    let mut faults = sim.faults_config();
    faults.latency_ms = 0;
    faults.late_visibility_ms = 2000;
    sim.set_faults(faults);
    sim.update(late, json!({"Phone": "late"})).unwrap();
    let mut faults = sim.faults_config();
    faults.late_visibility_ms = 0;
    sim.set_faults(faults);
    tokio::time::sleep(Duration::from_millis(1100)).await; // a later second
    sim.update(newer, json!({"Phone": "newer"})).unwrap();
    org.sync_now().await;
    let phone = |id: String| phone(&pool, &table, id);
    eventually("the newer change", || async {
        phone(newer.clone()).await.as_deref() == Some("newer")
    })
    .await;
    eventually("the late change, once visible", || async {
        org.sync_now().await;
        phone(late.clone()).await.as_deref() == Some("late")
    })
    .await;
    assert_eq!(rows(&pool, &table).await, (all, all));
}

#[tokio::test(flavor = "multi_thread")]
async fn ties_and_late_changes_sqlite() {
    ties_and_late_changes(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ties_and_late_changes_postgres() {
    ties_and_late_changes(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ties_and_late_changes_mysql() {
    ties_and_late_changes(Db::Mysql).await;
}

/// A change whose transaction stays uncommitted for longer than the overlap window (5 s in
/// the tests) — across a minute boundary, as Salesforce's guarantee counts in minutes — is
/// still pulled once it commits: the replication API's `latestDateCovered`, asked before
/// every poll's query, holds the next poll's window back to the transaction's start. With
/// the overlap alone the change was lost (its stamp fell behind the window before it became
/// visible). One database: what is tested is where the engine's query starts.
#[tokio::test(flavor = "multi_thread")]
async fn a_transaction_longer_than_the_overlap_is_not_lost() {
    use chrono::Timelike;
    let sim: RunningSim = Sim::start(SimConfig {
        seed_counts: vec![("Account".into(), 3)],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let tag = "longtx";
    let db = TargetDb::new(Db::Sqlite, tag);
    let org = setup_org(&sim, &db, tag, "").await;
    org.map("Account", &["Name", "Phone"], Direction::SfToDb)
        .await;
    org.enable(true).await;
    let pool = db.pool().await;
    let table = db.table("Account");
    eventually("the first load", || async {
        rows(&pool, &table).await == (3, 3)
    })
    .await;
    let ids: Vec<String> = sim
        .query("SELECT Id FROM Account ORDER BY Id", false)
        .unwrap()
        .iter()
        .map(|r| r["Id"].as_str().unwrap().to_owned())
        .collect();
    let (late, newer) = (&ids[0], &ids[1]);

    // Late in a minute, a transaction begins that commits 6 s into the next one.
    let second = chrono::Utc::now().second();
    if second < 50 {
        tokio::time::sleep(Duration::from_secs(u64::from(50 - second))).await;
    }
    let hidden_ms = u64::from(66 - chrono::Utc::now().second()) * 1000;
    let mut faults = sim.faults_config();
    faults.late_visibility_ms = hidden_ms;
    sim.set_faults(faults);
    sim.update(late, json!({"Phone": "late"})).unwrap();
    let visible_at = std::time::Instant::now() + Duration::from_millis(hidden_ms);
    let mut faults = sim.faults_config();
    faults.late_visibility_ms = 0;
    sim.set_faults(faults);
    // Meanwhile newer changes are pulled and move the cursor past its stamp.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    sim.update(newer, json!({"Phone": "newer"})).unwrap();
    let phone = |id: String| phone(&pool, &table, id);
    // Polls go on while it is hidden, past the minute boundary; they stop a little before
    // it commits, so none can have read it yet when that is checked.
    let margin = Duration::from_millis(1500);
    while std::time::Instant::now() + margin < visible_at {
        org.sync_now().await;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    assert_eq!(phone(newer.clone()).await.as_deref(), Some("newer"));
    assert_ne!(
        phone(late.clone()).await.as_deref(),
        Some("late"),
        "not visible before it committed"
    );
    tokio::time::sleep(visible_at.saturating_duration_since(std::time::Instant::now())).await;
    eventually("the long transaction's change, once committed", || async {
        org.sync_now().await;
        phone(late.clone()).await.as_deref() == Some("late")
    })
    .await;
    assert_eq!(rows(&pool, &table).await, (3, 3));
}
