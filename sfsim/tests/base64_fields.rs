//! Binary content (`base64` fields: Attachment.Body, Document.Body, ContentVersion.VersionData).

mod common;

use serde_json::json;

/// REST API Developer Guide, "Get Blob Data": "Retrieves the specified blob field from an
/// individual record and returns it as binary data" (`/sobjects/{Object}/{id}/{blobField}`);
/// a query or a record answers the blob's URL in the field, not its content. Bulk API 2.0
/// queries do not carry binary content (Bulk API: "Binary field Body is only supported for
/// content types ZIP_XML and ZIP_CSV", which Bulk API 2.0 does not have) — a query job that
/// selects a base64 field is refused at creation. Describe types the field `base64`
/// (soapType `xsd:base64Binary`), neither filterable, sortable nor groupable.
#[tokio::test]
async fn base64_fields_answer_urls_and_are_refused_by_bulk_queries() {
    let t = common::start().await;
    let (s, d) = t
        .json(reqwest::Method::GET, "/sobjects/Attachment/describe", None)
        .await;
    assert_eq!(s, 200, "{d}");
    let body = d["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "Body")
        .unwrap()
        .clone();
    assert_eq!(body["type"], "base64");
    assert_eq!(body["soapType"], "xsd:base64Binary");
    assert_eq!(body["filterable"], false);
    assert_eq!(body["sortable"], false);

    let id = t
        .create(
            "Attachment",
            json!({"Name": "hello.txt", "ContentType": "text/plain", "Body": "aGVsbG8="}),
        )
        .await;
    let v = t
        .query(&format!(
            "SELECT Id, Name, Body FROM Attachment WHERE Id = '{id}'"
        ))
        .await;
    let url = format!("/services/data/v59.0/sobjects/Attachment/{id}/Body");
    assert_eq!(v["records"][0]["Body"], url.as_str(), "{v}");
    let (s, rec) = t
        .json(
            reqwest::Method::GET,
            &format!("/sobjects/Attachment/{id}"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(rec["Body"], url.as_str());

    let r = t.get(&format!("/sobjects/Attachment/{id}/Body")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"hello");

    let (s, v) = t
        .json(
            reqwest::Method::GET,
            "/query?q=SELECT+Id+FROM+Attachment+WHERE+Body+!%3D+null",
            None,
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v[0]["errorCode"], "INVALID_FIELD");

    let (s, v) = t
        .json(
            reqwest::Method::POST,
            "/jobs/query",
            Some(json!({"operation": "query", "query": "SELECT Id, Body FROM Attachment"})),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v[0]["errorCode"], "FUNCTIONALITY_NOT_ENABLED");
    let (s, v) = t
        .json(
            reqwest::Method::POST,
            "/jobs/query",
            Some(json!({"operation": "query", "query": "SELECT Id, Name FROM Attachment"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
}
