//! A changed row filter: what it does to the rows already in the database, planned in words
//! and carried out by a re-read (see [`crate::engine::reload`]).
//!
//! Rows whose record no longer matches the new filter are kept detached (the default: never
//! refreshed, never sent) or deleted from the database (the user's choice, confirmed as
//! destructive); their Salesforce records are never touched. Records that match the new
//! filter but did not match the old one are loaded by the re-read's first load.
use crate::error::DaemonError;
use datenator_shared::model::{Mapping, PlanStepView, PlanView};
use datenator_shared::protocol::LeavingRows;

use crate::state::State;

/// What a filter change does, counted when planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterChange {
    /// Records in the old filter (or all, without one) that the new one leaves out.
    pub leaving: u64,
    /// Records within the new filter: what the re-read reads.
    pub within: u64,
    pub leaving_rows: LeavingRows,
}

fn normalized(filter: &Option<String>) -> Option<&str> {
    filter.as_deref().map(str::trim).filter(|f| !f.is_empty())
}

/// The filter change between the stored mapping `before` and the saved `after`, counted in
/// Salesforce (two `COUNT()` queries); `None` when the filter does not change or the
/// mapping does not pull (before and after).
pub async fn plan(
    state: &State,
    org: &str,
    before: Option<&Mapping>,
    after: &Mapping,
    leaving_rows: LeavingRows,
) -> Result<Option<FilterChange>, DaemonError> {
    let Some(before) = before else {
        return Ok(None);
    };
    let (old, new) = (
        normalized(&before.row_filter),
        normalized(&after.row_filter),
    );
    if old == new || !before.direction.pulls() || !after.direction.pulls() {
        return Ok(None);
    }
    let object = &after.object;
    let api = state.orgs_runtime.api(state, org).await?;
    let count = async |soql: String| match api.count(&soql).await {
        Ok(n) => Ok(n),
        Err(e) => Err(crate::orgs::salesforce_error(state, org, e).await),
    };
    let leaving = match (old, new) {
        (_, None) => 0,
        (None, Some(n)) => count(format!("SELECT COUNT() FROM {object} WHERE NOT ({n})")).await?,
        (Some(o), Some(n)) => {
            count(format!(
                "SELECT COUNT() FROM {object} WHERE ({o}) AND NOT ({n})"
            ))
            .await?
        }
    };
    let within = match new {
        None => count(format!("SELECT COUNT() FROM {object}")).await?,
        Some(n) => count(format!("SELECT COUNT() FROM {object} WHERE ({n})")).await?,
    };
    Ok(Some(FilterChange {
        leaving,
        within,
        leaving_rows,
    }))
}

/// The plan's steps for a filter change (no DDL): the rows leaving, then the re-read.
pub fn steps(change: &FilterChange, object: &str, bulk_threshold: u64) -> Vec<PlanStepView> {
    let mut steps = Vec::new();
    let n = crate::engine::backfill::thousands(change.leaving);
    if change.leaving > 0 {
        steps.push(match change.leaving_rows {
            LeavingRows::Detach => PlanStepView {
                description: format!(
                    "keep the {n} row(s) of {object} whose record no longer matches the new row filter: marked detached (_dn_state = 'DETACHED'), no longer refreshed from Salesforce, their database changes never sent (L in the plan deletes them instead)"
                ),
                destructive: None,
                sql: Vec::new(),
            },
            LeavingRows::Delete => PlanStepView {
                description: format!(
                    "delete the {n} row(s) of {object} whose record no longer matches the new row filter from the database; their Salesforce records stay (L in the plan keeps them detached instead)"
                ),
                destructive: Some(format!(
                    "deletes about {n} row(s) from the database (not from Salesforce)"
                )),
                sql: Vec::new(),
            },
        });
    }
    let calls = crate::engine::reload::estimated_calls(change.within, bulk_threshold);
    steps.push(PlanStepView {
        description: format!(
            "re-read {object} from Salesforce with the new row filter: records that now match it are loaded, those already in the database merged by sfid (about {} record(s), about {calls} API call(s))",
            crate::engine::backfill::thousands(change.within),
        ),
        destructive: None,
        sql: Vec::new(),
    });
    steps
}

/// A plan's view with the filter change's steps.
pub fn with_steps(
    mut view: PlanView,
    change: &Option<FilterChange>,
    object: &str,
    bulk_threshold: u64,
) -> PlanView {
    if let Some(c) = change {
        let steps = steps(c, object, bulk_threshold);
        view.destructive |= steps.iter().any(|s| s.destructive.is_some());
        view.steps.extend(steps);
    }
    view
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(leaving: u64, how: LeavingRows) -> FilterChange {
        FilterChange {
            leaving,
            within: 2_500,
            leaving_rows: how,
        }
    }

    #[test]
    fn detaching_is_the_default_and_loses_nothing() {
        let steps = steps(&change(1_774, LeavingRows::default()), "Account", 10_000);
        assert_eq!(steps.len(), 2);
        assert!(
            steps[0]
                .description
                .starts_with("keep the 1,774 row(s) of Account")
        );
        assert!(steps.iter().all(|s| s.destructive.is_none()));
        assert!(
            steps[1]
                .description
                .contains("about 2,500 record(s), about 4 API call(s)")
        );
    }

    #[test]
    fn deleting_the_rows_leaving_is_destructive() {
        let view = with_steps(
            PlanView {
                steps: vec![],
                destructive: false,
                applied: false,
            },
            &Some(change(3, LeavingRows::Delete)),
            "Account",
            10_000,
        );
        assert!(view.destructive);
        assert!(
            view.steps[0]
                .description
                .starts_with("delete the 3 row(s) of Account")
        );
    }

    #[test]
    fn a_filter_that_only_widens_only_reads() {
        let steps = steps(&change(0, LeavingRows::Delete), "Account", 10_000);
        assert_eq!(steps.len(), 1);
        assert!(steps[0].description.starts_with("re-read Account"));
    }
}
