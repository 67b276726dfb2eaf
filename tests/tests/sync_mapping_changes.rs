//! Mapping changes that keep the data whole, end to end (real daemon, sfsim over HTTP, each
//! real database): fields added to a synced object are filled into every existing row
//! (REST below `bulk_threshold`, Bulk above), across a crash, as the engine — no change
//! event, no other column touched.
use std::collections::BTreeMap;

use datenator_shared::model::{Direction, Mapping, PlanView, Topic};
use datenator_shared::protocol::{Call, SaveMapping};
use datenator_tests::sync::{
    Db, SfUser, SyncedOrg, TargetDb, eventually, q, setup_org, status_where, text,
};
use sfsim::{FaultConfig, Sim, SimConfig};

const ACCOUNTS: usize = 2003;

fn save(org: &SyncedOrg, fields: &[&str], apply: bool) -> SaveMapping {
    SaveMapping {
        org: org.org.clone(),
        mapping: Mapping {
            object: "Account".into(),
            fields: fields.iter().map(|f| f.to_string()).collect(),
            direction: Direction::Bidirectional,
            conflict_policy: Default::default(),
            row_filter: None,
        },
        apply,
        confirm_destructive: false,
        send_queued: false,
        leaving_rows: Default::default(),
    }
}

/// Every row as (name, phone, systemmodstamp, website, employees) by sfid.
type Rows = BTreeMap<String, [Option<String>; 5]>;

async fn rows(db: &TargetDb, pool: &sqlx::AnyPool, with_new: bool) -> Rows {
    let text_of = |c: &str| match db.db {
        Db::Mysql => format!("CAST({c} AS CHAR)"),
        _ => format!("CAST({c} AS TEXT)"),
    };
    let new_cols = if with_new {
        format!("website, {} AS employees", text_of("numberofemployees"))
    } else {
        "NULL AS website, NULL AS employees".into()
    };
    q(format!(
        "SELECT sfid, name, phone, {} AS stamp, {new_cols} FROM {}",
        text_of("systemmodstamp"),
        db.table("Account")
    ))
    .fetch_all(pool)
    .await
    .unwrap()
    .iter()
    .map(|r| {
        (
            text(r, "sfid").unwrap(),
            [
                text(r, "name"),
                text(r, "phone"),
                text(r, "stamp"),
                text(r, "website"),
                text(r, "employees"),
            ],
        )
    })
    .collect()
}

async fn events(db: &TargetDb, pool: &sqlx::AnyPool) -> i64 {
    let r = q(format!(
        "SELECT COUNT(*) AS n FROM {}",
        db.table("account__events")
    ))
    .fetch_one(pool)
    .await
    .unwrap();
    sqlx::Row::get::<i64, _>(&r, "n")
}

/// 2,003 accounts are synced with Name and Phone; Website and NumberOfEmployees are added.
/// The plan says what it will fill and at what cost; applying it fills both into every
/// row with Salesforce's values (checked row by row) while the dashboard shows progress —
/// across a SIGKILL in the middle — and leaves every other column as it was, with no change
/// event recorded (so nothing is sent back).
async fn added_fields_are_filled_into_every_row(kind: Db, bulk: bool) {
    let sim = Sim::start(SimConfig {
        seed_counts: vec![("Account".into(), ACCOUNTS)],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let tag = if bulk { "fillbulk" } else { "fillrest" };
    let db = TargetDb::new(kind, tag);
    // Bulk above 1,000 rows: the first load and the fill both go through Bulk queries.
    let config = if bulk { "bulk_threshold = 1000\n" } else { "" };
    let mut org = setup_org(&sim, &db, tag, config).await;
    org.map("Account", &["Name", "Phone"], Direction::Bidirectional)
        .await;
    org.enable(true).await;
    let pool = db.pool().await;
    eventually("the first load", || async {
        rows(&db, &pool, false).await.len() == ACCOUNTS
    })
    .await;
    let before = rows(&db, &pool, false).await;

    let plan: PlanView = org
        .client
        .call(Call::MappingSave(save(
            &org,
            &["Name", "Phone", "Website", "NumberOfEmployees"],
            false,
        )))
        .await
        .unwrap();
    let fill = plan
        .steps
        .iter()
        .find(|s| s.description.starts_with("fill "))
        .unwrap_or_else(|| panic!("the plan says nothing of filling the rows: {plan:#?}"));
    assert!(
        fill.description.contains(
            "fill Website, NumberOfEmployees in the 2,003 existing row(s) from Salesforce"
        ),
        "{}",
        fill.description
    );
    let (how, calls) = if bulk {
        ("a Bulk API query", "about 4 API call(s)")
    } else {
        ("a REST query", "about 2 API call(s)")
    };
    assert!(
        fill.description.contains(how) && fill.description.contains(calls),
        "{}",
        fill.description
    );
    assert!(fill.sql.is_empty() && fill.destructive.is_none());

    // Every answer takes a while, so the fill's progress is there to be seen.
    sim.set_faults(FaultConfig {
        latency_ms: 300,
        ..FaultConfig::default()
    });
    let watcher = org.daemon.client().await;
    watcher.subscribe(&[Topic::Sync]).await.unwrap();
    let applied: PlanView = org
        .client
        .call(Call::MappingSave(save(
            &org,
            &["Name", "Phone", "Website", "NumberOfEmployees"],
            true,
        )))
        .await
        .unwrap();
    assert!(applied.applied);
    status_where(
        &watcher,
        "Account",
        "the fill's progress on the dashboard",
        |s| {
            s.backfill.as_ref().is_some_and(|b| {
                b.fields == ["Website", "NumberOfEmployees"]
                    && b.total == ACCOUNTS as u64
                    && (bulk || b.done > 0)
            })
        },
    )
    .await;
    // A REST fill is past its first page here, a Bulk one is waiting for its job: a
    // crash now resumes after the last page written, or queries again.
    org.daemon.crash_and_restart();
    org.client = org.daemon.client().await;
    sim.set_faults(FaultConfig::default());

    let sf = SfUser::new(&sim);
    let remote: BTreeMap<String, [Option<String>; 2]> = sf
        .query("SELECT Id, Website, NumberOfEmployees FROM Account", false)
        .await
        .iter()
        .map(|r| {
            (
                r["Id"].as_str().unwrap().to_owned(),
                [
                    r["Website"].as_str().map(str::to_owned),
                    r["NumberOfEmployees"].as_i64().map(|n| n.to_string()),
                ],
            )
        })
        .collect();
    assert_eq!(remote.len(), ACCOUNTS);
    assert!(remote.values().all(|v| v[0].is_some() && v[1].is_some()));
    eventually(
        "every row holds its Website and NumberOfEmployees",
        || async {
            rows(&db, &pool, true)
                .await
                .iter()
                .all(|(id, r)| remote.get(id).is_some_and(|v| r[3] == v[0] && r[4] == v[1]))
        },
    )
    .await;
    let after = rows(&db, &pool, true).await;
    assert_eq!(after.len(), ACCOUNTS);
    for (id, r) in &after {
        let was = &before[id];
        assert_eq!(
            r[..3],
            was[..3],
            "{id}: the fill changed a column it does not fill"
        );
        assert_eq!(r[3..], remote[id], "{id}: filled values");
    }
    assert_eq!(
        events(&db, &pool).await,
        0,
        "the fill recorded change events"
    );
    let watcher = org.daemon.client().await;
    watcher.subscribe(&[Topic::Sync]).await.unwrap();
    status_where(
        &watcher,
        "Account",
        "the fill off the dashboard once done",
        |s| s.backfill.is_none() && s.last_error.is_none(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn added_fields_are_filled_sqlite() {
    added_fields_are_filled_into_every_row(Db::Sqlite, false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn added_fields_are_filled_postgres() {
    added_fields_are_filled_into_every_row(Db::Postgres, false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn added_fields_are_filled_mysql() {
    added_fields_are_filled_into_every_row(Db::Mysql, false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn added_fields_are_filled_through_bulk_sqlite() {
    added_fields_are_filled_into_every_row(Db::Sqlite, true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn added_fields_are_filled_through_bulk_postgres() {
    added_fields_are_filled_into_every_row(Db::Postgres, true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn added_fields_are_filled_through_bulk_mysql() {
    added_fields_are_filled_into_every_row(Db::Mysql, true).await;
}

/// A mapped field deleted in Salesforce does not stop the object: the next pull that meets
/// `INVALID_FIELD` leaves the field out from then on, its column keeps every value it had
/// (checked row by row), the status names it "removed in Salesforce" — not an error — and
/// changes on both sides keep syncing, with no change event of the engine's own.
async fn a_field_removed_in_salesforce_is_kept_and_the_rest_syncs(kind: Db) {
    let sim = Sim::start(SimConfig {
        seed_counts: vec![("Account".into(), 30)],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let db = TargetDb::new(kind, "drift");
    let mut org = setup_org(&sim, &db, "drift", "").await;
    org.map(
        "Account",
        &["Name", "Phone", "Website", "NumberOfEmployees"],
        Direction::Bidirectional,
    )
    .await;
    org.enable(true).await;
    let pool = db.pool().await;
    eventually("the first load", || async {
        rows(&db, &pool, true).await.len() == 30
    })
    .await;
    let before = rows(&db, &pool, true).await;
    assert!(before.values().all(|r| r[3].is_some()), "{before:?}");
    let watcher = org.daemon.client().await;
    watcher.subscribe(&[Topic::Sync]).await.unwrap();

    let r = reqwest::Client::new()
        .delete(format!(
            "{}/__sim/objects/Account/fields/Website",
            sim.instance_url()
        ))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let sf = SfUser::new(&sim);
    let ids: Vec<String> = before.keys().cloned().collect();
    sf.update(
        "Account",
        &ids[0],
        serde_json::json!({"Name": "Renamed after the drift"}),
    )
    .await;
    org.sync_now().await;
    status_where(
        &watcher,
        "Account",
        "Website marked removed in Salesforce",
        |s| {
            s.removed_fields == ["Website"]
                && s.state != datenator_shared::model::ObjectState::Error
        },
    )
    .await;
    // The schema check names the field and says sync goes on.
    let report: Vec<datenator_shared::model::MappingDrift> = org
        .client
        .call(Call::SchemaCheck(datenator_shared::protocol::OrgRef {
            name: "drift".into(),
        }))
        .await
        .unwrap();
    assert_eq!(
        report[0].drift,
        [datenator_shared::model::Drift::FieldRemoved {
            field: "Website".into()
        }]
    );
    assert!(report[0].can_continue, "{report:?}");
    eventually(
        "the Salesforce change still reaches the database",
        || async {
            rows(&db, &pool, true).await[&ids[0]][0].as_deref() == Some("Renamed after the drift")
        },
    )
    .await;

    // The mark outlives a crash: the restarted daemon never queries the field again.
    org.daemon.crash_and_restart();
    org.client = org.daemon.client().await;
    let watcher = org.daemon.client().await;
    watcher.subscribe(&[Topic::Sync]).await.unwrap();
    sim.reset_counters();
    sf.update(
        "Account",
        &ids[3],
        serde_json::json!({"Name": "Renamed after the restart"}),
    )
    .await;
    org.sync_now().await;
    eventually(
        "a change after the restart reaches the database",
        || async {
            rows(&db, &pool, true).await[&ids[3]][0].as_deref() == Some("Renamed after the restart")
        },
    )
    .await;
    status_where(
        &watcher,
        "Account",
        "Website still named after the restart",
        |s| s.removed_fields == ["Website"] && s.last_error.is_none(),
    )
    .await;
    // No query met INVALID_FIELD again (each would have the object described).
    assert_eq!(
        sim.counters().by_kind.get("describe"),
        None,
        "the removed field was queried again after the restart"
    );

    // Database → Salesforce still works too, even next to an edit of the removed column
    // (kept in the database, not sent).
    q(format!(
        "UPDATE {} SET website = 'https://kept.example' WHERE sfid = '{}'",
        db.table("Account"),
        ids[2]
    ))
    .execute(&pool)
    .await
    .unwrap();
    q(format!(
        "UPDATE {} SET phone = '555-0142' WHERE sfid = '{}'",
        db.table("Account"),
        ids[1]
    ))
    .execute(&pool)
    .await
    .unwrap();
    eventually("the database change reaches Salesforce", || async {
        sf.query(
            &format!("SELECT Phone FROM Account WHERE Id = '{}'", ids[1]),
            false,
        )
        .await
        .first()
        .is_some_and(|r| r["Phone"] == "555-0142")
    })
    .await;

    let after = rows(&db, &pool, true).await;
    assert_eq!(after.len(), 30);
    for (id, r) in &after {
        let was = &before[id];
        let website = if *id == ids[2] {
            Some("https://kept.example".to_owned())
        } else {
            was[3].clone()
        };
        assert_eq!(r[3], website, "{id}: Website's value was not kept");
        assert_eq!(r[4], was[4], "{id}: NumberOfEmployees");
        let name = if *id == ids[0] {
            Some("Renamed after the drift".to_owned())
        } else if *id == ids[3] {
            Some("Renamed after the restart".to_owned())
        } else {
            was[0].clone()
        };
        let phone = if *id == ids[1] {
            Some("555-0142".to_owned())
        } else {
            was[1].clone()
        };
        assert_eq!((&r[0], &r[1]), (&name, &phone), "{id}");
    }
    // The events are the database user's two updates; the engine recorded none.
    assert_eq!(events(&db, &pool).await, 2, "stray change events");
    // The status stays clean while the field is gone: nothing failed, nothing waits.
    org.sync_now().await;
    status_where(
        &watcher,
        "Account",
        "a clean status with the field still named",
        |s| {
            s.removed_fields == ["Website"]
                && s.last_error.is_none()
                && s.failed_records == 0
                && s.pending_events == 0
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_removed_field_is_kept_sqlite() {
    a_field_removed_in_salesforce_is_kept_and_the_rest_syncs(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_removed_field_is_kept_postgres() {
    a_field_removed_in_salesforce_is_kept_and_the_rest_syncs(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_removed_field_is_kept_mysql() {
    a_field_removed_in_salesforce_is_kept_and_the_rest_syncs(Db::Mysql).await;
}

/// A fill writes a column only where it is still empty: a value a database user wrote into
/// the new column before the fill ran is kept — and, the mapping being bidirectional, sent
/// to Salesforce like any other change of theirs — while every other row gets Salesforce's.
async fn a_fill_keeps_what_a_database_user_wrote_first(kind: Db) {
    let sim = Sim::start(SimConfig {
        seed_counts: vec![("Account".into(), 40)],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let db = TargetDb::new(kind, "fillkeep");
    let org = setup_org(&sim, &db, "fillkeep", "").await;
    org.map("Account", &["Name", "Phone"], Direction::Bidirectional)
        .await;
    org.enable(true).await;
    let pool = db.pool().await;
    eventually("the first load", || async {
        rows(&db, &pool, false).await.len() == 40
    })
    .await;
    // Sync off: the fill waits while a database user writes into the new column.
    org.enable(false).await;
    let _: PlanView = org
        .client
        .call(Call::MappingSave(save(
            &org,
            &["Name", "Phone", "Website", "NumberOfEmployees"],
            true,
        )))
        .await
        .unwrap();
    let ids: Vec<String> = rows(&db, &pool, true).await.keys().cloned().collect();
    q(format!(
        "UPDATE {} SET website = 'https://written-first.example' WHERE sfid = '{}'",
        db.table("Account"),
        ids[0]
    ))
    .execute(&pool)
    .await
    .unwrap();
    org.enable(true).await;

    let sf = SfUser::new(&sim);
    eventually("the user's value reaches Salesforce", || async {
        sf.query(
            &format!("SELECT Website FROM Account WHERE Id = '{}'", ids[0]),
            false,
        )
        .await
        .first()
        .is_some_and(|r| r["Website"] == "https://written-first.example")
    })
    .await;
    let remote: BTreeMap<String, Option<String>> = sf
        .query("SELECT Id, Website FROM Account", false)
        .await
        .iter()
        .map(|r| {
            (
                r["Id"].as_str().unwrap().to_owned(),
                r["Website"].as_str().map(str::to_owned),
            )
        })
        .collect();
    eventually(
        "every other row filled with Salesforce's Website",
        || async {
            rows(&db, &pool, true)
                .await
                .iter()
                .all(|(id, r)| r[3] == remote[id])
        },
    )
    .await;
    let after = rows(&db, &pool, true).await;
    assert_eq!(
        after[&ids[0]][3].as_deref(),
        Some("https://written-first.example")
    );
    for (id, r) in &after {
        assert_eq!(r[3], remote[id], "{id}");
        assert!(r[4].is_some(), "{id}: NumberOfEmployees not filled");
    }
    // One event: the user's write. The fill recorded none.
    assert_eq!(events(&db, &pool).await, 1, "stray change events");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fill_keeps_a_users_value_sqlite() {
    a_fill_keeps_what_a_database_user_wrote_first(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fill_keeps_a_users_value_postgres() {
    a_fill_keeps_what_a_database_user_wrote_first(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fill_keeps_a_users_value_mysql() {
    a_fill_keeps_what_a_database_user_wrote_first(Db::Mysql).await;
}

/// A field deleted in Salesforce while its fill is pending: the fill's query meets
/// `INVALID_FIELD`, the field is marked removed and left empty as it is, the other added
/// field is still filled into every row, the fill ends, and sync goes on.
async fn a_field_deleted_before_its_fill_is_left_and_the_rest_filled(kind: Db) {
    let sim = Sim::start(SimConfig {
        seed_counts: vec![("Account".into(), 30)],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let db = TargetDb::new(kind, "filldrift");
    let org = setup_org(&sim, &db, "filldrift", "").await;
    org.map("Account", &["Name", "Phone"], Direction::Bidirectional)
        .await;
    org.enable(true).await;
    let pool = db.pool().await;
    eventually("the first load", || async {
        rows(&db, &pool, false).await.len() == 30
    })
    .await;
    org.enable(false).await;
    let _: PlanView = org
        .client
        .call(Call::MappingSave(save(
            &org,
            &["Name", "Phone", "Website", "NumberOfEmployees"],
            true,
        )))
        .await
        .unwrap();
    let r = reqwest::Client::new()
        .delete(format!(
            "{}/__sim/objects/Account/fields/Website",
            sim.instance_url()
        ))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let watcher = org.daemon.client().await;
    watcher.subscribe(&[Topic::Sync]).await.unwrap();
    org.enable(true).await;

    let sf = SfUser::new(&sim);
    let remote: BTreeMap<String, Option<String>> = sf
        .query("SELECT Id, NumberOfEmployees FROM Account", false)
        .await
        .iter()
        .map(|r| {
            (
                r["Id"].as_str().unwrap().to_owned(),
                r["NumberOfEmployees"].as_i64().map(|n| n.to_string()),
            )
        })
        .collect();
    status_where(
        &watcher,
        "Account",
        "the fill done, Website named removed in Salesforce",
        |s| s.backfill.is_none() && s.removed_fields == ["Website"] && s.last_error.is_none(),
    )
    .await;
    eventually("NumberOfEmployees filled into every row", || async {
        rows(&db, &pool, true)
            .await
            .iter()
            .all(|(id, r)| r[4] == remote[id])
    })
    .await;
    for (id, r) in rows(&db, &pool, true).await {
        assert_eq!(r[3], None, "{id}: Website was never filled: it stays empty");
        assert_eq!(r[4], remote[&id], "{id}");
    }
    assert_eq!(events(&db, &pool).await, 0, "stray change events");
    // Sync goes on.
    let id = remote.keys().next().unwrap().clone();
    sf.update("Account", &id, serde_json::json!({"Name": "After it all"}))
        .await;
    org.sync_now().await;
    eventually("a Salesforce change still arrives", || async {
        rows(&db, &pool, true).await[&id][0].as_deref() == Some("After it all")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_field_deleted_before_its_fill_sqlite() {
    a_field_deleted_before_its_fill_is_left_and_the_rest_filled(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_field_deleted_before_its_fill_postgres() {
    a_field_deleted_before_its_fill_is_left_and_the_rest_filled(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_field_deleted_before_its_fill_mysql() {
    a_field_deleted_before_its_fill_is_left_and_the_rest_filled(Db::Mysql).await;
}
