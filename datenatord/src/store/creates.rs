//! Creates in doubt: the durable mark that some create of an object may have reached
//! Salesforce without its answer being recorded (a stop, a lost answer, a failed write-back).
use chrono::Utc;

use super::{Store, StoreError};

impl Store {
    /// Marks `object`'s creates in doubt (before they are sent), as of now: the last send.
    pub async fn mark_creates_in_doubt(&self, org: &str, object: &str) -> Result<(), StoreError> {
        sqlx::query(self.sql(
            "INSERT INTO creates_in_doubt (org_name, object_name, since) VALUES (?, ?, ?)
             ON CONFLICT (org_name, object_name) DO UPDATE SET since = excluded.since",
        ))
        .bind(org)
        .bind(object)
        .bind(Utc::now().to_rfc3339())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Clears the mark once a push round has settled every create of `object`.
    pub async fn clear_creates_in_doubt(&self, org: &str, object: &str) -> Result<(), StoreError> {
        sqlx::query(
            self.sql("DELETE FROM creates_in_doubt WHERE org_name = ? AND object_name = ?"),
        )
        .bind(org)
        .bind(object)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// When the last creates of `object` were sent, if they are in doubt.
    pub async fn creates_in_doubt_since(
        &self,
        org: &str,
        object: &str,
    ) -> Result<Option<chrono::DateTime<Utc>>, StoreError> {
        let since: Option<String> = sqlx::query_scalar(
            self.sql("SELECT since FROM creates_in_doubt WHERE org_name = ? AND object_name = ?"),
        )
        .bind(org)
        .bind(object)
        .fetch_optional(self.pool())
        .await?;
        Ok(since
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(&s).ok())
            .map(|d| d.to_utc()))
    }

    /// The objects of `org` whose creates are in doubt.
    pub async fn creates_in_doubt(&self, org: &str) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            self.sql("SELECT object_name FROM creates_in_doubt WHERE org_name = ?"),
        )
        .bind(org)
        .fetch_all(self.pool())
        .await?)
    }
}
