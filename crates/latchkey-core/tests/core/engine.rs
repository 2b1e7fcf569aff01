//! The session engine against the emulator: keychain persistence, restart,
//! single-flight tokens, the refresher under faults, revocation, sleep and
//! resume, races, and every action. Counts come from the emulator's log.

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

fn temp_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "latchkey-engine-{}",
        latchkey_core::new_state().replace(['-', '_'], "x")
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

struct Rig {
    engine: Engine,
    store: Arc<MemoryStore>,
    clock: Arc<TestClock>,
    dir: PathBuf,
}

async fn rig(env: &Env) -> Rig {
    rig_with(env, Arc::new(MemoryStore::new()), |_| {}).await
}

async fn rig_with(
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

async fn sign_in(engine: &Engine, env: &Env, email: &str) -> AccountRef {
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

fn token_requests(env: &Env, acct: &AccountRef) -> usize {
    count(
        env,
        "POST",
        &format!("/v1/client/sessions/{}/tokens", acct.session_id),
    )
}

#[tokio::test]
async fn sign_in_persists_only_the_credential_and_an_index() {
    let env = env().await;
    let r = rig(&env).await;
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    let accounts = r.engine.accounts().await;
    assert_eq!(accounts.len(), 1);
    assert!(accounts[0].active);
    assert_eq!(accounts[0].email.as_deref(), Some("ada@example.com"));
    assert_eq!(accounts[0].instance_name, "Latchkey Demo");
    assert_eq!(r.engine.active(), Some(ada.clone()));
    assert!(matches!(
        r.engine.storage_state(),
        StorageState::Secure { .. }
    ));
    tokio::time::sleep(Duration::from_millis(100)).await; // the credential writer runs in the background
    let keys = r.store.keys();
    assert!(keys.contains(&"index".to_owned()), "{keys:?}");
    assert_eq!(
        keys.iter().filter(|k| k.starts_with("credential:")).count(),
        1,
        "one slot in use: {keys:?}"
    );
    // A token exists in memory and nowhere else.
    let token = r
        .engine
        .get_token(&ada, None, OrgSel::Active)
        .await
        .unwrap();
    for k in &keys {
        let raw = r.store.raw(k).unwrap();
        assert!(
            !String::from_utf8_lossy(&raw).contains(token.expose()),
            "no JWT in secure storage"
        );
    }
    for entry in std::fs::read_dir(&r.dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
        assert!(
            !text.contains(token.expose())
                && !text.contains(
                    r.engine.instances().await[0]
                        .publishable_key()
                        .replace("pk_", "sk_")
                        .as_str()
                )
        );
        let cred = r
            .store
            .raw(keys.iter().find(|k| k.starts_with("credential:")).unwrap())
            .unwrap();
        assert!(
            !text.contains(String::from_utf8_lossy(&cred[4..]).as_ref()),
            "no credential in the data dir"
        );
    }
}

#[tokio::test]
async fn restart_finds_the_accounts_without_signing_in() {
    let env = env().await;
    let store = Arc::new(MemoryStore::new());
    let r = rig_with(&env, store.clone(), |_| {}).await;
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    let grace = sign_in(&r.engine, &env, "grace@example.com").await;
    r.engine.switch(&ada).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(r);

    let r2 = rig_with(&env, store, |_| {}).await;
    assert_eq!(
        r2.engine.active(),
        Some(ada.clone()),
        "the active account survives"
    );
    env.emu.clear_requests();
    r2.engine.reload(None).await.unwrap();
    let accounts = r2.engine.accounts().await;
    assert_eq!(
        accounts
            .iter()
            .map(|a| a.account.clone())
            .collect::<Vec<_>>(),
        vec![ada.clone(), grace.clone()]
    );
    assert!(
        env.emu
            .requests()
            .iter()
            .all(|r| !r.path.contains("sign_ins") && !r.path.contains("hosted_auth")),
        "no sign-in on restart"
    );
    assert!(
        r2.engine
            .get_token(&grace, None, OrgSel::Active)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_hundred_concurrent_get_token_make_one_request() {
    let env = env().await;
    let r = rig(&env).await;
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    env.emu.clear_requests();
    env.emu.add_fault(
        FaultRule::new(
            "/v1/client/sessions/*/tokens",
            FaultAction::Delay { ms: 300 },
        )
        .times(1),
    );
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let (e, a) = (r.engine.clone(), ada.clone());
        tasks.push(tokio::spawn(async move {
            e.get_token(&a, None, OrgSel::Active)
                .await
                .map(|t| t.expose().to_owned())
        }));
    }
    let mut tokens = std::collections::BTreeSet::new();
    for t in tasks {
        tokens.insert(t.await.unwrap().unwrap());
    }
    assert_eq!(tokens.len(), 1, "everyone got the same token");
    assert_eq!(token_requests(&env, &ada), 1, "one request for 100 callers");
    // From memory while fresh.
    r.engine
        .get_token(&ada, None, OrgSel::Active)
        .await
        .unwrap();
    assert_eq!(token_requests(&env, &ada), 1);
}

#[tokio::test]
async fn a_cancelled_caller_does_not_cancel_the_others() {
    let env = env().await;
    let r = rig(&env).await;
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    env.emu.clear_requests();
    env.emu.add_fault(
        FaultRule::new(
            "/v1/client/sessions/*/tokens",
            FaultAction::Delay { ms: 400 },
        )
        .times(1),
    );
    let leader = {
        let (e, a) = (r.engine.clone(), ada.clone());
        tokio::spawn(async move { e.get_token(&a, None, OrgSel::Active).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let followers: Vec<_> = (0..10)
        .map(|_| {
            let (e, a) = (r.engine.clone(), ada.clone());
            tokio::spawn(async move { e.get_token(&a, None, OrgSel::Active).await })
        })
        .collect();
    leader.abort();
    for f in followers {
        assert!(
            tokio::time::timeout(Duration::from_secs(5), f)
                .await
                .expect("no hung waiter")
                .unwrap()
                .is_ok()
        );
    }
    assert_eq!(token_requests(&env, &ada), 1);
}

#[tokio::test]
async fn revoked_on_another_device_signs_out_within_one_refresh() {
    let env = env_with(|c| c.token_lifetime = Duration::from_secs(2)).await;
    let r = rig(&env).await;
    let mut events = r.engine.subscribe();
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    let grace = sign_in(&r.engine, &env, "grace@example.com").await;
    r.engine.switch(&ada).await.unwrap();
    r.engine.tick().await;
    env.bapi(
        reqwest::Method::POST,
        &format!("/v1/sessions/{}/revoke", ada.session_id),
        None,
    )
    .await;
    let revoked_at = std::time::Instant::now();
    let deadline = revoked_at + Duration::from_secs(10);
    while r.engine.accounts().await.iter().any(|a| a.account == ada) {
        assert!(
            std::time::Instant::now() < deadline,
            "still signed in 10 s after revocation"
        );
        let wait = r.engine.tick().await;
        tokio::time::sleep(wait.min(Duration::from_millis(200))).await;
    }
    let took = revoked_at.elapsed();
    let mut saw = false;
    while let Ok(e) = events.try_recv() {
        if let Event::SessionRevoked { account, name } = e {
            assert_eq!(account, ada);
            assert_eq!(name, "Ada Lovelace");
            saw = true;
        }
    }
    assert!(saw, "a SessionRevoked event");
    assert_eq!(
        r.engine.active(),
        Some(grace.clone()),
        "the other account takes over; it is untouched"
    );
    let after = token_requests(&env, &ada);
    for _ in 0..3 {
        r.engine.tick().await;
    }
    assert_eq!(
        token_requests(&env, &ada),
        after,
        "no request for the revoked session after detection"
    );
    let e = r
        .engine
        .get_token(&ada, None, OrgSel::Active)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::SessionGone);
    eprintln!("revocation noticed after {took:?} with 2 s tokens");
}

#[tokio::test]
async fn transient_faults_keep_the_account_and_back_off() {
    let env = env_with(|c| c.token_lifetime = Duration::from_secs(2)).await;
    let r = rig_with(&env, Arc::new(MemoryStore::new()), |c| {
        c.retry = RetryPolicy {
            base: Duration::from_millis(10),
            cap: Duration::from_millis(200),
            retry_after_min: Duration::from_millis(50),
            retry_after_max: Duration::from_millis(500),
        }
    })
    .await;
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    let path = format!("/v1/client/sessions/{}/tokens", ada.session_id);
    for action in [
        FaultAction::Status {
            status: 503,
            code: "unavailable".into(),
            retry_after: None,
        },
        FaultAction::Status {
            status: 429,
            code: "too_many_requests".into(),
            retry_after: Some("1".into()),
        },
        FaultAction::Html200,
        FaultAction::TruncatedJson,
        FaultAction::Drop,
    ] {
        r.clock.advance(Duration::from_secs(3));
        env.emu
            .add_fault(FaultRule::new(&path, action.clone()).times(3));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let wait = r.engine.tick().await;
            if env
                .emu
                .requests()
                .iter()
                .filter(|x| x.path == path && x.status == 200)
                .count()
                > 0
                && r.engine.get_token(&ada, None, OrgSel::Active).await.is_ok()
            {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{action:?}: no recovery"
            );
            tokio::time::sleep(wait.min(Duration::from_millis(100))).await;
        }
        assert_eq!(
            r.engine.accounts().await.len(),
            1,
            "{action:?} never signs out"
        );
        env.emu.clear_requests();
    }
}

#[tokio::test]
async fn thirty_minutes_offline_keeps_the_account_with_bounded_retries() {
    // Time scaled 1000×: base 1 ms, cap 60 ms, 1.8 s of "30 minutes".
    let env = env().await;
    let policy = RetryPolicy {
        base: Duration::from_millis(1),
        cap: Duration::from_millis(60),
        retry_after_min: Duration::from_millis(1),
        retry_after_max: Duration::from_millis(600),
    };
    let r = rig_with(&env, Arc::new(MemoryStore::new()), |c| c.retry = policy).await;
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    let path = format!("/v1/client/sessions/{}/tokens", ada.session_id);
    env.emu.clear_requests();
    // The network is down: every FAPI path drops.
    for p in [
        path.as_str(),
        "/v1/client",
        "/v1/environment",
        "/v1/me/sessions/active",
    ] {
        env.emu.add_fault(FaultRule::new(p, FaultAction::Drop));
    }
    let start = std::time::Instant::now();
    let mut last = std::time::Instant::now();
    let mut gaps = Vec::new();
    while start.elapsed() < Duration::from_millis(1800) {
        // No token could be fetched, so one is due on every pass (after backoff).
        let before = token_requests(&env, &ada);
        let wait = r.engine.tick().await;
        if token_requests(&env, &ada) > before {
            gaps.push(last.elapsed());
            last = std::time::Instant::now();
        }
        tokio::time::sleep(wait).await;
    }
    let attempts = token_requests(&env, &ada);
    assert!(
        (10..=400).contains(&attempts),
        "bounded retries: {attempts}"
    );
    let distinct: std::collections::BTreeSet<u128> = gaps.iter().map(|g| g.as_millis()).collect();
    assert!(distinct.len() > 3, "jittered, not lockstep: {distinct:?}");
    assert_eq!(r.engine.accounts().await.len(), 1, "account kept offline");
    assert!(!r.engine.online());
    env.emu.clear_faults();
    tokio::time::sleep(Duration::from_millis(100)).await;
    r.engine.tick().await;
    assert!(
        r.engine.get_token(&ada, None, OrgSel::Active).await.is_ok(),
        "recovers when the network returns"
    );
    assert!(r.engine.online());
    eprintln!("30 simulated minutes offline: {attempts} attempts, account kept");
}

#[tokio::test]
async fn sleep_and_resume_refreshes_before_the_next_use() {
    let env = env().await;
    let r = rig(&env).await;
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    let t1 = r
        .engine
        .get_token(&ada, None, OrgSel::Active)
        .await
        .unwrap();
    let n = token_requests(&env, &ada);
    // One hour of suspend: wall time moves (here and at Clerk), monotonic
    // time does not.
    r.clock.suspend(Duration::from_secs(3600));
    env.emu.advance_clock(Duration::from_secs(3600));
    let t2 = r
        .engine
        .get_token(&ada, None, OrgSel::Active)
        .await
        .unwrap();
    assert_ne!(
        t1.expose(),
        t2.expose(),
        "a stale token is never handed out after resume"
    );
    assert_eq!(token_requests(&env, &ada), n + 1);
    // A wall clock set back does not make an old token look fresh either.
    r.clock.wall_back(Duration::from_secs(7200));
    let t3 = r
        .engine
        .get_token(&ada, None, OrgSel::Active)
        .await
        .unwrap();
    assert_eq!(
        t3.expose(),
        t2.expose(),
        "monotonic time still says it is fresh"
    );
}

#[tokio::test]
async fn late_results_never_land_in_the_wrong_place() {
    let env = env().await;
    let r = rig(&env).await;
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    let grace = sign_in(&r.engine, &env, "grace@example.com").await;
    // A slow refresh for Ada while switching to Grace.
    env.emu.add_fault(
        FaultRule::new(
            &format!("/v1/client/sessions/{}/tokens", ada.session_id),
            FaultAction::Delay { ms: 300 },
        )
        .times(1),
    );
    let slow = {
        let (e, a) = (r.engine.clone(), ada.clone());
        tokio::spawn(async move { e.get_token(&a, None, OrgSel::Active).await })
    };
    r.engine.switch(&grace).await.unwrap();
    let gt = r
        .engine
        .get_token(&grace, None, OrgSel::Active)
        .await
        .unwrap();
    let at = slow.await.unwrap().unwrap();
    assert_eq!(
        decode_unverified(gt.expose()).unwrap()["sub"],
        env.user_id("grace@example.com").as_str()
    );
    assert_eq!(
        decode_unverified(at.expose()).unwrap()["sub"],
        env.user_id("ada@example.com").as_str()
    );

    // Sign-out during a refresh: no zombie token afterwards.
    env.emu.add_fault(
        FaultRule::new(
            &format!("/v1/client/sessions/{}/tokens", ada.session_id),
            FaultAction::Delay { ms: 300 },
        )
        .times(1),
    );
    r.clock.advance(Duration::from_secs(120));
    let slow = {
        let (e, a) = (r.engine.clone(), ada.clone());
        tokio::spawn(async move { e.get_token(&a, None, OrgSel::Active).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    r.engine.sign_out(&ada).await.unwrap();
    let _ = slow.await.unwrap();
    let e = r
        .engine
        .get_token(&ada, None, OrgSel::Active)
        .await
        .unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::SessionGone,
        "nothing cached for a signed-out account"
    );
    assert_eq!(r.engine.accounts().await.len(), 1);
}

#[tokio::test]
async fn every_action() {
    let env = env().await;
    let r = rig(&env).await;
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    let grace = sign_in(&r.engine, &env, "grace@example.com").await;
    assert_eq!(r.engine.active(), Some(grace.clone()));
    r.engine.switch(&ada).await.unwrap();
    assert_eq!(r.engine.active(), Some(ada.clone()));

    // Organization switch shows in the next token.
    let org = r
        .engine
        .accounts()
        .await
        .into_iter()
        .find(|a| a.account == ada)
        .unwrap();
    assert!(org.active_organization.is_none());
    r.engine
        .switch_org(&ada, Some(&"analytical-engines".into()))
        .await
        .unwrap();
    let t = r
        .engine
        .get_token(&ada, None, OrgSel::Active)
        .await
        .unwrap();
    assert_eq!(
        decode_unverified(t.expose()).unwrap()["o"]["slg"],
        "analytical-engines"
    );
    let t = r
        .engine
        .get_token(&ada, None, OrgSel::Personal)
        .await
        .unwrap();
    assert!(decode_unverified(t.expose()).unwrap().get("o").is_none());
    let t = r
        .engine
        .get_token(&ada, Some("api"), OrgSel::Active)
        .await
        .unwrap();
    assert_eq!(
        decode_unverified(t.expose()).unwrap()["org"],
        "analytical-engines"
    );
    // A template may set its own audience (Supabase's is `authenticated`).
    let sb = r
        .engine
        .get_token(&ada, Some("supabase"), OrgSel::Active)
        .await
        .unwrap();
    assert!(decode_unverified(sb.expose()).unwrap().get("aud").is_some());

    // Details carry claims, never the token.
    let d = r.engine.details(&ada).await.unwrap();
    assert_eq!(d.claims.as_ref().unwrap()["sid"], ada.session_id.as_str());
    assert!(!serde_json::to_string(&d).unwrap().contains(t.expose()));

    // Devices: this device first; revoke one; sign out all others.
    let devices = r.engine.devices(&ada).await.unwrap();
    assert!(devices[0].this_device);
    assert_eq!(devices.iter().filter(|d| d.this_device).count(), 1);
    assert_eq!(devices.len(), 3);
    let other = devices[1].session.id.clone();
    assert_eq!(
        r.engine.revoke(&ada, &other).await.unwrap(),
        RevokeOutcome::Revoked
    );
    assert!(
        r.engine.revoke(&ada, &ada.session_id).await.is_err(),
        "this device is signed out, not revoked"
    );
    // Two more remote sessions, one of whose revocation fails.
    let uid = env.user_id("ada@example.com");
    for ip in ["203.0.113.9", "198.51.100.23"] {
        env.bapi(reqwest::Method::POST, "/v1/sessions", Some(serde_json::json!({"user_id": uid, "ip_address": ip, "user_agent": "Mozilla/5.0 (Windows NT 10.0) Chrome/131.0"}))).await;
    }
    env.emu.add_fault(
        FaultRule::new(
            "/v1/me/sessions/*/revoke",
            FaultAction::Status {
                status: 500,
                code: "x".into(),
                retry_after: None,
            },
        )
        .times(1),
    );
    let results = r.engine.sign_out_other_devices(&ada).await.unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(
        results
            .iter()
            .filter(|(_, o)| *o == RevokeOutcome::Revoked)
            .count(),
        2,
        "partial failure reported per session"
    );
    let retry = r.engine.sign_out_other_devices(&ada).await.unwrap();
    assert_eq!(retry.len(), 1, "retry clears the failed one");
    assert_eq!(retry[0].1, RevokeOutcome::Revoked);

    // Sign out everywhere: partial without force, done with it.
    env.bapi(
        reqwest::Method::POST,
        "/v1/sessions",
        Some(serde_json::json!({"user_id": uid})),
    )
    .await;
    env.emu.add_fault(
        FaultRule::new(
            "/v1/me/sessions/*/revoke",
            FaultAction::Status {
                status: 503,
                code: "x".into(),
                retry_after: None,
            },
        )
        .times(1),
    );
    match r.engine.sign_out_everywhere(&ada, false).await.unwrap() {
        EverywhereOutcome::Partial { failed } => assert_eq!(failed.len(), 1),
        other => panic!("{other:?}"),
    }
    assert!(
        r.engine.accounts().await.iter().any(|a| a.account == ada),
        "nothing signed out here yet"
    );
    assert_eq!(
        r.engine.sign_out_everywhere(&ada, false).await.unwrap(),
        EverywhereOutcome::Done { revoked: 1 }
    );
    assert!(!r.engine.accounts().await.iter().any(|a| a.account == ada));
    assert_eq!(r.engine.active(), Some(grace.clone()));

    // Sign out of this account, then of every account on this device.
    let alan = sign_in(&r.engine, &env, "alan@example.com").await;
    r.engine.sign_out(&alan).await.unwrap();
    assert_eq!(
        env.emu.session_status(alan.session_id.as_str()).as_deref(),
        Some("removed")
    );
    let kat = sign_in(&r.engine, &env, "katherine@example.com").await;
    r.engine.sign_out_device(env.instance.id()).await.unwrap();
    assert!(r.engine.accounts().await.is_empty());
    assert_eq!(r.engine.active(), None);
    assert_eq!(
        env.emu.session_status(kat.session_id.as_str()).as_deref(),
        Some("removed")
    );
}

#[tokio::test]
async fn signing_out_here_is_not_announced_as_a_revocation() {
    let env = env().await;
    let r = rig(&env).await;
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    let _grace = sign_in(&r.engine, &env, "grace@example.com").await;
    let _alan = sign_in(&r.engine, &env, "alan@example.com").await;
    let mut events = r.engine.subscribe();
    r.engine.sign_out(&ada).await.unwrap();
    r.engine.sign_out_device(env.instance.id()).await.unwrap();
    assert!(
        r.engine
            .accounts()
            .await
            .iter()
            .all(|a| !a.status.is_signed_in())
    );
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        seen.push(e);
    }
    assert!(seen.iter().any(|e| matches!(e, Event::AccountsChanged)));
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, Event::SessionRevoked { .. })),
        "{seen:?}"
    );
}

#[tokio::test]
async fn organization_members_are_for_admins_only() {
    let env = env().await;
    let r = rig(&env).await;
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    // Personal account: no organization, refused without asking Clerk.
    let org_reads = || {
        env.emu
            .requests()
            .iter()
            .filter(|r| r.path.starts_with("/v1/organizations/"))
            .count()
    };
    let e = r.engine.organization_members(&ada).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Forbidden);
    // Ada is an admin of Analytical Engines: the list comes back.
    r.engine
        .switch_org(&ada, Some(&"analytical-engines".into()))
        .await
        .unwrap();
    let (o, perms) = r.engine.active_org_claim(&ada).await.unwrap().unwrap();
    assert!(o.is_admin());
    assert!(
        perms.contains(&"org:reports:manage".to_owned()),
        "{perms:?}"
    );
    let members = r.engine.organization_members(&ada).await.unwrap();
    let emails: Vec<_> = members
        .iter()
        .filter_map(|m| m.public_user_data.as_ref().map(|p| p.identifier.clone()))
        .collect();
    assert_eq!(members.len(), 3, "{emails:?}");
    assert!(emails.contains(&"grace@example.com".to_owned()));
    // A plain member of Harvard Mark I is refused before any request; Clerk
    // itself would have answered (members may read the list).
    r.engine
        .switch_org(&ada, Some(&"harvard-mark-i".into()))
        .await
        .unwrap();
    let (o, perms) = r.engine.active_org_claim(&ada).await.unwrap().unwrap();
    assert_eq!(o.role_key().as_deref(), Some("org:member"));
    assert!(!perms.contains(&"org:reports:manage".to_owned()));
    let e = r.engine.organization_members(&ada).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Forbidden);
    assert_eq!(org_reads(), 1);
}

#[tokio::test]
async fn reverification_is_its_own_outcome() {
    let env = env_with(|c| c.reverification_minutes = Some(10)).await;
    let r = rig(&env).await;
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    let devices = r.engine.devices(&ada).await.unwrap();
    env.emu.advance_clock(Duration::from_secs(11 * 60));
    assert_eq!(
        r.engine.revoke(&ada, &devices[1].session.id).await.unwrap(),
        RevokeOutcome::ReverificationRequired
    );
}

#[tokio::test]
async fn new_devices_are_announced_after_the_first_look() {
    let env = env().await;
    let r = rig(&env).await;
    let mut events = r.engine.subscribe();
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    r.engine.devices(&ada).await.unwrap();
    env.bapi(reqwest::Method::POST, "/v1/sessions", Some(serde_json::json!({"user_id": env.user_id("ada@example.com"), "ip_address": "203.0.113.9", "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) Version/18.1 Safari/604.1"}))).await;
    r.engine.devices(&ada).await.unwrap();
    let mut new = Vec::new();
    while let Ok(e) = events.try_recv() {
        if let Event::NewDevice { description, .. } = e {
            new.push(description);
        }
    }
    assert_eq!(new, vec!["Safari, iPhone, Berlin".to_owned()]);
}

#[tokio::test]
async fn storage_failures_are_visible_states_never_files() {
    let env = env().await;
    // No usable store at start: signed in for this run only.
    let store = Arc::new(MemoryStore::new());
    store.fail_next(
        Op::Set,
        StoreError::new(StoreErrorKind::Unavailable, "no secret service"),
    );
    let r = rig_with(&env, store.clone(), |_| {}).await;
    assert!(matches!(
        r.engine.storage_state(),
        StorageState::Unavailable { locked: false, .. }
    ));
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    assert!(
        r.engine.get_token(&ada, None, OrgSel::Active).await.is_ok(),
        "works for this run"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(store.keys().is_empty(), "nothing written");
    let files: Vec<String> = std::fs::read_dir(&r.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        files,
        vec!["cache.json".to_owned()],
        "only the display cache"
    );

    // A write failing after a rotation: kept in memory, reported.
    let store = Arc::new(MemoryStore::new());
    let r = rig_with(&env, store.clone(), |_| {}).await;
    let mut events = r.engine.subscribe();
    store.fail_next(Op::Set, StoreError::new(StoreErrorKind::Locked, "locked"));
    store.fail_next(Op::Set, StoreError::new(StoreErrorKind::Locked, "locked"));
    let grace = sign_in(&r.engine, &env, "grace@example.com").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut saw = false;
    while let Ok(e) = events.try_recv() {
        if let Event::Storage {
            state: StorageState::SaveFailed { locked: true, .. },
        } = e
        {
            saw = true;
        }
    }
    assert!(saw, "the failed save is reported");
    assert!(
        r.engine
            .get_token(&grace, None, OrgSel::Active)
            .await
            .is_ok(),
        "the session keeps working"
    );
    // The save is retried and the state recovers; a restart then works.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !matches!(r.engine.storage_state(), StorageState::Secure { .. }) {
        assert!(
            std::time::Instant::now() < deadline,
            "the save was not retried"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(r);
    let r2 = rig_with(&env, store, |_| {}).await;
    r2.engine.reload(None).await.unwrap();
    assert_eq!(
        r2.engine.accounts().await.len(),
        1,
        "the retried save is what a restart reads"
    );
}

#[tokio::test]
async fn a_corrupt_credential_signs_out_that_instance_only() {
    let env = crate::common::env().await;
    let other = crate::common::env().await;
    let store = Arc::new(MemoryStore::new());
    let r = rig_with(&env, store.clone(), |_| {}).await;
    r.engine.add_instance(other.instance.clone()).await.unwrap();
    sign_in(&r.engine, &env, "ada@example.com").await;
    let b = {
        let started = r
            .engine
            .start_sign_in(other.instance.id(), None, Redirect::DeepLink)
            .await
            .unwrap();
        let cb = other
            .browser_hosted(&started.url, "grace@example.com")
            .await;
        r.engine.handle_deep_link(&cb).await.unwrap();
        other.instance.id().to_owned()
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    drop(r);
    for corruption in [
        &b"not framed"[..],
        b"LK1x",
        b"LK1n{bad json",
        b"LK10\xff\xfe",
    ] {
        let key = store
            .keys()
            .into_iter()
            .find(|k| k.starts_with(&format!("credential:{}", env.instance.id())))
            .unwrap();
        let good = store.raw(&key).unwrap();
        store.put_raw(&key, corruption);
        let r2 = rig_with(&env, store.clone(), |_| {}).await;
        let _ = r2.engine.reload(None).await;
        let accounts = r2.engine.accounts().await;
        assert_eq!(
            accounts.len(),
            1,
            "{corruption:?}: the other instance's account is intact"
        );
        assert_eq!(accounts[0].account.instance_id, b);
        store.put_raw(&key, &good);
    }
}

#[tokio::test]
async fn the_real_keychain_shares_accounts_across_restarts() {
    let service = format!(
        "dev.latchkey.test.{}",
        latchkey_core::new_state().replace(['-', '_'], "x")
    );
    let store = KeychainStore::new(service.clone());
    let required = std::env::var("LATCHKEY_REQUIRE_KEYCHAIN").is_ok();
    if store.set("probe", b"x").is_err() {
        assert!(!required, "the Secret Service is required here");
        return;
    }
    let _ = store.delete("probe");
    let env = env().await;
    let dir = temp_dir();
    let open = || {
        let mut cfg = EngineConfig::new(
            dir.clone(),
            Keychain::new(
                Arc::new(KeychainStore::new(service.clone())),
                Duration::from_secs(10),
            ),
        );
        cfg.clock = Arc::new(TestClock::new());
        cfg
    };
    let e1 = Engine::open(open()).await.unwrap();
    assert!(matches!(e1.storage_state(), StorageState::Secure { .. }));
    e1.add_instance(env.instance.clone()).await.unwrap();
    let ada = sign_in(&e1, &env, "ada@example.com").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(e1);
    // What landed, seen by another process.
    let out = std::process::Command::new("secret-tool")
        .args(["search", "--all", "service", &service])
        .output()
        .unwrap();
    let listing =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(listing.contains("username = index"), "{listing}");
    assert!(
        listing.contains(&format!("username = credential:{}:", env.instance.id())),
        "{listing}"
    );

    let e2 = Engine::open(open()).await.unwrap();
    e2.reload(None).await.unwrap();
    assert_eq!(
        e2.accounts()
            .await
            .iter()
            .map(|a| a.account.clone())
            .collect::<Vec<_>>(),
        vec![ada]
    );
    // No credential in any file under the data dir.
    let cred_line = listing
        .lines()
        .filter_map(|l| l.strip_prefix("secret = LK10"))
        .filter_map(|j| serde_json::from_str::<serde_json::Value>(j).ok())
        .find_map(|v| v["credential"].as_str().map(str::to_owned))
        .unwrap_or_default();
    assert!(
        cred_line.len() > 20,
        "the credential entry holds a credential"
    );
    for entry in std::fs::read_dir(&dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
        assert!(!text.contains(&cred_line));
    }
    for k in [
        "index",
        &format!("credential:{}:a", env.instance.id()),
        &format!("credential:{}:b", env.instance.id()),
    ] {
        let _ = KeychainStore::new(service.clone()).delete(k);
    }
}

/// docs/threat-model.md F20: a crash after any number of storage writes during a rotation
/// leaves a state a restart reads: the index parses, it names credentials
/// that exist, and the accounts are either all there (the new credential
/// landed) or none of the rotated client's (only the old one did) — never
/// a half-written account.
#[tokio::test]
async fn a_crash_at_each_write_of_a_rotation_leaves_a_readable_state() {
    let env = env().await;
    for k in 0..6 {
        let store = Arc::new(MemoryStore::new());
        let r = rig_with(&env, store.clone(), |_| {}).await;
        sign_in(&r.engine, &env, "ada@example.com").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        store.crash_after(k);
        sign_in(&r.engine, &env, "grace@example.com").await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        drop(r);
        store.recover();
        let slots_before: Vec<String> = store
            .keys()
            .into_iter()
            .filter(|k| k.starts_with("credential:"))
            .collect();
        assert!(
            !slots_before.is_empty() && slots_before.len() <= 2,
            "k={k}: {slots_before:?}"
        );
        let index: serde_json::Value =
            serde_json::from_slice(&store.raw("index").unwrap()[4..]).expect("the index parses");
        assert_eq!(index["instances"].as_array().unwrap().len(), 1, "k={k}");
        let r2 = rig_with(&env, store.clone(), |_| {}).await;
        r2.engine.reload(None).await.unwrap();
        let n = r2.engine.accounts().await.len();
        assert!(n == 0 || n == 2, "k={k}: {n} accounts");
        if k >= 4 {
            assert_eq!(n, 2, "k={k}: every write landed");
        }
        eprintln!("crash after {k} writes: {n} accounts after restart");
    }
}
