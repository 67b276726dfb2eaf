//! REST endpoints over real HTTP: shapes, status codes, headers and errors.

mod common;

use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn versions_root_and_authentication() {
    let t = common::start().await;
    let r = t.http.get(t.base("/services/data")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("sforce-limit-info").is_none());
    let v: serde_json::Value = r.json().await.unwrap();
    let last = v.as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        last,
        json!({"label": "Winter '27", "url": "/services/data/v68.0", "version": "68.0"})
    );

    let r = t.http.get(t.url("/sobjects")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Token");
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        v,
        json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
    );
    let r = t
        .http
        .get(t.url("/sobjects"))
        .bearer_auth("00Dbogus!token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let (s, v) = t.json(Method::GET, "", None).await;
    assert_eq!(s, 200);
    assert_eq!(v["sobjects"], "/services/data/v59.0/sobjects");
    // /services/data is not counted; the version root is.
    assert_eq!(t.sim.counters().api_calls, 1);
}

#[tokio::test]
async fn describe_global_and_describe_honour_if_modified_since() {
    let t = common::start().await;
    let r = t.get("/sobjects").await;
    assert_eq!(r.status(), 200);
    let lm = r
        .headers()
        .get("last-modified")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["encoding"], "UTF-8");
    assert_eq!(v["maxBatchSize"], 200);
    let acc = v["sobjects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "Account")
        .unwrap();
    assert_eq!(acc["keyPrefix"], "001");
    assert_eq!(
        acc["urls"]["describe"],
        "/services/data/v59.0/sobjects/Account/describe"
    );
    assert!(
        v["sobjects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["name"] == "Invoice__c" && o["custom"] == true)
    );

    let r = t
        .http
        .get(t.url("/sobjects"))
        .bearer_auth(t.sim.access_token())
        .header("If-Modified-Since", &lm)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);

    let (s, d) = t
        .json(Method::GET, "/sobjects/Account/describe", None)
        .await;
    assert_eq!(s, 200);
    let field = |n: &str| {
        d["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(field("Name")["nillable"], false);
    assert_eq!(field("Name")["length"], 255);
    assert_eq!(field("BillingCity")["compoundFieldName"], "BillingAddress");
    assert_eq!(field("BillingAddress")["type"], "address");
    assert_eq!(field("ParentId")["referenceTo"], json!(["Account"]));
    assert_eq!(field("ParentId")["relationshipName"], "Parent");
    assert_eq!(field("External_Id__c")["externalId"], true);
    assert_eq!(field("Region__c")["restrictedPicklist"], true);
    assert_eq!(field("Region__c")["picklistValues"][0]["value"], "EMEA");
    assert_eq!(field("SystemModstamp")["type"], "datetime");
    assert!(
        d["childRelationships"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["childSObject"] == "Contact" && c["field"] == "AccountId")
    );
    let (_, inv) = t
        .json(Method::GET, "/sobjects/Invoice__c/describe", None)
        .await;
    let total = inv["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "Total__c")
        .unwrap()
        .clone();
    assert_eq!(total["calculated"], true);
    assert_eq!(total["createable"], false);
    let name = inv["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "Name")
        .unwrap()
        .clone();
    assert_eq!(name["autoNumber"], true);

    let r = t
        .http
        .head(t.url("/sobjects/Account/describe"))
        .bearer_auth(t.sim.access_token())
        .header("If-Modified-Since", &lm)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304, "HEAD honours If-Modified-Since too");
    let r = t
        .http
        .get(t.url("/sobjects/Account/describe"))
        .bearer_auth(t.sim.access_token())
        .header("If-Modified-Since", &lm)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    let (s, v) = t
        .json(Method::GET, "/sobjects/Nope__c/describe", None)
        .await;
    assert_eq!(s, 404);
    assert_eq!(v[0]["errorCode"], "NOT_FOUND");
}

#[tokio::test]
async fn crud_and_upsert_by_external_id() {
    let t = common::start().await;
    let id = t
        .create(
            "Account",
            json!({"Name": "Acme", "External_Id__c": "X-1", "BillingCity": "Oslo"}),
        )
        .await;
    assert_eq!(id.len(), 18);
    let (s, v) = t
        .json(Method::GET, &format!("/sobjects/Account/{id}"), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["Name"], "Acme");
    assert_eq!(v["attributes"]["type"], "Account");
    assert_eq!(v["BillingAddress"]["city"], "Oslo");
    assert!(v["SystemModstamp"].as_str().unwrap().ends_with("+0000"));
    let (s, v) = t
        .json(
            Method::GET,
            &format!("/sobjects/Account/{}?fields=Name,Owner.Alias", &id[..15]),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["Owner"]["Alias"], "aadmin");
    assert!(v.get("BillingCity").is_none());

    let r = t
        .send(
            Method::PATCH,
            &format!("/sobjects/Account/{id}"),
            Some(json!({"Phone": "123"})),
        )
        .await;
    assert_eq!(r.status(), 204);
    let (s, v) = t
        .json(
            Method::PATCH,
            "/sobjects/Account/External_Id__c/X-1",
            Some(json!({"Phone": "456"})),
        )
        .await;
    assert_eq!(
        (s.as_u16(), v["created"].clone(), v["id"].clone()),
        (200, json!(false), json!(id))
    );
    let (s, v) = t
        .json(
            Method::PATCH,
            "/sobjects/Account/External_Id__c/X-2",
            Some(json!({"Name": "Beta"})),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(v["created"], true);
    let q = t
        .query(
            "SELECT Name, Phone FROM Account WHERE External_Id__c IN ('X-1','X-2') ORDER BY Name",
        )
        .await;
    assert_eq!(q["records"][0]["Phone"], "456");
    assert_eq!(q["records"][1]["Name"], "Beta");

    // Validation errors, as a JSON array with errorCode and fields.
    let (s, v) = t
        .json(
            Method::POST,
            "/sobjects/Account",
            Some(json!({"Phone": "1"})),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(
        v,
        json!([{"message": "Required fields are missing: [Name]", "errorCode": "REQUIRED_FIELD_MISSING", "fields": ["Name"]}])
    );
    let (_, v) = t
        .json(
            Method::POST,
            "/sobjects/Account",
            Some(json!({"Name": "A", "Bogus__c": 1})),
        )
        .await;
    assert_eq!(v[0]["errorCode"], "INVALID_FIELD");
    let (_, v) = t
        .json(
            Method::POST,
            "/sobjects/Account",
            Some(json!({"Name": "A", "External_Id__c": "x-1"})),
        )
        .await;
    assert_eq!(v[0]["errorCode"], "DUPLICATE_VALUE");
    let (_, v) = t.json(Method::POST, "/sobjects/Opportunity", Some(json!({"Name": "O", "StageName": "Prospecting", "CloseDate": "2025-01-01", "Amount": -1}))).await;
    assert_eq!(
        v,
        json!([{"message": "Amount must not be negative", "errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "fields": ["Amount"]}])
    );
    let (_, v) = t
        .json(
            Method::POST,
            "/sobjects/Opportunity",
            Some(json!({"Name": "O", "StageName": "Dreaming", "CloseDate": "2025-01-01"})),
        )
        .await;
    assert_eq!(v[0]["errorCode"], "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST");
    let (_, v) = t
        .json(
            Method::POST,
            "/sobjects/Account",
            Some(json!({"Name": "A", "LastModifiedDate": "2024-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(v[0]["errorCode"], "INVALID_FIELD_FOR_INSERT_UPDATE");
    let (_, v) = t
        .json(
            Method::POST,
            "/sobjects/Account",
            Some(json!({"Name": "A", "NumberOfEmployees": "many"})),
        )
        .await;
    assert_eq!(v[0]["errorCode"], "JSON_PARSER_ERROR");
    let (_, v) = t
        .json(
            Method::POST,
            "/sobjects/Contact",
            Some(json!({"LastName": "L", "AccountId": "001000000000000AAA"})),
        )
        .await;
    assert_eq!(v[0]["errorCode"], "INVALID_CROSS_REFERENCE_KEY");
    let r = t
        .http
        .post(t.url("/sobjects/Account"))
        .bearer_auth(t.sim.access_token())
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v[0]["errorCode"], "JSON_PARSER_ERROR");

    let r = t
        .send(Method::DELETE, &format!("/sobjects/Account/{id}"), None)
        .await;
    assert_eq!(r.status(), 204);
    let (s, v) = t
        .json(Method::DELETE, &format!("/sobjects/Account/{id}"), None)
        .await;
    assert_eq!(s, 404);
    assert_eq!(v[0]["errorCode"], "ENTITY_IS_DELETED");
    let (s, v) = t
        .json(Method::GET, "/sobjects/Account/001000000000000AAA", None)
        .await;
    assert_eq!(s, 404);
    assert_eq!(v[0]["errorCode"], "NOT_FOUND");
    let q = t.query("SELECT COUNT() FROM Account").await;
    assert_eq!(q["totalSize"], 1);
    assert_eq!(q["records"], json!([]));
    let r = t
        .http
        .get(t.url("/queryAll"))
        .query(&[(
            "q",
            "SELECT Id, IsDeleted FROM Account WHERE IsDeleted = true",
        )])
        .bearer_auth(t.sim.access_token())
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["totalSize"], 1);
    assert_eq!(v["records"][0]["IsDeleted"], true);
}

#[tokio::test]
async fn query_paging_errors_and_accounting() {
    let t = common::start().await;
    t.sim.seed_records("Account", 450, 7).unwrap();
    let r = t
        .http
        .get(t.url("/query"))
        .query(&[("q", "SELECT Id, Name FROM Account ORDER BY Id")])
        .bearer_auth(t.sim.access_token())
        .header("Sforce-Query-Options", "batchSize=200")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["sforce-limit-info"], "api-usage=1/15000");
    let mut v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["totalSize"], 450);
    assert_eq!(v["done"], false);
    let mut seen = v["records"].as_array().unwrap().len();
    assert_eq!(seen, 200);
    while v["done"] == false {
        let next = v["nextRecordsUrl"].as_str().unwrap().to_string();
        assert!(next.starts_with("/services/data/v59.0/query/01g"));
        v = t
            .http
            .get(t.base(&next))
            .bearer_auth(t.sim.access_token())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        seen += v["records"].as_array().unwrap().len();
    }
    assert_eq!(seen, 450);
    assert!(v.get("nextRecordsUrl").is_none());
    let (s, v) = t.json(Method::GET, "/query/01gbogus-200", None).await;
    assert_eq!(s, 400);
    assert_eq!(v[0]["errorCode"], "INVALID_QUERY_LOCATOR");

    let r = t
        .http
        .get(t.url("/query"))
        .query(&[("q", "SELECT Id FORM Account")])
        .bearer_auth(t.sim.access_token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v[0]["errorCode"], "MALFORMED_QUERY");
    assert!(
        v[0]["message"]
            .as_str()
            .unwrap()
            .contains("ERROR at Row:1:Column:11")
    );
    let r = t
        .http
        .get(t.url("/query"))
        .query(&[("q", "SELECT Nme FROM Account")])
        .bearer_auth(t.sim.access_token())
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v[0]["errorCode"], "INVALID_FIELD");

    // The tie-safe incremental cursor from the reference.
    let all = t
        .query("SELECT Id, SystemModstamp FROM Account ORDER BY SystemModstamp, Id")
        .await;
    let rec = &all["records"][300];
    let (ts, id) = (
        rec["SystemModstamp"].as_str().unwrap(),
        rec["Id"].as_str().unwrap(),
    );
    let ts = ts.replace("+0000", "Z");
    let q = format!(
        "SELECT Id FROM Account WHERE SystemModstamp > {ts} OR (SystemModstamp = {ts} AND Id > '{id}') ORDER BY SystemModstamp, Id"
    );
    let rest = t.query(&q).await;
    assert_eq!(rest["totalSize"], 149);

    let (_, limits) = t.json(Method::GET, "/limits", None).await;
    let used = t.sim.counters().api_calls;
    assert_eq!(limits["DailyApiRequests"]["Max"], 15000);
    assert_eq!(limits["DailyApiRequests"]["Remaining"], 15000 - used);
    assert!(limits["DailyBulkV2QueryJobs"]["Max"].is_number());
    assert_eq!(t.sim.counters().by_kind["query"], used - 1);

    t.sim.set_api_usage(15000, None);
    let (s, v) = t.json(Method::GET, "/limits", None).await;
    assert_eq!(s, 403);
    assert_eq!(v[0]["errorCode"], "REQUEST_LIMIT_EXCEEDED");
}

#[tokio::test]
async fn updated_and_deleted_endpoints() {
    let t = common::start().await;
    let a = t.create("Account", json!({"Name": "A"})).await;
    let b = t.create("Account", json!({"Name": "B"})).await;
    t.send(Method::DELETE, &format!("/sobjects/Account/{b}"), None)
        .await;
    let now = chrono::Utc::now();
    let start = (now - chrono::Duration::minutes(5))
        .format("%Y-%m-%dT%H:%M:%S+00:00")
        .to_string();
    let end = (now + chrono::Duration::minutes(2))
        .format("%Y-%m-%dT%H:%M:%S+00:00")
        .to_string();
    let r = t
        .http
        .get(t.url("/sobjects/Account/updated/"))
        .query(&[("start", &start), ("end", &end)])
        .bearer_auth(t.sim.access_token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["ids"], json!([a]));
    assert!(
        v["latestDateCovered"]
            .as_str()
            .unwrap()
            .ends_with(":00.000+0000")
    );
    let r = t
        .http
        .get(t.url("/sobjects/Account/deleted/"))
        .query(&[("start", &start), ("end", &end)])
        .bearer_auth(t.sim.access_token())
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["deletedRecords"][0]["id"], json!(b));
    assert!(v["earliestDateAvailable"].is_string());
    let old = (now - chrono::Duration::days(40))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let r = t
        .http
        .get(t.url("/sobjects/Account/updated/"))
        .query(&[("start", &old), ("end", &end)])
        .bearer_auth(t.sim.access_token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v[0]["errorCode"], "INVALID_REPLICATION_DATE");
    assert_eq!(t.sim.purge_recycle_bin(), 1);
    let r = t
        .http
        .get(t.url("/sobjects/Account/deleted/"))
        .query(&[("start", &start), ("end", &end)])
        .bearer_auth(t.sim.access_token())
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["deletedRecords"], json!([]));
}

#[tokio::test]
async fn unknown_api_versions_are_not_found() {
    let t = common::start().await;
    let r = t
        .http
        .get(format!(
            "{}/services/data/v99.0/limits",
            t.sim.instance_url()
        ))
        .bearer_auth(t.sim.access_token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = t
        .http
        .get(format!(
            "{}/services/data/v58.0/limits",
            t.sim.instance_url()
        ))
        .bearer_auth(t.sim.access_token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn sobject_basic_info_identity_and_query_all_paging() {
    let t = common::start().await;
    let (s, v) = t.json(Method::GET, "/sobjects/Contact", None).await;
    assert_eq!(s, 200);
    assert_eq!(v["objectDescribe"]["keyPrefix"], "003");
    assert!(v["recentItems"].is_array());

    let (org, user) = (
        t.sim.info.org_id.clone(),
        t.sim.with_org(|o| o.admin_user_id.clone()),
    );
    let r = t
        .http
        .get(t.base(&format!("/id/{org}/{user}")))
        .bearer_auth(t.sim.access_token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["user_id"], json!(user));
    assert_eq!(
        v["urls"]["query"],
        format!(
            "{}/services/data/v{}/query/",
            t.sim.instance_url(),
            sfsim::http::CURRENT_VERSION
        )
    );

    let ids = t.sim.seed_records("Lead", 250, 2).unwrap();
    let ctx_ids: Vec<String> = ids.iter().take(30).cloned().collect();
    let (_, v) = t
        .json(
            Method::DELETE,
            &format!("/composite/sobjects?ids={}", ctx_ids.join(",")),
            None,
        )
        .await;
    assert!(v.as_array().unwrap().iter().all(|r| r["success"] == true));
    let mut r: serde_json::Value = t
        .http
        .get(t.url("/queryAll"))
        .query(&[("q", "SELECT Id, IsDeleted FROM Lead")])
        .header("Sforce-Query-Options", "batchSize=200")
        .bearer_auth(t.sim.access_token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut deleted = 0;
    let mut total = 0;
    loop {
        for rec in r["records"].as_array().unwrap() {
            total += 1;
            if rec["IsDeleted"] == true {
                deleted += 1;
            }
        }
        let Some(next) = r["nextRecordsUrl"].as_str() else {
            break;
        };
        r = t
            .http
            .get(t.base(next))
            .bearer_auth(t.sim.access_token())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    }
    assert_eq!((total, deleted), (250, 30));
}

#[tokio::test]
async fn upsert_with_several_matches_is_300() {
    let t = common::start().await;
    let (s, _) = t
        .admin(
            Method::POST,
            "objects/Lead/fields",
            json!({"name": "Legacy_Key__c", "type": "string", "length": 20, "externalId": true}),
        )
        .await;
    assert_eq!(s, 201);
    let a = t
        .create(
            "Lead",
            json!({"LastName": "A", "Company": "C", "Legacy_Key__c": "dup"}),
        )
        .await;
    let (s, v) = t
        .json(Method::GET, "/sobjects/Lead/Legacy_Key__c/dup", None)
        .await;
    assert_eq!((s.as_u16(), v["Id"].clone()), (200, json!(a)));
    t.create(
        "Lead",
        json!({"LastName": "B", "Company": "C", "Legacy_Key__c": "DUP"}),
    )
    .await;
    let (s, v) = t
        .json(
            Method::PATCH,
            "/sobjects/Lead/Legacy_Key__c/dup",
            Some(json!({"Company": "X"})),
        )
        .await;
    assert_eq!(s, 300);
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert!(
        v[0].as_str()
            .unwrap()
            .starts_with("/services/data/v59.0/sobjects/Lead/00Q")
    );
    let (s, v) = t
        .json(
            Method::PATCH,
            "/sobjects/Lead/Company/x",
            Some(json!({"Company": "X"})),
        )
        .await;
    assert_eq!(s, 404, "{v}");
    assert_eq!(v[0]["errorCode"], "NOT_FOUND");
}
