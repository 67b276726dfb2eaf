-- MariaDB/MySQL: the host set for the org's sync account (NULL: the host the daemon
-- connects from, as the server sees it) and the host the generated account has.
ALTER TABLE datasources ADD COLUMN sync_host TEXT;
ALTER TABLE datasources ADD COLUMN sync_account_host TEXT;
-- The application role generated with the schema (read/write on the data tables).
ALTER TABLE datasources ADD COLUMN app_role TEXT;
-- 1 while a "refresh credentials" flow runs for an org whose stored credentials worked
-- when it started: sync goes on with them, and they stay if the refresh fails.
ALTER TABLE orgs ADD COLUMN refresh_keeps_credentials BIGINT NOT NULL DEFAULT 0;
