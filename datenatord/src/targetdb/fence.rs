//! Fencing tokens: in fleet mode each org is run by one daemon holding a lease with a
//! fencing token (an `i64` that only grows; a new holder gets a bigger one). The target keeps
//! the newest token beside the cursor, as the cursor table's row [`FENCE_KEY`] (`last_id` =
//! the token in decimal), and every write transaction of the engine's checks it first:
//!
//! * [`AnyTarget::claim_fence`]: a new holder, before any write, takes the row for update
//!   and raises it to its token (refused when a bigger one is stored).
//! * With a fence set ([`AnyTarget::with_fence`]), each engine transaction starts by reading
//!   the row with a share lock (PostgreSQL `FOR SHARE`, MariaDB/MySQL `LOCK IN SHARE
//!   MODE`; SQLite runs one writer at a time) and rolls back with [`TargetError::Fenced`]
//!   when the stored token is bigger than its own. The lock, held until the commit, makes a
//!   new holder's claim wait for an old holder's transaction in flight; every later
//!   transaction of the old holder sees the new token and fails. On PostgreSQL a fenced
//!   transaction also sets `idle_in_transaction_session_timeout`, on MariaDB/MySQL the
//!   session's `wait_timeout` (set back when the connection returns to the pool), so a frozen
//!   daemon holding one open cannot keep the claim waiting for long: the server ends the
//!   idle transaction, and with it the lock. A PostgreSQL claim kept waiting anyway (the
//!   old holder's statement itself waits, or it was frozen mid-`COPY`) gives up after
//!   [`PG_FENCE_CLAIM_SETUP`]'s `lock_timeout`, ends the older holders' transactions
//!   (`Bookkeeping::end_stale_holders`) and claims again.
//!
//! Without a fence (one daemon, the default) nothing of this runs. The shared code that
//! reads, checks and claims is in [`Bookkeeping`](super::bookkeeping::Bookkeeping)
//! (`begin`, `fence_tx`, `claim_fence`); the statements are here.

use super::{AnyTarget, CURSOR_TABLE, Dialect, TargetError, ident, now_sql, placeholder};

/// The fencing token of the lease under which the engine writes (fleet mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fence(pub i64);

/// The cursor table's key of the fence row. No Salesforce object name holds a `:`, so it
/// never meets an object's cursor (`<Object>`) or stream position (`<Object>/stream`).
pub const FENCE_KEY: &str = ":fence";

/// The statement a fenced PostgreSQL transaction starts with: a daemon frozen (SIGSTOP)
/// with a transaction open loses it after a while, and with it the share lock that keeps a
/// new holder's claim waiting.
/// It also names the transaction's session by its token (`application_name`, `$1` =
/// [`fence_tag`], back to the pool's name at the end of the transaction): how a new
/// holder's claim tells an older holder's transactions from anyone else's.
pub(crate) const PG_FENCED_TX_SETUP: &str = "SELECT set_config('idle_in_transaction_session_timeout', '10s', true), set_config('application_name', $1, true)";

/// The session name a fenced PostgreSQL transaction carries (see [`PG_FENCED_TX_SETUP`]).
pub(crate) fn fence_tag(fence: Fence) -> String {
    format!("{FENCE_TAG_PREFIX}{}", fence.0)
}

/// What [`fence_tag`] starts with.
pub(crate) const FENCE_TAG_PREFIX: &str = "datenator-fence:";

/// What a PostgreSQL claim starts with besides [`PG_FENCED_TX_SETUP`]: the claim waits
/// for the old holder's transaction, but not for ever (its statement may itself wait on an
/// application's lock, or the server on the rest of its `COPY`, where no idle timeout
/// applies); then the older holders' transactions are ended and the claim runs again.
/// MariaDB/MySQL bound the wait by `innodb_lock_wait_timeout` (50 s by default).
pub(crate) const PG_FENCE_CLAIM_SETUP: &str = "SET LOCAL lock_timeout = '20s'";

/// The same for MariaDB/MySQL, which has no timeout for idle transactions: the server drops
/// a connection that waits longer than `wait_timeout` for its next statement (8 hours by
/// default), rolling its transaction back. A session setting, it outlives the transaction:
/// the engine's pool sets it back with [`MYSQL_SESSION_RESET`] when the connection returns.
pub(crate) const MYSQL_FENCED_TX_SETUP: &str = "SET SESSION wait_timeout = 10";

/// What a connection that ran [`MYSQL_FENCED_TX_SETUP`] runs when it returns to the pool.
pub(crate) const MYSQL_SESSION_RESET: &str = "SET SESSION wait_timeout = @@GLOBAL.wait_timeout";

impl Fence {
    /// The token as stored in the cursor table's `last_id` (`varchar(18)`): in decimal, at
    /// most 18 characters.
    pub(crate) fn stored_text(self) -> Result<String, TargetError> {
        let text = self.0.to_string();
        if text.len() > 18 {
            return Err(TargetError::BadValue {
                field: "the fencing token".into(),
                value: text,
                expected: "a number of at most 18 characters (the cursor table's last_id)".into(),
            });
        }
        Ok(text)
    }

    /// `Err(Fenced)` when `stored` is newer than this token.
    pub(crate) fn check(self, stored: i64) -> Result<(), TargetError> {
        if stored > self.0 {
            return Err(TargetError::Fenced {
                ours: self.0,
                stored,
            });
        }
        Ok(())
    }
}

/// The stored token read back: missing = 0.
pub(crate) fn parse_stored(last_id: Option<String>) -> Result<i64, TargetError> {
    let Some(text) = last_id else {
        return Ok(0);
    };
    text.trim().parse().map_err(|_| TargetError::BadValue {
        field: format!("{CURSOR_TABLE}.last_id of '{FENCE_KEY}'"),
        value: text,
        expected: "a fencing token (a whole number; was the row written by hand?)".into(),
    })
}

/// The stored token (bind: [`FENCE_KEY`]), read with `lock` after it (`""`, or the
/// dialect's share or update lock clause).
pub(crate) fn read_fence_sql(d: Dialect, cursor_table: &str, lock: &str) -> String {
    format!(
        "SELECT {} FROM {cursor_table} WHERE {} = {}{lock}",
        ident::quote(d, "last_id"),
        ident::quote(d, "object"),
        placeholder(d, 1)
    )
}

/// The fence row raised to a token (binds: the token's text, [`FENCE_KEY`]).
pub(crate) fn update_fence_sql(d: Dialect, cursor_table: &str) -> String {
    let now = now_sql(d);
    format!(
        "UPDATE {cursor_table} SET {} = {}, {} = {now}, {} = {now} WHERE {} = {}",
        ident::quote(d, "last_id"),
        placeholder(d, 1),
        ident::quote(d, "systemmodstamp"),
        ident::quote(d, "updated_at"),
        ident::quote(d, "object"),
        placeholder(d, 2)
    )
}

/// The fence row created with a token (binds: the token's text, [`FENCE_KEY`]).
pub(crate) fn insert_fence_sql(d: Dialect, cursor_table: &str) -> String {
    let now = now_sql(d);
    format!(
        "INSERT INTO {cursor_table} ({}, {}, {}, {}) VALUES ({}, {}, {now}, {now})",
        ident::quote(d, "last_id"),
        ident::quote(d, "object"),
        ident::quote(d, "systemmodstamp"),
        ident::quote(d, "updated_at"),
        placeholder(d, 1),
        placeholder(d, 2)
    )
}

/// Whether `e` says the table read is missing (the org's schema is not generated).
pub(crate) fn is_missing_table(e: &sqlx::Error) -> bool {
    let Some(db) = e.as_database_error() else {
        return false;
    };
    // PostgreSQL: undefined_table; MariaDB/MySQL: ER_NO_SUCH_TABLE; SQLite says so.
    matches!(db.code().as_deref(), Some("42P01") | Some("42S02"))
        || db.message().contains("no such table")
}

/// Whether `e` says a lock wait timed out (PostgreSQL's `lock_timeout`, MariaDB/MySQL's
/// `innodb_lock_wait_timeout`).
pub(crate) fn is_lock_timeout(e: &sqlx::Error) -> bool {
    let Some(db) = e.as_database_error() else {
        return false;
    };
    db.code().as_deref() == Some("55P03")
        || db
            .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
            .is_some_and(|m| m.number() == 1205)
}

/// What a claim that waited too long for the old holder's transaction says.
pub(crate) fn claim_waited() -> TargetError {
    TargetError::Busy(
        "taking the org over: a transaction of the daemon that ran it before (perhaps frozen, or waiting on another application's lock) still holds the target's fencing token; the claim is tried again until it ends".into(),
    )
}

/// Whether a claim that failed with `e` may simply run again: a concurrent claimer created
/// the row first, or the database chose this claim as a deadlock's victim.
pub(crate) fn claim_may_retry(e: &TargetError) -> bool {
    let TargetError::Database { source, .. } = e else {
        return false;
    };
    source.as_database_error().is_some_and(|db| {
        db.is_unique_violation() || matches!(db.code().as_deref(), Some("40001") | Some("40P01"))
    })
}

impl AnyTarget {
    /// This target's engine writes carry `fence` from now on: every write transaction checks
    /// first that no newer token is stored, and fails with [`TargetError::Fenced`] (writing
    /// nothing) if one is.
    pub fn with_fence(mut self, fence: Fence) -> AnyTarget {
        match &mut self {
            AnyTarget::Postgres(t) => t.set_fence(fence),
            AnyTarget::Mysql(t) => t.set_fence(fence),
            AnyTarget::Sqlite(t) => t.set_fence(fence),
        }
        self
    }

    /// The fence this target's writes carry, if any.
    pub fn fence(&self) -> Option<Fence> {
        use super::bookkeeping::Bookkeeping;
        match self {
            AnyTarget::Postgres(t) => t.fence(),
            AnyTarget::Mysql(t) => t.fence(),
            AnyTarget::Sqlite(t) => t.fence(),
        }
    }

    /// A new lease holder raises the fence stored in the target to its token before any
    /// write; `Err(TargetError::Fenced{..})` when a bigger token is already stored. Waits
    /// for the engine transactions in flight of an older holder (PostgreSQL, MariaDB/MySQL).
    /// Needs the org's schema generated (the cursor table), and a fence
    /// ([`with_fence`](AnyTarget::with_fence)).
    pub async fn claim_fence(&self) -> Result<(), TargetError> {
        self.claim(false).await
    }

    /// [`claim_fence`](AnyTarget::claim_fence) under a lease just taken: its token is new,
    /// so finding it stored already means another holder has it too (the state database
    /// was restored to an older point) — refused with [`TargetError::Fenced`] as well.
    pub async fn claim_fence_for_new_lease(&self) -> Result<(), TargetError> {
        self.claim(true).await
    }

    async fn claim(&self, new_lease: bool) -> Result<(), TargetError> {
        use super::bookkeeping::Bookkeeping;
        match self {
            AnyTarget::Postgres(t) => t.claim_fence(new_lease).await,
            AnyTarget::Mysql(t) => t.claim_fence(new_lease).await,
            AnyTarget::Sqlite(t) => t.claim_fence(new_lease).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_per_dialect() {
        assert_eq!(
            read_fence_sql(
                Dialect::Postgres,
                "\"s\".\"_datenator_cursor\"",
                " FOR SHARE"
            ),
            "SELECT \"last_id\" FROM \"s\".\"_datenator_cursor\" WHERE \"object\" = $1 FOR SHARE"
        );
        assert_eq!(
            read_fence_sql(Dialect::Mysql, "`s`.`c`", " LOCK IN SHARE MODE"),
            "SELECT `last_id` FROM `s`.`c` WHERE `object` = ? LOCK IN SHARE MODE"
        );
        assert_eq!(
            update_fence_sql(Dialect::Sqlite, "\"c\""),
            "UPDATE \"c\" SET \"last_id\" = ?, \"systemmodstamp\" = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), \"updated_at\" = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE \"object\" = ?"
        );
        assert_eq!(
            insert_fence_sql(Dialect::Postgres, "c"),
            "INSERT INTO c (\"last_id\", \"object\", \"systemmodstamp\", \"updated_at\") VALUES ($1, $2, now(), now())"
        );
    }

    #[test]
    fn tokens_compare_and_fit_the_column() {
        assert!(Fence(2).check(2).is_ok());
        assert!(Fence(2).check(0).is_ok());
        match Fence(2).check(3) {
            Err(TargetError::Fenced { ours: 2, stored: 3 }) => {}
            other => panic!("{other:?}"),
        }
        let msg = Fence(2).check(3).unwrap_err().to_string();
        assert!(
            msg.contains("another daemon") && msg.contains('3') && msg.contains('2'),
            "{msg}"
        );
        assert_eq!(Fence(42).stored_text().unwrap(), "42");
        assert!(Fence(999_999_999_999_999_999).stored_text().is_ok());
        assert!(Fence(i64::MAX).stored_text().is_err());
        assert_eq!(fence_tag(Fence(42)), "datenator-fence:42");
        // PostgreSQL keeps 63 bytes of an application_name: the longest token fits.
        assert!(fence_tag(Fence(999_999_999_999_999_999)).len() <= 63);
        assert_eq!(parse_stored(None).unwrap(), 0);
        assert_eq!(parse_stored(Some("17".into())).unwrap(), 17);
        assert!(parse_stored(Some("001xyz".into())).is_err());
    }
}
