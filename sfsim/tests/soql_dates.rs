//! SOQL's date functions.

mod common;

use serde_json::{Value, json};

async fn run(t: &common::T, soql: &str) -> (u16, Value) {
    t.get_with("/query", &[("q", soql)]).await
}

/// SOQL and SOSL Reference, "Date Functions": "Date functions allow you to group or filter
/// your data by various date periods such as day, calendar month, or fiscal year. For
/// example, you could use the CALENDAR_YEAR() function to find the sum of the Amount values
/// for all your opportunities for each calendar year"; "CALENDAR_MONTH() — Returns a
/// number representing the calendar month of a date field", "DAY_ONLY() — Returns a date
/// representing the day portion of a dateTime field", "DAY_IN_WEEK() — … (1 for Sunday, 7
/// for Saturday)". Unaliased, a date function is named like an aggregate, `expr0`, `expr1`,
/// … in the AggregateResult ("Alias Notation").
#[tokio::test]
async fn date_functions_group_and_filter() {
    let t = common::start().await;
    for (name, close, amount) in [
        ("DF a", "2023-11-20", 10.0),
        ("DF b", "2024-02-10", 20.0),
        ("DF c", "2024-02-25", 30.0),
        ("DF d", "2024-05-01", 40.0),
    ] {
        t.create(
            "Opportunity",
            json!({"Name": name, "CloseDate": close, "Amount": amount, "StageName": "Prospecting"}),
        )
        .await;
    }
    let (s, v) = run(
        &t,
        "SELECT CALENDAR_YEAR(CloseDate), SUM(Amount) FROM Opportunity WHERE Name LIKE 'DF %' GROUP BY CALENDAR_YEAR(CloseDate) ORDER BY CALENDAR_YEAR(CloseDate)",
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let rows = &v["records"];
    assert_eq!(rows[0]["expr0"], 2023, "{v}");
    assert_eq!(rows[0]["expr1"], 10.0);
    assert_eq!(rows[1]["expr0"], 2024);
    assert_eq!(rows[1]["expr1"], 90.0);

    let (_, v) = run(
        &t,
        "SELECT CALENDAR_MONTH(CloseDate) month, COUNT(Id) n FROM Opportunity WHERE Name LIKE 'DF %' AND CALENDAR_YEAR(CloseDate) = 2024 GROUP BY CALENDAR_MONTH(CloseDate) ORDER BY CALENDAR_MONTH(CloseDate) DESC",
    )
    .await;
    assert_eq!(
        v["records"],
        json!([
            {"attributes": {"type": "AggregateResult"}, "month": 5, "n": 1},
            {"attributes": {"type": "AggregateResult"}, "month": 2, "n": 2},
        ])
    );

    let (_, v) = run(
        &t,
        "SELECT Name FROM Opportunity WHERE CALENDAR_QUARTER(CloseDate) = 1 AND DAY_IN_MONTH(CloseDate) > 15 AND Name LIKE 'DF %'",
    )
    .await;
    assert_eq!(v["totalSize"], 1, "{v}");
    assert_eq!(v["records"][0]["Name"], "DF c");
    let (_, v) = run(
        &t,
        "SELECT COUNT() FROM Opportunity WHERE DAY_ONLY(CreatedDate) = TODAY AND Name LIKE 'DF %'",
    )
    .await;
    assert_eq!(v["totalSize"], 4, "{v}");

    let refused = [
        (
            "SELECT CALENDAR_YEAR(CloseDate) FROM Opportunity",
            "MALFORMED_QUERY",
        ),
        (
            "SELECT COUNT() FROM Opportunity WHERE DAY_ONLY(CloseDate) = TODAY",
            "INVALID_FIELD",
        ),
        (
            "SELECT COUNT() FROM Opportunity WHERE CALENDAR_YEAR(Name) = 2024",
            "INVALID_FIELD",
        ),
    ];
    for (q, code) in refused {
        let (s, v) = run(&t, q).await;
        assert_eq!((s, v[0]["errorCode"].as_str()), (400, Some(code)), "{q}");
    }
}
