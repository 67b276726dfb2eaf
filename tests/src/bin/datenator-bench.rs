//! datenator-bench: measures Datenator end to end — the real daemon binary, sfsim over
//! loopback HTTP, real PostgreSQL — and prints a table per benchmark and writes JSON to
//! `bench-results/`. Nothing here is a timed test; the numbers are for people.
//!
//!   cargo build --release --workspace --bins
//!   target/release/datenator-bench [--rows 100000] [--changes 10000] [--only NAME]
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use datenator_shared::model::Direction;
use datenator_tests::sync::{Db, SyncedOrg, TargetDb, q, setup_org};
use serde_json::{Value, json};
use sfsim::{RunningSim, Sim, SimConfig};
use sqlx::Row;

struct Args {
    rows: usize,
    changes: usize,
    only: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        rows: 100_000,
        changes: 10_000,
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        match k.as_str() {
            "--rows" => a.rows = it.next().and_then(|v| v.parse().ok()).expect("--rows N"),
            "--changes" => a.changes = it.next().and_then(|v| v.parse().ok()).expect("--changes N"),
            "--only" => a.only = it.next(),
            "--help" | "-h" => {
                println!(
                    "datenator-bench [--rows N] [--changes N] [--only initial_load|api_calls|idle|push_lag|memory]\n\
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

/// 1. Initial load into PostgreSQL, against COPY of the same rows (the ceiling).
async fn initial_load(rows: usize) -> Value {
    let sim = sim(rows).await;
    let db = TargetDb::new(Db::Postgres, "bench_load");
    let org = setup_org(&sim, &db, "load", "").await;
    org.map("Account", &FIELDS, Direction::SfToDb).await;
    let pool = db.pool().await;
    sim.reset_counters();
    let rss_before = rss_kib(org.daemon.child.id());
    let started = Instant::now();
    org.enable(true).await;
    let mut peak_rss = 0;
    let deadline = Instant::now() + Duration::from_secs(3600);
    loop {
        peak_rss = peak_rss.max(rss_kib(org.daemon.child.id()));
        if count(&db, &pool, "Account").await as usize >= rows {
            break;
        }
        assert!(Instant::now() < deadline, "the initial load did not finish");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let load = started.elapsed();
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
    let json = json!({"rows": rows, "seconds": load.as_secs_f64(), "rows_per_sec": rate, "copy_rows_per_sec": ceiling,
        "ratio_to_copy": rate / ceiling, "api_calls": calls, "rss_kib_before": rss_before, "rss_kib_peak": peak_rss});
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
                "daemon RSS before / peak",
                format!("{} / {} MiB", rss_before / 1024, peak_rss / 1024),
            ),
        ],
        json.clone(),
    );
    drop(org);
    json
}

/// 2. API calls per N changed records, each direction.
async fn api_calls(changes: usize) -> Value {
    let sim = sim(changes).await;
    let db = TargetDb::new(Db::Postgres, "bench_calls");
    let org = setup_org(&sim, &db, "calls", "").await;
    org.map("Account", &["Name", "Phone"], Direction::Bidirectional)
        .await;
    org.enable(true).await;
    let pool = db.pool().await;
    assert!(
        wait_until(Duration::from_secs(600), || async {
            count(&db, &pool, "Account").await as usize >= changes
        })
        .await
    );
    tokio::time::sleep(Duration::from_secs(2)).await;

    // SF → DB: every record changed in Salesforce by a process (not counted as our calls).
    let ids: Vec<String> = sim.with_org(|o| {
        o.table("Account")
            .map(|t| t.live().map(|r| r.id.clone()).collect())
            .unwrap_or_default()
    });
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
    let done = wait_until(Duration::from_secs(600), || async {
        let r = q(format!(
            "SELECT COUNT(*) AS n FROM \"{}\".\"account__events\" WHERE state <> 'DONE'",
            db.schema
        ))
        .fetch_one(&pool)
        .await
        .unwrap();
        r.try_get::<i64, _>("n").unwrap_or(1) == 0
    })
    .await;
    assert!(done);
    let push_calls: u64 = sim
        .counters()
        .by_kind
        .iter()
        .filter(|(k, _)| !k.contains("query"))
        .map(|(_, v)| v)
        .sum();
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
                    "{push_calls} ({:.1} per 10k; target ≤ 50)",
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

/// 4. Push lag on PostgreSQL under a steady write load, from the events table's own times.
async fn push_lag() -> Value {
    let sim = sim(500).await;
    let db = TargetDb::new(Db::Postgres, "bench_lag");
    let org = setup_org(&sim, &db, "lag", "").await;
    org.map("Account", &["Name", "Phone"], Direction::Bidirectional)
        .await;
    org.enable(true).await;
    let pool = db.pool().await;
    assert!(
        wait_until(Duration::from_secs(120), || async {
            count(&db, &pool, "Account").await >= 500
        })
        .await
    );
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
    assert!(
        wait_until(Duration::from_secs(120), || async {
            let r = q(format!(
                "SELECT COUNT(*) AS n FROM \"{}\".\"account__events\" WHERE state <> 'DONE'",
                db.schema
            ))
            .fetch_one(&pool)
            .await
            .unwrap();
            r.try_get::<i64, _>("n").unwrap_or(1) == 0
        })
        .await
    );
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
    if run("idle") {
        all.insert("idle".into(), idle().await);
    }
    if run("push_lag") {
        all.insert("push_lag".into(), push_lag().await);
    }
    std::fs::create_dir_all("bench-results").ok();
    std::fs::write(
        "bench-results/all.json",
        serde_json::to_string_pretty(&Value::Object(all)).unwrap(),
    )
    .ok();
}
