//! Resolves a parsed query against the org's schema, then filters, sorts and renders rows.

use super::date_fn::DateFn;
use super::lexer::{ESCAPED_PERCENT, ESCAPED_UNDERSCORE, unescape_wildcards};
use super::parser::{Cond, Having, Item, Lit, Literal, Path, Query, Select};
use super::{SoqlError, parse};
use crate::ids;
use crate::schema::{FieldDef, FieldType};
use crate::store::{Org, Record, Table};
use crate::value::{Value, parse_date, parse_datetime, whole_seconds};
use serde_json::{Map, json};
use std::cmp::Ordering;

/// One relationship hop of a field path.
#[derive(Clone, Debug)]
pub struct Hop {
    pub slot: usize,
    pub rel: String,
    pub target: String,
    /// The lookup may point at several objects (an owner that is a user or a queue): the
    /// parent is found by its id's prefix, its fields by name.
    pub polymorphic: bool,
}

/// A field path resolved against the schema.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub hops: Vec<Hop>,
    pub field: FieldDef,
    /// The canonical dotted name, e.g. `Account.Name`.
    pub name: String,
    /// Selected as `toLabel(…)`: a picklist's values answer as their labels.
    pub to_label: bool,
    /// A date function applied to the field's value (`field` then has its result type).
    pub date_fn: Option<DateFn>,
}

#[derive(Clone, Debug)]
enum CCond {
    And(Vec<CCond>),
    Or(Vec<CCond>),
    Not(Box<CCond>),
    Cmp(Resolved, &'static str, Value),
    /// A comparison with a date range [start, end).
    Range(Resolved, &'static str, Value, Value),
    In(Resolved, bool, Vec<Value>),
    Like(Resolved, Vec<char>),
    Includes(Resolved, bool, Vec<Vec<String>>),
    /// A semi-join (or, negated, anti-join): the ids the subquery selected.
    InSet(Resolved, bool, std::collections::HashSet<String>),
}

/// A parent-to-child subquery: the children whose `parent_slot` names the row.
#[derive(Clone, Debug)]
pub struct ChildQuery {
    pub relationship: String,
    pub parent_slot: usize,
    pub compiled: Compiled,
}

/// One aggregate of a GROUP BY query.
#[derive(Clone, Debug)]
pub struct Aggregate {
    pub func: String,
    pub field: Option<Resolved>,
    /// The alias, or `expr0`, `expr1`… in order.
    pub name: String,
}

/// A compiled HAVING condition.
#[derive(Clone, Debug)]
enum CHaving {
    And(Vec<CHaving>),
    Or(Vec<CHaving>),
    Not(Box<CHaving>),
    /// An aggregate (or, with no function, a grouped field) compared with a literal.
    Cmp(
        Option<String>,
        Option<Box<Resolved>>,
        &'static str,
        serde_json::Value,
    ),
}

/// A TYPEOF column: a polymorphic relationship's fields by the parent's type.
#[derive(Clone, Debug)]
pub struct TypeOfCol {
    pub slot: usize,
    pub rel: String,
    pub whens: Vec<(String, Vec<String>)>,
    pub otherwise: Vec<String>,
}

/// A query ready to run.
#[derive(Clone, Debug)]
pub struct Compiled {
    pub object: String,
    pub count: bool,
    pub columns: Vec<Resolved>,
    filter: Option<CCond>,
    order: Vec<(Resolved, bool, bool)>,
    pub limit: Option<usize>,
    pub offset: Option<usize>,
    pub children: Vec<ChildQuery>,
    pub typeofs: Vec<TypeOfCol>,
    /// GROUP BY fields and aggregates: the query answers AggregateResult rows.
    pub grouping: Option<(Vec<Resolved>, Vec<Aggregate>)>,
    /// Each group's name in an AggregateResult row (a field's name, a date function's
    /// alias or `exprN`).
    pub group_names: Vec<String>,
    /// The grouping sets: per set, which groups it keeps (the others are rolled up into
    /// subtotals). One set keeping all without ROLLUP or CUBE.
    pub group_sets: Vec<Vec<bool>>,
    having: Option<CHaving>,
}

pub fn compile(org: &Org, src: &str) -> Result<Compiled, SoqlError> {
    let q = parse(src)?;
    let c = compile_query(org, src, &q)?;
    super::relationship_limits::check(src, q.from_pos, &c)?;
    Ok(c)
}

fn compile_query(org: &Org, src: &str, q: &Query) -> Result<Compiled, SoqlError> {
    let table = org.table(&q.from).ok_or_else(|| {
        SoqlError::at(
            "INVALID_TYPE",
            src,
            q.from_pos,
            format!("sObject type '{}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.", q.from),
        )
    })?;
    if !table.def.queryable {
        return Err(SoqlError::at(
            "INVALID_TYPE_FOR_OPERATION",
            src,
            q.from_pos,
            format!("entity type {} does not support query", table.def.name),
        ));
    }
    let at = |pos, code, msg: String| SoqlError::at(code, src, pos, msg);
    let mut children = Vec::new();
    let mut typeofs = Vec::new();
    let mut aggregates: Vec<Aggregate> = Vec::new();
    let mut plain: Vec<(Resolved, super::Pos)> = Vec::new();
    // Unaliased expressions (aggregates and date functions) are expr0, expr1, … in order.
    let mut exprs = 0usize;
    let mut expr_name = |alias: &Option<String>| {
        alias.clone().unwrap_or_else(|| {
            exprs += 1;
            format!("expr{}", exprs - 1)
        })
    };
    // Each selected date function's canonical text and output name.
    let mut date_fns: Vec<(String, String, super::Pos)> = Vec::new();
    let (count, mut columns) = match &q.select {
        Select::Count => (true, vec![]),
        Select::Fields(items) => {
            let mut cols: Vec<Resolved> = Vec::new();
            let push = |r: Resolved, pos, cols: &mut Vec<Resolved>| {
                if cols.iter().any(|c| c.name.eq_ignore_ascii_case(&r.name)) {
                    return Err(at(
                        pos,
                        "MALFORMED_QUERY",
                        format!("duplicate field selected: {}", r.name),
                    ));
                }
                cols.push(r);
                Ok(())
            };
            for item in items {
                match item {
                    Item::Field(p) => {
                        let r = resolve(org, table, src, p)?;
                        plain.push((r.clone(), p.pos));
                        push(r, p.pos, &mut cols)?;
                    }
                    Item::ToLabel(p) => {
                        let r = resolve(org, table, src, p)?;
                        if !matches!(
                            r.field.ftype,
                            FieldType::Picklist | FieldType::Multipicklist
                        ) && r.field.name != "RecordTypeId"
                        {
                            return Err(at(
                                p.pos,
                                "INVALID_FIELD",
                                format!(
                                    "toLabel() can only be used on picklist fields: {}",
                                    r.name
                                ),
                            ));
                        }
                        let r = Resolved {
                            to_label: true,
                            ..r
                        };
                        plain.push((r.clone(), p.pos));
                        push(r, p.pos, &mut cols)?;
                    }
                    Item::Fields(kind, pos) => {
                        if kind != "STANDARD" && q.limit.is_none_or(|l| l > 200) {
                            return Err(at(
                                *pos,
                                "MALFORMED_QUERY",
                                "The SOQL FIELDS function must have a LIMIT of at most 200".into(),
                            ));
                        }
                        for f in table.def.visible_fields() {
                            let wanted = match kind.as_str() {
                                "STANDARD" => !f.custom(),
                                "CUSTOM" => f.custom(),
                                _ => true,
                            };
                            if wanted && !cols.iter().any(|c| c.name.eq_ignore_ascii_case(&f.name))
                            {
                                cols.push(Resolved {
                                    hops: vec![],
                                    field: f.clone(),
                                    name: f.name.clone(),
                                    to_label: false,
                                    date_fn: None,
                                });
                            }
                        }
                    }
                    Item::Sub(sub, pos) => {
                        children.push(compile_child(org, table, src, sub, *pos)?)
                    }
                    Item::DateFn(p, alias) => {
                        let r = resolve(org, table, src, p)?;
                        date_fns.push((r.name.clone(), expr_name(alias), p.pos));
                        plain.push((r, p.pos));
                    }
                    Item::Agg {
                        func,
                        path,
                        alias,
                        pos,
                    } => {
                        let field = path
                            .as_ref()
                            .map(|p| resolve(org, table, src, p))
                            .transpose()?;
                        if let Some(f) = &field {
                            let numeric = f.field.ftype.is_numeric();
                            let ordered = numeric
                                || matches!(f.field.ftype, FieldType::Date | FieldType::Datetime)
                                || f.field.ftype.is_text();
                            let ok = match func.as_str() {
                                "SUM" | "AVG" => numeric,
                                "MIN" | "MAX" => ordered,
                                _ => true,
                            };
                            if !ok || f.field.ftype.is_compound() {
                                return Err(at(
                                    *pos,
                                    "INVALID_FIELD",
                                    format!(
                                        "field {} does not support aggregate operator {func}",
                                        f.name
                                    ),
                                ));
                            }
                        } else if func != "COUNT" {
                            return Err(at(
                                *pos,
                                "MALFORMED_QUERY",
                                format!("{func}() needs a field"),
                            ));
                        }
                        let name = expr_name(alias);
                        aggregates.push(Aggregate {
                            func: func.clone(),
                            field,
                            name,
                        });
                    }
                    Item::TypeOf {
                        rel,
                        whens,
                        otherwise,
                    } => {
                        let fd = table
                            .def
                            .field_by_relationship(&rel.text())
                            .filter(|f| f.reference_to.len() > 1)
                            .ok_or_else(|| {
                                at(
                                    rel.pos,
                                    "INVALID_FIELD",
                                    format!(
                                        "TYPEOF needs a polymorphic relationship: {}",
                                        rel.text()
                                    ),
                                )
                            })?;
                        for (ty, paths) in whens {
                            let Some(t) = org.table(ty).filter(|t| {
                                fd.reference_to
                                    .iter()
                                    .any(|r| r.eq_ignore_ascii_case(&t.def.name))
                            }) else {
                                return Err(at(
                                    rel.pos,
                                    "INVALID_FIELD",
                                    format!("{} can not be a {ty}", rel.text()),
                                ));
                            };
                            for p in paths {
                                resolve(org, t, src, p)?;
                            }
                        }
                        typeofs.push(TypeOfCol {
                            slot: fd.slot,
                            rel: fd.relationship_name.clone().unwrap_or_default(),
                            whens: whens
                                .iter()
                                .map(|(t, ps)| (t.clone(), ps.iter().map(Path::text).collect()))
                                .collect(),
                            otherwise: otherwise.iter().map(Path::text).collect(),
                        });
                    }
                }
            }
            (false, cols)
        }
    };
    let grouping = if q.group_by.is_empty() && aggregates.is_empty() {
        None
    } else {
        let mut groups = Vec::new();
        for p in &q.group_by {
            let r = resolve(org, table, src, p)?;
            let groupable = !(r.field.ftype.is_compound()
                || matches!(
                    r.field.ftype,
                    FieldType::Double
                        | FieldType::Currency
                        | FieldType::Percent
                        | FieldType::Datetime
                        | FieldType::Multipicklist
                        | FieldType::EncryptedString
                )
                || r.field.ftype.is_long_content(r.field.length));
            if !groupable {
                return Err(at(
                    p.pos,
                    "INVALID_FIELD",
                    format!("field '{}' can not be grouped in a query call", r.name),
                ));
            }
            groups.push(r);
        }
        for (c, pos) in &plain {
            if !groups.iter().any(|g| g.name.eq_ignore_ascii_case(&c.name)) {
                return Err(at(
                    *pos,
                    "MALFORMED_QUERY",
                    format!("Field must be grouped or aggregated: {}", c.name),
                ));
            }
        }
        if !children.is_empty() || !typeofs.is_empty() {
            return Err(at(
                q.from_pos,
                "MALFORMED_QUERY",
                "Aggregate queries do not support subqueries or TYPEOF".into(),
            ));
        }
        for a in aggregates.iter().filter(|a| a.func == "GROUPING") {
            let grouped = a
                .field
                .as_ref()
                .is_some_and(|f| groups.iter().any(|g| g.name.eq_ignore_ascii_case(&f.name)));
            if q.group_mode.is_none() || !grouped {
                return Err(at(
                    q.from_pos,
                    "MALFORMED_QUERY",
                    "GROUPING() takes a field of GROUP BY ROLLUP or GROUP BY CUBE".into(),
                ));
            }
        }
        if q.group_mode.is_some() && groups.len() > 3 {
            return Err(at(
                q.from_pos,
                "MALFORMED_QUERY",
                "GROUP BY ROLLUP and GROUP BY CUBE take at most three fields".into(),
            ));
        }
        columns = vec![];
        Some((groups, aggregates))
    };
    let group_sets = super::grouping_sets::sets(
        q.group_mode.as_deref(),
        grouping.as_ref().map_or(0, |(g, _)| g.len()),
    );
    if grouping.is_none()
        && let Some((_, _, pos)) = date_fns.first()
    {
        return Err(at(
            *pos,
            "MALFORMED_QUERY",
            "Date functions can be selected only in aggregate queries (with GROUP BY)".into(),
        ));
    }
    // What each group answers as: a date function by its alias or exprN, a field by name.
    let group_names: Vec<String> = grouping
        .iter()
        .flat_map(|(groups, _)| groups.iter())
        .map(|g| {
            date_fns
                .iter()
                .find(|(text, _, _)| text.eq_ignore_ascii_case(&g.name))
                .map_or_else(|| g.field.name.clone(), |(_, out, _)| out.clone())
        })
        .collect();
    let having = match (&q.having, &grouping) {
        (None, _) => None,
        (Some(h), Some((groups, _))) if !q.group_by.is_empty() => {
            Some(compile_having(org, table, src, h, groups)?)
        }
        (Some(_), _) => {
            return Err(at(
                q.from_pos,
                "MALFORMED_QUERY",
                "HAVING can only be used with GROUP BY".into(),
            ));
        }
    };
    if let Some((w, pos)) = &q.for_clause
        && w == "UPDATE"
        && !q.order.is_empty()
    {
        return Err(at(
            *pos,
            "MALFORMED_QUERY",
            "ORDER BY can not be used in a query that locks records (FOR UPDATE)".into(),
        ));
    }
    if let Some((pos, msg)) = q.filter.as_ref().and_then(semi_join_placement) {
        return Err(SoqlError::at("MALFORMED_QUERY", src, pos, msg));
    }
    let filter = q
        .filter
        .as_ref()
        .map(|c| compile_cond(org, table, src, c))
        .transpose()?;
    let mut order = Vec::new();
    for o in &q.order {
        let r = resolve(org, table, src, &o.path)?;
        if (r.field.ftype == FieldType::Multipicklist || r.field.ftype.is_compound())
            || r.field.ftype.is_long_content(r.field.length)
        {
            return Err(SoqlError::at(
                "INVALID_FIELD",
                src,
                o.path.pos,
                format!("field '{}' can not be sorted in a query call", r.name),
            ));
        }
        order.push((r, o.asc, o.nulls_first));
    }
    Ok(Compiled {
        children,
        typeofs,
        grouping,
        group_names,
        group_sets,
        having,
        object: table.def.name.clone(),
        count,
        columns,
        filter,
        order,
        limit: q.limit,
        offset: q.offset,
    })
}

fn compile_having(
    org: &Org,
    table: &Table,
    src: &str,
    h: &Having,
    groups: &[Resolved],
) -> Result<CHaving, SoqlError> {
    let all = |v: &[Having]| -> Result<Vec<CHaving>, SoqlError> {
        v.iter()
            .map(|h| compile_having(org, table, src, h, groups))
            .collect()
    };
    Ok(match h {
        Having::And(v) => CHaving::And(all(v)?),
        Having::Or(v) => CHaving::Or(all(v)?),
        Having::Not(h) => CHaving::Not(Box::new(compile_having(org, table, src, h, groups)?)),
        Having::Cmp {
            func,
            path,
            op,
            value,
            pos,
        } => {
            let field = path
                .as_ref()
                .map(|p| resolve(org, table, src, p))
                .transpose()?;
            if let (None, Some(f)) = (func, &field)
                && !groups.iter().any(|g| g.name.eq_ignore_ascii_case(&f.name))
            {
                return Err(SoqlError::at(
                    "MALFORMED_QUERY",
                    src,
                    *pos,
                    format!("Field must be grouped or aggregated: {}", f.name),
                ));
            }
            let v = match &value.lit {
                Literal::Str(s) => json!(s),
                Literal::Num(n, _) => json!(n),
                Literal::Bool(b) => json!(b),
                Literal::Null => json!(null),
                Literal::Date(d) | Literal::DateTime(d) => json!(d),
                Literal::Relative(_) => {
                    return Err(SoqlError::at(
                        "MALFORMED_QUERY",
                        src,
                        value.pos,
                        "date literals are not supported in HAVING here",
                    ));
                }
            };
            CHaving::Cmp(func.clone(), field.map(Box::new), op, v)
        }
    })
}

/// An aggregate over one group's rows, as AggregateResult carries it.
fn aggregate_json(
    org: &Org,
    rows: &[&Record],
    func: &str,
    field: Option<&Resolved>,
) -> serde_json::Value {
    let vals: Vec<Value> = match field {
        Some(f) => rows
            .iter()
            .map(|r| value_of(org, r, f))
            .filter(|v| !v.is_null())
            .collect(),
        None => rows.iter().map(|_| Value::Bool(true)).collect(),
    };
    let nums = || vals.iter().filter_map(Value::as_f64);
    match func {
        "COUNT" => json!(vals.len()),
        "COUNT_DISTINCT" => {
            let mut seen: Vec<&Value> = Vec::new();
            for v in &vals {
                if !seen.contains(&v) {
                    seen.push(v);
                }
            }
            json!(seen.len())
        }
        "SUM" | "AVG" if vals.is_empty() => json!(null),
        "SUM" => json!(nums().sum::<f64>()),
        "AVG" => json!(nums().sum::<f64>() / vals.len() as f64),
        _ => {
            let mut best: Option<&Value> = None;
            for v in &vals {
                let better = best.is_none_or(|b| {
                    let o = v.compare(b).unwrap_or(Ordering::Equal);
                    if func == "MIN" {
                        o == Ordering::Less
                    } else {
                        o == Ordering::Greater
                    }
                });
                if better {
                    best = Some(v);
                }
            }
            best.map_or(json!(null), Value::to_json)
        }
    }
}

fn having_holds(
    org: &Org,
    h: &CHaving,
    key: &[Value],
    groups: &[Resolved],
    rows: &[&Record],
) -> bool {
    match h {
        CHaving::And(v) => v.iter().all(|h| having_holds(org, h, key, groups, rows)),
        CHaving::Or(v) => v.iter().any(|h| having_holds(org, h, key, groups, rows)),
        CHaving::Not(h) => !having_holds(org, h, key, groups, rows),
        CHaving::Cmp(func, field, op, lit) => {
            let got = match func {
                Some(f) => aggregate_json(org, rows, f, field.as_deref()),
                None => field
                    .as_ref()
                    .and_then(|f| {
                        groups
                            .iter()
                            .position(|g| g.name.eq_ignore_ascii_case(&f.name))
                    })
                    .map_or(json!(null), |i| key[i].to_json()),
            };
            let o = match (&got, lit) {
                (serde_json::Value::Null, serde_json::Value::Null) => Some(Ordering::Equal),
                (serde_json::Value::Null, _) | (_, serde_json::Value::Null) => None,
                (a, b) if a.is_number() && b.is_number() => a
                    .as_f64()
                    .zip(b.as_f64())
                    .and_then(|(a, b)| a.partial_cmp(&b)),
                (serde_json::Value::String(a), serde_json::Value::String(b)) => {
                    Some(a.to_lowercase().cmp(&b.to_lowercase()))
                }
                (a, b) => (a == b).then_some(Ordering::Equal),
            };
            match (*op, o) {
                ("=", Some(o)) => o == Ordering::Equal,
                ("!=" | "<>", o) => o != Some(Ordering::Equal),
                ("<", Some(o)) => o == Ordering::Less,
                ("<=", Some(o)) => o != Ordering::Greater,
                (">", Some(o)) => o == Ordering::Greater,
                (">=", Some(o)) => o != Ordering::Less,
                _ => false,
            }
        }
    }
}

/// The child relationships of `parent`: (child object, the child's field, its slot, the
/// relationship's name), as describe lists them.
pub fn child_relationships(
    org: &Org,
    parent: &str,
) -> Vec<(String, String, usize, Option<String>)> {
    let Some(p) = org.table(parent) else {
        return vec![];
    };
    let mut out = Vec::new();
    for other in org.tables.values() {
        for f in other.def.visible_fields() {
            if f.reference_to
                .iter()
                .any(|r| r.eq_ignore_ascii_case(&p.def.name))
            {
                out.push((
                    other.def.name.clone(),
                    f.name.clone(),
                    f.slot,
                    crate::schema::child_relationship_name(&p.def, &other.def, f),
                ));
            }
        }
    }
    out
}

/// Checks where semi- and anti-joins stand: only in the top-level AND of a WHERE (not
/// under OR or NOT), at most two. Returns the offending one's position and message.
fn semi_join_placement(c: &Cond) -> Option<(super::Pos, &'static str)> {
    fn nested(c: &Cond) -> Option<super::Pos> {
        match c {
            Cond::InQuery { pos, .. } => Some(*pos),
            Cond::And(v) | Cond::Or(v) => v.iter().find_map(nested),
            Cond::Not(c) => nested(c),
            _ => None,
        }
    }
    let top: Vec<&Cond> = match c {
        Cond::And(v) => v.iter().collect(),
        c => vec![c],
    };
    let mut count = 0;
    for c in top {
        match c {
            Cond::InQuery { pos, .. } => {
                count += 1;
                if count > 2 {
                    return Some((
                        *pos,
                        "No more than two semi join or anti join sub-selects are allowed in a WHERE clause",
                    ));
                }
            }
            other => {
                if let Some(pos) = nested(other) {
                    return Some((
                        pos,
                        "Semi join sub-selects are only allowed at the top level WHERE expressions and not in nested WHERE expressions.",
                    ));
                }
            }
        }
    }
    None
}

fn has_semi_join(c: &Cond) -> bool {
    match c {
        Cond::InQuery { .. } => true,
        Cond::And(v) | Cond::Or(v) => v.iter().any(has_semi_join),
        Cond::Not(c) => has_semi_join(c),
        _ => false,
    }
}

/// A parent-to-child subquery, `(SELECT … FROM Contacts)`: FROM names a child
/// relationship of the outer object.
fn compile_child(
    org: &Org,
    parent: &Table,
    src: &str,
    sub: &Query,
    pos: super::Pos,
) -> Result<ChildQuery, SoqlError> {
    let found = child_relationships(org, &parent.def.name)
        .into_iter()
        .find(|(_, _, _, rel)| {
            rel.as_deref()
                .is_some_and(|r| r.eq_ignore_ascii_case(&sub.from))
        });
    let Some((child, _, slot, Some(rel))) = found else {
        return Err(SoqlError::at(
            "INVALID_TYPE",
            src,
            sub.from_pos,
            format!(
                "Didn't understand relationship '{}' in FROM part of query call. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names.",
                sub.from
            ),
        ));
    };
    let mut q = sub.clone();
    q.from = child;
    let compiled = compile_query(org, src, &q)?;
    if compiled.count || compiled.grouping.is_some() {
        return Err(SoqlError::at(
            "MALFORMED_QUERY",
            src,
            pos,
            "Aggregate functions are not supported in a relationship subquery",
        ));
    }
    Ok(ChildQuery {
        relationship: rel,
        parent_slot: slot,
        compiled,
    })
}

fn resolve(org: &Org, table: &Table, src: &str, p: &Path) -> Result<Resolved, SoqlError> {
    let mut cur = table;
    let mut hops = Vec::new();
    let mut names = Vec::new();
    let n = p.parts.len();
    for (i, part) in p.parts.iter().enumerate() {
        if i + 1 < n {
            // A path may start with the queried object's own name.
            if i == 0
                && n > 1
                && part.eq_ignore_ascii_case(&table.def.name)
                && table.def.field_by_relationship(part).is_none()
            {
                continue;
            }
            let Some(fd) = cur.def.field_by_relationship(part) else {
                return Err(SoqlError::at(
                    "INVALID_FIELD",
                    src,
                    p.pos,
                    format!(
                        "Didn't understand relationship '{part}' in field path. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names."
                    ),
                ));
            };
            let target = fd
                .reference_to
                .first()
                .and_then(|t| org.table(t))
                .ok_or_else(|| {
                    SoqlError::at(
                        "INVALID_FIELD",
                        src,
                        p.pos,
                        format!("Didn't understand relationship '{part}' in field path."),
                    )
                })?;
            let rel = fd.relationship_name.clone().unwrap_or_default();
            names.push(rel.clone());
            hops.push(Hop {
                slot: fd.slot,
                rel,
                target: target.def.name.clone(),
                polymorphic: fd.reference_to.len() > 1,
            });
            cur = target;
        } else {
            let Some(fd) = cur.def.field(part) else {
                return Err(SoqlError::at(
                    "INVALID_FIELD",
                    src,
                    p.pos,
                    format!(
                        "No such column '{part}' on entity '{}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.",
                        cur.def.name
                    ),
                ));
            };
            names.push(fd.name.clone());
            let mut r = Resolved {
                hops,
                field: fd.clone(),
                name: names.join("."),
                to_label: false,
                date_fn: None,
            };
            if let Some(func) = &p.func {
                let f = DateFn::named(func).filter(|f| f.applies_to(fd.ftype));
                let Some(f) = f else {
                    return Err(SoqlError::at(
                        "INVALID_FIELD",
                        src,
                        p.pos,
                        format!("{func} can not be applied to field {}", r.name),
                    ));
                };
                r.field.ftype = f.result_type();
                r.name = format!("{func}({})", r.name);
                r.date_fn = Some(f);
            }
            return Ok(r);
        }
    }
    Err(SoqlError::at(
        "MALFORMED_QUERY",
        src,
        p.pos,
        "unexpected token: '<EOF>'",
    ))
}

fn type_error(src: &str, r: &Resolved, l: &Lit) -> SoqlError {
    let t = match r.field.ftype {
        FieldType::Datetime => "dateTime",
        FieldType::Date => "date",
        FieldType::Boolean => "boolean",
        t if t.is_numeric() => "number",
        _ => "string",
    };
    let quoted = if matches!(t, "string") {
        "should be enclosed in quotes"
    } else {
        "should not be enclosed in quotes"
    };
    SoqlError::at(
        "INVALID_FIELD",
        src,
        l.pos,
        format!(
            "value of filter criterion for field '{}' must be of type {t} and {quoted}",
            r.field.name
        ),
    )
}

fn literal_value(src: &str, r: &Resolved, l: &Lit) -> Result<Value, SoqlError> {
    let ft = r.field.ftype;
    let err = || type_error(src, r, l);
    Ok(match (&l.lit, ft) {
        (Literal::Null, _) => Value::Null,
        (Literal::Str(s), FieldType::Id | FieldType::Reference) => Value::Str(
            ids::normalize(s)
                .ok_or_else(|| {
                    SoqlError::at(
                        "INVALID_QUERY_FILTER_OPERATOR",
                        src,
                        l.pos,
                        format!("invalid ID field: {s}"),
                    )
                })?
                .into(),
        ),
        (Literal::Str(s), t) if t.is_text() => Value::Str(unescape_wildcards(s).into()),
        (Literal::Num(n, _), FieldType::Int) => Value::Int(*n as i64),
        (Literal::Num(n, _), t) if t.is_numeric() => Value::Num(*n),
        (Literal::Bool(b), FieldType::Boolean) => Value::Bool(*b),
        (Literal::Date(d), FieldType::Date) => Value::Date(parse_date(d).ok_or_else(err)?),
        (Literal::DateTime(d), FieldType::Datetime) => {
            Value::DateTime(whole_seconds(parse_datetime(d).ok_or_else(err)?))
        }
        _ => return Err(err()),
    })
}

fn compile_cond(org: &Org, table: &Table, src: &str, c: &Cond) -> Result<CCond, SoqlError> {
    Ok(match c {
        Cond::And(v) => CCond::And(
            v.iter()
                .map(|c| compile_cond(org, table, src, c))
                .collect::<Result<_, _>>()?,
        ),
        Cond::Or(v) => CCond::Or(
            v.iter()
                .map(|c| compile_cond(org, table, src, c))
                .collect::<Result<_, _>>()?,
        ),
        Cond::Not(c) => CCond::Not(Box::new(compile_cond(org, table, src, c)?)),
        Cond::InQuery {
            path,
            negated,
            query,
            pos,
        } => {
            let r = resolve(org, table, src, path)?;
            let is_key = |f: &FieldDef| matches!(f.ftype, FieldType::Id | FieldType::Reference);
            if !is_key(&r.field) {
                return Err(SoqlError::at(
                    "MALFORMED_QUERY",
                    src,
                    path.pos,
                    format!(
                        "semi join sub-selects can only be compared with an ID or reference field: {}",
                        r.name
                    ),
                ));
            }
            if query.filter.as_ref().is_some_and(has_semi_join) {
                return Err(SoqlError::at(
                    "MALFORMED_QUERY",
                    src,
                    *pos,
                    "Nesting of semi join sub-selects is not supported",
                ));
            }
            let inner = compile_query(org, src, query)?;
            let single = matches!(&query.select, Select::Fields(items) if items.len() == 1 && matches!(items[0], Item::Field(_)));
            if !single || inner.columns.len() != 1 || !is_key(&inner.columns[0].field) {
                return Err(SoqlError::at(
                    "MALFORMED_QUERY",
                    src,
                    *pos,
                    "a semi join sub-select must select exactly one ID or reference field",
                ));
            }
            if !inner.children.is_empty() || inner.grouping.is_some() {
                return Err(SoqlError::at(
                    "MALFORMED_QUERY",
                    src,
                    *pos,
                    "a semi join sub-select can not have subqueries or aggregates",
                ));
            }
            let col = &inner.columns[0];
            let set = inner
                .run(org, false)
                .iter()
                .filter_map(|id| org.table(&inner.object)?.records.get(id))
                .filter_map(|rec| value_of(org, rec, col).as_str().map(str::to_owned))
                .collect();
            CCond::InSet(r, *negated, set)
        }
        Cond::Cmp { path, op, value } => {
            let r = resolve(org, table, src, path)?;
            if r.field.ftype.is_compound() || r.field.ftype.is_long_content(r.field.length) {
                return Err(SoqlError::at(
                    "INVALID_FIELD",
                    src,
                    path.pos,
                    format!(
                        "field '{}' can not be filtered in a query call",
                        r.field.name
                    ),
                ));
            }
            if let Literal::Relative(name) = &value.lit {
                let (start, end) = relative_values(src, &r, value, name)?;
                return Ok(CCond::Range(r, op, start, end));
            }
            let v = literal_value(src, &r, value)?;
            CCond::Cmp(r, op, v)
        }
        Cond::In {
            path,
            negated,
            values,
        } => {
            let r = resolve(org, table, src, path)?;
            let vs = values
                .iter()
                .map(|l| literal_value(src, &r, l))
                .collect::<Result<_, _>>()?;
            CCond::In(r, *negated, vs)
        }
        Cond::Like { path, pattern } => {
            let r = resolve(org, table, src, path)?;
            let Literal::Str(p) = &pattern.lit else {
                return Err(type_error(src, &r, pattern));
            };
            if !r.field.ftype.is_text() {
                return Err(SoqlError::at(
                    "INVALID_FIELD",
                    src,
                    path.pos,
                    format!("invalid operator on {} field: LIKE", r.field.ftype.name()),
                ));
            }
            CCond::Like(r, p.to_lowercase().chars().collect())
        }
        Cond::Includes {
            path,
            excludes,
            values,
        } => {
            let r = resolve(org, table, src, path)?;
            if r.field.ftype != FieldType::Multipicklist {
                return Err(SoqlError::at(
                    "INVALID_FIELD",
                    src,
                    path.pos,
                    format!(
                        "invalid operator on {} field: {}",
                        r.field.ftype.name(),
                        if *excludes { "EXCLUDES" } else { "INCLUDES" }
                    ),
                ));
            }
            let mut sets = Vec::new();
            for l in values {
                let Literal::Str(s) = &l.lit else {
                    return Err(type_error(src, &r, l));
                };
                sets.push(
                    unescape_wildcards(s)
                        .split(';')
                        .map(|x| x.trim().to_lowercase())
                        .collect(),
                );
            }
            CCond::Includes(r, *excludes, sets)
        }
    })
}

/// The parent record a path's hops lead to, if any.
fn walk<'a>(org: &'a Org, rec: &'a Record, hops: &[Hop]) -> Option<&'a Record> {
    let mut cur = rec;
    for h in hops {
        let Value::Str(id) = cur.get(h.slot) else {
            return None;
        };
        cur = parent_of(org, h, id)?.1;
    }
    Some(cur)
}

/// The record a hop leads to, and its object's name.
fn parent_of<'a>(org: &'a Org, h: &Hop, id: &str) -> Option<(&'a str, &'a Record)> {
    if h.polymorphic {
        return org.find(id).map(|(t, r)| (t.def.name.as_str(), r));
    }
    let t = org.table(&h.target)?;
    t.records.get(id).map(|r| (t.def.name.as_str(), r))
}

/// A field's value on the record a path leads to: by slot, or by name when the last hop
/// was polymorphic and led to another object than the one the path was resolved against.
fn field_of<'a>(org: &'a Org, p: &'a Record, r: &Resolved) -> &'a Value {
    if r.hops.last().is_some_and(|h| h.polymorphic)
        && let Some(t) = org.table_by_prefix(ids::prefix(&p.id))
        && !t
            .def
            .name
            .eq_ignore_ascii_case(&r.hops[r.hops.len() - 1].target)
    {
        return match t.def.slot(&r.field.name) {
            Some(slot) => p.get(slot),
            None => p.get(usize::MAX),
        };
    }
    p.get(r.field.slot)
}

pub fn value_of(org: &Org, rec: &Record, r: &Resolved) -> Value {
    walk(org, rec, &r.hops)
        .map(|p| match r.date_fn {
            Some(f) => f.apply(field_of(org, p, r)),
            None => field_of(org, p, r).clone(),
        })
        .unwrap_or_default()
}

fn cmp_values(ft: FieldType, a: &Value, b: &Value) -> Option<Ordering> {
    match (ft, a, b) {
        (FieldType::Id | FieldType::Reference, Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        _ => a.compare(b),
    }
}

/// LIKE matching (`%` any run, `_` one character) in O(pattern × text), no backtracking.
fn like(pattern: &[char], text: &[char]) -> bool {
    // reach[j]: the pattern prefix consumed so far matches text[..j].
    let mut reach = vec![false; text.len() + 1];
    reach[0] = true;
    for &p in pattern {
        let mut next = vec![false; text.len() + 1];
        match p {
            '%' => {
                let mut any = false;
                for j in 0..=text.len() {
                    any |= reach[j];
                    next[j] = any;
                }
            }
            _ => {
                let want = match p {
                    ESCAPED_PERCENT => Some('%'),
                    ESCAPED_UNDERSCORE => Some('_'),
                    '_' => None,
                    other => Some(other),
                };
                for j in 0..text.len() {
                    next[j + 1] = reach[j] && want.is_none_or(|w| text[j] == w);
                }
            }
        }
        reach = next;
    }
    reach[text.len()]
}

fn relative_values(
    src: &str,
    r: &Resolved,
    l: &Lit,
    name: &str,
) -> Result<(Value, Value), SoqlError> {
    let (a, b) = super::date_literal::range(name, chrono::Utc::now().date_naive())
        .ok_or_else(|| type_error(src, r, l))?;
    let at = |d: chrono::NaiveDate| {
        Value::DateTime(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
    };
    match r.field.ftype {
        FieldType::Date => Ok((Value::Date(a), Value::Date(b))),
        FieldType::Datetime => Ok((at(a), at(b))),
        _ => Err(type_error(src, r, l)),
    }
}

fn test(org: &Org, rec: &Record, c: &CCond) -> bool {
    match c {
        CCond::Range(r, op, start, end) => {
            let v = value_of(org, rec, r);
            if v.is_null() {
                return *op == "!=";
            }
            let before_start = v.compare(start) == Some(Ordering::Less);
            let before_end = v.compare(end) == Some(Ordering::Less);
            match *op {
                "=" => !before_start && before_end,
                "!=" => before_start || !before_end,
                "<" => before_start,
                "<=" => before_end,
                ">" => !before_end,
                _ => !before_start,
            }
        }
        CCond::And(v) => v.iter().all(|c| test(org, rec, c)),
        CCond::Or(v) => v.iter().any(|c| test(org, rec, c)),
        CCond::Not(c) => !test(org, rec, c),
        CCond::Cmp(r, op, lit) => {
            let v = value_of(org, rec, r);
            match (*op, v.is_null(), lit.is_null()) {
                ("=", a, true) => a,
                ("!=", a, true) => !a,
                ("=", true, false) => false,
                ("!=", true, false) => true,
                (_, true, _) | (_, _, true) => false,
                (op, false, false) => {
                    let Some(o) = cmp_values(r.field.ftype, &v, lit) else {
                        return false;
                    };
                    match op {
                        "=" => o == Ordering::Equal,
                        "!=" => o != Ordering::Equal,
                        "<" => o == Ordering::Less,
                        "<=" => o != Ordering::Greater,
                        ">" => o == Ordering::Greater,
                        _ => o != Ordering::Less,
                    }
                }
            }
        }
        CCond::In(r, neg, vals) => {
            let v = value_of(org, rec, r);
            let hit = vals.iter().any(|l| {
                if l.is_null() {
                    v.is_null()
                } else {
                    !v.is_null() && cmp_values(r.field.ftype, &v, l) == Some(Ordering::Equal)
                }
            });
            hit != *neg
        }
        CCond::Like(r, p) => match value_of(org, rec, r) {
            Value::Str(s) => like(p, &s.to_lowercase().chars().collect::<Vec<_>>()),
            _ => false,
        },
        CCond::InSet(r, neg, set) => {
            let v = value_of(org, rec, r);
            let hit = v.as_str().is_some_and(|id| set.contains(id));
            hit != *neg
        }
        CCond::Includes(r, excludes, sets) => {
            let v = value_of(org, rec, r);
            let have: Vec<String> = v
                .as_str()
                .map(|s| s.split(';').map(|x| x.to_lowercase()).collect())
                .unwrap_or_default();
            let hit = sets.iter().any(|set| set.iter().all(|x| have.contains(x)));
            hit != *excludes
        }
    }
}

/// Whether a validation rule's condition holds for a record about to be written.
pub fn condition_holds(org: &Org, table: &Table, rec: &Record, condition: &str) -> bool {
    let src = format!("SELECT Id FROM {} WHERE {condition}", table.def.name);
    match compile(org, &src) {
        Ok(c) => c.filter.as_ref().is_some_and(|f| test(org, rec, f)),
        Err(_) => false,
    }
}

impl Compiled {
    /// Runs the query: the ids of the matching rows in order, after OFFSET and LIMIT.
    /// How many rows the query matches (after OFFSET and LIMIT), without collecting them.
    pub fn count_rows(&self, org: &Org, include_deleted: bool) -> usize {
        let Some(table) = org.table(&self.object) else {
            return 0;
        };
        let n = table
            .records
            .values()
            .filter_map(|r| {
                if org.hidden.is_empty() {
                    Some(r)
                } else {
                    org.visible(r)
                }
            })
            .filter(|r| include_deleted || r.deleted.is_none())
            .filter(|r| self.filter.as_ref().is_none_or(|f| test(org, r, f)))
            .count();
        n.saturating_sub(self.offset.unwrap_or(0))
            .min(self.limit.unwrap_or(usize::MAX))
    }

    pub fn run(&self, org: &Org, include_deleted: bool) -> Vec<String> {
        let Some(table) = org.table(&self.object) else {
            return vec![];
        };
        let mut rows: Vec<&Record> = table
            .records
            .values()
            .filter_map(|r| {
                if org.hidden.is_empty() {
                    Some(r)
                } else {
                    org.visible(r)
                }
            })
            .filter(|r| include_deleted || r.deleted.is_none())
            .filter(|r| self.filter.as_ref().is_none_or(|f| test(org, r, f)))
            .collect();
        if !self.order.is_empty() {
            let keyed: Vec<(Vec<Value>, &Record)> = rows
                .into_iter()
                .map(|r| {
                    (
                        self.order
                            .iter()
                            .map(|(p, _, _)| value_of(org, r, p))
                            .collect(),
                        r,
                    )
                })
                .collect();
            let mut keyed = keyed;
            keyed.sort_by(|(a, _), (b, _)| {
                for (i, (p, asc, nulls_first)) in self.order.iter().enumerate() {
                    let o = match (a[i].is_null(), b[i].is_null()) {
                        (true, true) => Ordering::Equal,
                        (true, false) => {
                            if *nulls_first {
                                Ordering::Less
                            } else {
                                Ordering::Greater
                            }
                        }
                        (false, true) => {
                            if *nulls_first {
                                Ordering::Greater
                            } else {
                                Ordering::Less
                            }
                        }
                        _ => {
                            let o =
                                cmp_values(p.field.ftype, &a[i], &b[i]).unwrap_or(Ordering::Equal);
                            if *asc { o } else { o.reverse() }
                        }
                    };
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                Ordering::Equal
            });
            rows = keyed.into_iter().map(|(_, r)| r).collect();
        }
        let skip = self.offset.unwrap_or(0);
        let take = self.limit.unwrap_or(usize::MAX);
        rows.into_iter()
            .skip(skip)
            .take(take)
            .map(|r| r.id.clone())
            .collect()
    }

    /// A REST row: `attributes`, then the selected fields with parents as nested objects.
    pub fn render(&self, org: &Org, id: &str, version: &str) -> serde_json::Value {
        let Some(rec) = org
            .table(&self.object)
            .and_then(|t| t.records.get(id))
            .and_then(|r| org.visible(r))
        else {
            return json!(null);
        };
        let mut root = attributes(&self.object, id, version);
        for c in &self.columns {
            put_path(org, &mut root, rec, c, 0, version);
        }
        for child in &self.children {
            let v = child.rows_of(org, &rec.id, version);
            root.insert(child.relationship.clone(), v);
        }
        for t in &self.typeofs {
            root.insert(t.rel.clone(), t.render(org, rec, version));
        }
        serde_json::Value::Object(root)
    }

    /// A GROUP BY query's AggregateResult rows (all of them: aggregate results come in
    /// one page).
    pub fn aggregate_rows(&self, org: &Org, include_deleted: bool) -> Vec<serde_json::Value> {
        let Some((groups, aggs)) = &self.grouping else {
            return vec![];
        };
        let Some(table) = org.table(&self.object) else {
            return vec![];
        };
        // Each record counts once in every grouping set, under its key with the rolled-up
        // groups null.
        let mut buckets: Vec<(usize, Vec<Value>, Vec<&Record>)> = Vec::new();
        for r in table
            .records
            .values()
            .filter_map(|r| org.visible(r))
            .filter(|r| include_deleted || r.deleted.is_none())
            .filter(|r| self.filter.as_ref().is_none_or(|f| test(org, r, f)))
        {
            let key: Vec<Value> = groups.iter().map(|g| value_of(org, r, g)).collect();
            for (set, keep) in self.group_sets.iter().enumerate() {
                let k: Vec<Value> = key
                    .iter()
                    .zip(keep)
                    .map(|(v, kept)| if *kept { v.clone() } else { Value::Null })
                    .collect();
                match buckets.iter_mut().find(|(s, b, _)| *s == set && *b == k) {
                    Some((_, _, rows)) => rows.push(r),
                    None => buckets.push((set, k, vec![r])),
                }
            }
        }
        if buckets.is_empty() && groups.is_empty() {
            buckets.push((0, vec![], vec![]));
        }
        let sort_keys: Vec<(usize, bool, bool)> = self
            .order
            .iter()
            .filter_map(|(p, asc, nulls_first)| {
                groups
                    .iter()
                    .position(|g| g.name.eq_ignore_ascii_case(&p.name))
                    .map(|i| (i, *asc, *nulls_first))
            })
            .collect();
        let subtotals = self.group_sets.len() > 1;
        buckets.sort_by(|(_, a, _), (_, b, _)| {
            for (i, asc, nulls_first) in &sort_keys {
                let (x, y) = (&a[*i], &b[*i]);
                let o = match (x.is_null(), y.is_null()) {
                    (false, false) => {
                        let o = x.compare(y).unwrap_or(Ordering::Equal);
                        if *asc { o } else { o.reverse() }
                    }
                    (true, true) => Ordering::Equal,
                    (true, false) if *nulls_first => Ordering::Less,
                    (false, true) if !*nulls_first => Ordering::Less,
                    _ => Ordering::Greater,
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
            if subtotals {
                // Subtotals follow their groups, the grand total comes last.
                for (x, y) in a.iter().zip(b) {
                    let o = super::grouping_sets::compare(x, y);
                    if o != Ordering::Equal {
                        return o;
                    }
                }
            }
            Ordering::Equal
        });
        if let Some(h) = &self.having {
            buckets.retain(|(_, key, rows)| having_holds(org, h, key, groups, rows));
        }
        let skip = self.offset.unwrap_or(0);
        let take = self.limit.unwrap_or(usize::MAX);
        buckets
            .into_iter()
            .skip(skip)
            .take(take)
            .map(|(set, key, rows)| {
                let mut m = Map::new();
                m.insert("attributes".into(), json!({"type": "AggregateResult"}));
                for (name, v) in self.group_names.iter().zip(&key) {
                    m.insert(name.clone(), v.to_json());
                }
                for a in aggs {
                    let v = if a.func == "GROUPING" {
                        // 1 where the row is a subtotal over this group.
                        let kept = a.field.as_ref().and_then(|f| {
                            groups
                                .iter()
                                .position(|g| g.name.eq_ignore_ascii_case(&f.name))
                                .map(|i| self.group_sets[set][i])
                        });
                        json!(if kept == Some(false) { 1 } else { 0 })
                    } else {
                        aggregate_json(org, &rows, &a.func, a.field.as_ref())
                    };
                    m.insert(a.name.clone(), v);
                }
                serde_json::Value::Object(m)
            })
            .collect()
    }

    /// Hands `cell` each CSV cell of a Bulk query row in column order (dotted columns; null
    /// or empty text as `None`), without copying the record's text. Returns false (and
    /// hands nothing) for a record that is gone or hidden.
    pub fn csv_cells(&self, org: &Org, id: &str, mut cell: impl FnMut(Option<&str>)) -> bool {
        let Some(rec) = org
            .table(&self.object)
            .and_then(|t| t.records.get(id))
            .and_then(|r| org.visible(r))
        else {
            return false;
        };
        let mut scratch = String::new();
        for c in &self.columns {
            match walk(org, rec, &c.hops).map(|p| field_of(org, p, c)) {
                None | Some(Value::Null) => cell(None),
                Some(Value::Str(s)) => cell((!s.is_empty()).then_some(&**s)),
                Some(v) => {
                    scratch.clear();
                    v.write_csv(&mut scratch);
                    cell(Some(&scratch));
                }
            }
        }
        true
    }

    pub fn header(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.name.clone()).collect()
    }
}

fn attributes(object: &str, id: &str, version: &str) -> Map<String, serde_json::Value> {
    let mut m = Map::new();
    m.insert(
        "attributes".into(),
        json!({"type": object, "url": format!("/services/data/v{version}/sobjects/{object}/{id}")}),
    );
    m
}

fn put_path(
    org: &Org,
    obj: &mut Map<String, serde_json::Value>,
    rec: &Record,
    c: &Resolved,
    depth: usize,
    version: &str,
) {
    if depth == c.hops.len() {
        let v = if c.field.ftype.is_compound() {
            compound_value(
                org,
                rec,
                &c.field,
                &c.hops[..0],
                &c.hops.last().map(|h| h.target.clone()).unwrap_or_default(),
            )
        } else if c.field.ftype == FieldType::Base64 {
            blob_url(org, rec, c, version)
        } else if c.to_label {
            labels_of(&c.field, field_of(org, rec, c))
        } else {
            field_of(org, rec, c).to_json()
        };
        obj.insert(c.field.name.clone(), v);
        return;
    }
    let hop = &c.hops[depth];
    let parent = match rec.get(hop.slot) {
        Value::Str(id) => parent_of(org, hop, id),
        _ => None,
    };
    let Some((object, parent)) = parent else {
        obj.entry(hop.rel.clone())
            .or_insert(serde_json::Value::Null);
        return;
    };
    let entry = obj
        .entry(hop.rel.clone())
        .or_insert_with(|| serde_json::Value::Object(attributes(object, &parent.id, version)));
    if let serde_json::Value::Object(m) = entry {
        put_path(org, m, parent, c, depth + 1, version);
    }
}

/// `toLabel`: a picklist value's label (each of a multi-select's values, `;`-joined).
fn labels_of(fd: &FieldDef, v: &Value) -> serde_json::Value {
    match v.as_str() {
        Some(s) => json!(
            s.split(';')
                .map(|x| fd.value_label(x))
                .collect::<Vec<_>>()
                .join(";")
        ),
        None => v.to_json(),
    }
}

/// A base64 field's value as a query answers it: the URL of the blob, not its bytes
/// (null when there is none).
fn blob_url(org: &Org, rec: &Record, c: &Resolved, version: &str) -> serde_json::Value {
    if field_of(org, rec, c).is_null() {
        return json!(null);
    }
    let object = org
        .table_by_prefix(ids::prefix(&rec.id))
        .map_or("", |t| t.def.name.as_str());
    json!(format!(
        "/services/data/v{version}/sobjects/{object}/{}/{}",
        rec.id, c.field.name
    ))
}

/// A compound field's value: an address or a geolocation object from its components
/// (null when every component is).
fn compound_value(
    org: &Org,
    rec: &Record,
    fd: &FieldDef,
    _hops: &[Hop],
    _obj: &str,
) -> serde_json::Value {
    let Some(t) = org.table_by_prefix(ids::prefix(&rec.id)) else {
        return json!(null);
    };
    let get = |n: String| {
        t.def
            .slot(&n)
            .map(|slot| rec.get(slot).to_json())
            .unwrap_or(json!(null))
    };
    if fd.ftype == FieldType::Location {
        let base = fd.name.trim_end_matches("__c");
        let (lat, lon) = (
            get(format!("{base}__Latitude__s")),
            get(format!("{base}__Longitude__s")),
        );
        if lat.is_null() && lon.is_null() {
            return json!(null);
        }
        return json!({"latitude": lat, "longitude": lon});
    }
    let prefix = fd.name.trim_end_matches("Address");
    let parts = [
        "Street",
        "City",
        "State",
        "PostalCode",
        "Country",
        "Latitude",
        "Longitude",
        "GeocodeAccuracy",
    ]
    .map(|s| get(format!("{prefix}{s}")));
    if parts.iter().all(|p| p.is_null()) {
        return json!(null);
    }
    json!({
        "city": parts[1], "country": parts[4], "geocodeAccuracy": parts[7], "latitude": parts[5],
        "longitude": parts[6], "postalCode": parts[3], "state": parts[2], "street": parts[0],
    })
}

impl ChildQuery {
    /// The children of one parent row as a nested query result (null when there are
    /// none), in the subquery's order and limit.
    fn rows_of(&self, org: &Org, parent_id: &str, version: &str) -> serde_json::Value {
        let Some(table) = org.table(&self.compiled.object) else {
            return json!(null);
        };
        let mut c = self.compiled.clone();
        let limit = c.limit.take();
        let offset = c.offset.take();
        let ids: Vec<String> = c
            .run(org, false)
            .into_iter()
            .filter(|id| {
                table
                    .records
                    .get(id)
                    .is_some_and(|r| r.get(self.parent_slot).as_str() == Some(parent_id))
            })
            .skip(offset.unwrap_or(0))
            .take(limit.unwrap_or(usize::MAX))
            .collect();
        if ids.is_empty() {
            return json!(null);
        }
        let records: Vec<serde_json::Value> =
            ids.iter().map(|id| c.render(org, id, version)).collect();
        json!({"totalSize": records.len(), "done": true, "records": records})
    }
}

impl TypeOfCol {
    /// The parent record with the fields its type's WHEN branch names (ELSE otherwise).
    fn render(&self, org: &Org, rec: &Record, version: &str) -> serde_json::Value {
        let Value::Str(id) = rec.get(self.slot) else {
            return json!(null);
        };
        let Some((t, parent)) = org.find(id) else {
            return json!(null);
        };
        let fields = self
            .whens
            .iter()
            .find(|(ty, _)| ty.eq_ignore_ascii_case(&t.def.name))
            .map_or(&self.otherwise, |(_, f)| f);
        let mut m = attributes(&t.def.name, &parent.id, version);
        for f in fields {
            if let Some(slot) = t.def.field(f).map(|fd| fd.slot) {
                m.insert(f.clone(), parent.get(slot).to_json());
            }
        }
        serde_json::Value::Object(m)
    }
}
