//! SOQL beyond the incremental-pull subset: relationship subqueries, semi- and anti-joins,
//! aggregates, FIELDS(), TYPEOF, toLabel and the WITH/FOR clauses, each with the errors
//! Salesforce answers where they are not allowed.

mod common;

use reqwest::Method;
use serde_json::{Value, json};

/// A query that must fail: its status and first error.
async fn refused(t: &common::T, soql: &str) -> (u16, String, String) {
    let r = t
        .http
        .get(t.url("/query"))
        .query(&[("q", soql)])
        .bearer_auth(t.sim.access_token())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap();
    (
        status,
        v[0]["errorCode"].as_str().unwrap_or_default().to_owned(),
        v[0]["message"].as_str().unwrap_or_default().to_owned(),
    )
}

async fn accounts_with_contacts(t: &common::T) -> (String, String) {
    let a = t.create("Account", json!({"Name": "Sub A"})).await;
    let b = t.create("Account", json!({"Name": "Sub B"})).await;
    for last in ["Zed", "Ames"] {
        t.create("Contact", json!({"LastName": last, "AccountId": a}))
            .await;
    }
    (a, b)
}

/// "Use a relationship query to traverse parent-to-child relationships … specify the
/// relationship name in a subquery" (SOQL and SOSL Reference, "Relationship Queries"): the
/// subquery names the child relationship (`Contacts`), each row carries its children as a
/// nested query result — `totalSize`, `done`, `records` — or null when it has none. An
/// unknown relationship is INVALID_TYPE, "Didn't understand relationship … in FROM part of
/// query call".
#[tokio::test]
async fn parent_to_child_subqueries() {
    let t = common::start().await;
    let (a, b) = accounts_with_contacts(&t).await;
    let v = t
        .query(&format!(
            "SELECT Name, (SELECT LastName FROM Contacts ORDER BY LastName) FROM Account \
             WHERE Id IN ('{a}', '{b}') ORDER BY Name"
        ))
        .await;
    let rows = v["records"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let kids = &rows[0]["Contacts"];
    assert_eq!(kids["totalSize"], 2);
    assert_eq!(kids["done"], true);
    assert_eq!(kids["records"][0]["LastName"], "Ames");
    assert_eq!(kids["records"][1]["LastName"], "Zed");
    assert_eq!(kids["records"][0]["attributes"]["type"], "Contact");
    assert_eq!(rows[1]["Contacts"], Value::Null);
    // A limit inside the subquery applies per parent.
    let v = t
        .query(&format!(
            "SELECT Id, (SELECT Id FROM Contacts LIMIT 1) FROM Account WHERE Id = '{a}'"
        ))
        .await;
    assert_eq!(v["records"][0]["Contacts"]["totalSize"], 1);
    let (s, code, msg) = refused(&t, "SELECT Id, (SELECT Id FROM Nopes) FROM Account").await;
    assert_eq!((s, code.as_str()), (400, "INVALID_TYPE"));
    assert!(
        msg.contains("Didn't understand relationship 'Nopes' in FROM part of query call"),
        "{msg}"
    );
}

/// "A semi-join is a subquery on another object in an IN clause to restrict the records
/// returned"; "an anti-join is a subquery on another object in a NOT IN clause" (SOQL and
/// SOSL Reference, "Semi-Joins with IN and Anti-Joins with NOT IN"). The subquery selects
/// one ID or reference field and the left operand is an ID or reference; "no nested
/// semi-joins" ("Nesting of semi join sub-selects is not supported"); "no more than two IN
/// or NOT IN statements per WHERE clause", and not as an operand of OR or NOT ("Semi join
/// sub-selects are only allowed at the top level WHERE expressions and not in nested WHERE
/// expressions.").
#[tokio::test]
async fn semi_joins_and_anti_joins() {
    let t = common::start().await;
    let (a, b) = accounts_with_contacts(&t).await;
    let v = t
        .query("SELECT Id FROM Account WHERE Name LIKE 'Sub %' AND Id IN (SELECT AccountId FROM Contact WHERE LastName = 'Zed')")
        .await;
    assert_eq!(v["totalSize"], 1);
    assert_eq!(v["records"][0]["Id"], a);
    let v = t
        .query("SELECT Id FROM Account WHERE Name LIKE 'Sub %' AND Id NOT IN (SELECT AccountId FROM Contact)")
        .await;
    assert_eq!(v["totalSize"], 1);
    assert_eq!(v["records"][0]["Id"], b);
    let (s, code, _) = refused(
        &t,
        "SELECT Id FROM Account WHERE Id IN (SELECT LastName FROM Contact)",
    )
    .await;
    assert_eq!((s, code.as_str()), (400, "MALFORMED_QUERY"));
    let (s, code, _) = refused(
        &t,
        "SELECT Id FROM Account WHERE Name IN (SELECT AccountId FROM Contact)",
    )
    .await;
    assert_eq!((s, code.as_str()), (400, "MALFORMED_QUERY"));
    let (_, code, msg) = refused(
        &t,
        "SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Contact WHERE Id IN (SELECT ContactId FROM Case))",
    )
    .await;
    assert_eq!(code, "MALFORMED_QUERY");
    assert!(
        msg.ends_with("Nesting of semi join sub-selects is not supported"),
        "{msg}"
    );
    // Only in the top-level AND, never under OR or NOT, at most two.
    for q in [
        "SELECT Id FROM Account WHERE Name = 'x' OR Id IN (SELECT AccountId FROM Contact)",
        "SELECT Id FROM Account WHERE NOT (Id IN (SELECT AccountId FROM Contact))",
    ] {
        let (_, code, msg) = refused(&t, q).await;
        assert_eq!(code, "MALFORMED_QUERY", "{q}");
        assert!(msg.ends_with("Semi join sub-selects are only allowed at the top level WHERE expressions and not in nested WHERE expressions."), "{msg}");
    }
    let (_, code, _) = refused(
        &t,
        "SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Contact) \
         AND Id IN (SELECT AccountId FROM Case) AND Id IN (SELECT AccountId FROM Opportunity)",
    )
    .await;
    assert_eq!(code, "MALFORMED_QUERY");
    let v = t
        .query("SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Contact) AND Id NOT IN (SELECT AccountId FROM Case)")
        .await;
    assert_eq!(v["totalSize"], 1, "two are allowed");
}

/// "Use the GROUP BY clause with aggregate functions, such as SUM() or MAX(), to summarize
/// the data"; each row is an AggregateResult, an aggregate without an alias is `expr0`,
/// `expr1`, …; a selected field must be grouped or aggregated ("Field must be grouped or
/// aggregated"), a field must be groupable to be grouped by (describe's `groupable`), and
/// SUM/AVG take numbers only (SOQL and SOSL Reference, "GROUP BY", "Aggregate Functions").
/// Without GROUP BY an aggregate query answers one row. "Use the HAVING clause to filter
/// the results returned by aggregate functions in a SELECT statement" — with GROUP BY, on
/// aggregates or grouped fields ("HAVING", same reference).
#[tokio::test]
async fn group_by_with_aggregates() {
    let t = common::start().await;
    for (i, (stage, amount)) in [
        ("Prospecting", 100.0),
        ("Prospecting", 300.0),
        ("Closed Won", 1000.0),
    ]
    .iter()
    .enumerate()
    {
        t.create(
            "Opportunity",
            json!({"Name": format!("agg-{i}"), "StageName": stage, "CloseDate": "2026-01-31", "Amount": amount}),
        )
        .await;
    }
    let v = t
        .query("SELECT StageName, COUNT(Id) n, SUM(Amount), MAX(Amount) FROM Opportunity WHERE Name LIKE 'agg-%' GROUP BY StageName ORDER BY StageName")
        .await;
    assert_eq!(v["totalSize"], 2);
    assert_eq!(v["done"], true);
    let rows = v["records"].as_array().unwrap();
    assert_eq!(rows[0]["attributes"]["type"], "AggregateResult");
    assert_eq!(rows[0]["StageName"], "Closed Won");
    assert_eq!(rows[0]["n"], 1);
    assert_eq!(rows[1]["StageName"], "Prospecting");
    assert_eq!(rows[1]["n"], 2);
    assert_eq!(rows[1]["expr0"], 400.0);
    assert_eq!(rows[1]["expr1"], 300.0);
    let v = t
        .query("SELECT COUNT(Id), AVG(Amount) avg FROM Opportunity WHERE Name LIKE 'agg-%'")
        .await;
    assert_eq!(v["records"][0]["expr0"], 3);
    assert!((v["records"][0]["avg"].as_f64().unwrap() - 466.666).abs() < 0.01);

    let (_, code, msg) = refused(
        &t,
        "SELECT Name, COUNT(Id) FROM Opportunity GROUP BY StageName",
    )
    .await;
    assert_eq!(code, "MALFORMED_QUERY");
    assert!(
        msg.ends_with("Field must be grouped or aggregated: Name"),
        "{msg}"
    );
    let (_, code, msg) = refused(&t, "SELECT Amount FROM Opportunity GROUP BY Amount").await;
    assert_eq!(code, "INVALID_FIELD");
    assert!(msg.contains("can not be grouped"), "{msg}");
    let (_, code, _) = refused(&t, "SELECT SUM(Name) FROM Opportunity").await;
    assert_eq!(code, "INVALID_FIELD");

    // HAVING filters the groups: on an aggregate, or on a grouped field.
    let v = t
        .query("SELECT StageName, COUNT(Id) FROM Opportunity WHERE Name LIKE 'agg-%' GROUP BY StageName HAVING COUNT(Id) > 1")
        .await;
    assert_eq!(v["totalSize"], 1);
    assert_eq!(v["records"][0]["StageName"], "Prospecting");
    let v = t
        .query("SELECT StageName, SUM(Amount) FROM Opportunity WHERE Name LIKE 'agg-%' GROUP BY StageName HAVING SUM(Amount) >= 1000 OR StageName = 'Prospecting' ORDER BY StageName")
        .await;
    assert_eq!(v["totalSize"], 2);
    let (_, code, msg) = refused(
        &t,
        "SELECT StageName, COUNT(Id) FROM Opportunity GROUP BY StageName HAVING Name = 'x'",
    )
    .await;
    assert_eq!(code, "MALFORMED_QUERY");
    assert!(
        msg.ends_with("Field must be grouped or aggregated: Name"),
        "{msg}"
    );
    let (_, code, _) = refused(&t, "SELECT COUNT(Id) FROM Opportunity HAVING COUNT(Id) > 1").await;
    assert_eq!(code, "MALFORMED_QUERY");
}

/// "FIELDS(ALL) — select all the fields of an object. FIELDS(CUSTOM) — select all the
/// custom fields … FIELDS(STANDARD) — select all the standard fields"; the unbounded
/// ALL and CUSTOM need "LIMIT n, where n is less than or equal to 200" (SOQL and SOSL
/// Reference, "FIELDS()"). "Use toLabel(fields) to translate SOQL query results into the
/// language of the user who submits the query" — a picklist value's label, which differs
/// from the value (its API name) where the admin gave it one ("toLabel()", same
/// reference); only picklists have them. A multi-currency org's `CurrencyIsoCode` labels
/// read `EUR - Euro`.
#[tokio::test]
async fn fields_function_and_to_label() {
    let t = common::start().await;
    let id = t
        .create(
            "Account",
            json!({"Name": "Fields", "Region__c": "EMEA", "Rating": "Hot"}),
        )
        .await;
    let v = t
        .query(&format!(
            "SELECT FIELDS(STANDARD) FROM Account WHERE Id = '{id}'"
        ))
        .await;
    let r = &v["records"][0];
    assert_eq!(r["Name"], "Fields");
    assert!(r.get("Region__c").is_none());
    assert!(
        r.get("Credit_Limit__c").is_none(),
        "hidden by field-level security"
    );
    let v = t
        .query(&format!(
            "SELECT FIELDS(CUSTOM) FROM Account WHERE Id = '{id}' LIMIT 200"
        ))
        .await;
    let r = &v["records"][0];
    assert_eq!(r["Region__c"], "EMEA");
    assert!(r.get("Name").is_none());
    let (_, code, msg) = refused(&t, "SELECT FIELDS(ALL) FROM Account").await;
    assert_eq!(code, "MALFORMED_QUERY");
    assert!(
        msg.ends_with("The SOQL FIELDS function must have a LIMIT of at most 200"),
        "{msg}"
    );
    let (_, code, _) = refused(&t, "SELECT FIELDS(ALL) FROM Account LIMIT 201").await;
    assert_eq!(code, "MALFORMED_QUERY");
    let v = t
        .query(&format!(
            "SELECT toLabel(Rating) FROM Account WHERE Id = '{id}'"
        ))
        .await;
    assert_eq!(v["records"][0]["Rating"], "Hot");
    let v = t
        .query(&format!(
            "SELECT Region__c, toLabel(CurrencyIsoCode) FROM Account WHERE Id = '{id}'"
        ))
        .await;
    assert_eq!(v["records"][0]["Region__c"], "EMEA");
    assert_eq!(v["records"][0]["CurrencyIsoCode"], "USD - U.S. Dollar");
    let v = t
        .query(&format!(
            "SELECT toLabel(Region__c) FROM Account WHERE Id = '{id}'"
        ))
        .await;
    assert_eq!(
        v["records"][0]["Region__c"],
        "Europe, Middle East and Africa"
    );
    let (_, d) = t
        .json(reqwest::Method::GET, "/sobjects/Account/describe", None)
        .await;
    let region = d["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "Region__c")
        .unwrap();
    assert_eq!(region["picklistValues"][1]["value"], "AMER");
    assert_eq!(region["picklistValues"][1]["label"], "Americas");
    let (_, code, _) = refused(&t, "SELECT toLabel(Name) FROM Account").await;
    assert_eq!(code, "INVALID_FIELD");
}

/// "TYPEOF … WHEN … THEN … ELSE … END: query data that contains polymorphic relationships"
/// — the fields depend on the type of the record the relationship points at (SOQL and
/// SOSL Reference, "TYPEOF"); only polymorphic relationships allow it. Without it, a
/// polymorphic relationship's path (`Owner.Name`) reaches the parent whatever its type. `WITH
/// SECURITY_ENFORCED` checks field- and object-level security (a hidden field is still no
/// column), `FOR VIEW`/`FOR REFERENCE` update usage records, and "you can't use the ORDER
/// BY clause in any SOQL query that uses locking" (FOR UPDATE).
#[tokio::test]
async fn typeof_and_with_and_for_clauses() {
    let t = common::start().await;
    let v = t
        .query("SELECT Id FROM Group WHERE DeveloperName = 'Support_Queue'")
        .await;
    let queue = v["records"][0]["Id"].as_str().unwrap().to_owned();
    let queued = t
        .create("Case", json!({"Subject": "queued", "OwnerId": queue}))
        .await;
    let mine = t.create("Case", json!({"Subject": "mine"})).await;
    let v = t
        .query(&format!(
            "SELECT Subject, TYPEOF Owner WHEN Group THEN Name, Type WHEN User THEN Username ELSE Name END \
             FROM Case WHERE Id IN ('{queued}', '{mine}') ORDER BY Subject"
        ))
        .await;
    let rows = v["records"].as_array().unwrap();
    assert_eq!(rows[0]["Subject"], "mine");
    assert_eq!(rows[0]["Owner"]["attributes"]["type"], "User");
    assert!(rows[0]["Owner"]["Username"].as_str().unwrap().contains('@'));
    assert_eq!(rows[1]["Owner"]["attributes"]["type"], "Group");
    assert_eq!(rows[1]["Owner"]["Name"], "Support Queue");
    assert_eq!(rows[1]["Owner"]["Type"], "Queue");
    // Without TYPEOF a polymorphic relationship still reaches the record, whatever its
    // type: the fields every owner type has (Name) come from the owner itself.
    let v = t
        .query(&format!(
            "SELECT Subject, Owner.Name FROM Case WHERE Id IN ('{queued}', '{mine}') AND Owner.Name != null ORDER BY Subject"
        ))
        .await;
    let rows = v["records"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{v}");
    assert_eq!(rows[0]["Owner"]["attributes"]["type"], "User");
    assert_eq!(rows[0]["Owner"]["Name"], "Ada Admin");
    assert_eq!(rows[1]["Owner"]["attributes"]["type"], "Group");
    assert_eq!(rows[1]["Owner"]["Name"], "Support Queue");
    let (_, code, _) = refused(
        &t,
        "SELECT TYPEOF Parent WHEN Account THEN Name END FROM Account",
    )
    .await;
    assert_eq!(code, "INVALID_FIELD");

    let v = t
        .query("SELECT Id FROM Case WITH SECURITY_ENFORCED ORDER BY Id LIMIT 1")
        .await;
    assert_eq!(v["totalSize"], 1);
    let (_, code, _) = refused(
        &t,
        "SELECT Id, Root_Cause__c FROM Case WITH SECURITY_ENFORCED",
    )
    .await;
    assert_eq!(code, "INVALID_FIELD");
    for clause in ["FOR VIEW", "FOR REFERENCE", "FOR UPDATE"] {
        let v = t
            .query(&format!("SELECT Id FROM Case WHERE Id = '{mine}' {clause}"))
            .await;
        assert_eq!(v["totalSize"], 1, "{clause}");
    }
    let (_, code, _) = refused(&t, "SELECT Id FROM Case ORDER BY Id FOR UPDATE").await;
    assert_eq!(code, "MALFORMED_QUERY");
}

/// Bulk API 2.0 queries refuse what only the REST query answers: "Bulk API 2.0 doesn't
/// support … GROUP BY … aggregate functions … nested (parent-to-child) queries … TYPEOF"
/// (Bulk API 2.0 Developer Guide, "SOQL Considerations").
#[tokio::test]
async fn bulk_queries_refuse_subqueries_and_aggregates() {
    let t = common::start().await;
    for q in [
        "SELECT Id, (SELECT Id FROM Contacts) FROM Account",
        "SELECT StageName, COUNT(Id) FROM Opportunity GROUP BY StageName",
        "SELECT Id, TYPEOF Owner WHEN Group THEN Name END FROM Case",
    ] {
        let (s, v) = t
            .json(
                Method::POST,
                "/jobs/query",
                Some(json!({"operation": "query", "query": q})),
            )
            .await;
        assert_eq!(s, 400, "{q}: {v}");
        assert!(
            v[0]["message"].as_str().unwrap().contains("not supported"),
            "{v}"
        );
    }
    let (s, v) = t
        .json(
            Method::POST,
            "/jobs/query",
            Some(json!({"operation": "query", "query": "SELECT Id FROM Account"})),
        )
        .await;
    assert_eq!(s, 200, "a plain query is a job: {v}");
}
