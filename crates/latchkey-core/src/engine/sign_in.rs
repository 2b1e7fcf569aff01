//! Browser sign-ins (hosted auth, OAuth; `crate::flows` holds the attempts
//! and their secrets), as the engine runs them (the web-to-desktop handoff
//! is `handoff.rs`): a new account signs in on the instance's shared client, or — on a
//! single-session instance whose shared client already holds an account — on
//! a client of its own; a callback goes to the client whose attempt it
//! completes; a completed sign-in's client is applied and its credential
//! saved before the new account is made active.

use std::sync::Arc;

use super::instances::ClientRef;
use super::{AccountRef, Engine};
use crate::callback::{Callback, parse_deep_link};
use crate::error::{Error, ErrorKind, Result};
use crate::flows::{Outcome, Redirect, SignInFlows, Started};

/// The sign-in in progress: on which instance, and what the browser shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSignIn {
    /// The instance the attempt belongs to.
    pub instance_id: String,
    /// The attempt.
    pub started: Started,
}

impl Engine {
    pub(super) async fn flows_of(&self, c: &ClientRef) -> Result<Arc<SignInFlows>> {
        self.with_client(c, |cs| cs.flows.clone()).await
    }

    /// Whether the instance allows one account per client (read afresh:
    /// it can change in Clerk's Dashboard; the last known answer, else
    /// "several", when Clerk cannot be read now).
    pub async fn single_session(&self, instance_id: &str) -> bool {
        let env = match self.reload_environment(instance_id).await {
            Ok(e) => Some(e),
            Err(_) => self.environment(instance_id).await,
        };
        env.is_some_and(|e| e.auth_config.single_session_mode)
    }

    /// The client a new account signs in on: the shared one, unless the
    /// instance is single-session and it already holds an account; then one
    /// without an account (or a new one).
    pub(super) async fn sign_in_client(&self, instance_id: &str) -> Result<ClientRef> {
        let main = ClientRef::main(instance_id);
        if !self.single_session(instance_id).await {
            return Ok(main);
        }
        let free = self
            .with_instance(instance_id, |i| {
                i.ordered()
                    .find(|(_, c)| !c.has_account() && c.flows.pending().is_none())
                    .map(|(k, _)| k.clone())
            })
            .await?;
        match free {
            Some(key) => Ok(ClientRef {
                instance_id: instance_id.to_owned(),
                key,
            }),
            None => self.new_client(instance_id).await,
        }
    }

    /// Forgets a client of its own that holds no account and no attempt
    /// (a sign-in that failed, was cancelled or expired on it).
    pub(super) async fn drop_if_unused(&self, c: &ClientRef) {
        let unused = self
            .with_client(c, |cs| !cs.has_account() && cs.flows.pending().is_none())
            .await
            .unwrap_or(false);
        if unused {
            self.forget_client(c).await;
        }
    }

    /// Starts hosted auth (`strategy` None) or a direct OAuth sign-in.
    ///
    /// # Errors
    /// [`ErrorKind::SignIn`] while another sign-in is in progress; transport
    /// and protocol kinds.
    pub async fn start_sign_in(
        &self,
        instance_id: &str,
        strategy: Option<&str>,
        redirect: Redirect,
    ) -> Result<Started> {
        self.no_sign_in_in_progress(instance_id).await?;
        let c = self.sign_in_client(instance_id).await?;
        let flows = self.flows_of(&c).await?;
        let started = match strategy {
            None => flows.start_hosted(redirect).await,
            Some(s) => flows.start_oauth(s, redirect).await,
        };
        // The first request of a new client creates it at Clerk: keep the
        // credential Clerk handed out for it.
        self.save_credential(&c).await;
        if started.is_err() {
            self.drop_if_unused(&c).await;
        }
        started
    }

    /// One sign-in at a time per instance.
    pub(super) async fn no_sign_in_in_progress(&self, instance_id: &str) -> Result<()> {
        if self
            .pending_sign_in()
            .await
            .is_some_and(|p| p.instance_id == instance_id)
        {
            return Err(Error::new(
                ErrorKind::SignIn,
                "a sign-in is already in progress; finish or cancel it first",
            ));
        }
        Ok(())
    }

    /// Cancels the sign-in in progress on an instance.
    pub async fn cancel_sign_in(&self, instance_id: &str) -> bool {
        let mut cancelled = false;
        for c in self.clients_of(instance_id).await {
            if let Ok(f) = self.flows_of(&c).await {
                cancelled |= f.cancel();
            }
            self.drop_if_unused(&c).await;
        }
        cancelled
    }

    /// The sign-in in progress, if any.
    pub async fn pending_sign_in(&self) -> Option<PendingSignIn> {
        self.pending_attempt()
            .await
            .map(|(c, started)| PendingSignIn {
                instance_id: c.instance_id,
                started,
            })
    }

    /// The client whose attempt is live, and the attempt.
    async fn pending_attempt(&self) -> Option<(ClientRef, Started)> {
        let inst = self.s.instances.lock().await;
        inst.iter().find_map(|(id, i)| {
            i.clients.iter().find_map(|(k, c)| {
                c.flows.pending().map(|started| {
                    (
                        ClientRef {
                            instance_id: id.clone(),
                            key: k.clone(),
                        },
                        started,
                    )
                })
            })
        })
    }

    /// Handles a deep link. Sign-in callbacks go to the client whose
    /// attempt is live; a handoff goes to the active account's instance (or
    /// the only one) and waits for [`confirm_handoff`](Self::confirm_handoff).
    ///
    /// # Errors
    /// [`ErrorKind::Callback`] for a link that is malformed or completes no
    /// live attempt (nothing is sent to Clerk); the flow's errors otherwise.
    pub async fn handle_deep_link(&self, url: &str) -> Result<Outcome> {
        let cb = parse_deep_link(url)?;
        self.handle_callback(cb).await
    }

    /// Handles a parsed callback (deep link or loopback).
    ///
    /// # Errors
    /// As [`handle_deep_link`](Self::handle_deep_link).
    pub async fn handle_callback(&self, cb: Callback) -> Result<Outcome> {
        if let Callback::Handoff { ticket } = cb {
            // Redeemed into quarantine; the user answers (`handoff.rs`).
            return self.receive_handoff(ticket).await;
        }
        if let Callback::SelfTest { .. } = cb {
            // The app answers its own link checks before this; one that
            // gets here is not awaited by anyone.
            return Err(Error::new(
                ErrorKind::Callback,
                "rejected callback: a link check Latchkey is not waiting for",
            ));
        }
        // The attempt it belongs to: by `state` for hosted auth (one
        // client at most); for OAuth, which carries no state, each live
        // OAuth attempt in turn until Clerk accepts the nonce for one.
        let candidates = self.attempts_matching(&cb).await;
        if candidates.is_empty() {
            return Err(Error::new(
                ErrorKind::Callback,
                "rejected callback: no sign-in in progress matches it; start again",
            ));
        }
        let mut last = None;
        for target in candidates {
            match self.complete_on(&target, cb.clone()).await {
                Err(e) if e.kind() == &ErrorKind::Callback => last = Some(e),
                r => return r,
            }
        }
        Err(last
            .unwrap_or_else(|| Error::new(ErrorKind::Callback, "rejected callback: start again")))
    }

    /// The clients whose live attempt `cb` can belong to.
    async fn attempts_matching(&self, cb: &Callback) -> Vec<ClientRef> {
        let inst = self.s.instances.lock().await;
        inst.iter()
            .flat_map(|(id, i)| {
                i.clients
                    .iter()
                    .filter(|(_, c)| c.flows.matches(cb))
                    .map(|(k, _)| ClientRef {
                        instance_id: id.clone(),
                        key: k.clone(),
                    })
            })
            .collect()
    }

    /// Completes `target`'s attempt with `cb`.
    async fn complete_on(&self, target: &ClientRef, cb: Callback) -> Result<Outcome> {
        let target = target.clone();
        let flows = self.flows_of(&target).await?;
        let outcome = flows.handle(cb).await;
        if outcome.is_ok() {
            crate::failpoint::hit("sign-in:before-save");
        }
        // The redemption rotated the credential (and the new session lives
        // only on the rotated one): save it before anything else.
        self.save_credential(&target).await;
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                self.drop_if_unused(&target).await;
                return Err(e);
            }
        };
        crate::failpoint::hit("sign-in:after-save");
        let Outcome::SignedIn {
            session,
            user,
            client,
        } = outcome
        else {
            if matches!(outcome, Outcome::ContinueInBrowser(_)) {
                // The half-finished sign-in is abandoned with its client
                // (when it had one of its own).
                self.drop_if_unused(&target).await;
            }
            return Ok(outcome);
        };
        if self.environment(&target.instance_id).await.is_none() {
            let _ = self.load_environment(&target.instance_id).await;
        }
        self.apply_client(&target, Some((*client).clone())).await;
        let mut account = AccountRef {
            instance_id: target.instance_id.clone(),
            session_id: session,
        };
        if let Some(purpose) = self.take_purpose(&target).await {
            let done = self.finish_reverify(purpose, account, user).await?;
            return Ok(Outcome::Reverified(Box::new(done)));
        }
        // The same user signed in again on a client of its own (a
        // single-session instance cannot say "already signed in" across
        // clients): keep the account there was, end the new session.
        if let Some(existing) = self.same_user_elsewhere(&account, &target).await {
            let _ = self.sign_out(&account).await;
            account = existing;
        }
        self.set_active(account.clone()).await;
        Ok(Outcome::SignedIn {
            session: account.session_id,
            user,
            client,
        })
    }

    /// Another account of the same user as `acct`, on another client of the
    /// instance.
    async fn same_user_elsewhere(&self, acct: &AccountRef, c: &ClientRef) -> Option<AccountRef> {
        let accounts = self.accounts().await;
        let user = accounts
            .iter()
            .find(|a| &a.account == acct)?
            .user_id
            .clone()?;
        let others = self
            .with_instance(&acct.instance_id, |i| {
                i.account_clients()
                    .filter(|(k, _)| **k != c.key)
                    .filter_map(|(_, cs)| cs.client.as_ref())
                    .flat_map(|cl| cl.accounts().map(|s| s.id.clone()))
                    .collect::<Vec<_>>()
            })
            .await
            .ok()?;
        accounts
            .into_iter()
            .find(|a| {
                a.account.instance_id == acct.instance_id
                    && others.contains(&a.account.session_id)
                    && a.user_id.as_ref() == Some(&user)
            })
            .map(|a| a.account)
    }
}
