//! Binding the socket (refusing to displace a live daemon, replacing a stale file) and the
//! accept loop.
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datenator_shared::protocol::{Response, RpcError, codes};
use datenator_shared::socket::{self, Listener, SocketStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::admission::{self, Admission};
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

/// The bound socket, and the directory the daemon made for it (which it may hand to the
/// group as well).
pub struct Bound {
    pub listener: Listener,
    /// The socket's directory, when the daemon created it now or it is one of the daemon's
    /// own (`datenator`, `datenator-<uid>`, owned by this user).
    pub own_dir: Option<PathBuf>,
}

/// Binds the daemon's socket at `path` with mode 0660.
pub async fn bind_socket(path: &Path) -> Result<Bound, BindError> {
    let mut own_dir = None;
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        if !dir.exists() {
            std::fs::create_dir_all(dir)
                .and_then(|_| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o750)))
                .map_err(|source| BindError::Dir {
                    path: dir.to_path_buf(),
                    source,
                })?;
            own_dir = Some(dir.to_path_buf());
        } else if is_own_dir(dir) {
            own_dir = Some(dir.to_path_buf());
        }
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
    let listener = socket::bind(path, SOCKET_MODE).map_err(|source| BindError::Bind {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Bound { listener, own_dir })
}

/// A directory the daemon made on an earlier start: named as the default ones are and
/// owned by this user.
fn is_own_dir(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let named = dir
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n == "datenator" || n.starts_with("datenator-"));
    named
        && std::fs::symlink_metadata(dir)
            .is_ok_and(|m| m.is_dir() && m.uid() == nix::unistd::geteuid().as_raw())
}

/// Gives the socket file (and the daemon's own socket directory) to the configured group,
/// so that its members, whom the daemon admits, can also open the file. Under the systemd
/// unit both already belong to the group; a daemon started by hand does it here when its
/// user may (root, or a member of the group), and otherwise says why members will be
/// refused by the file's mode.
pub fn share_with_group(socket: &Path, own_dir: Option<&Path>, group: Option<(&str, u32)>) {
    use std::os::unix::fs::MetadataExt;
    let Some((name, gid)) = group else { return };
    let target = nix::unistd::Gid::from_raw(gid);
    let euid = nix::unistd::geteuid();
    let member = euid.is_root()
        || nix::unistd::getegid() == target
        || nix::unistd::getgroups().is_ok_and(|g| g.contains(&target));
    let paths: Vec<&Path> = std::iter::once(socket).chain(own_dir).collect();
    let already = paths
        .iter()
        .all(|p| std::fs::metadata(p).is_ok_and(|m| m.gid() == gid));
    if already {
        return;
    }
    if !member {
        let user = nix::unistd::User::from_uid(euid)
            .ok()
            .flatten()
            .map(|u| u.name)
            .unwrap_or_else(|| format!("uid {euid}"));
        tracing::warn!(
            "members of the group '{name}' are allowed to use this daemon, but the socket \
             {} stays in this user's group: {user} is not a member of '{name}' and cannot \
             give the socket to it; add it (`usermod -aG {name} {user}`, then log in again) \
             or run the daemon as the systemd service",
            socket.display()
        );
        return;
    }
    for path in paths {
        if let Err(e) = nix::unistd::chown(path, None, Some(target)) {
            tracing::warn!(
                "cannot give {} to the group '{name}' ({e}): its members will be refused by the \
                 file's mode; run the daemon as the systemd service, or `chgrp {name}` it",
                path.display()
            );
            return;
        }
    }
    tracing::info!(group = name, socket = %socket.display(), "socket shared with the group");
}

/// What the accept loop needs to know besides the listener.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// The most connections held at once (`[daemon] max_connections`).
    pub max_connections: usize,
}

/// Logs something that can happen many times a second at most once a minute, with a count
/// of what happened in between.
struct Throttle {
    last: Option<std::time::Instant>,
    suppressed: u64,
}

impl Throttle {
    const EVERY: std::time::Duration = std::time::Duration::from_secs(60);

    fn new() -> Throttle {
        Throttle {
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(how many were not logged since the last time)` when this one should be logged.
    fn tick(&mut self) -> Option<u64> {
        let now = std::time::Instant::now();
        match self.last {
            Some(last) if now.duration_since(last) < Self::EVERY => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

fn since(suppressed: u64) -> String {
    match suppressed {
        0 => String::new(),
        n => format!(" ({n} more since the last report)"),
    }
}

/// Accepts connections until `shutdown` is cancelled; each runs in its own task, tracked by
/// `tasks` so shutdown can wait for them.
pub async fn serve(
    listener: Listener,
    state: State,
    options: ServeOptions,
    shutdown: CancellationToken,
    tasks: TaskTracker,
) {
    let admission = Admission::new(options.max_connections);
    let mut accept_errors = Throttle::new();
    let mut refusals = Throttle::new();
    let mut displacements = Throttle::new();
    // Every accepted socket holds a descriptor until its task ends, including those being
    // closed (displaced, refused): this many at most, so the daemon's descriptors are bounded
    // whatever clients do. A full house only slows accepting down until some have closed.
    let sockets = Arc::new(Semaphore::new(
        options.max_connections.max(1) + 2 * admission::MAX_WAITING,
    ));
    let mut next_conn: u64 = 0;
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            p = sockets.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = socket::accept(&listener) => match accepted {
                Ok(s) => s,
                Err(e) => {
                    if let Some(n) = accept_errors.tick() {
                        let advice = match e.raw_os_error() {
                            Some(code) if code == nix::libc::EMFILE || code == nix::libc::ENFILE => {
                                "; the daemon is out of file descriptors: raise its open-file limit (LimitNOFILE= in the unit) or lower [daemon] max_connections"
                            }
                            _ => "",
                        };
                        tracing::warn!("accepting a connection failed: {e}{advice}{}", since(n));
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        next_conn += 1;
        let close = shutdown.child_token();
        let ticket = match admission.admit(next_conn, close.clone()) {
            Ok((ticket, displaced)) => {
                if displaced > 0
                    && let Some(n) = displacements.tick()
                {
                    tracing::info!(
                        "closed a connection that had not sent its handshake to make room for a new one (more than {} waiting){}",
                        admission::MAX_WAITING,
                        since(n + displaced as u64 - 1)
                    );
                }
                ticket
            }
            Err(full) => {
                if let Some(n) = refusals.tick() {
                    tracing::warn!(
                        "refusing a connection: {} clients are connected, the most allowed ([daemon] max_connections){}",
                        full.max,
                        since(n)
                    );
                }
                tasks.spawn(async move {
                    refuse(stream, full.max).await;
                    drop(permit);
                });
                continue;
            }
        };
        let peer = socket::peer(&stream).ok();
        let span = tracing::info_span!(
            "conn",
            id = next_conn,
            pid = peer.and_then(|p| p.pid),
            uid = peer.and_then(|p| p.uid)
        );
        let state = state.clone();
        let handlers = tasks.clone();
        tasks.spawn(
            async move {
                connection::run(stream, peer, state, close, ticket, handlers).await;
                drop(permit);
            }
            .instrument(span),
        );
    }
    drop(listener);
}

/// Tells a connection past the limit why it is closed, without waiting on it for long.
async fn refuse(mut stream: SocketStream, max: usize) {
    use tokio::io::AsyncWriteExt;
    let line = Response::err(
        None,
        RpcError::new(
            codes::TOO_MANY_CONNECTIONS,
            format!(
                "the daemon already serves {max} clients, the most it allows: close a client you no longer need, or raise max_connections in the [daemon] section of its config"
            ),
        ),
    )
    .to_line()
        + "\n";
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(1),
        stream.write_all(line.as_bytes()),
    )
    .await;
}
