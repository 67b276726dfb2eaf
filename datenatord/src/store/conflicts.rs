//! The conflict log: fields changed on both sides and how the mapping's policy settled
//! them, newest kept (at most [`KEEP_PER_ORG`] per org).
use chrono::{DateTime, Utc};
use datenator_shared::model::{ConflictPolicy, ConflictRecord};
use serde_json::Value;

use super::{Store, StoreError};

/// Conflicts kept per org: older ones are dropped as new ones are logged.
pub const KEEP_PER_ORG: i64 = 10_000;

#[derive(sqlx::FromRow)]
struct RawConflict {
    object_name: String,
    sfid: String,
    field: String,
    db_value: Option<String>,
    sf_value: Option<String>,
    winner: String,
    policy: String,
    at: String,
}

fn policy_text(p: ConflictPolicy) -> String {
    serde_json::to_value(p)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

impl Store {
    /// Logs settled conflicts (one transaction) and drops the org's oldest beyond
    /// [`KEEP_PER_ORG`].
    pub async fn log_conflicts(&self, org: &str, log: &[ConflictRecord]) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        for c in log {
            sqlx::query(self.sql("INSERT INTO conflicts (org_name, object_name, sfid, field, db_value, sf_value, winner, policy, at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
            )
            .bind(org)
            .bind(&c.object)
            .bind(&c.sfid)
            .bind(&c.field)
            .bind(c.db_value.to_string())
            .bind(c.sf_value.to_string())
            .bind(&c.winner)
            .bind(policy_text(c.policy))
            .bind(c.at.to_rfc3339())
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(self.sql(
            "DELETE FROM conflicts WHERE org_name = ? AND id <= (
                 SELECT id FROM conflicts WHERE org_name = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
        ))
        .bind(org)
        .bind(org)
        .bind(KEEP_PER_ORG)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The org's newest `limit` conflicts, newest first.
    pub async fn conflicts(
        &self,
        org: &str,
        limit: i64,
    ) -> Result<Vec<ConflictRecord>, StoreError> {
        let rows: Vec<RawConflict> = sqlx::query_as(self.sql("SELECT object_name, sfid, field, db_value, sf_value, winner, policy, at FROM conflicts WHERE org_name = ? ORDER BY id DESC LIMIT ?"),
        )
        .bind(org)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|r| {
                let value = |v: Option<String>| {
                    v.and_then(|t| serde_json::from_str(&t).ok())
                        .unwrap_or(Value::Null)
                };
                Ok(ConflictRecord {
                    object: r.object_name,
                    sfid: r.sfid,
                    field: r.field,
                    db_value: value(r.db_value),
                    sf_value: value(r.sf_value),
                    winner: r.winner,
                    policy: serde_json::from_value(Value::from(r.policy.clone())).map_err(
                        |_| StoreError::Corrupt(format!("conflicts.policy is {:?}", r.policy)),
                    )?,
                    at: DateTime::parse_from_rfc3339(&r.at)
                        .map(|d| d.with_timezone(&Utc))
                        .map_err(|_| StoreError::Corrupt(format!("conflicts.at is {:?}", r.at)))?,
                })
            })
            .collect()
    }
}
