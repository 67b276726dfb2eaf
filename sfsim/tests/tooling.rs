//! The Tooling API's query resource.

mod common;

use serde_json::Value;

async fn tooling(t: &common::T, soql: &str) -> (u16, Value) {
    t.get_with("/tooling/query/", &[("q", soql)]).await
}

/// Tooling API, "REST Resources": "The base URI for each Tooling API REST resource is
/// https://domain/services/data/vXX.X/tooling/"; "/query/?q=SOQL_Query_Statement —
/// Supported methods: GET — Executes a query against an object and returns data that
/// matches the specified criteria." The result is a QueryResult with `size`, `totalSize`,
/// `done`, `queryLocator` and `entityTypeName`; records' urls are under
/// `/tooling/sobjects/`. ApexClass ("Represents the saved copy of an Apex class"),
/// ApexTrigger, CustomObject and CustomField ("TableEnumOrId: … the enum (for example,
/// Account) or the ID of the object this field is associated with") are among its objects.
/// (sfsim: these four, read-only; the custom objects and fields are the org's own.)
#[tokio::test]
async fn tooling_query_answers_setup_objects() {
    let t = common::start().await;
    let (s, v) = tooling(&t, "SELECT Id, Name, ApiVersion, Status FROM ApexClass").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["entityTypeName"], "ApexClass");
    assert_eq!(v["done"], true);
    assert_eq!(v["size"], v["totalSize"]);
    let class = &v["records"][0];
    assert_eq!(class["Name"], "AccountService");
    assert_eq!(class["Status"], "Active");
    assert!(
        class["attributes"]["url"]
            .as_str()
            .unwrap()
            .starts_with("/services/data/v59.0/tooling/sobjects/ApexClass/01p"),
        "{class}"
    );

    let (_, v) = tooling(
        &t,
        "SELECT DeveloperName, TableEnumOrId FROM CustomField WHERE DeveloperName = 'Region'",
    )
    .await;
    assert_eq!(v["records"][0]["TableEnumOrId"], "Account", "{v}");
    let (_, v) = tooling(
        &t,
        "SELECT Id FROM CustomObject WHERE DeveloperName = 'Invoice'",
    )
    .await;
    let invoice = v["records"][0]["Id"].as_str().unwrap().to_string();
    assert!(invoice.starts_with("01I"));
    let (_, v) = tooling(
        &t,
        &format!("SELECT COUNT() FROM CustomField WHERE TableEnumOrId = '{invoice}'"),
    )
    .await;
    assert!(v["totalSize"].as_u64().unwrap() >= 5, "{v}");

    let (_, v) = tooling(&t, "SELECT Name, TableEnumOrId FROM ApexTrigger").await;
    assert_eq!(v["records"][0]["TableEnumOrId"], "Account");

    // A data object is not a Tooling API object.
    let (s, v) = tooling(&t, "SELECT Id FROM Account").await;
    assert_eq!((s, v[0]["errorCode"].as_str()), (400, Some("INVALID_TYPE")));
}
