//! What the webview sees: display data only (docs/contracts.md, "What the
//! webview may see"). Every type here is generated to TypeScript
//! (`ui/src/bindings/ipc.ts`); none can hold a credential, token, ticket
//! or verifier, because none is built from one.

use latchkey_core::engine::{
    Account, AccountRef, Device, EverywhereOutcome, Guarded, HandoffPreview, Retried,
    RevokeOutcome, SessionDetails, StorageState,
};
use latchkey_core::models::{OrganizationMembership, SessionStatus, SessionTask};
use latchkey_core::{Instance, InstanceKind, SessionId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use ts_rs::TS;

use crate::error::IpcError;

/// Which account: the instance and the session on this device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AccountKey {
    pub instance_id: String,
    pub session_id: String,
}

impl From<&AccountRef> for AccountKey {
    fn from(a: &AccountRef) -> Self {
        Self {
            instance_id: a.instance_id.clone(),
            session_id: a.session_id.to_string(),
        }
    }
}

impl From<&AccountKey> for AccountRef {
    fn from(k: &AccountKey) -> Self {
        AccountRef {
            instance_id: k.instance_id.clone(),
            session_id: SessionId(k.session_id.clone()),
        }
    }
}

/// The kind of instance, as the UI labels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum InstanceKindView {
    Clerk,
    LocalDemo,
}

#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct InstanceView {
    pub id: String,
    pub kind: InstanceKindView,
    /// The application name (from the environment) or the host.
    pub name: String,
    pub frontend_api: String,
}

impl InstanceView {
    pub fn new(i: &Instance, app_name: Option<String>) -> Self {
        let host = i.frontend_api().host_str().unwrap_or_default().to_owned();
        Self {
            id: i.id().to_owned(),
            kind: match i.kind() {
                InstanceKind::Clerk => InstanceKindView::Clerk,
                InstanceKind::LocalDemo => InstanceKindView::LocalDemo,
            },
            name: app_name.unwrap_or(host),
            frontend_api: i.frontend_api().to_string(),
        }
    }
}

/// One account on this device.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AccountView {
    pub key: AccountKey,
    #[ts(optional = nullable)]
    pub user_id: Option<String>,
    pub name: String,
    #[ts(optional = nullable)]
    pub email: Option<String>,
    pub initials: String,
    /// A `data:` URL fetched by Rust (size-capped), or none: show initials.
    #[ts(optional = nullable)]
    pub avatar: Option<String>,
    pub active: bool,
    pub status: SessionStatusView,
    /// What a `pending` session has left to do (empty otherwise).
    pub tasks: Vec<SessionTaskView>,
    pub signed_in: bool,
    #[ts(optional = nullable)]
    pub active_org_id: Option<String>,
    pub instance_name: String,
    pub instance_kind: InstanceKindView,
    /// Why the account's details could not be refreshed (an answer that did
    /// not parse, say); it is kept meanwhile.
    #[ts(optional = nullable)]
    pub problem: Option<String>,
    /// Known from the last run, its saved sign-in waiting for secure
    /// storage (a locked keyring): listed, not usable yet.
    pub locked: bool,
}

/// A session's status (Clerk's enum; `unknown` for a value Clerk added
/// later).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatusView {
    Active,
    Pending,
    Ended,
    Removed,
    Revoked,
    Expired,
    Abandoned,
    Replaced,
    Unknown,
}

impl From<SessionStatus> for SessionStatusView {
    fn from(s: SessionStatus) -> Self {
        match s {
            SessionStatus::Active => Self::Active,
            SessionStatus::Pending => Self::Pending,
            SessionStatus::Ended => Self::Ended,
            SessionStatus::Removed => Self::Removed,
            SessionStatus::Revoked => Self::Revoked,
            SessionStatus::Expired => Self::Expired,
            SessionStatus::Abandoned => Self::Abandoned,
            SessionStatus::Replaced => Self::Replaced,
            SessionStatus::Unknown => Self::Unknown,
        }
    }
}

/// A session task (Clerk's `tasks[].key`; `unknown` for one added later).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum SessionTaskView {
    /// Done here: pick an organization.
    ChooseOrganization,
    /// Done in the browser.
    ResetPassword,
    /// Done in the browser.
    SetupMfa,
    /// Done in the browser.
    Unknown,
}

impl From<SessionTask> for SessionTaskView {
    fn from(t: SessionTask) -> Self {
        match t {
            SessionTask::ChooseOrganization => Self::ChooseOrganization,
            SessionTask::ResetPassword => Self::ResetPassword,
            SessionTask::SetupMfa => Self::SetupMfa,
            SessionTask::Unknown => Self::Unknown,
        }
    }
}

pub fn initials(name: &str, email: Option<&str>) -> String {
    let mut out: String = name
        .split_whitespace()
        .filter_map(|w| w.chars().find(|c| c.is_alphanumeric()))
        .take(2)
        .flat_map(char::to_uppercase)
        .collect();
    if out.is_empty() {
        out = email
            .and_then(|e| e.chars().find(|c| c.is_alphanumeric()))
            .map(|c| c.to_uppercase().collect())
            .unwrap_or_else(|| "?".into());
    }
    out
}

impl AccountView {
    pub fn new(a: &Account, avatar: Option<String>) -> Self {
        Self {
            key: (&a.account).into(),
            user_id: a.user_id.as_ref().map(ToString::to_string),
            name: a.name.clone(),
            email: a.email.clone(),
            initials: initials(&a.name, a.email.as_deref()),
            avatar,
            active: a.active,
            status: a.status.into(),
            tasks: a.tasks.iter().map(|t| (*t).into()).collect(),
            signed_in: !a.status.is_ended(),
            active_org_id: a.active_organization.as_ref().map(ToString::to_string),
            instance_name: a.instance_name.clone(),
            instance_kind: match a.instance_kind {
                InstanceKind::Clerk => InstanceKindView::Clerk,
                InstanceKind::LocalDemo => InstanceKindView::LocalDemo,
            },
            problem: a.problem.clone(),
            locked: false,
        }
    }
}

/// Whether secrets are kept in secure storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum StorageStateView {
    /// Not known yet (the engine is starting).
    Unknown,
    Secure,
    /// No secure storage: signed in for this run only.
    Unavailable,
    /// The last save failed; it is retried.
    SaveFailed,
}

/// Secure storage, for the status bar.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct StorageView {
    pub state: StorageStateView,
    /// The backend (`Secret Service`, …) or the reason it failed.
    pub detail: String,
    pub locked: bool,
    /// The saved accounts could not be read yet: the ones listed (from the
    /// display cache) wait for secure storage and cannot be used until then.
    pub accounts_waiting: bool,
}

impl From<&StorageState> for StorageView {
    fn from(s: &StorageState) -> Self {
        match s {
            StorageState::Secure { backend } => Self {
                state: StorageStateView::Secure,
                detail: backend.clone(),
                locked: false,
                accounts_waiting: false,
            },
            StorageState::Unavailable { reason, locked } => Self {
                state: StorageStateView::Unavailable,
                detail: reason.clone(),
                locked: *locked,
                accounts_waiting: false,
            },
            StorageState::SaveFailed { reason, locked } => Self {
                state: StorageStateView::SaveFailed,
                detail: reason.clone(),
                locked: *locked,
                accounts_waiting: false,
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct StatusView {
    pub online: bool,
    #[ts(optional = nullable)]
    pub last_refresh_ms: Option<i64>,
    pub storage: StorageView,
    /// Clerk's clock minus ours, seconds.
    pub clock_skew_secs: i64,
}

/// A sign-in waiting for the browser.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SignInView {
    pub instance_id: String,
    /// `oauth_google`, … or none for "Continue in browser".
    #[ts(optional = nullable)]
    pub strategy: Option<String>,
    /// The page the browser opened: no secret in it, safe to show and copy.
    pub url: String,
    pub started_at_ms: i64,
    pub expires_at_ms: i64,
    pub browser_opened: bool,
    /// The callback comes to a one-time loopback address, not the app link.
    pub loopback: bool,
    /// Set when an account is signed in again (to finish a pending
    /// session, or to verify before an action).
    #[ts(optional = nullable)]
    pub reverify: Option<ReverifyView>,
    /// Why this sign-in continues in the browser, when an earlier step
    /// stopped short (a second factor, trust in a new device).
    #[ts(optional = nullable)]
    pub notice: Option<String>,
}

/// Why an account is signed in again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ReverifyKind {
    /// Its session is pending with tasks done in the browser.
    FinishSignIn,
    /// The instance wants a recent verification before an action.
    StepUp,
}

/// The account a sign-in verifies again.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ReverifyView {
    pub kind: ReverifyKind,
    pub key: AccountKey,
    pub name: String,
    #[ts(optional = nullable)]
    pub email: Option<String>,
}

/// An action the instance may guard with reverification, retried once
/// after "Verify again in your browser".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(
    tag = "kind",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum GuardedView {
    Revoke { session_id: String },
    SignOutOtherDevices,
    SignOutEverywhere { force: bool },
}

impl From<&GuardedView> for Guarded {
    fn from(g: &GuardedView) -> Self {
        match g {
            GuardedView::Revoke { session_id } => Guarded::Revoke(SessionId(session_id.clone())),
            GuardedView::SignOutOtherDevices => Guarded::SignOutOtherDevices,
            GuardedView::SignOutEverywhere { force } => {
                Guarded::SignOutEverywhere { force: *force }
            }
        }
    }
}

/// How the guarded action went when retried after verifying again.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RetriedView {
    /// Per session (revoke, sign out other devices).
    pub revoked: Vec<RevokeView>,
    /// "Sign out everywhere".
    #[ts(optional = nullable)]
    pub everywhere: Option<EverywhereView>,
    /// The retry failed as a whole.
    #[ts(optional = nullable)]
    pub error: Option<IpcError>,
}

impl From<&Retried> for RetriedView {
    fn from(r: &Retried) -> Self {
        let mut v = Self {
            revoked: vec![],
            everywhere: None,
            error: None,
        };
        match r {
            Retried::Revoke {
                session_id,
                outcome,
            } => v.revoked.push(RevokeView::new(session_id, outcome)),
            Retried::OtherDevices(list) => {
                v.revoked = list
                    .iter()
                    .map(|x| RevokeView::new(&x.session_id, &x.outcome))
                    .collect();
            }
            Retried::Everywhere(e) => v.everywhere = Some(e.into()),
            Retried::Failed { kind, message } => {
                v.error = Some(latchkey_core::Error::new(kind.clone(), message.clone()).into());
            }
        }
        v
    }
}

/// A handoff link waiting for the user's answer: whose account it adds
/// (the link was redeemed into quarantine to find out).
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct HandoffView {
    pub instance_id: String,
    pub instance_name: String,
    #[ts(optional = nullable)]
    pub name: Option<String>,
    #[ts(optional = nullable)]
    pub email: Option<String>,
    /// No account was active: this one will be.
    pub becomes_active: bool,
    /// That user is signed in here already: Continue switches to them.
    pub already_signed_in: bool,
    /// The link needs more than it gives (what Clerk asked for, in words):
    /// Continue goes on in the browser.
    #[ts(optional = nullable)]
    pub needs: Option<String>,
    pub received_at_ms: i64,
}

impl HandoffView {
    pub fn new(p: &HandoffPreview, received_at_ms: i64) -> Self {
        Self {
            instance_id: p.instance_id.clone(),
            instance_name: p.instance_name.clone(),
            name: p.name.clone(),
            email: p.email.clone(),
            becomes_active: p.becomes_active,
            already_signed_in: p.already_signed_in,
            needs: p.needs.as_ref().map(|m| m.in_words().to_owned()),
            received_at_ms,
        }
    }
}

/// Everything the window shows at load, and after any change.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// False while the engine starts (or if it could not: see `startupError`).
    pub ready: bool,
    #[ts(optional = nullable)]
    pub startup_error: Option<IpcError>,
    pub instances: Vec<InstanceView>,
    pub accounts: Vec<AccountView>,
    #[ts(optional = nullable)]
    pub active: Option<AccountKey>,
    pub status: StatusView,
    #[ts(optional = nullable)]
    pub sign_in: Option<SignInView>,
    #[ts(optional = nullable)]
    pub handoff: Option<HandoffView>,
    pub version: String,
    /// Data files this run could not use (written by a newer version of
    /// Latchkey — left as they are — or broken), in words.
    pub data_problems: Vec<String>,
    /// Nobody has signed in here yet and the first-run screen was not
    /// answered: show it.
    pub first_run: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ProviderView {
    pub strategy: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SignInOptions {
    pub instance: InstanceView,
    pub providers: Vec<ProviderView>,
}

/// What a confirmed handoff did.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct HandoffDone {
    /// The account the link added (or that was there already); none when
    /// the sign-in continues in the browser.
    #[ts(optional = nullable)]
    pub account: Option<AccountView>,
    /// False: that user was already signed in here (nothing to undo).
    pub added: bool,
    /// The instance wanted more than the link gives: hosted sign-in
    /// started in the browser.
    #[ts(optional = nullable)]
    pub continued: Option<SignInView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct OrgView {
    pub id: String,
    pub name: String,
    #[ts(optional = nullable)]
    pub slug: Option<String>,
    /// `org:admin`, …
    pub role: String,
    pub role_name: String,
}

impl From<&OrganizationMembership> for OrgView {
    fn from(m: &OrganizationMembership) -> Self {
        Self {
            id: m.organization.id.to_string(),
            name: m.organization.name.clone(),
            slug: m.organization.slug.clone(),
            role: m.role.clone(),
            role_name: m.role_name.clone().unwrap_or_else(|| m.role.clone()),
        }
    }
}

/// The account's organizations and the active one, as the token says.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct OrgState {
    pub memberships: Vec<OrgView>,
    #[ts(optional = nullable)]
    pub active: Option<ActiveOrgView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ActiveOrgView {
    pub id: String,
    #[ts(optional = nullable)]
    pub slug: Option<String>,
    #[ts(optional = nullable)]
    pub name: Option<String>,
    /// From the token's `o.rol`, as `org:<role>`.
    pub role: String,
    /// Decoded from `o.per`/`o.fpm` and `fea`.
    pub permissions: Vec<String>,
    pub is_admin: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct MemberView {
    pub name: String,
    pub identifier: String,
    pub role: String,
    pub role_name: String,
    pub initials: String,
}

impl From<&OrganizationMembership> for MemberView {
    fn from(m: &OrganizationMembership) -> Self {
        let (name, identifier) = match &m.public_user_data {
            Some(p) => {
                let n = [p.first_name.as_deref(), p.last_name.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ");
                (
                    if n.is_empty() {
                        p.identifier.clone()
                    } else {
                        n
                    },
                    p.identifier.clone(),
                )
            }
            None => ("(unknown)".into(), String::new()),
        };
        Self {
            initials: initials(&name, Some(&identifier)),
            name,
            identifier,
            role: m.role.clone(),
            role_name: m.role_name.clone().unwrap_or_else(|| m.role.clone()),
        }
    }
}

/// Who is acting, when the session is an impersonation.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ActorView {
    /// The actor's user id (`sub`).
    pub subject: String,
    #[ts(optional = nullable)]
    pub issuer: Option<String>,
}

pub fn actor(v: Option<&Value>) -> Option<ActorView> {
    let v = v?.as_object()?;
    Some(ActorView {
        subject: v.get("sub")?.as_str()?.to_owned(),
        issuer: v.get("iss").and_then(Value::as_str).map(str::to_owned),
    })
}

/// Session details: ids, times, and the decoded claims of the current
/// token (never the token).
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DetailsView {
    pub key: AccountKey,
    pub session_id: String,
    pub status: SessionStatusView,
    #[ts(optional = nullable)]
    pub created_at_ms: Option<i64>,
    #[ts(optional = nullable)]
    pub last_active_at_ms: Option<i64>,
    #[ts(optional = nullable)]
    pub expire_at_ms: Option<i64>,
    #[ts(optional = nullable)]
    pub abandon_at_ms: Option<i64>,
    #[ts(optional = nullable)]
    pub token_expires_at_ms: Option<i64>,
    #[ts(type = "Record<string, unknown> | null")]
    pub claims: Option<Value>,
    /// Minutes since the first and second factor were verified (-1: never).
    #[ts(optional = nullable)]
    pub factor_verification_age: Option<Vec<i64>>,
    #[ts(optional = nullable)]
    pub actor: Option<ActorView>,
    pub templates: Vec<String>,
}

impl From<&SessionDetails> for DetailsView {
    fn from(d: &SessionDetails) -> Self {
        let s = &d.session;
        Self {
            key: (&d.account).into(),
            session_id: s.id.to_string(),
            status: s.status.into(),
            created_at_ms: s.created_at,
            last_active_at_ms: s.last_active_at,
            expire_at_ms: s.expire_at,
            abandon_at_ms: s.abandon_at,
            token_expires_at_ms: d.token_expires_at_ms,
            claims: d.claims.clone(),
            factor_verification_age: s.factor_verification_age.clone(),
            actor: actor(s.actor.as_ref())
                .or_else(|| actor(d.claims.as_ref().and_then(|c| c.get("act")))),
            templates: d.templates.clone(),
        }
    }
}

/// One session of the user, anywhere.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DeviceView {
    pub session_id: String,
    pub this_device: bool,
    pub status: SessionStatusView,
    /// `Macintosh`, `iPhone`, `Windows`, … (Clerk's `device_type`; it names
    /// the OS family too).
    #[ts(optional = nullable)]
    pub device_type: Option<String>,
    pub is_mobile: bool,
    #[ts(optional = nullable)]
    pub browser_name: Option<String>,
    #[ts(optional = nullable)]
    pub browser_version: Option<String>,
    #[ts(optional = nullable)]
    pub ip_address: Option<String>,
    #[ts(optional = nullable)]
    pub city: Option<String>,
    #[ts(optional = nullable)]
    pub country: Option<String>,
    #[ts(optional = nullable)]
    pub last_active_at_ms: Option<i64>,
    pub impersonated: bool,
}

impl From<&Device> for DeviceView {
    fn from(d: &Device) -> Self {
        let s = &d.session;
        let a = s.latest_activity.clone().unwrap_or_default();
        Self {
            session_id: s.id.to_string(),
            this_device: d.this_device,
            status: s.status.into(),
            device_type: a.device_type,
            is_mobile: a.is_mobile,
            browser_name: a.browser_name,
            browser_version: a.browser_version,
            ip_address: a.ip_address,
            city: a.city,
            country: a.country,
            last_active_at_ms: s.last_active_at,
            impersonated: s.actor.as_ref().is_some_and(|v| !v.is_null()),
        }
    }
}

impl DeviceView {
    /// "Safari 18.1 on iPhone in Berlin, DE", as the devices list says it.
    pub fn describe(&self) -> String {
        let browser = [
            self.browser_name.as_deref(),
            self.browser_version.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
        let browser = if browser.is_empty() {
            "An unknown app".to_owned()
        } else {
            browser
        };
        let mut out = match &self.device_type {
            Some(d) => format!("{browser} on {d}"),
            None => browser,
        };
        let place = [self.city.as_deref(), self.country.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ");
        if !place.is_empty() {
            out.push_str(&format!(" in {place}"));
        }
        out
    }
}

/// How revoking one session went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum RevokeOutcomeView {
    Revoked,
    /// The instance wants a recent sign-in first.
    ReverificationRequired,
    Failed,
}

/// The result of revoking one session.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RevokeView {
    pub session_id: String,
    pub outcome: RevokeOutcomeView,
    #[ts(optional = nullable)]
    pub message: Option<String>,
}

impl RevokeView {
    pub fn new(id: &SessionId, r: &RevokeOutcome) -> Self {
        let (outcome, message) = match r {
            RevokeOutcome::Revoked => (RevokeOutcomeView::Revoked, None),
            RevokeOutcome::ReverificationRequired => (
                RevokeOutcomeView::ReverificationRequired,
                Some(
                    "this instance wants you to verify it is you first: verify again in your browser"
                        .into(),
                ),
            ),
            RevokeOutcome::Failed { message, .. } => {
                (RevokeOutcomeView::Failed, Some(message.clone()))
            }
        };
        Self {
            session_id: id.to_string(),
            outcome,
            message,
        }
    }
}

/// The result of "sign out everywhere".
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct EverywhereView {
    /// True: every other session revoked and this one signed out.
    pub done: bool,
    pub revoked: u32,
    pub failed: Vec<RevokeView>,
}

impl From<&EverywhereOutcome> for EverywhereView {
    fn from(o: &EverywhereOutcome) -> Self {
        match o {
            EverywhereOutcome::Done { revoked } => Self {
                done: true,
                revoked: u32::try_from(*revoked).unwrap_or(u32::MAX),
                failed: vec![],
            },
            EverywhereOutcome::Partial { failed } => Self {
                done: false,
                revoked: 0,
                failed: failed
                    .iter()
                    .map(|x| RevokeView::new(&x.session_id, &x.outcome))
                    .collect(),
            },
        }
    }
}

/// "Sign out of all accounts on this device": per instance.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SignedOutView {
    pub signed_out: u32,
    pub failed: Vec<String>,
}

/// Events pushed to the window on `latchkey://event`. None carries a token.
/// The `type` tags are snake_case; fields are camelCase like every other
/// IPC type.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum UiEvent {
    /// The engine is up (or failed to start): re-read the snapshot.
    Ready,
    /// Accounts, the active account or statuses changed.
    Changed,
    TokenRefreshed {
        key: AccountKey,
        expires_at_ms: i64,
    },
    SessionRevoked {
        key: AccountKey,
        name: String,
    },
    NewDevice {
        key: AccountKey,
        session_id: String,
        description: String,
    },
    Online {
        online: bool,
    },
    SignInFinished {
        #[ts(optional = nullable)]
        account: Option<AccountView>,
        #[ts(optional = nullable)]
        error: Option<IpcError>,
    },
    HandoffPending {
        handoff: HandoffView,
    },
    /// A deep link was rejected (the message says why; nothing changed).
    LinkRejected {
        error: IpcError,
    },
    /// An account was signed in again: its session replaced, and the
    /// guarded action retried once (step-up).
    Reverified {
        kind: ReverifyKind,
        #[ts(optional = nullable)]
        account: Option<AccountView>,
        #[ts(optional = nullable)]
        retried: Option<RetriedView>,
    },
    /// A direct sign-in stopped short (a second factor, trust in a new
    /// device): hosted sign-in took over in the browser.
    SignInContinues {
        sign_in: SignInView,
    },
    /// The first run's quiet link check found something (it says nothing
    /// when links work).
    LinkCheck {
        result: crate::links::LinkCheckView,
    },
}

/// What "Forget everything on this device" did (the app quits after).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ForgetView {
    /// What could not be done, in words (empty: all of it).
    pub problems: Vec<String>,
}

/// The app's preferences, as Settings shows them.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct PreferencesView {
    /// Closing the window keeps Latchkey running (in the tray).
    pub close_hides: bool,
    /// "Start Latchkey when I log in" (hidden, in the background).
    pub start_at_login: bool,
}
