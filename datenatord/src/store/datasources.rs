//! Datasources: per org, the database it syncs into (settings as JSON), the sync account
//! the schema generation made, the last check's report and the generation's outcome.
use datenator_shared::datasource::{CheckReport, DatasourceSettings};

use super::{Store, StoreError};

/// An org's stored datasource.
#[derive(Debug, Clone)]
pub struct DatasourceRow {
    pub settings: DatasourceSettings,
    pub sync_user: Option<String>,
    pub sync_password: Option<String>,
    /// MariaDB/MySQL: the host part of the sync account as created.
    pub sync_account_host: Option<String>,
    /// MariaDB/MySQL: the host the user set for the sync account.
    pub sync_host: Option<String>,
    pub check: Option<CheckReport>,
    pub schema_generated: bool,
    pub schema_error: Option<String>,
    pub app_role: Option<String>,
}

#[derive(sqlx::FromRow)]
struct RawDatasource {
    settings_json: String,
    sync_user: Option<String>,
    sync_password: Option<String>,
    check_json: Option<String>,
    schema_generated: i64,
    schema_error: Option<String>,
    sync_host: Option<String>,
    sync_account_host: Option<String>,
    app_role: Option<String>,
}

fn to_json(settings: &DatasourceSettings) -> Result<String, StoreError> {
    serde_json::to_string(settings)
        .map_err(|e| StoreError::Corrupt(format!("datasource settings: {e}")))
}

impl Store {
    /// The org's datasource, if it has one.
    pub async fn datasource(&self, org: &str) -> Result<Option<DatasourceRow>, StoreError> {
        let row: Option<RawDatasource> = sqlx::query_as(self.sql("SELECT settings_json, sync_user, sync_password, check_json, schema_generated, schema_error,
                    sync_host, sync_account_host, app_role
               FROM datasources WHERE org_name = ?"),
        )
        .bind(org)
        .fetch_optional(self.pool())
        .await?;
        let Some(r) = row else { return Ok(None) };
        let json = self.unseal(Some(r.settings_json))?.unwrap_or_default();
        let settings = serde_json::from_str(&json).map_err(|e| {
            StoreError::Corrupt(format!("the datasource settings of org {org}: {e}"))
        })?;
        Ok(Some(DatasourceRow {
            settings,
            sync_user: r.sync_user,
            sync_password: self.unseal(r.sync_password)?,
            sync_account_host: r.sync_account_host,
            sync_host: r.sync_host,
            // A report this version cannot read is as good as none: check again.
            check: r.check_json.and_then(|j| serde_json::from_str(&j).ok()),
            schema_generated: r.schema_generated != 0,
            schema_error: r.schema_error,
            app_role: r.app_role,
        }))
    }

    /// Every org with a datasource but `except`, by name.
    pub async fn datasource_orgs_except(&self, except: &str) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            self.sql("SELECT org_name FROM datasources WHERE org_name <> ? ORDER BY org_name"),
        )
        .bind(except)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|(o,)| o).collect())
    }

    /// Stores the org's datasource settings; `keep_check` keeps the last check's outcome
    /// (the settings did not change, so it still applies).
    pub async fn save_datasource_settings(
        &self,
        org: &str,
        settings: &DatasourceSettings,
        keep_check: bool,
    ) -> Result<(), StoreError> {
        sqlx::query(self.sql(
            "INSERT INTO datasources (org_name, settings_json) VALUES (?, ?)
             ON CONFLICT (org_name) DO UPDATE SET settings_json = excluded.settings_json,
               check_ok = CASE WHEN ? THEN datasources.check_ok END,
               check_json = CASE WHEN ? THEN datasources.check_json END,
               checked_at = CASE WHEN ? THEN datasources.checked_at END",
        ))
        .bind(org)
        .bind(self.seal(&to_json(settings)?))
        .bind(keep_check)
        .bind(keep_check)
        .bind(keep_check)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Replaces the settings only (the schema name pinned before generation), the check
    /// and the generation's outcome unchanged.
    pub async fn pin_datasource_settings(
        &self,
        org: &str,
        settings: &DatasourceSettings,
    ) -> Result<(), StoreError> {
        sqlx::query(self.sql("UPDATE datasources SET settings_json = ? WHERE org_name = ?"))
            .bind(self.seal(&to_json(settings)?))
            .bind(org)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn set_datasource_sync_host(
        &self,
        org: &str,
        host: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(self.sql("UPDATE datasources SET sync_host = ? WHERE org_name = ?"))
            .bind(host)
            .bind(org)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn record_datasource_check(
        &self,
        org: &str,
        report: &CheckReport,
    ) -> Result<(), StoreError> {
        sqlx::query(self.sql("UPDATE datasources SET check_ok = ?, check_json = ?, checked_at = ? WHERE org_name = ?"),
        )
        .bind(report.is_ok() as i64)
        .bind(serde_json::to_string(report).unwrap_or_default())
        .bind(chrono::Utc::now().to_rfc3339())
        .bind(org)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The schema was generated: the sync account (when one was made; `None` keeps the
    /// stored one) and the application role are stored, an earlier error cleared.
    pub async fn datasource_generated(
        &self,
        org: &str,
        sync: Option<(&str, &str, Option<&str>)>,
        app_role: Option<&str>,
    ) -> Result<(), StoreError> {
        let (user, password, host) = match sync {
            Some((u, p, h)) => (Some(u), Some(p), h),
            None => (None, None, None),
        };
        sqlx::query(self.sql(
            "UPDATE datasources SET schema_generated = 1, schema_error = NULL,
                    sync_user = COALESCE(?, sync_user), sync_password = COALESCE(?, sync_password),
                    sync_account_host = CASE WHEN ? IS NULL THEN sync_account_host ELSE ? END,
                    app_role = ?
              WHERE org_name = ?",
        ))
        .bind(user)
        .bind(self.seal_opt(password))
        .bind(user)
        .bind(host)
        .bind(app_role)
        .bind(org)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The schema generation failed: "generated" never goes back to no (the schema of an
    /// earlier run is still there); the error is kept beside it.
    pub async fn datasource_generation_failed(
        &self,
        org: &str,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(self.sql("UPDATE datasources SET schema_error = ? WHERE org_name = ?"))
            .bind(error)
            .bind(org)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
