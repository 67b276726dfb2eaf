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
