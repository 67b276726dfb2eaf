//! Removed fields: mapped fields Salesforce no longer has or shows, which sync leaves out
//! (their columns and values kept) until the user changes the mapping.
use chrono::Utc;

use super::{Store, StoreError};

impl Store {
    /// Marks `fields` of `object` removed in Salesforce.
    pub async fn mark_fields_removed(
        &self,
        org: &str,
        object: &str,
        fields: &[String],
    ) -> Result<(), StoreError> {
        let now = Utc::now().to_rfc3339();
        for f in fields {
            sqlx::query(self.sql("INSERT INTO removed_fields (org_name, object_name, field_name, since) VALUES (?, ?, ?, ?)
                 ON CONFLICT (org_name, object_name, field_name) DO NOTHING"),
            )
            .bind(org)
            .bind(object)
            .bind(f)
            .bind(&now)
            .execute(self.pool())
            .await?;
        }
        Ok(())
    }

    /// Every (object, field) of the org marked removed, in order.
    pub async fn removed_fields(&self, org: &str) -> Result<Vec<(String, String)>, StoreError> {
        Ok(sqlx::query_as(self.sql("SELECT object_name, field_name FROM removed_fields WHERE org_name = ? ORDER BY object_name, field_name"),
        )
        .bind(org)
        .fetch_all(self.pool())
        .await?)
    }

    /// Forgets the marks of `object` (its mapping was saved or removed: the user decided;
    /// a field still gone is found again by the next query).
    pub async fn clear_removed_fields(&self, org: &str, object: &str) -> Result<(), StoreError> {
        sqlx::query(self.sql("DELETE FROM removed_fields WHERE org_name = ? AND object_name = ?"))
            .bind(org)
            .bind(object)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// These fields of `object` are back in Salesforce: no longer marked.
    pub async fn unmark_fields_removed(
        &self,
        org: &str,
        object: &str,
        fields: &[String],
    ) -> Result<(), StoreError> {
        for f in fields {
            sqlx::query(self.sql("DELETE FROM removed_fields WHERE org_name = ? AND object_name = ? AND field_name = ?"),
            )
            .bind(org)
            .bind(object)
            .bind(f)
            .execute(self.pool())
            .await?;
        }
        Ok(())
    }
}
