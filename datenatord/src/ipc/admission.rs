//! How many connections the daemon holds: at most `max` in all, of which at most
//! [`MAX_WAITING`] have not sent their handshake yet.
//!
//! A connection that has not shaken hands is cheap to let go: when too many wait, the one
//! waiting longest is closed to make room for the newcomer, so a client that opens
//! connections and sends nothing can never keep a real client out. Handshaken connections
//! are never displaced: past `max` a newcomer is refused, with a reply that says so.
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

/// The most connections waiting for their handshake at once.
pub const MAX_WAITING: usize = 16;

/// Why a connection was closed by the daemon rather than by its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eviction {
    /// Too many connections were waiting for their handshake; this one waited longest.
    Displaced,
}

#[derive(Debug)]
pub struct Admission {
    max: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Connections holding a ticket, less those displaced (their tickets are spent).
    open: usize,
    /// Connections that have not shaken hands yet, oldest first.
    waiting: VecDeque<Waiting>,
}

#[derive(Debug)]
struct Waiting {
    id: u64,
    close: CancellationToken,
    evicted: Arc<AtomicBool>,
}

/// A connection's place; dropping it frees the place.
#[derive(Debug)]
pub struct Ticket {
    id: u64,
    admission: Arc<Admission>,
    evicted: Arc<AtomicBool>,
}

/// A connection turned away: every place is taken by a handshaken client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full {
    pub max: usize,
}

impl Admission {
    pub fn new(max: usize) -> Arc<Admission> {
        Arc::new(Admission {
            max: max.max(1),
            inner: Mutex::new(Inner::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits connection `id`, whose task stops when `close` is cancelled. Returns the
    /// ticket and how many waiting connections were displaced to make room.
    pub fn admit(
        self: &Arc<Self>,
        id: u64,
        close: CancellationToken,
    ) -> Result<(Ticket, usize), Full> {
        let mut inner = self.lock();
        let mut displaced = 0;
        while inner.waiting.len() >= MAX_WAITING
            || (inner.open >= self.max && !inner.waiting.is_empty())
        {
            let Some(oldest) = inner.waiting.pop_front() else {
                break;
            };
            oldest.evicted.store(true, Ordering::SeqCst);
            oldest.close.cancel();
            inner.open -= 1;
            displaced += 1;
        }
        if inner.open >= self.max {
            return Err(Full { max: self.max });
        }
        let evicted = Arc::new(AtomicBool::new(false));
        inner.open += 1;
        inner.waiting.push_back(Waiting {
            id,
            close,
            evicted: evicted.clone(),
        });
        Ok((
            Ticket {
                id,
                admission: self.clone(),
                evicted,
            },
            displaced,
        ))
    }

    /// How many connections hold a place now.
    #[cfg(test)]
    pub fn open(&self) -> usize {
        self.lock().open
    }
}

impl Ticket {
    /// The connection shook hands: it can no longer be displaced.
    pub fn handshaken(&self) {
        let mut inner = self.admission.lock();
        inner.waiting.retain(|w| w.id != self.id);
    }

    /// Why the daemon closed this connection, if it did.
    pub fn eviction(&self) -> Option<Eviction> {
        self.evicted
            .load(Ordering::SeqCst)
            .then_some(Eviction::Displaced)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut inner = self.admission.lock();
        if !self.evicted.load(Ordering::SeqCst) {
            inner.open = inner.open.saturating_sub(1);
            inner.waiting.retain(|w| w.id != self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_connections_make_room_handshaken_ones_do_not() {
        let a = Admission::new(3);
        let t1 = CancellationToken::new();
        let (first, _) = a.admit(1, t1.clone()).unwrap();
        first.handshaken();
        let t2 = CancellationToken::new();
        let (second, _) = a.admit(2, t2.clone()).unwrap();
        let (third, _) = a.admit(3, CancellationToken::new()).unwrap();
        assert_eq!(a.open(), 3);
        // Full: the longest-waiting connection (2) makes room, the handshaken one stays.
        let (fourth, displaced) = a.admit(4, CancellationToken::new()).unwrap();
        assert_eq!(displaced, 1);
        assert!(t2.is_cancelled() && !t1.is_cancelled());
        assert_eq!(second.eviction(), Some(Eviction::Displaced));
        assert_eq!(a.open(), 3);
        drop(second);
        assert_eq!(a.open(), 3, "a displaced ticket was already counted out");
        third.handshaken();
        fourth.handshaken();
        // Every place taken by a handshaken client: the newcomer is refused.
        assert_eq!(
            a.admit(5, CancellationToken::new()).unwrap_err(),
            Full { max: 3 }
        );
        drop(first);
        assert_eq!(a.open(), 2);
        assert!(a.admit(6, CancellationToken::new()).is_ok());
    }

    #[test]
    fn at_most_max_waiting_wait() {
        let a = Admission::new(1000);
        let mut tickets = Vec::new();
        let mut tokens = Vec::new();
        for id in 0..(MAX_WAITING as u64 * 3) {
            let t = CancellationToken::new();
            tokens.push(t.clone());
            tickets.push(a.admit(id, t).unwrap().0);
        }
        assert_eq!(a.open(), MAX_WAITING);
        assert!(tokens[..MAX_WAITING * 2].iter().all(|t| t.is_cancelled()));
        assert!(tokens[MAX_WAITING * 2..].iter().all(|t| !t.is_cancelled()));
        drop(tickets);
        assert_eq!(a.open(), 0);
    }
}
