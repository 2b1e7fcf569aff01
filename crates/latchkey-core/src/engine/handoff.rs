//! The web-to-desktop handoff (`dev.latchkey.desktop://handoff?ticket=…`):
//! the one unsolicited link, so the user decides, knowing whose account it
//! is.
//!
//! The ticket is redeemed at once into a **quarantined** client of its own
//! (its credential saved, marked in the index), which is used for nothing
//! but reading who signed in. The question then names the account ("Add Ada
//! Lovelace <ada@example.com> from Latchkey Demo?") and says whether it will
//! be the active one (only when no account was active). Continue adopts the
//! client as an account; Cancel ends its session and forgets it. One link
//! at a time: a second one while the first waits is refused. A quarantine
//! left by a crash (or unanswered past 5 minutes) is ended at the next
//! read of the instance.

use std::sync::Mutex;
use std::time::Instant;

use super::accounts::Identity;
use super::instances::ClientRef;
use super::{AccountRef, Engine, lock};
use crate::error::{Error, ErrorKind, Result};
use crate::flows::{ATTEMPT_TTL, HandoffResult, MoreVerification, Outcome};
use crate::secret::SignInTicket;
use crate::types::UserId;

/// What the question about a handoff link shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandoffPreview {
    /// The instance the account is on.
    pub instance_id: String,
    /// Its application name (or host).
    pub instance_name: String,
    /// The account's name, as the accounts list would show it.
    pub name: Option<String>,
    /// Its email (or the identifier the link was for).
    pub email: Option<String>,
    /// It will be the active account (none was).
    pub becomes_active: bool,
    /// That user is signed in here already (Continue switches to them).
    pub already_signed_in: bool,
    /// The link needs more than it gives (a second factor, trust in a new
    /// device): Continue goes on in the browser.
    pub needs: Option<MoreVerification>,
}

/// What confirming a handoff led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handoff {
    /// An account was added (or was there already).
    Added(HandoffAdded),
    /// Clerk wants more than the link gives (a second factor, trust in a
    /// new device): nothing was added; continue with hosted auth.
    ContinueInBrowser {
        /// The instance to sign in to.
        instance_id: String,
        /// What Clerk asked for.
        more: MoreVerification,
    },
}

/// What confirming a handoff did, and to which account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandoffAdded {
    /// The account the link added (or that was already signed in).
    pub account: AccountRef,
    /// Added, or already there.
    pub result: HandoffResult,
}

/// The link waiting for the user's answer.
struct Waiting {
    preview: HandoffPreview,
    /// The quarantined client (none when the link needs the browser).
    client: Option<ClientRef>,
    /// The new session and its user.
    session: Option<(crate::SessionId, Option<UserId>)>,
    since: Instant,
}

/// What this module owns.
#[derive(Default)]
pub(super) struct HandoffState {
    waiting: Mutex<Option<Waiting>>,
    /// Quarantined clients found in the index at open (a crash left them):
    /// ended at the next read.
    leftovers: Mutex<Vec<ClientRef>>,
}

impl Engine {
    /// The instance a handoff link goes to: the active account's, or the
    /// only one.
    ///
    /// # Errors
    /// [`ErrorKind::SignIn`] with several instances and none active.
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

    /// A handoff link arrived: redeems it into quarantine and says whose
    /// account it is. A second link while one waits is refused.
    pub(super) async fn receive_handoff(&self, ticket: SignInTicket) -> Result<Outcome> {
        if self.handoff_preview().is_some() {
            return Err(Error::new(
                ErrorKind::SignIn,
                "another account link is waiting for your answer; answer it first (this link was not used)",
            ));
        }
        // An unanswered one past its time is ended first.
        self.end_waiting_handoff().await;
        let id = self.handoff_instance().await?;
        let c = self.new_quarantined_client(&id).await?;
        let r = self.flows_of(&c).await?.redeem_ticket(&ticket, None).await;
        crate::failpoint::hit("handoff:after-redeem");
        // The redemption created the client at Clerk (and a session on it):
        // its credential is saved, marked quarantined, before anything else.
        self.save_credential(&c).await;
        crate::failpoint::hit("handoff:after-quarantine-save");
        let instance_name = self
            .environment(&id)
            .await
            .and_then(|e| e.application_name().map(str::to_owned))
            .unwrap_or_else(|| id.clone());
        let becomes_active = self.active().is_none();
        let (preview, client, session) = match r {
            Err(e) => {
                self.end_quarantine(&c).await;
                return Err(e);
            }
            Ok(HandoffResult::ContinueInBrowser(more)) => {
                // Nothing was signed in; nothing to keep.
                self.end_quarantine(&c).await;
                let preview = HandoffPreview {
                    instance_id: id,
                    instance_name,
                    name: None,
                    email: more.identifier.clone(),
                    becomes_active,
                    already_signed_in: false,
                    needs: Some(more),
                };
                (preview, None, None)
            }
            Ok(HandoffResult::Added { session, user }) => {
                let _ = self.reload_client(&c).await;
                let read = self
                    .with_client(&c, |cs| {
                        cs.client
                            .as_ref()
                            .and_then(|cl| cl.session(&session).cloned())
                    })
                    .await
                    .ok()
                    .flatten();
                let who = read.as_ref().map(Identity::of);
                let user = user.or_else(|| who.as_ref().and_then(|w| w.user_id.clone()));
                let already = self.account_of_user(&id, user.as_ref()).await.is_some();
                let preview = HandoffPreview {
                    instance_id: id,
                    instance_name,
                    name: who.as_ref().map(|w| w.name.clone()),
                    email: who.and_then(|w| w.email),
                    becomes_active: becomes_active && !already,
                    already_signed_in: already,
                    needs: None,
                };
                (preview, Some(c), Some((session, user)))
            }
            // A fresh client holds no one already.
            Ok(HandoffResult::AlreadySignedIn { .. }) => {
                self.end_quarantine(&c).await;
                return Err(Error::new(
                    ErrorKind::SignIn,
                    "the account link signed nobody in",
                ));
            }
        };
        *lock(&self.s.handoff.waiting) = Some(Waiting {
            preview: preview.clone(),
            client,
            session,
            since: self.s.cfg.clock.mono(),
        });
        Ok(Outcome::HandoffPending(Box::new(preview)))
    }

    /// The link waiting for an answer, if any (not past its 5 minutes).
    pub fn handoff_preview(&self) -> Option<HandoffPreview> {
        lock(&self.s.handoff.waiting)
            .as_ref()
            .filter(|w| !self.handoff_expired(w))
            .map(|w| w.preview.clone())
    }

    /// True while a handoff waits for an answer.
    pub async fn handoff_pending(&self) -> bool {
        self.handoff_preview().is_some()
    }

    /// Continue: the quarantined client becomes an account (active only
    /// when none was); the same user signed in already → that account is
    /// made active and the link's session ended; a link that needs more →
    /// the caller continues in the browser.
    ///
    /// # Errors
    /// [`ErrorKind::SignIn`] when nothing waits or it waited too long.
    pub async fn confirm_handoff(&self) -> Result<Handoff> {
        let w = lock(&self.s.handoff.waiting).take();
        let Some(w) = w else {
            return Err(Error::new(
                ErrorKind::SignIn,
                "there is no account link waiting",
            ));
        };
        if self.handoff_expired(&w) {
            if let Some(c) = &w.client {
                self.end_quarantine(c).await;
            }
            return Err(Error::new(
                ErrorKind::SignIn,
                "the account link expired; open it again from the web page",
            ));
        }
        let id = w.preview.instance_id.clone();
        if let Some(more) = w.preview.needs {
            return Ok(Handoff::ContinueInBrowser {
                instance_id: id,
                more,
            });
        }
        let (Some(c), Some((session, user))) = (w.client, w.session) else {
            return Err(Error::new(
                ErrorKind::SignIn,
                "the account link signed nobody in",
            ));
        };
        if let Some(existing) = self.account_of_user(&id, user.as_ref()).await {
            self.end_quarantine(&c).await;
            self.set_active(existing.clone()).await;
            return Ok(Handoff::Added(HandoffAdded {
                result: HandoffResult::AlreadySignedIn {
                    session: existing.session_id.clone(),
                },
                account: existing,
            }));
        }
        self.with_client_mut(&c, |cs| cs.quarantined = false)
            .await?;
        if let Err(e) = self.save_index().await {
            tracing::warn!(error = %e, "the adopted account is kept in memory; saving it is retried");
        }
        let client = self
            .with_client(&c, |cs| cs.client.clone())
            .await
            .ok()
            .flatten();
        self.apply_client(&c, client).await;
        let account = AccountRef {
            instance_id: id,
            session_id: session.clone(),
        };
        if self.active().is_none() {
            self.set_active(account.clone()).await;
        }
        Ok(Handoff::Added(HandoffAdded {
            account,
            result: HandoffResult::Added { session, user },
        }))
    }

    /// Cancel: ends the link's session and forgets its client.
    pub async fn decline_handoff(&self) -> bool {
        let w = lock(&self.s.handoff.waiting).take();
        match w {
            Some(w) => {
                if let Some(c) = &w.client {
                    // Offline: ended at the next start instead.
                    if !self.end_quarantine(c).await {
                        self.note_leftover_quarantine(c.clone());
                    }
                }
                true
            }
            None => false,
        }
    }

    /// The link has waited past [`ATTEMPT_TTL`] (engine clock).
    fn handoff_expired(&self, w: &Waiting) -> bool {
        self.s.cfg.clock.mono().saturating_duration_since(w.since) >= ATTEMPT_TTL
    }

    /// Ends a waiting link past its time.
    async fn end_waiting_handoff(&self) {
        let stale = {
            let mut w = lock(&self.s.handoff.waiting);
            if w.as_ref().is_some_and(|w| self.handoff_expired(w)) {
                w.take()
            } else {
                None
            }
        };
        if let Some(c) = stale.and_then(|w| w.client) {
            self.end_quarantine(&c).await;
        }
    }

    /// Remembers a quarantined client found in the index at open.
    pub(super) fn note_leftover_quarantine(&self, c: ClientRef) {
        lock(&self.s.handoff.leftovers).push(c);
    }

    /// Ends the quarantined clients a crash left (found at open), and a
    /// waiting link past its time: their sessions end at Clerk and their
    /// credentials are forgotten. Kept for the next read when Clerk cannot
    /// be reached.
    pub(super) async fn end_stale_quarantines(&self, instance_id: &str) {
        self.end_waiting_handoff().await;
        let mine: Vec<ClientRef> = {
            let mut l = lock(&self.s.handoff.leftovers);
            let (mine, rest) = l.drain(..).partition(|c| c.instance_id == instance_id);
            *l = rest;
            mine
        };
        for c in mine {
            if !self.end_quarantine(&c).await {
                self.note_leftover_quarantine(c);
            }
        }
    }

    /// Ends a quarantined client's session at Clerk and forgets the client
    /// and its credential; false (kept) if Clerk cannot be reached.
    async fn end_quarantine(&self, c: &ClientRef) -> bool {
        let has_credential = self.fapi(c).await.is_ok_and(|f| f.credential().is_some());
        if has_credential {
            let ended = self
                .call(c, async |f| {
                    let r = f.delete_client().await;
                    if r.is_ok() {
                        f.set_credential(None);
                    }
                    r
                })
                .await;
            if let Err(e) = ended
                && e.is_transient()
            {
                tracing::info!("a quarantined account link could not be ended yet: {e}");
                return false;
            }
        }
        self.forget_client(c).await;
        if let Err(e) = self.save_index().await {
            tracing::warn!(error = %e, "the account index was not saved");
        }
        true
    }

    /// This instance's account of `user`, if one is signed in here.
    async fn account_of_user(
        &self,
        instance_id: &str,
        user: Option<&UserId>,
    ) -> Option<AccountRef> {
        let user = user?;
        self.accounts()
            .await
            .into_iter()
            .find(|a| a.account.instance_id == instance_id && a.user_id.as_ref() == Some(user))
            .map(|a| a.account)
    }
}
