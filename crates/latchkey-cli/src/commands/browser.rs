//! Whatever the command line does in the browser: a sign-in, or verifying
//! an account again before an action the instance guards (step-up).
//!
//! Two routes. **Loopback**: this process opens the page and receives the
//! callback on a one-time `http://127.0.0.1:<port>/callback` listener; the
//! local demo instance always allows it. **The app**: Clerk's native
//! redirect rules may refuse a loopback URL on a real instance, so there
//! `latchkey-app --sign-in <instance>` (or `--verify-account <session>`)
//! runs the flow with its registered deep link (single-instance hands the
//! arguments to a running app, or starts one) and this process waits for
//! the result to appear in the shared keychain.

use std::collections::BTreeSet;
use std::future::Future;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use latchkey_core::engine::{Account, Guarded, Retried, Reverify};
use latchkey_core::{Instance, InstanceKind, LoopbackListener, Outcome, Redirect, Started};
use latchkey_host::OpenOptions;

use crate::Ctx;
use crate::args::RouteArgs;
use crate::fail::{Fail, Out, code};

/// How a browser step reaches this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// A one-time loopback listener here.
    Loopback,
    /// The desktop app's deep link; this process waits.
    App,
}

impl Route {
    /// `--loopback` / `--via-app`, else loopback for the local demo and the
    /// app for a real Clerk instance.
    pub fn pick(args: &RouteArgs, inst: &Instance) -> Self {
        if args.loopback {
            Self::Loopback
        } else if args.via_app || inst.kind() == InstanceKind::Clerk {
            Self::App
        } else {
            Self::Loopback
        }
    }
}

/// May this run open a browser and wait for a person? Not with
/// `--no-input`, and not without a terminal (a script, a cron job).
pub fn can_ask(no_input: bool) -> bool {
    !no_input && std::io::stdin().is_terminal()
}

/// Starts a browser step on a loopback listener, opens the page, waits for
/// the callback (or Ctrl-C, or `timeout`) and handles it.
pub async fn loopback_round<F, Fut>(
    ctx: &Ctx,
    instance_id: &str,
    timeout: Duration,
    start: F,
) -> Out<Outcome>
where
    F: FnOnce(Redirect) -> Fut,
    Fut: Future<Output = latchkey_core::Result<Started>>,
{
    let listener = LoopbackListener::bind().await?;
    let started = start(Redirect::Loopback(listener.port())).await?;
    open_page(&started.url);
    eprintln!("Waiting for the browser (Ctrl-C to cancel)…");
    let served = listener.serve(timeout, |cb| ctx.engine.handle_callback(cb));
    let r = tokio::select! {
        r = served => r,
        _ = tokio::signal::ctrl_c() => {
            ctx.engine.cancel_sign_in(instance_id).await;
            return Err(Fail::new(code::FAILED, "cancelled; nothing changed"));
        }
    };
    if r.is_err() {
        ctx.engine.cancel_sign_in(instance_id).await;
    }
    Ok(r?)
}

fn open_page(url: &str) {
    if latchkey_host::browser::open(url) {
        eprintln!("Continue in your browser. If it did not open, visit:\n  {url}");
    } else {
        eprintln!("Could not open a browser. Open this link:\n  {url}");
    }
}

/// The desktop app's binary: `$LATCHKEY_APP`, else `latchkey-app` next to
/// this one, else on the `PATH`.
fn app_binary() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("LATCHKEY_APP").filter(|p| !p.is_empty()) {
        return p.into();
    }
    let sibling = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("latchkey-app")));
    match sibling {
        Some(s) if s.is_file() => s,
        _ => "latchkey-app".into(),
    }
}

/// Asks the desktop app to run a browser step (`args`), which it does with
/// its registered deep link.
fn ask_app(args: &[&str]) -> Out<()> {
    #[cfg(target_os = "linux")]
    if std::env::var_os("DISPLAY").is_none_or(|d| d.is_empty())
        && std::env::var_os("WAYLAND_DISPLAY").is_none_or(|d| d.is_empty())
    {
        return Err(Fail::new(
            code::FAILED,
            "this needs the Latchkey app, and there is no display here",
        )
        .hint("run it in a desktop session, or add --loopback if the instance allows loopback redirects"));
    }
    let bin = app_binary();
    std::process::Command::new(&bin)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(drop)
        .map_err(|e| {
            Fail::new(
                code::FAILED,
                format!("could not start the Latchkey app ({}): {e}", bin.display()),
            )
            .hint("install the app, set LATCHKEY_APP to it, or add --loopback")
        })
}

/// The accounts as the keychain says now (a fresh engine: the app saved
/// what it signed in).
async fn accounts_now() -> Option<Vec<Account>> {
    let settings = latchkey_host::Settings {
        publishable_key: None,
        templates: vec![],
        ..latchkey_host::Settings::from_env(&|k| std::env::var_os(k))
    };
    let host = latchkey_host::open(&settings, OpenOptions::default())
        .await
        .ok()?;
    let _ = host.engine.reload(None).await;
    Some(host.engine.accounts().await)
}

/// Polls the shared keychain (every 2 s, up to `timeout`) until `done`
/// says yes.
async fn wait_for(
    timeout: Duration,
    what: &str,
    done: impl Fn(&[Account]) -> Option<Account>,
) -> Out<Account> {
    let deadline = Instant::now() + timeout;
    eprintln!("Waiting for the Latchkey app to {what} (Ctrl-C to stop waiting)…");
    loop {
        if let Some(found) = accounts_now().await.as_deref().and_then(&done) {
            return Ok(found);
        }
        if Instant::now() >= deadline {
            return Err(Fail::new(
                code::FAILED,
                format!("gave up waiting for the Latchkey app to {what}"),
            )
            .hint("finish in the app's window, or try again with --loopback"));
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = tokio::signal::ctrl_c() => {
                return Err(Fail::new(code::FAILED, "stopped waiting; the app may still finish"));
            }
        }
    }
}

/// Signs in through the app: waits for an account of `inst` that was not
/// there before.
pub async fn sign_in_via_app(ctx: &Ctx, inst: &Instance, timeout: Duration) -> Out<Account> {
    let before: BTreeSet<_> = ctx
        .engine
        .accounts()
        .await
        .into_iter()
        .map(|a| a.account)
        .collect();
    ask_app(&["--sign-in", inst.id()])?;
    let id = inst.id().to_owned();
    wait_for(timeout, "finish the sign-in", |now| {
        now.iter()
            .find(|a| a.account.instance_id == id && !before.contains(&a.account))
            .cloned()
    })
    .await
}

/// The instance refused `action` for want of a recent verification:
/// verify in the browser as the same user, then `action` once more as the
/// new session.
pub async fn step_up(
    ctx: &Ctx,
    acct: &Account,
    action: Guarded,
    route: Route,
    no_input: bool,
    timeout: Duration,
) -> Out<Retried> {
    if !can_ask(no_input) {
        return Err(Fail::new(
            code::VERIFY,
            format!(
                "{} wants you to verify it is you before this",
                acct.instance_name
            ),
        )
        .hint("run the command in a terminal (without --no-input) to verify in your browser, or do it in the Latchkey app"));
    }
    let who = acct.email.clone().unwrap_or_else(|| acct.name.clone());
    eprintln!(
        "{} wants you to verify it is you first: sign in as {who} in your browser.",
        acct.instance_name
    );
    match route {
        Route::Loopback => {
            let outcome = loopback_round(ctx, &acct.account.instance_id, timeout, |r| {
                ctx.engine
                    .start_reverify(&acct.account, Reverify::StepUp(Some(action)), r)
            })
            .await?;
            match outcome {
                Outcome::Reverified(done) => done.retried.ok_or_else(|| {
                    Fail::new(code::FAILED, "verified, but the action was not retried")
                }),
                _ => Err(Fail::new(
                    code::FAILED,
                    "the browser did not verify the account",
                )),
            }
        }
        Route::App => {
            let old = acct.account.clone();
            let user = acct.user_id.clone();
            ask_app(&["--verify-account", old.session_id.as_str()])?;
            let new = wait_for(timeout, "verify the account", |now| {
                let old_gone = !now.iter().any(|a| a.account == old);
                old_gone
                    .then(|| {
                        now.iter()
                            .find(|a| a.account.instance_id == old.instance_id && a.user_id == user)
                    })
                    .flatten()
                    .cloned()
            })
            .await?;
            // This process's engine still has the old client: read the
            // accounts afresh, then act as the new session.
            let fresh = crate::open().await?;
            let r =
                match action {
                    Guarded::Revoke(target) => fresh
                        .engine
                        .revoke(&new.account, &target)
                        .await
                        .map(|outcome| Retried::Revoke {
                            session_id: target,
                            outcome,
                        }),
                    Guarded::SignOutOtherDevices => fresh
                        .engine
                        .sign_out_other_devices(&new.account)
                        .await
                        .map(Retried::OtherDevices),
                    Guarded::SignOutEverywhere { force } => fresh
                        .engine
                        .sign_out_everywhere(&new.account, force)
                        .await
                        .map(Retried::Everywhere),
                };
            let _ = fresh.engine.flush().await;
            Ok(r?)
        }
    }
}
