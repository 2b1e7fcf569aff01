//! The session engine: every instance and account Latchkey knows, their
//! client credentials in secure storage, session tokens in memory, the
//! background refresher, every session action, and events.
//!
//! The app and the CLI drive this; it owns all state. Keychain layout
//! (service `dev.latchkey.desktop`): `index` (instances, which credential
//! slot is current, the active account) and `credential:<instance>:<a|b>`.
//! A rotated credential is written to the other slot, then the index is
//! switched to it, then the old slot is deleted, so a crash at any step
//! leaves a readable state. Session JWTs never leave memory. Non-secret
//! display data lives in `<data dir>/cache.json`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};

use crate::callback::{Callback, parse_deep_link};
use crate::clock::Clock;
use crate::error::{Error, ErrorKind, Result};
use crate::fapi::Fapi;
use crate::flows::{HandoffResult, Outcome, Redirect, SignInFlows, Started};
use crate::instance::{Instance, InstanceKind};
use crate::jwt::{Verifier, VerifyOptions};
use crate::models::{
    Client, Environment, OrganizationMembership, Session, SessionStatus, SessionWithActivities,
};
use crate::secret::{ClientCredential, SessionToken};
use crate::store::{Keychain, StoreError, StoreErrorKind};
use crate::types::{OrganizationId, SessionId, UserId};

/// Clerk's cadence for 60 s tokens (docs/contracts.md): refresh at ≤ 17 s left,
/// never hand out a token with < 5 s left. Shorter tokens scale the same
/// fractions (17/60 and 5/60 of their lifetime).
pub const REFRESH_AT_REMAINING: Duration = Duration::from_secs(17);
/// See [`REFRESH_AT_REMAINING`].
pub const MIN_REMAINING: Duration = Duration::from_secs(5);
/// Local clock skew against Clerk that is tolerated (and reported).
pub const MAX_TRUSTED_SKEW_SECS: i64 = 600;

/// Retry timing: full-jitter exponential backoff.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub base: Duration,
    pub cap: Duration,
    /// Bounds for `Retry-After`.
    pub retry_after_min: Duration,
    pub retry_after_max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
            retry_after_min: Duration::from_secs(1),
            retry_after_max: Duration::from_secs(600),
        }
    }
}

impl RetryPolicy {
    /// `rand(0, min(cap, base · 2^attempt))` (attempt counts from 0).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX));
        let ceiling = exp.min(self.cap);
        let ms = ceiling.as_millis().max(1) as u64;
        Duration::from_millis(rand::thread_rng().gen_range(0..=ms))
    }

    /// The wait after a failure: `Retry-After` (clamped) when the server
    /// gave one, else backoff.
    pub fn wait_after(&self, err: &Error, attempt: u32) -> Duration {
        match err.retry_after() {
            Some(d) => d.clamp(self.retry_after_min, self.retry_after_max),
            None => self.backoff(attempt),
        }
    }
}

/// Engine settings.
pub struct EngineConfig {
    /// Where non-secret display data is cached.
    pub data_dir: PathBuf,
    pub keychain: Keychain,
    pub clock: Arc<dyn Clock>,
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
    pub instance_id: String,
    pub session_id: SessionId,
}

/// What the UI and CLI show for an account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub account: AccountRef,
    pub user_id: Option<UserId>,
    pub name: String,
    pub email: Option<String>,
    pub image_url: Option<String>,
    pub active: bool,
    pub status: SessionStatus,
    pub active_organization: Option<OrganizationId>,
    pub instance_name: String,
    pub instance_kind: InstanceKind,
}

/// Whether secrets are kept in secure storage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum StorageState {
    /// Secure storage works.
    Secure { backend: String },
    /// No secure storage: signed in for this run only; nothing written.
    Unavailable { reason: String, locked: bool },
    /// Secure storage refused the last save: the sign-in works now but
    /// would be lost on restart; saving is retried.
    SaveFailed { reason: String, locked: bool },
}

/// Which organization a token is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OrgSel {
    /// The session's active organization.
    Active,
    /// The personal account.
    Personal,
    Org(OrganizationId),
}

/// Something the UI should react to. Never carries a token.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    AccountsChanged,
    ActiveChanged {
        account: Option<AccountRef>,
    },
    TokenRefreshed {
        account: AccountRef,
        expires_at_ms: i64,
    },
    SessionRevoked {
        account: AccountRef,
        name: String,
    },
    NewDevice {
        account: AccountRef,
        session_id: SessionId,
        description: String,
    },
    Online {
        online: bool,
    },
    Storage {
        state: StorageState,
    },
}

/// A device (a session of the user anywhere).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Device {
    pub session: SessionWithActivities,
    pub this_device: bool,
}

/// Result of revoking one session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RevokeOutcome {
    Revoked,
    /// The instance wants a recent sign-in first.
    ReverificationRequired,
    Failed {
        kind: String,
        message: String,
    },
}

/// Result of "sign out everywhere".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum EverywhereOutcome {
    /// Every other session revoked, and this one signed out.
    Done { revoked: usize },
    /// Some revokes failed: nothing was signed out here; retry, or sign out
    /// here anyway (`force`).
    Partial {
        failed: Vec<(SessionId, RevokeOutcome)>,
    },
}

/// Details of one account's session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionDetails {
    pub account: AccountRef,
    pub session: Session,
    /// Decoded claims of the current token (never the token).
    pub claims: Option<serde_json::Value>,
    pub token_expires_at_ms: Option<i64>,
    pub templates: Vec<String>,
}

#[derive(Clone)]
struct CachedToken {
    token: SessionToken,
    lifetime: Duration,
    exp_ms: i64,
    received_wall: SystemTime,
    received_mono: Instant,
}

impl CachedToken {
    /// Time left, by the more pessimistic of the two clocks: a suspend moves
    /// only wall time, a wall-clock jump back only monotonic time counts.
    fn remaining(&self, clock: &dyn Clock) -> Duration {
        let mono = clock.mono().saturating_duration_since(self.received_mono);
        let wall = clock
            .wall()
            .duration_since(self.received_wall)
            .unwrap_or(Duration::ZERO);
        self.lifetime.saturating_sub(mono.max(wall))
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct TokenKey {
    instance: String,
    session: SessionId,
    template: Option<String>,
    org: OrgSel,
}

impl TokenKey {
    /// The plain session token of an account, for its active organization.
    fn session_token(acct: &AccountRef) -> Self {
        Self {
            instance: acct.instance_id.clone(),
            session: acct.session_id.clone(),
            template: None,
            org: OrgSel::Active,
        }
    }
}

type Flight = watch::Receiver<Option<std::result::Result<CachedToken, Error>>>;

struct InstanceState {
    instance: Instance,
    fapi: Fapi,
    flows: Arc<SignInFlows>,
    verifier: Arc<Verifier>,
    client: Option<Client>,
    environment: Option<Environment>,
    slot: char,
    /// Sequence number of the last credential write (newest wins on load).
    seq: u64,
    /// The credential last written or read (not written again).
    persisted: Option<String>,
    last_background: Option<Instant>,
}

/// A credential slot's contents.
#[derive(Deserialize)]
struct CredentialEntry {
    seq: u64,
    credential: Option<String>,
}

#[derive(Default, Serialize, Deserialize)]
struct Index {
    v: u32,
    instances: Vec<IndexInstance>,
    active: Option<AccountRef>,
}

#[derive(Serialize, Deserialize, Clone)]
struct IndexInstance {
    id: String,
    kind: InstanceKind,
    frontend_api: String,
    publishable_key: String,
    slot: char,
}

#[derive(Default, Serialize, Deserialize)]
struct DisplayCache {
    accounts: Vec<Account>,
    known_devices: BTreeMap<String, BTreeSet<SessionId>>,
}

struct Refresh {
    failures: u32,
    not_before: Option<Instant>,
    last_devices: Option<Instant>,
}

struct Shared {
    cfg: EngineConfig,
    instances: tokio::sync::Mutex<BTreeMap<String, InstanceState>>,
    active: Mutex<Option<AccountRef>>,
    tokens: Mutex<HashMap<TokenKey, CachedToken>>,
    flights: Mutex<HashMap<TokenKey, Flight>>,
    generations: Mutex<HashMap<AccountRef, u64>>,
    storage: Mutex<StorageState>,
    events: broadcast::Sender<Event>,
    refresh: Mutex<Refresh>,
    cache: Mutex<DisplayCache>,
    online: Mutex<bool>,
    /// Clerk's clock minus ours, in seconds, from the last token.
    skew: Mutex<i64>,
    /// JWT template names per instance (from the config, and set later).
    templates: Mutex<BTreeMap<String, Vec<String>>>,
    /// Accounts being (or that were) signed out here on purpose: their
    /// disappearance is not announced as a revocation.
    signing_out: Mutex<BTreeSet<AccountRef>>,
    /// Serialises credential saves (the background writer and `flush`), so
    /// two saves never pick the same slot or delete each other's write.
    persist_lock: tokio::sync::Mutex<()>,
}

/// The session engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    s: Arc<Shared>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn account_name(s: &Session) -> (String, Option<String>, Option<String>, Option<UserId>) {
    let email = s
        .user
        .as_ref()
        .and_then(|u| u.primary_email().map(str::to_owned))
        .or_else(|| s.public_user_data.as_ref().map(|p| p.identifier.clone()));
    let (first, last) = match (&s.user, &s.public_user_data) {
        (Some(u), _) => (u.first_name.clone(), u.last_name.clone()),
        (None, Some(p)) => (p.first_name.clone(), p.last_name.clone()),
        _ => (None, None),
    };
    let name = format!("{} {}", first.unwrap_or_default(), last.unwrap_or_default())
        .trim()
        .to_owned();
    let name = if name.is_empty() {
        email.clone().unwrap_or_else(|| s.id.to_string())
    } else {
        name
    };
    let image = s
        .user
        .as_ref()
        .and_then(|u| u.image_url.clone())
        .or_else(|| {
            s.public_user_data
                .as_ref()
                .and_then(|p| p.image_url.clone())
        });
    let uid = s
        .user
        .as_ref()
        .map(|u| u.id.clone())
        .or_else(|| s.public_user_data.as_ref().and_then(|p| p.user_id.clone()));
    (name, email, image, uid)
}

impl Engine {
    /// Opens the engine: reads the index and credentials from secure
    /// storage (an unusable store becomes [`StorageState::Unavailable`],
    /// never a file), and the display cache. Makes no network call.
    pub async fn open(cfg: EngineConfig) -> Result<Engine> {
        let (events, _) = broadcast::channel(256);
        // The probe writes, reads back and deletes an entry (three keychain
        // round trips). A short-lived process may skip it: a failed read of
        // the index below reports the same states, and a failed write later
        // shows as `SaveFailed`.
        let probe = if cfg.probe_storage {
            cfg.keychain.probe().await
        } else {
            Ok(())
        };
        let storage = match probe {
            Ok(()) => StorageState::Secure {
                backend: cfg.keychain.describe().to_owned(),
            },
            Err(e) => StorageState::Unavailable {
                reason: e.message.clone(),
                locked: e.kind == StoreErrorKind::Locked,
            },
        };
        let cache: DisplayCache = std::fs::read(cfg.data_dir.join("cache.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let templates = Mutex::new(cfg.templates.clone());
        let engine = Engine {
            s: Arc::new(Shared {
                cfg,
                templates,
                signing_out: Mutex::new(BTreeSet::new()),
                instances: tokio::sync::Mutex::new(BTreeMap::new()),
                active: Mutex::new(None),
                tokens: Mutex::new(HashMap::new()),
                flights: Mutex::new(HashMap::new()),
                generations: Mutex::new(HashMap::new()),
                storage: Mutex::new(storage.clone()),
                events,
                refresh: Mutex::new(Refresh {
                    failures: 0,
                    not_before: None,
                    last_devices: None,
                }),
                cache: Mutex::new(cache),
                online: Mutex::new(true),
                skew: Mutex::new(0),
                persist_lock: tokio::sync::Mutex::new(()),
            }),
        };
        if matches!(storage, StorageState::Secure { .. }) {
            engine.load_index().await;
        }
        Ok(engine)
    }

    async fn load_index(&self) {
        // A slow first call (the keyring daemon starting, a loaded machine)
        // is retried before secure storage is declared unavailable.
        let mut read = self.s.cfg.keychain.get("index").await;
        for _ in 0..2 {
            match &read {
                Err(e) if matches!(e.kind, StoreErrorKind::Timeout | StoreErrorKind::Other) => {
                    read = self.s.cfg.keychain.get("index").await
                }
                _ => break,
            }
        }
        let index: Index = match read {
            Ok(Some(b)) => match serde_json::from_slice(&b) {
                Ok(i) => i,
                Err(_) => {
                    tracing::warn!(
                        "the account index in secure storage is not readable; starting without accounts"
                    );
                    return;
                }
            },
            Ok(None) => return,
            Err(e) => {
                self.set_storage(StorageState::Unavailable {
                    reason: e.message.clone(),
                    locked: e.kind == StoreErrorKind::Locked,
                });
                return;
            }
        };
        for ii in index.instances {
            let instance = match ii.kind {
                InstanceKind::Clerk => Instance::from_publishable_key(&ii.publishable_key),
                InstanceKind::LocalDemo => Instance::local_demo(
                    &ii.frontend_api,
                    ii.id.trim_start_matches("local:"),
                    &ii.publishable_key,
                ),
            };
            let Ok(instance) = instance else { continue };
            if instance.id() != ii.id {
                continue;
            }
            // A damaged credential signs that instance's accounts out; the
            // others are untouched.
            // Both slots are read and the newest write wins, so a crash
            // between writing a new slot and switching the index loses
            // nothing; `ii.slot` only breaks ties.
            let best = self.read_credential(&ii.id, ii.slot).await;
            let (seq, slot, credential) = best.unwrap_or((0, ii.slot, None));
            let persisted = credential.as_ref().map(|c| c.expose().to_owned());
            let _ = self.install(instance, credential, slot).await;
            if let Some(i) = self.s.instances.lock().await.get_mut(&ii.id) {
                i.seq = seq;
                i.persisted = persisted;
            }
        }
        *lock(&self.s.active) = index.active;
    }

    /// The newest credential in either slot: (seq, slot, credential).
    async fn read_credential(
        &self,
        instance_id: &str,
        hint: char,
    ) -> Option<(u64, char, Option<ClientCredential>)> {
        let mut best: Option<(u64, char, Option<ClientCredential>)> = None;
        for slot in [hint, if hint == 'a' { 'b' } else { 'a' }] {
            let Ok(Some(bytes)) = self.s.cfg.keychain.get(&cred_key(instance_id, slot)).await
            else {
                continue;
            };
            let Ok(entry) = serde_json::from_slice::<CredentialEntry>(&bytes) else {
                continue;
            };
            if best.as_ref().is_none_or(|(seq, _, _)| entry.seq > *seq) {
                best = Some((entry.seq, slot, entry.credential.map(ClientCredential::new)));
            }
        }
        best
    }

    /// Another process (the app, another CLI call) may have rotated the
    /// credential since we read it: adopt a newer one from secure storage.
    /// True if it changed.
    async fn adopt_newer_credential(&self, instance_id: &str) -> bool {
        if !matches!(
            *lock(&self.s.storage),
            StorageState::Secure { .. } | StorageState::SaveFailed { .. }
        ) {
            return false;
        }
        let (hint, seq, current) = {
            let inst = self.s.instances.lock().await;
            let Some(i) = inst.get(instance_id) else {
                return false;
            };
            (i.slot, i.seq, i.fapi.credential())
        };
        let Some((new_seq, slot, cred)) = self.read_credential(instance_id, hint).await else {
            return false;
        };
        if new_seq <= seq || cred == current {
            return false;
        }
        let fapi = {
            let mut inst = self.s.instances.lock().await;
            let Some(i) = inst.get_mut(instance_id) else {
                return false;
            };
            i.seq = new_seq;
            i.slot = slot;
            i.persisted = cred.as_ref().map(|c| c.expose().to_owned());
            i.fapi.clone()
        };
        fapi.set_credential(cred);
        true
    }

    async fn install(
        &self,
        instance: Instance,
        credential: Option<ClientCredential>,
        slot: char,
    ) -> Result<()> {
        let fapi = Fapi::new(instance.clone(), credential)?;
        let flows = Arc::new(SignInFlows::new(fapi.clone()));
        let verifier = Arc::new(Verifier::with_http(instance.clone(), fapi.http_client()));
        let id = instance.id().to_owned();
        self.watch_credential(&id, fapi.credential_changes());
        self.s.instances.lock().await.insert(
            id,
            InstanceState {
                instance,
                fapi,
                flows,
                verifier,
                client: None,
                environment: None,
                slot,
                seq: 0,
                persisted: None,
                last_background: None,
            },
        );
        Ok(())
    }

    /// Persists every credential change of an instance (write new slot →
    /// switch index → delete old slot).
    fn watch_credential(&self, instance_id: &str, mut rx: watch::Receiver<u64>) {
        let engine = self.clone();
        let id = instance_id.to_owned();
        tokio::spawn(async move {
            // A failed save is retried with backoff (1 s … 60 s) until it
            // succeeds or a newer credential replaces it; meanwhile the
            // credential lives in memory and the failure is a visible state.
            let mut retry: Option<Duration> = None;
            loop {
                match retry {
                    Some(wait) => tokio::select! {
                        r = rx.changed() => if r.is_err() { return },
                        _ = tokio::time::sleep(wait) => {}
                    },
                    None => {
                        if rx.changed().await.is_err() {
                            return;
                        }
                    }
                }
                match engine.persist_credential(&id).await {
                    Ok(()) => {
                        retry = None;
                        let degraded =
                            matches!(*lock(&engine.s.storage), StorageState::SaveFailed { .. });
                        if degraded {
                            engine.set_storage(StorageState::Secure {
                                backend: engine.s.cfg.keychain.describe().to_owned(),
                            });
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "could not save the rotated sign-in to secure storage; kept in memory, retrying");
                        retry = Some(
                            retry
                                .map(|d| (d * 2).min(Duration::from_secs(60)))
                                .unwrap_or(Duration::from_secs(1)),
                        );
                        engine.set_storage(StorageState::SaveFailed {
                            reason: e.message.clone(),
                            locked: e.kind == StoreErrorKind::Locked,
                        });
                    }
                }
            }
        });
    }

    async fn persist_credential(&self, instance_id: &str) -> std::result::Result<(), StoreError> {
        let _serial = self.s.persist_lock.lock().await;
        if matches!(*lock(&self.s.storage), StorageState::Unavailable { .. }) {
            return Ok(());
        }
        let (cred, old_slot, seq) = {
            let mut inst = self.s.instances.lock().await;
            let Some(i) = inst.get_mut(instance_id) else {
                return Ok(());
            };
            let cred = i.fapi.credential();
            if cred.as_ref().map(|c| c.expose()) == i.persisted.as_deref() {
                return Ok(()); // already stored (e.g. adopted from storage)
            }
            i.seq += 1;
            (cred, i.slot, i.seq)
        };
        let new_slot = if old_slot == 'a' { 'b' } else { 'a' };
        let entry =
            serde_json::json!({"seq": seq, "credential": cred.as_ref().map(|c| c.expose())});
        self.s
            .cfg
            .keychain
            .set(
                &cred_key(instance_id, new_slot),
                entry.to_string().as_bytes(),
            )
            .await?;
        crate::failpoint::hit("rotation:after-new-slot");
        if let Some(i) = self.s.instances.lock().await.get_mut(instance_id) {
            i.persisted = cred.as_ref().map(|c| c.expose().to_owned());
        }
        {
            let mut inst = self.s.instances.lock().await;
            if let Some(i) = inst.get_mut(instance_id) {
                i.slot = new_slot;
            }
        }
        self.save_index().await?;
        crate::failpoint::hit("rotation:after-index");
        self.s
            .cfg
            .keychain
            .delete(&cred_key(instance_id, old_slot))
            .await?;
        crate::failpoint::hit("rotation:after-delete-old");
        Ok(())
    }

    async fn save_index(&self) -> std::result::Result<(), StoreError> {
        if matches!(*lock(&self.s.storage), StorageState::Unavailable { .. }) {
            return Ok(());
        }
        let index = {
            let inst = self.s.instances.lock().await;
            Index {
                v: 1,
                instances: inst
                    .values()
                    .map(|i| IndexInstance {
                        id: i.instance.id().to_owned(),
                        kind: i.instance.kind(),
                        frontend_api: i
                            .instance
                            .frontend_api()
                            .as_str()
                            .trim_end_matches('/')
                            .to_owned(),
                        publishable_key: i.instance.publishable_key().to_owned(),
                        slot: i.slot,
                    })
                    .collect(),
                active: lock(&self.s.active).clone(),
            }
        };
        let bytes = serde_json::to_vec(&index).map_err(|_| {
            StoreError::new(StoreErrorKind::Other, "could not encode the account index")
        })?;
        self.s.cfg.keychain.set("index", &bytes).await
    }

    fn set_storage(&self, state: StorageState) {
        let changed = {
            let mut s = lock(&self.s.storage);
            let changed = *s != state;
            *s = state.clone();
            changed
        };
        if changed {
            let _ = self.s.events.send(Event::Storage { state });
        }
    }

    fn emit(&self, e: Event) {
        let _ = self.s.events.send(e);
    }

    /// Writes any credential not yet saved, now (the CLI calls this before it
    /// exits; the background writer would otherwise be cut off).
    pub async fn flush(&self) -> Result<()> {
        // Let a save in progress finish first (it may already count as
        // "persisted" while its index write is still pending).
        drop(self.s.persist_lock.lock().await);
        let pending: Vec<String> = {
            let inst = self.s.instances.lock().await;
            inst.iter()
                .filter(|(_, i)| {
                    i.fapi.credential().as_ref().map(|c| c.expose()) != i.persisted.as_deref()
                })
                .map(|(k, _)| k.clone())
                .collect()
        };
        for id in pending {
            self.persist_credential(&id).await.map_err(Error::from)?;
        }
        Ok(())
    }

    /// Events: accounts, active account, token refresh, revocations, new
    /// devices, online state, storage state.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.s.events.subscribe()
    }

    pub fn storage_state(&self) -> StorageState {
        lock(&self.s.storage).clone()
    }

    pub fn online(&self) -> bool {
        *lock(&self.s.online)
    }

    /// Clerk's clock minus the local clock (seconds), as of the last token;
    /// the UI warns above 2 minutes.
    pub fn clock_skew_secs(&self) -> i64 {
        *lock(&self.s.skew)
    }

    /// Adds an instance (or updates the URL of a known one: the demo
    /// instance may change port) and remembers it.
    pub async fn add_instance(&self, instance: Instance) -> Result<()> {
        let id = instance.id().to_owned();
        let known = {
            let mut inst = self.s.instances.lock().await;
            match inst.get_mut(&id) {
                Some(existing) if existing.instance != instance => {
                    let fapi = Fapi::new(instance.clone(), existing.fapi.credential())?;
                    existing.flows = Arc::new(SignInFlows::new(fapi.clone()));
                    existing.verifier =
                        Arc::new(Verifier::with_http(instance.clone(), fapi.http_client()));
                    existing.instance = instance.clone();
                    let rx = fapi.credential_changes();
                    existing.fapi = fapi;
                    Some(Some(rx))
                }
                Some(_) => Some(None),
                None => None,
            }
        };
        // (The instances lock is released before saving: save_index takes it.)
        match known {
            // Known and unchanged: nothing to write (a keychain write costs
            // milliseconds on every CLI call).
            Some(None) => return Ok(()),
            Some(Some(rx)) => {
                self.watch_credential(&id, rx);
                return self.save_index().await.map_err(Error::from);
            }
            None => {}
        }
        self.install(instance, None, 'a').await?;
        self.save_index().await.map_err(Error::from)
    }

    /// Known instances.
    pub async fn instances(&self) -> Vec<Instance> {
        self.s
            .instances
            .lock()
            .await
            .values()
            .map(|i| i.instance.clone())
            .collect()
    }

    /// Reads something from one instance's state.
    async fn with_instance<T>(
        &self,
        instance_id: &str,
        f: impl FnOnce(&InstanceState) -> T,
    ) -> Result<T> {
        self.s
            .instances
            .lock()
            .await
            .get(instance_id)
            .map(f)
            .ok_or_else(|| Error::new(ErrorKind::Config, "unknown instance"))
    }

    async fn fapi(&self, instance_id: &str) -> Result<Fapi> {
        self.with_instance(instance_id, |i| i.fapi.clone()).await
    }

    /// True when the local demo instance should run: nothing else is
    /// configured, or it is one of the instances.
    pub async fn needs_local_demo(&self) -> bool {
        let instances = self.instances().await;
        instances.is_empty()
            || instances
                .iter()
                .any(|i| i.kind() == InstanceKind::LocalDemo)
    }

    /// The instance's environment (application name, social providers,
    /// single-session mode), read once and cached: it is not needed on the
    /// token path, so nothing reads it until asked.
    pub async fn load_environment(&self, instance_id: &str) -> Result<Environment> {
        if let Some(e) = self.environment(instance_id).await {
            return Ok(e);
        }
        let e = self.fapi(instance_id).await?.environment().await?;
        if let Some(i) = self.s.instances.lock().await.get_mut(instance_id) {
            i.environment = Some(e.clone());
        }
        Ok(e)
    }

    /// Re-reads the client of one instance, or all.
    /// Accounts whose session is no longer signed in are signed out here.
    pub async fn reload(&self, instance_id: Option<&str>) -> Result<()> {
        let ids: Vec<String> = match instance_id {
            Some(i) => vec![i.to_owned()],
            None => self.s.instances.lock().await.keys().cloned().collect(),
        };
        let mut first_err = None;
        for id in ids {
            let fapi = self.fapi(&id).await?;
            let mut client = fapi.get_client().await;
            // No client for our credential: another process may have rotated
            // it; take the newer one from secure storage and ask again.
            if matches!(client, Ok(None)) && self.adopt_newer_credential(&id).await {
                client = fapi.get_client().await;
            }
            match client {
                Ok(c) => {
                    self.set_online(true);
                    self.apply_client(&id, c).await;
                }
                Err(e) => {
                    if matches!(e.kind(), ErrorKind::Network | ErrorKind::Timeout) {
                        self.set_online(false);
                    }
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn set_online(&self, online: bool) {
        let changed = {
            let mut o = lock(&self.s.online);
            let c = *o != online;
            *o = online;
            c
        };
        if changed {
            self.emit(Event::Online { online });
        }
    }

    /// Takes a fresh client: notices accounts that are gone, keeps the
    /// active account valid, updates the display cache.
    async fn apply_client(&self, instance_id: &str, client: Option<Client>) {
        let gone: Vec<(AccountRef, String)> = {
            let mut inst = self.s.instances.lock().await;
            let Some(i) = inst.get_mut(instance_id) else {
                return;
            };
            let before: Vec<Session> = i
                .client
                .as_ref()
                .map(|c| c.signed_in().cloned().collect())
                .unwrap_or_default();
            let now_in: BTreeSet<SessionId> = client
                .as_ref()
                .map(|c| c.signed_in().map(|s| s.id.clone()).collect())
                .unwrap_or_default();
            i.client = client;
            before
                .iter()
                .filter(|s| !now_in.contains(&s.id))
                .map(|s| {
                    (
                        AccountRef {
                            instance_id: instance_id.to_owned(),
                            session_id: s.id.clone(),
                        },
                        account_name(s).0,
                    )
                })
                .collect()
        };
        for (acct, name) in &gone {
            self.forget_tokens(acct);
            // Signed out here on purpose: not news.
            if lock(&self.s.signing_out).contains(acct) {
                continue;
            }
            self.emit(Event::SessionRevoked {
                account: acct.clone(),
                name: name.clone(),
            });
        }
        self.fix_active().await;
        self.refresh_display_cache().await;
        self.emit(Event::AccountsChanged);
    }

    /// Drops every cached token of an account and invalidates late results.
    fn forget_tokens(&self, acct: &AccountRef) {
        *lock(&self.s.generations).entry(acct.clone()).or_insert(0) += 1;
        lock(&self.s.tokens)
            .retain(|k, _| !(k.instance == acct.instance_id && k.session == acct.session_id));
    }

    fn generation(&self, acct: &AccountRef) -> u64 {
        *lock(&self.s.generations).get(acct).unwrap_or(&0)
    }

    /// Ensures the active account is a signed-in one (or none).
    async fn fix_active(&self) {
        let accounts = self.accounts().await;
        let current = lock(&self.s.active).clone();
        let valid = current
            .as_ref()
            .is_some_and(|a| accounts.iter().any(|x| &x.account == a));
        if !valid {
            let next = accounts.first().map(|a| a.account.clone());
            *lock(&self.s.active) = next.clone();
            if current != next {
                let _ = self.save_index().await;
                self.emit(Event::ActiveChanged { account: next });
            }
        }
    }

    async fn refresh_display_cache(&self) {
        let accounts = self.accounts().await;
        let bytes = {
            let mut c = lock(&self.s.cache);
            c.accounts = accounts;
            serde_json::to_vec_pretty(&*c).ok()
        };
        if let Some(b) = bytes {
            let dir = &self.s.cfg.data_dir;
            if std::fs::create_dir_all(dir).is_ok() {
                let tmp = dir.join("cache.json.tmp");
                if std::fs::write(&tmp, b).is_ok() {
                    let _ = std::fs::rename(tmp, dir.join("cache.json"));
                }
            }
        }
    }

    /// Every signed-in account, active one marked; the first instance's
    /// accounts first, each in sign-in order.
    pub async fn accounts(&self) -> Vec<Account> {
        let active = lock(&self.s.active).clone();
        let inst = self.s.instances.lock().await;
        let mut out = Vec::new();
        for (id, i) in inst.iter() {
            let Some(client) = &i.client else { continue };
            let instance_name = i
                .environment
                .as_ref()
                .map(|e| e.display_config.application_name.clone())
                .unwrap_or_else(|| {
                    i.instance
                        .frontend_api()
                        .host_str()
                        .unwrap_or("")
                        .to_owned()
                });
            for s in client.signed_in() {
                let account = AccountRef {
                    instance_id: id.clone(),
                    session_id: s.id.clone(),
                };
                let (name, email, image_url, user_id) = account_name(s);
                out.push(Account {
                    active: active.as_ref() == Some(&account),
                    account,
                    user_id,
                    name,
                    email,
                    image_url,
                    status: s.status,
                    active_organization: s.last_active_organization_id.clone(),
                    instance_name: instance_name.clone(),
                    instance_kind: i.instance.kind(),
                });
            }
        }
        out
    }

    /// Accounts from the display cache (for an offline start).
    pub fn cached_accounts(&self) -> Vec<Account> {
        lock(&self.s.cache).accounts.clone()
    }

    pub fn active(&self) -> Option<AccountRef> {
        lock(&self.s.active).clone()
    }

    /// The instance's environment, once read.
    pub async fn environment(&self, instance_id: &str) -> Option<Environment> {
        self.s
            .instances
            .lock()
            .await
            .get(instance_id)
            .and_then(|i| i.environment.clone())
    }

    async fn session(&self, acct: &AccountRef) -> Result<Session> {
        let inst = self.s.instances.lock().await;
        inst.get(&acct.instance_id)
            .and_then(|i| i.client.as_ref())
            .and_then(|c| c.session(&acct.session_id))
            .filter(|s| s.status.is_signed_in())
            .cloned()
            .ok_or_else(|| Error::new(ErrorKind::SessionGone, "that account is not signed in"))
    }

    // ------------------------------------------------------------ tokens

    fn thresholds(lifetime: Duration) -> (Duration, Duration) {
        let scale = |d: Duration| -> Duration {
            if lifetime >= Duration::from_secs(60) {
                d
            } else {
                lifetime.mul_f64(d.as_secs_f64() / 60.0)
            }
        };
        (scale(REFRESH_AT_REMAINING), scale(MIN_REMAINING))
    }

    /// A session (or template) token with at least 5 s left (scaled for
    /// short-lived tokens), from memory when possible. Concurrent callers
    /// share one request; cancelling one caller never cancels the others.
    ///
    /// # Errors
    /// Transient kinds when Clerk cannot be reached (the account is kept);
    /// [`ErrorKind::SessionGone`] once Clerk confirms the session is gone
    /// (the account is signed out).
    pub async fn get_token(
        &self,
        acct: &AccountRef,
        template: Option<&str>,
        org: OrgSel,
    ) -> Result<SessionToken> {
        let key = TokenKey {
            instance: acct.instance_id.clone(),
            session: acct.session_id.clone(),
            template: template.map(str::to_owned),
            org,
        };
        let t = self.token_for(&key, false).await?;
        Ok(t.token)
    }

    async fn token_for(&self, key: &TokenKey, force: bool) -> Result<CachedToken> {
        let clock = self.s.cfg.clock.clone();
        if !force && let Some(t) = lock(&self.s.tokens).get(key) {
            let (_, min) = Self::thresholds(t.lifetime);
            if t.remaining(clock.as_ref()) >= min.max(Duration::from_millis(1)) {
                return Ok(t.clone());
            }
        }
        let mut rx = {
            let mut flights = lock(&self.s.flights);
            match flights.get(key) {
                Some(rx) => rx.clone(),
                None => {
                    let (tx, rx) = watch::channel(None);
                    flights.insert(key.clone(), rx.clone());
                    let engine = self.clone();
                    let key = key.clone();
                    // The request runs in its own task: a cancelled caller
                    // cannot cancel it or strand the other waiters.
                    tokio::spawn(async move {
                        let r = engine.fetch_token(&key).await;
                        lock(&engine.s.flights).remove(&key);
                        let _ = tx.send(Some(r));
                    });
                    rx
                }
            }
        };
        loop {
            if let Some(r) = rx.borrow().clone() {
                return r;
            }
            if rx.changed().await.is_err() {
                return Err(Error::new(
                    ErrorKind::Network,
                    "the token request was interrupted",
                ));
            }
        }
    }

    async fn fetch_token(&self, key: &TokenKey) -> std::result::Result<CachedToken, Error> {
        let acct = AccountRef {
            instance_id: key.instance.clone(),
            session_id: key.session.clone(),
        };
        let generation = self.generation(&acct);
        let session = self.session(&acct).await?;
        let (fapi, verifier) = self
            .with_instance(&key.instance, |i| (i.fapi.clone(), i.verifier.clone()))
            .await?;
        let result = match &key.template {
            Some(t) => fapi.template_token(&key.session, t).await,
            None => {
                let org = match &key.org {
                    OrgSel::Active => None,
                    OrgSel::Personal => Some(None),
                    OrgSel::Org(o) => Some(Some(o)),
                };
                fapi.session_token(&key.session, org).await
            }
        };
        let token = match result {
            Ok(t) => t,
            Err(e) if e.is_session_gone() => {
                self.confirm_gone(&acct).await;
                return Err(e);
            }
            Err(e) => {
                if matches!(e.kind(), ErrorKind::Network | ErrorKind::Timeout) {
                    self.set_online(false);
                }
                return Err(e);
            }
        };
        self.set_online(true);
        let uid = account_name(&session).3;
        let expect = match (&key.template, uid) {
            (None, Some(uid)) => Some((key.session.clone(), uid)),
            _ => None,
        };
        // Verify as of the server's time: the token was just minted, so its
        // `iat` says what time it is at Clerk. Trusted within ±10 min of the
        // local clock (docs/threat-model.md F11: a skewed local clock must not reject every
        // token); beyond that, the local clock decides (and rejects).
        let local = self.now_secs();
        let server_now = crate::jwt::decode_unverified(token.expose())
            .and_then(|c| c.get("iat").and_then(serde_json::Value::as_i64))
            .filter(|iat| (iat - local).abs() <= MAX_TRUSTED_SKEW_SECS)
            .unwrap_or(local);
        *lock(&self.s.skew) = server_now - local;
        let claims = verifier
            .verify_at(
                token.expose(),
                &VerifyOptions {
                    expect_session: expect,
                    allow_audience: key.template.is_some(),
                    ..Default::default()
                },
                server_now,
            )
            .await
            .map_err(|r| {
                Error::new(
                    ErrorKind::Protocol,
                    format!("Clerk returned a token that does not verify: {r}"),
                )
            })?;
        let iat = claims.iat.unwrap_or(claims.exp - 60);
        let cached = CachedToken {
            token,
            lifetime: Duration::from_secs((claims.exp - iat).max(1) as u64),
            exp_ms: claims.exp * 1000,
            received_wall: self.s.cfg.clock.wall(),
            received_mono: self.s.cfg.clock.mono(),
        };
        // A result for an account signed out (or re-signed) meanwhile never
        // lands.
        if self.generation(&acct) == generation {
            lock(&self.s.tokens).insert(key.clone(), cached.clone());
        }
        Ok(cached)
    }

    fn now_secs(&self) -> i64 {
        ms(self.s.cfg.clock.wall()) / 1000
    }

    /// A "session gone" answer is confirmed by re-reading the client before
    /// the account is signed out.
    async fn confirm_gone(&self, acct: &AccountRef) {
        let Ok(fapi) = self.fapi(&acct.instance_id).await else {
            return;
        };
        // Another process may have rotated the credential meanwhile.
        self.adopt_newer_credential(&acct.instance_id).await;
        match fapi.get_client().await {
            Ok(c) => self.apply_client(&acct.instance_id, c).await,
            Err(e) => tracing::debug!(
                kind = e.kind_name(),
                "could not confirm a session is gone; keeping the account"
            ),
        }
    }

    // ------------------------------------------------------------ refresher

    /// One pass of the background work: refresh the active account's token
    /// when due, re-read background accounts and devices when due. Returns
    /// how long to sleep before the next pass.
    pub async fn tick(&self) -> Duration {
        let clock = self.s.cfg.clock.clone();
        let max_tick = self.s.cfg.max_tick;
        let mut sleep = max_tick;
        let backoff_until = lock(&self.s.refresh).not_before;
        if let Some(nb) = backoff_until {
            let now = clock.mono();
            if now < nb {
                return (nb - now).min(max_tick);
            }
        }
        if let Some(acct) = self.active() {
            let key = TokenKey::session_token(&acct);
            let cached = lock(&self.s.tokens).get(&key).cloned();
            let due = match &cached {
                Some(t) => {
                    let (refresh_at, _) = Self::thresholds(t.lifetime);
                    let left = t.remaining(clock.as_ref());
                    if left > refresh_at {
                        sleep = sleep.min(left - refresh_at);
                        false
                    } else {
                        true
                    }
                }
                None => true,
            };
            if due {
                match self.token_for(&key, true).await {
                    Ok(t) => {
                        lock(&self.s.refresh).failures = 0;
                        lock(&self.s.refresh).not_before = None;
                        self.emit(Event::TokenRefreshed {
                            account: acct.clone(),
                            expires_at_ms: t.exp_ms,
                        });
                        let (refresh_at, _) = Self::thresholds(t.lifetime);
                        sleep = sleep.min(t.lifetime.saturating_sub(refresh_at));
                    }
                    Err(e) if e.is_transient() => {
                        let wait = {
                            let mut r = lock(&self.s.refresh);
                            let w = self.s.cfg.retry.wait_after(&e, r.failures);
                            r.failures = r.failures.saturating_add(1);
                            r.not_before = Some(clock.mono() + w);
                            w
                        };
                        sleep = wait.min(max_tick);
                    }
                    Err(_) => {}
                }
            }
        }
        // Background accounts and devices, at most once per interval.
        let every = self.s.cfg.background_every;
        let due: Vec<String> = {
            let inst = self.s.instances.lock().await;
            inst.iter()
                .filter(|(_, i)| {
                    i.last_background
                        .is_none_or(|t| clock.mono().saturating_duration_since(t) >= every)
                })
                .map(|(k, _)| k.clone())
                .collect()
        };
        for id in due {
            if let Some(i) = self.s.instances.lock().await.get_mut(&id) {
                i.last_background = Some(clock.mono());
            }
            let _ = self.reload(Some(&id)).await;
        }
        let devices_due = lock(&self.s.refresh)
            .last_devices
            .is_none_or(|t| clock.mono().saturating_duration_since(t) >= self.s.cfg.devices_every);
        if devices_due {
            lock(&self.s.refresh).last_devices = Some(clock.mono());
            if let Some(acct) = self.active() {
                let _ = self.devices(&acct).await;
            }
        }
        sleep.max(Duration::from_millis(20))
    }

    /// Runs [`tick`](Self::tick) until `stop` turns true.
    pub fn start_background(&self, mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let engine = self.clone();
        tokio::spawn(async move {
            loop {
                let wait = engine.tick().await;
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    r = stop.changed() => if r.is_err() || *stop.borrow() { return },
                }
            }
        })
    }

    // ------------------------------------------------------------ sign-in

    async fn flows(&self, instance_id: &str) -> Result<Arc<SignInFlows>> {
        self.with_instance(instance_id, |i| i.flows.clone()).await
    }

    /// Starts hosted auth (`strategy` None) or a direct OAuth sign-in.
    pub async fn start_sign_in(
        &self,
        instance_id: &str,
        strategy: Option<&str>,
        redirect: Redirect,
    ) -> Result<Started> {
        let flows = self.flows(instance_id).await?;
        match strategy {
            None => flows.start_hosted(redirect).await,
            Some(s) => flows.start_oauth(s, redirect).await,
        }
    }

    /// Cancels the sign-in in progress on an instance.
    pub async fn cancel_sign_in(&self, instance_id: &str) -> bool {
        self.flows(instance_id)
            .await
            .map(|f| f.cancel())
            .unwrap_or(false)
    }

    /// The sign-in in progress, if any: (instance id, attempt).
    pub async fn pending_sign_in(&self) -> Option<(String, Started)> {
        let inst = self.s.instances.lock().await;
        inst.iter()
            .find_map(|(id, i)| i.flows.pending().map(|p| (id.clone(), p)))
    }

    /// Handles a deep link. Sign-in callbacks go to the instance whose
    /// attempt is live; a handoff goes to the active account's instance (or
    /// the only one) and waits for [`confirm_handoff`](Self::confirm_handoff).
    pub async fn handle_deep_link(&self, url: &str) -> Result<Outcome> {
        let cb = parse_deep_link(url)?;
        self.handle_callback(cb).await
    }

    /// Handles a parsed callback (deep link or loopback).
    pub async fn handle_callback(&self, cb: Callback) -> Result<Outcome> {
        let target = match &cb {
            Callback::Handoff { .. } => self.handoff_instance().await?,
            _ => self
                .pending_sign_in()
                .await
                .map(|(id, _)| id)
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::Callback,
                        "rejected callback: no sign-in is in progress; start again",
                    )
                })?,
        };
        let flows = self.flows(&target).await?;
        let outcome = flows.handle(cb).await?;
        crate::failpoint::hit("sign-in:before-save");
        if let Outcome::SignedIn {
            session, client, ..
        } = &outcome
        {
            if self.environment(&target).await.is_none()
                && let Ok(e) = flows.fapi().environment().await
                && let Some(i) = self.s.instances.lock().await.get_mut(&target)
            {
                i.environment = Some(e);
            }
            self.apply_client(&target, Some((**client).clone())).await;
            self.set_active(AccountRef {
                instance_id: target.clone(),
                session_id: session.clone(),
            })
            .await;
        }
        Ok(outcome)
    }

    /// The instance a handoff link goes to: the active account's, or the
    /// only one.
    pub async fn handoff_instance(&self) -> Result<String> {
        if let Some(a) = self.active() {
            return Ok(a.instance_id);
        }
        let inst = self.s.instances.lock().await;
        if inst.len() == 1 {
            return Ok(inst.keys().next().cloned().unwrap_or_default());
        }
        Err(Error::new(
            ErrorKind::SignIn,
            "choose an instance before opening an account link",
        ))
    }

    /// Redeems a pending handoff after the user said "Continue".
    pub async fn confirm_handoff(&self) -> Result<(AccountRef, HandoffResult)> {
        let id = self.handoff_instance().await?;
        let flows = self.flows(&id).await?;
        let keep = self
            .active()
            .filter(|a| a.instance_id == id)
            .map(|a| a.session_id);
        let r = flows.confirm_handoff(keep.as_ref()).await?;
        let fapi = self.fapi(&id).await?;
        let client = fapi.get_client().await?;
        self.apply_client(&id, client).await;
        let session = match &r {
            HandoffResult::Added { session, .. } | HandoffResult::AlreadySignedIn { session } => {
                session.clone()
            }
        };
        let acct = AccountRef {
            instance_id: id,
            session_id: session,
        };
        if matches!(r, HandoffResult::AlreadySignedIn { .. }) || self.active().is_none() {
            self.set_active(acct.clone()).await;
        }
        Ok((acct, r))
    }

    /// Drops a pending handoff.
    pub async fn decline_handoff(&self) -> bool {
        match self.handoff_instance().await {
            Ok(id) => self
                .flows(&id)
                .await
                .map(|f| f.decline_handoff())
                .unwrap_or(false),
            Err(_) => false,
        }
    }

    /// True while a handoff waits for an answer.
    pub async fn handoff_pending(&self) -> bool {
        let inst = self.s.instances.lock().await;
        inst.values().any(|i| i.flows.handoff_pending())
    }

    // ------------------------------------------------------------ actions

    async fn set_active(&self, acct: AccountRef) {
        let changed = {
            let mut a = lock(&self.s.active);
            let c = a.as_ref() != Some(&acct);
            *a = Some(acct.clone());
            c
        };
        if changed {
            let _ = self.save_index().await;
            // The cached accounts carry the active flag.
            self.refresh_display_cache().await;
            self.emit(Event::ActiveChanged {
                account: Some(acct),
            });
        }
    }

    /// Makes `acct` the active account (touch, keeping its organization).
    pub async fn switch(&self, acct: &AccountRef) -> Result<()> {
        let session = self.session(acct).await?;
        let fapi = self.fapi(&acct.instance_id).await?;
        let (_, client) = self
            .on_gone(
                acct,
                fapi.touch(
                    &acct.session_id,
                    session.last_active_organization_id.as_ref(),
                    "select_session",
                )
                .await,
            )
            .await?;
        if let Some(c) = client {
            self.apply_client(&acct.instance_id, Some(c)).await;
        }
        self.set_active(acct.clone()).await;
        Ok(())
    }

    /// Switches the account's active organization (`None` = personal).
    pub async fn switch_org(&self, acct: &AccountRef, org: Option<&OrganizationId>) -> Result<()> {
        self.session(acct).await?;
        let fapi = self.fapi(&acct.instance_id).await?;
        let (_, client) = self
            .on_gone(acct, fapi.touch(&acct.session_id, org, "select_org").await)
            .await?;
        lock(&self.s.tokens).retain(|k, _| {
            !(k.instance == acct.instance_id
                && k.session == acct.session_id
                && k.org == OrgSel::Active)
        });
        if let Some(c) = client {
            self.apply_client(&acct.instance_id, Some(c)).await;
        }
        Ok(())
    }

    async fn on_gone<T>(&self, acct: &AccountRef, r: Result<T>) -> Result<T> {
        if let Err(e) = &r
            && e.is_session_gone()
        {
            self.confirm_gone(acct).await;
        }
        r
    }

    /// Signs this account out of this device (others stay).
    pub async fn sign_out(&self, acct: &AccountRef) -> Result<()> {
        let fapi = self.fapi(&acct.instance_id).await?;
        self.forget_tokens(acct);
        lock(&self.s.signing_out).insert(acct.clone());
        match fapi.remove_session(&acct.session_id).await {
            Ok((_, client)) => {
                let client = match client {
                    Some(c) => Some(c),
                    None => fapi.get_client().await?,
                };
                self.apply_client(&acct.instance_id, client).await;
                Ok(())
            }
            Err(e) if e.is_session_gone() => {
                self.confirm_gone(acct).await;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Signs every account of an instance out of this device.
    pub async fn sign_out_device(&self, instance_id: &str) -> Result<()> {
        let fapi = self.fapi(instance_id).await?;
        for a in self
            .accounts()
            .await
            .into_iter()
            .filter(|a| a.account.instance_id == instance_id)
        {
            self.forget_tokens(&a.account);
            lock(&self.s.signing_out).insert(a.account);
        }
        let client = fapi.sign_out_all().await?;
        self.apply_client(instance_id, client).await;
        Ok(())
    }

    /// The user's active sessions everywhere; this device's first.
    pub async fn devices(&self, acct: &AccountRef) -> Result<Vec<Device>> {
        let fapi = self.fapi(&acct.instance_id).await?;
        let list = self
            .on_gone(acct, fapi.active_sessions(&acct.session_id).await)
            .await?;
        let here: BTreeSet<SessionId> = {
            let inst = self.s.instances.lock().await;
            inst.get(&acct.instance_id)
                .and_then(|i| i.client.as_ref())
                .map(|c| c.sessions.iter().map(|s| s.id.clone()).collect())
                .unwrap_or_default()
        };
        let mut devices: Vec<Device> = list
            .into_iter()
            .filter(|s| s.status.is_signed_in())
            .map(|s| Device {
                this_device: here.contains(&s.id),
                session: s,
            })
            .collect();
        devices.sort_by(|a, b| {
            b.this_device
                .cmp(&a.this_device)
                .then(b.session.last_active_at.cmp(&a.session.last_active_at))
        });
        self.note_devices(acct, &devices);
        Ok(devices)
    }

    /// Records the device set; announces sessions not seen before (not on
    /// the first look at an account).
    fn note_devices(&self, acct: &AccountRef, devices: &[Device]) {
        let key = format!("{}/{}", acct.instance_id, acct.session_id);
        let new: Vec<&Device> = {
            let mut c = lock(&self.s.cache);
            let first_look = !c.known_devices.contains_key(&key);
            let known = c.known_devices.entry(key).or_default();
            let new: Vec<&Device> = devices
                .iter()
                .filter(|d| !d.this_device && !known.contains(&d.session.id))
                .collect();
            known.extend(devices.iter().map(|d| d.session.id.clone()));
            if first_look { Vec::new() } else { new }
        };
        for d in new {
            let a = d.session.latest_activity.clone().unwrap_or_default();
            let description = [a.browser_name, a.device_type, a.city]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ");
            self.emit(Event::NewDevice {
                account: acct.clone(),
                session_id: d.session.id.clone(),
                description,
            });
        }
    }

    /// Revokes one session of the account's user on another device.
    pub async fn revoke(&self, acct: &AccountRef, target: &SessionId) -> Result<RevokeOutcome> {
        if target == &acct.session_id {
            return Err(Error::new(
                ErrorKind::Config,
                "use sign out for the session on this device",
            ));
        }
        let fapi = self.fapi(&acct.instance_id).await?;
        Ok(match fapi.revoke_session(&acct.session_id, target).await {
            Ok(_) => RevokeOutcome::Revoked,
            Err(e) if e.kind() == &ErrorKind::ReverificationRequired => {
                RevokeOutcome::ReverificationRequired
            }
            Err(e) if e.is_session_gone() || e.kind() == &ErrorKind::Unauthenticated => {
                self.confirm_gone(acct).await;
                return Err(e);
            }
            Err(e) => RevokeOutcome::Failed {
                kind: e.kind_name().to_owned(),
                message: e.to_string(),
            },
        })
    }

    /// Revokes every other session of the user; one outcome per session.
    pub async fn sign_out_other_devices(
        &self,
        acct: &AccountRef,
    ) -> Result<Vec<(SessionId, RevokeOutcome)>> {
        let devices = self.devices(acct).await?;
        let mut out = Vec::new();
        for d in devices.into_iter().filter(|d| !d.this_device) {
            let r = self.revoke(acct, &d.session.id).await?;
            out.push((d.session.id, r));
        }
        Ok(out)
    }

    /// Revokes the other sessions first (while the credential still works),
    /// then signs out here and wipes the instance's credential when no
    /// account is left on it. If some revokes fail, nothing is signed out
    /// here unless `force`.
    pub async fn sign_out_everywhere(
        &self,
        acct: &AccountRef,
        force: bool,
    ) -> Result<EverywhereOutcome> {
        let results = self.sign_out_other_devices(acct).await?;
        let failed: Vec<(SessionId, RevokeOutcome)> = results
            .iter()
            .filter(|(_, r)| r != &RevokeOutcome::Revoked)
            .cloned()
            .collect();
        if !failed.is_empty() && !force {
            return Ok(EverywhereOutcome::Partial { failed });
        }
        self.sign_out(acct).await?;
        let left = self
            .accounts()
            .await
            .iter()
            .any(|a| a.account.instance_id == acct.instance_id);
        if !left {
            let fapi = self.fapi(&acct.instance_id).await?;
            let _ = fapi.delete_client().await;
            fapi.set_credential(None);
        }
        Ok(EverywhereOutcome::Done {
            revoked: results.len() - failed.len(),
        })
    }

    /// The active organization of the account's current token: its `o`
    /// claim and the permissions it encodes (`None`: personal account).
    pub async fn active_org_claim(
        &self,
        acct: &AccountRef,
    ) -> Result<Option<(crate::jwt::OrgClaim, Vec<String>)>> {
        let token = self.get_token(acct, None, OrgSel::Active).await?;
        let claims: Option<crate::jwt::Claims> = crate::jwt::decode_unverified(token.expose())
            .and_then(|v| serde_json::from_value(v).ok());
        let Some(claims) = claims else {
            return Err(Error::new(
                ErrorKind::Protocol,
                "the session token's claims could not be read",
            ));
        };
        Ok(claims.o.map(|o| {
            let perms = o.permissions(claims.fea.as_deref());
            (o, perms)
        }))
    }

    /// Members of the account's active organization. Admins only: the role
    /// in the current token decides, before anything is asked of Clerk.
    ///
    /// # Errors
    /// [`ErrorKind::Forbidden`] for a personal account or a non-admin role.
    pub async fn organization_members(
        &self,
        acct: &AccountRef,
    ) -> Result<Vec<OrganizationMembership>> {
        let org = match self.active_org_claim(acct).await? {
            Some((o, _)) if o.is_admin() => o,
            Some(_) => {
                return Err(Error::new(
                    ErrorKind::Forbidden,
                    "only organization admins can see the members list",
                ));
            }
            None => {
                return Err(Error::new(
                    ErrorKind::Forbidden,
                    "no organization is active for this account",
                ));
            }
        };
        let fapi = self.fapi(&acct.instance_id).await?;
        fapi.organization_memberships(&acct.session_id, &OrganizationId(org.id))
            .await
    }

    /// The JWT template names configured for an instance.
    pub fn templates(&self, instance_id: &str) -> Vec<String> {
        lock(&self.s.templates)
            .get(instance_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Sets the JWT template names of an instance (Clerk has no endpoint
    /// that lists them).
    pub fn set_templates(&self, instance_id: &str, names: Vec<String>) {
        lock(&self.s.templates).insert(instance_id.to_owned(), names);
    }

    /// Details of the account's session and its current token's claims.
    pub async fn details(&self, acct: &AccountRef) -> Result<SessionDetails> {
        let session = self.session(acct).await?;
        let key = TokenKey::session_token(acct);
        let cached = lock(&self.s.tokens).get(&key).cloned();
        Ok(SessionDetails {
            account: acct.clone(),
            session,
            claims: cached
                .as_ref()
                .and_then(|t| crate::jwt::decode_unverified(t.token.expose())),
            token_expires_at_ms: cached.map(|t| t.exp_ms),
            templates: self.templates(&acct.instance_id),
        })
    }
}

fn cred_key(instance_id: &str, slot: char) -> String {
    format!("credential:{instance_id}:{slot}")
}
