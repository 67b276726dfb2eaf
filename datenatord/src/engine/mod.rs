//! The sync engine: one supervisor task per enabled org ([`worker`]); per mapping a pull
//! (Salesforce → database, [`pull`]) and a push (database → Salesforce, [`push`]) as its
//! direction says; live per-object status published on the `sync` topic ([`status`]).
pub mod adopt;
pub mod backfill;
pub mod conflicts;
pub mod drift;
pub mod failures;
pub mod paused;
pub mod pull;
pub mod push;
pub mod push_bulk;
pub mod recent;
pub mod reconcile;
pub mod reload;
pub mod status;
pub mod stream;
pub mod stream_apply;
pub mod worker;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use datenator_shared::model::ObjectStatus;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::state::State;

/// Tuning that tests and benchmarks may change.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// How often pending database changes are looked for (no API cost).
    pub push_poll: Duration,
    /// How far behind the cursor each pull re-reads, for changes that became visible late.
    pub overlap: Duration,
    /// Above this many records a first load uses a Bulk API query.
    pub bulk_threshold: u64,
    /// Events claimed per push round.
    pub push_batch: usize,
    /// Records of one operation from which a push uses a Bulk ingest job (0 = never).
    pub push_bulk_threshold: usize,
    /// The most events one push round claims when it goes through Bulk.
    pub push_bulk_batch: usize,
    /// How often each pulled object's deleted log is read (see [`reconcile`]).
    pub deleted_check: Duration,
    /// Whether Change Data Capture events are applied (see [`stream`]).
    pub streaming: bool,
    /// How often a streamed object is polled all the same (the safety net).
    pub stream_safety_poll: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            push_poll: Duration::from_secs(1),
            overlap: Duration::from_secs(120),
            bulk_threshold: 10_000,
            push_batch: 2000,
            push_bulk_threshold: 2000,
            push_bulk_batch: 10_000,
            deleted_check: Duration::from_secs(60 * 60),
            streaming: true,
            stream_safety_poll: Duration::from_secs(10 * 60),
        }
    }
}

struct Worker {
    wake: Arc<Notify>,
    pull_now: Arc<std::sync::atomic::AtomicBool>,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// Starts, stops and wakes the per-org workers; holds the published status.
pub struct Engine {
    workers: Mutex<HashMap<String, Worker>>,
    /// Workers told to stop that have not finished yet: an org is not started again
    /// before its last worker is gone (two would run at once), and an abort cuts them off.
    stopping: Mutex<HashMap<String, tokio::task::AbortHandle>>,
    /// The fleet, when the state is shared: wake-ups of orgs run elsewhere go there.
    fleet: std::sync::OnceLock<Arc<crate::fleet::Fleet>>,
    status: status::StatusBoard,
    recent: recent::RecentPulls,
    pub config: EngineConfig,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Engine {
    pub fn new(config: EngineConfig) -> Engine {
        Engine {
            workers: Mutex::new(HashMap::new()),
            stopping: Mutex::new(HashMap::new()),
            fleet: std::sync::OnceLock::new(),
            status: status::StatusBoard::default(),
            recent: recent::RecentPulls::default(),
            config,
        }
    }

    pub fn status(&self) -> &status::StatusBoard {
        &self.status
    }

    /// What the pulls wrote lately, per object (`changes_recent`).
    pub fn recent(&self) -> &recent::RecentPulls {
        &self.recent
    }

    pub fn subscribe(&self) -> watch::Receiver<Vec<ObjectStatus>> {
        self.status.subscribe()
    }

    /// Joins the engine to a fleet (see [`crate::fleet`]).
    pub fn set_fleet(
        &self,
        fleet: Arc<crate::fleet::Fleet>,
    ) -> Result<(), Arc<crate::fleet::Fleet>> {
        self.fleet.set(fleet)
    }

    /// Runs the org's worker now instead of at its next tick; in a fleet, the daemon that
    /// runs the org is told.
    pub fn wake(&self, org: &str) {
        if !self.wake_local(org)
            && let Some(f) = self.fleet.get()
        {
            f.forward(crate::fleet::Forward::Wake, org);
        }
    }

    /// Wakes the org's worker if it runs here.
    pub fn wake_local(&self, org: &str) -> bool {
        match lock(&self.workers).get(org) {
            Some(w) if !w.task.is_finished() => {
                w.wake.notify_one();
                true
            }
            _ => false,
        }
    }

    /// Pulls every mapped object of the org now, whatever the polling interval says.
    /// Returns false when sync is not running for the org (here or, in a fleet, anywhere).
    pub fn pull_now(&self, org: &str) -> bool {
        if self.pull_now_local(org) {
            return true;
        }
        match self.fleet.get() {
            Some(f) if f.holder(org).is_some() => {
                f.forward(crate::fleet::Forward::PullNow, org);
                true
            }
            _ => false,
        }
    }

    /// Pulls every object of the org now if its worker runs here.
    pub fn pull_now_local(&self, org: &str) -> bool {
        match lock(&self.workers).get(org) {
            Some(w) if !w.task.is_finished() => {
                w.pull_now.store(true, std::sync::atomic::Ordering::SeqCst);
                w.wake.notify_one();
                true
            }
            _ => false,
        }
    }

    pub fn is_running(&self, org: &str) -> bool {
        lock(&self.workers)
            .get(org)
            .is_some_and(|w| !w.task.is_finished())
    }

    /// Starts the org's worker (no-op when it runs).
    pub fn start(&self, state: &State, org: &str) {
        let mut workers = lock(&self.workers);
        if workers.get(org).is_some_and(|w| !w.task.is_finished()) {
            return;
        }
        if lock(&self.stopping)
            .get(org)
            .is_some_and(|t| !t.is_finished())
        {
            // Started again by whoever asks next (the fleet's next round).
            tracing::debug!(org = %org, "the org's last worker is still stopping: not started yet");
            return;
        }
        let wake = Arc::new(Notify::new());
        let pull_now = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let cancel = CancellationToken::new();
        let task = {
            let (state, org, wake, pull_now, cancel) = (
                state.clone(),
                org.to_owned(),
                wake.clone(),
                pull_now.clone(),
                cancel.clone(),
            );
            let failed = {
                let (state, org) = (state.clone(), org.clone());
                move |message: &str| state.engine.status().worker_failed(&org, message)
            };
            let (stop, span) = (cancel.clone(), tracing::info_span!("org", org = %org));
            let run = move || {
                worker::run(
                    state.clone(),
                    org.clone(),
                    worker::Signals {
                        wake: wake.clone(),
                        pull_now: pull_now.clone(),
                    },
                    cancel.clone(),
                )
            };
            tokio::spawn(supervise(run, failed, stop, Duration::from_secs(1)).instrument(span))
        };
        workers.insert(
            org.to_owned(),
            Worker {
                wake,
                pull_now,
                cancel,
                task,
            },
        );
        tracing::info!(org = %org, "sync started");
    }

    /// Stops the org's worker after its current step (aborted past [`STOP_GRACE`]); its
    /// status shows paused.
    pub async fn stop(&self, org: &str) {
        let worker = lock(&self.workers).remove(org);
        if let Some(w) = worker {
            w.cancel.cancel();
            let abort = w.task.abort_handle();
            lock(&self.stopping).insert(org.to_owned(), abort.clone());
            if tokio::time::timeout(STOP_GRACE, w.task).await.is_err() {
                // Its step holds on (a slow database, a long request): cut it off. What it
                // did not finish is redone by the next start, as after any stop.
                abort.abort();
                tracing::warn!(org = %org, "the sync worker did not stop within {STOP_GRACE:?}: aborted");
            }
            lock(&self.stopping).remove(org);
            tracing::info!(org = %org, "sync stopped");
        }
        self.status.pause_org(org);
    }

    /// Stops the org's worker at once, whatever step it is in (its lease ran out: not one
    /// more write may go out). What it did not finish is redone by the next holder.
    pub async fn abort(&self, org: &str) {
        if let Some(stopping) = lock(&self.stopping).remove(org) {
            stopping.abort();
        }
        let worker = lock(&self.workers).remove(org);
        if let Some(w) = worker {
            w.cancel.cancel();
            w.task.abort();
            let _ = w.task.await;
            tracing::info!(org = %org, "sync stopped here");
        }
        self.status.pause_org(org);
    }

    /// Stops every worker (daemon shutdown).
    pub async fn stop_all(&self) {
        let orgs: Vec<String> = lock(&self.workers).keys().cloned().collect();
        futures::future::join_all(orgs.iter().map(|org| self.stop(org))).await;
    }

    /// Forgets an org entirely (deleted).
    pub async fn remove(&self, org: &str) {
        self.stop(org).await;
        self.status.remove_org(org);
    }
}

/// How long a stop waits for a worker to finish its step before aborting it.
pub const STOP_GRACE: Duration = Duration::from_secs(30);

/// A task aborted when its handle is dropped (a supervisor aborted takes its worker along).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs a worker (`run` makes one) until `cancel`; a worker that panics is logged, said
/// through `failed` (on each of the org's objects), and started again after a backoff
/// (`first`, doubling up to a minute).
async fn supervise<F>(
    run: impl Fn() -> F,
    failed: impl Fn(&str),
    cancel: CancellationToken,
    first: Duration,
) where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let mut backoff = first;
    loop {
        let mut worker = AbortOnDrop(tokio::spawn(run()));
        let error = match (&mut worker.0).await {
            Ok(()) => return,
            Err(e) if e.is_panic() => panic_text(e.into_panic()),
            Err(_) => return,
        };
        let message = format!(
            "sync stopped on an internal error ({error}); it restarts in {} s — please report this with the daemon's log",
            backoff.as_secs().max(1)
        );
        tracing::error!("the sync worker panicked: {error}; restarting it in {backoff:?}");
        failed(&message);
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(60));
    }
}

/// A panic's message, when it has one.
fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// Starts the workers of every org with sync enabled (daemon start); in a fleet, the
/// fleet's loop starts those placed here once it holds their leases.
pub async fn start_enabled(state: &State) {
    if state.fleet().is_some() {
        return;
    }
    for org in state.orgs() {
        if org.sync_enabled {
            state.engine.start(state, &org.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn a_panicked_worker_is_said_and_started_again() {
        let runs = Arc::new(AtomicU32::new(0));
        let said = Arc::new(Mutex::new(Vec::<String>::new()));
        let cancel = CancellationToken::new();
        let run = {
            let (runs, cancel) = (runs.clone(), cancel.clone());
            move || {
                let (runs, cancel) = (runs.clone(), cancel.clone());
                async move {
                    if runs.fetch_add(1, Ordering::SeqCst) == 0 {
                        panic!("a bug in a step");
                    }
                    // The second worker runs until the stop.
                    cancel.cancelled().await;
                }
            }
        };
        let failed = {
            let said = said.clone();
            move |m: &str| lock(&said).push(m.to_owned())
        };
        let supervisor = tokio::spawn(supervise(
            run,
            failed,
            cancel.clone(),
            Duration::from_millis(10),
        ));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while runs.load(Ordering::SeqCst) < 2 {
            assert!(std::time::Instant::now() < deadline, "never restarted");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let said = lock(&said).clone();
        assert_eq!(said.len(), 1);
        assert!(
            said[0].starts_with("sync stopped on an internal error (a bug in a step)"),
            "{said:?}"
        );
        cancel.cancel();
        supervisor.await.unwrap();
        assert_eq!(
            runs.load(Ordering::SeqCst),
            2,
            "stopped, not restarted again"
        );
    }
}
