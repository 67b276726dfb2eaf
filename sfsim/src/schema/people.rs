//! Lead and User as a Developer Edition org has them: the standard fields beyond the few
//! the sample data fills (address, conversion, email bounce, locale and profile fields).
//! What Salesforce sets itself is read-only; nothing here is required beyond what the
//! sample objects already require.

use super::{FieldDef, FieldType as T, address, currency_iso_code, f, geocode, ro};

pub(super) fn realistic_lead(v: &mut Vec<FieldDef>) {
    // A lead's address is `Address` over Street, City, …
    v.extend(address(""));
    v.extend(geocode(""));
    v.extend([
        ro("MasterRecordId", T::Reference).refers("Lead", "MasterRecord"),
        f("Salutation", T::Picklist).picklist(&["Mr.", "Ms.", "Mrs.", "Dr.", "Prof."], false),
        f("MiddleName", T::String).len(40),
        f("Suffix", T::String).len(40),
        f("Title", T::String).len(128),
        f("MobilePhone", T::Phone),
        f("Fax", T::Phone),
        f("Website", T::Url),
        f("Description", T::Textarea).len(32000),
        f("Rating", T::Picklist).picklist(&["Hot", "Warm", "Cold"], false),
        f("NumberOfEmployees", T::Int).precision(8, 0),
        ro("IsConverted", T::Boolean),
        ro("ConvertedDate", T::Date),
        ro("ConvertedAccountId", T::Reference).refers("Account", "ConvertedAccount"),
        ro("ConvertedContactId", T::Reference).refers("Contact", "ConvertedContact"),
        ro("ConvertedOpportunityId", T::Reference).refers("Opportunity", "ConvertedOpportunity"),
        f("IsUnreadByOwner", T::Boolean),
        f("HasOptedOutOfEmail", T::Boolean),
        f("HasOptedOutOfFax", T::Boolean),
        f("DoNotCall", T::Boolean),
        f("EmailBouncedReason", T::String).len(255),
        f("EmailBouncedDate", T::Datetime),
        ro("LastActivityDate", T::Date),
        ro("LastViewedDate", T::Datetime),
        ro("LastReferencedDate", T::Datetime),
        ro("PhotoUrl", T::Url),
        f("Jigsaw", T::String).len(20),
        currency_iso_code(),
    ]);
}

pub(super) fn realistic_user(v: &mut Vec<FieldDef>) {
    v.extend(address(""));
    let picklist = |name: &str, values: &[&str], default: &str| {
        f(name, T::Picklist)
            .picklist(values, true)
            .default(serde_json::json!(default))
    };
    v.extend([
        f("CompanyName", T::String).len(80),
        f("Division", T::String).len(80),
        f("Department", T::String).len(80),
        f("Title", T::String).len(80),
        f("Phone", T::Phone),
        f("MobilePhone", T::Phone),
        f("CommunityNickname", T::String).len(40),
        f("EmployeeNumber", T::String).len(20),
        f("ManagerId", T::Reference).refers("User", "Manager"),
        picklist(
            "TimeZoneSidKey",
            &["GMT", "Europe/Zurich", "America/Los_Angeles"],
            "GMT",
        ),
        picklist("LocaleSidKey", &["en_US", "de_CH", "fr_FR"], "en_US"),
        picklist("LanguageLocaleKey", &["en_US", "de", "fr"], "en_US"),
        picklist("EmailEncodingKey", &["UTF-8", "ISO-8859-1"], "UTF-8"),
        ro("UserType", T::Picklist).picklist(&["Standard", "AutomatedProcess"], false),
        ro("LastLoginDate", T::Datetime),
        ro("LastPasswordChangeDate", T::Datetime),
        f("ReceivesAdminInfoEmails", T::Boolean),
        f("UserPermissionsMarketingUser", T::Boolean),
        currency_iso_code(),
    ]);
}
