//! Starting without Clerk: the accounts come from the display cache, in
//! their places, marked; nothing is signed out and the active account
//! stays; with two instances, the reachable one's reads keep the other's
//! accounts; once Clerk answers they come back on their own within the
//! backoff cap. An account that is gone when Clerk is read again (ended
//! while Latchkey was away, or its secret lost) is announced once.

use super::*;

/// Every Frontend API path the engine uses drops its connection.
fn network_down(env: &Env) {
    for p in [
        "/v1/client",
        "/v1/environment",
        "/v1/client/sessions/*/tokens",
        "/v1/client/sessions/*/touch",
        "/v1/me/sessions/active",
    ] {
        env.emu.add_fault(FaultRule::new(p, FaultAction::Drop));
    }
}

/// The engine of a restart: same secure storage, same data dir, same clock.
async fn restart(r: &Rig) -> Engine {
    reopen(&r.dir, &r.store, &r.clock).await
}

fn names(accounts: &[latchkey_core::engine::Account]) -> Vec<String> {
    accounts.iter().map(|a| a.name.clone()).collect()
}

#[tokio::test]
async fn an_offline_start_shows_the_cache_and_recovers_within_the_backoff_cap() {
    let env = env().await;
    let r = rig(&env).await;
    sign_in(&r.engine, &env, "ada@example.com").await;
    let grace = sign_in(&r.engine, &env, "grace@example.com").await;
    let before = names(&r.engine.cached_accounts());
    network_down(&env);
    let again = restart(&r).await;
    assert!(again.reload(None).await.is_err());
    assert!(!again.online());
    let cached = again.cached_accounts();
    assert_eq!(names(&cached), before, "nothing signed out or reordered");
    assert_eq!(
        again.active(),
        Some(grace.clone()),
        "the active account stays"
    );
    assert_eq!(cached.len(), 2);
    // A few passes of the background loop while down: still all there.
    for _ in 0..3 {
        let wait = again.tick().await;
        r.clock.advance(wait);
    }
    assert_eq!(names(&again.cached_accounts()), before);

    // Clerk answers again: the accounts come back without a click, within
    // the backoff cap (the engine's clock; no real waiting).
    env.emu.clear_faults();
    let mut waited = Duration::ZERO;
    while again.accounts().await.len() < 2 {
        assert!(
            waited <= Duration::from_secs(61),
            "not back after {waited:?} of backoff"
        );
        let wait = again.tick().await;
        r.clock.advance(wait);
        waited += wait;
    }
    assert!(again.online());
    assert_eq!(names(&again.cached_accounts()), before);
    assert!(again.cached_accounts().iter().all(|a| a.problem.is_none()));
    assert_eq!(again.active(), Some(grace.clone()));
    again.get_token(&grace, None, OrgSel::Active).await.unwrap();
    eprintln!("back after {waited:?} of simulated backoff");
}

#[tokio::test]
async fn an_unreachable_instance_keeps_its_accounts_while_the_other_is_read() {
    let a = env().await;
    let r = rig(&a).await;
    let b = env().await;
    r.engine.add_instance(b.instance.clone()).await.unwrap();
    sign_in(&r.engine, &a, "ada@example.com").await;
    let started = r
        .engine
        .start_sign_in(b.instance.id(), None, Redirect::DeepLink)
        .await
        .unwrap();
    let cb = b.browser_hosted(&started.url, "grace@example.com").await;
    let Outcome::SignedIn { session, .. } = r.engine.handle_deep_link(&cb).await.unwrap() else {
        panic!("not signed in")
    };
    let grace = AccountRef {
        instance_id: b.instance.id().to_owned(),
        session_id: session,
    };
    assert_eq!(r.engine.active(), Some(grace.clone()));
    let before = names(&r.engine.cached_accounts());
    network_down(&b);
    let again = restart(&r).await;
    assert!(again.reload(None).await.is_err(), "B cannot be read");
    // A's read rewrote the cache: B's account is still in it, in its place.
    assert_eq!(names(&again.cached_accounts()), before);
    assert_eq!(
        again.active(),
        Some(grace.clone()),
        "the active account stays"
    );
    again.reload(Some(a.instance.id())).await.unwrap();
    assert_eq!(names(&again.cached_accounts()), before);
    assert_eq!(again.active(), Some(grace));
}

#[tokio::test]
async fn an_account_gone_while_away_is_announced_once() {
    let env = env().await;
    let r = rig(&env).await;
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    // Ended at Clerk while Latchkey was not running.
    env.bapi(
        reqwest::Method::POST,
        &format!("/v1/sessions/{}/revoke", ada.session_id),
        None,
    )
    .await;
    let again = restart(&r).await;
    let mut events = again.subscribe();
    again.reload(None).await.unwrap();
    again.reload(None).await.unwrap();
    let mut gone = Vec::new();
    while let Ok(e) = events.try_recv() {
        if let Event::SessionRevoked { account, name } = e {
            gone.push((account, name));
        }
    }
    assert_eq!(
        gone,
        vec![(ada, "Ada Lovelace".to_owned())],
        "announced once"
    );
    assert!(again.cached_accounts().is_empty());
}

#[tokio::test]
async fn an_account_whose_secret_is_gone_is_signed_out_not_an_error_loop() {
    let env = env().await;
    let r = rig(&env).await;
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    // The keychain lost the credential (restored from an old backup, say).
    for k in r.store.keys() {
        if k.starts_with("credential:") {
            r.store.put_raw(&k, b"");
        }
    }
    let again = restart(&r).await;
    let mut events = again.subscribe();
    again.reload(None).await.unwrap();
    assert!(again.accounts().await.is_empty());
    let announced = std::iter::from_fn(|| events.try_recv().ok())
        .filter(|e| matches!(e, Event::SessionRevoked { account, .. } if *account == ada))
        .count();
    assert_eq!(announced, 1);
    // The loop settles: no retries of a client that answered "none".
    env.emu.clear_requests();
    for _ in 0..3 {
        let wait = again.tick().await;
        r.clock.advance(wait);
    }
    assert!(env.fapi_requests() <= 3, "{} requests", env.fapi_requests());
}
