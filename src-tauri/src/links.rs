//! Whether `dev.latchkey.desktop://` links reach Latchkey: the link check
//! (a `selftest` link sent through the desktop and seen arriving), what is
//! wrong when it does not arrive, and the repair for this user.
//!
//! Two ways to be registered: the package's desktop entry
//! (`/usr/share/applications/Latchkey.desktop`, `Exec=latchkey-app %u`),
//! or, for a build run from a checkout (`make run`), a per-user entry the
//! deep-link plugin writes (`~/.local/share/applications/
//! latchkey-app-handler.desktop`) and makes the default.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use latchkey_core::callback::{Callback, SCHEME, parse_deep_link};
use serde::Serialize;
use tokio::sync::oneshot;
use ts_rs::TS;

use crate::error::{ErrorKind, IpcError, Result};
use crate::state::lock;

/// The MIME type desktops file URL-scheme handlers under.
pub const MIME: &str = "x-scheme-handler/dev.latchkey.desktop";
/// The package's desktop entry.
pub const PACKAGED_ENTRY: &str = "Latchkey.desktop";
/// The per-user entry the deep-link plugin writes (from the binary's name).
pub const USER_ENTRY: &str = "latchkey-app-handler.desktop";
/// How long one round of the check waits for its link.
pub const WAIT: Duration = Duration::from_secs(8);

/// What the desktop does with links (a seam: the app runs `gio`, a test
/// delivers the link itself).
pub trait Desktop: Send + Sync {
    /// Opens `url` the way a browser would hand it over (`gio open`).
    fn open(&self, url: &str) -> std::result::Result<(), String>;
    /// The desktop entry that opens the scheme now (its id), if any.
    fn default_handler(&self) -> Option<String>;
    /// A desktop entry's text, by id, from the usual places.
    fn entry(&self, id: &str) -> Option<String>;
    /// Registers Latchkey for this user (entry with `%u`, the handler
    /// cache, the default).
    fn register(&self) -> std::result::Result<(), String>;
    /// Drops the per-user registration (entry and default), if any.
    fn unregister(&self) -> std::result::Result<(), String>;
}

/// The result of "Check that links open Latchkey".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct LinkCheckView {
    /// Links reach Latchkey now.
    pub ok: bool,
    /// The registration was repaired for this user on the way.
    pub repaired: bool,
    /// What was wrong before (empty: nothing).
    pub problems: Vec<String>,
    /// One sentence for the window.
    pub detail: String,
}

/// The check waiting for its link (one at a time).
#[derive(Default)]
pub struct LinkCheck(Mutex<Option<(String, oneshot::Sender<()>)>>);

impl LinkCheck {
    fn start(&self) -> (String, oneshot::Receiver<()>) {
        let nonce = latchkey_core::new_state();
        let (tx, rx) = oneshot::channel();
        *lock(&self.0) = Some((nonce.clone(), tx));
        (nonce, rx)
    }

    /// A `selftest` link arrived: true when it is the pending check's (the
    /// check is then over; the same link again is not used).
    pub fn arrived(&self, nonce: &str) -> bool {
        let mut p = lock(&self.0);
        match p.take() {
            Some((n, tx)) if n == nonce => {
                let _ = tx.send(());
                true
            }
            other => {
                *p = other;
                false
            }
        }
    }

    /// Stops the check in progress; true when there was one.
    pub fn cancel(&self) -> bool {
        lock(&self.0).take().is_some()
    }
}

/// The nonce of a link check (`dev.latchkey.desktop://selftest?nonce=…`).
pub fn self_test_nonce(url: &str) -> Option<String> {
    match parse_deep_link(url) {
        Ok(Callback::SelfTest { nonce }) => Some(nonce),
        _ => None,
    }
}

enum Round {
    Arrived,
    Lost(String),
    Cancelled,
}

async fn round(desktop: &dyn Desktop, check: &LinkCheck, wait: Duration) -> Round {
    let (nonce, rx) = check.start();
    let url = format!("{SCHEME}://selftest?nonce={nonce}");
    if let Err(e) = desktop.open(&url) {
        check.cancel();
        return Round::Lost(format!("the desktop could not open the link ({e})"));
    }
    match tokio::time::timeout(wait, rx).await {
        Ok(Ok(())) => Round::Arrived,
        Ok(Err(_)) => Round::Cancelled,
        Err(_) => {
            check.cancel();
            Round::Lost(format!(
                "the link did not reach Latchkey within {} s",
                wait.as_secs()
            ))
        }
    }
}

/// Sends a link check through the desktop; when it does not arrive, says
/// what is wrong, repairs the registration for this user and checks again.
///
/// # Errors
/// `cancelled` when the user stopped it.
pub async fn check(
    desktop: &dyn Desktop,
    check: &LinkCheck,
    wait: Duration,
) -> Result<LinkCheckView> {
    let lost = match round(desktop, check, wait).await {
        Round::Arrived => {
            return Ok(LinkCheckView {
                ok: true,
                repaired: false,
                problems: vec![],
                detail: "Links open Latchkey.".to_owned(),
            });
        }
        Round::Cancelled => return Err(cancelled()),
        Round::Lost(why) => why,
    };
    let mut problems = diagnose(desktop, &|p| p.exists());
    problems.push(lost);
    if let Err(e) = desktop.register() {
        return Ok(LinkCheckView {
            ok: false,
            repaired: false,
            problems,
            detail: format!("Links do not open Latchkey, and it could not repair that: {e}."),
        });
    }
    Ok(match round(desktop, check, wait).await {
        Round::Arrived => LinkCheckView {
            ok: true,
            repaired: true,
            problems,
            detail: "Links did not open Latchkey; repaired for this user, and they do now."
                .to_owned(),
        },
        Round::Cancelled => return Err(cancelled()),
        Round::Lost(why) => LinkCheckView {
            ok: false,
            repaired: true,
            problems,
            detail: format!(
                "Links still do not open Latchkey after the repair ({why}). Use “Use the link I \
                 copied” or the loopback sign-in meanwhile."
            ),
        },
    })
}

fn cancelled() -> IpcError {
    IpcError::new(ErrorKind::Cancelled, "the link check was stopped")
}

/// What is wrong with the registration, in words (empty: nothing seen).
/// `exists` says whether a program path is there.
pub fn diagnose(desktop: &dyn Desktop, exists: &dyn Fn(&Path) -> bool) -> Vec<String> {
    let Some(id) = desktop.default_handler() else {
        return vec!["no application is set to open dev.latchkey.desktop:// links".to_owned()];
    };
    let Some(text) = desktop.entry(&id) else {
        return vec![format!(
            "links are set to open with {id}, which is not installed any more"
        )];
    };
    let Some(exec) = entry_key(&text, "Exec") else {
        return vec![format!("{id} has no Exec line")];
    };
    let mut out = Vec::new();
    let program = exec
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_matches('"');
    let name = Path::new(program)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("");
    if !name.starts_with("latchkey-app") {
        out.push(format!("links open {id} ({name}), not Latchkey"));
    } else if !program_found(program, exists) {
        out.push(format!("{id} starts {program}, which is not there"));
    }
    if !["%u", "%U", "%f", "%F"].iter().any(|c| exec.contains(c)) {
        out.push(format!(
            "{id} does not pass the link on (its Exec line has no %u)"
        ));
    }
    out
}

fn program_found(program: &str, exists: &dyn Fn(&Path) -> bool) -> bool {
    let p = Path::new(program);
    if p.is_absolute() {
        return exists(p);
    }
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|d| exists(&d.join(program))))
        .unwrap_or(false)
}

/// A key of a desktop entry's `[Desktop Entry]` group.
pub fn entry_key(text: &str, key: &str) -> Option<String> {
    let mut in_group = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_group = line == "[Desktop Entry]";
        } else if in_group
            && let Some((k, v)) = line.split_once('=')
            && k.trim() == key
        {
            return Some(v.trim().to_owned());
        }
    }
    None
}

/// Where desktop entries are looked up, first match wins: the user's
/// (`$XDG_DATA_HOME/applications`), then the system's (`$XDG_DATA_DIRS`).
pub fn entry_dirs(env: &dyn Fn(&str) -> Option<std::ffi::OsString>) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    match env("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        Some(d) => dirs.push(PathBuf::from(d)),
        None => {
            if let Some(h) = env("HOME") {
                dirs.push(PathBuf::from(h).join(".local/share"));
            }
        }
    }
    let system = env("XDG_DATA_DIRS")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "/usr/local/share:/usr/share".into());
    dirs.extend(std::env::split_paths(&system));
    dirs.into_iter().map(|d| d.join("applications")).collect()
}

/// Installed by a package: this binary is under `/usr` and a system
/// desktop entry (not the user's) hands it the scheme. Such an install does
/// not write a per-user handler at start; the package's entry does the job.
pub fn packaged(exe: &Path, system_entry: Option<&str>) -> bool {
    exe.starts_with("/usr/")
        && system_entry.is_some_and(|text| {
            entry_key(text, "MimeType").is_some_and(|m| m.split(';').any(|t| t == MIME))
        })
}

/// The package's entry, from the system's data dirs only.
pub fn system_entry(env: &dyn Fn(&str) -> Option<std::ffi::OsString>) -> Option<String> {
    entry_dirs(env)
        .into_iter()
        .skip(1)
        .find_map(|d| std::fs::read_to_string(d.join(PACKAGED_ENTRY)).ok())
}

/// The real desktop: `gio` (GLib's, what GTK apps and browsers use), with
/// `xdg-utils` where gio is missing.
pub struct SystemDesktop<R: tauri::Runtime> {
    pub app: tauri::AppHandle<R>,
    /// Installed by a package (see [`packaged`]).
    pub packaged: bool,
}

fn run(program: &str, args: &[&str]) -> std::result::Result<String, String> {
    let out = std::process::Command::new(program)
        .args(args)
        .env("LC_ALL", "C")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(format!(
            "{program} failed: {}",
            err.lines().next().unwrap_or("no message").trim()
        ))
    }
}

/// `gio mime <type>`'s default application, if it names one.
pub fn parse_gio_default(out: &str) -> Option<String> {
    out.lines()
        .find(|l| l.starts_with("Default application for"))
        .and_then(|l| l.rsplit_once(": "))
        .map(|(_, id)| id.trim().to_owned())
        .filter(|id| id.ends_with(".desktop"))
}

impl<R: tauri::Runtime> Desktop for SystemDesktop<R> {
    fn open(&self, url: &str) -> std::result::Result<(), String> {
        match run("gio", &["open", url]) {
            Err(e) if e.starts_with("gio: ") => run("xdg-open", &[url]).map(drop),
            r => r.map(drop),
        }
        // What failed, without the link in it.
        .map_err(|e| e.replace(url, "the link"))
    }

    fn default_handler(&self) -> Option<String> {
        match run("gio", &["mime", MIME]) {
            Ok(out) => parse_gio_default(&out),
            Err(_) => run("xdg-mime", &["query", "default", MIME])
                .ok()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty()),
        }
    }

    fn entry(&self, id: &str) -> Option<String> {
        if id.contains('/') {
            return None;
        }
        entry_dirs(&|k| std::env::var_os(k))
            .into_iter()
            .find_map(|d| std::fs::read_to_string(d.join(id)).ok())
    }

    fn register(&self) -> std::result::Result<(), String> {
        if self.packaged {
            // The package's entry is right; make it this user's default.
            return run("xdg-mime", &["default", PACKAGED_ENTRY, MIME]).map(drop);
        }
        #[cfg(any(target_os = "linux", windows))]
        {
            use tauri_plugin_deep_link::DeepLinkExt;
            self.app
                .deep_link()
                .register(SCHEME)
                .map_err(|e| e.to_string())
        }
        #[cfg(not(any(target_os = "linux", windows)))]
        Err("links are registered by the app bundle on this system".to_owned())
    }

    fn unregister(&self) -> std::result::Result<(), String> {
        #[cfg(target_os = "linux")]
        {
            use tauri::Manager;
            use tauri_plugin_deep_link::DeepLinkExt;
            // The default first (it names the entry), then the entry.
            let _ = self.app.deep_link().unregister(SCHEME);
            let dir = self
                .app
                .path()
                .data_dir()
                .map_err(|e| e.to_string())?
                .join("applications");
            match std::fs::remove_file(dir.join(USER_ENTRY)) {
                Ok(()) => {
                    let _ = run("update-desktop-database", &[&dir.to_string_lossy()]);
                    Ok(())
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(format!("could not delete {USER_ENTRY}: {e}")),
            }
        }
        #[cfg(not(target_os = "linux"))]
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake {
        default: Option<String>,
        entries: Vec<(String, String)>,
    }

    impl Desktop for Fake {
        fn open(&self, _: &str) -> std::result::Result<(), String> {
            Ok(())
        }
        fn default_handler(&self) -> Option<String> {
            self.default.clone()
        }
        fn entry(&self, id: &str) -> Option<String> {
            self.entries
                .iter()
                .find(|(i, _)| i == id)
                .map(|(_, t)| t.clone())
        }
        fn register(&self) -> std::result::Result<(), String> {
            Ok(())
        }
        fn unregister(&self) -> std::result::Result<(), String> {
            Ok(())
        }
    }

    fn entry(exec: &str) -> String {
        format!("[Desktop Entry]\nType=Application\nName=Latchkey\nExec={exec}\nMimeType={MIME};\n")
    }

    #[test]
    fn the_diagnosis_names_what_is_wrong() {
        let there = |p: &Path| p == Path::new("/usr/bin/latchkey-app");
        let d = |default: Option<&str>, entries: &[(&str, String)]| {
            diagnose(
                &Fake {
                    default: default.map(str::to_owned),
                    entries: entries
                        .iter()
                        .map(|(i, t)| ((*i).to_owned(), t.clone()))
                        .collect(),
                },
                &there,
            )
        };
        assert!(
            d(
                Some("Latchkey.desktop"),
                &[("Latchkey.desktop", entry("/usr/bin/latchkey-app %u"))]
            )
            .is_empty()
        );
        assert_eq!(
            d(None, &[]),
            ["no application is set to open dev.latchkey.desktop:// links"]
        );
        assert_eq!(
            d(Some("gone.desktop"), &[]),
            ["links are set to open with gone.desktop, which is not installed any more"]
        );
        assert_eq!(
            d(
                Some("Latchkey.desktop"),
                &[("Latchkey.desktop", entry("/usr/bin/latchkey-app"))]
            ),
            ["Latchkey.desktop does not pass the link on (its Exec line has no %u)"]
        );
        assert_eq!(
            d(
                Some("x.desktop"),
                &[("x.desktop", entry("\"/opt/old/latchkey-app\" %u"))]
            ),
            ["x.desktop starts /opt/old/latchkey-app, which is not there"]
        );
        assert_eq!(
            d(
                Some("firefox.desktop"),
                &[("firefox.desktop", entry("firefox %u"))]
            ),
            ["links open firefox.desktop (firefox), not Latchkey"]
        );
    }

    #[test]
    fn a_packaged_install_is_under_usr_with_a_system_entry_for_the_scheme() {
        let e = entry("latchkey-app %u");
        assert!(packaged(Path::new("/usr/bin/latchkey-app"), Some(&e)));
        assert!(!packaged(
            Path::new("/home/a/latchkey/target/release/latchkey-app"),
            Some(&e)
        ));
        assert!(!packaged(Path::new("/usr/bin/latchkey-app"), None));
        let other = "[Desktop Entry]\nExec=latchkey-app\nMimeType=text/plain;\n";
        assert!(!packaged(Path::new("/usr/bin/latchkey-app"), Some(other)));
    }

    #[test]
    fn entry_keys_come_from_the_desktop_entry_group_only() {
        let t =
            "[Desktop Action x]\nExec=evil %u\n[Desktop Entry]\nName=L\nExec = latchkey-app %u\n";
        assert_eq!(entry_key(t, "Exec").as_deref(), Some("latchkey-app %u"));
        assert_eq!(entry_key(t, "MimeType"), None);
    }

    #[test]
    fn gio_mime_output_parses() {
        let out = "Default application for “x-scheme-handler/dev.latchkey.desktop”: Latchkey.desktop\nRegistered applications:\n\tLatchkey.desktop\n";
        assert_eq!(parse_gio_default(out).as_deref(), Some("Latchkey.desktop"));
        assert_eq!(
            parse_gio_default(
                "No default applications for “x-scheme-handler/dev.latchkey.desktop”\n"
            ),
            None
        );
    }

    #[test]
    fn entry_dirs_follow_xdg() {
        let env = |k: &str| match k {
            "HOME" => Some("/home/a".into()),
            "XDG_DATA_DIRS" => Some("/x:/y".into()),
            _ => None,
        };
        assert_eq!(
            entry_dirs(&env),
            [
                PathBuf::from("/home/a/.local/share/applications"),
                PathBuf::from("/x/applications"),
                PathBuf::from("/y/applications")
            ]
        );
    }

    #[test]
    fn a_check_is_answered_once_by_its_own_nonce() {
        let c = LinkCheck::default();
        assert!(!c.arrived("anything"), "nothing pending");
        let (nonce, mut rx) = c.start();
        assert!(!c.arrived("not-it"));
        assert!(c.arrived(&nonce));
        assert!(rx.try_recv().is_ok());
        assert!(!c.arrived(&nonce), "used once");
        assert_eq!(
            self_test_nonce(&format!("dev.latchkey.desktop://selftest?nonce={nonce}")),
            Some(nonce)
        );
        assert_eq!(
            self_test_nonce("dev.latchkey.desktop://callback?state=s&rotating_token_nonce=n"),
            None
        );
    }
}
