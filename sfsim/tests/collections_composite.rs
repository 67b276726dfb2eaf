//! sObject Collections and composite over HTTP.

mod common;

use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn collections_create_update_upsert_retrieve_delete() {
    let t = common::start().await;
    let before = t.sim.counters().api_calls;
    let (s, v) = t
        .json(
            Method::POST,
            "/composite/sobjects",
            Some(json!({"allOrNone": false, "records": [
                {"attributes": {"type": "Account"}, "Name": "One", "External_Id__c": "C-1"},
                {"attributes": {"type": "Account"}, "Phone": "no name"},
                {"attributes": {"type": "Contact"}, "LastName": "Smith"},
            ]})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(t.sim.counters().api_calls, before + 1);
    assert_eq!(v[0]["success"], true);
    assert_eq!(
        v[1],
        json!({"success": false, "errors": [{"statusCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [Name]", "fields": ["Name"]}]})
    );
    assert_eq!(v[2]["success"], true);
    let acc = v[0]["id"].as_str().unwrap().to_string();
    let con = v[2]["id"].as_str().unwrap().to_string();

    // allOrNone rolls everything back.
    let (_, v) = t
        .json(
            Method::POST,
            "/composite/sobjects",
            Some(json!({"allOrNone": true, "records": [
                {"attributes": {"type": "Account"}, "Name": "Two"},
                {"attributes": {"type": "Account"}, "Name": "x".repeat(300)},
            ]})),
        )
        .await;
    assert_eq!(
        v[0]["errors"][0]["statusCode"],
        "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    );
    assert_eq!(v[1]["errors"][0]["statusCode"], "STRING_TOO_LONG");
    assert_eq!(t.query("SELECT COUNT() FROM Account").await["totalSize"], 1);

    let (_, v) = t
        .json(
            Method::PATCH,
            "/composite/sobjects",
            Some(json!({"allOrNone": false, "records": [
                {"attributes": {"type": "Account"}, "id": acc, "Phone": "42"},
                {"attributes": {"type": "Contact"}, "id": con, "AccountId": acc},
                {"attributes": {"type": "Account"}, "id": "001000000000000AAA", "Phone": "1"},
            ]})),
        )
        .await;
    assert_eq!(v[0], json!({"id": acc, "success": true, "errors": []}));
    assert_eq!(v[1]["success"], true);
    assert_eq!(v[2]["success"], false);

    let (_, v) = t
        .json(
            Method::PATCH,
            "/composite/sobjects/Account/External_Id__c",
            Some(json!({"allOrNone": false, "records": [
                {"attributes": {"type": "Account"}, "External_Id__c": "C-1", "Name": "One renamed"},
                {"attributes": {"type": "Account"}, "External_Id__c": "C-2", "Name": "New"},
            ]})),
        )
        .await;
    assert_eq!(v[0]["created"], false);
    assert_eq!(v[0]["id"], json!(acc));
    assert_eq!(v[1]["created"], true);

    let (s, v) = t
        .json(
            Method::GET,
            &format!(
                "/composite/sobjects/Account?ids={acc},001000000000000AAA&fields=Id,Name,Phone"
            ),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v[0]["Name"], "One renamed");
    assert_eq!(v[0]["Phone"], "42");
    assert_eq!(v[1], serde_json::Value::Null);

    let (_, v) = t
        .json(
            Method::DELETE,
            &format!("/composite/sobjects?ids={con},003000000000000AAA&allOrNone=true"),
            None,
        )
        .await;
    assert_eq!(
        v[0]["errors"][0]["statusCode"],
        "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    );
    assert_eq!(t.query("SELECT COUNT() FROM Contact").await["totalSize"], 1);
    let (_, v) = t
        .json(
            Method::DELETE,
            &format!("/composite/sobjects?ids={con}&allOrNone=false"),
            None,
        )
        .await;
    assert_eq!(v, json!([{"id": con, "success": true, "errors": []}]));

    let many: Vec<_> = (0..201)
        .map(|i| json!({"attributes": {"type": "Account"}, "Name": format!("n{i}")}))
        .collect();
    let (s, v) = t
        .json(
            Method::POST,
            "/composite/sobjects",
            Some(json!({"records": many})),
        )
        .await;
    assert_eq!(s, 400);
    assert!(v[0]["errorCode"].is_string());
}

#[tokio::test]
async fn composite_references_limits_and_all_or_none() {
    let t = common::start().await;
    let before = t.sim.counters().api_calls;
    let (s, v) = t
        .json(
            Method::POST,
            "/composite",
            Some(json!({"allOrNone": false, "compositeRequest": [
                {"method": "POST", "url": "/services/data/v59.0/sobjects/Account", "referenceId": "acc", "body": {"Name": "Parent"}},
                {"method": "POST", "url": "/services/data/v59.0/sobjects/Contact", "referenceId": "con", "body": {"LastName": "Kid", "AccountId": "@{acc.id}"}},
                {"method": "GET", "url": "/services/data/v59.0/query?q=SELECT+Id,Account.Name+FROM+Contact", "referenceId": "q"},
                {"method": "GET", "url": "/services/data/v59.0/sobjects/Account/@{q.records[0].Account.attributes.url}", "referenceId": "bad"},
                {"method": "PATCH", "url": "/services/data/v59.0/sobjects/Account/@{acc.id}", "referenceId": "upd", "body": {"Phone": "7"}},
            ]})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(t.sim.counters().api_calls, before + 1);
    let r = v["compositeResponse"].as_array().unwrap();
    assert_eq!(r[0]["httpStatusCode"], 201);
    assert_eq!(r[0]["referenceId"], "acc");
    assert!(
        r[0]["httpHeaders"]["Location"]
            .as_str()
            .unwrap()
            .starts_with("/services/data/v59.0/sobjects/Account/001")
    );
    assert_eq!(r[1]["httpStatusCode"], 201);
    assert_eq!(r[2]["body"]["records"][0]["Account"]["Name"], "Parent");
    assert_eq!(r[3]["httpStatusCode"], 404, "{}", r[3]);
    assert_eq!(r[4]["httpStatusCode"], 204);
    assert_eq!(r[4]["body"], serde_json::Value::Null);

    // allOrNone: a failure rolls back the earlier sub-requests.
    let (_, v) = t
        .json(
            Method::POST,
            "/composite",
            Some(json!({"allOrNone": true, "compositeRequest": [
                {"method": "POST", "url": "/services/data/v59.0/sobjects/Account", "referenceId": "a", "body": {"Name": "Ghost"}},
                {"method": "POST", "url": "/services/data/v59.0/sobjects/Account", "referenceId": "b", "body": {}},
                {"method": "POST", "url": "/services/data/v59.0/sobjects/Account", "referenceId": "c", "body": {"Name": "Never"}},
            ]})),
        )
        .await;
    let r = v["compositeResponse"].as_array().unwrap();
    assert_eq!(r[0]["body"][0]["errorCode"], "PROCESSING_HALTED");
    assert_eq!(r[1]["body"][0]["errorCode"], "REQUIRED_FIELD_MISSING");
    assert_eq!(r[2]["body"][0]["errorCode"], "PROCESSING_HALTED");
    assert_eq!(
        t.query("SELECT COUNT() FROM Account WHERE Name = 'Ghost'")
            .await["totalSize"],
        0
    );

    // allOrNone also undoes updates, deletes and collections inside the composite.
    let keep = t
        .create("Account", json!({"Name": "Keep", "Phone": "1"}))
        .await;
    let doomed = t.create("Account", json!({"Name": "Doomed"})).await;
    let (_, v) = t
        .json(
            Method::POST,
            "/composite",
            Some(json!({"allOrNone": true, "compositeRequest": [
                {"method": "PATCH", "url": format!("/services/data/v59.0/sobjects/Account/{keep}"), "referenceId": "u", "body": {"Phone": "2"}},
                {"method": "DELETE", "url": format!("/services/data/v59.0/sobjects/Account/{doomed}"), "referenceId": "d"},
                {"method": "POST", "url": "/services/data/v59.0/composite/sobjects", "referenceId": "c", "body": {"records": [{"attributes": {"type": "Account"}, "Name": "Coll"}]}},
                {"method": "POST", "url": "/services/data/v59.0/sobjects/Account", "referenceId": "bad", "body": {"Name": "x".repeat(300)}},
            ]})),
        )
        .await;
    assert_eq!(
        v["compositeResponse"][3]["body"][0]["errorCode"],
        "STRING_TOO_LONG"
    );
    let q = t.query("SELECT Name, Phone FROM Account WHERE Name IN ('Keep', 'Doomed', 'Coll') ORDER BY Name").await;
    let rows: Vec<_> = q["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["Name"].clone(), r["Phone"].clone()))
        .collect();
    assert_eq!(
        rows,
        vec![(json!("Doomed"), json!(null)), (json!("Keep"), json!("1"))]
    );

    // Unresolvable reference.
    let (_, v) = t
        .json(
            Method::POST,
            "/composite",
            Some(json!({"compositeRequest": [
                {"method": "GET", "url": "/services/data/v59.0/sobjects/Account/@{nope.id}", "referenceId": "x"},
            ]})),
        )
        .await;
    assert_eq!(v["compositeResponse"][0]["httpStatusCode"], 400);
    assert_eq!(
        v["compositeResponse"][0]["body"][0]["errorCode"],
        "PROCESSING_HALTED"
    );

    let queries: Vec<_> = (0..6).map(|i| json!({"method": "GET", "url": "/services/data/v59.0/query?q=SELECT+Id+FROM+Account", "referenceId": format!("q{i}")})).collect();
    let (s, _) = t
        .json(
            Method::POST,
            "/composite",
            Some(json!({"compositeRequest": queries})),
        )
        .await;
    assert_eq!(s, 400);
    let subs: Vec<_> = (0..26).map(|i| json!({"method": "GET", "url": "/services/data/v59.0/limits", "referenceId": format!("l{i}")})).collect();
    let (s, _) = t
        .json(
            Method::POST,
            "/composite",
            Some(json!({"compositeRequest": subs})),
        )
        .await;
    assert_eq!(s, 400);
}
