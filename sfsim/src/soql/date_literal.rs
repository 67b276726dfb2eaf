//! Relative date literals (`TODAY`, `LAST_N_DAYS:7`, `THIS_MONTH`, `LAST_YEAR`, …): each
//! names a [start, end) range of days, in the org's time zone (GMT). Weeks start on
//! Sunday (the en_US locale), fiscal years on January 1st (the org's
//! FiscalYearStartMonth), so the FISCAL ones are the calendar ones.

use chrono::{Datelike, Days, Months, NaiveDate};

fn week_start(d: NaiveDate) -> NaiveDate {
    d - Days::new(u64::from(d.weekday().num_days_from_sunday()))
}

fn month_start(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

fn quarter_start(d: NaiveDate) -> NaiveDate {
    let m = (d.month0() / 3) * 3 + 1;
    NaiveDate::from_ymd_opt(d.year(), m, 1).unwrap_or(d)
}

fn year_start(d: NaiveDate) -> NaiveDate {
    NaiveDate::from_ymd_opt(d.year(), 1, 1).unwrap_or(d)
}

/// A unit of calendar time and how to step it.
#[derive(Clone, Copy)]
enum Unit {
    Week,
    Month,
    Quarter,
    Year,
}

impl Unit {
    fn start(self, d: NaiveDate) -> NaiveDate {
        match self {
            Unit::Week => week_start(d),
            Unit::Month => month_start(d),
            Unit::Quarter => quarter_start(d),
            Unit::Year => year_start(d),
        }
    }

    /// `d` moved by `n` units (negative: back).
    fn step(self, d: NaiveDate, n: i64) -> NaiveDate {
        let months = |k: i64| match self {
            Unit::Month => k,
            Unit::Quarter => 3 * k,
            _ => 12 * k,
        };
        match self {
            Unit::Week if n >= 0 => d + Days::new(7 * n as u64),
            Unit::Week => d - Days::new(7 * n.unsigned_abs()),
            _ if n >= 0 => d + Months::new(months(n) as u32),
            _ => d - Months::new(months(n.abs()) as u32),
        }
    }

    fn named(s: &str) -> Option<Unit> {
        Some(match s {
            "WEEK" | "WEEKS" => Unit::Week,
            "MONTH" | "MONTHS" => Unit::Month,
            "QUARTER" | "QUARTERS" | "FISCAL_QUARTER" | "FISCAL_QUARTERS" => Unit::Quarter,
            "YEAR" | "YEARS" | "FISCAL_YEAR" | "FISCAL_YEARS" => Unit::Year,
            _ => return None,
        })
    }
}

/// The [start, end) dates of a relative date literal, given today's date.
pub fn range(name: &str, today: NaiveDate) -> Option<(NaiveDate, NaiveDate)> {
    let d = Days::new;
    let upper = name.to_ascii_uppercase();
    let (base, n) = match upper.split_once(':') {
        Some((b, n)) => (b, Some(n.parse::<u32>().ok()?)),
        None => (upper.as_str(), None),
    };
    let with_n = |r: Option<(NaiveDate, NaiveDate)>| r.filter(|_| n.is_some());
    let k = i64::from(n.unwrap_or(0));
    let per = |unit: Unit, offset: i64| {
        let s = unit.step(unit.start(today), offset);
        (s, unit.step(s, 1))
    };
    if n.is_none() {
        match base {
            "TODAY" => return Some((today, today + d(1))),
            "YESTERDAY" => return Some((today - d(1), today)),
            "TOMORROW" => return Some((today + d(1), today + d(2))),
            "LAST_90_DAYS" => return Some((today - d(90), today + d(1))),
            "NEXT_90_DAYS" => return Some((today + d(1), today + d(91))),
            _ => {}
        }
        let (when, unit) = base.split_once('_')?;
        let unit = Unit::named(unit)?;
        return Some(match when {
            "THIS" => per(unit, 0),
            "LAST" => per(unit, -1),
            "NEXT" => per(unit, 1),
            _ => return None,
        });
    }
    match base {
        "LAST_N_DAYS" => return with_n(Some((today - d(k as u64), today + d(1)))),
        "NEXT_N_DAYS" => return with_n(Some((today + d(1), today + d(1 + k as u64)))),
        "N_DAYS_AGO" => return with_n(Some((today - d(k as u64), today - d(k as u64) + d(1)))),
        _ => {}
    }
    let (when, unit) = if let Some(u) = base.strip_prefix("LAST_N_") {
        ("LAST", u)
    } else if let Some(u) = base.strip_prefix("NEXT_N_") {
        ("NEXT", u)
    } else if let Some(u) = base.strip_prefix("N_").and_then(|u| u.strip_suffix("_AGO")) {
        ("AGO", u)
    } else {
        return None;
    };
    let unit = Unit::named(unit)?;
    let this = unit.start(today);
    Some(match when {
        // The n whole units before this one (this one excluded).
        "LAST" => (unit.step(this, -k), this),
        // The n whole units after this one.
        "NEXT" => (unit.step(this, 1), unit.step(this, 1 + k)),
        _ => per(unit, -k),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn ranges_follow_the_reference() {
        // A Wednesday in the middle of the second quarter.
        let today = day("2024-05-15");
        let r = |n: &str| range(n, today).map(|(a, b)| (a.to_string(), b.to_string()));
        let p = |a: &str, b: &str| Some((a.to_string(), b.to_string()));
        assert_eq!(r("TODAY"), p("2024-05-15", "2024-05-16"));
        assert_eq!(r("LAST_N_DAYS:7"), p("2024-05-08", "2024-05-16"));
        assert_eq!(r("THIS_WEEK"), p("2024-05-12", "2024-05-19"));
        assert_eq!(r("LAST_WEEK"), p("2024-05-05", "2024-05-12"));
        assert_eq!(r("THIS_MONTH"), p("2024-05-01", "2024-06-01"));
        assert_eq!(r("LAST_MONTH"), p("2024-04-01", "2024-05-01"));
        assert_eq!(r("NEXT_MONTH"), p("2024-06-01", "2024-07-01"));
        assert_eq!(r("THIS_QUARTER"), p("2024-04-01", "2024-07-01"));
        assert_eq!(r("LAST_QUARTER"), p("2024-01-01", "2024-04-01"));
        assert_eq!(r("THIS_YEAR"), p("2024-01-01", "2025-01-01"));
        assert_eq!(r("LAST_FISCAL_YEAR"), p("2023-01-01", "2024-01-01"));
        assert_eq!(r("LAST_90_DAYS"), p("2024-02-15", "2024-05-16"));
        assert_eq!(r("LAST_N_MONTHS:2"), p("2024-03-01", "2024-05-01"));
        assert_eq!(r("NEXT_N_WEEKS:1"), p("2024-05-19", "2024-05-26"));
        assert_eq!(r("N_YEARS_AGO:2"), p("2022-01-01", "2023-01-01"));
        assert_eq!(r("N_MONTHS_AGO:12"), p("2023-05-01", "2023-06-01"));
        assert_eq!(r("LAST_N_DAYS"), None);
        assert_eq!(r("THIS_DECADE"), None);
        assert_eq!(r("Name"), None);
    }
}
