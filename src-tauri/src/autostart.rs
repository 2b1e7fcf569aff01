//! "Start Latchkey when I log in", through Tauri's autostart plugin (an
//! XDG autostart entry, `~/.config/autostart/Latchkey.desktop`, on Linux; a
//! LaunchAgent on macOS; the registry's Run key on Windows). Off by
//! default. The entry starts the app with [`HIDDEN`]: it comes up in the
//! background, without its window.

use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_autostart::AutoLaunchManager;

use crate::error::{ErrorKind, IpcError};

/// The argument the login entry passes: start without showing the window.
pub const HIDDEN: &str = "--hidden";

/// Whether the arguments (after the program name) ask for a hidden start.
pub fn hidden(args: &[std::ffi::OsString]) -> bool {
    args.iter().any(|a| a == HIDDEN)
}

/// The plugin, as `run` installs it.
pub fn plugin<R: Runtime>() -> tauri::plugin::TauriPlugin<R> {
    tauri_plugin_autostart::Builder::new().arg(HIDDEN).build()
}

/// Whether Latchkey starts at login (false where the plugin is not
/// installed, as on the mock runtime, or the entry cannot be read).
pub fn enabled<R: Runtime>(app: &AppHandle<R>) -> bool {
    app.try_state::<AutoLaunchManager>()
        .and_then(|m| m.is_enabled().ok())
        .unwrap_or(false)
}

/// Turns it on or off.
///
/// # Errors
/// `internal` without the plugin, or when the entry cannot be written or
/// removed (the message says which).
pub fn set<R: Runtime>(app: &AppHandle<R>, on: bool) -> Result<(), IpcError> {
    let m = app.try_state::<AutoLaunchManager>().ok_or_else(|| {
        IpcError::new(
            ErrorKind::Internal,
            "starting at login is not available here",
        )
    })?;
    let r = if on { m.enable() } else { m.disable() };
    r.map_err(|e| {
        tracing::warn!("the login entry could not be changed: {e}");
        IpcError::new(
            ErrorKind::Internal,
            if on {
                "the login entry could not be written (is ~/.config/autostart writable?)"
            } else {
                "the login entry could not be removed (is ~/.config/autostart writable?)"
            },
        )
    })
}
