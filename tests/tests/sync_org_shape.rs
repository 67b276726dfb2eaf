//! A real org's Account, synced both ways: encrypted text, multi-select and dependent
//! picklists, 131,072-character text, geolocation components, currency with
//! CurrencyIsoCode, a defaulted RecordTypeId, a formula and an auto-number (read-only,
//! pulled but never pushed), and fields the API user cannot see (refused when mapped). On
//! SQLite, PostgreSQL and MariaDB.
use datenator_shared::model::{Direction, Mapping};
use datenator_shared::protocol::{Call, SaveMapping};
use datenator_tests::sync::{Db, SfUser, TargetDb, eventually, q, setup_org, text};
use serde_json::{Value, json};
use sfsim::{Sim, SimConfig};

const FIELDS: &[&str] = &[
    "Name",
    "Tax_Id__c",
    "Product_Interest__c",
    "Region__c",
    "Sub_Region__c",
    "Account_Notes__c",
    "Headquarters__Latitude__s",
    "Headquarters__Longitude__s",
    "AnnualRevenue",
    "NumberOfEmployees",
    "CurrencyIsoCode",
    "RecordTypeId",
    "Revenue_Per_Employee__c",
    "Account_Code__c",
];

fn as_text(db: Db, col: &str) -> String {
    match db {
        Db::Mysql => format!("CAST({col} AS CHAR) AS {col}"),
        _ => format!("CAST({col} AS TEXT) AS {col}"),
    }
}

async fn a_real_accounts_fields_sync_both_ways(db: Db) {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let target = TargetDb::new(db, "shape");
    let org = setup_org(&sim, &target, "shape", "").await;
    let sf = SfUser::new(&sim);

    // Fields the API user cannot see, and compound fields, are refused as mappings.
    for (field, says) in [
        ("Credit_Limit__c", "has no field Credit_Limit__c"),
        ("Headquarters__c", "map its component fields"),
    ] {
        let err = org
            .client
            .call::<Value>(Call::MappingSave(SaveMapping {
                org: org.org.clone(),
                mapping: Mapping {
                    object: "Account".into(),
                    fields: vec!["Name".into(), field.into()],
                    direction: Direction::Bidirectional,
                    conflict_policy: Default::default(),
                    row_filter: None,
                },
                apply: true,
                confirm_destructive: false,
                send_queued: false,
                leaving_rows: Default::default(),
            }))
            .await
            .unwrap_err();
        assert!(err.to_string().contains(says), "{field}: {err}");
    }

    let notes = "n".repeat(131_072);
    let id = sf
        .create(
            "Account",
            json!({"Name": "Shape AG", "Tax_Id__c": "CHE-123.456.789",
                   "Product_Interest__c": "Mobile;Platform", "Region__c": "EMEA",
                   "Sub_Region__c": "DACH", "Account_Notes__c": notes,
                   "Headquarters__Latitude__s": 47.3769, "Headquarters__Longitude__s": 8.5417,
                   "AnnualRevenue": 35_000_000, "NumberOfEmployees": 8, "CurrencyIsoCode": "CHF"}),
        )
        .await;
    org.map("Account", FIELDS, Direction::Bidirectional).await;
    org.enable(true).await;
    let pool = target.pool().await;
    let table = target.table("Account");
    let cols = [
        "tax_id__c",
        "product_interest__c",
        "sub_region__c",
        "account_notes__c",
        "headquarters__latitude__s",
        "annualrevenue",
        "currencyisocode",
        "recordtypeid",
        "revenue_per_employee__c",
        "account_code__c",
    ]
    .map(|c| as_text(db, c))
    .join(", ");
    let select = format!("SELECT {cols} FROM {table} WHERE sfid = '{id}'");
    eventually("the account is pulled", || async {
        q(select.clone())
            .fetch_optional(&pool)
            .await
            .unwrap()
            .is_some()
    })
    .await;
    let row = q(select.clone()).fetch_one(&pool).await.unwrap();
    let get = |c: &str| text(&row, c).unwrap_or_default();
    assert_eq!(get("tax_id__c"), "CHE-123.456.789");
    assert_eq!(get("product_interest__c"), "Mobile;Platform");
    assert_eq!(get("sub_region__c"), "DACH");
    assert_eq!(get("account_notes__c").len(), 131_072);
    assert!(
        get("headquarters__latitude__s").starts_with("47.3769"),
        "{}",
        get("headquarters__latitude__s")
    );
    assert!(
        get("annualrevenue").starts_with("35000000"),
        "{}",
        get("annualrevenue")
    );
    assert_eq!(get("currencyisocode"), "CHF");
    assert!(
        get("recordtypeid").starts_with("012"),
        "the default record type"
    );
    assert!(
        get("revenue_per_employee__c").starts_with("4375000"),
        "{}",
        get("revenue_per_employee__c")
    );
    let code = get("account_code__c");
    assert!(code.starts_with("ACC-"), "{code}");

    // Changes go out; the formula and the auto-number are read-only and stay Salesforce's.
    q(format!(
        "UPDATE {table} SET product_interest__c = 'Analytics', numberofemployees = 10, \
         account_notes__c = 'short now' WHERE sfid = '{id}'"
    ))
    .execute(&pool)
    .await
    .unwrap();
    eventually("the change reaches Salesforce", || async {
        let r = sf
            .query(
                &format!(
                    "SELECT Product_Interest__c, Account_Notes__c FROM Account WHERE Id = '{id}'"
                ),
                false,
            )
            .await;
        r[0]["Product_Interest__c"] == "Analytics" && r[0]["Account_Notes__c"] == "short now"
    })
    .await;
    org.sync_now().await;
    eventually("the recomputed formula comes back", || async {
        let row = q(select.clone()).fetch_one(&pool).await.unwrap();
        text(&row, "revenue_per_employee__c").is_some_and(|v| v.starts_with("3500000"))
    })
    .await;
    q(format!(
        "INSERT INTO {table} (name, tax_id__c, region__c, sub_region__c) VALUES ('Shape Neu', 'DE-1', 'EMEA', 'DACH')"
    ))
    .execute(&pool)
    .await
    .unwrap();
    eventually("the insert reaches Salesforce with its defaults", || async {
        let r = sf
            .query(
                "SELECT Tax_Id__c, RecordTypeId, CurrencyIsoCode, Account_Code__c FROM Account WHERE Name = 'Shape Neu'",
                false,
            )
            .await;
        r.len() == 1
            && r[0]["Tax_Id__c"] == "DE-1"
            && r[0]["CurrencyIsoCode"] == "USD"
            && r[0]["RecordTypeId"].as_str().is_some_and(|t| t.starts_with("012"))
            && r[0]["Account_Code__c"].as_str().is_some_and(|c| c.starts_with("ACC-"))
    })
    .await;
    org.sync_now().await;
    eventually("the auto-number comes back to the row", || async {
        let row = q(format!(
            "SELECT {} FROM {table} WHERE name = 'Shape Neu'",
            as_text(db, "account_code__c")
        ))
        .fetch_one(&pool)
        .await
        .unwrap();
        text(&row, "account_code__c").is_some_and(|c| c.starts_with("ACC-"))
    })
    .await;
}

#[tokio::test]
async fn real_account_fields_sqlite() {
    a_real_accounts_fields_sync_both_ways(Db::Sqlite).await;
}

#[tokio::test]
async fn real_account_fields_postgres() {
    a_real_accounts_fields_sync_both_ways(Db::Postgres).await;
}

#[tokio::test]
async fn real_account_fields_mysql() {
    a_real_accounts_fields_sync_both_ways(Db::Mysql).await;
}
