//! `GROUP BY ROLLUP` and `GROUP BY CUBE`.

mod common;

use serde_json::{Value, json};

async fn run(t: &common::T, soql: &str) -> (u16, Value) {
    t.get_with("/query", &[("q", soql)]).await
}

/// SOQL and SOSL Reference, "GROUP BY ROLLUP": "Use the GROUP BY ROLLUP optional clause in
/// a SOQL query to add subtotals for aggregated data in query results"; "You can use GROUP
/// BY ROLLUP with up to three fields in a comma-separated list" — subtotals for the first
/// field(s) and a grand total, the rolled-up fields null. "GROUP BY CUBE": "add subtotals
/// for all combinations of a grouped field in the query results". "GROUPING(fieldName)":
/// "determine whether a row is a subtotal for a field … returns 1 if the row is a subtotal
/// for the field, and 0 otherwise".
#[tokio::test]
async fn rollup_and_cube_add_subtotals() {
    let t = common::start().await;
    for (status, source) in [
        ("Open - Not Contacted", "Web"),
        ("Open - Not Contacted", "Phone Inquiry"),
        ("Working - Contacted", "Web"),
    ] {
        t.create(
            "Lead",
            json!({"LastName": "R", "Company": "RU Co", "Status": status, "LeadSource": source}),
        )
        .await;
    }
    let (s, v) = run(
        &t,
        "SELECT Status, LeadSource, COUNT(Id) n, GROUPING(Status) gs, GROUPING(LeadSource) gl FROM Lead WHERE Company = 'RU Co' GROUP BY ROLLUP(Status, LeadSource)",
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let rows: Vec<(Value, Value, Value, Value, Value)> = v["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["Status"].clone(),
                r["LeadSource"].clone(),
                r["n"].clone(),
                r["gs"].clone(),
                r["gl"].clone(),
            )
        })
        .collect();
    let open = json!("Open - Not Contacted");
    let working = json!("Working - Contacted");
    let (web, phone, null) = (json!("Web"), json!("Phone Inquiry"), json!(null));
    let row = |a: &Value, b: &Value, n: i64, gs: i64, gl: i64| {
        (a.clone(), b.clone(), json!(n), json!(gs), json!(gl))
    };
    assert_eq!(
        rows,
        vec![
            row(&open, &phone, 1, 0, 0),
            row(&open, &web, 1, 0, 0),
            row(&open, &null, 2, 0, 1),
            row(&working, &web, 1, 0, 0),
            row(&working, &null, 1, 0, 1),
            row(&null, &null, 3, 1, 1),
        ]
    );

    let (_, v) = run(
        &t,
        "SELECT Status, LeadSource, COUNT(Id) FROM Lead WHERE Company = 'RU Co' GROUP BY CUBE(Status, LeadSource)",
    )
    .await;
    let recs = v["records"].as_array().unwrap();
    assert_eq!(recs.len(), 8, "{v}");
    let by_source: Vec<_> = recs
        .iter()
        .filter(|r| r["Status"].is_null() && !r["LeadSource"].is_null())
        .map(|r| {
            (
                r["LeadSource"].as_str().unwrap(),
                r["expr0"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(by_source, [("Phone Inquiry", 1), ("Web", 2)]);

    let refused = [
        "SELECT Status, GROUPING(Status) FROM Lead GROUP BY Status",
        "SELECT Status, COUNT(Id) FROM Lead GROUP BY ROLLUP(Status, LeadSource, Industry, Rating)",
    ];
    for q in refused {
        let (s, v) = run(&t, q).await;
        assert_eq!(
            (s, v[0]["errorCode"].as_str()),
            (400, Some("MALFORMED_QUERY")),
            "{q}"
        );
    }
}
