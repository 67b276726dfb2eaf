//! Large pushes through Bulk API 2.0 ingest jobs, end to end: real daemon, sfsim over HTTP,
//! SQLite and PostgreSQL. Creates, updates (values and nulls) and deletes of hundreds of
//! rows go through ingest jobs — not sObject Collections — and both sides end up holding
//! exactly the same records; with faults injected nothing is lost or created twice.
use std::collections::BTreeMap;

use datenator_shared::model::{Direction, ObjectState, Topic};
use datenator_tests::sync::{
    Db, SfUser, SyncedOrg, TargetDb, eventually, phones, q, setup_org, status_where, text,
};
use sfsim::{FaultConfig, RunningSim, Sim, SimConfig};

const ROWS: usize = 300;

async fn sim() -> RunningSim {
    Sim::start(SimConfig {
        seed_counts: vec![("Account".into(), 0)],
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

/// Every Account name in Salesforce with how many records carry it.
async fn sf_names(sf: &SfUser<'_>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in sf.query("SELECT Name FROM Account", false).await {
        *out.entry(r["Name"].as_str().unwrap_or_default().to_owned())
            .or_default() += 1;
    }
    out
}

async fn db_names(db: &TargetDb, pool: &sqlx::AnyPool) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in q(format!("SELECT name FROM {}", db.table("Account")))
        .fetch_all(pool)
        .await
        .unwrap()
    {
        *out.entry(text(&r, "name").unwrap_or_default()).or_default() += 1;
    }
    out
}

fn insert_sql(db: &TargetDb, tag: &str) -> String {
    let values: Vec<String> = (0..ROWS)
        .map(|i| format!("('{tag} {i}', 'p-{i}')"))
        .collect();
    format!(
        "INSERT INTO {} (name, phone) VALUES {}",
        db.table("Account"),
        values.join(", ")
    )
}

/// An org on `sim` syncing Account (Name, Phone) both ways with `db`, Bulk from 50 records,
/// its (empty) first load done so that what follows is push only.
async fn bulk_org(sim: &RunningSim, kind: Db, tag: &str) -> (TargetDb, SyncedOrg, sqlx::AnyPool) {
    let db = TargetDb::new(kind, tag);
    let org = setup_org(sim, &db, tag, "push_bulk_threshold = 50\n").await;
    org.map("Account", &["Name", "Phone"], Direction::Bidirectional)
        .await;
    org.enable(true).await;
    let pool = db.pool().await;
    let watcher = org.daemon.client().await;
    watcher.subscribe(&[Topic::Sync]).await.unwrap();
    status_where(&watcher, "Account", "the empty first load done", |s| {
        s.state == ObjectState::Synced && s.last_sync_at.is_some()
    })
    .await;
    (db, org, pool)
}

/// Calls of a kind since the last reset.
fn calls(sim: &RunningSim, kind: &str) -> u64 {
    sim.counters().by_kind.get(kind).copied().unwrap_or(0)
}

async fn bulk_push_round_trip(kind: Db) {
    let sim = sim().await;
    let (db, _org, pool) = bulk_org(&sim, kind, "bulkpush").await;
    let sf = SfUser::new(&sim);
    let table = db.table("Account");

    // Creates.
    sim.reset_counters();
    q(insert_sql(&db, "Bulk")).execute(&pool).await.unwrap();
    eventually(
        "300 creates reach Salesforce, sfids written back",
        || async {
            phones(&db, &pool, &sf)
                .await
                .is_ok_and(|p| p.converged() && p.remote.len() == ROWS)
        },
    )
    .await;
    let names = sf_names(&sf).await;
    assert_eq!(names.len(), ROWS, "every row once");
    assert!(names.values().all(|n| *n == 1), "no duplicates");
    let c = sim.counters();
    assert_eq!(calls(&sim, "collections"), 0, "{:?}", c.by_kind);
    assert!(c.records_ingested >= ROWS as u64, "{c:?}");
    // One job: create, upload, close, a few polls, results — not one call per 200 records
    // plus per record.
    assert!(calls(&sim, "bulk_ingest") <= 12, "{:?}", c.by_kind);

    // Updates: values, and nulls (`#N/A` in the CSV).
    sim.reset_counters();
    // MySQL's `||` is OR unless PIPES_AS_CONCAT is set: CONCAT everywhere it is.
    let prefixed = if kind == Db::Mysql {
        "CONCAT('u-', name)"
    } else {
        "'u-' || name"
    };
    q(format!(
        "UPDATE {table} SET phone = CASE WHEN id % 3 = 0 THEN NULL ELSE {prefixed} END"
    ))
    .execute(&pool)
    .await
    .unwrap();
    eventually("300 updates reach Salesforce", || async {
        phones(&db, &pool, &sf).await.is_ok_and(|p| {
            p.converged()
                && p.remote
                    .values()
                    .all(|v| v.as_deref().is_none_or(|v| v.starts_with("u-")))
                && p.remote.values().any(Option::is_none)
        })
    })
    .await;
    assert_eq!(
        calls(&sim, "collections"),
        0,
        "{:?}",
        sim.counters().by_kind
    );
    // Create, upload, close (the daemon's poll may come after Salesforce shows the values).
    assert!(
        calls(&sim, "bulk_ingest") >= 3,
        "{:?}",
        sim.counters().by_kind
    );

    // Deletes.
    sim.reset_counters();
    q(format!("DELETE FROM {table}"))
        .execute(&pool)
        .await
        .unwrap();
    eventually("300 deletes reach Salesforce", || async {
        sf_names(&sf).await.is_empty()
    })
    .await;
    assert_eq!(
        calls(&sim, "collections"),
        0,
        "{:?}",
        sim.counters().by_kind
    );
    assert!(phones(&db, &pool, &sf).await.unwrap().converged());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_push_round_trip_sqlite() {
    bulk_push_round_trip(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_push_round_trip_postgres() {
    bulk_push_round_trip(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_push_round_trip_mysql() {
    bulk_push_round_trip(Db::Mysql).await;
}

/// Bulk pushes under faults — 503s, dropped connections (a lost upload or close answer
/// included), record locks inside the job — create every row exactly once, and updates and
/// deletes all arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_push_under_faults_loses_and_duplicates_nothing() {
    let sim = sim().await;
    let (db, _org, pool) = bulk_org(&sim, Db::Postgres, "bulkfault").await;
    let sf = SfUser::new(&sim);
    let table = db.table("Account");
    sim.set_faults(FaultConfig {
        seed: 6,
        error_503_share: 0.05,
        drop_share: 0.08,
        lock_row_share: 0.05,
        ..FaultConfig::default()
    });
    q(insert_sql(&db, "Fault")).execute(&pool).await.unwrap();
    q(format!(
        "UPDATE {table} SET phone = 'v2-' || name WHERE id % 2 = 0"
    ))
    .execute(&pool)
    .await
    .unwrap();
    eventually("every row created once, updates applied", || async {
        phones(&db, &pool, &sf)
            .await
            .is_ok_and(|p| p.converged() && p.remote.len() == ROWS)
    })
    .await;
    let names = sf_names(&sf).await;
    assert_eq!(names, db_names(&db, &pool).await);
    assert!(names.values().all(|n| *n == 1), "duplicates: {names:?}");
    assert!(sim.counters().records_ingested > 0, "Bulk was used");

    q(format!("DELETE FROM {table} WHERE id % 3 = 0"))
        .execute(&pool)
        .await
        .unwrap();
    q(format!("UPDATE {table} SET phone = 'v3' WHERE id % 3 = 1"))
        .execute(&pool)
        .await
        .unwrap();
    eventually("deletes and updates arrive under faults", || async {
        phones(&db, &pool, &sf)
            .await
            .is_ok_and(|p| p.converged() && p.remote.len() == ROWS - ROWS / 3)
    })
    .await;
    sim.set_faults(FaultConfig::default());
    let names = sf_names(&sf).await;
    assert_eq!(names, db_names(&db, &pool).await);
    let failed = q(format!(
        "SELECT COUNT(*) AS n FROM {table} WHERE _dn_state = 'FAILED'"
    ))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        sqlx::Row::try_get::<i64, _>(&failed, "n").unwrap(),
        0,
        "a lock or a fault never parks a record as failed"
    );
}

/// A first load above `bulk_threshold` goes through a Bulk API query streamed into the
/// table (COPY on PostgreSQL): every record arrives with its values, and sync then goes on
/// incrementally.
async fn bulk_first_load(kind: Db) {
    let sim = Sim::start(SimConfig {
        seed_counts: vec![("Account".into(), 700)],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let db = TargetDb::new(kind, "bulkload");
    let org = setup_org(&sim, &db, "bulkload", "bulk_threshold = 100\n").await;
    org.map("Account", &["Name", "Phone"], Direction::Bidirectional)
        .await;
    sim.reset_counters();
    org.enable(true).await;
    let pool = db.pool().await;
    let sf = SfUser::new(&sim);
    eventually("the first load brings all 700 accounts", || async {
        phones(&db, &pool, &sf)
            .await
            .is_ok_and(|p| p.converged() && p.local.len() == 700)
    })
    .await;
    assert!(sim.counters().bulk_query_jobs >= 1, "{:?}", sim.counters());
    assert_eq!(db_names(&db, &pool).await, sf_names(&sf).await);
    // Then incremental, as after any first load.
    let id = phones(&db, &pool, &sf)
        .await
        .unwrap()
        .remote
        .into_keys()
        .next()
        .unwrap();
    sf.update("Account", &id, serde_json::json!({"Phone": "after-load"}))
        .await;
    org.sync_now().await;
    eventually("a change after the first load arrives", || async {
        phones(&db, &pool, &sf)
            .await
            .is_ok_and(|p| p.local.get(&id) == Some(&Some("after-load".into())))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_first_load_postgres() {
    bulk_first_load(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_first_load_sqlite() {
    bulk_first_load(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_first_load_mariadb() {
    bulk_first_load(Db::Mysql).await;
}

/// A record the database refuses (here a CHECK constraint the application added) does not
/// stall a Bulk first load: its chunk goes again record by record, the refused records
/// are left out and reported, and every other record arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_record_does_not_stall_a_bulk_first_load() {
    let sim = Sim::start(SimConfig {
        seed_counts: vec![("Account".into(), 700)],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let db = TargetDb::new(Db::Postgres, "loadrefuse");
    let org = setup_org(&sim, &db, "loadrefuse", "bulk_threshold = 100\n").await;
    org.map("Account", &["Name", "Phone"], Direction::Bidirectional)
        .await;
    let pool = db.pool().await;
    let table = db.table("Account");
    q(format!(
        "ALTER TABLE {table} ADD CONSTRAINT no_sevens CHECK (name NOT LIKE '%7%')"
    ))
    .execute(&pool)
    .await
    .unwrap();
    let sf = SfUser::new(&sim);
    let sevens = sf
        .query("SELECT Id FROM Account WHERE Name LIKE '%7%'", false)
        .await
        .len();
    assert!(sevens > 0, "the seed has names with a 7");
    org.enable(true).await;
    eventually("every record the database accepts arrives", || async {
        q(format!("SELECT COUNT(*) AS n FROM {table}"))
            .fetch_one(&pool)
            .await
            .is_ok_and(|r| {
                sqlx::Row::try_get::<i64, _>(&r, "n").unwrap_or(0) as usize == 700 - sevens
            })
    })
    .await;
    eventually("the refused records are reported", || async {
        org.daemon
            .stderr()
            .contains("the database refused a pulled record")
    })
    .await;
}

/// The daemon killed (SIGKILL) part-way through a Bulk first load: on restart the load
/// starts over and upserts, so every record is in the table exactly once, the engine's
/// writes recorded no change event, and sync then goes on incrementally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_killed_during_a_bulk_first_load_loads_each_record_once() {
    const N: i64 = 120_000;
    let sim = Sim::start(SimConfig {
        seed_counts: vec![("Account".into(), N as usize)],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let db = TargetDb::new(Db::Postgres, "loadkill");
    let mut org = setup_org(&sim, &db, "loadkill", "bulk_threshold = 100\n").await;
    org.map("Account", &["Name", "Phone"], Direction::Bidirectional)
        .await;
    // Slow answers: each Bulk result page (50,000 records) takes a while to arrive, so the
    // load sits between pages long enough to be killed there.
    sim.set_faults(FaultConfig {
        latency_ms: 1500,
        ..FaultConfig::default()
    });
    org.enable(true).await;
    let pool = db.pool().await;
    let table = db.table("Account");
    let count = |sql: String| {
        let pool = pool.clone();
        async move {
            q(sql)
                .fetch_one(&pool)
                .await
                .map(|r| sqlx::Row::try_get::<i64, _>(&r, "n").unwrap_or(0))
                .unwrap_or(0)
        }
    };
    let rows = || count(format!("SELECT COUNT(*) AS n FROM {table}"));
    eventually("part of the first load is in", || async {
        rows().await > 0
    })
    .await;
    let at_kill = rows().await;
    org.daemon.crash_and_restart();
    org.client = org.daemon.client().await;
    sim.set_faults(FaultConfig::default());
    assert!(at_kill < N, "killed part-way: {at_kill} of {N} loaded");
    eventually("the restarted first load brings every record", || async {
        rows().await == N
    })
    .await;
    let distinct = count(format!("SELECT COUNT(DISTINCT sfid) AS n FROM {table}")).await;
    assert_eq!(distinct, N, "each record once");
    let events = count(format!(
        "SELECT COUNT(*) AS n FROM \"{}\".\"account__events\"",
        db.schema
    ))
    .await;
    assert_eq!(events, 0, "the engine's loads record no change events");
    // Then incremental, as after any first load.
    let sf = SfUser::new(&sim);
    let id = sf.query("SELECT Id FROM Account LIMIT 1", false).await[0]["Id"]
        .as_str()
        .unwrap()
        .to_owned();
    sf.update("Account", &id, serde_json::json!({"Phone": "after-kill"}))
        .await;
    org.sync_now().await;
    eventually("a change after the first load arrives", || async {
        count(format!(
            "SELECT COUNT(*) AS n FROM {table} WHERE sfid = '{id}' AND phone = 'after-kill'"
        ))
        .await
            == 1
    })
    .await;
    eprintln!("killed with {at_kill} of {N} rows loaded");
}

/// The daemon killed (SIGKILL) at each step of a Bulk insert job — after the job is created,
/// after the upload, after the close — never loses a row nor creates one twice: on restart
/// the job is found in Salesforce's job list and aborted or waited for, and the rows are
/// looked up before anything is sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_killed_during_a_bulk_insert_duplicates_nothing() {
    let sim = sim().await;
    let (db, mut org, pool) = bulk_org(&sim, Db::Postgres, "bulkkill").await;
    let sf = SfUser::new(&sim);
    let table = db.table("Account");
    for (round, kill_after) in [1u64, 2, 3].into_iter().enumerate() {
        // Slow answers hold the job at each step long enough to be killed there.
        sim.set_faults(FaultConfig {
            latency_ms: 300,
            ..FaultConfig::default()
        });
        sim.reset_counters();
        let values: Vec<String> = (0..100)
            .map(|i| format!("('Kill {round}-{i}', 'k-{i}')"))
            .collect();
        q(format!(
            "INSERT INTO {table} (name, phone) VALUES {}",
            values.join(", ")
        ))
        .execute(&pool)
        .await
        .unwrap();
        eventually("the Bulk job reaches the step to kill at", || async {
            calls(&sim, "bulk_ingest") >= kill_after
        })
        .await;
        org.daemon.crash_and_restart();
        org.client = org.daemon.client().await;
        sim.set_faults(FaultConfig::default());
        eventually(
            "every row is in Salesforce once after the restart",
            || async {
                phones(&db, &pool, &sf)
                    .await
                    .is_ok_and(|p| p.converged() && p.remote.len() == 100 * (round + 1))
            },
        )
        .await;
        let names = sf_names(&sf).await;
        assert!(names.values().all(|n| *n == 1), "duplicates: {names:?}");
        assert_eq!(names, db_names(&db, &pool).await);
    }
    let log = org.daemon.stderr();
    eprintln!(
        "{} Bulk jobs settled after a restart, {} creates adopted instead of resent",
        log.matches("settling an earlier Bulk job").count(),
        log.matches("adopting it").count()
    );
    assert!(
        log.contains("settling an earlier Bulk job"),
        "a job left open by the kill was found and settled"
    );
    // A hundred pending creates are looked up in one query, not one each.
    if log.contains("adopting it") {
        assert!(
            log.contains("looking up creates whose outcome is unknown in one query"),
            "{log}"
        );
    }
}
