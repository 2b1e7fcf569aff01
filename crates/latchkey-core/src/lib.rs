//! Latchkey's core: a typed Clerk native client, the browser sign-in
//! flows, and strict JWT verification. No Tauri here: the app, the CLI and
//! the tests all use this crate.
//!
//! - [`Instance`]: a Clerk instance (publishable key → https FAPI) or the
//!   local demo instance (the emulator on loopback);
//! - [`Fapi`]: one call per Frontend API operation, native mode, with the
//!   rotating client credential;
//! - [`SignInFlows`]: hosted auth (PKCE), OAuth, ticket handoff, one at a
//!   time, each callback completing a live attempt exactly once;
//! - [`callback`]: strict parsing of deep links and loopback callbacks;
//! - [`Verifier`]: RS256 verification against the instance's JWKS.
//!
//! Secrets ([`ClientCredential`], [`SessionToken`], [`PkceVerifier`],
//! [`SignInTicket`]) print `[redacted]`.

#![warn(missing_docs)]

pub mod callback;
pub mod clock;
pub mod datafile;
pub mod engine;
mod error;
mod failpoint;
mod fapi;
mod flows;
mod instance;
mod jwt;
mod loopback;
pub mod models;
mod pkce;
pub mod private_fs;
pub mod proxy;
mod secret;
pub mod store;
mod types;

pub use error::{Error, ErrorKind, Result};
pub use fapi::{API_VERSION, Envelope, Fapi, http_client_builder, parse_retry_after, user_agent};
pub use flows::{
    ATTEMPT_TTL, FlowKind, HandoffResult, MoreVerification, Outcome, Redirect, SignInFlows, Started,
};
pub use instance::{Instance, InstanceKind};
pub use jwt::{
    Claims, EXP_LEEWAY_SECS, JWKS_REFETCH_INTERVAL, LEEWAY_SECS, MAX_TOKEN_BYTES, OrgClaim,
    Rejection, Verifier, VerifyOptions, decode_unverified, parse_jwks, validation,
};
pub use loopback::LoopbackListener;
pub use pkce::{challenge as pkce_challenge, new_state, new_verifier};
pub use secret::{ClientCredential, PkceVerifier, RotatingNonce, SessionToken, SignInTicket};
pub use types::{ClientId, OrgSel, OrganizationId, SessionId, SignInId, UserId};
