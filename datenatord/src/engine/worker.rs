//! One org's supervisor loop: every tick push pending database changes; every polling
//! interval pull Salesforce's changes; errors are shown per object and retried with backoff.
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use datenator_shared::model::{AuthState, Feed, ObjectState};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::{pull, push};
use crate::mappings::{self, StoredMapping};
use crate::salesforce::{Api, SalesforceError};
use crate::state::State;
use crate::targetdb::{AnyTarget, Target};

/// How often `/limits` is read when nothing else calls for it.
const LIMITS_EVERY: Duration = Duration::from_secs(15 * 60);

/// How often an object's rows are counted for its status.
const ROW_COUNT_EVERY: Duration = Duration::from_secs(30);

/// What a pull or push step needs.
pub struct Ctx<'a> {
    pub state: &'a State,
    pub org: &'a str,
    pub api: &'a Api,
    pub target: &'a AnyTarget,
}

/// Why a step failed.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("{0}")]
    Salesforce(#[from] SalesforceError),
    #[error("{0}")]
    Target(#[from] crate::targetdb::TargetError),
    #[error("{}", .0.message)]
    Daemon(crate::error::DaemonError),
}

impl From<crate::error::DaemonError> for StepError {
    fn from(e: crate::error::DaemonError) -> Self {
        StepError::Daemon(e)
    }
}

/// Per-worker memory between ticks.
#[derive(Default)]
pub struct WorkerMemory {
    pub last_pull: HashMap<String, Instant>,
    /// Mappings whose next creates must first be looked up in Salesforce (after a crash
    /// or an answer lost in transit), so an unknown outcome never becomes a duplicate.
    pub resolve_creates: HashMap<String, bool>,
    /// Objects whose creates are marked in doubt in the state store: the mark is cleared
    /// by the next clean round.
    pub in_doubt: std::collections::HashSet<String>,
    /// What each object's last successful poll could see: the late-change window of the
    /// next poll starts from it (see `pull::late_from`).
    pub seen: HashMap<String, pull::Seen>,
    /// Per object, what the pulls tell the pushes' conflict checks.
    pub watch: HashMap<String, super::conflicts::Watch>,
    /// The change events the org's streaming task received (see [`super::stream`]).
    pub stream: Arc<super::stream::OrgStream>,
    target: Option<Arc<AnyTarget>>,
    /// In a fleet: the lease this worker was started under (its token fences the target's
    /// writes; its validity gates the Salesforce requests).
    lease: Option<Arc<crate::fleet::Lease>>,
    recovered: bool,
    last_limits_check: Option<Instant>,
    throttled: bool,
    /// The stretched polling interval in force, if the forecast stretched it.
    stretched: Option<u32>,
    deleted_checks: super::reconcile::DeletedChecks,
    type_checks: super::drift::TypeChecks,
    last_row_count: HashMap<String, Instant>,
}

/// How the engine reaches a running worker.
pub struct Signals {
    pub wake: Arc<Notify>,
    /// Set by "sync now": the next tick pulls every object.
    pub pull_now: Arc<AtomicBool>,
}

pub async fn run(state: State, org: String, signals: Signals, cancel: CancellationToken) {
    let Signals { wake, pull_now } = signals;
    let span = tracing::info_span!("org", org = %org);
    async move {
        // PostgreSQL tells us at once when a row changes: push within a second, not a poll.
        // Aborted when the worker ends — a panic included.
        let listener = TaskGuard(tokio::spawn(
            listen_for_changes(state.clone(), org.clone(), wake.clone()).in_current_span(),
        ));
        let mut memory = WorkerMemory::default();
        if let Some(fleet) = state.fleet() {
            match fleet.lease(&org) {
                Some(lease) => memory.lease = Some(lease),
                None => {
                    tracing::info!(
                        "this daemon does not hold the org's lease: not syncing it here"
                    );
                    return;
                }
            }
        }
        // Change Data Capture events, applied by the ticks (see `stream`); aborted with the
        // worker too.
        let streamer = state.engine.config.streaming.then(|| {
            TaskGuard(tokio::spawn(
                super::stream::run(
                    state.clone(),
                    org.clone(),
                    memory.stream.clone(),
                    wake.clone(),
                    cancel.child_token(),
                )
                .in_current_span(),
            ))
        });
        let mut backoff = Duration::from_secs(1);
        loop {
            if cancel.is_cancelled() {
                break;
            }
            if pull_now.swap(false, Ordering::SeqCst) {
                memory.last_pull.clear();
                if memory.throttled {
                    memory.last_limits_check = None; // "sync now" re-checks a held-back org
                }
            }
            match tick(&state, &org, &mut memory).await {
                Ok(()) => backoff = Duration::from_secs(1),
                Err(e) if e.lost_the_org() => {
                    // Another daemon of the fleet runs the org now: not one more write.
                    tracing::warn!("{e}");
                    if let (Some(fleet), Some(lease)) = (state.fleet(), &memory.lease) {
                        let stored = match &e {
                            StepError::Target(crate::targetdb::TargetError::Fenced {
                                stored,
                                ..
                            }) => Some(*stored),
                            _ => None,
                        };
                        fleet.forget_lease(&org, lease.token, stored);
                    }
                    break;
                }
                Err(e) => {
                    tracing::warn!("sync step failed: {e}");
                    memory.target = None;
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                    continue;
                }
            }
            let poll = state.engine.config.push_poll;
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = wake.notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
        drop(streamer);
        drop(listener);
    }
    .instrument(span)
    .await
}

/// A task of a worker (its LISTEN task, its streaming task), aborted with it.
struct TaskGuard(tokio::task::JoinHandle<()>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Wakes the worker on the target's change notifications (PostgreSQL NOTIFY); elsewhere the
/// push poll does the job. Reconnects after errors.
async fn listen_for_changes(state: State, org: String, wake: Arc<Notify>) {
    loop {
        let listener = match crate::datasource::admin_target(&state, &org).await {
            Ok(t) => t.listen_changes().await,
            Err(_) => Ok(None),
        };
        match listener {
            Ok(Some(mut l)) => loop {
                match l.recv().await {
                    Ok(_) => wake.notify_one(),
                    Err(e) => {
                        tracing::debug!("change notifications interrupted: {e}");
                        break;
                    }
                }
            },
            Ok(None) => return,
            Err(e) => tracing::debug!("cannot listen for change notifications: {e}"),
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

/// In a fleet, the target's writes carry the fencing token of this daemon's lease, raised
/// in the target first (a daemon that took the org over later has a bigger one, and then
/// this one's writes are refused). Alone, the target is used as it is.
async fn fenced(
    state: &State,
    org: &str,
    lease: Option<&Arc<crate::fleet::Lease>>,
    target: AnyTarget,
) -> Result<AnyTarget, StepError> {
    let (Some(fleet), Some(lease)) = (state.fleet(), lease) else {
        return Ok(target);
    };
    if !fleet.holds(org, lease) {
        return Err(SalesforceError::LeaseLost.into());
    }
    let target = target.with_fence(crate::targetdb::Fence(lease.token));
    if lease.claimed.load(Ordering::SeqCst) {
        target.claim_fence().await?;
    } else {
        target.claim_fence_for_new_lease().await?;
        lease.claimed.store(true, Ordering::SeqCst);
    }
    Ok(target)
}

impl StepError {
    /// The step stopped because another daemon of the fleet runs the org now.
    pub fn lost_the_org(&self) -> bool {
        matches!(
            self,
            StepError::Salesforce(SalesforceError::LeaseLost)
                | StepError::Target(crate::targetdb::TargetError::Fenced { .. })
        )
    }
}

async fn tick(state: &State, org: &str, memory: &mut WorkerMemory) -> Result<(), StepError> {
    tracing::trace!("tick");
    let Some(summary) = state.orgs().into_iter().find(|o| o.name == org) else {
        return Ok(());
    };
    // Without the fields Salesforce no longer has (see `drift`).
    let mappings =
        super::drift::without_removed(state, org, mappings::stored(state, org).await?).await;
    let names: Vec<String> = mappings.iter().map(|m| m.mapping.object.clone()).collect();
    state.engine.status().retain_objects(org, &names);
    if state.engine.config.streaming {
        memory.stream.want(
            mappings
                .iter()
                .filter(|m| m.mapping.direction.pulls())
                .map(|m| (m.resolved.object.clone(), super::stream::cannot_stream(m)))
                .collect(),
        );
    }
    if mappings.is_empty() {
        return Ok(());
    }
    // A refresh of working credentials keeps them in use until the new ones arrive.
    let working = summary.auth == AuthState::Authorized
        || (matches!(summary.auth, AuthState::Pending { .. })
            && state
                .store
                .refresh_keeps_credentials(org)
                .await
                .unwrap_or(false));
    if !working {
        for m in &mappings {
            state
                .engine
                .status()
                .update(org, &m.mapping.object, m.mapping.direction, |s| {
                    s.state = ObjectState::ReauthorizationNeeded;
                });
        }
        return Ok(());
    }
    let target = match &memory.target {
        Some(t) => t.clone(),
        None => {
            let t = async {
                let t = crate::datasource::admin_target(state, org).await?;
                fenced(state, org, memory.lease.as_ref(), t).await
            }
            .await;
            let t = match t {
                Ok(t) => t,
                Err(e) => {
                    // No object can sync without the target: each says why.
                    if !e.lost_the_org() {
                        let message = e.to_string();
                        for m in &mappings {
                            state.engine.status().update(
                                org,
                                &m.mapping.object,
                                m.mapping.direction,
                                |s| {
                                    s.state = ObjectState::Error;
                                    s.last_error = Some(message.clone());
                                },
                            );
                        }
                    }
                    return Err(e);
                }
            };
            let t = Arc::new(t);
            memory.target = Some(t.clone());
            t
        }
    };
    let api = state.orgs_runtime.api(state, org).await?;
    // In a fleet, nothing goes to Salesforce once this daemon's lease on the org runs out.
    let api = match (state.fleet(), &memory.lease) {
        (Some(fleet), Some(lease)) => {
            let (fleet, org, lease) = (fleet.clone(), org.to_owned(), lease.clone());
            api.gated(Arc::new(move || fleet.holds(&org, &lease)))
        }
        _ => api,
    };
    let ctx = Ctx {
        state,
        org,
        api: &api,
        target: &target,
    };

    if !memory.recovered {
        // Events claimed when the daemon stopped, and creates sent before it, may or may not
        // have reached Salesforce.
        let in_doubt = state
            .store
            .creates_in_doubt(org)
            .await
            .map_err(|e| StepError::Daemon(crate::error::store_error(e)))?;
        for m in mappings.iter().filter(|m| m.mapping.direction.pushes()) {
            super::failures::publish_failed_count(state, org, m, ctx.target).await;
            let object = &m.mapping.object;
            let n = push::recover(&ctx, m).await?;
            if n > 0 || in_doubt.contains(object) {
                tracing::info!(%object, events = n, "creates sent before a stop may have reached Salesforce: they will be looked up before any is sent again");
                memory.resolve_creates.insert(object.clone(), true);
                memory.in_doubt.insert(object.clone());
            }
        }
        memory.recovered = true;
    }

    // A poll of every pulled object: composite requests of five queries each.
    let pulled = mappings
        .iter()
        .filter(|m| m.mapping.direction.pulls())
        .count();
    api.usage().set_calls_per_poll(
        u32::try_from(pulled.div_ceil(crate::salesforce::rest::COMPOSITE_HEAVY))
            .unwrap_or(u32::MAX),
    );
    let interval = polling_interval(&api, &summary, memory);
    // Usage arrives with every answer; /limits is read too — every 15 minutes, and every
    // minute (or on "sync now") while the budget holds sync back, since a throttled org makes
    // no other calls that would show its usage falling.
    let recheck = if budget_exceeded(&api, summary.api_budget_percent).is_some() {
        interval.min(Duration::from_secs(60))
    } else {
        LIMITS_EVERY
    };
    if memory
        .last_limits_check
        .is_none_or(|t| t.elapsed() >= recheck)
    {
        memory.last_limits_check = Some(Instant::now());
        match api.limits().await {
            Ok(_) | Err(SalesforceError::LimitExceeded(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let throttle = budget_exceeded(&api, summary.api_budget_percent);
    if throttle.is_some() != memory.throttled {
        memory.throttled = throttle.is_some();
        match &throttle {
            Some(why) => tracing::warn!("sync held back: {why}"),
            None => tracing::info!("API usage is back under the budget; sync resumes"),
        }
    }
    if let Some(throttle) = throttle {
        // Change events cost no API call: streamed objects stay current meanwhile.
        let mut failed = HashMap::new();
        apply_events(&ctx, &mappings, memory, &mut failed).await;
        for (object, e) in failed {
            tracing::warn!(%object, "applying change events failed (tried again next round): {e}");
        }
        for m in &mappings {
            state
                .engine
                .status()
                .update(org, &m.mapping.object, m.mapping.direction, |s| {
                    s.state = ObjectState::Throttled;
                    s.last_error = Some(throttle.clone());
                });
        }
        return Ok(());
    }

    // Every object's local changes go first: a page read before a push would carry the
    // Salesforce values that push replaced, and written after it would undo it in the row.
    let mut failed: HashMap<String, StepError> = HashMap::new();
    for m in mappings.iter().filter(|m| m.mapping.direction.pushes()) {
        let result = push_step(&ctx, m, memory)
            .instrument(tracing::info_span!("object", object = %m.mapping.object))
            .await;
        match result {
            Err(e) if e.lost_the_org() => return Err(e),
            Err(e) => {
                failed.insert(m.mapping.object.clone(), e);
            }
            Ok(()) => {}
        }
    }

    // A re-read from Salesforce (asked for, or after a row filter change) sorts the rows
    // out and makes the object's pull a first load (see `reload`).
    let reloads = state
        .store
        .reloads(org)
        .await
        .map_err(|e| StepError::Daemon(crate::error::store_error(e)))?;
    super::reload::publish(state, org, &mappings, &reloads).await;
    for m in mappings.iter().filter(|m| m.mapping.direction.pulls()) {
        let object = &m.mapping.object;
        if failed.contains_key(object) || unresolved(memory, object) {
            continue;
        }
        let result = super::reload::run(&ctx, m, &reloads)
            .instrument(tracing::info_span!("object", object = %object))
            .await;
        match result {
            Ok(true) => {
                memory.seen.remove(object);
                memory.last_pull.remove(object);
            }
            Ok(false) => {}
            Err(e) => {
                failed.insert(object.clone(), e);
            }
        }
    }

    // Fields a mapping change added are filled into the rows already there before the
    // object's pull (see `backfill`).
    super::backfill::run(&ctx, &mappings, |o| failed.contains_key(o)).await;

    // Change events received since the last tick, after the pushes (an event read before a
    // push and written after it would undo it in the row until the push's own event came
    // back) and before the pulls (see `stream_apply`).
    apply_events(&ctx, &mappings, memory, &mut failed).await;
    // What the stream could not carry is read by a pull now.
    for object in memory.stream.take_catch_up() {
        if let Some(m) = mappings.iter().find(|m| m.resolved.object == object) {
            memory.last_pull.remove(&m.mapping.object);
        }
    }

    // Objects due for an incremental pull share composite requests, five queries each.
    // Salesforce's time before any of them is read: what a successful poll covered.
    let poll_start = api.server_time();
    let mut due = Vec::new();
    for m in mappings.iter().filter(|m| m.mapping.direction.pulls()) {
        let is_due = memory
            .last_pull
            .get(&m.mapping.object)
            .is_none_or(|t| t.elapsed() >= object_interval(ctx.state, memory, m, interval));
        if is_due
            && !failed.contains_key(&m.mapping.object)
            && !unresolved(memory, &m.mapping.object)
            && let Some(c) = target.cursor(&m.resolved.object).await?
        {
            let seen = memory.seen.get(&m.mapping.object).copied();
            due.push((m, pull::incremental_soql(&ctx, m, &c, seen)));
        }
    }
    let mut prefetched = pull::prefetch(&ctx, &due, poll_start).await?;

    let mut first_error = None;
    for m in &mappings {
        let object = m.mapping.object.clone();
        let result = match failed.remove(&object) {
            Some(e) => Err(e),
            None => {
                let ahead = prefetched.remove(&object);
                pull_step(&ctx, m, memory, interval, ahead, poll_start)
                    .instrument(tracing::info_span!("object", object = %object))
                    .await
            }
        };
        // A field gone from Salesforce is left out from now on; the rest keeps syncing.
        let result = super::drift::absorb(&ctx, m, result).await;
        if let Err(e) = result {
            if e.lost_the_org() {
                // Not an object's error: the whole org is another daemon's now.
                return Err(e);
            }
            let message = e.to_string();
            let reauth = matches!(
                e,
                StepError::Salesforce(SalesforceError::ReauthorizationNeeded(_))
            );
            let limited = matches!(e, StepError::Salesforce(SalesforceError::LimitExceeded(_)));
            if let StepError::Salesforce(se) = e
                && reauth
            {
                let _ = crate::orgs::salesforce_error(state, org, se).await;
            }
            state
                .engine
                .status()
                .update(org, &object, m.mapping.direction, |s| {
                    s.state = if reauth {
                        ObjectState::ReauthorizationNeeded
                    } else if limited {
                        ObjectState::Throttled
                    } else {
                        ObjectState::Error
                    };
                    s.last_error = Some(message.clone());
                });
            if first_error.is_none() {
                first_error = Some(StepError::Daemon(crate::error::DaemonError::rejected(
                    format!("{object}: {message}"),
                )));
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Applies each pulled object's queued change events (see `stream_apply`); an object whose
/// events fail goes into `failed`, its events kept for the next round.
async fn apply_events(
    ctx: &Ctx<'_>,
    mappings: &[StoredMapping],
    memory: &mut WorkerMemory,
    failed: &mut HashMap<String, StepError>,
) {
    for m in mappings.iter().filter(|m| m.mapping.direction.pulls()) {
        let object = &m.mapping.object;
        if failed.contains_key(object) || unresolved(memory, object) {
            continue;
        }
        let watch = memory.watch.entry(object.clone()).or_default();
        let result = super::stream_apply::apply(ctx, m, &memory.stream, watch)
            .instrument(tracing::info_span!("object", object = %object))
            .await;
        if let Err(e) = result {
            failed.insert(object.clone(), e);
        }
    }
}

/// While some create's outcome is unknown, the record it may have made must not arrive
/// through the pull as a row of its own: the next push round looks it up first.
fn unresolved(memory: &WorkerMemory, object: &str) -> bool {
    memory.resolve_creates.get(object).copied().unwrap_or(false)
}

/// Sends the object's pending database changes (if its mapping pushes).
async fn push_step(
    ctx: &Ctx<'_>,
    m: &StoredMapping,
    memory: &mut WorkerMemory,
) -> Result<(), StepError> {
    let object = &m.mapping.object;
    let resolve = memory.resolve_creates.get(object).copied().unwrap_or(false);
    let seen = memory.seen.get(object).copied();
    let watch = memory.watch.entry(object.clone()).or_default();
    let outcome = match push::run(ctx, m, resolve, watch, seen).await {
        Ok(outcome) => outcome,
        Err(e) => {
            // The round may have stopped after a create reached Salesforce (the database
            // refused the sfid's write-back, say): look before sending creates again.
            memory.resolve_creates.insert(object.clone(), true);
            memory.in_doubt.insert(object.clone());
            return Err(e);
        }
    };
    if outcome.clean {
        memory.resolve_creates.remove(object);
        // Every create sent is settled: the durable mark goes.
        if (outcome.sent_creates || memory.in_doubt.contains(object))
            && let Err(e) = ctx
                .state
                .store
                .clear_creates_in_doubt(ctx.org, object)
                .await
        {
            tracing::warn!(
                "could not clear the in-doubt mark of the creates (they will be looked up once more after a restart): {e}"
            );
        } else {
            memory.in_doubt.remove(object);
        }
    } else {
        memory.resolve_creates.insert(object.clone(), true);
        memory.in_doubt.insert(object.clone());
    }
    Ok(())
}

/// Pulls the object's Salesforce changes when due (its pushes are done), then refreshes
/// its status.
async fn pull_step(
    ctx: &Ctx<'_>,
    m: &StoredMapping,
    memory: &mut WorkerMemory,
    interval: Duration,
    ahead: Option<pull::Ahead>,
    poll_start: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<(), StepError> {
    let object = &m.mapping.object;
    let interval = object_interval(ctx.state, memory, m, interval);
    let due = memory
        .last_pull
        .get(object)
        .is_none_or(|t| t.elapsed() >= interval);
    if m.mapping.direction.pulls() && due && !unresolved(memory, object) {
        let seen = memory.seen.get(object).copied();
        let watch = memory.watch.entry(object.clone()).or_default();
        let ahead = ahead.unwrap_or_default();
        pull::run(ctx, m, ahead.page, seen, watch).await?;
        memory.last_pull.insert(object.clone(), Instant::now());
        match poll_start {
            Some(polled_at) => memory.seen.insert(
                object.clone(),
                pull::Seen {
                    polled_at,
                    covered: ahead.covered,
                },
            ),
            None => memory.seen.remove(object),
        };
    }
    let every = ctx.state.engine.config.deleted_check;
    if m.mapping.direction.pulls() && memory.deleted_checks.due(object, every) {
        // Purged deletions are rare: a failed check waits for its next turn, it does not
        // hold up the object's sync.
        if let Err(e) = super::reconcile::check(ctx, m, &mut memory.deleted_checks).await {
            tracing::warn!("looking for purged deletions failed (tried again later): {e}");
            memory.deleted_checks.failed(object);
        }
    }
    if m.mapping.direction.pulls() && memory.type_checks.due(ctx.org, object, every) {
        // A changed type that no longer fits its column is named, not fatal.
        if let Err(e) = super::drift::type_changes(ctx, m).await {
            tracing::warn!("checking the fields' types failed (tried again later): {e}");
        }
        memory.type_checks.done(ctx.org, object, every);
    }
    let feed = memory.stream.feed(&m.resolved.object);
    let rows = if memory
        .last_row_count
        .get(object)
        .is_none_or(|t| t.elapsed() >= ROW_COUNT_EVERY)
    {
        memory.last_row_count.insert(object.clone(), Instant::now());
        ctx.target.row_count(&m.resolved).await.ok()
    } else {
        None
    };
    ctx.state
        .engine
        .status()
        .update(ctx.org, object, m.mapping.direction, |s| {
            if rows.is_some() {
                s.rows = rows;
            }
            if s.state != ObjectState::InitialLoad {
                s.state = ObjectState::Synced;
            }
            s.last_error = None;
            if let Some(t) = memory.last_pull.get(object) {
                s.pull_lag_secs = Some(t.elapsed().as_secs_f64());
            }
            if feed.streaming {
                // Changes arrive as they happen: behind by what waits to be applied.
                s.pull_lag_secs = Some(
                    memory
                        .stream
                        .oldest_waiting_secs(&m.resolved.object)
                        .unwrap_or(0.0),
                );
            }
            s.feed = if feed.streaming {
                Feed::Stream
            } else {
                Feed::Poll
            };
            s.feed_note = feed.note.clone();
            s.last_event_secs = feed.last_event.map(|t| t.elapsed().as_secs_f64());
        });
    Ok(())
}

/// How often the object is polled: the org's interval, or the safety net's (much longer)
/// while its changes arrive as events.
fn object_interval(
    state: &State,
    memory: &WorkerMemory,
    m: &StoredMapping,
    interval: Duration,
) -> Duration {
    if memory.stream.is_streaming(&m.resolved.object) {
        interval.max(state.engine.config.stream_safety_poll)
    } else {
        interval
    }
}

/// The polling interval to use now: the configured one, stretched while the usage forecast
/// passes the budget (and said so in the log when that starts and ends).
fn polling_interval(
    api: &Api,
    summary: &datenator_shared::model::OrgSummary,
    memory: &mut WorkerMemory,
) -> Duration {
    let configured = summary.polling_interval_secs.max(1);
    let forecast = api.usage().forecast(configured, summary.api_budget_percent);
    let stretched = forecast
        .filter(|f| f.stretched(configured))
        .map(|f| f.effective_interval_secs);
    if stretched != memory.stretched {
        memory.stretched = stretched;
        match (stretched, forecast) {
            (Some(secs), Some(f)) => tracing::warn!(
                "polling every {secs} s instead of {configured} s: the org used {} calls in the last 24 hours and polling every {configured} s would add {:.0} a day, {:.0}% of its daily API limit, past the {}% budget",
                f.used_calls,
                f.steady_calls_per_day,
                f.projected_percent,
                summary.api_budget_percent
            ),
            _ => tracing::info!(
                "API usage forecast back within the budget: polling every {configured} s again"
            ),
        }
    }
    Duration::from_secs(u64::from(stretched.unwrap_or(configured)))
}

/// The API budget: a share of the org's daily limit sync may use. Returns why sync holds
/// back when the org is past it.
fn budget_exceeded(api: &Api, budget_percent: u8) -> Option<String> {
    let usage = api.usage().latest()?;
    if usage.max == 0 {
        return None;
    }
    let share = usage.used as f64 / usage.max as f64 * 100.0;
    (share >= budget_percent as f64).then(|| {
        format!(
            "the org has used {:.0}% of its daily API limit ({}/{}), past the {}% budget: sync waits until usage falls or the budget is raised",
            share, usage.used, usage.max, budget_percent
        )
    })
}
