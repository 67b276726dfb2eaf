//! Salesforce misbehaving during sync: transient errors, dropped connections, lock errors,
//! expiring sessions, late visibility, an exhausted daily limit. Each run ends with both
//! sides holding exactly the same records and values.
use std::time::Duration;

use datenator_shared::model::{Direction, ObjectState, Topic};
use datenator_tests::sync::{
    Db, SfUser, SyncedOrg, TargetDb, eventually, phones, q, setup_org, status_where,
};
use datenator_tests::wait;
use serde_json::json;
use sfsim::{RunningSim, Sim, SimConfig};

async fn wait_converged(org: &SyncedOrg, db: &TargetDb, pool: &sqlx::AnyPool, sf: &SfUser<'_>) {
    wait::poll_every(
        Duration::from_secs(120),
        Duration::from_millis(250),
        || async {
            let p = phones(db, pool, sf).await.unwrap();
            if p.converged() { Ok(()) } else { Err(p) }
        },
    )
    .await
    .unwrap_or_else(|p| panic!("never converged: {p:?}\n{}", org.daemon.stderr()));
}

/// An org whose Accounts (Name, Phone) sync both ways with an SQLite target, converged.
struct Converged {
    sim: RunningSim,
    db: TargetDb,
    org: SyncedOrg,
    pool: sqlx::AnyPool,
}

async fn converged_accounts(tag: &str, accounts: usize) -> Converged {
    let sim: RunningSim = Sim::start(SimConfig {
        seed_counts: vec![("Account".into(), accounts)],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let db = TargetDb::new(Db::Sqlite, tag);
    let org = setup_org(&sim, &db, tag, "").await;
    org.map("Account", &["Name", "Phone"], Direction::Bidirectional)
        .await;
    org.enable(true).await;
    let pool = db.pool().await;
    wait_converged(&org, &db, &pool, &SfUser::new(&sim)).await;
    Converged { sim, db, org, pool }
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
    let Converged { sim, db, org, pool } = converged_accounts("faults", 15).await;
    let sf = SfUser::new(&sim);

    let mut faults = sim.faults_config();
    // A new fault sequence every run (the seed is printed, and can be pinned to replay one).
    faults.seed = std::env::var("DATENATOR_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos() as u64
        });
    eprintln!(
        "fault seed: {} (DATENATOR_FAULT_SEED replays it)",
        faults.seed
    );
    faults.error_503_share = 0.05;
    faults.error_500_share = 0.03;
    faults.drop_share = 0.05;
    faults.lock_row_share = 0.05;
    faults.expire_session_every = 15;
    faults.late_visibility_ms = 1500;
    sim.set_faults(faults);
    for round in 0..3 {
        if round == 1 {
            // Beyond every 15th call: all sessions at once, so the daemon surely meets one.
            sim.expire_sessions();
        }
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
async fn a_locked_record_is_sent_again_not_failed() {
    let Converged { sim, db, org, pool } = converged_accounts("locked", 5).await;
    let sf = SfUser::new(&sim);

    // Every write meets a record lock (another transaction holds it): a create, an update
    // and a delete are each refused with UNABLE_TO_LOCK_ROW, again and again.
    let mut faults = sim.faults_config();
    faults.lock_row_share = 1.0;
    sim.set_faults(faults.clone());
    let table = db.table("Account");
    let ids: Vec<String> = sf
        .query("SELECT Id FROM Account ORDER BY Id", false)
        .await
        .iter()
        .map(|r| r["Id"].as_str().unwrap().to_owned())
        .collect();
    for sql in [
        format!("INSERT INTO {table} (name, phone) VALUES ('made-while-locked', 'l')"),
        format!(
            "UPDATE {table} SET phone = 'changed-while-locked' WHERE sfid = '{}'",
            ids[0]
        ),
        format!("DELETE FROM {table} WHERE sfid = '{}'", ids[1]),
    ] {
        q(sql).execute(&pool).await.unwrap();
    }
    org.sync_now().await;
    eventually("the daemon met the lock", || async {
        org.daemon.stderr().contains("record locked in Salesforce")
    })
    .await;

    // The lock is released: everything goes through, nothing was parked as a failure.
    faults.lock_row_share = 0.0;
    sim.set_faults(faults);
    org.sync_now().await;
    wait_converged(&org, &db, &pool, &sf).await;
    assert_eq!(
        sf.query(
            "SELECT Id FROM Account WHERE Name = 'made-while-locked'",
            false
        )
        .await
        .len(),
        1
    );
    assert!(
        !org.daemon.stderr().contains("record refused by Salesforce"),
        "a lock is not a refusal"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_exhausted_daily_limit_pauses_sync_which_resumes_by_itself() {
    let Converged { sim, db, org, pool } = converged_accounts("limit", 10).await;
    let sf = SfUser::new(&sim);
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
    let s = status_where(
        &org.client,
        "Account",
        "the limit to show in the status",
        |s| s.state == ObjectState::Throttled,
    )
    .await;
    assert!(
        s.last_error.as_deref().unwrap_or("").contains("limit"),
        "{s:?}"
    );
    // Nothing is hammered while exhausted: a handful of requests at most per polling
    // interval — counted ones, and the ones Salesforce refuses for the limit (which count
    // nowhere else). The worker ticks every 100 ms meanwhile.
    sim.reset_counters();
    sim.set_api_usage(15_000, None);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let c = sim.counters();
    let calls: u64 = c.by_kind.values().sum();
    assert!(calls + c.refused <= 3, "{c:?}");

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

/// The forecast is Salesforce's own 24-hour count plus a day of polling: an org that has
/// used 7,000 of 15,000 calls has 500 left under a 50 % budget, and one poll a minute
/// (1,440 a day) would pass it — polling stretches to every 3 minutes (480 a day), and goes
/// back to every minute once usage is well within the budget again.
#[tokio::test(flavor = "multi_thread")]
async fn a_forecast_past_the_budget_stretches_the_polling_interval() {
    let Converged {
        sim,
        org,
        db: _db,
        pool: _pool,
    } = converged_accounts("forecast", 3).await;
    let forecast = || async {
        let orgs: Vec<datenator_shared::model::OrgSummary> = org
            .client
            .call(datenator_shared::protocol::Call::OrgList(Default::default()))
            .await
            .unwrap();
        orgs[0].api_forecast
    };
    // Someone else spent the org's calls: 7,000 of 15,000 in the last 24 hours.
    sim.set_api_usage(7_000, Some(15_000));
    org.sync_now().await;
    let f = wait::poll_every(
        Duration::from_secs(60),
        Duration::from_millis(200),
        || async { forecast().await.filter(|f| f.stretched(60)).ok_or(()) },
    )
    .await
    .unwrap_or_else(|()| {
        panic!(
            "the forecast never stretched the interval: {:?}\n{}",
            sim.counters(),
            org.daemon.stderr()
        )
    });
    assert!(f.projected_percent > 50.0, "{f:?}");
    assert!(f.used_calls >= 7_000, "{f:?}");
    assert_eq!(f.steady_calls_per_day, 1_440.0, "{f:?}");
    assert_eq!(f.effective_interval_secs, 180, "{f:?}");
    eventually("the daemon says so, in numbers", || async {
        let log = org.daemon.stderr();
        log.contains("polling every 180 s instead of 60 s") && log.contains("would add 1440 a day")
    })
    .await;
    // Old calls leave Salesforce's 24-hour window: well within the budget again.
    sim.set_api_usage(4_000, Some(15_000));
    org.sync_now().await;
    wait::poll_every(
        Duration::from_secs(60),
        Duration::from_millis(200),
        || async {
            match forecast().await {
                Some(f) if !f.stretched(60) => Ok(()),
                f => Err(f),
            }
        },
    )
    .await
    .unwrap_or_else(|f| panic!("polling never went back to the configured interval: {f:?}"));
}

#[tokio::test(flavor = "multi_thread")]
async fn creates_with_an_external_id_upsert_on_it_and_never_duplicate() {
    let sim: RunningSim = Sim::start(SimConfig {
        seed_counts: vec![("Account".into(), 2)],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let db = TargetDb::new(Db::Sqlite, "extid");
    let org = setup_org(&sim, &db, "extid", "").await;
    org.map(
        "Account",
        &["Name", "Phone", "External_Id__c"],
        Direction::Bidirectional,
    )
    .await;
    org.enable(true).await;
    let pool = db.pool().await;
    let sf = SfUser::new(&sim);
    wait_converged(&org, &db, &pool, &sf).await;

    // Answers get lost on the way back: a plain create would have to be looked up; an
    // upsert on the external id is simply sent again.
    let mut faults = sim.faults_config();
    faults.drop_share = 0.3;
    faults.error_500_share = 0.1;
    sim.set_faults(faults);
    let table = db.table("Account");
    for i in 0..10 {
        q(format!(
            "INSERT INTO {table} (name, phone, external_id__c) VALUES ('ext-{i}', 'p', 'key-{i}')"
        ))
        .execute(&pool)
        .await
        .unwrap();
    }
    org.sync_now().await;
    wait_converged(&org, &db, &pool, &sf).await;
    for i in 0..10 {
        let n = sf
            .query(
                &format!("SELECT Id FROM Account WHERE External_Id__c = 'key-{i}'"),
                false,
            )
            .await
            .len();
        assert_eq!(n, 1, "key-{i} is in Salesforce {n} times");
    }
    assert!(
        !org.daemon
            .stderr()
            .contains("a create's outcome is unknown"),
        "upserts are replayed, never looked up"
    );
}
