//! The simulator handle: configuration, shared state, starting the server, and the
//! in-process control methods (the same operations as the admin API).

use crate::accounting::Counters;
use crate::bulk::BulkState;
use crate::faults::{FaultConfig, Faults};
use crate::oauth::{AuthState, ConnectedApp};
use crate::store::Org;
use anyhow::Context;

use crate::spelling::SpellingAcceptor;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Everything a simulator is started with.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// API version the org reports as current (e.g. "59.0").
    pub api_version: String,
    /// Seed for generated data, tokens and faults.
    pub seed: u64,
    pub token_lifetime: Duration,
    /// DailyApiRequests allocation.
    pub api_limit: u64,
    pub faults: FaultConfig,
    /// Serve HTTPS with a generated self-signed certificate.
    pub tls: bool,
    /// Where the CA certificate is written when serving TLS (a temp path when `None`).
    pub cert_dir: Option<PathBuf>,
    /// Load the org from this file at start and save it there on `save()` and shutdown.
    pub state_file: Option<PathBuf>,
    /// Records to generate at start, per object name.
    pub seed_counts: Vec<(String, usize)>,
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uris: Vec<String>,
    /// PEM certificate or public key that JWT bearer assertions must be signed for.
    pub jwt_cert_pem: Option<String>,
    /// Issue a new refresh token on every refresh.
    pub rotate_refresh_tokens: bool,
    /// Device flow: minimum time between polls before `slow_down`.
    pub device_poll_interval: Duration,
    /// Connected apps besides the default one.
    pub extra_apps: Vec<ConnectedApp>,
    /// With a state file: also save it this often while serving.
    pub autosave_every: Option<Duration>,
    /// Concurrent long-running requests the org serves (Developer Edition and trial orgs 5,
    /// production orgs and sandboxes 25); while that many run, new requests are refused
    /// with `REQUEST_LIMIT_EXCEEDED`.
    pub concurrent_long_requests: usize,
    /// How long a request runs before it counts as long-running (Salesforce: 20 seconds).
    pub long_request_after: Duration,
    /// How long a Streaming API long poll (`/meta/connect`) is held without events
    /// (Salesforce: 110 seconds; tests use less).
    pub streaming_poll_timeout: Duration,
    /// Changes in one transaction past which Change Data Capture sends `GAP_OVERFLOW`
    /// events (Salesforce: 100,000).
    pub cdc_overflow_threshold: usize,
    /// Events delivered to streaming clients per 24 hours (`DailyDeliveredPlatformEvents`;
    /// Developer Edition 10,000).
    pub event_delivery_limit: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_version: crate::http::CURRENT_VERSION.into(),
            seed: 1,
            token_lifetime: Duration::from_secs(2 * 3600),
            api_limit: 15_000,
            faults: FaultConfig::default(),
            tls: false,
            cert_dir: None,
            state_file: None,
            seed_counts: vec![],
            client_id: "3MVG9sfsim.default.connected.app".into(),
            client_secret: "sfsim-client-secret".into(),
            redirect_uris: vec![
                "http://localhost:1717/OauthRedirect".into(),
                "http://127.0.0.1:1717/OauthRedirect".into(),
            ],
            jwt_cert_pem: None,
            rotate_refresh_tokens: false,
            device_poll_interval: Duration::from_secs(5),
            extra_apps: vec![],
            autosave_every: None,
            concurrent_long_requests: 5,
            long_request_after: Duration::from_secs(20),
            streaming_poll_timeout: Duration::from_secs(110),
            cdc_overflow_threshold: 100_000,
            event_delivery_limit: 10_000,
        }
    }
}

impl SimConfig {
    /// A small, lively org for the demo mode: related sample records of every object.
    /// Pair it with `start_changes(ChangeSpec::default())` for a trickle of changes.
    pub fn demo() -> SimConfig {
        let counts = [
            ("Account", 200),
            ("Contact", 400),
            ("Lead", 100),
            ("Opportunity", 150),
            ("Case", 100),
            ("Invoice__c", 150),
        ];
        SimConfig {
            seed_counts: counts.iter().map(|(o, n)| (o.to_string(), *n)).collect(),
            ..SimConfig::default()
        }
    }
}

/// What a started simulator tells its user (the binary prints it as one JSON line).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StartInfo {
    pub instance_url: String,
    pub login_url: String,
    pub org_id: String,
    pub username: String,
    pub client_id: String,
    pub client_secret: String,
    pub access_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_cert_path: Option<PathBuf>,
}

pub(crate) struct Shared {
    pub cfg: SimConfig,
    pub org: Mutex<Org>,
    pub auth: Mutex<AuthState>,
    pub acct: Mutex<Counters>,
    pub faults: Mutex<Faults>,
    pub cursors: Mutex<HashMap<String, crate::rest::query::Cursor>>,
    pub bulk: Mutex<BulkState>,
    pub base_url: Mutex<String>,
    pub generator: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// API requests being served, by a sequence number: when each started.
    pub in_flight: Mutex<(u64, HashMap<u64, std::time::Instant>)>,
    /// The Streaming API: event log, clients, allocation (locked after `org`, never before).
    pub stream: Mutex<crate::streaming::StreamState>,
    /// The last published replay id; wakes held long polls.
    pub stream_tx: tokio::sync::watch::Sender<u64>,
}

/// An API request being served; dropping it ends it.
pub(crate) struct InFlight {
    sim: Sim,
    n: u64,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        lock(&self.sim.0.in_flight).1.remove(&self.n);
    }
}

/// A cheap, cloneable handle on one simulated org.
#[derive(Clone)]
pub struct Sim(pub(crate) Arc<Shared>);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Sim {
    /// Builds the org (loading the state file or generating seed data) without serving it.
    pub fn new(cfg: SimConfig) -> anyhow::Result<Sim> {
        let org_id = crate::ids::make_id("00D", cfg.seed.max(1));
        let mut org = match &cfg.state_file {
            Some(p) if p.exists() => {
                let text = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
                let mut org: Org = serde_json::from_slice(&text)
                    .with_context(|| format!("parsing {}", p.display()))?;
                org.after_load();
                org
            }
            _ => Org::new(&org_id),
        };
        for (obj, n) in &cfg.seed_counts {
            crate::datagen::generate(&mut org, obj, *n, cfg.seed).map_err(anyhow::Error::msg)?;
        }
        let app = ConnectedApp {
            name: "sfsim".into(),
            client_id: cfg.client_id.clone(),
            client_secret: cfg.client_secret.clone(),
            redirect_uris: cfg.redirect_uris.clone(),
            require_secret: true,
            jwt_cert_pem: cfg.jwt_cert_pem.clone(),
            rotate_refresh_tokens: cfg.rotate_refresh_tokens,
        };
        org.late_visibility = (cfg.faults.late_visibility_ms > 0)
            .then(|| Duration::from_millis(cfg.faults.late_visibility_ms));
        let last_replay_id = org.cdc_last_replay_id;
        let mut apps = vec![app];
        apps.extend(cfg.extra_apps.iter().cloned());
        let mut auth = AuthState::new(apps, cfg.token_lifetime, cfg.seed);
        auth.device_interval = cfg.device_poll_interval;
        Ok(Sim(Arc::new(Shared {
            org: Mutex::new(org),
            auth: Mutex::new(auth),
            acct: Mutex::new(Counters::new(cfg.api_limit)),
            faults: Mutex::new(Faults::new(cfg.faults.clone())),
            cursors: Mutex::new(HashMap::new()),
            bulk: Mutex::new(BulkState::default()),
            base_url: Mutex::new(String::new()),
            generator: Mutex::new(None),
            in_flight: Mutex::new((0, HashMap::new())),
            stream: Mutex::new(
                crate::streaming::StreamState::new(
                    cfg.streaming_poll_timeout,
                    cfg.cdc_overflow_threshold,
                    cfg.event_delivery_limit,
                )
                .resumed_after(last_replay_id),
            ),
            stream_tx: tokio::sync::watch::channel(0).0,
            cfg,
        })))
    }

    /// Starts serving on the configured address.
    pub async fn start(cfg: SimConfig) -> anyhow::Result<RunningSim> {
        let sim = Sim::new(cfg)?;
        sim.serve().await
    }

    /// Serves this org over HTTP(S) until the returned handle is shut down or dropped.
    pub async fn serve(self) -> anyhow::Result<RunningSim> {
        let cfg = self.0.cfg.clone();
        let std_listener = std::net::TcpListener::bind(cfg.listen)
            .with_context(|| format!("binding {}", cfg.listen))?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let scheme = if cfg.tls { "https" } else { "http" };
        let host = if addr.ip().is_loopback() && cfg.tls {
            "localhost".to_string()
        } else {
            addr.ip().to_string()
        };
        let base = format!("{scheme}://{host}:{}", addr.port());
        *lock(&self.0.base_url) = base.clone();
        let app = crate::http::router(self.clone());
        let handle = axum_server::Handle::new();
        let mut ca_cert_path = None;
        let task = if cfg.tls {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let certs = crate::tls::generate(&["localhost", "127.0.0.1"])?;
            let dir = match &cfg.cert_dir {
                Some(d) => d.clone(),
                None => std::env::temp_dir().join(format!(
                    "sfsim-{}-{}",
                    std::process::id(),
                    addr.port()
                )),
            };
            std::fs::create_dir_all(&dir)?;
            let path = dir.join("sfsim-ca.pem");
            std::fs::write(&path, &certs.ca_pem)?;
            ca_cert_path = Some(path);
            let tls = axum_server::tls_rustls::RustlsConfig::from_pem(
                certs.server_pem.into_bytes(),
                certs.server_key_pem.into_bytes(),
            )
            .await?;
            let mut server = axum_server::from_tcp_rustls(std_listener, tls)
                .map(SpellingAcceptor)
                .handle(handle.clone());
            server.http_builder().http1().title_case_headers(true);
            tokio::spawn(async move {
                if let Err(e) = server.serve(app.into_make_service()).await {
                    tracing::error!("sfsim server: {e}");
                }
            })
        } else {
            let mut server = axum_server::from_tcp(std_listener)
                .map(SpellingAcceptor)
                .handle(handle.clone());
            server.http_builder().http1().title_case_headers(true);
            tokio::spawn(async move {
                if let Err(e) = server.serve(app.into_make_service()).await {
                    tracing::error!("sfsim server: {e}");
                }
            })
        };
        let (org_id, username, user_id) = {
            let org = lock(&self.0.org);
            let uid = org.admin_user_id.clone();
            (org.org_id.clone(), "admin@sfsim.example".to_string(), uid)
        };
        if let (Some(every), Some(_)) = (cfg.autosave_every, &cfg.state_file) {
            let weak = Arc::downgrade(&self.0);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let Some(shared) = weak.upgrade() else { break };
                    let s = Sim(shared);
                    if let Err(e) = tokio::task::spawn_blocking(move || s.save())
                        .await
                        .unwrap_or(Ok(()))
                    {
                        tracing::warn!("sfsim autosave: {e}");
                    }
                }
            });
        }
        let access_token = lock(&self.0.auth)
            .mint_session(&org_id, &user_id, &cfg.client_id, "api refresh_token", None)
            .0;
        let info = StartInfo {
            instance_url: base.clone(),
            login_url: base,
            org_id,
            username,
            client_id: cfg.client_id.clone(),
            client_secret: cfg.client_secret.clone(),
            access_token,
            ca_cert_path,
        };
        Ok(RunningSim {
            info,
            addr,
            sim: self,
            handle,
            task: Some(task),
        })
    }

    pub(crate) fn org(&self) -> MutexGuard<'_, Org> {
        lock(&self.0.org)
    }
    pub(crate) fn auth(&self) -> MutexGuard<'_, AuthState> {
        lock(&self.0.auth)
    }
    pub(crate) fn acct(&self) -> MutexGuard<'_, Counters> {
        lock(&self.0.acct)
    }
    pub(crate) fn faults(&self) -> MutexGuard<'_, Faults> {
        lock(&self.0.faults)
    }
    pub(crate) fn cursors(&self) -> MutexGuard<'_, HashMap<String, crate::rest::query::Cursor>> {
        lock(&self.0.cursors)
    }
    pub(crate) fn bulk(&self) -> MutexGuard<'_, BulkState> {
        lock(&self.0.bulk)
    }
    pub(crate) fn stream(&self) -> MutexGuard<'_, crate::streaming::StreamState> {
        lock(&self.0.stream)
    }
    pub(crate) fn stream_watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.0.stream_tx.subscribe()
    }
    pub(crate) fn notify_stream(&self, last: u64) {
        self.0.stream_tx.send_replace(last);
    }
    /// Wakes held long polls (a client forgotten or a subscription added).
    pub(crate) fn wake_stream(&self) {
        self.0.stream_tx.send_modify(|_| {});
    }
    /// Admits a new API request unless the org's concurrent long-running requests are at
    /// their limit (`None`: refuse it).
    pub(crate) fn admit_request(&self) -> Option<InFlight> {
        let mut f = lock(&self.0.in_flight);
        let after = self.0.cfg.long_request_after;
        let long = f.1.values().filter(|t| t.elapsed() >= after).count();
        if long >= self.0.cfg.concurrent_long_requests {
            return None;
        }
        f.0 += 1;
        let n = f.0;
        f.1.insert(n, std::time::Instant::now());
        Some(InFlight {
            sim: self.clone(),
            n,
        })
    }

    pub(crate) fn cfg(&self) -> &SimConfig {
        &self.0.cfg
    }
    pub fn base_url(&self) -> String {
        lock(&self.0.base_url).clone()
    }
    pub fn api_version(&self) -> &str {
        &self.0.cfg.api_version
    }

    /// Runs `f` with the org locked (for in-process inspection and changes).
    pub fn with_org<R>(&self, f: impl FnOnce(&mut Org) -> R) -> R {
        let r = f(&mut self.org());
        self.publish_changes();
        r
    }

    /// The API counters (what a sync spent).
    pub fn counters(&self) -> Counters {
        self.acct().clone()
    }

    pub fn reset_counters(&self) {
        self.acct().reset();
    }

    /// Sets the used part of the daily allocation (e.g. to the limit, to exhaust it).
    pub fn set_api_usage(&self, used: u64, limit: Option<u64>) {
        let mut a = self.acct();
        a.set_usage(used);
        if let Some(l) = limit {
            a.api_limit = l;
        }
    }

    pub fn set_faults(&self, cfg: FaultConfig) {
        self.org().late_visibility =
            (cfg.late_visibility_ms > 0).then(|| Duration::from_millis(cfg.late_visibility_ms));
        self.faults().set(cfg);
    }

    pub fn faults_config(&self) -> FaultConfig {
        self.faults().cfg.clone()
    }

    /// Registers (or replaces) a connected app.
    pub fn add_connected_app(&self, app: ConnectedApp) {
        self.auth().add_app(app);
    }

    /// Makes every change held back by the late-visibility fault visible now.
    pub fn reveal_late_changes(&self) {
        self.org().hidden.clear();
    }

    /// Releases every open query cursor now, as Salesforce does with idle or surplus ones:
    /// each `nextRecordsUrl` handed out so far answers `INVALID_QUERY_LOCATOR`.
    pub fn release_query_cursors(&self) -> usize {
        let mut c = self.cursors();
        let n = c.len();
        c.clear();
        n
    }

    /// Expires every access token now (refresh tokens stay valid).
    pub fn expire_sessions(&self) {
        self.auth().expire_all();
    }

    /// Revokes every refresh token and access token (an admin blocking the app).
    pub fn revoke_all_tokens(&self) {
        self.auth().revoke_all();
    }

    /// Approves (or denies) a pending device-flow user code.
    pub fn approve_device(&self, user_code: &str, approve: bool) -> bool {
        let uid = self.org().admin_user_id.clone();
        self.auth().decide_device(user_code, &uid, approve)
    }

    /// Mints a session for a user of the org, as if they had logged in.
    pub fn new_access_token(&self, username: Option<&str>) -> Option<String> {
        let (org_id, uid) = {
            let org = self.org();
            let uid = match username {
                Some(u) => org.user_id_by_username(u)?,
                None => org.admin_user_id.clone(),
            };
            (org.org_id.clone(), uid)
        };
        let cid = self.cfg().client_id.clone();
        Some(self.auth().mint_session(&org_id, &uid, &cid, "api", None).0)
    }

    /// Creates a record as the admin user would through the API, but in-process and
    /// uncounted (a change "someone else" makes in the org; its change event's origin is
    /// Lightning Experience's).
    pub fn create(
        &self,
        object: &str,
        fields: serde_json::Value,
    ) -> Result<String, crate::store::DmlError> {
        let raw = crate::rest::sobjects::raw_fields(&fields)?;
        let _origin =
            crate::streaming::Origin::set(crate::streaming::ui_origin(self.api_version()));
        let mut org = self.org();
        let user = org.admin_user_id.clone();
        let ctx = org.ctx(&user);
        let r = org.insert(object, &raw, &ctx);
        drop(org);
        self.publish_changes();
        r
    }

    /// Updates a record in-process (LastModifiedDate and SystemModstamp move).
    pub fn update(
        &self,
        id: &str,
        fields: serde_json::Value,
    ) -> Result<(), crate::store::DmlError> {
        let raw = crate::rest::sobjects::raw_fields(&fields)?;
        let _origin =
            crate::streaming::Origin::set(crate::streaming::ui_origin(self.api_version()));
        let mut org = self.org();
        let user = org.admin_user_id.clone();
        let ctx = org.ctx(&user);
        let r = org.update(None, id, &raw, &ctx);
        drop(org);
        self.publish_changes();
        r
    }

    /// Deletes a record in-process (to the recycle bin).
    pub fn delete(&self, id: &str) -> Result<(), crate::store::DmlError> {
        let _origin =
            crate::streaming::Origin::set(crate::streaming::ui_origin(self.api_version()));
        let mut org = self.org();
        let user = org.admin_user_id.clone();
        let ctx = org.ctx(&user);
        let r = org.delete(None, id, &ctx);
        drop(org);
        self.publish_changes();
        r
    }

    /// Restores a record from the recycle bin (what a user does in the Recycle Bin).
    pub fn undelete(&self, id: &str) -> Result<(), crate::store::DmlError> {
        let _origin =
            crate::streaming::Origin::set(crate::streaming::ui_origin(self.api_version()));
        let mut org = self.org();
        let user = org.admin_user_id.clone();
        let ctx = org.ctx(&user);
        let r = org.undelete(id, &ctx);
        drop(org);
        self.publish_changes();
        r
    }

    /// Runs SOQL in-process and uncounted; rows as the REST API renders them.
    pub fn query(
        &self,
        soql: &str,
        include_deleted: bool,
    ) -> Result<Vec<serde_json::Value>, crate::soql::SoqlError> {
        let org = self.org();
        let c = crate::soql::eval::compile(&org, soql)?;
        let ids = c.run(&org, include_deleted);
        Ok(ids
            .iter()
            .map(|id| c.render(&org, id, self.api_version()))
            .collect())
    }

    /// Generates `n` seeded records of an object.
    pub fn seed_records(&self, object: &str, n: usize, seed: u64) -> Result<Vec<String>, String> {
        let r = crate::datagen::generate(&mut self.org(), object, n, seed);
        self.publish_changes();
        r
    }

    /// A change that did not come through the API: SystemModstamp moves, LastModifiedDate
    /// does not; `set` fields are written without validation (like a roll-up).
    pub fn system_touch(
        &self,
        id: &str,
        set: &[(String, serde_json::Value)],
    ) -> Result<(), String> {
        let r = self
            .org()
            .system_touch(id, set)
            .map(|_| ())
            .map_err(|e| e.message);
        self.publish_changes();
        r
    }

    /// How many days deleted records stay in the recycle bin (older ones are purged when
    /// the bin is next read).
    pub fn set_recycle_retention(&self, days: i64) {
        self.org().retention_days = days;
    }

    pub fn purge_recycle_bin(&self) -> usize {
        self.org().purge(None)
    }

    /// Starts the change generator (`per_second` changes, mixed create/update/delete).
    pub fn start_changes(&self, spec: crate::datagen::ChangeSpec) {
        self.stop_changes();
        let sim = self.clone();
        let h = tokio::spawn(async move { crate::datagen::run_changes(sim, spec).await });
        *lock(&self.0.generator) = Some(h);
    }

    pub fn stop_changes(&self) {
        if let Some(h) = lock(&self.0.generator).take() {
            h.abort();
        }
    }

    /// Writes the org to the configured state file.
    pub fn save(&self) -> anyhow::Result<()> {
        if let Some(p) = &self.cfg().state_file {
            let last = self.stream().last_replay_id();
            let text = {
                let mut org = self.org();
                org.cdc_last_replay_id = last;
                serde_json::to_vec(&*org)?
            };
            let tmp = p.with_extension("tmp");
            std::fs::write(&tmp, text)?;
            std::fs::rename(&tmp, p)?;
        }
        Ok(())
    }
}

/// A simulator serving on a socket.
pub struct RunningSim {
    pub info: StartInfo,
    pub addr: SocketAddr,
    pub sim: Sim,
    handle: axum_server::Handle,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningSim {
    pub fn instance_url(&self) -> &str {
        &self.info.instance_url
    }
    pub fn access_token(&self) -> &str {
        &self.info.access_token
    }
    /// `{instance_url}/services/data/v{version}`.
    pub fn data_url(&self) -> String {
        format!(
            "{}/services/data/v{}",
            self.info.instance_url,
            self.sim.api_version()
        )
    }

    /// Stops serving (and saves the state file, if any).
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.sim.stop_changes();
        self.handle.graceful_shutdown(Some(Duration::from_secs(2)));
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.sim.save()
    }
}

/// Dropping the handle stops the server and the change generator (without saving).
impl Drop for RunningSim {
    fn drop(&mut self) {
        self.sim.stop_changes();
        self.handle.shutdown();
    }
}

impl std::ops::Deref for RunningSim {
    type Target = Sim;
    fn deref(&self) -> &Sim {
        &self.sim
    }
}
