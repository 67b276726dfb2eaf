//! Stored object mappings: one row per (org, object), with the mapping's direction, conflict
//! policy, row filter and its resolved fields (JSON, read by `crate::mappings`).
use chrono::Utc;
use datenator_shared::model::{ConflictPolicy, Direction};

use super::{Store, StoreError};

/// A stored mapping as the state database holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct MappingRow {
    pub object: String,
    pub direction: Direction,
    pub conflict_policy: ConflictPolicy,
    pub row_filter: Option<String>,
    /// The resolved fields (`ObjectMapping`) as JSON.
    pub fields_json: String,
}

/// A mapping to store.
pub struct NewMapping<'a> {
    pub object: &'a str,
    pub table: &'a str,
    pub direction: Direction,
    pub conflict_policy: ConflictPolicy,
    pub row_filter: Option<&'a str>,
    pub fields_json: &'a str,
}

#[derive(sqlx::FromRow)]
struct RawMapping {
    object_name: String,
    direction: String,
    conflict_policy: String,
    row_filter: Option<String>,
    fields_json: String,
}

fn direction_str(d: Direction) -> &'static str {
    match d {
        Direction::SfToDb => "sf_to_db",
        Direction::DbToSf => "db_to_sf",
        Direction::Bidirectional => "bidirectional",
    }
}

fn parse_direction(s: &str) -> Result<Direction, StoreError> {
    match s {
        "sf_to_db" => Ok(Direction::SfToDb),
        "db_to_sf" => Ok(Direction::DbToSf),
        "bidirectional" => Ok(Direction::Bidirectional),
        other => Err(StoreError::Corrupt(format!(
            "mappings.direction is {other:?}"
        ))),
    }
}

fn policy_str(p: ConflictPolicy) -> &'static str {
    match p {
        ConflictPolicy::SalesforceWins => "salesforce_wins",
        ConflictPolicy::DatabaseWins => "database_wins",
        ConflictPolicy::NewestWins => "newest_wins",
    }
}

fn parse_policy(s: &str) -> Result<ConflictPolicy, StoreError> {
    match s {
        "salesforce_wins" => Ok(ConflictPolicy::SalesforceWins),
        "database_wins" => Ok(ConflictPolicy::DatabaseWins),
        "newest_wins" => Ok(ConflictPolicy::NewestWins),
        other => Err(StoreError::Corrupt(format!(
            "mappings.conflict_policy is {other:?}"
        ))),
    }
}

impl Store {
    /// The org's applied mappings, by object name.
    pub async fn mappings(&self, org: &str) -> Result<Vec<MappingRow>, StoreError> {
        let rows: Vec<RawMapping> = sqlx::query_as(self.sql("SELECT object_name, direction, conflict_policy, row_filter, fields_json FROM mappings WHERE org_name = ? AND applied = 1 ORDER BY object_name"),
        )
        .bind(org)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(MappingRow {
                    object: r.object_name,
                    direction: parse_direction(&r.direction)?,
                    conflict_policy: parse_policy(&r.conflict_policy)?,
                    row_filter: r.row_filter,
                    fields_json: r.fields_json,
                })
            })
            .collect()
    }

    /// Stores (or replaces) an applied mapping.
    pub async fn put_mapping(&self, org: &str, m: NewMapping<'_>) -> Result<(), StoreError> {
        let now = Utc::now().to_rfc3339();
        sqlx::query(self.sql("INSERT INTO mappings (org_name, object_name, table_name, direction, conflict_policy, row_filter, fields_json, applied, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?)
             ON CONFLICT (org_name, object_name) DO UPDATE SET direction = excluded.direction,
                 conflict_policy = excluded.conflict_policy, row_filter = excluded.row_filter,
                 fields_json = excluded.fields_json, applied = 1, apply_error = NULL, updated_at = excluded.updated_at"),
        )
        .bind(org)
        .bind(m.object)
        .bind(m.table)
        .bind(direction_str(m.direction))
        .bind(policy_str(m.conflict_policy))
        .bind(m.row_filter)
        .bind(m.fields_json)
        .bind(&now)
        .bind(&now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Forgets a mapping.
    pub async fn delete_mapping(&self, org: &str, object: &str) -> Result<(), StoreError> {
        sqlx::query(self.sql("DELETE FROM mappings WHERE org_name = ? AND object_name = ?"))
            .bind(org)
            .bind(object)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_text_is_refused_not_guessed() {
        for d in [
            Direction::SfToDb,
            Direction::DbToSf,
            Direction::Bidirectional,
        ] {
            assert_eq!(parse_direction(direction_str(d)).unwrap(), d);
        }
        for p in [
            ConflictPolicy::SalesforceWins,
            ConflictPolicy::DatabaseWins,
            ConflictPolicy::NewestWins,
        ] {
            assert_eq!(parse_policy(policy_str(p)).unwrap(), p);
        }
        assert!(parse_direction("both").is_err());
        assert!(parse_policy("").is_err());
    }
}
