//! The instances Latchkey knows and, for each, what talks to it: the JWT
//! verifier, the environment, and its Clerk clients — each with its own
//! client credential, sign-in flows and the client as last read.
//!
//! An instance has a `main` client, shared by its accounts on a
//! multi-session instance. On a single-session instance (Clerk's default:
//! one signed-in session per client) every further account gets a client of
//! its own (`c1`, `c2`, …), so several accounts can be signed in there too.
//! A client of its own that has no account left (signed out, or a sign-in
//! that never finished) is forgotten with its credential; `main` stays.
//!
//! Every Frontend API call of the engine goes through [`Engine::call`]: the
//! call, then the keychain write if the answer rotated that client's
//! credential, in that order.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{AccountRef, Engine};
use crate::clock::Clock;
use crate::error::{Error, ErrorKind, Result};
use crate::fapi::Fapi;
use crate::flows::SignInFlows;
use crate::instance::{Instance, InstanceKind};
use crate::jwt::Verifier;
use crate::models::{Client, Environment};
use crate::secret::ClientCredential;

/// The key of an instance's shared (first) client.
pub(super) const MAIN: &str = "main";

/// One Clerk client of one instance.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub(super) struct ClientRef {
    pub instance_id: String,
    /// `main`, or `c<n>` for a client of one account's own.
    pub key: String,
}

impl ClientRef {
    pub(super) fn main(instance_id: &str) -> Self {
        Self {
            instance_id: instance_id.to_owned(),
            key: MAIN.to_owned(),
        }
    }

    pub(super) fn is_main(&self) -> bool {
        self.key == MAIN
    }
}

/// One Clerk client: its credential (in the Frontend API client), its
/// sign-in flows, and what Clerk said it holds.
pub(super) struct ClientState {
    pub fapi: Fapi,
    pub flows: Arc<SignInFlows>,
    /// The client as last read from Clerk (`None` before the first read, or
    /// when there is no client for the credential).
    pub client: Option<Client>,
    /// Clerk has been asked at least once (so `client: None` means "none").
    pub read: bool,
    /// What the attempt on this client is for, when it signs an account in
    /// again (`reverify.rs`).
    pub purpose: Option<super::reverify::Purpose>,
    /// It holds the session of a handoff link the user has not answered
    /// yet (or that a crash left): not an account, only read to say whose
    /// it is (`sign_in.rs`). Kept in the index.
    pub quarantined: bool,
}

impl ClientState {
    fn new(fapi: Fapi) -> Self {
        Self {
            flows: Arc::new(SignInFlows::new(fapi.clone())),
            fapi,
            client: None,
            read: false,
            purpose: None,
            quarantined: false,
        }
    }

    /// It holds an account (a session that is not over).
    pub(super) fn has_account(&self) -> bool {
        self.client
            .as_ref()
            .is_some_and(|c| c.accounts().next().is_some())
    }
}

/// One instance and what talks to it.
pub(super) struct InstanceState {
    pub instance: Instance,
    pub verifier: Arc<Verifier>,
    /// `main` first, then the others by key.
    pub clients: BTreeMap<String, ClientState>,
    /// Read on demand (not needed on the token path).
    pub environment: Option<Environment>,
}

impl InstanceState {
    /// The client that holds `session_id`, if any read says so.
    pub(super) fn client_with(&self, session_id: &crate::SessionId) -> Option<&str> {
        self.clients.iter().find_map(|(k, c)| {
            c.client
                .as_ref()
                .and_then(|c| c.session(session_id))
                .map(|_| k.as_str())
        })
    }

    /// The clients in the order accounts are listed: `main`, then by key.
    pub(super) fn ordered(&self) -> impl Iterator<Item = (&String, &ClientState)> {
        self.clients
            .iter()
            .filter(|(k, _)| *k == MAIN)
            .chain(self.clients.iter().filter(|(k, _)| *k != MAIN))
    }

    /// The clients whose sessions are accounts (not a quarantined handoff),
    /// in [`ordered`](Self::ordered) order.
    pub(super) fn account_clients(&self) -> impl Iterator<Item = (&String, &ClientState)> {
        self.ordered().filter(|(_, c)| !c.quarantined)
    }
}

/// What this module owns: every instance, by id.
#[derive(Default)]
pub(super) struct Instances(tokio::sync::Mutex<BTreeMap<String, InstanceState>>);

impl Instances {
    pub(super) async fn lock(
        &self,
    ) -> tokio::sync::MutexGuard<'_, BTreeMap<String, InstanceState>> {
        self.0.lock().await
    }
}

/// An instance with its clients (key → stored credential), all sharing one
/// HTTP client and one estimate of Clerk's clock.
fn connect(
    instance: &Instance,
    credentials: Vec<(String, Option<ClientCredential>)>,
    clock: &Arc<dyn Clock>,
) -> Result<InstanceState> {
    let base = Fapi::new(instance.clone(), None)?.with_clock(clock.clone());
    let mut clients = BTreeMap::new();
    clients.insert(MAIN.to_owned(), ClientState::new(base.clone()));
    for (key, cred) in credentials {
        clients.insert(key, ClientState::new(base.sibling(cred)));
    }
    Ok(InstanceState {
        instance: instance.clone(),
        verifier: Arc::new(
            Verifier::with_http(instance.clone(), base.http_client()).with_clock(clock.clone()),
        ),
        clients,
        environment: None,
    })
}

impl Engine {
    /// Installs an instance with its clients' stored credentials.
    pub(super) async fn install(
        &self,
        instance: Instance,
        credentials: Vec<(String, Option<ClientCredential>)>,
    ) -> Result<()> {
        let state = connect(&instance, credentials, &self.s.cfg.clock)?;
        let mut inst = self.s.instances.lock().await;
        match inst.get_mut(instance.id()) {
            None => {
                inst.insert(instance.id().to_owned(), state);
            }
            // Already live (added at start, or signed in while secure
            // storage was locked): what it holds stays; stored clients it
            // lacks are added.
            Some(live) => {
                for (k, c) in state.clients {
                    let keep = live
                        .clients
                        .get(&k)
                        .is_some_and(|l| l.fapi.credential().is_some());
                    if !keep {
                        live.clients.insert(k, c);
                    }
                }
            }
        }
        Ok(())
    }

    /// Adds an instance (or updates the URL of a known one: the demo
    /// instance may change port) and remembers it in the index.
    ///
    /// # Errors
    /// A storage kind when the index cannot be written.
    pub async fn add_instance(&self, instance: Instance) -> Result<()> {
        let id = instance.id().to_owned();
        {
            let mut inst = self.s.instances.lock().await;
            match inst.get_mut(&id) {
                // Known and unchanged: nothing to write (a keychain write
                // costs milliseconds on every CLI call).
                Some(existing) if existing.instance == instance => return Ok(()),
                Some(existing) => {
                    let creds = existing
                        .clients
                        .iter()
                        .map(|(k, c)| (k.clone(), c.fapi.credential()))
                        .collect();
                    let mut moved = connect(&instance, creds, &self.s.cfg.clock)?;
                    for (k, c) in &mut existing.clients {
                        if let Some(m) = moved.clients.get_mut(k) {
                            m.client = c.client.take();
                            m.quarantined = c.quarantined;
                        }
                    }
                    moved.environment = existing.environment.take();
                    *existing = moved;
                }
                None => {
                    inst.insert(id.clone(), connect(&instance, vec![], &self.s.cfg.clock)?);
                    self.track_new_client(&ClientRef::main(&id));
                }
            }
        }
        self.save_index().await.map_err(Error::from)
    }

    /// Forgets an instance: its clients' credentials are deleted, the index
    /// rewritten, its accounts dropped from the display cache (the local
    /// demo instance whose data is gone, reconciled at start). Nothing is
    /// asked of Clerk.
    pub async fn forget_instance(&self, instance_id: &str) {
        let clients = self.clients_of(instance_id).await;
        let removed = self.s.instances.lock().await.remove(instance_id).is_some();
        if !removed {
            return;
        }
        for c in &clients {
            self.delete_credential(c).await;
        }
        if let Err(e) = self.save_index().await {
            tracing::warn!(error = %e, "the account index was not saved");
        }
        if self.active().is_some_and(|a| a.instance_id == instance_id) {
            self.restore_active(None);
        }
        self.drop_cached_instance(instance_id);
        self.emit(super::Event::AccountsChanged);
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
    pub(super) async fn with_instance<T>(
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

    /// Reads something from one client's state.
    pub(super) async fn with_client<T>(
        &self,
        c: &ClientRef,
        f: impl FnOnce(&ClientState) -> T,
    ) -> Result<T> {
        self.s
            .instances
            .lock()
            .await
            .get(&c.instance_id)
            .and_then(|i| i.clients.get(&c.key))
            .map(f)
            .ok_or_else(|| Error::new(ErrorKind::Config, "unknown instance"))
    }

    /// Changes something in one client's state.
    pub(super) async fn with_client_mut<T>(
        &self,
        c: &ClientRef,
        f: impl FnOnce(&mut ClientState) -> T,
    ) -> Result<T> {
        self.s
            .instances
            .lock()
            .await
            .get_mut(&c.instance_id)
            .and_then(|i| i.clients.get_mut(&c.key))
            .map(f)
            .ok_or_else(|| Error::new(ErrorKind::Config, "unknown instance"))
    }

    pub(super) async fn fapi(&self, c: &ClientRef) -> Result<Fapi> {
        self.with_client(c, |c| c.fapi.clone()).await
    }

    /// The instance's clients, `main` first.
    pub(super) async fn clients_of(&self, instance_id: &str) -> Vec<ClientRef> {
        self.with_instance(instance_id, |i| {
            i.ordered()
                .map(|(k, _)| ClientRef {
                    instance_id: instance_id.to_owned(),
                    key: k.clone(),
                })
                .collect()
        })
        .await
        .unwrap_or_default()
    }

    /// Every client of every instance.
    pub(super) async fn all_clients(&self) -> Vec<ClientRef> {
        let inst = self.s.instances.lock().await;
        inst.iter()
            .flat_map(|(id, i)| {
                i.ordered().map(|(k, _)| ClientRef {
                    instance_id: id.clone(),
                    key: k.clone(),
                })
            })
            .collect()
    }

    /// The client that holds the account's session.
    ///
    /// # Errors
    /// [`ErrorKind::SessionGone`] when no client of the instance lists it.
    pub(super) async fn client_of(&self, acct: &AccountRef) -> Result<ClientRef> {
        self.with_instance(&acct.instance_id, |i| {
            i.client_with(&acct.session_id).map(|k| ClientRef {
                instance_id: acct.instance_id.clone(),
                key: k.to_owned(),
            })
        })
        .await?
        .ok_or_else(|| Error::new(ErrorKind::SessionGone, "that account is not signed in"))
    }

    /// A new, empty client of the instance (no credential yet: its first
    /// request creates it at Clerk).
    pub(super) async fn new_client(&self, instance_id: &str) -> Result<ClientRef> {
        self.add_client(instance_id, false).await
    }

    /// A new client of its own for a handoff link, quarantined from the
    /// moment it exists (so no read of every client takes it for a client
    /// that holds nobody and drops it while its ticket is being redeemed).
    pub(super) async fn new_quarantined_client(&self, instance_id: &str) -> Result<ClientRef> {
        self.add_client(instance_id, true).await
    }

    async fn add_client(&self, instance_id: &str, quarantined: bool) -> Result<ClientRef> {
        let mut inst = self.s.instances.lock().await;
        let i = inst
            .get_mut(instance_id)
            .ok_or_else(|| Error::new(ErrorKind::Config, "unknown instance"))?;
        let n = (1..)
            .find(|n| !i.clients.contains_key(&format!("c{n}")))
            .unwrap_or(1);
        let key = format!("c{n}");
        let base = i
            .clients
            .get(MAIN)
            .map(|c| c.fapi.sibling(None))
            .ok_or_else(|| Error::new(ErrorKind::Config, "unknown instance"))?;
        let mut state = ClientState::new(base);
        state.quarantined = quarantined;
        i.clients.insert(key.clone(), state);
        let c = ClientRef {
            instance_id: instance_id.to_owned(),
            key,
        };
        self.track_new_client(&c);
        Ok(c)
    }

    /// Calls the client's Frontend API with `f`, then saves its credential
    /// if the answer rotated it (before returning, so what the caller does
    /// next — and a crash — finds it saved).
    pub(super) async fn call<T>(
        &self,
        c: &ClientRef,
        f: impl AsyncFnOnce(&Fapi) -> Result<T>,
    ) -> Result<T> {
        self.rate_limit_gate(&c.instance_id)?;
        let fapi = self.fapi(c).await?;
        let before = fapi.credential_version();
        let r = f(&fapi).await;
        if fapi.credential_version() != before {
            self.save_credential(c).await;
        }
        if let Err(e) = &r {
            self.note_rate_limit(&c.instance_id, e);
        }
        r
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
    ///
    /// # Errors
    /// Transport and protocol kinds when Clerk cannot be read.
    pub async fn load_environment(&self, instance_id: &str) -> Result<Environment> {
        if let Some(e) = self.environment(instance_id).await {
            return Ok(e);
        }
        self.reload_environment(instance_id).await
    }

    /// Reads the instance's environment again (its mode may have changed in
    /// the Dashboard).
    ///
    /// # Errors
    /// Transport and protocol kinds when Clerk cannot be read.
    pub async fn reload_environment(&self, instance_id: &str) -> Result<Environment> {
        let e = self
            .call(&ClientRef::main(instance_id), async |f| {
                f.environment().await
            })
            .await?;
        if let Some(i) = self.s.instances.lock().await.get_mut(instance_id) {
            i.environment = Some(e.clone());
        }
        Ok(e)
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
}
