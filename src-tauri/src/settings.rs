//! The app's settings: the host's (`latchkey_host::Settings`, from the same
//! environment variables as the CLI, so both see the same accounts), plus
//! the `--publishable-key` flag.

use std::ffi::OsString;

pub use latchkey_host::Settings;

use crate::error::IpcError;

/// Something the command line asks a running (or starting) app to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `--sign-in <instance>` (its id, Frontend API host, or `local`):
    /// start a sign-in there in the browser (`latchkey sign-in` on a real
    /// instance).
    SignIn { instance: String },
    /// `--verify-account <session id>`: verify that account again in the
    /// browser (`latchkey revoke` on an instance that wants a recent
    /// verification).
    Verify { session_id: String },
}

/// The requests in the arguments (after the program name). A flag without
/// its value, or with a value that cannot be an id, is ignored with a
/// warning: a request is never worth refusing to start over.
pub fn requests(args: &[OsString]) -> Vec<Request> {
    let mut out = Vec::new();
    let mut it = args.iter().filter_map(|a| a.to_str());
    let plausible = |v: &str| {
        !v.is_empty()
            && !v.starts_with('-')
            && v.len() <= 256
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
    };
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) => (f, Some(v)),
            None => (a, None),
        };
        if flag != "--sign-in" && flag != "--verify-account" {
            continue;
        }
        let value = inline.or_else(|| it.next());
        match value.filter(|v| plausible(v)) {
            Some(v) if flag == "--sign-in" => out.push(Request::SignIn {
                instance: v.to_owned(),
            }),
            Some(v) => out.push(Request::Verify {
                session_id: v.to_owned(),
            }),
            None => tracing::warn!("{flag} needs an id; ignored"),
        }
    }
    out
}

/// From the process arguments (after the program name) and environment.
/// Unknown arguments are ignored (a deep link is an argument too); a flag
/// without its value is an error.
pub fn from_args(
    args: &[OsString],
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Settings, IpcError> {
    let mut settings = Settings::from_env(env);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let Some(a) = a.to_str() else { continue };
        if let Some(v) = a.strip_prefix("--publishable-key=") {
            settings.publishable_key = Some(v.to_owned());
        } else if a == "--publishable-key" {
            let v = it.next().and_then(|v| v.to_str()).ok_or_else(|| {
                IpcError::bad_input("--publishable-key needs a value (pk_test_… or pk_live_…)")
            })?;
            settings.publishable_key = Some(v.to_owned());
        }
    }
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_from_the_command_line() {
        let args: Vec<OsString> = [
            "--sign-in",
            "clerk:clerk.example.com",
            "--verify-account=sess_2abc",
            "dev.latchkey.desktop://callback?x=1",
            "--sign-in",
            "--publishable-key",
            "--verify-account",
            "sess bad;rm -rf",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        assert_eq!(
            requests(&args),
            vec![
                Request::SignIn {
                    instance: "clerk:clerk.example.com".into()
                },
                Request::Verify {
                    session_id: "sess_2abc".into()
                },
            ],
            "a flag followed by another flag or by junk asks for nothing"
        );
        assert!(requests(&[]).is_empty());
    }

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
    fn publishable_key_from_flag_or_env_and_missing_value_is_an_error() {
        let e = env(&[("LATCHKEY_PUBLISHABLE_KEY", "pk_test_env")]);
        let s = from_args(&[], &e).unwrap();
        assert_eq!(s.publishable_key.as_deref(), Some("pk_test_env"));
        let args = ["--publishable-key".into(), "pk_test_flag".into()];
        let s = from_args(&args, &e).unwrap();
        assert_eq!(s.publishable_key.as_deref(), Some("pk_test_flag"));
        let args = ["--publishable-key=pk_test_eq".into()];
        let s = from_args(&args, &e).unwrap();
        assert_eq!(s.publishable_key.as_deref(), Some("pk_test_eq"));
        let args = ["--publishable-key".into()];
        let err = from_args(&args, &e).unwrap_err();
        assert_eq!(err.kind, crate::error::ErrorKind::BadInput);
        // A deep link and unknown flags are not settings.
        let args = [
            "dev.latchkey.desktop://callback?x=1".into(),
            "--verbose".into(),
        ];
        let s = from_args(&args, &env(&[])).unwrap();
        assert_eq!(s.publishable_key, None);
        assert_eq!(s.keychain_service, "dev.latchkey.desktop");
    }
}
