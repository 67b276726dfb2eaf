//! Injected faults, deterministic from a seed.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct FaultConfig {
    /// Seed of the fault dice; the same seed and request sequence give the same faults.
    pub seed: u64,
    /// Added to every API response.
    pub latency_ms: u64,
    /// Up to this much more, drawn uniformly (`0..=latency_jitter_ms`) per response from
    /// the seeded dice, so concurrent calls overtake each other.
    pub latency_jitter_ms: u64,
    /// Share (0..1) of API requests answered 503 SERVER_UNAVAILABLE.
    pub error_503_share: f64,
    /// Share of API requests answered 500 UNKNOWN_EXCEPTION.
    pub error_500_share: f64,
    /// Share of API requests whose connection is dropped without a complete response.
    pub drop_share: f64,
    /// Share of record writes failing with UNABLE_TO_LOCK_ROW.
    pub lock_row_share: f64,
    /// Every Nth authenticated request expires the session it used (0 = never).
    pub expire_session_every: u64,
    /// Changes become visible to queries this many milliseconds after they are made.
    pub late_visibility_ms: u64,
}

/// What a request suffers before it is handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strike {
    None,
    Unavailable,
    Unknown,
    /// The connection drops before the request is handled: nothing was done.
    Drop,
    /// The request is handled (a write commits), then the connection drops before the
    /// answer: the client cannot know what happened — the case that makes duplicates.
    DropAfter,
}

pub struct Faults {
    pub cfg: FaultConfig,
    rng: StdRng,
    /// The jitter's own stream (from the same seed), so turning jitter on leaves the
    /// sequence of strikes and locks of a seed as it was.
    jitter_rng: StdRng,
    pub authenticated_calls: u64,
}

/// Separates the jitter stream from the strike dice of the same seed.
const JITTER_STREAM: u64 = 0x6a69_7474_6572_0001;

impl Faults {
    pub fn new(cfg: FaultConfig) -> Faults {
        let rng = StdRng::seed_from_u64(cfg.seed);
        let jitter_rng = StdRng::seed_from_u64(cfg.seed ^ JITTER_STREAM);
        Faults {
            cfg,
            rng,
            jitter_rng,
            authenticated_calls: 0,
        }
    }

    pub fn set(&mut self, cfg: FaultConfig) {
        *self = Faults::new(cfg);
    }

    fn roll(&mut self, share: f64) -> bool {
        share > 0.0 && self.rng.random::<f64>() < share
    }

    pub fn strike(&mut self) -> Strike {
        let (a, b, c) = (
            self.cfg.error_503_share,
            self.cfg.error_500_share,
            self.cfg.drop_share,
        );
        if self.roll(a) {
            Strike::Unavailable
        } else if self.roll(b) {
            Strike::Unknown
        } else if self.roll(c) {
            if self.rng.random::<bool>() {
                Strike::Drop
            } else {
                Strike::DropAfter
            }
        } else {
            Strike::None
        }
    }

    /// How long the next API response waits: `latency_ms` plus a uniform draw from
    /// `0..=latency_jitter_ms`.
    pub fn latency(&mut self) -> std::time::Duration {
        let jitter = match self.cfg.latency_jitter_ms {
            0 => 0,
            j => self.jitter_rng.random_range(0..=j),
        };
        std::time::Duration::from_millis(self.cfg.latency_ms.saturating_add(jitter))
    }

    pub fn lock_row(&mut self) -> bool {
        let s = self.cfg.lock_row_share;
        self.roll(s)
    }

    /// Counts an authenticated call; `true` when this one should expire its session.
    pub fn expire_now(&mut self) -> bool {
        self.authenticated_calls += 1;
        self.cfg.expire_session_every > 0
            && self
                .authenticated_calls
                .is_multiple_of(self.cfg.expire_session_every)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_faults() {
        let cfg = FaultConfig {
            seed: 7,
            error_503_share: 0.3,
            drop_share: 0.2,
            ..Default::default()
        };
        let a: Vec<Strike> = {
            let mut f = Faults::new(cfg.clone());
            (0..50).map(|_| f.strike()).collect()
        };
        let b: Vec<Strike> = {
            let mut f = Faults::new(cfg);
            (0..50).map(|_| f.strike()).collect()
        };
        assert_eq!(a, b);
        assert!(a.contains(&Strike::Unavailable));
        assert!(a.contains(&Strike::None));
    }

    #[test]
    fn latency_jitter_stays_in_range_and_replays_per_seed() {
        let cfg = FaultConfig {
            seed: 3,
            latency_ms: 100,
            latency_jitter_ms: 50,
            error_503_share: 0.3,
            ..Default::default()
        };
        let draw = |cfg: FaultConfig| {
            let mut f = Faults::new(cfg);
            (0..2000)
                .map(|_| f.latency().as_millis() as u64)
                .collect::<Vec<u64>>()
        };
        let a = draw(cfg.clone());
        assert!(a.iter().all(|ms| (100..=150).contains(ms)), "{a:?}");
        // Both ends of the range come up, and values in between.
        assert!(a.contains(&100) && a.contains(&150));
        assert!(a.iter().any(|ms| *ms != 100 && *ms != 150));
        assert_eq!(
            a,
            draw(cfg.clone()),
            "the same seed gives the same latencies"
        );
        // No jitter: exactly the fixed latency.
        let fixed = draw(FaultConfig {
            latency_jitter_ms: 0,
            ..cfg.clone()
        });
        assert!(fixed.iter().all(|ms| *ms == 100));
        // Jitter draws from its own stream: the strikes of a seed stay as they were.
        let strikes = |cfg: FaultConfig| {
            let mut f = Faults::new(cfg);
            (0..200)
                .map(|_| {
                    f.latency();
                    f.strike()
                })
                .collect::<Vec<Strike>>()
        };
        assert_eq!(
            strikes(cfg.clone()),
            strikes(FaultConfig {
                latency_jitter_ms: 0,
                ..cfg
            })
        );
    }
}
