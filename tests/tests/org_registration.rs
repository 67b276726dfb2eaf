//! Registering orgs through the real daemon binary against sfsim over HTTP: device flow,
//! web-server flow, metadata download (API calls counted by the simulator), deletion,
//! re-authorization.
use std::collections::HashMap;

use datenator_shared::client::ClientError;
use datenator_shared::model::{
    AuthFlow, AuthState, DeleteReport, FieldInfo, MetadataReport, ObjectInfo, OrgSummary, OrgType,
    PendingStep, Topic,
};
use datenator_shared::protocol::{
    Call, CompleteAuthorization, DeleteOrg, ObjectRef, OrgRef, Reauthorize, RegisterOrg, codes,
};
use datenator_tests::Daemon;
use datenator_tests::sync::org_where;
use serde_json::json;
use sfsim::{RunningSim, Sim, SimConfig};

async fn sim() -> RunningSim {
    Sim::start(SimConfig {
        seed_counts: vec![("Account".into(), 20)],
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

fn daemon_for(sim: &RunningSim) -> Daemon {
    Daemon::start_with_config(&format!(
        "[salesforce]\nclient_id = \"{}\"\nclient_secret = \"{}\"\n",
        sim.info.client_id, sim.info.client_secret
    ))
}

fn register(name: &str, sim: &RunningSim, flow: AuthFlow) -> Call {
    Call::OrgRegister(RegisterOrg {
        name: name.into(),
        org_type: OrgType::Custom(sim.info.login_url.clone()),
        flow,
        client_id: None,
        client_secret: None,
    })
}

/// Approves a device code on the verification page, as a person in a browser would.
async fn approve_on_page(sim: &RunningSim, verification_uri: &str, user_code: &str, action: &str) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http.get(verification_uri).send().await.unwrap();
    assert_eq!(page.status(), 200, "the verification page opens");
    let resp = http
        .post(format!("{}/setup/connect", sim.info.login_url))
        .form(&[
            ("user_code", user_code),
            ("username", sim.info.username.as_str()),
            ("action", action),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_success() || resp.status().is_redirection(),
        "{}",
        resp.status()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn device_flow_registration_metadata_and_deletion() {
    let sim = sim().await;
    let d = daemon_for(&sim);
    let client = d.client().await;
    client.subscribe(&[Topic::Orgs]).await.unwrap();

    let org: OrgSummary = client
        .call(register("acme", &sim, AuthFlow::Device))
        .await
        .unwrap();
    let AuthState::Pending {
        step:
            PendingStep::Device {
                verification_uri,
                user_code,
                ..
            },
    } = &org.auth
    else {
        panic!("expected a device step, got {:?}", org.auth)
    };
    approve_on_page(&sim, verification_uri, user_code, "allow").await;
    let org = org_where(&client, "acme", |o| o.auth == AuthState::Authorized).await;
    assert_eq!(org.org_id.as_deref(), Some(sim.info.org_id.as_str()));
    assert_eq!(org.instance_url.as_deref(), Some(sim.instance_url()));

    // Same name twice, odd names, and an unknown org are refused with advice.
    let err = client
        .call::<OrgSummary>(register("acme", &sim, AuthFlow::Device))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    let err = client
        .call::<OrgSummary>(register("a\"b; drop", &sim, AuthFlow::Device))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not a usable org name"), "{err}");
    let err = client
        .call::<MetadataReport>(Call::MetadataDownload(OrgRef {
            name: "nope".into(),
        }))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Remote(e) if e.code == codes::NOT_FOUND),
        "{err}"
    );

    // Metadata: the default org lists several hundred objects, as a real one does. Those
    // the engine can sync (queryable, retrievable, replicateable, not a history, share,
    // feed or event object) are described, 25 per composite call: ⌈objects/25⌉ + 1 calls.
    let http = reqwest::Client::new();
    for i in 0..3 {
        let resp = http
            .post(format!("{}/__sim/objects", sim.instance_url()))
            .json(&json!({"name": format!("Extra{i}__c"), "label": format!("Extra {i}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    }
    let listed: serde_json::Value = http
        .get(format!(
            "{}/services/data/v59.0/sobjects",
            sim.instance_url()
        ))
        .bearer_auth(sim.access_token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed = listed["sobjects"].as_array().unwrap().clone();
    assert!(listed.len() >= 300, "{} objects listed", listed.len());
    let syncable: Vec<&str> = listed
        .iter()
        .filter(|o| {
            let name = o["name"].as_str().unwrap();
            o["queryable"] == true
                && o["retrieveable"] == true
                && o["replicateable"] == true
                && o["associateEntityType"].is_null()
                && !["__e", "__b", "__x", "__mdt"]
                    .iter()
                    .any(|s| name.ends_with(s))
        })
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert!(syncable.len() > 50, "{} syncable", syncable.len());
    assert!(syncable.len() < listed.len() / 2);
    sim.reset_counters();
    let report: MetadataReport = client
        .call(Call::MetadataDownload(OrgRef {
            name: "acme".into(),
        }))
        .await
        .unwrap();
    let calls = syncable.len().div_ceil(25) as u64 + 1;
    eprintln!(
        "metadata download: {} listed, {} described, {calls} calls, left out {:?}",
        report.listed, report.described, report.left_out
    );
    assert_eq!(report.listed, listed.len());
    assert_eq!(report.objects, syncable.len());
    assert_eq!(report.described, syncable.len());
    assert_eq!(report.added.len(), syncable.len());
    assert_eq!(
        report.left_out.values().sum::<usize>(),
        listed.len() - syncable.len()
    );
    for reason in [
        "history, share, feed or change-event object",
        "not queryable",
        "not replicateable (no deleted log)",
        "platform event",
    ] {
        assert!(
            report.left_out.get(reason).is_some_and(|n| *n > 0),
            "{reason}: {:?}",
            report.left_out
        );
    }
    assert_eq!(
        sim.counters().api_calls,
        calls,
        "1 describeGlobal + ⌈{}/25⌉ composite describes",
        syncable.len()
    );
    assert_eq!(report.api_calls, calls);
    let objects: Vec<ObjectInfo> = client
        .call(Call::MetadataObjects(OrgRef {
            name: "acme".into(),
        }))
        .await
        .unwrap();
    let names: Vec<&str> = objects.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names.len(), syncable.len());
    for n in ["Account", "Extra2__c", "Group", "RecordType"] {
        assert!(names.contains(&n), "{n}");
    }
    for n in [
        "AccountHistory",
        "AccountShare",
        "OpenActivity",
        "Order_Shipped__e",
        "LoginHistory",
    ] {
        assert!(!names.contains(&n), "{n} cannot be synced");
    }

    // Drift: a new field shows up as a changed object on update.
    let resp = http
        .post(format!(
            "{}/__sim/objects/Account/fields",
            sim.instance_url()
        ))
        .json(&json!({"name": "Tier__c", "label": "Tier", "type": "string", "length": 20}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    let report: MetadataReport = client
        .call(Call::MetadataDownload(OrgRef {
            name: "acme".into(),
        }))
        .await
        .unwrap();
    assert_eq!(report.changed, vec!["Account".to_owned()]);
    assert!(report.added.is_empty() && report.removed.is_empty());

    let objects: Vec<ObjectInfo> = client
        .call(Call::MetadataObjects(OrgRef {
            name: "acme".into(),
        }))
        .await
        .unwrap();
    assert!(
        objects
            .iter()
            .any(|o| o.name == "Account" && o.fields.unwrap_or(0) > 10)
    );
    let fields: Vec<FieldInfo> = client
        .call(Call::MetadataFields(ObjectRef {
            org: "acme".into(),
            object: "Account".into(),
        }))
        .await
        .unwrap();
    let name = fields.iter().find(|f| f.name == "Name").unwrap();
    assert!(name.required(), "Account.Name is required on create");
    assert!(fields.iter().any(|f| f.name == "Tier__c"));
    let org = client
        .org_list()
        .await
        .unwrap()
        .into_iter()
        .find(|o| o.name == "acme")
        .unwrap();
    assert!(org.metadata_downloaded_at.is_some());

    // Deletion asks for the name, revokes the token, and leaves nothing behind.
    let err = client
        .call::<DeleteReport>(Call::OrgDelete(DeleteOrg {
            name: "acme".into(),
            confirm: "acme-typo".into(),
        }))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("type its name"), "{err}");
    let report: DeleteReport = client
        .call(Call::OrgDelete(DeleteOrg {
            name: "acme".into(),
            confirm: "acme".into(),
        }))
        .await
        .unwrap();
    assert!(report.had_token && report.token_revoked, "{report:?}");
    assert!(report.warnings.is_empty(), "{report:?}");
    assert!(client.org_list().await.unwrap().is_empty());
    assert!(
        client
            .call::<Vec<ObjectInfo>>(Call::MetadataObjects(OrgRef {
                name: "acme".into()
            }))
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn device_flow_denied_is_a_clear_failure() {
    let sim = sim().await;
    let d = daemon_for(&sim);
    let client = d.client().await;
    client.subscribe(&[Topic::Orgs]).await.unwrap();
    let org: OrgSummary = client
        .call(register("deny", &sim, AuthFlow::Device))
        .await
        .unwrap();
    let AuthState::Pending {
        step:
            PendingStep::Device {
                verification_uri,
                user_code,
                ..
            },
    } = &org.auth
    else {
        panic!("{:?}", org.auth)
    };
    approve_on_page(&sim, verification_uri, user_code, "deny").await;
    let org = org_where(&client, "deny", |o| {
        matches!(o.auth, AuthState::Failed { .. })
    })
    .await;
    let AuthState::Failed { error } = org.auth else {
        unreachable!()
    };
    assert!(error.contains("denied"), "{error}");

    // Never authorized, it holds no token: deleting it has none to revoke, and no warning.
    let report: DeleteReport = client
        .call(Call::OrgDelete(DeleteOrg {
            name: "deny".into(),
            confirm: "deny".into(),
        }))
        .await
        .unwrap();
    assert!(!report.had_token && !report.token_revoked, "{report:?}");
    assert!(report.warnings.is_empty(), "{report:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn web_server_flow_with_pasted_url_then_reauthorization_after_revocation() {
    let sim = sim().await;
    let d = daemon_for(&sim);
    let client = d.client().await;
    let org: OrgSummary = client
        .call(register("web", &sim, AuthFlow::WebServer))
        .await
        .unwrap();
    let AuthState::Pending {
        step: PendingStep::Browser { authorize_url },
    } = &org.auth
    else {
        panic!("{:?}", org.auth)
    };

    // The browser part, done by hand over HTTP.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = url::Url::parse(authorize_url).unwrap();
    let mut form: HashMap<String, String> = url.query_pairs().into_owned().collect();
    form.insert("username".into(), sim.info.username.clone());
    form.insert("action".into(), "allow".into());
    let resp = http
        .post(format!("{}/services/oauth2/authorize", sim.info.login_url))
        .form(&form)
        .send()
        .await
        .unwrap();
    let landed = resp.headers()["location"].to_str().unwrap().to_owned();

    // A bad paste keeps the flow pending; the right one completes it.
    let err = client
        .call::<OrgSummary>(Call::OrgCompleteAuthorization(CompleteAuthorization {
            name: "web".into(),
            redirected_url: "oops".into(),
        }))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("paste"), "{err}");
    let org: OrgSummary = client
        .call(Call::OrgCompleteAuthorization(CompleteAuthorization {
            name: "web".into(),
            redirected_url: landed,
        }))
        .await
        .unwrap();
    assert_eq!(org.auth, AuthState::Authorized);

    let report: MetadataReport = client
        .call(Call::MetadataDownload(OrgRef { name: "web".into() }))
        .await
        .unwrap();
    assert!(report.objects > 0);

    // The admin revokes every session and token of the app: the org asks for re-authorization.
    sim.expire_sessions();
    let revoke = http
        .post(format!("{}/__sim/tokens/revoke-all", sim.instance_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 204);
    let err = client
        .call::<MetadataReport>(Call::MetadataDownload(OrgRef { name: "web".into() }))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Refresh org credentials"), "{err}");
    let org = client
        .org_list()
        .await
        .unwrap()
        .into_iter()
        .find(|o| o.name == "web")
        .unwrap();
    assert!(org.needs_reauthorization(), "{:?}", org.auth);

    // Refresh org credentials runs a flow again and restores access.
    let org: OrgSummary = client
        .call(Call::OrgReauthorize(Reauthorize {
            name: "web".into(),
            flow: AuthFlow::Device,
        }))
        .await
        .unwrap();
    let AuthState::Pending {
        step: PendingStep::Device { user_code, .. },
    } = &org.auth
    else {
        panic!("{:?}", org.auth)
    };
    assert!(sim.approve_device(user_code, true));
    client.subscribe(&[Topic::Orgs]).await.unwrap();
    org_where(&client, "web", |o| o.auth == AuthState::Authorized).await;
    let report: MetadataReport = client
        .call(Call::MetadataDownload(OrgRef { name: "web".into() }))
        .await
        .unwrap();
    assert!(report.objects > 0);
}
