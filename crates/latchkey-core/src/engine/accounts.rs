//! The accounts: the signed-in sessions of each instance's client, the
//! active account (Latchkey's own choice, kept in the index), whether Clerk
//! is reachable, and the display cache (`<data dir>/cache.json`: names,
//! emails, avatar URLs and the device sessions already seen, for an offline
//! start and for "new device" notices; nothing secret).
//!
//! Accounts come from Clerk's answers, never from local state alone: a
//! re-read client that no longer lists a session signs that account out
//! here (announced as [`Event::SessionRevoked`] unless it was signed out
//! here on purpose).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::instances::ClientRef;
use super::{Account, AccountRef, Engine, Event, lock};
use crate::error::{Error, ErrorKind, Result};
use crate::models::{Client, Session};
use crate::types::{SessionId, UserId};

/// Who a session belongs to, as the UI names them.
pub(super) struct Identity {
    pub name: String,
    pub email: Option<String>,
    pub image_url: Option<String>,
    pub user_id: Option<UserId>,
}

impl Identity {
    /// From the session's user (or its public user data): the full name,
    /// else the email, else the session id.
    pub(super) fn of(s: &Session) -> Self {
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
        let image_url = s
            .user
            .as_ref()
            .and_then(|u| u.image_url.clone())
            .or_else(|| {
                s.public_user_data
                    .as_ref()
                    .and_then(|p| p.image_url.clone())
            });
        let user_id = s
            .user
            .as_ref()
            .map(|u| u.id.clone())
            .or_else(|| s.public_user_data.as_ref().and_then(|p| p.user_id.clone()));
        Self {
            name,
            email,
            image_url,
            user_id,
        }
    }
}

/// `<data dir>/cache.json`, format 2 (format 1, without a number, had the
/// same fields).
#[derive(Default, Serialize, Deserialize)]
#[serde(default)]
struct DisplayCache {
    accounts: Vec<Account>,
    known_devices: BTreeMap<String, BTreeSet<SessionId>>,
}

/// What this module owns.
pub(super) struct AccountsState {
    active: Mutex<Option<AccountRef>>,
    cache: Mutex<DisplayCache>,
    online: Mutex<bool>,
    /// Accounts being (or that were) signed out here on purpose: their
    /// disappearance is not announced as a revocation.
    signing_out: Mutex<BTreeSet<AccountRef>>,
    /// Per instance: why its client could not be read last time (not
    /// offline: an answer that did not parse, a refusal).
    problems: Mutex<BTreeMap<String, String>>,
    /// False when a newer version wrote the cache: it is left as it is.
    cache_writable: bool,
    /// What reading the cache found wrong (a newer version's file, a broken one).
    cache_problem: Option<String>,
}

/// The display cache's file and format.
const CACHE_FILE: &str = "cache.json";
const CACHE_FORMAT: u32 = 2;

impl AccountsState {
    /// The state at open: the display cache from the data dir (if readable).
    pub(super) fn load(data_dir: &Path) -> Self {
        let loaded =
            crate::datafile::read::<DisplayCache>(&data_dir.join(CACHE_FILE), CACHE_FORMAT);
        let cache_writable = loaded.writable();
        let cache_problem = loaded.problem(CACHE_FILE, CACHE_FORMAT);
        if let Some(p) = &cache_problem {
            tracing::warn!("{p}");
        }
        let cache = loaded.value();
        Self {
            cache_writable,
            cache_problem,
            active: Mutex::new(None),
            cache: Mutex::new(cache),
            online: Mutex::new(true),
            signing_out: Mutex::new(BTreeSet::new()),
            problems: Mutex::new(BTreeMap::new()),
        }
    }

    /// Records the device sessions seen for `key`; returns the ones not seen
    /// before (none on the first look at an account).
    pub(super) fn note_devices(&self, key: String, seen: &[SessionId]) -> BTreeSet<SessionId> {
        let mut c = lock(&self.cache);
        let first_look = !c.known_devices.contains_key(&key);
        let known = c.known_devices.entry(key).or_default();
        let new: BTreeSet<SessionId> = seen
            .iter()
            .filter(|id| !known.contains(*id))
            .cloned()
            .collect();
        known.extend(seen.iter().cloned());
        if first_look { BTreeSet::new() } else { new }
    }

    /// Marks accounts as signed out here on purpose.
    pub(super) fn signing_out(&self, accts: impl IntoIterator<Item = AccountRef>) {
        lock(&self.signing_out).extend(accts);
    }
}

impl Engine {
    /// The active account from the index, at open.
    pub(super) fn restore_active(&self, active: Option<AccountRef>) {
        *lock(&self.s.accounts.active) = active;
    }

    /// Re-reads the clients of one instance, or of all. Accounts whose
    /// session is no longer signed in are signed out here; a client of one
    /// account's own that holds none any more is forgotten.
    ///
    /// # Errors
    /// The first failure (the other clients are still re-read); transport
    /// failures also mark Latchkey offline.
    pub async fn reload(&self, instance_id: Option<&str>) -> Result<()> {
        let ids: Vec<String> = match instance_id {
            Some(i) => vec![i.to_owned()],
            None => self.s.instances.lock().await.keys().cloned().collect(),
        };
        for id in &ids {
            self.end_stale_quarantines(id).await;
        }
        let clients = match instance_id {
            Some(i) => self.clients_of(i).await,
            None => self.all_clients().await,
        };
        let mut first_err = None;
        for c in clients {
            // A quarantined client is read by its handoff, which may be
            // redeeming its ticket right now (a link that started the app
            // arrives during the first read of every client).
            if self
                .with_client(&c, |cs| cs.quarantined)
                .await
                .unwrap_or(true)
            {
                continue;
            }
            if let Err(e) = self.reload_client(&c).await {
                first_err.get_or_insert(e);
            }
        }
        // The first read after a start: the background loop, which could
        // not refresh the active session before it was read and sleeps its
        // longest, has it now (nobody else may ask for a token: a start at
        // login). Its backoff still applies.
        if self.active().is_some_and(|a| {
            self.cached_token(&super::tokens::TokenKey::session_token(&a))
                .is_none()
        }) {
            self.wake_refresher();
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Re-reads one client.
    pub(super) async fn reload_client(&self, c: &ClientRef) -> Result<()> {
        let mut client = self.call(c, async |f| f.get_client().await).await;
        // No client for our credential: another process may have rotated
        // it; take the newer one from secure storage and ask again.
        if matches!(client, Ok(None)) && self.adopt_newer_credential(c).await {
            client = self.call(c, async |f| f.get_client().await).await;
        }
        match client {
            Ok(read) => {
                self.set_online(true);
                let had_problem = lock(&self.s.accounts.problems)
                    .remove(&c.instance_id)
                    .is_some();
                self.apply_client(c, read).await;
                if had_problem {
                    self.emit(Event::AccountsChanged);
                }
                Ok(())
            }
            Err(e) => {
                self.note_failure(&e);
                // Not a reason to sign anyone out (only a confirmed "session
                // gone" is): the accounts stay, marked.
                if !matches!(e.kind(), ErrorKind::Network | ErrorKind::Timeout) {
                    lock(&self.s.accounts.problems).insert(c.instance_id.clone(), e.to_string());
                    self.emit(Event::AccountsChanged);
                }
                Err(e)
            }
        }
    }

    /// Whether Clerk was reachable at the last request.
    pub fn online(&self) -> bool {
        *lock(&self.s.accounts.online)
    }

    pub(super) fn set_online(&self, online: bool) {
        let changed = {
            let mut o = lock(&self.s.accounts.online);
            let c = *o != online;
            *o = online;
            c
        };
        if changed {
            self.emit(Event::Online { online });
            if online {
                // Clerk answers again: what could not be read is read now.
                self.retry_unread_now();
            }
        }
    }

    /// A failed request: offline when Clerk could not be reached at all.
    pub(super) fn note_failure(&self, e: &Error) {
        if matches!(e.kind(), ErrorKind::Network | ErrorKind::Timeout) {
            self.set_online(false);
        }
    }

    /// Takes a fresh read of a client: notices accounts that are gone,
    /// forgets a client of one account's own that holds none any more, keeps
    /// the active account valid, updates the display cache.
    pub(super) async fn apply_client(&self, c: &ClientRef, client: Option<Client>) {
        let (gone, forget): (Vec<(AccountRef, String)>, bool) = {
            let mut inst = self.s.instances.lock().await;
            let Some(cs) = inst
                .get_mut(&c.instance_id)
                .and_then(|i| i.clients.get_mut(&c.key))
            else {
                return;
            };
            let before: Vec<Session> = cs
                .client
                .as_ref()
                .map(|c| c.accounts().cloned().collect())
                .unwrap_or_default();
            let now_in: BTreeSet<SessionId> = client
                .as_ref()
                .map(|c| c.accounts().map(|s| s.id.clone()).collect())
                .unwrap_or_default();
            cs.client = client;
            cs.read = true;
            // A quarantined handoff's session is no account: its going is
            // not news.
            let before = if cs.quarantined { Vec::new() } else { before };
            let gone = before
                .iter()
                .filter(|s| !now_in.contains(&s.id))
                .map(|s| {
                    (
                        AccountRef {
                            instance_id: c.instance_id.clone(),
                            session_id: s.id.clone(),
                        },
                        Identity::of(s).name,
                    )
                })
                .collect();
            // A quarantined client is ended by its handoff, never here.
            let forget = !c.is_main()
                && !cs.quarantined
                && !cs.has_account()
                && cs.flows.pending().is_none();
            (gone, forget)
        };
        // Their tokens go now; `refresh_display_cache` (below) announces
        // the ones not signed out here on purpose.
        for (acct, _) in gone {
            self.forget_tokens(&acct);
        }
        if forget {
            self.forget_client(c).await;
        }
        self.fix_active().await;
        self.refresh_display_cache().await;
        self.emit(Event::AccountsChanged);
    }

    /// Drops a client of one account's own and its credential (the account
    /// is gone from it; `main` is never dropped).
    pub(super) async fn forget_client(&self, c: &ClientRef) {
        if c.is_main() {
            return;
        }
        let removed = {
            let mut inst = self.s.instances.lock().await;
            inst.get_mut(&c.instance_id)
                .and_then(|i| i.clients.remove(&c.key))
                .is_some()
        };
        if removed {
            self.delete_credential(c).await;
        }
    }

    /// A "session gone" answer is confirmed by re-reading the client before
    /// the account is signed out.
    pub(super) async fn confirm_gone(&self, acct: &AccountRef) {
        let Ok(c) = self.client_of(acct).await else {
            return;
        };
        // Another process may have rotated the credential meanwhile.
        self.adopt_newer_credential(&c).await;
        match self.call(&c, async |f| f.get_client().await).await {
            Ok(read) => self.apply_client(&c, read).await,
            Err(e) => tracing::debug!(
                kind = e.kind_name(),
                "could not confirm a session is gone; keeping the account"
            ),
        }
    }

    /// Passes `r` on; a "session gone" error is confirmed first.
    pub(super) async fn on_gone<T>(&self, acct: &AccountRef, r: Result<T>) -> Result<T> {
        if let Err(e) = &r
            && e.is_session_gone()
        {
            self.confirm_gone(acct).await;
        }
        r
    }

    /// Ensures the active account is a signed-in one (or none). While some
    /// client of its instance has not been read yet, the active account may
    /// be on it: it stays.
    async fn fix_active(&self) {
        let accounts = self.accounts().await;
        let current = self.active();
        let unread = match &current {
            Some(a) => self
                .with_instance(&a.instance_id, |i| i.clients.values().any(|c| !c.read))
                .await
                .unwrap_or(false),
            None => false,
        };
        let valid = unread
            || current
                .as_ref()
                .is_some_and(|a| accounts.iter().any(|x| &x.account == a));
        if !valid {
            let next = accounts.first().map(|a| a.account.clone());
            *lock(&self.s.accounts.active) = next.clone();
            if current != next {
                let _ = self.save_index().await;
                self.emit(Event::ActiveChanged { account: next });
                self.wake_refresher();
            }
        }
    }

    /// Makes `acct` the active account (saved in the index).
    pub(super) async fn set_active(&self, acct: AccountRef) {
        let changed = {
            let mut a = lock(&self.s.accounts.active);
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
            self.wake_refresher();
        }
    }

    /// Rewrites the display cache from what Clerk said. An instance not
    /// read yet (unreachable since the start) keeps its cached accounts, in
    /// their places, marked with why; one read in full drops the accounts
    /// that are gone, and announces those not signed out here (a session
    /// that ended while Latchkey was away, or whose secret is gone).
    /// While the saved accounts cannot be read (a locked keyring), every
    /// cached account is kept and nothing is announced.
    pub(super) async fn refresh_display_cache(&self) {
        let live = self.accounts().await;
        let storage_unread = self.saved_accounts_unread();
        let unread: BTreeSet<String> = self
            .s
            .instances
            .lock()
            .await
            .iter()
            .filter(|(_, i)| i.clients.values().any(|c| !c.read))
            .map(|(id, _)| id.clone())
            .collect();
        let (bytes, gone) = {
            let mut c = lock(&self.s.accounts.cache);
            let mut merged = Vec::new();
            let mut gone = Vec::new();
            for old in &c.accounts {
                if let Some(now) = live.iter().find(|a| a.account == old.account) {
                    merged.push(now.clone());
                } else if storage_unread {
                    merged.push(old.clone());
                } else if unread.contains(&old.account.instance_id) {
                    let mut kept = old.clone();
                    kept.active = self.active().as_ref() == Some(&kept.account);
                    kept.problem.get_or_insert_with(|| {
                        "Clerk could not be reached yet; showing the last known details".to_owned()
                    });
                    merged.push(kept);
                } else if !old.status.is_ended() {
                    gone.push((old.account.clone(), old.name.clone()));
                }
            }
            for a in &live {
                if !merged.iter().any(|m| m.account == a.account) {
                    merged.push(a.clone());
                }
            }
            c.accounts = merged;
            (crate::datafile::encode(&*c, CACHE_FORMAT), gone)
        };
        for (account, name) in gone {
            self.forget_tokens(&account);
            if !lock(&self.s.accounts.signing_out).contains(&account) {
                self.emit(Event::SessionRevoked { account, name });
            }
        }
        if let Some(b) = bytes {
            self.write_cache(&b);
        }
    }

    /// Drops an instance's accounts from the display cache (it was
    /// forgotten: nothing to announce).
    pub(super) fn drop_cached_instance(&self, instance_id: &str) {
        let bytes = {
            let mut c = lock(&self.s.accounts.cache);
            c.accounts.retain(|a| a.account.instance_id != instance_id);
            crate::datafile::encode(&*c, CACHE_FORMAT)
        };
        if let Some(b) = bytes {
            self.write_cache(&b);
        }
    }

    /// Writes the display cache (unless a newer version's file is there).
    fn write_cache(&self, bytes: &[u8]) {
        if !self.s.accounts.cache_writable {
            return;
        }
        if let Err(e) =
            crate::private_fs::write_private(&self.s.cfg.data_dir.join(CACHE_FILE), bytes)
        {
            tracing::debug!("the display cache was not written: {e}");
        }
    }

    /// Data files this run could not use (written by a newer version, or
    /// broken), in words; empty when all is well.
    pub fn data_problems(&self) -> Vec<String> {
        self.s.accounts.cache_problem.iter().cloned().collect()
    }

    /// Every signed-in account, active one marked; the first instance's
    /// accounts first, each in sign-in order.
    pub async fn accounts(&self) -> Vec<Account> {
        let active = self.active();
        let problems = lock(&self.s.accounts.problems).clone();
        let inst = self.s.instances.lock().await;
        let mut out = Vec::new();
        for (id, i) in inst.iter() {
            let instance_name = i
                .environment
                .as_ref()
                .and_then(|e| e.application_name().map(str::to_owned))
                .unwrap_or_else(|| {
                    i.instance
                        .frontend_api()
                        .host_str()
                        .unwrap_or("")
                        .to_owned()
                });
            for s in i
                .account_clients()
                .filter_map(|(_, c)| c.client.as_ref())
                .flat_map(|c| c.accounts())
            {
                let account = AccountRef {
                    instance_id: id.clone(),
                    session_id: s.id.clone(),
                };
                let who = Identity::of(s);
                out.push(Account {
                    active: active.as_ref() == Some(&account),
                    account,
                    user_id: who.user_id,
                    name: who.name,
                    email: who.email,
                    image_url: who.image_url,
                    status: s.status,
                    tasks: s.tasks.iter().map(|t| t.key).collect(),
                    active_organization: s.last_active_organization_id.clone(),
                    instance_name: instance_name.clone(),
                    instance_kind: i.instance.kind(),
                    problem: problems.get(id).cloned(),
                });
            }
        }
        out
    }

    /// Accounts from the display cache (for an offline start), with the
    /// current problems.
    pub fn cached_accounts(&self) -> Vec<Account> {
        let problems = lock(&self.s.accounts.problems).clone();
        let mut accounts = lock(&self.s.accounts.cache).accounts.clone();
        for a in &mut accounts {
            a.problem = problems.get(&a.account.instance_id).cloned();
        }
        accounts
    }

    /// The account Latchkey answers for by default.
    pub fn active(&self) -> Option<AccountRef> {
        lock(&self.s.accounts.active).clone()
    }

    /// The account's session as last read, if it is signed in.
    pub(super) async fn session(&self, acct: &AccountRef) -> Result<Session> {
        let inst = self.s.instances.lock().await;
        inst.get(&acct.instance_id)
            .and_then(|i| {
                i.clients
                    .values()
                    .find_map(|c| c.client.as_ref()?.session(&acct.session_id))
            })
            .filter(|s| !s.status.is_ended())
            .cloned()
            .ok_or_else(|| Error::new(ErrorKind::SessionGone, "that account is not signed in"))
    }
}
