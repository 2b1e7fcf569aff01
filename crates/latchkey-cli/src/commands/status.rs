//! `latchkey status` and `latchkey sessions`: the instances, the accounts on
//! this device and the active one, secure storage, online state.

use latchkey_core::InstanceKind;
use latchkey_core::engine::{Account, StorageState};
use serde_json::json;

use crate::Ctx;
use crate::args::Select;
use crate::fail::{Out, code};
use crate::output::{account_json, print_json, storage_json, who};

/// `status [--json]`: exit 1 when not signed in.
pub async fn status(ctx: &Ctx, json_out: bool) -> Out<u8> {
    for i in ctx.engine.instances().await {
        // Names for the listing; offline, the host name stands in.
        let _ = ctx.engine.load_environment(i.id()).await;
    }
    let accounts = ctx.engine.accounts().await;
    let instances = ctx.engine.instances().await;
    let signed_in = accounts.iter().any(|a| a.active);
    if json_out {
        let mut inst = Vec::new();
        for i in &instances {
            let name = ctx
                .engine
                .environment(i.id())
                .await
                .and_then(|e| e.application_name().map(str::to_owned));
            inst.push(json!({"id": i.id(), "kind": i.kind(), "frontend_api": i.frontend_api().as_str().trim_end_matches('/'), "name": name}));
        }
        print_json(&json!({
            "signed_in": signed_in,
            "online": ctx.engine.online(),
            "storage": storage_json(&ctx.engine.storage_state()),
            "instances": inst,
            "active": ctx.engine.active(),
            "accounts": accounts.iter().map(account_json).collect::<Vec<_>>(),
        }));
    } else {
        for i in &instances {
            let label = match i.kind() {
                InstanceKind::LocalDemo => "local demo instance",
                InstanceKind::Clerk => "Clerk instance",
            };
            println!(
                "{} ({label}, {})",
                i.id(),
                i.frontend_api().as_str().trim_end_matches('/')
            );
            let mine: Vec<&Account> = accounts
                .iter()
                .filter(|a| a.account.instance_id == i.id())
                .collect();
            if mine.is_empty() {
                println!("  not signed in");
            }
            for a in mine {
                let mark = if a.active { "*" } else { " " };
                println!("  {mark} {}  {}", who(a), a.account.session_id);
            }
        }
        match ctx.engine.storage_state() {
            StorageState::Secure { backend } => println!("secure storage: {backend}"),
            StorageState::Unavailable { reason, .. } => {
                println!("secure storage unavailable ({reason}): signed in for this run only")
            }
            StorageState::SaveFailed { reason, .. } => {
                println!("secure storage: the last save failed ({reason})")
            }
        }
        if !ctx.engine.online() {
            println!("offline: showing the last known state");
        }
    }
    Ok(if signed_in {
        code::OK
    } else {
        code::NOT_SIGNED_IN
    })
}

/// `sessions [--json] [--instance …]`: one line per account on this device.
pub async fn sessions(ctx: &Ctx, json_out: bool, select: &Select) -> Out<u8> {
    let accounts: Vec<Account> = ctx
        .engine
        .accounts()
        .await
        .into_iter()
        .filter(|a| {
            select
                .instance
                .as_deref()
                .is_none_or(|i| a.account.instance_id == i)
        })
        .collect();
    if json_out {
        print_json(&accounts.iter().map(account_json).collect::<Vec<_>>());
    } else if accounts.is_empty() {
        println!("no sessions on this device");
    } else {
        for a in &accounts {
            println!(
                "{} {}  {}",
                if a.active { "*" } else { " " },
                a.account.session_id,
                who(a)
            );
        }
    }
    Ok(if accounts.is_empty() {
        code::NOT_SIGNED_IN
    } else {
        code::OK
    })
}
