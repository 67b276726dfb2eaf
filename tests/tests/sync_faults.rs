//! Salesforce misbehaving during sync: transient errors, dropped connections, lock errors,
//! expiring sessions, late visibility, an exhausted daily limit. Each run ends with both
//! sides holding exactly the same records and values.
use std::time::{Duration, Instant};

use datenator_shared::model::{Direction, Event, ObjectState, Topic};
use datenator_tests::sync::{Db, SfUser, SyncedOrg, TargetDb, phones, q, setup_org};
use serde_json::json;
use sfsim::{RunningSim, Sim, SimConfig};

async fn wait_converged(org: &SyncedOrg, db: &TargetDb, pool: &sqlx::AnyPool, sf: &SfUser<'_>) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let p = phones(db, pool, sf).await.unwrap();
        if p.converged() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never converged: {p:?}\n{}",
            org.daemon.stderr()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn changes_on_both_sides(tag: &str, db: &TargetDb, pool: &sqlx::AnyPool, sf: &SfUser<'_>) {
    let table = db.table("Account");
    let ids: Vec<String> = sf
        .query("SELECT Id FROM Account", false)
        .await
        .iter()
        .map(|r| r["Id"].as_str().unwrap().to_owned())
        .collect();
    for (i, id) in ids.iter().take(6).enumerate() {
        if i % 2 == 0 {
            sf.update("Account", id, json!({"Phone": format!("sf-{tag}-{i}")}))
                .await;
        } else {
            q(format!(
                "UPDATE {table} SET phone = 'db-{tag}-{i}' WHERE sfid = '{id}'"
            ))
            .execute(pool)
            .await
            .unwrap();
        }
    }
    for i in 0..4 {
        q(format!(
            "INSERT INTO {table} (name, phone) VALUES ('db-new-{tag}-{i}', 'x')"
        ))
        .execute(pool)
        .await
        .unwrap();
        sf.create(
            "Account",
            json!({"Name": format!("sf-new-{tag}-{i}"), "Phone": "y"}),
        )
        .await;
    }
    sf.delete("Account", &ids[7]).await;
    q(format!("DELETE FROM {table} WHERE sfid = '{}'", ids[8]))
        .execute(pool)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_faults_expiring_sessions_and_late_visibility_lose_nothing() {
    let sim: RunningSim = Sim::start(SimConfig {
        seed_counts: vec![("Account".into(), 15)],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let db = TargetDb::new(Db::Sqlite, "faults");
    let org = setup_org(&sim, &db, "faults", "").await;
    org.map("Account", &["Name", "Phone"], Direction::Bidirectional)
        .await;
    org.enable(true).await;
    let pool = db.pool().await;
    let sf = SfUser::new(&sim);
    wait_converged(&org, &db, &pool, &sf).await;

    let mut faults = sim.faults_config();
    faults.error_503_share = 0.05;
    faults.error_500_share = 0.03;
    faults.drop_share = 0.05;
    faults.lock_row_share = 0.05;
    faults.expire_session_every = 15;
    faults.late_visibility_ms = 1500;
    sim.set_faults(faults);
    for round in 0..3 {
        changes_on_both_sides(&format!("r{round}"), &db, &pool, &sf).await;
        org.sync_now().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Late changes surface after their visibility delay; the overlap window catches them.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    org.sync_now().await;
    wait_converged(&org, &db, &pool, &sf).await;
    let stderr = org.daemon.stderr();
    assert!(
        stderr.contains("access token refreshed"),
        "sessions expired and were refreshed"
    );
    // Every database insert reached Salesforce exactly once.
    for round in 0..3 {
        for i in 0..4 {
            let n = sf
                .query(
                    &format!("SELECT Id FROM Account WHERE Name = 'db-new-r{round}-{i}'"),
                    false,
                )
                .await
                .len();
            assert_eq!(n, 1, "db-new-r{round}-{i} is in Salesforce {n} times");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_exhausted_daily_limit_pauses_sync_which_resumes_by_itself() {
    let sim: RunningSim = Sim::start(SimConfig {
        seed_counts: vec![("Account".into(), 10)],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let db = TargetDb::new(Db::Sqlite, "limit");
    let org = setup_org(&sim, &db, "limit", "").await;
    org.map("Account", &["Name", "Phone"], Direction::Bidirectional)
        .await;
    org.enable(true).await;
    let pool = db.pool().await;
    let sf = SfUser::new(&sim);
    wait_converged(&org, &db, &pool, &sf).await;
    org.client.subscribe(&[Topic::Sync]).await.unwrap();

    // The org's limit is used up (by someone else, say).
    sim.set_api_usage(15_000, None);
    q(format!(
        "UPDATE {} SET phone = 'while-limited' WHERE name IS NOT NULL",
        db.table("Account")
    ))
    .execute(&pool)
    .await
    .unwrap();
    org.sync_now().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            Instant::now() < deadline,
            "the limit never showed in the status"
        );
        if let Ok(Some(Event::Sync(objects))) =
            tokio::time::timeout(Duration::from_secs(5), org.client.next_event()).await
            && let Some(s) = objects.iter().find(|s| s.object == "Account")
            && s.state == ObjectState::Throttled
        {
            assert!(
                s.last_error.as_deref().unwrap_or("").contains("limit"),
                "{s:?}"
            );
            break;
        }
    }
    // Nothing is hammered while exhausted: a handful of calls at most per polling interval.
    sim.reset_counters();
    sim.set_api_usage(15_000, None);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let calls: u64 = sim.counters().by_kind.values().sum();
    assert!(calls <= 3, "{:?}", sim.counters());

    // A new day: usage falls, sync resumes by itself and catches up.
    sim.set_api_usage(0, None);
    org.sync_now().await;
    wait_converged(&org, &db, &pool, &sf).await;
    let phones = sf.query("SELECT Phone FROM Account", false).await;
    assert!(
        phones.iter().all(|r| r["Phone"] == "while-limited"),
        "{phones:?}"
    );
}
