-- Fields added to a mapping whose existing rows still wait for their Salesforce values:
-- written when the mapping is saved, advanced page by page as the backfill writes them
-- (`after_id`: the greatest Id written by a REST backfill, read in Id order), removed
-- when it is done. A daemon that starts and finds a row here goes on from `after_id`.
CREATE TABLE backfills (
    org_name     TEXT NOT NULL REFERENCES orgs(name) ON DELETE CASCADE,
    object_name  TEXT NOT NULL,
    fields_json  TEXT NOT NULL,
    total        INTEGER NOT NULL DEFAULT 0,
    done         INTEGER NOT NULL DEFAULT 0,
    after_id     TEXT NOT NULL DEFAULT '',
    since        TEXT NOT NULL,
    PRIMARY KEY (org_name, object_name)
);
