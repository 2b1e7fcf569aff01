//! The IPC error: `{ kind, message, retryAfterSecs }`. The UI branches on
//! `kind` (one table in `ui/src/lib/errors.ts`), never on the text.

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
    InvalidRequest,
    Protocol,
    Config,
    Callback,
    SignIn,
    InvalidToken,
    Forbidden,
    /// Secure storage (the OS keychain) cannot be used.
    StorageUnavailable,
    /// The app is still starting (or could not start).
    NotReady,
    /// No browser could be opened (the link can still be copied).
    Browser,
    /// A value from the UI was not acceptable.
    BadInput,
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
            CoreKind::InvalidRequest { .. } => ErrorKind::InvalidRequest,
            CoreKind::Protocol => ErrorKind::Protocol,
            CoreKind::Config => ErrorKind::Config,
            CoreKind::Callback => ErrorKind::Callback,
            CoreKind::SignIn => ErrorKind::SignIn,
            CoreKind::InvalidToken => ErrorKind::InvalidToken,
            CoreKind::Forbidden => ErrorKind::Forbidden,
            _ => ErrorKind::Internal,
        };
        Self {
            kind,
            message: e.to_string(),
            retry_after_secs: e
                .retry_after()
                .map(|d| d.as_secs().clamp(1, u64::from(u32::MAX)) as u32),
        }
    }
}

/// Command result.
pub type Result<T, E = IpcError> = std::result::Result<T, E>;
