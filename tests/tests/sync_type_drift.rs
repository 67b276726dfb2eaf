//! Drift without loss (issue 16): a field whose type or size changed in Salesforce keeps
//! syncing when its column still holds every value and is named on the object's status
//! when it does not, while the object's other records keep syncing; a row filter naming a
//! field Salesforce deleted says so in words. On SQLite, PostgreSQL and MariaDB.

use datenator_shared::model::{Direction, Mapping, Topic};
use datenator_shared::protocol::{Call, SaveMapping};
use datenator_tests::sync::{
    Db, SyncedOrg, TargetDb, column_of, eventually, setup_org, status_where,
};
use serde_json::json;
use sfsim::{RunningSim, Sim, SimConfig};

async fn define_code(sim: &RunningSim, length: u32) {
    let r = reqwest::Client::new()
        .post(format!(
            "{}/__sim/objects/Account/fields",
            sim.instance_url()
        ))
        .json(&json!({"name": "Code__c", "label": "Code", "type": "string", "length": length}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

async fn value(db: &TargetDb, pool: &sqlx::AnyPool, id: &str, column: &str) -> Option<String> {
    column_of(db, pool, "Account", id, column).await
}

async fn start(kind: Db, tag: &str) -> (RunningSim, TargetDb, SyncedOrg, Vec<String>) {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    define_code(&sim, 10).await;
    let ids: Vec<String> = (0..3)
        .map(|i| {
            sim.create(
                "Account",
                json!({"Name": format!("Account {i}"), "Code__c": format!("c{i}")}),
            )
            .unwrap()
        })
        .collect();
    let db = TargetDb::new(kind, tag);
    // Checks every second, so the test does not wait the hour.
    let org = setup_org(&sim, &db, tag, "deleted_check_secs = 1").await;
    (sim, db, org, ids)
}

async fn a_type_change_is_named_when_the_column_cannot_hold_it(kind: Db) {
    let (sim, db, org, ids) = start(kind, "typedrift").await;
    org.map("Account", &["Name", "Code__c"], Direction::SfToDb)
        .await;
    org.enable(true).await;
    let pool = db.pool().await;
    eventually("the first load", || async {
        value(&db, &pool, &ids[2], "code__c").await.as_deref() == Some("c2")
    })
    .await;
    let watcher = org.daemon.client().await;
    watcher.subscribe(&[Topic::Sync]).await.unwrap();

    // Salesforce widens the field, and a record uses the room.
    define_code(&sim, 100).await;
    let long = "x".repeat(60);
    sim.update(&ids[0], json!({"Code__c": long})).unwrap();
    sim.update(&ids[1], json!({"Name": "Renamed"})).unwrap();
    eventually("the other record keeps syncing", || async {
        org.sync_now().await;
        value(&db, &pool, &ids[1], "name").await.as_deref() == Some("Renamed")
    })
    .await;
    if kind == Db::Sqlite {
        // SQLite's declared lengths bind nothing: the change fits and syncs.
        eventually("the long value stored", || async {
            value(&db, &pool, &ids[0], "code__c").await.as_deref() == Some(long.as_str())
        })
        .await;
        status_where(&watcher, "Account", "a clean status", |s| {
            s.type_changes.is_empty() && s.last_error.is_none()
        })
        .await;
    } else {
        status_where(&watcher, "Account", "Code__c named as a type change", |s| {
            s.type_changes.iter().any(|t| {
                t.starts_with(
                    "Code__c: Salesforce now says string(100) where its column was made for string(10)",
                )
            })
        })
        .await;
        assert_eq!(
            value(&db, &pool, &ids[0], "code__c").await.as_deref(),
            Some("c0"),
            "the refused value did not overwrite the row"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_type_change_is_named_sqlite() {
    a_type_change_is_named_when_the_column_cannot_hold_it(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_type_change_is_named_postgres() {
    a_type_change_is_named_when_the_column_cannot_hold_it(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_type_change_is_named_mysql() {
    a_type_change_is_named_when_the_column_cannot_hold_it(Db::Mysql).await;
}

async fn a_filter_naming_a_deleted_field_says_so(kind: Db) {
    let (sim, db, org, ids) = start(kind, "filterdrift").await;
    let _: serde_json::Value = org
        .client
        .call(Call::MappingSave(SaveMapping {
            org: org.org.clone(),
            mapping: Mapping {
                object: "Account".into(),
                fields: vec!["Name".into()],
                direction: Direction::SfToDb,
                conflict_policy: Default::default(),
                row_filter: Some("Code__c != null".into()),
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
    eventually("the first load", || async {
        value(&db, &pool, &ids[2], "name").await.as_deref() == Some("Account 2")
    })
    .await;
    let watcher = org.daemon.client().await;
    watcher.subscribe(&[Topic::Sync]).await.unwrap();
    let r = reqwest::Client::new()
        .delete(format!(
            "{}/__sim/objects/Account/fields/Code__c",
            sim.instance_url()
        ))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    org.sync_now().await;
    status_where(&watcher, "Account", "the filter's field named", |s| {
        s.last_error.as_deref().is_some_and(|e| {
            e.starts_with("the row filter names Code__c, which Salesforce no longer has")
                && e.contains("edit the row filter")
        })
    })
    .await;
    assert_eq!(
        value(&db, &pool, &ids[0], "name").await.as_deref(),
        Some("Account 0"),
        "the rows are kept"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_filter_naming_a_deleted_field_says_so_sqlite() {
    a_filter_naming_a_deleted_field_says_so(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_filter_naming_a_deleted_field_says_so_postgres() {
    a_filter_naming_a_deleted_field_says_so(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_filter_naming_a_deleted_field_says_so_mysql() {
    a_filter_naming_a_deleted_field_says_so(Db::Mysql).await;
}

/// A field deleted in Salesforce is marked removed (its column kept); created again, it
/// syncs again without the user touching the mapping, and the object is re-read so the
/// rows get the values Salesforce has now.
async fn a_field_back_in_salesforce_syncs_again(kind: Db) {
    let (sim, db, org, ids) = start(kind, "fieldback").await;
    org.map("Account", &["Name", "Code__c"], Direction::SfToDb)
        .await;
    org.enable(true).await;
    let pool = db.pool().await;
    eventually("the first load", || async {
        value(&db, &pool, &ids[2], "code__c").await.as_deref() == Some("c2")
    })
    .await;
    let watcher = org.daemon.client().await;
    watcher.subscribe(&[Topic::Sync]).await.unwrap();
    let r = reqwest::Client::new()
        .delete(format!(
            "{}/__sim/objects/Account/fields/Code__c",
            sim.instance_url()
        ))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    org.sync_now().await;
    status_where(&watcher, "Account", "Code__c marked removed", |s| {
        s.removed_fields == vec!["Code__c".to_owned()]
    })
    .await;

    define_code(&sim, 10).await;
    sim.update(&ids[0], json!({"Code__c": "back"})).unwrap();
    eventually("the field synced again", || async {
        org.sync_now().await;
        value(&db, &pool, &ids[0], "code__c").await.as_deref() == Some("back")
    })
    .await;
    status_where(&watcher, "Account", "no field marked removed", |s| {
        s.removed_fields.is_empty() && !s.reloading
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_field_back_in_salesforce_syncs_again_sqlite() {
    a_field_back_in_salesforce_syncs_again(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_field_back_in_salesforce_syncs_again_postgres() {
    a_field_back_in_salesforce_syncs_again(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_field_back_in_salesforce_syncs_again_mysql() {
    a_field_back_in_salesforce_syncs_again(Db::Mysql).await;
}
