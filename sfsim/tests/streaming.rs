//! The Streaming API (Bayeux/CometD long polling at `/cometd/{version}`) with Change Data
//! Capture, over HTTP as a streaming client speaks it.

mod common;

use reqwest::Method;
use serde_json::{Value, json};
use sfsim::SimConfig;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

async fn start() -> common::T {
    common::start_with(SimConfig {
        streaming_poll_timeout: Duration::from_secs(2),
        ..Default::default()
    })
    .await
}

/// A minimal Bayeux client.
struct Bayeux {
    http: reqwest::Client,
    url: String,
    token: String,
    client_id: String,
    next: u64,
}

impl Bayeux {
    async fn post(&mut self, mut msg: Value) -> (u16, Vec<Value>) {
        self.next += 1;
        msg["id"] = json!(self.next.to_string());
        if !self.client_id.is_empty() && msg.get("clientId").is_none() {
            msg["clientId"] = json!(self.client_id);
        }
        let r = self
            .http
            .post(&self.url)
            .bearer_auth(&self.token)
            .json(&json!([msg]))
            .send()
            .await
            .expect("bayeux request");
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or_default())
    }

    async fn handshake(t: &common::T) -> Bayeux {
        let mut b = Bayeux {
            http: t.http.clone(),
            url: t.base("/cometd/59.0"),
            token: t.sim.access_token().to_string(),
            client_id: String::new(),
            next: 0,
        };
        b.rehandshake().await;
        b
    }

    async fn rehandshake(&mut self) {
        self.client_id.clear();
        let (s, r) = self
            .post(json!({
                "channel": "/meta/handshake",
                "version": "1.0",
                "minimumVersion": "1.0",
                "supportedConnectionTypes": ["long-polling"],
            }))
            .await;
        assert_eq!(s, 200, "{r:?}");
        assert_eq!(r[0]["successful"], true, "{r:?}");
        self.client_id = r[0]["clientId"].as_str().unwrap().to_string();
    }

    async fn subscribe(&mut self, channel: &str, replay: Option<i64>) -> Value {
        let mut m = json!({"channel": "/meta/subscribe", "subscription": channel});
        if let Some(r) = replay {
            m["ext"] = json!({"replay": {channel: r}});
        }
        let (s, r) = self.post(m).await;
        assert_eq!(s, 200);
        r[0].clone()
    }

    /// One `/meta/connect`: the events delivered and the connect reply.
    async fn connect(&mut self) -> (Vec<Value>, Value) {
        let (s, mut r) = self
            .post(json!({"channel": "/meta/connect", "connectionType": "long-polling"}))
            .await;
        assert_eq!(s, 200);
        let reply = r.pop().expect("a connect reply");
        assert_eq!(reply["channel"], "/meta/connect");
        (r, reply)
    }

    /// Connects until `n` events came (or 10 s passed).
    async fn events(&mut self, n: usize) -> Vec<Value> {
        let until = Instant::now() + Duration::from_secs(10);
        let mut out = Vec::new();
        while out.len() < n && Instant::now() < until {
            let (evs, reply) = self.connect().await;
            assert_eq!(reply["successful"], true, "{reply}");
            out.extend(evs);
        }
        out
    }
}

fn header(ev: &Value) -> &Value {
    &ev["data"]["payload"]["ChangeEventHeader"]
}

fn replay_id(ev: &Value) -> i64 {
    ev["data"]["event"]["replayId"].as_i64().unwrap()
}

fn set(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn handshake_subscribe_and_an_update_with_only_its_changed_fields() {
    let t = start().await;
    t.sim.enable_cdc(&["Account"]).unwrap();
    let id = t
        .create(
            "Account",
            json!({"Name": "Acme", "Phone": "1", "Industry": "Energy"}),
        )
        .await;
    let mut b = Bayeux::handshake(&t).await;
    // The handshake's reply, as Salesforce sends it.
    let (_, r) = b
        .post(json!({"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": ["long-polling"]}))
        .await;
    assert_eq!(r[0]["supportedConnectionTypes"], json!(["long-polling"]));
    assert_eq!(r[0]["version"], "1.0");
    assert_eq!(r[0]["ext"], json!({"replay": true, "payload.format": true}));
    assert_eq!(r[0]["minimumVersion"], "1.0");
    assert!(
        r[0].get("advice").is_none(),
        "the advice comes with the first connect"
    );
    let sub = b.subscribe("/data/AccountChangeEvent", Some(-1)).await;
    assert_eq!(sub["successful"], true, "{sub}");
    assert_eq!(sub["subscription"], "/data/AccountChangeEvent");
    assert_eq!(sub["clientId"], json!(b.client_id));
    // The first connect answers at once (with advice); -1 skips the earlier CREATE.
    let started = Instant::now();
    let (evs, reply) = b.connect().await;
    assert!(evs.is_empty(), "{evs:?}");
    assert_eq!(reply["successful"], true);
    assert_eq!(
        reply["advice"],
        json!({"reconnect": "retry", "interval": 0, "timeout": 2000})
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    // A held long poll returns as soon as the change commits (well before its 8 s hold).
    t.sim.set_streaming_poll_timeout(Duration::from_secs(8));
    let url = t.url(&format!("/sobjects/Account/{id}"));
    let http = t.http.clone();
    let token = t.sim.access_token().to_string();
    let writer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let r = http
            .patch(url)
            .bearer_auth(token)
            .header("Sforce-Call-Options", "client=datenator")
            .json(&json!({"Phone": "555-0100", "Industry": null}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    });
    let started = Instant::now();
    let (evs, reply) = b.connect().await;
    writer.await.unwrap();
    assert_eq!(reply["successful"], true);
    assert!(reply.get("advice").is_none(), "{reply}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "held until the change"
    );
    assert_eq!(evs.len(), 1, "{evs:?}");
    let ev = &evs[0];
    assert_eq!(ev["channel"], "/data/AccountChangeEvent");
    assert!(ev["data"]["schema"].as_str().is_some_and(|s| !s.is_empty()));
    let h = header(ev);
    assert_eq!(h["entityName"], "Account");
    assert_eq!(h["recordIds"], json!([id]));
    assert_eq!(h["changeType"], "UPDATE");
    assert_eq!(
        h["changeOrigin"],
        "com/salesforce/api/rest/59.0;client=datenator"
    );
    assert_eq!(
        set(&h["changedFields"]),
        names(&["Phone", "Industry", "LastModifiedDate"])
    );
    assert_eq!(h["nulledFields"], json!(["Industry"]));
    assert_eq!(h["diffFields"], json!([]));
    assert_eq!(h["sequenceNumber"], 1);
    assert!(h["commitNumber"].as_u64().unwrap() > 0);
    let admin = t.sim.with_org(|o| o.admin_user_id.clone());
    assert_eq!(h["commitUser"], json!(admin));
    let key = h["transactionKey"].as_str().unwrap();
    assert_eq!(key.len(), 36);
    assert_eq!(key.matches('-').count(), 4);
    let row = &t
        .sim
        .query(
            &format!("SELECT LastModifiedDate FROM Account WHERE Id = '{id}'"),
            false,
        )
        .unwrap()[0];
    let lmd = row["LastModifiedDate"].as_str().unwrap();
    let payload = ev["data"]["payload"].as_object().unwrap();
    let mut keys: Vec<&str> = payload.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        ["ChangeEventHeader", "Industry", "LastModifiedDate", "Phone"],
        "only the changed fields"
    );
    assert_eq!(payload["Phone"], "555-0100");
    assert_eq!(payload["Industry"], Value::Null);
    // The same instant as the record's, in ISO 8601 with Z; commitTimestamp in ms, the
    // commit's own time: not before the record's stamp, and within its second or later.
    let ev_lmd = payload["LastModifiedDate"].as_str().unwrap();
    assert!(ev_lmd.ends_with(".000Z"), "{ev_lmd}");
    assert_eq!(&ev_lmd[..19], &lmd[..19]);
    let ms = chrono::DateTime::parse_from_rfc3339(ev_lmd)
        .unwrap()
        .timestamp_millis();
    let commit = h["commitTimestamp"].as_i64().unwrap();
    assert!(commit >= ms && commit < ms + 60_000, "{commit} vs {ms}");
    // Without events, a long poll is held for the configured time, then answered.
    t.sim.set_streaming_poll_timeout(Duration::from_secs(1));
    let started = Instant::now();
    let (evs, reply) = b.connect().await;
    assert!(evs.is_empty());
    assert_eq!(reply["successful"], true);
    assert!(started.elapsed() >= Duration::from_millis(950));
    // Unsubscribe and disconnect.
    let (_, r) = b
        .post(json!({"channel": "/meta/unsubscribe", "subscription": "/data/AccountChangeEvent"}))
        .await;
    assert_eq!(r[0]["successful"], true, "{r:?}");
    let (_, r) = b.post(json!({"channel": "/meta/disconnect"})).await;
    assert_eq!(r[0]["successful"], true, "{r:?}");
    let (_, reply) = b.connect().await;
    assert_eq!(reply["error"], "403::Unknown client");
}

#[tokio::test]
async fn create_delete_and_undelete_events_with_compound_fields_nested() {
    let t = start().await;
    t.sim.enable_cdc(&["Account", "Contact"]).unwrap();
    let mut b = Bayeux::handshake(&t).await;
    assert_eq!(
        b.subscribe("/data/ChangeEvents", None).await["successful"],
        true
    );
    b.connect().await;
    let acc = t
        .create(
            "Account",
            json!({"Name": "Globex", "BillingCity": "Zurich", "BillingStreet": "Bahnhofstrasse 1"}),
        )
        .await;
    let con = t
        .create(
            "Contact",
            json!({"FirstName": "Ada", "LastName": "Lovelace", "AccountId": acc, "Email": "ada@example.com"}),
        )
        .await;
    let evs = b.events(2).await;
    assert_eq!(evs.len(), 2, "{evs:?}");
    assert!(evs.iter().all(|e| e["channel"] == "/data/ChangeEvents"));
    let (a, c) = (&evs[0], &evs[1]);
    assert!(replay_id(c) > replay_id(a));
    assert_eq!(header(a)["changeType"], "CREATE");
    assert_eq!(header(a)["recordIds"], json!([acc]));
    assert_eq!(header(a)["changedFields"], json!([]));
    let p = &a["data"]["payload"];
    assert_eq!(p["Name"], "Globex");
    assert_eq!(
        p["BillingAddress"],
        json!({"City": "Zurich", "Street": "Bahnhofstrasse 1"})
    );
    assert!(p.get("BillingCity").is_none());
    assert!(
        p.get("Phone").is_none(),
        "null fields are left out of a CREATE"
    );
    assert!(p.get("SystemModstamp").is_none() && p.get("Id").is_none());

    for f in ["CreatedDate", "CreatedById", "LastModifiedDate", "OwnerId"] {
        assert!(p.get(f).is_some(), "{f} in {p}");
    }
    let p = &c["data"]["payload"];
    assert_eq!(header(c)["entityName"], "Contact");
    assert_eq!(
        p["Name"],
        json!({"FirstName": "Ada", "LastName": "Lovelace"})
    );
    assert_eq!(p["AccountId"], json!(acc));
    // A compound field's component in an update: dotted in changedFields, nested in the body.
    t.sim.update(&con, json!({"LastName": "King"})).unwrap();
    let evs = b.events(1).await;
    let h = header(&evs[0]);
    assert_eq!(
        set(&h["changedFields"]),
        names(&["Name.LastName", "LastModifiedDate"])
    );
    assert_eq!(
        h["changeOrigin"], "com/salesforce/api/soap/68.0;client=SfdcInternalAPI/",
        "an in-process change is a user's edit in Lightning Experience"
    );
    assert_eq!(
        evs[0]["data"]["payload"]["Name"],
        json!({"LastName": "King"})
    );
    // Deleting the account deletes its contact too: two DELETE events, one transaction.
    let (s, _) = t
        .json(Method::DELETE, &format!("/sobjects/Account/{acc}"), None)
        .await;
    assert_eq!(s, 204);
    let evs = b.events(2).await;
    assert_eq!(evs.len(), 2);
    let kinds: BTreeSet<(String, String)> = evs
        .iter()
        .map(|e| {
            (
                header(e)["entityName"].as_str().unwrap().to_string(),
                header(e)["changeType"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [("Account", "DELETE"), ("Contact", "DELETE")]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    );
    assert_eq!(
        header(&evs[0])["transactionKey"],
        header(&evs[1])["transactionKey"]
    );
    let seqs: BTreeSet<i64> = evs
        .iter()
        .map(|e| header(e)["sequenceNumber"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2].into_iter().collect());
    for e in &evs {
        let keys: Vec<&String> = e["data"]["payload"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["ChangeEventHeader"], "a DELETE carries no fields");
    }
    t.sim.undelete(&acc).unwrap();
    let evs = b.events(1).await;
    assert_eq!(header(&evs[0])["changeType"], "UNDELETE");
    assert_eq!(header(&evs[0])["recordIds"], json!([acc]));
    assert_eq!(evs[0]["data"]["payload"]["Name"], "Globex");
}

#[tokio::test]
async fn replay_all_retained_resume_after_an_id_and_refuse_invalid_ones() {
    let t = start().await;
    t.sim.enable_cdc(&["Account"]).unwrap();
    let ids: Vec<String> = (0..3)
        .map(|i| {
            t.sim
                .create("Account", json!({"Name": format!("A{i}")}))
                .unwrap()
        })
        .collect();
    let mut b = Bayeux::handshake(&t).await;
    assert_eq!(
        b.subscribe("/data/AccountChangeEvent", Some(-2)).await["successful"],
        true
    );
    let evs = b.events(3).await;
    assert_eq!(evs.len(), 3);
    let got: Vec<&str> = evs
        .iter()
        .map(|e| header(e)["recordIds"][0].as_str().unwrap())
        .collect();
    assert_eq!(got, ids.iter().map(String::as_str).collect::<Vec<_>>());
    let first = replay_id(&evs[0]);
    // A stored replay id resumes after it.
    let mut b2 = Bayeux::handshake(&t).await;
    assert_eq!(
        b2.subscribe("/data/AccountChangeEvent", Some(first)).await["successful"],
        true
    );
    let evs = b2.events(2).await;
    assert_eq!(
        evs.iter().map(replay_id).collect::<Vec<_>>(),
        vec![first + 1, first + 2]
    );
    // An id never handed out is refused.
    let mut b3 = Bayeux::handshake(&t).await;
    let r = b3.subscribe("/data/AccountChangeEvent", Some(999)).await;
    assert_eq!(r["successful"], false);
    assert_eq!(
        r["error"],
        "400::The replayId {999} you provided was invalid.  Please provide a valid ID, -2 to replay all events, or -1 to replay only new events."
    );
    // 72 hours later the events are gone: the stored id is too old, -2 replays nothing.
    assert_eq!(t.sim.age_change_events(Duration::from_secs(71 * 3600)), 0);
    assert_eq!(t.sim.age_change_events(Duration::from_secs(2 * 3600)), 3);
    let r = b3.subscribe("/data/AccountChangeEvent", Some(first)).await;
    assert_eq!(r["successful"], false, "{r}");
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .starts_with("400::The replayId {")
    );
    // The last id handed out is still a valid place to resume from.
    let last = first + 2;
    let r = b3.subscribe("/data/AccountChangeEvent", Some(last)).await;
    assert_eq!(r["successful"], true, "{r}");
    let mut b4 = Bayeux::handshake(&t).await;
    assert_eq!(
        b4.subscribe("/data/AccountChangeEvent", Some(-2)).await["successful"],
        true
    );
    let (evs, _) = b4.connect().await;
    assert!(evs.is_empty());
    let st = t.sim.streaming_status();
    assert_eq!((st.retained_events, st.last_replay_id), (0, last as u64));
    // Over the admin API: age and expire.
    t.sim.create("Account", json!({"Name": "A4"})).unwrap();
    let (s, v) = t
        .admin(Method::POST, "streaming/events/age", json!({"hours": 1}))
        .await;
    assert_eq!((s.as_u16(), &v), (200, &json!({"expired": 0})));
    let (s, v) = t.admin(Method::GET, "streaming/events", json!({})).await;
    assert_eq!(s, 200);
    assert_eq!(v.as_array().unwrap().len(), 1);
    let (_, v) = t
        .admin(Method::POST, "streaming/events/expire", json!({}))
        .await;
    assert_eq!(v, json!({"expired": 1}));
}

#[tokio::test]
async fn an_unknown_client_is_told_to_handshake_again() {
    let t = start().await;
    t.sim.enable_cdc(&["Account"]).unwrap();
    let mut b = Bayeux::handshake(&t).await;
    b.subscribe("/data/AccountChangeEvent", Some(-1)).await;
    b.connect().await;
    let (s, v) = t
        .admin(Method::POST, "streaming/clients/forget", json!({}))
        .await;
    assert_eq!((s.as_u16(), v), (200, json!({"forgotten": 1})));
    let (evs, reply) = b.connect().await;
    assert!(evs.is_empty());
    assert_eq!(reply["successful"], false);
    assert_eq!(reply["error"], "403::Unknown client");
    assert_eq!(
        reply["advice"],
        json!({"reconnect": "handshake", "interval": 0})
    );
    assert!(reply.get("clientId").is_none(), "{reply}");
    let r = b.subscribe("/data/AccountChangeEvent", Some(-1)).await;
    assert_eq!(r["error"], "403::Unknown client");
    // A held long poll of a forgotten client is answered at once (well before its 8 s hold).
    t.sim.set_streaming_poll_timeout(Duration::from_secs(8));
    b.rehandshake().await;
    b.subscribe("/data/AccountChangeEvent", Some(-1)).await;
    b.connect().await;
    let sim = t.sim.clone();
    let forget = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        sim.forget_streaming_clients()
    });
    let started = Instant::now();
    let (_, reply) = b.connect().await;
    assert_eq!(forget.await.unwrap(), 1);
    assert_eq!(reply["error"], "403::Unknown client");
    assert!(started.elapsed() < Duration::from_secs(5));
    t.sim.set_streaming_poll_timeout(Duration::from_secs(2));
    // Handshake again, subscribe with the last replay id, and nothing is missed.
    let id = t
        .sim
        .create("Account", json!({"Name": "While away"}))
        .unwrap();
    b.rehandshake().await;
    assert_eq!(
        b.subscribe("/data/AccountChangeEvent", Some(-2)).await["successful"],
        true
    );
    let evs = b.events(1).await;
    assert_eq!(header(&evs[0])["recordIds"], json!([id]));
    // An expired session ends the stream: 401::Authentication invalid, reconnect none.
    t.sim.expire_sessions();
    let (s, r) = b
        .post(json!({"channel": "/meta/connect", "connectionType": "long-polling"}))
        .await;
    assert_eq!(s, 401);
    assert_eq!(r[0]["error"], "401::Authentication invalid");
    assert_eq!(r[0]["advice"]["reconnect"], "none");
    // An unauthenticated handshake is denied.
    let r = t
        .http
        .post(t.base("/cometd/59.0"))
        .bearer_auth("nonsense")
        .json(&json!([{"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": ["long-polling"], "id": "1"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v[0]["error"], "403::Handshake denied");
    assert_eq!(
        v[0]["ext"]["sfdc"]["failureReason"],
        "401::Authentication invalid"
    );
    assert_eq!(v[0]["advice"]["reconnect"], "none");
}

#[tokio::test]
async fn objects_without_cdc_publish_nothing_and_channels_must_exist() {
    let t = start().await;
    t.sim.enable_cdc(&["Account"]).unwrap();
    let mut b = Bayeux::handshake(&t).await;
    // A channel of an object that is not selected can be subscribed to, but stays quiet.
    assert_eq!(
        b.subscribe("/data/ContactChangeEvent", Some(-1)).await["successful"],
        true
    );
    assert_eq!(
        b.subscribe("/data/ChangeEvents", Some(-1)).await["successful"],
        true
    );
    b.connect().await;
    t.sim
        .create("Contact", json!({"LastName": "Nobody"}))
        .unwrap();
    let (evs, _) = b.connect().await;
    assert!(evs.is_empty(), "{evs:?}");
    assert_eq!(t.sim.streaming_status().last_replay_id, 0);
    // Unknown channels are refused as Salesforce refuses them.
    for (ch, err) in [
        (
            "/data/NopeChangeEvent",
            "400::The channel you requested to subscribe to does not exist {/data/NopeChangeEvent}",
        ),
        (
            "/data/Missing__chn",
            "400::The channel you requested to subscribe to does not exist {/data/Missing__chn}",
        ),
        (
            "/topic/Whatever",
            "400::The channel you requested to subscribe to does not exist {/topic/Whatever}",
        ),
        (
            "data/ChangeEvents",
            "400::Channel subscriptions must start with a leading '/'",
        ),
    ] {
        let r = b.subscribe(ch, None).await;
        assert_eq!(r["successful"], false, "{ch}");
        assert_eq!(r["error"], err);
    }
    // Disabling stops the events; enabling over the admin API starts them.
    let (s, v) = t
        .admin(Method::PUT, "cdc", json!({"entities": ["Contact"]}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["entities"], json!(["Contact"]));
    t.sim.create("Account", json!({"Name": "Quiet"})).unwrap();
    let c = t
        .sim
        .create("Contact", json!({"LastName": "Loud"}))
        .unwrap();
    let evs = b.events(2).await;
    assert_eq!(evs.len(), 2, "one event on each of the two channels");
    assert!(evs.iter().all(|e| header(e)["recordIds"] == json!([c])));
    let chans: BTreeSet<&str> = evs.iter().map(|e| e["channel"].as_str().unwrap()).collect();
    assert_eq!(
        chans,
        ["/data/ChangeEvents", "/data/ContactChangeEvent"]
            .into_iter()
            .collect()
    );
    let (s, v) = t
        .admin(Method::POST, "cdc/entities/Opportunity", json!({}))
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["entities"], json!(["Contact", "Opportunity"]));
    let (s, _) = t.admin(Method::POST, "cdc/entities/Nope", json!({})).await;
    assert_eq!(s, 400);
    let (s, v) = t
        .admin(Method::DELETE, "cdc/entities/Contact", json!({}))
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["entities"], json!(["Opportunity"]));
}

#[tokio::test]
async fn custom_channels_carry_their_members() {
    let t = start().await;
    let (s, v) = t
        .admin(
            Method::PUT,
            "cdc/channels/Sync__chn",
            json!({"entities": ["Contact", "Invoice__c"]}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["channels"]["Sync__chn"], json!(["Contact", "Invoice__c"]));
    let mut b = Bayeux::handshake(&t).await;
    assert_eq!(
        b.subscribe("/data/Sync__chn", Some(-1)).await["successful"],
        true
    );
    assert_eq!(
        b.subscribe("/data/ChangeEvents", Some(-1)).await["successful"],
        true
    );
    b.connect().await;
    let c = t
        .sim
        .create("Contact", json!({"LastName": "Member"}))
        .unwrap();
    t.sim
        .create("Account", json!({"Name": "Not a member"}))
        .unwrap();
    let evs = b.events(1).await;
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0]["channel"], "/data/Sync__chn");
    assert_eq!(header(&evs[0])["recordIds"], json!([c]));
    let (evs, _) = b.connect().await;
    assert!(evs.is_empty(), "not on the standard channel: {evs:?}");
    // A custom object's own channel is Foo__ChangeEvent.
    t.sim.enable_cdc(&["Invoice__c"]).unwrap();
    let mut b2 = Bayeux::handshake(&t).await;
    assert_eq!(
        b2.subscribe("/data/Invoice__ChangeEvent", Some(-1)).await["successful"],
        true
    );
    let (s, _) = t
        .admin(Method::DELETE, "cdc/channels/Sync__chn", json!({}))
        .await;
    assert_eq!(s, 204);
}

#[tokio::test]
async fn merged_gap_and_overflow_events() {
    let t = start().await;
    t.sim.enable_cdc(&["Account"]).unwrap();
    let ids: Vec<String> = (0..3)
        .map(|i| {
            t.sim
                .create("Account", json!({"Name": format!("M{i}")}))
                .unwrap()
        })
        .collect();
    let mut b = Bayeux::handshake(&t).await;
    b.subscribe("/data/AccountChangeEvent", Some(-1)).await;
    b.connect().await;
    // The same change to three records in one transaction: one event naming all three.
    let records: Vec<Value> = ids
        .iter()
        .map(|id| json!({"attributes": {"type": "Account"}, "id": id, "Rating": "Hot"}))
        .collect();
    let (s, v) = t
        .json(
            Method::PATCH,
            "/composite/sobjects",
            Some(json!({"allOrNone": true, "records": records})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let evs = b.events(1).await;
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(header(&evs[0])["recordIds"], json!(ids));
    assert_eq!(header(&evs[0])["changeType"], "UPDATE");
    // A gap event instead of the next change: header only, record ids kept.
    let (s, _) = t
        .admin(Method::POST, "streaming/faults", json!({"gap_next": 1}))
        .await;
    assert_eq!(s, 200);
    t.sim.update(&ids[0], json!({"Phone": "1"})).unwrap();
    t.sim.update(&ids[1], json!({"Phone": "2"})).unwrap();
    let evs = b.events(2).await;
    assert_eq!(header(&evs[0])["changeType"], "GAP_UPDATE");
    assert_eq!(header(&evs[0])["recordIds"], json!([ids[0]]));
    assert_eq!(header(&evs[0])["changedFields"], json!([]));
    assert_eq!(evs[0]["data"]["payload"].as_object().unwrap().len(), 1);
    assert_eq!(header(&evs[1])["changeType"], "UPDATE");
    t.sim.gap_next_changes(1);
    t.sim.delete(&ids[2]).unwrap();
    let evs = b.events(1).await;
    assert_eq!(header(&evs[0])["changeType"], "GAP_DELETE");
    // Past the overflow threshold in one transaction: one GAP_OVERFLOW per object.
    t.sim.set_cdc_overflow_threshold(3);
    let records: Vec<Value> = (0..5)
        .map(|i| json!({"attributes": {"type": "Account"}, "Name": format!("O{i}")}))
        .collect();
    let (s, v) = t
        .json(
            Method::POST,
            "/composite/sobjects",
            Some(json!({"allOrNone": false, "records": records})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let evs = b.events(4).await;
    let kinds: Vec<&str> = evs
        .iter()
        .map(|e| header(e)["changeType"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["CREATE", "CREATE", "CREATE", "GAP_OVERFLOW"]);
    let o = header(&evs[3]);
    assert_eq!(o["entityName"], "Account");
    assert_eq!(o["recordIds"], json!([]));
    assert_eq!(o["sequenceNumber"], 4);
    assert!(
        evs.iter()
            .all(|e| header(e)["transactionKey"] == o["transactionKey"])
    );
    // A Bulk ingest chunk is one transaction too.
    let r = t
        .http
        .post(t.url("/jobs/ingest"))
        .bearer_auth(t.sim.access_token())
        .header("Sforce-Call-Options", "client=loader")
        .json(&json!({"object": "Account", "operation": "insert", "lineEnding": "LF"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let job: Value = r.json().await.unwrap();
    let jid = job["id"].as_str().unwrap();
    let r = t
        .http
        .put(t.url(&format!("/jobs/ingest/{jid}/batches")))
        .bearer_auth(t.sim.access_token())
        .header("content-type", "text/csv")
        .body("Name\nB1\nB2\nB3\nB4\nB5\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    t.json(
        Method::PATCH,
        &format!("/jobs/ingest/{jid}"),
        Some(json!({"state": "UploadComplete"})),
    )
    .await;
    let evs = b.events(4).await;
    let kinds: Vec<&str> = evs
        .iter()
        .map(|e| header(e)["changeType"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["CREATE", "CREATE", "CREATE", "GAP_OVERFLOW"]);
    assert_eq!(
        header(&evs[0])["changeOrigin"],
        "com/salesforce/api/bulkapi/59.0;client=loader"
    );
    // A rolled-back transaction publishes nothing.
    t.sim.set_cdc_overflow_threshold(100_000);
    let before = t.sim.streaming_status().last_replay_id;
    let records = json!([
        {"attributes": {"type": "Account"}, "Name": "Kept?"},
        {"attributes": {"type": "Account"}},
    ]);
    let (s, v) = t
        .json(
            Method::POST,
            "/composite/sobjects",
            Some(json!({"allOrNone": true, "records": records})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v[0]["success"], false);
    let sub = json!({"allOrNone": true, "compositeRequest": [
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Account", "referenceId": "a", "body": {"Name": "Rolled back"}},
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Account", "referenceId": "b", "body": {}},
    ]});
    let (s, v) = t.json(Method::POST, "/composite", Some(sub)).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(t.sim.streaming_status().last_replay_id, before);
}

#[tokio::test]
async fn deliveries_count_against_the_event_allocation_not_api_requests() {
    let t = start().await;
    t.sim.enable_cdc(&["Account"]).unwrap();
    t.sim.reset_counters();
    let mut b = Bayeux::handshake(&t).await;
    b.subscribe("/data/AccountChangeEvent", Some(-1)).await;
    b.subscribe("/data/ChangeEvents", Some(-1)).await;
    b.connect().await;
    for i in 0..3 {
        t.sim
            .create("Account", json!({"Name": format!("D{i}")}))
            .unwrap();
    }
    let evs = b.events(6).await;
    assert_eq!(evs.len(), 6, "each event once per subscribed channel");
    let c = t.sim.counters();
    assert_eq!(
        (c.api_calls, c.total_calls, c.uncounted),
        (0, 0, 0),
        "streaming is no API call"
    );
    let st = t.sim.streaming_status();
    assert_eq!((st.delivered, st.delivery_limit), (6, 10_000));
    let (s, v) = t.json(Method::GET, "/limits", None).await;
    assert_eq!(s, 200);
    assert_eq!(
        v["DailyDeliveredPlatformEvents"],
        json!({"Max": 10000, "Remaining": 9994})
    );
    let (_, v) = t.admin(Method::GET, "streaming", json!({})).await;
    assert_eq!(v["delivered"], 6);
    assert_eq!(v["clients"], 1);
    // At the allocation's end, no more deliveries: connect and subscribe are refused.
    let (s, _) = t
        .admin(
            Method::PUT,
            "streaming",
            json!({"delivered": 9999, "poll_timeout_ms": 500}),
        )
        .await;
    assert_eq!(s, 200);
    t.sim.create("Account", json!({"Name": "Last"})).unwrap();
    let (evs, reply) = b.connect().await;
    assert_eq!(evs.len(), 1, "the allocation's last event");
    assert_eq!(reply["successful"], true);
    let (evs, reply) = b.connect().await;
    assert!(evs.is_empty());
    assert_eq!(reply["successful"], false);
    assert_eq!(
        reply["error"],
        "403::Organization total events daily limit exceeded"
    );
    assert_eq!(reply["advice"]["reconnect"], "none");
    let r = b.subscribe("/data/AccountChangeEvent", Some(-1)).await;
    assert_eq!(
        r["error"],
        "403::Organization total events daily limit exceeded"
    );
    t.sim.set_event_delivery(0, Some(20_000));
    let (evs, reply) = b.connect().await;
    assert_eq!(reply["successful"], true);
    assert_eq!(evs.len(), 1);
}

#[tokio::test]
async fn a_dropped_long_poll_loses_nothing() {
    let t = start().await;
    t.sim.enable_cdc(&["Account"]).unwrap();
    let mut b = Bayeux::handshake(&t).await;
    b.subscribe("/data/AccountChangeEvent", Some(-1)).await;
    b.connect().await;
    let id = t.sim.create("Account", json!({"Name": "Dropped"})).unwrap();
    t.sim.drop_next_long_polls(1);
    let r = b
        .http
        .post(&b.url)
        .bearer_auth(&b.token)
        .json(&json!([{"channel": "/meta/connect", "clientId": b.client_id, "connectionType": "long-polling", "id": "x"}]))
        .send()
        .await;
    let failed = match r {
        Err(_) => true,
        Ok(r) => r.bytes().await.is_err(),
    };
    assert!(failed, "the connection is closed without an answer");
    let evs = b.events(1).await;
    assert_eq!(header(&evs[0])["recordIds"], json!([id]));
    // The endpoint also takes messages on /cometd/{version}/connect and checks versions.
    let r = t
        .http
        .post(t.base("/cometd/36.0"))
        .bearer_auth(t.sim.access_token())
        .json(&json!([{"channel": "/meta/handshake", "id": "1"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(
        v[0]["error"]
            .as_str()
            .unwrap()
            .starts_with("400::Unsupported API version")
    );
}

#[tokio::test]
async fn a_newer_long_poll_answers_the_held_one_without_its_events() {
    let t = start().await;
    t.sim.set_streaming_poll_timeout(Duration::from_secs(8));
    t.sim.enable_cdc(&["Account"]).unwrap();
    let mut b = Bayeux::handshake(&t).await;
    b.subscribe("/data/AccountChangeEvent", Some(-1)).await;
    b.connect().await;
    // A poll held on a connection the client gave up on…
    let (http, url, token, cid) = (
        b.http.clone(),
        b.url.clone(),
        b.token.clone(),
        b.client_id.clone(),
    );
    let old = tokio::spawn(async move {
        let r = http
            .post(url)
            .bearer_auth(token)
            .json(&json!([{"channel": "/meta/connect", "clientId": cid, "connectionType": "long-polling", "id": "old"}]))
            .send()
            .await
            .unwrap();
        r.json::<Vec<Value>>().await.unwrap()
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    // …is answered, empty, when the client polls again; the new poll gets the event.
    let started = Instant::now();
    let newer = tokio::spawn({
        let sim = t.sim.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            sim.create("Account", json!({"Name": "After"})).unwrap()
        }
    });
    let (evs, reply) = b.connect().await;
    let id = newer.await.unwrap();
    let old = old.await.unwrap();
    assert_eq!(old.len(), 1, "only the connect reply: {old:?}");
    assert_eq!(old[0]["successful"], true);
    assert_eq!(reply["successful"], true);
    assert_eq!(evs.len(), 1);
    assert_eq!(header(&evs[0])["recordIds"], json!([id]));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn the_selection_and_replay_ids_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SimConfig {
        streaming_poll_timeout: Duration::from_secs(1),
        state_file: Some(dir.path().join("org.json")),
        ..Default::default()
    };
    let t = common::start_with(cfg.clone()).await;
    t.sim.enable_cdc(&["Account"]).unwrap();
    t.sim.create("Account", json!({"Name": "Before"})).unwrap();
    assert_eq!(t.sim.streaming_status().last_replay_id, 1);
    t.sim.shutdown().await.unwrap();
    let t = common::start_with(cfg).await;
    assert_eq!(t.sim.cdc_settings().entities, names(&["Account"]));
    let st = t.sim.streaming_status();
    assert_eq!((st.retained_events, st.last_replay_id), (0, 1));
    // A client that stored replay id 1 resumes; ids go on from there.
    let mut b = Bayeux::handshake(&t).await;
    assert_eq!(
        b.subscribe("/data/AccountChangeEvent", Some(1)).await["successful"],
        true
    );
    t.sim.create("Account", json!({"Name": "After"})).unwrap();
    let evs = b.events(1).await;
    assert_eq!(replay_id(&evs[0]), 2);
}

#[tokio::test]
async fn non_api_changes_bulk_upserts_hard_deletes_and_merged_deletes() {
    let t = start().await;
    t.sim.enable_cdc(&["Account"]).unwrap();
    let ids: Vec<String> = (0..3)
        .map(|i| {
            t.sim
                .create(
                    "Account",
                    json!({"Name": format!("N{i}"), "AccountNumber": format!("K{i}")}),
                )
                .unwrap()
        })
        .collect();
    let mut b = Bayeux::handshake(&t).await;
    b.subscribe("/data/AccountChangeEvent", Some(-1)).await;
    b.connect().await;
    // A workflow-style change (admin touch): the field, no LastModifiedDate; a bare
    // SystemModstamp move is no change event.
    let (s, _) = t
        .admin(
            Method::POST,
            "touch",
            json!({"id": ids[0], "set": {"Description": "by a flow"}}),
        )
        .await;
    assert_eq!(s, 204);
    t.sim.system_touch(&ids[1], &[]).unwrap();
    let evs = b.events(1).await;
    assert_eq!(evs.len(), 1);
    assert_eq!(header(&evs[0])["changedFields"], json!(["Description"]));
    assert_eq!(header(&evs[0])["recordIds"], json!([ids[0]]));
    let (evs, _) = b.connect().await;
    assert!(evs.is_empty(), "{evs:?}");
    // Deleting three records in one request: one DELETE event naming them.
    let (s, v) = t
        .json(
            Method::DELETE,
            &format!("/composite/sobjects?ids={}", ids.join(",")),
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let evs = b.events(1).await;
    assert_eq!(evs.len(), 1);
    assert_eq!(header(&evs[0])["changeType"], "DELETE");
    assert_eq!(header(&evs[0])["recordIds"], json!(ids));
    // A Bulk hard delete is a DELETE too.
    let id = t.sim.create("Account", json!({"Name": "Hard"})).unwrap();
    b.events(1).await;
    let (s, job) = t
        .json(
            Method::POST,
            "/jobs/ingest",
            Some(json!({"object": "Account", "operation": "hardDelete", "lineEnding": "LF"})),
        )
        .await;
    assert_eq!(s, 200, "{job}");
    let jid = job["id"].as_str().unwrap();
    let r = t
        .http
        .put(t.url(&format!("/jobs/ingest/{jid}/batches")))
        .bearer_auth(t.sim.access_token())
        .header("content-type", "text/csv")
        .body(format!("Id\n{id}\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    t.json(
        Method::PATCH,
        &format!("/jobs/ingest/{jid}"),
        Some(json!({"state": "UploadComplete"})),
    )
    .await;
    let evs = b.events(1).await;
    assert_eq!(header(&evs[0])["changeType"], "DELETE");
    assert_eq!(header(&evs[0])["recordIds"], json!([id]));
    // Faults set over the admin API keep the ones not named.
    t.sim.drop_next_long_polls(2);
    let (_, v) = t
        .admin(Method::PUT, "streaming/faults", json!({"gap_next": 3}))
        .await;
    assert_eq!(
        v["faults"],
        json!({"drop_polls": 2, "gap_next": 3, "lose_answers": 0})
    );
}

#[tokio::test]
async fn the_org_admits_twenty_concurrent_clients() {
    let t = start().await;
    let mut clients = Vec::new();
    for _ in 0..20 {
        clients.push(Bayeux::handshake(&t).await);
    }
    let (_, v) = t.json(Method::GET, "/limits", None).await;
    assert_eq!(
        v["DurableStreamingApiConcurrentClients"],
        json!({"Max": 20, "Remaining": 0})
    );
    let r = t
        .http
        .post(t.base("/cometd/59.0"))
        .bearer_auth(t.sim.access_token())
        .json(&json!([{"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": ["long-polling"], "id": "21"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v[0]["successful"], false);
    assert_eq!(v[0]["error"], "403::Handshake denied");
    assert_eq!(
        v[0]["ext"]["sfdc"]["failureReason"],
        "403::Organization concurrent user limit exceeded"
    );
    assert_eq!(v[0]["advice"]["reconnect"], "none");
    // A disconnect frees a place.
    let (_, r) = clients[0]
        .post(json!({"channel": "/meta/disconnect"}))
        .await;
    assert_eq!(r[0]["successful"], true);
    Bayeux::handshake(&t).await;
}

/// Which objects have Change Data Capture, as a client finds out without subscribing: the
/// Tooling API's PlatformEventChannelMember (standard channel `ChangeEvents`, custom
/// channels by name) and PlatformEventChannel.
#[tokio::test]
async fn the_tooling_api_lists_the_selected_entities() {
    let t = start().await;
    t.sim.enable_cdc(&["Account", "Invoice__c"]).unwrap();
    t.sim.define_cdc_channel("Sync__chn", &["Contact"]).unwrap();
    let (s, v) = t
        .get_with(
            "/tooling/query/",
            &[(
                "q",
                "SELECT DeveloperName, EventChannel, SelectedEntity FROM PlatformEventChannelMember ORDER BY DeveloperName",
            )],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let rows: Vec<(String, String)> = v["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["EventChannel"].as_str().unwrap().to_string(),
                r["SelectedEntity"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("ChangeEvents", "AccountChangeEvent"),
        ("ChangeEvents", "Invoice__ChangeEvent"),
        ("Sync__chn", "ContactChangeEvent"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(rows, want);
    let (s, v) = t
        .get_with(
            "/tooling/query/",
            &[(
                "q",
                "SELECT DeveloperName, ChannelType FROM PlatformEventChannel",
            )],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["records"][0]["DeveloperName"], "Sync");
    assert_eq!(v["records"][0]["ChannelType"], "data");
}

/// Merging never reorders one record's changes: in one transaction S gets Phone 1, R gets
/// Phone 5 and then Phone 1; R's second change may not join S's (earlier) event.
#[tokio::test]
async fn merged_events_keep_each_records_changes_in_order() {
    let t = start().await;
    t.sim.enable_cdc(&["Account"]).unwrap();
    let s_id = t.sim.create("Account", json!({"Name": "S"})).unwrap();
    let r_id = t.sim.create("Account", json!({"Name": "R"})).unwrap();
    let mut b = Bayeux::handshake(&t).await;
    b.subscribe("/data/AccountChangeEvent", Some(-1)).await;
    b.connect().await;
    let sub = |refid: &str, id: &str, phone: &str| json!({"method": "PATCH", "url": format!("/services/data/v59.0/sobjects/Account/{id}"), "referenceId": refid, "body": {"Phone": phone}});
    let req = json!({"allOrNone": true, "compositeRequest": [
        sub("a", &s_id, "1"), sub("b", &r_id, "5"), sub("c", &r_id, "1"),
    ]});
    let (s, v) = t.json(Method::POST, "/composite", Some(req)).await;
    assert_eq!(s, 200, "{v}");
    let evs = b.events(3).await;
    let seen: Vec<(Value, Value)> = evs
        .iter()
        .map(|e| {
            (
                header(e)["recordIds"].clone(),
                e["data"]["payload"]["Phone"].clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (json!([s_id]), json!("1")),
            (json!([r_id]), json!("5")),
            (json!([r_id]), json!("1")),
        ]
    );
    // One transaction: one key, sequence numbers 1, 2, 3.
    assert!(
        evs.iter()
            .all(|e| header(e)["transactionKey"] == header(&evs[0])["transactionKey"])
    );
    let seq: Vec<i64> = evs
        .iter()
        .map(|e| header(e)["sequenceNumber"].as_i64().unwrap())
        .collect();
    assert_eq!(seq, [1, 2, 3]);
}

/// Change Data Capture respects field-level security: a field hidden from the API user
/// (Account's Credit_Limit__c) is never in an event, though the record has a value.
#[tokio::test]
async fn hidden_fields_stay_out_of_events() {
    let t = start().await;
    t.sim.enable_cdc(&["Account"]).unwrap();
    let id = t
        .sim
        .create("Account", json!({"Name": "Secretive"}))
        .unwrap();
    t.sim.with_org(|o| {
        let tab = o.table_mut("Account").unwrap();
        let slot = tab.def.slot("Credit_Limit__c").unwrap();
        tab.records
            .get_mut(&id)
            .unwrap()
            .set(slot, sfsim::value::Value::Num(5000.0));
    });
    t.sim.delete(&id).unwrap();
    t.sim.undelete(&id).unwrap();
    let events = t.sim.change_events();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| header(e)["changeType"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["CREATE", "DELETE", "UNDELETE"]);
    let p = &events[2]["data"]["payload"];
    assert_eq!(p["Name"], "Secretive");
    assert!(p.get("Credit_Limit__c").is_none(), "{p}");
}
