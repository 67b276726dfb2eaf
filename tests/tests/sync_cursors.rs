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
