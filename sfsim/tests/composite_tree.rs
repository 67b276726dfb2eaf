//! `composite/tree` with nested child records.

mod common;

use serde_json::json;

/// REST API Developer Guide, "sObject Tree": "An sObject tree is a collection of nested,
/// parent-child records with a single root record … Objects are created in the same order
/// that they're listed in the request. Upon success, the response contains the IDs of the
/// created records. If an error occurs while creating a record, the entire request fails."
/// "The request can contain … Up to a total of 200 records across all trees … Up to five
/// records of different types … sObject trees up to five levels deep." Children stand under
/// their child relationship's name (`"Contacts": {"records": [...]}`, "sObject Tree Request
/// Body") and get their parent's id.
#[tokio::test]
async fn trees_nest_children_under_their_relationship() {
    let t = common::start().await;
    let body = json!({"records": [
        {"attributes": {"type": "Account", "referenceId": "acc1"}, "Name": "Tree Parent",
         "Contacts": {"records": [
            {"attributes": {"type": "Contact", "referenceId": "c1"}, "LastName": "Leaf One"},
            {"attributes": {"type": "Contact", "referenceId": "c2"}, "LastName": "Leaf Two"},
         ]},
         "Opportunities": {"records": [
            {"attributes": {"type": "Opportunity", "referenceId": "o1"}, "Name": "Deal",
             "StageName": "Prospecting", "CloseDate": "2025-01-31"},
         ]}},
        {"attributes": {"type": "Account", "referenceId": "acc2"}, "Name": "Tree Alone"},
    ]});
    let (s, v) = t
        .json(reqwest::Method::POST, "/composite/tree/Account", Some(body))
        .await;
    assert_eq!(s, 201, "{v}");
    let refs: Vec<&str> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["referenceId"].as_str().unwrap())
        .collect();
    assert_eq!(refs, ["acc1", "c1", "c2", "o1", "acc2"]);
    let acc = v["results"][0]["id"].as_str().unwrap().to_string();
    let q = t
        .query(&format!(
            "SELECT Name, (SELECT LastName FROM Contacts ORDER BY LastName), (SELECT Name FROM Opportunities) FROM Account WHERE Id = '{acc}'"
        ))
        .await;
    let r = &q["records"][0];
    assert_eq!(r["Contacts"]["totalSize"], 2, "{q}");
    assert_eq!(r["Contacts"]["records"][0]["LastName"], "Leaf One");
    assert_eq!(r["Opportunities"]["records"][0]["Name"], "Deal");

    // A child that fails fails the whole request: nothing is created.
    let (s, v) = t
        .json(
            reqwest::Method::POST,
            "/composite/tree/Account",
            Some(json!({"records": [
                {"attributes": {"type": "Account", "referenceId": "p"}, "Name": "Doomed",
                 "Contacts": {"records": [
                    {"attributes": {"type": "Contact", "referenceId": "bad"}, "FirstName": "No"},
                 ]}},
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
    let q = t
        .query("SELECT Id FROM Account WHERE Name = 'Doomed'")
        .await;
    assert_eq!(q["totalSize"], 0);

    // An unknown relationship, a reference used twice, and more than 200 records.
    let (s, v) = t
        .json(
            reqwest::Method::POST,
            "/composite/tree/Account",
            Some(json!({"records": [
                {"attributes": {"type": "Account", "referenceId": "x"}, "Name": "X",
                 "Nope": {"records": []}},
            ]})),
        )
        .await;
    assert_eq!(
        (s.as_u16(), v[0]["errorCode"].as_str()),
        (400, Some("INVALID_FIELD"))
    );
    let (s, v) = t
        .json(
            reqwest::Method::POST,
            "/composite/tree/Account",
            Some(json!({"records": [
                {"attributes": {"type": "Account", "referenceId": "dup"}, "Name": "A"},
                {"attributes": {"type": "Account", "referenceId": "dup"}, "Name": "B"},
            ]})),
        )
        .await;
    assert_eq!(
        (s.as_u16(), v[0]["errorCode"].as_str()),
        (400, Some("INVALID_INPUT"))
    );
    let contacts: Vec<_> = (0..200)
        .map(|i| json!({"attributes": {"type": "Contact", "referenceId": format!("k{i}")}, "LastName": "K"}))
        .collect();
    let (s, v) = t
        .json(
            reqwest::Method::POST,
            "/composite/tree/Account",
            Some(json!({"records": [
                {"attributes": {"type": "Account", "referenceId": "big"}, "Name": "Big",
                 "Contacts": {"records": contacts}},
            ]})),
        )
        .await;
    assert_eq!(
        (s.as_u16(), v[0]["errorCode"].as_str()),
        (400, Some("LIMIT_EXCEEDED"))
    );
}
