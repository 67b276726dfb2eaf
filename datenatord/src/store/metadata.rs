//! The metadata cache: each object's describeGlobal entry and describe.
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::Row;

use super::{Store, StoreError};

/// One cached object.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedObject {
    pub name: String,
    pub label: String,
    pub global: Value,
    pub describe: Option<Value>,
}

/// One cached object without its describe: what the object list shows.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedSummary {
    pub name: String,
    pub label: String,
    pub global: Value,
    /// Number of fields, once described.
    pub fields: Option<usize>,
}

impl Store {
    /// Replaces the org's metadata cache in one transaction and stamps the download time.
    pub async fn replace_metadata(
        &self,
        org: &str,
        objects: &[CachedObject],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(self.sql("DELETE FROM metadata_objects WHERE org_name = ?"))
            .bind(org)
            .execute(&mut *tx)
            .await?;
        for o in objects {
            sqlx::query(self.sql("INSERT INTO metadata_objects (org_name, object_name, label, global_json, describe_json, downloaded_at)
                 VALUES (?, ?, ?, ?, ?, ?)"),
            )
            .bind(org)
            .bind(&o.name)
            .bind(&o.label)
            .bind(o.global.to_string())
            .bind(o.describe.as_ref().map(Value::to_string))
            .bind(at.to_rfc3339())
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(self.sql("UPDATE orgs SET metadata_downloaded_at = ? WHERE name = ?"))
            .bind(at.to_rfc3339())
            .bind(org)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every cached object of the org, by name.
    pub async fn metadata(&self, org: &str) -> Result<Vec<CachedObject>, StoreError> {
        let rows = sqlx::query(self.sql("SELECT object_name, label, global_json, describe_json FROM metadata_objects WHERE org_name = ? ORDER BY object_name"),
        )
        .bind(org)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|r| {
                let global: String = r.try_get("global_json")?;
                let describe: Option<String> = r.try_get("describe_json")?;
                Ok(CachedObject {
                    name: r.try_get("object_name")?,
                    label: r.try_get("label")?,
                    global: serde_json::from_str(&global).unwrap_or(Value::Null),
                    describe: describe.and_then(|d| serde_json::from_str(&d).ok()),
                })
            })
            .collect()
    }

    /// The org's object list without parsing a describe (a real org's cache holds
    /// hundreds, some of them large): the field count comes from the database's JSON functions.
    pub async fn metadata_summary(&self, org: &str) -> Result<Vec<CachedSummary>, StoreError> {
        let rows = sqlx::query(match self.backend() {
            super::Backend::Sqlite => self.sql(
                "SELECT object_name, label, global_json, json_array_length(describe_json, '$.fields') AS fields
                   FROM metadata_objects WHERE org_name = ? ORDER BY object_name",
            ),
            super::Backend::Postgres => self.sql(
                "SELECT object_name, label, global_json, json_array_length(describe_json::json -> 'fields')::bigint AS fields
                   FROM metadata_objects WHERE org_name = ? ORDER BY object_name",
            ),
        })
        .bind(org)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|r| {
                let global: String = r.try_get("global_json")?;
                let fields: Option<i64> = r.try_get("fields")?;
                Ok(CachedSummary {
                    name: r.try_get("object_name")?,
                    label: r.try_get("label")?,
                    global: serde_json::from_str(&global).unwrap_or(Value::Null),
                    fields: fields.map(|n| n as usize),
                })
            })
            .collect()
    }

    /// One cached object, by name in any case.
    pub async fn metadata_object(
        &self,
        org: &str,
        object: &str,
    ) -> Result<Option<CachedObject>, StoreError> {
        let row = sqlx::query(self.sql(
            "SELECT object_name, label, global_json, describe_json FROM metadata_objects
             WHERE org_name = ? AND lower(object_name) = lower(?)
             ORDER BY object_name = ? DESC LIMIT 1",
        ))
        .bind(org)
        .bind(object)
        .bind(object)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            let global: String = r.try_get("global_json")?;
            let describe: Option<String> = r.try_get("describe_json")?;
            Ok(CachedObject {
                name: r.try_get("object_name")?,
                label: r.try_get("label")?,
                global: serde_json::from_str(&global).unwrap_or(Value::Null),
                describe: describe.and_then(|d| serde_json::from_str(&d).ok()),
            })
        })
        .transpose()
    }
}
