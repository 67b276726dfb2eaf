//! Object mappings: validated against the cached metadata (required fields, `Id` and
//! `SystemModstamp` always included), planned as DDL, applied only when confirmed, stored.
use crate::error::DaemonError;
use datenator_shared::model::{Direction, FieldInfo, Mapping, PlanStepView, PlanView};
use datenator_shared::protocol::{RemoveMapping, SaveMapping};

use crate::error::store_error;
use crate::orgs::metadata;
use crate::state::State;
use crate::targetdb::{FieldSpec, ObjectMapping, Plan, SfType, Target};

mod filter_change;

/// A stored mapping with its resolved column types.
#[derive(Debug, Clone)]
pub struct StoredMapping {
    pub mapping: Mapping,
    pub resolved: ObjectMapping,
}

impl StoredMapping {
    /// The row filter as a SOQL clause after `keyword` (`WHERE` or `AND`), or nothing.
    pub fn filter_clause(&self, keyword: &str) -> String {
        self.mapping
            .row_filter
            .as_deref()
            .map(|f| format!(" {keyword} ({f})"))
            .unwrap_or_default()
    }
}

fn sf_type(name: &str) -> Option<SfType> {
    serde_json::from_value(serde_json::Value::from(name)).ok()
}

fn spec_of(f: &FieldInfo, sf_type: SfType) -> FieldSpec {
    FieldSpec {
        name: f.name.clone(),
        sf_type,
        length: f.length,
        precision: f.precision,
        scale: f.scale,
    }
}

/// A described field as a mapping would store it; `None` for a type Datenator cannot store.
pub fn field_spec(f: &FieldInfo) -> Option<FieldSpec> {
    sf_type(&f.field_type).map(|t| spec_of(f, t))
}

/// Fields that cannot be left out: the record's identity, the cursor, and what Salesforce
/// requires on create.
pub fn is_mandatory(f: &FieldInfo) -> bool {
    f.name == "Id" || f.name == "SystemModstamp" || f.required()
}

/// Refuses a name the sync engine could not use: the same test the Salesforce client
/// applies to every object and field name it puts into a URL or a query, applied once when
/// a mapping comes in, so no mapping is stored that would leave its changes pending forever.
fn check_name(object: &str, field: Option<&str>) -> Result<(), DaemonError> {
    let name = field.unwrap_or(object);
    crate::salesforce::rest::check_api_name(name).map_err(|_| {
        let what = match field {
            Some(_) => format!("the field {name:?} of {object:?}"),
            None => format!("the object {name:?}"),
        };
        DaemonError::rejected(format!(
                "{} cannot be synced: Salesforce API names are letters, digits and underscores, starting with a letter; leave it out of the mapping",
                crate::logging::escape(&what)
            ),
        )
    })?;
    Ok(())
}

/// Resolves a user's mapping against the object's fields.
pub fn resolve(mapping: &Mapping, fields: &[FieldInfo]) -> Result<ObjectMapping, DaemonError> {
    check_name(&mapping.object, None)?;
    let mut specs = Vec::new();
    let mut unknown = Vec::new();
    for name in &mapping.fields {
        if !fields.iter().any(|f| f.name.eq_ignore_ascii_case(name)) {
            unknown.push(name.clone());
        }
    }
    if !unknown.is_empty() {
        return Err(DaemonError::rejected(format!(
            "{} has no field {}: update the metadata or fix the mapping",
            mapping.object,
            unknown.join(", ")
        )));
    }
    for f in fields {
        let chosen = mapping
            .fields
            .iter()
            .any(|n| n.eq_ignore_ascii_case(&f.name));
        if !(chosen || is_mandatory(f)) {
            continue;
        }
        let Some(t) = sf_type(&f.field_type) else {
            if chosen {
                return Err(DaemonError::rejected(format!(
                    "{}.{} has type {}, which Datenator cannot store",
                    mapping.object, f.name, f.field_type
                )));
            }
            continue;
        };
        if matches!(
            t,
            SfType::Address | SfType::Location | SfType::Base64 | SfType::AnyType
        ) {
            if chosen {
                return Err(DaemonError::rejected(format!(
                    "{}.{} is a {} field: map its component fields instead (e.g. BillingStreet for BillingAddress)",
                    mapping.object, f.name, f.field_type
                )));
            }
            continue;
        }
        check_name(&mapping.object, Some(&f.name))?;
        specs.push(FieldSpec {
            sf_type: t,
            ..spec_of(f, t)
        });
    }
    Ok(ObjectMapping::new(mapping.object.clone(), specs))
}

/// Every stored mapping of the org.
pub async fn stored(state: &State, org: &str) -> Result<Vec<StoredMapping>, DaemonError> {
    let rows = state.store.mappings(org).await.map_err(store_error)?;
    let mut out = Vec::new();
    for r in rows {
        let resolved: ObjectMapping = serde_json::from_str(&r.fields_json).map_err(|e| {
            DaemonError::internal(format!(
                "the stored mapping of {} is unreadable ({e}): save it again",
                r.object
            ))
        })?;
        out.push(StoredMapping {
            mapping: Mapping {
                object: resolved.object.clone(),
                fields: resolved.fields.iter().map(|f| f.name.clone()).collect(),
                direction: r.direction,
                conflict_policy: r.conflict_policy,
                row_filter: r.row_filter,
            },
            resolved,
        });
    }
    Ok(out)
}

/// `mapping_list`.
pub async fn list(state: &State, org: &str) -> Result<Vec<Mapping>, DaemonError> {
    Ok(stored(state, org)
        .await?
        .into_iter()
        .map(|m| m.mapping)
        .collect())
}

fn view(plan: &Plan, applied: bool) -> PlanView {
    PlanView {
        steps: plan
            .steps
            .iter()
            .map(|s| PlanStepView {
                description: s.description.clone(),
                destructive: s.destructive.clone(),
                sql: s.sql().to_vec(),
            })
            .collect(),
        destructive: plan.is_destructive(),
        applied,
    }
}

/// A row filter must be a condition Salesforce accepts: it is tried on a one-row query.
async fn check_filter(
    state: &State,
    org: &str,
    object: &str,
    filter: &str,
) -> Result<(), DaemonError> {
    if filter.contains(';') {
        return Err(DaemonError::rejected(
            "a row filter is one SOQL condition, without ';'",
        ));
    }
    let api = state.orgs_runtime.api(state, org).await?;
    let prefix = format!("SELECT Id FROM {object} WHERE (");
    let soql = format!("{prefix}{filter}) LIMIT 1");
    match api.query_all_records(&soql, false).await {
        Ok(_) => Ok(()),
        Err(crate::salesforce::SalesforceError::Api { errors, .. }) => {
            Err(DaemonError::rejected(format!(
                "Salesforce rejects the row filter: {}. Write one SOQL condition on {object}'s fields, e.g. Industry = 'Banking' AND AnnualRevenue > 1000000",
                errors
                    .iter()
                    .map(|e| filter_error(&e.to_string(), prefix.chars().count()))
                    .collect::<Vec<_>>()
                    .join("; ")
            )))
        }
        Err(e) => Err(crate::orgs::salesforce_error(state, org, e).await),
    }
}

/// Salesforce's query error about a row filter, readable: its lines joined, the whole
/// query it quotes left out, and its `Row:1:Column:N` position counted in the filter the
/// user wrote (the query around it adds `prefix` characters before).
fn filter_error(message: &str, prefix: usize) -> String {
    let mut text = message.replace(['\r', '\n'], " ");
    if let Some(at) = text.find("ERROR at Row:1:Column:") {
        let rest = text
            .get(at + "ERROR at Row:1:Column:".len()..)
            .unwrap_or_default();
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(column) = digits.parse::<usize>() {
            let after = rest.get(digits.len()..).unwrap_or_default().trim_start();
            let column = column.saturating_sub(prefix).max(1);
            // What came before the position is the query (with the filter) quoted back.
            let code = text
                .get(..at)
                .unwrap_or_default()
                .split_once(": ")
                .map_or("", |(code, _)| code)
                .to_owned();
            let code = if code.is_empty() || code.contains(' ') {
                String::new()
            } else {
                format!("{code}: ")
            };
            text = format!("{code}at character {column} of the filter: {after}");
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `mapping_save`: plans, and when asked (and confirmed if destructive), applies.
pub async fn save(state: &State, req: SaveMapping) -> Result<PlanView, DaemonError> {
    check_name(&req.mapping.object, None)?;
    let fields = metadata::fields(state, &req.org, &req.mapping.object).await?;
    let resolved = resolve(&req.mapping, &fields)?;
    let object = resolved.object.clone();
    if let Some(filter) = req
        .mapping
        .row_filter
        .as_deref()
        .filter(|f| !f.trim().is_empty())
    {
        check_filter(state, &req.org, &object, filter).await?;
    }
    let stored_now = stored(state, &req.org).await?;
    let was = stored_now
        .iter()
        .find(|m| m.resolved.object.eq_ignore_ascii_case(&object))
        .map(|m| (m.mapping.direction, m.resolved.clone()));
    let was_mapping = stored_now
        .iter()
        .find(|m| m.resolved.object.eq_ignore_ascii_case(&object))
        .map(|m| m.mapping.clone());
    let old: Vec<ObjectMapping> = stored_now.into_iter().map(|m| m.resolved).collect();
    let mut new: Vec<ObjectMapping> = old
        .iter()
        .filter(|m| !m.object.eq_ignore_ascii_case(&object))
        .cloned()
        .collect();
    new.push(resolved.clone());
    let target = crate::datasource::admin_target(state, &req.org).await?;
    let plan = target
        .plan(&old, &new)
        .map_err(|e| DaemonError::rejected(e.to_string()))?;
    let backfill = backfill_plan(&target, &old, &resolved, &req.mapping).await;
    let queued = queued_plan(&target, was.as_ref(), &req).await;
    let refilter = filter_change::plan(
        state,
        &req.org,
        was_mapping.as_ref(),
        &req.mapping,
        req.leaving_rows,
    )
    .await?;
    let bulk_threshold = state.engine.config.bulk_threshold;
    let finish = |view: PlanView| {
        filter_change::with_steps(
            with_queued(with_backfill(view, &backfill, state), &queued, &req),
            &refilter,
            &object,
            bulk_threshold,
        )
    };
    if !req.apply {
        return Ok(finish(view(&plan, false)));
    }
    if finish(view(&plan, false)).destructive && !req.confirm_destructive {
        return Err(DaemonError::rejected(
            "this change loses data (see the destructive steps): confirm it to go ahead, after a backup if the data matters",
        ));
    }
    target
        .apply(&plan)
        .await
        .map_err(|e| DaemonError::rejected(format!("the DDL failed: {e}")))?;
    if let (Some((_, before)), Some(_), false) = (&was, queued, req.send_queued) {
        // Before the mapping is stored: the worker never pushes them.
        let discarded = discard_queued(&target, before).await.map_err(|e| {
            DaemonError::rejected(format!("could not discard the queued changes: {e}"))
        })?;
        tracing::info!(org = %req.org, object = %object, discarded, "database changes made while the object did not sync to Salesforce discarded");
    }
    if let Some(change) = &refilter {
        // Recorded before the mapping is stored: the worker never pulls with the new filter
        // before the rows are sorted out.
        state
            .store
            .add_reload(
                &req.org,
                &object,
                change.leaving_rows,
                req.mapping.row_filter.as_deref(),
            )
            .await
            .map_err(store_error)?;
    }
    if let Some((fields, rows)) = &backfill {
        // Recorded before the mapping is stored: the worker never sees the new mapping
        // without its fill.
        state
            .store
            .add_backfill(&req.org, &object, fields, *rows)
            .await
            .map_err(store_error)?;
    }
    let fields_json =
        serde_json::to_string(&resolved).map_err(|e| DaemonError::internal(e.to_string()))?;
    let stored = state
        .store
        .put_mapping(
            &req.org,
            crate::store::NewMapping {
                object: &object,
                table: &resolved.table(target.dialect()),
                direction: req.mapping.direction,
                conflict_policy: req.mapping.conflict_policy,
                row_filter: req
                    .mapping
                    .row_filter
                    .as_deref()
                    .filter(|f| !f.trim().is_empty()),
                fields_json: &fields_json,
            },
        )
        .await;
    if let Err(e) = stored {
        if refilter.is_some() {
            // The re-read recorded for the new filter would wait for it forever.
            let _ = state.store.finish_reload(&req.org, &object).await;
        }
        return Err(store_error(e));
    }
    forget_pointless_backfill(state, &req.org, &resolved, req.mapping.direction).await?;
    // The user decided about fields marked removed in Salesforce; one still gone is found
    // again by the next query.
    state
        .store
        .clear_removed_fields(&req.org, &object)
        .await
        .map_err(store_error)?;
    tracing::info!(org = %req.org, object = %object, steps = plan.steps.len(), "mapping saved");
    state.engine.wake(&req.org);
    Ok(finish(view(&plan, true)))
}

/// How many database changes are queued for a mapping that starts sending to Salesforce
/// now (it did not before): changes made while the object was not meant to sync. `None`
/// when the direction does not change that way or nothing is queued.
async fn queued_plan(
    target: &crate::targetdb::AnyTarget,
    was: Option<&(Direction, ObjectMapping)>,
    req: &SaveMapping,
) -> Option<u64> {
    let (direction, before) = was?;
    if direction.pushes() || !req.mapping.direction.pushes() {
        return None;
    }
    match target.event_counts(before).await {
        Ok(c) => (c.new + c.claimed > 0).then_some(c.new + c.claimed),
        Err(e) => {
            tracing::warn!("cannot count the queued database changes: {e}");
            None
        }
    }
}

/// Marks every queued change of the object processed without sending it. Returns how many.
async fn discard_queued(
    target: &crate::targetdb::AnyTarget,
    mapping: &ObjectMapping,
) -> Result<u64, crate::targetdb::TargetError> {
    target.requeue_claimed(mapping).await?;
    let mut discarded = 0;
    loop {
        let events = target.claim_events(mapping, 1000).await?;
        if events.is_empty() {
            return Ok(discarded);
        }
        let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
        target
            .settle_events(mapping, &ids, Some(crate::targetdb::NOT_SENT_DISCARDED))
            .await?;
        discarded += ids.len() as u64;
    }
}

/// A plan's view with what happens to the changes queued while the object did not sync to
/// Salesforce, as a step of its own (no DDL).
fn with_queued(mut view: PlanView, queued: &Option<u64>, req: &SaveMapping) -> PlanView {
    if let Some(n) = queued {
        let object = &req.mapping.object;
        view.steps.push(PlanStepView {
            description: if req.send_queued {
                format!(
                    "send the {n} database change(s) made to {object} while it did not sync to Salesforce"
                )
            } else {
                format!(
                    "discard the {n} database change(s) made to {object} while it did not sync to Salesforce: they stay in the database and are never sent (S in the plan sends them instead)"
                )
            },
            destructive: None,
            sql: Vec::new(),
        });
    }
    view
}

/// The fields a saved mapping adds to an object already in the database, with the rows
/// they will be filled in (see [`crate::engine::backfill`]); `None` when nothing is added,
/// the object is new (its first load reads every field) or its mapping does not pull.
async fn backfill_plan(
    target: &crate::targetdb::AnyTarget,
    old: &[ObjectMapping],
    resolved: &ObjectMapping,
    mapping: &Mapping,
) -> Option<(Vec<String>, u64)> {
    let before = old
        .iter()
        .find(|m| m.object.eq_ignore_ascii_case(&resolved.object))?;
    if !mapping.direction.pulls() {
        return None;
    }
    let fields = crate::engine::backfill::added_fields(before, resolved);
    if fields.is_empty() {
        return None;
    }
    let rows = match target.row_count(before).await {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!("cannot count the rows to fill: {e}");
            0
        }
    };
    (rows > 0).then_some((fields, rows))
}

/// A fill still pending for fields the saved mapping no longer has, or for a mapping that
/// no longer pulls, is forgotten.
async fn forget_pointless_backfill(
    state: &State,
    org: &str,
    resolved: &ObjectMapping,
    direction: Direction,
) -> Result<(), DaemonError> {
    let Some(pending) = state
        .store
        .backfill(org, &resolved.object)
        .await
        .map_err(store_error)?
    else {
        return Ok(());
    };
    let mapped = pending.fields.iter().any(|f| {
        resolved
            .fields
            .iter()
            .any(|m| m.name.eq_ignore_ascii_case(f))
    });
    if !mapped || !direction.pulls() {
        state
            .store
            .finish_backfill(org, &resolved.object)
            .await
            .map_err(store_error)?;
    }
    Ok(())
}

/// A plan's view with the backfill it leads to as a step of its own (no DDL).
fn with_backfill(
    mut view: PlanView,
    backfill: &Option<(Vec<String>, u64)>,
    state: &State,
) -> PlanView {
    if let Some((fields, rows)) = backfill {
        view.steps.push(PlanStepView {
            description: crate::engine::backfill::describe(
                fields,
                *rows,
                state.engine.config.bulk_threshold,
            ),
            destructive: None,
            sql: Vec::new(),
        });
    }
    view
}

/// `mapping_remove`: drops the object's tables (after confirmation) and forgets the mapping.
pub async fn remove(state: &State, req: RemoveMapping) -> Result<PlanView, DaemonError> {
    let old: Vec<ObjectMapping> = stored(state, &req.org)
        .await?
        .into_iter()
        .map(|m| m.resolved)
        .collect();
    if !old
        .iter()
        .any(|m| m.object.eq_ignore_ascii_case(&req.object))
    {
        return Err(DaemonError::not_found(format!(
            "{} is not mapped in org {}",
            req.object, req.org
        )));
    }
    let new: Vec<ObjectMapping> = old
        .iter()
        .filter(|m| !m.object.eq_ignore_ascii_case(&req.object))
        .cloned()
        .collect();
    let target = crate::datasource::admin_target(state, &req.org).await?;
    let plan = target
        .plan(&old, &new)
        .map_err(|e| DaemonError::rejected(e.to_string()))?;
    if !req.apply {
        return Ok(view(&plan, false));
    }
    if plan.is_destructive() && !req.confirm_destructive {
        return Err(DaemonError::rejected(
            "removing a mapping drops its data and events tables: confirm it to go ahead, after a backup if the data matters",
        ));
    }
    target
        .apply(&plan)
        .await
        .map_err(|e| DaemonError::rejected(format!("the DDL failed: {e}")))?;
    state
        .store
        .delete_mapping(&req.org, &req.object)
        .await
        .map_err(store_error)?;
    state
        .store
        .finish_backfill(&req.org, &req.object)
        .await
        .map_err(store_error)?;
    state
        .store
        .clear_removed_fields(&req.org, &req.object)
        .await
        .map_err(store_error)?;
    state
        .store
        .finish_reload(&req.org, &req.object)
        .await
        .map_err(store_error)?;
    state
        .store
        .forget_detached(&req.org, &req.object, None)
        .await
        .map_err(store_error)?;
    state.engine.wake(&req.org);
    Ok(view(&plan, true))
}

/// The mappings file: `[[mapping]]` tables in TOML.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingFile {
    #[serde(default)]
    mapping: Vec<Mapping>,
}

/// `mapping_export`: every mapping of the org as TOML.
/// The org must exist: an unknown name is said so, not answered with an empty list.
async fn known_org(state: &State, org: &str) -> Result<(), DaemonError> {
    if state
        .store
        .org_exists(org)
        .await
        .map_err(crate::error::store_error)?
    {
        Ok(())
    } else {
        Err(crate::error::DaemonError::no_org(org))
    }
}

pub async fn export(state: &State, org: &str) -> Result<String, DaemonError> {
    known_org(state, org).await?;
    let file = MappingFile {
        mapping: list(state, org).await?,
    };
    let body = toml::to_string_pretty(&file).map_err(|e| DaemonError::internal(e.to_string()))?;
    Ok(format!(
        "# Datenator mappings of org {org}, exported {}.\n# Import with: datenator-tui mappings import {org} FILE [--apply]\n\n{body}",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    ))
}

/// A typo in a reviewed file must be named, not ignored: every key of every `[[mapping]]`
/// must be one `Mapping` knows.
fn check_keys(text: &str) -> Result<(), DaemonError> {
    const KNOWN: [&str; 5] = [
        "object",
        "fields",
        "direction",
        "conflict_policy",
        "row_filter",
    ];
    let Ok(doc) = text.parse::<toml::Table>() else {
        return Ok(());
    }; // the parse below explains
    let entries = doc
        .get("mapping")
        .and_then(toml::Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, entry) in entries.iter().enumerate() {
        for key in entry
            .as_table()
            .map(|t| t.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            if !KNOWN.contains(&key.as_str()) {
                return Err(DaemonError::rejected(format!(
                    "the mappings file is not valid: mapping {} has an unknown key `{key}` (known: {})",
                    i + 1,
                    KNOWN.join(", ")
                )));
            }
        }
    }
    Ok(())
}

/// `mapping_import`: plans (and with `apply`, applies) every mapping in the file.
pub async fn import(
    state: &State,
    req: datenator_shared::protocol::ImportMappings,
) -> Result<Vec<PlanView>, DaemonError> {
    known_org(state, &req.org).await?;
    check_keys(&req.text)?;
    let file: MappingFile = toml::from_str(&req.text).map_err(|e| {
        DaemonError::rejected(format!(
            "the mappings file is not valid: {}",
            e.to_string().trim_end().replace('\n', " ")
        ))
    })?;
    if file.mapping.is_empty() {
        return Err(DaemonError::rejected(
            "the mappings file has no [[mapping]] entry",
        ));
    }
    let mut plans = Vec::new();
    for mapping in file.mapping {
        let object = mapping.object.clone();
        let plan = save(
            state,
            SaveMapping {
                org: req.org.clone(),
                mapping,
                apply: req.apply,
                confirm_destructive: req.confirm_destructive,
                send_queued: false,
                leaving_rows: Default::default(),
            },
        )
        .await
        .map_err(|e| DaemonError::new(e.kind, format!("{object}: {}", e.message)))?;
        plans.push(plan);
    }
    Ok(plans)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_filters_error_reads_in_the_filters_terms() {
        let prefix = "SELECT Id FROM Account WHERE (".chars().count();
        let raw = "MALFORMED_QUERY: Id FROM Account WHERE (Industry = ) LIMIT 1\n                                      ^\nERROR at Row:1:Column:41\nunexpected token: ')'";
        assert_eq!(
            filter_error(raw, prefix),
            "MALFORMED_QUERY: at character 11 of the filter: unexpected token: ')'"
        );
        assert_eq!(
            filter_error("INVALID_FIELD: No such column 'Nope'", prefix),
            "INVALID_FIELD: No such column 'Nope'"
        );
    }

    fn field(name: &str, t: &str, required: bool) -> FieldInfo {
        FieldInfo {
            name: name.into(),
            label: name.into(),
            field_type: t.into(),
            length: Some(80),
            precision: None,
            scale: None,
            nillable: !required,
            createable: true,
            updateable: true,
            defaulted_on_create: false,
            external_id: false,
            custom: false,
            calculated: false,
            reference_to: vec![],
        }
    }

    #[test]
    fn mandatory_fields_are_always_in_and_unknown_ones_are_refused() {
        let fields = vec![
            field("Id", "id", false),
            field("Name", "string", true),
            field("Industry", "picklist", false),
            field("Phone", "phone", false),
            field("SystemModstamp", "datetime", false),
            field("BillingAddress", "address", false),
        ];
        let m = Mapping {
            object: "Account".into(),
            fields: vec!["Phone".into()],
            direction: Direction::Bidirectional,
            conflict_policy: datenator_shared::model::ConflictPolicy::NewestWins,
            row_filter: None,
        };
        let r = resolve(&m, &fields).unwrap();
        let names: Vec<_> = r.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, vec!["Id", "Name", "Phone", "SystemModstamp"]);
        let bad = Mapping {
            fields: vec!["Nope__c".into()],
            ..m.clone()
        };
        assert!(
            resolve(&bad, &fields)
                .unwrap_err()
                .message
                .contains("Nope__c")
        );
        let compound = Mapping {
            fields: vec!["BillingAddress".into()],
            ..m
        };
        assert!(
            resolve(&compound, &fields)
                .unwrap_err()
                .message
                .contains("component fields")
        );
    }

    #[test]
    fn names_the_engine_cannot_use_are_refused_at_the_door() {
        let mut fields = vec![
            field("Id", "id", false),
            field("SystemModstamp", "datetime", false),
            field("Ok__c", "string", false),
        ];
        let m = Mapping {
            object: "Evil\"Quote__c".into(),
            fields: vec![],
            direction: Direction::Bidirectional,
            conflict_policy: datenator_shared::model::ConflictPolicy::NewestWins,
            row_filter: None,
        };
        let err = resolve(&m, &fields).unwrap_err();
        assert_eq!(err.kind, crate::error::ErrorKind::Rejected);
        assert!(err.message.contains("cannot be synced"), "{}", err.message);
        let newline = Mapping {
            object: "A\nB".into(),
            ..m.clone()
        };
        let err = resolve(&newline, &fields).unwrap_err();
        assert!(!err.message.contains('\n'), "{}", err.message);
        // A field the engine could not query, mandatory or chosen, is refused too.
        fields.push(field("Bad Name__c", "string", true));
        let good_object = Mapping {
            object: "Thing__c".into(),
            ..m
        };
        let err = resolve(&good_object, &fields).unwrap_err();
        assert!(err.message.contains("Bad Name__c"), "{}", err.message);
        fields.pop();
        assert!(resolve(&good_object, &fields).is_ok());
    }
}
