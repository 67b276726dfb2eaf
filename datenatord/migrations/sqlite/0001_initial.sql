-- The daemon's own state. Secrets (tokens, passwords) live here and nowhere else; the file
-- is created with mode 0600 in a 0700 directory.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- One row per registered Salesforce org.
CREATE TABLE orgs (
    name                   TEXT PRIMARY KEY,          -- Datenator's name for the org
    org_id                 TEXT UNIQUE,               -- Salesforce 18-char org id
    org_type               TEXT NOT NULL,             -- production | sandbox | custom
    custom_domain          TEXT,                      -- for custom: My Domain or base URL
    instance_url           TEXT,
    username               TEXT,
    user_id                TEXT,
    sync_enabled           INTEGER NOT NULL DEFAULT 0,
    polling_interval_secs  INTEGER NOT NULL DEFAULT 60,
    api_budget_percent     INTEGER NOT NULL DEFAULT 50,
    needs_reauthorization  INTEGER NOT NULL DEFAULT 0,
    metadata_downloaded_at TEXT,
    api_used               INTEGER,
    api_max                INTEGER,
    created_at             TEXT NOT NULL,
    updated_at             TEXT NOT NULL
);

-- OAuth credentials of an org (never logged).
CREATE TABLE credentials (
    org_name         TEXT PRIMARY KEY REFERENCES orgs(name) ON DELETE CASCADE,
    flow             TEXT NOT NULL,                   -- device | web_server | jwt
    client_id        TEXT NOT NULL,
    client_secret    TEXT,
    refresh_token    TEXT,
    access_token     TEXT,
    issued_at        TEXT
);

-- The target database of an org, and the sync user provisioning created in it.
CREATE TABLE datasources (
    org_name         TEXT PRIMARY KEY REFERENCES orgs(name) ON DELETE CASCADE,
    settings_json    TEXT NOT NULL,                   -- datenator_shared::datasource settings
    sync_user        TEXT,
    sync_password    TEXT,
    checked_at       TEXT,
    check_ok         INTEGER,
    check_json       TEXT,                            -- the last check's per-item results
    schema_generated INTEGER NOT NULL DEFAULT 0,
    schema_error     TEXT
);

-- Cached Salesforce metadata: the describeGlobal entry and the describe of each object.
CREATE TABLE metadata_objects (
    org_name        TEXT NOT NULL REFERENCES orgs(name) ON DELETE CASCADE,
    object_name     TEXT NOT NULL,
    label           TEXT NOT NULL,
    global_json     TEXT NOT NULL,
    describe_json   TEXT,
    last_modified   TEXT,                             -- for If-Modified-Since
    downloaded_at   TEXT NOT NULL,
    PRIMARY KEY (org_name, object_name)
);

-- Object mappings: which fields of which object sync in which direction.
CREATE TABLE mappings (
    org_name        TEXT NOT NULL REFERENCES orgs(name) ON DELETE CASCADE,
    object_name     TEXT NOT NULL,
    table_name      TEXT NOT NULL,
    direction       TEXT NOT NULL,                    -- sf_to_db | db_to_sf | bidirectional
    conflict_policy TEXT NOT NULL DEFAULT 'newest_wins',
    row_filter      TEXT,
    fields_json     TEXT NOT NULL,
    applied         INTEGER NOT NULL DEFAULT 0,
    apply_error     TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (org_name, object_name)
);
