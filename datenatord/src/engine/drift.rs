//! Drift without loss: a mapped field deleted in Salesforce, or no longer visible to the
//! integration user, must not stop its object's sync.
//!
//! When Salesforce refuses one of an object's steps with `INVALID_FIELD`, the object is
//! described (one call); mapped fields it no longer lists are marked removed in the state
//! store (`removed_fields`). From then on the worker's mappings leave them out
//! ([`without_removed`]): no query reads them and no write touches their columns, so the
//! values already in the database stay as they were. The object's status names them
//! (`removed_fields`, "… removed in Salesforce" on the dashboard) until the user saves or
//! removes the mapping.
use datenator_shared::model::ObjectState;

use super::worker::{Ctx, StepError};
use crate::mappings::StoredMapping;
use crate::salesforce::SalesforceError;
use crate::state::State;

/// The org's mappings as the engine syncs them: without the fields marked removed in
/// Salesforce. Shows each object's removed fields on its status.
pub async fn without_removed(
    state: &State,
    org: &str,
    mut mappings: Vec<StoredMapping>,
) -> Vec<StoredMapping> {
    let removed = match state.store.removed_fields(org).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(
                "cannot read the fields removed in Salesforce (read again next tick): {e}"
            );
            return mappings;
        }
    };
    for m in &mut mappings {
        let gone: Vec<String> = removed
            .iter()
            .filter(|(o, _)| o.eq_ignore_ascii_case(&m.mapping.object))
            .map(|(_, f)| f.clone())
            .collect();
        let is_gone = |name: &str| {
            !name.eq_ignore_ascii_case("Id")
                && !name.eq_ignore_ascii_case("SystemModstamp")
                && gone.iter().any(|g| g.eq_ignore_ascii_case(name))
        };
        m.resolved.fields.retain(|f| !is_gone(&f.name));
        m.mapping.fields.retain(|f| !is_gone(f));
        let status = state.engine.status();
        let shown = status
            .get(org, &m.mapping.object)
            .map(|s| s.removed_fields)
            .unwrap_or_default();
        if shown != gone {
            status.update(org, &m.mapping.object, m.mapping.direction, |s| {
                s.removed_fields = gone
            });
        }
    }
    mappings
}

/// Whether Salesforce refused a request because of a field it does not know (or no longer
/// shows this user).
fn is_invalid_field(e: &StepError) -> bool {
    matches!(
        e,
        StepError::Salesforce(SalesforceError::Api { errors, .. })
            if errors.iter().any(|x| x.error_code == "INVALID_FIELD")
    )
}

/// An object's step that failed with `INVALID_FIELD`: the mapped fields Salesforce no
/// longer lists are marked removed, and the step counts as done (the next tick syncs the
/// rest of the object). Any other outcome is returned as it is.
pub async fn absorb(
    ctx: &Ctx<'_>,
    m: &StoredMapping,
    result: Result<(), StepError>,
) -> Result<(), StepError> {
    let Err(e) = result else {
        return Ok(());
    };
    if !is_invalid_field(&e) {
        return Err(e);
    }
    let object = &m.mapping.object;
    let described = match ctx.api.describe(object, None).await {
        Ok(Some(d)) => d,
        Ok(None) => return Err(e),
        Err(de) => {
            tracing::warn!(%object, "cannot describe the object to find which field Salesforce refused: {de}");
            return Err(e);
        }
    };
    let known: Vec<&str> = described["fields"]
        .as_array()
        .map(|fs| fs.iter().filter_map(|f| f["name"].as_str()).collect())
        .unwrap_or_default();
    let gone: Vec<String> = m
        .resolved
        .data_fields()
        .filter(|f| !known.iter().any(|k| k.eq_ignore_ascii_case(&f.name)))
        .map(|f| f.name.clone())
        .collect();
    if gone.is_empty() {
        return Err(e);
    }
    ctx.state
        .store
        .mark_fields_removed(ctx.org, object, &gone)
        .await
        .map_err(|se| StepError::Daemon(crate::orgs::store_error(se)))?;
    tracing::warn!(
        %object,
        fields = %gone.join(", "),
        "fields removed in Salesforce (deleted, or no longer visible to this user): no longer synced; their columns and values are kept until the mapping is changed"
    );
    ctx.state
        .engine
        .status()
        .update(ctx.org, object, m.mapping.direction, |s| {
            for g in &gone {
                if !s.removed_fields.contains(g) {
                    s.removed_fields.push(g.clone());
                }
            }
            if s.state == ObjectState::Error {
                s.state = ObjectState::Synced;
            }
            s.last_error = None;
        });
    // The rest of the object syncs at once, not a poll later.
    ctx.state.engine.wake(ctx.org);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::salesforce::error::ApiError;

    #[test]
    fn only_invalid_field_is_drift() {
        let api = |code: &str| {
            StepError::Salesforce(SalesforceError::Api {
                status: 400,
                errors: vec![ApiError {
                    error_code: code.into(),
                    message: "x".into(),
                    fields: vec![],
                }],
            })
        };
        assert!(is_invalid_field(&api("INVALID_FIELD")));
        assert!(!is_invalid_field(&api("MALFORMED_QUERY")));
        assert!(!is_invalid_field(&StepError::Salesforce(
            SalesforceError::Transient("503".into())
        )));
    }
}
