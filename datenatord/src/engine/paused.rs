//! Orgs whose sync is off still tell the truth on the `sync` topic: every mapped object
//! shows paused, with its queue of database changes, its failed records and its row count
//! kept current — read from the target database, never from Salesforce (no API cost).
//! The same loop rolls the status board's per-minute activity over as time passes.
use std::collections::HashMap;
use std::time::Duration;

use datenator_shared::model::ObjectState;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::state::State;
use crate::targetdb::{AnyTarget, Target};

/// How often paused objects are counted again.
const EVERY: Duration = Duration::from_secs(10);

/// Runs until `cancel`: refreshes the paused orgs' objects every [`EVERY`].
pub async fn run(state: State, cancel: CancellationToken) {
    let mut targets: HashMap<String, AnyTarget> = HashMap::new();
    loop {
        state.engine.status().roll_minutes(chrono::Utc::now());
        let paused: Vec<String> = state
            .orgs()
            .into_iter()
            .filter(|o| !state.engine.is_running(&o.name))
            // In a fleet, an org with sync on is run (and its status published) elsewhere.
            .filter(|o| state.fleet().is_none() || !o.sync_enabled)
            .map(|o| o.name)
            .collect();
        targets.retain(|org, _| paused.contains(org));
        for org in paused {
            if let Err(e) = refresh(&state, &org, &mut targets)
                .instrument(tracing::debug_span!("paused", org = %org))
                .await
            {
                // No datasource yet, a database down: the counts wait for the next turn.
                tracing::debug!(org = %org, "counting a paused org's objects: {}", e.message);
                targets.remove(&org);
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(EVERY) => {}
        }
    }
}

async fn refresh(
    state: &State,
    org: &str,
    targets: &mut HashMap<String, AnyTarget>,
) -> Result<(), crate::error::DaemonError> {
    let mappings = crate::mappings::stored(state, org).await?;
    let names: Vec<String> = mappings.iter().map(|m| m.mapping.object.clone()).collect();
    let status = state.engine.status();
    status.retain_objects(org, &names);
    if mappings.is_empty() {
        return Ok(());
    }
    let target = match targets.remove(org) {
        Some(t) => t,
        None => crate::datasource::admin_target(state, org).await?,
    };
    for m in &mappings {
        let counts = target.event_counts(&m.resolved).await;
        let rows = target.row_count(&m.resolved).await.ok();
        // The worker may have started meanwhile: its status is the one to keep.
        if state.engine.is_running(org) {
            break;
        }
        status.update(org, &m.mapping.object, m.mapping.direction, |s| {
            s.state = ObjectState::Paused;
            s.pull_lag_secs = None;
            s.push_lag_secs = None;
            if let Ok(c) = &counts {
                s.pending_events = c.new + c.claimed;
                s.failed_records = c.failed;
            }
            if rows.is_some() {
                s.rows = rows;
            }
        });
    }
    targets.insert(org.to_owned(), target);
    Ok(())
}
