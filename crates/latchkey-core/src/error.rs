//! One error type for the crate, with a [`ErrorKind`] callers branch on.
//!
//! Messages are lowercase, carry no secrets (no URLs with query strings, no
//! header values, no response bodies), and say what to do where that helps.
//! An error may keep the lower-level error that caused it (its
//! [`source`](std::error::Error::source)), for logs; only sources that
//! cannot hold a secret are kept (a transport error stripped of its URL, a
//! storage error with a fixed text), and the canary test formats every error
//! with `{}`, `{:#}` and `{:?}` to prove it.
//!
//! [`ErrorKind`] is exhaustive on purpose: the app maps every kind to an IPC
//! kind with a `match` the compiler checks, so a new kind cannot reach the
//! UI as "internal" by accident.

use std::sync::Arc;
use std::time::Duration;

/// A lower-level error kept for logs (already free of secrets).
type Source = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong, in terms a caller can act on. (Serialisable: the
/// running app hands its errors to the CLI over a local socket.)
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ErrorKind {
    /// The server could not be reached, or the connection broke.
    Network,
    /// The server did not answer in time.
    Timeout,
    /// 429: wait `retry_after` (from `Retry-After`, clamped) if known.
    RateLimited {
        /// How long Clerk asked to wait, when it said.
        retry_after: Option<Duration>,
    },
    /// 5xx.
    Server,
    /// An authenticated answer that the session no longer exists or is not
    /// active: the only answer that may sign an account out (after the
    /// engine confirms it by re-reading the client).
    SessionGone,
    /// The request was not authenticated (no client, invalid credential).
    Unauthenticated,
    /// The action needs a recent sign-in (403 `session_reverification_required`).
    ReverificationRequired,
    /// The session is signed in but has tasks to finish (`pending`): no
    /// token is handed out for it until they are done.
    SessionPending,
    /// Clerk refused the request: its error code and the parameter it names.
    InvalidRequest {
        /// Clerk's error code (`form_param_missing`, …).
        code: String,
        /// The parameter it names (`meta.param_name`).
        param: Option<String>,
        /// The session it names (`meta.session_id`), a plain id.
        session_id: Option<String>,
    },
    /// The answer had an unexpected shape (HTML, garbage, missing fields, a
    /// redirect): transient, never a sign-out.
    Protocol,
    /// A configuration value (publishable key, URL) is not acceptable.
    Config,
    /// A deep link or loopback callback was rejected.
    Callback,
    /// A sign-in attempt failed, expired or was cancelled.
    SignIn,
    /// A JWT failed verification.
    InvalidToken,
    /// The account's role does not allow this (checked here, before asking
    /// Clerk).
    Forbidden,
    /// Secure storage is locked (a keyring waiting to be unlocked, or an
    /// unlock prompt that was dismissed).
    StorageLocked,
    /// There is no secure storage (no Secret Service, keychain or credential
    /// manager).
    StorageUnavailable,
    /// Secure storage is there but refused or failed the request (a damaged
    /// entry, a value too long, a call that timed out).
    StorageFailed,
}

/// The crate's error: a kind, a human-readable message, and optionally the
/// (secret-free) lower-level error behind it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
    #[source]
    source: Option<Source>,
}

impl Error {
    /// An error of `kind`. `message` is what a user reads: lowercase, no secret.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Keeps `source` for logs. Callers pass only errors that cannot carry a
    /// secret (see the module docs).
    pub(crate) fn with_source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// A stable name for the kind (`network`, `session_gone`, …), for IPC
    /// and the CLI's JSON output.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            ErrorKind::Network => "network",
            ErrorKind::Timeout => "timeout",
            ErrorKind::RateLimited { .. } => "rate_limited",
            ErrorKind::Server => "server",
            ErrorKind::SessionGone => "session_gone",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::ReverificationRequired => "reverification_required",
            ErrorKind::SessionPending => "session_pending",
            ErrorKind::InvalidRequest { .. } => "invalid_request",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Config => "config",
            ErrorKind::Callback => "callback",
            ErrorKind::SignIn => "sign_in",
            ErrorKind::InvalidToken => "invalid_token",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::StorageLocked => "storage_locked",
            ErrorKind::StorageUnavailable => "storage_unavailable",
            ErrorKind::StorageFailed => "storage_failed",
        }
    }

    /// Worth retrying later with backoff; never a reason to sign out.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Network
                | ErrorKind::Timeout
                | ErrorKind::RateLimited { .. }
                | ErrorKind::Server
                | ErrorKind::Protocol
        )
    }

    /// The server said the session is gone.
    pub fn is_session_gone(&self) -> bool {
        self.kind == ErrorKind::SessionGone
    }

    /// Clerk's error code, for [`ErrorKind::InvalidRequest`].
    pub fn clerk_code(&self) -> Option<&str> {
        match &self.kind {
            ErrorKind::InvalidRequest { code, .. } => Some(code),
            _ => None,
        }
    }

    /// How long the server asked to wait, for [`ErrorKind::RateLimited`].
    pub fn retry_after(&self) -> Option<Duration> {
        match &self.kind {
            ErrorKind::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
