//! Benchmark (not a timed test): how fast sfsim generates, queries and bulk-queries a big org,
//! so we know the simulator is never the bottleneck of the sync benchmarks.
//!
//! `cargo run --release -p sfsim --example bench -- 1000000`

use serde_json::Value;
use sfsim::{Sim, SimConfig};
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let t0 = Instant::now();
    let sim = Sim::start(SimConfig {
        seed_counts: vec![("Account".into(), n)],
        ..SimConfig::default()
    })
    .await?;
    report("generate", n, t0.elapsed());
    let http = reqwest::Client::new();
    let base = sim.data_url();
    let token = sim.access_token().to_string();

    // REST query, following nextRecordsUrl with 2000-record pages.
    let t0 = Instant::now();
    let mut url = format!(
        "{base}/query?q={}",
        "SELECT+Id,Name,Industry,SystemModstamp+FROM+Account+ORDER+BY+SystemModstamp,Id"
    );
    let (mut rows, mut pages) = (0usize, 0usize);
    loop {
        let v: Value = http
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await?
            .json()
            .await?;
        rows += v["records"].as_array().map_or(0, |r| r.len());
        pages += 1;
        match v["nextRecordsUrl"].as_str() {
            Some(next) => url = format!("{}{next}", sim.instance_url()),
            None => break,
        }
    }
    assert_eq!(rows, n);
    report(&format!("REST query ({pages} pages)"), rows, t0.elapsed());

    // Selective query on a filter.
    let t0 = Instant::now();
    let v: Value = http
        .get(format!("{base}/query"))
        .query(&[(
            "q",
            "SELECT COUNT() FROM Account WHERE Industry = 'Banking' AND NumberOfEmployees > 1000",
        )])
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    report(
        &format!("REST COUNT() with filter (= {})", v["totalSize"]),
        n,
        t0.elapsed(),
    );

    // Bulk API 2.0 query job, paging through results with locators.
    let t0 = Instant::now();
    let job: Value = http
        .post(format!("{base}/jobs/query"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"operation": "query", "query": "SELECT Id, Name, Industry, SystemModstamp FROM Account"}))
        .send()
        .await?
        .json()
        .await?;
    let id = job["id"].as_str().unwrap_or_default().to_string();
    loop {
        let v: Value = http
            .get(format!("{base}/jobs/query/{id}"))
            .bearer_auth(&token)
            .send()
            .await?
            .json()
            .await?;
        if v["state"] == "JobComplete" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (mut rows, mut locator) = (0usize, String::new());
    loop {
        let mut url = format!("{base}/jobs/query/{id}/results?maxRecords=100000");
        if !locator.is_empty() {
            url.push_str(&format!("&locator={locator}"));
        }
        let r = http.get(&url).bearer_auth(&token).send().await?;
        let next = r
            .headers()
            .get("sforce-locator")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("null")
            .to_string();
        let body = r.text().await?;
        rows += body.lines().count().saturating_sub(1);
        if next == "null" {
            break;
        }
        locator = next;
    }
    assert_eq!(rows, n);
    report("Bulk 2.0 query job", rows, t0.elapsed());
    println!("api calls: {}", sim.counters().total_calls);
    sim.shutdown().await
}

fn report(what: &str, rows: usize, d: Duration) {
    let rate = rows as f64 / d.as_secs_f64().max(1e-9);
    println!(
        "{what:<55} {rows:>9} rows in {:>8.2} s  ({rate:>10.0} rows/s)",
        d.as_secs_f64()
    );
}
