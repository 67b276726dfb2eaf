//! Every part of the store, written and read back, on both backends: one daemon's SQLite
//! file and a fleet's PostgreSQL database (a fresh database on the test server).
use super::*;
use datenator_shared::datasource::{DatasourceKind, DatasourceSettings, Secret, TlsMode};
use datenator_shared::model::{ConflictPolicy, ConflictRecord, Direction, OrgType};
use datenator_shared::protocol::LeavingRows;

/// A fresh, empty PostgreSQL database on the test server, by URL.
pub(crate) async fn fresh_pg_database(prefix: &str) -> String {
    use sqlx::Connection as _;
    // The same server the end-to-end tests use (`DATENATOR_TEST_POSTGRES_URL`, a URL that
    // names a database: this one creates its own beside it).
    let url = std::env::var("DATENATOR_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let server = url
        .rsplit_once('/')
        .map_or(url.as_str(), |(s, _)| s)
        .to_owned();
    let name = format!("{prefix}_{}_{}", std::process::id(), rand::random::<u32>());
    let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
        .await
        .expect("PostgreSQL on the test server");
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut admin)
        .await
        .unwrap();
    format!("{server}/{name}")
}

async fn round_trip(store: &Store) {
    store
        .insert_org(&NewOrg {
            name: "acme".into(),
            org_type: OrgType::Sandbox,
            flow: "device".into(),
            client_id: "cid".into(),
            client_secret: Some("the-client-secret".into()),
            username: None,
            auth: AuthState::Authorized,
        })
        .await
        .unwrap();
    assert!(store.org_exists("acme").await.unwrap());
    assert!(!store.org_exists("nope").await.unwrap());
    store
        .set_authorized(
            "acme",
            Some("00D000000000001AAA"),
            Some("005000000000001AAA"),
            "https://acme.my.salesforce.com",
            "tok",
            Some("refresh"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        store.org_id("acme").await.unwrap().as_deref(),
        Some("00D000000000001AAA")
    );
    assert_eq!(
        store
            .org_with_id("00D000000000001AAA", "other")
            .await
            .unwrap()
            .as_deref(),
        Some("acme")
    );
    let c = store.credentials("acme").await.unwrap().unwrap();
    assert_eq!(c.refresh_token.as_deref(), Some("refresh"));
    assert_eq!(c.client_secret.as_deref(), Some("the-client-secret"));
    store
        .set_refresh_keeps_credentials("acme", true)
        .await
        .unwrap();
    assert!(store.refresh_keeps_credentials("acme").await.unwrap());
    store.set_sync_enabled("acme", true).await.unwrap();
    store
        .set_org_settings("acme", Some(30), None)
        .await
        .unwrap();
    store
        .set_api_usage(
            "acme",
            ApiUsage {
                used: 7,
                max: 15000,
            },
        )
        .await
        .unwrap();
    let orgs = store.org_summaries().await.unwrap();
    assert_eq!(orgs.len(), 1);
    assert!(orgs[0].sync_enabled);
    assert_eq!(orgs[0].polling_interval_secs, 30);
    assert_eq!(
        orgs[0].api_usage,
        Some(ApiUsage {
            used: 7,
            max: 15000
        })
    );

    // Mappings, conflicts, creates in doubt.
    store
        .put_mapping(
            "acme",
            NewMapping {
                object: "Account",
                table: "account",
                direction: Direction::Bidirectional,
                conflict_policy: ConflictPolicy::NewestWins,
                row_filter: Some("Name LIKE 'A%' AND Industry = 'Banking?'"),
                fields_json: "{}",
            },
        )
        .await
        .unwrap();
    let m = store.mappings("acme").await.unwrap();
    assert_eq!(
        m[0].row_filter.as_deref(),
        Some("Name LIKE 'A%' AND Industry = 'Banking?'")
    );
    let conflict = ConflictRecord {
        object: "Account".into(),
        sfid: "001000000000001AAA".into(),
        field: "Phone".into(),
        db_value: serde_json::json!("1"),
        sf_value: serde_json::json!("2"),
        winner: "salesforce".into(),
        policy: ConflictPolicy::NewestWins,
        at: Utc::now(),
    };
    store
        .log_conflicts("acme", std::slice::from_ref(&conflict))
        .await
        .unwrap();
    assert_eq!(
        store.conflicts("acme", 5).await.unwrap()[0].sfid,
        conflict.sfid
    );
    store
        .mark_creates_in_doubt("acme", "Account")
        .await
        .unwrap();
    assert_eq!(store.creates_in_doubt("acme").await.unwrap(), ["Account"]);
    assert!(
        store
            .creates_in_doubt_since("acme", "Account")
            .await
            .unwrap()
            .is_some()
    );
    store
        .clear_creates_in_doubt("acme", "Account")
        .await
        .unwrap();
    assert!(store.creates_in_doubt("acme").await.unwrap().is_empty());

    // Backfills, re-reads, detached rows, removed fields.
    store
        .add_backfill("acme", "Account", &["Phone".into()], 10)
        .await
        .unwrap();
    store
        .advance_backfill("acme", "Account", 4, "001000000000004AAA")
        .await
        .unwrap();
    let b = store.backfills("acme").await.unwrap();
    assert_eq!((b[0].done, b[0].total), (4, 10));
    store.finish_backfill("acme", "Account").await.unwrap();
    assert!(store.backfills("acme").await.unwrap().is_empty());
    store
        .add_reload(
            "acme",
            "Account",
            LeavingRows::Detach,
            Some("Industry = 'x'"),
        )
        .await
        .unwrap();
    assert_eq!(
        store.reloads("acme").await.unwrap()[0].leaving,
        LeavingRows::Detach
    );
    store.finish_reload("acme", "Account").await.unwrap();
    store
        .add_detached("acme", "Account", &["001000000000009AAA".into()])
        .await
        .unwrap();
    assert_eq!(store.detached("acme", "Account").await.unwrap().len(), 1);
    assert_eq!(
        store.detached_counts("acme").await.unwrap(),
        [("Account".to_owned(), 1)]
    );
    store
        .forget_detached("acme", "Account", None)
        .await
        .unwrap();
    store
        .mark_fields_removed("acme", "Account", &["Gone__c".into()])
        .await
        .unwrap();
    assert_eq!(store.removed_fields("acme").await.unwrap().len(), 1);
    store.clear_removed_fields("acme", "Account").await.unwrap();

    // Metadata: the summary counts fields with the database's JSON functions.
    store
        .replace_metadata(
            "acme",
            &[CachedObject {
                name: "Account".into(),
                label: "Account".into(),
                global: serde_json::json!({"name": "Account"}),
                describe: Some(serde_json::json!({"fields": [{"name": "Id"}, {"name": "Name"}]})),
            }],
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(
        store.metadata_summary("acme").await.unwrap()[0].fields,
        Some(2)
    );
    assert_eq!(
        store
            .metadata_object("acme", "account")
            .await
            .unwrap()
            .unwrap()
            .name,
        "Account"
    );

    // The datasource, its password sealed.
    let settings = DatasourceSettings {
        kind: DatasourceKind::Postgres,
        host: "db".into(),
        port: None,
        database: "crm".into(),
        user: "u".into(),
        password: Secret::new("db-password"),
        tls: TlsMode::Prefer,
        schema: None,
        sqlite_path: None,
    };
    store
        .save_datasource_settings("acme", &settings, false)
        .await
        .unwrap();
    store
        .datasource_generated("acme", Some(("sync_u", "sync_pw", None)), Some("app"))
        .await
        .unwrap();
    let d = store.datasource("acme").await.unwrap().unwrap();
    assert_eq!(d.settings.password.expose(), "db-password");
    assert_eq!(d.sync_password.as_deref(), Some("sync_pw"));
    assert!(d.schema_generated);
    assert!(store.delete_org("acme").await.unwrap());
    assert_eq!(store.org_count().await.unwrap(), 0);
}

#[tokio::test]
async fn every_part_round_trips_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    round_trip(&Store::open(dir.path()).await.unwrap()).await;
}

/// The fleet's backend: the same statements, numbered placeholders, PostgreSQL's types;
/// the fleet's key required; no secret in clear in the database.
#[tokio::test]
async fn every_part_round_trips_on_postgresql() {
    let url = fresh_pg_database("datenator_store").await;
    let dir = tempfile::tempdir().unwrap();
    let e = Store::connect(&url, None, dir.path()).await.unwrap_err();
    assert!(e.to_string().contains("credentials_key_file"), "{e}");
    let key = dir.path().join("fleet.key");
    std::fs::write(&key, [7u8; 32]).unwrap();
    let store = Store::connect(&url, Some(&key), dir.path()).await.unwrap();
    round_trip(&store).await;
    store
        .insert_org(&NewOrg {
            name: "beta".into(),
            org_type: OrgType::Production,
            flow: "device".into(),
            client_id: "cid".into(),
            client_secret: Some("beta-secret".into()),
            username: None,
            auth: AuthState::Authorized,
        })
        .await
        .unwrap();
    let stored: String = sqlx::query_scalar("SELECT client_secret FROM credentials")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert!(!stored.contains("beta-secret"));
    // A second daemon opens the same state (its migrations already ran) with the same key.
    let again = Store::connect(&url, Some(&key), dir.path()).await.unwrap();
    assert_eq!(again.org_count().await.unwrap(), 1);
    assert_eq!(
        again
            .credentials("beta")
            .await
            .unwrap()
            .unwrap()
            .client_secret
            .as_deref(),
        Some("beta-secret")
    );
    // A URL that is not PostgreSQL is refused in words.
    let e = Store::connect("mysql://root@127.0.0.1/x", Some(&key), dir.path())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("must be a postgres:// URL"), "{e}");
}

#[test]
fn placeholders_are_numbered_outside_quotes() {
    assert_eq!(
        numbered_placeholders("SELECT '?', \"a?\" FROM t WHERE a = ? AND b = ?"),
        "SELECT '?', \"a?\" FROM t WHERE a = $1 AND b = $2"
    );
}

#[test]
fn a_state_url_shows_without_its_password() {
    assert_eq!(
        redact_url("postgres://u:secret@db/state?sslmode=require"),
        "postgres://u:***@db/state?sslmode=require"
    );
    let shown = redact_url("postgres://u@db/state?password=secret&sslmode=require");
    assert!(!shown.contains("secret"), "{shown}");
    assert_eq!(redact_url("not a url"), "(an unreadable URL)");
}
