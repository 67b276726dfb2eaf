//! The request path every Salesforce call goes through: bearer auth, one refresh on
//! `INVALID_SESSION_ID`, retries with exponential backoff and full jitter for transient
//! failures, `Sforce-Call-Options` on writes, and API usage from `Sforce-Limit-Info`.
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rand::Rng;
use reqwest::{Method, StatusCode, header::HeaderMap};
use tokio::sync::{Mutex, RwLock};

use super::auth::{OAuth, TokenSet};
use super::error::{ApiError, SalesforceError};
use super::limits::{UsageTracker, parse_limit_info};

/// The API version the client speaks.
pub const API_VERSION: &str = "59.0";

/// Marks our writes so change events can tell them apart (`changeOrigin`).
pub const CALL_OPTIONS: &str = "client=datenator";

/// How many new sessions one call may ask for when Salesforce keeps refusing them.
const MAX_REFRESHES_PER_CALL: u32 = 3;

/// How hard to retry transient failures.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 6,
            base: Duration::from_millis(250),
            cap: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// Full jitter: a random wait between zero and the exponential bound.
    fn delay(&self, attempt: u32) -> Duration {
        let bound = self
            .base
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.cap);
        let ms = bound.as_millis() as u64;
        Duration::from_millis(if ms == 0 {
            0
        } else {
            rand::rng().random_range(0..=ms)
        })
    }
}

/// Whether a request may be sent twice without harm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Reads, updates, deletes: sending again yields the same state.
    Safe,
    /// Creates: a second send could create a second record, so an answer lost after
    /// sending becomes [`SalesforceError::OutcomeUnknown`] instead of a retry.
    Unsafe,
}

/// How the client gets a new access token when the current one expires.
#[derive(Clone)]
pub enum Credentials {
    RefreshToken {
        oauth: OAuth,
        refresh_token: String,
    },
    Jwt {
        oauth: OAuth,
        username: String,
        key_pem: String,
    },
    /// Only the access token: an expired session needs a new authorization.
    AccessTokenOnly,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credentials::RefreshToken { .. } => "Credentials::RefreshToken(<redacted>)",
            Credentials::Jwt { .. } => "Credentials::Jwt(<redacted>)",
            Credentials::AccessTokenOnly => "Credentials::AccessTokenOnly",
        })
    }
}

/// Called with every new token set, so the daemon can store it.
pub type TokenListener = Arc<dyn Fn(&TokenSet) + Send + Sync>;

#[derive(Clone)]
struct Session {
    instance_url: String,
    access_token: String,
}

/// A request body.
#[derive(Debug, Clone)]
pub enum Body {
    None,
    Json(serde_json::Value),
    Csv(String),
}

/// A successful answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, SalesforceError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            SalesforceError::Protocol(format!(
                "{e}: {}",
                String::from_utf8_lossy(&self.body[..self.body.len().min(500)])
            ))
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

struct Inner {
    http: reqwest::Client,
    session: RwLock<Session>,
    credentials: Credentials,
    usage: Arc<UsageTracker>,
    retry: RetryPolicy,
    on_token: Option<TokenListener>,
    refresh_lock: Mutex<()>,
    /// The newest `Date` an answer carried: Salesforce's clock, which its stamps follow.
    /// The newest `Date` header seen, and when it arrived.
    server_time: std::sync::Mutex<Option<(chrono::DateTime<chrono::Utc>, std::time::Instant)>>,
}

/// A connection to one org's REST and Bulk APIs. Cheap to clone.
#[derive(Clone)]
pub struct Api {
    inner: Arc<Inner>,
    /// Asked before every request this handle sends (see [`Api::gated`]).
    gate: Option<Gate>,
}

/// Whether a request may go out now (a fleet: the daemon still holds the org's lease).
pub type Gate = Arc<dyn Fn() -> bool + Send + Sync>;

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("credentials", &self.inner.credentials)
            .finish_non_exhaustive()
    }
}

/// Builds an [`Api`].
pub struct ApiBuilder {
    http: Option<reqwest::Client>,
    instance_url: String,
    access_token: String,
    credentials: Credentials,
    retry: RetryPolicy,
    on_token: Option<TokenListener>,
    usage: Option<Arc<UsageTracker>>,
}

impl ApiBuilder {
    pub fn http(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }
    pub fn credentials(mut self, c: Credentials) -> Self {
        self.credentials = c;
        self
    }
    pub fn retry(mut self, r: RetryPolicy) -> Self {
        self.retry = r;
        self
    }
    pub fn on_token(mut self, f: TokenListener) -> Self {
        self.on_token = Some(f);
        self
    }
    pub fn usage(mut self, u: Arc<UsageTracker>) -> Self {
        self.usage = Some(u);
        self
    }
    pub fn build(self) -> Api {
        Api {
            inner: Arc::new(Inner {
                http: self.http.unwrap_or_else(default_http),
                session: RwLock::new(Session {
                    instance_url: self.instance_url.trim_end_matches('/').to_owned(),
                    access_token: self.access_token,
                }),
                credentials: self.credentials,
                usage: self.usage.unwrap_or_default(),
                retry: self.retry,
                on_token: self.on_token,
                refresh_lock: Mutex::new(()),
                server_time: std::sync::Mutex::new(None),
            }),
            gate: None,
        }
    }
}

/// The HTTP client settings used for Salesforce: bounded connect and request times.
pub fn default_http() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(120))
        .user_agent(concat!("datenator/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

impl Api {
    pub fn builder(instance_url: impl Into<String>, access_token: impl Into<String>) -> ApiBuilder {
        ApiBuilder {
            http: None,
            instance_url: instance_url.into(),
            access_token: access_token.into(),
            credentials: Credentials::AccessTokenOnly,
            retry: RetryPolicy::default(),
            on_token: None,
            usage: None,
        }
    }

    pub fn usage(&self) -> &Arc<UsageTracker> {
        &self.inner.usage
    }

    /// This handle, asking `gate` before each request it sends, retries included: once the
    /// gate says no, nothing more goes out ([`SalesforceError::LeaseLost`]).
    pub fn gated(&self, gate: Gate) -> Api {
        Api {
            inner: self.inner.clone(),
            gate: Some(gate),
        }
    }

    /// Salesforce's time now, in whole seconds, as far as it is known: the newest answer's
    /// `Date` header plus the time passed since it arrived (measured by the monotonic
    /// clock); `None` before the first answer. Never the local wall clock: Salesforce's
    /// stamps follow Salesforce's. (The header is cut to the second, so this is at most a
    /// second behind, never ahead.)
    pub fn server_time(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let (date, at) = (*self
            .inner
            .server_time
            .lock()
            .unwrap_or_else(|e| e.into_inner()))?;
        let passed = chrono::Duration::seconds(at.elapsed().as_secs() as i64);
        Some(date + passed)
    }

    fn saw_date(&self, headers: &reqwest::header::HeaderMap) {
        let Some(date) = headers
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
            .map(|d| d.to_utc())
        else {
            return;
        };
        let mut t = self
            .inner
            .server_time
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if t.is_none_or(|(old, _)| date >= old) {
            *t = Some((date, std::time::Instant::now()));
        }
    }

    pub async fn instance_url(&self) -> String {
        self.inner.session.read().await.instance_url.clone()
    }

    /// `/services/data/vXX.X` + `rest`.
    pub fn data_path(rest: &str) -> String {
        format!("/services/data/v{API_VERSION}{rest}")
    }

    /// Sends a request, retrying and refreshing as needed. `target` is a path on the
    /// instance (`/services/data/...`) or an absolute URL.
    pub async fn send(
        &self,
        method: Method,
        target: &str,
        body: Body,
        headers: &[(&str, String)],
        replay: Replay,
    ) -> Result<Answer, SalesforceError> {
        self.send_counted(method, target, body, headers, replay, true)
            .await
    }

    /// [`Api::send`] for requests that are not API requests in Salesforce's count (the
    /// Streaming API's long polls): the same retries and session refreshes, no call counted.
    pub async fn send_uncounted(
        &self,
        method: Method,
        target: &str,
        body: Body,
        replay: Replay,
    ) -> Result<Answer, SalesforceError> {
        self.send_counted(method, target, body, &[], replay, false)
            .await
    }

    async fn send_counted(
        &self,
        method: Method,
        target: &str,
        body: Body,
        headers: &[(&str, String)],
        replay: Replay,
        counted: bool,
    ) -> Result<Answer, SalesforceError> {
        let mut attempt = 0u32;
        let mut refreshes = 0u32;
        loop {
            if self.gate.as_ref().is_some_and(|may| !may()) {
                return Err(SalesforceError::LeaseLost);
            }
            let session = self.inner.session.read().await.clone();
            let url = if target.starts_with("http://") || target.starts_with("https://") {
                target.to_owned()
            } else {
                format!("{}{}", session.instance_url, target)
            };
            let mut rb = self
                .inner
                .http
                .request(method.clone(), &url)
                .bearer_auth(&session.access_token);
            if method != Method::GET {
                rb = rb.header("Sforce-Call-Options", CALL_OPTIONS);
            }
            for (k, v) in headers {
                rb = rb.header(*k, v);
            }
            rb = match &body {
                Body::None => rb,
                Body::Json(v) => rb.json(v),
                Body::Csv(s) => rb.header("Content-Type", "text/csv").body(s.clone()),
            };
            if counted {
                self.inner.usage.count_call();
            }
            let failure = match rb.send().await {
                Err(e) => {
                    // A connect error means nothing was sent; anything later may have been.
                    if replay == Replay::Unsafe && !e.is_connect() {
                        return Err(SalesforceError::OutcomeUnknown(format!(
                            "{method} {target}: {e}"
                        )));
                    }
                    format!("{method} {target}: {e}")
                }
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    self.saw_date(&headers);
                    if let Some(u) = headers
                        .get("Sforce-Limit-Info")
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_limit_info)
                    {
                        self.inner.usage.record(u);
                    }
                    let body_bytes = match resp.bytes().await {
                        Ok(b) => b,
                        Err(e) if replay == Replay::Unsafe => {
                            return Err(SalesforceError::OutcomeUnknown(format!(
                                "{method} {target}: {e}"
                            )));
                        }
                        Err(e) => {
                            self.backoff(
                                &mut attempt,
                                format!("{method} {target}: reading the answer: {e}"),
                            )
                            .await?;
                            continue;
                        }
                    };
                    if status.is_success()
                        || status == StatusCode::NOT_MODIFIED
                        || status.is_redirection()
                    {
                        return Ok(Answer {
                            status,
                            headers,
                            body: body_bytes,
                        });
                    }
                    let errors = parse_errors(&body_bytes);
                    let code = errors.first().map(|e| e.error_code.as_str()).unwrap_or("");
                    match (status.as_u16(), code) {
                        (401, _) => {
                            // The refresh itself proves the credentials (a refused refresh
                            // is what needs re-authorization); a new session refused again
                            // means sessions are being ended around us, which passes.
                            if refreshes >= MAX_REFRESHES_PER_CALL {
                                return Err(SalesforceError::Transient(format!(
                                    "{method} {target}: Salesforce refused {refreshes} freshly issued sessions in a row (an administrator ending sessions?); retrying later"
                                )));
                            }
                            refreshes += 1;
                            self.refresh(&session.access_token).await?;
                            continue;
                        }
                        // Too many long-running requests at once (ConcurrentPerOrgLongTxn):
                        // the request was not processed, and is sent again after a wait.
                        (403, "REQUEST_LIMIT_EXCEEDED")
                            if errors
                                .first()
                                .is_some_and(|e| e.message.starts_with("Concurrent")) =>
                        {
                            format!("{method} {target}: {status} {code} (concurrent requests)")
                        }
                        (403, "REQUEST_LIMIT_EXCEEDED") => {
                            return Err(SalesforceError::LimitExceeded(
                                errors
                                    .first()
                                    .map(|e| e.message.clone())
                                    .unwrap_or_default(),
                            ));
                        }
                        (503, _) | (_, "SERVER_UNAVAILABLE") | (_, "UNABLE_TO_LOCK_ROW") => {
                            format!("{method} {target}: {status} {code}")
                        }
                        (500..=599, _) if replay == Replay::Safe => {
                            format!("{method} {target}: {status} {code}")
                        }
                        (500..=599, _) => {
                            return Err(SalesforceError::OutcomeUnknown(format!(
                                "{method} {target}: {status} {code}"
                            )));
                        }
                        _ => {
                            return Err(SalesforceError::Api {
                                status: status.as_u16(),
                                errors,
                            });
                        }
                    }
                }
            };
            self.backoff(&mut attempt, failure).await?;
        }
    }

    async fn backoff(&self, attempt: &mut u32, failure: String) -> Result<(), SalesforceError> {
        *attempt += 1;
        if *attempt >= self.inner.retry.attempts {
            return Err(SalesforceError::Transient(failure));
        }
        tracing::debug!(attempt = *attempt, "transient failure, retrying: {failure}");
        tokio::time::sleep(self.inner.retry.delay(*attempt - 1)).await;
        Ok(())
    }

    /// Gets a new access token, unless another task already replaced `stale`.
    pub async fn refresh(&self, stale: &str) -> Result<(), SalesforceError> {
        let _guard = self.inner.refresh_lock.lock().await;
        if self.inner.session.read().await.access_token != stale {
            return Ok(());
        }
        let result = match &self.inner.credentials {
            Credentials::RefreshToken {
                oauth,
                refresh_token,
            } => oauth.refresh(refresh_token).await,
            Credentials::Jwt {
                oauth,
                username,
                key_pem,
            } => oauth.jwt_bearer(username, key_pem).await,
            Credentials::AccessTokenOnly => {
                return Err(SalesforceError::ReauthorizationNeeded(
                    "the session expired".into(),
                ));
            }
        };
        let tokens = match result {
            Ok(t) => t,
            Err(SalesforceError::OAuth { error, description }) => {
                return Err(SalesforceError::ReauthorizationNeeded(format!(
                    "{error}: {description}"
                )));
            }
            Err(e) => return Err(e),
        };
        tracing::info!("access token refreshed");
        {
            let mut s = self.inner.session.write().await;
            s.access_token = tokens.access_token.clone();
            if !tokens.instance_url.is_empty() {
                s.instance_url = tokens.instance_url.trim_end_matches('/').to_owned();
            }
        }
        if let Some(f) = &self.inner.on_token {
            f(&tokens);
        }
        Ok(())
    }
}

/// Reads a REST error body leniently: an array of errors, one error object, or text.
fn parse_errors(body: &[u8]) -> Vec<ApiError> {
    if let Ok(v) = serde_json::from_slice::<Vec<ApiError>>(body) {
        return v;
    }
    if let Ok(v) = serde_json::from_slice::<ApiError>(body) {
        return vec![v];
    }
    vec![ApiError {
        error_code: String::new(),
        message: String::from_utf8_lossy(&body[..body.len().min(500)]).into_owned(),
        fields: vec![],
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_bounded_and_jittered() {
        let p = RetryPolicy {
            attempts: 5,
            base: Duration::from_millis(100),
            cap: Duration::from_millis(300),
        };
        for attempt in 0..20 {
            assert!(p.delay(attempt) <= Duration::from_millis(300));
        }
    }

    #[test]
    fn error_bodies_parse_in_all_shapes() {
        let a = parse_errors(br#"[{"message":"m","errorCode":"INVALID_FIELD","fields":["X"]}]"#);
        assert_eq!(a[0].error_code, "INVALID_FIELD");
        let b = parse_errors(br#"{"message":"m","errorCode":"NOT_FOUND"}"#);
        assert_eq!(b[0].error_code, "NOT_FOUND");
        let c = parse_errors(b"<html>oops</html>");
        assert!(c[0].message.contains("oops"));
    }
}
