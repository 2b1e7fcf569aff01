//! Browser sign-ins (hosted auth, OAuth; `crate::flows` holds the attempts
//! and their secrets) and the web-to-desktop handoff, as the engine runs
//! them: a callback goes to the instance whose attempt it completes; a
//! completed sign-in's client is applied and its credential saved before the
//! new account is made active.

use std::sync::Arc;

use super::{AccountRef, Engine};
use crate::callback::{Callback, parse_deep_link};
use crate::error::{Error, ErrorKind, Result};
use crate::flows::{HandoffResult, Outcome, Redirect, SignInFlows, Started};

/// The sign-in in progress: on which instance, and what the browser shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSignIn {
    /// The instance the attempt belongs to.
    pub instance_id: String,
    /// The attempt.
    pub started: Started,
}

/// What confirming a handoff did, and to which account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandoffAdded {
    /// The account the link added (or that was already signed in).
    pub account: AccountRef,
    /// Added, or already there.
    pub result: HandoffResult,
}

impl Engine {
    async fn flows(&self, instance_id: &str) -> Result<Arc<SignInFlows>> {
        self.with_instance(instance_id, |i| i.flows.clone()).await
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
        let flows = self.flows(instance_id).await?;
        let started = match strategy {
            None => flows.start_hosted(redirect).await,
            Some(s) => flows.start_oauth(s, redirect).await,
        };
        // The first request of a new install creates its client: keep the
        // credential Clerk handed out for it.
        self.save_credential(instance_id).await;
        started
    }

    /// Cancels the sign-in in progress on an instance.
    pub async fn cancel_sign_in(&self, instance_id: &str) -> bool {
        self.flows(instance_id)
            .await
            .map(|f| f.cancel())
            .unwrap_or(false)
    }

    /// The sign-in in progress, if any.
    pub async fn pending_sign_in(&self) -> Option<PendingSignIn> {
        let inst = self.s.instances.lock().await;
        inst.iter().find_map(|(id, i)| {
            i.flows.pending().map(|started| PendingSignIn {
                instance_id: id.clone(),
                started,
            })
        })
    }

    /// Handles a deep link. Sign-in callbacks go to the instance whose
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
        let target = match &cb {
            Callback::Handoff { .. } => self.handoff_instance().await?,
            _ => self
                .pending_sign_in()
                .await
                .map(|p| p.instance_id)
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::Callback,
                        "rejected callback: no sign-in is in progress; start again",
                    )
                })?,
        };
        let flows = self.flows(&target).await?;
        let outcome = flows.handle(cb).await;
        if outcome.is_ok() {
            crate::failpoint::hit("sign-in:before-save");
        }
        // The redemption rotated the credential (and the new session lives
        // only on the rotated one): save it before anything else.
        self.save_credential(&target).await;
        let outcome = outcome?;
        crate::failpoint::hit("sign-in:after-save");
        if let Outcome::SignedIn {
            session, client, ..
        } = &outcome
        {
            if self.environment(&target).await.is_none() {
                let _ = self.load_environment(&target).await;
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

    /// Redeems a pending handoff after the user said "Continue".
    ///
    /// # Errors
    /// [`ErrorKind::SignIn`] when nothing waits, the link expired or was
    /// used, or the instance allows one account and one is signed in.
    pub async fn confirm_handoff(&self) -> Result<HandoffAdded> {
        let id = self.handoff_instance().await?;
        let flows = self.flows(&id).await?;
        let keep = self
            .active()
            .filter(|a| a.instance_id == id)
            .map(|a| a.session_id);
        let r = flows.confirm_handoff(keep.as_ref()).await;
        self.save_credential(&id).await;
        let result = r?;
        let client = self.call(&id, async |f| f.get_client().await).await?;
        self.apply_client(&id, client).await;
        let session = match &result {
            HandoffResult::Added { session, .. } | HandoffResult::AlreadySignedIn { session } => {
                session.clone()
            }
        };
        let account = AccountRef {
            instance_id: id,
            session_id: session,
        };
        if matches!(result, HandoffResult::AlreadySignedIn { .. }) || self.active().is_none() {
            self.set_active(account.clone()).await;
        }
        Ok(HandoffAdded { account, result })
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
}
