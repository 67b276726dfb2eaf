//! The PostgreSQL target against the real server at `DATENATOR_TEST_POSTGRES_URL`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`). Fails when it is unreachable.

mod common_target;

use common_target::scenarios::{self, Harness};
use common_target::*;
use datenator_shared::datasource::{CheckKind, CheckStatus, DatasourceKind, SyncWriterMode};
use datenatord::targetdb::{
    AnyTarget, Dialect, Fence, FieldSpec, ObjectMapping, SfType, SyncCredentials, Target,
    TargetError, ident,
};
use serde_json::json;
use sqlx::postgres::PgPool;
use sqlx::{AssertSqlSafe, Row as _};

async fn admin_pool() -> PgPool {
    let url = pg_url();
    PgPool::connect(&url).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL test server unreachable at {url}: {e}. Start it (pg_ctlcluster <version> main start) or set DATENATOR_TEST_POSTGRES_URL"
        )
    })
}

async fn exec(pool: &PgPool, sql: String) {
    sqlx::raw_sql(AssertSqlSafe(sql.clone()))
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

#[tokio::test]
async fn schema_from_org_name() {
    let s = settings_from_url(DatasourceKind::Postgres, &pg_url());
    let t = AnyTarget::for_org(s.clone(), "Acme Inc.", None).unwrap();
    // Sanitizing changed the name, so a hash of it keeps "Acme-Inc" and others apart.
    assert!(
        t.schema().starts_with("datenator_acme_inc_"),
        "{}",
        t.schema()
    );
    assert_eq!(
        AnyTarget::for_org(s.clone(), "acme_inc", None)
            .unwrap()
            .schema(),
        "datenator_acme_inc"
    );
    let mut s = s;
    s.schema = Some("custom".into());
    assert_eq!(
        AnyTarget::for_org(s, "Acme", None).unwrap().schema(),
        "custom"
    );
}

fn target(schema: &str) -> AnyTarget {
    AnyTarget::new(
        settings_from_url(DatasourceKind::Postgres, &pg_url()),
        schema,
        None,
    )
    .unwrap()
}

/// A login role that is not the sync user, granted DML on the org schema.
async fn ordinary_user(admin: &PgPool, schema: &str) -> (String, PgPool) {
    let user = unique("dn_t_app_");
    let s = ident::quote(Dialect::Postgres, schema);
    exec(admin, format!("CREATE ROLE \"{user}\" LOGIN PASSWORD 'pw'")).await;
    exec(
        admin,
        format!(
            "GRANT USAGE ON SCHEMA {s} TO \"{user}\"; GRANT ALL ON ALL TABLES IN SCHEMA {s} TO \"{user}\"; GRANT ALL ON ALL SEQUENCES IN SCHEMA {s} TO \"{user}\"; ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT ALL ON TABLES TO \"{user}\"; ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT ALL ON SEQUENCES TO \"{user}\""
        ),
    )
    .await;
    let st = settings_from_url(DatasourceKind::Postgres, &pg_url());
    let url = format!(
        "postgres://{user}:pw@{}:{}/{}",
        st.host,
        st.port_or_default(),
        st.database
    );
    (user, PgPool::connect(&url).await.unwrap())
}

async fn drop_role(admin: &PgPool, user: &str) {
    let _ =
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1")
            .bind(user)
            .execute(admin)
            .await;
    exec(
        admin,
        format!("DROP OWNED BY \"{user}\"; DROP ROLE IF EXISTS \"{user}\""),
    )
    .await;
}

#[tokio::test]
async fn check_passes_for_admin() {
    admin_pool().await;
    let t = target(&unique("dn_t_"));
    let report = t.check().await;
    assert!(report.is_ok(), "{report:#?}");
    assert_eq!(report.writer_mode, Some(SyncWriterMode::SyncUser));
    assert_eq!(
        report.get(CheckKind::CreateTrigger).unwrap().status,
        CheckStatus::Ok
    );
}

#[tokio::test]
async fn check_wrong_port_and_host() {
    let mut s = settings_from_url(DatasourceKind::Postgres, &pg_url());
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
    let h = r.get(CheckKind::HostReachable).unwrap();
    assert_eq!(h.status, CheckStatus::Failed);
    assert!(h.message.contains("no-such-host.invalid"), "{h:?}");
}

/// The test server trusts local connections, so a wrong password passes; an unknown user
/// is what the server rejects here.
#[tokio::test]
async fn check_rejected_user() {
    admin_pool().await;
    let mut s = settings_from_url(DatasourceKind::Postgres, &pg_url());
    s.user = unique("dn_nobody_");
    let r = AnyTarget::new(s.clone(), "x", None).unwrap().check().await;
    let a = r.get(CheckKind::Authentication).unwrap();
    assert_eq!(a.status, CheckStatus::Failed, "{r:#?}");
    assert!(a.message.contains(&s.user), "{a:?}");
    assert!(a.message.contains("rejected"), "{a:?}");
    assert_eq!(
        r.get(CheckKind::DatabaseExists).unwrap().status,
        CheckStatus::Skipped
    );
}

#[tokio::test]
async fn check_missing_database() {
    admin_pool().await;
    let mut s = settings_from_url(DatasourceKind::Postgres, &pg_url());
    s.database = unique("dn_nodb_");
    let r = AnyTarget::new(s.clone(), "x", None).unwrap().check().await;
    assert_eq!(
        r.get(CheckKind::Authentication).unwrap().status,
        CheckStatus::Ok
    );
    let d = r.get(CheckKind::DatabaseExists).unwrap();
    assert_eq!(d.status, CheckStatus::Failed);
    assert!(d.message.contains(&s.database));
    assert!(d.fix.as_deref().unwrap().contains("CREATE DATABASE"));
}

#[tokio::test]
async fn check_unprivileged_user_and_session_marking() {
    let admin = admin_pool().await;
    let user = unique("dn_t_weak_");
    exec(
        &admin,
        format!("CREATE ROLE \"{user}\" LOGIN PASSWORD 'pw'"),
    )
    .await;
    let mut s = settings_from_url(DatasourceKind::Postgres, &pg_url());
    s.user = user.clone();
    s.password = "pw".into();
    let schema = unique("dn_t_");
    let r = AnyTarget::new(s.clone(), &schema, None)
        .unwrap()
        .check()
        .await;
    let c = r.get(CheckKind::CreateSchema).unwrap();
    assert_eq!(c.status, CheckStatus::Failed, "{r:#?}");
    assert!(
        c.fix.as_deref().unwrap().contains(&format!(
            "GRANT CREATE ON DATABASE \"postgres\" TO \"{user}\""
        )),
        "{c:?}"
    );
    let u = r.get(CheckKind::CreateUser).unwrap();
    assert_eq!(u.status, CheckStatus::Warning);
    assert!(u.message.contains("datenator.origin"), "{u:?}");
    assert!(u.fix.as_deref().unwrap().contains("CREATEROLE"));
    assert_eq!(r.writer_mode, Some(SyncWriterMode::SessionMarking));
    assert!(!r.is_ok());

    // With CREATE on the database it works, in session-marking mode.
    exec(
        &admin,
        format!("GRANT CREATE ON DATABASE postgres TO \"{user}\""),
    )
    .await;
    let t = AnyTarget::new(s.clone(), &schema, None).unwrap();
    let r = t.check().await;
    assert!(r.is_ok(), "{r:#?}");
    let p = t.provision().await.unwrap();
    assert_eq!(p.writer_mode, SyncWriterMode::SessionMarking);
    assert!(p.sync_credentials.is_none());
    let m = ObjectMapping::new(
        "Thing",
        vec![FieldSpec::new("Name", SfType::String).with_length(20)],
    );
    t.apply(&t.plan(&[], std::slice::from_ref(&m)).unwrap())
        .await
        .unwrap();
    t.upsert_rows(
        &m,
        &[row(&sfid(1), "2024-01-01T00:00:00Z", json!({"Name": "x"}))],
        None,
    )
    .await
    .unwrap();
    assert!(
        t.claim_events(&m, 10).await.unwrap().is_empty(),
        "engine write echoed"
    );
    // The same user without the session mark is recorded.
    let plain = PgPool::connect(&format!(
        "postgres://{user}:pw@127.0.0.1:{}/postgres",
        s.port_or_default()
    ))
    .await
    .unwrap();
    exec(
        &plain,
        format!("UPDATE \"{schema}\".\"thing\" SET \"name\" = 'y'"),
    )
    .await;
    plain.close().await;
    let ev = t.claim_events(&m, 10).await.unwrap();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].db_user, user);
    t.deprovision().await.unwrap();
    drop(t);
    exec(
        &admin,
        format!("REVOKE CREATE ON DATABASE postgres FROM \"{user}\""),
    )
    .await;
    drop_role(&admin, &user).await;
}

#[tokio::test]
async fn provision_isolation_and_deprovision() {
    let admin = admin_pool().await;
    let schema = unique("dn_t_");
    let other = unique("dn_t_other_");
    exec(&admin, format!("CREATE SCHEMA \"{other}\"; CREATE TABLE \"{other}\".secret (v int); INSERT INTO \"{other}\".secret VALUES (1)")).await;
    let t = target(&schema);
    let p1 = t.provision().await.unwrap();
    let p2 = t.provision().await.unwrap();
    assert_eq!(p2.writer_mode, SyncWriterMode::SyncUser);
    let creds = p2.sync_credentials.clone().unwrap();
    assert_eq!(p1.sync_credentials.unwrap().user, creds.user);
    assert!(!format!("{creds:?}").contains(creds.password.expose()));

    let sync = PgPool::connect(&format!(
        "postgres://{}:{}@127.0.0.1:{}/postgres",
        creds.user,
        creds.password.expose(),
        settings_from_url(DatasourceKind::Postgres, &pg_url()).port_or_default()
    ))
    .await
    .unwrap();
    let err = sqlx::raw_sql(AssertSqlSafe(format!("SELECT * FROM \"{other}\".secret")))
        .execute(&sync)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
    let err = sqlx::raw_sql(AssertSqlSafe(format!("CREATE TABLE \"{other}\".x (v int)")))
        .execute(&sync)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
    sync.close().await;

    let m = sample_mapping("Account");
    t.apply(&t.plan(&[], std::slice::from_ref(&m)).unwrap())
        .await
        .unwrap();
    t.deprovision().await.unwrap();
    let n: i64 = sqlx::query("SELECT count(*) FROM pg_namespace WHERE nspname = $1")
        .bind(&schema)
        .fetch_one(&admin)
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    let n: i64 = sqlx::query("SELECT count(*) FROM pg_roles WHERE rolname = $1")
        .bind(&creds.user)
        .fetch_one(&admin)
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    let v: i32 = sqlx::query(AssertSqlSafe(format!("SELECT v FROM \"{other}\".secret")))
        .fetch_one(&admin)
        .await
        .unwrap()
        .get(0);
    assert_eq!(v, 1, "the other schema must survive");
    exec(&admin, format!("DROP SCHEMA \"{other}\" CASCADE")).await;
    // Deprovisioning again is harmless.
    t.deprovision().await.unwrap();
}

#[tokio::test]
async fn notify_on_change() {
    let h = Pg::new().await;
    let other = Pg::new().await;
    let m = ObjectMapping::new(
        "Account",
        vec![FieldSpec::new("Name", SfType::String).with_length(20)],
    );
    let c = ObjectMapping::new(
        "Contact",
        vec![FieldSpec::new("Name", SfType::String).with_length(20)],
    );
    h.t.apply(&h.t.plan(&[], std::slice::from_ref(&m)).unwrap())
        .await
        .unwrap();
    other
        .t
        .apply(&other.t.plan(&[], std::slice::from_ref(&c)).unwrap())
        .await
        .unwrap();
    let mut listener =
        h.t.listen_changes()
            .await
            .unwrap()
            .expect("PostgreSQL notifies");
    // A change in another org's schema does not wake this one; the next one here does.
    other
        .app_exec(format!(
            "INSERT INTO {} (name) VALUES ('elsewhere')",
            other.table("contact")
        ))
        .await;
    h.app_exec(format!(
        "INSERT INTO {} (name) VALUES ('x')",
        h.table("account")
    ))
    .await;
    let got = tokio::time::timeout(std::time::Duration::from_secs(60), listener.recv())
        .await
        .expect("a notification")
        .unwrap();
    assert_eq!(got, "account__events");
    drop(listener);
    h.cleanup().await;
    other.cleanup().await;
}

#[tokio::test]
async fn bulk_load_with_copy() {
    let admin = admin_pool().await;
    let schema = unique("dn_t_");
    let t = target(&schema);
    t.provision().await.unwrap();
    let m = sample_mapping("Account");
    t.apply(&t.plan(&[], std::slice::from_ref(&m)).unwrap())
        .await
        .unwrap();
    let mut rows: Vec<_> = (0..500)
        .map(|i| sample_row(&sfid(i), "2024-01-01T00:00:00Z", &format!("n,\"{i}\"\n")))
        .collect();
    rows[3]
        .values
        .insert("Name".into(), serde_json::Value::Null);
    assert_eq!(t.bulk_load(&m, &rows).await.unwrap(), 500);
    // Loading again updates in place.
    assert_eq!(
        t.bulk_load(&m, &rows[..10]).await.unwrap(),
        0,
        "same stamps are skipped"
    );
    let r = sqlx::query(AssertSqlSafe(format!(
        "SELECT count(*), count(name), max(amount__c)::text FROM \"{schema}\".account"
    )))
    .fetch_one(&admin)
    .await
    .unwrap();
    assert_eq!(r.get::<i64, _>(0), 500);
    assert_eq!(r.get::<i64, _>(1), 499);
    assert_eq!(r.get::<String, _>(2), "12.50");
    let name: String = sqlx::query(AssertSqlSafe(format!(
        "SELECT name FROM \"{schema}\".account WHERE sfid = $1"
    )))
    .bind(sfid(7))
    .fetch_one(&admin)
    .await
    .unwrap()
    .get(0);
    assert_eq!(name, "n,\"7\"\n");
    assert!(t.claim_events(&m, 10).await.unwrap().is_empty());
    t.deprovision().await.unwrap();
}

/// A provisioned org plus an ordinary application role with DML rights on its tables.
struct Pg {
    t: AnyTarget,
    admin: PgPool,
    app: PgPool,
    app_user: String,
    sync: Option<SyncCredentials>,
}

impl Pg {
    async fn new() -> Pg {
        let admin = admin_pool().await;
        let schema = unique("dn_t_");
        let t = target(&schema);
        let sync = t.provision().await.unwrap().sync_credentials;
        let (app_user, app) = ordinary_user(&admin, &schema).await;
        Pg {
            t,
            admin,
            app,
            app_user,
            sync,
        }
    }

    async fn cleanup(self) {
        self.app.close().await;
        self.t.deprovision().await.unwrap();
        drop_role(&self.admin, &self.app_user).await;
    }
}

impl Harness for Pg {
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
            "SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2",
        )
        .bind(self.t.schema())
        .bind(name)
        .fetch_optional(&self.admin)
        .await
        .unwrap()
        .is_some()
    }

    fn is_app_user(&self, db_user: &str) -> bool {
        db_user == self.app_user
    }

    fn same_org(&self) -> AnyTarget {
        AnyTarget::new(
            settings_from_url(DatasourceKind::Postgres, &pg_url()),
            self.t.schema(),
            self.sync.clone(),
        )
        .unwrap()
    }
}

#[tokio::test]
async fn fenced_writes() {
    let h = Pg::new().await;
    scenarios::fenced_writes(&h).await;
    h.cleanup().await;
}

/// The schema's tables with a waiting lock request (a blocked statement).
async fn lock_waiters(admin: &PgPool, schema: &str) -> i64 {
    sqlx::query(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND position($1 in query) > 0",
    )
    .bind(schema)
    .fetch_one(admin)
    .await
    .unwrap()
    .get(0)
}

async fn wait_for_lock_waiters(admin: &PgPool, schema: &str, n: i64) {
    for _ in 0..200 {
        if lock_waiters(admin, schema).await >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("never saw {n} statements waiting for a lock in {schema}");
}

/// An application's transaction holds the record `sfid(1)`: `a`'s write of "two", its
/// fence checked and share-locked, waits for it (until the transaction returned ends).
async fn a_write_waits_on_an_application(
    h: &Pg,
    m: &ObjectMapping,
    a: &std::sync::Arc<AnyTarget>,
) -> (
    sqlx::Transaction<'static, sqlx::Postgres>,
    tokio::task::JoinHandle<Result<u64, TargetError>>,
) {
    let schema = h.t.schema().to_owned();
    let mut app_tx = h.app.begin().await.unwrap();
    sqlx::raw_sql(AssertSqlSafe(format!(
        "UPDATE \"{schema}\".account SET name = 'app' WHERE sfid = '{}'",
        sfid(1)
    )))
    .execute(&mut *app_tx)
    .await
    .unwrap();
    let write = tokio::spawn({
        let (a, m) = (a.clone(), m.clone());
        async move {
            let two = row(&sfid(1), "2024-02-01T00:00:00Z", json!({"Name": "two"}));
            a.upsert_rows(&m, &[two], None).await
        }
    });
    wait_for_lock_waiters(&h.admin, &schema, 1).await;
    (app_tx, write)
}

/// A new holder's claim waits for the old holder's write in flight (the fence row is
/// share-locked until it commits): that write commits, and every later one is fenced.
#[tokio::test]
async fn fence_claim_waits_for_a_write_in_flight() {
    let h = Pg::new().await;
    let schema = h.t.schema().to_owned();
    let (m, a, b) = scenarios::two_holders(&h).await;
    let a = std::sync::Arc::new(a);
    let (app_tx, write) = a_write_waits_on_an_application(&h, &m, &a).await;
    let claim = tokio::spawn(async move { b.claim_fence().await });
    wait_for_lock_waiters(&h.admin, &schema, 2).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!claim.is_finished(), "B's claim waits for A's write");
    assert!(!write.is_finished());
    app_tx.rollback().await.unwrap();
    write.await.unwrap().expect("the write in flight commits");
    claim.await.unwrap().expect("then B claims");
    let name: String = sqlx::query(AssertSqlSafe(format!(
        "SELECT name FROM \"{schema}\".account WHERE sfid = '{}'",
        sfid(1)
    )))
    .fetch_one(&h.admin)
    .await
    .unwrap()
    .get(0);
    assert_eq!(name, "two");
    let three = row(&sfid(1), "2024-03-01T00:00:00Z", json!({"Name": "three"}));
    match a.upsert_rows(&m, &[three], None).await {
        Err(TargetError::Fenced { ours: 1, stored: 2 }) => {}
        other => panic!("{other:?}"),
    }
    drop(a);
    h.cleanup().await;
}

/// A claim behind an old holder's statement that itself waits (on an application's lock,
/// where no idle timeout applies) does not wait for ever: after a while the new holder
/// ends the old holder's transaction (its own account's session) and goes on; the
/// application's transaction is left alone.
#[tokio::test]
async fn a_claim_behind_a_stuck_holder_ends_its_transaction() {
    let h = Pg::new().await;
    let (m, a, b) = scenarios::two_holders(&h).await;
    let a = std::sync::Arc::new(a);
    let (app_tx, write) = a_write_waits_on_an_application(&h, &m, &a).await;
    b.claim_fence()
        .await
        .expect("the claim ends the stuck transaction and goes through");
    assert!(
        write.await.unwrap().is_err(),
        "A's transaction was ended, its write rolled back"
    );
    app_tx.commit().await.unwrap();
    let name = h
        .admin_text(format!(
            "SELECT name FROM {} WHERE sfid = '{}'",
            h.table("account"),
            sfid(1)
        ))
        .await;
    assert_eq!(name.as_deref(), Some("app"));
    let three = row(&sfid(1), "2024-03-01T00:00:00Z", json!({"Name": "three"}));
    match a.upsert_rows(&m, std::slice::from_ref(&three), None).await {
        Err(TargetError::Fenced { ours: 1, stored: 2 }) => {}
        other => panic!("{other:?}"),
    }
    b.upsert_rows(&m, &[three], None).await.unwrap();
    drop(a);
    h.cleanup().await;
}

/// A holder frozen in the middle of a bulk load's `COPY` (its future polled no more while
/// it streams rows, as a SIGSTOPped daemon's): the server waits for the rest of the data
/// with no timeout, holding the fence row share-locked; the new holder's claim ends that
/// transaction and goes through, and nothing of the load lands.
#[tokio::test]
async fn a_holder_frozen_mid_copy_does_not_hold_the_claim() {
    let h = Pg::new().await;
    let schema = h.t.schema().to_owned();
    let (m, a, b) = scenarios::two_holders(&h).await;
    let name = "n".repeat(40);
    let rows: Vec<_> = (2..200_000)
        .map(|n| row(&sfid(n), "2024-01-01T00:00:00Z", json!({"Name": name})))
        .collect();
    let copy_waits = |on: &'static str| {
        let (admin, user) = (h.admin.clone(), ident::postgres_sync_user(&schema));
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND query LIKE 'COPY%' AND state = 'active' AND wait_event = $2",
            )
            .bind(user)
            .bind(on)
            .fetch_one(&admin)
            .await
            .unwrap()
        }
    };
    // An application inserts the load's first record and has not committed: the COPY
    // stops at it, while A streams on until the connection's buffers are full.
    let mut app_tx = h.app.begin().await.unwrap();
    sqlx::raw_sql(AssertSqlSafe(format!(
        "INSERT INTO {} (sfid, name) VALUES ('{}', 'app')",
        h.table("account"),
        sfid(2)
    )))
    .execute(&mut *app_tx)
    .await
    .unwrap();
    let mut load = Box::pin(a.bulk_load(&m, &rows));
    tokio::select! {
        r = &mut load => panic!("the load went past the application's insert: {r:?}"),
        _ = async {
            while copy_waits("transactionid").await < 1 {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        } => {}
    }
    // A freezes (`load` is polled no more); the application lets go: the server reads
    // what A sent, then waits for the rest of the COPY, with no timeout.
    app_tx.rollback().await.unwrap();
    let mut waits = 0;
    for _ in 0..50 {
        waits = copy_waits("ClientRead").await;
        if waits == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(waits, 1, "the server waits mid-COPY for the frozen holder");
    b.claim_fence()
        .await
        .expect("the claim ends the frozen load's transaction and goes through");
    assert!(load.await.is_err(), "the frozen load cannot commit");
    let count = h
        .admin_text(format!("SELECT count(*)::text FROM {}", h.table("account")))
        .await;
    assert_eq!(count.as_deref(), Some("1"), "nothing of the load landed");
    drop(a);
    h.cleanup().await;
}

/// A claim kept waiting by a lock that is no engine transaction's — here a session of the
/// engine's own account, as a user logged in as it would hold — ends nothing: it gives up
/// with an error that says why, and goes through once the lock is gone.
#[tokio::test]
async fn a_claim_behind_a_foreign_lock_gives_up_and_says_why() {
    let h = Pg::new().await;
    let (_m, _a, b) = scenarios::two_holders(&h).await;
    let creds = h.sync.clone().expect("a sync account");
    let s = settings_from_url(DatasourceKind::Postgres, &pg_url());
    let user = PgPool::connect(&format!(
        "postgres://{}:{}@{}:{}/{}",
        creds.user,
        creds.password.expose(),
        s.host,
        s.port_or_default(),
        s.database
    ))
    .await
    .unwrap();
    let mut user_tx = user.begin().await.unwrap();
    sqlx::raw_sql(AssertSqlSafe(format!(
        "SELECT 1 FROM {} WHERE object = ':fence' FOR UPDATE",
        h.table("_datenator_cursor")
    )))
    .execute(&mut *user_tx)
    .await
    .unwrap();
    let err = b.claim_fence().await.unwrap_err();
    assert!(matches!(err, TargetError::Busy(_)), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("taking the org over") && msg.contains("tried again"),
        "{msg}"
    );
    user_tx
        .rollback()
        .await
        .expect("the user's session was left alone");
    b.claim_fence().await.expect("the claim goes through now");
    user.close().await;
    h.cleanup().await;
}

/// A stale holder's claim kept waiting by a *newer* holder's transaction ends nothing: it
/// is refused as fenced, and the newer holder's write goes on.
#[tokio::test]
async fn a_stale_claim_never_ends_a_newer_holders_transaction() {
    let h = Pg::new().await;
    let (m, _a, b) = scenarios::two_holders(&h).await;
    let c = std::sync::Arc::new(h.same_org().with_fence(Fence(3)));
    c.claim_fence().await.unwrap();
    let (app_tx, write) = a_write_waits_on_an_application(&h, &m, &c).await;
    match b.claim_fence().await {
        Err(TargetError::Fenced { ours: 2, stored: 3 }) => {}
        other => panic!("{other:?}"),
    }
    app_tx.rollback().await.unwrap();
    write
        .await
        .unwrap()
        .expect("the newer holder's write was left alone and commits");
    drop(c);
    h.cleanup().await;
}

/// Claiming needs a fence, and the org's schema (the cursor table): both errors say so.
#[tokio::test]
async fn fence_claim_needs_a_fence_and_the_schema() {
    admin_pool().await;
    let schema = unique("dn_t_");
    let err = target(&schema).claim_fence().await.unwrap_err().to_string();
    assert!(err.contains("with_fence"), "{err}");
    let err = target(&schema)
        .with_fence(Fence(1))
        .claim_fence()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("_datenator_cursor")
            && err.contains("does not exist")
            && err.contains("generate"),
        "{err}"
    );
}

#[tokio::test]
async fn triggers_record_other_users_only() {
    let h = Pg::new().await;
    scenarios::events_recorded_for_others_only(&h).await;
    h.cleanup().await;
}

#[tokio::test]
async fn plans_with_destructive_flags() {
    let h = Pg::new().await;
    scenarios::plans_with_destructive_flags(&h).await;
    h.cleanup().await;
}

#[tokio::test]
async fn failed_plan_rolls_back_entirely() {
    let h = Pg::new().await;
    let t = &h.t;
    let v1 = ObjectMapping::new(
        "Account",
        vec![FieldSpec::new("Code", SfType::String).with_length(10)],
    );
    t.apply(&t.plan(&[], std::slice::from_ref(&v1)).unwrap())
        .await
        .unwrap();
    t.upsert_rows(
        &v1,
        &[row(
            &sfid(2),
            "2024-01-01T00:00:00Z",
            json!({"Code": "0123456789"}),
        )],
        None,
    )
    .await
    .unwrap();
    let v2 = ObjectMapping::new(
        "Account",
        vec![
            FieldSpec::new("Later", SfType::Boolean),
            FieldSpec::new("Code", SfType::String).with_length(3),
        ],
    );
    let p = t.plan(std::slice::from_ref(&v1), &[v2]).unwrap();
    let err = t.apply(&p).await.unwrap_err().to_string();
    assert!(err.contains("nothing was changed"), "{err}");
    let n = h
        .admin_text(format!(
            "SELECT count(*)::text FROM information_schema.columns WHERE table_schema = '{}' AND column_name = 'later'",
            t.schema()
        ))
        .await;
    assert_eq!(
        n.as_deref(),
        Some("0"),
        "a failed plan must leave nothing applied"
    );
    h.cleanup().await;
}

#[tokio::test]
async fn hostile_long_names() {
    let admin = admin_pool().await;
    let schema = format!("{}-\"sch`ema\" naïve {}", unique("dn_t_"), "s".repeat(80));
    let t = target(&schema);
    let sync = t.provision().await.unwrap().sync_credentials;
    let (app_user, app) = ordinary_user(&admin, t.schema()).await;
    let h = Pg {
        t,
        admin,
        app,
        app_user,
        sync,
    };
    assert!(h.t.schema().len() <= 63);
    scenarios::hostile_names(&h).await;
    let n = h
        .admin_text(format!(
            "SELECT count(*)::text FROM information_schema.tables WHERE table_schema = '{}'",
            h.t.schema().replace('\'', "''")
        ))
        .await;
    assert_eq!(n.as_deref(), Some("11"), "5 data + 5 events + cursor");
    h.cleanup().await;
}

#[tokio::test]
async fn concurrent_claimers_never_share() {
    let h = std::sync::Arc::new(Pg::new().await);
    scenarios::concurrent_claimers_never_share(h.clone()).await;
    std::sync::Arc::into_inner(h).unwrap().cleanup().await;
}

#[tokio::test]
async fn tls_modes() {
    admin_pool().await;
    let mut s = settings_from_url(DatasourceKind::Postgres, &pg_url());
    s.tls = datenator_shared::datasource::TlsMode::Require;
    let schema = unique("dn_t_");
    let t = AnyTarget::new(s.clone(), &schema, None).unwrap();
    let r = t.check().await;
    assert!(r.is_ok(), "{r:#?}");
    // The engine's connections use TLS too.
    t.provision().await.unwrap();
    let m = ObjectMapping::new("Account", vec![FieldSpec::new("Name", SfType::String)]);
    t.apply(&t.plan(&[], std::slice::from_ref(&m)).unwrap())
        .await
        .unwrap();
    t.upsert_rows(
        &m,
        &[row(&sfid(1), "2024-01-01T00:00:00Z", json!({"Name": "x"}))],
        None,
    )
    .await
    .unwrap();
    let admin = admin_pool().await;
    let ssl: bool = sqlx::query("SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.usename = $1")
        .bind(ident::postgres_sync_user(t.schema()))
        .fetch_one(&admin)
        .await
        .unwrap()
        .get(0);
    assert!(ssl, "the sync user's connections are encrypted");
    t.deprovision().await.unwrap();
    s.tls = datenator_shared::datasource::TlsMode::VerifyFull;
    let r = AnyTarget::new(s, &schema, None).unwrap().check().await;
    let a = r.get(CheckKind::Authentication).unwrap();
    assert_eq!(a.status, CheckStatus::Failed);
    assert!(
        a.message.contains("TLS") && a.message.contains("certificate"),
        "{a:?}"
    );
    assert!(a.fix.as_deref().unwrap().contains("trust store"), "{a:?}");
}

#[tokio::test]
async fn wide_mapping() {
    let h = Pg::new().await;
    scenarios::wide_mapping(&h).await;
    h.cleanup().await;
}

#[tokio::test]
async fn passwords_never_in_debug_output() {
    let mut s = settings_from_url(DatasourceKind::Postgres, &pg_url());
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

#[tokio::test]
async fn provisioning_without_privileges_names_the_grant() {
    let admin = admin_pool().await;
    let user = unique("dn_t_weak_");
    exec(
        &admin,
        format!("CREATE ROLE \"{user}\" LOGIN PASSWORD 'pw'"),
    )
    .await;
    let mut s = settings_from_url(DatasourceKind::Postgres, &pg_url());
    s.user = user.clone();
    s.password = "pw".into();
    let t = AnyTarget::new(s, unique("dn_t_"), None).unwrap();
    let err = t.provision().await.unwrap_err();
    let datenatord::targetdb::TargetError::Permission { what, fix } = &err else {
        panic!("{err:?}")
    };
    assert!(what.contains("permission denied"), "{what}");
    assert!(
        fix.contains(&format!(
            "GRANT CREATE ON DATABASE \"postgres\" TO \"{user}\""
        )),
        "{fix}"
    );
    drop(t);
    drop_role(&admin, &user).await;
}

#[tokio::test]
async fn six_hundred_fields() {
    let h = Pg::new().await;
    scenarios::six_hundred_fields(&h).await;
    h.cleanup().await;
}

/// A realistic admin: not a superuser, with CREATEROLE and CREATE on the database.
#[tokio::test]
async fn non_superuser_admin_with_createrole() {
    let admin = admin_pool().await;
    let user = unique("dn_t_adm_");
    exec(
        &admin,
        format!("CREATE ROLE \"{user}\" LOGIN CREATEROLE PASSWORD 'pw'; GRANT CREATE ON DATABASE postgres TO \"{user}\""),
    )
    .await;
    let mut s = settings_from_url(DatasourceKind::Postgres, &pg_url());
    s.user = user.clone();
    s.password = "pw".into();
    let schema = unique("dn_t_");
    let t = AnyTarget::new(s.clone(), &schema, None).unwrap();
    let r = t.check().await;
    assert!(r.is_ok(), "{r:#?}");
    assert_eq!(r.writer_mode, Some(SyncWriterMode::SyncUser));
    let p = t.provision().await.unwrap();
    assert_eq!(p.writer_mode, SyncWriterMode::SyncUser);
    let t = AnyTarget::new(s, &schema, p.sync_credentials.clone()).unwrap();
    let m = ObjectMapping::new("Account", vec![FieldSpec::new("Name", SfType::String)]);
    t.apply(&t.plan(&[], std::slice::from_ref(&m)).unwrap())
        .await
        .unwrap();
    t.upsert_rows(
        &m,
        &[row(&sfid(1), "2024-01-01T00:00:00Z", json!({"Name": "x"}))],
        None,
    )
    .await
    .unwrap();
    exec(
        &admin,
        format!("UPDATE \"{schema}\".account SET name = 'y'"),
    )
    .await;
    let ev = t.claim_events(&m, 10).await.unwrap();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].db_user, "postgres");
    t.deprovision().await.unwrap();
    let n: i64 = sqlx::query("SELECT count(*) FROM pg_roles WHERE rolname = $1")
        .bind(p.sync_credentials.unwrap().user)
        .fetch_one(&admin)
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    drop(t);
    exec(
        &admin,
        format!("REVOKE CREATE ON DATABASE postgres FROM \"{user}\""),
    )
    .await;
    drop_role(&admin, &user).await;
}

#[tokio::test]
async fn too_long_values_are_not_truncated() {
    let h = Pg::new().await;
    scenarios::too_long_values_are_not_truncated(&h).await;
    h.cleanup().await;
}

#[tokio::test]
async fn lenient_upsert_skips_bad_rows() {
    let h = Pg::new().await;
    scenarios::lenient_upsert_skips_bad_rows(&h).await;
    h.cleanup().await;
}

#[tokio::test]
async fn bulk_csv_loads_like_rows() {
    let h = Pg::new().await;
    scenarios::bulk_csv_loads_like_rows(&h).await;
    h.cleanup().await;
}

#[tokio::test]
async fn scientific_notation_numbers() {
    let h = Pg::new().await;
    scenarios::scientific_notation_numbers(&h).await;
    h.cleanup().await;
}

#[tokio::test]
async fn check_database_without_connect_privilege() {
    let admin = admin_pool().await;
    let db = unique("dn_t_db_");
    let user = unique("dn_t_weak_");
    exec(&admin, format!("CREATE DATABASE \"{db}\"")).await;
    exec(
        &admin,
        format!(
            "REVOKE CONNECT ON DATABASE \"{db}\" FROM PUBLIC; CREATE ROLE \"{user}\" LOGIN PASSWORD 'pw'"
        ),
    )
    .await;
    let mut s = settings_from_url(DatasourceKind::Postgres, &pg_url());
    s.user = user.clone();
    s.password = "pw".into();
    s.database = db.clone();
    let t = AnyTarget::new(s, "x", None).unwrap();
    let r = t.check().await;
    assert_eq!(
        r.get(CheckKind::Authentication).unwrap().status,
        CheckStatus::Ok
    );
    let d = r.get(CheckKind::DatabaseExists).unwrap();
    assert_eq!(d.status, CheckStatus::Failed, "{r:#?}");
    assert_eq!(
        d.fix.as_deref(),
        Some(format!("GRANT CONNECT ON DATABASE \"{db}\" TO \"{user}\";").as_str())
    );
    // Granted as the check says, the database is reachable.
    exec(&admin, d.fix.clone().unwrap()).await;
    let r = t.check().await;
    assert_eq!(
        r.get(CheckKind::DatabaseExists).unwrap().status,
        CheckStatus::Ok,
        "{r:#?}"
    );
    drop(t);
    exec(
        &admin,
        format!("REVOKE CONNECT ON DATABASE \"{db}\" FROM \"{user}\""),
    )
    .await;
    exec(&admin, format!("DROP DATABASE \"{db}\"")).await;
    drop_role(&admin, &user).await;
}

/// A `tracing` writer collecting everything logged, to look for secrets in it.
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
    let h = Pg::new().await;
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
    let h = Pg::new().await;
    scenarios::widening_changes_keep_values(&h).await;
    h.cleanup().await;
}

#[tokio::test]
async fn pull_keeps_pending_local_fields() {
    let h = Pg::new().await;
    scenarios::pull_keeps_pending_local_fields(&h).await;
    h.cleanup().await;
}

/// An admin role with nothing but what "check datasource" says to grant — run exactly as
/// given — generates, generates again (the same admin: no superuser attribute is touched,
/// and the sync password is kept), generates once more without the stored password (it is
/// reset), and gives an application user read/write through the application role, with
/// the events tables written only by the triggers.
#[tokio::test]
async fn non_superuser_admin_regenerates_with_the_checks_fixes() {
    let admin = admin_pool().await;
    let user = unique("dn_t_adm_");
    exec(
        &admin,
        format!("CREATE ROLE \"{user}\" LOGIN PASSWORD 'pw'"),
    )
    .await;
    let mut s = settings_from_url(DatasourceKind::Postgres, &pg_url());
    s.user = user.clone();
    s.password = "pw".into();
    let schema = unique("dn_t_");
    let t = AnyTarget::new(s.clone(), &schema, None).unwrap();
    let r = t.check().await;
    for kind in [CheckKind::CreateSchema, CheckKind::CreateUser] {
        let c = r.get(kind).unwrap();
        assert_ne!(c.status, CheckStatus::Ok, "{r:#?}");
        exec(&admin, c.fix.clone().unwrap()).await;
    }
    let r = t.check().await;
    assert!(r.is_ok(), "{r:#?}");
    assert_eq!(r.writer_mode, Some(SyncWriterMode::SyncUser));
    assert!(
        r.results.iter().all(|c| c.status == CheckStatus::Ok),
        "{r:#?}"
    );

    let p1 = t.provision().await.unwrap();
    let c1 = p1.sync_credentials.clone().unwrap();
    let t = AnyTarget::new(s.clone(), &schema, Some(c1.clone())).unwrap();
    let p2 = t.provision().await.unwrap();
    assert_eq!(
        p2.sync_credentials.as_ref(),
        Some(&c1),
        "the password is kept"
    );
    let m = ObjectMapping::new("Account", vec![FieldSpec::new("Name", SfType::String)]);
    t.apply(&t.plan(&[], std::slice::from_ref(&m)).unwrap())
        .await
        .unwrap();
    // Without the stored password (lost, or changed by hand) it is set anew.
    let t3 = AnyTarget::new(s.clone(), &schema, None).unwrap();
    let p3 = t3.provision().await.unwrap();
    let c3 = p3.sync_credentials.clone().unwrap();
    assert_ne!(c3.password, c1.password);
    let st = settings_from_url(DatasourceKind::Postgres, &pg_url());
    let sync_url = |c: &datenatord::targetdb::SyncCredentials| {
        format!(
            "postgres://{}:{}@{}:{}/{}",
            c.user,
            c.password.expose(),
            st.host,
            st.port_or_default(),
            st.database
        )
    };
    PgPool::connect(&sync_url(&c3)).await.unwrap().close().await;
    let t = AnyTarget::new(s.clone(), &schema, Some(c3.clone())).unwrap();

    // The application role, granted by the same admin as the generate result says.
    let role = p3.app_role.clone().expect("an application role");
    let app = unique("dn_t_appr_");
    exec(&admin, format!("CREATE ROLE \"{app}\" LOGIN PASSWORD 'pw'")).await;
    let limited = PgPool::connect(&format!(
        "postgres://{user}:pw@{}:{}/{}",
        st.host,
        st.port_or_default(),
        st.database
    ))
    .await
    .unwrap();
    exec(
        &limited,
        format!(
            "GRANT {} TO \"{app}\"",
            ident::quote(Dialect::Postgres, &role)
        ),
    )
    .await;
    limited.close().await;
    let app_pool = PgPool::connect(&format!(
        "postgres://{app}:pw@{}:{}/{}",
        st.host,
        st.port_or_default(),
        st.database
    ))
    .await
    .unwrap();
    exec(
        &app_pool,
        format!("INSERT INTO \"{schema}\".account (name) VALUES ('from the app')"),
    )
    .await;
    exec(
        &app_pool,
        format!("UPDATE \"{schema}\".account SET name = 'changed'"),
    )
    .await;
    exec(&app_pool, format!("DELETE FROM \"{schema}\".account")).await;
    let ev = t.claim_events(&m, 10).await.unwrap();
    assert_eq!(ev.len(), 3, "{ev:?}");
    assert!(ev.iter().all(|e| e.db_user == app), "{ev:?}");
    for sql in [
        format!(
            "INSERT INTO \"{schema}\".account__events (op, row_id, changed, old_values, new_values, db_user) VALUES ('INSERT', 1, '[]', '{{}}', '{{}}', 'x')"
        ),
        format!("SELECT * FROM \"{schema}\".account__events"),
        format!("SELECT * FROM \"{schema}\"._datenator_cursor"),
        format!("DROP TABLE \"{schema}\".account"),
    ] {
        let err = sqlx::raw_sql(AssertSqlSafe(sql.clone()))
            .execute(&app_pool)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("permission denied")
                || err.to_string().contains("must be owner"),
            "{sql}: {err}"
        );
    }
    app_pool.close().await;

    t.deprovision().await.unwrap();
    for r in [&c1.user, &role] {
        let n: i64 = sqlx::query("SELECT count(*) FROM pg_roles WHERE rolname = $1")
            .bind(r)
            .fetch_one(&admin)
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 0, "{r} is dropped");
    }
    drop(t);
    drop(t3);
    drop_role(&admin, &app).await;
    exec(
        &admin,
        format!(
            "REVOKE CREATE ON DATABASE \"{}\" FROM \"{user}\"",
            st.database
        ),
    )
    .await;
    drop_role(&admin, &user).await;
}

/// The server's log, found through a backend's standard error (where PostgreSQL writes it
/// without the logging collector), or named by `DATENATOR_TEST_POSTGRES_LOG`.
async fn server_log_path(admin: &PgPool) -> std::path::PathBuf {
    if let Ok(p) = std::env::var("DATENATOR_TEST_POSTGRES_LOG") {
        return p.into();
    }
    let row = sqlx::query(
        "SELECT pg_current_logfile(), current_setting('data_directory'), pg_backend_pid()",
    )
    .fetch_one(admin)
    .await
    .unwrap();
    if let Some(f) = row.get::<Option<String>, _>(0) {
        let p = std::path::PathBuf::from(f);
        return if p.is_absolute() {
            p
        } else {
            std::path::PathBuf::from(row.get::<String, _>(1)).join(p)
        };
    }
    let pid: i32 = row.get(2);
    std::fs::read_link(format!("/proc/{pid}/fd/2")).unwrap_or_else(|e| {
        panic!(
            "cannot find the PostgreSQL server's log ({e}): run the test on the server's machine as root or its user, or set DATENATOR_TEST_POSTGRES_LOG"
        )
    })
}

/// With every statement of the admin logged (log_statement = all for its role only, not
/// server-wide), and a statement that fails (its STATEMENT line: log_min_error_statement),
/// the server's log never holds the sync password: only a SCRAM verifier is sent.
#[tokio::test]
async fn sync_password_never_in_server_log() {
    let admin = admin_pool().await;
    let log = server_log_path(&admin).await;
    let before = std::fs::metadata(&log)
        .unwrap_or_else(|e| panic!("cannot read the server log {}: {e}", log.display()))
        .len();
    let user = unique("dn_t_logadm_");
    let st = settings_from_url(DatasourceKind::Postgres, &pg_url());
    exec(
        &admin,
        format!(
            "CREATE ROLE \"{user}\" LOGIN CREATEROLE PASSWORD 'pw'; GRANT CREATE ON DATABASE \"{}\" TO \"{user}\"; ALTER ROLE \"{user}\" SET log_statement = 'all'",
            st.database
        ),
    )
    .await;
    let level: String = sqlx::query("SELECT current_setting('log_min_error_statement')")
        .fetch_one(&admin)
        .await
        .unwrap()
        .get(0);
    assert!(
        [
            "debug5", "debug4", "debug3", "debug2", "debug1", "info", "notice", "warning", "error"
        ]
        .contains(&level.as_str()),
        "failed statements are logged ({level})"
    );
    let mut s = st.clone();
    s.user = user.clone();
    s.password = "pw".into();
    let schema = unique("dn_t_log_");
    let p = AnyTarget::new(s.clone(), &schema, None)
        .unwrap()
        .provision()
        .await
        .unwrap();
    let c = p.sync_credentials.unwrap();
    // A sync role made a superuser by hand: resetting its password fails (only a superuser
    // may touch it), and the failed statement is logged with its text.
    exec(&admin, format!("ALTER ROLE \"{}\" SUPERUSER", c.user)).await;
    let err = AnyTarget::new(s.clone(), &schema, None)
        .unwrap()
        .provision()
        .await
        .unwrap_err();
    let datenatord::targetdb::TargetError::Permission { fix, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(fix.contains("NOSUPERUSER"), "{fix}");
    exec(&admin, format!("ALTER ROLE \"{}\" NOSUPERUSER", c.user)).await;
    AnyTarget::new(s, &schema, Some(c.clone()))
        .unwrap()
        .deprovision()
        .await
        .unwrap();
    exec(
        &admin,
        format!(
            "REVOKE CREATE ON DATABASE \"{}\" FROM \"{user}\"",
            st.database
        ),
    )
    .await;
    drop_role(&admin, &user).await;

    // The server may write its lines a moment later.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let bytes = std::fs::read(&log).unwrap();
    let text = String::from_utf8_lossy(&bytes[before.min(bytes.len() as u64) as usize..]);
    let ours: Vec<&str> = text.lines().filter(|l| l.contains(&c.user)).collect();
    assert!(
        ours.iter()
            .any(|l| l.contains("statement: CREATE ROLE") && l.contains("SCRAM-SHA-256$")),
        "the generation's statements were logged: {ours:#?}"
    );
    assert!(
        ours.iter().any(|l| l.contains("STATEMENT:")
            && l.contains("ALTER ROLE")
            && l.contains("SCRAM-SHA-256$")),
        "the failed statement was logged: {ours:#?}"
    );
    assert!(
        !text.contains(c.password.expose()),
        "the sync password is in the server log"
    );
    for l in &ours {
        if let Some(i) = l.find("PASSWORD '") {
            assert!(
                l[i + "PASSWORD '".len()..].starts_with("SCRAM-SHA-256$"),
                "a password that is not a verifier was sent: {l}"
            );
        }
    }
}
