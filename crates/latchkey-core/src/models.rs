//! Clerk's Frontend API resources, as much as a session manager reads.
//! Unknown fields are ignored (Clerk adds fields); the fields used here are
//! typed, so a wrong type is a protocol error rather than a panic later.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::types::{ClientId, OrganizationId, SessionId, SignInId, UserId};

/// A Clerk client: this app install's view of its sessions.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Client {
    pub id: ClientId,
    #[serde(default)]
    pub sessions: Vec<Session>,
    pub last_active_session_id: Option<SessionId>,
    #[serde(default)]
    pub created_at: Option<i64>,
    #[serde(default)]
    pub updated_at: Option<i64>,
}

impl Client {
    /// Sessions that count as signed in (`active`, `pending`).
    pub fn signed_in(&self) -> impl Iterator<Item = &Session> {
        self.sessions.iter().filter(|s| s.status.is_signed_in())
    }

    pub fn session(&self, id: &SessionId) -> Option<&Session> {
        self.sessions.iter().find(|s| &s.id == id)
    }
}

/// Session status (Clerk's enum; `Unknown` for values added later).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
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
    #[serde(other)]
    Unknown,
}

impl SessionStatus {
    /// `active` and `pending` are signed in (as clerk-js counts them).
    pub fn is_signed_in(self) -> bool {
        matches!(self, Self::Active | Self::Pending)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct TokenObject {
    pub jwt: String,
}

/// A session as embedded in a client.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Session {
    pub id: SessionId,
    pub status: SessionStatus,
    #[serde(default)]
    pub expire_at: Option<i64>,
    #[serde(default)]
    pub abandon_at: Option<i64>,
    #[serde(default)]
    pub last_active_at: Option<i64>,
    #[serde(default)]
    pub created_at: Option<i64>,
    #[serde(default)]
    pub updated_at: Option<i64>,
    #[serde(default)]
    pub last_active_organization_id: Option<OrganizationId>,
    #[serde(default)]
    pub actor: Option<Value>,
    #[serde(default)]
    pub factor_verification_age: Option<Vec<i64>>,
    #[serde(default)]
    pub user: Option<User>,
    #[serde(default)]
    pub public_user_data: Option<PublicUserData>,
    /// Not kept: the engine takes tokens from the token endpoint. Parsed so
    /// a session-shaped answer with one still deserialises.
    #[serde(default, skip_serializing)]
    pub last_active_token: Option<TokenObject>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct PublicUserData {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    #[serde(default)]
    pub image_url: Option<String>,
    pub identifier: String,
    #[serde(default)]
    pub user_id: Option<UserId>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct EmailAddress {
    pub id: String,
    pub email_address: String,
}

/// The parts of a Clerk user Latchkey shows.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct User {
    pub id: UserId,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub image_url: Option<String>,
    #[serde(default)]
    pub primary_email_address_id: Option<String>,
    #[serde(default)]
    pub email_addresses: Vec<EmailAddress>,
    #[serde(default)]
    pub organization_memberships: Vec<OrganizationMembership>,
}

impl User {
    /// The primary email address, else the first one.
    pub fn primary_email(&self) -> Option<&str> {
        self.email_addresses
            .iter()
            .find(|e| Some(&e.id) == self.primary_email_address_id.as_ref())
            .or_else(|| self.email_addresses.first())
            .map(|e| e.email_address.as_str())
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Organization {
    pub id: OrganizationId,
    pub name: String,
    pub slug: Option<String>,
    #[serde(default)]
    pub image_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct OrganizationMembership {
    pub id: String,
    pub role: String,
    #[serde(default)]
    pub role_name: Option<String>,
    #[serde(default)]
    pub permissions: Option<Vec<String>>,
    pub organization: Organization,
    #[serde(default)]
    pub public_user_data: Option<PublicUserData>,
}

/// `latest_activity` of a session: the device behind it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
pub struct SessionActivity {
    #[serde(default)]
    pub device_type: Option<String>,
    #[serde(default)]
    pub is_mobile: bool,
    #[serde(default)]
    pub browser_name: Option<String>,
    #[serde(default)]
    pub browser_version: Option<String>,
    #[serde(default)]
    pub ip_address: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
}

/// A session with its device (`/v1/me/sessions/active`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct SessionWithActivities {
    pub id: SessionId,
    pub status: SessionStatus,
    #[serde(default)]
    pub last_active_at: Option<i64>,
    #[serde(default)]
    pub expire_at: Option<i64>,
    #[serde(default)]
    pub abandon_at: Option<i64>,
    #[serde(default)]
    pub actor: Option<Value>,
    #[serde(default)]
    pub latest_activity: Option<SessionActivity>,
}

/// A sign-in attempt.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct SignIn {
    pub id: SignInId,
    pub status: String,
    #[serde(default)]
    pub created_session_id: Option<SessionId>,
    #[serde(default)]
    pub first_factor_verification: Option<Verification>,
    #[serde(default)]
    pub identifier: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Verification {
    pub status: String,
    #[serde(default)]
    pub strategy: Option<String>,
    #[serde(default)]
    pub external_verification_redirect_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct SignUp {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub created_session_id: Option<SessionId>,
    #[serde(default)]
    pub created_user_id: Option<UserId>,
}

/// The instance settings Latchkey needs.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Environment {
    pub auth_config: AuthConfig,
    pub display_config: DisplayConfig,
    #[serde(default)]
    pub user_settings: Option<UserSettings>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct AuthConfig {
    #[serde(default)]
    pub single_session_mode: bool,
    #[serde(default)]
    pub native_settings: Option<NativeSettings>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct NativeSettings {
    #[serde(default)]
    pub api_enabled: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct DisplayConfig {
    pub application_name: String,
    #[serde(default)]
    pub instance_environment_type: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct UserSettings {
    #[serde(default)]
    pub social: std::collections::BTreeMap<String, SocialProvider>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct SocialProvider {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub authenticatable: bool,
    pub strategy: String,
    #[serde(default)]
    pub name: Option<String>,
}

impl Environment {
    /// Enabled OAuth strategies that can sign in (`oauth_google`, …).
    pub fn sign_in_providers(&self) -> Vec<&SocialProvider> {
        self.user_settings
            .as_ref()
            .map(|u| {
                u.social
                    .values()
                    .filter(|p| p.enabled && p.authenticatable)
                    .collect()
            })
            .unwrap_or_default()
    }
}
