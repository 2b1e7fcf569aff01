//! How a command fails: a message on stderr, a hint, and an exit code
//! (stable; the README lists them).

use latchkey_core::{Error, ErrorKind};
use latchkey_host::HostError;

/// Exit codes.
pub mod code {
    /// Done.
    pub const OK: u8 = 0;
    /// Not signed in (or no account matches).
    pub const NOT_SIGNED_IN: u8 = 1;
    /// Bad arguments or configuration.
    pub const BAD_INPUT: u8 = 2;
    /// Clerk could not be reached (or answered garbage).
    pub const NETWORK: u8 = 3;
    /// Clerk is rate limiting.
    pub const RATE_LIMITED: u8 = 4;
    /// The session is gone (signed out elsewhere, revoked).
    pub const SESSION_GONE: u8 = 5;
    /// `verify`: the token is not valid.
    pub const INVALID_TOKEN: u8 = 6;
    /// The instance wants a recent verification (step-up) and this run
    /// cannot ask for it (`--no-input`, or no terminal).
    pub const VERIFY: u8 = 7;
    /// Anything else.
    pub const FAILED: u8 = 8;
}

/// A failure: message on stderr, a hint, an exit code.
pub struct Fail {
    pub code: u8,
    pub message: String,
    pub hint: Option<&'static str>,
}

impl Fail {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            hint: None,
        }
    }

    pub fn hint(mut self, h: &'static str) -> Self {
        self.hint = Some(h);
        self
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        let (code, hint) = match e.kind() {
            ErrorKind::Network | ErrorKind::Timeout | ErrorKind::Server | ErrorKind::Protocol => {
                (code::NETWORK, Some("check the connection and try again"))
            }
            ErrorKind::RateLimited { .. } => {
                (code::RATE_LIMITED, Some("wait a moment and try again"))
            }
            ErrorKind::SessionGone | ErrorKind::Unauthenticated => (
                code::SESSION_GONE,
                Some("sign in again with `latchkey sign-in`"),
            ),
            ErrorKind::InvalidToken => (code::INVALID_TOKEN, None),
            // Signed in, but not finished: no token yet (the message says
            // which task).
            ErrorKind::SessionPending => (
                code::NOT_SIGNED_IN,
                Some("finish signing in in the Latchkey app, then try again"),
            ),
            ErrorKind::Config | ErrorKind::Callback => (code::BAD_INPUT, None),
            ErrorKind::StorageLocked => (
                code::FAILED,
                Some("unlock your keyring (Secret Service), then try again"),
            ),
            ErrorKind::StorageUnavailable => (
                code::FAILED,
                Some("no keyring (Secret Service) is running; sign-ins last for this command only"),
            ),
            ErrorKind::StorageFailed
            | ErrorKind::ReverificationRequired
            | ErrorKind::InvalidRequest { .. }
            | ErrorKind::SignIn
            | ErrorKind::Forbidden => (code::FAILED, None),
        };
        Fail {
            code,
            message: e.to_string(),
            hint,
        }
    }
}

impl From<HostError> for Fail {
    fn from(e: HostError) -> Self {
        match e {
            HostError::Engine(e) => e.into(),
            e @ HostError::Demo(_) => Fail::new(code::FAILED, e.to_string()),
        }
    }
}

/// A command's result: its exit code, or a failure.
pub type Out<T> = Result<T, Fail>;
