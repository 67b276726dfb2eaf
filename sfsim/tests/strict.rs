//! Where sfsim follows Salesforce even when a kinder simulator would hide client bugs.

mod common;

use serde_json::json;

/// "dateTime values are stored with a precision of one second" — Salesforce keeps whole
/// seconds: a written `.123` reads back as `.000`, and records written within one second
/// share one SystemModstamp (a data load stamps thousands alike).
#[tokio::test]
async fn datetimes_are_whole_seconds_and_stamps_tie() {
    let t = common::start().await;
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(
            t.create("Account", json!({"Name": format!("tie-{i}")}))
                .await,
        );
    }
    let v = t
        .query("SELECT Id, SystemModstamp, CreatedDate FROM Account WHERE Name LIKE 'tie-%' ORDER BY SystemModstamp, Id")
        .await;
    let records = v["records"].as_array().unwrap();
    assert_eq!(records.len(), 20);
    for r in records {
        let stamp = r["SystemModstamp"].as_str().unwrap();
        assert!(stamp.ends_with(".000+0000"), "{stamp}");
    }
    let stamps: std::collections::BTreeSet<&str> = records
        .iter()
        .map(|r| r["SystemModstamp"].as_str().unwrap())
        .collect();
    assert!(
        stamps.len() < 20,
        "records written together share stamps: {stamps:?}"
    );
    // A written datetime keeps its seconds only.
    let id = t
        .create(
            "Invoice__c",
            json!({"Paid_At__c": "2024-05-01T10:20:30.123+0000"}),
        )
        .await;
    let v = t
        .query(&format!(
            "SELECT Paid_At__c FROM Invoice__c WHERE Id = '{id}'"
        ))
        .await;
    assert_eq!(
        v["records"][0]["Paid_At__c"],
        "2024-05-01T10:20:30.000+0000"
    );
}

/// A raw GET under the versioned REST root: status and body text as sent.
async fn raw_get(t: &common::T, path: &str) -> (u16, String) {
    let r = t
        .http
        .get(t.url(path))
        .bearer_auth(t.sim.access_token())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Runs a Bulk API 2.0 query job to the end and returns its first results page.
async fn bulk_query(t: &common::T, soql: &str) -> String {
    let (s, job) = t
        .json(
            reqwest::Method::POST,
            "/jobs/query",
            Some(json!({"operation": "query", "query": soql})),
        )
        .await;
    assert_eq!(s, 200, "{job}");
    let id = job["id"].as_str().unwrap().to_string();
    for _ in 0..400 {
        let (_, v) = t
            .json(reqwest::Method::GET, &format!("/jobs/query/{id}"), None)
            .await;
        if v["state"] == "JobComplete" {
            let (s, text) = raw_get(t, &format!("/jobs/query/{id}/results")).await;
            assert_eq!(s, 200, "{text}");
            return text;
        }
        assert_ne!(v["state"], "Failed", "{v}");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("query job {id} did not finish");
}

/// Salesforce knowledge article 000221617, "Why do I see exponential values for custom
/// number field?": values of up to 7 digits come back plain (`1234567.0`), but "for custom
/// number field with digits 8 - 14 (such as 12345678), API values returned will be
/// exponential values (1.2345678E7)" — "not just through SOAP API, but Rest API or SOQL as
/// well"; numbers are Java doubles, written as `Double.toString` writes them. Bulk exports
/// carry the same form (a Bulk CSV export shows `1.6147805824397E13` for 16147805824397,
/// forcedotcom/cli#3367). Integer (`int`) fields stay whole numbers.
#[tokio::test]
async fn large_doubles_come_back_in_scientific_notation() {
    let t = common::start().await;
    let big = t
        .create(
            "Account",
            json!({"Name": "sci-big", "AnnualRevenue": 35000000, "NumberOfEmployees": 35000000}),
        )
        .await;
    let small = t
        .create(
            "Account",
            json!({"Name": "sci-small", "AnnualRevenue": 1234567}),
        )
        .await;
    // Input in scientific notation is a number like any other.
    let sci_in = t
        .create(
            "Account",
            json!({"Name": "sci-in", "AnnualRevenue": 1.25e8}),
        )
        .await;
    let q = |id: &str| {
        format!("/query?q=SELECT+AnnualRevenue,NumberOfEmployees+FROM+Account+WHERE+Id='{id}'")
    };
    let (s, text) = raw_get(&t, &q(&big)).await;
    assert_eq!(s, 200, "{text}");
    assert!(text.contains(r#""AnnualRevenue":3.5E7"#), "{text}");
    assert!(text.contains(r#""NumberOfEmployees":35000000"#), "{text}");
    let (_, text) = raw_get(&t, &q(&small)).await;
    assert!(text.contains(r#""AnnualRevenue":1234567.0"#), "{text}");
    let (_, text) = raw_get(&t, &q(&sci_in)).await;
    assert!(text.contains(r#""AnnualRevenue":1.25E8"#), "{text}");
    // A record read by id renders alike.
    let (_, text) = raw_get(&t, &format!("/sobjects/Account/{big}")).await;
    assert!(text.contains(r#""AnnualRevenue":3.5E7"#), "{text}");

    let csv = bulk_query(
        &t,
        "SELECT Name, AnnualRevenue, NumberOfEmployees FROM Account WHERE Name LIKE 'sci-%' ORDER BY Name",
    )
    .await;
    assert!(csv.contains(r#""sci-big","3.5E7","35000000""#), "{csv}");
    assert!(csv.contains(r#""sci-small","1234567","#), "{csv}");
    assert!(csv.contains(r#""sci-in","1.25E8","#), "{csv}");
}

/// Creates an ingest job, uploads each of `uploads`, and asks to close it: the close's
/// status and body, and the job id.
async fn ingest_job(
    t: &common::T,
    spec: serde_json::Value,
    uploads: &[&str],
) -> (u16, serde_json::Value, String) {
    let (s, job) = t
        .json(reqwest::Method::POST, "/jobs/ingest", Some(spec))
        .await;
    assert_eq!(s, 200, "{job}");
    let id = job["id"].as_str().unwrap().to_string();
    for data in uploads {
        let r = t
            .http
            .put(t.url(&format!("/jobs/ingest/{id}/batches")))
            .bearer_auth(t.sim.access_token())
            .header("content-type", "text/csv")
            .body(data.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "each upload itself is taken");
    }
    let (s, v) = t
        .json(
            reqwest::Method::PATCH,
            &format!("/jobs/ingest/{id}"),
            Some(json!({"state": "UploadComplete"})),
        )
        .await;
    (s.as_u16(), v, id)
}

async fn wait_job(t: &common::T, path: &str) -> serde_json::Value {
    for _ in 0..400 {
        let (_, v) = t.json(reqwest::Method::GET, path, None).await;
        if matches!(
            v["state"].as_str(),
            Some("JobComplete" | "Failed" | "Aborted")
        ) {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("job {path} did not finish");
}

/// Bulk API 2.0 takes one upload per ingest job ("Upload Job Data": "A request can provide
/// CSV data that does not in total exceed 150 MB"; the job is one CSV file that Salesforce
/// splits into batches itself). A second `PUT` is answered 201, but closing the job then
/// fails with `INVALIDJOB` — as observed: "Found multipe contents for job: <750…>, please
/// 'Close' / 'Abort' / 'Delete' the current Job then create a new Job and make sure you only
/// do 'PUT' once on a given Job." The job stays open and can be aborted.
#[tokio::test]
async fn an_ingest_job_takes_one_upload() {
    let t = common::start().await;
    let spec = json!({"object": "Account", "operation": "insert", "lineEnding": "LF"});
    let (s, v, id) = ingest_job(&t, spec.clone(), &["Name\nOne\n", "Name\nTwo\n"]).await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v[0]["errorCode"], "INVALIDJOB");
    let message = v[0]["message"].as_str().unwrap();
    assert!(message.contains("only do 'PUT' once"), "{message}");
    assert!(message.contains(&id[..15]), "{message}");
    let (_, job) = t
        .json(reqwest::Method::GET, &format!("/jobs/ingest/{id}"), None)
        .await;
    assert_eq!(job["state"], "Open");
    let (s, job) = t
        .json(
            reqwest::Method::PATCH,
            &format!("/jobs/ingest/{id}"),
            Some(json!({"state": "Aborted"})),
        )
        .await;
    assert_eq!((s.as_u16(), job["state"].as_str()), (200, Some("Aborted")));
    assert!(
        t.query("SELECT Id FROM Account WHERE Name IN ('One', 'Two')")
            .await["records"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // One upload is processed; results are as documented ("Get Job Successful Record
    // Results": sf__Id, sf__Created, then the fields of the original CSV; failed results:
    // sf__Id, sf__Error, then the fields).
    let (s, v, id) = ingest_job(&t, spec, &["Name,AnnualRevenue\nOne,35000000\n,5\n"]).await;
    assert_eq!(s, 200, "{v}");
    let job = wait_job(&t, &format!("/jobs/ingest/{id}")).await;
    assert_eq!(job["state"], "JobComplete", "{job}");
    let (_, ok) = raw_get(&t, &format!("/jobs/ingest/{id}/successfulResults/")).await;
    let mut lines = ok.lines();
    assert_eq!(
        lines.next(),
        Some(r#""sf__Id","sf__Created","Name","AnnualRevenue""#)
    );
    let row = lines.next().unwrap();
    assert!(row.ends_with(r#","true","One","35000000""#), "{row}");
    let (_, failed) = raw_get(&t, &format!("/jobs/ingest/{id}/failedResults/")).await;
    let mut lines = failed.lines();
    assert_eq!(
        lines.next(),
        Some(r#""sf__Id","sf__Error","Name","AnnualRevenue""#)
    );
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with(r#""","REQUIRED_FIELD_MISSING:Required fields are missing: [Name]"#)
    );
}

/// "When you create a Bulk API 2.0 job, specify a line ending that matches the line ending
/// used to create the CSV file using the lineEnding request field" (Bulk API 2.0, "Line
/// Ending Header"); the default is LF. Data that does not match fails the job — as
/// observed: "ClientInputError : LineEnding is invalid on user data. Current LineEnding
/// setting is LF" — and nothing of it is loaded.
#[tokio::test]
async fn ingest_data_must_have_the_declared_line_ending() {
    let t = common::start().await;
    for (declared, data) in [
        (Some("LF"), "Name\r\nCR-1\r\n"),
        (None, "Name\r\nCR-2\r\n"),
        (Some("CRLF"), "Name\nCR-3\n"),
    ] {
        let mut spec = json!({"object": "Account", "operation": "insert"});
        if let Some(d) = declared {
            spec["lineEnding"] = json!(d);
        }
        let (s, v, id) = ingest_job(&t, spec, &[data]).await;
        assert_eq!(s, 200, "{v}");
        let job = wait_job(&t, &format!("/jobs/ingest/{id}")).await;
        assert_eq!(job["state"], "Failed", "{job}");
        let expected = format!(
            "ClientInputError : LineEnding is invalid on user data. Current LineEnding setting is {}",
            declared.unwrap_or("LF")
        );
        assert_eq!(job["errorMessage"], expected.as_str());
        assert_eq!(job["numberRecordsProcessed"], 0);
    }
    let v = t
        .query("SELECT Id FROM Account WHERE Name LIKE 'CR-%'")
        .await;
    assert_eq!(v["totalSize"], 0);
    // Matching endings load.
    let (_, _, id) = ingest_job(
        &t,
        json!({"object": "Account", "operation": "insert", "lineEnding": "CRLF"}),
        &["Name\r\nCR-4\r\n"],
    )
    .await;
    let job = wait_job(&t, &format!("/jobs/ingest/{id}")).await;
    assert_eq!(job["state"], "JobComplete", "{job}");
}

/// "Bulk API 2.0 doesn't support SOQL queries that include any of these items: … Compound
/// address fields or compound geolocation fields. (Instead, query the individual components
/// of compound fields.)" (Bulk API 2.0, "Understanding Bulk API 2.0 Query"). Salesforce's
/// words for it: "Selecting compound data not supported in Bulk Query". The components
/// query as usual, and REST queries take the compound field.
#[tokio::test]
async fn bulk_queries_refuse_compound_fields() {
    let t = common::start().await;
    t.create(
        "Account",
        json!({"Name": "Addr", "BillingCity": "Lyon", "BillingCountry": "France"}),
    )
    .await;
    let (s, v) = t
        .json(
            reqwest::Method::POST,
            "/jobs/query",
            Some(json!({"operation": "query", "query": "SELECT Id, BillingAddress FROM Account"})),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v[0]["errorCode"], "FUNCTIONALITY_NOT_ENABLED");
    assert_eq!(
        v[0]["message"],
        "Selecting compound data not supported in Bulk Query"
    );
    let csv = bulk_query(
        &t,
        "SELECT Name, BillingCity FROM Account WHERE Name = 'Addr'",
    )
    .await;
    assert_eq!(csv, "\"Name\",\"BillingCity\"\n\"Addr\",\"Lyon\"\n");
    let v = t
        .query("SELECT BillingAddress FROM Account WHERE Name = 'Addr'")
        .await;
    assert_eq!(v["records"][0]["BillingAddress"]["city"], "Lyon");
}

/// A query's first page with `Sforce-Query-Options: batchSize=N`: status and body.
async fn query_page(t: &common::T, soql: &str, batch: Option<u32>) -> (u16, serde_json::Value) {
    let mut r = t
        .http
        .get(t.url("/query"))
        .query(&[("q", soql)])
        .bearer_auth(t.sim.access_token());
    if let Some(n) = batch {
        r = r.header("Sforce-Query-Options", format!("batchSize={n}"));
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// Follows a `nextRecordsUrl`: status and body.
async fn next_page(t: &common::T, url: &str) -> (u16, serde_json::Value) {
    let r = t
        .http
        .get(t.base(url))
        .bearer_auth(t.sim.access_token())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn next_url(v: &serde_json::Value) -> String {
    v["nextRecordsUrl"]
        .as_str()
        .expect("a next page")
        .to_string()
}

/// SOAP API Developer Guide, "QueryLocator": "Use a given queryLocator value only one time
/// … QueryLocator objects expire automatically after 15 minutes of inactivity. A user can
/// have up to 10 query cursors open at a time. If 10 QueryLocator cursors are open when a
/// client application, logged in as the same user, attempts to open a new one, then the
/// oldest of the 10 cursors is released. If the client application attempts to open the
/// released query cursor, an error results" — `INVALID_QUERY_LOCATOR`, whose help article
/// (000384958) says the same of REST's `nextRecordsUrl`. (Salesforce's limits cheat sheet
/// says these cursor limits were lifted with API version 56.0 — results now kept 2 days —
/// sfsim keeps the stricter rule: a client that survives it survives either.)
#[tokio::test]
async fn query_locators_are_single_use_and_ten_per_user() {
    let t = common::start().await;
    t.sim.seed_records("Account", 700, 7).unwrap();
    let soql = "SELECT Id FROM Account ORDER BY Id";
    let (s, first) = query_page(&t, soql, Some(200)).await;
    assert_eq!(s, 200);
    assert_eq!(first["records"].as_array().unwrap().len(), 200);
    let url = next_url(&first);
    let (s, second) = next_page(&t, &url).await;
    assert_eq!(s, 200, "{second}");
    assert_eq!(second["records"].as_array().unwrap().len(), 200);
    // The same nextRecordsUrl a second time, and an offset of one's own making: invalid.
    let (s, again) = next_page(&t, &url).await;
    assert_eq!(s, 400, "{again}");
    assert_eq!(again[0]["errorCode"], "INVALID_QUERY_LOCATOR");
    let made_up = next_url(&second).replace("-400", "-500");
    let (s, v) = next_page(&t, &made_up).await;
    assert_eq!(
        (s, v[0]["errorCode"].as_str()),
        (400, Some("INVALID_QUERY_LOCATOR"))
    );
    // The one next page still reads on to the end, which closes the cursor.
    let (s, third) = next_page(&t, &next_url(&second)).await;
    assert_eq!(s, 200, "{third}");
    let (s, last) = next_page(&t, &next_url(&third)).await;
    assert_eq!(s, 200);
    assert_eq!(last["done"], true);
    assert!(last.get("nextRecordsUrl").is_none());

    // Eleven open cursors of one user: the oldest is released.
    let mut urls = Vec::new();
    for _ in 0..11 {
        let (_, v) = query_page(&t, soql, Some(200)).await;
        urls.push(next_url(&v));
    }
    let (s, v) = next_page(&t, &urls[0]).await;
    assert_eq!(
        (s, v[0]["errorCode"].as_str()),
        (400, Some("INVALID_QUERY_LOCATOR"))
    );
    for u in &urls[1..] {
        let (s, v) = next_page(&t, u).await;
        assert_eq!(s, 200, "{v}");
    }
    // Released cursors (what 15 idle minutes do) answer alike.
    let (_, v) = query_page(&t, soql, Some(200)).await;
    assert!(t.sim.release_query_cursors() > 0);
    let (s, v) = next_page(&t, &next_url(&v)).await;
    assert_eq!(
        (s, v[0]["errorCode"].as_str()),
        (400, Some("INVALID_QUERY_LOCATOR"))
    );
}

/// SOQL and SOSL Reference, "Change the Batch Size in Queries": "to optimize performance,
/// the returned batch size can be lower than the max or what's set in the request, based on
/// the size and complexity of records queried", and "If the SOQL statement selects two or
/// more custom fields of type long text, the batch size can't be greater than 200 records."
/// sfsim also ends a page once its long text values pass 4,000,000 characters.
#[tokio::test]
async fn wide_rows_make_smaller_pages() {
    let t = common::start().await;
    let (s, v) = t
        .admin(
            reqwest::Method::POST,
            "objects/Invoice__c/fields",
            json!({"name": "Terms__c", "type": "textarea", "length": 32768}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    t.sim.seed_records("Invoice__c", 450, 3).unwrap();
    // Two long text fields selected: 200 a page whatever was asked.
    let soql = "SELECT Id, Notes__c, Terms__c FROM Invoice__c";
    let (_, v) = query_page(&t, soql, None).await;
    assert_eq!(v["records"].as_array().unwrap().len(), 200);
    assert_eq!(v["totalSize"], 450);
    let (_, v) = query_page(&t, "SELECT Id, Notes__c FROM Invoice__c", None).await;
    assert_eq!(
        v["records"].as_array().unwrap().len(),
        450,
        "one long text field"
    );
    // Long values fill a page sooner.
    let long = "x".repeat(32_000);
    let ids: Vec<String> = t
        .sim
        .query("SELECT Id FROM Invoice__c", false)
        .unwrap()
        .iter()
        .map(|r| r["Id"].as_str().unwrap().to_string())
        .collect();
    for id in &ids {
        t.sim
            .update(id, json!({"Notes__c": long, "Terms__c": long}))
            .unwrap();
    }
    let (_, v) = query_page(&t, soql, None).await;
    let n = v["records"].as_array().unwrap().len();
    assert!((1..200).contains(&n), "{n} records of 64,000 characters");
    let mut seen = n;
    let mut next = v["nextRecordsUrl"].as_str().map(str::to_string);
    while let Some(url) = next {
        let (s, v) = next_page(&t, &url).await;
        assert_eq!(s, 200);
        seen += v["records"].as_array().unwrap().len();
        next = v["nextRecordsUrl"].as_str().map(str::to_string);
    }
    assert_eq!(seen, 450, "smaller pages still read every record once");
}

/// Salesforce Developer Limits, "Concurrent API Request Limits": for "concurrent inbound
/// requests (calls) with a duration of 20 seconds or longer", Developer Edition and trial
/// orgs allow 5, production orgs and sandboxes 25. "If the number of long running requests
/// exceeds the limit, the API returns a REQUEST_LIMIT_EXCEEDED exception code. Any new
/// concurrent requests aren't processed until there are fewer requests than the allowed
/// limit." The message names the limit: `ConcurrentPerOrgLongTxn Limit exceeded.`
/// (Here "long" is 300 ms and the limit 2, so the test runs quickly.)
#[tokio::test]
async fn long_running_requests_beyond_the_limit_are_refused() {
    let t = common::start_with(sfsim::SimConfig {
        concurrent_long_requests: 2,
        long_request_after: std::time::Duration::from_millis(300),
        ..sfsim::SimConfig::default()
    })
    .await;
    let mut faults = t.sim.faults_config();
    faults.latency_ms = 1500;
    t.sim.set_faults(faults);
    let slow: Vec<_> = (0..2)
        .map(|_| {
            let (http, url, token) = (
                t.http.clone(),
                t.url("/limits"),
                t.sim.access_token().to_string(),
            );
            tokio::spawn(async move {
                http.get(url)
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let before = t.sim.counters().total_calls;
    let (s, v) = t.json(reqwest::Method::GET, "/limits", None).await;
    assert_eq!(s, 403, "{v}");
    assert_eq!(v[0]["errorCode"], "REQUEST_LIMIT_EXCEEDED");
    assert_eq!(v[0]["message"], "ConcurrentPerOrgLongTxn Limit exceeded.");
    assert_eq!(
        t.sim.counters().total_calls,
        before,
        "a refused request is not served"
    );
    for h in slow {
        assert_eq!(h.await.unwrap(), 200);
    }
    let mut faults = t.sim.faults_config();
    faults.latency_ms = 0;
    t.sim.set_faults(faults);
    let (s, _) = t.json(reqwest::Method::GET, "/limits", None).await;
    assert_eq!(s, 200, "served again once the long requests ended");
}

/// REST API Developer Guide, "Versions" and "Resources by Version": the version root lists
/// the resources available, `identity` among them — the session user's identity URL,
/// absolute, like the token response's `id`. "Identity URLs" documents what it answers:
/// `id`, `asserted_user`, `user_id`, `organization_id`, `username`, `nick_name`,
/// `display_name`, `email`, `first_name`, `last_name`, `timezone`, `photos`, `status`,
/// `urls`, `active`, `user_type`, `language`, `locale`, `utcOffset`, `last_modified_date`.
#[tokio::test]
async fn the_identity_url_is_absolute_and_answers_its_documented_shape() {
    let t = common::start().await;
    let (s, root) = t.json(reqwest::Method::GET, "", None).await;
    assert_eq!(s, 200, "{root}");
    let identity = root["identity"].as_str().unwrap();
    assert!(identity.starts_with("http://127.0.0.1:"), "{identity}");
    assert!(
        identity.contains(&format!("/id/{}/005", t.sim.info.org_id)),
        "{identity}"
    );
    let r = t
        .http
        .get(identity)
        .bearer_auth(t.sim.access_token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["id"], identity);
    assert_eq!(v["username"], "admin@sfsim.example");
    for key in [
        "asserted_user",
        "user_id",
        "organization_id",
        "nick_name",
        "display_name",
        "email",
        "first_name",
        "last_name",
        "timezone",
        "photos",
        "status",
        "urls",
        "active",
        "user_type",
        "language",
        "locale",
        "utcOffset",
        "last_modified_date",
    ] {
        assert!(v.get(key).is_some(), "{key} missing: {v}");
    }
    assert!(
        v["display_name"].as_str().is_some_and(|n| !n.is_empty()),
        "{v}"
    );
    assert!(v["urls"]["rest"].as_str().is_some(), "{v}");
}

/// Sends raw HTTP/1.1 requests on one connection and returns everything answered.
async fn raw_exchange(t: &common::T, requests: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(t.sim.addr).await.unwrap();
    s.write_all(requests.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// Transport as Salesforce serves it: a doubled slash (`//services/data/…`, which clients
/// send when the instance URL ends in `/`) reaches the resource; a path no resource has
/// answers the REST error body, `[{"errorCode":"NOT_FOUND","message":"The requested
/// resource does not exist"}]` (REST API Developer Guide, "Status Codes and Error
/// Responses": 404, "The requested resource couldn't be found"); and an error answer keeps
/// the HTTP/1.1 connection open for the next request.
#[tokio::test]
async fn doubled_slashes_unknown_paths_and_keep_alive() {
    let t = common::start().await;
    let r = t
        .http
        .get(format!(
            "{}//services/data/v59.0/limits",
            t.sim.instance_url()
        ))
        .bearer_auth(t.sim.access_token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(v["DailyApiRequests"]["Max"].is_number(), "{v}");
    let r = t
        .http
        .get(format!(
            "{}//services/data/v59.0//query?q=SELECT+Id+FROM+Account",
            t.sim.instance_url()
        ))
        .bearer_auth(t.sim.access_token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = t
        .http
        .get(format!("{}//services/data", t.sim.instance_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for path in [
        "/nothing/here",
        "/services/other",
        "/services/data/v59.0/nothing",
    ] {
        let r = t
            .http
            .get(format!("{}{path}", t.sim.instance_url()))
            .bearer_auth(t.sim.access_token())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v[0]["errorCode"], "NOT_FOUND", "{path}: {v}");
    }
    let token = t.sim.access_token();
    let host = t.sim.addr;
    let answered = raw_exchange(
        &t,
        &format!(
            "GET /nothing HTTP/1.1\r\nHost: {host}\r\n\r\n\
             GET /services/data/v59.0/query?q=SELECT+Id+FROM+Nope HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\r\n\
             GET /services/data/v59.0/limits HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    let statuses: Vec<&str> = answered
        .split("HTTP/1.1 ")
        .skip(1)
        .map(|a| a.get(..3).unwrap_or(a))
        .collect();
    assert_eq!(statuses, ["404", "400", "200"], "{answered}");
}

/// REST API Developer Guide, "Compression Headers": "Use Content-Encoding: gzip in the
/// request header to compress the request body", and with "Accept-Encoding: gzip" the
/// response "is compressed" and marked `Content-Encoding: gzip`; Bulk API 2.0 likewise
/// ("Use Compression for Bulk API 2.0 Responses", and gzip job data uploads). A client
/// that asks for nothing gets plain bodies.
#[tokio::test]
async fn gzip_requests_and_responses() {
    let t = common::start().await;
    t.sim.seed_records("Account", 300, 5).unwrap();
    let raw = reqwest::Client::builder().no_gzip().build().unwrap();
    let url = format!("{}?q=SELECT+Id,Name+FROM+Account", t.url("/query"));
    let r = raw
        .get(&url)
        .bearer_auth(t.sim.access_token())
        .header("Accept-Encoding", "gzip, deflate")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-encoding"], "gzip");
    let zipped = r.bytes().await.unwrap();
    let body = sfsim::resp::gunzip(&zipped).expect("a gzip body");
    assert!(
        zipped.len() * 3 < body.len(),
        "{} -> {}",
        body.len(),
        zipped.len()
    );
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["totalSize"], 300);
    let r = raw
        .get(&url)
        .bearer_auth(t.sim.access_token())
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("content-encoding").is_none());
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["totalSize"], 300);

    // A gzip request body.
    let body = sfsim::resp::gzip(br#"{"Name": "Zipped"}"#);
    let r = raw
        .post(t.url("/sobjects/Account"))
        .bearer_auth(t.sim.access_token())
        .header("Content-Type", "application/json")
        .header("Content-Encoding", "gzip")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // A gzip Bulk upload.
    let (s, job) = t
        .json(
            reqwest::Method::POST,
            "/jobs/ingest",
            Some(json!({"object": "Account", "operation": "insert"})),
        )
        .await;
    assert_eq!(s, 200);
    let id = job["id"].as_str().unwrap().to_string();
    let r = raw
        .put(t.url(&format!("/jobs/ingest/{id}/batches")))
        .bearer_auth(t.sim.access_token())
        .header("Content-Type", "text/csv")
        .header("Content-Encoding", "gzip")
        .body(sfsim::resp::gzip(b"Name\nZipped CSV\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let (s, _) = t
        .json(
            reqwest::Method::PATCH,
            &format!("/jobs/ingest/{id}"),
            Some(json!({"state": "UploadComplete"})),
        )
        .await;
    assert_eq!(s, 200);
    let job = wait_job(&t, &format!("/jobs/ingest/{id}")).await;
    assert_eq!(job["state"], "JobComplete", "{job}");
    let v = t
        .query("SELECT Id FROM Account WHERE Name IN ('Zipped', 'Zipped CSV')")
        .await;
    assert_eq!(v["totalSize"], 2);
}

async fn token_request(t: &common::T, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let r = t
        .http
        .post(t.base("/services/oauth2/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// Salesforce Help, "OAuth 2.0 Username-Password Flow for Special Scenarios": the app posts
/// `grant_type=password`, `client_id`, `client_secret`, `username` and `password` (with the
/// user's security token appended) and gets an access token — no refresh token; a wrong
/// login is `invalid_grant` "authentication failure". "OAuth 2.0 Client Credentials Flow
/// for Server-to-Server Integration": `grant_type=client_credentials` with the consumer key
/// and secret gets an access token for the app's execution user, again without a refresh
/// token.
#[tokio::test]
async fn username_password_and_client_credentials_flows() {
    let t = common::start().await;
    let (id, secret) = (
        t.sim.info.client_id.clone(),
        t.sim.info.client_secret.clone(),
    );
    let (s, v) = token_request(
        &t,
        &[
            ("grant_type", "password"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("username", "admin@sfsim.example"),
            ("password", "secretXXXXsecuritytoken"),
        ],
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert!(v.get("refresh_token").is_none(), "{v}");
    assert_eq!(v["instance_url"], t.sim.instance_url());
    let token = v["access_token"].as_str().unwrap().to_string();
    let r = t
        .http
        .get(t.url("/limits"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (s, v) = token_request(
        &t,
        &[
            ("grant_type", "password"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("username", "nobody@sfsim.example"),
            ("password", "x"),
        ],
    )
    .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("invalid_grant")),
        "{v}"
    );
    assert_eq!(v["error_description"], "authentication failure");

    let (s, v) = token_request(
        &t,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
        ],
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert!(v.get("refresh_token").is_none(), "{v}");
    let r = t
        .http
        .get(t.url("/limits"))
        .bearer_auth(v["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (s, v) = token_request(
        &t,
        &[("grant_type", "client_credentials"), ("client_id", &id)],
    )
    .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("invalid_client")),
        "{v}"
    );
}

/// REST API Developer Guide, "Batch": `POST /composite/batch` executes "up to 25
/// subrequests in a single request", each independent (`batchRequests` with `method`,
/// `url` relative to `/services/data`, `richInput` for a body); the response is
/// `{"hasErrors", "results": [{"statusCode", "result"}]}`, and with `haltOnError` the
/// subrequests after a failure are not run (`BATCH_PROCESSING_HALTED`). One API call.
#[tokio::test]
async fn composite_batch_runs_independent_subrequests() {
    let t = common::start().await;
    let id = t.create("Account", json!({"Name": "Batch"})).await;
    let before = t.sim.counters().total_calls;
    let (s, v) = t
        .json(
            reqwest::Method::POST,
            "/composite/batch",
            Some(json!({"batchRequests": [
                {"method": "PATCH", "url": format!("v59.0/sobjects/Account/{id}"), "richInput": {"Phone": "123"}},
                {"method": "GET", "url": format!("v59.0/sobjects/Account/{id}?fields=Name,Phone")},
                {"method": "GET", "url": "v59.0/query?q=SELECT+Id+FROM+Nope"},
                {"method": "GET", "url": "v59.0/limits"},
            ]})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(t.sim.counters().total_calls, before + 1, "one API call");
    assert_eq!(v["hasErrors"], true);
    let r = v["results"].as_array().unwrap();
    assert_eq!(r[0]["statusCode"], 204);
    assert_eq!(r[1]["statusCode"], 200);
    assert_eq!(r[1]["result"]["Phone"], "123");
    assert_eq!(r[2]["statusCode"], 400);
    assert_eq!(r[2]["result"][0]["errorCode"], "INVALID_TYPE");
    assert_eq!(r[3]["statusCode"], 200);
    let (_, v) = t
        .json(
            reqwest::Method::POST,
            "/composite/batch",
            Some(json!({"haltOnError": true, "batchRequests": [
                {"method": "GET", "url": "v59.0/query?q=SELECT+Id+FROM+Nope"},
                {"method": "GET", "url": "v59.0/limits"},
            ]})),
        )
        .await;
    assert_eq!(v["results"][1]["statusCode"], 412, "{v}");
    assert_eq!(
        v["results"][1]["result"][0]["errorCode"],
        "BATCH_PROCESSING_HALTED"
    );
}

/// REST API Developer Guide, "Search": `GET /search/?q=<SOSL>` runs a SOSL search, e.g.
/// `FIND {Acme} RETURNING Account(Id, Name)`, and answers `{"searchRecords": [...]}`, each
/// record with its `attributes` and the fields asked for; `RETURNING Object(fields WHERE …
/// LIMIT n)` narrows one object, a final `LIMIT n` the whole search. (sfsim: the basics,
/// matched against text fields.)
#[tokio::test]
async fn search_finds_records_by_text() {
    let t = common::start().await;
    t.create("Account", json!({"Name": "Zebracorn Ltd", "Phone": "1"}))
        .await;
    t.create(
        "Account",
        json!({"Name": "Other", "Description": "likes zebracorns"}),
    )
    .await;
    t.create("Contact", json!({"LastName": "Zebracorn"})).await;
    let search = |q: &'static str| {
        let t = &t;
        async move {
            let r = t
                .http
                .get(t.url("/search/"))
                .query(&[("q", q)])
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
    let (s, v) = search("FIND {zebracorn*} IN ALL FIELDS RETURNING Account(Id, Name ORDER BY Name), Contact(LastName)").await;
    assert_eq!(s, 200, "{v}");
    let recs = v["searchRecords"].as_array().unwrap();
    assert_eq!(recs.len(), 3, "{v}");
    assert_eq!(recs[0]["attributes"]["type"], "Account");
    assert_eq!(recs[0]["Name"], "Other");
    assert_eq!(recs[1]["Name"], "Zebracorn Ltd");
    assert_eq!(recs[2]["attributes"]["type"], "Contact");
    let (_, v) = search("FIND {Zebracorn} RETURNING Account(Name WHERE Phone = '1')").await;
    assert_eq!(v["searchRecords"].as_array().unwrap().len(), 1, "{v}");
    let (_, v) = search("FIND {Zebracorn} RETURNING Account, Contact LIMIT 2").await;
    assert_eq!(v["searchRecords"].as_array().unwrap().len(), 2, "{v}");
    let (s, v) = search("Zebracorn").await;
    assert_eq!(
        (s, v[0]["errorCode"].as_str()),
        (400, Some("MALFORMED_SEARCH")),
        "{v}"
    );
}

/// REST API Developer Guide, "sObject Tree": `POST /composite/tree/{Object}` creates up to
/// 200 records, each with `attributes.referenceId`, and answers `{"hasErrors": false,
/// "results": [{"referenceId", "id"}]}`; when any record fails nothing is created, and the
/// answer (400) lists the failing references with their `errors`.
#[tokio::test]
async fn composite_tree_creates_all_or_nothing() {
    let t = common::start().await;
    let (s, v) = t
        .json(
            reqwest::Method::POST,
            "/composite/tree/Account",
            Some(json!({"records": [
                {"attributes": {"type": "Account", "referenceId": "ref1"}, "Name": "Tree 1"},
                {"attributes": {"type": "Account", "referenceId": "ref2"}, "Name": "Tree 2"},
            ]})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["hasErrors"], false);
    assert_eq!(v["results"][0]["referenceId"], "ref1");
    assert!(v["results"][1]["id"].as_str().unwrap().starts_with("001"));
    let (s, v) = t
        .json(
            reqwest::Method::POST,
            "/composite/tree/Account",
            Some(json!({"records": [
                {"attributes": {"type": "Account", "referenceId": "ok"}, "Name": "Tree 3"},
                {"attributes": {"type": "Account", "referenceId": "bad"}, "Phone": "1"},
            ]})),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["hasErrors"], true);
    assert_eq!(v["results"][0]["referenceId"], "bad");
    assert_eq!(
        v["results"][0]["errors"][0]["statusCode"],
        "REQUIRED_FIELD_MISSING"
    );
    let v = t
        .query("SELECT Id FROM Account WHERE Name LIKE 'Tree %'")
        .await;
    assert_eq!(v["totalSize"], 2, "the failed tree created nothing");
}
