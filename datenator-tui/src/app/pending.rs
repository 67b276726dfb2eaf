//! What each request in flight was for: how the status line names it while it runs,
//! and how its failure is worded.
/// What a request in flight was for: how its reply is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pending {
    Register {
        org: String,
    },
    Reauthorize {
        org: String,
    },
    CompleteAuthorization {
        org: String,
    },
    Delete {
        org: String,
    },
    MetadataDownload {
        org: String,
    },
    MetadataObjects {
        org: String,
    },
    DatasourceGet {
        org: String,
    },
    DatasourceSet {
        org: String,
    },
    DatasourceSyncHost {
        org: String,
    },
    DatasourceCheck {
        org: String,
    },
    SchemaGenerate {
        org: String,
    },
    SetSync {
        org: String,
        enabled: bool,
    },
    SyncNow {
        org: String,
    },
    /// `daemon`: the daemon asked for (`None`: placed by the fleet).
    OrgPin {
        org: String,
        daemon: Option<String>,
    },
    OrgSettings {
        org: String,
    },
    MappingList {
        org: String,
    },
    MetadataFields {
        org: String,
        object: String,
    },
    MappingPlan {
        org: String,
        object: String,
        remove: bool,
    },
    MappingApply {
        org: String,
        object: String,
        remove: bool,
    },
    FailedList {
        org: String,
    },
    /// `all`: every failed change of the object, else the selected one.
    FailedRetry {
        org: String,
        object: String,
        all: bool,
    },
    FailedIgnore {
        org: String,
        object: String,
    },
    ConflictList {
        org: String,
    },
    RecentChanges {
        org: String,
        object: String,
    },
    SchemaCheck {
        org: String,
    },
    /// The plan of re-reading an object from Salesforce.
    ResyncPlan {
        org: String,
        object: String,
    },
    /// Starting the re-read.
    ResyncStart {
        org: String,
        object: String,
    },
}

impl Pending {
    /// What the status line says while waiting.
    pub fn label(&self) -> String {
        match self {
            Pending::Register { org } => format!("registering {org}"),
            Pending::Reauthorize { org } => format!("starting authorization of {org}"),
            Pending::CompleteAuthorization { org } => format!("completing authorization of {org}"),
            Pending::Delete { org } => format!("deleting {org}"),
            Pending::MetadataDownload { org } => format!("downloading metadata of {org}"),
            Pending::MetadataObjects { org } => format!("loading objects of {org}"),
            Pending::DatasourceGet { org } => format!("loading the datasource of {org}"),
            Pending::DatasourceSet { org } => format!("saving the datasource of {org}"),
            Pending::DatasourceSyncHost { org } => {
                format!("setting the sync user's host of {org}")
            }
            Pending::DatasourceCheck { org } => format!("checking the datasource of {org}"),
            Pending::SchemaGenerate { org } => format!("generating the DB schema of {org}"),
            Pending::SetSync { org, enabled: true } => format!("turning sync of {org} on"),
            Pending::SetSync {
                org,
                enabled: false,
            } => format!("turning sync of {org} off"),
            Pending::SyncNow { org } => format!("asking {org} to sync now"),
            Pending::OrgPin { org, .. } => format!("pinning {org}"),
            Pending::OrgSettings { org } => format!("saving the settings of {org}"),
            Pending::MappingList { org } => format!("loading the mappings of {org}"),
            Pending::MetadataFields { object, .. } => format!("loading the fields of {object}"),
            Pending::MappingPlan { object, .. } => format!("planning the DDL for {object}"),
            Pending::MappingApply {
                object,
                remove: false,
                ..
            } => {
                format!("generating the DB objects of {object}")
            }
            Pending::MappingApply {
                object,
                remove: true,
                ..
            } => {
                format!("removing the mapping of {object}")
            }
            Pending::FailedList { org } => format!("loading the failed records of {org}"),
            Pending::FailedRetry {
                object, all: true, ..
            } => format!("queueing every failed change of {object} again"),
            Pending::FailedRetry { object, .. } => {
                format!("queueing the failed change of {object} again")
            }
            Pending::FailedIgnore { object, .. } => {
                format!("setting aside the failed change of {object}")
            }
            Pending::ConflictList { org } => format!("loading the conflicts of {org}"),
            Pending::RecentChanges { org, object } => {
                format!("loading the recent changes of {object} in {org}")
            }
            Pending::SchemaCheck { org } => {
                format!("checking {org}'s mapped objects against Salesforce")
            }
            Pending::ResyncPlan { object, .. } => format!("planning the re-read of {object}"),
            Pending::ResyncStart { object, .. } => format!("starting the re-read of {object}"),
        }
    }

    pub(crate) fn failure(&self) -> String {
        match self {
            Pending::Register { org } => format!("Registering {org} failed"),
            Pending::Reauthorize { org } => format!("Authorizing {org} failed"),
            Pending::CompleteAuthorization { org } => {
                format!("Completing {org}'s authorization failed")
            }
            Pending::Delete { org } => format!("Deleting {org} failed"),
            Pending::MetadataDownload { org } => format!("Downloading {org}'s metadata failed"),
            Pending::MetadataObjects { org } => format!("Loading {org}'s objects failed"),
            Pending::DatasourceGet { org } => format!("Loading {org}'s datasource failed"),
            Pending::DatasourceSet { org } => format!("Saving {org}'s datasource failed"),
            Pending::DatasourceSyncHost { org } => {
                format!("Setting the host of {org}'s sync user failed")
            }
            Pending::DatasourceCheck { org } => format!("Checking {org}'s datasource failed"),
            Pending::SchemaGenerate { org } => format!("Generating {org}'s DB schema failed"),
            Pending::SetSync { org, enabled: true } => format!("Turning sync of {org} on failed"),
            Pending::SetSync {
                org,
                enabled: false,
            } => {
                format!("Turning sync of {org} off failed")
            }
            Pending::SyncNow { org } => format!("Syncing {org} now failed"),
            Pending::OrgPin { org, .. } => format!("Pinning {org} failed"),
            Pending::OrgSettings { org } => format!("Saving the settings of {org} failed"),
            Pending::MappingList { org } => format!("Loading the mappings of {org} failed"),
            Pending::MetadataFields { object, .. } => {
                format!("Loading the fields of {object} failed")
            }
            Pending::MappingPlan { object, .. } => format!("Planning the DDL for {object} failed"),
            Pending::MappingApply {
                object,
                remove: false,
                ..
            } => format!("DB objects generated for {object}: no —"),
            Pending::MappingApply {
                object,
                remove: true,
                ..
            } => {
                format!("Removing the mapping of {object} failed")
            }
            Pending::FailedList { org } => format!("Loading the failed records of {org} failed"),
            Pending::FailedRetry { object, .. } => {
                format!("Retrying the failed changes of {object} failed")
            }
            Pending::FailedIgnore { object, .. } => {
                format!("Ignoring the failed change of {object} failed")
            }
            Pending::ConflictList { org } => format!("Loading the conflicts of {org} failed"),
            Pending::RecentChanges { org, object } => {
                format!("Loading the recent changes of {object} in {org} failed")
            }
            Pending::SchemaCheck { org } => format!("The schema check of {org} failed"),
            Pending::ResyncPlan { object, .. } => {
                format!("Planning the re-read of {object} failed")
            }
            Pending::ResyncStart { object, .. } => {
                format!("Starting the re-read of {object} failed")
            }
        }
    }
}
