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
//!
//! A mapped field whose type or size changed is checked against its column
//! ([`type_changes`]): a change whose every value the column still holds (a longer text into
//! an unbounded column, an int into a bigint) keeps syncing silently; one that does not is
//! named on the object's status (`type_changes`), with what to do. The check reads the
//! object's describe (one call) once per deleted-check period, and soon after the database
//! refused a pulled record — the usual sign of such a change.
use std::collections::{HashMap, HashSet};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use datenator_shared::model::ObjectState;

use super::worker::{Ctx, StepError};
use crate::mappings::StoredMapping;
use crate::salesforce::SalesforceError;
use crate::state::State;
use crate::targetdb::{Dialect, FieldSpec, Target};

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
        if let Some(filter) = m.mapping.row_filter.as_deref() {
            // Not a mapped field: the row filter names one Salesforce no longer has.
            let unknown: Vec<String> = filter_names(filter)
                .into_iter()
                .filter(|n| !known.iter().any(|k| k.eq_ignore_ascii_case(n)))
                .collect();
            if !unknown.is_empty() {
                return Err(StepError::Daemon(crate::error::DaemonError::rejected(
                    format!(
                        "the row filter names {}, which Salesforce no longer has (deleted, or hidden from the integration user): edit the row filter in the mapping; the object does not sync until then",
                        unknown.join(", ")
                    ),
                )));
            }
        }
        return Err(e);
    }
    ctx.state
        .store
        .mark_fields_removed(ctx.org, object, &gone)
        .await
        .map_err(|se| StepError::Daemon(crate::error::store_error(se)))?;
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

/// The field names a row filter's condition uses (outside quoted strings), without SOQL's
/// keywords, date literals and relationship paths.
fn filter_names(filter: &str) -> Vec<String> {
    const KEYWORDS: [&str; 12] = [
        "AND", "OR", "NOT", "IN", "LIKE", "INCLUDES", "EXCLUDES", "NULL", "TRUE", "FALSE", "WITH",
        "SELECT",
    ];
    let mut names = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in filter.chars().chain(std::iter::once(' ')) {
        if quoted {
            match (escaped, c) {
                (false, '\\') => escaped = true,
                (false, '\'') => quoted = false,
                _ => escaped = false,
            }
            continue;
        }
        if c.is_alphanumeric() || c == '_' || c == '.' || c == ':' {
            word.push(c);
            continue;
        }
        let w = std::mem::take(&mut word);
        if c == '\'' {
            quoted = true;
        }
        let starts_like_a_name = w.chars().next().is_some_and(|f| f.is_alphabetic());
        let literal = w.contains(':')
            || w.contains('.')
            || w.chars()
                .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit());
        if starts_like_a_name
            && !literal
            && !KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(&w))
            && !names.contains(&w)
        {
            names.push(w);
        }
    }
    names
}

/// How soon after a refused record the types are checked (and no more often).
const AFTER_REFUSAL: Duration = Duration::from_secs(60);

/// Objects (org, object) whose pulled records the database refused since their last check.
static REFUSED: LazyLock<Mutex<HashSet<(String, String)>>> = LazyLock::new(Default::default);

/// The database refused pulled records of `object`: its types are checked soon.
pub fn records_refused(org: &str, object: &str) {
    if let Ok(mut r) = REFUSED.lock() {
        r.insert((org.to_owned(), object.to_owned()));
    }
}

/// When each object's types are next checked.
#[derive(Default)]
pub struct TypeChecks {
    next: HashMap<String, Instant>,
}

impl TypeChecks {
    /// Whether `object`'s check is due: one `every` after the worker first saw it (the
    /// start costs nothing), or [`AFTER_REFUSAL`] after its records were refused.
    pub fn due(&mut self, org: &str, object: &str, every: Duration) -> bool {
        let now = Instant::now();
        let next = self.next.entry(object.to_owned()).or_insert(now + every);
        let refused = REFUSED
            .lock()
            .map(|r| r.contains(&(org.to_owned(), object.to_owned())))
            .unwrap_or(false);
        if refused && *next > now + AFTER_REFUSAL {
            *next = now + AFTER_REFUSAL;
        }
        now >= *next
    }

    /// The check ran (or failed): the next one is `every` later.
    pub fn done(&mut self, org: &str, object: &str, every: Duration) {
        self.next.insert(object.to_owned(), Instant::now() + every);
        if let Ok(mut r) = REFUSED.lock() {
            r.remove(&(org.to_owned(), object.to_owned()));
        }
    }
}

/// Why a value of Salesforce's type `now` may not fit the column made for `was`, or `None`
/// when every value fits (SQLite's declared lengths bind nothing).
pub fn misfit(dialect: Dialect, was: &FieldSpec, now: &FieldSpec) -> Option<String> {
    if was == now {
        return None;
    }
    let same_kind = crate::targetdb::types::narrowing_reason(was, now).is_none()
        && crate::targetdb::types::narrowing_reason(now, was).is_none();
    if dialect == Dialect::Sqlite && (was.sf_type == now.sf_type || same_kind) {
        return None;
    }
    crate::targetdb::types::narrowing_reason(now, was)?;
    Some(format!(
        "{}: Salesforce now says {} where its column was made for {}; values that do not fit are refused — update the metadata and save the mapping again (the plan changes the column)",
        now.name,
        shape(now),
        shape(was)
    ))
}

fn shape(f: &FieldSpec) -> String {
    let t = serde_json::to_value(f.sf_type)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    match (f.length, f.precision, f.scale) {
        (_, Some(p), Some(s)) if p > 0 => format!("{t}({p},{s})"),
        (Some(l), _, _) if l > 0 => format!("{t}({l})"),
        _ => t,
    }
}

/// Mapped fields marked removed that Salesforce lists again (undeleted, or visible to the
/// integration user again) sync again: their marks go, and the object is re-read so the
/// values changed while they were gone reach the rows (see `reload`).
async fn fields_back(
    ctx: &Ctx<'_>,
    m: &StoredMapping,
    fresh: &[FieldSpec],
) -> Result<(), StepError> {
    let object = &m.mapping.object;
    let store_err = |e| StepError::Daemon(crate::error::store_error(e));
    let back: Vec<String> = ctx
        .state
        .store
        .removed_fields(ctx.org)
        .await
        .map_err(store_err)?
        .into_iter()
        .filter(|(o, f)| {
            o.eq_ignore_ascii_case(object) && fresh.iter().any(|x| x.name.eq_ignore_ascii_case(f))
        })
        .map(|(_, f)| f)
        .collect();
    if back.is_empty() {
        return Ok(());
    }
    ctx.state
        .store
        .add_reload(
            ctx.org,
            object,
            datenator_shared::protocol::LeavingRows::Detach,
            m.mapping.row_filter.as_deref(),
        )
        .await
        .map_err(store_err)?;
    ctx.state
        .store
        .unmark_fields_removed(ctx.org, object, &back)
        .await
        .map_err(store_err)?;
    tracing::info!(
        %object,
        fields = %back.join(", "),
        "fields back in Salesforce: synced again, and the object is re-read for the values changed while they were gone"
    );
    ctx.state.engine.wake(ctx.org);
    Ok(())
}

/// Reads `object`'s describe and puts on its status the mapped fields whose new type or
/// size their column does not hold.
pub async fn type_changes(ctx: &Ctx<'_>, m: &StoredMapping) -> Result<(), StepError> {
    let object = &m.mapping.object;
    let Some(described) = ctx.api.describe(object, None).await? else {
        return Ok(());
    };
    let dialect = ctx.target.dialect();
    let fresh: Vec<FieldSpec> = described["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(crate::orgs::metadata::field_info)
        .filter_map(|f| crate::mappings::field_spec(&f))
        .collect();
    fields_back(ctx, m, &fresh).await?;
    let found: Vec<String> = m
        .resolved
        .data_fields()
        .filter_map(|was| {
            let now = fresh
                .iter()
                .find(|f| f.name.eq_ignore_ascii_case(&was.name))?;
            misfit(dialect, was, now)
        })
        .collect();
    let status = ctx.state.engine.status();
    let shown = status
        .get(ctx.org, object)
        .map(|s| s.type_changes)
        .unwrap_or_default();
    if shown != found {
        for f in found.iter().filter(|f| !shown.contains(f)) {
            tracing::warn!(%object, "field type changed in Salesforce: {f}");
        }
        status.update(ctx.org, object, m.mapping.direction, |s| {
            s.type_changes = found
        });
    }
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

#[cfg(test)]
mod type_tests {
    use super::*;

    #[test]
    fn a_filters_field_names_are_found_outside_its_strings() {
        assert_eq!(
            filter_names(
                "Industry = 'Banking AND Region__c' AND Rating__c IN ('Hot') AND CreatedDate = LAST_N_DAYS:30 AND Owner.Name != null"
            ),
            vec![
                "Industry".to_owned(),
                "Rating__c".to_owned(),
                "CreatedDate".to_owned()
            ]
        );
    }
    use crate::targetdb::SfType;

    fn text(len: u32) -> FieldSpec {
        FieldSpec::new("Code__c", SfType::String).with_length(len)
    }

    #[test]
    fn a_change_the_column_holds_keeps_syncing_silently() {
        assert_eq!(misfit(Dialect::Postgres, &text(80), &text(40)), None);
        assert_eq!(
            misfit(
                Dialect::Postgres,
                &FieldSpec::new("N__c", SfType::Long),
                &FieldSpec::new("N__c", SfType::Int)
            ),
            None
        );
        assert_eq!(
            misfit(
                Dialect::Mysql,
                &FieldSpec::new("P__c", SfType::Picklist).with_length(255),
                &FieldSpec::new("P__c", SfType::String).with_length(255)
            ),
            None
        );
        // SQLite's lengths are documentation.
        assert_eq!(misfit(Dialect::Sqlite, &text(80), &text(255)), None);
    }

    #[test]
    fn a_change_the_column_cannot_hold_is_named() {
        let why = misfit(Dialect::Postgres, &text(80), &text(255)).unwrap();
        assert!(
            why.starts_with(
                "Code__c: Salesforce now says string(255) where its column was made for string(80)"
            ),
            "{why}"
        );
        assert!(why.contains("save the mapping again"));
        let why = misfit(
            Dialect::Sqlite,
            &FieldSpec::new("N__c", SfType::Int),
            &FieldSpec::new("N__c", SfType::Double).with_precision(18, 2),
        );
        assert!(why.is_some(), "decimals into an integer column");
        assert!(
            misfit(
                Dialect::Mysql,
                &FieldSpec::new("D__c", SfType::Date),
                &text(20)
            )
            .is_some()
        );
    }
}
