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
