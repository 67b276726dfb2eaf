//! `GET /search?q=<SOSL>`: the basics of SOSL — `FIND {term} [IN ALL|NAME|EMAIL|PHONE|
//! SIDEBAR FIELDS] RETURNING Object[(fields [WHERE …] [LIMIT n])], … [LIMIT n]` — matched
//! against the text fields of the scope.

use super::Req;
use crate::resp::Resp;
use crate::schema::{FieldDef, FieldType};
use crate::sim::Sim;
use crate::soql::eval::compile;
use serde_json::json;

/// One `RETURNING` item: the object and its SOQL tail (fields, WHERE, LIMIT).
struct Returning {
    object: String,
    fields: String,
    rest: String,
}

fn malformed(msg: &str) -> Resp {
    Resp::error(400, "MALFORMED_SEARCH", msg)
}

/// Splits `A(x, y WHERE z), B, C(Id)` at top-level commas.
fn split_top(s: &str) -> Vec<String> {
    let (mut out, mut depth, mut cur) = (Vec::new(), 0i32, String::new());
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}

/// `IN … FIELDS`: which text fields a search looks at.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Scope {
    /// ALL FIELDS (the default) and SIDEBAR FIELDS: every searchable text field.
    All,
    Name,
    Email,
    Phone,
}

/// The scope named between the search term and RETURNING (`tail`: the text after `}`).
fn scope(tail: &str) -> Result<Scope, Resp> {
    let words: Vec<String> = tail
        .split_whitespace()
        .take_while(|w| !w.eq_ignore_ascii_case("returning"))
        .map(str::to_ascii_uppercase)
        .collect();
    match words.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] | ["IN", "ALL" | "SIDEBAR", "FIELDS"] => Ok(Scope::All),
        ["IN", "NAME", "FIELDS"] => Ok(Scope::Name),
        ["IN", "EMAIL", "FIELDS"] => Ok(Scope::Email),
        ["IN", "PHONE", "FIELDS"] => Ok(Scope::Phone),
        _ => Err(malformed(&format!(
            "unexpected token: {}",
            words.last().map_or("", String::as_str)
        ))),
    }
}

/// Whether a field is searched in a scope. NAME FIELDS are the fields with `nameField`
/// (and a person's name components) plus the ones the reference lists per object.
fn in_scope(object: &str, f: &FieldDef, scope: Scope) -> bool {
    if f.hidden || !f.ftype.is_text() {
        return false;
    }
    match scope {
        Scope::All => true,
        Scope::Email => f.ftype == FieldType::Email,
        Scope::Phone => f.ftype == FieldType::Phone,
        Scope::Name => {
            let extra: &[&str] = match object {
                "Account" => &["Website", "Site", "NameLocal"],
                "Case" => &["SuppliedName", "SuppliedCompany", "Subject"],
                "Contact" => &["AssistantName", "FirstNameLocal", "LastNameLocal"],
                "Lead" => &["Company", "CompanyLocal", "FirstNameLocal", "LastNameLocal"],
                "Event" | "Task" => &["Subject"],
                "User" => &["CommunityNickname"],
                _ => &[],
            };
            f.name_field
                || f.compound_field_name.as_deref() == Some("Name")
                || extra.contains(&f.name.as_str())
        }
    }
}

/// Whether a value holds the term; phone numbers also by their digits alone.
fn matches(value: &str, term: &str, phone: bool) -> bool {
    if value.to_lowercase().contains(term) {
        return true;
    }
    let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
    let wanted = digits(term);
    phone && wanted.len() >= 2 && digits(value).contains(&wanted)
}

fn parse(q: &str) -> Result<(String, Scope, Vec<Returning>, Option<usize>), Resp> {
    let q = q.trim();
    let lower = q.to_ascii_lowercase();
    if !lower.starts_with("find") {
        return Err(malformed(
            "No search term found. The search term must be enclosed in braces.",
        ));
    }
    let open = q.find('{').ok_or_else(|| {
        malformed("No search term found. The search term must be enclosed in braces.")
    })?;
    let close = q[open..].find('}').map(|i| open + i).ok_or_else(|| {
        malformed("No search term found. The search term must be enclosed in braces.")
    })?;
    let term = q[open + 1..close]
        .replace(['*', '"'], "")
        .trim()
        .to_lowercase();
    if term.chars().filter(|c| c.is_alphanumeric()).count() < 2 {
        return Err(malformed("search term must be longer than one character"));
    }
    let tail = &q[close + 1..];
    let scope = scope(tail)?;
    let tail_lower = tail.to_ascii_lowercase();
    let Some(r) = tail_lower.find("returning") else {
        // Without RETURNING, Salesforce searches every searchable object; sfsim asks for one.
        return Err(malformed("sfsim needs a RETURNING clause"));
    };
    let mut items = tail[r + "returning".len()..].trim().to_string();
    // A trailing `LIMIT n` outside the parentheses limits the whole search.
    let mut limit = None;
    let items_lower = items.to_ascii_lowercase();
    if let Some(p) = items_lower.rfind(" limit ")
        && !items[p..].contains(')')
    {
        limit = items[p + 7..].trim().parse::<usize>().ok();
        items.truncate(p);
    }
    let mut out = Vec::new();
    for item in split_top(&items) {
        let item = item.trim();
        let (object, inner) = match item.find('(') {
            Some(i) => (item[..i].trim(), item[i + 1..].trim_end_matches(')').trim()),
            None => (item, "Id"),
        };
        let inner_lower = inner.to_ascii_lowercase();
        let cut = [" where ", " order by ", " limit "]
            .iter()
            .filter_map(|k| inner_lower.find(k))
            .min()
            .unwrap_or(inner.len());
        out.push(Returning {
            object: object.to_string(),
            fields: inner[..cut].trim().to_string(),
            rest: inner[cut..].to_string(),
        });
    }
    Ok((term, scope, out, limit))
}

pub fn search(sim: &Sim, req: &Req) -> Resp {
    let Some(q) = req.q("q") else {
        return malformed("A search string has to be specified");
    };
    let (term, scope, items, limit) = match parse(q) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let org = sim.org();
    let mut records = Vec::new();
    for item in items {
        let soql = format!("SELECT {} FROM {}{}", item.fields, item.object, item.rest);
        let compiled = match compile(&org, &soql) {
            Ok(c) => c,
            Err(e) => return Resp::error(400, e.code, e.message),
        };
        let Some(table) = org.table(&compiled.object) else {
            continue;
        };
        let searched: Vec<(usize, bool)> = table
            .def
            .fields
            .iter()
            .filter(|f| in_scope(&table.def.name, f, scope))
            .map(|f| (f.slot, f.ftype == FieldType::Phone))
            .collect();
        for id in compiled.run(&org, false) {
            let hit = table.records.get(&id).is_some_and(|r| {
                searched.iter().any(|(s, phone)| {
                    r.get(*s)
                        .as_str()
                        .is_some_and(|v| matches(v, &term, *phone))
                })
            });
            if hit {
                records.push(compiled.render(&org, &id, &req.version));
            }
        }
    }
    if let Some(n) = limit {
        records.truncate(n);
    }
    Resp::ok(json!({"searchRecords": records}))
}
