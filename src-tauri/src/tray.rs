//! The tray menu, as a model (tested in Rust: no tray host exists under
//! Xvfb) and its rendering into a Tauri menu.

use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::{AppHandle, Runtime};

use crate::view::{AccountKey, AccountView};

/// One entry of the tray menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrayItem {
    /// A signed-in account; checked when active; clicking switches to it.
    Account {
        id: String,
        label: String,
        checked: bool,
        key: AccountKey,
    },
    /// Shown when no account is signed in.
    NoAccounts,
    Separator,
    Open,
    /// Signs the active account out.
    SignOut {
        label: String,
    },
    Quit,
}

impl TrayItem {
    pub fn id(&self) -> &str {
        match self {
            TrayItem::Account { id, .. } => id,
            TrayItem::NoAccounts => "none",
            TrayItem::Separator => "sep",
            TrayItem::Open => "open",
            TrayItem::SignOut { .. } => "sign_out",
            TrayItem::Quit => "quit",
        }
    }
}

/// The menu for these accounts (signed-in ones only, in display order; one
/// waiting for a locked keyring is not offered until it is unlocked).
pub fn model(accounts: &[AccountView]) -> Vec<TrayItem> {
    let mut items = Vec::new();
    let signed_in: Vec<&AccountView> = accounts
        .iter()
        .filter(|a| a.signed_in && !a.locked)
        .collect();
    if signed_in.is_empty() {
        items.push(TrayItem::NoAccounts);
    }
    for (n, a) in signed_in.iter().enumerate() {
        let label = match &a.email {
            Some(e) if e != &a.name => format!("{} <{}>", a.name, e),
            _ => a.name.clone(),
        };
        items.push(TrayItem::Account {
            id: format!("account:{n}"),
            label: format!("{label} · {}", a.instance_name),
            checked: a.active,
            key: a.key.clone(),
        });
    }
    items.push(TrayItem::Separator);
    items.push(TrayItem::Open);
    if let Some(active) = signed_in.iter().find(|a| a.active) {
        items.push(TrayItem::SignOut {
            label: format!("Sign out {}", active.name),
        });
    }
    items.push(TrayItem::Separator);
    items.push(TrayItem::Quit);
    items
}

/// What a click on `id` means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrayAction {
    Switch(AccountKey),
    Open,
    SignOut(AccountKey),
    Quit,
}

pub fn action(items: &[TrayItem], id: &str) -> Option<TrayAction> {
    let item = items.iter().find(|i| i.id() == id)?;
    Some(match item {
        TrayItem::Account { key, .. } => TrayAction::Switch(key.clone()),
        TrayItem::Open => TrayAction::Open,
        TrayItem::SignOut { .. } => {
            let key = items.iter().find_map(|i| match i {
                TrayItem::Account {
                    key, checked: true, ..
                } => Some(key.clone()),
                _ => None,
            })?;
            TrayAction::SignOut(key)
        }
        TrayItem::Quit => TrayAction::Quit,
        TrayItem::NoAccounts | TrayItem::Separator => return None,
    })
}

/// Renders the model into a menu.
pub fn menu<R: Runtime>(app: &AppHandle<R>, items: &[TrayItem]) -> tauri::Result<Menu<R>> {
    let menu = Menu::new(app)?;
    for i in items {
        match i {
            TrayItem::Account {
                id, label, checked, ..
            } => menu.append(&CheckMenuItem::with_id(
                app,
                id,
                label,
                true,
                *checked,
                None::<&str>,
            )?)?,
            TrayItem::NoAccounts => menu.append(&MenuItem::with_id(
                app,
                i.id(),
                "Not signed in",
                false,
                None::<&str>,
            )?)?,
            TrayItem::Separator => menu.append(&PredefinedMenuItem::separator(app)?)?,
            TrayItem::Open => menu.append(&MenuItem::with_id(
                app,
                i.id(),
                "Open Latchkey",
                true,
                None::<&str>,
            )?)?,
            TrayItem::SignOut { label } => {
                menu.append(&MenuItem::with_id(app, i.id(), label, true, None::<&str>)?)?
            }
            TrayItem::Quit => menu.append(&MenuItem::with_id(
                app,
                i.id(),
                "Quit Latchkey",
                true,
                None::<&str>,
            )?)?,
        }
    }
    Ok(menu)
}

/// The tray's current model (so a click maps to the account it showed).
#[derive(Default)]
pub struct TrayState(pub std::sync::Mutex<Vec<TrayItem>>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::{InstanceKindView, SessionStatusView};

    fn acct(name: &str, session: &str, active: bool, signed_in: bool) -> AccountView {
        AccountView {
            key: AccountKey {
                instance_id: "ins_1".into(),
                session_id: session.into(),
            },
            user_id: None,
            name: name.into(),
            email: Some(format!("{}@example.com", name.to_lowercase())),
            initials: name[..1].into(),
            avatar: None,
            active,
            status: if signed_in {
                SessionStatusView::Active
            } else {
                SessionStatusView::Revoked
            },
            tasks: vec![],
            signed_in,
            active_org_id: None,
            instance_name: "Demo".into(),
            instance_kind: InstanceKindView::LocalDemo,
            problem: None,
            locked: false,
        }
    }

    #[test]
    fn accounts_with_the_active_one_checked_then_open_sign_out_quit() {
        let accounts = [
            acct("Ada", "sess_a", false, true),
            acct("Grace", "sess_g", true, true),
            acct("Alan", "sess_x", false, false),
        ];
        let m = model(&accounts);
        let labels: Vec<String> = m
            .iter()
            .map(|i| match i {
                TrayItem::Account { label, checked, .. } => {
                    format!("[{}] {label}", if *checked { "x" } else { " " })
                }
                TrayItem::SignOut { label } => label.clone(),
                other => other.id().to_owned(),
            })
            .collect();
        assert_eq!(
            labels,
            [
                "[ ] Ada <ada@example.com> · Demo",
                "[x] Grace <grace@example.com> · Demo",
                "sep",
                "open",
                "Sign out Grace",
                "sep",
                "quit"
            ]
        );
        assert_eq!(
            action(&m, "account:0"),
            Some(TrayAction::Switch(accounts[0].key.clone()))
        );
        assert_eq!(
            action(&m, "sign_out"),
            Some(TrayAction::SignOut(accounts[1].key.clone()))
        );
        assert_eq!(action(&m, "quit"), Some(TrayAction::Quit));
        assert_eq!(action(&m, "open"), Some(TrayAction::Open));
        assert_eq!(action(&m, "account:9"), None);
        assert_eq!(action(&m, "sep"), None);
    }

    #[test]
    fn no_accounts_means_no_sign_out() {
        let m = model(&[acct("Alan", "sess_x", false, false)]);
        assert_eq!(m[0], TrayItem::NoAccounts);
        assert!(!m.iter().any(|i| matches!(i, TrayItem::SignOut { .. })));
        assert_eq!(action(&m, "none"), None);
        // Waiting for a locked keyring: not offered until it is unlocked.
        let mut locked = acct("Ada", "sess_a", true, true);
        locked.locked = true;
        let m = model(&[locked]);
        assert_eq!(m[0], TrayItem::NoAccounts);
        assert!(!m.iter().any(|i| matches!(i, TrayItem::SignOut { .. })));
    }
}
