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

/// Desktop notifications (a seam: the app uses the notification plugin,
/// and on Linux `notify-rust` for notifications with buttons).
pub trait Notifier: Send + Sync {
    fn notify(&self, title: &str, body: &str);

    /// A notification with buttons, where the notification server shows
    /// them; `on` runs with the one chosen. Without buttons (here, or on
    /// the server) it is [`Notifier::notify`].
    fn notify_note(&self, note: &Note, on: OnAction) {
        let _ = on;
        self.notify(&note.title, &note.body);
    }
}

/// A notification and its buttons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub title: String,
    pub body: String,
    pub actions: Vec<NoteAction>,
}

/// What a notification's button does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoteAction {
    /// Shows the window.
    Open,
    /// "Not me" on a new sign-in: the same revoke as the window's "No"
    /// (Rust asks first).
    NotMe { key: AccountKey, session_id: String },
}

impl NoteAction {
    /// Its id on the notification bus.
    pub fn id(&self) -> &'static str {
        match self {
            NoteAction::Open => "open",
            NoteAction::NotMe { .. } => "not-me",
        }
    }

    /// Its button's label.
    pub fn label(&self) -> &'static str {
        match self {
            NoteAction::Open => "Open",
            NoteAction::NotMe { .. } => "Not me",
        }
    }
}

/// Runs a notification's chosen action.
pub type OnAction = Arc<dyn Fn(NoteAction) + Send + Sync>;

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

    /// On Linux the plugin has no buttons: `notify-rust` talks to the
    /// notification server directly, when it says it shows actions. A
    /// thread waits for the choice (or the notification's closing).
    #[cfg(target_os = "linux")]
    fn notify_note(&self, note: &Note, on: OnAction) {
        if note.actions.is_empty() {
            return self.notify(&note.title, &note.body);
        }
        let note = note.clone();
        let fallback = PluginNotifier(self.0.clone());
        std::thread::spawn(move || {
            let actions = notify_rust::get_capabilities()
                .is_ok_and(|caps| caps.iter().any(|c| c == "actions"));
            if !actions {
                return fallback.notify(&note.title, &note.body);
            }
            let mut n = notify_rust::Notification::new();
            n.appname("Latchkey")
                .summary(&note.title)
                .body(&note.body)
                .icon("dev.latchkey.desktop");
            // "default": a click on the notification itself opens Latchkey.
            n.action("default", NoteAction::Open.label());
            for a in &note.actions {
                n.action(a.id(), a.label());
            }
            match n.show() {
                Ok(handle) => handle.wait_for_action(|id| {
                    let chosen = if id == "default" {
                        Some(NoteAction::Open)
                    } else {
                        note.actions.iter().find(|a| a.id() == id).cloned()
                    };
                    if let Some(a) = chosen {
                        on(a);
                    }
                }),
                Err(e) => {
                    tracing::warn!("desktop notification with buttons failed: {e}");
                    fallback.notify(&note.title, &note.body);
                }
            }
        });
    }
}

/// Sends an event to the window (its subscribed channel), if one listens.
pub fn emit<R: Runtime>(app: &AppHandle<R>, e: UiEvent) {
    if let Some(lk) = app.try_state::<Latchkey>() {
        lk.publish(&e);
    }
}

/// Where the window's events go: the channel its last `subscribe` gave.
/// While the window is hidden, or has no page listening (not created yet,
/// unloaded, loading), the events wait here, folded (the latest token
/// expiry per account, one "changed", the latest online state; the rest in
/// order), so a hidden webview is not woken for every refresh; they are
/// delivered when the window is shown and its page listens.
#[derive(Default)]
pub struct Subscriber(std::sync::Mutex<Listener>);

#[derive(Default)]
struct Listener {
    channel: Option<Channel<UiEvent>>,
    hidden: bool,
    held: Vec<UiEvent>,
}

impl Subscriber {
    /// Replaces the channel (a page that loads subscribes, a reloaded one
    /// again); what waited goes to it if the window is shown.
    pub fn set(&self, ch: Channel<UiEvent>) {
        let mut l = crate::state::lock(&self.0);
        l.channel = Some(ch);
        flush(&mut l);
    }

    /// The page is gone (the window was unloaded): events wait for the
    /// next one.
    pub fn unset(&self) {
        crate::state::lock(&self.0).channel = None;
    }

    pub fn send(&self, e: &UiEvent) {
        let mut l = crate::state::lock(&self.0);
        match &l.channel {
            Some(ch) if !l.hidden => deliver(ch, e),
            _ => hold(&mut l.held, e),
        }
    }

    /// The window was hidden (events wait) or shown (what waited goes now,
    /// or when its page subscribes).
    pub fn window_hidden(&self, hidden: bool) {
        let mut l = crate::state::lock(&self.0);
        l.hidden = hidden;
        flush(&mut l);
    }
}

fn flush(l: &mut Listener) {
    if l.hidden {
        return;
    }
    if let Some(ch) = &l.channel {
        for e in std::mem::take(&mut l.held) {
            deliver(ch, &e);
        }
    }
}

fn deliver(ch: &Channel<UiEvent>, e: &UiEvent) {
    if let Err(err) = ch.send(e.clone()) {
        tracing::warn!("could not send to the window: {err}");
    }
}

/// Adds `e` to the events waiting for a hidden window, folded.
fn hold(held: &mut Vec<UiEvent>, e: &UiEvent) {
    let same = |h: &UiEvent| match (h, e) {
        (UiEvent::Changed, UiEvent::Changed) | (UiEvent::Online { .. }, UiEvent::Online { .. }) => {
            true
        }
        (UiEvent::TokenRefreshed { key: a, .. }, UiEvent::TokenRefreshed { key: b, .. }) => a == b,
        _ => false,
    };
    held.retain(|h| !same(h));
    held.push(e.clone());
}

/// What one engine event becomes: window events, and a notification.
pub fn translate(e: &Event) -> (Vec<UiEvent>, Option<Note>) {
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
            Some(Note {
                title: format!("{name} was signed out"),
                body: "This session was revoked from another device. Sign in again to keep \
                       using it."
                    .to_owned(),
                actions: vec![NoteAction::Open],
            }),
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
            Some(Note {
                title: "New sign-in to your account".to_owned(),
                body: format!("{description}. Was this you? Open Latchkey to check."),
                actions: vec![
                    NoteAction::Open,
                    NoteAction::NotMe {
                        key: AccountKey::from(account),
                        session_id: session_id.to_string(),
                    },
                ],
            }),
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
            if let Some(note) = note {
                notifier.notify_note(&note, on_action(&app));
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

/// What a notification's button does, in the app.
pub fn on_action<R: Runtime>(app: &AppHandle<R>) -> OnAction {
    let app = app.clone();
    Arc::new(move |action| {
        crate::window::show(&app);
        let NoteAction::NotMe { key, session_id } = action else {
            return;
        };
        let app = app.clone();
        tauri::async_runtime::spawn(async move {
            let lk = app.state::<Latchkey>();
            match lk.revoke_session(&key, &session_id).await {
                Ok(r) if r.outcome == crate::view::RevokeOutcomeView::Revoked => {
                    lk.notifier().notify(
                        "That device was signed out",
                        "Consider changing your password.",
                    );
                }
                Ok(r) => lk.notifier().notify(
                    "That device was not signed out",
                    r.message
                        .as_deref()
                        .unwrap_or("Open Latchkey to see its devices."),
                ),
                // A "no" in Rust's dialog: nothing was done, nothing to say.
                Err(e) if e.kind == crate::error::ErrorKind::Cancelled => {}
                Err(e) => lk
                    .notifier()
                    .notify("That device was not signed out", &e.message),
            }
            emit(&app, UiEvent::Changed);
        });
    })
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
        let Note {
            title,
            body,
            actions,
        } = note.unwrap();
        assert_eq!(title, "Ada Lovelace was signed out");
        assert!(body.contains("another device"));
        assert_eq!(actions, vec![NoteAction::Open]);
    }

    #[test]
    fn a_new_device_asks_was_this_you() {
        let (ui, note) = translate(&Event::NewDevice {
            account: acct(),
            session_id: "sess_2".into(),
            description: "Chrome 131 on Windows, London".into(),
        });
        assert!(matches!(&ui[0], UiEvent::NewDevice { session_id, .. } if session_id == "sess_2"));
        let Note {
            title,
            body,
            actions,
        } = note.unwrap();
        assert_eq!(title, "New sign-in to your account");
        assert!(body.contains("Chrome 131 on Windows") && body.contains("Was this you?"));
        // "Not me" runs the window's revoke of that session.
        assert_eq!(
            actions,
            vec![
                NoteAction::Open,
                NoteAction::NotMe {
                    key: AccountKey::from(&acct()),
                    session_id: "sess_2".into()
                }
            ]
        );
        assert_eq!(
            actions
                .iter()
                .map(|a| (a.id(), a.label()))
                .collect::<Vec<_>>(),
            [("open", "Open"), ("not-me", "Not me")]
        );
    }

    #[test]
    fn a_hidden_window_gets_its_events_folded_when_shown() {
        let k = |s: &str| AccountKey {
            instance_id: "ins_1".into(),
            session_id: s.into(),
        };
        let mut held = Vec::new();
        for e in [
            UiEvent::TokenRefreshed {
                key: k("a"),
                expires_at_ms: 1,
            },
            UiEvent::Changed,
            UiEvent::Online { online: false },
            UiEvent::TokenRefreshed {
                key: k("b"),
                expires_at_ms: 5,
            },
            UiEvent::SessionRevoked {
                key: k("c"),
                name: "Grace".into(),
            },
            UiEvent::TokenRefreshed {
                key: k("a"),
                expires_at_ms: 2,
            },
            UiEvent::Changed,
            UiEvent::Online { online: true },
        ] {
            hold(&mut held, &e);
        }
        assert_eq!(
            held,
            vec![
                UiEvent::TokenRefreshed {
                    key: k("b"),
                    expires_at_ms: 5
                },
                UiEvent::SessionRevoked {
                    key: k("c"),
                    name: "Grace".into()
                },
                UiEvent::TokenRefreshed {
                    key: k("a"),
                    expires_at_ms: 2
                },
                UiEvent::Changed,
                UiEvent::Online { online: true },
            ]
        );
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
