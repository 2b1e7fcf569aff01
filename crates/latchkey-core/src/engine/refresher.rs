//! The background loop: each tick refreshes the active account's token when
//! it is due, re-reads each instance's client at most every
//! `background_every` (this is what notices background accounts signed out
//! elsewhere), and the active account's devices at most every
//! `devices_every` (new-device notices). After a transient failure the next
//! request waits for full-jitter backoff, or for `Retry-After`.
//!
//! Ticks are short (at most `max_tick`) and compare wall time, so a machine
//! that slept is noticed within one tick of waking.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::Rng;
use tokio::sync::watch;

use super::tokens::{Thresholds, TokenKey};
use super::{Engine, Event, lock};
use crate::error::Error;

/// Retry timing: full-jitter exponential backoff.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// The first backoff's ceiling.
    pub base: Duration,
    /// The largest backoff.
    pub cap: Duration,
    /// `Retry-After` is honoured within these bounds.
    pub retry_after_min: Duration,
    /// See [`RetryPolicy::retry_after_min`].
    pub retry_after_max: Duration,
}

impl Default for RetryPolicy {
    /// Base 1 s, cap 60 s, `Retry-After` in [1 s, 10 min]
    /// (`docs/contracts.md`).
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
            retry_after_min: Duration::from_secs(1),
            retry_after_max: Duration::from_secs(600),
        }
    }
}

impl RetryPolicy {
    /// `rand(0, min(cap, base · 2^attempt))` (attempt counts from 0).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX));
        let ceiling = exp.min(self.cap);
        let ms = ceiling.as_millis().max(1) as u64;
        Duration::from_millis(rand::thread_rng().gen_range(0..=ms))
    }

    /// The wait after a failure: `Retry-After` (clamped) when the server
    /// gave one, else backoff.
    pub fn wait_after(&self, err: &Error, attempt: u32) -> Duration {
        match err.retry_after() {
            Some(d) => d.clamp(self.retry_after_min, self.retry_after_max),
            None => self.backoff(attempt),
        }
    }
}

/// What this module owns.
#[derive(Default)]
pub(super) struct RefreshState {
    /// Consecutive failures of the active account's refresh.
    failures: Mutex<u32>,
    /// No refresh before this (backoff, `Retry-After`).
    not_before: Mutex<Option<Instant>>,
    /// When each instance's client was last re-read by the loop.
    last_background: Mutex<HashMap<String, Instant>>,
    /// When the active account's devices were last re-read by the loop.
    last_devices: Mutex<Option<Instant>>,
    /// Wakes the loop early: another account became active (its token is
    /// due on its own schedule, not on the sleep the last one chose).
    wake: tokio::sync::Notify,
    /// Instances not read since the start (Clerk unreachable): failed
    /// attempts and when to try again (backoff, ≤ the policy's cap).
    unread_retry: Mutex<HashMap<String, (u32, Instant)>>,
    /// When secure storage was last asked whether it is usable again.
    storage_checked: Mutex<Option<Instant>>,
    /// Per instance: Clerk answered 429 with `Retry-After`; no request to
    /// it before this (whoever asks: the loop, the UI, the CLI's socket).
    quiet_until: Mutex<HashMap<String, Instant>>,
}

/// How often an unusable secure storage (a locked keyring) is asked again.
const STORAGE_RECHECK: Duration = Duration::from_secs(3);

impl Engine {
    /// One pass of the background work: retry failed saves to secure
    /// storage when due, refresh the active account's token when due,
    /// re-read background accounts and devices when due. Returns how long
    /// to sleep before the next pass.
    pub async fn tick(&self) -> Duration {
        let max_tick = self.s.cfg.max_tick;
        // Local work, not held back by Clerk's backoff.
        let saves = self
            .retry_saves_if_due()
            .await
            .max(Duration::from_millis(20));
        let now = self.s.cfg.clock.mono();
        if let Some(nb) = *lock(&self.s.refresh.not_before)
            && now < nb
        {
            return (nb - now).min(max_tick).min(saves);
        }
        let storage = self.recheck_storage_if_due().await;
        let sleep = self.refresh_active_if_due().await.min(max_tick);
        let retry = self.reread_due_instances().await;
        self.reread_devices_if_due().await;
        sleep
            .min(retry)
            .min(storage)
            .min(saves)
            .max(Duration::from_millis(20))
    }

    /// The active account's token, when ≤ 17 s (scaled) of it are left.
    /// Returns the time until the next one is due.
    async fn refresh_active_if_due(&self) -> Duration {
        let clock = self.s.cfg.clock.clone();
        let max_tick = self.s.cfg.max_tick;
        let Some(acct) = self.active() else {
            return max_tick;
        };
        let key = TokenKey::session_token(&acct);
        if let Some(t) = self.cached_token(&key) {
            let refresh_at = Thresholds::of(t.lifetime).refresh_at;
            let left = t.remaining(clock.as_ref());
            if left > refresh_at {
                return left - refresh_at;
            }
        }
        match self.refresh_token(&key).await {
            Ok(t) => {
                *lock(&self.s.refresh.failures) = 0;
                *lock(&self.s.refresh.not_before) = None;
                self.emit(Event::TokenRefreshed {
                    account: acct,
                    expires_at_ms: t.exp_ms,
                });
                t.lifetime
                    .saturating_sub(Thresholds::of(t.lifetime).refresh_at)
            }
            Err(e) if e.is_transient() => {
                let wait = {
                    let mut failures = lock(&self.s.refresh.failures);
                    let w = self.s.cfg.retry.wait_after(&e, *failures);
                    *failures = failures.saturating_add(1);
                    w
                };
                *lock(&self.s.refresh.not_before) = Some(clock.mono() + wait);
                wait
            }
            // The session is gone (the account was signed out), or another
            // final answer: nothing to retry.
            Err(_) => max_tick,
        }
    }

    /// Each instance's clients, at most once per `background_every`; an
    /// instance not read since the start (Clerk unreachable) sooner, with
    /// backoff (≤ the policy's cap), so its accounts come back on their own
    /// once Clerk answers. Returns the time until the next such retry.
    async fn reread_due_instances(&self) -> Duration {
        let every = self.s.cfg.background_every;
        let now = self.s.cfg.clock.mono();
        let (ids, unread): (Vec<String>, BTreeSet<String>) = {
            let inst = self.s.instances.lock().await;
            (
                inst.keys().cloned().collect(),
                inst.iter()
                    .filter(|(_, i)| i.clients.values().any(|c| !c.read))
                    .map(|(id, _)| id.clone())
                    .collect(),
            )
        };
        let due: Vec<String> = {
            let last = lock(&self.s.refresh.last_background);
            let retry = lock(&self.s.refresh.unread_retry);
            ids.into_iter()
                .filter(|id| {
                    if unread.contains(id) {
                        retry.get(id).is_none_or(|(_, at)| now >= *at)
                    } else {
                        last.get(id)
                            .is_none_or(|t| now.saturating_duration_since(*t) >= every)
                    }
                })
                .collect()
        };
        for id in due {
            lock(&self.s.refresh.last_background).insert(id.clone(), now);
            let _ = self.reload(Some(&id)).await;
            let still_unread = self
                .with_instance(&id, |i| i.clients.values().any(|c| !c.read))
                .await
                .unwrap_or(false);
            let mut retry = lock(&self.s.refresh.unread_retry);
            if still_unread {
                let failures = retry.get(&id).map_or(0, |(n, _)| *n);
                let wait = self.s.cfg.retry.backoff(failures);
                retry.insert(id, (failures.saturating_add(1), now + wait));
            } else {
                retry.remove(&id);
            }
        }
        let retry = lock(&self.s.refresh.unread_retry);
        retry
            .values()
            .map(|(_, at)| at.saturating_duration_since(now))
            .min()
            .unwrap_or(self.s.cfg.max_tick)
    }

    /// The active account's devices, at most once per `devices_every`.
    async fn reread_devices_if_due(&self) {
        let now = self.s.cfg.clock.mono();
        let due = lock(&self.s.refresh.last_devices)
            .is_none_or(|t| now.saturating_duration_since(t) >= self.s.cfg.devices_every);
        if due {
            *lock(&self.s.refresh.last_devices) = Some(now);
            if let Some(acct) = self.active() {
                let _ = self.devices(&acct).await;
            }
        }
    }

    /// While secure storage is unusable, asks again every few seconds, so
    /// a keyring unlocked from outside brings the accounts back at once.
    /// Returns the time until the next check.
    async fn recheck_storage_if_due(&self) -> Duration {
        // A locked keyring (not an absent one, nor an index of a newer
        // version, which asking again would not change).
        if !matches!(
            self.storage_state(),
            super::StorageState::Unavailable { locked: true, .. }
        ) {
            return self.s.cfg.max_tick;
        }
        let now = self.s.cfg.clock.mono();
        let due = lock(&self.s.refresh.storage_checked)
            .is_none_or(|t| now.saturating_duration_since(t) >= STORAGE_RECHECK);
        if due {
            *lock(&self.s.refresh.storage_checked) = Some(now);
            self.recheck_storage().await;
        }
        STORAGE_RECHECK
    }

    /// Refuses a request to an instance that asked us (429 +
    /// `Retry-After`) to wait, without sending it: a caller asking for a
    /// token in a loop does not hammer a rate-limited Clerk.
    pub(super) fn rate_limit_gate(&self, instance_id: &str) -> Result<(), Error> {
        let now = self.s.cfg.clock.mono();
        let until = lock(&self.s.refresh.quiet_until).get(instance_id).copied();
        match until {
            Some(until) if now < until => {
                let left = until - now;
                Err(Error::new(
                    crate::error::ErrorKind::RateLimited {
                        retry_after: Some(left),
                    },
                    format!(
                        "Clerk asked Latchkey to wait; trying again in {} s",
                        left.as_secs().max(1)
                    ),
                ))
            }
            _ => Ok(()),
        }
    }

    /// Notes a `Retry-After` in an answer (see [`Self::rate_limit_gate`]).
    pub(super) fn note_rate_limit(&self, instance_id: &str, err: &Error) {
        if let crate::error::ErrorKind::RateLimited {
            retry_after: Some(d),
        } = err.kind()
        {
            let p = &self.s.cfg.retry;
            let until = self.s.cfg.clock.mono() + (*d).clamp(p.retry_after_min, p.retry_after_max);
            lock(&self.s.refresh.quiet_until).insert(instance_id.to_owned(), until);
        }
    }

    /// Instances not read yet are tried again at the next tick, which
    /// comes now.
    pub(super) fn retry_unread_now(&self) {
        lock(&self.s.refresh.unread_retry).clear();
        self.wake_refresher();
    }

    /// Makes the background loop tick now.
    pub(super) fn wake_refresher(&self) {
        self.s.refresh.wake.notify_one();
    }

    /// Runs [`tick`](Self::tick) until `stop` turns true.
    pub fn start_background(&self, mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let engine = self.clone();
        tokio::spawn(async move {
            loop {
                let wait = engine.tick().await;
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = engine.s.refresh.wake.notified() => {}
                    r = stop.changed() => if r.is_err() || *stop.borrow() { return },
                }
            }
        })
    }
}
