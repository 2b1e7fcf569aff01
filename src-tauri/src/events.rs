//! Engine events → the window, the tray and desktop notifications. No event
//! carries a token (the engine's never do; the canary test checks what
//! reaches the window).
//!
//! The window gets its events over an IPC [`Channel`] it hands to the
//! `subscribe` command, not as global Tauri events: the window's
//! capability grants no `core:event` permission at all, so no page script
//! can listen to anything (the deep-link plugin announces every incoming
//! URL as a global event).

use std::sync::Arc;

use latchkey_core::engine::{Engine, Event};
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager, Runtime};
use tokio::sync::broadcast::error::RecvError;

use crate::state::{Latchkey, now_ms};
use crate::view::{AccountKey, UiEvent};

/// Desktop notifications (a seam: the app uses the notification plugin).
pub trait Notifier: Send + Sync {
    fn notify(&self, title: &str, body: &str);
}

pub struct PluginNotifier<R: Runtime>(pub AppHandle<R>);

impl<R: Runtime> Notifier for PluginNotifier<R> {
    fn notify(&self, title: &str, body: &str) {
        use tauri_plugin_notification::NotificationExt;
        if let Err(e) = self
            .0
            .notification()
            .builder()
            .title(title)
            .body(body)
            .show()
        {
            tracing::warn!("desktop notification failed: {e}");
        }
    }
}

/// Sends an event to the window (its subscribed channel), if one listens.
pub fn emit<R: Runtime>(app: &AppHandle<R>, e: UiEvent) {
    if let Some(lk) = app.try_state::<Latchkey>() {
        lk.publish(&e);
    }
}

/// Where the window's events go: the channel its last `subscribe` gave.
#[derive(Default)]
pub struct Subscriber(std::sync::Mutex<Option<Channel<UiEvent>>>);

impl Subscriber {
    /// Replaces the channel (a reloaded page subscribes again).
    pub fn set(&self, ch: Channel<UiEvent>) {
        *crate::state::lock(&self.0) = Some(ch);
    }

    pub fn send(&self, e: &UiEvent) {
        let ch = crate::state::lock(&self.0).clone();
        if let Some(ch) = ch
            && let Err(err) = ch.send(e.clone())
        {
            tracing::warn!("could not send to the window: {err}");
        }
    }
}

/// What one engine event becomes: window events, and a notification.
pub fn translate(e: &Event) -> (Vec<UiEvent>, Option<(String, String)>) {
    match e {
        Event::AccountsChanged | Event::ActiveChanged { .. } | Event::Storage { .. } => {
            (vec![UiEvent::Changed], None)
        }
        Event::TokenRefreshed {
            account,
            expires_at_ms,
        } => (
            vec![UiEvent::TokenRefreshed {
                key: AccountKey::from(account),
                expires_at_ms: *expires_at_ms,
            }],
            None,
        ),
        Event::SessionRevoked { account, name } => (
            vec![
                UiEvent::SessionRevoked {
                    key: AccountKey::from(account),
                    name: name.clone(),
                },
                UiEvent::Changed,
            ],
            Some((
                format!("{name} was signed out"),
                "This session was revoked from another device. Sign in again to keep using it."
                    .to_owned(),
            )),
        ),
        Event::NewDevice {
            account,
            session_id,
            description,
        } => (
            vec![UiEvent::NewDevice {
                key: AccountKey::from(account),
                session_id: session_id.to_string(),
                description: description.clone(),
            }],
            Some((
                "New sign-in to your account".to_owned(),
                format!("{description}. Was this you? Open Latchkey to check."),
            )),
        ),
        Event::Online { online } => (vec![UiEvent::Online { online: *online }], None),
    }
}

/// Forwards engine events until the app exits.
pub fn spawn_forwarder<R: Runtime>(app: AppHandle<R>, engine: Engine, notifier: Arc<dyn Notifier>) {
    let mut rx = engine.subscribe();
    tauri::async_runtime::spawn(async move {
        loop {
            let e = match rx.recv().await {
                Ok(e) => e,
                Err(RecvError::Lagged(_)) => Event::AccountsChanged,
                Err(RecvError::Closed) => break,
            };
            match &e {
                Event::TokenRefreshed { .. } => app.state::<Latchkey>().note_refresh(now_ms()),
                Event::SessionRevoked { account, name } => {
                    app.state::<Latchkey>().note_revoked(account, name)
                }
                _ => {}
            }
            let (ui, note) = translate(&e);
            for u in ui {
                emit(&app, u);
            }
            if let Some((title, body)) = note {
                notifier.notify(&title, &body);
            }
            if matches!(
                e,
                Event::AccountsChanged | Event::ActiveChanged { .. } | Event::SessionRevoked { .. }
            ) {
                after_change(&app).await;
            }
        }
    });
}

/// Re-renders the tray and fetches avatars not seen yet.
pub async fn after_change<R: Runtime>(app: &AppHandle<R>) {
    crate::refresh_tray(app).await;
    let lk = app.state::<Latchkey>();
    let missing = lk.missing_avatars().await;
    if missing.is_empty() {
        return;
    }
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let lk = app.state::<Latchkey>();
        for (url, inst) in missing {
            let data = crate::avatar::fetch(&inst, &url).await;
            lk.avatars().put(url, data);
        }
        emit(&app, UiEvent::Changed);
    });
}

#[cfg(test)]
mod tests {
    use latchkey_core::engine::AccountRef;

    use super::*;

    fn acct() -> AccountRef {
        AccountRef {
            instance_id: "ins_1".into(),
            session_id: "sess_1".into(),
        }
    }

    #[test]
    fn a_revocation_updates_the_window_and_notifies() {
        let (ui, note) = translate(&Event::SessionRevoked {
            account: acct(),
            name: "Ada Lovelace".into(),
        });
        assert!(
            matches!(ui[0], UiEvent::SessionRevoked { ref name, .. } if name == "Ada Lovelace")
        );
        assert!(ui.contains(&UiEvent::Changed));
        let (title, body) = note.unwrap();
        assert_eq!(title, "Ada Lovelace was signed out");
        assert!(body.contains("another device"));
    }

    #[test]
    fn a_new_device_asks_was_this_you() {
        let (ui, note) = translate(&Event::NewDevice {
            account: acct(),
            session_id: "sess_2".into(),
            description: "Chrome 131 on Windows, London".into(),
        });
        assert!(matches!(&ui[0], UiEvent::NewDevice { session_id, .. } if session_id == "sess_2"));
        let (title, body) = note.unwrap();
        assert_eq!(title, "New sign-in to your account");
        assert!(body.contains("Chrome 131 on Windows") && body.contains("Was this you?"));
    }

    #[test]
    fn refreshes_and_connectivity_do_not_notify() {
        let (_, n) = translate(&Event::TokenRefreshed {
            account: acct(),
            expires_at_ms: 1,
        });
        assert!(n.is_none());
        let (ui, n) = translate(&Event::Online { online: false });
        assert_eq!(ui, vec![UiEvent::Online { online: false }]);
        assert!(n.is_none());
    }
}
