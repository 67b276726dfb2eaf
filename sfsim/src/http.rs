//! The HTTP surface: routes, and the pipeline every API request goes through (faults,
//! authentication, accounting, `Sforce-Limit-Info`).

use crate::faults::Strike;
use crate::resp::Resp;
use crate::rest::{self, Req, split_path};
use crate::sim::Sim;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::json;
use std::collections::HashMap;

/// The oldest version a current org still serves: Salesforce retired 21.0–30.0 in the
/// Summer '25 release.
pub const OLDEST_VERSION: u32 = 31;

/// The current Salesforce release's API version (Winter '27), the default newest version.
pub const CURRENT_VERSION: &str = "68.0";
const CURRENT_VERSION_F: f64 = 68.0;

/// The release that introduced API version `v` (59.0 is Winter '24; three releases a year,
/// Winter, Spring, Summer, one version each).
pub fn release_label(v: u32) -> String {
    let k = i64::from(v) - 59;
    let season = ["Winter", "Spring", "Summer"][k.rem_euclid(3) as usize];
    let year = 24 + k.div_euclid(3);
    format!("{season} '{year:02}")
}

/// Every version the org lists at `/services/data`, oldest first, up to `newest`.
pub fn versions_up_to(newest: &str) -> Vec<(String, String)> {
    let top = newest.parse::<f64>().map(|n| n as u32).unwrap_or(59);
    (OLDEST_VERSION..=top)
        .map(|v| (release_label(v), format!("{v}.0")))
        .collect()
}

pub fn router(sim: Sim) -> Router {
    Router::new()
        .route("/services/data", get(versions))
        .route("/services/data/", get(versions))
        .route("/services/data/{*rest}", any(data))
        .route("/services/oauth2/{*rest}", any(oauth))
        .route("/setup/connect", any(oauth))
        .route("/id/{org}/{user}", get(identity))
        .route("/cometd/{version}", any(crate::streaming::handle))
        .route("/cometd/{version}/{*rest}", any(crate::streaming::handle))
        .route("/__sim/{*rest}", any(crate::admin::handle))
        .fallback(fallback)
        // Bulk uploads may be up to 100 MB (axum's default limit is 2 MB).
        .layer(axum::extract::DefaultBodyLimit::max(110 * 1024 * 1024))
        .with_state(sim)
}

/// Paths no route takes. A doubled slash (`//services/data/…`, sent by clients whose
/// instance URL ends in `/`) reaches the same resource, as on Salesforce; anything else is
/// Salesforce's JSON `NOT_FOUND`.
async fn fallback(
    State(sim): State<Sim>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    if path.contains("//") {
        let mut clean = String::with_capacity(path.len());
        for c in path.chars() {
            if !(c == '/' && clean.ends_with('/')) {
                clean.push(c);
            }
        }
        let rebuilt = match uri.query() {
            Some(q) => format!("{clean}?{q}"),
            None => clean.clone(),
        };
        if let Ok(uri) = rebuilt.parse::<Uri>() {
            if clean == "/services/data" || clean == "/services/data/" {
                return versions(State(sim)).await;
            }
            if clean.starts_with("/services/data/") {
                return data(State(sim), method, uri, headers, body).await;
            }
            if clean.starts_with("/services/oauth2/") {
                return oauth(State(sim), method, uri, headers, body).await;
            }
        }
    }
    Resp::not_found().into_response()
}

async fn versions(State(sim): State<Sim>) -> Response {
    sim.acct().uncounted += 1;
    let list: Vec<_> = versions_up_to(sim.api_version())
        .into_iter()
        .map(|(label, v)| json!({"label": label, "url": format!("/services/data/v{v}"), "version": v}))
        .collect();
    Resp::ok(json!(list)).into_response()
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<String> {
    let h = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = h.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("oauth"))
        .then(|| token.trim().to_string())
}

async fn oauth(
    State(sim): State<Sim>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    sim.acct().uncounted += 1;
    let token = bearer(&headers);
    let basic = headers
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Basic "))
        .map(str::to_string);
    crate::oauth::handle(
        &sim,
        method.as_str(),
        uri.path(),
        uri.query(),
        token.as_deref(),
        basic.as_deref(),
        &body,
    )
    .into_response()
}

async fn identity(
    State(sim): State<Sim>,
    headers: HeaderMap,
    axum::extract::Path((_org, user)): axum::extract::Path<(String, String)>,
) -> Response {
    sim.acct().uncounted += 1;
    if bearer(&headers)
        .and_then(|t| sim.auth().check(&t))
        .is_none()
    {
        return Resp::text(403, "Bad_OAuth_Token".into(), "text/plain").into_response();
    }
    Resp::ok(identity_body(&sim, &user)).into_response()
}

/// The identity URL's answer ("Identity URLs"): the user and org ids, `username`,
/// `nick_name`, `display_name`, names, email, time zone, photos, status, `urls`, and the
/// user's type, language and locale.
fn identity_body(sim: &Sim, user: &str) -> serde_json::Value {
    let u = crate::oauth::identity(sim, user);
    let base = sim.base_url();
    json!({
        "id": u["sub"],
        "asserted_user": true,
        "user_id": u["user_id"],
        "organization_id": u["organization_id"],
        "username": u["preferred_username"],
        "nick_name": u["nickname"],
        "display_name": u["name"],
        "email": u["email"],
        "email_verified": u["email_verified"],
        "first_name": u["given_name"],
        "last_name": u["family_name"],
        "timezone": u["zoneinfo"],
        "photos": {
            "picture": format!("{base}/profilephoto/005/F"),
            "thumbnail": format!("{base}/profilephoto/005/T"),
        },
        "addr_street": null, "addr_city": null, "addr_state": null, "addr_country": null,
        "addr_zip": null,
        "mobile_phone": null,
        "mobile_phone_verified": false,
        "is_lightning_login_user": false,
        "status": {"created_date": null, "body": null},
        "urls": u["urls"],
        "active": u["active"],
        "user_type": u["user_type"],
        "language": u["language"],
        "locale": u["locale"],
        "utcOffset": u["utcOffset"],
        "last_modified_date": "2024-01-01T00:00:00.000+0000",
        "is_app_installed": u["is_app_installed"],
    })
}

pub(crate) fn dropped() -> Response {
    let stream = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other(
            "connection dropped by fault injection",
        ))
    });
    Body::from_stream(stream).into_response()
}

async fn data(
    State(sim): State<Sim>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().trim_start_matches("/services/data/");
    let mut segs = split_path(path);
    if segs.is_empty() {
        return versions(State(sim)).await;
    }
    let version = segs.remove(0);
    let newest: f64 = sim.api_version().parse().unwrap_or(CURRENT_VERSION_F);
    // The versions the org lists exist; others are 404 as in a real org.
    let Some(version) = version
        .strip_prefix('v')
        .filter(|v| {
            v.parse::<f64>()
                .is_ok_and(|n| (f64::from(OLDEST_VERSION)..=newest).contains(&n))
        })
        .map(String::from)
    else {
        return Resp::not_found().into_response();
    };
    // Concurrent API request limits: requests of 20 seconds or longer are limited (5 in a
    // Developer Edition org); while that many run, new ones are refused.
    let Some(_in_flight) = sim.admit_request() else {
        return Resp::error(
            403,
            "REQUEST_LIMIT_EXCEEDED",
            "ConcurrentPerOrgLongTxn Limit exceeded.",
        )
        .into_response();
    };
    let (latency, strike) = {
        let mut f = sim.faults();
        (f.latency(), f.strike())
    };
    // Half the latency before the request is handled and half after: a write commits in
    // the middle of the wait, as on a real server.
    let (before, after) = (latency / 2, latency - latency / 2);
    if !before.is_zero() {
        tokio::time::sleep(before).await;
    }
    let Some(token) = bearer(&headers) else {
        return invalid_session().into_response();
    };
    let Some(session) = sim.auth().check(&token) else {
        return invalid_session().into_response();
    };
    if sim.faults().expire_now() {
        sim.auth().expire(&token);
        return invalid_session().into_response();
    }
    let kind = rest::kind(&segs);
    let limit_info = {
        let mut a = sim.acct();
        if !a.count(kind) {
            let info = a.limit_info();
            return Resp::error(
                403,
                "REQUEST_LIMIT_EXCEEDED",
                "TotalRequests Limit exceeded.",
            )
            .header("sforce-limit-info", info)
            .into_response();
        }
        a.limit_info()
    };
    match strike {
        Strike::Unavailable => {
            return Resp::error(
                503,
                "SERVER_UNAVAILABLE",
                "Server is temporarily unavailable, please try again later.",
            )
            .header("sforce-limit-info", limit_info)
            .into_response();
        }
        Strike::Unknown => {
            return Resp::error(500, "UNKNOWN_EXCEPTION", "An unexpected error occurred. Please include this ErrorId if you contact support: 1234567890-12345 (-1234567890)")
                .header("sforce-limit-info", limit_info)
                .into_response();
        }
        Strike::Drop => return dropped(),
        Strike::None | Strike::DropAfter => {}
    }
    // Compression ("Compression Headers"): a gzip request body is read unzipped, and an
    // answer is gzipped for a client that accepts it.
    let gzip_answer = headers
        .get_all("accept-encoding")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    let body = if headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"))
    {
        match crate::resp::gunzip(&body) {
            Some(b) => Bytes::from(b),
            None => {
                return Resp::error(
                    400,
                    "JSON_PARSER_ERROR",
                    "The request body is not valid gzip",
                )
                .header("sforce-limit-info", limit_info)
                .into_response();
            }
        }
    } else {
        body
    };
    let hdrs: HashMap<String, String> = headers
        .iter()
        .filter_map(|(k, v)| {
            v.to_str()
                .ok()
                .map(|v| (k.as_str().to_lowercase(), v.to_string()))
        })
        .collect();
    let req = Req {
        // HEAD is answered like GET (hyper leaves the body out).
        method: if method == Method::HEAD {
            "GET".to_string()
        } else {
            method.as_str().to_string()
        },
        segs,
        query: url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect(),
        headers: hdrs,
        body: body.to_vec(),
        version,
        user_id: session.user_id,
        tx: None,
    };
    let sim2 = sim.clone();
    // Once handled, a request completes even if its client goes away meanwhile (a blocking
    // task is never cancelled), as Salesforce finishes a request whose caller hung up.
    let resp = tokio::task::spawn_blocking(move || {
        // Change events of this request name the REST API (and the client of its
        // `Sforce-Call-Options`) as their origin; its transaction ends with it.
        let origin = crate::streaming::rest_origin(
            &req.version,
            req.headers.get("sforce-call-options").map(String::as_str),
        );
        let resp = {
            let _origin = crate::streaming::Origin::set(origin);
            rest::dispatch(&sim2, &req)
        };
        sim2.publish_changes();
        resp
    })
    .await
    .unwrap_or_else(|e| Resp::error(500, "UNKNOWN_EXCEPTION", format!("internal error: {e}")));
    if !after.is_zero() {
        tokio::time::sleep(after).await;
    }
    if strike == Strike::DropAfter {
        return dropped();
    }
    let info = sim.acct().limit_info();
    resp.header("sforce-limit-info", info)
        .into_response_encoded(gzip_answer)
}

/// 401 for a missing, unknown or expired token, as Salesforce sends it.
fn invalid_session() -> Resp {
    Resp::error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        .header("www-authenticate", "Token")
}
