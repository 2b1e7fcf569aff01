//! The session engine against the emulator, one file per engine module:
//! persistence, tokens, the refresher, actions. Counts come from the
//! emulator's log. This file holds the rig they share.

mod actions;
mod attempts;
mod campaign;
mod clients;
mod handoff;
mod hostile_store;
mod offline;
mod persist;
mod refresher;
mod reverify;
mod soak;
mod tokens;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clerk_emulator::{FaultAction, FaultRule};
use latchkey_core::clock::TestClock;
use latchkey_core::engine::{
    AccountRef, Engine, EngineConfig, Event, EverywhereOutcome, OrgSel, RevokeOutcome, StorageState,
};
use latchkey_core::store::{
    Keychain, KeychainStore, MemoryStore, Op, SecretStore, StoreError, StoreErrorKind,
};
use latchkey_core::{ErrorKind, Outcome, Redirect, decode_unverified};

use crate::common::*;

pub(crate) fn temp_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "latchkey-engine-{}",
        latchkey_core::new_state().replace(['-', '_'], "x")
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub(crate) struct Rig {
    pub engine: Engine,
    pub store: Arc<MemoryStore>,
    pub clock: Arc<TestClock>,
    pub dir: PathBuf,
}

pub(crate) async fn rig(env: &Env) -> Rig {
    rig_with(env, Arc::new(MemoryStore::new()), |_| {}).await
}

/// An engine's configuration: its data dir, secure storage (calls limited
/// to `timeout`) and clock.
pub(crate) fn config(
    dir: &std::path::Path,
    store: Arc<dyn SecretStore>,
    timeout: Duration,
    clock: &Arc<TestClock>,
) -> EngineConfig {
    let mut cfg = EngineConfig::new(dir.to_path_buf(), Keychain::new(store, timeout));
    cfg.clock = clock.clone();
    cfg
}

pub(crate) async fn rig_with(
    env: &Env,
    store: Arc<MemoryStore>,
    tweak: impl FnOnce(&mut EngineConfig),
) -> Rig {
    let dir = temp_dir();
    let clock = Arc::new(TestClock::new());
    let mut cfg = config(&dir, store.clone(), Duration::from_secs(5), &clock);
    tweak(&mut cfg);
    let engine = Engine::open(cfg).await.unwrap();
    engine.add_instance(env.instance.clone()).await.unwrap();
    Rig {
        engine,
        store,
        clock,
        dir,
    }
}

/// An engine opened again on a rig's data dir, secure storage and clock
/// (a restart; the parts, so a test can drop the old engine first).
pub(crate) async fn reopen(
    dir: &std::path::Path,
    store: &Arc<MemoryStore>,
    clock: &Arc<TestClock>,
) -> Engine {
    let cfg = config(dir, store.clone(), Duration::from_secs(5), clock);
    Engine::open(cfg).await.unwrap()
}

pub(crate) async fn sign_in(engine: &Engine, env: &Env, email: &str) -> AccountRef {
    let started = engine
        .start_sign_in(env.instance.id(), None, Redirect::DeepLink)
        .await
        .unwrap();
    let cb = env.browser_hosted(&started.url, email).await;
    let Outcome::SignedIn { session, .. } = engine.handle_deep_link(&cb).await.unwrap() else {
        panic!("not signed in")
    };
    AccountRef {
        instance_id: env.instance.id().to_owned(),
        session_id: session,
    }
}

pub(crate) fn token_requests(env: &Env, acct: &AccountRef) -> usize {
    count(
        env,
        "POST",
        &format!("/v1/client/sessions/{}/tokens", acct.session_id),
    )
}

/// Simulated time for the background loop. Each step runs one
/// [`Engine::tick`] and then, instead of sleeping the wait it returned,
/// moves the engine's clock and every emulator's clock forward by it: an
/// hour of the refresh policy runs in a second or two, and every figure is
/// read on the emulator's clock (the request log's `at_ms`), never on wall
/// time.
pub(crate) struct Sim<'a> {
    emus: Vec<&'a Env>,
    clock: Arc<TestClock>,
    /// Simulated time moved so far (the clocks' offsets).
    moved: std::sync::Mutex<Duration>,
}

impl<'a> Sim<'a> {
    /// Drives `clock` and the clocks of `envs` together.
    pub(crate) fn new(clock: &Arc<TestClock>, envs: &[&'a Env]) -> Self {
        Self {
            emus: envs.to_vec(),
            clock: clock.clone(),
            moved: std::sync::Mutex::new(Duration::ZERO),
        }
    }

    /// Time passes (both sides see it).
    pub(crate) fn advance(&self, d: Duration) {
        self.clock.advance(d);
        for e in &self.emus {
            e.emu.advance_clock(d);
        }
        *self.moved.lock().unwrap() += d;
    }

    /// Simulated time moved so far.
    pub(crate) fn moved(&self) -> Duration {
        *self.moved.lock().unwrap()
    }

    /// One pass of the loop, then its sleep (skipped). Returns the sleep.
    pub(crate) async fn step(&self, engine: &Engine) -> Duration {
        let wait = engine.tick().await;
        self.advance(wait);
        wait
    }

    /// The loop for `span` of simulated time.
    pub(crate) async fn run_for(&self, engine: &Engine, span: Duration) {
        let end = self.moved() + span;
        while self.moved() < end {
            let wait = engine.tick().await;
            self.advance(wait.min(end - self.moved()));
        }
    }
}

/// A fault of secure storage as a whole, for as long as it is set.
#[derive(Debug, Clone)]
pub(crate) enum StoreFault {
    /// Every call fails with this kind.
    Fail(StoreErrorKind),
    /// Every call blocks this long (a hung D-Bus call, an unanswered
    /// unlock prompt), then does its work late.
    Hang(Duration),
    /// Only writes of this key fail, with this kind.
    FailWrite(&'static str, StoreErrorKind),
}

/// Secure storage over a [`MemoryStore`] that fails or hangs on every call
/// while a [`StoreFault`] is set, and counts: the calls it faulted, and
/// every write attempted (with the engine's clock when it came, to check
/// the retry policy).
pub(crate) struct Faulty {
    pub inner: MemoryStore,
    fault: std::sync::Mutex<Option<StoreFault>>,
    clock: Arc<TestClock>,
    pub faulted: std::sync::atomic::AtomicUsize,
    pub writes: std::sync::Mutex<Vec<std::time::Instant>>,
}

impl Faulty {
    pub(crate) fn new(clock: &Arc<TestClock>) -> Self {
        Self {
            inner: MemoryStore::new(),
            fault: std::sync::Mutex::new(None),
            clock: clock.clone(),
            faulted: 0.into(),
            writes: std::sync::Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn set_fault(&self, f: Option<StoreFault>) {
        *self.fault.lock().unwrap() = f;
    }

    pub(crate) fn faulted(&self) -> usize {
        self.faulted.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn check(&self, key: &str, write: bool) -> Result<(), StoreError> {
        let f = self.fault.lock().unwrap().clone();
        let Some(f) = f else { return Ok(()) };
        if let StoreFault::FailWrite(k, _) = &f
            && !(write && key == *k)
        {
            return Ok(());
        }
        self.faulted
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        match f {
            StoreFault::Fail(kind) | StoreFault::FailWrite(_, kind) => {
                Err(StoreError::new(kind, "injected"))
            }
            StoreFault::Hang(d) => {
                std::thread::sleep(d);
                Ok(())
            }
        }
    }
}

impl SecretStore for Faulty {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.check(key, false)?;
        self.inner.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        use latchkey_core::clock::Clock;
        self.writes.lock().unwrap().push(self.clock.mono());
        self.check(key, true)?;
        self.inner.set(key, value)
    }
    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.check(key, true)?;
        self.inner.delete(key)
    }
    fn describe(&self) -> &'static str {
        "faulty"
    }
}

/// An engine over `store` with a short secure-storage timeout (200 ms),
/// on `clock`, with `env`'s instance.
pub(crate) async fn open_over(
    env: &Env,
    dir: &std::path::Path,
    store: &Arc<Faulty>,
    clock: &Arc<TestClock>,
) -> Engine {
    let cfg = config(dir, store.clone(), Duration::from_millis(200), clock);
    let engine = Engine::open(cfg).await.unwrap();
    engine.add_instance(env.instance.clone()).await.unwrap();
    engine
}

/// The emulator's clock now, in ms.
pub(crate) fn emu_now(env: &Env) -> i64 {
    env.emu.now_ms()
}

/// When (emulator ms) each request to `path` by `method` arrived, and its
/// status.
pub(crate) fn arrivals(env: &Env, method: &str, path: &str) -> Vec<(i64, u16)> {
    env.emu
        .requests()
        .iter()
        .filter(|r| r.method == method && r.path == path)
        .map(|r| (r.at_ms, r.status))
        .collect()
}

/// An error answer with Clerk's error body (and a `Retry-After` as given).
pub(crate) fn status_fault(status: u16, code: &str, retry_after: Option<&str>) -> FaultAction {
    FaultAction::Status {
        status,
        code: code.into(),
        retry_after: retry_after.map(str::to_owned),
    }
}
