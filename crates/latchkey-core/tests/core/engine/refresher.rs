//! The background loop: revocation noticed within one refresh, transient
//! faults with backoff, a long outage with bounded, jittered retries.

use super::*;

/// Revocation from another device (the Backend API), with Clerk's 60 s
/// tokens on the emulator's clock: the active account is signed out within
/// 60 s, a background account within 5 minutes plus one request timeout;
/// each at a random point of the refresh cycle. After detection no request
/// names the revoked session, and the other account takes over.
#[tokio::test]
async fn revoked_elsewhere_is_noticed_within_60_s_active_and_5_min_background() {
    use rand::Rng;
    let env = env().await;
    let r = rig(&env).await;
    let mut events = r.engine.subscribe();
    let grace = sign_in(&r.engine, &env, "grace@example.com").await;
    let alan = sign_in(&r.engine, &env, "alan@example.com").await;
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    r.engine.switch(&ada).await.unwrap();
    let sim = Sim::new(&r.clock, &[&env]);
    // (who, is it the active one, the bound in ms)
    let plan = [
        (ada.clone(), true, 60_000),
        (alan.clone(), false, 300_000 + 20_000),
    ];
    let mut figures = Vec::new();
    for (acct, active, bound) in plan {
        assert_eq!(r.engine.active() == Some(acct.clone()), active);
        let phase = rand::thread_rng().gen_range(0..300_000u64);
        sim.run_for(&r.engine, Duration::from_millis(phase)).await;
        env.bapi(
            reqwest::Method::POST,
            &format!("/v1/sessions/{}/revoke", acct.session_id),
            None,
        )
        .await;
        let revoked_at = emu_now(&env);
        // Tick, look, then sleep (skipped): the time is the tick's.
        loop {
            let wait = r.engine.tick().await;
            if !r.engine.accounts().await.iter().any(|a| a.account == acct) {
                break;
            }
            assert!(
                emu_now(&env) - revoked_at <= bound,
                "{acct:?} still signed in {bound} ms after revocation"
            );
            sim.advance(wait);
        }
        let noticed = emu_now(&env);
        let took = noticed - revoked_at;
        assert!(
            took <= bound,
            "{acct:?} signed out {took} ms after revocation"
        );
        let mut saw = false;
        while let Ok(e) = events.try_recv() {
            if let Event::SessionRevoked { account, .. } = e {
                saw |= account == acct;
            }
        }
        assert!(saw, "a SessionRevoked event for {acct:?}");
        // Ten more minutes: nothing names the revoked session.
        sim.run_for(&r.engine, Duration::from_secs(600)).await;
        let named: Vec<String> = env
            .emu
            .requests()
            .iter()
            .filter(|q| q.at_ms > noticed)
            .filter(|q| {
                q.path.contains(acct.session_id.as_str())
                    || q.query.contains(acct.session_id.as_str())
            })
            .map(|q| format!("{} {}", q.method, q.path))
            .collect();
        assert!(
            named.is_empty(),
            "requests for the revoked session: {named:?}"
        );
        let e = r
            .engine
            .get_token(&acct, None, OrgSel::Active)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::SessionGone);
        figures.push(format!(
            "{} noticed after {took} ms (bound {bound} ms)",
            if active { "active" } else { "background" }
        ));
    }
    assert_eq!(
        r.engine.active(),
        Some(grace.clone()),
        "the remaining account takes over"
    );
    assert!(
        r.engine
            .get_token(&grace, None, OrgSel::Active)
            .await
            .is_ok()
    );
    eprintln!("revocation elsewhere, 60 s tokens: {}", figures.join("; "));
}

/// Transient faults on the token endpoint, three in a row of each kind,
/// with the shipped policy on the emulator's clock: the account stays, the
/// refresh is retried with backoff (each retry within its full-jitter
/// ceiling of the one before; the 429's `Retry-After: 1` honoured), and it
/// recovers within a minute of simulated time.
#[tokio::test]
async fn transient_faults_keep_the_account_and_back_off() {
    let env = env().await;
    let r = rig(&env).await;
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    let sim = Sim::new(&r.clock, &[&env]);
    let path = format!("/v1/client/sessions/{}/tokens", ada.session_id);
    for action in [
        status_fault(503, "unavailable", None),
        status_fault(429, "too_many_requests", Some("1")),
        FaultAction::Html200,
        FaultAction::TruncatedJson,
        FaultAction::Drop,
    ] {
        // The next refresh is due.
        sim.advance(Duration::from_secs(44));
        env.emu.clear_requests();
        env.emu
            .add_fault(FaultRule::new(&path, action.clone()).times(3));
        let from = emu_now(&env);
        let recovered = || {
            env.emu
                .requests()
                .iter()
                .any(|q| q.path == path && q.status == 200 && q.fault.is_none())
        };
        while !recovered() {
            assert!(
                emu_now(&env) - from <= 60_000,
                "{action:?}: no recovery within a simulated minute"
            );
            sim.step(&r.engine).await;
        }
        let tries = arrivals(&env, "POST", &path);
        assert_eq!(tries.len(), 4, "{action:?}: three faults, then the success");
        for (n, w) in tries.windows(2).enumerate() {
            let gap = w[1].0 - w[0].0;
            let ceiling = match action {
                // `Retry-After: 1`, exactly.
                FaultAction::Status { status: 429, .. } => 1_000,
                _ => 1000i64 << n,
            };
            assert!(
                gap <= ceiling + 250,
                "{action:?}: retry {n} after {gap} ms (ceiling {ceiling} ms)"
            );
            if matches!(action, FaultAction::Status { status: 429, .. }) {
                assert!(
                    gap >= 1_000,
                    "{action:?}: retried {gap} ms after a Retry-After of 1 s"
                );
            }
        }
        assert_eq!(
            r.engine.accounts().await.len(),
            1,
            "{action:?} never signs out"
        );
        assert!(r.engine.get_token(&ada, None, OrgSel::Active).await.is_ok());
    }
}

/// Retry timing under a 30-minute outage with the shipped policy (full
/// jitter, base 1 s, cap 60 s), on the emulator's clock: the n-th retry
/// comes at most min(60 s, 2ⁿ s) after the one before, the waits are
/// jittered (not lockstep) and reach the cap without passing it, the account
/// stays, and the first request after the network returns succeeds.
#[tokio::test]
async fn thirty_minutes_offline_backs_off_exponentially_with_jitter_to_the_cap() {
    let env = env().await;
    let r = rig(&env).await;
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    let sim = Sim::new(&r.clock, &[&env]);
    let path = format!("/v1/client/sessions/{}/tokens", ada.session_id);
    // The network goes down just as the token is due.
    sim.advance(Duration::from_secs(44));
    env.emu.clear_requests();
    for p in [
        path.as_str(),
        "/v1/client",
        "/v1/environment",
        "/v1/me/sessions/active",
    ] {
        env.emu.add_fault(FaultRule::new(p, FaultAction::Drop));
    }
    sim.run_for(&r.engine, Duration::from_secs(30 * 60)).await;
    let attempts: Vec<i64> = arrivals(&env, "POST", &path).iter().map(|a| a.0).collect();
    let gaps: Vec<i64> = attempts.windows(2).map(|w| w[1] - w[0]).collect();
    for (n, gap) in gaps.iter().enumerate() {
        // Full jitter: rand(0, min(cap, base·2ⁿ)), plus the loop's 20 ms
        // floor and a few ms of real time per request.
        let ceiling = 60_000i64.min(1000i64 << n.min(20));
        assert!(
            *gap <= ceiling + 250,
            "retry {n} came {gap} ms after the last (ceiling {ceiling} ms): {gaps:?}"
        );
    }
    let capped = &gaps[gaps.len().min(7)..];
    let late_max = capped.iter().max().copied().unwrap_or(0);
    assert!(
        late_max > 30_000,
        "the waits never grew toward the cap: {gaps:?}"
    );
    let distinct: std::collections::BTreeSet<i64> = capped.iter().map(|g| g / 1000).collect();
    assert!(distinct.len() > 5, "jittered, not lockstep: {gaps:?}");
    // The mean full-jitter wait at the cap is 30 s: ≈ 60 tries in 30 min.
    assert!(
        (30..=130).contains(&attempts.len()),
        "{} attempts in 30 minutes",
        attempts.len()
    );
    assert_eq!(r.engine.accounts().await.len(), 1, "account kept offline");
    assert!(!r.engine.online());
    // The network returns: the next try (within one capped wait) succeeds.
    env.emu.clear_faults();
    let back = emu_now(&env);
    while !arrivals(&env, "POST", &path)
        .iter()
        .any(|(at, status)| *at >= back && *status == 200)
    {
        assert!(
            emu_now(&env) - back <= 61_000,
            "no token 61 s after the network returned"
        );
        sim.step(&r.engine).await;
    }
    assert!(r.engine.online());
    eprintln!(
        "30 simulated minutes offline: {} attempts, gaps {:?} ms …, largest {late_max} ms; account kept",
        attempts.len(),
        &gaps[..gaps.len().min(8)]
    );
}

/// Waits (polling, a hard limit of 30 s against a hang) until `done`.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let limit = std::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(std::time::Instant::now() < limit, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The real loop (its sleeps are the runtime's): with its longest sleep an
/// hour, only the waits it computes and its wake-ups can make it refresh,
/// so these tests wait for the refresh instead of timing it.
const LONG_TICK: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn the_background_loop_keeps_the_active_token_fresh() {
    let env = env_with(|c| c.token_lifetime = Duration::from_secs(2)).await;
    let r = rig_with(&env, Arc::new(MemoryStore::new()), |c| {
        c.max_tick = LONG_TICK
    })
    .await;
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let job = r.engine.start_background(stop);
    // The loop started with nobody signed in (it sleeps its longest); a
    // sign-in wakes it, and then its own waits keep the token fresh.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    until("three token refreshes of 2 s tokens", || {
        token_requests(&env, &ada) >= 3
    })
    .await;
    let _ = stop_tx.send(true);
    let _ = job.await;
}

#[tokio::test]
async fn a_restarted_engine_refreshes_as_soon_as_it_has_read_its_accounts() {
    let env = env_with(|c| c.token_lifetime = Duration::from_secs(2)).await;
    let r = rig(&env).await;
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    // A start at login: the loop runs before the accounts are read (its
    // first tick finds no active session and sleeps its longest: an hour
    // here), and nobody asks for a token.
    let mut cfg = config(&r.dir, r.store.clone(), Duration::from_secs(5), &r.clock);
    cfg.max_tick = LONG_TICK;
    let again = Engine::open(cfg).await.unwrap();
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let job = again.start_background(stop);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = token_requests(&env, &ada);
    again.reload(None).await.unwrap();
    // Only a wake-up at the read can refresh before the hour is out.
    until("a token refresh after reading the accounts", || {
        token_requests(&env, &ada) > before
    })
    .await;
    let _ = stop_tx.send(true);
    let _ = job.await;
}

/// Clerk's 60 s tokens over one simulated hour with the window hidden (only
/// the background loop asks for anything): each token is refreshed when
/// 17 s or less of it are left and never earlier; the active session costs
/// ≤ 90 requests an hour and each client's re-read ≤ 12.
#[tokio::test]
async fn an_hour_of_the_loop_refreshes_at_17_s_left_within_its_request_budget() {
    let other = env().await;
    let env = env().await;
    let r = rig(&env).await;
    r.engine.add_instance(other.instance.clone()).await.unwrap();
    let grace = sign_in(&r.engine, &env, "grace@example.com").await;
    let _alan = sign_in(&r.engine, &other, "alan@example.com").await;
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    r.engine.switch(&ada).await.unwrap();
    let sim = Sim::new(&r.clock, &[&env, &other]);
    // Whatever signing in asked for is not the hour's.
    sim.run_for(&r.engine, Duration::from_secs(60)).await;
    env.emu.clear_requests();
    other.emu.clear_requests();
    sim.run_for(&r.engine, Duration::from_secs(3600)).await;
    let mut mix = std::collections::BTreeMap::<String, usize>::new();
    for e in [&env, &other] {
        for q in e.emu.requests() {
            *mix.entry(format!("{} {}", q.method, q.path)).or_default() += 1;
        }
    }
    let tokens = arrivals(
        &env,
        "POST",
        &format!("/v1/client/sessions/{}/tokens", ada.session_id),
    );
    let mut prev: Option<i64> = None;
    let mut lefts = Vec::new();
    for (at, status) in &tokens {
        assert_eq!(*status, 200);
        if let Some(p) = prev {
            // The last token's exp: minted at `p`, iat in whole seconds.
            let exp = (p / 1000 + 60) * 1000;
            lefts.push(exp - at);
        }
        prev = Some(*at);
    }
    let (least, most) = (
        lefts.iter().min().copied().unwrap_or(0),
        lefts.iter().max().copied().unwrap_or(0),
    );
    assert!(
        most <= 17_000,
        "a token refreshed with {most} ms left (early)"
    );
    assert!(
        least >= 5_000,
        "a token refreshed with {least} ms left (late)"
    );
    // Kept fresh all hour: a refresh at least every 43 s.
    assert!(
        tokens.len() >= 83,
        "{} token requests in an hour",
        tokens.len()
    );
    let devices = arrivals(&env, "GET", "/v1/me/sessions/active").len();
    let active = tokens.len() + devices;
    let clients = [
        arrivals(&env, "GET", "/v1/client").len(),
        arrivals(&other, "GET", "/v1/client").len(),
    ];
    let total: usize = mix.values().sum();
    assert_eq!(
        total,
        active + clients.iter().sum::<usize>(),
        "nothing else is asked: {mix:#?}"
    );
    assert!(active <= 90, "active session: {active} requests in an hour");
    for n in clients {
        assert!(n <= 12, "one client re-read {n} times in an hour");
    }
    assert!(
        arrivals(
            &env,
            "POST",
            &format!("/v1/client/sessions/{}/tokens", grace.session_id)
        )
        .is_empty(),
        "a background account's token is not kept fresh"
    );
    eprintln!(
        "1 simulated hour, hidden: active session {active} requests ({} tokens, {devices} device reads), \
         client re-reads {clients:?}; refreshed with {least}–{most} ms left",
        tokens.len()
    );
}

/// After a 429 the background loop's next request waits for `Retry-After`,
/// in both of its forms, clamped to [1 s, 10 min]; a value that is not one
/// of them falls back to backoff. Timed on the emulator's clock.
#[tokio::test]
async fn the_loop_waits_for_retry_after_in_every_form_clamped() {
    let env = env().await;
    let r = rig(&env).await;
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    let sim = Sim::new(&r.clock, &[&env]);
    let path = format!("/v1/client/sessions/{}/tokens", ada.session_id);
    // An HTTP-date `secs` from the emulator's now (when the case runs).
    let date_in = |secs: i64| format!("date{secs:+}");
    let header_of = |case: &str| match case.strip_prefix("date") {
        Some(secs) => {
            let secs: i64 = secs.parse().unwrap();
            let ms = emu_now(&env) + secs * 1000;
            httpdate::fmt_http_date(std::time::UNIX_EPOCH + Duration::from_millis(ms as u64))
        }
        None => case.to_owned(),
    };
    // (the header, the least and the most wait, ms)
    let cases: Vec<(String, i64, i64)> = vec![
        ("7".into(), 7_000, 7_250),
        ("0".into(), 1_000, 1_250),
        ("1200".into(), 600_000, 600_250),
        ("99999999".into(), 600_000, 600_250),
        // Whole seconds: the date and `Date` are both truncated.
        (date_in(12), 11_000, 13_250),
        (date_in(-30), 1_000, 1_250),
        ("-1".into(), 0, 1_250),
        ("abc".into(), 0, 1_250),
        ("".into(), 0, 1_250),
    ];
    for (case, least, most) in &cases {
        // A fresh token first (a success also resets the backoff), then
        // time passes until the next one is due at the next tick.
        let mark = emu_now(&env);
        while !arrivals(&env, "POST", &path)
            .iter()
            .any(|(at, status)| *at >= mark && *status == 200)
        {
            sim.step(&r.engine).await;
        }
        sim.advance(Duration::from_secs(44));
        let from = emu_now(&env);
        let header = &header_of(case);
        env.emu.add_fault(
            FaultRule::new(
                &path,
                status_fault(
                    429,
                    "too_many_requests",
                    (!header.is_empty()).then_some(header.as_str()),
                ),
            )
            .times(1),
        );
        let mut seen = Vec::new();
        while seen.len() < 2 {
            assert!(
                emu_now(&env) - from < 15 * 60_000,
                "{header:?}: no retry within 15 minutes"
            );
            sim.step(&r.engine).await;
            seen = arrivals(&env, "POST", &path)
                .into_iter()
                .filter(|(at, _)| *at >= from)
                .collect();
        }
        assert_eq!(seen[0].1, 429, "{header:?}");
        assert_eq!(seen[1].1, 200, "{header:?}");
        let waited = seen[1].0 - seen[0].0;
        assert!(
            (*least..=*most).contains(&waited),
            "Retry-After {header:?}: the next request came after {waited} ms, not {least}–{most}"
        );
        assert_eq!(r.engine.accounts().await.len(), 1);
        eprintln!("Retry-After {header:?}: next request after {waited} ms");
    }
}

/// A revocation that lands while a refresh is in flight (the request is on
/// its way: the emulator holds it 400 ms, the Backend API revokes the
/// session meanwhile): that account is signed out within the next refresh,
/// on the emulator's clock; the other account is untouched and takes over.
#[tokio::test]
async fn a_revocation_during_a_refresh_signs_out_that_account_only() {
    let env = env().await;
    let r = rig(&env).await;
    let grace = sign_in(&r.engine, &env, "grace@example.com").await;
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    r.engine.switch(&ada).await.unwrap();
    let sim = Sim::new(&r.clock, &[&env]);
    let path = format!("/v1/client/sessions/{}/tokens", ada.session_id);
    // Ada's token is due; her refresh is held on its way.
    sim.advance(Duration::from_secs(44));
    env.emu
        .add_fault(FaultRule::new(&path, FaultAction::Delay { ms: 400 }).times(1));
    let engine = r.engine.clone();
    let refresh = tokio::spawn(async move { engine.tick().await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    env.bapi(
        reqwest::Method::POST,
        &format!("/v1/sessions/{}/revoke", ada.session_id),
        None,
    )
    .await;
    let revoked_at = emu_now(&env);
    let mut wait = refresh.await.unwrap();
    while r.engine.accounts().await.iter().any(|a| a.account == ada) {
        assert!(
            emu_now(&env) - revoked_at <= 60_000,
            "still signed in 60 s after a revocation during a refresh"
        );
        sim.advance(wait);
        wait = r.engine.tick().await;
    }
    let noticed = emu_now(&env) - revoked_at;
    assert_eq!(r.engine.active(), Some(grace.clone()), "Grace takes over");
    assert!(
        r.engine
            .get_token(&grace, None, OrgSel::Active)
            .await
            .is_ok()
    );
    let after = token_requests(&env, &ada);
    sim.run_for(&r.engine, Duration::from_secs(300)).await;
    assert_eq!(
        token_requests(&env, &ada),
        after,
        "no request for Ada after"
    );
    eprintln!("revocation during a refresh: signed out {noticed} ms after, the other account kept");
}
