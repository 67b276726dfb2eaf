//! The sync engine end to end: real daemon, sfsim over HTTP, and each real database.
use std::collections::BTreeSet;

use datenator_shared::model::{Direction, ObjectState, OrgSummary, Topic};
use datenator_shared::protocol::{Call, NoParams, SetDatasource};
use datenator_tests::sync::{
    Db, SfUser, SyncedOrg, TargetDb, eventually, q, setup_org, status_where, text,
};
use datenator_tests::wait;
use serde_json::json;
use sfsim::{RunningSim, Sim, SimConfig};

async fn sim(accounts: usize) -> RunningSim {
    Sim::start(SimConfig {
        seed_counts: vec![("Account".into(), accounts)],
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

async fn db_sfids(db: &TargetDb, pool: &sqlx::AnyPool) -> BTreeSet<String> {
    q(format!(
        "SELECT sfid FROM {} WHERE sfid IS NOT NULL",
        db.table("Account")
    ))
    .fetch_all(pool)
    .await
    .unwrap()
    .iter()
    .filter_map(|r| text(r, "sfid"))
    .collect()
}

async fn sf_ids(sf: &SfUser<'_>) -> BTreeSet<String> {
    sf.query("SELECT Id FROM Account", false)
        .await
        .iter()
        .map(|r| r["Id"].as_str().unwrap().to_owned())
        .collect()
}

async fn db_value(db: &TargetDb, pool: &sqlx::AnyPool, sfid: &str, col: &str) -> Option<String> {
    q(format!(
        "SELECT {col} FROM {} WHERE sfid = '{sfid}'",
        db.table("Account")
    ))
    .fetch_optional(pool)
    .await
    .unwrap()
    .and_then(|r| text(&r, col))
}

/// Initial load, then changes on both sides: insert, update, delete in each direction, and
/// both sides end up holding exactly the same records and values.
async fn bidirectional_round_trip(kind: Db) {
    let sim = sim(25).await;
    let db = TargetDb::new(kind, "bidi");
    let org = setup_org(&sim, &db, "bidi", "").await;
    org.map(
        "Account",
        &["Name", "Phone", "Industry"],
        Direction::Bidirectional,
    )
    .await;
    org.enable(true).await;
    let pool = db.pool().await;
    let sf = SfUser::new(&sim);

    eventually("the initial load brings all 25 accounts", || async {
        db_sfids(&db, &pool).await.len() == 25
    })
    .await;
    assert_eq!(db_sfids(&db, &pool).await, sf_ids(&sf).await);

    // Salesforce → database: update, create, delete.
    let some = sf_ids(&sf).await.into_iter().next().unwrap();
    sf.update("Account", &some, json!({"Name": "Renamed in Salesforce"}))
        .await;
    let created = sf
        .create(
            "Account",
            json!({"Name": "Born in Salesforce", "Phone": "555-0100"}),
        )
        .await;
    let doomed = sf_ids(&sf)
        .await
        .into_iter()
        .find(|id| *id != some && *id != created)
        .unwrap();
    sf.delete("Account", &doomed).await;
    org.sync_now().await;
    eventually("Salesforce changes reach the database", || async {
        db_value(&db, &pool, &some, "name").await.as_deref() == Some("Renamed in Salesforce")
            && db_value(&db, &pool, &created, "phone").await.as_deref() == Some("555-0100")
            && !db_sfids(&db, &pool).await.contains(&doomed)
    })
    .await;

    // Database → Salesforce, as an ordinary database user.
    let table = db.table("Account");
    q(format!(
        "UPDATE {table} SET phone = '555-0199' WHERE sfid = '{some}'"
    ))
    .execute(&pool)
    .await
    .unwrap();
    q(format!(
        "INSERT INTO {table} (name, industry) VALUES ('Born in the database', 'Banking')"
    ))
    .execute(&pool)
    .await
    .unwrap();
    q(format!("DELETE FROM {table} WHERE sfid = '{created}'"))
        .execute(&pool)
        .await
        .unwrap();
    eventually("database changes reach Salesforce", || async {
        let phone = sf
            .query(
                &format!("SELECT Phone FROM Account WHERE Id = '{some}'"),
                false,
            )
            .await;
        let born = sf
            .query(
                "SELECT Id, Industry FROM Account WHERE Name = 'Born in the database'",
                false,
            )
            .await;
        let gone = sf
            .query(
                &format!("SELECT Id FROM Account WHERE Id = '{created}'"),
                false,
            )
            .await;
        phone
            .first()
            .map(|r| r["Phone"] == "555-0199")
            .unwrap_or(false)
            && born.len() == 1
            && gone.is_empty()
    })
    .await;
    // The new record's id came back to its row, exactly once in Salesforce.
    let born = sf
        .query(
            "SELECT Id FROM Account WHERE Name = 'Born in the database'",
            false,
        )
        .await;
    let born_id = born[0]["Id"].as_str().unwrap().to_owned();
    eventually("the sfid is written back", || async {
        db_value(&db, &pool, &born_id, "name").await.as_deref() == Some("Born in the database")
    })
    .await;

    // Quiet: nothing echoes back and forth; both sides agree exactly.
    org.sync_now().await;
    eventually("both sides hold the same records", || async {
        db_sfids(&db, &pool).await == sf_ids(&sf).await
    })
    .await;
    let rows = q(format!("SELECT COUNT(*) AS n FROM {table}"))
        .fetch_one(&pool)
        .await
        .unwrap();
    let n: i64 = rows
        .try_get("n")
        .unwrap_or_else(|_| rows.try_get::<i32, _>("n").map(i64::from).unwrap());
    assert_eq!(
        n as usize,
        sf_ids(&sf).await.len(),
        "no local row without its Salesforce record"
    );
    for id in sf_ids(&sf).await {
        let r = sf
            .query(
                &format!("SELECT Name, Phone FROM Account WHERE Id = '{id}'"),
                false,
            )
            .await;
        assert_eq!(
            db_value(&db, &pool, &id, "name").await.as_deref(),
            r[0]["Name"].as_str(),
            "Name of {id}"
        );
        assert_eq!(
            db_value(&db, &pool, &id, "phone").await.as_deref(),
            r[0]["Phone"].as_str(),
            "Phone of {id}"
        );
    }
    drop(org);
}

use sqlx::Row;

#[tokio::test(flavor = "multi_thread")]
async fn bidirectional_round_trip_sqlite() {
    bidirectional_round_trip(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bidirectional_round_trip_postgres() {
    bidirectional_round_trip(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bidirectional_round_trip_mysql() {
    bidirectional_round_trip(Db::Mysql).await;
}

/// A Salesforce → database mapping never writes to Salesforce.
#[tokio::test(flavor = "multi_thread")]
async fn one_way_pull_never_writes_to_salesforce() {
    let sim = sim(5).await;
    let db = TargetDb::new(Db::Sqlite, "oneway");
    let org: SyncedOrg = setup_org(&sim, &db, "oneway", "").await;
    org.map("Account", &["Name"], Direction::SfToDb).await;
    org.enable(true).await;
    let pool = db.pool().await;
    let sf = SfUser::new(&sim);
    eventually("initial load", || async {
        db_sfids(&db, &pool).await.len() == 5
    })
    .await;
    let id = sf_ids(&sf).await.into_iter().next().unwrap();
    q(format!(
        "UPDATE {} SET name = 'local only' WHERE sfid = '{id}'",
        db.table("Account")
    ))
    .execute(&pool)
    .await
    .unwrap();
    sim.reset_counters();
    // Whole rounds go by: none may touch Salesforce. (A poll is a composite call of
    // reads: the replication API's visibility check and the query.)
    org.polled_since_reset(&sim, 3).await;
    let writes: u64 = sim
        .counters()
        .by_kind
        .iter()
        .filter(|(k, _)| !k.contains("query") && !k.contains("limits") && *k != "composite")
        .map(|(_, v)| v)
        .sum();
    assert_eq!(writes, 0, "{:?}", sim.counters().by_kind);
    let r = sf
        .query(
            &format!("SELECT Name FROM Account WHERE Id = '{id}'"),
            false,
        )
        .await;
    assert_ne!(r[0]["Name"], "local only");
}

/// Disabling keeps configuration and cursors while the events tables keep capturing;
/// enabling again catches up on everything changed meanwhile, both ways.
#[tokio::test(flavor = "multi_thread")]
async fn disable_then_enable_catches_up_both_ways() {
    let sim = sim(10).await;
    let db = TargetDb::new(Db::Sqlite, "toggle");
    let org = setup_org(&sim, &db, "toggle", "").await;
    org.map("Account", &["Name", "Phone"], Direction::Bidirectional)
        .await;
    org.enable(true).await;
    let pool = db.pool().await;
    let sf = SfUser::new(&sim);
    eventually("initial load", || async {
        db_sfids(&db, &pool).await.len() == 10
    })
    .await;
    org.enable(false).await;

    let ids: Vec<String> = sf_ids(&sf).await.into_iter().collect();
    sf.update("Account", &ids[0], json!({"Phone": "changed-while-off-sf"}))
        .await;
    let table = db.table("Account");
    q(format!(
        "UPDATE {table} SET phone = 'changed-while-off-db' WHERE sfid = '{}'",
        ids[1]
    ))
    .execute(&pool)
    .await
    .unwrap();
    sim.reset_counters();
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert_eq!(sim.counters().api_calls, 0, "a disabled org makes no calls");
    assert_eq!(
        db_value(&db, &pool, &ids[0], "phone")
            .await
            .as_deref()
            .map(|p| p == "changed-while-off-sf"),
        Some(false)
    );

    org.enable(true).await;
    eventually("both changes made while disabled arrive", || async {
        let sf_phone = sf
            .query(
                &format!("SELECT Phone FROM Account WHERE Id = '{}'", ids[1]),
                false,
            )
            .await;
        db_value(&db, &pool, &ids[0], "phone").await.as_deref() == Some("changed-while-off-sf")
            && sf_phone
                .first()
                .is_some_and(|r| r["Phone"] == "changed-while-off-db")
    })
    .await;
}

/// A row filter limits which records sync; a bad filter is refused with Salesforce's reason.
#[tokio::test(flavor = "multi_thread")]
async fn row_filter_limits_the_synced_records() {
    use datenator_shared::model::{ConflictPolicy, Mapping, PlanView};
    use datenator_shared::protocol::{Call, SaveMapping};
    let sim = sim(0).await;
    let sf = SfUser::new(&sim);
    for (name, industry) in [("B1", "Banking"), ("B2", "Banking"), ("E1", "Energy")] {
        sf.create("Account", json!({"Name": name, "Industry": industry}))
            .await;
    }
    let db = TargetDb::new(Db::Sqlite, "filter");
    let org = setup_org(&sim, &db, "filter", "").await;
    let save = |filter: &str| {
        Call::MappingSave(SaveMapping {
            org: "filter".into(),
            mapping: Mapping {
                object: "Account".into(),
                fields: vec!["Name".into(), "Industry".into()],
                direction: Direction::SfToDb,
                conflict_policy: ConflictPolicy::NewestWins,
                row_filter: Some(filter.into()),
            },
            apply: true,
            confirm_destructive: false,
            send_queued: false,
            leaving_rows: Default::default(),
        })
    };
    let err = org
        .client
        .call::<PlanView>(save("Industry = = 'x'"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("rejects the row filter"), "{err}");
    // Said in the filter's terms, on one line, with what to write instead.
    let said = err.to_string();
    assert!(said.contains("of the filter"), "{said}");
    assert!(
        !said.contains("ERROR at Row") && !said.contains('\n'),
        "{said}"
    );
    assert!(said.contains("Write one SOQL condition"), "{said}");
    let _: PlanView = org.client.call(save("Industry = 'Banking'")).await.unwrap();
    org.enable(true).await;
    let pool = db.pool().await;
    eventually("only Banking accounts arrive", || async {
        db_sfids(&db, &pool).await.len() == 2
    })
    .await;
    let names: Vec<String> = q(format!("SELECT name FROM {}", db.table("Account")))
        .fetch_all(&pool)
        .await
        .unwrap()
        .iter()
        .filter_map(|r| text(r, "name"))
        .collect();
    assert!(names.iter().all(|n| n.starts_with('B')), "{names:?}");
}

/// A mapping change (a new field) applied while sync runs: no change made meanwhile is lost
/// and the new column fills on the next changes.
#[tokio::test(flavor = "multi_thread")]
async fn a_mapping_change_during_sync_loses_nothing() {
    let sim = sim(8).await;
    let db = TargetDb::new(Db::Sqlite, "remap");
    let org = setup_org(&sim, &db, "remap", "").await;
    org.map("Account", &["Name"], Direction::Bidirectional)
        .await;
    org.enable(true).await;
    let pool = db.pool().await;
    let sf = SfUser::new(&sim);
    eventually("initial load", || async {
        db_sfids(&db, &pool).await.len() == 8
    })
    .await;
    let table = db.table("Account");
    q(format!(
        "INSERT INTO {table} (name) VALUES ('made-before-remap')"
    ))
    .execute(&pool)
    .await
    .unwrap();
    org.map("Account", &["Name", "Phone"], Direction::Bidirectional)
        .await;
    let id = sf_ids(&sf).await.into_iter().next().unwrap();
    sf.update("Account", &id, json!({"Phone": "after-remap"}))
        .await;
    org.sync_now().await;
    eventually("the insert is pushed and the new column fills", || async {
        sf.query(
            "SELECT Id FROM Account WHERE Name = 'made-before-remap'",
            false,
        )
        .await
        .len()
            == 1
            && db_value(&db, &pool, &id, "phone").await.as_deref() == Some("after-remap")
    })
    .await;
}

/// The schema check reports per mapping what drifted in Salesforce and whether sync can go on.
#[tokio::test(flavor = "multi_thread")]
async fn schema_check_reports_drift() {
    use datenator_shared::model::{Drift, MappingDrift};
    use datenator_shared::protocol::{Call, OrgRef};
    let sim = sim(3).await;
    let db = TargetDb::new(Db::Sqlite, "drift");
    let org = setup_org(&sim, &db, "drift", "").await;
    org.map(
        "Account",
        &["Name", "Phone", "Website"],
        Direction::Bidirectional,
    )
    .await;
    let check = || async {
        org.client
            .call::<Vec<MappingDrift>>(Call::SchemaCheck(OrgRef {
                name: "drift".into(),
            }))
            .await
            .unwrap()
    };
    let clean = check().await;
    assert_eq!(clean.len(), 1);
    assert!(
        clean[0].drift.is_empty() && clean[0].can_continue,
        "{clean:?}"
    );

    let http = reqwest::Client::new();
    let admin = |path: &str| format!("{}/__sim/{path}", sim.instance_url());
    let r = http
        .delete(admin("objects/Account/fields/Website"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let r = http
        .post(admin("objects/Account/fields"))
        .json(&json!({"name": "Tier__c", "label": "Tier", "type": "string", "length": 10, "nillable": false}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let report = check().await;
    let account = &report[0];
    assert!(
        account.drift.contains(&Drift::FieldRemoved {
            field: "Website".into()
        }),
        "{account:?}"
    );
    assert!(
        account.drift.contains(&Drift::NewRequiredField {
            field: "Tier__c".into()
        }),
        "{account:?}"
    );
    assert!(!account.can_continue);
    assert!(
        account.advice.contains("save the mapping again"),
        "{account:?}"
    );
}

/// Both sides change the same record while sync is off: a field changed on one side merges;
/// the field changed on both is settled by the mapping's policy and logged.
async fn conflict_under(
    policy: datenator_shared::model::ConflictPolicy,
    tag: &str,
) -> (String, String, Vec<datenator_shared::model::ConflictRecord>) {
    use datenator_shared::model::{ConflictRecord, Mapping, PlanView};
    use datenator_shared::protocol::{Call, OrgRef, SaveMapping};
    let sim = sim(3).await;
    let db = TargetDb::new(Db::Sqlite, tag);
    let org = setup_org(&sim, &db, tag, "").await;
    let _: PlanView = org
        .client
        .call(Call::MappingSave(SaveMapping {
            org: tag.into(),
            mapping: Mapping {
                object: "Account".into(),
                fields: vec!["Name".into(), "Phone".into()],
                direction: Direction::Bidirectional,
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
    let sf = SfUser::new(&sim);
    eventually("initial load", || async {
        db_sfids(&db, &pool).await.len() == 3
    })
    .await;
    org.enable(false).await;
    let id = sf_ids(&sf).await.into_iter().next().unwrap();
    // Salesforce first, the database a little later (so "newest" is the database).
    sf.update(
        "Account",
        &id,
        json!({"Phone": "from-sf", "Name": "name-from-sf"}),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    q(format!(
        "UPDATE {} SET phone = 'from-db' WHERE sfid = '{id}'",
        db.table("Account")
    ))
    .execute(&pool)
    .await
    .unwrap();
    org.enable(true).await;
    org.sync_now().await;
    let result = wait::poll_every(
        wait::TIMEOUT,
        std::time::Duration::from_millis(200),
        || async {
            let r = sf
                .query(
                    &format!("SELECT Name, Phone FROM Account WHERE Id = '{id}'"),
                    false,
                )
                .await;
            let sf_phone = r[0]["Phone"].as_str().unwrap_or("").to_owned();
            let sf_name = r[0]["Name"].as_str().unwrap_or("").to_owned();
            let db_phone = db_value(&db, &pool, &id, "phone").await.unwrap_or_default();
            let db_name = db_value(&db, &pool, &id, "name").await.unwrap_or_default();
            if sf_phone == db_phone && sf_name == db_name && !sf_phone.is_empty() {
                return Ok((sf_phone, sf_name));
            }
            let _ = org
                .client
                .call::<serde_json::Value>(Call::OrgSyncNow(OrgRef { name: tag.into() }))
                .await;
            Err(format!("SF {sf_phone}/{sf_name}, DB {db_phone}/{db_name}"))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{tag}: never agreed: {e}"));
    let log: Vec<ConflictRecord> = org
        .client
        .call(Call::ConflictList(OrgRef { name: tag.into() }))
        .await
        .unwrap();
    (result.0, result.1, log)
}

#[tokio::test(flavor = "multi_thread")]
async fn conflicts_follow_the_mapping_policy_and_fields_merge() {
    use datenator_shared::model::ConflictPolicy;
    for (policy, tag, phone, winner) in [
        (
            ConflictPolicy::SalesforceWins,
            "sfwins",
            "from-sf",
            "salesforce",
        ),
        (
            ConflictPolicy::DatabaseWins,
            "dbwins",
            "from-db",
            "database",
        ),
        (ConflictPolicy::NewestWins, "newest", "from-db", "database"),
    ] {
        let (got_phone, got_name, log) = conflict_under(policy, tag).await;
        assert_eq!(
            got_phone, phone,
            "{policy:?}: the field changed on both sides"
        );
        assert_eq!(
            got_name, "name-from-sf",
            "{policy:?}: a field changed on one side merges"
        );
        if policy != ConflictPolicy::DatabaseWins {
            let c = log
                .iter()
                .find(|c| c.field == "Phone")
                .unwrap_or_else(|| panic!("{policy:?}: no conflict logged: {log:?}"));
            assert_eq!(c.winner, winner, "{c:?}");
            assert_eq!(c.sf_value, "from-sf");
            assert_eq!(c.db_value, "from-db");
        }
    }
}

/// Turned off, an org's objects stay on the `sync` topic as paused, their queue of
/// database changes counted as it grows (from the database, no API call); saving the
/// datasource unchanged keeps its passing check.
#[tokio::test(flavor = "multi_thread")]
async fn a_paused_org_shows_its_queue_and_an_unchanged_save_keeps_the_check() {
    let sim = sim(2).await;
    let db = TargetDb::new(Db::Sqlite, "paused");
    let org = setup_org(&sim, &db, "paused", "").await;
    org.map("Account", &["Name"], Direction::Bidirectional)
        .await;
    org.enable(true).await;
    let pool = db.pool().await;
    let table = db.table("Account");
    eventually("the first load", || async {
        db_sfids(&db, &pool).await.len() == 2
    })
    .await;
    org.enable(false).await;
    q(format!(
        "INSERT INTO {table} (name) VALUES ('made while paused')"
    ))
    .execute(&pool)
    .await
    .unwrap();
    let watcher = org.daemon.client().await;
    watcher.subscribe(&[Topic::Sync]).await.unwrap();
    status_where(
        &watcher,
        "Account",
        "the paused object's queue to be counted",
        |o| {
            o.state == ObjectState::Paused
                && o.pending_events == 1
                && o.rows == Some(3)
                && o.pull_lag_secs.is_none()
        },
    )
    .await;
    // Saving the same settings again keeps "checked".
    let checked = |orgs: Vec<OrgSummary>| {
        orgs.iter()
            .any(|o| o.name == "paused" && o.datasource_checked)
    };
    let orgs: Vec<OrgSummary> = org.client.call(Call::OrgList(NoParams {})).await.unwrap();
    assert!(checked(orgs));
    let _: serde_json::Value = org
        .client
        .call(Call::DatasourceSet(SetDatasource {
            org: "paused".into(),
            settings: db.settings.clone(),
        }))
        .await
        .unwrap();
    let orgs: Vec<OrgSummary> = org.client.call(Call::OrgList(NoParams {})).await.unwrap();
    assert!(checked(orgs), "an unchanged save cleared the check");
}
