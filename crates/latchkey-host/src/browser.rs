//! Opening a URL in the user's browser, without waiting for it: a
//! `$BROWSER` program (the user's choice, or a test's recording script) may
//! take as long as it likes; sign-ins wait on the callback, not on the
//! browser.

use std::process::{Command, Stdio};

/// Runs `$BROWSER <url>` when `BROWSER` is set (and not blank): `Some(true)`
/// if it started, `Some(false)` if it could not; `None` when `BROWSER` is
/// not set, so the caller uses its own default (the app: the opener plugin).
pub fn from_env(url: &str) -> Option<bool> {
    let b = std::env::var("BROWSER")
        .ok()
        .filter(|b| !b.trim().is_empty())?;
    Some(spawn(&b, url))
}

/// Opens `url`: `$BROWSER`, else the platform's opener (`xdg-open`, then
/// `gio open` on Linux; `open` on macOS; `explorer` on Windows). False when
/// nothing could be started.
pub fn open(url: &str) -> bool {
    if let Some(opened) = from_env(url) {
        return opened;
    }
    let defaults: &[&str] = if cfg!(target_os = "macos") {
        &["open"]
    } else if cfg!(windows) {
        &["explorer"]
    } else {
        &["xdg-open", "gio open"]
    };
    defaults.iter().any(|c| spawn(c, url))
}

/// Starts `command` (a program and its leading arguments, split on
/// whitespace) with `url` as the last argument; the child is reaped on a
/// thread of its own.
fn spawn(command: &str, url: &str) -> bool {
    let mut parts = command.split_whitespace();
    let Some(program) = parts.next() else {
        return false;
    };
    match Command::new(program)
        .args(parts)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(mut child) => {
            std::thread::spawn(move || child.wait());
            true
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_that_cannot_start_is_false() {
        assert!(!spawn("", "https://example.com"));
        assert!(!spawn(
            "/nonexistent/latchkey-browser-for-tests",
            "https://example.com"
        ));
        assert!(spawn("true", "https://example.com"));
    }
}
