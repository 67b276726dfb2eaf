//! One client connection: read lines, answer each request, push subscribed events.
use std::collections::HashMap;

use datenator_shared::model::{Event, Topic};
use datenator_shared::protocol::{
    Call, MAX_LINE_BYTES, Notification, PROTOCOL_VERSION, Request, Response, RpcError,
    VersionMismatchData, codes,
};
use datenator_shared::socket::{self, Peer, SocketStream};
use datenator_shared::wire::{Frame, LineCodec};
use futures::{SinkExt, StreamExt};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::OUTGOING_QUEUE;
use super::handlers;
use crate::state::{DAEMON_VERSION, State};

/// Outgoing side of a connection, shared with the subscription tasks.
#[derive(Clone)]
pub(super) struct Outbox {
    tx: mpsc::Sender<String>,
    /// Cancelled to drop the connection (slow subscriber, shutdown).
    close: CancellationToken,
}

impl Outbox {
    async fn reply(&self, response: Response) {
        let _ = self.tx.send(response.to_line()).await;
    }

    /// Queues an event without waiting; a client that lets the queue fill up is dropped.
    pub(super) fn push(&self, event: Event) -> bool {
        match self.tx.try_send(Notification::event(event).to_line()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(
                    "subscriber is too slow ({OUTGOING_QUEUE} messages waiting); disconnecting it"
                );
                self.close.cancel();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

pub(super) async fn run(
    stream: SocketStream,
    peer: Option<Peer>,
    state: State,
    shutdown: CancellationToken,
) {
    state.connection_opened();
    let (recv, send) = socket::split(stream);
    let mut frames = FramedRead::new(recv, LineCodec::new(MAX_LINE_BYTES));
    let (tx, mut rx) = mpsc::channel::<String>(OUTGOING_QUEUE);
    let close = shutdown.child_token();
    let outbox = Outbox {
        tx,
        close: close.clone(),
    };

    let writer_close = close.clone();
    let writer = tokio::spawn(async move {
        let mut sink = FramedWrite::new(send, LineCodec::new(MAX_LINE_BYTES));
        while let Some(line) = rx.recv().await {
            if sink.send(line).await.is_err() {
                break;
            }
        }
        writer_close.cancel();
    });

    let denied = match peer {
        Some(p) => state.access().check(&p).err(),
        None => Some("the daemon could not read the credentials of this connection".to_owned()),
    };
    if let Some(reason) = &denied {
        tracing::warn!("refusing connection: {reason}");
    } else {
        tracing::debug!("client connected");
    }

    let mut conn = Connection {
        state: state.clone(),
        outbox: outbox.clone(),
        handshaken: false,
        subscriptions: HashMap::new(),
    };
    loop {
        let frame = tokio::select! {
            _ = close.cancelled() => break,
            f = frames.next() => f,
        };
        let line = match frame {
            None => break,
            Some(Err(e)) => {
                tracing::debug!("read failed: {e}");
                break;
            }
            Some(Ok(Frame::TooLong)) => {
                outbox
                    .reply(Response::err(
                        None,
                        RpcError::new(
                            codes::LINE_TOO_LONG,
                            format!("the line is longer than {MAX_LINE_BYTES} bytes and was dropped: send smaller requests"),
                        ),
                    ))
                    .await;
                continue;
            }
            Some(Ok(Frame::Line(line))) => line,
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if let Some(reason) = &denied {
            let id = Request::parse(&line).ok().map(|r| r.id);
            outbox
                .reply(Response::err(
                    id,
                    RpcError::new(codes::PERMISSION_DENIED, reason.clone()),
                ))
                .await;
            break;
        }
        let response = match Request::parse(&line) {
            Ok(req) => conn.handle(req).await,
            Err((id, error)) => Some(Response::err(id, error)),
        };
        if let Some(response) = response {
            outbox.reply(response).await;
        }
    }

    for (_, task) in conn.subscriptions.drain() {
        task.abort();
    }
    drop(conn);
    drop(outbox);
    // Let queued replies reach the client before closing, but never wait on a stuck one
    // (a subscriber that stopped reading): abort its writer so the socket closes.
    let abort = writer.abort_handle();
    if tokio::time::timeout(std::time::Duration::from_secs(2), writer)
        .await
        .is_err()
    {
        abort.abort();
    }
    state.connection_closed();
    tracing::debug!("client disconnected");
}

struct Connection {
    state: State,
    outbox: Outbox,
    handshaken: bool,
    subscriptions: HashMap<Topic, JoinHandle<()>>,
}

impl Connection {
    /// Answers `req`, or returns `None` when a spawned task will answer it.
    async fn handle(&mut self, req: Request) -> Option<Response> {
        let id = req.id;
        let response = match req.call {
            Call::Handshake(h) => {
                if h.protocol != PROTOCOL_VERSION {
                    let older = if h.protocol > PROTOCOL_VERSION {
                        "the daemon"
                    } else {
                        "the client"
                    };
                    tracing::info!(client = %h.client_name, client_protocol = h.protocol, "protocol mismatch");
                    return Some(Response::err(
                        Some(id),
                        RpcError::new(
                            codes::VERSION_MISMATCH,
                            format!(
                                "this daemon (datenatord {DAEMON_VERSION}) speaks protocol {PROTOCOL_VERSION}, {} {} speaks protocol {}: {older} is older, upgrade it",
                                h.client_name, h.client_version, h.protocol
                            ),
                        )
                        .with_data(
                            serde_json::to_value(VersionMismatchData {
                                daemon_protocol: PROTOCOL_VERSION,
                                daemon_version: DAEMON_VERSION.into(),
                            })
                            .unwrap_or_default(),
                        ),
                    ));
                }
                self.handshaken = true;
                tracing::debug!(client = %h.client_name, version = %h.client_version, "handshake");
                Response::ok(id, handlers::handshake_ok())
            }
            _ if !self.handshaken => Response::err(
                Some(id),
                RpcError::new(
                    codes::HANDSHAKE_REQUIRED,
                    "send \"handshake\" with your protocol version first",
                ),
            ),
            Call::Subscribe(t) => {
                for topic in t.topics {
                    if !self.subscriptions.contains_key(&topic) {
                        let task = spawn_subscription(topic, &self.state, self.outbox.clone());
                        self.subscriptions.insert(topic, task);
                    }
                }
                Response::ok(id, self.topics())
            }
            Call::Unsubscribe(t) => {
                for topic in t.topics {
                    if let Some(task) = self.subscriptions.remove(&topic) {
                        task.abort();
                    }
                }
                Response::ok(id, self.topics())
            }
            call => {
                // Everything else may take a while (Salesforce, databases): answer from a
                // task of its own, so this connection keeps reading and replying meanwhile.
                let state = self.state.clone();
                let outbox = self.outbox.clone();
                let method = call.method();
                let span = tracing::info_span!("request", id, method);
                tokio::spawn(
                    async move {
                        let response = match handlers::handle(&state, call).await {
                            Ok(value) => Response::ok(id, value),
                            Err(e) => {
                                tracing::debug!("request failed: {}", e.message);
                                Response::err(Some(id), e)
                            }
                        };
                        outbox.reply(response).await;
                    }
                    .instrument(span),
                );
                return None;
            }
        };
        Some(response)
    }

    fn topics(&self) -> datenator_shared::protocol::Topics {
        let mut topics: Vec<Topic> = self.subscriptions.keys().copied().collect();
        topics.sort();
        datenator_shared::protocol::Topics { topics }
    }
}

/// Sends the topic's current state, then every change, until aborted or the client lags.
fn spawn_subscription(topic: Topic, state: &State, outbox: Outbox) -> JoinHandle<()> {
    match topic {
        Topic::Status => {
            let mut rx = state.subscribe_status();
            let state = state.clone();
            tokio::spawn(async move {
                rx.mark_unchanged();
                if !outbox.push(Event::Status(state.status())) {
                    return;
                }
                while rx.changed().await.is_ok() {
                    if !outbox.push(Event::Status(state.status())) {
                        return;
                    }
                }
            })
        }
        Topic::Sync => {
            let mut rx = state.engine.subscribe();
            tokio::spawn(async move {
                let current = rx.borrow_and_update().clone();
                if !outbox.push(Event::Sync(current)) {
                    return;
                }
                while rx.changed().await.is_ok() {
                    let current = rx.borrow_and_update().clone();
                    if !outbox.push(Event::Sync(current)) {
                        return;
                    }
                }
            })
        }
        Topic::Log => {
            let (recent, mut rx) = crate::log_tail::tail().subscribe();
            tokio::spawn(async move {
                if !outbox.push(Event::Log(recent)) {
                    return;
                }
                loop {
                    let mut lines = match rx.recv().await {
                        Ok(line) => vec![line],
                        Err(broadcast::error::RecvError::Lagged(n)) => vec![skipped(n)],
                        Err(broadcast::error::RecvError::Closed) => return,
                    };
                    // A burst goes out as one event.
                    while let Ok(line) = rx.try_recv() {
                        lines.push(line);
                    }
                    if !outbox.push(Event::Log(lines)) {
                        return;
                    }
                }
            })
        }
        Topic::Orgs => {
            let mut rx = state.subscribe_orgs();
            tokio::spawn(async move {
                let current = rx.borrow_and_update().clone();
                if !outbox.push(Event::Orgs(current)) {
                    return;
                }
                while rx.changed().await.is_ok() {
                    let current = rx.borrow_and_update().clone();
                    if !outbox.push(Event::Orgs(current)) {
                        return;
                    }
                }
            })
        }
    }
}

/// The line a log subscriber sees in place of lines it fell too far behind to get.
fn skipped(n: u64) -> datenator_shared::model::LogLine {
    datenator_shared::model::LogLine {
        at: chrono::Utc::now(),
        level: "WARN".into(),
        org: None,
        message: format!("{n} log lines skipped: this client fell behind"),
    }
}
