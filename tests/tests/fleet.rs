//! A fleet: three daemons share nine simulated orgs through one PostgreSQL state database,
//! their targets on PostgreSQL, writers changing both sides all along. One daemon is killed
//! with SIGKILL, another frozen with SIGSTOP past its leases and then resumed, a fourth
//! joins; afterwards every org's two sides hold the same records and values, record by
//! record, with no database insert created twice in Salesforce.
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use datenator_shared::client::Client;
use datenator_shared::model::{Direction, OrgSummary, Topic};
use datenator_shared::protocol::{Call, NoParams, PinOrg, SetSync};
use datenator_tests::Daemon;
use datenator_tests::sync::{Db, SfUser, TargetDb, map_on, prepare_org, q, text};
use datenator_tests::wait;
use nix::sys::signal::Signal;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sfsim::{RunningSim, Sim, SimConfig};

const ORGS: usize = 9;
/// The lease TTL the daemons run with (`DATENATOR_FLEET_TTL_SECS`; the default config's is
/// 15 s, the test's shorter to keep it quick).
fn ttl_secs() -> u64 {
    std::env::var("DATENATOR_FLEET_TTL_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6)
}

/// A fresh PostgreSQL database for the fleet's state (`tag`: one per test).
async fn state_database(tag: &str) -> String {
    use sqlx::Connection as _;
    let server = std::env::var("DATENATOR_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let mut admin = sqlx::PgConnection::connect(&server).await.unwrap();
    let name = format!("dn_fleet_{tag}_{}", std::process::id());
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name}"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let base = server.rsplit_once('/').unwrap().0;
    format!("{base}/{name}")
}

fn start_member(name: &str, state_url: &str, key: &std::path::Path, sim: &RunningSim) -> Daemon {
    Daemon::start_with_config(&format!(
        "[daemon]\nname = \"{name}\"\nstate_url = \"{state_url}\"\ncredentials_key_file = \"{}\"\nlease_ttl_secs = {}\n\
         [salesforce]\nclient_id = \"{}\"\nclient_secret = \"{}\"\n[sync]\npush_poll_ms = 100\noverlap_secs = 5\n",
        key.display(),
        ttl_secs(),
        sim.info.client_id,
        sim.info.client_secret
    ))
}

async fn orgs(client: &Client) -> Vec<OrgSummary> {
    client.call(Call::OrgList(NoParams {})).await.unwrap()
}

/// Who runs each org, as `client`'s daemon sees the fleet.
async fn placement(client: &Client) -> BTreeMap<String, Option<String>> {
    orgs(client)
        .await
        .into_iter()
        .map(|o| (o.name, o.run_by))
        .collect()
}

/// Waits until `check` holds of the placement `client`'s daemon sees; returns it.
async fn placement_where(
    client: &Client,
    what: &str,
    check: impl Fn(&BTreeMap<String, Option<String>>) -> bool,
) -> BTreeMap<String, Option<String>> {
    wait::poll_every(
        Duration::from_secs(90),
        Duration::from_millis(200),
        || async {
            let p = placement(client).await;
            if check(&p) { Ok(p) } else { Err(p) }
        },
    )
    .await
    .unwrap_or_else(|p| panic!("{what}: never happened; last placement {p:?}"))
}

struct OrgUnderTest {
    name: String,
    sim: RunningSim,
    db: TargetDb,
    pool: sqlx::AnyPool,
}

type Records = BTreeMap<String, (Option<String>, Option<String>)>;

async fn db_records(o: &OrgUnderTest) -> Result<(Records, usize), sqlx::Error> {
    let rows = q(format!(
        "SELECT sfid, name, phone FROM {}",
        o.db.table("Account")
    ))
    .fetch_all(&o.pool)
    .await?;
    let unpushed = rows.iter().filter(|r| text(r, "sfid").is_none()).count();
    Ok((
        rows.iter()
            .filter_map(|r| Some((text(r, "sfid")?, (text(r, "name"), text(r, "phone")))))
            .collect(),
        unpushed,
    ))
}

async fn sf_records(o: &OrgUnderTest) -> Records {
    SfUser::new(&o.sim)
        .query("SELECT Id, Name, Phone FROM Account", false)
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

async fn converged(o: &OrgUnderTest) -> Result<(), String> {
    let (local, unpushed) = db_records(o).await.map_err(|e| e.to_string())?;
    if unpushed > 0 {
        return Err(format!("{}: {unpushed} rows not pushed yet", o.name));
    }
    let remote = sf_records(o).await;
    if local != remote {
        let differ: Vec<_> = local
            .iter()
            .filter(|(k, v)| remote.get(*k) != Some(*v))
            .chain(remote.iter().filter(|(k, _)| !local.contains_key(*k)))
            .take(5)
            .collect();
        return Err(format!("{}: differ: {differ:?}", o.name));
    }
    Ok(())
}

/// Changes both sides of one org at random until `stop`: creates, updates and deletes in
/// Salesforce (another user) and in the database (another application).
async fn writer(o: Arc<OrgUnderTest>, seed: u64, stop: Arc<AtomicBool>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let sf = SfUser::new(&o.sim);
    let table = o.db.table("Account");
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let tag = format!("{}-{n}", o.name);
        match rng.random_range(0..10) {
            0 => {
                sf.create(
                    "Account",
                    json!({"Name": format!("sf-{tag}"), "Phone": "0"}),
                )
                .await;
            }
            1..=3 => {
                let ids: Vec<String> = sf_records(&o).await.into_keys().collect();
                if !ids.is_empty() {
                    let id = &ids[rng.random_range(0..ids.len())];
                    sf.update("Account", id, json!({"Phone": format!("sf-{tag}")}))
                        .await;
                }
            }
            4 => {
                let _ = q(format!(
                    "INSERT INTO {table} (name, phone) VALUES ('db-{tag}', '1')"
                ))
                .execute(&o.pool)
                .await;
            }
            5..=7 => {
                let _ = q(format!(
                    "UPDATE {table} SET phone = 'db-{tag}' WHERE id = (SELECT id FROM {table} ORDER BY random() LIMIT 1)"
                ))
                .execute(&o.pool)
                .await;
            }
            8 => {
                let ids: Vec<String> = sf_records(&o).await.into_keys().collect();
                if ids.len() > 10 {
                    sf.delete("Account", &ids[rng.random_range(0..ids.len())])
                        .await;
                }
            }
            _ => {
                let _ = q(format!(
                    "DELETE FROM {table} WHERE id = (SELECT id FROM {table} WHERE sfid IS NOT NULL ORDER BY random() LIMIT 1) AND (SELECT count(*) FROM {table}) > 10"
                ))
                .execute(&o.pool)
                .await;
            }
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(100..400))).await;
    }
}

fn held_by<'a>(p: &'a BTreeMap<String, Option<String>>, daemon: &str) -> Vec<&'a String> {
    p.iter()
        .filter(|(_, d)| d.as_deref() == Some(daemon))
        .map(|(o, _)| o)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_daemons_nine_orgs_survive_a_kill_a_freeze_and_a_join() {
    let state_url = state_database("nine").await;
    let key_dir = tempfile::tempdir().unwrap();
    let key = key_dir.path().join("fleet.key");
    std::fs::write(&key, [42u8; 32]).unwrap();

    let mut sims = Vec::new();
    for i in 0..ORGS {
        sims.push(
            Sim::start(SimConfig {
                seed: 100 + i as u64,
                seed_counts: vec![("Account".into(), 20)],
                ..SimConfig::default()
            })
            .await
            .unwrap(),
        );
    }
    let mut daemons: HashMap<&str, Daemon> = HashMap::new();
    daemons.insert("d1", start_member("d1", &state_url, &key, &sims[0]));
    let c1 = daemons["d1"].client().await;
    c1.subscribe(&[Topic::Orgs]).await.unwrap();
    let mut under_test = Vec::new();
    for (i, sim) in sims.into_iter().enumerate() {
        let name = format!("org{i}");
        let db = TargetDb::new(Db::Postgres, &format!("fleet{i}"));
        prepare_org(&c1, &sim, &db, &name).await;
        map_on(
            &c1,
            &name,
            "Account",
            &["Name", "Phone"],
            Direction::Bidirectional,
        )
        .await;
        let pool = db.pool().await;
        under_test.push(Arc::new(OrgUnderTest {
            name,
            sim,
            db,
            pool,
        }));
    }
    for o in &under_test {
        let _: Value = c1
            .call(Call::OrgSetSync(SetSync {
                name: o.name.clone(),
                enabled: true,
            }))
            .await
            .unwrap();
    }
    let first = &under_test[0].sim;
    daemons.insert("d2", start_member("d2", &state_url, &key, first));
    daemons.insert("d3", start_member("d3", &state_url, &key, first));
    // Every org runs somewhere, and each of the three daemons runs some.
    let p = placement_where(&c1, "the orgs spread over three daemons", |p| {
        p.values().all(Option::is_some)
            && ["d1", "d2", "d3"].iter().all(|d| !held_by(p, d).is_empty())
    })
    .await;
    eprintln!("placement: {p:?}");
    for o in &under_test {
        wait::poll_every(
            Duration::from_secs(90),
            Duration::from_millis(200),
            || async {
                match db_records(o).await {
                    Ok((r, _)) if r.len() >= 20 => Ok(()),
                    other => Err(format!("{}: {other:?}", o.name)),
                }
            },
        )
        .await
        .unwrap_or_else(|e| panic!("initial load: {e}"));
    }
    // The view is the same from every daemon: d2 sees who runs what, d1's orgs included.
    let c2 = daemons["d2"].client().await;
    placement_where(&c2, "d2 sees the whole fleet", |p2| p2 == &p).await;
    let status: datenator_shared::model::DaemonStatus =
        c2.call(Call::Status(NoParams {})).await.unwrap();
    let fleet = status.fleet.expect("d2 is in a fleet");
    assert_eq!(fleet.me, "d2");
    assert_eq!(
        fleet.members.iter().filter(|m| m.live).count(),
        3,
        "{fleet:?}"
    );

    for o in &under_test {
        let mut f = o.sim.faults_config();
        f.latency_ms = 60;
        o.sim.set_faults(f);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = under_test
        .iter()
        .enumerate()
        .map(|(i, o)| tokio::spawn(writer(o.clone(), 7 + i as u64, stop.clone())))
        .collect();
    tokio::time::sleep(Duration::from_secs(4)).await;

    // kill -9 of d2: its orgs resume on d1 and d3 once their leases run out.
    let lost = held_by(&p, "d2").into_iter().cloned().collect::<Vec<_>>();
    daemons.get_mut("d2").unwrap().kill();
    let killed_at = Instant::now();
    let p = placement_where(&c1, "d2's orgs resume elsewhere", |p| {
        lost.iter()
            .all(|o| matches!(p[o].as_deref(), Some(d) if d != "d2"))
    })
    .await;
    eprintln!(
        "after SIGKILL of d2 ({lost:?}): resumed in {:.1} s (lease TTL {} s): {p:?}",
        killed_at.elapsed().as_secs_f64(),
        ttl_secs()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;

    // SIGSTOP of d3 past its leases: d1 takes its orgs; resumed, d3 commits nothing for them.
    let frozen = held_by(&p, "d3").into_iter().cloned().collect::<Vec<_>>();
    daemons["d3"].signal(Signal::SIGSTOP);
    let frozen_at = Instant::now();
    placement_where(&c1, "d3's orgs move while it is frozen", |p| {
        frozen.iter().all(|o| p[o].as_deref() == Some("d1"))
    })
    .await;
    eprintln!(
        "after SIGSTOP of d3 ({frozen:?}): taken over in {:.1} s",
        frozen_at.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    daemons["d3"].signal(Signal::SIGCONT);

    // Awake again, d3 takes its whole share back (the same orgs: the same live daemons).
    let before = placement_where(&c1, "d3 runs its orgs again", |p| {
        frozen.iter().all(|o| p[o].as_deref() == Some("d3")) && p.values().all(Option::is_some)
    })
    .await;
    // A daemon joins: it takes a share, and only orgs moving to it move.
    daemons.insert(
        "d4",
        start_member("d4", &state_url, &key, &under_test[0].sim),
    );
    let p = placement_where(&c1, "d4 takes a share", |p| {
        !held_by(p, "d4").is_empty() && p.values().all(Option::is_some)
    })
    .await;
    for (org, now) in &p {
        assert!(
            now == &before[org] || now.as_deref() == Some("d4"),
            "{org} moved from {:?} to {now:?} when d4 joined",
            before[org]
        );
    }
    eprintln!("after d4 joined: {p:?}");
    // The operator pins an org to a daemon; an unknown daemon is refused in words.
    let target = if p["org0"].as_deref() == Some("d3") {
        "d4"
    } else {
        "d3"
    };
    let pinned: OrgSummary = c1
        .call(Call::OrgPin(PinOrg {
            name: "org0".into(),
            daemon: Some(target.into()),
        }))
        .await
        .unwrap();
    assert_eq!(pinned.pinned_to.as_deref(), Some(target));
    placement_where(&c1, "org0 moves to the daemon it is pinned to", |p| {
        p["org0"].as_deref() == Some(target)
    })
    .await;
    let e = c1
        .call::<OrgSummary>(Call::OrgPin(PinOrg {
            name: "org0".into(),
            daemon: Some("nowhere".into()),
        }))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no daemon named"), "{e}");
    tokio::time::sleep(Duration::from_secs(4)).await;

    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.await.unwrap();
    }
    for o in &under_test {
        let mut f = o.sim.faults_config();
        f.latency_ms = 0;
        o.sim.set_faults(f);
        // Forwarded to whichever daemon runs the org.
        let _: Value = c1
            .call(Call::OrgSyncNow(datenator_shared::protocol::OrgRef {
                name: o.name.clone(),
            }))
            .await
            .unwrap();
    }
    let logs = || {
        daemons
            .iter()
            .map(|(n, d)| format!("--- {n} ---\n{}", tail(&d.stderr(), 60)))
            .collect::<Vec<_>>()
            .join("\n")
    };
    for o in &under_test {
        wait::poll_every(Duration::from_secs(120), Duration::from_millis(300), || {
            converged(o)
        })
        .await
        .unwrap_or_else(|e| panic!("never converged: {e}\n{}", logs()));
        // No database insert reached Salesforce twice.
        let remote = sf_records(o).await;
        let mut names: HashMap<&str, usize> = HashMap::new();
        for (name, _) in remote.values() {
            if let Some(n) = name.as_deref().filter(|n| n.starts_with("db-")) {
                *names.entry(n).or_default() += 1;
            }
        }
        let dups: Vec<_> = names.iter().filter(|(_, n)| **n > 1).collect();
        assert!(dups.is_empty(), "{}: duplicates {dups:?}", o.name);
    }
    // Every target holds the fencing token of the lease its org runs under now: the
    // holder raised it before writing (a stale holder's writes would be refused).
    let state = sqlx::PgPool::connect(&state_url).await.unwrap();
    let tokens: HashMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
        "SELECT org_name, token FROM fleet_leases WHERE holder IS NOT NULL",
    )
    .fetch_all(&state)
    .await
    .unwrap()
    .into_iter()
    .collect();
    for o in &under_test {
        let stored: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT last_id FROM \"{}\"._datenator_cursor WHERE object = ':fence'",
            o.db.schema
        )))
        .fetch_one(&o.pool)
        .await
        .unwrap();
        assert_eq!(
            stored.parse::<i64>().ok(),
            tokens.get(&o.name).copied(),
            "{}: the target's fence and the lease's token",
            o.name
        );
    }
    let d3 = daemons["d3"].stderr();
    assert!(
        d3.contains("lease ran out") || d3.contains("lost the org's lease"),
        "d3 noticed it lost its orgs:\n{}",
        tail(&d3, 80)
    );
    for (n, d) in &daemons {
        assert!(
            !d.stderr().contains("panicked"),
            "{n} panicked:\n{}",
            d.stderr()
        );
    }
}

fn tail(s: &str, lines: usize) -> String {
    let all: Vec<&str> = s.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// One org (five Accounts, mapped both ways, first load done) run by one daemon of a
/// fleet whose state is a fresh PostgreSQL database; lease TTL 4 s.
struct SmallFleet {
    state_url: String,
    key: std::path::PathBuf,
    _key_dir: tempfile::TempDir,
    sim: RunningSim,
    db: TargetDb,
    org: datenator_tests::sync::SyncedOrg,
    pool: sqlx::AnyPool,
    table: String,
}

impl SmallFleet {
    async fn start(tag: &str, org_name: &str, daemon: &str, target: Db) -> SmallFleet {
        use datenator_tests::sync::{eventually, setup_org};
        let state_url = state_database(tag).await;
        let key_dir = tempfile::tempdir().unwrap();
        let key = key_dir.path().join("fleet.key");
        std::fs::write(&key, [5u8; 32]).unwrap();
        let sim = Sim::start(SimConfig {
            seed_counts: vec![("Account".into(), 5)],
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let db = TargetDb::new(target, &format!("fleet{tag}"));
        let config = small_fleet_config(daemon, &state_url, &key);
        let org = setup_org(&sim, &db, org_name, &config).await;
        org.map("Account", &["Name", "Phone"], Direction::Bidirectional)
            .await;
        org.enable(true).await;
        let pool = db.pool().await;
        let table = db.table("Account");
        eventually("the first load", || async {
            q(format!("SELECT count(*) AS n FROM {table}"))
                .fetch_one(&pool)
                .await
                .map(|r| sqlx::Row::get::<i64, _>(&r, "n") == 5)
                .unwrap_or(false)
        })
        .await;
        SmallFleet {
            state_url,
            key,
            _key_dir: key_dir,
            sim,
            db,
            org,
            pool,
            table,
        }
    }

    /// The `[daemon]` section of another daemon of this fleet.
    fn config(&self, daemon: &str) -> String {
        small_fleet_config(daemon, &self.state_url, &self.key)
    }
}

fn small_fleet_config(daemon: &str, state_url: &str, key: &std::path::Path) -> String {
    format!(
        "[daemon]\nname = \"{daemon}\"\nstate_url = \"{state_url}\"\ncredentials_key_file = \"{}\"\nlease_ttl_secs = 4\n",
        key.display()
    )
}

/// The state database goes away: the daemon cannot renew its lease, so it stops the org's
/// work before the lease runs out (a database change made meanwhile is not sent); once
/// PostgreSQL answers again, it takes the lease back and sends it.
#[tokio::test(flavor = "multi_thread")]
async fn without_its_state_database_a_daemon_stops_its_orgs_then_resumes() {
    use datenator_tests::sync::eventually;
    let f = SmallFleet::start("down", "solo", "only", Db::Postgres).await;
    let (state_url, org, pool, table) = (&f.state_url, &f.org, f.pool.clone(), &f.table);
    let (sim, _db) = (&f.sim, &f.db);
    let state_db = state_url.rsplit_once('/').unwrap().1.to_owned();

    // PostgreSQL refuses the state database's connections and ends those open.
    let server = std::env::var("DATENATOR_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let admin = sqlx::PgPool::connect(&server).await.unwrap();
    let block = |allow: bool| {
        let (admin, state_db) = (admin.clone(), state_db.clone());
        async move {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "ALTER DATABASE {state_db} ALLOW_CONNECTIONS {allow}"
            )))
            .execute(&admin)
            .await
            .unwrap();
            if !allow {
                sqlx::query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                )
                .bind(&state_db)
                .execute(&admin)
                .await
                .unwrap();
            }
        }
    };
    block(false).await;
    eventually("the daemon to stop the org's work", || async {
        org.daemon.stderr().contains("lease ran out")
    })
    .await;
    let sfid: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT sfid FROM {table} ORDER BY sfid LIMIT 1"
    )))
    .fetch_one(&pool)
    .await
    .unwrap();
    q(format!(
        "UPDATE {table} SET phone = 'while-down' WHERE sfid = '{sfid}'"
    ))
    .execute(&pool)
    .await
    .unwrap();
    let sf = SfUser::new(sim);
    let phone = || async {
        sf.query(
            &format!("SELECT Phone FROM Account WHERE Id = '{sfid}'"),
            false,
        )
        .await
        .first()
        .and_then(|r| r["Phone"].as_str().map(str::to_owned))
    };
    // Several push polls' worth: nothing goes out while the daemon holds no lease.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_ne!(phone().await.as_deref(), Some("while-down"));
    block(true).await;
    eventually("the change to be sent once the state is back", || async {
        phone().await.as_deref() == Some("while-down")
    })
    .await;
    assert!(!org.daemon.stderr().contains("panicked"));
}

/// A daemon frozen in the middle of a write transaction: the daemon that takes the org over
/// is not held up for good (PostgreSQL: its claim, kept waiting by the frozen statement,
/// ends the frozen daemon's transaction; MariaDB: the server drops the frozen connection
/// once idle), and the frozen daemon's write never lands.
#[tokio::test(flavor = "multi_thread")]
async fn a_daemon_frozen_mid_transaction_neither_blocks_nor_writes_after_the_takeover() {
    frozen_mid_transaction("frozen", Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_daemon_frozen_mid_transaction_on_mariadb_neither_blocks_nor_writes() {
    frozen_mid_transaction("frozenmy", Db::Mysql).await;
}

/// Statements of `schema` waiting for a row lock.
async fn lock_waiters(pool: &sqlx::AnyPool, target: Db, schema: &str) -> i64 {
    let sql = match target {
        Db::Postgres => format!(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%{schema}%'"
        ),
        // InnoDB refreshes INNODB_TRX only when last read 100 ms ago or more.
        Db::Mysql => format!(
            "SELECT COUNT(*) AS n FROM information_schema.INNODB_TRX t JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id WHERE t.trx_state = 'LOCK WAIT' AND p.DB = '{schema}'"
        ),
        Db::Sqlite => unreachable!("a fleet's targets are shared databases"),
    };
    sqlx::Row::get::<i64, _>(&q(sql).fetch_one(pool).await.unwrap(), "n")
}

async fn frozen_mid_transaction(tag: &str, target: Db) {
    use datenator_tests::sync::eventually;
    use datenator_tests::wait::eventually_within;
    let f = SmallFleet::start(tag, "frozen", "d1", target).await;
    let (state_url, org, pool, table) = (&f.state_url, &f.org, f.pool.clone(), &f.table);
    let (sim, db) = (&f.sim, &f.db);
    // d1 runs the org (pinned there while it is live); d2 stands by.
    let _: OrgSummary = org
        .client
        .call(Call::OrgPin(PinOrg {
            name: "frozen".into(),
            daemon: Some("d1".into()),
        }))
        .await
        .unwrap();
    let d2 = Daemon::start_with_config(&format!(
        "{}[salesforce]\nclient_id = \"{}\"\nclient_secret = \"{}\"\n[sync]\npush_poll_ms = 100\noverlap_secs = 5\n",
        f.config("d2"),
        sim.info.client_id,
        sim.info.client_secret
    ));
    let c2 = d2.client().await;
    placement_where(&c2, "d2 sees d1 run the org", |p| {
        p["frozen"].as_deref() == Some("d1")
    })
    .await;

    // Another application holds a row: d1's pull of that record waits inside its write
    // transaction (which holds the fence row shared).
    let sfid: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT sfid FROM {table} ORDER BY sfid LIMIT 1"
    )))
    .fetch_one(&pool)
    .await
    .unwrap();
    let mut app = pool.begin().await.unwrap();
    q(format!(
        "SELECT 1 FROM {table} WHERE sfid = '{sfid}' FOR UPDATE"
    ))
    .execute(&mut *app)
    .await
    .unwrap();
    let sf = SfUser::new(sim);
    sf.update("Account", &sfid, json!({"Phone": "one"})).await;
    org.sync_now().await;
    wait::poll_every(
        Duration::from_secs(90),
        Duration::from_millis(250),
        || async {
            if lock_waiters(&pool, target, &db.schema).await > 0 {
                Ok(())
            } else {
                Err("none")
            }
        },
    )
    .await
    .expect("d1's write to wait for the row");
    // Frozen mid-transaction; d2 takes the org once d1's lease runs out.
    org.daemon.signal(Signal::SIGSTOP);
    placement_where(&c2, "d2 takes the org over", |p| {
        p["frozen"].as_deref() == Some("d2")
    })
    .await;
    if target == Db::Postgres {
        // d1's statement still waits on the application's lock (no idle timeout applies):
        // d2's claim, kept waiting, ends d1's transaction and goes on.
        eventually("d2 to end d1's stuck transaction", || async {
            d2.stderr()
                .contains("ended a transaction of the org's previous holder")
        })
        .await;
    }
    sf.update("Account", &sfid, json!({"Phone": "two"})).await;
    // The other application lets go: d2's pull writes the record (MariaDB: d1's statement
    // ends, its frozen transaction idles until the server drops it, then d2 claims).
    app.commit().await.unwrap();
    let phone = || async {
        sqlx::query_scalar::<_, Option<String>>(sqlx::AssertSqlSafe(format!(
            "SELECT phone FROM {table} WHERE sfid = '{sfid}'"
        )))
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    eventually_within(
        "d2 to write the record",
        Duration::from_secs(90),
        || async { phone().await.as_deref() == Some("two") },
    )
    .await;
    org.daemon.signal(Signal::SIGCONT);
    eventually("d1 to notice it lost the org", || async {
        let log = org.daemon.stderr();
        log.contains("lease ran out") || log.contains("lost the org's lease")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        phone().await.as_deref(),
        Some("two"),
        "a stale write landed"
    );
    // Awake and live again, d1 (the org is pinned to it) takes the org back under a new
    // lease; the target's fence holds that lease's token.
    placement_where(&c2, "d1 takes its pinned org back", |p| {
        p["frozen"].as_deref() == Some("d1")
    })
    .await;
    sf.update("Account", &sfid, json!({"Phone": "three"})).await;
    org.sync_now().await;
    eventually("d1 to sync again", || async {
        phone().await.as_deref() == Some("three")
    })
    .await;
    let state = sqlx::PgPool::connect(state_url).await.unwrap();
    let token: i64 = sqlx::query_scalar("SELECT token FROM fleet_leases WHERE org_name = 'frozen'")
        .fetch_one(&state)
        .await
        .unwrap();
    assert!(token >= 3, "d1, d2, d1 again: {token}");
    let stored: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT last_id FROM {} WHERE object = ':fence'",
        db.table("_datenator_cursor")
    )))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(stored.parse::<i64>().ok(), Some(token));
}
