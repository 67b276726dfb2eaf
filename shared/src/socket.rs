//! Every `interprocess` call lives here: binding the daemon's listener, connecting a
//! client, and reading the peer's credentials.
use std::io;
use std::path::Path;

use interprocess::local_socket::tokio::prelude::*;
use interprocess::local_socket::{GenericFilePath, ListenerOptions};
use interprocess::os::unix::local_socket::ListenerOptionsExt;

pub use interprocess::local_socket::tokio::{Listener, Stream as SocketStream};

/// The read half of a connection.
pub type RecvHalf = tokio::io::ReadHalf<SocketStream>;
/// The write half of a connection.
pub type SendHalf = tokio::io::WriteHalf<SocketStream>;

/// The credentials of the process on the other end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub pid: Option<i32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

/// Binds the listener at `path` with file mode `mode`. The caller has already dealt with
/// any file at `path`; the socket file is removed again when the listener is dropped.
///
/// The mode is asked for before `bind` and set again on the file afterwards, because Linux
/// applies the umask to the socket file whatever the socket's own mode was. Run with a
/// restrictive umask, the file is never more open than `mode` in between.
pub fn bind(path: &Path, mode: u32) -> io::Result<Listener> {
    use std::os::unix::fs::PermissionsExt;
    let name = path.to_fs_name::<GenericFilePath>()?;
    let listener = ListenerOptions::new()
        .name(name)
        .mode(mode)
        .reclaim_name(true)
        .try_overwrite(false)
        .create_tokio()?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(listener)
}

/// Connects to the daemon's socket at `path`.
pub async fn connect(path: &Path) -> io::Result<SocketStream> {
    let name = path.to_fs_name::<GenericFilePath>()?;
    SocketStream::connect(name).await
}

/// Accepts the next connection.
pub async fn accept(listener: &Listener) -> io::Result<SocketStream> {
    listener.accept().await
}

/// Who is on the other end of `stream`.
pub fn peer(stream: &SocketStream) -> io::Result<Peer> {
    let creds = stream.peer_creds()?;
    Ok(Peer {
        pid: creds.pid(),
        uid: creds.euid(),
        gid: creds.egid(),
    })
}

/// Splits a stream into its read and write halves.
pub fn split(stream: SocketStream) -> (RecvHalf, SendHalf) {
    tokio::io::split(stream)
}

/// Whether a live daemon answers at `path` (a stale socket file refuses the connection).
pub async fn is_live(path: &Path) -> bool {
    connect(path).await.is_ok()
}
