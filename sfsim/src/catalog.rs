//! The rest of a real org's object list: the several hundred objects describeGlobal shows
//! besides the ones sfsim fills with data — standard objects, each record-bearing object's
//! History, Share, Feed and ChangeEvent, custom settings, platform events (`__e`), big
//! (`__b`) and external (`__x`) objects, custom metadata types (`__mdt`), and objects that
//! are not queryable, not replicateable or not retrieveable. Most have a small describe:
//! system fields and a name, which is all a client looks at before leaving them out.

use crate::schema::{FieldDef, FieldType as T, ObjectDef, label_of, standard_objects};
use std::collections::HashSet;

/// What sort of object a generated entry is, which decides its describeGlobal flags.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An ordinary object with records.
    Data,
    /// Queryable and retrieveable, but written only by Salesforce (setup, logs).
    ReadOnly,
    /// Queryable, but not replicateable: no getUpdated/getDeleted.
    NotReplicateable,
    /// Queryable, neither replicateable nor retrieveable (virtual/aggregate views).
    NotRetrieveable,
    /// Not queryable at all (subquery-only views and the like).
    NotQueryable,
    History,
    Share,
    Feed,
    ChangeEvent,
    Setting,
    PlatformEvent,
    Big,
    External,
    Metadata,
}

fn field(name: &str, t: T) -> FieldDef {
    let mut d = FieldDef::new(name, t);
    if t == T::Reference || t == T::Id {
        d.length = 18;
    }
    d
}

fn ro(name: &str, t: T) -> FieldDef {
    let mut d = field(name, t);
    d.createable = false;
    d.updateable = false;
    d
}

fn reference(name: &str, to: &[&str], rel: &str) -> FieldDef {
    let mut d = field(name, T::Reference);
    d.reference_to = to.iter().map(|s| s.to_string()).collect();
    d.relationship_name = Some(rel.into());
    d
}

/// Id and the audit fields; `modstamp` also the last-modified pair and SystemModstamp.
fn audit(obj: &str, modstamp: bool) -> Vec<FieldDef> {
    let mut v = vec![ro("Id", T::Id), ro("IsDeleted", T::Boolean)];
    v[0].nillable = false;
    v[0].label = format!("{} ID", label_of(obj));
    let mut c = reference("CreatedById", &["User"], "CreatedBy");
    c.createable = false;
    c.updateable = false;
    v.push(ro("CreatedDate", T::Datetime));
    v.push(c);
    if modstamp {
        let mut m = reference("LastModifiedById", &["User"], "LastModifiedBy");
        m.createable = false;
        m.updateable = false;
        v.push(ro("LastModifiedDate", T::Datetime));
        v.push(m);
        v.push(ro("SystemModstamp", T::Datetime));
    }
    for d in v.iter_mut().skip(2) {
        d.nillable = false;
        d.defaulted_on_create = true;
    }
    v
}

fn name_field(len: u32) -> FieldDef {
    let mut n = field("Name", T::String);
    n.length = len;
    n.name_field = true;
    n.nillable = false;
    n
}

fn picklist(name: &str, values: &[&str]) -> FieldDef {
    let mut d = field(name, T::Picklist);
    d.picklist_values = values.iter().map(|s| s.to_string()).collect();
    d
}

fn def(name: &str, prefix: &str, kind: Kind, fields: Vec<FieldDef>) -> ObjectDef {
    let label = label_of(name.trim_end_matches("__e").trim_end_matches("__b"));
    let mut o = ObjectDef {
        name: name.into(),
        label: label.clone(),
        label_plural: format!("{label}s"),
        key_prefix: prefix.into(),
        createable: true,
        updateable: true,
        deletable: true,
        fields,
        validation_rules: vec![],
        last_modified: chrono::DateTime::UNIX_EPOCH,
        queryable: true,
        replicateable: true,
        retrieveable: true,
        searchable: false,
        triggerable: false,
        layoutable: false,
        custom_setting: false,
        feed_enabled: false,
        mergeable: false,
        associate_entity_type: None,
        associate_parent_entity: None,
        record_types: vec![],
    };
    let no_writes = |o: &mut ObjectDef| {
        o.createable = false;
        o.updateable = false;
        o.deletable = false;
    };
    match kind {
        Kind::Data => {
            o.searchable = true;
            o.triggerable = true;
            o.layoutable = true;
        }
        Kind::ReadOnly => no_writes(&mut o),
        Kind::NotReplicateable => o.replicateable = false,
        Kind::NotRetrieveable => {
            no_writes(&mut o);
            o.replicateable = false;
            o.retrieveable = false;
        }
        Kind::NotQueryable => {
            no_writes(&mut o);
            o.queryable = false;
            o.replicateable = false;
            o.retrieveable = false;
        }
        Kind::History => {
            no_writes(&mut o);
            o.replicateable = false;
            o.label_plural = format!("{label} History");
        }
        Kind::Share => {
            o.replicateable = false;
        }
        Kind::Feed => {
            o.createable = false;
            o.updateable = false;
            o.replicateable = false;
        }
        Kind::ChangeEvent => {
            no_writes(&mut o);
            o.queryable = false;
            o.replicateable = false;
            o.retrieveable = false;
            o.triggerable = true;
        }
        Kind::Setting => o.custom_setting = true,
        Kind::PlatformEvent => {
            o.updateable = false;
            o.deletable = false;
            o.queryable = false;
            o.replicateable = false;
            o.retrieveable = false;
            o.triggerable = true;
        }
        Kind::Big => {
            o.updateable = false;
            o.deletable = false;
            o.replicateable = false;
        }
        Kind::External => {
            no_writes(&mut o);
            o.replicateable = false;
            o.searchable = true;
        }
        Kind::Metadata => {
            no_writes(&mut o);
            o.replicateable = false;
        }
    }
    for (i, f) in o.fields.iter_mut().enumerate() {
        f.slot = i;
    }
    o
}

/// Standard objects beyond the ones with sample data: (name, key prefix, kind, owned).
const STANDARD: &[(&str, &str, Kind, bool)] = &[
    ("AcceptedEventRelation", "0RE", Kind::ReadOnly, false),
    ("AccountContactRelation", "07k", Kind::Data, false),
    ("AccountContactRole", "02Z", Kind::Data, false),
    ("AccountPartner", "00I", Kind::ReadOnly, false),
    ("ActivityHistory", "", Kind::NotQueryable, false),
    ("AggregateResult", "", Kind::NotQueryable, false),
    ("ApexClass", "01p", Kind::ReadOnly, false),
    ("ApexComponent", "099", Kind::ReadOnly, false),
    ("ApexLog", "07L", Kind::ReadOnly, false),
    ("ApexPage", "066", Kind::ReadOnly, false),
    ("ApexTestResult", "07M", Kind::ReadOnly, false),
    ("ApexTrigger", "01q", Kind::ReadOnly, false),
    ("Asset", "02i", Kind::Data, true),
    ("AssetRelationship", "1AR", Kind::Data, false),
    ("AssignmentRule", "01Q", Kind::ReadOnly, false),
    ("AsyncApexJob", "707", Kind::ReadOnly, false),
    ("AttachedContentDocument", "", Kind::NotQueryable, false),
    ("Attachment", "00P", Kind::Data, true),
    ("AuthConfig", "0Au", Kind::ReadOnly, false),
    ("AuthSession", "0Ak", Kind::NotReplicateable, false),
    ("BrandTemplate", "016", Kind::ReadOnly, false),
    ("BusinessHours", "01m", Kind::Data, false),
    ("BusinessProcess", "019", Kind::ReadOnly, false),
    ("CallCenter", "04v", Kind::ReadOnly, false),
    ("Campaign", "701", Kind::Data, true),
    ("CampaignMember", "00v", Kind::Data, false),
    ("CampaignMemberStatus", "01Y", Kind::Data, false),
    ("CaseComment", "00a", Kind::Data, false),
    ("CaseContactRole", "03j", Kind::Data, false),
    ("CaseSolution", "010", Kind::Data, false),
    ("CaseTeamMember", "0B6", Kind::Data, false),
    ("CategoryData", "02o", Kind::Data, false),
    ("CollaborationGroup", "0F9", Kind::Data, true),
    ("CollaborationGroupMember", "0FB", Kind::Data, false),
    ("CombinedAttachment", "", Kind::NotQueryable, false),
    ("Community", "09a", Kind::ReadOnly, false),
    ("ContactRequest", "0SR", Kind::Data, true),
    ("ContentDocument", "069", Kind::Data, true),
    ("ContentDocumentLink", "06A", Kind::NotReplicateable, false),
    ("ContentFolder", "07H", Kind::Data, false),
    ("ContentVersion", "068", Kind::Data, true),
    ("ContentWorkspace", "058", Kind::Data, false),
    ("Contract", "800", Kind::Data, true),
    ("ContractContactRole", "02a", Kind::Data, false),
    ("CronTrigger", "08e", Kind::ReadOnly, false),
    ("CustomPermission", "0CP", Kind::ReadOnly, false),
    ("Dashboard", "01Z", Kind::ReadOnly, false),
    ("DashboardComponent", "01a", Kind::ReadOnly, false),
    ("DataType", "", Kind::NotRetrieveable, false),
    ("Document", "015", Kind::Data, false),
    ("DuplicateRule", "0Bm", Kind::ReadOnly, false),
    ("EmailMessage", "02s", Kind::Data, false),
    ("EmailServicesAddress", "093", Kind::Data, false),
    ("EmailStatus", "", Kind::NotQueryable, false),
    ("EmailTemplate", "00X", Kind::Data, true),
    ("Entitlement", "550", Kind::Data, false),
    ("EntityDefinition", "", Kind::NotRetrieveable, false),
    ("Event", "00U", Kind::Data, true),
    ("EventRelation", "0RE", Kind::Data, false),
    ("FeedComment", "0D7", Kind::NotReplicateable, false),
    ("FeedItem", "0D5", Kind::NotReplicateable, false),
    ("FieldDefinition", "", Kind::NotRetrieveable, false),
    ("FieldPermissions", "01k", Kind::Data, false),
    ("FiscalYearSettings", "022", Kind::ReadOnly, false),
    ("Folder", "00l", Kind::Data, false),
    ("ForecastingQuota", "0J9", Kind::Data, true),
    ("GroupMember", "011", Kind::Data, false),
    ("Holiday", "0C0", Kind::Data, false),
    ("Idea", "087", Kind::Data, false),
    ("Individual", "0PK", Kind::Data, true),
    ("ListView", "00B", Kind::ReadOnly, false),
    ("LoginHistory", "0Ya", Kind::NotReplicateable, false),
    ("LoginIp", "0Ys", Kind::NotReplicateable, false),
    ("LookedUpFromActivity", "", Kind::NotQueryable, false),
    ("Macro", "0JZ", Kind::Data, true),
    ("MatchingRule", "0JD", Kind::ReadOnly, false),
    ("Name", "", Kind::NotRetrieveable, false),
    ("Note", "002", Kind::Data, true),
    ("NoteAndAttachment", "", Kind::NotQueryable, false),
    ("ObjectPermissions", "110", Kind::Data, false),
    ("OpenActivity", "", Kind::NotQueryable, false),
    ("OpportunityCompetitor", "00J", Kind::Data, false),
    ("OpportunityContactRole", "00K", Kind::Data, false),
    ("OpportunityLineItem", "00k", Kind::Data, false),
    ("OpportunityPartner", "00I", Kind::ReadOnly, false),
    ("OpportunityStage", "01J", Kind::ReadOnly, false),
    ("Order", "801", Kind::Data, true),
    ("OrderItem", "802", Kind::Data, false),
    ("OrgWideEmailAddress", "0D2", Kind::Data, false),
    ("OwnedContentDocument", "", Kind::NotQueryable, false),
    ("Partner", "00I", Kind::Data, false),
    ("Period", "026", Kind::ReadOnly, false),
    ("PermissionSet", "0PS", Kind::Data, false),
    ("PermissionSetAssignment", "0Pa", Kind::Data, false),
    ("PermissionSetLicense", "0PL", Kind::ReadOnly, false),
    ("Pricebook2", "01s", Kind::Data, false),
    ("PricebookEntry", "01u", Kind::Data, false),
    ("ProcessDefinition", "04a", Kind::ReadOnly, false),
    ("ProcessInstance", "04g", Kind::ReadOnly, false),
    ("ProcessInstanceStep", "04h", Kind::ReadOnly, false),
    ("ProcessInstanceWorkitem", "04i", Kind::ReadOnly, false),
    ("Product2", "01t", Kind::Data, false),
    ("Profile", "00e", Kind::ReadOnly, false),
    ("PushTopic", "0IF", Kind::Data, false),
    ("QueueSobject", "03g", Kind::Data, false),
    ("Quote", "0Q0", Kind::Data, true),
    ("QuoteLineItem", "0QL", Kind::Data, false),
    ("RecentlyViewed", "", Kind::NotRetrieveable, false),
    ("Report", "00O", Kind::ReadOnly, true),
    ("Scontrol", "01N", Kind::ReadOnly, false),
    ("ServiceContract", "810", Kind::Data, true),
    ("SetupAuditTrail", "0Ym", Kind::NotReplicateable, false),
    ("SetupEntityAccess", "0J0", Kind::Data, false),
    ("Site", "0DM", Kind::ReadOnly, false),
    ("Solution", "501", Kind::Data, true),
    ("StaticResource", "081", Kind::ReadOnly, false),
    ("Task", "00T", Kind::Data, true),
    ("TaskRelation", "0RT", Kind::Data, false),
    ("Topic", "0TO", Kind::Data, false),
    ("TopicAssignment", "0FT", Kind::Data, false),
    ("UserLicense", "100", Kind::ReadOnly, false),
    ("UserPreference", "", Kind::NotRetrieveable, false),
    ("UserRecordAccess", "", Kind::NotRetrieveable, false),
    ("UserRole", "00E", Kind::Data, false),
    ("Vote", "0D6", Kind::Data, false),
    ("WorkOrder", "0WO", Kind::Data, true),
    ("WorkOrderLineItem", "1WL", Kind::Data, false),
];

/// Objects whose field history, sharing and feed exist as objects of their own.
const TRACKED: &[&str] = &[
    "Account",
    "Asset",
    "Campaign",
    "Case",
    "Contact",
    "Contract",
    "Entitlement",
    "Lead",
    "Opportunity",
    "Order",
    "Product2",
    "ServiceContract",
    "Solution",
    "WorkOrder",
];

/// Custom objects beyond `Invoice__c`, each with a lookup to Account.
const CUSTOM: &[&str] = &[
    "Program__c",
    "Timesheet__c",
    "Expense__c",
    "Vendor__c",
    "Shipment__c",
    "Warehouse__c",
    "Inventory_Item__c",
    "Contract_Term__c",
    "Survey_Response__c",
    "Training__c",
    "Certification__c",
    "Partner_Tier__c",
];

const SETTINGS: &[&str] = &[
    "App_Config__c",
    "Feature_Flags__c",
    "Integration_Settings__c",
    "Tax_Rates__c",
    "Region_Defaults__c",
    "Email_Routing__c",
];

const EVENTS: &[&str] = &[
    "Order_Shipped__e",
    "Payment_Received__e",
    "Sync_Request__e",
    "Inventory_Low__e",
    "Lead_Scored__e",
];

const BIG: &[&str] = &["Sensor_Reading__b", "Audit_Archive__b", "Click_Stream__b"];

const EXTERNAL: &[&str] = &[
    "Erp_Order__x",
    "Erp_Invoice__x",
    "Legacy_Customer__x",
    "Warehouse_Stock__x",
];

const METADATA_TYPES: &[&str] = &[
    "Mapping_Rule__mdt",
    "Country_Code__mdt",
    "Discount_Tier__mdt",
    "Integration_Endpoint__mdt",
];

/// Fresh key prefixes for objects that need one, skipping every prefix in use.
struct Prefixes {
    used: HashSet<String>,
    next: u32,
}

impl Prefixes {
    fn take(&mut self, wanted: &str, letter: char) -> String {
        if !wanted.is_empty() && self.used.insert(wanted.to_string()) {
            return wanted.to_string();
        }
        const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        loop {
            let n = self.next as usize;
            self.next += 1;
            let p = format!(
                "{letter}{}{}",
                DIGITS[(n / DIGITS.len()) % DIGITS.len()] as char,
                DIGITS[n % DIGITS.len()] as char
            );
            if self.used.insert(p.clone()) {
                return p;
            }
        }
    }
}

fn parent_field(parent: &str) -> String {
    if parent.ends_with("__c") {
        "ParentId".into()
    } else {
        format!("{parent}Id")
    }
}

/// `AccountHistory`, `Invoice__History`; Opportunity's field history is
/// `OpportunityFieldHistory` (`OpportunityHistory` is its stage history).
fn associated_name(parent: &str, suffix: &str) -> String {
    match (parent.strip_suffix("__c"), parent, suffix) {
        (Some(base), _, _) => format!("{base}__{suffix}"),
        (None, "Opportunity", "History") => "OpportunityFieldHistory".into(),
        (None, p, s) => format!("{p}{s}"),
    }
}

fn associated(parent: &str, kind: Kind, prefixes: &mut Prefixes) -> ObjectDef {
    let (suffix, ty) = match kind {
        Kind::History => ("History", "History"),
        Kind::Share => ("Share", "Share"),
        Kind::Feed => ("Feed", "Feed"),
        _ => ("ChangeEvent", "ChangeEvent"),
    };
    let name = associated_name(parent, suffix);
    let pf = parent_field(parent);
    let fields = match kind {
        Kind::History => {
            let mut v = audit(&name, false);
            v.push(reference(&pf, &[parent], "Parent"));
            v.push(picklist("Field", &["created", "Name", "Owner"]));
            v.push(picklist(
                "DataType",
                &["Text", "Number", "Date", "DateTime", "EntityId"],
            ));
            v.push(ro("OldValue", T::String));
            v.push(ro("NewValue", T::String));
            v
        }
        Kind::Share => {
            let mut v = audit(&name, true);
            v.push(reference(&pf, &[parent], "Parent"));
            v.push(reference(
                "UserOrGroupId",
                &["Group", "User"],
                "UserOrGroup",
            ));
            v.push(picklist("AccessLevel", &["Read", "Edit", "All"]));
            v.push(picklist("RowCause", &["Owner", "Manual", "Rule"]));
            v
        }
        Kind::Feed => {
            let mut v = audit(&name, true);
            v.push(reference("ParentId", &[parent], "Parent"));
            v.push(picklist(
                "Type",
                &["TextPost", "LinkPost", "ContentPost", "TrackedChange"],
            ));
            v.push(field("Title", T::String));
            let mut body = field("Body", T::Textarea);
            body.length = 10000;
            v.push(body);
            v.push(ro("CommentCount", T::Int));
            v.push(ro("LikeCount", T::Int));
            v
        }
        _ => {
            let mut v = vec![ro("Id", T::Id)];
            v.push(ro("ReplayId", T::String));
            v.push(ro("ChangeEventHeader", T::String));
            v
        }
    };
    let mut fields = fields;
    let child_name = match kind {
        Kind::History => Some("Histories"),
        Kind::Share => Some("Shares"),
        Kind::Feed => Some("Feeds"),
        _ => None,
    };
    for f in fields.iter_mut() {
        if f.name == pf || (kind == Kind::Feed && f.name == "ParentId") {
            f.child_relationship = child_name.map(str::to_owned);
        }
    }
    let mut o = def(&name, &prefixes.take("", '0'), kind, fields);
    o.associate_entity_type = Some(ty.into());
    o.associate_parent_entity = Some(parent.into());
    o.label = format!("{} {}", label_of(parent), ty);
    o.label_plural = o.label.clone();
    o
}

/// Organization, RecordType and Group: the setup objects every client reads.
fn setup_objects() -> Vec<ObjectDef> {
    let text = |n: &str, len: u32| {
        let mut d = field(n, T::String);
        d.length = len;
        d
    };
    let mut org = audit("Organization", true);
    org.extend([
        name_field(80),
        text("Division", 80),
        text("Street", 255),
        text("City", 40),
        text("State", 80),
        text("PostalCode", 20),
        text("Country", 80),
        field("Phone", T::Phone),
        picklist(
            "OrganizationType",
            &[
                "Developer Edition",
                "Enterprise Edition",
                "Unlimited Edition",
                "Professional Edition",
            ],
        ),
        field("IsSandbox", T::Boolean),
        text("InstanceName", 5),
        text("NamespacePrefix", 15),
        picklist("DefaultLocaleSidKey", &["en_US", "de_DE", "fr_FR"]),
        picklist("LanguageLocaleKey", &["en_US", "de", "fr"]),
        picklist(
            "TimeZoneSidKey",
            &["GMT", "Europe/Berlin", "America/New_York"],
        ),
        field("FiscalYearStartMonth", T::Int),
        field("TrialExpirationDate", T::Datetime),
    ]);
    for f in org.iter_mut() {
        f.createable = false;
        f.updateable = false;
    }
    let mut organization = def("Organization", "00D", Kind::ReadOnly, org);
    organization.replicateable = false;
    organization.label_plural = "Organizations".into();

    let mut rt = audit("RecordType", true);
    rt.extend([
        name_field(80),
        text("DeveloperName", 80),
        text("NamespacePrefix", 15),
        text("Description", 255),
        text("BusinessProcessId", 18),
        picklist(
            "SobjectType",
            &["Account", "Case", "Contact", "Lead", "Opportunity"],
        ),
        field("IsActive", T::Boolean),
    ]);
    let mut record_type = def("RecordType", "012", Kind::ReadOnly, rt);
    record_type.updateable = true;

    let mut g = audit("Group", true);
    g.extend([
        name_field(40),
        text("DeveloperName", 80),
        reference("RelatedId", &["User", "UserRole"], "Related"),
        picklist(
            "Type",
            &[
                "Regular",
                "Queue",
                "Role",
                "RoleAndSubordinates",
                "Organization",
                "AllCustomerPortal",
            ],
        ),
        field("Email", T::Email),
        reference("OwnerId", &["User", "Organization"], "Owner"),
        field("DoesSendEmailToMembers", T::Boolean),
        field("DoesIncludeBosses", T::Boolean),
    ]);
    let group = def("Group", "00G", Kind::Data, g);
    vec![organization, record_type, group]
}

/// The binary content of the objects that hold files: a `base64` field (the bytes, which
/// a query answers as the blob's URL) with its content type.
fn binary_fields(object: &str) -> Vec<FieldDef> {
    let body = match object {
        "Attachment" | "Document" => "Body",
        "ContentVersion" => "VersionData",
        _ => return vec![],
    };
    let mut ct = field("ContentType", T::String);
    ct.length = 120;
    vec![field(body, T::Base64), ct]
}

/// A read-only setup object with the audit fields, a name and `fields` (the Tooling
/// API's objects: records Salesforce writes, which a client only queries).
pub(crate) fn setup_object(name: &str, prefix: &str, fields: Vec<FieldDef>) -> ObjectDef {
    let mut all = audit(name, true);
    all.push(name_field(255));
    all.extend(fields);
    def(name, prefix, Kind::ReadOnly, all)
}

/// Every object of the default org: the sample-data objects (full describes), then the
/// rest of a real org's list, sorted as describeGlobal lists them.
pub fn org_objects() -> Vec<ObjectDef> {
    let mut out = standard_objects();
    out.extend(setup_objects());
    let mut prefixes = Prefixes {
        used: out.iter().map(|o| o.key_prefix.clone()).collect(),
        next: 100,
    };
    for (name, prefix, kind, owned) in STANDARD {
        let mut fields = audit(name, *kind != Kind::NotQueryable);
        if *owned {
            fields.push(reference("OwnerId", &["Group", "User"], "Owner"));
        }
        fields.push(name_field(80));
        fields.extend(binary_fields(name));
        let prefix = if prefix.is_empty() {
            String::new()
        } else {
            prefixes.take(prefix, '0')
        };
        out.push(def(name, &prefix, *kind, fields));
    }
    let mut custom_a = 1u32;
    let mut custom = |prefixes: &mut Prefixes| {
        custom_a += 1;
        prefixes.take(&format!("a{custom_a:02}"), 'a')
    };
    for name in CUSTOM {
        let mut fields = audit(name, true);
        fields.push(reference("OwnerId", &["Group", "User"], "Owner"));
        fields.push(name_field(80));
        let mut acc = reference(
            "Account__c",
            &["Account"],
            &format!("{}_Account__r", name.trim_end_matches("__c")),
        );
        acc.child_relationship = Some(format!("{}s__r", name.trim_end_matches("__c")));
        fields.push(acc);
        fields.push(field("Status__c", T::String));
        let mut o = def(name, &custom(&mut prefixes), Kind::Data, fields);
        o.feed_enabled = true;
        out.push(o);
    }
    for name in SETTINGS {
        let mut fields = audit(name, true);
        fields.push(name_field(38));
        fields.push(reference(
            "SetupOwnerId",
            &["Organization", "Profile", "User"],
            "SetupOwner",
        ));
        fields.push(field("Value__c", T::String));
        out.push(def(name, &custom(&mut prefixes), Kind::Setting, fields));
    }
    for name in EVENTS {
        let mut fields = vec![ro("ReplayId", T::String), ro("EventUuid", T::String)];
        fields.extend(audit(name, false).into_iter().skip(2));
        fields.push(field("Record_Id__c", T::String));
        fields.push(field("Payload__c", T::Textarea));
        out.push(def(
            name,
            &prefixes.take("", 'e'),
            Kind::PlatformEvent,
            fields,
        ));
    }
    for name in BIG {
        let mut fields = audit(name, false);
        fields.push(field("Device__c", T::String));
        fields.push(field("Reading__c", T::Double));
        fields.push(field("Taken_At__c", T::Datetime));
        out.push(def(name, &prefixes.take("", 'b'), Kind::Big, fields));
    }
    for name in EXTERNAL {
        let mut fields = vec![ro("Id", T::Id), ro("ExternalId", T::String)];
        fields.push(ro("DisplayUrl", T::Url));
        fields.push(ro("Amount__c", T::Currency));
        out.push(def(name, &prefixes.take("", 'x'), Kind::External, fields));
    }
    for name in METADATA_TYPES {
        let mut fields = audit(name, true);
        fields.push(ro("DeveloperName", T::String));
        fields.push(ro("MasterLabel", T::String));
        fields.push(ro("Value__c", T::String));
        out.push(def(name, &prefixes.take("", 'm'), Kind::Metadata, fields));
    }
    let mut parents: Vec<String> = TRACKED.iter().map(|s| s.to_string()).collect();
    parents.push("Invoice__c".into());
    parents.extend(CUSTOM.iter().map(|s| s.to_string()));
    for p in &parents {
        let share = !matches!(p.as_str(), "Product2" | "Solution" | "Entitlement");
        for kind in [Kind::History, Kind::Share, Kind::Feed, Kind::ChangeEvent] {
            if kind == Kind::Share && !share {
                continue;
            }
            out.push(associated(p, kind, &mut prefixes));
        }
    }
    // Change Data Capture can be enabled for every other data object, and owned ones have
    // a feed.
    for (name, _, kind, owned) in STANDARD {
        if *kind != Kind::Data || TRACKED.contains(name) {
            continue;
        }
        out.push(associated(name, Kind::ChangeEvent, &mut prefixes));
        if *owned {
            out.push(associated(name, Kind::Feed, &mut prefixes));
        }
    }
    out.push(associated("Opportunity", Kind::History, &mut prefixes));
    if let Some(h) = out.last_mut() {
        h.name = "OpportunityHistory".into();
        h.label = "Opportunity History".into();
        for f in h.fields.iter_mut().filter(|f| f.name == "OpportunityId") {
            f.child_relationship = Some("OpportunityHistories".into());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_prefixes_are_unique_and_the_list_is_long() {
        let all = org_objects();
        assert!(all.len() > 300, "{}", all.len());
        let mut names = HashSet::new();
        let mut prefixes = HashSet::new();
        for o in &all {
            assert!(names.insert(o.name.to_lowercase()), "{}", o.name);
            if !o.key_prefix.is_empty() {
                assert!(
                    prefixes.insert(o.key_prefix.clone()),
                    "{} {}",
                    o.name,
                    o.key_prefix
                );
            }
            let mut fields = HashSet::new();
            for f in &o.fields {
                assert!(
                    fields.insert(f.name.to_lowercase()),
                    "{}.{}",
                    o.name,
                    f.name
                );
            }
        }
    }
}
