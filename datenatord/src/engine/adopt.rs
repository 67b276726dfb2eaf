//! Adopting records an earlier create made. When a create's outcome is unknown (a crash
//! after sending, an answer lost in transit), each pending row is looked up in Salesforce —
//! created by the org's user, since shortly before the change, with the same values — and
//! adopted when found, so it is never sent twice. A handful of rows are looked up one query
//! each; more (a Bulk insert cut short) share one query for every candidate the user created
//! in the window, matched here.
use std::collections::HashSet;

use chrono::{DateTime, Utc};
use datenator_shared::model::FieldInfo;
use serde_json::{Map, Value};

use super::conflicts::same;
use super::worker::{Ctx, StepError};
use crate::targetdb::{ObjectMapping, Target};

/// From this many rows to look up, one query fetches the candidates for all of them.
const BATCH_FROM: usize = 10;
/// Clocks differ: look a little before the change was recorded.
const CLOCK_MARGIN: chrono::Duration = chrono::Duration::minutes(10);

/// Field types whose values compare exactly as the REST API returns them.
fn comparable(f: &FieldInfo) -> bool {
    !matches!(
        f.field_type.as_str(),
        "date" | "datetime" | "time" | "base64" | "address" | "location" | "encryptedstring"
    )
}

/// Records (newest first): id and values.
type Candidates = Vec<(String, Map<String, Value>)>;

/// Finds the records earlier creates made, for one push round.
pub struct Lookup {
    /// Candidates when fetched in one query.
    batch: Option<Candidates>,
    /// For creates no record matches exactly: every record this org's user made in the
    /// window that no row holds (fetched once, when first needed).
    unclaimed: Option<Candidates>,
    /// What every create of the round being looked up certainly sent: a record matching
    /// one of them exactly is that create's, never a changed one of another.
    expected: Vec<Map<String, Value>>,
    taken: HashSet<String>,
    /// Found records that are in the recycle bin: deleted in Salesforce since our create
    /// made them. (The lookups read deleted records too: a record someone deleted is still
    /// ours, and sending the create again would bring it back.)
    pub deleted: HashSet<String>,
}

impl Lookup {
    /// Prepares for looking up `rows` creates made since `since` (the earliest change).
    pub async fn new(
        ctx: &Ctx<'_>,
        object: &str,
        fields: &[FieldInfo],
        rows: usize,
        since: Option<DateTime<Utc>>,
    ) -> Result<Lookup, StepError> {
        let mut lookup = Lookup {
            batch: None,
            unclaimed: None,
            expected: Vec::new(),
            taken: HashSet::new(),
            deleted: HashSet::new(),
        };
        let Some(since) = since.filter(|_| rows >= BATCH_FROM) else {
            return Ok(lookup);
        };
        let found = lookup.created_since(ctx, object, fields, since).await?;
        tracing::info!(
            candidates = found.len(),
            rows,
            "looking up creates whose outcome is unknown in one query"
        );
        lookup.batch = Some(found);
        Ok(lookup)
    }

    /// Tells the lookup what every create of the round certainly sent (see `expected`).
    pub fn expect(&mut self, sent: Vec<Map<String, Value>>) {
        self.expected = sent;
    }

    /// Every record this org's user created since shortly before `since`, with the values
    /// that compare (deleted ones noted).
    async fn created_since(
        &mut self,
        ctx: &Ctx<'_>,
        object: &str,
        fields: &[FieldInfo],
        since: DateTime<Utc>,
    ) -> Result<Candidates, StepError> {
        let names: Vec<&str> = fields
            .iter()
            .filter(|f| f.createable && f.name != "Id" && comparable(f))
            .map(|f| f.name.as_str())
            .collect();
        let soql = format!(
            "SELECT Id, IsDeleted{}{} FROM {object} WHERE {} ORDER BY CreatedDate DESC",
            if names.is_empty() { "" } else { ", " },
            names.join(", "),
            created_by_since(ctx, since).await?.join(" AND ")
        );
        let found = ctx.api.query_all_records(&soql, true).await?;
        Ok(found
            .into_iter()
            .filter_map(|mut r| {
                r.remove("attributes");
                let id = r.get("Id")?.as_str()?.to_owned();
                if r.get("IsDeleted").and_then(Value::as_bool) == Some(true) {
                    self.deleted.insert(id.clone());
                }
                Some((id, r))
            })
            .collect())
    }

    /// The record an earlier create of `values` made that someone changed in Salesforce
    /// before this lookup (while the create's answer was lost), so that no record matches
    /// exactly: among the records this org's user created in the window that no row holds,
    /// the one agreeing with the create on at least half the values compared (one at
    /// least). Only when exactly one does: several would be a guess.
    async fn changed_since_created(
        &mut self,
        ctx: &Ctx<'_>,
        mapping: &ObjectMapping,
        compared: &[(&String, &Value)],
        since: DateTime<Utc>,
        fields: &[FieldInfo],
    ) -> Result<Option<String>, StepError> {
        if compared.is_empty() {
            return Ok(None);
        }
        if self.unclaimed.is_none() {
            let held: HashSet<String> = ctx
                .target
                .synced_sfids(mapping, false)
                .await?
                .into_iter()
                .collect();
            let mut created = match &self.batch {
                Some(batch) => batch.clone(),
                None => {
                    self.created_since(ctx, &mapping.object, fields, since)
                        .await?
                }
            };
            created.retain(|(id, _)| !held.contains(id));
            self.unclaimed = Some(created);
        }
        let agreeing = |r: &Map<String, Value>| {
            compared
                .iter()
                .filter(|(k, v)| same(r.get(*k).unwrap_or(&Value::Null), v))
                .count()
        };
        let anothers = |r: &Map<String, Value>| {
            self.expected.iter().any(|sent| {
                !sent.is_empty()
                    && sent.iter().all(|(k, v)| {
                        !fields.iter().any(|f| f.name == *k && comparable(f))
                            || same(r.get(k).unwrap_or(&Value::Null), v)
                    })
            })
        };
        let fits: Vec<&String> = self
            .unclaimed
            .iter()
            .flatten()
            .filter(|(id, r)| {
                let n = agreeing(r);
                !self.taken.contains(id) && n > 0 && 2 * n >= compared.len() && !anothers(r)
            })
            .map(|(id, _)| id)
            .collect();
        Ok(match fits.as_slice() {
            [one] => {
                tracing::warn!(sfid = %one, "a record an uncertain create made was changed in Salesforce since; adopting it (it is the only unclaimed record of ours that fits)");
                Some((*one).clone())
            }
            _ => None,
        })
    }

    /// The record an earlier create of these values made, if any.
    pub async fn find(
        &mut self,
        ctx: &Ctx<'_>,
        mapping: &ObjectMapping,
        values: &Map<String, Value>,
        since: DateTime<Utc>,
        fields: &[FieldInfo],
    ) -> Result<Option<String>, StepError> {
        let object = &mapping.object;
        let compared: Vec<(&String, &Value)> = values
            .iter()
            .filter(|(k, _)| fields.iter().any(|f| f.name == **k && comparable(f)))
            .collect();
        let found = match &self.batch {
            // Every value compares here: the batch answers alone.
            Some(batch) if !compared.is_empty() && compared.len() == values.len() => batch
                .iter()
                .find(|(id, r)| {
                    !self.taken.contains(id)
                        && compared
                            .iter()
                            .all(|(k, v)| same(r.get(*k).unwrap_or(&Value::Null), v))
                })
                .map(|(id, _)| id.clone()),
            _ => match find_created(ctx, object, values, since, fields).await? {
                Some((id, deleted)) => {
                    if deleted {
                        self.deleted.insert(id.clone());
                    }
                    Some(id)
                }
                None => None,
            },
        };
        let found = match found {
            Some(id) => Some(id),
            None => {
                self.changed_since_created(ctx, mapping, &compared, since, fields)
                    .await?
            }
        };
        if let Some(id) = &found {
            self.taken.insert(id.clone());
        }
        Ok(found)
    }
}

/// The Salesforce id of the user the org was authorized as (who our creates are made by).
pub async fn org_user(ctx: &Ctx<'_>) -> Result<Option<String>, StepError> {
    Ok(ctx
        .state
        .store
        .org_user_id(ctx.org)
        .await
        .map_err(crate::error::store_error)?)
}

async fn created_by_since(ctx: &Ctx<'_>, since: DateTime<Utc>) -> Result<Vec<String>, StepError> {
    let user = org_user(ctx).await?;
    let mut conds = Vec::new();
    if let Some(user) = user {
        conds.push(format!("CreatedById = '{user}'"));
    }
    conds.push(format!(
        "CreatedDate >= {}",
        crate::salesforce::rest::sf_datetime(since - CLOCK_MARGIN)
    ));
    Ok(conds)
}

/// SOQL literal of a JSON value, for the fields that can be compared in a WHERE clause.
fn soql_literal(v: &Value, f: &FieldInfo) -> Option<String> {
    match (v, f.field_type.as_str()) {
        (
            _,
            "textarea" | "multipicklist" | "encryptedstring" | "base64" | "address" | "location",
        ) => None,
        (Value::Null, _) => Some("null".into()),
        (Value::Bool(b), _) => Some(b.to_string()),
        (Value::Number(n), _) => Some(n.to_string()),
        (Value::String(s), "date" | "datetime") => Some(s.clone()),
        (Value::String(_), "time" | "double" | "currency" | "percent" | "int" | "long") => None,
        (Value::String(s), _) => Some(format!(
            "'{}'",
            s.replace('\\', "\\\\").replace('\'', "\\'")
        )),
        _ => None,
    }
}

/// Looks for a record this org's user created since shortly before `since` with exactly
/// these values. Returns its id when exactly one matches.
async fn find_created(
    ctx: &Ctx<'_>,
    object: &str,
    values: &Map<String, Value>,
    since: chrono::DateTime<Utc>,
    fields: &[FieldInfo],
) -> Result<Option<(String, bool)>, StepError> {
    let mut conds = created_by_since(ctx, since).await?;
    for (k, v) in values {
        if let Some(f) = fields.iter().find(|f| f.name == *k)
            && let Some(lit) = soql_literal(v, f)
        {
            conds.push(format!("{} = {lit}", f.name));
        }
    }
    let soql = format!(
        "SELECT Id, IsDeleted FROM {object} WHERE {} ORDER BY CreatedDate DESC LIMIT 2",
        conds.join(" AND ")
    );
    let found = ctx.api.query_all_records(&soql, true).await?;
    let ids: Vec<(String, bool)> = found
        .iter()
        .filter_map(|r| {
            let id = r.get("Id").and_then(Value::as_str)?.to_owned();
            Some((
                id,
                r.get("IsDeleted").and_then(Value::as_bool) == Some(true),
            ))
        })
        .collect();
    Ok(match ids.as_slice() {
        [one] => Some(one.clone()),
        [] => None,
        [newest, ..] => {
            tracing::warn!(
                candidates = ids.len(),
                "several records match an uncertain create; adopting the newest"
            );
            Some(newest.clone())
        }
    })
}
