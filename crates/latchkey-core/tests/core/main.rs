//! latchkey-core against the local Clerk emulator over real HTTP on
//! 127.0.0.1. One binary; one purpose per module.

// Helpers: emulator per test, a "browser" that follows the emulator's pages.
mod common;
// Every FAPI operation and every error kind, with emulator faults.
mod api;
// Hosted auth, OAuth, handoff; pending-attempt rules; loopback.
mod flows;
// The hostile deep-link table and property tests of the parser.
mod callbacks;
// JWT verification: the attack list, options, key handling.
mod jwt;
// Canary secrets never reach logs or error strings.
mod canary;
// The secret store conformance suite, on memory and the real Secret Service.
mod store;
// The session engine.
mod engine;
// HTTPS with the ring provider against a local TLS server.
mod tls;

mod proxy;
// Answers from a Clerk that changed, or broke: parsed, nobody signed out.
mod tolerance;
