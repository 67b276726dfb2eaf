-- Mapped fields Salesforce no longer has or shows (deleted, or access taken away), found
-- when a query was refused with INVALID_FIELD: left out of the object's queries, their
-- columns and values kept, until the mapping is saved or removed.
CREATE TABLE removed_fields (
    org_name     TEXT NOT NULL REFERENCES orgs(name) ON DELETE CASCADE,
    object_name  TEXT NOT NULL,
    field_name   TEXT NOT NULL,
    since        TEXT NOT NULL,
    PRIMARY KEY (org_name, object_name, field_name)
);
