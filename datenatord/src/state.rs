//! The daemon's shared state: a cheaply cloneable handle passed to every task.
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Utc};
use datenator_shared::model::{DaemonStatus, OrgSummary};
use datenator_shared::protocol::PROTOCOL_VERSION;
use tokio::sync::watch;

use crate::config::SalesforceSection;
use crate::engine::{Engine, EngineConfig};
use crate::ipc::access::AccessPolicy;
use crate::orgs::OrgRuntime;
use crate::store::{Store, StoreError};

pub const DAEMON_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Paths the daemon runs with, reported by `status`.
#[derive(Debug, Clone)]
pub struct Paths {
    pub socket: PathBuf,
    pub state_dir: PathBuf,
    pub config_file: Option<PathBuf>,
}

pub type State = Arc<DaemonState>;

pub struct DaemonState {
    pub started_at: DateTime<Utc>,
    pub paths: Paths,
    pub store: Store,
    connections: AtomicUsize,
    status: watch::Sender<DaemonStatus>,
    orgs: watch::Sender<Vec<OrgSummary>>,
    access: std::sync::RwLock<AccessPolicy>,
    salesforce: std::sync::RwLock<SalesforceSection>,
    /// Flows in progress and API handles, per org.
    pub orgs_runtime: OrgRuntime,
    /// The sync engine's workers and status board.
    pub engine: Engine,
    /// This daemon's membership of a fleet (a shared state database), once joined.
    fleet: std::sync::OnceLock<Arc<crate::fleet::Fleet>>,
}

impl DaemonState {
    pub async fn new(
        paths: Paths,
        store: Store,
        access: AccessPolicy,
        salesforce: SalesforceSection,
        engine: EngineConfig,
    ) -> Result<State, StoreError> {
        let orgs = store.org_summaries().await?;
        let started_at = Utc::now();
        let status = DaemonStatus {
            version: DAEMON_VERSION.into(),
            protocol: PROTOCOL_VERSION,
            pid: std::process::id(),
            started_at,
            uptime_secs: 0,
            socket_path: paths.socket.display().to_string(),
            state_dir: paths.state_dir.display().to_string(),
            config_file: paths.config_file.as_ref().map(|p| p.display().to_string()),
            orgs: orgs.len(),
            connections: 0,
            fleet: None,
        };
        Ok(Arc::new(DaemonState {
            started_at,
            paths,
            store,
            connections: AtomicUsize::new(0),
            status: watch::channel(status).0,
            orgs: watch::channel(orgs).0,
            access: std::sync::RwLock::new(access),
            salesforce: std::sync::RwLock::new(salesforce),
            orgs_runtime: OrgRuntime::default(),
            engine: Engine::new(engine),
            fleet: std::sync::OnceLock::new(),
        }))
    }

    /// The status as of now.
    pub fn status(&self) -> DaemonStatus {
        let mut s = self.status.borrow().clone();
        s.uptime_secs = (Utc::now() - self.started_at).num_seconds().max(0) as u64;
        s
    }

    pub fn subscribe_status(&self) -> watch::Receiver<DaemonStatus> {
        self.status.subscribe()
    }

    pub fn subscribe_orgs(&self) -> watch::Receiver<Vec<OrgSummary>> {
        self.orgs.subscribe()
    }

    pub fn orgs(&self) -> Vec<OrgSummary> {
        self.orgs.borrow().clone()
    }

    /// The fleet this daemon belongs to, if its state is shared.
    pub fn fleet(&self) -> Option<&Arc<crate::fleet::Fleet>> {
        self.fleet.get()
    }

    /// Joins a fleet (once, at start).
    pub fn set_fleet(&self, fleet: Arc<crate::fleet::Fleet>) {
        let _ = self.engine.set_fleet(fleet.clone());
        let _ = self.fleet.set(fleet);
    }

    /// The fleet's view changed: the status says so.
    pub fn fleet_changed(&self) {
        let view = self.fleet().map(|f| f.view());
        let started_at = self.started_at;
        self.status.send_if_modified(|s| {
            s.uptime_secs = (Utc::now() - started_at).num_seconds().max(0) as u64;
            let changed = s.fleet != view;
            s.fleet = view;
            changed
        });
    }

    /// Re-reads the org list from the store and tells subscribers when it changed.
    pub async fn refresh_orgs(&self) -> Result<(), StoreError> {
        let mut orgs = self.store.org_summaries().await?;
        for o in &mut orgs {
            o.api_forecast =
                self.orgs_runtime
                    .forecast(&o.name, o.polling_interval_secs, o.api_budget_percent);
            o.refresh_error = self.orgs_runtime.refresh_error(&o.name);
            o.event_allocation = self.orgs_runtime.event_allocation(&o.name);
            o.run_by = self.fleet().and_then(|f| f.holder(&o.name));
            // An org another daemon runs: what that daemon knows of it.
            if let Some(m) = self.fleet().and_then(|f| f.remote_memory(&o.name)) {
                o.api_forecast = m.api_forecast;
                o.event_allocation = m.event_allocation;
                o.refresh_error = m.refresh_error;
            }
        }
        let count = orgs.len();
        self.orgs.send_if_modified(|cur| {
            let changed = *cur != orgs;
            *cur = orgs;
            changed
        });
        self.update_status(|s| s.orgs = count);
        Ok(())
    }

    pub fn connection_opened(&self) {
        let n = self.connections.fetch_add(1, Ordering::SeqCst) + 1;
        self.update_status(|s| s.connections = n);
    }

    pub fn connection_closed(&self) {
        let n = self
            .connections
            .fetch_sub(1, Ordering::SeqCst)
            .saturating_sub(1);
        self.update_status(|s| s.connections = n);
    }

    fn update_status(&self, change: impl FnOnce(&mut DaemonStatus)) {
        let started_at = self.started_at;
        self.status.send_if_modified(|s| {
            let before = s.clone();
            change(s);
            s.uptime_secs = (Utc::now() - started_at).num_seconds().max(0) as u64;
            s.orgs != before.orgs || s.connections != before.connections
        });
    }

    pub fn access(&self) -> AccessPolicy {
        self.access
            .read()
            .map(|a| a.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// The `[salesforce]` section of the configuration in force.
    pub fn salesforce(&self) -> SalesforceSection {
        self.salesforce
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    pub fn set_salesforce(&self, section: SalesforceSection) {
        match self.salesforce.write() {
            Ok(mut s) => *s = section,
            Err(e) => *e.into_inner() = section,
        }
    }

    pub fn set_access(&self, policy: AccessPolicy) {
        match self.access.write() {
            Ok(mut a) => *a = policy,
            Err(e) => *e.into_inner() = policy,
        }
    }
}
