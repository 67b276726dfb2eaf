//! Schema-change planning: the difference between two sets of mappings as abstract changes
//! ([`diff`]), which each dialect renders into a [`Plan`] of DDL steps.

use serde::Serialize;

use super::types::{FieldSpec, ObjectMapping, narrowing_reason};
use super::{Dialect, TargetError};

/// One change between the old and the new mappings.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    CreateMapping(ObjectMapping),
    DropMapping(ObjectMapping),
    AddColumn {
        mapping: ObjectMapping,
        field: FieldSpec,
    },
    DropColumn {
        mapping: ObjectMapping,
        field: FieldSpec,
    },
    AlterColumn {
        mapping: ObjectMapping,
        old: FieldSpec,
        new: FieldSpec,
        /// Why the change may fail or lose data.
        narrowing: Option<String>,
    },
    /// Columns changed: triggers that list columns must be rebuilt (MySQL, SQLite).
    RebuildTriggers {
        old: ObjectMapping,
        new: ObjectMapping,
    },
}

/// A condition checked right before a step runs, so that re-running a half-applied plan on
/// a database without transactional DDL skips what is already done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Guard {
    ColumnAbsent { table: String, column: String },
    ColumnPresent { table: String, column: String },
}

/// One step of a plan: a description, whether it destroys data or may fail, and the SQL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanStep {
    pub description: String,
    /// Set when the step loses data (a dropped column or table) or may fail on existing
    /// data (a narrowing type change); says why.
    pub destructive: Option<String>,
    sql: Vec<String>,
    #[serde(skip)]
    pub(crate) guard: Option<Guard>,
}

impl PlanStep {
    pub(crate) fn new(description: impl Into<String>, sql: Vec<String>) -> Self {
        Self {
            description: description.into(),
            destructive: None,
            sql,
            guard: None,
        }
    }

    pub(crate) fn destructive(mut self, why: impl Into<String>) -> Self {
        self.destructive = Some(why.into());
        self
    }

    pub(crate) fn guarded(mut self, guard: Guard) -> Self {
        self.guard = Some(guard);
        self
    }

    /// Marks the step destructive when `why` says so.
    pub(crate) fn destructive_if(self, why: Option<String>) -> Self {
        match why {
            Some(why) => self.destructive(why),
            None => self,
        }
    }

    // The steps every dialect's plan has, worded once; the statements are the dialect's.

    /// A new mapping's table, with its events table and triggers.
    pub(crate) fn create_mapping(d: Dialect, m: &ObjectMapping, sql: Vec<String>) -> Self {
        Self::new(
            format!("create table {} with events table and triggers", m.table(d)),
            sql,
        )
    }

    /// A dropped mapping's table, with its events and triggers: its rows are lost.
    pub(crate) fn drop_mapping(d: Dialect, m: &ObjectMapping, sql: Vec<String>) -> Self {
        Self::new(
            format!("drop table {} with its events and triggers", m.table(d)),
            sql,
        )
        .destructive(format!(
            "all rows of {} and its unprocessed events are lost",
            m.table(d)
        ))
    }

    /// A column for an added field.
    pub(crate) fn add_column(
        d: Dialect,
        m: &ObjectMapping,
        field: &FieldSpec,
        sql: Vec<String>,
    ) -> Self {
        Self::new(
            format!("add column {}.{}", m.table(d), field.column(d)),
            sql,
        )
    }

    /// A removed field's column: its values are lost.
    pub(crate) fn drop_column(
        d: Dialect,
        m: &ObjectMapping,
        field: &FieldSpec,
        sql: Vec<String>,
    ) -> Self {
        Self::new(
            format!("drop column {}.{}", m.table(d), field.column(d)),
            sql,
        )
        .destructive(format!("the values of {} are lost", field.name))
    }

    /// A column's type change, from `from` to `to` (as the dialect names them).
    pub(crate) fn change_column(
        d: Dialect,
        m: &ObjectMapping,
        field: &FieldSpec,
        from: &str,
        to: &str,
        sql: Vec<String>,
    ) -> Self {
        Self::new(
            format!(
                "change column {}.{} from {from} to {to}",
                m.table(d),
                field.column(d)
            ),
            sql,
        )
    }

    /// New triggers for a mapping whose columns changed.
    pub(crate) fn rebuild_triggers(d: Dialect, m: &ObjectMapping, sql: Vec<String>) -> Self {
        Self::new(format!("rebuild the triggers of {}", m.table(d)), sql)
    }

    /// The statements this step runs, in order.
    pub fn sql(&self) -> &[String] {
        &self.sql
    }

    pub fn is_destructive(&self) -> bool {
        self.destructive.is_some()
    }
}

/// An ordered list of DDL steps, produced by [`Target::plan`](super::Target::plan) and run
/// by [`Target::apply`](super::Target::apply). Only the target layer can build one, so the
/// SQL in it was generated with quoted identifiers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub dialect: Dialect,
    /// Schema (MySQL: database) the plan was made for.
    pub schema: String,
    pub steps: Vec<PlanStep>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    pub fn is_destructive(&self) -> bool {
        self.steps.iter().any(PlanStep::is_destructive)
    }
}

/// The changes that turn `old` into `new`. Mappings match by table name, fields by column
/// name; a field whose column type or size changes is an `AlterColumn`.
pub fn diff(
    dialect: Dialect,
    old: &[ObjectMapping],
    new: &[ObjectMapping],
) -> Result<Vec<Change>, TargetError> {
    for m in new {
        m.validate(dialect)?;
    }
    for (i, m) in new.iter().enumerate() {
        if new[..i]
            .iter()
            .any(|o| o.table(dialect) == m.table(dialect))
        {
            return Err(TargetError::InvalidMapping(format!(
                "object {} is mapped twice (same table {})",
                m.object,
                m.table(dialect)
            )));
        }
    }
    let mut out = Vec::new();
    for o in old {
        if !new.iter().any(|n| n.table(dialect) == o.table(dialect)) {
            out.push(Change::DropMapping(o.clone()));
        }
    }
    for n in new {
        let Some(o) = old.iter().find(|o| o.table(dialect) == n.table(dialect)) else {
            out.push(Change::CreateMapping(n.clone()));
            continue;
        };
        let mut columns_changed = false;
        for of in o.data_fields() {
            if !n
                .data_fields()
                .any(|nf| nf.column(dialect) == of.column(dialect))
            {
                out.push(Change::DropColumn {
                    mapping: n.clone(),
                    field: of.clone(),
                });
                columns_changed = true;
            }
        }
        for nf in n.data_fields() {
            match o
                .data_fields()
                .find(|of| of.column(dialect) == nf.column(dialect))
            {
                None => {
                    out.push(Change::AddColumn {
                        mapping: n.clone(),
                        field: nf.clone(),
                    });
                    columns_changed = true;
                }
                Some(of) => {
                    if super::types::sql_type(dialect, of) != super::types::sql_type(dialect, nf) {
                        out.push(Change::AlterColumn {
                            mapping: n.clone(),
                            old: of.clone(),
                            new: nf.clone(),
                            narrowing: narrowing_reason(of, nf),
                        });
                        columns_changed = true;
                    }
                }
            }
        }
        if columns_changed {
            out.push(Change::RebuildTriggers {
                old: o.clone(),
                new: n.clone(),
            });
        }
    }
    Ok(out)
}

/// Refuses a plan made for another schema.
pub(crate) fn check_plan(plan: &Plan, schema: &str) -> Result<(), TargetError> {
    if plan.schema != schema {
        return Err(TargetError::WrongPlan {
            planned: format!("{:?} schema {}", plan.dialect, plan.schema),
            actual: format!("schema {schema}"),
        });
    }
    Ok(())
}
