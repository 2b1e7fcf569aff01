//! Opening a URL in the user's browser, without waiting for it: a
//! `$BROWSER` program (the user's choice, or a test's recording script) may
//! take as long as it likes; sign-ins wait on the callback, not on the
//! browser.

use std::process::{Command, Stdio};

/// Runs `$BROWSER <url>` when `BROWSER` is set (and not blank), without
/// the environment variables `remove` (ones this process set for itself):
/// `Some(true)` if it started, `Some(false)` if it could not; `None` when
/// `BROWSER` is not set, so the caller uses its own default (the app: the
/// opener plugin).
pub fn from_env_without(url: &str, remove: &[&str]) -> Option<bool> {
    let b = std::env::var("BROWSER")
        .ok()
        .filter(|b| !b.trim().is_empty())?;
    Some(spawn(&b, url, remove))
}

/// Opens `url`: `$BROWSER`, else the platform's opener (`xdg-open`, then
/// `gio open` on Linux; `open` on macOS; `explorer` on Windows). False when
/// nothing could be started.
pub fn open(url: &str) -> bool {
    open_without(url, &[])
}

/// [`open`], the browser started without the environment variables
/// `remove`.
pub fn open_without(url: &str, remove: &[&str]) -> bool {
    if let Some(opened) = from_env_without(url, remove) {
        return opened;
    }
    let defaults: &[&str] = if cfg!(target_os = "macos") {
        &["open"]
    } else if cfg!(windows) {
        &["explorer"]
    } else {
        &["xdg-open", "gio open"]
    };
    defaults.iter().any(|c| spawn(c, url, remove))
}

/// Starts `command` (a program and its leading arguments, split on
/// whitespace) with `url` as the last argument and without the variables
/// `remove`; the child is reaped on a thread of its own.
fn spawn(command: &str, url: &str, remove: &[&str]) -> bool {
    let mut parts = command.split_whitespace();
    let Some(program) = parts.next() else {
        return false;
    };
    let mut cmd = Command::new(program);
    for v in remove {
        cmd.env_remove(v);
    }
    match cmd
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
        assert!(!spawn("", "https://example.com", &[]));
        assert!(!spawn(
            "/nonexistent/latchkey-browser-for-tests",
            "https://example.com",
            &[]
        ));
        assert!(spawn("true", "https://example.com", &[]));
    }

    #[cfg(unix)]
    #[test]
    fn the_browser_starts_without_the_variables_asked() {
        let dir = std::env::temp_dir().join(format!("latchkey-browser-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        let script = dir.join("browser.sh");
        std::fs::write(
            &script,
            "#!/bin/sh\nprintf '%s' \"${CARGO_PKG_NAME-unset}\" > \"$1\"\n",
        )
        .expect("the script");
        // Run by `sh`, not executed itself: a file just written cannot be
        // executed while another test thread's fork still holds it open
        // (ETXTBSY).
        let browser = format!("sh {}", script.to_str().expect("UTF-8"));
        let read = |name: &str, remove: &[&str]| {
            let out = dir.join(name);
            let out_s = out.to_str().expect("a UTF-8 temp path");
            assert!(spawn(&browser, out_s, remove));
            for _ in 0..100 {
                if let Ok(s) = std::fs::read_to_string(&out).map(|s| s.trim().to_owned())
                    && !s.is_empty()
                {
                    return s;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            panic!("the browser script wrote nothing");
        };
        let (without, with) = (read("without", &["CARGO_PKG_NAME"]), read("with", &[]));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(without, "unset");
        // Cargo runs tests with the package's name in the environment.
        assert_eq!(with, env!("CARGO_PKG_NAME"));
    }
}
