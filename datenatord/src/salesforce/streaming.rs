//! The Streaming API's client for Change Data Capture: CometD (Bayeux 1.0) long polling at
//! `/cometd/{version}`, with Salesforce's replay extension.
//!
//! A [`Stream`] handshakes, subscribes to change-event channels (`/data/ChangeEvents`,
//! `/data/AccountChangeEvent`, …) from a replay id — `-1` new events only, `-2` every event
//! still retained (72 hours), or `N` the events after `N` — and then [`Stream::poll`]s: one
//! long poll (Salesforce holds it up to 110 s) returns the events that arrived. The caller
//! [`Stream::commit`]s the replay id of each event once it is applied; a reconnection (after
//! `403::Unknown client`, a dropped poll, a restart) subscribes from the committed ids, so an
//! event is delivered again rather than lost. Long polls are not API requests: they are not
//! counted against the org's daily API limit (deliveries count against the event allocation
//! instead).
use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::SalesforceError;
use super::http::{API_VERSION, Api, Body, Replay};

/// What Salesforce says a change event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeType {
    Create,
    Update,
    Delete,
    Undelete,
    /// Salesforce could not produce the event with its fields (a change made outside the
    /// API, or too large): the records must be read again. `GAP_CREATE`, `GAP_UPDATE`, …
    Gap,
    /// More changes in one transaction than events are sent for: the object must be read
    /// again (`GAP_OVERFLOW`, without record ids).
    GapOverflow,
}

impl ChangeType {
    fn parse(s: &str) -> Result<ChangeType, StreamError> {
        Ok(match s {
            "CREATE" => ChangeType::Create,
            "UPDATE" => ChangeType::Update,
            "DELETE" => ChangeType::Delete,
            "UNDELETE" => ChangeType::Undelete,
            "GAP_OVERFLOW" => ChangeType::GapOverflow,
            s if s.starts_with("GAP_") => ChangeType::Gap,
            other => {
                return Err(StreamError::Protocol(format!(
                    "a change event of unknown type {other:?}"
                )));
            }
        })
    }
}

/// One change event, its header read and its changed fields as sent (compound fields
/// nested, as Salesforce nests them).
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeEvent {
    pub channel: String,
    pub replay_id: i64,
    pub entity: String,
    pub record_ids: Vec<String>,
    pub change_type: ChangeType,
    pub changed_fields: Vec<String>,
    pub nulled_fields: Vec<String>,
    /// The user whose transaction made the change (an integration user's own writes).
    pub commit_user: String,
    /// The client that made it, e.g. `com/salesforce/api/rest/59.0;client=datenator`.
    pub change_origin: String,
    /// Milliseconds since the epoch.
    pub commit_timestamp: i64,
    pub transaction_key: String,
    pub sequence_number: i64,
    /// The event's field values (without the header).
    pub fields: Map<String, Value>,
}

/// Why streaming cannot go on as asked; each says what the caller does instead.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The replay id is no longer retained (older than 72 hours, or unknown): read the
    /// channel's objects through the pull instead, then subscribe with `-1`.
    #[error(
        "the stored position in {channel} is no longer kept by Salesforce ({message}); the object is caught up by polling"
    )]
    ReplayTooOld { channel: String, message: String },
    /// The org's daily event delivery allocation is used up: poll until it renews.
    #[error(
        "the org's daily change-event delivery allocation is used up ({0}); changes are polled until it renews"
    )]
    AllocationExhausted(String),
    /// The channel does not exist (Change Data Capture not enabled for the object, say).
    #[error("Salesforce has no channel {channel} ({message}); the object is polled")]
    NoSuchChannel { channel: String, message: String },
    /// Salesforce refused the handshake or a subscription for another reason.
    #[error("the Streaming API refused {what}: {message}")]
    Refused { what: String, message: String },
    #[error("unexpected Streaming API answer: {0}")]
    Protocol(String),
    #[error(transparent)]
    Salesforce(#[from] SalesforceError),
}

/// A channel the session could not follow as asked. The rest of the session goes on; the
/// caller catches the channel's object up another way.
#[derive(Debug, Clone, PartialEq)]
pub enum Setback {
    /// The stored replay id is no longer retained: the channel is followed from new events
    /// on (`-1`), and what came before must be read through the pull.
    Restarted { channel: String, message: String },
    /// Salesforce has no such channel: it is not followed.
    Dropped { channel: String, message: String },
}

/// A CometD session with its subscriptions.
pub struct Stream {
    api: Api,
    path: String,
    client_id: String,
    /// Per channel, the replay id a reconnection subscribes from: the newest event
    /// committed or received (what was received is the caller's to keep).
    committed: BTreeMap<String, i64>,
    next_id: u64,
    setbacks: Vec<Setback>,
    /// Whether the session was opened once already (a handshake now is a reconnection).
    opened: bool,
}

impl Stream {
    /// Handshakes and subscribes to each `(channel, replay id)`. A channel whose replay id
    /// is too old, or that does not exist, does not fail the session: it is reported by
    /// [`Stream::take_setbacks`].
    pub async fn open(api: &Api, channels: &[(String, i64)]) -> Result<Stream, StreamError> {
        let mut stream = Stream {
            api: api.clone(),
            path: format!("/cometd/{API_VERSION}"),
            client_id: String::new(),
            committed: channels.iter().cloned().collect(),
            next_id: 0,
            setbacks: Vec::new(),
            opened: false,
        };
        stream.handshake().await?;
        stream.opened = true;
        Ok(stream)
    }

    /// The channels that could not be followed as asked since the last call (at opening,
    /// or when a reconnection subscribed again).
    pub fn take_setbacks(&mut self) -> Vec<Setback> {
        std::mem::take(&mut self.setbacks)
    }

    /// The channels and the replay ids a reconnection would subscribe from.
    pub fn positions(&self) -> &BTreeMap<String, i64> {
        &self.committed
    }

    /// `replay_id` of `channel` is applied (or held by the caller): a reconnection resumes
    /// after it.
    pub fn commit(&mut self, channel: &str, replay_id: i64) {
        if let Some(r) = self.committed.get_mut(channel) {
            *r = (*r).max(replay_id);
        }
    }

    /// One long poll: the events that arrived (none when it timed out or the session had to
    /// be opened again).
    pub async fn poll(&mut self) -> Result<Vec<ChangeEvent>, StreamError> {
        let id = self.id();
        // Not resent on a lost answer: Salesforce may have handed events out in it, and a
        // second connect of the same session would go on after them. A new session
        // resubscribes from what arrived instead.
        let answer = match self
            .exchange_once(json!([{
                "channel": "/meta/connect",
                "clientId": self.client_id,
                "connectionType": "long-polling",
                "id": id,
            }]))
            .await
        {
            Ok(a) => a,
            Err(StreamError::Salesforce(e))
                if e.is_transient() || matches!(e, SalesforceError::OutcomeUnknown(_)) =>
            {
                tracing::info!("a long poll was lost ({e}); opening a new session");
                self.handshake().await?;
                return Ok(Vec::new());
            }
            Err(e) => return Err(e),
        };
        let mut events = Vec::new();
        for m in &answer {
            let channel = m["channel"].as_str().unwrap_or_default();
            if channel == "/meta/connect" {
                if m["successful"].as_bool() != Some(true) {
                    let error = m["error"].as_str().unwrap_or_default();
                    if is_allocation(error) {
                        return Err(StreamError::AllocationExhausted(error.to_owned()));
                    }
                    // `403::Unknown client` (the session expired or the server forgot it),
                    // or any advice to handshake: a new session from what arrived (the
                    // events of this answer included).
                    tracing::info!("the streaming session ended ({error}); opening a new one");
                    self.handshake().await?;
                    return Ok(events);
                }
            } else if !channel.starts_with("/meta/") {
                let event = change_event(channel, m)?;
                // A reconnection resumes after what arrived: the caller holds it.
                self.commit(channel, event.replay_id);
                events.push(event);
            }
        }
        Ok(events)
    }

    /// Ends the session (best effort).
    pub async fn close(self) {
        let id = self.next_id + 1;
        let _ = self
            .exchange(json!([{
                "channel": "/meta/disconnect",
                "clientId": self.client_id,
                "id": id.to_string(),
            }]))
            .await;
    }

    fn id(&mut self) -> String {
        self.next_id += 1;
        self.next_id.to_string()
    }

    async fn exchange(&self, messages: Value) -> Result<Vec<Value>, StreamError> {
        self.send(messages, Replay::Safe).await
    }

    /// [`Stream::exchange`] without resending after a lost answer.
    async fn exchange_once(&self, messages: Value) -> Result<Vec<Value>, StreamError> {
        self.send(messages, Replay::Unsafe).await
    }

    async fn send(&self, messages: Value, replay: Replay) -> Result<Vec<Value>, StreamError> {
        let answer = self
            .api
            .send_uncounted(Method::POST, &self.path, Body::Json(messages), replay)
            .await?;
        match answer.json::<Value>()? {
            Value::Array(a) => Ok(a),
            other => Err(StreamError::Protocol(format!(
                "a Bayeux answer is an array, not {other}"
            ))),
        }
    }

    /// A new session, subscribed to every channel from its committed replay id.
    async fn handshake(&mut self) -> Result<(), StreamError> {
        let id = self.id();
        let answer = self
            .exchange(json!([{
                "channel": "/meta/handshake",
                "version": "1.0",
                "minimumVersion": "1.0",
                "supportedConnectionTypes": ["long-polling"],
                "ext": {"replay": true},
                "id": id,
            }]))
            .await?;
        let reply = answer
            .iter()
            .find(|m| m["channel"] == "/meta/handshake")
            .ok_or_else(|| StreamError::Protocol("no handshake reply".into()))?;
        if reply["successful"].as_bool() != Some(true) {
            return Err(StreamError::Refused {
                what: "the handshake".into(),
                message: failure(reply),
            });
        }
        self.client_id = reply["clientId"]
            .as_str()
            .ok_or_else(|| StreamError::Protocol("a handshake reply without clientId".into()))?
            .to_owned();
        let channels: Vec<(String, i64)> = self
            .committed
            .iter()
            .map(|(c, r)| (c.clone(), *r))
            .collect();
        for (channel, replay) in channels {
            if replay == -1 && self.opened {
                // Subscribed for new events only and none came: where the old session
                // stood is unknown, so what came between is for the caller to read.
                self.setbacks.push(Setback::Restarted {
                    channel: channel.clone(),
                    message: "the streaming session ended before its first event, so where it stood is unknown".into(),
                });
            }
            match self.subscribe(&channel, replay).await {
                Ok(()) => {}
                Err(StreamError::ReplayTooOld { channel, message }) => {
                    self.subscribe(&channel, -1).await?;
                    self.committed.insert(channel.clone(), -1);
                    self.setbacks.push(Setback::Restarted { channel, message });
                }
                Err(
                    StreamError::NoSuchChannel { message, .. }
                    | StreamError::Refused { message, .. },
                ) => {
                    // One channel refused does not stop the others.
                    self.committed.remove(&channel);
                    self.setbacks.push(Setback::Dropped { channel, message });
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn subscribe(&mut self, channel: &str, replay: i64) -> Result<(), StreamError> {
        let id = self.id();
        let answer = self
            .exchange(json!([{
                "channel": "/meta/subscribe",
                "clientId": self.client_id,
                "subscription": channel,
                "ext": {"replay": {channel: replay}},
                "id": id,
            }]))
            .await?;
        let reply = answer
            .iter()
            .find(|m| m["channel"] == "/meta/subscribe")
            .ok_or_else(|| StreamError::Protocol("no subscribe reply".into()))?;
        if reply["successful"].as_bool() == Some(true) {
            return Ok(());
        }
        let message = failure(reply);
        Err(if message.contains("replayId") {
            StreamError::ReplayTooOld {
                channel: channel.to_owned(),
                message,
            }
        } else if is_allocation(&message) {
            StreamError::AllocationExhausted(message)
        } else if message.contains("does not exist") {
            StreamError::NoSuchChannel {
                channel: channel.to_owned(),
                message,
            }
        } else {
            StreamError::Refused {
                what: format!("the subscription to {channel}"),
                message,
            }
        })
    }
}

/// The change event name of an object: `AccountChangeEvent`, `Invoice__ChangeEvent` for
/// `Invoice__c`.
pub fn change_event_name(object: &str) -> String {
    match object.strip_suffix("__c") {
        Some(base) => format!("{base}__ChangeEvent"),
        None => format!("{object}ChangeEvent"),
    }
}

/// The channel carrying one object's change events: `/data/AccountChangeEvent`.
pub fn channel_of(object: &str) -> String {
    format!("/data/{}", change_event_name(object))
}

/// The object whose change events a name stands for (`AccountChangeEvent` → `Account`,
/// `Invoice__ChangeEvent` → `Invoice__c`); `None` for a name that is not a change event's.
pub fn object_of(change_event: &str) -> Option<String> {
    let base = change_event.strip_suffix("ChangeEvent")?;
    if base.is_empty() {
        return None;
    }
    Some(match base.strip_suffix("__") {
        Some(custom) => format!("{custom}__c"),
        None => base.to_owned(),
    })
}

impl Api {
    /// The objects selected for Change Data Capture (on the standard `ChangeEvents` channel
    /// or a custom one), read from the Tooling API's `PlatformEventChannelMember` — one API
    /// call.
    pub async fn cdc_objects(&self) -> Result<std::collections::BTreeSet<String>, SalesforceError> {
        let soql = "SELECT EventChannel, SelectedEntity FROM PlatformEventChannelMember";
        let mut next = Some(Api::data_path(&format!(
            "/tooling/query?q={}",
            super::rest::encode(soql)
        )));
        let mut out = std::collections::BTreeSet::new();
        while let Some(path) = next.take() {
            let page: Value = self
                .send(Method::GET, &path, Body::None, &[], Replay::Safe)
                .await?
                .json()?;
            for r in page["records"].as_array().into_iter().flatten() {
                if let Some(object) = r["SelectedEntity"].as_str().and_then(object_of) {
                    out.insert(object);
                }
            }
            if page["done"].as_bool() == Some(false) {
                next = page["nextRecordsUrl"].as_str().map(str::to_owned);
            }
        }
        Ok(out)
    }
}

fn is_allocation(error: &str) -> bool {
    error.contains("daily limit exceeded")
}

/// A refusal's words: its `error`, and Salesforce's `ext.sfdc.failureReason` when given.
fn failure(reply: &Value) -> String {
    let error = reply["error"].as_str().unwrap_or("refused");
    match reply["ext"]["sfdc"]["failureReason"].as_str() {
        Some(reason) if reason != error => format!("{error} ({reason})"),
        _ => error.to_owned(),
    }
}

/// A data message as a [`ChangeEvent`].
fn change_event(channel: &str, m: &Value) -> Result<ChangeEvent, StreamError> {
    let data = &m["data"];
    let replay_id = data["event"]["replayId"]
        .as_i64()
        .ok_or_else(|| StreamError::Protocol(format!("an event on {channel} without replayId")))?;
    let mut fields = data["payload"]
        .as_object()
        .cloned()
        .ok_or_else(|| StreamError::Protocol(format!("an event on {channel} without payload")))?;
    let header = fields.remove("ChangeEventHeader").unwrap_or(Value::Null);
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let text = |k: &str| header[k].as_str().unwrap_or_default().to_owned();
    Ok(ChangeEvent {
        channel: channel.to_owned(),
        replay_id,
        entity: text("entityName"),
        record_ids: strings(&header["recordIds"]),
        change_type: ChangeType::parse(header["changeType"].as_str().unwrap_or_default())?,
        changed_fields: strings(&header["changedFields"]),
        nulled_fields: strings(&header["nulledFields"]),
        commit_user: text("commitUser"),
        change_origin: text("changeOrigin"),
        commit_timestamp: header["commitTimestamp"].as_i64().unwrap_or_default(),
        transaction_key: text("transactionKey"),
        sequence_number: header["sequenceNumber"].as_i64().unwrap_or_default(),
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_read_with_its_header_apart() {
        let m = json!({
            "channel": "/data/AccountChangeEvent",
            "data": {
                "schema": "x",
                "event": {"replayId": 42},
                "payload": {
                    "ChangeEventHeader": {
                        "entityName": "Account",
                        "recordIds": ["001A", "001B"],
                        "changeType": "UPDATE",
                        "changedFields": ["Phone", "LastModifiedDate"],
                        "nulledFields": [],
                        "commitUser": "005X",
                        "changeOrigin": "com/salesforce/api/rest/59.0;client=datenator",
                        "commitTimestamp": 1_700_000_000_000_i64,
                        "transactionKey": "t",
                        "sequenceNumber": 1
                    },
                    "Phone": "555",
                    "LastModifiedDate": "2026-12-04T10:00:00.000Z"
                }
            }
        });
        let e = change_event("/data/AccountChangeEvent", &m).unwrap();
        assert_eq!(e.replay_id, 42);
        assert_eq!(e.record_ids, ["001A", "001B"]);
        assert_eq!(e.change_type, ChangeType::Update);
        assert_eq!(e.fields.len(), 2);
        assert!(!e.fields.contains_key("ChangeEventHeader"));
        assert_eq!(ChangeType::parse("GAP_DELETE").unwrap(), ChangeType::Gap);
        assert_eq!(
            ChangeType::parse("GAP_OVERFLOW").unwrap(),
            ChangeType::GapOverflow
        );
        assert!(ChangeType::parse("MERGE").is_err());
    }

    #[test]
    fn change_event_names_follow_the_objects() {
        assert_eq!(channel_of("Account"), "/data/AccountChangeEvent");
        assert_eq!(channel_of("Invoice__c"), "/data/Invoice__ChangeEvent");
        assert_eq!(object_of("AccountChangeEvent").as_deref(), Some("Account"));
        assert_eq!(
            object_of("Invoice__ChangeEvent").as_deref(),
            Some("Invoice__c")
        );
        assert_eq!(object_of("ChangeEvent"), None);
        assert_eq!(object_of("Account"), None);
    }
}
