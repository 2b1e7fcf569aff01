//! The app's own preferences, in `<data dir>/settings.json` (0600, nothing
//! secret): what closing the window does, and what the user has been told
//! once. Format 2 (format 1 had no number; same fields). A file that does
//! not parse is replaced by the defaults (and said so); a missing one means
//! the defaults; one written by a newer version is left as it is (this run
//! uses the defaults and changes hold only for the run).

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
    /// The first-run screen was answered (or an account was signed in).
    pub welcomed: bool,
}

impl Default for Prefs {
    fn default() -> Self {
        Self {
            close_hides: true,
            told_still_running: false,
            link_check_done: false,
            welcomed: false,
        }
    }
}

/// The preferences and where they live.
pub struct PrefsStore {
    path: PathBuf,
    prefs: Mutex<Prefs>,
    /// False when a newer version wrote the file.
    writable: bool,
    /// What was wrong with the file, in words.
    problem: Option<String>,
}

const FILE: &str = "settings.json";
const FORMAT: u32 = 2;

impl PrefsStore {
    /// Reads `<dir>/settings.json`.
    pub fn load(dir: &Path) -> Self {
        let path = dir.join(FILE);
        let loaded = latchkey_core::datafile::read::<Prefs>(&path, FORMAT);
        let problem = loaded.problem(FILE, FORMAT);
        if let Some(p) = &problem {
            tracing::warn!("{p}");
        }
        Self {
            path,
            writable: loaded.writable(),
            problem,
            prefs: Mutex::new(loaded.value()),
        }
    }

    /// What was wrong with the file at start, in words.
    pub fn problem(&self) -> Option<String> {
        self.problem.clone()
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
        if !self.writable {
            return now;
        }
        match latchkey_core::datafile::encode(&now, FORMAT) {
            Some(b) => {
                if let Err(e) = latchkey_core::private_fs::write_private(&self.path, &b) {
                    tracing::warn!("settings.json was not written: {e}");
                }
            }
            None => tracing::warn!("settings could not be encoded"),
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

    #[test]
    fn settings_from_a_newer_version_are_left_as_they_are() {
        let dir = std::env::temp_dir().join(format!("latchkey-prefs-new-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let newer = br#"{"format":9,"close_hides":false,"future":true}"#;
        std::fs::write(dir.join("settings.json"), newer).unwrap();
        let s = PrefsStore::load(&dir);
        assert_eq!(s.get(), Prefs::default());
        let m = s.problem().unwrap();
        assert!(m.contains("newer version") && m.contains("format 9"), "{m}");
        let p = s.update(|p| p.told_still_running = true);
        assert!(p.told_still_running, "the change holds for this run");
        assert_eq!(std::fs::read(dir.join("settings.json")).unwrap(), newer);
        // The previous format (no number) is read and written forward.
        std::fs::write(dir.join("settings.json"), br#"{"close_hides":false}"#).unwrap();
        let s = PrefsStore::load(&dir);
        assert!(!s.get().close_hides && s.problem().is_none());
        s.update(|p| p.link_check_done = true);
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("settings.json")).unwrap()).unwrap();
        assert_eq!(
            (v["format"].as_u64(), v["close_hides"].as_bool()),
            (Some(2), Some(false))
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
