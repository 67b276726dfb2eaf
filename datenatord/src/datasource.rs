//! An org's datasource: its settings, "Check datasource", and generating (provisioning) the
//! org's schema and sync user through the target layer.
use datenator_shared::datasource::{
    CheckReport, DatasourceKind, DatasourceSettings, Secret, default_schema_name,
};
use datenator_shared::model::DatasourceView;
use datenator_shared::protocol::{RpcError, codes};
use sqlx::Row;

use crate::orgs::{not_found, store_error};
use crate::state::State;
use crate::target::{AnyTarget, SyncCredentials, Target, TargetError};

struct Stored {
    settings: DatasourceSettings,
    sync: Option<SyncCredentials>,
    check: Option<CheckReport>,
    generated: bool,
    error: Option<String>,
}

async fn load(state: &State, org: &str) -> Result<Option<Stored>, RpcError> {
    let row = sqlx::query(
        "SELECT settings_json, sync_user, sync_password, check_json, schema_generated, schema_error
           FROM datasources WHERE org_name = ?",
    )
    .bind(org)
    .fetch_optional(state.store.pool())
    .await
    .map_err(|e| store_error(e.into()))?;
    let Some(row) = row else { return Ok(None) };
    let get = |k: &str| row.try_get::<Option<String>, _>(k).ok().flatten();
    let settings: DatasourceSettings =
        serde_json::from_str(&get("settings_json").unwrap_or_default()).map_err(|e| {
            RpcError::new(
                codes::INTERNAL_ERROR,
                format!("stored datasource settings are unreadable: {e}"),
            )
        })?;
    let sync = match (get("sync_user"), get("sync_password")) {
        (Some(user), Some(password)) => Some(SyncCredentials {
            user,
            password: Secret::new(password),
        }),
        _ => None,
    };
    Ok(Some(Stored {
        settings,
        sync,
        check: get("check_json").and_then(|j| serde_json::from_str(&j).ok()),
        generated: row.try_get::<i64, _>("schema_generated").unwrap_or(0) != 0,
        error: get("schema_error"),
    }))
}

fn schema_of(org: &str, settings: &DatasourceSettings) -> String {
    settings
        .schema
        .clone()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| default_schema_name(org))
}

fn target_error(e: TargetError) -> RpcError {
    RpcError::new(codes::REJECTED, e.to_string())
}

fn validate(settings: &DatasourceSettings) -> Result<(), RpcError> {
    let missing =
        |what: &str| RpcError::new(codes::REJECTED, format!("the datasource needs a {what}"));
    match settings.kind {
        DatasourceKind::Sqlite => {
            if settings
                .sqlite_path
                .as_ref()
                .is_none_or(|p| p.as_os_str().is_empty())
            {
                return Err(missing("file path for the SQLite database"));
            }
        }
        _ => {
            if settings.host.trim().is_empty() {
                return Err(missing("host"));
            }
            if settings.user.trim().is_empty() {
                return Err(missing("user (an admin that can create schemas and users)"));
            }
            if settings.kind == DatasourceKind::Postgres && settings.database.trim().is_empty() {
                return Err(missing("database name"));
            }
        }
    }
    Ok(())
}

/// `datasource_set`: stores the settings. An empty password keeps the stored one. Changing
/// the settings clears the last check (it no longer applies).
pub async fn set(
    state: &State,
    org: &str,
    mut settings: DatasourceSettings,
) -> Result<DatasourceView, RpcError> {
    if !state.store.org_exists(org).await.map_err(store_error)? {
        return Err(not_found(org));
    }
    validate(&settings)?;
    let previous = load(state, org).await?;
    if settings.password.is_empty()
        && let Some(p) = &previous
    {
        settings.password = p.settings.password.clone();
    }
    if let Some(p) = &previous
        && p.generated
        && schema_of(org, &p.settings) != schema_of(org, &settings)
    {
        return Err(RpcError::new(
            codes::REJECTED,
            "the schema was already generated under another name: delete and re-register the org to move it",
        ));
    }
    let json = serde_json::to_string(&settings)
        .map_err(|e| RpcError::new(codes::INTERNAL_ERROR, e.to_string()))?;
    sqlx::query(
        "INSERT INTO datasources (org_name, settings_json) VALUES (?, ?)
         ON CONFLICT (org_name) DO UPDATE SET settings_json = excluded.settings_json, check_ok = NULL, check_json = NULL, checked_at = NULL",
    )
    .bind(org)
    .bind(json)
    .execute(state.store.pool())
    .await
    .map_err(|e| store_error(e.into()))?;
    state.refresh_orgs().await.map_err(store_error)?;
    get(state, org).await?.ok_or_else(|| not_found(org))
}

/// `datasource_get`: the settings (password hidden) and the last outcomes.
pub async fn get(state: &State, org: &str) -> Result<Option<DatasourceView>, RpcError> {
    let Some(s) = load(state, org).await? else {
        return Ok(None);
    };
    let mut settings = s.settings.clone();
    let password_set = !settings.password.is_empty();
    settings.password = Secret::default();
    Ok(Some(DatasourceView {
        schema: schema_of(org, &s.settings),
        settings,
        password_set,
        last_check: s.check,
        schema_generated: s.generated,
        schema_error: s.error,
    }))
}

/// The org's target, with the admin settings and the stored sync credentials: what the
/// engine and the mapping planner use.
pub(crate) async fn admin_target(state: &State, org: &str) -> Result<AnyTarget, RpcError> {
    let (t, stored) = target(state, org).await?;
    if !stored.generated {
        return Err(RpcError::new(
            codes::REJECTED,
            format!(
                "org {org}'s schema has not been generated yet: check the datasource and generate the schema first"
            ),
        ));
    }
    Ok(t)
}

async fn target(state: &State, org: &str) -> Result<(AnyTarget, Stored), RpcError> {
    let stored = load(state, org).await?.ok_or_else(|| {
        RpcError::new(
            codes::REJECTED,
            format!("org {org} has no datasource yet: fill in the Datasource tab first"),
        )
    })?;
    let t = AnyTarget::new(
        stored.settings.clone(),
        schema_of(org, &stored.settings),
        stored.sync.clone(),
    )
    .map_err(target_error)?;
    Ok((t, stored))
}

/// `datasource_check`: runs every check and remembers the outcome.
pub async fn check(state: &State, org: &str) -> Result<CheckReport, RpcError> {
    let (t, _) = target(state, org).await?;
    let report = t.check().await;
    sqlx::query(
        "UPDATE datasources SET check_ok = ?, check_json = ?, checked_at = ? WHERE org_name = ?",
    )
    .bind(report.is_ok() as i64)
    .bind(serde_json::to_string(&report).unwrap_or_default())
    .bind(chrono::Utc::now().to_rfc3339())
    .bind(org)
    .execute(state.store.pool())
    .await
    .map_err(|e| store_error(e.into()))?;
    state.refresh_orgs().await.map_err(store_error)?;
    Ok(report)
}

/// `schema_generate`: creates (or finishes creating) the org's schema and sync user.
pub async fn generate(state: &State, org: &str) -> Result<DatasourceView, RpcError> {
    let (t, _) = target(state, org).await?;
    let outcome = t.provision().await;
    let (generated, error, user, password) = match &outcome {
        Ok(p) => (
            true,
            None,
            p.sync_credentials.as_ref().map(|c| c.user.clone()),
            p.sync_credentials
                .as_ref()
                .map(|c| c.password.expose().to_owned()),
        ),
        Err(e) => (false, Some(e.to_string()), None, None),
    };
    sqlx::query(
        "UPDATE datasources SET schema_generated = ?, schema_error = ?,
                sync_user = COALESCE(?, sync_user), sync_password = COALESCE(?, sync_password)
          WHERE org_name = ?",
    )
    .bind(generated as i64)
    .bind(&error)
    .bind(user)
    .bind(password)
    .bind(org)
    .execute(state.store.pool())
    .await
    .map_err(|e| store_error(e.into()))?;
    state.refresh_orgs().await.map_err(store_error)?;
    match outcome {
        Ok(_) => {
            tracing::info!(org = %org, "schema generated");
            get(state, org).await?.ok_or_else(|| not_found(org))
        }
        Err(e) => Err(target_error(e)),
    }
}

/// Drops the org's schema and sync user, when a datasource was configured and provisioned.
/// Returns whether anything was dropped.
pub async fn deprovision(state: &State, org: &str) -> Result<bool, RpcError> {
    let Some(stored) = load(state, org).await? else {
        return Ok(false);
    };
    if !stored.generated && stored.sync.is_none() {
        return Ok(false);
    }
    let t = AnyTarget::new(
        stored.settings.clone(),
        schema_of(org, &stored.settings),
        stored.sync.clone(),
    )
    .map_err(target_error)?;
    t.deprovision().await.map_err(target_error)?;
    Ok(true)
}
