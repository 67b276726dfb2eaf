//! Fixtures for sync tests: an org registered in a real daemon against sfsim, with a
//! datasource on SQLite, PostgreSQL or MariaDB, and plain SQL access to the target as an
//! ordinary database user.
use std::time::Duration;

use datenator_shared::client::Client;
use datenator_shared::datasource::{DatasourceKind, DatasourceSettings, Secret, TlsMode};
use datenator_shared::model::{
    AuthFlow, AuthState, Direction, Event, Mapping, ObjectStatus, OrgSummary, OrgType, PendingStep,
    Topic,
};
use datenator_shared::protocol::{Call, OrgRef, RegisterOrg, SaveMapping, SetDatasource, SetSync};
use serde_json::Value;
use sfsim::RunningSim;
use sqlx::{AnyPool, Row};

use crate::Daemon;
use crate::wait::{TIMEOUT, event_where};

/// The standard wait, where the sync tests have always found it.
pub use crate::wait::eventually;

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
    Mysql,
}

fn env_url(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_owned())
}

/// A target database for one test, with a unique schema.
pub struct TargetDb {
    pub db: Db,
    pub schema: String,
    pub settings: DatasourceSettings,
    /// Where the test itself connects, as an ordinary (non-sync) user.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TargetDb {
    pub fn new(db: Db, tag: &str) -> TargetDb {
        let schema = format!("dn_{tag}_{}", std::process::id());
        match db {
            Db::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("target.db");
                TargetDb {
                    db,
                    url: format!("sqlite://{}?mode=rwc", path.display()),
                    settings: DatasourceSettings {
                        kind: DatasourceKind::Sqlite,
                        host: String::new(),
                        port: None,
                        database: String::new(),
                        user: String::new(),
                        password: Secret::default(),
                        tls: TlsMode::Disable,
                        schema: Some(schema.clone()),
                        sqlite_path: Some(path),
                    },
                    schema,
                    _dir: Some(dir),
                }
            }
            Db::Postgres => Self::server(
                db,
                DatasourceKind::Postgres,
                env_url(
                    "DATENATOR_TEST_POSTGRES_URL",
                    "postgres://postgres@127.0.0.1:5432/postgres",
                ),
                schema,
            ),
            Db::Mysql => Self::server(
                db,
                DatasourceKind::Mysql,
                env_url(
                    "DATENATOR_TEST_MYSQL_URL",
                    "mysql://root@127.0.0.1:3306/mysql",
                ),
                schema,
            ),
        }
    }

    /// A database server target from its URL.
    fn server(db: Db, kind: DatasourceKind, url: String, schema: String) -> TargetDb {
        let settings = DatasourceSettings {
            tls: TlsMode::Disable,
            schema: Some(schema.clone()),
            ..DatasourceSettings::from_url(&url).unwrap()
        };
        assert_eq!(settings.kind, kind);
        TargetDb {
            db,
            settings,
            url,
            schema,
            _dir: None,
        }
    }

    /// The data table of `object` as a qualified SQL name.
    pub fn table(&self, object: &str) -> String {
        let t = object.to_lowercase();
        match self.db {
            Db::Sqlite => format!("\"{t}\""),
            Db::Postgres => format!("\"{}\".\"{t}\"", self.schema),
            Db::Mysql => format!("`{}`.`{t}`", self.schema),
        }
    }

    pub async fn pool(&self) -> AnyPool {
        sqlx::any::install_default_drivers();
        AnyPool::connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {:?} at {}: {e}", self.db, self.url))
    }
}

/// A test leaves no schema behind on a database server: its org schema and sync user are
/// dropped when it ends (best effort, on a thread of its own: `Drop` cannot await). A
/// failed test keeps them, for a look at what it left.
impl Drop for TargetDb {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        // The sync user is `<schema>_sync` when that fits the server's name limit (the
        // schemas of these tests are short); a longer one would carry a hash suffix.
        let user = format!("{}_sync", self.schema.to_lowercase());
        let mut sql = match self.db {
            Db::Sqlite => return,
            Db::Postgres => vec![
                "SET lock_timeout = '10s'".to_owned(),
                format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.schema),
            ],
            Db::Mysql => vec![
                "SET SESSION lock_wait_timeout = 10".to_owned(),
                format!("DROP DATABASE IF EXISTS `{}`", self.schema),
            ],
        };
        match self.db {
            Db::Postgres if user.len() <= 63 => {
                sql.push(format!("DROP ROLE IF EXISTS \"{user}\""));
            }
            Db::Mysql if user.len() <= 32 => {
                sql.push(format!("DROP USER IF EXISTS '{user}'@'%'"));
            }
            _ => {}
        }
        let url = self.url.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                sqlx::any::install_default_drivers();
                let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&url).await?;
                for s in sql {
                    let _ = sqlx::Executor::execute(&mut conn, sqlx::AssertSqlSafe(s)).await;
                }
                Ok::<(), sqlx::Error>(())
            })
            .map_err(std::io::Error::other)
        })
        .join();
    }
}

/// A column of the row holding `sfid` in `object`'s table, as text (`None`: no such row, or
/// NULL).
pub async fn column_of(
    db: &TargetDb,
    pool: &AnyPool,
    object: &str,
    sfid: &str,
    column: &str,
) -> Option<String> {
    q(format!(
        "SELECT {column} AS v FROM {} WHERE sfid = '{sfid}'",
        db.table(object)
    ))
    .fetch_optional(pool)
    .await
    .unwrap()
    .and_then(|r| text(&r, "v"))
}

/// Text of a column that may be NULL, whatever its SQL type.
pub fn text(row: &sqlx::any::AnyRow, col: &str) -> Option<String> {
    row.try_get::<Option<String>, _>(col).ok().flatten()
}

/// A daemon with one org registered (device flow) against `sim`, its datasource on `db`,
/// schema generated and metadata downloaded.
pub struct SyncedOrg {
    pub daemon: Daemon,
    pub client: Client,
    pub org: String,
}

pub async fn setup_org(
    sim: &RunningSim,
    db: &TargetDb,
    org: &str,
    extra_config: &str,
) -> SyncedOrg {
    let daemon = Daemon::start_with_config(&format!(
        "[salesforce]\nclient_id = \"{}\"\nclient_secret = \"{}\"\n[sync]\npush_poll_ms = 100\noverlap_secs = 5\n{extra_config}",
        sim.info.client_id, sim.info.client_secret
    ));
    let client = daemon.client().await;
    client.subscribe(&[Topic::Orgs]).await.unwrap();
    prepare_org(&client, sim, db, org).await;
    SyncedOrg {
        daemon,
        client,
        org: org.into(),
    }
}

/// Registers `org` (device flow) against `sim` through `client` (subscribed to the Orgs
/// topic), sets its datasource on `db`, generates the schema and downloads the metadata.
pub async fn prepare_org(client: &Client, sim: &RunningSim, db: &TargetDb, org: &str) {
    let summary: OrgSummary = client
        .call(Call::OrgRegister(RegisterOrg {
            name: org.into(),
            org_type: OrgType::Custom(sim.info.login_url.clone()),
            flow: AuthFlow::Device,
            client_id: None,
            client_secret: None,
        }))
        .await
        .unwrap();
    let AuthState::Pending {
        step: PendingStep::Device { user_code, .. },
    } = &summary.auth
    else {
        panic!("{:?}", summary.auth)
    };
    assert!(sim.approve_device(user_code, true));
    org_where(client, org, |o| o.auth == AuthState::Authorized).await;
    let _: Value = client
        .call(Call::DatasourceSet(SetDatasource {
            org: org.into(),
            settings: db.settings.clone(),
        }))
        .await
        .unwrap();
    let check: datenator_shared::datasource::CheckReport = client
        .call(Call::DatasourceCheck(OrgRef { name: org.into() }))
        .await
        .unwrap();
    assert!(check.is_ok(), "{check:#?}");
    let _: Value = client
        .call(Call::SchemaGenerate(OrgRef { name: org.into() }))
        .await
        .unwrap();
    let _: Value = client
        .call(Call::MetadataDownload(OrgRef { name: org.into() }))
        .await
        .unwrap();
}

/// Maps `object` of `org` (`fields`, `direction`, the default conflict policy, no row
/// filter) through `client`, applying the plan.
pub async fn map_on(
    client: &Client,
    org: &str,
    object: &str,
    fields: &[&str],
    direction: Direction,
) {
    let _: Value = client
        .call(Call::MappingSave(SaveMapping {
            org: org.to_owned(),
            mapping: Mapping {
                object: object.into(),
                fields: fields.iter().map(|f| f.to_string()).collect(),
                direction,
                conflict_policy: Default::default(),
                row_filter: None,
            },
            apply: true,
            confirm_destructive: false,
            send_queued: false,
            leaving_rows: Default::default(),
        }))
        .await
        .unwrap();
}

impl SyncedOrg {
    pub async fn map(&self, object: &str, fields: &[&str], direction: Direction) {
        map_on(&self.client, &self.org, object, fields, direction).await;
    }

    pub async fn enable(&self, on: bool) {
        let _: Value = self
            .client
            .call(Call::OrgSetSync(SetSync {
                name: self.org.clone(),
                enabled: on,
            }))
            .await
            .unwrap();
    }

    /// Waits until the org's worker has polled Salesforce `polls` times since `sim`'s
    /// counters were last reset, nudging it with "sync now" meanwhile: evidence that rounds
    /// really ran, for a test that then asserts that something did *not* happen.
    ///
    /// A round pushes, then polls (one composite request for up to five pulled objects),
    /// then applies what it read, and rounds run one after another. So with one pulled
    /// object, of three polls counted after a reset the first may come from a round already
    /// under way, the second from a round that began after the reset, and the third shows
    /// that round finished: `polls = 3` proves one whole round (push and pull) after it.
    pub async fn polled_since_reset(&self, sim: &RunningSim, polls: u64) {
        let counted = || {
            sim.counters()
                .by_kind
                .get("composite")
                .copied()
                .unwrap_or(0)
        };
        eventually(&format!("{polls} polls of {}", self.org), || async {
            if counted() >= polls {
                return true;
            }
            self.sync_now().await;
            false
        })
        .await;
    }

    /// Sets how often the org is polled.
    pub async fn set_polling(&self, secs: u32) {
        let _: Value = self
            .client
            .call(Call::OrgSettings(datenator_shared::protocol::OrgSettings {
                name: self.org.clone(),
                polling_interval_secs: Some(secs),
                api_budget_percent: None,
            }))
            .await
            .unwrap();
    }

    pub async fn sync_now(&self) {
        let _: Value = self
            .client
            .call(Call::OrgSyncNow(OrgRef {
                name: self.org.clone(),
            }))
            .await
            .unwrap();
    }
}

/// Salesforce REST calls made the way any other Salesforce user would — with a client that
/// retries server errors and dropped connections and renews an expired session, since the
/// simulator's injected faults hit every client alike.
pub struct SfUser<'a> {
    pub sim: &'a RunningSim,
    http: reqwest::Client,
    token: std::sync::Mutex<String>,
}

impl<'a> SfUser<'a> {
    pub fn new(sim: &'a RunningSim) -> Self {
        SfUser {
            sim,
            http: reqwest::Client::new(),
            token: std::sync::Mutex::new(sim.access_token().to_owned()),
        }
    }

    fn url(&self, rest: &str) -> String {
        format!("{}/services/data/v59.0{rest}", self.sim.instance_url())
    }

    /// Sends until Salesforce gives a real answer. `once`: a create, which must not be
    /// repeated after a dropped answer (the test then looks the record up instead).
    async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
    ) -> (reqwest::StatusCode, Value) {
        for _ in 0..50 {
            let token = self.token.lock().unwrap().clone();
            let mut rb = self.http.request(method.clone(), url).bearer_auth(token);
            if let Some(b) = body {
                rb = rb.json(b);
            }
            match rb.send().await {
                Ok(r) if r.status() == 401 => {
                    *self.token.lock().unwrap() =
                        self.sim.new_access_token(None).expect("new token");
                }
                Ok(r) if r.status().is_server_error() => {}
                Ok(r) => {
                    let status = r.status();
                    let text = r.text().await.unwrap_or_default();
                    if status == 400 && text.contains("UNABLE_TO_LOCK_ROW") {
                        continue;
                    }
                    return (status, serde_json::from_str(&text).unwrap_or(Value::Null));
                }
                Err(_) => {}
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("Salesforce never answered {method} {url}");
    }

    /// Every record a query returns. Each `nextRecordsUrl` is good once (a page asked for
    /// again after a dropped answer is `INVALID_QUERY_LOCATOR`), so such a query starts over.
    pub async fn query(&self, soql: &str, all: bool) -> Vec<Value> {
        let first = self.url(&format!(
            "/{}?q={}",
            if all { "queryAll" } else { "query" },
            urlencode(soql)
        ));
        'query: for _ in 0..20 {
            let mut out = Vec::new();
            let mut next = Some(first.clone());
            while let Some(u) = next {
                let (status, v) = self.send(reqwest::Method::GET, &u, None).await;
                if status == 400 && v[0]["errorCode"] == "INVALID_QUERY_LOCATOR" {
                    continue 'query;
                }
                out.extend(v["records"].as_array().cloned().unwrap_or_default());
                next = v["nextRecordsUrl"]
                    .as_str()
                    .map(|p| format!("{}{p}", self.sim.instance_url()));
            }
            return out;
        }
        panic!("query {soql}: its cursor never lasted to the end");
    }

    pub async fn create(&self, object: &str, body: Value) -> String {
        let (status, v) = self
            .send(
                reqwest::Method::POST,
                &self.url(&format!("/sobjects/{object}")),
                Some(&body),
            )
            .await;
        assert_eq!(status, 201, "{v}");
        v["id"].as_str().unwrap_or_else(|| panic!("{v}")).to_owned()
    }

    pub async fn update(&self, object: &str, id: &str, body: Value) {
        let (status, v) = self
            .send(
                reqwest::Method::PATCH,
                &self.url(&format!("/sobjects/{object}/{id}")),
                Some(&body),
            )
            .await;
        assert!(status == 204 || status == 404, "{status} {v}");
    }

    pub async fn delete(&self, object: &str, id: &str) {
        let (status, v) = self
            .send(
                reqwest::Method::DELETE,
                &self.url(&format!("/sobjects/{object}/{id}")),
                None,
            )
            .await;
        assert!(status == 204 || status == 404, "{status} {v}");
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Waits, within [`TIMEOUT`], for an `orgs` topic event (`client` must be subscribed to it)
/// in which the org `name` satisfies `check`, and returns that org.
pub async fn org_where(
    client: &Client,
    name: &str,
    check: impl Fn(&OrgSummary) -> bool,
) -> OrgSummary {
    let what = format!("org {name} to reach the expected state");
    event_where(client, &what, TIMEOUT, |e| match e {
        Event::Orgs(orgs) => orgs.iter().find(|o| o.name == name && check(o)).cloned(),
        _ => None,
    })
    .await
}

/// Waits, within [`TIMEOUT`], for a `sync` topic event (`watcher` must be subscribed to it)
/// in which the status of `object` satisfies `check`, and returns that status; panics with
/// `what` otherwise.
pub async fn status_where(
    watcher: &Client,
    object: &str,
    what: &str,
    check: impl Fn(&ObjectStatus) -> bool,
) -> ObjectStatus {
    event_where(watcher, what, TIMEOUT, |e| match e {
        Event::Sync(objects) => objects
            .iter()
            .find(|o| o.object == object && check(o))
            .cloned(),
        _ => None,
    })
    .await
}

/// A query whose SQL the test wrote itself (names and values are fixed test data).
pub fn q(sql: String) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
    sqlx::query(sqlx::AssertSqlSafe(sql))
}

/// Every Account's phone on both sides, by Salesforce Id, and how many local rows have no
/// Salesforce Id yet: what the convergence checks compare.
#[derive(Debug, PartialEq)]
pub struct Phones {
    pub local: std::collections::BTreeMap<String, Option<String>>,
    pub remote: std::collections::BTreeMap<String, Option<String>>,
    pub unpushed: usize,
}

impl Phones {
    /// Both sides hold the same records and values, and every local row was pushed.
    pub fn converged(&self) -> bool {
        self.local == self.remote && self.unpushed == 0
    }
}

/// Reads [`Phones`]; fails only when the database does (it may be restarting).
pub async fn phones(db: &TargetDb, pool: &AnyPool, sf: &SfUser<'_>) -> Result<Phones, sqlx::Error> {
    let rows = q(format!("SELECT sfid, phone FROM {}", db.table("Account")))
        .fetch_all(pool)
        .await?;
    let unpushed = rows.iter().filter(|r| text(r, "sfid").is_none()).count();
    let local = rows
        .iter()
        .filter_map(|r| Some((text(r, "sfid")?, text(r, "phone"))))
        .collect();
    let remote = sf
        .query("SELECT Id, Phone FROM Account", false)
        .await
        .iter()
        .map(|r| {
            (
                r["Id"].as_str().unwrap().to_owned(),
                r["Phone"].as_str().map(str::to_owned),
            )
        })
        .collect();
    Ok(Phones {
        local,
        remote,
        unpushed,
    })
}
