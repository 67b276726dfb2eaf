//! `GET /query?q=…&columns=true`: what a query would answer, column by column, without
//! running it — the resource the Developer Console and the Salesforce CLI (`sf data
//! query`) read to lay out a result: `{columnMetadata, entityName, groupBy, idSelected,
//! keyPrefix}`, each column `{aggregate, apexType, booleanType, columnName, custom,
//! displayName, foreignKeyName, insertable, joinColumns, numberType, textType,
//! updatable}`. A parent path nests its hops in `joinColumns`; a subquery is an
//! `aggregate` column whose `joinColumns` are the child query's; an aggregate function is
//! an `aggregate` column named by its alias (or `expr0`…) and shown as the call.

use crate::schema::{FieldDef, FieldType};
use crate::soql::eval::{Compiled, Resolved};
use crate::soql::{Item, Path, Query, Select};
use crate::store::Org;
use serde_json::{Value, json};

/// The column metadata of a compiled query; `q` is its parse, for the SELECT list's order.
pub fn describe(org: &Org, q: &Query, c: &Compiled) -> Value {
    let prefix = org
        .table(&c.object)
        .map(|t| t.def.key_prefix.clone())
        .filter(|p| !p.is_empty());
    let columns = columns(q, c);
    let id_selected = columns
        .iter()
        .any(|col| col["columnName"] == "Id" && col["aggregate"] == false);
    json!({
        "columnMetadata": columns,
        "entityName": c.object,
        "groupBy": !q.group_by.is_empty(),
        "idSelected": id_selected,
        "keyPrefix": prefix,
    })
}

fn columns(q: &Query, c: &Compiled) -> Vec<Value> {
    let Select::Fields(items) = &q.select else {
        return vec![];
    };
    let mut plain: Vec<&Resolved> = c.columns.iter().collect();
    if let Some((groups, _)) = &c.grouping {
        plain.extend(groups.iter());
    }
    let named = |p: &Path| {
        plain
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(&p.text()))
            .copied()
    };
    let listed: Vec<String> = items
        .iter()
        .filter_map(|i| match i {
            Item::Field(p) | Item::ToLabel(p) => Some(p.text().to_ascii_lowercase()),
            _ => None,
        })
        .collect();
    let (mut children, mut aggregates, mut typeofs) = (
        c.children.iter(),
        c.grouping.iter().flat_map(|(_, a)| a.iter()),
        c.typeofs.iter(),
    );
    let mut out = Vec::new();
    for item in items {
        match item {
            Item::Field(p) | Item::ToLabel(p) => out.extend(named(p).map(path_column)),
            Item::Fields(..) => out.extend(
                c.columns
                    .iter()
                    .filter(|r| !listed.contains(&r.name.to_ascii_lowercase()))
                    .map(path_column),
            ),
            Item::Sub(sub, _) => {
                if let Some(child) = children.next() {
                    let mut col = relationship(&child.relationship, None);
                    col["aggregate"] = json!(true);
                    col["joinColumns"] = json!(columns(sub, &child.compiled));
                    out.push(col);
                }
            }
            Item::Agg { func, path, .. } => {
                if let Some(a) = aggregates.next() {
                    let shown = format!(
                        "{func}({})",
                        path.as_ref().map(Path::text).unwrap_or_default()
                    );
                    let apex = match (func.as_str(), &a.field) {
                        ("COUNT" | "COUNT_DISTINCT", _) | (_, None) => "Integer",
                        ("AVG", _) => "Decimal",
                        (_, Some(f)) => apex_type(f.field.ftype),
                    };
                    let mut col = column(&a.name, &shown, apex);
                    col["aggregate"] = json!(true);
                    col["numberType"] =
                        json!(apex == "Integer" || apex == "Decimal" || apex == "Double");
                    out.push(col);
                }
            }
            Item::DateFn(p, _) => {
                let found = c
                    .grouping
                    .iter()
                    .flat_map(|(g, _)| g.iter())
                    .zip(&c.group_names)
                    .find(|(g, _)| g.name.eq_ignore_ascii_case(&p.text()));
                if let Some((g, name)) = found {
                    let apex = apex_type(g.field.ftype);
                    let mut col = column(name, &p.text(), apex);
                    col["aggregate"] = json!(true);
                    col["numberType"] = json!(g.field.ftype.is_numeric());
                    out.push(col);
                }
            }
            Item::TypeOf { .. } => {
                if let Some(t) = typeofs.next() {
                    out.push(relationship(&t.rel, None));
                }
            }
        }
    }
    out
}

/// A selected field: its hops as nested relationship columns around the field's own.
fn path_column(r: &Resolved) -> Value {
    let mut col = field_column(&r.field);
    for hop in r.hops.iter().rev() {
        col = relationship(&hop.rel, Some(col));
    }
    col
}

fn field_column(f: &FieldDef) -> Value {
    let t = f.ftype;
    let mut col = column(&f.name, &f.name, apex_type(t));
    col["booleanType"] = json!(t == FieldType::Boolean);
    col["custom"] = json!(f.custom());
    col["insertable"] = json!(f.createable);
    col["numberType"] = json!(t.is_numeric());
    col["textType"] = json!(t.is_text());
    col["updatable"] = json!(f.updateable);
    col
}

/// A relationship (parent or child) column, with what it leads to.
fn relationship(name: &str, inner: Option<Value>) -> Value {
    let mut col = column(name, name, "");
    col["apexType"] = Value::Null;
    col["custom"] = json!(name.ends_with("__r"));
    col["joinColumns"] = json!(inner.into_iter().collect::<Vec<_>>());
    col
}

fn column(name: &str, shown: &str, apex: &str) -> Value {
    json!({
        "aggregate": false,
        "apexType": apex,
        "booleanType": false,
        "columnName": name,
        "custom": false,
        "displayName": shown,
        "foreignKeyName": null,
        "insertable": false,
        "joinColumns": [],
        "numberType": false,
        "textType": false,
        "updatable": false,
    })
}

/// The Apex type of a field's values.
fn apex_type(t: FieldType) -> &'static str {
    match t {
        FieldType::Id | FieldType::Reference => "Id",
        FieldType::Boolean => "Boolean",
        FieldType::Int => "Integer",
        FieldType::Double => "Double",
        FieldType::Currency | FieldType::Percent => "Decimal",
        FieldType::Date => "Date",
        FieldType::Datetime => "Datetime",
        FieldType::Time => "Time",
        FieldType::Address => "Address",
        FieldType::Location => "Location",
        FieldType::Base64 => "Blob",
        _ => "String",
    }
}
