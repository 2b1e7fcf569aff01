//! Session tokens, in memory only: a cache per (session, template,
//! organization), one fetch at a time per key shared by every caller,
//! verification as of Clerk's time, and generations that keep a late answer
//! from landing after its account was signed out.
//!
//! Time left is the token's lifetime (`exp − iat`, measured from local
//! receipt) minus the *larger* of the wall-clock and monotonic time since
//! receipt: a suspend (wall moves, monotonic does not) or a wall clock set
//! back cannot make a stale token look fresh.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;

use super::accounts::Identity;
use super::{AccountRef, Engine, OrgSel, lock};
use crate::clock::Clock;
use crate::error::{Error, ErrorKind, Result};
use crate::jwt::{Rejection, VerifyOptions};
use crate::models::{Session, SessionStatus, SessionTask};
use crate::secret::SessionToken;
use crate::types::SessionId;

/// Clerk's cadence for 60 s tokens (`docs/contracts.md`): refresh at ≤ 17 s
/// left, never hand out a token with < 5 s left. Shorter tokens scale the
/// same fractions (17/60 and 5/60 of their lifetime).
pub const REFRESH_AT_REMAINING: Duration = Duration::from_secs(17);
/// See [`REFRESH_AT_REMAINING`].
pub const MIN_REMAINING: Duration = Duration::from_secs(5);
/// Local clock skew against Clerk that is tolerated (and reported).
pub const MAX_TRUSTED_SKEW_SECS: i64 = crate::fapi::MAX_CLOCK_OFFSET.as_secs() as i64;

/// A token and when it arrived, by both clocks.
#[derive(Clone)]
pub(super) struct CachedToken {
    pub token: SessionToken,
    /// Its whole life (`exp − iat`): what the refresh thresholds scale
    /// with.
    pub lifetime: Duration,
    /// Its life left when it arrived, by Clerk's clock (`exp` − Clerk's
    /// now): a token served with less than its whole life is refreshed
    /// sooner.
    valid_for: Duration,
    pub exp_ms: i64,
    received_wall: SystemTime,
    received_mono: Instant,
}

impl CachedToken {
    /// Time left, by the more pessimistic of the two clocks: a suspend moves
    /// only wall time, a wall-clock jump back only monotonic time counts.
    pub(super) fn remaining(&self, clock: &dyn Clock) -> Duration {
        let mono = clock.mono().saturating_duration_since(self.received_mono);
        let wall = clock
            .wall()
            .duration_since(self.received_wall)
            .unwrap_or(Duration::ZERO);
        self.valid_for.saturating_sub(mono.max(wall))
    }
}

/// When a token of `lifetime` is due for a refresh, and the least life it
/// may be handed out with.
pub(super) struct Thresholds {
    pub refresh_at: Duration,
    pub min_left: Duration,
}

impl Thresholds {
    pub(super) fn of(lifetime: Duration) -> Self {
        let scale = |d: Duration| -> Duration {
            if lifetime >= Duration::from_secs(60) {
                d
            } else {
                lifetime.mul_f64(d.as_secs_f64() / 60.0)
            }
        };
        Self {
            refresh_at: scale(REFRESH_AT_REMAINING),
            min_left: scale(MIN_REMAINING),
        }
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
pub(super) struct TokenKey {
    instance: String,
    session: SessionId,
    template: Option<String>,
    org: OrgSel,
}

impl TokenKey {
    /// The plain session token of an account, for its active organization.
    pub(super) fn session_token(acct: &AccountRef) -> Self {
        Self {
            instance: acct.instance_id.clone(),
            session: acct.session_id.clone(),
            template: None,
            org: OrgSel::Active,
        }
    }

    fn account(&self) -> AccountRef {
        AccountRef {
            instance_id: self.instance.clone(),
            session_id: self.session.clone(),
        }
    }

    fn is_for(&self, acct: &AccountRef) -> bool {
        self.instance == acct.instance_id && self.session == acct.session_id
    }
}

type Flight = watch::Receiver<Option<std::result::Result<CachedToken, Error>>>;

/// What this module owns.
pub(super) struct TokenState {
    cache: Mutex<HashMap<TokenKey, CachedToken>>,
    flights: Mutex<HashMap<TokenKey, Flight>>,
    generations: Mutex<HashMap<AccountRef, u64>>,
    /// Clerk's clock minus ours, in seconds, from the last token.
    skew: Mutex<i64>,
    /// JWT template names per instance (from the config, and set later).
    templates: Mutex<BTreeMap<String, Vec<String>>>,
}

impl TokenState {
    pub(super) fn new(templates: BTreeMap<String, Vec<String>>) -> Self {
        Self {
            cache: Mutex::new(HashMap::new()),
            flights: Mutex::new(HashMap::new()),
            generations: Mutex::new(HashMap::new()),
            skew: Mutex::new(0),
            templates: Mutex::new(templates),
        }
    }
}

impl Engine {
    /// A session (or template) token with at least 5 s left (scaled for
    /// short-lived tokens), from memory when possible. Concurrent callers
    /// share one request; cancelling one caller never cancels the others.
    ///
    /// # Errors
    /// Transient kinds when Clerk cannot be reached (the account is kept);
    /// [`ErrorKind::SessionGone`] once Clerk confirms the session is gone
    /// (the account is signed out).
    pub async fn get_token(
        &self,
        acct: &AccountRef,
        template: Option<&str>,
        org: OrgSel,
    ) -> Result<SessionToken> {
        let key = TokenKey {
            instance: acct.instance_id.clone(),
            session: acct.session_id.clone(),
            template: template.map(str::to_owned),
            org,
        };
        let t = self.token_for(&key, false).await?;
        Ok(t.token)
    }

    /// A fresh token for `key` whatever the cache holds (the refresher).
    pub(super) async fn refresh_token(&self, key: &TokenKey) -> Result<CachedToken> {
        self.token_for(key, true).await
    }

    /// The cached token for `key`, if any (fresh or not).
    pub(super) fn cached_token(&self, key: &TokenKey) -> Option<CachedToken> {
        lock(&self.s.tokens.cache).get(key).cloned()
    }

    async fn token_for(&self, key: &TokenKey, force: bool) -> Result<CachedToken> {
        let clock = self.s.cfg.clock.clone();
        if !force && let Some(t) = self.cached_token(key) {
            let min = Thresholds::of(t.lifetime).min_left;
            if t.remaining(clock.as_ref()) >= min.max(Duration::from_millis(1)) {
                return Ok(t);
            }
        }
        let mut rx = {
            let mut flights = lock(&self.s.tokens.flights);
            match flights.get(key) {
                Some(rx) => rx.clone(),
                None => {
                    let (tx, rx) = watch::channel(None);
                    flights.insert(key.clone(), rx.clone());
                    let engine = self.clone();
                    let key = key.clone();
                    // The request runs in its own task: a cancelled caller
                    // cannot cancel it or strand the other waiters.
                    tokio::spawn(async move {
                        let r = engine.fetch_token(&key).await;
                        lock(&engine.s.tokens.flights).remove(&key);
                        let _ = tx.send(Some(r));
                    });
                    rx
                }
            }
        };
        loop {
            if let Some(r) = rx.borrow().clone() {
                return r;
            }
            if rx.changed().await.is_err() {
                return Err(Error::new(
                    ErrorKind::Network,
                    "the token request was interrupted",
                ));
            }
        }
    }

    /// One token request: ask Clerk, verify, cache.
    async fn fetch_token(&self, key: &TokenKey) -> Result<CachedToken> {
        let acct = key.account();
        let generation = self.generation(&acct);
        let session = self.session(&acct).await?;
        // A pending session gets no token here (Clerk would issue one that
        // says `sts: pending`, which apps treat as signed out).
        if session.status == SessionStatus::Pending {
            return Err(pending_error(&session));
        }
        let c = self.client_of(&acct).await?;
        let verifier = self
            .with_instance(&key.instance, |i| i.verifier.clone())
            .await?;
        let fapi = self.fapi(&c).await?;
        let result = self
            .call(&c, async |f| match &key.template {
                Some(t) => f.template_token(&key.session, t).await,
                None => f.session_token(&key.session, &key.org).await,
            })
            .await;
        let token = match result {
            Ok(t) => t,
            Err(e) if e.is_session_gone() => {
                self.confirm_gone(&acct).await;
                return Err(e);
            }
            Err(e) => {
                self.note_failure(&e);
                return Err(e);
            }
        };
        self.set_online(true);
        // A session token must name this session and its user; template
        // tokens carry no `sid`.
        let expect = match (&key.template, Identity::of(&session).user_id) {
            (None, Some(uid)) => Some((key.session.clone(), uid)),
            _ => None,
        };
        // Verify as of Clerk's time (docs/threat-model.md F11): from the
        // `Date` of its answers (bounded to ±10 min of the local clock and
        // smoothed), so a skewed local clock neither rejects good tokens nor
        // accepts one that expired by Clerk's clock. Without a `Date` (a
        // proxy that strips it), the fresh token's own `iat` stands in,
        // within the same bound; beyond it, the local clock decides.
        let local = self.now_secs();
        let server_now = fapi.server_now_secs().unwrap_or_else(|| {
            crate::jwt::decode_unverified(token.expose())
                .and_then(|c| c.get("iat").and_then(serde_json::Value::as_i64))
                .filter(|iat| (iat - local).abs() <= MAX_TRUSTED_SKEW_SECS)
                .unwrap_or(local)
        });
        *lock(&self.s.tokens.skew) = server_now - local;
        let claims = verifier
            .verify_at(
                token.expose(),
                &VerifyOptions {
                    expect_session: expect,
                    allow_audience: key.template.is_some(),
                    ..Default::default()
                },
                server_now,
            )
            .await
            .map_err(|r| match r {
                // The session turned pending since it was last read.
                Rejection::Pending => pending_error(&session),
                r => Error::new(
                    ErrorKind::Protocol,
                    format!("Clerk returned a token that does not verify: {r}"),
                ),
            })?;
        let iat = claims.iat.unwrap_or(claims.exp - 60);
        let cached = CachedToken {
            token,
            lifetime: Duration::from_secs((claims.exp - iat).max(1) as u64),
            valid_for: Duration::from_secs((claims.exp - server_now).max(0) as u64),
            exp_ms: claims.exp * 1000,
            received_wall: self.s.cfg.clock.wall(),
            received_mono: self.s.cfg.clock.mono(),
        };
        // A result for an account signed out (or re-signed) meanwhile never
        // lands.
        if self.generation(&acct) == generation {
            lock(&self.s.tokens.cache).insert(key.clone(), cached.clone());
        }
        Ok(cached)
    }

    /// Drops every cached token of an account and invalidates late results.
    pub(super) fn forget_tokens(&self, acct: &AccountRef) {
        *lock(&self.s.tokens.generations)
            .entry(acct.clone())
            .or_insert(0) += 1;
        lock(&self.s.tokens.cache).retain(|k, _| !k.is_for(acct));
    }

    /// Drops the account's tokens for "its active organization" (after an
    /// organization switch).
    pub(super) fn forget_active_org_tokens(&self, acct: &AccountRef) {
        lock(&self.s.tokens.cache).retain(|k, _| !(k.is_for(acct) && k.org == OrgSel::Active));
    }

    fn generation(&self, acct: &AccountRef) -> u64 {
        *lock(&self.s.tokens.generations).get(acct).unwrap_or(&0)
    }

    /// Clerk's clock minus the local clock (seconds), as of the last token;
    /// the UI warns above 2 minutes.
    pub fn clock_skew_secs(&self) -> i64 {
        *lock(&self.s.tokens.skew)
    }

    /// The JWT template names configured for an instance.
    pub fn templates(&self, instance_id: &str) -> Vec<String> {
        lock(&self.s.tokens.templates)
            .get(instance_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Sets the JWT template names of an instance (Clerk has no endpoint
    /// that lists them).
    pub fn set_templates(&self, instance_id: &str, names: Vec<String>) {
        lock(&self.s.tokens.templates).insert(instance_id.to_owned(), names);
    }
}

/// "Not finished signing in", naming what is left.
pub(super) fn pending_error(session: &Session) -> Error {
    let mut left: Vec<&str> = session.tasks.iter().map(|t| t.key.in_words()).collect();
    if left.is_empty() {
        left.push(SessionTask::Unknown.in_words());
    }
    Error::new(
        ErrorKind::SessionPending,
        format!(
            "this account has not finished signing in; left to do: {}",
            left.join(", ")
        ),
    )
}
