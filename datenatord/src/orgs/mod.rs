//! Org operations behind the socket methods: registration and authorization flows
//! ([`registration`]), metadata download ([`metadata`]), deletion, and the per-org
//! Salesforce API handles every other part of the daemon uses ([`OrgRuntime::api`]).
pub mod metadata;
pub mod registration;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::error::{DaemonError, store_error};
use datenator_shared::model::AuthState;

use crate::salesforce::auth::{ConnectedApp, OAuth, PendingAuthorization, login_url};
use crate::salesforce::{Api, Credentials, SalesforceError};
use crate::state::State;

/// The default callback URL of the web-server flow (the Salesforce CLI's, which many
/// connected apps already list).
pub const DEFAULT_REDIRECT_URI: &str = "http://localhost:1717/OauthRedirect";

/// In-memory per-org runtime state: flows waiting for the user, API handles, why the last
/// refresh of working credentials failed.
#[derive(Default)]
pub struct OrgRuntime {
    pending_browser: Mutex<HashMap<String, PendingAuthorization>>,
    device_tasks: Mutex<HashMap<String, tokio::task::JoinHandle<()>>>,
    apis: Mutex<HashMap<String, Api>>,
    refresh_errors: Mutex<HashMap<String, String>>,
    http: std::sync::OnceLock<reqwest::Client>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl OrgRuntime {
    pub fn http(&self) -> reqwest::Client {
        self.http
            .get_or_init(crate::salesforce::http::default_http)
            .clone()
    }

    pub(crate) fn set_pending_browser(&self, org: &str, p: PendingAuthorization) {
        lock(&self.pending_browser).insert(org.to_owned(), p);
    }

    pub(crate) fn pending_browser(&self, org: &str) -> Option<PendingAuthorization> {
        lock(&self.pending_browser).get(org).cloned()
    }

    pub(crate) fn set_device_task(&self, org: &str, task: tokio::task::JoinHandle<()>) {
        if let Some(old) = lock(&self.device_tasks).insert(org.to_owned(), task) {
            old.abort();
        }
    }

    /// Drops the cached API handle (new tokens were stored).
    pub fn forget_api(&self, org: &str) {
        lock(&self.apis).remove(org);
    }

    /// Ends the flow running for `org` (a browser flow waiting, a device flow polling),
    /// keeping its API handle.
    pub(crate) fn forget_flow(&self, org: &str) {
        lock(&self.pending_browser).remove(org);
        if let Some(t) = lock(&self.device_tasks).remove(org) {
            t.abort();
        }
    }

    /// Forgets everything held for `org` (after re-authorization or deletion).
    pub fn forget(&self, org: &str) {
        lock(&self.pending_browser).remove(org);
        if let Some(t) = lock(&self.device_tasks).remove(org) {
            t.abort();
        }
        lock(&self.apis).remove(org);
        lock(&self.refresh_errors).remove(org);
    }

    /// Records why refreshing `org`'s working credentials failed (they stay in use).
    pub(crate) fn set_refresh_error(&self, org: &str, error: &str) {
        lock(&self.refresh_errors).insert(org.to_owned(), error.to_owned());
    }

    /// Forgets a failed refresh (a new one starts, or new credentials were stored).
    pub(crate) fn clear_refresh_error(&self, org: &str) {
        lock(&self.refresh_errors).remove(org);
    }

    /// Why the last refresh of `org`'s credentials failed, while its earlier ones stay in
    /// use ([`OrgSummary::refresh_error`](datenator_shared::model::OrgSummary)).
    pub fn refresh_error(&self, org: &str) -> Option<String> {
        lock(&self.refresh_errors).get(org).cloned()
    }

    /// The org's usage forecast, if its client is running and has samples enough.
    pub fn forecast(
        &self,
        org: &str,
        configured_secs: u32,
        budget_percent: u8,
    ) -> Option<datenator_shared::model::UsageForecast> {
        lock(&self.apis)
            .get(org)?
            .usage()
            .forecast(configured_secs, budget_percent)
    }

    /// The org's daily change-event delivery allocation in use, as `/limits` last said.
    pub fn event_allocation(&self, org: &str) -> Option<datenator_shared::model::ApiUsage> {
        lock(&self.apis).get(org)?.usage().events()
    }

    /// The org's API handle, built from its stored credentials on first use.
    pub async fn api(&self, state: &State, org: &str) -> Result<Api, DaemonError> {
        if let Some(api) = lock(&self.apis).get(org) {
            return Ok(api.clone());
        }
        let creds = state
            .store
            .credentials(org)
            .await
            .map_err(store_error)?
            .ok_or_else(|| DaemonError::no_org(org))?;
        let (Some(instance_url), Some(access_token)) =
            (creds.instance_url.clone(), creds.access_token.clone())
        else {
            return Err(DaemonError::rejected(format!(
                "org {org} is not authorized yet: finish its authorization flow first"
            )));
        };
        let oauth = OAuth::new(
            self.http(),
            login_url(&creds.org_type),
            ConnectedApp {
                client_id: creds.client_id.clone(),
                client_secret: creds.client_secret.clone(),
                redirect_uri: redirect_uri(state),
            },
        );
        let credentials = match (creds.flow.as_str(), &creds.refresh_token) {
            ("jwt", _) => {
                let key_pem = jwt_key(state)?;
                Credentials::Jwt {
                    oauth,
                    username: creds.username.clone().unwrap_or_default(),
                    key_pem,
                }
            }
            (_, Some(refresh)) => Credentials::RefreshToken {
                oauth,
                refresh_token: refresh.clone(),
            },
            _ => Credentials::AccessTokenOnly,
        };
        let store = state.store.clone();
        let name = org.to_owned();
        let api = Api::builder(instance_url, access_token)
            .http(self.http())
            .credentials(credentials)
            .on_token(Arc::new(move |t| {
                let (store, name, t) = (store.clone(), name.clone(), t.clone());
                tokio::spawn(async move {
                    if let Err(e) = store
                        .update_tokens(
                            &name,
                            &t.instance_url,
                            &t.access_token,
                            t.refresh_token.as_deref(),
                        )
                        .await
                    {
                        tracing::error!(org = %name, "cannot store refreshed tokens: {e}");
                    }
                });
            }))
            .build();
        spawn_usage_recorder(state, org, &api);
        lock(&self.apis).insert(org.to_owned(), api.clone());
        Ok(api)
    }
}

/// Persists and publishes the org's API usage whenever Salesforce reports a new figure.
fn spawn_usage_recorder(state: &State, org: &str, api: &Api) {
    let mut rx = api.usage().subscribe();
    let state = state.clone();
    let org = org.to_owned();
    tokio::spawn(async move {
        while rx.changed().await.is_ok() {
            let usage = *rx.borrow_and_update();
            if let Some(u) = usage {
                if state.store.set_api_usage(&org, u).await.is_err() {
                    return; // the org is gone
                }
                let _ = state.refresh_orgs().await;
            }
        }
    });
}

pub(crate) fn redirect_uri(state: &State) -> String {
    state
        .salesforce()
        .redirect_uri
        .unwrap_or_else(|| DEFAULT_REDIRECT_URI.to_owned())
}

fn jwt_key(state: &State) -> Result<String, DaemonError> {
    let path = state.salesforce().jwt_key_file.ok_or_else(|| {
        DaemonError::rejected("the JWT bearer flow needs a private key: set jwt_key_file in the [salesforce] section of the daemon's config",
        )
    })?;
    std::fs::read_to_string(&path).map_err(|e| {
        DaemonError::rejected(format!("cannot read the JWT key file {}: {e}; check the path and that the daemon's user may read it", path.display()),
        )
    })
}

/// Turns a Salesforce failure into a reply, marking the org when its credentials died.
pub(crate) async fn salesforce_error(state: &State, org: &str, e: SalesforceError) -> DaemonError {
    if let SalesforceError::ReauthorizationNeeded(reason) = &e {
        state.orgs_runtime.forget_api(org);
        if state
            .store
            .refresh_keeps_credentials(org)
            .await
            .unwrap_or(false)
        {
            // The old credentials died while a refresh is running: the refresh's pending
            // step stays on show, and its failure will leave the org unauthorized.
            let _ = state.store.set_refresh_keeps_credentials(org, false).await;
            return DaemonError::rejected(e.to_string());
        }
        state.orgs_runtime.forget(org);
        let _ = state
            .store
            .set_auth(
                org,
                &AuthState::NeedsReauthorization {
                    reason: reason.clone(),
                },
            )
            .await;
        let _ = state.refresh_orgs().await;
    }
    DaemonError::rejected(e.to_string())
}

/// Deletes an org: revokes its token, drops its generated schema and sync user, removes its
/// configuration. Touches nothing in Salesforce.
pub async fn delete(
    state: &State,
    name: &str,
    confirm: &str,
) -> Result<datenator_shared::model::DeleteReport, DaemonError> {
    if confirm != name {
        return Err(DaemonError::rejected(format!(
            "to delete org {name:?}, type its name exactly to confirm"
        )));
    }
    let creds = state
        .store
        .credentials(name)
        .await
        .map_err(store_error)?
        .ok_or_else(|| DaemonError::no_org(name))?;
    let mut warnings = Vec::new();
    // In a fleet the org may run on another daemon: its sync is turned off there first,
    // and the deletion waits for its work to stop.
    if let Some(fleet) = state.fleet() {
        state
            .store
            .set_sync_enabled(name, false)
            .await
            .map_err(store_error)?;
        fleet.forward(crate::fleet::Forward::Placement, name);
        let wait = fleet.ttl() + std::time::Duration::from_secs(5);
        if !fleet.wait_released(name, wait).await.map_err(store_error)? {
            warnings.push(format!(
                "the daemon running the org did not stop it within {} s; it stops once it sees the org gone",
                wait.as_secs()
            ));
        }
    }
    let mut token_revoked = false;
    let token = creds.refresh_token.as_ref().or(creds.access_token.as_ref());
    let had_token = token.is_some();
    if let Some(token) = token {
        let oauth = OAuth::new(
            state.orgs_runtime.http(),
            login_url(&creds.org_type),
            ConnectedApp {
                client_id: creds.client_id.clone(),
                client_secret: creds.client_secret.clone(),
                redirect_uri: redirect_uri(state),
            },
        );
        match oauth.revoke(token).await {
            Ok(()) => token_revoked = true,
            Err(e) => warnings.push(format!(
                "the token could not be revoked ({e}); revoke it in Salesforce under Setup → Connected Apps OAuth Usage"
            )),
        }
    }
    state.engine.stop(name).await;
    if let Some(fleet) = state.fleet() {
        fleet.forward(crate::fleet::Forward::Placement, name);
    }
    state.engine.recent().forget(name);
    let schema_dropped = match crate::datasource::deprovision(state, name).await {
        Ok(dropped) => dropped,
        Err(e) => {
            warnings.push(format!(
                "the generated schema could not be dropped ({e}); drop it by hand"
            ));
            false
        }
    };
    state.engine.remove(name).await;
    state.orgs_runtime.forget(name);
    state.store.delete_org(name).await.map_err(store_error)?;
    state.refresh_orgs().await.map_err(store_error)?;
    tracing::info!(org = %name, token_revoked, schema_dropped, "org deleted");
    Ok(datenator_shared::model::DeleteReport {
        name: name.to_owned(),
        had_token,
        token_revoked,
        schema_dropped,
        warnings,
    })
}

pub(crate) fn summary(
    state: &State,
    org: &str,
) -> Result<datenator_shared::model::OrgSummary, DaemonError> {
    state
        .orgs()
        .into_iter()
        .find(|o| o.name == org)
        .ok_or_else(|| DaemonError::no_org(org))
}

/// `org_set_sync`: enabling starts the org's worker (which catches up on everything that
/// changed meanwhile, both ways); disabling stops it and keeps all configuration and cursors.
pub async fn set_sync(
    state: &State,
    org: &str,
    enabled: bool,
) -> Result<datenator_shared::model::OrgSummary, DaemonError> {
    let current = summary(state, org)?;
    if enabled {
        if current.auth != AuthState::Authorized {
            return Err(DaemonError::rejected(format!(
                "org {org} is not authorized: finish (or refresh) its credentials before enabling sync"
            )));
        }
        if !current.schema_generated {
            return Err(DaemonError::rejected(format!(
                "org {org} has no generated schema yet: check the datasource and generate the schema first"
            )));
        }
    }
    state
        .store
        .set_sync_enabled(org, enabled)
        .await
        .map_err(store_error)?;
    state.refresh_orgs().await.map_err(store_error)?;
    match state.fleet() {
        // The fleet places the org (here or on another daemon); a daemon that runs it
        // and no longer should stops it in its next round.
        Some(fleet) => {
            if !enabled {
                state.engine.stop(org).await;
            }
            fleet.forward(crate::fleet::Forward::Placement, org);
        }
        None if enabled => state.engine.start(state, org),
        None => state.engine.stop(org).await,
    }
    summary(state, org)
}

/// `org_settings`: polling interval (10 s to 1 h) and API budget (1 to 100 %), live.
pub async fn settings(
    state: &State,
    req: datenator_shared::protocol::OrgSettings,
) -> Result<datenator_shared::model::OrgSummary, DaemonError> {
    summary(state, &req.name)?;
    if let Some(i) = req.polling_interval_secs
        && !(10..=3600).contains(&i)
    {
        return Err(DaemonError::rejected(
            "the polling interval must be between 10 seconds and 1 hour (3600)",
        ));
    }
    if let Some(b) = req.api_budget_percent
        && !(1..=100).contains(&b)
    {
        return Err(DaemonError::rejected(
            "the API budget is a share of the daily limit between 1 and 100 %",
        ));
    }
    state
        .store
        .set_org_settings(&req.name, req.polling_interval_secs, req.api_budget_percent)
        .await
        .map_err(store_error)?;
    state.refresh_orgs().await.map_err(store_error)?;
    state.engine.wake(&req.name);
    summary(state, &req.name)
}
