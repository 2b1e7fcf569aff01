//! "Copy token": the token goes from the engine to the OS clipboard in
//! Rust, never through the webview, and is cleared after 60 s if the
//! clipboard still holds it (compared by SHA-256, so the token itself is not
//! kept for the check).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::error::{ErrorKind, IpcError, Result};

/// How long a copied token stays on the clipboard.
pub const CLEAR_AFTER: Duration = Duration::from_secs(60);

/// The OS clipboard (a seam: the app uses the clipboard plugin, tests a
/// memory one).
pub trait Clipboard: Send + Sync {
    fn write(&self, text: &str) -> std::result::Result<(), String>;
    fn read(&self) -> Option<String>;
    fn clear(&self);
}

pub struct TokenClipboard {
    inner: Arc<dyn Clipboard>,
    clear_after: Duration,
    generation: Arc<AtomicU64>,
}

fn digest(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

impl TokenClipboard {
    pub fn new(inner: Arc<dyn Clipboard>, clear_after: Duration) -> Self {
        Self {
            inner,
            clear_after,
            generation: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Copies plain text (the sign-in link: no secret in it).
    pub fn copy_text(&self, text: &str) -> Result<()> {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.inner.write(text).map_err(|e| {
            IpcError::new(
                ErrorKind::Internal,
                format!("could not use the clipboard: {e}"),
            )
        })
    }

    /// What the clipboard holds as text (read in Rust: the copied callback
    /// link never passes through the page).
    pub fn read_text(&self) -> Option<String> {
        self.inner.read()
    }

    /// Clears the clipboard if it still holds `text` (a single-use link,
    /// used now).
    pub fn clear_if(&self, text: &str) {
        if self.inner.read().is_some_and(|t| t.trim() == text) {
            self.generation.fetch_add(1, Ordering::SeqCst);
            self.inner.clear();
        }
    }

    /// Copies `token` and schedules the clear; returns when it clears (ms).
    pub fn copy(&self, token: &latchkey_core::SessionToken) -> Result<i64> {
        self.inner.write(token.expose()).map_err(|e| {
            IpcError::new(
                ErrorKind::Internal,
                format!("could not use the clipboard: {e}"),
            )
        })?;
        let want = digest(token.expose());
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let (inner, gen_now, after) = (
            self.inner.clone(),
            self.generation.clone(),
            self.clear_after,
        );
        tauri::async_runtime::spawn(async move {
            tokio::time::sleep(after).await;
            // A newer copy owns the clipboard now; and never clear what the
            // user copied since.
            if gen_now.load(Ordering::SeqCst) == generation
                && inner.read().is_some_and(|t| digest(&t) == want)
            {
                inner.clear();
            }
        });
        Ok(crate::state::now_ms() + self.clear_after.as_millis() as i64)
    }
}

/// The clipboard plugin behind the seam.
pub struct PluginClipboard<R: tauri::Runtime>(pub tauri::AppHandle<R>);

impl<R: tauri::Runtime> Clipboard for PluginClipboard<R> {
    fn write(&self, text: &str) -> std::result::Result<(), String> {
        use tauri_plugin_clipboard_manager::ClipboardExt;
        self.0
            .clipboard()
            .write_text(text.to_owned())
            .map_err(|e| e.to_string())
    }

    fn read(&self) -> Option<String> {
        use tauri_plugin_clipboard_manager::ClipboardExt;
        self.0.clipboard().read_text().ok()
    }

    fn clear(&self) {
        use tauri_plugin_clipboard_manager::ClipboardExt;
        let _ = self.0.clipboard().clear();
    }
}

/// An in-memory clipboard (tests).
#[derive(Default)]
pub struct MemoryClipboard(pub std::sync::Mutex<Option<String>>);

impl Clipboard for MemoryClipboard {
    fn write(&self, text: &str) -> std::result::Result<(), String> {
        *crate::state::lock(&self.0) = Some(text.to_owned());
        Ok(())
    }
    fn read(&self) -> Option<String> {
        crate::state::lock(&self.0).clone()
    }
    fn clear(&self) {
        *crate::state::lock(&self.0) = None;
    }
}
