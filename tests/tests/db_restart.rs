//! The target database goes away mid-sync — every connection killed, then a real server
//! restart — and nothing is lost: both sides end with the same records and values.
//! (Its own test binary: restarting PostgreSQL must not disturb other tests.)
use std::process::Command;
use std::time::Duration;

use datenator_shared::model::Direction;
use datenator_tests::sync::{Db, SfUser, TargetDb, phones, q, setup_org};
use datenator_tests::wait;
use serde_json::json;
use sfsim::{Sim, SimConfig};

fn restart_postgres() -> bool {
    let Ok(out) = Command::new("sh")
        .arg("-c")
        .arg("ls /etc/postgresql | sort -V | tail -1")
        .output()
    else {
        return false;
    };
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if version.is_empty() {
        return false;
    }
    Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", &version, "main", "restart"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_connections_killed_and_server_restarted_mid_sync() {
    let sim = Sim::start(SimConfig {
        seed_counts: vec![("Account".into(), 15)],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let db = TargetDb::new(Db::Postgres, "restart");
    let org = setup_org(&sim, &db, "restart", "").await;
    org.map("Account", &["Name", "Phone"], Direction::Bidirectional)
        .await;
    org.enable(true).await;
    let sf = SfUser::new(&sim);
    let admin = sqlx::PgPool::connect(&db.url).await.unwrap();
    let mut restarted = false;
    for round in 0..6 {
        let pool = db.pool().await;
        let table = db.table("Account");
        let ids: Vec<String> = sf
            .query("SELECT Id FROM Account", false)
            .await
            .iter()
            .map(|r| r["Id"].as_str().unwrap().to_owned())
            .collect();
        sf.update(
            "Account",
            &ids[round],
            json!({"Phone": format!("sf-{round}")}),
        )
        .await;
        let _ = q(format!(
            "UPDATE {table} SET phone = 'db-{round}' WHERE sfid = '{}'",
            ids[round + 6]
        ))
        .execute(&pool)
        .await;
        let _ = q(format!(
            "INSERT INTO {table} (name, phone) VALUES ('db-new-{round}', 'n')"
        ))
        .execute(&pool)
        .await;
        org.sync_now().await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        if round == 3 && nix::unistd::Uid::effective().is_root() {
            restarted = restart_postgres();
        } else {
            // Every other connection to the database dies, as in a crash or failover.
            let _ = sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
                .execute(&admin)
                .await;
        }
        pool.close().await;
    }
    eprintln!("real PostgreSQL restart: {restarted}");
    wait::poll_every(
        Duration::from_secs(180),
        Duration::from_millis(500),
        || async {
            let pool = db.pool().await;
            org.sync_now().await;
            let converged = phones(&db, &pool, &sf).await.is_ok_and(|p| p.converged());
            if converged { Ok(()) } else { Err(()) }
        },
    )
    .await
    .unwrap_or_else(|()| {
        panic!(
            "never converged after the database outage:\n{}",
            org.daemon.stderr()
        )
    });
    for round in 0..6 {
        let n = sf
            .query(
                &format!("SELECT Id FROM Account WHERE Name = 'db-new-{round}'"),
                false,
            )
            .await
            .len();
        assert_eq!(n, 1, "db-new-{round} is in Salesforce {n} times");
    }
}
