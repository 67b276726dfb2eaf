//! The fleet's statements (see `crate::fleet`) on the shared state database (PostgreSQL only: a fleet's state
//! lives there). Times are the database's clock in milliseconds, so no two daemons ever
//! compare their own clocks.
use serde::{Deserialize, Serialize};
use sqlx::Row as _;

use super::{Store, StoreError};

/// Now on the state database's clock, in milliseconds since the epoch.
macro_rules! now_ms {
    () => {
        "(extract(epoch from clock_timestamp()) * 1000)::bigint"
    };
}

/// What a daemon says of itself with each heartbeat.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Health {
    /// Random per process: tells a restarted daemon from the one before it.
    pub instance: String,
    /// Orgs it runs now.
    pub orgs: usize,
    /// Clients connected to its socket.
    pub connections: usize,
}

/// A member row as read back.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: String,
    pub host: String,
    pub pid: i64,
    pub version: String,
    pub started_ms: i64,
    /// Milliseconds since its last heartbeat, on the database's clock.
    pub silent_ms: i64,
    pub leaving: bool,
    pub health: Health,
}

pub async fn member(store: &Store, id: &str) -> Result<Option<Member>, StoreError> {
    Ok(members(store).await?.into_iter().find(|m| m.id == id))
}

pub async fn members(store: &Store) -> Result<Vec<Member>, StoreError> {
    let rows = sqlx::query(store.sql(concat!(
        "SELECT daemon_id, host, pid, version, started_ms, ",
        now_ms!(),
        " - heartbeat_ms AS silent_ms, leaving, health_json FROM fleet_members ORDER BY daemon_id"
    )))
    .fetch_all(store.pool())
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(Member {
                id: r.try_get("daemon_id")?,
                host: r.try_get("host")?,
                pid: r.try_get("pid")?,
                version: r.try_get("version")?,
                started_ms: r.try_get("started_ms")?,
                silent_ms: r.try_get("silent_ms")?,
                leaving: r.try_get::<i64, _>("leaving")? != 0,
                health: serde_json::from_str(&r.try_get::<String, _>("health_json")?)
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// Says this daemon is alive (and not leaving), with its health.
pub async fn heartbeat(
    store: &Store,
    id: &str,
    host: &str,
    started_ms: i64,
    health: &Health,
) -> Result<(), StoreError> {
    sqlx::query(store.sql(concat!(
        "INSERT INTO fleet_members (daemon_id, host, pid, version, started_ms, heartbeat_ms, leaving, health_json)
         VALUES (?, ?, ?, ?, ?, ",
        now_ms!(),
        ", 0, ?)
         ON CONFLICT (daemon_id) DO UPDATE SET host = excluded.host, pid = excluded.pid,
             version = excluded.version, started_ms = excluded.started_ms,
             heartbeat_ms = excluded.heartbeat_ms, leaving = 0, health_json = excluded.health_json"
    )))
    .bind(id)
    .bind(host)
    .bind(i64::from(std::process::id()))
    .bind(crate::state::DAEMON_VERSION)
    .bind(started_ms)
    .bind(serde_json::to_string(health).unwrap_or_default())
    .execute(store.pool())
    .await?;
    Ok(())
}

/// Marks this daemon as leaving: the others take its orgs at once, not after the TTL.
pub async fn leave(store: &Store, id: &str) -> Result<(), StoreError> {
    sqlx::query(store.sql("UPDATE fleet_members SET leaving = 1 WHERE daemon_id = ?"))
        .bind(id)
        .execute(store.pool())
        .await?;
    Ok(())
}

/// The orgs with sync on, and the daemon each is pinned to, if any.
pub async fn enabled_orgs(store: &Store) -> Result<Vec<(String, Option<String>)>, StoreError> {
    Ok(sqlx::query_as(
        store.sql("SELECT name, pinned_daemon FROM orgs WHERE sync_enabled = 1 ORDER BY name"),
    )
    .fetch_all(store.pool())
    .await?)
}

/// Pins an org to a daemon (`None`: placed by hashing again).
pub async fn pin(store: &Store, org: &str, daemon: Option<&str>) -> Result<bool, StoreError> {
    let r = sqlx::query(store.sql("UPDATE orgs SET pinned_daemon = ? WHERE name = ?"))
        .bind(daemon)
        .bind(org)
        .execute(store.pool())
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Takes the org's lease when it is free or expired, with the next fencing token.
pub async fn acquire(
    store: &Store,
    org: &str,
    id: &str,
    ttl_ms: i64,
) -> Result<Option<i64>, StoreError> {
    Ok(sqlx::query_scalar(store.sql(concat!(
        "INSERT INTO fleet_leases (org_name, holder, token, expires_ms) VALUES (?, ?, 1, ",
        now_ms!(),
        " + ?)
         ON CONFLICT (org_name) DO UPDATE SET holder = excluded.holder,
             token = fleet_leases.token + 1, expires_ms = excluded.expires_ms
         WHERE fleet_leases.holder IS NULL OR fleet_leases.expires_ms < ",
        now_ms!(),
        " RETURNING token"
    )))
    .bind(org)
    .bind(id)
    .bind(ttl_ms)
    .fetch_optional(store.pool())
    .await?)
}

/// Renews every lease `id` holds that has not run out, in one statement: the (org, token)
/// of each lease renewed.
pub async fn renew_all(
    store: &Store,
    id: &str,
    ttl_ms: i64,
) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(sqlx::query_as(store.sql(concat!(
        "UPDATE fleet_leases SET expires_ms = ",
        now_ms!(),
        " + ? WHERE holder = ? AND expires_ms >= ",
        now_ms!(),
        " RETURNING org_name, token"
    )))
    .bind(ttl_ms)
    .bind(id)
    .fetch_all(store.pool())
    .await?)
}

/// Raises the org's token to at least `token` (the next holder takes the one after it).
pub async fn raise_token(store: &Store, org: &str, token: i64) -> Result<(), StoreError> {
    sqlx::query(store.sql("UPDATE fleet_leases SET token = GREATEST(token, ?) WHERE org_name = ?"))
        .bind(token)
        .bind(org)
        .execute(store.pool())
        .await?;
    Ok(())
}

/// Gives the lease up (the org's work stopped here): the next owner need not wait.
pub async fn release(store: &Store, org: &str, id: &str, token: i64) -> Result<(), StoreError> {
    sqlx::query(store.sql(
        "UPDATE fleet_leases SET holder = NULL, expires_ms = 0 WHERE org_name = ? AND holder = ? AND token = ?",
    ))
    .bind(org)
    .bind(id)
    .bind(token)
    .execute(store.pool())
    .await?;
    Ok(())
}

/// Who holds each live lease: (org, daemon).
pub async fn holders(store: &Store) -> Result<Vec<(String, String)>, StoreError> {
    Ok(sqlx::query_as(store.sql(concat!(
        "SELECT org_name, holder FROM fleet_leases WHERE holder IS NOT NULL AND expires_ms >= ",
        now_ms!()
    )))
    .fetch_all(store.pool())
    .await?)
}

/// Publishes the live status of an org this daemon runs.
pub async fn publish_status(
    store: &Store,
    org: &str,
    id: &str,
    objects_json: &str,
) -> Result<(), StoreError> {
    sqlx::query(store.sql(concat!(
        "INSERT INTO fleet_status (org_name, daemon_id, objects_json, updated_ms) VALUES (?, ?, ?, ",
        now_ms!(),
        ") ON CONFLICT (org_name) DO UPDATE SET daemon_id = excluded.daemon_id,
             objects_json = excluded.objects_json, updated_ms = excluded.updated_ms"
    )))
    .bind(org)
    .bind(id)
    .bind(objects_json)
    .execute(store.pool())
    .await?;
    Ok(())
}

/// The statuses other daemons published: (org, daemon, objects JSON).
pub async fn statuses(store: &Store) -> Result<Vec<(String, String, String)>, StoreError> {
    Ok(
        sqlx::query_as(store.sql("SELECT org_name, daemon_id, objects_json FROM fleet_status"))
            .fetch_all(store.pool())
            .await?,
    )
}

/// Asks the fleet's daemons to act (`LISTEN datenator_fleet`).
pub async fn notify(store: &Store, payload: &str) -> Result<(), StoreError> {
    sqlx::query(store.sql("SELECT pg_notify('datenator_fleet', ?)"))
        .bind(payload)
        .execute(store.pool())
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn fleet_store() -> Store {
        let url = crate::store::roundtrip_tests::fresh_pg_database("datenator_fleet").await;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k");
        std::fs::write(&key, [1u8; 32]).unwrap();
        Store::connect(&url, Some(&key), dir.path()).await.unwrap()
    }

    /// A lease is taken only when free or run out, each new holder with a bigger token;
    /// only its holder, with its token, renews it; a release frees it at once.
    #[tokio::test]
    async fn leases_go_to_one_holder_at_a_time_with_growing_tokens() {
        let store = fleet_store().await;
        let t1 = acquire(&store, "acme", "a", 60_000).await.unwrap().unwrap();
        assert_eq!(acquire(&store, "acme", "b", 60_000).await.unwrap(), None);
        let a_holds = |held: Vec<(String, i64)>| held == [("acme".to_owned(), t1)];
        assert!(a_holds(renew_all(&store, "a", 60_000).await.unwrap()));
        assert!(renew_all(&store, "b", 60_000).await.unwrap().is_empty());
        // Run out (renewed to a moment past): another daemon takes it, token + 1, and
        // the old holder can no longer renew.
        assert!(a_holds(renew_all(&store, "a", -1).await.unwrap()));
        let t2 = acquire(&store, "acme", "b", 60_000).await.unwrap().unwrap();
        assert!(t2 > t1);
        assert!(renew_all(&store, "a", 60_000).await.unwrap().is_empty());
        assert_eq!(
            holders(&store).await.unwrap(),
            [("acme".into(), "b".into())]
        );
        // A stale release does nothing; the holder's frees it for the next, token + 1.
        release(&store, "acme", "a", t1).await.unwrap();
        assert_eq!(acquire(&store, "acme", "c", 60_000).await.unwrap(), None);
        release(&store, "acme", "b", t2).await.unwrap();
        assert!(holders(&store).await.unwrap().is_empty());
        let t3 = acquire(&store, "acme", "c", 60_000).await.unwrap().unwrap();
        assert!(t3 > t2);
    }

    #[tokio::test]
    async fn members_heartbeat_and_leave() {
        let store = fleet_store().await;
        let health = Health {
            instance: "i1".into(),
            orgs: 2,
            connections: 1,
        };
        heartbeat(&store, "a", "host-a", 1, &health).await.unwrap();
        heartbeat(&store, "a", "host-a", 1, &health).await.unwrap();
        let m = member(&store, "a").await.unwrap().unwrap();
        assert_eq!((m.host.as_str(), m.leaving), ("host-a", false));
        assert_eq!(m.health, health);
        assert!(m.silent_ms < 5_000, "{}", m.silent_ms);
        leave(&store, "a").await.unwrap();
        assert!(member(&store, "a").await.unwrap().unwrap().leaving);
        publish_status(&store, "acme", "a", "[]").await.unwrap();
        publish_status(&store, "acme", "b", "[1]").await.unwrap();
        assert_eq!(
            statuses(&store).await.unwrap(),
            [("acme".into(), "b".into(), "[1]".into())]
        );
        notify(&store, "wake:acme").await.unwrap();
    }
}
