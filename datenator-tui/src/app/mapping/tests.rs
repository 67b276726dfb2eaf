//! Unit tests of the mapping editor.
use super::*;
use crate::app::tests::{key, only_request, type_str, with_orgs};
use crate::app::{Msg, update};
use crossterm::event::KeyCode;
use datenator_shared::model::PlanStepView;

pub(crate) fn field(name: &str, ty: &str, required: bool) -> FieldInfo {
    FieldInfo {
        name: name.into(),
        label: name.replace("__c", ""),
        field_type: ty.into(),
        length: Some(80),
        precision: None,
        scale: None,
        nillable: !required,
        createable: true,
        updateable: true,
        defaulted_on_create: false,
        external_id: false,
        custom: name.ends_with("__c"),
        calculated: false,
        reference_to: vec![],
    }
}

pub(crate) fn account_fields() -> Vec<FieldInfo> {
    vec![
        field("Id", "id", false),
        field("Name", "string", true),
        field("Industry", "picklist", false),
        field("AnnualRevenue", "currency", false),
        field("Tier__c", "string", false),
        field("SystemModstamp", "datetime", false),
    ]
}

fn editor(app: &App) -> &MappingEditor {
    match &app.screen {
        Screen::Mapping(m) => m,
        s => panic!("not on the mapping editor: {s:?}"),
    }
}

pub(crate) fn plan_view(destructive: bool, applied: bool) -> PlanView {
    PlanView {
        steps: vec![
            PlanStepView {
                description: "create table account".into(),
                destructive: None,
                sql: vec!["CREATE TABLE \"datenator_acme\".\"account\" (…)".into()],
            },
            PlanStepView {
                description: "drop column tier__c".into(),
                destructive: destructive.then(|| "the column's data is lost".into()),
                sql: vec!["ALTER TABLE … DROP COLUMN \"tier__c\"".into()],
            },
        ],
        destructive,
        applied,
    }
}

/// The Objects screen of acme with Account, then Enter: the editor with fields.
pub(crate) fn opened() -> App {
    let mut app = with_orgs(&["acme"]);
    let cmds = update(&mut app, key(KeyCode::Enter));
    assert_eq!(cmds.len(), 2, "objects and mappings are loaded: {cmds:?}");
    let ids: Vec<u64> = app.pending.keys().copied().collect();
    let list = vec![crate::app::objects::tests::object("Account", "Account")];
    update(
        &mut app,
        Msg::Reply {
            id: ids[0],
            result: Ok(serde_json::to_value(list).unwrap()),
        },
    );
    update(
        &mut app,
        Msg::Reply {
            id: ids[1],
            result: Ok(serde_json::json!([])),
        },
    );
    let (id, call) = only_request(update(&mut app, key(KeyCode::Enter)));
    assert_eq!(
        call,
        Call::MetadataFields(ObjectRef {
            org: "acme".into(),
            object: "Account".into()
        })
    );
    update(
        &mut app,
        Msg::Reply {
            id,
            result: Ok(serde_json::to_value(account_fields()).unwrap()),
        },
    );
    app
}

#[test]
fn space_toggles_fields_but_required_ones_stay_locked() {
    let mut app = opened();
    let m = editor(&app);
    // Id, Name (required) and SystemModstamp are in from the start.
    assert_eq!(m.chosen_count(), 3);
    // Id is locked: Space explains instead of toggling.
    update(&mut app, key(KeyCode::Char(' ')));
    assert!(app.notice.as_ref().unwrap().text.contains("always syncs"));
    assert_eq!(editor(&app).chosen_count(), 3);
    type_str(&mut app, "jj ");
    assert!(editor(&app).chosen.contains("Industry"));
    update(&mut app, key(KeyCode::Char(' ')));
    assert!(!editor(&app).chosen.contains("Industry"));
    type_str(&mut app, "a");
    assert_eq!(editor(&app).chosen_count(), 6);
    type_str(&mut app, "n");
    assert_eq!(editor(&app).chosen_count(), 3);
}

#[test]
fn filter_then_select_all_only_takes_the_matches() {
    let mut app = opened();
    type_str(&mut app, "/");
    type_str(&mut app, "tier");
    assert_eq!(editor(&app).visible().len(), 1);
    update(&mut app, key(KeyCode::Enter));
    assert!(!editor(&app).filtering);
    type_str(&mut app, "a");
    let m = editor(&app);
    assert_eq!(m.chosen_count(), 4);
    assert!(m.chosen.contains("Tier__c"));
}

#[test]
fn saving_previews_the_plan_then_applies_it_once_confirmed() {
    let mut app = opened();
    type_str(&mut app, "jj ");
    // Options: direction → SF → DB, then a row filter.
    update(&mut app, key(KeyCode::Tab));
    update(&mut app, key(KeyCode::Right));
    update(&mut app, key(KeyCode::Down));
    update(&mut app, key(KeyCode::Down));
    type_str(&mut app, "Industry = 'Banking'");
    update(&mut app, key(KeyCode::Tab));
    let (id, call) = only_request(update(&mut app, key(KeyCode::Enter)));
    let Call::MappingSave(save) = call else {
        panic!("{call:?}")
    };
    assert!(!save.apply);
    assert_eq!(save.mapping.direction, Direction::SfToDb);
    assert_eq!(
        save.mapping.row_filter.as_deref(),
        Some("Industry = 'Banking'")
    );
    assert_eq!(
        save.mapping.fields,
        ["Id", "Name", "Industry", "SystemModstamp"]
    );
    update(
        &mut app,
        Msg::Reply {
            id,
            result: Ok(serde_json::to_value(plan_view(false, false)).unwrap()),
        },
    );
    assert!(matches!(editor(&app).phase, Phase::Review { .. }));
    let (id, call) = only_request(update(&mut app, key(KeyCode::Enter)));
    let Call::MappingSave(save) = call else {
        panic!()
    };
    assert!(save.apply && !save.confirm_destructive);
    let cmds = update(
        &mut app,
        Msg::Reply {
            id,
            result: Ok(serde_json::to_value(plan_view(false, true)).unwrap()),
        },
    );
    assert!(
        app.notice
            .as_ref()
            .unwrap()
            .text
            .starts_with("DB objects generated: yes")
    );
    // Back on Objects, reloading the list and the mappings.
    assert!(matches!(app.screen, Screen::Objects(_)));
    assert_eq!(cmds.len(), 2);
}

#[test]
fn a_destructive_plan_needs_capital_d_and_errors_say_no() {
    let mut app = opened();
    let (id, _) = only_request(update(&mut app, key(KeyCode::Enter)));
    update(
        &mut app,
        Msg::Reply {
            id,
            result: Ok(serde_json::to_value(plan_view(true, false)).unwrap()),
        },
    );
    assert_eq!(update(&mut app, key(KeyCode::Enter)), vec![]);
    assert!(app.notice.as_ref().unwrap().text.contains("press D"));
    let (id, call) = only_request(update(&mut app, key(KeyCode::Char('D'))));
    let Call::MappingSave(save) = call else {
        panic!()
    };
    assert!(save.apply && save.confirm_destructive);
    update(
        &mut app,
        Msg::Reply {
            id,
            result: Err("the DDL failed: permission denied for schema datenator_acme".into()),
        },
    );
    assert_eq!(editor(&app).phase, Phase::Editing);
    let n = app.notice.clone().unwrap();
    assert_eq!(n.tone, Tone::Error);
    assert!(
        n.text
            .starts_with("DB objects generated for Account: no — the DDL failed"),
        "{}",
        n.text
    );
}

/// A plan that fills added fields: its fill is not counted as DDL, and the notice says
/// what happens to the rows already there.
#[test]
fn an_applied_plan_that_fills_added_fields_says_so() {
    let mut app = opened();
    let mut plan = plan_view(false, false);
    plan.steps.truncate(1);
    plan.steps.push(PlanStepView {
        description: "fill Industry in the 12 existing row(s) from Salesforce".into(),
        destructive: None,
        sql: vec![],
    });
    let (id, _) = only_request(update(&mut app, key(KeyCode::Enter)));
    update(
        &mut app,
        Msg::Reply {
            id,
            result: Ok(serde_json::to_value(&plan).unwrap()),
        },
    );
    let (id, _) = only_request(update(&mut app, key(KeyCode::Enter)));
    plan.applied = true;
    update(
        &mut app,
        Msg::Reply {
            id,
            result: Ok(serde_json::to_value(&plan).unwrap()),
        },
    );
    let text = &app.notice.as_ref().unwrap().text;
    assert!(
        text.contains("(1 DDL step(s) run); the added fields are filled into the existing rows"),
        "{text}"
    );
}

#[test]
fn an_existing_mapping_is_loaded_into_the_editor_and_can_be_removed() {
    let existing = Mapping {
        object: "Account".into(),
        fields: vec!["Id".into(), "Name".into(), "Tier__c".into()],
        direction: Direction::DbToSf,
        conflict_policy: ConflictPolicy::DatabaseWins,
        row_filter: None,
    };
    let m = MappingEditor::new("acme".into(), "Account".into(), Some(&existing));
    assert_eq!(m.direction(), Direction::DbToSf);
    assert!(m.options.field("remove").visible);
    let mut app = with_orgs(&["acme"]);
    app.screen = Screen::Mapping(Box::new(m));
    update(&mut app, key(KeyCode::Tab));
    if let Screen::Mapping(m) = &mut app.screen {
        m.options.focus_on("remove");
    }
    let (_, call) = only_request(update(&mut app, key(KeyCode::Enter)));
    assert_eq!(
        call,
        Call::MappingRemove(RemoveMapping {
            org: "acme".into(),
            object: "Account".into(),
            apply: false,
            confirm_destructive: false
        })
    );
}
