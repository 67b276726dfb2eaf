//! Object and field metadata: the standard objects, a custom object, and describe output.

use serde::{Deserialize, Serialize};

mod people;
use serde_json::json;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    Id,
    Reference,
    String,
    Textarea,
    Email,
    Phone,
    Url,
    Picklist,
    Multipicklist,
    Combobox,
    Boolean,
    Int,
    Double,
    Currency,
    Percent,
    Date,
    Datetime,
    Time,
    Address,
    /// Geolocation: a compound of `…__Latitude__s` and `…__Longitude__s`.
    Location,
    /// Classic encrypted text: a string shown masked in the UI.
    #[serde(rename = "encryptedstring")]
    EncryptedString,
    /// Binary content (`Attachment.Body`): a query answers the blob's URL, not its bytes.
    Base64,
}

impl FieldType {
    pub fn soap_type(self) -> &'static str {
        match self {
            FieldType::Id | FieldType::Reference => "tns:ID",
            FieldType::Boolean => "xsd:boolean",
            FieldType::Int => "xsd:int",
            FieldType::Double | FieldType::Currency | FieldType::Percent => "xsd:double",
            FieldType::Date => "xsd:date",
            FieldType::Datetime => "xsd:dateTime",
            FieldType::Time => "xsd:time",
            FieldType::Address => "urn:address",
            FieldType::Location => "urn:location",
            FieldType::Base64 => "xsd:base64Binary",
            _ => "xsd:string",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FieldType::Id => "id",
            FieldType::Reference => "reference",
            FieldType::String => "string",
            FieldType::Textarea => "textarea",
            FieldType::Email => "email",
            FieldType::Phone => "phone",
            FieldType::Url => "url",
            FieldType::Picklist => "picklist",
            FieldType::Multipicklist => "multipicklist",
            FieldType::Combobox => "combobox",
            FieldType::Boolean => "boolean",
            FieldType::Int => "int",
            FieldType::Double => "double",
            FieldType::Currency => "currency",
            FieldType::Percent => "percent",
            FieldType::Date => "date",
            FieldType::Datetime => "datetime",
            FieldType::Time => "time",
            FieldType::Address => "address",
            FieldType::Location => "location",
            FieldType::EncryptedString => "encryptedstring",
            FieldType::Base64 => "base64",
        }
    }

    pub fn is_text(self) -> bool {
        matches!(
            self,
            FieldType::String
                | FieldType::Textarea
                | FieldType::Email
                | FieldType::Phone
                | FieldType::Url
                | FieldType::Picklist
                | FieldType::Multipicklist
                | FieldType::Combobox
                | FieldType::EncryptedString
        )
    }

    /// Compound fields (address, geolocation): read-only objects over component fields.
    pub fn is_compound(self) -> bool {
        matches!(self, FieldType::Address | FieldType::Location)
    }

    /// Long text areas and binary content: never filtered, sorted or grouped by.
    pub fn is_long_content(self, length: u32) -> bool {
        (self == FieldType::Textarea && length > 255) || self == FieldType::Base64
    }

    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            FieldType::Int | FieldType::Double | FieldType::Currency | FieldType::Percent
        )
    }
}

/// A read-only computed field's formula (a small, explicit subset).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Formula {
    /// Joins the non-null values of the fields with a space (e.g. a person's full name).
    Concat { fields: Vec<String> },
    /// `a * b / divisor`.
    Product { a: String, b: String, divisor: f64 },
    /// `a / b` (null when b is null or zero).
    Ratio { a: String, b: String },
    /// A roll-up summary over child records (not computed by sfsim: it stays null).
    RollUp,
}

impl Formula {
    pub fn text(&self) -> String {
        match self {
            Formula::Concat { fields } => fields.join(" & \" \" & "),
            Formula::Product { a, b, divisor } if *divisor == 1.0 => format!("{a} * {b}"),
            Formula::Product { a, b, divisor } => format!("{a} * {b} / {divisor}"),
            Formula::Ratio { a, b } => format!("IF({b} = 0, NULL, {a} / {b})"),
            Formula::RollUp => String::new(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldDef {
    pub name: String,
    #[serde(default)]
    pub label: String,
    #[serde(rename = "type")]
    pub ftype: FieldType,
    #[serde(default)]
    pub length: u32,
    #[serde(default)]
    pub precision: u32,
    #[serde(default)]
    pub scale: u32,
    #[serde(default = "yes")]
    pub nillable: bool,
    #[serde(default = "yes")]
    pub createable: bool,
    #[serde(default = "yes")]
    pub updateable: bool,
    #[serde(default)]
    pub defaulted_on_create: bool,
    #[serde(default)]
    pub default_value: Option<serde_json::Value>,
    #[serde(default)]
    pub formula: Option<Formula>,
    /// Display format of an auto-number field, e.g. `INV-{00000}`.
    #[serde(default)]
    pub auto_number: Option<String>,
    #[serde(default)]
    pub external_id: bool,
    #[serde(default)]
    pub unique: bool,
    #[serde(default)]
    pub reference_to: Vec<String>,
    #[serde(default)]
    pub relationship_name: Option<String>,
    #[serde(default)]
    pub compound_field_name: Option<String>,
    #[serde(default)]
    pub picklist_values: Vec<String>,
    /// The values' labels, in the same order, where they differ from the values (empty:
    /// each label is its value).
    #[serde(default)]
    pub picklist_labels: Vec<String>,
    #[serde(default)]
    pub restricted_picklist: bool,
    #[serde(default)]
    pub name_field: bool,
    /// A dependent picklist's controlling field (a picklist or checkbox).
    #[serde(default)]
    pub controller_name: Option<String>,
    /// A dependent picklist's matrix: per value, the indexes of the controlling values it
    /// is valid for (a checkbox controls with 0 = false, 1 = true). Describe shows each as
    /// `validFor`, a base64 bit set.
    #[serde(default)]
    pub valid_for: Vec<Vec<usize>>,
    /// Deleting the parent deletes this record (master-detail).
    #[serde(default)]
    pub cascade_delete: bool,
    /// The parent cannot be deleted while this record refers to it.
    #[serde(default)]
    pub restricted_delete: bool,
    /// The parent's name for the relationship back to this object (`Contacts`).
    #[serde(default)]
    pub child_relationship: Option<String>,
    /// Rich text: HTML, `extraTypeInfo: richtextarea`.
    #[serde(default)]
    pub html_formatted: bool,
    /// A roll-up summary or formula treats a null number as zero.
    #[serde(default)]
    pub formula_null_as_zero: bool,
    /// Hidden from the API user by field-level security: absent from describe, refused by
    /// SOQL and writes as if it did not exist.
    #[serde(default)]
    pub hidden: bool,
    #[serde(default)]
    pub inline_help_text: Option<String>,
    /// Storage slot in each record; assigned by the org.
    #[serde(default)]
    pub slot: usize,
}

fn yes() -> bool {
    true
}

impl FieldDef {
    /// A picklist value's label (`toLabel`, describe): its own where the field has one.
    pub fn value_label<'a>(&'a self, value: &'a str) -> &'a str {
        self.picklist_values
            .iter()
            .position(|v| v == value)
            .and_then(|i| self.picklist_labels.get(i))
            .map_or(value, String::as_str)
    }

    pub fn new(name: &str, ftype: FieldType) -> FieldDef {
        let length = match ftype {
            FieldType::Id | FieldType::Reference => 18,
            FieldType::String | FieldType::Textarea | FieldType::Url => 255,
            FieldType::Picklist | FieldType::Combobox => 255,
            FieldType::Multipicklist => 4099,
            FieldType::EncryptedString => 175,
            FieldType::Email => 80,
            FieldType::Phone => 40,
            _ => 0,
        };
        let (precision, scale) = match ftype {
            FieldType::Currency => (18, 2),
            FieldType::Double => (18, 0),
            FieldType::Percent => (3, 0),
            FieldType::Int => (9, 0),
            _ => (0, 0),
        };
        FieldDef {
            name: name.to_string(),
            label: label_of(name),
            ftype,
            length,
            precision,
            scale,
            nillable: ftype != FieldType::Boolean,
            createable: true,
            updateable: true,
            defaulted_on_create: ftype == FieldType::Boolean,
            default_value: (ftype == FieldType::Boolean).then_some(json!(false)),
            formula: None,
            auto_number: None,
            external_id: false,
            unique: false,
            reference_to: vec![],
            relationship_name: None,
            compound_field_name: None,
            picklist_values: vec![],
            picklist_labels: vec![],
            restricted_picklist: false,
            name_field: false,
            controller_name: None,
            valid_for: vec![],
            cascade_delete: false,
            restricted_delete: false,
            child_relationship: None,
            html_formatted: false,
            formula_null_as_zero: false,
            hidden: false,
            inline_help_text: None,
            slot: 0,
        }
    }

    pub fn custom(&self) -> bool {
        self.name.ends_with("__c")
    }

    pub fn calculated(&self) -> bool {
        self.formula.is_some()
    }

    pub fn required_on_create(&self) -> bool {
        self.createable && !self.nillable && !self.defaulted_on_create
    }

    pub(crate) fn len(mut self, n: u32) -> Self {
        self.length = n;
        self
    }
    pub(crate) fn required(mut self) -> Self {
        self.nillable = false;
        self
    }
    pub(crate) fn read_only(mut self) -> Self {
        self.createable = false;
        self.updateable = false;
        self
    }
    pub(crate) fn picklist(mut self, values: &[&str], restricted: bool) -> Self {
        self.picklist_values = values.iter().map(|s| s.to_string()).collect();
        self.restricted_picklist = restricted;
        self
    }
    /// Labels for the values given by `picklist`, in their order.
    pub(crate) fn labels(mut self, labels: &[&str]) -> Self {
        self.picklist_labels = labels.iter().map(|s| s.to_string()).collect();
        self
    }
    pub(crate) fn default(mut self, v: serde_json::Value) -> Self {
        self.defaulted_on_create = true;
        self.default_value = Some(v);
        self
    }
    pub(crate) fn refers(mut self, to: &str, rel: &str) -> Self {
        self.reference_to = vec![to.to_string()];
        self.relationship_name = Some(rel.to_string());
        self
    }
    pub(crate) fn compound(mut self, parent: &str) -> Self {
        self.compound_field_name = Some(parent.to_string());
        self
    }
    pub(crate) fn computed(mut self, f: Formula) -> Self {
        self.formula = Some(f);
        self.createable = false;
        self.updateable = false;
        self.defaulted_on_create = false;
        self
    }
    /// Deleting the parent deletes this record too (the store does so for these fields).
    pub(crate) fn cascade(mut self) -> Self {
        self.cascade_delete = true;
        self
    }
    pub(crate) fn precision(mut self, p: u32, s: u32) -> Self {
        self.precision = p;
        self.scale = s;
        self
    }

    /// `validFor` of a dependent picklist's value: a base64 bit set over the controlling
    /// field's values, bit 0 the high bit of the first byte.
    fn valid_for_bits(indexes: &[usize]) -> String {
        use base64::Engine;
        let bytes = indexes.iter().map(|i| i / 8 + 1).max().unwrap_or(1);
        let mut bits = vec![0u8; bytes.div_ceil(3) * 3];
        for &i in indexes {
            bits[i / 8] |= 0x80 >> (i % 8);
        }
        base64::engine::general_purpose::STANDARD.encode(bits)
    }

    /// The field as describe shows it: every key of Salesforce's `Field`, null or false
    /// where it does not apply.
    pub fn describe(&self) -> serde_json::Value {
        let t = self.ftype;
        let numeric_p = matches!(
            t,
            FieldType::Double | FieldType::Currency | FieldType::Percent
        );
        let is_ref = t == FieldType::Reference;
        let long_text = t.is_long_content(self.length);
        let byte_len = if t.is_text() || matches!(t, FieldType::Id | FieldType::Reference) {
            self.length * 3
        } else {
            0
        };
        let polymorphic = self.reference_to.len() > 1;
        let extra_type_info = match t {
            FieldType::Textarea if self.html_formatted => Some("richtextarea"),
            FieldType::Textarea => Some("plaintextarea"),
            FieldType::String if self.name_field && self.formula.is_some() => Some("personname"),
            FieldType::Url if self.name.ends_with("PhotoUrl") => Some("imageurl"),
            _ => None,
        };
        let (mask, mask_type) = if t == FieldType::EncryptedString {
            (Some("X"), Some("all"))
        } else {
            (None, None)
        };
        let default_label = self.default_value.as_ref().and_then(|d| d.as_str());
        let picklist: Vec<serde_json::Value> = self
            .picklist_values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let valid_for = (self.controller_name.is_some())
                    .then(|| Self::valid_for_bits(self.valid_for.get(i).map_or(&[][..], |v| v)));
                json!({
                    "active": true,
                    "defaultValue": default_label == Some(v.as_str()),
                    "label": self.value_label(v),
                    "validFor": valid_for,
                    "value": v,
                })
            })
            .collect();
        json!({
            "aggregatable": !(long_text || t.is_compound() || matches!(t, FieldType::Multipicklist | FieldType::Boolean | FieldType::EncryptedString)),
            "aiPredictionField": false,
            "autoNumber": self.auto_number.is_some(),
            "byteLength": byte_len,
            "calculated": self.calculated() || self.auto_number.is_some(),
            "calculatedFormula": self.formula.as_ref().filter(|f| **f != Formula::RollUp).map(Formula::text),
            "cascadeDelete": self.cascade_delete,
            "caseSensitive": false,
            "compoundFieldName": self.compound_field_name,
            "controllerName": self.controller_name,
            "createable": self.createable,
            "custom": self.custom(),
            "defaultValue": self.default_value,
            "defaultValueFormula": null,
            "defaultedOnCreate": self.defaulted_on_create,
            "dependentPicklist": self.controller_name.is_some(),
            "deprecatedAndHidden": false,
            "digits": if t == FieldType::Int { self.precision } else { 0 },
            "displayLocationInDecimal": t == FieldType::Location,
            "encrypted": t == FieldType::EncryptedString,
            "externalId": self.external_id,
            "extraTypeInfo": extra_type_info,
            "filterable": !(long_text || t.is_compound() || t == FieldType::EncryptedString),
            "filteredLookupInfo": null,
            "formulaTreatNullNumberAsZero": self.formula_null_as_zero,
            "groupable": !(long_text || t.is_compound() || matches!(t, FieldType::Double | FieldType::Currency | FieldType::Percent | FieldType::Datetime | FieldType::Multipicklist | FieldType::EncryptedString)),
            "highScaleNumber": false,
            "htmlFormatted": self.html_formatted,
            "idLookup": self.external_id || t == FieldType::Id || self.name_field,
            "inlineHelpText": self.inline_help_text,
            "label": self.label,
            "length": self.length,
            "mask": mask,
            "maskType": mask_type,
            "name": self.name,
            "nameField": self.name_field,
            "namePointing": polymorphic,
            "nillable": self.nillable,
            "permissionable": self.nillable && !self.calculated() && t != FieldType::Id,
            "picklistValues": picklist,
            "polymorphicForeignKey": polymorphic,
            "precision": if numeric_p { self.precision } else { 0 },
            "queryByDistance": t == FieldType::Location,
            "referenceTargetField": null,
            "referenceTo": self.reference_to,
            "relationshipName": if is_ref { self.relationship_name.clone() } else { None },
            "relationshipOrder": null,
            "restrictedDelete": self.restricted_delete,
            "restrictedPicklist": self.restricted_picklist,
            "scale": if numeric_p { self.scale } else { 0 },
            "searchPrefilterable": is_ref,
            "soapType": t.soap_type(),
            "sortable": !(long_text || t.is_compound() || matches!(t, FieldType::Multipicklist | FieldType::EncryptedString)),
            "type": t.name(),
            "unique": self.unique,
            "updateable": self.updateable,
            "writeRequiresMasterRead": false,
        })
    }
}

/// A rule checked on every insert and update: when `condition` (a SOQL WHERE expression)
/// holds for the new record, the write fails with FIELD_CUSTOM_VALIDATION_EXCEPTION.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ValidationRule {
    pub name: String,
    pub condition: String,
    pub message: String,
    #[serde(default)]
    pub field: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectDef {
    pub name: String,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub label_plural: String,
    #[serde(default)]
    pub key_prefix: String,
    #[serde(default = "yes")]
    pub createable: bool,
    #[serde(default = "yes")]
    pub updateable: bool,
    #[serde(default = "yes")]
    pub deletable: bool,
    #[serde(default)]
    pub fields: Vec<FieldDef>,
    #[serde(default)]
    pub validation_rules: Vec<ValidationRule>,
    /// Metadata change time, for If-Modified-Since.
    #[serde(default = "epoch")]
    pub last_modified: chrono::DateTime<chrono::Utc>,
    /// SOQL may name it in FROM (else INVALID_TYPE_FOR_OPERATION).
    #[serde(default = "yes")]
    pub queryable: bool,
    /// getUpdated/getDeleted (`/updated`, `/deleted`) work on it.
    #[serde(default = "yes")]
    pub replicateable: bool,
    /// Records can be retrieved by id.
    #[serde(default = "yes")]
    pub retrieveable: bool,
    #[serde(default = "yes")]
    pub searchable: bool,
    #[serde(default = "yes")]
    pub triggerable: bool,
    #[serde(default = "yes")]
    pub layoutable: bool,
    #[serde(default)]
    pub custom_setting: bool,
    #[serde(default)]
    pub feed_enabled: bool,
    #[serde(default)]
    pub mergeable: bool,
    /// `History`, `Share`, `Feed`, `ChangeEvent`… for an object that belongs to another.
    #[serde(default)]
    pub associate_entity_type: Option<String>,
    #[serde(default)]
    pub associate_parent_entity: Option<String>,
    /// Record types besides Master.
    #[serde(default)]
    pub record_types: Vec<RecordTypeDef>,
}

/// A record type of an object (a RecordType record with the same id exists).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordTypeDef {
    pub id: String,
    pub name: String,
    pub developer_name: String,
    #[serde(default)]
    pub default: bool,
}

/// The Master record type's id, the same in every org.
pub const MASTER_RECORD_TYPE: &str = "012000000000000AAA";

fn epoch() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::UNIX_EPOCH
}

impl ObjectDef {
    pub fn custom(&self) -> bool {
        self.name.ends_with("__c")
    }

    /// A field the API user can see, by name (field-level security hides the others
    /// from queries and writes alike).
    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.visible_fields()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    pub fn field_by_relationship(&self, rel: &str) -> Option<&FieldDef> {
        self.visible_fields().find(|f| {
            f.ftype == FieldType::Reference
                && f.relationship_name
                    .as_deref()
                    .is_some_and(|r| r.eq_ignore_ascii_case(rel))
        })
    }

    /// The storage slot of a field, hidden ones included.
    pub fn slot(&self, name: &str) -> Option<usize> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
            .map(|f| f.slot)
    }

    pub fn name_field(&self) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.name_field)
    }

    fn urls(&self, v: &str) -> serde_json::Value {
        let base = format!("/services/data/v{v}/sobjects/{}", self.name);
        json!({
            "sobject": base,
            "describe": format!("{base}/describe"),
            "rowTemplate": format!("{base}/{{ID}}"),
        })
    }

    /// The entry of describeGlobal.
    pub fn global_entry(&self, v: &str) -> serde_json::Value {
        json!({
            "activateable": false,
            "associateEntityType": self.associate_entity_type,
            "associateParentEntity": self.associate_parent_entity,
            "createable": self.createable,
            "custom": self.custom(),
            "customSetting": self.custom_setting,
            "deepCloneable": false,
            "deletable": self.deletable,
            "deprecatedAndHidden": false,
            "feedEnabled": self.feed_enabled,
            "hasSubtypes": false,
            "isInterface": false,
            "isSubtype": false,
            "keyPrefix": if self.key_prefix.is_empty() { None } else { Some(&self.key_prefix) },
            "label": self.label,
            "labelPlural": self.label_plural,
            "layoutable": self.layoutable,
            "mergeable": self.mergeable,
            "mruEnabled": self.layoutable,
            "name": self.name,
            "queryable": self.queryable,
            "replicateable": self.replicateable,
            "retrieveable": self.retrieveable,
            "searchable": self.searchable,
            "triggerable": self.triggerable,
            "undeletable": self.deletable && self.replicateable,
            "updateable": self.updateable,
            "urls": self.urls(v),
        })
    }

    /// The fields the API user sees (field-level security hides the others).
    pub fn visible_fields(&self) -> impl Iterator<Item = &FieldDef> {
        self.fields.iter().filter(|f| !f.hidden)
    }

    /// The object's record types as describe lists them: Master, then the others; Master
    /// is the default (and available) only when there are no others.
    pub fn record_type_infos(&self, v: &str) -> serde_json::Value {
        let layout = |id: &str| json!({"layout": format!("/services/data/v{v}/sobjects/{}/describe/layouts/{id}", self.name)});
        let only_master = self.record_types.is_empty();
        let mut out = vec![json!({
            "active": true, "available": only_master, "defaultRecordTypeMapping": only_master,
            "developerName": "Master", "master": true, "name": "Master",
            "recordTypeId": MASTER_RECORD_TYPE, "urls": layout(MASTER_RECORD_TYPE),
        })];
        for rt in &self.record_types {
            out.push(json!({
                "active": true, "available": true, "defaultRecordTypeMapping": rt.default,
                "developerName": rt.developer_name, "master": false, "name": rt.name,
                "recordTypeId": rt.id, "urls": layout(&rt.id),
            }));
        }
        out.into()
    }

    /// The full describe, given the objects that refer to this one: describeGlobal's
    /// entry plus every key of Salesforce's `DescribeSObjectResult`.
    pub fn describe(&self, v: &str, children: Vec<serde_json::Value>) -> serde_json::Value {
        let mut d = self.global_entry(v);
        let m = d.as_object_mut().expect("object");
        m.insert(
            "fields".into(),
            self.visible_fields().map(FieldDef::describe).collect(),
        );
        m.insert("childRelationships".into(), children.into());
        m.insert("recordTypeInfos".into(), self.record_type_infos(v));
        let base = format!("/services/data/v{v}/sobjects/{}", self.name);
        let mut urls = self.urls(v);
        if self.layoutable {
            for (k, path) in [
                ("layouts", "/describe/layouts"),
                ("compactLayouts", "/describe/compactLayouts"),
                ("approvalLayouts", "/describe/approvalLayouts"),
                ("quickActions", "/quickActions"),
                ("listviews", "/listviews"),
            ] {
                urls[k] = json!(format!("{base}{path}"));
            }
        }
        m.insert("urls".into(), urls);
        m.insert(
            "supportedScopes".into(),
            if self.queryable {
                json!([{"label": "All", "name": "everything"}, {"label": "My", "name": "mine"}])
            } else {
                json!([])
            },
        );
        m.insert("actionOverrides".into(), json!([]));
        m.insert("compactLayoutable".into(), json!(self.layoutable));
        m.insert("listviewable".into(), json!(self.layoutable));
        m.insert("lookupLayoutable".into(), json!(self.layoutable));
        m.insert("searchLayoutable".into(), json!(self.searchable));
        m.insert("namedLayoutInfos".into(), json!([]));
        m.insert("networkScopeFieldName".into(), json!(null));
        m.insert("defaultImplementation".into(), json!(null));
        m.insert("extendedBy".into(), json!(null));
        m.insert("extendsInterfaces".into(), json!(null));
        m.insert("implementedBy".into(), json!(null));
        m.insert("implementsInterfaces".into(), json!(null));
        m.insert("dataTranslationEnabled".into(), json!(false));
        m.insert("sobjectDescribeOption".into(), json!("FULL"));
        d
    }
}

/// The name of the child relationship `field` of `child` makes on `parent` (describe's
/// `childRelationships[].relationshipName`, SOQL's parent-to-child subquery FROM): the
/// field's own when it has one; none for the audit and owner lookups every object has.
pub fn child_relationship_name(
    parent: &ObjectDef,
    child: &ObjectDef,
    f: &FieldDef,
) -> Option<String> {
    if let Some(r) = &f.child_relationship {
        return Some(r.clone());
    }
    if f.name.ends_with("ById") || f.name == "OwnerId" || f.name == "MasterRecordId" {
        return None;
    }
    let n = child.name.as_str();
    Some(match n {
        n if n.ends_with("__c") => format!("{}s__r", n.trim_end_matches("__c")),
        "Opportunity" => "Opportunities".to_string(),
        n if f.name == "ParentId" && n == parent.name => format!("Child{n}s"),
        n if n.ends_with('y') && !n.ends_with("ay") => format!("{}ies", &n[..n.len() - 1]),
        n if n.ends_with('s') => format!("{n}es"),
        n => format!("{n}s"),
    })
}

/// A label from an API name: `Unit_Price__c` → `Unit Price`, `BillingCity` → `Billing City`.
pub fn label_of(name: &str) -> String {
    let base = name.trim_end_matches("__c").trim_end_matches("Id");
    let base = if base.is_empty() { name } else { base };
    let mut out = String::new();
    let mut prev_lower = false;
    for c in base.chars() {
        if c == '_' {
            out.push(' ');
            prev_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && prev_lower {
            out.push(' ');
        }
        prev_lower = c.is_ascii_lowercase();
        out.push(c);
    }
    out
}

use FieldType as T;

fn f(name: &str, t: FieldType) -> FieldDef {
    FieldDef::new(name, t)
}

fn system_fields(obj: &str, with_owner: bool) -> Vec<FieldDef> {
    let ro = |n: &str, t| f(n, t).read_only();
    let mut v = vec![
        ro("Id", T::Id).required(),
        ro("IsDeleted", T::Boolean),
        ro("CreatedDate", T::Datetime).required(),
        ro("CreatedById", T::Reference)
            .refers("User", "CreatedBy")
            .required(),
        ro("LastModifiedDate", T::Datetime).required(),
        ro("LastModifiedById", T::Reference)
            .refers("User", "LastModifiedBy")
            .required(),
        ro("SystemModstamp", T::Datetime).required(),
    ];
    v[0].label = format!("{} ID", label_of(obj));
    for d in v.iter_mut().skip(2) {
        d.defaulted_on_create = true;
    }
    if with_owner {
        let mut o = f("OwnerId", T::Reference)
            .refers("User", "Owner")
            .required();
        o.defaulted_on_create = true;
        v.push(o);
    }
    v
}

fn address(prefix: &str) -> Vec<FieldDef> {
    let c = format!("{prefix}Address");
    vec![
        f(&format!("{prefix}Street"), T::Textarea).compound(&c),
        f(&format!("{prefix}City"), T::String).len(40).compound(&c),
        f(&format!("{prefix}State"), T::String).len(80).compound(&c),
        f(&format!("{prefix}PostalCode"), T::String)
            .len(20)
            .compound(&c),
        f(&format!("{prefix}Country"), T::String)
            .len(80)
            .compound(&c),
        f(&c, T::Address).len(0).read_only(),
    ]
}

fn name_of(first: &str, last: &str) -> FieldDef {
    let mut n = f("Name", T::String).len(121).computed(Formula::Concat {
        fields: vec![first.into(), last.into()],
    });
    n.name_field = true;
    n.nillable = false;
    n
}

fn object(name: &str, prefix: &str, plural: &str, fields: Vec<FieldDef>) -> ObjectDef {
    let mut o = ObjectDef {
        name: name.into(),
        label: label_of(name),
        label_plural: plural.into(),
        key_prefix: prefix.into(),
        createable: true,
        updateable: true,
        deletable: true,
        fields,
        validation_rules: vec![],
        last_modified: epoch(),
        queryable: true,
        replicateable: true,
        retrieveable: true,
        searchable: true,
        triggerable: true,
        layoutable: true,
        custom_setting: false,
        feed_enabled: false,
        mergeable: false,
        associate_entity_type: None,
        associate_parent_entity: None,
        record_types: vec![],
    };
    for (i, fd) in o.fields.iter_mut().enumerate() {
        fd.slot = i;
    }
    o
}

const INDUSTRIES: &[&str] = &[
    "Agriculture",
    "Banking",
    "Biotechnology",
    "Chemicals",
    "Communications",
    "Construction",
    "Consulting",
    "Education",
    "Electronics",
    "Energy",
    "Engineering",
    "Entertainment",
    "Finance",
    "Healthcare",
    "Hospitality",
    "Insurance",
    "Manufacturing",
    "Media",
    "Retail",
    "Technology",
    "Telecommunications",
    "Transportation",
    "Utilities",
    "Other",
];
const LEAD_SOURCES: &[&str] = &[
    "Web",
    "Phone Inquiry",
    "Partner Referral",
    "Purchased List",
    "Other",
];
pub const STAGES: &[&str] = &[
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Id. Decision Makers",
    "Perception Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
];

/// The standard objects and the custom object `Invoice__c`, as a fresh org has them.
pub fn standard_objects() -> Vec<ObjectDef> {
    let name = |n: &str, len: u32| {
        let mut d = f(n, T::String).len(len).required();
        d.name_field = true;
        d
    };
    let mut account = system_fields("Account", true);
    account.extend([
        name("Name", 255),
        f("Type", T::Picklist).len(255).picklist(
            &[
                "Prospect",
                "Customer - Direct",
                "Customer - Channel",
                "Channel Partner / Reseller",
                "Installation Partner",
                "Technology Partner",
                "Other",
            ],
            false,
        ),
        f("Industry", T::Picklist).picklist(INDUSTRIES, false),
        f("Rating", T::Picklist).picklist(&["Hot", "Warm", "Cold"], false),
        f("ParentId", T::Reference).refers("Account", "Parent"),
        f("AccountNumber", T::String).len(40),
        f("Phone", T::Phone),
        f("Website", T::Url),
        f("AnnualRevenue", T::Currency).precision(18, 0),
        f("NumberOfEmployees", T::Int).precision(8, 0),
        f("Description", T::Textarea).len(32000),
    ]);
    account.extend(address("Billing"));
    account.extend(address("Shipping"));
    account.extend([
        {
            let mut e = f("External_Id__c", T::String).len(40);
            e.external_id = true;
            e.unique = true;
            e
        },
        f("Region__c", T::Picklist)
            .picklist(&["EMEA", "AMER", "APAC"], true)
            .labels(&["Europe, Middle East and Africa", "Americas", "Asia-Pacific"]),
    ]);

    let mut contact = system_fields("Contact", true);
    contact.extend([
        f("FirstName", T::String).len(40).compound("Name"),
        f("LastName", T::String).len(80).required().compound("Name"),
        name_of("FirstName", "LastName"),
        f("AccountId", T::Reference)
            .refers("Account", "Account")
            .cascade(),
        f("Email", T::Email),
        f("Phone", T::Phone),
        f("Title", T::String).len(128),
        f("Birthdate", T::Date),
        f("LeadSource", T::Picklist).picklist(LEAD_SOURCES, false),
        f("DoNotCall", T::Boolean),
    ]);
    contact.extend(address("Mailing"));

    let mut lead = system_fields("Lead", true);
    lead.extend([
        f("FirstName", T::String).len(40).compound("Name"),
        f("LastName", T::String).len(80).required().compound("Name"),
        name_of("FirstName", "LastName"),
        f("Company", T::String).len(255).required(),
        f("Status", T::Picklist)
            .picklist(
                &[
                    "Open - Not Contacted",
                    "Working - Contacted",
                    "Closed - Converted",
                    "Closed - Not Converted",
                ],
                true,
            )
            .required()
            .default(json!("Open - Not Contacted")),
        f("Email", T::Email),
        f("Phone", T::Phone),
        f("Industry", T::Picklist).picklist(INDUSTRIES, false),
        f("LeadSource", T::Picklist).picklist(LEAD_SOURCES, false),
        f("AnnualRevenue", T::Currency).precision(18, 0),
    ]);

    let mut opp = system_fields("Opportunity", true);
    opp.extend([
        name("Name", 120),
        f("AccountId", T::Reference)
            .refers("Account", "Account")
            .cascade(),
        f("StageName", T::Picklist)
            .picklist(STAGES, true)
            .required(),
        f("CloseDate", T::Date).required(),
        f("Amount", T::Currency),
        f("Probability", T::Percent),
        f("ExpectedRevenue", T::Currency).computed(Formula::Product {
            a: "Amount".into(),
            b: "Probability".into(),
            divisor: 100.0,
        }),
        f("Type", T::Picklist).picklist(
            &[
                "Existing Customer - Upgrade",
                "Existing Customer - Replacement",
                "Existing Customer - Downgrade",
                "New Customer",
            ],
            false,
        ),
        f("LeadSource", T::Picklist).picklist(LEAD_SOURCES, false),
        f("Description", T::Textarea).len(32000),
    ]);

    let mut case = system_fields("Case", true);
    case.extend([
        {
            let mut d = f("CaseNumber", T::String).len(30).read_only();
            d.auto_number = Some("{00000000}".into());
            d.name_field = true;
            d.nillable = false;
            d
        },
        f("Subject", T::String).len(255),
        f("Description", T::Textarea).len(32000),
        f("Status", T::Picklist)
            .picklist(&["New", "Working", "Escalated", "Closed"], false)
            .default(json!("New")),
        f("Priority", T::Picklist)
            .picklist(&["High", "Medium", "Low"], false)
            .default(json!("Medium")),
        f("Origin", T::Picklist).picklist(&["Phone", "Email", "Web"], false),
        f("AccountId", T::Reference).refers("Account", "Account"),
        f("ContactId", T::Reference).refers("Contact", "Contact"),
    ]);

    let mut user = system_fields("User", false);
    user.extend([
        {
            let mut u = f("Username", T::String).len(80).required();
            u.unique = true;
            u
        },
        f("FirstName", T::String).len(40),
        f("LastName", T::String).len(80).required(),
        name_of("FirstName", "LastName"),
        f("Email", T::Email).len(128).required(),
        f("Alias", T::String).len(8).required(),
        f("IsActive", T::Boolean).default(json!(true)),
    ]);

    let mut invoice = system_fields("Invoice__c", true);
    invoice.extend([
        {
            let mut d = f("Name", T::String).len(80).read_only();
            d.auto_number = Some("INV-{00000}".into());
            d.name_field = true;
            d.nillable = false;
            d.label = "Invoice Number".into();
            d
        },
        f("Account__c", T::Reference).refers("Account", "Account__r"),
        {
            let mut e = f("Invoice_Key__c", T::String).len(40);
            e.external_id = true;
            e.unique = true;
            e
        },
        f("Status__c", T::Picklist)
            .picklist(&["Draft", "Sent", "Paid", "Void"], true)
            .default(json!("Draft")),
        f("Quantity__c", T::Double).precision(18, 0),
        f("Unit_Price__c", T::Currency).precision(16, 2),
        f("Total__c", T::Currency)
            .precision(18, 2)
            .computed(Formula::Product {
                a: "Quantity__c".into(),
                b: "Unit_Price__c".into(),
                divisor: 1.0,
            }),
        f("Due_Date__c", T::Date),
        f("Paid_At__c", T::Datetime),
        f("Reminder_Time__c", T::Time),
        f("Tags__c", T::Multipicklist)
            .picklist(&["Urgent", "Disputed", "Recurring", "Partner"], false),
        f("Is_Priority__c", T::Boolean),
        f("Notes__c", T::Textarea).len(32768),
    ]);

    realistic_account(&mut account);
    realistic_contact(&mut contact);
    people::realistic_lead(&mut lead);
    people::realistic_user(&mut user);
    realistic_opportunity(&mut opp);
    realistic_case(&mut case);
    polymorphic_owner(&mut lead);
    polymorphic_owner(&mut case);

    let mut opp_def = object("Opportunity", "006", "Opportunities", opp);
    opp_def.validation_rules.push(ValidationRule {
        name: "Amount_Not_Negative".into(),
        condition: "Amount < 0".into(),
        message: "Amount must not be negative".into(),
        field: Some("Amount".into()),
    });
    opp_def.record_types = record_types(
        &[("New_Business", "New Business"), ("Renewal", "Renewal")],
        3,
    );
    let mut user_def = object("User", "005", "Users", user);
    user_def.deletable = false;
    let mut account_def = object("Account", "001", "Accounts", account);
    account_def.record_types = record_types(
        &[
            ("Business", "Business Account"),
            ("Partner", "Partner Account"),
        ],
        1,
    );
    account_def.feed_enabled = true;
    account_def.mergeable = true;
    let mut case_def = object("Case", "500", "Cases", case);
    case_def.record_types = record_types(
        &[("Support", "Support Case"), ("Billing", "Billing Case")],
        5,
    );
    let mut contact_def = object("Contact", "003", "Contacts", contact);
    contact_def.mergeable = true;
    vec![
        account_def,
        contact_def,
        object("Lead", "00Q", "Leads", lead),
        opp_def,
        case_def,
        user_def,
        object("Invoice__c", "a00", "Invoices", invoice),
    ]
}

/// Record types of an object, the first its default; ids from `first` on.
fn record_types(list: &[(&str, &str)], first: u64) -> Vec<RecordTypeDef> {
    list.iter()
        .enumerate()
        .map(|(i, (dev, name))| RecordTypeDef {
            id: record_type_id(first + i as u64),
            name: name.to_string(),
            developer_name: dev.to_string(),
            default: i == 0,
        })
        .collect()
}

/// The id of the n-th RecordType record.
pub fn record_type_id(n: u64) -> String {
    crate::ids::make_id("012", n)
}

/// `RecordTypeId`: defaulted to the object's default record type when not given.
fn record_type_field(default_id: &str) -> FieldDef {
    f("RecordTypeId", T::Reference)
        .refers("RecordType", "RecordType")
        .default(json!(default_id))
}

/// An owner that may be a user or a queue (a Group of type Queue).
fn polymorphic_owner(fields: &mut [FieldDef]) {
    if let Some(o) = fields.iter_mut().find(|f| f.name == "OwnerId") {
        o.reference_to = vec!["Group".into(), "User".into()];
    }
}

/// Latitude, longitude and geocode accuracy of a standard address.
fn geocode(prefix: &str) -> Vec<FieldDef> {
    let c = format!("{prefix}Address");
    vec![
        f(&format!("{prefix}Latitude"), T::Double)
            .precision(18, 15)
            .compound(&c),
        f(&format!("{prefix}Longitude"), T::Double)
            .precision(18, 15)
            .compound(&c),
        f(&format!("{prefix}GeocodeAccuracy"), T::Picklist)
            .picklist(
                &[
                    "Address",
                    "NearAddress",
                    "Block",
                    "Street",
                    "ExtendedZip",
                    "Zip",
                    "City",
                    "County",
                    "State",
                    "Unknown",
                ],
                false,
            )
            .compound(&c),
    ]
}

/// A custom geolocation field and its two components.
fn geolocation(name: &str) -> Vec<FieldDef> {
    let base = name.trim_end_matches("__c");
    vec![
        f(&format!("{base}__Latitude__s"), T::Double)
            .precision(9, 6)
            .compound(name),
        f(&format!("{base}__Longitude__s"), T::Double)
            .precision(9, 6)
            .compound(name),
        f(name, T::Location).len(0).read_only(),
    ]
}

fn currency_iso_code() -> FieldDef {
    let mut c = f("CurrencyIsoCode", T::Picklist)
        .len(3)
        .picklist(&["USD", "EUR", "GBP", "JPY", "CHF"], true)
        .labels(&[
            "USD - U.S. Dollar",
            "EUR - Euro",
            "GBP - British Pound",
            "JPY - Japanese Yen",
            "CHF - Swiss Franc",
        ])
        .default(json!("USD"));
    c.label = "Currency ISO Code".into();
    c.nillable = true;
    c
}

fn ro(name: &str, t: FieldType) -> FieldDef {
    f(name, t).read_only()
}

fn help(mut d: FieldDef, text: &str) -> FieldDef {
    d.inline_help_text = Some(text.into());
    d
}

fn hidden(mut d: FieldDef) -> FieldDef {
    d.hidden = true;
    d
}

/// A dependent picklist: `values[i]` is valid for the controlling values `valid[i]`.
fn dependent(name: &str, controller: &str, values: &[(&str, &[usize])]) -> FieldDef {
    let mut d = f(name, T::Picklist);
    d.picklist_values = values.iter().map(|(v, _)| v.to_string()).collect();
    d.valid_for = values.iter().map(|(_, i)| i.to_vec()).collect();
    d.controller_name = Some(controller.into());
    d
}

fn rich_text(name: &str, len: u32) -> FieldDef {
    let mut d = f(name, T::Textarea).len(len);
    d.html_formatted = true;
    d
}

fn auto_number(name: &str, format: &str) -> FieldDef {
    let mut d = f(name, T::String).len(30).read_only();
    d.auto_number = Some(format.into());
    d.nillable = false;
    d
}

/// A roll-up summary as describe shows one: calculated, read-only, nulls as zero.
fn roll_up(name: &str, t: FieldType) -> FieldDef {
    let mut d = f(name, t).read_only();
    d.formula_null_as_zero = true;
    d.formula = Some(Formula::RollUp);
    d
}

/// Account as a Developer Edition org has it, with the sample custom fields, a multi-
/// currency setup and a few fields of every kind a sync must cope with.
fn realistic_account(v: &mut Vec<FieldDef>) {
    v.extend(geocode("Billing"));
    v.extend(geocode("Shipping"));
    v.extend([
        ro("MasterRecordId", T::Reference).refers("Account", "MasterRecord"),
        record_type_field(&record_type_id(1)),
        f("Fax", T::Phone),
        f("Sic", T::String).len(20),
        f("SicDesc", T::String).len(80),
        f("Ownership", T::Picklist).picklist(&["Public", "Private", "Subsidiary", "Other"], false),
        f("TickerSymbol", T::String).len(20),
        f("Site", T::String).len(80),
        f("AccountSource", T::Picklist).picklist(LEAD_SOURCES, false),
        ro("PhotoUrl", T::Url),
        f("Jigsaw", T::String).len(20),
        ro("JigsawCompanyId", T::String).len(20),
        f("CleanStatus", T::Picklist).picklist(
            &[
                "Matched",
                "Different",
                "Acknowledged",
                "NotFound",
                "Inactive",
                "Pending",
                "SelectMatch",
                "Skipped",
            ],
            false,
        ),
        f("DunsNumber", T::String).len(9),
        f("Tradestyle", T::String).len(255),
        f("NaicsCode", T::String).len(8),
        f("NaicsDesc", T::String).len(120),
        f("YearStarted", T::String).len(4),
        ro("LastActivityDate", T::Date),
        ro("LastViewedDate", T::Datetime),
        ro("LastReferencedDate", T::Datetime),
        currency_iso_code(),
        f("CustomerPriority__c", T::Picklist).picklist(&["High", "Low", "Medium"], false),
        f("SLA__c", T::Picklist).picklist(&["Gold", "Silver", "Platinum", "Bronze"], false),
        f("SLAExpirationDate__c", T::Date),
        f("SLASerialNumber__c", T::String).len(10),
        f("NumberofLocations__c", T::Double).precision(3, 0),
        f("UpsellOpportunity__c", T::Picklist).picklist(&["Maybe", "No", "Yes"], false),
        f("Active__c", T::Picklist).picklist(&["No", "Yes"], false),
        dependent(
            "Sub_Region__c",
            "Region__c",
            &[
                ("DACH", &[0]),
                ("Nordics", &[0]),
                ("UK & Ireland", &[0]),
                ("North America", &[1]),
                ("LATAM", &[1]),
                ("ANZ", &[2]),
                ("Japan", &[2]),
            ],
        ),
        f("Product_Interest__c", T::Multipicklist).picklist(
            &["Analytics", "Integration", "Mobile", "Platform", "Support"],
            false,
        ),
        help(
            f("Tax_Id__c", T::EncryptedString).len(20),
            "Shown masked to users without View Encrypted Data",
        ),
        f("Account_Notes__c", T::Textarea).len(131_072),
        rich_text("Profile__c", 32_768),
        auto_number("Account_Code__c", "ACC-{000000}"),
        f("Revenue_Per_Employee__c", T::Currency)
            .precision(18, 2)
            .computed(Formula::Ratio {
                a: "AnnualRevenue".into(),
                b: "NumberOfEmployees".into(),
            }),
        roll_up("Open_Opportunities__c", T::Double),
    ]);
    v.extend(geolocation("Headquarters__c"));
    v.extend([
        hidden(f("Credit_Limit__c", T::Currency).precision(16, 2)),
        hidden(f("Internal_Rating__c", T::Picklist).picklist(&["A", "B", "C", "D"], false)),
    ]);
}

fn realistic_contact(v: &mut Vec<FieldDef>) {
    v.extend(geocode("Mailing"));
    v.extend(address("Other"));
    v.extend(geocode("Other"));
    v.extend([
        ro("MasterRecordId", T::Reference).refers("Contact", "MasterRecord"),
        f("Salutation", T::Picklist).picklist(&["Mr.", "Ms.", "Mrs.", "Dr.", "Prof."], false),
        f("MiddleName", T::String).len(40),
        f("Suffix", T::String).len(40),
        f("Fax", T::Phone),
        f("MobilePhone", T::Phone),
        f("HomePhone", T::Phone),
        f("OtherPhone", T::Phone),
        f("AssistantName", T::String).len(40),
        f("AssistantPhone", T::Phone),
        f("ReportsToId", T::Reference).refers("Contact", "ReportsTo"),
        f("Department", T::String).len(80),
        f("HasOptedOutOfEmail", T::Boolean),
        f("HasOptedOutOfFax", T::Boolean),
        ro("IsEmailBounced", T::Boolean),
        f("EmailBouncedReason", T::String).len(255),
        f("EmailBouncedDate", T::Datetime),
        ro("LastActivityDate", T::Date),
        ro("LastCURequestDate", T::Datetime),
        ro("LastCUUpdateDate", T::Datetime),
        ro("LastViewedDate", T::Datetime),
        ro("LastReferencedDate", T::Datetime),
        ro("PhotoUrl", T::Url),
        f("Jigsaw", T::String).len(20),
        currency_iso_code(),
        f("Languages__c", T::String).len(100),
        f("Level__c", T::Picklist).picklist(&["Secondary", "Tertiary", "Primary"], false),
        f("Interests__c", T::Multipicklist).picklist(
            &["Events", "Newsletter", "Webinars", "Beta programme"],
            false,
        ),
        f("Preferred_Channel__c", T::Picklist).picklist(&["Email", "Phone", "Mail"], false),
        dependent(
            "Preferred_Time__c",
            "Preferred_Channel__c",
            &[
                ("Morning", &[1]),
                ("Afternoon", &[1]),
                ("Any time", &[0, 1, 2]),
            ],
        ),
        help(
            f("Passport_Number__c", T::EncryptedString).len(30),
            "Encrypted at rest",
        ),
        f("Bio__c", T::Textarea).len(131_072),
        hidden(f("Salary_Band__c", T::Picklist).picklist(&["1", "2", "3", "4"], false)),
    ]);
}

fn realistic_opportunity(v: &mut Vec<FieldDef>) {
    v.extend([
        record_type_field(&record_type_id(3)),
        f("IsPrivate", T::Boolean),
        f("NextStep", T::String).len(255),
        ro("IsClosed", T::Boolean),
        ro("IsWon", T::Boolean),
        ro("ForecastCategory", T::Picklist).picklist(
            &[
                "Omitted",
                "Pipeline",
                "BestCase",
                "MostLikely",
                "Forecast",
                "Closed",
            ],
            false,
        ),
        f("ForecastCategoryName", T::Picklist).picklist(
            &["Omitted", "Pipeline", "Best Case", "Commit", "Closed"],
            false,
        ),
        f("CampaignId", T::Reference).refers("Campaign", "Campaign"),
        ro("HasOpportunityLineItem", T::Boolean),
        f("Pricebook2Id", T::Reference).refers("Pricebook2", "Pricebook2"),
        f("TotalOpportunityQuantity", T::Double).precision(18, 2),
        ro("LastActivityDate", T::Date),
        ro("LastStageChangeDate", T::Datetime),
        ro("FiscalQuarter", T::Int),
        ro("FiscalYear", T::Int),
        ro("Fiscal", T::String).len(6),
        f("ContactId", T::Reference).refers("Contact", "Contact"),
        currency_iso_code(),
        f("DeliveryInstallationStatus__c", T::Picklist)
            .picklist(&["In progress", "Yet to begin", "Completed"], false),
        f("TrackingNumber__c", T::String).len(12),
        f("OrderNumber__c", T::String).len(8),
        f("CurrentGenerators__c", T::String).len(100),
        f("MainCompetitors__c", T::String).len(100),
        f("Competitors__c", T::Multipicklist)
            .picklist(&["Globex", "Initech", "Umbrella", "Hooli"], false),
        f("Loss_Reason__c", T::Picklist)
            .picklist(&["Price", "Features", "Timing", "No decision"], false),
        f("Deal_Notes__c", T::Textarea).len(131_072),
        hidden(f("Discount_Approved__c", T::Percent).precision(5, 2)),
    ]);
}

fn realistic_case(v: &mut Vec<FieldDef>) {
    v.extend([
        record_type_field(&record_type_id(5)),
        ro("MasterRecordId", T::Reference).refers("Case", "MasterRecord"),
        f("ParentId", T::Reference).refers("Case", "Parent"),
        f("AssetId", T::Reference).refers("Asset", "Asset"),
        f("SuppliedName", T::String).len(80),
        f("SuppliedEmail", T::Email),
        f("SuppliedPhone", T::String).len(40),
        f("SuppliedCompany", T::String).len(80),
        f("Type", T::Picklist).picklist(
            &[
                "Mechanical",
                "Electrical",
                "Electronic",
                "Structural",
                "Other",
            ],
            false,
        ),
        f("Reason", T::Picklist).picklist(
            &[
                "Installation",
                "Equipment Complexity",
                "Performance",
                "Breakdown",
                "Equipment Design",
                "Feedback",
                "Other",
            ],
            false,
        ),
        ro("IsClosed", T::Boolean),
        ro("ClosedDate", T::Datetime),
        f("IsEscalated", T::Boolean),
        f("Comments", T::Textarea).len(4000),
        ro("ContactEmail", T::Email),
        ro("ContactPhone", T::Phone),
        ro("ContactMobile", T::Phone),
        ro("ContactFax", T::Phone),
        ro("LastViewedDate", T::Datetime),
        ro("LastReferencedDate", T::Datetime),
        currency_iso_code(),
        f("EngineeringReqNumber__c", T::String).len(12),
        f("SLAViolation__c", T::Picklist).picklist(&["No", "Yes"], false),
        f("Product__c", T::Picklist).picklist(
            &[
                "GC1040", "GC1060", "GC3020", "GC3040", "GC3060", "GC5020", "GC5040", "GC5060",
                "GC1020",
            ],
            false,
        ),
        f("PotentialLiability__c", T::Picklist).picklist(&["No", "Yes"], false),
        dependent(
            "Escalation_Reason__c",
            "IsEscalated",
            &[
                ("Customer threat", &[1]),
                ("SLA breach", &[1]),
                ("Not escalated", &[0]),
            ],
        ),
        rich_text("Resolution__c", 131_072),
        hidden(f("Root_Cause__c", T::Textarea).len(1000)),
    ]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_read_well() {
        assert_eq!(label_of("Unit_Price__c"), "Unit Price");
        assert_eq!(label_of("BillingCity"), "Billing City");
        assert_eq!(label_of("AccountId"), "Account");
    }

    #[test]
    fn required_fields_follow_the_describe_rule() {
        let objs = standard_objects();
        let acc = objs.iter().find(|o| o.name == "Account").unwrap();
        let req: Vec<_> = acc
            .fields
            .iter()
            .filter(|f| f.required_on_create())
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(req, vec!["Name"]);
        let opp = objs.iter().find(|o| o.name == "Opportunity").unwrap();
        let req: Vec<_> = opp
            .fields
            .iter()
            .filter(|f| f.required_on_create())
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(req, vec!["Name", "StageName", "CloseDate"]);
    }
}
