//! Helpers shared by the target tests (`target_postgres`, `target_mysql`, `target_sqlite`).
#![allow(dead_code)]

pub mod scenarios;

use datenator_shared::datasource::{DatasourceKind, DatasourceSettings, TlsMode};
use datenatord::targetdb::{FieldSpec, ObjectMapping, Row, SfType};
use serde_json::{Map, Value, json};

pub const PG_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub const MYSQL_DEFAULT: &str = "mysql://root@127.0.0.1:3306/mysql";

pub fn pg_url() -> String {
    std::env::var("DATENATOR_TEST_POSTGRES_URL").unwrap_or_else(|_| PG_DEFAULT.into())
}

pub fn mysql_url() -> String {
    std::env::var("DATENATOR_TEST_MYSQL_URL").unwrap_or_else(|_| MYSQL_DEFAULT.into())
}

/// Datasource settings from a `scheme://user:password@host:port/database` URL (read by the
/// one URL parser, `DatasourceSettings::from_url`), without TLS.
pub fn settings_from_url(kind: DatasourceKind, raw: &str) -> DatasourceSettings {
    let settings = DatasourceSettings::from_url(raw)
        .unwrap_or_else(|e| panic!("bad test database URL {raw}: {e}"));
    assert_eq!(settings.kind, kind, "{raw}");
    DatasourceSettings {
        tls: TlsMode::Disable,
        ..settings
    }
}

/// A name unique to this test run: `prefix` + 10 hex digits.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

/// Hostile object/field names the tests map.
pub fn hostile_field_names() -> Vec<String> {
    vec![
        "order".into(),
        "select".into(),
        "a\"b".into(),
        "a`b".into(),
        "naïve".into(),
        "It's".into(),
        format!("Long{}", "x".repeat(96)),
    ]
}

/// A mapping of `object` with one field per interesting type plus the hostile names.
pub fn sample_mapping(object: &str) -> ObjectMapping {
    let mut fields = vec![
        FieldSpec::new("Id", SfType::Id),
        FieldSpec::new("Name", SfType::String).with_length(80),
        FieldSpec::new("Amount__c", SfType::Currency).with_precision(18, 2),
        FieldSpec::new("Active__c", SfType::Boolean),
        FieldSpec::new("Employees", SfType::Int),
        FieldSpec::new("CloseDate", SfType::Date),
        FieldSpec::new("LastSeen__c", SfType::Datetime),
        FieldSpec::new("Tags__c", SfType::Multipicklist),
        FieldSpec::new("OwnerId", SfType::Reference).with_length(18),
        FieldSpec::new("SystemModstamp", SfType::Datetime),
    ];
    for n in hostile_field_names() {
        fields.push(FieldSpec::new(n, SfType::String).with_length(40));
    }
    ObjectMapping::new(object, fields)
}

pub fn row(sfid: &str, stamp: &str, values: Value) -> Row {
    let values: Map<String, Value> = match values {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    Row {
        sfid: sfid.into(),
        systemmodstamp: Some(
            chrono::DateTime::parse_from_rfc3339(stamp)
                .expect("test stamp")
                .with_timezone(&chrono::Utc),
        ),
        values,
    }
}

pub fn sample_row(sfid: &str, stamp: &str, name: &str) -> Row {
    row(
        sfid,
        stamp,
        json!({
            "Name": name,
            "Amount__c": 12.5,
            "Active__c": true,
            "Employees": 42,
            "CloseDate": "2024-01-31",
            "LastSeen__c": "2024-01-31T12:00:00.000+0200",
            "Tags__c": "A;B",
            "OwnerId": "005000000000001AAA",
            "order": "o1",
            "a\"b": "quote",
        }),
    )
}

/// An 18-character fake Salesforce id ending in `n`.
pub fn sfid(n: u32) -> String {
    format!("001{n:015}")
}
