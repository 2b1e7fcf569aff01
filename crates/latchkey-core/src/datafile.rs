//! Versioned JSON files in the data dir (the display cache, the app's
//! settings): each carries a `"format"` number. A file from an older version
//! is read forward (format 1 had no number at all); a file from a newer
//! version is left exactly as it is — never rewritten — and this run uses
//! the defaults, with a message that says so.

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// What reading a versioned file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded<T> {
    /// No file: the defaults.
    Missing,
    /// Read, at this version's format or migrated from an older one.
    Read {
        /// What the file holds.
        value: T,
        /// The format it was written in.
        from: u32,
    },
    /// Written by a newer version: left alone; do not write over it.
    Newer {
        /// Its format (more than this version knows).
        found: u32,
    },
    /// Not JSON of the expected shape (the reason; no contents quoted).
    Unreadable(String),
}

impl<T: Default> Loaded<T> {
    /// The value to use this run (defaults unless it was read).
    pub fn value(self) -> T {
        match self {
            Loaded::Read { value, .. } => value,
            _ => T::default(),
        }
    }
}

impl<T> Loaded<T> {
    /// Whether this run may write the file (not when a newer version wrote it).
    pub fn writable(&self) -> bool {
        !matches!(self, Loaded::Newer { .. })
    }

    /// What to tell the user about `name` (none when it was read or absent).
    pub fn problem(&self, name: &str, current: u32) -> Option<String> {
        match self {
            Loaded::Newer { found } => Some(newer_message(name, *found, current)),
            Loaded::Unreadable(why) => Some(format!(
                "{name} could not be read ({why}); this run uses the defaults and writes a new one"
            )),
            _ => None,
        }
    }
}

/// "settings.json was written by a newer version of Latchkey …".
pub fn newer_message(name: &str, found: u32, current: u32) -> String {
    format!(
        "{name} was written by a newer version of Latchkey (format {found}; this version reads \
         up to {current}): it is left as it is and this run uses the defaults. Update Latchkey \
         to use it again."
    )
}

/// Reads `path`, knowing formats up to `current`.
pub fn read<T: DeserializeOwned>(path: &Path, current: u32) -> Loaded<T> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Loaded::Missing,
        Err(e) => return Loaded::Unreadable(e.kind().to_string()),
    };
    let mut value: serde_json::Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => return Loaded::Unreadable(format!("not JSON at line {}", e.line())),
    };
    let Some(obj) = value.as_object_mut() else {
        return Loaded::Unreadable("not a JSON object".to_owned());
    };
    let from = match obj.remove("format") {
        None => 1,
        Some(n) => match n.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) if n >= 1 => n,
            _ => return Loaded::Unreadable("its format is not a version number".to_owned()),
        },
    };
    if from > current {
        return Loaded::Newer { found: from };
    }
    // Every format so far only added fields (with defaults): reading the
    // fields is the migration.
    match serde_json::from_value(value) {
        Ok(value) => Loaded::Read { value, from },
        Err(e) => Loaded::Unreadable(format!("unexpected contents ({})", e.classify_name())),
    }
}

/// The bytes of `value` at format `current`.
pub fn encode<T: Serialize>(value: &T, current: u32) -> Option<Vec<u8>> {
    let mut v = serde_json::to_value(value).ok()?;
    v.as_object_mut()?
        .insert("format".to_owned(), serde_json::Value::from(current));
    serde_json::to_vec_pretty(&v).ok()
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O",
            serde_json::error::Category::Syntax => "syntax",
            serde_json::error::Category::Data => "a field of the wrong type",
            serde_json::error::Category::Eof => "truncated",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(default)]
    struct Two {
        a: u32,
        b: String,
    }

    fn dir(name: &str) -> std::path::PathBuf {
        let d =
            std::env::temp_dir().join(format!("latchkey-datafile-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn an_unversioned_file_reads_as_format_one_and_is_written_with_its_number() {
        let d = dir("old");
        let p = d.join("f.json");
        std::fs::write(&p, br#"{"a": 3}"#).unwrap();
        let l: Loaded<Two> = read(&p, 2);
        assert_eq!(
            l,
            Loaded::Read {
                value: Two {
                    a: 3,
                    b: String::new()
                },
                from: 1
            }
        );
        assert!(l.writable() && l.problem("f.json", 2).is_none());
        let bytes = encode(&l.value(), 2).unwrap();
        let back: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back["format"], 2);
        assert_eq!(read::<Two>(&p, 2).value().a, 3);
    }

    #[test]
    fn a_newer_file_is_refused_with_a_message_and_marked_not_writable() {
        let d = dir("new");
        let p = d.join("f.json");
        std::fs::write(&p, br#"{"format": 7, "a": 1}"#).unwrap();
        let l: Loaded<Two> = read(&p, 2);
        assert_eq!(l, Loaded::Newer { found: 7 });
        assert!(!l.writable());
        let m = l.problem("f.json", 2).unwrap();
        assert!(m.contains("newer version") && m.contains("format 7"), "{m}");
        assert_eq!(l.value(), Two::default());
    }

    #[test]
    fn broken_files_say_why_without_quoting_them() {
        let d = dir("bad");
        let p = d.join("f.json");
        for (bytes, why) in [
            (&b"{not json secret"[..], "not JSON"),
            (b"[1,2]", "not a JSON object"),
            (br#"{"format": "x"}"#, "version number"),
            (br#"{"format": 0}"#, "version number"),
            (br#"{"a": "secret-text"}"#, "wrong type"),
        ] {
            std::fs::write(&p, bytes).unwrap();
            let l: Loaded<Two> = read(&p, 2);
            let m = l.problem("f.json", 2).unwrap();
            assert!(m.contains(why), "{m}");
            assert!(!m.contains("secret"), "{m}");
            assert!(l.writable());
        }
        assert_eq!(read::<Two>(&d.join("none.json"), 2), Loaded::Missing);
    }
}
