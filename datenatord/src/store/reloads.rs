//! Re-reads and detached rows: an object's pending re-read from Salesforce (a re-sync the
//! user asked for, or a row filter change), durable so a stop resumes it; and the rows kept
//! in the database after their record left the row filter, which sync neither refreshes
//! nor sends.
use std::collections::HashSet;

use chrono::Utc;
use datenator_shared::protocol::LeavingRows;

use super::{Store, StoreError};

fn leaving_str(l: LeavingRows) -> &'static str {
    match l {
        LeavingRows::Detach => "detach",
        LeavingRows::Delete => "delete",
    }
}

fn parse_leaving(text: &str) -> Result<LeavingRows, StoreError> {
    match text {
        "detach" => Ok(LeavingRows::Detach),
        "delete" => Ok(LeavingRows::Delete),
        other => Err(StoreError::Corrupt(format!(
            "reloads.leaving is {other:?}, not 'detach' or 'delete'"
        ))),
    }
}

/// A re-read still to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingReload {
    pub object: String,
    /// What becomes of rows whose record left the row filter.
    pub leaving: LeavingRows,
    /// The row filter it is for.
    pub row_filter: Option<String>,
}

impl Store {
    /// Records that `object` must be read again from Salesforce with `row_filter`; a
    /// re-read already waiting takes the latest filter and choice for the rows leaving it.
    pub async fn add_reload(
        &self,
        org: &str,
        object: &str,
        leaving: LeavingRows,
        row_filter: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(self.sql("INSERT INTO reloads (org_name, object_name, leaving, row_filter, since) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (org_name, object_name) DO UPDATE SET leaving = excluded.leaving,
                 row_filter = excluded.row_filter"),
        )
        .bind(org)
        .bind(object)
        .bind(leaving_str(leaving))
        .bind(row_filter)
        .bind(Utc::now().to_rfc3339())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The org's pending re-reads, by object.
    pub async fn reloads(&self, org: &str) -> Result<Vec<PendingReload>, StoreError> {
        let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(self.sql("SELECT object_name, leaving, row_filter FROM reloads WHERE org_name = ? ORDER BY object_name"),
        )
        .bind(org)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|(object, l, row_filter)| {
                Ok(PendingReload {
                    object,
                    leaving: parse_leaving(&l)?,
                    row_filter,
                })
            })
            .collect()
    }

    /// The object's re-read is done (or its mapping is gone).
    pub async fn finish_reload(&self, org: &str, object: &str) -> Result<(), StoreError> {
        sqlx::query(self.sql("DELETE FROM reloads WHERE org_name = ? AND object_name = ?"))
            .bind(org)
            .bind(object)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Marks the rows of these records detached.
    pub async fn add_detached(
        &self,
        org: &str,
        object: &str,
        sfids: &[String],
    ) -> Result<(), StoreError> {
        let now = Utc::now().to_rfc3339();
        let mut tx = self.pool().begin().await?;
        for id in sfids {
            sqlx::query(self.sql(
                "INSERT INTO detached_rows (org_name, object_name, sfid, since) VALUES (?, ?, ?, ?)
                 ON CONFLICT (org_name, object_name, sfid) DO NOTHING",
            ))
            .bind(org)
            .bind(object)
            .bind(id)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The records of `object` whose rows are detached.
    pub async fn detached(&self, org: &str, object: &str) -> Result<HashSet<String>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            self.sql("SELECT sfid FROM detached_rows WHERE org_name = ? AND object_name = ?"),
        )
        .bind(org)
        .bind(object)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|(s,)| s).collect())
    }

    /// How many rows each object of the org has detached.
    pub async fn detached_counts(&self, org: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(self.sql("SELECT object_name, COUNT(*) FROM detached_rows WHERE org_name = ? GROUP BY object_name"),
        )
        .bind(org)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(o, n)| (o, u64::try_from(n).unwrap_or(0)))
            .collect())
    }

    /// These records are synced again (they match the row filter again), or their rows are
    /// gone; `None` forgets every detached row of the object (its mapping is removed).
    pub async fn forget_detached(
        &self,
        org: &str,
        object: &str,
        sfids: Option<&[String]>,
    ) -> Result<(), StoreError> {
        match sfids {
            None => {
                sqlx::query(
                    self.sql("DELETE FROM detached_rows WHERE org_name = ? AND object_name = ?"),
                )
                .bind(org)
                .bind(object)
                .execute(self.pool())
                .await?;
            }
            Some(ids) => {
                let mut tx = self.pool().begin().await?;
                for id in ids {
                    sqlx::query(self.sql("DELETE FROM detached_rows WHERE org_name = ? AND object_name = ? AND sfid = ?"),
                    )
                    .bind(org)
                    .bind(object)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
            }
        }
        Ok(())
    }
}
