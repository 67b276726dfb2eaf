-- Objects whose creates may have reached Salesforce without the answer being recorded:
-- set before creates are sent, cleared once a push round has settled them. A daemon that
-- starts and finds a row here looks pending creates up before sending any again.
CREATE TABLE creates_in_doubt (
    org_name     TEXT NOT NULL REFERENCES orgs(name) ON DELETE CASCADE,
    object_name  TEXT NOT NULL,
    since        TEXT NOT NULL,
    PRIMARY KEY (org_name, object_name)
);
