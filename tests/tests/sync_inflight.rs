//! A row changed again while its last change is in flight: an update or a delete made
//! while the row's create is on its way to a slow Salesforce, a delete made while a killed
//! daemon's create is of unknown outcome, a failed change whose record is then deleted in
//! Salesforce, and Salesforce text the database cannot store as it is. Nothing is lost and
//! nothing comes back. On SQLite, PostgreSQL and MariaDB.
use std::time::Duration;

use datenator_shared::model::{Direction, FailedRecord, Topic};
use datenator_shared::protocol::{Call, OrgRef};
use datenator_tests::sync::{
    Db, SfUser, SyncedOrg, TargetDb, eventually, q, setup_org, status_where, text,
};
use datenator_tests::wait::eventually_some;
use serde_json::json;
use sfsim::{RunningSim, Sim, SimConfig};

async fn start(kind: Db, tag: &str) -> (RunningSim, TargetDb, SyncedOrg, sqlx::AnyPool) {
    let sim = Sim::start(SimConfig {
        seed_counts: vec![("Account".into(), 3)],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let db = TargetDb::new(kind, tag);
    let org = setup_org(&sim, &db, tag, "").await;
    org.map("Account", &["Name", "Phone"], Direction::Bidirectional)
        .await;
    org.enable(true).await;
    let pool = db.pool().await;
    let table = db.table("Account");
    eventually("the first load", || async {
        q(format!("SELECT id FROM {table}"))
            .fetch_all(&pool)
            .await
            .is_ok_and(|r| r.len() == 3)
    })
    .await;
    (sim, db, org, pool)
}

fn latency(sim: &RunningSim, ms: u64) {
    let mut f = sim.faults_config();
    f.latency_ms = ms;
    sim.set_faults(f);
}

/// The states of the events of the row named `name`'s table, oldest first.
async fn event_states(db: &TargetDb, pool: &sqlx::AnyPool, name: &str) -> Vec<String> {
    let (table, events) = (db.table("Account"), db.table("account__events"));
    q(format!(
        "SELECT e.state FROM {events} e WHERE e.row_id IN (SELECT id FROM {table} WHERE name = '{name}') ORDER BY e.id"
    ))
    .fetch_all(pool)
    .await
    .unwrap()
    .iter()
    .filter_map(|r| text(r, "state"))
    .collect()
}

async fn sf_phones(sf: &SfUser<'_>, name: &str) -> Vec<Option<String>> {
    sf.query(
        &format!("SELECT Id, Phone FROM Account WHERE Name = '{name}'"),
        false,
    )
    .await
    .iter()
    .map(|r| r["Phone"].as_str().map(str::to_owned))
    .collect()
}

async fn db_row(
    db: &TargetDb,
    pool: &sqlx::AnyPool,
    name: &str,
) -> Option<(Option<String>, Option<String>)> {
    q(format!(
        "SELECT sfid, phone FROM {} WHERE name = '{name}'",
        db.table("Account")
    ))
    .fetch_optional(pool)
    .await
    .unwrap()
    .map(|r| (text(&r, "sfid"), text(&r, "phone")))
}

/// Waits until the rows' creates are on their way (their insert events claimed).
async fn until_claimed(db: &TargetDb, pool: &sqlx::AnyPool, names: &[&str]) {
    eventually("the creates to be in flight", || async {
        let mut all = true;
        for n in names {
            all &= event_states(db, pool, n).await.first().map(String::as_str) == Some("CLAIMED");
        }
        all
    })
    .await;
}

async fn no_pending(db: &TargetDb, pool: &sqlx::AnyPool) -> bool {
    q(format!(
        "SELECT id FROM {} WHERE state <> 'DONE'",
        db.table("account__events")
    ))
    .fetch_all(pool)
    .await
    .is_ok_and(|r| r.is_empty())
}

/// An update and a delete made while the rows' create waits on a slow Salesforce: the
/// update reaches the record, the deleted row's record is deleted and never pulled back.
async fn changes_during_a_create(kind: Db) {
    let (sim, db, org, pool) = start(kind, "inflight").await;
    let sf = SfUser::new(&sim);
    let table = db.table("Account");
    latency(&sim, 1200);
    q(format!(
        "INSERT INTO {table} (name, phone) VALUES ('inflight-upd', 'OLD-1'), ('inflight-del', 'x')"
    ))
    .execute(&pool)
    .await
    .unwrap();
    until_claimed(&db, &pool, &["inflight-upd", "inflight-del"]).await;
    q(format!(
        "UPDATE {table} SET phone = 'NEW-2' WHERE name = 'inflight-upd'"
    ))
    .execute(&pool)
    .await
    .unwrap();
    q(format!("DELETE FROM {table} WHERE name = 'inflight-del'"))
        .execute(&pool)
        .await
        .unwrap();
    // The create answers; the row it was for gets its sfid.
    eventually("the create to be written back", || async {
        db_row(&db, &pool, "inflight-upd")
            .await
            .is_some_and(|r| r.0.is_some())
    })
    .await;
    latency(&sim, 0);
    eventually("the update to reach Salesforce", || async {
        sf_phones(&sf, "inflight-upd").await == vec![Some("NEW-2".to_owned())]
    })
    .await;
    eventually("the deleted row's record to be deleted", || async {
        sf_phones(&sf, "inflight-del").await.is_empty() && no_pending(&db, &pool).await
    })
    .await;
    // Polls later (a whole round since), nothing was overwritten or brought back.
    sim.reset_counters();
    org.polled_since_reset(&sim, 3).await;
    assert_eq!(
        db_row(&db, &pool, "inflight-upd").await.and_then(|r| r.1),
        Some("NEW-2".into()),
        "the pull kept the update"
    );
    assert_eq!(
        db_row(&db, &pool, "inflight-del").await,
        None,
        "not resurrected"
    );
    assert!(sf_phones(&sf, "inflight-del").await.is_empty());
    assert_eq!(
        sf_phones(&sf, "inflight-upd").await,
        vec![Some("NEW-2".to_owned())]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_during_a_create_sqlite() {
    changes_during_a_create(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_during_a_create_postgres() {
    changes_during_a_create(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_during_a_create_mysql() {
    changes_during_a_create(Db::Mysql).await;
}

/// The daemon is killed while a create is on its way (Salesforce commits it, the answer is
/// never read); the row is deleted before the daemon is back. The record it made is found
/// and deleted, not left behind to be pulled back; a row updated meanwhile is adopted and
/// the update sent.
async fn delete_after_a_killed_create(kind: Db) {
    let (sim, db, mut org, pool) = start(kind, "killcreate").await;
    let sf = SfUser::new(&sim);
    let table = db.table("Account");
    latency(&sim, 3000);
    q(format!(
        "INSERT INTO {table} (name, phone) VALUES ('killed-del', 'k1'), ('killed-upd', 'k2')"
    ))
    .execute(&pool)
    .await
    .unwrap();
    until_claimed(&db, &pool, &["killed-del", "killed-upd"]).await;
    // Salesforce commits half-way through its latency.
    eventually("Salesforce to commit the create", || async {
        sim.query("SELECT Id FROM Account WHERE Name = 'killed-del'", false)
            .is_ok_and(|r| r.len() == 1)
    })
    .await;
    org.daemon.kill();
    latency(&sim, 0);
    q(format!("DELETE FROM {table} WHERE name = 'killed-del'"))
        .execute(&pool)
        .await
        .unwrap();
    q(format!(
        "UPDATE {table} SET phone = 'k2-after' WHERE name = 'killed-upd'"
    ))
    .execute(&pool)
    .await
    .unwrap();
    org.daemon.restart();
    org.client = org.daemon.client().await;
    eventually("the orphaned record to be deleted", || async {
        sf_phones(&sf, "killed-del").await.is_empty()
            && sf_phones(&sf, "killed-upd").await == vec![Some("k2-after".to_owned())]
            && no_pending(&db, &pool).await
    })
    .await;
    sim.reset_counters();
    org.polled_since_reset(&sim, 3).await;
    assert_eq!(
        db_row(&db, &pool, "killed-del").await,
        None,
        "not pulled back"
    );
    let upd = db_row(&db, &pool, "killed-upd").await.unwrap();
    assert!(upd.0.is_some());
    assert_eq!(upd.1.as_deref(), Some("k2-after"));
    assert_eq!(sf_phones(&sf, "killed-upd").await.len(), 1, "no duplicate");
    assert!(
        org.daemon.stderr().contains("deleting the record"),
        "the orphan was found through the lookup"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_after_a_killed_create_sqlite() {
    delete_after_a_killed_create(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_after_a_killed_create_postgres() {
    delete_after_a_killed_create(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_after_a_killed_create_mysql() {
    delete_after_a_killed_create(Db::Mysql).await;
}

/// A create killed after Salesforce committed it, whose record someone then changed in
/// Salesforce before the restart's lookup: no record matches what was sent any more, yet
/// the one our user made that no row holds and that agrees on the rest is adopted — not
/// sent again once the wait for late commits has passed (a duplicate before).
async fn a_killed_create_changed_in_salesforce_is_adopted(kind: Db) {
    let (sim, db, mut org, pool) = start(kind, "killedit").await;
    let sf = SfUser::new(&sim);
    let table = db.table("Account");
    latency(&sim, 3000);
    q(format!(
        "INSERT INTO {table} (name, phone) VALUES ('killed-edit', 'e1')"
    ))
    .execute(&pool)
    .await
    .unwrap();
    until_claimed(&db, &pool, &["killed-edit"]).await;
    let id = eventually_id(&sim, "killed-edit").await;
    org.daemon.kill();
    latency(&sim, 0);
    sim.update(&id, json!({"Phone": "sf-edit"})).unwrap();
    org.daemon.restart();
    org.client = org.daemon.client().await;
    eventually("the record adopted", || async {
        db_row(&db, &pool, "killed-edit").await == Some((Some(id.clone()), Some("sf-edit".into())))
            && no_pending(&db, &pool).await
    })
    .await;
    // Past the wait after which a create not found would be sent again (the overlap, 5 s).
    tokio::time::sleep(Duration::from_secs(6)).await;
    sim.reset_counters();
    org.polled_since_reset(&sim, 3).await;
    assert_eq!(
        sf_phones(&sf, "killed-edit").await,
        vec![Some("sf-edit".to_owned())],
        "one record, with Salesforce's later value"
    );
    assert!(
        org.daemon
            .stderr()
            .contains("changed in Salesforce since; adopting it"),
        "adopted through the fallback"
    );
}

async fn eventually_id(sim: &RunningSim, name: &str) -> String {
    let found = || {
        sim.query(
            &format!("SELECT Id FROM Account WHERE Name = '{name}'"),
            false,
        )
        .ok()
        .and_then(|r| r.first().and_then(|r| r["Id"].as_str().map(str::to_owned)))
    };
    eventually_some("Salesforce to commit the create", || async { found() }).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_create_changed_in_salesforce_is_adopted_sqlite() {
    a_killed_create_changed_in_salesforce_is_adopted(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_create_changed_in_salesforce_is_adopted_postgres() {
    a_killed_create_changed_in_salesforce_is_adopted(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_create_changed_in_salesforce_is_adopted_mysql() {
    a_killed_create_changed_in_salesforce_is_adopted(Db::Mysql).await;
}

fn blocking_rule(sim: &RunningSim) {
    sim.with_org(|org| {
        org.table_mut("Account").unwrap().def.validation_rules.push(
            sfsim::schema::ValidationRule {
                name: "No_Blocked".into(),
                condition: "Phone = 'blocked'".into(),
                message: "Phone must not be blocked".into(),
                field: Some("Phone".into()),
            },
        );
    });
}

async fn failed(org: &SyncedOrg) -> Vec<FailedRecord> {
    org.client
        .call(Call::FailedList(OrgRef {
            name: org.org.clone(),
        }))
        .await
        .unwrap()
}

/// A change Salesforce refused, whose record is then deleted in Salesforce: the deletion
/// wins, the row goes and the failed change leaves the list (and the count).
async fn failed_change_of_a_deleted_record(kind: Db) {
    let (sim, db, org, pool) = start(kind, "faildel").await;
    let sf = SfUser::new(&sim);
    blocking_rule(&sim);
    let table = db.table("Account");
    let row = q(format!("SELECT sfid FROM {table} ORDER BY id"))
        .fetch_one(&pool)
        .await
        .unwrap();
    let sfid = text(&row, "sfid").unwrap();
    q(format!(
        "UPDATE {table} SET phone = 'blocked' WHERE sfid = '{sfid}'"
    ))
    .execute(&pool)
    .await
    .unwrap();
    eventually("the refusal to be listed", || async {
        failed(&org).await.len() == 1
    })
    .await;
    sf.delete("Account", &sfid).await;
    org.sync_now().await;
    eventually("the row to go and the failure with it", || async {
        failed(&org).await.is_empty()
            && q(format!("SELECT id FROM {table} WHERE sfid = '{sfid}'"))
                .fetch_all(&pool)
                .await
                .is_ok_and(|r| r.is_empty())
            && no_pending(&db, &pool).await
    })
    .await;
    // The status's failed count follows.
    let watcher = org.daemon.client().await;
    watcher.subscribe(&[Topic::Sync]).await.unwrap();
    status_where(&watcher, "Account", "the failed count to fall to 0", |o| {
        o.failed_records == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_change_of_a_deleted_record_sqlite() {
    failed_change_of_a_deleted_record(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_change_of_a_deleted_record_postgres() {
    failed_change_of_a_deleted_record(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_change_of_a_deleted_record_mysql() {
    failed_change_of_a_deleted_record(Db::Mysql).await;
}

/// Salesforce text may hold NUL, which PostgreSQL text cannot: the record is stored with
/// the NUL left out (not refused and skipped), and the rest of the value kept.
#[tokio::test(flavor = "multi_thread")]
async fn text_with_nul_is_stored_on_postgres() {
    let (sim, db, org, pool) = start(Db::Postgres, "nul").await;
    let sf = SfUser::new(&sim);
    let id = sf
        .create(
            "Account",
            json!({"Name": "nul\u{0}name", "Phone": "12\u{0}34"}),
        )
        .await;
    org.sync_now().await;
    eventually("the record with NUL to arrive", || async {
        q(format!(
            "SELECT name, phone FROM {} WHERE sfid = '{id}'",
            db.table("Account")
        ))
        .fetch_optional(&pool)
        .await
        .ok()
        .flatten()
        .is_some_and(|r| {
            text(&r, "name").as_deref() == Some("nulname")
                && text(&r, "phone").as_deref() == Some("1234")
        })
    })
    .await;
}

/// A pull never overwrites a field whose local change is not pushed yet (Salesforce locks
/// the record, so the push keeps retrying): the row keeps the local value and takes
/// Salesforce's other fields. When the same field changed in Salesforce later, the next
/// push settles it by the policy (newest wins) even while the record is locked:
/// Salesforce's value goes into the row and the conflict is logged.
async fn pull_keeps_pending_local_changes(kind: Db) {
    let (sim, db, org, pool) = start(kind, "keeplocal").await;
    let table = db.table("Account");
    let rows = q(format!("SELECT sfid FROM {table} ORDER BY id"))
        .fetch_all(&pool)
        .await
        .unwrap();
    let (a, b) = (
        text(&rows[0], "sfid").unwrap(),
        text(&rows[1], "sfid").unwrap(),
    );
    let mut faults = sim.faults_config();
    faults.lock_row_share = 1.0;
    sim.set_faults(faults);
    q(format!(
        "UPDATE {table} SET phone = 'local-a' WHERE sfid = '{a}'"
    ))
    .execute(&pool)
    .await
    .unwrap();
    q(format!(
        "UPDATE {table} SET phone = 'local-b' WHERE sfid = '{b}'"
    ))
    .execute(&pool)
    .await
    .unwrap();
    // Written in Salesforce after the local changes: another field of a, the same of b.
    // (In a later second: Salesforce's stamps are whole seconds, newest-wins compares them.)
    tokio::time::sleep(Duration::from_millis(1100)).await;
    sim.update(&a, json!({"Name": "sf-name-a"})).unwrap();
    sim.update(&b, json!({"Phone": "sf-phone-b"})).unwrap();
    org.sync_now().await;
    let row = |sfid: String| {
        let (pool, table) = (&pool, &table);
        async move {
            q(format!(
                "SELECT name, phone FROM {table} WHERE sfid = '{sfid}'"
            ))
            .fetch_one(pool)
            .await
            .map(|r| (text(&r, "name"), text(&r, "phone")))
            .unwrap()
        }
    };
    eventually("the pull to bring Salesforce's name", || async {
        row(a.clone()).await.0.as_deref() == Some("sf-name-a")
    })
    .await;
    assert_eq!(
        row(a.clone()).await.1.as_deref(),
        Some("local-a"),
        "local change kept"
    );
    // Salesforce lets go: a's change is sent; b's is older than Salesforce's and loses.
    let mut faults = sim.faults_config();
    faults.lock_row_share = 0.0;
    sim.set_faults(faults);
    let sf = SfUser::new(&sim);
    let phone_of = |id: String| {
        let sf = &sf;
        async move {
            sf.query(
                &format!("SELECT Phone FROM Account WHERE Id = '{id}'"),
                false,
            )
            .await
            .first()
            .and_then(|r| r["Phone"].as_str().map(str::to_owned))
        }
    };
    eventually("both sides to agree", || async {
        if std::env::var("DN_DEBUG").is_ok() {
            eprintln!(
                "a: sf {:?} db {:?}; b: sf {:?} db {:?}; pending done {}",
                phone_of(a.clone()).await,
                row(a.clone()).await,
                phone_of(b.clone()).await,
                row(b.clone()).await,
                no_pending(&db, &pool).await
            );
        }
        phone_of(a.clone()).await.as_deref() == Some("local-a")
            && row(a.clone()).await == (Some("sf-name-a".into()), Some("local-a".into()))
            && phone_of(b.clone()).await.as_deref() == Some("sf-phone-b")
            && row(b.clone()).await.1.as_deref() == Some("sf-phone-b")
            && no_pending(&db, &pool).await
    })
    .await;
    let log: Vec<datenator_shared::model::ConflictRecord> = org
        .client
        .call(Call::ConflictList(OrgRef {
            name: org.org.clone(),
        }))
        .await
        .unwrap();
    assert!(
        log.iter()
            .any(|c| c.sfid == b && c.field == "Phone" && c.winner == "salesforce"),
        "{log:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pull_keeps_pending_local_changes_sqlite() {
    pull_keeps_pending_local_changes(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pull_keeps_pending_local_changes_postgres() {
    pull_keeps_pending_local_changes(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pull_keeps_pending_local_changes_mysql() {
    pull_keeps_pending_local_changes(Db::Mysql).await;
}

/// A Salesforce change and a later database change of the same field, both waiting when a
/// tick begins with two objects due (their queries share a composite request): the tick
/// sends the database's value (newest wins) and its pull must not then write Salesforce's
/// older value, read before that push, back into the row — with polls an hour apart, the
/// row would keep it while Salesforce holds the database's value.
async fn a_pull_never_undoes_its_ticks_push(kind: Db) {
    let sim = Sim::start(SimConfig {
        seed_counts: vec![("Account".into(), 2), ("Contact".into(), 2)],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let db = TargetDb::new(kind, "pushfirst");
    let org = setup_org(&sim, &db, "pushfirst", "").await;
    let _: serde_json::Value = org
        .client
        .call(Call::OrgSettings(datenator_shared::protocol::OrgSettings {
            name: org.org.clone(),
            polling_interval_secs: Some(3600),
            api_budget_percent: None,
        }))
        .await
        .unwrap();
    org.map("Account", &["Name", "Phone"], Direction::Bidirectional)
        .await;
    org.map("Contact", &["LastName"], Direction::Bidirectional)
        .await;
    org.enable(true).await;
    let pool = db.pool().await;
    let (table, contacts) = (db.table("Account"), db.table("Contact"));
    eventually("the first load", || async {
        let n = |t: String| {
            let pool = &pool;
            async move {
                q(format!("SELECT id FROM {t}"))
                    .fetch_all(pool)
                    .await
                    .map(|r| r.len())
            }
        };
        n(table.clone()).await.is_ok_and(|n| n == 2)
            && n(contacts.clone()).await.is_ok_and(|n| n == 2)
    })
    .await;
    org.enable(false).await;
    let sfid = text(
        &q(format!("SELECT sfid FROM {table} ORDER BY id"))
            .fetch_one(&pool)
            .await
            .unwrap(),
        "sfid",
    )
    .unwrap();
    sim.update(&sfid, json!({"Phone": "sf-phone"})).unwrap();
    // A later second: Salesforce's stamps are whole seconds, newest wins compares them.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    q(format!(
        "UPDATE {table} SET phone = 'db-phone' WHERE sfid = '{sfid}'"
    ))
    .execute(&pool)
    .await
    .unwrap();
    // A new worker: every object is due at once.
    org.enable(true).await;
    let sf = SfUser::new(&sim);
    eventually("both sides to hold the database's newer value", || async {
        let sf_phone = sf
            .query(
                &format!("SELECT Phone FROM Account WHERE Id = '{sfid}'"),
                false,
            )
            .await
            .first()
            .and_then(|r| r["Phone"].as_str().map(str::to_owned));
        let row = q(format!("SELECT phone FROM {table} WHERE sfid = '{sfid}'"))
            .fetch_one(&pool)
            .await
            .ok()
            .and_then(|r| text(&r, "phone"));
        sf_phone.as_deref() == Some("db-phone")
            && row.as_deref() == Some("db-phone")
            && no_pending(&db, &pool).await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pull_never_undoes_its_ticks_push_sqlite() {
    a_pull_never_undoes_its_ticks_push(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pull_never_undoes_its_ticks_push_postgres() {
    a_pull_never_undoes_its_ticks_push(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pull_never_undoes_its_ticks_push_mysql() {
    a_pull_never_undoes_its_ticks_push(Db::Mysql).await;
}
