//! A first load's records as a Bulk API query returns them: CSV cells, not yet typed.
//!
//! PostgreSQL streams such cells into `COPY` nearly as they are (the formats agree); the
//! other databases, and PostgreSQL for a field whose cells need converting, type them into
//! [`Row`]s first — the one place a Bulk CSV cell becomes a REST JSON value.
use std::sync::Arc;

use serde_json::{Map, Value};

use super::{ObjectMapping, Row, SfType};

/// The header of a Bulk CSV result: one field API name per column.
#[derive(Debug, Clone)]
pub struct CsvHeader {
    names: Vec<String>,
    id: Option<usize>,
    stamp: Option<usize>,
}

impl CsvHeader {
    pub fn new(names: Vec<String>) -> CsvHeader {
        let find = |n: &str| names.iter().position(|h| h.eq_ignore_ascii_case(n));
        CsvHeader {
            id: find("Id"),
            stamp: find("SystemModstamp"),
            names,
        }
    }

    /// The column holding `field` (exact name first, then ignoring ASCII case).
    pub fn position(&self, field: &str) -> Option<usize> {
        self.names.iter().position(|h| h == field).or_else(|| {
            self.names
                .iter()
                .position(|h| h.eq_ignore_ascii_case(field))
        })
    }

    pub fn id_column(&self) -> Option<usize> {
        self.id
    }

    pub fn stamp_column(&self) -> Option<usize> {
        self.stamp
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// Records of one bulk-load call, each with a non-empty Id.
#[derive(Debug, Clone)]
pub struct CsvChunk {
    pub header: Arc<CsvHeader>,
    pub records: Vec<csv::StringRecord>,
}

impl CsvChunk {
    /// The records as typed rows: each cell as the REST JSON value of its field's type.
    pub fn to_rows(&self, mapping: &ObjectMapping) -> Vec<Row> {
        let types: Vec<SfType> = self
            .header
            .names
            .iter()
            .map(|h| {
                mapping
                    .fields
                    .iter()
                    .find(|f| f.name.eq_ignore_ascii_case(h))
                    .map_or(SfType::String, |f| f.sf_type)
            })
            .collect();
        let Some(id) = self.header.id else {
            return Vec::new();
        };
        self.records
            .iter()
            .filter_map(|record| {
                let sfid = record.get(id).filter(|s| !s.is_empty())?.to_owned();
                let systemmodstamp = self
                    .header
                    .stamp
                    .and_then(|i| record.get(i))
                    .and_then(super::types::parse_datetime);
                let mut values = Map::new();
                for ((name, t), cell) in self.header.names.iter().zip(&types).zip(record.iter()) {
                    values.insert(name.clone(), csv_value(*t, cell));
                }
                Some(Row {
                    sfid,
                    systemmodstamp,
                    values,
                })
            })
            .collect()
    }
}

/// A CSV cell as the REST JSON value of a field of type `t` (empty = null).
pub fn csv_value(t: SfType, cell: &str) -> Value {
    if cell.is_empty() {
        return Value::Null;
    }
    match t {
        SfType::Boolean => Value::Bool(cell.eq_ignore_ascii_case("true")),
        SfType::Int | SfType::Long => match cell.parse::<i64>() {
            Ok(i) => Value::from(i),
            // "12.0" is a number still (REST would send it as one); the type check decides.
            Err(_) => serde_json::from_str::<serde_json::Number>(cell)
                .map(Value::Number)
                .unwrap_or_else(|_| Value::from(cell)),
        },
        SfType::Double | SfType::Currency | SfType::Percent => {
            serde_json::from_str::<serde_json::Number>(cell)
                .map(Value::Number)
                .unwrap_or_else(|_| Value::from(cell))
        }
        _ => Value::from(cell),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targetdb::FieldSpec;

    #[test]
    fn csv_cells_become_typed_values() {
        assert_eq!(csv_value(SfType::Boolean, "true"), Value::Bool(true));
        assert_eq!(csv_value(SfType::Int, "42"), Value::from(42));
        assert_eq!(
            csv_value(SfType::Currency, "12.50"),
            serde_json::json!(12.50)
        );
        assert_eq!(csv_value(SfType::String, ""), Value::Null);
        assert_eq!(csv_value(SfType::String, "x"), Value::from("x"));
    }

    #[test]
    fn records_become_rows_by_header_name() {
        let header = Arc::new(CsvHeader::new(vec![
            "Id".into(),
            "systemmodstamp".into(),
            "NumberOfEmployees".into(),
        ]));
        let chunk = CsvChunk {
            header,
            records: vec![
                csv::StringRecord::from(vec!["001A", "2024-01-31T12:00:00.000Z", "7"]),
                csv::StringRecord::from(vec!["", "2024-01-31T12:00:00.000Z", "8"]),
            ],
        };
        let mapping = ObjectMapping::new(
            "Account",
            vec![FieldSpec::new("NumberOfEmployees", SfType::Int)],
        );
        let rows = chunk.to_rows(&mapping);
        assert_eq!(rows.len(), 1, "a record without an Id is left out");
        assert_eq!(rows[0].sfid, "001A");
        assert!(rows[0].systemmodstamp.is_some());
        assert_eq!(rows[0].values["NumberOfEmployees"], Value::from(7));
    }
}
