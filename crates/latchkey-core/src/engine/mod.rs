//! The session engine: every instance and account Latchkey knows, their
//! client credentials in secure storage, session tokens in memory, the
//! background refresher, every session action, and events. The app and the
//! CLI drive it; it owns all the state.
//!
//! Each module owns one part of that state and the methods over it:
//!
//! | module | owns |
//! | --- | --- |
//! | `persist.rs` | secure storage: the account index, two credential slots per instance, the storage state |
//! | `instances.rs` | the instances: each one's Frontend API client, sign-in flows, JWT verifier, last client and environment; [`Engine::call`](Engine) |
//! | `accounts.rs` | the accounts read from those clients, the active account, online state, the display cache |
//! | `tokens.rs` | session tokens in memory: single-flight fetches, verification, generations, clock skew, template names |
//! | `refresher.rs` | the background loop: when a refresh is due, backoff after failures |
//! | `actions.rs` | switch, organizations, sign-out, devices, revoke |
//! | `sign_in.rs` | browser sign-ins |
//! | `handoff.rs` | the web-to-desktop handoff: redeemed into quarantine, adopted or ended on the user's answer |
//! | `reverify.rs` | signing an account in again to replace its session: pending tasks done in the browser, step-up before guarded actions |
//!
//! ## One background refresh, step by step
//! 1. [`Engine::start_background`] sleeps for what [`Engine::tick`]
//!    returned (at most 15 s), then ticks (`refresher.rs`).
//! 2. `tick` finds the active account's token due (≤ 17 s left) and calls
//!    `refresh_token` (`tokens.rs`), which shares one fetch per token among
//!    all callers (`token_for`) and runs `fetch_token`.
//! 3. `fetch_token` calls the Frontend API through `Engine::call`
//!    (`instances.rs`): `Fapi::session_token`, i.e. `POST
//!    /v1/client/sessions/{id}/tokens`.
//! 4. `Engine::call` then calls `save_credential` (`persist.rs`): if the
//!    answer rotated the client credential, it is written to secure storage
//!    (new slot → index → delete the old slot) before the call returns.
//! 5. The token is verified and cached; `tick` emits
//!    [`Event::TokenRefreshed`], which the app forwards to the window.
//!
//! Keychain layout (service `dev.latchkey.desktop`): `index` (instances,
//! which credential slot is current, the active account) and
//! `credential:<instance>:<a|b>`. Session JWTs never leave memory.
//! Non-secret display data lives in `<data dir>/cache.json`.

mod accounts;
mod actions;
mod handoff;
mod instances;
mod persist;
mod refresher;
mod reverify;
mod sign_in;
mod tokens;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

pub use crate::types::OrgSel;
pub use actions::{
    ActiveOrg, Device, EverywhereOutcome, RevokeOutcome, SessionDetails, SessionRevoke,
};
pub use handoff::{Handoff, HandoffAdded, HandoffPreview};
pub use persist::StorageState;
pub use refresher::RetryPolicy;
pub use reverify::{Guarded, Retried, Reverified, Reverify};
pub use sign_in::PendingSignIn;
pub use tokens::{MAX_TRUSTED_SKEW_SECS, MIN_REMAINING, REFRESH_AT_REMAINING};

use crate::clock::Clock;
use crate::error::Result;
use crate::instance::InstanceKind;
use crate::models::{SessionStatus, SessionTask};
use crate::store::Keychain;
use crate::types::{OrganizationId, SessionId, UserId};

/// Engine settings.
pub struct EngineConfig {
    /// Where non-secret display data is cached.
    pub data_dir: PathBuf,
    /// Secure storage for the index and the client credentials.
    pub keychain: Keychain,
    /// Wall and monotonic time (tests move them).
    pub clock: Arc<dyn Clock>,
    /// Backoff after failures, and the bounds for `Retry-After`.
    pub retry: RetryPolicy,
    /// Longest sleep of the background loop (short ticks compare wall time,
    /// so sleep/resume is noticed).
    pub max_tick: Duration,
    /// How often each instance's client (its background accounts) is
    /// re-read (at most; and on demand).
    pub background_every: Duration,
    /// How often the active account's device list is re-read for "new
    /// device" notices (at most; and on demand).
    pub devices_every: Duration,
    /// JWT template names per instance id (Clerk has no list endpoint).
    pub templates: BTreeMap<String, Vec<String>>,
    /// Write-read-delete probe of secure storage at open (the app: yes; a
    /// one-shot CLI call: no, see [`Engine::open`]).
    pub probe_storage: bool,
}

impl EngineConfig {
    /// The defaults of `docs/contracts.md` (15 s ticks, background accounts
    /// every 5 minutes, devices every 10), the system clock, and a storage
    /// probe at open.
    pub fn new(data_dir: PathBuf, keychain: Keychain) -> Self {
        Self {
            data_dir,
            keychain,
            clock: Arc::new(crate::clock::SystemClock),
            retry: RetryPolicy::default(),
            max_tick: Duration::from_secs(15),
            background_every: Duration::from_secs(300),
            devices_every: Duration::from_secs(600),
            templates: BTreeMap::new(),
            probe_storage: true,
        }
    }
}

/// One signed-in account: a session of an instance's client.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AccountRef {
    /// The instance's stable id (`clerk:<host>` or `local:<ins_id>`).
    pub instance_id: String,
    /// The session on this device.
    pub session_id: SessionId,
}

/// What the UI and CLI show for an account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    /// Which account.
    pub account: AccountRef,
    /// The Clerk user.
    pub user_id: Option<UserId>,
    /// First and last name, else the email, else the session id.
    pub name: String,
    /// The primary email address (or the identifier it signed in with).
    pub email: Option<String>,
    /// The avatar's URL at the instance (fetched by the app, not here).
    pub image_url: Option<String>,
    /// The account Latchkey answers for by default.
    pub active: bool,
    /// The session's status (`active` or `pending` while signed in).
    pub status: SessionStatus,
    /// What a `pending` session has left to do (empty otherwise).
    #[serde(default)]
    pub tasks: Vec<SessionTask>,
    /// The session's active organization.
    pub active_organization: Option<OrganizationId>,
    /// The instance's application name (or its host until known).
    pub instance_name: String,
    /// Clerk instance or the local demo.
    pub instance_kind: InstanceKind,
    /// Why the account's details could not be refreshed, when the last read
    /// of its client failed in a way that is not "offline" (an answer that
    /// did not parse, say). The account is kept; this says what went wrong.
    #[serde(default)]
    pub problem: Option<String>,
}

/// Something the UI should react to. Never carries a token.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// Accounts came, went or changed.
    AccountsChanged,
    /// Another account (or none) is now the active one.
    ActiveChanged {
        /// The new active account.
        account: Option<AccountRef>,
    },
    /// The background loop refreshed the active account's token.
    TokenRefreshed {
        /// Whose token.
        account: AccountRef,
        /// When the new token expires (ms since the epoch).
        expires_at_ms: i64,
    },
    /// An account was signed out from elsewhere (revoked, ended, expired):
    /// not announced for sign-outs done here.
    SessionRevoked {
        /// The account that is gone.
        account: AccountRef,
        /// Its name, for the notice.
        name: String,
    },
    /// A session of the account's user appeared on another device.
    NewDevice {
        /// Whose user.
        account: AccountRef,
        /// The new session.
        session_id: SessionId,
        /// Browser, device and place, as known.
        description: String,
    },
    /// Clerk became reachable, or stopped being.
    Online {
        /// Reachable now.
        online: bool,
    },
    /// Secure storage changed state.
    Storage {
        /// The new state.
        state: StorageState,
    },
}

/// The session engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    s: Arc<Shared>,
}

/// Every part of the state, each owned by its module.
struct Shared {
    cfg: EngineConfig,
    events: broadcast::Sender<Event>,
    instances: instances::Instances,
    accounts: accounts::AccountsState,
    persist: persist::PersistState,
    tokens: tokens::TokenState,
    refresh: refresher::RefreshState,
    handoff: handoff::HandoffState,
}

/// A poisoned lock still holds usable data here (every update is a few
/// field writes), so it is taken anyway.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Engine {
    /// Opens the engine: reads the index and credentials from secure
    /// storage (an unusable store becomes [`StorageState::Unavailable`],
    /// never a file), and the display cache. Makes no network call.
    ///
    /// The storage probe writes, reads back and deletes an entry (three
    /// keychain round trips); [`EngineConfig::probe_storage`] lets a
    /// short-lived process skip it: a failed read of the index reports the
    /// same states, and a failed write later shows as
    /// [`StorageState::SaveFailed`].
    pub async fn open(cfg: EngineConfig) -> Result<Engine> {
        let (events, _) = broadcast::channel(256);
        let storage = persist::probe(&cfg).await;
        let accounts = accounts::AccountsState::load(&cfg.data_dir);
        let tokens = tokens::TokenState::new(cfg.templates.clone());
        let engine = Engine {
            s: Arc::new(Shared {
                cfg,
                events,
                instances: instances::Instances::default(),
                accounts,
                persist: persist::PersistState::new(storage.clone()),
                tokens,
                refresh: refresher::RefreshState::default(),
                handoff: handoff::HandoffState::default(),
            }),
        };
        if matches!(storage, StorageState::Secure { .. }) {
            engine.load_index().await;
        }
        Ok(engine)
    }

    fn emit(&self, e: Event) {
        let _ = self.s.events.send(e);
    }

    /// Events: accounts, active account, token refresh, revocations, new
    /// devices, online state, storage state.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.s.events.subscribe()
    }

    fn now_secs(&self) -> i64 {
        ms(self.s.cfg.clock.wall()) / 1000
    }
}
