//! What commands print: the JSON shapes of `--json` (pinned by tests:
//! fields may be added, never renamed), and plain lines otherwise.

use latchkey_core::engine::{Account, StorageState};
use serde_json::{Value, json};

pub fn account_json(a: &Account) -> Value {
    json!({
        "instance_id": a.account.instance_id,
        "session_id": a.account.session_id,
        "user_id": a.user_id,
        "name": a.name,
        "email": a.email,
        "active": a.active,
        "status": a.status,
        // Clerk's task keys (`choose-organization`, …) while `pending`.
        "tasks": a.tasks,
        "active_organization_id": a.active_organization,
    })
}

pub fn storage_json(s: &StorageState) -> Value {
    serde_json::to_value(s).unwrap_or(Value::Null)
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json(v: &impl serde::Serialize) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// `Name <email>`, with `-` for a missing email.
pub fn who(a: &Account) -> String {
    format!("{} <{}>", a.name, a.email.as_deref().unwrap_or("-"))
}
