//! Test bodies shared by the three dialects. Each dialect's test file supplies a [`Harness`]:
//! the target, a way to run SQL as an ordinary application writer (not the engine), and a
//! way to read one value as the admin.

use std::future::Future;
use std::sync::Arc;

use datenatord::targetdb::{
    AnyTarget, Cursor, Dialect, EventCounts, EventOp, FailedAction, FailedScope, Fence, FieldSpec,
    ObjectMapping, Plan, PlanStep, Position, RowKeys, RowsLeave, SfType, Target, TargetError,
    ident,
};
use serde_json::json;

use super::{row, sample_mapping, sample_row, sfid};

pub trait Harness: Send + Sync {
    fn target(&self) -> &AnyTarget;

    /// The org's table `name`, quoted (and schema-qualified where the dialect has schemas).
    fn table(&self, name: &str) -> String {
        let d = self.target().dialect();
        match d {
            Dialect::Sqlite => ident::quote(d, name),
            _ => ident::qualified(d, self.target().schema(), name),
        }
    }

    /// Runs `sql` as an ordinary application writer.
    fn app_exec(&self, sql: String) -> impl Future<Output = ()> + Send;

    /// Reads the first column of the first row of `sql` as text (None for NULL or no row).
    fn admin_text(&self, sql: String) -> impl Future<Output = Option<String>> + Send;

    /// Whether a table of that name exists in the org schema.
    fn table_exists(&self, name: &str) -> impl Future<Output = bool> + Send;

    /// Whether the events' `db_user` names the application writer.
    fn is_app_user(&self, db_user: &str) -> bool;

    /// Another target of the same org, built from its settings and stored credentials as
    /// another daemon of a fleet would build it (sharing no connection with
    /// [`target`](Harness::target)).
    fn same_org(&self) -> AnyTarget;
}

fn col(h: &impl Harness, name: &str) -> String {
    ident::quote(h.target().dialect(), name)
}

/// `expr` cast to text in the dialect.
pub fn text(d: Dialect, expr: &str) -> String {
    match d {
        Dialect::Mysql => format!("CAST({expr} AS CHAR)"),
        _ => format!("CAST({expr} AS TEXT)"),
    }
}

pub fn find_step<'p>(p: &'p Plan, s: &str) -> &'p PlanStep {
    p.steps
        .iter()
        .find(|st| st.description.contains(s))
        .unwrap_or_else(|| panic!("no step {s}: {p:#?}"))
}

/// Engine writes record nothing; an application's inserts, updates and deletes are
/// recorded with exactly the changed columns, old and new values and the writer; events
/// can be marked done/failed and an sfid written back, all without new events.
pub async fn events_recorded_for_others_only(h: &impl Harness) {
    let t = h.target();
    let d = t.dialect();
    t.provision().await.expect("provisioning twice is fine");
    let m = sample_mapping("select");
    t.apply(&t.plan(&[], std::slice::from_ref(&m)).unwrap())
        .await
        .unwrap();
    let tbl = h.table(&m.table(d));

    let cursor = Cursor {
        systemmodstamp: chrono::DateTime::parse_from_rfc3339("2024-02-01T00:00:00.123Z")
            .unwrap()
            .to_utc(),
        last_id: sfid(2),
    };
    t.upsert_rows(
        &m,
        &[
            sample_row(&sfid(1), "2024-02-01T00:00:00Z", "one"),
            sample_row(&sfid(2), "2024-02-01T00:00:00Z", "two"),
            // A duplicate in the batch: the newest wins.
            sample_row(&sfid(2), "2024-01-01T00:00:00Z", "older two"),
        ],
        Some(&cursor),
    )
    .await
    .unwrap();
    assert_eq!(t.cursor("select").await.unwrap(), Some(cursor));
    // A page with nothing to write still advances the cursor.
    let later = Cursor {
        systemmodstamp: chrono::DateTime::parse_from_rfc3339("2024-02-02T00:00:00Z")
            .unwrap()
            .to_utc(),
        last_id: sfid(3),
    };
    assert_eq!(t.upsert_rows(&m, &[], Some(&later)).await.unwrap(), 0);
    assert_eq!(t.cursor("select").await.unwrap(), Some(later));
    assert_eq!(t.cursor("Other").await.unwrap(), None);
    // An older version (the overlap window re-reading) is skipped.
    t.upsert_rows(
        &m,
        &[sample_row(&sfid(1), "2023-01-01T00:00:00Z", "stale")],
        None,
    )
    .await
    .unwrap();
    let by_sfid = |c: &str, n: u32| {
        format!(
            "SELECT {} FROM {tbl} WHERE {} = '{}'",
            text(d, &col(h, c)),
            col(h, "sfid"),
            sfid(n)
        )
    };
    assert_eq!(
        h.admin_text(by_sfid("name", 1)).await.as_deref(),
        Some("one")
    );
    assert_eq!(
        h.admin_text(by_sfid("name", 2)).await.as_deref(),
        Some("two")
    );
    // Salesforce stamps whole seconds: a record changed again within the second it was
    // read comes back with the same stamp and other values — it is written; the same
    // version again changes nothing.
    t.upsert_rows(
        &m,
        &[sample_row(
            &sfid(2),
            "2024-02-01T00:00:00Z",
            "two, same second",
        )],
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        h.admin_text(by_sfid("name", 2)).await.as_deref(),
        Some("two, same second")
    );
    t.upsert_rows(
        &m,
        &[sample_row(
            &sfid(2),
            "2024-02-01T00:00:00Z",
            "two, same second",
        )],
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        h.admin_text(by_sfid("name", 2)).await.as_deref(),
        Some("two, same second")
    );
    // (Back as it was, for the scenarios that follow.)
    t.upsert_rows(
        &m,
        &[sample_row(&sfid(2), "2024-02-01T00:00:00Z", "two")],
        None,
    )
    .await
    .unwrap();
    let seen = h.admin_text(by_sfid("lastseen__c", 1)).await.unwrap();
    assert!(
        seen.replace('T', " ").starts_with("2024-01-31 10:00:00"),
        "stored in UTC: {seen}"
    );
    t.write_back_sfid(&m, 1, &sfid(1)).await.unwrap();
    assert!(
        t.claim_events(&m, 100).await.unwrap().is_empty(),
        "engine writes must not be recorded"
    );
    let stored = t.fetch_rows(&m, RowKeys::Ids(&[1, 2, 999])).await.unwrap();
    assert_eq!(stored.len(), 2);
    let one = &stored[0];
    assert_eq!((one.id, one.sfid.as_deref()), (1, Some(sfid(1).as_str())));
    assert_eq!(one.state, "SYNCED");
    assert_eq!(
        one.systemmodstamp,
        Some(
            chrono::DateTime::parse_from_rfc3339("2024-02-01T00:00:00Z")
                .unwrap()
                .to_utc()
        )
    );
    assert_eq!(one.values["Name"], json!("one"));
    assert_eq!(one.values["Amount__c"], json!(12.5));
    assert_eq!(one.values["Active__c"], json!(true));
    assert_eq!(one.values["Employees"], json!(42));
    assert_eq!(one.values["CloseDate"], json!("2024-01-31"));
    assert_eq!(
        one.values["LastSeen__c"],
        json!("2024-01-31T10:00:00.000+0000")
    );
    assert_eq!(one.values["OwnerId"], json!("005000000000001AAA"));
    assert_eq!(one.values["a\"b"], json!("quote"));
    assert_eq!(one.values["select"], json!(null));
    assert_eq!(one.values.len(), m.data_fields().count());

    h.app_exec(format!(
        "INSERT INTO {tbl} ({}, {}, {}, {}, {}) VALUES ('local', 'o', 'q', 'bt', 'n')",
        col(h, "name"),
        col(h, "order"),
        col(h, "a\"b"),
        col(h, "a`b"),
        col(h, "naïve")
    ))
    .await;
    let sf = col(h, "sfid");
    h.app_exec(format!(
        "UPDATE {tbl} SET {} = 'ONE', {} = 43 WHERE {sf} = '{}'",
        col(h, "name"),
        col(h, "employees"),
        sfid(1)
    ))
    .await;
    // A no-op update and an update of sync columns only record nothing.
    h.app_exec(format!(
        "UPDATE {tbl} SET {} = 'ONE' WHERE {sf} = '{}'",
        col(h, "name"),
        sfid(1)
    ))
    .await;
    h.app_exec(format!(
        "UPDATE {tbl} SET {} = 'X' WHERE {sf} = '{}'",
        col(h, "_dn_state"),
        sfid(1)
    ))
    .await;
    h.app_exec(format!("DELETE FROM {tbl} WHERE {sf} = '{}'", sfid(2)))
        .await;

    assert_eq!(
        t.event_counts(&m).await.unwrap(),
        EventCounts {
            new: 3,
            claimed: 0,
            failed: 0
        }
    );
    let ev = t.claim_events(&m, 100).await.unwrap();
    assert_eq!(ev.len(), 3, "{ev:#?}");
    assert_eq!(t.event_counts(&m).await.unwrap().claimed, 3);
    assert!(ev.iter().all(|e| h.is_app_user(&e.db_user)), "{ev:#?}");
    assert_eq!(ev[0].op, EventOp::Insert);
    assert_eq!(ev[0].sfid, None);
    let mut ch = ev[0].changed.clone();
    ch.sort();
    assert_eq!(ch, vec!["Name", "a\"b", "a`b", "naïve", "order"]);
    assert_eq!(ev[0].new_values["a`b"], json!("bt"));
    assert!(ev[0].old_values.is_empty());
    assert_eq!(ev[1].op, EventOp::Update);
    assert_eq!(ev[1].sfid.as_deref(), Some(sfid(1).as_str()));
    let mut ch = ev[1].changed.clone();
    ch.sort();
    assert_eq!(ch, vec!["Employees", "Name"], "a case-only change counts");
    assert_eq!(ev[1].old_values["Name"], json!("one"));
    assert_eq!(ev[1].new_values["Name"], json!("ONE"));
    assert_eq!(ev[1].old_values["Employees"], json!(42));
    assert_eq!(ev[1].new_values["Employees"], json!(43));
    assert_eq!(ev[1].new_values.len(), 2);
    assert_eq!(ev[2].op, EventOp::Delete);
    assert_eq!(ev[2].sfid.as_deref(), Some(sfid(2).as_str()));
    assert!(ev[2].changed.is_empty());
    assert_eq!(ev[2].old_values["Name"], json!("two"));
    assert_eq!(ev[2].old_values["Active__c"], json!(true));
    assert_eq!(ev[2].old_values["Amount__c"], json!(12.5));
    assert_eq!(ev[2].old_values["CloseDate"], json!("2024-01-31"));
    assert_eq!(
        ev[2].old_values["LastSeen__c"],
        json!("2024-01-31T10:00:00.000+0000")
    );
    assert_eq!(ev[2].old_values["Tags__c"], json!("A;B"));

    t.write_back_sfid(&m, ev[0].row_id, &sfid(9)).await.unwrap();
    t.mark_events_done(&m, &[ev[0].id, ev[2].id]).await.unwrap();
    t.mark_event_failed(&m, ev[1].id, "FIELD_CUSTOM_VALIDATION_EXCEPTION: no")
        .await
        .unwrap();
    t.delete_rows(&m, &[sfid(9)]).await.unwrap();
    assert!(t.claim_events(&m, 100).await.unwrap().is_empty());
    assert_eq!(
        t.event_counts(&m).await.unwrap(),
        EventCounts {
            new: 0,
            claimed: 0,
            failed: 1
        }
    );
    assert_eq!(
        h.admin_text(by_sfid("_dn_state", 1)).await.as_deref(),
        Some("FAILED")
    );
    assert!(
        h.admin_text(by_sfid("_dn_error", 1))
            .await
            .unwrap()
            .contains("VALIDATION")
    );
    let far = chrono::DateTime::parse_from_rfc3339("2999-01-01T00:00:00Z")
        .unwrap()
        .to_utc();
    let past = chrono::DateTime::parse_from_rfc3339("2000-01-01T00:00:00Z")
        .unwrap()
        .to_utc();
    assert_eq!(t.purge_events(&m, past).await.unwrap(), 0);
    assert_eq!(
        t.purge_events(&m, far).await.unwrap(),
        2,
        "the two DONE events"
    );
    let evt = h.table(&m.events_table(d));
    let states = h
        .admin_text(format!(
            "SELECT {} FROM {evt} WHERE {} = {}",
            text(d, "COUNT(*)"),
            col(h, "state"),
            "'FAILED'"
        ))
        .await;
    assert_eq!(states.as_deref(), Some("1"), "failed events are kept");
    // (Here: every dialect's test file runs this scenario.)
    batched_write_backs_and_failures(h).await;
}

/// A push round's answers stored together, as each alone would be: several creates' sfids
/// written back in one call (a pulled copy of a record removed, a change made meanwhile
/// given its sfid, a row answered twice keeping the last sfid) and several refusals (a row
/// with two refused changes keeps the last error), all without new events.
pub async fn batched_write_backs_and_failures(h: &impl Harness) {
    let t = h.target();
    let d = t.dialect();
    let m = sample_mapping("batches");
    t.apply(&t.plan(&[], std::slice::from_ref(&m)).unwrap())
        .await
        .unwrap();
    let tbl = h.table(&m.table(d));
    for name in ["a", "b", "c", "d", "e"] {
        h.app_exec(format!(
            "INSERT INTO {tbl} ({}) VALUES ('{name}')",
            col(h, "name")
        ))
        .await;
    }
    let created = t.claim_events(&m, 100).await.unwrap();
    assert_eq!(created.len(), 5);
    let row = |name: &str| {
        created
            .iter()
            .find(|e| e.new_values["Name"] == json!(name))
            .unwrap()
            .row_id
    };
    // A pull brought b's record in before the answer; a changed while its create was out.
    t.upsert_rows(
        &m,
        &[sample_row(&sfid(2), "2024-02-01T00:00:00Z", "pulled b")],
        None,
    )
    .await
    .unwrap();
    h.app_exec(format!(
        "UPDATE {tbl} SET {} = 'a2' WHERE {} = {}",
        col(h, "name"),
        col(h, "id"),
        row("a")
    ))
    .await;
    let (s1, s2, s3, s4) = (sfid(1), sfid(2), sfid(3), sfid(4));
    t.write_back_sfids(
        &m,
        &[
            (row("a"), s1.as_str()),
            (row("b"), s2.as_str()),
            (row("c"), s3.as_str()),
            // Answered again (a resent create): the last answer stands, as one at a time.
            (row("c"), s4.as_str()),
        ],
    )
    .await
    .unwrap();
    let stored = t
        .fetch_rows(
            &m,
            RowKeys::Sfids(&[s1.clone(), s2.clone(), s3.clone(), s4.clone()]),
        )
        .await
        .unwrap();
    let got: Vec<(i64, Option<&str>, &str, &serde_json::Value)> = stored
        .iter()
        .map(|r| (r.id, r.sfid.as_deref(), r.state.as_str(), &r.values["Name"]))
        .collect();
    assert_eq!(
        got,
        vec![
            (row("a"), Some(s1.as_str()), "SYNCED", &json!("a2")),
            (row("b"), Some(s2.as_str()), "SYNCED", &json!("b")),
            (row("c"), Some(s4.as_str()), "SYNCED", &json!("c")),
        ],
        "the pulled copy of b is gone; c has its last sfid"
    );
    let later = t.claim_events(&m, 100).await.unwrap();
    assert_eq!(later.len(), 1, "engine writes record nothing: {later:?}");
    assert_eq!(
        later[0].sfid.as_deref(),
        Some(s1.as_str()),
        "a's change meanwhile"
    );

    t.mark_events_failed(
        &m,
        &[
            (created[3].id, "first"),
            (later[0].id, "REFUSED: a"),
            (created[3].id, "REFUSED: d"),
        ],
    )
    .await
    .unwrap();
    let error_of = |id: i64| {
        format!(
            "SELECT {} FROM {tbl} WHERE {} = {id}",
            col(h, "_dn_error"),
            col(h, "id")
        )
    };
    assert_eq!(
        h.admin_text(error_of(row("a"))).await.as_deref(),
        Some("REFUSED: a")
    );
    assert_eq!(
        h.admin_text(error_of(created[3].row_id)).await.as_deref(),
        Some("REFUSED: d"),
        "the last error of the row"
    );
    assert_eq!(h.admin_text(error_of(row("e"))).await, None);
    let failed = t.failed_events(&m, 10).await.unwrap();
    let failed: Vec<(i64, &str)> = failed
        .iter()
        .map(|f| (f.event.id, f.error.as_str()))
        .collect();
    let mut want = vec![(created[3].id, "REFUSED: d"), (later[0].id, "REFUSED: a")];
    want.sort();
    assert_eq!(failed, want);
    assert!(t.claim_events(&m, 100).await.unwrap().is_empty());
    t.write_back_sfids(&m, &[]).await.unwrap();
    t.mark_events_failed(&m, &[]).await.unwrap();
}

/// Plans for added, dropped, widened, narrowed and retyped columns and a removed mapping,
/// with their destructive flags; applying keeps the data and the triggers follow.
pub async fn plans_with_destructive_flags(h: &impl Harness) {
    let t = h.target();
    let d = t.dialect();
    t.provision().await.unwrap();
    let v1 = ObjectMapping::new(
        "Account",
        vec![
            FieldSpec::new("Name", SfType::String).with_length(80),
            FieldSpec::new("Code", SfType::String).with_length(40),
            FieldSpec::new("Gone", SfType::Textarea),
            FieldSpec::new("Num", SfType::Int),
            FieldSpec::new("Flag", SfType::Boolean),
        ],
    );
    let other = ObjectMapping::new(
        "Contact",
        vec![FieldSpec::new("Email", SfType::Email).with_length(80)],
    );
    let p = t.plan(&[], &[v1.clone(), other.clone()]).unwrap();
    assert!(!p.is_destructive());
    t.apply(&p).await.unwrap();
    t.upsert_rows(
        &v1,
        &[row(
            &sfid(1),
            "2024-01-01T00:00:00Z",
            json!({"Name": "n", "Code": "abc", "Gone": "g", "Num": 7, "Flag": true}),
        )],
        None,
    )
    .await
    .unwrap();
    let v2 = ObjectMapping::new(
        "Account",
        vec![
            FieldSpec::new("Name", SfType::String).with_length(120), // widened
            FieldSpec::new("Code", SfType::String).with_length(10),  // narrowed
            FieldSpec::new("Num", SfType::Double).with_precision(18, 2), // int -> decimal
            FieldSpec::new("Added", SfType::Date),
            FieldSpec::new("Flag", SfType::Int), // boolean -> int: widening
        ],
    );
    let p = t
        .plan(&[v1.clone(), other.clone()], std::slice::from_ref(&v2))
        .unwrap();
    assert!(find_step(&p, "drop column account.gone").is_destructive());
    assert!(!find_step(&p, "add column account.added").is_destructive());
    assert!(find_step(&p, "change column account.code").is_destructive());
    assert!(!find_step(&p, "change column account.name").is_destructive());
    assert!(!find_step(&p, "change column account.num").is_destructive());
    assert!(!find_step(&p, "change column account.flag").is_destructive());
    assert!(find_step(&p, "drop table contact").is_destructive());
    assert!(p.is_destructive());
    t.apply(&p).await.unwrap();
    let tbl = h.table("account");
    assert_eq!(
        h.admin_text(format!("SELECT {} FROM {tbl}", text(d, &col(h, "code"))))
            .await
            .as_deref(),
        Some("abc")
    );
    let num = h
        .admin_text(format!("SELECT {} FROM {tbl}", text(d, &col(h, "num"))))
        .await
        .unwrap();
    assert_eq!(num.parse::<f64>().unwrap(), 7.0);
    assert_eq!(
        h.admin_text(format!("SELECT {} FROM {tbl}", text(d, &col(h, "flag"))))
            .await
            .as_deref(),
        Some("1")
    );
    assert!(!h.table_exists("contact").await);
    assert!(!h.table_exists("contact__events").await);
    // The triggers follow the new columns.
    h.app_exec(format!(
        "UPDATE {tbl} SET {} = '2024-05-01', {} = 8.5",
        col(h, "added"),
        col(h, "num")
    ))
    .await;
    let ev = t.claim_events(&v2, 10).await.unwrap();
    assert_eq!(ev.len(), 1, "{ev:#?}");
    let mut ch = ev[0].changed.clone();
    ch.sort();
    assert_eq!(ch, vec!["Added", "Num"]);
    assert_eq!(ev[0].new_values["Added"], json!("2024-05-01"));
    assert_eq!(ev[0].new_values["Num"], json!(8.5));
    assert_eq!(ev[0].old_values["Num"], json!(7));
    // Nothing left to do.
    assert!(
        t.plan(std::slice::from_ref(&v2), std::slice::from_ref(&v2))
            .unwrap()
            .is_empty()
    );
}

/// Four claimers race over 300 events: each event is claimed exactly once, each batch in
/// id order; requeueing gives them back.
pub async fn concurrent_claimers_never_share<H: Harness + 'static>(h: Arc<H>) {
    let t = h.target();
    t.provision().await.unwrap();
    let m = ObjectMapping::new(
        "Account",
        vec![FieldSpec::new("Name", SfType::String).with_length(20)],
    );
    t.apply(&t.plan(&[], std::slice::from_ref(&m)).unwrap())
        .await
        .unwrap();
    let values: Vec<String> = (0..300).map(|i| format!("('n{i}')")).collect();
    h.app_exec(format!(
        "INSERT INTO {} ({}) VALUES {}",
        h.table("account"),
        col(&*h, "name"),
        values.join(", ")
    ))
    .await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let h = h.clone();
        let m = m.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let batch = h.target().claim_events(&m, 7).await.unwrap();
                if batch.is_empty() {
                    break;
                }
                assert!(batch.windows(2).all(|w| w[0].id < w[1].id));
                got.extend(batch.iter().map(|e| e.id));
            }
            got
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n, "an event was claimed twice");
    assert_eq!(n, 300);
    assert_eq!(t.requeue_claimed(&m).await.unwrap(), 300);
    assert_eq!(t.claim_events(&m, 1000).await.unwrap().len(), 300);
}

/// Hostile object names (reserved words, quotes, backticks, unicode, 100 characters) with
/// hostile field names all work; returns the mappings.
pub async fn hostile_names(h: &impl Harness) -> Vec<ObjectMapping> {
    let t = h.target();
    t.provision().await.unwrap();
    let long_obj = format!("Obj{}", "y".repeat(97));
    let maps: Vec<ObjectMapping> = ["order", "a\"b", "a`b", "naïve", long_obj.as_str()]
        .iter()
        .map(|o| sample_mapping(o))
        .collect();
    t.apply(&t.plan(&[], &maps).unwrap()).await.unwrap();
    for m in &maps {
        t.upsert_rows(
            m,
            &[sample_row(&sfid(1), "2024-01-01T00:00:00Z", "x")],
            None,
        )
        .await
        .unwrap();
        let tbl = h.table(&m.table(t.dialect()));
        h.app_exec(format!(
            "UPDATE {tbl} SET {} = 'y'",
            col(h, &m.fields.last().unwrap().column(t.dialect()))
        ))
        .await;
        let ev = t.claim_events(m, 10).await.unwrap();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].changed, vec![m.fields.last().unwrap().name.clone()]);
        assert!(h.table_exists(&m.events_table(t.dialect())).await);
    }
    maps
}

/// A mapping with 150 fields: the triggers, upserts and row reads all cope.
pub async fn wide_mapping(h: &impl Harness) {
    let t = h.target();
    t.provision().await.unwrap();
    let fields: Vec<FieldSpec> = (0..150)
        .map(|i| FieldSpec::new(format!("Field{i}__c"), SfType::String).with_length(40))
        .collect();
    let m = ObjectMapping::new("Wide__c", fields);
    t.apply(&t.plan(&[], std::slice::from_ref(&m)).unwrap())
        .await
        .unwrap();
    let values: serde_json::Map<String, serde_json::Value> = (0..150)
        .map(|i| (format!("Field{i}__c"), json!(format!("v{i}"))))
        .collect();
    t.upsert_rows(
        &m,
        &[row(
            &sfid(1),
            "2024-01-01T00:00:00Z",
            serde_json::Value::Object(values),
        )],
        None,
    )
    .await
    .unwrap();
    let stored = t.fetch_rows(&m, RowKeys::Ids(&[1])).await.unwrap();
    assert_eq!(stored[0].values.len(), 150);
    assert_eq!(stored[0].values["Field149__c"], json!("v149"));
    h.app_exec(format!(
        "UPDATE {} SET {} = 'changed'",
        h.table(&m.table(t.dialect())),
        col(h, "field137__c")
    ))
    .await;
    let ev = t.claim_events(&m, 10).await.unwrap();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].changed, vec!["Field137__c"]);
    assert_eq!(ev[0].old_values["Field137__c"], json!("v137"));
}

/// A mapping of 600 fields: triggers, events and row reads cope.
pub async fn six_hundred_fields(h: &impl Harness) {
    let t = h.target();
    t.provision().await.unwrap();
    let fields: Vec<FieldSpec> = (0..600)
        .map(|i| FieldSpec::new(format!("F{i}__c"), SfType::Int))
        .collect();
    let m = ObjectMapping::new("Huge__c", fields);
    t.apply(&t.plan(&[], std::slice::from_ref(&m)).unwrap())
        .await
        .unwrap();
    let tbl = h.table(&m.table(t.dialect()));
    h.app_exec(format!(
        "INSERT INTO {tbl} ({}, {}) VALUES (1, 2)",
        col(h, "f599__c"),
        col(h, "f0__c")
    ))
    .await;
    h.app_exec(format!("UPDATE {tbl} SET {} = 3", col(h, "f450__c")))
        .await;
    let ev = t.claim_events(&m, 10).await.unwrap();
    assert_eq!(ev.len(), 2);
    let mut ch = ev[0].changed.clone();
    ch.sort();
    assert_eq!(ch, vec!["F0__c", "F599__c"]);
    assert_eq!(ev[1].changed, vec!["F450__c"]);
    assert_eq!(ev[1].old_values["F450__c"], json!(null));
    assert_eq!(ev[1].new_values["F450__c"], json!(3));
    let rows = t
        .fetch_rows(&m, RowKeys::Ids(&[ev[0].row_id]))
        .await
        .unwrap();
    assert_eq!(rows[0].values.len(), 600);
    assert_eq!(rows[0].values["F599__c"], json!(1));
    h.app_exec(format!("DELETE FROM {tbl}")).await;
    let ev = t.claim_events(&m, 10).await.unwrap();
    assert_eq!(ev[0].old_values.len(), 600);
}

/// A value longer than its column is refused, never silently truncated (SQLite, which does
/// not enforce lengths, keeps it whole).
pub async fn too_long_values_are_not_truncated(h: &impl Harness) {
    let t = h.target();
    t.provision().await.unwrap();
    let m = ObjectMapping::new(
        "Account",
        vec![FieldSpec::new("Name", SfType::String).with_length(5)],
    );
    t.apply(&t.plan(&[], std::slice::from_ref(&m)).unwrap())
        .await
        .unwrap();
    let r = t
        .upsert_rows(
            &m,
            &[row(
                &sfid(1),
                "2024-01-01T00:00:00Z",
                json!({"Name": "0123456789"}),
            )],
            None,
        )
        .await;
    match t.dialect() {
        Dialect::Sqlite => {
            r.unwrap();
            let stored = t.fetch_rows(&m, RowKeys::Ids(&[1])).await.unwrap();
            assert_eq!(stored[0].values["Name"], json!("0123456789"));
        }
        _ => {
            let err = r.unwrap_err().to_string();
            assert!(err.contains("upserting rows into account"), "{err}");
            assert!(
                t.fetch_rows(&m, RowKeys::Ids(&[1]))
                    .await
                    .unwrap()
                    .is_empty()
            );
        }
    }
}

/// A lenient upsert leaves out the rows the database or the conversion refuses, reports
/// them, writes the rest and advances the cursor.
pub async fn lenient_upsert_skips_bad_rows(h: &impl Harness) {
    let t = h.target();
    t.provision().await.unwrap();
    let m = ObjectMapping::new(
        "Account",
        vec![
            FieldSpec::new("Name", SfType::String).with_length(5),
            FieldSpec::new("Employees", SfType::Int),
        ],
    );
    t.apply(&t.plan(&[], std::slice::from_ref(&m)).unwrap())
        .await
        .unwrap();
    let cursor = Cursor {
        systemmodstamp: chrono::DateTime::parse_from_rfc3339("2024-03-01T00:00:00Z")
            .unwrap()
            .to_utc(),
        last_id: sfid(5),
    };
    let long = if t.dialect() == Dialect::Sqlite {
        // SQLite keeps long text; make the database refuse something else there.
        json!(1)
    } else {
        json!("far too long")
    };
    let rows = vec![
        row(
            &sfid(1),
            "2024-01-01T00:00:00Z",
            json!({"Name": "ok1", "Employees": 1}),
        ),
        row(
            &sfid(2),
            "2024-01-01T00:00:00Z",
            json!({"Name": long, "Employees": 2}),
        ),
        row(
            &sfid(3),
            "2024-01-01T00:00:00Z",
            json!({"Name": "ok3", "Employees": "many"}),
        ),
        row(
            &sfid(4),
            "2024-01-01T00:00:00Z",
            json!({"Name": "ok4", "Employees": 4}),
        ),
    ];
    let report = t
        .upsert_rows_lenient(&m, &rows, Some(Position::pull(&m.object, &cursor)), false)
        .await
        .unwrap();
    let rejected: Vec<&str> = report.rejected.iter().map(|r| r.sfid.as_str()).collect();
    if t.dialect() == Dialect::Sqlite {
        assert_eq!(rejected, vec![sfid(3).as_str()], "{report:?}");
    } else {
        assert_eq!(rejected.len(), 2, "{report:?}");
        assert!(rejected.contains(&sfid(2).as_str()) && rejected.contains(&sfid(3).as_str()));
    }
    assert!(
        report
            .rejected
            .iter()
            .any(|r| r.error.contains("whole number")),
        "{report:?}"
    );
    assert_eq!(t.cursor("Account").await.unwrap(), Some(cursor.clone()));
    // A stream position is kept beside the pull cursor, under its own key.
    let at = Cursor {
        systemmodstamp: cursor.systemmodstamp,
        last_id: "4711".into(),
    };
    let key = datenatord::targetdb::stream_key("Account");
    t.upsert_rows_lenient(
        &m,
        &[],
        Some(Position {
            key: &key,
            cursor: &at,
        }),
        false,
    )
    .await
    .unwrap();
    assert_eq!(t.cursor(&key).await.unwrap(), Some(at));
    assert_eq!(t.cursor("Account").await.unwrap(), Some(cursor));
    let by_sfid = t
        .fetch_rows(&m, RowKeys::Sfids(&[sfid(4), "001000000000404AAA".into()]))
        .await
        .unwrap();
    assert_eq!(by_sfid.len(), 1);
    assert_eq!(by_sfid[0].values["Name"], json!("ok4"));
    let n = h
        .admin_text(format!(
            "SELECT {} FROM {}",
            text(t.dialect(), "COUNT(*)"),
            h.table("account")
        ))
        .await;
    let expected = if t.dialect() == Dialect::Sqlite {
        "3"
    } else {
        "2"
    };
    assert_eq!(n.as_deref(), Some(expected));
    // The strict upsert fails on the same batch and writes nothing of it.
    let err = t.upsert_rows(&m, &rows[1..2], None).await;
    if t.dialect() != Dialect::Sqlite {
        assert!(err.is_err());
    }
    assert!(t.upsert_rows(&m, &rows[2..3], None).await.is_err());
    assert!(t.claim_events(&m, 10).await.unwrap().is_empty());
}

/// Widening type changes apply without being flagged and keep every value.
pub async fn widening_changes_keep_values(h: &impl Harness) {
    let t = h.target();
    t.provision().await.unwrap();
    let before = ObjectMapping::new(
        "Account",
        vec![
            FieldSpec::new("D", SfType::Date),
            FieldSpec::new("I", SfType::Int),
            FieldSpec::new("P", SfType::Picklist).with_length(40),
            FieldSpec::new("R", SfType::Reference).with_length(18),
            FieldSpec::new("B", SfType::Boolean),
            FieldSpec::new("C", SfType::Currency).with_precision(18, 2),
            FieldSpec::new("T", SfType::Time),
        ],
    );
    let after = ObjectMapping::new(
        "Account",
        vec![
            FieldSpec::new("D", SfType::Datetime),
            FieldSpec::new("I", SfType::String).with_length(20),
            FieldSpec::new("P", SfType::Textarea),
            FieldSpec::new("R", SfType::String).with_length(255),
            FieldSpec::new("B", SfType::String).with_length(10),
            FieldSpec::new("C", SfType::Currency).with_precision(20, 4),
            FieldSpec::new("T", SfType::String).with_length(20),
        ],
    );
    t.apply(&t.plan(&[], std::slice::from_ref(&before)).unwrap())
        .await
        .unwrap();
    t.upsert_rows(
        &before,
        &[row(
            &sfid(1),
            "2024-01-01T00:00:00Z",
            json!({"D": "2024-01-31", "I": 42, "P": "Hot", "R": "005000000000001AAA",
                   "B": true, "C": 12.34, "T": "13:45:00.000Z"}),
        )],
        None,
    )
    .await
    .unwrap();
    let p = t
        .plan(std::slice::from_ref(&before), std::slice::from_ref(&after))
        .unwrap();
    assert!(!p.is_destructive(), "{p:#?}");
    t.apply(&p).await.unwrap();
    let row = &t.fetch_rows(&after, RowKeys::Ids(&[1])).await.unwrap()[0];
    assert!(
        row.values["D"]
            .as_str()
            .unwrap()
            .starts_with("2024-01-31T00:00:00"),
        "{row:?}"
    );
    assert_eq!(row.values["I"], json!("42"));
    assert_eq!(row.values["P"], json!("Hot"));
    assert_eq!(row.values["R"], json!("005000000000001AAA"));
    assert!(
        ["true", "1"].contains(&row.values["B"].as_str().unwrap()),
        "{row:?}"
    );
    assert_eq!(row.values["C"], json!(12.34));
    assert!(
        row.values["T"].as_str().unwrap().starts_with("13:45:00"),
        "{row:?}"
    );
}

/// A first load's Bulk CSV records land exactly as the same records typed into rows would
/// (PostgreSQL streams the cells into COPY as they are; the others type them): awkward
/// text, nulls, both datetime forms, hostile column names. A cell the database cannot read
/// as is still loads when it converts ("12.0" for a whole number), and a bad one fails
/// with the field named. Loading again changes nothing and no load records an event.
pub async fn bulk_csv_loads_like_rows(h: &impl Harness) {
    use datenatord::targetdb::load::{CsvChunk, CsvHeader};
    let t = h.target();
    t.provision().await.unwrap();
    let (via_csv, via_rows) = (sample_mapping("Account"), sample_mapping("Contact"));
    t.apply(&t.plan(&[], &[via_csv.clone(), via_rows.clone()]).unwrap())
        .await
        .unwrap();
    let mut names: Vec<String> = via_csv.fields.iter().map(|f| f.name.clone()).collect();
    names.rotate_left(3); // the result's column order is not the mapping's
    let header = Arc::new(CsvHeader::new(names.clone()));
    let texts = [
        "plain",
        "comma, \"quoted\"",
        "line\nbreak",
        "naïve ünïcödé ✓",
        "",
    ];
    let records = (0..25u32)
        .map(|i| {
            let cells: Vec<String> = names
                .iter()
                .map(|n| match n.as_str() {
                    "Id" => sfid(i),
                    "SystemModstamp" if i % 2 == 0 => "2024-01-31T12:00:00.000Z".into(),
                    "SystemModstamp" => "2024-01-31T14:00:00.000+0200".into(),
                    "Name" => texts[i as usize % texts.len()].into(),
                    "Amount__c" => format!("{i}.25"),
                    "Active__c" if i % 3 == 0 => String::new(),
                    "Active__c" => (i % 2 == 0).to_string(),
                    "Employees" => i.to_string(),
                    "CloseDate" => "2024-02-29".into(),
                    "LastSeen__c" => "2024-01-31T12:00:00.000+0000".into(),
                    "Tags__c" => "A;B".into(),
                    "OwnerId" => "005000000000001AAA".into(),
                    _ => format!("v-{i}"),
                })
                .collect();
            csv::StringRecord::from(cells)
        })
        .collect();
    let chunk = CsvChunk { header, records };
    assert_eq!(t.bulk_load_csv(&via_csv, &chunk).await.unwrap(), 25);
    assert_eq!(
        t.bulk_load(&via_rows, &chunk.to_rows(&via_rows))
            .await
            .unwrap(),
        25
    );
    let ids: Vec<i64> = (1..=25).collect();
    let a = t.fetch_rows(&via_csv, RowKeys::Ids(&ids)).await.unwrap();
    let b = t.fetch_rows(&via_rows, RowKeys::Ids(&ids)).await.unwrap();
    assert_eq!(a.len(), 25);
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(
            (&x.sfid, x.systemmodstamp, &x.state, &x.values),
            (&y.sfid, y.systemmodstamp, &y.state, &y.values)
        );
    }
    assert_eq!(a[4].values["Name"], json!(null), "an empty cell is a null");
    assert_eq!(a[1].values["Name"], json!("comma, \"quoted\""));
    assert_eq!(a[3].values["naïve"], json!("v-3"));
    // Loading the same records again (a first load restarted) changes nothing.
    t.bulk_load_csv(&via_csv, &chunk).await.unwrap();
    let again = t
        .fetch_rows(&via_csv, RowKeys::Ids(&(1..=30).collect::<Vec<_>>()))
        .await
        .unwrap();
    assert_eq!(again.len(), 25);
    assert!(again.iter().zip(&a).all(|(x, y)| x.values == y.values));
    // A cell that needs converting; then one that cannot be.
    let employees = chunk.header.position("Employees").unwrap();
    let later = |value: &str| {
        let stamp = chunk.header.position("SystemModstamp").unwrap();
        let mut r: Vec<String> = chunk.records[0].iter().map(str::to_owned).collect();
        r[employees] = value.into();
        r[stamp] = "2024-03-01T00:00:00.000Z".into();
        CsvChunk {
            header: chunk.header.clone(),
            records: vec![csv::StringRecord::from(r)],
        }
    };
    t.bulk_load_csv(&via_csv, &later("12.0")).await.unwrap();
    let row = t.fetch_rows(&via_csv, RowKeys::Ids(&[1])).await.unwrap();
    assert_eq!(row[0].values["Employees"], json!(12));
    let err = t
        .bulk_load_csv(&via_csv, &later("many"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Employees") && err.contains("whole number"),
        "{err}"
    );
    assert!(t.claim_events(&via_csv, 10).await.unwrap().is_empty());
    assert!(t.claim_events(&via_rows, 10).await.unwrap().is_empty());
}

/// A pull's write keeps the stored value of a field whose local change is not pushed yet
/// (`keep_pending`), writes the other fields, and — once the change is done — overwrites
/// it like any other.
pub async fn pull_keeps_pending_local_fields(h: &impl Harness) {
    let t = h.target();
    let d = t.dialect();
    let m = sample_mapping("keeplocal");
    t.apply(&t.plan(&[], std::slice::from_ref(&m)).unwrap())
        .await
        .unwrap();
    let tbl = h.table(&m.table(d));
    t.upsert_rows(
        &m,
        &[sample_row(&sfid(1), "2024-02-01T00:00:00Z", "synced")],
        None,
    )
    .await
    .unwrap();
    h.app_exec(format!(
        "UPDATE {tbl} SET {} = 'local' WHERE {} = '{}'",
        col(h, "name"),
        col(h, "sfid"),
        sfid(1)
    ))
    .await;
    let field = |c: &str| {
        format!(
            "SELECT {} FROM {tbl} WHERE {} = '{}'",
            text(d, &col(h, c)),
            col(h, "sfid"),
            sfid(1)
        )
    };
    let mut pulled = sample_row(&sfid(1), "2024-02-02T00:00:00Z", "from salesforce");
    pulled.values.insert("Employees".into(), json!(7));
    let report = t
        .upsert_rows_lenient(&m, std::slice::from_ref(&pulled), None, true)
        .await
        .unwrap();
    // The push's conflict check must read this record: Salesforce's name was not written.
    assert_eq!(report.kept_local, vec![sfid(1)]);
    assert_eq!(h.admin_text(field("name")).await.as_deref(), Some("local"));
    assert_eq!(h.admin_text(field("employees")).await.as_deref(), Some("7"));
    // Pushed: the next pull writes Salesforce's value.
    let events = t.claim_events(&m, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    t.mark_events_done(&m, &[events[0].id]).await.unwrap();
    pulled.systemmodstamp = Some(
        chrono::DateTime::parse_from_rfc3339("2024-02-03T00:00:00Z")
            .unwrap()
            .to_utc(),
    );
    let report = t
        .upsert_rows_lenient(&m, std::slice::from_ref(&pulled), None, true)
        .await
        .unwrap();
    assert!(report.kept_local.is_empty(), "{report:?}");
    assert_eq!(
        h.admin_text(field("name")).await.as_deref(),
        Some("from salesforce")
    );
}

/// Salesforce writes doubles as Java does — `3.5E7` from ten million on, `1.0E-4` below
/// a thousandth — in REST JSON and in Bulk CSV alike. Every numeric column takes them, from
/// a pull's JSON rows and from a first load's CSV cells, and reads back the same numbers.
pub async fn scientific_notation_numbers(h: &impl Harness) {
    use datenatord::targetdb::load::{CsvChunk, CsvHeader};
    let t = h.target();
    t.provision().await.unwrap();
    let fields = vec![
        FieldSpec::new("Id", SfType::Id),
        FieldSpec::new("SystemModstamp", SfType::Datetime),
        FieldSpec::new("Employees", SfType::Int).with_precision(9, 0),
        FieldSpec::new("Quantity__c", SfType::Double).with_precision(18, 0),
        FieldSpec::new("Revenue", SfType::Currency).with_precision(18, 2),
        FieldSpec::new("Share__c", SfType::Percent).with_precision(12, 6),
        FieldSpec::new("Score__c", SfType::Double),
    ];
    let (json_rows, csv_rows) = (
        ObjectMapping::new("Account", fields.clone()),
        ObjectMapping::new("Contact", fields),
    );
    t.apply(&t.plan(&[], &[json_rows.clone(), csv_rows.clone()]).unwrap())
        .await
        .unwrap();
    let cells = [
        ["3.5E7", "3.5E7", "3.5E7", "1.0E-4", "1.2345678E7"],
        [
            "1.0E7",
            "1.6147805824397E13",
            "1.23456785E7",
            "2.5E-4",
            "-4.25E-5",
        ],
        ["12", "1234567.0", "1234567.5", "0.5", "9.99E15"],
    ];
    let expected = [
        json!([35000000, 35000000, 35000000, 0.0001, 12345678]),
        json!([10000000, 16147805824397i64, 12345678.5, 0.00025, -0.0000425]),
        json!([12, 1234567, 1234567.5, 0.5, 9990000000000000i64]),
    ];
    let names = [
        "Employees",
        "Quantity__c",
        "Revenue",
        "Share__c",
        "Score__c",
    ];
    // A pull's rows: the numbers as Salesforce's JSON has them.
    let rows: Vec<_> = cells
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let values: serde_json::Map<String, serde_json::Value> = names
                .iter()
                .zip(c)
                .map(|(n, v)| (n.to_string(), serde_json::from_str(v).unwrap()))
                .collect();
            row(
                &sfid(i as u32 + 1),
                "2024-01-31T12:00:00Z",
                serde_json::Value::Object(values),
            )
        })
        .collect();
    t.upsert_rows(&json_rows, &rows, None).await.unwrap();
    // A first load's CSV cells, the same text.
    let mut header = vec!["Id".to_string(), "SystemModstamp".to_string()];
    header.extend(names.iter().map(|n| n.to_string()));
    let chunk = CsvChunk {
        header: Arc::new(CsvHeader::new(header)),
        records: cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut r = vec![sfid(i as u32 + 1), "2024-01-31T12:00:00.000Z".to_string()];
                r.extend(c.iter().map(|s| s.to_string()));
                csv::StringRecord::from(r)
            })
            .collect(),
    };
    assert_eq!(t.bulk_load_csv(&csv_rows, &chunk).await.unwrap(), 3);
    for m in [&json_rows, &csv_rows] {
        let got = t.fetch_rows(m, RowKeys::Ids(&[1, 2, 3])).await.unwrap();
        assert_eq!(got.len(), 3, "{}", m.object);
        for (r, want) in got.iter().zip(&expected) {
            for (n, w) in names.iter().zip(want.as_array().unwrap()) {
                let v = &r.values[*n];
                let same = match (v.as_f64(), w.as_f64()) {
                    (Some(a), Some(b)) => (a - b).abs() <= b.abs() * 1e-12,
                    _ => false,
                };
                assert!(same, "{} {:?} {n}: {v} is not {w}", m.object, r.sfid);
            }
        }
    }
    // Strings of that form (what a text-typed client might hand over) convert alike.
    let text_row = row(
        &sfid(9),
        "2024-01-31T12:00:00Z",
        json!({"Employees": "3.5E7", "Quantity__c": "1.0E7", "Revenue": "3.5E7", "Share__c": "1.0E-4", "Score__c": "1.5E8"}),
    );
    t.upsert_rows(&json_rows, &[text_row], None).await.unwrap();
    let got = t.fetch_rows(&json_rows, RowKeys::Ids(&[4])).await.unwrap();
    assert_eq!(got[0].values["Employees"], json!(35000000));
    assert_eq!(got[0].values["Quantity__c"], json!(10000000));
}

/// `r` failed because a newer fencing token (2) than the writer's (1) is stored.
fn assert_fenced<T: std::fmt::Debug>(what: &str, r: Result<T, TargetError>) {
    match r {
        Err(TargetError::Fenced { ours: 1, stored: 2 }) => {}
        other => panic!("{what}: expected Fenced {{ ours: 1, stored: 2 }}, got {other:?}"),
    }
}

fn stamp(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// Two daemons' targets of one org, for the fence's claim tests: an `Account` table holding
/// the record `sfid(1)` named "one", written by A (fencing token 1, claimed); B (token 2)
/// has not claimed yet.
pub async fn two_holders(h: &impl Harness) -> (ObjectMapping, AnyTarget, AnyTarget) {
    let t = h.target();
    let m = ObjectMapping::new(
        "Account",
        vec![FieldSpec::new("Name", SfType::String).with_length(40)],
    );
    t.apply(&t.plan(&[], std::slice::from_ref(&m)).unwrap())
        .await
        .unwrap();
    let a = h.same_org().with_fence(Fence(1));
    let b = h.same_org().with_fence(Fence(2));
    a.claim_fence().await.unwrap();
    let one = row(&sfid(1), "2024-01-01T00:00:00Z", json!({"Name": "one"}));
    a.upsert_rows(&m, &[one], None).await.unwrap();
    (m, a, b)
}

/// Fleet mode: daemon A (token 1) claims the org and writes; daemon B (token 2) takes it
/// over. From then on every write of A — upserts, its cursor, event claims, settles,
/// requeues, loads, everything — fails with `Fenced` and changes nothing, and A cannot claim
/// back; B writes fine; a target without a fence works as before; the fence row beside the
/// cursors confuses none of the cursor's readers and writers.
pub async fn fenced_writes(h: &impl Harness) {
    let plain = h.target();
    let d = plain.dialect();
    let m = ObjectMapping::new(
        "Account",
        vec![
            FieldSpec::new("Name", SfType::String).with_length(40),
            FieldSpec::new("Phone", SfType::String).with_length(40),
        ],
    );
    plain
        .apply(&plain.plan(&[], std::slice::from_ref(&m)).unwrap())
        .await
        .unwrap();
    let tbl = h.table(&m.table(d));
    let cursors = h.table("_datenator_cursor");
    let stored_fence = format!(
        "SELECT {} FROM {cursors} WHERE {} = ':fence'",
        col(h, "last_id"),
        col(h, "object")
    );
    let name_of = |n: u32| {
        format!(
            "SELECT {} FROM {tbl} WHERE {} = '{}'",
            col(h, "name"),
            col(h, "sfid"),
            sfid(n)
        )
    };
    let named = |name: &str| {
        format!(
            "SELECT {} FROM {tbl} WHERE {} = '{name}'",
            text(d, &col(h, "id")),
            col(h, "name")
        )
    };
    let a = h.same_org().with_fence(Fence(1));
    let b = h.same_org().with_fence(Fence(2));
    assert_eq!((a.fence(), plain.fence()), (Some(Fence(1)), None));

    // No token stored yet counts as 0: a fenced write passes before any claim.
    a.upsert_rows(
        &m,
        &[row(
            &sfid(9),
            "2024-01-01T00:00:00Z",
            json!({"Name": "early"}),
        )],
        None,
    )
    .await
    .unwrap();
    a.claim_fence().await.unwrap();
    a.claim_fence().await.unwrap();
    assert_eq!(
        h.admin_text(stored_fence.clone()).await.as_deref(),
        Some("1")
    );
    // The same token claimed under a lease just taken: another holder has it too (a state
    // database restored to an older point): refused.
    match h
        .same_org()
        .with_fence(Fence(1))
        .claim_fence_for_new_lease()
        .await
    {
        Err(TargetError::Fenced { ours: 1, stored: 1 }) => {}
        other => panic!("an equal token under a new lease: {other:?}"),
    }

    // A runs the org: pulls, pushes, settles.
    let c1 = Cursor {
        systemmodstamp: stamp("2024-02-01T00:00:00Z"),
        last_id: sfid(1),
    };
    a.upsert_rows(
        &m,
        &[row(&sfid(1), "2024-02-01T00:00:00Z", json!({"Name": "a1"}))],
        Some(&c1),
    )
    .await
    .unwrap();
    for name in ["local1", "local2", "local3"] {
        h.app_exec(format!(
            "INSERT INTO {tbl} ({}) VALUES ('{name}')",
            col(h, "name")
        ))
        .await;
    }
    let ev = a.claim_events(&m, 1).await.unwrap();
    assert_eq!(ev.len(), 1);
    a.write_back_sfids(&m, &[(ev[0].row_id, sfid(11).as_str())])
        .await
        .unwrap();
    a.settle_events(&m, &[ev[0].id], None).await.unwrap();
    let ev = a.claim_events(&m, 1).await.unwrap();
    assert_eq!(ev.len(), 1);
    assert_eq!(a.requeue_claimed(&m).await.unwrap(), 1);
    a.purge_events(&m, stamp("2000-01-01T00:00:00Z"))
        .await
        .unwrap();
    // The fence row is no cursor.
    assert_eq!(a.cursor("Account").await.unwrap(), Some(c1.clone()));
    assert_eq!(a.cursor(":fence").await.unwrap(), None);
    let counts = EventCounts {
        new: 2,
        claimed: 0,
        failed: 0,
    };
    assert_eq!(a.event_counts(&m).await.unwrap(), counts);

    // B takes the org over.
    b.claim_fence().await.unwrap();
    assert_eq!(
        h.admin_text(stored_fence.clone()).await.as_deref(),
        Some("2")
    );

    // Every write of A fails and changes nothing.
    let c2 = Cursor {
        systemmodstamp: stamp("2024-03-01T00:00:00Z"),
        last_id: sfid(2),
    };
    let newer = [row(&sfid(1), "2024-03-01T00:00:00Z", json!({"Name": "a2"}))];
    let local1: i64 = h
        .admin_text(named("local1"))
        .await
        .unwrap()
        .parse()
        .unwrap();
    let local2: i64 = h
        .admin_text(named("local2"))
        .await
        .unwrap()
        .parse()
        .unwrap();
    assert_fenced("upsert", a.upsert_rows(&m, &newer, Some(&c2)).await);
    assert_fenced("cursor store", a.upsert_rows(&m, &[], Some(&c2)).await);
    assert_fenced(
        "lenient upsert",
        a.upsert_rows_lenient(&m, &newer, Some(Position::pull("Account", &c2)), true)
            .await,
    );
    assert_fenced("bulk load", a.bulk_load(&m, &newer).await);
    let csv = datenatord::targetdb::load::CsvChunk {
        header: Arc::new(datenatord::targetdb::load::CsvHeader::new(
            ["Id", "SystemModstamp", "Name", "Phone"]
                .map(String::from)
                .to_vec(),
        )),
        records: vec![csv::StringRecord::from(vec![
            sfid(1),
            "2024-03-01T00:00:00.000Z".into(),
            "csv".into(),
            String::new(),
        ])],
    };
    assert_fenced("bulk CSV load", a.bulk_load_csv(&m, &csv).await);
    assert_fenced("event claim", a.claim_events(&m, 10).await);
    assert_fenced("requeue", a.requeue_claimed(&m).await);
    assert_fenced("settle", a.settle_events(&m, &[ev[0].id], None).await);
    assert_fenced(
        "failure marks",
        a.mark_events_failed(&m, &[(ev[0].id, "refused")]).await,
    );
    assert_fenced(
        "sfid write-back",
        a.write_back_sfids(&m, &[(local2, sfid(12).as_str())]).await,
    );
    assert_fenced(
        "purge",
        a.purge_events(&m, stamp("2100-01-01T00:00:00Z")).await,
    );
    assert_fenced("cursor reset", a.reset_cursor("Account").await);
    assert_fenced(
        "rows leaving",
        a.leave_rows(&m, &[sfid(1)], RowsLeave::Delete).await,
    );
    let values: serde_json::Map<String, serde_json::Value> =
        [("Name".to_owned(), json!("a3"))].into_iter().collect();
    let was: serde_json::Map<String, serde_json::Value> =
        [("Name".to_owned(), json!("a1"))].into_iter().collect();
    assert_fenced(
        "field write",
        a.write_fields(&m, &sfid(1), &values, &was).await,
    );
    assert_fenced(
        "fill",
        a.fill_fields(
            &m,
            &["Phone".to_owned()],
            &[row(&sfid(1), "2024-02-01T00:00:00Z", json!({"Phone": "1"}))],
        )
        .await,
    );
    assert_fenced(
        "failed changes",
        a.settle_failed(&m, FailedScope::All, FailedAction::Retry)
            .await,
    );
    assert_fenced("claim back", a.claim_fence().await);
    assert_eq!(h.admin_text(name_of(1)).await.as_deref(), Some("a1"));
    assert_eq!(
        h.admin_text(format!(
            "SELECT {} FROM {tbl} WHERE {} = '{}'",
            col(h, "phone"),
            col(h, "sfid"),
            sfid(1)
        ))
        .await,
        None
    );
    assert_eq!(a.cursor("Account").await.unwrap(), Some(c1.clone()));
    assert_eq!(a.event_counts(&m).await.unwrap(), counts);
    assert_eq!(plain.row_count(&m).await.unwrap(), 5);
    assert_eq!(
        h.admin_text(format!(
            "SELECT {} FROM {tbl} WHERE {} = {local1}",
            col(h, "sfid"),
            col(h, "id")
        ))
        .await,
        Some(sfid(11))
    );
    assert_eq!(
        h.admin_text(stored_fence.clone()).await.as_deref(),
        Some("2")
    );

    // B writes fine.
    b.upsert_rows(&m, &newer, Some(&c2)).await.unwrap();
    assert_eq!(h.admin_text(name_of(1)).await.as_deref(), Some("a2"));
    assert_eq!(b.cursor("Account").await.unwrap(), Some(c2.clone()));
    let ev = b.claim_events(&m, 10).await.unwrap();
    assert_eq!(ev.len(), 2, "{ev:?}");
    b.settle_events(&m, &[ev[0].id, ev[1].id], None)
        .await
        .unwrap();
    b.claim_fence().await.unwrap();

    // A target without a fence checks nothing, as before.
    plain
        .upsert_rows(
            &m,
            &[row(
                &sfid(3),
                "2024-03-01T00:00:00Z",
                json!({"Name": "plain"}),
            )],
            None,
        )
        .await
        .unwrap();
    assert_eq!(h.admin_text(name_of(3)).await.as_deref(), Some("plain"));
    h.app_exec(format!(
        "INSERT INTO {tbl} ({}) VALUES ('local4')",
        col(h, "name")
    ))
    .await;
    assert_eq!(plain.claim_events(&m, 10).await.unwrap().len(), 1);

    // Cursor resets and a schema change's forgotten cursors leave the fence alone.
    plain.reset_cursor("Account").await.unwrap();
    assert_eq!(plain.cursor("Account").await.unwrap(), None);
    plain.reset_cursor(":fence").await.unwrap();
    let contacts = ObjectMapping::new(
        "Contact",
        vec![FieldSpec::new("Name", SfType::String).with_length(40)],
    );
    let both = [m.clone(), contacts];
    plain
        .apply(&plain.plan(std::slice::from_ref(&m), &both).unwrap())
        .await
        .unwrap();
    plain
        .apply(&plain.plan(&both, std::slice::from_ref(&m)).unwrap())
        .await
        .unwrap();
    assert_eq!(h.admin_text(stored_fence).await.as_deref(), Some("2"));
    assert_fenced("after all", a.upsert_rows(&m, &[], Some(&c2)).await);
}
