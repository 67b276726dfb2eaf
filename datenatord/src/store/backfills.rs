//! Backfills: the fields a mapping change added whose existing rows still wait for their
//! Salesforce values, with how far the fill has come — durable, so a stop resumes it.
use chrono::Utc;
use sqlx::Row;

use super::{Store, StoreError};

/// One object's backfill still to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingBackfill {
    pub object: String,
    /// API names of the fields to fill.
    pub fields: Vec<String>,
    /// Rows the object's table held when the fields were added.
    pub total: u64,
    /// Records written so far.
    pub done: u64,
    /// The greatest Id written so far by a fill read in Id order (empty: from the start).
    pub after_id: String,
}

impl Store {
    /// Records that `fields` of `object` must be filled in `total` existing rows. A
    /// backfill still pending for the object takes the new fields in and starts over (what
    /// it already wrote is kept: a fill never overwrites a value).
    pub async fn add_backfill(
        &self,
        org: &str,
        object: &str,
        fields: &[String],
        total: u64,
    ) -> Result<(), StoreError> {
        let mut all = self
            .backfill(org, object)
            .await?
            .map(|b| b.fields)
            .unwrap_or_default();
        for f in fields {
            if !all.iter().any(|a| a.eq_ignore_ascii_case(f)) {
                all.push(f.clone());
            }
        }
        sqlx::query(self.sql("INSERT INTO backfills (org_name, object_name, fields_json, total, done, after_id, since)
             VALUES (?, ?, ?, ?, 0, '', ?)
             ON CONFLICT (org_name, object_name) DO UPDATE SET fields_json = excluded.fields_json,
                 total = excluded.total, done = 0, after_id = '', since = excluded.since"),
        )
        .bind(org)
        .bind(object)
        .bind(serde_json::to_string(&all).unwrap_or_default())
        .bind(i64::try_from(total).unwrap_or(i64::MAX))
        .bind(Utc::now().to_rfc3339())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The object's pending backfill, if any.
    pub async fn backfill(
        &self,
        org: &str,
        object: &str,
    ) -> Result<Option<PendingBackfill>, StoreError> {
        let row = sqlx::query(self.sql("SELECT object_name, fields_json, total, done, after_id FROM backfills WHERE org_name = ? AND object_name = ?"),
        )
        .bind(org)
        .bind(object)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| PendingBackfill {
            object: r.get("object_name"),
            fields: serde_json::from_str(&r.get::<String, _>("fields_json")).unwrap_or_default(),
            total: r.get::<i64, _>("total").max(0) as u64,
            done: r.get::<i64, _>("done").max(0) as u64,
            after_id: r.get("after_id"),
        }))
    }

    /// The org's pending backfills.
    pub async fn backfills(&self, org: &str) -> Result<Vec<PendingBackfill>, StoreError> {
        let objects: Vec<String> =
            sqlx::query_scalar(self.sql("SELECT object_name FROM backfills WHERE org_name = ?"))
                .bind(org)
                .fetch_all(self.pool())
                .await?;
        let mut out = Vec::new();
        for o in objects {
            out.extend(self.backfill(org, &o).await?);
        }
        Ok(out)
    }

    /// Stores how far a backfill has come: `done` records written, the last at `after_id`.
    pub async fn advance_backfill(
        &self,
        org: &str,
        object: &str,
        done: u64,
        after_id: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(self.sql(
            "UPDATE backfills SET done = ?, after_id = ? WHERE org_name = ? AND object_name = ?",
        ))
        .bind(i64::try_from(done).unwrap_or(i64::MAX))
        .bind(after_id)
        .bind(org)
        .bind(object)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Forgets the object's backfill: done, or its mapping removed.
    pub async fn finish_backfill(&self, org: &str, object: &str) -> Result<(), StoreError> {
        sqlx::query(self.sql("DELETE FROM backfills WHERE org_name = ? AND object_name = ?"))
            .bind(org)
            .bind(object)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
