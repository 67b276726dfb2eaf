//! The bookkeeping statements every dialect runs alike — they differ only in quoting,
//! placeholders and the clock — built once here for a dialect, given qualified table
//! names: the pull cursor, claimed events put back, events done or failed, counts, purges,
//! creates' sfids written back. Integer ids are written as literals (the same text in
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

/// Forgets an object's pull cursor in a schema change (no binds: a plan's statements are
/// text of their own, the object written as a literal).
pub(crate) fn forget_cursor_sql(d: Dialect, cursor_table: &str, object: &str) -> String {
    // The change-event stream's position goes too: a new table starts from a first load.
    format!(
        "DELETE FROM {cursor_table} WHERE {} IN ({}, {})",
        c(d, "object"),
        ident::literal(d, object),
        ident::literal(d, &crate::targetdb::stream_key(object))
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

/// The placeholders of `n` bound values, in order.
fn bound(d: Dialect, n: usize) -> Vec<String> {
    (1..=n).map(|i| placeholder(d, i)).collect()
}

/// `CASE {column} WHEN {key} THEN {value} … END`: each key given its value, the first
/// matching key winning.
fn case(column: &str, pairs: impl IntoIterator<Item = (String, String)>) -> String {
    let whens: String = pairs
        .into_iter()
        .map(|(key, value)| format!(" WHEN {key} THEN {value}"))
        .collect();
    format!("CASE {column}{whens} END")
}

/// These events failed (binds: their errors, in the order of `ids`). No id twice.
pub(crate) fn events_failed_sql(d: Dialect, events: &str, ids: &[i64]) -> String {
    let id = c(d, "id");
    let errors = case(&id, ids.iter().map(i64::to_string).zip(bound(d, ids.len())));
    format!(
        "UPDATE {events} SET {} = 'FAILED', {} = {errors}, {} = {} WHERE {id} IN ({})",
        c(d, "state"),
        c(d, "error"),
        c(d, "processed_at"),
        now_sql(d),
        id_list(ids)
    )
}

/// The rows of these failed events say so (binds: the events' errors, in the order of
/// `ids`); a row with several of them gets the error of the last in `ids`, as when each
/// was marked in turn.
pub(crate) fn rows_failed_sql(d: Dialect, table: &str, events: &str, ids: &[i64]) -> String {
    let (id, row_id) = (c(d, "id"), c(d, "row_id"));
    let row_of = |e: &i64| format!("(SELECT {row_id} FROM {events} WHERE {id} = {e})");
    // Last first: CASE takes the first key that matches.
    let errors = case(&id, ids.iter().rev().map(row_of).zip(bound(d, ids.len())));
    format!(
        "UPDATE {table} SET {} = 'FAILED', {} = {errors} WHERE {id} IN (SELECT {row_id} FROM {events} WHERE {id} IN ({}))",
        c(d, "_dn_state"),
        c(d, "_dn_error"),
        id_list(ids)
    )
}

/// Removes other rows already holding the sfids creates are being given (binds: the sfids,
/// in the order of `rows`, the created rows' ids): a pull brought a record in as a row of
/// its own before the create's answer was known. The created row, with the local changes,
/// is the one that stays. (The created rows hold no sfid of the batch yet.)
pub(crate) fn duplicate_rows_sql(d: Dialect, table: &str, rows: &[i64]) -> String {
    let id = c(d, "id");
    format!(
        "DELETE FROM {table} WHERE {} IN ({}) AND {id} NOT IN ({})",
        c(d, "sfid"),
        bound(d, rows.len()).join(", "),
        id_list(rows)
    )
}

/// Creates' sfids on their rows, synced (binds: the sfids, in the order of `rows`). No row
/// twice.
pub(crate) fn sfids_written_sql(d: Dialect, table: &str, rows: &[i64]) -> String {
    let id = c(d, "id");
    let sfids = case(
        &id,
        rows.iter().map(i64::to_string).zip(bound(d, rows.len())),
    );
    format!(
        "UPDATE {table} SET {} = {sfids}, {} = 'SYNCED', {} = NULL WHERE {id} IN ({})",
        c(d, "sfid"),
        c(d, "_dn_state"),
        c(d, "_dn_error"),
        id_list(rows)
    )
}

/// Gives the rows' unfinished events the sfids their creates were just given (binds: the
/// sfids, in the order of `rows`). A change made while a create was in flight — an
/// update, a delete — was recorded without an sfid; from here on it goes to that record
/// instead of being taken for part of a create. Run in the transaction that writes the
/// sfids onto the rows: a writer holding a row then either committed its event before
/// (and this finds it) or waits for the row and records the sfid itself.
pub(crate) fn events_take_sfids_sql(d: Dialect, events: &str, rows: &[i64]) -> String {
    let (row_id, sfid) = (c(d, "row_id"), c(d, "sfid"));
    let sfids = case(
        &row_id,
        rows.iter().map(i64::to_string).zip(bound(d, rows.len())),
    );
    format!(
        "UPDATE {events} SET {sfid} = {sfids} WHERE {row_id} IN ({}) AND {sfid} IS NULL AND {} <> 'DONE'",
        id_list(rows),
        c(d, "state")
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
            events_failed_sql(Dialect::Postgres, "\"s\".\"e\"", &[7, 9]),
            "UPDATE \"s\".\"e\" SET \"state\" = 'FAILED', \"error\" = CASE \"id\" WHEN 7 THEN $1 WHEN 9 THEN $2 END, \"processed_at\" = now() WHERE \"id\" IN (7, 9)"
        );
        assert_eq!(
            rows_failed_sql(Dialect::Sqlite, "\"t\"", "\"e\"", &[7, 9]),
            "UPDATE \"t\" SET \"_dn_state\" = 'FAILED', \"_dn_error\" = CASE \"id\" WHEN (SELECT \"row_id\" FROM \"e\" WHERE \"id\" = 9) THEN ? WHEN (SELECT \"row_id\" FROM \"e\" WHERE \"id\" = 7) THEN ? END WHERE \"id\" IN (SELECT \"row_id\" FROM \"e\" WHERE \"id\" IN (7, 9))"
        );
        assert_eq!(
            duplicate_rows_sql(Dialect::Mysql, "`t`", &[3, 4]),
            "DELETE FROM `t` WHERE `sfid` IN (?, ?) AND `id` NOT IN (3, 4)"
        );
        assert_eq!(
            sfids_written_sql(Dialect::Postgres, "t", &[3, 4]),
            "UPDATE t SET \"sfid\" = CASE \"id\" WHEN 3 THEN $1 WHEN 4 THEN $2 END, \"_dn_state\" = 'SYNCED', \"_dn_error\" = NULL WHERE \"id\" IN (3, 4)"
        );
        assert_eq!(
            events_take_sfids_sql(Dialect::Postgres, "e", &[3]),
            "UPDATE e SET \"sfid\" = CASE \"row_id\" WHEN 3 THEN $1 END WHERE \"row_id\" IN (3) AND \"sfid\" IS NULL AND \"state\" <> 'DONE'"
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
