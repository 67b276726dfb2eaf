//! API calls that match the work: once a first load is behind the overlap window, a poll
//! with nothing changed reads nothing it has seen — one call, not the whole load again.
use std::time::Duration;

use datenator_shared::model::Direction;
use datenator_tests::sync::{Db, TargetDb, eventually, q, setup_org};
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
    org.sync_now().await; // one poll to learn Salesforce's time past the window
    tokio::time::sleep(Duration::from_millis(1500)).await;
    sim.reset_counters();
    for _ in 0..3 {
        org.sync_now().await;
        tokio::time::sleep(Duration::from_millis(1200)).await;
    }
    let c = sim.counters();
    let queries = c.by_kind.get("query").copied().unwrap_or(0);
    // Each nudge polls once (a call); the polling timer may add a poll or two on a slow
    // machine. A re-read of the load would cost three calls a poll: nine or more.
    assert!(
        (1..9).contains(&queries),
        "three idle polls of one object cost {queries} query calls (a re-read of the load would be 3 each): {:?}",
        c.by_kind
    );
}
