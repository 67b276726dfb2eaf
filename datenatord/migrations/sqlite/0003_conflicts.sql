-- Fields changed on both sides since the last sync, and how the mapping's policy settled them.
CREATE TABLE conflicts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    org_name     TEXT NOT NULL REFERENCES orgs(name) ON DELETE CASCADE,
    object_name  TEXT NOT NULL,
    sfid         TEXT NOT NULL,
    field        TEXT NOT NULL,
    db_value     TEXT,
    sf_value     TEXT,
    winner       TEXT NOT NULL,          -- salesforce | database
    policy       TEXT NOT NULL,
    at           TEXT NOT NULL
);
CREATE INDEX conflicts_by_org ON conflicts (org_name, id);
