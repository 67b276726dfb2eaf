//! Date functions (`CALENDAR_YEAR(CreatedDate)`, `DAY_ONLY(…)`, …): a date or datetime
//! field's value reduced to a number (or, for DAY_ONLY, a date), in the org's time zone
//! (GMT). Fiscal years start on January 1st here, so the FISCAL ones are the calendar ones.

use crate::schema::FieldType;
use crate::value::Value;
use chrono::{Datelike, NaiveDate, Timelike};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateFn {
    CalendarMonth,
    CalendarQuarter,
    CalendarYear,
    DayInMonth,
    DayInWeek,
    DayInYear,
    DayOnly,
    HourInDay,
    WeekInMonth,
    WeekInYear,
}

impl DateFn {
    /// The function a name calls (case-insensitive), if it is one.
    pub fn named(name: &str) -> Option<DateFn> {
        Some(match name.to_ascii_uppercase().as_str() {
            "CALENDAR_MONTH" | "FISCAL_MONTH" => DateFn::CalendarMonth,
            "CALENDAR_QUARTER" | "FISCAL_QUARTER" => DateFn::CalendarQuarter,
            "CALENDAR_YEAR" | "FISCAL_YEAR" => DateFn::CalendarYear,
            "DAY_IN_MONTH" => DateFn::DayInMonth,
            "DAY_IN_WEEK" => DateFn::DayInWeek,
            "DAY_IN_YEAR" => DateFn::DayInYear,
            "DAY_ONLY" => DateFn::DayOnly,
            "HOUR_IN_DAY" => DateFn::HourInDay,
            "WEEK_IN_MONTH" => DateFn::WeekInMonth,
            "WEEK_IN_YEAR" => DateFn::WeekInYear,
            _ => return None,
        })
    }

    /// Whether it applies to a field of type `t`: DAY_ONLY and HOUR_IN_DAY need a
    /// datetime, the others a date or a datetime.
    pub fn applies_to(self, t: FieldType) -> bool {
        match self {
            DateFn::DayOnly | DateFn::HourInDay => t == FieldType::Datetime,
            _ => matches!(t, FieldType::Date | FieldType::Datetime),
        }
    }

    /// The type of what it answers.
    pub fn result_type(self) -> FieldType {
        if self == DateFn::DayOnly {
            FieldType::Date
        } else {
            FieldType::Int
        }
    }

    pub fn apply(self, v: &Value) -> Value {
        let (date, hour): (NaiveDate, u32) = match v {
            Value::Date(d) => (*d, 0),
            Value::DateTime(t) => (t.date_naive(), t.hour()),
            _ => return Value::Null,
        };
        let n = |x: u32| Value::Int(i64::from(x));
        match self {
            DateFn::CalendarMonth => n(date.month()),
            DateFn::CalendarQuarter => n(date.month0() / 3 + 1),
            DateFn::CalendarYear => Value::Int(i64::from(date.year())),
            DateFn::DayInMonth => n(date.day()),
            DateFn::DayInWeek => n(date.weekday().number_from_sunday()),
            DateFn::DayInYear => n(date.ordinal()),
            DateFn::DayOnly => Value::Date(date),
            DateFn::HourInDay => n(hour),
            DateFn::WeekInMonth => n(date.day0() / 7 + 1),
            DateFn::WeekInYear => n(date.ordinal0() / 7 + 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_reduce_dates_as_the_reference_says() {
        // Friday 2024-03-15, 13:45 GMT.
        let t = Value::DateTime(
            chrono::DateTime::parse_from_rfc3339("2024-03-15T13:45:00Z")
                .unwrap()
                .into(),
        );
        let f = |name: &str| DateFn::named(name).unwrap().apply(&t);
        assert_eq!(f("CALENDAR_YEAR"), Value::Int(2024));
        assert_eq!(f("calendar_quarter"), Value::Int(1));
        assert_eq!(f("CALENDAR_MONTH"), Value::Int(3));
        assert_eq!(f("DAY_IN_MONTH"), Value::Int(15));
        assert_eq!(f("DAY_IN_WEEK"), Value::Int(6), "1 is Sunday");
        assert_eq!(f("DAY_IN_YEAR"), Value::Int(75));
        assert_eq!(f("HOUR_IN_DAY"), Value::Int(13));
        assert_eq!(f("WEEK_IN_MONTH"), Value::Int(3));
        assert_eq!(f("WEEK_IN_YEAR"), Value::Int(11));
        assert_eq!(
            f("DAY_ONLY"),
            Value::Date(NaiveDate::from_ymd_opt(2024, 3, 15).unwrap())
        );
        assert_eq!(DateFn::named("NAME"), None);
        assert!(!DateFn::DayOnly.applies_to(FieldType::Date));
        assert!(DateFn::CalendarYear.applies_to(FieldType::Date));
    }
}
