//! Several daemons sharing the orgs through one PostgreSQL state database (`[daemon]
//! state_url`), with no coordinator of our own:
//!
//! * **Members**: each daemon heartbeats a row (`fleet_members`) every third of the lease
//!   TTL; one silent for a TTL, or marked leaving at its stop, is no longer live.
//! * **Placement** ([`placement`]): every daemon computes, from the same live list, which
//!   daemon should run each org with sync on (an operator's pin first, else rendezvous
//!   hashing); a daemon joining or leaving moves only its share.
//! * **Leases with fencing** (`fleet_leases`): a daemon runs an org only while it holds the
//!   org's lease — a holder, a fencing token that only grows, an expiry its heartbeat
//!   pushes forward. A daemon that cannot renew in time stops the org's work before the
//!   lease expires (its own clock, counted from before the renewal was sent, with a
//!   margin); every write the engine commits to the target checks the token stored there
//!   (`targetdb::fence`), so a daemon paused past its lease commits nothing after the next
//!   holder took over; its Salesforce requests check [`Fleet::holds`] first.
//! * **One view**: holders publish their orgs' live status (`fleet_status`); every daemon
//!   shows the whole fleet, and forwards "sync now" and wake-ups to the holder (`NOTIFY`).
pub mod placement;
mod run;

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use datenator_shared::model::{FleetMember, FleetView};
use tokio::sync::Notify;

pub use run::{RunnerMemory, leave, run};

use crate::store::fleet as sql;
use crate::store::{Store, StoreError};

/// The channel the fleet's daemons LISTEN on.
pub const CHANNEL: &str = "datenator_fleet";

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error(
        "another daemon named {name} is live in the fleet (on {host}, pid {pid}): give each daemon its own name with [daemon] name"
    )]
    NameTaken {
        name: String,
        host: String,
        pid: i64,
    },
}

/// An org's lease as this daemon holds it.
#[derive(Debug)]
pub struct Lease {
    /// The fencing token: every target write of this holder carries it.
    pub token: i64,
    /// Until when this daemon may act for the org, on [`clock`].
    deadline: Mutex<Duration>,
    /// Set once its work is being handed to another daemon.
    releasing: AtomicBool,
    /// Set once a worker claimed the org's target under it: a later claim (a worker
    /// started again under the same lease) finds its own token stored.
    pub claimed: AtomicBool,
}

impl Lease {
    fn new(token: i64, deadline: Duration) -> Lease {
        Lease {
            token,
            deadline: Mutex::new(deadline),
            releasing: AtomicBool::new(false),
            claimed: AtomicBool::new(false),
        }
    }

    /// Whether this daemon may act for the org.
    pub fn valid(&self) -> bool {
        clock() < *lock(&self.deadline)
    }

    fn extend(&self, until: Duration) {
        *lock(&self.deadline) = until;
    }
}

/// The clock leases are counted on here: time since boot, suspended time included
/// (`CLOCK_BOOTTIME`), so a host that slept wakes with its leases run out.
pub fn clock() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME)
        .map(Duration::from)
        .unwrap_or_else(|_| {
            static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
            START.get_or_init(Instant::now).elapsed()
        })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// This daemon's membership of the fleet.
pub struct Fleet {
    /// Its name in the fleet.
    pub id: String,
    host: String,
    instance: String,
    started_ms: i64,
    ttl: Duration,
    store: Store,
    url: String,
    held: Mutex<HashMap<String, Arc<Lease>>>,
    /// Set once the daemon stops: no org is taken any more.
    leaving: AtomicBool,
    /// Who runs each org, as last read.
    holders: Mutex<HashMap<String, String>>,
    /// What the daemons running the other orgs know of them, as last read.
    remote: Mutex<HashMap<String, RunnerMemory>>,
    view: Mutex<FleetView>,
    poke: Notify,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("id", &self.id)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Fleet {
    /// Joins the fleet whose state is `store` (at `url`) as `name` (default: the host name).
    /// A daemon of the same name that went silent (this one, restarted) is waited out for
    /// a TTL, so its leases expire first; one still heartbeating is refused.
    pub async fn join(
        store: Store,
        url: &str,
        name: Option<&str>,
        ttl: Duration,
    ) -> Result<Arc<Fleet>, FleetError> {
        let host = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".into());
        let id = name.map(str::to_owned).unwrap_or_else(|| host.clone());
        let ttl = ttl.max(Duration::from_secs(3));
        let fleet = Arc::new(Fleet {
            id: id.clone(),
            host,
            instance: format!("{:016x}", rand::random::<u64>()),
            started_ms: chrono::Utc::now().timestamp_millis(),
            ttl,
            store,
            url: url.to_owned(),
            held: Mutex::new(HashMap::new()),
            leaving: AtomicBool::new(false),
            holders: Mutex::new(HashMap::new()),
            remote: Mutex::new(HashMap::new()),
            view: Mutex::new(FleetView {
                me: id.clone(),
                members: Vec::new(),
            }),
            poke: Notify::new(),
        });
        let until = Instant::now() + ttl * 2 + Duration::from_secs(1);
        while let Some(m) = sql::member(&fleet.store, &id).await? {
            let live = !m.leaving && m.silent_ms < ttl.as_millis() as i64;
            if !live {
                break;
            }
            if Instant::now() > until {
                return Err(FleetError::NameTaken {
                    name: id,
                    host: m.host,
                    pid: m.pid,
                });
            }
            tracing::info!(
                daemon = %id,
                "a daemon of this name was live a moment ago (this one before a restart?): waiting for its leases to expire"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        fleet.heartbeat(0, 0).await?;
        tracing::info!(daemon = %id, ttl_secs = ttl.as_secs(), "joined the fleet");
        Ok(fleet)
    }

    async fn heartbeat(&self, orgs: usize, connections: usize) -> Result<(), StoreError> {
        sql::heartbeat(
            &self.store,
            &self.id,
            &self.host,
            self.started_ms,
            &sql::Health {
                instance: self.instance.clone(),
                orgs,
                connections,
            },
        )
        .await
    }

    /// The lease this daemon holds on `org`, if any.
    pub fn lease(&self, org: &str) -> Option<Arc<Lease>> {
        lock(&self.held).get(org).cloned()
    }

    /// Drops the lease with `token` from those held here (not a newer one of the same org).
    fn drop_lease(&self, org: &str, token: i64) -> bool {
        let mut held = lock(&self.held);
        if held.get(org).is_some_and(|l| l.token == token) {
            held.remove(org);
            true
        } else {
            false
        }
    }

    /// The org's worker found it was taken over (its writes fenced, `stored`: the token the
    /// target holds, when it said): the lease is no longer this daemon's. The lease row's
    /// token is raised to the target's (a state database restored from a backup would
    /// otherwise hand out tokens the target refuses), and the next round decides again.
    pub fn forget_lease(self: &Arc<Self>, org: &str, token: i64, stored: Option<i64>) {
        if self.drop_lease(org, token) {
            let (fleet, org) = (self.clone(), org.to_owned());
            tokio::spawn(async move {
                let raised = match stored {
                    Some(stored) => sql::raise_token(&fleet.store, &org, stored).await,
                    None => Ok(()),
                };
                let released = match raised {
                    Ok(()) => sql::release(&fleet.store, &org, &fleet.id, token).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = released {
                    tracing::warn!(org = %org, "cannot give the lease up ({e}): it runs out by itself");
                }
                fleet.poke();
            });
        }
    }

    /// Whether `lease` is still this daemon's lease on `org`, not run out: what a worker
    /// started under it asks before each request.
    pub fn holds(&self, org: &str, lease: &Arc<Lease>) -> bool {
        lock(&self.held)
            .get(org)
            .is_some_and(|l| Arc::ptr_eq(l, lease))
            && lease.valid()
    }

    /// The daemon stops: it takes no org any more (its leases are renewed until its
    /// workers have stopped, then released by [`leave`]).
    pub fn begin_leaving(&self) {
        self.leaving
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether no other daemon of the fleet is live.
    pub async fn alone(&self) -> Result<bool, StoreError> {
        let ttl = self.ttl.as_millis() as i64;
        Ok(!sql::members(&self.store)
            .await?
            .iter()
            .any(|m| m.id != self.id && !m.leaving && m.silent_ms < ttl))
    }

    /// Waits until no daemon holds `org`'s lease (its work stopped), at most `timeout`.
    pub async fn wait_released(&self, org: &str, timeout: Duration) -> Result<bool, StoreError> {
        let until = Instant::now() + timeout;
        loop {
            if !sql::holders(&self.store)
                .await?
                .iter()
                .any(|(o, _)| o == org)
            {
                return Ok(true);
            }
            if Instant::now() > until {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The lease TTL.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The daemon that runs `org`, as last read.
    pub fn holder(&self, org: &str) -> Option<String> {
        lock(&self.holders).get(org).cloned()
    }

    /// What the daemon that runs `org` (another one) knows of it, as last read.
    pub fn remote_memory(&self, org: &str) -> Option<RunnerMemory> {
        lock(&self.remote).get(org).cloned()
    }

    /// The fleet as last read.
    pub fn view(&self) -> FleetView {
        lock(&self.view).clone()
    }

    /// Runs a placement round now rather than at the next heartbeat.
    pub fn poke(&self) {
        self.poke.notify_one();
    }

    /// Tells every daemon of the fleet (this one too) something (see [`Forward`]).
    pub fn forward(self: &Arc<Self>, what: Forward, org: &str) {
        let (fleet, payload) = (self.clone(), what.payload(org));
        tokio::spawn(async move {
            if let Err(e) = sql::notify(&fleet.store, &payload).await {
                tracing::warn!("cannot tell the fleet ({payload}): {e}");
            }
        });
    }

    fn margin(&self) -> Duration {
        (self.ttl / 5).max(Duration::from_secs(1))
    }

    /// A member as the view shows it.
    fn member_view(&self, m: &sql::Member, running: usize) -> FleetMember {
        FleetMember {
            name: m.id.clone(),
            host: m.host.clone(),
            pid: m.pid as u32,
            version: m.version.clone(),
            live: !m.leaving && m.silent_ms < self.ttl.as_millis() as i64,
            leaving: m.leaving,
            silent_secs: (m.silent_ms.max(0) as f64) / 1000.0,
            orgs: running,
            connections: m.health.connections,
            me: m.id == self.id,
        }
    }
}

/// `org_pin`: runs the org on the named daemon while it is live (`None`: placed by hashing
/// again). The daemon must be a member of the fleet.
pub async fn pin(
    state: &crate::state::State,
    req: datenator_shared::protocol::PinOrg,
) -> Result<datenator_shared::model::OrgSummary, crate::error::DaemonError> {
    use crate::error::{DaemonError, store_error};
    let Some(fleet) = state.fleet() else {
        return Err(DaemonError::rejected(
            "this daemon is not part of a fleet (no [daemon] state_url): every org runs here, there is nothing to pin",
        ));
    };
    crate::orgs::summary(state, &req.name)?;
    if let Some(daemon) = &req.daemon {
        let members = sql::members(&fleet.store).await.map_err(store_error)?;
        if !members.iter().any(|m| &m.id == daemon) {
            let names: Vec<&str> = members.iter().map(|m| m.id.as_str()).collect();
            return Err(DaemonError::rejected(format!(
                "no daemon named {daemon:?} in the fleet; its members: {}",
                names.join(", ")
            )));
        }
    }
    if !sql::pin(&fleet.store, &req.name, req.daemon.as_deref())
        .await
        .map_err(store_error)?
    {
        return Err(DaemonError::no_org(&req.name));
    }
    tracing::info!(org = %req.name, daemon = ?req.daemon, "org pinned");
    fleet.forward(Forward::Placement, &req.name);
    state.refresh_orgs().await.map_err(store_error)?;
    crate::orgs::summary(state, &req.name)
}

/// What one daemon asks of the daemon that runs an org.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forward {
    /// Run the org's worker now (a mapping or setting changed).
    Wake,
    /// Pull every object now ("sync now").
    PullNow,
    /// Placement changed (sync turned on or off, a pin, an org deleted): decide again.
    Placement,
    /// The org's credentials changed (authorized again): API handles built with the old
    /// ones are dropped.
    Credentials,
}

impl Forward {
    fn payload(self, org: &str) -> String {
        match self {
            Forward::Wake => format!("wake:{org}"),
            Forward::PullNow => format!("pull:{org}"),
            Forward::Placement => format!("placement:{org}"),
            Forward::Credentials => format!("credentials:{org}"),
        }
    }

    fn parse(payload: &str) -> Option<(Forward, &str)> {
        let (kind, org) = payload.split_once(':')?;
        let what = match kind {
            "wake" => Forward::Wake,
            "pull" => Forward::PullNow,
            "placement" => Forward::Placement,
            "credentials" => Forward::Credentials,
            _ => return None,
        };
        Some((what, org))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwards_read_back() {
        for what in [
            Forward::Wake,
            Forward::PullNow,
            Forward::Placement,
            Forward::Credentials,
        ] {
            let p = what.payload("acme:eu");
            assert_eq!(Forward::parse(&p), Some((what, "acme:eu")));
        }
        assert_eq!(Forward::parse("nonsense"), None);
    }
}
