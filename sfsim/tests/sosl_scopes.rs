//! SOSL's `IN … FIELDS` search groups.

mod common;

use serde_json::{Value, json};

async fn search(t: &common::T, q: &str) -> (u16, Value) {
    t.get_with("/search/", &[("q", q)]).await
}

fn names(v: &Value) -> Vec<String> {
    let mut n: Vec<String> = v["searchRecords"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["LastName"]
                .as_str()
                .or(r["Name"].as_str())
                .unwrap()
                .to_string()
        })
        .collect();
    n.sort();
    n
}

/// SOQL and SOSL Reference, "IN SearchGroup": "ALL FIELDS — Search all searchable fields.
/// If the IN clause is unspecified, then ALL FIELDS is the default setting. EMAIL FIELDS —
/// Search only email fields. NAME FIELDS — Search only name fields … In standard and custom
/// objects, name fields have the nameField property set to true" (plus, per object, fields
/// such as Account's Website and Site, Case's Subject, Lead's Company); "PHONE FIELDS —
/// Search only phone number fields"; "Numeric fields aren't searchable."
#[tokio::test]
async fn search_groups_narrow_the_fields_searched() {
    let t = common::start().await;
    t.create(
        "Contact",
        json!({"LastName": "Quokka", "Email": "first@example.com"}),
    )
    .await;
    t.create(
        "Contact",
        json!({"LastName": "Second", "Email": "quokka@example.com", "Phone": "(415) 555-0199"}),
    )
    .await;
    t.create(
        "Contact",
        json!({"LastName": "Third", "Title": "quokka keeper"}),
    )
    .await;
    t.create("Account", json!({"Name": "Plain", "Site": "Quokka Bay"}))
        .await;

    let all = "FIND {quokka} RETURNING Contact(LastName), Account(Name)";
    let (s, v) = search(&t, all).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(names(&v), ["Plain", "Quokka", "Second", "Third"]);
    let (_, v) = search(&t, &all.replace("}", "} IN ALL FIELDS")).await;
    assert_eq!(names(&v), ["Plain", "Quokka", "Second", "Third"]);
    let (_, v) = search(&t, &all.replace("}", "} IN NAME FIELDS")).await;
    assert_eq!(names(&v), ["Plain", "Quokka"], "{v}");
    let (_, v) = search(&t, &all.replace("}", "} in email fields")).await;
    assert_eq!(names(&v), ["Second"]);
    let (_, v) = search(
        &t,
        "FIND {4155550199} IN PHONE FIELDS RETURNING Contact(LastName)",
    )
    .await;
    assert_eq!(names(&v), ["Second"]);
    let (_, v) = search(
        &t,
        "FIND {quokka} IN PHONE FIELDS RETURNING Contact(LastName)",
    )
    .await;
    assert_eq!(names(&v), Vec::<String>::new());
    let (s, v) = search(&t, "FIND {quokka} IN TITLE FIELDS RETURNING Contact").await;
    assert_eq!(
        (s, v[0]["errorCode"].as_str()),
        (400, Some("MALFORMED_SEARCH"))
    );
}
