//! `latchkey devices` (the account's sessions on every device) and
//! `latchkey revoke` (one of them).

use latchkey_core::SessionId;
use latchkey_core::engine::{Guarded, Retried, RevokeOutcome};
use serde_json::{Value, json};

use crate::Ctx;
use crate::args::{RouteArgs, Select};
use crate::commands::browser::{Route, step_up};
use crate::fail::{Fail, Out, code};
use crate::output::print_json;
use crate::select::{account_for, instance_of};

/// `devices [--json]`: this device first (marked `*`).
pub async fn devices(ctx: &Ctx, json_out: bool, select: &Select) -> Out<u8> {
    let a = account_for(ctx, select).await?;
    let devices = ctx.engine.devices(&a.account).await?;
    if json_out {
        let list: Vec<Value> = devices
            .iter()
            .map(|d| {
                let act = d.session.latest_activity.clone().unwrap_or_default();
                json!({
                    "session_id": d.session.id,
                    "this_device": d.this_device,
                    "status": d.session.status,
                    "last_active_at": d.session.last_active_at,
                    "device_type": act.device_type,
                    "is_mobile": act.is_mobile,
                    "browser_name": act.browser_name,
                    "browser_version": act.browser_version,
                    "ip_address": act.ip_address,
                    "city": act.city,
                    "country": act.country,
                    "actor": d.session.actor,
                })
            })
            .collect();
        print_json(&list);
    } else {
        for d in &devices {
            let act = d.session.latest_activity.clone().unwrap_or_default();
            let what = [act.browser_name, act.device_type]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" on ");
            let place = [act.city, act.country]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ");
            println!(
                "{} {}  {}  {}  {}",
                if d.this_device { "*" } else { " " },
                d.session.id,
                what,
                act.ip_address.unwrap_or_default(),
                place
            );
        }
    }
    Ok(code::OK)
}

/// `revoke SESSION_ID`. When the instance wants a recent verification
/// first, verifies in the browser (or fails with its own exit code under
/// `--no-input`) and revokes once more.
pub async fn revoke(
    ctx: &Ctx,
    session_id: &str,
    select: &Select,
    route: &RouteArgs,
    no_input: bool,
) -> Out<u8> {
    let a = account_for(ctx, select).await?;
    let target = SessionId(session_id.to_owned());
    let mut outcome = ctx.engine.revoke(&a.account, &target).await?;
    if outcome == RevokeOutcome::ReverificationRequired {
        let inst = instance_of(ctx, &a).await?;
        let retried = step_up(
            ctx,
            &a,
            Guarded::Revoke(target.clone()),
            Route::pick(route, &inst),
            no_input,
            STEP_UP_TIMEOUT,
        )
        .await?;
        outcome = match retried {
            Retried::Revoke { outcome, .. } => outcome,
            Retried::Failed { message, .. } => return Err(Fail::new(code::FAILED, message)),
            _ => return Err(Fail::new(code::FAILED, "the revoke was not retried")),
        };
    }
    match outcome {
        RevokeOutcome::Revoked => {
            println!("Revoked {session_id}");
            Ok(code::OK)
        }
        RevokeOutcome::ReverificationRequired => Err(Fail::new(
            code::VERIFY,
            "the instance still wants a recent verification",
        )
        .hint("try again in the Latchkey app")),
        RevokeOutcome::Failed { message, .. } => Err(Fail::new(code::FAILED, message)),
    }
}

/// How long a step-up waits for the browser.
pub const STEP_UP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);
