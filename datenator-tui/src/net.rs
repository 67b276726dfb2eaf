//! The connection to the daemon, run as a task: connects, subscribes, forwards events to
//! the UI as messages, runs the UI's requests concurrently (each answered with a
//! [`Msg::Reply`]), and reconnects with backoff when the daemon goes away.
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use datenator_shared::client::{Client, ClientError};
use datenator_shared::model::Topic;
use datenator_shared::protocol::Call;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::app::Msg;

const MIN_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Asks the connection task to skip its wait and reconnect at once.
#[derive(Debug, Clone, Copy)]
pub struct ReconnectNow;

/// A request from the UI: its id and the call.
pub type Request = (u64, Call);

/// Keeps a connection up for the lifetime of the UI, sending [`Msg`]s to `ui`.
pub async fn run(
    socket: PathBuf,
    ui: mpsc::Sender<Msg>,
    mut poke: mpsc::Receiver<ReconnectNow>,
    mut requests: mpsc::UnboundedReceiver<Request>,
) {
    let mut backoff = MIN_BACKOFF;
    loop {
        let reason = match Client::connect(&socket, "datenator-tui").await {
            Ok(client) => {
                backoff = MIN_BACKOFF;
                let client = Arc::new(client);
                if ui
                    .send(Msg::Connected(client.daemon().clone()))
                    .await
                    .is_err()
                {
                    return;
                }
                match client
                    .subscribe(&[Topic::Status, Topic::Orgs, Topic::Sync, Topic::Log])
                    .await
                {
                    Ok(_) => loop {
                        tokio::select! {
                            event = client.next_event() => match event {
                                Some(event) => {
                                    if ui.send(Msg::Event(event)).await.is_err() {
                                        return;
                                    }
                                }
                                None => break "the daemon closed the connection (stopped or restarted?)".to_owned(),
                            },
                            request = requests.recv() => match request {
                                Some((id, call)) => {
                                    tokio::spawn(answer(client.clone(), id, call, ui.clone()));
                                }
                                None => return,
                            },
                        }
                    },
                    Err(e) => e.to_string(),
                }
            }
            Err(e @ ClientError::VersionMismatch(_)) => {
                backoff = MAX_BACKOFF;
                e.to_string()
            }
            Err(e) => e.to_string(),
        };
        tracing::info!("disconnected: {reason}");
        if ui
            .send(Msg::Disconnected {
                reason: reason.clone(),
                retry_in_secs: backoff.as_secs().max(1),
            })
            .await
            .is_err()
        {
            return;
        }
        let wait = tokio::time::sleep(backoff);
        tokio::pin!(wait);
        loop {
            tokio::select! {
                _ = &mut wait => break,
                p = poke.recv() => if p.is_none() { return } else { break },
                // Nothing waits for the daemon: requests made meanwhile fail at once.
                request = requests.recv() => match request {
                    Some((id, _)) => {
                        let error = format!("not connected to the daemon ({reason}); try again once it is back");
                        if ui.send(Msg::Reply { id, result: Err(error) }).await.is_err() {
                            return;
                        }
                    }
                    None => return,
                },
            }
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Runs one request and sends its outcome to the UI.
async fn answer(client: Arc<Client>, id: u64, call: Call, ui: mpsc::Sender<Msg>) {
    let method = call.method();
    let result = client.call::<Value>(call).await.map_err(|e| e.to_string());
    if let Err(e) = &result {
        tracing::info!("{method} failed: {e}");
    }
    let _ = ui.send(Msg::Reply { id, result }).await;
}
