//! Session tokens: one request for many callers, cancellation, sleep and
//! resume, late results after a switch or a sign-out.

use super::*;

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
async fn a_token_served_already_expired_is_refused_and_nothing_is_cached() {
    let env = env().await;
    let r = rig(&env).await;
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    env.emu.clear_requests();
    // A token minted two minutes ago (expired a minute ago), as a replay or
    // a stale cache would serve it: its own `iat` says "fresh", Clerk's
    // clock (the `Date` of the answer) says expired.
    env.emu.add_fault(
        FaultRule::new(
            "/v1/client/sessions/*/tokens",
            FaultAction::StaleToken { secs: 120 },
        )
        .times(1),
    );
    let e = r
        .engine
        .get_token(&ada, None, OrgSel::Active)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Protocol, "{e}");
    assert!(e.to_string().contains("expired"), "{e}");
    assert_eq!(r.engine.accounts().await.len(), 1, "not a sign-out");
    // Nothing was cached: the next call asks again, and gets a good one.
    let t = r
        .engine
        .get_token(&ada, None, OrgSel::Active)
        .await
        .unwrap();
    let exp = decode_unverified(t.expose()).unwrap()["exp"]
        .as_i64()
        .unwrap();
    assert!(exp * 1000 > env.emu.now_ms());
    assert_eq!(token_requests(&env, &ada), 2);
}

#[tokio::test]
async fn a_token_with_part_of_its_life_left_is_refreshed_by_clerks_clock() {
    let env = env().await;
    let r = rig(&env).await;
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    // Served with 10 s of its 60 left: due for a refresh from the start, and
    // never handed out once fewer than 5 s are left.
    env.emu.add_fault(
        FaultRule::new(
            "/v1/client/sessions/*/tokens",
            FaultAction::StaleToken { secs: 50 },
        )
        .times(1),
    );
    let t1 = r
        .engine
        .get_token(&ada, None, OrgSel::Active)
        .await
        .unwrap();
    r.clock.advance(Duration::from_secs(6));
    env.emu.advance_clock(Duration::from_secs(6));
    let t2 = r
        .engine
        .get_token(&ada, None, OrgSel::Active)
        .await
        .unwrap();
    assert_ne!(
        t1.expose(),
        t2.expose(),
        "4 s left by Clerk's clock: not handed out again"
    );
}

#[tokio::test]
async fn a_local_clock_50_s_off_refuses_no_good_token_and_causes_no_refresh_storm() {
    for (ahead, label) in [(true, "Clerk 50 s ahead"), (false, "Clerk 50 s behind")] {
        let env = env().await;
        if ahead {
            env.emu.advance_clock(Duration::from_secs(50));
        } else {
            env.emu.rewind_clock(Duration::from_secs(50));
        }
        let r = rig(&env).await;
        let ada = sign_in(&r.engine, &env, "ada@example.com").await;
        env.emu.clear_requests();
        for _ in 0..20 {
            r.engine
                .get_token(&ada, None, OrgSel::Active)
                .await
                .unwrap_or_else(|e| panic!("{label}: a good token refused: {e}"));
        }
        let mut sleeps = Vec::new();
        for _ in 0..5 {
            sleeps.push(r.engine.tick().await);
        }
        assert_eq!(token_requests(&env, &ada), 1, "{label}: no refresh storm");
        assert!(
            sleeps.iter().all(|s| *s >= Duration::from_secs(14)),
            "{label}: the next refresh is a tick away at least: {sleeps:?}"
        );
        let skew = r.engine.clock_skew_secs();
        let want = if ahead { 50 } else { -50 };
        assert!((skew - want).abs() <= 1, "{label}: skew {skew}");
    }
}

/// Regression (found by the fault campaign): the verifier spaced its JWKS
/// refetches on the real clock, so on the engine's clock a key rotation was
/// never picked up and every token after it was refused. Now a token signed
/// with Clerk's new key is handed out within a minute of the engine's time
/// (one refetch per minute at most), with no real time passing.
#[tokio::test]
async fn a_signing_key_rotation_is_picked_up_within_a_minute_of_the_engines_clock() {
    let env = env().await;
    let r = rig(&env).await;
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    let sim = Sim::new(&r.clock, &[&env]);
    // The JWKS was fetched for the first token.
    r.engine
        .get_token(&ada, None, OrgSel::Active)
        .await
        .expect("a token");
    let kid = env.emu.rotate_signing_key().expect("a new signing key");
    let start = sim.moved();
    let mut new_key = None;
    while new_key.is_none() && sim.moved() - start < Duration::from_secs(180) {
        sim.advance(Duration::from_secs(2));
        r.engine.tick().await;
        if let Ok(t) = r.engine.get_token(&ada, None, OrgSel::Active).await {
            let header = jsonwebtoken::decode_header(t.expose()).expect("a JWT header");
            if header.kid.as_deref() == Some(kid.as_str()) {
                new_key = Some(sim.moved() - start);
            }
        }
    }
    let after = new_key.expect("a token signed with the new key within 3 simulated minutes");
    // The first refresh after the rotation (≤ 45 s) may fall inside the
    // minute since the last JWKS fetch; the next one may not.
    assert!(
        after <= Duration::from_secs(110),
        "the new key was accepted {after:?} after the rotation"
    );
    eprintln!("signing key rotated: a token with the new kid after {after:?} of engine time");
}
