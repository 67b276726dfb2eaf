//! An object whose mapping is removed (its tables dropped) and later saved again starts
//! over: its first load reads every record, not only those changed since the dropped
//! table's last pull. On SQLite, PostgreSQL and MariaDB.
use datenator_shared::model::{Direction, PlanView};
use datenator_shared::protocol::{Call, RemoveMapping};
use datenator_tests::sync::{Db, TargetDb, eventually, q, setup_org};
use sfsim::{Sim, SimConfig};

async fn mapped_again_loads_every_record(kind: Db) {
    let sim = Sim::start(SimConfig {
        seed_counts: vec![("Account".into(), 6)],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let tag = "mapagain";
    let db = TargetDb::new(kind, tag);
    let org = setup_org(&sim, &db, tag, "").await;
    org.map("Account", &["Name", "Phone"], Direction::SfToDb)
        .await;
    org.enable(true).await;
    let pool = db.pool().await;
    let table = db.table("Account");
    let rows = || async {
        q(format!("SELECT COUNT(*) AS n FROM {table}"))
            .fetch_one(&pool)
            .await
            .map(|r| sqlx::Row::get::<i64, _>(&r, "n"))
            .unwrap_or(-1)
    };
    eventually("the first load", || async { rows().await == 6 }).await;
    let plan: PlanView = org
        .client
        .call(Call::MappingRemove(RemoveMapping {
            org: org.org.clone(),
            object: "Account".into(),
            apply: true,
            confirm_destructive: true,
        }))
        .await
        .unwrap();
    assert!(plan.applied);
    // One record changes meanwhile: the dropped table's cursor would read only that one.
    let id = sim.query("SELECT Id FROM Account LIMIT 1", false).unwrap()[0]["Id"]
        .as_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    sim.update(&id, serde_json::json!({"Phone": "changed while unmapped"}))
        .unwrap();
    org.map("Account", &["Name", "Phone"], Direction::SfToDb)
        .await;
    eventually("every record loaded again", || async {
        org.sync_now().await;
        rows().await == 6
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mapped_again_loads_every_record_sqlite() {
    mapped_again_loads_every_record(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mapped_again_loads_every_record_postgres() {
    mapped_again_loads_every_record(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mapped_again_loads_every_record_mysql() {
    mapped_again_loads_every_record(Db::Mysql).await;
}
