//! Records Salesforce refuses: they wait on their event and row without blocking the rest,
//! are listed over the socket, go out again when the row changes or the user retries, and
//! can be set aside. On SQLite, PostgreSQL and MariaDB.
use datenator_shared::model::{Direction, FailedRecord};
use datenator_shared::protocol::{Call, FailedRecords, OrgRef};
use datenator_tests::sync::{Db, SfUser, SyncedOrg, TargetDb, eventually, q, setup_org, text};
use serde_json::json;
use sfsim::{RunningSim, Sim, SimConfig};

async fn failed(org: &SyncedOrg) -> Vec<FailedRecord> {
    org.client
        .call(Call::FailedList(OrgRef {
            name: org.org.clone(),
        }))
        .await
        .unwrap()
}

async fn settle(org: &SyncedOrg, retry: bool, row_ids: Option<Vec<i64>>) -> u64 {
    let r = FailedRecords {
        org: org.org.clone(),
        object: "Account".into(),
        row_ids,
    };
    org.client
        .call(if retry {
            Call::FailedRetry(r)
        } else {
            Call::FailedIgnore(r)
        })
        .await
        .unwrap()
}

async fn in_salesforce(sf: &SfUser<'_>, name: &str) -> usize {
    sf.query(
        &format!("SELECT Id FROM Account WHERE Name = '{name}'"),
        false,
    )
    .await
    .len()
}

fn rule(sim: &RunningSim, on: bool) {
    sim.with_org(|org| {
        let rules = &mut org.table_mut("Account").unwrap().def.validation_rules;
        rules.retain(|r| r.name != "No_Blocked");
        if on {
            rules.push(sfsim::schema::ValidationRule {
                name: "No_Blocked".into(),
                condition: "Phone = 'blocked'".into(),
                message: "Phone must not be blocked".into(),
                field: Some("Phone".into()),
            });
        }
    });
}

async fn refused_records_wait_and_are_retried_or_set_aside(db: Db) {
    let sim = Sim::start(SimConfig {
        seed_counts: vec![("Account".into(), 3)],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let target = TargetDb::new(db, "failures");
    let org = setup_org(&sim, &target, "failures", "").await;
    org.map("Account", &["Name", "Phone"], Direction::Bidirectional)
        .await;
    org.enable(true).await;
    let pool = target.pool().await;
    let table = target.table("Account");
    let sf = SfUser::new(&sim);
    assert!(failed(&org).await.is_empty(), "nothing failed yet");

    // A validation rule refuses one insert; the next insert goes through regardless.
    rule(&sim, true);
    for (name, phone) in [("refused-1", "blocked"), ("accepted-1", "fine")] {
        q(format!(
            "INSERT INTO {table} (name, phone) VALUES ('{name}', '{phone}')"
        ))
        .execute(&pool)
        .await
        .unwrap();
    }
    eventually("the good insert reaches Salesforce", || async {
        in_salesforce(&sf, "accepted-1").await == 1
    })
    .await;
    eventually("the refused insert is listed", || async {
        failed(&org).await.len() == 1
    })
    .await;
    let f = &failed(&org).await[0];
    assert_eq!((f.object.as_str(), f.op.as_str()), ("Account", "insert"));
    assert!(
        f.error.contains("FIELD_CUSTOM_VALIDATION_EXCEPTION") && f.error.contains("blocked"),
        "{f:?}"
    );
    assert_eq!(f.values["Name"], "refused-1");
    let row = q(format!(
        "SELECT _dn_state, _dn_error FROM {table} WHERE name = 'refused-1'"
    ))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        datenator_tests::sync::text(&row, "_dn_state").as_deref(),
        Some("FAILED")
    );

    // The user fixes the row: the change goes out with the failed one, and it lands once.
    q(format!(
        "UPDATE {table} SET phone = 'fixed' WHERE name = 'refused-1'"
    ))
    .execute(&pool)
    .await
    .unwrap();
    eventually("the fixed row reaches Salesforce", || async {
        in_salesforce(&sf, "refused-1").await == 1
    })
    .await;
    eventually("nothing is listed any more", || async {
        failed(&org).await.is_empty()
    })
    .await;

    // An update refused; the rule is lifted; retrying without changing the row sends it.
    let sfid = sf
        .query("SELECT Id FROM Account WHERE Name = 'accepted-1'", false)
        .await[0]["Id"]
        .as_str()
        .unwrap()
        .to_owned();
    q(format!(
        "UPDATE {table} SET phone = 'blocked' WHERE sfid = '{sfid}'"
    ))
    .execute(&pool)
    .await
    .unwrap();
    eventually("the refused update is listed", || async {
        failed(&org).await.len() == 1
    })
    .await;
    let row_id = failed(&org).await[0].row_id;
    rule(&sim, false);
    assert_eq!(settle(&org, true, Some(vec![row_id])).await, 1);
    eventually("the retried update reaches Salesforce", || async {
        sf.query(
            &format!("SELECT Phone FROM Account WHERE Id = '{sfid}'"),
            false,
        )
        .await[0]["Phone"]
            == json!("blocked")
    })
    .await;
    eventually("the retried record leaves the list", || async {
        failed(&org).await.is_empty()
    })
    .await;

    // Set aside: never sent, the row keeps its value, the list empties.
    rule(&sim, true);
    q(format!(
        "INSERT INTO {table} (name, phone) VALUES ('refused-2', 'blocked')"
    ))
    .execute(&pool)
    .await
    .unwrap();
    eventually("the second refusal is listed", || async {
        failed(&org).await.len() == 1
    })
    .await;
    rule(&sim, false);
    assert_eq!(settle(&org, false, None).await, 1);
    assert!(failed(&org).await.is_empty());
    // The row still says its change never reached Salesforce, and why.
    let row = q(format!(
        "SELECT _dn_state, _dn_error FROM {table} WHERE name = 'refused-2'"
    ))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(text(&row, "_dn_state").as_deref(), Some("IGNORED"));
    assert!(text(&row, "_dn_error").is_some_and(|e| !e.is_empty()));
    org.sync_now().await;
    // A later unrelated change still flows, and the set-aside insert was never sent.
    q(format!(
        "INSERT INTO {table} (name, phone) VALUES ('accepted-2', 'fine')"
    ))
    .execute(&pool)
    .await
    .unwrap();
    eventually("a later insert reaches Salesforce", || async {
        in_salesforce(&sf, "accepted-2").await == 1
    })
    .await;
    assert_eq!(in_salesforce(&sf, "refused-2").await, 0);

    // A request about a mapping that does not exist says so.
    let err = org
        .client
        .call::<u64>(Call::FailedRetry(FailedRecords {
            org: org.org.clone(),
            object: "Nope__c".into(),
            row_ids: None,
        }))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no mapping"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_records_sqlite() {
    refused_records_wait_and_are_retried_or_set_aside(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_records_postgres() {
    refused_records_wait_and_are_retried_or_set_aside(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_records_mysql() {
    refused_records_wait_and_are_retried_or_set_aside(Db::Mysql).await;
}
