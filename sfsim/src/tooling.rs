//! The Tooling API's basics: `GET /tooling/query?q=<SOQL>` over a few setup objects —
//! ApexClass and ApexTrigger (sample code), CustomObject and CustomField (the org's own
//! custom objects and fields, as its schema has them now), PlatformEventChannel and
//! PlatformEventChannelMember (the objects selected for Change Data Capture: `EventChannel`
//! `ChangeEvents` or a custom channel's `Name__chn`, `SelectedEntity` `AccountChangeEvent`,
//! `Invoice__ChangeEvent`). The tooling view is built for
//! each request from the org, so it never drifts from describe.

use crate::catalog::setup_object;
use crate::resp::Resp;
use crate::rest::Req;
use crate::schema::{FieldDef, FieldType};
use crate::sim::Sim;
use crate::soql::eval::compile;
use crate::store::{Org, Raw};
use serde_json::{Value, json};

fn field(name: &str, t: FieldType, length: u32) -> FieldDef {
    let mut f = FieldDef::new(name, t);
    if length > 0 {
        f.length = length;
    }
    f
}

fn code_fields(extra: Vec<FieldDef>) -> Vec<FieldDef> {
    let mut status = field("Status", FieldType::Picklist, 40);
    status.picklist_values = ["Inactive", "Active", "Deleted"].map(String::from).to_vec();
    let mut v = vec![
        field("NamespacePrefix", FieldType::String, 15),
        field("ApiVersion", FieldType::Double, 0),
        status,
        field("IsValid", FieldType::Boolean, 0),
        field("LengthWithoutComments", FieldType::Int, 0),
        field("Body", FieldType::Textarea, 1_000_000),
    ];
    v.extend(extra);
    v
}

fn objects() -> Vec<crate::schema::ObjectDef> {
    let meta = || {
        vec![
            field("DeveloperName", FieldType::String, 40),
            field("NamespacePrefix", FieldType::String, 15),
            field("Description", FieldType::Textarea, 1000),
        ]
    };
    let mut custom_field = meta();
    custom_field.push(field("TableEnumOrId", FieldType::String, 40));
    vec![
        setup_object("ApexClass", "01p", code_fields(vec![])),
        setup_object(
            "ApexTrigger",
            "01q",
            code_fields(vec![field("TableEnumOrId", FieldType::String, 40)]),
        ),
        setup_object("CustomObject", "01I", meta()),
        setup_object("CustomField", "00N", custom_field),
        setup_object(
            "PlatformEventChannel",
            "0YL",
            vec![
                field("DeveloperName", FieldType::String, 80),
                field("MasterLabel", FieldType::String, 80),
                field("ChannelType", FieldType::String, 40),
            ],
        ),
        setup_object(
            "PlatformEventChannelMember",
            "0v8",
            vec![
                field("DeveloperName", FieldType::String, 80),
                field("EventChannel", FieldType::String, 80),
                field("SelectedEntity", FieldType::String, 80),
            ],
        ),
    ]
}

/// A CDC entity's change event name: `AccountChangeEvent`, `Invoice__ChangeEvent`.
fn change_event_name(entity: &str) -> String {
    match entity.strip_suffix("__c") {
        Some(base) => format!("{base}__ChangeEvent"),
        None => format!("{entity}ChangeEvent"),
    }
}

const SAMPLE_CLASS: &str = "public with sharing class AccountService {\n    public static List<Account> byRegion(String region) {\n        return [SELECT Id, Name FROM Account WHERE Region__c = :region];\n    }\n}";
const SAMPLE_TRIGGER: &str =
    "trigger AccountTrigger on Account (before insert, before update) {\n}";

fn raw(pairs: Vec<(&str, Value)>) -> Vec<(String, Raw)> {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_string(), Raw::Json(v)))
        .collect()
}

/// The Tooling API's view of `main`: sample Apex, and the custom objects and fields.
pub fn org(main: &Org) -> Org {
    let mut t = Org::with_objects(&main.org_id, &main.admin_user_id, objects());
    let code = |name: &str, body: &str| {
        vec![
            ("Name", json!(name)),
            ("ApiVersion", json!(59.0)),
            ("Status", json!("Active")),
            ("IsValid", json!(true)),
            ("LengthWithoutComments", json!(body.len())),
            ("Body", json!(body)),
        ]
    };
    let mut seeds = vec![("ApexClass", code("AccountService", SAMPLE_CLASS))];
    let mut trigger = code("AccountTrigger", SAMPLE_TRIGGER);
    trigger.push(("TableEnumOrId", json!("Account")));
    seeds.push(("ApexTrigger", trigger));
    for (object, pairs) in seeds {
        let _ = t.insert_system(object, &raw(pairs));
    }
    // Change Data Capture's selection: the standard channel's members, custom channels and
    // theirs (what Setup's Change Data Capture page and the Metadata API show).
    let mut members: Vec<(String, String)> = main
        .cdc
        .entities
        .iter()
        .map(|e| ("ChangeEvents".to_string(), e.clone()))
        .collect();
    for (chn, entities) in &main.cdc.channels {
        let dev = chn.trim_end_matches("__chn");
        let pairs = vec![
            ("Name", json!(dev)),
            ("DeveloperName", json!(dev)),
            ("MasterLabel", json!(dev)),
            ("ChannelType", json!("data")),
        ];
        let _ = t.insert_system("PlatformEventChannel", &raw(pairs));
        members.extend(entities.iter().map(|e| (chn.clone(), e.clone())));
    }
    for (channel, entity) in members {
        let event = change_event_name(&entity);
        let dev = format!("{}_{event}", channel.trim_end_matches("__chn"));
        let pairs = vec![
            ("Name", json!(dev)),
            ("DeveloperName", json!(dev)),
            ("EventChannel", json!(channel)),
            ("SelectedEntity", json!(event)),
        ];
        let _ = t.insert_system("PlatformEventChannelMember", &raw(pairs));
    }
    let mut object_ids = std::collections::HashMap::new();
    for table in main.tables.values() {
        let name = &table.def.name;
        if let Some(dev) = name.strip_suffix("__c") {
            let pairs = vec![("Name", json!(dev)), ("DeveloperName", json!(dev))];
            if let Ok(id) = t.insert_system("CustomObject", &raw(pairs)) {
                object_ids.insert(name.clone(), id);
            }
        }
    }
    for table in main.tables.values() {
        let owner = object_ids
            .get(&table.def.name)
            .cloned()
            .unwrap_or_else(|| table.def.name.clone());
        for f in table.def.fields.iter().filter(|f| f.custom()) {
            let dev = f.name.trim_end_matches("__c");
            let pairs = vec![
                ("Name", json!(dev)),
                ("DeveloperName", json!(dev)),
                ("TableEnumOrId", json!(owner)),
                ("Description", json!(f.inline_help_text)),
            ];
            let _ = t.insert_system("CustomField", &raw(pairs));
        }
    }
    t
}

/// `GET /tooling/query?q=…`: the Tooling API's QueryResult — `size`, `totalSize`, `done`,
/// `queryLocator`, `entityTypeName` and the records, whose urls are under
/// `/tooling/sobjects`.
pub fn query(sim: &Sim, req: &Req) -> Resp {
    let Some(q) = req.q("q") else {
        return Resp::error(400, "MALFORMED_QUERY", "A query string has to be specified");
    };
    let t = org(&sim.org());
    let c = match compile(&t, q) {
        Ok(c) => c,
        Err(e) => return Resp::error(400, e.code, e.message),
    };
    let records: Vec<Value> = if c.count {
        vec![]
    } else if c.grouping.is_some() {
        c.aggregate_rows(&t, false)
    } else {
        let data = format!("/services/data/v{}/sobjects/", req.version);
        let tooling = format!("/services/data/v{}/tooling/sobjects/", req.version);
        c.run(&t, false)
            .iter()
            .map(|id| {
                let mut r = c.render(&t, id, &req.version);
                if let Some(url) = r["attributes"]["url"].as_str() {
                    r["attributes"]["url"] = json!(url.replacen(&data, &tooling, 1));
                }
                r
            })
            .collect()
    };
    let total = if c.count {
        c.count_rows(&t, false)
    } else {
        records.len()
    };
    let entity = (c.grouping.is_none()).then(|| c.object.clone());
    Resp::ok(json!({
        "size": total,
        "totalSize": total,
        "done": true,
        "queryLocator": null,
        "entityTypeName": entity,
        "records": records,
    }))
}
