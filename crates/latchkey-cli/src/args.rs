//! The command line, as clap parses it. `--help` shows these doc comments.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "latchkey",
    version = latchkey_host::VERSION,
    about = "Clerk sessions from the command line: tokens, accounts, devices"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Never open a browser or wait for a person (scripts): a step that
    /// needs one fails with its own exit code.
    #[arg(long, global = true)]
    pub no_input: bool,
}

/// How a browser step (a sign-in, verifying again) reaches this process.
#[derive(Debug, Args, Clone, Default)]
pub struct RouteArgs {
    /// Receive the browser's answer on a one-time loopback address (the
    /// default for the local demo instance; a real instance may refuse it).
    #[arg(long, conflicts_with = "via_app")]
    pub loopback: bool,
    /// Let the desktop app do the browser part (the default for a real
    /// Clerk instance) and wait for it.
    #[arg(long)]
    pub via_app: bool,
}

#[derive(Debug, Args, Clone, Default)]
pub struct Select {
    /// Account: session id, user id or email (default: $LATCHKEY_ACCOUNT, then the active one).
    #[arg(long, global = true)]
    pub account: Option<String>,
    /// Instance: its id, its Frontend API host, or `local`.
    #[arg(long, global = true)]
    pub instance: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Instances, accounts, the active one, storage state. Exit 1 when not signed in.
    Status {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        select: Select,
    },
    /// Print a fresh session (or template) JWT on stdout and nothing else.
    Token {
        #[command(flatten)]
        select: Select,
        /// A JWT template name.
        #[arg(long)]
        template: Option<String>,
        /// Organization id or slug (`personal` for none).
        #[arg(long)]
        org: Option<String>,
    },
    /// Sessions on this device (one per signed-in account).
    Sessions {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        select: Select,
    },
    /// The account's active sessions on every device.
    Devices {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        select: Select,
    },
    /// Make ACCOUNT (session id, user id or email) the active account.
    Switch { account: String },
    /// Revoke one of the account's sessions on another device.
    Revoke {
        session_id: String,
        #[command(flatten)]
        select: Select,
        #[command(flatten)]
        route: RouteArgs,
    },
    /// Sign out: this account here (default), all accounts here, every other
    /// device, or everywhere.
    SignOut {
        #[command(flatten)]
        select: Select,
        /// Every account on this device.
        #[arg(long, conflicts_with_all = ["all_devices", "everywhere"])]
        all_accounts: bool,
        /// This account on every other device (this one stays signed in).
        #[arg(long, conflicts_with = "everywhere")]
        all_devices: bool,
        /// This account on every device, this one included.
        #[arg(long)]
        everywhere: bool,
        /// With --everywhere: sign out here even if some revokes failed.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        route: RouteArgs,
    },
    /// Sign in through the browser: back on a loopback address for the
    /// local demo instance, through the desktop app for a real one.
    SignIn {
        #[command(flatten)]
        select: Select,
        /// A social provider (`google`, `github`, …) instead of the sign-in page.
        #[arg(long)]
        provider: Option<String>,
        /// How long to wait for the browser, in seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
        #[command(flatten)]
        route: RouteArgs,
    },
    /// Check an instance and this machine: reachable, API version, native
    /// API, single- or multi-session, sign-in methods, the app's link
    /// scheme, the keychain. Each line: ok / problem / what to do.
    Doctor {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        select: Select,
    },
    /// Verify a Clerk session token and print its claims. Pass it on stdin
    /// (`-`, the default): an argument shows in the process list and the
    /// shell history.
    Verify {
        /// `-` (stdin, recommended), or the JWT itself (visible to other
        /// users in `ps` and kept in shell history).
        jwt: Option<String>,
        #[command(flatten)]
        select: Select,
        /// Reject tokens issued longer ago than this (`90s`, `5m`, `1h`).
        #[arg(long, value_parser = parse_duration)]
        max_age: Option<Duration>,
        /// Reject tokens whose first factor is older than this (`fva`).
        #[arg(long, value_parser = parse_duration)]
        max_factor_age: Option<Duration>,
        /// Allowed `azp` (repeatable); checked when the token has one.
        #[arg(long = "authorized-party")]
        authorized_parties: Vec<String>,
    },
    /// Add a Clerk instance by its publishable key.
    AddInstance { publishable_key: String },
    /// Run the local Clerk emulator (same as `clerk-emulator`).
    Emulator {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map(|i| s.split_at(i))
        .unwrap_or((s, "s"));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 90s, 5m or 1h"))?;
    let secs = match unit {
        "s" | "" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("{s:?} is not a duration like 90s, 5m or 1h")),
    };
    Ok(Duration::from_secs(secs))
}
