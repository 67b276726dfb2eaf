//! The relationship limits of one query ("Understanding Relationship Query Limitations",
//! SOQL and SOSL Reference): at most 55 child-to-parent relationships, each at most five
//! levels deep; at most 20 parent-to-child relationships (subqueries), nested at most five
//! levels deep counting the root.

use super::eval::Compiled;
use super::{Pos, SoqlError};
use std::collections::HashSet;

const MAX_PARENT_RELATIONSHIPS: usize = 55;
const MAX_PARENT_LEVELS: usize = 5;
const MAX_CHILD_RELATIONSHIPS: usize = 20;
const MAX_CHILD_LEVELS: usize = 5;

/// Walks a compiled query: its parent paths (distinct, by object and dotted relationship
/// path) and the subqueries, with the deepest level reached.
fn walk(
    c: &Compiled,
    level: usize,
    parents: &mut HashSet<String>,
    children: &mut usize,
    deepest: &mut usize,
    longest: &mut usize,
) {
    *deepest = (*deepest).max(level);
    for col in &c.columns {
        *longest = (*longest).max(col.hops.len());
        for i in 1..=col.hops.len() {
            let path: Vec<&str> = col.hops[..i].iter().map(|h| h.rel.as_str()).collect();
            parents.insert(format!("{}.{}", c.object, path.join(".")).to_lowercase());
        }
    }
    for t in &c.typeofs {
        parents.insert(format!("{}.{}", c.object, t.rel).to_lowercase());
    }
    for child in &c.children {
        *children += 1;
        walk(
            &child.compiled,
            level + 1,
            parents,
            children,
            deepest,
            longest,
        );
    }
}

/// Refuses a query beyond Salesforce's relationship limits (`MALFORMED_QUERY`).
pub fn check(src: &str, pos: Pos, c: &Compiled) -> Result<(), SoqlError> {
    let (mut parents, mut children, mut deepest, mut longest) = (HashSet::new(), 0, 1, 0);
    walk(
        c,
        1,
        &mut parents,
        &mut children,
        &mut deepest,
        &mut longest,
    );
    let refuse = |msg: String| Err(SoqlError::at("MALFORMED_QUERY", src, pos, msg));
    if longest > MAX_PARENT_LEVELS {
        return refuse(format!(
            "No more than {MAX_PARENT_LEVELS} levels can be specified in a child-to-parent relationship"
        ));
    }
    if parents.len() > MAX_PARENT_RELATIONSHIPS {
        return refuse(format!(
            "No more than {MAX_PARENT_RELATIONSHIPS} child-to-parent relationships can be specified in a query"
        ));
    }
    if children > MAX_CHILD_RELATIONSHIPS {
        return refuse(format!(
            "No more than {MAX_CHILD_RELATIONSHIPS} parent-to-child relationships can be specified in a query"
        ));
    }
    if deepest > MAX_CHILD_LEVELS {
        return refuse(format!(
            "No more than {MAX_CHILD_LEVELS} levels of parent-to-child relationships can be specified in a query"
        ));
    }
    Ok(())
}
