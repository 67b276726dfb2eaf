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
