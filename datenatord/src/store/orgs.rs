//! Orgs and their OAuth credentials.
use chrono::Utc;
use datenator_shared::model::{ApiUsage, AuthState, OrgType};
use sqlx::Row;

use super::{Store, StoreError};

/// What registering an org stores before its authorization completes.
#[derive(Clone)]
pub struct NewOrg {
    pub name: String,
    pub org_type: OrgType,
    pub flow: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub username: Option<String>,
    pub auth: AuthState,
}

/// An org's credentials as stored (never logged).
#[derive(Clone)]
pub struct StoredCredentials {
    pub org_type: OrgType,
    pub flow: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub username: Option<String>,
    pub refresh_token: Option<String>,
    pub access_token: Option<String>,
    pub instance_url: Option<String>,
}

impl std::fmt::Debug for StoredCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredCredentials")
            .field("org_type", &self.org_type)
            .field("flow", &self.flow)
            .field("client_id", &self.client_id)
            .field("instance_url", &self.instance_url)
            .finish_non_exhaustive()
    }
}

pub(super) fn org_type_from_columns(kind: &str, custom: Option<String>) -> OrgType {
    match kind {
        "production" => OrgType::Production,
        "sandbox" => OrgType::Sandbox,
        _ => OrgType::Custom(custom.unwrap_or_default()),
    }
}

fn org_type_columns(t: &OrgType) -> (&'static str, Option<String>) {
    match t {
        OrgType::Production => ("production", None),
        OrgType::Sandbox => ("sandbox", None),
        OrgType::Custom(d) => ("custom", Some(d.clone())),
    }
}

fn auth_json(a: &AuthState) -> String {
    serde_json::to_string(a)
        .unwrap_or_else(|_| r#"{"state":"failed","error":"unencodable"}"#.into())
}

impl Store {
    pub async fn org_exists(&self, name: &str) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(self.sql("SELECT COUNT(*) FROM orgs WHERE name = ?"))
            .bind(name)
            .fetch_one(self.pool())
            .await?;
        Ok(n > 0)
    }

    /// Stores a new org (and its connected app) before authorization finishes.
    pub async fn insert_org(&self, org: &NewOrg) -> Result<(), StoreError> {
        let now = Utc::now().to_rfc3339();
        let (kind, custom) = org_type_columns(&org.org_type);
        let mut tx = self.pool().begin().await?;
        sqlx::query(self.sql(
            "INSERT INTO orgs (name, org_type, custom_domain, auth_json, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?)",
        ))
        .bind(&org.name)
        .bind(kind)
        .bind(custom)
        .bind(auth_json(&org.auth))
        .bind(&now)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(self.sql("INSERT INTO credentials (org_name, flow, client_id, client_secret, username) VALUES (?, ?, ?, ?, ?)"),
        )
        .bind(&org.name)
        .bind(&org.flow)
        .bind(&org.client_id)
        .bind(self.seal_opt(org.client_secret.as_deref()))
        .bind(&org.username)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The org, other than `except`, already registered for the Salesforce org `org_id`.
    pub async fn org_with_id(
        &self,
        org_id: &str,
        except: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar(self.sql("SELECT name FROM orgs WHERE org_id = ? AND name <> ?"))
                .bind(org_id)
                .bind(except)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// The Salesforce org id stored for `name`, once authorized.
    pub async fn org_id(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar::<_, Option<String>>(
            self.sql("SELECT org_id FROM orgs WHERE name = ?"),
        )
        .bind(name)
        .fetch_optional(self.pool())
        .await?
        .flatten())
    }

    /// Marks that a "refresh credentials" flow runs while the stored credentials work
    /// (sync goes on with them; they stay if the refresh fails), or clears the mark.
    pub async fn set_refresh_keeps_credentials(
        &self,
        name: &str,
        keeps: bool,
    ) -> Result<(), StoreError> {
        sqlx::query(self.sql("UPDATE orgs SET refresh_keeps_credentials = ? WHERE name = ?"))
            .bind(keeps as i64)
            .bind(name)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Whether a refresh is running while the stored credentials still work.
    pub async fn refresh_keeps_credentials(&self, name: &str) -> Result<bool, StoreError> {
        let v: Option<i64> = sqlx::query_scalar(
            self.sql("SELECT refresh_keeps_credentials FROM orgs WHERE name = ?"),
        )
        .bind(name)
        .fetch_optional(self.pool())
        .await?;
        Ok(v.unwrap_or(0) != 0)
    }

    pub async fn set_auth(&self, name: &str, auth: &AuthState) -> Result<(), StoreError> {
        sqlx::query(self.sql("UPDATE orgs SET auth_json = ?, updated_at = ? WHERE name = ?"))
            .bind(auth_json(auth))
            .bind(Utc::now().to_rfc3339())
            .bind(name)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Switches an org to another flow (re-authorization) and records the new state.
    pub async fn set_flow(
        &self,
        name: &str,
        flow: &str,
        username: Option<&str>,
        auth: &AuthState,
    ) -> Result<(), StoreError> {
        sqlx::query(self.sql(
            "UPDATE credentials SET flow = ?, username = COALESCE(?, username) WHERE org_name = ?",
        ))
        .bind(flow)
        .bind(username)
        .bind(name)
        .execute(self.pool())
        .await?;
        self.set_auth(name, auth).await
    }

    /// Stores the tokens of a completed flow and marks the org authorized.
    #[allow(clippy::too_many_arguments)]
    pub async fn set_authorized(
        &self,
        name: &str,
        org_id: Option<&str>,
        user_id: Option<&str>,
        instance_url: &str,
        access_token: &str,
        refresh_token: Option<&str>,
        issued_at: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(self.sql("UPDATE orgs SET org_id = ?, user_id = ?, instance_url = ?, auth_json = ?, updated_at = ? WHERE name = ?"),
        )
        .bind(org_id)
        .bind(user_id)
        .bind(instance_url)
        .bind(auth_json(&AuthState::Authorized))
        .bind(Utc::now().to_rfc3339())
        .bind(name)
        .execute(&mut *tx)
        .await?;
        sqlx::query(self.sql("UPDATE credentials SET access_token = ?, refresh_token = COALESCE(?, refresh_token), issued_at = ? WHERE org_name = ?"),
        )
        .bind(self.seal(access_token))
        .bind(self.seal_opt(refresh_token))
        .bind(issued_at)
        .bind(name)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores a refreshed access token (and a rotated refresh token, if any).
    pub async fn update_tokens(
        &self,
        name: &str,
        instance_url: &str,
        access_token: &str,
        refresh_token: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(self.sql("UPDATE credentials SET access_token = ?, refresh_token = COALESCE(?, refresh_token) WHERE org_name = ?"))
            .bind(self.seal(access_token))
            .bind(self.seal_opt(refresh_token))
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query(self.sql("UPDATE orgs SET instance_url = ? WHERE name = ?"))
            .bind(instance_url)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn credentials(&self, name: &str) -> Result<Option<StoredCredentials>, StoreError> {
        let row = sqlx::query(self.sql("SELECT o.org_type, o.custom_domain, o.instance_url, c.flow, c.client_id, c.client_secret,
                    c.username, c.refresh_token, c.access_token
               FROM orgs o JOIN credentials c ON c.org_name = o.name WHERE o.name = ?"),
        )
        .bind(name)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(StoredCredentials {
            org_type: org_type_from_columns(
                &row.try_get::<String, _>("org_type")?,
                row.try_get("custom_domain")?,
            ),
            flow: row.try_get("flow")?,
            client_id: row.try_get("client_id")?,
            client_secret: self.unseal(row.try_get("client_secret")?)?,
            username: row.try_get("username")?,
            refresh_token: self.unseal(row.try_get("refresh_token")?)?,
            access_token: self.unseal(row.try_get("access_token")?)?,
            instance_url: row.try_get("instance_url")?,
        }))
    }

    /// The Salesforce user the org was authorized as.
    pub async fn org_user_id(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar(self.sql("SELECT user_id FROM orgs WHERE name = ?"))
                .bind(name)
                .fetch_optional(self.pool())
                .await?
                .flatten(),
        )
    }

    pub async fn set_sync_enabled(&self, name: &str, enabled: bool) -> Result<(), StoreError> {
        sqlx::query(self.sql("UPDATE orgs SET sync_enabled = ?, updated_at = ? WHERE name = ?"))
            .bind(enabled as i64)
            .bind(Utc::now().to_rfc3339())
            .bind(name)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn set_org_settings(
        &self,
        name: &str,
        polling_interval_secs: Option<u32>,
        api_budget_percent: Option<u8>,
    ) -> Result<(), StoreError> {
        sqlx::query(self.sql("UPDATE orgs SET polling_interval_secs = COALESCE(?, polling_interval_secs),
                             api_budget_percent = COALESCE(?, api_budget_percent), updated_at = ? WHERE name = ?"),
        )
        .bind(polling_interval_secs.map(i64::from))
        .bind(api_budget_percent.map(i64::from))
        .bind(Utc::now().to_rfc3339())
        .bind(name)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn set_api_usage(&self, name: &str, usage: ApiUsage) -> Result<(), StoreError> {
        sqlx::query(self.sql("UPDATE orgs SET api_used = ?, api_max = ? WHERE name = ?"))
            .bind(usage.used as i64)
            .bind(usage.max as i64)
            .bind(name)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Removes the org and everything stored for it (cascades to credentials, datasource,
    /// metadata, mappings).
    pub async fn delete_org(&self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(self.sql("DELETE FROM orgs WHERE name = ?"))
            .bind(name)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
