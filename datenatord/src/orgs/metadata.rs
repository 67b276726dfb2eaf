//! Downloading an org's metadata: describeGlobal, then the describe of every object a user
//! may map, 25 per composite request, cached in the state store.
use std::collections::BTreeMap;

use crate::error::DaemonError;
use chrono::Utc;
use datenator_shared::model::{FieldInfo, MetadataReport, ObjectInfo};
use serde_json::Value;

use super::salesforce_error;
use crate::error::store_error;
use crate::salesforce::Api;
use crate::salesforce::rest::{COMPOSITE_MAX, SubRequest};
use crate::state::State;
use crate::store::CachedObject;

/// Why an object describeGlobal lists cannot be synced, or `None` when it can be: the
/// engine reads records with SOQL (queryable), by id (retrieveable) and finds deletions in
/// the deleted log (replicateable: getUpdated/getDeleted). A real org lists hundreds of
/// objects; most are the history, share, feed and event objects of the others.
pub fn left_out_reason(global: &Value) -> Option<&'static str> {
    let flag = |k: &str| global.get(k).and_then(Value::as_bool).unwrap_or(false);
    let name = global.get("name").and_then(Value::as_str).unwrap_or("");
    let associated = global
        .get("associateEntityType")
        .is_some_and(|v| !v.is_null());
    let derived = ["History", "Share", "Feed", "ChangeEvent", "__Tag", "__hd"];
    if associated || derived.iter().any(|n| name.ends_with(n)) {
        return Some("history, share, feed or change-event object");
    }
    for (suffix, kind) in [
        ("__e", "platform event"),
        ("__b", "big object"),
        ("__x", "external object"),
        ("__mdt", "custom metadata type"),
    ] {
        if name.ends_with(suffix) {
            return Some(kind);
        }
    }
    if !flag("queryable") {
        return Some("not queryable");
    }
    if !flag("retrieveable") {
        return Some("not retrievable");
    }
    if !flag("replicateable") {
        return Some("not replicateable (no deleted log)");
    }
    None
}

/// Objects worth offering for mapping: those [`left_out_reason`] finds nothing against.
pub fn mappable(global: &Value) -> bool {
    left_out_reason(global).is_none()
}

/// `metadata_download`: fetches the object list and describes, reports what changed.
pub async fn download(state: &State, org: &str) -> Result<MetadataReport, DaemonError> {
    let api = state.orgs_runtime.api(state, org).await?;
    let calls_before = api.usage().calls();
    let fetched = fetch(&api).await;
    let (objects, listed, left_out) = match fetched {
        Ok(o) => o,
        Err(e) => return Err(salesforce_error(state, org, e).await),
    };
    let old: BTreeMap<String, CachedObject> = state
        .store
        .metadata(org)
        .await
        .map_err(store_error)?
        .into_iter()
        .map(|o| (o.name.clone(), o))
        .collect();
    let new: BTreeMap<String, &CachedObject> =
        objects.iter().map(|o| (o.name.clone(), o)).collect();
    let added = new
        .keys()
        .filter(|k| !old.contains_key(*k))
        .cloned()
        .collect();
    let removed = old
        .keys()
        .filter(|k| !new.contains_key(*k))
        .cloned()
        .collect();
    let changed = new
        .iter()
        .filter(|(k, o)| old.get(*k).is_some_and(|prev| prev.describe != o.describe))
        .map(|(k, _)| k.clone())
        .collect();
    let at = Utc::now();
    state
        .store
        .replace_metadata(org, &objects, at)
        .await
        .map_err(store_error)?;
    state.refresh_orgs().await.map_err(store_error)?;
    let report = MetadataReport {
        listed,
        left_out,
        objects: objects.len(),
        described: objects.iter().filter(|o| o.describe.is_some()).count(),
        added,
        removed,
        changed,
        api_calls: api.usage().calls() - calls_before,
        downloaded_at: at,
    };
    tracing::info!(org = %org, listed = report.listed, objects = report.objects, calls = report.api_calls, "metadata downloaded");
    Ok(report)
}

/// What describeGlobal listed: the syncable objects with their describes (one
/// describeGlobal, then one composite call per 25 objects), how many were listed, and how
/// many were left out for each reason.
type Fetched = (Vec<CachedObject>, usize, BTreeMap<String, usize>);

async fn fetch(api: &Api) -> Result<Fetched, crate::salesforce::SalesforceError> {
    let global = api.describe_global(None).await?.unwrap_or(Value::Null);
    let all = global
        .get("sobjects")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let listed = all.len();
    let mut left_out: BTreeMap<String, usize> = BTreeMap::new();
    let mut sobjects = Vec::with_capacity(all.len());
    for o in all {
        match left_out_reason(&o) {
            Some(reason) => *left_out.entry(reason.to_owned()).or_default() += 1,
            None => sobjects.push(o),
        }
    }
    let mut out = Vec::with_capacity(sobjects.len());
    for chunk in sobjects.chunks(COMPOSITE_MAX) {
        let requests = chunk
            .iter()
            .enumerate()
            .map(|(i, o)| SubRequest {
                method: "GET".into(),
                url: Api::data_path(&format!(
                    "/sobjects/{}/describe",
                    o["name"].as_str().unwrap_or_default()
                )),
                reference_id: format!("d{i}"),
                body: None,
            })
            .collect();
        let answers = api.composite(requests, false).await?;
        for (o, answer) in chunk.iter().zip(answers) {
            let describe = (answer.http_status_code == 200).then_some(answer.body);
            if describe.is_none() {
                tracing::warn!(object = %o["name"], status = answer.http_status_code, "describe failed; object listed without fields");
            }
            out.push(CachedObject {
                name: o["name"].as_str().unwrap_or_default().to_owned(),
                label: o["label"].as_str().unwrap_or_default().to_owned(),
                global: o.clone(),
                describe,
            });
        }
    }
    Ok((out, listed, left_out))
}

/// `metadata_objects`: the cached object list.
pub async fn objects(state: &State, org: &str) -> Result<Vec<ObjectInfo>, DaemonError> {
    if !state.store.org_exists(org).await.map_err(store_error)? {
        return Err(crate::error::DaemonError::no_org(org));
    }
    let flag = |v: &Value, k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
    Ok(state
        .store
        .metadata_summary(org)
        .await
        .map_err(store_error)?
        .into_iter()
        .map(|o| ObjectInfo {
            custom: flag(&o.global, "custom"),
            createable: flag(&o.global, "createable"),
            updateable: flag(&o.global, "updateable"),
            deletable: flag(&o.global, "deletable"),
            fields: o.fields,
            name: o.name,
            label: o.label,
        })
        .collect())
}

/// Reads one field of a describe.
pub fn field_info(f: &Value) -> FieldInfo {
    let s = |k: &str| {
        f.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let b = |k: &str| f.get(k).and_then(Value::as_bool).unwrap_or(false);
    let n = |k: &str| f.get(k).and_then(Value::as_u64).map(|v| v as u32);
    FieldInfo {
        name: s("name"),
        label: s("label"),
        field_type: s("type"),
        length: n("length"),
        precision: n("precision"),
        scale: n("scale"),
        nillable: b("nillable"),
        createable: b("createable"),
        updateable: b("updateable"),
        defaulted_on_create: b("defaultedOnCreate"),
        external_id: b("externalId"),
        custom: b("custom"),
        calculated: b("calculated"),
        reference_to: f
            .get("referenceTo")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// `metadata_fields`: one object's cached fields.
pub async fn fields(state: &State, org: &str, object: &str) -> Result<Vec<FieldInfo>, DaemonError> {
    let o = state.store.metadata_object(org, object).await.map_err(store_error)?.ok_or_else(|| {
        DaemonError::not_found(format!("{object} is not in the metadata of org {org}: download or update the metadata first"),
        )
    })?;
    let describe = o.describe.ok_or_else(|| {
        DaemonError::not_found(format!(
            "{object} has not been described: update the metadata"
        ))
    })?;
    Ok(describe
        .get("fields")
        .and_then(Value::as_array)
        .map(|f| f.iter().map(field_info).collect())
        .unwrap_or_default())
}

/// Compares one mapped object's fresh describe with the cached one.
pub fn drift(
    mapping: &datenator_shared::model::Mapping,
    cached: &[FieldInfo],
    fresh: Option<&[FieldInfo]>,
    inaccessible: Option<String>,
) -> datenator_shared::model::MappingDrift {
    use datenator_shared::model::{Drift, MappingDrift};
    let object = mapping.object.clone();
    let Some(fresh) = fresh else {
        let reason = inaccessible.unwrap_or_else(|| "the object could not be described".into());
        return MappingDrift {
            object,
            drift: vec![Drift::ObjectInaccessible { reason }],
            can_continue: false,
            advice: "check the integration user's access to the object, or remove the mapping"
                .into(),
        };
    };
    let shape = |f: &FieldInfo| {
        let size = match (f.length, f.precision, f.scale) {
            (_, Some(p), Some(s)) if p > 0 => format!("({p},{s})"),
            (Some(l), _, _) if l > 0 => format!("({l})"),
            _ => String::new(),
        };
        format!("{}{size}", f.field_type)
    };
    let mut found = Vec::new();
    let mut blocking = false;
    for name in &mapping.fields {
        let now = fresh.iter().find(|f| f.name.eq_ignore_ascii_case(name));
        let was = cached.iter().find(|f| f.name.eq_ignore_ascii_case(name));
        match (was, now) {
            // Sync leaves a field gone from Salesforce out and keeps its column and values
            // (`engine::drift`): the rest of the object goes on.
            (_, None) => found.push(Drift::FieldRemoved {
                field: name.clone(),
            }),
            (Some(w), Some(n)) if shape(w) != shape(n) => {
                found.push(Drift::FieldChanged {
                    field: name.clone(),
                    was: shape(w),
                    now: shape(n),
                });
                blocking |= w.field_type != n.field_type;
            }
            _ => {}
        }
    }
    for f in fresh.iter().filter(|f| f.required()) {
        let mapped = mapping
            .fields
            .iter()
            .any(|n| n.eq_ignore_ascii_case(&f.name));
        let was_required = cached.iter().any(|c| c.name == f.name && c.required());
        if !mapped && !was_required {
            found.push(Drift::NewRequiredField {
                field: f.name.clone(),
            });
            blocking |= mapping.direction.pushes();
        }
    }
    let advice = if found.is_empty() {
        "no drift".into()
    } else if blocking {
        "update the metadata and save the mapping again (the plan shows what changes in the database)".into()
    } else {
        "sync continues; update the metadata and the mapping when convenient".into()
    };
    MappingDrift {
        object,
        can_continue: !blocking,
        drift: found,
        advice,
    }
}

/// `schema_check`: describes every mapped object again (composite, 25 per call) and
/// reports per mapping what drifted from the cached metadata and whether sync can continue.
pub async fn schema_check(
    state: &State,
    org: &str,
) -> Result<Vec<datenator_shared::model::MappingDrift>, DaemonError> {
    let mappings = crate::mappings::stored(state, org).await?;
    let api = state.orgs_runtime.api(state, org).await?;
    let mut out = Vec::new();
    for chunk in mappings.chunks(COMPOSITE_MAX) {
        let requests = chunk
            .iter()
            .enumerate()
            .map(|(i, m)| SubRequest {
                method: "GET".into(),
                url: Api::data_path(&format!("/sobjects/{}/describe", m.mapping.object)),
                reference_id: format!("d{i}"),
                body: None,
            })
            .collect();
        let answers = match api.composite(requests, false).await {
            Ok(a) => a,
            Err(e) => return Err(salesforce_error(state, org, e).await),
        };
        for (m, a) in chunk.iter().zip(answers) {
            let cached = fields(state, org, &m.mapping.object)
                .await
                .unwrap_or_default();
            if a.http_status_code == 200 {
                let fresh: Vec<FieldInfo> = a
                    .body
                    .get("fields")
                    .and_then(Value::as_array)
                    .map(|f| f.iter().map(field_info).collect())
                    .unwrap_or_default();
                out.push(drift(&m.mapping, &cached, Some(&fresh), None));
            } else {
                out.push(drift(
                    &m.mapping,
                    &cached,
                    None,
                    Some(format!(
                        "Salesforce answered {}: {}",
                        a.http_status_code, a.body
                    )),
                ));
            }
        }
    }
    Ok(out)
}
