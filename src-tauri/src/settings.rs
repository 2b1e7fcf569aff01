//! Where the app keeps its data and which instance it starts with: the same
//! environment variables as the CLI, so both see the same accounts.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::error::IpcError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Non-secret data (index, display cache, the local demo's state).
    pub data_dir: PathBuf,
    /// Secret Service / Keychain / Credential Manager service name.
    pub keychain_service: String,
    /// A Clerk instance to add at start (`--publishable-key` or
    /// `LATCHKEY_PUBLISHABLE_KEY`).
    pub publishable_key: Option<String>,
    /// JWT template names for that instance (`LATCHKEY_TEMPLATES=a,b`).
    pub templates: Vec<String>,
}

/// The default data dir: `$LATCHKEY_DATA_DIR`, else
/// `$XDG_DATA_HOME/latchkey`, else `~/.local/share/latchkey` (the CLI's).
pub fn default_data_dir(env: &dyn Fn(&str) -> Option<OsString>) -> PathBuf {
    if let Some(d) = env("LATCHKEY_DATA_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let base = env("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("latchkey")
}

impl Settings {
    /// From the process arguments (after the program name) and environment.
    /// Unknown arguments are ignored (a deep link is an argument too); a
    /// flag without its value is an error.
    pub fn from_args(
        args: &[OsString],
        env: &dyn Fn(&str) -> Option<OsString>,
    ) -> Result<Self, IpcError> {
        let mut publishable_key = env("LATCHKEY_PUBLISHABLE_KEY")
            .and_then(|v| v.into_string().ok())
            .filter(|v| !v.is_empty());
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let Some(a) = a.to_str() else { continue };
            if let Some(v) = a.strip_prefix("--publishable-key=") {
                publishable_key = Some(v.to_owned());
            } else if a == "--publishable-key" {
                let v = it.next().and_then(|v| v.to_str()).ok_or_else(|| {
                    IpcError::bad_input("--publishable-key needs a value (pk_test_… or pk_live_…)")
                })?;
                publishable_key = Some(v.to_owned());
            }
        }
        let templates = env("LATCHKEY_TEMPLATES")
            .and_then(|v| v.into_string().ok())
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            data_dir: default_data_dir(env),
            keychain_service: env("LATCHKEY_KEYCHAIN_SERVICE")
                .and_then(|v| v.into_string().ok())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "dev.latchkey.desktop".to_owned()),
            publishable_key,
            templates,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| {
            vars.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn data_dir_follows_the_cli() {
        let e = env(&[("HOME", "/home/u")]);
        assert_eq!(
            default_data_dir(&e),
            PathBuf::from("/home/u/.local/share/latchkey")
        );
        let e = env(&[("HOME", "/home/u"), ("XDG_DATA_HOME", "/x")]);
        assert_eq!(default_data_dir(&e), PathBuf::from("/x/latchkey"));
        let e = env(&[("LATCHKEY_DATA_DIR", "/d"), ("XDG_DATA_HOME", "/x")]);
        assert_eq!(default_data_dir(&e), PathBuf::from("/d"));
    }

    #[test]
    fn publishable_key_from_flag_or_env_and_missing_value_is_an_error() {
        let e = env(&[("LATCHKEY_PUBLISHABLE_KEY", "pk_test_env")]);
        let s = Settings::from_args(&[], &e).unwrap();
        assert_eq!(s.publishable_key.as_deref(), Some("pk_test_env"));
        let args = ["--publishable-key".into(), "pk_test_flag".into()];
        let s = Settings::from_args(&args, &e).unwrap();
        assert_eq!(s.publishable_key.as_deref(), Some("pk_test_flag"));
        let args = ["--publishable-key".into()];
        let err = Settings::from_args(&args, &e).unwrap_err();
        assert_eq!(err.kind, crate::error::ErrorKind::BadInput);
        // A deep link and unknown flags are not settings.
        let args = [
            "dev.latchkey.desktop://callback?x=1".into(),
            "--verbose".into(),
        ];
        let s = Settings::from_args(&args, &env(&[])).unwrap();
        assert_eq!(s.publishable_key, None);
        assert_eq!(s.keychain_service, "dev.latchkey.desktop");
    }
}
