//! API usage: read from every response's `Sforce-Limit-Info` header and from `/limits`.
use std::sync::Mutex;

use datenator_shared::model::ApiUsage;
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

/// The latest known usage of one org, plus a count of the calls this process made.
#[derive(Debug)]
pub struct UsageTracker {
    latest: watch::Sender<Option<ApiUsage>>,
    calls: Mutex<u64>,
}

impl Default for UsageTracker {
    fn default() -> Self {
        UsageTracker {
            latest: watch::channel(None).0,
            calls: Mutex::new(0),
        }
    }
}

impl UsageTracker {
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
}
