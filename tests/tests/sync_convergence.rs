//! Randomized convergence with an oracle (issue 12): writers on both sides at once, a slow
//! and faulty Salesforce, SIGKILLs of the daemon — and afterwards both sides agree, record
//! by record, with what the writers did (see `datenator_tests::convergence`).
//!
//! Each test runs two seeds (`DATENATOR_CONVERGENCE_SEEDS` raises it) picked from the time
//! and printed — under `CI`, two fixed seeds that passed the soak (the soak explores) —
//! and `DATENATOR_CONVERGENCE_SEED=<seed>` replays one:
//!
//!   DATENATOR_CONVERGENCE_SEED=123456 cargo test -p datenator-tests --test sync_convergence
use datenator_tests::convergence::{Config, run, seed_count, seeds};
use datenator_tests::sync::Db;

async fn converge(db: Db) {
    let mut failed = Vec::new();
    for seed in seeds(seed_count(2)) {
        eprintln!("convergence seed: {seed} (DATENATOR_CONVERGENCE_SEED replays it)");
        let outcome = run(&Config::new(db, seed)).await;
        if outcome.passed() {
            eprintln!("{}", outcome.summary());
        } else {
            // The report starts with the summary line.
            eprintln!("{}", outcome.report);
            failed.push(outcome);
        }
    }
    assert!(
        failed.is_empty(),
        "{} seed(s) failed on {db:?}:\n{}",
        failed.len(),
        failed
            .iter()
            .map(|o| format!("{}\n  {}", o.summary(), o.violations.join("\n  ")))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn both_sides_converge_under_faults_and_kills_sqlite() {
    converge(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn both_sides_converge_under_faults_and_kills_postgres() {
    converge(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn both_sides_converge_under_faults_and_kills_mysql() {
    converge(Db::Mysql).await;
}
