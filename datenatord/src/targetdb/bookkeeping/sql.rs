//! The bookkeeping statements every dialect runs alike — they differ only in quoting,
//! placeholders and the clock — built once here for a dialect, given qualified table
//! names: the pull cursor, claimed events put back, events done or failed, counts, purges,
//! a create's sfid written back. Integer ids are written as literals (the same text in
//! every dialect); anything else is bound, in the order each function names.
use crate::targetdb::{Dialect, ident, now_sql, placeholder};

fn c(dialect: Dialect, name: &str) -> String {
    ident::quote(dialect, name)
}

fn id_list(ids: &[i64]) -> String {
    if ids.is_empty() {
        return "NULL".to_owned();
    }
    ids.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The object's pull cursor (bind: the object): `systemmodstamp`, `last_id`.
pub(crate) fn read_cursor_sql(d: Dialect, cursor_table: &str) -> String {
    format!(
        "SELECT {}, {} FROM {cursor_table} WHERE {} = {}",
        c(d, "systemmodstamp"),
        c(d, "last_id"),
        c(d, "object"),
        placeholder(d, 1)
    )
}

/// Claimed events back to new (no binds).
pub(crate) fn requeue_claimed_sql(d: Dialect, events: &str) -> String {
    format!(
        "UPDATE {events} SET {state} = 'NEW', {} = NULL, {} = NULL WHERE {state} = 'CLAIMED'",
        c(d, "claim_token"),
        c(d, "claimed_at"),
        state = c(d, "state"),
    )
}

/// These events done (no binds); `note`, when given, says why they were not sent.
pub(crate) fn mark_done_sql(d: Dialect, events: &str, ids: &[i64], note: Option<&str>) -> String {
    format!(
        "UPDATE {events} SET {} = 'DONE', {} = {}, {} = {} WHERE {} IN ({})",
        c(d, "state"),
        c(d, "error"),
        note.map_or_else(|| "NULL".to_owned(), |n| ident::literal(d, n)),
        c(d, "processed_at"),
        now_sql(d),
        c(d, "id"),
        id_list(ids)
    )
}

/// One event failed (binds: the error, the event's id).
pub(crate) fn mark_failed_sql(d: Dialect, events: &str) -> String {
    format!(
        "UPDATE {events} SET {} = 'FAILED', {} = {}, {} = {} WHERE {} = {}",
        c(d, "state"),
        c(d, "error"),
        placeholder(d, 1),
        c(d, "processed_at"),
        now_sql(d),
        c(d, "id"),
        placeholder(d, 2)
    )
}

/// The failed event's row says so (binds: the error, the event's id).
pub(crate) fn row_failed_sql(d: Dialect, table: &str, events: &str) -> String {
    format!(
        "UPDATE {table} SET {} = 'FAILED', {} = {} WHERE {id} = (SELECT {} FROM {events} WHERE {id} = {})",
        c(d, "_dn_state"),
        c(d, "_dn_error"),
        placeholder(d, 1),
        c(d, "row_id"),
        placeholder(d, 2),
        id = c(d, "id"),
    )
}

/// Unfinished events per state (no binds): `state`, count.
pub(crate) fn event_counts_sql(d: Dialect, events: &str) -> String {
    let state = c(d, "state");
    format!("SELECT {state}, COUNT(*) FROM {events} WHERE {state} <> 'DONE' GROUP BY {state}")
}

/// Done events processed before a time (bind: the time).
pub(crate) fn purge_events_sql(d: Dialect, events: &str) -> String {
    format!(
        "DELETE FROM {events} WHERE {} = 'DONE' AND {} < {}",
        c(d, "state"),
        c(d, "processed_at"),
        placeholder(d, 1)
    )
}

/// A create's sfid on its row, synced (binds: the sfid, the row's id).
pub(crate) fn sfid_written_sql(d: Dialect, table: &str) -> String {
    format!(
        "UPDATE {table} SET {} = {}, {} = 'SYNCED', {} = NULL WHERE {} = {}",
        c(d, "sfid"),
        placeholder(d, 1),
        c(d, "_dn_state"),
        c(d, "_dn_error"),
        c(d, "id"),
        placeholder(d, 2)
    )
}

/// The object's failed events, oldest first (bind: the limit), in the column order
/// [`Bookkeeping::raw_event`](super::Bookkeeping::raw_event) reads, then the error.
/// `json_text` follows each JSON column to read it as text (PostgreSQL: `::text`).
pub(crate) fn failed_events_sql(d: Dialect, events: &str, json_text: &str) -> String {
    format!(
        "SELECT {}, {}, {}, {}, {}{json_text}, {}{json_text}, {}{json_text}, {}, {}, {} FROM {events} WHERE {} = 'FAILED' ORDER BY {} LIMIT {}",
        c(d, "id"),
        c(d, "op"),
        c(d, "row_id"),
        c(d, "sfid"),
        c(d, "changed"),
        c(d, "old_values"),
        c(d, "new_values"),
        c(d, "db_user"),
        c(d, "created_at"),
        c(d, "error"),
        c(d, "state"),
        c(d, "id"),
        placeholder(d, 1)
    )
}

/// The rows of a data table (no binds).
pub(crate) fn row_count_sql(table: &str) -> String {
    format!("SELECT COUNT(*) FROM {table}")
}

/// The sfids of a data table's rows (no binds); with `read_back`, only of rows read from
/// Salesforce (they have a stamp).
pub(crate) fn synced_sfids_sql(d: Dialect, table: &str, read_back: bool) -> String {
    let read_back = if read_back {
        format!(" AND {} IS NOT NULL", c(d, "systemmodstamp"))
    } else {
        String::new()
    };
    let sfid = c(d, "sfid");
    format!("SELECT {sfid} FROM {table} WHERE {sfid} IS NOT NULL{read_back}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_dialect_gets_its_quoting_placeholders_and_clock() {
        assert_eq!(
            mark_failed_sql(Dialect::Postgres, "\"s\".\"e\""),
            "UPDATE \"s\".\"e\" SET \"state\" = 'FAILED', \"error\" = $1, \"processed_at\" = now() WHERE \"id\" = $2"
        );
        assert_eq!(
            mark_done_sql(Dialect::Mysql, "`s`.`e`", &[3, 4], None),
            "UPDATE `s`.`e` SET `state` = 'DONE', `error` = NULL, `processed_at` = UTC_TIMESTAMP(3) WHERE `id` IN (3, 4)"
        );
        assert!(mark_done_sql(Dialect::Sqlite, "\"e\"", &[], None).ends_with("IN (NULL)"));
        assert!(
            mark_done_sql(Dialect::Postgres, "e", &[1], Some("it's"))
                .contains("\"error\" = 'it''s'")
        );
        assert_eq!(
            read_cursor_sql(Dialect::Sqlite, "\"c\""),
            "SELECT \"systemmodstamp\", \"last_id\" FROM \"c\" WHERE \"object\" = ?"
        );
    }
}
