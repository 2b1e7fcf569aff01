//! `latchkey token` and `latchkey status` answered by the running app (over
//! its local socket, `latchkey_host::ipc`): no keychain read, no call to
//! Clerk when the app holds a fresh token. When no app answers — none runs,
//! its socket is stale, it refuses, or it goes away mid-request — the
//! command does the work itself, as it always did. `LATCHKEY_NO_APP=1`
//! skips the app.

use std::time::Duration;

use latchkey_host::Settings;
use latchkey_host::ipc::{self, Client};

use crate::args::Command;
use crate::commands::status;
use crate::fail::{Out, code};
use crate::select::pick_account;

/// How long to wait for the app's answer (a token it must refresh from
/// Clerk first takes a request's time; the engine's own timeout is 20 s).
const DEADLINE: Duration = Duration::from_secs(25);

/// The command's result when the running app answered it; `None` to do it
/// here.
pub async fn run(command: &Command) -> Option<Out<u8>> {
    if !matches!(command, Command::Token { .. } | Command::Status { .. })
        || std::env::var_os("LATCHKEY_NO_APP").is_some_and(|v| !v.is_empty() && v != "0")
    {
        return None;
    }
    let settings = Settings::from_env(&|k| std::env::var_os(k));
    let place = ipc::place(&settings, &|k| std::env::var_os(k));
    if !place.path.exists() {
        return None;
    }
    let app = Client::new(&place, DEADLINE);
    match command {
        Command::Status { json, .. } => {
            let s = app.status().await?;
            Some(Ok(status::print(&s, *json)))
        }
        Command::Token {
            select,
            template,
            org,
        } => {
            // An organization slug needs the account's memberships: here.
            ipc::org_sel(org.as_deref())?;
            let s = app.status().await?;
            let a = match pick_account(&s.accounts, select) {
                Ok(a) => a,
                Err(f) => return Some(Err(f)),
            };
            match app
                .token(&a.account, template.as_deref(), org.as_deref())
                .await?
            {
                Ok(t) => {
                    println!("{}", t.expose());
                    Some(Ok(code::OK))
                }
                Err(e) => Some(Err(e.into())),
            }
        }
        _ => None,
    }
}
