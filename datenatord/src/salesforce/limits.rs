//! API usage: read from every response's `Sforce-Limit-Info` header and from `/limits`.
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

/// How far back the rate behind a forecast looks.
const FORECAST_WINDOW: Duration = Duration::from_secs(60 * 60);
/// The shortest stretch of samples a forecast is made from.
const FORECAST_MIN_SPAN: Duration = Duration::from_secs(15);
/// The longest the scheduler stretches a polling interval to.
const MAX_STRETCHED_SECS: u32 = 60 * 60;

/// Where usage is heading: the rate over the samples (time, calls used) of the last hour,
/// what a day at that rate would use (Salesforce counts a rolling 24 hours), and the
/// polling interval that keeps sync within `budget_percent` — the configured one, or
/// stretched by how far the projection passes the budget.
pub fn forecast(
    samples: &[(Instant, u64)],
    now: Instant,
    max: u64,
    configured_secs: u32,
    budget_percent: u8,
) -> Option<UsageForecast> {
    let &(newest_at, newest) = samples.last()?;
    let &(oldest_at, oldest) = samples
        .iter()
        .find(|(at, _)| now.saturating_duration_since(*at) <= FORECAST_WINDOW)?;
    let span = newest_at.saturating_duration_since(oldest_at);
    if span < FORECAST_MIN_SPAN || max == 0 {
        return None;
    }
    // Usage can fall as old calls leave the 24-hour window: that is a rate of zero.
    let calls_per_hour = newest.saturating_sub(oldest) as f64 / span.as_secs_f64() * 3600.0;
    let projected_percent = calls_per_hour * 24.0 / max as f64 * 100.0;
    let budget = f64::from(budget_percent.max(1));
    let effective_interval_secs = if projected_percent > budget {
        let factor = (projected_percent / budget)
            .ceil()
            .min(f64::from(MAX_STRETCHED_SECS));
        ((f64::from(configured_secs.max(1)) * factor) as u32)
            .min(MAX_STRETCHED_SECS)
            .max(configured_secs)
    } else {
        configured_secs
    };
    Some(UsageForecast {
        calls_per_hour,
        projected_percent,
        effective_interval_secs,
    })
}

/// The latest known usage of one org, the recent samples behind its forecast, and a count
/// of the calls this process made.
#[derive(Debug)]
pub struct UsageTracker {
    latest: watch::Sender<Option<ApiUsage>>,
    samples: Mutex<VecDeque<(Instant, u64)>>,
    calls: Mutex<u64>,
}

impl Default for UsageTracker {
    fn default() -> Self {
        UsageTracker {
            latest: watch::channel(None).0,
            samples: Mutex::new(VecDeque::new()),
            calls: Mutex::new(0),
        }
    }
}

impl UsageTracker {
    /// The forecast at the recent rate (see [`forecast`]), once there are samples enough.
    pub fn forecast(&self, configured_secs: u32, budget_percent: u8) -> Option<UsageForecast> {
        let max = self.latest()?.max;
        let mut samples = self.samples.lock().ok()?;
        forecast(
            samples.make_contiguous(),
            Instant::now(),
            max,
            configured_secs,
            budget_percent,
        )
    }

    pub fn record(&self, usage: ApiUsage) {
        if let Ok(mut samples) = self.samples.lock() {
            let now = Instant::now();
            // One sample a second is plenty; the newest figure replaces a fresher one.
            if samples
                .back()
                .is_some_and(|(at, _)| now.duration_since(*at) < Duration::from_secs(1))
            {
                samples.pop_back();
            }
            samples.push_back((now, usage.used));
            while samples
                .front()
                .is_some_and(|(at, _)| now.duration_since(*at) > FORECAST_WINDOW)
            {
                samples.pop_front();
            }
        }
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
    fn the_forecast_stretches_the_interval_past_the_budget() {
        let t0 = Instant::now();
        let at = |secs: u64| t0 + Duration::from_secs(secs);
        // Too short a span: no forecast yet.
        assert_eq!(
            forecast(&[(at(0), 100), (at(5), 110)], at(5), 15_000, 60, 50),
            None
        );
        // 150 calls in 10 minutes = 900/h; a day at that rate is 21,600 = 144 % of 15,000,
        // past a 50 % budget by a factor of 2.88: polling every 3 minutes instead of 1.
        let f = forecast(&[(at(0), 1000), (at(600), 1150)], at(600), 15_000, 60, 50).unwrap();
        assert!((f.calls_per_hour - 900.0).abs() < 1e-6, "{f:?}");
        assert!((f.projected_percent - 144.0).abs() < 1e-6, "{f:?}");
        assert_eq!(f.effective_interval_secs, 180);
        assert!(f.stretched(60));
        // Well within the budget: the configured interval.
        let f = forecast(&[(at(0), 1000), (at(600), 1010)], at(600), 15_000, 60, 50).unwrap();
        assert_eq!(f.effective_interval_secs, 60);
        assert!(!f.stretched(60));
        // Usage falling (old calls leave the window) is a rate of zero.
        let f = forecast(&[(at(0), 1000), (at(600), 900)], at(600), 15_000, 60, 50).unwrap();
        assert_eq!(f.calls_per_hour, 0.0);
        // Never stretched past an hour.
        let f = forecast(&[(at(0), 0), (at(60), 14_000)], at(60), 15_000, 600, 10).unwrap();
        assert_eq!(f.effective_interval_secs, 3600);
        // Samples older than the window are not used.
        let f = forecast(
            &[(at(0), 0), (at(3000), 10_000), (at(4000), 10_010)],
            at(4000),
            15_000,
            60,
            50,
        )
        .unwrap();
        assert!(f.calls_per_hour < 100.0, "{f:?}");
    }

    #[test]
    fn the_tracker_keeps_samples_for_its_forecast() {
        let t = UsageTracker::default();
        assert_eq!(t.forecast(60, 50), None);
        t.record(ApiUsage { used: 5, max: 100 });
        assert_eq!(t.forecast(60, 50), None, "one sample is not a rate");
    }
}
