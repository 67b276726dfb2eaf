//! `changes_recent`: who changed an object's records, on both sides. A database user updates
//! a row and inserts one, a Salesforce user changes a record; once synced, the list shows
//! the database's changes (user, fields, pushed) and the pulled one (LastModifiedById,
//! fields, pulled), newest first. On SQLite, PostgreSQL and MariaDB.
use datenator_shared::model::{ChangeOp, ChangeOutcome, ChangeSide, Direction, RecentChange};
use datenator_shared::protocol::{Call, RecentChanges, codes};
use datenator_tests::sync::{Db, SfUser, SyncedOrg, TargetDb, eventually, q, setup_org, text};
use serde_json::json;
use sfsim::{Sim, SimConfig};

async fn recent(org: &SyncedOrg) -> Vec<RecentChange> {
    org.client
        .call(Call::ChangesRecent(RecentChanges {
            org: org.org.clone(),
            object: "Account".into(),
            limit: None,
        }))
        .await
        .unwrap()
}

/// `db_user`: how the database user's name starts (MariaDB adds `@host`).
async fn who_changed_what(db: Db, db_user: &str) {
    let sim = Sim::start(SimConfig {
        seed_counts: vec![("Account".into(), 2)],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let target = TargetDb::new(db, "recent");
    let org = setup_org(&sim, &target, "recent", "").await;
    org.map(
        "Account",
        &["Name", "Phone", "LastModifiedById"],
        Direction::Bidirectional,
    )
    .await;
    org.enable(true).await;
    let pool = target.pool().await;
    let table = target.table("Account");
    let sf = SfUser::new(&sim);
    eventually("the first load", || async {
        q(format!("SELECT sfid FROM {table} WHERE sfid IS NOT NULL"))
            .fetch_all(&pool)
            .await
            .is_ok_and(|r| r.len() == 2)
    })
    .await;
    let rows = q(format!("SELECT id, sfid FROM {table} ORDER BY id"))
        .fetch_all(&pool)
        .await
        .unwrap();
    let (db_sfid, sf_sfid) = (
        text(&rows[0], "sfid").unwrap(),
        text(&rows[1], "sfid").unwrap(),
    );

    // The database side: an update of one field and an insert.
    q(format!(
        "UPDATE {table} SET phone = '+1 555 0100' WHERE sfid = '{db_sfid}'"
    ))
    .execute(&pool)
    .await
    .unwrap();
    q(format!(
        "INSERT INTO {table} (name, phone) VALUES ('Recent Insert', '+1 555 0101')"
    ))
    .execute(&pool)
    .await
    .unwrap();
    // The Salesforce side: another record's name.
    sf.update(
        "Account",
        &sf_sfid,
        json!({"Name": "Renamed In Salesforce"}),
    )
    .await;
    eventually("both database changes are pushed", || async {
        let r = recent(&org).await;
        r.iter()
            .filter(|c| c.side == ChangeSide::Database && c.outcome == ChangeOutcome::Pushed)
            .count()
            == 2
    })
    .await;
    org.sync_now().await;
    // The first load's pull of the record is listed too: the update is a second entry.
    eventually("the Salesforce change is pulled", || async {
        recent(&org)
            .await
            .iter()
            .filter(|c| {
                c.side == ChangeSide::Salesforce && c.sfid.as_deref() == Some(sf_sfid.as_str())
            })
            .count()
            >= 2
    })
    .await;

    let changes = recent(&org).await;
    assert!(
        changes.windows(2).all(|w| w[0].at >= w[1].at),
        "newest first: {changes:#?}"
    );
    let update = changes
        .iter()
        .find(|c| c.side == ChangeSide::Database && c.op == ChangeOp::Update)
        .unwrap_or_else(|| panic!("{changes:#?}"));
    assert!(
        update
            .who
            .as_deref()
            .is_some_and(|w| w.starts_with(db_user)),
        "{update:?}"
    );
    assert_eq!(update.fields, ["Phone"], "{update:?}");
    assert_eq!(update.sfid.as_deref(), Some(db_sfid.as_str()));
    assert!(update.row_id.is_some() && update.error.is_none());
    let insert = changes
        .iter()
        .find(|c| c.side == ChangeSide::Database && c.op == ChangeOp::Insert)
        .unwrap_or_else(|| panic!("{changes:#?}"));
    assert!(
        insert
            .who
            .as_deref()
            .is_some_and(|w| w.starts_with(db_user)),
        "{insert:?}"
    );
    assert_eq!(insert.outcome, ChangeOutcome::Pushed);
    for f in ["Name", "Phone"] {
        assert!(insert.fields.iter().any(|x| x == f), "{insert:?}");
    }
    let pulled = changes
        .iter()
        .find(|c| c.side == ChangeSide::Salesforce && c.sfid.as_deref() == Some(&sf_sfid))
        .unwrap();
    assert_eq!(pulled.outcome, ChangeOutcome::Pulled);
    assert_eq!(pulled.op, ChangeOp::Update);
    assert!(pulled.row_id.is_none());
    assert!(pulled.fields.iter().any(|f| f == "Name"), "{pulled:?}");
    let user_id = sf
        .query(
            &format!("SELECT LastModifiedById FROM Account WHERE Id = '{sf_sfid}'"),
            false,
        )
        .await;
    assert_eq!(
        pulled.who.as_deref(),
        user_id[0]["LastModifiedById"].as_str(),
        "{pulled:?}"
    );
    // The limit holds (pulls of what was pushed may have come in since).
    let two: Vec<RecentChange> = org
        .client
        .call(Call::ChangesRecent(RecentChanges {
            org: org.org.clone(),
            object: "account".into(),
            limit: Some(2),
        }))
        .await
        .unwrap();
    assert_eq!(two.len(), 2);
    assert!(two[0].at >= two[1].at && two[0].at >= changes[0].at);

    // Unknown org or object: NOT_FOUND, saying what to do.
    for (o, object) in [("nope", "Account"), ("recent", "Contact")] {
        let err = org
            .client
            .call::<Vec<RecentChange>>(Call::ChangesRecent(RecentChanges {
                org: o.into(),
                object: object.into(),
                limit: None,
            }))
            .await
            .unwrap_err();
        let datenator_shared::client::ClientError::Remote(rpc) = &err else {
            panic!("{err}")
        };
        assert_eq!(rpc.code, codes::NOT_FOUND, "{err}");
        assert!(rpc.message.contains(": "), "says what to do: {err}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn recent_changes_sqlite() {
    who_changed_what(Db::Sqlite, "local").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn recent_changes_postgres() {
    who_changed_what(Db::Postgres, "postgres").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn recent_changes_mysql() {
    who_changed_what(Db::Mysql, "root@").await;
}
