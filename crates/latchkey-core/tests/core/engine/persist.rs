//! Secure storage through the engine: what is stored (and what never is),
//! restart, failures as visible states, corrupt entries, the real keychain,
//! and a crash at each write of a rotation.

use super::*;

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
}

/// A save refused after a rotation: the sign-in works, the state says so,
/// and the background loop retries it 1 s, 2 s, 4 s … 60 s apart on the
/// engine's clock (not wall time) until secure storage takes it; the
/// retried save (credential and index) is what a restart reads.
#[tokio::test]
async fn a_failed_save_is_retried_with_backoff_on_the_engines_clock() {
    let env = env().await;
    let clock = Arc::new(TestClock::new());
    let store = Arc::new(Faulty::new(&clock));
    let dir = temp_dir();
    let engine = open_over(&env, &dir, &store, &clock).await;
    let mut events = engine.subscribe();
    store.set_fault(Some(StoreFault::Fail(StoreErrorKind::Locked)));
    let started = {
        use latchkey_core::clock::Clock;
        clock.mono()
    };
    let grace = sign_in(&engine, &env, "grace@example.com").await;
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
        engine.get_token(&grace, None, OrgSel::Active).await.is_ok(),
        "the session keeps working"
    );
    let sim = Sim::new(&clock, &[&env]);
    sim.run_for(&engine, Duration::from_secs(240)).await;
    // Each retry writes the credential and the index a few ms apart (the
    // test clock also moves with real time): one burst per retry.
    let mut bursts: Vec<u64> = Vec::new();
    for t in store.writes.lock().unwrap().iter() {
        let ms = t.duration_since(started).as_millis() as u64;
        if bursts.last().is_none_or(|b| ms > b + 500) {
            bursts.push(ms);
        }
    }
    let gaps: Vec<u64> = bursts.windows(2).map(|w| w[1] - w[0]).collect();
    let expected = [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000];
    assert_eq!(gaps.len(), expected.len(), "write bursts at {bursts:?} ms");
    for (g, e) in gaps.iter().zip(expected) {
        assert!(
            g.abs_diff(e) < 300,
            "retry gaps {gaps:?} ms, expected {expected:?}"
        );
    }
    store.set_fault(None);
    sim.run_for(&engine, Duration::from_secs(61)).await;
    assert!(
        matches!(engine.storage_state(), StorageState::Secure { .. }),
        "the save landed once storage took it: {:?}",
        engine.storage_state()
    );
    drop(engine);
    let again = open_over(&env, &dir, &store, &clock).await;
    again.reload(None).await.unwrap();
    assert!(
        again.accounts().await.iter().any(|a| a.account == grace),
        "the retried save is what a restart reads"
    );
}

/// A new client's credential written but the index write refused: the index
/// is retried as well, by the background loop (the app) or by `flush` (the
/// CLI, before it exits). It used to count as saved with the credential,
/// and a restart did not know the new client (its account was lost).
#[tokio::test]
async fn a_refused_index_write_is_retried_so_a_new_client_survives_a_restart() {
    for by_loop in [true, false] {
        let how = if by_loop { "the loop" } else { "flush" };
        let env = env_with(|c| c.single_session_mode = Some(true)).await;
        let clock = Arc::new(TestClock::new());
        let store = Arc::new(Faulty::new(&clock));
        let dir = temp_dir();
        let engine = open_over(&env, &dir, &store, &clock).await;
        let ada = sign_in(&engine, &env, "ada@example.com").await;
        store.set_fault(Some(StoreFault::FailWrite("index", StoreErrorKind::Other)));
        // Single-session: the second account gets a client of its own.
        let alan = sign_in(&engine, &env, "alan@example.com").await;
        assert!(
            matches!(engine.storage_state(), StorageState::SaveFailed { .. }),
            "{how}: the refused index is shown: {:?}",
            engine.storage_state()
        );
        let sim = Sim::new(&clock, &[&env]);
        if by_loop {
            sim.run_for(&engine, Duration::from_secs(5)).await;
            assert!(store.faulted() >= 2, "the index write was retried");
            store.set_fault(None);
            sim.run_for(&engine, Duration::from_secs(10)).await;
        } else {
            store.set_fault(None);
            engine.flush().await.unwrap();
        }
        assert!(
            matches!(engine.storage_state(), StorageState::Secure { .. }),
            "{how}: saved once the index is taken: {:?}",
            engine.storage_state()
        );
        drop(engine);
        let again = open_over(&env, &dir, &store, &clock).await;
        again.reload(None).await.unwrap();
        let found = again.accounts().await;
        for a in [&ada, &alan] {
            assert!(
                found.iter().any(|f| &f.account == a),
                "{how}: {a:?} after the restart: {found:?}"
            );
        }
    }
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

#[tokio::test]
async fn a_display_cache_from_a_newer_version_is_left_as_it_is() {
    let env = env().await;
    let newer = br#"{"format": 99, "accounts": [], "shape": "new"}"#;
    let r = rig_with(&env, Arc::new(MemoryStore::new()), |cfg| {
        std::fs::write(cfg.data_dir.join("cache.json"), newer).unwrap();
    })
    .await;
    let problems = r.engine.data_problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("cache.json was written by a newer version of Latchkey"),
        "{problems:?}"
    );
    // Latchkey works (from memory), and never writes over the file.
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    assert!(r.engine.get_token(&ada, None, OrgSel::Active).await.is_ok());
    assert_eq!(r.engine.accounts().await.len(), 1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(std::fs::read(r.dir.join("cache.json")).unwrap(), newer);
}

#[tokio::test]
async fn a_display_cache_of_the_previous_format_is_read_forward() {
    let env = env().await;
    let r = rig(&env).await;
    sign_in(&r.engine, &env, "ada@example.com").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Written as 0.1.0 wrote it: the same fields, no format number.
    let path = r.dir.join("cache.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(v["format"], 2, "this version numbers it");
    v.as_object_mut().unwrap().remove("format");
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
    let (dir, store) = (r.dir.clone(), r.store.clone());
    drop(r);
    let again = rig_with(&env, store, |cfg| cfg.data_dir = dir).await;
    assert!(again.engine.data_problems().is_empty());
    let cached = again.engine.cached_accounts();
    assert_eq!(cached.len(), 1, "the old file's accounts are shown");
    assert_eq!(cached[0].name, "Ada Lovelace");
    // The next write numbers it.
    again.engine.reload(None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(v["format"], 2);
}
