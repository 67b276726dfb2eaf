//! Identifier naming and quoting. Every identifier that reaches SQL goes through one of the
//! `quote_*` functions here (one per dialect), after [`fit_name`] shortened it to the
//! dialect's limit. String literals embedded in DDL (trigger bodies) go through the
//! dialect's literal function.

use sha2::{Digest, Sha256};

use super::Dialect;

/// Longest identifier in bytes: PostgreSQL 63, MySQL/MariaDB 64. SQLite has no limit; we use
/// 64 so generated names stay the same size everywhere.
pub fn max_ident_bytes(dialect: Dialect) -> usize {
    match dialect {
        Dialect::Postgres => 63,
        Dialect::Mysql | Dialect::Sqlite => 64,
    }
}

/// `name`, shortened when longer than `max` bytes: cut at a character boundary and suffixed
/// with `_` + the first 8 hex digits of the SHA-256 of the whole name, so the result is
/// stable and two long names sharing a prefix stay distinct.
pub fn shorten(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_owned();
    }
    let hash = Sha256::digest(name.as_bytes());
    let suffix: String = hash[..4].iter().map(|b| format!("{b:02x}")).collect();
    let mut cut = max - suffix.len() - 1;
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}_{suffix}", name.get(..cut).unwrap_or_default())
}

/// `name` shortened to the dialect's identifier limit.
pub fn fit_name(dialect: Dialect, name: &str) -> String {
    shorten(name, max_ident_bytes(dialect))
}

/// A name derived from `base` with `suffix` appended (e.g. `account` + `__events`), shortened
/// as a whole: the suffix is kept, the base is cut and hashed when needed.
pub fn derived_name(dialect: Dialect, base: &str, suffix: &str) -> String {
    let max = max_ident_bytes(dialect);
    let full = format!("{base}{suffix}");
    if full.len() <= max {
        return full;
    }
    format!("{}{suffix}", shorten(&full, max - suffix.len()))
}

/// Quote an identifier for `dialect` (after shortening it).
pub fn quote(dialect: Dialect, name: &str) -> String {
    let name = fit_name(dialect, name);
    match dialect {
        Dialect::Postgres | Dialect::Sqlite => format!("\"{}\"", name.replace('"', "\"\"")),
        Dialect::Mysql => format!("`{}`", name.replace('`', "``")),
    }
}

/// `schema.name`, both quoted.
pub fn qualified(dialect: Dialect, schema: &str, name: &str) -> String {
    format!("{}.{}", quote(dialect, schema), quote(dialect, name))
}

/// A string literal for DDL text (trigger bodies, defaults). PostgreSQL and SQLite use
/// standard quote doubling (PostgreSQL with `standard_conforming_strings`, on since 9.1; an
/// `E''` is never produced). MySQL uses a hex literal converted to utf8mb4 for anything that
/// is not plain ASCII letters, digits and `_`, which is safe whatever the `sql_mode`.
pub fn literal(dialect: Dialect, value: &str) -> String {
    match dialect {
        Dialect::Postgres | Dialect::Sqlite => format!("'{}'", value.replace('\'', "''")),
        Dialect::Mysql => {
            if value.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '_' | ' ' | '%' | '.' | '-' | ':')
            }) {
                format!("'{value}'")
            } else {
                let hex: String = value.bytes().map(|b| format!("{b:02X}")).collect();
                format!("CONVERT(X'{hex}' USING utf8mb4)")
            }
        }
    }
}

/// The MySQL account name for an org's sync user: at most 32 bytes (MySQL 5.7's limit),
/// ASCII only, stable for a given schema name.
pub fn mysql_sync_user(schema: &str) -> String {
    sync_user_name(schema, 32)
}

/// The PostgreSQL role name for an org's sync user.
pub fn postgres_sync_user(schema: &str) -> String {
    sync_user_name(schema, 63)
}

/// The MariaDB/MySQL application role for an org's database (MySQL 8 roles are accounts:
/// the same 32-byte limit).
pub fn mysql_app_role(schema: &str) -> String {
    role_name(schema, "app", 32)
}

/// The PostgreSQL application role for an org's schema.
pub fn postgres_app_role(schema: &str) -> String {
    role_name(schema, "app", 63)
}

fn sync_user_name(schema: &str, max: usize) -> String {
    role_name(schema, "sync", max)
}

/// `<schema>_<suffix>`, or — when the schema's name is not plain lower-case ASCII or the
/// result would be too long — a cut-down name with a hash of the schema's exact name.
fn role_name(schema: &str, suffix: &str, max: usize) -> String {
    let clean: String = schema
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let candidate = format!("{clean}_{suffix}");
    if candidate.len() <= max && clean == schema {
        return candidate;
    }
    let hash = Sha256::digest(schema.as_bytes());
    let hex: String = hash[..4].iter().map(|b| format!("{b:02x}")).collect();
    let keep = max - suffix.len() - 2 - hex.len();
    let prefix: String = clean.chars().take(keep).collect();
    format!("{prefix}_{suffix}_{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote(Dialect::Postgres, "a\"b"), "\"a\"\"b\"");
        assert_eq!(quote(Dialect::Mysql, "a`b"), "`a``b`");
        assert_eq!(quote(Dialect::Sqlite, "order"), "\"order\"");
    }

    #[test]
    fn long_names_are_shortened_stably() {
        let long = "x".repeat(100);
        let a = fit_name(Dialect::Postgres, &long);
        assert_eq!(a.len(), 63);
        assert_eq!(a, fit_name(Dialect::Postgres, &long));
        let other = format!("{}y", "x".repeat(99));
        assert_ne!(a, fit_name(Dialect::Postgres, &other));
        let uni = "ï".repeat(50);
        assert!(fit_name(Dialect::Mysql, &uni).len() <= 64);
        let ev = derived_name(Dialect::Postgres, &long, "__events");
        assert!(ev.ends_with("__events") && ev.len() <= 63);
    }

    #[test]
    fn mysql_literals() {
        assert_eq!(literal(Dialect::Mysql, "abc"), "'abc'");
        assert_eq!(
            literal(Dialect::Mysql, "a'b"),
            "CONVERT(X'612762' USING utf8mb4)"
        );
        assert_eq!(literal(Dialect::Postgres, "a'b"), "'a''b'");
    }

    #[test]
    fn sync_user_names() {
        assert_eq!(mysql_sync_user("datenator_acme"), "datenator_acme_sync");
        let long = mysql_sync_user(&"d".repeat(80));
        assert!(long.len() <= 32);
        assert_ne!(mysql_sync_user("a b"), mysql_sync_user("a_b"));
    }
}
