//! The background loop: revocation noticed within one refresh, transient
//! faults with backoff, a long outage with bounded, jittered retries.

use super::*;

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
async fn the_background_loop_keeps_the_active_token_fresh() {
    let env = env_with(|c| c.token_lifetime = Duration::from_secs(2)).await;
    let r = rig(&env).await;
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let job = r.engine.start_background(stop);
    // The loop started with nobody signed in (its first sleep is long);
    // a sign-in wakes it.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let n = token_requests(&env, &ada);
    let _ = stop_tx.send(true);
    let _ = job.await;
    assert!(n >= 2, "{n} token requests in 4 s of 2 s tokens");
}

#[tokio::test]
async fn a_restarted_engine_refreshes_as_soon_as_it_has_read_its_accounts() {
    let env = env_with(|c| c.token_lifetime = Duration::from_secs(2)).await;
    let r = rig(&env).await;
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    // A start at login: the loop runs before the accounts are read (its
    // first tick finds no active session and sleeps its longest), and
    // nobody asks for a token.
    let again = reopen(&r.dir, &r.store, &r.clock).await;
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let job = again.start_background(stop);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = token_requests(&env, &ada);
    again.reload(None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let n = token_requests(&env, &ada) - before;
    let _ = stop_tx.send(true);
    let _ = job.await;
    assert!(
        n >= 1,
        "no token refresh within 1.5 s of reading the accounts (the loop slept on)"
    );
}
