-- Re-reads of an object from Salesforce still to run: asked for by the user (a re-sync) or
-- by a row filter change (which also says what becomes of the rows that left the filter).
-- Durable: a stop before the re-read starts it after the restart.
CREATE TABLE reloads (
    org_name     TEXT NOT NULL REFERENCES orgs(name) ON DELETE CASCADE,
    object_name  TEXT NOT NULL,
    -- 'detach' or 'delete': what becomes of rows whose record left the row filter.
    leaving      TEXT NOT NULL,
    -- The row filter the re-read is for: it runs once the worker's mapping has it (a
    -- mapping change records its re-read just before the mapping itself).
    row_filter   TEXT,
    since        TEXT NOT NULL,
    PRIMARY KEY (org_name, object_name)
);

-- Rows kept in the database after their record left the row filter: never refreshed, their
-- database changes never sent. A record that matches the filter again is synced again.
CREATE TABLE detached_rows (
    org_name     TEXT NOT NULL REFERENCES orgs(name) ON DELETE CASCADE,
    object_name  TEXT NOT NULL,
    sfid         TEXT NOT NULL,
    since        TEXT NOT NULL,
    PRIMARY KEY (org_name, object_name, sfid)
);
