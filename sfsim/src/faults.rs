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
    Drop,
}

pub struct Faults {
    pub cfg: FaultConfig,
    rng: StdRng,
    pub authenticated_calls: u64,
}

impl Faults {
    pub fn new(cfg: FaultConfig) -> Faults {
        let rng = StdRng::seed_from_u64(cfg.seed);
        Faults {
            cfg,
            rng,
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
            Strike::Drop
        } else {
            Strike::None
        }
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
}
