//! Seeded, realistic records per object, and the change generator.

use crate::ids;
use crate::schema::STAGES;
use crate::sim::Sim;
use crate::store::{Org, Raw};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{Value as J, json};

const FIRST: &[&str] = &[
    "Ada",
    "Grace",
    "Alan",
    "Linus",
    "Margaret",
    "Ken",
    "Barbara",
    "Dennis",
    "Frances",
    "John",
    "Radia",
    "Tim",
    "Hedy",
    "Edsger",
    "Katherine",
    "Donald",
    "Sophie",
    "Yukihiro",
    "Anders",
    "Guido",
];
const LAST: &[&str] = &[
    "Lovelace",
    "Hopper",
    "Turing",
    "Torvalds",
    "Hamilton",
    "Thompson",
    "Liskov",
    "Ritchie",
    "Allen",
    "Backus",
    "Perlman",
    "Berners-Lee",
    "Lamarr",
    "Dijkstra",
    "Johnson",
    "Knuth",
    "Wilson",
    "Matsumoto",
    "Hejlsberg",
    "van Rossum",
];
const WORDS: &[&str] = &[
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Wonka",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Hooli",
    "Vandelay",
    "Pied Piper",
    "Massive Dynamic",
    "Aperture",
    "Black Mesa",
    "Oceanic",
    "Monarch",
    "Nakatomi",
    "Gringotts",
];
const SUFFIX: &[&str] = &[
    "Inc.", "GmbH", "Ltd", "LLC", "S.A.", "AG", "Corp.", "Group", "Holdings", "Partners",
];
const CITIES: &[(&str, &str, &str)] = &[
    ("Berlin", "BE", "Germany"),
    ("Paris", "IDF", "France"),
    ("London", "LND", "United Kingdom"),
    ("New York", "NY", "United States"),
    ("San Francisco", "CA", "United States"),
    ("Tokyo", "13", "Japan"),
    ("Sydney", "NSW", "Australia"),
    ("Toronto", "ON", "Canada"),
    ("Madrid", "MD", "Spain"),
    ("Milan", "MI", "Italy"),
];
const INDUSTRIES: &[&str] = &[
    "Banking",
    "Retail",
    "Technology",
    "Healthcare",
    "Manufacturing",
    "Energy",
    "Media",
    "Education",
    "Insurance",
    "Consulting",
];

/// A random live record id of an object, if there is one.
fn random_id(org: &Org, object: &str, rng: &mut StdRng) -> Option<String> {
    let t = org.table(object)?;
    if t.records.is_empty() {
        return None;
    }
    let key = ids::make_id(&t.def.key_prefix, rng.random_range(1..t.next_seq.max(2)));
    t.records
        .range(key..)
        .map(|(_, r)| r)
        .find(|r| r.deleted.is_none())
        .or_else(|| t.live().next())
        .map(|r| r.id.clone())
}

/// Field values for one new record of `object`.
pub fn fields_for(
    org: &Org,
    object: &str,
    n: u64,
    rng: &mut StdRng,
) -> Result<Vec<(String, J)>, String> {
    let t = org
        .table(object)
        .ok_or_else(|| format!("no object {object}"))?;
    let person = (
        FIRST.choose(rng).copied().unwrap_or("Ada"),
        LAST.choose(rng).copied().unwrap_or("Lovelace"),
    );
    let company = format!(
        "{} {}",
        WORDS.choose(rng).copied().unwrap_or("Acme"),
        SUFFIX.choose(rng).copied().unwrap_or("Inc.")
    );
    let email = format!(
        "{}.{}{}@example.com",
        person.0.to_lowercase(),
        person.1.to_lowercase().replace(' ', ""),
        n
    );
    let city = *CITIES.choose(rng).unwrap_or(&CITIES[0]);
    let account = || random_id(org, "Account", &mut StdRng::seed_from_u64(n));
    let mut f: Vec<(String, J)> = match t.def.name.as_str() {
        "Account" => vec![
            ("Name".into(), json!(format!("{company} #{n}"))),
            (
                "Type".into(),
                json!(
                    [
                        "Prospect",
                        "Customer - Direct",
                        "Customer - Channel",
                        "Other"
                    ][rng.random_range(0..4)]
                ),
            ),
            ("Industry".into(), json!(INDUSTRIES.choose(rng))),
            (
                "Rating".into(),
                json!(["Hot", "Warm", "Cold"][rng.random_range(0..3)]),
            ),
            (
                "Phone".into(),
                json!(format!("+1 555 {:04}", rng.random_range(0..10000))),
            ),
            (
                "Website".into(),
                json!(format!(
                    "https://www.{}.example",
                    company.split(' ').next().unwrap_or("acme").to_lowercase()
                )),
            ),
            (
                "AnnualRevenue".into(),
                json!(rng.random_range(10..5000) * 10_000),
            ),
            (
                "NumberOfEmployees".into(),
                json!(rng.random_range(1..20000)),
            ),
            (
                "BillingStreet".into(),
                json!(format!("{} Main Street", rng.random_range(1..999))),
            ),
            ("BillingCity".into(), json!(city.0)),
            ("BillingState".into(), json!(city.1)),
            ("BillingCountry".into(), json!(city.2)),
            (
                "External_Id__c".into(),
                json!(format!("ACC-{:09}", t.next_seq)),
            ),
            (
                "Region__c".into(),
                json!(["EMEA", "AMER", "APAC"][rng.random_range(0..3)]),
            ),
        ],
        "Contact" => vec![
            ("FirstName".into(), json!(person.0)),
            ("LastName".into(), json!(person.1)),
            ("Email".into(), json!(email)),
            (
                "Title".into(),
                json!(["CEO", "CTO", "Engineer", "Buyer", "Analyst"][rng.random_range(0..5)]),
            ),
            ("AccountId".into(), json!(account())),
            ("MailingCity".into(), json!(city.0)),
        ],
        "Lead" => vec![
            ("FirstName".into(), json!(person.0)),
            ("LastName".into(), json!(person.1)),
            ("Company".into(), json!(company)),
            ("Email".into(), json!(email)),
            ("Industry".into(), json!(INDUSTRIES.choose(rng))),
            (
                "LeadSource".into(),
                json!(
                    ["Web", "Phone Inquiry", "Partner Referral", "Other"][rng.random_range(0..4)]
                ),
            ),
        ],
        "Opportunity" => vec![
            ("Name".into(), json!(format!("{company} deal {n}"))),
            ("StageName".into(), json!(STAGES.choose(rng))),
            (
                "CloseDate".into(),
                json!(format!(
                    "2025-{:02}-{:02}",
                    rng.random_range(1..13),
                    rng.random_range(1..29)
                )),
            ),
            ("Amount".into(), json!(rng.random_range(1..500) * 1000)),
            ("Probability".into(), json!(rng.random_range(0..11) * 10)),
            ("AccountId".into(), json!(account())),
        ],
        "Case" => vec![
            (
                "Subject".into(),
                json!(format!(
                    "Issue {n}: {}",
                    [
                        "login fails",
                        "invoice wrong",
                        "slow page",
                        "feature request"
                    ][rng.random_range(0..4)]
                )),
            ),
            (
                "Status".into(),
                json!(["New", "Working", "Escalated", "Closed"][rng.random_range(0..4)]),
            ),
            (
                "Priority".into(),
                json!(["High", "Medium", "Low"][rng.random_range(0..3)]),
            ),
            (
                "Origin".into(),
                json!(["Phone", "Email", "Web"][rng.random_range(0..3)]),
            ),
            ("AccountId".into(), json!(account())),
        ],
        "Invoice__c" => vec![
            ("Account__c".into(), json!(account())),
            (
                "Invoice_Key__c".into(),
                json!(format!("INV-KEY-{:09}", t.next_seq)),
            ),
            (
                "Status__c".into(),
                json!(["Draft", "Sent", "Paid"][rng.random_range(0..3)]),
            ),
            ("Quantity__c".into(), json!(rng.random_range(1..100))),
            (
                "Unit_Price__c".into(),
                json!(rng.random_range(100..100000) as f64 / 100.0),
            ),
            (
                "Due_Date__c".into(),
                json!(format!(
                    "2025-{:02}-{:02}",
                    rng.random_range(1..13),
                    rng.random_range(1..29)
                )),
            ),
        ],
        _ => {
            // A custom object defined at run time: fill its writable text and number fields.
            let mut v = Vec::new();
            for fd in t
                .def
                .visible_fields()
                .filter(|f| f.createable && f.custom())
            {
                use crate::schema::FieldType as T;
                let val = match fd.ftype {
                    T::String | T::Textarea => json!(
                        format!("{} {n}", fd.label)
                            .chars()
                            .take(fd.length.max(1) as usize)
                            .collect::<String>()
                    ),
                    T::Int => json!(rng.random_range(0..1000)),
                    T::Double | T::Currency | T::Percent => json!(rng.random_range(0..1000)),
                    T::Boolean => json!(rng.random_bool(0.5)),
                    T::Picklist if !fd.picklist_values.is_empty() => {
                        json!(fd.picklist_values.choose(rng))
                    }
                    _ => continue,
                };
                if fd.external_id || fd.unique {
                    v.push((
                        fd.name.clone(),
                        json!(format!("{}-{}", fd.name, t.next_seq)),
                    ));
                } else {
                    v.push((fd.name.clone(), val));
                }
            }
            if t.def.field("Name").is_some_and(|f| f.createable) {
                v.push(("Name".into(), json!(format!("{} {n}", t.def.label))));
            }
            v
        }
    };
    f.retain(|(_, v)| !v.is_null());
    Ok(f)
}

/// Creates `n` records of `object` (200 per transaction); returns their ids.
pub fn generate(org: &mut Org, object: &str, n: usize, seed: u64) -> Result<Vec<String>, String> {
    let mut rng = StdRng::seed_from_u64(seed ^ n as u64);
    let user = org.admin_user_id.clone();
    let mut out = Vec::with_capacity(n);
    let mut ctx = org.ctx(&user);
    for i in 0..n {
        if i % 200 == 0 && i > 0 {
            ctx = org.ctx(&user);
        }
        let fields = fields_for(org, object, i as u64 + 1, &mut rng)?;
        let raw: Vec<(String, Raw)> = fields.into_iter().map(|(k, v)| (k, Raw::Json(v))).collect();
        let id = org
            .insert(object, &raw, &ctx)
            .map_err(|e| format!("{}: {}", e.status_code, e.message))?;
        out.push(id);
    }
    Ok(out)
}

/// What the change generator does.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct ChangeSpec {
    /// Changes per second across all objects.
    pub per_second: f64,
    pub objects: Vec<String>,
    pub seed: u64,
    /// Relative weights of creates, updates and deletes.
    pub create: u32,
    pub update: u32,
    pub delete: u32,
    /// Weight of non-API changes (SystemModstamp moves, LastModifiedDate does not).
    pub touch: u32,
}

impl Default for ChangeSpec {
    fn default() -> Self {
        ChangeSpec {
            per_second: 2.0,
            objects: vec!["Account".into(), "Contact".into()],
            seed: 1,
            create: 3,
            update: 6,
            delete: 1,
            touch: 1,
        }
    }
}

/// One generated change; returns what it did.
pub fn one_change(
    org: &mut Org,
    spec: &ChangeSpec,
    rng: &mut StdRng,
    n: u64,
) -> Option<(String, String)> {
    let object = spec.objects.choose(rng)?.clone();
    let total = (spec.create + spec.update + spec.delete + spec.touch).max(1);
    let roll = rng.random_range(0..total);
    let user = org.admin_user_id.clone();
    let ctx = org.ctx(&user);
    let existing = random_id(org, &object, rng);
    if roll < spec.create || existing.is_none() {
        let fields = fields_for(org, &object, n, rng).ok()?;
        let raw: Vec<(String, Raw)> = fields.into_iter().map(|(k, v)| (k, Raw::Json(v))).collect();
        return org
            .insert(&object, &raw, &ctx)
            .ok()
            .map(|id| ("create".into(), id));
    }
    let id = existing?;
    if roll < spec.create + spec.update {
        let fields = fields_for(org, &object, n, rng).ok()?;
        let raw: Vec<(String, Raw)> = fields
            .into_iter()
            .filter(|(k, _)| {
                !k.contains("External")
                    && !k.contains("Key")
                    && !k.ends_with("Id")
                    && !k.ends_with("__c")
                    || k == "Region__c"
            })
            .take(3)
            .map(|(k, v)| (k, Raw::Json(v)))
            .collect();
        return org
            .update(Some(&object), &id, &raw, &ctx)
            .ok()
            .map(|()| ("update".into(), id));
    }
    if roll >= spec.create + spec.update + spec.delete {
        return org
            .system_touch(&id, &[])
            .ok()
            .map(|_| ("touch".into(), id));
    }
    org.delete(Some(&object), &id, &ctx)
        .ok()
        .map(|()| ("delete".into(), id))
}

pub async fn run_changes(sim: Sim, spec: ChangeSpec) {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let period = std::time::Duration::from_secs_f64(1.0 / spec.per_second.max(0.001));
    let mut tick = tokio::time::interval(period);
    let mut n = 0u64;
    loop {
        tick.tick().await;
        n += 1;
        {
            // Someone editing records in Lightning Experience.
            let _origin =
                crate::streaming::Origin::set(crate::streaming::ui_origin(sim.api_version()));
            let mut org = sim.org();
            one_change(&mut org, &spec, &mut rng, 1_000_000 + n);
        }
        sim.publish_changes();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_valid_records_for_every_standard_object() {
        let mut org = Org::new("00D5g0000000001AAA");
        for obj in [
            "Account",
            "Contact",
            "Lead",
            "Opportunity",
            "Case",
            "Invoice__c",
        ] {
            let ids = generate(&mut org, obj, 50, 3).unwrap();
            assert_eq!(ids.len(), 50, "{obj}");
        }
        let spec = ChangeSpec::default();
        let mut rng = StdRng::seed_from_u64(9);
        let done: Vec<_> = (0..100)
            .filter_map(|i| one_change(&mut org, &spec, &mut rng, i))
            .collect();
        assert!(done.len() > 90);
        assert!(done.iter().any(|(k, _)| k == "delete"));
        assert!(done.iter().any(|(k, _)| k == "touch"));
    }
}
