//! The MariaDB/MySQL target against the real server at `DATENATOR_TEST_MYSQL_URL`
//! (default `mysql://root@127.0.0.1:3306/mysql`). Fails when it is unreachable.

mod common_target;

use common_target::scenarios::{self, Harness};
use common_target::*;
use datenator_shared::datasource::{CheckKind, CheckStatus, DatasourceKind, SyncWriterMode};
use datenatord::targetdb::{
    AnyTarget, Dialect, Fence, FieldSpec, ObjectMapping, SfType, SyncCredentials, Target,
    TargetError, ident,
};
use serde_json::json;
use sqlx::mysql::MySqlPool;
use sqlx::{AssertSqlSafe, Row as _};

async fn admin_pool() -> MySqlPool {
    let url = mysql_url();
    MySqlPool::connect(&url).await.unwrap_or_else(|e| {
        panic!(
            "MariaDB/MySQL test server unreachable at {url}: {e}. Start it (start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd) or set DATENATOR_TEST_MYSQL_URL"
        )
    })
}

async fn exec(pool: &MySqlPool, sql: String) {
    sqlx::raw_sql(AssertSqlSafe(sql.clone()))
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

fn settings() -> datenator_shared::datasource::DatasourceSettings {
    settings_from_url(DatasourceKind::Mysql, &mysql_url())
}

fn target(schema: &str) -> AnyTarget {
    AnyTarget::new(settings(), schema, None).unwrap()
}

fn user_url(user: &str, password: &str, db: &str) -> String {
    let s = settings();
    format!(
        "mysql://{user}:{password}@{}:{}/{db}",
        s.host,
        s.port_or_default()
    )
}

/// An account that is not the sync user, with all rights on the org database.
async fn ordinary_user(admin: &MySqlPool, schema: &str) -> (String, MySqlPool) {
    let user = unique("dn_t_app_");
    exec(
        admin,
        format!("CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'"),
    )
    .await;
    exec(
        admin,
        format!(
            "GRANT ALL ON {}.* TO '{user}'@'%'",
            ident::quote(Dialect::Mysql, schema)
        ),
    )
    .await;
    (
        user.clone(),
        MySqlPool::connect(&user_url(&user, "pw", schema))
            .await
            .unwrap(),
    )
}

#[tokio::test]
async fn check_passes_for_admin() {
    admin_pool().await;
    let r = target(&unique("dn_t_")).check().await;
    assert!(r.is_ok(), "{r:#?}");
    assert_eq!(r.writer_mode, Some(SyncWriterMode::SyncUser));
    for k in [
        CheckKind::CreateSchema,
        CheckKind::CreateUser,
        CheckKind::CreateTrigger,
        CheckKind::BinlogTriggers,
    ] {
        assert_eq!(r.get(k).unwrap().status, CheckStatus::Ok, "{k:?}");
    }
    // The probe leaves nothing behind.
    let admin = admin_pool().await;
    let n: i64 = sqlx::query("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name LIKE '\\_datenator\\_probe%'")
        .fetch_one(&admin)
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
}

#[tokio::test]
async fn check_wrong_port_and_host() {
    let mut s = settings();
    s.port = Some(1);
    let r = AnyTarget::new(s.clone(), "x", None).unwrap().check().await;
    let h = r.get(CheckKind::HostReachable).unwrap();
    assert_eq!(h.status, CheckStatus::Failed);
    assert!(h.message.contains(":1"), "{h:?}");
    assert_eq!(
        r.get(CheckKind::Authentication).unwrap().status,
        CheckStatus::Skipped
    );
    s.port = None;
    s.host = "no-such-host.invalid".into();
    let r = AnyTarget::new(s, "x", None).unwrap().check().await;
    assert_eq!(
        r.get(CheckKind::HostReachable).unwrap().status,
        CheckStatus::Failed
    );
}

#[tokio::test]
async fn check_wrong_password() {
    let admin = admin_pool().await;
    let user = unique("dn_t_pw_");
    exec(
        &admin,
        format!("CREATE USER '{user}'@'%' IDENTIFIED BY 'right'"),
    )
    .await;
    let mut s = settings();
    s.user = user.clone();
    s.password = "wrong".into();
    s.database = "information_schema".into();
    let r = AnyTarget::new(s, "x", None).unwrap().check().await;
    let a = r.get(CheckKind::Authentication).unwrap();
    assert_eq!(a.status, CheckStatus::Failed, "{r:#?}");
    assert!(
        a.message.contains("rejected") && a.message.contains(&user),
        "{a:?}"
    );
    assert!(a.fix.as_deref().unwrap().contains("password"));
    exec(&admin, format!("DROP USER '{user}'@'%'")).await;
}

#[tokio::test]
async fn check_missing_database() {
    admin_pool().await;
    let mut s = settings();
    s.database = unique("dn_nodb_");
    let r = AnyTarget::new(s.clone(), "x", None).unwrap().check().await;
    assert_eq!(
        r.get(CheckKind::Authentication).unwrap().status,
        CheckStatus::Ok
    );
    let d = r.get(CheckKind::DatabaseExists).unwrap();
    assert_eq!(d.status, CheckStatus::Failed, "{r:#?}");
    assert!(d.message.contains(&s.database));
    assert!(d.fix.as_deref().unwrap().contains("CREATE DATABASE"));
}

#[tokio::test]
async fn check_unprivileged_user() {
    let admin = admin_pool().await;
    let user = unique("dn_t_weak_");
    exec(
        &admin,
        format!("CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'"),
    )
    .await;
    let mut s = settings();
    s.user = user.clone();
    s.password = "pw".into();
    s.database = "information_schema".into();
    let r = AnyTarget::new(s, "x", None).unwrap().check().await;
    assert!(!r.is_ok());
    let c = r.get(CheckKind::CreateSchema).unwrap();
    assert_eq!(c.status, CheckStatus::Failed, "{r:#?}");
    let fix = c.fix.as_deref().unwrap();
    assert!(
        fix.starts_with("GRANT ") && fix.contains(&format!("'{user}'@'%'")),
        "{fix}"
    );
    assert!(
        fix.contains("TRIGGER") && fix.contains("CREATE USER"),
        "{fix}"
    );
    assert_eq!(
        r.get(CheckKind::CreateUser).unwrap().status,
        CheckStatus::Failed
    );
    assert_eq!(
        r.get(CheckKind::CreateTrigger).unwrap().status,
        CheckStatus::Skipped
    );
    assert_eq!(r.writer_mode, None);
    exec(&admin, format!("DROP USER '{user}'@'%'")).await;
}

#[tokio::test]
async fn provision_isolation_and_deprovision() {
    let admin = admin_pool().await;
    let schema = unique("dn_t_");
    let other = unique("dn_t_other_");
    exec(&admin, format!("CREATE DATABASE `{other}`")).await;
    exec(&admin, format!("CREATE TABLE `{other}`.secret (v int)")).await;
    exec(&admin, format!("INSERT INTO `{other}`.secret VALUES (1)")).await;
    let t = target(&schema);
    let p1 = t.provision().await.unwrap();
    let p2 = t.provision().await.unwrap();
    let creds = p2.sync_credentials.clone().unwrap();
    assert_eq!(p1.sync_credentials.unwrap().user, creds.user);
    let m = sample_mapping("Account");
    t.apply(&t.plan(&[], std::slice::from_ref(&m)).unwrap())
        .await
        .unwrap();
    // Applying the same plan again is harmless (idempotent steps).
    t.apply(&t.plan(&[], std::slice::from_ref(&m)).unwrap())
        .await
        .unwrap();

    let sync = MySqlPool::connect(&user_url(&creds.user, creds.password.expose(), &schema))
        .await
        .unwrap();
    for sql in [
        format!("SELECT * FROM `{other}`.secret"),
        format!("CREATE TABLE `{other}`.x (v int)"),
        "SELECT * FROM mysql.user".to_string(),
        format!("DROP TABLE `{schema}`.account"),
    ] {
        let err = sqlx::raw_sql(AssertSqlSafe(sql.clone()))
            .execute(&sync)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("denied"), "{sql}: {err}");
    }
    sync.close().await;

    t.deprovision().await.unwrap();
    let n: i64 =
        sqlx::query("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?")
            .bind(&schema)
            .fetch_one(&admin)
            .await
            .unwrap()
            .get(0);
    assert_eq!(n, 0);
    let n: i64 = sqlx::query("SELECT COUNT(*) FROM mysql.user WHERE user = ?")
        .bind(&creds.user)
        .fetch_one(&admin)
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    let v: i32 = sqlx::query(AssertSqlSafe(format!("SELECT v FROM `{other}`.secret")))
        .fetch_one(&admin)
        .await
        .unwrap()
        .get(0);
    assert_eq!(v, 1);
    exec(&admin, format!("DROP DATABASE `{other}`")).await;
    t.deprovision().await.unwrap();
}

#[tokio::test]
async fn bulk_load_multi_row() {
    let admin = admin_pool().await;
    let schema = unique("dn_t_");
    let t = target(&schema);
    t.provision().await.unwrap();
    let m = sample_mapping("Account");
    t.apply(&t.plan(&[], std::slice::from_ref(&m)).unwrap())
        .await
        .unwrap();
    let rows: Vec<_> = (0..500)
        .map(|i| sample_row(&sfid(i), "2024-01-01T00:00:00Z", &format!("n'\\{i}")))
        .collect();
    t.bulk_load(&m, &rows).await.unwrap();
    let r = sqlx::query(AssertSqlSafe(format!(
        "SELECT COUNT(*), MAX(`name`) FROM `{schema}`.account WHERE `name` LIKE 'n''%'"
    )))
    .fetch_one(&admin)
    .await
    .unwrap();
    assert_eq!(r.get::<i64, _>(0), 500);
    assert!(r.get::<String, _>(1).starts_with("n'\\"));
    assert!(t.claim_events(&m, 10).await.unwrap().is_empty());
    t.deprovision().await.unwrap();
}

/// A provisioned org plus an ordinary application account with all rights on its database.
struct My {
    t: AnyTarget,
    admin: MySqlPool,
    app: MySqlPool,
    app_user: String,
    sync: Option<SyncCredentials>,
}

impl My {
    async fn with_schema(schema: &str) -> My {
        let admin = admin_pool().await;
        let t = target(schema);
        let sync = t.provision().await.unwrap().sync_credentials;
        let (app_user, app) = ordinary_user(&admin, t.schema()).await;
        My {
            t,
            admin,
            app,
            app_user,
            sync,
        }
    }

    async fn new() -> My {
        My::with_schema(&unique("dn_t_")).await
    }

    async fn cleanup(self) {
        self.app.close().await;
        self.t.deprovision().await.unwrap();
        exec(&self.admin, format!("DROP USER '{}'@'%'", self.app_user)).await;
    }
}

impl Harness for My {
    fn target(&self) -> &AnyTarget {
        &self.t
    }

    async fn app_exec(&self, sql: String) {
        exec(&self.app, sql).await
    }

    async fn admin_text(&self, sql: String) -> Option<String> {
        sqlx::query(AssertSqlSafe(sql.clone()))
            .fetch_optional(&self.admin)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .and_then(|r| r.get::<Option<String>, _>(0))
    }

    async fn table_exists(&self, name: &str) -> bool {
        sqlx::query(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        )
        .bind(self.t.schema())
        .bind(name)
        .fetch_optional(&self.admin)
        .await
        .unwrap()
        .is_some()
    }

    fn is_app_user(&self, db_user: &str) -> bool {
        // USER() is user@host: the connecting account, not the trigger's definer.
        db_user.starts_with(&format!("{}@", self.app_user))
    }

    fn same_org(&self) -> AnyTarget {
        AnyTarget::new(settings(), self.t.schema(), self.sync.clone()).unwrap()
    }
}

#[tokio::test]
async fn fenced_writes() {
    let h = My::new().await;
    scenarios::fenced_writes(&h).await;
    h.cleanup().await;
}

#[tokio::test]
async fn triggers_record_other_users_only() {
    let h = My::new().await;
    scenarios::events_recorded_for_others_only(&h).await;
    h.cleanup().await;
}

#[tokio::test]
async fn plans_with_destructive_flags_and_idempotent_steps() {
    let h = My::new().await;
    scenarios::plans_with_destructive_flags(&h).await;
    let t = &h.t;
    let v = ObjectMapping::new(
        "Account",
        vec![
            FieldSpec::new("Name", SfType::String).with_length(120),
            FieldSpec::new("Code", SfType::String).with_length(10),
            FieldSpec::new("Num", SfType::Double).with_precision(18, 2),
            FieldSpec::new("Added", SfType::Date),
        ],
    );
    let v4 = ObjectMapping::new(
        "Account",
        vec![
            FieldSpec::new("Name", SfType::String).with_length(120),
            FieldSpec::new("Code", SfType::String).with_length(10),
            FieldSpec::new("Extra", SfType::Boolean),
        ],
    );
    // Re-running an applied plan finishes without error: every step is idempotent.
    let p = t
        .plan(std::slice::from_ref(&v), std::slice::from_ref(&v4))
        .unwrap();
    t.apply(&p).await.unwrap();
    t.apply(&p).await.unwrap();
    t.apply(&t.plan(&[], std::slice::from_ref(&v4)).unwrap())
        .await
        .unwrap();
    // A narrowing change that does not fit fails and says how to finish.
    t.upsert_rows(
        &v4,
        &[row(
            &sfid(2),
            "2024-01-01T00:00:00Z",
            json!({"Code": "0123456789"}),
        )],
        None,
    )
    .await
    .unwrap();
    let mut v5 = v4.clone();
    v5.fields[1] = FieldSpec::new("Code", SfType::String).with_length(3);
    let p = t.plan(std::slice::from_ref(&v4), &[v5]).unwrap();
    let err = t.apply(&p).await.unwrap_err().to_string();
    assert!(
        err.contains("change column account.code") && err.contains("re-run"),
        "{err}"
    );
    h.cleanup().await;
}

#[tokio::test]
async fn hostile_long_names() {
    let schema = format!("{}-\"sch`ema\" naïve {}", unique("dn_t_"), "s".repeat(80));
    let h = My::with_schema(&schema).await;
    assert!(h.t.schema().len() <= 64);
    scenarios::hostile_names(&h).await;
    let n: i64 =
        sqlx::query("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = ?")
            .bind(h.t.schema())
            .fetch_one(&h.admin)
            .await
            .unwrap()
            .get(0);
    assert_eq!(n, 11, "5 data + 5 events + cursor");
    let n: i64 =
        sqlx::query("SELECT COUNT(*) FROM information_schema.triggers WHERE trigger_schema = ?")
            .bind(h.t.schema())
            .fetch_one(&h.admin)
            .await
            .unwrap()
            .get(0);
    assert_eq!(n, 15);
    h.cleanup().await;
}

#[tokio::test]
async fn concurrent_claimers_never_share_skip_locked() {
    let h = std::sync::Arc::new(My::new().await);
    scenarios::concurrent_claimers_never_share(h.clone()).await;
    std::sync::Arc::into_inner(h).unwrap().cleanup().await;
}

#[tokio::test]
async fn concurrent_claimers_never_share_update_fallback() {
    let h = My::new().await;
    let AnyTarget::Mysql(my) = &h.t else {
        unreachable!()
    };
    my.force_claim_update();
    let h = std::sync::Arc::new(h);
    scenarios::concurrent_claimers_never_share(h.clone()).await;
    std::sync::Arc::into_inner(h).unwrap().cleanup().await;
}

/// The single-UPDATE claim (servers without SKIP LOCKED) is fenced too, and a fenced claim
/// lets go of the claimers' named lock: the new holder claims at once.
#[tokio::test]
async fn fenced_claims_update_fallback() {
    let h = My::new().await;
    let m = ObjectMapping::new(
        "Account",
        vec![FieldSpec::new("Name", SfType::String).with_length(20)],
    );
    h.t.apply(&h.t.plan(&[], std::slice::from_ref(&m)).unwrap())
        .await
        .unwrap();
    let fallback = |t: AnyTarget| {
        if let AnyTarget::Mysql(my) = &t {
            my.force_claim_update();
        }
        t
    };
    let a = fallback(h.same_org().with_fence(Fence(1)));
    let b = fallback(h.same_org().with_fence(Fence(2)));
    a.claim_fence().await.unwrap();
    h.app_exec(format!(
        "INSERT INTO {} (`name`) VALUES ('x'), ('y')",
        h.table("account")
    ))
    .await;
    assert_eq!(a.claim_events(&m, 1).await.unwrap().len(), 1);
    b.claim_fence().await.unwrap();
    match a.claim_events(&m, 10).await {
        Err(TargetError::Fenced { ours: 1, stored: 2 }) => {}
        other => panic!("{other:?}"),
    }
    let started = std::time::Instant::now();
    assert_eq!(b.claim_events(&m, 10).await.unwrap().len(), 1);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "the fenced claimer let go of the named lock"
    );
    h.cleanup().await;
}

/// Statements of the org's schema waiting for a row lock.
async fn lock_waiters(admin: &MySqlPool, schema: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.INNODB_TRX t JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id WHERE t.trx_state = 'LOCK WAIT' AND p.DB = ?",
    )
    .bind(schema)
    .fetch_one(admin)
    .await
    .unwrap()
}

/// The connections the engine's account has open to the org's schema.
async fn engine_connections(admin: &MySqlPool, schema: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = ? AND USER = ?",
    )
    .bind(schema)
    .bind(ident::mysql_sync_user(schema))
    .fetch_one(admin)
    .await
    .unwrap()
}

/// A lease holder frozen with a fenced transaction open (its future polled no more, as a
/// SIGSTOPped daemon's) does not keep a new holder's claim waiting for good: the server
/// drops the connection once idle past the fenced transaction's `wait_timeout`, rolling
/// back what it wrote, and the claim goes through (without it, the claim would wait for
/// the lock until `innodb_lock_wait_timeout` and fail). Connections that commit get the
/// server's `wait_timeout` back: an idle one stays open.
#[tokio::test]
async fn a_frozen_holders_transaction_does_not_hold_the_claim() {
    let h = My::new().await;
    let schema = h.t.schema().to_owned();
    let (m, a, b) = scenarios::two_holders(&h).await;
    // An application holds the row: A's next write, its fence row share-locked, waits.
    let mut app_tx = h.app.begin().await.unwrap();
    sqlx::raw_sql(AssertSqlSafe(format!(
        "UPDATE {} SET `name` = 'app' WHERE `sfid` = '{}'",
        h.table("account"),
        sfid(1)
    )))
    .execute(&mut *app_tx)
    .await
    .unwrap();
    let two = [row(
        &sfid(1),
        "2024-02-01T00:00:00Z",
        json!({"Name": "two"}),
    )];
    let mut write = Box::pin(a.upsert_rows(&m, &two, None));
    tokio::select! {
        r = &mut write => panic!("A's write went past the application's lock: {r:?}"),
        _ = async {
            while lock_waiters(&h.admin, &schema).await < 1 {
                // InnoDB refreshes INNODB_TRX only when last read 100 ms ago or more.
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
        } => {}
    }
    // A freezes (`write` is polled no more); the application lets go, A's statement ends
    // on the server, A never commits. B's claim waits for A's share lock, until the server
    // drops A's idle connection.
    app_tx.rollback().await.unwrap();
    b.claim_fence()
        .await
        .expect("the claim goes through once the frozen transaction is gone");
    let name = h
        .admin_text(format!(
            "SELECT `name` FROM {} WHERE `sfid` = '{}'",
            h.table("account"),
            sfid(1)
        ))
        .await;
    assert_eq!(
        name.as_deref(),
        Some("one"),
        "A's uncommitted write is rolled back"
    );
    // A thaws: its transaction is gone; a new one is fenced.
    assert!(write.await.is_err(), "A's frozen write cannot commit");
    let three = row(&sfid(1), "2024-03-01T00:00:00Z", json!({"Name": "three"}));
    match a.upsert_rows(&m, std::slice::from_ref(&three), None).await {
        Err(TargetError::Fenced { ours: 1, stored: 2 }) => {}
        other => panic!("{other:?}"),
    }
    b.upsert_rows(&m, &[three], None).await.unwrap();
    let open = engine_connections(&h.admin, &schema).await;
    assert!(open >= 1, "A's and B's connections are back in their pools");
    tokio::time::sleep(std::time::Duration::from_secs(12)).await;
    assert_eq!(
        engine_connections(&h.admin, &schema).await,
        open,
        "an idle pooled connection keeps the server's wait_timeout"
    );
    drop((a, b));
    h.cleanup().await;
}

#[tokio::test]
async fn tls_required_but_not_offered() {
    admin_pool().await;
    let mut s = settings();
    s.tls = datenator_shared::datasource::TlsMode::Require;
    let r = AnyTarget::new(s, "x", None).unwrap().check().await;
    let a = r.get(CheckKind::Authentication).unwrap();
    assert_eq!(a.status, CheckStatus::Failed);
    assert!(a.message.contains("TLS"), "{a:?}");
    assert!(a.fix.as_deref().unwrap().contains("enable TLS"), "{a:?}");
}

#[tokio::test]
async fn wide_mapping() {
    let h = My::new().await;
    scenarios::wide_mapping(&h).await;
    h.cleanup().await;
}

#[tokio::test]
async fn passwords_never_in_debug_output() {
    let mut s = settings();
    s.password = "hunter2-admin".into();
    let creds = datenatord::targetdb::SyncCredentials {
        user: "u".into(),
        password: "hunter2-sync".into(),
        host: None,
    };
    let t = AnyTarget::new(s, "dn_t_debug", Some(creds.clone())).unwrap();
    let out = format!("{t:?} {creds:?}");
    assert!(!out.contains("hunter2"), "{out}");
}

/// 100 Text(255) fields would exceed MySQL's 65,535-byte row definition as VARCHARs: the
/// longest become MEDIUMTEXT and the table is created.
#[tokio::test]
async fn very_wide_varchars_fit() {
    let h = My::new().await;
    let t = &h.t;
    let fields: Vec<FieldSpec> = (0..100)
        .map(|i| FieldSpec::new(format!("Text{i}__c"), SfType::String).with_length(255))
        .collect();
    let m = ObjectMapping::new("Wide__c", fields);
    t.apply(&t.plan(&[], std::slice::from_ref(&m)).unwrap())
        .await
        .unwrap();
    let values: serde_json::Map<String, serde_json::Value> = (0..100)
        .map(|i| (format!("Text{i}__c"), json!("x".repeat(255))))
        .collect();
    t.upsert_rows(
        &m,
        &[row(
            &sfid(1),
            "2024-01-01T00:00:00Z",
            serde_json::Value::Object(values),
        )],
        None,
    )
    .await
    .unwrap();
    let kinds: Vec<String> = sqlx::query(
        "SELECT DISTINCT data_type FROM information_schema.columns WHERE table_schema = ? AND table_name = 'wide__c' AND column_name LIKE 'text%' ORDER BY 1",
    )
    .bind(t.schema())
    .fetch_all(&h.admin)
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect();
    assert_eq!(kinds, vec!["mediumtext", "varchar"]);
    // Adding one more column still works.
    let mut m2 = m.clone();
    m2.fields
        .push(FieldSpec::new("More__c", SfType::String).with_length(255));
    t.apply(
        &t.plan(std::slice::from_ref(&m), std::slice::from_ref(&m2))
            .unwrap(),
    )
    .await
    .unwrap();
    h.cleanup().await;
}

#[tokio::test]
async fn provisioning_without_privileges_names_the_grant() {
    let admin = admin_pool().await;
    let user = unique("dn_t_weak_");
    exec(
        &admin,
        format!("CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'"),
    )
    .await;
    let mut s = settings();
    s.user = user.clone();
    s.password = "pw".into();
    s.database = "information_schema".into();
    let err = AnyTarget::new(s, unique("dn_t_"), None)
        .unwrap()
        .provision()
        .await
        .unwrap_err();
    let datenatord::targetdb::TargetError::Permission { what, fix } = &err else {
        panic!("{err:?}")
    };
    assert!(what.contains("denied"), "{what}");
    assert!(
        fix.starts_with("GRANT ") && fix.contains(&format!("'{user}'@'%'")),
        "{fix}"
    );
    exec(&admin, format!("DROP USER '{user}'@'%'")).await;
}

#[tokio::test]
async fn six_hundred_fields() {
    let h = My::new().await;
    scenarios::six_hundred_fields(&h).await;
    h.cleanup().await;
}

/// The GRANT that "check datasource" suggests is enough: running it turns a failing check
/// into a passing one, and the account can provision, apply and deprovision.
#[tokio::test]
async fn suggested_grant_is_sufficient() {
    let admin = admin_pool().await;
    let user = unique("dn_t_adm_");
    exec(
        &admin,
        format!("CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'"),
    )
    .await;
    let mut s = settings();
    s.user = user.clone();
    s.password = "pw".into();
    s.database = "information_schema".into();
    let schema = unique("dn_t_");
    let r = AnyTarget::new(s.clone(), &schema, None)
        .unwrap()
        .check()
        .await;
    let fix = r.get(CheckKind::CreateSchema).unwrap().fix.clone().unwrap();
    exec(&admin, fix).await;
    let t = AnyTarget::new(s, &schema, None).unwrap();
    let r = t.check().await;
    assert!(r.is_ok(), "{r:#?}");
    let p = t.provision().await.unwrap();
    assert!(p.sync_credentials.is_some());
    let m = sample_mapping("Account");
    t.apply(&t.plan(&[], std::slice::from_ref(&m)).unwrap())
        .await
        .unwrap();
    t.upsert_rows(
        &m,
        &[sample_row(&sfid(1), "2024-01-01T00:00:00Z", "x")],
        None,
    )
    .await
    .unwrap();
    exec(&admin, format!("UPDATE `{schema}`.account SET name = 'y'")).await;
    let ev = t.claim_events(&m, 10).await.unwrap();
    assert_eq!(ev.len(), 1);
    assert!(ev[0].db_user.starts_with("root@"), "{:?}", ev[0].db_user);
    t.deprovision().await.unwrap();
    let n: i64 =
        sqlx::query("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?")
            .bind(&schema)
            .fetch_one(&admin)
            .await
            .unwrap()
            .get(0);
    assert_eq!(n, 0);
    exec(&admin, format!("DROP USER '{user}'@'%'")).await;
}

#[tokio::test]
async fn too_long_values_are_not_truncated() {
    let h = My::new().await;
    scenarios::too_long_values_are_not_truncated(&h).await;
    h.cleanup().await;
}

#[tokio::test]
async fn lenient_upsert_skips_bad_rows() {
    let h = My::new().await;
    scenarios::lenient_upsert_skips_bad_rows(&h).await;
    h.cleanup().await;
}

#[tokio::test]
async fn bulk_csv_loads_like_rows() {
    let h = My::new().await;
    scenarios::bulk_csv_loads_like_rows(&h).await;
    h.cleanup().await;
}

#[tokio::test]
async fn scientific_notation_numbers() {
    let h = My::new().await;
    scenarios::scientific_notation_numbers(&h).await;
    h.cleanup().await;
}

#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn passwords_never_logged() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    tracing::info!("capture works");
    let h = My::new().await;
    let p = h.t.provision().await.unwrap();
    let password = p.sync_credentials.unwrap().password;
    h.cleanup().await;
    let log = String::from_utf8_lossy(&captured.0.lock().unwrap()).to_string();
    // Whether sqlx's own statement events reach a thread-local subscriber depends on
    // tracing's global interest cache (other tests run without one), so the control is an
    // event of our own; the leak this guards against showed up reliably before the fix.
    assert!(log.contains("capture works"), "the log capture works");
    assert!(
        !log.contains(password.expose()),
        "the sync password was logged"
    );
}

#[tokio::test]
async fn widening_changes_keep_values() {
    let h = My::new().await;
    scenarios::widening_changes_keep_values(&h).await;
    h.cleanup().await;
}

#[tokio::test]
async fn pull_keeps_pending_local_fields() {
    let h = My::new().await;
    scenarios::pull_keeps_pending_local_fields(&h).await;
    h.cleanup().await;
}

/// Runs `sql` as `pool`'s account and returns the error, if any.
async fn try_exec(pool: &MySqlPool, sql: String) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(pool)
        .await
        .map(|_| ())
}

async fn count(admin: &MySqlPool, sql: &str, bind: &str) -> i64 {
    sqlx::query(AssertSqlSafe(sql.to_owned()))
        .bind(bind)
        .fetch_one(admin)
        .await
        .unwrap()
        .get(0)
}

/// An admin limited to its own databases (`ALL ON pattern.*` plus CREATE USER, as a DBA
/// would set it up) is told the narrowest grant it lacks — on the org's database only —
/// and, granted exactly that, generates, generates again, gives an application user the
/// application role, and removes everything. The probe leaves nothing behind.
#[tokio::test]
async fn admin_limited_to_a_pattern() {
    let admin = admin_pool().await;
    let user = unique("dn_t_pat_");
    let prefix = unique("dnpat");
    let schema = format!("{prefix}_org");
    exec(
        &admin,
        format!("CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'"),
    )
    .await;
    exec(
        &admin,
        format!("GRANT ALL ON `{prefix}\\_%`.* TO '{user}'@'%'"),
    )
    .await;
    exec(&admin, format!("GRANT CREATE USER ON *.* TO '{user}'@'%'")).await;
    let mut s = settings();
    s.user = user.clone();
    s.password = "pw".into();
    s.database = "information_schema".into();
    let t = AnyTarget::new(s.clone(), &schema, None).unwrap();
    let r = t.check().await;
    assert_eq!(
        r.get(CheckKind::CreateSchema).unwrap().status,
        CheckStatus::Ok,
        "the org's own database is probed: {r:#?}"
    );
    assert_eq!(
        r.get(CheckKind::CreateTrigger).unwrap().status,
        CheckStatus::Ok,
        "{r:#?}"
    );
    let create_user = r.get(CheckKind::CreateUser).unwrap();
    assert_eq!(create_user.status, CheckStatus::Failed, "{r:#?}");
    let fix = create_user.fix.clone().unwrap();
    let escaped = schema.replace('_', "\\_");
    assert!(
        fix.contains(&format!(
            "ON `{escaped}`.* TO '{user}'@'%' WITH GRANT OPTION"
        )),
        "{fix}"
    );
    assert_eq!(
        fix.matches("ON *.*").count(),
        1,
        "only CREATE USER server-wide: {fix}"
    );
    assert!(
        fix.contains(&format!("GRANT CREATE USER ON *.* TO '{user}'@'%';")),
        "{fix}"
    );
    assert_eq!(
        count(
            &admin,
            "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?",
            &schema
        )
        .await,
        0,
        "the check dropped the database it probed with"
    );
    exec(&admin, fix).await;
    let r = t.check().await;
    assert!(r.is_ok(), "{r:#?}");

    let p1 = t.provision().await.unwrap();
    let c1 = p1.sync_credentials.clone().unwrap();
    // The default host: where the daemon connects from as the server sees it, not '%'.
    let seen: String = sqlx::query("SELECT USER()")
        .fetch_one(&admin)
        .await
        .unwrap()
        .get(0);
    let host = seen.rsplit_once('@').unwrap().1.to_owned();
    assert_eq!(c1.host.as_deref(), Some(host.as_str()));
    assert_eq!(
        count(
            &admin,
            "SELECT COUNT(*) FROM mysql.user WHERE user = ? AND host = '%'",
            &c1.user
        )
        .await,
        0
    );
    let role = p1.app_role.clone().expect("an application role");
    // Generating again keeps the sync user's password (the engine's connections stay valid).
    let t = AnyTarget::new(s.clone(), &schema, Some(c1.clone())).unwrap();
    let p2 = t.provision().await.unwrap();
    assert_eq!(p2.sync_credentials.as_ref().unwrap(), &c1);
    let m = sample_mapping("Account");
    t.apply(&t.plan(&[], std::slice::from_ref(&m)).unwrap())
        .await
        .unwrap();

    // An application user granted the role, by the limited admin, as the hint says.
    let app = unique("dn_t_appr_");
    let limited = MySqlPool::connect(&user_url(&user, "pw", "information_schema"))
        .await
        .unwrap();
    exec(
        &admin,
        format!("CREATE USER '{app}'@'%' IDENTIFIED BY 'pw'"),
    )
    .await;
    exec(&limited, format!("GRANT `{role}` TO '{app}'@'%'")).await;
    // The user makes the role its default once (setting another user's needs rights on
    // the mysql database, which the limited admin has not).
    let first = MySqlPool::connect(&user_url(&app, "pw", "information_schema"))
        .await
        .unwrap();
    exec(&first, format!("SET DEFAULT ROLE `{role}`")).await;
    first.close().await;
    let app_pool = MySqlPool::connect(&user_url(&app, "pw", &schema))
        .await
        .unwrap();
    try_exec(
        &app_pool,
        format!("INSERT INTO `{schema}`.account (name) VALUES ('from the app')"),
    )
    .await
    .unwrap();
    try_exec(
        &app_pool,
        format!("UPDATE `{schema}`.account SET name = 'changed by the app'"),
    )
    .await
    .unwrap();
    let ev = t.claim_events(&m, 10).await.unwrap();
    assert_eq!(
        ev.len(),
        2,
        "the triggers recorded the app's changes: {ev:?}"
    );
    assert!(ev[0].db_user.starts_with(&format!("{app}@")), "{ev:?}");
    for sql in [
        format!(
            "INSERT INTO `{schema}`.account__events (op, row_id, changed, old_values, new_values, db_user, created_at) VALUES ('INSERT', 1, '[]', '{{}}', '{{}}', 'x', NOW())"
        ),
        format!("SELECT * FROM `{schema}`.account__events"),
        format!("DROP TABLE `{schema}`.account"),
    ] {
        let err = try_exec(&app_pool, sql.clone()).await.unwrap_err();
        assert!(err.to_string().contains("denied"), "{sql}: {err}");
    }
    app_pool.close().await;

    t.deprovision().await.unwrap();
    assert_eq!(
        count(
            &admin,
            "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?",
            &schema
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &admin,
            "SELECT COUNT(*) FROM mysql.user WHERE user = ?",
            &c1.user
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &admin,
            "SELECT COUNT(*) FROM mysql.user WHERE user = ?",
            &role
        )
        .await,
        0,
        "the role is dropped"
    );
    limited.close().await;
    exec(&admin, format!("DROP USER '{app}'@'%'")).await;
    exec(&admin, format!("DROP USER '{user}'@'%'")).await;
}

/// A generation that fails part-way drops what it created: no database, no sync user.
#[tokio::test]
async fn failed_generation_rolls_back() {
    let admin = admin_pool().await;
    let user = unique("dn_t_rb_");
    let prefix = unique("dnrb");
    let schema = format!("{prefix}_org");
    exec(
        &admin,
        format!("CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'"),
    )
    .await;
    // May create the database, not the sync user.
    exec(
        &admin,
        format!("GRANT ALL ON `{prefix}\\_%`.* TO '{user}'@'%' WITH GRANT OPTION"),
    )
    .await;
    let mut s = settings();
    s.user = user.clone();
    s.password = "pw".into();
    s.database = "information_schema".into();
    let t = AnyTarget::new(s, &schema, None).unwrap();
    let err = t.provision().await.unwrap_err();
    let datenatord::targetdb::TargetError::Permission { fix, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(fix.contains("GRANT CREATE USER ON *.*"), "{fix}");
    assert_eq!(
        count(
            &admin,
            "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?",
            &schema
        )
        .await,
        0,
        "the database the failed run created is dropped"
    );
    assert_eq!(
        count(
            &admin,
            "SELECT COUNT(*) FROM mysql.user WHERE user = ?",
            &ident::mysql_sync_user(&schema)
        )
        .await,
        0
    );
    exec(&admin, format!("DROP USER '{user}'@'%'")).await;
}

/// The sync account's host can be set; generating again with another host moves it.
#[tokio::test]
async fn sync_host_is_configurable() {
    let admin = admin_pool().await;
    let schema = unique("dn_t_host_");
    let t = AnyTarget::new(settings(), &schema, None)
        .unwrap()
        .with_sync_host(Some("10.9.8.%".into()));
    let p = t.provision().await.unwrap();
    let c = p.sync_credentials.unwrap();
    assert_eq!(c.host.as_deref(), Some("10.9.8.%"));
    let hosts = |user: String| {
        let admin = admin.clone();
        async move {
            sqlx::query("SELECT host FROM mysql.user WHERE user = ? ORDER BY host")
                .bind(user)
                .fetch_all(&admin)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.get::<String, _>(0))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(hosts(c.user.clone()).await, vec!["10.9.8.%".to_string()]);
    // Back to the default: the account moves to the daemon's host, and logs in from here.
    let t = AnyTarget::new(settings(), &schema, Some(c.clone())).unwrap();
    let p = t.provision().await.unwrap();
    let c2 = p.sync_credentials.unwrap();
    assert_ne!(c2.host, c.host);
    assert_eq!(hosts(c.user.clone()).await, vec![c2.host.clone().unwrap()]);
    MySqlPool::connect(&user_url(&c2.user, c2.password.expose(), &schema))
        .await
        .unwrap()
        .close()
        .await;
    t.deprovision().await.unwrap();
    assert!(hosts(c.user.clone()).await.is_empty());
}

/// With the server's general log on, neither a generation nor a re-generation that resets
/// the password sends the sync password: only its hash appears.
#[tokio::test]
async fn sync_password_never_in_general_log() {
    let admin = admin_pool().await;
    // The general log is server-wide: switched on to a table for this test only, then put
    // back as it was.
    let (was_on, was_output): (i64, String) =
        sqlx::query("SELECT @@global.general_log, CAST(@@global.log_output AS CHAR)")
            .fetch_one(&admin)
            .await
            .map(|r| (r.get(0), r.get(1)))
            .unwrap();
    let start: String = sqlx::query("SELECT CAST(NOW(6) AS CHAR)")
        .fetch_one(&admin)
        .await
        .unwrap()
        .get(0);
    let output = if was_output.contains("TABLE") {
        was_output.clone()
    } else {
        format!("{was_output},TABLE")
    };
    exec(&admin, format!("SET GLOBAL log_output = '{output}'")).await;
    exec(&admin, "SET GLOBAL general_log = 1".into()).await;
    let schema = unique("dn_t_glog_");
    let t = target(&schema);
    let outcome = async {
        let p1 = t.provision().await?;
        // No stored credentials: the password is set anew (ALTER USER).
        let t2 = target(&schema);
        let p2 = t2.provision().await?;
        Ok::<_, datenatord::targetdb::TargetError>((p1, p2))
    }
    .await;
    exec(&admin, format!("SET GLOBAL general_log = {was_on}")).await;
    exec(&admin, format!("SET GLOBAL log_output = '{was_output}'")).await;
    let (p1, p2) = outcome.unwrap();
    let logged: Vec<String> = sqlx::query(
        "SELECT CAST(argument AS CHAR) FROM mysql.general_log WHERE event_time >= ? AND CAST(argument AS CHAR) LIKE ?",
    )
    .bind(&start)
    .bind(format!("%{}%", p1.sync_credentials.as_ref().unwrap().user))
    .fetch_all(&admin)
    .await
    .unwrap()
    .into_iter()
    .map(|r| r.get(0))
    .collect();
    if !was_output.contains("TABLE") && was_on == 0 {
        // Only this test wrote there (the log was off): leave no statements behind.
        let _ = try_exec(&admin, "TRUNCATE TABLE mysql.general_log".into()).await;
    }
    t.deprovision().await.unwrap();
    assert!(
        logged.iter().any(|l| l.contains("CREATE USER")),
        "the general log recorded the generation: {logged:#?}"
    );
    assert!(
        logged.iter().any(|l| l.contains("ALTER USER")),
        "{logged:#?}"
    );
    for p in [p1, p2] {
        let c = p.sync_credentials.unwrap();
        let hash = datenatord::targetdb::password::mysql_native_hash(c.password.expose());
        assert!(
            logged.iter().all(|l| !l.contains(c.password.expose())),
            "the sync password is in the general log: {logged:#?}"
        );
        assert!(logged.iter().any(|l| l.contains(&hash)), "{logged:#?}");
    }
}
