//! OAuth flows over HTTP: web-server + PKCE, refresh, revoke, device, JWT bearer, userinfo.

mod common;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sfsim::SimConfig;
use sha2::{Digest, Sha256};

const REDIRECT: &str = "http://localhost:1717/OauthRedirect";

async fn token(t: &common::T, form: &[(&str, &str)]) -> (u16, Value) {
    let r = t
        .http
        .post(t.base("/services/oauth2/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

/// Completes the authorize page like a person would; returns the redirect Location.
async fn authorize(t: &common::T, challenge: &str, action: &str) -> String {
    let cid = t.sim.info.client_id.clone();
    let params = [
        ("response_type", "code"),
        ("client_id", cid.as_str()),
        ("redirect_uri", REDIRECT),
        ("scope", "api refresh_token"),
        ("state", "st8"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    let r = t
        .http
        .get(t.base("/services/oauth2/authorize"))
        .query(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("<form") && page.contains("Allow"));
    let mut form: Vec<(&str, &str)> = params.to_vec();
    form.extend([
        ("username", "admin@sfsim.example"),
        ("password", "x"),
        ("action", action),
    ]);
    let r = t
        .http
        .post(t.base("/services/oauth2/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    r.headers()["location"].to_str().unwrap().to_string()
}

fn code_of(location: &str) -> String {
    let u = url::Url::parse(location).unwrap();
    assert!(location.starts_with(REDIRECT));
    let q: std::collections::HashMap<_, _> = u.query_pairs().into_owned().collect();
    assert_eq!(q["state"], "st8");
    q["code"].clone()
}

#[tokio::test]
async fn web_server_flow_with_pkce_refresh_and_revoke() {
    let t = common::start().await;
    let (cid, secret) = (
        t.sim.info.client_id.clone(),
        t.sim.info.client_secret.clone(),
    );
    let verifier = "a-verifier-that-is-long-enough-to-be-realistic-0123456789";
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));

    let code = code_of(&authorize(&t, &challenge, "allow").await);
    let (s, v) = token(
        &t,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &cid),
            ("client_secret", &secret),
            ("redirect_uri", REDIRECT),
            ("code_verifier", "wrong"),
        ],
    )
    .await;
    assert_eq!((s, v["error"].as_str().unwrap()), (400, "invalid_request"));
    let code = code_of(&authorize(&t, &challenge, "allow").await);
    let (s, v) = token(
        &t,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &cid),
            ("client_secret", &secret),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!((s, v["error"].as_str().unwrap()), (400, "invalid_grant"));

    let code = code_of(&authorize(&t, &challenge, "allow").await);
    let (s, v) = token(
        &t,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &cid),
            ("client_secret", &secret),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ],
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let access = v["access_token"].as_str().unwrap().to_string();
    let refresh = v["refresh_token"].as_str().unwrap().to_string();
    assert!(access.starts_with(&t.sim.info.org_id[..15]) && access.contains('!'));
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["instance_url"], t.sim.instance_url());
    let issued_at = v["issued_at"].as_str().unwrap();
    assert!(issued_at.parse::<u64>().is_ok());
    let id = v["id"].as_str().unwrap();
    assert!(id.starts_with(&format!(
        "{}/id/{}/005",
        t.sim.instance_url(),
        t.sim.info.org_id
    )));
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{id}{issued_at}").as_bytes());
    assert_eq!(v["signature"], STANDARD.encode(mac.finalize().into_bytes()));
    // A used code is gone.
    let (s, v) = token(
        &t,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &cid),
            ("client_secret", &secret),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ],
    )
    .await;
    assert_eq!((s, v["error"].as_str().unwrap()), (400, "invalid_grant"));

    let r = t
        .http
        .get(t.url("/limits"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = t
        .http
        .get(t.base("/services/oauth2/userinfo"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    let u: Value = r.json().await.unwrap();
    assert_eq!(u["preferred_username"], "admin@sfsim.example");
    assert_eq!(u["organization_id"], t.sim.info.org_id);

    // Expiry, then refresh.
    t.sim.expire_sessions();
    let r = t
        .http
        .get(t.url("/limits"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let (s, v) = token(
        &t,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &cid),
            ("client_secret", &secret),
        ],
    )
    .await;
    assert_eq!(s, 200);
    assert!(v.get("refresh_token").is_none());
    let access2 = v["access_token"].as_str().unwrap().to_string();
    // Client credentials may also come as HTTP Basic, as the oauth2 crate sends them.
    let r = t
        .http
        .post(t.base("/services/oauth2/token"))
        .basic_auth(&cid, Some(&secret))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = t
        .http
        .post(t.base("/services/oauth2/token"))
        .basic_auth(&cid, Some("wrong"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        t.http
            .get(t.url("/limits"))
            .bearer_auth(&access2)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Revoking the refresh token revokes its access tokens.
    let r = t
        .http
        .post(t.base("/services/oauth2/revoke"))
        .form(&[("token", refresh.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        t.http
            .get(t.url("/limits"))
            .bearer_auth(&access2)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let (s, v) = token(
        &t,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &cid),
            ("client_secret", &secret),
        ],
    )
    .await;
    assert_eq!((s, v["error"].as_str().unwrap()), (400, "invalid_grant"));
    // OAuth calls are not counted.
    assert_eq!(
        t.sim.counters().by_kind.get("limits"),
        Some(&2),
        "401s and OAuth are not counted"
    );
}

#[tokio::test]
async fn oauth_errors() {
    let t = common::start().await;
    let cid = t.sim.info.client_id.clone();
    let loc = authorize(&t, "abc", "deny").await;
    assert!(loc.contains("error=access_denied") && loc.contains("state=st8"));
    let r = t
        .http
        .get(t.base("/services/oauth2/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", "nope"),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("invalid_client_id"));
    let r = t
        .http
        .get(t.base("/services/oauth2/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", cid.as_str()),
            ("redirect_uri", "http://evil.example/cb"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("redirect_uri_mismatch"));
    let (s, v) = token(
        &t,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", "nope"),
        ],
    )
    .await;
    assert_eq!(
        (s, v["error"].as_str().unwrap()),
        (400, "invalid_client_id")
    );
    let (_, v) = token(
        &t,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", &cid),
            ("client_secret", "wrong"),
        ],
    )
    .await;
    assert_eq!(v["error"], "invalid_client");
    let (_, v) = token(
        &t,
        &[
            ("grant_type", "urn:example:no-such-grant"),
            ("client_id", &cid),
        ],
    )
    .await;
    assert_eq!(v["error"], "unsupported_grant_type");
    let r = t
        .http
        .get(t.base("/services/oauth2/userinfo"))
        .bearer_auth("bogus")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn device_flow() {
    // The default 5 s interval: two back-to-back polls are always "too fast".
    let cfg = SimConfig::default();
    let t = common::start_with(cfg).await;
    let cid = t.sim.info.client_id.clone();
    let (s, v) = token(
        &t,
        &[
            ("response_type", "device_code"),
            ("client_id", &cid),
            ("scope", "api refresh_token"),
        ],
    )
    .await;
    assert_eq!(s, 200);
    let device = v["device_code"].as_str().unwrap().to_string();
    let user_code = v["user_code"].as_str().unwrap().to_string();
    assert_eq!(
        v["verification_uri"],
        format!("{}/setup/connect", t.sim.instance_url())
    );
    assert!(v["interval"].is_number());
    let poll = [
        ("grant_type", "device"),
        ("client_id", cid.as_str()),
        ("code", device.as_str()),
    ];
    let (s, v) = token(&t, &poll).await;
    assert_eq!(
        (s, v["error"].as_str().unwrap()),
        (400, "authorization_pending")
    );
    let (_, v) = token(&t, &poll).await;
    assert_eq!(v["error"], "slow_down");
    let r = t.http.get(t.base("/setup/connect")).send().await.unwrap();
    assert!(r.text().await.unwrap().contains("user_code"));
    let r = t
        .http
        .post(t.base("/setup/connect"))
        .form(&[("user_code", user_code.as_str()), ("action", "allow")])
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("Access granted"));
    // Once approved, the next poll gets the token (no need to wait out the interval).
    let (s, v) = token(&t, &poll).await;
    assert_eq!(s, 200, "{v}");
    assert!(v["refresh_token"].is_string());
    let (_, v) = token(&t, &poll).await;
    assert_eq!(v["error"], "invalid_grant");

    // Denial through the admin API.
    let (_, v) = token(&t, &[("response_type", "device_code"), ("client_id", &cid)]).await;
    let device = v["device_code"].as_str().unwrap().to_string();
    assert!(
        t.sim
            .approve_device(v["user_code"].as_str().unwrap(), false)
    );
    let (_, v) = token(
        &t,
        &[
            ("grant_type", "device"),
            ("client_id", &cid),
            ("code", &device),
        ],
    )
    .await;
    assert_eq!(v["error"], "access_denied");
}

fn jwt(claims: Value, key_pem: &str) -> String {
    use rsa::pkcs1v15::SigningKey;
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::signature::{SignatureEncoding, Signer};
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(key_pem).unwrap();
    let head = URL_SAFE_NO_PAD.encode(json!({"alg": "RS256"}).to_string());
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signed = format!("{head}.{body}");
    let sig = SigningKey::<Sha256>::new(key).sign(signed.as_bytes());
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
}

#[tokio::test]
async fn jwt_bearer_checks_the_certificate() {
    let cert = include_str!("fixtures/jwt-test-cert.pem");
    let key = include_str!("fixtures/jwt-test-key.pem");
    let cfg = SimConfig {
        jwt_cert_pem: Some(cert.to_string()),
        ..SimConfig::default()
    };
    let t = common::start_with(cfg).await;
    let cid = t.sim.info.client_id.clone();
    let exp = chrono::Utc::now().timestamp() + 180;
    let grant = "urn:ietf:params:oauth:grant-type:jwt-bearer";
    let good = jwt(
        json!({"iss": cid, "sub": "integration@sfsim.example", "aud": "https://login.salesforce.com", "exp": exp}),
        key,
    );
    let (s, v) = token(&t, &[("grant_type", grant), ("assertion", &good)]).await;
    assert_eq!(s, 200, "{v}");
    assert!(v.get("refresh_token").is_none());
    let r = t
        .http
        .get(t.url("/limits"))
        .bearer_auth(v["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let mut tampered = good.clone();
    tampered.insert_str(good.find('.').unwrap() + 1, "e30");
    let (_, v) = token(&t, &[("grant_type", grant), ("assertion", &tampered)]).await;
    assert_eq!(v["error"], "invalid_grant");
    let bad_aud = jwt(
        json!({"iss": cid, "sub": "integration@sfsim.example", "aud": "https://elsewhere.example", "exp": exp}),
        key,
    );
    let (_, v) = token(&t, &[("grant_type", grant), ("assertion", &bad_aud)]).await;
    assert_eq!(v["error"], "invalid_grant");
    let expired = jwt(
        json!({"iss": cid, "sub": "integration@sfsim.example", "aud": "https://login.salesforce.com", "exp": exp - 3600}),
        key,
    );
    let (_, v) = token(&t, &[("grant_type", grant), ("assertion", &expired)]).await;
    assert_eq!(v["error"], "invalid_grant");
    let nobody = jwt(
        json!({"iss": cid, "sub": "nobody@x", "aud": "https://login.salesforce.com", "exp": exp}),
        key,
    );
    let (_, v) = token(&t, &[("grant_type", grant), ("assertion", &nobody)]).await;
    assert_eq!(v["error"], "invalid_grant");
    // A deactivated user can no longer get tokens.
    let user = t
        .sim
        .with_org(|o| o.user_id_by_username("integration@sfsim.example"))
        .unwrap();
    let r = t
        .send(
            reqwest::Method::PATCH,
            &format!("/sobjects/User/{user}"),
            Some(json!({"IsActive": false})),
        )
        .await;
    assert_eq!(r.status(), 204);
    let (s, v) = token(&t, &[("grant_type", grant), ("assertion", &good)]).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("inactive_user")));
    let other_app = jwt(
        json!({"iss": "nope", "sub": "integration@sfsim.example", "aud": "https://login.salesforce.com", "exp": exp}),
        key,
    );
    let (_, v) = token(&t, &[("grant_type", grant), ("assertion", &other_app)]).await;
    assert_eq!(v["error"], "invalid_client_id");
}

#[tokio::test]
async fn extra_connected_apps_have_their_own_credentials() {
    let t = common::start().await;
    let (s, _) = t
        .admin(
            reqwest::Method::POST,
            "apps",
            json!({"name": "other", "client_id": "other-app", "client_secret": "other-secret", "redirect_uris": ["http://127.0.0.1:9999/cb"], "require_secret": true}),
        )
        .await;
    assert_eq!(s, 201);
    let r = t
        .http
        .get(t.base("/services/oauth2/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", "other-app"),
            ("redirect_uri", "http://127.0.0.1:9999/cb"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = t
        .http
        .get(t.base("/services/oauth2/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", "other-app"),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        400,
        "the default app's redirect URI is not the other app's"
    );
    let (_, v) = token(
        &t,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", "other-app"),
        ],
    )
    .await;
    assert_eq!(v["error"], "invalid_client", "secret required");
}
