//! One file per group of commands; `main.rs` dispatches to them.

pub mod accounts;
pub mod browser;
pub mod devices;
pub mod doctor;
pub mod sign_in;
pub mod status;
pub mod token;
