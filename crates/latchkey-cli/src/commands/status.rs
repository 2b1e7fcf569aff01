//! `latchkey status` and `latchkey sessions`: the instances, the accounts on
//! this device and the active one, secure storage, online state.

use latchkey_core::InstanceKind;
use latchkey_core::engine::{Account, StorageState};
use latchkey_host::ipc::StatusData;
use serde_json::json;

use crate::Ctx;
use crate::args::Select;
use crate::fail::{Out, code};
use crate::output::{account_json, print_json, storage_json, who};

/// `status [--json]`: exit 1 when not signed in.
pub async fn status(ctx: &Ctx, json_out: bool) -> Out<u8> {
    Ok(print(&StatusData::gather(&ctx.engine).await, json_out))
}

/// Prints a status (read here, or answered by the running app) and returns
/// the exit code: 1 when not signed in.
pub fn print(s: &StatusData, json_out: bool) -> u8 {
    let signed_in = s.accounts.iter().any(|a| a.active);
    if json_out {
        print_json(&json!({
            "signed_in": signed_in,
            "online": s.online,
            "storage": storage_json(&s.storage),
            "instances": s.instances.iter().map(|i| json!({"id": i.id, "kind": i.kind, "frontend_api": i.frontend_api, "name": i.name})).collect::<Vec<_>>(),
            "active": s.active,
            "accounts": s.accounts.iter().map(account_json).collect::<Vec<_>>(),
        }));
    } else {
        for i in &s.instances {
            let label = match i.kind {
                InstanceKind::LocalDemo => "local demo instance",
                InstanceKind::Clerk => "Clerk instance",
            };
            println!("{} ({label}, {})", i.id, i.frontend_api);
            let mine: Vec<&Account> = s
                .accounts
                .iter()
                .filter(|a| a.account.instance_id == i.id)
                .collect();
            if mine.is_empty() {
                println!("  not signed in");
            }
            for a in mine {
                let mark = if a.active { "*" } else { " " };
                println!("  {mark} {}  {}", who(a), a.account.session_id);
            }
        }
        match &s.storage {
            StorageState::Secure { backend } => println!("secure storage: {backend}"),
            StorageState::Unavailable { reason, .. } => {
                println!("secure storage unavailable ({reason}): signed in for this run only")
            }
            StorageState::SaveFailed { reason, .. } => {
                println!("secure storage: the last save failed ({reason})")
            }
        }
        if !s.online {
            println!("offline: showing the last known state");
        }
    }
    if signed_in {
        code::OK
    } else {
        code::NOT_SIGNED_IN
    }
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
