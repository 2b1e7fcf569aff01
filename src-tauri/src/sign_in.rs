//! Sign-ins as the window drives them: starting one (hosted auth, OAuth,
//! or signing an account in again to finish a pending session or to verify
//! before a guarded action), the waiting state, deep links, and the
//! web-to-desktop handoff.

use std::time::{Duration, SystemTime};

use latchkey_core::engine::{AccountRef, Guarded, Handoff, Reverified, Reverify};
use latchkey_core::{
    HandoffResult, LoopbackListener, MoreVerification, Outcome, Redirect, SessionId,
};

use crate::error::{ErrorKind, IpcError, Result};
use crate::state::{Latchkey, instance, lock, now_ms};
use crate::view::*;
use latchkey_host::time::ms;

impl Latchkey {
    // ------------------------------------------------------------ sign-in

    pub async fn sign_in_options(&self, instance_id: &str) -> Result<SignInOptions> {
        let ctx = self.ctx().await?;
        let inst = instance(&ctx.engine, instance_id).await?;
        let env = ctx.engine.load_environment(instance_id).await?;
        let providers = env
            .sign_in_providers()
            .into_iter()
            .map(|p| ProviderView {
                strategy: p.strategy.clone(),
                name: p.name.clone().unwrap_or_else(|| provider_name(&p.strategy)),
            })
            .collect();
        Ok(SignInOptions {
            instance: InstanceView::new(&inst, env.application_name().map(str::to_owned)),
            providers,
        })
    }

    pub(crate) fn live_sign_in(&self) -> Option<SignInView> {
        let mut s = lock(&self.sign_in);
        if s.as_ref().is_some_and(|v| v.expires_at_ms <= now_ms()) {
            *s = None;
        }
        s.clone()
    }

    /// Starts a sign-in and opens the browser on it. `loopback` uses
    /// `http://127.0.0.1:<port>/callback` instead of the deep link (for
    /// browsers that refuse custom schemes); `on_loopback` receives that
    /// callback's outcome.
    pub async fn start_sign_in(
        &self,
        instance_id: &str,
        strategy: Option<&str>,
        loopback: bool,
        on_loopback: impl FnOnce(Result<Outcome>) + Send + 'static,
    ) -> Result<SignInView> {
        if let Some(s) = strategy
            && !(s.starts_with("oauth_")
                && s.len() < 64
                && s[6..]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        {
            return Err(IpcError::bad_input("unknown sign-in provider"));
        }
        let begin = Begin {
            instance_id: instance_id.to_owned(),
            strategy: strategy.map(str::to_owned),
            reverify: None,
            notice: None,
        };
        self.begin(begin, loopback, on_loopback).await
    }

    /// "Finish in browser" for a pending account, or "Verify again in your
    /// browser" before a guarded action (`then`, retried once afterwards):
    /// hosted sign-in for the same user, whose new session replaces the
    /// account's.
    pub async fn reverify(
        &self,
        key: &AccountKey,
        kind: ReverifyKind,
        then: Option<&GuardedView>,
        on_loopback: impl FnOnce(Result<Outcome>) + Send + 'static,
    ) -> Result<SignInView> {
        let ctx = self.ctx().await?;
        let acct: AccountRef = key.into();
        let a = ctx
            .engine
            .accounts()
            .await
            .into_iter()
            .find(|a| a.account == acct)
            .ok_or_else(|| IpcError::bad_input("that account is not signed in here"))?;
        let why = match kind {
            ReverifyKind::FinishSignIn => {
                if a.tasks.is_empty() || a.tasks.iter().all(|t| t.done_in_app()) {
                    return Err(IpcError::bad_input(
                        "this account has nothing to finish in the browser",
                    ));
                }
                Reverify::FinishSignIn
            }
            ReverifyKind::StepUp => Reverify::StepUp(then.map(Guarded::from)),
        };
        let begin = Begin {
            instance_id: acct.instance_id.clone(),
            strategy: None,
            reverify: Some((
                acct,
                why,
                ReverifyView {
                    kind,
                    key: key.clone(),
                    name: a.name.clone(),
                    email: a.email.clone(),
                },
            )),
            notice: None,
        };
        self.begin(begin, false, on_loopback).await
    }

    /// `latchkey-app --sign-in <instance>` (its id, Frontend API host, or
    /// `local`): hosted sign-in there, as "Continue in browser" would.
    pub async fn sign_in_on_request(
        &self,
        instance: &str,
        on_loopback: impl FnOnce(Result<Outcome>) + Send + 'static,
    ) -> Result<SignInView> {
        let ctx = self.ctx().await?;
        let found = ctx.engine.instances().await.into_iter().find(|i| {
            i.id() == instance
                || i.frontend_api().host_str() == Some(instance)
                || (matches!(instance, "local" | "demo")
                    && i.kind() == latchkey_core::InstanceKind::LocalDemo)
        });
        let inst = found.ok_or_else(|| {
            IpcError::bad_input(format!(
                "the command line asked to sign in to {instance:?}, which is not configured here"
            ))
        })?;
        self.start_sign_in(inst.id(), None, false, on_loopback)
            .await
    }

    /// `latchkey-app --verify-account <session id>`: "Verify again in your
    /// browser" for that account (the command line retries its action).
    pub async fn verify_on_request(
        &self,
        session_id: &str,
        on_loopback: impl FnOnce(Result<Outcome>) + Send + 'static,
    ) -> Result<SignInView> {
        let ctx = self.ctx().await?;
        let acct = ctx
            .engine
            .accounts()
            .await
            .into_iter()
            .find(|a| a.account.session_id.as_str() == session_id)
            .ok_or_else(|| {
                IpcError::bad_input(
                    "the command line asked to verify an account that is not signed in here",
                )
            })?;
        let key = AccountKey::from(&acct.account);
        self.reverify(&key, ReverifyKind::StepUp, None, on_loopback)
            .await
    }

    /// A direct sign-in stopped short: hosted sign-in on the same instance
    /// (and the same callback route) takes over, saying why.
    pub async fn continue_in_browser(
        &self,
        more: &MoreVerification,
        on_loopback: impl FnOnce(Result<Outcome>) + Send + 'static,
    ) -> Result<SignInView> {
        let before = lock(&self.sign_in)
            .take()
            .ok_or_else(|| IpcError::new(ErrorKind::SignIn, "no sign-in is in progress"))?;
        let what = before.strategy.as_deref().map_or_else(
            || "The sign-in".to_owned(),
            |s| format!("{} sign-in", provider_name(s)),
        );
        let begin = Begin {
            instance_id: before.instance_id,
            strategy: None,
            reverify: None,
            notice: Some(continue_notice(&what, more)),
        };
        self.begin(begin, before.loopback, on_loopback).await
    }

    async fn begin(
        &self,
        begin: Begin,
        loopback: bool,
        on_loopback: impl FnOnce(Result<Outcome>) + Send + 'static,
    ) -> Result<SignInView> {
        let ctx = self.ctx().await?;
        let inst = instance(&ctx.engine, &begin.instance_id).await?;
        let listener = if loopback {
            Some(LoopbackListener::bind().await?)
        } else {
            None
        };
        let redirect = listener
            .as_ref()
            .map_or(Redirect::DeepLink, |l| Redirect::Loopback(l.port()));
        let (started, reverify) = match begin.reverify {
            Some((acct, why, view)) => (
                ctx.engine.start_reverify(&acct, why, redirect).await?,
                Some(view),
            ),
            None => (
                ctx.engine
                    .start_sign_in(&begin.instance_id, begin.strategy.as_deref(), redirect)
                    .await?,
                None,
            ),
        };
        if let Some(old) = lock(&self.loopback).take() {
            old.abort();
        }
        if let Some(l) = listener {
            let engine = ctx.engine.clone();
            let ttl = started
                .expires_at
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO);
            *lock(&self.loopback) = Some(tokio::spawn(async move {
                let r = l
                    .serve(ttl, |cb| {
                        let engine = engine.clone();
                        async move { engine.handle_callback(cb).await }
                    })
                    .await
                    .map_err(IpcError::from);
                on_loopback(r);
            }));
        }
        // Only the instance's own pages (https, or the demo's loopback).
        let opened = inst.is_openable_url(&started.url) && (self.opener)(&started.url);
        let view = SignInView {
            instance_id: begin.instance_id,
            strategy: begin.strategy,
            url: started.url.clone(),
            started_at_ms: now_ms(),
            expires_at_ms: ms(started.expires_at),
            browser_opened: opened,
            loopback,
            reverify,
            notice: begin.notice,
        };
        *lock(&self.sign_in) = Some(view.clone());
        Ok(view)
    }

    /// Opens the sign-in page again.
    pub fn reopen_sign_in(&self) -> Result<bool> {
        let s = self
            .live_sign_in()
            .ok_or_else(|| IpcError::new(ErrorKind::SignIn, "no sign-in is in progress"))?;
        let opened = (self.opener)(&s.url);
        if let Some(v) = lock(&self.sign_in).as_mut() {
            v.browser_opened = opened;
        }
        if opened {
            Ok(true)
        } else {
            Err(IpcError::new(
                ErrorKind::Browser,
                "no browser could be opened; copy the link and open it yourself",
            ))
        }
    }

    /// The link of the sign-in in progress (it carries no secret).
    pub fn sign_in_link(&self) -> Result<String> {
        self.live_sign_in()
            .map(|s| s.url)
            .ok_or_else(|| IpcError::new(ErrorKind::SignIn, "no sign-in is in progress"))
    }

    pub async fn cancel_sign_in(&self) -> Result<bool> {
        let ctx = self.ctx().await?;
        let v = lock(&self.sign_in).take();
        if let Some(t) = lock(&self.loopback).take() {
            t.abort();
        }
        Ok(match v {
            Some(v) => ctx.engine.cancel_sign_in(&v.instance_id).await,
            None => false,
        })
    }

    /// After a callback: clears the waiting state and says who signed in.
    pub async fn finish_sign_in(&self, session: &SessionId) -> Option<AccountView> {
        *lock(&self.sign_in) = None;
        let e = self.engine_now()?;
        let a = e
            .accounts()
            .await
            .into_iter()
            .find(|a| &a.account.session_id == session)?;
        Some(self.account_view(&a))
    }

    /// After a re-sign-in: clears the waiting state and says what it did.
    pub async fn finish_reverify(&self, done: &Reverified) -> UiEvent {
        let kind = lock(&self.sign_in)
            .take()
            .and_then(|v| v.reverify)
            .map_or(ReverifyKind::StepUp, |r| r.kind);
        let account = match self.engine_now() {
            Some(e) => e
                .accounts()
                .await
                .into_iter()
                .find(|a| a.account == done.account)
                .map(|a| self.account_view(&a)),
            None => None,
        };
        UiEvent::Reverified {
            kind,
            account,
            retried: done.retried.as_ref().map(RetriedView::from),
        }
    }

    pub fn sign_in_failed(&self) -> bool {
        lock(&self.sign_in).take().is_some()
    }

    // ------------------------------------------------------------ deep links

    /// Handles a deep link: completes the pending sign-in, or records a
    /// handoff that waits for "Continue".
    pub async fn handle_deep_link(&self, url: &str) -> Result<Outcome> {
        let ctx = self.ctx().await?;
        let outcome = ctx.engine.handle_deep_link(url).await?;
        if let Outcome::HandoffPending(preview) = &outcome {
            *lock(&self.handoff) = Some(HandoffView::new(preview, now_ms()));
        }
        Ok(outcome)
    }

    /// The link waiting for an answer (gone once the engine dropped it:
    /// answered, or past its 5 minutes).
    pub fn pending_handoff(&self) -> Option<HandoffView> {
        let live = self
            .engine_now()
            .is_some_and(|e| e.handoff_preview().is_some());
        let mut h = lock(&self.handoff);
        if !live {
            *h = None;
        }
        h.clone()
    }

    /// Redeems the handoff the user said "Continue" to. When the instance
    /// wants more than the link gives, hosted sign-in starts in the browser
    /// instead (`continued`).
    pub async fn confirm_handoff(
        &self,
        on_loopback: impl FnOnce(Result<Outcome>) + Send + 'static,
    ) -> Result<HandoffDone> {
        let ctx = self.ctx().await?;
        let r = ctx.engine.confirm_handoff().await;
        *lock(&self.handoff) = None;
        let added = match r? {
            Handoff::Added(added) => added,
            Handoff::ContinueInBrowser { instance_id, more } => {
                let begin = Begin {
                    instance_id,
                    strategy: None,
                    reverify: None,
                    notice: Some(continue_notice("The link", &more)),
                };
                let view = self.begin(begin, false, on_loopback).await?;
                return Ok(HandoffDone {
                    account: None,
                    added: false,
                    continued: Some(view),
                });
            }
        };
        let acct = added.account;
        let a = ctx
            .engine
            .accounts()
            .await
            .into_iter()
            .find(|a| a.account == acct)
            .ok_or_else(|| {
                IpcError::new(ErrorKind::SignIn, "the added account is not signed in")
            })?;
        Ok(HandoffDone {
            account: Some(self.account_view(&a)),
            added: matches!(added.result, HandoffResult::Added { .. }),
            continued: None,
        })
    }

    pub async fn decline_handoff(&self) -> Result<bool> {
        let ctx = self.ctx().await?;
        *lock(&self.handoff) = None;
        Ok(ctx.engine.decline_handoff().await)
    }
}

fn provider_name(strategy: &str) -> String {
    let p = strategy.strip_prefix("oauth_").unwrap_or(strategy);
    let mut c = p.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => p.to_owned(),
    }
}

/// What [`Latchkey::begin`] starts.
struct Begin {
    instance_id: String,
    strategy: Option<String>,
    reverify: Option<(AccountRef, Reverify, ReverifyView)>,
    notice: Option<String>,
}

/// "Google sign-in asks for your second factor. Continue in your browser
/// as ada@example.com: the page there handles every step."
fn continue_notice(what: &str, more: &MoreVerification) -> String {
    let who = more
        .identifier
        .as_deref()
        .map(|i| format!(" as {i}"))
        .unwrap_or_default();
    format!(
        "{what} {}. Continue in your browser{who}: the page there handles every step.",
        more.in_words()
    )
}
