//! Change Data Capture (issue 20): Salesforce's changes reach the rows as change events over
//! the Streaming API, at no API cost, and whatever the stream cannot carry falls back to the
//! pull. On SQLite, PostgreSQL and MariaDB:
//!
//! * creates, updates (a compound field's component among them), deletes and undeletes
//!   arrive through events with no API call spent; the engine's own pushes do not come back
//!   as writes or pushes;
//! * a daemon killed after an event was delivered and before it was committed gets it
//!   again from the stored replay id and applies it once;
//! * a gap event and an overflow are caught up by the pull; a stored position Salesforce no
//!   longer keeps is caught up by the pull and streaming resumes; an object without Change
//!   Data Capture is polled and says why.

use datenator_shared::client::Client;
use datenator_shared::model::{Direction, Feed, ObjectStatus, Topic};
use datenator_tests::sync::{
    Db, SyncedOrg, TargetDb, column_of, eventually, q, setup_org, status_where, text,
};
use serde_json::json;
use sfsim::{RunningSim, Sim, SimConfig};

/// Polls only at the safety net's interval (an hour), so what arrives came as an event.
const CONFIG: &str = "stream_safety_poll_secs = 3600";

async fn value(db: &TargetDb, pool: &sqlx::AnyPool, id: &str, column: &str) -> Option<String> {
    column_of(db, pool, "Account", id, column).await
}

async fn rows_of(db: &TargetDb, pool: &sqlx::AnyPool, id: &str) -> usize {
    q(format!(
        "SELECT sfid FROM {} WHERE sfid = '{id}'",
        db.table("Account")
    ))
    .fetch_all(pool)
    .await
    .unwrap()
    .len()
}

/// The replay id stored beside the pull cursor.
async fn stored_position(db: &TargetDb, pool: &sqlx::AnyPool) -> Option<i64> {
    q(format!(
        "SELECT last_id AS v FROM {} WHERE object = 'Account/stream'",
        db.table("_datenator_cursor")
    ))
    .fetch_optional(pool)
    .await
    .unwrap()
    .and_then(|r| text(&r, "v"))
    .and_then(|v| v.parse().ok())
}

/// A simulated org publishing Account's change events, a daemon syncing Account (and
/// Contact, which publishes none) both ways, the first load done and the stream open.
async fn start(kind: Db, tag: &str) -> (RunningSim, TargetDb, SyncedOrg, Client, Vec<String>) {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    sim.enable_cdc(&["Account"]).unwrap();
    let ids: Vec<String> = (0..3)
        .map(|i| {
            sim.create(
                "Account",
                json!({"Name": format!("Account {i}"), "Phone": format!("{i}")}),
            )
            .unwrap()
        })
        .collect();
    let db = TargetDb::new(kind, tag);
    let org = setup_org(&sim, &db, tag, CONFIG).await;
    org.set_polling(3600).await;
    org.map(
        "Account",
        &["Name", "Phone", "BillingCity"],
        Direction::Bidirectional,
    )
    .await;
    org.map("Contact", &["LastName"], Direction::SfToDb).await;
    org.enable(true).await;
    let pool = db.pool().await;
    eventually("the first load", || async {
        value(&db, &pool, &ids[2], "phone").await.as_deref() == Some("2")
    })
    .await;
    let watcher = org.daemon.client().await;
    watcher.subscribe(&[Topic::Sync]).await.unwrap();
    status_where(&watcher, "Account", "Account streamed", |s| {
        s.feed == Feed::Stream
    })
    .await;
    (sim, db, org, watcher, ids)
}

/// A record's phone as Salesforce holds it (no API call).
fn sf_phone(sim: &RunningSim, id: &str) -> Option<String> {
    sim.with_org(|o| {
        let (table, record) = o.find(id)?;
        match record.get(table.slot("Phone")) {
            sfsim::value::Value::Str(s) => Some(s.to_string()),
            _ => None,
        }
    })
}

fn polled_because(s: &ObjectStatus, words: &str) -> bool {
    s.feed == Feed::Poll && s.feed_note.as_deref().is_some_and(|n| n.contains(words))
}

async fn changes_arrive_as_events_at_no_api_cost(kind: Db) {
    let (sim, db, org, watcher, ids) = start(kind, "cdcflow").await;
    let pool = db.pool().await;
    status_where(&watcher, "Contact", "Contact polled, saying why", |s| {
        polled_because(s, "select it in Setup → Change Data Capture")
    })
    .await;
    // A first change settles what subscribing asked for (a pull of what came before it).
    sim.update(&ids[0], json!({"Phone": "first"})).unwrap();
    eventually("the first change", || async {
        value(&db, &pool, &ids[0], "phone").await.as_deref() == Some("first")
    })
    .await;
    sim.reset_counters();

    sim.update(&ids[0], json!({"Phone": "streamed", "BillingCity": "Lyon"}))
        .unwrap();
    let created = sim
        .create("Account", json!({"Name": "New", "Phone": "n"}))
        .unwrap();
    sim.delete(&ids[1]).unwrap();
    eventually(
        "an update, a create and a delete through events",
        || async {
            value(&db, &pool, &ids[0], "phone").await.as_deref() == Some("streamed")
                && value(&db, &pool, &ids[0], "billingcity").await.as_deref() == Some("Lyon")
                && value(&db, &pool, &created, "name").await.as_deref() == Some("New")
                && rows_of(&db, &pool, &ids[1]).await == 0
        },
    )
    .await;
    sim.undelete(&ids[1]).unwrap();
    eventually("an undelete through its event", || async {
        value(&db, &pool, &ids[1], "name").await.as_deref() == Some("Account 1")
    })
    .await;
    let calls = sim.counters().total_calls;
    // The subscription's catch-up pull may land after the reset, once: never one per change.
    assert!(
        calls <= 1,
        "changes through events spend no API call: {:?}",
        sim.counters().by_kind
    );

    // The engine's own push comes back as an event: it writes nothing and is not pushed
    // again.
    q(format!(
        "UPDATE {} SET phone = 'from the db' WHERE sfid = '{}'",
        db.table("Account"),
        ids[2]
    ))
    .execute(&pool)
    .await
    .unwrap();
    eventually("the push", || async {
        sf_phone(&sim, &ids[2]).as_deref() == Some("from the db")
    })
    .await;
    let echo = sim
        .change_events()
        .last()
        .and_then(|e| e["data"]["event"]["replayId"].as_i64())
        .unwrap();
    eventually("the push's own event applied", || async {
        stored_position(&db, &pool).await.is_some_and(|p| p >= echo)
    })
    .await;
    let pushes_before = sim.counters().total_calls;
    // Another change after the echo proves the rounds went on.
    sim.update(&ids[0], json!({"Phone": "after the echo"}))
        .unwrap();
    eventually("a later change", || async {
        value(&db, &pool, &ids[0], "phone").await.as_deref() == Some("after the echo")
    })
    .await;
    assert_eq!(
        value(&db, &pool, &ids[2], "phone").await.as_deref(),
        Some("from the db")
    );
    assert_eq!(
        sim.counters().total_calls,
        pushes_before,
        "the echo was not pushed back: {:?}",
        sim.counters().by_kind
    );
    let pending = q(format!(
        "SELECT id FROM {} WHERE state <> 'DONE'",
        db.table("account__events")
    ))
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(pending.is_empty(), "no change recorded by the echo");

    // Contact publishes no events: its changes come with its polls.
    let contact = sim
        .create("Contact", json!({"LastName": "Polled"}))
        .unwrap();
    eventually("a Contact change through a poll", || async {
        org.sync_now().await;
        column_of(&db, &pool, "Contact", &contact, "lastname")
            .await
            .as_deref()
            == Some("Polled")
    })
    .await;
}

async fn a_kill_before_the_commit_replays_the_event_once(kind: Db) {
    let (sim, db, mut org, _watcher, ids) = start(kind, "cdckill").await;
    let pool = db.pool().await;
    // A change through the stream stores its position.
    sim.update(&ids[0], json!({"Phone": "before"})).unwrap();
    eventually("a stream position stored", || async {
        stored_position(&db, &pool).await.is_some()
    })
    .await;
    // The table is held, so the daemon receives the event and cannot commit it.
    let mut hold = pool.acquire().await.unwrap();
    let lock = match kind {
        Db::Sqlite => vec!["BEGIN IMMEDIATE".to_owned()],
        Db::Postgres => vec![
            "BEGIN".to_owned(),
            format!("LOCK TABLE {} IN EXCLUSIVE MODE", db.table("Account")),
        ],
        Db::Mysql => vec![format!("LOCK TABLES {} WRITE", db.table("Account"))],
    };
    for s in &lock {
        sqlx::Executor::execute(&mut *hold, sqlx::AssertSqlSafe(s.clone()))
            .await
            .unwrap();
    }
    let delivered = sim.streaming_status().delivered_total;
    let created = sim
        .create("Account", json!({"Name": "In flight", "Phone": "f"}))
        .unwrap();
    eventually("the event delivered", || async {
        sim.streaming_status().delivered_total > delivered
    })
    .await;
    org.daemon.kill();
    let release = match kind {
        Db::Mysql => "UNLOCK TABLES",
        _ => "ROLLBACK",
    };
    sqlx::Executor::execute(&mut *hold, release).await.unwrap();
    drop(hold);
    assert_eq!(rows_of(&db, &pool, &created).await, 0, "not committed");
    let replayed_from = sim.streaming_status().delivered_total;

    org.daemon.restart();
    eventually("the event applied after the restart", || async {
        value(&db, &pool, &created, "name").await.as_deref() == Some("In flight")
    })
    .await;
    let create_event = sim
        .change_events()
        .iter()
        .rev()
        .find(|e| e["data"]["payload"]["ChangeEventHeader"]["recordIds"][0] == json!(created))
        .and_then(|e| e["data"]["event"]["replayId"].as_i64())
        .unwrap();
    eventually("the stream position past the event", || async {
        stored_position(&db, &pool)
            .await
            .is_some_and(|p| p >= create_event)
    })
    .await;
    assert!(
        sim.streaming_status().delivered_total > replayed_from,
        "the stream resumed from the stored position and got the event again"
    );
    assert_eq!(rows_of(&db, &pool, &created).await, 1, "applied once");
}

async fn what_the_stream_cannot_carry_is_pulled(kind: Db) {
    let (sim, db, mut org, watcher, ids) = start(kind, "cdcgap").await;
    let pool = db.pool().await;

    // A gap event: the record is read through the pull.
    sim.gap_next_changes(1);
    sim.update(&ids[0], json!({"Phone": "after a gap"}))
        .unwrap();
    eventually("the gap caught up", || async {
        value(&db, &pool, &ids[0], "phone").await.as_deref() == Some("after a gap")
    })
    .await;
    status_where(&watcher, "Account", "the gap named", |s| {
        s.feed_note.as_deref().is_some_and(|n| n.contains("gap"))
    })
    .await;

    // An overflow: a transaction of more changes than events are sent for.
    sim.set_cdc_overflow_threshold(2);
    let token = sim.info.access_token.clone();
    let records: Vec<serde_json::Value> = ids
        .iter()
        .map(|id| json!({"attributes": {"type": "Account"}, "id": id, "Phone": "overflow"}))
        .collect();
    let r = reqwest::Client::new()
        .patch(format!(
            "{}/services/data/v59.0/composite/sobjects",
            sim.instance_url()
        ))
        .bearer_auth(token)
        .json(&json!({"allOrNone": true, "records": records}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    eventually("the overflow caught up", || async {
        for id in &ids {
            if value(&db, &pool, id, "phone").await.as_deref() != Some("overflow") {
                return false;
            }
        }
        true
    })
    .await;
    sim.set_cdc_overflow_threshold(100_000);

    // A stored position Salesforce no longer keeps: caught up by the pull, then streamed.
    org.daemon.kill();
    sim.update(&ids[1], json!({"Phone": "while down"})).unwrap();
    sim.expire_change_events(None);
    org.daemon.restart();
    let watcher = org.daemon.client().await;
    watcher.subscribe(&[Topic::Sync]).await.unwrap();
    eventually("the change made while down", || async {
        value(&db, &pool, &ids[1], "phone").await.as_deref() == Some("while down")
    })
    .await;
    status_where(&watcher, "Account", "the lost position named", |s| {
        s.feed_note
            .as_deref()
            .is_some_and(|n| n.contains("no longer keeps"))
    })
    .await;
    status_where(&watcher, "Account", "streamed again", |s| {
        s.feed == Feed::Stream
    })
    .await;
    sim.update(&ids[1], json!({"Phone": "streamed again"}))
        .unwrap();
    eventually("the stream carries changes again", || async {
        value(&db, &pool, &ids[1], "phone").await.as_deref() == Some("streamed again")
    })
    .await;
}

/// The stream's own faults: a session Salesforce forgot (`403::Unknown client`) and long
/// polls dropped on the way are opened again from the applied positions, and nothing is
/// missed (the object is polled only hourly, so only the stream can bring the change); a
/// used-up event allocation turns the org back to polling, saying why.
#[tokio::test(flavor = "multi_thread")]
async fn a_forgotten_session_resumes_and_a_used_up_allocation_polls() {
    let (sim, db, org, watcher, ids) = start(Db::Sqlite, "cdcfaults").await;
    let pool = db.pool().await;
    sim.update(&ids[0], json!({"Phone": "before"})).unwrap();
    eventually("a first event applied", || async {
        stored_position(&db, &pool).await.is_some()
    })
    .await;
    sim.drop_next_long_polls(2);
    sim.forget_streaming_clients();
    sim.update(&ids[0], json!({"Phone": "after a new session"}))
        .unwrap();
    sim.update(&ids[1], json!({"Phone": "also"})).unwrap();
    eventually("the changes made meanwhile", || async {
        value(&db, &pool, &ids[0], "phone").await.as_deref() == Some("after a new session")
            && value(&db, &pool, &ids[1], "phone").await.as_deref() == Some("also")
    })
    .await;

    sim.set_event_delivery(10_000, Some(10_000));
    sim.update(&ids[2], json!({"Phone": "not delivered"}))
        .unwrap();
    status_where(&watcher, "Account", "polled for the allocation", |s| {
        polled_because(s, "allocation is used up")
    })
    .await;
    eventually("the change through a poll", || async {
        org.sync_now().await;
        value(&db, &pool, &ids[2], "phone").await.as_deref() == Some("not delivered")
    })
    .await;
}

/// Change events cost no API call: while the org's daily limit holds sync back, streamed
/// objects stay current.
#[tokio::test(flavor = "multi_thread")]
async fn events_are_applied_while_the_api_budget_holds_sync_back() {
    let (sim, db, org, watcher, ids) = start(Db::Sqlite, "cdcthrottle").await;
    let pool = db.pool().await;
    sim.set_api_usage(15_000, None);
    org.sync_now().await;
    status_where(&watcher, "Account", "sync held back", |s| {
        s.state == datenator_shared::model::ObjectState::Throttled
    })
    .await;
    sim.update(&ids[2], json!({"Phone": "while held back"}))
        .unwrap();
    eventually("the change through its event", || async {
        value(&db, &pool, &ids[2], "phone").await.as_deref() == Some("while held back")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_arrive_as_events_sqlite() {
    changes_arrive_as_events_at_no_api_cost(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_arrive_as_events_postgres() {
    changes_arrive_as_events_at_no_api_cost(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_arrive_as_events_mysql() {
    changes_arrive_as_events_at_no_api_cost(Db::Mysql).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kill_before_the_commit_replays_once_sqlite() {
    a_kill_before_the_commit_replays_the_event_once(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kill_before_the_commit_replays_once_postgres() {
    a_kill_before_the_commit_replays_the_event_once(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kill_before_the_commit_replays_once_mysql() {
    a_kill_before_the_commit_replays_the_event_once(Db::Mysql).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn what_the_stream_cannot_carry_is_pulled_sqlite() {
    what_the_stream_cannot_carry_is_pulled(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn what_the_stream_cannot_carry_is_pulled_postgres() {
    what_the_stream_cannot_carry_is_pulled(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn what_the_stream_cannot_carry_is_pulled_mysql() {
    what_the_stream_cannot_carry_is_pulled(Db::Mysql).await;
}
