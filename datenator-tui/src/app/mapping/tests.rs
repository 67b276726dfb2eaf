//! Unit tests of the mapping editor.
use super::*;
use crate::app::tests::{key, only_request, type_str, with_orgs};
use crate::app::{Confirm, Dialog};
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

/// Esc with nothing changed leaves at once; with changes it asks, and only yes throws
/// them away. Changes undone by hand are no changes.
#[test]
fn esc_asks_before_it_throws_away_unsaved_changes() {
    let mut app = opened();
    assert!(!editor(&app).changed());
    let cmds = update(&mut app, key(KeyCode::Esc));
    assert!(matches!(app.screen, Screen::Objects(_)), "{:?}", app.screen);
    assert_eq!(cmds.len(), 2, "the objects and mappings reload");

    let mut app = opened();
    // Industry on, then off again: nothing changed.
    type_str(&mut app, "jj ");
    assert!(editor(&app).changed());
    update(&mut app, key(KeyCode::Char(' ')));
    assert!(!editor(&app).changed());
    // Select all: locked fields were in anyway, the others are a change.
    type_str(&mut app, "a");
    assert!(editor(&app).changed());
    assert_eq!(update(&mut app, key(KeyCode::Esc)), vec![]);
    let Some(Dialog::Confirm { yes, lines, .. }) = &app.dialog else {
        panic!("a confirmation: {:?}", app.dialog)
    };
    assert_eq!(
        yes,
        &Confirm::DiscardMapping {
            org: "acme".into(),
            object: "Account".into()
        }
    );
    assert!(lines[0].1.contains("not saved"), "{lines:?}");
    // n keeps the editor and its changes.
    update(&mut app, key(KeyCode::Char('n')));
    assert_eq!(app.dialog, None);
    assert_eq!(editor(&app).chosen_count(), 6);
    // Esc again, y: back to the objects.
    update(&mut app, key(KeyCode::Esc));
    let cmds = update(&mut app, key(KeyCode::Char('y')));
    assert_eq!(app.dialog, None);
    assert!(matches!(app.screen, Screen::Objects(_)));
    assert_eq!(cmds.len(), 2);
}

/// An option changed (the direction, the row filter) is a change too; Esc first ends the
/// filter and clears it, as before, and only then asks.
#[test]
fn options_are_changes_and_esc_still_ends_a_filter_first() {
    let existing = Mapping {
        object: "Account".into(),
        fields: vec!["Id".into(), "Name".into(), "Tier__c".into()],
        direction: Direction::SfToDb,
        conflict_policy: ConflictPolicy::NewestWins,
        row_filter: Some("Industry = 'Banking'".into()),
    };
    let mut app = with_orgs(&["acme"]);
    let mut m = MappingEditor::new("acme".into(), "Account".into(), Some(&existing));
    m.fields = Load::Loaded(account_fields());
    app.screen = Screen::Mapping(Box::new(m));
    assert!(!editor(&app).changed());
    update(&mut app, key(KeyCode::Tab));
    update(&mut app, key(KeyCode::Left));
    assert_eq!(editor(&app).direction(), Direction::Bidirectional);
    assert!(editor(&app).changed());
    update(&mut app, key(KeyCode::Right));
    assert!(!editor(&app).changed());
    update(&mut app, key(KeyCode::Down));
    update(&mut app, key(KeyCode::Down));
    type_str(&mut app, " AND Tier__c = 'A'");
    assert!(editor(&app).changed());
    update(&mut app, key(KeyCode::Tab));
    type_str(&mut app, "/tier");
    update(&mut app, key(KeyCode::Esc));
    assert!(app.dialog.is_none() && !editor(&app).filtering);
    update(&mut app, key(KeyCode::Esc));
    assert!(app.dialog.is_none() && editor(&app).filter.is_empty());
    update(&mut app, key(KeyCode::Esc));
    assert!(matches!(app.dialog, Some(Dialog::Confirm { .. })));
    // Esc on the question cancels it.
    update(&mut app, key(KeyCode::Esc));
    assert!(app.dialog.is_none());
    assert!(matches!(app.screen, Screen::Mapping(_)));
}

/// Esc while the plan is being asked for also asks (the changes are not saved yet).
#[test]
fn esc_while_planning_asks_too() {
    let mut app = opened();
    type_str(&mut app, "jj ");
    update(&mut app, key(KeyCode::Enter));
    assert!(matches!(editor(&app).phase, Phase::Planning { .. }));
    update(&mut app, key(KeyCode::Esc));
    assert!(matches!(app.dialog, Some(Dialog::Confirm { .. })));
}

pub(crate) fn queued_plan(n: usize, send: bool) -> PlanView {
    let mut plan = plan_view(false, false);
    plan.steps.truncate(1);
    plan.steps.push(PlanStepView {
        description: if send {
            format!(
                "send the {n} database change(s) made to Account while it did not sync to Salesforce"
            )
        } else {
            format!(
                "discard the {n} database change(s) made to Account while it did not sync to Salesforce: they stay in the database and are never sent (S in the plan sends them instead)"
            )
        },
        destructive: None,
        sql: vec![],
    });
    plan
}

fn reply(app: &mut App, id: u64, plan: &PlanView) -> Vec<Cmd> {
    update(
        app,
        Msg::Reply {
            id,
            result: Ok(serde_json::to_value(plan).unwrap()),
        },
    )
}

fn save(call: Call) -> SaveMapping {
    match call {
        Call::MappingSave(s) => s,
        other => panic!("{other:?}"),
    }
}

fn footer_has(app: &App, description: &str) -> bool {
    crate::commands::commands(app)
        .iter()
        .any(|c| c.hint == "S" && c.description == description && c.in_footer)
}

/// A plan that names the database changes queued while the object did not sync to
/// Salesforce discards them by default; S plans again sending them, S again discards them,
/// and applying uses the choice on show. A plan without them offers nothing.
#[test]
fn s_chooses_to_send_the_queued_changes_and_back() {
    let mut app = opened();
    let (id, call) = only_request(update(&mut app, key(KeyCode::Enter)));
    assert!(!save(call).send_queued, "the default discards them");
    // Without queued changes, S does nothing.
    reply(&mut app, id, &plan_view(false, false));
    assert!(!footer_has(&app, "send them"));
    assert_eq!(update(&mut app, key(KeyCode::Char('S'))), vec![]);

    update(&mut app, key(KeyCode::Esc));
    let (id, _) = only_request(update(&mut app, key(KeyCode::Enter)));
    reply(&mut app, id, &queued_plan(2, false));
    assert!(footer_has(&app, "send them"));
    let (id, call) = only_request(update(&mut app, key(KeyCode::Char('S'))));
    let s = save(call);
    assert!(s.send_queued && !s.apply, "a plan again, sending them");
    assert!(matches!(
        editor(&app).phase,
        Phase::Planning { remove: false }
    ));
    reply(&mut app, id, &queued_plan(2, true));
    assert!(editor(&app).send_queued);
    assert!(footer_has(&app, "discard them"));
    // Toggling back plans discarding them again.
    let (id, call) = only_request(update(&mut app, key(KeyCode::Char('S'))));
    assert!(!save(call).send_queued);
    reply(&mut app, id, &queued_plan(2, false));
    let (id, call) = only_request(update(&mut app, key(KeyCode::Char('S'))));
    assert!(save(call).send_queued);
    reply(&mut app, id, &queued_plan(2, true));
    // Enter runs the plan on show: sending them.
    let (id, call) = only_request(update(&mut app, key(KeyCode::Enter)));
    let s = save(call);
    assert!(s.apply && s.send_queued);
    let mut applied = queued_plan(2, true);
    applied.applied = true;
    reply(&mut app, id, &applied);
    let text = &app.notice.as_ref().unwrap().text;
    assert!(
        text.ends_with("The database changes queued while it did not sync to Salesforce are sent."),
        "{text}"
    );
}

/// Back to editing, the choice is forgotten: the next plan discards them again unless asked.
#[test]
fn editing_again_forgets_the_choice() {
    let mut app = opened();
    let (id, _) = only_request(update(&mut app, key(KeyCode::Enter)));
    reply(&mut app, id, &queued_plan(1, false));
    let (id, _) = only_request(update(&mut app, key(KeyCode::Char('S'))));
    reply(&mut app, id, &queued_plan(1, true));
    update(&mut app, key(KeyCode::Esc));
    assert_eq!(editor(&app).phase, Phase::Editing);
    assert!(!editor(&app).send_queued);
    let (_, call) = only_request(update(&mut app, key(KeyCode::Enter)));
    assert!(!save(call).send_queued);
    // A removal never offers it.
    let mut app = opened();
    if let Screen::Mapping(m) = &mut app.screen {
        m.phase = Phase::Review {
            plan: queued_plan(1, false),
            remove: true,
        };
    }
    assert!(!footer_has(&app, "send them"));
    assert_eq!(update(&mut app, key(KeyCode::Char('S'))), vec![]);
}

/// A plan with the daemon's step about `n` rows leaving the row filter (no SQL: the engine
/// sorts them out before the object's next pull).
pub(crate) fn leaving_plan(n: usize, delete: bool) -> PlanView {
    let mut plan = plan_view(false, false);
    plan.steps.truncate(1);
    plan.steps.push(if delete {
        PlanStepView {
            description: format!(
                "delete the {n} row(s) of Account whose record no longer matches the new row filter from the database; their Salesforce records stay (L in the plan keeps them detached instead)"
            ),
            destructive: Some(format!(
                "deletes about {n} row(s) from the database (not from Salesforce)"
            )),
            sql: vec![],
        }
    } else {
        PlanStepView {
            description: format!(
                "keep the {n} row(s) of Account whose record no longer matches the new row filter: marked detached (_dn_state = 'DETACHED'), no longer refreshed from Salesforce, their database changes never sent (L in the plan deletes them instead)"
            ),
            destructive: None,
            sql: vec![],
        }
    });
    plan.destructive = delete;
    plan
}

fn footer_has_l(app: &App, description: &str) -> bool {
    crate::commands::commands(app)
        .iter()
        .any(|c| c.hint == "L" && c.description == description && c.in_footer)
}

/// The step about rows leaving the row filter is told by its opening words and count, not
/// by any step that deletes something.
#[test]
fn the_leaving_rows_step_is_found_by_its_words() {
    assert!(names_leaving_rows(&leaving_plan(412, false)));
    assert!(names_leaving_rows(&leaving_plan(1, true)));
    let mut plan = leaving_plan(3, false);
    plan.steps[1].description = "keep the 2,003 row(s) of Account …".into();
    assert!(names_leaving_rows(&plan));
    for other in [
        "delete the column tier__c",
        "keep the rows",
        "delete the  row(s)",
        "discard the 2 database change(s) made to Account while it did not sync",
    ] {
        plan.steps[1].description = other.into();
        assert!(!names_leaving_rows(&plan), "{other}");
    }
    assert!(!names_leaving_rows(&plan_view(true, false)));
}

/// A plan whose changed row filter leaves rows outside it keeps them detached by default;
/// L plans again deleting them (a destructive plan: D runs it), L again keeps them, and
/// applying uses the choice on show. A plan without such a step offers nothing.
#[test]
fn l_chooses_to_delete_the_rows_leaving_the_filter_and_back() {
    let mut app = opened();
    let (id, call) = only_request(update(&mut app, key(KeyCode::Enter)));
    assert_eq!(
        save(call).leaving_rows,
        LeavingRows::Detach,
        "the default keeps them"
    );
    // Without rows leaving the filter, L does nothing.
    reply(&mut app, id, &plan_view(false, false));
    assert!(!footer_has_l(&app, "delete them"));
    assert_eq!(update(&mut app, key(KeyCode::Char('L'))), vec![]);

    update(&mut app, key(KeyCode::Esc));
    let (id, _) = only_request(update(&mut app, key(KeyCode::Enter)));
    reply(&mut app, id, &leaving_plan(412, false));
    assert!(footer_has_l(&app, "delete them"));
    let (id, call) = only_request(update(&mut app, key(KeyCode::Char('L'))));
    let s = save(call);
    assert!(
        s.leaving_rows == LeavingRows::Delete && !s.apply,
        "a plan again, deleting them"
    );
    assert!(matches!(
        editor(&app).phase,
        Phase::Planning { remove: false }
    ));
    reply(&mut app, id, &leaving_plan(412, true));
    assert_eq!(editor(&app).leaving_rows, LeavingRows::Delete);
    assert!(footer_has_l(&app, "keep them"));
    // Deleting loses data: Enter refuses, as for any destructive plan.
    assert_eq!(update(&mut app, key(KeyCode::Enter)), vec![]);
    assert!(app.notice.as_ref().unwrap().text.contains("press D"));
    // Toggling back plans keeping them again.
    let (id, call) = only_request(update(&mut app, key(KeyCode::Char('L'))));
    assert_eq!(save(call).leaving_rows, LeavingRows::Detach);
    reply(&mut app, id, &leaving_plan(412, false));
    assert_eq!(editor(&app).leaving_rows, LeavingRows::Detach);
    let (id, call) = only_request(update(&mut app, key(KeyCode::Char('L'))));
    assert_eq!(save(call).leaving_rows, LeavingRows::Delete);
    reply(&mut app, id, &leaving_plan(412, true));
    // D runs the plan on show: deleting them, confirmed.
    let (id, call) = only_request(update(&mut app, key(KeyCode::Char('D'))));
    let s = save(call);
    assert!(s.apply && s.confirm_destructive && s.leaving_rows == LeavingRows::Delete);
    let mut applied = leaving_plan(412, true);
    applied.applied = true;
    reply(&mut app, id, &applied);
    let text = &app.notice.as_ref().unwrap().text;
    assert!(
        text.ends_with("The rows outside the row filter are deleted from the database."),
        "{text}"
    );
}

/// Keeping them (the default) runs with Enter and the notice says they are kept, detached.
#[test]
fn keeping_the_rows_leaving_the_filter_runs_with_enter() {
    let mut app = opened();
    let (id, _) = only_request(update(&mut app, key(KeyCode::Enter)));
    reply(&mut app, id, &leaving_plan(3, false));
    let (id, call) = only_request(update(&mut app, key(KeyCode::Enter)));
    let s = save(call);
    assert!(s.apply && !s.confirm_destructive && s.leaving_rows == LeavingRows::Detach);
    let mut applied = leaving_plan(3, false);
    applied.applied = true;
    reply(&mut app, id, &applied);
    let text = &app.notice.as_ref().unwrap().text;
    assert!(
        text.ends_with("The rows outside the row filter are kept, detached: never refreshed from Salesforce, their changes never sent."),
        "{text}"
    );
}

/// Back to editing, the choice is forgotten: the next plan keeps them detached again
/// unless asked. S and L are chosen apart, each kept while the other changes; a removal
/// never offers L.
#[test]
fn editing_again_forgets_the_leaving_rows_choice() {
    let mut app = opened();
    let (id, _) = only_request(update(&mut app, key(KeyCode::Enter)));
    let mut both = leaving_plan(5, false);
    both.steps.push(queued_plan(2, false).steps.remove(1));
    reply(&mut app, id, &both);
    assert!(footer_has(&app, "send them") && footer_has_l(&app, "delete them"));
    let (id, call) = only_request(update(&mut app, key(KeyCode::Char('L'))));
    assert!(!save(call).send_queued);
    reply(&mut app, id, &both);
    let (id, call) = only_request(update(&mut app, key(KeyCode::Char('S'))));
    let s = save(call);
    assert!(s.send_queued && s.leaving_rows == LeavingRows::Delete);
    reply(&mut app, id, &both);
    update(&mut app, key(KeyCode::Esc));
    assert_eq!(editor(&app).phase, Phase::Editing);
    assert_eq!(editor(&app).leaving_rows, LeavingRows::Detach);
    let (_, call) = only_request(update(&mut app, key(KeyCode::Enter)));
    let s = save(call);
    assert!(!s.send_queued && s.leaving_rows == LeavingRows::Detach);
    // A removal never offers it.
    let mut app = opened();
    if let Screen::Mapping(m) = &mut app.screen {
        m.phase = Phase::Review {
            plan: leaving_plan(1, false),
            remove: true,
        };
    }
    assert!(!footer_has_l(&app, "delete them"));
    assert_eq!(update(&mut app, key(KeyCode::Char('L'))), vec![]);
}

/// The notice after saving names the engine's work a plan announced, and only that: the
/// re-read a changed row filter needs (not a fill of added fields), nothing for a plan
/// whose only step without SQL is about the queued changes.
#[test]
fn the_notice_names_the_re_read_of_a_changed_row_filter() {
    let mut app = opened();
    let mut plan = leaving_plan(3, false);
    plan.steps.push(PlanStepView {
        description: "re-read Account from Salesforce with the new row filter: records that now match it are loaded, those already in the database merged by sfid (about 40 record(s), about 2 API call(s))".into(),
        destructive: None,
        sql: vec![],
    });
    let (id, _) = only_request(update(&mut app, key(KeyCode::Enter)));
    reply(&mut app, id, &plan);
    let (id, _) = only_request(update(&mut app, key(KeyCode::Enter)));
    plan.applied = true;
    reply(&mut app, id, &plan);
    let text = &app.notice.as_ref().unwrap().text;
    assert!(
        text.starts_with("DB objects generated: yes — Account is mapped (1 DDL step(s) run); it is re-read from Salesforce with the new row filter before its next pull (the Sync screen shows it as re-reading). The rows outside the row filter are kept, detached"),
        "{text}"
    );
    assert!(!text.contains("added fields"), "{text}");

    let mut app = opened();
    let (id, _) = only_request(update(&mut app, key(KeyCode::Enter)));
    reply(&mut app, id, &queued_plan(2, false));
    let (id, _) = only_request(update(&mut app, key(KeyCode::Enter)));
    let mut applied = queued_plan(2, false);
    applied.applied = true;
    reply(&mut app, id, &applied);
    let text = &app.notice.as_ref().unwrap().text;
    assert!(
        text.starts_with("DB objects generated: yes — Account is mapped (1 DDL step(s) run). The database changes queued"),
        "{text}"
    );
}
