//! Field values, their JSON and CSV forms, and Salesforce's datetime formats.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// One field value as the org stores it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    Num(f64),
    Str(Box<str>),
    Date(NaiveDate),
    DateTime(DateTime<Utc>),
    Time(NaiveTime),
}

/// Formats a datetime as Salesforce does: `2024-01-31T12:00:00.000+0000`.
pub fn fmt_datetime(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// Parses the datetime forms Salesforce accepts on input (`Z`, `±hh:mm`, `±hhmm`).
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%z"] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Some(t.with_timezone(&Utc));
        }
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(Utc.from_utc_datetime(&t));
        }
    }
    None
}

pub fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

pub fn parse_time(s: &str) -> Option<NaiveTime> {
    let s = s.trim_end_matches('Z');
    NaiveTime::parse_from_str(s, "%H:%M:%S%.f").ok()
}

/// Truncates to whole seconds, the precision Salesforce keeps: a written `.123` reads back
/// as `.000`, and thousands of records written in one second share one SystemModstamp.
pub fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Num(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.to_string()),
            Value::Date(d) => J::String(d.format("%Y-%m-%d").to_string()),
            Value::DateTime(t) => J::String(fmt_datetime(t)),
            Value::Time(t) => J::String(format!("{}Z", t.format("%H:%M:%S%.3f"))),
        }
    }

    /// The CSV form used by Bulk API 2.0 results (null is an empty field).
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        self.write_csv(&mut out);
        out
    }

    /// Appends [`to_csv`](Value::to_csv)'s form to `out`.
    pub fn write_csv(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = match self {
            Value::Null => Ok(()),
            Value::Bool(b) => write!(out, "{b}"),
            Value::Int(i) => write!(out, "{i}"),
            Value::Num(f) => {
                out.push_str(&csv_num(*f));
                Ok(())
            }
            Value::Str(s) => {
                out.push_str(s);
                Ok(())
            }
            Value::Date(d) => write!(out, "{}", d.format("%Y-%m-%d")),
            Value::DateTime(t) => {
                out.push_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true));
                Ok(())
            }
            Value::Time(t) => write!(out, "{}Z", t.format("%H:%M:%S%.3f")),
        };
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Num(f) => Some(*f),
            _ => None,
        }
    }

    /// Compares two non-null values; text is compared case-insensitively.
    pub fn compare(&self, other: &Value) -> Option<Ordering> {
        match (self, other) {
            (Value::Str(a), Value::Str(b)) => Some(cmp_ci(a, b)),
            (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
            (Value::Date(a), Value::Date(b)) => Some(a.cmp(b)),
            (Value::DateTime(a), Value::DateTime(b)) => Some(a.cmp(b)),
            (Value::Time(a), Value::Time(b)) => Some(a.cmp(b)),
            (a, b) => match (a.as_f64(), b.as_f64()) {
                (Some(x), Some(y)) => x.partial_cmp(&y),
                _ => None,
            },
        }
    }
}

/// A double as Java's `Double.toString` writes it, which is how Salesforce renders double,
/// currency and percent values in its JSON: `1234567.0`, `0.5`, and from 10,000,000 on (or
/// below 0.001) computerized scientific notation, `3.5E7`, `1.2345678E7`, `1.0E-4`.
pub fn java_double(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.to_string();
    }
    if !f.is_finite() {
        return if f.is_nan() {
            "NaN"
        } else if f > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        }
        .to_string();
    }
    if (1e-3..1e7).contains(&f.abs()) {
        // Rust's shortest round-trip digits, as Java's; Java always shows a fraction.
        let s = format!("{f}");
        if s.contains('.') { s } else { s + ".0" }
    } else {
        let s = format!("{f:E}");
        match s.split_once('E') {
            Some((m, e)) if !m.contains('.') => format!("{m}.0E{e}"),
            _ => s,
        }
    }
}

/// A double in a Bulk API CSV cell: scientific notation where Java's `Double.toString`
/// uses it (`3.5E7`), plain digits otherwise (`35000`, `12.5`).
pub fn csv_num(f: f64) -> String {
    if f != 0.0 && !(1e-3..1e7).contains(&f.abs()) {
        java_double(f)
    } else {
        fmt_num(f)
    }
}

pub fn fmt_num(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

pub fn cmp_ci(a: &str, b: &str) -> Ordering {
    let la = a.chars().flat_map(char::to_lowercase);
    let lb = b.chars().flat_map(char::to_lowercase);
    la.cmp(lb)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_round_trip_in_salesforce_form() {
        let t = parse_datetime("2024-01-31T10:00:00+02:00").unwrap();
        assert_eq!(fmt_datetime(&t), "2024-01-31T08:00:00.000+0000");
        let t = parse_datetime("2024-01-31T12:00:00.123+0000").unwrap();
        assert_eq!(fmt_datetime(&t), "2024-01-31T12:00:00.123+0000");
        assert!(parse_datetime("2024-01-31T12:00:00.000Z").is_some());
        assert!(parse_datetime("yesterday").is_none());
    }

    #[test]
    fn doubles_render_as_java_does() {
        let cases = [
            (0.0, "0.0"),
            (1234567.0, "1234567.0"),
            (9999999.99, "9999999.99"),
            (10_000_000.0, "1.0E7"),
            (35_000_000.0, "3.5E7"),
            (12_345_678.0, "1.2345678E7"),
            (-35_000_000.5, "-3.50000005E7"),
            (16_147_805_824_397.0, "1.6147805824397E13"),
            (0.5, "0.5"),
            (0.001, "0.001"),
            (0.0001, "1.0E-4"),
            (1.5e-5, "1.5E-5"),
        ];
        for (f, s) in cases {
            assert_eq!(java_double(f), s, "{f}");
        }
        assert_eq!(csv_num(35_000_000.0), "3.5E7");
        assert_eq!(csv_num(35_000.0), "35000");
        assert_eq!(csv_num(12.5), "12.5");
    }
}
