//! The SQLite target against a real SQLite file in a temporary directory.

mod common_target;

use common_target::scenarios::{self, Harness};
use common_target::*;
use datenator_shared::datasource::{
    CheckKind, CheckStatus, DatasourceKind, DatasourceSettings, Secret, SyncWriterMode, TlsMode,
};
use datenatord::targetdb::{AnyTarget, FieldSpec, ObjectMapping, SfType, Target};
use serde_json::json;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use sqlx::{AssertSqlSafe, Row as _};

fn settings(path: &std::path::Path) -> DatasourceSettings {
    DatasourceSettings {
        kind: DatasourceKind::Sqlite,
        host: String::new(),
        port: None,
        database: String::new(),
        user: String::new(),
        password: Secret::default(),
        tls: TlsMode::Disable,
        schema: None,
        sqlite_path: Some(path.to_path_buf()),
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    t: AnyTarget,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("org.db");
    let t = AnyTarget::new(settings(&path), "datenator_test", None).unwrap();
    let p = t.provision().await.unwrap();
    assert_eq!(p.writer_mode, SyncWriterMode::TransactionMarking);
    Fixture { _dir: dir, path, t }
}

/// Another connection to the same file: an application writing with plain SQL.
async fn app(path: &std::path::Path) -> SqlitePool {
    SqlitePool::connect_with(
        SqliteConnectOptions::new()
            .filename(path)
            .busy_timeout(std::time::Duration::from_secs(10)),
    )
    .await
    .unwrap()
}

async fn exec(pool: &SqlitePool, sql: String) {
    sqlx::raw_sql(AssertSqlSafe(sql.clone()))
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

#[tokio::test]
async fn check_ok_and_missing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let t = AnyTarget::new(settings(&dir.path().join("x.db")), "s", None).unwrap();
    let r = t.check().await;
    assert!(r.is_ok(), "{r:#?}");
    assert_eq!(r.writer_mode, Some(SyncWriterMode::TransactionMarking));
    let t = AnyTarget::new(settings(&dir.path().join("nope/x.db")), "s", None).unwrap();
    let r = t.check().await;
    let h = r.get(CheckKind::HostReachable).unwrap();
    assert_eq!(h.status, CheckStatus::Failed);
    assert!(h.message.contains("does not exist") && h.fix.as_deref().unwrap().contains("mkdir"));
    assert!(
        AnyTarget::new(
            DatasourceSettings {
                sqlite_path: None,
                ..settings(dir.path())
            },
            "s",
            None
        )
        .is_err()
    );
}

/// An org in a temporary SQLite file plus a second connection playing the application.
struct Lite {
    f: Fixture,
    app: SqlitePool,
}

impl Lite {
    async fn new() -> Lite {
        let f = fixture().await;
        let app = app(&f.path).await;
        Lite { f, app }
    }
}

impl Harness for Lite {
    fn target(&self) -> &AnyTarget {
        &self.f.t
    }

    async fn app_exec(&self, sql: String) {
        exec(&self.app, sql).await
    }

    async fn admin_text(&self, sql: String) -> Option<String> {
        sqlx::query(AssertSqlSafe(sql.clone()))
            .fetch_optional(&self.app)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .and_then(|r| r.get::<Option<String>, _>(0))
    }

    async fn table_exists(&self, name: &str) -> bool {
        sqlx::query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?")
            .bind(name)
            .fetch_optional(&self.app)
            .await
            .unwrap()
            .is_some()
    }

    fn is_app_user(&self, db_user: &str) -> bool {
        db_user == "local"
    }

    fn same_org(&self) -> AnyTarget {
        AnyTarget::new(settings(&self.f.path), "datenator_test", None).unwrap()
    }
}

#[tokio::test]
async fn fenced_writes() {
    let h = Lite::new().await;
    scenarios::fenced_writes(&h).await;
}

#[tokio::test]
async fn triggers_record_other_writers_only() {
    let h = Lite::new().await;
    scenarios::events_recorded_for_others_only(&h).await;
    let origin: Option<String> = sqlx::query("SELECT origin FROM \"_datenator_context\"")
        .fetch_one(&h.app)
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        origin, None,
        "the engine mark never outlives its transaction"
    );
}

#[tokio::test]
async fn plans_with_destructive_flags() {
    let h = Lite::new().await;
    scenarios::plans_with_destructive_flags(&h).await;
}

#[tokio::test]
async fn retype_rebuilds_the_table() {
    let h = Lite::new().await;
    let t = &h.f.t;
    let v1 = ObjectMapping::new(
        "Account",
        vec![
            FieldSpec::new("Code", SfType::String).with_length(40),
            FieldSpec::new("Num", SfType::Int),
        ],
    );
    t.apply(&t.plan(&[], std::slice::from_ref(&v1)).unwrap())
        .await
        .unwrap();
    t.upsert_rows(
        &v1,
        &[row(
            &sfid(1),
            "2024-01-01T00:00:00Z",
            json!({"Code": "abc", "Num": 7}),
        )],
        None,
    )
    .await
    .unwrap();
    let v2 = ObjectMapping::new(
        "Account",
        vec![
            FieldSpec::new("Code", SfType::String).with_length(40),
            FieldSpec::new("Num", SfType::Double).with_precision(18, 2),
        ],
    );
    let p = t
        .plan(std::slice::from_ref(&v1), std::slice::from_ref(&v2))
        .unwrap();
    assert!(
        !scenarios::find_step(&p, "rebuild table account")
            .sql()
            .is_empty()
    );
    t.apply(&p).await.unwrap();
    let r = sqlx::query("SELECT id, code, CAST(num AS REAL) FROM account")
        .fetch_one(&h.app)
        .await
        .unwrap();
    assert_eq!(r.get::<i64, _>(0), 1, "local keys survive the rebuild");
    assert_eq!(r.get::<String, _>(1), "abc");
    assert_eq!(r.get::<f64, _>(2), 7.0);
    let sql: String = sqlx::query("SELECT sql FROM sqlite_master WHERE name = 'account'")
        .fetch_one(&h.app)
        .await
        .unwrap()
        .get(0);
    assert!(sql.contains("numeric(18,2)"), "{sql}");
    // Triggers were rebuilt too.
    exec(&h.app, "UPDATE account SET num = 8.5".into()).await;
    assert_eq!(t.claim_events(&v2, 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn bulk_load() {
    let h = Lite::new().await;
    let t = &h.f.t;
    let m = sample_mapping("Account");
    t.apply(&t.plan(&[], std::slice::from_ref(&m)).unwrap())
        .await
        .unwrap();
    let rows: Vec<_> = (0..300)
        .map(|i| sample_row(&sfid(i), "2024-01-01T00:00:00Z", &format!("n'{i}")))
        .collect();
    assert_eq!(t.bulk_load(&m, &rows).await.unwrap(), 300);
    assert!(t.claim_events(&m, 10).await.unwrap().is_empty());
    let n: i64 = sqlx::query("SELECT count(*) FROM account WHERE name LIKE 'n''%'")
        .fetch_one(&h.app)
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 300);
}

#[tokio::test]
async fn concurrent_claimers_never_share() {
    let h = std::sync::Arc::new(Lite::new().await);
    scenarios::concurrent_claimers_never_share(h).await;
}

#[tokio::test]
async fn hostile_names_and_deprovision_leaves_nothing() {
    let h = Lite::new().await;
    exec(
        &h.app,
        "CREATE TABLE app_own (v integer); INSERT INTO app_own VALUES (1)".into(),
    )
    .await;
    scenarios::hostile_names(&h).await;
    let n: i64 = sqlx::query("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'")
        .fetch_one(&h.app)
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 15);
    h.f.t.deprovision().await.unwrap();
    let left: Vec<String> =
        sqlx::query("SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name")
            .fetch_all(&h.app)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
    assert_eq!(
        left,
        vec!["app_own"],
        "only the application's own table is left"
    );
}

#[tokio::test]
async fn wide_mapping() {
    let h = Lite::new().await;
    scenarios::wide_mapping(&h).await;
}

/// Past SQLite's 500-term compound SELECT and near its expression depth limit: the
/// triggers nest their unions and balance their conditions.
#[tokio::test]
async fn six_hundred_fields() {
    let h = Lite::new().await;
    scenarios::six_hundred_fields(&h).await;
}

#[tokio::test]
async fn too_long_values_are_not_truncated() {
    let h = Lite::new().await;
    scenarios::too_long_values_are_not_truncated(&h).await;
}

#[tokio::test]
async fn lenient_upsert_skips_bad_rows() {
    let h = Lite::new().await;
    scenarios::lenient_upsert_skips_bad_rows(&h).await;
}

#[tokio::test]
async fn bulk_csv_loads_like_rows() {
    let h = Lite::new().await;
    scenarios::bulk_csv_loads_like_rows(&h).await;
}

#[tokio::test]
async fn scientific_notation_numbers() {
    let h = Lite::new().await;
    scenarios::scientific_notation_numbers(&h).await;
}

#[tokio::test]
async fn one_org_per_file() {
    let f = fixture().await;
    let other = AnyTarget::new(settings(&f.path), "datenator_other", None).unwrap();
    let err = other.provision().await.unwrap_err().to_string();
    assert!(
        err.contains("already holds the tables of datenator_test"),
        "{err}"
    );
    f.t.provision().await.unwrap();
    f.t.deprovision().await.unwrap();
    other.provision().await.unwrap();
}

#[tokio::test]
async fn widening_changes_keep_values() {
    let h = Lite::new().await;
    scenarios::widening_changes_keep_values(&h).await;
}

#[tokio::test]
async fn pull_keeps_pending_local_fields() {
    let h = Lite::new().await;
    scenarios::pull_keeps_pending_local_fields(&h).await;
}
