//! OAuth 2.0 as a Salesforce login host serves it: authorize page (web-server flow with
//! PKCE), token endpoint (authorization_code, refresh_token, device, JWT bearer), revoke,
//! userinfo, and the device verification page.

use crate::resp::Resp;
use crate::sim::Sim;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A connected app: who may ask for tokens, and where codes may be sent.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ConnectedApp {
    pub name: String,
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub require_secret: bool,
    #[serde(default)]
    pub jwt_cert_pem: Option<String>,
    #[serde(default)]
    pub rotate_refresh_tokens: bool,
}

#[derive(Clone, Debug)]
pub struct Session {
    pub user_id: String,
    pub client_id: String,
    pub scope: String,
    pub expires: Instant,
    pub refresh: Option<String>,
}

#[derive(Clone, Debug)]
struct Grant {
    user_id: String,
    client_id: String,
    scope: String,
}

#[derive(Clone, Debug)]
struct Code {
    client_id: String,
    redirect_uri: String,
    user_id: String,
    scope: String,
    challenge: Option<(String, String)>,
    created: Instant,
}

#[derive(Clone, Debug, PartialEq)]
enum DeviceState {
    Pending,
    Approved(String),
    Denied,
}

#[derive(Clone, Debug)]
struct Device {
    client_id: String,
    scope: String,
    user_code: String,
    state: DeviceState,
    last_poll: Option<Instant>,
    created: Instant,
}

pub struct AuthState {
    pub apps: Vec<ConnectedApp>,
    sessions: HashMap<String, Session>,
    grants: HashMap<String, Grant>,
    codes: HashMap<String, Code>,
    devices: HashMap<String, Device>,
    pub token_lifetime: Duration,
    pub device_interval: Duration,
    rng: StdRng,
}

const TOKEN_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

impl AuthState {
    pub fn new(apps: Vec<ConnectedApp>, token_lifetime: Duration, seed: u64) -> AuthState {
        AuthState {
            apps,
            sessions: HashMap::new(),
            grants: HashMap::new(),
            codes: HashMap::new(),
            devices: HashMap::new(),
            token_lifetime,
            device_interval: Duration::from_secs(5),
            rng: StdRng::seed_from_u64(seed ^ 0x5f5f_0a07),
        }
    }

    fn random(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| TOKEN_CHARS[self.rng.random_range(0..TOKEN_CHARS.len())] as char)
            .collect()
    }

    /// Creates an access token (and a refresh token when the scope asks for one or when
    /// `refresh` is given); returns `(access, refresh)`.
    pub fn mint_session(
        &mut self,
        org_id: &str,
        user_id: &str,
        client_id: &str,
        scope: &str,
        refresh: Option<String>,
    ) -> (String, Option<String>) {
        let access = format!(
            "{}!AQ{}.{}",
            &org_id[..15.min(org_id.len())],
            self.random(42),
            self.random(54)
        );
        let wants_refresh = scope
            .split_whitespace()
            .any(|s| s == "refresh_token" || s == "offline_access");
        let refresh = match refresh {
            Some(r) => Some(r),
            None if wants_refresh => {
                let r = format!("5Aep861{}", self.random(80));
                self.grants.insert(
                    r.clone(),
                    Grant {
                        user_id: user_id.into(),
                        client_id: client_id.into(),
                        scope: scope.into(),
                    },
                );
                Some(r)
            }
            None => None,
        };
        self.sessions.insert(
            access.clone(),
            Session {
                user_id: user_id.into(),
                client_id: client_id.into(),
                scope: scope.into(),
                expires: Instant::now() + self.token_lifetime,
                refresh: refresh.clone(),
            },
        );
        (access, refresh)
    }

    /// The user behind a valid, unexpired access token.
    pub fn check(&self, token: &str) -> Option<Session> {
        self.sessions
            .get(token)
            .filter(|s| s.expires > Instant::now())
            .cloned()
    }

    pub fn expire(&mut self, token: &str) {
        if let Some(s) = self.sessions.get_mut(token) {
            s.expires = Instant::now() - Duration::from_millis(1);
        }
    }

    pub fn expire_all(&mut self) {
        let past = Instant::now() - Duration::from_millis(1);
        for s in self.sessions.values_mut() {
            s.expires = past;
        }
    }

    /// Revokes every refresh token and session, as an admin blocking the app would.
    pub fn revoke_all(&mut self) {
        self.grants.clear();
        self.sessions.clear();
    }

    fn app(&self, client_id: &str) -> Option<&ConnectedApp> {
        self.apps.iter().find(|a| a.client_id == client_id)
    }

    /// Adds a connected app, replacing one with the same client id.
    pub fn add_app(&mut self, app: ConnectedApp) {
        self.apps.retain(|a| a.client_id != app.client_id);
        self.apps.push(app);
    }

    pub fn decide_device(&mut self, user_code: &str, user_id: &str, approve: bool) -> bool {
        let Some(d) = self.devices.values_mut().find(|d| {
            d.user_code.eq_ignore_ascii_case(user_code) && d.state == DeviceState::Pending
        }) else {
            return false;
        };
        d.state = if approve {
            DeviceState::Approved(user_id.into())
        } else {
            DeviceState::Denied
        };
        true
    }
}

fn oauth_error(status: u16, error: &str, description: &str) -> Resp {
    Resp::json(
        status,
        json!({"error": error, "error_description": description}),
    )
}

fn html(status: u16, body: String) -> Resp {
    Resp::text(
        status,
        format!(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>sfsim login</title></head><body>{body}</body></html>"
        ),
        "text/html;charset=UTF-8",
    )
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn redirect(to: String) -> Resp {
    Resp::empty(302).header("location", to)
}

fn with_params(base: &str, params: &[(&str, &str)]) -> String {
    let mut u = url::Url::parse(base)
        .unwrap_or_else(|_| url::Url::parse("http://invalid.invalid/").expect("static url"));
    {
        let mut q = u.query_pairs_mut();
        for (k, v) in params {
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
    }
    u.to_string()
}

pub(crate) fn form(body: &[u8], query: Option<&str>) -> HashMap<String, String> {
    let mut m: HashMap<String, String> =
        url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    m.extend(url::form_urlencoded::parse(body).into_owned());
    m
}

/// Handles `/services/oauth2/{rest}` and `/setup/connect`.
pub(crate) fn handle(
    sim: &Sim,
    method: &str,
    path: &str,
    query: Option<&str>,
    bearer: Option<&str>,
    basic: Option<&str>,
    body: &[u8],
) -> Resp {
    let mut p = form(body, query);
    // Client authentication may also come as HTTP Basic (client_id:client_secret).
    if let Some(pair) = basic
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        && let Some((id, secret)) = pair.split_once(':')
    {
        let dec = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        p.entry("client_id".into()).or_insert_with(|| dec(id));
        p.entry("client_secret".into())
            .or_insert_with(|| dec(secret));
    }
    let get = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
    match (method, path.trim_end_matches('/')) {
        ("GET", "/services/oauth2/authorize") => authorize_page(sim, &p),
        ("POST", "/services/oauth2/authorize") => authorize_submit(sim, &p),
        ("POST", "/services/oauth2/token") => {
            if get("response_type") == "device_code" {
                return device_start(sim, &p);
            }
            token(sim, &p)
        }
        ("POST" | "GET", "/services/oauth2/revoke") => revoke(sim, get("token")),
        ("GET" | "POST", "/services/oauth2/userinfo") => userinfo(sim, bearer.unwrap_or("")),
        ("GET", "/setup/connect") => device_page(get("user_code"), ""),
        ("POST", "/setup/connect") => device_submit(sim, &p),
        _ => Resp::not_found(),
    }
}

fn authorize_page(sim: &Sim, p: &HashMap<String, String>) -> Resp {
    let get = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
    let auth = sim.auth();
    let Some(app) = auth.app(get("client_id")) else {
        return html(
            400,
            "<h1>error=invalid_client_id</h1><p>client identifier invalid</p>".into(),
        );
    };
    if !app.redirect_uris.iter().any(|u| u == get("redirect_uri")) {
        return html(
            400,
            "<h1>error=redirect_uri_mismatch</h1><p>redirect_uri must match configuration</p>"
                .into(),
        );
    }
    if get("response_type") != "code" {
        let to = with_params(
            get("redirect_uri"),
            &[
                ("error", "unsupported_response_type"),
                ("error_description", "response type not supported"),
                ("state", get("state")),
            ],
        );
        return redirect(to);
    }
    let hidden: String = [
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
    ]
    .iter()
    .map(|k| {
        format!(
            "<input type=\"hidden\" name=\"{k}\" value=\"{}\">",
            esc(get(k))
        )
    })
    .collect();
    html(
        200,
        format!(
            "<h1>Log in to sfsim</h1><p>{} is asking for access ({}).</p>\
             <form method=\"post\" action=\"/services/oauth2/authorize\">{hidden}\
             <label>Username <input name=\"username\" value=\"admin@sfsim.example\"></label>\
             <label>Password <input type=\"password\" name=\"password\" value=\"sfsim\"></label>\
             <button type=\"submit\" name=\"action\" value=\"allow\">Allow</button>\
             <button type=\"submit\" name=\"action\" value=\"deny\">Deny</button></form>",
            esc(&app.name),
            esc(get("scope"))
        ),
    )
}

fn authorize_submit(sim: &Sim, p: &HashMap<String, String>) -> Resp {
    let get = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
    {
        let auth = sim.auth();
        let Some(app) = auth.app(get("client_id")) else {
            return html(
                400,
                "<h1>error=invalid_client_id</h1><p>client identifier invalid</p>".into(),
            );
        };
        if !app.redirect_uris.iter().any(|u| u == get("redirect_uri")) {
            return html(
                400,
                "<h1>error=redirect_uri_mismatch</h1><p>redirect_uri must match configuration</p>"
                    .into(),
            );
        }
    }
    let redirect_uri = get("redirect_uri");
    if get("action") != "allow" {
        return redirect(with_params(
            redirect_uri,
            &[
                ("error", "access_denied"),
                ("error_description", "end-user denied authorization"),
                ("state", get("state")),
            ],
        ));
    }
    let Some(user_id) = sim.org().user_id_by_username(get("username")) else {
        return html(
            200,
            "<h1>Please check your username and password.</h1>".into(),
        );
    };
    // Salesforce hashes the verifier with SHA-256 whether or not the method is named.
    let challenge = (!get("code_challenge").is_empty()).then(|| {
        let m = if get("code_challenge_method").is_empty() {
            "S256"
        } else {
            get("code_challenge_method")
        };
        (get("code_challenge").to_string(), m.to_string())
    });
    let mut auth = sim.auth();
    let code = format!("aPrx{}", auth.random(60));
    let scope = if get("scope").is_empty() {
        "api refresh_token".to_string()
    } else {
        get("scope").to_string()
    };
    auth.codes.insert(
        code.clone(),
        Code {
            client_id: get("client_id").into(),
            redirect_uri: redirect_uri.into(),
            user_id,
            scope,
            challenge,
            created: Instant::now(),
        },
    );
    redirect(with_params(
        redirect_uri,
        &[("code", &code), ("state", get("state"))],
    ))
}

fn check_client(
    auth: &AuthState,
    p: &HashMap<String, String>,
    pkce: bool,
) -> Result<ConnectedApp, Resp> {
    let get = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
    let Some(app) = auth.app(get("client_id")) else {
        return Err(oauth_error(
            400,
            "invalid_client_id",
            "client identifier invalid",
        ));
    };
    let secret = get("client_secret");
    if (!secret.is_empty() && secret != app.client_secret)
        || (secret.is_empty() && app.require_secret && !pkce)
    {
        return Err(oauth_error(
            400,
            "invalid_client",
            "invalid client credentials",
        ));
    }
    Ok(app.clone())
}

/// The normal token response body.
fn token_body(
    sim: &Sim,
    app: &ConnectedApp,
    user_id: &str,
    scope: &str,
    refresh: Option<String>,
    with_refresh: bool,
) -> Resp {
    let (org_id, active) = {
        let org = sim.org();
        let active = org
            .find(user_id)
            .map(|(t, r)| {
                r.deleted.is_none()
                    && r.get(t.slot("IsActive")) != &crate::value::Value::Bool(false)
            })
            .unwrap_or(false);
        (org.org_id.clone(), active)
    };
    if !active {
        return oauth_error(400, "inactive_user", "user is inactive");
    }
    let (access, refresh) = sim.auth().mint_session(
        &org_id,
        user_id,
        &app.client_id,
        if with_refresh { scope } else { "api" },
        refresh,
    );
    let base = sim.base_url();
    let id = format!("{base}/id/{org_id}/{user_id}");
    let issued_at = chrono::Utc::now().timestamp_millis().to_string();
    let mut mac = Hmac::<Sha256>::new_from_slice(app.client_secret.as_bytes()).expect("hmac key");
    mac.update(id.as_bytes());
    mac.update(issued_at.as_bytes());
    let signature = STANDARD.encode(mac.finalize().into_bytes());
    let mut body = json!({
        "access_token": access,
        "signature": signature,
        "scope": scope,
        "instance_url": base,
        "id": id,
        "token_type": "Bearer",
        "issued_at": issued_at,
    });
    if with_refresh && let Some(r) = refresh {
        body["refresh_token"] = json!(r);
    }
    Resp::ok(body)
}

fn token(sim: &Sim, p: &HashMap<String, String>) -> Resp {
    let get = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
    match get("grant_type") {
        "authorization_code" => {
            let app = match check_client(&sim.auth(), p, !get("code_verifier").is_empty()) {
                Ok(a) => a,
                Err(e) => return e,
            };
            let code = sim.auth().codes.remove(get("code"));
            let Some(code) = code.filter(|c| {
                c.client_id == app.client_id && c.created.elapsed() < Duration::from_secs(15 * 60)
            }) else {
                return oauth_error(400, "invalid_grant", "invalid authorization code");
            };
            if code.redirect_uri != get("redirect_uri") {
                return oauth_error(
                    400,
                    "redirect_uri_mismatch",
                    "redirect_uri must match configuration",
                );
            }
            if let Some((challenge, method)) = &code.challenge {
                let verifier = get("code_verifier");
                if verifier.is_empty() {
                    return oauth_error(400, "invalid_grant", "invalid code verifier");
                }
                let computed = if method == "S256" {
                    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
                } else {
                    verifier.to_string()
                };
                if &computed != challenge {
                    return oauth_error(400, "invalid_request", "invalid code verifier");
                }
            }
            token_body(sim, &app, &code.user_id, &code.scope, None, true)
        }
        "refresh_token" => {
            let app = match check_client(&sim.auth(), p, false) {
                Ok(a) => a,
                Err(e) => return e,
            };
            let grant = sim.auth().grants.get(get("refresh_token")).cloned();
            let Some(grant) = grant.filter(|g| g.client_id == app.client_id) else {
                return oauth_error(400, "invalid_grant", "expired access/refresh token");
            };
            if app.rotate_refresh_tokens {
                sim.auth().grants.remove(get("refresh_token"));
                return token_body(sim, &app, &grant.user_id, &grant.scope, None, true);
            }
            let mut r = token_body(
                sim,
                &app,
                &grant.user_id,
                &grant.scope,
                Some(get("refresh_token").to_string()),
                false,
            );
            if let crate::resp::Payload::Json(b) = &mut r.body {
                b["scope"] = json!(grant.scope);
            }
            r
        }
        // Username-password flow: the user's password (with the security token appended);
        // sfsim takes any non-empty password for the org's users. No refresh token.
        "password" => {
            let app = match check_client(&sim.auth(), p, false) {
                Ok(a) => a,
                Err(e) => return e,
            };
            let user = sim.org().user_id_by_username(get("username"));
            match user {
                Some(u) if !get("password").is_empty() => {
                    token_body(sim, &app, &u, "api", None, false)
                }
                _ => oauth_error(400, "invalid_grant", "authentication failure"),
            }
        }
        // Client credentials flow: the connected app's secret, run as the app's execution
        // user (the org's admin here). No refresh token.
        "client_credentials" => {
            if get("client_secret").is_empty() {
                return oauth_error(400, "invalid_client", "invalid client credentials");
            }
            let app = match check_client(&sim.auth(), p, false) {
                Ok(a) => a,
                Err(e) => return e,
            };
            let user = sim.org().admin_user_id.clone();
            token_body(sim, &app, &user, "api", None, false)
        }
        "device" => device_poll(sim, p),
        "urn:ietf:params:oauth:grant-type:jwt-bearer" => crate::jwt::bearer(sim, get("assertion")),
        _ => oauth_error(400, "unsupported_grant_type", "grant type not supported"),
    }
}

pub(crate) fn jwt_token(sim: &Sim, app: &ConnectedApp, user_id: &str) -> Resp {
    token_body(sim, app, user_id, "api", None, false)
}

pub(crate) fn app_for_jwt(sim: &Sim, client_id: &str) -> Option<ConnectedApp> {
    sim.auth().app(client_id).cloned()
}

fn device_start(sim: &Sim, p: &HashMap<String, String>) -> Resp {
    let get = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
    let mut auth = sim.auth();
    if auth.app(get("client_id")).is_none() {
        return oauth_error(400, "invalid_client_id", "client identifier invalid");
    }
    let device_code = auth.random(40);
    let user_code: String = auth.random(8).to_uppercase();
    let scope = if get("scope").is_empty() {
        "api refresh_token".to_string()
    } else {
        get("scope").to_string()
    };
    let interval = auth.device_interval.as_secs();
    auth.devices.insert(
        device_code.clone(),
        Device {
            client_id: get("client_id").into(),
            scope,
            user_code: user_code.clone(),
            state: DeviceState::Pending,
            last_poll: None,
            created: Instant::now(),
        },
    );
    Resp::ok(json!({
        "device_code": device_code,
        "user_code": user_code,
        "verification_uri": format!("{}/setup/connect", sim.base_url()),
        "interval": interval,
    }))
}

fn device_poll(sim: &Sim, p: &HashMap<String, String>) -> Resp {
    let get = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
    let (app, state) = {
        let mut auth = sim.auth();
        let Some(app) = auth.app(get("client_id")).cloned() else {
            return oauth_error(400, "invalid_client_id", "client identifier invalid");
        };
        let interval = auth.device_interval;
        let Some(d) = auth
            .devices
            .get_mut(get("code"))
            .filter(|d| d.client_id == app.client_id)
        else {
            return oauth_error(400, "invalid_grant", "invalid device code");
        };
        if d.created.elapsed() > Duration::from_secs(600) {
            return oauth_error(400, "invalid_grant", "expired device code");
        }
        let too_fast = d.last_poll.is_some_and(|t| t.elapsed() < interval);
        d.last_poll = Some(Instant::now());
        match &d.state {
            DeviceState::Pending if too_fast => {
                return oauth_error(400, "slow_down", "polling too frequently");
            }
            DeviceState::Pending => {
                return oauth_error(400, "authorization_pending", "authorization pending");
            }
            DeviceState::Denied => {
                auth.devices.remove(get("code"));
                return oauth_error(400, "access_denied", "end-user denied authorization");
            }
            DeviceState::Approved(u) => {
                let state = (u.clone(), d.scope.clone());
                auth.devices.remove(get("code"));
                (app, state)
            }
        }
    };
    token_body(sim, &app, &state.0, &state.1, None, true)
}

fn device_page(user_code: &str, note: &str) -> Resp {
    html(
        200,
        format!(
            "<h1>Connect a device</h1><p>{}</p><form method=\"post\" action=\"/setup/connect\">\
             <label>Code <input name=\"user_code\" value=\"{}\"></label>\
             <label>Username <input name=\"username\" value=\"admin@sfsim.example\"></label>\
             <button type=\"submit\" name=\"action\" value=\"allow\">Allow</button>\
             <button type=\"submit\" name=\"action\" value=\"deny\">Deny</button></form>",
            esc(note),
            esc(user_code)
        ),
    )
}

fn device_submit(sim: &Sim, p: &HashMap<String, String>) -> Resp {
    let get = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
    let user = sim
        .org()
        .user_id_by_username(if get("username").is_empty() {
            "admin@sfsim.example"
        } else {
            get("username")
        });
    let Some(user) = user else {
        return device_page(get("user_code"), "Unknown user.");
    };
    if sim
        .auth()
        .decide_device(get("user_code"), &user, get("action") == "allow")
    {
        let msg = if get("action") == "allow" {
            "Access granted. You can close this page."
        } else {
            "Access denied."
        };
        html(200, format!("<h1>{msg}</h1>"))
    } else {
        device_page(get("user_code"), "Invalid or expired code.")
    }
}

fn revoke(sim: &Sim, token: &str) -> Resp {
    let mut auth = sim.auth();
    if auth.grants.remove(token).is_some() {
        auth.sessions
            .retain(|_, s| s.refresh.as_deref() != Some(token));
        return Resp::empty(200);
    }
    if auth.sessions.remove(token).is_some() {
        return Resp::empty(200);
    }
    oauth_error(400, "invalid_token", "invalid token")
}

fn userinfo(sim: &Sim, bearer: &str) -> Resp {
    let Some(session) = sim.auth().check(bearer) else {
        return Resp::text(403, "Bad_OAuth_Token".into(), "text/plain");
    };
    Resp::ok(identity(sim, &session.user_id))
}

/// The identity document (userinfo and the `id` URL).
pub(crate) fn identity(sim: &Sim, user_id: &str) -> serde_json::Value {
    let org = sim.org();
    let base = sim.base_url();
    let v = sim.api_version();
    let (username, name, email, first, last) = org
        .find(user_id)
        .map(|(t, r)| {
            let g = |n: &str| r.get(t.slot(n)).as_str().unwrap_or("").to_string();
            (
                g("Username"),
                g("Name"),
                g("Email"),
                g("FirstName"),
                g("LastName"),
            )
        })
        .unwrap_or_default();
    json!({
        "sub": format!("{base}/id/{}/{user_id}", org.org_id),
        "user_id": user_id,
        "organization_id": org.org_id,
        "preferred_username": username,
        "nickname": username.split('@').next().unwrap_or(""),
        "name": name,
        "email": email,
        "email_verified": true,
        "given_name": first,
        "family_name": last,
        "zoneinfo": "Europe/Berlin",
        "locale": "en_US",
        "active": true,
        "user_type": "STANDARD",
        "language": "en_US",
        "utcOffset": 3600000,
        "updated_at": "2024-01-01T00:00:00Z",
        "is_app_installed": true,
        "urls": {
            "enterprise": format!("{base}/services/Soap/c/{v}/{}", org.org_id),
            "partner": format!("{base}/services/Soap/u/{v}/{}", org.org_id),
            "rest": format!("{base}/services/data/v{v}/"),
            "sobjects": format!("{base}/services/data/v{v}/sobjects/"),
            "search": format!("{base}/services/data/v{v}/search/"),
            "query": format!("{base}/services/data/v{v}/query/"),
            "recent": format!("{base}/services/data/v{v}/recent/"),
            "profile": format!("{base}/{user_id}"),
            "custom_domain": base,
        },
    })
}
