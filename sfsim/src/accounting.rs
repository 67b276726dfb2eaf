//! API request accounting: what counts, the daily allocation (a rolling 24-hour window, as
//! Salesforce measures it), and cumulative per-kind counters.

use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};

const WINDOW_MINUTES: i64 = 24 * 60;

#[derive(Clone, Debug, Serialize)]
pub struct Counters {
    /// Calls counted against DailyApiRequests in the last 24 hours.
    pub api_calls: u64,
    pub api_limit: u64,
    /// Every counted call since start or the last reset (what a sync spent).
    pub total_calls: u64,
    /// Counted calls by kind (query, sobject, collections, composite, describe, bulk_ingest, …).
    pub by_kind: BTreeMap<String, u64>,
    /// Requests that were not counted (`/services/data`, OAuth).
    pub uncounted: u64,
    /// Requests refused with `REQUEST_LIMIT_EXCEEDED` because the daily limit was used up
    /// (not counted against it: they did nothing).
    pub refused: u64,
    pub bulk_query_jobs: u64,
    pub bulk_ingest_batches: u64,
    pub records_ingested: u64,
    /// Calls per wall-clock minute inside the window.
    #[serde(skip)]
    window: VecDeque<(i64, u64)>,
}

fn minute_now() -> i64 {
    chrono::Utc::now().timestamp() / 60
}

impl Counters {
    pub fn new(limit: u64) -> Counters {
        Counters {
            api_calls: 0,
            api_limit: limit,
            total_calls: 0,
            by_kind: BTreeMap::new(),
            uncounted: 0,
            refused: 0,
            bulk_query_jobs: 0,
            bulk_ingest_batches: 0,
            records_ingested: 0,
            window: VecDeque::new(),
        }
    }

    fn roll(&mut self) {
        let oldest = minute_now() - WINDOW_MINUTES;
        while let Some(&(m, n)) = self.window.front() {
            if m > oldest {
                break;
            }
            self.window.pop_front();
            self.api_calls = self.api_calls.saturating_sub(n);
        }
    }

    fn add(&mut self, n: u64) {
        let now = minute_now();
        match self.window.back_mut() {
            Some((m, c)) if *m == now => *c += n,
            _ => self.window.push_back((now, n)),
        }
        self.api_calls += n;
    }

    /// Counts one call; `false` when the allocation is used up (the call is refused).
    pub fn count(&mut self, kind: &str) -> bool {
        self.roll();
        if self.api_calls >= self.api_limit {
            self.refused += 1;
            return false;
        }
        self.add(1);
        self.total_calls += 1;
        *self.by_kind.entry(kind.to_string()).or_default() += 1;
        true
    }

    /// Sets the usage of the current window (e.g. to the limit, to exhaust it).
    pub fn set_usage(&mut self, used: u64) {
        self.window.clear();
        self.api_calls = 0;
        self.add(used);
    }

    pub fn limit_info(&self) -> String {
        format!("api-usage={}/{}", self.api_calls, self.api_limit)
    }

    pub fn reset(&mut self) {
        let limit = self.api_limit;
        *self = Counters::new(limit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_is_limited_and_settable() {
        let mut c = Counters::new(2);
        assert!(c.count("query"));
        assert!(c.count("query"));
        assert!(!c.count("query"));
        assert_eq!((c.api_calls, c.total_calls), (2, 2));
        c.set_usage(0);
        assert!(c.count("limits"));
        assert_eq!(c.limit_info(), "api-usage=1/2");
        assert_eq!(c.by_kind["query"], 2);
    }

    #[test]
    fn old_minutes_leave_the_window() {
        let mut c = Counters::new(10);
        c.window.push_back((minute_now() - WINDOW_MINUTES - 1, 7));
        c.api_calls = 7;
        assert!(c.count("query"));
        assert_eq!(c.api_calls, 1);
    }
}
