//! Table-driven checks of the SOQL parser and evaluator against a small org.

use serde_json::json;
use sfsim::soql::eval::compile;
use sfsim::store::{Org, Raw};

fn org() -> (Org, Vec<String>) {
    let mut org = Org::new("00D5g0000000001AAA");
    let user = org.admin_user_id.clone();
    let mut ids = Vec::new();
    let rows = [
        json!({"Name": "Acme", "Industry": "Banking", "AnnualRevenue": 1000, "NumberOfEmployees": 10, "BillingCity": "Paris"}),
        json!({"Name": "beta corp", "Industry": "Retail", "AnnualRevenue": 50, "NumberOfEmployees": 200}),
        json!({"Name": "Gamma", "Industry": null, "AnnualRevenue": null, "Region__c": "EMEA"}),
        json!({"Name": "Delta's", "Industry": "Banking", "AnnualRevenue": 7.5}),
    ];
    for r in rows {
        let ctx = org.ctx(&user);
        let raw: Vec<(String, Raw)> = r
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), Raw::Json(v.clone())))
            .collect();
        ids.push(org.insert("Account", &raw, &ctx).unwrap());
    }
    let ctx = org.ctx(&user);
    let c = vec![
        ("LastName".to_string(), Raw::Json(json!("Smith"))),
        ("AccountId".to_string(), Raw::Json(json!(ids[0]))),
    ];
    org.insert("Contact", &c, &ctx).unwrap();
    let c = vec![("LastName".to_string(), Raw::Json(json!("Orphan")))];
    org.insert("Contact", &c, &ctx).unwrap();
    (org, ids)
}

fn names(org: &Org, q: &str) -> Result<Vec<String>, String> {
    let c = compile(org, q).map_err(|e| format!("{}: {}", e.code, e.message))?;
    let rows = c.run(org, false);
    Ok(rows
        .iter()
        .map(|id| {
            let v = c.render(org, id, "59.0");
            v.get("Name")
                .or(v.get("LastName"))
                .and_then(|n| n.as_str())
                .unwrap_or("")
                .to_string()
        })
        .collect())
}

#[test]
fn queries_return_expected_rows() {
    let (org, ids) = org();
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (
            "SELECT Name FROM Account",
            vec!["Acme", "beta corp", "Gamma", "Delta's"],
        ),
        ("select name from account where name = 'ACME'", vec!["Acme"]),
        (
            "SELECT Name FROM Account WHERE Name LIKE 'b%'",
            vec!["beta corp"],
        ),
        (
            "SELECT Name FROM Account WHERE Name LIKE '_amm_'",
            vec!["Gamma"],
        ),
        (
            "SELECT Name FROM Account WHERE Name = 'Delta\\'s'",
            vec!["Delta's"],
        ),
        (
            "SELECT Name FROM Account WHERE Industry = null",
            vec!["Gamma"],
        ),
        (
            "SELECT Name FROM Account WHERE Industry != null ORDER BY Name DESC",
            vec!["Delta's", "beta corp", "Acme"],
        ),
        (
            "SELECT Name FROM Account WHERE Industry != 'Banking'",
            vec!["beta corp", "Gamma"],
        ),
        (
            "SELECT Name FROM Account WHERE AnnualRevenue > 10 AND NumberOfEmployees < 100",
            vec!["Acme"],
        ),
        (
            "SELECT Name FROM Account WHERE AnnualRevenue >= 7.5 OR Region__c = 'EMEA'",
            vec!["Acme", "beta corp", "Gamma", "Delta's"],
        ),
        (
            "SELECT Name FROM Account WHERE (AnnualRevenue < 100 OR AnnualRevenue = null) AND NOT Name LIKE 'g%'",
            vec!["beta corp", "Delta's"],
        ),
        (
            "SELECT Name FROM Account WHERE Industry IN ('Retail', 'banking') ORDER BY Name",
            vec!["Acme", "beta corp", "Delta's"],
        ),
        (
            "SELECT Name FROM Account WHERE Industry NOT IN ('Retail')",
            vec!["Acme", "Gamma", "Delta's"],
        ),
        (
            "SELECT Name FROM Account ORDER BY AnnualRevenue ASC NULLS LAST LIMIT 2",
            vec!["Delta's", "beta corp"],
        ),
        (
            "SELECT Name FROM Account ORDER BY AnnualRevenue LIMIT 1",
            vec!["Gamma"],
        ),
        (
            "SELECT Name FROM Account ORDER BY Name LIMIT 2 OFFSET 1",
            vec!["beta corp", "Delta's"],
        ),
        (
            "SELECT Name FROM Account WHERE CreatedDate > 2020-01-01T00:00:00Z AND CreatedDate < 2999-01-01T00:00:00.000+02:00 AND Name = 'Gamma'",
            vec!["Gamma"],
        ),
        (
            "SELECT LastName FROM Contact WHERE Account.Name = 'Acme'",
            vec!["Smith"],
        ),
        (
            "SELECT LastName FROM Contact WHERE Account.Industry = null ORDER BY LastName",
            vec!["Orphan"],
        ),
    ];
    for (q, want) in cases {
        assert_eq!(names(&org, q).unwrap(), want, "query: {q}");
    }
    let id15 = &ids[1][..15];
    assert_eq!(
        names(
            &org,
            &format!("SELECT Name FROM Account WHERE Id = '{id15}'")
        )
        .unwrap(),
        vec!["beta corp"]
    );
    let q = format!(
        "SELECT Name FROM Account WHERE Id > '{}' ORDER BY Id",
        ids[1]
    );
    assert_eq!(names(&org, &q).unwrap(), vec!["Gamma", "Delta's"]);
}

#[test]
fn parent_paths_render_nested_objects() {
    let (org, _) = org();
    let c = compile(
        &org,
        "SELECT Id, LastName, Account.Name, Account.Owner.Alias FROM Contact ORDER BY LastName",
    )
    .unwrap();
    let rows = c.run(&org, false);
    let orphan = c.render(&org, &rows[0], "59.0");
    assert_eq!(orphan["Account"], json!(null));
    let smith = c.render(&org, &rows[1], "59.0");
    assert_eq!(smith["Account"]["Name"], "Acme");
    assert_eq!(smith["Account"]["attributes"]["type"], "Account");
    assert_eq!(smith["Account"]["Owner"]["Alias"], "aadmin");
    assert_eq!(
        c.header(),
        vec!["Id", "LastName", "Account.Name", "Account.Owner.Alias"]
    );
    let c = compile(
        &org,
        "SELECT COUNT() FROM Account WHERE Industry = 'Banking'",
    )
    .unwrap();
    assert!(c.count);
    assert_eq!(c.run(&org, false).len(), 2);
    assert_eq!(c.count_rows(&org, false), 2);
    let c = compile(&org, "SELECT COUNT() FROM Account LIMIT 3 OFFSET 2").unwrap();
    assert_eq!(
        (c.count_rows(&org, false), c.run(&org, false).len()),
        (2, 2)
    );
    let c = compile(
        &org,
        "SELECT BillingAddress FROM Account WHERE Name = 'Acme'",
    )
    .unwrap();
    let row = c.render(&org, &c.run(&org, false)[0], "59.0");
    assert_eq!(row["BillingAddress"]["city"], "Paris");
}

#[test]
fn errors_carry_codes_and_positions() {
    let (org, _) = org();
    let cases: Vec<(&str, &str, &str)> = vec![
        (
            "SELECT Id FORM Account",
            "MALFORMED_QUERY",
            "Row:1:Column:11",
        ),
        (
            "SELECT Id, Nme FROM Account",
            "INVALID_FIELD",
            "Row:1:Column:12",
        ),
        ("SELECT Id FROM Acount", "INVALID_TYPE", "Row:1:Column:16"),
        (
            "SELECT Id FROM Account WHERE",
            "MALFORMED_QUERY",
            "Row:1:Column:29",
        ),
        (
            "SELECT Id FROM Account WHERE Name = 'a' AND Name = 'b' OR Name = 'c'",
            "MALFORMED_QUERY",
            "Row:1:Column:56",
        ),
        (
            "SELECT Id FROM Account WHERE CreatedDate > 2024-01-01",
            "INVALID_FIELD",
            "Row:1:Column:44",
        ),
        (
            "SELECT Id FROM Account WHERE CreatedDate > '2024-01-01T00:00:00Z'",
            "INVALID_FIELD",
            "must be of type dateTime",
        ),
        (
            "SELECT Id FROM Account WHERE AnnualRevenue > 'x'",
            "INVALID_FIELD",
            "must be of type number",
        ),
        (
            "SELECT Foo.Name FROM Contact",
            "INVALID_FIELD",
            "Didn't understand relationship 'Foo'",
        ),
        (
            "SELECT Id FROM Account LIMIT x",
            "MALFORMED_QUERY",
            "unexpected token: 'x'",
        ),
        (
            "SELECT Id FROM Account WHERE Name = 'open",
            "MALFORMED_QUERY",
            "Row:1:Column:37",
        ),
        (
            "SELECT Id, Id FROM Account",
            "MALFORMED_QUERY",
            "duplicate field selected: Id",
        ),
        (
            "SELECT Id FROM Account OFFSET 2001",
            "NUMBER_OUTSIDE_VALID_RANGE",
            "Maximum SOQL offset allowed is 2000",
        ),
        (
            "SELECT Id FROM Account\nWHERE Bogus = 1",
            "INVALID_FIELD",
            "Row:2:Column:7",
        ),
    ];
    for (q, code, needle) in cases {
        let e = compile(&org, q).unwrap_err();
        assert_eq!(e.code, code, "query: {q}: {}", e.message);
        assert!(e.message.contains(needle), "query: {q}: {}", e.message);
    }
}

#[test]
fn like_escapes_match_literal_wildcards() {
    let mut org = Org::new("00D5g0000000001AAA");
    let user = org.admin_user_id.clone();
    for name in ["100% Pure", "100X Pure", "a_b", "axb"] {
        let ctx = org.ctx(&user);
        org.insert(
            "Account",
            &[("Name".to_string(), Raw::Json(json!(name)))],
            &ctx,
        )
        .unwrap();
    }
    assert_eq!(
        names(&org, r"SELECT Name FROM Account WHERE Name LIKE '100\%%'").unwrap(),
        vec!["100% Pure"]
    );
    assert_eq!(
        names(&org, r"SELECT Name FROM Account WHERE Name LIKE 'a\_b'").unwrap(),
        vec!["a_b"]
    );
    assert_eq!(
        names(
            &org,
            r"SELECT Name FROM Account WHERE Name LIKE 'a_b' ORDER BY Name"
        )
        .unwrap(),
        vec!["a_b", "axb"]
    );
    assert_eq!(
        names(&org, r"SELECT Name FROM Account WHERE Name = 'a\_b'").unwrap(),
        vec!["a_b"]
    );
}

#[test]
fn typed_predicates_on_custom_fields() {
    let mut org = Org::new("00D5g0000000001AAA");
    let user = org.admin_user_id.clone();
    let rows = [
        json!({"Invoice_Key__c": "K1", "Tags__c": "Urgent;Partner", "Due_Date__c": "2025-01-10", "Is_Priority__c": true, "Quantity__c": 2, "Unit_Price__c": 10.5, "Reminder_Time__c": "09:30:00.000Z"}),
        json!({"Invoice_Key__c": "K2", "Tags__c": "Recurring", "Due_Date__c": "2025-03-01", "Is_Priority__c": false, "Quantity__c": 1}),
        json!({"Invoice_Key__c": "K3", "Due_Date__c": null}),
    ];
    for r in rows {
        let ctx = org.ctx(&user);
        let raw: Vec<(String, Raw)> = r
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), Raw::Json(v.clone())))
            .collect();
        org.insert("Invoice__c", &raw, &ctx).unwrap();
    }
    let keys = |q: &str| -> Vec<String> {
        let c = compile(&org, q).unwrap_or_else(|e| panic!("{q}: {}", e.message));
        c.run(&org, false)
            .iter()
            .map(|id| {
                c.render(&org, id, "59.0")["Invoice_Key__c"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (
            "SELECT Invoice_Key__c FROM Invoice__c WHERE Tags__c INCLUDES ('Urgent')",
            vec!["K1"],
        ),
        (
            "SELECT Invoice_Key__c FROM Invoice__c WHERE Tags__c INCLUDES ('Urgent;Recurring', 'Recurring')",
            vec!["K2"],
        ),
        (
            "SELECT Invoice_Key__c FROM Invoice__c WHERE Tags__c INCLUDES ('partner;urgent')",
            vec!["K1"],
        ),
        (
            "SELECT Invoice_Key__c FROM Invoice__c WHERE Tags__c EXCLUDES ('Urgent') ORDER BY Invoice_Key__c",
            vec!["K2", "K3"],
        ),
        (
            "SELECT Invoice_Key__c FROM Invoice__c WHERE Due_Date__c < 2025-02-01",
            vec!["K1"],
        ),
        (
            "SELECT Invoice_Key__c FROM Invoice__c WHERE Due_Date__c = null",
            vec!["K3"],
        ),
        (
            "SELECT Invoice_Key__c FROM Invoice__c WHERE Is_Priority__c = true",
            vec!["K1"],
        ),
        (
            "SELECT Invoice_Key__c FROM Invoice__c WHERE Is_Priority__c = FALSE ORDER BY Invoice_Key__c DESC",
            vec!["K3", "K2"],
        ),
        (
            "SELECT Invoice_Key__c FROM Invoice__c WHERE Total__c = 21",
            vec!["K1"],
        ),
        (
            "SELECT Invoice_Key__c FROM Invoice__c WHERE Total__c = null ORDER BY Invoice_Key__c",
            vec!["K2", "K3"],
        ),
        (
            "SELECT Invoice_Key__c FROM Invoice__c WHERE Status__c = 'Draft' AND Name LIKE 'INV-%' ORDER BY Name DESC LIMIT 1",
            vec!["K3"],
        ),
        (
            "SELECT Invoice_Key__c FROM Invoice__c ORDER BY Due_Date__c DESC NULLS LAST",
            vec!["K2", "K1", "K3"],
        ),
    ];
    for (q, want) in cases {
        assert_eq!(keys(q), want, "{q}");
    }
    let c = compile(&org, "SELECT Name, Reminder_Time__c, Due_Date__c, Total__c FROM Invoice__c WHERE Invoice_Key__c = 'K1'").unwrap();
    let row = c.render(&org, &c.run(&org, false)[0], "59.0");
    assert_eq!(row["Name"], "INV-00001");
    assert_eq!(row["Reminder_Time__c"], "09:30:00.000Z");
    assert_eq!(row["Due_Date__c"], "2025-01-10");
    assert_eq!(row["Total__c"], 21.0);
    let e = compile(
        &org,
        "SELECT Id FROM Invoice__c WHERE Is_Priority__c = 'true'",
    )
    .unwrap_err();
    assert_eq!(e.code, "INVALID_FIELD");
    let e = compile(
        &org,
        "SELECT Id FROM Invoice__c WHERE Invoice_Key__c INCLUDES ('a')",
    )
    .unwrap_err();
    assert_eq!(e.code, "INVALID_FIELD");
}

#[test]
fn like_patterns_do_not_backtrack_exponentially() {
    let mut org = Org::new("00D5g0000000001AAA");
    let user = org.admin_user_id.clone();
    let ctx = org.ctx(&user);
    org.insert(
        "Account",
        &[("Name".to_string(), Raw::Json(json!("a".repeat(200))))],
        &ctx,
    )
    .unwrap();
    let q = format!(
        "SELECT Name FROM Account WHERE Name LIKE '{}b'",
        "%a".repeat(40)
    );
    assert!(names(&org, &q).unwrap().is_empty());
    let q = format!(
        "SELECT Name FROM Account WHERE Name LIKE '{}'",
        "%a".repeat(40)
    );
    assert_eq!(names(&org, &q).unwrap().len(), 1);
}

/// SOQL and SOSL Reference, "Date Formats and Date Literals": "A fieldExpression can use a
/// date literal to compare a range of values to the value in a date or dateTime field. Each
/// literal is a range of time beginning with midnight (00:00:00)." E.g. "THIS_MONTH —
/// Starts 00:00:00 on the first day of the month that the current day is in and continues
/// for all the days of that month"; "LAST_N_MONTHS:n — … starts 00:00:00 of the last day
/// of the previous month and continues for the past n months" (the current month not
/// among them); "THIS_WEEK — Starts 00:00:00 on the first day of the current week and
/// continues for seven days" (the locale's first day: Sunday for en_US).
#[test]
fn relative_date_literals() {
    use chrono::NaiveDate;
    use sfsim::soql::date_literal::range as relative_range;
    let day = NaiveDate::from_ymd_opt(2024, 3, 1).unwrap();
    let d = |m, dd| NaiveDate::from_ymd_opt(2024, m, dd).unwrap();
    assert_eq!(relative_range("TODAY", day), Some((d(3, 1), d(3, 2))));
    assert_eq!(relative_range("yesterday", day), Some((d(2, 29), d(3, 1))));
    assert_eq!(
        relative_range("LAST_N_DAYS:7", day),
        Some((d(2, 23), d(3, 2)))
    );
    assert_eq!(
        relative_range("NEXT_N_DAYS:2", day),
        Some((d(3, 2), d(3, 4)))
    );
    assert_eq!(
        relative_range("N_DAYS_AGO:1", day),
        Some((d(2, 29), d(3, 1)))
    );
    assert_eq!(relative_range("LAST_N_DAYS", day), None);
    // 2024-03-01 is a Friday.
    assert_eq!(relative_range("THIS_WEEK", day), Some((d(2, 25), d(3, 3))));
    assert_eq!(relative_range("THIS_MONTH", day), Some((d(3, 1), d(4, 1))));
    assert_eq!(relative_range("LAST_MONTH", day), Some((d(2, 1), d(3, 1))));
    assert_eq!(
        relative_range("LAST_N_MONTHS:2", day),
        Some((d(1, 1), d(3, 1)))
    );
    assert_eq!(
        relative_range("THIS_QUARTER", day),
        Some((d(1, 1), d(4, 1)))
    );
    assert_eq!(
        relative_range("THIS_YEAR", day),
        Some((d(1, 1), NaiveDate::from_ymd_opt(2025, 1, 1).unwrap()))
    );

    let (org, _) = org();
    assert_eq!(
        names(
            &org,
            "SELECT Name FROM Account WHERE CreatedDate = LAST_N_DAYS:2"
        )
        .unwrap()
        .len(),
        4
    );
    assert!(
        names(
            &org,
            "SELECT Name FROM Account WHERE CreatedDate > TOMORROW"
        )
        .unwrap()
        .is_empty()
    );
    assert!(
        names(
            &org,
            "SELECT Name FROM Account WHERE CreatedDate < N_DAYS_AGO:5"
        )
        .unwrap()
        .is_empty()
    );
    assert_eq!(
        names(
            &org,
            "SELECT Name FROM Account WHERE CreatedDate >= N_DAYS_AGO:5 AND Name = 'Gamma'"
        )
        .unwrap(),
        vec!["Gamma"]
    );
    assert_eq!(
        names(
            &org,
            "SELECT Name FROM Account WHERE CreatedDate = THIS_YEAR AND CreatedDate = LAST_90_DAYS"
        )
        .unwrap()
        .len(),
        4
    );
    assert!(
        names(
            &org,
            "SELECT Name FROM Account WHERE CreatedDate = NEXT_MONTH"
        )
        .unwrap()
        .is_empty()
    );
    let e = compile(&org, "SELECT Id FROM Account WHERE Name = TODAY").unwrap_err();
    assert_eq!(e.code, "INVALID_FIELD");
}
