//! `latchkey switch`, `latchkey sign-out` (this account here, every account
//! here, every other device, everywhere) and `latchkey add-instance`.

use latchkey_core::Instance;
use latchkey_core::engine::{EverywhereOutcome, RevokeOutcome};

use crate::Ctx;
use crate::args::Select;
use crate::fail::{Fail, Out, code};
use crate::output::who;
use crate::select::{account_for, instance_for};

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
pub async fn sign_out(ctx: &Ctx, select: &Select, scope: SignOutScope) -> Out<u8> {
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
    let outcome = if scope.everywhere {
        ctx.engine
            .sign_out_everywhere(&a.account, scope.force)
            .await?
    } else {
        let results = ctx.engine.sign_out_other_devices(&a.account).await?;
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
    };
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
            Err(Fail::new(
                code::FAILED,
                format!("{} session(s) could not be revoked", failed.len()),
            )
            .hint("retry, or add --force to sign out here anyway"))
        }
    }
}

/// `add-instance PUBLISHABLE_KEY`.
pub async fn add_instance(ctx: &Ctx, publishable_key: &str) -> Out<u8> {
    let inst = Instance::from_publishable_key(publishable_key)?;
    ctx.engine.add_instance(inst.clone()).await?;
    println!("Added {} ({})", inst.id(), inst.frontend_api());
    Ok(code::OK)
}
