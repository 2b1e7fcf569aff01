//! The main window's life. It is created at start, or, when Latchkey starts
//! hidden at login, only when first asked for (launching Latchkey again,
//! the tray, a notification, a deep link). Closing it hides it; once it has
//! stayed hidden for [`UNLOAD_AFTER`] it is unloaded — the webview and its
//! WebKit processes go away, with their memory and their timers — and the
//! next [`show`] creates it afresh from the configuration. Latchkey itself
//! (refresh, notices, the tray, the CLI's socket) does not depend on it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tauri::{AppHandle, Manager, Runtime, WebviewWindow, WebviewWindowBuilder};

use crate::state::Latchkey;

/// The window's label (capabilities name it).
pub const MAIN: &str = "main";

/// How long a hidden window is kept loaded: showing it again within this
/// is instant; later it loads again (a few hundred ms).
pub const UNLOAD_AFTER: Duration = Duration::from_secs(60);

/// The variable that changes [`UNLOAD_AFTER`] (whole seconds; 0 unloads
/// at once).
pub const UNLOAD_AFTER_VAR: &str = "LATCHKEY_UNLOAD_HIDDEN_AFTER_SECS";

/// [`UNLOAD_AFTER`], or what [`UNLOAD_AFTER_VAR`] says; a value that is
/// not a number of seconds (up to a day) is reported and ignored.
pub fn unload_after_from_env(var: &dyn Fn(&str) -> Option<std::ffi::OsString>) -> Duration {
    let Some(v) = var(UNLOAD_AFTER_VAR) else {
        return UNLOAD_AFTER;
    };
    match v.to_str().and_then(|s| s.trim().parse::<u64>().ok()) {
        Some(secs) if secs <= 86_400 => Duration::from_secs(secs),
        _ => {
            eprintln!(
                "latchkey-app: ignoring {UNLOAD_AFTER_VAR}={v:?} (whole seconds, at most 86400); \
                 using {} s",
                UNLOAD_AFTER.as_secs()
            );
            UNLOAD_AFTER
        }
    }
}

/// Counts hides and shows, so an unload planned at one hide is dropped when
/// the window was shown (or hidden again) since.
pub struct WindowLife {
    epoch: AtomicU64,
    after: Duration,
}

impl WindowLife {
    pub fn new(after: Duration) -> Self {
        Self {
            epoch: AtomicU64::new(0),
            after,
        }
    }
}

/// Shows the main window (creating it if it was never created or was
/// unloaded), in front.
pub fn show<R: Runtime>(app: &AppHandle<R>) {
    if let Some(life) = app.try_state::<WindowLife>() {
        life.epoch.fetch_add(1, Ordering::SeqCst);
    }
    let w = match app.get_webview_window(MAIN) {
        Some(w) => w,
        None => match create(app) {
            Ok(w) => w,
            Err(e) => {
                tracing::error!("could not open the window: {e}");
                return;
            }
        },
    };
    let _ = w.unminimize();
    let _ = w.show();
    let _ = w.set_focus();
    if let Some(lk) = app.try_state::<Latchkey>() {
        lk.window_hidden(false);
    }
}

fn create<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<WebviewWindow<R>> {
    let mut config = app
        .config()
        .app
        .windows
        .iter()
        .find(|w| w.label == MAIN)
        .cloned()
        .ok_or(tauri::Error::WindowNotFound)?;
    config.create = true;
    config.visible = true;
    WebviewWindowBuilder::from_config(app, &config)?.build()
}

/// Hides the main window (its close button, when closing hides), and plans
/// its unloading.
pub fn hide<R: Runtime>(app: &AppHandle<R>) {
    let Some(w) = app.get_webview_window(MAIN) else {
        return;
    };
    let _ = w.hide();
    if let Some(lk) = app.try_state::<Latchkey>() {
        lk.window_hidden(true);
    }
    let Some(life) = app.try_state::<WindowLife>() else {
        return;
    };
    let at_hide = life.epoch.fetch_add(1, Ordering::SeqCst) + 1;
    let after = life.after;
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(after).await;
        let still = app
            .try_state::<WindowLife>()
            .is_some_and(|life| life.epoch.load(Ordering::SeqCst) == at_hide);
        if still {
            unload(&app);
        }
    });
}

/// Destroys the (hidden) main window; events wait for the next one.
fn unload<R: Runtime>(app: &AppHandle<R>) {
    let Some(w) = app.get_webview_window(MAIN) else {
        return;
    };
    if w.is_visible().unwrap_or(true) {
        return;
    }
    if let Some(lk) = app.try_state::<Latchkey>() {
        lk.window_unloaded();
    }
    tracing::info!("the hidden window was unloaded");
    if let Err(e) = w.destroy() {
        tracing::warn!("could not unload the hidden window: {e}");
    }
}

/// Whether an exit asked for because the last window went away should be
/// refused: Latchkey keeps running when closing the window hides it (the
/// window was unloaded, not closed).
pub fn keep_running<R: Runtime>(app: &AppHandle<R>) -> bool {
    app.try_state::<Latchkey>()
        .is_some_and(|lk| lk.prefs().get().close_hides)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    #[test]
    fn the_unload_delay_comes_from_the_environment_or_the_default() {
        let with = |v: Option<&str>| {
            unload_after_from_env(&move |k| {
                assert_eq!(k, UNLOAD_AFTER_VAR);
                v.map(OsString::from)
            })
        };
        assert_eq!(with(None), UNLOAD_AFTER);
        assert_eq!(with(Some("0")), Duration::ZERO);
        assert_eq!(with(Some(" 5 ")), Duration::from_secs(5));
        for bad in ["", "-1", "1.5", "5s", "86401", "99999999999999999999"] {
            assert_eq!(with(Some(bad)), UNLOAD_AFTER, "{bad:?}");
        }
    }
}
