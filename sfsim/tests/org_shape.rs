//! The org as a real one looks to a client: describe's full key set, the shape of a real
//! org's object list and field sets, and field-level security.

mod common;

use reqwest::Method;
use serde_json::{Value, json};

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

fn missing<'a>(v: &Value, wanted: &[&'a str]) -> Vec<&'a str> {
    let have = keys(v);
    wanted
        .iter()
        .filter(|k| !have.contains(k))
        .copied()
        .collect()
}

fn field<'a>(describe: &'a Value, name: &str) -> &'a Value {
    describe["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no field {name}"))
}

/// Describe carries every property of Salesforce's `Field` ("describeSObjects() —
/// Field", SOAP API Developer Guide; the REST describe serializes the same result) and of
/// `DescribeSObjectResult` (`actionOverrides`, `childRelationships`, `compactLayoutable`,
/// `listviewable`, `lookupLayoutable`, `namedLayoutInfos`, `recordTypeInfos`,
/// `searchLayoutable`, `supportedScopes`, `urls`, …), null or false where they do not
/// apply. A dependent picklist names its controlling field in `controllerName`, sets
/// `dependentPicklist`, and each of its values carries `validFor`: "a set of bits where
/// each bit indicates a controlling value for which this picklist value is valid" (base64;
/// a checkbox controls with index 0 = false, 1 = true — "controllerValues", UI API).
#[tokio::test]
async fn describe_has_every_documented_key() {
    let t = common::start().await;
    let field_keys = [
        "aggregatable",
        "aiPredictionField",
        "autoNumber",
        "byteLength",
        "calculated",
        "calculatedFormula",
        "cascadeDelete",
        "caseSensitive",
        "compoundFieldName",
        "controllerName",
        "createable",
        "custom",
        "defaultValue",
        "defaultValueFormula",
        "defaultedOnCreate",
        "dependentPicklist",
        "deprecatedAndHidden",
        "digits",
        "displayLocationInDecimal",
        "encrypted",
        "externalId",
        "extraTypeInfo",
        "filterable",
        "filteredLookupInfo",
        "formulaTreatNullNumberAsZero",
        "groupable",
        "highScaleNumber",
        "htmlFormatted",
        "idLookup",
        "inlineHelpText",
        "label",
        "length",
        "mask",
        "maskType",
        "name",
        "nameField",
        "namePointing",
        "nillable",
        "permissionable",
        "picklistValues",
        "polymorphicForeignKey",
        "precision",
        "queryByDistance",
        "referenceTargetField",
        "referenceTo",
        "relationshipName",
        "relationshipOrder",
        "restrictedDelete",
        "restrictedPicklist",
        "scale",
        "searchPrefilterable",
        "soapType",
        "sortable",
        "type",
        "unique",
        "updateable",
        "writeRequiresMasterRead",
    ];
    let global_keys = [
        "activateable",
        "associateEntityType",
        "associateParentEntity",
        "createable",
        "custom",
        "customSetting",
        "deepCloneable",
        "deletable",
        "deprecatedAndHidden",
        "feedEnabled",
        "hasSubtypes",
        "isInterface",
        "isSubtype",
        "keyPrefix",
        "label",
        "labelPlural",
        "layoutable",
        "mergeable",
        "mruEnabled",
        "name",
        "queryable",
        "replicateable",
        "retrieveable",
        "searchable",
        "triggerable",
        "undeletable",
        "updateable",
        "urls",
    ];
    let describe_keys = [
        "actionOverrides",
        "childRelationships",
        "compactLayoutable",
        "fields",
        "listviewable",
        "lookupLayoutable",
        "namedLayoutInfos",
        "networkScopeFieldName",
        "recordTypeInfos",
        "searchLayoutable",
        "supportedScopes",
    ];
    let (s, global) = t.json(Method::GET, "/sobjects", None).await;
    assert_eq!(s, 200);
    for o in global["sobjects"].as_array().unwrap() {
        assert_eq!(
            missing(o, &global_keys),
            Vec::<&str>::new(),
            "{}",
            o["name"]
        );
        assert_eq!(
            missing(&o["urls"], &["sobject", "describe", "rowTemplate"]),
            Vec::<&str>::new()
        );
    }
    for object in ["Account", "Contact", "Opportunity", "Case", "Invoice__c"] {
        let (s, d) = t
            .json(Method::GET, &format!("/sobjects/{object}/describe"), None)
            .await;
        assert_eq!(s, 200);
        assert_eq!(missing(&d, &global_keys), Vec::<&str>::new(), "{object}");
        assert_eq!(missing(&d, &describe_keys), Vec::<&str>::new(), "{object}");
        assert_eq!(
            missing(
                &d["urls"],
                &["sobject", "describe", "rowTemplate", "layouts"]
            ),
            Vec::<&str>::new()
        );
        for f in d["fields"].as_array().unwrap() {
            assert_eq!(
                missing(f, &field_keys),
                Vec::<&str>::new(),
                "{object}.{}",
                f["name"]
            );
        }
        for c in d["childRelationships"].as_array().unwrap() {
            assert_eq!(
                missing(
                    c,
                    &[
                        "cascadeDelete",
                        "childSObject",
                        "deprecatedAndHidden",
                        "field",
                        "junctionIdListNames",
                        "junctionReferenceTo",
                        "relationshipName",
                        "restrictedDelete"
                    ]
                ),
                Vec::<&str>::new()
            );
        }
        let master = &d["recordTypeInfos"][0];
        assert_eq!(master["master"], true, "{object}");
        assert_eq!(master["recordTypeId"], "012000000000000AAA");
    }

    // Account's children: contacts go with their account (cascadeDelete), the audit
    // lookups to User carry no relationship name.
    let (_, acc) = t
        .json(Method::GET, "/sobjects/Account/describe", None)
        .await;
    let contacts = acc["childRelationships"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["childSObject"] == "Contact" && c["field"] == "AccountId")
        .unwrap();
    assert_eq!(contacts["cascadeDelete"], true);
    assert_eq!(contacts["relationshipName"], "Contacts");
    assert_eq!(field(&acc, "Name")["aggregatable"], true);
    assert_eq!(field(&acc, "Description")["extraTypeInfo"], "plaintextarea");
    assert_eq!(field(&acc, "Description")["filterable"], false);
    assert_eq!(field(&acc, "BillingAddress")["filterable"], false);
    assert_eq!(field(&acc, "ParentId")["searchPrefilterable"], true);

    // A dependent picklist defined in Setup (here: the admin API).
    let (s, v) = t
        .admin(
            Method::POST,
            "objects/Invoice__c/fields",
            json!({"name": "Void_Reason__c", "type": "picklist",
                   "picklistValues": ["Duplicate", "Customer request", "Error"],
                   "controllerName": "Status__c",
                   "validFor": [[3], [2, 3], [0, 1, 2, 3]]}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let (_, inv) = t
        .json(Method::GET, "/sobjects/Invoice__c/describe", None)
        .await;
    let dep = field(&inv, "Void_Reason__c");
    assert_eq!(dep["controllerName"], "Status__c");
    assert_eq!(dep["dependentPicklist"], true);
    // Status__c is Draft, Sent, Paid, Void: bit 3 is 0x10, bits 2–3 0x30, all four 0xF0.
    let valid: Vec<&str> = dep["picklistValues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["validFor"].as_str().unwrap())
        .collect();
    assert_eq!(valid, ["EAAA", "MAAA", "8AAA"]);
    let status = field(&inv, "Status__c");
    assert_eq!(status["dependentPicklist"], false);
    assert_eq!(status["controllerName"], Value::Null);
    assert_eq!(status["picklistValues"][0]["validFor"], Value::Null);
}

/// A real org's describeGlobal lists several hundred objects, most of which a sync cannot
/// or should not touch: field history (`associateEntityType: "History"`), sharing
/// (`Share`), feeds (`Feed`) and Change Data Capture (`ChangeEvent`) objects, custom
/// settings (`customSetting: true`), platform events (`__e`, not queryable), big objects
/// (`__b`), external objects (`__x`), custom metadata types (`__mdt`), and objects that
/// are not queryable (OpenActivity, "can't be queried directly"), not replicateable or not
/// retrieveable. A query of an object that is not queryable fails with
/// INVALID_TYPE_FOR_OPERATION, as do getUpdated/getDeleted of one that is not
/// replicateable ("replicateable: Indicates whether this object can be replicated via the
/// API calls getUpdated() and getDeleted()", DescribeGlobalSObjectResult). Organization
/// "Represents key configuration information for an organization" (Object Reference): one
/// record, the org's own id, with `IsSandbox` ("Indicates whether the current organization
/// is a sandbox") and `InstanceName`.
#[tokio::test]
async fn the_default_org_lists_several_hundred_objects_of_every_kind() {
    let t = common::start().await;
    let (s, global) = t.json(Method::GET, "/sobjects", None).await;
    assert_eq!(s, 200);
    let all = global["sobjects"].as_array().unwrap();
    assert!(all.len() >= 300, "{} objects", all.len());
    let by_name = |n: &str| {
        all.iter()
            .find(|o| o["name"] == n)
            .unwrap_or_else(|| panic!("{n} is listed"))
    };
    let count = |p: &dyn Fn(&Value) -> bool| all.iter().filter(|o| p(o)).count();
    for ty in ["History", "Share", "Feed", "ChangeEvent"] {
        assert!(
            count(&|o| o["associateEntityType"] == ty) >= 10,
            "{ty} objects"
        );
    }
    assert_eq!(
        by_name("AccountHistory")["associateParentEntity"],
        "Account"
    );
    assert_eq!(by_name("AccountHistory")["replicateable"], false);
    assert_eq!(by_name("AccountChangeEvent")["queryable"], false);
    assert_eq!(
        by_name("OpportunityFieldHistory")["associateEntityType"],
        "History"
    );
    assert_eq!(
        by_name("Invoice__History")["associateParentEntity"],
        "Invoice__c"
    );
    assert!(count(&|o| o["customSetting"] == true) >= 3);
    for suffix in ["__e", "__b", "__x", "__mdt"] {
        assert!(
            count(&|o| o["name"].as_str().unwrap().ends_with(suffix)) >= 2,
            "{suffix}"
        );
    }
    assert!(count(&|o| o["queryable"] == false) >= 20);
    assert!(count(&|o| o["queryable"] == true && o["replicateable"] == false) >= 20);
    assert!(count(&|o| o["queryable"] == true && o["retrieveable"] == false) >= 3);
    assert_eq!(by_name("OpenActivity")["keyPrefix"], Value::Null);
    for n in ["Organization", "RecordType", "Group", "Task", "Campaign"] {
        assert_eq!(by_name(n)["queryable"], true, "{n}");
    }
    let mut prefixes = std::collections::HashSet::new();
    for o in all {
        if let Some(p) = o["keyPrefix"].as_str() {
            assert!(prefixes.insert(p), "key prefix {p} used twice");
        }
    }

    // Not queryable / not replicateable, as Salesforce refuses them.
    let r = t
        .http
        .get(t.url("/query"))
        .query(&[("q", "SELECT Id FROM OpenActivity")])
        .bearer_auth(t.sim.access_token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v[0]["errorCode"], "INVALID_TYPE_FOR_OPERATION");
    assert!(
        v[0]["message"]
            .as_str()
            .unwrap()
            .ends_with("entity type OpenActivity does not support query"),
        "{v}"
    );
    let (s, v) = t
        .json(
            Method::GET,
            "/sobjects/AccountHistory/updated/?start=2024-01-01T00:00:00Z&end=2024-01-02T00:00:00Z",
            None,
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(v[0]["errorCode"], "INVALID_TYPE_FOR_OPERATION");
    // A small object's describe is small, and it can be queried though empty.
    let (s, d) = t
        .json(Method::GET, "/sobjects/AccountHistory/describe", None)
        .await;
    assert_eq!(s, 200);
    assert!(d["fields"].as_array().unwrap().len() < 12);
    let v = t.query("SELECT Id, Field FROM AccountHistory").await;
    assert_eq!(v["totalSize"], 0);

    // Organization answers about the org itself; RecordType and Group have their records.
    let v = t
        .query("SELECT Id, Name, IsSandbox, InstanceName, OrganizationType FROM Organization")
        .await;
    assert_eq!(v["totalSize"], 1);
    let org = &v["records"][0];
    assert_eq!(org["Id"], t.sim.info.org_id);
    assert_eq!(org["IsSandbox"], false);
    assert_eq!(org["OrganizationType"], "Developer Edition");
    let v = t
        .query("SELECT Id, DeveloperName FROM RecordType WHERE SobjectType = 'Account' ORDER BY DeveloperName")
        .await;
    let names: Vec<&str> = v["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["DeveloperName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Business", "Partner"]);
    let v = t.query("SELECT Id FROM Group WHERE Type = 'Queue'").await;
    assert_eq!(v["totalSize"], 1);
}

/// Account, Contact, Opportunity and Case (and, more simply, Lead and User) carry the field
/// sets of a real org: standard
/// addresses are compounds of street…country plus latitude, longitude and geocode accuracy
/// ("Compound Fields", SOAP API Developer Guide); a geolocation custom field is a compound
/// of `…__Latitude__s` and `…__Longitude__s`; formula and roll-up summary fields are
/// `calculated` and read-only; auto-number fields are read-only and `autoNumber`; classic
/// encrypted text is type `encryptedstring`; multi-select picklists; dependent picklists
/// with `controllerName` (a checkbox may control); long text areas up to 131,072
/// characters; currency with `CurrencyIsoCode` in a multi-currency org (a record without
/// one gets the user's currency); `RecordTypeId` with record types in `recordTypeInfos`
/// (a record created without one gets the default record type); an owner that may be a user or a queue
/// (`referenceTo: ["Group", "User"]`, `polymorphicForeignKey`). Fields hidden by
/// field-level security: "If you specify fields that don't exist or are inaccessible to
/// you by field-level security, a 400 error response is returned … Fields that are
/// inaccessible to you by field-level security are not returned" (REST API, "Get Field
/// Values from a Standard Object Record"); SOQL answers INVALID_FIELD, "No such column".
#[tokio::test]
async fn standard_objects_have_realistic_fields_and_field_level_security() {
    let t = common::start().await;
    let describe = |o: &'static str| {
        let t = &t;
        async move {
            let (s, d) = t
                .json(Method::GET, &format!("/sobjects/{o}/describe"), None)
                .await;
            assert_eq!(s, 200);
            d
        }
    };
    let acc = describe("Account").await;
    let n = acc["fields"].as_array().unwrap().len();
    assert!((65..=90).contains(&n), "Account has {n} fields");
    for o in ["Contact", "Opportunity", "Case"] {
        let d = describe(o).await;
        assert!(d["fields"].as_array().unwrap().len() >= 40, "{o}");
    }
    assert_eq!(
        field(&acc, "BillingLatitude")["compoundFieldName"],
        "BillingAddress"
    );
    assert_eq!(field(&acc, "Headquarters__c")["type"], "location");
    assert_eq!(field(&acc, "Headquarters__c")["queryByDistance"], true);
    assert_eq!(
        field(&acc, "Headquarters__Latitude__s")["compoundFieldName"],
        "Headquarters__c"
    );
    let formula = field(&acc, "Revenue_Per_Employee__c");
    assert_eq!(formula["calculated"], true);
    assert_eq!(formula["createable"], false);
    assert!(
        formula["calculatedFormula"]
            .as_str()
            .unwrap()
            .contains("AnnualRevenue")
    );
    let roll_up = field(&acc, "Open_Opportunities__c");
    assert_eq!(roll_up["calculated"], true);
    assert_eq!(roll_up["updateable"], false);
    assert_eq!(roll_up["formulaTreatNullNumberAsZero"], true);
    // Read-only: a write is refused ("Unable to create/update fields: … Please check the
    // security settings of this field"). sfsim does not compute roll-ups: they stay null.
    let id = t.create("Account", json!({"Name": "Roll-up"})).await;
    let (s, v) = t
        .json(
            reqwest::Method::PATCH,
            &format!("/sobjects/Account/{id}"),
            Some(json!({"Open_Opportunities__c": 3})),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v[0]["errorCode"], "INVALID_FIELD_FOR_INSERT_UPDATE");
    // Lead and User have their standard field sets too: an address, the conversion
    // fields (set by Salesforce), the locale keys a new user gets by default.
    let lead = describe("Lead").await;
    assert!(lead["fields"].as_array().unwrap().len() >= 40, "{lead}");
    assert_eq!(field(&lead, "Address")["type"], "address");
    assert_eq!(field(&lead, "City")["compoundFieldName"], "Address");
    assert_eq!(field(&lead, "IsConverted")["updateable"], false);
    assert_eq!(
        field(&lead, "ConvertedAccountId")["referenceTo"][0],
        "Account"
    );
    let user = describe("User").await;
    assert_eq!(field(&user, "TimeZoneSidKey")["defaultedOnCreate"], true);
    assert_eq!(field(&user, "ManagerId")["referenceTo"][0], "User");
    assert_eq!(field(&acc, "Account_Code__c")["autoNumber"], true);
    let enc = field(&acc, "Tax_Id__c");
    assert_eq!(enc["type"], "encryptedstring");
    assert_eq!(enc["encrypted"], true);
    assert_eq!(enc["maskType"], "all");
    assert_eq!(field(&acc, "Product_Interest__c")["type"], "multipicklist");
    assert_eq!(field(&acc, "Sub_Region__c")["controllerName"], "Region__c");
    assert_eq!(field(&acc, "Account_Notes__c")["length"], 131_072);
    assert_eq!(field(&acc, "Profile__c")["htmlFormatted"], true);
    assert_eq!(field(&acc, "Profile__c")["extraTypeInfo"], "richtextarea");
    assert_eq!(field(&acc, "AnnualRevenue")["type"], "currency");
    assert_eq!(field(&acc, "CurrencyIsoCode")["defaultValue"], "USD");
    assert_eq!(
        field(&acc, "RecordTypeId")["referenceTo"],
        json!(["RecordType"])
    );
    let rts = acc["recordTypeInfos"].as_array().unwrap();
    assert_eq!(rts.len(), 3);
    assert_eq!(rts[0]["master"], true);
    assert_eq!(rts[0]["available"], false);
    assert!(
        rts.iter()
            .any(|r| r["developerName"] == "Business" && r["defaultRecordTypeMapping"] == true)
    );
    let case = describe("Case").await;
    let owner = field(&case, "OwnerId");
    assert_eq!(owner["referenceTo"], json!(["Group", "User"]));
    assert_eq!(owner["polymorphicForeignKey"], true);
    assert_eq!(
        field(&case, "Escalation_Reason__c")["controllerName"],
        "IsEscalated"
    );
    // Required on create stays what it was: Account needs only Name.
    let required: Vec<&str> = acc["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            f["createable"] == true && f["nillable"] == false && f["defaultedOnCreate"] == false
        })
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(required, ["Name"]);

    // Values: defaults, formula, auto-number, geolocation as a compound.
    let id = t
        .create(
            "Account",
            json!({"Name": "Shape", "AnnualRevenue": 1_000_000, "NumberOfEmployees": 8,
                   "Headquarters__Latitude__s": 47.3769, "Headquarters__Longitude__s": 8.5417,
                   "Tax_Id__c": "CHE-123.456.789", "Product_Interest__c": "Mobile;Platform",
                   "Region__c": "EMEA", "Sub_Region__c": "DACH"}),
        )
        .await;
    let v = t
        .query(&format!(
            "SELECT RecordTypeId, CurrencyIsoCode, Revenue_Per_Employee__c, Account_Code__c, \
             Headquarters__c, Tax_Id__c, RecordType.DeveloperName FROM Account WHERE Id = '{id}'"
        ))
        .await;
    let r = &v["records"][0];
    assert_eq!(r["CurrencyIsoCode"], "USD");
    assert_eq!(r["RecordType"]["DeveloperName"], "Business");
    assert_eq!(r["Revenue_Per_Employee__c"], 125_000.0);
    assert!(r["Account_Code__c"].as_str().unwrap().starts_with("ACC-"));
    assert_eq!(
        r["Headquarters__c"],
        json!({"latitude": 47.3769, "longitude": 8.5417})
    );
    let r = t
        .send(
            Method::PATCH,
            &format!("/sobjects/Account/{id}"),
            Some(json!({"Revenue_Per_Employee__c": 1})),
        )
        .await;
    assert_eq!(r.status(), 400);
    // A record always has a record type and a currency, even when a create sends null.
    let bare = t
        .create(
            "Account",
            json!({"Name": "Nulls", "RecordTypeId": null, "CurrencyIsoCode": null}),
        )
        .await;
    let v = t
        .query(&format!(
            "SELECT RecordType.DeveloperName, CurrencyIsoCode FROM Account WHERE Id = '{bare}'"
        ))
        .await;
    assert_eq!(v["records"][0]["RecordType"]["DeveloperName"], "Business");
    assert_eq!(v["records"][0]["CurrencyIsoCode"], "USD");

    // Field-level security: absent from describe, refused by SOQL, retrieval and writes.
    assert!(
        acc["fields"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["name"] != "Credit_Limit__c")
    );
    let r = t
        .http
        .get(t.url("/query"))
        .query(&[("q", "SELECT Id, Credit_Limit__c FROM Account")])
        .bearer_auth(t.sim.access_token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v[0]["errorCode"], "INVALID_FIELD");
    assert!(
        v[0]["message"]
            .as_str()
            .unwrap()
            .contains("No such column 'Credit_Limit__c'")
    );
    let (s, _) = t
        .json(
            Method::GET,
            &format!("/sobjects/Account/{id}?fields=Credit_Limit__c"),
            None,
        )
        .await;
    assert_eq!(s, 400);
    let (s, whole) = t
        .json(Method::GET, &format!("/sobjects/Account/{id}"), None)
        .await;
    assert_eq!(s, 200);
    assert!(whole.get("Credit_Limit__c").is_none());
    assert_eq!(whole["Name"], "Shape");
    let (s, v) = t
        .json(
            Method::PATCH,
            &format!("/sobjects/Account/{id}"),
            Some(json!({"Credit_Limit__c": 5})),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(v[0]["errorCode"], "INVALID_FIELD");
}

/// The sample data keeps its counts and stays quick to make with the wider objects.
#[tokio::test]
async fn sample_data_is_generated_quickly() {
    let started = std::time::Instant::now();
    let mut org = sfsim::store::Org::new("00D5g0000000001AAA");
    for (o, n) in [
        ("Account", 2000),
        ("Contact", 2000),
        ("Opportunity", 1000),
        ("Case", 500),
    ] {
        assert_eq!(
            sfsim::datagen::generate(&mut org, o, n, 1).unwrap().len(),
            n
        );
    }
    // About 0.4 s in a debug build on two cores; ten times that is a regression.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}
