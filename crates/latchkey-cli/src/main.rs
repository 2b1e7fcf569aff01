//! `latchkey`: fresh Clerk session tokens and session control for scripts.
//!
//! Shares the engine and the keychain entries with the desktop app
//! (through `latchkey-host`), so an account signed in in one is usable from
//! the other. For the local demo instance it starts or attaches to the same
//! emulator process as the app.
//!
//! ```text
//! curl -H "Authorization: Bearer $(latchkey token)" https://api.example.com/me
//! ```
//!
//! `args.rs` is the command line, `fail.rs` the exit codes, `output.rs` the
//! JSON shapes, `select.rs` which instance and account a command is about,
//! and `commands/` one file per group of commands.

mod args;
mod commands;
mod fail;
mod output;
mod select;
#[cfg(unix)]
mod via_app;

use std::ops::Deref;
use std::process::ExitCode;

use clap::Parser;
use latchkey_core::VerifyOptions;
use latchkey_core::engine::StorageState;
use latchkey_host::{Host, OpenOptions, Settings};

use crate::args::{Cli, Command};
use crate::commands::accounts::SignOutScope;
use crate::commands::{accounts, devices, doctor, sign_in, status, token};
use crate::fail::{Out, code};

/// The open engine for one command (and the demo instance, if this process
/// started it: it lives for the command, its state is persisted).
pub struct Ctx(Host);

impl Deref for Ctx {
    type Target = Host;
    fn deref(&self) -> &Host {
        &self.0
    }
}

pub(crate) async fn open() -> Out<Ctx> {
    // The same data dir and keychain service as the app. A publishable key
    // in the environment is the app's start-up option; the CLI sees the
    // instances the app (or `add-instance`) saved.
    let settings = Settings {
        publishable_key: None,
        templates: vec![],
        ..Settings::from_env(&|k| std::env::var_os(k))
    };
    // One keychain read instead of a write-read-delete probe: a failed read
    // of the index reports the same states.
    let options = OpenOptions {
        probe_storage: false,
        ..OpenOptions::default()
    };
    let host = latchkey_host::open(&settings, options).await?;
    if let StorageState::Unavailable { reason, .. } = host.engine.storage_state() {
        eprintln!(
            "warning: secure storage is unavailable ({reason}); sign-ins last for this command only"
        );
    }
    // Reading the accounts needs the network; keep going offline.
    let _ = host.engine.reload(None).await;
    Ok(Ctx(host))
}

async fn run(cli: Cli) -> Out<u8> {
    if let Command::Doctor { json, select } = &cli.command {
        return doctor::doctor(*json, select).await;
    }
    #[cfg(unix)]
    if let Some(answered) = via_app::run(&cli.command).await {
        return answered;
    }
    let ctx = open().await?;
    let result = command(&ctx, cli.command, cli.no_input).await;
    // Save a rotated credential before exiting, whatever happened.
    if let Err(e) = ctx.engine.flush().await {
        eprintln!("warning: {e}");
    }
    result
}

async fn command(ctx: &Ctx, command: Command, no_input: bool) -> Out<u8> {
    match command {
        Command::Status { json, .. } => status::status(ctx, json).await,
        Command::Sessions { json, select } => status::sessions(ctx, json, &select).await,
        Command::Token {
            select,
            template,
            org,
        } => token::token(ctx, &select, template.as_deref(), org.as_deref()).await,
        Command::Verify {
            jwt,
            select,
            max_age,
            max_factor_age,
            authorized_parties,
        } => {
            let opts = VerifyOptions {
                max_age,
                max_factor_age,
                authorized_parties,
                expect_session: None,
                allow_audience: false,
            };
            token::verify(ctx, jwt, &select, opts).await
        }
        Command::Devices { json, select } => devices::devices(ctx, json, &select).await,
        Command::Revoke {
            session_id,
            select,
            route,
        } => devices::revoke(ctx, &session_id, &select, &route, no_input).await,
        Command::Switch { account } => accounts::switch(ctx, account).await,
        Command::SignOut {
            select,
            all_accounts,
            all_devices,
            everywhere,
            force,
            route,
        } => {
            let scope = SignOutScope {
                all_accounts,
                all_devices,
                everywhere,
                force,
            };
            accounts::sign_out(ctx, &select, scope, &route, no_input).await
        }
        Command::SignIn {
            select,
            provider,
            timeout,
            route,
        } => {
            if no_input {
                return Err(fail::Fail::new(
                    code::VERIFY,
                    "signing in needs a browser and a person; --no-input forbids both",
                ));
            }
            sign_in::sign_in(ctx, &select, provider.as_deref(), timeout, &route).await
        }
        // Handled in run (it must work when the engine cannot open).
        Command::Doctor { .. } => Ok(code::OK),
        Command::AddInstance { publishable_key } => {
            accounts::add_instance(ctx, &publishable_key).await
        }
        // Handled in main (the emulator runs its own runtime).
        Command::Emulator { .. } => Ok(code::OK),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                code::BAD_INPUT
            } else {
                code::OK
            });
        }
    };
    if let Command::Emulator { args } = cli.command {
        return clerk_emulator::cli::run(std::iter::once("clerk-emulator".to_owned()).chain(args));
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LATCHKEY_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return ExitCode::from(code::FAILED);
        }
    };
    let result = rt.block_on(run(cli));
    drop(rt);
    match result {
        Ok(c) => ExitCode::from(c),
        Err(f) => {
            eprintln!("error: {}", f.message);
            if let Some(h) = f.hint {
                eprintln!("hint: {h}");
            }
            ExitCode::from(f.code)
        }
    }
}
