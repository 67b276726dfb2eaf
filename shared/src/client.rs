//! The async client used by the TUI and by tests: connects, handshakes, sends requests and
//! hands out server-pushed events.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::{SinkExt, StreamExt};
use serde::de::DeserializeOwned;
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::RpcError;
use crate::model::{DaemonStatus, Event, OrgSummary, Topic};
use crate::protocol::{
    Call, Handshake, HandshakeOk, MAX_LINE_BYTES, NoParams, Outcome, PROTOCOL_VERSION, Request,
    ServerMessage, Topics, VersionMismatchData, codes,
};
use crate::socket::{self, SendHalf};
use crate::wire::{Frame, LineCodec};

/// How many pushed events may wait for the caller before the client stops reading.
const EVENT_QUEUE: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "no daemon is listening on {path}: start it (`datenatord`, or `systemctl start datenatord` for the service) or point to its socket with --socket / DATENATOR_SOCKET",
        path = .path.display()
    )]
    NotRunning { path: PathBuf },
    #[error(
        "permission denied on {path}: ask an administrator to add you to the daemon's group (`usermod -aG datenator $USER`), then log in again",
        path = .path.display()
    )]
    SocketPermission { path: PathBuf },
    #[error("the daemon refused this connection: {0}")]
    Refused(String),
    #[error("could not connect to {path}: {source}", path = .path.display())]
    Connect {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    VersionMismatch(VersionMismatch),
    #[error("the connection to the daemon was lost; it may have stopped or restarted")]
    Disconnected,
    #[error("{0}")]
    Remote(#[from] RpcError),
    #[error("the daemon sent something this client does not understand: {0}")]
    Protocol(String),
}

/// The two sides' versions when they cannot talk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionMismatch {
    pub client_protocol: u32,
    pub client_version: String,
    pub daemon_protocol: u32,
    pub daemon_version: String,
}

impl std::fmt::Display for VersionMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (older, upgrade) = if self.daemon_protocol < self.client_protocol {
            ("the daemon is older", "upgrade datenatord and restart it")
        } else {
            ("this client is older", "upgrade datenator-tui")
        };
        write!(
            f,
            "version mismatch: datenatord {} speaks protocol {}, this client ({}) speaks protocol {} — {older}: {upgrade}",
            self.daemon_version, self.daemon_protocol, self.client_version, self.client_protocol
        )
    }
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<crate::protocol::Response>>>>;
/// Why the daemon closed the connection, when it said so before closing.
type Farewell = Arc<std::sync::Mutex<Option<RpcError>>>;

/// A connection to the daemon after a successful handshake.
pub struct Client {
    writer: Mutex<FramedWrite<SendHalf, LineCodec>>,
    pending: Pending,
    next_id: AtomicU64,
    events: Mutex<mpsc::Receiver<Event>>,
    daemon: HandshakeOk,
    reader: tokio::task::JoinHandle<()>,
    farewell: Farewell,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Client {
    /// Connects to the daemon at `path` and performs the handshake as `client_name`.
    pub async fn connect(path: &Path, client_name: &str) -> Result<Client, ClientError> {
        Self::connect_as(path, client_name, PROTOCOL_VERSION).await
    }

    /// Like [`Client::connect`] but announcing another protocol version (for tests).
    pub async fn connect_as(
        path: &Path,
        client_name: &str,
        protocol: u32,
    ) -> Result<Client, ClientError> {
        let stream = socket::connect(path).await.map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                ClientError::NotRunning {
                    path: path.to_path_buf(),
                }
            }
            std::io::ErrorKind::PermissionDenied => ClientError::SocketPermission {
                path: path.to_path_buf(),
            },
            _ => ClientError::Connect {
                path: path.to_path_buf(),
                source: e,
            },
        })?;
        let (recv, send) = socket::split(stream);
        let pending: Pending = Arc::default();
        let (event_tx, event_rx) = mpsc::channel(EVENT_QUEUE);
        let farewell: Farewell = Arc::default();
        let reader = tokio::spawn(read_loop(
            FramedRead::new(recv, LineCodec::new(MAX_LINE_BYTES)),
            pending.clone(),
            event_tx,
            farewell.clone(),
        ));
        let mut client = Client {
            writer: Mutex::new(FramedWrite::new(send, LineCodec::new(MAX_LINE_BYTES))),
            pending,
            next_id: AtomicU64::new(1),
            events: Mutex::new(event_rx),
            daemon: HandshakeOk {
                protocol: 0,
                daemon_version: String::new(),
            },
            reader,
            farewell,
        };
        let client_version = env!("CARGO_PKG_VERSION").to_owned();
        let hello = Call::Handshake(Handshake {
            protocol,
            client_name: client_name.to_owned(),
            client_version: client_version.clone(),
        });
        match client.call::<HandshakeOk>(hello).await {
            Ok(ok) => {
                client.daemon = ok;
                Ok(client)
            }
            Err(ClientError::Remote(e)) if e.code == codes::VERSION_MISMATCH => {
                let data: Option<VersionMismatchData> =
                    e.data.and_then(|d| serde_json::from_value(d).ok());
                let data = data.unwrap_or(VersionMismatchData {
                    daemon_protocol: 0,
                    daemon_version: "unknown".into(),
                });
                Err(ClientError::VersionMismatch(VersionMismatch {
                    client_protocol: protocol,
                    client_version,
                    daemon_protocol: data.daemon_protocol,
                    daemon_version: data.daemon_version,
                }))
            }
            Err(ClientError::Remote(e))
                if e.code == codes::PERMISSION_DENIED || e.code == codes::TOO_MANY_CONNECTIONS =>
            {
                Err(ClientError::Refused(e.message))
            }
            Err(e) => Err(e),
        }
    }

    /// The daemon's answer to the handshake.
    pub fn daemon(&self) -> &HandshakeOk {
        &self.daemon
    }

    /// Sends `call` and waits for its reply.
    pub async fn call<T: DeserializeOwned>(&self, call: Call) -> Result<T, ClientError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().await.insert(id, tx);
        let line = Request { id, call }.to_line();
        let sent = self.writer.lock().await.send(line).await;
        if sent.is_err() {
            // The reader sees the end too, after any reason the daemon gave before it.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), rx).await;
            self.pending.lock().await.remove(&id);
            return Err(self.disconnected());
        }
        let response = rx.await.map_err(|_| self.disconnected())?;
        Ok(response.into_result()?)
    }

    /// The error for a call the lost connection ended: the daemon's reason, if it gave one.
    fn disconnected(&self) -> ClientError {
        match self
            .farewell
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            Some(e) => ClientError::Remote(e),
            None => ClientError::Disconnected,
        }
    }

    pub async fn status(&self) -> Result<DaemonStatus, ClientError> {
        self.call(Call::Status(NoParams {})).await
    }

    pub async fn org_list(&self) -> Result<Vec<OrgSummary>, ClientError> {
        self.call(Call::OrgList(NoParams {})).await
    }

    /// Subscribes to `topics`; their current state arrives through [`Client::next_event`].
    pub async fn subscribe(&self, topics: &[Topic]) -> Result<Vec<Topic>, ClientError> {
        let t: Topics = self
            .call(Call::Subscribe(Topics {
                topics: topics.to_vec(),
            }))
            .await?;
        Ok(t.topics)
    }

    /// The next pushed event; `None` once the connection is gone.
    pub async fn next_event(&self) -> Option<Event> {
        self.events.lock().await.recv().await
    }
}

async fn read_loop(
    mut frames: FramedRead<socket::RecvHalf, LineCodec>,
    pending: Pending,
    events: mpsc::Sender<Event>,
    farewell: Farewell,
) {
    while let Some(frame) = frames.next().await {
        let line = match frame {
            Ok(Frame::Line(line)) => line,
            Ok(Frame::TooLong) => {
                tracing::warn!(
                    "the daemon sent a line longer than {MAX_LINE_BYTES} bytes; skipped"
                );
                continue;
            }
            Err(e) => {
                tracing::debug!("reading from the daemon failed: {e}");
                break;
            }
        };
        match ServerMessage::parse(&line) {
            Ok(ServerMessage::Response(r)) => {
                // The daemon's last word before it closes the connection (too many clients):
                // calls that fail on the closed connection report it instead.
                if r.id.is_none()
                    && let Outcome::Error(e) = &r.outcome
                    && e.code == codes::TOO_MANY_CONNECTIONS
                {
                    *farewell.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.clone());
                    continue;
                }
                let waiter = match r.id {
                    Some(id) => pending.lock().await.remove(&id),
                    None => None,
                };
                match waiter {
                    Some(tx) => {
                        let _ = tx.send(r);
                    }
                    None => tracing::warn!(?r, "a reply that matches no request"),
                }
            }
            Ok(ServerMessage::Event(e)) => {
                if events.send(e).await.is_err() {
                    // The client was dropped; keep answering pending calls until EOF.
                }
            }
            Err(e) => tracing::warn!("unreadable message from the daemon: {e}"),
        }
    }
    // Fail every outstanding call: dropping the senders wakes them with `Disconnected`.
    pending.lock().await.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mismatch_message_names_the_older_side() {
        let mut m = VersionMismatch {
            client_protocol: 2,
            client_version: "0.2.0".into(),
            daemon_protocol: 1,
            daemon_version: "0.1.0".into(),
        };
        assert!(m.to_string().contains("the daemon is older"), "{m}");
        m.daemon_protocol = 3;
        assert!(m.to_string().contains("this client is older"), "{m}");
    }
}
