//! The local-socket server: one task per connection, JSON lines in and out.
pub mod access;
mod admission;
mod connection;
mod handlers;
mod server;

pub use server::{BindError, Bound, ServeOptions, bind_socket, serve, share_with_group};

/// How many outgoing messages may wait for a slow client before it is disconnected.
pub const OUTGOING_QUEUE: usize = 256;

/// How many requests of one connection may be read and not yet answered on the socket; the
/// connection is not read from while this many are pending.
pub const MAX_PENDING_REPLIES: usize = 32;

/// How long a new connection may take to send its handshake before it is closed.
pub const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The default for `[daemon] max_connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 64;

/// The daemon's error as the protocol's reply: the one place an `ErrorKind` becomes a
/// wire error code.
impl From<crate::error::DaemonError> for datenator_shared::protocol::RpcError {
    fn from(e: crate::error::DaemonError) -> Self {
        use crate::error::ErrorKind;
        use datenator_shared::protocol::codes;
        let code = match e.kind {
            ErrorKind::NotFound => codes::NOT_FOUND,
            ErrorKind::Rejected => codes::REJECTED,
            ErrorKind::Internal => codes::INTERNAL_ERROR,
        };
        datenator_shared::protocol::RpcError::new(code, e.message)
    }
}
