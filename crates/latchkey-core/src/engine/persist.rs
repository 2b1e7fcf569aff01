//! Secure storage: the account index, two credential slots per Clerk
//! client, and the storage state the UI shows.
//!
//! Layout (service `dev.latchkey.desktop`): `index`, and for each client
//! `credential:<instance>:<a|b>` (the instance's `main` client: the layout
//! of version 1, unchanged) or `credential:<instance>/<key>:<a|b>` (a client
//! of one account's own). Index version 1 named one slot per instance; it is
//! read as that instance's `main` client and rewritten as version 2 at
//! open. An index from a newer version is never overwritten: secure storage
//! is then treated as unavailable, with a message saying why.
//!
//! A rotated credential is written to the slot not in use, then the index
//! is switched to it, then the old slot is deleted; each slot carries a
//! sequence number and the loader takes the newest readable slot, so a crash
//! after any of the writes leaves a readable state. Saves are serialised (a
//! concurrent save never picks the same slot or deletes another's write). A
//! failed save keeps the credential in memory, shows
//! [`StorageState::SaveFailed`] and is retried by the background loop with
//! backoff on the engine's clock until it lands or a newer credential
//! replaces it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::instances::{ClientRef, MAIN};
use super::{AccountRef, Engine, EngineConfig, Event, lock};
use crate::error::{Error, Result};
use crate::instance::{Instance, InstanceKind};
use crate::secret::ClientCredential;
use crate::store::{StoreError, StoreErrorKind};

/// Whether secrets are kept in secure storage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum StorageState {
    /// Secure storage works.
    Secure {
        /// Which store ("Secret Service", …).
        backend: String,
    },
    /// No secure storage: signed in for this run only; nothing written.
    Unavailable {
        /// Why, in words.
        reason: String,
        /// The keyring is locked (rather than absent).
        locked: bool,
    },
    /// Secure storage refused the last save: the sign-in works now but
    /// would be lost on restart; saving is retried.
    SaveFailed {
        /// Why, in words.
        reason: String,
        /// The keyring is locked.
        locked: bool,
    },
}

impl StorageState {
    fn from_error(e: &StoreError, save_failed: bool) -> Self {
        let (reason, locked) = (e.message.clone(), e.kind == StoreErrorKind::Locked);
        if save_failed {
            Self::SaveFailed { reason, locked }
        } else {
            Self::Unavailable { reason, locked }
        }
    }
}

/// One of a client's two credential slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum Slot {
    #[serde(rename = "a")]
    A,
    #[serde(rename = "b")]
    B,
}

impl Slot {
    fn other(self) -> Self {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }

    fn key(self, c: &ClientRef) -> String {
        let s = match self {
            Slot::A => 'a',
            Slot::B => 'b',
        };
        if c.is_main() {
            format!("credential:{}:{s}", c.instance_id)
        } else {
            format!("credential:{}/{}:{s}", c.instance_id, c.key)
        }
    }
}

/// What a slot holds.
#[derive(Serialize, Deserialize)]
struct CredentialEntry {
    /// Sequence number of the write (newest wins on load).
    seq: u64,
    credential: Option<String>,
}

/// The newest readable credential of an instance.
struct StoredCredential {
    seq: u64,
    slot: Slot,
    credential: Option<ClientCredential>,
}

/// The index format this version writes.
const INDEX_VERSION: u32 = 2;

/// The `index` entry: instances, their clients' current slots, the active
/// account.
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
    /// Version 1: the one client's slot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    slot: Option<Slot>,
    /// Version 2: every client of the instance.
    #[serde(default)]
    clients: Vec<IndexClient>,
}

#[derive(Serialize, Deserialize, Clone)]
struct IndexClient {
    key: String,
    slot: Slot,
    /// A handoff's session waiting for the user's answer (ended at the next
    /// start if a crash left it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    quarantined: bool,
}

impl IndexInstance {
    /// Its clients, whichever version wrote it.
    fn clients(&self) -> Vec<IndexClient> {
        if self.clients.is_empty() {
            vec![IndexClient {
                key: MAIN.to_owned(),
                slot: self.slot.unwrap_or(Slot::A),
                quarantined: false,
            }]
        } else {
            self.clients.clone()
        }
    }
}

/// Per instance: the slot in use, the last sequence number, and the
/// credential last written or read (so it is not written again).
#[derive(Clone)]
struct SlotState {
    slot: Slot,
    seq: u64,
    persisted: Option<String>,
}

impl Default for SlotState {
    fn default() -> Self {
        Self {
            slot: Slot::A,
            seq: 0,
            persisted: None,
        }
    }
}

/// What this module owns.
pub(super) struct PersistState {
    storage: Mutex<StorageState>,
    slots: Mutex<HashMap<ClientRef, SlotState>>,
    /// Serialises saves.
    save: tokio::sync::Mutex<()>,
    /// Failed saves waiting for their retry: when (engine clock) and the
    /// wait after the next failure.
    retrying: Mutex<BTreeMap<Pending, (Instant, Duration)>>,
    /// The saved accounts were read (or there were none). False while the
    /// keyring is locked or unreadable: the display cache's accounts are
    /// then waiting for it, not gone.
    index_read: std::sync::atomic::AtomicBool,
}

impl PersistState {
    pub(super) fn new(storage: StorageState) -> Self {
        Self {
            storage: Mutex::new(storage),
            slots: Mutex::new(HashMap::new()),
            save: tokio::sync::Mutex::new(()),
            retrying: Mutex::new(BTreeMap::new()),
            index_read: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

/// A save that failed and is retried.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Pending {
    /// A client's credential.
    Credential(ClientRef),
    /// The account index (a new client, the active account, a slot switch).
    Index,
}

/// The first retry of a failed save, and the longest wait between two.
const SAVE_RETRY_FIRST: Duration = Duration::from_secs(1);
const SAVE_RETRY_CAP: Duration = Duration::from_secs(60);

/// The storage state at open: the write-read-delete probe when configured.
pub(super) async fn probe(cfg: &EngineConfig) -> StorageState {
    let probe = if cfg.probe_storage {
        cfg.keychain.probe().await
    } else {
        Ok(())
    };
    match probe {
        Ok(()) => StorageState::Secure {
            backend: cfg.keychain.describe().to_owned(),
        },
        Err(e) => StorageState::from_error(&e, false),
    }
}

impl Engine {
    /// Reads the index and every instance's newest credential, and installs
    /// the instances. A damaged credential signs that instance's accounts
    /// out; the others are untouched.
    pub(super) async fn load_index(&self) {
        let keychain = &self.s.cfg.keychain;
        // A slow first call (the keyring daemon starting, a loaded machine)
        // is retried before secure storage is declared unavailable.
        let mut read = keychain.get("index").await;
        for _ in 0..2 {
            match &read {
                Err(e) if matches!(e.kind, StoreErrorKind::Timeout | StoreErrorKind::Other) => {
                    read = keychain.get("index").await
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
                    self.set_index_read();
                    return;
                }
            },
            Ok(None) => {
                self.set_index_read();
                return;
            }
            Err(e) => {
                self.set_storage(StorageState::from_error(&e, false));
                return;
            }
        };
        if index.v > INDEX_VERSION {
            // Written by a newer Latchkey: not ours to read or to overwrite.
            self.set_storage(StorageState::Unavailable {
                reason: format!(
                    "secure storage holds accounts saved by a newer version of Latchkey \
                     (format {}); update Latchkey to use them (nothing was changed)",
                    index.v
                ),
                locked: false,
            });
            return;
        }
        self.set_index_read();
        for ii in &index.instances {
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
            let mut credentials = Vec::new();
            let mut quarantined = Vec::new();
            for ic in ii.clients() {
                if ic.quarantined {
                    quarantined.push(ic.key.clone());
                }
                let c = ClientRef {
                    instance_id: ii.id.clone(),
                    key: ic.key.clone(),
                };
                // Both slots are read and the newest write wins, so a crash
                // between writing a new slot and switching the index loses
                // nothing; the index's slot only breaks ties.
                let stored = self.read_credential(&c, ic.slot).await;
                let state = match &stored {
                    Some(sc) => SlotState {
                        slot: sc.slot,
                        seq: sc.seq,
                        persisted: sc.credential.as_ref().map(|c| c.expose().to_owned()),
                    },
                    None => SlotState {
                        slot: ic.slot,
                        ..SlotState::default()
                    },
                };
                lock(&self.s.persist.slots).insert(c, state);
                credentials.push((ic.key, stored.and_then(|c| c.credential)));
            }
            let _ = self.install(instance, credentials).await;
            for key in quarantined {
                let c = ClientRef {
                    instance_id: ii.id.clone(),
                    key,
                };
                let _ = self.with_client_mut(&c, |cs| cs.quarantined = true).await;
                self.note_leftover_quarantine(c);
            }
        }
        if self.active().is_none() {
            self.restore_active(index.active.clone());
        }
        if index.v < INDEX_VERSION {
            // Migrated forward now, in one write: a crash before it leaves
            // the old index, still readable; after it, the new one.
            match self.save_index().await {
                Ok(()) => tracing::info!(from = index.v, "account index migrated"),
                Err(e) => tracing::warn!(error = %e, "could not migrate the account index yet"),
            }
        }
    }

    fn set_index_read(&self) {
        self.s
            .persist
            .index_read
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// The saved accounts could not be read yet (the keyring is locked or
    /// unreadable, or they were saved by a newer Latchkey): the accounts
    /// the display cache lists are waiting for secure storage, not gone.
    pub fn saved_accounts_unread(&self) -> bool {
        !self
            .s
            .persist
            .index_read
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The newest readable credential in either slot.
    async fn read_credential(&self, c: &ClientRef, hint: Slot) -> Option<StoredCredential> {
        let mut best: Option<StoredCredential> = None;
        for slot in [hint, hint.other()] {
            let Ok(Some(bytes)) = self.s.cfg.keychain.get(&slot.key(c)).await else {
                continue;
            };
            let Ok(entry) = serde_json::from_slice::<CredentialEntry>(&bytes) else {
                continue;
            };
            if best.as_ref().is_none_or(|b| entry.seq > b.seq) {
                best = Some(StoredCredential {
                    seq: entry.seq,
                    slot,
                    credential: entry.credential.map(ClientCredential::new),
                });
            }
        }
        best
    }

    /// Another process (the app, another CLI call) may have rotated the
    /// credential since we read it: adopt a newer one from secure storage.
    /// True if it changed.
    pub(super) async fn adopt_newer_credential(&self, c: &ClientRef) -> bool {
        if matches!(
            *lock(&self.s.persist.storage),
            StorageState::Unavailable { .. }
        ) {
            return false;
        }
        let Ok(fapi) = self.fapi(c).await else {
            return false;
        };
        let known = lock(&self.s.persist.slots)
            .get(c)
            .cloned()
            .unwrap_or_default();
        let Some(stored) = self.read_credential(c, known.slot).await else {
            return false;
        };
        if stored.seq <= known.seq || stored.credential == fapi.credential() {
            return false;
        }
        lock(&self.s.persist.slots).insert(
            c.clone(),
            SlotState {
                slot: stored.slot,
                seq: stored.seq,
                persisted: stored.credential.as_ref().map(|c| c.expose().to_owned()),
            },
        );
        fapi.set_credential(stored.credential);
        true
    }

    /// Saves the client's credential if it changed since it was last
    /// written or read: called after every Frontend API call (a response may
    /// rotate it). A failure never fails the caller: the credential stays in
    /// memory, the state becomes [`StorageState::SaveFailed`], and the save
    /// is retried with backoff.
    pub(super) async fn save_credential(&self, c: &ClientRef) {
        match self.write_credential(c).await {
            Ok(()) => self.saved_ok(),
            Err(e) => {
                tracing::warn!(error = %e, "could not save the rotated sign-in to secure storage; kept in memory, retrying");
                self.set_storage(StorageState::from_error(&e, true));
                self.retry_save(c);
            }
        }
    }

    fn saved_ok(&self) {
        if !lock(&self.s.persist.retrying).is_empty() {
            return; // another save still waits for its retry
        }
        let degraded = matches!(
            *lock(&self.s.persist.storage),
            StorageState::SaveFailed { .. }
        );
        if degraded {
            self.set_storage(StorageState::Secure {
                backend: self.s.cfg.keychain.describe().to_owned(),
            });
        }
    }

    /// Schedules a failed save's retry (1 s, 2 s … 60 s after each
    /// failure, on the engine's clock) and wakes the background loop, which
    /// makes it (see [`retry_saves_if_due`](Self::retry_saves_if_due)).
    fn retry_save(&self, c: &ClientRef) {
        self.schedule_retry(Pending::Credential(c.clone()));
    }

    fn schedule_retry(&self, what: Pending) {
        let at = self.s.cfg.clock.mono() + SAVE_RETRY_FIRST;
        lock(&self.s.persist.retrying)
            .entry(what)
            .or_insert((at, SAVE_RETRY_FIRST));
        self.wake_refresher();
    }

    /// The background loop's part: retries the failed saves that are due,
    /// until each lands or there is nothing left to save (a newer
    /// credential was saved meanwhile). Returns the time until the next
    /// retry.
    pub(super) async fn retry_saves_if_due(&self) -> Duration {
        let clock = self.s.cfg.clock.clone();
        let now = clock.mono();
        let due: Vec<Pending> = lock(&self.s.persist.retrying)
            .iter()
            .filter(|(_, (at, _))| *at <= now)
            .map(|(p, _)| p.clone())
            .collect();
        for p in due {
            let saved = match &p {
                Pending::Credential(c) => self.write_credential(c).await,
                Pending::Index => self.write_index().await,
            };
            match saved {
                Ok(()) => {
                    lock(&self.s.persist.retrying).remove(&p);
                    self.saved_ok();
                }
                Err(e) => {
                    self.set_storage(StorageState::from_error(&e, true));
                    if let Some((at, wait)) = lock(&self.s.persist.retrying).get_mut(&p) {
                        *wait = (*wait * 2).min(SAVE_RETRY_CAP);
                        *at = clock.mono() + *wait;
                    }
                }
            }
        }
        let now = clock.mono();
        lock(&self.s.persist.retrying)
            .values()
            .map(|(at, _)| at.saturating_duration_since(now))
            .min()
            .unwrap_or(self.s.cfg.max_tick)
    }

    /// The rotation write: new slot → index → delete the old slot.
    async fn write_credential(&self, c: &ClientRef) -> std::result::Result<(), StoreError> {
        let _serial = self.s.persist.save.lock().await;
        if matches!(
            *lock(&self.s.persist.storage),
            StorageState::Unavailable { .. }
        ) {
            return Ok(());
        }
        let Ok(fapi) = self.fapi(c).await else {
            return Ok(()); // forgotten meanwhile
        };
        let cred = fapi.credential();
        let (old_slot, seq) = {
            let mut slots = lock(&self.s.persist.slots);
            let st = slots.entry(c.clone()).or_default();
            if cred.as_ref().map(|c| c.expose()) == st.persisted.as_deref() {
                return Ok(()); // already stored (or adopted from storage)
            }
            st.seq += 1;
            (st.slot, st.seq)
        };
        let new_slot = old_slot.other();
        let entry = CredentialEntry {
            seq,
            credential: cred.as_ref().map(|c| c.expose().to_owned()),
        };
        let bytes = serde_json::to_vec(&entry).map_err(|_| {
            StoreError::new(StoreErrorKind::Other, "could not encode a credential entry")
        })?;
        self.s.cfg.keychain.set(&new_slot.key(c), &bytes).await?;
        crate::failpoint::hit("rotation:after-new-slot");
        if let Some(st) = lock(&self.s.persist.slots).get_mut(c) {
            st.persisted = entry.credential;
            st.slot = new_slot;
        }
        self.save_index().await?;
        crate::failpoint::hit("rotation:after-index");
        self.s.cfg.keychain.delete(&old_slot.key(c)).await?;
        crate::failpoint::hit("rotation:after-delete-old");
        Ok(())
    }

    /// Forgets a client's secrets: out of the index first (so a crash
    /// leaves no index entry naming deleted slots), then both slots.
    pub(super) async fn delete_credential(&self, c: &ClientRef) {
        let _serial = self.s.persist.save.lock().await;
        lock(&self.s.persist.slots).remove(c);
        if let Err(e) = self.save_index().await {
            tracing::warn!(error = %e, "could not update the account index");
            return;
        }
        for slot in [Slot::A, Slot::B] {
            let _ = self.s.cfg.keychain.delete(&slot.key(c)).await;
        }
    }

    /// Writes the index: every instance, its clients' current slots, the
    /// active account. A failure is reported as
    /// [`StorageState::SaveFailed`] and retried by the background loop, like
    /// a credential's.
    pub(super) async fn save_index(&self) -> std::result::Result<(), StoreError> {
        match self.write_index().await {
            Ok(()) => {
                let waited = lock(&self.s.persist.retrying)
                    .remove(&Pending::Index)
                    .is_some();
                if waited {
                    self.saved_ok();
                }
                Ok(())
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not save the account index to secure storage; retrying");
                self.set_storage(StorageState::from_error(&e, true));
                self.schedule_retry(Pending::Index);
                Err(e)
            }
        }
    }

    async fn write_index(&self) -> std::result::Result<(), StoreError> {
        if matches!(
            *lock(&self.s.persist.storage),
            StorageState::Unavailable { .. }
        ) {
            return Ok(());
        }
        let instances: Vec<(crate::Instance, Vec<(String, bool)>)> = {
            let inst = self.s.instances.lock().await;
            inst.values()
                .map(|i| {
                    (
                        i.instance.clone(),
                        i.ordered()
                            .map(|(k, c)| (k.clone(), c.quarantined))
                            .collect(),
                    )
                })
                .collect()
        };
        let index = {
            let slots = lock(&self.s.persist.slots);
            Index {
                v: INDEX_VERSION,
                instances: instances
                    .iter()
                    .map(|(i, keys)| IndexInstance {
                        id: i.id().to_owned(),
                        kind: i.kind(),
                        frontend_api: i.frontend_api().as_str().trim_end_matches('/').to_owned(),
                        publishable_key: i.publishable_key().to_owned(),
                        slot: None,
                        clients: keys
                            .iter()
                            .map(|(k, quarantined)| {
                                let c = ClientRef {
                                    instance_id: i.id().to_owned(),
                                    key: k.clone(),
                                };
                                IndexClient {
                                    key: k.clone(),
                                    slot: slots.get(&c).map_or(Slot::A, |s| s.slot),
                                    quarantined: *quarantined,
                                }
                            })
                            .collect(),
                    })
                    .collect(),
                active: self.active(),
            }
        };
        let bytes = serde_json::to_vec(&index).map_err(|_| {
            StoreError::new(StoreErrorKind::Other, "could not encode the account index")
        })?;
        self.s.cfg.keychain.set("index", &bytes).await
    }

    /// Remembers a new client's slot state (nothing stored yet).
    pub(super) fn track_new_client(&self, c: &ClientRef) {
        lock(&self.s.persist.slots).entry(c.clone()).or_default();
    }

    pub(super) fn set_storage(&self, state: StorageState) {
        let changed = {
            let mut s = lock(&self.s.persist.storage);
            let changed = *s != state;
            *s = state.clone();
            changed
        };
        if changed {
            self.emit(Event::Storage { state });
        }
    }

    /// Secure storage was unusable (locked, say): if it answers now, the
    /// saved accounts are loaded (next to any signed in meanwhile, which
    /// are saved), without a restart. Called by the background loop every
    /// few seconds while storage is unusable, and after
    /// [`unlock_storage`](Self::unlock_storage).
    pub async fn recheck_storage(&self) -> StorageState {
        if matches!(self.storage_state(), StorageState::Secure { .. }) {
            return self.storage_state();
        }
        match self.s.cfg.keychain.get("index").await {
            Ok(_) => {
                self.set_storage(StorageState::Secure {
                    backend: self.s.cfg.keychain.describe().to_owned(),
                });
                self.load_index().await;
                if let Err(e) = self.flush().await {
                    tracing::warn!(error = %e, "sign-ins made while storage was locked were not saved yet");
                }
                let _ = self.save_index().await;
                self.emit(Event::AccountsChanged);
                let _ = self.reload(None).await;
            }
            Err(e) => {
                let now = StorageState::from_error(&e, false);
                if now != self.storage_state() {
                    self.set_storage(now);
                }
            }
        }
        self.storage_state()
    }

    /// Asks the platform to unlock secure storage (the desktop's own
    /// prompt), then loads the saved accounts.
    ///
    /// # Errors
    /// A storage kind when it stays locked or unavailable.
    pub async fn unlock_storage(&self) -> Result<StorageState> {
        self.s.cfg.keychain.unlock().await.map_err(Error::from)?;
        let state = self.recheck_storage().await;
        match &state {
            StorageState::Secure { .. } => Ok(state),
            StorageState::Unavailable { reason, locked }
            | StorageState::SaveFailed { reason, locked } => Err(Error::new(
                if *locked {
                    crate::error::ErrorKind::StorageLocked
                } else {
                    crate::error::ErrorKind::StorageUnavailable
                },
                reason.clone(),
            )),
        }
    }

    /// "Forget everything on this device": signs every account here out
    /// (Clerk is told, each instance within 10 s; one that cannot be
    /// reached keeps its sessions until they expire), forgets every
    /// instance and deletes every secret Latchkey keeps. Returns what could
    /// not be done, in words (empty: all of it). The data dir is the
    /// caller's to delete.
    pub async fn forget_everything(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for inst in self.instances().await {
            let id = inst.id().to_owned();
            if self.clients_of(&id).await.is_empty() {
                continue;
            }
            match tokio::time::timeout(Duration::from_secs(10), self.sign_out_device(&id)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => problems.push(format!("{id}: not signed out at Clerk ({e})")),
                Err(_) => {
                    problems.push(format!("{id}: not signed out at Clerk (no answer in 10 s)"))
                }
            }
        }
        for inst in self.instances().await {
            self.forget_instance(inst.id()).await;
        }
        let keychain = &self.s.cfg.keychain;
        match keychain.purge().await {
            Some(Ok(n)) => tracing::info!(items = n, "secure storage emptied"),
            Some(Err(e)) => problems.push(format!("secure storage was not emptied: {e}")),
            // The platform cannot list entries: the keys Latchkey knows.
            None => {
                if let Err(e) = keychain.delete("index").await {
                    problems.push(format!("secure storage was not emptied: {e}"));
                }
            }
        }
        self.restore_active(None);
        self.emit(Event::AccountsChanged);
        problems
    }

    /// Whether (and how) secrets are kept in secure storage.
    pub fn storage_state(&self) -> StorageState {
        lock(&self.s.persist.storage).clone()
    }

    /// Writes any credential not yet saved, and the index when its write
    /// failed, now (the CLI, which runs no background loop, calls this
    /// before it exits, so a rotation is not left unsaved).
    ///
    /// # Errors
    /// A storage kind when secure storage refuses the write.
    pub async fn flush(&self) -> Result<()> {
        for c in self.all_clients().await {
            // Serialised with any save in progress: one that had written its
            // slot but not yet the index counts as done only once it has.
            self.write_credential(&c).await.map_err(Error::from)?;
            lock(&self.s.persist.retrying).remove(&Pending::Credential(c));
        }
        // An index write that failed (the credential may have landed).
        let index_waits = lock(&self.s.persist.retrying).contains_key(&Pending::Index);
        if index_waits {
            self.save_index().await.map_err(Error::from)?;
        }
        self.saved_ok();
        Ok(())
    }
}
