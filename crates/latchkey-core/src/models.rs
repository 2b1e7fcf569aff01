//! Clerk's Frontend API resources, as much as a session manager reads.
//!
//! Parsing is tolerant where Clerk may change and strict where Latchkey
//! depends on the data: unknown fields are ignored (Clerk adds fields), an
//! unknown enum value is kept as `Unknown` (and shown as such), a missing or
//! `null` optional field is its default (`None`, empty, `false`). Only the
//! data Latchkey cannot do without (ids, a session's status, a token's JWT)
//! is required; a wrong type there is a protocol error naming the JSON path
//! (`fapi::http::decode`), never a panic and never a sign-out.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::types::{ClientId, OrganizationId, SessionId, SignInId, UserId};

/// The entries of a providers object that parse as providers.
fn providers<'de, D>(d: D) -> Result<std::collections::BTreeMap<String, SocialProvider>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let raw: Option<std::collections::BTreeMap<String, Value>> = Option::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| Some((k, serde_json::from_value(v).ok()?)))
        .collect())
}

/// `null` (or a missing field, with `#[serde(default)]`) as the type's
/// default: Clerk sends `null` for some lists and flags the spec types as
/// plain arrays and booleans.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A Clerk client: this app install's view of its sessions.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Client {
    /// `client_…`
    pub id: ClientId,
    /// Every session this client lists (any status; see [`Client::signed_in`]).
    #[serde(default, deserialize_with = "null_as_default")]
    pub sessions: Vec<Session>,
    /// The client's current session, if signed in.
    pub last_active_session_id: Option<SessionId>,
    /// Unix milliseconds.
    #[serde(default)]
    pub created_at: Option<i64>,
    /// Unix milliseconds.
    #[serde(default)]
    pub updated_at: Option<i64>,
}

impl Client {
    /// Sessions that count as signed in (`active`, `pending`).
    pub fn signed_in(&self) -> impl Iterator<Item = &Session> {
        self.sessions.iter().filter(|s| s.status.is_signed_in())
    }

    /// Sessions that are accounts here: signed in, or of a status this
    /// version does not know (kept, never signed out for it).
    pub fn accounts(&self) -> impl Iterator<Item = &Session> {
        self.sessions.iter().filter(|s| !s.status.is_ended())
    }

    /// A session of this client by id (any status).
    pub fn session(&self, id: &SessionId) -> Option<&Session> {
        self.sessions.iter().find(|s| &s.id == id)
    }
}

/// Session status (Clerk's enum; `Unknown` for values added later).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// Signed in.
    Active,
    /// Signed in, with tasks to finish (`tasks`, the token's `sts`).
    Pending,
    /// Signed out, still listed on its client.
    Ended,
    /// Signed out and taken off its client.
    Removed,
    /// Ended by the application or from another device.
    Revoked,
    /// Past its maximum lifetime.
    Expired,
    /// Past its inactivity timeout.
    Abandoned,
    /// Replaced by another session.
    Replaced,
    /// A status this version does not know.
    #[serde(other)]
    Unknown,
}

impl SessionStatus {
    /// `active` and `pending` are signed in (as clerk-js counts them).
    pub fn is_signed_in(self) -> bool {
        matches!(self, Self::Active | Self::Pending)
    }

    /// Over for good: signed out, revoked, expired, replaced. An `Unknown`
    /// status is not: a status Clerk adds later must not sign anyone out
    /// here; the account is kept and shown as "unknown".
    pub fn is_ended(self) -> bool {
        matches!(
            self,
            Self::Ended
                | Self::Removed
                | Self::Revoked
                | Self::Expired
                | Self::Abandoned
                | Self::Replaced
        )
    }
}

/// A session task: Clerk holds a new session as `pending` until it is done
/// (the token says `sts: pending`). Keys Latchkey does not know are kept as
/// [`SessionTask::Unknown`] and finished in the browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SessionTask {
    /// Choose an organization (the instance requires one to be active).
    ChooseOrganization,
    /// Set a new password.
    ResetPassword,
    /// Set up a second factor.
    SetupMfa,
    /// A task this version does not know.
    #[serde(other)]
    Unknown,
}

impl SessionTask {
    /// What the user has to do, in words ("choose an organization").
    pub fn in_words(self) -> &'static str {
        match self {
            Self::ChooseOrganization => "choose an organization",
            Self::ResetPassword => "set a new password",
            Self::SetupMfa => "set up two-step verification",
            Self::Unknown => "a step this version of Latchkey does not know",
        }
    }

    /// Done in the app (choosing an organization), not in the browser.
    pub fn done_in_app(self) -> bool {
        self == Self::ChooseOrganization
    }
}

/// `{"key": "choose-organization"}`, as a session lists its tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub struct TaskRef {
    /// The task.
    pub key: SessionTask,
}

/// `{"object":"token","jwt"}`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct TokenObject {
    /// The compact JWT.
    pub jwt: String,
}

/// A session as embedded in a client.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Session {
    /// `sess_…`
    pub id: SessionId,
    /// Signed in while `active` or `pending`.
    pub status: SessionStatus,
    /// Hard end (maximum lifetime), Unix ms.
    #[serde(default)]
    pub expire_at: Option<i64>,
    /// Inactivity cut-off, Unix ms.
    #[serde(default)]
    pub abandon_at: Option<i64>,
    /// Unix ms.
    #[serde(default)]
    pub last_active_at: Option<i64>,
    /// Unix ms.
    #[serde(default)]
    pub created_at: Option<i64>,
    /// Unix ms.
    #[serde(default)]
    pub updated_at: Option<i64>,
    /// The session's active organization (`None`: personal account).
    #[serde(default)]
    pub last_active_organization_id: Option<OrganizationId>,
    /// Who is acting, when impersonated (`{sub, …}`).
    #[serde(default)]
    pub actor: Option<Value>,
    /// The tasks a `pending` session waits for (`null` otherwise).
    #[serde(default, deserialize_with = "null_as_default")]
    pub tasks: Vec<TaskRef>,
    /// Minutes since the first and second factor (`-1`: never).
    #[serde(default)]
    pub factor_verification_age: Option<Vec<i64>>,
    /// The full user (on this client's sessions).
    #[serde(default)]
    pub user: Option<User>,
    /// Name, avatar and identifier (where the full user is absent).
    #[serde(default)]
    pub public_user_data: Option<PublicUserData>,
    /// Not kept: the engine takes tokens from the token endpoint. Parsed so
    /// a session-shaped answer with one still deserialises.
    #[serde(default, skip_serializing)]
    pub last_active_token: Option<TokenObject>,
}

/// What a session or membership shows of its user.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct PublicUserData {
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Avatar URL.
    #[serde(default)]
    pub image_url: Option<String>,
    /// What they signed in with (an email address, usually).
    pub identifier: String,
    /// `user_…`
    #[serde(default)]
    pub user_id: Option<UserId>,
}

/// One of a user's email addresses.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct EmailAddress {
    /// `idn_…`
    pub id: String,
    /// The address.
    pub email_address: String,
}

/// The parts of a Clerk user Latchkey shows.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct User {
    /// `user_…`
    pub id: UserId,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Username, if the instance uses them.
    #[serde(default)]
    pub username: Option<String>,
    /// Avatar URL.
    #[serde(default)]
    pub image_url: Option<String>,
    /// Which of `email_addresses` is primary.
    #[serde(default)]
    pub primary_email_address_id: Option<String>,
    /// Every address.
    #[serde(default, deserialize_with = "null_as_default")]
    pub email_addresses: Vec<EmailAddress>,
    /// Organizations the user belongs to.
    #[serde(default, deserialize_with = "null_as_default")]
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

/// An organization.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Organization {
    /// `org_…`
    pub id: OrganizationId,
    /// Its name.
    pub name: String,
    /// Its slug.
    pub slug: Option<String>,
    /// Logo URL.
    #[serde(default)]
    pub image_url: Option<String>,
}

/// A user's membership of an organization.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct OrganizationMembership {
    /// `orgmem_…`
    pub id: String,
    /// The role key (`org:admin`).
    pub role: String,
    /// The role's display name.
    #[serde(default)]
    pub role_name: Option<String>,
    /// The role's permissions (`org:<feature>:<action>`).
    #[serde(default)]
    pub permissions: Option<Vec<String>>,
    /// The organization.
    pub organization: Organization,
    /// The member (in member lists).
    #[serde(default)]
    pub public_user_data: Option<PublicUserData>,
}

/// `latest_activity` of a session: the device behind it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
pub struct SessionActivity {
    /// What Clerk calls the device (`Macintosh`, `iPhone`, …).
    #[serde(default)]
    pub device_type: Option<String>,
    /// A phone or tablet.
    #[serde(default, deserialize_with = "null_as_default")]
    pub is_mobile: bool,
    /// Browser name.
    #[serde(default)]
    pub browser_name: Option<String>,
    /// Browser version.
    #[serde(default)]
    pub browser_version: Option<String>,
    /// The address it was last seen from.
    #[serde(default)]
    pub ip_address: Option<String>,
    /// City, from the address.
    #[serde(default)]
    pub city: Option<String>,
    /// Country code, from the address.
    #[serde(default)]
    pub country: Option<String>,
}

/// A session with its device (`/v1/me/sessions/active`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct SessionWithActivities {
    /// `sess_…`
    pub id: SessionId,
    /// Its status.
    pub status: SessionStatus,
    /// Unix ms.
    #[serde(default)]
    pub last_active_at: Option<i64>,
    /// Unix ms.
    #[serde(default)]
    pub expire_at: Option<i64>,
    /// Unix ms.
    #[serde(default)]
    pub abandon_at: Option<i64>,
    /// Who is acting, when impersonated.
    #[serde(default)]
    pub actor: Option<Value>,
    /// The device behind it.
    #[serde(default)]
    pub latest_activity: Option<SessionActivity>,
}

/// A sign-in attempt.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct SignIn {
    /// `sia_…`
    pub id: SignInId,
    /// `needs_identifier`, `needs_first_factor`, `needs_second_factor`, `needs_client_trust`, `complete`, …
    pub status: String,
    /// The session it created, once complete.
    #[serde(default)]
    pub created_session_id: Option<SessionId>,
    /// The first factor's state (for OAuth: the URL to open).
    #[serde(default)]
    pub first_factor_verification: Option<Verification>,
    /// The identifier it is for.
    #[serde(default)]
    pub identifier: Option<String>,
}

/// A factor's verification.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Verification {
    /// `unverified`, `verified`, `transferable`, `failed`, …
    pub status: String,
    /// `oauth_google`, `ticket`, `password`, …
    #[serde(default)]
    pub strategy: Option<String>,
    /// For OAuth: the provider page to open.
    #[serde(default)]
    pub external_verification_redirect_url: Option<String>,
}

/// A sign-up attempt (the OAuth transfer).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct SignUp {
    /// `sua_…`
    pub id: String,
    /// `missing_requirements`, `complete`, …
    pub status: String,
    /// The session it created, once complete.
    #[serde(default)]
    pub created_session_id: Option<SessionId>,
    /// The user it created, once complete.
    #[serde(default)]
    pub created_user_id: Option<UserId>,
}

/// The instance settings Latchkey needs. Every part is optional in Clerk's
/// spec, so each has a default.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct Environment {
    /// Sign-in settings.
    #[serde(default, deserialize_with = "null_as_default")]
    pub auth_config: AuthConfig,
    /// Names and URLs.
    #[serde(default, deserialize_with = "null_as_default")]
    pub display_config: DisplayConfig,
    /// Which sign-in methods are on.
    #[serde(default)]
    pub user_settings: Option<UserSettings>,
}

/// The instance's sign-in settings Latchkey reads.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct AuthConfig {
    /// One account per client (no multi-session).
    #[serde(default, deserialize_with = "null_as_default")]
    pub single_session_mode: bool,
    /// The Dashboard's Native API switch.
    #[serde(default)]
    pub native_settings: Option<NativeSettings>,
    /// Sensitive actions need a recent verification (step-up).
    #[serde(default, deserialize_with = "null_as_default")]
    pub reverification: bool,
}

/// Native applications settings.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct NativeSettings {
    /// The Frontend API accepts native (non-browser) clients.
    #[serde(default, deserialize_with = "null_as_default")]
    pub api_enabled: bool,
}

/// How the instance presents itself.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct DisplayConfig {
    /// The application's name (empty when Clerk sent none: use
    /// [`Environment::application_name`]).
    #[serde(default, deserialize_with = "null_as_default")]
    pub application_name: String,
    /// `development` or `production`.
    #[serde(default)]
    pub instance_environment_type: Option<String>,
}

/// Sign-in methods.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct UserSettings {
    /// Social providers by strategy (`oauth_google`, …). An entry that is
    /// not a provider's shape (a field a later Clerk adds here) is left out,
    /// never a reason to refuse the whole environment.
    #[serde(default, deserialize_with = "providers")]
    pub social: std::collections::BTreeMap<String, SocialProvider>,
    /// Identifiers and factors (`email_address`, `password`, …), the ones
    /// that parse.
    #[serde(default, deserialize_with = "attributes")]
    pub attributes: std::collections::BTreeMap<String, Attribute>,
}

/// One user attribute: an identifier or a factor.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct Attribute {
    /// Switched on.
    #[serde(default, deserialize_with = "null_as_default")]
    pub enabled: bool,
    /// Usable to sign in with.
    #[serde(default, deserialize_with = "null_as_default")]
    pub used_for_first_factor: bool,
    /// Usable as a second factor.
    #[serde(default, deserialize_with = "null_as_default")]
    pub used_for_second_factor: bool,
}

/// The entries of an attributes object that parse as attributes.
fn attributes<'de, D>(d: D) -> Result<std::collections::BTreeMap<String, Attribute>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let raw: Option<std::collections::BTreeMap<String, Value>> = Option::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| Some((k, serde_json::from_value(v).ok()?)))
        .collect())
}

/// A social sign-in provider.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct SocialProvider {
    /// Switched on.
    #[serde(default, deserialize_with = "null_as_default")]
    pub enabled: bool,
    /// Usable to sign in (not only to connect).
    #[serde(default, deserialize_with = "null_as_default")]
    pub authenticatable: bool,
    /// `oauth_google`, …
    pub strategy: String,
    /// Its display name.
    #[serde(default)]
    pub name: Option<String>,
}

impl Environment {
    /// The application's name, if Clerk sent one.
    pub fn application_name(&self) -> Option<&str> {
        Some(self.display_config.application_name.trim()).filter(|n| !n.is_empty())
    }

    /// Attributes that are on and sign a user in (first factor), and those
    /// usable as a second factor.
    pub fn factors(&self) -> (Vec<&str>, Vec<&str>) {
        let attrs = self.user_settings.as_ref().map(|u| &u.attributes);
        let pick = |f: fn(&Attribute) -> bool| -> Vec<&str> {
            attrs
                .map(|a| {
                    a.iter()
                        .filter(|(_, v)| v.enabled && f(v))
                        .map(|(k, _)| k.as_str())
                        .collect()
                })
                .unwrap_or_default()
        };
        (
            pick(|a| a.used_for_first_factor),
            pick(|a| a.used_for_second_factor),
        )
    }

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
