//! The emulator's data model: what a Clerk instance stores.
//!
//! These are storage records, not wire shapes: `render.rs` turns them into
//! Clerk's JSON. All timestamps are Unix milliseconds of the emulator clock.
//! Everything here is `Serialize`/`Deserialize` so `--data-dir` can persist
//! it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A user of the instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub username: Option<String>,
    pub email: String,
    pub email_id: String,
    /// Plain text: this is a local demo server with made-up users.
    pub password: Option<String>,
    /// Avatar background colour (`#rrggbb`).
    pub avatar_color: String,
    pub external_accounts: Vec<ExternalAccount>,
    pub public_metadata: Value,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_sign_in_at: Option<i64>,
    pub last_active_at: Option<i64>,
    /// A second factor is set up (TOTP; the emulator's code is Clerk's test
    /// code `424242`).
    #[serde(default)]
    pub mfa: bool,
    /// Session tasks this user has done (`reset-password`, `setup-mfa`):
    /// later sessions are not held for them.
    #[serde(default)]
    pub tasks_done: Vec<String>,
}

impl User {
    pub fn display_name(&self) -> String {
        let full = format!(
            "{} {}",
            self.first_name.as_deref().unwrap_or(""),
            self.last_name.as_deref().unwrap_or("")
        );
        let full = full.trim();
        if full.is_empty() {
            self.email.clone()
        } else {
            full.to_owned()
        }
    }

    pub fn initials(&self) -> String {
        let f = self.first_name.as_deref().and_then(|s| s.chars().next());
        let l = self.last_name.as_deref().and_then(|s| s.chars().next());
        match (f, l) {
            (Some(f), Some(l)) => format!("{f}{l}"),
            (Some(f), None) => f.to_string(),
            _ => self
                .email
                .chars()
                .next()
                .map(|c| c.to_uppercase().to_string())
                .unwrap_or_default(),
        }
    }
}

/// A linked OAuth account (`oauth_google`, `oauth_github`, …).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExternalAccount {
    pub id: String,
    pub identification_id: String,
    /// `google`, `github`, … (without the `oauth_` prefix).
    pub provider: String,
    pub provider_user_id: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Organization {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Membership {
    pub id: String,
    pub org_id: String,
    pub user_id: String,
    /// Full role key, e.g. `org:admin`.
    pub role: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An organization role and its permissions (`org:<feature>:<action>`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Role {
    pub key: String,
    pub name: String,
    pub permissions: Vec<String>,
}

/// A Clerk client: one browser or one native app install ("device").
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Client {
    pub id: String,
    /// Changes on every completed sign-in; a credential carrying an older
    /// value no longer identifies this client (anti session fixation).
    pub rotating_token: String,
    pub last_active_session_id: Option<String>,
    pub sign_in_id: Option<String>,
    pub sign_up_id: Option<String>,
    pub last_authentication_strategy: Option<String>,
    /// `DELETE /v1/client` ends the client; its credential stops working.
    pub ended: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Clerk's session statuses (FAPI spec enum plus `replaced`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Active,
    Pending,
    Ended,
    Removed,
    Revoked,
    Expired,
    Abandoned,
    Replaced,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Pending => "pending",
            Self::Ended => "ended",
            Self::Removed => "removed",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::Abandoned => "abandoned",
            Self::Replaced => "replaced",
        }
    }

    /// `active` and `pending` count as signed in (clerk-js `signedInSessions`).
    pub fn is_signed_in(self) -> bool {
        matches!(self, Self::Active | Self::Pending)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    pub client_id: String,
    pub user_id: String,
    pub status: SessionStatus,
    pub last_active_org_id: Option<String>,
    pub actor: Option<Value>,
    pub tasks: Option<Vec<String>>,
    /// When the first factor was verified (for `fva` and reverification).
    pub first_factor_at: i64,
    pub second_factor_at: Option<i64>,
    pub user_agent: Option<String>,
    pub ip_address: Option<String>,
    pub expire_at: i64,
    pub abandon_at: i64,
    pub last_active_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// The last minted session token, reused as `last_active_token` while it
    /// has at least half its life left (minting RS256 on every read of the
    /// client would make `GET /v1/client` cost one signature per session).
    #[serde(skip)]
    pub token_cache: Option<CachedToken>,
}

#[derive(Debug, Clone)]
pub struct CachedToken {
    pub jwt: String,
    pub iat: i64,
    pub exp: i64,
}

/// State of an external (OAuth) verification on a sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExternalStatus {
    Unverified,
    Verified,
    Transferable,
    Failed,
}

/// A single-use `rotating_token_nonce`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Nonce {
    pub value: String,
    pub expires_at: i64,
    pub used: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignIn {
    pub id: String,
    pub client_id: String,
    /// `needs_identifier`, `needs_first_factor`, `complete`, …
    pub status: String,
    pub strategy: Option<String>,
    pub identifier: Option<String>,
    pub user_id: Option<String>,
    pub redirect_url: Option<String>,
    pub external_status: Option<ExternalStatus>,
    pub external_error: Option<String>,
    /// For a transfer to sign-up: the profile the provider returned.
    pub transfer_profile: Option<ProviderProfile>,
    pub nonce: Option<Nonce>,
    pub first_factor_verified: bool,
    pub created_session_id: Option<String>,
    pub abandon_at: i64,
    pub created_at: i64,
}

/// What the fake OAuth provider says about a person.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProviderProfile {
    pub provider: String,
    pub provider_user_id: String,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignUp {
    pub id: String,
    pub client_id: String,
    pub status: String,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub password: Option<String>,
    pub email_verified: bool,
    pub transfer_profile: Option<ProviderProfile>,
    pub created_session_id: Option<String>,
    pub created_user_id: Option<String>,
    pub abandon_at: i64,
    pub created_at: i64,
}

/// A hosted-auth attempt: PKCE challenge, state and redirect, bound to the
/// client that started it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostedAuth {
    pub id: String,
    pub client_id: String,
    pub code_challenge: String,
    pub state: String,
    pub redirect_url: String,
    pub mode: String,
    pub expires_at: i64,
    /// Pre-allocated so the callback can carry `created_session_id`.
    pub session_id: String,
    pub user_id: Option<String>,
    pub nonce: Option<Nonce>,
    pub failures: u32,
    pub created_at: i64,
    /// The user chosen on the page, while it still asks for a second factor
    /// or a task.
    #[serde(default)]
    pub chosen_user: Option<String>,
    /// When the second factor was verified on the page.
    #[serde(default)]
    pub second_factor_at: Option<i64>,
}

/// A Backend API sign-in token (the ticket strategy).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignInToken {
    pub id: String,
    pub user_id: String,
    pub token: String,
    /// `pending`, `accepted` or `revoked`.
    pub status: String,
    pub expires_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A JWT template: extra claims and a lifetime.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JwtTemplate {
    pub lifetime: i64,
    pub claims: serde_json::Map<String, Value>,
}

/// City and country for an IP address (the emulator's stand-in for GeoIP).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Location {
    pub city: String,
    pub country: String,
}
