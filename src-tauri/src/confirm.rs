//! Confirmations asked by Rust in a native dialog, not by the page: before
//! a live token goes to the clipboard and before sessions are revoked or
//! signed out in bulk. A compromised page can call any command the window
//! may call; it cannot answer a dialog the OS draws outside the page. The
//! dialog is a seam ([`Confirmer`]), like the opener and the notifier, so
//! command tests can answer it; the end-to-end tests answer the real GTK
//! dialog with `xdotool`.

use std::future::Future;
use std::pin::Pin;

use tauri::{AppHandle, Manager, Runtime};

/// One question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmation {
    /// The dialog's title and first line ("Sign out this device?").
    pub title: String,
    /// What happens, in a sentence or two.
    pub message: String,
    /// The button that goes ahead ("Sign out device"); the other is
    /// "Cancel".
    pub ok: String,
}

/// Asks the user; true only for an explicit yes.
pub trait Confirmer: Send + Sync {
    fn confirm(&self, c: Confirmation) -> Pin<Box<dyn Future<Output = bool> + Send>>;
}

/// The real one: a modal message dialog (tauri-plugin-dialog) over the main
/// window.
pub struct DialogConfirmer<R: Runtime>(pub AppHandle<R>);

/// The go-ahead button's label. On Linux it gets a mnemonic (Alt + its
/// first letter), which keyboard users and the end-to-end tests use; the
/// Cancel button has none, so the two never share one.
pub fn ok_label(label: &str) -> String {
    if cfg!(target_os = "linux") {
        format!("_{label}")
    } else {
        label.to_owned()
    }
}

impl<R: Runtime> Confirmer for DialogConfirmer<R> {
    fn confirm(&self, c: Confirmation) -> Pin<Box<dyn Future<Output = bool> + Send>> {
        use tauri_plugin_dialog::{DialogExt, MessageDialogButtons, MessageDialogKind};
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut dialog = self
            .0
            .dialog()
            .message(c.message)
            .title(c.title)
            .kind(MessageDialogKind::Warning)
            .buttons(MessageDialogButtons::OkCancelCustom(
                ok_label(&c.ok),
                "Cancel".to_owned(),
            ));
        if let Some(w) = self.0.get_webview_window(crate::window::MAIN) {
            dialog = dialog.parent(&w);
        }
        dialog.show(move |yes| {
            let _ = tx.send(yes);
        });
        Box::pin(async move { rx.await.unwrap_or(false) })
    }
}
