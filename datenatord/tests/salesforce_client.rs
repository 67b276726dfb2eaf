//! The Salesforce client against sfsim over real HTTP: every auth flow, paging,
//! collections, composite, Bulk 2.0, faults, limits.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use datenatord::salesforce::auth::{ConnectedApp, DEFAULT_SCOPE, DevicePoll, OAuth, TokenSet};
use datenatord::salesforce::bulk::PollPolicy;
use datenatord::salesforce::rest::SubRequest;
use datenatord::salesforce::{Api, Credentials, RetryPolicy, SalesforceError};
use serde_json::{Map, Value, json};
use sfsim::{RunningSim, Sim, SimConfig};

async fn sim_with(cfg: SimConfig) -> RunningSim {
    Sim::start(cfg).await.expect("start sfsim")
}

fn oauth(sim: &RunningSim) -> OAuth {
    OAuth::new(
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        sim.info.login_url.clone(),
        ConnectedApp {
            client_id: sim.info.client_id.clone(),
            client_secret: Some(sim.info.client_secret.clone()),
            redirect_uri: "http://localhost:1717/OauthRedirect".into(),
        },
    )
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        attempts: 8,
        base: Duration::from_millis(5),
        cap: Duration::from_millis(50),
    }
}

fn fast_poll() -> PollPolicy {
    PollPolicy {
        first: Duration::from_millis(20),
        max: Duration::from_millis(200),
        timeout: Duration::from_secs(300),
    }
}

fn api(sim: &RunningSim) -> Api {
    Api::builder(sim.instance_url(), sim.access_token())
        .retry(fast_retry())
        .build()
}

fn record(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// Runs the device flow, approving it inside the simulator.
async fn device_tokens(sim: &RunningSim) -> TokenSet {
    let o = oauth(sim);
    let auth = o.device_start(DEFAULT_SCOPE).await.unwrap();
    assert!(!auth.user_code.is_empty());
    assert!(auth.verification_uri.starts_with("http"));
    assert!(matches!(
        o.device_poll(&auth.device_code).await.unwrap(),
        DevicePoll::Pending | DevicePoll::SlowDown
    ));
    assert!(sim.approve_device(&auth.user_code, true));
    match o.device_poll(&auth.device_code).await.unwrap() {
        DevicePoll::Done(t) => t,
        other => panic!("expected tokens, got {other:?}"),
    }
}

#[tokio::test]
async fn device_flow_approval_and_denial() {
    let sim = sim_with(SimConfig::default()).await;
    let tokens = device_tokens(&sim).await;
    assert!(
        tokens.access_token.starts_with("00D"),
        "access tokens are shaped 00D…!…"
    );
    assert!(tokens.refresh_token.is_some());
    assert_eq!(tokens.org_id(), Some(sim.info.org_id.as_str()));
    assert_eq!(tokens.instance_url, sim.instance_url());

    let o = oauth(&sim);
    let auth = o.device_start(DEFAULT_SCOPE).await.unwrap();
    sim.approve_device(&auth.user_code, false);
    let err = o.device_poll(&auth.device_code).await.unwrap_err();
    assert!(
        matches!(&err, SalesforceError::OAuth { error, .. } if error == "access_denied"),
        "{err}"
    );
    assert!(err.to_string().contains("denied"), "{err}");
}

#[tokio::test]
async fn device_wait_polls_until_approved() {
    let sim = sim_with(SimConfig::default()).await;
    let o = oauth(&sim);
    let mut auth = o.device_start(DEFAULT_SCOPE).await.unwrap();
    auth.interval = 1;
    let approver = {
        let sim = sim.sim.clone();
        let code = auth.user_code.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            sim.approve_device(&code, true)
        })
    };
    let tokens = o.device_wait(&auth, Duration::from_secs(60)).await.unwrap();
    assert!(approver.await.unwrap());
    assert!(tokens.refresh_token.is_some());
}

/// Drives the authorize page as a browser would and returns where it redirected to.
async fn browser_authorize(sim: &RunningSim, authorize_url: &str, action: &str) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http.get(authorize_url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Allow"));
    let url = url::Url::parse(authorize_url).unwrap();
    let mut form: HashMap<String, String> = url.query_pairs().into_owned().collect();
    form.insert("username".into(), sim.info.username.clone());
    form.insert("password".into(), "sfsim".into());
    form.insert("action".into(), action.into());
    let resp = http
        .post(format!("{}/services/oauth2/authorize", sim.info.login_url))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_redirection(), "{}", resp.status());
    resp.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn web_server_flow_with_pkce_state_checks_and_errors() {
    let sim = sim_with(SimConfig::default()).await;
    let o = oauth(&sim);
    let pending = o.authorize(DEFAULT_SCOPE).unwrap();
    let redirected = browser_authorize(&sim, &pending.authorize_url, "allow").await;
    assert!(redirected.starts_with("http://localhost:1717/OauthRedirect?code="));

    // A URL from another authorization is refused before anything is sent.
    let other = o.authorize(DEFAULT_SCOPE).unwrap();
    let err = o
        .complete_authorization(&other, &redirected)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("state does not match"), "{err}");
    assert!(
        o.complete_authorization(&pending, "not a url")
            .await
            .unwrap_err()
            .to_string()
            .contains("paste")
    );

    let tokens = o
        .complete_authorization(&pending, &redirected)
        .await
        .unwrap();
    assert!(tokens.refresh_token.is_some());
    assert_eq!(tokens.org_id(), Some(sim.info.org_id.as_str()));

    // A code can be used once.
    let err = o
        .complete_authorization(&pending, &redirected)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SalesforceError::OAuth { error, .. } if error == "invalid_grant"),
        "{err}"
    );

    // The user clicks Deny.
    let pending = o.authorize(DEFAULT_SCOPE).unwrap();
    let redirected = browser_authorize(&sim, &pending.authorize_url, "deny").await;
    let err = o
        .complete_authorization(&pending, &redirected)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SalesforceError::OAuth { error, .. } if error == "access_denied"),
        "{err}"
    );

    // A wrong PKCE verifier.
    let mut pending = o.authorize(DEFAULT_SCOPE).unwrap();
    let redirected = browser_authorize(&sim, &pending.authorize_url, "allow").await;
    pending.pkce_verifier = "wrong-verifier-wrong-verifier-wrong-verifier-123".into();
    assert!(
        o.complete_authorization(&pending, &redirected)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn wrong_client_secret_and_redirect_uri_and_client_id() {
    let sim = sim_with(SimConfig::default()).await;
    let mut app = oauth(&sim).app().clone();
    app.client_secret = Some("wrong".into());
    let tokens = device_tokens(&sim).await;
    let bad_secret = OAuth::new(
        reqwest::Client::new(),
        sim.info.login_url.clone(),
        app.clone(),
    );
    let err = bad_secret
        .refresh(tokens.refresh_token.as_deref().unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SalesforceError::OAuth { error, .. } if error == "invalid_client"),
        "{err}"
    );
    assert!(err.to_string().contains("client secret is wrong"), "{err}");

    app.client_secret = Some(sim.info.client_secret.clone());
    app.redirect_uri = "http://evil.example/cb".into();
    let bad_redirect = OAuth::new(
        reqwest::Client::new(),
        sim.info.login_url.clone(),
        app.clone(),
    );
    let pending = bad_redirect.authorize(DEFAULT_SCOPE).unwrap();
    let page = reqwest::get(&pending.authorize_url).await.unwrap();
    assert_eq!(page.status(), 400);
    assert!(page.text().await.unwrap().contains("redirect_uri_mismatch"));

    app.client_id = "nobody".into();
    let bad_id = OAuth::new(reqwest::Client::new(), sim.info.login_url.clone(), app);
    let err = bad_id.device_start(DEFAULT_SCOPE).await.unwrap_err();
    assert!(
        matches!(&err, SalesforceError::OAuth { error, .. } if error == "invalid_client_id"),
        "{err}"
    );
}

#[tokio::test]
async fn jwt_bearer_flow() {
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    let mut rng = rsa::rand_core::OsRng;
    let key = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
    let public_pem = key
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let private_pem = key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
    let sim = sim_with(SimConfig {
        jwt_cert_pem: Some(public_pem),
        ..SimConfig::default()
    })
    .await;
    let o = oauth(&sim);
    let tokens = o
        .jwt_bearer(&sim.info.username, &private_pem)
        .await
        .unwrap();
    assert!(
        tokens.refresh_token.is_none(),
        "JWT bearer yields no refresh token"
    );
    assert_eq!(tokens.org_id(), Some(sim.info.org_id.as_str()));

    let other = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
    let other_pem = other.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
    let err = o
        .jwt_bearer(&sim.info.username, &other_pem)
        .await
        .unwrap_err();
    assert!(matches!(err, SalesforceError::OAuth { .. }), "{err}");
    let err = o
        .jwt_bearer(&sim.info.username, "not a key")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("RSA private key"), "{err}");
}

#[tokio::test]
async fn token_expiry_mid_run_is_invisible_and_new_tokens_are_reported() {
    let sim = sim_with(SimConfig {
        seed_counts: vec![("Account".into(), 30)],
        ..SimConfig::default()
    })
    .await;
    let tokens = device_tokens(&sim).await;
    let seen: Arc<Mutex<Vec<TokenSet>>> = Arc::default();
    let sink = seen.clone();
    let api = Api::builder(&tokens.instance_url, &tokens.access_token)
        .credentials(Credentials::RefreshToken {
            oauth: oauth(&sim),
            refresh_token: tokens.refresh_token.clone().unwrap(),
        })
        .retry(fast_retry())
        .on_token(Arc::new(move |t| sink.lock().unwrap().push(t.clone())))
        .build();
    let mut pager = api.query("SELECT Id, Name FROM Account", false, Some(200));
    // Paging restarts the session between pages: still one seamless read.
    pager.next_page().await.unwrap();
    sim.expire_sessions();
    let n = api
        .query_all_records("SELECT Id FROM Account", false)
        .await
        .unwrap()
        .len();
    assert_eq!(n, 30);
    assert_eq!(seen.lock().unwrap().len(), 1, "one refresh, reported once");

    // Revoking the refresh token turns the next expiry into a clear re-authorization state.
    oauth(&sim)
        .revoke(tokens.refresh_token.as_deref().unwrap())
        .await
        .unwrap();
    sim.expire_sessions();
    let err = api
        .query_all_records("SELECT Id FROM Account", false)
        .await
        .unwrap_err();
    assert!(
        matches!(err, SalesforceError::ReauthorizationNeeded(_)),
        "{err}"
    );
    assert!(err.to_string().contains("Refresh org credentials"), "{err}");
}

#[tokio::test]
async fn paging_over_10000_rows_spends_one_call_per_page() {
    let sim = sim_with(SimConfig {
        seed_counts: vec![("Account".into(), 10_000)],
        ..SimConfig::default()
    })
    .await;
    let api = api(&sim);
    sim.reset_counters();
    let mut pager = api.query(
        "SELECT Id, Name, SystemModstamp FROM Account ORDER BY SystemModstamp, Id",
        false,
        Some(2000),
    );
    let mut ids = std::collections::HashSet::new();
    let mut pages = 0;
    while let Some(page) = pager.next_page().await.unwrap() {
        pages += 1;
        for r in page.records {
            assert!(
                ids.insert(r["Id"].as_str().unwrap().to_owned()),
                "no record twice"
            );
        }
    }
    assert_eq!(pager.total_size, Some(10_000));
    assert_eq!(ids.len(), 10_000);
    assert_eq!(pages, 5);
    assert_eq!(sim.counters().api_calls, 5);
    assert_eq!(api.usage().latest().unwrap().used, 5);
}

/// Updates and deletes go five collections of 200 to a composite request: 1,100 records
/// cost two calls (a composite of five, then a lone collection), with every record's
/// result in input order, a refused one included.
#[tokio::test]
async fn updates_and_deletes_go_a_thousand_records_a_call() {
    let sim = sim_with(SimConfig {
        seed_counts: vec![("Account".into(), 1100)],
        ..SimConfig::default()
    })
    .await;
    let api = api(&sim);
    let ids: Vec<String> = api
        .query_all_records("SELECT Id FROM Account ORDER BY Id", false)
        .await
        .unwrap()
        .iter()
        .map(|r| r["Id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1100);
    let mut updates: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| record(&[("Id", json!(id)), ("Description", json!(format!("d{i}")))]))
        .collect();
    updates[700].insert("NoSuchField__c".into(), json!(1));
    sim.reset_counters();
    let results = api.update_records("Account", &updates).await.unwrap();
    assert_eq!(sim.counters().api_calls, 2, "{:?}", sim.counters().by_kind);
    assert_eq!(results.len(), 1100);
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.success, i != 700, "record {i}: {r:?}");
    }
    let described = api
        .query_all_records("SELECT Id, Description FROM Account ORDER BY Id", false)
        .await
        .unwrap();
    assert_eq!(described[1099]["Description"], "d1099");
    assert_eq!(described[0]["Description"], "d0");

    sim.reset_counters();
    let deleted = api.delete_records(&ids).await.unwrap();
    assert_eq!(sim.counters().api_calls, 2);
    assert!(deleted.iter().all(|r| r.success));
    let left = api
        .query_all_records("SELECT Id FROM Account", false)
        .await
        .unwrap();
    assert!(left.is_empty());
}

#[tokio::test]
async fn collections_report_mixed_per_record_results() {
    let sim = sim_with(SimConfig::default()).await;
    let api = api(&sim);
    let records = vec![
        record(&[("Name", json!("Good One"))]),
        record(&[("Industry", json!("Banking"))]), // no Name: required
        record(&[("Name", json!("Good Two")), ("NoSuchField__c", json!(1))]),
        record(&[("Name", json!("Good Three"))]),
    ];
    sim.reset_counters();
    let results = api.create_records("Account", &records).await.unwrap();
    assert_eq!(sim.counters().api_calls, 1, "one collections call");
    assert_eq!(results.len(), 4);
    assert!(results[0].success && results[3].success);
    assert!(!results[1].success);
    assert_eq!(results[1].errors[0].error_code, "REQUIRED_FIELD_MISSING");
    assert!(!results[2].success);
    assert_eq!(results[2].errors[0].error_code, "INVALID_FIELD");

    let id = results[0].id.clone().unwrap();
    let upd = api
        .update_records(
            "Account",
            &[record(&[("Id", json!(id)), ("Name", json!("Renamed"))])],
        )
        .await
        .unwrap();
    assert!(upd[0].success);
    let rows = api
        .query_all_records(
            &format!("SELECT Name FROM Account WHERE Id = '{id}'"),
            false,
        )
        .await
        .unwrap();
    assert_eq!(rows[0]["Name"], "Renamed");

    let del = api
        .delete_records(&[id.clone(), "001000000000000AAA".into()])
        .await
        .unwrap();
    assert!(del[0].success);
    assert!(!del[1].success);
    let all = api
        .query_all_records(
            &format!("SELECT Id, IsDeleted FROM Account WHERE Id = '{id}'"),
            true,
        )
        .await
        .unwrap();
    assert_eq!(
        all[0]["IsDeleted"], true,
        "queryAll shows the deleted record"
    );

    // 450 records go in three calls of at most 200.
    let many: Vec<_> = (0..450)
        .map(|i| record(&[("Name", json!(format!("Bulkish {i}")))]))
        .collect();
    sim.reset_counters();
    let results = api.create_records("Account", &many).await.unwrap();
    assert!(results.iter().all(|r| r.success));
    assert_eq!(sim.counters().api_calls, 3);
}

#[tokio::test]
async fn composite_is_one_call_and_limits_are_read() {
    let sim = sim_with(SimConfig {
        seed_counts: vec![("Account".into(), 5), ("Contact".into(), 7)],
        ..SimConfig::default()
    })
    .await;
    let api = api(&sim);
    sim.reset_counters();
    let q = |r: &str, soql: &str| SubRequest {
        method: "GET".into(),
        url: Api::data_path(&format!(
            "/query?q={}",
            datenatord::salesforce::rest::encode(soql)
        )),
        reference_id: r.into(),
        body: None,
    };
    let out = api
        .composite(
            vec![
                q("acc", "SELECT Id FROM Account"),
                q("con", "SELECT Id FROM Contact"),
            ],
            false,
        )
        .await
        .unwrap();
    assert_eq!(sim.counters().api_calls, 1);
    assert_eq!(out[0].body["totalSize"], 5);
    assert_eq!(out[1].body["totalSize"], 7);
    let too_many: Vec<_> = (0..26)
        .map(|i| q(&format!("r{i}"), "SELECT Id FROM Account"))
        .collect();
    assert!(matches!(
        api.composite(too_many, false).await,
        Err(SalesforceError::Invalid(_))
    ));

    let limits = api.limits().await.unwrap();
    assert_eq!(limits["DailyApiRequests"]["Max"], 15_000);
    assert_eq!(api.usage().latest().unwrap().max, 15_000);
}

#[tokio::test]
async fn injected_faults_are_retried_to_success() {
    let sim = sim_with(SimConfig {
        seed_counts: vec![("Account".into(), 3000)],
        ..SimConfig::default()
    })
    .await;
    let api = api(&sim);
    let mut faults = sim.faults_config();
    faults.error_503_share = 0.2;
    faults.error_500_share = 0.1;
    faults.drop_share = 0.1;
    faults.lock_row_share = 0.2;
    sim.set_faults(faults);
    for _ in 0..5 {
        let n = api
            .query_all_records("SELECT Id FROM Account", false)
            .await
            .unwrap()
            .len();
        assert_eq!(n, 3000);
    }
    // Updates are safe to replay and retried through lock errors too, five collections
    // to a composite request as well as a lone one.
    let ids: Vec<String> = api
        .query_all_records("SELECT Id FROM Account LIMIT 1100", false)
        .await
        .unwrap()
        .iter()
        .map(|r| r["Id"].as_str().unwrap().to_owned())
        .collect();
    let updates: Vec<_> = ids
        .iter()
        .map(|id| record(&[("Id", json!(id)), ("Description", json!("x"))]))
        .collect();
    let results = api.update_records("Account", &updates).await.unwrap();
    assert_eq!(results.len(), 1100);
}

/// Too many long-running requests at once is not the daily limit: the refused request
/// (`REQUEST_LIMIT_EXCEEDED`, "ConcurrentPerOrgLongTxn Limit exceeded.") was not processed,
/// and is sent again once a running one ends.
#[tokio::test]
async fn the_concurrent_long_request_limit_is_waited_out() {
    let sim = sim_with(SimConfig {
        concurrent_long_requests: 1,
        long_request_after: Duration::from_millis(100),
        ..SimConfig::default()
    })
    .await;
    let api = Api::builder(sim.instance_url(), sim.access_token())
        .retry(RetryPolicy {
            attempts: 30,
            base: Duration::from_millis(20),
            cap: Duration::from_millis(100),
        })
        .build();
    let mut faults = sim.faults_config();
    faults.latency_ms = 800;
    sim.set_faults(faults);
    let url = format!("{}/services/data/v59.0/limits", sim.instance_url());
    let token = sim.access_token().to_owned();
    let slow = tokio::spawn(async move {
        reqwest::Client::new()
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let limits = api.limits().await.expect("the request waits its turn");
    assert!(limits.get("DailyApiRequests").is_some(), "{limits}");
    assert_eq!(slow.await.unwrap(), 200);
}

#[tokio::test]
async fn an_exhausted_daily_limit_is_a_clear_state_not_a_retry_loop() {
    let sim = sim_with(SimConfig::default()).await;
    let api = api(&sim);
    sim.set_api_usage(15_000, None);
    sim.reset_counters();
    sim.set_api_usage(15_000, None);
    let err = api
        .query_all_records("SELECT Id FROM Account", false)
        .await
        .unwrap_err();
    assert!(matches!(err, SalesforceError::LimitExceeded(_)), "{err}");
    assert!(err.to_string().contains("resumes by itself"), "{err}");
}

#[tokio::test]
async fn bulk_query_and_ingest_of_100000_rows() {
    let sim = sim_with(SimConfig {
        seed_counts: vec![("Account".into(), 100_000)],
        ..SimConfig::default()
    })
    .await;
    let api = api(&sim);
    let mut q = api
        .bulk_query(
            "SELECT Id, Name FROM Account",
            false,
            Some(25_000),
            fast_poll(),
        )
        .await
        .unwrap();
    let mut rows = 0usize;
    let mut pages = 0;
    while let Some(csv) = q.next_page().await.unwrap() {
        pages += 1;
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        assert_eq!(
            reader.headers().unwrap().iter().collect::<Vec<_>>(),
            vec!["Id", "Name"]
        );
        rows += reader.records().count();
    }
    assert_eq!(rows, 100_000);
    assert_eq!(pages, 4);

    let mut csv = String::from("Name,Industry\n");
    for i in 0..100_000 {
        csv.push_str(&format!("Loaded {i},Banking\n"));
    }
    csv.push_str(",Banking\n"); // no Name: fails
    let res = api
        .bulk_ingest("Account", "insert", None, csv, fast_poll())
        .await
        .unwrap();
    assert_eq!(res.job.number_records_processed, Some(100_001));
    assert_eq!(res.job.number_records_failed, Some(1));
    assert_eq!(
        csv::Reader::from_reader(res.successful.as_bytes())
            .records()
            .count(),
        100_000
    );
    assert!(
        res.failed.contains("REQUIRED_FIELD_MISSING"),
        "{}",
        &res.failed[..res.failed.len().min(300)]
    );
}
