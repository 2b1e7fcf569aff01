//! The app's state over the engine. Every method here is what one command
//! does; the commands themselves are one-liners (`commands.rs`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use latchkey_core::engine::{AccountRef, Engine, OrgSel};
use latchkey_core::{Instance, OrganizationId, SessionId, decode_unverified};
use latchkey_host::{Host, OpenOptions};
use tokio::sync::watch;

use crate::avatar::Avatars;
use crate::confirm::{Confirmation, Confirmer};
use crate::error::{ErrorKind, IpcError, Result};
use crate::settings::Settings;
use crate::view::*;

pub use latchkey_host::time::now_ms;

/// Opens a URL in the system browser; false when nothing could be started.
pub type Opener = Arc<dyn Fn(&str) -> bool + Send + Sync>;

type Startup = Option<std::result::Result<Arc<Host>, IpcError>>;

/// How long a snapshot waits for the engine to finish starting.
const SNAPSHOT_WAITS_FOR_START: Duration = Duration::from_millis(1500);

/// App state, managed by Tauri (`app.latchkey()`).
pub struct Latchkey {
    pub(crate) ctx: watch::Sender<Startup>,
    pub(crate) sign_in: Mutex<Option<SignInView>>,
    pub(crate) handoff: Mutex<Option<HandoffView>>,
    last_refresh: Mutex<Option<i64>>,
    avatars: Avatars,
    pub(crate) opener: Opener,
    /// Loopback listener task of the sign-in in progress, if any.
    pub(crate) loopback: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Every account shown in this run (to describe one that disappears).
    known: Mutex<HashMap<String, AccountView>>,
    /// Accounts signed out from elsewhere, still listed (as signed out) so
    /// the user sees what happened and can sign in again.
    revoked: Mutex<Vec<AccountView>>,
    /// The window's event channel.
    subscriber: crate::events::Subscriber,
    /// Asks before the actions a compromised page must not take alone.
    confirmer: Arc<dyn Confirmer>,
    /// The app's own preferences (`settings.json`).
    prefs: crate::prefs::PrefsStore,
    /// Desktop notifications.
    notifier: Arc<dyn crate::events::Notifier>,
    /// Answers `latchkey token` / `status` while the app runs (the socket
    /// goes when this does).
    #[cfg(unix)]
    cli_server: Mutex<Option<latchkey_host::ipc::Server>>,
}

/// Starts the engine (`latchkey_host::open`): keychain, index, the
/// configured Clerk instance, and the local demo instance when nothing else
/// is configured (started, or attached to when the CLI or a test already
/// runs it for this data dir); the background refresher runs until the
/// app exits.
pub async fn start_engine(
    settings: &Settings,
    store: Option<Arc<dyn latchkey_core::store::SecretStore>>,
) -> Result<Host> {
    let options = OpenOptions {
        probe_storage: true,
        store,
        background: true,
    };
    Ok(latchkey_host::open(settings, options).await?)
}

impl Latchkey {
    pub fn new(
        opener: Opener,
        confirmer: Arc<dyn Confirmer>,
        notifier: Arc<dyn crate::events::Notifier>,
        prefs: crate::prefs::PrefsStore,
    ) -> Self {
        Self {
            ctx: watch::channel(None).0,
            sign_in: Mutex::new(None),
            handoff: Mutex::new(None),
            last_refresh: Mutex::new(None),
            avatars: Avatars::default(),
            opener,
            loopback: Mutex::new(None),
            known: Mutex::new(HashMap::new()),
            revoked: Mutex::new(Vec::new()),
            subscriber: crate::events::Subscriber::default(),
            confirmer,
            prefs,
            notifier,
            #[cfg(unix)]
            cli_server: Mutex::new(None),
        }
    }

    /// Starts answering the CLI's read requests over the local socket (see
    /// `latchkey_host::ipc`); a failure only means the CLI does the work
    /// itself.
    #[cfg(unix)]
    pub async fn serve_cli(&self, engine: latchkey_core::engine::Engine, settings: &Settings) {
        let place = latchkey_host::ipc::place(settings, &|k| std::env::var_os(k));
        match latchkey_host::ipc::serve(engine, &place).await {
            Ok(server) => {
                tracing::info!("answering the CLI at {}", place.path.display());
                *lock(&self.cli_server) = Some(server);
            }
            Err(e) => tracing::warn!("not answering the CLI ({e}): it reads the keychain itself"),
        }
    }

    /// Stops answering the CLI (its socket is removed).
    #[cfg(unix)]
    pub fn stop_serving_cli(&self) {
        lock(&self.cli_server).take();
    }

    /// Records the result of [`start_engine`].
    pub fn set_started(&self, r: Result<Host>) {
        let _ = self.ctx.send_replace(Some(r.map(Arc::new)));
    }

    /// The engine, waiting (bounded) while it starts.
    pub async fn ctx(&self) -> Result<Arc<Host>> {
        let mut rx = self.ctx.subscribe();
        let r = tokio::time::timeout(Duration::from_secs(60), rx.wait_for(Option::is_some)).await;
        match r {
            Ok(Ok(v)) => match v.as_ref() {
                Some(Ok(c)) => Ok(c.clone()),
                Some(Err(e)) => Err(e.clone()),
                None => Err(not_ready()),
            },
            _ => Err(not_ready()),
        }
    }

    fn try_ctx(&self) -> Option<std::result::Result<Arc<Host>, IpcError>> {
        self.ctx.borrow().clone()
    }

    /// The engine, or its start's error, once it is known; None if it is
    /// still starting after `wait`.
    async fn ctx_within(&self, wait: Duration) -> Option<std::result::Result<Arc<Host>, IpcError>> {
        let mut rx = self.ctx.subscribe();
        let _ = tokio::time::timeout(wait, rx.wait_for(Option::is_some)).await;
        self.try_ctx()
    }

    pub fn engine_now(&self) -> Option<Engine> {
        match self.try_ctx() {
            Some(Ok(c)) => Some(c.engine.clone()),
            _ => None,
        }
    }

    /// An account as the window shows it, with its avatar when fetched.
    pub(crate) fn account_view(&self, a: &latchkey_core::engine::Account) -> AccountView {
        let avatar = a.image_url.as_deref().and_then(|u| self.avatars.get(u));
        AccountView::new(a, avatar)
    }

    /// Asks the user in a native dialog (Rust's, not the page's).
    ///
    /// # Errors
    /// `cancelled` when the answer is not an explicit yes.
    pub async fn ask(&self, title: String, message: String, ok: &str) -> Result<()> {
        let yes = self
            .confirmer
            .confirm(Confirmation {
                title,
                message,
                ok: ok.to_owned(),
            })
            .await;
        if yes {
            Ok(())
        } else {
            Err(IpcError::new(
                ErrorKind::Cancelled,
                "cancelled; nothing was done",
            ))
        }
    }

    /// The account's name as the window shows it (for questions).
    async fn name_of(&self, key: &AccountKey) -> Result<String> {
        let ctx = self.ctx().await?;
        let acct: AccountRef = key.into();
        ctx.engine
            .accounts()
            .await
            .into_iter()
            .find(|a| a.account == acct)
            .map(|a| a.name)
            .ok_or_else(|| IpcError::bad_input("that account is not signed in here"))
    }

    pub fn prefs(&self) -> &crate::prefs::PrefsStore {
        &self.prefs
    }

    pub fn notifier(&self) -> Arc<dyn crate::events::Notifier> {
        self.notifier.clone()
    }

    /// What the window shows in Settings (`start_at_login` is the
    /// desktop's, read by the caller).
    pub fn preferences(&self, start_at_login: bool) -> PreferencesView {
        let p = self.prefs.get();
        PreferencesView {
            close_hides: p.close_hides,
            start_at_login,
        }
    }

    /// "Keep Latchkey running when the window is closed".
    pub fn set_close_hides(&self, on: bool) {
        self.prefs.update(|p| p.close_hides = on);
    }

    /// The first-run screen was answered ("Try the local demo" or a
    /// publishable key): it is not shown again.
    pub fn finish_welcome(&self) {
        self.prefs.update(|p| p.welcomed = true);
    }

    /// The window's close button was pressed: hide it and keep running
    /// (unless the user turned that off); the first time, say so. True
    /// when the window was hidden instead of closed.
    pub fn hide_on_close(&self) -> bool {
        let p = self.prefs.get();
        if !p.close_hides {
            return false;
        }
        if !p.told_still_running {
            self.notifier.notify(
                "Latchkey is still running",
                "It keeps your sessions fresh and warns you about new sign-ins. Open it again \
                 from the tray or by launching Latchkey; quit with Ctrl+Q or from the tray. \
                 Settings can change this.",
            );
            self.prefs.update(|p| p.told_still_running = true);
        }
        true
    }

    /// The window's events go to `ch` from now on.
    pub fn subscribe(&self, ch: tauri::ipc::Channel<UiEvent>) {
        self.subscriber.set(ch);
    }

    /// Sends an event to the window.
    pub fn publish(&self, e: &UiEvent) {
        self.subscriber.send(e);
    }

    /// The window was hidden or shown (see [`crate::events::Subscriber`]).
    pub fn window_hidden(&self, hidden: bool) {
        self.subscriber.window_hidden(hidden);
    }

    /// The window's page is gone (see [`crate::window`]): events wait for
    /// the next one.
    pub fn window_unloaded(&self) {
        self.subscriber.unset();
    }

    pub fn avatars(&self) -> &Avatars {
        &self.avatars
    }

    pub fn note_refresh(&self, at_ms: i64) {
        *lock(&self.last_refresh) = Some(at_ms);
    }

    // ------------------------------------------------------------ snapshot

    /// Everything the window shows. Never waits for the network: accounts
    /// come from the engine's cache, avatars from the avatar cache.
    pub async fn snapshot(&self) -> Snapshot {
        let version = latchkey_host::VERSION.to_owned();
        let mut data_problems: Vec<String> = self.prefs.problem().into_iter().collect();
        // A page that asks while the engine starts (a cold start: the
        // keychain is being read) gets the real accounts a moment later
        // instead of "Starting…" and a second round trip; a start slower
        // than this shows "Starting…" until `UiEvent::Ready`.
        let (ctx, startup_error) = match self.ctx_within(SNAPSHOT_WAITS_FOR_START).await {
            Some(Ok(c)) => (Some(c), None),
            Some(Err(e)) => (None, Some(e)),
            None => (None, None),
        };
        let Some(ctx) = ctx else {
            return Snapshot {
                ready: false,
                startup_error,
                instances: vec![],
                accounts: vec![],
                active: None,
                status: StatusView {
                    online: true,
                    last_refresh_ms: None,
                    storage: StorageView {
                        state: StorageStateView::Unknown,
                        detail: String::new(),
                        locked: false,
                        accounts_waiting: false,
                    },
                    clock_skew_secs: 0,
                },
                sign_in: None,
                handoff: None,
                version,
                data_problems,
                first_run: false,
            };
        };
        let e = &ctx.engine;
        data_problems.extend(e.data_problems());
        let mut instances = Vec::new();
        for i in e.instances().await {
            let name = e
                .environment(i.id())
                .await
                .and_then(|env| env.application_name().map(str::to_owned));
            instances.push(InstanceView::new(&i, name));
        }
        // Signed-in accounts; one signed out here on purpose disappears, one
        // signed out from elsewhere stays listed as signed out (below).
        // While the saved accounts cannot be read (a locked keyring), the
        // cached ones not signed in again this run are listed as locked.
        let waiting = e.saved_accounts_unread();
        let live: Vec<AccountRef> = if waiting {
            e.accounts().await.into_iter().map(|a| a.account).collect()
        } else {
            Vec::new()
        };
        let mut accounts: Vec<AccountView> = e
            .cached_accounts()
            .iter()
            .filter(|a| !a.status.is_ended())
            .map(|a| AccountView {
                locked: waiting && !live.contains(&a.account),
                ..self.account_view(a)
            })
            .collect();
        {
            let mut known = lock(&self.known);
            for a in &accounts {
                known.insert(
                    format!("{}/{}", a.key.instance_id, a.key.session_id),
                    a.clone(),
                );
            }
        }
        accounts.extend(self.revoked_still_listed(&accounts));
        // The instance's application name, once its environment is known.
        for a in &mut accounts {
            if let Some(i) = instances
                .iter()
                .find(|i: &&InstanceView| i.id == a.key.instance_id)
            {
                a.instance_name = i.name.clone();
            }
        }
        let accounts_waiting = accounts.iter().any(|a| a.locked);
        // Someone signed in here: the first-run screen has done its job.
        let mut first_run = !self.prefs.get().welcomed;
        if first_run && !accounts.is_empty() {
            self.prefs.update(|p| p.welcomed = true);
            first_run = false;
        }
        Snapshot {
            ready: true,
            startup_error: None,
            instances,
            accounts,
            active: e.active().as_ref().map(AccountKey::from),
            status: StatusView {
                online: e.online(),
                last_refresh_ms: *lock(&self.last_refresh),
                storage: StorageView {
                    accounts_waiting,
                    ..StorageView::from(&e.storage_state())
                },
                clock_skew_secs: e.clock_skew_secs(),
            },
            sign_in: self.live_sign_in(),
            handoff: self.pending_handoff(),
            version,
            data_problems,
            first_run,
        }
    }

    /// Remembers an account that was signed out from elsewhere, so the list
    /// keeps it (flipped to signed out) until it signs in again.
    pub fn note_revoked(&self, acct: &AccountRef, name: &str) {
        let key = AccountKey::from(acct);
        let known = lock(&self.known)
            .get(&format!("{}/{}", key.instance_id, key.session_id))
            .cloned();
        // Not shown in this run yet (it ended while Latchkey was away, or
        // its secret is gone): listed from what the engine said.
        let mut a = known.unwrap_or_else(|| AccountView {
            key: key.clone(),
            user_id: None,
            name: name.to_owned(),
            email: None,
            initials: initials(name, None),
            avatar: None,
            active: false,
            status: SessionStatusView::Revoked,
            tasks: vec![],
            signed_in: false,
            active_org_id: None,
            instance_name: key.instance_id.clone(),
            instance_kind: if key.instance_id.starts_with("local:") {
                InstanceKindView::LocalDemo
            } else {
                InstanceKindView::Clerk
            },
            problem: None,
            locked: false,
        });
        tracing::info!(session = %acct.session_id, "account signed out from elsewhere");
        a.active = false;
        a.signed_in = false;
        a.status = SessionStatusView::Revoked;
        let mut r = lock(&self.revoked);
        r.retain(|x| x.key != key);
        r.push(a);
    }

    fn revoked_still_listed(&self, live: &[AccountView]) -> Vec<AccountView> {
        let mut r = lock(&self.revoked);
        // Signed in again (same user, new session here): drop the old entry.
        r.retain(|x| {
            !live.iter().any(|l| {
                l.key.session_id != x.key.session_id
                    && l.key.instance_id == x.key.instance_id
                    && l.user_id.is_some()
                    && l.user_id == x.user_id
            })
        });
        // The engine's list may lag the event by a moment: never list one
        // account twice.
        r.iter()
            .filter(|x| !live.iter().any(|l| l.key == x.key))
            .cloned()
            .collect()
    }

    /// Image URLs of the accounts whose avatars are not cached yet, with the
    /// instance that may serve them.
    pub async fn missing_avatars(&self) -> Vec<(String, Instance)> {
        let Some(e) = self.engine_now() else {
            return vec![];
        };
        let instances = e.instances().await;
        e.cached_accounts()
            .iter()
            .filter_map(|a| {
                let url = a.image_url.clone()?;
                if self.avatars.known(&url) {
                    return None;
                }
                let inst = instances.iter().find(|i| i.id() == a.account.instance_id)?;
                Some((url, inst.clone()))
            })
            .collect()
    }

    // ------------------------------------------------------------ accounts

    pub async fn switch_account(&self, key: &AccountKey) -> Result<()> {
        let ctx = self.ctx().await?;
        Ok(ctx.engine.switch(&key.into()).await?)
    }

    pub async fn organizations(&self, key: &AccountKey) -> Result<OrgState> {
        let ctx = self.ctx().await?;
        let acct: AccountRef = key.into();
        let details = ctx.engine.details(&acct).await?;
        let memberships: Vec<OrgView> = details
            .session
            .user
            .as_ref()
            .map(|u| {
                u.organization_memberships
                    .iter()
                    .map(OrgView::from)
                    .collect()
            })
            .unwrap_or_default();
        // A pending session has no token to read the active organization
        // from (choosing one is what it waits for).
        if details.session.status == latchkey_core::models::SessionStatus::Pending {
            return Ok(OrgState {
                memberships,
                active: None,
            });
        }
        let active = ctx.engine.active_org_claim(&acct).await?.map(|a| {
            let (o, perms) = (a.claim, a.permissions);
            let m = memberships.iter().find(|m| m.id == o.id);
            ActiveOrgView {
                is_admin: o.is_admin(),
                role: o.role_key().unwrap_or_default(),
                id: o.id,
                slug: o.slg,
                name: m.map(|m| m.name.clone()),
                permissions: perms,
            }
        });
        Ok(OrgState {
            memberships,
            active,
        })
    }

    pub async fn switch_org(&self, key: &AccountKey, org_id: Option<&str>) -> Result<()> {
        let ctx = self.ctx().await?;
        let org = org_id.map(|o| OrganizationId(o.to_owned()));
        Ok(ctx.engine.switch_org(&key.into(), org.as_ref()).await?)
    }

    pub async fn org_members(&self, key: &AccountKey) -> Result<Vec<MemberView>> {
        let ctx = self.ctx().await?;
        let m = ctx.engine.organization_members(&key.into()).await?;
        Ok(m.iter().map(MemberView::from).collect())
    }

    pub async fn session_details(&self, key: &AccountKey) -> Result<DetailsView> {
        let ctx = self.ctx().await?;
        let acct: AccountRef = key.into();
        // Make sure there is a current token to decode (from memory when fresh).
        let _ = ctx.engine.get_token(&acct, None, OrgSel::Active).await;
        let d = ctx.engine.details(&acct).await?;
        Ok(DetailsView::from(&d))
    }

    /// The decoded claims of a template token (never the token).
    pub async fn template_claims(
        &self,
        key: &AccountKey,
        template: &str,
    ) -> Result<serde_json::Value> {
        let ctx = self.ctx().await?;
        let acct: AccountRef = key.into();
        configured_template(&ctx, &acct, template)?;
        let t = ctx
            .engine
            .get_token(&acct, Some(template), OrgSel::Active)
            .await?;
        decode_unverified(t.expose()).ok_or_else(|| {
            IpcError::new(
                ErrorKind::Protocol,
                "the template token could not be decoded",
            )
        })
    }

    /// A token for the clipboard, after the user said yes in a native
    /// dialog: only the `copy_token` command calls this.
    pub(crate) async fn token_for_clipboard(
        &self,
        key: &AccountKey,
        template: Option<&str>,
    ) -> Result<latchkey_core::SessionToken> {
        let ctx = self.ctx().await?;
        let acct: AccountRef = key.into();
        if let Some(t) = template {
            configured_template(&ctx, &acct, t)?;
        }
        let name = self.name_of(key).await?;
        let what =
            template.map_or_else(|| "session token".to_owned(), |t| format!("\"{t}\" token"));
        self.ask(
            format!("Copy a live {what} of {name}?"),
            format!(
                "Anyone you paste it to can act as {name} until it expires (about a minute). \
                 Latchkey clears the clipboard after 60 seconds if it still holds it."
            ),
            "Copy token",
        )
        .await?;
        Ok(ctx
            .engine
            .get_token(&acct, template, OrgSel::Active)
            .await?)
    }

    pub async fn refresh(&self, instance_id: Option<&str>) -> Result<()> {
        let ctx = self.ctx().await?;
        Ok(ctx.engine.reload(instance_id).await?)
    }

    /// "Unlock": asks the Secret Service to unlock its collection (the
    /// desktop's own password prompt); once it is, the accounts load and
    /// the window is told. Unlocking from outside works too (the engine
    /// rechecks a locked keyring every few seconds).
    pub async fn unlock_keyring(&self) -> Result<StorageView> {
        let ctx = self.ctx().await?;
        let state = ctx.engine.unlock_storage().await?;
        Ok(StorageView {
            accounts_waiting: ctx.engine.saved_accounts_unread(),
            ..StorageView::from(&state)
        })
    }

    /// "Forget everything on this device", once the user said yes (in
    /// Rust's dialog): every account signed out here, every keychain item,
    /// the data dir and the per-user link registration deleted.
    ///
    /// # Errors
    /// `cancelled` when the answer is not yes (nothing was done).
    pub async fn forget_everything(
        &self,
        desktop: &dyn crate::links::Desktop,
    ) -> Result<ForgetView> {
        let ctx = self.ctx().await?;
        let n = ctx
            .engine
            .accounts()
            .await
            .iter()
            .filter(|a| !a.status.is_ended())
            .count();
        self.ask(
            "Forget everything on this device?".to_owned(),
            format!(
                "Latchkey signs out {n} account(s) here, deletes what it keeps in your keyring \
                 and its data on this computer (the local demo instance too), stops opening \
                 sign-in links, and quits. Other devices are not affected."
            ),
            "Forget everything",
        )
        .await?;
        #[cfg(unix)]
        self.stop_serving_cli();
        let mut problems = ctx.forget_everything().await;
        if let Err(e) = desktop.unregister() {
            problems.push(format!("the link registration was not removed: {e}"));
        }
        *lock(&self.sign_in) = None;
        lock(&self.revoked).clear();
        lock(&self.known).clear();
        for p in &problems {
            tracing::warn!("forget everything: {p}");
        }
        Ok(ForgetView { problems })
    }

    // ------------------------------------------------------------ devices

    pub async fn devices(&self, key: &AccountKey) -> Result<Vec<DeviceView>> {
        let ctx = self.ctx().await?;
        let d = ctx.engine.devices(&key.into()).await?;
        Ok(d.iter().map(DeviceView::from).collect())
    }

    pub async fn revoke_session(&self, key: &AccountKey, session_id: &str) -> Result<RevokeView> {
        let ctx = self.ctx().await?;
        if session_id == key.session_id {
            return Err(IpcError::bad_input(
                "that is this device's session: use Sign out instead",
            ));
        }
        let id = SessionId(session_id.to_owned());
        let name = self.name_of(key).await?;
        // Described from Clerk's own list, not from what the page says.
        let device = ctx
            .engine
            .devices(&key.into())
            .await
            .ok()
            .and_then(|d| d.into_iter().find(|d| d.session.id == id))
            .map(|d| DeviceView::from(&d).describe())
            .unwrap_or_else(|| format!("The session {id}"));
        self.ask(
            "Sign out this device?".to_owned(),
            format!(
                "{device} will be signed out of {name}'s account. It keeps working for at most a \
                 minute, until its current token expires."
            ),
            "Sign out device",
        )
        .await?;
        let r = ctx.engine.revoke(&key.into(), &id).await?;
        Ok(RevokeView::new(&id, &r))
    }

    pub async fn sign_out_other_devices(&self, key: &AccountKey) -> Result<Vec<RevokeView>> {
        let ctx = self.ctx().await?;
        let name = self.name_of(key).await?;
        self.ask(
            format!("Sign out all other devices of {name}?"),
            format!("Every session of {name} except this one is signed out. This device stays signed in."),
            "Sign out other devices",
        )
        .await?;
        let r = ctx.engine.sign_out_other_devices(&key.into()).await?;
        Ok(r.iter()
            .map(|x| RevokeView::new(&x.session_id, &x.outcome))
            .collect())
    }

    // ------------------------------------------------------------ sign out

    pub async fn sign_out(&self, key: &AccountKey) -> Result<()> {
        let ctx = self.ctx().await?;
        Ok(ctx.engine.sign_out(&key.into()).await?)
    }

    pub async fn sign_out_all_here(&self) -> Result<SignedOutView> {
        let ctx = self.ctx().await?;
        let accounts = ctx.engine.accounts().await;
        let n = accounts.iter().filter(|a| !a.status.is_ended()).count();
        self.ask(
            "Sign out of all accounts on this device?".to_owned(),
            format!(
                "All {n} account(s) are signed out on this device. Other devices are not affected."
            ),
            "Sign out all",
        )
        .await?;
        let mut ids: Vec<String> = accounts
            .iter()
            .filter(|a| !a.status.is_ended())
            .map(|a| a.account.instance_id.clone())
            .collect();
        ids.dedup();
        let mut out = SignedOutView {
            signed_out: 0,
            failed: vec![],
        };
        for id in ids {
            let n = accounts
                .iter()
                .filter(|a| a.account.instance_id == id && !a.status.is_ended())
                .count() as u32;
            match ctx.engine.sign_out_device(&id).await {
                Ok(()) => out.signed_out += n,
                Err(e) => out.failed.push(e.to_string()),
            }
        }
        Ok(out)
    }

    pub async fn sign_out_everywhere(
        &self,
        key: &AccountKey,
        force: bool,
    ) -> Result<EverywhereView> {
        let ctx = self.ctx().await?;
        let name = self.name_of(key).await?;
        if force {
            self.ask(
                format!("Sign {name} out here anyway?"),
                "Some other sessions could not be signed out; they stay signed in. This device is \
                 signed out now."
                    .to_owned(),
                "Sign out here",
            )
            .await?;
        } else {
            self.ask(
                format!("Sign out of {name} everywhere?"),
                format!("Every session of {name} on every device is signed out, then this one."),
                "Sign out everywhere",
            )
            .await?;
        }
        let r = ctx.engine.sign_out_everywhere(&key.into(), force).await?;
        Ok(EverywhereView::from(&r))
    }

    /// The tray's "Sign out": asked in a native dialog first (the tray has
    /// no page to ask in).
    pub async fn sign_out_from_tray(&self, key: &AccountKey) -> Result<()> {
        let name = self.name_of(key).await?;
        self.ask(
            format!("Sign out of {name}?"),
            format!("{name} is signed out on this device only."),
            "Sign out",
        )
        .await?;
        self.sign_out(key).await
    }

    // ------------------------------------------------------------ settings

    pub async fn add_instance(&self, publishable_key: &str) -> Result<InstanceView> {
        let ctx = self.ctx().await?;
        let pk = publishable_key.trim();
        if pk.is_empty() || pk.len() > 512 {
            return Err(IpcError::bad_input(
                "paste a publishable key (pk_test_… or pk_live_…)",
            ));
        }
        let inst = Instance::from_publishable_key(pk)?;
        ctx.engine.add_instance(inst.clone()).await?;
        Ok(InstanceView::new(&inst, None))
    }
}

pub(crate) async fn instance(engine: &Engine, id: &str) -> Result<Instance> {
    engine
        .instances()
        .await
        .into_iter()
        .find(|i| i.id() == id)
        .ok_or_else(|| IpcError::bad_input("unknown instance"))
}

fn not_ready() -> IpcError {
    IpcError::new(
        ErrorKind::NotReady,
        "Latchkey is still starting; try again in a moment",
    )
}

pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A template token is only minted for a name configured for the account's
/// instance (the UI offers only those; anything else is bad input).
fn configured_template(ctx: &Host, acct: &AccountRef, template: &str) -> Result<()> {
    if ctx
        .engine
        .templates(&acct.instance_id)
        .iter()
        .any(|t| t == template)
    {
        Ok(())
    } else {
        Err(IpcError::bad_input(
            "no JWT template of that name is configured",
        ))
    }
}
