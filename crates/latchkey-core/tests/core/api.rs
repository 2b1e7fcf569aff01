//! Every FAPI operation against the emulator, the rotating credential, and
//! each error kind under injected faults. Counts come from the emulator's
//! request log.

use std::time::Duration;

use clerk_emulator::{FaultAction, FaultRule};
use latchkey_core::{
    ClientCredential, ErrorKind, Fapi, OrgSel, OrganizationId, SessionId, SignInTicket,
    decode_unverified,
};

use crate::common::*;

async fn signed_in(env: &Env, email: &str) -> (Fapi, SessionId) {
    let fapi = env.fapi();
    let si = fapi
        .sign_in_with_ticket(&SignInTicket::new(env.ticket(email).await))
        .await
        .expect("ticket sign-in");
    assert_eq!(si.status, "complete");
    let sid = si.created_session_id.expect("session");
    fapi.touch(&sid, None, "select_session")
        .await
        .expect("touch");
    (fapi, sid)
}

#[tokio::test]
async fn native_requests_carry_the_pinned_headers_and_no_origin() {
    let env = env().await;
    let fapi = env.fapi();
    let env_doc = fapi.environment().await.unwrap();
    assert_eq!(env_doc.display_config.application_name, "Latchkey Demo");
    assert!(!env_doc.auth_config.single_session_mode);
    let providers: Vec<_> = env_doc
        .sign_in_providers()
        .iter()
        .map(|p| p.strategy.clone())
        .collect();
    assert!(
        providers.contains(&"oauth_google".to_owned())
            && providers.contains(&"oauth_github".to_owned())
    );
    assert!(fapi.get_client().await.unwrap().is_none());
    fapi.create_client().await.unwrap();
    assert!(fapi.credential().is_some());
    let log = env.emu.requests();
    assert_eq!(log.len(), 3);
    for r in &log {
        assert_eq!(r.query_param("_is_native").as_deref(), Some("1"));
        assert_eq!(
            r.query_param("__clerk_api_version").as_deref(),
            Some("2026-05-12")
        );
        assert!(r.header("user-agent").unwrap().starts_with("Latchkey/"));
        assert!(r.header("origin").is_none());
        assert!(
            r.header("clerk-api-version").is_none(),
            "version sent one way only"
        );
    }
    assert!(
        log[0].header("authorization").is_none(),
        "no credential yet"
    );
    let cred = fapi.credential().unwrap();
    assert!(format!("{cred:?}").contains("[redacted]"));
}

#[tokio::test]
async fn the_rotated_credential_is_adopted_and_stale_answers_do_not_overwrite_it() {
    let env = env().await;
    let fapi = env.fapi();
    fapi.create_client().await.unwrap();
    let first = fapi.credential().unwrap();
    let version = fapi.credential_version();
    let si = fapi
        .sign_in_with_ticket(&SignInTicket::new(env.ticket("ada@example.com").await))
        .await
        .unwrap();
    let second = fapi.credential().unwrap();
    assert_ne!(first, second, "sign-in rotated the credential");
    assert!(fapi.credential_version() > version, "rotation is announced");
    let sid = si.created_session_id.unwrap();

    // A slow request sent with the second credential answers after a newer
    // one was installed: its header must not win.
    env.emu
        .add_fault(FaultRule::new("/v1/client/sign_ins", FaultAction::Delay { ms: 400 }).times(1));
    let slow = {
        let f = fapi.clone();
        let t = env.ticket("grace@example.com").await;
        tokio::spawn(async move { f.sign_in_with_ticket(&SignInTicket::new(t)).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let newer = ClientCredential::new("set-meanwhile");
    fapi.set_credential(Some(newer.clone()));
    slow.await
        .unwrap()
        .expect("the slow sign-in still succeeds on the server");
    assert_eq!(
        fapi.credential(),
        Some(newer),
        "a stale response did not overwrite the newer credential"
    );

    // And the server-side truth: the rotated (third) credential was lost on
    // purpose here, so the second one no longer identifies the client.
    fapi.set_credential(Some(second));
    assert!(fapi.get_client().await.unwrap().is_none());
    let _ = sid;
}

#[tokio::test]
async fn every_session_operation() {
    let env = env().await;
    let (fapi, ada) = signed_in(&env, "ada@example.com").await;
    let client = fapi.get_client().await.unwrap().unwrap();
    assert_eq!(client.last_active_session_id.as_ref(), Some(&ada));
    let s = fapi.get_session(&ada).await.unwrap();
    assert_eq!(
        s.user.as_ref().unwrap().primary_email(),
        Some("ada@example.com")
    );

    // Tokens: plain, personal, an organization, a template.
    let t = fapi.session_token(&ada, &OrgSel::Active).await.unwrap();
    assert_eq!(decode_unverified(t.expose()).unwrap()["sid"], ada.as_str());
    let org = OrganizationId("analytical-engines".into());
    let touched = fapi
        .touch(&ada, Some(&org), "select_org")
        .await
        .unwrap()
        .response;
    let org_id = touched.last_active_organization_id.clone().unwrap();
    let t = fapi.session_token(&ada, &OrgSel::Active).await.unwrap();
    assert_eq!(
        decode_unverified(t.expose()).unwrap()["o"]["id"],
        org_id.as_str()
    );
    let t = fapi.session_token(&ada, &OrgSel::Personal).await.unwrap();
    assert!(decode_unverified(t.expose()).unwrap().get("o").is_none());
    let t = fapi.template_token(&ada, "supabase").await.unwrap();
    assert_eq!(
        decode_unverified(t.expose()).unwrap()["email"],
        "ada@example.com"
    );

    // Me, devices, org members.
    let me = fapi.me(&ada).await.unwrap();
    assert_eq!(me.organization_memberships.len(), 2);
    let devices = fapi.active_sessions(&ada).await.unwrap();
    assert_eq!(devices.len(), 3);
    let phone = devices
        .iter()
        .find(|d| {
            d.latest_activity
                .as_ref()
                .and_then(|a| a.device_type.as_deref())
                == Some("iPhone")
        })
        .unwrap();
    assert_eq!(
        phone.latest_activity.as_ref().unwrap().city.as_deref(),
        Some("Berlin")
    );
    let members = fapi.organization_memberships(&ada, &org_id).await.unwrap();
    assert_eq!(members.len(), 3);
    assert!(members.iter().any(|m| {
        m.role == "org:admin"
            && m.public_user_data
                .as_ref()
                .is_some_and(|p| p.identifier == "ada@example.com")
    }));
    assert!(fapi.user_sessions(&ada).await.unwrap().len() >= 3);

    // Revoke another device.
    let revoked = fapi.revoke_session(&ada, &phone.id).await.unwrap();
    assert_eq!(
        revoked.status,
        latchkey_core::models::SessionStatus::Revoked
    );
    assert_eq!(
        env.emu.session_status(phone.id.as_str()).as_deref(),
        Some("revoked")
    );

    // A second account, end, remove, sign out all, delete the client.
    let si = fapi
        .sign_in_with_ticket(&SignInTicket::new(env.ticket("grace@example.com").await))
        .await
        .unwrap();
    let grace = si.created_session_id.unwrap();
    assert_eq!(
        fapi.get_client()
            .await
            .unwrap()
            .unwrap()
            .signed_in()
            .count(),
        2
    );
    let ended = fapi.end_session(&grace).await.unwrap().response;
    assert_eq!(ended.status, latchkey_core::models::SessionStatus::Ended);
    let client = fapi.remove_session(&ada).await.unwrap().client;
    assert_eq!(client.unwrap().signed_in().count(), 0);
    let si = fapi
        .sign_in_with_ticket(&SignInTicket::new(env.ticket("alan@example.com").await))
        .await
        .unwrap();
    let alan = si.created_session_id.unwrap();
    let after = fapi.sign_out_all().await.unwrap().unwrap();
    assert_eq!(after.signed_in().count(), 0);
    assert_eq!(
        env.emu.session_status(alan.as_str()).as_deref(),
        Some("removed")
    );
    fapi.delete_client().await.unwrap();
    assert!(
        fapi.credential().is_none(),
        "an empty Authorization header clears the credential"
    );
}

#[tokio::test]
async fn error_kinds_for_each_failure_class() {
    let env = env().await;
    let (fapi, sid) = signed_in(&env, "ada@example.com").await;
    let path = format!("/v1/client/sessions/{sid}/tokens");
    let kind = |r: latchkey_core::Result<latchkey_core::SessionToken>| {
        r.expect_err("must fail").kind().clone()
    };

    for (ra, want) in [
        ("5", Some(5)),
        ("Wed, 21 Oct 2015 07:28:00 GMT", Some(1)),
        ("-1", None),
        ("abc", None),
        ("99999999", Some(600)),
    ] {
        env.emu.add_fault(
            FaultRule::new(
                &path,
                FaultAction::Status {
                    status: 429,
                    code: "too_many_requests".into(),
                    retry_after: Some(ra.into()),
                },
            )
            .times(1),
        );
        let k = kind(fapi.session_token(&sid, &OrgSel::Active).await);
        assert_eq!(
            k,
            ErrorKind::RateLimited {
                retry_after: want.map(Duration::from_secs)
            },
            "Retry-After {ra}"
        );
    }
    for status in [500, 502, 503, 504] {
        env.emu.add_fault(
            FaultRule::new(
                &path,
                FaultAction::Status {
                    status,
                    code: "x".into(),
                    retry_after: None,
                },
            )
            .times(1),
        );
        assert_eq!(
            kind(fapi.session_token(&sid, &OrgSel::Active).await),
            ErrorKind::Server,
            "{status}"
        );
    }
    for action in [
        FaultAction::Html200,
        FaultAction::Garbage200,
        FaultAction::TruncatedJson,
    ] {
        env.emu
            .add_fault(FaultRule::new(&path, action.clone()).times(1));
        let e = fapi.session_token(&sid, &OrgSel::Active).await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Protocol, "{action:?}");
        assert!(e.is_transient(), "{action:?} is not a sign-out");
    }
    env.emu
        .add_fault(FaultRule::new(&path, FaultAction::Drop).times(1));
    assert_eq!(
        kind(fapi.session_token(&sid, &OrgSel::Active).await),
        ErrorKind::Network
    );

    let slow = Fapi::with_timeout(
        env.instance.clone(),
        fapi.credential(),
        Duration::from_millis(800),
    )
    .unwrap();
    env.emu
        .add_fault(FaultRule::new(&path, FaultAction::Trickle { bytes_per_sec: 1 }).times(1));
    let e = slow.session_token(&sid, &OrgSel::Active).await.unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Timeout | ErrorKind::Network),
        "{:?}",
        e.kind()
    );
    env.emu
        .add_fault(FaultRule::new(&path, FaultAction::Delay { ms: 2000 }).times(1));
    assert_eq!(
        slow.session_token(&sid, &OrgSel::Active)
            .await
            .unwrap_err()
            .kind(),
        &ErrorKind::Timeout
    );

    // Reverification, invalid request, session gone, unauthenticated.
    env.emu.add_fault(
        FaultRule::new(
            &path,
            FaultAction::Status {
                status: 403,
                code: "session_reverification_required".into(),
                retry_after: None,
            },
        )
        .times(1),
    );
    assert_eq!(
        kind(fapi.session_token(&sid, &OrgSel::Active).await),
        ErrorKind::ReverificationRequired
    );
    let e = fapi.template_token(&sid, "nope").await.unwrap_err();
    assert!(e.is_session_gone() || matches!(e.kind(), ErrorKind::InvalidRequest { .. }));
    let e = fapi.touch(&sid, None, "bogus").await.unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::InvalidRequest {
            code: "form_param_value_invalid".into(),
            param: Some("intent".into()),
            session_id: None
        }
    );
    assert_eq!(e.clerk_code(), Some("form_param_value_invalid"));

    // Revoked elsewhere: the token call says the session is gone.
    env.bapi(
        reqwest::Method::POST,
        &format!("/v1/sessions/{sid}/revoke"),
        None,
    )
    .await;
    let e = fapi.session_token(&sid, &OrgSel::Active).await.unwrap_err();
    assert!(e.is_session_gone(), "{:?}", e.kind());
    assert!(!e.is_transient());
    // A session that is not on this client at all.
    let e = fapi
        .session_token(&SessionId("sess_missing".into()), &OrgSel::Active)
        .await
        .unwrap_err();
    assert!(e.is_session_gone());
    // /me with no usable acting session.
    let anon = env.fapi();
    let e = anon.me(&sid).await.unwrap_err();
    assert!(matches!(
        e.kind(),
        ErrorKind::SessionGone | ErrorKind::Unauthenticated
    ));
    // Hosted-auth redirect refused by the allowlist.
    let e = anon
        .start_hosted_auth(
            "https://evil.example/callback",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "s",
        )
        .await
        .unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::InvalidRequest {
            code: "form_param_value_invalid".into(),
            param: Some("redirect_url".into()),
            session_id: None
        }
    );
}

#[tokio::test]
async fn transient_faults_are_one_request_each_and_never_sign_out() {
    let env = env().await;
    let (fapi, sid) = signed_in(&env, "ada@example.com").await;
    let path = format!("/v1/client/sessions/{sid}/tokens");
    env.emu.clear_requests();
    env.emu.add_fault(
        FaultRule::new(
            &path,
            FaultAction::Status {
                status: 503,
                code: "unavailable".into(),
                retry_after: None,
            },
        )
        .times(3),
    );
    for _ in 0..3 {
        assert!(
            fapi.session_token(&sid, &OrgSel::Active)
                .await
                .unwrap_err()
                .is_transient()
        );
    }
    assert!(fapi.session_token(&sid, &OrgSel::Active).await.is_ok());
    assert_eq!(
        crate::common::count(&env, "POST", &path),
        4,
        "no hidden retries inside the client"
    );
    assert_eq!(
        env.emu.session_status(sid.as_str()).as_deref(),
        Some("active")
    );
}

#[tokio::test]
async fn https_only_for_clerk_instances() {
    // The emulator's own key as a Clerk instance: https, so the plain-http
    // emulator is unreachable: a network error, never a silent downgrade.
    let env = env().await;
    let as_clerk =
        latchkey_core::Instance::from_publishable_key(env.emu.publishable_key()).unwrap();
    assert_eq!(as_clerk.frontend_api().scheme(), "https");
    // Nothing (no option, no environment variable) changes that URL.
    let fapi = Fapi::new(as_clerk, None).unwrap();
    let e = fapi.environment().await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Network);
    assert_eq!(
        env.fapi_requests(),
        0,
        "nothing reached the emulator over http"
    );
}

/// A tiny HTTP server answering every request with `response`.
async fn canned(response: Vec<u8>) -> (u16, tokio::task::JoinHandle<()>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut s, _)) = l.accept().await {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(&response).await;
            let _ = s.shutdown().await;
        }
    });
    (port, task)
}

#[tokio::test]
async fn redirects_are_not_followed_and_huge_bodies_are_refused() {
    let (port, task) = canned(b"HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:9/elsewhere\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_vec()).await;
    let inst = latchkey_core::Instance::local_demo(
        &format!("http://127.0.0.1:{port}"),
        "ins_canned",
        "pk_test_x",
    )
    .unwrap();
    let e = Fapi::new(inst, None)
        .unwrap()
        .environment()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Protocol);
    assert!(e.to_string().contains("redirect"));
    task.abort();

    let body = format!("{{\"pad\":\"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let mut res = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len()).into_bytes();
    res.extend_from_slice(body.as_bytes());
    let (port, task) = canned(res).await;
    let inst = latchkey_core::Instance::local_demo(
        &format!("http://127.0.0.1:{port}"),
        "ins_canned",
        "pk_test_x",
    )
    .unwrap();
    let e = Fapi::new(inst, None)
        .unwrap()
        .environment()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Protocol);
    assert!(e.to_string().contains("1 MiB"), "{e}");
    task.abort();

    // Deep JSON nesting is a protocol error, not a stack overflow.
    let body = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let mut res = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len()).into_bytes();
    res.extend_from_slice(body.as_bytes());
    let (port, task) = canned(res).await;
    let inst = latchkey_core::Instance::local_demo(
        &format!("http://127.0.0.1:{port}"),
        "ins_canned",
        "pk_test_x",
    )
    .unwrap();
    assert_eq!(
        Fapi::new(inst, None)
            .unwrap()
            .environment()
            .await
            .unwrap_err()
            .kind(),
        &ErrorKind::Protocol
    );
    task.abort();
}
