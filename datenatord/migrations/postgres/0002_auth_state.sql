-- Where each org's authorization stands (see datenator_shared::model::AuthState), kept as
-- JSON so pending steps (device code, authorize URL) survive a daemon restart.
ALTER TABLE orgs ADD COLUMN auth_json TEXT NOT NULL DEFAULT '{"state":"authorized"}';
-- JWT bearer flow: the user the app acts as.
ALTER TABLE credentials ADD COLUMN username TEXT;
