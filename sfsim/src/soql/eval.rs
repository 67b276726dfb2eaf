//! Resolves a parsed query against the org's schema, then filters, sorts and renders rows.

use super::lexer::{ESCAPED_PERCENT, ESCAPED_UNDERSCORE, unescape_wildcards};
use super::parser::{Cond, Lit, Literal, Path, Query, Select};
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
}

/// A field path resolved against the schema.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub hops: Vec<Hop>,
    pub field: FieldDef,
    /// The canonical dotted name, e.g. `Account.Name`.
    pub name: String,
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
}

pub fn compile(org: &Org, src: &str) -> Result<Compiled, SoqlError> {
    let q = parse(src)?;
    compile_query(org, src, &q)
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
    let (count, columns) = match &q.select {
        Select::Count => (true, vec![]),
        Select::Fields(paths) => {
            let mut cols: Vec<Resolved> = Vec::new();
            for p in paths {
                let r = resolve(org, table, src, p)?;
                if cols.iter().any(|c| c.name.eq_ignore_ascii_case(&r.name)) {
                    return Err(SoqlError::at(
                        "MALFORMED_QUERY",
                        src,
                        p.pos,
                        format!("duplicate field selected: {}", r.name),
                    ));
                }
                cols.push(r);
            }
            (false, cols)
        }
    };
    let filter = q
        .filter
        .as_ref()
        .map(|c| compile_cond(org, table, src, c))
        .transpose()?;
    let mut order = Vec::new();
    for o in &q.order {
        let r = resolve(org, table, src, &o.path)?;
        if (r.field.ftype == FieldType::Multipicklist || r.field.ftype.is_compound())
            || (r.field.ftype == FieldType::Textarea && r.field.length > 255)
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
        object: table.def.name.clone(),
        count,
        columns,
        filter,
        order,
        limit: q.limit,
        offset: q.offset,
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
            return Ok(Resolved {
                hops,
                field: fd.clone(),
                name: names.join("."),
            });
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
        Cond::Cmp { path, op, value } => {
            let r = resolve(org, table, src, path)?;
            if r.field.ftype.is_compound()
                || (r.field.ftype == FieldType::Textarea && r.field.length > 255)
            {
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
        cur = org.table(&h.target)?.records.get(&**id)?;
    }
    Some(cur)
}

pub fn value_of(org: &Org, rec: &Record, r: &Resolved) -> Value {
    walk(org, rec, &r.hops)
        .map(|p| p.get(r.field.slot).clone())
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

/// The [start, end) dates of a relative date literal, given today's date (UTC).
pub fn relative_range(
    name: &str,
    today: chrono::NaiveDate,
) -> Option<(chrono::NaiveDate, chrono::NaiveDate)> {
    let d = chrono::Days::new;
    let upper = name.to_ascii_uppercase();
    let (base, n) = match upper.split_once(':') {
        Some((b, n)) => (b.to_string(), n.parse::<u64>().ok()?),
        None => (upper.clone(), 0),
    };
    Some(match base.as_str() {
        "TODAY" => (today, today + d(1)),
        "YESTERDAY" => (today - d(1), today),
        "TOMORROW" => (today + d(1), today + d(2)),
        "LAST_N_DAYS" if upper.contains(':') => (today - d(n), today + d(1)),
        "NEXT_N_DAYS" if upper.contains(':') => (today + d(1), today + d(1 + n)),
        "N_DAYS_AGO" if upper.contains(':') => (today - d(n), today - d(n) + d(1)),
        _ => return None,
    })
}

fn relative_values(
    src: &str,
    r: &Resolved,
    l: &Lit,
    name: &str,
) -> Result<(Value, Value), SoqlError> {
    let (a, b) = relative_range(name, chrono::Utc::now().date_naive())
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
        serde_json::Value::Object(root)
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
            match walk(org, rec, &c.hops).map(|p| p.get(c.field.slot)) {
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
        } else {
            rec.get(c.field.slot).to_json()
        };
        obj.insert(c.field.name.clone(), v);
        return;
    }
    let hop = &c.hops[depth];
    let parent = match rec.get(hop.slot) {
        Value::Str(id) => org.table(&hop.target).and_then(|t| t.records.get(&**id)),
        _ => None,
    };
    let Some(parent) = parent else {
        obj.entry(hop.rel.clone())
            .or_insert(serde_json::Value::Null);
        return;
    };
    let entry = obj
        .entry(hop.rel.clone())
        .or_insert_with(|| serde_json::Value::Object(attributes(&hop.target, &parent.id, version)));
    if let serde_json::Value::Object(m) = entry {
        put_path(org, m, parent, c, depth + 1, version);
    }
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
