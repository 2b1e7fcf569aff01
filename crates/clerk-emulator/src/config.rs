//! How an emulator instance is configured.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::keys::KeyMaterial;
use crate::seed::Seed;
use crate::store::Lifetimes;

/// The redirect URLs allowed by default: the callbacks in `docs/contracts.md`.
/// Loopback `http://127.0.0.1:<any port>/callback` is allowed separately
/// (see [`EmulatorConfig::allow_loopback_redirects`]).
pub const DEFAULT_REDIRECT_ALLOWLIST: &[&str] = &[
    "dev.latchkey.desktop://callback",
    "dev.latchkey.desktop://sso-callback",
];

/// Configuration for [`crate::Emulator::start`].
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Address to bind. Loopback only unless `allow_non_loopback`.
    pub bind: SocketAddr,
    /// Permit binding a non-loopback address (off by default).
    pub allow_non_loopback: bool,
    /// Users, organizations and devices for a new instance.
    pub seed: Seed,
    /// Persist state here (and hold the one-process-per-dir lock).
    pub data_dir: Option<PathBuf>,
    /// Session token lifetime (Clerk: 60 s). At least 1 s.
    pub token_lifetime: Duration,
    /// Overrides the seed's `single_session_mode`.
    pub single_session_mode: Option<bool>,
    /// Clerk's per-IP FAPI rate limits. Off for load tests.
    pub rate_limits: bool,
    /// When set, the actions Clerk guards with reverification (revoking a
    /// session, which signing out other devices is made of) need a factor
    /// verified within this many minutes (403
    /// `session_reverification_required`); which factor is
    /// [`EmulatorConfig::reverification_level`].
    pub reverification_minutes: Option<i64>,
    /// "Allowlist for mobile SSO redirect": exact redirect URLs allowed
    /// (scheme compared case-insensitively).
    pub redirect_allowlist: Vec<String>,
    /// Also allow `http://127.0.0.1:<any port>/callback`.
    pub allow_loopback_redirects: bool,
    /// `auth_config.native_settings.api_enabled`; when false, native
    /// requests get 400 `native_api_disabled`.
    pub native_api_enabled: bool,
    /// How long sessions, sign-ins, nonces and hosted-auth attempts live.
    pub lifetimes: Lifetimes,
    /// Reuse these keys instead of generating new ones (tests share one RSA
    /// key to avoid paying for key generation per instance).
    pub key_material: Option<KeyMaterial>,
    /// Which factor reverification asks for.
    pub reverification_level: ReverificationLevel,
    /// Session tasks new sessions are held for (`pending`) until done.
    pub session_tasks: Vec<SessionTaskRule>,
    /// Users (by email) with a second factor set up, besides the seed's.
    pub mfa_users: Vec<String>,
    /// Clerk's Client Trust: a ticket or OAuth sign-in on a new client
    /// comes back `needs_client_trust` (finished on the hosted pages).
    pub client_trust: bool,
}

/// Which factor a reverification asks for (Clerk's levels
/// `first_factor` and `second_factor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReverificationLevel {
    /// A recent first factor.
    #[default]
    FirstFactor,
    /// A recent second factor, for users who have one (others: a recent
    /// first factor; an assumption, see `docs/DESIGN.md`).
    SecondFactor,
}

impl ReverificationLevel {
    /// Clerk's name for the level.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FirstFactor => "first_factor",
            Self::SecondFactor => "second_factor",
        }
    }
}

/// A session task: Clerk holds a new session as `pending` until it is done
/// (the token says `sts: pending`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionTask {
    /// Choose an organization ("force organization selection"): done by
    /// making one active (`touch` with `active_organization_id`).
    ChooseOrganization,
    /// Set a new password: done on the hosted sign-in page.
    ResetPassword,
    /// Set up a second factor: done on the hosted sign-in page.
    SetupMfa,
}

impl SessionTask {
    /// Clerk's key for the task.
    pub fn key(self) -> &'static str {
        match self {
            Self::ChooseOrganization => "choose-organization",
            Self::ResetPassword => "reset-password",
            Self::SetupMfa => "setup-mfa",
        }
    }

    /// The task for Clerk's key.
    pub fn from_key(key: &str) -> Option<Self> {
        [
            Self::ChooseOrganization,
            Self::ResetPassword,
            Self::SetupMfa,
        ]
        .into_iter()
        .find(|t| t.key() == key)
    }
}

/// Which new sessions a task holds: every user's, or one user's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionTaskRule {
    /// The user's email; `None` for everyone.
    pub email: Option<String>,
    /// The task.
    pub task: SessionTask,
}

impl std::str::FromStr for SessionTaskRule {
    type Err = String;

    /// `TASK` or `EMAIL=TASK`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (email, key) = match s.split_once('=') {
            Some((e, k)) => (Some(e.trim().to_owned()), k.trim()),
            None => (None, s.trim()),
        };
        let task = SessionTask::from_key(key).ok_or_else(|| {
            format!(
                "{key:?} is not a session task (choose-organization, reset-password, setup-mfa)"
            )
        })?;
        Ok(Self { email, task })
    }
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            allow_non_loopback: false,
            seed: Seed::demo(),
            data_dir: None,
            token_lifetime: Duration::from_secs(60),
            single_session_mode: None,
            rate_limits: true,
            reverification_minutes: None,
            redirect_allowlist: DEFAULT_REDIRECT_ALLOWLIST
                .iter()
                .map(|s| s.to_string())
                .collect(),
            allow_loopback_redirects: true,
            native_api_enabled: true,
            lifetimes: Lifetimes::default(),
            key_material: None,
            reverification_level: ReverificationLevel::FirstFactor,
            session_tasks: Vec::new(),
            mfa_users: Vec::new(),
            client_trust: false,
        }
    }
}

/// Is `url` an allowed redirect target under this configuration?
pub(crate) fn redirect_allowed(cfg_list: &[String], loopback: bool, url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    if parsed.fragment().is_some() || !parsed.username().is_empty() || parsed.password().is_some() {
        return false;
    }
    // Compare without a query string: Clerk appends its own parameters.
    let bare = match url.split_once('?') {
        Some((b, _)) => b,
        None => url,
    };
    let norm = |s: &str| match s.split_once("://") {
        Some((scheme, rest)) => format!("{}://{rest}", scheme.to_ascii_lowercase()),
        None => s.to_owned(),
    };
    let bare = norm(bare);
    if cfg_list.iter().any(|a| norm(a) == bare) {
        return true;
    }
    loopback
        && parsed.scheme() == "http"
        && parsed.host_str() == Some("127.0.0.1")
        && parsed.port().is_some()
        && parsed.path() == "/callback"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> Vec<String> {
        DEFAULT_REDIRECT_ALLOWLIST
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    #[test]
    fn allowlist_accepts_contract_urls_and_loopback() {
        assert!(redirect_allowed(
            &list(),
            true,
            "dev.latchkey.desktop://callback"
        ));
        assert!(redirect_allowed(
            &list(),
            true,
            "DEV.Latchkey.Desktop://sso-callback"
        ));
        assert!(redirect_allowed(
            &list(),
            true,
            "http://127.0.0.1:49152/callback"
        ));
    }

    #[test]
    fn allowlist_rejects_everything_else() {
        for bad in [
            "dev.latchkey.desktop://evil",
            "dev.latchkey.desktop://callback/x",
            "https://evil.example/callback",
            "http://localhost:4000/callback",
            "http://127.0.0.1/callback",
            "http://127.0.0.1:8080/other",
            "http://u:p@127.0.0.1:8080/callback",
            "dev.latchkey.desktop://callback#frag",
            "not a url",
        ] {
            assert!(
                !redirect_allowed(&list(), true, bad),
                "{bad} must be refused"
            );
        }
        assert!(!redirect_allowed(
            &list(),
            false,
            "http://127.0.0.1:49152/callback"
        ));
    }
}
