//! Every action: switch, organizations, devices, revoke, the sign-outs,
//! members for admins, reverification, new-device notices.

use super::*;

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
            .filter(|r| r.outcome == RevokeOutcome::Revoked)
            .count(),
        2,
        "partial failure reported per session"
    );
    let retry = r.engine.sign_out_other_devices(&ada).await.unwrap();
    assert_eq!(retry.len(), 1, "retry clears the failed one");
    assert_eq!(retry[0].outcome, RevokeOutcome::Revoked);

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
    let org = r.engine.active_org_claim(&ada).await.unwrap().unwrap();
    let (o, perms) = (org.claim, org.permissions);
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
    let org = r.engine.active_org_claim(&ada).await.unwrap().unwrap();
    let (o, perms) = (org.claim, org.permissions);
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
