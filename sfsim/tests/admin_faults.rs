//! The admin API, metadata drift, non-API changes, faults, TLS and the state file.

mod common;

use reqwest::Method;
use serde_json::{Value, json};
use sfsim::{FaultConfig, SimConfig};
use std::time::Duration;

#[tokio::test]
async fn metadata_drift_through_the_admin_api() {
    let t = common::start().await;
    let (_, before) = t
        .json(Method::GET, "/sobjects/Account/describe", None)
        .await;
    let lm = t.get("/sobjects").await.headers()["last-modified"]
        .to_str()
        .unwrap()
        .to_string();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (s, _) = t
        .admin(
            Method::POST,
            "objects/Account/fields",
            json!({"name": "Score__c", "type": "double", "precision": 5, "scale": 1}),
        )
        .await;
    assert_eq!(s, 201);
    let r = t
        .http
        .get(t.url("/sobjects"))
        .bearer_auth(t.sim.access_token())
        .header("If-Modified-Since", &lm)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "metadata changed since");
    let (_, after) = t
        .json(Method::GET, "/sobjects/Account/describe", None)
        .await;
    assert_eq!(
        after["fields"].as_array().unwrap().len(),
        before["fields"].as_array().unwrap().len() + 1
    );
    let id = t
        .create("Account", json!({"Name": "A", "Score__c": 4.5}))
        .await;
    let q = t
        .query("SELECT Score__c FROM Account WHERE Score__c > 4")
        .await;
    assert_eq!(q["records"][0]["Score__c"], 4.5);

    let (s, _) = t
        .admin(Method::DELETE, "objects/Account/fields/Score__c", json!({}))
        .await;
    assert_eq!(s, 204);
    let r = t
        .http
        .get(t.url("/query"))
        .query(&[("q", "SELECT Score__c FROM Account")])
        .bearer_auth(t.sim.access_token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // A new custom object with an external id, a lookup and a validation rule.
    let (s, v) = t
        .admin(
            Method::POST,
            "objects",
            json!({"name": "Project__c", "fields": [
                {"name": "Code__c", "type": "string", "length": 20, "externalId": true, "unique": true},
                {"name": "Budget__c", "type": "currency", "precision": 12, "scale": 2},
                {"name": "Account__c", "type": "reference", "referenceTo": ["Account"], "relationshipName": "Account__r"},
            ], "validationRules": [{"name": "Budget", "condition": "Budget__c > 1000000", "message": "Budget too large", "field": "Budget__c"}]}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let (_, d) = t
        .json(Method::GET, "/sobjects/Project__c/describe", None)
        .await;
    assert_eq!(d["custom"], true);
    assert!(d["keyPrefix"].as_str().unwrap().starts_with('a'));
    let p = t
        .create(
            "Project__c",
            json!({"Name": "P", "Code__c": "P-1", "Account__c": id}),
        )
        .await;
    let (_, v) = t
        .json(
            Method::POST,
            "/sobjects/Project__c",
            Some(json!({"Name": "Q", "Budget__c": 2000000})),
        )
        .await;
    assert_eq!(v[0]["errorCode"], "FIELD_CUSTOM_VALIDATION_EXCEPTION");
    let q = t.query("SELECT Id, Account__r.Name FROM Project__c").await;
    assert_eq!(q["records"][0]["Id"], json!(p));
    assert_eq!(q["records"][0]["Account__r"]["Name"], "A");
    let (_, v) = t
        .admin(
            Method::POST,
            "seed",
            json!({"object": "Project__c", "count": 5}),
        )
        .await;
    assert_eq!(v["created"], 5);
    let (s, _) = t
        .admin(Method::DELETE, "objects/Project__c", json!({}))
        .await;
    assert_eq!(s, 204);
    let (s, _) = t
        .json(Method::GET, "/sobjects/Project__c/describe", None)
        .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn non_api_changes_move_only_system_modstamp() {
    let t = common::start().await;
    let id = t.create("Account", json!({"Name": "A"})).await;
    let soql = format!(
        "SELECT LastModifiedDate, SystemModstamp, NumberOfEmployees FROM Account WHERE Id = '{id}'"
    );
    let before = t.query(&soql).await["records"][0].clone();
    // Stamps are whole seconds: touch in the next one.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (s, _) = t
        .admin(
            Method::POST,
            "touch",
            json!({"id": id, "set": {"NumberOfEmployees": 12}}),
        )
        .await;
    assert_eq!(s, 204);
    let after = t.query(&soql).await["records"][0].clone();
    assert_eq!(after["LastModifiedDate"], before["LastModifiedDate"]);
    assert!(after["SystemModstamp"].as_str().unwrap() > before["SystemModstamp"].as_str().unwrap());
    assert_eq!(after["NumberOfEmployees"], 12);
    let (_, v) = t.admin(Method::POST, "recycle-bin/purge", json!({})).await;
    assert_eq!(v["purged"], 0);
}

#[tokio::test]
async fn counters_limits_and_session_expiry_through_admin() {
    let t = common::start().await;
    t.get("/limits").await;
    t.query("SELECT Id FROM Account").await;
    let (_, c) = t.admin(Method::GET, "counters", json!({})).await;
    assert_eq!(c["api_calls"], 2);
    assert_eq!(c["by_kind"]["query"], 1);
    let (_, _) = t
        .admin(Method::POST, "limits", json!({"used": 99, "limit": 100}))
        .await;
    let r = t.get("/limits").await;
    assert_eq!(r.headers()["sforce-limit-info"], "api-usage=100/100");
    let r = t.get("/limits").await;
    assert_eq!(r.status(), 403);
    t.admin(Method::POST, "counters/reset", json!({})).await;
    assert_eq!(t.get("/limits").await.status(), 200);
    t.admin(Method::POST, "sessions/expire", json!({})).await;
    assert_eq!(t.get("/limits").await.status(), 401);
    let (_, v) = t
        .admin(
            Method::POST,
            "tokens",
            json!({"username": "sales@sfsim.example"}),
        )
        .await;
    let r = t
        .http
        .get(t.url("/limits"))
        .bearer_auth(v["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

async fn statuses(t: &common::T, n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        match t
            .http
            .get(t.url("/limits"))
            .bearer_auth(t.sim.access_token())
            .send()
            .await
        {
            Ok(r) => {
                let s = r.status().as_u16();
                out.push(if r.bytes().await.is_err() { 0 } else { s });
            }
            Err(_) => out.push(0),
        }
    }
    out
}

#[tokio::test]
async fn faults_are_deterministic_from_the_seed() {
    let t = common::start().await;
    let cfg = FaultConfig {
        seed: 42,
        error_503_share: 0.2,
        error_500_share: 0.1,
        drop_share: 0.1,
        ..FaultConfig::default()
    };
    t.sim.set_faults(cfg.clone());
    let a = statuses(&t, 40).await;
    t.sim.set_faults(cfg);
    let b = statuses(&t, 40).await;
    assert_eq!(a, b);
    assert!(
        a.contains(&503) && a.contains(&500) && a.contains(&200) && a.contains(&0),
        "{a:?}"
    );
    let r = loop {
        let r = t.get("/limits").await;
        if r.status() == 503 {
            break r;
        }
    };
    let v: Value = r.json().await.unwrap();
    assert_eq!(v[0]["errorCode"], "SERVER_UNAVAILABLE");

    // UNABLE_TO_LOCK_ROW on every write, through the admin API.
    let (s, _) = t
        .admin(
            Method::PUT,
            "faults",
            json!({"seed": 1, "lock_row_share": 1.0}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, v) = t
        .json(
            Method::POST,
            "/sobjects/Account",
            Some(json!({"Name": "x"})),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(v[0]["errorCode"], "UNABLE_TO_LOCK_ROW");
    let (_, v) = t
        .json(
            Method::POST,
            "/composite/sobjects",
            Some(json!({"records": [{"attributes": {"type": "Account"}, "Name": "y"}]})),
        )
        .await;
    assert_eq!(v[0]["errors"][0]["statusCode"], "UNABLE_TO_LOCK_ROW");

    // Early session expiry: every 3rd authenticated request expires its session.
    t.sim.set_faults(FaultConfig {
        expire_session_every: 3,
        ..FaultConfig::default()
    });
    assert_eq!(t.get("/limits").await.status(), 200);
    assert_eq!(t.get("/limits").await.status(), 200);
    assert_eq!(t.get("/limits").await.status(), 401);
    assert_eq!(t.get("/limits").await.status(), 401);
}

#[tokio::test]
async fn late_visibility_hides_fresh_changes_from_queries() {
    let t = common::start().await;
    let id = t.create("Account", json!({"Name": "Early"})).await;
    t.sim.set_faults(FaultConfig {
        late_visibility_ms: 600_000,
        ..FaultConfig::default()
    });
    t.send(
        Method::PATCH,
        &format!("/sobjects/Account/{id}"),
        Some(json!({"Name": "Late"})),
    )
    .await;
    t.create("Account", json!({"Name": "Fresh"})).await;
    let q = t.query("SELECT Name FROM Account ORDER BY Name").await;
    assert_eq!(
        q["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["Name"].clone())
            .collect::<Vec<_>>(),
        vec![json!("Early")]
    );
    let (s, _) = t
        .admin(Method::POST, "late-changes/reveal", json!({}))
        .await;
    assert_eq!(s, 204);
    let q = t.query("SELECT Name FROM Account ORDER BY Name").await;
    assert_eq!(
        q["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["Name"].clone())
            .collect::<Vec<_>>(),
        vec![json!("Fresh"), json!("Late")]
    );
}

#[tokio::test]
async fn change_generator_and_device_approval_via_admin() {
    let t = common::start().await;
    t.sim.seed_records("Account", 20, 1).unwrap();
    let (s, _) = t
        .admin(
            Method::POST,
            "changes/start",
            json!({"per_second": 200.0, "objects": ["Account"], "seed": 3}),
        )
        .await;
    assert_eq!(s, 204);
    // Wait (bounded) until the generator has visibly changed something.
    let mut changed = false;
    for _ in 0..200 {
        changed = t.sim.with_org(|o| {
            let t = o.table("Account").unwrap();
            let (c, m) = (t.slot("CreatedDate"), t.slot("LastModifiedDate"));
            t.records.len() != 20
                || t.records
                    .values()
                    .any(|r| r.deleted.is_some() || r.get(c) != r.get(m))
        });
        if changed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    t.admin(Method::POST, "changes/stop", json!({})).await;
    assert!(changed, "the change generator changed records");

    let cid = t.sim.info.client_id.clone();
    let r = t
        .http
        .post(t.base("/services/oauth2/token"))
        .form(&[
            ("response_type", "device_code"),
            ("client_id", cid.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    let (s, _) = t
        .admin(
            Method::POST,
            "device/approve",
            json!({"user_code": v["user_code"]}),
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = t
        .admin(Method::POST, "device/approve", json!({"user_code": "NOPE"}))
        .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn serves_tls_with_a_generated_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SimConfig {
        tls: true,
        cert_dir: Some(dir.path().to_path_buf()),
        ..SimConfig::default()
    };
    let sim = sfsim::Sim::start(cfg).await.unwrap();
    assert!(sim.instance_url().starts_with("https://localhost:"));
    let pem = std::fs::read(sim.info.ca_cert_path.as_ref().unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let r = client
        .get(format!("{}/services/data/v59.0/limits", sim.instance_url()))
        .bearer_auth(sim.access_token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn state_file_keeps_the_org_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("org.json");
    let cfg = SimConfig {
        state_file: Some(path.clone()),
        seed_counts: vec![("Account".into(), 3)],
        ..SimConfig::default()
    };
    let sim = sfsim::Sim::start(cfg.clone()).await.unwrap();
    let org_id = sim.info.org_id.clone();
    sim.shutdown().await.unwrap();
    assert!(path.exists());
    let sim = sfsim::Sim::start(SimConfig {
        seed_counts: vec![],
        ..cfg
    })
    .await
    .unwrap();
    assert_eq!(sim.info.org_id, org_id);
    let n = sim.with_org(|o| o.table("Account").unwrap().live().count());
    assert_eq!(n, 3);
    let dup = sim.with_org(|o| {
        let ctx = o.ctx(&o.admin_user_id.clone());
        o.insert(
            "Account",
            &[
                ("Name".into(), sfsim::store::Raw::Json(json!("x"))),
                (
                    "External_Id__c".into(),
                    sfsim::store::Raw::Json(json!("ACC-000000001")),
                ),
            ],
            &ctx,
        )
    });
    assert_eq!(
        dup.unwrap_err().status_code,
        "DUPLICATE_VALUE",
        "unique index rebuilt after load"
    );
}

#[tokio::test]
async fn recycle_bin_retention_window_purges_old_deletions() {
    let t = common::start().await;
    let id = t.create("Account", json!({"Name": "Doomed"})).await;
    t.send(Method::DELETE, &format!("/sobjects/Account/{id}"), None)
        .await;
    let all = |t: &common::T| {
        t.http
            .get(t.url("/queryAll"))
            .query(&[("q", "SELECT COUNT() FROM Account")])
            .bearer_auth(t.sim.access_token())
            .send()
    };
    let v: Value = all(&t).await.unwrap().json().await.unwrap();
    assert_eq!(v["totalSize"], 1);
    let (s, _) = t
        .admin(Method::POST, "recycle-bin/retention", json!({"days": 0}))
        .await;
    assert_eq!(s, 204);
    let v: Value = all(&t).await.unwrap().json().await.unwrap();
    assert_eq!(v["totalSize"], 0, "a zero-day recycle bin keeps nothing");
}

#[tokio::test]
async fn demo_config_builds_a_related_org() {
    let t = common::start_with(SimConfig::demo()).await;
    let q = t
        .query("SELECT COUNT() FROM Contact WHERE Account.Name != null")
        .await;
    assert!(q["totalSize"].as_u64().unwrap() > 300, "{q}");
    let q = t
        .query("SELECT Id, Total__c, Account__r.Name FROM Invoice__c WHERE Total__c > 0 LIMIT 5")
        .await;
    assert_eq!(q["records"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn autosave_writes_the_state_file_while_serving() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("org.json");
    let cfg = SimConfig {
        state_file: Some(path.clone()),
        autosave_every: Some(Duration::from_millis(50)),
        ..SimConfig::default()
    };
    let t = common::start_with(cfg).await;
    let id = t.create("Account", json!({"Name": "Saved"})).await;
    let mut saved = false;
    for _ in 0..200 {
        if std::fs::read_to_string(&path).is_ok_and(|s| s.contains(&id)) {
            saved = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        saved,
        "the new record reached the state file without a shutdown"
    );
}

#[tokio::test]
async fn in_process_changes_are_uncounted() {
    let t = common::start().await;
    let id = t.sim.create("Account", json!({"Name": "Inproc"})).unwrap();
    t.sim.update(&id, json!({"Phone": "9"})).unwrap();
    let rows = t
        .sim
        .query("SELECT Name, Phone FROM Account", false)
        .unwrap();
    assert_eq!(
        (rows[0]["Name"].clone(), rows[0]["Phone"].clone()),
        (json!("Inproc"), json!("9"))
    );
    assert_eq!(
        t.sim.create("Account", json!({})).unwrap_err().status_code,
        "REQUIRED_FIELD_MISSING"
    );
    t.sim.delete(&id).unwrap();
    assert!(
        t.sim
            .query("SELECT Id FROM Account", false)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        t.sim.query("SELECT Id FROM Account", true).unwrap().len(),
        1
    );
    assert_eq!(t.sim.counters().total_calls, 0);
    assert_eq!(
        t.sim
            .query("SELECT Nope FROM Account", false)
            .unwrap_err()
            .code,
        "INVALID_FIELD"
    );
}

#[tokio::test]
async fn tokens_expire_after_their_lifetime_and_latency_is_added() {
    let cfg = SimConfig {
        token_lifetime: Duration::from_millis(200),
        ..SimConfig::default()
    };
    let t = common::start_with(cfg).await;
    assert_eq!(t.get("/limits").await.status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = t.get("/limits").await;
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v[0]["errorCode"], "INVALID_SESSION_ID");

    let t = common::start().await;
    t.sim.set_faults(FaultConfig {
        latency_ms: 20,
        ..FaultConfig::default()
    });
    assert_eq!(t.get("/limits").await.status(), 200, "slow but fine");
}

#[tokio::test]
async fn changing_a_field_type_converts_existing_values() {
    let t = common::start().await;
    t.create(
        "Account",
        json!({"Name": "A", "NumberOfEmployees": 42, "AccountNumber": "123"}),
    )
    .await;
    t.create("Account", json!({"Name": "B", "AccountNumber": "abc"}))
        .await;
    let (s, _) = t
        .admin(
            Method::POST,
            "objects/Account/fields",
            json!({"name": "NumberOfEmployees", "type": "string", "length": 10}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, _) = t
        .admin(
            Method::POST,
            "objects/Account/fields",
            json!({"name": "AccountNumber", "type": "int", "precision": 9}),
        )
        .await;
    assert_eq!(s, 201);
    let q = t
        .query("SELECT Name, NumberOfEmployees, AccountNumber FROM Account ORDER BY Name")
        .await;
    assert_eq!(q["records"][0]["NumberOfEmployees"], "42");
    assert_eq!(q["records"][0]["AccountNumber"], 123);
    assert_eq!(q["records"][1]["AccountNumber"], Value::Null);
    let (_, d) = t
        .json(Method::GET, "/sobjects/Account/describe", None)
        .await;
    let f = d["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "NumberOfEmployees")
        .unwrap()
        .clone();
    assert_eq!(f["type"], "string");
}

#[tokio::test]
async fn revoking_all_tokens_blocks_the_app() {
    let t = common::start().await;
    assert_eq!(t.get("/limits").await.status(), 200);
    let (s, _) = t.admin(Method::POST, "tokens/revoke-all", json!({})).await;
    assert_eq!(s, 204);
    assert_eq!(t.get("/limits").await.status(), 401);
}

/// getUpdated's `latestDateCovered`: "If Salesforce executes a long-running transaction on
/// your instance, the value in this field is the start time of that long-running transaction
/// until it completes." And "the specified startDate cannot be the same value as, or later
/// than, the specified endDate value. Otherwise, the API returns an INVALID_REPLICATION_DATE
/// error" (the seconds are ignored, so one minute is the same value).
#[tokio::test]
async fn latest_date_covered_waits_for_a_long_transaction() {
    use chrono::{Duration, DurationRound, Utc};
    let t = common::start().await;
    let id = t.create("Account", json!({"Name": "Early"})).await;
    let updated = |start: chrono::DateTime<Utc>, end: chrono::DateTime<Utc>| {
        let fmt = |d: chrono::DateTime<Utc>| d.format("%Y-%m-%dT%H:%M:%S+00:00").to_string();
        let (start, end) = (fmt(start), fmt(end));
        let t = &t;
        async move {
            let r = t
                .http
                .get(t.url("/sobjects/Account/updated/"))
                .query(&[("start", &start), ("end", &end)])
                .bearer_auth(t.sim.access_token())
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };
    let now = Utc::now();
    let minute = now.duration_trunc(Duration::minutes(1)).unwrap();
    let (s, v) = updated(now - Duration::minutes(10), now).await;
    assert_eq!(s, 200);
    assert_eq!(
        v["latestDateCovered"],
        json!(sfsim::value::fmt_datetime(&minute))
    );

    // A change whose transaction began seven minutes ago and has not committed.
    t.sim.set_faults(FaultConfig {
        late_visibility_ms: 600_000,
        ..FaultConfig::default()
    });
    t.send(
        Method::PATCH,
        &format!("/sobjects/Account/{id}"),
        Some(json!({"Name": "Late"})),
    )
    .await;
    let began = minute - Duration::minutes(7);
    t.sim.with_org(|o| {
        let table = o.table_mut("Account").unwrap();
        let slot = table.slot("SystemModstamp");
        let rec = table.records.get_mut(&id).unwrap();
        rec.set(
            slot,
            sfsim::value::Value::DateTime(began + Duration::seconds(12)),
        );
    });
    let (_, v) = updated(now - Duration::minutes(10), now).await;
    assert_eq!(
        v["latestDateCovered"],
        json!(sfsim::value::fmt_datetime(&began))
    );
    assert_eq!(v["ids"], json!([]), "the change is not visible yet");
    t.sim.reveal_late_changes();
    let (_, v) = updated(now - Duration::minutes(10), now).await;
    assert_eq!(
        v["latestDateCovered"],
        json!(sfsim::value::fmt_datetime(&minute))
    );
    assert_eq!(v["ids"], json!([id]));

    let (s, v) = updated(
        minute + Duration::seconds(5),
        minute + Duration::seconds(40),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(v[0]["errorCode"], "INVALID_REPLICATION_DATE");
}
