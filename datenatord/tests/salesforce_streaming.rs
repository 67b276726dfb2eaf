//! The Streaming API client (Change Data Capture over CometD) against sfsim over real
//! HTTP: events arrive with their header read, a forgotten session is opened again from
//! the committed replay ids without losing or repeating an event, long polls cost no API
//! calls, and a replay id past retention or an unknown channel is refused in words.
use std::time::Duration;

use datenatord::salesforce::streaming::{ChangeEvent, ChangeType, Setback, Stream};
use datenatord::salesforce::{Api, RetryPolicy};
use serde_json::json;
use sfsim::{RunningSim, Sim, SimConfig};

const ACCOUNTS: &str = "/data/AccountChangeEvent";

async fn sim() -> RunningSim {
    let sim = Sim::start(SimConfig::default()).await.expect("start sfsim");
    sim.enable_cdc(&["Account"]).unwrap();
    sim.set_streaming_poll_timeout(Duration::from_millis(300));
    sim
}

fn api(sim: &RunningSim) -> Api {
    Api::builder(sim.instance_url(), sim.access_token())
        .retry(RetryPolicy {
            attempts: 8,
            base: Duration::from_millis(5),
            cap: Duration::from_millis(50),
        })
        .build()
}

/// Polls until `n` events arrived (at most 40 polls of 300 ms).
async fn events(stream: &mut Stream, n: usize) -> Vec<ChangeEvent> {
    let mut got = Vec::new();
    for _ in 0..40 {
        got.extend(stream.poll().await.unwrap());
        if got.len() >= n {
            return got;
        }
    }
    panic!("only {} of {n} events arrived: {got:?}", got.len());
}

#[tokio::test]
async fn changes_arrive_and_a_forgotten_session_resumes_from_the_committed_event() {
    let sim = sim().await;
    let api = api(&sim);
    let mut stream = Stream::open(&api, &[(ACCOUNTS.to_owned(), -1)])
        .await
        .unwrap();
    let id = sim
        .create("Account", json!({"Name": "Streamed", "Phone": "1"}))
        .unwrap();
    let created = events(&mut stream, 1).await;
    assert_eq!(created[0].change_type, ChangeType::Create);
    assert_eq!(created[0].record_ids, std::slice::from_ref(&id));
    assert_eq!(created[0].fields["Name"], "Streamed");
    stream.commit(ACCOUNTS, created[0].replay_id);

    // The server forgets the session; a change made meanwhile arrives once, after the
    // client opened a new session from the committed replay id.
    assert!(sim.forget_streaming_clients() >= 1);
    sim.update(&id, json!({"Phone": "2"})).unwrap();
    let updated = events(&mut stream, 1).await;
    assert_eq!(updated.len(), 1, "{updated:?}");
    assert_eq!(updated[0].change_type, ChangeType::Update);
    assert!(updated[0].changed_fields.iter().any(|f| f == "Phone"));
    assert_eq!(updated[0].fields["Phone"], "2");
    assert!(updated[0].replay_id > created[0].replay_id);
    assert_eq!(api.usage().calls(), 0, "long polls are not API requests");
    stream.close().await;
}

#[tokio::test]
async fn a_replay_id_past_retention_and_an_unknown_channel_set_back_one_channel_not_the_session() {
    let sim = sim().await;
    let api = api(&sim);
    let mut stream = Stream::open(&api, &[(ACCOUNTS.to_owned(), -1)])
        .await
        .unwrap();
    for name in ["a", "b"] {
        sim.create("Account", json!({"Name": name})).unwrap();
    }
    let first = events(&mut stream, 2).await[0].replay_id;
    sim.expire_change_events(None);
    sim.create("Account", json!({"Name": "c"})).unwrap();
    // The session goes on: the channel is followed from new events on, and the setback
    // says what was lost (the caller reads it through the pull).
    let mut stream = Stream::open(
        &api,
        &[
            (ACCOUNTS.to_owned(), first),
            ("/data/Nope__ChangeEvent".to_owned(), -1),
        ],
    )
    .await
    .unwrap();
    let setbacks = stream.take_setbacks();
    assert_eq!(setbacks.len(), 2, "{setbacks:?}");
    assert!(
        matches!(&setbacks[0], Setback::Restarted { channel, message } if channel == ACCOUNTS && message.contains("replayId")),
        "{setbacks:?}"
    );
    assert!(
        matches!(&setbacks[1], Setback::Dropped { channel, .. } if channel == "/data/Nope__ChangeEvent"),
        "{setbacks:?}"
    );
    assert_eq!(
        stream.positions().keys().collect::<Vec<_>>(),
        [ACCOUNTS],
        "only the channel that exists is followed"
    );
    assert!(stream.take_setbacks().is_empty());
    sim.create("Account", json!({"Name": "d"})).unwrap();
    let after = events(&mut stream, 1).await;
    assert_eq!(after[0].fields["Name"], json!("d"), "new events flow");
    stream.close().await;
}

/// A reconnection resumes after the last event received, committed or not (the caller
/// holds what it received); one before any event arrived cannot know where the old session
/// stood, and says so as a setback.
#[tokio::test]
async fn a_reconnection_resumes_after_what_arrived_or_says_it_cannot() {
    let sim = sim().await;
    let api = api(&sim);
    let mut stream = Stream::open(&api, &[(ACCOUNTS.to_owned(), -1)])
        .await
        .unwrap();
    // No event yet: a change made while the session is forgotten is not seen; the setback
    // says what to read instead.
    assert!(sim.forget_streaming_clients() >= 1);
    let id = sim.create("Account", json!({"Name": "Between"})).unwrap();
    for _ in 0..3 {
        assert!(stream.poll().await.unwrap().is_empty());
    }
    let setbacks = stream.take_setbacks();
    assert!(
        matches!(&setbacks[..], [Setback::Restarted { channel, .. }] if channel == ACCOUNTS),
        "{setbacks:?}"
    );
    // An event received (not committed), then a forgotten session: the next change arrives,
    // the received one does not come again.
    sim.update(&id, json!({"Phone": "1"})).unwrap();
    let first = events(&mut stream, 1).await;
    assert!(sim.forget_streaming_clients() >= 1);
    sim.update(&id, json!({"Phone": "2"})).unwrap();
    let next = events(&mut stream, 1).await;
    assert_eq!(next.len(), 1, "{next:?}");
    assert_eq!(next[0].fields["Phone"], "2");
    assert!(next[0].replay_id > first[0].replay_id);
    assert!(stream.take_setbacks().is_empty());
    stream.close().await;
}

/// A long poll's answer lost on the way back, after Salesforce handed its events out: the
/// client does not send the same connect again (the session would go on after them) but
/// subscribes again from what arrived, and gets them.
#[tokio::test]
async fn events_of_a_lost_answer_come_again() {
    let sim = sim().await;
    let api = api(&sim);
    let mut stream = Stream::open(&api, &[(ACCOUNTS.to_owned(), -1)])
        .await
        .unwrap();
    let id = sim.create("Account", json!({"Name": "Lost"})).unwrap();
    let created = events(&mut stream, 1).await;
    sim.lose_next_answers(1);
    sim.update(&id, json!({"Phone": "9"})).unwrap();
    let again = events(&mut stream, 1).await;
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(again[0].fields["Phone"], "9");
    assert!(again[0].replay_id > created[0].replay_id);
    stream.close().await;
}
