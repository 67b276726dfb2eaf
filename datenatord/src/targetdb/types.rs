//! Object mappings as the target layer sees them, the Salesforce → SQL type map (one
//! function per dialect, [`sql_type`]) and value conversion both ways.
//!
//! Values cross the [`Target`](super::Target) trait as `serde_json::Value`s in Salesforce's
//! REST JSON conventions (booleans, numbers, `"2024-01-31"`, `"2024-01-31T12:00:00.000+0000"`,
//! `"13:45:00.000Z"`, `"A;B"` …), keyed by field API name. This module turns them into
//! [`SqlValue`]s to bind and turns what the database returns back into that form.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Dialect, TargetError, ident};

/// A Salesforce field type (`type` in describe results).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SfType {
    Id,
    Reference,
    String,
    Textarea,
    Email,
    Phone,
    Url,
    Picklist,
    Combobox,
    Encryptedstring,
    Multipicklist,
    Boolean,
    Int,
    Long,
    Double,
    Currency,
    Percent,
    Date,
    Datetime,
    Time,
    Base64,
    Address,
    Location,
    #[serde(rename = "anyType")]
    AnyType,
}

/// One mapped field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldSpec {
    /// API name, e.g. `Name`, `Amount__c`.
    pub name: String,
    #[serde(rename = "type")]
    pub sf_type: SfType,
    /// Characters, for text types.
    #[serde(default)]
    pub length: Option<u32>,
    /// Total digits, for number types.
    #[serde(default)]
    pub precision: Option<u32>,
    /// Digits after the point, for number types.
    #[serde(default)]
    pub scale: Option<u32>,
}

impl FieldSpec {
    pub fn new(name: impl Into<String>, sf_type: SfType) -> Self {
        Self {
            name: name.into(),
            sf_type,
            length: None,
            precision: None,
            scale: None,
        }
    }

    pub fn with_length(mut self, length: u32) -> Self {
        self.length = Some(length);
        self
    }

    pub fn with_precision(mut self, precision: u32, scale: u32) -> Self {
        self.precision = Some(precision);
        self.scale = Some(scale);
        self
    }

    /// The column name in `dialect`: the API name lower-cased, shortened to the limit.
    pub fn column(&self, dialect: Dialect) -> String {
        ident::fit_name(dialect, &self.name.to_lowercase())
    }

    /// `Id` and `SystemModstamp` are the built-in `sfid` / `systemmodstamp` columns.
    pub fn is_builtin(&self) -> bool {
        let n = self.name.to_lowercase();
        n == "id" || n == "systemmodstamp"
    }
}

/// One object's mapping: which fields become columns of its data table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMapping {
    /// Object API name, e.g. `Account`.
    pub object: String,
    pub fields: Vec<FieldSpec>,
}

/// Built-in column names of every data table.
pub const BUILTIN_COLUMNS: [&str; 5] = ["id", "sfid", "systemmodstamp", "_dn_state", "_dn_error"];

impl ObjectMapping {
    pub fn new(object: impl Into<String>, fields: Vec<FieldSpec>) -> Self {
        Self {
            object: object.into(),
            fields,
        }
    }

    /// Data table name (lower-case API name, shortened).
    pub fn table(&self, dialect: Dialect) -> String {
        ident::fit_name(dialect, &self.object.to_lowercase())
    }

    /// Events table name: `<table>__events`, shortened keeping the suffix.
    pub fn events_table(&self, dialect: Dialect) -> String {
        ident::derived_name(dialect, &self.object.to_lowercase(), "__events")
    }

    /// A name derived from the table (triggers, indexes).
    pub fn derived(&self, dialect: Dialect, suffix: &str) -> String {
        ident::derived_name(dialect, &self.object.to_lowercase(), suffix)
    }

    /// The fields that get a column of their own (all but `Id` and `SystemModstamp`).
    pub fn data_fields(&self) -> impl Iterator<Item = &FieldSpec> {
        self.fields.iter().filter(|f| !f.is_builtin())
    }

    /// The field whose column is `column`, if any.
    pub fn field_for_column(&self, dialect: Dialect, column: &str) -> Option<&FieldSpec> {
        self.data_fields().find(|f| f.column(dialect) == column)
    }

    /// Rejects mappings whose columns would collide.
    pub fn validate(&self, dialect: Dialect) -> Result<(), TargetError> {
        if self.object.trim().is_empty() {
            return Err(TargetError::InvalidMapping(
                "an object mapping needs an object name".into(),
            ));
        }
        let mut seen: Vec<String> = BUILTIN_COLUMNS.iter().map(|s| s.to_string()).collect();
        for f in self.data_fields() {
            let c = f.column(dialect);
            let clash = seen.iter().any(|s| {
                if dialect == Dialect::Mysql {
                    s.to_lowercase() == c.to_lowercase()
                } else {
                    *s == c
                }
            });
            if clash {
                return Err(TargetError::InvalidMapping(format!(
                    "field {} of {} would become column {c}, which already exists; remove one of them from the mapping",
                    f.name, self.object
                )));
            }
            seen.push(c);
        }
        Ok(())
    }
}

/// The SQL column type for a field in `dialect`: the one Salesforce → SQL type map.
pub fn sql_type(dialect: Dialect, f: &FieldSpec) -> String {
    use SfType::*;
    let len = f.length.filter(|l| *l > 0);
    let (p, s) = numeric_ps(f, dialect);
    match dialect {
        Dialect::Postgres => match f.sf_type {
            Id | Reference => "varchar(18)".into(),
            String | Email | Phone | Url | Picklist | Combobox | Encryptedstring => match len {
                Some(l) => format!("varchar({l})"),
                None => "text".into(),
            },
            Textarea | Multipicklist | Base64 | AnyType => "text".into(),
            Address | Location => "jsonb".into(),
            Boolean => "boolean".into(),
            Int => "integer".into(),
            Long => "bigint".into(),
            Double | Currency | Percent => match p {
                Some(p) => format!("numeric({p},{s})"),
                None => "numeric".into(),
            },
            Date => "date".into(),
            Datetime => "timestamptz".into(),
            Time => "time(3)".into(),
        },
        // Long strings become TEXT: a row's VARCHARs share a 65,535-byte limit and utf8mb4
        // counts 4 bytes a character.
        Dialect::Mysql => match f.sf_type {
            Id | Reference => "varchar(18) CHARACTER SET ascii COLLATE ascii_bin".into(),
            String | Email | Phone | Url | Picklist | Combobox | Encryptedstring => match len {
                Some(l) if l <= 255 => format!("varchar({l})"),
                _ => "mediumtext".into(),
            },
            Textarea | Multipicklist | Base64 | AnyType => "mediumtext".into(),
            Address | Location => "longtext".into(),
            Boolean => "boolean".into(),
            Int => "int".into(),
            Long => "bigint".into(),
            Double | Currency | Percent => match p {
                Some(p) => format!("decimal({p},{s})"),
                None => "decimal(65,30)".into(),
            },
            Date => "date".into(),
            Datetime => "datetime(3)".into(),
            Time => "time(3)".into(),
        },
        // SQLite: declared types only pick the affinity; lengths are documentation.
        Dialect::Sqlite => match f.sf_type {
            Id | Reference => "varchar(18)".into(),
            String | Email | Phone | Url | Picklist | Combobox | Encryptedstring => match len {
                Some(l) => format!("varchar({l})"),
                None => "text".into(),
            },
            Textarea | Multipicklist | Base64 | AnyType | Address | Location => "text".into(),
            Boolean => "boolean".into(),
            Int | Long => "integer".into(),
            Double | Currency | Percent => match p {
                Some(p) => format!("numeric({p},{s})"),
                None => "numeric".into(),
            },
            Date => "date".into(),
            Datetime => "datetime".into(),
            Time => "time".into(),
        },
    }
}

fn numeric_ps(f: &FieldSpec, dialect: Dialect) -> (Option<u32>, u32) {
    let max_p = match dialect {
        Dialect::Mysql => 65,
        _ => 1000,
    };
    match f.precision.filter(|p| *p > 0) {
        Some(p) => {
            let p = p.min(max_p);
            let s = f.scale.unwrap_or(0).min(p).min(30);
            (Some(p), s)
        }
        None => (None, 0),
    }
}

/// Coarse classes of types, for telling widening from narrowing changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Text,
    Bool,
    Integer,
    Decimal,
    Date,
    DateTime,
    Time,
    Json,
}

fn class(t: SfType) -> Class {
    use SfType::*;
    match t {
        Id | Reference | String | Textarea | Email | Phone | Url | Picklist | Combobox
        | Encryptedstring | Multipicklist | Base64 | AnyType => Class::Text,
        Address | Location => Class::Json,
        Boolean => Class::Bool,
        Int | Long => Class::Integer,
        Double | Currency | Percent => Class::Decimal,
        Date => Class::Date,
        Datetime => Class::DateTime,
        Time => Class::Time,
    }
}

fn text_capacity(f: &FieldSpec) -> u64 {
    use SfType::*;
    match f.sf_type {
        Id | Reference => 18,
        Textarea | Multipicklist | Base64 | AnyType => u64::MAX,
        _ => f
            .length
            .filter(|l| *l > 0)
            .map(u64::from)
            .unwrap_or(u64::MAX),
    }
}

/// The most characters a value of `f` takes as text.
fn text_width(f: &FieldSpec) -> u64 {
    use SfType::*;
    match f.sf_type {
        Boolean => 5,
        Int => 11,
        Long => 20,
        Double | Currency | Percent => f.precision.map(|p| u64::from(p) + 2).unwrap_or(u64::MAX),
        Date => 10,
        Datetime => 29,
        Time => 13,
        Address | Location => u64::MAX,
        _ => text_capacity(f),
    }
}

/// Why changing a column from `old` to `new` may fail or lose data, or `None` when every
/// existing value fits the new type.
pub fn narrowing_reason(old: &FieldSpec, new: &FieldSpec) -> Option<String> {
    let (co, cn) = (class(old.sf_type), class(new.sf_type));
    let what = |s: &str| Some(format!("{}: {s}", new.name));
    match (co, cn) {
        (a, b) if a == b => match a {
            Class::Text => (text_capacity(new) < text_capacity(old)).then(|| {
                format!(
                    "{}: length shrinks, longer values make the change fail",
                    new.name
                )
            }),
            Class::Integer => {
                (old.sf_type == SfType::Long && new.sf_type == SfType::Int).then(|| {
                    format!(
                        "{}: long to int, large values make the change fail",
                        new.name
                    )
                })
            }
            Class::Decimal => {
                let ip = |f: &FieldSpec| {
                    f.precision
                        .map(|p| i64::from(p) - i64::from(f.scale.unwrap_or(0)))
                };
                let narrower_int = match (ip(old), ip(new)) {
                    (None, Some(_)) => true,
                    (Some(a), Some(b)) => b < a,
                    _ => false,
                };
                let fewer_decimals = match (old.scale, new.scale, new.precision) {
                    (_, _, None) => false,
                    (Some(a), b, _) => b.unwrap_or(0) < a,
                    (None, _, Some(_)) => old.precision.is_none(),
                };
                if narrower_int {
                    what("fewer integer digits, large values make the change fail")
                } else if fewer_decimals {
                    what("fewer decimal places, values are rounded")
                } else {
                    None
                }
            }
            _ => None,
        },
        (_, Class::Text) if text_capacity(new) >= text_width(old) => None,
        (Class::Bool, Class::Integer) | (Class::Integer, Class::Decimal) => None,
        (Class::Date, Class::DateTime) => None,
        (Class::DateTime, Class::Date) => what("datetime to date drops the time of day"),
        _ => Some(format!(
            "{}: {:?} to {:?} converts every value and fails on any that does not convert",
            new.name, old.sf_type, new.sf_type
        )),
    }
}

/// A value ready to bind.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Bool(bool),
    Int(i64),
    /// Text; also decimals, dates and times in the dialect's literal format.
    Text(String),
}

fn bad(field: &FieldSpec, value: &Value, expected: &str) -> TargetError {
    TargetError::BadValue {
        field: field.name.clone(),
        value: value.to_string().chars().take(100).collect(),
        expected: expected.into(),
    }
}

/// Parses a Salesforce (or database) datetime into UTC.
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    // RFC 3339 (Salesforce's `…Z`) first: it parses no format string per call, and first
    // loads parse a million of these.
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M:%S%.f%#z",
    ] {
        if let Ok(d) = DateTime::parse_from_str(s, fmt) {
            return Some(d.with_timezone(&Utc));
        }
    }
    // PostgreSQL's text form ends in "+00"; padding makes it "+0000".
    // (By character, not byte: a column may hold any text, and slicing inside a multibyte
    // character would panic.)
    if let Some((at, _)) = s.char_indices().rev().nth(2) {
        let (head, tail) = s.split_at(at);
        if (tail.starts_with('+') || tail.starts_with('-'))
            && tail
                .get(1..)
                .is_some_and(|t| t.chars().all(|c| c.is_ascii_digit()))
            && let Ok(d) =
                DateTime::parse_from_str(&format!("{head}{tail}00"), "%Y-%m-%d %H:%M:%S%.f%z")
        {
            return Some(d.with_timezone(&Utc));
        }
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(d) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(d.and_utc());
        }
    }
    None
}

/// A datetime in the dialect's bind format (UTC).
pub fn datetime_text(dialect: Dialect, d: &DateTime<Utc>) -> String {
    match dialect {
        Dialect::Postgres => d.format("%Y-%m-%d %H:%M:%S%.3f+00").to_string(),
        Dialect::Mysql => d.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
        Dialect::Sqlite => d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
    }
}

/// Salesforce's datetime format.
pub fn sf_datetime(d: &DateTime<Utc>) -> String {
    d.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// Converts a Salesforce JSON value for `field` into a value to bind in `dialect`.
pub fn to_sql(dialect: Dialect, field: &FieldSpec, v: &Value) -> Result<SqlValue, TargetError> {
    use SfType::*;
    if v.is_null() {
        return Ok(SqlValue::Null);
    }
    Ok(match field.sf_type {
        Boolean => match v {
            Value::Bool(b) => SqlValue::Bool(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => SqlValue::Bool(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => SqlValue::Bool(false),
            Value::Number(n) if n.as_i64() == Some(0) => SqlValue::Bool(false),
            Value::Number(n) if n.as_i64() == Some(1) => SqlValue::Bool(true),
            _ => return Err(bad(field, v, "true or false")),
        },
        Int | Long => match v {
            Value::Number(n) => match n.as_i64() {
                Some(i) => SqlValue::Int(i),
                None => match n.as_f64() {
                    Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => SqlValue::Int(f as i64),
                    _ => return Err(bad(field, v, "a whole number")),
                },
            },
            // Salesforce writes large numbers in scientific notation (`3.5E7`).
            Value::String(s) => match s.trim().parse::<i64>() {
                Ok(i) => SqlValue::Int(i),
                Err(_) => match s.trim().parse::<f64>() {
                    Ok(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => SqlValue::Int(f as i64),
                    _ => return Err(bad(field, v, "a whole number")),
                },
            },
            _ => return Err(bad(field, v, "a whole number")),
        },
        Double | Currency | Percent => match v {
            Value::Number(n) => SqlValue::Text(n.to_string()),
            Value::String(s) if s.trim().parse::<f64>().is_ok() => {
                SqlValue::Text(s.trim().to_owned())
            }
            _ => return Err(bad(field, v, "a number")),
        },
        Date => {
            let s = v
                .as_str()
                .ok_or_else(|| bad(field, v, "a date like 2024-01-31"))?;
            let d = NaiveDate::parse_from_str(s.get(..10).unwrap_or(s), "%Y-%m-%d")
                .map_err(|_| bad(field, v, "a date like 2024-01-31"))?;
            SqlValue::Text(d.format("%Y-%m-%d").to_string())
        }
        Datetime => {
            let s = v
                .as_str()
                .ok_or_else(|| bad(field, v, "a datetime like 2024-01-31T12:00:00.000+0000"))?;
            let d = parse_datetime(s)
                .ok_or_else(|| bad(field, v, "a datetime like 2024-01-31T12:00:00.000+0000"))?;
            SqlValue::Text(datetime_text(dialect, &d))
        }
        Time => {
            let s = v
                .as_str()
                .ok_or_else(|| bad(field, v, "a time like 13:45:00.000Z"))?;
            let t = NaiveTime::parse_from_str(s.trim_end_matches('Z'), "%H:%M:%S%.f")
                .map_err(|_| bad(field, v, "a time like 13:45:00.000Z"))?;
            SqlValue::Text(t.format("%H:%M:%S%.3f").to_string())
        }
        Address | Location => SqlValue::Text(text_for(
            dialect,
            match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            },
        )),
        _ => match v {
            Value::String(s) => SqlValue::Text(text_for(dialect, s.clone())),
            Value::Bool(b) => SqlValue::Text(b.to_string()),
            Value::Number(n) => SqlValue::Text(n.to_string()),
            other => SqlValue::Text(text_for(dialect, other.to_string())),
        },
    })
}

/// Text as `dialect` can store it. PostgreSQL's text types cannot hold the NUL character
/// (U+0000), which Salesforce text may contain: it is left out, so the record is stored
/// instead of refused. The other databases keep it. A NUL is never meaningful in a
/// Salesforce text field; the rest of the value is kept as it is.
pub(crate) fn text_for(dialect: Dialect, s: String) -> String {
    if dialect == Dialect::Postgres && s.contains('\0') {
        s.replace('\0', "")
    } else {
        s
    }
}

/// Converts a value the database produced (as JSON from the events triggers) back into
/// Salesforce's JSON form for `field`. Unconvertible values are passed through unchanged.
pub fn from_db(field: &FieldSpec, v: &Value) -> Value {
    use SfType::*;
    if v.is_null() {
        return Value::Null;
    }
    match field.sf_type {
        Boolean => match v {
            Value::Number(n) => Value::Bool(n.as_i64() != Some(0)),
            Value::String(s) => Value::Bool(s == "1" || s.eq_ignore_ascii_case("true")),
            other => other.clone(),
        },
        // Whole numbers come out as integers whatever the dialect's decimal form (7.00, 7).
        Int | Long | Double | Currency | Percent => {
            let n = match v {
                Value::String(s) => match s.trim().parse::<serde_json::Number>() {
                    Ok(n) => n,
                    Err(_) => return v.clone(),
                },
                Value::Number(n) => n.clone(),
                other => return other.clone(),
            };
            match n.as_f64() {
                Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15 => {
                    Value::from(f as i64)
                }
                _ => Value::Number(n),
            }
        }
        Date => match v.as_str() {
            Some(s) if s.chars().count() >= 10 => Value::String(s.chars().take(10).collect()),
            _ => v.clone(),
        },
        Datetime => match v.as_str().and_then(parse_datetime) {
            Some(d) => Value::String(sf_datetime(&d)),
            None => v.clone(),
        },
        Time => match v
            .as_str()
            .and_then(|s| NaiveTime::parse_from_str(s.trim_end_matches('Z'), "%H:%M:%S%.f").ok())
        {
            Some(t) => Value::String(format!("{}Z", t.format("%H:%M:%S%.3f"))),
            None => v.clone(),
        },
        Address | Location => match v {
            Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| v.clone()),
            other => other.clone(),
        },
        _ => match v {
            Value::Number(n) => Value::String(n.to_string()),
            other => other.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Any text can sit in a column (SQLite does not check types): text that is not a date
    /// is passed through or not parsed, never a panic — multibyte characters included.
    #[test]
    fn text_that_is_no_date_never_panics() {
        for s in [
            "日本語のテキスト",
            "2024-01-0é",
            "é+0",
            "ab€",
            "€€€€",
            "2024-01-01 10:00:00+0é",
        ] {
            assert_eq!(parse_datetime(s), None, "{s}");
            let date = FieldSpec::new("D", SfType::Date);
            let _ = from_db(&date, &json!(s));
            let datetime = FieldSpec::new("T", SfType::Datetime);
            assert_eq!(from_db(&datetime, &json!(s)), json!(s));
        }
        let date = FieldSpec::new("D", SfType::Date);
        assert_eq!(
            from_db(&date, &json!("2024-05-06T00:00:00Z")),
            json!("2024-05-06")
        );
        assert_eq!(
            parse_datetime("2024-05-06 07:08:09+00"),
            DateTime::parse_from_rfc3339("2024-05-06T07:08:09Z")
                .ok()
                .map(|d| d.to_utc())
        );
    }

    #[test]
    fn every_type_maps_in_every_dialect() {
        use SfType::*;
        for t in [
            Id,
            Reference,
            String,
            Textarea,
            Email,
            Phone,
            Url,
            Picklist,
            Combobox,
            Encryptedstring,
            Multipicklist,
            Boolean,
            Int,
            Long,
            Double,
            Currency,
            Percent,
            Date,
            Datetime,
            Time,
            Base64,
            Address,
            Location,
            AnyType,
        ] {
            for d in [Dialect::Postgres, Dialect::Mysql, Dialect::Sqlite] {
                let f = FieldSpec::new("F", t).with_length(80).with_precision(18, 2);
                assert!(!sql_type(d, &f).is_empty());
            }
        }
        let f = FieldSpec::new("Amount", Currency).with_precision(18, 2);
        assert_eq!(sql_type(Dialect::Postgres, &f), "numeric(18,2)");
        assert_eq!(sql_type(Dialect::Mysql, &f), "decimal(18,2)");
    }

    #[test]
    fn salesforce_datetime_forms_parse_alike() {
        let a = parse_datetime("2024-01-31T12:00:00.000+0000").unwrap();
        let b = parse_datetime("2024-01-31T12:00:00.000Z").unwrap();
        let c = parse_datetime("2024-01-31T14:00:00.000+0200").unwrap();
        assert_eq!((a, b), (c, c));
    }

    #[test]
    fn datetimes_convert_to_utc() {
        let f = FieldSpec::new("D", SfType::Datetime);
        let v = json!("2024-01-31T12:00:00.000+0200");
        assert_eq!(
            to_sql(Dialect::Mysql, &f, &v).unwrap(),
            SqlValue::Text("2024-01-31 10:00:00.000".into())
        );
        assert_eq!(
            from_db(&f, &json!("2024-01-31T10:00:00+00:00")),
            json!("2024-01-31T10:00:00.000+0000")
        );
        assert_eq!(
            from_db(&f, &json!("2024-01-31 10:00:00.000")),
            json!("2024-01-31T10:00:00.000+0000")
        );
        assert!(to_sql(Dialect::Mysql, &f, &json!("yesterday")).is_err());
    }

    #[test]
    fn narrowing() {
        let a = FieldSpec::new("N", SfType::String).with_length(80);
        let b = FieldSpec::new("N", SfType::String).with_length(20);
        assert!(narrowing_reason(&a, &b).is_some());
        assert!(narrowing_reason(&b, &a).is_none());
        let t = FieldSpec::new("N", SfType::Textarea);
        assert!(narrowing_reason(&a, &t).is_none());
        let i = FieldSpec::new("N", SfType::Int);
        assert!(narrowing_reason(&a, &i).is_some());
    }
}
