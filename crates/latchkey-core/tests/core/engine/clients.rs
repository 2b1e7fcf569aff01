//! Several Clerk clients per instance: on a single-session instance every
//! account owns its own client (and credential); switching, tokens,
//! devices, revoke and sign-out act through it; mode changes keep what is
//! there; the keychain layout of version 1 is migrated forward (a crash in
//! the middle included), and one from a newer version is left alone.

use super::*;

fn credential_keys(store: &MemoryStore) -> Vec<String> {
    store
        .keys()
        .into_iter()
        .filter(|k| k.starts_with("credential:"))
        .collect()
}

fn index(store: &MemoryStore) -> serde_json::Value {
    serde_json::from_slice(&store.raw("index").unwrap()[4..]).unwrap()
}

#[tokio::test]
async fn on_a_single_session_instance_every_account_owns_a_client() {
    let env = env_with(|c| c.single_session_mode = Some(true)).await;
    let r = rig(&env).await;
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    let grace = sign_in(&r.engine, &env, "grace@example.com").await;
    let alan = sign_in(&r.engine, &env, "alan@example.com").await;
    let accounts = r.engine.accounts().await;
    assert_eq!(
        accounts.len(),
        3,
        "three accounts where Clerk allows one per client"
    );
    assert_eq!(r.engine.active(), Some(alan.clone()));
    let keys = credential_keys(&r.store);
    let id = env.instance.id();
    for prefix in [
        format!("credential:{id}:"),
        format!("credential:{id}/c1:"),
        format!("credential:{id}/c2:"),
    ] {
        assert_eq!(
            keys.iter().filter(|k| k.starts_with(&prefix)).count(),
            1,
            "{prefix} in {keys:?}"
        );
    }
    assert_eq!(
        index(&r.store)["instances"][0]["clients"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // Switching is local: no touch (there is nothing to select on a client
    // with one session).
    env.emu.clear_requests();
    r.engine.switch(&grace).await.unwrap();
    assert_eq!(r.engine.active(), Some(grace.clone()));
    assert_eq!(
        env.emu
            .requests()
            .iter()
            .filter(|q| q.path.ends_with("/touch"))
            .count(),
        0
    );

    // Tokens come from each account's own client.
    for a in [&ada, &grace, &alan] {
        let t = r.engine.get_token(a, None, OrgSel::Active).await.unwrap();
        assert_eq!(
            decode_unverified(t.expose()).unwrap()["sid"],
            a.session_id.as_str()
        );
    }

    // Devices and revoke act through Grace's client; the other accounts'
    // clients are this device too.
    let uid = env.user_id("grace@example.com");
    env.bapi(
        reqwest::Method::POST,
        "/v1/sessions",
        Some(serde_json::json!({"user_id": uid, "ip_address": "203.0.113.9"})),
    )
    .await;
    let devices = r.engine.devices(&grace).await.unwrap();
    assert!(devices[0].this_device);
    let other = devices.iter().find(|d| !d.this_device).unwrap();
    assert_eq!(
        r.engine.revoke(&grace, &other.session.id).await.unwrap(),
        RevokeOutcome::Revoked
    );

    // Signing Grace out ends her client's session and forgets the client.
    r.engine.sign_out(&grace).await.unwrap();
    assert_eq!(
        env.emu.session_status(grace.session_id.as_str()).as_deref(),
        Some("removed")
    );
    assert_eq!(r.engine.accounts().await.len(), 2);
    assert_eq!(
        credential_keys(&r.store).len(),
        2,
        "her client's credential is gone: {:?}",
        credential_keys(&r.store)
    );

    // The same user signing in again keeps the account there is.
    let again = sign_in(&r.engine, &env, "ada@example.com").await;
    assert_eq!(again, ada, "not a second Ada");
    assert_eq!(r.engine.accounts().await.len(), 2);
    assert_eq!(credential_keys(&r.store).len(), 2);

    // A restart finds both, each on its own client, and the active one
    // (on a client read after the shared one) stays active.
    r.engine.switch(&alan).await.unwrap();
    let store = r.store.clone();
    drop(r);
    let r2 = rig_with(&env, store, |_| {}).await;
    r2.engine.reload(None).await.unwrap();
    let mut back: Vec<_> = r2
        .engine
        .accounts()
        .await
        .into_iter()
        .map(|a| a.account)
        .collect();
    back.sort();
    let mut want = vec![ada.clone(), alan.clone()];
    want.sort();
    assert_eq!(back, want);
    assert_eq!(r2.engine.active(), Some(alan.clone()));
    for a in [&ada, &alan] {
        assert!(r2.engine.get_token(a, None, OrgSel::Active).await.is_ok());
    }
}

#[tokio::test]
async fn mode_changes_keep_the_clients_there_are() {
    let env = env().await;
    let r = rig(&env).await;
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    let grace = sign_in(&r.engine, &env, "grace@example.com").await;
    assert_eq!(credential_keys(&r.store).len(), 1, "one shared client");
    // Multi → single: the two stay on the shared client; a new account gets
    // its own.
    env.emu.set_single_session_mode(true);
    let alan = sign_in(&r.engine, &env, "alan@example.com").await;
    assert_eq!(r.engine.accounts().await.len(), 3);
    assert_eq!(credential_keys(&r.store).len(), 2);
    r.engine.switch(&ada).await.unwrap();
    for a in [&ada, &grace, &alan] {
        assert!(r.engine.get_token(a, None, OrgSel::Active).await.is_ok());
    }
    // Single → multi: the clients stay as they are; a new account joins the
    // shared client.
    env.emu.set_single_session_mode(false);
    sign_in(&r.engine, &env, "katherine@example.com").await;
    assert_eq!(r.engine.accounts().await.len(), 4);
    assert_eq!(credential_keys(&r.store).len(), 2);
}

#[tokio::test]
async fn the_version_1_layout_is_migrated_and_a_newer_one_left_alone() {
    let env = env().await;
    let store = Arc::new(MemoryStore::new());
    {
        let r = rig_with(&env, store.clone(), |_| {}).await;
        sign_in(&r.engine, &env, "ada@example.com").await;
        sign_in(&r.engine, &env, "grace@example.com").await;
    }
    // What version 1 wrote: the same credential entries, an index with one
    // slot per instance.
    let v2 = index(&store);
    let slot = v2["instances"][0]["clients"][0]["slot"].clone();
    let mut v1 = v2.clone();
    v1["v"] = serde_json::json!(1);
    v1["instances"][0]
        .as_object_mut()
        .unwrap()
        .remove("clients");
    v1["instances"][0]["slot"] = slot;
    let framed = |v: &serde_json::Value| {
        let mut b = b"LK10".to_vec();
        b.extend_from_slice(v.to_string().as_bytes());
        b
    };
    store.put_raw("index", &framed(&v1));

    // The process dies as it migrates: the index write never lands (the
    // store refuses it, as a killed process never makes it). The accounts
    // were read all the same, and the old index is still there, whole.
    store.fail_next(
        Op::Set,
        StoreError::new(StoreErrorKind::Other, "the process died here"),
    );
    let crashed = rig_with(&env, store.clone(), |c| c.probe_storage = false).await;
    crashed.engine.reload(None).await.unwrap();
    assert_eq!(crashed.engine.accounts().await.len(), 2);
    drop(crashed);
    assert_eq!(index(&store)["v"], 1, "the old index, whole");

    // The next start reads it and migrates.
    let r = rig_with(&env, store.clone(), |_| {}).await;
    r.engine.reload(None).await.unwrap();
    assert_eq!(r.engine.accounts().await.len(), 2, "every account kept");
    let migrated = index(&store);
    assert_eq!(migrated["v"], 2);
    assert_eq!(migrated["instances"][0]["clients"][0]["key"], "main");
    drop(r);

    // An index from a newer Latchkey: read nothing, write nothing, say why.
    let mut v3 = migrated.clone();
    v3["v"] = serde_json::json!(3);
    store.put_raw("index", &framed(&v3));
    let before = store.raw("index").unwrap();
    let r = rig_with(&env, store.clone(), |_| {}).await;
    match r.engine.storage_state() {
        StorageState::Unavailable { reason, .. } => {
            assert!(reason.contains("newer version"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    sign_in(&r.engine, &env, "alan@example.com").await;
    assert_eq!(store.raw("index").unwrap(), before, "never overwritten");
}
