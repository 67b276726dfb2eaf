//! datenator-bench: measures Datenator end to end — the real daemon binary, sfsim over
//! loopback HTTP, real PostgreSQL — and prints a table per benchmark and writes JSON to
//! `bench-results/`. Nothing here is a timed test; the numbers are for people.
//!
//!   cargo build --release -p datenatord -p datenator-tests --bin datenatord --bin datenator-bench
//!   target/release/datenator-bench [--rows 100000] [--changes 10000] [--only NAME]
//!   target/release/datenator-bench --only soak [--seeds 100] [--dbs sqlite,postgres,mysql]
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use datenator_shared::model::{ConflictPolicy, Direction, Event, Mapping, ObjectState, Topic};
use datenator_shared::protocol::{Call, OrgSettings, SaveMapping, Topics};
use datenator_tests::sync::{Db, SyncedOrg, TargetDb, q, setup_org};
use serde_json::{Value, json};
use sfsim::{RunningSim, Sim, SimConfig};
use sqlx::Row;

struct Args {
    rows: usize,
    changes: usize,
    only: Option<String>,
    intervals: Vec<u32>,
    growth_rows: usize,
    growth_changes: usize,
    seeds: usize,
    dbs: Vec<Db>,
}

fn args() -> Args {
    let mut a = Args {
        rows: 100_000,
        changes: 10_000,
        only: None,
        intervals: vec![10, 30],
        growth_rows: 10_000,
        growth_changes: 1000,
        seeds: 100,
        dbs: vec![Db::Sqlite, Db::Postgres, Db::Mysql],
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        match k.as_str() {
            "--rows" => a.rows = it.next().and_then(|v| v.parse().ok()).expect("--rows N"),
            "--changes" => a.changes = it.next().and_then(|v| v.parse().ok()).expect("--changes N"),
            "--only" => a.only = it.next(),
            "--intervals" => {
                a.intervals = it
                    .next()
                    .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
                    .filter(|v: &Vec<u32>| !v.is_empty())
                    .expect("--intervals 10,30,60")
            }
            "--growth-rows" => {
                a.growth_rows = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--growth-rows N")
            }
            "--growth-changes" => {
                a.growth_changes = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--growth-changes N")
            }
            "--seeds" => a.seeds = it.next().and_then(|v| v.parse().ok()).expect("--seeds N"),
            "--dbs" => {
                a.dbs = it
                    .next()
                    .map(|v| {
                        v.split(',')
                            .map(|d| match d.trim() {
                                "sqlite" => Db::Sqlite,
                                "postgres" | "postgresql" => Db::Postgres,
                                "mysql" | "mariadb" => Db::Mysql,
                                other => panic!("--dbs: unknown database {other}"),
                            })
                            .collect()
                    })
                    .filter(|v: &Vec<Db>| !v.is_empty())
                    .expect("--dbs sqlite,postgres,mysql")
            }
            "--help" | "-h" => {
                println!(
                    "datenator-bench [--rows N] [--changes N] [--only NAME] [--intervals S,S,..]\n\
                     \x20                [--growth-rows N] [--growth-changes N] [--seeds N] [--dbs D,D,..]\n\
                     Benchmarks (NAME): initial_load, api_calls, bulk_push, idle, push_lag, pull_lag, growth, soak,\n\
                     idle_after_load (only when named: a first load of --rows, then idle polls)\n\
                     (growth runs only when named: initial_load and api_calls/bulk_push at a tenth,\n\
                     once and ten times --growth-rows (default 10000) / --growth-changes (default 1000)).\n\
                     pull_lag: Salesforce change to database row, per polling interval (default 10,30 s;\n\
                     the daemon allows 10..3600).\n\
                     soak (only when named): the convergence test's run (tests/src/convergence.rs) seed\n\
                     after seed, --seeds N (default 100) per database of --dbs (default\n\
                     sqlite,postgres,mysql); DATENATOR_CONVERGENCE_SEED runs one seed.\n\
                     Runs the real daemon against sfsim and PostgreSQL ($DATENATOR_TEST_POSTGRES_URL).\n\
                     Writes bench-results/<name>.json and prints a table per benchmark."
                );
                std::process::exit(0);
            }
            other => panic!("unknown argument {other}; see --help"),
        }
    }
    a
}

fn report(name: &str, rows: &[(&str, String)], json: Value) {
    println!("\n== {name} ==");
    let w = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in rows {
        println!("  {k:<w$}  {v}");
    }
    std::fs::create_dir_all("bench-results").ok();
    std::fs::write(
        format!("bench-results/{name}.json"),
        serde_json::to_string_pretty(&json).unwrap(),
    )
    .ok();
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn cpu_ticks(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .map(|s| {
            let after = s.rsplit(')').next().unwrap_or("");
            let f: Vec<&str> = after.split_whitespace().collect();
            f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
                + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        })
        .unwrap_or(0)
}

async fn count(db: &TargetDb, pool: &sqlx::AnyPool, object: &str) -> i64 {
    let r = q(format!("SELECT COUNT(*) AS n FROM {}", db.table(object)))
        .fetch_one(pool)
        .await
        .unwrap();
    r.try_get::<i64, _>("n").unwrap_or(0)
}

async fn wait_until<F, Fut>(limit: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Waits until the daemon reports Account's first load done with `rows` rows pulled,
/// calling `tick` every 50 ms meanwhile. Watches the daemon's sync status, not the table:
/// counting a table of a million rows every 50 ms would take a core from the load.
async fn first_load_done(org: &SyncedOrg, rows: usize, limit: Duration, mut tick: impl FnMut()) {
    org.client.subscribe(&[Topic::Sync]).await.unwrap();
    let deadline = Instant::now() + limit;
    let mut ticks = tokio::time::interval(Duration::from_millis(50));
    loop {
        assert!(Instant::now() < deadline, "the first load did not finish");
        tokio::select! {
            _ = ticks.tick() => tick(),
            event = org.client.next_event() => {
                if let Some(Event::Sync(objects)) = event
                    && objects.iter().any(|o| {
                        o.object == "Account"
                            && o.state != ObjectState::InitialLoad
                            && o.pulled_total >= rows as u64
                    })
                {
                    break;
                }
            }
        }
    }
    let _: Result<Value, _> = org
        .client
        .call(Call::Unsubscribe(Topics {
            topics: vec![Topic::Sync],
        }))
        .await;
}

/// Waits until every Account change event is done (pushed).
async fn all_pushed(db: &TargetDb, pool: &sqlx::AnyPool, limit: Duration) -> bool {
    wait_until(limit, || async {
        let r = q(format!(
            "SELECT COUNT(*) AS n FROM \"{}\".\"account__events\" WHERE state <> 'DONE'",
            db.schema
        ))
        .fetch_one(pool)
        .await
        .unwrap();
        r.try_get::<i64, _>("n").unwrap_or(1) == 0
    })
    .await
}

/// Calls spent on writes (everything but queries) since the last reset.
fn write_calls(sim: &RunningSim) -> u64 {
    sim.counters()
        .by_kind
        .iter()
        .filter(|(k, _)| !k.contains("query"))
        .map(|(_, v)| v)
        .sum()
}

const FIELDS: [&str; 10] = [
    "Name",
    "Industry",
    "Phone",
    "Website",
    "AnnualRevenue",
    "NumberOfEmployees",
    "BillingCity",
    "BillingState",
    "BillingCountry",
    "Type",
];

async fn sim(rows: usize) -> RunningSim {
    Sim::start(SimConfig {
        seed_counts: vec![("Account".into(), rows)],
        api_limit: 100_000_000,
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

/// A daemon syncing Account (`fields`, `direction`, `policy`) with a PostgreSQL schema,
/// against a simulator seeded with `rows` Accounts, its first load done.
async fn loaded_org(
    rows: usize,
    tag: &str,
    extra_config: &str,
    fields: &[&str],
    direction: Direction,
    policy: ConflictPolicy,
) -> (RunningSim, TargetDb, SyncedOrg, sqlx::AnyPool) {
    let sim = sim(rows).await;
    let db = TargetDb::new(Db::Postgres, &format!("bench_{tag}{rows}"));
    let org = setup_org(&sim, &db, tag, extra_config).await;
    let _: Value = org
        .client
        .call(Call::MappingSave(SaveMapping {
            org: org.org.clone(),
            mapping: Mapping {
                object: "Account".into(),
                fields: fields.iter().map(|f| f.to_string()).collect(),
                direction,
                conflict_policy: policy,
                row_filter: None,
            },
            apply: true,
            confirm_destructive: false,
            send_queued: false,
            leaving_rows: Default::default(),
        }))
        .await
        .unwrap();
    org.enable(true).await;
    let pool = db.pool().await;
    first_load_done(&org, rows, Duration::from_secs(1800), || ()).await;
    assert!(count(&db, &pool, "Account").await as usize >= rows);
    (sim, db, org, pool)
}

/// Forces a PostgreSQL checkpoint (best effort: it needs a superuser or pg_checkpoint).
async fn checkpoint(db: &TargetDb) {
    if let Ok(pg) = sqlx::PgPool::connect(&db.url).await {
        let _ = sqlx::query("CHECKPOINT").execute(&pg).await;
    }
}

/// 1. Initial load into PostgreSQL, against COPY of the same rows (the ceiling).
async fn initial_load(rows: usize) -> Value {
    let sim = sim(rows).await;
    let db = TargetDb::new(Db::Postgres, &format!("bench_load{rows}"));
    let org = setup_org(&sim, &db, "load", "").await;
    org.map("Account", &FIELDS, Direction::SfToDb).await;
    let pool = db.pool().await;
    // Both timed loads start from a checkpoint, so neither pays for the other's WAL.
    checkpoint(&db).await;
    sim.reset_counters();
    let rss_before = rss_kib(org.daemon.child.id());
    let started = Instant::now();
    org.enable(true).await;
    let mut peak_rss = 0;
    let pid = org.daemon.child.id();
    first_load_done(&org, rows, Duration::from_secs(3600), || {
        peak_rss = peak_rss.max(rss_kib(pid));
    })
    .await;
    let load = started.elapsed();
    assert_eq!(count(&db, &pool, "Account").await as usize, rows);
    let calls = sim.counters().api_calls;

    // The ceiling: the same rows as CSV, COPY'd straight into a table of the same shape.
    let pg = sqlx::PgPool::connect(&db.url).await.unwrap();
    let cols = "sfid, name, industry, phone, website, annualrevenue, numberofemployees, billingcity, billingstate, billingcountry, type, systemmodstamp";
    let table = db.table("Account");
    let mut out = pg.acquire().await.unwrap();
    let mut stream = out
        .copy_out_raw(&format!(
            "COPY (SELECT {cols} FROM {table}) TO STDOUT WITH (FORMAT csv)"
        ))
        .await
        .unwrap();
    let mut csv = Vec::new();
    use futures::StreamExt;
    while let Some(chunk) = stream.next().await {
        csv.extend_from_slice(&chunk.unwrap());
    }
    drop(stream);
    let ceiling_table = format!("\"{}\".\"copy_ceiling\"", db.schema);
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE {ceiling_table} (LIKE {table} INCLUDING ALL)"
    )))
    .execute(&pg)
    .await
    .unwrap();
    checkpoint(&db).await;
    let t = Instant::now();
    let mut conn = pg.acquire().await.unwrap();
    let mut copy = conn
        .copy_in_raw(&format!(
            "COPY {ceiling_table} ({cols}) FROM STDIN WITH (FORMAT csv)"
        ))
        .await
        .unwrap();
    copy.send(csv.as_slice()).await.unwrap();
    copy.finish().await.unwrap();
    let copy_time = t.elapsed();
    drop(conn);
    let rate = rows as f64 / load.as_secs_f64();
    let ceiling = rows as f64 / copy_time.as_secs_f64();
    // Idle again: what the daemon keeps of the load's memory a minute later.
    tokio::time::sleep(Duration::from_secs(60).saturating_sub(started.elapsed() - load)).await;
    let rss_idle = rss_kib(pid);
    let json = json!({"rows": rows, "seconds": load.as_secs_f64(), "rows_per_sec": rate, "copy_rows_per_sec": ceiling,
        "ratio_to_copy": rate / ceiling, "api_calls": calls, "rss_kib_before": rss_before, "rss_kib_peak": peak_rss,
        "rss_kib_idle_after_a_minute": rss_idle});
    report(
        "initial_load",
        &[
            ("rows (10 fields)", rows.to_string()),
            ("load time", format!("{:.1} s", load.as_secs_f64())),
            ("throughput", format!("{rate:.0} rows/s")),
            (
                "COPY ceiling",
                format!("{ceiling:.0} rows/s (same rows, straight COPY)"),
            ),
            (
                "ratio to COPY",
                format!("{:.2} (target ≥ 0.7)", rate / ceiling),
            ),
            ("API calls", calls.to_string()),
            (
                "daemon RSS before / peak / a minute after",
                format!(
                    "{} / {} / {} MiB",
                    rss_before / 1024,
                    peak_rss / 1024,
                    rss_idle / 1024
                ),
            ),
        ],
        json.clone(),
    );
    drop(org);
    json
}

/// 2. API calls per N changed records, each direction; pushes through collections (Bulk
///    ingest is turned off here and measured by [`bulk_push`]).
async fn api_calls(changes: usize) -> Value {
    let (sim, db, org, pool) = loaded_org(
        changes,
        "calls",
        "push_bulk_threshold = 0\n",
        &["Name", "Phone"],
        Direction::Bidirectional,
        ConflictPolicy::NewestWins,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    // SF → DB: every record changed in Salesforce by a process (not counted as our calls).
    let ids: Vec<String> = account_ids(&sim);
    for (i, id) in ids.iter().enumerate() {
        sim.system_touch(id, &[("Phone".into(), json!(format!("sf-{i}")))])
            .unwrap();
    }
    sim.reset_counters();
    org.sync_now().await;
    let table = db.table("Account");
    let done = wait_until(Duration::from_secs(600), || async {
        let r = q(format!(
            "SELECT COUNT(*) AS n FROM {table} WHERE phone LIKE 'sf-%'"
        ))
        .fetch_one(&pool)
        .await
        .unwrap();
        r.try_get::<i64, _>("n").unwrap_or(0) as usize >= changes
    })
    .await;
    assert!(done);
    let pull_calls = sim.counters().api_calls;

    // DB → SF: every row changed in the database.
    sim.reset_counters();
    q(format!("UPDATE {table} SET phone = 'db-' || id"))
        .execute(&pool)
        .await
        .unwrap();
    assert!(all_pushed(&db, &pool, Duration::from_secs(600)).await);
    let push_calls = write_calls(&sim);
    let push_by_kind = sim.counters().by_kind;
    let per10k = |c: u64| c as f64 * 10_000.0 / changes as f64;
    let json = json!({"changes": changes, "sf_to_db_calls": pull_calls, "db_to_sf_calls": push_calls,
        "sf_to_db_per_10k": per10k(pull_calls), "db_to_sf_per_10k": per10k(push_calls)});
    report(
        "api_calls",
        &[
            ("changed records", changes.to_string()),
            (
                "SF → DB calls",
                format!(
                    "{pull_calls} ({:.1} per 10k; target ≤ 5)",
                    per10k(pull_calls)
                ),
            ),
            (
                "DB → SF calls (collections)",
                format!(
                    "{push_calls} ({:.1} per 10k; target ≤ 50); with the conflict check's queries: {push_by_kind:?}",
                    per10k(push_calls)
                ),
            ),
        ],
        json.clone(),
    );
    json
}

/// 3. Idle cost: API calls per polling cycle with K mapped objects and no changes.
async fn idle() -> Value {
    let mut out = BTreeMap::new();
    let mut rows = Vec::new();
    for k in [1usize, 10, 50] {
        let sim = sim(5).await;
        let http = reqwest::Client::new();
        for i in 0..k.saturating_sub(1) {
            http.post(format!("{}/__sim/objects", sim.instance_url()))
                .json(&json!({"name": format!("Idle{i}__c"), "label": format!("Idle {i}")}))
                .send()
                .await
                .unwrap();
        }
        let db = TargetDb::new(Db::Postgres, &format!("bench_idle{k}"));
        let org: SyncedOrg = setup_org(&sim, &db, &format!("idle{k}"), "").await;
        org.map("Account", &["Name"], Direction::Bidirectional)
            .await;
        for i in 0..k.saturating_sub(1) {
            org.map(&format!("Idle{i}__c"), &["Name"], Direction::Bidirectional)
                .await;
        }
        org.enable(true).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let cycles = 3;
        sim.reset_counters();
        for _ in 0..cycles {
            org.sync_now().await;
            tokio::time::sleep(Duration::from_millis(1500)).await;
        }
        let per_cycle = sim.counters().api_calls as f64 / cycles as f64;
        out.insert(k.to_string(), per_cycle);
        rows.push((k, per_cycle));
    }
    let table: Vec<(&str, String)> = vec![
        (
            "1 object",
            format!("{:.1} calls/cycle (target ≤ 1)", rows[0].1),
        ),
        (
            "10 objects",
            format!("{:.1} calls/cycle (target ≤ 2)", rows[1].1),
        ),
        (
            "50 objects",
            format!("{:.1} calls/cycle (target ≤ 10)", rows[2].1),
        ),
    ];
    let json = json!({"calls_per_cycle": out});
    report("idle", &table, json.clone());
    json
}

/// API calls per idle poll, over three polls nudged 1.5 s apart (each poll is one composite
/// call per five objects — the replication API's visibility check and the query's first
/// page — plus a call per further page).
async fn calls_per_idle_poll(sim: &RunningSim, org: &SyncedOrg) -> f64 {
    let polls = 3u64;
    sim.reset_counters();
    for _ in 0..polls {
        org.sync_now().await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    sim.counters().api_calls as f64 / polls as f64
}

/// Waits past the overlap window (5 s in the benchmark's daemon config) and polls once, so
/// the next poll's window starts after everything so far.
async fn past_the_window(org: &SyncedOrg) {
    tokio::time::sleep(Duration::from_secs(6)).await;
    org.sync_now().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
}

/// Idle polls right after a first load of `rows` Accounts, and once the overlap window
/// (5 s in the benchmark's daemon config; 120 s by default) has passed: API calls per
/// poll. Before the window was anchored on Salesforce's time, every idle poll re-read the
/// whole load for as long as nothing newer arrived.
async fn idle_after_load(rows: usize) -> Value {
    let (sim, _db, org, _pool) = loaded_org(
        rows,
        "idleload",
        "",
        &["Name", "Phone"],
        Direction::SfToDb,
        ConflictPolicy::NewestWins,
    )
    .await;
    let right_after = calls_per_idle_poll(&sim, &org).await;
    past_the_window(&org).await;
    let after_window = calls_per_idle_poll(&sim, &org).await;
    let table = vec![
        (
            "right after the load",
            format!(
                "{right_after:.1} calls/poll (the load's last seconds are re-read while they could still be late)"
            ),
        ),
        (
            "once the overlap window passed",
            format!("{after_window:.1} calls/poll (target ⌈K/5⌉ = 1)"),
        ),
    ];
    let json = json!({"rows": rows, "right_after": right_after, "after_window": after_window});
    report("idle_after_load", &table, json.clone());
    json
}

/// 4. Push lag on PostgreSQL under a steady write load, from the events table's own times.
async fn push_lag() -> Value {
    let (_sim, db, org, pool) = loaded_org(
        500,
        "lag",
        "",
        &["Name", "Phone"],
        Direction::Bidirectional,
        ConflictPolicy::NewestWins,
    )
    .await;
    let table = db.table("Account");
    let idle_cpu = cpu_ticks(org.daemon.child.id());
    let idle_rss = rss_kib(org.daemon.child.id());
    tokio::time::sleep(Duration::from_secs(5)).await;
    let idle_cpu_pct = (cpu_ticks(org.daemon.child.id()) - idle_cpu) as f64 / 5.0; // ticks are 1/100 s
    // 20 writes a second for 20 seconds.
    for i in 0..400 {
        q(format!(
            "UPDATE {table} SET phone = 'lag-{i}' WHERE id = {}",
            1 + (i % 500)
        ))
        .execute(&pool)
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(all_pushed(&db, &pool, Duration::from_secs(120)).await);
    let lags: Vec<f64> = q(format!(
        "SELECT CAST(EXTRACT(EPOCH FROM (processed_at - created_at)) AS DOUBLE PRECISION) AS lag FROM \"{}\".\"account__events\" WHERE state = 'DONE' ORDER BY lag",
        db.schema
    ))
    .fetch_all(&pool)
    .await
    .unwrap()
    .iter()
    .filter_map(|r| r.try_get::<f64, _>("lag").ok())
    .collect();
    let pct = |p: f64| {
        lags.get(((lags.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    let json = json!({"events": lags.len(), "p50_s": pct(0.5), "p95_s": pct(0.95), "p99_s": pct(0.99),
        "idle_cpu_percent": idle_cpu_pct, "idle_rss_kib": idle_rss});
    report(
        "push_lag",
        &[
            ("events (20/s for 20 s)", lags.len().to_string()),
            ("push lag p50", format!("{:.0} ms", pct(0.5) * 1000.0)),
            (
                "push lag p95",
                format!("{:.0} ms (target ≤ 1000 ms)", pct(0.95) * 1000.0),
            ),
            ("push lag p99", format!("{:.0} ms", pct(0.99) * 1000.0)),
            ("daemon idle CPU", format!("{idle_cpu_pct:.1} %")),
            ("daemon idle RSS", format!("{} MiB", idle_rss / 1024)),
        ],
        json.clone(),
    );
    json
}

/// 2b. DB → Salesforce through Bulk ingest jobs: N updates, then N inserts, with the
///     default `push_bulk_threshold`; the mapping is bidirectional with "database wins", so
///     no conflict reads are spent.
async fn bulk_push(changes: usize) -> Value {
    let (sim, db, _org, pool) = loaded_org(
        changes,
        "bulk",
        "",
        &["Name", "Phone"],
        Direction::Bidirectional,
        ConflictPolicy::DatabaseWins,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let table = db.table("Account");

    sim.reset_counters();
    q(format!("UPDATE {table} SET phone = 'bulk-' || id"))
        .execute(&pool)
        .await
        .unwrap();
    assert!(all_pushed(&db, &pool, Duration::from_secs(600)).await);
    let update_calls = write_calls(&sim);
    let update_ingested = sim.counters().records_ingested;

    sim.reset_counters();
    q(format!(
        "INSERT INTO {table} (name, phone) SELECT 'new-' || g, 'n' FROM generate_series(1, {changes}) g"
    ))
    .execute(&pool)
    .await
    .unwrap();
    assert!(all_pushed(&db, &pool, Duration::from_secs(600)).await);
    let insert_calls = write_calls(&sim);
    let insert_ingested = sim.counters().records_ingested;
    let unpushed = q(format!(
        "SELECT COUNT(*) AS n FROM {table} WHERE sfid IS NULL"
    ))
    .fetch_one(&pool)
    .await
    .unwrap()
    .try_get::<i64, _>("n")
    .unwrap_or(-1);
    assert_eq!(unpushed, 0, "every insert got its sfid");
    let per10k = |c: u64| c as f64 * 10_000.0 / changes as f64;
    let json = json!({"changes": changes, "update_calls": update_calls, "insert_calls": insert_calls,
        "update_per_10k": per10k(update_calls), "insert_per_10k": per10k(insert_calls),
        "records_ingested_by_updates": update_ingested, "records_ingested_by_inserts": insert_ingested});
    let how = |ingested: u64| {
        if ingested > 0 {
            "Bulk"
        } else {
            "collections: below push_bulk_threshold"
        }
    };
    report(
        "bulk_push",
        &[
            ("changed records", changes.to_string()),
            (
                "DB → SF updates",
                format!(
                    "{update_calls} calls ({:.1} per 10k; target ≤ 5 through Bulk) [{}]",
                    per10k(update_calls),
                    how(update_ingested)
                ),
            ),
            (
                "DB → SF inserts",
                format!(
                    "{insert_calls} calls ({:.1} per 10k), sfids written back [{}]",
                    per10k(insert_calls),
                    how(insert_ingested)
                ),
            ),
        ],
        json.clone(),
    );
    json
}

/// 4b. Pull lag against the polling interval: Salesforce changes at random moments, each
///     timed until its row shows the new value in the database.
async fn pull_lag(intervals: &[u32]) -> Value {
    use rand::SeedableRng;
    let (sim, db, org, pool) = loaded_org(
        1000,
        "pull_lag",
        "",
        &["Name", "Phone"],
        Direction::SfToDb,
        ConflictPolicy::NewestWins,
    )
    .await;
    let ids: Vec<String> = account_ids(&sim);
    let table = db.table("Account");
    let mut rng = rand::rngs::StdRng::seed_from_u64(8);
    let mut out = BTreeMap::new();
    let mut rows = Vec::new();
    const SAMPLES: usize = 20;
    for &interval in intervals {
        let _: Value = org
            .client
            .call(Call::OrgSettings(OrgSettings {
                name: org.org.clone(),
                polling_interval_secs: Some(interval),
                api_budget_percent: None,
            }))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(interval as u64)).await;
        // Changes at random moments over three intervals.
        let window = Duration::from_secs(3 * interval as u64);
        let lags = change_lags(
            &sim,
            &pool,
            &table,
            &ids,
            &format!("pl-{interval}"),
            SAMPLES,
            window,
            window + Duration::from_secs(10 * interval as u64),
            &mut rng,
        )
        .await;
        let pct = |p: f64| percentile(&lags, p);
        out.insert(
            interval.to_string(),
            json!({"samples": lags.len(), "p50_s": pct(0.5), "p95_s": pct(0.95), "max_s": pct(1.0)}),
        );
        rows.push((
            format!("every {interval} s"),
            format!(
                "p50 {:.1} s, p95 {:.1} s, max {:.1} s ({} of {SAMPLES} changes arrived)",
                pct(0.5),
                pct(0.95),
                pct(1.0),
                lags.len()
            ),
        ));
    }
    let json = json!({"by_interval_secs": out});
    let table: Vec<(&str, String)> = rows.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    report("pull_lag", &table, json.clone());
    json
}

/// Makes `samples` Salesforce changes (a Phone each, `tag-k`) at random moments over
/// `window` and returns, sorted, how long each took to reach its row (polling the table
/// every 50 ms, for at most `limit`).
#[allow(clippy::too_many_arguments)]
async fn change_lags(
    sim: &RunningSim,
    pool: &sqlx::AnyPool,
    table: &str,
    ids: &[String],
    tag: &str,
    samples: usize,
    window: Duration,
    limit: Duration,
    rng: &mut rand::rngs::StdRng,
) -> Vec<f64> {
    use rand::Rng;
    let mut at: Vec<Duration> = (0..samples)
        .map(|_| window.mul_f64(rng.random::<f64>()))
        .collect();
    at.sort();
    let made = std::sync::Mutex::new(BTreeMap::<String, Instant>::new());
    let start = Instant::now();
    let changes = async {
        for (k, offset) in at.iter().enumerate() {
            tokio::time::sleep((start + *offset).saturating_duration_since(Instant::now())).await;
            let value = format!("{tag}-{k}");
            sim.update(&ids[k % ids.len()], json!({ "Phone": value }))
                .unwrap();
            made.lock().unwrap().insert(value, Instant::now());
        }
    };
    let mut seen = BTreeMap::<String, Instant>::new();
    let watch = async {
        let limit = Instant::now() + limit;
        while seen.len() < samples && Instant::now() < limit {
            for r in q(format!(
                "SELECT phone FROM {table} WHERE phone LIKE '{tag}-%'"
            ))
            .fetch_all(pool)
            .await
            .unwrap()
            {
                if let Ok(p) = r.try_get::<String, _>("phone") {
                    seen.entry(p).or_insert_with(Instant::now);
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::join!(changes, watch);
    let made = made.into_inner().unwrap();
    let mut lags: Vec<f64> = made
        .iter()
        .filter_map(|(v, t)| Some(seen.get(v)?.saturating_duration_since(*t).as_secs_f64()))
        .collect();
    lags.sort_by(f64::total_cmp);
    lags
}

/// The ids of the org's live Accounts.
fn account_ids(sim: &RunningSim) -> Vec<String> {
    sim.with_org(|o| {
        o.table("Account")
            .map(|t| t.live().map(|r| r.id.clone()).collect())
            .unwrap_or_default()
    })
}

/// The `p` quantile of sorted values (NaN when there are none).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 - 1.0) * p).round() as usize)
        .copied()
        .unwrap_or(f64::NAN)
}

/// 7. Change Data Capture: Salesforce change → database row through change events, on
///    PostgreSQL and MariaDB, with the org polled every 30 s (a streamed object only at the
///    safety net's 10 minutes): lag percentiles, API calls and events per change.
async fn stream_lag(dbs: &[Db]) -> Value {
    use rand::SeedableRng;
    const SAMPLES: usize = 50;
    let mut out = serde_json::Map::new();
    let mut rows = Vec::new();
    for &kind in dbs.iter().filter(|d| **d != Db::Sqlite) {
        let sim = sim(1000).await;
        sim.enable_cdc(&["Account"]).unwrap();
        let db = TargetDb::new(kind, "bench_stream");
        let org = setup_org(&sim, &db, "stream", "").await;
        org.set_polling(30).await;
        org.map("Account", &["Name", "Phone"], Direction::SfToDb)
            .await;
        org.enable(true).await;
        let pool = db.pool().await;
        first_load_done(&org, 1000, Duration::from_secs(600), || ()).await;
        let watcher = org.daemon.client().await;
        watcher.subscribe(&[Topic::Sync]).await.unwrap();
        datenator_tests::sync::status_where(&watcher, "Account", "streamed", |s| {
            s.feed == datenator_shared::model::Feed::Stream
        })
        .await;
        // The subscription's catch-up poll comes first.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let ids: Vec<String> = account_ids(&sim);
        sim.reset_counters();
        let delivered = sim.streaming_status().delivered_total;
        let mut rng = rand::rngs::StdRng::seed_from_u64(20);
        let lags = change_lags(
            &sim,
            &pool,
            &db.table("Account"),
            &ids,
            "cdc",
            SAMPLES,
            Duration::from_secs(20),
            Duration::from_secs(60),
            &mut rng,
        )
        .await;
        let calls = sim.counters().total_calls;
        let events = sim.streaming_status().delivered_total - delivered;
        let name = format!("{kind:?}").to_lowercase();
        out.insert(
            name.clone(),
            json!({"samples": lags.len(), "p50_s": percentile(&lags, 0.5), "p95_s": percentile(&lags, 0.95),
                   "max_s": percentile(&lags, 1.0), "api_calls": calls, "events_delivered": events}),
        );
        rows.push((
            name,
            format!(
                "p50 {:.2} s, p95 {:.2} s, max {:.2} s ({} of {SAMPLES} changes arrived); {calls} API calls, {events} events delivered",
                percentile(&lags, 0.5),
                percentile(&lags, 0.95),
                percentile(&lags, 1.0),
                lags.len()
            ),
        ));
    }
    let json = json!({"by_db": out, "conditions": "1000 Accounts loaded, then 50 Salesforce updates at random moments over 20 s; org polled every 30 s, streamed objects every 600 s"});
    let table: Vec<(&str, String)> = rows.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    report("stream_lag", &table, json.clone());
    json
}

/// 6. Growth: initial load and API calls per changes at a tenth, once and ten times the
///    base sizes, in one table.
async fn growth(base_rows: usize, base_changes: usize) -> Value {
    let mut runs = Vec::new();
    for (rows, changes) in [
        (base_rows / 10, base_changes / 10),
        (base_rows, base_changes),
        (base_rows * 10, base_changes * 10),
    ] {
        let load = initial_load(rows).await;
        let calls = api_calls(changes).await;
        let bulk = bulk_push(changes).await;
        runs.push(json!({"rows": rows, "changes": changes, "initial_load": load, "api_calls": calls, "bulk_push": bulk}));
    }
    println!("\n== growth ==");
    println!(
        "  {:>9} {:>8} {:>10} {:>8} {:>6} {:>9} | {:>8} {:>8} {:>10} {:>10} {:>10}",
        "rows",
        "load s",
        "rows/s",
        "vs COPY",
        "calls",
        "peak MiB",
        "changes",
        "SF→DB",
        "DB→SF col",
        "DB→SF blk",
        "blk insert"
    );
    for r in &runs {
        let l = &r["initial_load"];
        let c = &r["api_calls"];
        let b = &r["bulk_push"];
        let n = |v: &Value| v.as_u64().unwrap_or(0);
        let f = |v: &Value| v.as_f64().unwrap_or(0.0);
        println!(
            "  {:>9} {:>8.1} {:>10.0} {:>8.2} {:>6} {:>9} | {:>8} {:>8} {:>10} {:>10} {:>10}",
            n(&r["rows"]),
            f(&l["seconds"]),
            f(&l["rows_per_sec"]),
            f(&l["ratio_to_copy"]),
            n(&l["api_calls"]),
            n(&l["rss_kib_peak"]) / 1024,
            n(&r["changes"]),
            n(&c["sf_to_db_calls"]),
            n(&c["db_to_sf_calls"]),
            n(&b["update_calls"]),
            n(&b["insert_calls"]),
        );
    }
    let json = json!({"runs": runs});
    std::fs::create_dir_all("bench-results").ok();
    std::fs::write(
        "bench-results/growth.json",
        serde_json::to_string_pretty(&json).unwrap(),
    )
    .ok();
    json
}

/// Soak: the convergence test's run (`datenator_tests::convergence`) seed after seed on
/// each database. A failing seed's full report goes to `bench-results/soak-<db>-<seed>.txt`
/// and its violations to the terminal; a summary line per database at the end.
async fn soak(seeds: usize, dbs: &[Db]) -> Value {
    use datenator_tests::convergence::{Config, run, seeds as pick_seeds};
    std::fs::create_dir_all("bench-results").ok();
    let seeds = pick_seeds(seeds);
    let mut lines = Vec::new();
    let mut json = serde_json::Map::new();
    for db in dbs {
        let began = Instant::now();
        let (mut passed, mut failed, mut writes, mut kills) = (0usize, Vec::new(), 0usize, 0usize);
        for (i, seed) in seeds.iter().enumerate() {
            eprintln!(
                "[{db:?} {}/{}] convergence seed: {seed} (DATENATOR_CONVERGENCE_SEED replays it)",
                i + 1,
                seeds.len()
            );
            // A fixture that panics (the daemon does not come back, say) fails this seed,
            // not the whole soak.
            let cfg = Config::new(*db, *seed);
            let o = match tokio::spawn(async move { run(&cfg).await }).await {
                Ok(o) => o,
                Err(e) => datenator_tests::convergence::Outcome {
                    db: *db,
                    seed: *seed,
                    db_writes: 0,
                    sf_writes: 0,
                    kills: 0,
                    converged_after: None,
                    violations: vec![format!("harness: the run panicked: {e}")],
                    report: format!("the run panicked: {e}"),
                    elapsed: Duration::ZERO,
                },
            };
            eprintln!("{}", o.summary());
            writes += o.writes();
            kills += o.kills;
            if o.passed() {
                passed += 1;
            } else {
                for v in o.violations.iter().take(12) {
                    eprintln!("  ✗ {v}");
                }
                let path = format!("bench-results/soak-{db:?}-{seed}.txt").to_lowercase();
                std::fs::write(&path, &o.report).ok();
                eprintln!("  full report: {path}");
                failed.push(*seed);
            }
        }
        let wall = began.elapsed();
        let line = format!(
            "{db:?}: {} seeds run, {passed} passed, {} failed{}; {writes} writes in the ledger, {kills} SIGKILLs, {:.0} s",
            seeds.len(),
            failed.len(),
            if failed.is_empty() {
                String::new()
            } else {
                format!(
                    " ({})",
                    failed
                        .iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
            wall.as_secs_f64()
        );
        println!("{line}");
        lines.push(line);
        json.insert(
            format!("{db:?}").to_lowercase(),
            json!({
                "seeds": seeds.len(), "passed": passed, "failed": failed,
                "writes": writes, "sigkills": kills, "wall_secs": wall.as_secs_f64(),
            }),
        );
    }
    println!("\n== soak ==");
    for l in &lines {
        println!("  {l}");
    }
    let json = Value::Object(json);
    std::fs::write(
        "bench-results/soak.json",
        serde_json::to_string_pretty(&json).unwrap(),
    )
    .ok();
    json
}

/// Waits until the daemon has made no API call for a second (a pull it was asked for
/// has read its last page).
async fn quiet(sim: &RunningSim) {
    let mut last = sim.counters().api_calls;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = sim.counters().api_calls;
        if now == last {
            return;
        }
        last = now;
    }
}

/// A bidirectional push of `changes` database updates (newest wins, Bulk ingest at the
/// default threshold): API calls by kind, once the first load is past the overlap window,
/// with nothing changed in Salesforce meanwhile and with 10 records changed there just
/// before the database's updates (found as conflicts). Before the check read only what
/// the pulls had not seen, it read every pushed record by id: a call per 1,000.
async fn bidirectional_push(changes: usize) -> Value {
    let (sim, db, org, pool) = loaded_org(
        changes,
        "bidipush",
        "",
        &["Name", "Phone"],
        Direction::Bidirectional,
        ConflictPolicy::NewestWins,
    )
    .await;
    let table = db.table("Account");
    // Past the overlap window (5 s in the bench's config) behind the load, polled since.
    tokio::time::sleep(Duration::from_secs(6)).await;
    org.sync_now().await;
    quiet(&sim).await;
    let ids: Vec<String> = sim.with_org(|o| {
        o.table("Account")
            .map(|t| t.live().take(10).map(|r| r.id.clone()).collect())
            .unwrap_or_default()
    });
    let mut runs = Vec::new();
    for (round, concurrent) in [(1, 0usize), (2, 10)] {
        for (i, id) in ids.iter().take(concurrent).enumerate() {
            sim.update(id, json!({"Phone": format!("sf-{round}-{i}")}))
                .unwrap();
        }
        sim.reset_counters();
        q(format!("UPDATE {table} SET phone = 'db{round}-' || id"))
            .execute(&pool)
            .await
            .unwrap();
        assert!(all_pushed(&db, &pool, Duration::from_secs(600)).await);
        let c = sim.counters();
        let conflicts: Vec<Value> = org
            .client
            .call(Call::ConflictList(datenator_shared::protocol::OrgRef {
                name: org.org.clone(),
            }))
            .await
            .unwrap_or_default();
        runs.push((concurrent, c.api_calls, c.by_kind, conflicts.len()));
        // The echoes pulled, the window passed again before the next round.
        tokio::time::sleep(Duration::from_secs(6)).await;
        org.sync_now().await;
        quiet(&sim).await;
    }
    let mut rows = vec![("updated rows", changes.to_string())];
    let mut out = Vec::new();
    for (concurrent, calls, by_kind, conflicts) in &runs {
        rows.push((
            if *concurrent == 0 {
                "nothing changed in Salesforce"
            } else {
                "10 records changed in Salesforce too"
            },
            format!("{calls} calls {by_kind:?}; conflicts logged so far: {conflicts} (target ≤ 5)"),
        ));
        out.push(json!({"concurrent_sf_changes": concurrent, "calls": calls, "by_kind": by_kind, "conflicts_logged": conflicts}));
    }
    let json = json!({"changes": changes, "runs": out});
    report("bidirectional_push", &rows, json.clone());
    json
}

/// A burst of `changes` Salesforce changes (a data load) after a quiet first load, then
/// idle polls: API calls per poll while the burst is inside the overlap window (its
/// records are re-read: one of them could still be a late change) and once it is past.
/// With the default overlap (120 s) and polling (60 s) a burst is re-read by about two
/// polls, then costs nothing more.
async fn burst_then_idle(changes: usize) -> Value {
    let (sim, _db, org, _pool) = loaded_org(
        1000,
        "burst",
        "",
        &["Name", "Phone"],
        Direction::SfToDb,
        ConflictPolicy::NewestWins,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    sim.seed_records("Account", changes, 11).unwrap();
    sim.reset_counters();
    org.sync_now().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pull = sim.counters().api_calls;
    let inside = calls_per_idle_poll(&sim, &org).await;
    past_the_window(&org).await;
    let past = calls_per_idle_poll(&sim, &org).await;
    let json = json!({"burst": changes, "pull_queries": pull, "inside_window": inside, "past_window": past});
    report(
        "burst_then_idle",
        &[
            ("burst of new records", changes.to_string()),
            ("pulling the burst", format!("{pull} calls")),
            (
                "idle polls inside the overlap window",
                format!("{inside:.1} calls/poll (the burst re-read)"),
            ),
            (
                "idle polls past the window",
                format!("{past:.1} calls/poll (target ⌈K/5⌉ = 1)"),
            ),
        ],
        json.clone(),
    );
    json
}

/// `changes` records a data load stamps with one whole second (Salesforce stores whole
/// seconds), pulled after a quiet first load of 1,000: API calls to pull them, whether each
/// arrived exactly once (rows and distinct sfids), and calls per idle poll once the window
/// has passed. The cursor is (SystemModstamp, Id), so pages that split the stamp neither
/// skip nor repeat records.
async fn one_stamp(changes: usize) -> Value {
    let (sim, db, org, pool) = loaded_org(
        1000,
        "onestamp",
        "",
        &["Name", "Phone"],
        Direction::SfToDb,
        ConflictPolicy::NewestWins,
    )
    .await;
    past_the_window(&org).await;
    // Every record on the next whole second (the clock never goes back).
    let stamp = chrono::DateTime::from_timestamp(chrono::Utc::now().timestamp() + 2, 0).unwrap();
    sim.with_org(|o| o.last_stamp = stamp);
    sim.seed_records("Account", changes, 13).unwrap();
    let stamps = sim
        .query("SELECT SystemModstamp FROM Account", false)
        .unwrap()
        .iter()
        .filter_map(|r| r["SystemModstamp"].as_str().map(str::to_owned))
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    sim.reset_counters();
    let want = (1000 + changes) as i64;
    let started = Instant::now();
    let table = db.table("Account");
    let (mut rows, mut distinct) = (0i64, 0i64);
    while started.elapsed() < Duration::from_secs(300) {
        org.sync_now().await;
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let r = q(format!(
            "SELECT COUNT(*) AS n, COUNT(DISTINCT sfid) AS d FROM {table}"
        ))
        .fetch_one(&pool)
        .await
        .unwrap();
        (rows, distinct) = (r.get::<i64, _>("n"), r.get::<i64, _>("d"));
        if rows >= want {
            break;
        }
    }
    let pull = sim.counters().api_calls;
    past_the_window(&org).await;
    let idle = calls_per_idle_poll(&sim, &org).await;
    let json = json!({"records": changes, "stamps_in_org": stamps, "pull_calls": pull, "rows": rows, "distinct": distinct, "idle_per_poll": idle});
    report(
        "one_stamp",
        &[
            (
                "records on one stamp",
                format!("{changes} (the org holds {stamps} distinct stamps)"),
            ),
            (
                "pulling them",
                format!("{pull} calls (polls nudged every second until all arrived)"),
            ),
            (
                "rows / distinct sfids",
                format!("{rows} / {distinct} (want {want} / {want})"),
            ),
            (
                "idle polls past the window",
                format!("{idle:.1} calls/poll (target ⌈K/5⌉ = 1)"),
            ),
        ],
        json.clone(),
    );
    json
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let a = args();
    let run = |name: &str| a.only.as_deref().is_none_or(|o| o == name);
    let mut all = serde_json::Map::new();
    if run("initial_load") {
        all.insert("initial_load".into(), initial_load(a.rows).await);
    }
    if run("api_calls") {
        all.insert("api_calls".into(), api_calls(a.changes).await);
    }
    if run("bulk_push") {
        all.insert("bulk_push".into(), bulk_push(a.changes).await);
    }
    if run("bidirectional_push") {
        all.insert(
            "bidirectional_push".into(),
            bidirectional_push(a.changes).await,
        );
    }
    if run("burst_then_idle") {
        all.insert("burst_then_idle".into(), burst_then_idle(a.changes).await);
    }
    if run("one_stamp") {
        all.insert("one_stamp".into(), one_stamp(5000).await);
    }
    if run("idle") {
        all.insert("idle".into(), idle().await);
    }
    if run("push_lag") {
        all.insert("push_lag".into(), push_lag().await);
    }
    if run("pull_lag") {
        all.insert("pull_lag".into(), pull_lag(&a.intervals).await);
    }
    if run("stream_lag") {
        all.insert("stream_lag".into(), stream_lag(&a.dbs).await);
    }
    // A first load, then idle polls: only when asked for (it loads --rows records).
    if a.only.as_deref() == Some("idle_after_load") {
        all.insert("idle_after_load".into(), idle_after_load(a.rows).await);
    }
    // Growth repeats the others at three sizes: only when asked for.
    if a.only.as_deref() == Some("growth") {
        all.insert(
            "growth".into(),
            growth(a.growth_rows, a.growth_changes).await,
        );
    }
    // The soak runs many convergence seeds: only when asked for.
    if a.only.as_deref() == Some("soak") {
        all.insert("soak".into(), soak(a.seeds, &a.dbs).await);
    }
    std::fs::create_dir_all("bench-results").ok();
    std::fs::write(
        "bench-results/all.json",
        serde_json::to_string_pretty(&Value::Object(all)).unwrap(),
    )
    .ok();
}
