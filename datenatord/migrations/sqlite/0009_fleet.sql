-- The fleet: several daemons sharing one state database on PostgreSQL ([daemon] state_url).
-- One daemon on SQLite has the tables too and leaves them empty. Times are milliseconds
-- since the epoch on the state database's clock, so daemons never compare their own clocks.

-- The daemons of the fleet, each with its last heartbeat and what it reports of itself.
CREATE TABLE fleet_members (
    daemon_id    TEXT PRIMARY KEY,                 -- [daemon] name (default: the host name)
    host         TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    version      TEXT NOT NULL,
    started_ms   INTEGER NOT NULL,
    heartbeat_ms INTEGER NOT NULL,
    leaving      INTEGER NOT NULL DEFAULT 0,         -- 1 once it stops: its orgs move at once
    health_json  TEXT NOT NULL DEFAULT '{}'
);

-- Which daemon runs each org: the holder, a fencing token that only grows (a new holder
-- takes the next one; every write to the org's target database checks it), the expiry the
-- holder's heartbeat pushes forward. Kept after the org is deleted, so tokens never repeat.
CREATE TABLE fleet_leases (
    org_name   TEXT PRIMARY KEY,
    holder     TEXT,
    token      INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
);

-- The live per-object status of each org, written by the daemon that runs it, so any
-- daemon can show the whole fleet.
CREATE TABLE fleet_status (
    org_name     TEXT PRIMARY KEY,
    daemon_id    TEXT NOT NULL,
    objects_json TEXT NOT NULL,
    updated_ms   INTEGER NOT NULL
);

-- The operator's choice of daemon for an org (NULL: placed by rendezvous hashing).
ALTER TABLE orgs ADD COLUMN pinned_daemon TEXT;
