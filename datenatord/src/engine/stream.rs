//! Change Data Capture: one Streaming API client per org, beside its worker.
//!
//! The worker says which objects it pulls and which of them may be streamed
//! ([`OrgStream::want`]); this task subscribes to the change-event channel of each of those
//! that Salesforce publishes events for (Setup → Change Data Capture, read from the Tooling
//! API), from the replay id stored in the target database beside the object's pull cursor,
//! and queues what arrives. The worker applies the queued events between its pushes and its
//! pulls ([`super::stream_apply`]) — one writer per object, so an event and a poll never
//! race — and stores each event's replay id in the same transaction as its rows.
//!
//! Whatever the stream cannot carry falls back to the incremental pull of the object: a
//! fresh subscription (events start from now: the pull covers what came before), a stored
//! replay id Salesforce no longer keeps, a gap or overflow event, an object without Change
//! Data Capture, the event allocation used up, a lost connection. A streamed object is
//! still polled, at a long interval, as a safety net.
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use crate::salesforce::streaming::{ChangeEvent, Setback, Stream, StreamError, channel_of};
use crate::state::State;
use crate::targetdb::{Target, stream_key};

/// How often the objects selected for Change Data Capture are read again (one API call;
/// the session is opened again, from the applied positions).
const RESELECT_EVERY: Duration = Duration::from_secs(60 * 60);

/// How long the stream waits after the event allocation is used up before trying again.
const ALLOCATION_WAIT: Duration = Duration::from_secs(15 * 60);

/// The most events queued per object before the stream waits for the worker.
const QUEUE_MAX: usize = 20_000;

/// Why a pulled object's changes cannot come as events (`None`: they can).
pub fn cannot_stream(m: &crate::mappings::StoredMapping) -> Option<String> {
    m.mapping.row_filter.is_some().then(|| {
        "polled: a row filter decides on a record's fields, and change events carry only the changed ones".to_owned()
    })
}

/// What the worker and the stream task share for one org.
pub struct OrgStream {
    inner: Mutex<Inner>,
    /// The pulled objects, each with why it cannot be streamed (`None`: it can); the stream
    /// task follows its changes.
    wanted: watch::Sender<BTreeMap<String, Option<String>>>,
    /// Wakes the stream task: the worker took events from a full queue.
    drained: Notify,
}

impl Default for OrgStream {
    fn default() -> Self {
        OrgStream {
            inner: Mutex::default(),
            wanted: watch::channel(BTreeMap::new()).0,
            drained: Notify::new(),
        }
    }
}

#[derive(Default)]
struct Inner {
    /// Per object, how its changes arrive now.
    feeds: BTreeMap<String, FeedState>,
    /// Per object, the events received and not applied yet, in replay order.
    queue: BTreeMap<String, VecDeque<ChangeEvent>>,
    /// Per channel, the replay id of the last event applied.
    applied: BTreeMap<String, i64>,
    /// Objects to pull now: the stream did not carry all of their changes.
    catch_up: BTreeSet<String>,
}

/// How one object's changes arrive.
#[derive(Debug, Clone, Default)]
pub struct FeedState {
    pub streaming: bool,
    /// Why it is polled, or what the stream last fell back from.
    pub note: Option<String>,
    pub last_event: Option<Instant>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl OrgStream {
    /// The worker's pulled objects, each with why it cannot be streamed (`None`: it can).
    /// Wakes the stream task when that changed.
    pub fn want(&self, objects: BTreeMap<String, Option<String>>) {
        if *self.wanted.borrow() == objects {
            return;
        }
        let mut inner = lock(&self.inner);
        for (object, why) in &objects {
            if let Some(why) = why {
                inner.feeds.insert(
                    object.clone(),
                    FeedState {
                        streaming: false,
                        note: Some(why.clone()),
                        last_event: None,
                    },
                );
                inner.queue.remove(object);
            }
        }
        inner.feeds.retain(|o, _| objects.contains_key(o));
        inner.queue.retain(|o, _| objects.contains_key(o));
        drop(inner);
        self.wanted.send_replace(objects);
        // A stream waiting for room may have had it made here.
        self.drained.notify_one();
    }

    /// The objects the stream should follow.
    fn streamable(&self) -> Vec<String> {
        self.wanted
            .borrow()
            .iter()
            .filter(|(_, why)| why.is_none())
            .map(|(o, _)| o.clone())
            .collect()
    }

    /// How the object's changes arrive now.
    pub fn feed(&self, object: &str) -> FeedState {
        lock(&self.inner)
            .feeds
            .get(object)
            .cloned()
            .unwrap_or_default()
    }

    /// Whether events wait for the object.
    pub fn has_waiting(&self, object: &str) -> bool {
        lock(&self.inner)
            .queue
            .get(object)
            .is_some_and(|q| !q.is_empty())
    }

    /// Whether the object's changes arrive as events (it is polled at the safety interval).
    pub fn is_streaming(&self, object: &str) -> bool {
        lock(&self.inner)
            .feeds
            .get(object)
            .is_some_and(|f| f.streaming)
    }

    fn set_feed(&self, object: &str, streaming: bool, note: Option<String>) {
        let mut inner = lock(&self.inner);
        let feed = inner.feeds.entry(object.to_owned()).or_default();
        feed.streaming = streaming;
        feed.note = note;
    }

    /// Every object the stream followed is polled again, saying why.
    fn all_polled(&self, why: &str) {
        let streamable = self.streamable();
        let mut inner = lock(&self.inner);
        for o in streamable {
            let feed = inner.feeds.entry(o.clone()).or_default();
            let was_streaming = feed.streaming;
            // A note saying why the object is polled anyway (no Change Data Capture) stays.
            if was_streaming || feed.note.is_none() {
                feed.streaming = false;
                feed.note = Some(why.to_owned());
            }
            if was_streaming {
                // Events may have been missed while the stream was down: a poll finds them.
                inner.catch_up.insert(o);
            }
        }
    }

    /// Queues received events under their object; returns false when a queue is full
    /// (the stream waits for the worker to drain it).
    fn received(&self, events: Vec<(String, ChangeEvent)>) -> bool {
        let streamable = self.streamable();
        let mut inner = lock(&self.inner);
        for (object, e) in events {
            if !streamable.contains(&object) {
                continue; // no longer followed (unmapped, or a row filter now)
            }
            let applied = inner.applied.get(&e.channel).copied().unwrap_or(i64::MIN);
            if e.replay_id <= applied {
                continue; // delivered again after a reconnection: applied already
            }
            let queue = inner.queue.entry(object).or_default();
            if queue.back().is_none_or(|last| last.replay_id < e.replay_id) {
                queue.push_back(e);
            }
        }
        // A queue the worker does not drain (its object fails, or waits for a create's
        // outcome) must not grow without bound: its events go, and the pull reads instead
        // (the stream never moved the pull cursor).
        let overflowing: Vec<String> = inner
            .queue
            .iter()
            .filter(|(_, q)| q.len() >= 2 * QUEUE_MAX)
            .map(|(o, _)| o.clone())
            .collect();
        for o in overflowing {
            inner.queue.remove(&o);
            inner.catch_up.insert(o.clone());
            if let Some(f) = inner.feeds.get_mut(&o) {
                f.note = Some(
                    "caught up by polling: more change events waited than are kept in memory"
                        .into(),
                );
            }
        }
        inner.queue.values().all(|q| q.len() < QUEUE_MAX)
    }

    /// The object's queued events, in replay order, at most `max` (the worker applies
    /// them; the rest wait for its next round).
    pub fn take(&self, object: &str, max: usize) -> Vec<ChangeEvent> {
        let taken: Vec<ChangeEvent> = lock(&self.inner)
            .queue
            .get_mut(object)
            .map(|q| {
                let n = q.len().min(max);
                q.drain(..n).collect()
            })
            .unwrap_or_default();
        if !taken.is_empty() {
            self.drained.notify_one();
        }
        taken
    }

    /// Puts events the worker could not apply yet back at the head of the queue.
    pub fn untake(&self, object: &str, events: Vec<ChangeEvent>) {
        let mut inner = lock(&self.inner);
        let queue = inner.queue.entry(object.to_owned()).or_default();
        for e in events.into_iter().rev() {
            if queue.front().is_none_or(|f| f.replay_id > e.replay_id) {
                queue.push_front(e);
            }
        }
    }

    /// The age of the oldest event waiting for the object, in seconds.
    pub fn oldest_waiting_secs(&self, object: &str) -> Option<f64> {
        let inner = lock(&self.inner);
        let first = inner.queue.get(object)?.front()?;
        let now = chrono::Utc::now().timestamp_millis();
        Some((now - first.commit_timestamp).max(0) as f64 / 1000.0)
    }

    /// The events of `channel` up to `replay_id` are in the database.
    pub fn applied(&self, object: &str, channel: &str, replay_id: i64) {
        let mut inner = lock(&self.inner);
        let a = inner.applied.entry(channel.to_owned()).or_insert(replay_id);
        *a = (*a).max(replay_id);
        inner.feeds.entry(object.to_owned()).or_default().last_event = Some(Instant::now());
    }

    /// The object's changes must be read through the pull now (a gap, an overflow, an
    /// event for a record the database does not hold).
    pub fn needs_pull(&self, object: &str, why: Option<String>) {
        let mut inner = lock(&self.inner);
        inner.catch_up.insert(object.to_owned());
        if let Some(why) = why
            && let Some(f) = inner.feeds.get_mut(object)
        {
            f.note = Some(why);
        }
    }

    /// The objects to pull now, forgotten once taken.
    pub fn take_catch_up(&self) -> BTreeSet<String> {
        std::mem::take(&mut lock(&self.inner).catch_up)
    }

    fn applied_positions(&self) -> BTreeMap<String, i64> {
        lock(&self.inner).applied.clone()
    }

    fn forget_channel(&self, channel: &str) {
        lock(&self.inner).applied.remove(channel);
    }
}

/// Why a streaming session ended.
enum Ended {
    /// The objects to follow changed, or the selection is due to be read again.
    Reconfigure,
    /// Nothing to follow: wait for the worker to want something.
    Idle,
}

/// The org's streaming task: runs until cancelled, opening sessions again after errors.
pub async fn run(
    state: State,
    org: String,
    shared: Arc<OrgStream>,
    wake: Arc<Notify>,
    cancel: CancellationToken,
) {
    let mut backoff = Duration::from_secs(1);
    let mut wanted = shared.wanted.subscribe();
    loop {
        wanted.mark_unchanged();
        let ended = tokio::select! {
            _ = cancel.cancelled() => return,
            r = session(&state, &org, &shared, &wake, &mut wanted) => r,
        };
        let wait = match ended {
            Ok(Ended::Reconfigure) => {
                backoff = Duration::from_secs(1);
                continue;
            }
            Ok(Ended::Idle) => {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = wanted.changed() => {}
                    _ = tokio::time::sleep(RESELECT_EVERY) => {}
                }
                continue;
            }
            Err(StreamError::AllocationExhausted(message)) => {
                let why = format!(
                    "polled: the org's daily change-event allocation is used up ({message}); streaming resumes when it renews"
                );
                tracing::warn!("{why}");
                shared.all_polled(&why);
                ALLOCATION_WAIT
            }
            Err(e) => {
                let why = format!("polled while the change-event stream is down: {e}");
                tracing::warn!("{why}; trying again in {backoff:?}");
                shared.all_polled(&why);
                let wait = backoff;
                backoff = (backoff * 2).min(Duration::from_secs(5 * 60));
                wait
            }
        };
        wake.notify_one();
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = wanted.changed() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// One CometD session: subscribes, then queues events until the objects to follow change,
/// the selection is due to be read again, or an error ends it.
async fn session(
    state: &State,
    org: &str,
    shared: &OrgStream,
    wake: &Notify,
    wanted: &mut watch::Receiver<BTreeMap<String, Option<String>>>,
) -> Result<Ended, StreamError> {
    let objects = shared.streamable();
    if objects.is_empty() {
        return Ok(Ended::Idle);
    }
    let api = state
        .orgs_runtime
        .api(state, org)
        .await
        .map_err(|e| StreamError::Refused {
            what: "the connection".into(),
            message: e.message,
        })?;
    let selected = api.cdc_objects().await?;
    let target = crate::datasource::admin_target(state, org)
        .await
        .map_err(|e| StreamError::Refused {
            what: "the stream's positions".into(),
            message: format!("the database: {}", e.message),
        })?;
    let mut channels = Vec::new();
    let mut object_of: BTreeMap<String, String> = BTreeMap::new();
    let mut fresh = Vec::new();
    let applied = shared.applied_positions();
    for object in &objects {
        if !selected.contains(object) {
            shared.set_feed(
                object,
                false,
                Some(format!(
                    "polled: Salesforce publishes no change events for {object} (select it in Setup → Change Data Capture to stream it)"
                )),
            );
            continue;
        }
        let position = target
            .cursor(&stream_key(object))
            .await
            .map_err(|e| StreamError::Refused {
                what: "the stream's positions".into(),
                message: e.to_string(),
            })?
            .and_then(|c| c.last_id.parse::<i64>().ok());
        let channel = channel_of(object);
        if position.is_none() {
            fresh.push(object.clone());
        }
        // After a reconnection, what the worker applied since is newer than what is stored.
        let from = position.max(applied.get(&channel).copied()).unwrap_or(-1);
        channels.push((channel.clone(), from));
        object_of.insert(channel, object.clone());
    }
    if channels.is_empty() {
        return Ok(Ended::Idle);
    }
    let mut stream = Stream::open(&api, &channels).await?;
    for object in object_of.values() {
        shared.set_feed(object, true, None);
    }
    for object in fresh {
        // Events start from now: the pull reads what came before.
        shared.needs_pull(&object, None);
    }
    take_setbacks(&mut stream, shared, &object_of);
    tracing::info!(
        objects = ?object_of.values().collect::<Vec<_>>(),
        "streaming changes"
    );
    wake.notify_one();
    let opened = Instant::now();
    loop {
        for (channel, replay) in shared.applied_positions() {
            stream.commit(&channel, replay);
        }
        let events = tokio::select! {
            _ = wanted.changed() => {
                stream.close().await;
                return Ok(Ended::Reconfigure);
            }
            r = stream.poll() => r?,
        };
        take_setbacks(&mut stream, shared, &object_of);
        if !events.is_empty() {
            let routed: Vec<(String, ChangeEvent)> = events
                .into_iter()
                .filter_map(|e| object_of.get(&e.channel).map(|o| (o.clone(), e)))
                .collect();
            let room = shared.received(routed);
            wake.notify_one();
            if !room {
                // The worker is behind (a long first load, say): wait for it, the events
                // stay in Salesforce meanwhile.
                tokio::select! {
                    _ = shared.drained.notified() => {}
                    _ = wanted.changed() => {
                        stream.close().await;
                        return Ok(Ended::Reconfigure);
                    }
                }
            }
        }
        if opened.elapsed() >= RESELECT_EVERY {
            stream.close().await;
            return Ok(Ended::Reconfigure);
        }
    }
}

/// Channels the session could not follow as asked: their objects are pulled.
fn take_setbacks(stream: &mut Stream, shared: &OrgStream, object_of: &BTreeMap<String, String>) {
    for setback in stream.take_setbacks() {
        match setback {
            Setback::Restarted { channel, message } => {
                let Some(object) = object_of.get(&channel) else {
                    continue;
                };
                tracing::warn!(%object, "the stored stream position is gone ({message}): the object is caught up by polling");
                shared.forget_channel(&channel);
                shared.needs_pull(
                    object,
                    Some(format!(
                        "caught up by polling: Salesforce no longer keeps the stream's stored position ({message})"
                    )),
                );
            }
            Setback::Dropped { channel, message } => {
                let Some(object) = object_of.get(&channel) else {
                    continue;
                };
                shared.set_feed(
                    object,
                    false,
                    Some(format!(
                        "polled: Salesforce has no change-event channel for {object} ({message})"
                    )),
                );
                shared.needs_pull(object, None);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::salesforce::streaming::ChangeType;

    fn event(replay: i64) -> ChangeEvent {
        ChangeEvent {
            channel: "/data/AccountChangeEvent".into(),
            replay_id: replay,
            entity: "Account".into(),
            record_ids: vec!["001".into()],
            change_type: ChangeType::Update,
            changed_fields: vec![],
            nulled_fields: vec![],
            commit_user: String::new(),
            change_origin: String::new(),
            commit_timestamp: 0,
            transaction_key: String::new(),
            sequence_number: 1,
            fields: Default::default(),
        }
    }

    fn ids(events: &[ChangeEvent]) -> Vec<i64> {
        events.iter().map(|e| e.replay_id).collect()
    }

    #[test]
    fn events_queue_in_order_once_and_go_back_when_not_applied() {
        let s = OrgStream::default();
        s.want([("Account".to_owned(), None)].into());
        let routed = |r: &[i64]| {
            r.iter()
                .map(|i| ("Account".to_owned(), event(*i)))
                .collect()
        };
        assert!(s.received(routed(&[1, 2, 3])));
        // Delivered again after a reconnection: not queued twice.
        assert!(s.received(routed(&[2, 3, 4])));
        let taken = s.take("Account", usize::MAX);
        assert_eq!(ids(&taken), [1, 2, 3, 4]);
        assert!(s.take("Account", usize::MAX).is_empty());
        // Not applied (the database was down): back at the head, before newer ones.
        assert!(s.received(routed(&[5])));
        s.untake("Account", taken);
        assert_eq!(ids(&s.take("Account", usize::MAX)), [1, 2, 3, 4, 5]);
        // Applied: a redelivery of what was applied is dropped.
        s.applied("Account", "/data/AccountChangeEvent", 5);
        assert!(s.received(routed(&[4, 5, 6])));
        assert_eq!(ids(&s.take("Account", usize::MAX)), [6]);
        assert!(s.feed("Account").last_event.is_some());
    }

    #[test]
    fn objects_that_cannot_stream_say_why_and_a_lost_stream_asks_for_pulls() {
        let s = OrgStream::default();
        s.want(
            [
                ("Account".to_owned(), None),
                ("Lead".to_owned(), Some("polled: a row filter".to_owned())),
            ]
            .into(),
        );
        assert_eq!(s.streamable(), ["Account"]);
        assert_eq!(s.feed("Lead").note.as_deref(), Some("polled: a row filter"));
        s.set_feed("Account", true, None);
        assert!(s.is_streaming("Account"));
        s.all_polled("polled while the change-event stream is down: x");
        assert!(!s.is_streaming("Account"));
        assert_eq!(
            s.feed("Account").note.as_deref(),
            Some("polled while the change-event stream is down: x")
        );
        assert_eq!(s.feed("Lead").note.as_deref(), Some("polled: a row filter"));
        // What was streamed may have missed events: a pull catches it up, once.
        assert_eq!(s.take_catch_up(), ["Account".to_owned()].into());
        assert!(s.take_catch_up().is_empty());
        // An object no longer mapped is forgotten.
        s.want([("Lead".to_owned(), Some("polled: a row filter".to_owned()))].into());
        assert!(s.streamable().is_empty());
        assert!(s.feed("Account").note.is_none());
    }
}
