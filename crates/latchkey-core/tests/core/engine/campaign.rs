//! The fault campaign through the engine: each class of fault is injected
//! on every Frontend API path the engine uses, for three simulated minutes
//! while two accounts are asked for tokens without pause and the background
//! loop runs, then lifted; then a rotation of Clerk's signing key, alone
//! and with the JWKS unreachable for those minutes. Slow bodies trickle in
//! real time (far below the 20 s request timeout); a request that hangs
//! past that timeout is the api tests' (20 s of real time per request do
//! not fit here). Per class: faults injected, accounts lost,
//! spurious sign-outs, tokens handed out expired, hangs (every call has a
//! hard timeout) — all must be 0 but the first — and recovery after.
//! Clerk refusing connections (the emulator stopped, then started again on
//! its port from its data dir) and secure storage's faults are tests of
//! their own below.

use super::*;

const PATHS: [&str; 5] = [
    "/v1/client/sessions/*/tokens",
    "/v1/client",
    "/v1/environment",
    "/v1/me/sessions/active",
    "/.well-known/jwks.json",
];

/// What asking for tokens under a fault came to.
#[derive(Default)]
struct Asked {
    handed: usize,
    expired: usize,
    hangs: usize,
    errors: usize,
}

/// For `span`, every 2 s: time moves (`advance`), the loop ticks and each
/// account is asked for a token, each call under a hard 30 s limit. A token
/// handed out is checked against Clerk's time (`now_ms`); each error goes
/// to `check`.
async fn keep_asking(
    engine: &Engine,
    accounts: &[&AccountRef],
    span: Duration,
    advance: impl Fn(Duration),
    now_ms: impl Fn() -> i64,
    check: impl Fn(&latchkey_core::Error),
) -> Asked {
    let mut a = Asked::default();
    let mut moved = Duration::ZERO;
    while moved < span {
        advance(Duration::from_secs(2));
        moved += Duration::from_secs(2);
        if tokio::time::timeout(Duration::from_secs(30), engine.tick())
            .await
            .is_err()
        {
            a.hangs += 1;
        }
        for acct in accounts {
            match tokio::time::timeout(
                Duration::from_secs(30),
                engine.get_token(acct, None, OrgSel::Active),
            )
            .await
            {
                Err(_) => a.hangs += 1,
                Ok(Ok(t)) => {
                    a.handed += 1;
                    let exp = decode_unverified(t.expose())
                        .and_then(|c| c["exp"].as_i64())
                        .unwrap_or(0);
                    if exp * 1000 <= now_ms() {
                        a.expired += 1;
                    }
                }
                Ok(Err(e)) => {
                    check(&e);
                    a.errors += 1;
                }
            }
        }
    }
    a
}

#[tokio::test]
async fn every_fault_class_loses_nothing_and_recovers() {
    let env = env().await;
    let r = rig(&env).await;
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    let grace = sign_in(&r.engine, &env, "grace@example.com").await;
    let sim = Sim::new(&r.clock, &[&env]);
    let big = serde_json::json!({ "object": "token", "jwt": "x".repeat(2 * 1024 * 1024) });
    let classes: Vec<(&str, FaultAction)> = vec![
        ("offline (connection reset)", FaultAction::Drop),
        (
            "slow bodies (1 KiB/s)",
            FaultAction::Trickle {
                bytes_per_sec: 1024,
            },
        ),
        (
            "429, Retry-After 30",
            status_fault(429, "too_many_requests", Some("30")),
        ),
        (
            "429, Retry-After HTTP-date",
            status_fault(
                429,
                "too_many_requests",
                Some("Wed, 21 Oct 2099 07:28:00 GMT"),
            ),
        ),
        (
            "429, Retry-After garbage",
            status_fault(429, "too_many_requests", Some("soon")),
        ),
        (
            "429, no Retry-After",
            status_fault(429, "too_many_requests", None),
        ),
        ("500", status_fault(500, "internal_clerk_error", None)),
        ("502", status_fault(502, "bad_gateway", None)),
        ("503", status_fault(503, "service_unavailable", Some("5"))),
        ("504", status_fault(504, "gateway_timeout", None)),
        ("HTML with 200 (captive portal)", FaultAction::Html200),
        ("not JSON with 200", FaultAction::Garbage200),
        ("truncated JSON", FaultAction::TruncatedJson),
        ("oversized JSON (2 MiB)", FaultAction::Json200 { body: big }),
        (
            "a token minted long ago",
            FaultAction::StaleToken { secs: 3600 },
        ),
    ];
    // Two classes with a key rotation at Clerk at their start: alone (the
    // JWKS answers), and with the JWKS unreachable for the three minutes.
    let jwks_down = status_fault(503, "service_unavailable", None);
    let classes = classes
        .into_iter()
        .map(|(name, action)| (name, Some(action), &PATHS[..], false))
        .chain([
            ("signing key rotated (new kid)", None, &[][..], true),
            (
                "signing key rotated, JWKS unreachable",
                Some(jwks_down),
                &PATHS[4..],
                true,
            ),
        ]);
    let mut rows = Vec::new();
    for (name, action, paths, rotate) in classes {
        env.emu.clear_requests();
        for p in paths {
            if let Some(a) = &action {
                env.emu.add_fault(FaultRule::new(p, a.clone()));
            }
        }
        if rotate {
            env.emu.rotate_signing_key().expect("a new signing key");
        }
        let (mut handed, mut expired, mut hangs, mut errors) = (0usize, 0usize, 0usize, 0usize);
        // Three minutes of the fault, then eleven without it (a
        // `Retry-After` is honoured up to ten minutes).
        for (span, faulted) in [(180u64, true), (660, false)] {
            if !faulted {
                env.emu.clear_faults();
            }
            let a = keep_asking(
                &r.engine,
                &[&ada, &grace],
                Duration::from_secs(span),
                |d| sim.advance(d),
                || emu_now(&env),
                |e| assert_ne!(e.kind(), &ErrorKind::SessionGone, "{name}: {e}"),
            )
            .await;
            handed += a.handed;
            expired += a.expired;
            hangs += a.hangs;
            errors += a.errors;
        }
        let log = env.emu.requests();
        // A rotation counts as one fault injected.
        let injected = log.iter().filter(|q| q.fault.is_some()).count() + usize::from(rotate);
        // Told to wait (429 + `Retry-After`): no request of any kind
        // before the wait is over.
        let wait_ms = match name {
            "429, Retry-After 30" => Some(30_000),
            "429, Retry-After HTTP-date" => Some(600_000),
            _ => None,
        };
        let inside_wait: usize = wait_ms.map_or(0, |w| {
            log.iter()
                .filter(|q| q.status == 429)
                .map(|t| {
                    log.iter()
                        .filter(|q| q.at_ms > t.at_ms && q.at_ms < t.at_ms + w - 1000)
                        .count()
                })
                .sum()
        });
        let accounts = r.engine.accounts().await;
        let lost = 2 - accounts
            .iter()
            .filter(|a| a.account == ada || a.account == grace)
            .count();
        // Recovered: both accounts get a token now.
        let after = [
            r.engine.get_token(&ada, None, OrgSel::Active).await,
            r.engine.get_token(&grace, None, OrgSel::Active).await,
        ];
        let recovered = after.iter().all(Result::is_ok);
        if let Some(Err(e)) = after.iter().find(|a| a.is_err()) {
            eprintln!("{name}: after the fault: {e} ({:?})", e.kind());
        }
        assert!(injected > 0, "{name}: nothing injected");
        assert_eq!(lost, 0, "{name}: accounts lost");
        assert_eq!(expired, 0, "{name}: expired tokens handed out");
        assert_eq!(hangs, 0, "{name}: calls that hung");
        assert_eq!(inside_wait, 0, "{name}: requests sent while told to wait");
        assert!(recovered, "{name}: no recovery after the fault");
        rows.push(format!(
            "| {name} | {injected} | {} | {errors} | {handed} | 0 | 0 | 0 | 0 | yes |",
            wait_ms.map_or("—".to_owned(), |_| inside_wait.to_string())
        ));
    }
    eprintln!(
        "fault campaign (each class 3 simulated minutes on every FAPI path, then 11 without):\n\
         | class | faults injected | requests while told to wait | failed token calls | tokens handed out | accounts lost | spurious sign-outs | expired tokens handed out | hangs | recovered |\n\
         |---|---|---|---|---|---|---|---|---|---|\n{}",
        rows.join("\n")
    );
}

/// Secure storage's faults, each class on every call: a third account signs
/// in as it starts (Clerk rotates the client's credential, which must be
/// saved), both accounts are asked for tokens for three simulated minutes,
/// and a second launch opens the same storage; then the fault is lifted. Per
/// class: calls faulted, failed token calls (storage is not on a token's
/// path), accounts lost after a restart, spurious sign-outs, hangs, writes
/// by the second launch (none: it may not overwrite what it could not
/// read), and how long after the fault lifted everything was saved (the
/// retries run on the engine's clock, at most 60 s apart). A damaged entry is the hostile-storage property run's
/// and `persist::a_corrupt_credential_signs_out_that_instance_only`.
#[tokio::test]
async fn secure_storage_faults_lose_nothing_and_recover() {
    let classes = [
        (
            "fails on every call",
            StoreFault::Fail(StoreErrorKind::Other),
        ),
        ("locked", StoreFault::Fail(StoreErrorKind::Locked)),
        (
            "gone (no Secret Service)",
            StoreFault::Fail(StoreErrorKind::Unavailable),
        ),
        (
            "hangs past its 200 ms timeout",
            StoreFault::Hang(Duration::from_millis(400)),
        ),
    ];
    let mut rows = Vec::new();
    for (name, fault) in classes {
        let env = env().await;
        let clock = Arc::new(TestClock::new());
        let store = Arc::new(Faulty::new(&clock));
        let dir = temp_dir();
        let engine = open_over(&env, &dir, &store, &clock).await;
        let ada = sign_in(&engine, &env, "ada@example.com").await;
        let grace = sign_in(&engine, &env, "grace@example.com").await;
        let sim = Sim::new(&clock, &[&env]);
        let mut events = engine.subscribe();
        store.set_fault(Some(fault.clone()));

        // A sign-in as it starts: works for this run; the save is retried
        // (1 s, 2 s … 60 s) while the fault lasts.
        let katherine = tokio::time::timeout(
            Duration::from_secs(30),
            sign_in(&engine, &env, "katherine@example.com"),
        )
        .await
        .unwrap_or_else(|_| panic!("{name}: the sign-in hung"));
        assert!(
            matches!(engine.storage_state(), StorageState::SaveFailed { .. }),
            "{name}: the failed save is shown ({:?})",
            engine.storage_state()
        );
        assert!(
            engine
                .get_token(&katherine, None, OrgSel::Active)
                .await
                .is_ok(),
            "{name}: the new account works meanwhile"
        );
        // Three minutes of use with the fault.
        let a = keep_asking(
            &engine,
            &[&ada, &grace],
            Duration::from_secs(180),
            |d| sim.advance(d),
            || emu_now(&env),
            |_| {},
        )
        .await;
        let (failed, hangs) = (a.errors, a.hangs);
        // Then a second launch on the same storage (the CLI, say): it cannot
        // read the accounts and must not write over them.
        let saved = |s: &Faulty| {
            s.inner
                .keys()
                .into_iter()
                .filter(|k| !k.starts_with("probe-"))
                .map(|k| (k.clone(), s.inner.raw(&k)))
                .collect::<Vec<_>>()
        };
        let before = saved(&store);
        let second = tokio::time::timeout(
            Duration::from_secs(30),
            open_over(&env, &dir, &store, &clock),
        )
        .await
        .unwrap_or_else(|_| panic!("{name}: the second launch hung"));
        assert!(
            !matches!(second.storage_state(), StorageState::Secure { .. }),
            "{name}: the second launch says storage is unusable"
        );
        assert!(
            second.saved_accounts_unread(),
            "{name}: its accounts wait for storage, not gone"
        );
        drop(second);
        // A hung call finishes late: let the stragglers land.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let second_writes = usize::from(saved(&store) != before);

        // Lifted: the loop's retry saves the rotated credential.
        store.set_fault(None);
        let lifted = sim.moved();
        let mut landed = None;
        while sim.moved() < lifted + Duration::from_secs(120) {
            sim.step(&engine).await;
            if landed.is_none() && matches!(engine.storage_state(), StorageState::Secure { .. }) {
                landed = Some(sim.moved() - lifted);
            }
        }
        let landed = landed.unwrap_or_else(|| panic!("{name}: the save was never retried"));
        assert!(
            landed <= Duration::from_secs(61),
            "{name}: the retry waited {landed:?}, more than the 60 s cap"
        );
        let mut sign_outs = 0;
        while let Ok(e) = events.try_recv() {
            if matches!(e, Event::SessionRevoked { .. }) {
                sign_outs += 1;
            }
        }
        // A restart reads all three.
        drop(engine);
        let again = open_over(&env, &dir, &store, &clock).await;
        again.reload(None).await.unwrap();
        let found = again.accounts().await;
        let lost = [&ada, &grace, &katherine]
            .iter()
            .filter(|a| !found.iter().any(|f| &&f.account == *a))
            .count();
        for a in [&ada, &grace, &katherine] {
            assert!(
                again.get_token(a, None, OrgSel::Active).await.is_ok(),
                "{name}: a token after the restart"
            );
        }
        let faulted = store.faulted();
        assert!(faulted > 0, "{name}: nothing faulted");
        assert_eq!(failed, 0, "{name}: token calls failed for want of storage");
        assert_eq!(hangs, 0, "{name}: calls that hung");
        assert_eq!(sign_outs, 0, "{name}: spurious sign-outs");
        assert_eq!(second_writes, 0, "{name}: the second launch wrote");
        assert_eq!(lost, 0, "{name}: accounts lost");
        rows.push(format!(
            "| {name} | {faulted} | {failed} | 0 | 0 | 0 | 0 | {:.0} s | yes |",
            landed.as_secs_f64()
        ));
    }
    eprintln!(
        "secure-storage faults (each 3 simulated minutes, a sign-in and a second launch during it):\n\
         | secure storage | calls faulted | failed token calls | accounts lost after a restart | spurious sign-outs | hangs | writes by the second launch | everything saved (state secure) after the fault lifted | recovered |\n\
         |---|---|---|---|---|---|---|---|---|\n{}",
        rows.join("\n")
    );
}

/// Clerk down: its port refuses connections (the emulator stopped) for
/// three simulated minutes while both accounts are asked for tokens, then
/// it comes back on the same port with the same state (its data dir).
/// Same figures as the campaign's classes; "faults injected" counts the
/// token calls that failed while the port was closed.
#[tokio::test]
async fn clerk_refusing_connections_loses_nothing_and_recovers() {
    let data = temp_dir();
    let with_data = |c: &mut clerk_emulator::EmulatorConfig| c.data_dir = Some(data.clone());
    let env = env_with(with_data).await;
    let port = env.emu.addr().port();
    let r = rig(&env).await;
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    let grace = sign_in(&r.engine, &env, "grace@example.com").await;
    let mut events = r.engine.subscribe();
    let Env { emu, instance: _ } = env;
    emu.shutdown().await;

    let down = Duration::from_secs(180);
    // Clerk is away: its clock is the engine's.
    let engine_now_ms = || {
        use latchkey_core::clock::Clock;
        r.clock
            .wall()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    };
    let away = keep_asking(
        &r.engine,
        &[&ada, &grace],
        down,
        |d| r.clock.advance(d),
        engine_now_ms,
        |e| assert_eq!(e.kind(), &ErrorKind::Network, "a refused connection: {e}"),
    )
    .await;
    // Back on the same port, its clock where the engine's is.
    let env = env_with(with_data).await;
    assert_eq!(
        env.emu.addr().port(),
        port,
        "the emulator came back elsewhere"
    );
    env.emu.advance_clock(down);
    let sim = Sim::new(&r.clock, &[&env]);
    let back = keep_asking(
        &r.engine,
        &[&ada, &grace],
        Duration::from_secs(660),
        |d| sim.advance(d),
        || emu_now(&env),
        |e| assert_ne!(e.kind(), &ErrorKind::SessionGone, "{e}"),
    )
    .await;
    let refused = away.errors;
    let (handed, expired, hangs) = (
        away.handed + back.handed,
        away.expired + back.expired,
        away.hangs + back.hangs,
    );
    let errors = back.errors;
    let mut sign_outs = 0;
    while let Ok(e) = events.try_recv() {
        if matches!(e, Event::SessionRevoked { .. }) {
            sign_outs += 1;
        }
    }
    let accounts = r.engine.accounts().await;
    let lost = [&ada, &grace]
        .iter()
        .filter(|a| !accounts.iter().any(|x| &&x.account == *a))
        .count();
    let recovered = r.engine.get_token(&ada, None, OrgSel::Active).await.is_ok()
        && r.engine
            .get_token(&grace, None, OrgSel::Active)
            .await
            .is_ok();
    assert!(refused > 0, "nothing refused");
    assert_eq!(lost, 0, "accounts lost");
    assert_eq!(sign_outs, 0, "spurious sign-outs");
    assert_eq!(expired, 0, "expired tokens handed out");
    assert_eq!(hangs, 0, "calls that hung");
    assert!(recovered, "no recovery once Clerk answers again");
    eprintln!(
        "fault campaign, Clerk down (3 simulated minutes, then 11 with Clerk back):\n\
         | class | failed calls while down | requests while told to wait | failed token calls | tokens handed out | accounts lost | spurious sign-outs | expired tokens handed out | hangs | recovered |\n\
         |---|---|---|---|---|---|---|---|---|---|\n\
         | Clerk down (connection refused) | {refused} | — | {} | {handed} | 0 | 0 | 0 | 0 | yes |",
        refused + errors
    );
}
