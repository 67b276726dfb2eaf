//! `GET /query?q=…&columns=true`: a query's column metadata.

mod common;

use serde_json::Value;

async fn columns(t: &common::T, soql: &str) -> Value {
    let (s, v) = t
        .get_with("/query", &[("q", soql), ("columns", "true")])
        .await;
    assert_eq!(s, 200, "{v}");
    v
}

fn names(cols: &Value) -> Vec<&str> {
    cols.as_array()
        .unwrap()
        .iter()
        .map(|c| c["columnName"].as_str().unwrap())
        .collect()
}

/// Not in the REST API Developer Guide: `columns=true` is the query resource's column
/// description that the Developer Console's query editor and the Salesforce CLI read
/// (`sf data query` asks `${baseUrl}/query?q=…&columns=true` and lays out its table from
/// `columnMetadata`: a column with `joinColumns` is a relationship — a subquery when it is
/// also `aggregate` — and an `aggregate` column without them is a function, shown by its
/// `displayName` unless aliased, `expr0`…). Its shape, as the CLI types it:
/// `{columnMetadata: [{aggregate, apexType, booleanType, columnName, custom, displayName,
/// foreignKeyName, insertable, joinColumns, numberType, textType, updatable}], entityName,
/// groupBy, idSelected, keyPrefix}`. The query is not run and no records come back.
#[tokio::test]
async fn columns_describe_what_a_query_selects() {
    let t = common::start().await;
    let v = columns(
        &t,
        "SELECT Id, Name, Parent.Owner.Name, AnnualRevenue, (SELECT LastName FROM Contacts) FROM Account",
    )
    .await;
    assert!(v.get("records").is_none(), "{v}");
    assert_eq!(v["entityName"], "Account");
    assert_eq!(v["keyPrefix"], "001");
    assert_eq!(v["idSelected"], true);
    assert_eq!(v["groupBy"], false);
    let cols = &v["columnMetadata"];
    assert_eq!(
        names(cols),
        ["Id", "Name", "Parent", "AnnualRevenue", "Contacts"]
    );
    let name = &cols[1];
    assert_eq!(name["apexType"], "String");
    assert_eq!(name["textType"], true);
    assert_eq!(name["updatable"], true);
    assert_eq!(name["joinColumns"], serde_json::json!([]));
    let parent = &cols[2];
    assert_eq!(parent["aggregate"], false);
    assert_eq!(parent["joinColumns"][0]["columnName"], "Owner");
    assert_eq!(
        parent["joinColumns"][0]["joinColumns"][0]["columnName"],
        "Name"
    );
    assert_eq!(cols[3]["numberType"], true);
    assert_eq!(cols[3]["apexType"], "Decimal");
    let sub = &cols[4];
    assert_eq!(sub["aggregate"], true);
    assert_eq!(names(&sub["joinColumns"]), ["LastName"]);

    let v = columns(
        &t,
        "SELECT Industry, COUNT(Id), MAX(AnnualRevenue) top FROM Account GROUP BY Industry",
    )
    .await;
    assert_eq!(v["groupBy"], true);
    assert_eq!(v["idSelected"], false);
    let cols = &v["columnMetadata"];
    assert_eq!(names(cols), ["Industry", "expr0", "top"]);
    assert_eq!(cols[1]["aggregate"], true);
    assert_eq!(cols[1]["displayName"], "COUNT(Id)");
    assert_eq!(cols[1]["apexType"], "Integer");
    assert_eq!(cols[2]["displayName"], "MAX(AnnualRevenue)");

    let v = columns(&t, "SELECT COUNT() FROM Contact").await;
    assert_eq!(v["columnMetadata"], serde_json::json!([]));
    assert_eq!(v["entityName"], "Contact");

    // A query that would fail fails the same way.
    let (s, _) = t
        .get_with(
            "/query",
            &[("q", "SELECT Nope FROM Account"), ("columns", "true")],
        )
        .await;
    assert_eq!(s, 400);
}
