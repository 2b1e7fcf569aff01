//! Signing an account in again in the browser, for the same user, to
//! replace its session here: to finish a `pending` session's tasks that are
//! done on Clerk's pages ("Finish in browser"), or to verify again before
//! an action Clerk guards (403 `session_reverification_required`: "Verify
//! again in your browser").
//!
//! The new sign-in runs on a fresh client of its own (the same user cannot
//! sign in twice on one client), with hosted auth, which handles every
//! factor. When it comes back:
//! - the same user: the old session is signed out here (removed), the new
//!   one takes its place (active if the old one was), and a guarded action
//!   is retried once as the new session;
//! - someone else: the new session is signed out and nothing else changes.
//!
//! Nothing here reads the 403's `meta` (which factor, how recent): hosted
//! auth asks for whatever the instance requires.

use super::actions::{EverywhereOutcome, RevokeOutcome, SessionRevoke};
use super::instances::ClientRef;
use super::{AccountRef, Engine};
use crate::error::{Error, ErrorKind, Result};
use crate::flows::{Redirect, Started};
use crate::types::{SessionId, UserId};

/// Why an account is signed in again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reverify {
    /// Its session is `pending` with tasks done on Clerk's pages.
    FinishSignIn,
    /// Clerk wants a recent verification before this action; it is retried
    /// once afterwards (`None`: retried by the caller).
    StepUp(Option<Guarded>),
}

/// An action Clerk may guard with reverification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guarded {
    /// Revoke one session on another device.
    Revoke(SessionId),
    /// Revoke every other session of the user.
    SignOutOtherDevices,
    /// Revoke every other session, then sign out here.
    SignOutEverywhere {
        /// Sign out here even if some revokes fail.
        force: bool,
    },
}

/// How the guarded action went when retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retried {
    /// [`Guarded::Revoke`].
    Revoke {
        /// The session on another device.
        session_id: SessionId,
        /// What happened.
        outcome: RevokeOutcome,
    },
    /// [`Guarded::SignOutOtherDevices`].
    OtherDevices(Vec<SessionRevoke>),
    /// [`Guarded::SignOutEverywhere`].
    Everywhere(EverywhereOutcome),
    /// The retry failed as a whole (the account stays).
    Failed {
        /// The error's kind.
        kind: ErrorKind,
        /// The error's message.
        message: String,
    },
}

/// What a completed re-sign-in did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reverified {
    /// The account as it was (its session is signed out here).
    pub replaced: AccountRef,
    /// The account now.
    pub account: AccountRef,
    /// The guarded action's retry, when there was one.
    pub retried: Option<Retried>,
}

/// What a client started for a re-sign-in is for (kept with the client
/// until its attempt ends).
#[derive(Debug, Clone)]
pub(super) struct Purpose {
    pub account: AccountRef,
    pub user: Option<UserId>,
    pub email: Option<String>,
    pub why: Reverify,
}

impl Engine {
    /// Starts hosted auth for the user of `acct` on a fresh client; the
    /// callback goes through [`handle_callback`](Self::handle_callback) as
    /// usual and completes as [`crate::Outcome::Reverified`].
    ///
    /// # Errors
    /// [`ErrorKind::SessionGone`] when the account is not signed in;
    /// [`ErrorKind::SignIn`] while another sign-in is in progress;
    /// transport kinds.
    pub async fn start_reverify(
        &self,
        acct: &AccountRef,
        why: Reverify,
        redirect: Redirect,
    ) -> Result<Started> {
        let session = self.session(acct).await?;
        self.no_sign_in_in_progress(&acct.instance_id).await?;
        let who = super::accounts::Identity::of(&session);
        let c = self.new_client(&acct.instance_id).await?;
        let purpose = Purpose {
            account: acct.clone(),
            user: who.user_id,
            email: who.email,
            why,
        };
        self.with_client_mut(&c, |cs| cs.purpose = Some(purpose))
            .await?;
        let started = self.flows_of(&c).await?.start_hosted(redirect).await;
        self.save_credential(&c).await;
        if started.is_err() {
            self.drop_if_unused(&c).await;
        }
        started
    }

    /// The purpose of a client's attempt, if it is a re-sign-in (taken: the
    /// attempt is over).
    pub(super) async fn take_purpose(&self, c: &ClientRef) -> Option<Purpose> {
        self.with_client_mut(c, |cs| cs.purpose.take())
            .await
            .ok()
            .flatten()
    }

    /// Finishes a re-sign-in whose new session `new` (of `user`) is on `c`
    /// and applied.
    pub(super) async fn finish_reverify(
        &self,
        purpose: Purpose,
        new: AccountRef,
        user: Option<UserId>,
    ) -> Result<Reverified> {
        if purpose.user.is_some() && user != purpose.user {
            // Someone else signed in: end that session, change nothing.
            let _ = self.sign_out(&new).await;
            let who = purpose.email.as_deref().unwrap_or("the same account");
            return Err(Error::new(
                ErrorKind::SignIn,
                format!(
                    "a different account signed in; nothing changed. Sign in as {who} to continue"
                ),
            ));
        }
        let old = purpose.account;
        let was_active = self.active().as_ref() == Some(&old);
        if let Err(e) = self.sign_out(&old).await {
            // The old session stays listed until the next read; the new one
            // works already.
            tracing::warn!(
                kind = e.kind_name(),
                "the replaced session was not signed out: {e}"
            );
        }
        if was_active || self.active().is_none() {
            self.set_active(new.clone()).await;
        }
        let retried = match purpose.why {
            Reverify::StepUp(Some(action)) => Some(self.retry_guarded(&new, action).await),
            _ => None,
        };
        Ok(Reverified {
            replaced: old,
            account: new,
            retried,
        })
    }

    /// Runs the guarded action once as `acct`.
    async fn retry_guarded(&self, acct: &AccountRef, action: Guarded) -> Retried {
        let r = match action {
            Guarded::Revoke(target) => {
                self.revoke(acct, &target)
                    .await
                    .map(|outcome| Retried::Revoke {
                        session_id: target,
                        outcome,
                    })
            }
            Guarded::SignOutOtherDevices => self
                .sign_out_other_devices(acct)
                .await
                .map(Retried::OtherDevices),
            Guarded::SignOutEverywhere { force } => self
                .sign_out_everywhere(acct, force)
                .await
                .map(Retried::Everywhere),
        };
        r.unwrap_or_else(|e| Retried::Failed {
            kind: e.kind().clone(),
            message: e.to_string(),
        })
    }
}
