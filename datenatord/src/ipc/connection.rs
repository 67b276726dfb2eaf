//! One client connection: read lines, answer each request, push subscribed events.
//!
//! What one connection may hold is bounded: the line being read (at most
//! [`MAX_LINE_BYTES`]), [`MAX_PENDING_REPLIES`] requests between being read and their reply
//! being written, and [`OUTGOING_QUEUE`] messages waiting for the socket. A client that stops
//! reading its replies is simply no longer read from (its own writes block); one that stops
//! reading its events is disconnected.
use std::collections::HashMap;
use std::sync::Arc;

use datenator_shared::model::{Event, Topic};
use datenator_shared::protocol::{
    Call, MAX_LINE_BYTES, Notification, PROTOCOL_VERSION, Request, Response, RpcError,
    VersionMismatchData, codes,
};
use datenator_shared::socket::{self, Peer, SocketStream};
use datenator_shared::wire::{Frame, LineCodec};
use futures::{SinkExt, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::admission::{Eviction, Ticket};
use super::handlers;
use super::{HANDSHAKE_TIMEOUT, MAX_PENDING_REPLIES, OUTGOING_QUEUE};
use crate::state::{DAEMON_VERSION, State};

/// One message for the client. A reply carries the permit its request took when it was
/// read, so the permit comes back only once the reply is written to the socket.
struct Outgoing {
    line: String,
    _permit: Option<OwnedSemaphorePermit>,
}

/// Outgoing side of a connection, shared with the subscription and request tasks.
#[derive(Clone)]
pub(super) struct Outbox {
    tx: mpsc::Sender<Outgoing>,
    /// Cancelled to drop the connection (slow subscriber, shutdown).
    close: CancellationToken,
}

impl Outbox {
    async fn reply(&self, response: Response, permit: OwnedSemaphorePermit) {
        let _ = self
            .tx
            .send(Outgoing {
                line: response.to_line(),
                _permit: Some(permit),
            })
            .await;
    }

    /// A last word before the daemon closes the connection; dropped if the queue is full.
    fn farewell(&self, error: RpcError) {
        let _ = self.tx.try_send(Outgoing {
            line: Response::err(None, error).to_line(),
            _permit: None,
        });
    }

    /// Queues an event without waiting; a client that lets the queue fill up is dropped.
    pub(super) fn push(&self, event: Event) -> bool {
        let out = Outgoing {
            line: Notification::event(event).to_line(),
            _permit: None,
        };
        match self.tx.try_send(out) {
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

/// Serves one connection until the client leaves or `close` is cancelled (shutdown, or
/// displaced by the admission while waiting for its handshake).
pub(super) async fn run(
    stream: SocketStream,
    peer: Option<Peer>,
    state: State,
    close: CancellationToken,
    ticket: Ticket,
    tasks: TaskTracker,
) {
    state.connection_opened();
    let (recv, send) = socket::split(stream);
    let mut frames = FramedRead::new(recv, LineCodec::new(MAX_LINE_BYTES));
    let (tx, mut rx) = mpsc::channel::<Outgoing>(OUTGOING_QUEUE);
    let outbox = Outbox {
        tx,
        close: close.clone(),
    };

    let writer_close = close.clone();
    let writer = tokio::spawn(async move {
        let mut sink = FramedWrite::new(send, LineCodec::new(MAX_LINE_BYTES));
        while let Some(out) = rx.recv().await {
            if sink.send(out.line).await.is_err() {
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
        tracing::warn!("refusing connection: {}", crate::logging::escape(reason));
    } else {
        tracing::debug!("client connected");
    }

    let mut conn = Connection {
        state: state.clone(),
        outbox: outbox.clone(),
        handshaken: false,
        ticket,
        subscriptions: HashMap::new(),
        tasks,
    };
    // Every line read takes a permit that its reply gives back once written: a client that
    // does not read its replies is no longer read from once MAX_PENDING_REPLIES are pending.
    let pending = Arc::new(Semaphore::new(MAX_PENDING_REPLIES));
    let handshake_deadline = tokio::time::Instant::now() + HANDSHAKE_TIMEOUT;
    let mut handshake_missed = false;
    loop {
        let permit = tokio::select! {
            _ = close.cancelled() => break,
            p = pending.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let frame = tokio::select! {
            _ = close.cancelled() => break,
            _ = tokio::time::sleep_until(handshake_deadline), if !conn.handshaken => {
                handshake_missed = true;
                break;
            }
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
                    .reply(
                        Response::err(
                            None,
                            RpcError::new(
                                codes::LINE_TOO_LONG,
                                format!("the line is longer than {MAX_LINE_BYTES} bytes and was dropped: send smaller requests"),
                            ),
                        ),
                        permit,
                    )
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
                .reply(
                    Response::err(id, RpcError::new(codes::PERMISSION_DENIED, reason.clone())),
                    permit,
                )
                .await;
            break;
        }
        match Request::parse(&line) {
            Ok(req) => conn.handle(req, permit).await,
            Err((id, error)) => outbox.reply(Response::err(id, error), permit).await,
        }
    }

    if handshake_missed {
        tracing::debug!("closing: no handshake within {HANDSHAKE_TIMEOUT:?}");
        outbox.farewell(RpcError::new(
            codes::HANDSHAKE_REQUIRED,
            format!(
                "no handshake within {} seconds: the daemon closes connections that do not send \"handshake\" first; connect again and send it at once",
                HANDSHAKE_TIMEOUT.as_secs()
            ),
        ));
    } else if conn.ticket.eviction() == Some(Eviction::Displaced) {
        tracing::debug!("closing: displaced while waiting for the handshake");
        outbox.farewell(RpcError::new(
            codes::TOO_MANY_CONNECTIONS,
            format!(
                "closed before the handshake: more than {} connections were waiting for theirs; connect again and send \"handshake\" at once",
                super::admission::MAX_WAITING
            ),
        ));
    }
    for (_, task) in conn.subscriptions.drain() {
        task.abort();
    }
    drop(conn);
    drop(outbox);
    drop(frames);
    // Let queued replies reach the client before closing, but never wait on a stuck one
    // (a client that stopped reading): abort its writer so the socket closes.
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
    ticket: Ticket,
    subscriptions: HashMap<Topic, JoinHandle<()>>,
    /// The daemon's tracked tasks: a request answered from a task of its own is one of
    /// them, so a shutdown waits for it (within the grace period).
    tasks: TaskTracker,
}

impl Connection {
    /// Answers `req`, here or from a task of its own; `permit` goes with the reply.
    async fn handle(&mut self, req: Request, permit: OwnedSemaphorePermit) {
        if let Some((response, permit)) = self.answer(req, permit).await {
            self.outbox.reply(response, permit).await;
        }
    }

    /// The reply to `req` (with its permit), or `None` when a spawned task will reply.
    async fn answer(
        &mut self,
        req: Request,
        permit: OwnedSemaphorePermit,
    ) -> Option<(Response, OwnedSemaphorePermit)> {
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
                    return Some((Response::err(
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
                    ), permit));
                }
                self.handshaken = true;
                self.ticket.handshaken();
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
                self.tasks.spawn(
                    async move {
                        let response = match handlers::handle(&state, call).await {
                            Ok(value) => Response::ok(id, value),
                            Err(e) => {
                                tracing::debug!("request failed: {}", e.message);
                                Response::err(Some(id), e)
                            }
                        };
                        outbox.reply(response, permit).await;
                    }
                    .instrument(span),
                );
                return None;
            }
        };
        Some((response, permit))
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
