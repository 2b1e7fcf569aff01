//! Secret storage: a small byte-level seam with two implementations that
//! pass one conformance suite — the OS keychain (keyring with the platform
//! stores enabled explicitly) and an in-memory store that can inject
//! one-shot faults — and [`Keychain`], the async wrapper the engine uses:
//! every call off the executor (`spawn_blocking`) with a timeout, entries
//! framed and split under Windows Credential Manager's 2,560-byte limit.
//!
//! Only the client credential (per instance) and a small account index are
//! stored here. Nothing ever falls back to a file silently.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};

/// What a storage failure means for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// No secure storage (no Secret Service, no keychain access).
    Unavailable,
    /// The keyring is locked or its unlock prompt was dismissed.
    Locked,
    /// The stored bytes are not ours or are damaged.
    Corrupt,
    /// The value is too large for the platform store.
    TooLong,
    /// The store did not answer in time (an unlock prompt, a D-Bus stall).
    Timeout,
    /// Anything else the store reported.
    Other,
}

/// A storage error with a fixed, secret-free message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StoreError {
    /// What the failure means for the user.
    pub kind: StoreErrorKind,
    /// A fixed text (never stored bytes).
    pub message: String,
}

impl StoreError {
    /// An error of `kind` with a fixed, secret-free `message`.
    pub fn new(kind: StoreErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

impl From<StoreError> for crate::Error {
    /// A storage failure as the crate's error: its own kind (locked,
    /// unavailable, failed), the fixed message, and the storage error kept as
    /// the source (its texts are fixed, never stored bytes).
    fn from(e: StoreError) -> Self {
        let kind = match e.kind {
            StoreErrorKind::Locked => crate::ErrorKind::StorageLocked,
            StoreErrorKind::Unavailable => crate::ErrorKind::StorageUnavailable,
            StoreErrorKind::Corrupt
            | StoreErrorKind::TooLong
            | StoreErrorKind::Timeout
            | StoreErrorKind::Other => crate::ErrorKind::StorageFailed,
        };
        crate::Error::new(
            kind,
            format!("could not save to secure storage: {}", e.message),
        )
        .with_source(e)
    }
}

/// The byte-level seam: get, set, delete. `get` of a missing key is
/// `Ok(None)`; `delete` of a missing key is `Ok(())`.
pub trait SecretStore: Send + Sync + 'static {
    /// The value under `key`, or `None`.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Writes (or replaces) the value under `key`.
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError>;
    /// Removes `key` (absent is fine).
    fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// A short name for the UI ("Secret Service", "in memory", …).
    fn describe(&self) -> &'static str;
    /// Asks the platform to unlock the store (the desktop shows its own
    /// prompt); returns once it is unlocked or the user said no.
    fn unlock(&self) -> Result<(), StoreError> {
        Err(StoreError::new(
            StoreErrorKind::Other,
            "this store cannot be unlocked from Latchkey; unlock it from your desktop",
        ))
    }
    /// Deletes every entry of this store's service (for "Forget everything
    /// on this device"); how many. `None`: the platform cannot list them,
    /// and the caller deletes the keys it knows.
    fn purge(&self) -> Option<Result<usize, StoreError>> {
        None
    }
}

// ---------------------------------------------------------------- OS keychain

/// The platform keychain: Secret Service on Linux, Keychain on macOS,
/// Credential Manager on Windows. Entries are (service, key).
#[derive(Debug, Clone)]
pub struct KeychainStore {
    service: String,
}

impl KeychainStore {
    /// The service name entries are filed under (`dev.latchkey.desktop`;
    /// tests use random names).
    pub fn new(service: impl Into<String>) -> Self {
        Self {
            service: service.into(),
        }
    }

    fn entry(&self, key: &str) -> Result<keyring::Entry, StoreError> {
        keyring::Entry::new(&self.service, key).map_err(map_keyring)
    }
}

/// keyring errors → kinds with fixed texts. Never `{:?}` a keyring error:
/// `BadEncoding` carries the stored bytes.
fn map_keyring(e: keyring::Error) -> StoreError {
    let text = match &e {
        keyring::Error::PlatformFailure(inner) | keyring::Error::NoStorageAccess(inner) => {
            inner.to_string().to_lowercase()
        }
        _ => String::new(),
    };
    match e {
        keyring::Error::NoStorageAccess(_) | keyring::Error::PlatformFailure(_)
            if text.contains("lock") || text.contains("prompt") || text.contains("dismissed") =>
        {
            StoreError::new(
                StoreErrorKind::Locked,
                "the keyring is locked; unlock it to use saved sign-ins",
            )
        }
        keyring::Error::NoStorageAccess(_) | keyring::Error::PlatformFailure(_) => StoreError::new(
            StoreErrorKind::Unavailable,
            "secure storage is unavailable (no Secret Service, keychain or credential manager)",
        ),
        keyring::Error::BadEncoding(_) => {
            StoreError::new(StoreErrorKind::Corrupt, "a stored entry is not valid")
        }
        keyring::Error::TooLong(..) => StoreError::new(
            StoreErrorKind::TooLong,
            "a value is too long for secure storage",
        ),
        _ => StoreError::new(StoreErrorKind::Other, "secure storage refused the request"),
    }
}

impl SecretStore for KeychainStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self.entry(key)?.get_secret() {
            Ok(v) => Ok(Some(v)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(map_keyring(e)),
        }
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.entry(key)?.set_secret(value).map_err(map_keyring)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self.entry(key)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(map_keyring(e)),
        }
    }

    fn describe(&self) -> &'static str {
        if cfg!(target_os = "macos") {
            "macOS Keychain"
        } else if cfg!(windows) {
            "Windows Credential Manager"
        } else {
            "Secret Service"
        }
    }
}

/// The platform's store for `service`: on Linux a Secret Service client
/// that keeps one connection open ([`SecretServiceStore`]); elsewhere
/// keyring's native store ([`KeychainStore`]). Both file entries the same
/// way (attributes `service`, `username`, `target`, `application`), so
/// either reads what the other wrote.
pub fn platform_store(service: &str) -> Arc<dyn SecretStore> {
    #[cfg(target_os = "linux")]
    {
        Arc::new(SecretServiceStore::new(service))
    }
    #[cfg(not(target_os = "linux"))]
    {
        Arc::new(KeychainStore::new(service))
    }
}

/// Secret Service (Linux) with one connection and one encrypted session per
/// process, reconnecting once if the connection broke.
#[cfg(target_os = "linux")]
pub struct SecretServiceStore {
    service: String,
    conn: Mutex<Option<dbus_secret_service::SecretService>>,
}

#[cfg(target_os = "linux")]
impl SecretServiceStore {
    /// Entries filed under `service`; connects on first use.
    pub fn new(service: impl Into<String>) -> Self {
        Self {
            service: service.into(),
            conn: Mutex::new(None),
        }
    }

    fn with<T>(
        &self,
        f: impl Fn(&dbus_secret_service::SecretService) -> Result<T, dbus_secret_service::Error>,
    ) -> Result<T, StoreError> {
        let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        for attempt in 0..2 {
            if guard.is_none() {
                let ss = dbus_secret_service::SecretService::connect(
                    dbus_secret_service::EncryptionType::Dh,
                )
                .map_err(map_ss)?;
                *guard = Some(ss);
            }
            let Some(ss) = guard.as_ref() else { break };
            match f(ss) {
                Ok(v) => return Ok(v),
                // A broken connection (the daemon restarted): reconnect once.
                Err(dbus_secret_service::Error::Dbus(_)) if attempt == 0 => *guard = None,
                Err(e) => return Err(map_ss(e)),
            }
        }
        Err(StoreError::new(
            StoreErrorKind::Unavailable,
            "secure storage is unavailable (no Secret Service)",
        ))
    }

    fn attrs<'a>(&'a self, key: &'a str) -> HashMap<&'a str, &'a str> {
        HashMap::from([("service", self.service.as_str()), ("username", key)])
    }
}

/// Secret Service errors → kinds, each naming the exact cause and what to
/// do (shown in the window's storage notice and by `latchkey doctor`).
#[cfg(target_os = "linux")]
fn map_ss(e: dbus_secret_service::Error) -> StoreError {
    use dbus_secret_service::Error as E;
    match e {
        E::Locked => StoreError::new(
            StoreErrorKind::Locked,
            "the keyring is locked: unlock it (Unlock, or your desktop's keyring) to use saved sign-ins",
        ),
        E::Prompt => StoreError::new(
            StoreErrorKind::Locked,
            "the keyring's unlock prompt was dismissed: press Unlock to be asked again",
        ),
        E::Unavailable => StoreError::new(
            StoreErrorKind::Unavailable,
            "no Secret Service on the session bus: install and start one (GNOME Keyring, KeePassXC)",
        ),
        E::NoResult => StoreError::new(
            StoreErrorKind::Unavailable,
            "the keyring has no default collection: create one in your keyring tool and make it the default",
        ),
        E::Dbus(d)
            if d.name().is_some_and(|n| {
                n.ends_with("NoReply") || n.ends_with("Timeout") || n.ends_with("TimedOut")
            }) =>
        {
            StoreError::new(
                StoreErrorKind::Timeout,
                "the keyring did not answer in time (is an unlock prompt waiting?)",
            )
        }
        E::Dbus(d) if d.name().is_some_and(|n| n.ends_with("ServiceUnknown")) => StoreError::new(
            StoreErrorKind::Unavailable,
            "no Secret Service on the session bus: install and start one (GNOME Keyring, KeePassXC)",
        ),
        E::Dbus(_) => StoreError::new(
            StoreErrorKind::Unavailable,
            "the Secret Service did not answer over D-Bus (is a session bus running?)",
        ),
        E::UnsupportedSecretFormat | E::Parse | E::Crypto(_) => {
            StoreError::new(StoreErrorKind::Corrupt, "a stored entry is not valid")
        }
        _ => StoreError::new(StoreErrorKind::Other, "secure storage refused the request"),
    }
}

#[cfg(target_os = "linux")]
impl SecretStore for SecretServiceStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.with(|ss| {
            let found = ss.search_items(self.attrs(key))?;
            match (found.unlocked.first(), found.locked.is_empty()) {
                (Some(item), _) => item.get_secret().map(Some),
                (None, false) => Err(dbus_secret_service::Error::Locked),
                (None, true) => Ok(None),
            }
        })
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.with(|ss| {
            let collection = ss.get_default_collection()?;
            if collection.is_locked()? {
                return Err(dbus_secret_service::Error::Locked);
            }
            let mut attrs = self.attrs(key);
            // The same attributes keyring writes, so it reads these entries.
            attrs.insert("target", "default");
            attrs.insert("application", "rust-keyring");
            let label = format!("{key}@{}:default (Latchkey)", self.service);
            // Clear older copies (any target) so a search finds one item.
            for item in ss.search_items(self.attrs(key))?.unlocked {
                item.delete()?;
            }
            collection
                .create_item(&label, attrs, value, true, "text/plain")
                .map(|_| ())
        })
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.with(|ss| {
            let found = ss.search_items(self.attrs(key))?;
            if found.unlocked.is_empty() && !found.locked.is_empty() {
                return Err(dbus_secret_service::Error::Locked);
            }
            for item in found.unlocked {
                item.delete()?;
            }
            Ok(())
        })
    }

    fn describe(&self) -> &'static str {
        "Secret Service"
    }

    fn purge(&self) -> Option<Result<usize, StoreError>> {
        Some(self.with(|ss| {
            let found = ss.search_items(HashMap::from([("service", self.service.as_str())]))?;
            if !found.locked.is_empty() {
                return Err(dbus_secret_service::Error::Locked);
            }
            let n = found.unlocked.len();
            for item in found.unlocked {
                item.delete()?;
            }
            Ok(n)
        }))
    }

    fn unlock(&self) -> Result<(), StoreError> {
        self.with(|ss| {
            let c = ss.get_default_collection()?;
            if c.is_locked()? {
                c.unlock()?;
            }
            if c.is_locked()? {
                return Err(dbus_secret_service::Error::Prompt);
            }
            Ok(())
        })
    }
}

// ---------------------------------------------------------------- memory

/// Which operation a queued fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// [`SecretStore::get`].
    Get,
    /// [`SecretStore::set`].
    Set,
    /// [`SecretStore::delete`].
    Delete,
}

enum Fault {
    Fail(StoreError),
    Hang(Duration),
}

/// An in-memory store for tests; queued faults apply once, in order.
#[derive(Default)]
pub struct MemoryStore {
    map: Mutex<HashMap<String, Vec<u8>>>,
    faults: Mutex<VecDeque<(Op, Fault)>>,
    /// `Some(n)`: n more writes succeed, then every call fails (a crash).
    crash_after: Mutex<Option<usize>>,
}

impl MemoryStore {
    /// An empty store with no faults queued.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next `op` fails with `err`.
    pub fn fail_next(&self, op: Op, err: StoreError) {
        self.faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back((op, Fault::Fail(err)));
    }

    /// The next `op` blocks for `d` (a hung unlock prompt), then proceeds.
    pub fn hang_next(&self, op: Op, d: Duration) {
        self.faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back((op, Fault::Hang(d)));
    }

    /// Simulates a crash: `n` more writes (set/delete) succeed, then every
    /// call fails until [`recover`](Self::recover).
    pub fn crash_after(&self, n: usize) {
        *self.crash_after.lock().unwrap_or_else(|p| p.into_inner()) = Some(n);
    }

    /// Ends a simulated crash (the process "restarted").
    pub fn recover(&self) {
        *self.crash_after.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Raw contents (tests inspect what landed).
    pub fn raw(&self, key: &str) -> Option<Vec<u8>> {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    /// Writes raw bytes, bypassing framing (tests corrupt entries).
    pub fn put_raw(&self, key: &str, value: &[u8]) {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_owned(), value.to_vec());
    }

    /// Every key stored, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut k: Vec<_> = self
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        k.sort();
        k
    }

    fn fault(&self, op: Op) -> Result<(), StoreError> {
        {
            let mut c = self.crash_after.lock().unwrap_or_else(|p| p.into_inner());
            match c.as_mut() {
                Some(0) => return Err(StoreError::new(StoreErrorKind::Other, "crashed")),
                Some(n) if op != Op::Get => *n -= 1,
                _ => {}
            }
        }
        let f = {
            let mut q = self.faults.lock().unwrap_or_else(|p| p.into_inner());
            match q.iter().position(|(o, _)| *o == op) {
                Some(i) => q.remove(i).map(|(_, f)| f),
                None => None,
            }
        };
        match f {
            Some(Fault::Fail(e)) => Err(e),
            Some(Fault::Hang(d)) => {
                std::thread::sleep(d);
                Ok(())
            }
            None => Ok(()),
        }
    }
}

impl SecretStore for MemoryStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.fault(Op::Get)?;
        Ok(self
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.fault(Op::Set)?;
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.fault(Op::Delete)?;
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
        Ok(())
    }

    fn describe(&self) -> &'static str {
        "in memory"
    }

    fn purge(&self) -> Option<Result<usize, StoreError>> {
        if let Err(e) = self.fault(Op::Delete) {
            return Some(Err(e));
        }
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.len();
        m.clear();
        Some(Ok(n))
    }
}

// ---------------------------------------------------------------- async wrapper

/// Largest part written to the platform store (Windows caps a credential
/// blob at 2,560 bytes).
pub const CHUNK: usize = 2000;
const MAGIC: &[u8] = b"LK1";

/// Async, timed, framed access to a [`SecretStore`].
#[derive(Clone)]
pub struct Keychain {
    store: Arc<dyn SecretStore>,
    timeout: Duration,
}

impl std::fmt::Debug for Keychain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keychain")
            .field("store", &self.store.describe())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Keychain {
    /// Calls to `store` that give up after `timeout` each.
    pub fn new(store: Arc<dyn SecretStore>, timeout: Duration) -> Self {
        Self { store, timeout }
    }

    /// The store's short name.
    pub fn describe(&self) -> &'static str {
        self.store.describe()
    }

    /// Asks the platform to unlock the store; waits up to 2 minutes for the
    /// user to answer the desktop's prompt.
    ///
    /// # Errors
    /// The store's refusal, or a timeout.
    pub async fn unlock(&self) -> Result<(), StoreError> {
        let store = self.store.clone();
        let task = tokio::task::spawn_blocking(move || store.unlock());
        match tokio::time::timeout(Duration::from_secs(120), task).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(StoreError::new(
                StoreErrorKind::Other,
                "secure storage failed",
            )),
            Err(_) => Err(StoreError::new(
                StoreErrorKind::Timeout,
                "the unlock prompt was not answered",
            )),
        }
    }

    /// Deletes every entry of the service (see [`SecretStore::purge`]).
    ///
    /// # Errors
    /// The store's refusal (a locked keyring), or a timeout.
    pub async fn purge(&self) -> Option<Result<usize, StoreError>> {
        let store = self.store.clone();
        let task = tokio::task::spawn_blocking(move || store.purge());
        match tokio::time::timeout(self.timeout * 4, task).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Some(Err(StoreError::new(
                StoreErrorKind::Other,
                "secure storage failed",
            ))),
            Err(_) => Some(Err(StoreError::new(
                StoreErrorKind::Timeout,
                "secure storage did not answer in time (is an unlock prompt waiting?)",
            ))),
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn SecretStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = self.store.clone();
        let task = tokio::task::spawn_blocking(move || f(store.as_ref()));
        match tokio::time::timeout(self.timeout, task).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(StoreError::new(
                StoreErrorKind::Other,
                "secure storage failed",
            )),
            // The blocking call keeps running; its result is ignored.
            Err(_) => Err(StoreError::new(
                StoreErrorKind::Timeout,
                "secure storage did not answer in time (is an unlock prompt waiting?)",
            )),
        }
    }

    /// Reads a value; `Ok(None)` when absent. A damaged or foreign entry, or
    /// a split entry with a part missing or altered, is `Corrupt`.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = key.to_owned();
        self.blocking(move |s| {
            let Some(head) = s.get(&key)? else {
                return Ok(None);
            };
            let corrupt = || {
                StoreError::new(
                    StoreErrorKind::Corrupt,
                    "a stored entry is damaged or was not written by Latchkey",
                )
            };
            if head.len() < MAGIC.len() + 1 || &head[..MAGIC.len()] != MAGIC {
                return Err(corrupt());
            }
            match head[MAGIC.len()] {
                b'0' => Ok(Some(head[MAGIC.len() + 1..].to_vec())),
                b'n' => {
                    let meta: serde_json::Value =
                        serde_json::from_slice(&head[MAGIC.len() + 1..]).map_err(|_| corrupt())?;
                    let parts = meta
                        .get("parts")
                        .and_then(|v| v.as_u64())
                        .filter(|n| (1..=64).contains(n))
                        .ok_or_else(corrupt)?;
                    let sum = meta
                        .get("sha256")
                        .and_then(|v| v.as_str())
                        .ok_or_else(corrupt)?
                        .to_owned();
                    let mut out = Vec::new();
                    for i in 1..=parts {
                        let part = s.get(&format!("{key}#{i}"))?.ok_or_else(corrupt)?;
                        out.extend_from_slice(&part);
                    }
                    if hex(&Sha256::digest(&out)) != sum {
                        return Err(corrupt());
                    }
                    Ok(Some(out))
                }
                _ => Err(corrupt()),
            }
        })
        .await
    }

    /// Writes a value, split into parts when it is larger than [`CHUNK`].
    /// Parts are written before the head that names them, so a crash leaves
    /// either the old value or the new one readable.
    pub async fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let key = key.to_owned();
        let value = value.to_vec();
        self.blocking(move |s| {
            if value.len() + MAGIC.len() < CHUNK {
                let mut head = MAGIC.to_vec();
                head.push(b'0');
                head.extend_from_slice(&value);
                return s.set(&key, &head);
            }
            let chunks: Vec<&[u8]> = value.chunks(CHUNK).collect();
            if chunks.len() > 64 {
                return Err(StoreError::new(
                    StoreErrorKind::TooLong,
                    "a value is too long for secure storage",
                ));
            }
            for (i, c) in chunks.iter().enumerate() {
                s.set(&format!("{key}#{}", i + 1), c)?;
            }
            let mut head = MAGIC.to_vec();
            head.push(b'n');
            head.extend_from_slice(
                serde_json::json!({"parts": chunks.len(), "sha256": hex(&Sha256::digest(&value))})
                    .to_string()
                    .as_bytes(),
            );
            s.set(&key, &head)
        })
        .await
    }

    /// Deletes a value and any parts.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.blocking(move |s| {
            let parts = match s.get(&key) {
                Ok(Some(h)) if h.len() > MAGIC.len() && h[MAGIC.len()] == b'n' => {
                    serde_json::from_slice::<serde_json::Value>(&h[MAGIC.len() + 1..])
                        .ok()
                        .and_then(|m| m.get("parts").and_then(|v| v.as_u64()))
                        .unwrap_or(0)
                        .min(64)
                }
                _ => 0,
            };
            s.delete(&key)?;
            for i in 1..=parts {
                s.delete(&format!("{key}#{i}"))?;
            }
            Ok(())
        })
        .await
    }

    /// Write, read back and delete a probe entry: is secure storage usable?
    /// (Reading a missing entry succeeds even on a locked keyring, so a
    /// read alone proves nothing.)
    pub async fn probe(&self) -> Result<(), StoreError> {
        let key = format!("probe-{}", crate::pkce::new_state());
        self.set(&key, b"probe").await?;
        let back = self.get(&key).await;
        let _ = self.delete(&key).await;
        match back? {
            Some(v) if v == b"probe" => Ok(()),
            _ => Err(StoreError::new(
                StoreErrorKind::Unavailable,
                "secure storage does not keep what is written to it",
            )),
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
