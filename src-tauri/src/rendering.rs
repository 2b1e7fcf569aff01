//! How the webview paints (Linux).
//!
//! WebKitGTK composites the page with OpenGL by default. On a machine
//! without a GPU driver (virtual machines, remote desktops, these test
//! machines) that OpenGL is Mesa's software rasterizer (llvmpipe), which
//! redraws the whole window on its own threads for every change: measured
//! here, 0.57 % of a core idle with the window shown (one relative time and
//! one token event a minute) against 0.19 % without compositing, and
//! 328 → 238 MiB of PSS. Latchkey's page is a document with no animation
//! beyond a spinner, so it gives up nothing by painting without it, GPU or
//! not. A user who set `WEBKIT_DISABLE_COMPOSITING_MODE` (to `0` to keep
//! compositing) is left alone, and the browser Latchkey opens does not
//! inherit the variable the app set for itself ([`set_here`]). See
//! docs/DESIGN.md.

use std::ffi::OsString;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether this process set [`COMPOSITING_VAR`] (rather than the user).
static SET_HERE: AtomicBool = AtomicBool::new(false);

/// WebKitGTK's switch; any value but `0` turns compositing off.
pub const COMPOSITING_VAR: &str = "WEBKIT_DISABLE_COMPOSITING_MODE";

/// The value to set, if any: `1` unless the user chose already.
pub fn compositing_override(get: &dyn Fn(&str) -> Option<OsString>) -> Option<&'static str> {
    if get(COMPOSITING_VAR).is_some() {
        None
    } else {
        Some("1")
    }
}

/// Turns accelerated compositing off for this process and the WebKit
/// processes it starts. Called first thing in `main`, before any thread.
pub fn paint_without_compositing() {
    #[cfg(target_os = "linux")]
    if let Some(v) = compositing_override(&|k| std::env::var_os(k)) {
        // SAFETY: called at the top of `main`, before the app starts any
        // thread, so nothing reads the environment concurrently.
        unsafe { std::env::set_var(COMPOSITING_VAR, v) };
        SET_HERE.store(true, Ordering::Relaxed);
    }
}

/// The variables this process set for itself, which the programs it starts
/// (the user's browser) must not inherit.
pub fn set_here() -> &'static [&'static str] {
    if SET_HERE.load(Ordering::Relaxed) {
        &[COMPOSITING_VAR]
    } else {
        &[]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compositing_is_turned_off_unless_the_user_chose() {
        assert_eq!(compositing_override(&|_| None), Some("1"));
        assert_eq!(compositing_override(&|_| Some("0".into())), None);
        assert_eq!(compositing_override(&|_| Some("1".into())), None);
        assert_eq!(compositing_override(&|_| Some(OsString::new())), None);
    }
}
