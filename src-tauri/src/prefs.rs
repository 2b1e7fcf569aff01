//! The app's own preferences, in `<data dir>/settings.json` (0600, nothing
//! secret): what closing the window does, and what the user has been told
//! once. A file that does not parse is replaced by the defaults (and said
//! so in the log); a missing one means the defaults.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// The preferences.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Prefs {
    /// Closing the window hides it; Latchkey keeps running (refreshing,
    /// noticing revocations, notifying). Off: closing quits.
    pub close_hides: bool,
    /// The "still running" notice was shown (once).
    pub told_still_running: bool,
    /// The first run's quiet link check was done.
    pub link_check_done: bool,
}

impl Default for Prefs {
    fn default() -> Self {
        Self {
            close_hides: true,
            told_still_running: false,
            link_check_done: false,
        }
    }
}

/// The preferences and where they live.
pub struct PrefsStore {
    path: PathBuf,
    prefs: Mutex<Prefs>,
}

impl PrefsStore {
    /// Reads `<dir>/settings.json`.
    pub fn load(dir: &Path) -> Self {
        let path = dir.join("settings.json");
        let prefs = match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|e| {
                tracing::warn!("settings.json does not parse ({e}); using the defaults");
                Prefs::default()
            }),
            Err(_) => Prefs::default(),
        };
        Self {
            path,
            prefs: Mutex::new(prefs),
        }
    }

    pub fn get(&self) -> Prefs {
        crate::state::lock(&self.prefs).clone()
    }

    /// Changes them and writes the file (a failed write is logged; the
    /// change holds for this run).
    pub fn update(&self, f: impl FnOnce(&mut Prefs)) -> Prefs {
        let now = {
            let mut p = crate::state::lock(&self.prefs);
            f(&mut p);
            p.clone()
        };
        match serde_json::to_vec_pretty(&now) {
            Ok(b) => {
                if let Err(e) = latchkey_core::private_fs::write_private(&self.path, &b) {
                    tracing::warn!("settings.json was not written: {e}");
                }
            }
            Err(e) => tracing::warn!("settings could not be encoded: {e}"),
        }
        now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_and_a_broken_file_means_defaults() {
        let dir = std::env::temp_dir().join(format!("latchkey-prefs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let s = PrefsStore::load(&dir);
        assert_eq!(s.get(), Prefs::default());
        assert!(s.get().close_hides, "closing hides by default");
        s.update(|p| p.close_hides = false);
        assert!(!PrefsStore::load(&dir).get().close_hides);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("settings.json"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(dir.join("settings.json"), b"{not json").unwrap();
        assert_eq!(PrefsStore::load(&dir).get(), Prefs::default());
        // Fields added later default; unknown ones are ignored.
        std::fs::write(
            dir.join("settings.json"),
            br#"{"close_hides":false,"new":1}"#,
        )
        .unwrap();
        let p = PrefsStore::load(&dir).get();
        assert!(!p.close_hides && !p.told_still_running);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
