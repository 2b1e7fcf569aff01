//! `latchkey devices` (the account's sessions on every device) and
//! `latchkey revoke` (one of them).

use latchkey_core::SessionId;
use latchkey_core::engine::RevokeOutcome;
use serde_json::{Value, json};

use crate::Ctx;
use crate::args::Select;
use crate::fail::{Fail, Out, code};
use crate::output::print_json;
use crate::select::account_for;

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

/// `revoke SESSION_ID`.
pub async fn revoke(ctx: &Ctx, session_id: &str, select: &Select) -> Out<u8> {
    let a = account_for(ctx, select).await?;
    match ctx
        .engine
        .revoke(&a.account, &SessionId(session_id.to_owned()))
        .await?
    {
        RevokeOutcome::Revoked => {
            println!("Revoked {session_id}");
            Ok(code::OK)
        }
        RevokeOutcome::ReverificationRequired => Err(Fail::new(
            code::SESSION_GONE,
            "this instance wants a recent sign-in before revoking sessions",
        )
        .hint("sign in again with `latchkey sign-in`, then retry")),
        RevokeOutcome::Failed { message, .. } => Err(Fail::new(code::FAILED, message)),
    }
}
