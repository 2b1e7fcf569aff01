//! `clerk-emulator`: run a local Clerk-compatible instance.
//!
//! ```text
//! cargo run -p clerk-emulator -- --port 0 --seed demo
//! cargo run -p clerk-emulator -- --port 0 --seed demo --json   # one JSON line for scripts
//! ```

fn main() -> std::process::ExitCode {
    clerk_emulator::cli::run(std::env::args_os())
}
