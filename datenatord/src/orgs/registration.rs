//! Registering an org and running its authorization flows.
use std::time::Duration;

use chrono::Utc;
use datenator_shared::model::{AuthFlow, AuthState, OrgSummary, OrgType, PendingStep};
use datenator_shared::protocol::{
    CompleteAuthorization, Reauthorize, RegisterOrg, RpcError, codes,
};
use tracing::Instrument;

use super::{not_found, redirect_uri, store_error, summary};
use crate::salesforce::auth::{ConnectedApp, DEFAULT_SCOPE, OAuth, TokenSet, login_url};
use crate::state::State;
use crate::store::NewOrg;

/// How long a device code stays valid (Salesforce: 10 minutes).
const DEVICE_CODE_LIFETIME: Duration = Duration::from_secs(600);

/// Org names: what the user calls the org; also the default schema name's source.
pub fn check_org_name(name: &str) -> Result<(), RpcError> {
    let ok = !name.is_empty()
        && name.chars().count() <= 40
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(RpcError::new(
            codes::REJECTED,
            format!(
                "{name:?} is not a usable org name: use 1 to 40 letters, digits, '-', '_' or '.'"
            ),
        ))
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
pub async fn register(state: &State, req: RegisterOrg) -> Result<OrgSummary, RpcError> {
    check_org_name(&req.name)?;
    if let OrgType::Custom(d) = &req.org_type
        && d.trim().is_empty()
    {
        return Err(RpcError::new(
            codes::REJECTED,
            "a custom org type needs its My Domain (e.g. acme or acme.my.salesforce.com)",
        ));
    }
    if state
        .store
        .org_exists(&req.name)
        .await
        .map_err(store_error)?
    {
        return Err(RpcError::new(
            codes::REJECTED,
            format!(
                "an org named {:?} already exists: pick another name, or use Refresh org credentials on it",
                req.name
            ),
        ));
    }
    let config = state.salesforce();
    let client_id = req.client_id.clone().filter(|c| !c.is_empty()).or(config.client_id.clone()).ok_or_else(|| {
        RpcError::new(
            codes::REJECTED,
            "no connected app: give its client id here, or set client_id in the [salesforce] section of the daemon's config",
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
pub async fn reauthorize(state: &State, req: Reauthorize) -> Result<OrgSummary, RpcError> {
    if !state
        .store
        .org_exists(&req.name)
        .await
        .map_err(store_error)?
    {
        return Err(not_found(&req.name));
    }
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
    start_flow(state, &req.name, &req.flow).await
}

async fn oauth_for(state: &State, org: &str) -> Result<OAuth, RpcError> {
    let creds = state
        .store
        .credentials(org)
        .await
        .map_err(store_error)?
        .ok_or_else(|| not_found(org))?;
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

async fn start_flow(state: &State, org: &str, flow: &AuthFlow) -> Result<OrgSummary, RpcError> {
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
            Err(e) => Err(RpcError::new(codes::REJECTED, e.to_string())),
        },
        AuthFlow::Jwt { username } => {
            let key = super::jwt_key(state);
            match key {
                Ok(key) => match oauth.jwt_bearer(username, &key).await {
                    Ok(tokens) => store_tokens(state, org, &tokens).await,
                    Err(e) => Err(RpcError::new(codes::REJECTED, e.to_string())),
                },
                Err(e) => Err(e),
            }
        }
    };
    if let Err(e) = &result {
        let _ = state
            .store
            .set_auth(
                org,
                &AuthState::Failed {
                    error: e.message.clone(),
                },
            )
            .await;
    }
    state.refresh_orgs().await.map_err(store_error)?;
    result?;
    summary(state, org)
}

async fn start_device(state: &State, org: &str, oauth: OAuth) -> Result<(), RpcError> {
    let auth = oauth
        .device_start(DEFAULT_SCOPE)
        .await
        .map_err(|e| RpcError::new(codes::REJECTED, e.to_string()))?;
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
                Ok(tokens) => store_tokens(&task_state, &name, &tokens).await,
                Err(e) => {
                    tracing::info!("device flow ended without authorization: {e}");
                    task_state
                        .store
                        .set_auth(
                            &name,
                            &AuthState::Failed {
                                error: e.to_string(),
                            },
                        )
                        .await
                        .map_err(store_error)
                }
            };
            if let Err(e) = result {
                tracing::error!("device flow: {e}");
            }
            let _ = task_state.refresh_orgs().await;
        }
        .instrument(span),
    );
    state.orgs_runtime.set_device_task(org, task);
    Ok(())
}

/// `org_complete_authorization`: the web-server flow's second half.
pub async fn complete(state: &State, req: CompleteAuthorization) -> Result<OrgSummary, RpcError> {
    let pending = state.orgs_runtime.pending_browser(&req.name).ok_or_else(|| {
        RpcError::new(
            codes::REJECTED,
            format!("org {:?} is not waiting for a browser authorization: start it with Refresh org credentials", req.name),
        )
    })?;
    let oauth = oauth_for(state, &req.name).await?;
    match oauth
        .complete_authorization(&pending, &req.redirected_url)
        .await
    {
        Ok(tokens) => {
            store_tokens(state, &req.name, &tokens).await?;
            state.orgs_runtime.forget(&req.name);
        }
        Err(e @ crate::salesforce::SalesforceError::Invalid(_)) => {
            // A mistyped paste: the flow is still pending, the user can paste again.
            return Err(RpcError::new(codes::REJECTED, e.to_string()));
        }
        Err(e) => {
            state.orgs_runtime.forget(&req.name);
            let _ = state
                .store
                .set_auth(
                    &req.name,
                    &AuthState::Failed {
                        error: e.to_string(),
                    },
                )
                .await;
            let _ = state.refresh_orgs().await;
            return Err(RpcError::new(codes::REJECTED, e.to_string()));
        }
    }
    state.refresh_orgs().await.map_err(store_error)?;
    summary(state, &req.name)
}

async fn store_tokens(state: &State, org: &str, t: &TokenSet) -> Result<(), RpcError> {
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
    state.orgs_runtime.forget_api(org);
    tracing::info!(org = %org, instance = %t.instance_url, "org authorized");
    Ok(())
}

/// After a restart no flow is running any more: say so instead of showing a stale code.
pub async fn fail_interrupted_flows(state: &State) {
    for org in state.orgs() {
        if matches!(org.auth, AuthState::Pending { .. }) {
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
