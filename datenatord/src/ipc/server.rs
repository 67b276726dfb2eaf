//! Binding the socket (refusing to displace a live daemon, replacing a stale file) and the
//! accept loop.
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use datenator_shared::socket::{self, Listener};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::connection;
use crate::state::State;

/// Socket file mode: owner and group may connect.
pub const SOCKET_MODE: u32 = 0o660;

#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error(
        "another datenatord is already running and answering on {path}: stop it first, or give this one another --socket",
        path = .0.display()
    )]
    AlreadyRunning(PathBuf),
    #[error(
        "{path} exists and is not a socket: remove it or choose another --socket",
        path = .0.display()
    )]
    NotASocket(PathBuf),
    #[error("cannot create the socket directory {path}: {source}", path = .path.display())]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot listen on {path}: {source}", path = .path.display())]
    Bind {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Binds the daemon's socket at `path` with mode 0660.
pub async fn bind_socket(path: &Path) -> Result<Listener, BindError> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
        && !dir.exists()
    {
        std::fs::create_dir_all(dir)
            .and_then(|_| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o750)))
            .map_err(|source| BindError::Dir {
                path: dir.to_path_buf(),
                source,
            })?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_socket() => {
            return Err(BindError::NotASocket(path.to_path_buf()));
        }
        Ok(_) => {
            if socket::is_live(path).await {
                return Err(BindError::AlreadyRunning(path.to_path_buf()));
            }
            tracing::info!(socket = %path.display(), "replacing a stale socket file nobody answers on");
            std::fs::remove_file(path).map_err(|source| BindError::Bind {
                path: path.to_path_buf(),
                source,
            })?;
        }
        Err(_) => {}
    }
    socket::bind(path, SOCKET_MODE).map_err(|source| BindError::Bind {
        path: path.to_path_buf(),
        source,
    })
}

/// Accepts connections until `shutdown` is cancelled; each runs in its own task, tracked by
/// `tasks` so shutdown can wait for them.
pub async fn serve(
    listener: Listener,
    state: State,
    shutdown: CancellationToken,
    tasks: TaskTracker,
) {
    let mut next_conn: u64 = 0;
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = socket::accept(&listener) => match accepted {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        next_conn += 1;
        let peer = socket::peer(&stream).ok();
        let span = tracing::info_span!(
            "conn",
            id = next_conn,
            pid = peer.and_then(|p| p.pid),
            uid = peer.and_then(|p| p.uid)
        );
        let state = state.clone();
        let shutdown = shutdown.child_token();
        tasks.spawn(connection::run(stream, peer, state, shutdown).instrument(span));
    }
    drop(listener);
}
