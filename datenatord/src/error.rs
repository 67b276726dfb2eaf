//! The daemon's own error: what went wrong for a request or an engine step, in words, and
//! of which kind — not found, rejected (the user can fix it), or internal. Only the socket
//! handlers turn it into the protocol's `RpcError` (the `From` impl in `ipc`); everything below
//! them speaks this type.
use crate::store::StoreError;

/// What kind of failure, which decides what a client is told to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The named org, object or record does not exist.
    NotFound,
    /// The request cannot be carried out as asked: the message says what to change.
    Rejected,
    /// The daemon failed (its state database, say): the message says what to check.
    Internal,
}

/// A failure with its message, as the user will read it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DaemonError {
    pub kind: ErrorKind,
    pub message: String,
}

impl DaemonError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> DaemonError {
        DaemonError {
            kind,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> DaemonError {
        DaemonError::new(ErrorKind::NotFound, message)
    }

    pub fn rejected(message: impl Into<String>) -> DaemonError {
        DaemonError::new(ErrorKind::Rejected, message)
    }

    pub fn internal(message: impl Into<String>) -> DaemonError {
        DaemonError::new(ErrorKind::Internal, message)
    }

    /// There is no org of that name.
    pub fn no_org(org: &str) -> DaemonError {
        DaemonError::not_found(format!(
            "there is no org named {org:?}: check the name in the org list"
        ))
    }
}

/// The state database failed: logged here, said to the caller as an internal error.
pub fn store_error(e: StoreError) -> DaemonError {
    tracing::error!("state store: {e}");
    DaemonError::internal(e.to_string())
}

impl From<StoreError> for DaemonError {
    fn from(e: StoreError) -> DaemonError {
        store_error(e)
    }
}
