//! Waiting for something to become true, the one way the tests do it.
//!
//! Nothing in the daemon happens at a fixed moment: a test that expects a change asks the
//! same question again until the answer is the expected one, or gives up after a timeout
//! and fails with what it was waiting for.
//!
//! * [`eventually`] — until a check is `true`, within [`TIMEOUT`];
//!   [`eventually_within`] with a timeout of its own.
//! * [`eventually_some`] — until a check finds a value (`Some`), and returns it;
//!   [`eventually_some_within`] with a timeout of its own.
//! * [`eventually_ok`] — until a check is `Ok`, and returns its value; on a timeout the
//!   failure shows the last `Err` (a screen, a diff, a log tail: why it was not yet true).
//! * [`poll`], [`poll_every`], [`poll_blocking`] — the loop itself, returning the value
//!   or the last `Err`, for a caller that fails in its own words.
//! * [`blocking`] — the same as [`eventually_ok`] for tests without an async runtime (the
//!   terminal tests, the process fixtures): it sleeps the thread between checks.
//! * [`event_where`] — until a client's subscription delivers an event a check accepts
//!   (`sync::status_where` builds on it for the `sync` topic).
//!
//! A check that can fail outright (the daemon exited) may simply panic.
use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, Instant};

use datenator_shared::client::Client;
use datenator_shared::model::Event;

/// How long [`eventually`] and its kin wait unless told otherwise: long enough for a sync
/// round on a busy machine with two cores, short enough that a hang fails the test.
pub const TIMEOUT: Duration = Duration::from_secs(90);

/// How often an async check is asked again.
const ASYNC_INTERVAL: Duration = Duration::from_millis(100);

/// How often a blocking check is asked again.
const BLOCKING_INTERVAL: Duration = Duration::from_millis(50);

/// Asks `check` every 100 ms until it is `Ok` or `timeout` has passed; the value, or the
/// last `Err`. The building block of the others, for a caller that wants to fail in its
/// own words (`.unwrap_or_else(|e| panic!(…))`).
pub async fn poll<T, E, F, Fut>(timeout: Duration, check: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    poll_every(timeout, ASYNC_INTERVAL, check).await
}

/// [`poll`] with a pause of `interval` between checks, for a check that costs something
/// (a round of queries on both sides, a `sync_now`).
pub async fn poll_every<T, E, F, Fut>(
    timeout: Duration,
    interval: Duration,
    mut check: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let last = check().await;
        if last.is_ok() || Instant::now() >= deadline {
            return last;
        }
        tokio::time::sleep(interval).await;
    }
}

/// Waits until `check` holds, within [`TIMEOUT`]; panics with `what` otherwise.
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually_within(what, TIMEOUT, check).await
}

/// Waits until `check` holds, within `timeout`; panics with `what` otherwise.
pub async fn eventually_within<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually_some_within(what, timeout, || {
        let fut = check();
        async move { fut.await.then_some(()) }
    })
    .await
}

/// Waits until `check` finds something, within [`TIMEOUT`], and returns it; panics with
/// `what` otherwise.
pub async fn eventually_some<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_some_within(what, TIMEOUT, check).await
}

/// Waits until `check` finds something, within `timeout`, and returns it; panics with
/// `what` otherwise.
pub async fn eventually_some_within<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    poll(timeout, || {
        let fut = check();
        async move { fut.await.ok_or(()) }
    })
    .await
    .unwrap_or_else(|()| panic!("timed out after {timeout:?} waiting for: {what}"))
}

/// Waits until `check` is `Ok`, within `timeout`, and returns its value; panics with
/// `what` and the last `Err` (say, the difference still left) otherwise.
pub async fn eventually_ok<T, E, F, Fut>(what: &str, timeout: Duration, check: F) -> T
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    poll(timeout, check)
        .await
        .unwrap_or_else(|e| panic!("timed out after {timeout:?} waiting for: {what}\n{e}"))
}

/// Asks `check` every 50 ms, sleeping the thread in between, until it is `Ok` or `timeout`
/// has passed; the value, or the last `Err`. For code that runs on no async runtime.
pub fn poll_blocking<T, E>(
    timeout: Duration,
    mut check: impl FnMut() -> Result<T, E>,
) -> Result<T, E> {
    let deadline = Instant::now() + timeout;
    loop {
        let last = check();
        if last.is_ok() || Instant::now() >= deadline {
            return last;
        }
        std::thread::sleep(BLOCKING_INTERVAL);
    }
}

/// [`eventually_ok`] without an async runtime: waits until `check` is `Ok`, within
/// `timeout`, and returns its value; panics with `what` and the last `Err` otherwise.
pub fn blocking<T, E: Display>(
    what: &str,
    timeout: Duration,
    check: impl FnMut() -> Result<T, E>,
) -> T {
    poll_blocking(timeout, check)
        .unwrap_or_else(|e| panic!("timed out after {timeout:?} waiting for: {what}\n{e}"))
}

/// Waits for an event on `client`'s subscriptions that `pick` maps to `Some`, within
/// `timeout`, and returns what it picked; events it does not pick are passed over. Panics
/// with `what` otherwise. Only events arriving from now on count, so a state that is
/// already true and never announced again is not seen: subscribe first, then act.
pub async fn event_where<T>(
    client: &Client,
    what: &str,
    timeout: Duration,
    mut pick: impl FnMut(&Event) -> Option<T>,
) -> T {
    let found = tokio::time::timeout(timeout, async {
        loop {
            match client.next_event().await {
                Some(event) => {
                    if let Some(found) = pick(&event) {
                        return found;
                    }
                }
                None => panic!("the connection closed while waiting for: {what}"),
            }
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("timed out after {timeout:?} waiting for: {what}"))
}
