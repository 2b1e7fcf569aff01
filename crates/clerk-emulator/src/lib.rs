//! A local, Clerk-compatible server: Frontend API (native mode), a Backend
//! API subset, hosted sign-in pages, a fake OAuth provider and a demo web
//! app.
//!
//! It is Latchkey's embedded local demo instance, the backend of every
//! Latchkey test, and a standalone tool (`clerk-emulator --port 0 --seed
//! demo`). It follows Clerk's wire format (`docs/contracts.md`, "Wire format"): form
//! bodies, `_is_native` + `Authorization` client credentials rotated through
//! the response header, `{response, client}` envelopes, millisecond
//! timestamps, RS256 v2 session tokens with `kid` = instance id, Clerk's
//! error envelope and rate limits.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use clerk_emulator::{Emulator, EmulatorConfig};
//! let emu = Emulator::start(EmulatorConfig::default()).await?;
//! println!("FAPI at {} ({})", emu.frontend_api_url(), emu.publishable_key());
//! emu.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! With the `test-controls` feature the handle (and `/__emulator/*`) can
//! inject faults, move the clock and read the request log.

#![recursion_limit = "256"]
#![warn(missing_docs)]

mod bapi;
pub mod cli;
mod clock;
mod config;
mod context;
#[cfg(feature = "test-controls")]
mod controls;
mod environment;
mod error;
mod fapi;
mod ids;
mod keys;
mod model;
mod pages;
mod render;
mod seed;
mod server;
mod state;
mod store;
mod templates;
mod ua;

pub use config::{
    DEFAULT_REDIRECT_ALLOWLIST, EmulatorConfig, ReverificationLevel, SessionTask, SessionTaskRule,
};
#[cfg(feature = "test-controls")]
pub use controls::{FaultAction, FaultRule, LoggedRequest};
pub use keys::{KeyError, KeyMaterial};
pub use pages::{HANDOFF_TICKET_SECS, HANDOFF_URL};
pub use seed::{Seed, SeedError};
pub use server::{
    Emulator, EmulatorHandle, EmulatorInfo, LOCK_FILE, Local, STATE_FILE, StartError,
    publishable_key, read_lock,
};
pub use store::{Lifetimes, StoreError};
