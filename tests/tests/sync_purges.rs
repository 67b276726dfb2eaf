//! Deletions the pull sees only indirectly. Records deleted in Salesforce and purged from
//! its recycle bin before a poll could see them: the deleted log check finds the log no
//! longer reaches back, reconciles ids, and removes exactly those rows (on SQLite,
//! PostgreSQL and MariaDB). And a record restored from the recycle bin comes back.
use datenator_shared::model::Direction;
use datenator_shared::protocol::{Call, OrgSettings};
use datenator_tests::sync::{Db, SfUser, SyncedOrg, TargetDb, eventually, q, setup_org, text};
use datenator_tests::wait;
use serde_json::Value;
use sfsim::{RunningSim, Sim, SimConfig};

async fn local_names(pool: &sqlx::AnyPool, table: &str) -> Vec<String> {
    let mut names: Vec<String> = q(format!("SELECT name FROM {table}"))
        .fetch_all(pool)
        .await
        .unwrap()
        .iter()
        .filter_map(|r| text(r, "name"))
        .collect();
    names.sort();
    names
}

/// Accounts (Name, Phone) synced both ways with `db`, the first load done.
struct Synced {
    sim: RunningSim,
    target: TargetDb,
    org: SyncedOrg,
    pool: sqlx::AnyPool,
    table: String,
}

async fn synced_accounts(
    db: Db,
    tag: &str,
    accounts: usize,
    config: &str,
    polling_interval_secs: Option<u32>,
) -> Synced {
    let sim = Sim::start(SimConfig {
        seed_counts: vec![("Account".into(), accounts)],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let target = TargetDb::new(db, tag);
    let org = setup_org(&sim, &target, tag, config).await;
    if polling_interval_secs.is_some() {
        let _: Value = org
            .client
            .call(Call::OrgSettings(OrgSettings {
                name: org.org.clone(),
                polling_interval_secs,
                api_budget_percent: None,
            }))
            .await
            .unwrap();
    }
    org.map("Account", &["Name", "Phone"], Direction::Bidirectional)
        .await;
    org.enable(true).await;
    let pool = target.pool().await;
    let table = target.table("Account");
    eventually("the first load", || async {
        local_names(&pool, &table).await.len() == accounts
    })
    .await;
    Synced {
        sim,
        target,
        org,
        pool,
        table,
    }
}

async fn purged_deletions_are_reconciled(db: Db) {
    // Polls an hour apart: nothing but the deleted-log check can notice the purge.
    let Synced {
        sim,
        target: _target,
        org,
        pool,
        table,
    } = synced_accounts(db, "purges", 6, "deleted_check_secs = 1", Some(3600)).await;
    // A row made locally reaches Salesforce; the reconciliation must keep it.
    q(format!(
        "INSERT INTO {table} (name, phone) VALUES ('made-here', '1')"
    ))
    .execute(&pool)
    .await
    .unwrap();
    let sf = SfUser::new(&sim);
    eventually("the local row reaches Salesforce", || async {
        sf.query("SELECT Id FROM Account WHERE Name = 'made-here'", false)
            .await
            .len()
            == 1
    })
    .await;

    let before = sf
        .query("SELECT Id, Name FROM Account ORDER BY Name", false)
        .await;
    let doomed: Vec<&Value> = before
        .iter()
        .filter(|r| r["Name"] != "made-here")
        .take(2)
        .collect();
    for r in &doomed {
        sf.delete("Account", r["Id"].as_str().unwrap()).await;
    }
    assert_eq!(sim.purge_recycle_bin(), 2);

    // The deleted log counts whole minutes: the check that finds the purge runs once the
    // minute after the last one's has begun (up to a minute, more on a loaded machine).
    wait::poll(std::time::Duration::from_secs(150), || async {
        let names = local_names(&pool, &table).await;
        if names.len() == 5 { Ok(()) } else { Err(names) }
    })
    .await
    .unwrap_or_else(|names| {
        panic!(
            "the purged records never left the database: {names:?}\n{}",
            org.daemon.stderr()
        )
    });
    let names = local_names(&pool, &table).await;
    for r in &doomed {
        assert!(
            !names.contains(&r["Name"].as_str().unwrap().to_owned()),
            "{names:?}"
        );
    }
    assert!(names.contains(&"made-here".to_owned()), "{names:?}");
    assert!(
        org.daemon
            .stderr()
            .contains("reconciled ids with Salesforce"),
        "the reconciliation says what it did"
    );
    // Removing the rows was the engine's doing: nothing goes back to Salesforce, a whole
    // round later.
    sim.reset_counters();
    org.polled_since_reset(&sim, 3).await;
    assert_eq!(sf.query("SELECT Id FROM Account", false).await.len(), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn purged_deletions_sqlite() {
    purged_deletions_are_reconciled(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn purged_deletions_postgres() {
    purged_deletions_are_reconciled(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn purged_deletions_mysql() {
    purged_deletions_are_reconciled(Db::Mysql).await;
}

async fn undeleted_records_come_back(db: Db) {
    let Synced {
        sim,
        target: _target,
        org,
        pool,
        table,
    } = synced_accounts(db, "undelete", 3, "", None).await;
    let sf = SfUser::new(&sim);
    let victim = sf
        .query("SELECT Id, Name FROM Account ORDER BY Name", false)
        .await[0]
        .clone();
    let (id, name) = (
        victim["Id"].as_str().unwrap(),
        victim["Name"].as_str().unwrap(),
    );
    sf.delete("Account", id).await;
    org.sync_now().await;
    eventually("the deletion reaches the database", || async {
        local_names(&pool, &table).await.len() == 2
    })
    .await;
    // Restored from the recycle bin: the same record, with its id, is back.
    sim.undelete(id).unwrap();
    org.sync_now().await;
    eventually("the restored record is back in the database", || async {
        local_names(&pool, &table).await.contains(&name.to_owned())
    })
    .await;
    let row = q(format!(
        "SELECT sfid FROM {table} WHERE name = '{}'",
        name.replace('\'', "''")
    ))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(text(&row, "sfid").as_deref(), Some(id));
    // Nothing was sent back: Salesforce still has exactly three records, a whole round
    // later.
    sim.reset_counters();
    org.polled_since_reset(&sim, 3).await;
    assert_eq!(sf.query("SELECT Id FROM Account", false).await.len(), 3);
    assert_eq!(local_names(&pool, &table).await.len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn undeleted_records_sqlite() {
    undeleted_records_come_back(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn undeleted_records_postgres() {
    undeleted_records_come_back(Db::Postgres).await;
}
