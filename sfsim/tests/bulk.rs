//! Bulk API 2.0 ingest and query jobs over HTTP.

mod common;

use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

async fn wait(t: &common::T, path: &str) -> Value {
    for _ in 0..200 {
        let (_, v) = t.json(Method::GET, path, None).await;
        if matches!(
            v["state"].as_str(),
            Some("JobComplete" | "Failed" | "Aborted")
        ) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("job {path} did not finish");
}

async fn csv(t: &common::T, path: &str) -> (reqwest::header::HeaderMap, String) {
    let r = t
        .http
        .get(t.url(path))
        .bearer_auth(t.sim.access_token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    (h, r.text().await.unwrap())
}

async fn ingest(t: &common::T, spec: Value, data: &str) -> (String, Value) {
    let (s, job) = t.json(Method::POST, "/jobs/ingest", Some(spec)).await;
    assert_eq!(s, 200, "{job}");
    assert_eq!(job["state"], "Open");
    let id = job["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("750"));
    assert_eq!(
        job["contentUrl"],
        format!("services/data/v59.0/jobs/ingest/{id}/batches")
    );
    let r = t
        .http
        .put(t.base(&format!("/{}", job["contentUrl"].as_str().unwrap())))
        .bearer_auth(t.sim.access_token())
        .header("content-type", "text/csv")
        .body(data.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let (s, v) = t
        .json(
            Method::PATCH,
            &format!("/jobs/ingest/{id}"),
            Some(json!({"state": "UploadComplete"})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["state"], "UploadComplete");
    let done = wait(t, &format!("/jobs/ingest/{id}")).await;
    (id, done)
}

#[tokio::test]
async fn ingest_all_operations_with_results() {
    let t = common::start().await;
    let (id, done) = ingest(&t, json!({"object": "Account", "operation": "insert", "contentType": "CSV", "lineEnding": "LF"}), "Name,External_Id__c,Phone,Description\nAcme,B-1,111,\"multi\nline, \"\"quoted\"\"\"\n,B-2,222,\nBeta,B-3,,x\n").await;
    assert_eq!(done["state"], "JobComplete");
    assert_eq!(done["numberRecordsProcessed"], 3);
    assert_eq!(done["numberRecordsFailed"], 1);
    assert_eq!(done["jobType"], "V2Ingest");
    let (_, ok) = csv(&t, &format!("/jobs/ingest/{id}/successfulResults/")).await;
    let lines: Vec<&str> = ok.lines().collect();
    assert_eq!(
        lines[0],
        "\"sf__Id\",\"sf__Created\",\"Name\",\"External_Id__c\",\"Phone\",\"Description\""
    );
    assert!(ok.contains("\"true\",\"Acme\""));
    let (_, failed) = csv(&t, &format!("/jobs/ingest/{id}/failedResults/")).await;
    assert!(failed.starts_with("\"sf__Id\",\"sf__Error\",\"Name\""));
    assert!(
        failed.contains("REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --"),
        "{failed}"
    );
    let (_, un) = csv(&t, &format!("/jobs/ingest/{id}/unprocessedrecords/")).await;
    assert_eq!(un.lines().count(), 1);
    let q = t
        .query("SELECT Name, Phone, Description FROM Account WHERE External_Id__c = 'B-1'")
        .await;
    assert_eq!(q["records"][0]["Description"], "multi\nline, \"quoted\"");

    // update: empty = unchanged, #N/A = null
    let acme = q["records"][0]["attributes"]["url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let (_, done) = ingest(
        &t,
        json!({"object": "Account", "operation": "update"}),
        &format!("Id,Phone,Description\n{acme},,#N/A\n"),
    )
    .await;
    assert_eq!(done["numberRecordsFailed"], 0);
    let q = t
        .query("SELECT Phone, Description FROM Account WHERE External_Id__c = 'B-1'")
        .await;
    assert_eq!(q["records"][0]["Phone"], "111");
    assert_eq!(q["records"][0]["Description"], Value::Null);

    // upsert by external id, with a semicolon delimiter and CRLF
    let (id, done) = ingest(&t, json!({"object": "Account", "operation": "upsert", "externalIdFieldName": "External_Id__c", "columnDelimiter": "SEMICOLON", "lineEnding": "CRLF"}), "External_Id__c;Name\r\nB-1;Acme 2\r\nB-9;Nine\r\n").await;
    assert_eq!(done["numberRecordsFailed"], 0, "{done}");
    let (_, ok) = csv(&t, &format!("/jobs/ingest/{id}/successfulResults/")).await;
    assert!(
        ok.contains("\"false\";\"B-1\"") && ok.contains("\"true\";\"B-9\""),
        "{ok}"
    );
    assert!(ok.contains("\r\n"));

    // delete and hardDelete
    let q = t.query("SELECT Id FROM Account ORDER BY Name").await;
    let ids: Vec<String> = q["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["Id"].as_str().unwrap().to_string())
        .collect();
    let (_, done) = ingest(
        &t,
        json!({"object": "Account", "operation": "delete"}),
        &format!("Id\n{}\n001000000000000AAA\n", ids[0]),
    )
    .await;
    assert_eq!(
        (
            done["numberRecordsProcessed"].as_u64(),
            done["numberRecordsFailed"].as_u64()
        ),
        (Some(2), Some(1))
    );
    let (_, done) = ingest(
        &t,
        json!({"object": "Account", "operation": "hardDelete"}),
        &format!("Id\n{}\n", ids[1]),
    )
    .await;
    assert_eq!(done["numberRecordsFailed"], 0);
    let r = t
        .http
        .get(t.url("/queryAll"))
        .query(&[("q", "SELECT COUNT() FROM Account")])
        .bearer_auth(t.sim.access_token())
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["totalSize"], 2, "one soft-deleted, one gone for good");

    // bad header → Failed
    let (_, done) = ingest(
        &t,
        json!({"object": "Account", "operation": "insert"}),
        "Nope__c\nx\n",
    )
    .await;
    assert_eq!(done["state"], "Failed");
    assert!(done["errorMessage"].as_str().unwrap().contains("Nope__c"));

    let (s, v) = t
        .json(
            Method::POST,
            "/jobs/ingest",
            Some(json!({"object": "Nope", "operation": "insert"})),
        )
        .await;
    assert_eq!(s, 400);
    assert!(v[0]["errorCode"].is_string());
    let (_, list) = t.json(Method::GET, "/jobs/ingest", None).await;
    assert!(list["records"].as_array().unwrap().len() >= 6);
}

#[tokio::test]
async fn ingest_state_machine_and_abort() {
    let t = common::start().await;
    let (_, job) = t
        .json(
            Method::POST,
            "/jobs/ingest",
            Some(json!({"object": "Contact", "operation": "insert"})),
        )
        .await;
    let id = job["id"].as_str().unwrap().to_string();
    let (s, v) = t
        .json(
            Method::PATCH,
            &format!("/jobs/ingest/{id}"),
            Some(json!({"state": "Aborted"})),
        )
        .await;
    assert_eq!((s.as_u16(), v["state"].as_str()), (200, Some("Aborted")));
    let r = t
        .http
        .put(t.url(&format!("/jobs/ingest/{id}/batches")))
        .bearer_auth(t.sim.access_token())
        .body("LastName\nx\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let (s, v) = t
        .json(
            Method::PATCH,
            &format!("/jobs/ingest/{id}"),
            Some(json!({"state": "UploadComplete"})),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(v[0]["errorCode"], "INVALIDJOBSTATE");
    let r = t
        .send(Method::DELETE, &format!("/jobs/ingest/{id}"), None)
        .await;
    assert_eq!(r.status(), 204);
    let (s, _) = t
        .json(Method::GET, &format!("/jobs/ingest/{id}"), None)
        .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn query_jobs_page_with_locators() {
    let t = common::start().await;
    t.sim.seed_records("Account", 25, 3).unwrap();
    t.sim.seed_records("Contact", 10, 3).unwrap();
    let (s, job) = t.json(Method::POST, "/jobs/query", Some(json!({"operation": "query", "query": "SELECT Id, LastName, Account.Name FROM Contact ORDER BY LastName"}))).await;
    assert_eq!(s, 200, "{job}");
    assert_eq!(job["state"], "UploadComplete");
    let id = job["id"].as_str().unwrap().to_string();
    let done = wait(&t, &format!("/jobs/query/{id}")).await;
    assert_eq!(done["jobType"], "V2Query");
    assert_eq!(done["numberRecordsProcessed"], 10);

    let mut locator: Option<String> = None;
    let mut rows = 0;
    let mut pages = 0;
    loop {
        let path = match &locator {
            Some(l) => format!("/jobs/query/{id}/results?maxRecords=4&locator={l}"),
            None => format!("/jobs/query/{id}/results?maxRecords=4"),
        };
        let (h, body) = csv(&t, &path).await;
        pages += 1;
        let mut lines = body.lines();
        assert_eq!(
            lines.next().unwrap(),
            "\"Id\",\"LastName\",\"Account.Name\""
        );
        let n = lines.count();
        assert_eq!(h["sforce-numberofrecords"].to_str().unwrap(), n.to_string());
        rows += n;
        let l = h["sforce-locator"].to_str().unwrap().to_string();
        if l == "null" {
            break;
        }
        locator = Some(l);
    }
    assert_eq!((rows, pages), (10, 3));

    // queryAll sees deleted rows; COUNT() is refused.
    let a = t.query("SELECT Id FROM Account LIMIT 1").await["records"][0]["Id"]
        .as_str()
        .unwrap()
        .to_string();
    t.send(Method::DELETE, &format!("/sobjects/Account/{a}"), None)
        .await;
    let (_, job) = t.json(Method::POST, "/jobs/query", Some(json!({"operation": "queryAll", "query": "SELECT Id, IsDeleted FROM Account WHERE IsDeleted = true"}))).await;
    let id = job["id"].as_str().unwrap().to_string();
    wait(&t, &format!("/jobs/query/{id}")).await;
    let (h, body) = csv(&t, &format!("/jobs/query/{id}/results")).await;
    assert_eq!(h["sforce-locator"], "null");
    assert!(body.contains("\"true\""));
    let (s, _) = t
        .json(
            Method::POST,
            "/jobs/query",
            Some(json!({"operation": "query", "query": "SELECT COUNT() FROM Account"})),
        )
        .await;
    assert_eq!(s, 400);
    let (s, v) = t
        .json(
            Method::POST,
            "/jobs/query",
            Some(json!({"operation": "query", "query": "SELECT Id FROM Acount"})),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(v[0]["errorCode"], "INVALID_TYPE");
    assert_eq!(t.sim.counters().bulk_query_jobs, 2);
}

#[tokio::test]
async fn parents_by_external_id_in_csv_and_json() {
    let t = common::start().await;
    let acc = t
        .create(
            "Account",
            json!({"Name": "Parent", "External_Id__c": "P-1"}),
        )
        .await;
    let (_, done) = ingest(
        &t,
        json!({"object": "Contact", "operation": "insert"}),
        "LastName,Account.External_Id__c\nKid,P-1\nOrphan,\nLost,P-404\n",
    )
    .await;
    assert_eq!(
        (
            done["numberRecordsProcessed"].as_u64(),
            done["numberRecordsFailed"].as_u64()
        ),
        (Some(3), Some(1)),
        "{done}"
    );
    let q = t
        .query("SELECT LastName, AccountId FROM Contact ORDER BY LastName")
        .await;
    assert_eq!(q["records"][0]["AccountId"], json!(acc));
    assert_eq!(q["records"][1]["AccountId"], Value::Null);
    let id = t
        .create(
            "Contact",
            json!({"LastName": "Json", "Account": {"External_Id__c": "P-1"}}),
        )
        .await;
    let q = t
        .query(&format!(
            "SELECT Account.Name FROM Contact WHERE Id = '{id}'"
        ))
        .await;
    assert_eq!(q["records"][0]["Account"]["Name"], "Parent");
    let (s, v) = t
        .json(
            Method::POST,
            "/sobjects/Contact",
            Some(json!({"LastName": "X", "Account": {"External_Id__c": "nope"}})),
        )
        .await;
    assert_eq!(s, 400);
    assert!(
        v[0]["message"]
            .as_str()
            .unwrap()
            .contains("Foreign key external ID: nope not found"),
        "{v}"
    );
}

#[tokio::test]
async fn large_uploads_are_accepted() {
    let t = common::start().await;
    let mut csv = String::from("Name,Description\n");
    let filler = "x".repeat(200);
    for i in 0..20_000 {
        csv.push_str(&format!("Big {i},{filler}\n"));
    }
    assert!(csv.len() > 4 * 1024 * 1024);
    let (_, done) = ingest(
        &t,
        json!({"object": "Account", "operation": "insert"}),
        &csv,
    )
    .await;
    assert_eq!(
        (
            done["numberRecordsProcessed"].as_u64(),
            done["numberRecordsFailed"].as_u64()
        ),
        (Some(20_000), Some(0))
    );
}
