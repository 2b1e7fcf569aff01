//! The three browser sign-in flows, and the one rule they share: a callback
//! completes a live pending attempt of this process, exactly once.
//!
//! 1. **Hosted auth**: `state` (256 bits) + PKCE S256 → `POST
//!    /v1/client/hosted_auth` → browser → callback (`state`,
//!    `rotating_token_nonce`, `created_session_id`) → redemption with the
//!    verifier → the created session is on this client → touch.
//! 2. **OAuth/SSO**: `POST /v1/client/sign_ins strategy=oauth_…` → browser →
//!    callback (`rotating_token_nonce`) → reload the sign-in → transfer to
//!    sign-up when it says `transferable` → touch.
//! 3. **Ticket handoff**: the one unsolicited callback. The engine redeems
//!    it on a quarantined client of its own ([`SignInFlows::redeem_ticket`])
//!    and asks the user before it becomes an account (`engine/sign_in.rs`).
//!
//! One flow at a time; attempts expire after 5 minutes and can be
//! cancelled. A hosted callback consumes its attempt (matched by `state`)
//! before any network call, so a second delivery is a no-op
//! ([`Outcome::Duplicate`]). An OAuth callback carries no state: its attempt
//! ends only when Clerk accepts the nonce, so a forged callback or failure
//! report cannot end it.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use subtle::ConstantTimeEq;

use crate::callback::{Callback, HOSTED_CALLBACK_URL, SSO_CALLBACK_URL};
use crate::error::{Error, ErrorKind, Result};
use crate::fapi::Fapi;
use crate::models::Client;
use crate::pkce;
use crate::secret::{PkceVerifier, SignInTicket};
use crate::types::{SessionId, SignInId, UserId};

/// Pending attempts and handoffs expire after this long (docs/contracts.md).
pub const ATTEMPT_TTL: Duration = Duration::from_secs(5 * 60);

/// Where the browser sends the user back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redirect {
    /// The app's URL scheme (`dev.latchkey.desktop://…`).
    DeepLink,
    /// `http://127.0.0.1:<port>/callback` (the loopback fallback).
    Loopback(u16),
}

impl Redirect {
    fn url(self, hosted: bool) -> String {
        match (self, hosted) {
            (Redirect::DeepLink, true) => HOSTED_CALLBACK_URL.to_owned(),
            (Redirect::DeepLink, false) => SSO_CALLBACK_URL.to_owned(),
            (Redirect::Loopback(port), _) => format!("http://127.0.0.1:{port}/callback"),
        }
    }
}

/// Which flow an attempt belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowKind {
    /// Hosted auth (PKCE).
    Hosted,
    /// A direct OAuth sign-in.
    OAuth {
        /// `oauth_google`, …
        strategy: String,
    },
}

enum Secret {
    Hosted {
        state: String,
        verifier: PkceVerifier,
    },
    OAuth {
        sign_in: SignInId,
    },
}

struct Pending {
    id: u64,
    kind: FlowKind,
    secret: Secret,
    url: String,
    started: Instant,
    expires_at: SystemTime,
}

/// A consumed attempt, remembered so a repeated delivery is recognised.
struct Consumed {
    fingerprint: [u8; 32],
    at: Instant,
}

/// What the browser should open, and until when the attempt lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// A number for this attempt (per instance).
    pub attempt: u64,
    /// Which flow.
    pub kind: FlowKind,
    /// The page to open in the system browser (https, or the demo's loopback
    /// http). Safe to show and copy: it carries no secret.
    pub url: String,
    /// When the attempt expires (5 minutes after it started).
    pub expires_at: SystemTime,
}

/// What a callback led to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A session was created on this client and made active.
    SignedIn {
        /// The new session.
        session: SessionId,
        /// Its user.
        user: Option<UserId>,
        /// This client after the sign-in.
        client: Box<Client>,
    },
    /// An account was signed in again for the same user and its session
    /// replaced (the engine's re-sign-in; never produced by the flows
    /// alone).
    Reverified(Box<crate::engine::Reverified>),
    /// Clerk wants more than this flow can give (a second factor, trust
    /// in a new device): the attempt is over; continue with hosted auth,
    /// which handles every factor.
    ContinueInBrowser(MoreVerification),
    /// This callback was already handled (or is being handled): nothing done.
    Duplicate,
    /// A web page handed over an account: redeemed into quarantine; ask
    /// the user, naming it, before it becomes an account.
    HandoffPending(Box<crate::engine::HandoffPreview>),
}

/// A direct sign-in (OAuth, a ticket) that stopped short of a session:
/// what Clerk asked for, and who was signing in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoreVerification {
    /// Clerk's sign-in status (`needs_second_factor`, `needs_client_trust`,
    /// …), reduced to `[a-z_]`.
    pub status: String,
    /// The identifier the sign-in was for, when Clerk said.
    pub identifier: Option<String>,
}

impl MoreVerification {
    /// From a sign-in whose status starts with `needs_`.
    fn of(si: &crate::models::SignIn) -> Option<Self> {
        si.status.starts_with("needs_").then(|| Self {
            status: sanitize(&si.status),
            identifier: si.identifier.clone(),
        })
    }

    /// What Clerk asked for, in words.
    pub fn in_words(&self) -> &'static str {
        match self.status.as_str() {
            "needs_second_factor" => "asks for your second factor",
            "needs_client_trust" => "asks to confirm this new device",
            "needs_new_password" => "asks for a new password",
            _ => "needs another step",
        }
    }
}

/// What confirming a handoff did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandoffResult {
    /// A new account was added (the active one stays active); undo =
    /// remove this session.
    Added {
        /// The new account's session.
        session: SessionId,
        /// Its user.
        user: Option<UserId>,
    },
    /// That user was already signed in here; that account was activated.
    AlreadySignedIn {
        /// That user's session here.
        session: SessionId,
    },
    /// Clerk wants more than the link gives: continue with hosted auth.
    ContinueInBrowser(MoreVerification),
}

/// Sign-in attempts for one instance's client.
pub struct SignInFlows {
    fapi: Fapi,
    pending: Mutex<Option<Pending>>,
    consumed: Mutex<Vec<Consumed>>,
    next_id: Mutex<u64>,
}

fn sign_in_error(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::SignIn, msg)
}

fn fingerprint(parts: &[&str]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    h.finalize().into()
}

impl SignInFlows {
    /// Flows over `fapi`'s client, attempts living [`ATTEMPT_TTL`].
    pub fn new(fapi: Fapi) -> Self {
        Self {
            fapi,
            pending: Mutex::new(None),
            consumed: Mutex::new(Vec::new()),
            next_id: Mutex::new(0),
        }
    }

    /// Whether something begun at `t` is past [`ATTEMPT_TTL`], on the
    /// client's clock (the engine's: its tests move it).
    fn expired(&self, t: Instant) -> bool {
        self.fapi.clock().mono().saturating_duration_since(t) >= ATTEMPT_TTL
    }

    /// The Frontend API client the flows use.
    pub fn fapi(&self) -> &Fapi {
        &self.fapi
    }

    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The live attempt, if any (expired ones are dropped).
    pub fn pending(&self) -> Option<Started> {
        let mut p = Self::lock(&self.pending);
        if p.as_ref().is_some_and(|a| self.expired(a.started)) {
            *p = None;
        }
        p.as_ref().map(|a| Started {
            attempt: a.id,
            kind: a.kind.clone(),
            url: a.url.clone(),
            expires_at: a.expires_at,
        })
    }

    /// Whether `cb` can belong to this client's live attempt: a hosted
    /// callback (or failure report) by its `state`, an OAuth callback when
    /// the live attempt is OAuth (Clerk's SSO callback carries no state;
    /// only the sign-in it completes tells). The handoff belongs to no
    /// attempt.
    pub fn matches(&self, cb: &Callback) -> bool {
        let p = Self::lock(&self.pending);
        let Some(a) = p.as_ref().filter(|a| !self.expired(a.started)) else {
            return false;
        };
        let state = match cb {
            Callback::HostedAuth { state, .. } => Some(state.as_str()),
            Callback::Failed { state, .. } => state.as_deref(),
            Callback::Sso { .. } => None,
            Callback::Handoff { .. } | Callback::SelfTest { .. } => return false,
        };
        match (&a.secret, state) {
            (
                Secret::Hosted {
                    state: expected, ..
                },
                Some(s),
            ) => bool::from(expected.as_bytes().ct_eq(s.as_bytes())),
            (Secret::OAuth { .. }, None) => true,
            _ => false,
        }
    }

    /// Cancels the live attempt; true if there was one.
    pub fn cancel(&self) -> bool {
        Self::lock(&self.pending).take().is_some()
    }

    fn begin(&self) -> Result<u64> {
        if self.pending().is_some() {
            return Err(sign_in_error(
                "a sign-in is already in progress; finish or cancel it first",
            ));
        }
        let mut n = Self::lock(&self.next_id);
        *n += 1;
        Ok(*n)
    }

    fn install(&self, id: u64, kind: FlowKind, secret: Secret, url: String) -> Result<Started> {
        if !self.fapi.instance().is_openable_url(&url) {
            return Err(Error::new(
                ErrorKind::Protocol,
                "the instance returned a sign-in page that is not https",
            ));
        }
        let expires_at = self.fapi.clock().wall() + ATTEMPT_TTL;
        let started = Started {
            attempt: id,
            kind: kind.clone(),
            url: url.clone(),
            expires_at,
        };
        let mut p = Self::lock(&self.pending);
        if p.as_ref().is_some_and(|a| !self.expired(a.started)) {
            return Err(sign_in_error(
                "a sign-in is already in progress; finish or cancel it first",
            ));
        }
        *p = Some(Pending {
            id,
            kind,
            secret,
            url,
            started: self.fapi.clock().mono(),
            expires_at,
        });
        Ok(started)
    }

    /// Starts hosted auth; open [`Started::url`] in the system browser.
    pub async fn start_hosted(&self, redirect: Redirect) -> Result<Started> {
        let id = self.begin()?;
        let state = pkce::new_state();
        let verifier = pkce::new_verifier();
        let challenge = pkce::challenge(&verifier);
        let redirect_url = redirect.url(true);
        let start = || {
            self.fapi
                .start_hosted_auth(&redirect_url, &challenge, &state)
        };
        let url = match start().await {
            // Clerk's native SDKs: a 401 here (`signed_out`) means the
            // client behind the credential changed; its answer already
            // rotated the credential. Re-read the client, then try once more.
            Err(e) if e.kind() == &ErrorKind::Unauthenticated => {
                self.fapi.get_client().await?;
                start().await?
            }
            r => r?,
        };
        self.install(
            id,
            FlowKind::Hosted,
            Secret::Hosted { state, verifier },
            url,
        )
    }

    /// Starts a direct OAuth sign-in (`oauth_google`, …).
    pub async fn start_oauth(&self, strategy: &str, redirect: Redirect) -> Result<Started> {
        if !strategy.starts_with("oauth_")
            || strategy.len() > 64
            || !strategy
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(Error::new(ErrorKind::Config, "not an OAuth strategy"));
        }
        let id = self.begin()?;
        let si = self
            .fapi
            .sign_in_with_oauth(strategy, &redirect.url(false))
            .await?;
        let url = si
            .first_factor_verification
            .as_ref()
            .and_then(|v| v.external_verification_redirect_url.clone())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Protocol,
                    "the sign-in has no external verification URL",
                )
            })?;
        self.install(
            id,
            FlowKind::OAuth {
                strategy: strategy.to_owned(),
            },
            Secret::OAuth { sign_in: si.id },
            url,
        )
    }

    fn seen(&self, fp: &[u8; 32]) -> bool {
        let mut c = Self::lock(&self.consumed);
        c.retain(|x| !self.expired(x.at));
        c.iter().any(|x| bool::from(x.fingerprint.ct_eq(fp)))
    }

    fn remember(&self, fp: [u8; 32]) {
        Self::lock(&self.consumed).push(Consumed {
            fingerprint: fp,
            at: self.fapi.clock().mono(),
        });
    }

    /// Handles a validated callback. Makes no network call unless the
    /// callback completes the live attempt.
    ///
    /// # Errors
    /// [`ErrorKind::Callback`] for a callback no live attempt of this process
    /// started (wrong or missing state, expired, nothing pending);
    /// [`ErrorKind::SignIn`] when the browser reports failure or
    /// cancellation; FAPI errors from the redemption.
    pub async fn handle(&self, cb: Callback) -> Result<Outcome> {
        match cb {
            // The engine takes handoff links (quarantined redemption);
            // they complete no attempt.
            Callback::Handoff { .. } | Callback::SelfTest { .. } => Err(no_attempt()),
            Callback::Failed {
                state,
                code,
                description,
                ..
            } => self.fail(state.as_deref(), &code, description.as_deref()),
            Callback::HostedAuth {
                state,
                nonce,
                created_session_id,
            } => {
                let fp = fingerprint(&["hosted", &state, nonce.expose()]);
                if self.seen(&fp) {
                    return Ok(Outcome::Duplicate);
                }
                // Consume the attempt atomically, before any network call.
                let verifier = {
                    let mut p = Self::lock(&self.pending);
                    let Some(a) = p.as_ref() else {
                        return Err(no_attempt());
                    };
                    let Secret::Hosted {
                        state: expected, ..
                    } = &a.secret
                    else {
                        return Err(no_attempt());
                    };
                    if !bool::from(expected.as_bytes().ct_eq(state.as_bytes())) {
                        return Err(Error::new(
                            ErrorKind::Callback,
                            "rejected callback: it does not belong to the sign-in in progress",
                        ));
                    }
                    if self.expired(a.started) {
                        *p = None;
                        return Err(Error::new(
                            ErrorKind::Callback,
                            "rejected callback: the sign-in expired; start again",
                        ));
                    }
                    match p.take().map(|a| a.secret) {
                        Some(Secret::Hosted { verifier, .. }) => verifier,
                        _ => return Err(no_attempt()),
                    }
                };
                self.remember(fp);
                let client = self.fapi.redeem_hosted_auth(&nonce, &verifier).await?;
                crate::failpoint::hit("sign-in:after-redeem");
                drop(verifier);
                // The redemption made the new session the client's current
                // one; the callback's `created_session_id` (a URL parameter
                // anyone along the way could change) must name that one.
                let session = client
                    .last_active_session_id
                    .clone()
                    .ok_or_else(|| sign_in_error("the sign-in created no session"))?;
                if created_session_id.is_some_and(|id| id != session) {
                    return Err(Error::new(
                        ErrorKind::SignIn,
                        "the callback named a session the sign-in did not create; nothing was made active",
                    ));
                }
                self.activate(client, session).await
            }
            Callback::Sso { nonce } => {
                let fp = fingerprint(&["sso", nonce.expose()]);
                if self.seen(&fp) {
                    return Ok(Outcome::Duplicate);
                }
                // Clerk's SSO callback carries no state: only the reload
                // tells whether this nonce completes our sign-in. The
                // attempt stays live until it does, so a forged callback
                // (a wrong nonce) cannot end it.
                let (id, sign_in) = {
                    let mut p = Self::lock(&self.pending);
                    let Some(a) = p.as_ref() else {
                        return Err(no_attempt());
                    };
                    let Secret::OAuth { sign_in } = &a.secret else {
                        return Err(no_attempt());
                    };
                    if self.expired(a.started) {
                        *p = None;
                        return Err(Error::new(
                            ErrorKind::Callback,
                            "rejected callback: the sign-in expired; start again",
                        ));
                    }
                    (a.id, sign_in.clone())
                };
                let si = match self.fapi.reload_sign_in(&sign_in, &nonce).await {
                    Ok(si) => si,
                    Err(e) if matches!(e.kind(), ErrorKind::InvalidRequest { .. }) => {
                        return Err(Error::new(
                            ErrorKind::Callback,
                            "rejected callback: it does not complete the sign-in in progress",
                        ));
                    }
                    Err(e) => return Err(e),
                };
                // It was ours: the attempt is over, whatever comes next.
                self.remember(fp);
                {
                    let mut p = Self::lock(&self.pending);
                    if p.as_ref().is_some_and(|a| a.id == id) {
                        *p = None;
                    }
                }
                let session = if si.status == "complete" {
                    si.created_session_id
                        .ok_or_else(|| sign_in_error("the sign-in completed without a session"))?
                } else if si
                    .first_factor_verification
                    .as_ref()
                    .is_some_and(|v| v.status == "transferable")
                {
                    // No account yet for this external identity: sign up.
                    let su = self.fapi.transfer_to_sign_up().await?;
                    su.created_session_id.ok_or_else(|| sign_in_error("the new account needs more information; finish signing up in the browser"))?
                } else if let Some(more) = MoreVerification::of(&si) {
                    // The attempt is over here; hosted auth takes it on.
                    return Ok(Outcome::ContinueInBrowser(more));
                } else {
                    return Err(sign_in_error(format!(
                        "the sign-in is not complete (status {})",
                        sanitize(&si.status)
                    )));
                };
                let client = self.fapi.get_client().await?.ok_or_else(|| {
                    Error::new(ErrorKind::Unauthenticated, "no client after sign-in")
                })?;
                self.activate(client, session).await
            }
        }
    }

    fn fail(&self, state: Option<&str>, code: &str, description: Option<&str>) -> Result<Outcome> {
        let mut p = Self::lock(&self.pending);
        let Some(a) = p.as_ref() else {
            return Err(no_attempt());
        };
        // A failure report must belong to the attempt too, or anyone could
        // cancel a sign-in in progress.
        let belongs = match (&a.secret, state) {
            (
                Secret::Hosted {
                    state: expected, ..
                },
                Some(s),
            ) => bool::from(expected.as_bytes().ct_eq(s.as_bytes())),
            _ => false,
        };
        if matches!(a.secret, Secret::OAuth { .. }) && state.is_none() {
            // Clerk's OAuth failure report carries nothing that ties it to
            // this attempt, so anyone could send one: it is told, and the
            // attempt lives on until it expires or the user cancels.
            return Err(Error::new(
                ErrorKind::Callback,
                format!(
                    "the browser reported that the sign-in did not finish ({}); if that was you, cancel it here",
                    sanitize(code)
                ),
            ));
        }
        if !belongs {
            return Err(Error::new(
                ErrorKind::Callback,
                "rejected callback: it does not belong to the sign-in in progress",
            ));
        }
        *p = None;
        let msg = match code {
            "user_cancelled" | "oauth_access_denied" | "access_denied" => {
                "sign-in was cancelled in the browser".to_owned()
            }
            other => match description {
                Some(d) => format!("sign-in failed in the browser ({}): {d}", sanitize(other)),
                None => format!("sign-in failed in the browser ({})", sanitize(other)),
            },
        };
        Err(sign_in_error(msg))
    }

    async fn activate(&self, client: Client, session: SessionId) -> Result<Outcome> {
        let s = client
            .session(&session)
            .filter(|s| s.status.is_signed_in())
            .ok_or_else(|| sign_in_error("the new session is not on this client"))?;
        let user = s
            .user
            .as_ref()
            .map(|u| u.id.clone())
            .or_else(|| s.public_user_data.as_ref().and_then(|p| p.user_id.clone()));
        let touched = self
            .fapi
            .touch(&session, None, "select_session")
            .await?
            .client;
        Ok(Outcome::SignedIn {
            session,
            user,
            client: Box::new(touched.unwrap_or(client)),
        })
    }

    /// Redeems a handoff ticket on this client. Only ever adds an account:
    /// `keep_active` (the account active before, on this client) is made
    /// active again afterwards.
    ///
    /// # Errors
    /// [`ErrorKind::SignIn`] when the link was used, revoked or expired, or
    /// the instance allows one account and one is signed in on this client.
    pub async fn redeem_ticket(
        &self,
        ticket: &SignInTicket,
        keep_active: Option<&SessionId>,
    ) -> Result<HandoffResult> {
        match self.fapi.sign_in_with_ticket(ticket).await {
            Ok(si) if si.status == "complete" => {
                let session = si
                    .created_session_id
                    .ok_or_else(|| sign_in_error("the link signed in without a session"))?;
                let client = self.fapi.get_client().await?.ok_or_else(|| {
                    Error::new(ErrorKind::Unauthenticated, "no client after sign-in")
                })?;
                let user = client
                    .session(&session)
                    .and_then(|s| s.user.as_ref().map(|u| u.id.clone()));
                match keep_active {
                    Some(prev)
                        if client
                            .session(prev)
                            .is_some_and(|s| s.status.is_signed_in()) =>
                    {
                        self.fapi.touch(prev, None, "select_session").await?;
                    }
                    _ => {
                        self.fapi.touch(&session, None, "select_session").await?;
                    }
                }
                Ok(HandoffResult::Added { session, user })
            }
            Ok(si) => match MoreVerification::of(&si) {
                Some(more) => Ok(HandoffResult::ContinueInBrowser(more)),
                None => Err(sign_in_error(format!(
                    "the link did not sign in (status {})",
                    sanitize(&si.status)
                ))),
            },
            Err(e) => match e.kind() {
                ErrorKind::InvalidRequest {
                    code,
                    session_id: Some(sid),
                    ..
                } if code == "identifier_already_signed_in" => {
                    let session = SessionId(sid.clone());
                    self.fapi.touch(&session, None, "select_session").await?;
                    Ok(HandoffResult::AlreadySignedIn { session })
                }
                ErrorKind::InvalidRequest { code, .. } if code == "session_exists" => {
                    Err(sign_in_error(
                        "this instance allows one account at a time and one is already signed in here; sign out first to use this link",
                    ))
                }
                ErrorKind::InvalidRequest { code, .. }
                    if code.starts_with("ticket_") || code.starts_with("sign_in_token_") =>
                {
                    Err(sign_in_error(
                        "the account link is no longer valid (used, revoked or expired); open it again from the web page",
                    ))
                }
                _ => Err(e),
            },
        }
    }
}

fn no_attempt() -> Error {
    Error::new(
        ErrorKind::Callback,
        "rejected callback: no sign-in is in progress; start again",
    )
}

fn sanitize(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect()
}
