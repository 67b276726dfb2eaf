//! API usage: read from every response's `Sforce-Limit-Info` header and from `/limits`.
use std::sync::Mutex;

use datenator_shared::model::{ApiUsage, UsageForecast};
use tokio::sync::watch;

/// Parses `api-usage=18/15000` (more `; key=value` parts may follow, in any order).
pub fn parse_limit_info(header: &str) -> Option<ApiUsage> {
    header.split([';', ',']).find_map(|part| {
        let (key, value) = part.split_once('=')?;
        if key.trim() != "api-usage" {
            return None;
        }
        let (used, max) = value.trim().split_once('/')?;
        Some(ApiUsage {
            used: used.trim().parse().ok()?,
            max: max.trim().parse().ok()?,
        })
    })
}

/// The longest the scheduler stretches a polling interval to.
const MAX_STRETCHED_SECS: u32 = 60 * 60;
/// A stretched interval goes back to the configured one only once the projection is this
/// share of the budget or less (and moves down only by more than this share): the
/// interval does not flap around the budget.
const HYSTERESIS: f64 = 0.9;

const DAY_SECS: f64 = 86_400.0;

/// Where usage is heading, on Salesforce's own measure: `used`, the org's calls in the last
/// 24 hours (every client's, one-off work such as a first load counted once), plus what the
/// polling schedule costs in a day (`calls_per_poll` at the interval). When that passes
/// `budget_percent` of `max`, polling is stretched to the shortest interval (a multiple of
/// the configured one) that keeps it within; `current` is the interval in force, for the
/// hysteresis.
pub fn forecast(
    used: u64,
    max: u64,
    calls_per_poll: u32,
    configured_secs: u32,
    budget_percent: u8,
    current: Option<u32>,
) -> Option<UsageForecast> {
    if max == 0 {
        return None;
    }
    let configured = configured_secs.max(1);
    let per_poll = f64::from(calls_per_poll.max(1));
    let steady = |interval: u32| per_poll * DAY_SECS / f64::from(interval.max(1));
    let budget = max as f64 * f64::from(budget_percent.max(1)) / 100.0;
    let projected = used as f64 + steady(configured);
    // The shortest multiple of the configured interval whose day of polling fits what
    // `budget` leaves (the longest there is when nothing is left).
    let needed = |budget: f64| {
        let room = budget - used as f64;
        let secs = if room > 0.0 {
            (per_poll * DAY_SECS / room)
                .ceil()
                .min(f64::from(MAX_STRETCHED_SECS))
        } else {
            f64::from(MAX_STRETCHED_SECS)
        };
        let steps = (secs / f64::from(configured)).ceil().max(1.0) as u32;
        configured
            .saturating_mul(steps)
            .clamp(configured, MAX_STRETCHED_SECS.max(configured))
    };
    let effective = match current.filter(|&c| c > configured) {
        // Stretched now: longer at once when more is needed; shorter (back to the
        // configured interval included) only as far as keeps the projection within
        // `HYSTERESIS` of the budget.
        Some(c) => {
            let must = needed(budget);
            let may = needed(budget * HYSTERESIS);
            if must > c { must } else { may.min(c) }
        }
        None if projected > budget => needed(budget),
        None => configured,
    };
    Some(UsageForecast {
        calls_per_hour: steady(effective) / 24.0,
        projected_percent: projected / max as f64 * 100.0,
        effective_interval_secs: effective,
        used_calls: used,
        steady_calls_per_day: steady(configured),
    })
}

/// The latest known usage of one org, what its polls cost, the interval in force, and a
/// count of the calls this process made.
#[derive(Debug)]
pub struct UsageTracker {
    latest: watch::Sender<Option<ApiUsage>>,
    /// Calls one poll of every object costs (composite requests of five queries).
    calls_per_poll: Mutex<u32>,
    /// The stretched interval in force, if any (for the hysteresis).
    stretched: Mutex<Option<u32>>,
    calls: Mutex<u64>,
    /// The daily change-event delivery allocation (`DailyDeliveredPlatformEvents`) as
    /// `/limits` last told it.
    events: Mutex<Option<ApiUsage>>,
}

impl Default for UsageTracker {
    fn default() -> Self {
        UsageTracker {
            latest: watch::channel(None).0,
            calls_per_poll: Mutex::new(1),
            stretched: Mutex::new(None),
            calls: Mutex::new(0),
            events: Mutex::new(None),
        }
    }
}

impl UsageTracker {
    /// The forecast (see [`forecast`]) once Salesforce has said how much the org used.
    pub fn forecast(&self, configured_secs: u32, budget_percent: u8) -> Option<UsageForecast> {
        let usage = self.latest()?;
        let per_poll = self.calls_per_poll.lock().map(|c| *c).unwrap_or(1);
        let mut stretched = self.stretched.lock().ok()?;
        let f = forecast(
            usage.used,
            usage.max,
            per_poll,
            configured_secs,
            budget_percent,
            *stretched,
        )?;
        *stretched = f
            .stretched(configured_secs)
            .then_some(f.effective_interval_secs);
        Some(f)
    }

    /// What one poll of the org's objects costs: the worker says so each tick.
    pub fn set_calls_per_poll(&self, calls: u32) {
        if let Ok(mut c) = self.calls_per_poll.lock() {
            *c = calls.max(1);
        }
    }

    pub fn record(&self, usage: ApiUsage) {
        self.latest.send_if_modified(|cur| {
            let changed = *cur != Some(usage);
            *cur = Some(usage);
            changed
        });
    }
    pub fn count_call(&self) {
        if let Ok(mut c) = self.calls.lock() {
            *c += 1;
        }
    }

    pub fn latest(&self) -> Option<ApiUsage> {
        *self.latest.borrow()
    }

    /// Requests this process sent (those Salesforce counts and those it doesn't).
    pub fn calls(&self) -> u64 {
        self.calls.lock().map(|c| *c).unwrap_or(0)
    }

    /// Records the change-event delivery allocation in use (from `/limits`).
    pub fn record_events(&self, usage: ApiUsage) {
        if let Ok(mut e) = self.events.lock() {
            *e = Some(usage);
        }
    }

    /// The change-event delivery allocation in use, when `/limits` was read.
    pub fn events(&self) -> Option<ApiUsage> {
        self.events.lock().ok().and_then(|e| *e)
    }

    pub fn subscribe(&self) -> watch::Receiver<Option<ApiUsage>> {
        self.latest.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_leniently() {
        assert_eq!(
            parse_limit_info("api-usage=18/15000"),
            Some(ApiUsage {
                used: 18,
                max: 15000
            })
        );
        assert_eq!(
            parse_limit_info("per-app-api-usage=1/5(appName=x); api-usage= 7 / 100"),
            Some(ApiUsage { used: 7, max: 100 })
        );
        assert_eq!(parse_limit_info("api-usage=x/100"), None);
        assert_eq!(parse_limit_info("nothing"), None);
    }

    #[test]
    fn one_off_work_counts_once_and_the_schedule_by_the_day() {
        // A first load spent 3,000 calls; polling 2 calls a minute costs 2,880 a day:
        // 5,880 of 15,000 = 39 %, within a 50 % budget.
        let f = forecast(3_000, 15_000, 2, 60, 50, None).unwrap();
        assert!((f.projected_percent - 39.2).abs() < 1e-9, "{f:?}");
        assert_eq!(f.effective_interval_secs, 60);
        assert!((f.steady_calls_per_day - 2_880.0).abs() < 1e-9);
        assert!((f.calls_per_hour - 120.0).abs() < 1e-9);
        assert_eq!(f.used_calls, 3_000);
    }

    #[test]
    fn past_the_budget_polling_stretches_just_enough_in_steps_of_the_interval() {
        // 7,000 used; 500 left under a 50 % budget of 15,000; 1 call a poll needs
        // 86,400 / 500 = 173 s between polls: 180 s, three configured intervals.
        let f = forecast(7_000, 15_000, 1, 60, 50, None).unwrap();
        assert!(f.projected_percent > 50.0, "{f:?}");
        assert_eq!(f.effective_interval_secs, 180);
        assert!((f.calls_per_hour - 20.0).abs() < 1e-9, "{f:?}");
        // Nothing left: the longest interval.
        let f = forecast(7_600, 15_000, 1, 60, 50, None).unwrap();
        assert_eq!(f.effective_interval_secs, 3600);
        // Never shorter than configured.
        let f = forecast(7_000, 15_000, 1, 7200, 50, None).unwrap();
        assert_eq!(f.effective_interval_secs, 7200);
    }

    #[test]
    fn the_interval_does_not_flap_around_the_budget() {
        // Stretched to 180 s; usage eases to just under the budget: still stretched (to
        // what would keep it within 90 % of the budget), and as long again next time.
        let f = forecast(6_000, 15_000, 1, 60, 50, Some(180)).unwrap();
        assert!(
            f.projected_percent < 50.0 && f.projected_percent > 45.0,
            "{f:?}"
        );
        assert_eq!(f.effective_interval_secs, 120);
        let again = forecast(6_000, 15_000, 1, 60, 50, Some(120)).unwrap();
        assert_eq!(again.effective_interval_secs, 120);
        // Well within (≤ 90 % of the budget): back to the configured interval.
        let f = forecast(5_000, 15_000, 1, 60, 50, Some(180)).unwrap();
        assert_eq!(f.effective_interval_secs, 60);
        // Needing more: longer at once.
        let f = forecast(7_400, 15_000, 1, 60, 50, Some(180)).unwrap();
        assert_eq!(f.effective_interval_secs, 900);
        // Needing a little less: stays.
        let f = forecast(7_050, 15_000, 1, 60, 50, Some(240)).unwrap();
        assert_eq!(f.effective_interval_secs, 240);
    }

    #[test]
    fn the_tracker_forecasts_once_usage_is_known_and_remembers_the_stretch() {
        let t = UsageTracker::default();
        assert_eq!(t.forecast(60, 50), None);
        t.record(ApiUsage {
            used: 7_000,
            max: 15_000,
        });
        assert_eq!(t.forecast(60, 50).unwrap().effective_interval_secs, 180);
        t.record(ApiUsage {
            used: 6_000,
            max: 15_000,
        });
        assert_eq!(t.forecast(60, 50).unwrap().effective_interval_secs, 120);
        t.set_calls_per_poll(2);
        t.record(ApiUsage {
            used: 1_000,
            max: 15_000,
        });
        assert_eq!(t.forecast(60, 50).unwrap().effective_interval_secs, 60);
    }
}
