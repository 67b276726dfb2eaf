//! Registering an org and running its authorization flows.
use std::time::Duration;

use crate::error::DaemonError;
use chrono::Utc;
use datenator_shared::model::{AuthFlow, AuthState, OrgSummary, OrgType, PendingStep};
use datenator_shared::protocol::{CompleteAuthorization, Reauthorize, RegisterOrg};
use tracing::Instrument;

use super::{redirect_uri, summary};
use crate::error::store_error;
use crate::salesforce::auth::{ConnectedApp, DEFAULT_SCOPE, OAuth, TokenSet, login_url};
use crate::state::State;
use crate::store::NewOrg;

/// How long a device code stays valid (Salesforce: 10 minutes).
const DEVICE_CODE_LIFETIME: Duration = Duration::from_secs(600);

/// Org names: what the user calls the org; also the default schema name's source.
pub fn check_org_name(name: &str) -> Result<(), DaemonError> {
    let ok = !name.is_empty()
        && name.chars().count() <= 40
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(DaemonError::rejected(format!(
            "{name:?} is not a usable org name: use 1 to 40 letters, digits, '-', '_' or '.'"
        )))
    }
}

fn flow_name(flow: &AuthFlow) -> &'static str {
    match flow {
        AuthFlow::Device => "device",
        AuthFlow::WebServer => "web_server",
        AuthFlow::Jwt { .. } => "jwt",
    }
}

/// `org_register`: stores the org and starts its flow.
pub async fn register(state: &State, req: RegisterOrg) -> Result<OrgSummary, DaemonError> {
    check_org_name(&req.name)?;
    if let OrgType::Custom(d) = &req.org_type
        && d.trim().is_empty()
    {
        return Err(DaemonError::rejected(
            "a custom org type needs its My Domain (e.g. acme or acme.my.salesforce.com)",
        ));
    }
    if state
        .store
        .org_exists(&req.name)
        .await
        .map_err(store_error)?
    {
        return Err(DaemonError::rejected(format!(
            "an org named {:?} already exists: pick another name, or use Refresh org credentials on it",
            req.name
        )));
    }
    let config = state.salesforce();
    let client_id = req.client_id.clone().filter(|c| !c.is_empty()).or(config.client_id.clone()).ok_or_else(|| {
        DaemonError::rejected("no connected app: give its client id here, or set client_id in the [salesforce] section of the daemon's config",
        )
    })?;
    let client_secret = match &req.client_secret {
        Some(s) if !s.is_empty() => Some(s.expose().to_owned()),
        _ if req.client_id.is_some() => None,
        _ => config.client_secret.clone(),
    };
    let username = match &req.flow {
        AuthFlow::Jwt { username } => Some(username.clone()),
        _ => None,
    };
    state
        .store
        .insert_org(&NewOrg {
            name: req.name.clone(),
            org_type: req.org_type.clone(),
            flow: flow_name(&req.flow).into(),
            client_id,
            client_secret,
            username,
            auth: AuthState::Failed {
                error: "authorization has not started".into(),
            },
        })
        .await
        .map_err(store_error)?;
    tracing::info!(org = %req.name, flow = flow_name(&req.flow), "org registered");
    start_flow(state, &req.name, &req.flow).await
}

/// `org_reauthorize`: runs a flow again for an existing org, keeping its configuration.
/// While the org's stored credentials work, they stay in use (sync goes on) until the new
/// ones arrive; a refresh that is denied, abandoned or fails leaves them in place.
pub async fn reauthorize(state: &State, req: Reauthorize) -> Result<OrgSummary, DaemonError> {
    let current = summary(state, &req.name)?;
    let keeps = match &current.auth {
        AuthState::Authorized => true,
        AuthState::Pending { .. } => state
            .store
            .refresh_keeps_credentials(&req.name)
            .await
            .map_err(store_error)?,
        _ => false,
    };
    // A refresh that failed before is not news once another one starts.
    state.orgs_runtime.clear_refresh_error(&req.name);
    if keeps {
        state
            .store
            .set_refresh_keeps_credentials(&req.name, true)
            .await
            .map_err(store_error)?;
        // The flow and its user are switched when the new tokens are stored.
        state.orgs_runtime.forget_flow(&req.name);
    } else {
        let username = match &req.flow {
            AuthFlow::Jwt { username } => Some(username.as_str()),
            _ => None,
        };
        state
            .store
            .set_flow(
                &req.name,
                flow_name(&req.flow),
                username,
                &AuthState::Failed {
                    error: "authorization has not started".into(),
                },
            )
            .await
            .map_err(store_error)?;
        state.orgs_runtime.forget(&req.name);
    }
    start_flow(state, &req.name, &req.flow).await
}

/// A flow ended without new credentials. An org whose stored credentials worked when the
/// refresh began keeps them, authorized, and the failure is logged (the `log` topic),
/// returned and shown on the org (`refresh_error`, until the next refresh starts or new
/// credentials are stored); any other org is marked failed with `error`.
async fn flow_failed(state: &State, org: &str, error: &str) {
    if state
        .store
        .refresh_keeps_credentials(org)
        .await
        .unwrap_or(false)
    {
        state.orgs_runtime.set_refresh_error(org, error);
        let _ = state.store.set_refresh_keeps_credentials(org, false).await;
        let _ = state.store.set_auth(org, &AuthState::Authorized).await;
        tracing::warn!(
            org = %org,
            "refreshing the org's credentials failed: {error}; the previous credentials are kept and sync goes on; run Refresh org credentials again to replace them"
        );
    } else {
        let _ = state
            .store
            .set_auth(
                org,
                &AuthState::Failed {
                    error: error.to_owned(),
                },
            )
            .await;
    }
}

/// The message of a refresh that failed while the old credentials stay in use.
async fn failure_message(state: &State, org: &str, error: String) -> String {
    if state
        .store
        .refresh_keeps_credentials(org)
        .await
        .unwrap_or(false)
    {
        format!(
            "{error} — refreshing the credentials failed; the previous ones are kept and sync goes on"
        )
    } else {
        error
    }
}

async fn oauth_for(state: &State, org: &str) -> Result<OAuth, DaemonError> {
    let creds = state
        .store
        .credentials(org)
        .await
        .map_err(store_error)?
        .ok_or_else(|| DaemonError::no_org(org))?;
    Ok(OAuth::new(
        state.orgs_runtime.http(),
        login_url(&creds.org_type),
        ConnectedApp {
            client_id: creds.client_id,
            client_secret: creds.client_secret,
            redirect_uri: redirect_uri(state),
        },
    ))
}

async fn start_flow(state: &State, org: &str, flow: &AuthFlow) -> Result<OrgSummary, DaemonError> {
    let oauth = oauth_for(state, org).await?;
    let result = match flow {
        AuthFlow::Device => start_device(state, org, oauth).await,
        AuthFlow::WebServer => match oauth.authorize(DEFAULT_SCOPE) {
            Ok(pending) => {
                let step = PendingStep::Browser {
                    authorize_url: pending.authorize_url.clone(),
                };
                state.orgs_runtime.set_pending_browser(org, pending);
                state
                    .store
                    .set_auth(org, &AuthState::Pending { step })
                    .await
                    .map_err(store_error)
            }
            Err(e) => Err(DaemonError::rejected(e.to_string())),
        },
        AuthFlow::Jwt { username } => {
            let key = super::jwt_key(state);
            match key {
                Ok(key) => match oauth.jwt_bearer(username, &key).await {
                    Ok(tokens) => store_tokens(state, org, &tokens, flow).await,
                    Err(e) => Err(DaemonError::rejected(e.to_string())),
                },
                Err(e) => Err(e),
            }
        }
    };
    let result = match result {
        Ok(()) => Ok(()),
        Err(mut e) => {
            let why = e.message.clone();
            e.message = failure_message(state, org, e.message).await;
            flow_failed(state, org, &why).await;
            Err(e)
        }
    };
    state.refresh_orgs().await.map_err(store_error)?;
    result?;
    summary(state, org)
}

async fn start_device(state: &State, org: &str, oauth: OAuth) -> Result<(), DaemonError> {
    let auth = oauth
        .device_start(DEFAULT_SCOPE)
        .await
        .map_err(|e| DaemonError::rejected(e.to_string()))?;
    let step = PendingStep::Device {
        verification_uri: auth.verification_uri.clone(),
        user_code: auth.user_code.clone(),
        expires_at: Utc::now() + DEVICE_CODE_LIFETIME,
    };
    state
        .store
        .set_auth(org, &AuthState::Pending { step })
        .await
        .map_err(store_error)?;
    let task_state = state.clone();
    let name = org.to_owned();
    let span = tracing::info_span!("device_flow", org = %org);
    let task = tokio::spawn(
        async move {
            let outcome = oauth.device_wait(&auth, DEVICE_CODE_LIFETIME).await;
            let result = match outcome {
                Ok(tokens) => store_tokens(&task_state, &name, &tokens, &AuthFlow::Device).await,
                Err(e) => {
                    tracing::info!("device flow ended without authorization: {e}");
                    Err(DaemonError::rejected(e.to_string()))
                }
            };
            if let Err(e) = result {
                flow_failed(&task_state, &name, &e.message).await;
            }
            let _ = task_state.refresh_orgs().await;
        }
        .instrument(span),
    );
    state.orgs_runtime.set_device_task(org, task);
    Ok(())
}

/// `org_complete_authorization`: the web-server flow's second half.
pub async fn complete(
    state: &State,
    req: CompleteAuthorization,
) -> Result<OrgSummary, DaemonError> {
    let pending = state.orgs_runtime.pending_browser(&req.name).ok_or_else(|| {
        DaemonError::rejected(format!("org {:?} is not waiting for a browser authorization: start it with Refresh org credentials", req.name),
        )
    })?;
    let oauth = oauth_for(state, &req.name).await?;
    match oauth
        .complete_authorization(&pending, &req.redirected_url)
        .await
    {
        Ok(tokens) => {
            let stored = store_tokens(state, &req.name, &tokens, &AuthFlow::WebServer).await;
            state.orgs_runtime.forget_flow(&req.name);
            if let Err(mut e) = stored {
                let why = e.message.clone();
                e.message = failure_message(state, &req.name, e.message).await;
                flow_failed(state, &req.name, &why).await;
                let _ = state.refresh_orgs().await;
                return Err(e);
            }
        }
        Err(e @ crate::salesforce::SalesforceError::Invalid(_)) => {
            // A mistyped paste: the flow is still pending, the user can paste again.
            return Err(DaemonError::rejected(e.to_string()));
        }
        Err(e) => {
            state.orgs_runtime.forget_flow(&req.name);
            let why = e.to_string();
            let message = failure_message(state, &req.name, why.clone()).await;
            flow_failed(state, &req.name, &why).await;
            let _ = state.refresh_orgs().await;
            return Err(DaemonError::rejected(message));
        }
    }
    state.refresh_orgs().await.map_err(store_error)?;
    summary(state, &req.name)
}

/// Stores a finished flow's tokens — unless they are for a Salesforce org that another
/// registration already holds, or (a refresh) for another Salesforce org than this one's:
/// then the tokens are revoked and the flow fails with a message naming the org.
async fn store_tokens(
    state: &State,
    org: &str,
    t: &TokenSet,
    flow: &AuthFlow,
) -> Result<(), DaemonError> {
    if let Some(org_id) = t.org_id() {
        let refused = if let Some(other) = state
            .store
            .org_with_id(org_id, org)
            .await
            .map_err(store_error)?
        {
            Some(format!(
                "this Salesforce org ({org_id}) is already registered as {other:?}: use {other:?}, or delete it first to register the org under another name"
            ))
        } else {
            match state.store.org_id(org).await.map_err(store_error)? {
                Some(own) if own != org_id => Some(format!(
                    "the login was for another Salesforce org ({org_id}) than {org:?} is registered for ({own}): log in to that org, or register the other one under a name of its own"
                )),
                _ => None,
            }
        };
        if let Some(message) = refused {
            tracing::warn!(org = %org, "authorization refused: {message}");
            if let Ok(oauth) = oauth_for(state, org).await {
                let token = t.refresh_token.as_deref().unwrap_or(&t.access_token);
                let _ = oauth.revoke(token).await;
            }
            return Err(DaemonError::rejected(message));
        }
    }
    let username = match flow {
        AuthFlow::Jwt { username } => Some(username.as_str()),
        _ => None,
    };
    state
        .store
        .set_authorized(
            org,
            t.org_id(),
            t.user_id(),
            &t.instance_url,
            &t.access_token,
            t.refresh_token.as_deref(),
            t.issued_at.as_deref(),
        )
        .await
        .map_err(store_error)?;
    state
        .store
        .set_flow(org, flow_name(flow), username, &AuthState::Authorized)
        .await
        .map_err(store_error)?;
    state
        .store
        .set_refresh_keeps_credentials(org, false)
        .await
        .map_err(store_error)?;
    state.orgs_runtime.forget_api(org);
    if let Some(fleet) = state.fleet() {
        // The daemon that runs the org drops its handle on the old credentials.
        fleet.forward(crate::fleet::Forward::Credentials, org);
    }
    state.orgs_runtime.clear_refresh_error(org);
    tracing::info!(org = %org, instance = %t.instance_url, "org authorized");
    Ok(())
}

/// After a restart no flow is running any more: say so instead of showing a stale code.
pub async fn fail_interrupted_flows(state: &State) {
    for org in state.orgs() {
        if matches!(org.auth, AuthState::Pending { .. }) {
            if state
                .store
                .refresh_keeps_credentials(&org.name)
                .await
                .unwrap_or(false)
            {
                flow_failed(state, &org.name, "the daemon restarted during the refresh").await;
                continue;
            }
            let _ = state
                .store
                .set_auth(
                    &org.name,
                    &AuthState::Failed { error: "the daemon restarted during authorization: run Refresh org credentials again".into() },
                )
                .await;
        }
    }
    let _ = state.refresh_orgs().await;
}
