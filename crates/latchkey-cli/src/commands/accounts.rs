//! `latchkey switch`, `latchkey sign-out` (this account here, every account
//! here, every other device, everywhere) and `latchkey add-instance`.

use latchkey_core::Instance;
use latchkey_core::engine::{EverywhereOutcome, Guarded, Retried, RevokeOutcome, SessionRevoke};

use crate::Ctx;
use crate::args::{RouteArgs, Select};
use crate::commands::browser::{Route, step_up};
use crate::commands::devices::STEP_UP_TIMEOUT;
use crate::fail::{Fail, Out, code};
use crate::output::who;
use crate::select::{account_for, instance_for, instance_of};

/// `switch ACCOUNT` (session id, user id or email).
pub async fn switch(ctx: &Ctx, account: String) -> Out<u8> {
    let select = Select {
        account: Some(account),
        instance: None,
    };
    let a = account_for(ctx, &select).await?;
    ctx.engine.switch(&a.account).await?;
    println!("Active: {}", who(&a));
    Ok(code::OK)
}

/// Which accounts and devices `sign-out` signs out.
pub struct SignOutScope {
    /// Every account on this device.
    pub all_accounts: bool,
    /// This account on every other device.
    pub all_devices: bool,
    /// This account everywhere, this device included.
    pub everywhere: bool,
    /// With `everywhere`: sign out here even if some revokes failed.
    pub force: bool,
}

/// `sign-out [--all-accounts | --all-devices | --everywhere [--force]]`.
/// Revokes the instance refuses for want of a recent verification are
/// retried once after verifying in the browser (never under `--no-input`).
pub async fn sign_out(
    ctx: &Ctx,
    select: &Select,
    scope: SignOutScope,
    route: &RouteArgs,
    no_input: bool,
) -> Out<u8> {
    if scope.all_accounts {
        let inst = instance_for(ctx, select).await?;
        ctx.engine.sign_out_device(inst.id()).await?;
        println!("Signed out of every account on this device");
        return Ok(code::OK);
    }
    let a = account_for(ctx, select).await?;
    if !(scope.all_devices || scope.everywhere) {
        ctx.engine.sign_out(&a.account).await?;
        println!("Signed out {} on this device", who(&a));
        return Ok(code::OK);
    }
    let mut outcome = if scope.everywhere {
        ctx.engine
            .sign_out_everywhere(&a.account, scope.force)
            .await?
    } else {
        summarise(ctx.engine.sign_out_other_devices(&a.account).await?)
    };
    let refused = |o: &EverywhereOutcome| match o {
        EverywhereOutcome::Partial { failed } => failed
            .iter()
            .any(|r| r.outcome == RevokeOutcome::ReverificationRequired),
        EverywhereOutcome::Done { .. } => false,
    };
    if refused(&outcome) {
        let action = if scope.everywhere {
            Guarded::SignOutEverywhere { force: scope.force }
        } else {
            Guarded::SignOutOtherDevices
        };
        let inst = instance_of(ctx, &a).await?;
        let retried = step_up(
            ctx,
            &a,
            action,
            Route::pick(route, &inst),
            no_input,
            STEP_UP_TIMEOUT,
        )
        .await?;
        outcome = match retried {
            Retried::Everywhere(o) => o,
            Retried::OtherDevices(results) => summarise(results),
            Retried::Failed { message, .. } => return Err(Fail::new(code::FAILED, message)),
            Retried::Revoke { .. } => {
                return Err(Fail::new(code::FAILED, "the sign-out was not retried"));
            }
        };
    }
    match outcome {
        EverywhereOutcome::Done { revoked } => {
            println!(
                "Signed out of {revoked} other device(s){}",
                if scope.everywhere {
                    " and this one"
                } else {
                    ""
                }
            );
            Ok(code::OK)
        }
        EverywhereOutcome::Partial { failed } => {
            for r in &failed {
                eprintln!(
                    "not revoked: {} ({})",
                    r.session_id,
                    serde_json::to_string(&r.outcome).unwrap_or_default()
                );
            }
            let code = if failed
                .iter()
                .all(|r| r.outcome == RevokeOutcome::ReverificationRequired)
            {
                code::VERIFY
            } else {
                code::FAILED
            };
            Err(Fail::new(
                code,
                format!("{} session(s) could not be revoked", failed.len()),
            )
            .hint("retry, or add --force to sign out here anyway"))
        }
    }
}

/// Per-session results as "all done" or "these failed".
fn summarise(results: Vec<SessionRevoke>) -> EverywhereOutcome {
    let failed: Vec<_> = results
        .iter()
        .filter(|r| r.outcome != RevokeOutcome::Revoked)
        .cloned()
        .collect();
    if failed.is_empty() {
        EverywhereOutcome::Done {
            revoked: results.len(),
        }
    } else {
        EverywhereOutcome::Partial { failed }
    }
}

/// `add-instance PUBLISHABLE_KEY`.
pub async fn add_instance(ctx: &Ctx, publishable_key: &str) -> Out<u8> {
    let inst = Instance::from_publishable_key(publishable_key)?;
    ctx.engine.add_instance(inst.clone()).await?;
    println!("Added {} ({})", inst.id(), inst.frontend_api());
    Ok(code::OK)
}
