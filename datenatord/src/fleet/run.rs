//! The fleet's loop on each daemon: heartbeat, renew, place, hand over, publish; a
//! watchdog that stops an org's work the moment its lease runs out here; a listener for
//! what other daemons forward.
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use datenator_shared::model::ObjectStatus;
use tokio_util::sync::CancellationToken;

use super::{Fleet, Forward, Lease, lock, placement};
use crate::state::State;
use crate::store::StoreError;
use crate::store::fleet as sql;

/// Runs the daemon's part of the fleet until `cancel`.
pub async fn run(state: State, fleet: Arc<Fleet>, cancel: CancellationToken) {
    let watchdog = tokio::spawn(watchdog(state.clone(), fleet.clone(), cancel.clone()));
    let listener = tokio::spawn(listen(state.clone(), fleet.clone(), cancel.clone()));
    let every = fleet.ttl / 3;
    // A fixed rate: a slow round does not push the next heartbeat back.
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // A round stuck on the database must not hold up the next heartbeat: the
        // watchdog stops work whose lease runs out meanwhile.
        match tokio::time::timeout(every, round(&state, &fleet)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("fleet round failed: {e}; retrying"),
            Err(_) => tracing::warn!("fleet round took longer than {every:?}; retrying"),
        }
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = fleet.poke.notified() => {}
            _ = ticks.tick() => {}
        }
    }
    watchdog.abort();
    listener.abort();
}

/// Says this daemon is alive and renews every lease it holds, in two statements; a lease
/// not renewed is lost (its work stops), one renewed that this daemon does not know of (a
/// round cut off after taking it) is given up.
async fn keep_alive(state: &State, fleet: &Arc<Fleet>) -> Result<(), StoreError> {
    let store = &fleet.store;
    let held: Vec<(String, Arc<Lease>)> = lock(&fleet.held)
        .iter()
        .map(|(o, l)| (o.clone(), l.clone()))
        .collect();
    fleet
        .heartbeat(held.len(), state.status().connections)
        .await?;
    let sent = super::clock();
    let renewed: HashSet<(String, i64)> =
        sql::renew_all(store, &fleet.id, fleet.ttl.as_millis() as i64)
            .await?
            .into_iter()
            .collect();
    let until = sent + fleet.ttl - fleet.margin();
    for (org, lease) in &held {
        if renewed.contains(&(org.clone(), lease.token)) {
            lease.extend(until);
        } else {
            tracing::warn!(org = %org, token = lease.token, "lost the org's lease: stopping its work here");
            lose(state, fleet, org, lease.token).await;
        }
    }
    for (org, token) in &renewed {
        if !held.iter().any(|(o, l)| o == org && l.token == *token) {
            sql::release(store, org, &fleet.id, *token).await?;
        }
    }
    Ok(())
}

/// One round: say we are alive, keep our leases, take the orgs placed here, hand over the
/// others, and refresh the fleet's view.
async fn round(state: &State, fleet: &Arc<Fleet>) -> Result<(), StoreError> {
    keep_alive(state, fleet).await?;
    let store = &fleet.store;
    let ttl_ms = fleet.ttl.as_millis() as i64;
    let members = sql::members(store).await?;
    let live: Vec<String> = members
        .iter()
        .filter(|m| !m.leaving && m.silent_ms < ttl_ms)
        .map(|m| m.id.clone())
        .collect();
    let enabled = sql::enabled_orgs(store).await?;
    let leaving = fleet.leaving.load(Ordering::SeqCst);
    let wanted: HashSet<&str> = enabled
        .iter()
        .filter(|(org, pin)| {
            !leaving && placement::owner(org, pin.as_deref(), &live) == Some(&fleet.id)
        })
        .map(|(org, _)| org.as_str())
        .collect();
    for (org, _) in &enabled {
        if !wanted.contains(org.as_str()) {
            continue;
        }
        match fleet.lease(org) {
            None => {
                let sent = super::clock();
                if let Some(token) = sql::acquire(store, org, &fleet.id, ttl_ms).await? {
                    let lease = Lease::new(token, sent + fleet.ttl - fleet.margin());
                    lock(&fleet.held).insert(org.clone(), Arc::new(lease));
                    tracing::info!(org = %org, token, "took the org's lease: running it here");
                    // The credentials as stored now (another daemon may have refreshed them).
                    state.orgs_runtime.forget_api(org);
                    state.engine.start(state, org);
                }
            }
            // Held, its worker not running: it ended (fenced, or it was still stopping when
            // the lease was taken): started again.
            Some(l) if l.valid() && !l.releasing.load(Ordering::SeqCst) => {
                if !state.engine.is_running(org) {
                    state.engine.start(state, org);
                }
            }
            Some(_) => {}
        }
    }
    // Hand over what is no longer ours: sync turned off, the org deleted, or placed on
    // another daemon. The lease is renewed until the work has stopped, then released.
    let held: Vec<(String, Arc<Lease>)> = lock(&fleet.held)
        .iter()
        .map(|(o, l)| (o.clone(), l.clone()))
        .collect();
    for (org, lease) in &held {
        if !wanted.contains(org.as_str()) && !lease.releasing.swap(true, Ordering::SeqCst) {
            tracing::info!(org = %org, "the org is placed elsewhere now: handing it over");
            let (state, fleet, org, token) =
                (state.clone(), fleet.clone(), org.clone(), lease.token);
            tokio::spawn(async move {
                state.engine.stop(&org).await;
                if fleet.drop_lease(&org, token)
                    && let Err(e) = sql::release(&fleet.store, &org, &fleet.id, token).await
                {
                    tracing::warn!(org = %org, "cannot release the lease ({e}): it runs out by itself");
                }
                fleet.forward(Forward::Placement, &org);
            });
        }
    }
    publish_and_read(state, fleet, &members).await
}

/// Publishes the status of the orgs run here; reads the others' into the status board;
/// refreshes the fleet's view.
async fn publish_and_read(
    state: &State,
    fleet: &Arc<Fleet>,
    members: &[sql::Member],
) -> Result<(), StoreError> {
    let store = &fleet.store;
    let board = state.engine.status();
    let mine: Vec<String> = lock(&fleet.held).keys().cloned().collect();
    let summaries = state.orgs();
    for org in &mine {
        let summary = summaries.iter().find(|o| &o.name == org);
        let published = Published {
            objects: board.org_objects(org),
            memory: RunnerMemory {
                api_forecast: summary.and_then(|o| o.api_forecast),
                event_allocation: summary.and_then(|o| o.event_allocation),
                refresh_error: summary.and_then(|o| o.refresh_error.clone()),
            },
        };
        let json = serde_json::to_string(&published).unwrap_or_else(|_| "{}".into());
        sql::publish_status(store, org, &fleet.id, &json).await?;
    }
    let holders: HashMap<String, String> = sql::holders(store).await?.into_iter().collect();
    let mut memories = HashMap::new();
    for (org, daemon, json) in sql::statuses(store).await? {
        if daemon != fleet.id
            && holders.get(&org) == Some(&daemon)
            && !mine.contains(&org)
            && let Ok(published) = serde_json::from_str::<Published>(&json)
        {
            board.set_org(&org, published.objects);
            memories.insert(org, published.memory);
        }
    }
    *lock(&fleet.remote) = memories;
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for d in holders.values() {
        *counts.entry(d.as_str()).or_default() += 1;
    }
    let view_members = members
        .iter()
        .map(|m| fleet.member_view(m, counts.get(m.id.as_str()).copied().unwrap_or(0)))
        .collect();
    *lock(&fleet.holders) = holders;
    lock(&fleet.view).members = view_members;
    state.refresh_orgs().await?;
    state.fleet_changed();
    Ok(())
}

/// What the daemon that runs an org publishes of it (`fleet_status.objects_json`).
#[derive(serde::Serialize, serde::Deserialize)]
struct Published {
    objects: Vec<ObjectStatus>,
    #[serde(flatten)]
    memory: RunnerMemory,
}

/// The org's figures only the daemon that runs it knows (they live in its memory).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct RunnerMemory {
    #[serde(default)]
    pub api_forecast: Option<datenator_shared::model::UsageForecast>,
    #[serde(default)]
    pub event_allocation: Option<datenator_shared::model::ApiUsage>,
    #[serde(default)]
    pub refresh_error: Option<String>,
}

/// The org's lease is gone: its work stops at once (whatever step it is in, a stop under
/// way included).
async fn lose(state: &State, fleet: &Fleet, org: &str, token: i64) {
    if fleet.drop_lease(org, token) {
        state.engine.abort(org).await;
    }
}

/// Stops an org's work the moment its lease runs out on this daemon's clock (a renewal
/// that did not come back in time, a daemon frozen and resumed).
async fn watchdog(state: State, fleet: Arc<Fleet>, cancel: CancellationToken) {
    loop {
        let expired: Vec<(String, i64)> = lock(&fleet.held)
            .iter()
            .filter(|(_, l)| !l.valid())
            .map(|(o, l)| (o.clone(), l.token))
            .collect();
        for (org, token) in expired {
            tracing::warn!(org = %org, "the org's lease ran out before it could be renewed: stopping its work here");
            lose(&state, &fleet, &org, token).await;
            fleet.poke();
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}

/// Carries out what other daemons forward (`NOTIFY datenator_fleet`). Reconnects.
async fn listen(state: State, fleet: Arc<Fleet>, cancel: CancellationToken) {
    loop {
        let listening = async {
            let mut l = sqlx::postgres::PgListener::connect(&fleet.url).await?;
            l.listen(super::CHANNEL).await?;
            loop {
                let n = l.recv().await?;
                match Forward::parse(n.payload()) {
                    Some((Forward::Wake, org)) => {
                        state.engine.wake_local(org);
                    }
                    Some((Forward::PullNow, org)) => {
                        state.engine.pull_now_local(org);
                    }
                    Some((Forward::Placement, _)) => fleet.poke(),
                    Some((Forward::Credentials, org)) => {
                        state.orgs_runtime.forget_api(org);
                        state.engine.wake_local(org);
                    }
                    None => tracing::debug!("unknown fleet message {:?}", n.payload()),
                }
            }
            #[allow(unreachable_code)]
            Ok::<(), sqlx::Error>(())
        };
        tokio::select! {
            _ = cancel.cancelled() => return,
            r = listening => if let Err(e) = r {
                tracing::warn!("fleet notifications interrupted ({e}); reconnecting");
            },
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
        fleet.poke();
    }
}

/// The daemon stops: its workers have stopped; its leases are released and it says it is
/// leaving, so the others take its orgs now rather than after the TTL.
pub async fn leave(fleet: &Fleet) {
    let held: Vec<(String, i64)> = lock(&fleet.held)
        .drain()
        .map(|(o, l)| (o, l.token))
        .collect();
    for (org, token) in held {
        if let Err(e) = sql::release(&fleet.store, &org, &fleet.id, token).await {
            tracing::warn!(org = %org, "cannot release the lease ({e}): it runs out by itself");
        }
    }
    if let Err(e) = sql::leave(&fleet.store, &fleet.id).await {
        tracing::warn!(
            "cannot tell the fleet this daemon leaves ({e}); its orgs move after the lease TTL"
        );
    }
    if let Err(e) = sql::notify(&fleet.store, &Forward::Placement.payload("")).await {
        tracing::debug!("cannot tell the fleet: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a holder publishes reads back whole, and a status without the memory figures
    /// (nothing known yet) reads as unknown.
    #[test]
    fn a_published_status_reads_back() {
        let p = Published {
            objects: Vec::new(),
            memory: RunnerMemory {
                api_forecast: None,
                event_allocation: Some(datenator_shared::model::ApiUsage { used: 3, max: 10 }),
                refresh_error: Some("denied".into()),
            },
        };
        let back: Published = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(back.memory.refresh_error.as_deref(), Some("denied"));
        assert_eq!(back.memory.event_allocation.map(|u| u.used), Some(3));
        let bare: Published = serde_json::from_str(r#"{"objects": []}"#).unwrap();
        assert!(bare.memory.api_forecast.is_none() && bare.memory.refresh_error.is_none());
    }
}
