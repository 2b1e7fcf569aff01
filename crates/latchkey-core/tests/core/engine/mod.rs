//! The session engine against the emulator, one file per engine module:
//! persistence, tokens, the refresher, actions. Counts come from the
//! emulator's log. This file holds the rig they share.

mod actions;
mod attempts;
mod clients;
mod handoff;
mod offline;
mod persist;
mod refresher;
mod reverify;
mod tokens;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clerk_emulator::{FaultAction, FaultRule};
use latchkey_core::clock::TestClock;
use latchkey_core::engine::{
    AccountRef, Engine, EngineConfig, Event, EverywhereOutcome, OrgSel, RetryPolicy, RevokeOutcome,
    StorageState,
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

pub(crate) async fn rig_with(
    env: &Env,
    store: Arc<MemoryStore>,
    tweak: impl FnOnce(&mut EngineConfig),
) -> Rig {
    let dir = temp_dir();
    let clock = Arc::new(TestClock::new());
    let mut cfg = EngineConfig::new(
        dir.clone(),
        Keychain::new(store.clone(), Duration::from_secs(5)),
    );
    cfg.clock = clock.clone();
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
    let mut cfg = EngineConfig::new(
        dir.to_path_buf(),
        Keychain::new(store.clone(), Duration::from_secs(5)),
    );
    cfg.clock = clock.clone();
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
