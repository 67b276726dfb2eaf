//! Nothing lost, nothing duplicated: the daemon is killed with SIGKILL at random moments of a
//! mixed bidirectional run, and afterwards both sides hold exactly the same records and
//! values, with every database insert in Salesforce exactly once.
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use datenator_shared::model::Direction;
use datenator_tests::sync::{Db, SfUser, TargetDb, eventually, q, setup_org, text};
use datenator_tests::wait;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use sfsim::{RunningSim, Sim, SimConfig};

async fn db_rows(
    db: &TargetDb,
    pool: &sqlx::AnyPool,
) -> Vec<(Option<String>, Option<String>, Option<String>)> {
    q(format!(
        "SELECT sfid, name, phone FROM {}",
        db.table("Account")
    ))
    .fetch_all(pool)
    .await
    .unwrap()
    .iter()
    .map(|r| (text(r, "sfid"), text(r, "name"), text(r, "phone")))
    .collect()
}

async fn sf_records(sf: &SfUser<'_>) -> BTreeMap<String, (Option<String>, Option<String>)> {
    sf.query("SELECT Id, Name, Phone FROM Account", false)
        .await
        .iter()
        .map(|r| {
            (
                r["Id"].as_str().unwrap().to_owned(),
                (
                    r["Name"].as_str().map(str::to_owned),
                    r["Phone"].as_str().map(str::to_owned),
                ),
            )
        })
        .collect()
}

async fn converged(db: &TargetDb, pool: &sqlx::AnyPool, sf: &SfUser<'_>) -> Result<(), String> {
    let rows = db_rows(db, pool).await;
    let sf = sf_records(sf).await;
    if let Some(r) = rows.iter().find(|r| r.0.is_none()) {
        return Err(format!("a local row was never pushed: {r:?}"));
    }
    let local: BTreeMap<String, (Option<String>, Option<String>)> = rows
        .into_iter()
        .map(|(id, n, p)| (id.unwrap(), (n, p)))
        .collect();
    if local != sf {
        let only_db: Vec<_> = local.keys().filter(|k| !sf.contains_key(*k)).collect();
        let only_sf: Vec<_> = sf.keys().filter(|k| !local.contains_key(*k)).collect();
        let differ: Vec<_> = local
            .iter()
            .filter(|(k, v)| sf.get(*k).is_some_and(|s| s != *v))
            .collect();
        return Err(format!(
            "only in DB: {only_db:?}; only in SF: {only_sf:?}; differing: {differ:?}"
        ));
    }
    Ok(())
}

async fn chaos(kind: Db, rounds: usize, seed: u64) {
    let sim: RunningSim = Sim::start(SimConfig {
        seed_counts: vec![("Account".into(), 20)],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let db = TargetDb::new(kind, "chaos");
    let mut org = setup_org(&sim, &db, "chaos", "").await;
    org.map("Account", &["Name", "Phone"], Direction::Bidirectional)
        .await;
    org.enable(true).await;
    let pool = db.pool().await;
    let sf = SfUser::new(&sim);
    eventually("initial load", || async {
        db_rows(&db, &pool).await.len() == 20
    })
    .await;

    // Slow answers widen the moments a kill can land in: between sending and recording.
    let mut faults = sim.faults_config();
    faults.latency_ms = 150;
    sim.set_faults(faults);
    let table = db.table("Account");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut db_inserted: BTreeSet<String> = BTreeSet::new();
    let mut db_deleted_names: BTreeSet<String> = BTreeSet::new();
    for round in 0..rounds {
        for i in 0..12 {
            let tag = format!("{round}-{i}");
            let ids: Vec<String> = sf_records(&sf).await.into_keys().collect();
            let rows = db_rows(&db, &pool).await;
            match rng.random_range(0..10) {
                0 | 1 => {
                    sf.create(
                        "Account",
                        json!({"Name": format!("sf-{tag}"), "Phone": "0"}),
                    )
                    .await;
                }
                2 | 3 if !ids.is_empty() => {
                    let id = &ids[rng.random_range(0..ids.len())];
                    sf.update("Account", id, json!({"Phone": format!("sf-{tag}")}))
                        .await;
                }
                4 if ids.len() > 5 => {
                    let id = &ids[rng.random_range(0..ids.len())];
                    sf.delete("Account", id).await;
                }
                5 | 6 => {
                    let name = format!("db-{tag}");
                    q(format!(
                        "INSERT INTO {table} (name, phone) VALUES ('{name}', '1')"
                    ))
                    .execute(&pool)
                    .await
                    .unwrap();
                    db_inserted.insert(name);
                }
                7 | 8 if !rows.is_empty() => {
                    let r = &rows[rng.random_range(0..rows.len())];
                    if let Some(name) = &r.1 {
                        q(format!(
                            "UPDATE {table} SET phone = 'db-{tag}' WHERE name = '{name}'"
                        ))
                        .execute(&pool)
                        .await
                        .unwrap();
                    }
                }
                9 if rows.len() > 5 => {
                    let r = &rows[rng.random_range(0..rows.len())];
                    if let Some(name) = &r.1 {
                        q(format!("DELETE FROM {table} WHERE name = '{name}'"))
                            .execute(&pool)
                            .await
                            .unwrap();
                        db_deleted_names.insert(name.clone());
                    }
                }
                _ => {}
            }
            if rng.random_range(0..4) == 0 {
                tokio::time::sleep(Duration::from_millis(rng.random_range(0..150))).await;
            }
        }
        // Kill at a random moment of whatever the engine is doing.
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..600))).await;
        org.daemon.crash_and_restart();
        org.client = org.daemon.client().await;
    }
    org.sync_now().await;
    wait::poll_every(Duration::from_secs(120), Duration::from_millis(200), || {
        converged(&db, &pool, &sf)
    })
    .await
    .unwrap_or_else(|e| panic!("never converged: {e}\n{}", org.daemon.stderr()));
    // Every database insert is in Salesforce once, unless it was deleted again.
    let sf = sf_records(&sf).await;
    for name in db_inserted.difference(&db_deleted_names) {
        let n = sf
            .values()
            .filter(|(n, _)| n.as_deref() == Some(name.as_str()))
            .count();
        assert!(n <= 1, "{name} is in Salesforce {n} times: a duplicate");
    }
    let stderr = org.daemon.stderr();
    assert!(
        stderr.matches("sync started").count() > rounds,
        "the daemon restarted and resumed each time"
    );
    eprintln!(
        "{kind:?}: {rounds} SIGKILLs, {} recoveries of claimed events, {} creates adopted instead of resent",
        stderr
            .matches("creates sent before a stop may have reached Salesforce")
            .count(),
        stderr.matches("adopting it").count()
    );
}

/// Rounds of changes, each ending in a SIGKILL (`DATENATOR_CHAOS_ROUNDS` raises it).
fn rounds(default: usize) -> usize {
    std::env::var("DATENATOR_CHAOS_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_at_random_moments_sqlite() {
    chaos(Db::Sqlite, rounds(8), 7).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_at_random_moments_postgres() {
    chaos(Db::Postgres, rounds(8), 11).await;
}
