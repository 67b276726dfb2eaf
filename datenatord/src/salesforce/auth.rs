//! OAuth 2.0 against a Salesforce login host: the device flow (Salesforce's own parameter
//! names), the web-server flow with PKCE (URL pasted back from the browser), the JWT bearer
//! flow for unattended servers, refresh, revoke.
//!
//! The `oauth2` crate builds the authorize URL, the PKCE pair and the CSRF state. Token
//! requests are plain form posts here because every grant returns Salesforce's own body
//! (`instance_url`, `id`, `issued_at`) and its own error shape, handled in one place.
use std::time::{Duration, Instant};

use datenator_shared::model::OrgType;
use serde::{Deserialize, Serialize};

use super::SalesforceError;
use super::jwt;

/// Scopes asked for by the interactive flows.
pub const DEFAULT_SCOPE: &str = "api refresh_token offline_access";

/// The base URL of an org type's login host.
pub fn login_url(org_type: &OrgType) -> String {
    match org_type {
        OrgType::Production => "https://login.salesforce.com".into(),
        OrgType::Sandbox => "https://test.salesforce.com".into(),
        OrgType::Custom(d) => {
            let d = d.trim().trim_end_matches('/');
            if d.starts_with("https://") || d.starts_with("http://") {
                d.to_owned()
            } else if d.contains('.') {
                format!("https://{d}")
            } else {
                format!("https://{d}.my.salesforce.com")
            }
        }
    }
}

/// The connected app a flow runs for.
#[derive(Clone)]
pub struct ConnectedApp {
    pub client_id: String,
    pub client_secret: Option<String>,
    /// For the web-server flow: one of the app's callback URLs.
    pub redirect_uri: String,
}

impl std::fmt::Debug for ConnectedApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectedApp")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("redirect_uri", &self.redirect_uri)
            .finish()
    }
}

/// What a successful flow or refresh yields.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenSet {
    pub access_token: String,
    #[serde(default)]
    pub refresh_token: Option<String>,
    pub instance_url: String,
    /// The identity URL: `https://login…/id/<orgId18>/<userId18>`.
    pub id: String,
    #[serde(default)]
    pub issued_at: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &"<redacted>")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("instance_url", &self.instance_url)
            .field("id", &self.id)
            .field("issued_at", &self.issued_at)
            .finish()
    }
}

impl TokenSet {
    fn id_part(&self, from_end: usize) -> Option<&str> {
        let mut parts = self.id.trim_end_matches('/').rsplit('/');
        let user = parts.next()?;
        let org = parts.next()?;
        Some(if from_end == 0 { user } else { org })
    }

    /// The org's 18-character id, from the identity URL.
    pub fn org_id(&self) -> Option<&str> {
        self.id_part(1)
    }

    /// The authorizing user's id, from the identity URL.
    pub fn user_id(&self) -> Option<&str> {
        self.id_part(0)
    }
}

/// The device flow's first answer: what the user must do.
#[derive(Clone, Serialize, Deserialize)]
pub struct DeviceAuthorization {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    /// Seconds to wait between polls.
    #[serde(default = "default_interval")]
    pub interval: u64,
}

fn default_interval() -> u64 {
    5
}

impl std::fmt::Debug for DeviceAuthorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceAuthorization")
            .field("device_code", &"<redacted>")
            .field("user_code", &self.user_code)
            .field("verification_uri", &self.verification_uri)
            .field("interval", &self.interval)
            .finish()
    }
}

/// One poll of the device flow.
#[derive(Debug)]
pub enum DevicePoll {
    Pending,
    SlowDown,
    Done(TokenSet),
}

/// The secret half of a web-server flow, kept by the daemon between showing the URL and
/// receiving the pasted redirect.
#[derive(Clone)]
pub struct PendingAuthorization {
    pub authorize_url: String,
    pub state: String,
    pub pkce_verifier: String,
}

impl std::fmt::Debug for PendingAuthorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingAuthorization")
            .field("authorize_url", &self.authorize_url)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct OAuthErrorBody {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// OAuth calls against one login host for one connected app.
#[derive(Debug, Clone)]
pub struct OAuth {
    http: reqwest::Client,
    login_url: String,
    app: ConnectedApp,
}

impl OAuth {
    pub fn new(http: reqwest::Client, login_url: impl Into<String>, app: ConnectedApp) -> OAuth {
        OAuth {
            http,
            login_url: login_url.into().trim_end_matches('/').to_owned(),
            app,
        }
    }

    pub fn login_url(&self) -> &str {
        &self.login_url
    }

    pub fn app(&self) -> &ConnectedApp {
        &self.app
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}/services/oauth2/{path}", self.login_url)
    }

    fn with_client(&self, mut form: Vec<(&'static str, String)>) -> Vec<(&'static str, String)> {
        form.push(("client_id", self.app.client_id.clone()));
        if let Some(secret) = &self.app.client_secret {
            form.push(("client_secret", secret.clone()));
        }
        form
    }

    async fn post_token<T: serde::de::DeserializeOwned>(
        &self,
        form: &[(&'static str, String)],
    ) -> Result<T, SalesforceError> {
        let resp = self
            .http
            .post(self.endpoint("token"))
            .form(form)
            .send()
            .await
            .map_err(|e| {
                SalesforceError::Transient(format!("cannot reach {}: {e}", self.login_url))
            })?;
        let status = resp.status();
        let body = resp.text().await.map_err(|e| {
            SalesforceError::Transient(format!("reading the token answer failed: {e}"))
        })?;
        if status.is_success() {
            return serde_json::from_str(&body)
                .map_err(|e| SalesforceError::Protocol(format!("token answer ({e}): {body}")));
        }
        if status.is_server_error() {
            return Err(SalesforceError::Transient(format!(
                "login host answered {status}"
            )));
        }
        match serde_json::from_str::<OAuthErrorBody>(&body) {
            Ok(e) => Err(SalesforceError::OAuth {
                error: e.error,
                description: e.error_description.unwrap_or_default(),
            }),
            Err(_) => Err(SalesforceError::Protocol(format!(
                "login host answered {status}: {body}"
            ))),
        }
    }

    // ---- device flow -------------------------------------------------------------

    pub async fn device_start(&self, scope: &str) -> Result<DeviceAuthorization, SalesforceError> {
        let form = vec![
            ("response_type", "device_code".to_owned()),
            ("client_id", self.app.client_id.clone()),
            ("scope", scope.to_owned()),
        ];
        self.post_token(&form).await
    }

    pub async fn device_poll(&self, device_code: &str) -> Result<DevicePoll, SalesforceError> {
        let form = self.with_client(vec![
            ("grant_type", "device".to_owned()),
            ("code", device_code.to_owned()),
        ]);
        match self.post_token::<TokenSet>(&form).await {
            Ok(t) => Ok(DevicePoll::Done(t)),
            Err(SalesforceError::OAuth { error, .. }) if error == "authorization_pending" => {
                Ok(DevicePoll::Pending)
            }
            Err(SalesforceError::OAuth { error, .. }) if error == "slow_down" => {
                Ok(DevicePoll::SlowDown)
            }
            Err(e) => Err(e),
        }
    }

    /// Polls until the user approves or denies, honouring `interval` and `slow_down`,
    /// giving up after `timeout`.
    pub async fn device_wait(
        &self,
        auth: &DeviceAuthorization,
        timeout: Duration,
    ) -> Result<TokenSet, SalesforceError> {
        let deadline = Instant::now() + timeout;
        let mut interval = Duration::from_secs(auth.interval.max(1));
        loop {
            tokio::time::sleep(interval).await;
            match self.device_poll(&auth.device_code).await {
                Ok(DevicePoll::Done(t)) => return Ok(t),
                Ok(DevicePoll::Pending) => {}
                Ok(DevicePoll::SlowDown) => interval += Duration::from_secs(5),
                Err(SalesforceError::Transient(e)) => {
                    tracing::warn!("device flow poll failed: {e}")
                }
                Err(e) => return Err(e),
            }
            if Instant::now() + interval > deadline {
                return Err(SalesforceError::OAuth {
                    error: "expired_token".into(),
                    description: "nobody approved the code in time".into(),
                });
            }
        }
    }

    // ---- web-server flow with PKCE ------------------------------------------------

    /// The URL the user opens in a browser, and the secrets to keep until the redirect.
    pub fn authorize(&self, scope: &str) -> Result<PendingAuthorization, SalesforceError> {
        use oauth2::{AuthUrl, ClientId, CsrfToken, PkceCodeChallenge, RedirectUrl, Scope};
        let invalid =
            |e: oauth2::url::ParseError| SalesforceError::Invalid(format!("bad URL: {e}"));
        let client = oauth2::basic::BasicClient::new(ClientId::new(self.app.client_id.clone()))
            .set_auth_uri(AuthUrl::new(self.endpoint("authorize")).map_err(invalid)?)
            .set_redirect_uri(RedirectUrl::new(self.app.redirect_uri.clone()).map_err(invalid)?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = client
            .authorize_url(CsrfToken::new_random)
            .add_scopes(scope.split_whitespace().map(|s| Scope::new(s.to_owned())))
            .set_pkce_challenge(challenge)
            .url();
        Ok(PendingAuthorization {
            authorize_url: url.to_string(),
            state: state.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Finishes the web-server flow from the URL the browser was redirected to.
    pub async fn complete_authorization(
        &self,
        pending: &PendingAuthorization,
        redirected_to: &str,
    ) -> Result<TokenSet, SalesforceError> {
        let url = url::Url::parse(redirected_to.trim()).map_err(|e| {
            SalesforceError::Invalid(format!(
                "that is not a URL ({e}): paste the whole address the browser showed after you clicked Allow"
            ))
        })?;
        let param = |k: &str| {
            url.query_pairs()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.into_owned())
        };
        if let Some(error) = param("error") {
            return Err(SalesforceError::OAuth {
                error,
                description: param("error_description").unwrap_or_default(),
            });
        }
        if param("state").as_deref() != Some(pending.state.as_str()) {
            return Err(SalesforceError::Invalid(
                "the pasted URL belongs to another authorization (its state does not match): open the latest URL and try again".into(),
            ));
        }
        let code = param("code").ok_or_else(|| {
            SalesforceError::Invalid(
                "the pasted URL has no `code`: paste the address after the redirect".into(),
            )
        })?;
        let form = self.with_client(vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code),
            ("redirect_uri", self.app.redirect_uri.clone()),
            ("code_verifier", pending.pkce_verifier.clone()),
        ]);
        self.post_token(&form).await
    }

    // ---- JWT bearer, refresh, revoke ---------------------------------------------

    /// The JWT bearer flow: `username` authorizes as the app's pre-approved user; the key
    /// signs an assertion whose audience is the login host.
    pub async fn jwt_bearer(
        &self,
        username: &str,
        key_pem: &str,
    ) -> Result<TokenSet, SalesforceError> {
        let assertion = jwt::assertion(&self.app.client_id, username, &self.login_url, key_pem)?;
        let form = vec![
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:jwt-bearer".to_owned(),
            ),
            ("assertion", assertion),
        ];
        self.post_token(&form).await
    }

    /// A new access token from a refresh token. Keeps the old refresh token unless the app
    /// rotates them.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenSet, SalesforceError> {
        let form = self.with_client(vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", refresh_token.to_owned()),
        ]);
        let mut t: TokenSet = self.post_token(&form).await?;
        if t.refresh_token.is_none() {
            t.refresh_token = Some(refresh_token.to_owned());
        }
        Ok(t)
    }

    /// Revokes a token (a refresh token takes its access tokens with it).
    pub async fn revoke(&self, token: &str) -> Result<(), SalesforceError> {
        let resp = self
            .http
            .post(self.endpoint("revoke"))
            .form(&[("token", token)])
            .send()
            .await
            .map_err(|e| SalesforceError::Transient(e.to_string()))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            let status = resp.status();
            let body = resp.text().await.unwrap_or_default();
            match serde_json::from_str::<OAuthErrorBody>(&body) {
                Ok(e) => Err(SalesforceError::OAuth {
                    error: e.error,
                    description: e.error_description.unwrap_or_default(),
                }),
                Err(_) => Err(SalesforceError::Protocol(format!(
                    "revoke answered {status}: {body}"
                ))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_hosts() {
        assert_eq!(
            login_url(&OrgType::Production),
            "https://login.salesforce.com"
        );
        assert_eq!(login_url(&OrgType::Sandbox), "https://test.salesforce.com");
        assert_eq!(
            login_url(&OrgType::Custom("acme".into())),
            "https://acme.my.salesforce.com"
        );
        assert_eq!(
            login_url(&OrgType::Custom("acme.my.salesforce.com".into())),
            "https://acme.my.salesforce.com"
        );
        assert_eq!(
            login_url(&OrgType::Custom("http://127.0.0.1:9/".into())),
            "http://127.0.0.1:9"
        );
    }

    #[test]
    fn ids_come_from_the_identity_url_and_secrets_stay_out_of_debug() {
        let t = TokenSet {
            access_token: "00Dxx!secret".into(),
            refresh_token: Some("refresh-secret".into()),
            instance_url: "https://x".into(),
            id: "https://login.salesforce.com/id/00D000000000001AAA/005000000000001AAA".into(),
            issued_at: None,
            scope: None,
        };
        assert_eq!(t.org_id(), Some("00D000000000001AAA"));
        assert_eq!(t.user_id(), Some("005000000000001AAA"));
        let dbg = format!("{t:?}");
        assert!(!dbg.contains("secret"), "{dbg}");
    }

    #[test]
    fn authorize_url_carries_pkce_and_state() {
        let o = OAuth::new(
            reqwest::Client::new(),
            "https://login.salesforce.com",
            ConnectedApp {
                client_id: "cid".into(),
                client_secret: None,
                redirect_uri: "http://localhost:1717/cb".into(),
            },
        );
        let p = o.authorize(DEFAULT_SCOPE).unwrap();
        assert!(
            p.authorize_url
                .starts_with("https://login.salesforce.com/services/oauth2/authorize?")
        );
        for needle in [
            "response_type=code",
            "client_id=cid",
            "code_challenge_method=S256",
            "code_challenge=",
            "state=",
        ] {
            assert!(
                p.authorize_url.contains(needle),
                "{needle} missing in {}",
                p.authorize_url
            );
        }
        assert!(p.authorize_url.contains("refresh_token"));
        assert!(!format!("{p:?}").contains(&p.pkce_verifier));
    }
}
