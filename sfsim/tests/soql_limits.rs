//! The relationship limits of one SOQL query.

mod common;

use serde_json::Value;

async fn run(t: &common::T, soql: &str) -> (u16, Value) {
    t.get_with("/query", &[("q", soql)]).await
}

/// SOQL and SOSL Reference, "Understanding Relationship Query Limitations": "No more than
/// 55 child-to-parent relationships can be specified in a query"; "No more than 20
/// parent-to-child relationships can be specified in a query"; "In each specified
/// relationship, no more than five levels can be specified in a child-to-parent
/// relationship. For example, Contact.Account.Owner.FirstName (three levels)"; "In API
/// version 58.0 and later, up to five levels of parent-to-child relationship can be
/// queried via REST".
#[tokio::test]
async fn relationship_limits_are_enforced() {
    let t = common::start().await;
    let (_, d) = t
        .json(reqwest::Method::GET, "/sobjects/Account/describe", None)
        .await;
    let (_, global) = t.json(reqwest::Method::GET, "/sobjects", None).await;
    let queryable = |name: &str| {
        global["sobjects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["name"] == name && o["queryable"] == true)
    };
    let mut rels: Vec<String> = d["childRelationships"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["relationshipName"].is_string() && queryable(r["childSObject"].as_str().unwrap())
        })
        .map(|r| r["relationshipName"].as_str().unwrap().to_string())
        .collect();
    assert!(rels.len() >= 20, "{rels:?}");
    rels.sort_by_key(|r| r != "Contacts");
    // Twenty subqueries; with `nested`, the Contacts one has one of its own (21 in all).
    let subqueries = |nested: bool| {
        rels[..20]
            .iter()
            .map(|r| match r.as_str() {
                "Contacts" if nested => "(SELECT Id, (SELECT Id FROM Cases) FROM Contacts)".into(),
                _ => format!("(SELECT Id FROM {r})"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (s, v) = run(
        &t,
        &format!("SELECT Id, {} FROM Account", subqueries(false)),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = run(&t, &format!("SELECT Id, {} FROM Account", subqueries(true))).await;
    assert_eq!(s, 400);
    assert_eq!(v[0]["errorCode"], "MALFORMED_QUERY");
    assert!(
        v[0]["message"]
            .as_str()
            .unwrap()
            .ends_with("No more than 20 parent-to-child relationships can be specified in a query"),
        "{v}"
    );

    let five = "SELECT Account.Parent.Parent.Parent.Owner.Name FROM Contact";
    let (s, v) = run(&t, five).await;
    assert_eq!(s, 200, "{v}");
    let six = "SELECT Account.Parent.Parent.Parent.Parent.Owner.Name FROM Contact";
    let (s, v) = run(&t, six).await;
    assert_eq!(
        (s, v[0]["errorCode"].as_str()),
        (400, Some("MALFORMED_QUERY"))
    );
}
