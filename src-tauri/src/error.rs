//! The IPC error: `{ kind, message, retryAfterSecs }`. The UI branches on
//! `kind` (one table in `ui/src/lib/errors.ts`, typed `Record<ErrorKind, …>`
//! over the generated union, so a kind added here fails the UI's type check
//! until the table has it), never on the text.
//!
//! The kinds are core's ([`latchkey_core::ErrorKind`], mapped one to one by
//! an exhaustive `match`: a new core kind does not compile until it is
//! mapped here) plus the few only the shell has (`not_ready`, `browser`,
//! `bad_input`, `cancelled`, `internal`).

use latchkey_core::ErrorKind as CoreKind;
use serde::Serialize;
use ts_rs::TS;

/// Stable error kinds the UI knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    Network,
    Timeout,
    RateLimited,
    Server,
    SessionGone,
    Unauthenticated,
    ReverificationRequired,
    /// Signed in, with tasks to finish first (no token until then).
    SessionPending,
    InvalidRequest,
    Protocol,
    Config,
    Callback,
    SignIn,
    InvalidToken,
    Forbidden,
    /// Secure storage is locked (unlock the keyring).
    StorageLocked,
    /// There is no secure storage (no Secret Service, keychain or
    /// credential manager).
    StorageUnavailable,
    /// Secure storage failed the request (damaged entry, timeout).
    StorageFailed,
    /// The app is still starting (or could not start).
    NotReady,
    /// No browser could be opened (the link can still be copied).
    Browser,
    /// A value from the UI was not acceptable.
    BadInput,
    /// The user said no in a confirmation dialog: nothing was done.
    Cancelled,
    /// A bug or an OS failure (clipboard, window).
    Internal,
}

/// The error every command returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, thiserror::Error)]
#[serde(rename_all = "camelCase")]
#[error("{message}")]
pub struct IpcError {
    pub kind: ErrorKind,
    pub message: String,
    /// For `rate_limited`: how long to wait, when the server said.
    #[ts(optional = nullable)]
    pub retry_after_secs: Option<u32>,
}

impl IpcError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadInput, message)
    }
}

impl From<latchkey_core::Error> for IpcError {
    fn from(e: latchkey_core::Error) -> Self {
        let kind = match e.kind() {
            CoreKind::Network => ErrorKind::Network,
            CoreKind::Timeout => ErrorKind::Timeout,
            CoreKind::RateLimited { .. } => ErrorKind::RateLimited,
            CoreKind::Server => ErrorKind::Server,
            CoreKind::SessionGone => ErrorKind::SessionGone,
            CoreKind::Unauthenticated => ErrorKind::Unauthenticated,
            CoreKind::ReverificationRequired => ErrorKind::ReverificationRequired,
            CoreKind::SessionPending => ErrorKind::SessionPending,
            CoreKind::InvalidRequest { .. } => ErrorKind::InvalidRequest,
            CoreKind::Protocol => ErrorKind::Protocol,
            CoreKind::Config => ErrorKind::Config,
            CoreKind::Callback => ErrorKind::Callback,
            CoreKind::SignIn => ErrorKind::SignIn,
            CoreKind::InvalidToken => ErrorKind::InvalidToken,
            CoreKind::Forbidden => ErrorKind::Forbidden,
            CoreKind::StorageLocked => ErrorKind::StorageLocked,
            CoreKind::StorageUnavailable => ErrorKind::StorageUnavailable,
            CoreKind::StorageFailed => ErrorKind::StorageFailed,
        };
        // The full chain goes to the log (sources are secret-free by
        // construction in core); the window gets the message.
        if let Some(src) = std::error::Error::source(&e) {
            tracing::debug!(kind = e.kind_name(), cause = %src, "{e}");
        }
        Self {
            kind,
            message: e.to_string(),
            retry_after_secs: e
                .retry_after()
                .map(|d| d.as_secs().clamp(1, u64::from(u32::MAX)) as u32),
        }
    }
}

impl From<latchkey_host::HostError> for IpcError {
    fn from(e: latchkey_host::HostError) -> Self {
        match e {
            latchkey_host::HostError::Engine(e) => e.into(),
            // The data dir or the port, on this machine: a setup problem.
            e @ latchkey_host::HostError::Demo(_) => Self::new(ErrorKind::Config, e.to_string()),
        }
    }
}

/// Command result.
pub type Result<T, E = IpcError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Every core kind, once. The `match` makes the compiler check the list
    /// is complete.
    fn every_core_kind() -> Vec<CoreKind> {
        let all = vec![
            CoreKind::Network,
            CoreKind::Timeout,
            CoreKind::RateLimited {
                retry_after: Some(Duration::from_secs(7)),
            },
            CoreKind::Server,
            CoreKind::SessionGone,
            CoreKind::Unauthenticated,
            CoreKind::ReverificationRequired,
            CoreKind::SessionPending,
            CoreKind::InvalidRequest {
                code: "form_param_missing".into(),
                param: None,
                session_id: None,
            },
            CoreKind::Protocol,
            CoreKind::Config,
            CoreKind::Callback,
            CoreKind::SignIn,
            CoreKind::InvalidToken,
            CoreKind::Forbidden,
            CoreKind::StorageLocked,
            CoreKind::StorageUnavailable,
            CoreKind::StorageFailed,
        ];
        for k in &all {
            match k {
                CoreKind::Network
                | CoreKind::Timeout
                | CoreKind::RateLimited { .. }
                | CoreKind::Server
                | CoreKind::SessionGone
                | CoreKind::Unauthenticated
                | CoreKind::ReverificationRequired
                | CoreKind::SessionPending
                | CoreKind::InvalidRequest { .. }
                | CoreKind::Protocol
                | CoreKind::Config
                | CoreKind::Callback
                | CoreKind::SignIn
                | CoreKind::InvalidToken
                | CoreKind::Forbidden
                | CoreKind::StorageLocked
                | CoreKind::StorageUnavailable
                | CoreKind::StorageFailed => {}
            }
        }
        all
    }

    #[test]
    fn every_core_kind_reaches_the_ui_under_its_own_name() {
        for kind in every_core_kind() {
            let core = latchkey_core::Error::new(kind.clone(), "x");
            let ipc = IpcError::from(core.clone());
            let name = serde_json::to_value(ipc.kind).unwrap();
            assert_eq!(name, core.kind_name(), "{kind:?}");
            assert_ne!(ipc.kind, ErrorKind::Internal, "{kind:?}");
        }
        let limited = IpcError::from(latchkey_core::Error::new(
            CoreKind::RateLimited {
                retry_after: Some(Duration::from_secs(7)),
            },
            "slow down",
        ));
        assert_eq!(limited.retry_after_secs, Some(7));
    }
}
