//! Integration tests of the Clerk emulator. One binary; one purpose per
//! module.

// Helpers: starting emulators, an in-process native-mode FAPI client.
mod common;
// Frontend API endpoints, state transitions and error codes.
mod fapi;
// Hosted auth, OAuth, transfer, password, sign-up, rate limits, tickets.
mod sign_in;
// Real Clerk behaviours behind flags: session tasks, second factors,
// Client Trust, reverification levels.
mod behaviours;
// Backend API.
mod bapi;
// Fault injection, request log, clock.
mod controls;
// Persistence, the data-dir lock, bind rules, seeds.
mod persistence;
// Responses against Clerk's OpenAPI spec.
mod schema;
// The README walkthrough, with curl against the real binary.
mod walkthrough;
// Hosted auth over a real socket, through the HTML pages.
mod socket;
